//! `eventsim run` and `eventsim check` on the shipped scenarios.

use crate::common::*;

fn summary(dir: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json written");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

#[test]
fn run_writes_a_summary_with_the_documented_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let o = eventsim(&[
        "run",
        "scenarios/order-flow.toml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = summary(&out);
    for field in [
        "scenario",
        "seed",
        "version",
        "sim_time_ns",
        "kernel_events",
        "counts",
        "latency_ns",
        "throughput_per_s",
        "checks",
        "verdict",
        "repro",
    ] {
        assert!(s.get(field).is_some(), "summary.json lacks `{field}`");
    }
    for count in [
        "produced",
        "acked",
        "appended",
        "delivered",
        "applied",
        "duplicates_delivered",
        "duplicates_applied",
    ] {
        assert!(s["counts"][count].is_u64(), "counts.{count}");
    }
    for stat in ["count", "mean", "p50", "p90", "p99", "p999", "max"] {
        assert!(
            s["latency_ns"]["produce_to_ack"][stat].is_u64(),
            "produce_to_ack.{stat}"
        );
        assert!(
            s["latency_ns"]["end_to_end"]["payment"][stat].is_u64(),
            "end_to_end.payment.{stat}"
        );
    }
    assert_eq!(s["scenario"], "order-flow");
    assert_eq!(s["seed"], 42, "the seed comes from the file when not given");
    assert_eq!(s["verdict"], "pass");
    assert_eq!(
        s["repro"],
        "eventsim run scenarios/order-flow.toml --seed 42"
    );
    let checks = s["checks"].as_array().unwrap();
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, eventsim::check::CHECKERS);
    for c in checks {
        // The flows' checkers apply only to a scenario that declares
        // flows, objectives to one that states them.
        let flows = ["saga-atomicity", "held-resources", "objectives"]
            .contains(&c["name"].as_str().unwrap());
        assert_eq!(c["status"], if flows { "skipped" } else { "pass" }, "{c}");
        assert_eq!(c["violations"], 0);
    }
    assert!(checks[3]["time_to_converge_ns"]["payment"].is_u64());
    assert!(s["throughput_per_s"]["topics"]["orders"].as_f64().unwrap() > 100.0);
    assert!(
        s["throughput_per_s"]["groups"]["inventory"]
            .as_f64()
            .unwrap()
            > 100.0
    );
    // Every order is paid, every payment reaches inventory and notification.
    let c = &s["counts"];
    assert!(c["produced"].as_u64().unwrap() > 30_000);
    assert_eq!(c["produced"], c["acked"]);
    assert_eq!(c["produced"], c["appended"]);
    assert_eq!(c["duplicates_applied"], 0);
    // No wall-clock figure in summary.json; it lives in perf.json.
    let perf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("perf.json")).unwrap()).unwrap();
    assert!(perf["kernel_events_per_s"].as_f64().unwrap() > 0.0);
    assert!(s.get("wall_time_s").is_none());
    assert!(stdout(&o).contains(&format!(
        "repro:   {} run scenarios/order-flow.toml --seed 42",
        program()
    )));
}

#[test]
fn same_seed_gives_byte_identical_summaries_and_other_seeds_differ() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |seed: &str, name: &str| {
        let out = tmp.path().join(name);
        let o = eventsim(&[
            "run",
            "scenarios/order-flow.toml",
            "--seed",
            seed,
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(o.stdout.is_empty(), "--quiet prints nothing");
        std::fs::read(out.join("summary.json")).unwrap()
    };
    let a = run("7", "a");
    let b = run("7", "b");
    let c = run("8", "c");
    assert_eq!(
        a, b,
        "same scenario and seed must give byte-identical summary.json"
    );
    assert_ne!(a, c, "another seed must give another run");
}

#[test]
fn default_output_folder_is_reports_name_seed() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(repo("scenarios/mm1.toml"), tmp.path().join("mm1.toml")).unwrap();
    let text = std::fs::read_to_string(tmp.path().join("mm1.toml")).unwrap();
    // A short run: 10 simulated seconds.
    std::fs::write(
        tmp.path().join("mm1.toml"),
        text.replace("duration = \"1700s\"", "duration = \"10s\""),
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_eventsim"))
        .args(["run", "mm1.toml", "--seed", "3"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(tmp.path().join("reports/mm1/seed-3/summary.json").exists());
    assert!(tmp.path().join("reports/mm1/seed-3/perf.json").exists());
}

#[test]
fn check_validates_every_shipped_scenario() {
    let mut files = Vec::new();
    for dir in ["scenarios", "scenarios/faults", "scenarios/architectures"] {
        for entry in std::fs::read_dir(repo(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 14, "{files:?}");
    for path in files {
        let o = eventsim(&["check", path.to_str().unwrap()]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            stderr(&o)
        );
        assert!(stdout(&o).contains(": ok"));
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(eventsim(&["run"]).status.code(), Some(2));
    assert_eq!(eventsim(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        eventsim(&["run", "scenarios/mm1.toml", "--seed", "minus-one"])
            .status
            .code(),
        Some(2)
    );
    let o = eventsim(&["run", "no/such/file.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no/such/file.toml"), "{}", stderr(&o));
}

#[test]
fn a_run_with_transactions_reports_them_in_the_summary_and_on_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let o = eventsim(&[
        "run",
        "scenarios/faults/transactions.toml",
        "--seed",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = summary(&out);
    let c = &s["counts"];
    assert!(c["transactions_committed"].as_u64().unwrap() > 200);
    assert_eq!(c["transactions_aborted"].as_u64(), Some(2));
    assert_eq!(c["aborted_records"].as_u64(), Some(37));
    assert!(
        stdout(&o).contains("transactions committed")
            && stdout(&o).contains("aborted 2 (37 records"),
        "{}",
        stdout(&o)
    );
}

/// A scenario cut by its kernel event budget mid-production.
const CUT: &str = r#"
[scenario]
name = "cut"
duration = "10s"
max_kernel_events = 3000

[[topics]]
name = "orders"
partitions = 3

[[producers]]
name = "p"
topic = "orders"
rate = 200

[[groups]]
name = "g"
topics = ["orders"]
consumers = 2
auto_offset_reset = "earliest"
"#;

#[test]
fn a_run_cut_by_its_budget_is_inconclusive_with_its_own_exit_status() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("cut.toml");
    std::fs::write(&file, CUT).unwrap();
    let out = tmp.path().join("r");
    let history = tmp.path().join("h.jsonl");
    let o = eventsim(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let s = summary(&out);
    assert_eq!(s["stopped_by"], "kernel-events-max");
    assert_eq!(s["verdict"], "inconclusive");
    let note = s["verdict_note"].as_str().unwrap();
    assert!(note.contains("max_kernel_events"), "{note}");
    let check = |name: &str| {
        s["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    // Events still in flight are not lost: undecided, not violations.
    let no_loss = check("no-loss");
    assert_eq!(no_loss["status"], "inconclusive");
    assert_eq!(no_loss["violations"], 0);
    assert!(no_loss["note"].as_str().unwrap().contains("group g"));
    // What a prefix decides is still judged.
    assert_eq!(check("per-key-order")["status"], "pass");
    assert!(
        stdout(&o).contains("verdict: inconclusive"),
        "{}",
        stdout(&o)
    );
    // Offline, the history's trailer says the same.
    let o = eventsim(&[
        "check-history",
        history.to_str().unwrap(),
        "--scenario",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("verdict: inconclusive"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_violation_found_before_the_budget_still_fails_the_run() {
    // Retries reorder a key well before this budget runs out.
    let text = std::fs::read_to_string(repo("scenarios/faults/retry-reordering.toml")).unwrap();
    let text = text.replacen("[scenario]", "[scenario]\nmax_kernel_events = 100000", 1);
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("s.toml");
    std::fs::write(&file, text).unwrap();
    let out = tmp.path().join("r");
    let o = eventsim(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let s = summary(&out);
    assert_eq!(s["stopped_by"], "kernel-events-max", "{}", stdout(&o));
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_eq!(s["verdict"], "fail");
}

#[test]
fn outputs_that_would_overwrite_the_scenario_or_each_other_are_refused_before_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("s.toml");
    std::fs::write(&file, CUT).unwrap();
    let out = tmp.path().join("r");
    let f = file.to_str().unwrap();
    let same = tmp.path().join("h.jsonl");
    for (args, needle) in [
        (vec!["--history", f], "would overwrite the input"),
        (vec!["--trace", f], "would overwrite the input"),
        (
            vec![
                "--history",
                same.to_str().unwrap(),
                "--trace",
                same.to_str().unwrap(),
            ],
            "both name",
        ),
    ] {
        let mut all = vec!["run", f, "--out", out.to_str().unwrap()];
        all.extend(args);
        let o = eventsim(&all);
        assert_eq!(o.status.code(), Some(2), "{all:?}");
        assert!(stderr(&o).contains(needle), "{}", stderr(&o));
        assert!(!out.exists(), "refused before anything is written");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), CUT);
    // A file where the output folder should be.
    let o = eventsim(&["run", f, "--out", f]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is a file"), "{}", stderr(&o));
    // A folder where the history file should be.
    let o = eventsim(&[
        "run",
        f,
        "--out",
        out.to_str().unwrap(),
        "--history",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("folder"), "{}", stderr(&o));
}

#[cfg(unix)]
#[test]
fn a_symlink_planted_in_the_output_folder_is_replaced_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let out = tmp.path().join("r");
    std::fs::create_dir_all(&out).unwrap();
    for name in ["summary.json", "timeseries.csv", "lag.svg"] {
        std::os::unix::fs::symlink(&victim, out.join(name)).unwrap();
    }
    let o = eventsim(&[
        "run",
        "scenarios/mm1.toml",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(
        !std::fs::symlink_metadata(out.join("summary.json"))
            .unwrap()
            .is_symlink()
    );
}

#[test]
fn a_second_run_into_a_locked_folder_is_refused_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    std::fs::create_dir_all(&out).unwrap();
    // Hold the folder's lock as a running eventsim would.
    let lock = std::fs::File::create(out.join(".eventsim.lock")).unwrap();
    lock.lock().unwrap();
    let o = eventsim(&[
        "run",
        "scenarios/mm1.toml",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("another eventsim run is writing into"),
        "{}",
        stderr(&o)
    );
    assert!(!out.join("summary.json").exists());
    drop(lock);
    let o = eventsim(&[
        "run",
        "scenarios/mm1.toml",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The manifest, written last, names every file of the report.
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let names: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, eventsim::report::RUN_FILES.to_vec());
}

#[test]
fn the_repro_line_is_shell_quoted() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("my file;touch PWNED;.toml");
    std::fs::copy(repo("scenarios/mm1.toml"), &file).unwrap();
    let out = tmp.path().join("r");
    let o = eventsim(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let line = stdout(&o)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("repro:")
                .map(|r| r.trim().to_string())
        })
        .unwrap();
    assert_eq!(
        line,
        format!("{} run '{}' --seed 1", program(), file.display()),
        "{line}"
    );
    // The shell reads it back as one word, and runs nothing else.
    let echoed = std::process::Command::new("sh")
        .arg("-c")
        .arg(
            line.replacen(&format!("{} run", program()), "printf %s", 1)
                .replace(" --seed 1", ""),
        )
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&echoed.stdout),
        file.display().to_string()
    );
    assert!(!tmp.path().join("PWNED").exists());
}

/// Ctrl-C (here SIGINT) during a long run stops it at its next check and
/// writes its report: inconclusive, `stopped_by = "interrupted"`, exit 3.
#[test]
fn an_interrupted_run_writes_an_inconclusive_report() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("long.toml");
    std::fs::write(
        &path,
        r#"
[scenario]
name = "long"
duration = "100000s"

[[topics]]
name = "t"
partitions = 4

[[producers]]
name = "p"
topic = "t"
rate = 2000

[[groups]]
name = "g"
topics = ["t"]
auto_offset_reset = "earliest"
"#,
    )
    .unwrap();
    let dir = tmp.path().join("out");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_eventsim"))
        .args([
            "run",
            path.to_str().unwrap(),
            "--out",
            dir.to_str().unwrap(),
            "--quiet",
            "--max-memory",
            "1TiB",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The handler is installed before the folder is locked: once the lock
    // file exists, an interrupt is the run's to handle.
    for _ in 0..600 {
        if dir.join(".eventsim.lock").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let summary = summary(&dir);
    assert_eq!(summary["stopped_by"], "interrupted");
    assert_eq!(summary["verdict"], "inconclusive");
    assert!(
        summary["sim_time_ns"].as_u64().unwrap() < 100_000_000_000_000,
        "stopped early"
    );
    assert!(dir.join("manifest.json").exists());
}

/// `--quiet` on every command: nothing on stdout, the same exit status and
/// files; `plot --out` draws elsewhere the page the run drew.
#[test]
fn every_command_takes_quiet_and_every_writer_takes_out() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name).to_str().unwrap().to_string();
    let scenario = "scenarios/faults/auto-commit-loss.toml";
    let history = dir("h.jsonl");
    let commands: Vec<(Vec<String>, i32)> = vec![
        (
            vec!["run", scenario, "--out", &dir("run"), "--history", &history],
            1,
        ),
        (vec!["check", scenario], 0),
        (vec!["check-history", &history, "--scenario", scenario], 1),
        (vec!["plot", &dir("run"), "--out", &dir("plot")], 0),
        (
            vec!["sweep", scenario, "--seeds", "0..2", "--out", &dir("sweep")],
            1,
        ),
        (vec!["merge", &dir("sweep"), "--out", &dir("merged")], 1),
        (
            vec![
                "compare",
                scenario,
                "--vary",
                "groups.billing.commit=auto,after-process",
                "--seeds",
                "0..2",
                "--out",
                &dir("compare"),
            ],
            0,
        ),
        (
            vec!["shrink", scenario, "--seed", "0", "--out", &dir("s.toml")],
            0,
        ),
    ]
    .into_iter()
    .map(|(a, c)| (a.into_iter().map(String::from).collect(), c))
    .collect();
    for (args, code) in &commands {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.push("--quiet");
        let o = eventsim(&args);
        assert_eq!(o.status.code(), Some(*code), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{args:?} printed {}", stdout(&o));
    }
    for f in ["index.html", "lag.png", "lag.svg"] {
        assert!(tmp.path().join("plot").join(f).exists(), "{f} drawn");
    }
    assert_eq!(
        std::fs::read(tmp.path().join("plot/index.html")).unwrap(),
        std::fs::read(tmp.path().join("run/index.html")).unwrap(),
        "the page drawn elsewhere is the run's"
    );
    for d in ["sweep", "merged", "compare"] {
        assert!(tmp.path().join(d).join("index.html").exists(), "{d}");
    }
    assert!(tmp.path().join("s.toml").exists());
    // Without --quiet, the same commands speak.
    let o = eventsim(&["check", scenario]);
    assert!(!o.stdout.is_empty());
}

#[test]
fn completions_are_generated_for_each_shell_and_an_unknown_shell_is_a_usage_error() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = eventsim(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        for word in ["sweep", "compare", "check-history", "max-memory"] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
    }
    let o = eventsim(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("tcsh"), "{}", stderr(&o));
}

/// Standard output that goes away (`| head`, `| true`) ends the program
/// quietly; one that cannot be written (a full disk) is an error, exit 2,
/// with a message and no panic. The report is whole either way.
#[test]
fn a_closed_or_full_standard_output_is_handled_without_a_panic() {
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        vec!["run", "scenarios/mm1.toml", "--out", "OUT"],
        vec!["completions", "bash"],
    ] {
        let out = tmp.path().join("closed");
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("OUT", out.to_str().unwrap()))
            .collect();
        let mut child = Command::new(env!("CARGO_BIN_EXE_eventsim"))
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the program writes anything.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    if std::path::Path::new("/dev/full").exists() {
        let out = tmp.path().join("full");
        let o = Command::new(env!("CARGO_BIN_EXE_eventsim"))
            .args(["run", "scenarios/mm1.toml", "--out", out.to_str().unwrap()])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("cannot write to standard output"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        // What was written is whole: the summary parses.
        if out.join("summary.json").exists() {
            summary(&out);
        }
    }
}

/// The terminal's explanation starts where the chain starts: the setting
/// that allowed it, the append and the commit the replay goes back to, not
/// only its last lines.
#[test]
fn the_terminal_explanation_keeps_the_start_of_the_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let o = eventsim(&[
        "run",
        "scenarios/faults/consumer-crash-duplicates.toml",
        "--out",
        tmp.path().join("r").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    let chain: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("  exactly-once-effect at"))
        .skip(1)
        .take_while(|l| l.starts_with("      "))
        .collect();
    assert!(
        chain[0].contains("setting: group billing commits after processing"),
        "{chain:#?}"
    );
    assert!(chain[1].contains("appended to payments-2"), "{chain:#?}");
    assert!(
        chain
            .iter()
            .any(|l| l.contains("committed offset 1000 of payments-2")),
        "{chain:#?}"
    );
    assert!(
        chain.last().unwrap().contains("applied by billing/0"),
        "{chain:#?}"
    );
}

/// Two scenario files of one `[scenario] name` (a copy edited under
/// another file name) do not overwrite each other's reports; a file named
/// like its scenario keeps `reports/<name>/`.
#[test]
fn reports_of_two_files_of_one_name_do_not_overwrite_each_other() {
    use std::process::Command;
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("scenarios/mm1.toml")).unwrap();
    for file in ["mm1.toml", "mm1-faster.toml"] {
        std::fs::write(tmp.path().join(file), &text).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_eventsim"))
            .args(["run", file, "--seed", "3", "--quiet"])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let name = text
        .lines()
        .find_map(|l| l.strip_prefix("name = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    assert!(
        tmp.path()
            .join(format!("reports/{name}/seed-3/summary.json"))
            .exists()
    );
    assert!(
        tmp.path()
            .join(format!("reports/mm1-faster-{name}/seed-3/summary.json"))
            .exists()
    );
}

/// Two scenario names that differ only in characters a folder name cannot
/// keep (`café`, `cafè`) get folders of their own.
#[test]
fn non_ascii_names_that_read_alike_keep_their_reports_apart() {
    use std::process::Command;
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("scenarios/mm1.toml")).unwrap();
    let mut dirs = Vec::new();
    for name in ["café", "cafè"] {
        let edited = text.replacen("name = \"mm1\"", &format!("name = \"{name}\""), 1);
        assert_ne!(edited, text);
        std::fs::write(tmp.path().join("s.toml"), &edited).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_eventsim"))
            .args(["run", "s.toml", "--seed", "3"])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let report = stdout(&o)
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("report:")
                    .map(|r| r.trim().to_string())
            })
            .unwrap();
        dirs.push(report);
    }
    assert_ne!(dirs[0], dirs[1]);
    for d in &dirs {
        assert!(tmp.path().join(d).exists(), "{d}");
        assert!(d.starts_with("reports/s-caf_-"), "{d}");
    }
}

/// Totals are sums over producers and groups; each has its own figures in
/// summary.json, on the terminal and on the page, so that an outbox
/// relay's records are not read as the API's.
#[test]
fn each_producer_and_group_has_its_own_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let o = eventsim(&[
        "run",
        "scenarios/order-flow.toml",
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = summary(&out);
    let producers = s["producers"].as_array().unwrap();
    let names: Vec<&str> = producers
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["order-service", "payment->payments"]);
    let sum = |list: &[serde_json::Value], field: &str| -> u64 {
        list.iter().map(|x| x[field].as_u64().unwrap()).sum()
    };
    let c = &s["counts"];
    assert_eq!(sum(producers, "produced"), c["produced"].as_u64().unwrap());
    assert_eq!(sum(producers, "acked"), c["acked"].as_u64().unwrap());
    // The API produced what the relay did not: both about half the total.
    let api = producers[0]["produced"].as_u64().unwrap();
    assert!(api < c["produced"].as_u64().unwrap() && api > 1000);
    let groups = s["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 4);
    for f in [
        "delivered",
        "applied",
        "duplicates_delivered",
        "duplicates_applied",
    ] {
        assert_eq!(sum(groups, f), c[f].as_u64().unwrap(), "{f}");
    }
    for g in groups {
        let name = g["name"].as_str().unwrap();
        assert!(g["lag_at_end"].as_u64().unwrap() <= g["max_lag"].as_u64().unwrap());
        // The run drained: what is left of the lag was read, not committed.
        assert_eq!(g["unread_at_end"], 0, "{name}");
        assert_eq!(g["max_lag"], s["max_lag"][name], "{name}");
    }
    let text = stdout(&o);
    for p in producers {
        let line = format!(
            "producer {:<18} produced {}  acked {}  failed {}",
            p["name"].as_str().unwrap(),
            p["produced"],
            p["acked"],
            p["failed"]
        );
        assert!(text.contains(&line), "{line}\n{text}");
    }
    for g in groups {
        assert!(
            text.contains(&format!(
                "group    {:<18} delivered {}  applied {}",
                g["name"].as_str().unwrap(),
                g["delivered"],
                g["applied"]
            )),
            "{text}"
        );
    }
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(page.contains("<h2 id=\"producers\">") && page.contains("<h2 id=\"groups\">"));
    assert!(page.contains(&format!(
        "<td class=\"l\">payment-&gt;payments</td><td>{}</td>",
        producers[1]["produced"]
    )));
}
