//! Seed sweeps: the same output whatever --jobs, shards that merge into the
//! unsharded result, failing seeds listed with repro commands that work.

mod common;
use common::*;

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
    for (i, repro) in repros.iter().take(2).enumerate() {
        let mut args: Vec<&str> = repro.split_whitespace().skip(1).collect();
        let out = tmp.path().join(format!("r{i}"));
        args.extend(["--out", out.to_str().unwrap(), "--quiet"]);
        let o = eventsim(&args);
        assert_eq!(o.status.code(), Some(1), "{repro} fails again");
    }
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
