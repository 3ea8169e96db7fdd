//! The command line: parse arguments, call the library, print, and map
//! outcomes to exit codes (0 pass, 1 an invariant failed, 2 bad input or
//! usage, 3 inconclusive: a budget stopped the run before it was decided,
//! 130 a sweep or comparison interrupted before every run finished).

use crate::report::{self, Perf, Summary};
use crate::scenario::Scenario;
use clap::{Parser, Subcommand};
use std::cell::RefCell;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::rc::Rc;
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
        /// Seeds A..B (B excluded), e.g. 0..1000.
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
        /// Output folder (default: reports/<name>/sweep-A..B[-shard-I-of-N]/).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compare design variants over seeds: the cross product of --vary values x seeds.
    Compare {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// PATH=V1,V2,... e.g. producers.order-service.partitioner=murmur2,round-robin (repeatable).
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
            out,
        } => sweep(&scenario, &seeds, jobs, shard.as_deref(), fail_fast, out),
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
    Scenario::load(path).map_err(|e| {
        eprintln!("error: {e}");
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
    let scenario = match load(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seed = seed.unwrap_or(scenario.scenario.seed);
    let dir = out.unwrap_or_else(|| {
        PathBuf::from("reports")
            .join(sanitize(&scenario.scenario.name))
            .join(format!("seed-{seed}"))
    });
    let started = Instant::now();
    let writer = match history.as_ref().map(|h| open_history(h, &scenario, seed)) {
        None => None,
        Some(Ok(w)) => Some(w),
        Some(Err(code)) => return code,
    };
    let mut extra: Vec<Box<dyn crate::history::Observer>> = Vec::new();
    if let Some(w) = &writer {
        extra.push(Box::new(crate::history::Shared(w.clone())));
    }
    type TraceFile = crate::trace::TraceWriter<std::io::BufWriter<std::fs::File>>;
    let mut tracer: Option<Rc<RefCell<TraceFile>>> = None;
    if let Some(t) = &trace {
        // The catalog and fault plan of this very run.
        let world = crate::World::new(&scenario, seed);
        let opened = std::fs::File::create(t).and_then(|f| {
            crate::trace::TraceWriter::new(
                std::io::BufWriter::new(f),
                world.catalog(),
                world.fault_plan(),
            )
        });
        match opened {
            Ok(w) => {
                let w = Rc::new(RefCell::new(w));
                extra.push(Box::new(crate::history::Shared(w.clone())));
                tracer = Some(w);
            }
            Err(e) => {
                eprintln!("error: cannot write the trace to {}: {e}", t.display());
                return EXIT_USAGE;
            }
        }
    }
    let checked = crate::run_checked_with(&scenario, seed, extra, progress_bar(quiet));
    if let (Some(w), Some(t)) = (tracer, trace.as_ref()) {
        let w = Rc::try_unwrap(w)
            .ok()
            .expect("the run is over")
            .into_inner();
        if let Err(e) = w.finish() {
            eprintln!("error: cannot write the trace to {}: {e}", t.display());
            return EXIT_USAGE;
        }
    }
    let wall = started.elapsed();
    let result = &checked.result;
    if let (Some(w), Some(h)) = (writer, history.as_ref()) {
        let w = Rc::try_unwrap(w)
            .ok()
            .expect("the run is over")
            .into_inner();
        let trailer = crate::history::Trailer {
            end_ns: result.sim_time_ns,
            production_end_ns: result.production_end_ns,
            stopped_by: result.stop_reason.as_str().to_string(),
        };
        if let Err(e) = w.finish(&trailer) {
            eprintln!("error: cannot write the history to {}: {e}", h.display());
            return EXIT_USAGE;
        }
    }
    let repro = format!("eventsim run {} --seed {seed}", path.display());
    let summary = Summary::checked(&checked, repro);
    let perf = Perf::new(result, wall);
    let written = report::write(&dir, &summary, &perf).and_then(|()| {
        std::fs::write(dir.join("faults.csv"), report::faults_csv(result))?;
        std::fs::write(dir.join("faults.toml"), report::faults_toml(result))?;
        std::fs::write(
            dir.join("violations.jsonl"),
            report::violations_jsonl(&checked.violations),
        )?;
        std::fs::write(dir.join("timeseries.csv"), report::timeseries_csv(result))?;
        std::fs::write(dir.join("latency.csv"), report::latency_csv(result))?;
        let data = crate::plot::PlotData::from_run(result, &scenario.scenario.name);
        crate::plot::render_all(&data, &dir).map_err(std::io::Error::other)?;
        write_index(&dir, &summary, &data)
    });
    if let Err(e) = written {
        eprintln!("error: cannot write the report to {}: {e}", dir.display());
        return EXIT_USAGE;
    }
    if !quiet {
        print_summary(&summary, &perf, &dir);
        print_violations(&summary, &checked.violations);
    }
    exit_status(&summary.verdict)
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
    if ns >= 1_000_000_000 {
        format!("{:.2}s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.2}ms", ns as f64 / 1e6)
    } else {
        format!("{:.1}us", ns as f64 / 1e3)
    }
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
    println!("  report:  {}", dir.join("summary.json").display());
    println!("  repro:   {}", s.repro);
}

type HistoryFile = crate::history::HistoryWriter<std::io::BufWriter<std::fs::File>>;

fn open_history(path: &Path, s: &Scenario, seed: u64) -> Result<Rc<RefCell<HistoryFile>>, i32> {
    let header = crate::history::Header {
        eventsim_history: 1,
        version: crate::VERSION.to_string(),
        scenario: s.scenario.name.clone(),
        seed,
    };
    std::fs::File::create(path)
        .and_then(|f| crate::history::HistoryWriter::new(std::io::BufWriter::new(f), &header))
        .map(|w| Rc::new(RefCell::new(w)))
        .map_err(|e| {
            eprintln!("error: cannot write the history to {}: {e}", path.display());
            EXIT_USAGE
        })
}

/// Read a history file: header, entries (fed to `observer`), trailer.
fn read_history(
    path: &Path,
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
    for (n, line) in lines {
        let line = line.map_err(|e| bad(n, "a line", &e))?;
        if trailer.is_some() {
            return Err(bad(n, "nothing after the trailer", &"more lines"));
        }
        match serde_json::from_str::<Entry>(&line) {
            Ok(e) => observer.observe(e.t, &e.observation),
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
    let (header, trailer) = match read_history(path, &mut checks) {
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
        if let Err(e) = read_history(path, &mut explainer) {
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
    use std::io::{IsTerminal, Write};
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
    let terminal = std::io::stderr().is_terminal();
    let mut progress = |n: u64| {
        if terminal {
            eprint!("\r  shrinking: {n} candidate runs tried");
            let _ = std::io::stderr().flush();
        }
    };
    let shrunk = match crate::shrink::shrink(&scenario, seed, invariant, &mut progress) {
        Ok(s) => s,
        Err(e) => {
            if terminal {
                eprintln!();
            }
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if terminal {
        eprintln!();
    }
    let out = out.unwrap_or_else(|| {
        PathBuf::from("reports")
            .join(sanitize(&scenario.scenario.name))
            .join(format!("shrunk-seed-{seed}.toml"))
    });
    let text = crate::shrink::repro_file(&shrunk, &path.display().to_string(), seed);
    let written = out
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&out, text));
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
    for f in &shrunk.scenario.faults.schedule {
        println!(
            "  kept:    fault {} {} at {}",
            f.kind.as_str(),
            f.target.as_ref().map_or(String::new(), |t| t.to_string()),
            f.at
        );
    }
    println!("  repro:   eventsim run {}", out.display());
    EXIT_PASS
}

/// Write `index.html` from the summary, the plots already in `dir` and the faults.
fn write_index(dir: &Path, summary: &Summary, data: &crate::plot::PlotData) -> std::io::Result<()> {
    let mut svgs = Vec::new();
    for (stem, _) in crate::plot::PLOTS {
        svgs.push((
            stem.to_string(),
            std::fs::read_to_string(dir.join(format!("{stem}.svg")))?,
        ));
    }
    std::fs::write(
        dir.join("index.html"),
        report::index_html(summary, &data.faults, &svgs),
    )
}

fn plot(dir: &Path) -> i32 {
    let (data, summary) = match crate::plot::PlotData::from_dir(dir) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let drawn = crate::plot::render_all(&data, dir)
        .map_err(std::io::Error::other)
        .and_then(|()| write_index(dir, &summary, &data));
    match drawn {
        Ok(()) => {
            println!("plots and index.html redrawn in {}", dir.display());
            EXIT_PASS
        }
        Err(e) => {
            eprintln!("error: cannot draw into {}: {e}", dir.display());
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

fn sweep(
    path: &Path,
    seeds: &str,
    jobs: Option<usize>,
    shard: Option<&str>,
    fail_fast: bool,
    out: Option<PathBuf>,
) -> i32 {
    use std::io::IsTerminal;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let scenario = match load(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let parsed = crate::sweep::parse_seeds(seeds).and_then(|range| {
        let shard = shard.map_or(Ok(crate::sweep::Shard::ALL), crate::sweep::Shard::parse)?;
        Ok((range, shard))
    });
    let (range, shard) = match parsed {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if jobs == 0 {
        eprintln!("error: --jobs must be at least 1");
        return EXIT_USAGE;
    }
    let list = shard.seeds(range.clone());
    let dir = out.unwrap_or_else(|| {
        let mut name = format!("sweep-{}..{}", range.start, range.end);
        if shard.count > 1 {
            name.push_str(&format!("-shard-{}-of-{}", shard.index, shard.count));
        }
        PathBuf::from("reports")
            .join(sanitize(&scenario.scenario.name))
            .join(name)
    });
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // Ctrl-C: finish the running seeds, start no new one, keep the results.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(list.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "  sweeping {bar:40} {pos}/{len} seeds, {msg} failed, ETA {eta}",
            )
            .expect("a valid template"),
        );
        Some(b)
    } else {
        None
    };
    let results = std::thread::scope(|scope| {
        let ticker = bar.as_ref().map(|b| {
            let (done, failed, stop_ticker) = (done.clone(), failed.clone(), stop.clone());
            let b = b.clone();
            let total = list.len() as u64;
            scope.spawn(move || {
                loop {
                    let n = done.load(Ordering::Relaxed);
                    b.set_position(n);
                    b.set_message(failed.load(Ordering::Relaxed).to_string());
                    if n >= total || stop_ticker.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            })
        });
        let r = crate::sweep::sweep(
            &scenario,
            &path.display().to_string(),
            &list,
            jobs,
            fail_fast,
            &stop,
            &done,
            &failed,
        );
        stop.store(true, Ordering::Relaxed);
        if let Some(t) = ticker {
            let _ = t.join();
        }
        r
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let results = match results {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("sweep.jsonl"), crate::sweep::to_jsonl(&results)));
    if let Err(e) = written {
        eprintln!(
            "error: cannot write {}: {e}",
            dir.join("sweep.jsonl").display()
        );
        return EXIT_USAGE;
    }
    if results.len() < list.len() {
        println!(
            "stopped early: {} of {} seeds ran",
            results.len(),
            list.len()
        );
    }
    sweep_summary(&results, &dir)
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
        println!("  repro: eventsim run {} --seed {}", r.scenario, r.seed);
    }
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
    let mut parts = Vec::new();
    for d in dirs {
        let file = d.join("sweep.jsonl");
        let read = std::fs::read_to_string(&file)
            .map_err(|e| format!("{}: {e}", file.display()))
            .and_then(|t| crate::sweep::from_jsonl(&t, &file.display().to_string()));
        match read {
            Ok(p) => parts.push(p),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        }
    }
    let merged = match crate::sweep::merge(parts) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let dir = out.unwrap_or_else(|| PathBuf::from("."));
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("sweep.jsonl"), crate::sweep::to_jsonl(&merged)));
    if let Err(e) = written {
        eprintln!(
            "error: cannot write {}: {e}",
            dir.join("sweep.jsonl").display()
        );
        return EXIT_USAGE;
    }
    sweep_summary(&merged, &dir)
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
    use rayon::prelude::*;
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
            let range = crate::sweep::parse_seeds(seeds)?;
            let variants = compare::variants(&text, &path.display().to_string(), &varies)?;
            Ok((varies, range, variants))
        });
    let (varies, range, variants) = match prepared {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let shard = match shard.map_or(Ok(crate::sweep::Shard::ALL), crate::sweep::Shard::parse) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let pool = match rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot start {jobs} threads: {e}");
            return EXIT_USAGE;
        }
    };
    let pairs: Vec<(usize, u64)> = (0..variants.len())
        .flat_map(|v| range.clone().map(move |s| (v, s)))
        .enumerate()
        .filter(|(i, _)| *i as u64 % shard.count == shard.index)
        .map(|(_, p)| p)
        .collect();
    let runs: Vec<compare::RunFigures> = pool.install(|| {
        pairs
            .par_iter()
            .with_max_len(1)
            .map(|&(v, seed)| compare::run_variant(&variants[v], seed))
            .collect()
    });
    let dir = out.unwrap_or_else(|| {
        PathBuf::from("reports")
            .join(sanitize(&base.scenario.name))
            .join("compare")
    });
    let title = base.scenario.name.clone();
    let header = compare::Header {
        compare: 1,
        scenario: path.display().to_string(),
        vary: vary.to_vec(),
        seeds: seeds.to_string(),
    };
    let summary = match write_comparison(&dir, &header, &title, &varies, &variants, &runs) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "error: cannot write the comparison to {}: {e}",
                dir.display()
            );
            return EXIT_USAGE;
        }
    };
    print!("{}", compare::to_markdown(&title, seeds, &summary));
    println!("\nwritten: {}", dir.join("comparison.csv").display());
    EXIT_PASS
}

/// Write compare-runs.jsonl, comparison.csv, comparison.md and the charts.
fn write_comparison(
    dir: &Path,
    header: &crate::compare::Header,
    title: &str,
    varies: &[crate::compare::Vary],
    variants: &[crate::compare::Variant],
    runs: &[crate::compare::RunFigures],
) -> std::io::Result<crate::compare::Summary> {
    use crate::compare;
    let summary = compare::summarise(variants, runs);
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("compare-runs.jsonl"),
        compare::runs_jsonl(header, runs),
    )?;
    std::fs::write(
        dir.join("comparison.csv"),
        compare::to_csv(varies, &summary),
    )?;
    std::fs::write(
        dir.join("comparison.md"),
        compare::to_markdown(title, &header.seeds, &summary),
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
        let bars: Vec<(String, f64, f64)> = summary
            .iter()
            .map(|(l, _, _, st, _)| (l.clone(), st[idx].0 / scale, st[idx].1 / scale))
            .collect();
        crate::plot::render_bars(
            &format!("{title}: {label}"),
            label,
            &bars,
            &dir.join(format!("{stem}.png")),
            &dir.join(format!("{stem}.svg")),
        )
        .map_err(std::io::Error::other)?;
    }
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
    match write_comparison(&dir, &header, &title, &varies, &variants, &runs) {
        Ok(summary) => {
            print!("{}", compare::to_markdown(&title, &header.seeds, &summary));
            println!("\nwritten: {}", dir.join("comparison.csv").display());
            EXIT_PASS
        }
        Err(e) => {
            eprintln!(
                "error: cannot write the comparison to {}: {e}",
                dir.display()
            );
            EXIT_USAGE
        }
    }
}
