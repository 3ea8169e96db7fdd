//! `nonmonotonic-poll` and `skipped-offset`.

use super::*;

/// Kafka-history anomalies of consumers' polls, in the spirit of Jepsen's
/// Kafka checker: within one assignment of a partition to a consumer, polls
/// must return consecutive offsets from the assigned position.
/// `nonmonotonic-poll`: an offset at or below one already returned.
/// `skipped-offset`: an offset beyond the next one, with no offset reset
/// (retention expiry or truncation) to explain it.
pub(super) struct Polls {
    nonmonotonic: bool,
    /// (consumer, partition) -> (next expected offset, reset allowed).
    next: FastMap<(u32, u32), (u64, bool)>,
    /// Partitions whose offsets may have been reset (expiry, truncation).
    reset: BTreeSet<(u32, u32)>,
    /// Per partition: offsets of transaction markers (never records), and
    /// the ranges of aborted transactions (`read_committed` skips their
    /// records; the range may hold other producers' records too, so the
    /// check is weaker inside it).
    markers: FastMap<u32, BTreeSet<u64>>,
    aborted: FastMap<u32, Vec<(u64, u64)>>,
    found: Vec<Violation>,
}

impl Polls {
    pub(super) fn new(nonmonotonic: bool) -> Self {
        Polls {
            nonmonotonic,
            next: FastMap::default(),
            reset: BTreeSet::new(),
            markers: FastMap::default(),
            aborted: FastMap::default(),
            found: Vec::new(),
        }
    }

    /// Whether group `g` may skip every offset in `from..to` of `partition`
    /// (transaction markers, and aborted records for read_committed).
    fn skippable(&self, ctx: &Context, g: u32, partition: u32, from: u64, to: u64) -> bool {
        let markers = self.markers.get(&partition);
        let aborted = self
            .aborted
            .get(&partition)
            .filter(|_| ctx.read_committed[g as usize]);
        (from..to).all(|o| {
            markers.is_some_and(|m| m.contains(&o))
                || aborted.is_some_and(|a| a.iter().any(|&(f, m)| f <= o && o < m))
        })
    }
}

impl Checker for Polls {
    fn name(&self) -> &'static str {
        if self.nonmonotonic {
            "nonmonotonic-poll"
        } else {
            "skipped-offset"
        }
    }
    fn kinds(&self) -> &'static [Kind] {
        &[
            Kind::Assigned,
            Kind::Compacted,
            Kind::Delivered,
            Kind::Expired,
            Kind::Rewound,
            Kind::Truncated,
            Kind::TxnMarker,
        ]
    }
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation) {
        match *o {
            Observation::Assigned {
                consumer,
                partition,
                offset,
                ..
            }
            | Observation::Rewound {
                consumer,
                partition,
                offset,
                ..
            } => {
                self.next.insert((consumer, partition), (offset, false));
            }
            Observation::Expired {
                group, partition, ..
            }
            | Observation::Compacted {
                group, partition, ..
            } => {
                self.reset.insert((group, partition));
            }
            Observation::TxnMarker {
                partition,
                offset,
                first,
                commit,
                ..
            } => {
                self.markers.entry(partition).or_default().insert(offset);
                if !commit && first < offset {
                    self.aborted
                        .entry(partition)
                        .or_default()
                        .push((first, offset));
                }
            }
            Observation::Truncated { partition, .. } => {
                for &g in &ctx.readers[partition as usize] {
                    self.reset.insert((g, partition));
                }
            }
            Observation::Delivered {
                event,
                group,
                consumer,
                partition,
                offset,
            } => {
                let Some(&(next, _)) = self.next.get(&(consumer, partition)) else {
                    return;
                };
                let name = || ctx.catalog.consumer_name(consumer);
                let pname = || ctx.catalog.partition_name(partition);
                if offset < next && self.nonmonotonic && !self.reset.contains(&(group, partition)) {
                    self.found.push(ctx.violation(
                        "nonmonotonic-poll",
                        at,
                        Some(group),
                        Some(partition),
                        None,
                        vec![event],
                        format!(
                            "{} polled offset {offset} of {} after offset {} in the same assignment",
                            name(),
                            pname(),
                            next - 1
                        ),
                    ));
                } else if offset > next
                    && !self.nonmonotonic
                    && !self.reset.contains(&(group, partition))
                    && !self.skippable(ctx, group, partition, next, offset)
                {
                    self.found.push(ctx.violation(
                        "skipped-offset",
                        at,
                        Some(group),
                        Some(partition),
                        None,
                        vec![event],
                        format!(
                            "{} polled offset {offset} of {} when {next} was next: offsets {next}..{} were skipped without a reset",
                            name(),
                            pname(),
                            offset - 1
                        ),
                    ));
                }
                if offset + 1 > next {
                    self.next.insert((consumer, partition), (offset + 1, false));
                }
            }
            _ => {}
        }
    }
    fn finish(&mut self, _ctx: &Context, _end: End) -> Vec<Violation> {
        std::mem::take(&mut self.found)
    }
}
