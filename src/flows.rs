//! Business flows: the causal chains a scenario's `[[flows]]` declares
//! (an order placed, then paid or declined, stock reserved and released,
//! shipped), followed through the history.
//!
//! A flow is the causal chain of one root event of its `starts` type: every
//! event created, directly or through other services, while processing it
//! carries the root as its origin. A step of the flow happens when an event
//! of the chain is acknowledged, that is written to the log for good (for a
//! transactional producer, when its transaction commits); an event whose
//! producer gave up, or whose transaction aborted, never happened. The
//! [`FlowBook`] keeps, per flow, when each kind of step first happened; the
//! `saga-atomicity` and `held-resources` checkers and the flow figures of
//! the report read it.
//!
//! A flow can also run through synchronous calls (`[[services]]`): its
//! root is a request from outside to a front door, accepted when the front
//! door answers (success or a business failure) and rejected when the
//! client gets an error or gives up waiting; a step happens when a service
//! records an effect in its store.

use crate::history::{EventId, KeyId, OUTSIDE, Observation};
use crate::kernel::Time;
use crate::latency::{LatencyStats, LatencyStream};
use serde::Serialize;

type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// The most resources one flow declares (`[[flows.holds]]`).
pub const MAX_HOLDS: usize = 4;

/// "Never happened" in a flow's step times.
pub const NEVER: Time = Time::MAX;

pub use crate::history::FlowDef;

/// What one event type means to one flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Start,
    Complete,
    Fail,
    Take(u8),
    Release(u8),
}

/// One flow's history: when each kind of step first happened (acknowledged),
/// [`NEVER`] for what did not.
#[derive(Clone, Debug)]
pub struct Flow {
    /// The flow's definition (index in the book's definitions).
    pub def: u16,
    /// The root event's key (`order-42`).
    pub key: KeyId,
    /// When the root event was created.
    pub created_ns: Time,
    /// When the root event was acknowledged: the front door accepted it.
    pub accepted_ns: Time,
    /// When its producer gave up on it (or its transaction aborted): the
    /// front door reported it failed.
    pub rejected_ns: Time,
    /// When a completion event was first acknowledged.
    pub completed_ns: Time,
    /// When a failure event was first acknowledged.
    pub failed_ns: Time,
    /// Per hold: (created, acknowledged) of the first take acknowledged.
    pub taken: [(Time, Time); MAX_HOLDS],
    /// Per hold: (created, acknowledged) of the first release acknowledged.
    pub released: [(Time, Time); MAX_HOLDS],
    /// The first step after the root acknowledged: (when, its event type,
    /// the event).
    pub first_step: (Time, u16, EventId),
    /// A resource was taken more than once (charged twice, reserved twice).
    pub duplicated: bool,
}

impl Flow {
    fn new(def: u16, key: KeyId, created_ns: Time) -> Flow {
        Flow {
            def,
            key,
            created_ns,
            accepted_ns: NEVER,
            rejected_ns: NEVER,
            completed_ns: NEVER,
            failed_ns: NEVER,
            taken: [(NEVER, NEVER); MAX_HOLDS],
            released: [(NEVER, NEVER); MAX_HOLDS],
            first_step: (NEVER, 0, 0),
            duplicated: false,
        }
    }

    /// Holds taken and not released since: never released, or released by
    /// an event created before the take's (the release found nothing to
    /// release, and what was taken stays taken), as `held-resources` judges.
    pub fn held(&self, holds: usize) -> impl Iterator<Item = usize> + '_ {
        (0..holds).filter(|&h| self.taken[h].1 != NEVER && !self.released_after_take(h))
    }

    /// Hold `h` was released, by an event created at or after its take's.
    pub fn released_after_take(&self, h: usize) -> bool {
        self.released[h].1 != NEVER && self.released[h].0 >= self.taken[h].0
    }

    /// Holds released, in any order with their take.
    pub fn any_released(&self, holds: usize) -> bool {
        (0..holds).any(|h| self.released[h].1 != NEVER)
    }

    /// For a flow the front door rejected: what it left behind, as (when,
    /// what). It completed; or it still holds a resource it took; or, for
    /// a flow that declares no holds, any step happened (nothing tells
    /// whether it was undone). A resource taken and released is undone.
    pub fn lasting_effect(&self, def: &FlowDef) -> Option<(Time, String)> {
        if self.completed_ns != NEVER {
            return Some((self.completed_ns, "it completed".into()));
        }
        let holds = def.holds.len();
        if let Some(h) = self.held(holds).next() {
            return Some((
                self.taken[h].1,
                format!("it still holds {}", def.holds[h].0),
            ));
        }
        (holds == 0 && self.first_step.0 != NEVER)
            .then(|| (self.first_step.0, "the flow went on".into()))
    }

    /// How the flow ended.
    pub fn outcome(&self, holds: usize) -> Outcome {
        if self.accepted_ns == NEVER {
            return if self.rejected_ns == NEVER {
                Outcome::Open
            } else {
                Outcome::Rejected
            };
        }
        let done = |t: Time| t != NEVER;
        match (done(self.completed_ns), done(self.failed_ns)) {
            (true, false) if !self.any_released(holds) => Outcome::Completed,
            (true, _) => Outcome::Inconsistent,
            (false, true) if self.held(holds).next().is_none() => Outcome::Compensated,
            (false, true) => Outcome::Failed,
            (false, false) => Outcome::Open,
        }
    }

    /// When the flow reached its outcome: completion, or the last of its
    /// failure and the releases of what it took ([`NEVER`] while open).
    pub fn ended_ns(&self, holds: usize) -> Time {
        match self.outcome(holds) {
            Outcome::Completed => self.completed_ns,
            Outcome::Compensated => (0..holds)
                .filter(|&h| self.taken[h].1 != NEVER)
                .map(|h| self.released[h].1)
                .fold(self.failed_ns, Time::max),
            Outcome::Rejected => self.rejected_ns,
            _ => NEVER,
        }
    }
}

/// How a flow ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The front door never accepted it: its root event's producer gave up.
    Rejected,
    /// Completed, with no failure and nothing released.
    Completed,
    /// Failed by a business rule, and everything it took was released.
    Compensated,
    /// Failed, and holds something it took.
    Failed,
    /// Both completed and failed, or completed and released what it took.
    Inconsistent,
    /// Neither completed nor failed (yet).
    Open,
}

/// An event of a flow on its way to the log.
#[derive(Clone, Copy, Debug)]
struct Pending {
    origin: EventId,
    event_type: u16,
    created_ns: Time,
}

/// Every flow of a run, fed by observations.
#[derive(Clone, Debug, Default)]
pub struct FlowBook {
    /// The scenario's flows.
    pub defs: Vec<FlowDef>,
    /// Per event type: (flow definition, role) pairs.
    roles: Vec<Vec<(u16, Role)>>,
    /// Per root event: its flow.
    flows: FastMap<EventId, Flow>,
    /// Events of flows produced and not yet acknowledged or given up on.
    pending: FastMap<EventId, Pending>,
}

impl FlowBook {
    /// A book for `defs`, in a run with `event_types` event types.
    pub fn new(defs: Vec<FlowDef>, event_types: usize) -> FlowBook {
        let mut roles = vec![Vec::new(); event_types];
        let mut add = |t: u16, f: usize, r: Role| {
            if let Some(v) = roles.get_mut(t as usize) {
                v.push((f as u16, r));
            }
        };
        for (f, d) in defs.iter().enumerate() {
            add(d.starts, f, Role::Start);
            for &t in &d.completes {
                add(t, f, Role::Complete);
            }
            for &t in &d.fails {
                add(t, f, Role::Fail);
            }
            for (h, &(_, take, release)) in d.holds.iter().enumerate() {
                add(take, f, Role::Take(h as u8));
                add(release, f, Role::Release(h as u8));
            }
        }
        FlowBook {
            defs,
            roles,
            flows: FastMap::default(),
            pending: FastMap::default(),
        }
    }

    /// No flow is declared: nothing to follow.
    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// Follow one observation (only produced, acknowledged, gave-up and
    /// aborted events matter).
    #[inline]
    pub fn observe(&mut self, at: Time, o: &Observation) {
        match *o {
            Observation::Produced {
                event,
                key,
                event_type,
                origin,
                ..
            } => {
                let Some(roles) = self.roles.get(event_type as usize) else {
                    return;
                };
                if roles.is_empty() {
                    return;
                }
                if origin == event {
                    if let Some(&(f, _)) = roles.iter().find(|r| r.1 == Role::Start) {
                        self.flows.insert(event, Flow::new(f, key, at));
                    }
                } else if !self.flows.contains_key(&origin) {
                    return;
                }
                self.pending.insert(
                    event,
                    Pending {
                        origin,
                        event_type,
                        created_ns: at,
                    },
                );
            }
            Observation::Requested {
                event,
                key,
                event_type,
                ..
            } => {
                if let Some(&(f, _)) = self
                    .roles
                    .get(event_type as usize)
                    .and_then(|r| r.iter().find(|r| r.1 == Role::Start))
                {
                    self.flows.insert(event, Flow::new(f, key, at));
                }
            }
            Observation::Acted {
                event,
                origin,
                event_type,
                ..
            } if self.flows.contains_key(&origin) => {
                let p = Pending {
                    origin,
                    event_type,
                    created_ns: at,
                };
                self.step(at, event, p);
            }
            Observation::CallEnded {
                caller: OUTSIDE,
                origin,
                outcome,
                compensation: false,
                ..
            } => {
                if let Some(flow) = self.flows.get_mut(&origin) {
                    if outcome.answered() {
                        flow.accepted_ns = flow.accepted_ns.min(at);
                    } else if flow.accepted_ns == NEVER {
                        flow.rejected_ns = flow.rejected_ns.min(at);
                    }
                }
            }
            Observation::Acked { event, .. } => {
                if !self.pending.is_empty()
                    && let Some(p) = self.pending.remove(&event)
                {
                    self.step(at, event, p);
                }
            }
            Observation::ProduceFailed { event, .. } | Observation::Aborted { event, .. } => {
                if !self.pending.is_empty()
                    && let Some(p) = self.pending.remove(&event)
                    && p.origin == event
                    && let Some(flow) = self.flows.get_mut(&event)
                    && flow.accepted_ns == NEVER
                {
                    flow.rejected_ns = flow.rejected_ns.min(at);
                }
            }
            _ => {}
        }
    }

    fn step(&mut self, at: Time, event: EventId, p: Pending) {
        let Some(flow) = self.flows.get_mut(&p.origin) else {
            return;
        };
        if event == p.origin {
            flow.accepted_ns = flow.accepted_ns.min(at);
            return;
        }
        if flow.first_step.0 == NEVER {
            flow.first_step = (at, p.event_type, event);
        }
        for &(f, role) in &self.roles[p.event_type as usize] {
            if f != flow.def {
                continue;
            }
            let first = |t: &mut (Time, Time)| {
                if t.1 == NEVER {
                    *t = (p.created_ns, at);
                }
            };
            match role {
                Role::Start => {}
                Role::Complete => flow.completed_ns = flow.completed_ns.min(at),
                Role::Fail => flow.failed_ns = flow.failed_ns.min(at),
                Role::Take(h) => {
                    flow.duplicated |= flow.taken[h as usize].1 != NEVER;
                    first(&mut flow.taken[h as usize]);
                }
                Role::Release(h) => first(&mut flow.released[h as usize]),
            }
        }
    }

    /// Every flow, by root event id (the order they started in).
    #[allow(clippy::disallowed_methods)] // sorted before it is returned
    pub fn flows(&self) -> Vec<(EventId, &Flow)> {
        let mut v: Vec<(EventId, &Flow)> = self.flows.iter().map(|(&e, f)| (e, f)).collect();
        v.sort_unstable_by_key(|&(e, _)| e);
        v
    }

    /// Each flow definition's figures at the end of a run.
    pub fn figures(&self) -> Vec<FlowFigures> {
        let mut out: Vec<(FlowFigures, [LatencyStream; 3])> = self
            .defs
            .iter()
            .map(|d| {
                let f = FlowFigures {
                    name: d.name.clone(),
                    ..FlowFigures::default()
                };
                (f, Default::default())
            })
            .collect();
        for (_, flow) in self.flows() {
            let holds = self.defs[flow.def as usize].holds.len();
            let (f, [completion, compensation, settle]) = &mut out[flow.def as usize];
            f.started += 1;
            f.duplicated += u64::from(flow.duplicated);
            if flow.accepted_ns != NEVER {
                let end = flow.ended_ns(holds);
                if end != NEVER {
                    settle.record(end - flow.created_ns);
                }
            }
            match flow.outcome(holds) {
                Outcome::Rejected => f.rejected += 1,
                Outcome::Completed => {
                    f.completed += 1;
                    completion.record(flow.completed_ns - flow.created_ns);
                }
                Outcome::Compensated => {
                    f.compensated += 1;
                    compensation.record(flow.ended_ns(holds) - flow.created_ns);
                }
                Outcome::Failed => f.failed += 1,
                Outcome::Inconsistent => f.inconsistent += 1,
                Outcome::Open => f.open += 1,
            }
            if flow.rejected_ns != NEVER
                && flow.lasting_effect(&self.defs[flow.def as usize]).is_some()
            {
                f.rejected_with_effects += 1;
            }
        }
        out.into_iter()
            .map(|(mut f, [completion, compensation, settle])| {
                let accepted = f.started - f.rejected;
                f.acceptance_rate = if f.started == 0 {
                    0.0
                } else {
                    (accepted as f64 / f.started as f64 * 1e6).round() / 1e6
                };
                f.completion_ns = completion.stats();
                f.compensation_ns = compensation.stats();
                f.settle_ns = settle.stats();
                f
            })
            .collect()
    }
}

/// One flow definition's figures in `summary.json` (`flows`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct FlowFigures {
    /// The flow's name.
    pub name: String,
    /// Flows started: root events created.
    pub started: u64,
    /// Root events whose producer gave up: the front door reported failure.
    pub rejected: u64,
    /// Accepted root events / started.
    pub acceptance_rate: f64,
    /// Completed flows.
    pub completed: u64,
    /// Failed flows that released everything they took.
    pub compensated: u64,
    /// Failed flows still holding something they took.
    pub failed: u64,
    /// Flows both completed and failed (or completed and released).
    pub inconsistent: u64,
    /// Flows accepted that neither completed nor failed.
    pub open: u64,
    /// Rejected flows left with an effect: completed, or holding what
    /// they took (for a flow that declares no holds: any step after the
    /// root happened).
    pub rejected_with_effects: u64,
    /// Flows that took a resource more than once (a payment charged
    /// twice, stock reserved twice).
    #[serde(default)]
    pub duplicated: u64,
    /// Root created -> completion acknowledged, over completed flows.
    pub completion_ns: LatencyStats,
    /// Root created -> last compensating step acknowledged, over
    /// compensated flows.
    pub compensation_ns: LatencyStats,
    /// Root created -> the flow's end (completed or compensated), over the
    /// accepted flows that ended: how long each stayed half done.
    #[serde(default)]
    pub settle_ns: LatencyStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACED: u16 = 0;
    const SHIPPED: u16 = 1;
    const DECLINED: u16 = 2;
    const RESERVED: u16 = 3;
    const RELEASED: u16 = 4;

    fn book() -> FlowBook {
        FlowBook::new(
            vec![FlowDef {
                name: "order".into(),
                starts: PLACED,
                completes: vec![SHIPPED],
                fails: vec![DECLINED],
                holds: vec![("stock".into(), RESERVED, RELEASED)],
                within_ns: 1_000,
            }],
            6,
        )
    }

    fn produced(b: &mut FlowBook, at: Time, event: EventId, event_type: u16, origin: EventId) {
        b.observe(
            at,
            &Observation::Produced {
                event,
                producer: 0,
                partition: 0,
                key: 7,
                event_type,
                origin,
                origin_created_ns: 0,
            },
        );
    }

    fn acked(b: &mut FlowBook, at: Time, event: EventId) {
        b.observe(
            at,
            &Observation::Acked {
                event,
                producer: 0,
                partition: 0,
                key: 7,
                version: 1,
                value: 1,
                created_ns: 0,
            },
        );
    }

    #[test]
    fn a_step_counts_when_acknowledged_and_the_outcome_follows_the_steps() {
        let mut b = book();
        produced(&mut b, 10, 1, PLACED, 1);
        assert_eq!(b.flows()[0].1.outcome(1), Outcome::Open);
        acked(&mut b, 20, 1);
        produced(&mut b, 30, 2, RESERVED, 1);
        produced(&mut b, 31, 3, DECLINED, 1);
        acked(&mut b, 40, 3);
        // Declined, and the reservation is not acknowledged yet: nothing
        // held, so compensated so far.
        assert_eq!(b.flows()[0].1.outcome(1), Outcome::Compensated);
        acked(&mut b, 50, 2);
        let f = b.flows()[0].1.clone();
        assert_eq!(f.outcome(1), Outcome::Failed);
        assert_eq!(f.held(1).collect::<Vec<_>>(), vec![0]);
        assert_eq!(f.ended_ns(1), NEVER);
        produced(&mut b, 60, 4, RELEASED, 1);
        acked(&mut b, 70, 4);
        let f = b.flows()[0].1.clone();
        assert_eq!(f.outcome(1), Outcome::Compensated);
        assert_eq!(f.ended_ns(1), 70);
        assert_eq!(f.taken[0], (30, 50));
        assert_eq!(f.released[0], (60, 70));
        // A completion on top of a failure is inconsistent.
        produced(&mut b, 80, 5, SHIPPED, 1);
        acked(&mut b, 90, 5);
        assert_eq!(b.flows()[0].1.outcome(1), Outcome::Inconsistent);
        let fig = b.figures();
        assert_eq!((fig[0].started, fig[0].inconsistent), (1, 1));
    }

    #[test]
    fn a_root_given_up_on_is_rejected_and_its_steps_are_still_followed() {
        let mut b = book();
        produced(&mut b, 10, 1, PLACED, 1);
        b.observe(
            25,
            &Observation::ProduceFailed {
                event: 1,
                producer: 0,
            },
        );
        produced(&mut b, 30, 2, RESERVED, 1);
        acked(&mut b, 40, 2);
        let f = b.flows()[0].1.clone();
        assert_eq!(f.outcome(1), Outcome::Rejected);
        assert_eq!(f.first_step, (40, RESERVED, 2));
        let fig = b.figures();
        assert_eq!((fig[0].rejected, fig[0].rejected_with_effects), (1, 1));
        assert_eq!(fig[0].acceptance_rate, 0.0);
    }

    #[test]
    fn events_outside_any_flow_and_steps_never_acknowledged_change_nothing() {
        let mut b = book();
        // A step whose origin is no flow's root: ignored.
        produced(&mut b, 5, 9, SHIPPED, 8);
        acked(&mut b, 6, 9);
        assert!(b.flows().is_empty());
        produced(&mut b, 10, 1, PLACED, 1);
        acked(&mut b, 11, 1);
        // A completion whose transaction aborted never happened.
        produced(&mut b, 20, 2, SHIPPED, 1);
        b.observe(
            30,
            &Observation::Aborted {
                event: 2,
                producer: 0,
            },
        );
        acked(&mut b, 40, 2);
        assert_eq!(b.flows()[0].1.outcome(1), Outcome::Open);
        assert!(b.pending.is_empty());
    }
}
