//! The group coordinator: membership, rebalances (eager and cooperative),
//! assignment, committed offsets with generation fencing, and the group's
//! state store (the projection its service maintains).

use super::assign::assign;
use super::dist::Sampler;
use super::{Ev, World};
use crate::history::{EventId, Observation};
use crate::kernel::Time;
use crate::metrics::EventBits;
use crate::scenario::{
    Assignment, CommitMode, ConsumerClient, EmitMode, Idempotency, Isolation, OffsetReset,
    OnFailure,
};
use std::collections::VecDeque;

/// How often a rebalance checks whether revoking members have finished.
const REJOIN_POLL_NS: Time = 1_000_000;

/// A service emission rule, resolved to ids.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EmitRt {
    pub on: Option<u16>,
    pub producer: u32,
    pub event_type: u16,
    pub mode: EmitMode,
    /// The business rule's failure: (event type emitted instead, probability).
    pub failure: Option<(u16, f64)>,
}

pub(crate) struct GroupRt {
    pub consumers: Vec<u32>,
    /// Subscribed partitions (global ids), topic by topic.
    pub parts: Vec<u32>,
    pub parts_by_topic: Vec<usize>,
    /// Global partition -> index in `parts` (u32::MAX if not subscribed).
    pub part_index: Vec<u32>,
    pub assignment: Assignment,
    pub rebalance_time_ns: Time,
    pub auto_offset_reset: OffsetReset,
    pub max_poll_records: u32,
    pub commit: CommitMode,
    pub auto_commit_interval_ns: Time,
    pub client: ConsumerClient,
    /// librdkafka's `enable.auto.offset.store`: auto-commit commits what
    /// was handed to the application (`true`) or what it processed.
    pub auto_offset_store: bool,
    pub isolation: Isolation,
    pub idempotency: Idempotency,
    pub dedup_capacity: Option<u64>,
    pub processing: Sampler,
    pub by_type: Vec<Option<Sampler>>,
    pub emits: Vec<EmitRt>,
    pub session_timeout_ns: Time,
    pub heartbeat_interval_ns: Time,
    pub max_poll_interval_ns: Time,
    /// Static membership (KIP-345): members keep their identity across
    /// restarts.
    pub static_membership: bool,
    pub on_failure: OnFailure,
    pub handler_retries: u32,
    pub handler_backoff_ns: Time,
    /// The producer that publishes to the dead-letter topic.
    pub dlt_producer: Option<u32>,
    /// The saga the group's service orchestrates, with its store.
    pub saga: Option<Box<super::saga::SagaRt>>,
    // Coordinator state.
    pub generation: u32,
    pub members: Vec<u32>,
    pub rebalancing: bool,
    /// Cooperative: the current round hands on what the first one revoked.
    pub second_round: bool,
    /// Members of the current round whose JoinGroup has not arrived, and
    /// when the last one that did arrived.
    pub joins_pending: u32,
    pub last_join_ns: Time,
    pub owner: Vec<Option<u32>>,
    pub target: Vec<Option<u32>>,
    pub committed: Vec<Option<u64>>,
    /// Leader epoch of the records below each committed offset (KIP-320:
    /// a consumer that starts from it checks it for divergence).
    pub committed_epoch: Vec<u32>,
    // State store.
    pub dedup: EventBits,
    pub dedup_fifo: VecDeque<EventId>,
    pub versions: super::keymap::KeyMap<u32>,
}

impl GroupRt {
    /// Whether `consumer` is a member (`members` is kept sorted, so this is
    /// a binary search: a group may have a million members).
    pub(crate) fn is_member(&self, consumer: u32) -> bool {
        debug_assert!(self.members.is_sorted());
        self.members.binary_search(&consumer).is_ok()
    }
}

impl World {
    pub(crate) fn on_group_start(&mut self, g: u32) {
        let grp = &mut self.groups[g as usize];
        grp.members = grp.consumers.clone();
        for i in 0..self.groups[g as usize].consumers.len() {
            let consumer = self.groups[g as usize].consumers[i];
            self.start_auto_commit(consumer);
        }
        let everyone = self.groups[g as usize].members.clone();
        self.trigger_rebalance(g, &everyone);
    }

    /// Membership changed: start a rebalance into a new generation. The
    /// members in `at_once` (a consumer joining, or every member when the
    /// group starts) send JoinGroup at once; the others learn of the
    /// rebalance from their next heartbeat's REBALANCE_IN_PROGRESS.
    pub(crate) fn trigger_rebalance(&mut self, g: u32, at_once: &[u32]) {
        let grp = &self.groups[g as usize];
        let target = assign(
            grp.assignment,
            &grp.parts_by_topic,
            &grp.members,
            &grp.owner,
        );
        let grp = &mut self.groups[g as usize];
        // Partitions of members that left are free at once.
        let members = &grp.members;
        for owner in grp.owner.iter_mut() {
            if owner.is_some_and(|o| members.binary_search(&o).is_err()) {
                *owner = None;
            }
        }
        grp.target = target;
        grp.rebalancing = true;
        grp.second_round = false;
        self.start_round(g, at_once);
    }

    /// One join + sync round into a new generation: every member sends
    /// JoinGroup (when it learns of the round), and the round completes
    /// `rebalance_time` after the last one arrives.
    fn start_round(&mut self, g: u32, at_once: &[u32]) {
        let now = self.now();
        let grp = &mut self.groups[g as usize];
        grp.generation += 1;
        grp.joins_pending = grp.members.len() as u32;
        grp.last_join_ns = now;
        let (generation, interval) = (grp.generation, grp.heartbeat_interval_ns);
        if grp.members.is_empty() {
            let at = grp.rebalance_time_ns;
            self.kernel.schedule_in(
                at,
                Ev::RebalanceDone {
                    group: g,
                    generation,
                },
            );
            return;
        }
        // `at_once` may name every member: look members up in a sorted copy.
        let mut at_once = at_once.to_vec();
        at_once.sort_unstable();
        for i in 0..self.groups[g as usize].members.len() {
            let m = self.groups[g as usize].members[i];
            let c = &mut self.consumers[m as usize];
            c.generation = generation;
            let wait = if at_once.binary_search(&m).is_ok() {
                0
            } else {
                until_heartbeat(now, c.heartbeat_phase_ns, interval)
            };
            self.kernel.schedule_in(
                wait,
                Ev::JoinGroup {
                    group: g,
                    generation,
                    consumer: m,
                },
            );
        }
    }

    /// A member learned of the round and (re)joins: an eager member first
    /// revokes everything it owns (committing, onPartitionsRevoked); any
    /// member finishes the event in hand of a revoked partition first (the
    /// Java client rejoins inside poll()). JoinGroup then crosses the
    /// network to the coordinator; a member that is down or cut off tries
    /// again until it is back or its session expires.
    pub(crate) fn on_join_group(&mut self, g: u32, generation: u32, consumer: u32) {
        let grp = &self.groups[g as usize];
        if grp.generation != generation || !grp.is_member(consumer) {
            return;
        }
        let again = Ev::JoinGroup {
            group: g,
            generation,
            consumer,
        };
        let node = self.consumers[consumer as usize].node;
        if !self.is_up(node) {
            self.kernel.schedule_in(REJOIN_POLL_NS, again);
            return;
        }
        if grp.assignment != Assignment::CooperativeSticky {
            // Eager: the member gives up everything it owns, in order.
            let grp = &mut self.groups[g as usize];
            let mut owned = Vec::new();
            for idx in 0..grp.parts.len() {
                if grp.owner[idx] == Some(consumer) {
                    owned.push(grp.parts[idx]);
                    grp.owner[idx] = None;
                }
            }
            self.revoke_many(consumer, &owned);
        }
        let c = &self.consumers[consumer as usize];
        if c.current.is_some_and(|cur| cur.revoked) {
            self.kernel.schedule_in(REJOIN_POLL_NS, again);
            return;
        }
        let now = self.now();
        let arrival = self
            .coordinator(g)
            .and_then(|b| self.net.deliver_at(now, node, self.net.broker(b), 0));
        let Some(arrival) = arrival else {
            self.kernel.schedule_in(REJOIN_POLL_NS, again);
            return;
        };
        let grp = &mut self.groups[g as usize];
        grp.last_join_ns = grp.last_join_ns.max(arrival);
        grp.joins_pending -= 1;
        if grp.joins_pending == 0 {
            let at = grp.last_join_ns + grp.rebalance_time_ns;
            self.kernel.schedule_at(
                at,
                Ev::RebalanceDone {
                    group: g,
                    generation,
                },
            );
        }
    }

    /// Take `part` away from `consumer` (Kafka's onPartitionsRevoked: commit
    /// first). An expelled consumer is not told (it finds out when it next
    /// polls or commits); a member that is down cannot commit.
    fn revoke(&mut self, consumer: u32, part: u32) {
        self.revoke_many(consumer, &[part]);
    }

    /// [`World::revoke`] for several partitions, in order: each commits as
    /// it would alone, and the consumer's partitions are re-indexed once.
    fn revoke_many(&mut self, consumer: u32, revoked: &[u32]) {
        let g = self.consumers[consumer as usize].group;
        if !self.groups[g as usize].is_member(consumer) {
            return;
        }
        let commit = self.groups[g as usize].commit;
        let (client, stored_on_delivery) = {
            let grp = &self.groups[g as usize];
            (grp.client, grp.auto_offset_store)
        };
        let up = self.is_up(self.consumers[consumer as usize].node);
        let mut gone = Vec::with_capacity(revoked.len());
        for &part in revoked {
            let c = &self.consumers[consumer as usize];
            let Some(idx) = c.idx(part) else {
                continue;
            };
            gone.push((idx, part));
            let offset = match commit {
                _ if !up => None,
                CommitMode::AfterProcess => Some(c.parts[idx].processed),
                // Java: the revocation runs inside poll(), when what earlier
                // polls returned has been processed (the event in hand is
                // committed when it finishes, as the rebalance waits for it).
                CommitMode::Auto if client == ConsumerClient::Java => Some(c.parts[idx].processed),
                // librdkafka: the stored offsets (stored on delivery, or by
                // the application once processed).
                CommitMode::Auto if stored_on_delivery => Some(c.parts[idx].position),
                CommitMode::Auto => Some(c.parts[idx].processed),
                // In a transaction, offsets commit with the transaction (a
                // revoked partition's open transaction is fenced by the
                // generation and aborts; the new owner processes again).
                CommitMode::BeforeProcess
                | CommitMode::AtomicWithEffect
                | CommitMode::InTransaction => None,
            };
            if let Some(offset) = offset {
                self.commit(consumer, part, offset);
            }
        }
        if gone.is_empty() {
            return;
        }
        let c = &mut self.consumers[consumer as usize];
        let mut keep = vec![true; c.parts.len()];
        for &(idx, _) in &gone {
            keep[idx] = false;
        }
        let mut i = 0;
        c.parts.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        c.reindex();
        let held = &c.index;
        c.batch.retain(|&(p, _, _)| held.contains_key(&p));
        if let Some(cur) = c
            .current
            .as_mut()
            .filter(|cur| gone.iter().any(|&(_, p)| p == cur.part))
        {
            cur.revoked = true;
        }
        if c.rr >= c.parts.len() {
            c.rr = 0;
        }
    }

    pub(crate) fn on_rebalance_done(&mut self, g: u32, generation: u32) {
        if self.groups[g as usize].generation != generation {
            return; // superseded by a later rebalance
        }
        // The coordinator waits for every member to rejoin: running members
        // still finishing an event of a revoked partition (they rejoin from
        // their next poll), and members that are down (paused, crashed) but
        // not yet expelled, which rejoin when they come back or are removed
        // when their session expires. Kafka's JoinGroup completes only when
        // every known member has joined (or timed out).
        let finishing = self.groups[g as usize].members.iter().any(|&m| {
            let c = &self.consumers[m as usize];
            !self.is_up(c.node) || c.current.is_some_and(|cur| cur.revoked)
        });
        if finishing {
            self.kernel.schedule_in(
                REJOIN_POLL_NS,
                Ev::RebalanceDone {
                    group: g,
                    generation,
                },
            );
            return;
        }
        // Cooperative (KIP-429): the first round only takes away what moves;
        // its owners revoke it and rejoin, and a second round hands it on.
        // Everything else is never stopped.
        let grp = &self.groups[g as usize];
        let moving: Vec<usize> =
            if grp.assignment == Assignment::CooperativeSticky && !grp.second_round {
                (0..grp.parts.len())
                    .filter(|&idx| grp.owner[idx].is_some_and(|o| grp.target[idx] != Some(o)))
                    .collect()
            } else {
                Vec::new()
            };
        for idx in 0..self.groups[g as usize].parts.len() {
            let grp = &mut self.groups[g as usize];
            if let (None, Some(consumer)) = (grp.owner[idx], grp.target[idx]) {
                grp.owner[idx] = Some(consumer);
                let part = grp.parts[idx];
                self.assign_part(consumer, part, idx);
            }
        }
        self.observe(Observation::Rebalanced {
            group: g,
            generation,
        });
        if !moving.is_empty() {
            let mut revokers = Vec::new();
            for idx in moving {
                let grp = &mut self.groups[g as usize];
                let (Some(old), part) = (grp.owner[idx], grp.parts[idx]) else {
                    continue;
                };
                grp.owner[idx] = None;
                self.revoke(old, part);
                revokers.push(old);
            }
            self.groups[g as usize].second_round = true;
            self.start_round(g, &revokers);
            return;
        }
        self.groups[g as usize].rebalancing = false;
        for i in 0..self.groups[g as usize].members.len() {
            let consumer = self.groups[g as usize].members[i];
            if self.consumers[consumer as usize].waiting {
                self.poll(consumer);
            }
        }
    }

    /// Give `part` to `consumer`, starting at the committed offset or the reset policy.
    fn assign_part(&mut self, consumer: u32, part: u32, idx: usize) {
        let g = self.consumers[consumer as usize].group;
        let grp = &self.groups[g as usize];
        let p = &self.cluster.parts[part as usize];
        let start = grp.committed[idx].unwrap_or(match grp.auto_offset_reset {
            // `None` starts committed (at 0).
            OffsetReset::Earliest | OffsetReset::None => p.leader_log().start,
            OffsetReset::Latest => p.readable_end(grp.isolation),
        });

        let leader_epoch = match grp.committed[idx] {
            Some(_) => grp.committed_epoch[idx],
            None => p.epoch,
        };
        let generation = grp.generation;
        let epoch = self.next_part_epoch;
        self.next_part_epoch += 1;
        let c = &mut self.consumers[consumer as usize];
        c.parts.push(super::consumer::CPart::new(
            part,
            epoch,
            start,
            leader_epoch,
        ));
        c.waiting = c.current.is_none() && c.batch.is_empty();
        let idx_in_consumer = c.parts.len() - 1;
        let i = idx_in_consumer as u32;
        c.index.insert(part, i);
        c.idle.insert(i);
        c.dirty.insert(i);
        self.observe(Observation::Assigned {
            group: g,
            consumer,
            partition: part,
            generation,
            offset: start,
        });
        self.send_fetch(consumer, idx_in_consumer);
    }

    /// Record a commit, unless the consumer's generation is fenced.
    /// Whether the offset is committed now (false: refused).
    pub(crate) fn commit(&mut self, consumer: u32, part: u32, offset: u64) -> bool {
        let c = &self.consumers[consumer as usize];
        let g = c.group;
        let grp = &mut self.groups[g as usize];
        if c.generation != grp.generation {
            return false; // Kafka: ILLEGAL_GENERATION, the commit is refused.
        }
        let idx = grp.part_index[part as usize] as usize;
        if grp.committed[idx] == Some(offset) {
            return true;
        }
        if let Some(i) = c.idx(part) {
            assert_commit_within(consumer, part, offset, c.parts[i].position);
        }
        let leader_epoch = c
            .idx(part)
            .map_or(self.cluster.parts[part as usize].epoch, |i| {
                c.parts[i].fetched_epoch
            });
        grp.committed[idx] = Some(offset);
        grp.committed_epoch[idx] = leader_epoch;
        let generation = grp.generation;
        self.observe(Observation::Committed {
            group: g,
            consumer,
            partition: part,
            offset,
            generation,
        });
        true
    }

    /// The coordinator expels consumers of group `g` whose session expired,
    /// or they leave because they have not polled within
    /// `max_poll_interval` (`poll_timeout`), all in one tick: the group
    /// rebalances once without them (a round per member would schedule a
    /// JoinGroup per remaining member each time: quadratic when a fault
    /// cuts off a large group).
    pub(crate) fn expel_all(&mut self, g: u32, leaving: &[(u32, bool)]) {
        let mut any = false;
        for &(consumer, poll_timeout) in leaving {
            let grp = &mut self.groups[g as usize];
            let Ok(i) = grp.members.binary_search(&consumer) else {
                continue;
            };
            grp.members.remove(i);
            any = true;
            self.observe(Observation::Expelled {
                group: g,
                consumer,
                poll_timeout,
            });
        }
        if any {
            self.trigger_rebalance(g, &[]);
        }
    }

    /// A consumer (re)joins its group with empty hands: whatever it held is
    /// lost (onPartitionsLost: no commit), and the group rebalances.
    pub(crate) fn rejoin(&mut self, consumer: u32) {
        let now = self.now();
        let c = &mut self.consumers[consumer as usize];
        c.parts.clear();
        c.reindex();
        c.batch.clear();
        c.rr = 0;
        c.waiting = c.current.is_none();
        c.last_heard_ns = now;
        let g = c.group;
        let grp = &mut self.groups[g as usize];
        for owner in grp.owner.iter_mut() {
            if *owner == Some(consumer) {
                *owner = None;
            }
        }
        if let Err(i) = grp.members.binary_search(&consumer) {
            grp.members.insert(i, consumer);
        }
        self.trigger_rebalance(g, &[consumer]);
    }

    /// The consumer process dies with its in-memory progress: buffered and
    /// processed-but-uncommitted events will be delivered again to whoever
    /// gets its partitions. The group notices after the session timeout.
    pub(crate) fn crash_consumer(&mut self, consumer: u32) {
        if let Some(p) = self.consumers[consumer as usize].txn_producer {
            self.crash_producer(p);
        }
        let c = &mut self.consumers[consumer as usize];
        c.txn_waiting = false;
        c.token += 1;
        c.reset_error.clear();
        c.parts.clear();
        c.reindex();
        c.batch.clear();
        c.current = None;
        c.waiting = false;
        c.rr = 0;
    }

    /// The consumer process starts again and joins its group (if the group
    /// has started; otherwise it joins when the group does).
    pub(crate) fn restart_consumer(&mut self, consumer: u32) {
        if let Some(p) = self.consumers[consumer as usize].txn_producer {
            self.restart_producer(p);
        }
        let g = self.consumers[consumer as usize].group;
        let grp = &self.groups[g as usize];
        self.consumers[consumer as usize].waiting = true;
        if grp.generation == 0 {
            return;
        }
        let keeps_identity = grp.static_membership && grp.is_member(consumer);
        self.start_auto_commit(consumer);
        if keeps_identity {
            // KIP-345: back with the same group.instance.id before its
            // session expired, the member gets its assignment back from
            // the committed offsets, and the group does not rebalance.
            let now = self.now();
            let c = &mut self.consumers[consumer as usize];
            c.last_heard_ns = now;
            c.last_poll_ns = now;
            for idx in 0..self.groups[g as usize].parts.len() {
                if self.groups[g as usize].owner[idx] == Some(consumer) {
                    let part = self.groups[g as usize].parts[idx];
                    self.assign_part(consumer, part, idx);
                }
            }
            return;
        }
        self.rejoin(consumer);
    }

    /// A paused consumer runs again. If the group expelled it meanwhile it
    /// is a zombie: it finishes the batch in hand (its commits are fenced)
    /// and rejoins at its next poll, or at once if it has nothing in hand.
    pub(crate) fn consumer_resumed(&mut self, consumer: u32) {
        let c = &self.consumers[consumer as usize];
        let g = c.group;
        let grp = &self.groups[g as usize];
        if grp.generation > 0
            && !grp.is_member(consumer)
            && c.current.is_none()
            && c.batch.is_empty()
        {
            self.rejoin(consumer);
        }
    }

    /// The group has started, holds every partition and has processed
    /// everything below each high watermark.
    pub(crate) fn group_caught_up(&self, g: u32) -> bool {
        let grp = &self.groups[g as usize];
        if grp.generation == 0 || grp.rebalancing {
            return false;
        }
        grp.parts.iter().zip(&grp.owner).all(|(&part, owner)| {
            let Some(consumer) = owner else { return false };
            let c = &self.consumers[*consumer as usize];
            let hw = self.cluster.parts[part as usize].hw;
            c.current.is_none_or(|cur| cur.part != part)
                && c.idx(part).is_some_and(|i| {
                    let cp = &c.parts[i];
                    cp.processed >= hw && cp.buffer.is_empty()
                })
        })
    }
}

/// Time from `now` to a consumer's next heartbeat (heartbeats at `phase`,
/// `phase + interval`, ...).
fn until_heartbeat(now: Time, phase: Time, interval: Time) -> Time {
    if now <= phase || interval == 0 {
        return phase.saturating_sub(now);
    }
    match (now - phase) % interval {
        0 => 0,
        r => interval - r,
    }
}

/// The model's rule: a consumer commits only what it was handed (the
/// committed offset is at most its position); a breach is a simulator bug.
fn assert_commit_within(consumer: u32, part: u32, offset: u64, position: u64) {
    assert!(
        offset <= position,
        "consumer {consumer} commits offset {offset} of partition {part} past its position {position}"
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_commit_up_to_the_position_keeps_the_rule() {
        super::assert_commit_within(0, 1, 5, 5);
        super::assert_commit_within(0, 1, 0, 5);
    }

    #[test]
    #[should_panic(expected = "past its position")]
    fn a_commit_past_the_position_is_a_simulator_bug() {
        super::assert_commit_within(0, 1, 6, 5);
    }
}
