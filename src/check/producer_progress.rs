//! `producer-progress`.

use super::*;

/// `producer-progress`: while a producer has records outstanding (created,
/// neither acknowledged nor failed), it gets an acknowledgement at least
/// every `bound`. A producer that keeps retrying without success (a
/// livelock on sequence numbers, a partition it cannot reach, an ISR below
/// `min_insync_replicas` for good) fails the run, as `liveness` does for a
/// group that stops consuming. Failed records are no progress: a producer
/// whose every batch expires is stuck too.
pub(super) struct ProducerProgress {
    bound_ns: Time,
    /// Per producer: records outstanding.
    outstanding: Vec<u64>,
    /// Per producer: since when it has had records outstanding and no
    /// acknowledgement, and how many records failed meanwhile.
    since: Vec<Option<(Time, u64)>>,
    /// Per producer: the oldest event of the current stretch.
    oldest: Vec<EventId>,
    /// Per producer: this stretch was reported.
    reported: Vec<bool>,
    found: Vec<Violation>,
}

impl ProducerProgress {
    pub(super) fn new(ctx: &Context, bound_ns: Time) -> Self {
        let n = ctx.catalog.producers.len();
        ProducerProgress {
            bound_ns,
            outstanding: vec![0; n],
            since: vec![None; n],
            oldest: vec![0; n],
            reported: vec![false; n],
            found: Vec::new(),
        }
    }

    fn check(&mut self, ctx: &Context, p: usize, now: Time, at_end: bool) {
        let Some((since, failed)) = self.since[p] else {
            return;
        };
        if self.reported[p] || now.saturating_sub(since) <= self.bound_ns {
            return;
        }
        self.reported[p] = true;
        self.found.push(ctx.violation(
            "producer-progress",
            now,
            None,
            None,
            None,
            vec![self.oldest[p]],
            format!(
                "producer {} had records outstanding and none acknowledged for {:.3}s (from {:.3}s{}): {} outstanding, {} failed meanwhile",
                ctx.catalog.producers[p],
                (now - since) as f64 / 1e9,
                since as f64 / 1e9,
                if at_end { " to the end of the run" } else { "" },
                self.outstanding[p],
                failed
            ),
        ));
    }
}

impl Checker for ProducerProgress {
    fn name(&self) -> &'static str {
        "producer-progress"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Acked, Kind::ProduceFailed, Kind::Produced, Kind::Sent]
    }
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation) {
        match *o {
            Observation::Produced {
                event, producer, ..
            } => {
                let p = producer as usize;
                self.outstanding[p] += 1;
                if self.since[p].is_none() {
                    self.since[p] = Some((at, 0));
                    self.oldest[p] = event;
                    self.reported[p] = false;
                }
                self.check(ctx, p, at, false);
            }
            Observation::Sent { producer, .. } => self.check(ctx, producer as usize, at, false),
            Observation::Acked {
                event, producer, ..
            } => {
                let p = producer as usize;
                self.check(ctx, p, at, false);
                self.outstanding[p] = self.outstanding[p].saturating_sub(1);
                self.since[p] = (self.outstanding[p] > 0).then_some((at, 0));
                self.oldest[p] = event;
                self.reported[p] = false;
            }
            Observation::ProduceFailed { producer, .. } => {
                let p = producer as usize;
                self.check(ctx, p, at, false);
                self.outstanding[p] = self.outstanding[p].saturating_sub(1);
                if self.outstanding[p] == 0 {
                    self.since[p] = None;
                } else if let Some((_, failed)) = &mut self.since[p] {
                    *failed += 1;
                }
            }
            _ => {}
        }
    }
    fn finish(&mut self, ctx: &Context, end: End) -> Vec<Violation> {
        for p in 0..self.since.len() {
            self.check(ctx, p, end.t_ns, true);
        }
        std::mem::take(&mut self.found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::*;

    #[test]
    fn producer_progress_fires_on_a_producer_retrying_without_acknowledgements_only() {
        // Acknowledged within the bound (1,000 ns) each time: progress.
        let mut h = Vec::new();
        for i in 0..5u32 {
            let t = u64::from(i) * 800;
            h.push((t, produced(i, 0)));
            h.push((t + 700, acked(i, 0, i + 1, 10)));
        }
        assert!(check("producer-progress", Effect::Count, &h).is_empty());

        // Event 5 is retried for 3,000 ns with no answer; event 6 fails: a stall,
        // reported once, naming the oldest outstanding event.
        let mut stuck = h.clone();
        stuck.push((4_000, produced(5, 0)));
        stuck.push((4_100, produced(6, 0)));
        for a in 1..30u32 {
            stuck.push((4_000 + u64::from(a) * 100, sent(5, a)));
        }
        stuck.push((
            6_000,
            O::ProduceFailed {
                event: 6,
                producer: 0,
            },
        ));
        stuck.push((7_000, sent(5, 31)));
        let v = check("producer-progress", Effect::Count, &stuck);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].events, vec![5]);
        assert!(
            v[0].message.contains("none acknowledged"),
            "{}",
            v[0].message
        );

        // The same stall found at the end of the run, with nothing sent after.
        let mut silent = h;
        silent.push((4_000, produced(5, 0)));
        silent.push((9_000, appended(99, 50)));
        let v = check("producer-progress", Effect::Count, &silent);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("to the end of the run"));
    }
}
