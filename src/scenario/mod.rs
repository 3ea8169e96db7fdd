//! The scenario file format: typed structures with their defaults, parsing,
//! validation and error messages that point into the file.
//!
//! This module knows nothing of the simulation; `model` builds a world from
//! a validated [`Scenario`]. Field names follow Kafka's configuration
//! vocabulary (`acks`, `min_insync_replicas`, `auto_offset_reset`, ...). The
//! format is documented field by field in `docs/scenario-format.md`.

mod checkers;
mod error;
pub mod faults;
pub mod flows;
pub(crate) mod footprint;
pub mod names;
pub mod objectives;
pub mod saga;
pub mod schema;
pub mod services;
pub(crate) mod suggest;
pub mod units;

pub use error::{Diagnostic, ScenarioError, Step, render_path, short_quotes};
pub use faults::{
    Fault, FaultKind, Faults, NODE_CLASSES, NodeRef, RandomFault, RandomFaults, Target,
};
pub use flows::{FlowSpec, HoldSpec};
pub use objectives::{Bound, LatencyKind, Objective};
pub use saga::{SagaEvent, SagaSpec, SagaStep};
pub use schema::{Compatibility, GroupSchema, ProducerSchema};
pub use services::{Breaker, CallSpec, Requests, ServiceEmit, ServiceSpec};
pub use units::{Dist, DistSpec, Duration};

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A whole scenario: the system under test and how long to run it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// `[scenario]`: name, description, seed, duration and budgets.
    pub scenario: Meta,
    /// `[network]`: latency and loss between nodes.
    #[serde(default)]
    pub network: Network,
    /// `[cluster]`: the brokers.
    #[serde(default)]
    pub cluster: Cluster,
    /// `[[topics]]`, in file order.
    #[serde(default)]
    pub topics: Vec<Topic>,
    /// `[[producers]]`, in file order.
    #[serde(default)]
    pub producers: Vec<Producer>,
    /// `[[groups]]`: consumer groups and their services, in file order.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// `[[services]]`: services called synchronously, in file order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceSpec>,
    /// `[[faults]]` (a schedule) or `[faults]` with `schedule` and `random`.
    #[serde(default, skip_serializing_if = "Faults::is_empty")]
    pub faults: Faults,
    /// `[[flows]]`: business flows followed across services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<FlowSpec>,
    /// `[checks]`: which invariants to check and their bounds.
    #[serde(default, skip_serializing_if = "ChecksSpec::is_default")]
    pub checks: ChecksSpec,
    /// `[report]`: how the report samples the run.
    #[serde(default, skip_serializing_if = "ReportSpec::is_default")]
    pub report: ReportSpec,
}

/// `[report]`: time series sampling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSpec {
    /// Simulated time between two samples of the time series.
    #[serde(default = "default_interval")]
    pub interval: Duration,
    /// Points per series at most: beyond, the interval doubles.
    #[serde(default = "default_max_points")]
    pub max_points: u32,
    /// A group reading more partitions than this gets the distribution of
    /// lag across them and a lag series for this many of its partitions
    /// (those with the highest lag); a topic with more partitions, its
    /// smallest ISR and under-replicated count instead of per-partition ISR.
    #[serde(default = "default_partition_series")]
    pub partition_series: u32,
}

fn default_partition_series() -> u32 {
    20
}

fn default_interval() -> Duration {
    Duration::from_ms(100)
}
fn default_max_points() -> u32 {
    2000
}

impl Default for ReportSpec {
    fn default() -> Self {
        ReportSpec {
            interval: default_interval(),
            max_points: default_max_points(),
            partition_series: default_partition_series(),
        }
    }
}

impl ReportSpec {
    /// Every field at its default (the section can be left out).
    pub fn is_default(&self) -> bool {
        *self == ReportSpec::default()
    }
}

pub use checkers::{CHECKERS, CheckerId};

/// `[checks]`: which checkers run (default: all that apply) and their bounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksSpec {
    /// Run only these (default: every checker that applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Vec<String>>,
    /// Do not run these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<String>,
    /// `convergence`: how long after producers stop and faults heal each
    /// group may take to converge (default: the scenario's `drain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convergence_deadline: Option<Duration>,
    /// `liveness`: the longest a group may leave a partition behind
    /// without progress.
    #[serde(default = "default_liveness_bound")]
    pub liveness_bound: Duration,
    /// `producer-progress`: the longest a producer may have records
    /// outstanding without any acknowledgement.
    #[serde(default = "default_liveness_bound")]
    pub producer_progress_bound: Duration,
    /// `availability`: the longest a partition may go without a live
    /// leader (one up and not fenced).
    #[serde(default = "default_unavailability_bound")]
    pub unavailability_bound: Duration,
    /// `objectives`: what the design must meet (latency percentiles, a
    /// maximum lag, a minimum throughput).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objectives: Vec<Objective>,
}

fn default_unavailability_bound() -> Duration {
    Duration::from_secs(30)
}

fn default_liveness_bound() -> Duration {
    Duration::from_secs(60)
}

impl Default for ChecksSpec {
    fn default() -> Self {
        ChecksSpec {
            run: None,
            skip: Vec::new(),
            convergence_deadline: None,
            liveness_bound: default_liveness_bound(),
            producer_progress_bound: default_liveness_bound(),
            unavailability_bound: default_unavailability_bound(),
            objectives: Vec::new(),
        }
    }
}

impl ChecksSpec {
    /// Every field at its default (the section can be left out).
    pub fn is_default(&self) -> bool {
        *self == ChecksSpec::default()
    }
}

/// `[scenario]`: name, seed and the run's time frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// The scenario's name: the report folder and every title.
    pub name: String,
    /// What the scenario shows, in prose (the report page's first paragraph).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Master seed used when the command line gives none.
    #[serde(default)]
    pub seed: u64,
    /// How long producers produce.
    pub duration: Duration,
    /// Extra simulated time after `duration` for consumers to catch up; the
    /// run ends earlier once every group has caught up.
    #[serde(default = "default_drain")]
    pub drain: Duration,
    /// Kernel event budget: the run stops cleanly after this many events.
    #[serde(default = "default_max_kernel_events")]
    pub max_kernel_events: u64,
}

fn default_drain() -> Duration {
    Duration::from_secs(30)
}
fn default_max_kernel_events() -> u64 {
    2_000_000_000
}

/// `[network]`: one-way latency of each link class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Producer or consumer <-> broker.
    #[serde(default = "default_latency")]
    pub client_latency: Dist<Duration>,
    /// Broker <-> broker (replication).
    #[serde(default = "default_latency")]
    pub replication_latency: Dist<Duration>,
    /// A fetch (consumer or follower) without an answer after this long is
    /// sent again (Kafka's request.timeout.ms / replica.socket.timeout.ms).
    #[serde(default = "default_fetch_timeout")]
    pub request_timeout: Duration,
    /// Bytes per second one link carries in one direction (absent: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_bandwidth: Option<f64>,
    /// Bytes per second through one broker's network interface, in and out
    /// separately (absent: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_bandwidth: Option<f64>,
}

fn default_fetch_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_latency() -> Dist<Duration> {
    Dist::constant(Duration(500_000))
}

impl Default for Network {
    fn default() -> Self {
        Network {
            client_latency: default_latency(),
            replication_latency: default_latency(),
            request_timeout: default_fetch_timeout(),
            link_bandwidth: None,
            broker_bandwidth: None,
        }
    }
}

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

fn one() -> u32 {
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

/// How a producer's events arrive over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arrival {
    /// Evenly spaced at `rate`.
    Constant,
    /// Exponential gaps with mean 1/`rate`.
    Poisson,
    /// Poisson at `rate` during `on`, silent during `off`, repeating.
    Bursty,
}

/// How a producer picks the partition of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Partitioner {
    /// Kafka's default for keyed records: murmur2 of the key, modulo the partitions.
    Murmur2,
    /// Each record to the next partition in turn.
    RoundRobin,
    /// Kafka's sticky partitioner (KIP-480): fills a batch on one partition,
    /// then moves to another at random, ignoring the key.
    Sticky,
    /// A partition drawn at random for each record.
    Random,
    /// Key number `k` of `n` to partition `k * partitions / n`: contiguous key ranges.
    KeyRange,
}

impl Partitioner {
    /// The name as scenario files write it (`murmur2`, `round-robin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Partitioner::Murmur2 => "murmur2",
            Partitioner::RoundRobin => "round-robin",
            Partitioner::Sticky => "sticky",
            Partitioner::Random => "random",
            Partitioner::KeyRange => "key-range",
        }
    }
}

/// Kafka's `acks`: what the leader waits for before acknowledging a write.
/// Written `"0"`, `"1"` or `"all"`, or as Kafka's configs write it: `0`,
/// `1`, `-1` (and `"-1"`) for all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Acks {
    /// `acks = "0"`: no acknowledgement; the producer counts a record done when sent.
    #[serde(rename = "0")]
    None,
    /// `acks = "1"`: the leader's own append.
    #[serde(rename = "1")]
    Leader,
    /// `acks = "all"`: every in-sync replica, and at least `min_insync_replicas` of them.
    #[serde(rename = "all")]
    All,
}

impl<'de> Deserialize<'de> for Acks {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Acks, D::Error> {
        struct V;
        const EXPECTED: &str =
            "acks = \"0\", \"1\" or \"all\" (or 0, 1, -1 as Kafka's configs write them)";
        impl serde::de::Visitor<'_> for V {
            type Value = Acks;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Acks, E> {
                match v {
                    0 => Ok(Acks::None),
                    1 => Ok(Acks::Leader),
                    -1 => Ok(Acks::All),
                    _ => Err(E::custom(format!(
                        "acks = {v} is not a Kafka acks; expected {EXPECTED}"
                    ))),
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Acks, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Acks, E> {
                match v {
                    "0" => Ok(Acks::None),
                    "1" => Ok(Acks::Leader),
                    "all" | "-1" => Ok(Acks::All),
                    _ => Err(E::custom(format!(
                        "unknown variant `{v}`, expected one of `0`, `1`, `all`"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Key distribution: `{ dist = "zipf", n = 1000, s = 1.1 }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Keys {
    /// Each of `n` keys equally likely.
    Uniform {
        /// How many keys.
        n: u64,
    },
    /// Key of rank `k` drawn with probability proportional to `1 / k^s`:
    /// a few hot keys.
    Zipf {
        /// How many keys.
        n: u64,
        /// The exponent: the larger, the hotter the hottest keys.
        s: f64,
    },
    /// Keys 0, 1, ..., `n - 1` in turn, then again.
    Sequential {
        /// How many keys.
        n: u64,
    },
}

impl Keys {
    /// The size of the key space.
    pub fn n(&self) -> u64 {
        match self {
            Keys::Uniform { n } | Keys::Zipf { n, .. } | Keys::Sequential { n } => *n,
        }
    }
}

/// `[[producers]]`: a service that produces events to one topic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Producer {
    /// The producer's name (a node name for faults and the report).
    pub name: String,
    /// The topic it writes.
    pub topic: String,
    /// The event type of its records (what `emit.on` and `processing_by_type` match).
    #[serde(default = "default_event_type")]
    pub event_type: String,
    /// Events per second (during `on` periods for bursty arrivals).
    pub rate: f64,
    /// How events arrive: `constant`, `poisson` or `bursty`.
    #[serde(default = "default_arrival")]
    pub arrival: Arrival,
    /// `bursty`: how long each burst lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<Duration>,
    /// `bursty`: how long the silence between bursts lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off: Option<Duration>,
    /// When production starts and stops (default: the scenario's duration).
    #[serde(default)]
    pub start: Duration,
    /// When production stops (default: the scenario's duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Duration>,
    /// How keys are drawn.
    #[serde(default = "default_keys")]
    pub keys: Keys,
    /// Keys are `key_prefix` followed by the key number, e.g. `order-17`.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// Payload size in bytes.
    #[serde(default = "default_payload")]
    pub payload: Dist<u64>,
    /// How a record's partition is chosen.
    #[serde(default = "default_partitioner")]
    pub partitioner: Partitioner,
    /// What acknowledges a write (Kafka's `acks`).
    #[serde(default = "default_acks")]
    pub acks: Acks,
    /// Attempts after the first before a record fails.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before a failed request is retried (`retry.backoff.ms`).
    #[serde(default = "default_retry_backoff")]
    pub retry_backoff: Duration,
    /// A request without a response after this long is retried.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Duration,
    /// A record not acknowledged after this long fails, whatever the retries left.
    #[serde(default = "default_delivery_timeout")]
    pub delivery_timeout: Duration,
    /// Unacknowledged requests per partition.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
    /// Kafka's enable.idempotence: the broker drops retried duplicates by
    /// producer id and sequence number, and keeps them in order.
    #[serde(default = "default_true")]
    pub idempotent: bool,
    /// Maximum bytes per request and partition (Kafka's batch.size).
    #[serde(default = "default_batch_size")]
    pub batch_size: u64,
    /// How long a non-full batch waits for more records (linger.ms).
    #[serde(default)]
    pub linger: Duration,
    /// Fraction of records that are tombstones: a null value that deletes
    /// the key (what a changelog writes for a deleted entity).
    #[serde(default)]
    pub tombstones: f64,
    /// Kafka's `transactional.id`: the producer writes its records in
    /// transactions (KIP-98), committing one every `transaction_interval`.
    #[serde(default)]
    pub transactional: bool,
    /// `transactional`: how often the producer commits its transaction.
    #[serde(default = "default_transaction_interval")]
    pub transaction_interval: Duration,
    /// The coordinator aborts a transaction open longer than this
    /// (`transaction.timeout.ms`).
    #[serde(default = "default_transaction_timeout")]
    pub transaction_timeout: Duration,
    /// Schema evolution: when the producer's instances switch to a new
    /// version of its event type, and how compatible it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<ProducerSchema>,
    /// Bytes of records the producer holds unsent or unacknowledged at
    /// most (Kafka's `buffer.memory`, 32 MiB); a record that does not fit
    /// blocks `send()`.
    #[serde(default = "default_buffer_memory")]
    pub buffer_memory: u64,
    /// How long `send()` blocks for room before the record fails
    /// (`max.block.ms`, 60 s).
    #[serde(default = "default_max_block")]
    pub max_block: Duration,
}

fn default_buffer_memory() -> u64 {
    32 * 1024 * 1024
}
fn default_max_block() -> Duration {
    Duration::from_secs(60)
}

fn default_transaction_interval() -> Duration {
    Duration::from_ms(100)
}
fn default_transaction_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_group_transaction_timeout() -> Duration {
    Duration::from_secs(10)
}

/// A transactional producer's transactions: how often it commits, and the
/// coordinator's timeout.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transactions {
    /// How often the producer commits its transaction.
    pub interval: Duration,
    /// The coordinator aborts a transaction open longer (`transaction.timeout.ms`).
    pub timeout: Duration,
}

/// The Kafka producer settings shared by producers and service emitters.
#[derive(Clone, Debug, PartialEq)]
pub struct ProducerClient {
    /// What acknowledges a write (Kafka's `acks`).
    pub acks: Acks,
    /// Attempts after the first before a record fails.
    pub retries: u32,
    /// Wait before a failed request is retried.
    pub retry_backoff: Duration,
    /// A request without a response after this long is retried.
    pub request_timeout: Duration,
    /// A record not acknowledged after this long fails.
    pub delivery_timeout: Duration,
    /// Unacknowledged requests per partition.
    pub max_in_flight: u32,
    /// Kafka's `enable.idempotence`.
    pub idempotent: bool,
    /// Maximum bytes per request and partition (`batch.size`).
    pub batch_size: u64,
    /// How long a non-full batch waits for more records (`linger.ms`).
    pub linger: Duration,
    /// Transactions, for a transactional producer.
    pub transactions: Option<Transactions>,
}

impl Producer {
    /// The producer's Kafka client settings.
    pub fn client(&self) -> ProducerClient {
        ProducerClient {
            acks: self.acks,
            retries: self.retries,
            retry_backoff: self.retry_backoff,
            request_timeout: self.request_timeout,
            delivery_timeout: self.delivery_timeout,
            max_in_flight: self.max_in_flight,
            idempotent: self.idempotent,
            batch_size: self.batch_size,
            linger: self.linger,
            transactions: self.transactional.then_some(Transactions {
                interval: self.transaction_interval,
                timeout: self.transaction_timeout,
            }),
        }
    }
}

impl Default for ProducerClient {
    fn default() -> Self {
        ProducerClient {
            acks: default_acks(),
            retries: default_retries(),
            retry_backoff: default_retry_backoff(),
            request_timeout: default_request_timeout(),
            delivery_timeout: default_delivery_timeout(),
            max_in_flight: default_max_in_flight(),
            idempotent: true,
            batch_size: default_batch_size(),
            linger: Duration::ZERO,
            transactions: None,
        }
    }
}

fn default_event_type() -> String {
    "Event".into()
}
fn default_arrival() -> Arrival {
    Arrival::Poisson
}
fn default_keys() -> Keys {
    Keys::Uniform { n: 1000 }
}
fn default_key_prefix() -> String {
    "key-".into()
}
fn default_payload() -> Dist<u64> {
    Dist::constant(256)
}
fn default_partitioner() -> Partitioner {
    Partitioner::Murmur2
}
fn default_acks() -> Acks {
    Acks::All
}
fn default_retries() -> u32 {
    2_147_483_647
}
fn default_retry_backoff() -> Duration {
    Duration::from_ms(100)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_delivery_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_max_in_flight() -> u32 {
    5
}
fn default_true() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}
fn default_batch_size() -> u64 {
    16_384
}

/// How a group's partitions are assigned to its consumers (`partition.assignment.strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Assignment {
    /// Kafka's `RangeAssignor`: per topic, contiguous ranges of partitions.
    Range,
    /// Kafka's `RoundRobinAssignor`: partitions dealt in turn.
    RoundRobin,
    /// Kafka's `StickyAssignor`: balanced, moving as few partitions as possible; eager.
    Sticky,
    /// Kafka's `CooperativeStickyAssignor` (KIP-429): sticky, in two incremental rounds.
    CooperativeSticky,
}

/// Where a group with no committed offset starts (`auto.offset.reset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OffsetReset {
    /// At the log start offset: every retained record.
    Earliest,
    /// At the log end offset: only records appended after the consumer joins.
    Latest,
    /// No reset: `poll()` throws (`NoOffsetForPartitionException` without a
    /// committed offset, `OffsetOutOfRangeException` when the position left
    /// the log), which stops the consumer.
    None,
}

/// When a group's consumers commit their offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommitMode {
    /// Kafka's `enable.auto.commit`, as the group's `client` does it: the
    /// Java client commits in `poll()` what earlier polls returned (after
    /// processing, with a synchronous handler); librdkafka commits on a
    /// background timer, which may run ahead of processing.
    Auto,
    /// Commit after a polled batch is processed (at-least-once).
    AfterProcess,
    /// Commit as soon as a batch is polled (at-most-once).
    BeforeProcess,
    /// The offset is stored atomically with the effect, in the service's own
    /// store (the KafkaConsumer javadoc's "storing offsets outside Kafka"):
    /// exactly-once effects for this group. Not Kafka transactions (KIP-98);
    /// `transactional` is accepted as its old name.
    #[serde(alias = "transactional")]
    AtomicWithEffect,
    /// Consume-transform-produce in Kafka transactions (KIP-98, KIP-447):
    /// each consumer has its own transactional producer; what the service
    /// emits and the consumed offsets (`sendOffsetsToTransaction`) commit
    /// together every `commit_interval`, or abort together.
    InTransaction,
}

/// Which Kafka client library a group's consumers behave like, where the
/// clients differ (today: what `commit = "auto"` commits, and when).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsumerClient {
    /// The Java `KafkaConsumer`: auto-commit runs inside `poll()` and commits
    /// what the previous polls returned.
    Java,
    /// librdkafka (and the clients built on it): a background timer commits
    /// the offsets stored for messages handed to the application.
    Librdkafka,
}

/// How a group's service avoids applying an event twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Idempotency {
    /// It does not: a redelivered event is applied again.
    None,
    /// Skip events whose id is in the processed-id store.
    Dedup,
    /// Skip events whose per-key version is not newer than the stored one.
    Version,
}

/// What processing an event does to the group's state (its projection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// Adds the event's value to its key's total.
    Sum,
    /// Keeps the value of the key's newest event applied.
    LastWrite,
    /// Adds the event's id to its key's set.
    Set,
    /// Counts the key's events.
    Count,
}

/// How an emitted event leaves the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmitMode {
    /// Emission handed to an in-memory producer, separately from the effect.
    DualWrite,
    /// Emission written atomically with the effect and relayed.
    Outbox,
}

/// `[[groups.emit]]`: an event the group's service emits when it processes one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Emit {
    /// Event type that triggers the emission (absent: every event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<String>,
    /// The topic the emitted event goes to.
    pub topic: String,
    /// The emitted event's type.
    pub event_type: String,
    /// Dual write or outbox.
    #[serde(default = "default_emit_mode")]
    pub mode: EmitMode,
    /// The business rule's failure outcome, if it can fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<EmitFailure>,
}

/// `failure = { probability = 0.1, event_type = "PaymentDeclined" }` on an
/// emit rule: the service processes the event but its business rule
/// fails (a payment declined, an item out of stock), so it emits
/// `event_type` instead of the rule's success event. The outcome belongs to
/// the event: processing it again (a redelivery, another consumer after a
/// rebalance) gives the same outcome. Other groups compensate by emit rules
/// `on` the failure event (choreography).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmitFailure {
    /// The share of the rule's events whose business rule fails, in 0..=1.
    pub probability: f64,
    /// The event emitted instead of the rule's `event_type`.
    pub event_type: String,
}

fn default_emit_mode() -> EmitMode {
    EmitMode::Outbox
}

/// `[[groups]]`: a consumer group and the service it feeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// The group's name (`group.id`), also its service's.
    pub name: String,
    /// The topics it subscribes to.
    pub topics: Vec<String>,
    /// How many consumers (`NAME/0` to `NAME/N-1`).
    #[serde(default = "one")]
    pub consumers: u32,
    /// The partition assignment strategy.
    #[serde(default = "default_assignment")]
    pub assignment: Assignment,
    /// The coordinator's and the group leader's share of a rebalance round:
    /// from the last member's JoinGroup to every member holding its
    /// assignment (the leader's assignment and the SyncGroup round).
    #[serde(default = "default_rebalance_time")]
    pub rebalance_time: Duration,
    /// Where a consumer with no committed offset starts (`auto.offset.reset`).
    #[serde(default = "default_offset_reset")]
    pub auto_offset_reset: OffsetReset,
    /// When the group's consumers first join.
    #[serde(default)]
    pub start: Duration,
    /// Most records one poll returns (`max.poll.records`).
    #[serde(default = "default_max_poll_records")]
    pub max_poll_records: u32,
    /// Processing time of one event.
    #[serde(default = "default_processing")]
    pub processing: Dist<Duration>,
    /// Processing time by event type, overriding `processing`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub processing_by_type: BTreeMap<String, Dist<Duration>>,
    /// When offsets are committed.
    #[serde(default = "default_commit")]
    pub commit: CommitMode,
    /// `commit = "auto"`: how often (`auto.commit.interval.ms`).
    #[serde(default = "default_auto_commit_interval")]
    pub auto_commit_interval: Duration,
    /// `in-transaction`: how often each consumer commits its transaction
    /// (Kafka Streams' `commit.interval.ms`, 100ms under exactly-once).
    #[serde(default = "default_transaction_interval")]
    pub commit_interval: Duration,
    /// `in-transaction`: the consumers' producers' `transaction.timeout.ms`
    /// (Kafka Streams sets 10s under exactly-once).
    #[serde(default = "default_group_transaction_timeout")]
    pub transaction_timeout: Duration,
    /// `in-transaction`: the consumers' producers' `request.timeout.ms`
    /// (Kafka Streams' `producer.request.timeout.ms`).
    #[serde(default = "default_request_timeout")]
    pub producer_request_timeout: Duration,
    /// The client library the consumers behave like.
    #[serde(default = "default_consumer_client")]
    pub client: ConsumerClient,
    /// librdkafka's `enable.auto.offset.store`: with `false` the
    /// application stores a message's offset once it has processed it
    /// (`rd_kafka_offsets_store`), so auto-commit commits only processed
    /// offsets: the documented fix for auto-commit's loss on a crash.
    /// Applies to `client = "librdkafka"` with `commit = "auto"`.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub enable_auto_offset_store: bool,
    /// Kafka's `isolation.level`: `read_committed` consumers read only
    /// below the last stable offset and skip aborted transactions' records.
    #[serde(default = "default_isolation")]
    pub isolation: Isolation,
    /// How the service skips duplicates.
    #[serde(default = "default_idempotency")]
    pub idempotency: Idempotency,
    /// Capacity of the processed-id store (`dedup`); absent: unbounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_capacity: Option<u64>,
    /// What processing does to the group's state.
    #[serde(default = "default_effect")]
    pub effect: Effect,
    /// Events the service emits as it processes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emit: Vec<Emit>,
    /// A consumer the coordinator has not heard from for this long (crashed,
    /// paused, cut off) leaves the group, which rebalances (session.timeout.ms).
    #[serde(default = "default_session_timeout")]
    pub session_timeout: Duration,
    /// How often a consumer heartbeats to the coordinator
    /// (heartbeat.interval.ms): a member learns that a rebalance started at
    /// its next heartbeat. Default: Kafka's 3s, or a third of
    /// `session_timeout` if that is shorter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval: Option<Duration>,
    /// A consumer that does not poll within this long (a handler slower
    /// than its batch allows) leaves the group (max.poll.interval.ms, KIP-62).
    #[serde(default = "default_max_poll_interval")]
    pub max_poll_interval: Duration,
    /// Static membership (group.instance.id, KIP-345): a consumer that
    /// restarts within its session timeout gets its partitions back without
    /// a rebalance.
    #[serde(default)]
    pub static_membership: bool,
    /// What the handler does with an event that keeps failing. Default:
    /// `dead-letter` when `dead_letter_topic` is set, else `block`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    /// Retries of a failed event before `dead-letter` or `skip` give up on it.
    #[serde(default = "default_handler_retries")]
    pub handler_retries: u32,
    /// Wait between retries of a failed event.
    #[serde(default = "default_handler_backoff")]
    pub handler_retry_backoff: Duration,
    /// Topic that receives events the handler gave up on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_topic: Option<String>,
    /// Schema evolution: the version of each event type its consumers
    /// read, and when they are upgraded (absent: version 1, never
    /// upgraded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<GroupSchema>,
    /// The group's service orchestrates a saga.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saga: Option<SagaSpec>,
}

/// A consumer's `isolation.level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Isolation {
    /// Read up to the high watermark, records of open and aborted
    /// transactions included (Kafka's default).
    ReadUncommitted,
    /// Read up to the last stable offset; skip aborted transactions.
    ReadCommitted,
}

fn default_isolation() -> Isolation {
    Isolation::ReadUncommitted
}

/// What a consumer does with an event whose handler keeps failing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// Retry forever: the consumer stalls behind the event (head-of-line block).
    Block,
    /// After `handler_retries`, publish the event to `dead_letter_topic` and go on.
    DeadLetter,
    /// After `handler_retries`, drop the event and go on (its effect is lost).
    Skip,
}

impl Group {
    /// `heartbeat_interval`, or its default: Kafka's 3s, capped at a third
    /// of the session timeout (Kafka requires it below the session timeout
    /// and advises a third of it).
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
            .unwrap_or_else(|| Duration(3_000_000_000.min(self.session_timeout.ns() / 3)))
    }

    /// `on_failure`, or its default: `dead-letter` with a dead-letter topic, else `block`.
    pub fn failure_policy(&self) -> OnFailure {
        self.on_failure
            .unwrap_or(if self.dead_letter_topic.is_some() {
                OnFailure::DeadLetter
            } else {
                OnFailure::Block
            })
    }
}

fn default_session_timeout() -> Duration {
    Duration::from_secs(45)
}
fn default_max_poll_interval() -> Duration {
    Duration::from_secs(300)
}
fn default_handler_retries() -> u32 {
    3
}
fn default_handler_backoff() -> Duration {
    Duration::from_ms(100)
}

fn default_assignment() -> Assignment {
    Assignment::Range
}
fn default_rebalance_time() -> Duration {
    Duration::from_ms(50)
}
fn default_offset_reset() -> OffsetReset {
    OffsetReset::Latest
}
fn default_max_poll_records() -> u32 {
    500
}
fn default_processing() -> Dist<Duration> {
    Dist::constant(Duration::from_ms(1))
}
fn default_commit() -> CommitMode {
    CommitMode::Auto
}
/// A group's auto-commit settings that contradict each other.
fn auto_commit_problems(g: &Group, push: &mut dyn FnMut(&str, String)) {
    if g.commit == CommitMode::Auto && g.auto_commit_interval.ns() == 0 {
        push(
            "auto_commit_interval",
            "expected a duration greater than zero".into(),
        );
    }
    if !g.enable_auto_offset_store
        && (g.commit != CommitMode::Auto || g.client != ConsumerClient::Librdkafka)
    {
        push(
            "enable_auto_offset_store",
            "applies only to client = \"librdkafka\" with commit = \"auto\" (the Java client's auto-commit commits what earlier polls returned)".into(),
        );
    }
}

fn default_auto_commit_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_consumer_client() -> ConsumerClient {
    ConsumerClient::Java
}
fn default_idempotency() -> Idempotency {
    Idempotency::None
}
fn default_effect() -> Effect {
    Effect::Count
}

/// A problem found by validation, located by field path.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// Where: the field's path.
    pub path: Vec<Step>,
    /// What is wrong, and what was expected.
    pub message: String,
}

/// Read a scenario file: at most [`Scenario::MAX_FILE_BYTES`], and UTF-8,
/// with the line and column of the first byte that is not.
fn read_bounded(path: &Path, file: &str) -> Result<String, ScenarioError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(Scenario::MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| ScenarioError::io(file, &e))?;
    if bytes.len() as u64 > Scenario::MAX_FILE_BYTES {
        return Err(ScenarioError::io(
            file,
            &std::io::Error::other(format!(
                "it is larger than {} MiB; a scenario file is a few kilobytes of TOML",
                Scenario::MAX_FILE_BYTES >> 20
            )),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let bytes = e.into_bytes();
        let prefix = String::from_utf8_lossy(&bytes[..good]).into_owned();
        let bad = bytes[good];
        let mut text = prefix.clone();
        text.push('?');
        ScenarioError::at(
            file,
            &text,
            good..good + 1,
            String::new(),
            format!("invalid UTF-8 (byte 0x{bad:02x}); a scenario file is UTF-8 text"),
        )
    })
}

/// A name fault targets use for something else: a node class (`brokers`,
/// ...) or a broker (`broker-0`).
/// The most voters a metadata quorum may have.
pub const MAX_VOTERS: u32 = 9;

fn reserved(name: &str) -> bool {
    NODE_CLASSES.contains(&name) || name.starts_with("broker-") || name.starts_with("controller-")
}

fn key(k: &str) -> Step {
    Step::Key(k.to_string())
}

impl Scenario {
    /// Read, parse and validate a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        Scenario::load_with_text(path).map(|(s, _)| s)
    }

    /// [`Scenario::load`], and the file's text as read.
    pub fn load_with_text(path: &Path) -> Result<(Scenario, String), ScenarioError> {
        let file = path.display().to_string();
        let text = read_bounded(path, &file)?;
        Scenario::parse(&text, &file).map(|s| (s, text))
    }

    /// The largest scenario file read (scenarios are a few kilobytes; this
    /// keeps `check /dev/zero` from reading until memory runs out).
    pub const MAX_FILE_BYTES: u64 = 16 << 20;

    /// Parse and validate scenario text; `file` names it in errors.
    ///
    /// The error lists every problem found: unknown fields (reading on as
    /// if they were absent), the first value that cannot be read as its
    /// field's type (the reader cannot go past it), and, once the file
    /// reads as a scenario, every problem validation finds.
    pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let doc = toml_edit::ImDocument::parse(text.to_string()).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            ScenarioError::at(
                file,
                text,
                span,
                String::new(),
                format!("invalid TOML: {}", e.message().trim()),
            )
        })?;
        let mut found: Vec<(usize, Diagnostic)> = vec![];
        let scenario = Scenario::read_past_unknown_fields(&doc, text, &mut found);
        if let Some(scenario) = &scenario {
            // Sizes first: validation itself lists nodes (every consumer of
            // a group named as a fault target), which a huge count must not
            // reach.
            let problems = match scenario.footprint_problem(crate::budget::max_memory()) {
                Some(p) => vec![p],
                None => scenario.problems(),
            };
            for problem in problems {
                let span = error::span_of(&doc, &problem.path).unwrap_or(0..0);
                let help = suggest::for_message(&problem.message);
                let d = Diagnostic::at(
                    text,
                    span.clone(),
                    render_path(&problem.path),
                    problem.message,
                );
                found.push((span.start, d.with_help(help)));
            }
        }
        if found.is_empty() {
            return Ok(scenario.expect("a scenario that reads, with no problem"));
        }
        found.sort_by_key(|(at, _)| *at);
        Err(ScenarioError {
            file: file.to_string(),
            problems: found.into_iter().map(|(_, d)| d).collect(),
        })
    }

    /// The most unknown fields read past before giving up.
    const MAX_UNKNOWN_FIELDS: usize = 50;

    /// Deserialize `text` (parsed as `doc`), recording each error in
    /// `found`: past an unknown field by blanking it out (spaces, so every
    /// other offset stays put) and reading again; the scenario once it
    /// reads, `None` at the first error of another kind.
    fn read_past_unknown_fields(
        doc: &toml_edit::ImDocument<String>,
        text: &str,
        found: &mut Vec<(usize, Diagnostic)>,
    ) -> Option<Scenario> {
        let mut blanked = text.to_string();
        let mut suggested: Vec<String> = vec![];
        loop {
            let e = match toml_edit::de::from_str::<Scenario>(&blanked) {
                Ok(s) => return Some(s),
                Err(e) => e,
            };
            let mut span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_string();
            let unknown = message
                .strip_prefix("unknown field `")
                .and_then(|m| m.split_once('`'))
                .map(|(name, _)| name.to_string());
            // Some tables (a distribution's) report an unknown field at
            // the whole table: point at the key itself.
            if let Some(name) = &unknown
                && let Some(key) = error::key_within(doc, &span, name)
            {
                span = key;
            }
            // A required field reported missing after its misspelling was
            // read past says nothing the misspelling's help did not.
            if suggested
                .iter()
                .any(|s| message == format!("missing field `{s}`"))
            {
                return None;
            }
            let help = suggest::for_message(&message);
            if let Some(h) = &help
                && let Some(name) = h.split('`').nth(1)
            {
                suggested.push(name.to_string());
            }
            let field = render_path(&error::path_at(doc, span.start));
            found.push((
                span.start,
                Diagnostic::at(text, span.clone(), field, message).with_help(help),
            ));
            let extent = unknown.and_then(|_| error::entry_at(doc, &blanked, span.start));
            match extent {
                Some(r) if found.len() < Self::MAX_UNKNOWN_FIELDS => {
                    // As many bytes of spaces as each character had, and
                    // the newlines kept: every offset stays put.
                    let spaces: String = blanked[r.clone()]
                        .chars()
                        .map(|c| match c {
                            '\n' => "\n".to_string(),
                            c => " ".repeat(c.len_utf8()),
                        })
                        .collect();
                    blanked.replace_range(r, &spaces);
                    if toml_edit::ImDocument::parse(blanked.as_str()).is_err() {
                        return None;
                    }
                }
                _ => return None,
            }
        }
    }

    /// Every semantic problem, in file order of sections.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = vec![];
        let mut push = |path: Vec<Step>, message: String| out.push(Problem { path, message });

        self.name_problems(&mut push);
        let meta = &self.scenario;
        if meta.duration.ns() == 0 {
            push(
                vec![key("scenario"), key("duration")],
                "expected a duration greater than zero".into(),
            );
        }
        if meta.max_kernel_events == 0 {
            push(
                vec![key("scenario"), key("max_kernel_events")],
                "expected a positive number of events".into(),
            );
        }
        for (field, d) in [
            ("client_latency", &self.network.client_latency),
            ("replication_latency", &self.network.replication_latency),
        ] {
            if let Some(msg) = d.problem() {
                push(vec![key("network"), key(field)], msg);
            }
        }
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
        }
        let mut nodes = BTreeSet::new();
        for (i, p) in self.producers.iter().enumerate() {
            let at = |f: &str| vec![key("producers"), Step::Index(i), key(f)];
            // Empty names and characters such as `/` are refused by the
            // names rule (names.rs).
            if reserved(&p.name) {
                push(
                    at("name"),
                    format!("`{}` is reserved for fault targets", p.name),
                );
            } else if !nodes.insert(p.name.clone()) {
                push(at("name"), format!("name `{}` is used twice", p.name));
            }
            self.producer_problems(i, p, &topics, &mut push);
        }

        let mut groups = BTreeSet::new();
        for (i, g) in self.groups.iter().enumerate() {
            let at = |f: &str| vec![key("groups"), Step::Index(i), key(f)];
            if reserved(&g.name) {
                push(
                    at("name"),
                    format!("`{}` is reserved for fault targets", g.name),
                );
            } else if !groups.insert(g.name.clone()) || nodes.contains(&g.name) {
                push(at("name"), format!("name `{}` is used twice", g.name));
            }
            self.group_problems(i, g, &topics, &mut push);
        }
        let mut names = nodes.clone();
        names.extend(groups.iter().cloned());
        self.service_problems(&mut names, &mut push);
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
        if self.network.request_timeout.ns() == 0 {
            push(
                vec![key("network"), key("request_timeout")],
                "expected a duration greater than zero".into(),
            );
        }
        for (field, bandwidth) in [
            ("link_bandwidth", self.network.link_bandwidth),
            ("broker_bandwidth", self.network.broker_bandwidth),
        ] {
            if bandwidth.is_some_and(|b| !(b.is_finite() && b >= 1.0)) {
                push(
                    vec![key("network"), key(field)],
                    "expected bytes per second, at least 1".into(),
                );
            }
        }
        self.fault_problems(&mut push);
        self.flow_problems(&mut push);
        self.schema_problems(&mut push);
        self.saga_problems(&mut push);
        self.checks_problems(&mut push);
        if self.report.interval.ns() == 0 {
            push(
                vec![key("report"), key("interval")],
                "expected a duration greater than zero".into(),
            );
        }
        if self.report.max_points < 2 {
            push(
                vec![key("report"), key("max_points")],
                "expected at least 2 points".into(),
            );
        }
        if self.report.partition_series > 10_000 {
            push(
                vec![key("report"), key("partition_series")],
                "expected at most 10000 series per group".into(),
            );
        }
        for (field, bound) in [
            ("liveness_bound", self.checks.liveness_bound),
            (
                "producer_progress_bound",
                self.checks.producer_progress_bound,
            ),
            ("unavailability_bound", self.checks.unavailability_bound),
        ] {
            if bound.ns() == 0 {
                push(
                    vec![key("checks"), key(field)],
                    "expected a duration greater than zero".into(),
                );
            }
        }
        out
    }

    /// What is wrong with one `[[producers]]` entry (its name is checked by
    /// the caller, with every node's).
    fn producer_problems(
        &self,
        i: usize,
        p: &Producer,
        topics: &BTreeSet<&str>,
        push: &mut dyn FnMut(Vec<Step>, String),
    ) {
        let at = |f: &str| vec![key("producers"), Step::Index(i), key(f)];
        let topic_known = |name: &str| topics.contains(name);
        if !topic_known(&p.topic) {
            push(
                at("topic"),
                format!(
                    "unknown topic `{}`; defined topics: {}",
                    p.topic,
                    list(topics)
                ),
            );
        }
        if !(p.rate > 0.0 && p.rate.is_finite()) {
            push(
                at("rate"),
                "expected a positive rate in events per second".into(),
            );
        }
        if p.arrival == Arrival::Bursty {
            for (f, v) in [("on", p.on), ("off", p.off)] {
                match v {
                    None => push(
                        vec![key("producers"), Step::Index(i)],
                        format!("bursty arrival needs `{f}` (a duration)"),
                    ),
                    Some(d) if d.ns() == 0 && f == "on" => {
                        push(at(f), "expected a duration greater than zero".into())
                    }
                    _ => {}
                }
            }
        } else {
            for (f, v) in [("on", p.on), ("off", p.off)] {
                if v.is_some() {
                    push(
                        at(f),
                        "`on` and `off` apply only to arrival = \"bursty\"".into(),
                    );
                }
            }
        }
        if p.stop.is_some_and(|stop| stop <= p.start) {
            push(at("stop"), "expected `stop` after `start`".into());
        }
        match &p.keys {
            k if k.n() == 0 => push(at("keys"), "expected at least 1 key (`n`)".into()),
            Keys::Zipf { s, .. } if !(*s > 0.0 && s.is_finite()) => {
                push(at("keys"), "expected a positive Zipf exponent `s`".into())
            }
            _ => {}
        }
        if let Some(msg) = p.payload.problem() {
            push(at("payload"), msg);
        }
        client_problems(&p.client(), &mut |f, m| push(at(f), m));
        record_problems(p, &mut |f, m| push(at(f), m));
    }

    /// What is wrong with one `[[groups]]` entry (its name is checked by the caller).
    fn group_problems(
        &self,
        i: usize,
        g: &Group,
        topics: &BTreeSet<&str>,
        push: &mut dyn FnMut(Vec<Step>, String),
    ) {
        let at = |f: &str| vec![key("groups"), Step::Index(i), key(f)];
        let topic_known = |name: &str| topics.contains(name);
        if g.topics.is_empty() {
            push(at("topics"), "expected at least one topic".into());
        }
        for (j, t) in g.topics.iter().enumerate() {
            if !topic_known(t) {
                push(
                    vec![key("groups"), Step::Index(i), key("topics"), Step::Index(j)],
                    format!("unknown topic `{t}`; defined topics: {}", list(topics)),
                );
            }
        }
        if g.consumers == 0 {
            push(at("consumers"), "expected at least 1 consumer".into());
        }
        if g.max_poll_records == 0 {
            push(at("max_poll_records"), "expected at least 1".into());
        }
        auto_commit_problems(g, &mut |f, m| push(at(f), m));
        if let Some(msg) = g.processing.problem() {
            push(at("processing"), msg);
        }
        for (t, d) in &g.processing_by_type {
            if let Some(msg) = d.problem() {
                push(
                    vec![
                        key("groups"),
                        Step::Index(i),
                        key("processing_by_type"),
                        key(t),
                    ],
                    msg,
                );
            }
        }
        if g.dedup_capacity == Some(0) {
            push(
                at("dedup_capacity"),
                "expected a positive capacity, or leave it out for an unbounded store".into(),
            );
        }
        if g.dedup_capacity.is_some() && g.idempotency != Idempotency::Dedup {
            push(
                at("dedup_capacity"),
                "applies only to idempotency = \"dedup\"".into(),
            );
        }
        for t in g.processing_by_type.keys() {
            if !self.event_types().contains(t) {
                push(
                    vec![
                        key("groups"),
                        Step::Index(i),
                        key("processing_by_type"),
                        key(t),
                    ],
                    format!(
                        "unknown event type `{t}`; known: {}",
                        quoted(self.event_types())
                    ),
                );
            }
        }
        for (field, d) in [
            ("session_timeout", g.session_timeout),
            ("max_poll_interval", g.max_poll_interval),
        ] {
            if d.ns() == 0 {
                push(at(field), "expected a duration greater than zero".into());
            }
        }
        if g.commit == CommitMode::InTransaction {
            for (field, d) in [
                ("commit_interval", g.commit_interval),
                ("transaction_timeout", g.transaction_timeout),
                ("producer_request_timeout", g.producer_request_timeout),
            ] {
                if d.ns() == 0 {
                    push(at(field), "expected a duration greater than zero".into());
                }
            }
            for (j, e) in g.emit.iter().enumerate() {
                if e.mode == EmitMode::DualWrite {
                    push(
                        vec![key("groups"), Step::Index(i), key("emit"), Step::Index(j), key("mode")],
                        "with commit = \"in-transaction\" the service emits inside its transaction; leave `mode` out".into(),
                    );
                }
            }
        }
        if g.effect != Effect::LastWrite
            && let Some(p) = self
                .producers
                .iter()
                .find(|p| p.tombstones > 0.0 && g.topics.contains(&p.topic))
        {
            push(
                at("effect"),
                format!(
                    "producer `{}` writes tombstones to `{}`: a tombstone deletes its key's value, which only `last-write` models",
                    p.name, p.topic
                ),
            );
        }
        if let Some(hb) = g.heartbeat_interval
            && (hb.ns() == 0 || hb.ns() >= g.session_timeout.ns())
        {
            push(
                at("heartbeat_interval"),
                format!(
                    "expected a duration greater than zero and below session_timeout ({})",
                    g.session_timeout
                ),
            );
        }
        if NODE_CLASSES.contains(&g.name.as_str()) {
            push(
                at("name"),
                format!("`{}` is reserved in fault targets", g.name),
            );
        }
        match (&g.dead_letter_topic, g.failure_policy()) {
            (Some(t), _) if !topic_known(t) => push(
                at("dead_letter_topic"),
                format!("unknown topic `{t}`; defined topics: {}", list(topics)),
            ),
            (Some(t), _) if g.topics.contains(t) || g.emit.iter().any(|e| &e.topic == t) => push(
                at("dead_letter_topic"),
                format!("`{t}` is already read or emitted by this group; use a topic of its own"),
            ),
            (None, OnFailure::DeadLetter) => push(
                at("on_failure"),
                "\"dead-letter\" needs a `dead_letter_topic`".into(),
            ),
            _ => {}
        }
        for (j, e) in g.emit.iter().enumerate() {
            // `groups[i].emit[j].FIELD...`
            let field = |names: &[&str]| {
                let mut path = vec![key("groups"), Step::Index(i), key("emit"), Step::Index(j)];
                path.extend(names.iter().map(|n| key(n)));
                path
            };
            // An `on` no producer or rule makes would never fire: a
            // compensation that silently never runs.
            if let Some(t) = &e.on
                && !self.event_types().contains(t)
            {
                push(
                    field(&["on"]),
                    format!(
                        "unknown event type `{t}`: no producer or emit rule makes it; known: {}",
                        quoted(self.event_types())
                    ),
                );
            }
            if let Some(f) = &e.failure {
                if !(0.0..=1.0).contains(&f.probability) {
                    push(
                        field(&["failure", "probability"]),
                        format!("expected a probability in 0..=1, not {}", f.probability),
                    );
                }
                if f.event_type.trim().is_empty() || f.event_type == e.event_type {
                    push(
                        field(&["failure", "event_type"]),
                        format!(
                            "expected the failure's own event type, not `{}`: other groups react to it",
                            f.event_type
                        ),
                    );
                }
            }
            if !topic_known(&e.topic) {
                push(
                    field(&["topic"]),
                    format!(
                        "unknown topic `{}`; defined topics: {}",
                        e.topic,
                        list(topics)
                    ),
                );
            }
        }
    }

    /// Simulated time at which producers stop by default.
    pub fn duration_ns(&self) -> u64 {
        self.scenario.duration.ns()
    }
}

/// A producer's records: tombstones and the buffer that holds them.
fn record_problems(p: &Producer, push: &mut dyn FnMut(&str, String)) {
    if !(0.0..=1.0).contains(&p.tombstones) {
        push("tombstones", "expected a fraction between 0 and 1".into());
    }
    if p.buffer_memory == 0 {
        push("buffer_memory", "expected at least 1 byte".into());
    }
}

fn client_problems(c: &ProducerClient, push: &mut dyn FnMut(&str, String)) {
    if c.max_in_flight == 0 {
        push("max_in_flight", "expected at least 1".into());
    }
    if c.batch_size == 0 {
        push("batch_size", "expected at least 1 byte".into());
    }
    if c.request_timeout.ns() == 0 {
        push(
            "request_timeout",
            "expected a duration greater than zero".into(),
        );
    }
    if let Some(t) = c.transactions {
        if !c.idempotent {
            push("idempotent", "a transactional producer is idempotent (Kafka requires enable.idempotence with a transactional.id)".into());
        }
        for (field, d) in [
            ("transaction_interval", t.interval),
            ("transaction_timeout", t.timeout),
        ] {
            if d.ns() == 0 {
                push(field, "expected a duration greater than zero".into());
            }
        }
    }
    if c.idempotent {
        if c.acks != Acks::All {
            push("acks", "an idempotent producer (the default) needs acks = \"all\", as in Kafka; set `idempotent = false` to use acks 0 or 1".into());
        } else if c.max_in_flight > 5 {
            push(
                "max_in_flight",
                "an idempotent producer allows at most 5 requests in flight (as in Kafka)".into(),
            );
        }
    }
}

/// `names` in back quotes, comma-separated (so a "did you mean" can read
/// them back from the message).
pub(crate) fn quoted<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn list(names: &BTreeSet<&str>) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
