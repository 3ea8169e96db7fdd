//! `eventsim capacity`: the highest load a design carries within its
//! objectives, or (`--size`) the smallest field value that meets them.

use super::*;
use crate::capacity::{self, Curve, LoadSearch, Report, Runner, SearchError, SizeSearch};
use std::io::IsTerminal;

/// `capacity`'s flags.
#[derive(clap::Args)]
pub(super) struct CapacityArgs {
    /// The scenario file (TOML).
    scenario: PathBuf,
    /// An objective, replacing the scenario's `[[checks.objectives]]`
    /// (repeatable): STREAM[:NAME] pP <= DURATION (end-to-end, from-origin,
    /// produce-ack, flow), lag[:GROUP] <= EVENTS, throughput[:GROUP] >= RATE.
    #[arg(long, value_name = "OBJECTIVE")]
    objective: Vec<String>,
    /// Seeds of every point: A..B (B excluded), A..=B or A.
    #[arg(long, default_value = "0..3")]
    seeds: String,
    /// Scale only this producer's rate (default: every producer's).
    #[arg(long)]
    producer: Option<String>,
    /// The lowest offered load to try, events/s (default: the scenario's own, halved while it misses).
    #[arg(long)]
    from: Option<f64>,
    /// The highest offered load to try, events/s (default: doubling until a point misses).
    #[arg(long)]
    to: Option<f64>,
    /// Stop bisecting when the bracket is this narrow, relative to its lower end.
    #[arg(long, default_value_t = 0.01)]
    precision: f64,
    /// Sizing: the smallest value of an integer field in LO..=HI that meets the objectives at the scenario's rates, e.g. groups.server.consumers=1..12.
    #[arg(long, value_name = "PATH=LO..HI")]
    size: Option<String>,
    /// PATH=V1,V2,...: search each variant (as compare's --vary; repeatable).
    #[arg(long = "vary", value_name = "PATH=V1,V2")]
    vary: Vec<String>,
    /// Parallel runs (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Search only shard I of N (0-based) of the --vary variants: those at positions I, I+N, ...; `merge` combines the shards.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Output folder (default: reports/<name>/capacity[-<options>]/).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// What the search runs over: each variant's scenario, or the sizing.
enum Plan {
    /// Every variant's label, and the variants this shard searches.
    Loads(Vec<String>, Vec<(String, Scenario)>),
    /// The field, its range, and the objectives.
    Size(String, u64, u64, Vec<crate::scenario::Objective>),
}

pub(super) fn capacity(a: CapacityArgs) -> i32 {
    let (s, text) = match load_with_text(&a.scenario) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let file = a.scenario.display().to_string();
    let prepared = prepare(&a, &s, &text, &file);
    let (plan, range, jobs) = match prepared {
        Ok(x) => x,
        Err(e) => {
            error!("{e}");
            return EXIT_USAGE;
        }
    };
    let dir = a.out.clone().unwrap_or_else(|| default_dir(&a, &s));
    let outdir = match lock_out(&dir) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let (stop, _) = on_interrupt();
    let bar = spinner();
    let mut progress = |n: u64| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    };
    let mut runner = Runner {
        seeds: range,
        jobs,
        stop: &stop,
        progress: &mut progress,
        runs: 0,
    };
    let searched = search(&a, &plan, &text, &file, &mut runner);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let (curves, objectives) = match searched {
        Ok(x) => x,
        Err(SearchError::Stopped) => {
            say!("interrupted: no answer (nothing written)");
            return EXIT_INCOMPLETE;
        }
        Err(SearchError::LowestMisses(why) | SearchError::Invalid(why)) => {
            error!("{why}");
            return EXIT_USAGE;
        }
    };
    let mut report = report_of(&s, &plan, range, curves, objectives);
    report.shard = a.shard.clone();
    report.folder = default_dir(&a, &s).display().to_string();
    finish(outdir, &report, &dir)
}

/// A spinner with the runs done (how many there will be is not known in
/// advance), on a terminal only.
fn spinner() -> Option<indicatif::ProgressBar> {
    (!quiet() && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("  {spinner} capacity: {pos} runs, {elapsed}")
                .expect("a valid template"),
        );
        b
    })
}

/// The report of a finished search.
fn report_of(
    s: &Scenario,
    plan: &Plan,
    range: crate::sweep::Seeds,
    curves: Vec<Curve>,
    objectives: capacity::Objectives,
) -> Report {
    let field = match plan {
        Plan::Size(path, ..) => Some(path.clone()),
        Plan::Loads(..) => None,
    };
    Report {
        scenario: s.scenario.name.clone(),
        x: field
            .clone()
            .unwrap_or_else(|| "offered load (events/s)".into()),
        field,
        seeds: range.to_string(),
        objectives,
        variants: match plan {
            Plan::Loads(labels, _) => labels.clone(),
            Plan::Size(path, ..) => vec![path.clone()],
        },
        shard: None,
        folder: String::new(),
        curves,
        repro: repro_line(),
    }
}

/// The command as given, for the page, without what does not change the
/// answers (`--out`, `--jobs`, `--shard`, `--quiet`): the same for any of
/// them, and for the shards of one search.
fn repro_line() -> String {
    let mut words = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" | "--jobs" | "--shard" => {
                args.next();
            }
            "-q" | "--quiet" => {}
            _ if ["--out=", "--jobs=", "--shard="]
                .iter()
                .any(|p| a.starts_with(p)) => {}
            _ => words.push(crate::text::shell_quote(&a)),
        }
    }
    format!("eventsim {}", words.join(" "))
}

/// Flags checked, objectives in place: the plan, the seeds and the jobs.
fn prepare(
    a: &CapacityArgs,
    s: &Scenario,
    text: &str,
    file: &str,
) -> Result<(Plan, crate::sweep::Seeds, usize), String> {
    let range = crate::sweep::Seeds::parse(&a.seeds).map_err(|e| format!("--seeds: {e}"))?;
    let jobs = worker_threads(a.jobs)?;
    check_search_flags(a)?;
    let objectives = objectives_for(a, s)?;
    let with = |mut v: Scenario| {
        capacity::judge_objectives(&mut v, &objectives);
        v
    };
    if let Some(size) = &a.size {
        if !a.vary.is_empty() || a.shard.is_some() {
            return Err(
                "--size with --vary or --shard: size one design at a time, in one command".into(),
            );
        }
        let (path, lo, hi) = parse_size(size)?;
        let sizing = SizeSearch {
            text,
            file,
            path: &path,
            lo,
            hi,
            objectives: &objectives,
        };
        for v in [lo, hi] {
            sizing.at(v).map_err(|e| format!("--size {size}: {e}"))?;
        }
        return Ok((Plan::Size(path, lo, hi, objectives), range, jobs));
    }
    capacity::scaled_producers(s, a.producer.as_deref())?;
    let shard = a
        .shard
        .as_deref()
        .map_or(Ok(crate::sweep::Shard::ALL), crate::sweep::Shard::parse)?;
    let variants: Vec<(String, Scenario)> = if a.vary.is_empty() {
        vec![(s.scenario.name.clone(), with(s.clone()))]
    } else {
        let varies = (a.vary.iter())
            .map(|v| crate::compare::Vary::parse(v))
            .collect::<Result<Vec<_>, _>>()?;
        (crate::compare::variants(text, file, &varies)?.into_iter())
            .map(|v| (v.label, with(v.scenario)))
            .collect()
    };
    let labels = variants.iter().map(|v| v.0.clone()).collect();
    let mine = (variants.into_iter().enumerate())
        .filter(|(i, _)| *i as u64 % shard.count == shard.index)
        .map(|(_, v)| v)
        .collect();
    Ok((Plan::Loads(labels, mine), range, jobs))
}

/// `--precision`, `--from` and `--to`.
fn check_search_flags(a: &CapacityArgs) -> Result<(), String> {
    if !(a.precision > 0.0 && a.precision < 1.0) {
        return Err(format!(
            "--precision: expected a fraction above 0 and below 1, not {}",
            a.precision
        ));
    }
    match (a.from, a.to) {
        (Some(f), _) | (_, Some(f)) if !(f.is_finite() && f > 0.0) => {
            return Err(format!(
                "--from and --to: expected events per second above 0, not {f}"
            ));
        }
        (Some(f), Some(t)) if t <= f => {
            return Err(format!(
                "--from {f} --to {t}: the range is empty (--to must be above --from)"
            ));
        }
        _ => {}
    }
    Ok(())
}

/// The objectives a search judges: `--objective`s, checked against the
/// scenario as its file's are, else the scenario's own.
fn objectives_for(
    a: &CapacityArgs,
    s: &Scenario,
) -> Result<Vec<crate::scenario::Objective>, String> {
    if a.objective.is_empty() {
        if s.checks.objectives.is_empty() {
            return Err(format!(
                "capacity needs objectives: state them in [[checks.objectives]] (docs/scenario-format.md) or give --objective, e.g. --objective 'end-to-end p99 <= 50ms'; it takes {}",
                capacity::OBJECTIVE_FORMS
            ));
        }
        return Ok(s.checks.objectives.clone());
    }
    let parsed = (a.objective.iter())
        .map(|t| capacity::parse_objective(t))
        .collect::<Result<Vec<_>, _>>()?;
    let mut probe = s.clone();
    probe.checks.objectives = parsed.clone();
    for p in probe.problems() {
        use crate::scenario::Step;
        if let [Step::Key(c), Step::Key(o), Step::Index(i), ..] = p.path.as_slice()
            && c == "checks"
            && o == "objectives"
        {
            let hint = crate::scenario::suggest::for_message(&p.message)
                .map_or(String::new(), |h| format!(" ({h})"));
            return Err(format!(
                "--objective '{}': {}{hint}",
                a.objective[*i], p.message
            ));
        }
    }
    Ok(parsed)
}

/// `--size PATH=LO..HI`.
fn parse_size(text: &str) -> Result<(String, u64, u64), String> {
    let bad = || {
        format!(
            "--size: expected PATH=LO..HI with whole numbers LO <= HI, e.g. groups.server.consumers=1..12, not `{text}`"
        )
    };
    let (path, range) = text.rsplit_once('=').ok_or_else(bad)?;
    let (lo, hi) = range.split_once("..").ok_or_else(bad)?;
    let lo: u64 = lo.trim().parse().map_err(|_| bad())?;
    let hi: u64 = hi
        .trim()
        .trim_start_matches('=')
        .parse()
        .map_err(|_| bad())?;
    if path.is_empty() || lo > hi {
        return Err(bad());
    }
    Ok((path.to_string(), lo, hi))
}

/// Run the plan: every curve, and the objectives.
fn search(
    a: &CapacityArgs,
    plan: &Plan,
    text: &str,
    file: &str,
    r: &mut Runner,
) -> Result<(Vec<Curve>, capacity::Objectives), SearchError> {
    let mut curves = Vec::new();
    let mut objectives = capacity::Objectives::default();
    match plan {
        Plan::Size(path, lo, hi, judged) => {
            let sizing = SizeSearch {
                text,
                file,
                path,
                lo: *lo,
                hi: *hi,
                objectives: judged,
            };
            let (c, o) = sizing.run(path, r)?;
            curves.push(c);
            objectives = o;
        }
        Plan::Loads(_, variants) => {
            for (label, s) in variants {
                let (chosen, base) = capacity::scaled_producers(s, a.producer.as_deref())
                    .map_err(SearchError::Invalid)?;
                let search = LoadSearch {
                    scenario: s,
                    chosen: &chosen,
                    base,
                    from: a.from,
                    to: a.to,
                    precision: a.precision,
                };
                let (c, o) = search.run(label, r)?;
                curves.push(c);
                objectives = o;
            }
        }
    }
    Ok((curves, objectives))
}

/// Write capacity.json, capacity.csv, the plots and index.html; print
/// the answers.
pub(super) fn finish(mut out: crate::output::OutDir, report: &Report, dir: &Path) -> i32 {
    let written = (|| -> Result<(), String> {
        let io = |e: std::io::Error| e.to_string();
        out.begin(&["capacity.json", "index.html"]).map_err(io)?;
        let plots = report.plots()?;
        for (stem, d) in &plots {
            out.write(&format!("{stem}.png"), &d.png).map_err(io)?;
            out.write(&format!("{stem}.svg"), d.svg.as_bytes())
                .map_err(io)?;
        }
        out.write("capacity.csv", report.to_csv().as_bytes())
            .map_err(io)?;
        let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())? + "\n";
        out.write("capacity.json", json.as_bytes()).map_err(io)?;
        let stems: Vec<&str> = plots.iter().map(|p| p.0).collect();
        out.write("index.html", report.html(&stems).as_bytes())
            .map_err(io)?;
        out.finish().map_err(io)
    })();
    if let Err(e) = written {
        error!("cannot write the capacity report to {}: {e}", dir.display());
        return EXIT_USAGE;
    }
    let what = match &report.field {
        Some(f) => format!("smallest {f}"),
        None => "capacity".into(),
    };
    say!(
        "{what} of `{}` within {} ({} runs, seeds {} per point):",
        report.scenario,
        report.objectives.names.join("; "),
        report.runs(),
        report.seeds
    );
    let width = report
        .curves
        .iter()
        .map(|c| c.label.chars().count())
        .max()
        .unwrap_or(0);
    for c in &report.curves {
        say!("  {:<width$}  {}", c.label, report.answer_text(c));
        if !c.note.is_empty() {
            say!("    ({})", c.note);
        }
    }
    say!("  report:  {}", dir.join("index.html").display());
    EXIT_PASS
}

/// reports/<name>/capacity[-<options>]/.
fn default_dir(a: &CapacityArgs, s: &Scenario) -> PathBuf {
    let mut leaf = "capacity".to_string();
    let mut opts: Vec<String> = a.vary.clone();
    opts.extend(a.size.iter().map(|s| format!("size-{s}")));
    opts.extend(a.producer.iter().map(|p| format!("producer-{p}")));
    if !opts.is_empty() {
        leaf.push('-');
        leaf.push_str(&sanitize(&opts.join("+")));
        let cut = (0..=96.min(leaf.len()))
            .rev()
            .find(|&i| leaf.is_char_boundary(i))
            .unwrap_or(0);
        leaf.truncate(cut);
    }
    PathBuf::from("reports")
        .join(report_name(&a.scenario, &s.scenario.name))
        .join(leaf)
}

/// Merge the capacity.json of a search's shards, and write the whole
/// report (by default where the unsharded search writes).
pub(super) fn merge_capacity(dirs: &[PathBuf], out: Option<PathBuf>) -> i32 {
    let mut shards = Vec::new();
    for d in dirs {
        let path = d.join("capacity.json");
        let read = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Report>(&t).map_err(|e| e.to_string()));
        match read {
            Ok(r) => shards.push((d.display().to_string(), r)),
            Err(e) => {
                error!("{}: {e}", path.display());
                return EXIT_USAGE;
            }
        }
    }
    let (report, missing) = match Report::merge(shards) {
        Ok(x) => x,
        Err(e) => {
            error!("{e}");
            return EXIT_USAGE;
        }
    };
    let dir = out.unwrap_or_else(|| PathBuf::from(&report.folder));
    let outdir = match lock_out(&dir) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let code = finish(outdir, &report, &dir);
    if code == EXIT_PASS && !missing.is_empty() {
        say!("incomplete: no shard searched {}", missing.join(", "));
        return EXIT_INCOMPLETE;
    }
    code
}
