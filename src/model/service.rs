//! Synchronous calls between services (`[[services]]`): request and
//! response over the network, a pool of workers with a queue, timeouts,
//! retries with exponential backoff, circuit breakers and compensation.
//!
//! A call is one logical request from a caller (a client outside the
//! system, for a front door, or a worker of another service) with its
//! attempts; a job is one attempt being handled at the callee. The callee
//! does not know whether its caller still waits: a job goes on after its
//! caller timed out, and what it does (its effects, its own calls) happens
//! all the same. That is how the "charged, but the order failed" outcome
//! arises. Attempts are named by a serial, never reused, so a late reply or
//! a stale timer never matches a newer attempt.
//!
//! A worker is held while its job waits for the replies of its calls
//! (thread-per-request), so a slow or absent callee fills its callers'
//! pools and queues: the cascade a synchronous chain is known for.

use super::dist::{KeySampler, Sampler};
use super::network::Node;
use super::producer::NewRecord;
use super::{Ev, EventMeta, World};
use crate::history::{CallOutcome, EventId, KeyId, OUTSIDE, Observation};
use crate::kernel::{Rng, Time};
use crate::model::variates;
use std::collections::VecDeque;

/// Size in bytes of the records a service publishes (`emit`).
const EMIT_BYTES: u64 = 200;

/// Mixed into the business-outcome hash of a service, so that it differs
/// from every group's.
const OUTCOME_SALT: u32 = 0x8000_0000;

/// A front door's requests from outside.
pub(crate) struct FrontDoor {
    pub mean_gap_ns: f64,
    pub stop_ns: Time,
    pub keys: KeySampler,
    pub first_key: KeyId,
    pub event_type: u16,
    pub timeout_ns: Time,
    pub rng: Rng,
}

/// A circuit breaker's state.
pub(crate) struct BreakerRt {
    pub failures: u32,
    pub open_ns: Time,
    /// Attempts failed in a row.
    pub consecutive: u32,
    /// Open until then (after it, half-open).
    pub open_until: Time,
    /// Half-open: the trial call is under way.
    pub trial: bool,
}

/// One of a service's calls, resolved.
pub(crate) struct CallSpecRt {
    pub callee: u32,
    pub timeout_ns: Time,
    pub retries: u32,
    pub backoff_ns: Time,
    pub optional: bool,
    pub breaker: Option<BreakerRt>,
}

/// A service: its workers, queue, calls and store.
pub(crate) struct ServiceRt {
    pub node: Node,
    pub workers: u32,
    pub busy: u32,
    pub queue_cap: u32,
    pub queue: VecDeque<u32>,
    pub processing: Sampler,
    pub rng: Rng,
    pub front: Option<Box<FrontDoor>>,
    pub success: Option<u16>,
    pub failure: Option<(u16, f64)>,
    pub compensation: Option<u16>,
    /// Idempotency keys (the flow's root) -> the answer given (`None`
    /// while a request for it is being handled). In the service's
    /// database: it survives crashes.
    pub store: Option<rustc_hash::FxHashMap<EventId, Option<CallOutcome>>>,
    pub calls: Vec<CallSpecRt>,
    /// Its Kafka producer and the event type it publishes on success.
    pub emit: Option<(u32, u16)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    Outside,
    Job { job: u32, token: u32 },
}

/// One logical call and its attempts.
struct CallRt {
    caller: Caller,
    /// The calling service ([`OUTSIDE`] for a client).
    caller_service: u32,
    callee: u32,
    /// Index of the call in the caller's `calls`.
    spec: u32,
    compensation: bool,
    origin: EventId,
    origin_created_ns: Time,
    key: KeyId,
    tries: u32,
    /// Serial of the attempt in flight, or of the pending retry (0: none).
    attempt: u32,
    sent_ns: Time,
    live: bool,
    /// Attempts on their way to the callee (they read the call's fields).
    in_flight: u32,
    freed: bool,
}

/// One attempt being handled at a service.
#[derive(Clone, Copy)]
struct JobRt {
    service: u32,
    call: u32,
    attempt: u32,
    compensation: bool,
    origin: EventId,
    origin_created_ns: Time,
    key: KeyId,
    /// Serial (0: a free slot).
    token: u32,
    /// The next of the service's calls to make.
    next: u32,
    /// Calls that succeeded and can be undone (bit per call).
    done: u32,
    /// The answer it gives once its compensations are made.
    answer: CallOutcome,
}

/// Every service, call and job of a run.
#[derive(Default)]
pub(crate) struct SyncRt {
    pub services: Vec<ServiceRt>,
    calls: Vec<CallRt>,
    free_calls: Vec<u32>,
    jobs: Vec<JobRt>,
    free_jobs: Vec<u32>,
    serial: u32,
    live_calls: u32,
    live_jobs: u32,
}

impl SyncRt {
    fn next_serial(&mut self) -> u32 {
        self.serial = self.serial.wrapping_add(1).max(1);
        self.serial
    }

    /// No call waits and no job runs.
    pub fn idle(&self) -> bool {
        self.live_calls == 0 && self.live_jobs == 0
    }

    /// The node a call's callee runs on.
    pub fn callee_node(&self, call: u32) -> Node {
        self.services[self.calls[call as usize].callee as usize].node
    }

    /// The node a call's caller runs on (`None`: a client outside).
    pub fn caller_node(&self, call: u32) -> Option<Node> {
        let s = self.calls[call as usize].caller_service;
        (s != OUTSIDE).then(|| self.services[s as usize].node)
    }

    /// The node a job runs on.
    pub fn job_node(&self, job: u32) -> Node {
        self.services[self.jobs[job as usize].service as usize].node
    }
}

impl World {
    /// A front door's next request arrives from outside.
    pub(crate) fn on_request(&mut self, service: u32) {
        let now = self.now();
        let Some(f) = self.sync.services[service as usize].front.as_mut() else {
            return;
        };
        if now >= f.stop_ns {
            return;
        }
        let key = f.first_key + f.keys.sample(&mut f.rng);
        let gap = ((variates::exp1(&mut f.rng) * f.mean_gap_ns).round() as Time).max(1);
        let (event_type, timeout, stop) = (f.event_type, f.timeout_ns, f.stop_ns);
        if now + gap < stop {
            self.kernel.schedule_at(now + gap, Ev::Request { service });
        }
        let event = self.new_sync_event(event_type, key, None);
        self.observe(Observation::Requested {
            event,
            service,
            key,
            event_type,
        });
        let call = self.new_call(
            Caller::Outside,
            OUTSIDE,
            service,
            0,
            false,
            (event, now),
            key,
        );
        let attempt = self.sync.next_serial();
        let c = &mut self.sync.calls[call as usize];
        c.tries = 1;
        c.attempt = attempt;
        c.sent_ns = now;
        c.in_flight += 1;
        self.kernel
            .schedule_at(now, Ev::CallArrive { call, attempt });
        self.kernel
            .schedule_at(now + timeout, Ev::CallTimeout { call, attempt });
    }

    /// An event id for a request or an effect of a synchronous flow.
    fn new_sync_event(
        &mut self,
        event_type: u16,
        key: KeyId,
        origin: Option<(EventId, Time)>,
    ) -> EventId {
        let now = self.now();
        let id = self.events.len() as EventId;
        let (origin, origin_created_ns) = origin.unwrap_or((id, now));
        self.events.push(EventMeta {
            created_ns: now,
            origin_created_ns,
            origin,
            key,
            version: 0,
            value: 0,
            size: 0,
            event_type,
            producer: u16::MAX,
        });
        id
    }

    #[allow(clippy::too_many_arguments)]
    fn new_call(
        &mut self,
        caller: Caller,
        caller_service: u32,
        callee: u32,
        spec: u32,
        compensation: bool,
        (origin, origin_created_ns): (EventId, Time),
        key: KeyId,
    ) -> u32 {
        let c = CallRt {
            caller,
            caller_service,
            callee,
            spec,
            compensation,
            origin,
            origin_created_ns,
            key,
            tries: 0,
            attempt: 0,
            sent_ns: 0,
            live: true,
            in_flight: 0,
            freed: false,
        };
        let sync = &mut self.sync;
        sync.live_calls += 1;
        match sync.free_calls.pop() {
            Some(i) => {
                sync.calls[i as usize] = c;
                i
            }
            None => {
                sync.calls.push(c);
                sync.calls.len() as u32 - 1
            }
        }
    }

    fn maybe_free_call(&mut self, call: u32) {
        let c = &mut self.sync.calls[call as usize];
        if !c.live && c.in_flight == 0 && !c.freed {
            c.freed = true;
            c.attempt = 0;
            self.sync.free_calls.push(call);
        }
    }

    /// An attempt reaches its callee (up: `intercept` has handled the rest).
    pub(crate) fn on_call_arrive(&mut self, call: u32, attempt: u32) {
        let c = &mut self.sync.calls[call as usize];
        c.in_flight -= 1;
        let (s, compensation, origin, key) = (
            c.callee,
            c.compensation,
            (c.origin, c.origin_created_ns),
            c.key,
        );
        self.maybe_free_call(call);
        let sv = &mut self.sync.services[s as usize];
        if !compensation && let Some(store) = &mut sv.store {
            match store.get(&origin.0) {
                Some(&Some(answer)) => return self.reply_to(call, attempt, s, answer),
                // Another attempt for the flow is being handled: "try later".
                Some(None) => return self.reply_to(call, attempt, s, CallOutcome::Error),
                None => {}
            }
        }
        if sv.busy >= sv.workers && sv.queue.len() >= sv.queue_cap as usize {
            // Overloaded: refused at once (503).
            return self.reply_to(call, attempt, s, CallOutcome::Error);
        }
        if !compensation && let Some(store) = &mut sv.store {
            // Taken: another attempt for the flow now gets "in progress".
            store.insert(origin.0, None);
        }
        let token = self.sync.next_serial();
        let j = JobRt {
            service: s,
            call,
            attempt,
            compensation,
            origin: origin.0,
            origin_created_ns: origin.1,
            key,
            token,
            next: 0,
            done: 0,
            answer: CallOutcome::Ok,
        };
        let sync = &mut self.sync;
        sync.live_jobs += 1;
        let job = match sync.free_jobs.pop() {
            Some(i) => {
                sync.jobs[i as usize] = j;
                i
            }
            None => {
                sync.jobs.push(j);
                sync.jobs.len() as u32 - 1
            }
        };
        let sv = &mut self.sync.services[s as usize];
        if sv.busy < sv.workers {
            self.start_job(job);
        } else {
            sv.queue.push_back(job);
        }
    }

    fn start_job(&mut self, job: u32) {
        let j = self.sync.jobs[job as usize];
        let sv = &mut self.sync.services[j.service as usize];
        sv.busy += 1;
        let t = sv.processing.sample(&mut sv.rng);
        self.kernel.schedule_in(
            t,
            Ev::JobProcessed {
                job,
                token: j.token,
            },
        );
    }

    /// A worker finished its own part of a job.
    pub(crate) fn on_job_processed(&mut self, job: u32, token: u32) {
        let j = self.sync.jobs[job as usize];
        if j.token != token {
            return; // the service crashed since
        }
        let s = j.service as usize;
        if j.compensation {
            if let Some(t) = self.sync.services[s].compensation {
                self.act(j, t);
            }
            return self.finish(job, CallOutcome::Ok);
        }
        if let Some((t, p)) = self.sync.services[s].failure
            && super::consumer::outcome_unit(
                self.outcome_salt,
                j.origin,
                OUTCOME_SALT | s as u32,
                0,
            ) < p
        {
            self.act(j, t);
            return self.finish(job, CallOutcome::Failed);
        }
        self.next_call(job);
    }

    /// Record an effect of job `j` in its service's store.
    fn act(&mut self, j: JobRt, event_type: u16) {
        let event = self.new_sync_event(event_type, j.key, Some((j.origin, j.origin_created_ns)));
        self.observe(Observation::Acted {
            event,
            service: j.service,
            origin: j.origin,
            key: j.key,
            event_type,
        });
    }

    /// Make the job's next call, or succeed when none is left.
    fn next_call(&mut self, job: u32) {
        let j = self.sync.jobs[job as usize];
        let sv = &self.sync.services[j.service as usize];
        let Some(spec) = sv.calls.get(j.next as usize) else {
            if let Some(t) = sv.success {
                self.act(j, t);
            }
            if let Some((producer, event_type)) = self.sync.services[j.service as usize].emit {
                let prod = &mut self.producers[producer as usize];
                let part_in_topic = prod.chooser.choose(j.key, EMIT_BYTES, &mut prod.rng);
                self.create_event(
                    producer,
                    NewRecord {
                        key: j.key,
                        part_in_topic,
                        size: EMIT_BYTES,
                        event_type,
                        origin: Some((j.origin, j.origin_created_ns)),
                        value: None,
                        intended_ns: None,
                    },
                );
            }
            return self.finish(job, CallOutcome::Ok);
        };
        let callee = spec.callee;
        let caller = Caller::Job {
            job,
            token: j.token,
        };
        let origin = (j.origin, j.origin_created_ns);
        let call = self.new_call(caller, j.service, callee, j.next, false, origin, j.key);
        self.send_attempt(call);
    }

    /// Send a call's next attempt (unless its breaker is open).
    fn send_attempt(&mut self, call: u32) {
        let now = self.now();
        let c = &self.sync.calls[call as usize];
        let (caller, callee) = (c.caller_service, c.callee);
        let spec = &mut self.sync.services[caller as usize].calls[c.spec as usize];
        let timeout = spec.timeout_ns;
        if let Some(b) = &mut spec.breaker {
            let open = now < b.open_until;
            let half_open = !open && b.consecutive >= b.failures;
            if open || (half_open && b.trial) {
                let c = &mut self.sync.calls[call as usize];
                c.tries += 1;
                c.sent_ns = now;
                return self.attempt_ended(call, CallOutcome::BreakerOpen);
            }
            if half_open {
                b.trial = true;
            }
        }
        let attempt = self.sync.next_serial();
        let (from, to) = (
            self.sync.services[caller as usize].node,
            self.sync.services[callee as usize].node,
        );
        let c = &mut self.sync.calls[call as usize];
        c.tries += 1;
        c.attempt = attempt;
        c.sent_ns = now;
        if let Some(at) = self.net.deliver_direct(now, from, to) {
            self.sync.calls[call as usize].in_flight += 1;
            self.kernel
                .schedule_at(at, Ev::CallArrive { call, attempt });
        }
        self.kernel
            .schedule_at(now + timeout, Ev::CallTimeout { call, attempt });
    }

    /// Answer attempt `attempt` of `call` from service `from`: the reply
    /// crosses the network back (a client outside gets it at once).
    fn reply_to(&mut self, call: u32, attempt: u32, from: u32, answer: CallOutcome) {
        let c = &self.sync.calls[call as usize];
        if !c.live || c.attempt != attempt {
            return; // the caller stopped waiting: nobody reads the reply
        }
        let Some(to) = self.sync.caller_node(call) else {
            return self.attempt_ended(call, answer);
        };
        let now = self.now();
        let from = self.sync.services[from as usize].node;
        if let Some(at) = self.net.deliver_direct(now, from, to) {
            self.kernel.schedule_at(
                at,
                Ev::CallReply {
                    call,
                    attempt,
                    answer,
                },
            );
        }
    }

    /// A reply reaches its caller.
    pub(crate) fn on_call_reply(&mut self, call: u32, attempt: u32, answer: CallOutcome) {
        let c = &self.sync.calls[call as usize];
        if c.live && c.attempt == attempt {
            self.attempt_ended(call, answer);
        }
    }

    /// An attempt's timeout.
    pub(crate) fn on_call_timeout(&mut self, call: u32, attempt: u32) {
        let c = &self.sync.calls[call as usize];
        if c.live && c.attempt == attempt {
            self.attempt_ended(call, CallOutcome::Timeout);
        }
    }

    /// A call's backoff is over.
    pub(crate) fn on_call_retry(&mut self, call: u32, attempt: u32) {
        let c = &self.sync.calls[call as usize];
        if c.live && c.attempt == attempt {
            self.send_attempt(call);
        }
    }

    /// The attempt in flight ended with `outcome`: retry, or the call is done.
    fn attempt_ended(&mut self, call: u32, outcome: CallOutcome) {
        let now = self.now();
        let c = &mut self.sync.calls[call as usize];
        c.attempt = 0;
        let latency_ns = now - c.sent_ns;
        let (caller, spec, tries) = (c.caller_service, c.spec, c.tries);
        let (service, origin, compensation) = (c.callee, c.origin, c.compensation);
        self.observe(Observation::CallEnded {
            service,
            caller,
            origin,
            attempt: tries,
            outcome,
            compensation,
            latency_ns,
        });
        let mut retry_in = None;
        if caller != OUTSIDE {
            let spec = &mut self.sync.services[caller as usize].calls[spec as usize];
            if let Some(b) = &mut spec.breaker
                && outcome != CallOutcome::BreakerOpen
            {
                b.trial = false;
                if outcome.answered() {
                    b.consecutive = 0;
                } else {
                    b.consecutive = b.consecutive.saturating_add(1);
                    if b.consecutive >= b.failures {
                        b.open_until = now.saturating_add(b.open_ns);
                    }
                }
            }
            if matches!(outcome, CallOutcome::Error | CallOutcome::Timeout) && tries <= spec.retries
            {
                let doublings = (tries - 1).min(20);
                retry_in = Some(spec.backoff_ns.saturating_mul(1 << doublings));
            }
        }
        match retry_in {
            Some(backoff) => {
                let attempt = self.sync.next_serial();
                self.sync.calls[call as usize].attempt = attempt;
                self.kernel
                    .schedule_in(backoff, Ev::CallRetry { call, attempt });
            }
            None => self.call_done(call, outcome),
        }
    }

    /// A call is over: tell the job that made it.
    fn call_done(&mut self, call: u32, outcome: CallOutcome) {
        let c = &mut self.sync.calls[call as usize];
        c.live = false;
        let (caller, spec, compensation) = (c.caller, c.spec, c.compensation);
        self.sync.live_calls -= 1;
        self.maybe_free_call(call);
        if let Caller::Job { job, token } = caller
            && self.sync.jobs[job as usize].token == token
        {
            self.job_call_done(job, spec, compensation, outcome);
        }
    }

    fn job_call_done(&mut self, job: u32, i: u32, compensation: bool, outcome: CallOutcome) {
        let j = &mut self.sync.jobs[job as usize];
        if compensation {
            // Undone or not (a failed undo leaves its effect in place),
            // the job moves on to the one before.
            j.done &= !(1 << i);
            return self.undo_next(job);
        }
        let sv = &self.sync.services[j.service as usize];
        let spec = &sv.calls[i as usize];
        match outcome {
            CallOutcome::Ok => {
                if self.sync.services[spec.callee as usize]
                    .compensation
                    .is_some()
                {
                    j.done |= 1 << i;
                }
                j.next = i + 1;
                self.next_call(job);
            }
            CallOutcome::Failed => self.finish(job, CallOutcome::Failed),
            _ if spec.optional => {
                // Degrade: go on without it.
                j.next = i + 1;
                self.next_call(job);
            }
            _ => self.finish(job, CallOutcome::Error),
        }
    }

    /// The job's outcome is decided: undo what succeeded first if it failed.
    fn finish(&mut self, job: u32, answer: CallOutcome) {
        let j = &mut self.sync.jobs[job as usize];
        j.answer = answer;
        self.undo_next(job);
    }

    /// Undo the last call that succeeded, or answer when none is left
    /// (or the job succeeded).
    fn undo_next(&mut self, job: u32) {
        let j = self.sync.jobs[job as usize];
        if j.answer == CallOutcome::Ok || j.done == 0 {
            return self.answer(job);
        }
        let i = 31 - j.done.leading_zeros();
        let callee = self.sync.services[j.service as usize].calls[i as usize].callee;
        let caller = Caller::Job {
            job,
            token: j.token,
        };
        let origin = (j.origin, j.origin_created_ns);
        let call = self.new_call(caller, j.service, callee, i, true, origin, j.key);
        self.send_attempt(call);
    }

    /// Send the job's answer and free its worker.
    fn answer(&mut self, job: u32) {
        let j = self.sync.jobs[job as usize];
        let sv = &mut self.sync.services[j.service as usize];
        if !j.compensation
            && let Some(store) = &mut sv.store
        {
            if j.answer.answered() {
                store.insert(j.origin, Some(j.answer));
            } else {
                store.remove(&j.origin);
            }
        }
        self.free_job(job);
        let sv = &mut self.sync.services[j.service as usize];
        sv.busy -= 1;
        if let Some(next) = sv.queue.pop_front() {
            self.start_job(next);
        }
        self.reply_to(j.call, j.attempt, j.service, j.answer);
    }

    fn free_job(&mut self, job: u32) {
        let sync = &mut self.sync;
        sync.jobs[job as usize].token = 0;
        sync.free_jobs.push(job);
        sync.live_jobs -= 1;
    }

    /// A service crashes: the requests in its hands and its calls under
    /// way are lost (their callers will time out); its store survives,
    /// except the marks of requests it was handling.
    pub(crate) fn crash_service(&mut self, s: u32) {
        for job in 0..self.sync.jobs.len() as u32 {
            let j = self.sync.jobs[job as usize];
            if j.token == 0 || j.service != s {
                continue;
            }
            if let Some(store) = &mut self.sync.services[s as usize].store
                && store.get(&j.origin) == Some(&None)
            {
                store.remove(&j.origin);
            }
            self.free_job(job);
        }
        for call in 0..self.sync.calls.len() as u32 {
            let c = &mut self.sync.calls[call as usize];
            if c.live && c.caller_service == s {
                c.live = false;
                self.sync.live_calls -= 1;
                self.maybe_free_call(call);
            }
        }
        let sv = &mut self.sync.services[s as usize];
        sv.busy = 0;
        sv.queue.clear();
        // Its circuit breakers were in its memory: they start closed.
        for b in sv.calls.iter_mut().filter_map(|c| c.breaker.as_mut()) {
            b.consecutive = 0;
            b.open_until = 0;
            b.trial = false;
        }
    }

    /// An attempt reached a crashed service: the connection is refused.
    pub(crate) fn call_refused(&mut self, call: u32, attempt: u32) {
        let c = &mut self.sync.calls[call as usize];
        c.in_flight -= 1;
        let callee = c.callee;
        self.reply_to(call, attempt, callee, CallOutcome::Error);
        self.maybe_free_call(call);
    }
}

/// Build the runtime of the scenario's services: `types` interns event
/// types, `keys` gives a key prefix's first id, `emitters` each service's
/// Kafka producer (by service index), `first_node` the first service's node.
pub(crate) fn build_services(
    s: &crate::scenario::Scenario,
    seed: u64,
    types: &mut dyn FnMut(&str) -> u16,
    keys: &crate::history::KeySpace,
    emitters: &[Option<u32>],
    first_node: u32,
) -> SyncRt {
    use crate::kernel::{NS_PER_S, rng_stream};
    let index = |name: &str| {
        s.services
            .iter()
            .position(|x| x.name == name)
            .expect("validated: calls name services") as u32
    };
    let services = s
        .services
        .iter()
        .enumerate()
        .map(|(i, sv)| ServiceRt {
            node: Node(first_node + i as u32),
            workers: sv.workers,
            busy: 0,
            queue_cap: sv.queue,
            queue: VecDeque::new(),
            processing: Sampler::new(&sv.processing),
            rng: rng_stream(seed, &format!("service/{}", sv.name)),
            front: sv.requests.as_ref().map(|r| {
                Box::new(FrontDoor {
                    mean_gap_ns: NS_PER_S as f64 / r.rate,
                    stop_ns: r.stop.map_or(s.duration_ns(), |d| d.ns()),
                    keys: KeySampler::new(&r.keys),
                    first_key: keys.base(&r.key_prefix),
                    event_type: types(&r.event_type),
                    timeout_ns: r.timeout.ns(),
                    rng: rng_stream(seed, &format!("service/{}/requests", sv.name)),
                })
            }),
            success: sv.success.as_deref().map(&mut *types),
            failure: sv
                .failure
                .as_ref()
                .map(|f| (types(&f.event_type), f.probability)),
            compensation: sv.compensation.as_deref().map(&mut *types),
            store: sv.idempotent.then(Default::default),
            calls: sv
                .calls
                .iter()
                .map(|c| CallSpecRt {
                    callee: index(&c.service),
                    timeout_ns: c.timeout.ns(),
                    retries: c.retries,
                    backoff_ns: c.backoff.ns(),
                    optional: c.optional,
                    breaker: c.breaker.as_ref().map(|b| BreakerRt {
                        failures: b.failures,
                        open_ns: b.open.ns(),
                        consecutive: 0,
                        open_until: 0,
                        trial: false,
                    }),
                })
                .collect(),
            emit: sv
                .emit
                .as_ref()
                .zip(emitters[i])
                .map(|(e, p)| (p, types(&e.event_type))),
        })
        .collect();
    SyncRt {
        services,
        ..SyncRt::default()
    }
}
