//! An anomaly in words: one sentence, then the operations that show it.

use super::{Anomaly, Atom, History, Name};

/// An operation as a reader finds it in the file.
fn op_text(h: &History, i: u32) -> String {
    let op = &h.ops[i as usize];
    format!(
        "process {}'s :{} :{} at line {} (time {})",
        op.process,
        op.kind.name(),
        op.f.name(),
        op.line,
        op.time
    )
}

fn list(h: &History, values: &[Atom]) -> String {
    const SHOWN: usize = 8;
    let mut s: Vec<String> = values
        .iter()
        .take(SHOWN)
        .map(|&v| h.atoms.text(v))
        .collect();
    if values.len() > SHOWN {
        s.push(format!("and {} more", values.len() - SHOWN));
    }
    s.join(", ")
}

/// The anomaly's sentence, and the operations (and a cycle's steps) that
/// witness it, one per line.
pub fn describe(h: &History, a: &Anomaly) -> (String, Vec<String>) {
    (message(h, a), witnesses(h, a))
}

fn message(h: &History, a: &Anomaly) -> String {
    let t = |v: Atom| h.atoms.text(v);
    let key = a.key.map(t).unwrap_or_default();
    let v = |i: usize| a.values.get(i).map(|&x| t(x)).unwrap_or_default();
    match a.name.unwrap_or(Name::G0) {
        Name::LostWrite => format!(
            "value {} sent to key {key} (index {}) was never read, though a reader saw key {key} up to index {}",
            v(0),
            a.index.unwrap_or(0),
            a.max_read_index.unwrap_or(0)
        ),
        Name::G1a => format!(
            "value {} of key {key}, sent by an operation that failed (aborted), was read by a committed poll",
            v(0)
        ),
        Name::InconsistentOffsets => format!(
            "offset {} of key {key} holds {} different values: {}",
            a.offsets.first().copied().unwrap_or(0),
            a.values.len(),
            list(h, &a.values)
        ),
        Name::Duplicate => format!(
            "value {} appears {} times in key {key}, at offsets {}",
            v(0),
            a.count.unwrap_or(0),
            a.offsets
                .iter()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Name::PollSkip
        | Name::NonmonotonicPoll
        | Name::NonmonotonicSend
        | Name::IntPollSkip
        | Name::IntNonmonotonicPoll
        | Name::IntSendSkip
        | Name::IntNonmonotonicSend => order_message(h, a),
        Name::PrecommittedRead => format!(
            "a transaction read value {} of key {key}, its own write, before it committed",
            v(0)
        ),
        Name::Unseen => {
            let count = a.count.unwrap_or(0);
            let more = count.saturating_sub(a.values.len() as u64);
            format!(
                "{count} acknowledged value(s) of key {key} were never read by any poll: {}{}",
                list(h, &a.values),
                if more > 0 {
                    format!(", and {more} more")
                } else {
                    String::new()
                }
            )
        }
        Name::G0 => format!(
            "a write cycle of {} operations: each sent to some key before the next did, around a loop",
            a.steps.len()
        ),
        Name::G1c if a.steps.iter().all(|s| s.wr) => format!(
            "a cycle of {} transactions, each reading what the one before it sent",
            a.steps.len()
        ),
        Name::G1c => format!(
            "a cycle of {} operations through write order and reads",
            a.steps.len()
        ),
    }
}

/// The anomalies of a pair of values out of the version order.
fn order_message(h: &History, a: &Anomaly) -> String {
    let t = |v: Atom| h.atoms.text(v);
    let key = a.key.map(t).unwrap_or_default();
    let v = |i: usize| a.values.get(i).map(|&x| t(x)).unwrap_or_default();
    let delta = a.delta.unwrap_or(0);
    match a.name.unwrap_or(Name::G0) {
        Name::PollSkip => format!(
            "a process's poll of key {key} skipped {} record(s) since its previous poll: {}",
            delta - 1,
            list(h, &a.skipped)
        ),
        Name::NonmonotonicPoll => format!(
            "a process's poll of key {key} began at {}, {} index(es) back from {} where its previous poll ended",
            v(1),
            1 - delta,
            v(0)
        ),
        Name::NonmonotonicSend => format!(
            "a process's send of {} to key {key} landed {} index(es) back from its previous send, {}",
            v(1),
            1 - delta,
            v(0)
        ),
        Name::IntPollSkip => format!(
            "one operation read {} then {} of key {key}, skipping {}",
            v(0),
            v(1),
            list(h, &a.skipped)
        ),
        Name::IntNonmonotonicPoll => format!(
            "one operation read {} then {} of key {key}, {} index(es) back",
            v(0),
            v(1),
            1 - delta
        ),
        Name::IntSendSkip => format!(
            "one operation sent {} then {} to key {key}, and other records landed between them: {}",
            v(0),
            v(1),
            list(h, &a.skipped)
        ),
        Name::IntNonmonotonicSend => format!(
            "one operation sent {} then {} to key {key}, but the second landed {} index(es) before the first",
            v(0),
            v(1),
            1 - delta
        ),
        _ => String::new(),
    }
}

fn witnesses(h: &History, a: &Anomaly) -> Vec<String> {
    let t = |v: Atom| h.atoms.text(v);
    let mut lines: Vec<String> = Vec::new();
    if a.steps.is_empty() {
        let roles = roles(a.name.unwrap_or(Name::G0), a.ops.len());
        for (i, &op) in a.ops.iter().enumerate() {
            let role = roles.get(i).copied().unwrap_or("involved");
            lines.push(format!("{role}: {}", op_text(h, op)));
        }
    } else {
        for (i, s) in a.steps.iter().enumerate() {
            let (from, to) = (a.ops[i], a.ops[i + 1]);
            lines.push(match s.value2 {
                Some(v2) if !s.wr => format!(
                    "{} sent {} to {} before {} sent {}",
                    op_text(h, from),
                    t(s.value),
                    t(s.key),
                    op_text(h, to),
                    t(v2)
                ),
                _ => format!(
                    "{} sent {} to {}, which {} read",
                    op_text(h, from),
                    t(s.value),
                    t(s.key),
                    op_text(h, to)
                ),
            });
        }
    }
    lines
}

fn roles(name: Name, n: usize) -> Vec<&'static str> {
    match name {
        Name::LostWrite => vec!["sent by", "the reader that read further"],
        Name::G1a => vec!["sent by", "read by"],
        Name::PollSkip | Name::NonmonotonicPoll => vec!["previous poll", "this poll"],
        Name::NonmonotonicSend => vec!["previous send", "this send"],
        Name::Unseen => vec!["sent by"; n],
        Name::InconsistentOffsets => vec!["told or read by"; n],
        Name::Duplicate => vec!["sent by"],
        _ => vec!["in"],
    }
}
