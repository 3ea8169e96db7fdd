//! The network: one-way latency per link class, FIFO per link.
//!
//! Every message crosses a link with a broker at one end or both. Like a TCP
//! connection, a link delivers in send order: a message never overtakes an
//! earlier one on the same link, however the latency samples fall. Latency
//! is drawn from the sending node's own stream.

use super::dist::Sampler;
use crate::kernel::{Rng, Time};

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
        }
    }

    pub fn broker(&self, b: u32) -> Node {
        Node(self.first_broker + b)
    }

    fn broker_index(&self, n: Node) -> Option<u32> {
        n.0.checked_sub(self.first_broker)
            .filter(|&b| b < self.brokers)
    }

    /// When a message sent now from `from` to `to` arrives.
    #[inline]
    pub fn deliver_at(&mut self, now: Time, from: Node, to: Node) -> Time {
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
        let delay = class.sample(&mut self.rngs[from.0 as usize]);
        let at = (now + delay).max(self.fifo[link]);
        self.fifo[link] = at;
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::rng_stream;

    #[test]
    fn links_deliver_in_send_order() {
        let rngs = (0..3).map(|i| rng_stream(1, &format!("n{i}"))).collect();
        let spread = Sampler::Uniform(0.0, 1_000_000.0);
        let mut net = Network::new(spread.clone(), spread, 1, 1, rngs);
        let (producer, broker) = (Node(0), net.broker(0));
        let mut last = 0;
        for t in 0..1000 {
            let at = net.deliver_at(t * 10, producer, broker);
            assert!(at >= last && at >= t * 10);
            last = at;
        }
    }
}
