//! Saga orchestration: a group whose service sends each step's command,
//! waits for its reply, and compensates the steps done when one fails or
//! its reply does not come in time.
//!
//! The saga state (per saga, the step it waits for) lives in the group's
//! store, not in a consumer's memory: it survives the service's crashes,
//! and a reply it has moved past (a redelivery, a duplicate, a late reply
//! after a timeout) changes nothing. The commands go out like emit rules'
//! events, from an emitter per topic, in the causal chain of the saga's
//! root event.

use super::producer::NewRecord;
use super::{Ev, NodeState, World};
use crate::history::{EventId, KeyId};
use crate::kernel::Time;

type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// One step, its event types resolved.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepRt {
    /// The emitter that writes to the step's topic.
    pub producer: u32,
    pub command: u16,
    pub success: u16,
    pub failure: Option<u16>,
    pub compensation: Option<u16>,
    /// The compensation's reply, if the orchestrator waits for it.
    pub compensated: Option<u16>,
}

/// One saga in the store.
#[derive(Clone, Copy, Debug)]
struct SagaState {
    /// The step whose reply it waits for (while compensating: the step
    /// whose compensation's reply it waits for).
    step: u8,
    /// Undoing the steps done, last first.
    compensating: bool,
    /// Completed or compensated: every later reply is ignored.
    done: bool,
    key: KeyId,
    size: u32,
    origin_created_ns: Time,
}

/// A group's saga: its definition and its store.
pub(crate) struct SagaRt {
    pub starts: u16,
    pub timeout_ns: Time,
    pub steps: Vec<StepRt>,
    /// The first emit-rule number of the saga's emissions (after the
    /// group's own rules): step `k`'s command is `base + 2k`, its
    /// compensation `base + 2k + 1`, their causal identities.
    pub rule_base: u32,
    /// What it emits when it gives a saga up: (emitter, event type).
    pub cancelled: Option<(u32, u16)>,
    state: FastMap<EventId, SagaState>,
}

impl SagaRt {
    pub(crate) fn new(
        starts: u16,
        timeout_ns: Time,
        steps: Vec<StepRt>,
        rule_base: u32,
        cancelled: Option<(u32, u16)>,
    ) -> SagaRt {
        SagaRt {
            starts,
            timeout_ns,
            steps,
            rule_base,
            cancelled,
            state: FastMap::default(),
        }
    }
}

impl SagaRt {
    /// Whether the saga store has already handled what an event of
    /// `event_type` in `origin`'s chain would tell it (a root it started, a
    /// reply of a step it has moved past or of a saga that is over): the
    /// service skips it, as an idempotent consumer does.
    pub(crate) fn fences(&self, event: EventId, event_type: u16, origin: EventId) -> bool {
        let Some(st) = self.state.get(&origin) else {
            return false;
        };
        if event_type == self.starts && origin == event {
            return true;
        }
        // Only the reply the saga waits for moves it; anything else of its
        // chain (a duplicate, a late reply, a compensation's reply it does
        // not wait for) is skipped.
        let s = &self.steps[st.step as usize];
        let awaited = if st.compensating {
            s.compensated == Some(event_type)
        } else {
            s.success == event_type || s.failure == Some(event_type)
        };
        st.done || !awaited
    }
}

impl World {
    /// The group of `consumer` handled `source` (its effect applied): start
    /// a saga, or move one on by its reply.
    pub(crate) fn saga_on(&mut self, consumer: u32, source: EventId) {
        let g = self.consumers[consumer as usize].group as usize;
        let e = self.events[source as usize];
        let Some(saga) = self.groups[g].saga.as_mut() else {
            return;
        };
        let origin = e.origin;
        if e.event_type == saga.starts && origin == source {
            if saga.state.contains_key(&origin) {
                return; // the root again (a redelivery): already started
            }
            saga.state.insert(
                origin,
                SagaState {
                    step: 0,
                    compensating: false,
                    done: false,
                    key: e.key,
                    size: e.size,
                    origin_created_ns: e.origin_created_ns,
                },
            );
            self.saga_send(consumer, g, source, origin, 0, false);
            return;
        }
        let Some(st) = saga.state.get_mut(&origin) else {
            return;
        };
        if st.done {
            return; // fenced: the saga is over
        }
        let k = st.step as usize;
        let step = saga.steps[k];
        if st.compensating {
            if step.compensated == Some(e.event_type) {
                self.saga_compensate(consumer, g, source, origin, k);
            }
            return;
        }
        if e.event_type == step.success {
            if k + 1 < saga.steps.len() {
                st.step += 1;
                self.saga_send(consumer, g, source, origin, k + 1, false);
            } else {
                st.done = true;
            }
        } else if step.failure == Some(e.event_type) {
            st.compensating = true;
            self.saga_compensate(consumer, g, source, origin, k);
        }
        // Any other reply (of a step it has moved past): fenced.
    }

    /// Undo steps `0..upto`, last first: send each one's compensation; a
    /// step whose compensation has a reply (`compensated`) is waited for
    /// (the saga resumes here with `upto` = that step). When none is left,
    /// the saga is over: send `cancelled`.
    fn saga_compensate(
        &mut self,
        consumer: u32,
        g: usize,
        source: EventId,
        origin: EventId,
        upto: usize,
    ) {
        for j in (0..upto).rev() {
            self.saga_send(consumer, g, source, origin, j, true);
            let saga = self.groups[g].saga.as_mut().expect("a saga group");
            let step = saga.steps[j];
            if step.compensation.is_some() && step.compensated.is_some() {
                saga.state.get_mut(&origin).expect("a saga").step = j as u8;
                return;
            }
        }
        let saga = self.groups[g].saga.as_mut().expect("a saga group");
        saga.state.get_mut(&origin).expect("a saga").done = true;
        if let Some((producer, event_type)) = saga.cancelled {
            let rule = saga.rule_base + 2 * saga.steps.len() as u32;
            self.saga_emit(consumer, g, source, origin, producer, event_type, rule);
        }
    }

    /// One event of the saga's chain, from `producer`.
    #[allow(clippy::too_many_arguments)]
    fn saga_emit(
        &mut self,
        consumer: u32,
        g: usize,
        source: EventId,
        origin: EventId,
        producer: u32,
        event_type: u16,
        rule: u32,
    ) {
        let st = self.groups[g].saga.as_ref().expect("a saga group").state[&origin];
        let prod = &mut self.producers[producer as usize];
        let part = prod
            .chooser
            .choose(st.key, u64::from(st.size), &mut prod.rng);
        let record = NewRecord {
            key: st.key,
            part_in_topic: part,
            size: u64::from(st.size),
            event_type,
            origin: Some((origin, st.origin_created_ns)),
            value: None,
            intended_ns: None,
        };
        self.emit_record(consumer, source, producer, record, rule);
    }

    /// Send step `k`'s command (or its compensation, if it has one), and
    /// for a command arm the reply timeout.
    fn saga_send(
        &mut self,
        consumer: u32,
        g: usize,
        source: EventId,
        origin: EventId,
        k: usize,
        compensation: bool,
    ) {
        let saga = self.groups[g].saga.as_ref().expect("a saga group");
        let step = saga.steps[k];
        let event_type = if compensation {
            match step.compensation {
                Some(t) => t,
                None => return,
            }
        } else {
            step.command
        };
        let rule = saga.rule_base + 2 * k as u32 + u32::from(compensation);
        let timeout = saga.timeout_ns;
        self.saga_emit(consumer, g, source, origin, step.producer, event_type, rule);
        if !compensation {
            self.kernel.schedule_in(
                timeout,
                Ev::SagaTimeout {
                    group: g as u32,
                    origin,
                    step: k as u32,
                },
            );
        }
    }

    /// A step's reply timeout: if the saga still waits for it, compensate
    /// every step done and this one (it may have acted). The service runs
    /// it; while none of its consumers is up, it waits.
    pub(crate) fn on_saga_timeout(&mut self, group: u32, origin: EventId, step: u32) {
        let g = group as usize;
        let Some(saga) = self.groups[g].saga.as_mut() else {
            return;
        };
        let Some(st) = saga.state.get_mut(&origin) else {
            return;
        };
        if st.done || st.compensating || u32::from(st.step) != step {
            // Over, moved on, or undoing: a compensation is waited for as
            // long as it takes (it must succeed in the end).
            return;
        }
        let up = self.groups[g].consumers.iter().copied().find(|&c| {
            matches!(
                self.node_state[self.consumers[c as usize].node.0 as usize],
                NodeState::Up
            )
        });
        let Some(consumer) = up else {
            self.kernel.schedule_in(
                super::TICK_NS,
                Ev::SagaTimeout {
                    group,
                    origin,
                    step,
                },
            );
            return;
        };
        let saga = self.groups[g].saga.as_mut().expect("checked");
        saga.state.get_mut(&origin).expect("checked").compensating = true;
        self.saga_compensate(consumer, g, origin, origin, step as usize + 1);
    }
}
