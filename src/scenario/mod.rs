//! The scenario file format: typed structures with their defaults, parsing,
//! validation and error messages that point into the file.
//!
//! This module knows nothing of the simulation; `model` builds a world from
//! a validated [`Scenario`]. Field names follow Kafka's configuration
//! vocabulary (`acks`, `min_insync_replicas`, `auto_offset_reset`, ...). The
//! format is documented field by field in `docs/scenario-format.md`.

mod checkers;
mod cluster;
mod error;
pub mod faults;
pub mod flows;
pub(crate) mod footprint;
mod group;
pub mod names;
pub mod objectives;
mod producer;
mod read;
pub mod saga;
pub mod schema;
pub mod services;
pub(crate) mod suggest;
pub mod units;
mod validate;

pub use cluster::{
    CleanupPolicy, Cluster, ControllerMode, KAFKA_VERSIONS, MAX_VOTERS, TimestampType, Topic,
};
pub use error::{Diagnostic, ScenarioError, Step, render_path, short_quotes};
pub use faults::{
    Fault, FaultKind, Faults, NODE_CLASSES, NodeRef, RandomFault, RandomFaults, Target,
};
pub use flows::{FlowSpec, HoldSpec};
pub use group::{
    Assignment, CommitMode, ConsumerClient, Effect, Emit, EmitFailure, EmitMode, Group,
    Idempotency, Isolation, OffsetReset, OnFailure,
};
pub use objectives::{Bound, LatencyKind, Objective};
pub use producer::{Acks, Arrival, Keys, Partitioner, Producer, ProducerClient, Transactions};
pub use saga::{SagaEvent, SagaSpec, SagaStep};
pub use schema::{Compatibility, GroupSchema, ProducerSchema};
pub use services::{Breaker, CallSpec, Requests, ServiceEmit, ServiceSpec};
pub use units::{Dist, DistSpec, Duration, Skew};

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

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

/// A problem found by validation, located by field path.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// Where: the field's path.
    pub path: Vec<Step>,
    /// What is wrong, and what was expected.
    pub message: String,
}

/// A name fault targets use for something else: a node class (`brokers`,
/// ...) or a broker (`broker-0`).
fn reserved(name: &str) -> bool {
    NODE_CLASSES.contains(&name) || name.starts_with("broker-") || name.starts_with("controller-")
}

fn key(k: &str) -> Step {
    Step::Key(k.to_string())
}

impl Scenario {
    /// Simulated time at which producers stop by default.
    pub fn duration_ns(&self) -> u64 {
        self.scenario.duration.ns()
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
