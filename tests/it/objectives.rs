//! Objectives (`[[checks.objectives]]`): a latency percentile, a maximum
//! lag or a minimum throughput a design must meet. Each fires where the
//! queue misses it and holds where queueing theory says it is met; a
//! latency objective counts the records that never finished.

use crate::common::{assert_refused, eventsim, mm1, scenario, stderr};
use eventsim::check::{CheckStatus, Verdict};
use eventsim::report::Summary;

const P99_50MS: &str = "
[[checks.objectives]]
latency = \"end-to-end\"
group = \"server\"
percentile = 99
bound = \"50ms\"
";

fn status(c: &eventsim::Checked) -> CheckStatus {
    (c.checks.iter())
        .find(|r| r.name == "objectives")
        .unwrap()
        .status
}

#[test]
fn a_latency_objective_holds_where_mm1_meets_it_and_fires_where_it_does_not() {
    // M/M/1 sojourn time is exponential with rate mu - lambda: its p99 is
    // ln(100) / (mu - lambda): 11.5 ms at 600/s, 92 ms at 950/s.
    let calm = scenario(&mm1(600, "120s", P99_50MS));
    let busy = scenario(&mm1(950, "120s", P99_50MS));
    for seed in 0..5 {
        let c = eventsim::run_checked(&calm, seed, Vec::new());
        assert_eq!(status(&c), CheckStatus::Pass, "seed {seed}");
        let o = &c.objectives[0];
        assert!(
            o.met && o.value > 8e6 && o.value < 16e6,
            "seed {seed}: {o:?}"
        );
        assert_eq!(o.objective, "end-to-end p99 of server <= 50ms");

        let c = eventsim::run_checked(&busy, seed, Vec::new());
        assert_eq!(status(&c), CheckStatus::Fail, "seed {seed}");
        assert_eq!(c.verdict(), Verdict::Fail);
        let o = &c.objectives[0];
        assert!(
            !o.met && o.value > 60e6 && o.value < 140e6,
            "seed {seed}: {o:?}"
        );
        let v = c
            .violations
            .iter()
            .find(|v| v.invariant == "objectives")
            .unwrap();
        assert!(
            v.message.contains("end-to-end p99 of server <= 50ms"),
            "{}",
            v.message
        );
        let why = v.explanation.join("\n");
        assert!(
            why.contains("per-interval end-to-end p99 above 50ms"),
            "{why}"
        );
        assert!(why.contains("no fault was active then"), "{why}");
    }
}

#[test]
fn lag_and_throughput_objectives_fire_only_when_missed() {
    let both = |lag: u32, rate: u32| {
        format!(
            "[[checks.objectives]]\nmax_lag = {lag}\ngroup = \"server\"\n\n[[checks.objectives]]\nmin_throughput = {rate}\ngroup = \"server\"\n"
        )
    };
    // 600/s into a 1,000/s consumer: the lag stays within a few dozen,
    // and it serves what arrives. 1,200/s: the lag grows to thousands
    // and it serves 1,000/s.
    let calm = eventsim::run_checked(&scenario(&mm1(600, "60s", &both(200, 550))), 1, Vec::new());
    assert_eq!(status(&calm), CheckStatus::Pass, "{:?}", calm.objectives);
    let over = eventsim::run_checked(
        &scenario(&mm1(1200, "60s", &both(200, 1100))),
        1,
        Vec::new(),
    );
    assert_eq!(status(&over), CheckStatus::Fail);
    assert_eq!(over.objectives.len(), 2);
    assert!(
        over.objectives.iter().all(|o| !o.met),
        "{:?}",
        over.objectives
    );
    assert!(
        over.objectives[0].value > 5000.0,
        "{:?}",
        over.objectives[0]
    );
    let t = over.objectives[1].value;
    assert!((950.0..1050.0).contains(&t), "{t}");
    let lag = (over.violations.iter())
        .find(|v| v.message.contains("lag of server"))
        .unwrap();
    assert!(
        lag.explanation[0].contains("peaked at"),
        "{:?}",
        lag.explanation
    );
    assert!(
        lag.explanation[1].contains("its lag above 200 events"),
        "{:?}",
        lag.explanation
    );
}

#[test]
fn a_consumer_that_never_finishes_cannot_meet_a_latency_objective() {
    // The consumer crashes at 40 s and never comes back: every record
    // after that stays unfinished. What finished was fast (p99 ~ 12 ms),
    // but a quarter of the records never finished: counted at their age,
    // the p99 is seconds.
    let crash = "\n[[faults]]\nkind = \"crash\"\ntarget = \"server/0\"\nat = \"40s\"\n";
    let s = scenario(&mm1(600, "60s", &format!("{P99_50MS}{crash}")));
    let c = eventsim::run_checked(&s, 2, Vec::new());
    assert_eq!(status(&c), CheckStatus::Fail);
    let finished = c.result.metrics.end_to_end[0].stats().p99;
    assert!(finished < 50_000_000, "finished only: {finished}");
    let o = &c.objectives[0];
    let left = c.result.unfinished[0].events;
    assert!(left > 10_000, "{left}");
    assert_eq!(o.unfinished, left);
    assert!(o.value > 10e9, "{o:?}");
    let v = c
        .violations
        .iter()
        .find(|v| v.invariant == "objectives")
        .unwrap();
    let why = v.explanation.join("\n");
    assert!(
        why.contains(&format!("and {left} not finished at the end")),
        "{why}"
    );
    assert!(
        why.contains("faults active since: crash of server/0 from 40.000s")
            && why.contains("what finished met it (p99 "),
        "{why}"
    );
}

#[test]
fn objectives_in_summary_page_and_terminal_and_twice_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("mm1o.toml");
    std::fs::write(&path, mm1(950, "30s", P99_50MS)).unwrap();
    let mut outs = Vec::new();
    for n in ["a", "b"] {
        let dir = tmp.path().join(n);
        let o = eventsim(&[
            "run",
            path.to_str().unwrap(),
            "--seed",
            "4",
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let out = crate::common::stdout(&o);
        assert!(
            out.contains("objectives:\n    MISSED end-to-end p99 of server <= 50ms: "),
            "{out}"
        );
        outs.push(dir);
    }
    for f in ["summary.json", "violations.jsonl", "index.html"] {
        let a = std::fs::read(outs[0].join(f)).unwrap();
        assert_eq!(a, std::fs::read(outs[1].join(f)).unwrap(), "{f}");
    }
    let summary: Summary =
        serde_json::from_str(&std::fs::read_to_string(outs[0].join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary.objectives.len(), 1);
    assert!(!summary.objectives[0].met);
    assert_eq!(summary.objectives[0].unit, "ns");
    let page = std::fs::read_to_string(outs[0].join("index.html")).unwrap();
    assert!(
        page.contains("<h3 id=\"objectives\">Objectives</h3>"),
        "page"
    );
    assert!(page.contains("<td class=\"l fail\">missed</td>"), "page");
}

#[test]
fn a_scenario_without_objectives_skips_the_check() {
    let c = eventsim::run_checked(&scenario(&mm1(600, "10s", "")), 1, Vec::new());
    assert_eq!(status(&c), CheckStatus::Skipped);
    assert!(c.objectives.is_empty());
}

#[test]
fn bad_objectives_are_refused_with_the_field() {
    let text = mm1(600, "10s", P99_50MS);
    let at = "checks.objectives[0]";
    assert_refused(
        &text,
        "group = \"server\"\npercentile",
        "group = \"sever\"\npercentile",
        &format!("{at}.group"),
        "did you mean `server`?",
    );
    assert_refused(
        &text,
        "percentile = 99",
        "percentile = 150",
        &format!("{at}.percentile"),
        "at most 100",
    );
    assert_refused(
        &text,
        "bound = \"50ms\"",
        "bound = \"fast\"",
        &format!("{at}.bound"),
        "duration",
    );
    assert_refused(
        &text,
        "bound = \"50ms\"",
        "bound = \"50ms\"\nmax_lag = 5",
        at,
        "exactly one of `latency`, `max_lag` and `min_throughput`",
    );
    assert_refused(
        &text,
        "latency = \"end-to-end\"",
        "latency = \"end-to-end\"\nproducer = \"arrivals\"",
        &format!("{at}.producer"),
        "does not apply",
    );
    assert_refused(
        &text,
        "latency = \"end-to-end\"",
        "latency = \"flow\"",
        &format!("{at}.flow"),
        "expected the flow",
    );
    assert_refused(
        &text,
        "latency = \"end-to-end\"",
        "latency = \"end-to-ending\"",
        &format!("{at}.latency"),
        "end-to-end",
    );
    assert_refused(
        &text,
        "bound = \"50ms\"",
        "bound = \"0s\"",
        &format!("{at}.bound"),
        "greater than zero",
    );
}
