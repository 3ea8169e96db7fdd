//! How a component talks to the rest of the model.
//!
//! A component (today: the brokers, `broker::Cluster`) owns its state and
//! changes only that. It reads the rest of the world through a [`Ctx`]
//! (the clock, the network's layout, event metadata, which nodes run and
//! whether a broker reaches the active controller), and whatever else it
//! wants done (a message sent, a timer set, an observation told, another
//! component told) it appends to its [`Effects`]. `World::with_cluster`
//! hands the component its context, then carries the effects out in the
//! order they were asked for, before anything else happens: so a run is
//! the same, draw for draw and byte for byte, as if the component had
//! done them itself.
//!
//! The one rule this asks of a component: within one call, it must not
//! read what its own effects will change (another component's state, or
//! its own state through another component, such as a consumer fetch an
//! effect will park again). A step that must see them is a second call:
//! `World::restart_broker` fences a broker's old incarnation in one call
//! and lets it in with the next.

use super::network::{Network, Node, NodeState};
use super::{Ev, EventMeta, ProduceResult, controller::Quorum, window::Window};
use crate::history::{EventId, Observation};
use crate::kernel::Time;

/// One thing a component asks of the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// A message from `from` to `to` of `bytes` bytes: `ev` wakes its
    /// receiver when it arrives. If the network loses it, `lost` (a delay
    /// and an event) wakes the sender instead, that long from now.
    Send {
        from: Node,
        to: Node,
        bytes: u64,
        ev: Ev,
        lost: Option<(Time, Ev)>,
    },
    /// `ev` wakes at `at`.
    Wake { at: Time, ev: Ev },
    /// Tell the metrics, the time series, the checkers and the observers.
    Observe(Observation),
    /// A produce request's attempt that a partition held (an acks = all
    /// append waiting for the high watermark) is answered by `broker`:
    /// the partition lets go of it.
    Answer {
        broker: u32,
        req: u32,
        attempt: u32,
        result: ProduceResult,
    },
    /// A consumer's fetch that waited at a partition for data can be
    /// served now.
    ServeFetch {
        consumer: u32,
        part: u32,
        epoch: u32,
    },
    /// A record left a partition's log (by retention, or `compacted`):
    /// the groups that had not read it are told.
    Removed {
        event: EventId,
        part: u32,
        offset: u64,
        compacted: bool,
    },
    /// A marker of `producer`'s transaction `number` is below the high
    /// watermark: the transaction coordinator counts it written.
    MarkerWritten { producer: u32, number: u32 },
}

/// What a component asked for during one call, in order.
#[derive(Default)]
pub(crate) struct Effects {
    list: Vec<Effect>,
}

impl Effects {
    #[inline]
    pub fn push(&mut self, e: Effect) {
        self.list.push(e);
    }

    #[inline]
    pub fn observe(&mut self, o: Observation) {
        self.list.push(Effect::Observe(o));
    }

    /// Take the effects out in order, leaving the buffer (and its
    /// allocation) empty.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Effect> {
        self.list.drain(..)
    }

    /// What was asked, for tests.
    #[cfg(test)]
    pub fn list(&self) -> &[Effect] {
        &self.list
    }
}

/// What a component may read of the world beside its own state.
pub(crate) struct Ctx<'a> {
    pub now: Time,
    pub net: &'a Network,
    pub events: &'a Window<EventMeta>,
    pub quorum: &'a Quorum,
    pub node_state: &'a [NodeState],
    /// Nodes not up (0: every node runs).
    pub down_nodes: u32,
}

impl<'a> Ctx<'a> {
    pub fn new(
        now: Time,
        net: &'a Network,
        events: &'a Window<EventMeta>,
        quorum: &'a Quorum,
        node_state: &'a [NodeState],
        down_nodes: u32,
    ) -> Ctx<'a> {
        Ctx {
            now,
            net,
            events,
            quorum,
            node_state,
            down_nodes,
        }
    }

    /// Whether node `n` runs (neither crashed nor paused).
    #[inline]
    pub fn is_up(&self, n: Node) -> bool {
        self.down_nodes == 0 || self.node_state[n.0 as usize] == NodeState::Up
    }

    #[inline]
    pub fn broker_up(&self, b: u32) -> bool {
        self.is_up(self.net.broker(b))
    }

    /// Whether broker `b` can reach the active controller: it runs, the
    /// quorum has a leader, and no partition cuts the two apart. Its
    /// heartbeats and the leader's ISR changes (AlterPartition) go there.
    pub fn controller_reachable(&self, b: u32) -> bool {
        let node = self.net.broker(b);
        let Some(controller) = self.quorum.leader_node() else {
            return false;
        };
        self.is_up(node)
            && self.is_up(controller)
            && (self.net.active.is_empty() || !self.net.cut(node, controller))
    }
}
