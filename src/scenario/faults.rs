//! The `[[faults]]` schedule and the `[faults.random]` generator of a
//! scenario file, with their validation.
//!
//! `faults` is written either as an array of tables (only a schedule):
//!
//! ```toml
//! [[faults]]
//! kind = "crash"
//! target = "broker-1"
//! at = "20s"
//! restart_after = "10s"
//! ```
//!
//! or as a table with a `schedule` array and a `random` generator
//! (`[[faults.schedule]]`, `[faults.random]`, `[[faults.random.kinds]]`).

use super::units::{Dist, Duration};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// What goes wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// A node stops and loses its in-memory state; it restarts after
    /// `restart_after` (or never).
    Crash,
    /// A node makes no progress for `duration` (stop-the-world GC).
    Pause,
    /// Messages between two sides of nodes are dropped for `duration`.
    Partition,
    /// A link's latency grows by `latency` for `duration`.
    LatencySpike,
    /// A broker's appends take `factor` times longer for `duration`.
    SlowDisk,
    /// A link delivers messages twice with `probability`, for `duration`.
    Duplicate,
    /// A link lets a message be overtaken with `probability`, for `duration`.
    Reorder,
    /// A group's handler fails with `probability`, for `duration`.
    HandlerErrors,
    /// Events with `key` and/or `event_type`, created from `at`, fail every time.
    Poison,
    /// A node, or several at once (a rack), loses power: it crashes and
    /// what its brokers had not written to disk is gone; it restarts after
    /// `restart_after` (or never).
    PowerLoss,
    /// A broker's log directory fails: the broker stops and every log it
    /// held is gone; after `restart_after` (the disk replaced) it starts
    /// empty and copies its replicas back from the leaders.
    DiskFailure,
    /// A producer's or a broker's clock is off by `skew` for `duration`
    /// (absent: to the end of the run): a producer stamps its records'
    /// CreateTime with it, a broker judges timestamps and retention by it.
    ClockSkew,
}

impl FaultKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [FaultKind; 12] = [
        FaultKind::Crash,
        FaultKind::Pause,
        FaultKind::Partition,
        FaultKind::LatencySpike,
        FaultKind::SlowDisk,
        FaultKind::Duplicate,
        FaultKind::Reorder,
        FaultKind::HandlerErrors,
        FaultKind::Poison,
        FaultKind::PowerLoss,
        FaultKind::DiskFailure,
        FaultKind::ClockSkew,
    ];

    /// The kind as scenario files write it (`crash`, `latency-spike`).
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Pause => "pause",
            FaultKind::Partition => "partition",
            FaultKind::LatencySpike => "latency-spike",
            FaultKind::SlowDisk => "slow-disk",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Reorder => "reorder",
            FaultKind::HandlerErrors => "handler-errors",
            FaultKind::Poison => "poison",
            FaultKind::PowerLoss => "power-loss",
            FaultKind::DiskFailure => "disk-failure",
            FaultKind::ClockSkew => "clock-skew",
        }
    }

    /// Kinds whose target is a link (two sides of nodes).
    pub fn on_links(self) -> bool {
        matches!(
            self,
            FaultKind::Partition
                | FaultKind::LatencySpike
                | FaultKind::Duplicate
                | FaultKind::Reorder
        )
    }
}

/// Where a fault strikes: a node, a link between two nodes, or the two
/// sides of a network partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "expected a node name such as \"broker-1\", two node names (a link) such as [\"order-service\", \"broker-0\"], or two lists of node names (the sides of a partition) such as [[\"broker-0\"], [\"rest\"]]"
)]
pub enum Target {
    /// One node (`"broker-1"`, `"billing/0"`) or a group or class name.
    Node(String),
    /// Two node names: the link between them (`["order-service", "broker-0"]`).
    Pair(Vec<String>),
    /// Two lists of node names: the sides of a network partition.
    Sides(Vec<Vec<String>>),
}

impl Target {
    /// The two sides of a link target, if it is one.
    pub fn sides(&self) -> Option<(Vec<String>, Vec<String>)> {
        match self {
            Target::Node(_) => None,
            Target::Pair(v) if v.len() == 2 => Some((vec![v[0].clone()], vec![v[1].clone()])),
            Target::Sides(v) if v.len() == 2 => Some((v[0].clone(), v[1].clone())),
            _ => None,
        }
    }
}

impl fmt::Display for Target {
    /// `broker-1`, `order-service<->broker-0`, `broker-0<->broker-1,broker-2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Node(n) => write!(f, "{n}"),
            Target::Pair(v) => write!(f, "{}", v.join("<->")),
            Target::Sides(v) => {
                let sides: Vec<String> = v.iter().map(|s| s.join(",")).collect();
                write!(f, "{}", sides.join("<->"))
            }
        }
    }
}

/// One scheduled fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// What happens (`crash`, `pause`, `partition`, ...).
    pub kind: FaultKind,
    /// When it fires (simulated time from the start of the run).
    #[serde(default)]
    pub at: Duration,
    /// The node, link, sides or group it strikes (poison: the group, or all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// How long it lasts (pause, partition, latency-spike, slow-disk,
    /// duplicate, reorder, handler-errors; poison: forever if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Duration>,
    /// Crash: when the node comes back (absent: it stays down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_after: Option<Duration>,
    /// Duplicate, reorder: per message; handler-errors: per processing attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Latency-spike: added latency; reorder: the most a message is held back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Duration>,
    /// Slow-disk: how many times slower appends are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    /// Poison: the key (as the scenario names keys, e.g. `order-17`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Poison: the event type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// Clock-skew: how far the node's clock is off (`"-8d"`, `"+2h"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skew: Option<super::Skew>,
}

impl Fault {
    /// A fault of `kind` at `at` on `target`, every other field unset.
    pub fn new(kind: FaultKind, at: Duration, target: Option<Target>) -> Fault {
        Fault {
            kind,
            at,
            target,
            duration: None,
            restart_after: None,
            probability: None,
            latency: None,
            factor: None,
            key: None,
            event_type: None,
            skew: None,
        }
    }

    /// How long the fault lasts once fired (`None`: to the end of the run).
    pub fn span(&self) -> Option<Duration> {
        match self.kind {
            FaultKind::Crash | FaultKind::PowerLoss | FaultKind::DiskFailure => self.restart_after,
            _ => self.duration,
        }
    }

    /// A stable name for the fault's own random stream and for reports.
    pub fn label(&self) -> String {
        let target = self
            .target
            .as_ref()
            .map_or(String::new(), |t| t.to_string());
        format!("{}/{}/{}", self.kind.as_str(), target, self.at.ns())
    }

    /// Kind-specific parameters as `name=value` pairs, for `faults.csv`.
    pub fn detail(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = self.probability {
            parts.push(format!("probability={p}"));
        }
        if let Some(l) = self.latency {
            parts.push(format!("latency={l}"));
        }
        if let Some(f) = self.factor {
            parts.push(format!("factor={f}"));
        }
        if let Some(k) = &self.key {
            parts.push(format!("key={k}"));
        }
        if let Some(t) = &self.event_type {
            parts.push(format!("event_type={t}"));
        }
        if let Some(k) = self.skew {
            parts.push(format!("skew={k}"));
        }
        parts.join(" ")
    }
}

/// `[faults.random]`: faults drawn at random, each kind from its own stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomFaults {
    /// Switch the generator off without deleting it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Window in which faults may fire (default: from 0 to the scenario's duration).
    #[serde(default)]
    pub start: Duration,
    /// End of the window (default: the scenario's duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Duration>,
    /// Brokers down (crashed or paused) at once, at most. Default: the
    /// smallest replication factor minus one, so never all replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_down_brokers: Option<u32>,
    /// Consumers of one group down at once, at most. Default: the group's
    /// consumers minus one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_down_consumers: Option<u32>,
    /// The kinds of fault drawn, each with its rate or chance.
    pub kinds: Vec<RandomFault>,
}

fn yes() -> bool {
    true
}

/// `[[faults.random.kinds]]`: one kind of fault and how often it strikes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RandomFault {
    /// What happens when it strikes.
    pub kind: FaultKind,
    /// Faults per simulated minute (a Poisson process over the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Or: the probability that the fault strikes once in the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chance: Option<f64>,
    /// Candidate targets: node names, group names, or `brokers`,
    /// `producers`, `consumers`. Link kinds strike the links between the
    /// drawn node and every broker.
    pub targets: Vec<String>,
    /// How long each fault lasts (for kinds that last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Dist<Duration>>,
    /// For `crash`: how long until the node restarts (absent: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_after: Option<Dist<Duration>>,
    /// For `duplicate`, `reorder`, `handler-errors`, `poison`: the share of records or events struck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// For `latency-spike`: the latency added to each message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Duration>,
    /// For `slow-disk`: how many times slower appends become.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
}

/// The `faults` section: a concrete schedule and an optional generator.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    /// The concrete faults, each at its time.
    pub schedule: Vec<Fault>,
    /// The random fault generator, if any.
    pub random: Option<RandomFaults>,
    /// Written as a table (`[[faults.schedule]]`) rather than `[[faults]]`.
    pub table_form: bool,
}

impl Faults {
    /// No fault scheduled and no generator.
    pub fn is_empty(&self) -> bool {
        self.schedule.is_empty() && self.random.is_none()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsTable {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    schedule: Vec<Fault>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    random: Option<RandomFaults>,
}

impl Serialize for Faults {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.random.is_none() && !self.table_form {
            self.schedule.serialize(s)
        } else {
            FaultsTable {
                schedule: self.schedule.clone(),
                random: self.random.clone(),
            }
            .serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for Faults {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Faults;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "`[[faults]]` entries, or a `[faults]` table with `schedule` and `random`",
                )
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Faults, A::Error> {
                let schedule =
                    Vec::<Fault>::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Faults {
                    schedule,
                    random: None,
                    table_form: false,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Faults, A::Error> {
                let t = FaultsTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Faults {
                    schedule: t.schedule,
                    random: t.random,
                    table_form: true,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A node of the simulated system, as fault targets name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeRef {
    /// Index among producers and then emitters, the order of
    /// [`Scenario::node_name`].
    Producer(u32),
    /// Broker index, from 0 (`broker-0`).
    Broker(u32),
    /// Group index and consumer index in the group.
    Consumer(u32, u32),
    /// Index in `[[services]]`.
    Service(u32),
    /// A dedicated KRaft controller, from 0 (`controller-0`).
    Controller(u32),
}

/// Words that stand for a set of nodes in fault targets.
pub const NODE_CLASSES: [&str; 6] = [
    "brokers",
    "producers",
    "consumers",
    "services",
    "controllers",
    "rest",
];

use super::{Scenario, Step, key};

impl Scenario {
    /// Producer-side node names in id order: scenario producers, then for
    /// each group its emitters (`GROUP->TOPIC`) and its dead-letter
    /// publisher (`GROUP->DLT-TOPIC`).
    pub fn client_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.producers.iter().map(|p| p.name.clone()).collect();
        for g in &self.groups {
            for e in &g.emit {
                names.push(format!("{}->{}", g.name, e.topic));
            }
            if let Some(t) = &g.dead_letter_topic {
                names.push(format!("{}->{}", g.name, t));
            }
            for t in self.saga_topics(g) {
                names.push(format!("{}->{}", g.name, t));
            }
        }
        names.extend(self.services.iter().filter_map(Scenario::service_emitter));
        names
    }

    /// The node a name designates: a producer or emitter name, `broker-N`,
    /// or `GROUP/I`.
    pub fn resolve_node(&self, name: &str) -> Option<NodeRef> {
        if let Some(i) = self.client_names().iter().position(|n| n == name) {
            return Some(NodeRef::Producer(i as u32));
        }
        if let Some(n) = name.strip_prefix("broker-") {
            let b: u32 = n.parse().ok()?;
            return (b < self.cluster.brokers && n == b.to_string()).then_some(NodeRef::Broker(b));
        }
        if let Some(n) = name.strip_prefix("controller-") {
            let c: u32 = n.parse().ok()?;
            return (c < self.cluster.controller_nodes() && n == c.to_string())
                .then_some(NodeRef::Controller(c));
        }
        if let Some(i) = self.services.iter().position(|s| s.name == name) {
            return Some(NodeRef::Service(i as u32));
        }
        let (g, i) = name.split_once('/')?;
        let gi = self.groups.iter().position(|x| x.name == g)?;
        let i: u32 = i.parse().ok()?;
        (i < self.groups[gi].consumers && i.to_string() == name[g.len() + 1..])
            .then_some(NodeRef::Consumer(gi as u32, i))
    }

    /// The nodes a name stands for: one node, a group's consumers, or a
    /// class (`brokers`, `producers`, `consumers`). `rest` is not expanded here.
    pub fn expand_nodes(&self, name: &str) -> Option<Vec<NodeRef>> {
        if let Some(n) = self.resolve_node(name) {
            return Some(vec![n]);
        }
        match name {
            "brokers" => Some((0..self.cluster.brokers).map(NodeRef::Broker).collect()),
            "controllers" => Some(self.voter_nodes()),
            "services" => Some(
                (0..self.services.len() as u32)
                    .map(NodeRef::Service)
                    .collect(),
            ),
            "producers" => Some(
                (0..self.producers.len() as u32)
                    .map(NodeRef::Producer)
                    .collect(),
            ),
            "consumers" => Some(
                self.groups
                    .iter()
                    .enumerate()
                    .flat_map(|(g, grp)| {
                        (0..grp.consumers).map(move |i| NodeRef::Consumer(g as u32, i))
                    })
                    .collect(),
            ),
            _ => {
                let g = self.groups.iter().position(|x| x.name == name)?;
                Some(
                    (0..self.groups[g].consumers)
                        .map(|i| NodeRef::Consumer(g as u32, i))
                        .collect(),
                )
            }
        }
    }

    /// Every node, in id order.
    pub fn all_nodes(&self) -> Vec<NodeRef> {
        let mut v: Vec<NodeRef> = (0..self.client_names().len() as u32)
            .map(NodeRef::Producer)
            .collect();
        v.extend((0..self.cluster.brokers).map(NodeRef::Broker));
        v.extend(self.expand_nodes("consumers").unwrap_or_default());
        v.extend((0..self.services.len() as u32).map(NodeRef::Service));
        v.extend((0..self.cluster.controller_nodes()).map(NodeRef::Controller));
        v
    }

    /// The metadata quorum's voters as nodes: the dedicated controllers,
    /// or in combined mode the first brokers.
    pub fn voter_nodes(&self) -> Vec<NodeRef> {
        match self.cluster.mode {
            super::ControllerMode::Dedicated => (0..self.cluster.voters())
                .map(NodeRef::Controller)
                .collect(),
            super::ControllerMode::Combined => {
                (0..self.cluster.voters()).map(NodeRef::Broker).collect()
            }
        }
    }

    /// The two sides of a link target, expanded (`rest` = every node not on
    /// the other side). Err names the first name that designates nothing.
    pub fn link_sides(&self, t: &Target) -> Result<(Vec<NodeRef>, Vec<NodeRef>), String> {
        let (a, b) = t.sides().ok_or_else(|| {
            "expected two sides: two node names such as [\"order-service\", \"broker-0\"] or two lists such as [[\"broker-0\"], [\"rest\"]]".to_string()
        })?;
        let expand = |side: &[String]| -> Result<Option<Vec<NodeRef>>, String> {
            if side.is_empty() {
                return Err("each side needs at least one node".into());
            }
            if side.iter().any(|n| n == "rest") {
                return if side.len() == 1 {
                    Ok(None)
                } else {
                    Err("`rest` stands alone on its side".into())
                };
            }
            let mut out = Vec::new();
            for n in side {
                out.extend(self.expand_nodes(n).ok_or_else(|| unknown_node(self, n))?);
            }
            out.sort();
            out.dedup();
            Ok(Some(out))
        };
        let (ea, eb) = (expand(&a)?, expand(&b)?);
        // Both sides are sorted (`all_nodes` is in `NodeRef` order), so a
        // membership test is a binary search: a side may hold a million
        // consumers.
        let rest_of = |other: &[NodeRef]| -> Vec<NodeRef> {
            debug_assert!(other.is_sorted());
            self.all_nodes()
                .into_iter()
                .filter(|n| other.binary_search(n).is_err())
                .collect()
        };
        let (sa, sb) = match (ea, eb) {
            (None, None) => return Err("only one side can be `rest`".into()),
            (Some(a), None) => {
                let r = rest_of(&a);
                (a, r)
            }
            (None, Some(b)) => (rest_of(&b), b),
            (Some(a), Some(b)) => (a, b),
        };
        if let Some(n) = sa.iter().find(|n| sb.binary_search(n).is_ok()) {
            return Err(format!("node `{}` is on both sides", self.node_name(*n)));
        }
        // A message crosses a broker, goes between two services or between
        // two servers (brokers and controllers): what kinds each side holds
        // decides whether any link joins them.
        let kinds = |side: &[NodeRef]| {
            let has = |f: fn(&NodeRef) -> bool| side.iter().any(f);
            (
                has(|n| matches!(n, NodeRef::Broker(_))),
                has(|n| matches!(n, NodeRef::Broker(_) | NodeRef::Controller(_))),
                has(|n| matches!(n, NodeRef::Service(_))),
            )
        };
        let ((broker_a, server_a, service_a), (broker_b, server_b, service_b)) =
            (kinds(&sa), kinds(&sb));
        let crosses_link = (broker_a && !sb.is_empty())
            || (broker_b && !sa.is_empty())
            || (server_a && server_b)
            || (service_a && service_b);
        if sb.is_empty() || !crosses_link {
            return Err("no link joins the two sides: every message crosses a broker, goes between two services or between controllers, so one side must hold a broker, or both a service, or both a controller".into());
        }
        Ok((sa, sb))
    }

    /// The name a node goes by in fault targets.
    pub fn node_name(&self, n: NodeRef) -> String {
        match n {
            NodeRef::Producer(i) => self.client_names()[i as usize].clone(),
            NodeRef::Broker(b) => format!("broker-{b}"),
            NodeRef::Consumer(g, i) => format!("{}/{}", self.groups[g as usize].name, i),
            NodeRef::Service(i) => self.services[i as usize].name.clone(),
            NodeRef::Controller(c) => format!("controller-{c}"),
        }
    }

    /// (key prefix, key count) of every producer, then of every front
    /// door's requests: the run's key space.
    pub fn key_ranges(&self) -> impl Iterator<Item = (&str, u64)> {
        let producers = self
            .producers
            .iter()
            .map(|p| (p.key_prefix.as_str(), p.keys.n()));
        let requests = self
            .services
            .iter()
            .filter_map(|s| s.requests.as_ref())
            .map(|r| (r.key_prefix.as_str(), r.keys.n()));
        producers.chain(requests)
    }

    /// Keys the producers use, as the scenario names them.
    fn key_known(&self, k: &str) -> bool {
        crate::history::KeySpace::new(self.key_ranges())
            .find(k)
            .is_some()
    }

    pub(super) fn fault_problems(&self, push: &mut dyn FnMut(Vec<Step>, String)) {
        let f = &self.faults;
        let root = |i: usize| -> Vec<Step> {
            if f.table_form {
                vec![key("faults"), key("schedule"), Step::Index(i)]
            } else {
                vec![key("faults"), Step::Index(i)]
            }
        };
        for (i, fault) in f.schedule.iter().enumerate() {
            let at = |field: &str| {
                let mut p = root(i);
                p.push(key(field));
                p
            };
            if fault.at.ns() > self.run_end_ns() {
                push(
                    at("at"),
                    format!(
                        "the run ends at {} (production, then `drain`), so a fault at {} would never fire",
                        Duration(self.run_end_ns()),
                        fault.at
                    ),
                );
            }
            let target_problem = self.target_problem(fault.kind, fault.target.as_ref());
            if let Some(m) = target_problem {
                push(
                    if fault.target.is_some() {
                        at("target")
                    } else {
                        root(i)
                    },
                    m,
                );
            }
            for (field, m) in param_problems(
                fault.kind,
                Params {
                    duration: fault.duration.map(|d| d.ns() > 0),
                    restart_after: fault.restart_after.is_some(),
                    probability: fault.probability,
                    latency: fault.latency.map(|d| d.ns()),
                    factor: fault.factor,
                    key: fault.key.is_some(),
                    event_type: fault.event_type.is_some(),
                    skew: fault.skew.is_some(),
                },
            ) {
                push(if field.is_empty() { root(i) } else { at(field) }, m);
            }
            if let Some(k) = &fault.key
                && !self.key_known(k)
            {
                push(
                    at("key"),
                    format!(
                        "no producer makes key `{k}` (keys are `key_prefix` + a number below `keys.n`)"
                    ),
                );
            }
            if let Some(t) = &fault.event_type
                && !self.event_types().contains(t)
            {
                push(
                    at("event_type"),
                    format!(
                        "unknown event type `{t}`; known: {}",
                        super::quoted(self.event_types())
                    ),
                );
            }
        }
        let Some(r) = &f.random else { return };
        let rp = |field: &str| vec![key("faults"), key("random"), key(field)];
        if r.stop.is_some_and(|s| s <= r.start) {
            push(rp("stop"), "expected `stop` after `start`".into());
        }
        if r.kinds.is_empty() {
            push(
                rp("kinds"),
                "expected at least one `[[faults.random.kinds]]`".into(),
            );
        }
        for (i, k) in r.kinds.iter().enumerate() {
            let at = |field: &str| {
                let mut p = vec![key("faults"), key("random"), key("kinds"), Step::Index(i)];
                if !field.is_empty() {
                    p.push(key(field));
                }
                p
            };
            match (k.rate, k.chance) {
                (Some(_), Some(_)) | (None, None) => push(
                    at(""),
                    "give exactly one of `rate` (faults per simulated minute) or `chance` (probability of one fault in the window)".into(),
                ),
                (Some(rate), None) if !(rate > 0.0 && rate.is_finite()) => {
                    push(at("rate"), "expected a positive rate per simulated minute".into())
                }
                (None, Some(c)) if !(c > 0.0 && c <= 1.0) => {
                    push(at("chance"), "expected a probability in (0, 1]".into())
                }
                _ => {}
            }
            if let Some(m) = not_drawn(k.kind) {
                push(at("kind"), m.into());
                continue;
            }
            if k.targets.is_empty() {
                push(at("targets"), "expected at least one target".into());
            }
            for (j, t) in k.targets.iter().enumerate() {
                let path = {
                    let mut p = at("targets");
                    p.push(Step::Index(j));
                    p
                };
                let Some(nodes) = self.expand_nodes(t) else {
                    push(path, unknown_node(self, t));
                    continue;
                };
                let ok = match k.kind {
                    FaultKind::SlowDisk | FaultKind::DiskFailure => {
                        nodes.iter().all(|n| matches!(n, NodeRef::Broker(_)))
                    }
                    FaultKind::HandlerErrors => self.groups.iter().any(|g| &g.name == t),
                    _ => true,
                };
                if !ok {
                    push(
                        path,
                        format!(
                            "kind = \"{}\" strikes {}",
                            k.kind.as_str(),
                            if matches!(k.kind, FaultKind::SlowDisk | FaultKind::DiskFailure) {
                                "brokers"
                            } else {
                                "groups (by group name)"
                            }
                        ),
                    );
                }
            }
            let dist_ok = |d: &Option<Dist<Duration>>| d.as_ref().map(|d| d.problem().is_none());
            for (field, d) in [
                ("duration", &k.duration),
                ("restart_after", &k.restart_after),
            ] {
                if let Some(m) = d.as_ref().and_then(|d| d.problem()) {
                    push(at(field), m);
                }
            }
            for (field, m) in param_problems(
                k.kind,
                Params {
                    duration: dist_ok(&k.duration),
                    restart_after: k.restart_after.is_some(),
                    probability: k.probability,
                    latency: k.latency.map(|d| d.ns()),
                    factor: k.factor,
                    key: false,
                    event_type: false,
                    skew: false,
                },
            ) {
                push(at(field), m);
            }
            if matches!(
                k.kind,
                FaultKind::Crash | FaultKind::PowerLoss | FaultKind::DiskFailure
            ) && k.restart_after.is_none()
            {
                push(at(""), "random crashes and power losses need `restart_after` (a duration or distribution), so that the system can heal".into());
            }
        }
    }

    /// Event types producers and services make.
    pub fn event_types(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .producers
            .iter()
            .map(|p| p.event_type.clone())
            .collect();
        for g in &self.groups {
            v.extend(g.emit.iter().map(|e| e.event_type.clone()));
            v.extend(
                g.emit
                    .iter()
                    .filter_map(|e| e.failure.as_ref().map(|f| f.event_type.clone())),
            );
        }
        v.extend(self.saga_event_types());
        for s in &self.services {
            v.extend(s.event_types().cloned());
        }
        v.sort();
        v.dedup();
        v
    }

    fn target_problem(&self, kind: FaultKind, target: Option<&Target>) -> Option<String> {
        let Some(target) = target else {
            return (kind != FaultKind::Poison)
                .then(|| format!("kind = \"{}\" needs a `target`", kind.as_str()));
        };
        match kind {
            FaultKind::Crash | FaultKind::Pause | FaultKind::SlowDisk | FaultKind::DiskFailure => {
                let Target::Node(name) = target else {
                    return Some(format!(
                        "kind = \"{}\" strikes one node: expected a node name such as \"broker-1\", \"order-service\" or \"payment/0\"",
                        kind.as_str()
                    ));
                };
                match self.resolve_node(name) {
                    None => Some(unknown_node(self, name)),
                    Some(NodeRef::Broker(_)) => None,
                    Some(_) if matches!(kind, FaultKind::SlowDisk | FaultKind::DiskFailure) => {
                        Some(format!(
                            "{} strikes a broker, and `{name}` is not one",
                            kind.as_str()
                        ))
                    }
                    Some(_) => None,
                }
            }
            FaultKind::ClockSkew => self.clock_target_problem(target),
            FaultKind::PowerLoss => self.power_loss_target_problem(target),
            FaultKind::HandlerErrors | FaultKind::Poison => match target {
                Target::Node(name) if self.groups.iter().any(|g| &g.name == name) => None,
                Target::Node(name) => Some(format!(
                    "unknown group `{name}`; kind = \"{}\" strikes a consumer group's handler; groups: {}",
                    kind.as_str(),
                    super::quoted(self.groups.iter().map(|g| g.name.as_str()))
                )),
                _ => Some("expected a group name".into()),
            },
            FaultKind::Partition
            | FaultKind::LatencySpike
            | FaultKind::Duplicate
            | FaultKind::Reorder => {
                if target.sides().is_none() {
                    let one = match target {
                        Target::Node(_) => true,
                        Target::Pair(v) => v.len() == 1,
                        Target::Sides(v) => v.len() == 1,
                    };
                    return Some(if one {
                        format!(
                            "a {} needs two sides, and this names one; to cut a node off from all others write [[\"NODE\"], [\"rest\"]]",
                            kind.as_str()
                        )
                    } else {
                        "expected exactly two sides".into()
                    });
                }
                self.link_sides(target).err()
            }
        }
    }
}

fn unknown_node(s: &Scenario, name: &str) -> String {
    // Each name in back quotes; a range's ends too (`broker-0`..`broker-5`),
    // which a "did you mean" does not take for names.
    let mut known: Vec<String> = s.client_names().iter().map(|n| format!("`{n}`")).collect();
    match s.cluster.brokers {
        0 => {}
        1 => known.push("`broker-0`".into()),
        n => known.push(format!("`broker-0`..`broker-{}`", n - 1)),
    }
    for g in &s.groups {
        known.push(match g.consumers {
            0 | 1 => format!("`{}/0`", g.name),
            n => format!("`{}/0`..`{}/{}`", g.name, g.name, n - 1),
        });
    }
    known.extend(s.services.iter().map(|sv| format!("`{}`", sv.name)));
    match s.cluster.controller_nodes() {
        0 => {}
        1 => known.push("`controller-0`".into()),
        n => known.push(format!("`controller-0`..`controller-{}`", n - 1)),
    }
    let mut message = format!("unknown node `{name}`; nodes are {}", known.join(", "));
    if name.starts_with("controller-") && s.cluster.controller_nodes() == 0 {
        message
            .push_str(" (in combined mode the controllers are brokers: `controllers` names them)");
    }
    message
}

/// Why a kind cannot be drawn by `[faults.random]`, if it cannot.
fn not_drawn(kind: FaultKind) -> Option<&'static str> {
    match kind {
        FaultKind::Poison => {
            Some("poison events are named, not drawn: schedule them in `[[faults.schedule]]`")
        }
        FaultKind::ClockSkew => {
            Some("a clock skew is given, not drawn: schedule it in `[[faults]]` with its `skew`")
        }
        _ => None,
    }
}

impl Scenario {
    /// A power loss strikes nodes: one, a class, or a list (a rack).
    fn power_loss_target_problem(&self, target: &Target) -> Option<String> {
        let names: Vec<&String> = match target {
            Target::Node(name) => vec![name],
            Target::Pair(v) if !v.is_empty() => v.iter().collect(),
            _ => {
                return Some(
                    "a power-loss strikes nodes: expected a node name such as \"broker-1\", a class such as \"brokers\", or a list of node names such as [\"broker-0\", \"broker-1\"]"
                        .into(),
                );
            }
        };
        names
            .into_iter()
            .find(|n| self.expand_nodes(n).is_none())
            .map(|n| unknown_node(self, n))
    }

    /// A clock-skew strikes one producer's or broker's clock.
    fn clock_target_problem(&self, target: &Target) -> Option<String> {
        let Target::Node(name) = target else {
            return Some("a clock-skew strikes one node's clock: expected a producer's name or a broker such as \"broker-1\"".into());
        };
        match self.resolve_node(name) {
            None => Some(unknown_node(self, name)),
            Some(NodeRef::Broker(_) | NodeRef::Producer(_)) => None,
            Some(_) => Some(format!(
                "a clock-skew strikes the clock of a producer (the CreateTime it stamps) or of a broker (how it judges timestamps and retention), and `{name}` is neither"
            )),
        }
    }
}

struct Params {
    /// Present, and whether positive.
    duration: Option<bool>,
    restart_after: bool,
    probability: Option<f64>,
    latency: Option<u64>,
    factor: Option<f64>,
    key: bool,
    event_type: bool,
    skew: bool,
}

/// A clock-skew needs its `skew`, and nothing else takes one.
fn skew_problem(kind: FaultKind, skew: bool) -> Option<(&'static str, String)> {
    match (kind, skew) {
        (FaultKind::ClockSkew, false) => Some((
            "",
            "a clock-skew needs a `skew` (how far the clock is off: \"-8d\" behind, \"+2h\" ahead)"
                .into(),
        )),
        (FaultKind::ClockSkew, _) | (_, false) => None,
        (_, true) => Some(("skew", "`skew` applies only to clock-skew".into())),
    }
}

/// Problems with the kind-specific fields of a fault: (field, message).
fn param_problems(kind: FaultKind, p: Params) -> Vec<(&'static str, String)> {
    use FaultKind::*;
    let mut out = Vec::new();
    let k = kind.as_str();
    let needs_duration = !matches!(kind, Crash | Poison | PowerLoss | DiskFailure | ClockSkew);
    match p.duration {
        None if needs_duration => out.push(("", format!("kind = \"{k}\" needs a `duration`"))),
        Some(_) if matches!(kind, Crash | PowerLoss | DiskFailure) => out.push((
            "duration",
            format!("a {k} lasts until `restart_after` (leave it out: the node stays down)"),
        )),
        Some(false) => out.push(("duration", "expected a duration greater than zero".into())),
        _ => {}
    }
    if p.restart_after && !matches!(kind, Crash | PowerLoss | DiskFailure) {
        out.push((
            "restart_after",
            format!(
                "`restart_after` applies only to crashes, power losses and disk failures, not to kind = \"{k}\""
            ),
        ));
    }
    match (kind, p.probability) {
        (Duplicate | Reorder | HandlerErrors, None) => {
            out.push(("", format!("kind = \"{k}\" needs a `probability`")))
        }
        (Duplicate | Reorder | HandlerErrors, Some(x)) if !(x > 0.0 && x <= 1.0) => {
            out.push(("probability", "expected a probability in (0, 1]".into()))
        }
        (Duplicate | Reorder | HandlerErrors, Some(_)) | (_, None) => {}
        (_, Some(_)) => out.push((
            "probability",
            format!("`probability` does not apply to kind = \"{k}\""),
        )),
    }
    match (kind, p.latency) {
        (LatencySpike, None) => out.push((
            "",
            "a latency-spike needs a `latency` (the added delay)".into(),
        )),
        (LatencySpike | Reorder, Some(0)) => {
            out.push(("latency", "expected a duration greater than zero".into()))
        }
        (LatencySpike | Reorder, _) | (_, None) => {}
        (_, Some(_)) => out.push((
            "latency",
            format!("`latency` does not apply to kind = \"{k}\""),
        )),
    }
    match (kind, p.factor) {
        (SlowDisk, None) => out.push((
            "",
            "a slow-disk needs a `factor` (how many times slower)".into(),
        )),
        (SlowDisk, Some(f)) if !(f >= 1.0 && f.is_finite()) => {
            out.push(("factor", "expected a factor of at least 1".into()))
        }
        (SlowDisk, _) | (_, None) => {}
        (_, Some(_)) => out.push((
            "factor",
            format!("`factor` does not apply to kind = \"{k}\""),
        )),
    }
    out.extend(skew_problem(kind, p.skew));
    poison_problems(kind, &p, &mut out);
    out
}

/// A poison fault needs a `key` or an `event_type`; nothing else takes one.
fn poison_problems(kind: FaultKind, p: &Params, out: &mut Vec<(&'static str, String)>) {
    if kind == FaultKind::Poison {
        if !p.key && !p.event_type {
            out.push((
                "",
                "a poison fault needs a `key`, an `event_type`, or both".into(),
            ));
        }
    } else {
        if p.key {
            out.push(("key", "`key` applies only to poison".into()));
        }
        if p.event_type {
            out.push(("event_type", "`event_type` applies only to poison".into()));
        }
    }
}
