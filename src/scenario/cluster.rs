//! `[cluster]` and `[[topics]]`: the brokers, the controller quorum, the
//! Kafka version, and each topic's partitions, replication and retention.

use super::{Dist, Duration, Scenario, Step, key};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// `[cluster]`: the brokers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// How many brokers (`broker-0` to `broker-N-1`).
    #[serde(default = "one")]
    pub brokers: u32,
    /// Records per second one broker can append (leader appends and follower
    /// copies alike); absent means unlimited. Overload queues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<f64>,
    /// Time to append one batch to the log, on top of the capacity queue.
    #[serde(default = "zero_dist")]
    pub append_latency: Dist<Duration>,
    /// A follower that has not caught up for this long leaves the ISR
    /// (Kafka's replica.lag.time.max.ms).
    #[serde(default = "default_replica_lag")]
    pub replica_lag_time_max: Duration,
    /// A broker the active controller has not heard a heartbeat from for
    /// this long (crashed, paused, or cut off from the controller) is
    /// fenced: it leaves every ISR and its partitions elect new leaders
    /// (broker.session.timeout.ms).
    #[serde(default = "default_broker_session")]
    pub broker_session_timeout: Duration,
    /// Voters of the KRaft metadata quorum (`controller.quorum.voters`):
    /// dedicated controller nodes `controller-0`.., or in `combined` mode
    /// the first brokers (default 3, at most the brokers when combined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controllers: Option<u32>,
    /// `dedicated` (controllers on nodes of their own, Kafka's production
    /// layout) or `combined` (brokers that are also voters).
    #[serde(default, skip_serializing_if = "ControllerMode::is_dedicated")]
    pub mode: ControllerMode,
    /// A voter that has not fetched from the quorum leader for this long
    /// starts an election; a leader that hears from no majority for this
    /// long resigns (controller.quorum.fetch.timeout.ms).
    #[serde(
        default = "default_quorum_fetch",
        skip_serializing_if = "is_default_quorum_fetch"
    )]
    pub quorum_fetch_timeout: Duration,
    /// How long an election takes once started (controller.quorum.election.timeout.ms).
    #[serde(
        default = "default_quorum_election",
        skip_serializing_if = "is_default_quorum_election"
    )]
    pub quorum_election_timeout: Duration,
    /// The OS writes a dirty page of the page cache back to disk once it
    /// is this old (Linux's vm.dirty_expire_centisecs, 30 s): what a power
    /// loss spares of a log that was never fsynced.
    #[serde(
        default = "default_dirty_expiry",
        skip_serializing_if = "is_default_dirty_expiry"
    )]
    pub dirty_page_expiry: Duration,
    /// The Kafka version the cluster and its clients run (`"MAJOR.MINOR"`,
    /// 0.11 to 4.1; absent: the newest). Behaviours that changed between
    /// versions follow it (docs/kafka-semantics.md says which).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Eligible Leader Replicas (KIP-966): the controller keeps, per
    /// partition, the replicas that left the ISR while it was below
    /// `min_insync_replicas` (they hold everything below the high
    /// watermark) and elects one of them when the ISR is empty. Kafka 4.0
    /// has it when `eligible.leader.replicas.version=1`; new clusters have
    /// it from 4.1. Absent: on from 4.1, off before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligible_leader_replicas: Option<bool>,
}

/// The oldest and newest Kafka versions `[cluster] version` knows.
pub const KAFKA_VERSIONS: ((u32, u32), (u32, u32)) = ((0, 11), (4, 1));

impl Cluster {
    /// `[cluster] version` as (major, minor): the newest when absent,
    /// `None` when it is not a version eventsim knows.
    pub fn kafka_version(&self) -> Option<(u32, u32)> {
        let Some(v) = &self.version else {
            return Some(KAFKA_VERSIONS.1);
        };
        let (major, minor) = v.split_once('.')?;
        let parse = |s: &str| {
            (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) && s.len() <= 3)
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        let version = (parse(major)?, parse(minor)?);
        (KAFKA_VERSIONS.0..=KAFKA_VERSIONS.1)
            .contains(&version)
            .then_some(version)
    }

    /// Consumers detect log truncation by leader epoch and rewind (KIP-320,
    /// Kafka 2.1); older ones go out of range and reset by
    /// `auto_offset_reset`, or read past the divergence without noticing.
    pub fn kip320(&self) -> bool {
        self.kafka_version().is_none_or(|v| v >= (2, 1))
    }

    /// Partition leaders verify with the transaction coordinator that a
    /// transactional record's transaction is ongoing before appending it
    /// (KIP-890 part 1, Kafka 3.6+).
    pub fn kip890(&self) -> bool {
        self.kafka_version().is_none_or(|v| v >= (3, 6))
    }

    /// Transaction version 2 (KIP-890 part 2, Kafka 4.0+): the producer's
    /// epoch is bumped with every transaction, so a record or an EndTxn of
    /// an earlier transaction is fenced.
    pub fn txn_v2(&self) -> bool {
        self.kafka_version().is_none_or(|v| v >= (4, 0))
    }

    /// Producers back off exponentially between retries, up to
    /// `retry.backoff.max.ms` (KIP-580, Kafka 3.7+).
    pub fn kip580(&self) -> bool {
        self.kafka_version().is_none_or(|v| v >= (3, 7))
    }

    /// A leader advances the high watermark only while its ISR holds
    /// `min_insync_replicas` (capped at the replica count) or more
    /// (KAFKA-15583, Kafka 3.7+): below it, records of `acks = 0` or `1`
    /// stay invisible to consumers.
    pub fn strict_min_isr(&self) -> bool {
        self.kafka_version().is_none_or(|v| v >= (3, 7))
    }

    /// Whether the controller keeps Eligible Leader Replicas (KIP-966):
    /// `eligible_leader_replicas`, else on from Kafka 4.1 (the default of
    /// new clusters), off before.
    pub fn elr(&self) -> bool {
        self.eligible_leader_replicas
            .unwrap_or_else(|| self.kafka_version().is_none_or(|v| v >= (4, 1)))
    }
}

fn default_dirty_expiry() -> Duration {
    Duration::from_secs(30)
}
fn is_default_dirty_expiry(d: &Duration) -> bool {
    *d == default_dirty_expiry()
}

/// Where the metadata quorum's voters run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ControllerMode {
    /// Controllers on nodes of their own (`controller-0`, ...).
    #[default]
    Dedicated,
    /// The first `controllers` brokers are also voters (`process.roles=broker,controller`).
    Combined,
}

impl ControllerMode {
    fn is_dedicated(&self) -> bool {
        *self == ControllerMode::Dedicated
    }
}

impl Cluster {
    /// How many voters the metadata quorum has.
    pub fn voters(&self) -> u32 {
        match self.mode {
            ControllerMode::Dedicated => self.controllers.unwrap_or(3),
            ControllerMode::Combined => self.controllers.unwrap_or(self.brokers.min(3)),
        }
    }
    /// How many controller nodes of their own (none when combined).
    pub fn controller_nodes(&self) -> u32 {
        match self.mode {
            ControllerMode::Dedicated => self.voters(),
            ControllerMode::Combined => 0,
        }
    }
}

fn default_quorum_fetch() -> Duration {
    Duration::from_secs(2)
}
fn is_default_quorum_fetch(d: &Duration) -> bool {
    *d == default_quorum_fetch()
}
fn default_quorum_election() -> Duration {
    Duration::from_secs(1)
}
fn is_default_quorum_election(d: &Duration) -> bool {
    *d == default_quorum_election()
}

fn default_broker_session() -> Duration {
    Duration::from_secs(9)
}

pub(super) fn one() -> u32 {
    1
}
fn zero_dist() -> Dist<Duration> {
    Dist::constant(Duration::ZERO)
}
fn default_replica_lag() -> Duration {
    Duration::from_secs(30)
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            brokers: 1,
            capacity: None,
            append_latency: zero_dist(),
            replica_lag_time_max: default_replica_lag(),
            broker_session_timeout: default_broker_session(),
            controllers: None,
            mode: ControllerMode::Dedicated,
            quorum_fetch_timeout: default_quorum_fetch(),
            quorum_election_timeout: default_quorum_election(),
            dirty_page_expiry: default_dirty_expiry(),
            version: None,
            eligible_leader_replicas: None,
        }
    }
}

/// `[[topics]]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    /// The topic's name, as producers, groups and emitters name it.
    pub name: String,
    /// How many partitions.
    #[serde(default = "one")]
    pub partitions: u32,
    /// Replicas of each partition, on distinct brokers.
    #[serde(default = "one")]
    pub replication_factor: u32,
    /// In-sync replicas an `acks = "all"` write needs (`min.insync.replicas`).
    #[serde(default = "one")]
    pub min_insync_replicas: u32,
    /// Events older than this (by creation time) are deleted.
    #[serde(default = "default_retention")]
    pub retention: Duration,
    /// Let a replica outside the ISR become leader when no in-sync replica
    /// is alive (unclean.leader.election.enable): available, but the log is
    /// truncated to what that replica has and acknowledged events can be lost.
    #[serde(default)]
    pub unclean_leader_election: bool,
    /// `delete` (by `retention`) or `compact` (keep the latest record of
    /// each key): Kafka's cleanup.policy.
    #[serde(default = "default_cleanup_policy")]
    pub cleanup_policy: CleanupPolicy,
    /// `compact`: a record is compacted away no sooner than this after it
    /// was superseded (Kafka's min.compaction.lag.ms).
    #[serde(default)]
    pub min_compaction_lag: Duration,
    /// `compact`: a tombstone (a record that deletes its key) is itself
    /// removed this long after it became the key's latest record (Kafka's
    /// delete.retention.ms, 24h).
    #[serde(default = "default_delete_retention")]
    pub delete_retention: Duration,
    /// Each replica fsyncs its log once this many records are unflushed
    /// (Kafka's flush.messages; absent: never, the page cache is written
    /// back by the OS after `[cluster] dirty_page_expiry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_messages: Option<u64>,
    /// Each replica fsyncs its log this often (Kafka's flush.ms; absent:
    /// never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_ms: Option<Duration>,
    /// The timestamp a record keeps: the producer's (`CreateTime`, Kafka's
    /// default) or the leader's at append (`LogAppendTime`). Time-based
    /// retention deletes by it.
    #[serde(default, skip_serializing_if = "TimestampType::is_create_time")]
    pub message_timestamp_type: TimestampType,
    /// A CreateTime more than this ahead of the leader's clock is refused
    /// (INVALID_TIMESTAMP; `message.timestamp.after.max.ms`, KIP-937, 3.6+).
    /// Absent: unbounded before Kafka 4.0, one hour from 4.0 (KIP-1030).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_timestamp_after_max: Option<Duration>,
    /// A CreateTime more than this behind the leader's clock is refused
    /// (`message.timestamp.before.max.ms`, KIP-937, 3.6+). Absent: unbounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_timestamp_before_max: Option<Duration>,
}

/// `message_timestamp_type`: whose clock stamps a record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimestampType {
    /// The producer's clock when it created the record.
    #[default]
    CreateTime,
    /// The leader's clock when it appended the record.
    LogAppendTime,
}

impl TimestampType {
    fn is_create_time(&self) -> bool {
        *self == TimestampType::CreateTime
    }
}

impl Topic {
    /// How far ahead of the leader's clock a CreateTime may be (ns), and
    /// how far behind; `None`: unbounded. LogAppendTime topics check
    /// nothing.
    pub fn timestamp_bounds(&self, c: &Cluster) -> (Option<u64>, Option<u64>) {
        if self.message_timestamp_type == TimestampType::LogAppendTime {
            return (None, None);
        }
        let after = self
            .message_timestamp_after_max
            .map(|d| d.ns())
            .or_else(|| {
                c.kafka_version()
                    .is_none_or(|v| v >= (4, 0))
                    .then_some(3_600_000_000_000)
            });
        (after, self.message_timestamp_before_max.map(|d| d.ns()))
    }
}

/// A topic's timestamp bounds: KIP-937's settings came with Kafka 3.6.
fn timestamp_problems(t: &Topic, c: &Cluster, push: &mut dyn FnMut(&str, String)) {
    for (field, d) in [
        ("message_timestamp_after_max", t.message_timestamp_after_max),
        (
            "message_timestamp_before_max",
            t.message_timestamp_before_max,
        ),
    ] {
        if d.is_some() && c.kafka_version().is_some_and(|v| v < (3, 6)) {
            push(
                field,
                format!(
                    "`{field}` came with Kafka 3.6 (KIP-937); with [cluster] version \"{}\" there is only `message.timestamp.difference.max.ms`, which eventsim does not model",
                    c.version.as_deref().unwrap_or_default()
                ),
            );
        }
    }
}

fn default_delete_retention() -> Duration {
    Duration::from_secs(86_400)
}

/// Kafka's `cleanup.policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CleanupPolicy {
    /// Records older than `retention` are deleted.
    Delete,
    /// Records superseded by a later record of the same key are removed.
    Compact,
}

fn default_cleanup_policy() -> CleanupPolicy {
    CleanupPolicy::Delete
}

fn default_retention() -> Duration {
    Duration::from_secs(7 * 86_400)
}

/// The most voters a metadata quorum may have.
pub const MAX_VOTERS: u32 = 9;

impl Scenario {
    /// `[cluster]`: brokers, capacity and append latency.
    pub(super) fn cluster_problems(&self, push: &mut dyn FnMut(Vec<Step>, String)) {
        let c = &self.cluster;
        if c.brokers == 0 {
            push(
                vec![key("cluster"), key("brokers")],
                "expected at least 1 broker".into(),
            );
        }
        if c.capacity
            .is_some_and(|cap| !(cap > 0.0 && cap.is_finite()))
        {
            push(
                vec![key("cluster"), key("capacity")],
                "expected a positive number of records per second".into(),
            );
        }
        if let Some(msg) = c.append_latency.problem() {
            push(vec![key("cluster"), key("append_latency")], msg);
        }
    }

    /// Each `[[topics]]` entry; the names of the topics defined.
    pub(super) fn topic_problems(&self, push: &mut dyn FnMut(Vec<Step>, String)) -> BTreeSet<&str> {
        let c = &self.cluster;
        let mut topics = BTreeSet::new();
        for (i, t) in self.topics.iter().enumerate() {
            let at = |f: &str| vec![key("topics"), Step::Index(i), key(f)];
            if t.name.trim().is_empty() {
                push(at("name"), "expected a non-empty topic name".into());
            } else if !topics.insert(t.name.as_str()) {
                push(at("name"), format!("topic `{}` is defined twice", t.name));
            }
            if t.partitions == 0 {
                push(at("partitions"), "expected at least 1 partition".into());
            }
            if t.replication_factor == 0 {
                push(
                    at("replication_factor"),
                    "expected at least 1 replica".into(),
                );
            } else if t.replication_factor > c.brokers {
                push(
                    at("replication_factor"),
                    format!(
                        "replication factor {} exceeds the {} broker(s) of [cluster]",
                        t.replication_factor, c.brokers
                    ),
                );
            }
            if t.min_insync_replicas == 0 {
                push(at("min_insync_replicas"), "expected at least 1".into());
            } else if t.min_insync_replicas > t.replication_factor {
                push(
                    at("min_insync_replicas"),
                    format!(
                        "min_insync_replicas {} exceeds replication_factor {}",
                        t.min_insync_replicas, t.replication_factor
                    ),
                );
            }
            if t.flush_messages == Some(0) {
                push(
                    at("flush_messages"),
                    "expected at least 1 record (1 fsyncs every append)".into(),
                );
            }
            if t.flush_ms.is_some_and(|d| d.ns() == 0) {
                push(
                    at("flush_ms"),
                    "expected a duration greater than zero".into(),
                );
            }
            if t.retention.ns() == 0 {
                push(
                    at("retention"),
                    "expected a retention greater than zero".into(),
                );
            }
            timestamp_problems(t, c, &mut |f, m| push(at(f), m));
        }
        topics
    }

    /// `[cluster]`: the broker session, the Kafka version and the
    /// controller quorum.
    pub(super) fn controller_problems(&self, push: &mut dyn FnMut(Vec<Step>, String)) {
        let c = &self.cluster;
        if c.broker_session_timeout.ns() == 0 {
            push(
                vec![key("cluster"), key("broker_session_timeout")],
                "expected a duration greater than zero".into(),
            );
        }
        if c.version.is_some() && c.kafka_version().is_none() {
            let ((a, b), (x, y)) = KAFKA_VERSIONS;
            push(
                vec![key("cluster"), key("version")],
                format!(
                    "unknown Kafka version `{}`; eventsim knows {a}.{b} to {x}.{y}, written MAJOR.MINOR (e.g. \"2.0\", \"3.7\")",
                    c.version.as_deref().unwrap_or_default()
                ),
            );
        }
        if c.eligible_leader_replicas == Some(true) && c.kafka_version().is_some_and(|v| v < (4, 0))
        {
            push(
                vec![key("cluster"), key("eligible_leader_replicas")],
                format!(
                    "Eligible Leader Replicas came with Kafka 4.0 (KIP-966); with [cluster] version \"{}\" the controller keeps only the ISR",
                    c.version.as_deref().unwrap_or_default()
                ),
            );
        }
        if c.controllers == Some(0) {
            push(
                vec![key("cluster"), key("controllers")],
                "expected at least 1 controller (a KRaft quorum has 1, 3 or 5 voters; an even number tolerates no more failures than the odd number below it)".into(),
            );
        } else if c.voters() > MAX_VOTERS {
            push(
                vec![key("cluster"), key("controllers")],
                format!("expected at most {MAX_VOTERS} controllers (Kafka runs 3 or 5)"),
            );
        } else if c.mode == ControllerMode::Combined && c.voters() > c.brokers {
            push(
                vec![key("cluster"), key("controllers")],
                format!(
                    "{} controllers in combined mode need as many brokers; [cluster] has {}",
                    c.voters(),
                    c.brokers
                ),
            );
        }
        for (field, d) in [
            ("quorum_fetch_timeout", c.quorum_fetch_timeout),
            ("quorum_election_timeout", c.quorum_election_timeout),
            ("dirty_page_expiry", c.dirty_page_expiry),
        ] {
            if d.ns() == 0 {
                push(
                    vec![key("cluster"), key(field)],
                    "expected a duration greater than zero".into(),
                );
            }
        }
    }
}
