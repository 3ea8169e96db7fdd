//! `eventsim compare` (design variants over seeds) and the merge of its
//! shards.

use super::*;

pub(super) fn compare(
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
    print_comparison(&title, &header.seeds, &summary, &dir);
    if (runs.len() as u128) < total {
        say!(
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
pub(super) fn write_comparison(
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
pub(super) fn merge_compare(dirs: &[PathBuf], out: Option<PathBuf>) -> i32 {
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
            print_comparison(&title, &header.seeds, &summary, &dir);
            if missing.is_empty() {
                return EXIT_PASS;
            }
            say!("incomplete: runs missing from the folders (the comparison covers the others):");
            for (label, ranges) in &missing {
                say!("  {label}: seeds {}", crate::sweep::describe(ranges, 10));
            }
            EXIT_INCOMPLETE
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_USAGE
        }
    }
}

/// The comparison's table on stdout, then where it was written.
fn print_comparison(title: &str, seeds: &str, summary: &crate::compare::Summary, dir: &Path) {
    if !quiet() {
        print!("{}", crate::compare::to_markdown(title, seeds, summary));
    }
    say!(
        "\nwritten: {}\n  report: {}",
        dir.join("comparison.csv").display(),
        dir.join("index.html").display()
    );
}
