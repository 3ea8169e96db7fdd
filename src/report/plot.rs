//! Plots of a run, PNG and SVG, drawn with plotters in pure Rust with the
//! DejaVu Sans font bundled in `assets/fonts/` (no system font or image
//! library): the latency percentile curve of every stream (HdrHistogram
//! style, percentiles on a log scale), latency over time, consumer lag per
//! partition over time and throughput over time, with faults shaded on
//! every time axis.
//!
//! Plots are drawn from [`PlotData`], which is built either from a
//! `RunResult` or from a run's CSV files (`eventsim plot DIR`), so that both
//! give the same pictures.

mod curves;

pub use curves::{CurveLine, CurvePlot, render_curves};

use crate::scenario::names::printable;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

/// The bundled font (Bitstream Vera licence: assets/fonts/LICENSE-DejaVu.txt).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        // The font is valid (it is part of the build); a failure would only
        // mean no text, never a crash.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Size of every plot, in pixels.
pub const WIDTH: u32 = 1000;
/// Height of every plot, in pixels.
pub const HEIGHT: u32 = 500;

/// (metric, label, points (t ns, value)).
pub type NamedSeries = (String, String, Vec<(u64, f64)>);

/// What the plots show.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlotData {
    /// The plots' title (the scenario's name and seed).
    pub title: String,
    /// Per stream: (value ns, percentile 0..1) points of its distribution.
    pub latency: Vec<(String, Vec<(u64, f64)>)>,
    /// The time series, as `timeseries.csv` holds them.
    pub series: Vec<NamedSeries>,
    /// Each fault that fired, in firing order.
    pub faults: Vec<FaultSpan>,
    /// When the run ended (simulated ns): the time axes' end.
    pub end_ns: u64,
}

impl PlotData {
    /// The plot data of a finished run.
    pub fn from_run(result: &crate::outcome::RunResult, title: &str) -> PlotData {
        let latency = crate::report::latency_streams(result)
            .into_iter()
            .filter(|(name, _)| plotted(name))
            .filter_map(|(name, s)| Some((name, s.histogram()?)))
            .map(|(name, hist)| {
                // As latency.csv writes them, so that `eventsim plot DIR`
                // draws the same picture from the files.
                let pts = hist
                    .iter_quantiles(5)
                    .map(|it| (it.value_iterated_to(), q12(it.quantile_iterated_to())))
                    .collect();
                (name, pts)
            })
            .collect();
        let series = result
            .series
            .series
            .iter()
            .map(|s| {
                let pts = s
                    .points
                    .iter()
                    .map(|&(t, v)| (t, crate::report::round3(v)))
                    .collect();
                (s.metric.to_string(), s.label.clone(), pts)
            })
            .collect();
        PlotData {
            title: title.to_string(),
            latency,
            series,
            faults: fault_spans(result),
            end_ns: result.sim_time_ns,
        }
    }

    /// The files [`PlotData::from_dir`] reads.
    pub const INPUTS: [&str; 4] = [
        "summary.json",
        "latency.csv",
        "timeseries.csv",
        "faults.csv",
    ];

    /// Read back what a run wrote into `dir`: summary.json, latency.csv,
    /// timeseries.csv and faults.csv.
    pub fn from_dir(dir: &Path) -> Result<(PlotData, crate::report::Summary), String> {
        let read = |f: &str| {
            std::fs::read_to_string(dir.join(f))
                .map_err(|e| format!("{}: {e}", dir.join(f).display()))
        };
        let mut summary: crate::report::Summary = serde_json::from_str(&read("summary.json")?)
            .map_err(|e| format!("{}: {e}", dir.join("summary.json").display()))?;
        // Files may have been edited: nothing unprintable reaches a drawing.
        summary.scenario = printable(&summary.scenario).into_owned();
        let csv_rows = |f: &str| -> Result<Vec<csv::StringRecord>, String> {
            let text = read(f)?;
            csv::Reader::from_reader(text.as_bytes())
                .records()
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{}: {e}", dir.join(f).display()))
        };
        // A field of a CSV row as a number, or an error naming the file,
        // the line, the field and what was found. Floats must be finite
        // (`inf` and `NaN` do not plot).
        fn field<T: std::str::FromStr>(
            path: &Path,
            r: &csv::StringRecord,
            i: usize,
            what: &str,
            expected: &str,
        ) -> Result<T, String> {
            let raw = r.get(i).unwrap_or("");
            raw.trim().parse().map_err(|_| {
                format!(
                    "{}:{}: {what} `{}` is not {expected}",
                    path.display(),
                    r.position().map_or(0, |p| p.line()),
                    printable(raw)
                )
            })
        }
        // Finite and within what eventsim writes (a u64 of nanoseconds is
        // under 2e19): an axis near f64::MAX overflows while it is drawn.
        let finite = |f: &str, r: &csv::StringRecord, i: usize, what: &str| {
            let v: f64 = field(&dir.join(f), r, i, what, "a finite number")?;
            if v.is_finite() && v.abs() <= MAX_PLOTTED {
                Ok(v)
            } else {
                Err(format!(
                    "{}:{}: {what} `{}` is not a finite number of at most 1e30 (no figure eventsim writes is larger)",
                    dir.join(f).display(),
                    r.position().map_or(0, |p| p.line()),
                    printable(r.get(i).unwrap_or(""))
                ))
            }
        };
        let nanos = |f: &str, r: &csv::StringRecord, i: usize, what: &str| -> Result<u64, String> {
            field(&dir.join(f), r, i, what, "a whole number of nanoseconds")
        };
        let mut latency: Vec<(String, Vec<(u64, f64)>)> = Vec::new();
        for r in csv_rows("latency.csv")? {
            let name = r.get(0).unwrap_or("");
            if !plotted(name) {
                continue;
            }
            let v = nanos("latency.csv", &r, 1, "value_ns")?;
            let q = finite("latency.csv", &r, 2, "percentile")?;
            if !(0.0..=100.0).contains(&q) {
                return Err(format!(
                    "{}:{}: percentile `{q}` is not between 0 and 100",
                    dir.join("latency.csv").display(),
                    r.position().map_or(0, |p| p.line()),
                ));
            }
            let name = printable(name);
            match latency.last_mut() {
                Some((n, pts)) if *n == name => pts.push((v, q)),
                _ => latency.push((name.into_owned(), vec![(v, q)])),
            }
        }
        let mut series: Vec<NamedSeries> = Vec::new();
        let rows = csv_rows("timeseries.csv")?;
        if rows.is_empty() {
            return Err(format!(
                "{}: no sample (a run writes at least its first and last)",
                dir.join("timeseries.csv").display()
            ));
        }
        for r in rows {
            let t = nanos("timeseries.csv", &r, 0, "t_ns")?;
            let (m, l) = (r.get(1).unwrap_or(""), r.get(2).unwrap_or(""));
            let v = finite("timeseries.csv", &r, 3, "value")?;
            let (m, l) = (printable(m), printable(l));
            match series.last_mut() {
                Some((sm, sl, pts)) if *sm == m && *sl == l => pts.push((t, v)),
                _ => series.push((m.into_owned(), l.into_owned(), vec![(t, v)])),
            }
        }
        // Each start is paired with the first unpaired end of the same
        // fault kind and target after it, in one pass.
        let mut faults: Vec<FaultSpan> = Vec::new();
        let mut open: std::collections::BTreeMap<
            (String, String),
            std::collections::VecDeque<usize>,
        > = Default::default();
        for r in csv_rows("faults.csv")? {
            let t = nanos("faults.csv", &r, 0, "t_ns")?;
            let id = (
                r.get(2).unwrap_or("").to_string(),
                r.get(3).unwrap_or("").to_string(),
            );
            match r.get(1) {
                Some("start") => {
                    open.entry(id.clone()).or_default().push_back(faults.len());
                    let label = printable(&format!("{} {}", id.0, id.1)).into_owned();
                    faults.push(FaultSpan {
                        start_ns: t,
                        end_ns: summary.sim_time_ns,
                        label,
                        struck: printable(r.get(6).unwrap_or("")).into_owned(),
                        nothing: r.get(7) == Some("true"),
                    });
                }
                Some("end") => {
                    if let Some(i) = open.get_mut(&id).and_then(|q| q.pop_front()) {
                        faults[i].end_ns = t;
                    }
                }
                _ => {}
            }
        }
        for f in &mut faults {
            f.end_ns = f.end_ns.max(f.start_ns);
        }
        let data = PlotData {
            title: summary.scenario.clone(),
            latency,
            series,
            faults,
            end_ns: summary.sim_time_ns,
        };
        Ok((data, summary))
    }

    fn metric(&self, metric: &str) -> Vec<(&str, &[(u64, f64)])> {
        self.series
            .iter()
            .filter(|s| s.0 == metric)
            .map(|s| (s.1.as_str(), s.2.as_slice()))
            .collect()
    }
}

/// A fault that fired, as plots and the page show it.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpan {
    /// When it fired (simulated ns).
    pub start_ns: u64,
    /// When it ended (the run's end if it never did).
    pub end_ns: u64,
    /// `kind target`.
    pub label: String,
    /// What it struck, in words (empty when not known).
    pub struck: String,
    /// It struck nothing (see `faults.csv`'s `struck_nothing`).
    pub nothing: bool,
}

/// Each fault that started, as a span (an end at the run's end if it never ended).
fn fault_spans(r: &crate::outcome::RunResult) -> Vec<FaultSpan> {
    // When each fault ended, by fault index (a fault starts and ends once).
    let mut ends = vec![r.sim_time_ns; r.faults.len()];
    for rec in r.fault_log.iter().filter(|e| e.phase == "end") {
        if let Some(e) = ends.get_mut(rec.fault as usize) {
            *e = rec.t_ns;
        }
    }
    let mut out = Vec::new();
    for rec in r.fault_log.iter().filter(|e| e.phase == "start") {
        let f = &r.faults[rec.fault as usize];
        let target = f.target.as_ref().map_or(String::new(), |t| t.to_string());
        let hit = r.fault_hits.get(rec.fault as usize).cloned().flatten();
        out.push(FaultSpan {
            start_ns: rec.t_ns,
            end_ns: ends[rec.fault as usize].max(rec.t_ns),
            label: format!("{} {target}", f.kind.as_str()),
            struck: hit.as_ref().map_or(String::new(), |h| h.what.clone()),
            nothing: hit.is_some_and(|h| h.nothing),
        });
    }
    out
}

/// The largest magnitude `eventsim plot` reads from a CSV file.
const MAX_PLOTTED: f64 = 1e30;

/// The plots, by file stem, with their axis labels.
pub const PLOTS: [(&str, &str); 5] = [
    ("latency-percentiles", "latency (ms, log scale)"),
    ("latency-over-time", "latency (ms, log scale)"),
    ("lag", "consumer lag (events)"),
    ("throughput", "events per second"),
    ("replication", "under-replicated partitions"),
];

/// One plot drawn twice: a PNG (bytes) and an SVG (text).
pub struct Drawn {
    /// The PNG file's bytes.
    pub png: Vec<u8>,
    /// The SVG file's text.
    pub svg: String,
}

/// Draw with `paint` on an in-memory bitmap and an in-memory SVG: files
/// are written by the caller, whole (see `output`).
fn draw_both(
    what: &str,
    paint_png: impl for<'a> FnOnce(
        &DrawingArea<BitMapBackend<'a>, Shift>,
    ) -> DrawResult<BitMapBackend<'a>>,
    paint_svg: impl for<'a> FnOnce(&DrawingArea<SVGBackend<'a>, Shift>) -> DrawResult<SVGBackend<'a>>,
) -> Result<Drawn, String> {
    register_font();
    let mut rgb = vec![0u8; WIDTH as usize * HEIGHT as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        paint_png(&root).map_err(|e| format!("{what}.png: {e}"))?;
        root.present().map_err(|e| format!("{what}.png: {e}"))?;
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        paint_svg(&root).map_err(|e| format!("{what}.svg: {e}"))?;
        root.present().map_err(|e| format!("{what}.svg: {e}"))?;
    }
    Ok(Drawn {
        png: encode_png(&rgb, WIDTH, HEIGHT).map_err(|e| format!("{what}.png: {e}"))?,
        svg,
    })
}

/// An RGB8 buffer as a PNG file's bytes.
fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Best);
        enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
        let mut w = enc.write_header()?;
        w.write_image_data(rgb)?;
    }
    Ok(out)
}

/// Draw every plot of [`PLOTS`], in that order.
pub fn render_all(data: &PlotData) -> Result<Vec<(&'static str, Drawn)>, String> {
    PLOTS
        .iter()
        .map(|&(stem, _)| {
            draw_both(stem, |r| draw(stem, data, r), |r| draw(stem, data, r)).map(|d| (stem, d))
        })
        .collect()
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend>(
    stem: &str,
    d: &PlotData,
    root: &DrawingArea<DB, Shift>,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    match stem {
        "latency-percentiles" => percentiles(d, root),
        "latency-over-time" => {
            // A colour per group; its p50 dashed, its p99 solid.
            let mut lines = Vec::new();
            let mut pens = Vec::new();
            let p50 = d.metric("e2e_p50_ns");
            let p99 = d.metric("e2e_p99_ns");
            for (g, (label, pts)) in p50.iter().enumerate() {
                lines.push((format!("{label} p50"), to_ms(pts)));
                pens.push(Pen {
                    color: g,
                    dashed: true,
                });
                if let Some((_, pts)) = p99.iter().find(|(l, _)| l == label) {
                    lines.push((format!("{label} p99"), to_ms(pts)));
                    pens.push(Pen {
                        color: g,
                        dashed: false,
                    });
                }
            }
            // A log axis: a spike of seconds must not flatten the
            // milliseconds of the rest of the run.
            over_time(
                d,
                root,
                "end-to-end latency per interval",
                "latency (ms, log scale)",
                lines,
                Axis::Log,
                &pens,
            )
        }
        "replication" => over_time(
            d,
            root,
            "under-replicated partitions (fewer in-sync replicas than replicas)",
            "under-replicated partitions",
            under_replicated(d),
            Axis::Linear,
            &[],
        ),
        "lag" => {
            let (what, lines) = lag_lines(d);
            over_time(
                d,
                root,
                &what,
                "consumer lag (events)",
                lines,
                Axis::Linear,
                &[],
            )
        }
        _ => {
            let mut lines: Vec<(String, Vec<(u64, f64)>)> = d
                .metric("append_rate")
                .into_iter()
                .map(|(l, pts)| (format!("appended to {l}"), pts.to_vec()))
                .collect();
            lines.extend(
                d.metric("apply_rate")
                    .into_iter()
                    .map(|(l, pts)| (format!("applied by {l}"), pts.to_vec())),
            );
            over_time(
                d,
                root,
                "throughput",
                "events per second",
                lines,
                Axis::Linear,
                &[],
            )
        }
    }
}

/// Up to [`PALETTE`]'s size the lag of each (group, partition); beyond,
/// each group's total lag, its legend naming the partition that lagged
/// most, so that every line drawn has its own colour and legend entry.
fn lag_lines(d: &PlotData) -> (String, Vec<Line>) {
    let parts = d.metric("lag_events");
    if parts.len() <= PALETTE.len() {
        let lines = parts
            .into_iter()
            .map(|(l, pts)| (l.to_string(), pts.to_vec()))
            .collect();
        return ("consumer lag per partition".into(), lines);
    }
    let peak = |pts: &[(u64, f64)]| pts.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let lines = d
        .metric("group_lag_events")
        .into_iter()
        .map(|(group, pts)| {
            let prefix = format!("{group}/");
            let worst = parts
                .iter()
                .filter(|(l, _)| l.starts_with(&prefix))
                .max_by(|a, b| peak(a.1).total_cmp(&peak(b.1)))
                .filter(|(_, pts)| peak(pts) > 0.0)
                .map(|(l, pts)| {
                    format!("; most on {} ({})", &l[prefix.len()..], fmt_num(peak(pts)))
                })
                .unwrap_or_default();
            (format!("{group}, all partitions{worst}"), pts.to_vec())
        })
        .collect();
    (
        format!("consumer lag per group ({} partition series)", parts.len()),
        lines,
    )
}

/// Per topic, how many of its partitions had fewer in-sync replicas than
/// replicas at each sample: from each partition's `isr` series (whose
/// first point is the full replica set), or a large topic's
/// `under_replicated_partitions` series.
fn under_replicated(d: &PlotData) -> Vec<Line> {
    type Counts = std::collections::BTreeMap<u64, f64>;
    let mut topics: Vec<(String, Counts)> = Vec::new();
    fn add(topics: &mut Vec<(String, Counts)>, name: &str, pts: impl Iterator<Item = (u64, f64)>) {
        let i = match topics.iter().position(|t| t.0 == name) {
            Some(i) => i,
            None => {
                topics.push((name.to_string(), Counts::new()));
                topics.len() - 1
            }
        };
        for (t, v) in pts {
            *topics[i].1.entry(t).or_default() += v;
        }
    }
    for (label, pts) in d.metric("isr") {
        let name = label.rsplit_once('-').map_or(label, |(t, _)| t);
        let full = pts.first().map_or(0.0, |p| p.1);
        add(
            &mut topics,
            name,
            pts.iter()
                .map(|&(t, v)| (t, if v < full { 1.0 } else { 0.0 })),
        );
    }
    for (label, pts) in d.metric("under_replicated_partitions") {
        add(&mut topics, label, pts.iter().copied());
    }
    topics
        .into_iter()
        .map(|(name, pts)| (name, pts.into_iter().collect()))
        .collect()
}

/// A labelled line: (legend entry, (time ns, value) points).
type Line = (String, Vec<(u64, f64)>);

/// How a line is drawn: its colour's index (see [`line_color`]) and
/// whether it is dashed. Lines without one get their own colour, solid.
#[derive(Clone, Copy)]
struct Pen {
    color: usize,
    dashed: bool,
}

/// How values map to the y axis.
#[derive(Clone, Copy, PartialEq)]
enum Axis {
    Linear,
    /// log10 of the value (values at or below zero leave a gap).
    Log,
}

fn to_ms(pts: &[(u64, f64)]) -> Vec<(u64, f64)> {
    pts.iter().map(|&(t, v)| (t, v / 1e6)).collect()
}

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of line `i`: the palette, then hues spread by the golden
/// angle, so no two lines of a plot share one.
fn line_color(i: usize) -> RGBColor {
    if let Some(&c) = PALETTE.get(i) {
        return c;
    }
    let hue = ((i - PALETTE.len()) as f64 * 0.618_033_988_75).fract();
    let (r, g, b) = HSLColor(hue, 0.65, 0.45).rgb();
    RGBColor(r, g, b)
}

/// A fault kind's colour (`crash`, `pause`, ...; the first word of a
/// fault's label), the same on every plot and on the page.
pub fn fault_rgb(kind: &str) -> (u8, u8, u8) {
    const KINDS: [(&str, (u8, u8, u8)); 7] = [
        ("crash", (214, 39, 40)),
        ("power-loss", (128, 0, 0)),
        ("pause", (255, 127, 14)),
        ("partition", (148, 103, 189)),
        ("latency-spike", (23, 190, 207)),
        ("slow-disk", (140, 86, 75)),
        ("handler-errors", (227, 119, 194)),
    ];
    KINDS
        .iter()
        .find(|k| k.0 == kind)
        .map_or((127, 127, 127), |k| k.1)
}

/// Fault bands: a colour per fault kind, translucent behind the lines.
fn fault_fill(kind: &str) -> RGBAColor {
    let (r, g, b) = fault_rgb(kind);
    RGBAColor(r, g, b, 0.18)
}

/// Lines over simulated time (seconds), faults shaded behind them: a
/// colour per fault kind, each kind in the legend with its faults (`crash
/// broker-1`), and the fault's name over its band when there are few.
fn over_time<DB: DrawingBackend>(
    d: &PlotData,
    root: &DrawingArea<DB, Shift>,
    what: &str,
    y_label: &str,
    lines: Vec<(String, Vec<(u64, f64)>)>,
    axis: Axis,
    pens: &[Pen],
) -> DrawResult<DB> {
    let lines: Vec<(String, Vec<(u64, f64)>)> = match axis {
        Axis::Linear => lines,
        Axis::Log => lines
            .into_iter()
            .map(|(l, pts)| {
                // Nothing to plot (an interval with no event): a gap in
                // the line, not a segment across it.
                let pts = pts
                    .into_iter()
                    .map(|(t, v)| (t, if v > 0.0 { libm::log10(v) } else { f64::NAN }))
                    .collect();
                (l, pts)
            })
            .collect(),
    };
    let x_max = (d.end_ns as f64 / 1e9).max(1e-3);
    let values = || lines.iter().flat_map(|l| l.1.iter().map(|p| p.1));
    let (y_min, y_max) = match axis {
        Axis::Linear => (0.0, values().fold(0.0f64, f64::max).max(1.0) * 1.05),
        Axis::Log => {
            let lo = values().fold(f64::INFINITY, f64::min);
            let hi = values().fold(f64::NEG_INFINITY, f64::max);
            if lo.is_finite() && hi.is_finite() {
                (lo.floor(), hi.ceil().max(lo.floor() + 1.0))
            } else {
                (0.0, 1.0)
            }
        }
    };
    let decades = (y_max - y_min).round() as usize + 1;
    let mut chart = ChartBuilder::on(root)
        .caption(format!("{}: {what}", d.title), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, y_min..y_max)?;
    let log_label = |y: &f64| fmt_num(libm::pow(10.0, *y));
    let lin_label = |y: &f64| fmt_num(*y);
    let mut mesh = chart.configure_mesh();
    mesh.x_desc("simulated time (s)")
        .y_desc(y_label)
        .x_label_formatter(&|x| fmt_num(*x))
        .light_line_style(WHITE.mix(0.0))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14));
    if axis == Axis::Log {
        mesh.y_labels(decades.clamp(2, 12))
            .y_label_formatter(&log_label);
    } else {
        mesh.y_label_formatter(&lin_label);
    }
    mesh.draw()?;
    // One legend entry per fault kind, naming its faults.
    let mut kinds: Vec<(&str, Vec<&str>)> = Vec::new();
    for FaultSpan { label, .. } in &d.faults {
        let kind = label.split(' ').next().unwrap_or("");
        match kinds.iter_mut().find(|k| k.0 == kind) {
            Some(k) => k.1.push(label),
            None => kinds.push((kind, vec![label])),
        }
    }
    let few = d.faults.len() <= 8;
    for (n, f) in d.faults.iter().enumerate() {
        let (start, end, label) = (&f.start_ns, &f.end_ns, &f.label);
        let kind = label.split(' ').next().unwrap_or("");
        let fill = fault_fill(kind);
        let (x0, x1) = (
            *start as f64 / 1e9,
            (*end as f64 / 1e9).max(*start as f64 / 1e9 + x_max / 500.0),
        );
        let s = chart.draw_series(std::iter::once(Rectangle::new(
            [(x0, y_min), (x1, y_max)],
            fill.filled(),
        )))?;
        if let Some(k) = kinds.iter_mut().find(|k| k.0 == kind && !k.1.is_empty()) {
            let named = if k.1.len() <= 2 {
                k.1.join(", ")
            } else {
                format!("{} ({} faults)", k.0, k.1.len())
            };
            k.1.clear(); // labelled once
            s.label(named)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], fill.filled()));
        }
        if few {
            // Staggered, so that overlapping faults' names do not overprint.
            let y = y_max - (n % 4) as f64 * (y_max - y_min) * 0.045;
            chart.draw_series(std::iter::once(Text::new(
                label.clone(),
                (x0, y),
                ("sans-serif", 11).into_font().color(&BLACK.mix(0.7)),
            )))?;
        }
    }
    for (i, (label, pts)) in lines.iter().enumerate() {
        let pen = pens.get(i).copied().unwrap_or(Pen {
            color: i,
            dashed: false,
        });
        let color = line_color(pen.color);
        // One stroke per run of points between gaps (NaN); the first
        // carries the legend.
        let mut runs: Vec<&[(u64, f64)]> = pts
            .split(|p| p.1.is_nan())
            .filter(|r| !r.is_empty())
            .collect();
        if runs.is_empty() {
            runs.push(&[]);
        }
        for (k, run) in runs.into_iter().enumerate() {
            let points = run.iter().map(|&(t, v)| (t as f64 / 1e9, v));
            let s = if pen.dashed {
                chart.draw_series(DashedLineSeries::new(points, 6, 4, color.stroke_width(2)))?
            } else {
                chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?
            };
            if k == 0 {
                let dashed = pen.dashed;
                s.label(label.clone()).legend(move |(x, y)| {
                    let style = color.stroke_width(2);
                    let (a, b) = if dashed { (6, 10) } else { (8, 8) };
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (a, 0)], style)
                        + PathElement::new(vec![(b, 0), (16, 0)], style)
                });
            }
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 12))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    Ok(())
}

/// The HdrHistogram-style percentile plot: x = log10(1 / (1 - percentile)).
fn percentiles<DB: DrawingBackend>(d: &PlotData, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
    let x_of = |q: f64| libm::log10(1.0 / (1.0 - q.min(0.999_999)));
    let x_max = d
        .latency
        .iter()
        .flat_map(|l| l.1.iter().map(|p| x_of(p.1)))
        .fold(3.0f64, f64::max);
    let values = || {
        d.latency
            .iter()
            .flat_map(|l| l.1.iter().map(|p| p.0 as f64 / 1e6))
    };
    let y_max = values().fold(0.0f64, f64::max).max(1e-3) * 1.5;
    let y_min = values()
        .filter(|&v| v > 0.0)
        .fold(f64::MAX, f64::min)
        .min(y_max / 10.0)
        / 1.5;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("{}: latency by percentile", d.title),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, (y_min..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc(PLOTS[0].1)
        .y_label_formatter(&|y| fmt_num(*y))
        .x_labels(8)
        .x_label_formatter(&|x| {
            let p = 100.0 * (1.0 - libm::pow(10.0, -*x));
            if p < 99.0 {
                format!("{p:.0}%")
            } else {
                let digits = (*x - 2.0).round().max(0.0) as usize;
                format!("{p:.digits$}%")
            }
        })
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .draw()?;
    // Identical distributions (a group's end to end and from origin when
    // nothing it reads was emitted) are one line named for each.
    let mut drawn: Vec<(String, &Vec<(u64, f64)>)> = Vec::new();
    for (name, pts) in &d.latency {
        let name = stream_label(name);
        match drawn.iter_mut().find(|(_, p)| *p == pts) {
            Some((label, _)) => *label = format!("{label} = {name}"),
            None => drawn.push((name, pts)),
        }
    }
    for (i, (name, pts)) in drawn.into_iter().enumerate() {
        let color = line_color(i);
        chart
            .draw_series(LineSeries::new(
                pts.iter()
                    .map(|&(v, q)| (x_of(q), (v as f64 / 1e6).max(y_min))),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 12))
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    Ok(())
}

/// A latency stream's name as the page's tables write it:
/// `end_to_end_from_origin/analytics` -> `from origin, analytics`.
fn stream_label(name: &str) -> String {
    let (kind, rest) = name.split_once('/').unwrap_or((name, ""));
    let kind = match kind {
        "produce_to_ack" => "produce -> ack",
        "end_to_end" => "end to end",
        "end_to_end_from_origin" => "from origin",
        "end_to_end_by_topic" => "end to end, topic",
        other => other,
    };
    if rest.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}, {rest}")
    }
}

/// A tick label: no needless decimals.
fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        let s = format!("{v:.1}");
        s.strip_suffix(".0").map_or(s.clone(), str::to_string)
    } else {
        format!("{v:.3}").trim_end_matches('0').to_string()
    }
}

/// A percentile as latency.csv writes it (12 decimals).
fn q12(q: f64) -> f64 {
    format!("{q:.12}").parse().unwrap_or(q)
}

/// Latency streams the percentile plot shows (not the per-producer and
/// per-topic breakdowns, which the CSV and the page keep).
fn plotted(stream: &str) -> bool {
    !stream.starts_with("produce_to_ack/") && !stream.starts_with("end_to_end_by_topic/")
}

/// A bar chart with error bars (a comparison of variants), PNG and SVG.
/// One bar of a comparison chart: a variant's mean over seeds, its 95%
/// interval (NaN for one seed) and the checks that failed in some seed
/// (`convergence (4/4)`).
pub struct Bar {
    /// The variant's label (`partitioner=murmur2`).
    pub label: String,
    /// The mean over seeds.
    pub mean: f64,
    /// Half-width of the 95% interval (NaN for one seed).
    pub ci: f64,
    /// Failing checks with how many seeds they failed in (`convergence (4/4)`).
    pub failed: Vec<String>,
}

/// A bar chart of a comparison, with error bars, each bar's value written
/// above it, bars of variants with a failed check in red with the checks
/// named, and a log axis when the bars differ by more than 30 times (so
/// that a small bar stays visible beside a tall one).
pub fn render_bars(title: &str, y_label: &str, bars: &[Bar]) -> Result<Drawn, String> {
    draw_both(
        title,
        |r| draw_bars(title, y_label, bars, r),
        |r| draw_bars(title, y_label, bars, r),
    )
}

/// Bars of variants whose checks all passed, and of those with a failure.
const BAR_PASS: RGBColor = RGBColor(31, 119, 180);
const BAR_FAIL: RGBColor = RGBColor(214, 39, 40);

fn draw_bars<DB: DrawingBackend>(
    title: &str,
    y_label: &str,
    bars: &[Bar],
    root: &DrawingArea<DB, Shift>,
) -> DrawResult<DB> {
    use plotters::coord::ranged1d::SegmentValue;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    root.fill(&WHITE)?;
    let n = bars.len().max(1) as u32;
    let top = |b: &Bar| if b.ci.is_nan() { b.mean } else { b.mean + b.ci };
    // Every bar at zero (no flow was rejected with effects): an axis of 0..1,
    // not of 0..1e-9 with unreadable ticks.
    let max_top = bars
        .iter()
        .map(top)
        .filter(|t| t.is_finite())
        .fold(0.0f64, f64::max);
    let max_top = if max_top > 0.0 { max_top } else { 1.0 };
    let min_pos = bars
        .iter()
        .map(|b| b.mean)
        .filter(|&m| m > 0.0)
        .fold(f64::INFINITY, f64::min);
    let log = min_pos.is_finite() && max_top / min_pos > 30.0;
    // Room above the tallest bar for its value and failed checks.
    let lines = 1 + bars.iter().map(|b| b.failed.len()).max().unwrap_or(0);
    let legend = bars.iter().any(|b| !b.failed.is_empty());
    let room = 0.07 * lines as f64 + 0.05 + if legend { 0.12 } else { 0.0 };
    let (y_lo, y_hi) = if log {
        // At least half a decade below the smallest bar, so it shows.
        let lo = (libm::log10(min_pos) - 0.5).floor();
        let hi = libm::log10(max_top);
        (lo, hi + (hi - lo) * room / (1.0 - room))
    } else {
        (0.0, max_top / (1.0 - room))
    };
    // A value's height on the axis (the axis floor for what a log axis
    // cannot show).
    let at = |v: f64| {
        if !log {
            v.max(0.0)
        } else if v > 0.0 {
            libm::log10(v).max(y_lo)
        } else {
            y_lo
        }
    };
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        // `into_segmented` makes one segment per value of the range, both ends included.
        .build_cartesian_2d((0u32..(n - 1).max(1)).into_segmented(), y_lo..y_hi)?;
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    let y_desc = if log {
        format!("{y_label}, log scale")
    } else {
        y_label.to_string()
    };
    // The room above the bars is for their text: no tick label there
    // beyond the decade of the tallest (an axis to 10,000,000 for data
    // under 30,000 reads as data).
    let top_decade = libm::log10(max_top).ceil();
    let log_label = |y: &f64| {
        if *y > top_decade + 1e-9 {
            String::new()
        } else {
            fmt_num(libm::pow(10.0, *y))
        }
    };
    let lin_label = |y: &f64| fmt_num(*y);
    let x_label = |x: &SegmentValue<u32>| match x {
        SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let mut mesh = chart.configure_mesh();
    mesh.disable_x_mesh()
        .light_line_style(WHITE.mix(0.0))
        .x_desc("variant")
        .y_desc(y_desc)
        .x_labels(bars.len().max(1))
        .x_label_formatter(&x_label)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14));
    if log {
        let decades = (y_hi - y_lo).ceil() as usize + 1;
        mesh.y_labels(decades.clamp(2, 12))
            .y_label_formatter(&log_label);
    } else {
        mesh.y_label_formatter(&lin_label);
    }
    mesh.draw()?;
    let text = ("sans-serif", 12)
        .into_text_style(root)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    let failed_text = text.color(&BAR_FAIL);
    for (i, b) in bars.iter().enumerate() {
        let i = i as u32;
        let color = if b.failed.is_empty() {
            BAR_PASS
        } else {
            BAR_FAIL
        };
        if at(b.mean) > y_lo {
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), y_lo),
                    (SegmentValue::Exact(i + 1), at(b.mean)),
                ],
                color.mix(0.7).filled(),
            );
            bar.set_margin(0, 0, 14, 14);
            chart.draw_series(std::iter::once(bar))?;
        }
        if !b.ci.is_nan() {
            chart.draw_series(std::iter::once(ErrorBar::new_vertical(
                SegmentValue::CenterOf(i),
                at(b.mean - b.ci),
                at(b.mean),
                at(b.mean + b.ci),
                BLACK.stroke_width(2),
                12,
            )))?;
        }
        // The value just above the bar (and its interval), the failed
        // checks above that.
        let anchor = (SegmentValue::CenterOf(i), at(top(b)));
        chart.draw_series(std::iter::once(
            EmptyElement::at(anchor.clone()) + Text::new(fmt_num(b.mean), (0, -9), text.clone()),
        ))?;
        for (k, f) in b.failed.iter().enumerate() {
            let dy = -9 - 14 * (k as i32 + 1);
            chart.draw_series(std::iter::once(
                EmptyElement::at(anchor.clone())
                    + Text::new(f.clone(), (0, dy), failed_text.clone()),
            ))?;
        }
    }
    if legend {
        for (label, color) in [
            ("every check passed", BAR_PASS),
            ("a check failed (named above the bar)", BAR_FAIL),
        ] {
            chart
                .draw_series(std::iter::empty::<Rectangle<(SegmentValue<u32>, f64)>>())?
                .label(label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.mix(0.7).filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 12))
            .draw()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SVG of the latency-over-time plot for one group's p99 (its p50,
    /// dashed, has no point).
    fn latency_svg(values: &[f64]) -> String {
        let pts: Vec<(u64, f64)> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| ((i as u64 + 1) * 1_000_000_000, v))
            .collect();
        let d = PlotData {
            title: "t".into(),
            series: vec![
                ("e2e_p50_ns".into(), "g".into(), Vec::new()),
                ("e2e_p99_ns".into(), "g".into(), pts),
            ],
            end_ns: values.len() as u64 * 1_000_000_000,
            ..PlotData::default()
        };
        let all = render_all(&d).unwrap();
        all.into_iter()
            .find(|(stem, _)| *stem == "latency-over-time")
            .unwrap()
            .1
            .svg
    }

    #[test]
    fn intervals_without_events_leave_a_gap_in_a_latency_line() {
        // Two strokes around the empty intervals, not one drawn across
        // them; without a gap, one.
        let strokes = |svg: &str| svg.matches("<polyline").count();
        let whole = strokes(&latency_svg(&[3e6, 4e6, 3e6, 3e6, 3e6, 5e6]));
        let gapped = strokes(&latency_svg(&[3e6, 4e6, 0.0, 0.0, 3e6, 5e6]));
        assert_eq!(gapped, whole + 1, "{whole} {gapped}");
    }

    #[test]
    fn under_replicated_counts_partitions_below_their_full_isr_per_topic() {
        let pts = |v: &[f64]| -> Vec<(u64, f64)> {
            v.iter()
                .enumerate()
                .map(|(i, &x)| (i as u64 * 100, x))
                .collect()
        };
        let d = PlotData {
            series: vec![
                ("isr".into(), "orders-0".into(), pts(&[3.0, 2.0, 2.0, 3.0])),
                ("isr".into(), "orders-1".into(), pts(&[3.0, 3.0, 1.0, 3.0])),
                (
                    "isr".into(),
                    "my-topic-0".into(),
                    pts(&[2.0, 1.0, 2.0, 2.0]),
                ),
                (
                    "under_replicated_partitions".into(),
                    "big".into(),
                    pts(&[0.0, 40.0, 7.0, 0.0]),
                ),
            ],
            ..PlotData::default()
        };
        let lines = under_replicated(&d);
        let names: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
        assert_eq!(names, ["orders", "my-topic", "big"]);
        let values = |i: usize| lines[i].1.iter().map(|p| p.1).collect::<Vec<_>>();
        assert_eq!(values(0), [0.0, 1.0, 2.0, 0.0]);
        assert_eq!(values(1), [0.0, 1.0, 0.0, 0.0]);
        assert_eq!(values(2), [0.0, 40.0, 7.0, 0.0]);
    }

    #[test]
    fn latency_streams_read_as_the_tables_and_identical_ones_share_a_line() {
        assert_eq!(stream_label("produce_to_ack"), "produce -> ack");
        assert_eq!(stream_label("end_to_end/pay"), "end to end, pay");
        assert_eq!(
            stream_label("end_to_end_from_origin/analytics"),
            "from origin, analytics"
        );
        let same = vec![(1_000_000u64, 0.5), (2_000_000, 0.99)];
        let d = PlotData {
            latency: vec![
                ("end_to_end/pay".into(), same.clone()),
                ("end_to_end/ship".into(), vec![(5_000_000, 0.5)]),
                ("end_to_end_from_origin/pay".into(), same),
            ],
            ..PlotData::default()
        };
        let svg = render_all(&d)
            .unwrap()
            .into_iter()
            .find(|(stem, _)| *stem == "latency-percentiles")
            .unwrap()
            .1
            .svg;
        assert!(svg.contains("end to end, pay = from origin, pay"), "{svg}");
        assert_eq!(
            svg.matches("from origin, pay").count(),
            1,
            "one legend entry"
        );
        assert_eq!(svg.matches("end to end, ship").count(), 1);
    }

    #[test]
    fn a_log_bar_axis_has_no_tick_label_above_the_tallest_bar_s_decade() {
        let bar = |label: &str, mean: f64| Bar {
            label: label.into(),
            mean,
            ci: mean / 10.0,
            failed: vec!["a (1/3)".into(), "b (2/3)".into(), "c (3/3)".into()],
        };
        let d = render_bars("t", "p99 (ms)", &[bar("a", 120.0), bar("b", 27_000.0)]).unwrap();
        assert!(d.svg.contains("log scale"));
        assert!(d.svg.contains(">\n10000\n<"), "{}", d.svg);
        for above in [">\n1000000\n<", ">\n10000000\n<"] {
            assert!(!d.svg.contains(above), "{above}");
        }
    }
}
