//! The disk: Kafka acknowledges from the page cache and relies on
//! replication. A process crash keeps the page cache; a power loss takes
//! what was not on disk, so losing power on every replica at once loses
//! acknowledged writes unless the topic fsyncs (`flush_messages`,
//! `flush_ms`), while one broker losing power loses nothing acknowledged.

use crate::common::{assert_refused, ledger, repo, scenario};
use eventsim::check::{CheckStatus, Verdict};
use eventsim::report::Summary;

const S: u64 = 1_000_000_000;

fn power_loss(target: &str, at: &str) -> String {
    format!(
        "[[faults]]\nkind = \"power-loss\"\ntarget = {target}\nat = \"{at}\"\nrestart_after = \"5s\"\n"
    )
}

/// Every checker passes for each seed of `seeds`.
fn passes(text: &str, seeds: std::ops::Range<u64>) {
    let s = scenario(text);
    for seed in seeds {
        let c = eventsim::run_checked(&s, seed, vec![]);
        assert_eq!(
            c.verdict(),
            Verdict::Pass,
            "seed {seed}: {:?}",
            c.violations
        );
    }
}

fn no_loss(c: &eventsim::Checked) -> CheckStatus {
    c.checks
        .iter()
        .find(|r| r.name == "no-loss")
        .unwrap()
        .status
}

/// Acknowledged events a run lost (no-loss violations).
fn lost(c: &eventsim::Checked) -> usize {
    c.checks
        .iter()
        .find(|r| r.name == "no-loss")
        .unwrap()
        .violations as usize
}

#[test]
fn losing_power_on_every_replica_loses_acknowledged_writes_unless_they_are_fsynced() {
    let text = ledger("", &power_loss("\"brokers\"", "20s"));
    for seed in 0..5 {
        let c = eventsim::run_checked(&scenario(&text), seed, vec![]);
        assert_eq!(no_loss(&c), CheckStatus::Fail, "seed {seed}");
        // Nothing was written back yet (30 s): the 20 s of writes go.
        assert!(
            (3_800..=4_200).contains(&lost(&c)),
            "seed {seed}: {}",
            lost(&c)
        );
        let first = c
            .violations
            .iter()
            .find(|v| v.invariant == "no-loss")
            .unwrap();
        assert!(
            first
                .message
                .contains("when power was lost before any replica had it on disk"),
            "{}",
            first.message
        );
    }
    // flush.messages = 1: every replica fsyncs each append before it is
    // acknowledged, so nothing acknowledged is lost.
    let text = ledger("flush_messages = 1", &power_loss("\"brokers\"", "20s"));
    passes(&text, 0..20);
}

#[test]
fn flush_ms_bounds_what_a_correlated_power_loss_takes() {
    let text = ledger("flush_ms = \"1s\"", &power_loss("\"brokers\"", "20s"));
    for seed in 0..5 {
        let c = eventsim::run_checked(&scenario(&text), seed, vec![]);
        // At most about a second of writes (200/s), some of them.
        assert!((1..=260).contains(&lost(&c)), "seed {seed}: {}", lost(&c));
    }
}

#[test]
fn the_os_writes_back_what_is_older_than_the_dirty_page_expiry() {
    // At 50 s, what was appended before about 20 s is on disk: about 30 s
    // of writes are lost (6,000), not 50 s (10,000).
    let text = ledger("", &power_loss("\"brokers\"", "50s"));
    let c = eventsim::run_checked(&scenario(&text), 1, vec![]);
    assert!((5_600..=6_400).contains(&lost(&c)), "{}", lost(&c));
    let text = text.replace("brokers = 3", "brokers = 3\ndirty_page_expiry = \"5s\"");
    let c = eventsim::run_checked(&scenario(&text), 1, vec![]);
    assert!((900..=1_300).contains(&lost(&c)), "{}", lost(&c));
}

#[test]
fn one_broker_losing_power_or_every_process_crashing_loses_nothing_acknowledged() {
    for b in 0..3 {
        let text = ledger("", &power_loss(&format!("\"broker-{b}\""), "20s"));
        passes(&text, 0..10);
    }
    // Two of three: the third still holds every acknowledged write (min ISR 2).
    let text = ledger("", &power_loss("[\"broker-0\", \"broker-1\"]", "20s"));
    for seed in 0..10 {
        let c = eventsim::run_checked(&scenario(&text), seed, vec![]);
        assert_eq!(no_loss(&c), CheckStatus::Pass, "seed {seed}");
    }
    let crashes: String = (0..3)
        .map(|b| format!("[[faults]]\nkind = \"crash\"\ntarget = \"broker-{b}\"\nat = \"20s\"\nrestart_after = \"5s\"\n"))
        .collect();
    let text = ledger("", &crashes);
    // A process crash keeps the page cache: nothing acknowledged is lost.
    passes(&text, 0..10);
    // With ELR (4.1) the controller fences the three one by one and elects
    // the last to leave the ISR when it is back (the last known leader): a
    // follower, which may lack the leader's unacknowledged tail. Without
    // ELR (4.0) the ISR keeps its last member, here the old leader, which
    // leads again when back: nothing is even truncated.
    let c = eventsim::run_checked(&scenario(&text), 0, vec![]);
    let n = &c.result.metrics.counts;
    assert!(n.truncated <= n.appended - n.acked, "{n:?}");
    let old = text.replace("brokers = 3", "brokers = 3\nversion = \"4.0\"");
    let c = eventsim::run_checked(&scenario(&old), 0, vec![]);
    assert_eq!(c.result.metrics.counts.truncated, 0);
}

#[test]
fn consumers_and_producers_go_on_after_a_power_loss() {
    // After the loss the log is shorter than what consumers read: they
    // rewind (KIP-320) and read the new records; producers keep going.
    let text = ledger("", &power_loss("\"brokers\"", "20s"));
    let c = eventsim::run_checked(&scenario(&text), 3, vec![]);
    let s = Summary::checked(&c, String::new());
    for name in [
        "liveness",
        "producer-progress",
        "skipped-offset",
        "availability",
    ] {
        let r = s.checks.iter().find(|r| r.name == name).unwrap();
        assert_eq!(r.status, CheckStatus::Pass, "{name}: {:?}", r.first);
    }
    let m = &c.result.metrics.counts;
    assert!(m.acked > 11_000, "{}", m.acked);
    // Every partition was leaderless while all three were down (5 s).
    let t = &s.availability.as_ref().unwrap().topics[0];
    assert!(t.leaderless_ns >= 3 * 5 * S, "{}", t.leaderless_ns);
}

#[test]
fn random_power_losses_are_drawn_and_replayed() {
    let text = ledger(
        "",
        "[faults.random]\nstart = \"2s\"\nstop = \"50s\"\n\
         [[faults.random.kinds]]\nkind = \"power-loss\"\ntargets = [\"brokers\"]\nrate = 3.0\n\
         restart_after = { dist = \"uniform\", min = \"1s\", max = \"5s\" }\n",
    );
    let s = scenario(&text);
    let a = eventsim::run_checked(&s, 0, vec![]);
    let b = eventsim::run_checked(&s, 0, vec![]);
    let sa = Summary::checked(&a, String::new()).to_json();
    assert_eq!(sa, Summary::checked(&b, String::new()).to_json());
    assert!(
        a.result
            .fired_schedule()
            .iter()
            .any(|f| f.kind.as_str() == "power-loss")
    );
    // One broker at a time (max_down_brokers: RF - 1): nothing acknowledged is lost.
    assert_eq!(no_loss(&a), CheckStatus::Pass, "{:?}", a.violations);
}

#[test]
fn power_loss_and_flush_fields_are_refused_with_their_location() {
    let base = ledger("", &power_loss("\"brokers\"", "20s"));
    assert_refused(
        &base,
        "target = \"brokers\"",
        "target = \"broker-9\"",
        "faults[0].target",
        "unknown node `broker-9`",
    );
    assert_refused(
        &base,
        "target = \"brokers\"",
        "target = [[\"broker-0\"], [\"rest\"]]",
        "faults[0].target",
        "a power-loss strikes nodes",
    );
    assert_refused(
        &base,
        "restart_after = \"5s\"",
        "duration = \"5s\"",
        "faults[0].duration",
        "lasts until `restart_after`",
    );
    assert_refused(
        &base,
        "min_insync_replicas = 2",
        "min_insync_replicas = 2\nflush_messages = 0",
        "topics[0].flush_messages",
        "at least 1 record",
    );
    assert_refused(
        &base,
        "min_insync_replicas = 2",
        "min_insync_replicas = 2\nflush_ms = \"0s\"",
        "topics[0].flush_ms",
        "greater than zero",
    );
    assert_refused(
        &base,
        "brokers = 3",
        "brokers = 3\ndirty_page_expiry = \"0s\"",
        "cluster.dirty_page_expiry",
        "greater than zero",
    );
}

/// A broker whose log directory fails loses every log it held; with the
/// disk replaced it copies its replicas back from the leaders and rejoins
/// every ISR, and nothing acknowledged is lost (other replicas had it).
#[test]
fn a_failed_disk_is_copied_back_from_the_leaders() {
    use eventsim::history::{Observation, Observer, Shared};
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::rc::Rc;
    #[derive(Default)]
    struct Isr {
        last: BTreeMap<u32, u32>,
        /// broker-1's first replication after the restart: (partition, end offset).
        refetched: Vec<(u32, u64)>,
    }
    impl Observer for Isr {
        fn observe(&mut self, at: u64, o: &Observation) {
            match *o {
                Observation::IsrChanged { partition, isr } => {
                    self.last.insert(partition, isr);
                }
                Observation::Replicated {
                    partition,
                    broker: 1,
                    end_offset,
                } if at >= 30 * S && !self.refetched.iter().any(|r| r.0 == partition) => {
                    self.refetched.push((partition, end_offset));
                }
                _ => {}
            }
        }
    }
    let fault = "[[faults]]\nkind = \"disk-failure\"\ntarget = \"broker-1\"\nat = \"10s\"\nrestart_after = \"20s\"\n";
    let text = ledger("", fault);
    for seed in 0..5 {
        let seen = Rc::new(RefCell::new(Isr::default()));
        let c = eventsim::run_checked(&scenario(&text), seed, vec![Box::new(Shared(seen.clone()))]);
        assert_eq!(
            c.verdict(),
            Verdict::Pass,
            "seed {seed}: {:?}",
            c.violations
        );
        assert_eq!(c.result.metrics.counts.truncated, 0);
        let seen = seen.borrow();
        assert!(
            seen.last.values().all(|&n| n == 3),
            "seed {seed}: {:?}",
            seen.last
        );
        // It copies from the start: its first fetch after the restart
        // brings back thousands of records per partition, not a few.
        assert_eq!(seen.refetched.len(), 3, "{:?}", seen.refetched);
        assert!(
            seen.refetched.iter().all(|r| r.1 > 1_000),
            "{:?}",
            seen.refetched
        );
    }
    // Refused on a node that is not a broker.
    assert_refused(
        &text,
        "target = \"broker-1\"",
        "target = \"teller\"",
        "faults[0].target",
        "disk-failure strikes a broker",
    );
}

/// A disk failure on the only in-sync replica loses what only it held;
/// the replica comes back empty and out of the ISR, so it is not elected
/// leader with its empty log: the partition stays offline (KIP-858's new
/// log directory) and `availability` says so.
#[test]
fn a_failed_disk_of_the_only_in_sync_replica_loses_its_records_and_leads_nothing() {
    let text = r#"
[scenario]
name = "sole"
duration = "60s"
[cluster]
brokers = 2
[[topics]]
name = "t"
partitions = 2
replication_factor = 2
min_insync_replicas = 1
[[producers]]
name = "p"
topic = "t"
rate = 100
acks = "all"
[[groups]]
name = "g"
topics = ["t"]
auto_offset_reset = "earliest"
[[faults]]
kind = "crash"
target = "broker-0"
at = "5s"
restart_after = "35s"
[[faults]]
kind = "disk-failure"
target = "broker-1"
at = "20s"
restart_after = "5s"
"#;
    let c = eventsim::run_checked(&scenario(text), 0, vec![]);
    // About 15 s at 100/s were on broker-1 only.
    assert!((1_300..=1_700).contains(&lost(&c)), "{}", lost(&c));
    let v = c
        .violations
        .iter()
        .find(|v| v.invariant == "no-loss")
        .unwrap();
    assert!(
        v.message
            .contains("when the disk of the only replicas holding it failed"),
        "{}",
        v.message
    );
    // No election after the restart: nobody in the ISR holds the data.
    assert_eq!(c.result.metrics.counts.leader_elections, 1);
    let a = c.checks.iter().find(|r| r.name == "availability").unwrap();
    assert_eq!(a.status, CheckStatus::Fail);
}

/// Found by a sweep of the safe configuration with random power losses,
/// disk failures and controller crashes added: two model bugs lost
/// acknowledged records. A broker that restarted after a power loss
/// while it could not reach the active controller was later let back in
/// as leader of what it had led, with its cut log (the controller now
/// fences its old incarnation first); and records only followers held
/// past a power-cut leader's log were truncated without a word (the
/// election now reports them). Seeds 44 and 87 showed each.
#[test]
fn power_losses_with_controller_crashes_lose_nothing_acknowledged() {
    let text = std::fs::read_to_string(repo("scenarios/faults/safe-chaos.toml")).unwrap();
    let at = text.find("[[faults.random.kinds]]").unwrap();
    let extra = r#"[[faults.random.kinds]]
kind = "power-loss"
targets = ["brokers"]
rate = 2.0
restart_after = { dist = "uniform", min = "500ms", max = "6s" }

[[faults.random.kinds]]
kind = "disk-failure"
targets = ["brokers"]
rate = 1.0
restart_after = { dist = "uniform", min = "1s", max = "8s" }

[[faults.random.kinds]]
kind = "crash"
targets = ["controllers"]
rate = 2.0
restart_after = { dist = "uniform", min = "500ms", max = "6s" }

"#;
    let s = scenario(&format!("{}{extra}{}", &text[..at], &text[at..]));
    for seed in [44, 87, 12] {
        let c = eventsim::run_checked(&s, seed, vec![]);
        assert_eq!(
            no_loss(&c),
            CheckStatus::Pass,
            "seed {seed}: {:?}",
            c.violations.first()
        );
    }
}
