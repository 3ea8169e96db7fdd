//! Faults: the concrete fault plan (the scenario's schedule plus what the
//! random generator drew), the kernel events that start and end each
//! fault, node states (up, crashed, paused) and what each fault does
//! through the model's own mechanisms.
//!
//! A fault never decides an outcome. A crash throws away a node's
//! in-memory state and its messages; a pause holds a node's events back;
//! a partition drops messages. Rebalances, leader elections, truncations,
//! retries, duplicates and loss follow from the model's rules: session
//! timeouts, the ISR, commit modes, acks, idempotence.

use super::controller::QuorumChange;
use super::dist::Sampler;
pub(crate) use super::network::NodeState;
use super::network::{LinkFault, Node, NodeKind, RECONNECT_BACKOFF_NS};
use super::{Ev, World};
use crate::history::{EventId, KeyId, Observation};
use crate::kernel::{NS_PER_S, Rng, Time, rng_stream};
use crate::model::variates;
use crate::outcome::FaultRecord;
use crate::scenario::{Fault, FaultKind, NodeRef, RandomFaults, Scenario, Target};

/// One fault of the concrete plan, resolved to ids.
pub(crate) struct FaultRt {
    pub spec: Fault,
    /// Power loss: every node it strikes.
    pub nodes: Vec<u32>,
    /// Crash, pause, slow-disk: the node.
    pub node: Option<u32>,
    /// Link kinds: side membership by node id.
    pub sides: Option<(Vec<bool>, Vec<bool>)>,
    /// Handler-errors, poison: the group (`None`: every group).
    pub group: Option<u32>,
    pub poison_key: Option<KeyId>,
    pub poison_type: Option<u16>,
    pub rng: Option<Rng>,
    pub active: bool,
    /// What a node fault found when it fired.
    pub hit: Option<crate::outcome::FaultHit>,
    /// Messages a link fault struck (counted here when it ends), handler
    /// attempts a handler fault failed.
    pub struck: u64,
    /// A partition: brokers it cut off from the active controller.
    pub cut: u32,
}

/// Default hold-back of a `reorder` fault without `latency`.
const DEFAULT_REORDER_NS: Time = 10_000_000;

/// The concrete plan: the schedule, then what the random generator drew.
pub fn concrete_plan(s: &Scenario, seed: u64) -> Vec<Fault> {
    let mut plan = s.faults.schedule.clone();
    if let Some(r) = s.faults.random.as_ref().filter(|r| r.enabled) {
        plan.extend(draw_random(s, r, seed));
    }
    plan
}

/// Draw random faults: each kind from its own stream, then keep those the
/// bounds allow, in time order.
fn draw_random(s: &Scenario, r: &RandomFaults, seed: u64) -> Vec<Fault> {
    let start = r.start.ns();
    let stop = r.stop.map_or(s.duration_ns(), |d| d.ns()).max(start);
    let mut candidates: Vec<(Time, usize, usize, Fault)> = Vec::new();
    for (gi, k) in r.kinds.iter().enumerate() {
        // Named by kind and rank among generators of that kind, so that
        // adding or removing another generator leaves this one's draws alone.
        let rank = r.kinds[..gi].iter().filter(|o| o.kind == k.kind).count();
        let mut rng = rng_stream(seed, &format!("faults/random/{}/{rank}", k.kind.as_str()));
        let targets: Vec<String> = {
            let mut v = Vec::new();
            for t in &k.targets {
                if k.kind == FaultKind::HandlerErrors {
                    v.push(t.clone());
                } else if let Some(nodes) = s.expand_nodes(t) {
                    v.extend(nodes.into_iter().map(|n| s.node_name(n)));
                }
            }
            v.sort();
            v.dedup();
            v
        };
        if targets.is_empty() {
            continue;
        }
        let mut times = Vec::new();
        if let Some(rate) = k.rate {
            let mean_gap = 60.0 * NS_PER_S as f64 / rate;
            let mut t = start as f64;
            loop {
                t += variates::exp1(&mut rng) * mean_gap;
                if t >= stop as f64 {
                    break;
                }
                times.push(t as Time);
            }
        } else if let Some(chance) = k.chance
            && variates::chance(&mut rng, chance)
        {
            times.push(start + variates::below(&mut rng, stop.saturating_sub(start).max(1)));
        }
        let duration = k.duration.as_ref().map(Sampler::new);
        let restart = k.restart_after.as_ref().map(Sampler::new);
        for (n, at) in times.into_iter().enumerate() {
            let target = targets[variates::below(&mut rng, targets.len() as u64) as usize].clone();
            let mut f = Fault::new(
                k.kind,
                crate::scenario::Duration(at),
                Some(if k.kind.on_links() {
                    Target::Sides(vec![vec![target], vec!["rest".into()]])
                } else {
                    Target::Node(target)
                }),
            );
            f.duration = duration
                .as_ref()
                .map(|d| crate::scenario::Duration(d.sample(&mut rng).max(1)));
            f.restart_after = restart
                .as_ref()
                .map(|d| crate::scenario::Duration(d.sample(&mut rng).max(1)));
            f.probability = k.probability;
            f.latency = k.latency;
            f.factor = k.factor;
            candidates.push((at, gi, n, f));
        }
    }
    candidates.sort_by_key(|c| (c.0, c.1, c.2));

    // Bounds: no node struck twice at once; few enough brokers and
    // consumers down at once.
    let min_rf = s
        .topics
        .iter()
        .map(|t| t.replication_factor)
        .min()
        .unwrap_or(s.cluster.brokers);
    let max_brokers = r.max_down_brokers.unwrap_or(min_rf.saturating_sub(1));
    let mut down: Vec<(NodeRef, Time, Time)> = Vec::new();
    let mut kept = Vec::new();
    for (at, _, _, f) in candidates {
        let end = at.saturating_add(f.span().map_or(Time::MAX, |d| d.ns()));
        let struck = struck_node(s, &f);
        if let Some(node) = struck {
            let overlapping = |n: &NodeRef| -> bool {
                down.iter()
                    .filter(|(m, a, b)| m == n && *a < end && at < *b)
                    .count()
                    > 0
            };
            if overlapping(&node) {
                continue;
            }
            let concurrent = |pred: &dyn Fn(&NodeRef) -> bool| {
                down.iter()
                    .filter(|(m, a, b)| pred(m) && *a < end && at < *b)
                    .count() as u32
            };
            let allowed = match node {
                NodeRef::Broker(_) => {
                    concurrent(&|m| matches!(m, NodeRef::Broker(_))) < max_brokers
                }
                NodeRef::Consumer(g, _) => {
                    let cap = r
                        .max_down_consumers
                        .unwrap_or(s.groups[g as usize].consumers.saturating_sub(1));
                    concurrent(&|m| matches!(m, NodeRef::Consumer(h, _) if *h == g)) < cap
                }
                // Never a majority of the quorum at once: a minority.
                NodeRef::Controller(_) => {
                    concurrent(&|m| matches!(m, NodeRef::Controller(_)))
                        < s.cluster.voters().saturating_sub(1) / 2
                }
                NodeRef::Producer(_) | NodeRef::Service(_) => true,
            };
            if !allowed {
                continue;
            }
            down.push((node, at, end));
        }
        kept.push(f);
    }
    kept
}

/// The node a fault takes out of service (crash, pause, or a partition
/// that cuts one node off), for the random generator's bounds.
fn struck_node(s: &Scenario, f: &Fault) -> Option<NodeRef> {
    match (f.kind, f.target.as_ref()?) {
        (
            FaultKind::Crash | FaultKind::Pause | FaultKind::PowerLoss | FaultKind::DiskFailure,
            Target::Node(n),
        ) => s.resolve_node(n),
        (FaultKind::Partition, t) => {
            let (a, _) = t.sides()?;
            (a.len() == 1).then(|| s.resolve_node(&a[0])).flatten()
        }
        _ => None,
    }
}

impl World {
    /// Node id of a node the scenario names.
    pub(crate) fn node_id(&self, r: NodeRef) -> u32 {
        let clients = self.producer_nodes;
        match r {
            NodeRef::Producer(i) => i,
            NodeRef::Broker(b) => clients + b,
            NodeRef::Consumer(g, i) => {
                self.groups[g as usize].consumers[i as usize]
                    + clients
                    + self.cluster.brokers.len() as u32
            }
            NodeRef::Service(s) => self.first_service_node + s,
            NodeRef::Controller(c) => self.first_controller_node + c,
        }
    }

    pub(crate) fn node_kind(&self, n: u32) -> NodeKind {
        let clients = self.producer_nodes;
        let brokers = self.cluster.brokers.len() as u32;
        if n >= self.first_controller_node {
            NodeKind::Controller(n - self.first_controller_node)
        } else if n >= self.first_service_node {
            NodeKind::Service(n - self.first_service_node)
        } else if n < clients {
            NodeKind::Producer(n)
        } else if n < clients + brokers {
            NodeKind::Broker(n - clients)
        } else {
            NodeKind::Consumer(n - clients - brokers)
        }
    }

    #[inline]
    pub(crate) fn is_up(&self, n: Node) -> bool {
        self.down_nodes == 0 || self.node_state[n.0 as usize] == NodeState::Up
    }

    #[inline]
    pub(crate) fn broker_up(&self, b: u32) -> bool {
        self.is_up(self.net.broker(b))
    }

    /// Resolve the concrete plan into runtime faults and schedule their starts.
    pub(crate) fn install_faults(&mut self, s: &Scenario, plan: Vec<Fault>) {
        let nodes = self.node_state.len();
        let budget_end = self.kernel.budget().sim_time_max_ns;
        for spec in plan {
            self.install_state_for(s, spec.kind);
            let mut rt = FaultRt {
                nodes: Vec::new(),
                node: None,
                sides: None,
                group: None,
                poison_key: None,
                poison_type: None,
                rng: None,
                active: false,
                hit: None,
                struck: 0,
                cut: 0,
                spec,
            };
            let spec = &rt.spec;
            if spec.kind.on_links() {
                let t = spec
                    .target
                    .as_ref()
                    .expect("validated: link faults have targets");
                let (a, b) = s.link_sides(t).expect("validated link sides");
                let mut sa = vec![false; nodes];
                let mut sb = vec![false; nodes];
                for n in a {
                    sa[self.node_id(n) as usize] = true;
                }
                for n in b {
                    sb[self.node_id(n) as usize] = true;
                }
                rt.sides = Some((sa, sb));
            }
            match (spec.kind, spec.target.as_ref()) {
                (
                    FaultKind::Crash
                    | FaultKind::Pause
                    | FaultKind::SlowDisk
                    | FaultKind::DiskFailure
                    | FaultKind::ClockSkew,
                    Some(Target::Node(n)),
                ) => {
                    let r = s.resolve_node(n).expect("validated node target");
                    rt.node = Some(self.node_id(r));
                }
                (FaultKind::PowerLoss, Some(t)) => {
                    let names: Vec<String> = match t {
                        Target::Node(n) => vec![n.clone()],
                        Target::Pair(v) => v.clone(),
                        Target::Sides(_) => Vec::new(),
                    };
                    let mut nodes: Vec<u32> = names
                        .iter()
                        .flat_map(|n| s.expand_nodes(n).expect("validated power-loss target"))
                        .map(|r| self.node_id(r))
                        .collect();
                    nodes.sort_unstable();
                    nodes.dedup();
                    rt.nodes = nodes;
                }
                (FaultKind::HandlerErrors | FaultKind::Poison, Some(Target::Node(g))) => {
                    rt.group = self
                        .catalog
                        .groups
                        .iter()
                        .position(|x| x == g)
                        .map(|g| g as u32);
                }
                _ => {}
            }
            if let Some(k) = &spec.key {
                rt.poison_key = self.catalog.keys.find(k);
            }
            if let Some(t) = &spec.event_type {
                rt.poison_type = self
                    .catalog
                    .event_types
                    .iter()
                    .position(|x| x == t)
                    .map(|i| i as u16);
            }
            if matches!(
                spec.kind,
                FaultKind::Duplicate | FaultKind::Reorder | FaultKind::HandlerErrors
            ) {
                rt.rng = Some(rng_stream(self.seed, &format!("fault/{}", spec.label())));
            }
            let at = spec.at.ns();
            let fault = self.faults.len() as u32;
            self.faults.push(rt);
            if at <= budget_end {
                self.pending_fault_events += 1;
                self.kernel.schedule_at(at, Ev::FaultStart { fault });
            }
        }
    }

    /// What a kind of fault needs kept that runs without it do not: the
    /// disk's flushed prefixes (power loss), the clocks (clock skew).
    fn install_state_for(&mut self, s: &Scenario, kind: FaultKind) {
        if kind == FaultKind::PowerLoss && self.cluster.disk.is_none() {
            self.cluster.disk = Some(super::broker::DiskRt {
                dirty_expiry_ns: s.cluster.dirty_page_expiry.ns(),
            });
        }
        if kind == FaultKind::ClockSkew && self.cluster.clocks.is_none() {
            let brokers = self.cluster.brokers.len();
            let clocks = super::clock::Clocks::new(self.producers.len(), brokers);
            self.cluster.clocks = Some(Box::new(clocks));
        }
    }

    pub(crate) fn on_fault_start(&mut self, fault: u32) {
        self.pending_fault_events -= 1;
        let now = self.now();
        let spec = self.faults[fault as usize].spec.clone();
        self.faults[fault as usize].active = true;
        self.fault_log.push(FaultRecord {
            t_ns: now,
            phase: "start",
            fault,
        });
        self.note_hit(fault);
        self.observe(Observation::FaultStarted { fault });
        if let Some(span) = spec.span() {
            let end = now.saturating_add(span.ns());
            if end <= self.kernel.budget().sim_time_max_ns {
                self.pending_fault_events += 1;
            }
            self.kernel.schedule_at(end, Ev::FaultEnd { fault });
        }
        let node = self.faults[fault as usize].node;
        match spec.kind {
            FaultKind::Crash => self.crash(node.expect("crash has a node")),
            FaultKind::PowerLoss => {
                for n in self.faults[fault as usize].nodes.clone() {
                    self.power_off(n);
                }
            }
            FaultKind::DiskFailure => self.disk_failed(node.expect("disk-failure has a node")),
            FaultKind::Pause => {
                let n = node.expect("pause has a node");
                let until = now.saturating_add(spec.duration.map_or(0, |d| d.ns()));
                self.set_state(n, NodeState::Paused { since: now, until });
            }
            FaultKind::SlowDisk => {
                if let NodeKind::Broker(b) = self.node_kind(node.expect("slow-disk has a node")) {
                    self.cluster.brokers[b as usize].disk_factor *= spec.factor.unwrap_or(1.0);
                }
            }
            FaultKind::Partition
            | FaultKind::LatencySpike
            | FaultKind::Duplicate
            | FaultKind::Reorder => {
                let rt = &mut self.faults[fault as usize];
                let (a, b) = rt.sides.clone().expect("link fault has sides");
                let latency = match spec.kind {
                    FaultKind::Reorder => spec.latency.map_or(DEFAULT_REORDER_NS, |d| d.ns()),
                    _ => spec.latency.map_or(0, |d| d.ns()),
                };
                self.net.active.push(LinkFault {
                    fault,
                    kind: spec.kind,
                    a,
                    b,
                    probability: spec.probability.unwrap_or(0.0),
                    latency,
                    rng: rt.rng.take().unwrap_or_else(|| {
                        rng_stream(self.seed, &format!("fault/{}", spec.label()))
                    }),
                    struck: 0,
                });
            }
            FaultKind::HandlerErrors | FaultKind::Poison => {
                self.handler_faults.push(fault);
            }
            FaultKind::ClockSkew => {
                let skew = spec.skew.map_or(0, |k| k.ns());
                self.shift_clock(node.expect("clock-skew has a node"), skew);
            }
        }
    }

    /// Node `n`'s clock moves by `delta` ns: a producer's from now on, for
    /// the records it creates; a broker's for what it judges by it.
    fn shift_clock(&mut self, n: u32, delta: i64) {
        let now = self.now();
        let kind = self.node_kind(n);
        let clocks = self
            .cluster
            .clocks
            .as_mut()
            .expect("installed with the fault");
        match kind {
            NodeKind::Producer(c) => clocks.shift_client(c, now, delta),
            NodeKind::Broker(b) => clocks.shift_broker(b, delta),
            _ => {}
        }
    }

    pub(crate) fn on_fault_end(&mut self, fault: u32) {
        let now = self.now();
        if now <= self.kernel.budget().sim_time_max_ns {
            self.pending_fault_events = self.pending_fault_events.saturating_sub(1);
        }
        let spec = self.faults[fault as usize].spec.clone();
        self.faults[fault as usize].active = false;
        self.fault_log.push(FaultRecord {
            t_ns: now,
            phase: "end",
            fault,
        });
        self.observe(Observation::FaultEnded { fault });
        let node = self.faults[fault as usize].node;
        match spec.kind {
            FaultKind::Crash => self.restart(node.expect("crash has a node")),
            FaultKind::PowerLoss => {
                for n in self.faults[fault as usize].nodes.clone() {
                    self.restart(n);
                }
            }
            FaultKind::DiskFailure => self.restart(node.expect("disk-failure has a node")),
            FaultKind::Pause => {
                let n = node.expect("pause has a node");
                if matches!(self.node_state[n as usize], NodeState::Paused { .. }) {
                    self.set_state(n, NodeState::Up);
                    self.resumed(n);
                }
            }
            FaultKind::SlowDisk => {
                if let NodeKind::Broker(b) = self.node_kind(node.expect("slow-disk has a node")) {
                    self.cluster.brokers[b as usize].disk_factor /= spec.factor.unwrap_or(1.0);
                }
            }
            FaultKind::Partition
            | FaultKind::LatencySpike
            | FaultKind::Duplicate
            | FaultKind::Reorder => {
                if let Some(i) = self.net.active.iter().position(|lf| lf.fault == fault) {
                    let lf = self.net.active.remove(i);
                    self.faults[fault as usize].rng = Some(lf.rng);
                    self.faults[fault as usize].struck += lf.struck;
                }
            }
            FaultKind::HandlerErrors | FaultKind::Poison => {
                self.handler_faults.retain(|&f| f != fault);
            }
            FaultKind::ClockSkew => {
                let skew = spec.skew.map_or(0, |k| k.ns());
                self.shift_clock(node.expect("clock-skew has a node"), -skew);
            }
        }
    }

    fn set_state(&mut self, n: u32, state: NodeState) {
        let was_up = self.node_state[n as usize] == NodeState::Up;
        let now_up = state == NodeState::Up;
        self.node_state[n as usize] = state;
        match (was_up, now_up) {
            (true, false) => self.down_nodes += 1,
            (false, true) => self.down_nodes -= 1,
            _ => {}
        }
        self.observe(Observation::NodeState {
            node: n,
            state: match state {
                NodeState::Up => 0,
                NodeState::Crashed => 1,
                NodeState::Paused { .. } => 2,
            },
        });
    }

    /// A node stops and loses what it held in memory.
    pub(crate) fn crash(&mut self, n: u32) {
        if self.node_state[n as usize] == NodeState::Crashed {
            return;
        }
        self.set_state(n, NodeState::Crashed);
        match self.node_kind(n) {
            NodeKind::Producer(p) => self.crash_producer(p),
            NodeKind::Broker(b) => self.crash_broker(b),
            NodeKind::Consumer(c) => self.crash_consumer(c),
            NodeKind::Service(s) => self.crash_service(s),
            // Its metadata log is on disk; the quorum sees it gone.
            NodeKind::Controller(_) => {}
        }
    }

    fn restart(&mut self, n: u32) {
        if self.node_state[n as usize] != NodeState::Crashed {
            return;
        }
        self.set_state(n, NodeState::Up);
        match self.node_kind(n) {
            NodeKind::Producer(p) => self.restart_producer(p),
            NodeKind::Broker(b) => self.restart_broker(b),
            NodeKind::Consumer(c) => self.restart_consumer(c),
            // It starts empty; its store is as it was.
            NodeKind::Service(_) => {}
            // It rejoins the quorum as a follower.
            NodeKind::Controller(_) => {}
        }
    }

    /// A paused node runs again; the events it missed were held for it.
    fn resumed(&mut self, n: u32) {
        if let NodeKind::Consumer(c) = self.node_kind(n) {
            self.consumer_resumed(c);
        }
    }

    /// The kernel event `ev` wakes a node that is down: hold it back until
    /// a pause ends, or lose it with a crashed node. Returns whether the
    /// event was taken care of.
    pub(crate) fn intercept(&mut self, ev: Ev) -> bool {
        let Some(node) = self.ev_node(ev) else {
            return false;
        };
        let now = self.now();
        match self.node_state[node.0 as usize] {
            NodeState::Up => false,
            NodeState::Paused { since, until } => {
                if now >= until {
                    return false;
                }
                // Messages wait in the socket; the node's own timers resume
                // where they were when the pause began.
                let at = if ev_is_message(ev) {
                    until
                } else {
                    until + now.saturating_sub(since)
                };
                self.kernel.schedule_at(at, ev);
                true
            }
            NodeState::Crashed => {
                self.lost(ev);
                true
            }
        }
    }

    /// The node an event wakes, if any (group coordination and the tick
    /// run on no node: the coordinator is always reachable).
    fn ev_node(&self, ev: Ev) -> Option<Node> {
        Some(match ev {
            Ev::Arrival { producer }
            | Ev::MaxBlock { producer }
            | Ev::Linger { producer, .. }
            | Ev::TimeoutCheck { producer } => self.producers[producer as usize].node,
            Ev::Retry { req }
            | Ev::ProduceResponse { req, .. }
            | Ev::ProduceDisconnect { req, .. } => {
                self.producers[self.requests[req as usize].producer as usize].node
            }
            Ev::ProduceArrive { broker, .. }
            | Ev::AppendDone { broker, .. }
            | Ev::ConsumerFetchArrive { broker, .. } => self.net.broker(broker),
            Ev::ReplicaFetchArrive { part, .. } => self
                .net
                .broker(self.cluster.parts[part as usize].leader_broker()),
            Ev::ReplicaFetchResponse { part, replica, .. }
            | Ev::ReplicaAppendDone { part, replica, .. }
            | Ev::ReplicaFetchResend { part, replica, .. } => self
                .net
                .broker(self.cluster.parts[part as usize].replicas[replica as usize]),
            Ev::ConsumerFetchResponse { consumer, .. }
            | Ev::ProcessDone { consumer, .. }
            | Ev::AutoCommit { consumer, .. }
            | Ev::FetchRetry { consumer, .. } => self.consumers[consumer as usize].node,
            Ev::TxnCommitDue { producer, .. }
            | Ev::EndTxnSend { producer, .. }
            | Ev::EndTxnTimeout { producer, .. }
            | Ev::EndTxnResponse { producer, .. }
            | Ev::TxnReady { producer, .. } => self.producers[producer as usize].node,
            Ev::TxnMarkerArrive { broker, .. } => self.net.broker(broker),
            // The transaction coordinator, like the group coordinator, is
            // always reachable (it moves with its broker).
            Ev::EndTxnArrive { .. } | Ev::TxnMarkerSend { .. } => return None,
            Ev::GroupStart { .. }
            | Ev::RebalanceDone { .. }
            | Ev::JoinGroup { .. }
            | Ev::Tick
            | Ev::FaultStart { .. }
            | Ev::FaultEnd { .. } => return None,
            // The saga store's timer: its handler waits for a consumer of
            // the service to be up.
            Ev::SagaTimeout { .. } => return None,
            // Clients outside send requests whatever the front door's state.
            Ev::Request { .. } => return None,
            Ev::CallArrive { call, .. } => self.sync.callee_node(call),
            Ev::JobProcessed { job, .. } => self.sync.job_node(job),
            Ev::CallReply { call, .. }
            | Ev::CallTimeout { call, .. }
            | Ev::CallRetry { call, .. } => self.sync.caller_node(call)?,
        })
    }

    /// A crashed node never handles `ev`: release what it referred to and
    /// let the sender find out as it would (connection refused).
    fn lost(&mut self, ev: Ev) {
        match ev {
            Ev::ProduceArrive {
                req,
                attempt,
                broker,
            }
            | Ev::AppendDone {
                req,
                attempt,
                broker,
            } => {
                self.requests[req as usize].copies -= 1;
                self.respond(broker, req, attempt, super::ProduceResult::NotLeader);
                self.maybe_free(req);
            }
            Ev::ProduceResponse { req, .. } | Ev::ProduceDisconnect { req, .. } => {
                self.requests[req as usize].copies -= 1;
                self.maybe_free(req);
            }
            // Timers of a dead process: forget them (flags say whether one
            // is queued, so that a restart starts exactly one again).
            Ev::Arrival { producer } => self.producers[producer as usize].arrival_pending = false,
            Ev::TimeoutCheck { producer } => {
                self.producers[producer as usize].timer_pending = false
            }
            Ev::Linger { producer, part } => {
                self.producers[producer as usize].parts[part as usize].linger_pending = false
            }
            Ev::TxnMarkerArrive {
                producer,
                number,
                part,
                ..
            } => self.kernel.schedule_in(
                RECONNECT_BACKOFF_NS,
                Ev::TxnMarkerSend {
                    producer,
                    number,
                    part,
                },
            ),
            Ev::CallArrive { call, attempt } => self.call_refused(call, attempt),
            Ev::ConsumerFetchArrive {
                consumer,
                part,
                epoch,
                ..
            } => {
                self.kernel.schedule_in(
                    RECONNECT_BACKOFF_NS,
                    Ev::FetchRetry {
                        consumer,
                        part,
                        epoch,
                    },
                );
            }
            _ => {}
        }
    }

    /// Whether the handler of `consumer`'s group fails on `event` now:
    /// a poison rule matches it, or an active error burst draws a failure.
    pub(crate) fn handler_fails(&mut self, consumer: u32, event: EventId) -> bool {
        // An event of a schema version the consumer cannot read fails its
        // handler (a deserialisation error), until the consumer is upgraded.
        if self.schema.is_some() && !self.schema_readable(consumer, event) {
            return true;
        }
        if self.handler_faults.is_empty() {
            return false;
        }
        let g = self.consumers[consumer as usize].group;
        let e = self.events[event as usize];
        for i in 0..self.handler_faults.len() {
            let f = &mut self.faults[self.handler_faults[i] as usize];
            if f.group.is_some_and(|fg| fg != g) {
                continue;
            }
            match f.spec.kind {
                FaultKind::Poison => {
                    let key_ok = f.spec.key.is_none() || f.poison_key == Some(e.key);
                    let type_ok =
                        f.spec.event_type.is_none() || f.poison_type == Some(e.event_type);
                    if key_ok && type_ok && e.created_ns >= f.spec.at.ns() {
                        f.struck += 1;
                        return true;
                    }
                }
                FaultKind::HandlerErrors => {
                    let p = f.spec.probability.unwrap_or(0.0);
                    let rng = f.rng.as_mut().expect("handler-errors has a stream");
                    if variates::chance(rng, p) {
                        f.struck += 1;
                        return true;
                    }
                }
                _ => {}
            }
        }
        false
    }

    /// Heartbeats, checked every tick: the group coordinator expels
    /// consumers it has not heard from for their session timeout; the
    /// controller fences brokers likewise and lets them back when they
    /// are reachable again.
    pub(crate) fn check_sessions(&mut self) {
        let now = self.now();
        self.check_quorum();
        // Without an active controller the metadata is frozen: nobody is
        // fenced or let back in.
        if self.quorum.active() {
            for b in 0..self.cluster.brokers.len() as u32 {
                let heard = self.controller_reachable(b);
                let br = &mut self.cluster.brokers[b as usize];
                if heard {
                    br.last_heard_ns = now;
                    let reregister = std::mem::take(&mut br.reregister);
                    if br.fenced {
                        if reregister {
                            // A restart it could not register: the old
                            // incarnation's leadership moves first.
                            self.fence(b);
                        }
                        self.unfence(b);
                    }
                } else if !br.fenced
                    && now.saturating_sub(br.last_heard_ns) > self.broker_session_ns
                {
                    self.fence(b);
                }
            }
        }
        for g in 0..self.groups.len() {
            let grp = &self.groups[g];
            if grp.generation == 0 {
                continue;
            }
            let coordinator = self.coordinator(g as u32);
            let timeout = grp.session_timeout_ns;
            let max_poll = grp.max_poll_interval_ns;
            // Every member whose session expired leaves in this tick, and
            // the group rebalances once for all of them.
            let mut leaving = Vec::new();
            for i in 0..self.groups[g].members.len() {
                let c = self.groups[g].members[i];
                let node = self.consumers[c as usize].node;
                let heard = self.is_up(node)
                    && coordinator.is_some_and(|b| !self.net.cut(node, self.net.broker(b)));
                let cr = &mut self.consumers[c as usize];
                let busy = cr.current.is_some() || !cr.batch.is_empty();
                if heard {
                    cr.last_heard_ns = now;
                    if busy && now.saturating_sub(cr.last_poll_ns) > max_poll {
                        // KIP-62: the heartbeat thread sends LeaveGroup.
                        leaving.push((c, true));
                    }
                } else if now.saturating_sub(cr.last_heard_ns) > timeout {
                    leaving.push((c, false));
                }
            }
            if !leaving.is_empty() {
                self.expel_all(g as u32, &leaving);
            }
        }
    }

    /// The metadata quorum's tick: it may lose its active controller or
    /// elect one. A new active controller starts every broker's session
    /// afresh (KRaft's BrokerHeartbeatManager is built when a controller
    /// becomes active), so brokers are not fenced for the quorum's outage.
    fn check_quorum(&mut self) {
        let now = self.now();
        let (states, down, net) = (&self.node_state, self.down_nodes, &self.net);
        let up = |n: Node| down == 0 || states[n.0 as usize] == NodeState::Up;
        let linked = |a: Node, b: Node| net.active.is_empty() || !net.cut(a, b);
        let change = self.quorum.tick(now, &up, &linked);
        if change == QuorumChange::None {
            return;
        }
        if change == QuorumChange::Elected {
            for br in &mut self.cluster.brokers {
                br.last_heard_ns = now;
            }
        }
        self.observe(Observation::Controller {
            voter: self.quorum.leader(),
            epoch: self.quorum.epoch(),
        });
    }

    /// The broker hosting a group's coordinator: the first live broker
    /// from the group's hash slot (it moves when its broker fails).
    pub(crate) fn coordinator(&self, g: u32) -> Option<u32> {
        let nb = self.cluster.brokers.len() as u32;
        (0..nb)
            .map(|i| (g + i) % nb)
            .find(|&b| self.broker_up(b) && !self.cluster.brokers[b as usize].fenced)
    }
}

fn ev_is_message(ev: Ev) -> bool {
    matches!(
        ev,
        Ev::ProduceArrive { .. }
            | Ev::ProduceResponse { .. }
            | Ev::ProduceDisconnect { .. }
            | Ev::ReplicaFetchArrive { .. }
            | Ev::ReplicaFetchResponse { .. }
            | Ev::ConsumerFetchArrive { .. }
            | Ev::ConsumerFetchResponse { .. }
            | Ev::CallArrive { .. }
            | Ev::CallReply { .. }
    )
}
