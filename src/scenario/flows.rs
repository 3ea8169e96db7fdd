//! `[[flows]]`: the business flows a scenario follows across services, and
//! their validation.
//!
//! ```toml
//! [[flows]]
//! name = "order"
//! starts = "OrderPlaced"          # the root event's type
//! completes = ["Shipped"]         # acknowledged: the flow completed
//! fails = ["PaymentDeclined"]     # acknowledged: it must be compensated
//! within = "30s"                  # from the root's creation to its end
//!
//! [[flows.holds]]
//! name = "stock"
//! take = "StockReserved"
//! release = "StockReleased"
//! ```

use super::units::Duration;
use super::{Scenario, Step, key, quoted};
use crate::flows::MAX_HOLDS;
use serde::{Deserialize, Serialize};

/// `[[flows]]`: one business flow (a saga), followed by the
/// `saga-atomicity` and `held-resources` checkers and reported in
/// `summary.json`'s `flows`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowSpec {
    /// The flow's name.
    pub name: String,
    /// The type of the root events that start a flow each (made by a
    /// producer: the front door).
    pub starts: String,
    /// Event types that complete the flow when one of its chain is
    /// acknowledged.
    pub completes: Vec<String>,
    /// Event types that say it failed by a business rule (then whatever it
    /// holds must be released).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fails: Vec<String>,
    /// How long from its root event's creation a flow may take to complete
    /// or be compensated (default: the checks' `convergence_deadline`, else
    /// the scenario's `drain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Duration>,
    /// Resources the flow takes and must give back if it fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<HoldSpec>,
}

/// `[[flows.holds]]`: a resource a flow takes (stock reserved, a seat
/// held, money authorised) and releases when it is compensated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldSpec {
    /// The resource's name (`stock`).
    pub name: String,
    /// The event type that takes it.
    pub take: String,
    /// The event type that releases it.
    pub release: String,
}

impl Scenario {
    /// How long a flow may take: its `within`, else the convergence
    /// deadline, else the drain.
    pub fn flow_within(&self, f: &FlowSpec) -> Duration {
        f.within
            .or(self.checks.convergence_deadline)
            .unwrap_or(self.scenario.drain)
    }

    pub(super) fn flow_problems(&self, push: &mut dyn FnMut(Vec<Step>, String)) {
        let known = self.event_types();
        let roots: Vec<String> = {
            let mut v: Vec<String> = self
                .producers
                .iter()
                .map(|p| p.event_type.clone())
                .collect();
            v.extend(
                self.services
                    .iter()
                    .filter_map(|s| s.requests.as_ref())
                    .map(|r| r.event_type.clone()),
            );
            v.sort();
            v.dedup();
            v
        };
        for (i, f) in self.flows.iter().enumerate() {
            let at = |path: &[Step]| {
                let mut v = vec![key("flows"), Step::Index(i)];
                v.extend_from_slice(path);
                v
            };
            if f.name.trim().is_empty() {
                push(at(&[key("name")]), "expected a non-empty name".into());
            } else if self.flows[..i].iter().any(|o| o.name == f.name) {
                push(
                    at(&[key("name")]),
                    format!("a second flow named `{}`; flow names are unique", f.name),
                );
            }
            if !roots.contains(&f.starts) {
                push(
                    at(&[key("starts")]),
                    format!(
                        "`{}` is not made by a producer or a front door: a flow starts at a root event a producer (or a service's `requests`) makes; they make: {}",
                        f.starts,
                        quoted(&roots)
                    ),
                );
            }
            if f.completes.is_empty() {
                push(
                    at(&[key("completes")]),
                    "expected at least one event type that completes the flow".into(),
                );
            }
            let step = |t: &str| {
                if !known.iter().any(|k| k == t) {
                    Some(format!(
                        "unknown event type `{t}`: no producer, emit rule or service makes it; known: {}",
                        quoted(&known)
                    ))
                } else if t == f.starts {
                    Some(format!(
                        "`{t}` starts the flow; a step of it must be another event type"
                    ))
                } else {
                    None
                }
            };
            for (field, list) in [("completes", &f.completes), ("fails", &f.fails)] {
                for (j, t) in list.iter().enumerate() {
                    if let Some(m) = step(t) {
                        push(at(&[key(field), Step::Index(j)]), m);
                    }
                }
            }
            for (j, t) in f.fails.iter().enumerate() {
                if f.completes.contains(t) {
                    push(
                        at(&[key("fails"), Step::Index(j)]),
                        format!(
                            "`{t}` is also in `completes`: an event cannot both complete and fail the flow"
                        ),
                    );
                }
            }
            if f.holds.len() > MAX_HOLDS {
                push(
                    at(&[key("holds")]),
                    format!(
                        "{} resources; a flow holds at most {MAX_HOLDS}",
                        f.holds.len()
                    ),
                );
            }
            for (j, h) in f.holds.iter().enumerate() {
                for (field, t) in [("take", &h.take), ("release", &h.release)] {
                    if let Some(m) = step(t) {
                        push(at(&[key("holds"), Step::Index(j), key(field)]), m);
                    }
                }
                if h.take == h.release {
                    push(
                        at(&[key("holds"), Step::Index(j), key("release")]),
                        format!(
                            "`{}` both takes and releases `{}`; the release must be another event type",
                            h.release, h.name
                        ),
                    );
                }
                if f.holds[..j].iter().any(|o| o.name == h.name) {
                    push(
                        at(&[key("holds"), Step::Index(j), key("name")]),
                        format!("a second resource named `{}` in this flow", h.name),
                    );
                }
            }
            if self.flow_within(f).ns() == 0 {
                push(
                    at(&[key("within")]),
                    "expected a duration greater than zero".into(),
                );
            }
        }
    }
}
