//! `eventsim plot`: redraw a run's plots and page from its files, in
//! place or into another folder (`--out`).

use super::*;

pub(super) fn plot(dir: &Path, out_dir: Option<PathBuf>) -> i32 {
    // In place unless --out names another folder.
    let same = |o: &Path| match (o.canonicalize(), dir.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    let elsewhere = out_dir.filter(|o| !same(o));
    let target = elsewhere.as_deref().unwrap_or(dir);
    let redrawn = crate::output::OutDir::lock(target).and_then(|mut out| {
        // summary.json is written after the files it is drawn from, and
        // removed before they are rewritten: when it is there, they match.
        let (data, summary) = crate::report::plot::PlotData::from_dir(dir)?;
        // A run killed between its summary and its perf.json leaves the
        // previous run's perf.json beside the new summary, and no
        // manifest: refuse a folder whose files are of two runs.
        if crate::output::read_manifest(dir).is_err()
            && let Ok(text) = std::fs::read_to_string(dir.join("perf.json"))
            && let Ok(perf) = serde_json::from_str::<serde_json::Value>(&text)
            && perf["kernel_events"].as_u64() != Some(summary.kernel_events)
        {
            return Err(format!(
                "{}: its perf.json is another run's ({} kernel events, the summary's {}) and it has no manifest.json: a run was killed while writing its report; run it again",
                dir.display(),
                perf["kernel_events"],
                summary.kernel_events
            ));
        }
        // In place, the run's other files stay listed in its manifest;
        // elsewhere, the folder holds only what was drawn.
        let kept = match crate::output::read_manifest(dir) {
            _ if elsewhere.is_some() => Vec::new(),
            Ok(m) => m.files.into_iter().map(|e| e.name).collect(),
            Err(_) => crate::report::plot::PlotData::INPUTS.map(String::from).to_vec(),
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
            let page = crate::report::page::Context {
                scenario: scenario.as_ref(),
                scenario_text: text.as_deref(),
                trace: None,
            };
            out.write(
                "index.html",
                crate::report::page::index_html(&summary, &data.faults, &svgs, &page).as_bytes(),
            )?;
            Ok(())
        };
        redraw().map_err(|e| format!("cannot draw into {}: {e}", target.display()))?;
        for name in &kept {
            out.keep(name)
                .map_err(|e| format!("{}: {e}", dir.join(name).display()))?;
        }
        out.finish()
            .map_err(|e| format!("cannot write into {}: {e}", target.display()))
    });
    match redrawn {
        Ok(()) => {
            say!("plots and index.html redrawn in {}", target.display());
            say!("  report: {}", target.join("index.html").display());
            EXIT_PASS
        }
        Err(e) => {
            error!("{e}");
            EXIT_USAGE
        }
    }
}
