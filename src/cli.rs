//! The command line: parse arguments, call the library, print, and map
//! outcomes to exit codes (0 pass, 1 an invariant failed, 2 bad input or usage).

use crate::report::{self, Perf, Summary};
use crate::scenario::Scenario;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
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
        } => run(&scenario, seed, out, quiet),
        Command::Check { scenario } => check(&scenario),
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

fn run(path: &Path, seed: Option<u64>, out: Option<PathBuf>, quiet: bool) -> i32 {
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
    let result = crate::run(&scenario, seed);
    let wall = started.elapsed();
    let repro = format!("eventsim run {} --seed {seed}", path.display());
    let summary = Summary::new(&result, repro);
    let perf = Perf::new(&result, wall);
    let written = report::write(&dir, &summary, &perf).and_then(|()| {
        std::fs::write(dir.join("faults.csv"), report::faults_csv(&result))?;
        std::fs::write(dir.join("faults.toml"), report::faults_toml(&result))
    });
    if let Err(e) = written {
        eprintln!("error: cannot write the report to {}: {e}", dir.display());
        return EXIT_USAGE;
    }
    if !quiet {
        print_summary(&summary, &perf, &dir);
    }
    if summary.verdict == "pass" {
        EXIT_PASS
    } else {
        EXIT_FAIL
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
    if !s.faults.is_empty() {
        let list: Vec<String> = s.faults.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("  faults fired: {}", list.join(", "));
    }
    println!("  verdict: {}", s.verdict);
    println!("  report:  {}", dir.join("summary.json").display());
    println!("  repro:   {}", s.repro);
}
