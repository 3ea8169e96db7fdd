//! Invariant checkers: streaming consumers of the history.
//!
//! Each checker has a stable name, watches observations as they happen and
//! keeps only what the invariant needs (per key, per partition, or per
//! event still in flight), then reports violations at the end of the run.
//! A checker never looks at the model. Violations are explained afterwards
//! by the [`Explainer`]: a second pass over the same history (the run replayed
//! from its seed, or the history file read again) that collects the
//! observations involving each violation's events, group and partition.

use crate::history::{Catalog, EventId, KINDS, KeyId, Kind, Observation, Observer};
use crate::kernel::{StopReason, Time};
use crate::metrics::EventBits;
use crate::scenario::{Effect, Fault, Scenario};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The checkers' hot maps: FxHash (rustc's, a word at a time, fixed seed).
/// Nothing iterates these maps into an output without sorting.
type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// Every checker, by its stable name.
pub use crate::scenario::{CHECKERS, CheckerId};

/// One broken promise.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Violation {
    /// The checker that found it (`no-loss`, `per-key-order`, ...).
    pub invariant: String,
    /// When it was found (simulated ns).
    pub t_ns: Time,
    /// The consumer group it concerns, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The partition it concerns (`orders-3`), if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// The key it concerns, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The events involved.
    pub events: Vec<EventId>,
    /// What broke, in one sentence.
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
    /// The group's index in the catalog.
    pub group: Option<u32>,
    /// The partition's global index in the catalog.
    pub partition: Option<u32>,
}

/// How a run ended, as the checkers need to know it.
#[derive(Clone, Copy, Debug)]
pub struct End {
    /// When the run ended (simulated ns).
    pub t_ns: Time,
    /// When producers had stopped and every fault had healed.
    pub settled_ns: Time,
    /// The run was stopped by a budget (its kernel event budget, or its
    /// simulated time running out before every group caught up): what had
    /// not happened yet by then may still have happened later, so a
    /// checker judges only what the truncated history decides and names
    /// the rest in [`Checker::undecided`].
    pub cut: bool,
}

/// A run's verdict: the promise a user reads first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every enabled checker held.
    Pass,
    /// A checker found a violation.
    Fail,
    /// A budget or an interrupt stopped the run before the checkers could
    /// decide.
    Inconclusive,
}

impl Verdict {
    /// As `summary.json` writes it: `pass`, `fail`, `inconclusive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One checker's status in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// The invariant held.
    Pass,
    /// It was violated.
    Fail,
    /// The run was cut by a budget before the checker could decide.
    Inconclusive,
    /// The scenario's `[checks]` did not enable it.
    Skipped,
}

impl CheckStatus {
    /// As `summary.json` writes it: `pass`, `fail`, `inconclusive`, `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Pass => "pass",
            CheckStatus::Fail => "fail",
            CheckStatus::Inconclusive => "inconclusive",
            CheckStatus::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One checker's result in `summary.json`.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct CheckResult {
    /// The checker's name.
    pub name: String,
    /// `pass`, `fail`, `inconclusive` (the run was cut by a budget before
    /// the checker could decide; `note` says what was left open) or
    /// `skipped`.
    pub status: CheckStatus,
    /// How many violations it found.
    pub violations: u64,
    /// Why the check is inconclusive.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// The first violation, explained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<Violation>,
    /// Convergence: time from settling to convergence, per group (ns).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub time_to_converge_ns: BTreeMap<String, Time>,
}

/// A run's verdict from its check results and what stopped it: `fail`
/// when a checker found a violation; else `inconclusive` when a budget
/// stopped the run before every checker could decide, or before the
/// scenario had played out at all (the kernel event budget), with the
/// reason; else `pass`.
pub fn verdict(checks: &[CheckResult], stop: StopReason) -> (Verdict, Option<String>) {
    if checks.iter().any(|c| c.status == CheckStatus::Fail) {
        return (Verdict::Fail, None);
    }
    let open: Vec<String> = checks
        .iter()
        .filter(|c| c.status == CheckStatus::Inconclusive)
        .map(|c| format!("{}: {}", c.name, c.note))
        .collect();
    let budget = match stop {
        StopReason::KernelEventsMax => {
            "the run stopped at its kernel event budget (scenario.max_kernel_events)"
        }
        StopReason::MemoryMax => {
            "the run stopped at its memory budget (--max-memory; by default half of the machine's memory)"
        }
        StopReason::Interrupted => "the run was interrupted (Ctrl-C or SIGTERM)",
        StopReason::SimTimeMax if !open.is_empty() => {
            "the run stopped at its simulated time budget (scenario.duration + scenario.drain) before every group caught up"
        }
        _ => return (Verdict::Pass, None),
    };
    let note = if open.is_empty() {
        format!("{budget}, before the scenario had played out")
    } else {
        format!("{budget}; undecided: {}", open.join("; "))
    };
    (Verdict::Inconclusive, Some(note))
}

/// Which checkers run and their bounds (`[checks]` of a scenario).
#[derive(Clone, Debug)]
pub struct CheckConfig {
    /// The checkers to run.
    pub run: BTreeSet<CheckerId>,
    /// `convergence`: how long after producers stop and faults heal a group may take to converge.
    pub convergence_deadline_ns: Time,
    /// `liveness`: the longest a group may stay behind on a partition without progress.
    pub liveness_bound_ns: Time,
    /// `producer-progress`: the longest a producer may have records outstanding without an acknowledgement.
    pub producer_progress_bound_ns: Time,
    /// `availability`: the longest a partition may go without a live leader.
    pub unavailability_bound_ns: Time,
    /// `kept-up`: when production ends (its window is the second half).
    pub production_end_ns: Time,
}

impl CheckConfig {
    /// The checkers and bounds of a scenario's `[checks]` section.
    pub fn from_scenario(s: &Scenario) -> CheckConfig {
        let c = &s.checks;
        // The names were validated with the scenario (`checks_problems`).
        let ids = |names: &[String]| -> Vec<CheckerId> {
            names
                .iter()
                .filter_map(|n| CheckerId::from_name(n))
                .collect()
        };
        let mut run: BTreeSet<CheckerId> = match &c.run {
            Some(list) => ids(list).into_iter().collect(),
            None => CheckerId::ALL.into_iter().collect(),
        };
        for id in ids(&c.skip) {
            run.remove(&id);
        }
        CheckConfig {
            run,
            convergence_deadline_ns: c
                .convergence_deadline
                .map_or(s.scenario.drain.ns(), |d| d.ns()),
            liveness_bound_ns: c.liveness_bound.ns(),
            producer_progress_bound_ns: c.producer_progress_bound.ns(),
            unavailability_bound_ns: c.unavailability_bound.ns(),
            production_end_ns: s.production_end_ns(),
        }
    }
}

/// What checkers know of the system besides the history.
#[derive(Clone, Debug)]
pub struct Context {
    /// Names and topology of the run.
    pub catalog: Catalog,
    /// Per group: its effect.
    pub effects: Vec<Effect>,
    /// Per producer (catalog order): whether it is idempotent.
    pub idempotent: Vec<bool>,
    /// Per producer (catalog order): its `transaction_timeout` if it
    /// writes in transactions.
    pub transaction_timeout_ns: Vec<Option<Time>>,
    /// Per partition: the groups that read it.
    pub readers: Vec<Vec<u32>>,
    /// Per group: whether it reads with `isolation = "read_committed"`.
    pub read_committed: Vec<bool>,
    /// The faults that fired, as the checkers judge what could be lost.
    pub faults: Vec<Fault>,
    /// Per group: it orchestrates a saga (`[groups.saga]`).
    pub orchestrators: Vec<bool>,
    /// Per group: the settings an explanation names.
    pub group_settings: Vec<GroupSettings>,
    /// Per producer (catalog order): its `max_in_flight`.
    pub max_in_flight: Vec<u32>,
}

impl Context {
    /// The context of a run of `s`, with its catalog and the faults that fired.
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
        // In-transaction groups' producers are `GROUP/N/producer`.
        let in_transaction = |name: &str| {
            let (group, _) = name.strip_suffix("/producer")?.rsplit_once('/')?;
            let g = s.groups.iter().find(|g| g.name == group)?;
            (g.commit == crate::scenario::CommitMode::InTransaction)
                .then(|| g.transaction_timeout.ns())
        };
        let transaction_timeout_ns = (catalog.producers.iter().enumerate())
            .map(|(i, name)| match s.producers.get(i) {
                Some(p) => p.transactional.then(|| p.transaction_timeout.ns()),
                None => in_transaction(name),
            })
            .collect();
        Context {
            catalog: catalog.clone(),
            effects: s.groups.iter().map(|g| g.effect).collect(),
            idempotent,
            transaction_timeout_ns,
            readers,
            read_committed: s
                .groups
                .iter()
                .map(|g| g.isolation == crate::scenario::Isolation::ReadCommitted)
                .collect(),
            faults,
            orchestrators: s.groups.iter().map(|g| g.saga.is_some()).collect(),
            group_settings: (s.groups.iter())
                .map(|g| GroupSettings {
                    commit: g.commit,
                    guarded: g.idempotency != crate::scenario::Idempotency::None,
                    reset_latest: g.auto_offset_reset == crate::scenario::OffsetReset::Latest,
                })
                .collect(),
            max_in_flight: max_in_flight(s, catalog),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn violation(
        &self,
        invariant: &str,
        t_ns: Time,
        group: Option<u32>,
        partition: Option<u32>,
        key: Option<KeyId>,
        events: Vec<EventId>,
        message: String,
    ) -> Violation {
        Violation {
            invariant: invariant.to_string(),
            t_ns,
            group: group.map(|g| self.catalog.groups[g as usize].clone()),
            partition: partition.map(|p| self.catalog.partition_name(p)),
            key: key.map(|k| self.catalog.keys.text(k)),
            events,
            message,
            explanation: Vec::new(),
            ids: Subject { group, partition },
        }
    }
}

/// A streaming invariant checker.
pub trait Checker {
    /// The checker's stable name (one of [`CHECKERS`]).
    fn name(&self) -> &'static str;
    /// The kinds of observation `observe` reads: it is called for those only.
    fn kinds(&self) -> &'static [Kind];
    /// Read one observation, made at `at`.
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation);
    /// The run ended: the violations found that were not reported yet.
    fn finish(&mut self, ctx: &Context, end: End) -> Vec<Violation>;
    /// After `finish` on a cut run: what the checker could not decide
    /// (e.g. "120 acknowledged events not applied yet"), if anything.
    fn undecided(&self) -> Option<String> {
        None
    }
    /// Extra figures for the summary (convergence times).
    fn figures(&self) -> BTreeMap<String, Time> {
        BTreeMap::new()
    }
    /// No later observation names an event below `below` (see
    /// [`Observer::released`]).
    fn released(&mut self, _below: EventId) {}
}

/// Every enabled checker, fed together.
pub struct Checks {
    /// What the checkers know besides the history.
    pub ctx: Context,
    /// Which checkers run, and their bounds.
    pub config: CheckConfig,
    checkers: Vec<Box<dyn Checker>>,
    /// Per kind of observation: the checkers that read it.
    by_kind: Vec<Vec<usize>>,
    settled_ns: Time,
    open_faults: BTreeSet<u32>,
    /// A fault that never heals fired (a crash without restart, a poison).
    permanent: bool,
}

impl Checks {
    /// Every checker `config` enables, in checker order.
    pub fn new(ctx: Context, config: CheckConfig) -> Checks {
        let groups = ctx.catalog.groups.len();
        let mut checkers: Vec<Box<dyn Checker>> = Vec::new();
        // The two flow checkers share one book; the first enabled feeds it.
        let book = flows::shared_book(&ctx);
        let mut book_fed = false;
        let mut feeds = || !std::mem::replace(&mut book_fed, true);
        for &id in &config.run {
            use CheckerId as C;
            let c: Box<dyn Checker> = match id {
                C::NoLoss => Box::new(NoLoss::new(groups)),
                C::ExactlyOnceEffect => Box::new(ExactlyOnce::new(groups)),
                C::PerKeyOrder => Box::new(PerKeyOrder::default()),
                C::Convergence => Box::new(Convergence::new(&ctx, config.convergence_deadline_ns)),
                C::Liveness => Box::new(Liveness::new(&ctx, config.liveness_bound_ns)),
                C::NoDuplicatesInLog => Box::new(NoDuplicatesInLog::default()),
                C::NonmonotonicPoll => Box::new(Polls::new(true)),
                C::SkippedOffset => Box::new(Polls::new(false)),
                C::Availability => {
                    Box::new(Availability::new(&ctx, config.unavailability_bound_ns))
                }
                C::KeptUp => Box::new(KeptUp::new(&ctx, config.production_end_ns)),
                C::ProducerProgress => Box::new(ProducerProgress::new(
                    &ctx,
                    config.producer_progress_bound_ns,
                )),
                // Without flows they do not apply: not fed at all.
                C::SagaAtomicity | C::HeldResources if ctx.catalog.flows.is_empty() => continue,
                C::SagaAtomicity => Box::new(SagaAtomicity::new(book.clone(), feeds())),
                C::HeldResources => Box::new(HeldResources::new(book.clone(), feeds())),
                // Judged on the run's figures once it is over: objectives::apply.
                C::Objectives => continue,
            };
            checkers.push(c);
        }
        let mut by_kind = vec![Vec::new(); KINDS];
        for (i, c) in checkers.iter().enumerate() {
            for &k in c.kinds() {
                by_kind[k as usize].push(i);
            }
        }
        Checks {
            ctx,
            config,
            checkers,
            by_kind,
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
        cut: bool,
    ) -> (Vec<CheckResult>, Vec<Violation>) {
        let settled = if self.open_faults.is_empty() && !self.permanent {
            self.settled_ns.max(production_end_ns)
        } else {
            end_ns
        };
        let end = End {
            t_ns: end_ns,
            settled_ns: settled.min(end_ns),
            cut,
        };
        let applicable = self.applicable();
        let mut results = Vec::new();
        let mut all = Vec::new();
        type Finished = (Vec<Violation>, Option<String>, BTreeMap<String, Time>);
        let mut by_name: BTreeMap<&'static str, Finished> = BTreeMap::new();
        for c in &mut self.checkers {
            let v = c.finish(&self.ctx, end);
            let open = if cut { c.undecided() } else { None };
            by_name.insert(c.name(), (v, open, c.figures()));
        }
        for name in CHECKERS {
            let result = match by_name.remove(name) {
                Some((v, open, figures)) if applicable.contains(name) => {
                    let status = match (&open, v.is_empty()) {
                        (_, false) => CheckStatus::Fail,
                        (Some(_), true) => CheckStatus::Inconclusive,
                        (None, true) => CheckStatus::Pass,
                    };
                    let r = CheckResult {
                        name: name.to_string(),
                        status,
                        violations: v.len() as u64,
                        note: open.unwrap_or_default(),
                        first: v.first().cloned(),
                        time_to_converge_ns: figures,
                    };
                    all.extend(v);
                    r
                }
                _ => CheckResult {
                    name: name.to_string(),
                    status: CheckStatus::Skipped,
                    violations: 0,
                    note: String::new(),
                    first: None,
                    time_to_converge_ns: BTreeMap::new(),
                },
            };
            results.push(result);
        }
        (results, all)
    }

    fn applicable(&self) -> BTreeSet<&'static str> {
        use CheckerId as C;
        let groups = !self.ctx.catalog.groups.is_empty();
        (CheckerId::ALL.into_iter())
            .filter(|&id| match id {
                C::NoDuplicatesInLog => self.ctx.idempotent.iter().any(|&x| x),
                C::ProducerProgress | C::Availability => true,
                C::SagaAtomicity => !self.ctx.catalog.flows.is_empty(),
                C::HeldResources => self.ctx.catalog.flows.iter().any(|f| !f.holds.is_empty()),
                C::NoLoss
                | C::ExactlyOnceEffect
                | C::PerKeyOrder
                | C::Convergence
                | C::Liveness
                | C::NonmonotonicPoll
                | C::SkippedOffset
                | C::KeptUp
                | C::Objectives => groups,
            })
            .map(CheckerId::name)
            .collect()
    }
}

impl Observer for Checks {
    fn released(&mut self, below: EventId) {
        for c in &mut self.checkers {
            c.released(below);
        }
    }

    // Inlined into each call site (see `Metrics::observe`): the
    // observation's kind, and so its checkers' list, is known there.
    #[inline(always)]
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
        for &i in &self.by_kind[o.kind() as usize] {
            self.checkers[i].observe(&self.ctx, at, o);
        }
    }
}

mod availability;
mod convergence;
mod exactly_once;
mod explain;
mod flows;
mod kept_up;
mod liveness;
mod no_duplicates_in_log;
mod no_loss;
pub mod objectives;
mod per_key_order;
mod polls;
mod producer_progress;
#[cfg(test)]
mod testkit;

use availability::Availability;
use convergence::Convergence;
use exactly_once::ExactlyOnce;
pub use explain::{EXPLAINED_PER_CHECKER, Explainer, attach_first};
use flows::{HeldResources, SagaAtomicity};
use kept_up::KeptUp;
use liveness::Liveness;
use no_duplicates_in_log::NoDuplicatesInLog;
use no_loss::NoLoss;
use per_key_order::PerKeyOrder;
use polls::Polls;
use producer_progress::ProducerProgress;

/// A group's settings that explanations name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupSettings {
    /// How it commits.
    pub commit: crate::scenario::CommitMode,
    /// An idempotency guard skips what it applied before.
    pub guarded: bool,
    /// Without a committed offset it starts at the log end.
    pub reset_latest: bool,
}

/// Each producer's `max_in_flight`; emitters use the default client.
fn max_in_flight(s: &Scenario, catalog: &Catalog) -> Vec<u32> {
    let mut m: Vec<u32> = s.producers.iter().map(|p| p.max_in_flight).collect();
    let default = crate::scenario::ProducerClient::default().max_in_flight;
    m.resize(catalog.producers.len(), default);
    m
}
