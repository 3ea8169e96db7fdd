//! Kafka transactions (KIP-98): a transactional producer writes its
//! records in transactions that it commits every `transaction_interval`.
//! Committing flushes the transaction's records, then sends EndTxn to the
//! transaction coordinator, which decides (PrepareCommit or PrepareAbort),
//! answers, and writes a commit or abort marker into every partition the
//! transaction wrote to. Until a partition's marker is committed (below
//! the high watermark), the transaction holds the partition's last stable
//! offset (LSO) back: `read_committed` consumers read only below the LSO
//! and never see an aborted record; `read_uncommitted` consumers read up
//! to the high watermark, aborted records included.
//!
//! A transaction aborts when one of its records fails, when it stays open
//! longer than `transaction_timeout` (the coordinator aborts it: what
//! happens when its producer crashed), or when its producer restarts
//! (initTransactions aborts what the previous incarnation left open).
//! Records of a transaction that is no longer ongoing are refused by the
//! partition leader from Kafka 4.0 (transaction version 2, KIP-890), so a
//! zombie's late record can never reopen one; 3.6 to 3.9 refuse it only
//! when the ongoing transaction has not added the partition, and before
//! 3.6 only an epoch bumped by the coordinator's own abort fences it
//! (`TxnRt::accepts`).
//!
//! The producer and coordinator sides of one producer's transactions are
//! kept together in `TxnRt` (one coordinator per transactional id).

use super::broker::{MARKER_BIT, PendingMarker};
use super::network::RECONNECT_BACKOFF_NS;
use super::{Ev, World};
use crate::history::{EventId, Observation};
use crate::kernel::Time;

/// The coordinator's state of a producer's current transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TxnState {
    /// No transaction in progress (the last one is complete).
    Empty,
    Ongoing,
    /// Decided; markers are being written.
    PrepareCommit,
    PrepareAbort,
}

pub(crate) struct TxnRt {
    pub interval_ns: Time,
    pub timeout_ns: Time,
    // Coordinator side.
    /// Number of the current transaction (the producer's epoch, in effect).
    pub number: u32,
    pub state: TxnState,
    /// When the coordinator learned of the current transaction.
    pub started_ns: Time,
    /// Partitions the transaction wrote to (AddPartitionsToTxn).
    pub parts: Vec<u32>,
    pub markers_pending: u32,
    /// The transaction's records and their partitions.
    pub events: Vec<(EventId, u32)>,
    /// The coordinator aborted the transaction on its own (timeout or
    /// restart): its producer's EndTxn is answered with an abort.
    pub doomed: bool,
    /// The first transaction of the producer's current epoch: aborting on
    /// its own, the coordinator bumps the epoch, which fences every
    /// record of the transactions before (their late records are refused
    /// in every version; without KIP-890 nothing else refuses them).
    pub epoch_floor: u32,
    // Producer side.
    /// A transaction has begun (a record was produced into it).
    pub open: bool,
    /// Records of the open transaction neither acknowledged nor failed.
    pub unresolved: u32,
    /// A record of the open transaction failed: it can only abort.
    pub failed: bool,
    /// commitTransaction was called: flushing, then EndTxn.
    pub ending: bool,
    pub end_sent: bool,
    /// The producer crashed: the application learned nothing of the
    /// transaction's records (they are already `ProduceFailed`).
    pub orphaned: bool,
    /// Waiting for the coordinator to complete the previous transaction
    /// before the next one can add partitions (CONCURRENT_TRANSACTIONS).
    pub waiting_complete: bool,
    /// `in-transaction`: the commit came due while the consumer was in the
    /// middle of a record; it commits when the record is done.
    pub commit_requested: bool,
    /// Records produced while a transaction was ending: the next one's.
    pub next: Vec<(EventId, u32)>,
    /// Per partition of the topic: sequences from here on belong to the
    /// next transaction and are not sent yet (`u32::MAX`: nothing held).
    pub limit: Vec<u32>,
    /// Bumped by a crash, so the old incarnation's timers do nothing.
    pub token: u32,
    /// `in-transaction`: the consumer whose offsets the transactions carry,
    /// the offsets of the open transaction (partition, next offset, the
    /// group generation they were consumed in), and those of the next.
    pub consumer: Option<u32>,
    pub offsets: Vec<TxnInput>,
    pub next_offsets: Vec<TxnInput>,
}

impl TxnRt {
    pub fn new(interval_ns: Time, timeout_ns: Time, parts: usize) -> TxnRt {
        TxnRt {
            interval_ns,
            timeout_ns,
            number: 0,
            state: TxnState::Empty,
            started_ns: 0,
            parts: Vec::new(),
            markers_pending: 0,
            events: Vec::new(),
            doomed: false,
            epoch_floor: 0,
            open: false,
            unresolved: 0,
            failed: false,
            ending: false,
            end_sent: false,
            orphaned: false,
            waiting_complete: false,
            next: Vec::new(),
            limit: vec![u32::MAX; parts],
            token: 0,
            commit_requested: false,
            consumer: None,
            offsets: Vec::new(),
            next_offsets: Vec::new(),
        }
    }

    /// Nothing of the producer's transactions is left to finish.
    pub fn idle(&self) -> bool {
        !self.open
            && self.next.is_empty()
            && self.next_offsets.is_empty()
            && self.state == TxnState::Empty
    }

    /// Whether the leader of `part` accepts a record of transaction
    /// `number`. With transaction version 2 (`v`: Kafka 4.0+) only while
    /// that very transaction is ongoing: its epoch is the transaction's.
    /// With KIP-890's verification alone (3.6 to 3.9) while the
    /// producer's ongoing transaction has added `part`, whichever
    /// transaction the record was written for: a late record of an
    /// aborted one joins the next. Before 3.6, unless a bumped epoch
    /// fences it: after the abort marker it opens a transaction no
    /// coordinator knows of (a hanging transaction), or joins the
    /// producer's next one there.
    pub fn accepts(&self, number: u32, part: u32, v: super::Versions) -> bool {
        let ongoing = self.state == TxnState::Ongoing && !self.doomed;
        if v.txn_v2 {
            self.number == number && ongoing
        } else if v.kip890 {
            number >= self.epoch_floor && ongoing && self.parts.contains(&part)
        } else {
            number >= self.epoch_floor
        }
    }
}

impl World {
    /// Producer `p` produced `event` to `partition`: it joins the open
    /// transaction, beginning one if none is, or waits for the next.
    pub(crate) fn txn_add(&mut self, p: u32, event: EventId, partition: u32) {
        let now = self.now();
        let Some(t) = self.producers[p as usize].txn.as_mut() else {
            return;
        };
        if t.ending || t.waiting_complete || t.orphaned {
            t.next.push((event, partition));
            return;
        }
        if !t.open {
            t.open = true;
            let (at, token) = (now + t.interval_ns, t.token);
            self.kernel
                .schedule_at(at, Ev::TxnCommitDue { producer: p, token });
        }
        t.events.push((event, partition));
        t.unresolved += 1;
    }

    /// `in-transaction`: the consumer processed up to `offset` of `part`;
    /// the offset joins its producer's open transaction
    /// (`sendOffsetsToTransaction`), beginning one if none is open.
    pub(crate) fn txn_offset(
        &mut self,
        consumer: u32,
        part: u32,
        offset: u64,
        effect: Option<EventId>,
    ) {
        let Some(p) = self.consumers[consumer as usize].txn_producer else {
            return;
        };
        let c = &self.consumers[consumer as usize];
        let Some(assignment) = c.idx(part).map(|i| c.parts[i].epoch) else {
            return;
        };
        let entry = TxnInput {
            part,
            offset,
            assignment,
            effect,
        };
        let t = self.producers[p as usize]
            .txn
            .as_mut()
            .expect("transactional");
        if t.ending || t.waiting_complete || t.orphaned {
            t.next_offsets.push(entry);
            return;
        }
        self.txn_add_offset(p, entry);
    }

    /// Whether `consumer`'s transaction is committing (it processes nothing
    /// meanwhile).
    pub(crate) fn txn_busy(&self, consumer: u32) -> bool {
        self.consumers[consumer as usize]
            .txn_producer
            .and_then(|p| self.producers[p as usize].txn.as_ref())
            .is_some_and(|t| t.ending || t.waiting_complete)
    }

    /// A consumer finished a record: a commit that came due meanwhile
    /// starts now.
    pub(crate) fn txn_between_records(&mut self, consumer: u32) {
        let Some(p) = self.consumers[consumer as usize].txn_producer else {
            return;
        };
        let t = self.producers[p as usize]
            .txn
            .as_ref()
            .expect("transactional");
        if t.commit_requested {
            let token = t.token;
            self.on_txn_commit_due(p, token);
        }
    }

    /// The transaction of `consumer` aborted while it runs: its offsets
    /// were not committed, so it goes back to the committed offsets of the
    /// partitions it holds and processes them again (as a Kafka Streams
    /// task is reinitialised), dropping what it had fetched beyond them.
    fn rewind_to_committed(&mut self, consumer: u32) {
        let g = self.consumers[consumer as usize].group as usize;
        self.consumers[consumer as usize].batch.clear();
        for i in 0..self.consumers[consumer as usize].parts.len() {
            let cp = &self.consumers[consumer as usize].parts[i];
            let idx = self.groups[g].part_index[cp.part as usize] as usize;
            let to = self.groups[g].committed[idx].unwrap_or(cp.assigned_at);
            let part = cp.part;
            // A fetch in flight or parked at the broker was for the old
            // position: a new fetch epoch makes it stale, and a new fetch
            // starts from `to`.
            let epoch = self.next_part_epoch;
            self.next_part_epoch += 1;
            let cp = &mut self.consumers[consumer as usize].parts[i];
            cp.rewind(to);
            cp.epoch = epoch;
            cp.fetching = false;
            self.consumers[consumer as usize].dirty.insert(i as u32);
            self.send_fetch(consumer, i);
            self.observe(Observation::Rewound {
                group: g as u32,
                consumer,
                partition: part,
                offset: to,
            });
        }
    }

    /// The transaction is over and the next may begin: a consumer that
    /// waited for it goes on.
    fn txn_resume_consumer(&mut self, p: u32) {
        let Some(c) = self.producers[p as usize]
            .txn
            .as_ref()
            .and_then(|t| t.consumer)
        else {
            return;
        };
        if std::mem::take(&mut self.consumers[c as usize].txn_waiting)
            && self.consumers[c as usize].current.is_none()
        {
            self.next_record(c);
        }
    }

    /// An offset joins the open transaction of consumer producer `p`.
    fn txn_add_offset(&mut self, p: u32, entry: TxnInput) {
        let now = self.now();
        let t = self.producers[p as usize]
            .txn
            .as_mut()
            .expect("transactional");
        if !t.open {
            t.open = true;
            let (at, token) = (now + t.interval_ns, t.token);
            self.kernel
                .schedule_at(at, Ev::TxnCommitDue { producer: p, token });
        }
        // The coordinator learns of the transaction (AddOffsetsToTxn).
        if t.state == TxnState::Empty && !t.doomed {
            t.state = TxnState::Ongoing;
            t.started_ns = now;
        }
        t.offsets.push(entry);
    }

    /// A batch of the open transaction is sent to `part`: the coordinator
    /// adds the partition (AddPartitionsToTxn) and the transaction is
    /// ongoing from its first. Returns the transaction's number.
    pub(crate) fn txn_register(&mut self, p: u32, part: u32) -> u32 {
        let now = self.now();
        let Some(t) = self.producers[p as usize].txn.as_mut() else {
            return 0;
        };
        if t.doomed {
            return t.number;
        }
        if t.state == TxnState::Empty {
            t.state = TxnState::Ongoing;
            t.started_ns = now;
        }
        if !t.parts.contains(&part) {
            t.parts.push(part);
        }
        t.number
    }

    /// The broker acknowledged (`ok`) or gave up on `count` records of the
    /// open transaction.
    pub(crate) fn txn_resolved(&mut self, p: u32, number: u32, count: u32, ok: bool) {
        let Some(t) = self.producers[p as usize].txn.as_mut() else {
            return;
        };
        if t.number != number || !t.open {
            return; // a request of a transaction already given up
        }
        t.unresolved = t.unresolved.saturating_sub(count);
        t.failed |= !ok;
        self.maybe_end_txn(p);
    }

    /// `transaction_interval` after a transaction began: commit it (flush
    /// its records first; the next transaction's wait).
    pub(crate) fn on_txn_commit_due(&mut self, p: u32, token: u32) {
        let prod = &mut self.producers[p as usize];
        let Some(t) = prod.txn.as_mut() else { return };
        if t.token != token || !t.open || t.ending {
            return;
        }
        // A consumer's transaction commits between records.
        if let Some(c) = t.consumer
            && self.consumers[c as usize].current.is_some()
        {
            t.commit_requested = true;
            return;
        }
        t.commit_requested = false;
        t.ending = true;
        for (i, pp) in prod.parts.iter().enumerate() {
            t.limit[i] = pp.seq_events.len() as u32;
        }
        for part_in_topic in 0..self.producers[p as usize].parts.len() as u32 {
            self.try_send(p, part_in_topic);
        }
        self.maybe_end_txn(p);
    }

    /// Once every record of an ending transaction is resolved, send EndTxn
    /// (commit, or abort if a record failed).
    pub(crate) fn maybe_end_txn(&mut self, p: u32) {
        let Some(t) = self.producers[p as usize].txn.as_ref() else {
            return;
        };
        if !t.ending || t.end_sent || t.unresolved > 0 {
            return;
        }
        self.send_end_txn(p);
    }

    pub(crate) fn send_end_txn(&mut self, p: u32) {
        let now = self.now();
        let prod = &self.producers[p as usize];
        let Some(t) = prod.txn.as_ref() else { return };
        if !t.ending || t.end_sent || !self.is_up(prod.node) {
            return;
        }
        let (number, commit, token) = (t.number, !t.failed, t.token);
        let arrival = self
            .txn_coordinator(p)
            .and_then(|b| self.net.deliver_at(now, prod.node, self.net.broker(b), 0));
        match arrival {
            Some(at) => {
                self.producers[p as usize]
                    .txn
                    .as_mut()
                    .expect("transactional")
                    .end_sent = true;
                self.kernel.schedule_at(
                    at,
                    Ev::EndTxnArrive {
                        producer: p,
                        number,
                        commit,
                    },
                );
                // Delayed past its timeout, the request is sent again; the
                // first copy still arrives, late (KAFKA-17754).
                let timeout = self.producers[p as usize].client.request_timeout.ns();
                if at > now + timeout {
                    let ev = Ev::EndTxnTimeout {
                        producer: p,
                        token,
                        number,
                    };
                    self.kernel.schedule_at(now + timeout, ev);
                }
            }
            None => self
                .kernel
                .schedule_in(RECONNECT_BACKOFF_NS, Ev::EndTxnSend { producer: p, token }),
        }
    }

    /// The kernel events of EndTxn, from the producer's send to its answer.
    pub(crate) fn dispatch_end_txn(&mut self, ev: Ev) {
        match ev {
            Ev::EndTxnSend { producer, token }
                if self.producers[producer as usize]
                    .txn
                    .as_ref()
                    .is_some_and(|t| t.token == token) =>
            {
                self.send_end_txn(producer);
            }
            Ev::EndTxnTimeout {
                producer,
                token,
                number,
            } => self.on_end_txn_timeout(producer, token, number),
            Ev::EndTxnArrive {
                producer,
                number,
                commit,
            } => self.on_end_txn_arrive(producer, number, commit),
            Ev::EndTxnResponse {
                producer,
                number,
                committed,
            } => self.on_end_txn_response(producer, number, committed),
            _ => {}
        }
    }

    /// EndTxn unanswered after the request timeout: send it again.
    pub(crate) fn on_end_txn_timeout(&mut self, p: u32, token: u32, number: u32) {
        let Some(t) = self.producers[p as usize].txn.as_mut() else {
            return;
        };
        if t.token == token && t.number == number && t.ending && t.end_sent {
            t.end_sent = false;
            // The client drops the connection of a timed-out request: the
            // copy sent again may arrive before the first.
            if let Some(b) = self.txn_coordinator(p) {
                let (now, node) = (self.now(), self.producers[p as usize].node);
                let broker = self.net.broker(b);
                self.net.reconnect(now, node, broker);
            }
            self.send_end_txn(p);
        }
    }

    /// The broker coordinating producer `p`'s transactions: the first live
    /// broker from its hash slot (it moves when its broker fails).
    fn txn_coordinator(&self, p: u32) -> Option<u32> {
        let nb = self.cluster.brokers.len() as u32;
        (0..nb)
            .map(|i| (p + i) % nb)
            .find(|&b| self.broker_up(b) && !self.cluster.brokers[b as usize].fenced)
    }

    /// EndTxn reaches the coordinator: decide, answer, write the markers.
    pub(crate) fn on_end_txn_arrive(&mut self, p: u32, number: u32, commit: bool) {
        let t = self.producers[p as usize]
            .txn
            .as_ref()
            .expect("transactional");
        if t.number != number {
            // A late EndTxn of an earlier transaction. From transaction
            // version 2 (4.0, KIP-890 part 2) each transaction has its own
            // epoch and it is fenced. Before, it carries the current epoch
            // unless the coordinator bumped it since, and ends whatever
            // transaction is ongoing: the producer's next one, cut short
            // (KAFKA-17754). Its answer is for a transaction the producer
            // is done with: dropped.
            let stale = !self.versions.txn_v2
                && number < t.number
                && number >= t.epoch_floor
                && t.state == TxnState::Ongoing
                && !t.doomed;
            if stale {
                self.decide(p, commit);
            }
            return;
        }
        let committed = match t.state {
            TxnState::Ongoing if !t.doomed => self.decide(p, commit),
            TxnState::PrepareCommit => true,
            // Aborted by the coordinator (timeout), or it never wrote a
            // record (nothing to mark).
            _ => commit && !t.doomed,
        };
        let coordinator = self.txn_coordinator(p).unwrap_or(0);
        let now = self.now();
        let node = self.producers[p as usize].node;
        let at = self
            .net
            .deliver_at(now, self.net.broker(coordinator), node, 0)
            .unwrap_or(now + RECONNECT_BACKOFF_NS);
        self.kernel.schedule_at(
            at,
            Ev::EndTxnResponse {
                producer: p,
                number,
                committed,
            },
        );
    }

    /// The coordinator decides the current transaction: PrepareCommit or
    /// PrepareAbort, then a marker to every partition it wrote to. Returns
    /// whether it commits.
    fn decide(&mut self, p: u32, commit: bool) -> bool {
        let t = self.producers[p as usize]
            .txn
            .as_ref()
            .expect("transactional");
        if t.state != TxnState::Ongoing {
            return t.state == TxnState::PrepareCommit;
        }
        // KIP-447: the consumer's offsets are committed with its group
        // generation, and a new owner of a partition waits for pending
        // transactional offsets before it reads the committed one. Here:
        // if the consumer is no longer a member, or no longer holds a
        // partition it consumed in this transaction (the partition was
        // revoked, maybe to be read again by another member from the
        // committed offset), the offset commit is fenced and the whole
        // transaction aborts.
        let offsets = t.offsets.clone();
        let fenced = t.consumer.is_some_and(|c| {
            let cr = &self.consumers[c as usize];
            let grp = &self.groups[cr.group as usize];
            !grp.is_member(c)
                || offsets.iter().any(|o| {
                    let idx = grp.part_index[o.part as usize] as usize;
                    grp.owner[idx] != Some(c)
                        || cr
                            .idx(o.part)
                            .is_some_and(|i| cr.parts[i].epoch != o.assignment)
                })
        });
        let commit = commit && !fenced;
        if let Some(c) = t.consumer.filter(|_| commit) {
            for o in &offsets {
                if let Some(event) = o.effect {
                    self.apply_effect(c, o.part, event);
                }
                self.commit(c, o.part, o.offset);
            }
        }
        let t = self.producers[p as usize]
            .txn
            .as_mut()
            .expect("transactional");
        t.offsets.clear();
        t.state = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        t.markers_pending = t.parts.len() as u32;
        let number = t.number;
        let records = t.events.len() as u32;
        self.observe(Observation::TxnEnded {
            producer: p,
            committed: commit,
            records,
        });
        let t = self.producers[p as usize]
            .txn
            .as_mut()
            .expect("transactional");
        if !commit {
            let events = std::mem::take(&mut t.events);
            for &(event, _) in &events {
                self.observe(Observation::Aborted { event, producer: p });
            }
            let t = self.producers[p as usize]
                .txn
                .as_mut()
                .expect("transactional");
            if t.orphaned {
                t.events.clear();
            } else {
                t.events = events;
            }
        }
        let parts = self.producers[p as usize]
            .txn
            .as_ref()
            .expect("transactional")
            .parts
            .clone();
        if parts.is_empty() {
            self.txn_complete(p);
            return commit;
        }
        for part in parts {
            self.send_marker(p, number, part);
        }
        commit
    }

    /// The coordinator sends a marker to the partition's leader.
    pub(crate) fn send_marker(&mut self, p: u32, number: u32, part: u32) {
        let now = self.now();
        let leader = self.cluster.parts[part as usize].leader_broker();
        let from = self.txn_coordinator(p);
        let at = from.and_then(|b| {
            self.net
                .deliver_at(now, self.net.broker(b), self.net.broker(leader), 0)
        });
        match at {
            Some(at) => self.kernel.schedule_at(
                at,
                Ev::TxnMarkerArrive {
                    producer: p,
                    number,
                    part,
                    broker: leader,
                },
            ),
            None => self.kernel.schedule_in(
                RECONNECT_BACKOFF_NS,
                Ev::TxnMarkerSend {
                    producer: p,
                    number,
                    part,
                },
            ),
        }
    }

    /// A marker reaches a broker: the leader appends it (it counts once
    /// the high watermark passes it); anyone else sends it back to try the
    /// current leader.
    pub(crate) fn on_txn_marker_arrive(&mut self, p: u32, number: u32, part: u32, broker: u32) {
        let t = self.producers[p as usize]
            .txn
            .as_ref()
            .expect("transactional");
        let commit = match t.state {
            TxnState::PrepareCommit => true,
            TxnState::PrepareAbort => false,
            _ => return,
        };
        if t.number != number {
            return;
        }
        if !self.cluster.leads(part, broker) {
            self.kernel.schedule_in(
                RECONNECT_BACKOFF_NS,
                Ev::TxnMarkerSend {
                    producer: p,
                    number,
                    part,
                },
            );
            return;
        }
        let serial = self.next_marker;
        self.next_marker += 1;
        let pr = &mut self.cluster.parts[part as usize];
        let leader = pr.leader;
        let offset = pr.logs[leader].leo();
        pr.logs[leader]
            .entries
            // Unique (up to 2^31 - 1 markers) and below `COMPACTED`.
            .push_back(MARKER_BIT | (serial % (MARKER_BIT - 1)));
        pr.markers.push(PendingMarker {
            producer: p,
            number,
            offset,
            commit,
        });
        self.after_leader_append(part);
    }

    /// A marker of `producer`'s transaction `number` is written (below
    /// the high watermark): once every marker is, the coordinator's
    /// transaction is complete.
    pub(crate) fn on_marker_written(&mut self, producer: u32, number: u32) {
        let t = self.producers[producer as usize]
            .txn
            .as_mut()
            .expect("transactional");
        if t.number == number && t.markers_pending > 0 {
            t.markers_pending -= 1;
            if t.markers_pending == 0 {
                self.txn_complete(producer);
            }
        }
    }

    /// Every marker is written: the coordinator's transaction is complete
    /// and the producer may begin the next (it learns when its
    /// AddPartitionsToTxn retry gets through).
    fn txn_complete(&mut self, p: u32) {
        let now = self.now();
        let t = self.producers[p as usize]
            .txn
            .as_mut()
            .expect("transactional");
        t.state = TxnState::Empty;
        t.parts.clear();
        if t.orphaned {
            t.events.clear();
            t.orphaned = false;
        }
        if t.waiting_complete {
            let token = t.token;
            let node = self.producers[p as usize].node;
            let at = self
                .txn_coordinator(p)
                .and_then(|b| self.net.deliver_at(now, self.net.broker(b), node, 0))
                .unwrap_or(now + RECONNECT_BACKOFF_NS);
            self.kernel
                .schedule_at(at, Ev::TxnReady { producer: p, token });
        }
    }

    /// The producer learns how its transaction ended: its records are
    /// acknowledged, or failed; then the next transaction begins once the
    /// coordinator has completed this one.
    pub(crate) fn on_end_txn_response(&mut self, p: u32, number: u32, committed: bool) {
        let prod = &mut self.producers[p as usize];
        let Some(t) = prod.txn.as_mut() else { return };
        if t.number != number || !t.end_sent || t.orphaned {
            return;
        }
        let events = std::mem::take(&mut t.events);
        for &(event, partition) in &events {
            self.observe_outcome(p, event, partition, committed);
        }
        let consumer = self.producers[p as usize]
            .txn
            .as_ref()
            .and_then(|t| t.consumer);
        if let Some(c) = consumer.filter(|_| !committed) {
            self.rewind_to_committed(c);
        }
        let t = self.producers[p as usize]
            .txn
            .as_mut()
            .expect("transactional");
        t.open = false;
        t.ending = false;
        t.end_sent = false;
        t.failed = false;
        t.unresolved = 0;
        if t.state == TxnState::Empty {
            self.begin_next_txn(p);
        } else {
            t.waiting_complete = true;
        }
    }

    pub(crate) fn on_txn_ready(&mut self, p: u32, token: u32) {
        let Some(t) = self.producers[p as usize].txn.as_ref() else {
            return;
        };
        if t.token == token && t.waiting_complete && t.state == TxnState::Empty {
            self.begin_next_txn(p);
        }
    }

    /// A new transaction, with the records produced meanwhile.
    fn begin_next_txn(&mut self, p: u32) {
        let prod = &mut self.producers[p as usize];
        let t = prod.txn.as_mut().expect("transactional");
        t.waiting_complete = false;
        t.doomed = false;
        t.number += 1;
        t.limit.iter_mut().for_each(|l| *l = u32::MAX);
        let next = std::mem::take(&mut t.next);
        let next_offsets = std::mem::take(&mut t.next_offsets);
        for (event, partition) in next {
            self.txn_add(p, event, partition);
        }
        for entry in next_offsets {
            self.txn_add_offset(p, entry);
        }
        for part_in_topic in 0..self.producers[p as usize].parts.len() as u32 {
            self.try_send(p, part_in_topic);
        }
        self.txn_resume_consumer(p);
    }

    /// The coordinator aborts transactions open longer than their timeout
    /// (`transaction.timeout.ms`): what ends a crashed producer's.
    pub(crate) fn expire_transactions(&mut self) {
        let now = self.now();
        for p in 0..self.producers.len() as u32 {
            let Some(t) = self.producers[p as usize].txn.as_ref() else {
                continue;
            };
            if t.state == TxnState::Ongoing
                && !t.doomed
                && now.saturating_sub(t.started_ns) > t.timeout_ns
            {
                self.doom(p);
            }
        }
    }

    /// The coordinator aborts the current transaction on its own.
    fn doom(&mut self, p: u32) {
        self.decide(p, false);
        let t = self.producers[p as usize]
            .txn
            .as_mut()
            .expect("transactional");
        t.doomed = true;
        t.epoch_floor = t.number + 1;
    }

    /// The producer crashed: the application never learns how its
    /// transaction ends; the coordinator aborts it on timeout or restart.
    pub(crate) fn txn_crash(&mut self, p: u32) {
        let Some(t) = self.producers[p as usize].txn.as_mut() else {
            return;
        };
        t.token += 1;
        let failed: Vec<EventId> = t.events.iter().chain(&t.next).map(|&(e, _)| e).collect();
        t.next.clear();
        // The offsets already sent to the coordinator stay with it.
        t.next_offsets.clear();
        t.orphaned = !t.events.is_empty() || t.state != TxnState::Empty;
        if !t.orphaned {
            t.events.clear();
        }
        t.open = false;
        t.ending = false;
        t.end_sent = false;
        t.failed = false;
        t.unresolved = 0;
        t.waiting_complete = false;
        // Records produced after the restart wait for its first transaction.
        let prod = &mut self.producers[p as usize];
        let t = prod.txn.as_mut().expect("transactional");
        for (l, pp) in t.limit.iter_mut().zip(&prod.parts) {
            *l = pp.seq_events.len() as u32;
        }
        for event in failed {
            self.observe(Observation::ProduceFailed { event, producer: p });
        }
    }

    /// The producer starts again (initTransactions): an ongoing
    /// transaction of the previous incarnation is aborted, and the first
    /// transaction waits until the coordinator has completed it.
    pub(crate) fn txn_restart(&mut self, p: u32) {
        let Some(t) = self.producers[p as usize].txn.as_ref() else {
            return;
        };
        if t.state == TxnState::Ongoing && !t.doomed {
            self.doom(p);
        }
        let t = self.producers[p as usize]
            .txn
            .as_mut()
            .expect("transactional");
        if t.state == TxnState::Empty {
            t.orphaned = false;
            t.events.clear();
            self.begin_next_txn(p);
        } else {
            t.waiting_complete = true;
            t.orphaned = true;
        }
    }
}

/// `in-transaction`: what a consumer's processing of one record puts in its
/// transaction: the offset to commit (with the generation it was consumed
/// in) and the event whose effect on the service's state commits with it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TxnInput {
    pub part: u32,
    pub offset: u64,
    /// The consumer's assignment of the partition it was consumed in.
    pub assignment: u32,
    pub effect: Option<EventId>,
}
