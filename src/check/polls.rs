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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::*;

    #[test]
    fn polls_must_return_consecutive_offsets_within_an_assignment() {
        let base = written(4);
        let mut ok = base.clone();
        for i in 0..4 {
            ok.push((1000 + u64::from(i), delivered(i, 0, u64::from(i))));
        }
        ok.push((2000, assigned(1, 0, 2))); // another assignment starts over
        ok.push((2001, delivered(2, 1, 2)));
        assert!(check("nonmonotonic-poll", Effect::Sum, &ok).is_empty());
        assert!(check("skipped-offset", Effect::Sum, &ok).is_empty());

        let mut back = base.clone();
        back.push((1000, delivered(0, 0, 0)));
        back.push((1001, delivered(1, 0, 1)));
        back.push((1002, delivered(0, 0, 0)));
        assert_eq!(check("nonmonotonic-poll", Effect::Sum, &back).len(), 1);
        assert!(check("skipped-offset", Effect::Sum, &back).is_empty());

        let mut skip = base;
        skip.push((1000, delivered(0, 0, 0)));
        skip.push((1001, delivered(3, 0, 3)));
        assert_eq!(check("skipped-offset", Effect::Sum, &skip).len(), 1);
        assert!(check("nonmonotonic-poll", Effect::Sum, &skip).is_empty());
    }

    #[test]
    fn skipped_offset_lets_polls_jump_transaction_markers_and_nothing_else() {
        // Offsets 0, 1 are records, 2 a commit marker, 3 a record.
        let mut h = written(2);
        h.push((
            30,
            O::TxnMarker {
                producer: 0,
                partition: 0,
                offset: 2,
                first: 0,
                commit: true,
            },
        ));
        h.push((31, produced(3, 0)));
        h.push((32, appended(3, 3)));
        let mut ok = h.clone();
        for (i, o) in [(0, 0), (1, 1), (3, 3)] {
            ok.push((1000 + u64::from(i), delivered(i, 0, o)));
        }
        assert!(check("skipped-offset", Effect::Sum, &ok).is_empty());
        // Jumping a record (offset 1) is still caught.
        let mut skip = h;
        skip.push((1000, delivered(0, 0, 0)));
        skip.push((1001, delivered(3, 0, 3)));
        assert_eq!(check("skipped-offset", Effect::Sum, &skip).len(), 1);
    }
}
