//! `eventsim sweep` (many seeds, resumable, sharded) and `eventsim merge`
//! of sweep shards.

use super::*;

/// The results a sweep folder already holds for `status`'s sweep: its
/// `sweep.jsonl` and the journal of an interrupted run (a last line cut
/// short by a kill is ignored).
pub(super) fn previous_results(
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
pub(super) const SWEEP_JOURNAL: &str = "sweep.partial.jsonl";

#[allow(clippy::too_many_arguments)]
pub(super) fn sweep(
    path: &Path,
    seeds: &str,
    jobs: Option<usize>,
    shard: Option<&str>,
    fail_fast: bool,
    resume: bool,
    reports: usize,
    out: Option<PathBuf>,
) -> i32 {
    use crate::sweep::{Seeds, Shard, Status};
    use std::collections::BTreeMap;
    use std::io::{IsTerminal, Write};
    let (scenario, text) = match load_with_text(path) {
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
            error!("{e}");
            return EXIT_USAGE;
        }
    };
    let dir = out.unwrap_or_else(|| {
        let mut name = format!("sweep-{range}");
        if shard.count > 1 {
            name.push_str(&format!("-shard-{}-of-{}", shard.index, shard.count));
        }
        PathBuf::from("reports")
            .join(report_name(path, &scenario.scenario.name))
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
    let mut outdir = match lock_out(&dir) {
        Ok(o) => o,
        Err(code) => return code,
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
                error!("{e}");
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
            error!("cannot write into {}: {e}", dir.display());
            return EXIT_USAGE;
        }
    };
    if !results.is_empty() {
        say!(
            "resuming: {} seed(s) already in {}",
            results.len(),
            dir.display()
        );
    }
    let (stop, interrupted) = on_interrupt();
    let todo = shard.len(range).saturating_sub(results.len() as u128);
    let bar = (!quiet() && std::io::stderr().is_terminal()).then(|| {
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
            if r.verdict == Verdict::Fail {
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
        error!("cannot write {}: {e}", dir.join(SWEEP_JOURNAL).display());
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
    // The first failing seeds' own reports, beside the sweep's page
    // (which links them): a reader opens the explanation without running
    // anything. Not after an interrupt, which asks to stop now.
    let mut reported = Vec::new();
    if !was_interrupted {
        for r in results
            .iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .take(reports)
        {
            let sub = dir.join(format!("seed-{}", r.seed));
            if let Err(e) = write_seed_report(&scenario, &text, path, r.seed, &sub) {
                error!(
                    "cannot write the report of seed {} to {}: {e}",
                    r.seed,
                    sub.display()
                );
                return EXIT_USAGE;
            }
            reported.push(r.seed);
        }
    }
    let page = sweep_page(&scenario.scenario.name, &status, &results, &reported);
    if !missing.is_empty() {
        outdir.set_incomplete(format!(
            "{}: {} of {} seed(s) ran",
            status.stopped_by,
            results.len(),
            shard.len(range)
        ));
    }
    let written = outdir
        .write("sweep.jsonl", crate::sweep::to_jsonl(&results).as_bytes())
        .and_then(|()| outdir.write("sweep.json", status_text.as_bytes()))
        .and_then(|()| outdir.write("index.html", page.as_bytes()))
        .and_then(|()| outdir.remove(SWEEP_JOURNAL))
        .and_then(|()| outdir.finish());
    if let Err(e) = written {
        error!("cannot write into {}: {e}", dir.display());
        return EXIT_USAGE;
    }
    if !missing.is_empty() {
        say!(
            "stopped early ({}): {} of {} seed(s) ran; missing: {}",
            status.stopped_by,
            results.len(),
            shard.len(range),
            crate::sweep::describe(&missing, 5)
        );
        if was_interrupted {
            say!(
                "  to finish it: {} --resume",
                sweep_command(path, &range, shard, &dir)
            );
        }
    }
    let code = sweep_summary(&results, &dir, &reported);
    if was_interrupted && !missing.is_empty() {
        EXIT_INCOMPLETE
    } else {
        code
    }
}

/// The command line of a sweep, for resuming it.
pub(super) fn sweep_command(
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
pub(super) fn sweep_page(
    name: &str,
    status: &crate::sweep::Status,
    results: &[crate::sweep::SeedResult],
    reported: &[u64],
) -> String {
    let scenario = Path::new(&status.scenario);
    let repro = |seed: u64| as_invoked(&repro_command(&["run"], scenario, Some(seed)));
    crate::report::page::sweep_html(name, status, results, &repro, reported)
}

/// Print what failed and how to reproduce it; the exit status.
/// Failing seeds whose whole report a sweep writes (`--reports`), and
/// `merge` too.
pub(super) const DEFAULT_REPORTS: usize = 3;

/// Repro lines a sweep prints (the page lists more).
const TERMINAL_REPROS: usize = 3;

pub(super) fn sweep_summary(
    results: &[crate::sweep::SeedResult],
    dir: &Path,
    reported: &[u64],
) -> i32 {
    let failing: Vec<&crate::sweep::SeedResult> = results
        .iter()
        .filter(|r| r.verdict == Verdict::Fail)
        .collect();
    let inconclusive: Vec<u64> = results
        .iter()
        .filter(|r| r.verdict == Verdict::Inconclusive)
        .map(|r| r.seed)
        .collect();
    say!(
        "{} seed(s) run, {} failed, {} inconclusive; results in {}",
        results.len(),
        failing.len(),
        inconclusive.len(),
        dir.join("sweep.jsonl").display()
    );
    if !inconclusive.is_empty() {
        let shown: Vec<String> = inconclusive.iter().take(10).map(u64::to_string).collect();
        say!(
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
        say!(
            "  {invariant}: {} seed(s): {}{more}",
            seeds.len(),
            shown.join(", ")
        );
    }
    for r in failing.iter().take(TERMINAL_REPROS) {
        say!(
            "  repro: {}",
            as_invoked(&repro_command(
                &["run"],
                Path::new(&r.scenario),
                Some(r.seed)
            ))
        );
    }
    if failing.len() > TERMINAL_REPROS {
        say!(
            "  ... and {} more failing seed(s): sweep.jsonl lists them, index.html gives the first 20 repro commands",
            failing.len() - TERMINAL_REPROS
        );
    }
    for seed in reported {
        say!(
            "  report of seed {seed}: {}",
            dir.join(format!("seed-{seed}"))
                .join("index.html")
                .display()
        );
    }
    say!("  report: {}", dir.join("index.html").display());
    if !failing.is_empty() {
        EXIT_FAIL
    } else if !inconclusive.is_empty() {
        EXIT_INCONCLUSIVE
    } else {
        EXIT_PASS
    }
}

pub(super) fn merge(dirs: &[PathBuf], out: Option<PathBuf>) -> i32 {
    if dirs.iter().all(|d| d.join("compare-runs.jsonl").exists()) {
        return merge_compare(dirs, out);
    }
    if dirs.iter().all(|d| d.join("capacity.json").exists()) {
        return super::capacity::merge_capacity(dirs, out);
    }
    match merge_sweeps(dirs, out) {
        Ok(code) => code,
        Err(e) => {
            error!("{e}");
            EXIT_USAGE
        }
    }
}

/// Merge sweep folders: every seed once; the seeds of the range that no
/// folder holds are named, and make the exit status 4.
pub(super) fn merge_sweeps(dirs: &[PathBuf], out: Option<PathBuf>) -> Result<i32, String> {
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
    // Where the unsharded sweep would have written.
    let dir = out.unwrap_or_else(|| {
        let path = Path::new(&status.scenario);
        let name = crate::scenario::Scenario::load(path).map_or_else(
            |_| {
                path.file_stem()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            },
            |s| s.scenario.name,
        );
        PathBuf::from("reports")
            .join(report_name(path, &name))
            .join(format!("sweep-{range}"))
    });
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
    // The first failing seeds' reports, as the unsharded sweep writes
    // them, when the scenario file is still there unchanged.
    let mut reported = Vec::new();
    let scenario_path = Path::new(&merged_status.scenario);
    if let Ok(bytes) = std::fs::read(scenario_path)
        && crate::sweep::fingerprint(&bytes) == merged_status.scenario_hash
        && let Ok((scenario, text)) = crate::scenario::Scenario::load_with_text(scenario_path)
    {
        for r in merged
            .iter()
            .filter(|r| r.verdict == Verdict::Fail)
            .take(DEFAULT_REPORTS)
        {
            let sub = dir.join(format!("seed-{}", r.seed));
            write_seed_report(&scenario, &text, scenario_path, r.seed, &sub).map_err(|e| {
                format!(
                    "cannot write the report of seed {} to {}: {e}",
                    r.seed,
                    sub.display()
                )
            })?;
            reported.push(r.seed);
        }
    }
    let page = sweep_page(&name, &merged_status, &merged, &reported);
    let mut outdir = crate::output::OutDir::lock(&dir)?;
    if !missing.is_empty() {
        outdir.set_incomplete(format!(
            "the folders hold {} of the {} seeds",
            merged.len(),
            range.len()
        ));
    }
    outdir
        .begin(&["sweep.json", "sweep.jsonl", "index.html"])
        .and_then(|()| outdir.write("sweep.jsonl", crate::sweep::to_jsonl(&merged).as_bytes()))
        .and_then(|()| outdir.write("sweep.json", status_text.as_bytes()))
        .and_then(|()| outdir.write("index.html", page.as_bytes()))
        .and_then(|()| outdir.finish())
        .map_err(|e| format!("cannot write into {}: {e}", dir.display()))?;
    if !missing.is_empty() {
        say!(
            "incomplete: the folders hold {} of the {} seeds of {}; missing: {}",
            merged.len(),
            range.len(),
            range,
            crate::sweep::describe(&missing, 10)
        );
    }
    let code = sweep_summary(&merged, &dir, &reported);
    Ok(if missing.is_empty() {
        code
    } else {
        EXIT_INCOMPLETE
    })
}
