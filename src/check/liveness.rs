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
    /// Per (group, partition): offsets at or after its next one that it
    /// will never be handed: records removed (retention, compaction) before
    /// it read them, transaction markers, and under `read_committed` the
    /// records of aborted transactions.
    removed: FastMap<(u32, u32), BTreeSet<u64>>,
    /// Transactions open in partitions, to name what holds a
    /// `read_committed` group back.
    open_txns: OpenTxns,
    /// Per (group, partition): a consumer's poll() threw because its
    /// position could not be reset (`auto_offset_reset = "none"`), and
    /// nothing was read there since: (when, consumer, out-of-range offset).
    refused: BTreeMap<(u32, u32), (Time, u32, u64)>,
}

/// Per partition, the transactions a commit or abort marker has not yet
/// closed there, and when each producer's coordinator last decided one.
/// A transaction still open in a partition after its producer's
/// coordinator decided a later one, or open well past the producer's
/// `transaction_timeout` (when the coordinator aborts what it knows), is
/// hanging: its record arrived after the decision, so no marker will ever
/// close it (a leader without KIP-890's verification appends such a
/// record: in recorded histories of real clusters).
#[derive(Default)]
struct OpenTxns {
    /// Events of transactional producers produced but not yet appended.
    producer_of: FastMap<EventId, u32>,
    /// Per (partition, producer): (first offset, when it was appended, its
    /// records' offsets there).
    open: BTreeMap<(u32, u32), (u64, Time, Vec<u64>)>,
    /// Per producer: when its coordinator last decided a transaction.
    decided: FastMap<u32, Time>,
}

/// A transaction a marker closed in a partition.
struct Closed {
    partition: u32,
    /// The marker's offset.
    marker: u64,
    /// Its records' offsets in the partition, if it aborted.
    aborted: Vec<u64>,
}

impl OpenTxns {
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation) -> Option<Closed> {
        match *o {
            Observation::Produced {
                event, producer, ..
            } if ctx
                .transaction_timeout_ns
                .get(producer as usize)
                .is_some_and(Option::is_some) =>
            {
                self.producer_of.insert(event, producer);
            }
            Observation::Appended {
                event,
                partition,
                offset,
            } => {
                if let Some(p) = self.producer_of.remove(&event) {
                    let txn = self.open.entry((partition, p));
                    txn.or_insert((offset, at, Vec::new())).2.push(offset);
                }
            }
            Observation::TxnMarker {
                producer,
                partition,
                offset,
                commit,
                ..
            } => {
                let txn = self.open.remove(&(partition, producer));
                let aborted = txn.filter(|_| !commit).map(|t| t.2).unwrap_or_default();
                return Some(Closed {
                    partition,
                    marker: offset,
                    aborted,
                });
            }
            Observation::TxnEnded { producer, .. } => {
                self.decided.insert(producer, at);
            }
            Observation::Truncated {
                partition, offset, ..
            } => self
                .open
                .retain(|&(p, _), t| p != partition || t.0 < offset),
            _ => {}
        }
        None
    }

    /// A hanging transaction at or above `next` in `partition`, as of `now`:
    /// (producer, first offset, when it was appended).
    fn hanging(
        &self,
        ctx: &Context,
        partition: u32,
        next: u64,
        now: Time,
    ) -> Option<(u32, u64, Time)> {
        self.open
            .range((partition, 0)..=(partition, u32::MAX))
            // read_committed reads below the first: a group behind it is
            // held there (and by the lowest, whichever it reaches first).
            .filter(|&(_, t)| t.0 >= next)
            .filter(|&(&(_, p), &(_, appended, _))| {
                // A decision after the append wrote its markers long ago;
                // without one, the coordinator would have decided (aborted
                // on its timeout) a transaction it knew of.
                let last = self.decided.get(&p).copied().unwrap_or(0);
                let timeout = ctx.transaction_timeout_ns[p as usize].unwrap_or(Time::MAX);
                if last > appended {
                    now.saturating_sub(last) > HANGING_AFTER_NS
                } else {
                    now.saturating_sub(appended) > timeout.saturating_add(HANGING_AFTER_NS)
                }
            })
            .map(|(&(_, p), &(first, at, _))| (p, first, at))
            .min_by_key(|&(p, first, _)| (first, p))
    }
}

/// How long after its producer's next decision a transaction still open
/// in a partition counts as hanging (markers take milliseconds).
const HANGING_AFTER_NS: Time = 5_000_000_000;

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
            open_txns: OpenTxns::default(),
            refused: BTreeMap::new(),
        }
    }

    /// `offset` was appended to `partition`: its readers are behind.
    fn appended(&mut self, ctx: &Context, at: Time, partition: u32, offset: u64) {
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

    /// A poll handed (group, partition)'s record at `offset` over.
    fn delivered(&mut self, ctx: &Context, at: Time, (group, partition): (u32, u32), offset: u64) {
        let Some(&(next, since)) = self.read.get(&(group, partition)) else {
            return;
        };
        if offset < next {
            return;
        }
        self.refused.remove(&(group, partition));
        if let Some(since) = since {
            self.stall(ctx, group, partition, since, at, false);
        }
        let caught_up = offset + 1 >= self.log_end[partition as usize];
        self.read
            .insert((group, partition), (offset + 1, (!caught_up).then_some(at)));
        self.skip_removed(at, group, partition);
    }

    /// A marker closed a transaction: no group is handed the marker, and
    /// no `read_committed` one the records of an aborted transaction.
    fn skip_unreadable(&mut self, ctx: &Context, at: Time, closed: Closed) {
        let p = closed.partition;
        for &g in &ctx.readers[p as usize] {
            let removed = self.removed.entry((g, p)).or_default();
            removed.insert(closed.marker);
            if ctx.read_committed.get(g as usize) == Some(&true) {
                removed.extend(&closed.aborted);
            }
            self.skip_removed(at, g, p);
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
    /// (group, partition) will never read on, however long the run, for
    /// the reason `why` gives (once per pair).
    fn held(&mut self, ctx: &Context, (g, p): (u32, u32), now: Time, why: String) {
        if self.stalled.insert((g, p)) {
            let v = ctx.violation("liveness", now, Some(g), Some(p), None, Vec::new(), why);
            self.found.push(v);
        }
    }

    /// Why a `read_committed` group is held back by a hanging transaction.
    fn hanging(&self, ctx: &Context, (g, p): (u32, u32), txn: (u32, u64, Time)) -> String {
        let (producer, first, appended) = txn;
        format!(
            "group {} cannot read {} from offset {first} on (log end {}): a hanging transaction of producer {} holds its last stable offset there since {:.3}s. \
             Its record reached the partition after the coordinator had ended the transaction, so no marker will ever close it \
             (a leader appends such a record before transaction version 2, KIP-890; `kafka-transactions.sh abort` is the way out, KIP-664)",
            ctx.catalog.groups[g as usize],
            ctx.catalog.partition_name(p),
            self.log_end[p as usize],
            ctx.catalog.producers[producer as usize],
            appended as f64 / 1e9,
        )
    }

    /// Why a group whose consumer stopped on a position it could not
    /// reset stays behind: every consumer given the partition stops the
    /// same way.
    fn reset_refused(
        &self,
        ctx: &Context,
        (g, p): (u32, u32),
        (at, consumer, offset): (Time, u32, u64),
    ) -> String {
        format!(
            "group {} stopped reading {} (log end {}): at {:.3}s {}'s poll() threw OffsetOutOfRangeException, its position {offset} \
             having left the log, and with auto_offset_reset = \"none\" nothing resets it, so every consumer given the partition stops the same way",
            ctx.catalog.groups[g as usize],
            ctx.catalog.partition_name(p),
            self.log_end[p as usize],
            at as f64 / 1e9,
            ctx.catalog.consumer_name(consumer),
        )
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
            Kind::Produced,
            Kind::ResetRefused,
            Kind::Truncated,
            Kind::TxnEnded,
            Kind::TxnMarker,
        ]
    }
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation) {
        if let Some(closed) = self.open_txns.observe(ctx, at, o) {
            self.skip_unreadable(ctx, at, closed);
        }
        match *o {
            Observation::ResetRefused {
                group,
                consumer,
                partition,
                offset,
            } => {
                self.refused
                    .entry((group, partition))
                    .or_insert((at, consumer, offset));
            }
            Observation::Appended {
                partition, offset, ..
            } => self.appended(ctx, at, partition, offset),
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
            } => self.delivered(ctx, at, (group, partition), offset),
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
            if let Some(&refused) = self.refused.get(&(g, p)) {
                let why = self.reset_refused(ctx, (g, p), refused);
                self.held(ctx, (g, p), end.t_ns, why);
            } else if ctx.read_committed.get(g as usize) == Some(&true)
                && let Some(hanging) = self.open_txns.hanging(ctx, p, next, end.t_ns)
            {
                let why = self.hanging(ctx, (g, p), hanging);
                self.held(ctx, (g, p), end.t_ns, why);
            } else if end.t_ns.saturating_sub(since) > self.bound_ns {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::*;

    #[test]
    fn liveness_fires_on_a_partition_left_behind() {
        let mut h = written(3);
        consumed(&mut h, &[0, 1, 2]);
        assert!(check("liveness", Effect::Sum, &h).is_empty());
        let mut h = written(3);
        consumed(&mut h, &[0]);
        h.push((1500, produced(9, 1))); // the run goes on, no progress
        let v = check("liveness", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("behind"), "{}", v[0].message);
        let mut h = written(3);
        consumed(&mut h, &[0]);
        h.push((9000, produced(9, 1)));
        let v = check("liveness", Effect::Sum, &h);
        assert!(v[0].message.contains("no progress"), "{}", v[0].message);
    }

    #[test]
    fn liveness_does_not_wait_for_records_removed_before_the_group_read_them() {
        // Offsets 0..3 appended; the group reads 0 and 1; 2 is compacted away
        // before it reads it: the group is caught up. Without the compaction
        // it ended one behind.
        let mut h = written(3);
        h.push((5, assigned(0, 0, 0)));
        h.push((10, delivered(0, 0, 0)));
        h.push((11, delivered(1, 0, 1)));
        let mut compacted = h.clone();
        compacted.push((
            12,
            O::Compacted {
                event: 2,
                group: 0,
                partition: 0,
                offset: 2,
                key: 0,
                value: 1,
            },
        ));
        assert!(check("liveness", Effect::Sum, &compacted).is_empty());
        assert_eq!(check("liveness", Effect::Sum, &h).len(), 1);
    }

    /// `liveness` over a history where producer 0 writes in transactions
    /// (timeout 1 µs) and group 0 reads with the given isolation.
    fn check_transactional(read_committed: bool, history: &[(Time, O)]) -> Vec<Violation> {
        let mut x = ctx(Effect::Sum);
        x.read_committed = vec![read_committed];
        x.transaction_timeout_ns = vec![Some(1_000)];
        let mut c = Checks::new(x, config("liveness"));
        for (t, o) in history {
            c.observe(*t, o);
        }
        let end = history.last().map_or(0, |h| h.0);
        c.finish(end, 0, false).1
    }

    #[test]
    fn liveness_knows_what_read_committed_never_reads_and_names_a_hanging_transaction() {
        // Record 0 commits (marker at 1); record 1 at offset 2 aborts (marker
        // at 3). A read_committed group that read offset 0 has read all it
        // will ever be handed; a read_uncommitted one still owes offset 2.
        let mut h = vec![
            (0, produced(0, 0)),
            (1, appended(0, 0)),
            (2, marker(1, 0, true)),
            (3, produced(1, 1)),
            (4, appended(1, 2)),
            (
                5,
                O::TxnEnded {
                    producer: 0,
                    committed: false,
                    records: 1,
                },
            ),
            (6, marker(3, 2, false)),
            (7, assigned(0, 0, 0)),
            (8, delivered(0, 0, 0)),
        ];
        assert!(check_transactional(true, &h).is_empty());
        assert_eq!(check_transactional(false, &h).len(), 1);
        // A record of the aborted transaction arrives after its marker: it
        // opens a transaction no marker closes, and the group waits behind it.
        h.push((10, produced(2, 2)));
        h.push((11, appended(2, 4)));
        h.push((20_000_000_000, produced(3, 3)));
        let v = check_transactional(true, &h);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(
            v[0].message.contains("hanging transaction"),
            "{}",
            v[0].message
        );
        assert!(
            v[0].message.contains("from offset 4 on"),
            "{}",
            v[0].message
        );
    }
}
