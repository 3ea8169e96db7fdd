//! The command line: parse arguments, call the library, print, and map
//! outcomes to exit codes (0 pass, 1 an invariant failed, 2 bad input or
//! usage, 3 inconclusive: a budget or an interrupt stopped the run before
//! it was decided, 4 incomplete: a sweep or comparison interrupted, a merge
//! with seeds missing; 130 a run interrupted twice, nothing written).

use crate::report::{self, Perf, Summary};
use crate::scenario::Scenario;
use clap::{Parser, Subcommand};
use std::cell::RefCell;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "eventsim",
    version,
    about = "Deterministic simulation of event-driven architectures"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Memory budget, e.g. 4GiB (default: half of this machine's memory).
    /// A scenario estimated to need more is refused; a run whose memory
    /// grows past it stops, inconclusive.
    #[arg(long, global = true, value_name = "SIZE")]
    max_memory: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and write its report.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Master seed (default: the scenario's `seed`, else 0).
        #[arg(long)]
        seed: Option<u64>,
        /// Output folder (default: reports/<scenario-name>/seed-<N>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print nothing but errors.
        #[arg(long)]
        quiet: bool,
        /// Also write the run's history (every observation) as JSON lines.
        #[arg(long, value_name = "FILE")]
        history: Option<PathBuf>,
        /// Also write a Chrome trace-event JSON file (opens in ui.perfetto.dev).
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
    },
    /// Shrink a failing run to a small standalone repro scenario.
    Shrink {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// The seed of the failing run (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// The invariant to keep violating (default: the first that fails).
        #[arg(long)]
        invariant: Option<String>,
        /// Where to write the repro (default: reports/<name>/shrunk-seed-<N>.toml).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the invariant checkers offline on a history written by `run --history`.
    CheckHistory {
        /// The history file (JSON lines).
        history: PathBuf,
        /// The scenario the history was recorded from.
        #[arg(long)]
        scenario: PathBuf,
    },
    /// Run a scenario over many seeds in parallel; one JSON line per seed.
    Sweep {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Seeds A..B (B excluded), A..=B, or one seed A, e.g. 0..1000.
        #[arg(long)]
        seeds: String,
        /// Parallel runs (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Run only shard I of N (0-based): the seeds at positions I, I+N, ...
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Stop starting new seeds after the first failure.
        #[arg(long)]
        fail_fast: bool,
        /// Skip the seeds the output folder already holds results for (from
        /// an interrupted or shorter run of the same sweep).
        #[arg(long)]
        resume: bool,
        /// Output folder (default: reports/<name>/sweep-A..B[-shard-I-of-N]/).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compare design variants over seeds: the cross product of --vary values x seeds.
    Compare {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// PATH=V1,V2,... e.g. producers.order-service.partitioner=murmur2,round-robin (repeatable). Quote a dotted name ("clicks.v1"); commas inside quotes, {} and [] do not split values.
        #[arg(long = "vary", required = true, value_name = "PATH=V1,V2")]
        vary: Vec<String>,
        /// Seeds A..B (B excluded).
        #[arg(long)]
        seeds: String,
        /// Parallel runs (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Run only shard I of N (0-based) of the variant x seed runs.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Output folder (default: reports/<name>/compare/).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Combine the shards of a sweep (sweep.jsonl) or of a comparison (compare-runs.jsonl).
    Merge {
        /// Folders holding a sweep.jsonl each.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where to write the merged sweep.jsonl (default: the current folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Redraw the plots and index.html of a run from its files.
    Plot {
        /// The run's output folder (with summary.json and the CSV files).
        dir: PathBuf,
    },
    /// Validate a scenario file without running it.
    Check {
        /// The scenario file (TOML).
        scenario: PathBuf,
    },
}

/// Exit status: the run held every checked invariant.
pub const EXIT_PASS: i32 = 0;
/// Exit status: an invariant was violated.
pub const EXIT_FAIL: i32 = 1;
/// Exit status: bad input or usage.
pub const EXIT_USAGE: i32 = 2;
/// Exit status: a budget stopped the run before the checkers could decide
/// (and none found a violation), or a sweep found only such seeds.
pub const EXIT_INCONCLUSIVE: i32 = 3;
/// Exit status: a sweep or comparison was interrupted before every run
/// finished, or a merge found seeds missing (what finished is kept).
pub const EXIT_INCOMPLETE: i32 = 4;
/// Exit status: a run interrupted a second time, before it wrote its
/// report (128 + SIGINT, as a shell reports a process Ctrl-C killed).
const EXIT_INTERRUPTED_TWICE: i32 = 130;

/// Entry point of the binary; returns the exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_USAGE
            } else {
                EXIT_PASS
            };
            let _ = e.print();
            return code;
        }
    };
    if let Some(m) = &cli.max_memory {
        match crate::budget::parse_size(m) {
            Ok(bytes) => crate::budget::set_max_memory(bytes),
            Err(e) => {
                eprintln!("error: --max-memory: {e}");
                return EXIT_USAGE;
            }
        }
    }
    match cli.command {
        Command::Run {
            scenario,
            seed,
            out,
            quiet,
            history,
            trace,
        } => run(&scenario, seed, out, quiet, history, trace),
        Command::CheckHistory { history, scenario } => check_history(&history, &scenario),
        Command::Shrink {
            scenario,
            seed,
            invariant,
            out,
        } => shrink(&scenario, seed, invariant.as_deref(), out),
        Command::Check { scenario } => check(&scenario),
        Command::Plot { dir } => plot(&dir),
        Command::Sweep {
            scenario,
            seeds,
            jobs,
            shard,
            fail_fast,
            resume,
            out,
        } => sweep(
            &scenario,
            &seeds,
            jobs,
            shard.as_deref(),
            fail_fast,
            resume,
            out,
        ),
        Command::Merge { dirs, out } => merge(&dirs, out),
        Command::Compare {
            scenario,
            vary,
            seeds,
            jobs,
            shard,
            out,
        } => compare(&scenario, &vary, &seeds, jobs, shard.as_deref(), out),
    }
}

fn load(path: &Path) -> Result<Scenario, i32> {
    load_with_text(path).map(|(s, _)| s)
}

/// The scenario and its file's text (which a run's report keeps).
fn load_with_text(path: &Path) -> Result<(Scenario, String), i32> {
    Scenario::load_with_text(path).map_err(|e| {
        // Rendered as diagnostics, each beginning `error: `.
        eprintln!("{e}");
        EXIT_USAGE
    })
}

fn check(path: &Path) -> i32 {
    match load(path) {
        Ok(s) => {
            println!(
                "{}: ok (scenario `{}`: {} topic(s), {} producer(s), {} group(s))",
                path.display(),
                s.scenario.name,
                s.topics.len(),
                s.producers.len(),
                s.groups.len()
            );
            EXIT_PASS
        }
        Err(code) => code,
    }
}

fn run(
    path: &Path,
    seed: Option<u64>,
    out: Option<PathBuf>,
    quiet: bool,
    history: Option<PathBuf>,
    trace: Option<PathBuf>,
) -> i32 {
    let (scenario, text) = match load_with_text(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seed = seed.unwrap_or(scenario.scenario.seed);
    let dir = out.unwrap_or_else(|| {
        PathBuf::from("reports")
            .join(sanitize(&scenario.scenario.name))
            .join(format!("seed-{seed}"))
    });
    // Every output is checked, and the folder locked, before simulating.
    let report_files: Vec<(String, PathBuf)> = report::RUN_FILES
        .iter()
        .map(|f| (format!("the report's {f}"), dir.join(f)))
        .collect();
    let mut outputs: Vec<(&str, &Path)> = Vec::new();
    if let Some(h) = &history {
        outputs.push(("--history", h));
    }
    if let Some(t) = &trace {
        outputs.push(("--trace", t));
    }
    outputs.extend(report_files.iter().map(|(w, p)| (w.as_str(), p.as_path())));
    if let Err(e) = crate::output::refuse_overlaps(&[path], &outputs) {
        eprintln!("error: {e}");
        return EXIT_USAGE;
    }
    // Ctrl-C or SIGTERM: the run stops at its next check and writes its
    // report (inconclusive, stopped_by "interrupted"); a second one exits
    // at once, writing nothing. Installed before the folder is locked.
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(EXIT_INTERRUPTED_TWICE);
        }
        eprintln!(
            "\ninterrupted: stopping the run and writing its report (interrupt again to stop at once)"
        );
    });
    let mut outdir = match crate::output::OutDir::lock(&dir) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let started = Instant::now();
    let opened = |what: &str, p: &Path| {
        crate::output::StreamFile::create(p).map_err(|e| {
            eprintln!("error: cannot write the {what} to {}: {e}", p.display());
            EXIT_USAGE
        })
    };
    let mut history_file = match history.as_deref().map(|h| opened("history", h)) {
        Some(Err(code)) => return code,
        x => x.map(Result::unwrap),
    };
    let mut trace_file = match trace.as_deref().map(|t| opened("trace", t)) {
        Some(Err(code)) => return code,
        x => x.map(Result::unwrap),
    };
    let writer = match history_file
        .as_mut()
        .map(|f| open_history(f, &scenario, seed))
    {
        None => None,
        Some(Ok(w)) => Some(w),
        Some(Err(e)) => {
            eprintln!("error: cannot write the history: {e}");
            return EXIT_USAGE;
        }
    };
    let mut extra: Vec<Box<dyn crate::history::Observer>> = Vec::new();
    if let Some(w) = &writer {
        extra.push(Box::new(crate::history::Shared(w.clone())));
    }
    type TraceFile = crate::trace::TraceWriter<std::io::BufWriter<std::fs::File>>;
    let mut tracer: Option<Rc<RefCell<TraceFile>>> = None;
    if let Some(f) = &mut trace_file {
        // The catalog and fault plan of this very run.
        let world = crate::World::new(&scenario, seed);
        let opened = crate::trace::TraceWriter::new(
            std::io::BufWriter::new(f.take_file()),
            world.catalog(),
            world.fault_plan(),
            &scenario
                .groups
                .iter()
                .map(|g| g.auto_offset_reset == crate::scenario::OffsetReset::Earliest)
                .collect::<Vec<_>>(),
        );
        match opened {
            Ok(w) => {
                let w = Rc::new(RefCell::new(w));
                extra.push(Box::new(crate::history::Shared(w.clone())));
                tracer = Some(w);
            }
            Err(e) => {
                eprintln!("error: cannot write the trace: {e}");
                return EXIT_USAGE;
            }
        }
    }
    let checked =
        crate::run_checked_with(&scenario, seed, extra, progress_bar(quiet), Some(interrupt));
    if let (Some(w), Some(f), Some(t)) = (tracer, trace_file, trace.as_ref()) {
        let w = Rc::try_unwrap(w)
            .ok()
            .expect("the run is over")
            .into_inner();
        if let Err(e) = w.finish().and_then(|()| f.commit()) {
            eprintln!("error: cannot write the trace to {}: {e}", t.display());
            return EXIT_USAGE;
        }
    }
    let result = &checked.result;
    if let (Some(w), Some(f), Some(h)) = (writer, history_file, history.as_ref()) {
        let w = Rc::try_unwrap(w)
            .ok()
            .expect("the run is over")
            .into_inner();
        let trailer = crate::history::Trailer {
            end_ns: result.sim_time_ns,
            production_end_ns: result.production_end_ns,
            stopped_by: result.stop_reason.as_str().to_string(),
        };
        if let Err(e) = w.finish(&trailer).and_then(|()| f.commit()) {
            eprintln!("error: cannot write the history to {}: {e}", h.display());
            return EXIT_USAGE;
        }
    }
    let repro = repro_command(&["run"], path, Some(seed));
    let summary = Summary::checked(&checked, repro);
    let data = crate::plot::PlotData::from_run(result, &scenario.scenario.name);
    let wall = started.elapsed();
    let trace_name = trace.as_ref().map(|t| t.display().to_string());
    let page = crate::page::Context {
        scenario: Some(&scenario),
        scenario_text: Some(&text),
        trace: trace_name.as_deref(),
    };
    let written = write_run_report(&mut outdir, &checked, &summary, &data, &page, wall)
        .and_then(|perf| outdir.finish().map(|()| perf));
    let perf = match written {
        Ok(perf) => perf,
        Err(e) => {
            eprintln!("error: cannot write the report to {}: {e}", dir.display());
            return EXIT_USAGE;
        }
    };
    if !quiet {
        print_summary(&summary, &perf, &dir);
        print_violations(&summary, &checked.violations);
    }
    exit_status(&summary.verdict)
}

/// Write a run's report into its locked folder: the data files and plots
/// first, then the files that carry the verdict (`index.html`,
/// `summary.json`), then `perf.json`. `wall` is the simulation's; the peak
/// memory in `perf.json` is read after everything else is written, so it
/// covers the writing too. The caller finishes with the manifest.
fn write_run_report(
    out: &mut crate::output::OutDir,
    checked: &crate::Checked,
    summary: &Summary,
    data: &crate::plot::PlotData,
    page: &crate::page::Context,
    wall: std::time::Duration,
) -> std::io::Result<Perf> {
    let result = &checked.result;
    out.begin(&["summary.json", "index.html", "violations.jsonl"])?;
    if let Some(text) = page.scenario_text {
        out.write("scenario.toml", text.as_bytes())?;
    }
    out.write("faults.csv", report::faults_csv(result).as_bytes())?;
    out.write("faults.toml", report::faults_toml(result).as_bytes())?;
    out.write("timeseries.csv", report::timeseries_csv(result).as_bytes())?;
    out.write("latency.csv", report::latency_csv(result).as_bytes())?;
    let svgs = write_plots(out, data)?;
    out.write(
        "violations.jsonl",
        report::violations_jsonl(&checked.violations).as_bytes(),
    )?;
    out.write(
        "index.html",
        crate::page::index_html(summary, &data.faults, &svgs, page).as_bytes(),
    )?;
    out.write("summary.json", summary.to_json().as_bytes())?;
    let perf = Perf::new(result, wall);
    out.write("perf.json", perf.to_json().as_bytes())?;
    Ok(perf)
}

/// Draw the plots into `out`; their SVG text, for the page.
fn write_plots(
    out: &mut crate::output::OutDir,
    data: &crate::plot::PlotData,
) -> std::io::Result<Vec<(String, String)>> {
    let drawn = crate::plot::render_all(data).map_err(std::io::Error::other)?;
    let mut svgs = Vec::new();
    for (stem, d) in drawn {
        out.write(&format!("{stem}.png"), &d.png)?;
        out.write(&format!("{stem}.svg"), d.svg.as_bytes())?;
        svgs.push((stem.to_string(), d.svg));
    }
    Ok(svgs)
}

/// The exit status of a verdict.
fn exit_status(verdict: &str) -> i32 {
    match verdict {
        "pass" => EXIT_PASS,
        "inconclusive" => EXIT_INCONCLUSIVE,
        _ => EXIT_FAIL,
    }
}

/// A scenario name as a single safe path component.
fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        "scenario".into()
    } else {
        s
    }
}

fn ms(ns: u64) -> String {
    crate::page::duration_text(ns)
}

fn print_summary(s: &Summary, p: &Perf, dir: &Path) {
    let c = &s.counts;
    println!(
        "eventsim {}: scenario `{}`, seed {}",
        s.version, s.scenario, s.seed
    );
    println!(
        "  simulated {:.3}s ({}) with {} kernel events in {:.3}s wall: {:.2} M kernel events/s, {:.2} M events produced/s, peak memory {}",
        s.sim_time_ns as f64 / 1e9,
        s.stopped_by,
        s.kernel_events,
        p.wall_time_s,
        p.kernel_events_per_s / 1e6,
        p.events_produced_per_s / 1e6,
        p.peak_memory_bytes
            .map_or("unknown".to_string(), |b| format!("{} MiB", b / (1 << 20)))
    );
    println!(
        "  produced {}  acked {}  appended {}  delivered {}  applied {}  duplicates delivered {} / applied {}",
        c.produced,
        c.acked,
        c.appended,
        c.delivered,
        c.applied,
        c.duplicates_delivered,
        c.duplicates_applied
    );
    let l = &s.latency_ns.produce_to_ack;
    println!(
        "  produce->ack              p50 {:>9}  p99 {:>9}  max {:>9}",
        ms(l.p50),
        ms(l.p99),
        ms(l.max)
    );
    for (g, l) in &s.latency_ns.end_to_end {
        println!(
            "  end-to-end {:<14} p50 {:>9}  p99 {:>9}  max {:>9}",
            g,
            ms(l.p50),
            ms(l.p99),
            ms(l.max)
        );
    }
    println!(
        "  expired {}  dead-lettered {}  handler failures {}  truncated {}  leader elections {} ({} unclean)  expelled {}",
        c.expired,
        c.dead_lettered,
        c.handler_failures,
        c.truncated,
        c.leader_elections,
        c.unclean_leader_elections,
        c.expelled
    );
    if c.compacted > 0 {
        println!(
            "  compacted {} (records removed by log compaction before a group read them)",
            c.compacted
        );
    }
    if c.transactions_committed + c.transactions_aborted > 0 {
        println!(
            "  transactions committed {}  aborted {} ({} records never committed)",
            c.transactions_committed, c.transactions_aborted, c.aborted_records
        );
    }
    if !s.faults.is_empty() {
        let list: Vec<String> = s.faults.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("  faults fired: {}", list.join(", "));
    }
    println!("  verdict: {}", s.verdict);
    if !s.verdict_note.is_empty() {
        println!("    ({})", s.verdict_note);
    }
    println!("  report:  {}", dir.join("index.html").display());
    println!("  repro:   {}", as_invoked(&s.repro));
}

type HistoryFile = crate::history::HistoryWriter<std::io::BufWriter<std::fs::File>>;

fn open_history(
    file: &mut crate::output::StreamFile,
    s: &Scenario,
    seed: u64,
) -> std::io::Result<Rc<RefCell<HistoryFile>>> {
    let header = crate::history::Header {
        eventsim_history: 1,
        version: crate::VERSION.to_string(),
        scenario: s.scenario.name.clone(),
        seed,
    };
    crate::history::HistoryWriter::new(std::io::BufWriter::new(file.take_file()), &header)
        .map(|w| Rc::new(RefCell::new(w)))
}

/// A word as the shell reads it back: as it is when it holds nothing the
/// shell would interpret, else single-quoted (or `$'...'` with escapes
/// when it holds control characters, which a terminal must not receive).
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    if word.chars().any(char::is_control) {
        let mut out = String::from("$'");
        for c in word.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('\'');
        return out;
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// A repro command as this shell can run it: `eventsim` replaced by the
/// program as it was started, when that was by a path (`cargo run` starts
/// `target/release/eventsim`; an installed `eventsim` is found on the
/// PATH and stays `eventsim`). The reports keep the plain form: they must
/// not depend on where the program was.
fn as_invoked(repro: &str) -> String {
    let program = std::env::args_os()
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| a.contains(std::path::MAIN_SEPARATOR) || a.contains('/'));
    match (program, repro.strip_prefix("eventsim ")) {
        (Some(p), Some(rest)) => format!("{} {rest}", shell_quote(&p)),
        _ => repro.to_string(),
    }
}

/// The command line that reproduces a run, safe to paste into a shell.
fn repro_command(command: &[&str], path: &Path, seed: Option<u64>) -> String {
    let mut words: Vec<String> = vec!["eventsim".into()];
    words.extend(command.iter().map(|w| w.to_string()));
    words.push(shell_quote(&path.to_string_lossy()));
    if let Some(seed) = seed {
        words.push(format!("--seed {seed}"));
    }
    words.join(" ")
}

/// Read a history file: header, entries (each validated against the run's
/// catalog, then fed to `observer`), trailer.
fn read_history(
    path: &Path,
    ctx: &crate::check::Context,
    observer: &mut dyn crate::history::Observer,
) -> Result<(crate::history::Header, crate::history::Trailer), String> {
    use crate::history::{Entry, Header, Trailer};
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = std::io::BufReader::new(file).lines().enumerate();
    let bad = |n: usize, what: &str, e: &dyn std::fmt::Display| {
        format!("{}:{}: expected {what}: {e}", path.display(), n + 1)
    };
    let (n, first) = lines
        .next()
        .ok_or_else(|| format!("{}:1: empty history file", path.display()))?;
    let first = first.map_err(|e| bad(n, "a line", &e))?;
    let header: Header =
        serde_json::from_str(&first).map_err(|e| bad(n, "the history header", &e))?;
    let mut trailer = None;
    let mut validator = crate::history::Validator::new(&ctx.catalog, ctx.faults.len());
    for (n, line) in lines {
        let line = line.map_err(|e| bad(n, "a line", &e))?;
        if trailer.is_some() {
            return Err(bad(n, "nothing after the trailer", &"more lines"));
        }
        match serde_json::from_str::<Entry>(&line) {
            Ok(e) => {
                validator
                    .check(e.t, &e.observation)
                    .map_err(|why| format!("{}:{}: {why}", path.display(), n + 1))?;
                observer.observe(e.t, &e.observation)
            }
            Err(err) => match serde_json::from_str::<Trailer>(&line) {
                Ok(t) => trailer = Some(t),
                Err(_) => return Err(bad(n, "an observation", &err)),
            },
        }
    }
    let trailer = trailer.ok_or_else(|| {
        format!(
            "{}: the history has no trailer (was the run cut short?)",
            path.display()
        )
    })?;
    Ok((header, trailer))
}

fn check_history(path: &Path, scenario_path: &Path) -> i32 {
    let scenario = match load(scenario_path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    // The catalog and fault plan come from the scenario and the seed.
    let seed = match read_header(path) {
        Ok(h) => h.seed,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let world = crate::World::new(&scenario, seed);
    let ctx = crate::check::Context::new(&scenario, world.catalog(), world.fault_plan());
    let mut checks = crate::check::Checks::new(
        ctx.clone(),
        crate::check::CheckConfig::from_scenario(&scenario),
    );
    let (header, trailer) = match read_history(path, &ctx, &mut checks) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if header.scenario != scenario.scenario.name {
        eprintln!(
            "error: {} records scenario `{}`, not `{}`",
            path.display(),
            header.scenario,
            scenario.scenario.name
        );
        return EXIT_USAGE;
    }
    let Some(stop) = crate::kernel::StopReason::parse(&trailer.stopped_by) else {
        eprintln!(
            "error: {}: the trailer's stopped_by is `{}`, not one of quiescent, queue-empty, sim-time-max, kernel-events-max",
            path.display(),
            trailer.stopped_by
        );
        return EXIT_USAGE;
    };
    let (mut results, mut violations) =
        checks.finish(trailer.end_ns, trailer.production_end_ns, stop.is_budget());
    if !violations.is_empty() {
        let mut explainer = crate::check::Explainer::new(&ctx, &violations);
        if let Err(e) = read_history(path, &ctx, &mut explainer) {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
        explainer.explain(&mut violations);
        crate::check::attach_first(&mut results, &violations);
    }
    println!(
        "eventsim {}: history of scenario `{}`, seed {} ({} simulated, {})",
        crate::VERSION,
        header.scenario,
        header.seed,
        ms(trailer.end_ns),
        trailer.stopped_by
    );
    for r in &results {
        println!("  {:<22} {:<12} {}", r.name, r.status, r.violations);
    }
    let (verdict, note) = crate::check::verdict(&results, stop);
    println!("  verdict: {verdict}");
    if let Some(note) = note {
        println!("  ({note})");
    }
    print_violation_details(&violations);
    exit_status(verdict)
}

fn read_header(path: &Path) -> Result<crate::history::Header, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut first = String::new();
    std::io::BufReader::new(file)
        .read_line(&mut first)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&first)
        .map_err(|e| format!("{}:1: expected the history header: {e}", path.display()))
}

fn print_violations(s: &Summary, violations: &[crate::check::Violation]) {
    let failed: Vec<String> = s
        .checks
        .iter()
        .filter(|c| c.status == "fail")
        .map(|c| format!("{} ({})", c.name, c.violations))
        .collect();
    if failed.is_empty() {
        return;
    }
    println!("  violated: {}", failed.join(", "));
    print_violation_details(violations);
}

/// The first violation of each checker, with its explanation.
fn print_violation_details(violations: &[crate::check::Violation]) {
    let mut shown = std::collections::BTreeSet::new();
    for v in violations {
        if !shown.insert(v.invariant.as_str()) {
            continue;
        }
        println!("  {} at {}: {}", v.invariant, ms(v.t_ns), v.message);
        let skip = v.explanation.len().saturating_sub(8);
        for line in &v.explanation[skip..] {
            println!("      {line}");
        }
    }
}

fn shrink(path: &Path, seed: Option<u64>, invariant: Option<&str>, out: Option<PathBuf>) -> i32 {
    use std::io::IsTerminal;
    let scenario = match load(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Some(name) = invariant
        && !crate::check::CHECKERS.contains(&name)
    {
        eprintln!(
            "error: unknown invariant `{name}`; invariants: {}",
            crate::check::CHECKERS.join(", ")
        );
        return EXIT_USAGE;
    }
    let seed = seed.unwrap_or(scenario.scenario.seed);
    let out = out.unwrap_or_else(|| {
        PathBuf::from("reports")
            .join(sanitize(&scenario.scenario.name))
            .join(format!("shrunk-seed-{seed}.toml"))
    });
    // Where the repro goes is checked before the (long) shrinking.
    let writable = crate::output::refuse_overlaps(&[path], &[("--out", &out)]).and_then(|()| {
        let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
        parent.map_or(Ok(()), |p| {
            std::fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()))
        })?;
        if std::fs::metadata(&out).is_ok_and(|m| m.is_dir()) {
            return Err(format!(
                "--out {} is a folder; expected a file name",
                out.display()
            ));
        }
        Ok(())
    });
    if let Err(e) = writable {
        eprintln!("error: {e}");
        return EXIT_USAGE;
    }
    // A spinner with the count of candidate runs (how many there will be
    // is not known in advance), cleared when shrinking ends.
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "  {spinner} shrinking: {pos} candidate runs tried, {elapsed}",
            )
            .expect("a valid template"),
        );
        b
    });
    let mut progress = |n: u64| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    };
    let result = crate::shrink::shrink(&scenario, seed, invariant, &mut progress);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let shrunk = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let text = crate::shrink::repro_file(&shrunk, &path.display().to_string(), seed);
    let written = crate::output::write_atomic(&out, text.as_bytes());
    if let Err(e) = written {
        eprintln!("error: cannot write {}: {e}", out.display());
        return EXIT_USAGE;
    }
    println!(
        "shrunk `{}` seed {seed}: still violates {} with {} of {} fault(s), after {} candidate runs",
        scenario.scenario.name,
        shrunk.invariant,
        shrunk.scenario.faults.schedule.len(),
        shrunk.faults_before,
        shrunk.tried
    );
    for r in &shrunk.removed {
        println!("  removed: {r}");
    }
    for r in &shrunk.reduced {
        println!("  reduced: {r}");
    }
    for f in &shrunk.scenario.faults.schedule {
        println!("  kept:    {}", crate::shrink::describe(f));
    }
    println!(
        "  repro:   {}",
        as_invoked(&repro_command(&["run"], &out, None))
    );
    EXIT_PASS
}

fn plot(dir: &Path) -> i32 {
    let redrawn = crate::output::OutDir::lock(dir).and_then(|mut out| {
        // summary.json is written after the files it is drawn from, and
        // removed before they are rewritten: when it is there, they match.
        let (data, summary) = crate::plot::PlotData::from_dir(dir)?;
        let kept = match crate::output::read_manifest(dir) {
            Ok(m) => m.files.into_iter().map(|e| e.name).collect(),
            Err(_) => crate::plot::PlotData::INPUTS.map(String::from).to_vec(),
        };
        let mut redraw = || -> std::io::Result<()> {
            out.begin(&["index.html"])?;
            let svgs = write_plots(&mut out, &data)?;
            // The scenario the run kept, if it kept one (and it still
            // reads): its description, topology and text on the page.
            let text = std::fs::read_to_string(dir.join("scenario.toml")).ok();
            let scenario = text
                .as_deref()
                .and_then(|t| Scenario::parse(t, "scenario.toml").ok());
            let page = crate::page::Context {
                scenario: scenario.as_ref(),
                scenario_text: text.as_deref(),
                trace: None,
            };
            out.write(
                "index.html",
                crate::page::index_html(&summary, &data.faults, &svgs, &page).as_bytes(),
            )?;
            Ok(())
        };
        redraw().map_err(|e| format!("cannot draw into {}: {e}", dir.display()))?;
        for name in &kept {
            out.keep(name)
                .map_err(|e| format!("{}: {e}", dir.join(name).display()))?;
        }
        out.finish()
            .map_err(|e| format!("cannot write into {}: {e}", dir.display()))
    });
    match redrawn {
        Ok(()) => {
            println!("plots and index.html redrawn in {}", dir.display());
            EXIT_PASS
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_USAGE
        }
    }
}

/// A progress bar on stderr for runs longer than a second, when stderr is
/// a terminal and the run is not quiet; nothing otherwise.
fn progress_bar(quiet: bool) -> Option<Box<dyn FnMut(u64, u64)>> {
    use std::io::IsTerminal;
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    /// Clears the bar when the run is over (the closure is dropped).
    struct Bar(indicatif::ProgressBar);
    impl Drop for Bar {
        fn drop(&mut self) {
            self.0.finish_and_clear();
        }
    }
    let started = Instant::now();
    let mut bar: Option<Bar> = None;
    Some(Box::new(move |now: u64, end: u64| {
        if bar.is_none() && started.elapsed().as_secs_f64() >= 1.0 {
            let b = indicatif::ProgressBar::new(end / 1_000_000);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "  simulating {bar:40} {pos}/{len} ms simulated, {elapsed} wall (ETA {eta})",
                )
                .expect("a valid template"),
            );
            bar = Some(Bar(b));
        }
        if let Some(b) = &bar {
            b.0.set_position(now / 1_000_000);
        }
    }))
}

/// How many worker threads: one per core unless told; at least 1, at
/// most [`MAX_JOBS_PER_CORE`] per core (more only slows every run down).
fn worker_threads(jobs: Option<usize>) -> Result<usize, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match jobs {
        None => Ok(cores),
        Some(0) => Err("--jobs must be at least 1".to_string()),
        Some(j) if j > cores * MAX_JOBS_PER_CORE => {
            eprintln!(
                "note: --jobs {j} is more than {MAX_JOBS_PER_CORE} per core on this {cores}-core machine; using {}",
                cores * MAX_JOBS_PER_CORE
            );
            Ok(cores * MAX_JOBS_PER_CORE)
        }
        Some(j) => Ok(j),
    }
}

/// The most worker threads per core `--jobs` starts.
const MAX_JOBS_PER_CORE: usize = 4;

/// Ctrl-C or SIGTERM: the first asks the runs to stop (running ones finish
/// and are kept, no new one starts), the second exits at once (what
/// finished is already on disk).
fn on_interrupt(stop: Arc<AtomicBool>, interrupted: Arc<AtomicBool>) {
    let _ = ctrlc::set_handler(move || {
        if interrupted.swap(true, Ordering::SeqCst) {
            std::process::exit(EXIT_INCOMPLETE);
        }
        stop.store(true, Ordering::SeqCst);
        eprintln!(
            "\ninterrupted: finishing the runs under way and keeping every result (interrupt again to stop at once)"
        );
    });
}

/// The results a sweep folder already holds for `status`'s sweep: its
/// `sweep.jsonl` and the journal of an interrupted run (a last line cut
/// short by a kill is ignored).
fn previous_results(
    dir: &Path,
    status: &crate::sweep::Status,
) -> Result<Vec<crate::sweep::SeedResult>, String> {
    use crate::sweep::{SeedResult, Status};
    let mut found = Vec::new();
    let status_file = dir.join("sweep.json");
    let journal = dir.join(SWEEP_JOURNAL);
    let read = |p: &Path| match std::fs::read_to_string(p) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", p.display())),
    };
    if let Some(text) = read(&status_file)? {
        let old: Status =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", status_file.display()))?;
        if (&old.scenario_hash, &old.seeds, &old.shard)
            != (&status.scenario_hash, &status.seeds, &status.shard)
        {
            return Err(format!(
                "{} holds another sweep (scenario fingerprint {}, seeds {}, shard {}); resume needs the same scenario file, --seeds and --shard, or choose another --out",
                dir.display(),
                old.scenario_hash,
                old.seeds,
                old.shard
            ));
        }
        if let Some(text) = read(&dir.join("sweep.jsonl"))? {
            found.extend(crate::sweep::from_jsonl(
                &text,
                &dir.join("sweep.jsonl").display().to_string(),
            )?);
        }
    }
    if let Some(text) = read(&journal)? {
        for line in text.lines() {
            match serde_json::from_str::<SeedResult>(line) {
                Ok(r) => found.push(r),
                Err(_) => break,
            }
        }
    }
    Ok(found)
}

/// The journal a sweep appends each result to as it finishes.
const SWEEP_JOURNAL: &str = "sweep.partial.jsonl";

#[allow(clippy::too_many_arguments)]
fn sweep(
    path: &Path,
    seeds: &str,
    jobs: Option<usize>,
    shard: Option<&str>,
    fail_fast: bool,
    resume: bool,
    out: Option<PathBuf>,
) -> i32 {
    use crate::sweep::{Seeds, Shard, Status};
    use std::collections::BTreeMap;
    use std::io::{IsTerminal, Write};
    let scenario = match load(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let parsed = Seeds::parse(seeds).and_then(|range| {
        let shard = shard.map_or(Ok(Shard::ALL), Shard::parse)?;
        let jobs = worker_threads(jobs)?;
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok((range, shard, jobs, crate::sweep::fingerprint(&bytes)))
    });
    let (range, shard, jobs, hash) = match parsed {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let dir = out.unwrap_or_else(|| {
        let mut name = format!("sweep-{range}");
        if shard.count > 1 {
            name.push_str(&format!("-shard-{}-of-{}", shard.index, shard.count));
        }
        PathBuf::from("reports")
            .join(sanitize(&scenario.scenario.name))
            .join(name)
    });
    let mut status = Status {
        eventsim_sweep: 1,
        version: crate::VERSION.to_string(),
        scenario: path.display().to_string(),
        scenario_hash: hash,
        seeds: range.to_string(),
        shard: shard.to_string(),
        seeds_run: 0,
        complete: false,
        stopped_by: String::new(),
        missing: Vec::new(),
        missing_ranges: 0,
    };
    let mut outdir = match crate::output::OutDir::lock(&dir) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let mut results: BTreeMap<u64, crate::sweep::SeedResult> = BTreeMap::new();
    if resume {
        match previous_results(&dir, &status) {
            Ok(found) => {
                for r in found {
                    if shard.owns(range, r.seed) {
                        results.insert(r.seed, r);
                    }
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        }
    }
    // What is known goes to the journal first (whole), then the old
    // verdict-bearing files go: a kill at any point keeps every result.
    let known = crate::sweep::to_jsonl(&results.values().cloned().collect::<Vec<_>>());
    let opened = crate::output::write_atomic(&dir.join(SWEEP_JOURNAL), known.as_bytes())
        .and_then(|()| outdir.begin(&["sweep.json", "sweep.jsonl", "index.html"]))
        .and_then(|()| outdir.journal(SWEEP_JOURNAL));
    let mut journal = match opened {
        Ok(j) => std::io::BufWriter::new(j),
        Err(e) => {
            eprintln!("error: cannot write into {}: {e}", dir.display());
            return EXIT_USAGE;
        }
    };
    if !results.is_empty() {
        println!(
            "resuming: {} seed(s) already in {}",
            results.len(),
            dir.display()
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let interrupted = Arc::new(AtomicBool::new(false));
    on_interrupt(stop.clone(), interrupted.clone());
    let todo = shard.len(range).saturating_sub(results.len() as u128);
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(todo.min(u64::MAX as u128) as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "  sweeping {bar:40} {pos}/{len} seeds, {msg} failed, ETA {eta}",
            )
            .expect("a valid template"),
        );
        b
    });
    let already: std::collections::BTreeSet<u64> = results.keys().copied().collect();
    let mut failed = 0u64;
    let mut write_error: Option<std::io::Error> = None;
    let path_text = path.display().to_string();
    crate::sweep::sweep(
        &scenario,
        &path_text,
        shard.seeds(range).filter(|s| !already.contains(s)),
        jobs,
        fail_fast,
        &stop,
        |r| {
            if r.verdict == "fail" {
                failed += 1;
            }
            if let Some(b) = &bar {
                b.inc(1);
                b.set_message(failed.to_string());
            }
            let line = crate::sweep::to_jsonl(std::slice::from_ref(&r));
            if write_error.is_none()
                && let Err(e) = journal
                    .write_all(line.as_bytes())
                    .and_then(|()| journal.flush())
            {
                write_error = Some(e);
                stop.store(true, Ordering::SeqCst);
            }
            results.insert(r.seed, r);
        },
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Some(e) = write_error {
        eprintln!(
            "error: cannot write {}: {e}",
            dir.join(SWEEP_JOURNAL).display()
        );
        return EXIT_USAGE;
    }
    drop(journal);
    let results: Vec<crate::sweep::SeedResult> = results.into_values().collect();
    let done: std::collections::BTreeSet<u64> = results.iter().map(|r| r.seed).collect();
    let missing = crate::sweep::missing(range, shard, &done);
    let was_interrupted = interrupted.load(Ordering::SeqCst);
    status.seeds_run = results.len() as u64;
    status.complete = missing.is_empty();
    status.stopped_by = if missing.is_empty() {
        "complete"
    } else if was_interrupted {
        "interrupted"
    } else {
        "fail-fast"
    }
    .to_string();
    status.missing_ranges = missing.len() as u64;
    status.missing = missing
        .iter()
        .take(crate::sweep::MISSING_LISTED)
        .map(|r| format!("{}..={}", r.first, r.last))
        .collect();
    let mut status_text = serde_json::to_string_pretty(&status).expect("a status serializes");
    status_text.push('\n');
    let page = sweep_page(&scenario.scenario.name, &status, &results);
    let written = outdir
        .write("sweep.jsonl", crate::sweep::to_jsonl(&results).as_bytes())
        .and_then(|()| outdir.write("sweep.json", status_text.as_bytes()))
        .and_then(|()| outdir.write("index.html", page.as_bytes()))
        .and_then(|()| outdir.remove(SWEEP_JOURNAL))
        .and_then(|()| outdir.finish());
    if let Err(e) = written {
        eprintln!("error: cannot write into {}: {e}", dir.display());
        return EXIT_USAGE;
    }
    if !missing.is_empty() {
        println!(
            "stopped early ({}): {} of {} seed(s) ran; missing: {}",
            status.stopped_by,
            results.len(),
            shard.len(range),
            crate::sweep::describe(&missing, 5)
        );
        if was_interrupted {
            println!(
                "  to finish it: {} --resume",
                sweep_command(path, &range, shard, &dir)
            );
        }
    }
    let code = sweep_summary(&results, &dir);
    if was_interrupted && !missing.is_empty() {
        EXIT_INCOMPLETE
    } else {
        code
    }
}

/// The command line of a sweep, for resuming it.
fn sweep_command(
    path: &Path,
    range: &crate::sweep::Seeds,
    shard: crate::sweep::Shard,
    dir: &Path,
) -> String {
    let mut cmd = format!(
        "eventsim sweep {} --seeds {range}",
        shell_quote(&path.to_string_lossy())
    );
    if shard.count > 1 {
        cmd.push_str(&format!(" --shard {shard}"));
    }
    cmd.push_str(&format!(" --out {}", shell_quote(&dir.to_string_lossy())));
    cmd
}

/// A sweep's index.html, with repro commands as this shell would run them.
fn sweep_page(
    name: &str,
    status: &crate::sweep::Status,
    results: &[crate::sweep::SeedResult],
) -> String {
    let scenario = Path::new(&status.scenario);
    let repro = |seed: u64| as_invoked(&repro_command(&["run"], scenario, Some(seed)));
    crate::page::sweep_html(name, status, results, &repro)
}

/// Print what failed and how to reproduce it; the exit status.
fn sweep_summary(results: &[crate::sweep::SeedResult], dir: &Path) -> i32 {
    let failing: Vec<&crate::sweep::SeedResult> =
        results.iter().filter(|r| r.verdict == "fail").collect();
    let inconclusive: Vec<u64> = results
        .iter()
        .filter(|r| r.verdict == "inconclusive")
        .map(|r| r.seed)
        .collect();
    println!(
        "{} seed(s) run, {} failed, {} inconclusive; results in {}",
        results.len(),
        failing.len(),
        inconclusive.len(),
        dir.join("sweep.jsonl").display()
    );
    if !inconclusive.is_empty() {
        let shown: Vec<String> = inconclusive.iter().take(10).map(u64::to_string).collect();
        println!(
            "  inconclusive (a budget stopped the run before it was decided): {}{}",
            shown.join(", "),
            if inconclusive.len() > 10 { ", ..." } else { "" }
        );
    }
    for (invariant, seeds) in crate::sweep::failures(results) {
        let shown: Vec<String> = seeds.iter().take(10).map(u64::to_string).collect();
        let more = if seeds.len() > 10 {
            format!(", ... ({} in all)", seeds.len())
        } else {
            String::new()
        };
        println!(
            "  {invariant}: {} seed(s): {}{more}",
            seeds.len(),
            shown.join(", ")
        );
    }
    for r in failing.iter().take(20) {
        println!(
            "  repro: {}",
            as_invoked(&repro_command(
                &["run"],
                Path::new(&r.scenario),
                Some(r.seed)
            ))
        );
    }
    println!("  report: {}", dir.join("index.html").display());
    if !failing.is_empty() {
        EXIT_FAIL
    } else if !inconclusive.is_empty() {
        EXIT_INCONCLUSIVE
    } else {
        EXIT_PASS
    }
}

fn merge(dirs: &[PathBuf], out: Option<PathBuf>) -> i32 {
    if dirs.iter().all(|d| d.join("compare-runs.jsonl").exists()) {
        return merge_compare(dirs, out);
    }
    match merge_sweeps(dirs, out) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_USAGE
        }
    }
}

/// Merge sweep folders: every seed once; the seeds of the range that no
/// folder holds are named, and make the exit status 4.
fn merge_sweeps(dirs: &[PathBuf], out: Option<PathBuf>) -> Result<i32, String> {
    use crate::sweep::{Seeds, Shard, Status};
    let mut parts = Vec::new();
    let mut first: Option<(Status, &Path)> = None;
    for d in dirs {
        let status_file = d.join("sweep.json");
        let text = std::fs::read_to_string(&status_file).map_err(|e| {
            format!(
                "{}: {e} (a sweep folder holds sweep.json and sweep.jsonl; copy both from each shard)",
                status_file.display()
            )
        })?;
        let status: Status =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", status_file.display()))?;
        if let Some((f, fdir)) = &first
            && (&f.scenario_hash, &f.seeds) != (&status.scenario_hash, &status.seeds)
        {
            return Err(format!(
                "{} and {} hold different sweeps (scenario fingerprint {} vs {}, seeds {} vs {})",
                fdir.display(),
                d.display(),
                f.scenario_hash,
                status.scenario_hash,
                f.seeds,
                status.seeds
            ));
        }
        let file = d.join("sweep.jsonl");
        let results = std::fs::read_to_string(&file)
            .map_err(|e| format!("{}: {e}", file.display()))
            .and_then(|t| crate::sweep::from_jsonl(&t, &file.display().to_string()))?;
        parts.push(results);
        if first.is_none() {
            first = Some((status, d));
        }
    }
    let Some((status, _)) = first else {
        return Err("no folder to merge".to_string());
    };
    let merged = crate::sweep::merge(parts)?;
    let range = Seeds::parse(&status.seeds)?;
    let done: std::collections::BTreeSet<u64> = merged.iter().map(|r| r.seed).collect();
    let missing = crate::sweep::missing(range, Shard::ALL, &done);
    let dir = out.unwrap_or_else(|| PathBuf::from("."));
    let merged_status = Status {
        version: crate::VERSION.to_string(),
        shard: Shard::ALL.to_string(),
        seeds_run: merged.len() as u64,
        complete: missing.is_empty(),
        stopped_by: if missing.is_empty() {
            "complete"
        } else {
            "incomplete"
        }
        .to_string(),
        missing_ranges: missing.len() as u64,
        missing: missing
            .iter()
            .take(crate::sweep::MISSING_LISTED)
            .map(|r| format!("{}..={}", r.first, r.last))
            .collect(),
        ..status
    };
    let mut status_text =
        serde_json::to_string_pretty(&merged_status).expect("a status serializes");
    status_text.push('\n');
    // The scenario's name as the unsharded sweep would give it; its file
    // stem when the file is no longer where the sweep read it.
    let name = crate::scenario::Scenario::load(Path::new(&merged_status.scenario))
        .map(|s| s.scenario.name)
        .unwrap_or_else(|_| {
            Path::new(&merged_status.scenario)
                .file_stem()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        });
    let page = sweep_page(&name, &merged_status, &merged);
    let mut outdir = crate::output::OutDir::lock(&dir)?;
    outdir
        .begin(&["sweep.json", "sweep.jsonl", "index.html"])
        .and_then(|()| outdir.write("sweep.jsonl", crate::sweep::to_jsonl(&merged).as_bytes()))
        .and_then(|()| outdir.write("sweep.json", status_text.as_bytes()))
        .and_then(|()| outdir.write("index.html", page.as_bytes()))
        .and_then(|()| outdir.finish())
        .map_err(|e| format!("cannot write into {}: {e}", dir.display()))?;
    if !missing.is_empty() {
        println!(
            "incomplete: the folders hold {} of the {} seeds of {}; missing: {}",
            merged.len(),
            range.len(),
            range,
            crate::sweep::describe(&missing, 10)
        );
    }
    let code = sweep_summary(&merged, &dir);
    Ok(if missing.is_empty() {
        code
    } else {
        EXIT_INCOMPLETE
    })
}

fn compare(
    path: &Path,
    vary: &[String],
    seeds: &str,
    jobs: Option<usize>,
    shard: Option<&str>,
    out: Option<PathBuf>,
) -> i32 {
    use crate::compare::{self, Vary};
    use crate::sweep::{Seeds, Shard};
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: {e}", path.display());
            return EXIT_USAGE;
        }
    };
    let base = match load(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let prepared = vary
        .iter()
        .map(|v| Vary::parse(v))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|varies| {
            let range = Seeds::parse(seeds)?;
            let shard = shard.map_or(Ok(Shard::ALL), Shard::parse)?;
            let jobs = worker_threads(jobs)?;
            let variants = compare::variants(&text, &path.display().to_string(), &varies)?;
            Ok((varies, range, shard, jobs, variants))
        });
    let (varies, range, shard, jobs, variants) = match prepared {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let dir = out.unwrap_or_else(|| {
        PathBuf::from("reports")
            .join(sanitize(&base.scenario.name))
            .join("compare")
    });
    // The folder is checked and locked before anything runs.
    let outdir = match crate::output::OutDir::lock(&dir) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let interrupted = Arc::new(AtomicBool::new(false));
    on_interrupt(stop.clone(), interrupted.clone());
    let total = compare::shard_len(variants.len(), range, shard);
    let mut runs: Vec<compare::RunFigures> = Vec::new();
    crate::sweep::pool(
        jobs,
        compare::shard_runs(variants.len(), range, shard),
        &stop,
        |(v, seed)| compare::run_variant(&variants[v], seed),
        |r| runs.push(r),
    );
    let runs = match compare::merge_runs(&variants, runs) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let title = base.scenario.name.clone();
    let header = compare::Header {
        compare: 1,
        scenario: path.display().to_string(),
        vary: vary.to_vec(),
        seeds: range.to_string(),
    };
    let summary = match write_comparison(outdir, &header, &title, &varies, &variants, &runs) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    print!("{}", compare::to_markdown(&title, &header.seeds, &summary));
    println!(
        "\nwritten: {}\n  report: {}",
        dir.join("comparison.csv").display(),
        dir.join("index.html").display()
    );
    if (runs.len() as u128) < total {
        println!(
            "interrupted: {} of {} runs finished; the comparison covers those only (compare-runs.jsonl keeps them)",
            runs.len(),
            total
        );
        return EXIT_INCOMPLETE;
    }
    EXIT_PASS
}

/// Write compare-runs.jsonl, the charts, comparison.csv and comparison.md
/// (the summaries last), then the manifest.
fn write_comparison(
    mut out: crate::output::OutDir,
    header: &crate::compare::Header,
    title: &str,
    varies: &[crate::compare::Vary],
    variants: &[crate::compare::Variant],
    runs: &[crate::compare::RunFigures],
) -> Result<crate::compare::Summary, String> {
    use crate::compare;
    let summary = compare::summarise(variants, runs);
    let dir = out.path().to_path_buf();
    let mut write = || -> std::io::Result<()> {
        let mut svgs = Vec::new();
        out.begin(&["comparison.csv", "comparison.md", "index.html"])?;
        out.write(
            "compare-runs.jsonl",
            compare::runs_jsonl(header, runs).as_bytes(),
        )?;
        for (stem, idx, label, scale) in [
            (
                "compare-p99",
                2usize,
                "end-to-end p99 (ms), worst group",
                1e6,
            ),
            (
                "compare-skew",
                5usize,
                "partition skew (max / mean load)",
                1.0,
            ),
        ] {
            let bars: Vec<crate::plot::Bar> = summary
                .iter()
                .map(|(l, _, _, st, failed)| crate::plot::Bar {
                    label: l.clone(),
                    mean: st[idx].0 / scale,
                    ci: st[idx].1 / scale,
                    failed: failed.clone(),
                })
                .collect();
            let drawn = crate::plot::render_bars(&format!("{title}: {label}"), label, &bars)
                .map_err(std::io::Error::other)?;
            out.write(&format!("{stem}.png"), &drawn.png)?;
            out.write(&format!("{stem}.svg"), drawn.svg.as_bytes())?;
            svgs.push((stem.to_string(), drawn.svg));
        }
        out.write(
            "comparison.csv",
            compare::to_csv(varies, &summary).as_bytes(),
        )?;
        out.write(
            "comparison.md",
            compare::to_markdown(title, &header.seeds, &summary).as_bytes(),
        )?;
        out.write(
            "index.html",
            crate::page::compare_html(title, header, &summary, &svgs).as_bytes(),
        )?;
        Ok(())
    };
    write()
        .and_then(|()| out.finish())
        .map_err(|e| format!("cannot write the comparison to {}: {e}", dir.display()))?;
    Ok(summary)
}

/// Merge the compare-runs.jsonl of compare shards.
fn merge_compare(dirs: &[PathBuf], out: Option<PathBuf>) -> i32 {
    use crate::compare;
    let mut header: Option<compare::Header> = None;
    let mut runs: Vec<compare::RunFigures> = Vec::new();
    for d in dirs {
        let file = d.join("compare-runs.jsonl");
        let parsed = std::fs::read_to_string(&file)
            .map_err(|e| format!("{}: {e}", file.display()))
            .and_then(|t| compare::parse_runs(&t, &file.display().to_string()));
        let (h, r) = match parsed {
            Ok(x) => x,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        };
        if header.as_ref().is_some_and(|first| *first != h) {
            eprintln!("error: {} is a shard of another comparison", file.display());
            return EXIT_USAGE;
        }
        header = Some(h);
        runs.extend(r);
    }
    let Some(header) = header else {
        return EXIT_USAGE;
    };
    let prepared = std::fs::read_to_string(&header.scenario)
        .map_err(|e| format!("{}: {e}", header.scenario))
        .and_then(|text| {
            let varies = header
                .vary
                .iter()
                .map(|v| compare::Vary::parse(v))
                .collect::<Result<Vec<_>, _>>()?;
            let variants = compare::variants(&text, &header.scenario, &varies)?;
            Ok((varies, variants))
        });
    let (varies, variants) = match prepared {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let runs = match compare::merge_runs(&variants, runs) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let title = variants
        .first()
        .map_or(String::new(), |v| v.scenario.scenario.name.clone());
    let dir = out.unwrap_or_else(|| PathBuf::from("."));
    let missing = match crate::sweep::Seeds::parse(&header.seeds) {
        Ok(range) => compare::missing_runs(&variants, range, &runs),
        Err(e) => {
            eprintln!("error: compare-runs.jsonl: {e}");
            return EXIT_USAGE;
        }
    };
    let written = crate::output::OutDir::lock(&dir)
        .and_then(|o| write_comparison(o, &header, &title, &varies, &variants, &runs));
    match written {
        Ok(summary) => {
            print!("{}", compare::to_markdown(&title, &header.seeds, &summary));
            println!(
                "\nwritten: {}\n  report: {}",
                dir.join("comparison.csv").display(),
                dir.join("index.html").display()
            );
            if missing.is_empty() {
                return EXIT_PASS;
            }
            println!(
                "incomplete: runs missing from the folders (the comparison covers the others):"
            );
            for (label, ranges) in &missing {
                println!("  {label}: seeds {}", crate::sweep::describe(ranges, 10));
            }
            EXIT_INCOMPLETE
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_USAGE
        }
    }
}
