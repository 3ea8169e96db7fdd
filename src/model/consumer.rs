//! Consumers: fetch with prefetch, the poll loop, processing, the effect on
//! the group's state store, commits by mode and service emissions.
//!
//! A consumer processes one event at a time. It keeps one fetch outstanding
//! per assigned partition and refills its buffer while it processes, as the
//! Kafka consumer's fetcher does.

use super::broker::is_record;
use super::idxset::IdxSet;
use super::network::Node;
use super::producer::NewRecord;
use super::{Ev, World};
use crate::history::{EventId, Observation};
use crate::kernel::{Rng, Time};
use crate::scenario::{CommitMode, ConsumerClient, EmitMode, Idempotency, OnFailure};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

/// A partition assigned to a consumer.
pub(crate) struct CPart {
    pub part: u32,
    /// Unique per assignment, so that stale fetches are recognised.
    pub epoch: u32,
    /// Next offset to fetch.
    pub fetch_offset: u64,
    /// Next offset to hand out by poll (Kafka's position).
    pub position: u64,
    /// Offset after the last processed event (what after-process commits).
    pub processed: u64,
    pub buffer: VecDeque<(u64, EventId)>,
    pub inflight: VecDeque<(u64, EventId)>,
    pub fetching: bool,
    /// The offset after the last record taken into `buffer`: records below
    /// it in a fetch response are discarded, as the Java consumer's fetcher
    /// skips records below its fetch position (so a response delivered
    /// twice never reaches the application twice).
    pub accepted_to: u64,
    /// Leader epoch of the partition when the consumer last fetched it.
    pub fetched_epoch: u32,
    /// Where the assignment started (what a rewind without a committed
    /// offset goes back to).
    pub assigned_at: u64,
}

impl CPart {
    /// Fetching a partition whose leader epoch is now `epoch`. With KIP-320
    /// (Kafka 2.1), if the log was truncated below the fetch position since
    /// the consumer last fetched (an unclean election; `truncations` are the
    /// partition's (epoch, offset) cuts), it rewinds to the divergence point
    /// instead of going out of range and resetting by auto_offset_reset;
    /// before KIP-320 it has no leader epoch to check and reads on from its
    /// position (out of range resets follow).
    pub fn follow_leader_epoch(&mut self, epoch: u32, truncations: &[(u32, u64)], kip320: bool) {
        if self.fetched_epoch >= epoch {
            return;
        }
        if kip320 {
            let diverged = (truncations.iter())
                .filter(|&&(e, _)| e > self.fetched_epoch)
                .map(|&(_, offset)| offset)
                .min();
            if let Some(d) = diverged.filter(|&d| d < self.fetch_offset) {
                self.rewind(d);
            }
        }
        self.fetched_epoch = epoch;
    }

    pub fn new(part: u32, epoch: u32, start: u64, leader_epoch: u32) -> CPart {
        CPart {
            part,
            epoch,
            fetch_offset: start,
            position: start,
            processed: start,
            buffer: VecDeque::new(),
            inflight: VecDeque::new(),
            fetching: false,
            accepted_to: start,
            fetched_epoch: leader_epoch,
            assigned_at: start,
        }
    }

    /// The log diverged at `offset` (KIP-320): forget what was fetched from
    /// there on and fetch it again from the new leader.
    pub fn rewind(&mut self, offset: u64) {
        self.inflight.clear();
        while self.buffer.back().is_some_and(|&(o, _)| o >= offset) {
            self.buffer.pop_back();
        }
        self.fetch_offset = offset;
        self.accepted_to = offset;
        self.position = self.position.min(offset);
        self.processed = self.processed.min(offset);
    }

    /// Take a fetch response's records into the buffer, discarding those
    /// below `accepted_to`.
    fn accept(&mut self) {
        let contiguous = match (self.inflight.front(), self.inflight.back()) {
            (Some(&(first, _)), Some(&(last, _))) => {
                first >= self.accepted_to && last - first + 1 == self.inflight.len() as u64
            }
            _ => return,
        };
        if contiguous {
            self.accepted_to = self.inflight.back().map_or(self.accepted_to, |r| r.0 + 1);
            if self.buffer.is_empty() {
                // The common case: hand the whole response over without copying.
                std::mem::swap(&mut self.buffer, &mut self.inflight);
            } else {
                self.buffer.extend(self.inflight.drain(..));
            }
            return;
        }
        for (offset, event) in self.inflight.drain(..) {
            if offset >= self.accepted_to {
                self.accepted_to = offset + 1;
                self.buffer.push_back((offset, event));
            }
        }
    }
}

/// The event being processed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Current {
    pub part: u32,
    pub offset: u64,
    pub event: EventId,
    /// The partition was revoked while processing: finish, but do not commit.
    pub revoked: bool,
    /// Failed attempts so far.
    pub attempt: u32,
}

pub(crate) struct ConsumerRt {
    pub node: Node,
    pub group: u32,
    pub rng: Rng,
    /// Bumped when in-memory progress is lost (crash), fencing old timers.
    pub token: u32,
    /// Generation of the group this consumer last joined.
    pub generation: u32,
    /// `auto_offset_reset = "none"`: the partitions whose position left
    /// the log, with that position; the next poll() throws and the
    /// consumer stops.
    pub reset_error: Vec<(u32, u64)>,
    pub parts: Vec<CPart>,
    /// Partition -> its index in `parts`; with the sets below, rebuilt by
    /// `reindex` whenever `parts` changes shape (a rebalance), so that the
    /// work per record never grows with the number of partitions held.
    pub index: FxHashMap<u32, u32>,
    /// Indices in `parts` whose buffer may hold records (poll visits only
    /// these; an entry whose buffer is empty is dropped when visited).
    pub ready: IdxSet,
    /// Indices in `parts` that may have no fetch outstanding (a response
    /// came back with a full buffer): poll refetches them once drained.
    pub idle: IdxSet,
    /// Indices in `parts` whose position or processed offset may differ
    /// from the committed offset: what a commit of every partition visits.
    pub dirty: IdxSet,
    pub rr: usize,
    pub batch: VecDeque<(u32, u64, EventId)>,
    pub current: Option<Current>,
    /// Nothing to process: the next fetch response polls.
    pub waiting: bool,
    /// `in-transaction`: the consumer's own transactional producer.
    pub txn_producer: Option<u32>,
    /// `in-transaction`: processing waits while the transaction commits
    /// (a Kafka Streams thread commits between records, synchronously).
    pub txn_waiting: bool,
    /// When the consumer heartbeats (every `heartbeat_interval` from it).
    pub heartbeat_phase_ns: Time,
    /// When the group coordinator last heard from the consumer.
    pub last_heard_ns: Time,
    /// When the application last called poll (KIP-62's clock).
    pub last_poll_ns: Time,
    /// Java auto-commit: the next poll at or after this commits.
    pub auto_commit_due_ns: Time,
    /// Java auto-commit: an `AutoCommit` event is queued for an idle poll.
    pub auto_commit_timer: bool,
}

impl ConsumerRt {
    /// The index in `parts` of partition `part`, if the consumer holds it.
    #[inline]
    pub fn idx(&self, part: u32) -> Option<usize> {
        self.index.get(&part).map(|&i| i as usize)
    }

    /// `parts` changed shape: rebuild the index and the sets (every
    /// partition may need a poll, a fetch or a commit).
    pub fn reindex(&mut self) {
        self.index.clear();
        self.ready.clear();
        self.idle.clear();
        self.dirty.clear();
        for (i, cp) in self.parts.iter().enumerate() {
            let i = i as u32;
            self.index.insert(cp.part, i);
            if !cp.buffer.is_empty() {
                self.ready.insert(i);
            }
            if !cp.fetching {
                self.idle.insert(i);
            }
            self.dirty.insert(i);
        }
    }
}

impl World {
    pub(crate) fn send_fetch(&mut self, consumer: u32, idx: usize) {
        let c = &mut self.consumers[consumer as usize];
        let cp = &mut c.parts[idx];
        cp.fetching = true;
        let (part, epoch, from) = (cp.part, cp.epoch, c.node);
        let broker = self.cluster.parts[part as usize].leader_broker();
        let fetch = Ev::ConsumerFetchArrive {
            consumer,
            part,
            epoch,
            broker,
        };
        let retry = Ev::FetchRetry {
            consumer,
            part,
            epoch,
        };
        let to = self.net.broker(broker);
        self.send(from, to, 0, fetch, Some((self.fetch_timeout_ns, retry)));
    }

    /// A fetch failed or went unanswered: send it again if still wanted.
    pub(crate) fn on_fetch_retry(&mut self, consumer: u32, part: u32, epoch: u32) {
        let c = &self.consumers[consumer as usize];
        if let Some(idx) = c.idx(part).filter(|&i| {
            let cp = &c.parts[i];
            cp.epoch == epoch && cp.fetching
        }) {
            self.send_fetch(consumer, idx);
        }
    }

    pub(crate) fn on_consumer_fetch_response(&mut self, consumer: u32, part: u32, epoch: u32) {
        let max =
            self.groups[self.consumers[consumer as usize].group as usize].max_poll_records as usize;
        let c = &mut self.consumers[consumer as usize];
        let Some(idx) = c.idx(part).filter(|&i| c.parts[i].epoch == epoch) else {
            return;
        };
        let cp = &mut c.parts[idx];
        cp.accept();
        cp.fetching = false;
        if !c.reset_error.is_empty() {
            // OFFSET_OUT_OF_RANGE: the application's next poll() throws.
            if c.waiting {
                self.poll(consumer);
            }
            return;
        }
        let (has_records, full) = (!cp.buffer.is_empty(), cp.buffer.len() >= max);
        if has_records {
            c.ready.insert(idx as u32);
        }
        if full {
            c.idle.insert(idx as u32);
        } else {
            self.send_fetch(consumer, idx);
        }
        if self.consumers[consumer as usize].waiting {
            self.poll(consumer);
        }
    }

    /// Hand the next batch of up to max_poll_records to the application.
    pub(crate) fn poll(&mut self, consumer: u32) {
        if self.txn_busy(consumer) {
            self.consumers[consumer as usize].txn_waiting = true;
            return;
        }
        if !self.consumers[consumer as usize].reset_error.is_empty() {
            self.reset_refused(consumer);
            return;
        }
        let g = self.consumers[consumer as usize].group as usize;
        let max = self.groups[g].max_poll_records as usize;
        let c = &mut self.consumers[consumer as usize];
        if c.current.is_some() || !c.batch.is_empty() {
            return;
        }
        c.last_poll_ns = self.kernel.now();
        if self.groups[g].generation > 0 && !self.groups[g].is_member(consumer) {
            // Expelled while it was away: Kafka's poll rejoins the group.
            self.rejoin(consumer);
            return;
        }
        if self.groups[g].commit == CommitMode::Auto
            && self.groups[g].client == ConsumerClient::Java
        {
            self.auto_commit_in_poll(consumer);
        }
        let c = &mut self.consumers[consumer as usize];
        let n = c.parts.len();
        // Round robin from `rr` over the partitions with records buffered
        // (rr may exceed n after partitions were revoked).
        let rr = if c.rr >= n && n > 0 { c.rr % n } else { c.rr };
        let mut cursor = rr as u32;
        let mut wrapped = false;
        while c.batch.len() < max {
            let next = c.ready.next_from(cursor);
            let i = match next {
                Some(i) if !wrapped || i < rr as u32 => i,
                Some(_) => break,
                None if !wrapped && rr > 0 => {
                    wrapped = true;
                    cursor = 0;
                    continue;
                }
                None => break,
            };
            cursor = i + 1;
            c.dirty.insert(i);
            let cp = &mut c.parts[i as usize];
            let mut took = false;
            while c.batch.len() < max {
                let Some(&(offset, event)) = cp.buffer.front() else {
                    break;
                };
                if !is_record(event) {
                    // A placeholder for skipped entries (transaction
                    // markers, aborted records): the position moves past
                    // them once everything before is processed, which it
                    // is at the start of a poll.
                    if took {
                        break;
                    }
                    cp.buffer.pop_front();
                    cp.position = offset + 1;
                    cp.processed = offset + 1;
                    continue;
                }
                cp.buffer.pop_front();
                took = true;
                c.batch.push_back((cp.part, offset, event));
                cp.position = offset + 1;
            }
            if cp.buffer.is_empty() {
                c.ready.remove(i);
            }
        }
        if n > 0 {
            c.rr = if rr + 1 >= n { 0 } else { rr + 1 };
        }
        // Refetch, in partition order, what has no fetch outstanding.
        let mut cursor = 0;
        while let Some(i) = self.consumers[consumer as usize].idle.next_from(cursor) {
            cursor = i + 1;
            let c = &mut self.consumers[consumer as usize];
            let cp = &c.parts[i as usize];
            if cp.fetching {
                c.idle.remove(i);
            } else if cp.buffer.len() < max {
                c.idle.remove(i);
                self.send_fetch(consumer, i as usize);
            }
        }
        let c = &mut self.consumers[consumer as usize];
        if c.batch.is_empty() {
            c.waiting = true;
            self.idle_auto_commit(consumer);
            return;
        }
        c.waiting = false;
        for i in 0..c.batch.len() {
            let (partition, offset, event) = self.consumers[consumer as usize].batch[i];
            self.observe(Observation::Delivered {
                event,
                group: g as u32,
                consumer,
                partition,
                offset,
            });
        }
        if self.groups[g].commit == CommitMode::BeforeProcess {
            self.commit_positions(consumer);
        }
        self.start_next(consumer);
    }

    fn start_next(&mut self, consumer: u32) {
        let c = &mut self.consumers[consumer as usize];
        let Some((part, offset, event)) = c.batch.pop_front() else {
            return;
        };
        c.current = Some(Current {
            part,
            offset,
            event,
            revoked: false,
            attempt: 0,
        });
        let dt = self.processing_time(consumer, event);
        let c = &self.consumers[consumer as usize];
        let g = &self.groups[c.group as usize];
        let token = c.token;
        let dual_write = g.emits.iter().any(|e| e.mode == EmitMode::DualWrite);
        self.kernel
            .schedule_in(dt, Ev::ProcessDone { consumer, token });
        if dual_write && self.would_apply(c_group(self, consumer), event) {
            // Dual write: the handler publishes first, then does its own work.
            self.emit(consumer, event, EmitMode::DualWrite);
        }
    }

    /// How long processing `event` takes this time.
    fn processing_time(&mut self, consumer: u32, event: EventId) -> Time {
        let c = &mut self.consumers[consumer as usize];
        let g = &self.groups[c.group as usize];
        let event_type = self.events[event as usize].event_type as usize;
        let sampler = g
            .by_type
            .get(event_type)
            .and_then(Option::as_ref)
            .unwrap_or(&g.processing);
        sampler.sample(&mut c.rng)
    }

    /// Publish `event` to the group's dead-letter topic with producer `dlt`.
    fn dead_letter(&mut self, dlt: u32, event: EventId) {
        let e = self.events[event as usize];
        let prod = &mut self.producers[dlt as usize];
        let part = prod.chooser.choose(e.key, u64::from(e.size), &mut prod.rng);
        self.create_event(
            dlt,
            NewRecord {
                key: e.key,
                part_in_topic: part,
                size: u64::from(e.size),
                event_type: e.event_type,
                origin: Some((e.origin, e.origin_created_ns)),
                value: None,
                intended_ns: None,
            },
        );
    }

    pub(crate) fn on_process_done(&mut self, consumer: u32, token: u32) {
        let c = &mut self.consumers[consumer as usize];
        if c.token != token {
            return;
        }
        let Some(mut cur) = c.current.take() else {
            return;
        };
        let g = c.group;
        // `in-transaction`: the effect is applied when the transaction
        // commits (the event whose effect it is, if any).
        let mut deferred = None;
        if self.handler_fails(consumer, cur.event) {
            cur.attempt += 1;
            self.observe(Observation::HandlerFailed {
                event: cur.event,
                group: g,
                consumer,
                attempt: cur.attempt,
            });
            let grp = &self.groups[g as usize];
            let policy = grp.on_failure;
            if policy == OnFailure::Block || cur.attempt <= grp.handler_retries {
                // Retry after the backoff; the consumer works on nothing else.
                let dt = grp.handler_backoff_ns + self.processing_time(consumer, cur.event);
                self.consumers[consumer as usize].current = Some(cur);
                self.kernel
                    .schedule_in(dt, Ev::ProcessDone { consumer, token });
                return;
            }
            let dead_lettered = policy == OnFailure::DeadLetter;
            if dead_lettered && let Some(dlt) = self.groups[g as usize].dlt_producer {
                self.dead_letter(dlt, cur.event);
            }
            let e = self.events[cur.event as usize];
            self.observe(Observation::GaveUp {
                event: cur.event,
                group: g,
                consumer,
                dead_lettered,
                key: e.key,
                value: e.value,
            });
        } else if self.groups[g as usize].commit == CommitMode::InTransaction {
            if cur.revoked {
                // The partition is gone: its next owner processes this
                // record, in its own transaction; nothing of it here.
            } else {
                // The service's state changes and what it emits commit with
                // its offsets in one Kafka transaction, as a Kafka Streams task
                // does (its state store's changelog is written in the
                // transaction): emitted now, applied at commit.
                if self.would_apply(g, cur.event) {
                    self.emit(consumer, cur.event, EmitMode::Outbox);
                }
                deferred = Some(cur.event);
            }
        } else if self.groups[g as usize].commit == CommitMode::AtomicWithEffect
            && !self.in_generation(consumer)
        {
            // The transaction's offset commit is fenced (the consumer was
            // expelled), so the whole transaction aborts: no effect.
        } else if self.apply_effect(consumer, cur.part, cur.event) {
            self.emit(consumer, cur.event, EmitMode::Outbox);
        }
        let commit = self.groups[g as usize].commit;
        if commit == CommitMode::InTransaction {
            if !cur.revoked {
                self.txn_offset(consumer, cur.part, cur.offset + 1, deferred);
            }
            self.txn_between_records(consumer);
        }
        if !cur.revoked {
            let c = &mut self.consumers[consumer as usize];
            if let Some(i) = c.idx(cur.part) {
                c.dirty.insert(i as u32);
                c.parts[i].processed = cur.offset + 1;
                if commit == CommitMode::AtomicWithEffect {
                    // Effect and offset commit in one transaction.
                    self.commit(consumer, cur.part, cur.offset + 1);
                }
            }
        } else if matches!(
            commit,
            CommitMode::AfterProcess | CommitMode::AtomicWithEffect
        ) || (commit == CommitMode::Auto
            && self.groups[g as usize].client == ConsumerClient::Java)
        {
            // Revoked while processing: the revocation callback waits for
            // this event and commits it (the rebalance waits too).
            self.commit(consumer, cur.part, cur.offset + 1);
        }
        self.next_record(consumer);
    }

    /// Go on with the batch in hand, or poll for the next one (unless the
    /// consumer's transaction is committing).
    pub(crate) fn next_record(&mut self, consumer: u32) {
        if self.txn_busy(consumer) {
            self.consumers[consumer as usize].txn_waiting = true;
            return;
        }
        let commit = self.groups[self.consumers[consumer as usize].group as usize].commit;
        if self.consumers[consumer as usize].batch.is_empty() {
            if commit == CommitMode::AfterProcess {
                self.commit_processed(consumer);
            }
            self.poll(consumer);
        } else {
            self.start_next(consumer);
        }
    }

    /// Whether the consumer is a member of its group's current generation.
    pub(crate) fn in_generation(&self, consumer: u32) -> bool {
        let c = &self.consumers[consumer as usize];
        let grp = &self.groups[c.group as usize];
        c.generation == grp.generation && grp.is_member(consumer)
    }

    /// Whether the idempotency guard would let `event`'s effect through.
    fn would_apply(&self, g: u32, event: EventId) -> bool {
        let grp = &self.groups[g as usize];
        if let Some(saga) = &grp.saga {
            let e = &self.events[event as usize];
            if saga.fences(event, e.event_type, e.origin) {
                return false;
            }
        }
        match grp.idempotency {
            Idempotency::None => true,
            Idempotency::Dedup => !grp.dedup.contains(event),
            Idempotency::Version => {
                let e = &self.events[event as usize];
                e.version > grp.versions.get(e.key)
            }
        }
    }

    /// Apply `event`'s effect to the consumer's group state, unless the
    /// idempotency guard stops it. Returns whether it was applied.
    pub(crate) fn apply_effect(&mut self, consumer: u32, partition: u32, event: EventId) -> bool {
        let g = self.consumers[consumer as usize].group;
        let e = self.events[event as usize];
        if !self.would_apply(g, event) {
            self.observe(Observation::Skipped {
                event,
                group: g,
                consumer,
            });
            return false;
        }
        let grp = &mut self.groups[g as usize];
        match grp.idempotency {
            Idempotency::None => {}
            Idempotency::Dedup => {
                grp.dedup.insert(event);
                if let Some(cap) = grp.dedup_capacity {
                    grp.dedup_fifo.push_back(event);
                    if grp.dedup_fifo.len() as u64 > cap {
                        let old = grp.dedup_fifo.pop_front().expect("over capacity");
                        grp.dedup.remove(old);
                    }
                }
            }
            Idempotency::Version => *grp.versions.get_mut(e.key) = e.version,
        }
        // The effect on the service's state is the observation: the
        // checkers fold it (`convergence`), so the model keeps no copy.
        let origin_created_ns = e.origin_created_ns;
        self.observe(Observation::Applied {
            event,
            group: g,
            consumer,
            partition,
            producer: u32::from(e.producer),
            key: e.key,
            version: e.version,
            value: e.value,
            created_ns: e.created_ns,
            origin_created_ns,
        });
        true
    }

    /// Emit the events the group's service emits on processing `source` in `mode`.
    fn emit(&mut self, consumer: u32, source: EventId, mode: EmitMode) {
        let g = self.consumers[consumer as usize].group as usize;
        let e = self.events[source as usize];
        for i in 0..self.groups[g].emits.len() {
            let rule = self.groups[g].emits[i];
            if rule.mode != mode || rule.on.is_some_and(|t| t != e.event_type) {
                continue;
            }
            let prod = &mut self.producers[rule.producer as usize];
            let part = prod.chooser.choose(e.key, u64::from(e.size), &mut prod.rng);
            // In a transaction, the consumer's own producer writes it (it
            // writes to every partition, so the partition is global).
            let (producer, part) = match self.consumers[consumer as usize].txn_producer {
                Some(own) => (own, prod.first_part + part),
                None => (rule.producer, part),
            };
            // The business outcome: a function of the source event, the
            // group and the rule, so processing it again decides the same.
            let event_type = match rule.failure {
                Some((failed, p))
                    if outcome_unit(self.outcome_salt, source, g as u32, i as u32) < p =>
                {
                    failed
                }
                _ => rule.event_type,
            };
            let record = NewRecord {
                key: e.key,
                part_in_topic: part,
                size: u64::from(e.size),
                event_type,
                origin: Some((e.origin, e.origin_created_ns)),
                value: None,
                intended_ns: None,
            };
            self.emit_record(consumer, source, producer, record, i as u32);
        }
        if mode == EmitMode::Outbox && self.groups[g].saga.is_some() {
            self.saga_on(consumer, source);
        }
    }

    /// Create `record` from `producer` as the group's service's emission
    /// while processing `source`, by its emit rule number `rule` (its
    /// causal identity with `source` and the group).
    pub(crate) fn emit_record(
        &mut self,
        consumer: u32,
        source: EventId,
        producer: u32,
        record: NewRecord,
        rule: u32,
    ) {
        let group = self.consumers[consumer as usize].group;
        let id = self.create_event(producer, record);
        self.observe(Observation::Emitted {
            event: id,
            source,
            group,
            consumer,
            rule,
        });
    }

    /// `auto_offset_reset = "none"`: poll() throws OffsetOutOfRangeException,
    /// naming every partition it could not reset, and the application stops; the group moves its partitions
    /// after the session timeout, as for a crash.
    fn reset_refused(&mut self, consumer: u32) {
        let group = self.consumers[consumer as usize].group;
        let mut refused = std::mem::take(&mut self.consumers[consumer as usize].reset_error);
        // Only partitions it still holds (a rebalance may have moved one).
        refused.retain(|&(part, _)| self.consumers[consumer as usize].idx(part).is_some());
        if refused.is_empty() {
            return self.poll(consumer);
        }
        for (partition, offset) in refused {
            self.observe(Observation::ResetRefused {
                group,
                consumer,
                partition,
                offset,
            });
        }
        let node = self.consumers[consumer as usize].node.0;
        self.crash(node);
    }

    /// Start a (re)joining consumer's auto-commit clock.
    pub(crate) fn start_auto_commit(&mut self, consumer: u32) {
        let now = self.now();
        let c = &mut self.consumers[consumer as usize];
        let grp = &self.groups[c.group as usize];
        if grp.commit != CommitMode::Auto {
            return;
        }
        let interval = grp.auto_commit_interval_ns;
        match grp.client {
            ConsumerClient::Java => {
                c.auto_commit_due_ns = now + interval;
                c.auto_commit_timer = false;
            }
            ConsumerClient::Librdkafka => {
                let token = c.token;
                self.kernel
                    .schedule_in(interval, Ev::AutoCommit { consumer, token });
            }
        }
    }

    /// Idle in the Java client's poll(): its auto-commit still fires when due.
    fn idle_auto_commit(&mut self, consumer: u32) {
        let c = &mut self.consumers[consumer as usize];
        let grp = &self.groups[c.group as usize];
        if grp.commit == CommitMode::Auto
            && grp.client == ConsumerClient::Java
            && !c.auto_commit_timer
        {
            c.auto_commit_timer = true;
            let (due, token) = (c.auto_commit_due_ns.max(self.kernel.now()), c.token);
            self.kernel
                .schedule_at(due, Ev::AutoCommit { consumer, token });
        }
    }

    /// Java auto-commit, inside `poll()`: when the interval has elapsed,
    /// commit the positions, i.e. everything earlier polls returned
    /// (`ConsumerCoordinator.maybeAutoCommitOffsetsAsync`).
    fn auto_commit_in_poll(&mut self, consumer: u32) {
        let now = self.now();
        let c = &self.consumers[consumer as usize];
        if now < c.auto_commit_due_ns {
            return;
        }
        let interval = self.groups[c.group as usize].auto_commit_interval_ns;
        self.consumers[consumer as usize].auto_commit_due_ns = now + interval;
        self.commit_positions(consumer);
    }

    pub(crate) fn on_auto_commit(&mut self, consumer: u32, token: u32) {
        let c = &mut self.consumers[consumer as usize];
        if c.token != token {
            return;
        }
        let grp = &self.groups[c.group as usize];
        let interval = grp.auto_commit_interval_ns;
        if grp.client == ConsumerClient::Java {
            // An idle poll()'s timer: commit if still idle (a busy consumer
            // commits in its next poll).
            c.auto_commit_timer = false;
            if c.waiting {
                self.auto_commit_in_poll(consumer);
            }
            return;
        }
        // librdkafka's background timer: the stored offsets, i.e. of every
        // message handed to the application, processed or not; with
        // `enable.auto.offset.store = false`, of what it processed.
        if grp.auto_offset_store {
            self.commit_positions(consumer);
        } else {
            self.commit_processed(consumer);
        }
        self.kernel
            .schedule_in(interval, Ev::AutoCommit { consumer, token });
    }

    /// Commit the position (everything polled) of every assigned partition.
    pub(crate) fn commit_positions(&mut self, consumer: u32) {
        self.commit_dirty(consumer, |cp| cp.position);
    }

    /// Commit what has been processed on every assigned partition.
    fn commit_processed(&mut self, consumer: u32) {
        self.commit_dirty(consumer, |cp| cp.processed);
    }

    /// Commit `offset(partition)` of every assigned partition, in partition
    /// order; only those that moved since their last commit can differ
    /// from it, so only those are visited. A commit the coordinator
    /// refuses (an old generation) stays due.
    fn commit_dirty(&mut self, consumer: u32, offset: impl Fn(&CPart) -> u64) {
        let mut cursor = 0;
        while let Some(i) = self.consumers[consumer as usize].dirty.next_from(cursor) {
            cursor = i + 1;
            let cp = &self.consumers[consumer as usize].parts[i as usize];
            let (part, offset) = (cp.part, offset(cp));
            if self.commit(consumer, part, offset) {
                self.consumers[consumer as usize].dirty.remove(i);
            }
        }
    }
}

fn c_group(w: &World, consumer: u32) -> u32 {
    w.consumers[consumer as usize].group
}

/// A uniform number in [0, 1) that depends only on its inputs: SplitMix64's
/// finalizer over the salt, the source event, the group and the rule, then
/// the top 53 bits (as [`super::variates::unit`] turns a word into one).
pub(crate) fn outcome_unit(salt: u64, source: EventId, group: u32, rule: u32) -> f64 {
    let mut z = salt
        ^ u64::from(source).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (u64::from(group) << 32 | u64::from(rule)).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}
