//! Capacity: a design that cannot keep up with its arrivals fails
//! `kept-up` with the rates that say so, and one that keeps up passes,
//! near saturation and after a fault's backlog alike.

use crate::common::scenario;
use eventsim::check::{CheckStatus, Verdict};
use eventsim::report::Summary;

/// `mm1.toml`'s queue (one partition, one consumer serving 1,000/s on
/// average) at `rate` arrivals per second for `duration`.
fn mm1(rate: u32, duration: &str, extra: &str) -> String {
    let text = std::fs::read_to_string(crate::common::repo("scenarios/mm1.toml")).unwrap();
    let text = text
        .replace(
            "duration = \"1700s\"",
            &format!("duration = \"{duration}\""),
        )
        .replace("rate = 600 ", &format!("rate = {rate} "));
    format!("{text}\n{extra}")
}

fn kept_up(c: &eventsim::Checked) -> (CheckStatus, Vec<String>) {
    let s = Summary::checked(c, String::new());
    let status = s
        .checks
        .iter()
        .find(|r| r.name == "kept-up")
        .unwrap()
        .status;
    let found = c
        .violations
        .iter()
        .filter(|v| v.invariant == "kept-up")
        .map(|v| v.message.clone())
        .collect();
    (status, found)
}

#[test]
fn an_overloaded_queue_fails_kept_up_with_its_rates_on_every_seed() {
    // 1,200/s arrive at a consumer that serves 1,000/s: the lag grows by
    // about 200/s from the start. Before `kept-up` these runs were
    // inconclusive (the drain ended before the group caught up).
    let s = scenario(&mm1(1200, "60s", ""));
    for seed in 0..20 {
        let c = eventsim::run_checked(&s, seed, Vec::new());
        let (status, found) = kept_up(&c);
        assert_eq!(status, CheckStatus::Fail, "seed {seed}");
        assert_eq!(c.verdict(), Verdict::Fail, "seed {seed}");
        assert_eq!(found.len(), 1, "seed {seed}: {found:?}");
        let m = &found[0];
        assert!(
            m.starts_with("server cannot keep up on jobs-0: 1,1") || m.contains(": 1,2"),
            "seed {seed}: {m}"
        );
        assert!(m.contains("records/s served by server/0 (busy 100%"), "{m}");
        // The growth it names is arrivals minus service, about 200/s.
        let growth: f64 = m
            .split("the lag grows by ")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .and_then(|n| n.replace(',', "").parse().ok())
            .unwrap_or_else(|| panic!("{m}"));
        assert!((150.0..250.0).contains(&growth), "seed {seed}: {m}");
        // Busy from the first second to the end of the drain.
        let u = &Summary::checked(&c, String::new()).utilisation[0];
        assert!(u.busiest > 0.98, "seed {seed}: {u:?}");
    }
}

#[test]
fn a_stable_queue_near_saturation_keeps_up_on_every_seed() {
    // Utilisation 0.9 for 600 simulated seconds: long excursions of the
    // lag, but it falls back to nothing again and again.
    let s = scenario(&mm1(900, "600s", ""));
    for seed in 0..20 {
        let c = eventsim::run_checked(&s, seed, Vec::new());
        let (status, found) = kept_up(&c);
        assert_eq!(status, CheckStatus::Pass, "seed {seed}: {found:?}");
        assert_eq!(c.verdict(), Verdict::Pass, "seed {seed}");
        // Busy 90% of production (600 s), and idle in the drain (10 s).
        let u = &Summary::checked(&c, String::new()).utilisation[0];
        assert_eq!(u.busiest_consumer, "server/0");
        assert!((0.86..0.92).contains(&u.busiest), "seed {seed}: {u:?}");
        assert_eq!(u.busiest, u.mean);
    }
}

/// Three brokers, one partition replicated three times, a consumer
/// serving 1,000/s on average and 800/s arriving, for 60 s.
fn replicated(faults: &str) -> String {
    format!(
        r#"
[scenario]
name = "backlog"
duration = "60s"
drain = "60s"

[cluster]
brokers = 3

[[topics]]
name = "jobs"
partitions = 1
replication_factor = 3

[[producers]]
name = "arrivals"
topic = "jobs"
rate = 800
arrival = "poisson"

[[groups]]
name = "server"
topics = ["jobs"]
consumers = 1
processing = {{ dist = "exponential", mean = "1ms" }}
{faults}
"#
    )
}

#[test]
fn a_backlog_a_broker_crash_caused_drains_and_passes() {
    for at in ["5s", "40s"] {
        let faults = format!(
            "[[faults]]\nkind = \"crash\"\ntarget = \"broker-0\"\nat = \"{at}\"\nrestart_after = \"10s\"\n"
        );
        let s = scenario(&replicated(&faults));
        for seed in 0..5 {
            let c = eventsim::run_checked(&s, seed, Vec::new());
            let (status, found) = kept_up(&c);
            assert_eq!(
                status,
                CheckStatus::Pass,
                "crash at {at}, seed {seed}: {found:?}"
            );
        }
    }
}

#[test]
fn a_group_that_lost_a_consumer_for_good_cannot_keep_up() {
    // Two partitions at 700/s each, two consumers serving 1,000/s each;
    // one crashes at 5 s and never comes back: after the rebalance the
    // survivor owns both, 1,400/s against its 1,000/s.
    let text = r#"
[scenario]
name = "survivor"
duration = "200s"

[[topics]]
name = "jobs"
partitions = 2

[[producers]]
name = "arrivals"
topic = "jobs"
rate = 1400
arrival = "poisson"
partitioner = "round-robin"

[[groups]]
name = "server"
topics = ["jobs"]
consumers = 2
processing = { dist = "exponential", mean = "1ms" }

[[faults]]
kind = "crash"
target = "server/1"
at = "5s"
"#;
    let c = eventsim::run_checked(&scenario(text), 1, Vec::new());
    let (status, found) = kept_up(&c);
    assert_eq!(status, CheckStatus::Fail, "{found:?}");
    assert_eq!(found.len(), 2, "{found:?}");
    for m in &found {
        assert!(m.contains("served by server/0 (busy 100%"), "{m}");
    }
    // With the consumer back after 10 s, the backlog drains: no finding.
    let back = text.replace("at = \"5s\"", "at = \"5s\"\nrestart_after = \"10s\"");
    let c = eventsim::run_checked(&scenario(&back), 1, Vec::new());
    assert_eq!(kept_up(&c), (CheckStatus::Pass, Vec::new()));
}

#[test]
fn the_saturated_run_repeats_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("over.toml");
    std::fs::write(&path, mm1(1200, "20s", "")).unwrap();
    for n in ["a", "b"] {
        let o = crate::common::eventsim(&[
            "run",
            path.to_str().unwrap(),
            "--seed",
            "3",
            "--out",
            tmp.path().join(n).to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", crate::common::stderr(&o));
        assert!(
            crate::common::stdout(&o).contains("violated: kept-up (1)"),
            "{}",
            crate::common::stdout(&o)
        );
    }
    for f in ["summary.json", "violations.jsonl", "index.html"] {
        assert_eq!(
            std::fs::read(tmp.path().join("a").join(f)).unwrap(),
            std::fs::read(tmp.path().join("b").join(f)).unwrap(),
            "{f}"
        );
    }
}

/// The overloaded queue's latency figures count only what finished; what
/// the group had not processed when the run stopped is counted beside
/// them (exactly acked - applied for one group without duplicates), with
/// the oldest one's age, on every output a reader sees. A queue that
/// drains has none, and its outputs are as before (no new key).
#[test]
fn an_overloaded_run_counts_what_never_finished_beside_its_latency() {
    let s = scenario(&mm1(1200, "60s", ""));
    for seed in 0..5 {
        let c = eventsim::run_checked(&s, seed, Vec::new());
        let summary = Summary::checked(&c, String::new());
        let g = &summary.groups[0];
        let counts = &summary.counts;
        assert!(g.unfinished > 1000, "seed {seed}: {}", g.unfinished);
        assert_eq!(g.unfinished, counts.acked - counts.applied, "seed {seed}");
        let oldest = g.oldest_unfinished_ns.unwrap();
        // Older than most of what finished (it waited behind them all),
        // younger than the run.
        assert!(
            oldest > summary.latency_ns.end_to_end["server"].p50,
            "seed {seed}"
        );
        assert!(oldest < summary.sim_time_ns, "seed {seed}");
        let json = summary.to_json();
        assert!(json.contains("\"unfinished\""), "seed {seed}");
        assert_eq!(
            json,
            Summary::checked(&eventsim::run_checked(&s, seed, Vec::new()), String::new()).to_json()
        );
    }
    let drained = eventsim::run_checked(&scenario(&mm1(600, "60s", "")), 1, Vec::new());
    let summary = Summary::checked(&drained, String::new());
    assert_eq!(summary.groups[0].unfinished, 0);
    assert!(!summary.to_json().contains("unfinished"));
}

/// The terminal, the page, the sweep line and the comparison say it too.
#[test]
fn what_never_finished_is_on_the_terminal_the_page_a_sweep_and_a_comparison() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("over.toml");
    std::fs::write(&path, mm1(1200, "60s", "")).unwrap();
    let p = path.to_str().unwrap();
    let out = tmp.path().join("run");
    let o = crate::common::eventsim(&["run", p, "--out", out.to_str().unwrap()]);
    let text = crate::common::stdout(&o);
    let line = text
        .lines()
        .find(|l| l.contains("end-to-end server"))
        .unwrap();
    assert!(
        line.contains("unfinished ") && line.contains("not in the percentiles"),
        "{line}"
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("Not in the figures below: group server had not processed"));
    let sweep = tmp.path().join("sweep");
    crate::common::eventsim(&[
        "sweep",
        p,
        "--seeds",
        "0..2",
        "-q",
        "--out",
        sweep.to_str().unwrap(),
    ]);
    let lines = std::fs::read_to_string(sweep.join("sweep.jsonl")).unwrap();
    assert!(
        lines
            .lines()
            .all(|l| l.contains("\"unfinished\":{\"server\":")),
        "{lines}"
    );
    let cmp = tmp.path().join("cmp");
    crate::common::eventsim(&[
        "compare",
        p,
        "--vary",
        "producers.arrivals.rate=600,1200",
        "--seeds",
        "0..2",
        "-q",
        "--out",
        cmp.to_str().unwrap(),
    ]);
    let md = std::fs::read_to_string(cmp.join("comparison.md")).unwrap();
    let row = md.lines().find(|l| l.starts_with("| rate=1200")).unwrap();
    assert!(md.contains("| unfinished |"), "{md}");
    assert!(!row.contains("| 0.00 ± 0.00 | kept-up"), "{row}");
}

/// A broker's busy share is the append work it was given over the run:
/// with `capacity = 1000` records/s and 600/s arriving for 60 s, about
/// 0.6 of the production time. Appends that cost nothing (the default)
/// leave no `broker_utilisation` in summary.json.
#[test]
fn a_brokers_busy_share_is_its_append_work_over_the_run() {
    let text = mm1(600, "60s", "").replacen("brokers = 1 ", "capacity = 1000\nbrokers = 1 ", 1);
    assert!(text.contains("capacity = 1000"));
    for seed in 0..3 {
        let c = eventsim::run_checked(&scenario(&text), seed, Vec::new());
        let s = Summary::checked(&c, String::new());
        assert_eq!(s.broker_utilisation.len(), 1);
        let expected = 0.6 * 60e9 / s.sim_time_ns as f64;
        let busy = s.broker_utilisation[0].busy;
        assert!(
            (busy - expected).abs() < 0.05 * expected,
            "seed {seed}: {busy} vs {expected}"
        );
        assert_eq!(s.to_json(), {
            let again = eventsim::run_checked(&scenario(&text), seed, Vec::new());
            Summary::checked(&again, String::new()).to_json()
        });
    }
    let free = eventsim::run_checked(&scenario(&mm1(600, "60s", "")), 1, Vec::new());
    let s = Summary::checked(&free, String::new());
    assert!(s.broker_utilisation.is_empty());
    assert!(!s.to_json().contains("broker_utilisation"));
}
