//! The Kafka-like model: producers, brokers with replicated partition logs,
//! consumer groups and the services they feed, connected by a network.
//!
//! Components live in `Vec`s indexed by plain `u32` ids; the kernel's events
//! (`Ev`) are small `Copy` values that name the component they wake, and
//! `World::dispatch` sends each to one handler. The model reports what
//! happens as [`Observation`]s and never checks itself.
//!
//! Files: `producer.rs` (accumulator, requests, retries, idempotence),
//! `broker.rs` (append, replication, ISR, high watermark, retention),
//! `group.rs` (coordinator, rebalances, commits), `consumer.rs` (fetch, poll,
//! process, effects, emission), `network.rs` (latency and per-link FIFO).

pub mod assign;
mod backoff;
mod broker;
mod buffer;
mod build;
mod clock;
mod consumer;
mod controller;
mod disk;
mod dist;
mod effects;
pub mod faults;
mod group;
mod hit;
pub use crate::outcome::{FaultHit, FaultRecord, RunResult};
mod idxset;
mod keymap;
mod network;
pub mod partitioner;
mod producer;
mod release;
mod saga;
mod schema;
mod service;
mod txn;
mod unfinished;
pub mod variates;
mod window;

use crate::history::{Catalog, EventId, KeyId, Observation, Observer};
use crate::kernel::{Kernel, StopReason, Time};
use crate::metrics::Metrics;
use crate::scenario::{Fault, Scenario};

pub(crate) use broker::{BrokerRt, PartitionRt};
pub(crate) use consumer::ConsumerRt;
pub(crate) use faults::{FaultRt, NodeState};
pub(crate) use group::GroupRt;
pub(crate) use network::Network;
pub(crate) use producer::{ProducerRt, Request};

/// A kernel event: which component to wake and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ev {
    /// A producer's arrival process fires: create the next event.
    Arrival { producer: u32 },
    /// A producer's `send()` blocked for room in its buffer gives up
    /// (`max.block.ms`) if it still blocks.
    MaxBlock { producer: u32 },
    /// A saga's step got no reply within the orchestrator's timeout.
    SagaTimeout {
        group: u32,
        origin: EventId,
        step: u32,
    },
    /// A front door's next request arrives from outside.
    Request { service: u32 },
    /// An attempt of a synchronous call reaches the callee.
    CallArrive { call: u32, attempt: u32 },
    /// A service's worker finished its own part of a request.
    JobProcessed { job: u32, token: u32 },
    /// A call's reply reaches the caller.
    CallReply {
        call: u32,
        attempt: u32,
        answer: crate::history::CallOutcome,
    },
    /// An attempt got no reply within the caller's timeout.
    CallTimeout { call: u32, attempt: u32 },
    /// A call's backoff is over: try again.
    CallRetry { call: u32, attempt: u32 },
    /// A producer's linger time for a partition's batch ran out.
    Linger { producer: u32, part: u32 },
    /// A producer checks its in-flight requests for `request_timeout`.
    TimeoutCheck { producer: u32 },
    /// A failed request's backoff is over: send it again.
    Retry { req: u32 },
    /// A produce request reaches the broker the producer took for leader.
    ProduceArrive { req: u32, attempt: u32, broker: u32 },
    /// The leader finished appending a request (after the capacity queue).
    AppendDone { req: u32, attempt: u32, broker: u32 },
    /// The connection of a produce attempt dropped after the request arrived
    /// (a `duplicate` fault): the response will not come.
    ProduceDisconnect { req: u32, attempt: u32 },
    /// A produce response reaches the producer.
    ProduceResponse {
        req: u32,
        attempt: u32,
        result: ProduceResult,
    },
    /// A follower's fetch reaches the leader. `generation` names the
    /// follower's fetch loop; a loop is replaced when leadership changes or
    /// the follower restarts, and the old one's events are ignored.
    ReplicaFetchArrive {
        part: u32,
        replica: u32,
        generation: u32,
    },
    /// The leader's fetch response reaches the follower.
    ReplicaFetchResponse {
        part: u32,
        replica: u32,
        generation: u32,
    },
    /// The follower finished appending fetched records.
    ReplicaAppendDone {
        part: u32,
        replica: u32,
        generation: u32,
    },
    /// A follower's fetch got no answer within the request timeout: fetch again.
    ReplicaFetchResend {
        part: u32,
        replica: u32,
        generation: u32,
    },
    /// A consumer's fetch reaches the broker it took for the partition leader.
    ConsumerFetchArrive {
        consumer: u32,
        part: u32,
        epoch: u32,
        broker: u32,
    },
    /// A consumer's fetch failed or timed out: fetch again.
    FetchRetry {
        consumer: u32,
        part: u32,
        epoch: u32,
    },
    /// Fetched records reach the consumer.
    ConsumerFetchResponse {
        consumer: u32,
        part: u32,
        epoch: u32,
    },
    /// A consumer finished processing its current event.
    ProcessDone { consumer: u32, token: u32 },
    /// A consumer's auto-commit interval elapsed.
    AutoCommit { consumer: u32, token: u32 },
    /// A group's consumers join for the first time.
    GroupStart { group: u32 },
    /// A transaction's `transaction_interval` is over: commit it.
    TxnCommitDue { producer: u32, token: u32 },
    /// Send EndTxn again (the coordinator was unreachable).
    EndTxnSend { producer: u32, token: u32 },
    /// The producer's EndTxn of transaction `number` is still unanswered
    /// after its request timeout: it sends it again (scheduled only for a
    /// request the network delays past its timeout).
    EndTxnTimeout {
        producer: u32,
        token: u32,
        number: u32,
    },
    /// EndTxn reaches the transaction coordinator.
    EndTxnArrive {
        producer: u32,
        number: u32,
        commit: bool,
    },
    /// The coordinator's answer to EndTxn reaches the producer.
    EndTxnResponse {
        producer: u32,
        number: u32,
        committed: bool,
    },
    /// The coordinator (re)sends a transaction marker to a partition leader.
    TxnMarkerSend {
        producer: u32,
        number: u32,
        part: u32,
    },
    /// A transaction marker reaches the broker the coordinator took for the leader.
    TxnMarkerArrive {
        producer: u32,
        number: u32,
        part: u32,
        broker: u32,
    },
    /// The coordinator completed the previous transaction: the next may begin.
    TxnReady { producer: u32, token: u32 },
    /// A member learned of a rebalance round and sends JoinGroup.
    JoinGroup {
        group: u32,
        generation: u32,
        consumer: u32,
    },
    /// A rebalance's join and sync rounds are over.
    RebalanceDone { group: u32, generation: u32 },
    /// Periodic housekeeping: sessions, ISR, retention, end-of-run detection.
    Tick,
    /// A fault of the plan fires.
    FaultStart { fault: u32 },
    /// A fault's duration is over (a crashed node restarts).
    FaultEnd { fault: u32 },
}

/// Outcome of a produce request, as the broker answers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProduceResult {
    Ok,
    /// Idempotent producer: the batch was already in the log.
    Duplicate,
    /// acks=all, before the append: the ISR is below `min_insync_replicas`.
    NotEnoughReplicas,
    /// acks=all, at completion: the records are in the log, but the ISR
    /// shrank below `min_insync_replicas` before the high watermark passed them.
    NotEnoughReplicasAfterAppend,
    OutOfOrderSequence,
    /// Idempotent producer: the partition has seen a newer epoch.
    InvalidProducerEpoch,
    /// Transactional producer: the record's transaction is no longer
    /// ongoing (aborted by the coordinator; KIP-890's verification).
    InvalidTxnState,
    /// A record's CreateTime is further from the leader's clock than the
    /// topic allows (KIP-937's bounds): the batch fails, not retried.
    InvalidTimestamp,
    /// The broker does not lead the partition (or is gone): refresh and retry.
    NotLeader,
}

/// What one event is, kept while any part of the model can reach it:
/// 44 bytes (4-byte alignment, so the 64-bit fields leave no padding).
#[derive(Clone, Copy, Debug)]
#[repr(C, packed(4))]
pub(crate) struct EventMeta {
    pub created_ns: Time,
    /// When the origin of its causal chain was created (its own
    /// `created_ns` for an origin): kept here because the origin's own
    /// record may be released long before.
    pub origin_created_ns: Time,
    pub origin: EventId,
    pub key: KeyId,
    /// Per-key version: 1 for the key's first event in the run, and so on.
    pub version: u32,
    /// The amount a `sum` effect adds / the value a `last-write` stores.
    pub value: u32,
    /// Payload size in bytes.
    pub size: u32,
    pub event_type: u16,
    /// The producer (or emitter) that created it.
    pub producer: u16,
}

/// Period of the housekeeping tick.
pub(crate) const TICK_NS: Time = 100_000_000;

/// Behaviours that changed between Kafka versions (`[cluster] version`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Versions {
    /// Consumers detect truncation by leader epoch (KIP-320, Kafka 2.1+).
    pub kip320: bool,
    /// Leaders verify a transactional record's transaction with the
    /// coordinator (KIP-890 part 1, Kafka 3.6+).
    pub kip890: bool,
    /// The epoch is bumped per transaction (KIP-890 part 2, Kafka 4.0+).
    pub txn_v2: bool,
}

impl Versions {
    pub(crate) fn of(c: &crate::scenario::Cluster) -> Versions {
        Versions {
            kip320: c.kip320(),
            kip890: c.kip890(),
            txn_v2: c.txn_v2(),
        }
    }
}

/// The simulated system and its clock.
pub struct World {
    pub(crate) kernel: Kernel<Ev>,
    pub(crate) catalog: Catalog,
    pub(crate) scenario_name: String,
    pub(crate) seed: u64,
    pub(crate) net: Network,
    /// The brokers and the partitions they replicate.
    pub(crate) cluster: broker::Cluster,
    pub(crate) producers: Vec<ProducerRt>,
    pub(crate) requests: Vec<Request>,
    pub(crate) free_requests: Vec<u32>,
    /// Event records, indexed by event id; those no part of the model can
    /// reach any more are released (`World::release`).
    pub(crate) events: window::Window<EventMeta>,
    /// Release again once this many event records are held.
    pub(crate) release_at: usize,
    /// Fewest records added between two releases, and how often (a mask
    /// of the kernel event count) to look: see `release.rs`.
    pub(crate) release_min: usize,
    pub(crate) release_mask: u64,
    /// Set every held record below the newest aside (tests: the hardest
    /// case for the window's lookups).
    pub(crate) release_aside_all: bool,
    pub(crate) key_versions: keymap::KeyMap<u32>,
    pub(crate) groups: Vec<GroupRt>,
    pub(crate) consumers: Vec<ConsumerRt>,
    pub(crate) metrics: Metrics,
    pub(crate) series: crate::timeseries::TimeSeries,
    pub(crate) observers: Vec<Box<dyn Observer>>,
    /// The invariant checkers, called directly (not through `observers`)
    /// so that each call site's observation folds their dispatch by kind.
    pub(crate) checks: Option<Box<crate::check::Checks>>,
    pub(crate) production_end_ns: Time,
    pub(crate) next_part_epoch: u32,
    pub(crate) stop: Option<StopReason>,
    /// Mixed into each business outcome's hash (from the seed, on a
    /// stream of its own: no other draw moves).
    pub(crate) outcome_salt: u64,
    /// Services called synchronously (`[[services]]`), their calls and jobs.
    pub(crate) sync: service::SyncRt,
    /// Node id of the first service.
    pub(crate) first_service_node: u32,
    /// Node id of the first dedicated controller (after the services).
    pub(crate) first_controller_node: u32,
    /// The metadata quorum (KRaft controllers).
    pub(crate) quorum: controller::Quorum,
    /// Behaviours that changed between Kafka versions.
    pub(crate) versions: Versions,
    /// Schema evolution (`None`: no producer changes its schema).
    pub(crate) schema: Option<Box<schema::SchemaRt>>,
    pub(crate) ticks: u64,
    // Faults.
    pub(crate) node_state: Vec<NodeState>,
    /// Nodes not up (fast path: 0 means every node runs).
    pub(crate) down_nodes: u32,
    pub(crate) faults: Vec<FaultRt>,
    /// Active handler-errors and poison faults.
    pub(crate) handler_faults: Vec<u32>,
    /// Fault starts and ends still to come within the run's budget.
    pub(crate) pending_fault_events: u32,
    pub(crate) fault_log: Vec<FaultRecord>,
    pub(crate) fetch_timeout_ns: Time,
    pub(crate) broker_session_ns: Time,
    /// Serial of the next transaction marker (markers are unique log entries).
    pub(crate) next_marker: u32,
    /// Producers with a node of their own (numbered first); consumers'
    /// transactional producers (`in-transaction`) follow them and live on
    /// their consumer's node.
    pub(crate) producer_nodes: u32,
    /// Told (simulated now, simulated end) every 65,536 kernel events.
    pub(crate) progress: Option<Box<dyn FnMut(Time, Time)>>,
    /// The memory budget (bytes of resident memory) the run stops at.
    pub(crate) max_memory: u64,
    /// Set from outside (a Ctrl-C handler): the run stops at its next
    /// check, every 65,536 kernel events.
    pub(crate) interrupt: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Some objective bounds a group's latency: the unfinished records'
    /// ages are kept at the end.
    pub(crate) unfinished_ages: bool,
    /// Effects buffers, reused (one per level of nesting).
    pub(crate) effects: Vec<effects::Effects>,
}

impl World {
    /// Build the world for `scenario` with master seed `seed`.
    pub fn new(scenario: &Scenario, seed: u64) -> World {
        crate::bug::running(&scenario.scenario.name, seed);
        build::build(scenario, seed)
    }

    /// Be told (simulated time now, simulated time budget) every 65,536
    /// kernel events: for progress bars. Nothing of the run depends on it.
    pub fn set_progress(&mut self, f: Box<dyn FnMut(Time, Time)>) {
        self.progress = Some(f);
    }

    /// Release what the run can no longer reach far more often than
    /// needed (every 64 kernel events, and whenever 64 more event records
    /// are held), setting aside every record still held: for tests that
    /// check releasing changes no output.
    #[doc(hidden)]
    pub fn release_often(&mut self) {
        self.release_min = 64;
        self.release_mask = 63;
        self.release_at = 64;
        self.release_aside_all = true;
    }

    /// Stop (as `interrupted`) at the next check after `flag` is set.
    pub fn set_interrupt(&mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.interrupt = Some(flag);
    }

    /// End the run after `events` kernel events (as `kernel-events-max`),
    /// if it would go on longer: replays a cut run to the same point.
    pub fn cut_at(&mut self, events: u64) {
        self.kernel.cut_at(events);
    }

    /// Add an observer of the history (metrics are always observed).
    pub fn add_observer(&mut self, observer: Box<dyn Observer>) {
        self.observers.push(observer);
    }

    /// Check the run with `checks` (told each observation before the other
    /// observers); [`World::run_with_checks`] hands them back.
    pub fn set_checks(&mut self, checks: crate::check::Checks) {
        self.checks = Some(Box::new(checks));
    }

    /// The catalog of names behind the ids in observations.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The concrete fault plan: what `FaultStarted { fault }` observations
    /// index (the schedule, then the random generator's draws).
    pub fn fault_plan(&self) -> Vec<Fault> {
        self.faults.iter().map(|f| f.spec.clone()).collect()
    }

    #[inline]
    pub(crate) fn now(&self) -> Time {
        self.kernel.now()
    }

    /// Tell the metrics, the time series and the observers. Inlined at
    /// each call site, where the observation's variant is known, so the
    /// observers' matches fold to one arm.
    #[inline(always)]
    pub(crate) fn observe(&mut self, observation: Observation) {
        let now = self.kernel.now();
        self.metrics.observe(now, &observation);
        self.series.observe(now, &observation);
        if let Some(c) = &mut self.checks {
            c.observe(now, &observation);
        }
        for o in &mut self.observers {
            o.observe(now, &observation);
        }
    }

    /// Run to the end (quiescence or a budget) and hand back the results.
    pub fn run(self) -> RunResult {
        self.run_with_checks().0
    }

    /// [`World::run`], handing back the checkers [`World::set_checks`] gave.
    pub fn run_with_checks(mut self) -> (RunResult, Option<crate::check::Checks>) {
        let reason = loop {
            match self.kernel.next_event() {
                Ok(ev) => self.dispatch(ev),
                Err(reason) => break reason,
            }
            if let Some(reason) = self.stop {
                break reason;
            }
            if self.kernel.events_processed() & self.release_mask == 0
                && self.events.live() >= self.release_at
            {
                self.release();
            }
            if self.kernel.events_processed() & 0xFFFF == 0 {
                if let Some(p) = &mut self.progress {
                    p(self.kernel.now(), self.kernel.budget().sim_time_max_ns);
                }
                if crate::budget::resident_bytes().is_some_and(|b| b > self.max_memory) {
                    break StopReason::MemoryMax;
                }
                if self.interrupted() {
                    break StopReason::Interrupted;
                }
            }
        };
        let end = self.kernel.now();
        self.series.finish(end);
        self.metrics.finish();
        let checks = self.checks.take().map(|c| *c);
        let fault_hits = self.fault_hits();
        let unfinished = self.unfinished();
        let broker_busy_ns = self.cluster.broker_busy_ns(end);
        let producer_pressure = (self.producers.iter())
            .map(|p| {
                (p.pool.as_ref()).map_or((0, 0, 0), |b| (b.blocked_ns, b.refused, b.waiting()))
            })
            .collect();
        let result = RunResult {
            fault_hits,
            series: self.series,
            scenario_name: self.scenario_name,
            seed: self.seed,
            sim_time_ns: self.kernel.now(),
            kernel_events: self.kernel.events_processed(),
            stop_reason: reason,
            log_end_offsets: self
                .cluster
                .parts
                .iter()
                .map(|p| p.leader_log().leo())
                .collect(),
            catalog: self.catalog,
            metrics: self.metrics,
            faults: self.faults.into_iter().map(|f| f.spec).collect(),
            fault_log: self.fault_log,
            production_end_ns: self.production_end_ns,
            unfinished,
            broker_busy_ns,
            producer_pressure,
        };
        (result, checks)
    }

    /// A service's kernel events (requests and calls).
    fn dispatch_service(&mut self, ev: Ev) {
        match ev {
            Ev::Request { service } => self.on_request(service),
            Ev::CallArrive { call, attempt } => self.on_call_arrive(call, attempt),
            Ev::JobProcessed { job, token } => self.on_job_processed(job, token),
            Ev::CallReply {
                call,
                attempt,
                answer,
            } => self.on_call_reply(call, attempt, answer),
            Ev::CallTimeout { call, attempt } => self.on_call_timeout(call, attempt),
            Ev::CallRetry { call, attempt } => self.on_call_retry(call, attempt),
            _ => unreachable!("dispatch routes only a service's events here"),
        }
    }

    fn dispatch(&mut self, ev: Ev) {
        if self.down_nodes > 0 && self.intercept(ev) {
            return;
        }
        match ev {
            Ev::Arrival { producer } => self.on_arrival(producer),
            Ev::SagaTimeout {
                group,
                origin,
                step,
            } => self.on_saga_timeout(group, origin, step),
            Ev::MaxBlock { producer } => self.on_max_block(producer),
            Ev::Request { .. }
            | Ev::CallArrive { .. }
            | Ev::JobProcessed { .. }
            | Ev::CallReply { .. }
            | Ev::CallTimeout { .. }
            | Ev::CallRetry { .. } => self.dispatch_service(ev),
            Ev::Linger { producer, part } => self.on_linger(producer, part),
            Ev::TimeoutCheck { producer } => self.on_timeout_check(producer),
            Ev::Retry { req } => self.on_retry(req),
            Ev::ProduceArrive {
                req,
                attempt,
                broker,
            } => self.on_produce_arrive(req, attempt, broker),
            Ev::AppendDone {
                req,
                attempt,
                broker,
            } => self.append(req, attempt, broker),
            Ev::ProduceResponse {
                req,
                attempt,
                result,
            } => self.on_produce_response(req, attempt, result),
            Ev::ProduceDisconnect { req, attempt } => self.on_produce_disconnect(req, attempt),
            Ev::ReplicaFetchArrive { .. }
            | Ev::ReplicaFetchResponse { .. }
            | Ev::ReplicaAppendDone { .. }
            | Ev::ReplicaFetchResend { .. } => {
                self.with_cluster(|c, x, out| c.on_replication(ev, x, out))
            }
            Ev::ConsumerFetchArrive {
                consumer,
                part,
                epoch,
                broker,
            } => self.on_consumer_fetch_arrive(consumer, part, epoch, broker),
            Ev::FetchRetry {
                consumer,
                part,
                epoch,
            } => self.on_fetch_retry(consumer, part, epoch),
            Ev::ConsumerFetchResponse {
                consumer,
                part,
                epoch,
            } => self.on_consumer_fetch_response(consumer, part, epoch),
            Ev::ProcessDone { consumer, token } => self.on_process_done(consumer, token),
            Ev::AutoCommit { consumer, token } => self.on_auto_commit(consumer, token),
            Ev::GroupStart { group } => self.on_group_start(group),
            Ev::RebalanceDone { group, generation } => self.on_rebalance_done(group, generation),
            Ev::JoinGroup {
                group,
                generation,
                consumer,
            } => self.on_join_group(group, generation, consumer),
            Ev::TxnCommitDue { producer, token } => self.on_txn_commit_due(producer, token),
            Ev::EndTxnSend { .. }
            | Ev::EndTxnTimeout { .. }
            | Ev::EndTxnArrive { .. }
            | Ev::EndTxnResponse { .. } => self.dispatch_end_txn(ev),
            Ev::TxnMarkerSend {
                producer,
                number,
                part,
            } => self.send_marker(producer, number, part),
            Ev::TxnMarkerArrive {
                producer,
                number,
                part,
                broker,
            } => self.on_txn_marker_arrive(producer, number, part, broker),
            Ev::TxnReady { producer, token } => self.on_txn_ready(producer, token),
            Ev::Tick => self.on_tick(),
            Ev::FaultStart { fault } => self.on_fault_start(fault),
            Ev::FaultEnd { fault } => self.on_fault_end(fault),
        }
    }

    /// Let the brokers handle something: `f` gets them, what they may
    /// read of the rest of the world, and an empty effects buffer, whose
    /// effects are then carried out in order ([`World::apply`]).
    #[inline]
    pub(crate) fn with_cluster<R>(
        &mut self,
        f: impl FnOnce(&mut broker::Cluster, &effects::Ctx, &mut effects::Effects) -> R,
    ) -> R {
        let mut out = self.effects.pop().unwrap_or_default();
        let World {
            cluster,
            kernel,
            net,
            events,
            quorum,
            node_state,
            down_nodes,
            ..
        } = self;
        let x = effects::Ctx::new(kernel.now(), net, events, quorum, node_state, *down_nodes);
        let r = f(cluster, &x, &mut out);
        self.apply(&mut out);
        self.effects.push(out);
        r
    }

    /// What a component may read of the world now.
    pub(crate) fn ctx(&self) -> effects::Ctx<'_> {
        let (now, net, quorum) = (self.kernel.now(), &self.net, &self.quorum);
        effects::Ctx::new(
            now,
            net,
            &self.events,
            quorum,
            &self.node_state,
            self.down_nodes,
        )
    }

    /// Tell an observation a component asked for. The replication loop's
    /// are rebuilt in arms of their own, so that `observe` folds the
    /// observers' matches there as it does at the model's own call sites.
    #[inline]
    fn observe_effect(&mut self, o: Observation) {
        // The partition's invariants, where its ISR or leader changed (the
        // high watermark's own step asserts it stays within the log).
        if let Observation::IsrChanged { partition, .. }
        | Observation::LeaderElected { partition, .. } = o
        {
            let p = &self.cluster.parts[partition as usize];
            let b = p.leader_broker();
            let serving = !self.cluster.brokers[b as usize].fenced && self.ctx().broker_up(b);
            p.assert_invariants(partition, serving);
        }
        match o {
            Observation::HighWatermark { partition, offset } => {
                self.observe(Observation::HighWatermark { partition, offset })
            }
            Observation::Replicated {
                partition,
                broker,
                end_offset,
            } => self.observe(Observation::Replicated {
                partition,
                broker,
                end_offset,
            }),
            o => self.observe(o),
        }
    }

    /// Send a message of `bytes` bytes from `from` to `to`: `ev` wakes its
    /// receiver when it arrives. If the network loses it, `lost` (a delay
    /// and an event) wakes the sender instead, that long from now.
    /// Whether it will arrive.
    pub(crate) fn send(
        &mut self,
        from: network::Node,
        to: network::Node,
        bytes: u64,
        ev: Ev,
        lost: Option<(Time, Ev)>,
    ) -> bool {
        match self.net.deliver_at(self.kernel.now(), from, to, bytes) {
            Some(at) => {
                self.kernel.schedule_at(at, ev);
                true
            }
            None => {
                if let Some((delay, ev)) = lost {
                    self.kernel.schedule_in(delay, ev);
                }
                false
            }
        }
    }

    /// Carry out what a component asked for, in order. A component never
    /// reaches the others; this is where its requests do.
    fn apply(&mut self, out: &mut effects::Effects) {
        use effects::Effect;
        for e in out.drain() {
            match e {
                Effect::Send {
                    from,
                    to,
                    bytes,
                    ev,
                    lost,
                } => {
                    self.send(from, to, bytes, ev, lost);
                }
                Effect::Wake { at, ev } => self.kernel.schedule_at(at, ev),
                Effect::Observe(o) => self.observe_effect(o),
                Effect::Answer {
                    broker,
                    req,
                    attempt,
                    result,
                } => {
                    self.requests[req as usize].copies -= 1;
                    self.respond(broker, req, attempt, result);
                    self.maybe_free(req);
                }
                Effect::ServeFetch {
                    consumer,
                    part,
                    epoch,
                } => self.serve_consumer_fetch(consumer, part, epoch),
                Effect::Removed {
                    event,
                    part,
                    offset,
                    compacted,
                } => self.on_removed(event, part, offset, compacted),
                Effect::MarkerWritten { producer, number } => {
                    self.on_marker_written(producer, number)
                }
            }
        }
    }

    fn on_tick(&mut self) {
        self.ticks += 1;
        self.check_sessions();
        self.with_cluster(|c, x, out| c.maintain_isr(x, out));
        if self.cluster.disk.is_some() {
            self.disk_tick();
        }
        self.expire_transactions();
        if self.ticks.is_multiple_of(10) {
            self.with_cluster(|c, x, out| c.apply_retention(x, out));
            self.with_cluster(|c, x, out| c.compact_logs(x, out));
        }
        if self.now() >= self.production_end_ns && self.quiescent() {
            self.stop = Some(StopReason::Quiescent);
            return;
        }
        self.kernel.schedule_in(TICK_NS, Ev::Tick);
        // A tick walks what a large model holds (groups' members, retention):
        // an interrupt is seen here too, not only every 65,536 events. The
        // run stops after a whole event, so `cut_at` replays it.
        if self.interrupted() {
            self.stop = Some(StopReason::Interrupted);
        }
    }

    fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Nothing left to happen: producers done, every record replicated and
    /// every group caught up with every partition.
    fn quiescent(&self) -> bool {
        self.pending_fault_events == 0
            && self.sync.idle()
            && self.producers.iter().all(|p| p.idle())
            && self.cluster.parts.iter().all(|p| p.fully_replicated())
            && self
                .groups
                .iter()
                .enumerate()
                .all(|(g, _)| self.group_caught_up(g as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One producer into two partitions read by one group.
    fn pipeline(duration: &str, rate: u32) -> crate::scenario::Scenario {
        crate::scenario::Scenario::parse(
            &format!(
                "[scenario]\nname = \"t\"\nduration = \"{duration}\"\n\
                 [[topics]]\nname = \"t\"\npartitions = 2\n\
                 [[producers]]\nname = \"p\"\ntopic = \"t\"\nrate = {rate}\n\
                 [[groups]]\nname = \"g\"\ntopics = [\"t\"]\n"
            ),
            "t.toml",
        )
        .unwrap()
    }

    #[test]
    fn an_interrupted_run_stops_at_its_next_tick_and_replays_to_the_same_event() {
        let s = pipeline("1000s", 1000);
        let mut w = World::new(&s, 1);
        w.set_interrupt(std::sync::Arc::new(std::sync::atomic::AtomicBool::new(
            true,
        )));
        let cut = w.run();
        assert_eq!(cut.stop_reason, StopReason::Interrupted);
        // The first tick sees it, long before the 65,536th event.
        assert_eq!(cut.sim_time_ns, TICK_NS);
        assert!(cut.kernel_events < 1 << 16, "{}", cut.kernel_events);
        let mut again = World::new(&s, 1);
        again.cut_at(cut.kernel_events);
        let replay = again.run();
        assert_eq!(replay.kernel_events, cut.kernel_events);
        assert_eq!(replay.sim_time_ns, cut.sim_time_ns);
        assert_eq!(replay.metrics.counts.applied, cut.metrics.counts.applied);
    }

    #[test]
    fn a_tick_looks_only_at_partitions_whose_followers_are_fetching() {
        let s = crate::scenario::Scenario::parse(
            "[scenario]\nname = \"t\"\nduration = \"10s\"\n\
             [cluster]\nbrokers = 3\n\
             [[topics]]\nname = \"t\"\npartitions = 200\nreplication_factor = 3\n\
             [[producers]]\nname = \"p\"\ntopic = \"t\"\nrate = 2\n",
            "t.toml",
        )
        .unwrap();
        let mut w = World::new(&s, 1);
        let mut watched = Vec::new();
        while w.now() < 8 * 1_000_000_000 {
            let ticks = w.ticks;
            let ev = w.kernel.next_event().expect("the run goes on");
            w.dispatch(ev);
            if w.ticks > ticks {
                watched.push(w.cluster.isr_watch.watched());
            }
        }
        // The first tick sees every partition; later ones only those a
        // record reached in the last 100 ms (2 records a second).
        assert_eq!(watched[0], 0, "every follower parks at the empty log end");
        assert!(watched.iter().all(|&n| n <= 2), "{watched:?}");
        // Idle followers stay in sync: parked is caught up.
        assert!(w.cluster.parts.iter().all(|p| p.isr_count() == 3));
    }

    #[test]
    fn an_event_costs_44_bytes() {
        // Kept for every live event: its size is most of the run's memory
        // per live event (docs/performance.md).
        assert_eq!(std::mem::size_of::<EventMeta>(), 44);
    }

    #[test]
    fn a_run_over_its_memory_budget_stops_cleanly_and_is_inconclusive() {
        let s = pipeline("10s", 10000);
        let whole = World::new(&s, 1).run();
        assert_ne!(whole.stop_reason, StopReason::MemoryMax);
        assert!(whole.kernel_events > 1 << 16);
        let mut w = World::new(&s, 1);
        w.max_memory = 1;
        let cut = w.run();
        assert_eq!(cut.stop_reason, StopReason::MemoryMax);
        assert_eq!(cut.kernel_events, 1 << 16, "checked every 65,536 events");
        assert!(cut.stop_reason.is_budget());
        let (verdict, note) = crate::check::verdict(&[], cut.stop_reason);
        assert_eq!(verdict, crate::check::Verdict::Inconclusive);
        assert!(note.unwrap().contains("memory budget"));
    }
}
