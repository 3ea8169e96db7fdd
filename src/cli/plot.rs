//! `eventsim plot`: redraw a run's plots and page from its files.

use super::*;

pub(super) fn plot(dir: &Path) -> i32 {
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
