//! `eventsim check` (validate a scenario) and `eventsim check-history`
//! (re-run the checkers on a recorded history).

use super::*;

pub(super) fn check(path: &Path) -> i32 {
    match load(path) {
        Ok(s) => {
            let services = match s.services.len() {
                0 => String::new(),
                n => format!(", {n} service(s)"),
            };
            say!(
                "{}: ok (scenario `{}`: {} topic(s), {} producer(s), {} group(s){services})",
                path.display(),
                s.scenario.name,
                s.topics.len(),
                s.producers.len(),
                s.groups.len()
            );
            if let Some(note) = work_note(&s) {
                say!("{note}");
            }
            EXIT_PASS
        }
        Err(code) => code,
    }
}

/// Kernel events a record costs, about (measured on the shipped
/// scenarios: 6 for an M/M/1 queue, 9-11 for one group with faults, 17 for
/// an order flow of services), and ticks of the model per simulated second.
const KERNEL_EVENTS_PER_RECORD: f64 = 10.0;
const TICKS_PER_S: f64 = 10.0;
/// Kernel events a run processes per second of computing, about (the
/// figure every run prints ranges from 0.5 to 3 M on one core).
const KERNEL_EVENTS_PER_S: f64 = 1e6;
/// Past this many kernel events (about ten minutes), `check` says so.
const LARGE_RUN: f64 = 6e8;

/// What a valid but enormous scenario will cost in computing, so that a
/// run of a year of simulated time does not surprise: `None` for a run
/// of less than about ten minutes.
fn work_note(s: &crate::scenario::Scenario) -> Option<String> {
    let records = s.footprint().records;
    let seconds = (s.scenario.duration.ns() + s.scenario.drain.ns()) as f64 / 1e9;
    let events = records * KERNEL_EVENTS_PER_RECORD + seconds * TICKS_PER_S;
    if events.is_nan() || events <= LARGE_RUN {
        return None;
    }
    let budget = s.scenario.max_kernel_events as f64;
    let spent = events.min(budget) / KERNEL_EVENTS_PER_S;
    let long = |secs: f64| {
        if secs >= 86_400.0 {
            format!("{:.1} days", secs / 86_400.0)
        } else if secs >= 3_600.0 {
            format!("{:.1} hours", secs / 3_600.0)
        } else {
            format!("{:.0} minutes", secs / 60.0)
        }
    };
    let time = long(spent);
    let cut = if events > budget {
        format!(
            "; the kernel event budget (scenario.max_kernel_events = {}) stops it first, as inconclusive, after",
            s.scenario.max_kernel_events
        )
    } else {
        "; that is".to_string()
    };
    Some(format!(
        "  note: a large run: about {records:.2e} events made over {} of simulated time, about {events:.1e} kernel events{cut} about {time} of computing at 1 M kernel events/s",
        long(seconds),
    ))
}

/// Read a history file: header, entries (each validated against the run's
/// catalog, then fed to `observer`), trailer.
pub(super) fn read_history(
    path: &Path,
    ctx: &crate::check::Context,
    observer: &mut dyn crate::history::Observer,
) -> Result<(crate::history::Header, crate::history::Trailer), String> {
    use crate::history::{Entry, Header, Trailer};
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = BoundedLines::new(std::io::BufReader::new(file)).enumerate();
    let bad = |n: usize, what: &str, e: &dyn std::fmt::Display| {
        format!(
            "{}:{}: expected {what}: {}",
            path.display(),
            n + 1,
            clip_message(&e.to_string())
        )
    };
    let (n, first) = lines
        .next()
        .ok_or_else(|| format!("{}:1: empty history file", path.display()))?;
    let first = first.map_err(|e| bad(n, "a line", &e))?;
    let header: Header =
        serde_json::from_str(&first).map_err(|e| bad(n, "the history header", &e))?;
    let mut trailer: Option<Trailer> = None;
    let mut validator = crate::history::Validator::new(&ctx.catalog, ctx.faults.len());
    let mut digest = crate::history::LineDigest::default();
    for (n, line) in lines {
        let line = line.map_err(|e| bad(n, "a line", &e))?;
        if trailer.is_some() {
            return Err(bad(n, "nothing after the trailer", &"more lines"));
        }
        match serde_json::from_str::<Entry>(&line) {
            Ok(e) => {
                digest.line(line.as_bytes());
                validator
                    .check(e.t, &e.observation)
                    .map_err(|why| format!("{}:{}: {why}", path.display(), n + 1))?;
                observer.observe(e.t, &e.observation)
            }
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
    // What the trailer says was written, against what was read: a
    // history cut, edited or reordered is refused, not judged.
    if let Some(count) = trailer.observations
        && (count != digest.lines || trailer.digest != digest.hex())
    {
        return Err(format!(
            "{}: the history was cut or edited: its trailer says {count} observation line(s) with digest {}, the file holds {} with digest {}",
            path.display(),
            trailer.digest,
            digest.lines,
            digest.hex()
        ));
    }
    Ok((header, trailer))
}

pub(super) fn check_history(path: &Path, scenario_path: &Path) -> i32 {
    let (scenario, text) = match load_with_text(scenario_path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    // The catalog and fault plan come from the scenario and the seed.
    let header = match read_header(path) {
        Ok(h) => h,
        Err(e) => {
            error!("{e}");
            return EXIT_USAGE;
        }
    };
    // Another scenario's history fails on its first id the catalog lacks:
    // say what is wrong before that.
    if header.scenario != scenario.scenario.name {
        error!(
            "{} records scenario `{}`, not `{}` ({}): give the scenario file it was recorded with",
            path.display(),
            header.scenario,
            scenario.scenario.name,
            scenario_path.display()
        );
        return EXIT_USAGE;
    }
    let hash = crate::sweep::fingerprint(text.as_bytes());
    if !header.scenario_hash.is_empty() && header.scenario_hash != hash {
        eprintln!(
            "warning: {} was recorded from another version of {} (fingerprint {}, the file's is {}): an error below may come from the difference",
            path.display(),
            scenario_path.display(),
            header.scenario_hash,
            hash
        );
    }
    let seed = header.seed;
    let world = crate::World::new(&scenario, seed);
    let ctx = crate::check::Context::new(&scenario, world.catalog(), world.fault_plan());
    let mut checks = crate::check::Checks::new(
        ctx.clone(),
        crate::check::CheckConfig::from_scenario(&scenario),
    );
    let (header, trailer) = match read_history(path, &ctx, &mut checks) {
        Ok(x) => x,
        Err(e) => {
            error!("{e}");
            return EXIT_USAGE;
        }
    };
    let Some(stop) = crate::kernel::StopReason::parse(&trailer.stopped_by) else {
        error!(
            "{}: the trailer's stopped_by is `{}`, not one of quiescent, queue-empty, sim-time-max, kernel-events-max",
            path.display(),
            trailer.stopped_by
        );
        return EXIT_USAGE;
    };
    let (mut results, mut violations) =
        checks.finish(trailer.end_ns, trailer.production_end_ns, stop.is_budget());
    if !violations.is_empty() {
        let mut explainer = crate::check::Explainer::new(&ctx, &violations);
        if let Err(e) = read_history(path, &ctx, &mut explainer) {
            error!("{e}");
            return EXIT_USAGE;
        }
        explainer.explain(&mut violations);
        crate::check::attach_first(&mut results, &violations);
    }
    say!(
        "eventsim {}: history of scenario `{}`, seed {} ({} simulated, {})",
        crate::VERSION,
        header.scenario,
        header.seed,
        ms(trailer.end_ns),
        trailer.stopped_by
    );
    for r in &results {
        say!("  {:<22} {:<12} {}", r.name, r.status, r.violations);
    }
    let (verdict, note) = crate::check::verdict(&results, stop);
    say!("  verdict: {verdict}");
    if let Some(note) = note {
        say!("  ({note})");
    }
    print_violation_details(&violations);
    exit_status(verdict)
}

pub(super) fn read_header(path: &Path) -> Result<crate::history::Header, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let first = BoundedLines::new(std::io::BufReader::new(file))
        .next()
        .unwrap_or_else(|| Ok(String::new()))
        .map_err(|e| format!("{}:1: {e}", path.display()))?;
    serde_json::from_str(&first).map_err(|e| {
        format!(
            "{}:1: expected the history header: {}",
            path.display(),
            clip_message(&e.to_string())
        )
    })
}

/// The longest history line read: an observation's line is under 1 KiB, so
/// a longer one is not a history (`/dev/zero`, a binary file) and is refused
/// before it fills the memory.
const HISTORY_LINE_MAX: u64 = 1 << 20;

/// Lines of at most [`HISTORY_LINE_MAX`] bytes, without their newline.
struct BoundedLines<R> {
    reader: R,
}

impl<R: BufRead> BoundedLines<R> {
    fn new(reader: R) -> Self {
        BoundedLines { reader }
    }
}

impl<R: BufRead> Iterator for BoundedLines<R> {
    type Item = Result<String, String>;
    fn next(&mut self) -> Option<Self::Item> {
        let mut buf = Vec::new();
        let read =
            std::io::Read::take(&mut self.reader, HISTORY_LINE_MAX + 1).read_until(b'\n', &mut buf);
        match read {
            Err(e) => Some(Err(e.to_string())),
            Ok(0) => None,
            Ok(_) => {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                    if buf.last() == Some(&b'\r') {
                        buf.pop();
                    }
                } else if buf.len() as u64 > HISTORY_LINE_MAX {
                    return Some(Err(format!(
                        "a line longer than {} MiB: not a history file",
                        HISTORY_LINE_MAX >> 20
                    )));
                }
                Some(
                    String::from_utf8(buf).map_err(|_| "a line that is not UTF-8 text".to_string()),
                )
            }
        }
    }
}

/// A parser's message cut to its first 200 characters: it may quote a
/// value of millions.
fn clip_message(m: &str) -> String {
    let n = m.chars().count();
    if n <= 200 {
        m.to_string()
    } else {
        format!(
            "{}... ({n} characters)",
            m.chars().take(200).collect::<String>()
        )
    }
}
