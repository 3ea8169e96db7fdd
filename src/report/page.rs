//! `index.html`: the page a person opens after a run. One self-contained
//! file (no script, no network): what was simulated (the description, a
//! topology diagram drawn as inline SVG, the scenario file), the verdict
//! with the first violation's explanation on top, the checks, the counts in
//! pipeline order, latencies in readable units, the faults, every plot, and
//! how to open the trace. Every text from the scenario or the run is
//! escaped.

use crate::report::{Summary, html_escape as e};
use crate::scenario::Scenario;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write;

/// What the page shows beyond the run's own files.
#[derive(Default)]
pub struct Context<'a> {
    /// The scenario as run (its description and topology), when known.
    pub scenario: Option<&'a Scenario>,
    /// The scenario file's text, shown collapsed.
    pub scenario_text: Option<&'a str>,
    /// Where the run's Chrome trace was written (`run --trace`).
    pub trace: Option<&'a str>,
}

pub use crate::text::duration_text;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th{background:#f3f3f3}td.l,th.l{text-align:left}.pass{color:#1a7f37;font-weight:bold}\
.fail{color:#c62828;font-weight:bold}.inconclusive{color:#b26a00;font-weight:bold}.skipped{color:#888}\
figure{margin:1em 0}code{background:#f3f3f3;padding:1px 4px}\
.first{border-left:4px solid #c62828;background:#fdf3f3;padding:0.5em 1em;margin:1em 0}\
pre{background:#f6f6f6;padding:0.8em;overflow:auto}details{margin:0.5em 0 1.5em}\
.swatch{display:inline-block;width:0.9em;height:0.9em;margin-right:0.4em;opacity:0.7;vertical-align:middle}\
.wide{overflow-x:auto}.nw{white-space:nowrap}.warn{border-left:4px solid #b26a00;background:#fdf7ec;padding:0.5em 1em;margin:1em 0}";

/// The page's head and title, up to the opened `<body>`.
pub(crate) fn open_page(h: &mut String, title: &str) {
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(h, "<title>eventsim: {}</title>", e(title));
    let _ = writeln!(h, "<style>{STYLE}</style>\n</head>\n<body>");
}

/// The value at quantile `q` of sorted values (nearest rank).
fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The most failing seeds a sweep page lists with their repro commands.
const SWEEP_REPROS: usize = 20;

/// The page of a seed sweep (`sweep`, or `merge` of its shards): which
/// invariants failed in which seeds, how to reproduce each, and how the
/// figures spread across seeds (min, p50, p99, max). Its size follows the
/// number of failing invariants and groups, not the number of seeds.
pub fn sweep_html(
    name: &str,
    status: &crate::sweep::Status,
    results: &[crate::sweep::SeedResult],
    repro: &dyn Fn(u64) -> String,
    reported: &[u64],
) -> String {
    let mut h = String::new();
    let incomplete = if status.complete && status.missing.is_empty() {
        ""
    } else {
        "incomplete "
    };
    open_page(
        &mut h,
        &format!("{name} {incomplete}sweep of seeds {}", status.seeds),
    );
    let _ = writeln!(
        h,
        "<h1>{} &middot; {incomplete}sweep of seeds {}</h1>\n<p>scenario <code>{}</code> &middot; eventsim {} &middot; {} seed(s) run{}</p>",
        e(name),
        e(&status.seeds),
        e(&status.scenario),
        e(&status.version),
        status.seeds_run,
        if status.shard.ends_with("/1") {
            String::new()
        } else {
            format!(" &middot; shard {}", e(&status.shard))
        }
    );
    use crate::check::Verdict;
    let count = |v: Verdict| results.iter().filter(|r| r.verdict == v).count();
    let (failed, inconclusive, passed) = (
        count(Verdict::Fail),
        count(Verdict::Inconclusive),
        count(Verdict::Pass),
    );
    let _ = writeln!(
        h,
        "<p>verdict: <span class=\"fail\">{failed} failed</span> &middot; <span class=\"inconclusive\">{inconclusive} inconclusive</span> &middot; <span class=\"pass\">{passed} passed</span></p>"
    );
    if !status.complete || !status.missing.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"first\">Incomplete ({}): seeds missing {}{}.</p>",
            e(&status.stopped_by),
            e(&status.missing.join(", ")),
            if status.missing_ranges as usize > status.missing.len() {
                format!(
                    " and {} more range(s)",
                    status.missing_ranges as usize - status.missing.len()
                )
            } else {
                String::new()
            }
        );
    }
    h.push_str("<h2 id=\"failures\">Failures</h2>\n");
    let failures = crate::sweep::failures(results);
    if failures.is_empty() {
        h.push_str("<p>No invariant failed in any seed.</p>\n");
    } else {
        h.push_str("<table>\n<tr><th class=\"l\">invariant</th><th>seeds failing</th><th>share</th><th class=\"l\">first seeds</th></tr>\n");
        for (invariant, seeds) in &failures {
            let shown: Vec<String> = seeds.iter().take(10).map(u64::to_string).collect();
            let _ = writeln!(
                h,
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{:.1}%</td><td class=\"l\">{}{}</td></tr>",
                e(invariant),
                seeds.len(),
                100.0 * seeds.len() as f64 / results.len().max(1) as f64,
                shown.join(", "),
                if seeds.len() > 10 { ", &hellip;" } else { "" }
            );
        }
        h.push_str("</table>\n");
        let failing: Vec<&crate::sweep::SeedResult> = results
            .iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .collect();
        let _ = writeln!(
            h,
            "<p>To reproduce a failing seed (its report shows the first violation explained; <code>shrink</code> reduces it to a minimal repro){}:</p>\n<pre>",
            if failing.len() > SWEEP_REPROS {
                format!(", the first {SWEEP_REPROS} of {}", failing.len())
            } else {
                String::new()
            }
        );
        for r in failing.iter().take(SWEEP_REPROS) {
            let _ = writeln!(h, "{}   # {}", e(&repro(r.seed)), e(&r.failed.join(", ")));
        }
        h.push_str("</pre>\n");
        if !reported.is_empty() {
            let links: Vec<String> = reported
                .iter()
                .map(|s| format!("<a href=\"seed-{s}/index.html\">seed {s}</a>"))
                .collect();
            let _ = writeln!(
                h,
                "<p>The first failing seeds' reports, each with its first violation explained: {}.</p>",
                links.join(", ")
            );
        }
    }
    h.push_str("<h2 id=\"spread\">Across seeds</h2>\n<table>\n<tr><th class=\"l\">figure</th><th>min</th><th>p50</th><th>p99</th><th>max</th></tr>\n");
    let mut row = |label: String, mut xs: Vec<u64>, as_time: bool| {
        if xs.is_empty() {
            return;
        }
        xs.sort_unstable();
        let f = |x: u64| {
            if as_time {
                duration_text(x)
            } else {
                x.to_string()
            }
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{label}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            f(xs[0]),
            f(nearest_rank(&xs, 0.5)),
            f(nearest_rank(&xs, 0.99)),
            f(xs[xs.len() - 1])
        );
    };
    type Field = fn(&crate::sweep::SeedResult) -> u64;
    let fields: [(&str, Field); 8] = [
        ("produced", |r| r.produced),
        ("acked", |r| r.acked),
        ("applied", |r| r.applied),
        ("duplicates applied", |r| r.duplicates_applied),
        ("expired", |r| r.expired),
        ("faults", |r| r.faults),
        ("simulated time", |r| r.sim_time_ns),
        ("kernel events", |r| r.kernel_events),
    ];
    for (label, get) in fields {
        row(
            label.to_string(),
            results.iter().map(get).collect(),
            label == "simulated time",
        );
    }
    let groups: std::collections::BTreeSet<&String> =
        results.iter().flat_map(|r| r.e2e_p99_ns.keys()).collect();
    for g in groups {
        row(
            format!("end-to-end p99, {}", e(g)),
            results
                .iter()
                .filter_map(|r| r.e2e_p99_ns.get(g).copied())
                .collect(),
            true,
        );
        row(
            format!("max lag, {}", e(g)),
            results
                .iter()
                .filter_map(|r| r.max_lag.get(g).copied())
                .collect(),
            false,
        );
    }
    let flows: std::collections::BTreeSet<&String> =
        results.iter().flat_map(|r| r.flows.keys()).collect();
    for f in flows {
        type FlowField = fn(&crate::sweep::FlowSeed) -> u64;
        let fields: [(&str, FlowField, bool); 6] = [
            ("started", |x| x.started, false),
            ("accepted", |x| x.accepted, false),
            ("completed", |x| x.completed, false),
            ("compensated", |x| x.compensated, false),
            ("rejected with effects", |x| x.rejected_with_effects, false),
            ("completion p99", |x| x.completion_p99_ns, true),
        ];
        for (label, get, as_time) in fields {
            row(
                format!("flow {}: {label}", e(f)),
                results
                    .iter()
                    .filter_map(|r| r.flows.get(f).map(get))
                    .collect(),
                as_time,
            );
        }
    }
    h.push_str("</table>\n");
    let worst = |m: &std::collections::BTreeMap<String, u64>| m.values().copied().max();
    histogram(
        &mut h,
        "end-to-end p99 of the worst group, per seed",
        &results
            .iter()
            .filter_map(|r| worst(&r.e2e_p99_ns))
            .collect::<Vec<_>>(),
        true,
    );
    histogram(
        &mut h,
        "max lag of the most lagging group, per seed (events)",
        &results
            .iter()
            .filter_map(|r| worst(&r.max_lag))
            .collect::<Vec<_>>(),
        false,
    );
    h.push_str("<h2 id=\"files\">Files</h2>\n<p><code>sweep.jsonl</code>: one line per seed (verdict, failed checks, counts, latency and lag per group); <code>sweep.json</code>: what the sweep covered and whether it completed.</p>\n</body>\n</html>\n");
    h
}

/// A histogram of one figure over a sweep's seeds, as inline SVG: 20
/// bins from the smallest value to the largest, each bar's count above it.
fn histogram(h: &mut String, title: &str, xs: &[u64], as_time: bool) {
    const BINS: usize = 20;
    const W: usize = 900;
    const H: usize = 180;
    const LEFT: usize = 40;
    if xs.len() < 2 {
        return;
    }
    let (lo, hi) = (
        *xs.iter().min().unwrap_or(&0),
        *xs.iter().max().unwrap_or(&0),
    );
    let width = (hi - lo) as f64 / BINS as f64;
    let mut counts = [0usize; BINS];
    for &x in xs {
        let b = if width == 0.0 {
            0
        } else {
            (((x - lo) as f64 / width) as usize).min(BINS - 1)
        };
        counts[b] += 1;
    }
    let most = *counts.iter().max().unwrap_or(&1) as f64;
    let bar_w = (W - LEFT - 20) / BINS;
    let label = |v: f64| {
        if as_time {
            duration_text(v as u64)
        } else {
            format!("{}", v.round() as u64)
        }
    };
    let _ = writeln!(
        h,
        "<h3>{}</h3>\n<svg class=\"histogram\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{}\" viewBox=\"0 0 {W} {}\" font-family=\"sans-serif\" font-size=\"11\">",
        e(title),
        H + 40,
        H + 40
    );
    for (i, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let bh = (c as f64 / most * (H - 20) as f64).max(1.0);
        let x = LEFT + i * bar_w;
        let y = H as f64 - bh;
        let from = lo as f64 + width * i as f64;
        let _ = writeln!(
            h,
            "<rect x=\"{x}\" y=\"{y:.1}\" width=\"{}\" height=\"{bh:.1}\" fill=\"rgb(31,119,180)\" fill-opacity=\"0.7\"><title>{c} seed(s) from {} to {}</title></rect><text x=\"{}\" y=\"{:.1}\" text-anchor=\"middle\">{c}</text>",
            bar_w - 2,
            e(&label(from)),
            e(&label(from + width)),
            x + bar_w / 2,
            y - 3.0
        );
    }
    let _ = writeln!(
        h,
        "<line x1=\"{LEFT}\" y1=\"{H}\" x2=\"{}\" y2=\"{H}\" stroke=\"#888\"/><text x=\"{LEFT}\" y=\"{}\" fill=\"#555\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#555\">{}</text>\n</svg>",
        LEFT + BINS * bar_w,
        H + 16,
        e(&label(lo as f64)),
        LEFT + BINS * bar_w,
        H + 16,
        e(&label(hi as f64))
    );
}

/// The page of a comparison (`compare`, or `merge` of its shards): the
/// table of `comparison.md` with each variant's failed checks, and the
/// charts.
pub fn compare_html(
    title: &str,
    header: &crate::compare::Header,
    summary: &crate::compare::Summary,
    svgs: &[(String, String)],
) -> String {
    let mut h = String::new();
    let incomplete = if summary.incomplete.is_some() {
        "incomplete "
    } else {
        ""
    };
    open_page(
        &mut h,
        &format!("{title} {incomplete}comparison over seeds {}", header.seeds),
    );
    let files = header.files();
    let _ = write!(
        h,
        "<h1>{} &middot; {incomplete}comparison over seeds {}</h1>\n<p>{} <code>{}</code> &middot; eventsim {} &middot; {} variant(s): ",
        e(title),
        e(&header.seeds),
        if files.len() > 1 {
            "scenarios"
        } else {
            "scenario"
        },
        e(&files.join(", ")),
        e(crate::VERSION),
        summary.rows.len()
    );
    match (files.len() > 1, header.vary.is_empty()) {
        (true, true) => h.push_str("one per scenario file"),
        (true, false) => h.push_str("each scenario file with"),
        (false, _) => h.push_str("from"),
    }
    for v in &header.vary {
        let _ = write!(
            h,
            " <code>--vary {}</code>",
            e(&crate::text::shell_quote(v))
        );
    }
    h.push_str("</p>\n");
    if let Some(what) = &summary.incomplete {
        let _ = writeln!(
            h,
            "<p class=\"first\"><strong>Incomplete</strong> ({}): each variant's figures cover the seeds it ran; a variant that ran none reads <em>not run</em>.</p>",
            e(what)
        );
    }
    let failing = summary.rows.iter().filter(|r| !r.failed.is_empty()).count();
    let not_run = summary.rows.iter().filter(|r| r.seeds == 0).count();
    let _ = writeln!(
        h,
        "<p>verdict: {}</p>",
        if failing == 0 && (summary.incomplete.is_some() || not_run > 0) {
            format!(
                "<span class=\"inconclusive\">every check passed in the runs that finished; {not_run} variant(s) not run</span>"
            )
        } else if failing == 0 {
            "<span class=\"pass\">every check passed in every variant</span>".to_string()
        } else {
            format!(
                "<span class=\"fail\">checks failed in {failing} of {} variant(s)</span>",
                summary.rows.len()
            )
        }
    );
    for m in summary
        .rows
        .iter()
        .filter_map(crate::compare::Row::missed_faults)
    {
        let _ = writeln!(
            h,
            "<p class=\"warn\">{}: a pass there does not show the design survives them.</p>",
            e(&m)
        );
    }
    h.push_str("<h2 id=\"variants\">Variants</h2>\n<p>Mean &plusmn; 95% confidence interval over seeds (Student's t; n/a from one seed).</p>\n");
    // What the designs are compared on first: the business flows, when
    // the scenarios declare them; then the Kafka pipeline's figures.
    let (flows, others): (Vec<usize>, Vec<usize>) =
        (0..summary.extras.len()).partition(|&i| summary.extras[i].starts_with("flow."));
    let one_flow = {
        let mut names: Vec<&str> = flows
            .iter()
            .filter_map(|&i| summary.extras[i].split('.').nth(1))
            .collect();
        names.dedup();
        (names.len() == 1).then(|| names[0].to_string())
    };
    let extra_cell = |name: &str, x: &Option<(f64, f64)>| match x {
        None => "n/a".to_string(),
        Some(x) if name.ends_with("_ns") => pm_time(*x),
        Some(x) => pm_num(*x),
    };
    let failed_cell = |failed: &[String]| {
        format!(
            "<td class=\"l{}\">{}</td>",
            if failed.is_empty() { " pass" } else { " fail" },
            if failed.is_empty() {
                "none".to_string()
            } else {
                e(&failed.join(", "))
            }
        )
    };
    if !flows.is_empty() {
        let _ = write!(
            h,
            "<h3>{}</h3>\n<p>Per business flow (<code>[[flows]]</code>): the share the front door accepted, how they ended, and how long completion took from the root event.</p>\n<div class=\"wide\"><table>\n<tr><th class=\"l\">variant</th><th>seeds</th>",
            match &one_flow {
                Some(f) => format!("Flow <code>{}</code>", e(f)),
                None => "Flows".to_string(),
            }
        );
        for &i in &flows {
            let heading = html_heading(&summary.extras[i]);
            let heading = match &one_flow {
                Some(f) => heading
                    .strip_prefix(&format!("{f} "))
                    .unwrap_or(&heading)
                    .to_string(),
                None => heading,
            };
            let _ = write!(h, "<th>{}</th>", e(&heading));
        }
        h.push_str("<th class=\"l\">failed checks</th></tr>\n");
        for r in &summary.rows {
            let _ = write!(
                h,
                "<tr><td class=\"l\">{}</td><td>{}</td>",
                e(&r.label),
                r.seeds
            );
            if r.seeds == 0 {
                let _ = writeln!(
                    h,
                    "<td colspan=\"{}\" class=\"l skipped\">not run</td></tr>",
                    flows.len() + 1
                );
                continue;
            }
            for &i in &flows {
                let _ = write!(
                    h,
                    "<td>{}</td>",
                    extra_cell(&summary.extras[i], &r.extra[i])
                );
            }
            let _ = writeln!(h, "{}</tr>", failed_cell(&r.failed));
        }
        h.push_str("</table></div>\n");
        h.push_str("<h3>Kafka pipeline</h3>\n");
    }
    h.push_str("<p>Latency is the worst group's end to end; throughput counts the Kafka events appended (every topic), not business requests.</p>\n<div class=\"wide\"><table>\n<tr><th class=\"l\">variant</th><th>seeds</th><th>events appended/s</th><th>p50</th><th>p99</th><th>p99.9</th><th>max lag</th><th>skew</th><th>per-key order violations</th>");
    for &i in &others {
        let _ = write!(h, "<th>{}</th>", e(&html_heading(&summary.extras[i])));
    }
    if flows.is_empty() {
        h.push_str("<th class=\"l\">failed checks</th>");
    }
    h.push_str("</tr>\n");
    for r in &summary.rows {
        if r.seeds == 0 {
            let _ = writeln!(
                h,
                "<tr><td class=\"l\">{}</td><td>0</td><td colspan=\"{}\" class=\"l skipped\">not run</td></tr>",
                e(&r.label),
                7 + others.len() + usize::from(flows.is_empty())
            );
            continue;
        }
        let (label, n, st) = (&r.label, r.seeds, &r.stats);
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{n}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            e(label),
            pm_num(st[0]),
            pm_time(st[1]),
            pm_time(st[2]),
            pm_time(st[3]),
            pm_num(st[4]),
            pm_num(st[5]),
            pm_num(st[6]),
        );
        for &i in &others {
            let _ = write!(
                h,
                "<td>{}</td>",
                extra_cell(&summary.extras[i], &r.extra[i])
            );
        }
        if flows.is_empty() {
            h.push_str(&failed_cell(&r.failed));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table></div>\n<h2 id=\"charts\">Charts</h2>\n");
    for (name, svg) in svgs {
        let _ = writeln!(h, "<figure id=\"{}\">\n{}\n</figure>", e(name), svg);
    }
    h.push_str("<h2 id=\"files\">Files</h2>\n<p><code>comparison.csv</code> and <code>comparison.md</code>: these tables; <code>compare-runs.jsonl</code>: every run's figures, what <code>eventsim merge</code> combines.</p>\n</body>\n</html>\n");
    h
}

/// An extra figure's column heading on the page: its cells carry their
/// unit (`7.89ms`), so the heading does not (`comparison.md`'s do).
fn html_heading(name: &str) -> String {
    let h = crate::compare::extra_heading(name);
    h.strip_suffix(" ms").map_or(h.clone(), str::to_string)
}

/// A mean and its confidence interval: `12.34 &plusmn;&nbsp;0.56`.
fn pm_num((m, c): (f64, f64)) -> String {
    if c.is_nan() {
        format!("{m:.2} &plusmn;&nbsp;n/a")
    } else {
        format!("{m:.2} &plusmn;&nbsp;{c:.2}")
    }
}

/// A mean and its confidence interval of nanoseconds, both in the unit
/// the mean reads best in: `8.53s &plusmn; 0.10s`, never two units in one cell.
fn pm_time((m, c): (f64, f64)) -> String {
    let m = m.max(0.0);
    let (scale, unit) = if m >= 1e9 {
        (1e9, "s")
    } else if m >= 1e6 {
        (1e6, "ms")
    } else {
        (1e3, "us")
    };
    if c.is_nan() {
        format!("{:.2}{unit} &plusmn;&nbsp;n/a", m / scale)
    } else {
        // A narrow column breaks before the interval, never inside it.
        format!(
            "{:.2}{unit} &plusmn;&nbsp;{:.2}{unit}",
            m / scale,
            c.max(0.0) / scale
        )
    }
}

/// The page of one run.
pub fn index_html(
    summary: &Summary,
    faults: &[crate::report::plot::FaultSpan],
    svgs: &[(String, String)],
    ctx: &Context,
) -> String {
    let mut h = String::new();
    open_page(
        &mut h,
        &format!("{} seed {}", summary.scenario, summary.seed),
    );
    let _ = writeln!(
        h,
        "<h1>{}</h1>\n<p>seed {} &middot; eventsim {} &middot; simulated {:.3}s ({}) &middot; {} kernel events</p>",
        e(&summary.scenario),
        summary.seed,
        e(&summary.version),
        summary.sim_time_ns as f64 / 1e9,
        e(&summary.stopped_by),
        summary.kernel_events
    );
    if let Some(s) = ctx.scenario
        && !s.scenario.description.trim().is_empty()
    {
        for para in s.scenario.description.split("\n\n") {
            let para = para.trim();
            if !para.is_empty() {
                let _ = writeln!(h, "<p class=\"description\">{}</p>", e(para));
            }
        }
    }
    verdict(&mut h, summary);
    if let Some(s) = ctx.scenario {
        h.push_str("<h2 id=\"topology\">Topology</h2>\n");
        h.push_str(&topology_svg(s));
        h.push('\n');
    }
    checks(&mut h, summary);
    counts(&mut h, summary);
    producers_and_groups(&mut h, summary);
    availability(&mut h, summary);
    flows(&mut h, summary);
    services(&mut h, summary);
    catch_up(&mut h, summary);
    latency(&mut h, summary);
    fault_table(&mut h, faults, summary.sim_time_ns);
    h.push_str("<h2 id=\"plots\">Plots</h2>\n");
    for (name, svg) in svgs {
        let _ = writeln!(h, "<figure id=\"{}\">\n{}\n</figure>", e(name), svg);
    }
    h.push_str("<h2 id=\"trace\">Trace</h2>\n");
    match ctx.trace {
        Some(t) => {
            let _ = writeln!(
                h,
                "<p>This run's trace is <code>{}</code>: open <a href=\"https://ui.perfetto.dev\">ui.perfetto.dev</a> and choose <em>Open trace file</em> (it stays on your machine), or load it in <code>chrome://tracing</code>.</p>",
                e(t)
            );
        }
        None => {
            let _ = writeln!(
                h,
                "<p>Run again with <code>--trace FILE</code> to write a Chrome trace of every request, fetch and handler, and open it in <a href=\"https://ui.perfetto.dev\">ui.perfetto.dev</a> (<em>Open trace file</em>).</p>"
            );
        }
    }
    if let Some(text) = ctx.scenario_text {
        h.push_str("<h2 id=\"scenario\">Scenario file</h2>\n");
        let _ = writeln!(
            h,
            "<details><summary><code>scenario.toml</code> ({} lines)</summary>\n<pre>{}</pre>\n</details>",
            text.lines().count(),
            e_multiline(text)
        );
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// Escape text, keeping its newlines and tabs (for `<pre>`).
fn e_multiline(text: &str) -> String {
    text.split('\n')
        .map(|l| e(l.strip_suffix('\r').unwrap_or(l)).replace("\\u{9}", "\t"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The verdict, and for a failing run the first violation with its
/// explanation, where a reader looks first.
fn verdict(h: &mut String, summary: &Summary) {
    let _ = writeln!(
        h,
        "<p>verdict: <span class=\"{0}\">{0}</span> &middot; reproduce: <code>{1}</code></p>",
        summary.verdict,
        e(&summary.repro)
    );
    if !summary.verdict_note.is_empty() {
        let _ = writeln!(h, "<p>{}</p>", e(&summary.verdict_note));
    }
    let first = summary
        .checks
        .iter()
        .find_map(|c| c.first.as_ref().map(|v| (c, v)));
    if let Some((c, v)) = first {
        let _ = write!(
            h,
            "<div class=\"first\"><p><strong>{}</strong>: {}</p>",
            e(&c.name),
            e(&v.message)
        );
        if !v.explanation.is_empty() {
            h.push_str("<ul>");
            for line in &v.explanation {
                let _ = write!(h, "<li>{}</li>", e(line));
            }
            h.push_str("</ul>");
        }
        h.push_str("</div>\n");
    }
}

fn checks(h: &mut String, summary: &Summary) {
    h.push_str("<h2 id=\"checks\">Checks</h2>\n<table>\n<tr><th class=\"l\">invariant</th><th class=\"l\">status</th><th>violations</th><th class=\"l\">first violation</th></tr>\n");
    for c in &summary.checks {
        let first = c.first.as_ref().map_or(String::new(), |v| {
            let mut t = e(&v.message);
            for line in &v.explanation {
                t.push_str("<br>&nbsp;&nbsp;");
                t.push_str(&e(line));
            }
            t
        });
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l {1}\">{1}</td><td>{2}</td><td class=\"l\">{3}</td></tr>",
            e(&c.name),
            c.status,
            c.violations,
            first
        );
    }
    h.push_str("</table>\n");
    objectives(h, summary);
}

/// Each objective of `[[checks.objectives]]`: its figure against its bound.
fn objectives(h: &mut String, summary: &Summary) {
    if summary.objectives.is_empty() {
        return;
    }
    h.push_str("<h3 id=\"objectives\">Objectives</h3>\n<table>\n<tr><th class=\"l\">objective</th><th class=\"l\">status</th><th>figure</th><th>bound</th><th>unfinished counted</th></tr>\n");
    let text = crate::check::objectives::figure_text;
    for o in &summary.objectives {
        let (class, status) = if o.met {
            ("pass", "met")
        } else {
            ("fail", "missed")
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l {class}\">{status}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&o.objective),
            text(o.value, &o.unit),
            text(o.bound, &o.unit),
            o.unfinished
        );
    }
    h.push_str("</table>\n");
}

/// The counts an event passes through, in that order.
const PIPELINE: [&str; 6] = [
    "produced",
    "acked",
    "appended",
    "delivered",
    "applied",
    "committed",
];

/// Counts: the pipeline first (produced, acked, appended, delivered,
/// applied, committed), then what went wrong or sideways, in
/// `summary.json`'s order.
fn counts(h: &mut String, summary: &Summary) {
    h.push_str("<h2 id=\"counts\">Counts</h2>\n<table>\n");
    let Ok(serde_json::Value::Object(counts)) = serde_json::to_value(&summary.counts) else {
        h.push_str("</table>\n");
        return;
    };
    let mut row = |k: &str, v: &serde_json::Value| {
        let _ = writeln!(
            h,
            "<tr><th class=\"l\">{}</th><td>{}</td></tr>",
            e(&k.replace('_', " ")),
            v
        );
    };
    for k in PIPELINE {
        if let Some(v) = counts.get(k) {
            row(k, v);
        }
    }
    for (k, v) in &counts {
        if !PIPELINE.contains(&k.as_str()) {
            row(k, v);
        }
    }
    h.push_str("</table>\n");
}

/// The most producers or groups listed on the page (summary.json lists
/// every one).
const OWN_ROWS: usize = 50;

/// A row per producer and per group: the totals above are sums over them
/// (an outbox relay's records are counted with the API's).
fn producers_and_groups(h: &mut String, summary: &Summary) {
    let more = |h: &mut String, n: usize, what: &str| {
        if n > OWN_ROWS {
            let _ = writeln!(
                h,
                "<p>... and {} more {what}: <code>summary.json</code> lists every one.</p>",
                n - OWN_ROWS
            );
        }
    };
    // One producer's counts are the totals above.
    if summary.producers.len() > 1 {
        h.push_str("<h2 id=\"producers\">Producers</h2>\n<p>The scenario's producers, then each group's emitters and outbox relays (<code>GROUP-&gt;TOPIC</code>).</p>\n<table>\n<tr><th class=\"l\">producer</th><th>produced</th><th>acked</th><th>failed</th><th>produce &rarr; ack p50</th><th>p99</th></tr>\n");
        for p in summary.producers.iter().take(OWN_ROWS) {
            let l = summary.latency_ns.produce_to_ack_by_producer.get(&p.name);
            let _ = writeln!(
                h,
                "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e(&p.name),
                p.produced,
                p.acked,
                p.failed,
                l.map_or(String::new(), |l| duration_text(l.p50)),
                l.map_or(String::new(), |l| duration_text(l.p99)),
            );
        }
        h.push_str("</table>\n");
        more(h, summary.producers.len(), "producers");
    }
    if !summary.groups.is_empty() {
        h.push_str("<h2 id=\"groups\">Groups</h2>\n<p>Lag is Kafka's: the high watermark minus the group's committed offset, summed over its partitions; at the end it counts what the group had not committed, of which <em>unread</em> is what it had not been delivered. <em>Busy</em> is the share of the run a consumer spent processing records: its busiest consumer's, and the mean of its consumers'; a consumer near 100% has no room for more.</p>\n<table>\n<tr><th class=\"l\">group</th><th>busy (busiest consumer)</th><th>busy (mean)</th><th>delivered</th><th>applied</th><th>duplicates delivered</th><th>duplicates applied</th><th>skipped</th><th>dead-lettered</th><th>gave up</th><th>expired</th><th>commits</th><th>max lag</th><th>lag at end</th><th>unread at end</th></tr>\n");
        for g in summary.groups.iter().take(OWN_ROWS) {
            let _ = write!(h, "<tr><td class=\"l\">{}</td>", e(&g.name));
            match summary.utilisation.iter().find(|u| u.group == g.name) {
                Some(u) => {
                    let _ = write!(
                        h,
                        "<td>{:.1}% ({})</td><td>{:.1}%</td>",
                        u.busiest * 100.0,
                        e(&u.busiest_consumer),
                        u.mean * 100.0
                    );
                }
                None => h.push_str("<td></td><td></td>"),
            }
            for n in [
                g.delivered,
                g.applied,
                g.duplicates_delivered,
                g.duplicates_applied,
                g.skipped,
                g.dead_lettered,
                g.gave_up,
                g.expired,
                g.committed,
                g.max_lag,
                g.lag_at_end,
                g.unread_at_end,
            ] {
                let _ = write!(h, "<td>{n}</td>");
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
        more(h, summary.groups.len(), "groups");
    }
    brokers_busy(h, summary);
}

/// The brokers' busy shares, when appends cost them time.
fn brokers_busy(h: &mut String, summary: &Summary) {
    if summary.broker_utilisation.is_empty() {
        return;
    }
    let shown: Vec<String> = (summary.broker_utilisation.iter().take(OWN_ROWS))
        .map(|b| format!("{} {:.1}%", e(&b.broker), b.busy * 100.0))
        .collect();
    let hidden = summary.broker_utilisation.len() - shown.len();
    let _ = writeln!(
        h,
        "<p><em>Busy brokers</em>, the share of the run each spent appending (its <code>capacity</code> and <code>append_latency</code>; a broker near 100% has no room for more): {}{}.</p>",
        shown.join(", "),
        if hidden > 0 {
            format!(" and {hidden} more (summary.json lists every one)")
        } else {
            String::new()
        }
    );
}

/// Whether the cluster served: per topic, the share of partition-time with
/// a live leader and the longest outage; per group, the time it could not
/// read all of its input; the controller quorum's time without a leader.
fn availability(h: &mut String, summary: &Summary) {
    let Some(a) = &summary.availability else {
        return;
    };
    h.push_str("<h2 id=\"availability\">Availability</h2>\n<p>A partition is available while its leader is up and not fenced; it refuses <code>acks = all</code> writes while fewer replicas than <code>min_insync_replicas</code> are in sync. Percentages are of partition-time over the run.</p>\n<table>\n<tr><th class=\"l\">topic</th><th>available</th><th>outages</th><th>without a leader</th><th class=\"l\">longest outage</th><th>under min ISR</th></tr>\n");
    for t in &a.topics {
        let longest = t.longest_outage.as_ref().map_or("none".to_string(), |o| {
            format!(
                "{} on {} from {}{}: {}",
                duration_text(o.duration_ns),
                e(&o.partition),
                duration_text(o.from_ns),
                if o.until_end { " to the end" } else { "" },
                e(&o.cause)
            )
        });
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td>{:.2}%</td><td>{}</td><td>{}</td><td class=\"l\">{}</td><td>{}</td></tr>",
            e(&t.topic),
            t.available * 100.0,
            t.outages,
            duration_text(t.leaderless_ns),
            longest,
            duration_text(t.under_min_isr_ns)
        );
    }
    h.push_str("</table>\n");
    if !a.groups.is_empty() {
        h.push_str("<table>\n<tr><th class=\"l\">group</th><th>could read all its partitions</th><th>some partition without a leader</th></tr>\n");
        for g in &a.groups {
            let _ = writeln!(
                h,
                "<tr><td class=\"l\">{}</td><td>{:.2}%</td><td>{}</td></tr>",
                e(&g.group),
                g.available * 100.0,
                duration_text(g.unavailable_ns)
            );
        }
        h.push_str("</table>\n");
    }
    if a.controller_leaderless_ns > 0 {
        let _ = writeln!(
            h,
            "<p>The controller quorum had no active controller for {}: meanwhile no partition could elect a leader, no broker was fenced and no ISR changed.</p>",
            duration_text(a.controller_leaderless_ns)
        );
    }
}

/// Groups that joined later with a backlog: how long they took to read it.
fn catch_up(h: &mut String, summary: &Summary) {
    if summary.catch_up.is_empty() {
        return;
    }
    h.push_str("<h2 id=\"catch-up\">Catch-up</h2>\n<p>A group that joins later (<code>start</code>) reads what was in the log when it was first assigned its partitions (up to their high watermarks then) while traffic goes on; on a compacted topic it reads only the latest record of each key.</p>\n<table>\n<tr><th class=\"l\">group</th><th>backlog (offsets)</th><th>records read</th><th>caught up in</th></tr>\n");
    for (g, c) in &summary.catch_up {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(g),
            c.backlog,
            c.delivered,
            c.caught_up_ns.map_or("never".to_string(), duration_text)
        );
    }
    h.push_str("</table>\n");
}

/// The business flows (`[[flows]]`): how each ended, and how long it took.
fn flows(h: &mut String, summary: &Summary) {
    if summary.flows.is_empty() {
        return;
    }
    h.push_str("<h2 id=\"flows\">Flows</h2>\n<p>A flow is the causal chain of one root event; a step happens when its event is acknowledged. Completion and compensation times run from the root event's creation.</p>\n<table>\n<tr><th class=\"l\">flow</th><th>started</th><th>rejected</th><th>accepted</th><th>completed</th><th>compensated</th><th>failed</th><th>inconsistent</th><th>open</th><th>completion p50</th><th>p99</th><th>compensation p50</th><th>p99</th></tr>\n");
    for f in &summary.flows {
        let _ = write!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{:.2}%</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            e(&f.name),
            f.started,
            f.rejected,
            f.acceptance_rate * 100.0,
            f.completed,
            f.compensated,
            f.failed,
            f.inconsistent,
            f.open
        );
        for ns in [
            f.completion_ns.p50,
            f.completion_ns.p99,
            f.compensation_ns.p50,
            f.compensation_ns.p99,
        ] {
            let _ = write!(h, "<td>{}</td>", duration_text(ns));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

/// The services called synchronously (`[[services]]`): how the attempts
/// to call each ended, as its callers saw them.
fn services(h: &mut String, summary: &Summary) {
    if summary.services.is_empty() {
        return;
    }
    h.push_str("<h2 id=\"services\">Services</h2>\n<p>Attempts to call each service, as its callers saw them end: answered (ok or a business failure), an error (refused while down, a full queue, a failed call of its own), a timeout, or not made because the caller's circuit breaker was open. Latency is of the answered attempts.</p>\n<table>\n<tr><th class=\"l\">service</th><th>requests</th><th>ok</th><th>failed</th><th>errors</th><th>timeouts</th><th>breaker open</th><th>compensations</th><th>effects</th><th>p50</th><th>p99</th></tr>\n");
    for sv in &summary.services {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e(&sv.name),
            sv.requests,
            sv.ok,
            sv.failed,
            sv.errors,
            sv.timeouts,
            sv.breaker_open,
            sv.compensations,
            sv.effects,
            duration_text(sv.latency_ns.p50),
            duration_text(sv.latency_ns.p99)
        );
    }
    h.push_str("</table>\n");
}

fn latency(h: &mut String, summary: &Summary) {
    h.push_str("<h2 id=\"latency\">Latency</h2>\n");
    unfinished(h, summary);
    h.push_str("<table>\n<tr><th class=\"l\">stream</th><th>count</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>\n");
    let l = &summary.latency_ns;
    let mut rows = vec![("produce &rarr; ack".to_string(), &l.produce_to_ack)];
    for (g, s) in &l.end_to_end {
        rows.push((format!("end to end, {}", e(g)), s));
    }
    for (g, s) in &l.end_to_end_from_origin {
        rows.push((format!("from origin, {}", e(g)), s));
    }
    for (t, s) in &l.end_to_end_by_topic {
        rows.push((format!("end to end, topic {}", e(t)), s));
    }
    for (name, s) in rows {
        let _ = write!(h, "<tr><td class=\"l\">{name}</td><td>{}</td>", s.count);
        for ns in [s.mean, s.p50, s.p90, s.p99, s.p999, s.max] {
            let _ = write!(h, "<td>{}</td>", duration_text(ns));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

/// Above the latency table, the records a group had not processed when
/// the run stopped: the table counts only what finished.
fn unfinished(h: &mut String, summary: &Summary) {
    for g in summary.groups.iter().filter(|g| g.unfinished > 0) {
        let _ = writeln!(
            h,
            "<p class=\"warn\">Not in the figures below: group {} had not processed {} record(s) when the run stopped; the oldest was {} old, a lower bound of its latency.</p>",
            e(&g.name),
            g.unfinished,
            duration_text(g.oldest_unfinished_ns.unwrap_or(0))
        );
    }
}

/// The most faults drawn on the page's timeline (all are in the table).
const TIMELINE_ROWS: usize = 40;

/// The faults over the run's time as inline SVG: one row per fault, its
/// band in its kind's colour (as on the plots) and its name beside it.
fn fault_timeline(h: &mut String, faults: &[crate::report::plot::FaultSpan], end_ns: u64) {
    const W: usize = 900;
    const LABEL_W: usize = 220;
    const ROW: usize = 20;
    let rows = faults.len().min(TIMELINE_ROWS);
    let height = rows * ROW + 28;
    let end = faults
        .iter()
        .map(|f| f.end_ns)
        .chain([end_ns])
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let span = (W - LABEL_W - 20) as f64;
    let x = |t: u64| LABEL_W as f64 + span * t as f64 / end;
    let _ = writeln!(
        h,
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{height}\" viewBox=\"0 0 {W} {height}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    for (i, f) in faults.iter().take(rows).enumerate() {
        let (start, stop, what) = (&f.start_ns, &f.end_ns, &f.label);
        let (r, g, b) = crate::report::plot::fault_rgb(what.split(' ').next().unwrap_or(""));
        let y = i * ROW + 4;
        let (x0, x1) = (x(*start), x(*stop).max(x(*start) + 2.0));
        let _ = writeln!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{x0:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{}\" fill=\"rgb({r},{g},{b})\" fill-opacity=\"0.55\"><title>{} from {} to {}</title></rect>",
            LABEL_W - 8,
            y + 13,
            e(what),
            x1 - x0,
            ROW - 6,
            e(what),
            duration_text(*start),
            duration_text(*stop)
        );
    }
    let axis_y = rows * ROW + 6;
    let _ = writeln!(
        h,
        "<line x1=\"{LABEL_W}\" y1=\"{axis_y}\" x2=\"{}\" y2=\"{axis_y}\" stroke=\"#888\"/>",
        W - 20
    );
    for k in 0..=4u64 {
        let t = (end as u64) / 4 * k;
        let _ = writeln!(
            h,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
            x(t),
            axis_y + 16,
            duration_text(t)
        );
    }
    h.push_str("</svg>\n");
    if faults.len() > rows {
        let _ = writeln!(
            h,
            "<p>The first {rows} of {} faults are drawn; the table lists all.</p>",
            faults.len()
        );
    }
}

fn fault_table(h: &mut String, faults: &[crate::report::plot::FaultSpan], end_ns: u64) {
    h.push_str("<h2 id=\"faults\">Faults</h2>\n");
    if faults.is_empty() {
        h.push_str("<p>none</p>\n");
        return;
    }
    fault_timeline(h, faults, end_ns);
    let nothing = faults.iter().filter(|f| f.nothing).count();
    if nothing > 0 {
        let _ = writeln!(
            h,
            "<p class=\"warn\">{nothing} of {} fault(s) struck nothing: the node held no record in flight or uncommitted, or the link carried no message while it lasted. A pass does not show the design survives them; move them to where the system is busy.</p>",
            faults.len()
        );
    }
    h.push_str(
        "<table>\n<tr><th>start</th><th>end</th><th>lasted</th><th class=\"l\">fault</th><th class=\"l\">what it struck</th></tr>\n",
    );
    for f in faults {
        let (start, end, what) = (f.start_ns, f.end_ns, &f.label);
        let (r, g, b) = crate::report::plot::fault_rgb(what.split(' ').next().unwrap_or(""));
        let struck = if f.nothing {
            format!("<strong>nothing</strong>: {}", e(&f.struck))
        } else {
            e(&f.struck)
        };
        let _ = writeln!(
            h,
            "<tr><td>{:.3}s</td><td>{:.3}s</td><td>{}</td><td class=\"l nw\"><span class=\"swatch\" style=\"background:rgb({},{},{})\"></span>{}</td><td class=\"l\">{struck}</td></tr>",
            start as f64 / 1e9,
            end as f64 / 1e9,
            duration_text(end.saturating_sub(start)),
            r,
            g,
            b,
            e(what)
        );
    }
    h.push_str("</table>\n");
}

/// A serde enum's name as written in scenario files (`all`, `manual`).
fn tag<T: Serialize>(x: &T) -> String {
    match serde_json::to_value(x) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(v) => v.to_string(),
        Err(_) => String::new(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Producer,
    Topic,
    Group,
    Service,
}

struct Node {
    kind: Kind,
    name: String,
    detail: String,
}

/// The most nodes drawn (a scenario beyond gets a note instead).
const MAX_NODES: usize = 120;
const BOX_W: usize = 250;
const BOX_H: usize = 42;
const COL_W: usize = 300;
const ROW_H: usize = 58;
const MARGIN: usize = 10;
/// The most characters of a name or detail line in a box.
const BOX_CHARS: usize = 36;

fn clip(s: &str) -> String {
    if s.chars().count() <= BOX_CHARS {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(BOX_CHARS - 1).collect();
        t.push('\u{2026}');
        t
    }
}

/// Each node's column: after everything that feeds it (the longest path
/// from a source, by Kahn's topological order), and at least its kind's
/// first column (producers 0, topics 1, groups 2). Nodes on a cycle (a
/// group emitting to a topic upstream of it) take a column after what feeds
/// them from outside the cycle, in declaration order.
fn columns_of(nodes: &[Node], edges: &[(usize, usize, bool)]) -> Vec<usize> {
    let least = |k: Kind| match k {
        Kind::Producer | Kind::Service => 0,
        Kind::Topic => 1,
        Kind::Group => 2,
    };
    let mut col: Vec<usize> = nodes.iter().map(|n| least(n.kind)).collect();
    let mut indegree = vec![0usize; nodes.len()];
    for &(a, b, _) in edges {
        if a != b {
            indegree[b] += 1;
        }
    }
    let mut done = vec![false; nodes.len()];
    let mut ready: VecDeque<usize> = (0..nodes.len()).filter(|&i| indegree[i] == 0).collect();
    loop {
        while let Some(i) = ready.pop_front() {
            done[i] = true;
            for &(a, b, _) in edges {
                if a == i && b != i && !done[b] {
                    col[b] = col[b].max(col[i] + 1);
                    indegree[b] -= 1;
                    if indegree[b] == 0 {
                        ready.push_back(b);
                    }
                }
            }
        }
        // A cycle: release its first node in declaration order.
        match (0..nodes.len()).find(|&i| !done[i]) {
            Some(i) => ready.push_back(i),
            None => break,
        }
    }
    col
}

/// The scenario's data flow as an SVG diagram: producers, then each topic
/// and group in a column by its distance from the producers (a topic a
/// group emits to comes after the group). Boxes name each component with
/// its Kafka settings (rate and acks; partitions and replication factor;
/// consumers, commit mode and idempotency); arrows follow the records,
/// dashed to a dead-letter topic and for a synchronous call (caller to
/// callee; services stand in the first column, with the producers).
pub fn topology_svg(s: &Scenario) -> String {
    let mut nodes: Vec<Node> = vec![];
    let mut index: BTreeMap<(Kind, &str), usize> = BTreeMap::new();
    for p in &s.producers {
        let mut detail = format!("{}/s, acks={}", p.rate, tag(&p.acks));
        if p.transactional {
            detail.push_str(", transactional");
        } else if p.idempotent {
            detail.push_str(", idempotent");
        }
        index.insert((Kind::Producer, &p.name), nodes.len());
        nodes.push(Node {
            kind: Kind::Producer,
            name: p.name.clone(),
            detail,
        });
    }
    for t in &s.topics {
        let mut detail = format!(
            "{} partition{}, RF {}",
            t.partitions,
            if t.partitions == 1 { "" } else { "s" },
            t.replication_factor
        );
        if tag(&t.cleanup_policy) != "delete" {
            let _ = write!(detail, ", {}", tag(&t.cleanup_policy));
        }
        index.insert((Kind::Topic, &t.name), nodes.len());
        nodes.push(Node {
            kind: Kind::Topic,
            name: t.name.clone(),
            detail,
        });
    }
    for g in &s.groups {
        let detail = format!(
            "{} consumer{}, {}, {}",
            g.consumers,
            if g.consumers == 1 { "" } else { "s" },
            tag(&g.commit),
            tag(&g.idempotency)
        );
        index.insert((Kind::Group, &g.name), nodes.len());
        nodes.push(Node {
            kind: Kind::Group,
            name: g.name.clone(),
            detail,
        });
    }
    for sv in &s.services {
        let mut detail = format!("{} workers", sv.workers);
        if let Some(r) = &sv.requests {
            let _ = write!(detail, ", {}/s in", r.rate);
        }
        if sv.idempotent {
            detail.push_str(", idempotent");
        }
        index.insert((Kind::Service, &sv.name), nodes.len());
        nodes.push(Node {
            kind: Kind::Service,
            name: sv.name.clone(),
            detail,
        });
    }
    if nodes.len() > MAX_NODES {
        return format!(
            "<p>{} producers, {} topics and {} groups: too many to draw.</p>",
            s.producers.len(),
            s.topics.len(),
            s.groups.len()
        );
    }
    // Edges (from, to, dashed).
    let mut edges: Vec<(usize, usize, bool)> = vec![];
    let find = |k: Kind, n: &str| index.get(&(k, n)).copied();
    for p in &s.producers {
        if let (Some(a), Some(b)) = (find(Kind::Producer, &p.name), find(Kind::Topic, &p.topic)) {
            edges.push((a, b, false));
        }
    }
    for g in &s.groups {
        let Some(gi) = find(Kind::Group, &g.name) else {
            continue;
        };
        for t in &g.topics {
            if let Some(ti) = find(Kind::Topic, t) {
                edges.push((ti, gi, false));
            }
        }
        let mut emitted: Vec<&str> = g.emit.iter().map(|x| x.topic.as_str()).collect();
        emitted.extend(
            g.saga
                .iter()
                .flat_map(|sg| sg.steps.iter().map(|x| x.topic.as_str())),
        );
        emitted.sort_unstable();
        emitted.dedup();
        for t in emitted {
            if let Some(ti) = find(Kind::Topic, t) {
                edges.push((gi, ti, false));
            }
        }
        if let Some(t) = &g.dead_letter_topic
            && let Some(ti) = find(Kind::Topic, t)
        {
            edges.push((gi, ti, true));
        }
    }
    // Synchronous calls, dashed: caller to callee; a service's `emit`.
    for sv in &s.services {
        let Some(a) = find(Kind::Service, &sv.name) else {
            continue;
        };
        for c in &sv.calls {
            if let Some(b) = find(Kind::Service, &c.service) {
                edges.push((a, b, true));
            }
        }
        if let Some(b) = sv.emit.as_ref().and_then(|e| find(Kind::Topic, &e.topic)) {
            edges.push((a, b, false));
        }
    }
    let col = columns_of(&nodes, &edges);
    let columns = col.iter().max().map_or(1, |m| m + 1);
    let mut rows_in = vec![0usize; columns];
    let mut pos = vec![(0usize, 0usize); nodes.len()];
    for (i, &c) in col.iter().enumerate() {
        pos[i] = (MARGIN + c * COL_W, MARGIN + rows_in[c] * ROW_H);
        rows_in[c] += 1;
    }
    let rows = rows_in.iter().copied().max().unwrap_or(1).max(1);
    // Edges to the next column are curves across the gap; longer ones, and
    // edges back to an earlier column, run along a lane of their own below
    // the boxes of the columns they pass, so no line crosses a box.
    let bottom = |c0: usize, c1: usize| {
        let most = rows_in[c0.min(c1)..=c0.max(c1)]
            .iter()
            .copied()
            .max()
            .unwrap_or(1);
        MARGIN + most.max(1) * ROW_H - (ROW_H - BOX_H)
    };
    let mut lanes = 0usize;
    let mut lowest = MARGIN + (rows - 1) * ROW_H + BOX_H;
    let mut paths: Vec<(String, bool)> = vec![];
    for &(a, b, dashed) in &edges {
        let (ca, cb) = (col[a], col[b]);
        let (ax, ay) = pos[a];
        let (bx, by) = pos[b];
        let path = if cb == ca + 1 {
            let (x1, y1, x2, y2) = (ax + BOX_W, ay + BOX_H / 2, bx, by + BOX_H / 2);
            let mid = (x1 + x2) / 2;
            format!("M {x1} {y1} C {mid} {y1}, {mid} {y2}, {x2} {y2}")
        } else {
            let lane = bottom(ca, cb) + 12 + lanes * 8;
            lanes += 1;
            lowest = lowest.max(lane);
            if cb > ca {
                // Out of the right side, down into the gap, along the lane,
                // up into the left side.
                let (x1, y1, x2, y2) = (ax + BOX_W, ay + BOX_H / 2, bx, by + BOX_H / 2);
                let (g1, g2) = (x1 + (COL_W - BOX_W) / 2, x2 - (COL_W - BOX_W) / 2);
                format!(
                    "M {x1} {y1} C {g1} {y1}, {g1} {y1}, {g1} {} L {g1} {lane} L {g2} {lane} L {g2} {} C {g2} {y2}, {g2} {y2}, {x2} {y2}",
                    y1 + 8,
                    y2 + 8
                )
            } else {
                // Back: out of the bottom, along the lane, into the bottom.
                let (x1, y1, x2, y2) = (
                    ax + BOX_W / 2 + 10,
                    ay + BOX_H,
                    bx + BOX_W / 2 - 10,
                    by + BOX_H,
                );
                format!("M {x1} {y1} L {x1} {lane} L {x2} {lane} L {x2} {y2}")
            }
        };
        paths.push((path, dashed));
    }
    let width = MARGIN * 2 + (columns - 1) * COL_W + BOX_W;
    let height = lowest + MARGIN + 4;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" style=\"max-width:100%;height:auto\" role=\"img\" aria-label=\"topology\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    svg.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n");
    for (path, dashed) in paths {
        let dash = if dashed {
            " stroke-dasharray=\"5 4\""
        } else {
            ""
        };
        let _ = writeln!(
            svg,
            "<path d=\"{path}\" fill=\"none\" stroke=\"#555\" stroke-width=\"1.3\"{dash} marker-end=\"url(#arrow)\"/>"
        );
    }
    for (i, n) in nodes.iter().enumerate() {
        let (x, y) = pos[i];
        let (fill, stroke, label) = match n.kind {
            Kind::Producer => ("#e3f0fb", "#4a7fb0", "producer"),
            Kind::Topic => ("#fff6d6", "#b08a1e", "topic"),
            Kind::Group => ("#e5f5e8", "#3f8a4f", "group"),
            Kind::Service => ("#f3e8f7", "#8a4fa0", "service"),
        };
        let _ = writeln!(
            svg,
            "<g><title>{label} {}: {}</title><rect x=\"{x}\" y=\"{y}\" width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"5\" fill=\"{fill}\" stroke=\"{stroke}\"/><text x=\"{}\" y=\"{}\" font-weight=\"bold\">{}</text><text x=\"{}\" y=\"{}\" fill=\"#444\" font-size=\"11\">{}</text></g>",
            e(&n.name),
            e(&n.detail),
            x + 8,
            y + 17,
            e(&clip(&n.name)),
            x + 8,
            y + 33,
            e(&clip(&n.detail))
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Scenario {
        Scenario::parse(text, "t.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn durations_read_in_their_unit() {
        assert_eq!(duration_text(850_000), "850.0us");
        assert_eq!(duration_text(0), "0s");
        assert_eq!(duration_text(5_010_000), "5.01ms");
        assert_eq!(duration_text(2_110_000_000), "2.11s");
    }

    #[test]
    fn the_topology_places_emitted_topics_after_their_group_and_escapes_names() {
        let s = scenario(
            "[scenario]\nname = \"t\"\nduration = \"1s\"\n[cluster]\nbrokers = 3\n\
             [[topics]]\nname = \"orders\"\npartitions = 6\nreplication_factor = 3\n\
             [[topics]]\nname = \"payments\"\n\
             [[topics]]\nname = \"dlq\"\n\
             [[producers]]\nname = \"shop\"\ntopic = \"orders\"\nrate = 10\nacks = \"all\"\nidempotent = true\n\
             [[groups]]\nname = \"payment\"\ntopics = [\"orders\"]\ndead_letter_topic = \"dlq\"\n\
             [[groups.emit]]\ntopic = \"payments\"\nevent_type = \"PaymentProcessed\"\n\
             [[groups]]\nname = \"ledger\"\ntopics = [\"payments\"]\nconsumers = 2\n",
        );
        let svg = topology_svg(&s);
        // x of each box: producers 10, orders 310, payment 610, payments
        // and dlq 910, ledger 1210.
        for (name, x) in [
            ("shop", 10),
            ("orders", 310),
            ("payment", 610),
            ("payments", 910),
            ("dlq", 910),
            ("ledger", 1210),
        ] {
            let tag = format!(" {name}: ");
            let at = svg.find(&tag).unwrap_or_else(|| panic!("{name} in {svg}"));
            let rect = &svg[at..];
            let x_at = rect.find("<rect x=\"").unwrap() + 9;
            let got: usize = rect[x_at..].split('"').next().unwrap().parse().unwrap();
            assert_eq!(got, x, "{name}");
        }
        assert!(svg.contains("6 partitions, RF 3"), "{svg}");
        assert!(svg.contains("10/s, acks=all, idempotent"), "{svg}");
        assert!(svg.contains("2 consumers"), "{svg}");
        assert_eq!(
            svg.matches("stroke-dasharray").count(),
            1,
            "one dead-letter edge"
        );
        assert_eq!(svg.matches("marker-end").count(), 5, "five edges: {svg}");
    }

    #[test]
    fn columns_follow_the_longest_path_and_cycles_end() {
        let node = |kind| Node {
            kind,
            name: String::new(),
            detail: String::new(),
        };
        // p -> t0 -> g0 -> t1 -> g1, and g1 -> t0 (a cycle back).
        let nodes = vec![
            node(Kind::Producer),
            node(Kind::Topic),
            node(Kind::Group),
            node(Kind::Topic),
            node(Kind::Group),
        ];
        let edges = [
            (0, 1, false),
            (1, 2, false),
            (2, 3, false),
            (3, 4, false),
            (4, 1, false),
        ];
        let col = columns_of(&nodes, &edges);
        assert_eq!(col, [0, 1, 2, 3, 4]);
        // A group reading an upstream and a downstream topic sits after both.
        let edges = [
            (0, 1, false),
            (1, 2, false),
            (2, 3, false),
            (1, 4, false),
            (3, 4, false),
        ];
        assert_eq!(columns_of(&nodes, &edges), [0, 1, 2, 3, 4]);
    }
}
