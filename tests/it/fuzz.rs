//! A fuzz harness the project keeps: the shipped scenarios, mutated the way
//! a careless or hostile user would (keys deleted, types swapped, extreme
//! numbers, odd names and durations, sections duplicated), are either
//! refused with a clear error (exit 2) or run to a verdict (exit 0, 1, or 3
//! for a run its budget cut short); never a panic, never a hang, never an
//! abort for want of memory.
//!
//! The corpus is deterministic: case `i` of a run with seed `S` is always
//! the same mutant. CI runs a short corpus; run a longer one with
//!
//! ```text
//! EVENTSIM_FUZZ_CASES=5000 EVENTSIM_FUZZ_SEED=7 cargo test --release --test it fuzz::
//! ```
//!
//! A failing mutant is written to `target/fuzz-failures/` with the command
//! that reproduces it.

use rand::rngs::ChaCha8Rng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use toml_edit::{DocumentMut, Item, Value};

/// Wall time one mutant may take, checking and running (a mutant's run is
/// held to `KERNEL_EVENTS` kernel events, so this is generous).
const WALL_LIMIT: Duration = Duration::from_secs(30);
/// The kernel-event budget written into every mutant that runs.
const KERNEL_EVENTS: i64 = 300_000;
/// The memory budget every mutant runs under.
const MAX_MEMORY: &str = "2GiB";

fn corpus() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "toml") {
                out.push(p);
            }
        }
    }
    let mut files = vec![];
    walk(&crate::common::repo("scenarios"), &mut files);
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// Values a hostile user might write anywhere.
fn hostile_value(rng: &mut ChaCha8Rng) -> Value {
    let long = "x".repeat(5_000);
    let strings: [&str; 26] = [
        "",
        " ",
        "0",
        "-1s",
        "-0",
        "1e400s",
        "99999999999999999999d",
        "18446744073709551615ns",
        "9223372036854775807ms",
        "1.7976931348623157e308s",
        "NaN",
        "inf",
        "0.0000000001ns",
        "\u{1b}[2J",
        "a\u{0}b",
        "../../etc/passwd",
        "a\u{202e}b",
        "ordérs",
        "all",
        "none",
        "latest",
        "zipf",
        "5ms",
        "1h",
        "broker-99",
        &long,
    ];
    match rng.random_range(0..6) {
        0 => {
            let ints = [
                0,
                -1,
                1,
                2,
                255,
                65_536,
                1 << 31,
                1 << 32,
                1 << 53,
                i64::MAX,
                i64::MIN,
                1_000_000_000,
            ];
            Value::from(*ints.choose(rng).unwrap())
        }
        1 => {
            let floats = [
                0.0,
                -0.0,
                -1.0,
                0.5,
                1e-300,
                1e308,
                -1e308,
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::NAN,
                1e15,
            ];
            Value::from(*floats.choose(rng).unwrap())
        }
        2 | 3 => Value::from(*strings.choose(rng).unwrap()),
        4 => Value::from(rng.random_bool(0.5)),
        _ => {
            let tables = [
                "{}",
                "[]",
                "[[]]",
                "[\"orders\", \"orders\"]",
                "{ dist = \"pareto\", scale = \"1ms\", shape = 0.0 }",
                "{ dist = \"pareto\", scale = \"1ms\", shape = 0.01 }",
                "{ dist = \"lognormal\", median = \"1s\", p99 = \"1ms\" }",
                "{ dist = \"normal\", mean = \"1ms\", stddev = \"100000d\" }",
                "{ dist = \"uniform\", min = \"5s\", max = \"1ms\" }",
                "{ dist = \"exponential\", mean = \"0\" }",
                "{ dist = \"zipf\", n = 9223372036854775807, s = 1.0 }",
                "{ dist = \"zipf\", n = 10, s = 0.0 }",
                "{ dist = \"uniform\", n = 0 }",
                "{ dist = \"hot\", n = 1000000000, hot = 1.0, weight = 2.0 }",
                "{ dist = \"constant\", value = \"1e300s\" }",
            ];
            let text = format!("v = {}", tables.choose(rng).unwrap());
            let doc: DocumentMut = text.parse().unwrap();
            doc["v"].as_value().unwrap().clone()
        }
    }
}

/// A value to put in place of `old`: mostly one of its own type at an
/// extreme (these get past parsing and test the model), sometimes any
/// hostile value (these test the errors).
fn replacement(old: Option<&Value>, rng: &mut ChaCha8Rng) -> Value {
    match old {
        Some(v) if rng.random_bool(0.75) => same_kind(v, rng),
        _ => hostile_value(rng),
    }
}

/// A value of the same type as `old`, at an extreme.
fn same_kind(old: &Value, rng: &mut ChaCha8Rng) -> Value {
    match old {
        Value::Integer(i) => {
            let n = *i.value();
            let options = [
                0,
                1,
                2,
                n.saturating_mul(10),
                n.saturating_mul(1000),
                n / 10,
                n.saturating_add(1),
                n.saturating_sub(1),
                i64::MAX,
                u32::MAX as i64,
                u32::MAX as i64 + 1,
                65_536,
            ];
            Value::from(*options.choose(rng).unwrap())
        }
        Value::Float(f) => {
            let x = *f.value();
            let options = [
                0.0,
                1.0,
                x * 10.0,
                x * 1000.0,
                x / 1000.0,
                1e-9,
                1e12,
                -x,
                0.999_999,
                f64::MAX,
            ];
            Value::from(*options.choose(rng).unwrap())
        }
        Value::String(text) => {
            let t = text.value();
            let unit = t.ends_with('s') || t.ends_with('m') || t.ends_with('h') || t.ends_with('d');
            if unit && t.starts_with(|c: char| c.is_ascii_digit()) {
                let options = [
                    "0", "1ns", "1us", "10ms", "1s", "30s", "10m", "1h", "365d", "100000d",
                    "0.5ns", "213503d",
                ];
                Value::from(*options.choose(rng).unwrap())
            } else if rng.random_bool(0.6) {
                // Names and enum values mostly stay: numbers and durations
                // are what test the model.
                Value::from(t)
            } else {
                // Another name from the file's own vocabulary, or an odd one.
                let options = [
                    t.to_string(),
                    format!("{t}-2"),
                    t.to_uppercase(),
                    "orders".into(),
                    "broker-0".into(),
                    "x".repeat(300),
                    format!("{t}\u{1b}"),
                    "all".into(),
                    "1".into(),
                ];
                Value::from(options.choose(rng).unwrap().as_str())
            }
        }
        Value::Boolean(b) => Value::from(!*b.value()),
        _ => hostile_value(rng),
    }
}

/// Visit the scalar values only (numbers, strings, booleans, at any depth)
/// and give the one numbered `*left` a value of its own type at an extreme.
fn visit_leaves(v: &mut Value, left: &mut usize, rng: &mut Option<&mut ChaCha8Rng>) -> bool {
    match v {
        Value::InlineTable(t) => t.iter_mut().any(|(_, v)| visit_leaves(v, left, rng)),
        Value::Array(a) => a.iter_mut().any(|v| visit_leaves(v, left, rng)),
        _ => {
            if *left == 0
                && let Some(rng) = rng
            {
                let keep = v.decor().clone();
                *v = same_kind(v, rng);
                *v.decor_mut() = keep;
                return true;
            }
            *left = left.wrapping_sub(1);
            false
        }
    }
}

fn visit_leaf_items(
    t: &mut toml_edit::Table,
    left: &mut usize,
    rng: &mut Option<&mut ChaCha8Rng>,
) -> bool {
    t.iter_mut().any(|(_, item)| match item {
        Item::Table(inner) => visit_leaf_items(inner, left, rng),
        Item::ArrayOfTables(a) => a.iter_mut().any(|t| visit_leaf_items(t, left, rng)),
        Item::Value(v) => visit_leaves(v, left, rng),
        _ => false,
    })
}

/// Visit the document's slots (keys of tables and inline tables, elements
/// of arrays and arrays of tables) in order and mutate the one numbered
/// `*left`; returns true once it has. With `rng = None` it only counts
/// (and `*left` goes down by the number of slots).
fn visit_table(
    t: &mut toml_edit::Table,
    left: &mut usize,
    rng: &mut Option<&mut ChaCha8Rng>,
) -> bool {
    let keys: Vec<String> = t.iter().map(|(k, _)| k.to_string()).collect();
    for k in keys {
        if *left == 0
            && let Some(rng) = rng
        {
            table_op(t, &k, rng);
            return true;
        }
        *left = left.wrapping_sub(1);
        let done = match t.get_mut(&k) {
            Some(Item::Table(inner)) => visit_table(inner, left, rng),
            Some(Item::ArrayOfTables(a)) => {
                let mut done = false;
                for i in 0..a.len() {
                    if *left == 0
                        && let Some(rng) = rng
                    {
                        if rng.random_bool(0.5) {
                            let copy = a.get(i).unwrap().clone();
                            a.push(copy);
                        } else {
                            a.remove(i);
                        }
                        return true;
                    }
                    *left = left.wrapping_sub(1);
                    if visit_table(a.get_mut(i).unwrap(), left, rng) {
                        done = true;
                        break;
                    }
                }
                done
            }
            Some(Item::Value(v)) => visit_value(v, left, rng),
            _ => false,
        };
        if done {
            return true;
        }
    }
    false
}

fn visit_value(v: &mut Value, left: &mut usize, rng: &mut Option<&mut ChaCha8Rng>) -> bool {
    match v {
        Value::InlineTable(t) => {
            let keys: Vec<String> = t.iter().map(|(k, _)| k.to_string()).collect();
            for k in keys {
                if *left == 0
                    && let Some(rng) = rng
                {
                    if rng.random_bool(0.25) {
                        t.remove(&k);
                    } else {
                        let v = replacement(t.get(&k), rng);
                        t.insert(&k, v);
                    }
                    return true;
                }
                *left = left.wrapping_sub(1);
                if visit_value(t.get_mut(&k).unwrap(), left, rng) {
                    return true;
                }
            }
            false
        }
        Value::Array(a) => {
            for i in 0..a.len() {
                if *left == 0
                    && let Some(rng) = rng
                {
                    match rng.random_range(0..3) {
                        0 => {
                            a.remove(i);
                        }
                        1 => {
                            let v = replacement(a.get(i), rng);
                            a.replace(i, v);
                        }
                        _ => {
                            let copy = a.get(i).unwrap().clone();
                            a.push(copy);
                        }
                    }
                    return true;
                }
                *left = left.wrapping_sub(1);
                if visit_value(a.get_mut(i).unwrap(), left, rng) {
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

/// Delete a key, add an unknown one beside it, or give it a hostile value.
fn table_op(t: &mut toml_edit::Table, k: &str, rng: &mut ChaCha8Rng) {
    match rng.random_range(0..12) {
        0 => {
            t.remove(k);
        }
        1 => {
            t.insert(&format!("{k}_x"), Item::Value(hostile_value(rng)));
        }
        _ => {
            let v = replacement(t.get(k).and_then(Item::as_value), rng);
            match t.get_mut(k) {
                Some(Item::Value(old)) if old.is_inline_table() && rng.random_bool(0.5) => {
                    let mut left = 0;
                    visit_value(old, &mut left, &mut Some(rng));
                }
                Some(item) => *item = Item::Value(v),
                None => {}
            }
        }
    }
}

/// Mutant `case` of the corpus under `seed`: the file it came from and its text.
fn mutant(corpus: &[(String, String)], seed: u64, case: u64) -> (String, String) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(case);
    let (name, text) = corpus.choose(&mut rng).unwrap();
    let mut doc: DocumentMut = text.parse().unwrap();
    // Half the mutants change only values, keeping their type (these get
    // past parsing more often and test the model); half also change the
    // structure (these test the errors).
    let values_only = rng.random_bool(0.5);
    for _ in 0..rng.random_range(1..=3) {
        let visit = if values_only {
            visit_leaf_items
        } else {
            visit_table
        };
        let mut left = usize::MAX;
        visit(doc.as_table_mut(), &mut left, &mut None);
        let slots = usize::MAX - left;
        if slots > 0 {
            let mut left = rng.random_range(0..slots);
            visit(doc.as_table_mut(), &mut left, &mut Some(&mut rng));
        }
    }
    (name.clone(), doc.to_string())
}

/// The same text with every run held to `KERNEL_EVENTS` kernel events.
fn budgeted(text: &str) -> String {
    match text.parse::<DocumentMut>() {
        Ok(mut doc) => {
            if let Some(t) = doc.get_mut("scenario").and_then(Item::as_table_mut) {
                let cap = t
                    .get("max_kernel_events")
                    .and_then(Item::as_integer)
                    .filter(|&n| (1..KERNEL_EVENTS).contains(&n))
                    .unwrap_or(KERNEL_EVENTS);
                t.insert("max_kernel_events", toml_edit::value(cap));
            }
            doc.to_string()
        }
        Err(_) => text.to_string(),
    }
}

/// What became of a mutant (`check: exit 2`, `run: exit 0`, ...), or
/// what went wrong with it.
fn outcome(dir: &Path, text: &str) -> Result<String, String> {
    let path = dir.join("m.toml");
    std::fs::write(&path, text).unwrap();
    let out = dir.join("out");
    let run = |args: &[&str]| -> Result<(Option<i32>, String), String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_eventsim"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                child.stderr.take().unwrap().read_to_string(&mut err).ok();
                return Ok((status.code(), err));
            }
            if start.elapsed() > WALL_LIMIT {
                child.kill().ok();
                child.wait().ok();
                return Err(format!("`{}` took over {WALL_LIMIT:?}", args.join(" ")));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let p = path.to_str().unwrap();
    let o = out.to_str().unwrap();
    let (code, err) = run(&["check", p])?;
    let judge = |what: &str, code: Option<i32>, err: &str, allowed: &[i32]| {
        if err.contains("panicked") || !code.is_some_and(|c| allowed.contains(&c)) {
            return Err(format!("{what}: exit {code:?}\n{err}"));
        }
        if err
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(format!("{what}: a raw control character in: {err:?}"));
        }
        if code == Some(2) && !err.starts_with("error: ") {
            return Err(format!("{what}: exit 2 without an error message: {err}"));
        }
        Ok(format!("{what}: exit {}", code.unwrap_or(-1)))
    };
    let checked = judge("check", code, &err, &[0, 2])?;
    if std::env::var_os("EVENTSIM_FUZZ_VERBOSE").is_some() {
        eprintln!("{}", err.lines().next().unwrap_or(""));
    }
    if code != Some(0) {
        return Ok(checked);
    }
    let (code, err) = run(&["run", p, "--out", o, "--quiet", "--max-memory", MAX_MEMORY])?;
    judge("run", code, &err, &[0, 1, 2, 3])
}

fn fuzz(part: u64, parts: u64) {
    let cases: u64 = std::env::var("EVENTSIM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(240);
    let seed: u64 = std::env::var("EVENTSIM_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let corpus = corpus();
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = vec![];
    let mut tally = std::collections::BTreeMap::new();
    for case in (0..cases).filter(|c| c % parts == part) {
        let (from, text) = mutant(&corpus, seed, case);
        let text = budgeted(&text);
        let result = outcome(tmp.path(), &text);
        if let Ok(what) = &result {
            *tally.entry(what.clone()).or_insert(0u64) += 1;
        }
        if let Err(why) = result {
            let dir = crate::common::repo("target/fuzz-failures");
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join(format!("seed-{seed}-case-{case}.toml"));
            std::fs::write(&file, &text).unwrap();
            failures.push(format!(
                "case {case} (from {from}, saved as {}): {why}",
                file.display()
            ));
        }
    }
    eprintln!("fuzz seed {seed}, part {part}/{parts}: {tally:?}");
    // The harness is only worth its time if mutants get past `check` too.
    let ran: u64 = tally
        .iter()
        .filter(|(k, _)| k.starts_with("run"))
        .map(|(_, n)| n)
        .sum();
    assert!(
        ran * 5 >= cases / parts,
        "only {ran} mutants ran: {tally:?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {} mutants failed:\n{}",
        failures.len(),
        cases / parts,
        failures.join("\n\n")
    );
}

#[test]
fn mutated_scenarios_get_a_clear_answer_first_half() {
    fuzz(0, 2);
}

#[test]
fn mutated_scenarios_get_a_clear_answer_second_half() {
    fuzz(1, 2);
}

#[test]
fn the_corpus_is_deterministic_and_varied() {
    let corpus = corpus();
    assert!(corpus.len() >= 20, "{} scenario files", corpus.len());
    let a: Vec<_> = (0..50).map(|c| mutant(&corpus, 0, c)).collect();
    let b: Vec<_> = (0..50).map(|c| mutant(&corpus, 0, c)).collect();
    assert_eq!(a, b);
    let changed = a
        .iter()
        .filter(|(from, text)| corpus.iter().any(|(n, t)| n == from && t != text))
        .count();
    // About 44 of 50 over corpus seeds 0-19 (38 at the least): a mutation
    // can write back the value it replaced, or drop an item that was
    // already at its default.
    assert!(
        changed >= 40,
        "only {changed} of 50 mutants differ from their file"
    );
}
