//! The KRaft metadata quorum (KIP-500, KIP-595, KIP-631): its voters, the
//! active controller, and what it decides about brokers.
//!
//! The quorum owns its state; the world asks it, on every tick, whether it
//! has an active controller and whom that controller hears. Its rules:
//! - The active controller keeps its place while it is up and reaches a
//!   majority of the voters (itself included). Once it has not for
//!   `fetch_timeout` (controller.quorum.fetch.timeout.ms), the followers
//!   stop waiting for it and the quorum has no leader.
//! - Without a leader, a voter that is up and reaches a majority becomes
//!   a candidate; after `election_timeout` (controller.quorum.election.timeout.ms)
//!   of candidacy it is elected with the next epoch. When several could
//!   be, the lowest-numbered one wins (Kafka randomises the timeouts; the
//!   model picks one deterministically).
//! - While the quorum has no leader the metadata is frozen: no broker is
//!   fenced or unfenced, no partition elects a leader, no ISR changes.
//!   Leaders that are up keep serving what their ISR allows.
//!
//! Heartbeats are evaluated on the tick (every 100 ms) over the network's
//! link faults, like the group coordinator's sessions: a broker is heard
//! when it is up and no partition cuts it from the active controller.

use super::network::Node;
use crate::kernel::Time;

/// What a tick changed in the quorum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QuorumChange {
    /// Nothing.
    None,
    /// The active controller was lost: the metadata freezes.
    Lost,
    /// A voter became the active controller: the metadata thaws.
    Elected,
}

/// The metadata quorum.
#[derive(Clone, Debug)]
pub(crate) struct Quorum {
    /// Each voter's node.
    voters: Vec<Node>,
    /// The active controller (voter index), if the quorum has one.
    leader: Option<u32>,
    /// The quorum's leader epoch: one more at every election.
    epoch: u32,
    /// When the active controller last reached a majority.
    leader_ok_ns: Time,
    /// Since when some voter could be elected (no leader).
    candidate_since: Option<Time>,
    fetch_timeout_ns: Time,
    election_timeout_ns: Time,
}

impl Quorum {
    /// A quorum of `voters` whose first voter leads from the start.
    pub(crate) fn new(
        voters: Vec<Node>,
        fetch_timeout_ns: Time,
        election_timeout_ns: Time,
    ) -> Self {
        assert!(!voters.is_empty(), "validated: a quorum has a voter");
        Quorum {
            voters,
            leader: Some(0),
            epoch: 1,
            leader_ok_ns: 0,
            candidate_since: None,
            fetch_timeout_ns,
            election_timeout_ns,
        }
    }

    /// The active controller's node, if the quorum has one.
    #[inline]
    pub(crate) fn leader_node(&self) -> Option<Node> {
        self.leader.map(|v| self.voters[v as usize])
    }

    /// The active controller (voter index), if any.
    pub(crate) fn leader(&self) -> Option<u32> {
        self.leader
    }

    /// The quorum's epoch.
    pub(crate) fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Whether the metadata can change now (the quorum has a leader).
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.leader.is_some()
    }

    /// How many voters `v` reaches, itself included (0 if it is down).
    fn reach(
        &self,
        v: usize,
        up: &dyn Fn(Node) -> bool,
        linked: &dyn Fn(Node, Node) -> bool,
    ) -> usize {
        let me = self.voters[v];
        if !up(me) {
            return 0;
        }
        self.voters
            .iter()
            .enumerate()
            .filter(|&(u, &n)| u == v || (up(n) && linked(me, n)))
            .count()
    }

    fn majority(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// One tick at `now`: `up` says whether a node runs, `linked` whether
    /// no partition cuts two nodes apart.
    pub(crate) fn tick(
        &mut self,
        now: Time,
        up: &dyn Fn(Node) -> bool,
        linked: &dyn Fn(Node, Node) -> bool,
    ) -> QuorumChange {
        let majority = self.majority();
        if let Some(l) = self.leader {
            if self.reach(l as usize, up, linked) >= majority {
                self.leader_ok_ns = now;
                return QuorumChange::None;
            }
            if now.saturating_sub(self.leader_ok_ns) < self.fetch_timeout_ns {
                return QuorumChange::None;
            }
            self.leader = None;
            self.candidate_since = None;
        }
        let candidate = (0..self.voters.len()).find(|&v| self.reach(v, up, linked) >= majority);
        let Some(v) = candidate else {
            self.candidate_since = None;
            return if self.leader_lost_now() {
                QuorumChange::Lost
            } else {
                QuorumChange::None
            };
        };
        let since = *self.candidate_since.get_or_insert(now);
        if now.saturating_sub(since) >= self.election_timeout_ns {
            self.leader = Some(v as u32);
            self.epoch += 1;
            self.leader_ok_ns = now;
            self.candidate_since = None;
            return QuorumChange::Elected;
        }
        if self.leader_lost_now() {
            QuorumChange::Lost
        } else {
            QuorumChange::None
        }
    }

    /// Whether the leader was dropped in this tick (and not reported yet).
    fn leader_lost_now(&mut self) -> bool {
        // The epoch's leader is reported lost once: `leader_ok_ns` is set
        // to Time::MAX when it is.
        if self.leader.is_none() && self.leader_ok_ns != Time::MAX {
            self.leader_ok_ns = Time::MAX;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Time = 1_000_000_000;

    /// Three voters on nodes 10, 11, 12.
    fn quorum() -> Quorum {
        Quorum::new(vec![Node(10), Node(11), Node(12)], 2 * S, S)
    }

    fn run(q: &mut Quorum, from: Time, to: Time, down: &[u32]) -> Vec<(Time, QuorumChange)> {
        let mut out = Vec::new();
        let mut t = from;
        while t <= to {
            let c = q.tick(t, &|n| !down.contains(&n.0), &|_, _| true);
            if c != QuorumChange::None {
                out.push((t, c));
            }
            t += S / 10;
        }
        out
    }

    #[test]
    fn a_leader_that_reaches_a_majority_stays() {
        let mut q = quorum();
        assert!(run(&mut q, 0, 10 * S, &[11]).is_empty());
        assert_eq!(q.leader(), Some(0));
    }

    #[test]
    fn a_lost_leader_is_replaced_after_the_fetch_and_election_timeouts() {
        let mut q = quorum();
        run(&mut q, 0, S, &[]);
        let changes = run(&mut q, S + S / 10, 10 * S, &[10]);
        // Last heard at 1.0 s: lost at 3.0 s, a candidate from then, elected 1 s later.
        assert_eq!(
            changes,
            vec![(3 * S, QuorumChange::Lost), (4 * S, QuorumChange::Elected)]
        );
        assert_eq!(q.leader(), Some(1));
        assert_eq!(q.epoch(), 2);
    }

    #[test]
    fn without_a_majority_nobody_leads_until_one_is_back() {
        let mut q = quorum();
        run(&mut q, 0, S, &[]);
        let changes = run(&mut q, S + S / 10, 20 * S, &[10, 11]);
        assert_eq!(changes, vec![(3 * S, QuorumChange::Lost)]);
        assert!(!q.active());
        let changes = run(&mut q, 20 * S + S / 10, 30 * S, &[10]);
        assert_eq!(changes, vec![(21 * S + S / 10, QuorumChange::Elected)]);
        assert_eq!(q.leader(), Some(1));
    }

    #[test]
    fn a_leader_cut_off_from_the_others_resigns() {
        let mut q = quorum();
        let cut = |a: Node, b: Node| !(a.0 == 10 || b.0 == 10);
        let mut changes = Vec::new();
        let mut t = 0;
        while t <= 10 * S {
            let c = q.tick(t, &|_| true, &cut);
            if c != QuorumChange::None {
                changes.push((t, c));
            }
            t += S / 10;
        }
        assert_eq!(
            changes,
            vec![(2 * S, QuorumChange::Lost), (3 * S, QuorumChange::Elected)]
        );
        assert_eq!(q.leader_node(), Some(Node(11)));
    }
}
