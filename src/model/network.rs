//! The network: one-way latency per link class, FIFO per link, and the
//! link faults that are active (partitions, latency spikes, duplication,
//! reordering).
//!
//! Every message crosses a link with a broker at one end or both. Like a TCP
//! connection, a link delivers in send order: a message never overtakes an
//! earlier one on the same link, however the latency samples fall or a
//! `reorder` fault holds it back (later messages wait behind it: TCP
//! reorders packets, never the messages a connection carries). Latency is
//! drawn from the sending node's own stream; a fault's coin flips come from
//! the fault's own stream. A partition drops every message sent across it
//! while it lasts. A `duplicate` fault cannot make a connection deliver a
//! message twice either: its callers model what the protocol does when a
//! connection drops after a message arrived (see `duplicates`).

use super::dist::Sampler;
use crate::kernel::{Rng, Time};
use crate::scenario::FaultKind;
use rand::Rng as _;

/// A link fault while it is active: which links it strikes and how.
pub(crate) struct LinkFault {
    pub fault: u32,
    pub kind: FaultKind,
    /// Node membership of the two sides.
    pub a: Vec<bool>,
    pub b: Vec<bool>,
    pub probability: f64,
    pub latency: Time,
    pub rng: Rng,
}

impl LinkFault {
    #[inline]
    fn strikes(&self, from: Node, to: Node) -> bool {
        let (f, t) = (from.0 as usize, to.0 as usize);
        (self.a[f] && self.b[t]) || (self.b[f] && self.a[t])
    }
}

/// Nodes are numbered producers, then brokers, then consumers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Node(pub u32);

pub(crate) struct Network {
    client: Sampler,
    replication: Sampler,
    brokers: u32,
    first_broker: u32,
    /// Per node, its own latency stream.
    rngs: Vec<Rng>,
    /// Last delivery time per (node, broker, direction).
    fifo: Vec<Time>,
    /// Link faults in force, in the order they started.
    pub active: Vec<LinkFault>,
}

impl Network {
    pub fn new(
        client: Sampler,
        replication: Sampler,
        producers: u32,
        brokers: u32,
        rngs: Vec<Rng>,
    ) -> Self {
        let nodes = rngs.len();
        Network {
            client,
            replication,
            brokers,
            first_broker: producers,
            rngs,
            fifo: vec![0; nodes * brokers as usize * 2],
            active: Vec::new(),
        }
    }

    pub fn broker(&self, b: u32) -> Node {
        Node(self.first_broker + b)
    }

    fn broker_index(&self, n: Node) -> Option<u32> {
        n.0.checked_sub(self.first_broker)
            .filter(|&b| b < self.brokers)
    }

    /// When a message sent now from `from` to `to` arrives; `None` when a
    /// network partition drops it.
    #[inline]
    pub fn deliver_at(&mut self, now: Time, from: Node, to: Node) -> Option<Time> {
        let (link, class) = match (self.broker_index(from), self.broker_index(to)) {
            (Some(_), Some(b)) => (
                (from.0 as usize * self.brokers as usize + b as usize) * 2,
                &self.replication,
            ),
            (None, Some(b)) => (
                (from.0 as usize * self.brokers as usize + b as usize) * 2,
                &self.client,
            ),
            (Some(b), None) => (
                (to.0 as usize * self.brokers as usize + b as usize) * 2 + 1,
                &self.client,
            ),
            (None, None) => unreachable!("every link has a broker at one end"),
        };
        let mut delay = class.sample(&mut self.rngs[from.0 as usize]);
        if !self.active.is_empty() {
            let mut held_back = None;
            for lf in &mut self.active {
                if !lf.strikes(from, to) {
                    continue;
                }
                match lf.kind {
                    FaultKind::Partition => return None,
                    FaultKind::LatencySpike => delay += lf.latency,
                    FaultKind::Reorder if lf.rng.r#gen::<f64>() < lf.probability => {
                        held_back = Some(lf.rng.gen_range(1..=lf.latency.max(1)));
                    }
                    _ => {}
                }
            }
            if let Some(extra) = held_back {
                // Held back; TCP still delivers in order, so later
                // messages on the link wait behind it.
                delay += extra;
            }
        }
        let at = (now + delay).max(self.fifo[link]);
        self.fifo[link] = at;
        Some(at)
    }

    /// Whether a `duplicate` fault strikes the message just sent: the
    /// connection drops after it arrived, and the sender acts as its
    /// protocol does (a producer retries the request, so the broker gets
    /// it twice; a fetch response's records arrive again and the consumer
    /// discards those below its position).
    #[inline]
    pub fn duplicates(&mut self, from: Node, to: Node) -> bool {
        if self.active.is_empty() {
            return false;
        }
        let mut dup = false;
        for lf in &mut self.active {
            if lf.kind == FaultKind::Duplicate
                && lf.strikes(from, to)
                && lf.rng.r#gen::<f64>() < lf.probability
            {
                dup = true;
            }
        }
        dup
    }

    /// Whether a partition cuts `a` off from `b` right now.
    pub fn cut(&self, a: Node, b: Node) -> bool {
        self.active
            .iter()
            .any(|lf| lf.kind == FaultKind::Partition && lf.strikes(a, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::rng_stream;

    fn net() -> Network {
        let rngs = (0..3).map(|i| rng_stream(1, &format!("n{i}"))).collect();
        Network::new(Sampler::Constant(1000), Sampler::Constant(1000), 1, 2, rngs)
    }

    fn fault(kind: FaultKind, probability: f64, latency: Time) -> LinkFault {
        // Side a: the producer (node 0); side b: broker 0 (node 1).
        LinkFault {
            fault: 0,
            kind,
            a: vec![true, false, false],
            b: vec![false, true, false],
            probability,
            latency,
            rng: rng_stream(1, "fault"),
        }
    }

    #[test]
    fn a_partition_drops_only_the_links_it_cuts() {
        let mut n = net();
        n.active.push(fault(FaultKind::Partition, 0.0, 0));
        let (p, b0, b1) = (Node(0), n.broker(0), n.broker(1));
        assert_eq!(n.deliver_at(0, p, b0), None);
        assert_eq!(n.deliver_at(0, b0, p), None, "both directions");
        assert_eq!(n.deliver_at(0, p, b1), Some(1000));
        assert!(n.cut(p, b0) && !n.cut(p, b1));
        n.active.clear();
        assert_eq!(n.deliver_at(0, p, b0), Some(1000));
    }

    #[test]
    fn a_latency_spike_adds_its_latency() {
        let mut n = net();
        n.active.push(fault(FaultKind::LatencySpike, 0.0, 50_000));
        assert_eq!(n.deliver_at(0, Node(0), n.broker(0)), Some(51_000));
    }

    #[test]
    fn reordering_holds_messages_back_without_breaking_fifo_and_duplication_flips_its_coin() {
        let mut n = net();
        n.active.push(fault(FaultKind::Reorder, 0.5, 1_000_000));
        let (p, b0) = (Node(0), n.broker(0));
        let times: Vec<Time> = (0..200).map(|t| n.deliver_at(t, p, b0).unwrap()).collect();
        assert!(
            times.windows(2).all(|w| w[1] >= w[0]),
            "TCP keeps the order"
        );
        let held = times
            .iter()
            .enumerate()
            .filter(|&(t, &at)| at > t as Time + 1000)
            .count();
        assert!(held > 100, "{held}");
        let mut n = net();
        n.active.push(fault(FaultKind::Duplicate, 0.25, 0));
        let dups = (0..1000).filter(|_| n.duplicates(p, b0)).count();
        assert!((180..320).contains(&dups), "{dups}");
        assert!(!(0..100).any(|_| n.duplicates(p, n.broker(1))));
    }

    #[test]
    fn links_deliver_in_send_order() {
        let rngs = (0..3).map(|i| rng_stream(1, &format!("n{i}"))).collect();
        let spread = Sampler::Uniform(0.0, 1_000_000.0);
        let mut net = Network::new(spread.clone(), spread, 1, 1, rngs);
        let (producer, broker) = (Node(0), net.broker(0));
        let mut last = 0;
        for t in 0..1000 {
            let at = net.deliver_at(t * 10, producer, broker).unwrap();
            assert!(at >= last && at >= t * 10);
            last = at;
        }
    }
}
