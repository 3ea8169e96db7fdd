//! Invariant checkers: streaming consumers of the history (DESIGN §5).
//!
//! Each checker has a stable name, watches observations as they happen and
//! keeps only what the invariant needs (per key, per partition, or per
//! event still in flight), then reports violations at the end of the run.
//! A checker never looks at the model. Violations are explained afterwards
//! by [`explain`]: a second pass over the same history (the run replayed
//! from its seed, or the history file read again) that collects the
//! observations involving each violation's events, group and partition.

use crate::history::{Catalog, EventId, Observation, Observer};
use crate::kernel::Time;
use crate::metrics::EventBits;
use crate::scenario::{Effect, Fault, Scenario};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: a fixed-seed hasher for the checkers' hot maps (small integer
/// keys). Nothing iterates these maps into an output without sorting.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// Every checker, by its stable name.
pub use crate::scenario::CHECKERS;

/// One broken promise.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Violation {
    pub invariant: String,
    pub t_ns: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub events: Vec<EventId>,
    pub message: String,
    /// The chain of observations that led to it, oldest first.
    pub explanation: Vec<String>,
    /// Ids behind the names, for the explainer.
    #[serde(skip)]
    pub ids: Subject,
}

/// What a violation is about, by id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Subject {
    pub group: Option<u32>,
    pub partition: Option<u32>,
}

/// How a run ended, as the checkers need to know it.
#[derive(Clone, Copy, Debug)]
pub struct End {
    pub t_ns: Time,
    /// When producers had stopped and every fault had healed.
    pub settled_ns: Time,
}

/// One checker's result in `summary.json`.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct CheckResult {
    pub name: String,
    /// `pass`, `fail` or `skipped`.
    pub status: String,
    pub violations: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<Violation>,
    /// Convergence: time from settling to convergence, per group (ns).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub time_to_converge_ns: BTreeMap<String, Time>,
}

/// Which checkers run and their bounds (`[checks]` of a scenario).
#[derive(Clone, Debug)]
pub struct CheckConfig {
    pub run: BTreeSet<String>,
    pub convergence_deadline_ns: Time,
    pub liveness_bound_ns: Time,
}

impl CheckConfig {
    pub fn from_scenario(s: &Scenario) -> CheckConfig {
        let c = &s.checks;
        let mut run: BTreeSet<String> = match &c.run {
            Some(list) => list.iter().cloned().collect(),
            None => CHECKERS.iter().map(|s| s.to_string()).collect(),
        };
        for name in &c.skip {
            run.remove(name);
        }
        CheckConfig {
            run,
            convergence_deadline_ns: c
                .convergence_deadline
                .map_or(s.scenario.drain.ns(), |d| d.ns()),
            liveness_bound_ns: c.liveness_bound.ns(),
        }
    }
}

/// What checkers know of the system besides the history.
#[derive(Clone, Debug)]
pub struct Context {
    pub catalog: Catalog,
    /// Per group: its effect.
    pub effects: Vec<Effect>,
    /// Per producer (catalog order): whether it is idempotent.
    pub idempotent: Vec<bool>,
    /// Per partition: the groups that read it.
    pub readers: Vec<Vec<u32>>,
    pub faults: Vec<Fault>,
}

impl Context {
    pub fn new(s: &Scenario, catalog: &Catalog, faults: Vec<Fault>) -> Context {
        let mut idempotent: Vec<bool> = s.producers.iter().map(|p| p.idempotent).collect();
        // Emitters and dead-letter publishers use the default (idempotent) client.
        idempotent.resize(catalog.producers.len(), true);
        let mut readers = vec![Vec::new(); catalog.partitions.len()];
        for (g, parts) in catalog.group_partitions.iter().enumerate() {
            for &p in parts {
                readers[p as usize].push(g as u32);
            }
        }
        Context {
            catalog: catalog.clone(),
            effects: s.groups.iter().map(|g| g.effect).collect(),
            idempotent,
            readers,
            faults,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn violation(
        &self,
        invariant: &str,
        t_ns: Time,
        group: Option<u32>,
        partition: Option<u32>,
        key: Option<u32>,
        events: Vec<EventId>,
        message: String,
    ) -> Violation {
        Violation {
            invariant: invariant.to_string(),
            t_ns,
            group: group.map(|g| self.catalog.groups[g as usize].clone()),
            partition: partition.map(|p| self.catalog.partition_name(p)),
            key: key.map(|k| self.catalog.keys[k as usize].clone()),
            events,
            message,
            explanation: Vec::new(),
            ids: Subject { group, partition },
        }
    }
}

/// A streaming invariant checker.
pub trait Checker {
    fn name(&self) -> &'static str;
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation);
    fn finish(&mut self, ctx: &Context, end: End) -> Vec<Violation>;
    /// Extra figures for the summary (convergence times).
    fn figures(&self) -> BTreeMap<String, Time> {
        BTreeMap::new()
    }
}

/// Every enabled checker, fed together.
pub struct Checks {
    pub ctx: Context,
    pub config: CheckConfig,
    checkers: Vec<Box<dyn Checker>>,
    settled_ns: Time,
    open_faults: BTreeSet<u32>,
    /// A fault that never heals fired (a crash without restart, a poison).
    permanent: bool,
}

impl Checks {
    pub fn new(ctx: Context, config: CheckConfig) -> Checks {
        let groups = ctx.catalog.groups.len();
        let mut checkers: Vec<Box<dyn Checker>> = Vec::new();
        for name in &config.run {
            let c: Box<dyn Checker> = match name.as_str() {
                "no-loss" => Box::new(NoLoss::new(groups)),
                "exactly-once-effect" => Box::new(ExactlyOnce::new(groups)),
                "per-key-order" => Box::new(PerKeyOrder::default()),
                "convergence" => Box::new(Convergence::new(&ctx, config.convergence_deadline_ns)),
                "liveness" => Box::new(Liveness::new(&ctx, config.liveness_bound_ns)),
                "no-duplicates-in-log" => Box::new(NoDuplicatesInLog::default()),
                "nonmonotonic-poll" => Box::new(Polls::new(true)),
                "skipped-offset" => Box::new(Polls::new(false)),
                _ => continue,
            };
            checkers.push(c);
        }
        Checks {
            ctx,
            config,
            checkers,
            settled_ns: 0,
            open_faults: BTreeSet::new(),
            permanent: false,
        }
    }

    /// The results, in `CHECKERS` order, and every violation.
    pub fn finish(
        &mut self,
        end_ns: Time,
        production_end_ns: Time,
    ) -> (Vec<CheckResult>, Vec<Violation>) {
        let settled = if self.open_faults.is_empty() && !self.permanent {
            self.settled_ns.max(production_end_ns)
        } else {
            end_ns
        };
        let end = End {
            t_ns: end_ns,
            settled_ns: settled.min(end_ns),
        };
        let applicable = self.applicable();
        let mut results = Vec::new();
        let mut all = Vec::new();
        let mut by_name: BTreeMap<&'static str, (Vec<Violation>, BTreeMap<String, Time>)> =
            BTreeMap::new();
        for c in &mut self.checkers {
            let v = c.finish(&self.ctx, end);
            by_name.insert(c.name(), (v, c.figures()));
        }
        for name in CHECKERS {
            let result = match by_name.remove(name) {
                Some((v, figures)) if applicable.contains(name) => {
                    let r = CheckResult {
                        name: name.to_string(),
                        status: if v.is_empty() { "pass" } else { "fail" }.to_string(),
                        violations: v.len() as u64,
                        first: v.first().cloned(),
                        time_to_converge_ns: figures,
                    };
                    all.extend(v);
                    r
                }
                _ => CheckResult {
                    name: name.to_string(),
                    status: "skipped".to_string(),
                    violations: 0,
                    first: None,
                    time_to_converge_ns: BTreeMap::new(),
                },
            };
            results.push(result);
        }
        (results, all)
    }

    fn applicable(&self) -> BTreeSet<&'static str> {
        let groups = !self.ctx.catalog.groups.is_empty();
        CHECKERS
            .into_iter()
            .filter(|&n| match n {
                "no-duplicates-in-log" => self.ctx.idempotent.iter().any(|&x| x),
                _ => groups,
            })
            .collect()
    }
}

impl Observer for Checks {
    fn observe(&mut self, at: Time, o: &Observation) {
        match *o {
            Observation::FaultStarted { fault } => {
                if self.ctx.faults[fault as usize].span().is_some() {
                    self.open_faults.insert(fault);
                } else {
                    self.permanent = true;
                }
                self.settled_ns = self.settled_ns.max(at);
            }
            Observation::FaultEnded { fault } => {
                self.open_faults.remove(&fault);
                self.settled_ns = self.settled_ns.max(at);
            }
            _ => {}
        }
        for c in &mut self.checkers {
            c.observe(&self.ctx, at, o);
        }
    }
}

/// `no-loss`: every acknowledged event stays in the log and is eventually
/// applied by every group that reads its partition (from where the group
/// started on it), unless the group's handler deliberately gave up on it
/// (dead-letter, skip). Retention deleting it before the group read it is a
/// loss (reported as such), and so is a leader change that truncated it.
struct NoLoss {
    /// Per group: events appended and not yet applied, excused or lost.
    pending: Vec<FastMap<EventId, (u32, u64, bool)>>,
    /// Per group: events already settled (applied or excused).
    done: Vec<EventBits>,
    /// Per (group, partition): where the group started reading it.
    started: FastMap<(u32, u32), u64>,
    /// Events acknowledged before (or without) being appended where seen.
    acked: EventBits,
    /// Acknowledged events truncated from the log and not appended since.
    truncated: BTreeMap<EventId, (Time, u32, u64)>,
    /// Per group: acknowledged events retention deleted before it read them.
    expired: Vec<Violation>,
}

impl NoLoss {
    fn new(groups: usize) -> Self {
        NoLoss {
            pending: vec![FastMap::default(); groups],
            done: vec![EventBits::default(); groups],
            started: FastMap::default(),
            acked: EventBits::default(),
            truncated: BTreeMap::new(),
            expired: Vec::new(),
        }
    }
    fn settle(&mut self, g: u32, event: EventId) {
        self.done[g as usize].insert(event);
        self.pending[g as usize].remove(&event);
    }
}

impl Checker for NoLoss {
    fn name(&self) -> &'static str {
        "no-loss"
    }
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation) {
        match *o {
            Observation::Appended {
                event,
                partition,
                offset,
            } => {
                self.truncated.remove(&event);
                let acked = self.acked.contains(event);
                for &g in &ctx.readers[partition as usize] {
                    if self.done[g as usize].contains(event) {
                        continue;
                    }
                    if self
                        .started
                        .get(&(g, partition))
                        .is_some_and(|&s| offset < s)
                    {
                        continue;
                    }
                    let e = self.pending[g as usize]
                        .entry(event)
                        .or_insert((partition, offset, acked));
                    e.0 = partition;
                    e.1 = offset;
                }
            }
            Observation::Acked { event, .. } => {
                self.acked.insert(event);
                for p in &mut self.pending {
                    if let Some(e) = p.get_mut(&event) {
                        e.2 = true;
                    }
                }
            }
            Observation::Assigned {
                group,
                partition,
                offset,
                ..
            } => {
                if let std::collections::hash_map::Entry::Vacant(v) =
                    self.started.entry((group, partition))
                {
                    v.insert(offset);
                    // What came before the group's first position on the
                    // partition is not the group's to read (latest reset).
                    self.pending[group as usize]
                        .retain(|_, &mut (p, off, _)| p != partition || off >= offset);
                }
            }
            Observation::Truncated {
                event,
                partition,
                offset,
            } => {
                self.truncated.insert(event, (at, partition, offset));
            }
            Observation::Expired {
                event,
                group,
                partition,
                offset,
                ..
            } => {
                self.settle(group, event);
                if self.acked.contains(event) {
                    self.expired.push(ctx.violation(
                        "no-loss",
                        at,
                        Some(group),
                        Some(partition),
                        None,
                        vec![event],
                        format!(
                            "event {event} ({} offset {offset}) was deleted by retention before group {} read it",
                            ctx.catalog.partition_name(partition),
                            ctx.catalog.groups[group as usize]
                        ),
                    ));
                }
            }
            Observation::Applied { event, group, .. }
            | Observation::Skipped { event, group, .. }
            | Observation::GaveUp { event, group, .. } => self.settle(group, event),
            _ => {}
        }
    }
    fn finish(&mut self, ctx: &Context, end: End) -> Vec<Violation> {
        let mut out = std::mem::take(&mut self.expired);
        for (&event, &(at, partition, offset)) in &self.truncated {
            if !self.acked.contains(event) {
                continue;
            }
            out.push(ctx.violation(
                "no-loss",
                at,
                None,
                Some(partition),
                None,
                vec![event],
                format!(
                    "acknowledged event {event} was truncated from {} (offset {offset}) by a leader change, and no log holds it",
                    ctx.catalog.partition_name(partition)
                ),
            ));
        }
        for (g, pending) in self.pending.iter().enumerate() {
            let mut pending: Vec<(&EventId, &(u32, u64, bool))> = pending.iter().collect();
            pending.sort_unstable_by_key(|&(&e, _)| e);
            for (&event, &(partition, offset, acked)) in pending {
                if !(acked || self.acked.contains(event)) {
                    continue;
                }
                out.push(ctx.violation(
                    "no-loss",
                    end.t_ns,
                    Some(g as u32),
                    Some(partition),
                    None,
                    vec![event],
                    format!(
                        "event {event} was acknowledged (appended at {} offset {offset}) but group {} never applied it",
                        ctx.catalog.partition_name(partition),
                        ctx.catalog.groups[g]
                    ),
                ));
            }
        }
        out
    }
}

/// `exactly-once-effect`: no event's effect is applied twice in a group.
struct ExactlyOnce {
    applied: Vec<EventBits>,
    found: Vec<(Time, u32, EventId, u32, u32)>,
}

impl ExactlyOnce {
    fn new(groups: usize) -> Self {
        ExactlyOnce {
            applied: vec![EventBits::default(); groups],
            found: Vec::new(),
        }
    }
}

impl Checker for ExactlyOnce {
    fn name(&self) -> &'static str {
        "exactly-once-effect"
    }
    fn observe(&mut self, _ctx: &Context, at: Time, o: &Observation) {
        if let Observation::Applied {
            event,
            group,
            partition,
            key,
            ..
        } = *o
            && self.applied[group as usize].insert(event)
        {
            self.found.push((at, group, event, partition, key));
        }
    }
    fn finish(&mut self, ctx: &Context, _end: End) -> Vec<Violation> {
        self.found
            .iter()
            .map(|&(at, g, event, partition, key)| {
                ctx.violation(
                    "exactly-once-effect",
                    at,
                    Some(g),
                    Some(partition),
                    Some(key),
                    vec![event],
                    format!(
                        "event {event} was applied again by group {}",
                        ctx.catalog.groups[g as usize]
                    ),
                )
            })
            .collect()
    }
}

/// `per-key-order`: within a group, each producer's events of a key take
/// effect in the order the producer created them. Re-applications of an
/// event are `exactly-once-effect`'s business and are ignored here.
#[derive(Default)]
struct PerKeyOrder {
    seen: FastMap<u32, EventBits>,
    /// (group, producer, key) -> (version, event) of the newest applied.
    last: FastMap<(u32, u32, u32), (u32, EventId)>,
    found: Vec<Violation>,
}

impl Checker for PerKeyOrder {
    fn name(&self) -> &'static str {
        "per-key-order"
    }
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation) {
        if let Observation::Applied {
            event,
            group,
            partition,
            producer,
            key,
            version,
            ..
        } = *o
        {
            if self.seen.entry(group).or_default().insert(event) {
                return;
            }
            let last = self
                .last
                .entry((group, producer, key))
                .or_insert((0, event));
            if version < last.0 {
                let newer = last.1;
                self.found.push(ctx.violation(
                    "per-key-order",
                    at,
                    Some(group),
                    Some(partition),
                    Some(key),
                    vec![newer, event],
                    format!(
                        "group {} applied event {event} (version {version} of key {}) after event {newer} (version {})",
                        ctx.catalog.groups[group as usize],
                        ctx.catalog.keys[key as usize],
                        last.0
                    ),
                ));
            } else {
                *last = (version, event);
            }
        }
    }
    fn finish(&mut self, _ctx: &Context, _end: End) -> Vec<Violation> {
        std::mem::take(&mut self.found)
    }
}

/// `convergence`: once producers stop and faults heal, each group's
/// projection equals the reference (the fold of the unique acknowledged
/// events it reads, in per-key version order), within the deadline.
struct Convergence {
    deadline_ns: Time,
    /// Per group: key -> projection.
    state: Vec<FastMap<u32, i64>>,
    set_seen: Vec<EventBits>,
    /// Per group: key -> (reference value, newest version for last-write).
    reference: Vec<FastMap<u32, (i64, u32)>>,
    excluded: Vec<EventBits>,
    acked: EventBits,
    /// Per group: the last time its projection changed.
    changed_ns: Vec<Time>,
    figures: BTreeMap<String, Time>,
}

impl Convergence {
    fn new(ctx: &Context, deadline_ns: Time) -> Self {
        let g = ctx.catalog.groups.len();
        Convergence {
            deadline_ns,
            state: vec![FastMap::default(); g],
            set_seen: vec![EventBits::default(); g],
            reference: vec![FastMap::default(); g],
            excluded: vec![EventBits::default(); g],
            acked: EventBits::default(),
            changed_ns: vec![0; g],
            figures: BTreeMap::new(),
        }
    }
}

fn contribution(effect: Effect, value: u32) -> i64 {
    match effect {
        Effect::Sum => i64::from(value),
        Effect::LastWrite => i64::from(value),
        Effect::Count | Effect::Set => 1,
    }
}

impl Checker for Convergence {
    fn name(&self) -> &'static str {
        "convergence"
    }
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation) {
        match *o {
            Observation::Acked {
                event,
                partition,
                key,
                version,
                value,
                ..
            } => {
                self.acked.insert(event);
                for &g in &ctx.readers[partition as usize] {
                    let g = g as usize;
                    if self.excluded[g].contains(event) {
                        continue;
                    }
                    let effect = ctx.effects[g];
                    let r = self.reference[g].entry(key).or_insert((0, 0));
                    if effect == Effect::LastWrite {
                        if version > r.1 {
                            *r = (i64::from(value), version);
                        }
                    } else {
                        r.0 += contribution(effect, value);
                    }
                }
            }
            Observation::Expired {
                event,
                group,
                key,
                value,
                ..
            }
            | Observation::GaveUp {
                event,
                group,
                key,
                value,
                ..
            } => {
                // Not the group's to apply: take it out of its reference.
                let g = group as usize;
                let effect = ctx.effects[g];
                if !self.excluded[g].insert(event)
                    && self.acked.contains(event)
                    && effect != Effect::LastWrite
                    && let Some(r) = self.reference[g].get_mut(&key)
                {
                    r.0 -= contribution(effect, value);
                }
            }
            Observation::Applied {
                event,
                group,
                key,
                value,
                ..
            } => {
                let g = group as usize;
                let effect = ctx.effects[g];
                let slot = self.state[g].entry(key).or_insert(0);
                let before = *slot;
                match effect {
                    Effect::Sum => *slot += i64::from(value),
                    Effect::LastWrite => *slot = i64::from(value),
                    Effect::Count => *slot += 1,
                    Effect::Set => {
                        if !self.set_seen[g].insert(event) {
                            *slot += 1;
                        }
                    }
                }
                if *slot != before {
                    self.changed_ns[g] = at;
                }
            }
            _ => {}
        }
    }
    fn finish(&mut self, ctx: &Context, end: End) -> Vec<Violation> {
        let mut out = Vec::new();
        for g in 0..self.state.len() {
            let name = &ctx.catalog.groups[g];
            let keys: BTreeSet<u32> = self.state[g]
                .keys()
                .chain(self.reference[g].keys())
                .copied()
                .collect();
            let differing: Vec<u32> = keys
                .into_iter()
                .filter(|k| {
                    self.state[g].get(k).copied().unwrap_or(0)
                        != self.reference[g].get(k).map_or(0, |r| r.0)
                })
                .collect();
            if let Some(&k) = differing.first() {
                out.push(ctx.violation(
                    "convergence",
                    end.t_ns,
                    Some(g as u32),
                    None,
                    Some(k),
                    Vec::new(),
                    format!(
                        "group {name}'s projection differs from the reference on {} key(s); key {}: {} instead of {}",
                        differing.len(),
                        ctx.catalog.keys[k as usize],
                        self.state[g].get(&k).copied().unwrap_or(0),
                        self.reference[g].get(&k).map_or(0, |r| r.0)
                    ),
                ));
                continue;
            }
            let took = self.changed_ns[g].saturating_sub(end.settled_ns);
            self.figures.insert(name.clone(), took);
            if took > self.deadline_ns {
                out.push(ctx.violation(
                    "convergence",
                    self.changed_ns[g],
                    Some(g as u32),
                    None,
                    None,
                    Vec::new(),
                    format!(
                        "group {name} converged {:.3}s after producers stopped and faults healed, beyond the {:.3}s deadline",
                        took as f64 / 1e9,
                        self.deadline_ns as f64 / 1e9
                    ),
                ));
            }
        }
        out
    }
    fn figures(&self) -> BTreeMap<String, Time> {
        self.figures.clone()
    }
}

/// `liveness`: each group drains every partition it reads, and never
/// leaves one behind without progress for longer than the bound.
struct Liveness {
    bound_ns: Time,
    /// Per partition: the log end offset.
    log_end: Vec<u64>,
    /// Per (group, partition): (next offset to deliver, behind since).
    read: FastMap<(u32, u32), (u64, Option<Time>)>,
    found: Vec<Violation>,
    stalled: BTreeSet<(u32, u32)>,
}

impl Liveness {
    fn new(ctx: &Context, bound_ns: Time) -> Self {
        Liveness {
            bound_ns,
            log_end: vec![0; ctx.catalog.partitions.len()],
            read: FastMap::default(),
            found: Vec::new(),
            stalled: BTreeSet::new(),
        }
    }
    fn stall(&mut self, ctx: &Context, g: u32, p: u32, since: Time, until: Time, ongoing: bool) {
        if until.saturating_sub(since) <= self.bound_ns || !self.stalled.insert((g, p)) {
            return;
        }
        let next = self.read[&(g, p)].0;
        self.found.push(ctx.violation(
            "liveness",
            until,
            Some(g),
            Some(p),
            None,
            Vec::new(),
            format!(
                "group {} made no progress on {} for {:.3}s (from {:.3}s{}, next offset {next}, log end {})",
                ctx.catalog.groups[g as usize],
                ctx.catalog.partition_name(p),
                (until - since) as f64 / 1e9,
                since as f64 / 1e9,
                if ongoing { " to the end of the run" } else { "" },
                self.log_end[p as usize]
            ),
        ));
    }
}

impl Checker for Liveness {
    fn name(&self) -> &'static str {
        "liveness"
    }
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation) {
        match *o {
            Observation::Appended {
                partition, offset, ..
            } => {
                let end = &mut self.log_end[partition as usize];
                *end = (*end).max(offset + 1);
                for &g in &ctx.readers[partition as usize] {
                    if let Some(r) = self.read.get_mut(&(g, partition))
                        && r.1.is_none()
                        && r.0 < offset + 1
                    {
                        r.1 = Some(at);
                    }
                }
            }
            Observation::Truncated {
                partition, offset, ..
            } => {
                let end = &mut self.log_end[partition as usize];
                *end = (*end).min(offset);
            }
            Observation::Assigned {
                group,
                partition,
                offset,
                ..
            } => {
                let behind = self.log_end[partition as usize] > offset;
                self.read
                    .entry((group, partition))
                    .or_insert((offset, behind.then_some(at)));
            }
            Observation::Delivered {
                group,
                partition,
                offset,
                ..
            } => {
                let Some(&(next, since)) = self.read.get(&(group, partition)) else {
                    return;
                };
                if offset < next {
                    return;
                }
                if let Some(since) = since {
                    self.stall(ctx, group, partition, since, at, false);
                }
                let caught_up = offset + 1 >= self.log_end[partition as usize];
                self.read
                    .insert((group, partition), (offset + 1, (!caught_up).then_some(at)));
            }
            _ => {}
        }
    }
    fn finish(&mut self, ctx: &Context, end: End) -> Vec<Violation> {
        let behind: Vec<(u32, u32, u64, Option<Time>)> = self
            .read
            .iter()
            .filter(|&(&(_, p), &(next, _))| next < self.log_end[p as usize])
            .map(|(&(g, p), &(next, since))| (g, p, next, since))
            .collect();
        let mut behind = behind;
        behind.sort_unstable();
        for (g, p, next, since) in behind {
            let since = since.unwrap_or(end.t_ns);
            if end.t_ns.saturating_sub(since) > self.bound_ns {
                self.stall(ctx, g, p, since, end.t_ns, true);
            } else if !self.stalled.contains(&(g, p)) {
                self.stalled.insert((g, p));
                self.found.push(ctx.violation(
                    "liveness",
                    end.t_ns,
                    Some(g),
                    Some(p),
                    None,
                    Vec::new(),
                    format!(
                        "group {} ended {} events behind on {} (next offset {next}, log end {})",
                        ctx.catalog.groups[g as usize],
                        self.log_end[p as usize] - next,
                        ctx.catalog.partition_name(p),
                        self.log_end[p as usize]
                    ),
                ));
            }
        }
        std::mem::take(&mut self.found)
    }
}

/// `no-duplicates-in-log`: an idempotent producer's event is in a
/// partition's log at most once.
#[derive(Default)]
struct NoDuplicatesInLog {
    in_log: EventBits,
    idempotent: EventBits,
    found: Vec<Violation>,
}

impl Checker for NoDuplicatesInLog {
    fn name(&self) -> &'static str {
        "no-duplicates-in-log"
    }
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation) {
        match *o {
            Observation::Produced {
                event, producer, ..
            } if ctx.idempotent[producer as usize] => {
                self.idempotent.insert(event);
            }
            Observation::Appended {
                event,
                partition,
                offset,
            } => {
                if !self.idempotent.contains(event) {
                    return;
                }
                if self.in_log.insert(event) {
                    self.found.push(ctx.violation(
                        "no-duplicates-in-log",
                        at,
                        None,
                        Some(partition),
                        None,
                        vec![event],
                        format!(
                            "event {event} of an idempotent producer was appended again, at {} offset {offset}",
                            ctx.catalog.partition_name(partition)
                        ),
                    ));
                }
            }
            Observation::Truncated { event, .. } => self.in_log.remove(event),
            _ => {}
        }
    }
    fn finish(&mut self, _ctx: &Context, _end: End) -> Vec<Violation> {
        std::mem::take(&mut self.found)
    }
}

/// Kafka-history anomalies of consumers' polls, in the spirit of Jepsen's
/// Kafka checker: within one assignment of a partition to a consumer, polls
/// must return consecutive offsets from the assigned position.
/// `nonmonotonic-poll`: an offset at or below one already returned.
/// `skipped-offset`: an offset beyond the next one, with no offset reset
/// (retention expiry or truncation) to explain it.
struct Polls {
    nonmonotonic: bool,
    /// (consumer, partition) -> (next expected offset, reset allowed).
    next: FastMap<(u32, u32), (u64, bool)>,
    /// Partitions whose offsets may have been reset (expiry, truncation).
    reset: BTreeSet<(u32, u32)>,
    found: Vec<Violation>,
}

impl Polls {
    fn new(nonmonotonic: bool) -> Self {
        Polls {
            nonmonotonic,
            next: FastMap::default(),
            reset: BTreeSet::new(),
            found: Vec::new(),
        }
    }
}

impl Checker for Polls {
    fn name(&self) -> &'static str {
        if self.nonmonotonic {
            "nonmonotonic-poll"
        } else {
            "skipped-offset"
        }
    }
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation) {
        match *o {
            Observation::Assigned {
                consumer,
                partition,
                offset,
                ..
            } => {
                self.next.insert((consumer, partition), (offset, false));
            }
            Observation::Expired {
                group, partition, ..
            } => {
                self.reset.insert((group, partition));
            }
            Observation::Truncated { partition, .. } => {
                for &g in &ctx.readers[partition as usize] {
                    self.reset.insert((g, partition));
                }
            }
            Observation::Delivered {
                event,
                group,
                consumer,
                partition,
                offset,
            } => {
                let Some(&(next, _)) = self.next.get(&(consumer, partition)) else {
                    return;
                };
                let name = || ctx.catalog.consumer_name(consumer);
                let pname = || ctx.catalog.partition_name(partition);
                if offset < next && self.nonmonotonic && !self.reset.contains(&(group, partition)) {
                    self.found.push(ctx.violation(
                        "nonmonotonic-poll",
                        at,
                        Some(group),
                        Some(partition),
                        None,
                        vec![event],
                        format!(
                            "{} polled offset {offset} of {} after offset {} in the same assignment",
                            name(),
                            pname(),
                            next - 1
                        ),
                    ));
                } else if offset > next
                    && !self.nonmonotonic
                    && !self.reset.contains(&(group, partition))
                {
                    self.found.push(ctx.violation(
                        "skipped-offset",
                        at,
                        Some(group),
                        Some(partition),
                        None,
                        vec![event],
                        format!(
                            "{} polled offset {offset} of {} when {next} was next: offsets {next}..{} were skipped without a reset",
                            name(),
                            pname(),
                            offset - 1
                        ),
                    ));
                }
                if offset + 1 > next {
                    self.next.insert((consumer, partition), (offset + 1, false));
                }
            }
            _ => {}
        }
    }
    fn finish(&mut self, _ctx: &Context, _end: End) -> Vec<Violation> {
        std::mem::take(&mut self.found)
    }
}

/// One explanation line: (time, text, the event, group, partition it concerns).
type Line = (Time, String, Option<EventId>, Option<u32>, Option<u32>);

/// Collects, in a second pass over a history, the observations that
/// explain a set of violations.
pub struct Explainer {
    ctx: Context,
    events: BTreeSet<EventId>,
    groups: BTreeSet<u32>,
    partitions: BTreeSet<u32>,
    /// (time, line, events / group / partition it concerns).
    lines: Vec<Line>,
}

/// Violations explained per checker, at most.
pub const EXPLAINED_PER_CHECKER: usize = 20;

impl Explainer {
    pub fn new(ctx: &Context, violations: &[Violation]) -> Explainer {
        let mut e = Explainer {
            ctx: ctx.clone(),
            events: BTreeSet::new(),
            groups: BTreeSet::new(),
            partitions: BTreeSet::new(),
            lines: Vec::new(),
        };
        let mut per: BTreeMap<&str, usize> = BTreeMap::new();
        for v in violations {
            let n = per.entry(v.invariant.as_str()).or_default();
            *n += 1;
            if *n > EXPLAINED_PER_CHECKER {
                continue;
            }
            e.events.extend(v.events.iter().copied());
            e.groups.extend(v.ids.group);
            e.partitions.extend(v.ids.partition);
        }
        e
    }

    /// Attach explanations to the violations (the first
    /// `EXPLAINED_PER_CHECKER` of each checker).
    pub fn explain(&self, violations: &mut [Violation]) {
        let mut per: BTreeMap<String, usize> = BTreeMap::new();
        for v in violations.iter_mut() {
            let n = per.entry(v.invariant.clone()).or_default();
            *n += 1;
            if *n > EXPLAINED_PER_CHECKER {
                continue;
            }
            let first = self
                .lines
                .iter()
                .filter(|l| l.2.is_some_and(|e| v.events.contains(&e)))
                .map(|l| l.0)
                .min()
                .unwrap_or(0);
            let relevant: Vec<&Line> = self
                .lines
                .iter()
                .filter(|l| l.0 <= v.t_ns)
                .filter(|l| match (l.2, l.3, l.4) {
                    (Some(e), _, _) => v.events.contains(&e),
                    (None, Some(g), Some(p)) => {
                        v.ids.group == Some(g) && v.ids.partition == Some(p) && l.0 >= first
                    }
                    (None, Some(g), None) => v.ids.group == Some(g) && l.0 >= first,
                    (None, None, Some(p)) => v.ids.partition == Some(p) && l.0 >= first,
                    (None, None, None) => l.0 >= first,
                })
                .collect();
            // Every line about the violation's own events (the first and
            // last few if there are many), and the context closest to it.
            let own: Vec<usize> = (0..relevant.len())
                .filter(|&i| relevant[i].2.is_some())
                .collect();
            let context: Vec<usize> = (0..relevant.len())
                .filter(|&i| relevant[i].2.is_none())
                .collect();
            let mut keep: BTreeSet<usize> = BTreeSet::new();
            keep.extend(own.iter().take(6));
            keep.extend(own.iter().rev().take(4));
            keep.extend(context.iter().rev().take(6));
            v.explanation = keep.into_iter().map(|i| relevant[i].1.clone()).collect();
        }
    }

    fn t(at: Time) -> String {
        format!("{:.3}s", at as f64 / 1e9)
    }
}

impl Observer for Explainer {
    fn observe(&mut self, at: Time, o: &Observation) {
        let c = &self.ctx.catalog;
        let t = Self::t(at);
        let mine = |e: &EventId| self.events.contains(e);
        let line = match *o {
            Observation::Acked {
                event, producer, ..
            } if mine(&event) => Some((
                format!(
                    "{t} event {event} acknowledged to {}",
                    c.producers[producer as usize]
                ),
                Some(event),
                None,
                None,
            )),
            Observation::Appended {
                event,
                partition,
                offset,
            } if mine(&event) => Some((
                format!(
                    "{t} event {event} appended to {} at offset {offset}",
                    c.partition_name(partition)
                ),
                Some(event),
                None,
                None,
            )),
            Observation::Delivered {
                event,
                consumer,
                partition,
                offset,
                ..
            } if mine(&event) => Some((
                format!(
                    "{t} event {event} delivered to {} ({} offset {offset})",
                    c.consumer_name(consumer),
                    c.partition_name(partition)
                ),
                Some(event),
                None,
                None,
            )),
            Observation::Applied {
                event, consumer, ..
            } if mine(&event) => Some((
                format!("{t} event {event} applied by {}", c.consumer_name(consumer)),
                Some(event),
                None,
                None,
            )),
            Observation::Truncated {
                event,
                partition,
                offset,
            } if mine(&event) => Some((
                format!(
                    "{t} event {event} truncated from {} (offset {offset}): the new leader never had it",
                    c.partition_name(partition)
                ),
                Some(event),
                None,
                None,
            )),
            Observation::Expired { event, group, .. } if mine(&event) => Some((
                format!(
                    "{t} event {event} deleted by retention before group {} read it",
                    c.groups[group as usize]
                ),
                Some(event),
                None,
                None,
            )),
            Observation::HandlerFailed {
                event,
                consumer,
                attempt,
                ..
            } if mine(&event) => Some((
                format!(
                    "{t} event {event}: handler of {} failed (attempt {attempt})",
                    c.consumer_name(consumer)
                ),
                Some(event),
                None,
                None,
            )),
            Observation::Committed {
                group,
                consumer,
                partition,
                offset,
                generation,
            } if self.partitions.contains(&partition) && self.groups.contains(&group) => Some((
                format!(
                    "{t} {} committed offset {offset} of {} (generation {generation})",
                    c.consumer_name(consumer),
                    c.partition_name(partition)
                ),
                None,
                Some(group),
                Some(partition),
            )),
            Observation::Assigned {
                group,
                consumer,
                partition,
                generation,
                offset,
            } if self.groups.contains(&group) && self.partitions.contains(&partition) => Some((
                format!(
                    "{t} {} received {} from offset {offset} (generation {generation})",
                    c.consumer_name(consumer),
                    c.partition_name(partition)
                ),
                None,
                Some(group),
                Some(partition),
            )),
            Observation::Expelled { group, consumer } if self.groups.contains(&group) => Some((
                format!(
                    "{t} {} expelled from group {} (session timeout)",
                    c.consumer_name(consumer),
                    c.groups[group as usize]
                ),
                None,
                Some(group),
                None,
            )),
            Observation::LeaderElected {
                partition,
                broker,
                unclean,
                ..
            } if self.partitions.contains(&partition) => Some((
                match broker {
                    Some(b) => format!(
                        "{t} broker-{b} elected leader of {}{}",
                        c.partition_name(partition),
                        if unclean {
                            " (unclean: from outside the ISR)"
                        } else {
                            ""
                        }
                    ),
                    None => format!(
                        "{t} {} offline: no eligible replica",
                        c.partition_name(partition)
                    ),
                },
                None,
                None,
                Some(partition),
            )),
            Observation::NodeState { node, state } => Some((
                format!(
                    "{t} {} {}",
                    c.nodes.get(node as usize).map_or("?", String::as_str),
                    ["up", "crashed", "paused"][state as usize % 3]
                ),
                None,
                None,
                None,
            )),
            Observation::FaultStarted { fault } => {
                let f = &self.ctx.faults[fault as usize];
                Some((
                    format!(
                        "{t} fault: {} {}",
                        f.kind.as_str(),
                        f.target.as_ref().map_or(String::new(), |x| x.to_string())
                    ),
                    None,
                    None,
                    None,
                ))
            }
            _ => None,
        };
        if let Some((text, event, group, partition)) = line {
            self.lines.push((at, text, event, group, partition));
        }
    }
}

/// Put each checker's first (explained) violation into its result.
pub fn attach_first(results: &mut [CheckResult], violations: &[Violation]) {
    for r in results {
        r.first = violations.iter().find(|v| v.invariant == r.name).cloned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Observation as O;

    /// One topic `t` of 2 partitions read by group `g` (sum effect); one
    /// idempotent producer; keys k0..k3.
    fn ctx(effect: Effect) -> Context {
        let catalog = Catalog {
            producers: vec!["p".into()],
            topics: vec!["t".into()],
            partitions: vec![(0, 0), (0, 1)],
            groups: vec!["g".into()],
            consumers: vec![(0, 0), (0, 1)],
            event_types: vec!["E".into()],
            keys: (0..4).map(|k| format!("k{k}")).collect(),
            brokers: 1,
            group_partitions: vec![vec![0, 1]],
            replication: vec![1, 1],
            nodes: vec!["p".into(), "broker-0".into(), "g/0".into(), "g/1".into()],
        };
        Context {
            catalog,
            effects: vec![effect],
            idempotent: vec![true],
            readers: vec![vec![0], vec![0]],
            faults: Vec::new(),
        }
    }

    fn config(name: &str) -> CheckConfig {
        CheckConfig {
            run: [name.to_string()].into(),
            convergence_deadline_ns: 2_000,
            liveness_bound_ns: 1_000,
        }
    }

    /// Feed `history` to checker `name`; its violations.
    fn check(name: &str, effect: Effect, history: &[(Time, O)]) -> Vec<Violation> {
        let mut c = Checks::new(ctx(effect), config(name));
        for (t, o) in history {
            c.observe(*t, o);
        }
        let end = history.last().map_or(0, |h| h.0);
        let (results, violations) = c.finish(end, 0);
        let r = results.iter().find(|r| r.name == name).unwrap();
        assert_eq!(r.violations as usize, violations.len());
        assert_eq!(
            r.status,
            if violations.is_empty() {
                "pass"
            } else {
                "fail"
            }
        );
        violations
    }

    fn assigned(consumer: u32, partition: u32, offset: u64) -> O {
        O::Assigned {
            group: 0,
            consumer,
            partition,
            generation: 1,
            offset,
        }
    }
    fn produced(event: EventId, key: u32) -> O {
        O::Produced {
            event,
            producer: 0,
            partition: 0,
            key,
            event_type: 0,
            origin: event,
            origin_created_ns: 0,
        }
    }
    fn appended(event: EventId, offset: u64) -> O {
        O::Appended {
            event,
            partition: 0,
            offset,
        }
    }
    fn acked(event: EventId, key: u32, version: u32, value: u32) -> O {
        O::Acked {
            event,
            producer: 0,
            partition: 0,
            key,
            version,
            value,
            created_ns: 0,
        }
    }
    fn delivered(event: EventId, consumer: u32, offset: u64) -> O {
        O::Delivered {
            event,
            group: 0,
            consumer,
            partition: 0,
            offset,
        }
    }
    fn applied(event: EventId, key: u32, version: u32, value: u32) -> O {
        O::Applied {
            event,
            group: 0,
            consumer: 0,
            partition: 0,
            producer: 0,
            key,
            version,
            value,
            created_ns: 0,
            origin_created_ns: 0,
        }
    }

    /// Events 0..n of key 0 (version i+1, value 10), produced, appended at
    /// offset i, acknowledged.
    fn written(n: u32) -> Vec<(Time, O)> {
        let mut h = vec![(0, assigned(0, 0, 0))];
        for i in 0..n {
            let t = u64::from(i) * 10 + 1;
            h.push((t, produced(i, 0)));
            h.push((t, appended(i, u64::from(i))));
            h.push((t, acked(i, 0, i + 1, 10)));
        }
        h
    }

    fn consumed(h: &mut Vec<(Time, O)>, order: &[u32]) {
        for (j, &i) in order.iter().enumerate() {
            let t = 1000 + j as u64;
            h.push((t, delivered(i, 0, u64::from(i))));
            h.push((t, applied(i, 0, i + 1, 10)));
        }
    }

    #[test]
    fn no_loss_fires_on_an_acknowledged_event_never_applied_and_not_otherwise() {
        let mut h = written(3);
        consumed(&mut h, &[0, 1, 2]);
        assert!(check("no-loss", Effect::Sum, &h).is_empty());
        let mut h = written(3);
        consumed(&mut h, &[0, 2]);
        let v = check("no-loss", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].events, vec![1]);
        assert_eq!(v[0].group.as_deref(), Some("g"));
    }

    #[test]
    fn no_loss_excuses_what_came_before_the_group_and_what_it_dead_lettered() {
        // The group starts at offset 2 (latest): events 0 and 1 are not its own.
        let mut h = written(3);
        h[0] = (0, assigned(0, 0, 2));
        h.push((50, assigned(0, 0, 2)));
        consumed(&mut h, &[2]);
        assert!(check("no-loss", Effect::Sum, &h).is_empty());
        let mut h = written(2);
        consumed(&mut h, &[0]);
        h.push((
            2000,
            O::GaveUp {
                event: 1,
                group: 0,
                consumer: 0,
                dead_lettered: true,
                key: 0,
                value: 10,
            },
        ));
        assert!(check("no-loss", Effect::Sum, &h).is_empty());
    }

    #[test]
    fn no_loss_reports_truncated_and_expired_acknowledged_events() {
        let mut h = written(2);
        consumed(&mut h, &[0, 1]);
        h.push((
            3000,
            O::Truncated {
                event: 1,
                partition: 0,
                offset: 1,
            },
        ));
        let v = check("no-loss", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("truncated"), "{}", v[0].message);
        let mut h = written(2);
        consumed(&mut h, &[0]);
        h.push((
            3000,
            O::Expired {
                event: 1,
                group: 0,
                partition: 0,
                offset: 1,
                key: 0,
                value: 10,
            },
        ));
        let v = check("no-loss", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("retention"), "{}", v[0].message);
    }

    #[test]
    fn exactly_once_fires_on_a_second_application_only() {
        let mut h = written(2);
        consumed(&mut h, &[0, 1]);
        assert!(check("exactly-once-effect", Effect::Sum, &h).is_empty());
        h.push((5000, delivered(1, 1, 1)));
        assert!(
            check("exactly-once-effect", Effect::Sum, &h).is_empty(),
            "a second delivery is no second effect"
        );
        h.push((5001, applied(1, 0, 2, 10)));
        let v = check("exactly-once-effect", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].t_ns, v[0].events.clone()), (5001, vec![1]));
        assert_eq!(v[0].key.as_deref(), Some("k0"));
    }

    #[test]
    fn per_key_order_fires_on_an_inversion_and_ignores_reapplications() {
        let mut h = written(3);
        consumed(&mut h, &[0, 1, 2]);
        h.push((5000, applied(1, 0, 2, 10))); // a duplicate, not an inversion
        assert!(check("per-key-order", Effect::Sum, &h).is_empty());
        let mut h = written(3);
        consumed(&mut h, &[0, 2, 1]);
        let v = check("per-key-order", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert_eq!(
            v[0].events,
            vec![2, 1],
            "both events: the newer, then the late one"
        );
    }

    #[test]
    fn convergence_compares_the_projection_with_the_reference() {
        let mut h = written(3);
        consumed(&mut h, &[0, 1, 2]);
        assert!(check("convergence", Effect::Sum, &h).is_empty());
        // A duplicate corrupts a sum...
        h.push((1003, applied(1, 0, 2, 10)));
        let v = check("convergence", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert!(
            v[0].message.contains("40 instead of 30"),
            "{}",
            v[0].message
        );
        // ...and reordering corrupts a last-write projection: the reference
        // keeps the newest version's value (7), the group applied 7 then 3.
        let h = vec![
            (0, assigned(0, 0, 0)),
            (1, appended(0, 0)),
            (1, acked(0, 0, 1, 3)),
            (2, appended(1, 1)),
            (2, acked(1, 0, 2, 7)),
            (10, applied(1, 0, 2, 7)),
            (11, applied(0, 0, 1, 3)),
        ];
        let v = check("convergence", Effect::LastWrite, &h);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("3 instead of 7"), "{}", v[0].message);
    }

    #[test]
    fn convergence_fires_when_it_takes_longer_than_the_deadline() {
        let mut h = written(2);
        h.push((100, applied(0, 0, 1, 10)));
        h.push((5000, applied(1, 0, 2, 10))); // settled at 0, deadline 2000
        let v = check("convergence", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("deadline"), "{}", v[0].message);
    }

    #[test]
    fn liveness_fires_on_a_partition_left_behind() {
        let mut h = written(3);
        consumed(&mut h, &[0, 1, 2]);
        assert!(check("liveness", Effect::Sum, &h).is_empty());
        let mut h = written(3);
        consumed(&mut h, &[0]);
        h.push((1500, produced(9, 1))); // the run goes on, no progress
        let v = check("liveness", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("behind"), "{}", v[0].message);
        let mut h = written(3);
        consumed(&mut h, &[0]);
        h.push((9000, produced(9, 1)));
        let v = check("liveness", Effect::Sum, &h);
        assert!(v[0].message.contains("no progress"), "{}", v[0].message);
    }

    #[test]
    fn no_duplicates_in_log_fires_on_a_second_append_unless_truncated_between() {
        let mut h = written(2);
        assert!(check("no-duplicates-in-log", Effect::Sum, &h).is_empty());
        h.push((
            100,
            O::Truncated {
                event: 1,
                partition: 0,
                offset: 1,
            },
        ));
        h.push((101, appended(1, 1)));
        assert!(check("no-duplicates-in-log", Effect::Sum, &h).is_empty());
        h.push((102, appended(1, 2)));
        assert_eq!(check("no-duplicates-in-log", Effect::Sum, &h).len(), 1);
    }

    #[test]
    fn polls_must_return_consecutive_offsets_within_an_assignment() {
        let base = written(4);
        let mut ok = base.clone();
        for i in 0..4 {
            ok.push((1000 + u64::from(i), delivered(i, 0, u64::from(i))));
        }
        ok.push((2000, assigned(1, 0, 2))); // another assignment starts over
        ok.push((2001, delivered(2, 1, 2)));
        assert!(check("nonmonotonic-poll", Effect::Sum, &ok).is_empty());
        assert!(check("skipped-offset", Effect::Sum, &ok).is_empty());

        let mut back = base.clone();
        back.push((1000, delivered(0, 0, 0)));
        back.push((1001, delivered(1, 0, 1)));
        back.push((1002, delivered(0, 0, 0)));
        assert_eq!(check("nonmonotonic-poll", Effect::Sum, &back).len(), 1);
        assert!(check("skipped-offset", Effect::Sum, &back).is_empty());

        let mut skip = base;
        skip.push((1000, delivered(0, 0, 0)));
        skip.push((1001, delivered(3, 0, 3)));
        assert_eq!(check("skipped-offset", Effect::Sum, &skip).len(), 1);
        assert!(check("nonmonotonic-poll", Effect::Sum, &skip).is_empty());
    }

    #[test]
    fn explanations_follow_the_events_and_the_faults() {
        let mut h = written(2);
        consumed(&mut h, &[0, 1]);
        h.push((1500, O::NodeState { node: 2, state: 1 }));
        h.push((
            1600,
            O::Expelled {
                group: 0,
                consumer: 0,
            },
        ));
        h.push((2000, delivered(1, 1, 1)));
        h.push((2001, applied(1, 0, 2, 10)));
        let mut violations = check("exactly-once-effect", Effect::Sum, &h);
        let mut e = Explainer::new(&ctx(Effect::Sum), &violations);
        for (t, o) in &h {
            e.observe(*t, o);
        }
        e.explain(&mut violations);
        let text = violations[0].explanation.join("\n");
        assert!(text.contains("event 1 applied by g/0"), "{text}");
        assert!(text.contains("g/0 crashed"), "{text}");
        assert!(text.contains("expelled"), "{text}");
        assert!(text.ends_with("event 1 applied by g/0"), "{text}");
    }
}
