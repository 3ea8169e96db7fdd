//! `objectives`: what the design must meet, stated in
//! `[[checks.objectives]]` (a latency percentile, a maximum lag, a minimum
//! throughput). Unlike the streaming checkers it judges the run's figures
//! once the run is over: the same latency streams, lag series and rates
//! the report prints, so an objective and the report never disagree.
//!
//! A latency objective on a group counts the records the group had not
//! finished at the end at their age then (a lower bound of their
//! latency): a design that cannot keep up cannot meet an objective by
//! leaving its slowest records out.

use super::{CheckResult, CheckStatus, Subject, Violation};
use crate::kernel::{StopReason, Time};
use crate::latency::LatencyStream;
use crate::outcome::RunResult;
use crate::scenario::objectives::percentile_text;
use crate::scenario::{Bound, LatencyKind, Objective};
use crate::text::duration_text;
use serde::Serialize;

/// The checker's name.
pub const NAME: &str = crate::scenario::CheckerId::Objectives.name();

/// One objective, judged: its figure against its bound. An objective
/// without a `group` is judged for each group.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct ObjectiveFigure {
    /// The objective in words: `end-to-end p99 of profile <= 50ms`.
    pub objective: String,
    /// It was met.
    pub met: bool,
    /// The run's figure: ns for a latency, events for a lag, events per
    /// second for a throughput.
    pub value: f64,
    /// The bound, in the same unit.
    pub bound: f64,
    /// `ns`, `events` or `events/s`.
    pub unit: String,
    /// Records not finished at the end, counted at their age (latency of
    /// a group only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unfinished: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What judging one objective for one subject found.
struct Judged {
    figure: ObjectiveFigure,
    group: Option<u32>,
    /// When it was missed, why, and what was going on then.
    explanation: Vec<String>,
    /// When the miss showed (simulated ns).
    t_ns: Time,
}

/// Judge `objectives` on `result`: replace the `objectives` entry of
/// `checks` (skipped by the streaming pass) when it is enabled and
/// something is stated, add its violations, and return every figure.
pub fn apply(
    objectives: &[Objective],
    enabled: bool,
    result: &RunResult,
    checks: &mut [CheckResult],
    violations: &mut Vec<Violation>,
) -> Vec<ObjectiveFigure> {
    if !enabled || objectives.is_empty() {
        return Vec::new();
    }
    let judged: Vec<Judged> = objectives.iter().flat_map(|o| judge(o, result)).collect();
    let missed: Vec<Violation> = judged
        .iter()
        .filter(|j| !j.figure.met)
        .map(|j| violation(j, result))
        .collect();
    // A run stopped from outside before it played out decides a miss
    // (the figures only grow) but not a pass.
    let cut = matches!(
        result.stop_reason,
        StopReason::KernelEventsMax | StopReason::MemoryMax | StopReason::Interrupted
    );
    if let Some(r) = checks.iter_mut().find(|r| r.name == NAME) {
        r.status = match (missed.is_empty(), cut) {
            (false, _) => CheckStatus::Fail,
            (true, true) => CheckStatus::Inconclusive,
            (true, false) => CheckStatus::Pass,
        };
        r.violations = missed.len() as u64;
        r.first = missed.first().cloned();
        if r.status == CheckStatus::Inconclusive {
            r.note = "the run stopped before the scenario played out; its figures so far meet every objective".into();
        }
    }
    violations.extend(missed);
    judged.into_iter().map(|j| j.figure).collect()
}

fn violation(j: &Judged, result: &RunResult) -> Violation {
    let f = &j.figure;
    let message = format!(
        "missed the objective {}: {}",
        f.objective,
        figure_text(f.value, &f.unit)
    );
    let group = j.group.map(|g| result.catalog.groups[g as usize].clone());
    Violation {
        invariant: NAME.to_string(),
        t_ns: j.t_ns,
        group,
        partition: None,
        key: None,
        events: Vec::new(),
        message,
        explanation: j.explanation.clone(),
        ids: Subject {
            group: j.group,
            partition: None,
        },
    }
}

/// A figure in its unit, for people: `41.20ms`, `2041 events`,
/// `907.3 events/s`.
pub fn figure_text(value: f64, unit: &str) -> String {
    match unit {
        "ns" => duration_text(value as u64),
        "events" => format!("{value:.0} events"),
        _ => format!("{value:.1} events/s"),
    }
}

/// The groups an objective is about: the one it names, else every group.
fn groups_of(o: &Objective, result: &RunResult) -> Vec<u32> {
    let names = &result.catalog.groups;
    match &o.group {
        Some(name) => names
            .iter()
            .position(|g| g == name)
            .map(|g| g as u32)
            .into_iter()
            .collect(),
        None => (0..names.len() as u32).collect(),
    }
}

/// An objective judged for each subject it covers.
fn judge(o: &Objective, result: &RunResult) -> Vec<Judged> {
    let Some(bound) = o.bound() else {
        return Vec::new();
    };
    match bound {
        Bound::Latency {
            kind: kind @ (LatencyKind::EndToEnd | LatencyKind::FromOrigin),
            percentile,
            bound_ns,
        } => (groups_of(o, result).into_iter())
            .map(|g| group_latency(result, g, kind, percentile, bound_ns))
            .collect(),
        Bound::Latency {
            kind: LatencyKind::ProduceAck,
            percentile,
            bound_ns,
        } => vec![produce_latency(o, result, percentile, bound_ns)],
        Bound::Latency {
            kind: LatencyKind::Flow,
            percentile,
            bound_ns,
        } => flow_latency(o, result, percentile, bound_ns)
            .into_iter()
            .collect(),
        Bound::MaxLag(max) => (groups_of(o, result).into_iter())
            .map(|g| lag(result, g, max))
            .collect(),
        Bound::MinThroughput(min) => (groups_of(o, result).into_iter())
            .map(|g| throughput(result, g, min))
            .collect(),
    }
}

/// The value at percentile `p` of a stream (0 when it is empty).
fn at_percentile(s: &LatencyStream, p: f64) -> u64 {
    s.histogram().map_or(0, |h| h.value_at_quantile(p / 100.0))
}

fn latency_figure(
    objective: String,
    value: u64,
    bound_ns: u64,
    unfinished: u64,
) -> ObjectiveFigure {
    ObjectiveFigure {
        objective,
        met: value <= bound_ns,
        value: value as f64,
        bound: bound_ns as f64,
        unit: "ns".into(),
        unfinished,
    }
}

/// End-to-end or from-origin latency of group `g`, unfinished records
/// counted at their age.
fn group_latency(result: &RunResult, g: u32, kind: LatencyKind, p: f64, bound_ns: u64) -> Judged {
    let m = &result.metrics;
    let finished = match kind {
        LatencyKind::EndToEnd => &m.end_to_end[g as usize],
        _ => &m.end_to_end_from_origin[g as usize],
    };
    let mut all = finished.clone();
    let left = result.unfinished.get(g as usize);
    if let Some(u) = left {
        all.merge(&u.ages);
    }
    let unfinished = left.map_or(0, |u| u.events);
    let name = &result.catalog.groups[g as usize];
    let objective = format!(
        "{} {} of {name} <= {}",
        kind.as_str(),
        percentile_text(p),
        bound_text(bound_ns)
    );
    let figure = latency_figure(objective, at_percentile(&all, p), bound_ns, unfinished);
    let mut explanation = vec![format!(
        "{} {} of {name}: {} over {} records applied{}",
        kind.as_str(),
        percentile_text(p),
        duration_text(figure.value as u64),
        finished.histogram().map_or(0, |h| h.len()),
        if unfinished > 0 {
            format!(
                " and {unfinished} not finished at the end, counted at their age (the oldest {})",
                duration_text(left.and_then(|u| u.ages.histogram()).map_or(0, |h| h.max()))
            )
        } else {
            String::new()
        }
    )];
    let done = at_percentile(finished, p);
    let t_ns = match left {
        // What finished met it: the records left unfinished make the miss.
        Some(u) if done <= bound_ns && u.events > 0 => {
            explanation.push(format!(
                "what finished met it ({} {}): the records not finished make the miss",
                percentile_text(p),
                duration_text(done)
            ));
            explanation.extend(since_oldest(result, u));
            result.sim_time_ns
        }
        _ => {
            let t = over_time(result, name, p, bound_ns, &mut explanation);
            explanation.extend(left.and_then(|u| since_oldest(result, u)));
            t
        }
    };
    Judged {
        figure,
        group: Some(g),
        explanation,
        t_ns,
    }
}

fn produce_latency(o: &Objective, result: &RunResult, p: f64, bound_ns: u64) -> Judged {
    let m = &result.metrics;
    let (stream, who) = match (o.producer.as_ref())
        .and_then(|n| result.catalog.producers.iter().position(|x| x == n))
    {
        Some(i) => (
            &m.produce_to_ack_by_producer[i],
            result.catalog.producers[i].clone(),
        ),
        None => (&m.produce_to_ack, "every producer".to_string()),
    };
    let objective = format!(
        "produce-ack {} of {who} <= {}",
        percentile_text(p),
        bound_text(bound_ns)
    );
    let figure = latency_figure(objective, at_percentile(stream, p), bound_ns, 0);
    let explanation = vec![format!(
        "produce-ack {} of {who}: {} over {} acknowledged records, over the whole run",
        percentile_text(p),
        duration_text(figure.value as u64),
        stream.histogram().map_or(0, |h| h.len())
    )];
    Judged {
        figure,
        group: None,
        explanation,
        t_ns: result.sim_time_ns,
    }
}

fn flow_latency(o: &Objective, result: &RunResult, p: f64, bound_ns: u64) -> Option<Judged> {
    let name = o.flow.as_ref()?;
    let flows = result.metrics.flows();
    let f = flows.iter().find(|f| &f.name == name)?;
    let s = &f.completion_ns;
    let value = match p {
        50.0 => s.p50,
        90.0 => s.p90,
        99.0 => s.p99,
        _ => s.p999,
    };
    let objective = format!(
        "flow {} of {name} <= {}",
        percentile_text(p),
        bound_text(bound_ns)
    );
    let figure = latency_figure(objective, value, bound_ns, 0);
    let explanation = vec![format!(
        "flow {name}: completion {} {} over {} completed flows ({} still open at the end, not counted)",
        percentile_text(p),
        duration_text(value),
        f.completed,
        f.open
    )];
    Some(Judged {
        figure,
        group: None,
        explanation,
        t_ns: result.sim_time_ns,
    })
}

fn lag(result: &RunResult, g: u32, max: u64) -> Judged {
    let name = &result.catalog.groups[g as usize];
    let peak = result.series.max_lag.get(g as usize).copied().unwrap_or(0);
    let figure = ObjectiveFigure {
        objective: format!("lag of {name} <= {max} events"),
        met: peak <= max,
        value: peak as f64,
        bound: max as f64,
        unit: "events".into(),
        unfinished: 0,
    };
    let mut explanation = vec![format!("the lag of {name} peaked at {peak} events")];
    let above = over_bound(result, "group_lag_events", name, max as f64);
    let t_ns = interval_lines(
        result,
        above,
        &format!("its lag above {max} events"),
        &mut explanation,
    );
    Judged {
        figure,
        group: Some(g),
        explanation,
        t_ns,
    }
}

fn throughput(result: &RunResult, g: u32, min: f64) -> Judged {
    let name = &result.catalog.groups[g as usize];
    let rate = &result.metrics.applied_by_group[g as usize];
    let per_s = rate.per_second();
    let figure = ObjectiveFigure {
        objective: format!("throughput of {name} >= {min} events/s"),
        met: per_s >= min,
        value: per_s,
        bound: min,
        unit: "events/s".into(),
        unfinished: 0,
    };
    let left = result.unfinished.get(g as usize).map_or(0, |u| u.events);
    let mut explanation = vec![format!(
        "{name} applied {} records from {} to {}: {per_s:.1} events/s",
        rate.count,
        secs(rate.first_ns),
        secs(rate.last_ns)
    )];
    if left > 0 {
        explanation.push(format!("{left} records were left unfinished at the end"));
    }
    Judged {
        figure,
        group: Some(g),
        explanation,
        t_ns: result.sim_time_ns,
    }
}

/// When group `name`'s per-interval latency was above `bound_ns`, from
/// the time series (which keeps p50 and p99 of end-to-end latency).
fn over_time(result: &RunResult, name: &str, p: f64, bound_ns: u64, out: &mut Vec<String>) -> Time {
    let (series, shown) = if p > 50.0 {
        ("e2e_p99_ns", "p99")
    } else {
        ("e2e_p50_ns", "p50")
    };
    let above = over_bound(result, series, name, bound_ns as f64);
    let what = format!(
        "its per-interval end-to-end {shown} above {}",
        bound_text(bound_ns)
    );
    interval_lines(result, above, &what, out)
}

/// When the unfinished records began, and the faults active since.
fn since_oldest(result: &RunResult, u: &crate::outcome::Unfinished) -> Option<String> {
    let created = u.oldest_created_ns?;
    let faults = faults_between(result, created, result.sim_time_ns);
    Some(format!(
        "the unfinished records were created from {} on; {}",
        secs(created),
        if faults.is_empty() {
            "no fault was active since".to_string()
        } else {
            format!("faults active since: {}", faults.join("; "))
        }
    ))
}

/// A bound as the scenario file writes it: `50ms`.
fn bound_text(ns: u64) -> String {
    crate::scenario::Duration(ns).to_string()
}

fn secs(t: Time) -> String {
    format!("{:.3}s", t as f64 / 1e9)
}

/// The intervals of `metric`'s series for `label` whose value is above
/// `bound`: (start, end) of each.
fn over_bound(result: &RunResult, metric: &str, label: &str, bound: f64) -> Vec<(Time, Time)> {
    let ts = &result.series;
    let Some(s) = ts
        .series
        .iter()
        .find(|s| s.metric == metric && s.label == label)
    else {
        return Vec::new();
    };
    let mut prev = 0;
    let mut out = Vec::new();
    for &(t, v) in &s.points {
        if v > bound {
            out.push((prev, t));
        }
        prev = t;
    }
    out
}

/// Say when the figure was above its bound, and which faults were active
/// then; the time of the first such interval's end (else the run's end).
fn interval_lines(
    result: &RunResult,
    above: Vec<(Time, Time)>,
    what: &str,
    out: &mut Vec<String>,
) -> Time {
    let (Some(&(from, first_end)), Some(&(_, to))) = (above.first(), above.last()) else {
        out.push("no interval of the time series was above the bound on its own: the miss is in the run's distribution as a whole".into());
        return result.sim_time_ns;
    };
    let share: Time = above.iter().map(|(a, b)| b - a).sum();
    out.push(format!(
        "{what} in {} intervals, from {} to {} ({} of the run)",
        above.len(),
        secs(from),
        secs(to),
        duration_text(share)
    ));
    let faults = faults_between(result, from, to);
    out.push(if faults.is_empty() {
        "no fault was active then: the design misses it under its own load".into()
    } else {
        format!("faults active then: {}", faults.join("; "))
    });
    first_end
}

/// The faults active at some point in `from..=to`, in words.
fn faults_between(result: &RunResult, from: Time, to: Time) -> Vec<String> {
    let mut out = Vec::new();
    for (i, f) in result.faults.iter().enumerate() {
        let mut starts = result.fault_log.iter().filter(|r| r.fault as usize == i);
        let Some(start) = starts.find(|r| r.phase == "start").map(|r| r.t_ns) else {
            continue;
        };
        let end = (result.fault_log.iter())
            .find(|r| r.fault as usize == i && r.phase == "end")
            .map_or(result.sim_time_ns, |r| r.t_ns);
        if start <= to && end >= from {
            let target = f
                .target
                .as_ref()
                .map_or(String::new(), |t| format!(" of {t}"));
            out.push(format!(
                "{}{target} from {} to {}",
                f.kind.as_str(),
                secs(start),
                secs(end)
            ));
        }
    }
    out
}
