//! The command line: parse arguments, call the library, print, and map
//! outcomes to exit codes (0 pass, 1 an invariant failed, 2 bad input or
//! usage, 3 inconclusive: a budget or an interrupt stopped the run before
//! it was decided, 4 incomplete: a sweep or comparison interrupted, a merge
//! with seeds missing; 130 a run interrupted twice, nothing written).

use crate::check::{CheckStatus, Verdict};
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

/// Print a line on stdout unless `--quiet` was given (errors go to stderr
/// whatever it says).
macro_rules! say {
    ($($arg:tt)*) => {
        if !quiet() {
            $crate::cli::emit(format_args!("{}\n", format_args!($($arg)*)));
        }
    };
}

/// Print an error on standard error: `error: ` and the message, its
/// control characters escaped and any long back-quoted value cut to its
/// start and length (a `--vary` path of 100,000 characters is not quoted
/// whole, twice).
macro_rules! error {
    ($($arg:tt)*) => {
        $crate::cli::print_error(&format!($($arg)*))
    };
}

pub(crate) fn print_error(message: &str) {
    let lines: Vec<String> = message
        .split('\n')
        .map(|l| crate::scenario::short_quotes(&crate::scenario::names::printable(l)))
        .collect();
    eprintln!("error: {}", lines.join("\n"));
}

/// Write to standard output, surviving its reader: a closed pipe (`|
/// head`) ends the program quietly, any other write error (a full disk)
/// is reported, exit status 2. Everything the command line prints on
/// standard output goes through it (`say!`).
pub(crate) fn emit(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        stdout_failed(&e);
    }
}

/// Standard output cannot be written: a reader that went away (EPIPE) is
/// no error, as for `cat` under `head`; anything else is.
pub(crate) fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(EXIT_PASS);
    }
    error!("cannot write to standard output: {e}");
    std::process::exit(EXIT_USAGE);
}

mod capacity;
mod check;
mod compare;
mod jepsen;
mod plot;
mod run;
mod shrink;
mod sweep;

use check::*;
use compare::*;
use jepsen::*;
use plot::*;
use run::*;
use shrink::*;
use sweep::*;

#[derive(Parser)]
#[command(
    name = "eventsim",
    version,
    about = "Deterministic simulation of event-driven architectures",
    after_help = EXIT_STATUS_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Memory budget, e.g. 4GiB (default: half of the memory this process may
    /// use: the machine's, or its cgroup's or `ulimit -v` limit if smaller).
    /// A scenario estimated to need more is refused; a run whose memory
    /// grows past it stops, inconclusive.
    #[arg(long, global = true, value_name = "SIZE")]
    max_memory: Option<String>,
    /// Print nothing but errors (the exit status tells the outcome), and
    /// no progress bar.
    #[arg(long, short, global = true)]
    quiet: bool,
}

static QUIET: AtomicBool = AtomicBool::new(false);

/// Whether `--quiet` was given.
fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
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
        /// Output folder (default: reports/<scenario-name>/seed-<N>/, or reports/<file-stem>-<scenario-name>/... when the file is named otherwise).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write the run's history (every observation) as JSON lines.
        #[arg(long, value_name = "FILE")]
        history: Option<PathBuf>,
        /// Also write a Chrome trace-event JSON file (opens in ui.perfetto.dev).
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// Also write what the run's clients did as a Jepsen history
        /// (history.edn), for `check-history --format jepsen` or Jepsen's
        /// own Kafka checker.
        #[arg(long, value_name = "FILE")]
        jepsen_history: Option<PathBuf>,
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
    /// Run the invariant checkers offline on a history written by `run
    /// --history`, or (--format jepsen) look for Jepsen's Kafka anomalies
    /// in a history a Jepsen or Maelstrom test recorded from a real cluster.
    CheckHistory {
        /// The history file (JSON lines; with --format jepsen, history.edn).
        history: PathBuf,
        /// The scenario the history was recorded from (eventsim histories).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// eventsim (a history `run --history` wrote) or jepsen (Jepsen's
        /// and Maelstrom's Kafka workloads' history.edn).
        #[arg(long, value_enum, default_value_t = HistoryFormat::Eventsim)]
        format: HistoryFormat,
        /// Jepsen histories: where to write the report (default:
        /// reports/jepsen-<file-stem>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Jepsen histories: the consumers read uncommitted records, so a
        /// cycle of transactions reading each other's writes is allowed.
        #[arg(long)]
        read_uncommitted: bool,
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
        /// Write the whole report of the first N failing seeds into the
        /// output folder (seed-S/), linked from its page.
        #[arg(long, value_name = "N", default_value_t = sweep::DEFAULT_REPORTS)]
        reports: usize,
        /// Output folder (default: reports/<name>/sweep-A..B[-shard-I-of-N]/).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Compare design variants over seeds: the cross product of --vary values x seeds.
    Compare {
        /// The scenario file (TOML), or several: each is a variant (named by its scenario's name), and --vary applies to each.
        #[arg(required = true)]
        scenario: Vec<PathBuf>,
        /// PATH=V1,V2,... e.g. producers.order-service.partitioner=murmur2,round-robin (repeatable). Quote a dotted name ("clicks.v1"); commas inside quotes, {} and [] do not split values.
        #[arg(long = "vary", value_name = "PATH=V1,V2")]
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
        /// Output folder (default: reports/<name>[-vs-<name>...]/compare[-<--vary options>]/).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The highest offered load a design carries within its objectives
    /// (scaling the producers' rates), or with --size the smallest value
    /// of a field that meets them; writes the curves, the points and a page.
    Capacity(capacity::CapacityArgs),
    /// Combine the shards of a sweep (sweep.jsonl), a comparison (compare-runs.jsonl) or a capacity search (capacity.json).
    Merge {
        /// Folders holding a sweep.jsonl each.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where to write the merged result (default: where the unsharded
        /// sweep or comparison writes, under reports/).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Redraw the plots and index.html of a run from its files.
    Plot {
        /// The run's output folder (with summary.json and the CSV files).
        dir: PathBuf,
        /// Draw into this folder instead (default: DIR itself).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print a shell completion script, e.g. `eventsim completions bash >
    /// ~/.local/share/bash-completion/completions/eventsim`.
    Completions {
        /// The shell: bash, elvish, fish, powershell or zsh.
        shell: clap_complete::Shell,
    },
    /// Validate a scenario file without running it.
    Check {
        /// The scenario file (TOML).
        scenario: PathBuf,
    },
}

/// What `eventsim --help` says of exit statuses.
const EXIT_STATUS_HELP: &str = "Exit status:
  0    every checked invariant held
  1    an invariant was violated
  2    bad input or usage (the message names the file, line, column and field)
  3    inconclusive: a budget or an interrupt cut the run short before the checkers could decide
  4    a sweep or comparison was interrupted or is incomplete (what finished is kept)
  70   an internal error: a bug in eventsim, not a finding about your design (the message says how to reproduce it)
  130  interrupted twice: exited at once, writing nothing";

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
/// Exit status: a panic, a bug in eventsim (sysexits' EX_SOFTWARE).
pub const EXIT_BUG: i32 = 70;
/// Exit status: a run interrupted a second time, before it wrote its
/// report (128 + SIGINT, as a shell reports a process Ctrl-C killed).
const EXIT_INTERRUPTED_TWICE: i32 = 130;

/// Entry point of the binary; returns the exit status.
pub fn main() -> i32 {
    install_bug_report();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if !e.use_stderr() {
                let _ = e.print(); // --help, --version
                return EXIT_PASS;
            }
            eprintln!("{}", clap_error_text(&e));
            return EXIT_USAGE;
        }
    };
    if let Some(m) = &cli.max_memory {
        match crate::budget::parse_size(m) {
            Ok(bytes) => crate::budget::set_max_memory(bytes),
            Err(e) => {
                error!("--max-memory: {e}");
                return EXIT_USAGE;
            }
        }
    }
    QUIET.store(cli.quiet, Ordering::Relaxed);
    dispatch(cli.command)
}

/// Runs one subcommand; its exit status.
fn dispatch(command: Command) -> i32 {
    match command {
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "eventsim",
                &mut script,
            );
            emit(format_args!("{}", String::from_utf8_lossy(&script)));
            EXIT_PASS
        }
        Command::Run {
            scenario,
            seed,
            out,
            history,
            trace,
            jepsen_history,
        } => run(&scenario, seed, out, history, trace, jepsen_history),
        Command::CheckHistory {
            history,
            scenario,
            format,
            out,
            read_uncommitted,
        } => check_history_as(format, &history, scenario, out, read_uncommitted),
        Command::Shrink {
            scenario,
            seed,
            invariant,
            out,
        } => shrink(&scenario, seed, invariant.as_deref(), out),
        Command::Check { scenario } => check(&scenario),
        Command::Plot { dir, out } => plot(&dir, out),
        Command::Sweep {
            scenario,
            seeds,
            jobs,
            shard,
            fail_fast,
            resume,
            reports,
            out,
        } => sweep(
            &scenario,
            &seeds,
            jobs,
            shard.as_deref(),
            fail_fast,
            resume,
            reports,
            out,
        ),
        Command::Merge { dirs, out } => merge(&dirs, out),
        Command::Capacity(args) => capacity::capacity(args),
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

/// A panic is a bug in eventsim, never a finding about the design: it is
/// reported as one (with the scenario, seed and repro line) and exits with
/// its own status.
fn install_bug_report() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        let location = info.location().map_or_else(String::new, |l| {
            format!("{}:{}:{}", l.file(), l.line(), l.column())
        });
        eprint!("{}", crate::bug::report(&message, &location));
        if std::env::var_os("RUST_BACKTRACE").is_some() {
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
        }
        std::process::exit(EXIT_BUG);
    }));
}

/// clap quotes a bad value whole: cut a long one, escape control characters.
fn clap_error_text(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            l.split(' ')
                .map(|word| match word.chars().count() {
                    n if n > 100 => {
                        let start: String = word.chars().take(40).collect();
                        format!("{start}... ({n} characters)")
                    }
                    _ => word.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .map(|l| crate::scenario::names::printable(&l).into_owned())
        .collect();
    lines.join("\n")
}

fn load(path: &Path) -> Result<Scenario, i32> {
    load_with_text(path).map(|(s, _)| s)
}

/// The scenario and its file's text (which a run's report keeps).
fn load_with_text(path: &Path) -> Result<(Scenario, String), i32> {
    let loaded = Scenario::load_with_text(path);
    if let Ok((s, _)) = &loaded {
        crate::bug::file(&s.scenario.name, &path.to_string_lossy());
    }
    loaded.map_err(|e| {
        // Rendered as diagnostics, each beginning `error: `.
        eprintln!("{e}");
        EXIT_USAGE
    })
}

/// Lock an output folder (checked before anything runs); a refusal is
/// printed, with the usage exit status.
fn lock_out(dir: &Path) -> Result<crate::output::OutDir, i32> {
    crate::output::OutDir::lock(dir).map_err(|e| {
        error!("{e}");
        EXIT_USAGE
    })
}

/// The exit status of a verdict.
fn exit_status(verdict: Verdict) -> i32 {
    match verdict {
        Verdict::Pass => EXIT_PASS,
        Verdict::Inconclusive => EXIT_INCONCLUSIVE,
        Verdict::Fail => EXIT_FAIL,
    }
}

/// A scenario name as a single safe path component.
/// `check-history`: the format decides what else it needs.
fn check_history_as(
    format: HistoryFormat,
    history: &Path,
    scenario: Option<PathBuf>,
    out: Option<PathBuf>,
    read_uncommitted: bool,
) -> i32 {
    match (format, scenario) {
        (HistoryFormat::Eventsim, Some(scenario)) => check_history(history, &scenario),
        (HistoryFormat::Eventsim, None) => {
            error!(
                "check-history needs --scenario SCENARIO: the scenario the history was recorded from (or --format jepsen for a Jepsen history)"
            );
            EXIT_USAGE
        }
        (HistoryFormat::Jepsen, Some(_)) => {
            error!(
                "--scenario has no meaning with --format jepsen: a Jepsen history needs no scenario file"
            );
            EXIT_USAGE
        }
        (HistoryFormat::Jepsen, None) => check_jepsen(history, out, read_uncommitted),
    }
}

/// What a history file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum HistoryFormat {
    /// Written by `eventsim run --history` (JSON lines).
    Eventsim,
    /// Jepsen's and Maelstrom's Kafka workloads' history.edn.
    Jepsen,
}

/// The folder under `reports/` for a scenario file: its `[scenario]
/// name, or, when the file's stem is not that name (a copy edited under
/// another file name), `STEM-NAME`, so that two files of one name do not
/// overwrite each other's reports.
fn report_name(path: &Path, name: &str) -> String {
    let name = sanitize(name);
    let stem = path
        .file_stem()
        .map(|s| sanitize(&s.to_string_lossy()))
        .unwrap_or_default();
    if stem.is_empty() || stem == name {
        name
    } else {
        format!("{stem}-{name}")
    }
}

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
    } else if !name.is_ascii() {
        // `café` and `cafè` both read `caf_`: a fingerprint of the name
        // keeps their reports apart.
        let hash = crate::sweep::fingerprint(name.as_bytes());
        format!("{s}-{}", &hash[..8])
    } else {
        s
    }
}

pub use crate::text::shell_quote;

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

fn print_violations(s: &Summary, violations: &[crate::check::Violation]) {
    let failed: Vec<String> = s
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .map(|c| format!("{} ({})", c.name, c.violations))
        .collect();
    if failed.is_empty() {
        return;
    }
    say!("  violated: {}", failed.join(", "));
    print_violation_details(violations);
}

/// The first violation of each checker, with its explanation.
fn print_violation_details(violations: &[crate::check::Violation]) {
    let mut shown = std::collections::BTreeSet::new();
    for v in violations {
        if !shown.insert(v.invariant.as_str()) {
            continue;
        }
        say!("  {} at {}: {}", v.invariant, ms(v.t_ns), v.message);
        for line in shortened(&v.explanation, 12) {
            say!("      {line}");
        }
    }
}

/// At most `keep` lines of a causal chain for the terminal: its first
/// two lines (where the chain starts: the commit a replay goes back to,
/// the append) and its last ones, with a line saying how many were left
/// out between them (`violations.jsonl` and the page have them all).
fn shortened(chain: &[String], keep: usize) -> Vec<String> {
    if chain.len() <= keep {
        return chain.to_vec();
    }
    let head = 2.min(keep);
    let tail = keep.saturating_sub(head + 1);
    let left_out = chain.len() - head - tail;
    let mut out: Vec<String> = chain[..head].to_vec();
    out.push(format!(
        "... {left_out} more line(s): violations.jsonl and index.html have the whole chain"
    ));
    out.extend_from_slice(&chain[chain.len() - tail..]);
    out
}

/// A progress bar on stderr for runs longer than a second, when stderr is
/// a terminal and the run is not quiet; nothing otherwise.
#[allow(clippy::disallowed_methods)] // wall time for the progress bar, never an output file
fn progress_bar() -> Option<Box<dyn FnMut(u64, u64)>> {
    use std::io::IsTerminal;
    if quiet() || !std::io::stderr().is_terminal() {
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
    // The budget's end is an upper bound: a run ends earlier once it is
    // quiescent (producers done, every group caught up), so the bar says
    // "at most" and the time left is a bound too.
    Some(Box::new(move |now: u64, end: u64| {
        let wall = started.elapsed().as_secs_f64();
        if bar.is_none() && wall >= 1.0 {
            let b = indicatif::ProgressBar::new(end / 1_000_000);
            b.set_style(
                indicatif::ProgressStyle::with_template("  simulating {bar:40} {msg}")
                    .expect("a valid template"),
            );
            bar = Some(Bar(b));
        }
        if let Some(b) = &bar {
            b.0.set_position(now / 1_000_000);
            let left = if now > 0 {
                wall * end.saturating_sub(now) as f64 / now as f64
            } else {
                0.0
            };
            b.0.set_message(progress_text(now, end, wall, left));
        }
    }))
}

/// The progress bar's words: simulated seconds of the most the run may
/// simulate, wall time, and at most how long is left.
fn progress_text(now: u64, end: u64, wall: f64, left: f64) -> String {
    let secs = |s: f64| {
        if s >= 3600.0 {
            format!("{}h{:02}m", (s / 3600.0) as u64, (s % 3600.0 / 60.0) as u64)
        } else if s >= 60.0 {
            format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
        } else {
            format!("{s:.0}s")
        }
    };
    format!(
        "{:.1}s simulated (at most {:.1}s: it ends sooner once quiescent), {} wall, at most {} left",
        now as f64 / 1e9,
        end as f64 / 1e9,
        secs(wall),
        secs(left)
    )
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
/// finished is already on disk). The flags: (stop asked, interrupted).
fn on_interrupt() -> (Arc<AtomicBool>, Arc<AtomicBool>) {
    let stop = Arc::new(AtomicBool::new(false));
    let interrupted = Arc::new(AtomicBool::new(false));
    let flags = (stop.clone(), interrupted.clone());
    let _ = ctrlc::set_handler(move || {
        if interrupted.swap(true, Ordering::SeqCst) {
            std::process::exit(EXIT_INCOMPLETE);
        }
        stop.store(true, Ordering::SeqCst);
        eprintln!(
            "\ninterrupted: finishing the runs under way and keeping every result (interrupt again to stop at once)"
        );
    });
    flags
}

#[cfg(test)]
mod tests {
    use super::{progress_text, shortened};

    #[test]
    fn the_progress_bar_counts_simulated_seconds_of_an_upper_bound() {
        let t = progress_text(57_117_000_000, 90_000_000_000, 75.0, 43.2);
        assert_eq!(
            t,
            "57.1s simulated (at most 90.0s: it ends sooner once quiescent), 1m15s wall, at most 43s left"
        );
        assert!(progress_text(0, 3_600_000_000_000, 4000.0, 0.0).contains("1h06m wall"));
    }

    #[test]
    fn a_shortened_chain_keeps_its_start_and_its_end_and_says_what_it_left_out() {
        let chain: Vec<String> = (0..20).map(|i| format!("line {i}")).collect();
        let s = shortened(&chain, 8);
        assert_eq!(s.len(), 8);
        assert_eq!(s[0], "line 0");
        assert_eq!(s[1], "line 1");
        assert!(s[2].contains("13 more line(s)"), "{}", s[2]);
        assert_eq!(s[7], "line 19");
        assert_eq!(s[3], "line 15");
        let short: Vec<String> = chain[..8].to_vec();
        assert_eq!(shortened(&short, 8), short);
    }
}
