//! The history: what happened in a run, as observations.
//!
//! The model reports observations to [`Observer`]s and never judges itself;
//! metrics (and, later, checkers and trace writers) are observers. Ids are
//! plain indices; [`Catalog`] turns them into the names of the scenario file.

use crate::kernel::Time;
use serde::{Deserialize, Serialize};

/// Index of an event in the run (unique across producers and emitters).
pub type EventId = u32;

/// A key's id in the run's [`KeySpace`].
pub type KeyId = u64;

/// The `value` of a tombstone: a record with a null value, which deletes
/// its key (a `last-write` projection holds 0 for it afterwards; log
/// compaction keeps it for `delete_retention`). Other records' values are
/// 1..=1000.
pub const TOMBSTONE: u32 = 0;

/// Names behind the ids that observations carry.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// Producer names; service emitters are named `GROUP->TOPIC`.
    pub producers: Vec<String>,
    /// Per producer: whether it writes in transactions (a
    /// `transactional.id`).
    pub transactional: Vec<bool>,
    /// Topic names.
    pub topics: Vec<String>,
    /// Global partition index -> (topic index, partition number in the topic).
    pub partitions: Vec<(u32, u32)>,
    /// Consumer group names.
    pub groups: Vec<String>,
    /// Global consumer index -> (group index, index in the group).
    pub consumers: Vec<(u32, u32)>,
    /// Event type names.
    pub event_types: Vec<String>,
    /// Key id -> key text, computed on demand (nothing is kept per key).
    pub keys: KeySpace,
    /// How many brokers (`broker-0` on).
    pub brokers: u32,
    /// For each group, the global partition indices it subscribes to.
    pub group_partitions: Vec<Vec<u32>>,
    /// Replicas per partition (the ISR's full size).
    pub replication: Vec<u32>,
    /// Node id -> name as fault targets name it (`order-service`,
    /// `broker-0`, `payment/1`).
    pub nodes: Vec<String>,
    /// Per group: when its consumers start (its `start`).
    pub group_start_ns: Vec<Time>,
    /// The business flows the scenario follows (`[[flows]]`).
    pub flows: Vec<FlowDef>,
    /// Service names (`[[services]]`).
    pub services: Vec<String>,
    /// Per partition: the brokers holding its replicas, the first of them
    /// its leader at the start.
    pub replicas: Vec<Vec<u32>>,
    /// Per partition: its topic's `min_insync_replicas`.
    pub min_isr: Vec<u32>,
    /// Node id of `broker-0` (brokers' nodes follow in order).
    pub first_broker_node: u32,
    /// Node id of each voter of the metadata quorum (`controller-N`, or
    /// brokers in combined mode).
    pub voters: Vec<u32>,
}

/// One `[[flows]]` of the scenario, its event types resolved to ids.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowDef {
    /// The flow's name (`order`).
    pub name: String,
    /// The event type of the root event that starts a flow.
    pub starts: u16,
    /// Event types whose acknowledgement completes the flow.
    pub completes: Vec<u16>,
    /// Event types that say the flow failed by a business rule: from then
    /// on it must be compensated.
    pub fails: Vec<u16>,
    /// Resources the flow holds: (name, the event type that takes it, the
    /// one that releases it).
    pub holds: Vec<(String, u16, u16)>,
    /// How long after its root event's creation a flow may take to end.
    pub within_ns: Time,
}

impl Catalog {
    /// `orders-3`, Kafka's usual name for a topic partition.
    pub fn partition_name(&self, partition: u32) -> String {
        let (t, p) = self.partitions[partition as usize];
        format!("{}-{}", self.topics[t as usize], p)
    }
    /// The caller of a synchronous call: a service's name, or `client`
    /// for [`OUTSIDE`].
    pub fn caller_name(&self, caller: u32) -> &str {
        self.services
            .get(caller as usize)
            .map_or("client", String::as_str)
    }
    /// `billing/2`: a group and the consumer's index in it.
    pub fn consumer_name(&self, consumer: u32) -> String {
        let (g, i) = self.consumers[consumer as usize];
        format!("{}/{}", self.groups[g as usize], i)
    }
}

/// The run's keys: a producer's key is its `key_prefix` followed by a
/// number below its `keys.n`. A key's id is its prefix's first id plus its
/// number, so a key space of any size costs nothing until a key is drawn;
/// producers with the same prefix share its keys (and the largest `n`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySpace {
    /// (prefix, first id, count), in order of first use: first ids grow.
    ranges: Vec<(String, u64, u64)>,
}

impl KeySpace {
    /// The key space of (prefix, n) pairs, in producer order. Ids past
    /// `u64::MAX` saturate (validation refuses such scenarios).
    pub fn new<'a>(producers: impl IntoIterator<Item = (&'a str, u64)>) -> KeySpace {
        let mut ranges: Vec<(String, u64, u64)> = Vec::new();
        for (prefix, n) in producers {
            match ranges.iter().position(|r| r.0 == prefix) {
                Some(i) => ranges[i].2 = ranges[i].2.max(n),
                None => ranges.push((prefix.to_string(), 0, n)),
            }
        }
        let mut next = 0u64;
        for r in &mut ranges {
            r.1 = next;
            next = next.saturating_add(r.2);
        }
        KeySpace { ranges }
    }

    /// How many keys there are (ids are `0..len`).
    pub fn len(&self) -> u64 {
        self.ranges.last().map_or(0, |r| r.1.saturating_add(r.2))
    }

    /// No key at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of key number 0 of `prefix` (0 for an unknown prefix).
    pub fn base(&self, prefix: &str) -> u64 {
        self.ranges
            .iter()
            .find(|r| r.0 == prefix)
            .map_or(0, |r| r.1)
    }

    /// (prefix, number) of key `id`.
    pub fn parts(&self, id: u64) -> (&str, u64) {
        let i = self.ranges.partition_point(|r| r.1 <= id).saturating_sub(1);
        match self.ranges.get(i) {
            Some((prefix, base, _)) => (prefix, id - base),
            None => ("", id),
        }
    }

    /// The key's text, e.g. `order-17`.
    pub fn text(&self, id: u64) -> String {
        let (prefix, n) = self.parts(id);
        format!("{prefix}{n}")
    }

    /// The key's text as bytes in `buf` (no allocation when it fits).
    pub fn write_text<'b>(&self, id: u64, buf: &'b mut Vec<u8>) -> &'b [u8] {
        use std::io::Write as _;
        let (prefix, n) = self.parts(id);
        buf.clear();
        buf.extend_from_slice(prefix.as_bytes());
        let _ = write!(buf, "{n}");
        buf
    }

    /// The id of the key whose text is `text`, if a producer makes it.
    pub fn find(&self, text: &str) -> Option<u64> {
        self.ranges.iter().find_map(|(prefix, base, count)| {
            let digits = text.strip_prefix(prefix.as_str())?;
            let n = digits.parse::<u64>().ok()?;
            (n.to_string() == digits && n < *count).then(|| base + n)
        })
    }
}

/// The kind of an observation (its variant), for observers that read only
/// some kinds: checkers subscribe by kind, so each is called only for
/// what it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Kind {
    /// [`Observation::Produced`].
    Produced,
    /// [`Observation::Acked`].
    Acked,
    /// [`Observation::Sent`].
    Sent,
    /// [`Observation::Replicated`].
    Replicated,
    /// [`Observation::ProduceFailed`].
    ProduceFailed,
    /// [`Observation::Aborted`].
    Aborted,
    /// [`Observation::Rewound`].
    Rewound,
    /// [`Observation::TxnMarker`].
    TxnMarker,
    /// [`Observation::TxnEnded`].
    TxnEnded,
    /// [`Observation::Appended`].
    Appended,
    /// [`Observation::Delivered`].
    Delivered,
    /// [`Observation::Applied`].
    Applied,
    /// [`Observation::Skipped`].
    Skipped,
    /// [`Observation::Committed`].
    Committed,
    /// [`Observation::Emitted`].
    Emitted,
    /// [`Observation::Rebalanced`].
    Rebalanced,
    /// [`Observation::Assigned`].
    Assigned,
    /// [`Observation::Expelled`].
    Expelled,
    /// [`Observation::ResetRefused`].
    ResetRefused,
    /// [`Observation::LeaderElected`].
    LeaderElected,
    /// [`Observation::Truncated`].
    Truncated,
    /// [`Observation::IsrChanged`].
    IsrChanged,
    /// [`Observation::HighWatermark`].
    HighWatermark,
    /// [`Observation::Fenced`].
    Fenced,
    /// [`Observation::Unfenced`].
    Unfenced,
    /// [`Observation::Controller`].
    Controller,
    /// [`Observation::Expired`].
    Expired,
    /// [`Observation::Compacted`].
    Compacted,
    /// [`Observation::NodeState`].
    NodeState,
    /// [`Observation::FaultStarted`].
    FaultStarted,
    /// [`Observation::FaultEnded`].
    FaultEnded,
    /// [`Observation::HandlerFailed`].
    HandlerFailed,
    /// [`Observation::GaveUp`].
    GaveUp,
    /// [`Observation::Requested`].
    Requested,
    /// [`Observation::Acted`].
    Acted,
    /// [`Observation::CallEnded`].
    CallEnded,
}

/// How many kinds of observation there are.
pub const KINDS: usize = Kind::CallEnded as usize + 1;

impl Observation {
    /// (group, consumer, partition) of what a consumer did to a partition
    /// it holds (received, committed, rewound, could not reset).
    pub fn member_partition(&self) -> Option<(u32, u32, u32)> {
        match *self {
            Observation::Rewound {
                group,
                consumer,
                partition,
                ..
            }
            | Observation::Committed {
                group,
                consumer,
                partition,
                ..
            }
            | Observation::Assigned {
                group,
                consumer,
                partition,
                ..
            }
            | Observation::ResetRefused {
                group,
                consumer,
                partition,
                ..
            } => Some((group, consumer, partition)),
            _ => None,
        }
    }

    /// The observation's kind.
    #[inline]
    pub fn kind(&self) -> Kind {
        match self {
            Observation::Produced { .. } => Kind::Produced,
            Observation::Acked { .. } => Kind::Acked,
            Observation::Sent { .. } => Kind::Sent,
            Observation::Replicated { .. } => Kind::Replicated,
            Observation::ProduceFailed { .. } => Kind::ProduceFailed,
            Observation::Aborted { .. } => Kind::Aborted,
            Observation::Rewound { .. } => Kind::Rewound,
            Observation::TxnMarker { .. } => Kind::TxnMarker,
            Observation::TxnEnded { .. } => Kind::TxnEnded,
            Observation::Appended { .. } => Kind::Appended,
            Observation::Delivered { .. } => Kind::Delivered,
            Observation::Applied { .. } => Kind::Applied,
            Observation::Skipped { .. } => Kind::Skipped,
            Observation::Committed { .. } => Kind::Committed,
            Observation::Emitted { .. } => Kind::Emitted,
            Observation::Rebalanced { .. } => Kind::Rebalanced,
            Observation::Assigned { .. } => Kind::Assigned,
            Observation::Expelled { .. } => Kind::Expelled,
            Observation::ResetRefused { .. } => Kind::ResetRefused,
            Observation::LeaderElected { .. } => Kind::LeaderElected,
            Observation::Truncated { .. } => Kind::Truncated,
            Observation::IsrChanged { .. } => Kind::IsrChanged,
            Observation::HighWatermark { .. } => Kind::HighWatermark,
            Observation::Fenced { .. } => Kind::Fenced,
            Observation::Unfenced { .. } => Kind::Unfenced,
            Observation::Controller { .. } => Kind::Controller,
            Observation::Expired { .. } => Kind::Expired,
            Observation::Compacted { .. } => Kind::Compacted,
            Observation::NodeState { .. } => Kind::NodeState,
            Observation::FaultStarted { .. } => Kind::FaultStarted,
            Observation::FaultEnded { .. } => Kind::FaultEnded,
            Observation::HandlerFailed { .. } => Kind::HandlerFailed,
            Observation::GaveUp { .. } => Kind::GaveUp,
            Observation::Requested { .. } => Kind::Requested,
            Observation::Acted { .. } => Kind::Acted,
            Observation::CallEnded { .. } => Kind::CallEnded,
        }
    }
}

/// One thing that happened. Times are given with the observation.
///
/// In a history file each is one JSON line: `{"t": NS, "type": "appended",
/// ...fields}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Observation {
    /// A producer created an event (its creation time is the observation time).
    Produced {
        /// The event.
        event: EventId,
        /// The producer (index in [`Catalog::producers`]).
        producer: u32,
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// The event's key (id in [`Catalog::keys`]).
        key: KeyId,
        /// The event's type (index in [`Catalog::event_types`]).
        event_type: u16,
        /// The event that started the causal chain (itself for a root event).
        origin: EventId,
        /// When the event that started its causal chain was created.
        origin_created_ns: Time,
    },
    /// The producer learned the event is acknowledged (at once with acks = 0).
    Acked {
        /// The event.
        event: EventId,
        /// The producer (index in [`Catalog::producers`]).
        producer: u32,
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// The event's key (id in [`Catalog::keys`]).
        key: KeyId,
        /// The event's per-key version (creation order of the key's events).
        version: u32,
        /// The amount a `sum` effect adds, the value `last-write` keeps.
        value: u32,
        /// When the event was created.
        created_ns: Time,
    },
    /// A producer sent a request (attempt 1 is the first try) carrying
    /// `count` events of one partition, from `first_event` on.
    Sent {
        /// The producer (index in [`Catalog::producers`]).
        producer: u32,
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// The first event the request carries.
        first_event: EventId,
        /// How many events it carries.
        count: u32,
        /// The attempt, from 1.
        attempt: u32,
    },
    /// A follower on `broker` copied the leader's log up to `end_offset`.
    Replicated {
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// The broker (from 0).
        broker: u32,
        /// The follower's log end offset.
        end_offset: u64,
    },
    /// The producer gave up on the event (retries or delivery timeout exhausted).
    ProduceFailed {
        /// The event.
        event: EventId,
        /// The producer (index in [`Catalog::producers`]).
        producer: u32,
    },
    /// The transaction holding the event aborted: it is never committed,
    /// and `read_committed` consumers never see it.
    Aborted {
        /// The event.
        event: EventId,
        /// The producer (index in [`Catalog::producers`]).
        producer: u32,
    },
    /// A consumer went back to `offset` of a partition it holds (its
    /// transaction aborted, so it processes from the committed offset again).
    Rewound {
        /// The consumer group (index in [`Catalog::groups`]).
        group: u32,
        /// The consumer (global index in [`Catalog::consumers`]).
        consumer: u32,
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// The offset it goes back to.
        offset: u64,
    },
    /// A transaction marker is committed in a partition (below the high
    /// watermark): the transaction is over there. It occupies `offset`;
    /// the transaction's records there lie in `first..offset`.
    TxnMarker {
        /// The producer (index in [`Catalog::producers`]).
        producer: u32,
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// The marker's offset.
        offset: u64,
        /// The offset of the transaction's first record in the partition.
        first: u64,
        /// A commit marker (else an abort marker).
        commit: bool,
    },
    /// The transaction coordinator decided how a transaction ends
    /// (PrepareCommit or PrepareAbort), with so many records.
    TxnEnded {
        /// The producer (index in [`Catalog::producers`]).
        producer: u32,
        /// The transaction commits (else it aborts).
        committed: bool,
        /// How many records it holds.
        records: u32,
    },
    /// The partition leader appended the event at `offset`.
    Appended {
        /// The event.
        event: EventId,
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// The event's offset in the partition.
        offset: u64,
    },
    /// A consumer's poll returned the event.
    Delivered {
        /// The event.
        event: EventId,
        /// The consumer group (index in [`Catalog::groups`]).
        group: u32,
        /// The consumer (global index in [`Catalog::consumers`]).
        consumer: u32,
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// The event's offset in the partition.
        offset: u64,
    },
    /// Processing finished and the effect was applied to the group's state.
    Applied {
        /// The event.
        event: EventId,
        /// The consumer group (index in [`Catalog::groups`]).
        group: u32,
        /// The consumer (global index in [`Catalog::consumers`]).
        consumer: u32,
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// The producer (index in [`Catalog::producers`]).
        producer: u32,
        /// The event's key (id in [`Catalog::keys`]).
        key: KeyId,
        /// The event's per-key version (creation order of the key's events).
        version: u32,
        /// The amount a `sum` effect adds, the value `last-write` keeps ([`TOMBSTONE`] for a tombstone).
        value: u32,
        /// When the event was created.
        created_ns: Time,
        /// When the event that started its causal chain was created.
        origin_created_ns: Time,
    },
    /// Processing finished but the idempotency guard skipped the effect.
    Skipped {
        /// The event.
        event: EventId,
        /// The consumer group (index in [`Catalog::groups`]).
        group: u32,
        /// The consumer (global index in [`Catalog::consumers`]).
        consumer: u32,
    },
    /// The group's committed offset for a partition moved to `offset`.
    Committed {
        /// The consumer group (index in [`Catalog::groups`]).
        group: u32,
        /// The consumer (global index in [`Catalog::consumers`]).
        consumer: u32,
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// The committed offset: the next the group will read.
        offset: u64,
        /// The group's generation (one more per rebalance).
        generation: u32,
    },
    /// A service emitted `event` while processing `source`, by the group's
    /// emit rule number `rule`. (source, group, rule) is the emission's
    /// causal identity: processing `source` again emits a new event with
    /// the same identity.
    Emitted {
        /// The event emitted.
        event: EventId,
        /// The event being processed.
        source: EventId,
        /// The consumer group (index in [`Catalog::groups`]).
        group: u32,
        /// The consumer (global index in [`Catalog::consumers`]).
        consumer: u32,
        /// Index of the emit rule in the group's `emit` list.
        #[serde(default)]
        rule: u32,
    },
    /// A group finished a rebalance into `generation`.
    Rebalanced {
        /// The consumer group (index in [`Catalog::groups`]).
        group: u32,
        /// The group's generation (one more per rebalance).
        generation: u32,
    },
    /// A partition was assigned to a consumer in `generation`, starting
    /// at `offset` (the committed offset, or where `auto_offset_reset` says).
    Assigned {
        /// The consumer group (index in [`Catalog::groups`]).
        group: u32,
        /// The consumer (global index in [`Catalog::consumers`]).
        consumer: u32,
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// The group's generation (one more per rebalance).
        generation: u32,
        /// Where the consumer starts reading.
        offset: u64,
    },
    /// A consumer left its group: the coordinator expelled it after its
    /// session timeout, or (`poll_timeout`) it left because it had not
    /// polled within `max_poll_interval` (KIP-62).
    Expelled {
        /// The consumer group (index in [`Catalog::groups`]).
        group: u32,
        /// The consumer (global index in [`Catalog::consumers`]).
        consumer: u32,
        /// It left because it had not polled within `max_poll_interval` (else its session timed out).
        #[serde(default)]
        poll_timeout: bool,
    },
    /// A consumer's `poll()` threw `OffsetOutOfRangeException` because its
    /// position `offset` on a partition had left the log and
    /// `auto_offset_reset = "none"` does not reset it; the application
    /// stopped.
    ResetRefused {
        /// The consumer group (index in [`Catalog::groups`]).
        group: u32,
        /// The consumer (global index in [`Catalog::consumers`]).
        consumer: u32,
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// The out-of-range position.
        offset: u64,
    },
    /// A new leader took over a partition (`broker: None`: the partition
    /// went offline, no replica may lead).
    LeaderElected {
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// The new leader (`None`: no replica may lead).
        broker: Option<u32>,
        /// The partition's leader epoch.
        epoch: u32,
        /// The leader came from outside the ISR.
        unclean: bool,
    },
    /// The event, at `offset` in the old leader's log, is gone from the
    /// partition: the new leader never had it.
    Truncated {
        /// The event.
        event: EventId,
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// The event's offset in the old leader's log.
        offset: u64,
    },
    /// The partition's ISR changed size.
    IsrChanged {
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// Replicas now in sync.
        isr: u32,
    },
    /// The partition's high watermark moved (up as followers catch up, or
    /// down to a new leader's log end after an election).
    HighWatermark {
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// The new high watermark.
        offset: u64,
    },
    /// The controller fenced a broker it had not heard from.
    Fenced {
        /// The broker (from 0).
        broker: u32,
    },
    /// The controller let a fenced broker back in (it registered and
    /// heartbeats again): it may lead and follow from now on.
    Unfenced {
        /// The broker (from 0).
        broker: u32,
    },
    /// The metadata quorum elected an active controller (`voter`, index in
    /// [`Catalog::voters`]) or lost it (`None`: the metadata is frozen).
    Controller {
        /// The active controller, if any.
        voter: Option<u32>,
        /// The quorum's epoch.
        epoch: u32,
    },
    /// Retention deleted the event before the group read it.
    Expired {
        /// The event.
        event: EventId,
        /// The consumer group (index in [`Catalog::groups`]).
        group: u32,
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// The event's offset in the partition.
        offset: u64,
        /// The event's key (id in [`Catalog::keys`]).
        key: KeyId,
        /// The amount a `sum` effect adds, the value `last-write` keeps ([`TOMBSTONE`] for a tombstone).
        value: u32,
    },
    /// Log compaction removed the event (a later record of its key exists)
    /// before the group read it: not the group's to apply.
    Compacted {
        /// The event.
        event: EventId,
        /// The consumer group (index in [`Catalog::groups`]).
        group: u32,
        /// The partition (global index in [`Catalog::partitions`]).
        partition: u32,
        /// The event's offset in the partition.
        offset: u64,
        /// The event's key (id in [`Catalog::keys`]).
        key: KeyId,
        /// The amount a `sum` effect adds, the value `last-write` keeps ([`TOMBSTONE`] for a tombstone).
        value: u32,
    },
    /// A node changed state: 0 up, 1 crashed, 2 paused.
    NodeState {
        /// The node (index in [`Catalog::nodes`]).
        node: u32,
        /// 0 up, 1 crashed, 2 paused.
        state: u8,
    },
    /// A fault of the plan fired (index into the run's fault plan).
    FaultStarted {
        /// Index into the run's fault plan.
        fault: u32,
    },
    /// A fault's duration ended (a crashed node restarted).
    FaultEnded {
        /// Index into the run's fault plan.
        fault: u32,
    },
    /// The group's handler failed on the event (attempt 1 is the first try).
    HandlerFailed {
        /// The event.
        event: EventId,
        /// The consumer group (index in [`Catalog::groups`]).
        group: u32,
        /// The consumer (global index in [`Catalog::consumers`]).
        consumer: u32,
        /// The attempt, from 1.
        attempt: u32,
    },
    /// The handler gave up on the event after its retries: published to the
    /// dead-letter topic, or skipped; its effect is not applied.
    GaveUp {
        /// The event.
        event: EventId,
        /// The consumer group (index in [`Catalog::groups`]).
        group: u32,
        /// The consumer (global index in [`Catalog::consumers`]).
        consumer: u32,
        /// Published to the dead-letter topic (else skipped).
        dead_lettered: bool,
        /// The event's key (id in [`Catalog::keys`]).
        key: KeyId,
        /// The amount a `sum` effect adds, the value `last-write` keeps ([`TOMBSTONE`] for a tombstone).
        value: u32,
    },
    /// A request from outside reached a front-door service: the root
    /// event of a flow (its creation time is the observation time).
    Requested {
        /// The event the request is.
        event: EventId,
        /// The front door (index in [`Catalog::services`]).
        service: u32,
        /// The request's key (id in [`Catalog::keys`]).
        key: KeyId,
        /// The event's type (index in [`Catalog::event_types`]).
        event_type: u16,
    },
    /// A service recorded an effect in its own store while handling a
    /// request of the flow `origin`: its success, its business failure,
    /// or the compensation a caller asked for.
    Acted {
        /// The effect, as an event.
        event: EventId,
        /// The service (index in [`Catalog::services`]).
        service: u32,
        /// The root event of the flow.
        origin: EventId,
        /// The flow's key (id in [`Catalog::keys`]).
        key: KeyId,
        /// The effect's type (index in [`Catalog::event_types`]).
        event_type: u16,
    },
    /// One attempt of a synchronous call ended, as its caller saw it.
    CallEnded {
        /// The service called (index in [`Catalog::services`]).
        service: u32,
        /// The calling service, or [`OUTSIDE`] for a client outside the
        /// system calling a front door.
        caller: u32,
        /// The root event of the flow the call is for.
        origin: EventId,
        /// The attempt, from 1.
        attempt: u32,
        /// How it ended.
        outcome: CallOutcome,
        /// A compensation (an undo) rather than the request itself.
        compensation: bool,
        /// From sending the attempt to its outcome.
        latency_ns: Time,
    },
}

/// The caller of a front door's requests: a client outside the system.
pub const OUTSIDE: u32 = u32::MAX;

/// How one attempt of a synchronous call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallOutcome {
    /// The callee succeeded.
    Ok,
    /// The callee answered with a business failure (declined, out of stock).
    Failed,
    /// The callee answered with an error: it refused the connection (down),
    /// its queue was full, or a call of its own failed.
    Error,
    /// No answer within the caller's timeout.
    Timeout,
    /// The caller's circuit breaker was open: the call was not made.
    BreakerOpen,
}

impl CallOutcome {
    /// The outcome's name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Failed => "failed",
            CallOutcome::Error => "error",
            CallOutcome::Timeout => "timeout",
            CallOutcome::BreakerOpen => "breaker-open",
        }
    }

    /// An answer the caller can act on: the callee decided (success or
    /// business failure).
    pub fn answered(self) -> bool {
        matches!(self, CallOutcome::Ok | CallOutcome::Failed)
    }
}

/// Checks, observation by observation, that a history read from a file
/// names only what its scenario has: ids of producers, partitions, groups,
/// consumers (of that group), brokers, nodes, faults, keys and event types
/// in range, events numbered in creation order and mentioned only once
/// created, and time that never goes back. What reaches the checkers is
/// then something a run could have produced.
pub struct Validator<'a> {
    catalog: &'a Catalog,
    faults: u32,
    next_event: EventId,
    now: Time,
}

impl<'a> Validator<'a> {
    /// A validator for histories of a run with `catalog` and `faults` planned faults.
    pub fn new(catalog: &'a Catalog, faults: usize) -> Self {
        Validator {
            catalog,
            faults: faults as u32,
            next_event: 0,
            now: 0,
        }
    }

    /// Accept `o` at `t`, or say what is wrong with it.
    pub fn check(&mut self, t: Time, o: &Observation) -> Result<(), String> {
        use Observation::*;
        if t < self.now {
            return Err(format!(
                "time {t} is before the previous observation's {}",
                self.now
            ));
        }
        self.now = t;
        let c = self.catalog;
        let within = |what: &str, id: u32, n: usize| {
            if (id as usize) < n {
                Ok(())
            } else {
                Err(format!("{what} {id} does not exist (the scenario has {n})"))
            }
        };
        let producer = |id| within("producer", id, c.producers.len());
        let partition = |id| within("partition", id, c.partitions.len());
        let group = |id| within("group", id, c.groups.len());
        let key = |id: KeyId| {
            if id < c.keys.len() {
                Ok(())
            } else {
                Err(format!(
                    "key {id} does not exist (the scenario has {})",
                    c.keys.len()
                ))
            }
        };
        let member = |g: u32, consumer: u32| {
            group(g)?;
            within("consumer", consumer, c.consumers.len())?;
            if c.consumers[consumer as usize].0 == g {
                Ok(())
            } else {
                Err(format!("consumer {consumer} is not a member of group {g}"))
            }
        };
        let next = self.next_event;
        let event = |e: EventId| {
            if e < next {
                Ok(())
            } else {
                Err(format!("event {e} is mentioned before it was produced"))
            }
        };
        let service = |id| within("service", id, c.services.len());
        if let Some((g, consumer, part)) = o.member_partition() {
            member(g, consumer)?;
            partition(part)?;
        }
        match *o {
            Requested {
                event: e,
                service: s,
                key: k,
                event_type,
            }
            | Acted {
                event: e,
                service: s,
                key: k,
                event_type,
                ..
            } => {
                if e != next {
                    return Err(format!(
                        "event {e} is created out of order (the next event is {next})"
                    ));
                }
                service(s)?;
                key(k)?;
                within("event type", event_type as u32, c.event_types.len())?;
                if let Acted { origin, .. } = *o
                    && origin >= e
                {
                    return Err(format!(
                        "event {e}'s origin {origin} does not come before it"
                    ));
                }
                self.next_event += 1;
            }
            CallEnded {
                service: s,
                caller,
                origin,
                ..
            } => {
                service(s)?;
                if caller != OUTSIDE {
                    service(caller)?;
                }
                event(origin)?;
            }
            Produced {
                event: e,
                producer: p,
                partition: part,
                key: k,
                event_type,
                origin,
                ..
            } => {
                if e != next {
                    return Err(format!(
                        "event {e} is produced out of order (the next event is {next})"
                    ));
                }
                producer(p)?;
                partition(part)?;
                key(k)?;
                within("event type", event_type as u32, c.event_types.len())?;
                if origin > e {
                    return Err(format!("event {e}'s origin {origin} comes after it"));
                }
                self.next_event += 1;
            }
            Acked {
                event: e,
                producer: p,
                partition: part,
                key: k,
                ..
            } => {
                event(e)?;
                producer(p)?;
                partition(part)?;
                key(k)?;
            }
            Sent {
                producer: p,
                partition: part,
                first_event,
                ..
            } => {
                producer(p)?;
                partition(part)?;
                event(first_event)?;
            }
            Replicated {
                partition: part,
                broker,
                ..
            } => {
                partition(part)?;
                within("broker", broker, c.brokers as usize)?;
            }
            ProduceFailed {
                event: e,
                producer: p,
            }
            | Aborted {
                event: e,
                producer: p,
            } => {
                event(e)?;
                producer(p)?;
            }
            // Checked above.
            Rewound { .. } | Committed { .. } | Assigned { .. } | ResetRefused { .. } => {}
            TxnMarker {
                producer: p,
                partition: part,
                ..
            } => {
                producer(p)?;
                partition(part)?;
            }
            TxnEnded { producer: p, .. } => producer(p)?,
            Appended {
                event: e,
                partition: part,
                ..
            }
            | Truncated {
                event: e,
                partition: part,
                ..
            } => {
                event(e)?;
                partition(part)?;
            }
            Delivered {
                event: e,
                group: g,
                consumer,
                partition: part,
                ..
            } => {
                event(e)?;
                member(g, consumer)?;
                partition(part)?;
            }
            Applied {
                event: e,
                group: g,
                consumer,
                partition: part,
                producer: p,
                key: k,
                ..
            } => {
                event(e)?;
                member(g, consumer)?;
                partition(part)?;
                producer(p)?;
                key(k)?;
            }
            Skipped {
                event: e,
                group: g,
                consumer,
            }
            | HandlerFailed {
                event: e,
                group: g,
                consumer,
                ..
            } => {
                event(e)?;
                member(g, consumer)?;
            }
            GaveUp {
                event: e,
                group: g,
                consumer,
                key: k,
                ..
            } => {
                event(e)?;
                member(g, consumer)?;
                key(k)?;
            }
            Emitted {
                event: e,
                source,
                group: g,
                consumer,
                ..
            } => {
                event(e)?;
                event(source)?;
                member(g, consumer)?;
            }
            Rebalanced { group: g, .. } => group(g)?,
            Expelled {
                group: g, consumer, ..
            } => member(g, consumer)?,
            LeaderElected {
                partition: part,
                broker,
                ..
            } => {
                partition(part)?;
                if let Some(b) = broker {
                    within("broker", b, c.brokers as usize)?;
                }
            }
            IsrChanged {
                partition: part, ..
            }
            | HighWatermark {
                partition: part, ..
            } => partition(part)?,
            Fenced { broker } | Unfenced { broker } => {
                within("broker", broker, c.brokers as usize)?
            }
            Controller { voter, .. } => {
                if let Some(v) = voter {
                    within("voter", v, c.voters.len())?;
                }
            }
            Expired {
                event: e,
                group: g,
                partition: part,
                key: k,
                ..
            }
            | Compacted {
                event: e,
                group: g,
                partition: part,
                key: k,
                ..
            } => {
                event(e)?;
                group(g)?;
                partition(part)?;
                key(k)?;
            }
            NodeState { node, .. } => within("node", node, c.nodes.len())?,
            FaultStarted { fault } | FaultEnded { fault } => {
                within("fault", fault, self.faults as usize)?
            }
        }
        Ok(())
    }
}

/// Something that watches a run as it happens.
pub trait Observer {
    /// One observation, made at simulated time `at`.
    fn observe(&mut self, at: Time, observation: &Observation);
    /// No later observation of this run names an event below `below`:
    /// per-event state for those may go. Told by a running model (never
    /// by a history file read back); not an observation, and nothing an
    /// observer reports may depend on it.
    fn released(&mut self, _below: EventId) {}
}

/// One line of a history file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// When (simulated ns).
    pub t: Time,
    /// What happened.
    #[serde(flatten)]
    pub observation: Observation,
}

/// The first line of a history file: what run it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The history format's version (1).
    pub eventsim_history: u32,
    /// The eventsim version that wrote it.
    pub version: String,
    /// The scenario's name.
    pub scenario: String,
    /// The master seed.
    pub seed: u64,
    /// FNV-1a fingerprint of the scenario file's bytes (as `sweep.json`'s
    /// `scenario_hash`): `check-history` warns when it is given another
    /// file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scenario_hash: String,
}

/// The last line of a history file: how the run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    /// When the run stopped.
    pub end_ns: Time,
    /// When producers stopped producing.
    pub production_end_ns: Time,
    /// Why the run stopped (as [`crate::kernel::StopReason::as_str`] writes it).
    pub stopped_by: String,
    /// Observation lines between the header and the trailer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observations: Option<u64>,
    /// FNV-1a 64 of those lines' bytes, each with its `\n`, in order:
    /// a history cut, edited, reordered or with a line repeated does not
    /// match it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
}

/// A running FNV-1a 64 digest of a history's observation lines.
#[derive(Clone, Copy, Debug)]
pub struct LineDigest {
    hash: u64,
    /// Lines digested.
    pub lines: u64,
}

impl Default for LineDigest {
    fn default() -> Self {
        LineDigest {
            hash: 0xcbf2_9ce4_8422_2325,
            lines: 0,
        }
    }
}

impl LineDigest {
    /// Add one line (without its newline, which is added here).
    #[inline]
    pub fn line(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().chain(b"\n") {
            self.hash ^= u64::from(b);
            self.hash = self.hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.lines += 1;
    }

    /// The digest as the trailer writes it.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.hash)
    }
}

/// Writes the history as JSON lines.
pub struct HistoryWriter<W: std::io::Write> {
    out: W,
    /// The first write error, if any (writing stops there).
    pub error: Option<std::io::Error>,
    /// One entry's line, reused.
    line: Vec<u8>,
    digest: LineDigest,
}

impl<W: std::io::Write> HistoryWriter<W> {
    /// A writer that has written `header` as the file's first line.
    pub fn new(mut out: W, header: &Header) -> std::io::Result<Self> {
        serde_json::to_writer(&mut out, header)?;
        out.write_all(b"\n")?;
        Ok(HistoryWriter {
            out,
            error: None,
            line: Vec::with_capacity(256),
            digest: LineDigest::default(),
        })
    }

    /// Write the trailer, with the count and digest of the lines written,
    /// and flush.
    pub fn finish(mut self, trailer: &Trailer) -> std::io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let trailer = Trailer {
            observations: Some(self.digest.lines),
            digest: self.digest.hex(),
            ..trailer.clone()
        };
        serde_json::to_writer(&mut self.out, &trailer)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

impl<W: std::io::Write> Observer for HistoryWriter<W> {
    fn observe(&mut self, at: Time, observation: &Observation) {
        if self.error.is_some() {
            return;
        }
        let entry = Entry {
            t: at,
            observation: *observation,
        };
        self.line.clear();
        let written = serde_json::to_writer(&mut self.line, &entry)
            .map_err(std::io::Error::from)
            .and_then(|()| {
                self.digest.line(&self.line);
                self.line.push(b'\n');
                self.out.write_all(&self.line)
            });
        if let Err(e) = written {
            self.error = Some(e);
        }
    }
}

/// An observer shared with the code that reads it after the run.
pub struct Shared<O>(pub std::rc::Rc<std::cell::RefCell<O>>);

impl<O: Observer> Observer for Shared<O> {
    fn observe(&mut self, at: Time, observation: &Observation) {
        self.0.borrow_mut().observe(at, observation);
    }
    fn released(&mut self, below: EventId) {
        self.0.borrow_mut().released(below);
    }
}
