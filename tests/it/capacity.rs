//! Capacity: a design that cannot keep up with its arrivals fails
//! `kept-up` with the rates that say so, and one that keeps up passes,
//! near saturation and after a fault's backlog alike.

use crate::common::{mm1, scenario};
use eventsim::check::{CheckStatus, Verdict};
use eventsim::report::Summary;

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

/// Run `eventsim capacity` on `text` (written to a file) with `args`; its
/// exit status, stdout+stderr and capacity.json.
fn capacity_cli(text: &str, args: &[&str]) -> (Option<i32>, String, Option<serde_json::Value>) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("s.toml");
    std::fs::write(&path, text).unwrap();
    let out = tmp.path().join("out");
    let mut all = vec![
        "capacity",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let o = crate::common::eventsim(&all);
    let said = format!("{}{}", crate::common::stdout(&o), crate::common::stderr(&o));
    let json = std::fs::read_to_string(out.join("capacity.json"))
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap());
    (o.status.code(), said, json)
}

fn answer(json: &serde_json::Value, curve: usize) -> f64 {
    json["curves"][curve]["answer"].as_f64().unwrap()
}

#[test]
fn capacity_finds_the_mm1_load_queueing_theory_gives_within_3_percent() {
    // M/M/1 with mu = 1,000/s: the sojourn time is exponential with rate
    // mu - lambda, so p99 <= 50 ms holds up to lambda = 1000 - ln(100)/0.05
    // = 907.9 events/s.
    let text = mm1(600, "400s", "");
    let (code, said, json) = capacity_cli(&text, &["--objective", "end-to-end p99 <= 50ms"]);
    assert_eq!(code, Some(0), "{said}");
    let json = json.unwrap();
    let found = answer(&json, 0);
    let theory = 1000.0 - 100f64.ln() / 0.05;
    assert!(
        (found - theory).abs() / theory < 0.03,
        "{found} against {theory}"
    );
    assert!(
        said.contains("capacity of `mm1` within end-to-end p99 of server <= 50ms"),
        "{said}"
    );
    // The point just above it missed; every point below the answer met.
    let missed = json["curves"][0]["missed_at"].as_f64().unwrap();
    assert!(
        missed > found && (missed - found) / found <= 0.01,
        "{missed}"
    );
    for p in json["curves"][0]["points"].as_array().unwrap() {
        let x = p["x"].as_f64().unwrap();
        assert_eq!(p["met"].as_bool().unwrap(), x <= found, "{p}");
    }
}

#[test]
fn capacity_is_the_same_for_any_number_of_jobs() {
    let text = mm1(600, "60s", "");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("s.toml");
    std::fs::write(&path, &text).unwrap();
    for jobs in ["1", "2"] {
        let out = tmp.path().join(jobs);
        let o = crate::common::eventsim(&[
            "capacity",
            path.to_str().unwrap(),
            "--objective",
            "end-to-end p99 <= 50ms",
            "--jobs",
            jobs,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", crate::common::stderr(&o));
    }
    for f in [
        "capacity.json",
        "capacity.csv",
        "index.html",
        "capacity-latency.svg",
        "capacity-throughput.png",
    ] {
        let a = std::fs::read(tmp.path().join("1").join(f)).unwrap();
        assert_eq!(
            a,
            std::fs::read(tmp.path().join("2").join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn sizing_finds_the_consumers_an_uneven_assignment_needs() {
    // 2,500/s over 8 partitions, consumers serving 1,000/s each. Three
    // consumers would do on average (833/s each) but get 3, 3 and 2
    // partitions: 937/s for two of them, a p99 near 70 ms. Four get two
    // each (625/s, p99 about 12 ms).
    let text = mm1(2500, "120s", "")
        .replace("partitions = 1", "partitions = 8")
        .replace(
            "keys = { dist = \"sequential\", n = 1 }",
            "keys = { dist = \"uniform\", n = 100000 }",
        );
    let (code, said, json) = capacity_cli(
        &text,
        &[
            "--objective",
            "end-to-end p99 <= 50ms",
            "--size",
            "groups.server.consumers=1..8",
        ],
    );
    assert_eq!(code, Some(0), "{said}");
    let json = json.unwrap();
    assert_eq!(answer(&json, 0), 4.0, "{json}");
    assert_eq!(json["curves"][0]["missed_at"].as_f64(), Some(3.0));
    assert!(said.contains("smallest groups.server.consumers"), "{said}");
}

#[test]
fn a_broker_that_cannot_append_faster_bounds_the_capacity() {
    // The consumer is fast (0.1 ms per record); the broker appends 2,000
    // records/s at most. Produce->ack p99 <= 50 ms holds below that.
    let text = mm1(600, "120s", "")
        .replace("brokers = 1 ", "brokers = 1\ncapacity = 2000 ")
        .replace("mean = \"1ms\"", "mean = \"0.1ms\"");
    assert!(text.contains("capacity = 2000"));
    let (code, said, json) = capacity_cli(&text, &["--objective", "produce-ack p99 <= 50ms"]);
    assert_eq!(code, Some(0), "{said}");
    let found = answer(&json.unwrap(), 0);
    assert!((1800.0..2000.0).contains(&found), "{found}");
}

#[test]
fn capacity_compares_variants_by_the_load_each_carries() {
    // Two consumers serve twice what one does.
    let text = mm1(600, "120s", "")
        .replace("partitions = 1", "partitions = 2")
        .replace(
            "keys = { dist = \"sequential\", n = 1 }",
            "keys = { dist = \"sequential\", n = 2 }",
        );
    let (code, said, json) = capacity_cli(
        &text,
        &[
            "--objective",
            "end-to-end p99 <= 50ms",
            "--vary",
            "groups.server.consumers=1,2",
        ],
    );
    assert_eq!(code, Some(0), "{said}");
    let json = json.unwrap();
    let (one, two) = (answer(&json, 0), answer(&json, 1));
    assert!(one > 800.0 && one < 1000.0, "{one}");
    assert!(two > 1.7 * one && two < 2000.0, "{one} {two}");
}

#[test]
fn capacity_refuses_what_it_cannot_search() {
    let text = mm1(600, "30s", "");
    let refused = |args: &[&str], needle: &str| {
        let (code, said, _) = capacity_cli(&text, args);
        assert_eq!(code, Some(2), "{args:?}: {said}");
        assert!(said.contains(needle), "{args:?}: {said}");
        assert!(!said.contains("panicked"), "{said}");
    };
    refused(&[], "capacity needs objectives");
    refused(
        &["--objective", "end-to-end:sever p99 <= 50ms"],
        "did you mean `server`?",
    );
    refused(&["--objective", "end-to-end p150 <= 50ms"], "at most 100");
    refused(&["--objective", "end-to-end p99 <= soon"], "not a duration");
    refused(
        &["--objective", "latency p99 <= 5ms"],
        "unknown stream `latency`",
    );
    refused(
        &["--objective", "end-to-end p99 <= 5ms", "--from", "950"],
        "the lowest point, 950, already misses the objectives: end-to-end p99 of server <= 5ms: ",
    );
    refused(
        &["--objective", "lag <= 10", "--from", "900", "--to", "800"],
        "the range is empty",
    );
    refused(
        &[
            "--objective",
            "lag <= 10",
            "--size",
            "groups.server.consumers=4..2",
        ],
        "--size: expected PATH=LO..HI",
    );
    refused(
        &[
            "--objective",
            "lag <= 10",
            "--size",
            "groups.nobody.consumers=1..2",
        ],
        "nobody",
    );
    refused(
        &["--objective", "lag <= 10", "--producer", "arivals"],
        "did you mean `arrivals`?",
    );
}

/// mm1's queue fed 1,000 records/s of 1,000 bytes into a broker that
/// appends 500/s, through a 1 MB producer buffer whose `send()` blocks up
/// to 2 s; the broker is down from 10 s to 18 s.
fn back_pressure(buffer: &str) -> String {
    mm1(1000, "30s", "[[faults]]\nkind = \"crash\"\ntarget = \"broker-0\"\nat = \"10s\"\nrestart_after = \"8s\"\n")
        .replace("brokers = 1 ", "brokers = 1\ncapacity = 500 ")
        .replace(
            "arrival = \"poisson\"",
            &format!("arrival = \"poisson\"\npayload = {{ dist = \"constant\", value = 1000 }}\n{buffer}"),
        )
}

#[test]
fn a_slow_cluster_blocks_the_producers_send_and_latency_counts_from_the_intended_time() {
    let s = scenario(&back_pressure(
        "buffer_memory = 1000000\nmax_block = \"2s\"",
    ));
    let c = eventsim::run_checked(&s, 1, Vec::new());
    let summary = Summary::checked(&c, String::new());
    let p = &summary.producers[0];
    // The application is held to the broker's 500/s for the whole run:
    // send() blocks almost all the time.
    assert!(p.blocked_ns > 25_000_000_000, "{p:?}");
    // While the broker is down nothing is acknowledged: each blocked
    // send() throws after 2 s, one after the other (4 in 8 s).
    assert!((3..=5).contains(&p.refused), "{p:?}");
    // Half the arrivals never got into the buffer by the end.
    assert!(p.waiting_at_end > 5_000, "{p:?}");
    assert!(p.produced + p.refused + p.waiting_at_end >= 29_000, "{p:?}");
    // Latency counts from when the application wanted to send: seconds,
    // not the 2 s a record spends in a full 1 MB buffer at 500/s.
    let l = &summary.latency_ns.produce_to_ack;
    assert!(l.p50 > 8_000_000_000, "{l:?}");
    let json = summary.to_json();
    assert!(
        json.contains("\"blocked_ns\"") && json.contains("\"refused\""),
        "{json}"
    );
    // The same run again: byte for byte.
    let again = Summary::checked(&eventsim::run_checked(&s, 1, Vec::new()), String::new());
    assert_eq!(json, again.to_json());
}

#[test]
fn a_buffer_with_room_never_blocks_and_says_nothing() {
    // Kafka's default 32 MiB holds the 30,000 records of 1,000 bytes.
    let s = scenario(&back_pressure(""));
    let c = eventsim::run_checked(&s, 1, Vec::new());
    let summary = Summary::checked(&c, String::new());
    let p = &summary.producers[0];
    assert_eq!(
        (p.blocked_ns, p.refused, p.waiting_at_end),
        (0, 0, 0),
        "{p:?}"
    );
    assert!(!summary.to_json().contains("blocked_ns"));
}

#[test]
fn a_buffer_of_no_bytes_is_refused() {
    let text = back_pressure("buffer_memory = 1000000");
    crate::common::assert_refused(
        &text,
        "buffer_memory = 1000000",
        "buffer_memory = 0",
        "producers[0].buffer_memory",
        "at least 1 byte",
    );
}

#[test]
fn capacity_shards_merge_into_what_one_command_writes() {
    let text = mm1(600, "30s", "")
        .replace("partitions = 1", "partitions = 2")
        .replace(
            "keys = { dist = \"sequential\", n = 1 }",
            "keys = { dist = \"sequential\", n = 2 }",
        );
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("s.toml");
    std::fs::write(&path, &text).unwrap();
    let dir = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    let run = |extra: &[&str], out: &str| {
        let mut args = vec![
            "capacity",
            path.to_str().unwrap(),
            "--objective",
            "end-to-end p99 <= 50ms",
            "--vary",
            "groups.server.consumers=1,2,3",
            "--out",
            out,
        ];
        args.extend_from_slice(extra);
        let o = crate::common::eventsim(&args);
        assert_eq!(o.status.code(), Some(0), "{}", crate::common::stderr(&o));
    };
    run(&[], &dir("whole"));
    run(&["--shard", "0/2"], &dir("s0"));
    run(&["--shard", "1/2"], &dir("s1"));
    // One shard alone is incomplete.
    let o = crate::common::eventsim(&["merge", &dir("s1"), "--out", &dir("part")]);
    assert_eq!(o.status.code(), Some(4), "{}", crate::common::stderr(&o));
    assert!(crate::common::stdout(&o).contains("no shard searched consumers=1, consumers=3"));
    let o = crate::common::eventsim(&["merge", &dir("s1"), &dir("s0"), "--out", &dir("merged")]);
    assert_eq!(o.status.code(), Some(0), "{}", crate::common::stderr(&o));
    for f in [
        "capacity.json",
        "capacity.csv",
        "index.html",
        "capacity-latency.svg",
        "capacity-throughput.png",
    ] {
        let whole = std::fs::read(tmp.path().join("whole").join(f)).unwrap();
        assert_eq!(
            whole,
            std::fs::read(tmp.path().join("merged").join(f)).unwrap(),
            "{f}"
        );
    }
}
