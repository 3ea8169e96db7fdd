//! Brokers: partition logs, leader appends under a capacity limit,
//! follower replication by fetching, the ISR, the high watermark and
//! retention; and the fetch API that consumers use.
//!
//! Leadership: the controller fences a broker it has not heard from for
//! `broker_session_timeout` (crashed, paused, cut off): the broker leaves
//! every ISR and the partitions it led elect a new leader, cleanly from the
//! ISR, or uncleanly from any live replica when the topic allows it. The
//! new leader's log is the truth: other replicas truncate to where they
//! diverge from it, and events only the old leader had are lost
//! (`Truncated`). A broker that comes back truncates likewise, follows,
//! and rejoins the ISR once caught up.
//!
//! Invariants (asserted): the high watermark never exceeds the leader's
//! log end; followers hold a prefix of the leader's log.
//!
//! The brokers are a component ([`Cluster`]): they own their state, read
//! the rest of the world through a `Ctx` and ask for everything else
//! through `Effects` (`effects.rs`); `World` calls them through
//! `World::with_cluster`. The leader's append and the consumer fetch
//! API, which read a producer's request and write a consumer's position,
//! are still `World` methods here.

use super::dist::Sampler;
use super::effects::{Ctx, Effect, Effects};
use super::network::{Node, RECONNECT_BACKOFF_NS};
use super::{Ev, ProduceResult, World};
use crate::history::{EventId, KeyId, Observation, TOMBSTONE};
use crate::kernel::{Rng, Time};
use crate::scenario::{Acks, Isolation, OffsetReset};
use std::collections::VecDeque;

/// Batches of one producer whose metadata a partition keeps for duplicate
/// detection (Kafka's `ProducerStateEntry` keeps the last five, which is
/// why `max.in.flight.requests.per.connection` may not exceed 5 with
/// idempotence).
pub(crate) const RETAINED_BATCHES: usize = 5;

/// A batch an idempotent producer appended: its sequence range (indices into
/// the producer's records for the partition) and its last offset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BatchMeta {
    pub first_seq: u32,
    pub last_seq: u32,
    pub last_offset: u64,
}

/// What the partition leader knows of one idempotent producer: its epoch,
/// the last sequence appended in that epoch, and its last batches.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProducerState {
    pub epoch: u32,
    /// Last sequence appended in `epoch` (-1: none yet).
    pub last_seq: i64,
    batches: [BatchMeta; RETAINED_BATCHES],
    len: usize,
}

impl Default for ProducerState {
    fn default() -> Self {
        ProducerState {
            epoch: 0,
            last_seq: -1,
            batches: [BatchMeta::default(); RETAINED_BATCHES],
            len: 0,
        }
    }
}

impl ProducerState {
    /// Remember an appended batch, forgetting the oldest beyond five.
    fn push(&mut self, epoch: u32, b: BatchMeta) {
        if epoch != self.epoch {
            self.len = 0;
        }
        self.epoch = epoch;
        self.last_seq = i64::from(b.last_seq);
        if self.len == RETAINED_BATCHES {
            self.batches.copy_within(1.., 0);
            self.len -= 1;
        }
        self.batches[self.len] = b;
        self.len += 1;
    }

    /// The retained batch with exactly this sequence range, if any.
    fn duplicate_of(&self, first_seq: u32, last_seq: u32) -> Option<BatchMeta> {
        self.batches[..self.len]
            .iter()
            .copied()
            .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
    }

    /// The log was truncated at `offset`: batches from there on are gone,
    /// and the next expected sequence is the first of the earliest of them.
    fn truncate(&mut self, offset: u64) {
        while self.len > 0 && self.batches[self.len - 1].last_offset >= offset {
            self.len -= 1;
            self.last_seq = i64::from(self.batches[self.len].first_seq) - 1;
        }
    }
}

/// The brokers and the partitions they replicate: the state the broker
/// component owns.
pub(crate) struct Cluster {
    pub brokers: Vec<BrokerRt>,
    pub parts: Vec<PartitionRt>,
    /// The partitions whose ISR the tick looks at.
    pub isr_watch: IsrWatch,
    pub walks: PartitionWalks,
    pub replica_lag_time_max_ns: Time,
    /// A follower fetches again when its fetch got no answer this long
    /// (the request timeout).
    pub replica_fetch_timeout_ns: Time,
    /// Serial of the next follower fetch loop.
    pub next_fetch_generation: u32,
    /// The page cache and what is on disk: only when the plan has a
    /// power-loss fault.
    pub disk: Option<DiskRt>,
    /// The high watermark waits while the ISR is below min ISR
    /// (KAFKA-15583, Kafka 3.7+).
    pub strict_min_isr: bool,
    /// The controller keeps Eligible Leader Replicas (KIP-966).
    pub elr: bool,
    /// Clocks that are off: only when the plan has a clock-skew fault.
    pub clocks: Option<Box<super::clock::Clocks>>,
}

impl BrokerRt {
    /// A running broker whose appends take `append_latency` (drawn from
    /// `rng`) plus `ns_per_record` per record.
    pub fn new(append_latency: Sampler, ns_per_record: f64, rng: Rng) -> Self {
        BrokerRt {
            busy_until: 0,
            busy_ns: 0,
            ns_per_record,
            append_latency,
            rng,
            fenced: false,
            last_heard_ns: 0,
            disk_factor: 1.0,
            disk_replaced: false,
            reregister: false,
            unclean_shutdown: false,
        }
    }
}

/// How the page cache is written back, for runs with a power-loss fault
/// (`disk.rs`).
pub(crate) struct DiskRt {
    /// A dirty page is written back once it is this old.
    pub dirty_expiry_ns: Time,
}

pub(crate) struct BrokerRt {
    /// The broker's append queue is busy until then (capacity model).
    pub busy_until: Time,
    /// Append work it was given (and did not lose in a crash): its busy
    /// time, up to `busy_until`.
    pub busy_ns: Time,
    pub ns_per_record: f64,
    pub append_latency: Sampler,
    pub rng: Rng,
    /// Fenced by the controller: leads nothing and is in no ISR.
    pub fenced: bool,
    /// When the controller last heard from the broker.
    pub last_heard_ns: Time,
    /// Appends take this many times longer (slow-disk faults).
    pub disk_factor: f64,
    /// Its log directory failed: when the controller lets it back in, it
    /// leaves every ISR (its logs are empty; KIP-858's new directory).
    pub disk_replaced: bool,
    /// It restarted while it could not reach the active controller: when
    /// it can, the controller fences its old incarnation (moving what it
    /// led) before letting it in.
    pub reregister: bool,
    /// Its process died without a controlled shutdown (a crash, a power
    /// loss, a disk failure): it registers again without its last broker
    /// epoch, and the controller takes it out of every ELR (KIP-966).
    pub unclean_shutdown: bool,
}

/// What marks a compacted record in a replica's log: the slot stays (offsets
/// never move), fetches skip it.
pub(crate) const COMPACTED: EventId = EventId::MAX;

/// Log compaction of one partition (Kafka's log cleaner, one pass a
/// second): the latest offset of each key below the high watermark, and
/// the records superseded since, each removable once `lag` has passed.
#[derive(Default)]
pub(crate) struct Compaction {
    pub lag_ns: Time,
    /// Records below this offset have been indexed.
    pub indexed_to: u64,
    /// Key -> its latest offset (FxHash, fixed seed; never iterated).
    pub latest: rustc_hash::FxHashMap<KeyId, u64>,
    /// (offset, when it may go), in the order superseded.
    pub superseded: VecDeque<(u64, Time)>,
    /// Tombstones: (offset, key, when it may go if still its key's latest).
    pub delete_retention_ns: Time,
    pub tombstones: VecDeque<(u64, KeyId, Time)>,
}

/// Log entries at or above this are not records: transaction markers
/// (`MARKER_BIT | serial`, unique so that diverging logs differ) and
/// compacted slots.
pub(crate) const MARKER_BIT: EventId = 1 << 31;

/// Whether a log entry is a record (not a marker or a compacted slot).
#[inline]
pub(crate) fn is_record(entry: EventId) -> bool {
    entry < MARKER_BIT
}

/// A marker in a partition's log, not yet below the high watermark.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingMarker {
    pub producer: u32,
    pub number: u32,
    pub offset: u64,
    pub commit: bool,
}

/// One replica's copy of a partition log.
#[derive(Default)]
pub(crate) struct ReplicaLog {
    pub entries: VecDeque<EventId>,
    /// Offset of `entries[0]` (the log start offset).
    pub start: u64,
    /// The follower's log end offset as the leader last learned it.
    pub known_leo: u64,
    pub fetch_parked: bool,
    pub fetch_end: u64,
    pub last_caught_up_ns: Time,
    /// The follower's current fetch loop (see `Ev::ReplicaFetchArrive`).
    pub fetch_generation: u32,
    /// Offsets below this are on disk (fsynced, or written back by the
    /// OS); the rest is in the page cache, which a power loss takes. Kept
    /// only when the run has a power-loss fault (`Cluster::disk`).
    pub flushed: u64,
    /// When the log end was what (one entry a second, oldest first): the
    /// OS writes back what was appended `dirty_page_expiry` ago.
    pub writeback: VecDeque<(Time, u64)>,
    /// When this replica last fsynced (`flush_ms`).
    pub last_flush_ns: Time,
}

impl ReplicaLog {
    /// The follower's fetch is answered (or its loop ends): it is no longer
    /// parked at the log end. A parked follower counts as caught up at
    /// every tick without being written to (`IsrWatch`), so its
    /// `last_caught_up_ns` catches up with the last tick here.
    pub fn unpark(&mut self, last_tick_ns: Time) {
        if self.fetch_parked {
            self.last_caught_up_ns = self.last_caught_up_ns.max(last_tick_ns);
            self.fetch_parked = false;
        }
    }

    #[inline]
    /// Retention: delete records from the start of the log, below `hw`,
    /// up to the first record `keep` keeps (markers of compacted or control
    /// slots go with the records around them). The leader's log (`leads`:
    /// its partition) reports each record it deletes.
    pub(crate) fn delete_from_start(
        &mut self,
        hw: u64,
        leads: Option<u32>,
        keep: impl Fn(EventId) -> bool,
        out: &mut Effects,
    ) {
        while let Some(&event) = self.entries.front() {
            if self.start >= hw || (is_record(event) && keep(event)) {
                break;
            }
            if let Some(part) = leads
                && is_record(event)
            {
                out.push(Effect::Removed {
                    event,
                    part,
                    offset: self.start,
                    compacted: false,
                });
            }
            self.entries.pop_front();
            self.start += 1;
        }
    }

    pub fn leo(&self) -> u64 {
        self.start + self.entries.len() as u64
    }
    #[inline]
    pub fn get(&self, offset: u64) -> EventId {
        self.entries[(offset - self.start) as usize]
    }
}

/// The partitions whose ISR the tick must look at: those with a follower
/// that is not parked at the log end. A partition whose followers are all
/// parked has nothing to shrink, so a tick costs what changed, not the
/// number of partitions (a million partitions, most of them idle).
#[derive(Default)]
pub(crate) struct IsrWatch {
    /// Watched partitions, unsorted since the last tick.
    list: Vec<u32>,
    watched: Vec<bool>,
    /// When the last tick ran, and the one before: partitions below
    /// `cursor` count as caught up at `tick_ns`, the others at
    /// `prev_tick_ns` (the tick visits partitions in order).
    tick_ns: Time,
    prev_tick_ns: Time,
    cursor: u32,
}

impl IsrWatch {
    pub fn new(partitions: usize) -> Self {
        IsrWatch {
            list: (0..partitions as u32).collect(),
            watched: vec![true; partitions],
            tick_ns: 0,
            prev_tick_ns: 0,
            cursor: u32::MAX,
        }
    }

    /// The last tick at which a parked follower of `part` counted as
    /// caught up.
    pub fn caught_up_at(&self, part: u32) -> Time {
        if part < self.cursor {
            self.tick_ns
        } else {
            self.prev_tick_ns
        }
    }

    /// How many partitions the next tick looks at.
    #[cfg(test)]
    pub fn watched(&self) -> usize {
        self.list.len()
    }

    /// A follower of `part` stopped being parked.
    pub fn watch(&mut self, part: u32) {
        if !std::mem::replace(&mut self.watched[part as usize], true) {
            self.list.push(part);
        }
    }
}

/// What spares the periodic passes over every partition their walk: the
/// compacted partitions, and the shortest retention of the others.
pub(crate) struct PartitionWalks {
    pub compacted: Vec<u32>,
    pub shortest_retention_ns: Time,
}

impl PartitionWalks {
    pub fn new(parts: &[PartitionRt]) -> Self {
        PartitionWalks {
            compacted: (0..parts.len() as u32)
                .filter(|&p| parts[p as usize].compaction.is_some())
                .collect(),
            shortest_retention_ns: parts
                .iter()
                .filter(|p| p.compaction.is_none())
                .map(|p| p.retention_ns)
                .min()
                .unwrap_or(Time::MAX),
        }
    }
}

pub(crate) struct PartitionRt {
    /// Brokers holding a replica; position 0 is the preferred leader.
    pub replicas: Vec<u32>,
    /// Position in `replicas` of the current (or, offline, the last) leader.
    pub leader: usize,
    /// Leader epoch: bumped by every election.
    pub epoch: u32,
    /// False while no live replica may lead (the partition is offline).
    pub online: bool,
    pub unclean_allowed: bool,
    pub logs: Vec<ReplicaLog>,
    pub isr: Vec<bool>,
    /// Eligible Leader Replicas (KIP-966; all false without them): replicas
    /// that left the ISR while it was below min ISR, so that they hold
    /// everything below the high watermark. The ELR is emptied once the
    /// ISR is back at min ISR; one of its replicas leads when the ISR is
    /// empty.
    pub elr: Vec<bool>,
    /// With ELR: the leader when the ISR last emptied, which the
    /// controller elects (an unclean election) once it is back while the
    /// ISR and the ELR are empty.
    pub last_known_leader: Option<usize>,
    pub hw: u64,
    pub min_isr: u32,
    pub retention_ns: Time,
    /// `cleanup_policy = "compact"`: the compaction state, else None.
    pub compaction: Option<Box<Compaction>>,
    /// acks = all requests waiting for the high watermark: (request, attempt, end offset).
    pub pending_acks: VecDeque<(u32, u32, u64)>,
    /// Transactions with records here and no committed marker yet:
    /// (producer, offset of their first record here). The earliest holds
    /// the last stable offset back.
    pub txn_open: Vec<(u32, u64)>,
    /// Aborted transactions' ranges: (producer, first offset, marker
    /// offset); `read_committed` fetches skip the producer's records there.
    pub txn_aborted: Vec<(u32, u64, u64)>,
    /// Markers appended and not yet below the high watermark.
    pub markers: Vec<PendingMarker>,
    /// Elections that cut the leader's log: (new leader epoch, offset from
    /// which the old leader's records were lost), for consumers' KIP-320
    /// divergence check.
    pub truncations: Vec<(u32, u64)>,
    /// A power loss took records no replica kept, from this offset on:
    /// the next election records it as a truncation.
    pub power_lost_from: Option<u64>,
    /// The leader's log end before a power loss or disk failure cut its
    /// log: followers may hold records up to there that it no longer has,
    /// and the next election reports those it truncates from them.
    pub leader_cut_end: Option<u64>,
    /// `flush_messages` and `flush_ms` (ns) of its topic.
    pub flush_messages: Option<u64>,
    pub flush_ns: Option<Time>,
    /// Its topic keeps LogAppendTime rather than CreateTime.
    pub log_append_time: bool,
    /// How far ahead of and behind the leader's clock a CreateTime may be
    /// (ns; `None`: unbounded).
    pub timestamp_bounds: (Option<u64>, Option<u64>),
    /// Consumer fetches waiting for data: (consumer, assignment epoch).
    pub parked_consumers: Vec<(u32, u32)>,
    /// Idempotence state per producer (Kafka's producer state manager).
    pub producer_state: Vec<ProducerState>,
}

impl PartitionRt {
    /// A partition replicated on `replicas` (the first leads), every
    /// replica in sync, empty logs; kept forever, min ISR 1, no unclean
    /// elections (a topic's settings are set over these).
    pub fn new(replicas: Vec<u32>) -> Self {
        let rf = replicas.len();
        PartitionRt {
            replicas,
            leader: 0,
            epoch: 0,
            logs: (0..rf).map(|_| ReplicaLog::default()).collect(),
            isr: vec![true; rf],
            elr: vec![false; rf],
            last_known_leader: None,
            online: true,
            unclean_allowed: false,
            hw: 0,
            min_isr: 1,
            retention_ns: 0,
            compaction: None,
            pending_acks: VecDeque::new(),
            txn_open: Vec::new(),
            txn_aborted: Vec::new(),
            markers: Vec::new(),
            parked_consumers: Vec::new(),
            producer_state: Vec::new(),
            truncations: Vec::new(),
            power_lost_from: None,
            leader_cut_end: None,
            flush_messages: None,
            flush_ns: None,
            log_append_time: false,
            timestamp_bounds: (None, None),
        }
    }

    #[inline]
    pub fn leader_broker(&self) -> u32 {
        self.replicas[self.leader]
    }
    #[inline]
    pub fn leader_log(&self) -> &ReplicaLog {
        &self.logs[self.leader]
    }
    /// The last stable offset: the high watermark, or the first offset of
    /// the earliest transaction still open here if lower.
    pub fn lso(&self) -> u64 {
        self.txn_open
            .iter()
            .map(|&(_, first)| first)
            .fold(self.hw, u64::min)
    }
    /// Where a consumer with `isolation` may read up to.
    #[inline]
    pub fn readable_end(&self, isolation: Isolation) -> u64 {
        match isolation {
            Isolation::ReadUncommitted => self.hw,
            Isolation::ReadCommitted => self.lso(),
        }
    }
    /// Whether `producer`'s record at `offset` belongs to an aborted
    /// transaction.
    pub fn aborted(&self, producer: u32, offset: u64) -> bool {
        self.txn_aborted
            .iter()
            .any(|&(p, first, marker)| p == producer && first <= offset && offset < marker)
    }
    pub fn isr_count(&self) -> u32 {
        self.isr.iter().filter(|&&x| x).count() as u32
    }
    /// `min_insync_replicas` capped at the replica count (KAFKA-15583).
    pub fn effective_min_isr(&self) -> u32 {
        self.min_isr.min(self.replicas.len() as u32)
    }
    /// The controller takes replica `r` out of the ISR. With ELR (`elr`)
    /// it becomes eligible; [`PartitionRt::settle_elr`] after the change
    /// empties the ELR if the ISR is still at min ISR (Kafka's
    /// `PartitionChangeBuilder.maybePopulateTargetElr`: the new ELR is the
    /// old ELR and ISR less the new ISR, or nothing when the new ISR
    /// reaches min ISR).
    /// The first replica to leave an ISR that it empties is the last known
    /// leader: Kafka's leader is always in the ISR, and it elects any
    /// unfenced member, up or not, so the last member out led last.
    pub fn leave_isr(&mut self, r: usize, elr: bool) {
        self.isr[r] = false;
        self.elr[r] |= elr;
        if elr && self.last_known_leader.is_none() && !self.isr.contains(&true) {
            self.last_known_leader = Some(r);
        }
    }
    /// The controller adds replica `r` to the ISR: it leaves the ELR.
    pub fn join_isr(&mut self, r: usize) {
        self.isr[r] = true;
        self.elr[r] = false;
        self.settle_elr();
    }
    /// After an ISR change: an ISR at min ISR lets the high watermark
    /// move again, so the ELR's guarantee is gone and it is emptied.
    pub fn settle_elr(&mut self) {
        if self.isr_count() >= self.effective_min_isr() {
            self.elr.iter_mut().for_each(|e| *e = false);
        }
    }
    /// Kafka's rules for a partition, which every handler must keep (the
    /// world asserts them after each call that changed the ISR or the
    /// leader; a breach is a simulator bug): one ISR flag
    /// and one log per replica; an online partition's leader is in its
    /// ISR; while that leader serves (`serving`: up and not fenced), the
    /// high watermark is within its log. A leader that is down may have
    /// lost its log's tail to a power loss before the controller notices;
    /// it serves again only through an election, which cuts the high
    /// watermark to its log end.
    pub fn assert_invariants(&self, part: u32, serving: bool) {
        let n = self.replicas.len();
        assert!(
            self.isr.len() == n && self.logs.len() == n && self.leader < n,
            "partition {part}: {n} replicas, {} ISR flags, {} logs, leader {}",
            self.isr.len(),
            self.logs.len(),
            self.leader
        );
        if self.online {
            assert!(
                self.isr[self.leader],
                "partition {part}: its leader (replica {}) is not in its ISR",
                self.leader
            );
            let log = self.leader_log();
            assert!(
                !serving || self.hw <= log.leo(),
                "partition {part}: high watermark {} past the leader's log end {} (leader broker {}, epoch {}, log start {}, cut end {:?}, power lost from {:?})",
                self.hw,
                log.leo(),
                self.leader_broker(),
                self.epoch,
                log.start,
                self.leader_cut_end,
                self.power_lost_from
            );
        }
    }
    /// Replica `r` is about to lead: every other replica truncates to
    /// where its log diverges from `r`'s. Returns the records no replica
    /// keeps, by offset: what only the old leader had, and after a cut of
    /// the old leader's log what only followers held.
    fn truncate_to(&mut self, r: usize) -> Vec<(u64, EventId)> {
        let p = self;
        let old = p.leader;
        let mut lost: Vec<(u64, EventId)> = Vec::new();
        // The old leader holds every record any replica holds, unless a
        // power loss or a disk failure cut its log: then what followers
        // hold past its end, up to where it ended before, is theirs alone.
        let cut = p.leader_cut_end.take();
        let old_end = p.logs[old].leo();
        for q in 0..p.replicas.len() {
            if q == r {
                continue;
            }
            let d = divergence(&p.logs[q], &p.logs[r]);
            let log = &p.logs[q];
            let from = if q == old {
                d.max(log.start)
            } else if let Some(end) = cut {
                // Only past the old leader's log and before its old end.
                let from = d.max(log.start).max(old_end);
                if from >= end {
                    truncate(&mut p.logs[q], d);
                    continue;
                }
                from
            } else {
                truncate(&mut p.logs[q], d);
                continue;
            };
            let to = if q == old {
                log.leo()
            } else {
                log.leo().min(cut.unwrap_or(0))
            };
            for offset in from..to {
                let e = log.get(offset);
                // Without a cut only the old leader reports: no duplicates.
                if is_record(e) && (cut.is_none() || !lost.iter().any(|&(o, _)| o == offset)) {
                    lost.push((offset, e));
                }
            }
            truncate(&mut p.logs[q], d);
        }
        lost.sort_unstable();
        lost
    }

    /// Every in-sync follower has everything and no acknowledgement waits.
    pub fn fully_replicated(&self) -> bool {
        let leo = self.leader_log().leo();
        self.pending_acks.is_empty()
            && self.hw == leo
            && (0..self.replicas.len())
                .all(|r| r == self.leader || !self.isr[r] || self.logs[r].known_leo == leo)
    }
}

impl Cluster {
    /// When broker `b` finishes `records` of append work queued at `now`.
    /// Appends are serialised per broker (one log device), so they finish
    /// in the order they were queued.
    pub(crate) fn broker_work(&mut self, b: u32, records: u32, now: Time) -> Time {
        let br = &mut self.brokers[b as usize];
        let mut work = br.append_latency.sample(&mut br.rng);
        if br.ns_per_record > 0.0 {
            work += (f64::from(records) * br.ns_per_record).round() as Time;
        }
        if br.disk_factor != 1.0 {
            work = (work as f64 * br.disk_factor).round() as Time;
        }
        br.busy_until = br.busy_until.max(now) + work;
        br.busy_ns += work;
        br.busy_until
    }

    /// The broker stops working on its append queue (it crashed): the
    /// work queued past `now` is not done.
    pub(crate) fn drop_queued_work(&mut self, b: u32, now: Time) {
        let br = &mut self.brokers[b as usize];
        br.busy_ns -= br.busy_until.saturating_sub(now);
        br.busy_until = now;
    }

    /// Per broker: how long it spent appending, as of `end`.
    pub(crate) fn broker_busy_ns(&self, end: Time) -> Vec<Time> {
        (self.brokers.iter())
            .map(|b| b.busy_ns - b.busy_until.saturating_sub(end))
            .collect()
    }

    /// Whether `broker` leads `part` now.
    #[inline]
    pub(crate) fn leads(&self, part: u32, broker: u32) -> bool {
        let p = &self.parts[part as usize];
        p.online && p.leader_broker() == broker && !self.brokers[broker as usize].fenced
    }

    /// How an acks=all request whose records the high watermark covers is
    /// answered: NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR has shrunk
    /// below `min_insync_replicas` meanwhile (Kafka checks at completion,
    /// so such a write is never acknowledged), else success.
    pub(crate) fn completion(&self, part: u32) -> ProduceResult {
        let p = &self.parts[part as usize];
        if p.isr_count() < p.min_isr {
            ProduceResult::NotEnoughReplicasAfterAppend
        } else {
            ProduceResult::Ok
        }
    }

    /// The leader of `part` appended: parked followers fetch it, and the
    /// high watermark may move.
    pub(crate) fn after_leader_append(&mut self, part: u32, x: &Ctx, out: &mut Effects) {
        if self.disk.is_some() {
            let leader = self.parts[part as usize].leader;
            self.flush_on_append(part, leader);
        }
        for r in 0..self.parts[part as usize].replicas.len() {
            let p = &self.parts[part as usize];
            if r != p.leader && p.logs[r].fetch_parked {
                self.serve_replica_fetch(part, r, x, out);
            }
        }
        self.update_hw(part, out);
    }

    /// Raise the high watermark to what every in-sync replica has: the
    /// acks=all requests it passes are answered, the transaction markers
    /// it passes are written, and parked consumer fetches are served.
    /// From Kafka 3.7 it stays put while the ISR is below min ISR.
    pub(crate) fn update_hw(&mut self, part: u32, out: &mut Effects) {
        let p = &mut self.parts[part as usize];
        if self.strict_min_isr && p.isr_count() < p.effective_min_isr() {
            return;
        }
        let mut hw = p.leader_log().leo();
        for r in 0..p.replicas.len() {
            if r != p.leader && p.isr[r] {
                hw = hw.min(p.logs[r].known_leo);
            }
        }
        if hw <= p.hw {
            return;
        }
        assert!(
            hw <= p.leader_log().leo(),
            "the high watermark passes the log end of partition {part}"
        );
        p.hw = hw;
        out.observe(Observation::HighWatermark {
            partition: part,
            offset: hw,
        });
        let broker = p.leader_broker();
        let result = self.completion(part);
        let p = &mut self.parts[part as usize];
        while let Some(&(req, attempt, end)) = p.pending_acks.front() {
            if end > hw {
                break;
            }
            p.pending_acks.pop_front();
            out.push(Effect::Answer {
                broker,
                req,
                attempt,
                result,
            });
        }
        if !p.markers.is_empty() {
            self.markers_committed(part, out);
        }
        let p = &mut self.parts[part as usize];
        for (consumer, epoch) in p.parked_consumers.drain(..) {
            out.push(Effect::ServeFetch {
                consumer,
                part,
                epoch,
            });
        }
    }

    /// The markers of `part` now below the high watermark are written:
    /// the transactions they end are closed here (an aborted one's range
    /// is remembered for `read_committed` fetches).
    fn markers_committed(&mut self, part: u32, out: &mut Effects) {
        let p = &mut self.parts[part as usize];
        let hw = p.hw;
        let mut i = 0;
        while i < p.markers.len() {
            let m = p.markers[i];
            if m.offset >= hw {
                i += 1;
                continue;
            }
            p.markers.remove(i);
            let mut first = m.offset;
            if let Some(i) = p.txn_open.iter().position(|o| o.0 == m.producer) {
                first = p.txn_open.swap_remove(i).1;
                if !m.commit {
                    p.txn_aborted.push((m.producer, first, m.offset));
                }
            }
            out.observe(Observation::TxnMarker {
                producer: m.producer,
                partition: part,
                offset: m.offset,
                first,
                commit: m.commit,
            });
            out.push(Effect::MarkerWritten {
                producer: m.producer,
                number: m.number,
            });
        }
    }

    /// Answer follower `r`'s outstanding fetch if the leader has more, else park it.
    fn serve_replica_fetch(&mut self, part: u32, r: usize, x: &Ctx, out: &mut Effects) {
        let p = &mut self.parts[part as usize];
        let leader_leo = p.leader_log().leo();
        let from = p.leader_broker();
        let to = p.replicas[r];
        let f = &mut p.logs[r];
        let generation = f.fetch_generation;
        let offset = f.leo();
        if offset >= leader_leo {
            f.fetch_parked = true;
            f.last_caught_up_ns = x.now;
            return;
        }
        f.unpark(self.isr_watch.caught_up_at(part));
        self.isr_watch.watch(part);
        // Everything the leader has: whole batches, as Kafka replicates.
        f.fetch_end = leader_leo;
        let bytes = if x.net.counts_bytes() {
            let log = &self.parts[part as usize].leader_log();
            (offset..leader_leo)
                .map(|o| log.get(o))
                .filter(|&e| is_record(e))
                .map(|e| u64::from(x.events[e as usize].size))
                .sum()
        } else {
            0
        };
        let replica = r as u32;
        out.push(Effect::Send {
            from: x.net.broker(from),
            to: x.net.broker(to),
            bytes,
            ev: Ev::ReplicaFetchResponse {
                part,
                replica,
                generation,
            },
            lost: Some(self.resend(part, replica, generation)),
        });
    }

    /// What wakes a follower whose fetch (or its answer) the network lost:
    /// it fetches again after the request timeout.
    fn resend(&self, part: u32, replica: u32, generation: u32) -> (Time, Ev) {
        let ev = Ev::ReplicaFetchResend {
            part,
            replica,
            generation,
        };
        (self.replica_fetch_timeout_ns, ev)
    }

    /// A follower's fetch loop: its fetch reaches the leader, the answer
    /// reaches the follower, the follower has appended it (or its fetch
    /// got no answer) and fetches again.
    pub(crate) fn on_replication(&mut self, ev: Ev, x: &Ctx, out: &mut Effects) {
        match ev {
            Ev::ReplicaFetchArrive {
                part,
                replica,
                generation,
            } => self.on_replica_fetch_arrive((part, replica, generation), x, out),
            Ev::ReplicaFetchResponse {
                part,
                replica,
                generation,
            } => self.on_replica_fetch_response((part, replica, generation), x, out),
            Ev::ReplicaAppendDone {
                part,
                replica,
                generation,
            }
            | Ev::ReplicaFetchResend {
                part,
                replica,
                generation,
            } => self.on_replica_append_done(part, replica, generation, x, out),
            _ => unreachable!("routed by World::dispatch: {ev:?}"),
        }
    }

    /// The leader's answer reaches follower `replica`: it appends what it
    /// does not have (after its append queue).
    pub(crate) fn on_replica_fetch_response(
        &mut self,
        (part, replica, generation): (u32, u32, u32),
        x: &Ctx,
        out: &mut Effects,
    ) {
        let r = replica as usize;
        let p = &mut self.parts[part as usize];
        if p.logs[r].fetch_generation != generation || r == p.leader {
            return; // a loop that leadership change or a restart replaced
        }
        let mut copied = 0u32;
        let leader = p.leader;
        let (leader_log, follower) = two_mut(&mut p.logs, leader, r);
        if follower.leo() < leader_log.start {
            follower.entries.clear();
            follower.start = leader_log.start;
        }
        let end = follower.fetch_end.min(leader_log.leo());
        for offset in follower.leo()..end {
            follower.entries.push_back(leader_log.get(offset));
            copied += 1;
        }
        let broker = self.parts[part as usize].replicas[r];
        if copied > 0 {
            if self.disk.is_some() {
                self.flush_on_append(part, r);
            }
            let end_offset = self.parts[part as usize].logs[r].leo();
            out.observe(Observation::Replicated {
                partition: part,
                broker,
                end_offset,
            });
        }
        let done = self.broker_work(broker, copied, x.now);
        if done <= x.now {
            self.on_replica_append_done(part, replica, generation, x, out);
        } else {
            let ev = Ev::ReplicaAppendDone {
                part,
                replica,
                generation,
            };
            out.push(Effect::Wake { at: done, ev });
        }
    }

    /// The follower sends its next fetch (its fetch offset is its log end).
    pub(crate) fn on_replica_append_done(
        &mut self,
        part: u32,
        replica: u32,
        generation: u32,
        x: &Ctx,
        out: &mut Effects,
    ) {
        let p = &self.parts[part as usize];
        if p.logs[replica as usize].fetch_generation != generation {
            return;
        }
        out.push(Effect::Send {
            from: x.net.broker(p.replicas[replica as usize]),
            to: x.net.broker(p.leader_broker()),
            bytes: 0,
            ev: Ev::ReplicaFetchArrive {
                part,
                replica,
                generation,
            },
            lost: Some(self.resend(part, replica, generation)),
        });
    }

    /// Start a new fetch loop for follower `r`, replacing any old one.
    pub(crate) fn start_fetch_loop(&mut self, part: u32, r: usize, x: &Ctx, out: &mut Effects) {
        let generation = self.next_fetch_generation;
        self.next_fetch_generation += 1;
        let f = &mut self.parts[part as usize].logs[r];
        f.fetch_generation = generation;
        f.unpark(self.isr_watch.caught_up_at(part));
        f.last_caught_up_ns = x.now;
        self.isr_watch.watch(part);
        self.on_replica_append_done(part, r as u32, generation, x, out);
    }

    /// End follower `r`'s fetch loop without starting another.
    pub(crate) fn stop_fetch_loop(&mut self, part: u32, r: usize) {
        self.next_fetch_generation += 1;
        let f = &mut self.parts[part as usize].logs[r];
        f.fetch_generation = self.next_fetch_generation;
        f.unpark(self.isr_watch.caught_up_at(part));
        self.isr_watch.watch(part);
    }

    /// A follower's fetch reaches the leader: the leader learns the
    /// follower's log end (the follower may join the ISR, the high
    /// watermark may move) and answers, or parks the fetch.
    pub(crate) fn on_replica_fetch_arrive(
        &mut self,
        (part, replica, generation): (u32, u32, u32),
        x: &Ctx,
        out: &mut Effects,
    ) {
        let r = replica as usize;
        let p = &self.parts[part as usize];
        if p.logs[r].fetch_generation != generation || !self.leads(part, p.leader_broker()) {
            return;
        }
        let p = &mut self.parts[part as usize];
        let leader_leo = p.leader_log().leo();
        let hw = p.hw;
        let f = &mut p.logs[r];
        f.known_leo = f.leo();
        if f.known_leo >= leader_leo {
            f.last_caught_up_ns = x.now;
        }
        // Expanding the ISR goes through the controller (AlterPartition).
        let joins = !p.isr[r] && p.logs[r].known_leo >= hw;
        if joins && x.controller_reachable(p.leader_broker()) {
            p.join_isr(r);
            out.observe(Observation::IsrChanged {
                partition: part,
                isr: p.isr_count(),
            });
        }
        self.update_hw(part, out);
        self.serve_replica_fetch(part, r, x, out);
    }

    /// Delete records older than the topic's retention (below the high
    /// watermark). A deleted record a group had not read yet is `Expired`
    /// for that group.
    pub(crate) fn apply_retention(&mut self, x: &Ctx, out: &mut Effects) {
        let now = x.now;
        if let Some(clocks) = self.clocks.take() {
            self.apply_retention_by_clocks(&clocks, x, out);
            self.clocks = Some(clocks);
            return;
        }
        if now <= self.walks.shortest_retention_ns {
            return; // nothing is old enough anywhere yet
        }
        for (part, p) in self.parts.iter_mut().enumerate() {
            let horizon = now.saturating_sub(p.retention_ns);
            if horizon == 0 || p.compaction.is_some() {
                continue;
            }
            let (hw, leader) = (p.hw, p.leader);
            for (li, log) in p.logs.iter_mut().enumerate() {
                let keep = |e: EventId| x.events[e as usize].created_ns > horizon;
                log.delete_from_start(hw, (li == leader).then_some(part as u32), keep, out);
            }
        }
    }

    /// Time-based retention when clocks are off ([`super::clock`]): each
    /// replica deletes, from the start of its log, the records whose
    /// timestamp is older than its topic's retention by its broker's clock,
    /// and stops at the first it keeps (Kafka: the first segment whose
    /// largest timestamp is not that old).
    fn apply_retention_by_clocks(
        &mut self,
        clocks: &super::clock::Clocks,
        x: &Ctx,
        out: &mut Effects,
    ) {
        for (part, p) in self.parts.iter_mut().enumerate() {
            if p.compaction.is_some() {
                continue;
            }
            let (hw, leader, append_time) = (p.hw, p.leader, p.log_append_time);
            let retention = i64::try_from(p.retention_ns).unwrap_or(i64::MAX);
            for (li, log) in p.logs.iter_mut().enumerate() {
                let horizon = clocks
                    .broker_now(p.replicas[li], x.now)
                    .saturating_sub(retention);
                let keep =
                    |e: EventId| clocks.timestamp(&x.events[e as usize], append_time) > horizon;
                log.delete_from_start(hw, (li == leader).then_some(part as u32), keep, out);
            }
        }
    }

    /// Log compaction (`cleanup_policy = "compact"`), one pass: index the
    /// records newly below the high watermark by key, and remove those
    /// superseded by a later record of their key at least
    /// `min_compaction_lag` ago, from every replica (the slot stays, so
    /// offsets never move; fetches skip it). A removed record a group had
    /// not read yet is `Compacted` for that group: not its to read.
    pub(crate) fn compact_logs(&mut self, x: &Ctx, out: &mut Effects) {
        let now = x.now;
        for i in 0..self.walks.compacted.len() {
            let part = self.walks.compacted[i] as usize;
            let p = &mut self.parts[part];
            let Some(c) = p.compaction.as_mut() else {
                continue;
            };
            let leader = p.leader;
            let hw = p.hw;
            let from = c.indexed_to.max(p.logs[leader].start);
            for offset in from..hw.min(p.logs[leader].leo()) {
                let event = p.logs[leader].get(offset);
                if !is_record(event) {
                    continue;
                }
                let e = &x.events[event as usize];
                let key = e.key;
                if let Some(old) = c.latest.insert(key, offset) {
                    c.superseded.push_back((old, now + c.lag_ns));
                }
                if e.value == TOMBSTONE {
                    c.tombstones
                        .push_back((offset, key, now + c.delete_retention_ns));
                }
            }
            c.indexed_to = c.indexed_to.max(hw);
            // A tombstone still its key's latest record after
            // delete_retention goes too, and the key is forgotten.
            let mut gone: Vec<u64> = Vec::new();
            while let Some(&(offset, key, at)) = c.tombstones.front() {
                if at > now {
                    break;
                }
                c.tombstones.pop_front();
                if c.latest.get(&key) == Some(&offset) {
                    c.latest.remove(&key);
                    gone.push(offset);
                }
            }
            for offset in gone {
                c.superseded.push_front((offset, now));
            }
            while let Some(&(offset, at)) = c.superseded.front() {
                if at > now {
                    break;
                }
                c.superseded.pop_front();
                let mut event = COMPACTED;
                for log in &mut p.logs {
                    if offset >= log.start && offset < log.leo() {
                        let slot = &mut log.entries[(offset - log.start) as usize];
                        if *slot != COMPACTED {
                            event = *slot;
                        }
                        *slot = COMPACTED;
                    }
                }
                if event != COMPACTED {
                    out.push(Effect::Removed {
                        event,
                        part: part as u32,
                        offset,
                        compacted: true,
                    });
                }
            }
        }
    }

    /// Followers that have not caught up within replica_lag_time_max leave
    /// the ISR. Only partitions with a follower that is not parked are
    /// looked at ([`IsrWatch`]), in partition order; a parked follower is
    /// caught up.
    pub(crate) fn maintain_isr(&mut self, x: &Ctx, out: &mut Effects) {
        let now = x.now;
        let lag_max = self.replica_lag_time_max_ns;
        let w = &mut self.isr_watch;
        (w.prev_tick_ns, w.tick_ns, w.cursor) = (w.tick_ns, now, 0);
        let mut list = std::mem::take(&mut w.list);
        list.sort_unstable();
        list.retain(|&part| {
            let p = &self.parts[part as usize];
            let busy = (0..p.replicas.len()).any(|r| r != p.leader && !p.logs[r].fetch_parked);
            self.isr_watch.watched[part as usize] = busy;
            busy
        });
        for &part in &list {
            self.isr_watch.cursor = part + 1;
            // Shrinking the ISR goes through the controller: a leader that
            // is down, fenced or cut off cannot do it.
            let p = &mut self.parts[part as usize];
            if !p.online || !x.controller_reachable(p.leader_broker()) {
                continue;
            }
            let mut shrunk = false;
            for r in 0..p.replicas.len() {
                if r == p.leader || !p.isr[r] || p.logs[r].fetch_parked {
                    continue;
                }
                if now.saturating_sub(p.logs[r].last_caught_up_ns) > lag_max {
                    p.leave_isr(r, self.elr);
                    shrunk = true;
                }
            }
            if shrunk {
                p.settle_elr();
                out.observe(Observation::IsrChanged {
                    partition: part,
                    isr: p.isr_count(),
                });
                self.update_hw(part, out);
            }
        }
        // What the loop unparked joined the (taken) list meanwhile.
        list.append(&mut self.isr_watch.list);
        self.isr_watch.list = list;
        self.isr_watch.cursor = u32::MAX;
    }
}

impl World {
    pub(crate) fn on_produce_arrive(&mut self, req: u32, attempt: u32, broker: u32) {
        let r = self.requests[req as usize];
        if !self.cluster.leads(r.part, broker) {
            self.requests[req as usize].copies -= 1;
            self.respond(broker, req, attempt, ProduceResult::NotLeader);
            self.maybe_free(req);
            return;
        }
        let done = (self.cluster).broker_work(broker, r.count, self.kernel.now());
        if done <= self.now() {
            self.append(req, attempt, broker);
        } else {
            self.kernel.schedule_at(
                done,
                Ev::AppendDone {
                    req,
                    attempt,
                    broker,
                },
            );
        }
    }

    /// The leader appends a produce request's batch (or refuses it).
    pub(crate) fn append(&mut self, req: u32, attempt: u32, broker: u32) {
        let r = self.requests[req as usize];
        self.requests[req as usize].copies -= 1;
        if !self.cluster.leads(r.part, broker) {
            self.respond(broker, req, attempt, ProduceResult::NotLeader);
            self.maybe_free(req);
            return;
        }
        let (acks, idempotent) = {
            let c = &self.producers[r.producer as usize].client;
            (c.acks, c.idempotent)
        };
        let part = r.part as usize;
        if let Some(result) = self.refusal(&r, broker, acks) {
            self.respond(broker, req, attempt, result);
            self.maybe_free(req);
            return;
        }
        let p = &self.cluster.parts[part];
        if idempotent {
            let state = &p.producer_state[r.producer as usize];
            let last = r.first_seq + r.count - 1;
            let verdict = if r.epoch < state.epoch {
                Some(ProduceResult::InvalidProducerEpoch)
            } else if r.epoch > state.epoch {
                // A new epoch starts at its first sequence (Kafka: 0).
                (r.first_seq != r.seq_base).then_some(ProduceResult::OutOfOrderSequence)
            } else if let Some(b) = state.duplicate_of(r.first_seq, last) {
                // Already in the log: answer as the original append would,
                // which with acks=all means once the high watermark covers it.
                self.answer_duplicate(req, attempt, broker, acks, b.last_offset + 1);
                return;
            } else if i64::from(r.first_seq) != state.last_seq + 1 {
                Some(ProduceResult::OutOfOrderSequence)
            } else {
                None
            };
            if let Some(result) = verdict {
                self.respond(broker, req, attempt, result);
                self.maybe_free(req);
                return;
            }
        }
        let part_in_topic = (r.part - self.producers[r.producer as usize].first_part) as usize;
        for seq in r.first_seq..r.first_seq + r.count {
            let event =
                self.producers[r.producer as usize].parts[part_in_topic].seq_events[seq as usize];
            let p = &mut self.cluster.parts[part];
            let leader = p.leader;
            let offset = p.logs[leader].leo();
            p.logs[leader].entries.push_back(event);
            self.observe(Observation::Appended {
                event,
                partition: r.part,
                offset,
            });
        }
        let p = &mut self.cluster.parts[part];
        let end = p.leader_log().leo();
        if self.producers[r.producer as usize].txn.is_some()
            && !p.txn_open.iter().any(|o| o.0 == r.producer)
        {
            p.txn_open.push((r.producer, end - u64::from(r.count)));
        }
        if idempotent {
            p.producer_state[r.producer as usize].push(
                r.epoch,
                BatchMeta {
                    first_seq: r.first_seq,
                    last_seq: r.first_seq + r.count - 1,
                    last_offset: end - 1,
                },
            );
        }
        match acks {
            Acks::None => {}
            Acks::Leader => self.respond(broker, req, attempt, ProduceResult::Ok),
            Acks::All => {
                self.requests[req as usize].copies += 1;
                self.cluster.parts[part]
                    .pending_acks
                    .push_back((req, attempt, end));
            }
        }
        self.after_leader_append(r.part);
        self.maybe_free(req);
    }

    /// Why the leader refuses `r` before appending it, if it does: acks=all
    /// with the ISR below min ISR (NOT_ENOUGH_REPLICAS), a transaction no
    /// longer ongoing (INVALID_TXN_STATE), or a record's CreateTime out of
    /// its topic's bounds (INVALID_TIMESTAMP), in the order Kafka checks.
    fn refusal(&self, r: &super::Request, broker: u32, acks: Acks) -> Option<ProduceResult> {
        let p = &self.cluster.parts[r.part as usize];
        if acks == Acks::All && p.isr_count() < p.min_isr {
            return Some(ProduceResult::NotEnoughReplicas);
        }
        if self.refuses_txn(r) {
            return Some(ProduceResult::InvalidTxnState);
        }
        self.bad_timestamp(r, broker)
            .then_some(ProduceResult::InvalidTimestamp)
    }

    /// Whether a record of `r` has a CreateTime further ahead of the
    /// leader's clock than `message_timestamp_after_max`, or further behind
    /// than `message_timestamp_before_max` (KIP-937: the whole batch is
    /// refused). Without clock faults a CreateTime is never ahead, so
    /// only a `before` bound is checked then.
    fn bad_timestamp(&self, r: &super::Request, broker: u32) -> bool {
        let (after, before) = self.cluster.parts[r.part as usize].timestamp_bounds;
        let clocks = self.cluster.clocks.as_deref();
        if before.is_none() && (after.is_none() || clocks.is_none()) {
            return false;
        }
        let now = self.now();
        let leader_now = clocks.map_or(now as i64, |c| c.broker_now(broker, now));
        let bound = |d: Option<u64>| d.map(|d| i64::try_from(d).unwrap_or(i64::MAX));
        let (after, before) = (bound(after), bound(before));
        let prod = &self.producers[r.producer as usize];
        let seqs = &prod.parts[(r.part - prod.first_part) as usize].seq_events;
        (r.first_seq..r.first_seq + r.count).any(|seq| {
            let e = &self.events[seqs[seq as usize] as usize];
            let ts = clocks.map_or(e.created_ns as i64, |c| c.timestamp(e, false));
            after.is_some_and(|a| ts > leader_now.saturating_add(a))
                || before.is_some_and(|b| ts < leader_now.saturating_sub(b))
        })
    }

    /// A transactional record whose transaction is no longer ongoing at the
    /// coordinator (KIP-890's verification), or, before KIP-890, whose
    /// producer epoch the coordinator has bumped.
    fn refuses_txn(&self, r: &super::Request) -> bool {
        (self.producers[r.producer as usize].txn.as_ref())
            .is_some_and(|t| !t.accepts(r.txn, r.part, self.versions))
    }

    /// A retried batch is already in the log up to `end`: acks=1 is answered
    /// at once; acks=all waits, like the original, for the high watermark to
    /// pass `end` (and fails with the leader if it changes first).
    fn answer_duplicate(&mut self, req: u32, attempt: u32, broker: u32, acks: Acks, end: u64) {
        match acks {
            Acks::None => {}
            Acks::Leader => self.respond(broker, req, attempt, ProduceResult::Duplicate),
            Acks::All => {
                let part = self.requests[req as usize].part as usize;
                if end <= self.cluster.parts[part].hw {
                    let result = self.cluster.completion(part as u32);
                    self.respond(broker, req, attempt, result);
                } else {
                    self.requests[req as usize].copies += 1;
                    let pending = &mut self.cluster.parts[part].pending_acks;
                    let at = pending.partition_point(|&(_, _, e)| e <= end);
                    pending.insert(at, (req, attempt, end));
                }
            }
        }
        self.maybe_free(req);
    }

    /// A record removed from a log (by retention, or `compacted`) is
    /// observed for every group that had not read it yet.
    pub(crate) fn on_removed(&mut self, event: EventId, part: u32, offset: u64, compacted: bool) {
        for g in 0..self.groups.len() as u32 {
            if self.read_point(g, part).is_some_and(|read| offset >= read) {
                let e = self.events[event as usize];
                let (group, partition, key, value) = (g, part, e.key, e.value);
                self.observe(if compacted {
                    Observation::Compacted {
                        event,
                        group,
                        partition,
                        offset,
                        key,
                        value,
                    }
                } else {
                    Observation::Expired {
                        event,
                        group,
                        partition,
                        offset,
                        key,
                        value,
                    }
                });
            }
        }
    }

    /// The offset from which group `g` has yet to read `part` (`None`: the
    /// group does not read it, or will start after what is there now).
    fn read_point(&self, g: u32, part: u32) -> Option<u64> {
        let grp = &self.groups[g as usize];
        let idx = grp.part_index[part as usize];
        if idx == u32::MAX {
            return None;
        }
        let idx = idx as usize;
        if let Some(c) = grp.owner[idx]
            && let Some(i) = self.consumers[c as usize].idx(part)
        {
            return Some(self.consumers[c as usize].parts[i].fetch_offset);
        }
        match (grp.committed[idx], grp.auto_offset_reset) {
            (Some(offset), _) => Some(offset),
            (None, OffsetReset::Earliest) => Some(0),
            (None, OffsetReset::Latest | OffsetReset::None) => None,
        }
    }

    /// Answer a consumer's fetch from the leader, or park it until the high
    /// watermark moves. The records travel in the consumer's in-flight buffer.
    pub(crate) fn serve_consumer_fetch(&mut self, consumer: u32, part: u32, epoch: u32) {
        let kip320 = self.versions.kip320;
        let c = &mut self.consumers[consumer as usize];
        let Some(i) = c.idx(part).filter(|&i| c.parts[i].epoch == epoch) else {
            return; // the partition was revoked meanwhile
        };
        c.dirty.insert(i as u32);
        let cp = &mut c.parts[i];
        let g = &self.groups[c.group as usize];
        let p = &mut self.cluster.parts[part as usize];
        let log = &p.logs[p.leader];
        cp.follow_leader_epoch(p.epoch, &p.truncations, kip320);
        let readable = p.readable_end(g.isolation);
        if cp.fetch_offset < log.start || cp.fetch_offset > log.leo() {
            let reset = match g.auto_offset_reset {
                OffsetReset::Earliest => Some(log.start),
                OffsetReset::Latest => Some(readable),
                OffsetReset::None => None,
            };
            let Some(reset) = reset else {
                c.reset_error.push((part, cp.fetch_offset));
                return self.answer_out_of_range(consumer, part, epoch);
            };
            cp.fetch_offset = reset;
        }
        if cp.fetch_offset >= readable {
            p.parked_consumers.push((consumer, epoch));
            return;
        }
        let end = readable.min(cp.fetch_offset + u64::from(g.max_poll_records));
        let first = cp.fetch_offset;
        let mut bytes = 0;
        let counts_bytes = self.net.counts_bytes();
        let read_committed = g.isolation == Isolation::ReadCommitted && !p.txn_aborted.is_empty();
        let before = cp.inflight.len();
        for offset in first..end {
            let event = log.get(offset);
            // Markers, compacted slots and (read_committed) aborted
            // records are skipped; if the response ends with them, one
            // placeholder takes the consumer's position past them.
            let skip = !is_record(event)
                || (read_committed
                    && p.aborted(u32::from(self.events[event as usize].producer), offset));
            if skip {
                if offset + 1 == end {
                    cp.inflight.push_back((offset, COMPACTED));
                }
                continue;
            }
            cp.inflight.push_back((offset, event));
            if counts_bytes {
                bytes += u64::from(self.events[event as usize].size);
            }
        }
        cp.fetch_offset = end;
        let (from, to) = (self.net.broker(p.leader_broker()), c.node);
        let delivered = self.send_fetch_response((consumer, part, epoch), from, to, bytes);
        let cp = &mut self.consumers[consumer as usize].parts[i];
        if !delivered {
            // Lost on the way: the consumer times out and fetches again
            // from where it was.
            cp.inflight.clear();
            cp.fetch_offset = first;
        } else if self.net.duplicates(from, to) {
            // The response arrives twice: the records are handed over twice.
            for i in before..cp.inflight.len() {
                let record = cp.inflight[i];
                cp.inflight.push_back(record);
            }
        }
    }

    /// OFFSET_OUT_OF_RANGE with nothing to reset the position by
    /// (`auto_offset_reset = "none"`): the answer carries no records, and
    /// the consumer's next poll() throws.
    fn answer_out_of_range(&mut self, consumer: u32, part: u32, epoch: u32) {
        let from = (self.net).broker(self.cluster.parts[part as usize].leader_broker());
        let to = self.consumers[consumer as usize].node;
        self.send_fetch_response((consumer, part, epoch), from, to, 0);
    }

    /// The leader `from` answers a consumer's fetch: if the network loses
    /// the answer, the consumer fetches again after the request timeout.
    /// Whether it will arrive.
    fn send_fetch_response(
        &mut self,
        (consumer, part, epoch): (u32, u32, u32),
        from: Node,
        to: Node,
        bytes: u64,
    ) -> bool {
        let response = Ev::ConsumerFetchResponse {
            consumer,
            part,
            epoch,
        };
        let retry = Ev::FetchRetry {
            consumer,
            part,
            epoch,
        };
        self.send(
            from,
            to,
            bytes,
            response,
            Some((self.fetch_timeout_ns, retry)),
        )
    }

    /// The leader of `part` appended (a produce request, a transaction
    /// marker): the brokers replicate it.
    pub(crate) fn after_leader_append(&mut self, part: u32) {
        self.with_cluster(|c, x, out| c.after_leader_append(part, x, out));
    }

    pub(crate) fn on_consumer_fetch_arrive(
        &mut self,
        consumer: u32,
        part: u32,
        epoch: u32,
        broker: u32,
    ) {
        if self.cluster.leads(part, broker) {
            self.serve_consumer_fetch(consumer, part, epoch);
        } else {
            // NOT_LEADER_OR_FOLLOWER: refresh metadata and fetch again.
            self.kernel.schedule_in(
                RECONNECT_BACKOFF_NS,
                Ev::FetchRetry {
                    consumer,
                    part,
                    epoch,
                },
            );
        }
    }
}

impl Cluster {
    /// A broker process dies: its connections drop, so requests waiting on
    /// it fail at their clients; its logs stay on disk.
    pub(crate) fn crash_broker(&mut self, b: u32, x: &Ctx, out: &mut Effects) {
        self.drop_queued_work(b, x.now);
        self.brokers[b as usize].unclean_shutdown = true;
        for part in 0..self.parts.len() as u32 {
            let p = &mut self.parts[part as usize];
            let Some(r) = p.replicas.iter().position(|&x| x == b) else {
                continue;
            };
            p.logs[r].unpark(self.isr_watch.caught_up_at(part));
            self.isr_watch.watch(part);
            if r == p.leader {
                self.fail_leader_waiters(part, b, x, out);
            }
        }
    }

    /// A crashed broker starts again. When it cannot reach the active
    /// controller (the quorum has none, or it is down or cut off) it
    /// cannot register: it stays out (as fenced, leading nothing it
    /// serves) until it can, and then registers (`World::check_sessions`).
    /// Whether it can register now: then the controller fences its old
    /// incarnation (if the session had not expired yet) and lets it in,
    /// each a step of its own (`World::restart_broker`).
    pub(crate) fn restart_broker(&mut self, b: u32, x: &Ctx, out: &mut Effects) -> bool {
        self.drop_queued_work(b, x.now);
        if !x.controller_reachable(b) {
            self.brokers[b as usize].reregister = true;
            if !self.brokers[b as usize].fenced {
                self.brokers[b as usize].fenced = true;
                out.observe(Observation::Fenced { broker: b });
            }
            return false;
        }
        true
    }

    /// Requests waiting at a leader that stops leading fail: pending
    /// acks get NOT_LEADER, parked consumer fetches are retried.
    fn fail_leader_waiters(&mut self, part: u32, b: u32, x: &Ctx, out: &mut Effects) {
        let p = &mut self.parts[part as usize];
        for (req, attempt, _) in p.pending_acks.drain(..) {
            out.push(Effect::Answer {
                broker: b,
                req,
                attempt,
                result: ProduceResult::NotLeader,
            });
        }
        let at = x.now.saturating_add(RECONNECT_BACKOFF_NS);
        for (consumer, epoch) in p.parked_consumers.drain(..) {
            let ev = Ev::FetchRetry {
                consumer,
                part,
                epoch,
            };
            out.push(Effect::Wake { at, ev });
        }
    }

    /// The controller fences broker `b`: it leaves every ISR, and the
    /// partitions it led elect new leaders.
    pub(crate) fn fence(&mut self, b: u32, x: &Ctx, out: &mut Effects) {
        self.brokers[b as usize].fenced = true;
        out.observe(Observation::Fenced { broker: b });
        for part in 0..self.parts.len() as u32 {
            let Some(r) = self.parts[part as usize]
                .replicas
                .iter()
                .position(|&x| x == b)
            else {
                continue;
            };
            self.stop_fetch_loop(part, r);
            let p = &self.parts[part as usize];
            if r == p.leader && p.online {
                self.fail_leader_waiters(part, b, x, out);
                self.elect(part, x, out);
            } else if r != p.leader && p.isr[r] {
                let p = &mut self.parts[part as usize];
                p.leave_isr(r, self.elr);
                p.settle_elr();
                let isr = p.isr_count();
                out.observe(Observation::IsrChanged {
                    partition: part,
                    isr,
                });
                self.update_hw(part, out);
            }
        }
    }

    /// Broker `b` is back in the cluster: it leads offline partitions it is
    /// eligible for, and follows (after truncating) everywhere else.
    pub(crate) fn unfence(&mut self, b: u32, x: &Ctx, out: &mut Effects) {
        if std::mem::take(&mut self.brokers[b as usize].disk_replaced) {
            self.leave_every_isr(b, out);
        }
        if std::mem::take(&mut self.brokers[b as usize].unclean_shutdown) {
            self.leave_every_elr(b);
        }
        let now = x.now;
        out.observe(Observation::Unfenced { broker: b });
        let br = &mut self.brokers[b as usize];
        br.fenced = false;
        br.last_heard_ns = now;
        br.busy_until = br.busy_until.max(now);
        for part in 0..self.parts.len() as u32 {
            let Some(r) = self.parts[part as usize]
                .replicas
                .iter()
                .position(|&x| x == b)
            else {
                continue;
            };
            if !self.parts[part as usize].online {
                self.elect(part, x, out);
                continue;
            }
            let p = &mut self.parts[part as usize];
            if r == p.leader {
                // Still its leader: it restarted while the metadata was
                // frozen. The controller elects again (a new epoch).
                self.elect(part, x, out);
                continue;
            }
            let leader = p.leader;
            let d = divergence(&p.logs[r], &p.logs[leader]);
            truncate(&mut p.logs[r], d);
            p.logs[r].known_leo = p.logs[r].leo();
            self.start_fetch_loop(part, r, x, out);
        }
    }

    /// Broker `b` leaves the ISR of every partition it holds a replica of
    /// (the leader's too: an offline partition waits for another member),
    /// and is no partition's last known leader: its replicas sit in a log
    /// directory the controller has not seen (KIP-858), so none may lead.
    fn leave_every_isr(&mut self, b: u32, out: &mut Effects) {
        for part in 0..self.parts.len() as u32 {
            let p = &mut self.parts[part as usize];
            let Some(r) = p.replicas.iter().position(|&x| x == b) else {
                continue;
            };
            if p.last_known_leader == Some(r) {
                p.last_known_leader = None;
            }
            if p.isr[r] {
                p.isr[r] = false;
                let isr = p.isr_count();
                out.observe(Observation::IsrChanged {
                    partition: part,
                    isr,
                });
            }
        }
    }

    /// Broker `b` registered after an unclean shutdown: it may have lost
    /// what it had not flushed, so it leaves every ELR (KIP-966; Kafka
    /// tells by the broker epoch a controlled shutdown leaves on disk).
    fn leave_every_elr(&mut self, b: u32) {
        for p in &mut self.parts {
            if let Some(r) = p.replicas.iter().position(|&x| x == b) {
                p.elr[r] = false;
            }
        }
    }

    /// Choose a leader for `part` among live, unfenced replicas, in the
    /// controller's order (`PartitionChangeBuilder.electAnyLeader`): a
    /// member of the ISR; with ELR, once the old leader has left an ISR
    /// that is now empty, a member of the ELR, then the last known leader
    /// (an unclean election); else, if the topic allows it, any replica
    /// (unclean); else the partition goes offline until one returns.
    fn elect(&mut self, part: u32, x: &Ctx, out: &mut Effects) {
        let isr_before = self.parts[part as usize].isr_count();
        if self.elr {
            self.old_leader_leaves_isr(part, x);
        }
        if let Some((r, unclean)) = self.leader_choice(part, x) {
            self.set_leader(part, r, unclean, isr_before, x, out);
            return;
        }
        let p = &mut self.parts[part as usize];
        let isr = p.isr_count();
        if isr != isr_before {
            out.observe(Observation::IsrChanged {
                partition: part,
                isr,
            });
        }
        if p.online {
            p.online = false;
            out.observe(Observation::LeaderElected {
                partition: part,
                broker: None,
                epoch: p.epoch,
                unclean: false,
            });
        }
    }

    /// With ELR the controller may empty the ISR: a leader that is fenced
    /// or down leaves it, into the ELR when the ISR is below min ISR.
    fn old_leader_leaves_isr(&mut self, part: u32, x: &Ctx) {
        let p = &mut self.parts[part as usize];
        let old = p.leader;
        let b = p.replicas[old];
        if !p.isr[old] || (x.broker_up(b) && !self.brokers[b as usize].fenced) {
            return;
        }
        p.leave_isr(old, true);
        p.settle_elr();
    }

    /// Whom the controller elects for `part` ([`Cluster::elect`]), and
    /// whether the election is unclean.
    fn leader_choice(&self, part: u32, x: &Ctx) -> Option<(usize, bool)> {
        let p = &self.parts[part as usize];
        let live = |r: usize| {
            let b = p.replicas[r];
            x.broker_up(b) && !self.brokers[b as usize].fenced
        };
        let n = p.replicas.len();
        if let Some(r) = (0..n).find(|&r| p.isr[r] && live(r)) {
            return Some((r, false));
        }
        if self.elr && p.isr_count() == 0 {
            if let Some(r) = (0..n).find(|&r| p.elr[r] && live(r)) {
                return Some((r, false));
            }
            if let Some(r) = p.last_known_leader
                && !p.elr.contains(&true)
                && live(r)
            {
                return Some((r, true));
            }
        }
        (0..n)
            .find(|&r| p.unclean_allowed && live(r))
            .map(|r| (r, true))
    }

    /// Replica `r` leads `part` from now on. Every other replica truncates
    /// to where its log diverges from the new leader's; what only the old
    /// leader had is lost.
    fn set_leader(
        &mut self,
        part: u32,
        r: usize,
        unclean: bool,
        isr_before: u32,
        x: &Ctx,
        out: &mut Effects,
    ) {
        let now = x.now;
        let old = self.parts[part as usize].leader;
        let old_broker = self.parts[part as usize].leader_broker();
        self.fail_leader_waiters(part, old_broker, x, out);
        let lost = self.parts[part as usize].truncate_to(r);
        let hw;
        {
            let p = &mut self.parts[part as usize];
            p.leader = r;
            p.epoch += 1;
            p.online = true;
            p.hw = p.hw.min(p.logs[r].leo());
            hw = p.hw;
            if unclean {
                // The new leader is the ISR alone, and the ELR is emptied.
                p.isr.iter_mut().for_each(|x| *x = false);
                p.elr.iter_mut().for_each(|x| *x = false);
            }
            p.isr[r] = true;
            p.elr[r] = false;
            p.last_known_leader = None;
        }
        let b = self.parts[part as usize].replicas[old];
        if old != r && (self.brokers[b as usize].fenced || !x.broker_up(b)) {
            let p = &mut self.parts[part as usize];
            if p.isr[old] {
                p.leave_isr(old, self.elr);
                p.settle_elr();
            }
        }
        let leo = self.parts[part as usize].leader_log().leo();
        self.truncate_txn_state(part, leo, x, out);
        let power_lost = self.parts[part as usize].power_lost_from.take();
        let cut = match (lost.first().map(|l| l.0), power_lost) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(offset) = cut {
            self.truncate_producer_state(part, offset);
            let p = &mut self.parts[part as usize];
            p.truncations.push((p.epoch, offset));
        }
        for &(offset, event) in &lost {
            out.observe(Observation::Truncated {
                event,
                partition: part,
                offset,
            });
        }
        out.observe(Observation::HighWatermark {
            partition: part,
            offset: hw,
        });
        // The controller changes the leader and the ISR in one record
        // (a fenced or dead old leader leaves the ISR; an unclean leader is
        // the ISR alone).
        let isr = self.parts[part as usize].isr_count();
        if isr != isr_before {
            out.observe(Observation::IsrChanged {
                partition: part,
                isr,
            });
        }
        let epoch = self.parts[part as usize].epoch;
        let broker = self.parts[part as usize].leader_broker();
        out.observe(Observation::LeaderElected {
            partition: part,
            broker: Some(broker),
            epoch,
            unclean,
        });
        for q in 0..self.parts[part as usize].replicas.len() {
            if q == r {
                continue;
            }
            let b = self.parts[part as usize].replicas[q];
            let f = &mut self.parts[part as usize].logs[q];
            f.known_leo = f.leo();
            f.last_caught_up_ns = now;
            if x.broker_up(b) && !self.brokers[b as usize].fenced {
                self.start_fetch_loop(part, q, x, out);
            } else {
                self.stop_fetch_loop(part, q);
            }
        }
        self.update_hw(part, out);
    }

    /// The leader's log lost everything from `offset` on: idempotent
    /// producers' state forgets the batches there, so that their retries
    /// are appended again.
    fn truncate_producer_state(&mut self, part: u32, offset: u64) {
        for state in &mut self.parts[part as usize].producer_state {
            state.truncate(offset);
        }
    }

    /// The leader's log lost everything from `offset` on: transactions
    /// that started there are no longer open there, and markers there are
    /// written again by the coordinator.
    pub(crate) fn truncate_txn_state(
        &mut self,
        part: u32,
        offset: u64,
        x: &Ctx,
        out: &mut Effects,
    ) {
        let pr = &mut self.parts[part as usize];
        pr.txn_open.retain(|o| o.1 < offset);
        pr.txn_aborted.retain(|a| a.2 < offset);
        let mut resend = Vec::new();
        pr.markers.retain(|m| {
            if m.offset >= offset {
                resend.push(*m);
                false
            } else {
                true
            }
        });
        let at = x.now.saturating_add(RECONNECT_BACKOFF_NS);
        for m in resend {
            let ev = Ev::TxnMarkerSend {
                producer: m.producer,
                number: m.number,
                part,
            };
            out.push(Effect::Wake { at, ev });
        }
    }
}

impl World {
    /// Whether broker `b` can reach the active controller
    /// ([`Ctx::controller_reachable`]).
    pub(crate) fn controller_reachable(&self, b: u32) -> bool {
        self.ctx().controller_reachable(b)
    }

    /// A broker process dies ([`Cluster::crash_broker`]).
    pub(crate) fn crash_broker(&mut self, b: u32) {
        self.with_cluster(|c, x, out| c.crash_broker(b, x, out));
    }

    /// A crashed broker starts again ([`Cluster::restart_broker`]): if it
    /// can register, the controller fences its old incarnation and lets
    /// it in. Two steps, because the second sees what the first's effects
    /// did (a consumer fetch the first parked again is the second's to
    /// fail over).
    pub(crate) fn restart_broker(&mut self, b: u32) {
        if self.with_cluster(|c, x, out| c.restart_broker(b, x, out)) {
            if !self.cluster.brokers[b as usize].fenced {
                self.fence(b);
            }
            self.unfence(b);
        }
    }

    /// The controller fences broker `b` ([`Cluster::fence`]).
    pub(crate) fn fence(&mut self, b: u32) {
        self.with_cluster(|c, x, out| c.fence(b, x, out));
    }

    /// Broker `b` is back in the cluster ([`Cluster::unfence`]).
    pub(crate) fn unfence(&mut self, b: u32) {
        self.with_cluster(|c, x, out| c.unfence(b, x, out));
    }
}

/// The offset where log `a` stops agreeing with log `b`: they share a
/// prefix and differ (or one ends) from there.
fn divergence(a: &ReplicaLog, b: &ReplicaLog) -> u64 {
    let end = a.leo().min(b.leo());
    let start = a.start.max(b.start);
    let mut d = end;
    while d > start && a.get(d - 1) != b.get(d - 1) {
        d -= 1;
    }
    d
}

/// Drop a log's records from `offset` on (what was flushed above it goes
/// too: new records there are not on disk).
fn truncate(log: &mut ReplicaLog, offset: u64) {
    log.flushed = log.flushed.min(offset);
    for w in &mut log.writeback {
        w.1 = w.1.min(offset);
    }
    while log.leo() > offset.max(log.start) {
        log.entries.pop_back();
    }
    if offset < log.start {
        log.entries.clear();
        log.start = offset;
    }
}

/// Two distinct elements of a slice, both mutable.
fn two_mut<T>(v: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    assert_ne!(a, b);
    if a < b {
        let (x, y) = v.split_at_mut(b);
        (&mut x[a], &mut y[0])
    } else {
        let (x, y) = v.split_at_mut(a);
        (&mut y[0], &mut x[b])
    }
}

/// The broker component on its own: a few brokers and partitions, fed
/// events, their effects asserted (no scenario, no world).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::rng_stream;
    use crate::model::EventMeta;
    use crate::model::controller::Quorum;
    use crate::model::network::{Network, Node, NodeState};
    use crate::model::window::Window;

    const S: Time = 1_000_000_000;

    #[test]
    fn a_fresh_partition_and_a_down_leader_past_its_cut_log_keep_the_invariants() {
        let mut p = PartitionRt::new(vec![0, 1, 2]);
        p.assert_invariants(0, true);
        // Its leader lost power: the log is cut, the high watermark is not
        // (until an election), and it does not serve.
        p.hw = 731;
        p.assert_invariants(0, false);
        p.online = false;
        p.isr[0] = false;
        p.assert_invariants(0, true);
    }

    #[test]
    #[should_panic(expected = "is not in its ISR")]
    fn an_online_leader_outside_its_isr_is_a_simulator_bug() {
        let mut p = PartitionRt::new(vec![0, 1, 2]);
        p.isr[0] = false;
        p.assert_invariants(3, true);
    }

    #[test]
    #[should_panic(expected = "high watermark 5 past the leader's log end 0")]
    fn a_serving_leader_behind_the_high_watermark_is_a_simulator_bug() {
        let mut p = PartitionRt::new(vec![0, 1]);
        p.hw = 5;
        p.assert_invariants(0, true);
    }

    /// Brokers `0..n` on nodes `0..n` and the active controller on node `n`.
    struct Bench {
        c: Cluster,
        net: Network,
        events: Window<EventMeta>,
        quorum: Quorum,
        nodes: Vec<NodeState>,
    }

    impl Bench {
        /// `n` brokers; one partition per entry of `parts`, replicated on
        /// its brokers (the first leads).
        fn new(n: u32, parts: &[&[u32]]) -> Bench {
            let rngs = (0..=n).map(|i| rng_stream(1, &format!("n{i}"))).collect();
            let ms = Sampler::Constant(1_000_000);
            let parts: Vec<PartitionRt> =
                parts.iter().map(|r| PartitionRt::new(r.to_vec())).collect();
            let broker =
                |b| BrokerRt::new(Sampler::Constant(0), 0.0, rng_stream(1, &format!("b{b}")));
            let c = Cluster {
                brokers: (0..n).map(broker).collect(),
                isr_watch: IsrWatch::new(parts.len()),
                walks: PartitionWalks::new(&parts),
                parts,
                replica_lag_time_max_ns: 30 * S,
                replica_fetch_timeout_ns: 30 * S,
                next_fetch_generation: 0,
                disk: None,
                strict_min_isr: true,
                elr: true,
                clocks: None,
            };
            Bench {
                c,
                net: Network::new(ms.clone(), ms, 0, n, rngs),
                events: Window::default(),
                quorum: Quorum::new(vec![Node(n)], 2 * S, S),
                nodes: vec![NodeState::Up; n as usize + 1],
            }
        }

        /// Hand the brokers something to do at `now`: what they ask for.
        fn at(
            &mut self,
            now: Time,
            f: impl FnOnce(&mut Cluster, &Ctx, &mut Effects),
        ) -> Vec<Effect> {
            let down = self.nodes.iter().filter(|s| **s != NodeState::Up).count() as u32;
            let x = Ctx::new(
                now,
                &self.net,
                &self.events,
                &self.quorum,
                &self.nodes,
                down,
            );
            let mut out = Effects::default();
            f(&mut self.c, &x, &mut out);
            out.list().to_vec()
        }

        /// The leader of `part` holds `n` more records (event ids from 1).
        fn leader_holds(&mut self, part: usize, n: u64) {
            let p = &mut self.c.parts[part];
            let log = &mut p.logs[p.leader];
            for _ in 0..n {
                log.entries.push_back(log.leo() as EventId + 1);
            }
        }
    }

    fn observed(effects: &[Effect]) -> Vec<Observation> {
        (effects.iter())
            .filter_map(|e| match e {
                Effect::Observe(o) => Some(*o),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_follower_that_caught_up_raises_the_high_watermark_and_completes_acks_all() {
        let mut b = Bench::new(2, &[&[0, 1]]);
        b.leader_holds(0, 3);
        b.c.parts[0].pending_acks.push_back((7, 0, 3));
        let fetch = b.at(0, |c, x, out| c.on_replica_fetch_arrive((0, 1, 0), x, out));
        assert!(matches!(
            fetch[..],
            [Effect::Send {
                ev: Ev::ReplicaFetchResponse { .. },
                ..
            }]
        ));
        let copied = b.at(S, |c, x, out| {
            c.on_replica_fetch_response((0, 1, 0), x, out)
        });
        assert!(matches!(
            copied[1],
            Effect::Send {
                ev: Ev::ReplicaFetchArrive { .. },
                ..
            }
        ));
        let acked = b.at(2 * S, |c, x, out| {
            c.on_replica_fetch_arrive((0, 1, 0), x, out)
        });
        let answer = Effect::Answer {
            broker: 0,
            req: 7,
            attempt: 0,
            result: ProduceResult::Ok,
        };
        let hw = Observation::HighWatermark {
            partition: 0,
            offset: 3,
        };
        assert_eq!(acked, [Effect::Observe(hw), answer]);
        assert!(
            b.c.parts[0].logs[1].fetch_parked,
            "nothing more to fetch: parked"
        );
    }

    /// Before Kafka 3.7 the high watermark moves past a shrunk ISR and an
    /// acks=all request under min ISR is refused once it is covered; from
    /// 3.7 (KAFKA-15583) the high watermark waits for min ISR, so the
    /// request is not answered (it times out at its client).
    #[test]
    fn a_lagging_follower_leaves_the_isr_and_acks_all_completes_only_above_min_isr() {
        for (strict, min_isr, result) in [
            (false, 1, Some(ProduceResult::Ok)),
            (true, 1, Some(ProduceResult::Ok)),
            (false, 2, Some(ProduceResult::NotEnoughReplicasAfterAppend)),
            (true, 2, None),
        ] {
            let mut b = Bench::new(2, &[&[0, 1]]);
            b.c.strict_min_isr = strict;
            b.c.parts[0].min_isr = min_isr;
            b.leader_holds(0, 3);
            b.c.parts[0].pending_acks.push_back((7, 0, 3));
            assert_eq!(
                b.at(10 * S, |c, x, out| c.maintain_isr(x, out)),
                [],
                "within the lag"
            );
            let shrunk = b.at(31 * S, |c, x, out| c.maintain_isr(x, out));
            let isr = Effect::Observe(Observation::IsrChanged {
                partition: 0,
                isr: 1,
            });
            let Some(result) = result else {
                assert_eq!(shrunk, [isr]);
                assert_eq!(b.c.parts[0].hw, 0);
                continue;
            };
            let hw = Observation::HighWatermark {
                partition: 0,
                offset: 3,
            };
            let answer = Effect::Answer {
                broker: 0,
                req: 7,
                attempt: 0,
                result,
            };
            assert_eq!(shrunk, [isr, Effect::Observe(hw), answer]);
        }
    }

    #[test]
    fn a_leader_cut_off_from_the_controller_cannot_shrink_the_isr() {
        let mut b = Bench::new(2, &[&[0, 1]]);
        b.nodes[2] = NodeState::Crashed; // the only controller
        assert_eq!(b.at(31 * S, |c, x, out| c.maintain_isr(x, out)), []);
        assert_eq!(b.c.parts[0].isr, [true, true]);
    }

    #[test]
    fn fencing_a_leader_fails_its_waiters_and_elects_from_the_isr() {
        let mut b = Bench::new(3, &[&[0, 1, 2]]);
        b.c.parts[0].pending_acks.push_back((7, 0, 3));
        b.c.parts[0].parked_consumers.push((4, 9));
        let effects = b.at(S, |c, x, out| c.fence(0, x, out));
        let answer = Effect::Answer {
            broker: 0,
            req: 7,
            attempt: 0,
            result: ProduceResult::NotLeader,
        };
        assert_eq!(effects[1], answer);
        let retry = Ev::FetchRetry {
            consumer: 4,
            part: 0,
            epoch: 9,
        };
        assert!(matches!(effects[2], Effect::Wake { ev, .. } if ev == retry));
        let elected = Observation::LeaderElected {
            partition: 0,
            broker: Some(1),
            epoch: 1,
            unclean: false,
        };
        assert!(observed(&effects).contains(&elected), "{effects:?}");
        assert!(b.c.leads(0, 1) && !b.c.leads(0, 0));
    }

    /// RF 3, min ISR 2, both followers lag out: the ISR is the leader alone
    /// and the followers, which hold everything below the high watermark,
    /// are eligible (KIP-966).
    fn shrunk_to_the_leader(elr: bool) -> Bench {
        let mut b = Bench::new(3, &[&[0, 1, 2]]);
        b.c.elr = elr;
        b.c.parts[0].min_isr = 2;
        b.at(31 * S, |c, x, out| c.maintain_isr(x, out));
        assert_eq!(b.c.parts[0].isr, [true, false, false]);
        assert_eq!(b.c.parts[0].elr, [false, elr, elr]);
        b
    }

    fn elected(effects: &[Effect]) -> Option<Observation> {
        observed(effects)
            .into_iter()
            .find(|o| matches!(o, Observation::LeaderElected { .. }))
    }

    #[test]
    fn with_elr_a_replica_that_left_an_isr_below_min_isr_leads_when_the_leader_is_fenced() {
        let mut b = shrunk_to_the_leader(true);
        let effects = b.at(32 * S, |c, x, out| c.fence(0, x, out));
        let to_1 = Observation::LeaderElected {
            partition: 0,
            broker: Some(1),
            epoch: 1,
            unclean: false,
        };
        assert_eq!(elected(&effects), Some(to_1));
        let p = &b.c.parts[0];
        assert_eq!(
            (&p.isr[..], &p.elr[..]),
            (&[false, true, false][..], &[true, false, true][..])
        );
        // Without ELR the fenced leader stays the ISR: the partition waits.
        let mut b = shrunk_to_the_leader(false);
        let effects = b.at(32 * S, |c, x, out| c.fence(0, x, out));
        let offline = Observation::LeaderElected {
            partition: 0,
            broker: None,
            epoch: 0,
            unclean: false,
        };
        assert_eq!(elected(&effects), Some(offline));
        assert_eq!(b.c.parts[0].isr, [true, false, false]);
    }

    #[test]
    fn an_unclean_shutdown_leaves_the_elr_and_the_last_known_leader_returns_unclean() {
        let mut b = shrunk_to_the_leader(true);
        // Both followers restart after a crash: fenced, then let in again.
        for f in [1, 2] {
            b.c.brokers[f as usize].unclean_shutdown = true;
            b.at(32 * S, |c, x, out| c.fence(f, x, out));
            b.at(32 * S, |c, x, out| c.unfence(f, x, out));
        }
        assert_eq!(b.c.parts[0].elr, [false, false, false]);
        // The leader is fenced: nobody may lead, and it is the last known leader.
        let effects = b.at(33 * S, |c, x, out| c.fence(0, x, out));
        let isr = Observation::IsrChanged {
            partition: 0,
            isr: 0,
        };
        assert!(observed(&effects).contains(&isr), "{effects:?}");
        assert!(matches!(
            elected(&effects),
            Some(Observation::LeaderElected { broker: None, .. })
        ));
        assert_eq!(b.c.parts[0].last_known_leader, Some(0));
        // It comes back from a crash too: out of the ELR, it is elected
        // as the last known leader, an unclean election.
        b.c.brokers[0].unclean_shutdown = true;
        let effects = b.at(40 * S, |c, x, out| c.unfence(0, x, out));
        let back = Observation::LeaderElected {
            partition: 0,
            broker: Some(0),
            epoch: 1,
            unclean: true,
        };
        assert_eq!(elected(&effects), Some(back));
        assert_eq!(b.c.parts[0].last_known_leader, None);
    }

    #[test]
    fn an_isr_back_at_min_isr_empties_the_elr() {
        let mut b = shrunk_to_the_leader(true);
        b.c.parts[0].join_isr(1);
        assert_eq!(b.c.parts[0].elr, [false, false, false]);
        let mut b = shrunk_to_the_leader(true);
        b.c.parts[0].min_isr = 3;
        b.c.parts[0].join_isr(1);
        assert_eq!(b.c.parts[0].elr, [false, false, true]);
    }

    #[test]
    fn an_unclean_election_truncates_what_only_the_old_leader_had() {
        let mut b = Bench::new(2, &[&[0, 1]]);
        let p = &mut b.c.parts[0];
        p.unclean_allowed = true;
        p.isr[1] = false;
        p.logs[1].entries.push_back(1);
        b.leader_holds(0, 3);
        b.c.parts[0].hw = 3;
        b.nodes[0] = NodeState::Crashed;
        let effects = b.at(S, |c, x, out| c.fence(0, x, out));
        let lost: Vec<u64> = (observed(&effects).iter())
            .filter_map(|o| match o {
                Observation::Truncated { offset, .. } => Some(*offset),
                _ => None,
            })
            .collect();
        assert_eq!(lost, [1, 2]);
        assert_eq!((b.c.parts[0].hw, b.c.parts[0].epoch), (1, 1));
    }
}
