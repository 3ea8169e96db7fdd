//! The history: what happened in a run, as observations.
//!
//! The model reports observations to [`Observer`]s and never judges itself;
//! metrics (and, later, checkers and trace writers) are observers. Ids are
//! plain indices; [`Catalog`] turns them into the names of the scenario file.

use crate::kernel::Time;

/// Index of an event in the run (unique across producers and emitters).
pub type EventId = u32;

/// Names behind the ids that observations carry.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// Producer names; service emitters are named `GROUP->TOPIC`.
    pub producers: Vec<String>,
    pub topics: Vec<String>,
    /// Global partition index -> (topic index, partition number in the topic).
    pub partitions: Vec<(u32, u32)>,
    pub groups: Vec<String>,
    /// Global consumer index -> (group index, index in the group).
    pub consumers: Vec<(u32, u32)>,
    pub event_types: Vec<String>,
    /// Global key index -> key text.
    pub keys: Vec<String>,
    pub brokers: u32,
    /// For each group, the global partition indices it subscribes to.
    pub group_partitions: Vec<Vec<u32>>,
    /// Node id -> name as fault targets name it (`order-service`,
    /// `broker-0`, `payment/1`).
    pub nodes: Vec<String>,
}

impl Catalog {
    /// `orders-3`, Kafka's usual name for a topic partition.
    pub fn partition_name(&self, partition: u32) -> String {
        let (t, p) = self.partitions[partition as usize];
        format!("{}-{}", self.topics[t as usize], p)
    }
    /// `billing/2`: a group and the consumer's index in it.
    pub fn consumer_name(&self, consumer: u32) -> String {
        let (g, i) = self.consumers[consumer as usize];
        format!("{}/{}", self.groups[g as usize], i)
    }
}

/// One thing that happened. Times are given with the observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Observation {
    /// A producer created an event (its creation time is the observation time).
    Produced {
        event: EventId,
        producer: u32,
        partition: u32,
        key: u32,
        event_type: u16,
        /// The event that started the causal chain (itself for a root event).
        origin: EventId,
        origin_created_ns: Time,
    },
    /// The producer learned the event is acknowledged (at once with acks = 0).
    Acked {
        event: EventId,
        producer: u32,
        created_ns: Time,
    },
    /// The producer gave up on the event (retries or delivery timeout exhausted).
    ProduceFailed { event: EventId },
    /// The partition leader appended the event at `offset`.
    Appended {
        event: EventId,
        partition: u32,
        offset: u64,
    },
    /// A consumer's poll returned the event.
    Delivered {
        event: EventId,
        group: u32,
        consumer: u32,
        partition: u32,
        offset: u64,
    },
    /// Processing finished and the effect was applied to the group's state.
    Applied {
        event: EventId,
        group: u32,
        consumer: u32,
        created_ns: Time,
        origin_created_ns: Time,
    },
    /// Processing finished but the idempotency guard skipped the effect.
    Skipped {
        event: EventId,
        group: u32,
        consumer: u32,
    },
    /// The group's committed offset for a partition moved to `offset`.
    Committed {
        group: u32,
        consumer: u32,
        partition: u32,
        offset: u64,
        generation: u32,
    },
    /// A service emitted `event` while processing `source`.
    Emitted {
        event: EventId,
        source: EventId,
        group: u32,
    },
    /// A group finished a rebalance into `generation`.
    Rebalanced { group: u32, generation: u32 },
    /// A partition was assigned to a consumer in `generation`.
    Assigned {
        group: u32,
        consumer: u32,
        partition: u32,
        generation: u32,
    },
    /// The coordinator expelled a consumer it had not heard from for its
    /// session timeout.
    Expelled { group: u32, consumer: u32 },
    /// A new leader took over a partition (`broker: None`: the partition
    /// went offline, no replica may lead).
    LeaderElected {
        partition: u32,
        broker: Option<u32>,
        epoch: u32,
        unclean: bool,
    },
    /// The event, at `offset` in the old leader's log, is gone from the
    /// partition: the new leader never had it.
    Truncated {
        event: EventId,
        partition: u32,
        offset: u64,
    },
    /// The partition's ISR changed size.
    IsrChanged { partition: u32, isr: u32 },
    /// The controller fenced a broker it had not heard from.
    Fenced { broker: u32 },
    /// Retention deleted the event before the group read it.
    Expired {
        event: EventId,
        group: u32,
        partition: u32,
        offset: u64,
    },
    /// A node changed state: 0 up, 1 crashed, 2 paused.
    NodeState { node: u32, state: u8 },
    /// A fault of the plan fired (index into the run's fault plan).
    FaultStarted { fault: u32 },
    /// A fault's duration ended (a crashed node restarted).
    FaultEnded { fault: u32 },
    /// The group's handler failed on the event (attempt 1 is the first try).
    HandlerFailed {
        event: EventId,
        group: u32,
        consumer: u32,
        attempt: u32,
    },
    /// The handler gave up on the event after its retries: published to the
    /// dead-letter topic, or skipped; its effect is not applied.
    GaveUp {
        event: EventId,
        group: u32,
        consumer: u32,
        dead_lettered: bool,
    },
}

/// Something that watches a run as it happens.
pub trait Observer {
    fn observe(&mut self, at: Time, observation: &Observation);
}
