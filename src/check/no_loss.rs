//! `no-loss`.

use super::*;

/// `no-loss`: every acknowledged event stays in the log and is eventually
/// applied by every group that reads its partition (from where the group
/// started on it), unless the group's handler deliberately gave up on it
/// (dead-letter, skip). Retention deleting it before the group read it is a
/// loss (reported as such), and so is a leader change that truncated it.
pub(super) struct NoLoss {
    /// Per group: events appended and not yet applied, excused or lost.
    pending: Vec<FastMap<EventId, (u32, u64, bool)>>,
    /// Per group: events already settled (applied or excused).
    done: Vec<EventBits>,
    /// Per (group, partition): where the group started reading it.
    started: FastMap<(u32, u32), u64>,
    /// Events acknowledged before (or without) being appended where seen.
    acked: EventBits,
    /// Events truncated from the log and not appended since: when,
    /// where, and whether acknowledged (so far).
    truncated: BTreeMap<EventId, (Time, u32, u64, bool)>,
    /// Per group: acknowledged events retention deleted before it read them.
    expired: Vec<Violation>,
    /// On a cut run: acknowledged events still in the log and not applied
    /// yet (they may have been applied later), per group.
    open: Option<String>,
    /// When power-loss and disk-failure faults fired: a truncation then
    /// is a page cache or a disk lost, not an election's cut.
    disk_losses: BTreeMap<Time, crate::scenario::FaultKind>,
}

impl NoLoss {
    pub(super) fn new(groups: usize) -> Self {
        NoLoss {
            pending: vec![FastMap::default(); groups],
            done: vec![EventBits::default(); groups],
            started: FastMap::default(),
            acked: EventBits::default(),
            truncated: BTreeMap::new(),
            expired: Vec::new(),
            open: None,
            disk_losses: BTreeMap::new(),
        }
    }
    fn settle(&mut self, g: u32, event: EventId) {
        self.done[g as usize].insert(event);
        self.pending[g as usize].remove(&event);
    }
}

impl Checker for NoLoss {
    fn name(&self) -> &'static str {
        "no-loss"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[
            Kind::Acked,
            Kind::Appended,
            Kind::Applied,
            Kind::Assigned,
            Kind::Compacted,
            Kind::Expired,
            Kind::GaveUp,
            Kind::Skipped,
            Kind::Truncated,
            Kind::FaultStarted,
        ]
    }
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation) {
        match *o {
            Observation::Appended {
                event,
                partition,
                offset,
            } => {
                self.truncated.remove(&event);
                let acked = self.acked.contains(event);
                for &g in &ctx.readers[partition as usize] {
                    if self.done[g as usize].contains(event) {
                        continue;
                    }
                    if self
                        .started
                        .get(&(g, partition))
                        .is_some_and(|&s| offset < s)
                    {
                        continue;
                    }
                    let e = self.pending[g as usize]
                        .entry(event)
                        .or_insert((partition, offset, acked));
                    e.0 = partition;
                    e.1 = offset;
                }
            }
            Observation::Acked { event, .. } => {
                self.acked.insert(event);
                if let Some(t) = self.truncated.get_mut(&event) {
                    t.3 = true;
                }
                for p in &mut self.pending {
                    if let Some(e) = p.get_mut(&event) {
                        e.2 = true;
                    }
                }
            }
            Observation::Assigned {
                group,
                partition,
                offset,
                ..
            } => {
                if let std::collections::hash_map::Entry::Vacant(v) =
                    self.started.entry((group, partition))
                {
                    v.insert(offset);
                    // What came before the group's first position on the
                    // partition is not the group's to read (latest reset).
                    self.pending[group as usize]
                        .retain(|_, &mut (p, off, _)| p != partition || off >= offset);
                }
            }
            Observation::FaultStarted { fault }
                if matches!(
                    ctx.faults[fault as usize].kind,
                    crate::scenario::FaultKind::PowerLoss | crate::scenario::FaultKind::DiskFailure
                ) =>
            {
                self.disk_losses.insert(at, ctx.faults[fault as usize].kind);
            }
            Observation::Truncated {
                event,
                partition,
                offset,
            } => {
                let acked = self.acked.contains(event);
                self.truncated.insert(event, (at, partition, offset, acked));
            }
            Observation::Expired {
                event,
                group,
                partition,
                offset,
                ..
            } => {
                self.settle(group, event);
                if self.acked.contains(event) {
                    self.expired.push(ctx.violation(
                        "no-loss",
                        at,
                        Some(group),
                        Some(partition),
                        None,
                        vec![event],
                        format!(
                            "event {event} ({} offset {offset}) was deleted by retention before group {} read it",
                            ctx.catalog.partition_name(partition),
                            ctx.catalog.groups[group as usize]
                        ),
                    ));
                }
            }
            Observation::Applied { event, group, .. }
            | Observation::Compacted { event, group, .. }
            | Observation::Skipped { event, group, .. }
            | Observation::GaveUp { event, group, .. } => self.settle(group, event),
            _ => {}
        }
    }
    fn released(&mut self, below: EventId) {
        // What is still pending or truncated carries its acknowledgement.
        self.acked.release_below(below);
        for d in &mut self.done {
            d.release_below(below);
        }
    }
    #[allow(clippy::disallowed_methods)] // sorted before use
    fn finish(&mut self, ctx: &Context, end: End) -> Vec<Violation> {
        let mut out = std::mem::take(&mut self.expired);
        for (&event, &(at, partition, offset, acked)) in &self.truncated {
            if !acked {
                continue;
            }
            out.push(ctx.violation(
                "no-loss",
                at,
                None,
                Some(partition),
                None,
                vec![event],
                format!(
                    "acknowledged event {event} was truncated from {} (offset {offset}) {}, and no log holds it",
                    ctx.catalog.partition_name(partition),
                    match self.disk_losses.get(&at) {
                        Some(crate::scenario::FaultKind::PowerLoss) => {
                            "when power was lost before any replica had it on disk"
                        }
                        Some(_) => "when the disk of the only replicas holding it failed",
                        None => "by a leader change",
                    }
                ),
            ));
        }
        let mut open: Vec<String> = Vec::new();
        for (g, pending) in self.pending.iter().enumerate() {
            let mut pending: Vec<(&EventId, &(u32, u64, bool))> = pending.iter().collect();
            pending.sort_unstable_by_key(|&(&e, _)| e);
            let mut not_yet = 0u64;
            for (&event, &(partition, offset, acked)) in pending {
                if !(acked || self.acked.contains(event)) {
                    continue;
                }
                if end.cut {
                    not_yet += 1;
                    continue;
                }
                out.push(ctx.violation(
                    "no-loss",
                    end.t_ns,
                    Some(g as u32),
                    Some(partition),
                    None,
                    vec![event],
                    format!(
                        "event {event} was acknowledged (appended at {} offset {offset}) but group {} never applied it",
                        ctx.catalog.partition_name(partition),
                        ctx.catalog.groups[g]
                    ),
                ));
            }
            if not_yet > 0 {
                open.push(format!("{not_yet} for group {}", ctx.catalog.groups[g]));
            }
        }
        self.open = (!open.is_empty()).then(|| {
            format!(
                "acknowledged events still in the log, not applied yet when the run stopped: {}",
                open.join(", ")
            )
        });
        out
    }
    fn undecided(&self) -> Option<String> {
        self.open.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::*;

    #[test]
    fn no_loss_fires_on_an_acknowledged_event_never_applied_and_not_otherwise() {
        let mut h = written(3);
        consumed(&mut h, &[0, 1, 2]);
        assert!(check("no-loss", Effect::Sum, &h).is_empty());
        let mut h = written(3);
        consumed(&mut h, &[0, 2]);
        let v = check("no-loss", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].events, vec![1]);
        assert_eq!(v[0].group.as_deref(), Some("g"));
    }

    #[test]
    fn no_loss_excuses_what_came_before_the_group_and_what_it_dead_lettered() {
        // The group starts at offset 2 (latest): events 0 and 1 are not its own.
        let mut h = written(3);
        h[0] = (0, assigned(0, 0, 2));
        h.push((50, assigned(0, 0, 2)));
        consumed(&mut h, &[2]);
        assert!(check("no-loss", Effect::Sum, &h).is_empty());
        let mut h = written(2);
        consumed(&mut h, &[0]);
        h.push((
            2000,
            O::GaveUp {
                event: 1,
                group: 0,
                consumer: 0,
                dead_lettered: true,
                key: 0,
                value: 10,
            },
        ));
        assert!(check("no-loss", Effect::Sum, &h).is_empty());
    }

    #[test]
    fn no_loss_reports_truncated_and_expired_acknowledged_events() {
        let mut h = written(2);
        consumed(&mut h, &[0, 1]);
        h.push((
            3000,
            O::Truncated {
                event: 1,
                partition: 0,
                offset: 1,
            },
        ));
        let v = check("no-loss", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("truncated"), "{}", v[0].message);
        let mut h = written(2);
        consumed(&mut h, &[0]);
        h.push((
            3000,
            O::Expired {
                event: 1,
                group: 0,
                partition: 0,
                offset: 1,
                key: 0,
                value: 10,
            },
        ));
        let v = check("no-loss", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("retention"), "{}", v[0].message);
    }
}
