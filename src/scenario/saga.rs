//! `[groups.saga]`: a group that orchestrates a saga, and its validation.
//!
//! ```toml
//! [groups.saga]
//! starts = "OrderPlaced"
//! reply_timeout = "5s"
//!
//! [[groups.saga.steps]]
//! topic = "payment-commands"
//! command = "ChargePayment"
//! success = "PaymentCharged"
//! failure = "PaymentDeclined"
//! compensation = "RefundPayment"
//! ```

use super::units::Duration;
use super::{CommitMode, Scenario, Step, key, quoted};
use serde::{Deserialize, Serialize};

/// The most steps a saga declares.
pub const MAX_STEPS: usize = 16;

/// `[groups.saga]`: the group's service orchestrates one saga per root
/// event of type `starts`: it sends each step's command in turn, waits for
/// its reply, and when a step fails (or its reply does not come within
/// `reply_timeout`) sends the compensations of the steps done, last first.
/// Its saga state lives in its own store: it survives the service's
/// crashes, and a reply the state has moved past is ignored (fenced).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SagaSpec {
    /// The root event type that starts a saga (one per root event).
    pub starts: String,
    /// How long the orchestrator waits for a step's reply before it
    /// compensates (the timed-out step included: it may have acted).
    #[serde(default = "default_reply_timeout")]
    pub reply_timeout: Duration,
    /// The steps, in order.
    pub steps: Vec<SagaStep>,
    /// The event the orchestrator emits when it gives a saga up (a failure
    /// reply or a timeout), after the compensations: e.g. `OrderCancelled`
    /// to the topic the front door reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<SagaEvent>,
}

/// `cancelled = { topic = "order-events", event_type = "OrderCancelled" }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SagaEvent {
    /// The topic it goes to.
    pub topic: String,
    /// Its event type (made by the orchestrator).
    pub event_type: String,
}

/// `[[groups.saga.steps]]`: one step of a saga.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SagaStep {
    /// The topic its command (and compensation) go to.
    pub topic: String,
    /// The command's event type, made by the orchestrator.
    pub command: String,
    /// The reply that says the step succeeded.
    pub success: String,
    /// The reply that says it failed by a business rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The command that undoes it, sent when a later step fails (absent:
    /// nothing to undo).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation: Option<String>,
    /// The reply that says the compensation is done (e.g.
    /// `PaymentRefunded`): the orchestrator waits for it before it undoes
    /// the step before. Absent: it sends the next compensation at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensated: Option<String>,
}

fn default_reply_timeout() -> Duration {
    Duration::from_secs(10)
}

impl Scenario {
    pub(super) fn saga_problems(&self, push: &mut dyn FnMut(Vec<Step>, String)) {
        let known = self.event_types();
        let topics: Vec<&str> = self.topics.iter().map(|t| t.name.as_str()).collect();
        for (i, g) in self.groups.iter().enumerate() {
            let Some(saga) = &g.saga else { continue };
            let at = |path: &[Step]| {
                let mut v = vec![key("groups"), Step::Index(i), key("saga")];
                v.extend_from_slice(path);
                v
            };
            if g.commit == CommitMode::InTransaction {
                push(
                    vec![key("groups"), Step::Index(i), key("commit")],
                    "a saga's state lives in its own store, outside Kafka's transactions: expected `atomic-with-effect`, `after-process`, `before-process` or `auto`".into(),
                );
            }
            let made_by_producer = self.producers.iter().any(|p| p.event_type == saga.starts);
            if !made_by_producer {
                push(
                    at(&[key("starts")]),
                    format!(
                        "`{}` is not made by a producer: a saga starts at a root event a producer makes",
                        saga.starts
                    ),
                );
            }
            if saga.steps.is_empty() || saga.steps.len() > MAX_STEPS {
                push(
                    at(&[key("steps")]),
                    format!("expected 1 to {MAX_STEPS} steps"),
                );
            }
            if saga.reply_timeout.ns() == 0 {
                push(
                    at(&[key("reply_timeout")]),
                    "expected a duration greater than zero".into(),
                );
            }
            if let Some(c) = &saga.cancelled
                && !topics.contains(&c.topic.as_str())
            {
                push(
                    at(&[key("cancelled"), key("topic")]),
                    format!("unknown topic `{}`; topics: {}", c.topic, quoted(&topics)),
                );
            }
            for (j, st) in saga.steps.iter().enumerate() {
                let here = |f: &str| at(&[key("steps"), Step::Index(j), key(f)]);
                if !topics.contains(&st.topic.as_str()) {
                    push(
                        here("topic"),
                        format!("unknown topic `{}`; topics: {}", st.topic, quoted(&topics)),
                    );
                }
                if st.compensated.is_some() && st.compensation.is_none() {
                    push(
                        here("compensated"),
                        "a compensation's reply needs the step's `compensation` command".into(),
                    );
                }
                for (field, t) in [
                    ("success", Some(&st.success)),
                    ("failure", st.failure.as_ref()),
                    ("compensated", st.compensated.as_ref()),
                ] {
                    if let Some(t) = t
                        && !known.contains(t)
                    {
                        push(
                            here(field),
                            format!(
                                "unknown event type `{t}`: no producer or emit rule makes it; known: {}",
                                quoted(&known)
                            ),
                        );
                    }
                }
                if st.failure.as_ref() == Some(&st.success) {
                    push(
                        here("failure"),
                        "a step's failure reply must differ from its success reply".into(),
                    );
                }
            }
        }
    }

    /// Event types the sagas' orchestrators make: their commands and
    /// compensations.
    pub(super) fn saga_event_types(&self) -> Vec<String> {
        let mut v = Vec::new();
        for g in &self.groups {
            for st in g.saga.iter().flat_map(|s| &s.steps) {
                v.push(st.command.clone());
                v.extend(st.compensation.iter().cloned());
            }
            v.extend(
                g.saga
                    .iter()
                    .flat_map(|s| &s.cancelled)
                    .map(|c| c.event_type.clone()),
            );
        }
        v
    }

    /// The topics a group's saga sends to, each once, in step order.
    pub fn saga_topics(&self, g: &super::Group) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        let steps = g.saga.iter().flat_map(|s| &s.steps).map(|st| &st.topic);
        let cancelled = g.saga.iter().flat_map(|s| &s.cancelled).map(|c| &c.topic);
        for t in steps.chain(cancelled) {
            if !v.contains(t) {
                v.push(t.clone());
            }
        }
        v
    }
}
