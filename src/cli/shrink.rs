//! `eventsim shrink`: reduce a failing run to a small repro.

use super::*;

pub(super) fn shrink(
    path: &Path,
    seed: Option<u64>,
    invariant: Option<&str>,
    out: Option<PathBuf>,
) -> i32 {
    use std::io::IsTerminal;
    let scenario = match load(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if let Some(name) = invariant
        && !crate::check::CHECKERS.contains(&name)
    {
        let hint =
            crate::scenario::suggest::did_you_mean(name, crate::check::CHECKERS.iter().copied())
                .map_or_else(String::new, |h| format!("\n  = help: {h}"));
        error!(
            "--invariant: unknown invariant `{name}`; invariants: {}{hint}",
            crate::check::CHECKERS.join(", ")
        );
        return EXIT_USAGE;
    }
    let seed = seed.unwrap_or(scenario.scenario.seed);
    let out = out.unwrap_or_else(|| {
        PathBuf::from("reports")
            .join(report_name(path, &scenario.scenario.name))
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
        error!("{e}");
        return EXIT_USAGE;
    }
    // A spinner with the count of candidate runs (how many there will be
    // is not known in advance), cleared when shrinking ends.
    let bar = (!quiet() && std::io::stderr().is_terminal()).then(|| {
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
            error!("{e}");
            return EXIT_USAGE;
        }
    };
    let text = crate::shrink::repro_file(&shrunk, &path.display().to_string(), seed);
    let written = crate::output::write_atomic(&out, text.as_bytes());
    if let Err(e) = written {
        error!("cannot write {}: {e}", out.display());
        return EXIT_USAGE;
    }
    say!(
        "shrunk `{}` seed {seed}: still violates {} with {} of {} fault(s), after {} candidate runs",
        scenario.scenario.name,
        shrunk.invariant,
        shrunk.scenario.faults.schedule.len(),
        shrunk.faults_before,
        shrunk.tried
    );
    for r in &shrunk.removed {
        say!("  removed: {r}");
    }
    for r in &shrunk.reduced {
        say!("  reduced: {r}");
    }
    for f in &shrunk.scenario.faults.schedule {
        say!("  kept:    {}", crate::shrink::describe(f));
    }
    say!(
        "  repro:   {}",
        as_invoked(&repro_command(&["run"], &out, None))
    );
    EXIT_PASS
}
