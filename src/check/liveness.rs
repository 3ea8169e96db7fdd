//! `liveness`.

use super::*;

/// `liveness`: each group drains every partition it reads, and never
/// leaves one behind without progress for longer than the bound.
pub(super) struct Liveness {
    bound_ns: Time,
    /// Per partition: the log end offset.
    log_end: Vec<u64>,
    /// Per (group, partition): (next offset to deliver, behind since).
    read: FastMap<(u32, u32), (u64, Option<Time>)>,
    found: Vec<Violation>,
    stalled: BTreeSet<(u32, u32)>,
    /// On a cut run: what was behind without having stalled yet.
    open: Option<String>,
    /// Per (group, partition): offsets at or after its next one that were
    /// removed (retention, compaction) before it read them: nothing to read.
    removed: FastMap<(u32, u32), BTreeSet<u64>>,
}

impl Liveness {
    pub(super) fn new(ctx: &Context, bound_ns: Time) -> Self {
        Liveness {
            bound_ns,
            log_end: vec![0; ctx.catalog.partitions.len()],
            read: FastMap::default(),
            found: Vec::new(),
            stalled: BTreeSet::new(),
            open: None,
            removed: FastMap::default(),
        }
    }

    /// Move (group, partition)'s next offset past removed records.
    fn skip_removed(&mut self, at: Time, g: u32, p: u32) {
        let (Some(r), Some(removed)) = (self.read.get_mut(&(g, p)), self.removed.get_mut(&(g, p)))
        else {
            return;
        };
        while removed.first().is_some_and(|&o| o <= r.0) {
            let o = removed.pop_first().expect("checked");
            if o == r.0 {
                r.0 += 1;
            }
        }
        if r.1.is_some() && r.0 >= self.log_end[p as usize] {
            r.1 = None;
        } else if r.1.is_none() && r.0 < self.log_end[p as usize] {
            r.1 = Some(at);
        }
    }
    fn stall(&mut self, ctx: &Context, g: u32, p: u32, since: Time, until: Time, ongoing: bool) {
        if until.saturating_sub(since) <= self.bound_ns || !self.stalled.insert((g, p)) {
            return;
        }
        let next = self.read[&(g, p)].0;
        self.found.push(ctx.violation(
            "liveness",
            until,
            Some(g),
            Some(p),
            None,
            Vec::new(),
            format!(
                "group {} made no progress on {} for {:.3}s (from {:.3}s{}, next offset {next}, log end {})",
                ctx.catalog.groups[g as usize],
                ctx.catalog.partition_name(p),
                (until - since) as f64 / 1e9,
                since as f64 / 1e9,
                if ongoing { " to the end of the run" } else { "" },
                self.log_end[p as usize]
            ),
        ));
    }
}

impl Checker for Liveness {
    fn name(&self) -> &'static str {
        "liveness"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[
            Kind::Appended,
            Kind::Assigned,
            Kind::Compacted,
            Kind::Delivered,
            Kind::Expired,
            Kind::Truncated,
        ]
    }
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation) {
        match *o {
            Observation::Appended {
                partition, offset, ..
            } => {
                let end = &mut self.log_end[partition as usize];
                *end = (*end).max(offset + 1);
                for &g in &ctx.readers[partition as usize] {
                    if let Some(r) = self.read.get_mut(&(g, partition))
                        && r.1.is_none()
                        && r.0 < offset + 1
                    {
                        r.1 = Some(at);
                    }
                }
            }
            Observation::Truncated {
                partition, offset, ..
            } => {
                let end = &mut self.log_end[partition as usize];
                *end = (*end).min(offset);
            }
            Observation::Compacted {
                group,
                partition,
                offset,
                ..
            }
            | Observation::Expired {
                group,
                partition,
                offset,
                ..
            } => {
                self.removed
                    .entry((group, partition))
                    .or_default()
                    .insert(offset);
                self.skip_removed(at, group, partition);
            }
            Observation::Assigned {
                group,
                partition,
                offset,
                ..
            } => {
                let behind = self.log_end[partition as usize] > offset;
                self.read
                    .entry((group, partition))
                    .or_insert((offset, behind.then_some(at)));
                self.skip_removed(at, group, partition);
            }
            Observation::Delivered {
                group,
                partition,
                offset,
                ..
            } => {
                let Some(&(next, since)) = self.read.get(&(group, partition)) else {
                    return;
                };
                if offset < next {
                    return;
                }
                if let Some(since) = since {
                    self.stall(ctx, group, partition, since, at, false);
                }
                let caught_up = offset + 1 >= self.log_end[partition as usize];
                self.read
                    .insert((group, partition), (offset + 1, (!caught_up).then_some(at)));
                self.skip_removed(at, group, partition);
            }
            _ => {}
        }
    }
    #[allow(clippy::disallowed_methods)] // sorted before use
    fn finish(&mut self, ctx: &Context, end: End) -> Vec<Violation> {
        let behind: Vec<(u32, u32, u64, Option<Time>)> = self
            .read
            .iter()
            .filter(|&(&(_, p), &(next, _))| next < self.log_end[p as usize])
            .map(|(&(g, p), &(next, since))| (g, p, next, since))
            .collect();
        let mut behind = behind;
        behind.sort_unstable();
        let mut open = 0;
        for (g, p, next, since) in behind {
            let since = since.unwrap_or(end.t_ns);
            if end.t_ns.saturating_sub(since) > self.bound_ns {
                self.stall(ctx, g, p, since, end.t_ns, true);
            } else if end.cut {
                open += 1;
            } else if !self.stalled.contains(&(g, p)) {
                self.stalled.insert((g, p));
                self.found.push(ctx.violation(
                    "liveness",
                    end.t_ns,
                    Some(g),
                    Some(p),
                    None,
                    Vec::new(),
                    format!(
                        "group {} ended {} events behind on {} (next offset {next}, log end {})",
                        ctx.catalog.groups[g as usize],
                        self.log_end[p as usize] - next,
                        ctx.catalog.partition_name(p),
                        self.log_end[p as usize]
                    ),
                ));
            }
        }
        self.open = (open > 0).then(|| {
            format!("{open} (group, partition) pair(s) behind but still progressing when the run stopped")
        });
        std::mem::take(&mut self.found)
    }
    fn undecided(&self) -> Option<String> {
        self.open.clone()
    }
}
