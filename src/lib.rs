//! eventsim: a deterministic, seeded discrete-event simulator of
//! event-driven architectures (producers, a replicated log broker, consumer
//! groups and the services they feed).
//!
//! Data flows one way:
//! `scenario` (parse, validate) -> `model` on the `kernel` (run) ->
//! `history` observations -> `metrics` -> `report` (files) -> `cli`.
//!
//! ```no_run
//! let scenario = eventsim::scenario::Scenario::load("scenarios/mm1.toml".as_ref()).unwrap();
//! let result = eventsim::run(&scenario, 7);
//! println!("{} events applied", result.metrics.counts.applied);
//! ```

#![warn(missing_docs)]

pub mod availability;
mod budget;
mod bug;
mod capacity;
pub mod check;
mod cli;
mod compare;
pub mod flows;
pub mod history;
pub mod jepsen;
pub mod kernel;
pub mod latency;
pub mod metrics;
pub mod model;
pub mod outcome;
mod output;
pub mod report;
pub mod scenario;
mod shrink;
mod sweep;
mod text;
mod timeseries;

pub use model::World;
pub use outcome::RunResult;

/// The `eventsim` command line: reads the process's arguments, runs the
/// command and returns its exit status (0 every invariant held, 1 one was
/// violated, 2 bad input or usage, 3 inconclusive, 4 a sweep or comparison
/// incomplete). The `eventsim` binary is this function.
pub fn cli_main() -> i32 {
    cli::main()
}

/// The eventsim version written into every report.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Build and run `scenario` with master seed `seed`.
pub fn run(scenario: &scenario::Scenario, seed: u64) -> RunResult {
    World::new(scenario, seed).run()
}

/// A run and what its invariant checkers found.
pub struct Checked {
    /// What the run produced: counts, latencies, the catalog.
    pub result: RunResult,
    /// Every enabled checker's result, in checker order.
    pub checks: Vec<check::CheckResult>,
    /// The violations found, explained (the first per checker at most).
    pub violations: Vec<check::Violation>,
    /// Each objective of `[[checks.objectives]]`, judged.
    pub objectives: Vec<check::objectives::ObjectiveFigure>,
}

impl Checked {
    /// Pass, fail or inconclusive: see [`check::verdict`].
    pub fn verdict(&self) -> check::Verdict {
        check::verdict(&self.checks, self.result.stop_reason).0
    }

    /// Why the verdict is `inconclusive`, if it is.
    pub fn verdict_note(&self) -> Option<String> {
        check::verdict(&self.checks, self.result.stop_reason).1
    }
}

/// Run `scenario` with the checkers its `[checks]` enables, plus `extra`
/// observers (a history writer, ...). Violations are explained by a second,
/// identical run that collects the observations around them.
pub fn run_checked(
    scenario: &scenario::Scenario,
    seed: u64,
    extra: Vec<Box<dyn history::Observer>>,
) -> Checked {
    run_checked_with(scenario, seed, extra, None, None)
}

/// [`run_checked`], telling `progress` (simulated now, simulated end) as
/// the main run goes, and stopping it (`interrupted`, an inconclusive
/// verdict) soon after `interrupt` is set.
pub fn run_checked_with(
    scenario: &scenario::Scenario,
    seed: u64,
    extra: Vec<Box<dyn history::Observer>>,
    progress: Option<Box<dyn FnMut(kernel::Time, kernel::Time)>>,
    interrupt: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) -> Checked {
    use std::cell::RefCell;
    use std::rc::Rc;
    let (mut checked, ctx) = run_checks_with(scenario, seed, extra, progress, interrupt);
    if checked.violations.iter().any(|v| v.explanation.is_empty()) {
        let explainer = Rc::new(RefCell::new(check::Explainer::new(
            &ctx,
            &checked.violations,
        )));
        let mut again = World::new(scenario, seed);
        // A run cut from outside (memory, an interrupt) at a point no
        // budget of the scenario marks: the replay stops at the same event.
        if matches!(
            checked.result.stop_reason,
            kernel::StopReason::MemoryMax | kernel::StopReason::Interrupted
        ) {
            again.cut_at(checked.result.kernel_events);
        }
        again.add_observer(Box::new(history::Shared(explainer.clone())));
        again.run();
        explainer.borrow().explain(&mut checked.violations);
        check::attach_first(&mut checked.checks, &checked.violations);
    }
    checked
}

/// Run `scenario` with its checkers, without explaining violations.
pub fn run_checks(
    scenario: &scenario::Scenario,
    seed: u64,
    extra: Vec<Box<dyn history::Observer>>,
) -> (Checked, check::Context) {
    run_checks_with(scenario, seed, extra, None, None)
}

fn run_checks_with(
    scenario: &scenario::Scenario,
    seed: u64,
    extra: Vec<Box<dyn history::Observer>>,
    progress: Option<Box<dyn FnMut(kernel::Time, kernel::Time)>>,
    interrupt: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) -> (Checked, check::Context) {
    let mut world = World::new(scenario, seed);
    // The bug report's own test: a panic where a run's would happen.
    if std::env::var_os("EVENTSIM_INJECT_PANIC").is_some() {
        panic!("injected by EVENTSIM_INJECT_PANIC (a test of the bug report)");
    }
    if let Some(p) = progress {
        world.set_progress(p);
    }
    if let Some(flag) = interrupt {
        world.set_interrupt(flag);
    }
    let ctx = check::Context::new(scenario, world.catalog(), world.fault_plan());
    world.set_checks(check::Checks::new(
        ctx.clone(),
        check::CheckConfig::from_scenario(scenario),
    ));
    for o in extra {
        world.add_observer(o);
    }
    let (result, checks) = world.run_with_checks();
    let mut checks = checks.expect("the checks set above");
    let (mut results, mut violations) = checks.finish(
        result.sim_time_ns,
        result.production_end_ns,
        result.stop_reason.is_budget(),
    );
    let objectives = check::objectives::apply(
        &scenario.checks.objectives,
        checks.config.run.contains(&check::CheckerId::Objectives),
        &result,
        &mut results,
        &mut violations,
    );
    (
        Checked {
            result,
            checks: results,
            violations,
            objectives,
        },
        ctx,
    )
}
