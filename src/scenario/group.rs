//! `[[groups]]`: consumer groups, the service each runs (processing,
//! commit mode, idempotency, effect) and what it emits.

use super::cluster::one;
use super::producer::{
    default_group_transaction_timeout, default_request_timeout, default_transaction_interval,
    default_true, is_true,
};
use super::{
    Dist, Duration, GroupSchema, NODE_CLASSES, SagaSpec, Scenario, Step, key, list, quoted,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

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

impl Scenario {
    /// What is wrong with one `[[groups]]` entry (its name is checked by the caller).
    pub(super) fn group_problems(
        &self,
        i: usize,
        g: &Group,
        topics: &BTreeSet<&str>,
        push: &mut dyn FnMut(Vec<Step>, String),
    ) {
        let at = |f: &str| vec![key("groups"), Step::Index(i), key(f)];
        let topic_known = |name: &str| topics.contains(name);
        let by_type = |t: &str| {
            vec![
                key("groups"),
                Step::Index(i),
                key("processing_by_type"),
                key(t),
            ]
        };
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
                push(by_type(t), msg);
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
                    by_type(t),
                    format!(
                        "unknown event type `{t}`; known: {}",
                        quoted(self.event_types())
                    ),
                );
            }
        }
        self.group_commit_problems(i, g, push);
        self.dead_letter_problems(i, g, topics, push);
        self.group_emit_problems(i, g, topics, push);
    }

    /// One group's timeouts, transactions, effect, heartbeat and name.
    fn group_commit_problems(&self, i: usize, g: &Group, push: &mut dyn FnMut(Vec<Step>, String)) {
        let at = |f: &str| vec![key("groups"), Step::Index(i), key(f)];
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
    }

    /// One group's dead-letter topic.
    fn dead_letter_problems(
        &self,
        i: usize,
        g: &Group,
        topics: &BTreeSet<&str>,
        push: &mut dyn FnMut(Vec<Step>, String),
    ) {
        let at = |f: &str| vec![key("groups"), Step::Index(i), key(f)];
        let topic_known = |name: &str| topics.contains(name);
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
    }

    /// One group's emit rules.
    fn group_emit_problems(
        &self,
        i: usize,
        g: &Group,
        topics: &BTreeSet<&str>,
        push: &mut dyn FnMut(Vec<Step>, String),
    ) {
        let topic_known = |name: &str| topics.contains(name);
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
}
