//! `kept-up`.

use super::*;
use std::collections::VecDeque;

/// A consumer that keeps up spends this share of its time busy at most
/// while the lag it serves grows; below it, the lag grows for another
/// reason (the consumer waits on fetches, a coordinator, a fault).
const BUSY: f64 = 0.95;

/// The growth that random arrivals can fake: a queue that keeps up
/// (utilisation below 1) also sees its lag rise for a while; a growth of
/// less than this many standard deviations of the window's arrivals and
/// completions (a random walk's spread) is not called a trend.
const SIGMAS: f64 = 3.0;

/// Windows shorter than this are too short to tell a trend from noise.
const MIN_WINDOW_NS: Time = 1_000_000_000;

/// `kept-up`: every group serves its partitions at least as fast as
/// records arrive. Judged over the second half of production (the
/// *window*, split in quarters), when no fault started or ended in it:
/// a (group, partition) fails when its lag grew through the window (its
/// lowest lag in the last quarter is above its highest in the first, and
/// its lag at the end of production above its highest in the third
/// quarter), by more than random arrivals explain, while the consumer
/// that owned it was busy at least 95% of the window's second half.
/// Then arrivals outrun service: the backlog grows for as long as
/// producers run, whatever drain follows.
pub(super) struct KeptUp {
    /// The window's quarter boundaries: its start, three inner bounds,
    /// and the end of production.
    bounds: [Time; 5],
    judged: bool,
    /// A fault started or ended in the window.
    disturbed: bool,
    parts: Vec<Part>,
    consumers: Vec<Cons>,
    pairs: FastMap<(u32, u32), Pair>,
    found: Vec<Violation>,
}

/// What the checker keeps of a partition.
#[derive(Clone, Default)]
struct Part {
    /// The log end offset.
    log_end: u64,
    /// The log end offset just before each bound (the first `known`).
    at: [u64; 5],
    known: u8,
    /// Records appended within the window.
    arrivals: u64,
}

impl Part {
    /// The log end offset at bound `k`, which `now` has passed.
    fn at_bound(&self, k: usize) -> u64 {
        if k < self.known as usize {
            self.at[k]
        } else {
            self.log_end
        }
    }
}

/// What the checker keeps of a consumer.
#[derive(Clone, Default)]
struct Cons {
    /// The batch its last poll returned, not processed yet: (event,
    /// partition, offset).
    batch: VecDeque<(EventId, u32, u64)>,
    /// When its last poll returned records.
    polled_at: Option<Time>,
    /// Busy since (the poll, or the last record it finished).
    cursor: Time,
    /// Busy time in the window's second half.
    busy_late: Time,
}

/// What the checker keeps of a (group, partition).
#[derive(Clone)]
struct Pair {
    /// The next offset after the last record processed.
    pos: u64,
    /// Bounds already passed.
    crossed: u8,
    /// Highest lag in the first and third quarters, lowest in the last.
    max1: u64,
    max3: u64,
    min4: u64,
    /// Lag at the window's start and at the end of production.
    lag_start: u64,
    lag_end: u64,
    /// Records processed within the window.
    served: u64,
    /// The last time it had processed everything appended.
    caught_up_ns: Option<Time>,
    /// The consumer it was last assigned to.
    owner: Option<u32>,
}

impl Pair {
    fn new() -> Pair {
        Pair {
            pos: 0,
            crossed: 0,
            max1: 0,
            max3: 0,
            min4: u64::MAX,
            lag_start: 0,
            lag_end: 0,
            served: 0,
            caught_up_ns: None,
            owner: None,
        }
    }

    /// The lag held from the last change until bound `k`, at that bound.
    fn at_bound(&mut self, k: usize, lag: u64) {
        match k {
            0 => {
                self.lag_start = lag;
                self.max1 = self.max1.max(lag);
            }
            1 => self.max1 = self.max1.max(lag),
            2 => self.max3 = self.max3.max(lag),
            3 => {
                self.max3 = self.max3.max(lag);
                self.min4 = self.min4.min(lag);
            }
            _ => {
                self.min4 = self.min4.min(lag);
                self.lag_end = lag;
            }
        }
    }
}

impl KeptUp {
    pub(super) fn new(ctx: &Context, production_end_ns: Time) -> Self {
        let end = production_end_ns;
        let start = end / 2;
        let w = end - start;
        KeptUp {
            bounds: [start, start + w / 4, start + w / 2, start + 3 * w / 4, end],
            judged: w >= MIN_WINDOW_NS,
            disturbed: false,
            parts: vec![Part::default(); ctx.catalog.partitions.len()],
            consumers: vec![Cons::default(); ctx.catalog.consumers.len()],
            pairs: FastMap::default(),
            found: Vec::new(),
        }
    }

    /// The quarter of the window `t` falls in (0-3), if any.
    fn quarter(&self, t: Time) -> Option<usize> {
        if t < self.bounds[0] || t >= self.bounds[4] {
            return None;
        }
        Some((1..4).take_while(|&k| t >= self.bounds[k]).count())
    }

    /// (group, partition) processed up to `pos` at `t` (or was assigned
    /// from `pos`): the lag it held until then is its highest since its
    /// last change, the lag from now on its lowest until the next.
    fn move_to(&mut self, t: Time, g: u32, p: u32, pos: u64, processed: bool) {
        let q = self.quarter(t);
        let part = &self.parts[p as usize];
        let pair = self.pairs.entry((g, p)).or_insert_with(Pair::new);
        while (pair.crossed as usize) < 5 && self.bounds[pair.crossed as usize] <= t {
            let k = pair.crossed as usize;
            pair.at_bound(k, part.at_bound(k).saturating_sub(pair.pos));
            pair.crossed += 1;
        }
        let before = part.log_end.saturating_sub(pair.pos);
        let after = part.log_end.saturating_sub(pos);
        match q {
            Some(0) => pair.max1 = pair.max1.max(before),
            Some(2) => pair.max3 = pair.max3.max(before),
            Some(3) => pair.min4 = pair.min4.min(after),
            _ => {}
        }
        if processed && q.is_some() {
            pair.served += 1;
        }
        if after == 0 && t < self.bounds[4] {
            pair.caught_up_ns = Some(t);
        }
        pair.pos = pos;
    }

    /// Consumer `c` finished a record of its batch at `t`.
    fn finished(&mut self, t: Time, g: u32, c: u32, event: EventId) {
        let late = (self.bounds[2], self.bounds[4]);
        let cons = &mut self.consumers[c as usize];
        // Records before it were dropped (revoked, or the batch discarded).
        while cons.batch.front().is_some_and(|&(e, _, _)| e != event) {
            cons.batch.pop_front();
        }
        let Some((_, p, offset)) = cons.batch.pop_front() else {
            return;
        };
        let (from, to) = (cons.cursor.max(late.0), t.min(late.1));
        cons.busy_late += to.saturating_sub(from);
        cons.cursor = t;
        self.move_to(t, g, p, offset + 1, true);
    }

    fn judge(&mut self, ctx: &Context) {
        let c = &ctx.catalog;
        let [start, _, late, _, end] = self.bounds;
        let secs = (end - start) as f64 / 1e9;
        #[allow(clippy::disallowed_methods)] // sorted on the next line
        let mut keys: Vec<(u32, u32)> = self.pairs.keys().copied().collect();
        keys.sort_unstable();
        for (g, p) in keys {
            let part = &self.parts[p as usize];
            let pair = self.pairs.get_mut(&(g, p)).expect("listed");
            while (pair.crossed as usize) < 5 {
                let k = pair.crossed as usize;
                pair.at_bound(k, part.at_bound(k).saturating_sub(pair.pos));
                pair.crossed += 1;
            }
            let Some(owner) = pair.owner else { continue };
            let growth = pair.lag_end.saturating_sub(pair.lag_start);
            let noise = SIGMAS * ((part.arrivals + pair.served) as f64).sqrt();
            let busy = self.consumers[owner as usize].busy_late as f64 / (end - late) as f64;
            if pair.min4 <= pair.max1
                || pair.lag_end <= pair.max3
                || (growth as f64) <= noise
                || busy < BUSY
            {
                continue;
            }
            let (arrive, served) = (part.arrivals as f64 / secs, pair.served as f64 / secs);
            let message = format!(
                "{} cannot keep up on {}: {} records/s arrive, {} records/s served by {} (busy {:.0}% of the time), so the lag grows by {}/s: {} behind at {:.1}s, {} at the end of production ({:.1}s); {}",
                c.groups[g as usize],
                c.partition_name(p),
                thousands(arrive),
                thousands(served),
                c.consumer_name(owner),
                (busy * 100.0).min(100.0),
                thousands(growth as f64 / secs),
                thousands(pair.lag_start as f64),
                start as f64 / 1e9,
                thousands(pair.lag_end as f64),
                end as f64 / 1e9,
                pair.caught_up_ns
                    .map_or("it never caught up".to_string(), |t| format!(
                        "it had last processed all it was assigned at {:.3}s",
                        t as f64 / 1e9
                    )),
            );
            self.found.push(ctx.violation(
                "kept-up",
                end,
                Some(g),
                Some(p),
                None,
                Vec::new(),
                message,
            ));
        }
    }
}

/// `n` rounded, with thousands separated by commas.
fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

impl Checker for KeptUp {
    fn name(&self) -> &'static str {
        "kept-up"
    }

    fn kinds(&self) -> &'static [Kind] {
        &[
            Kind::Appended,
            Kind::Delivered,
            Kind::Applied,
            Kind::Skipped,
            Kind::GaveUp,
            Kind::Assigned,
            Kind::FaultStarted,
            Kind::FaultEnded,
        ]
    }

    fn observe(&mut self, _: &Context, at: Time, o: &Observation) {
        match *o {
            Observation::Appended {
                partition, offset, ..
            } => {
                let inside = self.quarter(at).is_some();
                let part = &mut self.parts[partition as usize];
                while (part.known as usize) < 5 && self.bounds[part.known as usize] <= at {
                    part.at[part.known as usize] = part.log_end;
                    part.known += 1;
                }
                part.log_end = offset + 1;
                if inside {
                    part.arrivals += 1;
                }
            }
            Observation::Delivered {
                event,
                consumer,
                partition,
                offset,
                ..
            } => {
                let cons = &mut self.consumers[consumer as usize];
                if cons.polled_at != Some(at) {
                    // A new poll: the last batch is done or was dropped.
                    cons.batch.clear();
                    cons.polled_at = Some(at);
                    cons.cursor = at;
                }
                cons.batch.push_back((event, partition, offset));
            }
            Observation::Applied {
                event,
                group,
                consumer,
                ..
            }
            | Observation::Skipped {
                event,
                group,
                consumer,
            }
            | Observation::GaveUp {
                event,
                group,
                consumer,
                ..
            } => self.finished(at, group, consumer, event),
            Observation::Assigned {
                group,
                consumer,
                partition,
                offset,
                ..
            } => {
                self.move_to(at, group, partition, offset, false);
                if let Some(pair) = self.pairs.get_mut(&(group, partition)) {
                    pair.owner = Some(consumer);
                }
            }
            Observation::FaultStarted { .. } | Observation::FaultEnded { .. }
                if self.quarter(at).is_some() =>
            {
                self.disturbed = true;
            }
            _ => {}
        }
    }

    fn finish(&mut self, ctx: &Context, end: End) -> Vec<Violation> {
        // A run cut before production ended, or disturbed by a fault in
        // the window, is not judged: its lag says nothing of capacity.
        if self.judged && !self.disturbed && end.t_ns >= self.bounds[4] {
            self.judge(ctx);
        }
        std::mem::take(&mut self.found)
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;
    use crate::check::testkit::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1210.2), "1,210");
        assert_eq!(thousands(1234567.0), "1,234,567");
    }

    /// A single-server queue on partition 0 read by consumer 0 of group g:
    /// a record arrives every `every` ns and takes `serve` ns to process,
    /// one record per poll, for `end` ns of production.
    fn queue(every: Time, serve: Time, end: Time) -> Vec<(Time, O)> {
        let mut h = vec![(
            0,
            O::Assigned {
                group: 0,
                consumer: 0,
                partition: 0,
                generation: 1,
                offset: 0,
            },
        )];
        let (mut arrivals, mut done) = (Vec::new(), Vec::new());
        let mut free = 0;
        let mut t = every;
        let mut n: u64 = 0;
        while t < end {
            arrivals.push((t, n));
            let start = free.max(t);
            free = start + serve;
            done.push((start, free, n));
            n += 1;
            t += every;
        }
        let mut all: Vec<(Time, u8, u64)> = Vec::new();
        all.extend(arrivals.iter().map(|&(t, n)| (t, 0, n)));
        // At one instant a record is done before the next one is polled.
        all.extend(done.iter().map(|&(_, f, n)| (f, 1, n)));
        all.extend(done.iter().map(|&(s, _, n)| (s, 2, n)));
        all.sort_unstable();
        for (t, what, n) in all {
            let event = n as EventId;
            h.push((
                t,
                match what {
                    0 => O::Appended {
                        event,
                        partition: 0,
                        offset: n,
                    },
                    2 => O::Delivered {
                        event,
                        group: 0,
                        consumer: 0,
                        partition: 0,
                        offset: n,
                    },
                    _ => O::Applied {
                        event,
                        group: 0,
                        consumer: 0,
                        partition: 0,
                        producer: 0,
                        key: 0,
                        version: n as u32,
                        value: 1,
                        created_ns: t,
                        origin_created_ns: t,
                    },
                },
            ));
        }
        h
    }

    fn kept_up(history: &[(Time, O)], end: Time) -> Vec<Violation> {
        let config = CheckConfig {
            production_end_ns: end,
            ..config("kept-up")
        };
        let mut c = Checks::new(ctx(Effect::Sum), config);
        for (t, o) in history {
            c.observe(*t, o);
        }
        let last = history.last().map_or(0, |h| h.0).max(end);
        c.finish(last, end, false).1
    }

    #[test]
    fn kept_up_fires_when_arrivals_outrun_the_consumer() {
        const MS: Time = 1_000_000;
        // 1,000/s arrive, 833/s served: the lag grows by 167/s.
        let v = kept_up(&queue(MS, 1_200_000, 20_000 * MS), 20_000 * MS);
        assert_eq!(v.len(), 1, "{v:?}");
        let m = &v[0].message;
        assert!(m.contains("g cannot keep up on t-0"), "{m}");
        assert!(
            m.contains("1,000 records/s arrive, 833 records/s served by g/0"),
            "{m}"
        );
        assert!(m.contains("busy 100%"), "{m}");
        assert!(m.contains("the lag grows by 167/s"), "{m}");
        assert_eq!(v[0].group.as_deref(), Some("g"));
    }

    #[test]
    fn kept_up_holds_for_a_consumer_with_room_to_spare_and_for_a_short_run() {
        const MS: Time = 1_000_000;
        assert!(kept_up(&queue(MS, 800_000, 20_000 * MS), 20_000 * MS).is_empty());
        // Exactly at capacity: the lag stays at one record.
        assert!(kept_up(&queue(MS, MS, 20_000 * MS), 20_000 * MS).is_empty());
        // A window under a second is too short to tell.
        assert!(kept_up(&queue(MS, 1_200_000, 1_500 * MS), 1_500 * MS).is_empty());
    }
}
