//! `[[producers]]`: the workload (arrival, keys, payload) and the Kafka
//! producer client (acks, retries, idempotence, batching, transactions).

use super::{Dist, Duration, ProducerSchema, Scenario, Step, key, list};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

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
    /// Longest wait before a retry (`retry.backoff.max.ms`, Kafka 3.7+,
    /// KIP-580): the wait doubles from `retry_backoff` with each failed
    /// attempt up to this, with 20% jitter. Absent: Kafka's 1 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_backoff_max: Option<Duration>,
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

pub(super) fn default_transaction_interval() -> Duration {
    Duration::from_ms(100)
}
fn default_transaction_timeout() -> Duration {
    Duration::from_secs(60)
}
pub(super) fn default_group_transaction_timeout() -> Duration {
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
    /// Wait before a failed request is retried (`retry.backoff.ms`).
    pub retry_backoff: Duration,
    /// Longest wait before a retry (`retry.backoff.max.ms`, Kafka 3.7+).
    pub retry_backoff_max: Duration,
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
            retry_backoff_max: self
                .retry_backoff_max
                .unwrap_or_else(default_retry_backoff_max),
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
            retry_backoff_max: default_retry_backoff_max(),
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
pub(super) fn default_keys() -> Keys {
    Keys::Uniform { n: 1000 }
}
pub(super) fn default_key_prefix() -> String {
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
/// Kafka's `retry.backoff.max.ms` default (KIP-580).
fn default_retry_backoff_max() -> Duration {
    Duration::from_ms(1000)
}
fn default_retry_backoff() -> Duration {
    Duration::from_ms(100)
}
pub(super) fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_delivery_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_max_in_flight() -> u32 {
    5
}
pub(super) fn default_true() -> bool {
    true
}
pub(super) fn is_true(b: &bool) -> bool {
    *b
}
fn default_batch_size() -> u64 {
    16_384
}

impl Scenario {
    /// What is wrong with one `[[producers]]` entry (its name is checked by
    /// the caller, with every node's).
    pub(super) fn producer_problems(
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
        self.version_problems(p, &mut |f, m| push(at(f), m));
    }

    /// Producer settings that the scenario's Kafka version does not have.
    fn version_problems(&self, p: &Producer, push: &mut dyn FnMut(&str, String)) {
        if p.retry_backoff_max.is_some() && !self.cluster.kip580() {
            push(
                "retry_backoff_max",
                format!(
                    "`retry.backoff.max.ms` came with Kafka 3.7 (KIP-580); with [cluster] version \"{}\" a producer waits a constant `retry_backoff` between retries",
                    self.cluster.version.as_deref().unwrap_or_default()
                ),
            );
        }
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
