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
use crate::model::variates;
use crate::scenario::FaultKind;

/// Pause between a client's attempts after a refused or failed connection
/// (Kafka's retry.backoff.ms / reconnect.backoff.ms).
pub(crate) const RECONNECT_BACKOFF_NS: Time = 100_000_000;

/// What a node id designates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeKind {
    Producer(u32),
    Broker(u32),
    Consumer(u32),
    Service(u32),
    Controller(u32),
}

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
    /// Messages it dropped, delayed, held back or duplicated.
    pub struck: u64,
}

impl LinkFault {
    #[inline]
    fn strikes(&self, from: Node, to: Node) -> bool {
        let (f, t) = (from.0 as usize, to.0 as usize);
        (self.a[f] && self.b[t]) || (self.b[f] && self.a[t])
    }
}

/// How long a link keeps one latency draw. A link's latency is propagation
/// plus queueing along its path, which changes over time but is shared by
/// the messages that cross it together: every message sent within one
/// window takes the same draw, so a link's FIFO order does not make
/// messages inherit the largest of many independent draws (which would
/// make latency grow with load). A link carrying less than one message per
/// window draws afresh for each.
pub(crate) const LINK_DELAY_WINDOW_NS: Time = 10_000_000;

/// One direction of a link between a node and a broker.
#[derive(Clone, Copy, Default)]
struct Link {
    /// When the last message sent on it arrives (FIFO).
    last_arrival: Time,
    /// The current latency draw, and until when it holds.
    delay: Time,
    delay_until: Time,
    /// With a bandwidth: when the link has finished transmitting.
    free_at: Time,
}

/// Nodes are numbered producers, then brokers, then consumers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Node(pub u32);

/// Whether a node is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeState {
    Up,
    Crashed,
    /// No progress from `since` until `until`.
    Paused {
        since: Time,
        until: Time,
    },
}

pub(crate) struct Network {
    client: Sampler,
    replication: Sampler,
    brokers: u32,
    first_broker: u32,
    /// Per node, its own latency stream.
    rngs: Vec<Rng>,
    /// Per (node, broker, direction).
    links: Vec<Link>,
    /// Nanoseconds to transmit one byte on a link (0: unlimited).
    link_ns_per_byte: f64,
    /// Nanoseconds for one byte through a broker's network interface (0:
    /// unlimited), and when each broker's interface is free, out and in.
    nic_ns_per_byte: f64,
    nic_free: Vec<[Time; 2]>,
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
            links: vec![Link::default(); nodes * brokers as usize * 2],
            link_ns_per_byte: 0.0,
            nic_ns_per_byte: 0.0,
            nic_free: vec![[0; 2]; brokers as usize],
            active: Vec::new(),
        }
    }

    /// Limit each link, and each broker's network interface, to so many
    /// bytes per second (`None`: unlimited).
    pub fn set_bandwidth(&mut self, link: Option<f64>, broker_nic: Option<f64>) {
        let per_byte = |bw: Option<f64>| bw.map_or(0.0, |b| 1e9 / b);
        self.link_ns_per_byte = per_byte(link);
        self.nic_ns_per_byte = per_byte(broker_nic);
    }

    /// Whether message sizes matter (a bandwidth is set): callers that must
    /// add up a message's bytes can skip it otherwise.
    #[inline]
    pub fn counts_bytes(&self) -> bool {
        self.link_ns_per_byte > 0.0 || self.nic_ns_per_byte > 0.0
    }

    pub fn broker(&self, b: u32) -> Node {
        Node(self.first_broker + b)
    }

    fn broker_index(&self, n: Node) -> Option<u32> {
        n.0.checked_sub(self.first_broker)
            .filter(|&b| b < self.brokers)
    }

    /// When a message of `bytes` bytes sent now from `from` to `to` arrives;
    /// `None` when a network partition drops it.
    #[inline]
    pub fn deliver_at(&mut self, now: Time, from: Node, to: Node, bytes: u64) -> Option<Time> {
        let (from_b, to_b) = (self.broker_index(from), self.broker_index(to));
        let (link, class) = match (from_b, to_b) {
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
        let l = &mut self.links[link];
        if now >= l.delay_until {
            l.delay = class.sample(&mut self.rngs[from.0 as usize]);
            l.delay_until = now + LINK_DELAY_WINDOW_NS;
        }
        let mut delay = l.delay;
        if !self.active.is_empty() {
            delay = self.faulted(from, to, delay)?;
        }
        let sent = if self.counts_bytes() && bytes > 0 {
            self.transmit(now, link, from_b, to_b, bytes)
        } else {
            now
        };
        let l = &mut self.links[link];
        let mut at = (sent + delay).max(l.last_arrival);
        if self.nic_ns_per_byte > 0.0
            && bytes > 0
            && let Some(b) = to_b
        {
            // The receiving broker's interface takes the bytes in.
            let nic = &mut self.nic_free[b as usize][1];
            at = at.max(*nic) + (bytes as f64 * self.nic_ns_per_byte).round() as Time;
            *nic = at;
        }
        let l = &mut self.links[link];
        l.last_arrival = at;
        Some(at)
    }

    /// The client at `from` closed its connection to broker `to` (a request
    /// timed out) and opens a new one: what it sends next is not ordered
    /// behind what the old connection still carries.
    pub fn reconnect(&mut self, now: Time, from: Node, to: Node) {
        let (Some(b), None) = (self.broker_index(to), self.broker_index(from)) else {
            return;
        };
        let link = (from.0 as usize * self.brokers as usize + b as usize) * 2;
        let l = &mut self.links[link];
        l.last_arrival = l.last_arrival.min(now);
    }

    /// When a call or reply sent now from service (or its caller) `from`
    /// to `to` arrives, over a link with no broker (each call has its own
    /// connection: no order between calls); `None` when a partition drops
    /// it. Latency is the client class's, drawn from the sender's stream.
    pub fn deliver_direct(&mut self, now: Time, from: Node, to: Node) -> Option<Time> {
        let delay = self.client.sample(&mut self.rngs[from.0 as usize]);
        Some(now + self.faulted(from, to, delay)?)
    }

    /// `delay` as the link faults on `from` -> `to` make it (`None`: a
    /// partition drops the message).
    fn faulted(&mut self, from: Node, to: Node, mut delay: Time) -> Option<Time> {
        for lf in &mut self.active {
            if !lf.strikes(from, to) {
                continue;
            }
            match lf.kind {
                FaultKind::Partition => {
                    lf.struck += 1;
                    return None;
                }
                FaultKind::LatencySpike => {
                    lf.struck += 1;
                    delay += lf.latency;
                }
                FaultKind::Reorder if variates::chance(&mut lf.rng, lf.probability) => {
                    // Held back; TCP still delivers in order, so later
                    // messages on the link wait behind it.
                    lf.struck += 1;
                    delay += variates::in_range(&mut lf.rng, 1, lf.latency.max(1));
                }
                _ => {}
            }
        }
        Some(delay)
    }

    /// Serialise `bytes` onto the sending broker's interface and the link;
    /// when the last byte has left.
    fn transmit(
        &mut self,
        now: Time,
        link: usize,
        from_b: Option<u32>,
        _to_b: Option<u32>,
        bytes: u64,
    ) -> Time {
        let mut t = now;
        if self.nic_ns_per_byte > 0.0
            && let Some(b) = from_b
        {
            let nic = &mut self.nic_free[b as usize][0];
            t = t.max(*nic) + (bytes as f64 * self.nic_ns_per_byte).round() as Time;
            *nic = t;
        }
        if self.link_ns_per_byte > 0.0 {
            let l = &mut self.links[link];
            t = t.max(l.free_at) + (bytes as f64 * self.link_ns_per_byte).round() as Time;
            l.free_at = t;
        }
        t
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
                && variates::chance(&mut lf.rng, lf.probability)
            {
                lf.struck += 1;
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
            struck: 0,
        }
    }

    #[test]
    fn a_partition_drops_only_the_links_it_cuts() {
        let mut n = net();
        n.active.push(fault(FaultKind::Partition, 0.0, 0));
        let (p, b0, b1) = (Node(0), n.broker(0), n.broker(1));
        assert_eq!(n.deliver_at(0, p, b0, 0), None);
        assert_eq!(n.deliver_at(0, b0, p, 0), None, "both directions");
        assert_eq!(n.deliver_at(0, p, b1, 0), Some(1000));
        assert!(n.cut(p, b0) && !n.cut(p, b1));
        n.active.clear();
        assert_eq!(n.deliver_at(0, p, b0, 0), Some(1000));
    }

    #[test]
    fn a_latency_spike_adds_its_latency() {
        let mut n = net();
        n.active.push(fault(FaultKind::LatencySpike, 0.0, 50_000));
        assert_eq!(n.deliver_at(0, Node(0), n.broker(0), 0), Some(51_000));
    }

    #[test]
    fn reordering_holds_messages_back_without_breaking_fifo_and_duplication_flips_its_coin() {
        let mut n = net();
        n.active.push(fault(FaultKind::Reorder, 0.5, 1_000_000));
        let (p, b0) = (Node(0), n.broker(0));
        let times: Vec<Time> = (0..200)
            .map(|t| n.deliver_at(t, p, b0, 0).unwrap())
            .collect();
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
            let at = net.deliver_at(t * 10, producer, broker, 0).unwrap();
            assert!(at >= last && at >= t * 10);
            last = at;
        }
    }
}
