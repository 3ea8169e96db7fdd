//! `eventsim compare` (design variants over seeds) and the merge of its
//! shards.

use super::*;
use crate::report::plot::{Bar, render_bars};

pub(super) fn compare(
    paths: &[PathBuf],
    vary: &[String],
    seeds: &str,
    jobs: Option<usize>,
    shard: Option<&str>,
    out: Option<PathBuf>,
) -> i32 {
    use crate::compare::{self, Vary};
    use crate::sweep::{Seeds, Shard};
    let mut files = Vec::new();
    let mut names = Vec::new();
    let mut folders = Vec::new();
    for path in paths {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                error!("{}: {e}", path.display());
                return EXIT_USAGE;
            }
        };
        match load(path) {
            Ok(s) => names.push(s.scenario.name),
            Err(code) => return code,
        }
        folders.push(report_name(path, names.last().expect("pushed")));
        files.push((path.display().to_string(), text));
    }
    let prepared = vary
        .iter()
        .map(|v| Vary::parse(v))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|varies| {
            let range = Seeds::parse(seeds)?;
            let shard = shard.map_or(Ok(Shard::ALL), Shard::parse)?;
            let jobs = worker_threads(jobs)?;
            let variants = compare::variants_of(&files, &varies)?;
            Ok((varies, range, shard, jobs, variants))
        });
    let (varies, range, shard, jobs, variants) = match prepared {
        Ok(x) => x,
        Err(e) => {
            error!("{e}");
            return EXIT_USAGE;
        }
    };
    let title = names.join(" vs ");
    let dir = out.unwrap_or_else(|| default_dir(&folders, vary));
    // The folder is checked and locked before anything runs.
    let outdir = match lock_out(&dir) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let (stop, _) = on_interrupt();
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
            error!("{e}");
            return EXIT_USAGE;
        }
    };
    let header = compare::Header {
        compare: 1,
        scenario: files[0].0.clone(),
        scenarios: if files.len() > 1 {
            files.iter().map(|f| f.0.clone()).collect()
        } else {
            Vec::new()
        },
        vary: vary.to_vec(),
        seeds: range.to_string(),
    };
    let incomplete = ((runs.len() as u128) < total)
        .then(|| format!("interrupted: {} of {} runs finished", runs.len(), total));
    let summary = match write_comparison(
        outdir, &header, &title, &varies, &variants, &runs, incomplete,
    ) {
        Ok(s) => s,
        Err(e) => {
            error!("{e}");
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
    incomplete: Option<String>,
) -> Result<crate::compare::Summary, String> {
    use crate::compare;
    let mut summary = compare::summarise(variants, runs);
    summary.incomplete = incomplete.clone();
    if let Some(what) = incomplete {
        out.set_incomplete(what);
    }
    let dir = out.path().to_path_buf();
    let mut write = || -> std::io::Result<()> {
        let mut svgs = Vec::new();
        out.begin(&["comparison.csv", "comparison.md", "index.html"])?;
        out.write(
            "compare-runs.jsonl",
            compare::runs_jsonl(header, runs).as_bytes(),
        )?;
        for (stem, figure, label, scale) in compare::charts(&summary) {
            let bars: Vec<Bar> = summary
                .rows
                .iter()
                .map(|r| {
                    let (mean, ci) = figure.of(r).unwrap_or((f64::NAN, f64::NAN));
                    if r.seeds == 0 {
                        return Bar {
                            label: format!("{} (not run)", r.label),
                            mean: 0.0,
                            ci: f64::NAN,
                            failed: Vec::new(),
                        };
                    }
                    Bar {
                        label: r.label.clone(),
                        mean: mean / scale,
                        ci: ci / scale,
                        failed: r.failed.clone(),
                    }
                })
                .collect();
            let drawn = render_bars(&format!("{title}: {label}"), &label, &bars)
                .map_err(std::io::Error::other)?;
            out.write(&format!("{stem}.png"), &drawn.png)?;
            out.write(&format!("{stem}.svg"), drawn.svg.as_bytes())?;
            svgs.push((stem, drawn.svg));
        }
        out.write(
            "comparison.csv",
            compare::to_csv(
                &compare::value_columns(header.files().len(), varies),
                &summary,
            )
            .as_bytes(),
        )?;
        out.write(
            "comparison.md",
            compare::to_markdown(title, &header.seeds, &summary).as_bytes(),
        )?;
        out.write(
            "index.html",
            crate::report::page::compare_html(title, header, &summary, &svgs).as_bytes(),
        )?;
        Ok(())
    };
    write()
        .and_then(|()| out.finish())
        .map_err(|e| format!("cannot write the comparison to {}: {e}", dir.display()))?;
    Ok(summary)
}

/// Where a comparison writes by default: one folder per set of files and
/// of --vary options, so that two comparisons of other settings do not
/// overwrite each other (a merge of its shards writes there too).
fn default_dir(folders: &[String], vary: &[String]) -> PathBuf {
    let mut leaf = "compare".to_string();
    if !vary.is_empty() {
        leaf.push('-');
        leaf.push_str(&sanitize(&vary.join("+")));
        if leaf.len() > 96 {
            let cut = (0..=96)
                .rev()
                .find(|&i| leaf.is_char_boundary(i))
                .unwrap_or(0);
            leaf.truncate(cut);
        }
    }
    PathBuf::from("reports")
        .join(sanitize(&folders.join("-vs-")))
        .join(leaf)
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
                error!("{e}");
                return EXIT_USAGE;
            }
        };
        if header.as_ref().is_some_and(|first| *first != h) {
            error!("{} is a shard of another comparison", file.display());
            return EXIT_USAGE;
        }
        header = Some(h);
        runs.extend(r);
    }
    let Some(header) = header else {
        return EXIT_USAGE;
    };
    let prepared = header
        .files()
        .into_iter()
        .map(|f| {
            std::fs::read_to_string(&f)
                .map(|text| (f.clone(), text))
                .map_err(|e| format!("{f}: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()
        .and_then(|files| {
            let varies = header
                .vary
                .iter()
                .map(|v| compare::Vary::parse(v))
                .collect::<Result<Vec<_>, _>>()?;
            let variants = compare::variants_of(&files, &varies)?;
            Ok((varies, variants))
        });
    let (varies, variants) = match prepared {
        Ok(x) => x,
        Err(e) => {
            error!("{e}");
            return EXIT_USAGE;
        }
    };
    let runs = match compare::merge_runs(&variants, runs) {
        Ok(r) => r,
        Err(e) => {
            error!("{e}");
            return EXIT_USAGE;
        }
    };
    let mut names: Vec<String> = Vec::new();
    for v in &variants {
        if !names.contains(&v.scenario.scenario.name) {
            names.push(v.scenario.scenario.name.clone());
        }
    }
    let title = names.join(" vs ");
    // Where the unsharded comparison would have written.
    let dir = out.unwrap_or_else(|| {
        let folders: Vec<String> = header
            .files()
            .iter()
            .filter_map(|f| {
                crate::scenario::Scenario::load(Path::new(f))
                    .ok()
                    .map(|s| report_name(Path::new(f), &s.scenario.name))
            })
            .collect();
        default_dir(&folders, &header.vary)
    });
    let missing = match crate::sweep::Seeds::parse(&header.seeds) {
        Ok(range) => compare::missing_runs(&variants, range, &runs),
        Err(e) => {
            error!("compare-runs.jsonl: {e}");
            return EXIT_USAGE;
        }
    };
    let written = crate::output::OutDir::lock(&dir).and_then(|o| {
        let incomplete = (!missing.is_empty()).then(|| {
            format!(
                "{} run(s) missing from the merged folders",
                missing
                    .iter()
                    .map(|(_, ranges)| {
                        ranges
                            .iter()
                            .map(|r| (r.last - r.first).saturating_add(1))
                            .fold(0u64, u64::saturating_add)
                    })
                    .fold(0u64, u64::saturating_add)
            )
        });
        write_comparison(o, &header, &title, &varies, &variants, &runs, incomplete)
    });
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
            error!("{e}");
            EXIT_USAGE
        }
    }
}

/// The comparison's table on stdout, then where it was written.
fn print_comparison(title: &str, seeds: &str, summary: &crate::compare::Summary, dir: &Path) {
    if !quiet() {
        crate::cli::emit(format_args!(
            "{}",
            crate::compare::to_markdown(title, seeds, summary)
        ));
    }
    say!(
        "\nwritten: {}\n  report: {}",
        dir.join("comparison.csv").display(),
        dir.join("index.html").display()
    );
}
