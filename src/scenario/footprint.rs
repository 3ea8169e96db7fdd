//! What a scenario will cost in memory, estimated before it is built.
//!
//! The estimate adds, for each thing a run keeps, its count times a
//! per-item cost measured on this implementation (peak resident memory of
//! runs that grow one dimension at a time) and rounded up: per partition
//! (its state, each replica's log, each producer's batch state, each
//! subscribed group's assignment and offsets), per consumer (its state and
//! its links to every broker), per key drawn (at most one per event, and
//! never more than the key space: keys cost nothing until drawn; the
//! model's versions, and the per-key state of groups with a `last-write`
//! effect or version idempotency), per record held at once (seconds of
//! traffic, more while a fault keeps a replica or a group behind), per
//! event kept for the run (the few bits that must outlive the event),
//! per fault the random generator plans, and per point of the time series
//! kept for each partition. Arithmetic is in `f64`, so no
//! user number can overflow it.

use super::error::Step;
use super::{Effect, Idempotency, Keys, Scenario, key};

/// Bytes one partition costs, apart from its replicas and subscribers.
const PER_PARTITION: f64 = 1_000.0;
/// Bytes per replica of a partition.
const PER_REPLICA: f64 = 400.0;
/// Bytes per partition a producer of its topic keeps (batch state).
const PER_PRODUCER_PARTITION: f64 = 200.0;
/// Bytes per partition a subscribed group keeps (assignment, offsets,
/// per-partition checker state, the time series).
const PER_GROUP_PARTITION: f64 = 600.0;
/// Bytes per topic a group reads for its end-to-end latency histogram
/// (HdrHistogram at 3 significant digits over a run's range, with the
/// spare room of its growth; measured: 213 KB each over 1,000 groups).
const PER_GROUP_TOPIC_LATENCY: f64 = 220_000.0;
/// Bytes per group for its latency from the origin, summed at the end
/// (a copy without spare room).
const PER_GROUP_LATENCY: f64 = 120_000.0;
/// Bytes per consumer, apart from its links.
const PER_CONSUMER: f64 = 1_500.0;
/// Bytes per network link (every node has two, one each way, to each
/// broker, brokers included).
const PER_LINK: f64 = 32.0;
/// Bytes per key drawn (its version in the model, in a hash map that
/// doubles as it grows).
const PER_KEY: f64 = 64.0;
/// Bytes per key of the key space at most for the model's versions: the
/// hash map turns into a table of 4 bytes per key when it holds a fifth of
/// the key space (64 / 5, plus 4).
const PER_KEY_SLOT: f64 = 17.0;
/// Bytes per key drawn per group that keeps per-key state for the run: a
/// `last-write` projection (the checkers' values and version) or
/// `idempotency = "version"` (the group's versions). Other groups' and
/// checkers' per-key state is held only while an event of the key is in
/// flight.
const PER_GROUP_KEY: f64 = 192.0;
/// Bytes per event kept for the whole run: the bits of events that must
/// be remembered however old (records of aborted transactions). Every
/// other record of an event, the model's and the checkers', is released
/// once nothing can reach the event, so it is live state, not per event.
const PER_EVENT: f64 = 0.25;
/// Bytes per event kept for the whole run, per group (the events left out
/// of its reference: expired, compacted or given up on).
const PER_EVENT_GROUP: f64 = 0.125;
/// Bytes per record held at once (the event's record, each replica's log
/// entry, a consumer's copy, and the spare room of a pass that releases
/// them only when what is held has doubled).
const PER_RECORD: f64 = 200.0;
/// Seconds of traffic held when nothing is down: records wait for every
/// group to commit past them (auto-commit every 5 seconds by default).
const HELD_S: f64 = 5.0;
/// Bytes per business flow followed (`[[flows]]`), kept to the end of
/// the run: the metrics' book and the checkers' (measured: 263 MiB for
/// 240 K flows, with the hash maps' spare room).
const PER_FLOW: f64 = 1_100.0;
/// Bytes per request an idempotent service keeps its answer for.
const PER_STORED_ANSWER: f64 = 16.0;
/// Bytes per fault of the plan.
const PER_FAULT: f64 = 300.0;
/// Bytes per point of a time series (time and value, and the spare
/// capacity of a growing vector).
const PER_POINT: f64 = 24.0;
/// What every run costs whatever its size (code, buffers, reports).
const BASE: f64 = 16.0 * 1024.0 * 1024.0;

/// One contributor to the estimate: the field that sets its size, what it
/// is, and its bytes.
#[derive(Clone, Debug)]
pub struct Cost {
    pub path: Vec<Step>,
    pub what: String,
    pub bytes: f64,
}

/// The estimate: every contributor and the total.
#[derive(Clone, Debug)]
pub struct Footprint {
    pub costs: Vec<Cost>,
    /// Events the producers and front doors are expected to make, before
    /// any budget cuts the run (for `check`'s estimate of the work).
    pub records: f64,
}

impl Footprint {
    pub fn bytes(&self) -> f64 {
        BASE + self.costs.iter().map(|c| c.bytes).sum::<f64>()
    }

    /// The contributor that costs most.
    pub fn largest(&self) -> Option<&Cost> {
        self.costs.iter().max_by(|a, b| a.bytes.total_cmp(&b.bytes))
    }
}

fn count(n: f64) -> String {
    if n < 1e6 {
        format!("{n:.0}")
    } else {
        format!("{n:.3e}")
    }
}

/// How many distinct keys `draws` draws from `keys` are expected to hit:
/// uniform `n(1 - e^(-draws/n))`; Zipf, the keys drawn about once or
/// more (rank below `(draws / H)^(1/s)`) plus the expected number of the
/// rarer ones (a sum approximated by its integral); sequential, one per
/// draw. Never more than the draws or the key space. (libm, not std:
/// the estimate is printed, and must be the same on every machine.)
fn distinct_keys(keys: &Keys, draws: f64) -> f64 {
    let n = keys.n() as f64;
    let m = draws.max(0.0);
    let d = match *keys {
        Keys::Uniform { .. } => n * -libm::expm1(-m / n),
        Keys::Sequential { .. } => m,
        Keys::Zipf { s, .. } => {
            // H(n, s) and the tail sum of k^-s over (a, n], by integrals.
            let integral = |a: f64, b: f64| {
                if (s - 1.0).abs() < 1e-9 {
                    libm::log(b / a)
                } else {
                    (libm::pow(a, 1.0 - s) - libm::pow(b, 1.0 - s)) / (s - 1.0)
                }
            };
            let h = 1.0 + integral(1.0, n.max(1.0));
            let head = libm::pow(m / h, 1.0 / s).clamp(1.0, n.max(1.0));
            head + m / h * integral(head, n.max(head))
        }
    };
    if d.is_finite() {
        d.min(m).min(n).max(0.0)
    } else {
        m.min(n)
    }
}

impl Scenario {
    /// Each group's consumers, their links to the brokers, and under
    /// `in-transaction` their transactional producers.
    fn consumer_costs(&self, brokers: f64) -> Vec<Cost> {
        let mut costs = vec![];
        let all_partitions: f64 = self.topics.iter().map(|t| t.partitions as f64).sum();
        for (i, g) in self.groups.iter().enumerate() {
            let n = g.consumers as f64;
            // `in-transaction`: each consumer has its own transactional
            // producer, with state for every partition it may write to.
            let (txn, per_txn) = if g.commit == crate::scenario::CommitMode::InTransaction {
                (
                    " and their transactional producers",
                    2.0 * PER_CONSUMER + all_partitions * PER_PRODUCER_PARTITION,
                )
            } else {
                ("", 0.0)
            };
            costs.push(Cost {
                path: vec![key("groups"), Step::Index(i), key("consumers")],
                what: format!("{} consumers{txn}", count(n)),
                bytes: n * (PER_CONSUMER + 2.0 * brokers * PER_LINK + per_txn),
            });
        }
        costs
    }

    /// Estimate the memory a run of this scenario needs.
    pub fn footprint(&self) -> Footprint {
        let mut costs = vec![];
        let brokers = self.cluster.brokers as f64;
        let mut subscribers = vec![0.0f64; self.topics.len()];
        let mut producers_of = vec![0.0f64; self.topics.len()];
        for g in &self.groups {
            for t in &g.topics {
                if let Some(i) = self.topics.iter().position(|x| &x.name == t) {
                    subscribers[i] += 1.0;
                }
            }
        }
        for p in &self.producers {
            if let Some(i) = self.topics.iter().position(|x| x.name == p.topic) {
                producers_of[i] += 1.0;
            }
        }
        // Time series keep a point per interval (at most `max_points`) for
        // each partition's appends and ISR and each group's lag on it.
        let run_ns = (self.scenario.duration.ns() as f64) + (self.scenario.drain.ns() as f64);
        let points = (run_ns / (self.report.interval.ns().max(1) as f64))
            .min(self.report.max_points as f64)
            .max(1.0);
        // Per-partition series: at most `partition_series` per topic (ISR)
        // and per group (lag); append rates are per topic.
        let series_per_topic = f64::from(self.report.partition_series);
        for (i, t) in self.topics.iter().enumerate() {
            let n = t.partitions as f64;
            let series = n.min(series_per_topic) * (1.0 + subscribers[i]) + 4.0;
            costs.push(Cost {
                path: vec![key("report"), key("max_points")],
                what: format!("time series of topic {}", t.name),
                bytes: PER_POINT * points * series,
            });
            let per = PER_PARTITION
                + PER_REPLICA * t.replication_factor as f64
                + PER_PRODUCER_PARTITION * producers_of[i]
                + PER_GROUP_PARTITION * subscribers[i];
            costs.push(Cost {
                path: vec![key("topics"), Step::Index(i), key("partitions")],
                what: format!(
                    "{} partitions x {} replicas",
                    count(n),
                    t.replication_factor
                ),
                bytes: n * per,
            });
        }
        costs.extend(self.consumer_costs(brokers));
        if !self.groups.is_empty() {
            let streams: f64 = self.groups.iter().map(|g| g.topics.len() as f64).sum();
            costs.push(Cost {
                path: vec![key("groups")],
                what: format!(
                    "latency histograms of {} groups",
                    count(self.groups.len() as f64)
                ),
                bytes: streams * PER_GROUP_TOPIC_LATENCY
                    + self.groups.len() as f64 * PER_GROUP_LATENCY,
            });
        }
        // Producers, brokers and the publishers of emit rules and dead
        // letters are nodes too; consumers' links are counted above.
        let nodes = brokers
            + self.producers.len() as f64
            + self
                .groups
                .iter()
                .map(|g| (g.emit.len() + 1) as f64)
                .sum::<f64>();
        costs.push(Cost {
            path: vec![key("cluster"), key("brokers")],
            what: format!(
                "{} brokers and their links to {} nodes",
                count(brokers),
                count(nodes)
            ),
            bytes: brokers * (PER_CONSUMER + 2.0 * nodes * PER_LINK),
        });
        let groups = self.groups.len() as f64;
        let end = self.scenario.duration.ns() as f64;
        let mut events = 0.0;
        let mut records = 0.0;
        for (i, p) in self.producers.iter().enumerate() {
            let stop = p.stop.map_or(end, |d| d.ns() as f64);
            let window = (stop - p.start.ns() as f64).max(0.0) / 1e9;
            records += p.rate.max(0.0) * window;
            let made = (p.rate.max(0.0) * window).min(self.scenario.max_kernel_events as f64);
            events += made;
            let n = p.keys.n() as f64;
            let drawn = distinct_keys(&p.keys, made);
            // Per-key state for the run is kept by the groups that read
            // the topic with a `last-write` effect or version idempotency
            // (and, for emitted events, downstream; counted as all such
            // groups when any group emits).
            let emits = self.groups.iter().any(|g| !g.emit.is_empty());
            let readers = self
                .groups
                .iter()
                .filter(|g| emits || g.topics.contains(&p.topic))
                .filter(|g| g.effect == Effect::LastWrite || g.idempotency == Idempotency::Version)
                .count() as f64;
            costs.push(Cost {
                path: vec![key("producers"), Step::Index(i), key("keys")],
                what: format!("about {} keys drawn of {}", count(drawn), count(n)),
                bytes: (drawn * PER_KEY).min(n * PER_KEY_SLOT) + drawn * PER_GROUP_KEY * readers,
            });
        }
        // Business flows are followed to the end of the run: one per root
        // event of a flow's `starts` type, from a producer or a front door.
        let starts = |t: &str| self.flows.iter().any(|f| f.starts == t);
        for (i, p) in self.producers.iter().enumerate() {
            if !starts(&p.event_type) {
                continue;
            }
            let stop = p.stop.map_or(end, |d| d.ns() as f64);
            let window = (stop - p.start.ns() as f64).max(0.0) / 1e9;
            let made = (p.rate.max(0.0) * window).min(self.scenario.max_kernel_events as f64);
            costs.push(Cost {
                path: vec![key("producers"), Step::Index(i), key("rate")],
                what: format!("about {} flows followed for the run", count(made)),
                bytes: made * PER_FLOW,
            });
        }
        let idempotent = self.services.iter().filter(|s| s.idempotent).count() as f64;
        for (i, sv) in self.services.iter().enumerate() {
            let Some(r) = &sv.requests else { continue };
            let stop = r.stop.map_or(end, |d| d.ns() as f64);
            let window = (stop - r.start.ns() as f64).max(0.0) / 1e9;
            records += r.rate.max(0.0) * window;
            let made = (r.rate.max(0.0) * window).min(self.scenario.max_kernel_events as f64);
            events += made;
            let flow = if starts(&r.event_type) { PER_FLOW } else { 0.0 };
            costs.push(Cost {
                path: vec![
                    key("services"),
                    Step::Index(i),
                    key("requests"),
                    key("rate"),
                ],
                what: format!("about {} requests followed for the run", count(made)),
                bytes: made * (flow + idempotent * PER_STORED_ANSWER),
            });
        }
        // Each event a group applies may emit one per emit rule.
        let emits: f64 = self.groups.iter().map(|g| g.emit.len() as f64).sum();
        let events = (events * (1.0 + emits)).min(self.scenario.max_kernel_events as f64);
        if let Some(i) = (0..self.producers.len())
            .max_by(|&a, &b| self.producers[a].rate.total_cmp(&self.producers[b].rate))
        {
            costs.push(Cost {
                path: vec![key("producers"), Step::Index(i), key("rate")],
                what: format!("about {} events kept for the run", count(events)),
                bytes: events * (PER_EVENT + PER_EVENT_GROUP * groups),
            });
        }
        // Records are held until every reader has committed past them and
        // every replica has them: a few seconds of traffic, and all of it
        // while a fault keeps a replica or a group behind (the longest
        // scheduled one; to the end of the run if it never heals).
        let longest = self
            .faults
            .schedule
            .iter()
            .map(|f| {
                let at = f.at.ns() as f64;
                f.span().map_or(end - at, |d| d.ns() as f64).clamp(0.0, end)
            })
            .fold(0.0, f64::max);
        let rate: f64 = self.producers.iter().map(|p| p.rate.max(0.0)).sum::<f64>() * (1.0 + emits);
        let held = (rate * (HELD_S + longest / 1e9)).min(events);
        if let Some(i) = (0..self.producers.len())
            .max_by(|&a, &b| self.producers[a].rate.total_cmp(&self.producers[b].rate))
        {
            costs.push(Cost {
                path: vec![key("producers"), Step::Index(i), key("rate")],
                what: format!("about {} records held at once", count(held)),
                bytes: held * PER_RECORD,
            });
        }
        if let Some(r) = &self.faults.random {
            let start = r.start.ns() as f64;
            let stop = r.stop.map_or(end, |d| d.ns() as f64).max(start);
            for (i, k) in r.kinds.iter().enumerate() {
                let Some(rate) = k.rate else { continue };
                // `rate` is faults per minute.
                let n = rate.max(0.0) * (stop - start) / 60e9;
                costs.push(Cost {
                    path: vec![
                        key("faults"),
                        key("random"),
                        key("kinds"),
                        Step::Index(i),
                        key("rate"),
                    ],
                    what: format!("about {} planned faults", count(n)),
                    bytes: n * PER_FAULT,
                });
            }
        }
        let emits: f64 = self.groups.iter().map(|g| g.emit.len() as f64).sum();
        Footprint {
            costs,
            records: records * (1.0 + emits),
        }
    }

    /// A problem if the estimated footprint is above `budget` bytes, at
    /// the field that costs most.
    pub fn footprint_problem(&self, budget: u64) -> Option<super::Problem> {
        let f = self.footprint();
        let total = f.bytes();
        if total.is_nan() || total <= budget as f64 {
            return None;
        }
        let largest = f.largest()?;
        let how = if crate::budget::is_default() {
            "half of the memory this process may use: the machine's, or its cgroup's or `ulimit -v` limit if smaller; set another with --max-memory"
        } else {
            "--max-memory"
        };
        Some(super::Problem {
            path: largest.path.clone(),
            message: format!(
                "a run of this scenario needs about {} of memory, more than the budget of {} ({how}); its largest part is {}: about {}",
                crate::budget::human(total),
                crate::budget::human(budget as f64),
                largest.what,
                crate::budget::human(largest.bytes),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_keys_drawn_follow_the_distribution() {
        let uniform = Keys::Uniform { n: 1000 };
        assert!((distinct_keys(&uniform, 1000.0) - 632.3).abs() < 1.0);
        assert_eq!(distinct_keys(&uniform, 1e9), 1000.0);
        assert_eq!(distinct_keys(&Keys::Sequential { n: 10 }, 7.0), 7.0);
        // Zipf: far fewer distinct keys than draws, more than the head.
        let zipf = Keys::Zipf {
            n: 10_000_000,
            s: 1.1,
        };
        let d = distinct_keys(&zipf, 1.8e6);
        assert!(d > 50_000.0 && d < 900_000.0, "{d}");
        let huge = Keys::Zipf {
            n: u64::MAX,
            s: 1.0,
        };
        let d = distinct_keys(&huge, 1e6);
        assert!(d.is_finite() && d <= 1e6, "{d}");
    }
}
