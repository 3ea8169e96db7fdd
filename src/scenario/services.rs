//! `[[services]]`: services that call each other synchronously
//! (request/response over the network), and their validation.
//!
//! ```toml
//! [[services]]
//! name = "order"
//! workers = 16
//! requests = { rate = 100, event_type = "OrderPlaced", key_prefix = "order-", timeout = "3s" }
//!
//! [[services.calls]]
//! service = "payment"
//! timeout = "500ms"
//! retries = 2
//! breaker = { failures = 5, open = "10s" }
//!
//! [[services]]
//! name = "payment"
//! success = "PaymentCharged"
//! failure = { probability = 0.05, event_type = "PaymentDeclined" }
//! compensation = "PaymentRefunded"
//! ```

use super::units::{Dist, Duration};
use super::{EmitFailure, Keys, Scenario, Step, key, quoted};
use serde::{Deserialize, Serialize};

/// The most calls one service makes per request.
pub const MAX_CALLS: usize = 16;

/// `[[services]]`: a service that handles requests with a pool of workers.
///
/// A request waits in the service's queue for a free worker (a full queue
/// refuses it at once, as an overloaded server answers 503); the worker
/// processes it (`processing`), decides its business outcome (`failure`),
/// then makes the service's `calls` one after the other, holding the
/// worker while it waits for each reply (thread-per-request). When every
/// call succeeded the service records its `success` effect and answers;
/// when a call fails, it undoes the calls that had succeeded, last first
/// (each callee's `compensation`), and answers with the failure. A crash
/// loses the requests in its hands; its store of effects survives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// The service's name (a node name for faults and the report).
    pub name: String,
    /// Requests handled at once; the others wait in the queue.
    #[serde(default = "default_workers")]
    pub workers: u32,
    /// Requests that may wait for a worker; one more is refused.
    #[serde(default = "default_queue")]
    pub queue: u32,
    /// A worker's own time per request (before its calls).
    #[serde(default = "default_service_processing")]
    pub processing: Dist<Duration>,
    /// Requests from outside: the service is the front door.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<Requests>,
    /// The effect the service records when a request succeeds (e.g.
    /// `PaymentCharged`): a step of the flows that name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<String>,
    /// The business rule's failure: that share of requests fails with this
    /// effect (e.g. `PaymentDeclined`) instead. The outcome belongs to the
    /// flow: asking again gives the same answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<EmitFailure>,
    /// The effect the service records when a caller asks it to undo a
    /// request that succeeded (e.g. `PaymentRefunded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation: Option<String>,
    /// A request for a flow the service already acted on gets the first
    /// answer again, with no second effect (an idempotency key).
    #[serde(default)]
    pub idempotent: bool,
    /// The calls each request makes, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<CallSpec>,
    /// An event the service publishes to Kafka when a request succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emit: Option<ServiceEmit>,
}

/// `requests = { rate = 100, event_type = "OrderPlaced", timeout = "3s" }`:
/// clients outside the system call the service at `rate` (Poisson
/// arrivals). Each request is the root of a flow; the client gives up
/// after `timeout`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requests {
    /// Requests per second.
    pub rate: f64,
    /// The event type of the root event each request is.
    pub event_type: String,
    /// How keys are drawn.
    #[serde(default = "super::producer::default_keys")]
    pub keys: Keys,
    /// Keys are `key_prefix` followed by the key number.
    #[serde(default = "super::producer::default_key_prefix")]
    pub key_prefix: String,
    /// How long the client waits for the answer before it reports failure.
    #[serde(default = "default_client_timeout")]
    pub timeout: Duration,
    /// When requests start.
    #[serde(default)]
    pub start: Duration,
    /// When requests stop (default: the scenario's duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Duration>,
}

/// `[[services.calls]]`: one synchronous call a request makes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSpec {
    /// The service called.
    pub service: String,
    /// How long the caller waits for each attempt's reply.
    #[serde(default = "default_call_timeout")]
    pub timeout: Duration,
    /// Attempts after the first when one times out or is refused (a
    /// business failure is an answer and is not retried).
    #[serde(default)]
    pub retries: u32,
    /// Wait before the first retry; it doubles with each retry.
    #[serde(default = "default_call_backoff")]
    pub backoff: Duration,
    /// The caller goes on without this call's answer when it fails
    /// (degrades) instead of failing its own request.
    #[serde(default)]
    pub optional: bool,
    /// A circuit breaker on the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker: Option<Breaker>,
}

/// `breaker = { failures = 5, open = "10s" }`: after `failures` attempts
/// in a row fail (time out or are refused), the breaker opens and calls
/// fail at once, without reaching the network, for `open`; then one trial
/// call goes through (half-open): its success closes the breaker, its
/// failure opens it again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Breaker {
    /// Consecutive failed attempts that open the breaker.
    pub failures: u32,
    /// How long it stays open.
    #[serde(default = "default_breaker_open")]
    pub open: Duration,
}

/// `emit = { topic = "order-events", event_type = "OrderConfirmed" }`: the
/// service publishes the event (keyed as the flow) after its success.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEmit {
    /// The topic.
    pub topic: String,
    /// The event type.
    pub event_type: String,
}

fn default_workers() -> u32 {
    8
}
fn default_queue() -> u32 {
    64
}
fn default_service_processing() -> Dist<Duration> {
    Dist::constant(Duration::from_ms(5))
}
fn default_client_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_call_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_call_backoff() -> Duration {
    Duration::from_ms(100)
}
fn default_breaker_open() -> Duration {
    Duration::from_secs(10)
}

impl ServiceSpec {
    /// The event types the service makes.
    pub fn event_types(&self) -> impl Iterator<Item = &String> {
        let requests = self.requests.as_ref().map(|r| &r.event_type);
        let failure = self.failure.as_ref().map(|f| &f.event_type);
        let emit = self.emit.as_ref().map(|e| &e.event_type);
        requests
            .into_iter()
            .chain(self.success.iter())
            .chain(failure)
            .chain(self.compensation.iter())
            .chain(emit)
    }
}

impl Scenario {
    /// The name of service `s`'s Kafka producer (its `emit`).
    pub fn service_emitter(s: &ServiceSpec) -> Option<String> {
        s.emit.as_ref().map(|e| format!("{}->{}", s.name, e.topic))
    }

    /// When the last front door stops taking requests.
    /// When the run's production ends: the last producer's or front
    /// door's stop, and never before `duration`.
    pub fn production_end_ns(&self) -> u64 {
        self.producers
            .iter()
            .map(|p| p.stop.map_or(self.duration_ns(), |d| d.ns()))
            .chain(self.requests_end_ns())
            .max()
            .unwrap_or(self.duration_ns())
            .max(self.duration_ns())
    }

    /// The run's simulated time budget: production, then `drain`.
    pub fn run_end_ns(&self) -> u64 {
        self.production_end_ns()
            .saturating_add(self.scenario.drain.ns())
    }

    /// When the last front door's requests stop, if any.
    pub fn requests_end_ns(&self) -> Option<u64> {
        self.services
            .iter()
            .filter_map(|s| s.requests.as_ref())
            .map(|r| r.stop.map_or(self.duration_ns(), |d| d.ns()))
            .max()
    }

    pub(super) fn service_problems(
        &self,
        names: &mut std::collections::BTreeSet<String>,
        push: &mut dyn FnMut(Vec<Step>, String),
    ) {
        let services: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
        let topics: Vec<&str> = self.topics.iter().map(|t| t.name.as_str()).collect();
        for (i, s) in self.services.iter().enumerate() {
            let at = |path: &[&str]| {
                let mut v = vec![key("services"), Step::Index(i)];
                v.extend(path.iter().map(|p| key(p)));
                v
            };
            if super::reserved(&s.name) {
                push(
                    at(&["name"]),
                    format!("`{}` is reserved for fault targets", s.name),
                );
            } else if !names.insert(s.name.clone()) {
                push(at(&["name"]), format!("name `{}` is used twice", s.name));
            }
            if s.workers == 0 {
                push(at(&["workers"]), "expected at least 1 worker".into());
            }
            if let Some(msg) = s.processing.problem() {
                push(at(&["processing"]), msg);
            }
            if let Some(r) = &s.requests {
                if !(r.rate > 0.0 && r.rate.is_finite()) {
                    push(
                        at(&["requests", "rate"]),
                        "expected a positive rate in requests per second".into(),
                    );
                }
                if r.timeout.ns() == 0 {
                    push(
                        at(&["requests", "timeout"]),
                        "expected a duration greater than zero".into(),
                    );
                }
                if r.stop.is_some_and(|stop| stop <= r.start) {
                    push(
                        at(&["requests", "stop"]),
                        "expected `stop` after `start`".into(),
                    );
                }
                match &r.keys {
                    k if k.n() == 0 => push(
                        at(&["requests", "keys"]),
                        "expected at least 1 key (`n`)".into(),
                    ),
                    Keys::Zipf { s, .. } if !(*s > 0.0 && s.is_finite()) => push(
                        at(&["requests", "keys"]),
                        "expected a positive Zipf exponent `s`".into(),
                    ),
                    _ => {}
                }
            }
            if let Some(f) = &s.failure
                && !(0.0..=1.0).contains(&f.probability)
            {
                push(
                    at(&["failure", "probability"]),
                    "expected a probability between 0 and 1".into(),
                );
            }
            if let Some(e) = &s.emit
                && !topics.contains(&e.topic.as_str())
            {
                push(
                    at(&["emit", "topic"]),
                    format!("unknown topic `{}`; topics: {}", e.topic, quoted(&topics)),
                );
            }
            if s.calls.len() > MAX_CALLS {
                push(
                    at(&["calls"]),
                    format!("expected at most {MAX_CALLS} calls"),
                );
            }
            for (j, c) in s.calls.iter().enumerate() {
                let here = |f: &str| {
                    vec![
                        key("services"),
                        Step::Index(i),
                        key("calls"),
                        Step::Index(j),
                        key(f),
                    ]
                };
                if c.service == s.name {
                    push(here("service"), "a service cannot call itself".into());
                } else if !services.contains(&c.service.as_str()) {
                    push(
                        here("service"),
                        format!(
                            "unknown service `{}`; services: {}",
                            c.service,
                            quoted(&services)
                        ),
                    );
                } else if self.calls_reach(&c.service, &s.name) {
                    push(
                        here("service"),
                        format!(
                            "`{}` calls back into `{}`: a cycle of synchronous calls would wait on itself",
                            c.service, s.name
                        ),
                    );
                }
                if c.timeout.ns() == 0 {
                    push(
                        here("timeout"),
                        "expected a duration greater than zero".into(),
                    );
                }
                if c.retries > 100 {
                    push(here("retries"), "expected at most 100 retries".into());
                }
                if let Some(b) = &c.breaker {
                    let breaker = |f: &str| {
                        let mut v = here("breaker");
                        v.push(key(f));
                        v
                    };
                    if b.failures == 0 {
                        push(breaker("failures"), "expected at least 1 failure".into());
                    }
                    if b.open.ns() == 0 {
                        push(
                            breaker("open"),
                            "expected a duration greater than zero".into(),
                        );
                    }
                }
            }
        }
    }

    /// Whether `from`'s calls reach `to`, directly or through other services.
    fn calls_reach(&self, from: &str, to: &str) -> bool {
        let mut seen = vec![from.to_string()];
        let mut stack = vec![from.to_string()];
        while let Some(n) = stack.pop() {
            let Some(s) = self.services.iter().find(|s| s.name == n) else {
                continue;
            };
            for c in &s.calls {
                if c.service == to {
                    return true;
                }
                if !seen.contains(&c.service) {
                    seen.push(c.service.clone());
                    stack.push(c.service.clone());
                }
            }
        }
        false
    }
}
