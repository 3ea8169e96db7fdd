#![allow(dead_code)]
//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn eventsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eventsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("eventsim runs")
}

/// The program as a repro line printed by it names it: the path it was
/// started by (tests start it by its path, as `cargo run` does).
pub fn program() -> String {
    shell_quote(env!("CARGO_BIN_EXE_eventsim"))
}

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Parse a scenario given inline (panics with the error if it is invalid).
pub fn scenario(text: &str) -> eventsim::scenario::Scenario {
    eventsim::scenario::Scenario::parse(text, "inline.toml").unwrap_or_else(|e| panic!("{e}"))
}

use eventsim::history::{EventId, Observation, Observer};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// What the log holds, per event, and what producers were told: enough to
/// find acknowledged events missing from the log, duplicates in it, and
/// per-key reordering in it.
#[derive(Default, Debug)]
pub struct LogAudit {
    /// Copies of each event in partition logs (appended minus truncated).
    pub copies: BTreeMap<EventId, i64>,
    pub acked: Vec<EventId>,
    pub expired: Vec<EventId>,
    key: BTreeMap<EventId, u64>,
    last_by_key: BTreeMap<u64, EventId>,
    /// Appends of an event after a newer event of the same key.
    pub inversions: u64,
}

impl LogAudit {
    /// Acknowledged events no log holds (and retention did not delete).
    pub fn acked_lost(&self) -> usize {
        self.acked
            .iter()
            .filter(|e| self.copies.get(e).copied().unwrap_or(0) <= 0 && !self.expired.contains(e))
            .count()
    }
    /// Events held more than once by the logs.
    pub fn duplicated(&self) -> usize {
        self.copies.values().filter(|&&c| c > 1).count()
    }
}

pub struct Audit(pub Rc<RefCell<LogAudit>>);

impl Observer for Audit {
    fn observe(&mut self, _at: u64, o: &Observation) {
        let mut a = self.0.borrow_mut();
        match *o {
            Observation::Produced { event, key, .. } => {
                a.key.insert(event, key);
            }
            Observation::Acked { event, .. } => a.acked.push(event),
            Observation::Appended { event, .. } => {
                *a.copies.entry(event).or_default() += 1;
                let key = a.key[&event];
                let last = a.last_by_key.entry(key).or_insert(0);
                if event < *last {
                    a.inversions += 1;
                } else {
                    *last = event;
                }
            }
            Observation::Truncated { event, .. } => *a.copies.entry(event).or_default() -= 1,
            Observation::Expired { event, .. } => a.expired.push(event),
            _ => {}
        }
    }
}

/// Run `scenario` with `seed` under a [`LogAudit`].
pub fn audited(
    scenario: &eventsim::scenario::Scenario,
    seed: u64,
) -> (eventsim::RunResult, LogAudit) {
    let audit = Rc::new(RefCell::new(LogAudit::default()));
    let mut world = eventsim::World::new(scenario, seed);
    world.add_observer(Box::new(Audit(audit.clone())));
    let result = world.run();
    let a = Rc::try_unwrap(audit)
        .expect("the world is gone")
        .into_inner();
    (result, a)
}

/// Load a scenario file of the repository.
pub fn load(path: &str) -> eventsim::scenario::Scenario {
    eventsim::scenario::Scenario::load(&repo(path)).unwrap_or_else(|e| panic!("{e}"))
}

/// Run `s` with its checkers for `seed` and assert that every one passes.
pub fn run_passing(s: &eventsim::scenario::Scenario, seed: u64) -> eventsim::Checked {
    let c = eventsim::run_checked(s, seed, Vec::new());
    assert_eq!(
        c.verdict(),
        Verdict::Pass,
        "seed {seed}: {:?}",
        c.violations.first()
    );
    c
}

/// The tags of an HTML page, checked by a WHATWG tokenizer: no parse
/// error, every element closed in order. Returns the text of each `h2`.
pub fn well_formed(html: &str) -> Vec<String> {
    use html5gum::{Token, Tokenizer};
    const VOID: [&str; 6] = ["meta", "br", "img", "hr", "input", "link"];
    let mut open: Vec<String> = vec![];
    let mut headings = vec![];
    for token in Tokenizer::new(html) {
        let Ok(token) = token;
        match token {
            Token::Error(e) => panic!("HTML parse error {e:?}"),
            Token::StartTag(t) => {
                let name = String::from_utf8_lossy(&t.name).into_owned();
                assert!(
                    !["script", "iframe", "object", "embed", "link"].contains(&name.as_str()),
                    "<{name}> in a self-contained page"
                );
                if name == "h2" {
                    headings.push(String::new());
                }
                if !t.self_closing && !VOID.contains(&name.as_str()) {
                    open.push(name);
                }
            }
            Token::EndTag(t) => {
                let name = String::from_utf8_lossy(&t.name).into_owned();
                assert_eq!(
                    open.pop().as_deref(),
                    Some(name.as_str()),
                    "misnested </{name}>"
                );
            }
            Token::String(s) if open.last().is_some_and(|t| t == "h2") => {
                headings
                    .last_mut()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&s));
            }
            _ => {}
        }
    }
    assert!(open.is_empty(), "unclosed: {open:?}");
    headings
}

/// A word as a POSIX shell reads it: as it is when it has only safe
/// characters, else in single quotes.
pub fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
pub use eventsim::check::{CheckStatus, Verdict};

/// `text` with the first `from` replaced by `to`, checked by `eventsim
/// check`: refused with exit status 2, an error at a line of the file
/// that names `field` and says `needle`, and no panic.
pub fn assert_refused(text: &str, from: &str, to: &str, field: &str, needle: &str) {
    assert!(text.contains(from), "{from}");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.toml");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    let o = eventsim(&["check", path.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(field) && err.contains(needle),
        "{field}: {err}"
    );
    assert!(err.contains("bad.toml:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Random crashes, pauses and partitions of every node, and duplicate
/// deliveries on every link, from 2 s to 25 s (a `[faults.random]`
/// section to append to a scenario without faults).
pub const RANDOM_CHAOS: &str = "
[faults.random]
start = \"2s\"
stop = \"25s\"
max_down_brokers = 1
max_down_consumers = 1

[[faults.random.kinds]]
kind = \"crash\"
targets = [\"brokers\", \"consumers\", \"producers\"]
rate = 3.0
restart_after = { dist = \"uniform\", min = \"500ms\", max = \"4s\" }

[[faults.random.kinds]]
kind = \"pause\"
targets = [\"brokers\", \"consumers\", \"producers\"]
rate = 3.0
duration = { dist = \"uniform\", min = \"100ms\", max = \"3s\" }

[[faults.random.kinds]]
kind = \"partition\"
targets = [\"brokers\", \"consumers\", \"producers\"]
rate = 3.0
duration = { dist = \"uniform\", min = \"100ms\", max = \"3s\" }

[[faults.random.kinds]]
kind = \"duplicate\"
targets = [\"brokers\", \"consumers\", \"producers\"]
rate = 2.0
probability = 0.3
duration = \"3s\"
";

/// `eventsim run SCENARIO` twice (its own seed) writes the same summary,
/// time series and page, byte for byte, and passes.
pub fn assert_runs_repeat(scenario: &str) {
    let tmp = tempfile::tempdir().unwrap();
    for n in ["a", "b"] {
        let o = eventsim(&[
            "run",
            scenario,
            "--out",
            tmp.path().join(n).to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    for f in ["summary.json", "timeseries.csv", "index.html"] {
        assert_eq!(
            std::fs::read(tmp.path().join("a").join(f)).unwrap(),
            std::fs::read(tmp.path().join("b").join(f)).unwrap(),
            "{scenario}: {f}"
        );
    }
}

/// `mm1.toml`'s queue (one partition, one consumer serving 1,000/s on
/// average) at `rate` arrivals per second for `duration`.
pub fn mm1(rate: u32, duration: &str, extra: &str) -> String {
    let text = std::fs::read_to_string(crate::common::repo("scenarios/mm1.toml")).unwrap();
    let text = text
        .replace(
            "duration = \"1700s\"",
            &format!("duration = \"{duration}\""),
        )
        .replace("rate = 600 ", &format!("rate = {rate} "));
    format!("{text}\n{extra}")
}

/// Three brokers, RF 3, min ISR 2, an idempotent acks=all producer at
/// 200/s, a group `balances` reading it, 60 s; `topic` adds topic lines,
/// `faults` the faults.
pub fn ledger(topic: &str, faults: &str) -> String {
    format!(
        r#"
[scenario]
name = "disk"
duration = "60s"

[cluster]
brokers = 3

[[topics]]
name = "ledger"
partitions = 3
replication_factor = 3
min_insync_replicas = 2
{topic}

[[producers]]
name = "teller"
topic = "ledger"
rate = 200
acks = "all"

[[groups]]
name = "balances"
topics = ["ledger"]
auto_offset_reset = "earliest"

{faults}
"#
    )
}
