//! A synthetic history of the queue workload, of any size: for benchmarks
//! and for measuring the checker on millions of operations.

/// A history of about `ops` operations (invocations and completions) in
/// Jepsen's EDN, from `seed`: ten client processes send one to three
/// values to eight integer keys and poll them in order, as a correct
/// Kafka would answer, and a final poll per key reads everything, so
/// the history holds no anomaly.
pub fn synthetic(ops: usize, seed: u64) -> String {
    const KEYS: usize = 8;
    const PROCESSES: u64 = 10;
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // SplitMix64.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut logs: Vec<Vec<u64>> = vec![Vec::new(); KEYS];
    let mut read_to = vec![[0usize; KEYS]; PROCESSES as usize];
    let (mut out, mut value, mut index) = (String::with_capacity(ops * 140), 0u64, 0u64);
    while (index as usize) < ops.saturating_sub(2 * KEYS) {
        let p = next() % PROCESSES;
        if next() % 2 == 0 {
            let n = 1 + next() % 3;
            let (mut inv, mut ok) = (String::new(), String::new());
            for _ in 0..n {
                let k = (next() % KEYS as u64) as usize;
                value += 1;
                inv += &format!("[:send {k} {value}] ");
                ok += &format!("[:send {k} [{} {value}]] ", logs[k].len());
                logs[k].push(value);
            }
            line(&mut out, &mut index, "invoke", p, "send", inv.trim_end());
            line(&mut out, &mut index, "ok", p, "send", ok.trim_end());
        } else {
            let polled = polls(&mut next, &logs, &mut read_to[p as usize]);
            let body: Vec<String> = polled.iter().map(|(k, v)| format!("{k} [{v}]")).collect();
            line(&mut out, &mut index, "invoke", p, "poll", "[:poll]");
            line(
                &mut out,
                &mut index,
                "ok",
                p,
                "poll",
                &format!("[:poll {{{}}}]", body.join(", ")),
            );
        }
    }
    // The final polls: a fresh process reads each key whole.
    for (k, log) in logs.iter().enumerate() {
        let pairs: Vec<String> = log
            .iter()
            .enumerate()
            .map(|(o, v)| format!("[{o} {v}]"))
            .collect();
        line(&mut out, &mut index, "invoke", PROCESSES, "poll", "[:poll]");
        line(
            &mut out,
            &mut index,
            "ok",
            PROCESSES,
            "poll",
            &format!("[:poll {{{k} [{}]}}]", pairs.join(" ")),
        );
    }
    out
}

fn line(out: &mut String, index: &mut u64, kind: &str, p: u64, f: &str, v: &str) {
    use std::fmt::Write;
    let _ = writeln!(
        out,
        "{{:index {index}, :time {}, :type :{kind}, :process {p}, :f :{f}, :value [{v}]}}",
        *index * 1000
    );
    *index += 1;
}

/// Up to five records of each of two keys, from where the process is.
fn polls(
    next: &mut impl FnMut() -> u64,
    logs: &[Vec<u64>],
    read_to: &mut [usize],
) -> Vec<(usize, String)> {
    let mut polled: Vec<(usize, String)> = Vec::new();
    for _ in 0..2 {
        let k = (next() % logs.len() as u64) as usize;
        if polled.iter().any(|(x, _)| *x == k) {
            continue;
        }
        let from = read_to[k];
        let to = logs[k].len().min(from + 5);
        read_to[k] = to;
        let pairs: Vec<String> = (from..to)
            .map(|o| format!("[{o} {}]", logs[k][o]))
            .collect();
        polled.push((k, pairs.join(" ")));
    }
    polled
}
