//! Faults act through the model's mechanisms: each classic failure shows up
//! in the counts and the log, and its safe twin does not. Also: same seed,
//! same faults, same bytes; the fired schedule replays the run; bad fault
//! specs exit 2 with a location.

use crate::common::*;
use eventsim::scenario::{Faults, Scenario};

fn counts(path: &str, seed: u64) -> eventsim::metrics::Counts {
    eventsim::run(&load(path), seed).metrics.counts
}

#[test]
fn consumer_crash_with_uncommitted_progress_applies_duplicates_unless_transactional() {
    for seed in 0..5 {
        let c = counts("scenarios/faults/consumer-crash-duplicates.toml", seed);
        assert_eq!(
            c.expelled, 1,
            "seed {seed}: the session timeout expels the crashed consumer"
        );
        assert!(c.duplicates_delivered > 0, "seed {seed}: {c:?}");
        assert!(c.duplicates_applied > 0, "seed {seed}: {c:?}");

        let t = counts("scenarios/faults/consumer-crash-transactional.toml", seed);
        assert_eq!(t.expelled, 1);
        // Redelivery still happens (what was polled but not processed);
        // effects do not repeat.
        assert!(t.duplicates_delivered > 0, "seed {seed}: {t:?}");
        assert_eq!(t.duplicates_applied, 0, "seed {seed}: {t:?}");
        assert_eq!(
            t.applied, t.acked,
            "seed {seed}: every acked event applied once"
        );
    }
}

#[test]
fn librdkafka_auto_commit_with_a_crash_loses_effects_and_after_process_with_dedup_does_not() {
    for seed in 0..5 {
        let lossy = counts("scenarios/faults/auto-commit-loss.toml", seed);
        assert!(lossy.applied < lossy.acked, "seed {seed}: {lossy:?}");
        assert_eq!(lossy.duplicates_applied, 0);

        // The same run with the Java client's auto-commit: redelivery, no loss.
        let java = counts("scenarios/faults/auto-commit-java.toml", seed);
        assert!(java.duplicates_applied > 0, "seed {seed}: {java:?}");
        assert_eq!(
            java.applied - java.duplicates_applied,
            java.acked,
            "seed {seed}: every acknowledged event applied: {java:?}"
        );

        let safe = counts("scenarios/faults/after-process-dedup.toml", seed);
        assert_eq!(safe.applied, safe.acked, "seed {seed}: {safe:?}");
        assert_eq!(safe.duplicates_applied, 0);
        assert!(
            safe.skipped > 0,
            "redeliveries are skipped by the dedup store"
        );
    }
}

/// A leader crash in the middle of a steady stream, on a topic of RF 3.
fn failover(idempotent: bool, crash: &str) -> Scenario {
    scenario(&format!(
        r#"
[scenario]
name = "failover"
duration = "20s"

[network]
request_timeout = "2s"

[cluster]
brokers = 3
broker_session_timeout = "1s"

[[topics]]
name = "t"
partitions = 3
replication_factor = 3
min_insync_replicas = 2

[[producers]]
name = "p"
topic = "t"
rate = 500
keys = {{ dist = "uniform", n = 100 }}
idempotent = {idempotent}
acks = "all"
request_timeout = "300ms"
retry_backoff = "20ms"

[[groups]]
name = "g"
topics = ["t"]
auto_offset_reset = "earliest"

[[faults]]
kind = "crash"
target = "{crash}"
at = "7s"
restart_after = "5s"
"#
    ))
}

#[test]
fn idempotent_producer_leaves_no_duplicate_in_the_log_across_a_leader_failover() {
    let mut dup_without_idempotence = 0;
    for seed in 0..5 {
        for broker in ["broker-0", "broker-1", "broker-2"] {
            let (r, a) = audited(&failover(true, broker), seed);
            assert!(r.metrics.counts.leader_elections >= 1, "a leader moved");
            assert_eq!(a.duplicated(), 0, "seed {seed} {broker}");
            assert_eq!(a.acked_lost(), 0, "seed {seed} {broker}");
            assert_eq!(r.metrics.counts.acked, r.metrics.counts.produced);
            let (_, b) = audited(&failover(false, broker), seed);
            dup_without_idempotence += b.duplicated();
        }
    }
    // The contrast: the same failover without idempotence does duplicate
    // (acks lost with the leader's connections, batches retried).
    assert!(dup_without_idempotence > 0);
}

#[test]
fn acks_all_with_min_isr_2_loses_no_acknowledged_event_across_any_single_broker_crash() {
    let mut s = load("scenarios/faults/random-chaos.toml");
    // Broker crashes only, at most one broker down at a time.
    let random = s.faults.random.as_mut().unwrap();
    random
        .kinds
        .retain(|k| k.kind == eventsim::scenario::FaultKind::Crash);
    random.kinds[0].rate = Some(4.0);
    random.max_down_brokers = Some(1);
    let mut crashes = 0;
    for seed in 0..20 {
        let (r, a) = audited(&s, seed);
        crashes += r.fired_schedule().len();
        assert_eq!(a.acked_lost(), 0, "seed {seed}");
        assert_eq!(a.duplicated(), 0, "seed {seed}");
        assert_eq!(r.metrics.counts.unclean_leader_elections, 0);
    }
    assert!(crashes >= 20, "the sweep exercised crashes ({crashes})");
    // And each broker crashed at a fixed time, whichever leads what.
    for broker in ["broker-0", "broker-1", "broker-2"] {
        for seed in 0..3 {
            let (_, a) = audited(&failover(true, broker), seed);
            assert_eq!(a.acked_lost(), 0);
        }
    }
}

#[test]
fn acks_1_with_unclean_election_loses_acknowledged_events() {
    let s = load("scenarios/faults/unclean-election-loss.toml");
    let lossy_seeds: Vec<u64> = (0..50)
        .filter(|&seed| audited(&s, seed).1.acked_lost() > 0)
        .collect();
    assert!(!lossy_seeds.is_empty());
    let (r, a) = audited(&s, lossy_seeds[0]);
    assert_eq!(r.metrics.counts.unclean_leader_elections, 1);
    assert!(r.metrics.counts.truncated as usize >= a.acked_lost());

    let safe = load("scenarios/faults/acks-all-clean-election.toml");
    for seed in 0..10 {
        let (r, a) = audited(&safe, seed);
        assert_eq!(a.acked_lost(), 0, "seed {seed}");
        // With ELR (KIP-966) the follower cut off from broker-0 leads once
        // broker-0 is fenced: what it truncates was never acknowledged.
        let c = &r.metrics.counts;
        assert!(c.truncated <= c.appended - c.acked, "seed {seed}: {c:?}");
        assert_eq!(r.metrics.counts.unclean_leader_elections, 0);
        assert_eq!(
            r.metrics.counts.applied, r.metrics.counts.acked,
            "seed {seed}"
        );
    }
}

#[test]
fn retries_with_several_in_flight_and_no_idempotence_reorder_keys_in_the_log() {
    let s = load("scenarios/faults/retry-reordering.toml");
    let reordered = (0..10)
        .filter(|&seed| audited(&s, seed).1.inversions > 0)
        .count();
    assert!(reordered > 0);
    let safe = load("scenarios/faults/idempotent-producer.toml");
    for seed in 0..10 {
        let (r, a) = audited(&safe, seed);
        assert_eq!(a.inversions, 0, "seed {seed}");
        assert_eq!(a.duplicated(), 0, "seed {seed}");
        assert_eq!(r.metrics.counts.appended, r.metrics.counts.acked);
    }
}

#[test]
fn a_consumer_stalled_behind_retention_finds_expired_events() {
    let c = counts("scenarios/faults/retention-expiry.toml", 1);
    assert!(c.expired > 0, "{c:?}");
    assert_eq!(c.applied + c.expired, c.acked, "{c:?}");
    let safe = counts("scenarios/faults/retention-ample.toml", 1);
    assert_eq!(safe.expired, 0);
    assert_eq!(safe.applied, safe.acked);
}

#[test]
fn a_poison_event_with_blocking_retry_stalls_and_a_dead_letter_topic_does_not() {
    let s = load("scenarios/faults/poison-block.toml");
    let r = eventsim::run(&s, 1);
    let c = &r.metrics.counts;
    assert_eq!(
        r.stop_reason.as_str(),
        "sim-time-max",
        "the run never drains"
    );
    assert!(c.handler_failures > 50 && c.applied < c.acked, "{c:?}");
    assert_eq!(c.dead_lettered, 0);

    let s = load("scenarios/faults/poison-dead-letter.toml");
    let r = eventsim::run(&s, 1);
    let c = &r.metrics.counts;
    assert_eq!(r.stop_reason.as_str(), "quiescent");
    assert!(c.dead_lettered > 0);
    // Each poison event: 1 try + 3 retries, then the dead-letter topic.
    assert_eq!(c.handler_failures, 4 * c.dead_lettered);
    // Everything the shop produced is applied or dead-lettered.
    let shop = c.produced - c.dead_lettered;
    assert_eq!(c.applied + c.dead_lettered, shop);
}

fn zombie(commit: &str) -> Scenario {
    scenario(&format!(
        r#"
[scenario]
name = "zombie"
duration = "20s"

[[topics]]
name = "t"
partitions = 4

[[producers]]
name = "p"
topic = "t"
rate = 400

[[groups]]
name = "g"
topics = ["t"]
consumers = 2
start = "3s"
auto_offset_reset = "earliest"
commit = "{commit}"
effect = "sum"
max_poll_records = 300
processing = "2ms"
session_timeout = "2s"

[[faults]]
kind = "pause"
target = "g/0"
at = "5s"
duration = "4s"
"#
    ))
}

#[test]
fn a_pause_longer_than_the_session_timeout_makes_a_zombie_whose_commits_are_fenced() {
    let r = eventsim::run(&zombie("after-process"), 1);
    let c = &r.metrics.counts;
    assert_eq!(c.expelled, 1, "{c:?}");
    assert!(c.rebalances >= 3, "expel, then rejoin: {c:?}");
    // The zombie finishes its batch after the others took its partitions:
    // the same events are applied twice, and its late commit is refused.
    assert!(c.duplicates_applied > 0, "{c:?}");
    let t = eventsim::run(&zombie("transactional"), 1);
    assert_eq!(t.metrics.counts.expelled, 1);
    assert_eq!(
        t.metrics.counts.duplicates_applied, 0,
        "the zombie's transactions abort"
    );
    assert_eq!(t.metrics.counts.applied, t.metrics.counts.acked);
}

#[test]
fn network_duplication_on_produce_appends_twice_without_idempotence() {
    let text = |idempotent: bool| {
        format!(
            r#"
[scenario]
name = "dup"
duration = "5s"

[[topics]]
name = "t"

[[producers]]
name = "p"
topic = "t"
rate = 200
idempotent = {idempotent}
acks = "{}"

[[faults]]
kind = "duplicate"
target = ["p", "broker-0"]
probability = 0.2
at = "1s"
duration = "2s"
"#,
            if idempotent { "all" } else { "1" }
        )
    };
    let (_, a) = audited(&scenario(&text(false)), 3);
    assert!(a.duplicated() > 20, "{}", a.duplicated());
    let (_, b) = audited(&scenario(&text(true)), 3);
    assert_eq!(b.duplicated(), 0);
}

#[test]
fn same_seed_same_faults_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let files = ["summary.json", "faults.csv", "faults.toml"];
    let mut outputs = Vec::new();
    for (i, seed) in ["2", "2", "5"].iter().enumerate() {
        let dir = tmp.path().join(format!("r{i}"));
        let o = eventsim(&[
            "run",
            "scenarios/faults/random-chaos.toml",
            "--seed",
            seed,
            "--out",
            dir.to_str().unwrap(),
            "--quiet",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        outputs.push(files.map(|f| std::fs::read(dir.join(f)).unwrap()));
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_ne!(
        outputs[0][1], outputs[2][1],
        "another seed draws other faults"
    );
    let csv = String::from_utf8(outputs[0][1].clone()).unwrap();
    assert!(csv.starts_with("t_ns,phase,kind,target,duration_ns,detail,struck,struck_nothing\n"));
    assert!(csv.lines().count() > 3, "{csv}");
}

#[test]
fn the_fired_faults_replay_the_run_without_the_random_generator() {
    let s = load("scenarios/faults/random-chaos.toml");
    for seed in [0, 2, 7] {
        let original = eventsim::run(&s, seed);
        let fired = original.fired_schedule();
        assert!(!fired.is_empty());
        let mut replay = s.clone();
        replay.faults = Faults {
            schedule: fired,
            random: None,
            table_form: false,
        };
        assert!(replay.problems().is_empty(), "{:?}", replay.problems());
        let again = eventsim::run(&replay, seed);
        let json =
            |r: &eventsim::RunResult| eventsim::report::Summary::new(r, String::new()).to_json();
        assert_eq!(json(&original), json(&again), "seed {seed}");
        assert_eq!(
            eventsim::report::faults_csv(&original),
            eventsim::report::faults_csv(&again)
        );
        assert_eq!(original.kernel_events, again.kernel_events);
    }
}

#[test]
fn faults_toml_replaces_the_faults_section_and_reproduces_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let o = eventsim(&[
        "run",
        "scenarios/faults/random-chaos.toml",
        "--out",
        a.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(0));
    // What a user does: cut the `faults` section, paste faults.toml.
    let text = std::fs::read_to_string(repo("scenarios/faults/random-chaos.toml")).unwrap();
    let head = &text[..text.find("[faults.random]").unwrap()];
    let schedule = std::fs::read_to_string(a.join("faults.toml")).unwrap();
    let replay = tmp.path().join("replay.toml");
    std::fs::write(&replay, format!("{head}\n{schedule}")).unwrap();
    let b = tmp.path().join("b");
    let o = eventsim(&[
        "run",
        replay.to_str().unwrap(),
        "--out",
        b.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for f in ["faults.csv", "faults.toml"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    let strip = |p: &std::path::Path| {
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p.join("summary.json")).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("repro");
        v
    };
    assert_eq!(strip(&a), strip(&b));
}

#[test]
fn every_fault_scenario_runs_and_validates() {
    for entry in std::fs::read_dir(repo("scenarios/faults")).unwrap() {
        let path = entry.unwrap().path();
        let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!s.faults.is_empty(), "{} has faults", path.display());
    }
}

#[test]
fn random_faults_respect_their_bounds_and_draw_from_their_own_streams() {
    let mut s = load("scenarios/faults/random-chaos.toml");
    let random = s.faults.random.as_mut().unwrap();
    for k in &mut random.kinds {
        if k.rate.is_some() {
            k.rate = Some(20.0);
        }
    }
    let plan = |s: &Scenario, seed| eventsim::model::faults::concrete_plan(s, seed);
    for seed in 0..10 {
        let faults = plan(&s, seed);
        // Intervals during which a node is down.
        let down: Vec<(String, u64, u64)> = faults
            .iter()
            .filter(|f| matches!(f.kind.as_str(), "crash" | "pause"))
            .map(|f| {
                let t = f.target.as_ref().unwrap().to_string();
                (t, f.at.ns(), f.at.ns() + f.span().unwrap().ns())
            })
            .collect();
        for (i, (node, a, b)) in down.iter().enumerate() {
            // Nodes down at the instant this one goes down (the most down
            // at once is reached at some interval's start).
            let overlapping = |prefix: &str| {
                down.iter()
                    .filter(|(n, x, y)| n.starts_with(prefix) && x <= a && a < y)
                    .count()
            };
            // Never all three replicas (RF 3): at most 2 brokers down at once.
            assert!(overlapping("broker-") <= 2, "seed {seed}: {down:?}");
            // At most 2 of the 3 billing consumers down at once.
            assert!(overlapping("billing/") <= 2, "seed {seed}: {down:?}");
            // A node is not struck again while down.
            let same = down[..i]
                .iter()
                .filter(|(n, x, y)| n == node && x < b && a < y);
            assert_eq!(same.count(), 0, "seed {seed}: {node}");
        }
    }
    // Dropping one kind does not change what the others draw.
    let all = plan(&s, 4);
    let mut fewer = s.clone();
    fewer.faults.random.as_mut().unwrap().kinds.remove(2); // latency-spike
    let rest = plan(&fewer, 4);
    let not_spike: Vec<_> = all
        .iter()
        .filter(|f| f.kind.as_str() != "latency-spike")
        .collect();
    assert_eq!(not_spike, rest.iter().collect::<Vec<_>>());
}

/// A small system for one fault at a time.
fn small(fault: &str, idempotent: bool) -> Scenario {
    scenario(&format!(
        r#"
[scenario]
name = "small"
duration = "10s"

[network]
request_timeout = "1s"

[cluster]
brokers = 3
replica_lag_time_max = "500ms"
broker_session_timeout = "2s"

[[topics]]
name = "t"
partitions = 3
replication_factor = 3
min_insync_replicas = 1

[[producers]]
name = "p"
topic = "t"
rate = 1000
keys = {{ dist = "uniform", n = 30 }}
acks = "{}"
idempotent = {idempotent}
request_timeout = "200ms"

[[groups]]
name = "g"
topics = ["t"]
auto_offset_reset = "earliest"

{fault}
"#,
        if idempotent { "all" } else { "1" }
    ))
}

#[test]
fn a_producer_crash_fails_what_it_had_not_had_acknowledged_and_resumes_on_restart() {
    let f = "[[faults]]\nkind = \"crash\"\ntarget = \"p\"\nat = \"3s\"\nrestart_after = \"2s\"";
    let (r, a) = audited(&small(f, true), 1);
    let c = &r.metrics.counts;
    assert!(
        c.produce_failed > 0,
        "in-flight and queued records fail: {c:?}"
    );
    assert_eq!(c.acked + c.produce_failed, c.produced);
    assert_eq!(a.acked_lost(), 0);
    // Nothing is produced while it is down: about 8s of 10s at 1000/s.
    assert!((7_500..8_500).contains(&c.produced), "{c:?}");
}

#[test]
fn a_follower_cut_off_leaves_the_isr_and_rejoins_after_the_heal() {
    use eventsim::history::{Observation, Observer};
    struct Isr(std::rc::Rc<std::cell::RefCell<Vec<(u64, u32)>>>);
    impl Observer for Isr {
        fn observe(&mut self, at: u64, o: &Observation) {
            if let Observation::IsrChanged { isr, .. } = *o {
                self.0.borrow_mut().push((at, isr));
            }
        }
    }
    let f = "[[faults]]\nkind = \"partition\"\ntarget = [[\"broker-2\"], [\"broker-0\", \"broker-1\"]]\nat = \"2s\"\nduration = \"1s\"";
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut w = eventsim::World::new(&small(f, true), 1);
    w.add_observer(Box::new(Isr(log.clone())));
    let r = w.run();
    let log = log.borrow();
    assert!(
        log.iter()
            .any(|&(t, isr)| isr == 2 && t > 2_000_000_000 && t < 3_000_000_000),
        "{log:?}"
    );
    assert!(
        log.iter().any(|&(t, isr)| isr == 3 && t > 3_000_000_000),
        "{log:?}"
    );
    // broker-2 was cut off from every other broker for less than its session timeout.
    assert_eq!(r.metrics.counts.leader_elections, 0);
}

#[test]
fn reordering_on_a_link_delays_but_never_reorders_what_one_connection_carries() {
    // TCP puts packets back in order: a held-back produce request delays the
    // ones behind it on the connection instead of being overtaken.
    let f = "[[faults]]\nkind = \"reorder\"\ntarget = [\"p\", \"brokers\"]\nprobability = 0.2\nlatency = \"5ms\"\nat = \"1s\"\nduration = \"3s\"";
    for idempotent in [false, true] {
        let (r, a) = audited(&small(f, idempotent), 1);
        assert_eq!(a.inversions, 0, "idempotent = {idempotent}");
        let calm = eventsim::run(&small("", idempotent), 1);
        assert!(
            r.metrics.produce_to_ack.stats().p99 > calm.metrics.produce_to_ack.stats().p99,
            "the held-back requests delay the ones behind them"
        );
    }
}

#[test]
fn a_slow_disk_slows_acknowledgements() {
    let base = eventsim::run(&small("", true), 1)
        .metrics
        .produce_to_ack
        .stats();
    let f = "[[faults]]\nkind = \"slow-disk\"\ntarget = \"broker-0\"\nfactor = 50.0\nat = \"0s\"\nduration = \"10s\"";
    let mut s = small(f, true);
    s.cluster.append_latency =
        eventsim::scenario::Dist::constant(eventsim::scenario::Duration::from_ms(1));
    let mut plain = small("", true);
    plain.cluster.append_latency = s.cluster.append_latency.clone();
    let slow = eventsim::run(&s, 1).metrics.produce_to_ack.stats();
    let normal = eventsim::run(&plain, 1).metrics.produce_to_ack.stats();
    assert!(
        slow.p99 > 10 * normal.p99,
        "{slow:?} vs {normal:?} (no disk latency: {base:?})"
    );
}

/// The production-sized scenario (1,000 partitions, 10M Zipf keys, five
/// groups) through its broker crash: the safe configuration loses and
/// duplicates nothing.
#[test]
fn production_scale_survives_its_broker_crash() {
    let mut s = load("scenarios/production.toml");
    s.scenario.duration = eventsim::scenario::Duration::from_secs(30);
    let c = run_passing(&s, 1);
    let counts = &c.result.metrics.counts;
    assert!(counts.produced > 1_400_000, "{}", counts.produced);
    assert_eq!(counts.acked, counts.produced);
    assert_eq!(counts.duplicates_applied, 0);
    assert!(counts.leader_elections > 100, "{}", counts.leader_elections);
    // The crash at 25 s and the restart 20 s later, during the drain.
    assert_eq!(c.result.fault_log.len(), 2);
}

/// The number in "N record(s) processed and not committed" of a hit.
fn processed_uncommitted(what: &str) -> u64 {
    let end = what
        .find(" record(s) processed and not committed")
        .expect("a consumer's hit");
    let start = what[..end].rfind(' ').map_or(0, |i| i + 1);
    what[start..end].parse().unwrap()
}

/// A consumer crash says what it held: with after-process commits and no
/// idempotency, the records it had processed and not committed are exactly
/// the effects applied twice; a crash that held none struck nothing, and
/// the run's pass says nothing about redelivery.
#[test]
fn a_consumer_crash_reports_the_records_it_held_and_they_are_the_duplicates() {
    let text = std::fs::read_to_string(repo("scenarios/faults/consumer-crash-duplicates.toml"))
        .unwrap()
        .replace("start = \"4s\"", "start = \"0s\"");
    let mut missed = 0;
    for processing in ["1ms", "5ms"] {
        let s = scenario(&text.replace(
            "processing = \"2ms\"",
            &format!("processing = \"{processing}\""),
        ));
        for seed in 0..12 {
            let r = eventsim::run(&s, seed);
            let hits: Vec<_> = r.fault_hits.iter().flatten().collect();
            assert_eq!(hits.len(), 1, "one crash fired");
            let held = processed_uncommitted(&hits[0].what);
            assert_eq!(
                held, r.metrics.counts.duplicates_applied,
                "{processing} seed {seed}: {}",
                hits[0].what
            );
            assert_eq!(hits[0].nothing, held == 0, "{}", hits[0].what);
            missed += usize::from(hits[0].nothing);
        }
    }
    assert!(missed > 0, "some 1ms crash lands between records");
    assert!(missed < 24, "some crash lands on records in hand");
}

/// Two partitions of the producer from the brokers: one after it stopped
/// producing (in the drain), one while it produces.
const IDLE_LINK: &str = r#"
[scenario]
name = "idle-link"
duration = "10s"
drain = "10s"

[[topics]]
name = "t"
partitions = 2

[[producers]]
name = "p"
topic = "t"
rate = 200

[[groups]]
name = "g"
topics = ["t"]
consumers = 2

[[faults]]
kind = "partition"
target = [["p"], ["brokers"]]
at = "12s"
duration = "3s"

[[faults]]
kind = "partition"
target = [["p"], ["brokers"]]
at = "4s"
duration = "1s"
"#;

/// Link faults count the messages they struck: a partition on a busy
/// producer's links drops some; on an idle producer's it strikes nothing,
/// and faults.csv, summary.json and the terminal say so.
#[test]
fn a_partition_that_carried_nothing_struck_nothing() {
    let r = eventsim::run(&scenario(IDLE_LINK), 1);
    let hits: Vec<_> = r.fault_hits.iter().flatten().collect();
    assert_eq!(hits.len(), 2);
    assert!(hits[0].nothing, "{:?}", hits[0]);
    assert_eq!(hits[0].what, "0 message(s) dropped");
    assert!(!hits[1].nothing, "{:?}", hits[1]);
    assert!(
        hits[1].what.ends_with("message(s) dropped"),
        "{:?}",
        hits[1]
    );
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("s.toml");
    std::fs::write(&path, IDLE_LINK).unwrap();
    let out = tmp.path().join("out");
    let o = eventsim(&[
        "run",
        path.to_str().unwrap(),
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("1 of 2 fault(s) struck nothing")
            && stdout(&o).contains("partition p<->brokers at 12.000s: 0 message(s) dropped"),
        "{}",
        stdout(&o)
    );
    let csv = std::fs::read_to_string(out.join("faults.csv")).unwrap();
    assert!(csv.starts_with("t_ns,phase,kind,target,duration_ns,detail,struck,struck_nothing\n"));
    assert!(csv.contains(",0 message(s) dropped,true\n"), "{csv}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    // In firing order: the busy one first.
    assert_eq!(summary["fault_hits"][0]["nothing"], false);
    assert_eq!(summary["fault_hits"][1]["nothing"], true);
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(page.contains("1 of 2 fault(s) struck nothing"));
    // Read back by `eventsim plot`, the page says the same.
    std::fs::remove_file(out.join("index.html")).unwrap();
    let o = eventsim(&["plot", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let again = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(again.contains("<strong>nothing</strong>: 0 message(s) dropped"));
}
