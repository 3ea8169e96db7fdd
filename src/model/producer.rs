//! Producers: arrival process, partitioner, record accumulator, produce
//! requests with acks, retries, timeouts and the idempotent producer.
//!
//! Records wait per partition in sequence order; a request carries a
//! contiguous run of sequence numbers (a batch) and is retried whole. With
//! `max_in_flight > 1` and no idempotence, a retried batch can land after a
//! later one (per-key reordering) and a timed-out batch that did land is
//! appended again (duplicates), exactly as in Kafka.

use super::buffer::{Offer, Pending};
use super::dist::{KeySampler, Sampler};
use super::network::Node;
use super::partitioner::PartitionChooser;
use super::{Ev, EventMeta, ProduceResult, World};
use crate::history::{EventId, KeyId, Observation, TOMBSTONE};
use crate::kernel::{Rng, Time};
use crate::model::variates;
use crate::scenario::{Acks, Arrival, ProducerClient};

/// What a new record is: its key, partition (in the producer's topic),
/// size and type, the origin of the chain it was caused by and when that
/// origin was created (none: it is an origin), and
/// its value (none: drawn; `TOMBSTONE`: a delete).
pub(crate) struct NewRecord {
    pub key: KeyId,
    pub part_in_topic: u32,
    pub size: u64,
    pub event_type: u16,
    pub origin: Option<(EventId, Time)>,
    pub value: Option<u32>,
    /// When the application wanted to send it, if earlier than now (its
    /// `send()` blocked for room in the buffer): its creation time.
    pub intended_ns: Option<Time>,
}

pub(crate) struct ArrivalRt {
    pub kind: Arrival,
    pub mean_gap_ns: f64,
    pub on_ns: Time,
    pub off_ns: Time,
    pub start_ns: Time,
    pub stop_ns: Time,
}

/// Per partition state of a producer.
///
/// Sequence numbers here are indices into `seq_events`, for the producer's
/// whole life. Kafka restarts sequences at 0 when it bumps the epoch; here
/// an epoch's sequence 0 is `seq_base`, and the broker checks a new epoch's
/// first batch against it.
pub(crate) struct ProdPart {
    /// Event of each sequence number sent to this partition (what a request carries).
    pub seq_events: super::window::Window<EventId>,
    /// First sequence number not yet in a request.
    pub queued_from: u32,
    pub queued_bytes: u64,
    pub in_flight: u32,
    pub linger_pending: bool,
    /// Idempotence: the producer epoch this partition's batches carry.
    pub epoch: u32,
    /// Idempotence: the sequence that starts `epoch`.
    pub seq_base: u32,
    /// Idempotence: the last sequence acknowledged in `epoch` (-1: none).
    pub last_acked: i64,
    /// Requests waiting to be retried (`Backoff` or `Ready`); an idempotent
    /// producer sends no new batch to the partition meanwhile.
    pub retrying: u32,
    /// Idempotence: a batch was abandoned after it was sent, so whether it
    /// is in the log is unknown; holds the sequence after it. New batches
    /// wait until the partition drains (Kafka's "unresolved sequence").
    pub unresolved: Option<u32>,
}

impl Default for ProdPart {
    fn default() -> Self {
        ProdPart {
            seq_events: Default::default(),
            queued_from: 0,
            queued_bytes: 0,
            in_flight: 0,
            linger_pending: false,
            epoch: 0,
            seq_base: 0,
            last_acked: -1,
            unresolved: None,
            retrying: 0,
        }
    }
}

pub(crate) struct ProducerRt {
    pub node: Node,
    pub first_part: u32,
    pub event_type: u16,
    pub client: ProducerClient,
    pub arrival: Option<ArrivalRt>,
    pub rng: Rng,
    pub keys: Option<KeySampler>,
    /// The id of the producer's key number 0 (its keys' ids follow).
    pub first_key: KeyId,
    pub chooser: PartitionChooser,
    pub payload: Sampler,
    pub parts: Vec<ProdPart>,
    /// Requests not yet resolved.
    pub live: Vec<u32>,
    pub timer_pending: bool,
    /// An `Arrival` event is in the queue.
    pub arrival_pending: bool,
    /// The next producer epoch to hand out (epochs are unique per producer
    /// and only grow; a restart's new producer id is a new epoch here).
    pub next_epoch: u32,
    /// Fraction of records that are tombstones.
    pub tombstones: f64,
    /// An outbox relay: its records are in the service's database, so a
    /// crash loses none of them; it sends again, after it restarts, every
    /// record not acknowledged (at least once: some may be in the log
    /// already).
    pub outbox: bool,
    /// A transactional producer's transactions (KIP-98).
    pub txn: Option<Box<super::txn::TxnRt>>,
    /// Its buffer memory (`buffer.memory`, `max.block.ms`), for a producer
    /// the application feeds.
    pub pool: Option<Box<super::buffer::BufferPool<NewRecord>>>,
    /// Its wait before a retry (`retry.backoff.ms`, `retry.backoff.max.ms`).
    pub backoff: super::backoff::RetryBackoff,
}

impl ProducerRt {
    /// No record waiting and no request outstanding.
    pub fn idle(&self) -> bool {
        self.live.is_empty()
            && self.txn.as_ref().is_none_or(|t| t.idle())
            && self
                .parts
                .iter()
                .all(|p| p.queued_from as usize == p.seq_events.len())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReqState {
    Free,
    Sent,
    /// Waiting out `retry_backoff` after a failed attempt.
    Backoff,
    /// Backoff over, waiting its turn: an idempotent producer retries a
    /// partition's batches one at a time, lowest sequence first.
    Ready,
    Resolved,
}

/// A produce request: an immutable batch plus its attempt bookkeeping.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request {
    pub producer: u32,
    /// Global partition index.
    pub part: u32,
    pub first_seq: u32,
    pub count: u32,
    /// The broker the current attempt went to (its connection), and when.
    pub broker: u32,
    pub sent_ns: Time,
    /// Producer epoch of the current attempt, and the sequence that starts it.
    pub epoch: u32,
    pub seq_base: u32,
    pub attempt: u32,
    /// Messages in the network (or the broker's queue) that refer to this slot.
    pub copies: u32,
    pub state: ReqState,
    pub deadline_ns: Time,
    pub first_created_ns: Time,
    /// A transactional producer's transaction number at the last attempt.
    pub txn: u32,
}

impl World {
    pub(crate) fn on_arrival(&mut self, p: u32) {
        let now = self.now();
        let prod = &mut self.producers[p as usize];
        prod.arrival_pending = false;
        let Some(arrival) = &prod.arrival else { return };
        if now >= arrival.stop_ns {
            return;
        }
        let keys = prod
            .keys
            .as_mut()
            .expect("a producer with arrivals has keys");
        let key_num = keys.sample(&mut prod.rng);
        let size = prod.payload.sample(&mut prod.rng).max(1);
        let key = prod.first_key + key_num;
        let part_in_topic = prod.chooser.choose(key, size, &mut prod.rng);
        let gap = next_gap(arrival, now, &mut prod.rng);
        let event_type = prod.event_type;
        let tombstone = prod.tombstones > 0.0 && variates::chance(&mut prod.rng, prod.tombstones);
        if let Some(at) = gap {
            self.producers[p as usize].arrival_pending = true;
            self.kernel.schedule_at(at, Ev::Arrival { producer: p });
        }
        let value = tombstone.then_some(TOMBSTONE);
        let record = NewRecord {
            key,
            part_in_topic,
            size,
            event_type,
            origin: None,
            value,
            intended_ns: None,
        };
        self.send_to_buffer(p, record);
    }

    /// The application calls `send()`: the record goes to the accumulator
    /// if the buffer has room, else waits (`max.block.ms`).
    fn send_to_buffer(&mut self, p: u32, record: NewRecord) {
        let now = self.now();
        let Some(pool) = self.producers[p as usize].pool.as_mut() else {
            self.create_event(p, record);
            return;
        };
        match pool.offer(now, record.size, record) {
            Offer::Admitted(r) => {
                self.create_event(p, r.record);
            }
            Offer::Waiting(deadline) => self.max_block_at(p, deadline),
            Offer::Refused => {}
        }
    }

    fn max_block_at(&mut self, p: u32, deadline: Option<Time>) {
        if let Some(at) = deadline {
            self.kernel.schedule_at(at, Ev::MaxBlock { producer: p });
        }
    }

    /// The records whose `send()` returned: created, with their intended
    /// time as their creation.
    fn admitted(&mut self, p: u32, out: (Vec<Pending<NewRecord>>, Option<Time>)) {
        let (records, deadline) = out;
        for r in records {
            let intended = r.intended_ns;
            self.create_event(
                p,
                NewRecord {
                    intended_ns: Some(intended),
                    ..r.record
                },
            );
        }
        self.max_block_at(p, deadline);
    }

    /// A `send()` blocked since its call may give up (`max.block.ms`).
    pub(crate) fn on_max_block(&mut self, p: u32) {
        let now = self.now();
        if let Some(pool) = self.producers[p as usize].pool.as_mut() {
            let out = pool.expire(now);
            self.admitted(p, out);
        }
    }

    /// Create an event and hand it to producer `p`'s accumulator.
    pub(crate) fn create_event(&mut self, p: u32, r: NewRecord) -> EventId {
        let NewRecord {
            key,
            part_in_topic,
            size,
            event_type,
            origin,
            value,
            intended_ns,
        } = r;
        let now = intended_ns.unwrap_or(self.now());
        let id = self.events.len() as EventId;
        let version = {
            let v = self.key_versions.get_mut(key);
            *v += 1;
            *v
        };
        let prod = &mut self.producers[p as usize];
        let partition = prod.first_part + part_in_topic;
        let drawn = variates::below(&mut prod.rng, 1000) as u32 + 1;
        let value = value.unwrap_or(drawn);
        let (origin, origin_created_ns) = match origin {
            Some(o) => o,
            None => (id, now),
        };
        self.events.push(EventMeta {
            created_ns: now,
            origin_created_ns,
            origin,
            key,
            version,
            value,
            size: size.min(u64::from(u32::MAX)) as u32,
            event_type,
            producer: p as u16,
        });
        let pp = &mut prod.parts[part_in_topic as usize];
        pp.seq_events.push(id);
        pp.queued_bytes += size;
        let transactional = prod.txn.is_some();
        self.observe(Observation::Produced {
            event: id,
            producer: p,
            partition,
            key,
            event_type,
            origin,
            origin_created_ns,
        });
        if transactional {
            self.txn_add(p, id, partition);
        }
        self.try_send(p, part_in_topic);
        id
    }

    /// Send batches for one partition while in-flight slots allow.
    pub(crate) fn try_send(&mut self, p: u32, part_in_topic: u32) {
        if !self.is_up(self.producers[p as usize].node) {
            return; // records wait (an emitter's outbox) until it is back
        }
        loop {
            let now = self.now();
            let prod = &mut self.producers[p as usize];
            let max_in_flight = prod.client.max_in_flight;
            let batch_size = prod.client.batch_size;
            let linger = prod.client.linger.ns();
            // A transactional producer sends only the open transaction's
            // records; a transaction being committed is flushed at once.
            let (txn_limit, flushing) = prod.txn.as_ref().map_or((u32::MAX, false), |t| {
                (t.limit[part_in_topic as usize], t.ending)
            });
            let pp = &mut prod.parts[part_in_topic as usize];
            let queued_to = (pp.seq_events.len() as u32).min(txn_limit);
            let held = prod.client.idempotent && (pp.unresolved.is_some() || pp.retrying > 0);
            if pp.in_flight >= max_in_flight || pp.queued_from >= queued_to || held {
                return;
            }
            if linger > 0 && pp.queued_bytes < batch_size && !flushing {
                let oldest =
                    self.events[pp.seq_events[pp.queued_from as usize] as usize].created_ns;
                if now < oldest + linger {
                    if !pp.linger_pending {
                        pp.linger_pending = true;
                        self.kernel.schedule_at(
                            oldest + linger,
                            Ev::Linger {
                                producer: p,
                                part: part_in_topic,
                            },
                        );
                    }
                    return;
                }
            }
            // Form a batch of up to batch_size bytes (at least one record).
            let first_seq = pp.queued_from;
            let mut bytes = 0u64;
            let mut count = 0u32;
            while first_seq + count < queued_to {
                let size = u64::from(
                    self.events[pp.seq_events[(first_seq + count) as usize] as usize].size,
                );
                if count > 0 && bytes + size > batch_size {
                    break;
                }
                bytes += size;
                count += 1;
            }
            pp.queued_from += count;
            pp.queued_bytes = pp.queued_bytes.saturating_sub(bytes);
            pp.in_flight += 1;
            let first_created_ns =
                self.events[pp.seq_events[first_seq as usize] as usize].created_ns;
            let request = Request {
                producer: p,
                part: prod.first_part + part_in_topic,
                first_seq,
                count,
                broker: 0,
                sent_ns: 0,
                epoch: 0,
                seq_base: 0,
                attempt: 0,
                copies: 0,
                state: ReqState::Sent,
                deadline_ns: 0,
                first_created_ns,
                txn: 0,
            };
            let req = self.alloc_request(request);
            self.producers[p as usize].live.push(req);
            self.send_request(req);
        }
    }

    pub(crate) fn on_linger(&mut self, p: u32, part_in_topic: u32) {
        self.producers[p as usize].parts[part_in_topic as usize].linger_pending = false;
        self.try_send(p, part_in_topic);
    }

    fn alloc_request(&mut self, r: Request) -> u32 {
        if let Some(i) = self.free_requests.pop() {
            self.requests[i as usize] = r;
            i
        } else {
            self.requests.push(r);
            (self.requests.len() - 1) as u32
        }
    }

    /// Release a request slot once it is resolved and nothing refers to it.
    pub(crate) fn maybe_free(&mut self, req: u32) {
        let r = &mut self.requests[req as usize];
        if r.state == ReqState::Resolved && r.copies == 0 {
            r.state = ReqState::Free;
            self.free_requests.push(req);
        }
    }

    fn send_request(&mut self, req: u32) {
        let now = self.now();
        let r = &mut self.requests[req as usize];
        r.attempt += 1;
        r.copies += 1;
        r.state = ReqState::Sent;
        r.sent_ns = now;
        let prod = &self.producers[r.producer as usize];
        r.deadline_ns = now + prod.client.request_timeout.ns();
        let (p, part) = (r.producer, r.part);
        let part_in_topic = (part - prod.first_part) as usize;
        let transactional = prod.txn.is_some();
        // Stamped at each attempt: a batch retried after an epoch bump
        // carries the new epoch (Kafka rewrites in-flight batches' sequences).
        r.epoch = prod.parts[part_in_topic].epoch;
        r.seq_base = prod.parts[part_in_topic].seq_base;
        if transactional {
            let number = self.txn_register(p, part);
            self.requests[req as usize].txn = number;
        }
        let r = &mut self.requests[req as usize];
        let prod = &self.producers[r.producer as usize];
        // The producer sends to the leader its metadata names (the current
        // one, or the last one while the partition is offline).
        let broker = self.cluster.parts[part as usize].leader_broker();
        r.broker = broker;
        let from = prod.node;
        let to = self.net.broker(broker);
        let attempt = r.attempt;
        let (first_seq, count) = (r.first_seq, r.count);
        let first_event = prod.parts[part_in_topic].seq_events[first_seq as usize];
        self.observe(Observation::Sent {
            producer: p,
            partition: part,
            first_event,
            count,
            attempt,
        });
        let bytes = if self.net.counts_bytes() {
            let pp = &self.producers[p as usize].parts[part_in_topic];
            (first_seq..first_seq + count)
                .map(|q| u64::from(self.events[pp.seq_events[q as usize] as usize].size))
                .sum()
        } else {
            0
        };
        match self.net.deliver_at(now, from, to, bytes) {
            Some(at) => {
                let ev = Ev::ProduceArrive {
                    req,
                    attempt,
                    broker,
                };
                self.kernel.schedule_at(at, ev);
                if self.net.duplicates(from, to) {
                    // The connection drops once the request has arrived: the
                    // response is lost and the producer retries at once
                    // (after its backoff), so the broker sees it twice.
                    self.requests[req as usize].copies += 1;
                    self.kernel
                        .schedule_at(at, Ev::ProduceDisconnect { req, attempt });
                }
            }
            // Lost in a partition: the request timeout will notice.
            None => self.requests[req as usize].copies -= 1,
        }
        if self.producers[p as usize].client.acks == Acks::None {
            // acks = 0: the send is the acknowledgement.
            self.resolve(req, true);
            return;
        }
        let prod = &mut self.producers[p as usize];
        if !prod.timer_pending {
            prod.timer_pending = true;
            let deadline = self.requests[req as usize].deadline_ns;
            self.kernel
                .schedule_at(deadline, Ev::TimeoutCheck { producer: p });
        }
    }

    /// Tell how a record ended for its producer: acknowledged (`ok`) or failed.
    pub(crate) fn observe_outcome(&mut self, p: u32, event: EventId, partition: u32, ok: bool) {
        let e = self.events[event as usize];
        self.observe(if ok {
            Observation::Acked {
                event,
                producer: p,
                partition,
                key: e.key,
                version: e.version,
                value: e.value,
                created_ns: e.created_ns,
            }
        } else {
            Observation::ProduceFailed { event, producer: p }
        });
        let now = self.now();
        if let Some(pool) = self.producers[p as usize].pool.as_mut() {
            let out = pool.release(now, u64::from(e.size));
            self.admitted(p, out);
        }
    }

    /// The request is done: acknowledged (`ok`) or abandoned.
    fn resolve(&mut self, req: u32, ok: bool) {
        let r = self.requests[req as usize];
        debug_assert!(r.state != ReqState::Resolved && r.state != ReqState::Free);
        self.requests[req as usize].state = ReqState::Resolved;
        let p = r.producer;
        let part_in_topic = r.part - self.producers[p as usize].first_part;
        // A transactional producer's records are acknowledged (or fail)
        // when their transaction ends.
        let transactional = self.producers[p as usize].txn.is_some();
        for seq in (r.first_seq..r.first_seq + r.count).filter(|_| !transactional) {
            let event =
                self.producers[p as usize].parts[part_in_topic as usize].seq_events[seq as usize];
            self.observe_outcome(p, event, r.part, ok);
        }
        let prod = &mut self.producers[p as usize];
        let idempotent = prod.client.idempotent;
        let pp = &mut prod.parts[part_in_topic as usize];
        if idempotent {
            let last = i64::from(r.first_seq + r.count) - 1;
            if ok && r.epoch == pp.epoch {
                pp.last_acked = pp.last_acked.max(last);
            } else if !ok {
                let next = r.first_seq + r.count;
                pp.unresolved = Some(pp.unresolved.map_or(next, |u| u.max(next)));
            }
        }
        if let Some(i) = prod.live.iter().position(|&x| x == req) {
            prod.live.swap_remove(i);
        }
        prod.parts[part_in_topic as usize].in_flight -= 1;
        if matches!(r.state, ReqState::Backoff | ReqState::Ready) {
            prod.parts[part_in_topic as usize].retrying -= 1;
        }
        self.maybe_free(req);
        if idempotent {
            self.maybe_resolve_sequences(p, part_in_topic);
        }
        self.send_ready(p, r.part);
        self.try_send(p, part_in_topic);
        if transactional {
            self.txn_resolved(p, r.txn, r.count, ok);
        }
    }

    /// Once a partition with an abandoned batch has nothing in flight: if a
    /// later batch was acknowledged, the abandoned one is in the log and all
    /// is well; otherwise bump the epoch, so that sequences start afresh
    /// (Kafka's `maybeResolveSequences`).
    fn maybe_resolve_sequences(&mut self, p: u32, part_in_topic: u32) {
        let pp = &mut self.producers[p as usize].parts[part_in_topic as usize];
        let Some(next) = pp.unresolved else { return };
        if pp.in_flight > 0 {
            return;
        }
        if pp.last_acked >= i64::from(next) - 1 {
            pp.unresolved = None;
        } else {
            self.bump_epoch(p, part_in_topic);
        }
    }

    /// Bump the idempotent producer's epoch for one partition: the
    /// sequences of the batches not yet acknowledged start again from the
    /// lowest of them (Kafka: `startSequencesAtBeginning`).
    fn bump_epoch(&mut self, p: u32, part_in_topic: u32) {
        let prod = &mut self.producers[p as usize];
        let part = prod.first_part + part_in_topic;
        let lowest_live = prod
            .live
            .iter()
            .map(|&req| &self.requests[req as usize])
            .filter(|r| r.part == part)
            .map(|r| r.first_seq)
            .min();
        let epoch = prod.next_epoch;
        prod.next_epoch += 1;
        let pp = &mut prod.parts[part_in_topic as usize];
        pp.epoch = epoch;
        pp.seq_base = lowest_live.unwrap_or(pp.queued_from);
        pp.last_acked = i64::from(pp.seq_base) - 1;
        pp.unresolved = None;
    }

    pub(crate) fn on_produce_response(&mut self, req: u32, attempt: u32, result: ProduceResult) {
        let r = &mut self.requests[req as usize];
        r.copies -= 1;
        if r.state != ReqState::Sent || r.attempt != attempt {
            // A response to an attempt the producer already timed out.
            self.maybe_free(req);
            return;
        }
        let r = self.requests[req as usize];
        if self.answered_out_of_order(&r) {
            // A connection answers in request order (TCP, and Kafka's
            // broker handles a connection's requests one at a time): an
            // earlier request of this partition on it got no answer, so its
            // response was lost and the connection with it. Every attempt
            // on it fails, this one included.
            self.disconnect(r.producer, r.broker);
            self.maybe_free(req);
            return;
        }
        match result {
            ProduceResult::Ok | ProduceResult::Duplicate => self.resolve(req, true),
            ProduceResult::OutOfOrderSequence => {
                self.on_out_of_order(req);
                self.fail_attempt(req);
            }
            ProduceResult::NotEnoughReplicas
            | ProduceResult::NotEnoughReplicasAfterAppend
            | ProduceResult::InvalidProducerEpoch
            | ProduceResult::NotLeader => self.fail_attempt(req),
            // Fatal for the transaction: it can only abort.
            ProduceResult::InvalidTxnState => self.resolve(req, false),
            // Not retriable (InvalidTimestampException): the batch fails.
            ProduceResult::InvalidTimestamp => self.resolve(req, false),
        }
    }

    /// Whether an attempt of the same partition with lower sequences, sent
    /// earlier on the same connection, is still unanswered. The broker
    /// handles a partition's requests from one connection in order and
    /// answers acks=all in offset order, so such an answer was lost. (A
    /// retried lower batch answered before higher ones sent earlier is not
    /// out of order here: its duplicate is answered as soon as the high
    /// watermark covers it.)
    fn answered_out_of_order(&self, r: &Request) -> bool {
        let prod = &self.producers[r.producer as usize];
        if prod.parts[(r.part - prod.first_part) as usize].in_flight < 2 {
            return false;
        }
        prod.live.iter().any(|&o| {
            let q = &self.requests[o as usize];
            q.part == r.part
                && q.broker == r.broker
                && q.state == ReqState::Sent
                && q.sent_ns < r.sent_ns
                && q.first_seq < r.first_seq
        })
    }

    /// OUT_OF_ORDER_SEQUENCE_NUMBER, as the Java producer handles it
    /// (`TransactionManager.canRetry`): if the batch is not the next one
    /// expected, an earlier batch is still unresolved, so just retry; if it
    /// is (or it follows an abandoned batch), there is a gap in the log (an
    /// acknowledged batch was lost), so bump the epoch and retry.
    fn on_out_of_order(&mut self, req: u32) {
        let r = self.requests[req as usize];
        let prod = &self.producers[r.producer as usize];
        let part_in_topic = r.part - prod.first_part;
        let pp = &prod.parts[part_in_topic as usize];
        if r.epoch != pp.epoch {
            return; // stamped before a bump: its retry carries the new epoch
        }
        let gap = match pp.unresolved {
            None => i64::from(r.first_seq) == pp.last_acked + 1,
            Some(next) => r.first_seq == next,
        };
        if gap {
            self.bump_epoch(r.producer, part_in_topic);
        }
    }

    /// An attempt failed (error or timeout): retry after backoff, or give up.
    fn fail_attempt(&mut self, req: u32) {
        let now = self.now();
        let r = self.requests[req as usize];
        let client = &self.producers[r.producer as usize].client;
        let out_of_time = now.saturating_sub(r.first_created_ns) >= client.delivery_timeout.ns();
        if r.attempt > client.retries || out_of_time {
            self.resolve(req, false);
            return;
        }
        let prod = &mut self.producers[r.producer as usize];
        let backoff = prod.backoff.wait(r.attempt);
        prod.parts[(r.part - prod.first_part) as usize].retrying += 1;
        self.requests[req as usize].state = ReqState::Backoff;
        self.kernel.schedule_in(backoff, Ev::Retry { req });
    }

    /// The connection from producer `p` to `broker` closes (a request timed
    /// out, or it dropped): every attempt in flight on it fails and is
    /// retried, in sequence order (Kafka's NetworkClient disconnects a node
    /// on a request timeout, failing all its in-flight requests).
    fn disconnect(&mut self, p: u32, broker: u32) {
        let mut on_it: Vec<(u32, u32, u32)> = self.producers[p as usize]
            .live
            .iter()
            .map(|&req| (req, &self.requests[req as usize]))
            .filter(|(_, r)| r.state == ReqState::Sent && r.broker == broker)
            .map(|(req, r)| (r.part, r.first_seq, req))
            .collect();
        on_it.sort_unstable();
        for (_, _, req) in on_it {
            if self.requests[req as usize].state == ReqState::Sent {
                self.fail_attempt(req);
            }
        }
    }

    /// The connection carrying attempt `attempt` dropped after the request
    /// arrived: its response is lost, and the producer retries.
    pub(crate) fn on_produce_disconnect(&mut self, req: u32, attempt: u32) {
        let r = &mut self.requests[req as usize];
        r.copies -= 1;
        let r = *r;
        if r.state == ReqState::Sent && r.attempt == attempt {
            self.disconnect(r.producer, r.broker);
        }
        self.maybe_free(req);
    }

    pub(crate) fn on_retry(&mut self, req: u32) {
        let r = &mut self.requests[req as usize];
        if r.state == ReqState::Backoff {
            r.state = ReqState::Ready;
            let (p, part) = (r.producer, r.part);
            self.send_ready(p, part);
        }
    }

    /// Send the retries whose turn it is on a partition: an idempotent
    /// producer sends only the lowest unacknowledged batch while it retries
    /// (Kafka's accumulator drains a retried batch only if it is the first
    /// in flight), so that retries reach the broker in sequence order;
    /// otherwise every batch whose backoff is over.
    fn send_ready(&mut self, p: u32, part: u32) {
        let prod = &self.producers[p as usize];
        let part_in_topic = (part - prod.first_part) as usize;
        if prod.parts[part_in_topic].retrying == 0 {
            return;
        }
        let mut mine: Vec<(u32, u32, ReqState)> = prod
            .live
            .iter()
            .map(|&req| (req, &self.requests[req as usize]))
            .filter(|(_, r)| r.part == part)
            .map(|(req, r)| (r.first_seq, req, r.state))
            .collect();
        mine.sort_unstable_by_key(|&(seq, req, _)| (seq, req));
        let idempotent = prod.client.idempotent;
        for (_, req, state) in mine {
            if state == ReqState::Ready {
                self.producers[p as usize].parts[part_in_topic].retrying -= 1;
                self.send_request(req);
            }
            if idempotent {
                break;
            }
        }
    }

    pub(crate) fn on_timeout_check(&mut self, p: u32) {
        let now = self.now();
        self.producers[p as usize].timer_pending = false;
        let mut i = 0;
        while i < self.producers[p as usize].live.len() {
            let req = self.producers[p as usize].live[i];
            let r = &self.requests[req as usize];
            if r.state == ReqState::Sent && r.deadline_ns <= now {
                let broker = r.broker;
                self.disconnect(p, broker);
                // Attempts may have been resolved and removed: start over.
                i = 0;
                continue;
            }
            i += 1;
        }
        let next = self.producers[p as usize]
            .live
            .iter()
            .map(|&req| &self.requests[req as usize])
            .filter(|r| r.state == ReqState::Sent)
            .map(|r| r.deadline_ns)
            .min();
        if let Some(deadline) = next {
            self.producers[p as usize].timer_pending = true;
            self.kernel
                .schedule_at(deadline, Ev::TimeoutCheck { producer: p });
        }
    }

    /// Broker `broker` answers a request (acks = 0 gets no answer).
    pub(crate) fn respond(&mut self, broker: u32, req: u32, attempt: u32, result: ProduceResult) {
        let now = self.now();
        let r = &mut self.requests[req as usize];
        let prod = &self.producers[r.producer as usize];
        if prod.client.acks == Acks::None {
            return;
        }
        let Some(at) = self
            .net
            .deliver_at(now, self.net.broker(broker), prod.node, 0)
        else {
            return; // lost in a partition: the request timeout will notice
        };
        r.copies += 1;
        self.kernel.schedule_at(
            at,
            Ev::ProduceResponse {
                req,
                attempt,
                result,
            },
        );
    }

    /// The producer process dies: records not yet acknowledged fail (the
    /// application never learns their fate; requests already on the wire
    /// may still be appended), and its buffers and timers are gone.
    pub(crate) fn crash_producer(&mut self, p: u32) {
        if self.producers[p as usize].outbox {
            return self.crash_outbox_relay(p);
        }
        // A transactional producer's records fail with their transaction.
        let transactional = self.producers[p as usize].txn.is_some();
        let now = self.now();
        if let Some(pool) = self.producers[p as usize].pool.as_mut() {
            pool.reset(now);
        }
        let live = std::mem::take(&mut self.producers[p as usize].live);
        for req in live {
            let r = self.requests[req as usize];
            self.requests[req as usize].state = ReqState::Resolved;
            let part_in_topic = (r.part - self.producers[p as usize].first_part) as usize;
            for seq in (r.first_seq..r.first_seq + r.count).filter(|_| !transactional) {
                let event =
                    self.producers[p as usize].parts[part_in_topic].seq_events[seq as usize];
                self.observe(Observation::ProduceFailed { event, producer: p });
            }
            self.maybe_free(req);
        }
        for part_in_topic in 0..self.producers[p as usize].parts.len() {
            let pp = &mut self.producers[p as usize].parts[part_in_topic];
            let (from, to) = (pp.queued_from as usize, pp.seq_events.len());
            pp.queued_from = to as u32;
            pp.queued_bytes = 0;
            pp.in_flight = 0;
            pp.retrying = 0;
            for seq in (from..to).filter(|_| !transactional) {
                let event = self.producers[p as usize].parts[part_in_topic].seq_events[seq];
                self.observe(Observation::ProduceFailed { event, producer: p });
            }
        }
        self.txn_crash(p);
        // A new producer id on restart: the broker's sequence check starts over.
        for part_in_topic in 0..self.producers[p as usize].parts.len() as u32 {
            self.bump_epoch(p, part_in_topic);
        }
    }

    /// An outbox relay crashes: the requests it had sent are abandoned
    /// (their copies may still be appended), and every record not
    /// acknowledged goes back in its queue, in sequence order, to be sent
    /// again after the restart with a new producer id.
    fn crash_outbox_relay(&mut self, p: u32) {
        let live = std::mem::take(&mut self.producers[p as usize].live);
        let first_part = self.producers[p as usize].first_part;
        let mut unacked: Vec<(u32, u32, u32)> = Vec::new();
        for req in live {
            let r = self.requests[req as usize];
            self.requests[req as usize].state = ReqState::Resolved;
            unacked.push((r.part - first_part, r.first_seq, r.count));
            self.maybe_free(req);
        }
        unacked.sort_unstable();
        for part_in_topic in 0..self.producers[p as usize].parts.len() as u32 {
            let pp = &mut self.producers[p as usize].parts[part_in_topic as usize];
            let mut again: Vec<EventId> = Vec::new();
            for &(_, first, count) in unacked.iter().filter(|u| u.0 == part_in_topic) {
                again.extend((first..first + count).map(|seq| pp.seq_events[seq as usize]));
            }
            let end = pp.seq_events.len() as u32;
            again.extend((pp.queued_from..end).map(|seq| pp.seq_events[seq as usize]));
            pp.queued_from = end;
            pp.in_flight = 0;
            pp.retrying = 0;
            let mut bytes = 0;
            for &e in &again {
                pp.seq_events.push(e);
                bytes += u64::from(self.events[e as usize].size);
            }
            pp.queued_bytes = bytes;
            self.bump_epoch(p, part_in_topic);
        }
    }

    /// The producer process starts again: arrivals resume now.
    pub(crate) fn restart_producer(&mut self, p: u32) {
        let now = self.now();
        let prod = &mut self.producers[p as usize];
        if let Some(a) = &prod.arrival
            && now < a.stop_ns
            && !prod.arrival_pending
        {
            let at = now.max(a.start_ns);
            prod.arrival_pending = true;
            self.kernel.schedule_at(at, Ev::Arrival { producer: p });
        }
        self.txn_restart(p);
        for part_in_topic in 0..self.producers[p as usize].parts.len() as u32 {
            self.try_send(p, part_in_topic);
        }
    }
}

/// When the next arrival after `now` happens, if before the producer stops.
///
/// A gap too long for the run (a rate of 1e-300 makes it infinite) means
/// no further arrival: times saturate, they never wrap around to the past.
fn next_gap(a: &ArrivalRt, now: Time, rng: &mut Rng) -> Option<Time> {
    // A gap in ns as a time, saturating (`as` maps infinity to u64::MAX).
    let after = |gap: f64| now.saturating_add(gap.round() as Time);
    let at = match a.kind {
        Arrival::Constant => after(a.mean_gap_ns.max(1.0)),
        Arrival::Poisson => after(variates::exp1(rng) * a.mean_gap_ns),
        Arrival::Bursty => {
            let period = a.on_ns.saturating_add(a.off_ns).max(1);
            let mut t = after(variates::exp1(rng) * a.mean_gap_ns);
            // Skip the off part of the cycle: time spent off does not count.
            let phase = t.saturating_sub(a.start_ns) % period;
            if phase >= a.on_ns {
                t = t.saturating_add(period - phase);
            }
            t
        }
    };
    (at < a.stop_ns).then_some(at)
}
