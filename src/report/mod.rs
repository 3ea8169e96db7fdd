//! Reports: `summary.json` and `perf.json` from a [`RunResult`].
//!
//! Knows nothing of the model: only the run result, its catalog of names
//! and its metrics. Everything in `summary.json` is a function of the
//! scenario and the seed (no wall-clock figure); wall-clock figures go to
//! `perf.json` only.

pub(crate) mod page;
pub mod plot;
pub(crate) mod trace;

use crate::metrics::LatencyStats;
use crate::outcome::RunResult;
use serde::Serialize;
use std::collections::BTreeMap;

/// `summary.json`: what a run did and what the checkers found. Nothing
/// in it depends on the wall clock.
#[derive(Serialize, serde::Deserialize)]
pub struct Summary {
    /// The scenario's name.
    pub scenario: String,
    /// The master seed.
    pub seed: u64,
    /// The eventsim version that ran it.
    pub version: String,
    /// Simulated time when the run stopped.
    pub sim_time_ns: u64,
    /// Kernel events handled.
    pub kernel_events: u64,
    /// Why the run ended: quiescent, sim-time-max, kernel-events-max, queue-empty.
    pub stopped_by: String,
    /// Event counts.
    pub counts: crate::metrics::Counts,
    /// Per producer (the scenario's, then its groups' emitters and outbox
    /// relays): produced, acked, failed.
    #[serde(default)]
    pub producers: Vec<crate::metrics::ProducerCounts>,
    /// Per group: delivered, applied, duplicates, lag at end, and the rest
    /// of what happened to the events it reads.
    #[serde(default)]
    pub groups: Vec<crate::metrics::GroupCounts>,
    /// Latency percentiles, in ns.
    pub latency_ns: Latency,
    /// Events per simulated second.
    pub throughput_per_s: Throughput,
    /// The largest consumer lag each group had, in events (sampled at
    /// the time series interval).
    pub max_lag: BTreeMap<String, u64>,
    /// Faults that fired, per kind.
    pub faults: BTreeMap<String, u64>,
    /// Each fault that fired, in firing order: what it struck, and
    /// whether that was nothing (a pass does not show the design survives
    /// a fault that struck nothing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fault_hits: Vec<FaultHitFigures>,
    /// Per group that joined later (`start`) with records already in the
    /// log: the backlog it started with and how long it took to read it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub catch_up: BTreeMap<String, crate::metrics::CatchUpFigures>,
    /// Each business flow (`[[flows]]`): how many started, were rejected
    /// at the front door, completed, were compensated, failed or stayed
    /// open, and their completion and compensation latencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<crate::flows::FlowFigures>,
    /// Each service called synchronously (`[[services]]`): requests from
    /// outside, how the attempts to call it ended, compensations, effects,
    /// and the latency of its answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<crate::metrics::ServiceFigures>,
    /// Per topic: the share of the run its partitions had a live leader,
    /// the longest outage and its cause, time under min ISR; per group:
    /// how long some partition it reads had no live leader; how long the
    /// controller quorum had no active controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<crate::availability::AvailabilityFigures>,
    /// Per group: the share of the run its busiest consumer spent
    /// processing, and the mean share of its consumers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub utilisation: Vec<crate::metrics::UtilisationFigures>,
    /// Per broker: the share of the run it spent appending (its
    /// `capacity` and `append_latency` work); absent when appends cost
    /// nothing (neither is set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub broker_utilisation: Vec<BrokerUtilisation>,
    /// Each objective of `[[checks.objectives]]`: its figure against its
    /// bound, met or missed; absent when the scenario states none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objectives: Vec<crate::check::objectives::ObjectiveFigure>,
    /// Every enabled checker's result, in checker order.
    pub checks: Vec<crate::check::CheckResult>,
    /// `pass`, `fail` or `inconclusive` (a budget stopped the run before
    /// the checkers could decide; `verdict_note` says which and what).
    pub verdict: crate::check::Verdict,
    /// Why the verdict is `inconclusive`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub verdict_note: String,
    /// The command that reproduces the run.
    pub repro: String,
}

/// One fault in `summary.json`'s `fault_hits`.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct FaultHitFigures {
    /// When it fired (simulated ns).
    pub at_ns: u64,
    /// `kind target`.
    pub fault: String,
    /// What it struck, in words.
    pub struck: String,
    /// It struck nothing: no record whose fate it could change was in the
    /// hands of the node it struck, or its link carried no message.
    pub nothing: bool,
}

/// `latency_ns` in `summary.json`: percentiles per stream.
#[derive(Serialize, serde::Deserialize)]
pub struct Latency {
    /// Produce -> acknowledgement, every producer.
    pub produce_to_ack: LatencyStats,
    /// Produce -> acknowledgement, per producer.
    pub produce_to_ack_by_producer: BTreeMap<String, LatencyStats>,
    /// Produce -> applied for each group (the event's own hop).
    pub end_to_end: BTreeMap<String, LatencyStats>,
    /// Origin produce -> applied for each group, across choreography hops.
    pub end_to_end_from_origin: BTreeMap<String, LatencyStats>,
    /// Produce -> applied for the events of each topic, over the groups reading it.
    pub end_to_end_by_topic: BTreeMap<String, LatencyStats>,
}

/// `throughput_per_s` in `summary.json`.
#[derive(Serialize, serde::Deserialize)]
pub struct Throughput {
    /// Events appended per simulated second, per topic.
    pub topics: BTreeMap<String, f64>,
    /// Events applied per simulated second, per group.
    pub groups: BTreeMap<String, f64>,
}

/// Round to 3 decimals so that the JSON stays short and stable.
fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Per name, its rate per simulated second.
fn rates(names: &[String], rates: &[crate::metrics::Rate]) -> BTreeMap<String, f64> {
    (names.iter().cloned())
        .zip(rates.iter().map(|r| r3(r.per_second())))
        .collect()
}

/// One broker's busy share of the run.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct BrokerUtilisation {
    /// The broker (`broker-0`).
    pub broker: String,
    /// The share of the run it spent appending (0 to 1).
    pub busy: f64,
}

/// Per broker, its busy share; empty when no broker had any work.
fn broker_utilisation(result: &RunResult) -> Vec<BrokerUtilisation> {
    if result.broker_busy_ns.iter().all(|&b| b == 0) {
        return Vec::new();
    }
    let end = result.sim_time_ns.max(1) as f64;
    (result.broker_busy_ns.iter().enumerate())
        .map(|(b, &busy)| BrokerUtilisation {
            broker: format!("broker-{b}"),
            busy: busy as f64 / end,
        })
        .collect()
}

/// Each producer's counts, with the time its `send()` blocked and the
/// records it refused.
fn producer_counts(result: &RunResult) -> Vec<crate::metrics::ProducerCounts> {
    let m = &result.metrics;
    (m.by_producer.iter().enumerate())
        .map(|(p, c)| {
            let pressure = result.producer_pressure.get(p).copied();
            let (blocked_ns, refused, waiting_at_end) = pressure.unwrap_or((0, 0, 0));
            crate::metrics::ProducerCounts {
                blocked_ns,
                refused,
                waiting_at_end,
                ..c.clone()
            }
        })
        .collect()
}

/// Each group's counts, with its lag from the time series and what it
/// had not finished when the run stopped.
fn group_counts(result: &RunResult) -> Vec<crate::metrics::GroupCounts> {
    let m = &result.metrics;
    (m.by_group.iter().enumerate())
        .map(|(g, c)| crate::metrics::GroupCounts {
            max_lag: result.series.max_lag.get(g).copied().unwrap_or(0),
            lag_at_end: result.series.end_lag.get(g).copied().unwrap_or(0),
            unread_at_end: result.series.end_unread.get(g).copied().unwrap_or(0),
            unfinished: result.unfinished.get(g).map_or(0, |u| u.events),
            oldest_unfinished_ns: (result.unfinished.get(g))
                .and_then(|u| u.oldest_created_ns)
                .map(|c| result.sim_time_ns.saturating_sub(c)),
            ..c.clone()
        })
        .collect()
}

impl Summary {
    /// The summary of a finished run; `repro` is the command that reproduces it.
    pub fn new(result: &RunResult, repro: String) -> Summary {
        let cat = &result.catalog;
        let m = &result.metrics;
        let by_name = |names: &[String], streams: &[crate::metrics::LatencyStream]| {
            names
                .iter()
                .cloned()
                .zip(streams.iter().map(|s| s.stats()))
                .collect()
        };
        Summary {
            scenario: result.scenario_name.clone(),
            seed: result.seed,
            version: crate::VERSION.to_string(),
            sim_time_ns: result.sim_time_ns,
            kernel_events: result.kernel_events,
            stopped_by: result.stop_reason.as_str().to_string(),
            counts: m.counts.clone(),
            producers: producer_counts(result),
            groups: group_counts(result),
            latency_ns: Latency {
                produce_to_ack: m.produce_to_ack.stats(),
                produce_to_ack_by_producer: by_name(&cat.producers, &m.produce_to_ack_by_producer),
                end_to_end: by_name(&cat.groups, &m.end_to_end),
                end_to_end_from_origin: by_name(&cat.groups, &m.end_to_end_from_origin),
                end_to_end_by_topic: by_name(&cat.topics, &m.end_to_end_by_topic),
            },
            throughput_per_s: Throughput {
                topics: rates(&cat.topics, &m.appended_by_topic),
                groups: rates(&cat.groups, &m.applied_by_group),
            },
            max_lag: cat
                .groups
                .iter()
                .cloned()
                .zip(result.series.max_lag.iter().copied())
                .collect(),
            faults: {
                let mut by_kind = BTreeMap::new();
                for f in result.fired_schedule() {
                    *by_kind.entry(f.kind.as_str().to_string()).or_insert(0) += 1;
                }
                by_kind
            },
            fault_hits: fault_hit_figures(result),
            catch_up: cat
                .groups
                .iter()
                .cloned()
                .zip(m.catch_up())
                .filter_map(|(g, c)| c.map(|c| (g, c)))
                .collect(),
            flows: m.flows(),
            services: m.services(),
            availability: Some(m.availability(cat, result.sim_time_ns)),
            utilisation: m.utilisation(cat, result.sim_time_ns),
            broker_utilisation: broker_utilisation(result),
            objectives: Vec::new(),
            checks: Vec::new(),
            verdict: crate::check::Verdict::Pass,
            verdict_note: String::new(),
            repro,
        }
    }

    /// The summary of a checked run: checks and verdict filled in.
    pub fn checked(c: &crate::Checked, repro: String) -> Summary {
        let mut s = Summary::new(&c.result, repro);
        s.checks = c.checks.clone();
        s.objectives = c.objectives.clone();
        s.verdict = c.verdict();
        s.verdict_note = c.verdict_note().unwrap_or_default();
        s
    }

    /// Pretty JSON with a final newline, as `summary.json` holds it.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("summary serializes");
        s.push('\n');
        s
    }
}

/// Each fault that fired, in firing order, and what it struck.
fn fault_hit_figures(result: &RunResult) -> Vec<FaultHitFigures> {
    result
        .fault_log
        .iter()
        .filter(|r| r.phase == "start")
        .filter_map(|r| {
            let f = &result.faults[r.fault as usize];
            let hit = result.fault_hits.get(r.fault as usize)?.as_ref()?;
            Some(FaultHitFigures {
                at_ns: r.t_ns,
                fault: format!(
                    "{} {}",
                    f.kind.as_str(),
                    f.target.as_ref().map_or(String::new(), |t| t.to_string())
                )
                .trim_end()
                .to_string(),
                struck: hit.what.clone(),
                nothing: hit.nothing,
            })
        })
        .collect()
}

/// How fast the simulator ran (wall clock: not deterministic, kept apart).
#[derive(Serialize)]
pub struct Perf {
    /// Wall-clock seconds of the run.
    pub wall_time_s: f64,
    /// Kernel events handled.
    pub kernel_events: u64,
    /// Kernel events per wall second.
    pub kernel_events_per_s: f64,
    /// Events produced.
    pub events_produced: u64,
    /// Events produced per wall second.
    pub events_produced_per_s: f64,
    /// Simulated seconds per wall second.
    pub sim_seconds_per_wall_second: f64,
    /// Peak resident memory of the process (Linux `VmHWM`), when known.
    pub peak_memory_bytes: Option<u64>,
}

impl Perf {
    /// The figures of a run that took `wall`.
    pub fn new(result: &RunResult, wall: std::time::Duration) -> Perf {
        let secs = wall.as_secs_f64().max(1e-9);
        Perf {
            wall_time_s: (secs * 1e6).round() / 1e6,
            kernel_events: result.kernel_events,
            kernel_events_per_s: (result.kernel_events as f64 / secs).round(),
            events_produced: result.metrics.counts.produced,
            events_produced_per_s: (result.metrics.counts.produced as f64 / secs).round(),
            sim_seconds_per_wall_second: r3(result.sim_time_ns as f64 / 1e9 / secs),
            peak_memory_bytes: peak_memory_bytes(),
        }
    }

    /// Pretty JSON with a final newline, as `perf.json` holds it.
    pub fn to_json(&self) -> String {
        let mut p = serde_json::to_string_pretty(self).expect("perf serializes");
        p.push('\n');
        p
    }
}

/// Peak resident memory of this process (Linux VmHWM), if the OS tells.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `faults.csv`: every start and end of a fault, in time order, with
/// what it struck and its parameters.
pub fn faults_csv(result: &RunResult) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "t_ns",
        "phase",
        "kind",
        "target",
        "duration_ns",
        "detail",
        "struck",
        "struck_nothing",
    ])
    .expect("writing to memory");
    for r in &result.fault_log {
        let f = &result.faults[r.fault as usize];
        let hit = result
            .fault_hits
            .get(r.fault as usize)
            .cloned()
            .flatten()
            .filter(|_| r.phase == "start");
        w.write_record([
            r.t_ns.to_string(),
            r.phase.to_string(),
            f.kind.as_str().to_string(),
            f.target.as_ref().map_or(String::new(), |t| t.to_string()),
            f.span().map_or(String::new(), |d| d.ns().to_string()),
            f.detail(),
            hit.as_ref().map_or(String::new(), |h| h.what.clone()),
            hit.map_or(String::new(), |h| h.nothing.to_string()),
        ])
        .expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("flushing to memory")).expect("CSV of UTF-8 text")
}

/// `faults.toml`: the faults that fired as a concrete `[[faults]]`
/// schedule. A scenario whose `faults` section is replaced by it (random
/// faults off) runs the same.
pub fn faults_toml(result: &RunResult) -> String {
    #[derive(Serialize)]
    struct Schedule {
        faults: Vec<crate::scenario::Fault>,
    }
    let mut out = String::from(
        "# The faults that fired in this run, as a concrete schedule.\n\
         # Replace the scenario's `faults` section with this (random faults off)\n\
         # and the same seed gives the same run.\n",
    );
    let body = toml_edit::ser::to_string_pretty(&Schedule {
        faults: result.fired_schedule(),
    })
    .expect("a fault schedule serializes");
    out.push_str(&body);
    out
}

/// Write `summary.json` and `perf.json` into `dir` (created if missing).
/// The files `eventsim run` writes into its report folder (besides the
/// lock and `manifest.json`).
pub const RUN_FILES: [&str; 19] = [
    "scenario.toml",
    "faults.csv",
    "faults.toml",
    "timeseries.csv",
    "latency.csv",
    "latency-percentiles.png",
    "latency-percentiles.svg",
    "latency-over-time.png",
    "latency-over-time.svg",
    "lag.png",
    "lag.svg",
    "throughput.png",
    "throughput.svg",
    "replication.png",
    "replication.svg",
    "violations.jsonl",
    "index.html",
    "summary.json",
    "perf.json",
];

/// `violations.jsonl`: one violation per line, in checker order.
pub fn violations_jsonl(violations: &[crate::check::Violation]) -> String {
    let mut out = String::new();
    for v in violations {
        out.push_str(&serde_json::to_string(v).expect("a violation serializes"));
        out.push('\n');
    }
    out
}

/// `timeseries.csv`: `t_ns,metric,label,value`, series after series.
pub fn timeseries_csv(result: &RunResult) -> String {
    let mut out = Vec::new();
    write_timeseries_csv(result, &mut out).expect("writing to memory");
    String::from_utf8(out).expect("CSV of UTF-8 text")
}

/// [`timeseries_csv`], written to `out` as it goes.
pub fn write_timeseries_csv(
    result: &RunResult,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["t_ns", "metric", "label", "value"])?;
    for s in &result.series.series {
        for &(t, v) in &s.points {
            w.write_record([
                t.to_string(),
                s.metric.to_string(),
                s.label.clone(),
                fmt_value(v),
            ])?;
        }
    }
    w.flush()
}

/// A value rounded to 3 decimals, as `timeseries.csv` keeps it.
pub fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// A value with at most 3 decimals, integers without any.
fn fmt_value(v: f64) -> String {
    let r = round3(v);
    if r == r.trunc() && r.abs() < 1e15 {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

/// The latency streams of a run: (name, histogram), in report order.
pub fn latency_streams(result: &RunResult) -> Vec<(String, &crate::metrics::LatencyStream)> {
    let m = &result.metrics;
    let c = &result.catalog;
    let mut v = vec![("produce_to_ack".to_string(), &m.produce_to_ack)];
    for (name, s) in c.producers.iter().zip(&m.produce_to_ack_by_producer) {
        v.push((format!("produce_to_ack/{name}"), s));
    }
    for (name, s) in c.groups.iter().zip(&m.end_to_end) {
        v.push((format!("end_to_end/{name}"), s));
    }
    for (name, s) in c.groups.iter().zip(&m.end_to_end_from_origin) {
        v.push((format!("end_to_end_from_origin/{name}"), s));
    }
    for (name, s) in c.topics.iter().zip(&m.end_to_end_by_topic) {
        v.push((format!("end_to_end_by_topic/{name}"), s));
    }
    v
}

/// `latency.csv`: each stream's percentile distribution in HdrHistogram's
/// layout (value, percentile, total count, 1/(1-percentile)), 5 ticks per
/// half distance.
pub fn latency_csv(result: &RunResult) -> String {
    let mut out = Vec::new();
    write_latency_csv(result, &mut out).expect("writing to memory");
    String::from_utf8(out).expect("CSV of UTF-8 text")
}

/// [`latency_csv`], written to `out` as it goes.
pub fn write_latency_csv(result: &RunResult, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["stream", "value_ns", "percentile", "total_count", "inverse"])?;
    for (name, s) in latency_streams(result) {
        let Some(hist) = s.histogram() else {
            continue;
        };
        let mut total = 0u64;
        for it in hist.iter_quantiles(5) {
            total += it.count_since_last_iteration();
            let q = it.quantile_iterated_to();
            let inverse = if q < 1.0 {
                format!("{:.2}", 1.0 / (1.0 - q))
            } else {
                String::new()
            };
            w.write_record([
                name.clone(),
                it.value_iterated_to().to_string(),
                format!("{q:.12}"),
                total.to_string(),
                inverse,
            ])?;
        }
    }
    w.flush()
}

/// Escape text for HTML (element content and attribute values); control
/// characters, which HTML and XML cannot carry, are shown as escapes.
pub fn html_escape(text: &str) -> String {
    let text = crate::scenario::names::printable(text);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
