//! `eventsim capacity`: the highest offered load a design carries within
//! its objectives (`[[checks.objectives]]`), found by scaling the
//! producers' rates; or, in sizing mode, the smallest value of a field
//! (partitions, consumers, brokers) that meets them at the scenario's own
//! rates.
//!
//! A *point* is one offered load (or one field value) run over every seed;
//! it meets the objectives when each objective's figure, averaged over the
//! seeds, is within its bound. The search brackets the capacity by
//! doubling or halving from the scenario's own rate (or between `--from`
//! and `--to`), then bisects until the bracket is narrower than the
//! precision. Each decision depends only on the figures of earlier
//! points, and a point's figures are averaged in seed order: the same
//! flags give the same points, whatever the number of jobs.

use crate::check::objectives::ObjectiveFigure;
use crate::scenario::Scenario;
use crate::sweep::Seeds;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};

/// How far the bracketing doubles or halves before it gives up.
const MAX_STEPS: u32 = 12;

/// One point of a curve: a load (or a field's value), run over every seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The offered load (events per second, the producers' rates summed),
    /// or in sizing mode the field's value.
    pub x: f64,
    /// Every objective met, by its mean figure over the seeds.
    pub met: bool,
    /// Each objective's figure, averaged over the seeds (an objective
    /// judged per group counts once per group, in the run's order).
    pub figures: Vec<f64>,
    /// Records applied per second, summed over groups, averaged over seeds.
    pub throughput_per_s: f64,
    /// Checkers other than `objectives` that failed, with how many seeds.
    pub failed_checks: Vec<String>,
}

/// One variant's search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// The variant (`topics.jobs.partitions=6`), or the scenario's name.
    pub label: String,
    /// The highest load (or, sizing, the smallest value) that met every
    /// objective; `None` when no point did.
    pub answer: Option<f64>,
    /// The nearest point beyond it that missed (`None`: none missed).
    pub missed_at: Option<f64>,
    /// Every point run, by `x`.
    pub points: Vec<Point>,
    /// What limits the answer, in words (the search ran out of range, ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// What a search runs: the seeds, the jobs and how to stop.
pub struct Runner<'a> {
    /// Seeds of every point.
    pub seeds: Seeds,
    /// Parallel runs.
    pub jobs: usize,
    /// Set to stop (Ctrl-C): no new run starts.
    pub stop: &'a AtomicBool,
    /// Told after each point: the runs done so far.
    pub progress: &'a mut dyn FnMut(u64),
    /// Runs done so far.
    pub runs: u64,
}

/// The objectives' names and bounds (from the first run of a point).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Objectives {
    /// Each objective in words.
    pub names: Vec<String>,
    /// Each bound, in its unit.
    pub bounds: Vec<f64>,
    /// Each unit: `ns`, `events`, `events/s`.
    pub units: Vec<String>,
}

impl Runner<'_> {
    /// Run `s` over every seed: its point at `x`, and its objectives.
    pub fn point(&mut self, s: &Scenario, x: f64) -> Option<(Point, Objectives)> {
        let mut runs: Vec<(u64, crate::Checked)> = Vec::new();
        let seeds = self.seeds.first..=self.seeds.last;
        crate::sweep::pool(
            self.jobs,
            seeds,
            self.stop,
            |seed| (seed, crate::run_checks(s, seed, Vec::new()).0),
            |r| runs.push(r),
        );
        if self.stop.load(Ordering::SeqCst) || (runs.len() as u128) < self.seeds.len() {
            return None;
        }
        runs.sort_by_key(|r| r.0);
        self.runs += runs.len() as u64;
        (self.progress)(self.runs);
        Some(summarise(x, &runs))
    }
}

/// A point from its runs, in seed order.
fn summarise(x: f64, runs: &[(u64, crate::Checked)]) -> (Point, Objectives) {
    let first: &[ObjectiveFigure] = &runs[0].1.objectives;
    let n = runs.len() as f64;
    let figures: Vec<f64> = (0..first.len())
        .map(|i| {
            runs.iter()
                .map(|r| r.1.objectives.get(i).map_or(0.0, |o| o.value))
                .sum::<f64>()
                / n
        })
        .collect();
    let met = first.iter().zip(&figures).all(|(o, &v)| {
        if o.unit == "events/s" {
            v >= o.bound
        } else {
            v <= o.bound
        }
    });
    let throughput_per_s = runs
        .iter()
        .map(|r| {
            (r.1.result.metrics.applied_by_group.iter())
                .map(|g| g.per_second())
                .sum::<f64>()
        })
        .sum::<f64>()
        / n;
    let mut failed: std::collections::BTreeMap<String, u64> = Default::default();
    for (_, c) in runs {
        for r in c
            .checks
            .iter()
            .filter(|r| r.status == crate::check::CheckStatus::Fail)
        {
            if r.name != crate::check::objectives::NAME {
                *failed.entry(r.name.clone()).or_default() += 1;
            }
        }
    }
    let objectives = Objectives {
        names: first.iter().map(|o| o.objective.clone()).collect(),
        bounds: first.iter().map(|o| o.bound).collect(),
        units: first.iter().map(|o| o.unit.clone()).collect(),
    };
    let point = Point {
        x,
        met,
        figures,
        throughput_per_s,
        failed_checks: failed
            .into_iter()
            .map(|(k, v)| format!("{k} ({v}/{})", runs.len()))
            .collect(),
    };
    (point, objectives)
}

/// The producers whose rates a search scales: the one named, else all;
/// their summed rate.
pub fn scaled_producers(s: &Scenario, producer: Option<&str>) -> Result<(Vec<usize>, f64), String> {
    let chosen: Vec<usize> = match producer {
        Some(name) => match s.producers.iter().position(|p| p.name == name) {
            Some(i) => vec![i],
            None => {
                let names: Vec<&str> = s.producers.iter().map(|p| p.name.as_str()).collect();
                let hint = crate::scenario::suggest::did_you_mean(name, names.iter().copied())
                    .map_or(String::new(), |h| format!(" ({h})"));
                return Err(format!(
                    "--producer: unknown producer `{name}`{hint}; producers: {}",
                    names.join(", ")
                ));
            }
        },
        None => (0..s.producers.len()).collect(),
    };
    let base: f64 = chosen.iter().map(|&i| s.producers[i].rate).sum();
    if base.is_nan() || base <= 0.0 {
        return Err("the scenario has no producer with a rate to scale: capacity scales [[producers]] rates".into());
    }
    Ok((chosen, base))
}

/// `s` with the chosen producers' rates scaled so that they sum to `load`.
pub fn at_load(s: &Scenario, chosen: &[usize], base: f64, load: f64) -> Scenario {
    let mut s = s.clone();
    for &i in chosen {
        s.producers[i].rate *= load / base;
    }
    s
}

/// Where a search stands: its points, the highest load met and the
/// lowest missed.
#[derive(Default)]
struct State {
    points: Vec<Point>,
    objectives: Objectives,
    met: Option<f64>,
    missed: Option<f64>,
}

impl State {
    /// Keep point `p`: `met` keeps the best x met so far by `best`,
    /// `missed` the nearest missed by `nearest`. Whether `p` met.
    fn record(
        &mut self,
        p: Point,
        o: Objectives,
        best: fn(f64, f64) -> f64,
        nearest: fn(f64, f64) -> f64,
    ) -> bool {
        let (x, met) = (p.x, p.met);
        let slot = if met { &mut self.met } else { &mut self.missed };
        let pick = if met { best } else { nearest };
        *slot = Some(slot.map_or(x, |m| pick(m, x)));
        self.objectives = o;
        self.points.push(p);
        met
    }

    /// The curve of a finished search, its points by x.
    fn into_curve(mut self, label: &str, note: String) -> (Curve, Objectives) {
        self.points.sort_by(|a, c| a.x.total_cmp(&c.x));
        let curve = Curve {
            label: label.to_string(),
            answer: self.met,
            missed_at: self.missed,
            points: self.points,
            note,
        };
        (curve, self.objectives)
    }
}

/// The search over loads, for one variant.
pub struct LoadSearch<'a> {
    /// The variant's scenario.
    pub scenario: &'a Scenario,
    /// The producers scaled and their summed rate.
    pub chosen: &'a [usize],
    /// Their summed rate in the scenario.
    pub base: f64,
    /// Search from this load (default: `base`).
    pub from: Option<f64>,
    /// ...up to this load (default: doubling until a point misses).
    pub to: Option<f64>,
    /// Stop when the bracket's width over its lower end is at most this.
    pub precision: f64,
}

/// Why a search could not answer.
#[derive(Debug)]
pub enum SearchError {
    /// Interrupted: no answer.
    Stopped,
    /// The lowest point already misses (its figures, in words).
    LowestMisses(String),
    /// A sized field's value the scenario refuses.
    Invalid(String),
}

impl LoadSearch<'_> {
    /// Run the search: the curve, and the objectives' names and bounds.
    pub fn run(&self, label: &str, r: &mut Runner) -> Result<(Curve, Objectives), SearchError> {
        let mut st = State::default();
        let start = self.from.unwrap_or(self.base);
        let mut note = String::new();
        if self.eval(start, &mut st, r)? {
            note = self.climb(start, &mut st, r)?;
        } else if self.from.is_some() || !self.descend(start, &mut st, r)? {
            let lowest = st.points.iter().min_by(|a, b| a.x.total_cmp(&b.x));
            let text = lowest.map_or(String::new(), |p| lowest_text(p, &st.objectives));
            return Err(SearchError::LowestMisses(text));
        }
        while let (Some(lo), Some(hi)) = (st.met, st.missed) {
            if (hi - lo) / lo <= self.precision {
                break;
            }
            self.eval((lo + hi) / 2.0, &mut st, r)?;
        }
        Ok(st.into_curve(label, note))
    }

    /// Run the point at `load`: whether it met every objective.
    fn eval(&self, load: f64, st: &mut State, r: &mut Runner) -> Result<bool, SearchError> {
        let s = at_load(self.scenario, self.chosen, self.base, load);
        let (p, o) = r.point(&s, load).ok_or(SearchError::Stopped)?;
        Ok(st.record(p, o, |a, b| a.max(b), |a, b| a.min(b)))
    }

    /// From a point that met: up to `to`, or doubling until one misses.
    fn climb(&self, start: f64, st: &mut State, r: &mut Runner) -> Result<String, SearchError> {
        if let Some(to) = self.to {
            return Ok(if self.eval(to, st, r)? {
                format!(
                    "every objective is met up to --to {}: the capacity is at least that",
                    fmt_x(to)
                )
            } else {
                String::new()
            });
        }
        let mut load = start;
        for _ in 0..MAX_STEPS {
            load *= 2.0;
            if !self.eval(load, st, r)? {
                return Ok(String::new());
            }
        }
        Ok(format!(
            "every objective is met up to {} events/s ({} times where the search started): the search stopped there",
            fmt_x(load),
            1u32 << MAX_STEPS
        ))
    }

    /// From a point that missed: halving until one meets (false: none did).
    fn descend(&self, start: f64, st: &mut State, r: &mut Runner) -> Result<bool, SearchError> {
        let mut load = start;
        for _ in 0..MAX_STEPS {
            load /= 2.0;
            if self.eval(load, st, r)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The search over a field's values (sizing), at the scenario's rates:
/// the smallest value in `lo..=hi` that meets every objective, taking
/// more of it (partitions, consumers, brokers) to be no worse.
pub struct SizeSearch<'a> {
    /// The scenario file's text and its path as given.
    pub text: &'a str,
    /// The scenario file's path as given.
    pub file: &'a str,
    /// The field, as `--vary` names it (`groups.server.consumers`).
    pub path: &'a str,
    /// The smallest value tried.
    pub lo: u64,
    /// The largest value tried.
    pub hi: u64,
    /// The objectives judged.
    pub objectives: &'a [crate::scenario::Objective],
}

impl SizeSearch<'_> {
    /// The scenario with the field at `v`.
    pub fn at(&self, v: u64) -> Result<Scenario, String> {
        let vary = crate::compare::Vary::parse(&format!("{}={v}", self.path))?;
        let mut variants = crate::compare::variants(self.text, self.file, &[vary])?;
        let mut s = variants.remove(0).scenario;
        judge_objectives(&mut s, self.objectives);
        Ok(s)
    }

    /// Run the search: the curve (`answer`: the smallest value met) and
    /// the objectives' names and bounds.
    pub fn run(&self, label: &str, r: &mut Runner) -> Result<(Curve, Objectives), SearchError> {
        let mut st = State::default();
        let mut note = String::new();
        if !self.eval(self.hi, &mut st, r)? {
            note = format!("even {}={} misses the objectives", self.path, self.hi);
        } else if self.lo < self.hi && !self.eval(self.lo, &mut st, r)? {
            let (mut lo, mut hi) = (self.lo, self.hi);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if self.eval(mid, &mut st, r)? {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
        }
        Ok(st.into_curve(label, note))
    }

    /// Run the point at `v`: `met` keeps the smallest value met, `missed`
    /// the largest missed.
    fn eval(&self, v: u64, st: &mut State, r: &mut Runner) -> Result<bool, SearchError> {
        let s = self.at(v).map_err(SearchError::Invalid)?;
        let x = v as f64;
        let (p, o) = r.point(&s, x).ok_or(SearchError::Stopped)?;
        Ok(st.record(p, o, |a, b| a.min(b), |a, b| a.max(b)))
    }
}

/// `s` judging `objectives`, whatever its `[checks]` runs or skips.
pub fn judge_objectives(s: &mut Scenario, objectives: &[crate::scenario::Objective]) {
    let name = crate::check::objectives::NAME;
    s.checks.objectives = objectives.to_vec();
    s.checks.skip.retain(|n| n != name);
    if let Some(run) = &mut s.checks.run
        && !run.iter().any(|n| n == name)
    {
        run.push(name.to_string());
    }
}

/// What `capacity` found: `capacity.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// What x is: `offered load (events/s)`, or the sized field.
    pub x: String,
    /// Sizing: the field searched (else absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The seeds of every point.
    pub seeds: String,
    /// The objectives.
    pub objectives: Objectives,
    /// Every variant's label, in order (a shard searches some of them).
    pub variants: Vec<String>,
    /// `I/N` when this is shard I of N (it holds the curves of the
    /// variants at positions I, I+N, ...); absent when whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Where the whole search writes by default (what `merge` writes to).
    pub folder: String,
    /// One curve per variant searched.
    pub curves: Vec<Curve>,
    /// The command that reproduces it.
    pub repro: String,
}

impl Report {
    /// Runs behind the curves.
    pub fn runs(&self) -> u64 {
        let seeds = crate::sweep::Seeds::parse(&self.seeds).map_or(0, |s| s.len() as u64);
        self.curves
            .iter()
            .map(|c| c.points.len() as u64)
            .sum::<u64>()
            * seeds
    }

    /// The shards of one search as one: every curve once, in variant
    /// order, and the labels of the variants no shard searched.
    pub fn merge(shards: Vec<(String, Report)>) -> Result<(Report, Vec<String>), String> {
        let mut it = shards.into_iter();
        let Some((first_dir, mut whole)) = it.next() else {
            return Err("nothing to merge".into());
        };
        type Key<'a> = (
            &'a str,
            &'a str,
            &'a Option<String>,
            &'a str,
            &'a Objectives,
            &'a [String],
            &'a str,
        );
        fn same(r: &Report) -> Key<'_> {
            (
                &r.scenario,
                &r.x,
                &r.field,
                &r.seeds,
                &r.objectives,
                &r.variants,
                &r.repro,
            )
        }
        for (dir, r) in it {
            if same(&r) != same(&whole) {
                return Err(format!(
                    "{dir} holds another search than {first_dir} (scenario, objectives, seeds, variants or flags differ): merge the shards of one capacity command"
                ));
            }
            whole.curves.extend(r.curves);
        }
        let order = |label: &str| whole.variants.iter().position(|v| v == label);
        whole.curves.sort_by_key(|c| order(&c.label));
        whole.curves.dedup_by(|a, b| a.label == b.label);
        whole.shard = None;
        let missing = (whole.variants.iter())
            .filter(|v| !whole.curves.iter().any(|c| &c.label == *v))
            .cloned()
            .collect();
        Ok((whole, missing))
    }

    /// `capacity.csv`: one row per point.
    pub fn to_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header = vec![
            "variant".to_string(),
            "x".into(),
            "met".into(),
            "throughput_per_s".into(),
        ];
        header.extend(self.objectives.names.iter().cloned());
        header.push("failed_checks".into());
        let _ = w.write_record(&header);
        for c in &self.curves {
            for p in &c.points {
                let mut row = vec![
                    c.label.clone(),
                    fmt_x(p.x),
                    p.met.to_string(),
                    format!("{:.3}", p.throughput_per_s),
                ];
                row.extend(p.figures.iter().map(|f| format!("{f:.3}")));
                row.push(p.failed_checks.join("; "));
                let _ = w.write_record(&row);
            }
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    /// The answer of curve `c`, in words.
    pub fn answer_text(&self, c: &Curve) -> String {
        let unit = if self.field.is_some() {
            ""
        } else {
            " events/s"
        };
        match (c.answer, c.missed_at) {
            (Some(a), Some(m)) => format!(
                "{}{unit} (met at {}, missed at {})",
                fmt_x(a),
                fmt_x(a),
                fmt_x(m)
            ),
            (Some(a), None) => format!("at least {}{unit} (no point missed)", fmt_x(a)),
            (None, _) => "none: no point met the objectives".to_string(),
        }
    }

    /// The plots: latency objectives and throughput against x.
    pub fn plots(&self) -> Result<Vec<(&'static str, crate::report::plot::Drawn)>, String> {
        use crate::report::plot::{CurveLine, CurvePlot, render_curves};
        let latency: Vec<usize> = (0..self.objectives.units.len())
            .filter(|&i| self.objectives.units[i] == "ns")
            .collect();
        let mut out = Vec::new();
        let knee = |c: &Curve| c.answer;
        if !latency.is_empty() {
            let lines: Vec<CurveLine> = (self.curves.iter())
                .flat_map(|c| latency.iter().map(move |&i| (c, i)))
                .map(|(c, i)| CurveLine {
                    label: self.line_label(c, i, latency.len()),
                    points: c.points.iter().map(|p| (p.x, p.figures[i] / 1e6)).collect(),
                    knee: knee(c),
                })
                .collect();
            let plot = CurvePlot {
                title: &format!("{}: latency against {}", self.scenario, self.x),
                x_label: &self.x,
                y_label: "latency (ms)",
                lines: &lines,
                bound: Some(self.objectives.bounds[latency[0]] / 1e6),
            };
            out.push(("capacity-latency", render_curves(&plot)?));
        }
        let lines: Vec<CurveLine> = (self.curves.iter())
            .map(|c| CurveLine {
                label: c.label.clone(),
                points: c.points.iter().map(|p| (p.x, p.throughput_per_s)).collect(),
                knee: knee(c),
            })
            .collect();
        let plot = CurvePlot {
            title: &format!("{}: throughput against {}", self.scenario, self.x),
            x_label: &self.x,
            y_label: "applied (events/s, all groups)",
            lines: &lines,
            bound: None,
        };
        out.push(("capacity-throughput", render_curves(&plot)?));
        Ok(out)
    }

    fn line_label(&self, c: &Curve, i: usize, latencies: usize) -> String {
        match (self.curves.len(), latencies) {
            (1, _) => self.objectives.names[i].clone(),
            (_, 1) => c.label.clone(),
            _ => format!("{}: {}", c.label, self.objectives.names[i]),
        }
    }

    /// `index.html`: the answers, the curves and the points.
    pub fn html(&self, plots: &[&str]) -> String {
        use crate::report::html_escape as e;
        use std::fmt::Write;
        let mut h = String::new();
        crate::report::page::open_page(&mut h, &format!("{} capacity", self.scenario));
        let _ = writeln!(
            h,
            "<h1>{} capacity</h1>\n<p>Objectives: {}. Seeds {} per point. <code>{}</code></p>",
            e(&self.scenario),
            e(&self.objectives.names.join("; ")),
            e(&self.seeds),
            e(&self.repro)
        );
        h.push_str("<table>\n<tr><th class=\"l\">variant</th><th class=\"l\">answer</th><th class=\"l\">note</th></tr>\n");
        for c in &self.curves {
            let _ = writeln!(
                h,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
                e(&c.label),
                e(&self.answer_text(c)),
                e(&c.note)
            );
        }
        h.push_str("</table>\n");
        for p in plots {
            let _ = writeln!(
                h,
                "<figure><img src=\"{p}.svg\" alt=\"{p}\" width=\"900\"></figure>"
            );
        }
        self.points_table(&mut h);
        h.push_str("</body>\n</html>\n");
        h
    }

    /// The points, a row each (as `capacity.csv`).
    fn points_table(&self, h: &mut String) {
        use crate::check::objectives::figure_text;
        use crate::report::html_escape as e;
        use std::fmt::Write;
        h.push_str("<h2>Points</h2>\n<table>\n<tr><th class=\"l\">variant</th>");
        let _ = write!(
            h,
            "<th>{}</th><th class=\"l\">status</th><th>applied/s</th>",
            e(&self.x)
        );
        for n in &self.objectives.names {
            let _ = write!(h, "<th>{}</th>", e(n));
        }
        h.push_str("<th class=\"l\">failed checks</th></tr>\n");
        for c in &self.curves {
            for p in &c.points {
                let (class, status) = if p.met {
                    ("pass", "met")
                } else {
                    ("fail", "missed")
                };
                let _ = write!(
                    h,
                    "<tr><td class=\"l\">{}</td><td>{}</td><td class=\"l {class}\">{status}</td><td>{:.1}</td>",
                    e(&c.label),
                    fmt_x(p.x),
                    p.throughput_per_s
                );
                for (v, u) in p.figures.iter().zip(&self.objectives.units) {
                    let _ = write!(h, "<td>{}</td>", figure_text(*v, u));
                }
                let _ = writeln!(
                    h,
                    "<td class=\"l\">{}</td></tr>",
                    e(&p.failed_checks.join("; "))
                );
            }
        }
        h.push_str("</table>\n");
    }
}

/// A point's figures against the objectives, in words.
pub fn lowest_text(p: &Point, o: &Objectives) -> String {
    let figures: Vec<String> = (o.names.iter().zip(&p.figures).zip(&o.units))
        .map(|((n, &v), u)| format!("{n}: {}", crate::check::objectives::figure_text(v, u)))
        .collect();
    format!(
        "the lowest point, {}, already misses the objectives: {}",
        fmt_x(p.x),
        figures.join("; ")
    )
}

/// A load or a value, short: `907.9`, `12`.
pub fn fmt_x(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// What `--objective` takes, for its errors.
pub const OBJECTIVE_FORMS: &str = "STREAM[:NAME] pP <= DURATION (STREAM: end-to-end, from-origin, produce-ack, flow), lag[:GROUP] <= EVENTS or throughput[:GROUP] >= EVENTS_PER_S, e.g. 'end-to-end p99 <= 50ms'";

/// `--objective TEXT`: an objective as `[[checks.objectives]]` states it.
/// Names are checked against the scenario afterwards, as the file's are.
pub fn parse_objective(text: &str) -> Result<crate::scenario::Objective, String> {
    use crate::scenario::{LatencyKind, Objective};
    let bad = |why: &str| format!("--objective '{text}': {why}; expected {OBJECTIVE_FORMS}");
    let words: Vec<&str> = text.split_whitespace().collect();
    let (head, name) = match words.first().map(|w| w.split_once(':')) {
        Some(Some((h, n))) => (h, Some(n.to_string())),
        Some(None) => (words[0], None),
        None => return Err(bad("empty")),
    };
    let mut o = Objective {
        latency: None,
        percentile: None,
        bound: None,
        max_lag: None,
        min_throughput: None,
        group: None,
        producer: None,
        flow: None,
    };
    match (head, &words[1..]) {
        ("lag", ["<=", n]) => {
            o.max_lag = Some(
                n.parse()
                    .map_err(|_| bad(&format!("`{n}` is not a number of events")))?,
            );
            o.group = name;
        }
        ("throughput", [">=", r]) => {
            o.min_throughput = Some(
                r.parse()
                    .map_err(|_| bad(&format!("`{r}` is not events per second")))?,
            );
            o.group = name;
        }
        (stream, [p, "<=", d]) => {
            let kind = match stream {
                "end-to-end" => LatencyKind::EndToEnd,
                "from-origin" => LatencyKind::FromOrigin,
                "produce-ack" => LatencyKind::ProduceAck,
                "flow" => LatencyKind::Flow,
                _ => return Err(bad(&format!("unknown stream `{stream}`"))),
            };
            let pct = p.strip_prefix('p').and_then(|x| x.parse::<f64>().ok());
            o.percentile =
                Some(pct.ok_or_else(|| bad(&format!("`{p}` is not a percentile such as p99")))?);
            o.bound = Some(
                crate::scenario::units::parse_duration(d)
                    .ok_or_else(|| bad(&format!("`{d}` is not a duration such as 50ms")))?,
            );
            o.latency = Some(kind);
            match kind {
                LatencyKind::ProduceAck => o.producer = name,
                LatencyKind::Flow => o.flow = name,
                _ => o.group = name,
            }
        }
        _ => return Err(bad("not an objective")),
    }
    Ok(o)
}
