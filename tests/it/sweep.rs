//! Seed sweeps: the same output whatever --jobs, shards that merge into the
//! unsharded result, failing seeds listed with repro commands that work.

use crate::common::*;

const SCENARIO: &str = "scenarios/faults/random-chaos-at-least-once.toml";

fn sweep(dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "sweep",
        SCENARIO,
        "--seeds",
        "0..9",
        "--out",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    eventsim(&args)
}

#[test]
fn a_sweep_is_the_same_whatever_the_jobs_and_merges_from_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let one = tmp.path().join("one");
    let two = tmp.path().join("two");
    let o = sweep(&one, &["--jobs", "1"]);
    assert_eq!(o.status.code(), Some(1), "some seeds fail: {}", stderr(&o));
    assert_eq!(sweep(&two, &["--jobs", "2"]).status.code(), Some(1));
    let a = std::fs::read(one.join("sweep.jsonl")).unwrap();
    assert_eq!(a, std::fs::read(two.join("sweep.jsonl")).unwrap());
    let lines: Vec<serde_json::Value> = String::from_utf8(a.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines
            .iter()
            .map(|l| l["seed"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        (0..9).collect::<Vec<_>>()
    );
    for field in [
        "verdict",
        "failed",
        "produced",
        "e2e_p99_ns",
        "max_lag",
        "kernel_events",
    ] {
        assert!(!lines[0][field].is_null(), "{field}");
    }

    let mut shards = Vec::new();
    for i in 0..3 {
        let d = tmp.path().join(format!("shard{i}"));
        let o = sweep(&d, &["--shard", &format!("{i}/3"), "--jobs", "1"]);
        assert!(o.status.code().is_some_and(|c| c <= 1), "{}", stderr(&o));
        let text = std::fs::read_to_string(d.join("sweep.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 3, "shard {i} runs 3 of the 9 seeds");
        shards.push(d);
    }
    let merged = tmp.path().join("merged");
    let mut args = vec!["merge".to_string()];
    args.extend(shards.iter().map(|d| d.to_str().unwrap().to_string()));
    args.extend(["--out".to_string(), merged.to_str().unwrap().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = eventsim(&args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the merged sweep has failures: {}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(merged.join("sweep.jsonl")).unwrap(),
        a,
        "merge == unsharded"
    );

    // The page: well formed, the same whatever the jobs and after a merge;
    // each failing invariant with its seeds, a repro line per failing seed.
    let page = std::fs::read_to_string(one.join("index.html")).unwrap();
    for other in [&two, &merged] {
        assert_eq!(
            std::fs::read_to_string(other.join("index.html")).unwrap(),
            page,
            "{}",
            other.display()
        );
    }
    assert_eq!(well_formed(&page), ["Failures", "Across seeds", "Files"]);
    let failing: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["verdict"] == "fail").collect();
    let repro_lines = page.lines().filter(|l| l.contains(" run ")).count();
    assert_eq!(repro_lines, failing.len().min(20), "{page}");
    for l in &failing {
        for f in l["failed"].as_array().unwrap() {
            let f = f.as_str().unwrap();
            assert!(page.contains(&format!("<td class=\"l\">{f}</td>")), "{f}");
        }
    }
    assert!(page.contains(&format!("{} seed(s) run", lines.len())));
    assert!(
        stdout(&o)
            .trim_end()
            .ends_with(&format!("report: {}", merged.join("index.html").display())),
        "the merge names its page last"
    );
}

#[test]
fn failing_seeds_are_listed_with_repro_commands_that_reproduce_them() {
    let tmp = tempfile::tempdir().unwrap();
    let o = sweep(&tmp.path().join("s"), &[]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(text.contains("exactly-once-effect: "), "{text}");
    let repros: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("repro: "))
        .collect();
    assert!(!repros.is_empty(), "{text}");
    // Pasted into a shell as printed (the program named as it was started,
    // here by its path), each fails again.
    for (i, repro) in repros.iter().take(2).enumerate() {
        let out = tmp.path().join(format!("r{i}"));
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{repro} --out {} --quiet", out.display()))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(1),
            "{repro} fails again: {}",
            stderr(&o)
        );
        assert!(out.join("summary.json").exists(), "{repro}");
    }
    // The first three failing seeds' reports sit in the sweep's folder,
    // linked from its page and named on the terminal; each is the run the
    // repro command makes.
    let dir = tmp.path().join("s");
    let failing: Vec<u64> = std::fs::read_to_string(dir.join("sweep.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["verdict"] == "fail")
        .map(|v| v["seed"].as_u64().unwrap())
        .collect();
    assert!(failing.len() >= 3, "{failing:?}");
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    well_formed(&page);
    for seed in &failing[..3] {
        let report = dir.join(format!("seed-{seed}"));
        assert!(
            page.contains(&format!(
                "<a href=\"seed-{seed}/index.html\">seed {seed}</a>"
            )),
            "{page}"
        );
        assert!(text.contains(&format!("report of seed {seed}: ")), "{text}");
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(report.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(s["seed"], *seed);
        assert_eq!(s["verdict"], "fail");
        assert!(report.join("index.html").exists() && report.join("manifest.json").exists());
    }
    assert!(
        !dir.join(format!("seed-{}", failing[3.min(failing.len() - 1)]))
            .exists()
            || failing.len() == 3
    );
    // The report is byte for byte the one `run --seed S` writes.
    let again = tmp.path().join("again");
    let seed = failing[0].to_string();
    let o = eventsim(&[
        "run",
        SCENARIO,
        "--seed",
        &seed,
        "--out",
        again.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(1));
    for f in [
        "summary.json",
        "violations.jsonl",
        "faults.csv",
        "timeseries.csv",
    ] {
        assert_eq!(
            std::fs::read(dir.join(format!("seed-{seed}")).join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap(),
            "{f}"
        );
    }
    // A bad --reports is a usage error.
    let o = sweep(&tmp.path().join("bad"), &["--reports", "three"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--reports"), "{}", stderr(&o));
    // With --reports 0, none.
    let none = tmp.path().join("n");
    let o = sweep(&none, &["--reports", "0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!stdout(&o).contains("report of seed"));
    assert!(!none.join(format!("seed-{}", failing[0])).exists());
}

#[test]
fn bad_seed_ranges_and_shards_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for (flag, value, needle) in [("--seeds", "5..5", "A..B"), ("--shard", "3/3", "I/N")] {
        let mut args = vec!["sweep", SCENARIO, "--out", tmp.path().to_str().unwrap()];
        if flag == "--seeds" {
            args.extend(["--seeds", value]);
        } else {
            args.extend(["--seeds", "0..3", flag, value]);
        }
        let o = eventsim(&args);
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains(needle), "{}", stderr(&o));
    }
    let o = eventsim(&["merge", tmp.path().join("none").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
}

/// A scenario fast enough to sweep hundreds of seeds in a test.
const QUICK: &str = r#"
[scenario]
name = "quick"
duration = "2s"

[[topics]]
name = "t"
partitions = 2

[[producers]]
name = "p"
topic = "t"
rate = 300

[[groups]]
name = "g"
topics = ["t"]
auto_offset_reset = "earliest"
"#;

fn status(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("sweep.json")).unwrap()).unwrap()
}

#[cfg(unix)]
#[test]
fn sigterm_keeps_what_finished_says_what_is_missing_and_a_rerun_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("quick.toml");
    std::fs::write(&file, QUICK).unwrap();
    let dir = tmp.path().join("s");
    let args = [
        "sweep",
        file.to_str().unwrap(),
        "--seeds",
        "0..100000",
        "--jobs",
        "2",
        "--out",
        dir.to_str().unwrap(),
    ];
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_eventsim"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for a few results in the journal, then SIGTERM.
    let journal = dir.join("sweep.partial.jsonl");
    for _ in 0..600 {
        let lines = std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count());
        if lines >= 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "interrupted: {}", stderr(&out));
    let s = status(&dir);
    assert_eq!(s["stopped_by"], "interrupted");
    assert_eq!(s["complete"], false);
    let ran = s["seeds_run"].as_u64().unwrap();
    assert!(ran >= 5, "{s}");
    let results = std::fs::read_to_string(dir.join("sweep.jsonl")).unwrap();
    assert_eq!(results.lines().count() as u64, ran);
    assert!(!journal.exists(), "the journal is folded into sweep.jsonl");
    assert!(
        s["missing"][0].as_str().unwrap().ends_with("..=99999"),
        "{s}"
    );
    assert!(stdout(&out).contains("--resume"), "{}", stdout(&out));
    // The folder belongs to this sweep: resuming another range into it is
    // refused (resuming the same one is the next test).
    let mut other = args.to_vec();
    other[3] = "0..50";
    other.push("--resume");
    let o = eventsim(&other);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("another sweep"), "{}", stderr(&o));
}

#[test]
fn a_resumed_sweep_skips_the_seeds_it_has_and_ends_as_one_run_would() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("quick.toml");
    std::fs::write(&file, QUICK).unwrap();
    let run = |dir: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "sweep",
            file.to_str().unwrap(),
            "--seeds",
            "0..12",
            "--out",
            dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        eventsim(&args)
    };
    let whole = tmp.path().join("whole");
    assert_eq!(run(&whole, &[]).status.code(), Some(0));
    // A partial result: the first 5 seeds' lines in the journal of an
    // interrupted run (the last one cut short by a kill).
    let part = tmp.path().join("part");
    std::fs::create_dir_all(&part).unwrap();
    let lines: Vec<String> = std::fs::read_to_string(whole.join("sweep.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let mut journal = lines[..5].join("\n");
    journal.push('\n');
    journal.push_str(&lines[5][..20]);
    std::fs::write(part.join("sweep.partial.jsonl"), journal).unwrap();
    let o = run(&part, &["--resume"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("resuming: 5 seed(s)"), "{}", stdout(&o));
    assert_eq!(
        std::fs::read(part.join("sweep.jsonl")).unwrap(),
        std::fs::read(whole.join("sweep.jsonl")).unwrap()
    );
    assert_eq!(status(&part)["complete"], true);
}

#[test]
fn merge_names_the_seeds_no_shard_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("quick.toml");
    std::fs::write(&file, QUICK).unwrap();
    let mut dirs = Vec::new();
    for i in [0, 2] {
        let d = tmp.path().join(format!("shard{i}"));
        let o = eventsim(&[
            "sweep",
            file.to_str().unwrap(),
            "--seeds",
            "0..9",
            "--shard",
            &format!("{i}/3"),
            "--out",
            d.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        dirs.push(d.to_str().unwrap().to_string());
    }
    let merged = tmp.path().join("merged");
    let mut args = vec!["merge"];
    args.extend(dirs.iter().map(String::as_str));
    args.extend(["--out", merged.to_str().unwrap()]);
    let o = eventsim(&args);
    assert_eq!(o.status.code(), Some(4), "{}", stdout(&o));
    // Shard 1/3 held 1, 4 and 7.
    assert!(stdout(&o).contains("missing: 1, 4, 7"), "{}", stdout(&o));
    assert_eq!(
        status(&merged)["missing"],
        serde_json::json!(["1..=1", "4..=4", "7..=7"])
    );
}

#[test]
fn huge_seed_ranges_start_at_once_and_the_largest_seed_is_a_seed() {
    let tmp = tempfile::tempdir().unwrap();
    // Every seed of this scenario fails: fail-fast stops after the first.
    let d = tmp.path().join("huge");
    let o = eventsim(&[
        "sweep",
        "scenarios/faults/auto-commit-loss.toml",
        "--seeds",
        "0..100000000000",
        "--shard",
        "7/1000",
        "--jobs",
        "1",
        "--fail-fast",
        "--out",
        d.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let s = status(&d);
    assert_eq!(s["stopped_by"], "fail-fast");
    assert_eq!(s["seeds_run"], 1);
    assert_eq!(s["missing"], serde_json::json!(["1007..=99999999007"]));
    let d = tmp.path().join("max");
    let o = eventsim(&[
        "sweep",
        "scenarios/mm1.toml",
        "--seeds",
        "18446744073709551615",
        "--out",
        d.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let line = std::fs::read_to_string(d.join("sweep.jsonl")).unwrap();
    assert!(line.contains("\"seed\":18446744073709551615"), "{line}");
    for bad in ["18446744073709551616", "0..18446744073709551617"] {
        let o = eventsim(&["sweep", "scenarios/mm1.toml", "--seeds", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
    }
    let o = eventsim(&[
        "compare",
        "scenarios/mm1.toml",
        "--vary",
        "scenario.seed=1,2",
        "--seeds",
        "0..2",
        "--jobs",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--jobs must be at least 1"),
        "{}",
        stderr(&o)
    );
}

/// `merge` without `--out` writes where the unsharded sweep would have
/// (under `reports/`), not into the current folder.
#[test]
fn merge_writes_where_the_unsharded_sweep_would() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("quick.toml");
    std::fs::write(&file, QUICK).unwrap();
    let mut shards = Vec::new();
    for i in 0..2 {
        let d = tmp.path().join(format!("shard{i}"));
        let o = eventsim(&[
            "sweep",
            file.to_str().unwrap(),
            "--seeds",
            "0..4",
            "--shard",
            &format!("{i}/2"),
            "--out",
            d.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        shards.push(d.to_str().unwrap().to_string());
    }
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_eventsim"))
        .arg("merge")
        .args(&shards)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The file `quick.toml` names its scenario `quick`: one folder name.
    let merged = tmp.path().join("reports/quick/sweep-0..4");
    assert!(merged.join("sweep.jsonl").exists(), "{}", stdout(&o));
    assert!(stdout(&o).contains("reports/quick/sweep-0..4/index.html"));
    assert!(!tmp.path().join("sweep.jsonl").exists());
}
