//! `[cluster] version`: behaviours that changed between Kafka versions.

use crate::common::*;
use eventsim::check::CheckStatus;

fn violations(c: &eventsim::Checked, name: &str) -> u64 {
    c.checks.iter().find(|r| r.name == name).unwrap().violations
}

/// Before KIP-320 (Kafka 2.1) a consumer has no leader epoch to check
/// after an unclean election: it reads on from its position and silently
/// skips the new leader's records at offsets it had passed, so those are
/// never applied (about twice the loss) and the projection diverges.
#[test]
fn before_kip_320_consumers_skip_the_new_leaders_records() {
    let text =
        std::fs::read_to_string(repo("scenarios/faults/unclean-election-loss.toml")).unwrap();
    let old = text.replacen("brokers = 3\n", "brokers = 3\nversion = \"2.0\"\n", 1);
    assert_ne!(old, text);
    for seed in 1..4 {
        let now = eventsim::run_checked(&scenario(&text), seed, vec![]);
        let then = eventsim::run_checked(&scenario(&old), seed, vec![]);
        let (a, b) = (violations(&now, "no-loss"), violations(&then, "no-loss"));
        assert!(b > a + a / 2, "seed {seed}: 2.0 loses {b}, 4.1 loses {a}");
        assert_eq!(
            then.checks
                .iter()
                .find(|r| r.name == "convergence")
                .unwrap()
                .status,
            CheckStatus::Fail,
            "seed {seed}"
        );
        assert!(now.result.metrics.counts.applied > then.result.metrics.counts.applied);
    }
    // Same seed, same bytes.
    let again = |seed| {
        let c = eventsim::run_checked(&scenario(&old), seed, vec![]);
        eventsim::report::Summary::checked(&c, String::new()).to_json()
    };
    assert_eq!(again(2), again(2));
    // From 2.1 on, as the newest.
    let new = text.replacen("brokers = 3\n", "brokers = 3\nversion = \"2.1\"\n", 1);
    let a = eventsim::run_checked(&scenario(&text), 1, vec![]);
    let b = eventsim::run_checked(&scenario(&new), 1, vec![]);
    assert_eq!(violations(&a, "no-loss"), violations(&b, "no-loss"));
}

#[test]
fn an_unknown_version_is_refused() {
    let text =
        std::fs::read_to_string(repo("scenarios/faults/unclean-election-loss.toml")).unwrap();
    for bad in ["\"5.0\"", "\"2\"", "\"2.x\"", "\"0.10\""] {
        assert_refused(
            &text,
            "brokers = 3\n",
            &format!("brokers = 3\nversion = {bad}\n"),
            "cluster.version",
            "eventsim knows 0.11 to 4.1",
        );
    }
}

fn messages(c: &eventsim::Checked, name: &str) -> String {
    let v: Vec<&str> = (c.violations.iter())
        .filter(|v| v.invariant == name)
        .map(|v| v.message.as_str())
        .collect();
    v.join("\n")
}

/// librdkafka's documented fix for auto-commit's loss: with
/// `enable.auto.offset.store = false` the application stores an offset
/// once it has processed the message, so a crash loses nothing (it
/// redelivers instead).
#[test]
fn librdkafka_without_auto_offset_store_loses_nothing_on_a_crash() {
    let text = std::fs::read_to_string(repo("scenarios/faults/auto-commit-loss.toml")).unwrap();
    let fixed = text.replacen(
        "client = \"librdkafka\"\n",
        "client = \"librdkafka\"\nenable_auto_offset_store = false\n",
        1,
    );
    assert_ne!(fixed, text);
    for seed in 1..5 {
        let lossy = eventsim::run_checked(&scenario(&text), seed, vec![]);
        assert!(violations(&lossy, "no-loss") > 0, "seed {seed}");
        let safe = eventsim::run_checked(&scenario(&fixed), seed, vec![]);
        assert_eq!(violations(&safe, "no-loss"), 0, "seed {seed}");
        let m = &safe.result.metrics.counts;
        assert!(
            m.applied >= m.acked,
            "seed {seed}: every acknowledged event applied"
        );
    }
    let (a, b) = summary_twice(&fixed, 2);
    assert_eq!(a, b);
    assert_refused(
        &fixed,
        "client = \"librdkafka\"\n",
        "client = \"java\"\n",
        "enable_auto_offset_store",
        "applies only to client = \"librdkafka\"",
    );
}

/// `auto_offset_reset = "none"`: a consumer whose position left the log
/// (retention deleted it while it was paused) stops with
/// OffsetOutOfRangeException instead of skipping ahead, and liveness says
/// so; with `earliest` it skips what was deleted and reads on.
#[test]
fn reset_none_stops_a_consumer_whose_position_left_the_log() {
    let text = std::fs::read_to_string(repo("scenarios/faults/retention-expiry.toml")).unwrap();
    let none = text.replace(
        "\nauto_offset_reset = \"earliest\"",
        "\nauto_offset_reset = \"none\"",
    );
    assert_ne!(none, text);
    let earliest = eventsim::run_checked(&scenario(&text), 1, vec![]);
    assert_eq!(violations(&earliest, "liveness"), 0);
    let c = eventsim::run_checked(&scenario(&none), 1, vec![]);
    let why = messages(&c, "liveness");
    assert!(why.contains("threw OffsetOutOfRangeException"), "{why}");
    assert!(c.result.metrics.counts.applied < earliest.result.metrics.counts.applied);
    let (a, b) = summary_twice(&none, 1);
    assert_eq!(a, b);
    // A group that never leaves the log's range is not disturbed.
    let ample = std::fs::read_to_string(repo("scenarios/faults/retention-ample.toml")).unwrap();
    let ample_none = ample.replace(
        "auto_offset_reset = \"earliest\"",
        "auto_offset_reset = \"none\"",
    );
    let a = eventsim::run_checked(&scenario(&ample), 1, vec![]);
    let b = eventsim::run_checked(&scenario(&ample_none), 1, vec![]);
    assert_eq!(a.verdict(), b.verdict());
    assert_eq!(
        a.result.metrics.counts.applied,
        b.result.metrics.counts.applied
    );
}

/// The summary of two runs of `text` with `seed`, to compare byte for byte.
fn summary_twice(text: &str, seed: u64) -> (String, String) {
    let once = || {
        let c = eventsim::run_checked(&scenario(text), seed, vec![]);
        eventsim::report::Summary::checked(&c, String::new()).to_json()
    };
    (once(), once())
}

/// Every produce attempt: (sent at, first event, attempt).
#[derive(Default)]
struct Attempts(Vec<(u64, eventsim::history::EventId, u32)>);

impl eventsim::history::Observer for Attempts {
    fn observe(&mut self, at: u64, o: &eventsim::history::Observation) {
        if let eventsim::history::Observation::Sent {
            first_event,
            attempt,
            ..
        } = *o
        {
            self.0.push((at, first_event, attempt));
        }
    }
}

const BACKOFF: &str = r#"
[scenario]
name = "backoff"
duration = "12s"

[cluster]
brokers = 1

[[topics]]
name = "t"
partitions = 1
replication_factor = 1
min_insync_replicas = 1

[[producers]]
name = "p"
topic = "t"
rate = 2.0
request_timeout = "50ms"

[[faults]]
kind = "partition"
target = [["p"], ["brokers"]]
at = "1s"
duration = "8s"
"#;

/// The waits between the attempts of the batch held back, less the
/// request timeout that failed each.
fn backoffs(text: &str, seed: u64) -> Vec<u64> {
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Attempts::default()));
    let observer = Box::new(eventsim::history::Shared(seen.clone()));
    eventsim::run_checked(&scenario(text), seed, vec![observer]);
    let all = seen.borrow().0.clone();
    // The first batch retried: the one the partition held back.
    let held = all.iter().find(|a| a.2 == 2).expect("a retry").1;
    let attempts: Vec<(u64, u32)> = all
        .iter()
        .filter(|a| a.1 == held)
        .map(|a| (a.0, a.2))
        .collect();
    assert!(attempts.len() > 8, "{attempts:?}");
    let timeout = 50_000_000;
    attempts
        .windows(2)
        .map(|w| {
            assert_eq!(w[1].1, w[0].1 + 1, "{attempts:?}");
            w[1].0 - w[0].0 - timeout
        })
        .collect()
}

/// From Kafka 3.7 (KIP-580) a producer's wait before a retry doubles from
/// `retry.backoff.ms` up to `retry.backoff.max.ms`, with 20% jitter;
/// before 3.7 it is a constant `retry.backoff.ms`.
#[test]
fn retries_back_off_exponentially_from_3_7_and_constantly_before() {
    const MS: u64 = 1_000_000;
    // The request's way to the broker and back: the client latency.
    let within =
        |wait: u64, term: u64| wait >= term * MS * 8 / 10 && wait <= term * MS * 12 / 10 + 5 * MS;
    for seed in 1..6 {
        let waits = backoffs(BACKOFF, seed);
        for (i, &wait) in waits.iter().enumerate() {
            let term = (100u64 << i).min(1000);
            assert!(
                within(wait, term),
                "seed {seed}, retry {}: {wait} {waits:?}",
                i + 1
            );
        }
        let capped = BACKOFF.replace(
            "request_timeout",
            "retry_backoff_max = \"300ms\"\nrequest_timeout",
        );
        let waits = backoffs(&capped, seed);
        assert!(
            waits[2..].iter().all(|&w| within(w, 300) && w <= 305 * MS),
            "{waits:?}"
        );
        let old = BACKOFF.replace("brokers = 1\n", "brokers = 1\nversion = \"3.6\"\n");
        let waits = backoffs(&old, seed);
        assert!(
            waits.iter().all(|&w| (100 * MS..105 * MS).contains(&w)),
            "{waits:?}"
        );
    }
    assert_eq!(backoffs(BACKOFF, 3), backoffs(BACKOFF, 3));
    assert_ne!(backoffs(BACKOFF, 3), backoffs(BACKOFF, 4));
    // Same seed, same bytes.
    let summary = || {
        let c = eventsim::run_checked(&scenario(BACKOFF), 3, vec![]);
        eventsim::report::Summary::checked(&c, String::new()).to_json()
    };
    assert_eq!(summary(), summary());
    assert_refused(
        BACKOFF,
        "request_timeout",
        "retry_backoff_max = \"soon\"\nrequest_timeout",
        "producers[0].retry_backoff_max",
        "duration",
    );
    let old = BACKOFF.replace("brokers = 1\n", "brokers = 1\nversion = \"3.6\"\n");
    assert_refused(
        &old,
        "request_timeout",
        "retry_backoff_max = \"2s\"\nrequest_timeout",
        "producers[0].retry_backoff_max",
        "came with Kafka 3.7 (KIP-580)",
    );
}

const LATE_RECORDS: &str = r#"
[scenario]
name = "late-records"
duration = "20s"

[cluster]
brokers = 3
version = "3.5"

[[topics]]
name = "ledger"
partitions = 12
replication_factor = 3
min_insync_replicas = 2

[[producers]]
name = "payments"
topic = "ledger"
rate = 50
keys = { dist = "uniform", n = 500 }
transactional = true
transaction_interval = "100ms"
transaction_timeout = "10s"
request_timeout = "1s"
retries = 0

[[groups]]
name = "ledger"
topics = ["ledger"]
consumers = 1
auto_offset_reset = "earliest"
isolation = "read_committed"
effect = "sum"

[[faults]]
kind = "latency-spike"
target = [["payments"], ["broker-1"]]
at = "5s"
duration = "200ms"
latency = "3s"
"#;

/// Before KIP-890 (Kafka 3.6) a partition leader appends a transactional
/// record without asking the coordinator whether its transaction is still
/// ongoing: a produce request held up on the network past its timeout, its
/// transaction aborted by the producer (no epoch bump), lands after the
/// abort marker and joins the producer's next transaction there; when that
/// one commits, read_committed consumers apply records the producer was
/// told failed (`convergence` names the aborted record applied). KIP-890's
/// first part (3.6 to 3.9) refuses it only when the producer's ongoing
/// transaction has not added the partition, which at this rate it almost
/// always has; transaction version 2 (4.0, the epoch bumped per
/// transaction) refuses it always.
#[test]
fn before_transaction_version_2_a_late_record_of_an_aborted_transaction_can_commit() {
    let appended = |c: &eventsim::Checked| c.result.metrics.counts.appended;
    let run = |version: &str, seed| {
        let text = LATE_RECORDS.replace("\"3.5\"", &format!("\"{version}\""));
        eventsim::run_checked(&scenario(&text), seed, vec![])
    };
    for seed in 1..6 {
        let (none, part1, v2) = (run("3.5", seed), run("3.9", seed), run("4.0", seed));
        assert!(
            v2.checks.iter().all(|r| r.status != CheckStatus::Fail),
            "seed {seed}: 4.0 fails"
        );
        assert!(appended(&none) >= appended(&part1), "seed {seed}");
        assert!(
            appended(&part1) > appended(&v2),
            "seed {seed}: no late record"
        );
        for c in [&none, &part1] {
            assert!(
                violations(c, "convergence") > 0,
                "seed {seed}: nothing torn"
            );
        }
    }
    // Same seed, same bytes.
    let again = || {
        let c = run("3.5", 1);
        eventsim::report::Summary::checked(&c, String::new()).to_json()
    };
    assert_eq!(again(), again());
}

/// The case KIP-966 was written for: RF 3, min ISR 2, acks=all. A network
/// partition cuts broker-0 off from the other brokers (not from the
/// controllers), so its followers leave the ISR of ledger-0 after
/// `replica_lag_time_max` and it leads alone; then it loses power with
/// 14 s of acknowledged writes in its page cache.
const SOLE_LEADER_POWER_LOSS: &str = r#"
[scenario]
name = "elr"
duration = "40s"

[cluster]
brokers = 3
replica_lag_time_max = "2s"

[[topics]]
name = "ledger"
partitions = 3
replication_factor = 3
min_insync_replicas = 2

[[producers]]
name = "teller"
topic = "ledger"
rate = 200
acks = "all"

[[groups]]
name = "balances"
topics = ["ledger"]
auto_offset_reset = "earliest"

[[faults]]
kind = "partition"
target = [["broker-0"], ["broker-1", "broker-2"]]
at = "10s"
duration = "20s"

[[faults]]
kind = "power-loss"
target = "broker-0"
at = "14s"
restart_after = "5s"
"#;

/// Without Eligible Leader Replicas the ISR keeps its last member: the
/// controller elects broker-0 again with the log it recovered from disk,
/// and the followers, which hold every acknowledged write, truncate to it.
/// With ELR (4.1, or 4.0 with `eligible_leader_replicas = true`) the
/// followers that left the ISR below min ISR are eligible, one of them
/// leads once broker-0 is fenced, and nothing acknowledged is lost.
#[test]
fn with_eligible_leader_replicas_a_sole_leader_losing_power_loses_nothing_acknowledged() {
    let with_version = |v: &str, elr: &str| {
        SOLE_LEADER_POWER_LOSS.replace(
            "brokers = 3\n",
            &format!("brokers = 3\nversion = \"{v}\"\n{elr}"),
        )
    };
    for seed in 0..10 {
        for text in [
            SOLE_LEADER_POWER_LOSS.to_string(),
            with_version("4.0", "eligible_leader_replicas = true\n"),
        ] {
            let c = eventsim::run_checked(&scenario(&text), seed, vec![]);
            assert_eq!(
                violations(&c, "no-loss"),
                0,
                "seed {seed}: {:?}",
                c.violations.first()
            );
            assert_eq!(c.result.metrics.counts.unclean_leader_elections, 0);
        }
        for text in [with_version("4.0", ""), with_version("3.9", "")] {
            let c = eventsim::run_checked(&scenario(&text), seed, vec![]);
            // About 14 s at 200/s, a third of it on ledger-0.
            let lost = violations(&c, "no-loss");
            assert!((500..=1_300).contains(&lost), "seed {seed}: {lost}");
            let v = c
                .violations
                .iter()
                .find(|v| v.invariant == "no-loss")
                .unwrap();
            assert!(
                v.explanation
                    .iter()
                    .any(|l| l.contains("broker-0 elected leader of ledger-0")),
                "{:?}",
                v.explanation
            );
        }
    }
    let (a, b) = summary_twice(SOLE_LEADER_POWER_LOSS, 3);
    assert_eq!(a, b);
}

/// From 3.7 the high watermark waits while the ISR is below min ISR
/// (KAFKA-15583): an acks=1 record written to a leader alone is not
/// visible to consumers until a follower is back in the ISR; before, it
/// is delivered at once.
#[test]
fn from_3_7_the_high_watermark_waits_for_min_isr() {
    let text = r#"
[scenario]
name = "strict"
duration = "20s"

[cluster]
brokers = 2
replica_lag_time_max = "1s"

[[topics]]
name = "t"
partitions = 1
replication_factor = 2
min_insync_replicas = 2

[[producers]]
name = "p"
topic = "t"
rate = 100
acks = "1"
idempotent = false

[[groups]]
name = "g"
topics = ["t"]
auto_offset_reset = "earliest"

[[faults]]
kind = "partition"
target = [["broker-0"], ["broker-1"]]
at = "5s"
duration = "5s"
"#;
    let p99 = |text: &str| {
        let c = eventsim::run_checked(&scenario(text), 1, vec![]);
        let m = &c.result.metrics;
        assert_eq!(m.counts.delivered, m.counts.acked, "{:?}", m.counts);
        m.end_to_end[0].stats().max
    };
    let strict = p99(text);
    let old = p99(&text.replace("brokers = 2\n", "brokers = 2\nversion = \"3.6\"\n"));
    // 3.7+: what the leader took alone from about 6 s waits until the
    // follower is back after 10 s; 3.6: it is delivered within the fetch.
    assert!(strict > 3_000_000_000, "{strict}");
    assert!(old < 1_500_000_000, "{old}");
}

#[test]
fn eligible_leader_replicas_before_4_0_is_refused() {
    let old = SOLE_LEADER_POWER_LOSS.replace("brokers = 3\n", "brokers = 3\nversion = \"3.9\"\n");
    assert_refused(
        &old,
        "version = \"3.9\"\n",
        "version = \"3.9\"\neligible_leader_replicas = true\n",
        "cluster.eligible_leader_replicas",
        "came with Kafka 4.0 (KIP-966)",
    );
    assert_refused(
        SOLE_LEADER_POWER_LOSS,
        "brokers = 3\n",
        "brokers = 3\neligible_leader_replicas = \"yes\"\n",
        "eligible_leader_replicas",
        "bool",
    );
    assert_refused(
        SOLE_LEADER_POWER_LOSS,
        "brokers = 3\n",
        "brokers = 3\neligible_leader_replica = true\n",
        "eligible_leader_replica",
        "eligible_leader_replicas",
    );
}

/// KAFKA-17754: a transactional producer's EndTxn, delayed 2.95 s on its
/// way to the coordinator (broker-2, which leads no partition of the
/// topic), times out after 1 s and is sent again on a new connection; the
/// retry commits the transaction and the producer begins its next. When
/// the first copy arrives, before transaction version 2 (4.0) it carries
/// the current epoch and commits the *next* transaction half-way: its
/// records so far become visible, the rest are refused, and the producer,
/// told the transaction aborted, reports every record failed. 4.0 fences
/// it (an epoch per transaction).
const LATE_END_TXN: &str = r#"
[scenario]
name = "late-endtxn"
duration = "10s"
drain = "10s"
[cluster]
brokers = 3
version = "3.9"
[[topics]]
name = "ledger"
partitions = 2
replication_factor = 2
min_insync_replicas = 1
[[topics]]
name = "other"
partitions = 1
replication_factor = 1
min_insync_replicas = 1
[[producers]]
name = "a"
topic = "other"
rate = 5
[[producers]]
name = "b"
topic = "other"
rate = 5
[[producers]]
name = "payments"
topic = "ledger"
rate = 300
transactional = true
transaction_interval = "100ms"
request_timeout = "1s"
[[groups]]
name = "audit"
topics = ["ledger"]
consumers = 1
isolation = "read_committed"
effect = "sum"
[[faults]]
kind = "latency-spike"
target = ["payments", "broker-2"]
at = "3s"
duration = "300ms"
latency = "2950ms"
"#;

#[test]
fn before_transaction_version_2_a_late_end_txn_commits_the_next_transaction_half_way() {
    let run = |version: &str, seed| {
        let text = LATE_END_TXN.replace("\"3.9\"", &format!("\"{version}\""));
        eventsim::run_checked(&scenario(&text), seed, vec![])
    };
    let mut torn = 0;
    for seed in 0..10 {
        let v2 = run("4.0", seed);
        assert!(
            v2.checks.iter().all(|r| r.status != CheckStatus::Fail),
            "seed {seed}: 4.0 fails"
        );
        torn += usize::from(violations(&run("3.9", seed), "convergence") > 0);
    }
    assert!(torn >= 5, "{torn} of 10 seeds torn under 3.9");
    // Same seed, same bytes, the late EndTxn and its torn transaction too.
    let again = || {
        let c = run("3.9", 3);
        let v: Vec<String> = c.violations.iter().map(|v| format!("{v:?}")).collect();
        (
            eventsim::report::Summary::checked(&c, String::new()).to_json(),
            v,
        )
    };
    assert_eq!(again(), again());
}

/// The same run as a Jepsen history: the torn transaction is `G1a`, a
/// committed poll reading records of a transaction its producer was told
/// aborted, with the poll and the transaction as its witness.
#[test]
fn a_torn_transaction_is_g1a_in_the_jepsen_history() {
    let s = scenario(LATE_END_TXN);
    let c = eventsim::World::new(&s, 3);
    let recorder = std::rc::Rc::new(std::cell::RefCell::new(eventsim::jepsen::Recorder::new(
        c.catalog(),
    )));
    let checked = eventsim::run_checked(
        &s,
        3,
        vec![Box::new(eventsim::history::Shared(recorder.clone()))],
    );
    assert!(violations(&checked, "convergence") > 0);
    drop(checked);
    let h = std::rc::Rc::try_unwrap(recorder)
        .ok()
        .map(|r| r.into_inner().finish())
        .unwrap_or_else(|| panic!("the run is over"));
    let a = eventsim::jepsen::analyse(&h, false);
    let g1a = a.of(eventsim::jepsen::Name::G1a);
    assert!(!g1a.is_empty(), "no G1a");
    assert!(!a.valid());
    let (message, lines) = eventsim::jepsen::describe(&h, g1a[0]);
    assert!(
        message.contains("sent by an operation that failed"),
        "{message}"
    );
    assert!(lines[0].contains(":fail :txn"), "{lines:?}");
    assert!(lines[1].contains(":ok :poll"), "{lines:?}");
}
