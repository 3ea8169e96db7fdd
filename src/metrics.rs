//! Metrics: counts, latency histograms and throughput, computed by observing
//! the history. Memory grows with the number of streams and events ids (one
//! bit per event per group for duplicate detection), never with the number
//! of observations.

use crate::history::{CallOutcome, Catalog, EventId, Observation, Observer};
use crate::kernel::Time;
pub use crate::latency::{LatencyStats, LatencyStream};
use serde::Serialize;
use std::collections::BTreeMap;

/// Event counts of a run (`counts` in summary.json).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Counts {
    /// Events producers created.
    pub produced: u64,
    /// Events whose producer learned they were acknowledged.
    pub acked: u64,
    /// Events the producer gave up on.
    pub produce_failed: u64,
    /// Appends to partition leaders' logs (duplicates included).
    pub appended: u64,
    /// Events consumers' polls returned (redeliveries included).
    pub delivered: u64,
    /// Events whose effect was applied (duplicates included).
    pub applied: u64,
    /// Events the idempotency check skipped.
    pub skipped: u64,
    /// Events services emitted while processing.
    pub emitted: u64,
    /// Offset commits that succeeded.
    pub committed: u64,
    /// Rebalances of every group.
    pub rebalances: u64,
    /// Deliveries of an event a group had already been delivered.
    pub duplicates_delivered: u64,
    /// Applications of an event a group had already applied.
    pub duplicates_applied: u64,
    /// Deleted by retention before a group read them (per group).
    pub expired: u64,
    /// Removed by log compaction before a group read them (per group).
    #[serde(default)]
    pub compacted: u64,
    /// Handler gave up and published to the dead-letter topic.
    pub dead_lettered: u64,
    /// Handler gave up and dropped the event (`on_failure = "skip"`).
    pub gave_up: u64,
    /// Failed handler attempts.
    pub handler_failures: u64,
    /// Events lost from a partition's log by a leader change.
    pub truncated: u64,
    /// Partition leader changes.
    pub leader_elections: u64,
    /// Leaders elected from outside the ISR (`unclean.leader.election.enable`).
    pub unclean_leader_elections: u64,
    /// Consumers expelled from their group by the session timeout.
    pub expelled: u64,
    /// Transactions whose producer learned they committed, or aborted.
    #[serde(default)]
    pub transactions_committed: u64,
    /// Transactions whose producer learned they aborted.
    #[serde(default)]
    pub transactions_aborted: u64,
    /// Records of aborted transactions.
    #[serde(default)]
    pub aborted_records: u64,
}

/// One producer's counts (`producers` in summary.json): a scenario's
/// producers, and the emitters and outbox relays of its groups.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ProducerCounts {
    /// The producer's name (`GROUP->TOPIC` for a group's emitter).
    pub name: String,
    /// Events it created.
    pub produced: u64,
    /// Events it learned were acknowledged.
    pub acked: u64,
    /// Events it gave up on.
    pub failed: u64,
    /// How long the application's `send()` blocked for room in the
    /// producer's buffer (`buffer_memory`), in total (ns).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub blocked_ns: u64,
    /// Records whose `send()` threw: blocked longer than `max_block`, or
    /// larger than the whole buffer. Never sent, never counted as produced.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refused: u64,
    /// Records the application still wanted to send when the run stopped:
    /// a `send()` blocked, and those behind it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub waiting_at_end: u64,
}

/// One consumer group's counts (`groups` in summary.json).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct GroupCounts {
    /// The group's name.
    pub name: String,
    /// Events its consumers' polls returned (redeliveries included).
    pub delivered: u64,
    /// Events whose effect it applied (duplicates included).
    pub applied: u64,
    /// Deliveries of an event it had already been delivered.
    pub duplicates_delivered: u64,
    /// Applications of an event it had already applied.
    pub duplicates_applied: u64,
    /// Events its idempotency check skipped.
    pub skipped: u64,
    /// Events its handler gave up on and published to the dead-letter topic.
    pub dead_lettered: u64,
    /// Events its handler gave up on and dropped.
    pub gave_up: u64,
    /// Events retention deleted before it read them.
    pub expired: u64,
    /// Events log compaction removed before it read them.
    pub compacted: u64,
    /// Offset commits that succeeded.
    pub committed: u64,
    /// Its largest lag, in events (sampled at the time series interval).
    pub max_lag: u64,
    /// Its lag when the run ended, in events: what it had not consumed.
    pub lag_at_end: u64,
    /// Of that lag, records not yet delivered to it (the rest were
    /// delivered and not committed).
    pub unread_at_end: u64,
    /// Records it could read and had not processed when the run stopped
    /// (absent: none). Its latency figures count only what it finished.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unfinished: u64,
    /// How old the oldest of those was when the run stopped: a lower bound
    /// of its end-to-end latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_unfinished_ns: Option<Time>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// How busy a group's consumers were: the share of the run each spent
/// processing records (from a poll that returned them to the last one
/// done), in `summary.json`'s `utilisation`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct UtilisationFigures {
    /// The group.
    pub group: String,
    /// Its consumers.
    pub consumers: u32,
    /// The busiest consumer (the first of those as busy).
    pub busiest_consumer: String,
    /// Its busy share of the run (0 to 1).
    pub busiest: f64,
    /// The mean busy share of its consumers.
    pub mean: f64,
}

/// How many events a stream carried and over which span of time.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rate {
    /// Events carried.
    pub count: u64,
    /// When the first was carried.
    pub first_ns: Time,
    /// When the last was carried.
    pub last_ns: Time,
}

impl Rate {
    #[inline]
    fn hit(&mut self, at: Time) {
        if self.count == 0 {
            self.first_ns = at;
        }
        self.count += 1;
        self.last_ns = at;
    }

    /// Events per simulated second between the first and the last event.
    pub fn per_second(&self) -> f64 {
        if self.count < 2 || self.last_ns == self.first_ns {
            return 0.0;
        }
        (self.count - 1) as f64 * 1e9 / (self.last_ns - self.first_ns) as f64
    }
}

/// A growable bit set over event ids. The words below an id can be
/// released ([`EventBits::release_below`]) once no observation can name
/// those events again; a released id reads as absent.
#[derive(Clone, Debug, Default)]
pub struct EventBits {
    words: Vec<u64>,
    /// Index of `words[0]` among all words.
    base: u32,
}

impl EventBits {
    /// Set the bit; returns whether it was already set.
    #[inline]
    pub fn insert(&mut self, id: EventId) -> bool {
        let (word, bit) = ((id / 64).wrapping_sub(self.base) as usize, id % 64);
        if word >= self.words.len() {
            if id / 64 < self.base {
                return false; // released: the caller never names it again
            }
            self.words.resize((word + 1).next_power_of_two(), 0);
        }
        let was = self.words[word] >> bit & 1 == 1;
        self.words[word] |= 1 << bit;
        was
    }

    /// Whether `id`'s bit is set.
    #[inline]
    pub fn contains(&self, id: EventId) -> bool {
        self.words
            .get((id / 64).wrapping_sub(self.base) as usize)
            .is_some_and(|w| w >> (id % 64) & 1 == 1)
    }

    /// Clear `id`'s bit.
    pub fn remove(&mut self, id: EventId) {
        if let Some(w) = self
            .words
            .get_mut((id / 64).wrapping_sub(self.base) as usize)
        {
            *w &= !(1 << (id % 64));
        }
    }

    /// Whether `id`'s bit has been forgotten by [`EventBits::release_below`].
    #[inline]
    pub fn released(&self, id: EventId) -> bool {
        id / 64 < self.base
    }

    /// Forget every id below `below` (rounded down to a word).
    pub fn release_below(&mut self, below: EventId) {
        let n = ((below / 64).saturating_sub(self.base) as usize).min(self.words.len());
        if n > 0 {
            self.words.drain(..n);
            self.base += n as u32;
        }
    }
}

/// The metrics observer.
pub struct Metrics {
    partition_topic: Vec<u32>,
    /// Event counts.
    pub counts: Counts,
    /// Per producer: its counts.
    pub by_producer: Vec<ProducerCounts>,
    /// Per group: its counts (`max_lag` and `lag_at_end` come from the
    /// time series: the report fills them in).
    pub by_group: Vec<GroupCounts>,
    /// All producers together: filled by [`Metrics::finish`] from the
    /// per-producer streams (one record per acknowledgement, not two).
    pub produce_to_ack: LatencyStream,
    /// Produce -> acknowledgement, per producer.
    pub produce_to_ack_by_producer: Vec<LatencyStream>,
    /// Produce -> applied, per group (this hop only). Filled by
    /// [`Metrics::finish`] from the per (group, topic) streams.
    pub end_to_end: Vec<LatencyStream>,
    /// Origin produce -> applied, per group (whole choreography chain).
    /// Filled by [`Metrics::finish`]: during the run it holds only events
    /// created by another event's handler, then gains `end_to_end`.
    pub end_to_end_from_origin: Vec<LatencyStream>,
    /// Produce -> applied, per topic of the event (every group that reads
    /// it). Filled by [`Metrics::finish`].
    pub end_to_end_by_topic: Vec<LatencyStream>,
    /// Produce -> applied per (group, topic, whether the event was created
    /// by another event's handler), index `(group * topics + topic) * 2 +
    /// chained`: the one stream recorded per application, summed into the
    /// three above.
    end_to_end_by_group_topic: Vec<LatencyStream>,
    topics: usize,
    /// Appends per topic.
    pub appended_by_topic: Vec<Rate>,
    /// Appends per partition (duplicates included): the partition load.
    pub appended_by_partition: Vec<u64>,
    /// Applications per group.
    pub applied_by_group: Vec<Rate>,
    delivered: Vec<EventBits>,
    applied: Vec<EventBits>,
    /// The business flows (`None` when the scenario declares none).
    flows: Option<Box<crate::flows::FlowBook>>,
    /// Per service: its figures and the latency of its answered attempts.
    services: Vec<(ServiceFigures, LatencyStream)>,
    /// Per partition: its high watermark.
    high_watermark: Vec<u64>,
    /// Per group: how long it took to read the backlog it started with.
    catch_up: Vec<CatchUp>,
    /// Who served each partition, and when nobody did.
    availability: crate::availability::AvailabilityBook,
    /// Per consumer: how long it was busy processing (from a poll that
    /// returned records, or its last record done, to the next record
    /// done).
    pub busy_ns: Vec<Time>,
    /// Per consumer: when its last poll returned records, and when it
    /// started on its current record.
    busy_from: Vec<(Time, Time)>,
}

/// How long a group took to read what was in the log when it started
/// (a projection rebuilt by replaying a topic, a group reset to earliest):
/// each partition's target is its high watermark when the group was first
/// assigned it, and the group has caught up once it has applied (or
/// skipped, or given up on) a record at or past the target of each.
#[derive(Clone, Debug, Default)]
struct CatchUp {
    /// When the group was first assigned a partition.
    started_ns: Option<Time>,
    /// Global partition -> its target offset, for the partitions the
    /// group reads and has not caught up on (`None`: not assigned yet).
    target: BTreeMap<u32, Option<u64>>,
    /// Partitions assigned and not caught up, plus those never assigned.
    remaining: usize,
    /// Events delivered at or past their partition's target, whose
    /// application catches the partition up.
    awaiting: rustc_hash::FxHashMap<EventId, u32>,
    /// Offsets between where it started and the targets.
    backlog: u64,
    /// Records delivered to it until it caught up.
    delivered: u64,
    /// When it caught up.
    caught_up_ns: Option<Time>,
}

/// One service's figures in `summary.json` (`services`): the attempts to
/// call it as its callers saw them end.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct ServiceFigures {
    /// The service's name.
    pub name: String,
    /// Requests from outside (a front door's).
    pub requests: u64,
    /// Attempts it answered with success.
    pub ok: u64,
    /// Attempts it answered with a business failure.
    pub failed: u64,
    /// Attempts it answered with an error (down, queue full, a call of its
    /// own failed).
    pub errors: u64,
    /// Attempts its callers stopped waiting for.
    pub timeouts: u64,
    /// Calls its callers' circuit breakers did not make.
    pub breaker_open: u64,
    /// Attempts that asked it to undo a request (compensations).
    pub compensations: u64,
    /// Effects it recorded (successes, business failures, compensations).
    pub effects: u64,
    /// Send -> answer of the attempts it answered (ok or failed).
    pub latency_ns: LatencyStats,
}

/// A group's catch-up in `summary.json` (`catch_up`), for groups that
/// started behind.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct CatchUpFigures {
    /// Offsets between where it started reading and the high watermarks
    /// when it started (records compaction or retention removed included).
    pub backlog: u64,
    /// Records delivered to it until it caught up (fewer than `backlog` on
    /// a compacted topic).
    pub delivered: u64,
    /// From its first assignment until it had applied the backlog (`None`:
    /// it never did).
    pub caught_up_ns: Option<Time>,
}

impl CatchUp {
    fn new(parts: &[u32]) -> CatchUp {
        CatchUp {
            target: parts.iter().map(|&p| (p, None)).collect(),
            remaining: parts.len(),
            // Nothing to follow: done from the start, so the hot path
            // stops at one test.
            caught_up_ns: parts.is_empty().then_some(0),
            ..CatchUp::default()
        }
    }

    /// Partition `p` reached its target at `at`.
    fn done(&mut self, at: Time, p: u32) {
        if let Some(Some(_)) = self.target.get(&p) {
            self.target.remove(&p);
            self.remaining -= 1;
            if self.remaining == 0 {
                self.caught_up_ns = self.started_ns.map(|s| at - s);
                self.awaiting = Default::default();
            }
        }
    }
}

impl Metrics {
    /// Empty metrics for a run with `catalog`'s topology.
    pub fn new(catalog: &Catalog) -> Self {
        let groups = catalog.groups.len();
        Metrics {
            partition_topic: catalog.partitions.iter().map(|&(t, _)| t).collect(),
            counts: Counts::default(),
            by_producer: catalog
                .producers
                .iter()
                .map(|name| ProducerCounts {
                    name: name.clone(),
                    ..ProducerCounts::default()
                })
                .collect(),
            by_group: catalog
                .groups
                .iter()
                .map(|name| GroupCounts {
                    name: name.clone(),
                    ..GroupCounts::default()
                })
                .collect(),
            produce_to_ack: LatencyStream::default(),
            produce_to_ack_by_producer: vec![LatencyStream::default(); catalog.producers.len()],
            end_to_end: vec![LatencyStream::default(); groups],
            end_to_end_from_origin: vec![LatencyStream::default(); groups],
            end_to_end_by_topic: vec![LatencyStream::default(); catalog.topics.len()],
            end_to_end_by_group_topic: vec![
                LatencyStream::default();
                groups * catalog.topics.len() * 2
            ],
            topics: catalog.topics.len(),
            appended_by_topic: vec![Rate::default(); catalog.topics.len()],
            appended_by_partition: vec![0; catalog.partitions.len()],
            applied_by_group: vec![Rate::default(); groups],
            delivered: vec![EventBits::default(); groups],
            applied: vec![EventBits::default(); groups],
            high_watermark: vec![0; catalog.partitions.len()],
            catch_up: (0..groups)
                .map(|g| {
                    let parts = catalog.group_partitions.get(g).map_or(&[][..], |p| &p[..]);
                    let start = catalog.group_start_ns.get(g).copied().unwrap_or(0);
                    // Only a group that joins later (`start`) replays a
                    // backlog worth reporting; the others follow from it.
                    CatchUp::new(if start > 0 { parts } else { &[] })
                })
                .collect(),
            services: catalog
                .services
                .iter()
                .map(|name| {
                    let f = ServiceFigures {
                        name: name.clone(),
                        ..ServiceFigures::default()
                    };
                    (f, LatencyStream::default())
                })
                .collect(),
            availability: crate::availability::AvailabilityBook::new(catalog, false),
            busy_ns: vec![0; catalog.consumers.len()],
            busy_from: vec![(Time::MAX, Time::MAX); catalog.consumers.len()],
            flows: (!catalog.flows.is_empty()).then(|| {
                Box::new(crate::flows::FlowBook::new(
                    catalog.flows.clone(),
                    catalog.event_types.len(),
                ))
            }),
        }
    }
}

impl Metrics {
    /// Per group that started behind (a backlog in the log when it was
    /// first assigned its partitions): how long it took to read it.
    pub fn catch_up(&self) -> Vec<Option<CatchUpFigures>> {
        self.catch_up
            .iter()
            .map(|c| {
                (c.backlog > 0).then_some(CatchUpFigures {
                    backlog: c.backlog,
                    delivered: c.delivered,
                    caught_up_ns: c.caught_up_ns,
                })
            })
            .collect()
    }

    /// Availability per topic and group as of `end` (the run's end).
    pub fn availability(
        &self,
        catalog: &Catalog,
        end: Time,
    ) -> crate::availability::AvailabilityFigures {
        self.availability.figures(catalog, end)
    }

    /// Per group with consumers: how busy they were over a run that
    /// ended at `end`.
    pub fn utilisation(&self, catalog: &Catalog, end: Time) -> Vec<UtilisationFigures> {
        let share = |busy: Time| busy as f64 / end.max(1) as f64;
        let mut out: Vec<UtilisationFigures> = catalog
            .groups
            .iter()
            .map(|g| UtilisationFigures {
                group: g.clone(),
                ..UtilisationFigures::default()
            })
            .collect();
        let mut total = vec![0u128; out.len()];
        for (c, &(g, _)) in catalog.consumers.iter().enumerate() {
            let (u, busy) = (&mut out[g as usize], self.busy_ns[c]);
            if u.consumers == 0 || share(busy) > u.busiest {
                u.busiest = share(busy);
                u.busiest_consumer = catalog.consumer_name(c as u32);
            }
            u.consumers += 1;
            total[g as usize] += u128::from(busy);
        }
        for (u, t) in out.iter_mut().zip(total) {
            if u.consumers > 0 {
                u.mean = t as f64 / f64::from(u.consumers) / end.max(1) as f64;
            }
        }
        out.retain(|u| u.consumers > 0);
        out
    }

    /// Each service's figures (empty when the scenario declares none).
    pub fn services(&self) -> Vec<ServiceFigures> {
        self.services
            .iter()
            .map(|(f, latency)| ServiceFigures {
                latency_ns: latency.stats(),
                ..f.clone()
            })
            .collect()
    }

    /// Each business flow's figures (empty when the scenario declares none).
    pub fn flows(&self) -> Vec<crate::flows::FlowFigures> {
        self.flows.as_ref().map_or_else(Vec::new, |b| b.figures())
    }

    /// Complete the streams that are sums of others; call once at the end.
    /// Summing histograms gives exactly the histogram of every record, so
    /// each latency is recorded once in the hot loop instead of up to four
    /// times.
    pub fn finish(&mut self) {
        let mut all = LatencyStream::default();
        for s in &self.produce_to_ack_by_producer {
            all.merge(s);
        }
        self.produce_to_ack = all;
        // Each (group, topic) stream is dropped once summed, and moved into
        // its group's when it is the first: the sums cost no more memory
        // than their parts.
        let parts = std::mem::take(&mut self.end_to_end_by_group_topic);
        for (i, s) in parts.into_iter().enumerate() {
            if s.is_empty() {
                continue;
            }
            let (g, t, chained) = (i / (self.topics * 2), (i / 2) % self.topics, i % 2 == 1);
            self.end_to_end_by_topic[t].merge(&s);
            if !chained {
                self.end_to_end_from_origin[g].merge(&s);
            }
            self.end_to_end[g].absorb(s);
        }
    }
}

impl Metrics {
    /// The business flows' book reads what producers and services did.
    #[inline(always)]
    fn feed_flows(&mut self, at: Time, observation: &Observation) {
        if let Some(book) = &mut self.flows
            && matches!(
                observation,
                Observation::Produced { .. }
                    | Observation::Acked { .. }
                    | Observation::ProduceFailed { .. }
                    | Observation::Aborted { .. }
                    | Observation::Requested { .. }
                    | Observation::Acted { .. }
                    | Observation::CallEnded { .. }
            )
        {
            book.observe(at, observation);
        }
    }

    /// Consumers' busy time: from a poll that returned records (its first
    /// record starts then), or the last record done, to the next done.
    #[inline(always)]
    fn busy(&mut self, at: Time, observation: &Observation) {
        match *observation {
            Observation::Delivered { consumer, .. } => {
                if let Some(b) = self.busy_from.get_mut(consumer as usize)
                    && b.0 != at
                {
                    *b = (at, at);
                }
            }
            Observation::Applied { consumer, .. }
            | Observation::Skipped { consumer, .. }
            | Observation::GaveUp { consumer, .. } => self.done(at, consumer),
            _ => {}
        }
    }

    /// Consumer `c` finished a record at `at`: busy since it started it.
    fn done(&mut self, at: Time, c: u32) {
        if let (Some(b), Some(busy)) = (
            self.busy_from.get_mut(c as usize),
            self.busy_ns.get_mut(c as usize),
        ) {
            *busy += at.saturating_sub(b.1);
            b.1 = at;
        }
    }

    /// `group` applied, skipped or gave up on `event`: if it was at or
    /// past its partition's catch-up target, that partition caught up.
    #[inline]
    fn caught_up(&mut self, at: Time, group: u32, event: EventId) {
        let c = &mut self.catch_up[group as usize];
        if !c.awaiting.is_empty()
            && let Some(p) = c.awaiting.remove(&event)
        {
            c.done(at, p);
        }
    }
}

impl Observer for Metrics {
    fn released(&mut self, below: EventId) {
        for b in self.delivered.iter_mut().chain(&mut self.applied) {
            b.release_below(below);
        }
    }

    // Inlined into each call site, where the variant is known: the match
    // folds away to the one arm that applies.
    #[inline(always)]
    fn observe(&mut self, at: Time, observation: &Observation) {
        if crate::availability::AvailabilityBook::reads(observation) {
            self.availability.observe(at, observation);
        }
        self.feed_flows(at, observation);
        self.busy(at, observation);
        match *observation {
            Observation::Produced { producer, .. } => {
                self.counts.produced += 1;
                self.by_producer[producer as usize].produced += 1;
            }
            Observation::Acked {
                producer,
                created_ns,
                ..
            } => {
                self.counts.acked += 1;
                self.by_producer[producer as usize].acked += 1;
                self.produce_to_ack_by_producer[producer as usize].record(at - created_ns);
            }
            Observation::ProduceFailed { producer, .. } => {
                self.counts.produce_failed += 1;
                self.by_producer[producer as usize].failed += 1;
            }
            Observation::Aborted { .. } => self.counts.aborted_records += 1,
            Observation::TxnMarker { .. } | Observation::Rewound { .. } => {}
            Observation::TxnEnded { committed, .. } => {
                if committed {
                    self.counts.transactions_committed += 1;
                } else {
                    self.counts.transactions_aborted += 1;
                }
            }
            Observation::Appended { partition, .. } => {
                self.counts.appended += 1;
                self.appended_by_topic[self.partition_topic[partition as usize] as usize].hit(at);
                self.appended_by_partition[partition as usize] += 1;
            }
            Observation::Delivered {
                event,
                group,
                partition,
                offset,
                ..
            } => {
                let c = &mut self.catch_up[group as usize];
                if c.caught_up_ns.is_none() {
                    c.delivered += 1;
                    if let Some(Some(t)) = c.target.get(&partition)
                        && offset + 1 >= *t
                    {
                        c.awaiting.insert(event, partition);
                    }
                }
                self.counts.delivered += 1;
                let by = &mut self.by_group[group as usize];
                by.delivered += 1;
                if self.delivered[group as usize].insert(event) {
                    self.counts.duplicates_delivered += 1;
                    by.duplicates_delivered += 1;
                }
            }
            Observation::Applied {
                event,
                group,
                partition,
                created_ns,
                origin_created_ns,
                ..
            } => {
                let topic = self.partition_topic[partition as usize] as usize;
                let g = group as usize;
                // An event that starts its own chain has the same latency
                // from its origin: finish() adds those to the from-origin
                // stream; only chained events are recorded there now.
                let chained = origin_created_ns != created_ns;
                self.end_to_end_by_group_topic
                    [(g * self.topics + topic) * 2 + usize::from(chained)]
                .record(at - created_ns);
                if chained {
                    self.end_to_end_from_origin[g].record(at - origin_created_ns);
                }
                self.caught_up(at, group, event);
                self.counts.applied += 1;
                let by = &mut self.by_group[g];
                by.applied += 1;
                if self.applied[g].insert(event) {
                    self.counts.duplicates_applied += 1;
                    by.duplicates_applied += 1;
                }
                self.applied_by_group[g].hit(at);
            }
            Observation::Skipped { event, group, .. } => {
                self.caught_up(at, group, event);
                self.counts.skipped += 1;
                self.by_group[group as usize].skipped += 1;
            }
            Observation::Emitted { .. } => self.counts.emitted += 1,
            Observation::Committed { group, .. } => {
                self.counts.committed += 1;
                self.by_group[group as usize].committed += 1;
            }
            Observation::Rebalanced { .. } => self.counts.rebalances += 1,
            Observation::Expired { group, .. } => {
                self.counts.expired += 1;
                self.by_group[group as usize].expired += 1;
            }
            Observation::Compacted { group, .. } => {
                self.counts.compacted += 1;
                self.by_group[group as usize].compacted += 1;
            }
            Observation::GaveUp {
                event,
                group,
                dead_lettered,
                ..
            } => {
                self.caught_up(at, group, event);
                if dead_lettered {
                    self.counts.dead_lettered += 1;
                    self.by_group[group as usize].dead_lettered += 1;
                } else {
                    self.counts.gave_up += 1;
                    self.by_group[group as usize].gave_up += 1;
                }
            }
            Observation::HandlerFailed { .. } => self.counts.handler_failures += 1,
            Observation::Truncated { .. } => self.counts.truncated += 1,
            Observation::LeaderElected {
                broker: Some(_),
                unclean,
                ..
            } => {
                self.counts.leader_elections += 1;
                if unclean {
                    self.counts.unclean_leader_elections += 1;
                }
            }
            Observation::Expelled { .. } => self.counts.expelled += 1,
            Observation::HighWatermark { partition, offset } => {
                self.high_watermark[partition as usize] = offset;
            }
            Observation::Assigned {
                group,
                partition,
                offset,
                ..
            } => {
                let c = &mut self.catch_up[group as usize];
                if c.caught_up_ns.is_none()
                    && let Some(t) = c.target.get_mut(&partition)
                    && t.is_none()
                {
                    c.started_ns.get_or_insert(at);
                    let hw = self.high_watermark[partition as usize];
                    if offset >= hw {
                        // Nothing to catch up on here.
                        c.target.remove(&partition);
                        c.remaining -= 1;
                        if c.remaining == 0 {
                            c.caught_up_ns = Some(at - c.started_ns.unwrap_or(at));
                        }
                    } else {
                        c.backlog += hw - offset;
                        *t = Some(hw);
                    }
                }
            }
            Observation::Requested { service, .. } => {
                self.services[service as usize].0.requests += 1;
            }
            Observation::Acted { service, .. } => {
                self.services[service as usize].0.effects += 1;
            }
            Observation::CallEnded {
                service,
                outcome,
                compensation,
                latency_ns,
                ..
            } => {
                let (f, latency) = &mut self.services[service as usize];
                if compensation {
                    f.compensations += 1;
                }
                match outcome {
                    CallOutcome::Ok => f.ok += 1,
                    CallOutcome::Failed => f.failed += 1,
                    CallOutcome::Error => f.errors += 1,
                    CallOutcome::Timeout => f.timeouts += 1,
                    CallOutcome::BreakerOpen => f.breaker_open += 1,
                }
                if outcome.answered() {
                    latency.record(latency_ns);
                }
            }
            Observation::Sent { .. }
            | Observation::Replicated { .. }
            | Observation::LeaderElected { broker: None, .. }
            | Observation::IsrChanged { .. }
            | Observation::Fenced { .. }
            | Observation::Controller { .. }
            | Observation::Unfenced { .. }
            | Observation::NodeState { .. }
            | Observation::ResetRefused { .. }
            | Observation::FaultStarted { .. }
            | Observation::FaultEnded { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_detect_repeats() {
        let mut b = EventBits::default();
        assert!(!b.insert(5));
        assert!(b.insert(5));
        assert!(!b.insert(1000));
        assert!(b.contains(1000) && !b.contains(999));
        b.remove(5);
        assert!(!b.contains(5));
    }

    #[test]
    fn released_bits_read_as_absent_and_the_rest_keep_their_ids() {
        let mut b = EventBits::default();
        for id in [3, 64, 130, 200, 5000] {
            b.insert(id);
        }
        b.release_below(150); // words 0 and 1 go; word 2 (128..192) stays
        assert!(!b.contains(3) && !b.contains(64));
        assert!(b.contains(130) && b.contains(200) && b.contains(5000));
        assert!(!b.contains(131));
        assert!(b.insert(200));
        assert!(!b.insert(6000));
        assert!(b.contains(6000));
        b.remove(130);
        assert!(!b.contains(130));
        // Below what was released: no panic, nothing kept.
        assert!(!b.insert(10));
        assert!(!b.contains(10));
        b.remove(10);
        b.release_below(1_000_000);
        assert!(!b.contains(6000));
        assert!(!b.insert(1_000_100) && b.contains(1_000_100));
    }

    #[test]
    fn latency_stats_are_exact_in_mean_and_close_in_percentiles() {
        let mut s = LatencyStream::default();
        for v in 1..=1000u64 {
            s.record(v * 1000);
        }
        let st = s.stats();
        assert_eq!(st.count, 1000);
        assert_eq!(st.mean, 500_500);
        assert!((st.p50 as f64 - 500_000.0).abs() / 500_000.0 < 0.002);
        assert!(st.max >= 1_000_000 && st.max <= 1_001_000);
    }

    #[test]
    fn duplicates_are_counted_per_group() {
        let cat = Catalog {
            groups: vec!["a".into(), "b".into()],
            topics: vec!["t".into()],
            partitions: vec![(0, 0)],
            ..Catalog::default()
        };
        let mut m = Metrics::new(&cat);
        let d = |group| Observation::Delivered {
            event: 1,
            group,
            consumer: 0,
            partition: 0,
            offset: 0,
        };
        m.observe(1, &d(0));
        m.observe(2, &d(1));
        assert_eq!(m.counts.duplicates_delivered, 0);
        m.observe(3, &d(0));
        assert_eq!(m.counts.duplicates_delivered, 1);
    }

    #[test]
    fn summed_latency_streams_equal_direct_recording() {
        // Two groups, two topics with a partition each; some events chained.
        let cat = Catalog {
            groups: vec!["a".into(), "b".into()],
            topics: vec!["t".into(), "u".into()],
            partitions: vec![(0, 0), (1, 0)],
            ..Catalog::default()
        };
        let mut m = Metrics::new(&cat);
        let mut e2e = vec![LatencyStream::default(); 2];
        let mut from_origin = vec![LatencyStream::default(); 2];
        let mut by_topic = vec![LatencyStream::default(); 2];
        for i in 0..5_000u64 {
            let (group, partition) = ((i % 2) as u32, (i / 2 % 2) as u32);
            let created_ns = i * 1_000;
            let origin_created_ns = if i % 3 == 0 {
                created_ns - i
            } else {
                created_ns
            };
            let at = created_ns + (i * 7_919) % 1_000_003;
            m.observe(
                at,
                &Observation::Applied {
                    event: i as EventId,
                    group,
                    consumer: 0,
                    partition,
                    producer: 0,
                    key: 0,
                    version: 1,
                    value: 1,
                    created_ns,
                    origin_created_ns,
                },
            );
            e2e[group as usize].record(at - created_ns);
            from_origin[group as usize].record(at - origin_created_ns);
            by_topic[partition as usize].record(at - created_ns);
        }
        m.finish();
        for i in 0..2 {
            assert_eq!(m.end_to_end[i].stats(), e2e[i].stats());
            assert_eq!(m.end_to_end_from_origin[i].stats(), from_origin[i].stats());
            assert_eq!(m.end_to_end_by_topic[i].stats(), by_topic[i].stats());
            assert_eq!(m.end_to_end[i].histogram(), e2e[i].histogram());
        }
    }
}
