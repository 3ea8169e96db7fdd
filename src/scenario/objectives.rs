//! `[checks]`'s validation, and `[[checks.objectives]]`: what a design must meet (a latency
//! percentile, a maximum lag, a minimum throughput), judged by the
//! `objectives` checker after the run, and their validation.
//!
//! ```toml
//! [[checks.objectives]]
//! latency = "end-to-end"     # produce-ack, end-to-end, from-origin or flow
//! group = "profile"          # default: every group, each on its own
//! percentile = 99            # default 99
//! bound = "50ms"
//!
//! [[checks.objectives]]
//! max_lag = 5000             # events behind, at any time
//! group = "profile"
//!
//! [[checks.objectives]]
//! min_throughput = 900       # events applied per second
//! group = "profile"
//! ```

use super::units::Duration;
use super::{CHECKERS, Scenario, Step, key, quoted};
use serde::{Deserialize, Serialize};

/// A latency stream an objective bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LatencyKind {
    /// A record's creation to its acknowledgement, per producer (or all).
    ProduceAck,
    /// A record's creation to its application by a group.
    EndToEnd,
    /// The creation of the event that started its causal chain to the
    /// application by a group.
    FromOrigin,
    /// A flow's root event to its completion.
    Flow,
}

impl LatencyKind {
    /// As the scenario file writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            LatencyKind::ProduceAck => "produce-ack",
            LatencyKind::EndToEnd => "end-to-end",
            LatencyKind::FromOrigin => "from-origin",
            LatencyKind::Flow => "flow",
        }
    }
}

/// The percentiles a flow's completion figures keep.
pub const FLOW_PERCENTILES: [f64; 4] = [50.0, 90.0, 99.0, 99.9];

/// `[[checks.objectives]]`: one objective. Exactly one of `latency`,
/// `max_lag` and `min_throughput` says what it bounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    /// A latency stream whose `percentile` must stay within `bound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyKind>,
    /// The percentile of `latency` (0 < p <= 100; default 99).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile: Option<f64>,
    /// The bound on `latency`'s percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<Duration>,
    /// The most events a group may be behind (its lag), at any time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lag: Option<u64>,
    /// The fewest events per second a group must apply (from its first
    /// application to its last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_throughput: Option<f64>,
    /// The group (`end-to-end`, `from-origin`, `max_lag`,
    /// `min_throughput`); default: every group, each on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The producer (`produce-ack`); default: every producer together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<String>,
    /// The flow (`flow`; required there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
}

/// What an objective bounds, once validated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    /// A latency percentile at most so many ns.
    Latency {
        /// The stream.
        kind: LatencyKind,
        /// The percentile (0 < p <= 100).
        percentile: f64,
        /// The bound (ns).
        bound_ns: u64,
    },
    /// A lag of at most so many events.
    MaxLag(u64),
    /// At least so many events per second.
    MinThroughput(f64),
}

impl Objective {
    /// What it bounds; `None` for an objective validation refuses.
    pub fn bound(&self) -> Option<Bound> {
        match (self.latency, self.max_lag, self.min_throughput) {
            (Some(kind), None, None) => Some(Bound::Latency {
                kind,
                percentile: self.percentile.unwrap_or(99.0),
                bound_ns: self.bound?.ns(),
            }),
            (None, Some(n), None) => Some(Bound::MaxLag(n)),
            (None, None, Some(r)) => Some(Bound::MinThroughput(r)),
            _ => None,
        }
    }
}

/// A percentile as people write it: `99`, `99.9`.
pub fn percentile_text(p: f64) -> String {
    format!("p{}", (p * 1000.0).round() / 1000.0)
}

impl Scenario {
    /// Problems with `[checks]`: the checkers it names and its objectives.
    pub(super) fn checks_problems(&self, push: &mut dyn FnMut(Vec<Step>, String)) {
        for (field, names) in [
            ("run", self.checks.run.clone().unwrap_or_default()),
            ("skip", self.checks.skip.clone()),
        ] {
            for (j, n) in names.iter().enumerate() {
                if !CHECKERS.contains(&n.as_str()) {
                    push(
                        vec![key("checks"), key(field), Step::Index(j)],
                        format!("unknown checker `{n}`; checkers: {}", quoted(CHECKERS)),
                    );
                }
            }
        }
        self.objective_problems(push);
    }

    /// Problems with `[[checks.objectives]]`.
    fn objective_problems(&self, push: &mut dyn FnMut(Vec<Step>, String)) {
        for (i, o) in self.checks.objectives.iter().enumerate() {
            let at =
                |field: &str| vec![key("checks"), key("objectives"), Step::Index(i), key(field)];
            let what = [
                o.latency.is_some(),
                o.max_lag.is_some(),
                o.min_throughput.is_some(),
            ];
            if what.iter().filter(|&&x| x).count() != 1 {
                push(
                    vec![key("checks"), key("objectives"), Step::Index(i)],
                    "expected exactly one of `latency`, `max_lag` and `min_throughput`".into(),
                );
                continue;
            }
            self.objective_scope_problems(o, &at, push);
            if o.latency.is_none() {
                for (field, set) in [
                    ("percentile", o.percentile.is_some()),
                    ("bound", o.bound.is_some()),
                ] {
                    if set {
                        push(at(field), format!("`{field}` goes with `latency` only"));
                    }
                }
            }
            if let Some(kind) = o.latency {
                latency_problems(o, kind, &at, push);
            }
            if o.max_lag == Some(0) {
                push(
                    at("max_lag"),
                    "expected a number of events, at least 1".into(),
                );
            }
            if o.min_throughput
                .is_some_and(|r| !(r.is_finite() && r > 0.0))
            {
                push(
                    at("min_throughput"),
                    "expected events per second, more than 0".into(),
                );
            }
        }
    }

    /// `group`, `producer` and `flow`: named where they apply, and known.
    fn objective_scope_problems(
        &self,
        o: &Objective,
        at: &dyn Fn(&str) -> Vec<Step>,
        push: &mut dyn FnMut(Vec<Step>, String),
    ) {
        let kind = o.latency;
        let takes_group = !matches!(kind, Some(LatencyKind::ProduceAck | LatencyKind::Flow));
        let takes_producer = kind == Some(LatencyKind::ProduceAck);
        let takes_flow = kind == Some(LatencyKind::Flow);
        let groups: Vec<&str> = self.groups.iter().map(|g| g.name.as_str()).collect();
        let producers: Vec<&str> = self.producers.iter().map(|p| p.name.as_str()).collect();
        let flows: Vec<&str> = self.flows.iter().map(|f| f.name.as_str()).collect();
        for (field, value, takes, known, noun) in [
            ("group", &o.group, takes_group, &groups, "groups"),
            (
                "producer",
                &o.producer,
                takes_producer,
                &producers,
                "producers",
            ),
            ("flow", &o.flow, takes_flow, &flows, "flows"),
        ] {
            match value {
                Some(_) if !takes => push(
                    at(field),
                    format!(
                        "`{field}` does not apply to this objective: {}",
                        applies(field)
                    ),
                ),
                Some(name) if !known.contains(&name.as_str()) => push(
                    at(field),
                    format!("unknown {field} `{name}`; {noun}: {}", quoted(known.iter())),
                ),
                _ => {}
            }
        }
        if takes_flow && o.flow.is_none() {
            push(
                at("flow"),
                "expected the flow whose completion it bounds".into(),
            );
        }
    }
}

/// Where a scope field applies, for an error.
fn applies(field: &str) -> &'static str {
    match field {
        "group" => {
            "it names the group of `end-to-end`, `from-origin`, `max_lag` and `min_throughput`"
        }
        "producer" => "it names the producer of `latency = \"produce-ack\"`",
        _ => "it names the flow of `latency = \"flow\"`",
    }
}

/// `percentile` and `bound` of a latency objective.
fn latency_problems(
    o: &Objective,
    kind: LatencyKind,
    at: &dyn Fn(&str) -> Vec<Step>,
    push: &mut dyn FnMut(Vec<Step>, String),
) {
    if let Some(p) = o.percentile {
        if !(p > 0.0 && p <= 100.0) {
            push(
                at("percentile"),
                format!("expected a percentile above 0 and at most 100, not {p}"),
            );
        } else if kind == LatencyKind::Flow && !FLOW_PERCENTILES.contains(&p) {
            push(
                at("percentile"),
                "a flow's completion keeps the percentiles 50, 90, 99 and 99.9".into(),
            );
        }
    }
    match o.bound {
        None => push(
            at("bound"),
            "expected the latency bound, a duration (`50ms`)".into(),
        ),
        Some(b) if b.ns() == 0 => push(at("bound"), "expected a duration greater than zero".into()),
        _ => {}
    }
}
