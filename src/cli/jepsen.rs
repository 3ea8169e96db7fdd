//! `eventsim check-history --format jepsen FILE`: a history recorded by a
//! Jepsen or Maelstrom Kafka test, checked for Jepsen's anomalies.

use super::*;
use crate::jepsen::{self, report as jr};

/// Histories larger than this are refused before reading (4 GiB).
const JEPSEN_HISTORY_MAX: u64 = 4 << 30;

fn read_text(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if meta.len() > JEPSEN_HISTORY_MAX {
        return Err(format!(
            "{shown}: {} bytes; eventsim reads Jepsen histories of at most 4 GiB",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = at
            - before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1)
            + 1;
        format!("{shown}:{line}:{column}: not UTF-8 text (a history.edn is text)")
    })
}

pub(super) fn check_jepsen(path: &Path, out: Option<PathBuf>, read_uncommitted: bool) -> i32 {
    let text = match read_text(path) {
        Ok(t) => t,
        Err(e) => {
            error!("{e}");
            return EXIT_USAGE;
        }
    };
    let history = match jepsen::read_edn(&text) {
        Ok(h) => h,
        Err(e) => {
            error!("{}:{e}", path.display());
            return EXIT_USAGE;
        }
    };
    drop(text);
    if history.ops.is_empty() {
        error!(
            "{}: nothing to check: the file holds no client operation (a Jepsen history has :send, :poll or :txn operations of integer processes)",
            path.display()
        );
        return EXIT_USAGE;
    }
    let analysis = jepsen::analyse(&history, read_uncommitted);
    let file = path
        .file_name()
        .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
    let dir = out.unwrap_or_else(|| {
        let stem = path
            .file_stem()
            .map_or_else(|| "history".into(), |s| s.to_string_lossy().into_owned());
        PathBuf::from("reports").join(format!("jepsen-{stem}"))
    });
    say!(
        "eventsim {}: Jepsen history {} ({} client operation(s), {} key(s))",
        crate::VERSION,
        path.display(),
        analysis.ops,
        analysis.keys
    );
    for (name, bad, allowed) in jr::counts(&analysis) {
        let what = match (bad, allowed) {
            (0, n) => format!("{n} allowed by Kafka's model"),
            (n, 0) => format!("{n} violation(s)"),
            (n, a) => format!("{n} violation(s), {a} allowed"),
        };
        say!("  {:<22} {what}", name.as_str());
    }
    if analysis.anomalies.is_empty() {
        say!("  no anomaly found");
    }
    let verdict = jr::verdict(&analysis);
    say!("  verdict: {verdict}");
    print_first_anomalies(&history, &analysis);
    if let Err(e) = write_jepsen_report(&dir, &history, &analysis, &file) {
        error!("{e}");
        return EXIT_USAGE;
    }
    say!("report: {}", dir.join("index.html").display());
    if analysis.valid() {
        EXIT_PASS
    } else {
        EXIT_FAIL
    }
}

/// The first violation of each kind, explained.
fn print_first_anomalies(h: &jepsen::History, a: &jepsen::Analysis) {
    let mut last = None;
    for x in a.anomalies.iter().filter(|x| !x.allowed) {
        if last == x.name {
            continue;
        }
        last = x.name;
        let (message, lines) = jepsen::describe(h, x);
        say!("  {}: {message}", x.name.map_or("", |n| n.as_str()));
        for line in shortened(&lines, 12) {
            say!("      {line}");
        }
    }
}

fn write_jepsen_report(
    dir: &Path,
    h: &jepsen::History,
    a: &jepsen::Analysis,
    file: &str,
) -> Result<(), String> {
    let shown = dir.display();
    let mut out = crate::output::OutDir::lock(dir)?;
    let io = |e: std::io::Error| format!("cannot write the report into {shown}: {e}");
    out.begin(&["summary.json", "violations.jsonl", "index.html"])
        .map_err(io)?;
    out.write_with("violations.jsonl", |w| {
        for x in &a.anomalies {
            w.write_all(jr::violation_line(h, x).as_bytes())?;
        }
        Ok(())
    })
    .map_err(io)?;
    out.write("index.html", jr::page_html(h, a, file).as_bytes())
        .map_err(io)?;
    out.write("summary.json", jr::summary_json(h, a, file).as_bytes())
        .map_err(io)?;
    out.finish().map_err(io)
}
