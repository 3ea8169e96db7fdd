//! Laws that hold for any seed: without faults, every produced event is
//! applied exactly once by every group; under random faults, a safe
//! configuration loses nothing and applies nothing twice; and a run is a
//! pure function of its scenario and seed.

use crate::common::*;
use proptest::prelude::*;

fn config(
    partitions: u32,
    consumers: u32,
    assignment: &str,
    commit: &str,
    partitioner: &str,
    rf: u32,
) -> String {
    format!(
        r#"
[scenario]
name = "prop"
duration = "2s"
drain = "20s"

[network]
client_latency = {{ dist = "lognormal", median = "300us", p99 = "3ms" }}
replication_latency = {{ dist = "uniform", min = "100us", max = "1ms" }}

[cluster]
brokers = 3
capacity = 5000

[[topics]]
name = "in"
partitions = {partitions}
replication_factor = {rf}
min_insync_replicas = {rf}

[[topics]]
name = "out"
partitions = 2

[[producers]]
name = "p"
topic = "in"
rate = 300
keys = {{ dist = "zipf", n = 50, s = 1.1 }}
partitioner = "{partitioner}"
linger = "2ms"

[[groups]]
name = "a"
topics = ["in"]
consumers = {consumers}
assignment = "{assignment}"
auto_offset_reset = "earliest"
commit = "{commit}"
processing = {{ dist = "exponential", mean = "1ms" }}
max_poll_records = 7

[[groups.emit]]
topic = "out"
event_type = "Done"

[[groups]]
name = "b"
topics = ["in", "out"]
consumers = 2
auto_offset_reset = "earliest"
start = "500ms"
commit = "transactional"
idempotency = "dedup"
effect = "sum"
"#
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn without_faults_every_event_is_applied_once_by_every_group(
        seed in 0u64..1_000_000,
        partitions in 1u32..8,
        consumers in 1u32..5,
        assignment in prop::sample::select(vec!["range", "round-robin", "sticky", "cooperative-sticky"]),
        commit in prop::sample::select(vec!["auto", "after-process", "before-process", "transactional"]),
        partitioner in prop::sample::select(vec!["murmur2", "round-robin", "sticky", "random", "key-range"]),
        rf in 1u32..4,
    ) {
        let s = scenario(&config(partitions, consumers, assignment, commit, partitioner, rf));
        let r = eventsim::run(&s, seed);
        let c = &r.metrics.counts;
        prop_assert_eq!(r.stop_reason, eventsim::kernel::StopReason::Quiescent);
        prop_assert_eq!(c.produced, c.acked);
        prop_assert_eq!(c.produced, c.appended);
        prop_assert_eq!(c.duplicates_delivered, 0);
        prop_assert_eq!(c.duplicates_applied, 0);
        let inputs = r.metrics.appended_by_topic[0].count;
        prop_assert_eq!(r.metrics.applied_by_group[0].count, inputs);
        prop_assert_eq!(c.emitted, inputs);
        prop_assert_eq!(r.metrics.applied_by_group[1].count, inputs * 2);
        // No checker fires, except per-key order when the partitioner does
        // not keep a key on one partition.
        let checked = eventsim::run_checked(&s, seed, Vec::new());
        let failed: Vec<&str> = checked
            .checks
            .iter()
            .filter(|c| c.status == CheckStatus::Fail)
            .map(|c| c.name.as_str())
            .collect();
        if matches!(partitioner, "murmur2" | "key-range") {
            prop_assert!(failed.is_empty(), "{:?}", checked.violations.first());
        } else {
            prop_assert!(failed.iter().all(|&f| f == "per-key-order"), "{:?}", failed);
        }
    }

    #[test]
    fn a_run_is_a_pure_function_of_scenario_and_seed(seed in 0u64..1_000_000) {
        let s = scenario(&config(4, 3, "cooperative-sticky", "after-process", "murmur2", 2));
        let summary = |seed| {
            let r = eventsim::run(&s, seed);
            eventsim::report::Summary::new(&r, String::new()).to_json()
        };
        prop_assert_eq!(summary(seed), summary(seed));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Under random faults (broker crashes, consumer pauses, latency spikes,
    /// handler error bursts), the safe configuration of random-chaos.toml
    /// loses no acknowledged event, keeps no duplicate in the log, applies
    /// every acknowledged event exactly once, and the fired schedule replays
    /// the run.
    #[test]
    fn safe_configuration_survives_random_faults(seed in 0u64..1_000_000, crash_rate in 0.5f64..6.0) {
        let mut s = load("scenarios/faults/random-chaos.toml");
        s.faults.random.as_mut().unwrap().kinds[0].rate = Some(crash_rate);
        let checked = eventsim::run_checked(&s, seed, Vec::new());
        prop_assert_eq!(checked.verdict(), Verdict::Pass, "{:?}", checked.violations.first());
        let (r, a) = audited(&s, seed);
        let c = &r.metrics.counts;
        prop_assert_eq!(a.acked_lost(), 0);
        prop_assert_eq!(a.duplicated(), 0);
        prop_assert_eq!(c.duplicates_applied, 0);
        prop_assert_eq!(c.applied, c.acked);
        let mut replay = s.clone();
        replay.faults = eventsim::scenario::Faults {
            schedule: r.fired_schedule(),
            random: None,
            table_form: false,
        };
        let again = eventsim::run(&replay, seed);
        prop_assert_eq!(again.kernel_events, r.kernel_events);
        prop_assert_eq!(&again.metrics.counts, c);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// A budget that cuts a passing run short never turns it into a
    /// failure: what the truncated history cannot decide (events not
    /// applied yet, projections not caught up, groups still behind) makes
    /// the verdict `inconclusive`, never `fail`; and a cut run is never a
    /// `pass` before the scenario has played out.
    #[test]
    fn a_budget_cut_never_fails_a_safe_run(seed in 0u64..1_000_000, budget in 1u64..60_000) {
        let mut s = load("scenarios/faults/safe-chaos.toml");
        s.scenario.max_kernel_events = budget;
        let checked = eventsim::run_checked(&s, seed, Vec::new());
        let full = checked.result.stop_reason != eventsim::kernel::StopReason::KernelEventsMax;
        prop_assert_eq!(
            checked.verdict(),
            if full { Verdict::Pass } else { Verdict::Inconclusive },
            "{:?} {:?}", checked.violations.first(), checked.verdict_note()
        );
        if !full {
            let note = checked.verdict_note().unwrap();
            prop_assert!(note.contains("max_kernel_events"), "{}", note);
        }
    }
}

/// Every observation of a run, in order, as text.
struct Transcript(std::rc::Rc<std::cell::RefCell<Vec<String>>>);

impl eventsim::history::Observer for Transcript {
    fn observe(&mut self, at: u64, o: &eventsim::history::Observation) {
        self.0.borrow_mut().push(format!("{at} {o:?}"));
    }
}

/// Every observation of a run, then its end, counts and every checker's
/// results and violations.
fn transcript(s: &eventsim::scenario::Scenario, seed: u64, release_often: bool) -> Vec<String> {
    use std::cell::RefCell;
    use std::rc::Rc;
    let lines = Rc::new(RefCell::new(Vec::new()));
    let mut world = eventsim::World::new(s, seed);
    if release_often {
        world.release_often();
    }
    let ctx = eventsim::check::Context::new(s, world.catalog(), world.fault_plan());
    let checks = Rc::new(RefCell::new(eventsim::check::Checks::new(
        ctx,
        eventsim::check::CheckConfig::from_scenario(s),
    )));
    world.add_observer(Box::new(eventsim::history::Shared(checks.clone())));
    world.add_observer(Box::new(Transcript(lines.clone())));
    let r = world.run();
    let (results, violations) = checks.borrow_mut().finish(
        r.sim_time_ns,
        r.production_end_ns,
        r.stop_reason.is_budget(),
    );
    let mut lines = Rc::try_unwrap(lines)
        .expect("the world is gone")
        .into_inner();
    lines.push(format!(
        "end {} {} {:?} {:?}",
        r.sim_time_ns, r.kernel_events, r.stop_reason, r.log_end_offsets
    ));
    lines.push(format!("{:?}", r.metrics.counts));
    lines.push(format!("{results:?}"));
    lines.push(format!("{violations:?}"));
    lines
}

/// Releasing what the run can no longer reach (trimmed logs and sequence
/// tables, released event records, the checkers' and metrics' per-event
/// bits) changes nothing a run does: every shipped scenario, released
/// every 64 kernel events, observes, counts and judges exactly what it
/// does without. A release that dropped something still needed would
/// panic or change a line.
#[test]
fn releasing_unreachable_state_changes_no_observation_or_verdict() {
    let mut files: Vec<String> = std::fs::read_dir(repo("scenarios/faults"))
        .expect("scenarios/faults")
        .map(|e| {
            format!(
                "scenarios/faults/{}",
                e.unwrap().file_name().to_string_lossy()
            )
        })
        .collect();
    files.sort();
    files.extend(
        [
            "scenarios/order-flow.toml",
            "scenarios/compacted-replay.toml",
        ]
        .map(String::from),
    );
    for f in &files {
        let s = load(f);
        for seed in 1..=2 {
            let plain = transcript(&s, seed, false);
            let released = transcript(&s, seed, true);
            assert_eq!(plain.len(), released.len(), "{f} seed {seed}");
            if let Some(i) = (0..plain.len()).find(|&i| plain[i] != released[i]) {
                panic!(
                    "{f} seed {seed}: observation {i} differs:\n{}\n{}",
                    plain[i], released[i]
                );
            }
        }
    }
}
