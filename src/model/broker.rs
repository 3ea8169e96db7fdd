//! Brokers: partition logs, leader appends under a capacity limit,
//! follower replication by fetching, the ISR, the high watermark and
//! retention; and the fetch API that consumers use.
//!
//! Invariants (asserted): a log's end offset only grows while its replica
//! leads; the high watermark never exceeds the leader's log end and never
//! goes backwards; followers hold a prefix of the leader's log.

use super::dist::Sampler;
use super::{Ev, ProduceResult, World};
use crate::history::{EventId, Observation};
use crate::kernel::{Rng, Time};
use crate::scenario::{Acks, OffsetReset};
use std::collections::VecDeque;

/// Records a follower fetch returns at most.
const REPLICA_FETCH_MAX_RECORDS: u64 = 1000;

pub(crate) struct BrokerRt {
    /// The broker's append queue is busy until then (capacity model).
    pub busy_until: Time,
    pub ns_per_record: f64,
    pub append_latency: Sampler,
    pub rng: Rng,
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
}

impl ReplicaLog {
    #[inline]
    pub fn leo(&self) -> u64 {
        self.start + self.entries.len() as u64
    }
    #[inline]
    pub fn get(&self, offset: u64) -> EventId {
        self.entries[(offset - self.start) as usize]
    }
}

pub(crate) struct PartitionRt {
    /// Brokers holding a replica; position 0 is the preferred leader.
    pub replicas: Vec<u32>,
    /// Position in `replicas` of the current leader.
    pub leader: usize,
    pub epoch: u32,
    pub logs: Vec<ReplicaLog>,
    pub isr: Vec<bool>,
    pub hw: u64,
    pub min_isr: u32,
    pub retention_ns: Time,
    /// acks = all requests waiting for the high watermark: (request, attempt, end offset).
    pub pending_acks: VecDeque<(u32, u32, u64)>,
    /// Consumer fetches waiting for data: (consumer, assignment epoch).
    pub parked_consumers: Vec<(u32, u32)>,
    /// Idempotence state per producer: (producer epoch, last sequence appended).
    pub producer_seq: Vec<(u32, i64)>,
}

impl PartitionRt {
    #[inline]
    pub fn leader_broker(&self) -> u32 {
        self.replicas[self.leader]
    }
    #[inline]
    pub fn leader_log(&self) -> &ReplicaLog {
        &self.logs[self.leader]
    }
    pub fn isr_count(&self) -> u32 {
        self.isr.iter().filter(|&&x| x).count() as u32
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

impl World {
    /// When broker `b` finishes `records` of append work queued now. Appends
    /// are serialised per broker (one log device), so they finish in the
    /// order they were queued.
    fn broker_work(&mut self, b: u32, records: u32) -> Time {
        let now = self.now();
        let br = &mut self.brokers[b as usize];
        let mut work = br.append_latency.sample(&mut br.rng);
        if br.ns_per_record > 0.0 {
            work += (f64::from(records) * br.ns_per_record).round() as Time;
        }
        br.busy_until = br.busy_until.max(now) + work;
        br.busy_until
    }

    pub(crate) fn on_produce_arrive(&mut self, req: u32, attempt: u32) {
        let r = self.requests[req as usize];
        let leader = self.parts[r.part as usize].leader_broker();
        let done = self.broker_work(leader, r.count);
        if done <= self.now() {
            self.append(req, attempt);
        } else {
            self.kernel
                .schedule_at(done, Ev::AppendDone { req, attempt });
        }
    }

    /// The leader appends a produce request's batch (or refuses it).
    pub(crate) fn append(&mut self, req: u32, attempt: u32) {
        let r = self.requests[req as usize];
        self.requests[req as usize].copies -= 1;
        let (acks, idempotent) = {
            let c = &self.producers[r.producer as usize].client;
            (c.acks, c.idempotent)
        };
        let part = r.part as usize;
        let p = &self.parts[part];
        let refusal = if acks == Acks::All && p.isr_count() < p.min_isr {
            Some(ProduceResult::NotEnoughReplicas)
        } else if idempotent {
            let (epoch, last) = p.producer_seq[r.producer as usize];
            let first = i64::from(r.first_seq);
            if r.epoch == epoch && first <= last {
                Some(ProduceResult::Duplicate)
            } else if r.epoch == epoch && first != last + 1 {
                Some(ProduceResult::OutOfOrderSequence)
            } else {
                None
            }
        } else {
            None
        };
        if let Some(result) = refusal {
            self.respond(req, attempt, result);
            self.maybe_free(req);
            return;
        }
        let part_in_topic = (r.part - self.producers[r.producer as usize].first_part) as usize;
        for seq in r.first_seq..r.first_seq + r.count {
            let event =
                self.producers[r.producer as usize].parts[part_in_topic].seq_events[seq as usize];
            let p = &mut self.parts[part];
            let leader = p.leader;
            let offset = p.logs[leader].leo();
            p.logs[leader].entries.push_back(event);
            self.observe(Observation::Appended {
                event,
                partition: r.part,
                offset,
            });
        }
        let p = &mut self.parts[part];
        p.producer_seq[r.producer as usize] = (r.epoch, i64::from(r.first_seq + r.count) - 1);
        let end = p.leader_log().leo();
        match acks {
            Acks::None => {}
            Acks::Leader => self.respond(req, attempt, ProduceResult::Ok),
            Acks::All => {
                self.requests[req as usize].copies += 1;
                self.parts[part].pending_acks.push_back((req, attempt, end));
            }
        }
        self.after_leader_append(r.part);
        self.maybe_free(req);
    }

    fn after_leader_append(&mut self, part: u32) {
        for r in 0..self.parts[part as usize].replicas.len() {
            let p = &self.parts[part as usize];
            if r != p.leader && p.logs[r].fetch_parked {
                self.serve_replica_fetch(part, r);
            }
        }
        self.update_hw(part);
    }

    /// Raise the high watermark to what every in-sync replica has.
    pub(crate) fn update_hw(&mut self, part: u32) {
        let p = &mut self.parts[part as usize];
        let mut hw = p.leader_log().leo();
        for r in 0..p.replicas.len() {
            if r != p.leader && p.isr[r] {
                hw = hw.min(p.logs[r].known_leo);
            }
        }
        if hw <= p.hw {
            return;
        }
        debug_assert!(hw <= p.leader_log().leo());
        p.hw = hw;
        while let Some(&(req, attempt, end)) = self.parts[part as usize].pending_acks.front() {
            if end > hw {
                break;
            }
            self.parts[part as usize].pending_acks.pop_front();
            self.requests[req as usize].copies -= 1;
            self.respond(req, attempt, ProduceResult::Ok);
            self.maybe_free(req);
        }
        let p = &mut self.parts[part as usize];
        let mut parked = std::mem::take(&mut p.parked_consumers);
        for (consumer, epoch) in parked.drain(..) {
            self.serve_consumer_fetch(consumer, part, epoch);
        }
        let p = &mut self.parts[part as usize];
        if p.parked_consumers.is_empty() {
            p.parked_consumers = parked;
        }
    }

    /// Answer follower `r`'s outstanding fetch if the leader has more, else park it.
    fn serve_replica_fetch(&mut self, part: u32, r: usize) {
        let now = self.now();
        let p = &mut self.parts[part as usize];
        let leader_leo = p.leader_log().leo();
        let from = p.leader_broker();
        let to = p.replicas[r];
        let epoch = p.epoch;
        let f = &mut p.logs[r];
        let offset = f.leo();
        if offset < leader_leo {
            f.fetch_parked = false;
            f.fetch_end = leader_leo.min(offset + REPLICA_FETCH_MAX_RECORDS);
            let at = self
                .net
                .deliver_at(now, self.net.broker(from), self.net.broker(to));
            self.kernel.schedule_at(
                at,
                Ev::ReplicaFetchResponse {
                    part,
                    replica: r as u32,
                    epoch,
                },
            );
        } else {
            f.fetch_parked = true;
            f.last_caught_up_ns = now;
        }
    }

    pub(crate) fn on_replica_fetch_response(&mut self, part: u32, replica: u32, epoch: u32) {
        let r = replica as usize;
        let p = &mut self.parts[part as usize];
        let mut copied = 0u32;
        if epoch == p.epoch {
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
        }
        let broker = self.parts[part as usize].replicas[r];
        let done = self.broker_work(broker, copied);
        if done <= self.now() {
            self.on_replica_append_done(part, replica);
        } else {
            self.kernel
                .schedule_at(done, Ev::ReplicaAppendDone { part, replica });
        }
    }

    /// The follower sends its next fetch (its fetch offset is its log end).
    pub(crate) fn on_replica_append_done(&mut self, part: u32, replica: u32) {
        let now = self.now();
        let p = &self.parts[part as usize];
        let from = self.net.broker(p.replicas[replica as usize]);
        let to = self.net.broker(p.leader_broker());
        let at = self.net.deliver_at(now, from, to);
        self.kernel
            .schedule_at(at, Ev::ReplicaFetchArrive { part, replica });
    }

    pub(crate) fn on_replica_fetch_arrive(&mut self, part: u32, replica: u32) {
        let now = self.now();
        let r = replica as usize;
        let p = &mut self.parts[part as usize];
        let leader_leo = p.leader_log().leo();
        let hw = p.hw;
        let f = &mut p.logs[r];
        f.known_leo = f.leo();
        if f.known_leo >= leader_leo {
            f.last_caught_up_ns = now;
        }
        if !p.isr[r] && p.logs[r].known_leo >= hw {
            p.isr[r] = true;
        }
        self.update_hw(part);
        self.serve_replica_fetch(part, r);
    }

    /// Followers that have not caught up within replica_lag_time_max leave the ISR.
    pub(crate) fn maintain_isr(&mut self) {
        let now = self.now();
        let lag_max = self.replica_lag_time_max_ns;
        for part in 0..self.parts.len() {
            let p = &mut self.parts[part];
            let mut shrunk = false;
            for r in 0..p.replicas.len() {
                if r == p.leader || !p.isr[r] {
                    continue;
                }
                if p.logs[r].fetch_parked {
                    p.logs[r].last_caught_up_ns = now;
                } else if now.saturating_sub(p.logs[r].last_caught_up_ns) > lag_max {
                    p.isr[r] = false;
                    shrunk = true;
                }
            }
            if shrunk {
                self.update_hw(part as u32);
            }
        }
    }

    /// Delete records older than the topic's retention (below the high watermark).
    pub(crate) fn apply_retention(&mut self) {
        let now = self.now();
        for p in &mut self.parts {
            let horizon = now.saturating_sub(p.retention_ns);
            if horizon == 0 {
                continue;
            }
            let hw = p.hw;
            for log in &mut p.logs {
                while let Some(&event) = log.entries.front() {
                    if log.start >= hw || self.events[event as usize].created_ns > horizon {
                        break;
                    }
                    log.entries.pop_front();
                    log.start += 1;
                }
            }
        }
    }

    /// Answer a consumer's fetch from the leader, or park it until the high
    /// watermark moves. The records travel in the consumer's in-flight buffer.
    pub(crate) fn serve_consumer_fetch(&mut self, consumer: u32, part: u32, epoch: u32) {
        let now = self.now();
        let c = &mut self.consumers[consumer as usize];
        let Some(cp) = c
            .parts
            .iter_mut()
            .find(|cp| cp.part == part && cp.epoch == epoch)
        else {
            return; // the partition was revoked meanwhile
        };
        let g = &self.groups[c.group as usize];
        let p = &mut self.parts[part as usize];
        let log = &p.logs[p.leader];
        if cp.fetch_offset < log.start || cp.fetch_offset > log.leo() {
            cp.fetch_offset = match g.auto_offset_reset {
                OffsetReset::Earliest => log.start,
                OffsetReset::Latest => p.hw,
            };
        }
        if cp.fetch_offset >= p.hw {
            p.parked_consumers.push((consumer, epoch));
            return;
        }
        let end = p.hw.min(cp.fetch_offset + u64::from(g.max_poll_records));
        for offset in cp.fetch_offset..end {
            cp.inflight.push_back((offset, log.get(offset)));
        }
        cp.fetch_offset = end;
        let from = self.net.broker(p.leader_broker());
        let to = c.node;
        let at = self.net.deliver_at(now, from, to);
        self.kernel.schedule_at(
            at,
            Ev::ConsumerFetchResponse {
                consumer,
                part,
                epoch,
            },
        );
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
