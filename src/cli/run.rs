//! `eventsim run`: run one seed, check it, write its report and print
//! its summary.

use super::*;

#[allow(clippy::disallowed_methods)] // wall time of the run, for perf.json and the terminal, never the model
pub(super) fn run(
    path: &Path,
    seed: Option<u64>,
    out: Option<PathBuf>,
    history: Option<PathBuf>,
    trace: Option<PathBuf>,
    jepsen: Option<PathBuf>,
) -> i32 {
    let (scenario, text) = match load_with_text(path) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let seed = seed.unwrap_or(scenario.scenario.seed);
    let dir = out.unwrap_or_else(|| {
        PathBuf::from("reports")
            .join(report_name(path, &scenario.scenario.name))
            .join(format!("seed-{seed}"))
    });
    // Every output is checked, and the folder locked, before simulating.
    let report_files: Vec<(String, PathBuf)> = report::RUN_FILES
        .iter()
        .map(|f| (format!("the report's {f}"), dir.join(f)))
        .collect();
    let mut outputs: Vec<(&str, &Path)> = Vec::new();
    if let Some(h) = &history {
        outputs.push(("--history", h));
    }
    if let Some(t) = &trace {
        outputs.push(("--trace", t));
    }
    if let Some(j) = &jepsen {
        outputs.push(("--jepsen-history", j));
    }
    outputs.extend(report_files.iter().map(|(w, p)| (w.as_str(), p.as_path())));
    if let Err(e) = crate::output::refuse_overlaps(&[path], &outputs) {
        error!("{e}");
        return EXIT_USAGE;
    }
    // Ctrl-C or SIGTERM: the run stops at its next check and writes its
    // report (inconclusive, stopped_by "interrupted"); a second one exits
    // at once, writing nothing. Installed before the folder is locked.
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(EXIT_INTERRUPTED_TWICE);
        }
        eprintln!(
            "\ninterrupted: stopping the run and writing its report (interrupt again to stop at once)"
        );
    });
    let mut outdir = match lock_out(&dir) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let started = Instant::now();
    let opened = |what: &str, p: &Path| {
        crate::output::StreamFile::create(p).map_err(|e| {
            error!("cannot write the {what} to {}: {e}", p.display());
            EXIT_USAGE
        })
    };
    let mut history_file = match history.as_deref().map(|h| opened("history", h)) {
        Some(Err(code)) => return code,
        x => x.map(Result::unwrap),
    };
    let mut trace_file = match trace.as_deref().map(|t| opened("trace", t)) {
        Some(Err(code)) => return code,
        x => x.map(Result::unwrap),
    };
    let writer = match history_file
        .as_mut()
        .map(|f| open_history(f, &scenario, &text, seed))
    {
        None => None,
        Some(Ok(w)) => Some(w),
        Some(Err(e)) => {
            error!("cannot write the history: {e}");
            return EXIT_USAGE;
        }
    };
    let mut extra: Vec<Box<dyn crate::history::Observer>> = Vec::new();
    if let Some(w) = &writer {
        extra.push(Box::new(crate::history::Shared(w.clone())));
    }
    let mut tracer: Option<Rc<RefCell<TraceFile>>> = None;
    if let Some(f) = &mut trace_file {
        match open_trace(f, &scenario, seed) {
            Ok(w) => {
                extra.push(Box::new(crate::history::Shared(w.clone())));
                tracer = Some(w);
            }
            Err(e) => {
                error!("cannot write the trace: {e}");
                return EXIT_USAGE;
            }
        }
    }
    let recorder = match start_jepsen(jepsen.as_deref(), &scenario, seed, &mut extra) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let checked = crate::run_checked_with(&scenario, seed, extra, progress_bar(), Some(interrupt));
    if let (Some(w), Some(f), Some(t)) = (tracer, trace_file, trace.as_ref()) {
        let w = Rc::try_unwrap(w)
            .ok()
            .expect("the run is over")
            .into_inner();
        if let Err(e) = w.finish().and_then(|()| f.commit()) {
            error!("cannot write the trace to {}: {e}", t.display());
            return EXIT_USAGE;
        }
    }
    if let Some(code) = recorder.and_then(|r| finish_jepsen(r, jepsen.as_deref())) {
        return code;
    }
    let result = &checked.result;
    if let (Some(w), Some(f), Some(h)) = (writer, history_file, history.as_ref()) {
        let w = Rc::try_unwrap(w)
            .ok()
            .expect("the run is over")
            .into_inner();
        let trailer = crate::history::Trailer {
            end_ns: result.sim_time_ns,
            production_end_ns: result.production_end_ns,
            stopped_by: result.stop_reason.as_str().to_string(),
            observations: None,
            digest: String::new(),
        };
        if let Err(e) = w.finish(&trailer).and_then(|()| f.commit()) {
            error!("cannot write the history to {}: {e}", h.display());
            return EXIT_USAGE;
        }
    }
    let repro = repro_command(&["run"], path, Some(seed));
    let summary = Summary::checked(&checked, repro);
    let data = crate::report::plot::PlotData::from_run(result, &scenario.scenario.name);
    let wall = started.elapsed();
    let trace_name = trace.as_ref().map(|t| t.display().to_string());
    let page = crate::report::page::Context {
        scenario: Some(&scenario),
        scenario_text: Some(&text),
        trace: trace_name.as_deref(),
    };
    let written = write_run_report(&mut outdir, &checked, &summary, &data, &page, wall)
        .and_then(|perf| outdir.finish().map(|()| perf));
    let perf = match written {
        Ok(perf) => perf,
        Err(e) => {
            error!("cannot write the report to {}: {e}", dir.display());
            return EXIT_USAGE;
        }
    };
    if !quiet() {
        print_summary(&summary, &perf, &dir);
        print_violations(&summary, &checked.violations);
    }
    exit_status(summary.verdict)
}

/// Run `seed` of a scenario and write its whole report into `dir` (no
/// history or trace), as `eventsim run` would: a sweep writes the first
/// failing seeds' reports this way.
#[allow(clippy::disallowed_methods)] // wall time of the run, for perf.json and the terminal, never the model
pub(super) fn write_seed_report(
    scenario: &crate::scenario::Scenario,
    text: &str,
    path: &Path,
    seed: u64,
    dir: &Path,
) -> std::io::Result<()> {
    let mut outdir = crate::output::OutDir::lock(dir).map_err(std::io::Error::other)?;
    let started = Instant::now();
    let checked = crate::run_checked_with(scenario, seed, Vec::new(), None, None);
    let summary = Summary::checked(&checked, repro_command(&["run"], path, Some(seed)));
    let data = crate::report::plot::PlotData::from_run(&checked.result, &scenario.scenario.name);
    let page = crate::report::page::Context {
        scenario: Some(scenario),
        scenario_text: Some(text),
        trace: None,
    };
    write_run_report(
        &mut outdir,
        &checked,
        &summary,
        &data,
        &page,
        started.elapsed(),
    )?;
    outdir.finish()
}

/// Write a run's report into its locked folder: the data files and plots
/// first, then the files that carry the verdict (`index.html`,
/// `summary.json`), then `perf.json`. `wall` is the simulation's; the peak
/// memory in `perf.json` is read after everything else is written, so it
/// covers the writing too. The caller finishes with the manifest.
pub(super) fn write_run_report(
    out: &mut crate::output::OutDir,
    checked: &crate::Checked,
    summary: &Summary,
    data: &crate::report::plot::PlotData,
    page: &crate::report::page::Context,
    wall: std::time::Duration,
) -> std::io::Result<Perf> {
    let result = &checked.result;
    out.begin(&["summary.json", "index.html", "violations.jsonl"])?;
    if let Some(text) = page.scenario_text {
        out.write("scenario.toml", text.as_bytes())?;
    }
    out.write("faults.csv", report::faults_csv(result).as_bytes())?;
    out.write("faults.toml", report::faults_toml(result).as_bytes())?;
    out.write_with("timeseries.csv", |w| {
        report::write_timeseries_csv(result, w)
    })?;
    out.write_with("latency.csv", |w| report::write_latency_csv(result, w))?;
    let svgs = write_plots(out, data)?;
    out.write(
        "violations.jsonl",
        report::violations_jsonl(&checked.violations).as_bytes(),
    )?;
    out.write(
        "index.html",
        crate::report::page::index_html(summary, &data.faults, &svgs, page).as_bytes(),
    )?;
    out.write("summary.json", summary.to_json().as_bytes())?;
    let perf = Perf::new(result, wall);
    out.write("perf.json", perf.to_json().as_bytes())?;
    Ok(perf)
}

/// Draw the plots into `out`; their SVG text, for the page.
pub(super) fn write_plots(
    out: &mut crate::output::OutDir,
    data: &crate::report::plot::PlotData,
) -> std::io::Result<Vec<(String, String)>> {
    let drawn = crate::report::plot::render_all(data).map_err(std::io::Error::other)?;
    let mut svgs = Vec::new();
    for (stem, d) in drawn {
        out.write(&format!("{stem}.png"), &d.png)?;
        out.write(&format!("{stem}.svg"), d.svg.as_bytes())?;
        svgs.push((stem.to_string(), d.svg));
    }
    Ok(svgs)
}

/// One latency stream's percentiles on a line, and what did not finish.
fn latency_line(label: &str, l: &crate::latency::LatencyStats, note: String) {
    say!(
        "  {label:<25} p50 {:>9}  p99 {:>9}  max {:>9}{note}",
        ms(l.p50),
        ms(l.p99),
        ms(l.max)
    );
}

/// `  unfinished N (oldest X)` for a group that had not processed N
/// records when the run stopped: their latency is not in its percentiles.
fn unfinished_note(s: &Summary, group: &str) -> String {
    match s.groups.iter().find(|g| g.name == group) {
        Some(g) if g.unfinished > 0 => format!(
            "  unfinished {} (oldest {}, not in the percentiles)",
            g.unfinished,
            ms(g.oldest_unfinished_ns.unwrap_or(0))
        ),
        _ => String::new(),
    }
}

pub(super) fn ms(ns: u64) -> String {
    crate::report::page::duration_text(ns)
}

pub(super) fn print_summary(s: &Summary, p: &Perf, dir: &Path) {
    let c = &s.counts;
    say!(
        "eventsim {}: scenario `{}`, seed {}",
        s.version,
        s.scenario,
        s.seed
    );
    say!(
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
    say!(
        "  produced {}  acked {}  appended {}  delivered {}  applied {}  duplicates delivered {} / applied {}",
        c.produced,
        c.acked,
        c.appended,
        c.delivered,
        c.applied,
        c.duplicates_delivered,
        c.duplicates_applied
    );
    per_producer_and_group(s);
    print_pressure(s);
    latency_line("produce->ack", &s.latency_ns.produce_to_ack, String::new());
    for (g, l) in &s.latency_ns.end_to_end {
        latency_line(&format!("end-to-end {g:<14}"), l, unfinished_note(s, g));
    }
    say!(
        "  expired {}  dead-lettered {}  handler failures {}  truncated {}  leader elections {} ({} unclean)  expelled {}",
        c.expired,
        c.dead_lettered,
        c.handler_failures,
        c.truncated,
        c.leader_elections,
        c.unclean_leader_elections,
        c.expelled
    );
    print_availability(s);
    print_utilisation(s);
    if c.compacted > 0 {
        say!(
            "  compacted {} (records removed by log compaction before a group read them)",
            c.compacted
        );
    }
    if c.transactions_committed + c.transactions_aborted > 0 {
        say!(
            "  transactions committed {}  aborted {} ({} records never committed)",
            c.transactions_committed,
            c.transactions_aborted,
            c.aborted_records
        );
    }
    for (g, c) in &s.catch_up {
        say!(
            "  catch-up {g}: joined {} offsets behind, read {} records, {}",
            c.backlog,
            c.delivered,
            c.caught_up_ns
                .map_or("never caught up".to_string(), |ns| format!(
                    "caught up in {}",
                    ms(ns).trim()
                ))
        );
    }
    for f in &s.flows {
        let mut also = String::new();
        if f.rejected_with_effects > 0 {
            also += &format!("  rejected with effects {}", f.rejected_with_effects);
        }
        if f.duplicated > 0 {
            also += &format!("  duplicated {}", f.duplicated);
        }
        say!(
            "  flow {}: started {}  rejected {}  completed {}  compensated {}  failed {}  inconsistent {}  open {}{also}",
            f.name,
            f.started,
            f.rejected,
            f.completed,
            f.compensated,
            f.failed,
            f.inconsistent,
            f.open
        );
        say!(
            "    completion p50 {:>9}  p99 {:>9}  compensation p50 {:>9}  p99 {:>9}",
            ms(f.completion_ns.p50),
            ms(f.completion_ns.p99),
            ms(f.compensation_ns.p50),
            ms(f.compensation_ns.p99)
        );
    }
    for sv in &s.services {
        let requests = if sv.requests > 0 {
            format!("requests {}  ", sv.requests)
        } else {
            String::new()
        };
        say!(
            "  service {}: {requests}ok {}  failed {}  errors {}  timeouts {}  breaker-open {}  compensations {}  p99 {}",
            sv.name,
            sv.ok,
            sv.failed,
            sv.errors,
            sv.timeouts,
            sv.breaker_open,
            sv.compensations,
            ms(sv.latency_ns.p99).trim()
        );
    }
    if !s.faults.is_empty() {
        let list: Vec<String> = s.faults.iter().map(|(k, n)| format!("{k} {n}")).collect();
        say!("  faults fired: {}", list.join(", "));
    }
    print_struck_nothing(s);
    print_objectives(s);
    say!("  verdict: {}", s.verdict);
    if !s.verdict_note.is_empty() {
        say!("    ({})", s.verdict_note);
    }
    say!("  report:  {}", dir.join("index.html").display());
    say!("  repro:   {}", as_invoked(&s.repro));
}

/// The faults that struck nothing: a pass does not show the design
/// survives them.
fn print_struck_nothing(s: &Summary) {
    let nothing: Vec<_> = s.fault_hits.iter().filter(|h| h.nothing).collect();
    if !nothing.is_empty() {
        say!(
            "  {} of {} fault(s) struck nothing (a pass does not show the design survives them):",
            nothing.len(),
            s.fault_hits.len()
        );
        for h in nothing.iter().take(3) {
            say!(
                "    {} at {:.3}s: {}",
                h.fault,
                h.at_ns as f64 / 1e9,
                h.struck
            );
        }
        if nothing.len() > 3 {
            say!(
                "    ... {} more (faults.csv lists every one)",
                nothing.len() - 3
            );
        }
    }
}

/// Producers whose application blocked on a full buffer, or refused records.
fn print_pressure(s: &Summary) {
    for p in s
        .producers
        .iter()
        .filter(|p| p.blocked_ns > 0 || p.refused > 0)
    {
        say!(
            "  back-pressure {}: send() blocked {} in all (buffer_memory full), {} records refused (max_block), {} still waiting to be sent at the end",
            p.name,
            ms(p.blocked_ns),
            p.refused,
            p.waiting_at_end
        );
    }
}

/// Each objective, met or missed, with its figure.
fn print_objectives(s: &Summary) {
    if s.objectives.is_empty() {
        return;
    }
    say!("  objectives:");
    for o in s.objectives.iter().take(OWN_LINES) {
        let figure = crate::check::objectives::figure_text(o.value, &o.unit);
        let unfinished = if o.unfinished > 0 {
            format!(" ({} unfinished counted at their age)", o.unfinished)
        } else {
            String::new()
        };
        let met = if o.met { "met   " } else { "MISSED" };
        say!("    {met} {}: {figure}{unfinished}", o.objective);
    }
    more(s.objectives.len(), "objectives");
}

/// How many producers' or groups' own lines the terminal prints; the
/// page and summary.json list every one.
const OWN_LINES: usize = 10;

/// A line per producer (when there are several) and per group (when there
/// are several), so that totals summed over them can be read apart: what
/// a relay produced is not what the API produced.
fn per_producer_and_group(s: &Summary) {
    let width = s
        .producers
        .iter()
        .map(|p| p.name.chars().count())
        .chain(s.groups.iter().map(|g| g.name.chars().count()))
        .take(2 * OWN_LINES)
        .max()
        .unwrap_or(0)
        .min(28);
    if s.producers.len() > 1 {
        for p in s.producers.iter().take(OWN_LINES) {
            say!(
                "    producer {:<width$}  produced {}  acked {}  failed {}",
                p.name,
                p.produced,
                p.acked,
                p.failed
            );
        }
        more(s.producers.len(), "producers");
    }
    if s.groups.len() > 1 {
        for g in s.groups.iter().take(OWN_LINES) {
            say!(
                "    group    {:<width$}  delivered {}  applied {}  duplicates delivered {} / applied {}  lag at end {} ({} unread)",
                g.name,
                g.delivered,
                g.applied,
                g.duplicates_delivered,
                g.duplicates_applied,
                g.lag_at_end,
                g.unread_at_end
            );
        }
        more(s.groups.len(), "groups");
    }
}

fn more(n: usize, what: &str) {
    if n > OWN_LINES {
        say!(
            "    ... {} more {what} (index.html and summary.json list every one)",
            n - OWN_LINES
        );
    }
}

type TraceFile = crate::report::trace::TraceWriter<std::io::BufWriter<std::fs::File>>;

/// The trace writer of this very run (its catalog and fault plan).
fn open_trace(
    f: &mut crate::output::StreamFile,
    scenario: &Scenario,
    seed: u64,
) -> std::io::Result<Rc<RefCell<TraceFile>>> {
    let world = crate::World::new(scenario, seed);
    let w = crate::report::trace::TraceWriter::new(
        std::io::BufWriter::new(f.take_file()),
        world.catalog(),
        world.fault_plan(),
        &scenario
            .groups
            .iter()
            .map(|g| g.auto_offset_reset == crate::scenario::OffsetReset::Earliest)
            .collect::<Vec<_>>(),
    )?;
    Ok(Rc::new(RefCell::new(w)))
}

type Recording = (
    Rc<RefCell<crate::jepsen::Recorder>>,
    crate::output::StreamFile,
);

/// `--jepsen-history`: its file opened before the run (exit 2 if it
/// cannot be), and the recorder among the run's observers.
fn start_jepsen(
    path: Option<&Path>,
    scenario: &Scenario,
    seed: u64,
    extra: &mut Vec<Box<dyn crate::history::Observer>>,
) -> Result<Option<Recording>, i32> {
    let Some(path) = path else { return Ok(None) };
    let file = crate::output::StreamFile::create(path).map_err(|e| {
        error!("cannot write the Jepsen history to {}: {e}", path.display());
        EXIT_USAGE
    })?;
    let world = crate::World::new(scenario, seed);
    let r = Rc::new(RefCell::new(crate::jepsen::Recorder::new(world.catalog())));
    extra.push(Box::new(crate::history::Shared(r.clone())));
    Ok(Some((r, file)))
}

/// Write the run's Jepsen history, whole or not at all: the exit status
/// if it cannot be.
fn finish_jepsen((r, mut f): Recording, path: Option<&Path>) -> Option<i32> {
    let recorder = Rc::try_unwrap(r)
        .ok()
        .expect("the run is over")
        .into_inner();
    let h = recorder.finish();
    let written = (|| {
        let mut w = std::io::BufWriter::new(f.take_file());
        crate::jepsen::write_edn(&h, &mut w)?;
        std::io::Write::flush(&mut w)?;
        drop(w);
        f.commit()
    })();
    let e = written.err()?;
    let shown = path.map_or_else(String::new, |p| p.display().to_string());
    error!("cannot write the Jepsen history to {shown}: {e}");
    Some(EXIT_USAGE)
}

pub(super) type HistoryFile = crate::history::HistoryWriter<std::io::BufWriter<std::fs::File>>;

pub(super) fn open_history(
    file: &mut crate::output::StreamFile,
    s: &Scenario,
    text: &str,
    seed: u64,
) -> std::io::Result<Rc<RefCell<HistoryFile>>> {
    let header = crate::history::Header {
        eventsim_history: 1,
        version: crate::VERSION.to_string(),
        scenario: s.scenario.name.clone(),
        seed,
        scenario_hash: crate::sweep::fingerprint(text.as_bytes()),
    };
    crate::history::HistoryWriter::new(std::io::BufWriter::new(file.take_file()), &header)
        .map(|w| Rc::new(RefCell::new(w)))
}

/// Per group: how busy its busiest consumer was, and its consumers' mean.
fn print_utilisation(s: &Summary) {
    for u in s.utilisation.iter().take(8) {
        say!(
            "  busy {}: {} {:.1}% of the run, mean {:.1}% over {} consumer(s)",
            u.group,
            u.busiest_consumer,
            u.busiest * 100.0,
            u.mean * 100.0,
            u.consumers
        );
    }
    if !s.broker_utilisation.is_empty() {
        let shown: Vec<String> = (s.broker_utilisation.iter().take(8))
            .map(|b| format!("{} {:.1}%", b.broker, b.busy * 100.0))
            .collect();
        let more = s.broker_utilisation.len().saturating_sub(8);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        say!("  busy brokers (appending): {}{more}", shown.join(", "));
    }
}

/// Per topic with an outage: the share of partition-time led, the longest
/// outage and its cause; the controller quorum's time without a leader.
fn print_availability(s: &Summary) {
    if let Some(a) = &s.availability {
        for t in a
            .topics
            .iter()
            .filter(|t| t.leaderless_ns > 0 || t.under_min_isr_ns > 0)
        {
            let longest = t.longest_outage.as_ref().map_or(String::new(), |o| {
                format!(
                    ", longest {} on {} from {:.3}s{}: {}",
                    ms(o.duration_ns).trim(),
                    o.partition,
                    o.from_ns as f64 / 1e9,
                    if o.until_end { " to the end" } else { "" },
                    o.cause
                )
            });
            let under = if t.under_min_isr_ns > 0 {
                format!(
                    "; under min ISR (acks=all refused) {}",
                    ms(t.under_min_isr_ns).trim()
                )
            } else {
                String::new()
            };
            say!(
                "  availability {}: {:.2}% of partition-time led ({} outage(s){longest}){under}",
                t.topic,
                t.available * 100.0,
                t.outages
            );
        }
        if a.controller_leaderless_ns > 0 {
            say!(
                "  controller quorum without a leader for {} (metadata frozen: no elections, fencing or ISR changes)",
                ms(a.controller_leaderless_ns).trim()
            );
        }
    }
}
