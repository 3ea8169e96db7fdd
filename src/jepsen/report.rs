//! What `check-history --format jepsen` writes: `summary.json`,
//! `violations.jsonl` (every anomaly, allowed ones marked) and
//! `index.html`.

use super::{Analysis, Anomaly, History, Name, describe};
use serde::Serialize;

/// What each anomaly promises, and what Kafka allows of it.
pub fn promise(name: Name) -> &'static str {
    match name {
        Name::LostWrite => {
            "every value acknowledged below what some reader read was read by some reader"
        }
        Name::G1a => "no committed poll reads a value whose send failed (aborted)",
        Name::InconsistentOffsets => "one offset of a key holds one value",
        Name::Duplicate => "one value sits at one offset",
        Name::PollSkip => {
            "a process's polls of a key continue where its last committed poll ended (allowed when consumers subscribe: a rebalance may move the key)"
        }
        Name::NonmonotonicPoll => {
            "a process's polls of a key never go back (allowed when consumers subscribe)"
        }
        Name::NonmonotonicSend => "a process's sends to a key land in the order it sent them",
        Name::IntPollSkip => "one operation's polls of a key skip nothing",
        Name::IntNonmonotonicPoll => "one operation's polls of a key never go back",
        Name::IntSendSkip => {
            "one operation's sends to a key land next to each other (allowed: other producers' writes interleave)"
        }
        Name::IntNonmonotonicSend => "one operation's sends to a key land in order",
        Name::PrecommittedRead => "a transaction never reads its own writes before it commits",
        Name::Unseen => "every acknowledged value is eventually read",
        Name::G0 => {
            "allowed: Kafka's transactions do not isolate writes, so two transactions may be ordered oppositely on two keys"
        }
        Name::G1c => {
            "no cycle of transactions each reading the one before (allowed when it goes through write order, or when consumers read uncommitted)"
        }
    }
}

#[derive(Serialize)]
struct Count {
    anomaly: &'static str,
    violations: usize,
    allowed: usize,
    promise: &'static str,
}

#[derive(Serialize)]
struct Summary<'a> {
    eventsim_jepsen_check: u32,
    version: &'a str,
    history: &'a str,
    operations: usize,
    keys: usize,
    skipped_operations: u64,
    verdict: &'static str,
    anomalies: Vec<Count>,
}

/// Per anomaly name: violations and allowed ones, in name order.
pub fn counts(a: &Analysis) -> Vec<(Name, usize, usize)> {
    let mut out: Vec<(Name, usize, usize)> = Vec::new();
    for x in &a.anomalies {
        let Some(name) = x.name else { continue };
        if out.last().is_none_or(|l| l.0 != name) {
            out.push((name, 0, 0));
        }
        if let Some(last) = out.last_mut() {
            if x.allowed {
                last.2 += 1;
            } else {
                last.1 += 1;
            }
        }
    }
    out
}

/// `pass` or `fail`.
pub fn verdict(a: &Analysis) -> &'static str {
    if a.valid() { "pass" } else { "fail" }
}

/// `summary.json`.
pub fn summary_json(h: &History, a: &Analysis, file: &str) -> String {
    let s = Summary {
        eventsim_jepsen_check: 1,
        version: crate::VERSION,
        history: file,
        operations: a.ops,
        keys: a.keys,
        skipped_operations: h.skipped,
        verdict: verdict(a),
        anomalies: counts(a)
            .into_iter()
            .map(|(n, v, al)| Count {
                anomaly: n.as_str(),
                violations: v,
                allowed: al,
                promise: promise(n),
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&s).unwrap_or_default();
    text.push('\n');
    text
}

#[derive(Serialize)]
struct Line<'a> {
    anomaly: &'static str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    message: &'a str,
    explanation: &'a [String],
    /// The lines of the operations involved.
    lines: Vec<u32>,
}

/// One `violations.jsonl` line.
pub fn violation_line(h: &History, x: &Anomaly) -> String {
    let (message, explanation) = describe(h, x);
    let line = Line {
        anomaly: x.name.map_or("", Name::as_str),
        allowed: x.allowed,
        key: x.key.map(|k| h.atoms.text(k)),
        message: &message,
        explanation: &explanation,
        lines: x.ops.iter().map(|&o| h.ops[o as usize].line).collect(),
    };
    let mut s = serde_json::to_string(&line).unwrap_or_default();
    s.push('\n');
    s
}

fn esc(s: &str) -> String {
    crate::report::html_escape(s)
}

/// `index.html`: the verdict, each anomaly's count, then the first few of
/// each with their explanations.
pub fn page_html(h: &History, a: &Analysis, file: &str) -> String {
    const SHOWN: usize = 8;
    let v = verdict(a);
    let mut p = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{} — {v}</title><style>{STYLE}</style></head><body>",
        esc(file)
    );
    p += &format!(
        "<h1>{}</h1><p class=\"verdict {v}\">verdict: {v}</p><p>{} client operation(s) over {} key(s){}; checked for the anomalies Jepsen's Kafka checker names.</p>",
        esc(file),
        a.ops,
        a.keys,
        match h.skipped {
            0 => String::new(),
            n => format!(" ({n} operation(s) of other processes, the nemesis, skipped)"),
        }
    );
    p += "<table><tr><th>anomaly</th><th>violations</th><th>allowed by Kafka's model</th><th>what it promises</th></tr>";
    for (n, bad, ok) in counts(a) {
        let class = if bad > 0 { "bad" } else { "ok" };
        p += &format!(
            "<tr class=\"{class}\"><td><a href=\"#{0}\">{0}</a></td><td>{bad}</td><td>{ok}</td><td>{1}</td></tr>",
            n.as_str(),
            esc(promise(n))
        );
    }
    if a.anomalies.is_empty() {
        p += "<tr class=\"ok\"><td colspan=\"4\">no anomaly found</td></tr>";
    }
    p += "</table>";
    for (n, bad, ok) in counts(a) {
        p += &format!(
            "<h2 id=\"{0}\">{0}: {bad} violation(s), {ok} allowed</h2>",
            n.as_str()
        );
        let list: Vec<&Anomaly> = a.of(n);
        for x in list.iter().take(SHOWN) {
            let (message, lines) = describe(h, x);
            let tag = if x.allowed { " <em>(allowed)</em>" } else { "" };
            p += &format!("<div class=\"anomaly\"><p>{}{tag}</p><ol>", esc(&message));
            for l in lines {
                p += &format!("<li>{}</li>", esc(&l));
            }
            p += "</ol></div>";
        }
        if list.len() > SHOWN {
            p += &format!("<p>and {} more in violations.jsonl</p>", list.len() - SHOWN);
        }
    }
    p += "</body></html>\n";
    p
}

const STYLE: &str = "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}\
tr.bad td:nth-child(2){background:#f8d0d0;font-weight:bold}tr.ok td:nth-child(2){background:#d8f0d8}\
.verdict{font-size:1.4em;font-weight:bold}.verdict.fail{color:#b00}.verdict.pass{color:#070}\
.anomaly{border-left:3px solid #ccc;padding-left:.8em;margin:.8em 0}li{font-family:monospace;font-size:.9em}";
