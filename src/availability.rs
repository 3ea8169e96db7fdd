//! Availability: when each partition had a leader that could serve it.
//!
//! An [`AvailabilityBook`] follows the observations that change who
//! serves a partition (leader elections, ISR changes, brokers crashing,
//! pausing and being fenced, the controller quorum) and keeps, per
//! partition, its outages: the spans with no live leader (the leader's
//! broker crashed, paused or fenced and nobody took over, or no replica
//! may lead). It also keeps the time each partition spent with a live
//! leader but fewer in-sync replicas than `min_insync_replicas` (when it
//! refuses `acks = all` writes with NOT_ENOUGH_REPLICAS), and per group the
//! time some partition it reads had no live leader (it could not consume
//! all of its input).
//!
//! The metrics keep one book for the figures in `summary.json`; the
//! `availability` checker keeps its own, so a history read back by
//! `check-history` is judged the same way. Its state is per partition and
//! per broker; it changes only on the rare observations above.

use crate::history::{Catalog, Observation};
use crate::kernel::Time;
use serde::Serialize;

/// Why a partition lost its leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The leader's broker crashed.
    Crashed(u32),
    /// The leader's broker was paused.
    Paused(u32),
    /// The controller fenced the leader's broker.
    Fenced(u32),
    /// An election found no replica that may lead (none in the ISR is live
    /// and unclean election is off).
    NoEligibleReplica,
}

impl Cause {
    /// In words: `broker-1 crashed`.
    pub fn describe(self) -> String {
        match self {
            Cause::Crashed(b) => format!("leader broker-{b} crashed"),
            Cause::Paused(b) => format!("leader broker-{b} paused"),
            Cause::Fenced(b) => format!("leader broker-{b} fenced by the controller"),
            Cause::NoEligibleReplica => "no replica could lead".to_string(),
        }
    }
}

/// One span without a live leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outage {
    /// The partition (global index).
    pub partition: u32,
    /// When it began.
    pub from_ns: Time,
    /// When a live leader served again (`None`: still out at the end).
    pub to_ns: Option<Time>,
    /// Why it began.
    pub cause: Cause,
}

impl Outage {
    /// How long it lasted, counting an open one up to `end`.
    pub fn length(&self, end: Time) -> Time {
        self.to_ns.unwrap_or(end).max(self.from_ns) - self.from_ns
    }
}

/// Follows who serves each partition.
#[derive(Clone, Debug)]
pub struct AvailabilityBook {
    first_broker_node: u32,
    /// Per partition: its leader's broker (`None`: offline).
    leader: Vec<Option<u32>>,
    /// Per partition: replicas in sync, and the topic's min ISR.
    isr: Vec<u32>,
    min_isr: Vec<u32>,
    /// Per broker: crashed (1) or paused (2), else 0; fenced.
    down: Vec<u8>,
    fenced: Vec<bool>,
    /// Per partition: the outage under way; how many are.
    open: Vec<Option<Outage>>,
    open_count: usize,
    /// Per partition: total time without a live leader (closed outages).
    out_ns: Vec<Time>,
    /// Per partition: the longest closed outage, and how many began.
    longest: Vec<Option<Outage>>,
    outage_count: Vec<u32>,
    /// Per partition: since when it has a live leader under min ISR, and
    /// the total so far.
    under_since: Vec<Option<Time>>,
    under_ns: Vec<Time>,
    /// Per partition: the groups reading it; per group: how many of its
    /// partitions are out, since when, and the total.
    readers: Vec<Vec<u32>>,
    group_out: Vec<u32>,
    group_since: Vec<Option<Time>>,
    group_ns: Vec<Time>,
    /// Since when the quorum has had no active controller, and the total.
    quorum_since: Option<Time>,
    quorum_ns: Time,
    /// Closed outages, in the order they ended, for the checker.
    closed: Vec<Outage>,
    keep_closed: bool,
}

impl AvailabilityBook {
    /// A book for `catalog`'s partitions; `keep_closed` keeps every ended
    /// outage (the checker's), not only each partition's longest.
    pub fn new(catalog: &Catalog, keep_closed: bool) -> Self {
        let parts = catalog.partitions.len();
        let brokers = catalog.brokers as usize;
        let mut readers = vec![Vec::new(); parts];
        for (g, ps) in catalog.group_partitions.iter().enumerate() {
            for &p in ps {
                readers[p as usize].push(g as u32);
            }
        }
        let groups = catalog.groups.len();
        AvailabilityBook {
            first_broker_node: catalog.first_broker_node,
            leader: catalog
                .replicas
                .iter()
                .map(|r| r.first().copied())
                .collect(),
            isr: catalog.replication.clone(),
            min_isr: catalog.min_isr.clone(),
            down: vec![0; brokers],
            fenced: vec![false; brokers],
            open: vec![None; parts],
            open_count: 0,
            out_ns: vec![0; parts],
            longest: vec![None; parts],
            outage_count: vec![0; parts],
            under_since: vec![None; parts],
            under_ns: vec![0; parts],
            readers,
            group_out: vec![0; groups],
            group_since: vec![None; groups],
            group_ns: vec![0; groups],
            quorum_since: None,
            quorum_ns: 0,
            closed: Vec::new(),
            keep_closed,
        }
    }

    /// Whether the book reads this kind of observation.
    #[inline]
    pub fn reads(o: &Observation) -> bool {
        matches!(
            o,
            Observation::LeaderElected { .. }
                | Observation::IsrChanged { .. }
                | Observation::Fenced { .. }
                | Observation::Unfenced { .. }
                | Observation::NodeState { .. }
                | Observation::Controller { .. }
        )
    }

    fn live(&self, b: u32) -> bool {
        self.down[b as usize] == 0 && !self.fenced[b as usize]
    }

    /// Read one observation made at `at`.
    pub fn observe(&mut self, at: Time, o: &Observation) {
        match *o {
            Observation::LeaderElected {
                partition, broker, ..
            } => {
                if let Some(b) = broker {
                    // The controller elects only brokers it has let in.
                    self.fenced[b as usize] = false;
                }
                self.leader[partition as usize] = broker;
                self.update(at, partition, Cause::NoEligibleReplica);
            }
            Observation::IsrChanged { partition, isr } => {
                self.isr[partition as usize] = isr;
                self.update(at, partition, Cause::NoEligibleReplica);
            }
            Observation::Fenced { broker } => {
                self.fenced[broker as usize] = true;
                self.update_led_by(at, broker, Cause::Fenced(broker));
            }
            Observation::Unfenced { broker } => {
                self.fenced[broker as usize] = false;
                self.update_led_by(at, broker, Cause::NoEligibleReplica);
            }
            Observation::NodeState { node, state } => {
                let Some(b) = node.checked_sub(self.first_broker_node) else {
                    return;
                };
                if b as usize >= self.down.len() {
                    return;
                }
                self.down[b as usize] = state;
                let cause = if state == 2 {
                    Cause::Paused(b)
                } else {
                    Cause::Crashed(b)
                };
                self.update_led_by(at, b, cause);
            }
            Observation::Controller { voter, .. } => match (voter, self.quorum_since) {
                (None, None) => self.quorum_since = Some(at),
                (Some(_), Some(since)) => {
                    self.quorum_ns += at - since;
                    self.quorum_since = None;
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn update_led_by(&mut self, at: Time, b: u32, cause: Cause) {
        for p in 0..self.leader.len() as u32 {
            if self.leader[p as usize] == Some(b) {
                self.update(at, p, cause);
            }
        }
    }

    /// Partition `p` may have lost or regained its live leader, or its ISR
    /// may have crossed min ISR, at `at`; `cause` names why if it is out now.
    fn update(&mut self, at: Time, p: u32, cause: Cause) {
        let i = p as usize;
        let serving = self.leader[i].is_some_and(|b| self.live(b));
        match (serving, self.open[i]) {
            (false, None) => {
                self.outage_count[i] += 1;
                self.open_count += 1;
                self.open[i] = Some(Outage {
                    partition: p,
                    from_ns: at,
                    to_ns: None,
                    cause,
                });
                for gi in 0..self.readers[i].len() {
                    let g = self.readers[i][gi] as usize;
                    self.group_out[g] += 1;
                    if self.group_out[g] == 1 {
                        self.group_since[g] = Some(at);
                    }
                }
            }
            (true, Some(mut o)) => {
                o.to_ns = Some(at);
                self.open[i] = None;
                self.open_count -= 1;
                self.out_ns[i] += o.length(at);
                if self.longest[i].is_none_or(|l| o.length(at) > l.length(at)) {
                    self.longest[i] = Some(o);
                }
                if self.keep_closed {
                    self.closed.push(o);
                }
                for gi in 0..self.readers[i].len() {
                    let g = self.readers[i][gi] as usize;
                    self.group_out[g] -= 1;
                    if self.group_out[g] == 0
                        && let Some(since) = self.group_since[g].take()
                    {
                        self.group_ns[g] += at - since;
                    }
                }
            }
            _ => {}
        }
        let under = serving && self.isr[i] < self.min_isr[i];
        match (under, self.under_since[i]) {
            (true, None) => self.under_since[i] = Some(at),
            (false, Some(since)) => {
                self.under_ns[i] += at - since;
                self.under_since[i] = None;
            }
            _ => {}
        }
    }

    /// Outages that ended (only kept with `keep_closed`), then those still
    /// open, as of `end`.
    pub fn outages(&self) -> impl Iterator<Item = &Outage> {
        self.closed.iter().chain(self.open.iter().flatten())
    }

    /// Whether broker `b` was crashed, paused or fenced at the last
    /// observation read: `Some("crashed")`, ...
    pub fn broker_state(&self, b: u32) -> Option<&'static str> {
        match (self.down.get(b as usize)?, self.fenced[b as usize]) {
            (1, _) => Some("crashed"),
            (2, _) => Some("paused"),
            (_, true) => Some("fenced"),
            _ => None,
        }
    }

    /// The outages under way.
    pub fn open_outages(&self) -> impl Iterator<Item = &Outage> {
        self.open.iter().flatten()
    }

    /// Whether some partition has no live leader now.
    pub fn any_open(&self) -> bool {
        self.open_count > 0
    }

    /// The broker partition `p`'s metadata names as its leader (`None`:
    /// offline).
    pub fn leader_of(&self, p: u32) -> Option<u32> {
        self.leader[p as usize]
    }

    /// Whether the quorum is without an active controller now.
    pub fn quorum_lost(&self) -> bool {
        self.quorum_since.is_some()
    }

    /// The figures as of `end` (the end of the run), per topic and group.
    pub fn figures(&self, catalog: &Catalog, end: Time) -> AvailabilityFigures {
        let mut topics: Vec<TopicAvailability> = catalog
            .topics
            .iter()
            .map(|t| TopicAvailability {
                topic: t.clone(),
                available: 1.0,
                leaderless_ns: 0,
                outages: 0,
                under_min_isr_ns: 0,
                longest_outage: None,
            })
            .collect();
        let mut partitions = vec![0u64; catalog.topics.len()];
        for (p, &(t, _)) in catalog.partitions.iter().enumerate() {
            let ta = &mut topics[t as usize];
            partitions[t as usize] += 1;
            let open = self.open[p];
            ta.leaderless_ns += self.out_ns[p] + open.map_or(0, |o| o.length(end));
            ta.under_min_isr_ns +=
                self.under_ns[p] + self.under_since[p].map_or(0, |s| end.saturating_sub(s));
            let longest = [self.longest[p], open]
                .into_iter()
                .flatten()
                .max_by_key(|o| (o.length(end), std::cmp::Reverse(o.from_ns)));
            if let Some(o) = longest {
                let better = ta.longest_outage.as_ref().is_none_or(|l| {
                    o.length(end) > l.duration_ns
                        || (o.length(end) == l.duration_ns && o.from_ns < l.from_ns)
                });
                if better {
                    ta.longest_outage = Some(OutageFigures {
                        partition: catalog.partition_name(p as u32),
                        from_ns: o.from_ns,
                        duration_ns: o.length(end),
                        until_end: o.to_ns.is_none(),
                        cause: o.cause.describe(),
                    });
                }
            }
        }
        for (p, &n) in self.outage_count.iter().enumerate() {
            topics[catalog.partitions[p].0 as usize].outages += n as u64;
        }
        for (t, ta) in topics.iter_mut().enumerate() {
            let total = partitions[t] as f64 * end.max(1) as f64;
            ta.available = round4(1.0 - ta.leaderless_ns as f64 / total);
        }
        let groups = catalog
            .groups
            .iter()
            .enumerate()
            .map(|(g, name)| {
                let ns =
                    self.group_ns[g] + self.group_since[g].map_or(0, |s| end.saturating_sub(s));
                GroupAvailability {
                    group: name.clone(),
                    available: round4(1.0 - ns as f64 / end.max(1) as f64),
                    unavailable_ns: ns,
                }
            })
            .collect();
        AvailabilityFigures {
            topics,
            groups,
            controller_leaderless_ns: self.quorum_ns
                + self.quorum_since.map_or(0, |s| end.saturating_sub(s)),
        }
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// `availability` in `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct AvailabilityFigures {
    /// Per topic.
    pub topics: Vec<TopicAvailability>,
    /// Per group: how long some partition it reads had no live leader.
    pub groups: Vec<GroupAvailability>,
    /// How long the controller quorum had no active controller (the
    /// metadata was frozen).
    pub controller_leaderless_ns: Time,
}

/// One topic's availability.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct TopicAvailability {
    /// The topic.
    pub topic: String,
    /// The share of partition-time with a live leader (1 = always).
    pub available: f64,
    /// Partition-time without a live leader, summed over its partitions.
    pub leaderless_ns: Time,
    /// How many spans without a live leader its partitions had.
    pub outages: u64,
    /// Partition-time with a live leader but fewer in-sync replicas than
    /// `min_insync_replicas` (acks = all writes refused).
    pub under_min_isr_ns: Time,
    /// Its longest outage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longest_outage: Option<OutageFigures>,
}

/// One outage as `summary.json` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct OutageFigures {
    /// The partition (`orders-2`).
    pub partition: String,
    /// When it began.
    pub from_ns: Time,
    /// How long it lasted.
    pub duration_ns: Time,
    /// It lasted to the end of the run.
    pub until_end: bool,
    /// What began it (`leader broker-1 crashed`).
    pub cause: String,
}

/// One group's availability.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct GroupAvailability {
    /// The group.
    pub group: String,
    /// The share of the run when every partition it reads had a live leader.
    pub available: f64,
    /// How long some partition it reads had none.
    pub unavailable_ns: Time,
}
