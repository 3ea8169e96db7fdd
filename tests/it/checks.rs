//! The checkers on real runs: each classic failure of `scenarios/faults/`
//! is caught by the right checker (exit 1) for every seed in 0..20, and its
//! safe twin passes (exit 0); histories re-check offline to the same result.

use crate::common::*;

const PAIRS: [(&str, &str, &str); 8] = [
    (
        "consumer-crash-duplicates",
        "exactly-once-effect",
        "consumer-crash-transactional",
    ),
    ("auto-commit-loss", "no-loss", "after-process-dedup"),
    (
        "auto-commit-java",
        "exactly-once-effect",
        "after-process-dedup",
    ),
    (
        "dual-write-duplicates",
        "exactly-once-effect",
        "dual-write-outbox",
    ),
    (
        "unclean-election-loss",
        "no-loss",
        "acks-all-clean-election",
    ),
    ("retry-reordering", "per-key-order", "idempotent-producer"),
    ("retention-expiry", "no-loss", "retention-ample"),
    ("poison-block", "liveness", "poison-dead-letter"),
];

fn failed(c: &eventsim::Checked) -> Vec<String> {
    c.checks
        .iter()
        .filter(|r| r.status == CheckStatus::Fail)
        .map(|r| r.name.clone())
        .collect()
}

#[test]
fn each_classic_failure_is_caught_by_its_checker_and_its_safe_twin_passes_for_seeds_0_to_20() {
    for (bad, checker, safe) in PAIRS {
        let bad_s = load(&format!("scenarios/faults/{bad}.toml"));
        let safe_s = load(&format!("scenarios/faults/{safe}.toml"));
        for seed in 0..20 {
            let c = eventsim::run_checked(&bad_s, seed, Vec::new());
            assert!(
                failed(&c).iter().any(|n| n == checker),
                "{bad} seed {seed}: expected {checker} to fail, got {:?}",
                failed(&c)
            );
            let v = c
                .violations
                .iter()
                .find(|v| v.invariant == checker)
                .unwrap();
            assert!(
                !v.explanation.is_empty(),
                "{bad}: the violation is explained"
            );
            let c = eventsim::run_checked(&safe_s, seed, Vec::new());
            assert_eq!(
                c.verdict(),
                Verdict::Pass,
                "{safe} seed {seed}: {:?}",
                c.violations.first()
            );
        }
    }
}

#[test]
fn exit_status_is_1_on_a_violation_and_0_on_the_safe_twin() {
    let tmp = tempfile::tempdir().unwrap();
    for (bad, checker, safe) in PAIRS {
        let out = tmp.path().join(bad);
        let o = eventsim(&[
            "run",
            &format!("scenarios/faults/{bad}.toml"),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{bad}: {}", stderr(&o));
        let text = stdout(&o);
        assert!(text.contains("verdict: fail"), "{text}");
        assert!(text.contains(&format!("{checker} at ")), "{text}");
        assert!(text.contains(&format!(
            "repro:   {} run scenarios/faults/{bad}.toml --seed 1",
            program()
        )));
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        assert_eq!(summary["verdict"], "fail");
        let lines = std::fs::read_to_string(out.join("violations.jsonl")).unwrap();
        let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
        for field in ["invariant", "t_ns", "events", "message", "explanation"] {
            assert!(!first[field].is_null(), "{field} in {first}");
        }
        let safe_out = tmp.path().join(safe);
        let o = eventsim(&[
            "run",
            &format!("scenarios/faults/{safe}.toml"),
            "--out",
            safe_out.to_str().unwrap(),
            "--quiet",
        ]);
        assert_eq!(o.status.code(), Some(0), "{safe}");
        assert_eq!(
            std::fs::read(safe_out.join("violations.jsonl")).unwrap(),
            b""
        );
    }
}

#[test]
fn the_repro_command_reproduces_the_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let o = eventsim(&[
        "run",
        "scenarios/faults/consumer-crash-duplicates.toml",
        "--seed",
        "13",
        "--out",
        a.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(a.join("summary.json")).unwrap()).unwrap();
    let repro = summary["repro"].as_str().unwrap();
    let mut args: Vec<&str> = repro.split_whitespace().skip(1).collect();
    let b = tmp.path().join("b");
    args.extend(["--out", b.to_str().unwrap(), "--quiet"]);
    let o = eventsim(&args);
    assert_eq!(o.status.code(), Some(1));
    for f in ["summary.json", "violations.jsonl", "faults.csv"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn a_history_file_rechecks_offline_to_the_same_result() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, code) in [("retry-reordering", 1), ("idempotent-producer", 0)] {
        let scenario = format!("scenarios/faults/{name}.toml");
        let out = tmp.path().join(name);
        let history = tmp.path().join(format!("{name}.jsonl"));
        let o = eventsim(&[
            "run",
            &scenario,
            "--out",
            out.to_str().unwrap(),
            "--history",
            history.to_str().unwrap(),
            "--quiet",
        ]);
        assert_eq!(o.status.code(), Some(code));
        let text = std::fs::read_to_string(&history).unwrap();
        assert!(
            text.lines().nth(1).unwrap().contains("\"type\":"),
            "{}",
            &text[..200]
        );
        let o = eventsim(&[
            "check-history",
            history.to_str().unwrap(),
            "--scenario",
            &scenario,
        ]);
        assert_eq!(o.status.code(), Some(code), "{}", stderr(&o));
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        let offline = stdout(&o);
        for c in summary["checks"].as_array().unwrap() {
            let line = format!(
                "  {:<22} {:<12} {}",
                c["name"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
                c["violations"]
            );
            assert!(offline.contains(&line), "{line} in {offline}");
        }
        if code == 1 {
            let first = summary["checks"][2]["first"]["message"].as_str().unwrap();
            assert!(offline.contains(first), "the same first violation: {first}");
        }
    }
}

/// A history checked against another scenario is refused by name before
/// any id is looked up; against an edited copy of its own scenario, the
/// run warns that the file changed.
#[test]
fn check_history_names_the_scenario_it_was_recorded_with() {
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("h.jsonl");
    let o = eventsim(&[
        "run",
        "scenarios/faults/idempotent-producer.toml",
        "--out",
        tmp.path().join("r").to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let h = history.to_str().unwrap();
    let o = eventsim(&[
        "check-history",
        h,
        "--scenario",
        "scenarios/order-flow.toml",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("records scenario `idempotent-producer`, not `order-flow`"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("does not exist"), "{}", stderr(&o));
    let edited = tmp.path().join("edited.toml");
    let text = std::fs::read_to_string(repo("scenarios/faults/idempotent-producer.toml")).unwrap();
    std::fs::write(&edited, format!("{text}\n# edited\n")).unwrap();
    let o = eventsim(&["check-history", h, "--scenario", edited.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("was recorded from another version of"),
        "{}",
        stderr(&o)
    );
    let o = eventsim(&[
        "check-history",
        h,
        "--scenario",
        "scenarios/faults/idempotent-producer.toml",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
}

/// `check-history` reads with a bound: an endless line (`/dev/zero`) is
/// refused at 1 MiB, and a line holding a huge value is quoted short.
#[test]
fn check_history_bounds_what_it_reads_and_quotes() {
    let o = eventsim(&[
        "check-history",
        "/dev/zero",
        "--scenario",
        "scenarios/mm1.toml",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("a line longer than 1 MiB"),
        "{}",
        stderr(&o)
    );
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path().join("h.jsonl");
    let header = "{\"eventsim_history\":1,\"version\":\"0.2.0\",\"scenario\":\"mm1\",\"seed\":1}";
    let huge = "x".repeat(900_000);
    std::fs::write(&h, format!("{header}\n{{\"t\":1,\"type\":\"{huge}\"}}\n")).unwrap();
    let o = eventsim(&[
        "check-history",
        h.to_str().unwrap(),
        "--scenario",
        "scenarios/mm1.toml",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).len() < 2_000, "{} bytes", stderr(&o).len());
    assert!(
        stderr(&o).contains("h.jsonl:2: expected an observation"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_broken_history_file_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path().join("h.jsonl");
    std::fs::write(&h, "{\"not\": \"a header\"}\n").unwrap();
    let o = eventsim(&[
        "check-history",
        h.to_str().unwrap(),
        "--scenario",
        "scenarios/mm1.toml",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("h.jsonl:1: expected the history header"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn checks_can_be_chosen_and_bounded_in_the_scenario() {
    let mut s = load("scenarios/faults/consumer-crash-duplicates.toml");
    s.checks.skip = vec!["exactly-once-effect".into(), "convergence".into()];
    let c = eventsim::run_checked(&s, 1, Vec::new());
    assert_eq!(c.verdict(), Verdict::Pass);
    let skipped: Vec<&str> = c
        .checks
        .iter()
        .filter(|r| r.status == CheckStatus::Skipped)
        .map(|r| r.name.as_str())
        .collect();
    // The flows' checkers do not apply: the scenario declares no flow;
    // nor objectives: it states none.
    assert_eq!(
        skipped,
        [
            "exactly-once-effect",
            "convergence",
            "saga-atomicity",
            "held-resources",
            "objectives"
        ]
    );
    let text = std::fs::read_to_string(repo("scenarios/faults/retention-ample.toml")).unwrap()
        + "\n[checks]\nliveness_bound = \"10s\"\n";
    let c = eventsim::run_checked(&scenario(&text), 1, Vec::new());
    assert_eq!(
        failed(&c),
        ["liveness"],
        "a 40s stall is beyond a 10s bound"
    );
    let bad = text.replace("liveness_bound = \"10s\"", "run = [\"no-los\"]");
    let e = eventsim::scenario::Scenario::parse(&bad, "x.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("checks.run[0]") && e.contains("unknown checker `no-los`"),
        "{e}"
    );
}

#[test]
fn shrink_reduces_a_random_fault_plan_to_a_small_repro_that_fails_the_same_way() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("repro.toml");
    let again = tmp.path().join("again.toml");
    let scenario = "scenarios/faults/random-chaos-at-least-once.toml";
    let o = eventsim(&[
        "shrink",
        scenario,
        "--seed",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("still violates exactly-once-effect"),
        "{text}"
    );
    assert!(text.contains("removed: fault"), "{text}");
    let repro = eventsim::scenario::Scenario::load(&out).unwrap_or_else(|e| panic!("{e}"));
    let original = load(scenario);
    let fired = eventsim::run(&original, 2).fired_schedule().len();
    assert!(repro.faults.random.is_none(), "a concrete schedule");
    assert!(
        repro.faults.schedule.len() <= 3 && repro.faults.schedule.len() < fired,
        "{} of {fired} faults kept",
        repro.faults.schedule.len()
    );
    assert_eq!(repro.scenario.seed, 2);
    // Its own name, so that its report does not overwrite the original's;
    // what was taken out is "removed", what was made smaller "reduced",
    // with times in units.
    assert_eq!(repro.scenario.name, "random-chaos-at-least-once-shrunk");
    assert!(text.contains("reduced: "), "{text}");
    assert!(
        !text
            .split_whitespace()
            .any(|w| w.ends_with("ns") && w[..w.len() - 2].parse::<u64>().is_ok()),
        "times in units: {text}"
    );
    // The repro runs on its own and fails the same way.
    let o = eventsim(&[
        "run",
        out.to_str().unwrap(),
        "--out",
        tmp.path().join("r").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("exactly-once-effect at "),
        "{}",
        stdout(&o)
    );
    // Shrinking is deterministic.
    let o = eventsim(&[
        "shrink",
        scenario,
        "--seed",
        "2",
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn shrink_needs_a_failing_run_and_a_known_invariant() {
    let o = eventsim(&[
        "shrink",
        "scenarios/faults/consumer-crash-transactional.toml",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("violates no invariant"),
        "{}",
        stderr(&o)
    );
    let o = eventsim(&[
        "shrink",
        "scenarios/faults/consumer-crash-duplicates.toml",
        "--invariant",
        "no-such-thing",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown invariant"), "{}", stderr(&o));
    let o = eventsim(&[
        "shrink",
        "scenarios/faults/consumer-crash-duplicates.toml",
        "--invariant",
        "no-los",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("help: did you mean `no-loss`?"),
        "{}",
        stderr(&o)
    );
    let o = eventsim(&[
        "shrink",
        "scenarios/faults/consumer-crash-duplicates.toml",
        "--invariant",
        "liveness",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("does not violate `liveness`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn shrink_keeps_the_one_fault_that_matters() {
    // consumer-crash-duplicates plus two harmless faults: only the crash stays.
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("scenarios/faults/consumer-crash-duplicates.toml"))
        .unwrap()
        + r#"
[[faults]]
kind = "latency-spike"
target = ["checkout", "broker-0"]
latency = "1ms"
at = "2s"
duration = "1s"

[[faults]]
kind = "slow-disk"
target = "broker-2"
factor = 2.0
at = "15s"
duration = "1s"
"#;
    let path = tmp.path().join("s.toml");
    std::fs::write(&path, text).unwrap();
    let out = tmp.path().join("min.toml");
    let o = eventsim(&[
        "shrink",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let repro = eventsim::scenario::Scenario::load(&out).unwrap();
    let kinds: Vec<&str> = repro
        .faults
        .schedule
        .iter()
        .map(|f| f.kind.as_str())
        .collect();
    assert_eq!(kinds, ["crash"]);
}

#[test]
fn a_history_naming_what_its_scenario_lacks_is_refused_with_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let h = tmp.path().join("h.jsonl");
    let o = eventsim(&[
        "run",
        "scenarios/order-flow.toml",
        "--quiet",
        "--out",
        tmp.path().join("r").to_str().unwrap(),
        "--history",
        h.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let good = std::fs::read_to_string(&h).unwrap();
    let lines: Vec<&str> = good.lines().collect();
    // Every shipped history passes the validation (the run above did), and
    // each of these edits of one line is refused, with the line's number.
    let applied = lines
        .iter()
        .position(|l| l.contains("\"type\":\"applied\""))
        .unwrap();
    let edits: Vec<(&str, &str, &str)> = vec![
        (
            "\"partition\":",
            "\"partition\":999,\"x\":",
            "partition 999 does not exist",
        ),
        (
            "\"group\":",
            "\"group\":77,\"x\":",
            "group 77 does not exist",
        ),
        (
            "\"consumer\":",
            "\"consumer\":4000000000,\"x\":",
            "consumer 4000000000 does not exist",
        ),
        (
            "\"event\":",
            "\"event\":123456789,\"x\":",
            "event 123456789 is mentioned before it was produced",
        ),
        (
            "\"key\":",
            "\"key\":4294967295,\"x\":",
            "key 4294967295 does not exist",
        ),
        (
            "\"t\":",
            "\"t\":0,\"x\":",
            "is before the previous observation",
        ),
    ];
    for (field, replacement, needle) in edits {
        let mut bad: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        // The edit puts the new value first and renames the original
        // field to `x`, which the reader ignores.
        bad[applied] = bad[applied].replacen(field, replacement, 1);
        let path = tmp.path().join("bad.jsonl");
        std::fs::write(&path, bad.join("\n") + "\n").unwrap();
        let o = eventsim(&[
            "check-history",
            path.to_str().unwrap(),
            "--scenario",
            "scenarios/order-flow.toml",
        ]);
        assert_eq!(o.status.code(), Some(2), "{needle}: {}", stderr(&o));
        let want = format!("bad.jsonl:{}: ", applied + 1);
        assert!(
            stderr(&o).contains(&want) && stderr(&o).contains(needle),
            "{needle}: {}",
            stderr(&o)
        );
    }
}

/// A history's trailer carries the count and digest of its observation
/// lines: a history cut to its header and trailer, with a line removed,
/// repeated or two lines swapped is refused (exit 2), never judged.
#[test]
fn check_history_refuses_a_history_that_was_cut_or_edited() {
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("h.jsonl");
    let scenario = "scenarios/faults/idempotent-producer.toml";
    let o = eventsim(&[
        "run",
        scenario,
        "--out",
        tmp.path().join("r").to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&history).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len();
    assert!(lines[n - 1].contains("\"digest\":"), "{}", lines[n - 1]);
    let mid = n / 2;
    let variants: Vec<(&str, Vec<&str>)> = vec![
        ("header and trailer", vec![lines[0], lines[n - 1]]),
        (
            "a line removed",
            [&lines[..mid], &lines[mid + 1..]].concat(),
        ),
        ("a line repeated", [&lines[..=mid], &lines[mid..]].concat()),
        ("two lines of one instant swapped", {
            // Same time: only the digest can tell.
            let t = |l: &str| l.split(',').next().unwrap_or("").to_string();
            let i = (1..n - 2)
                .find(|&i| t(lines[i]) == t(lines[i + 1]) && lines[i] != lines[i + 1])
                .expect("two observations at one instant");
            let mut v = lines.clone();
            v.swap(i, i + 1);
            v
        }),
    ];
    for (what, v) in variants {
        let edited = tmp.path().join("e.jsonl");
        std::fs::write(&edited, v.join("\n") + "\n").unwrap();
        let o = eventsim(&[
            "check-history",
            edited.to_str().unwrap(),
            "--scenario",
            scenario,
        ]);
        assert_eq!(o.status.code(), Some(2), "{what}: {}", stdout(&o));
        if what == "header and trailer" {
            assert!(
                stderr(&o).contains("cut or edited"),
                "{what}: {}",
                stderr(&o)
            );
        }
    }
    let o = eventsim(&[
        "check-history",
        history.to_str().unwrap(),
        "--scenario",
        scenario,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// Every violation a shipped fault scenario finds is explained from its
/// cause: its chain names the fault that struck what it involves, or the
/// setting that let it happen (a commit mode, a producer's idempotence).
#[test]
fn each_shipped_fault_scenario_s_violations_name_their_fault_or_setting() {
    let mut files: Vec<std::path::PathBuf> =
        std::fs::read_dir(crate::common::repo("scenarios/faults"))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
    files.sort();
    let mut explained = 0;
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|x| x == "toml"))
    {
        let s = eventsim::scenario::Scenario::load(f).unwrap_or_else(|e| panic!("{e}"));
        let checked = eventsim::run_checked(&s, s.scenario.seed, Vec::new());
        for v in checked
            .violations
            .iter()
            .filter(|v| !v.explanation.is_empty())
        {
            explained += 1;
            assert!(
                v.explanation
                    .iter()
                    .any(|l| l.contains(" fault: ") || l.starts_with("setting: ")),
                "{}: {} ({}) names neither a fault nor a setting:\n{}",
                f.display(),
                v.invariant,
                v.message,
                v.explanation.join("\n")
            );
        }
    }
    assert!(explained > 100, "{explained} violations explained");
}

/// The group's only consumer crashes before its first auto-commit; its
/// restart has no committed offset and starts at the log end: the loss is
/// explained from the crash and the reset, not only from where the
/// consumer was later.
#[test]
fn a_reset_to_the_log_end_after_a_crash_before_the_first_commit_is_in_the_chain() {
    let s = scenario(
        r#"
[scenario]
name = "reset-latest"
duration = "12s"
drain = "6s"
[cluster]
brokers = 1
[[topics]]
name = "clicks"
partitions = 1
replication_factor = 1
min_insync_replicas = 1
[[producers]]
name = "web"
topic = "clicks"
event_type = "Click"
rate = 200
[[groups]]
name = "analytics"
topics = ["clicks"]
consumers = 1
commit = "auto"
auto_commit_interval = "5s"
auto_offset_reset = "latest"
[[faults]]
kind = "crash"
target = "analytics/0"
at = "2s"
restart_after = "3s"
"#,
    );
    let c = eventsim::run_checked(&s, 1, Vec::new());
    let v = c
        .violations
        .iter()
        .find(|v| v.invariant == "no-loss")
        .unwrap_or_else(|| panic!("no loss found: {:?}", failed(&c)));
    let chain = v.explanation.join("\n");
    assert!(chain.contains("fault: crash analytics/0"), "{chain}");
    assert!(
        chain.contains("no committed offset: auto_offset_reset put it there"),
        "{chain}"
    );
    assert!(
        chain.starts_with("setting: group analytics starts at the log end"),
        "{chain}"
    );
}
