//! Clocks that are off (`clock-skew`): a producer's clock stamps the
//! CreateTime of its records, a broker's judges timestamps (KIP-937's
//! bounds) and deletes by time-based retention. Kafka's documented
//! outcomes: records stamped in the past are deleted early, records
//! stamped in the future hold the log past its retention (and from 4.0 a
//! record more than an hour ahead is refused, KIP-1030), a broker whose
//! clock jumps ahead deletes what it holds early, and LogAppendTime topics
//! do not depend on the producers' clocks.

use crate::common::{self, assert_refused, scenario};

/// The shared ledger (RF 3, 200 records/s) with a 1 h retention; the
/// group's only consumer pauses from 12 s to 17 s; `faults` adds the clock
/// skew.
fn ledger(topic: &str, faults: &str) -> String {
    let pause =
        "[[faults]]\nkind = \"pause\"\ntarget = \"balances/0\"\nat = \"12s\"\nduration = \"5s\"\n";
    common::ledger(
        &format!("retention = \"1h\"\n{topic}"),
        &format!("{pause}\n{faults}"),
    )
}

fn skew(target: &str, by: &str, at: &str, duration: &str) -> String {
    format!(
        "[[faults]]\nkind = \"clock-skew\"\ntarget = \"{target}\"\nskew = \"{by}\"\nat = \"{at}\"\nduration = \"{duration}\"\n"
    )
}

fn counts(text: &str, seed: u64) -> eventsim::metrics::Counts {
    eventsim::run(&scenario(text), seed).metrics.counts
}

#[test]
fn a_producer_clock_behind_gets_its_records_deleted_before_a_paused_group_reads_them() {
    let behind = skew("teller", "-2h", "0s", "20s");
    for seed in 0..3 {
        // Stamped two hours ago, they are past the 1 h retention at once:
        // what the group had not read when the next retention pass came
        // (the 5 s of its pause, about 1,000 records) is gone.
        let c = counts(&ledger("", &behind), seed);
        assert!((800..=1_200).contains(&c.expired), "seed {seed}: {c:?}");
        assert_eq!(c.acked, c.produced);
        // Right clocks, or LogAppendTime: nothing is deleted.
        assert_eq!(counts(&ledger("", ""), seed).expired, 0);
        let append_time = "message_timestamp_type = \"LogAppendTime\"";
        assert_eq!(counts(&ledger(append_time, &behind), seed).expired, 0);
        // A `message_timestamp_before_max` of an hour refuses them instead
        // (INVALID_TIMESTAMP, not retried): 20 s of writes fail.
        let bounded = "message_timestamp_before_max = \"1h\"";
        let c = counts(&ledger(bounded, &behind), seed);
        assert_eq!(c.expired, 0);
        assert!(
            (3_800..=4_200).contains(&c.produce_failed),
            "seed {seed}: {c:?}"
        );
    }
    let text = ledger("", &behind);
    let once = || {
        let c = eventsim::run_checked(&scenario(&text), 5, vec![]);
        eventsim::report::Summary::checked(&c, String::new()).to_json()
    };
    assert_eq!(once(), once());
}

#[test]
fn a_broker_clock_ahead_deletes_early_what_it_holds() {
    let text = ledger("", &skew("broker-0", "+2h", "10s", "10s"));
    let c = eventsim::run_checked(&scenario(&text), 1, vec![]);
    let n = &c.result.metrics.counts;
    // broker-0 leads one partition of three: its third of the pause's
    // records is deleted before the group reads it.
    assert!((200..=450).contains(&n.expired), "{n:?}");
    let v = c
        .violations
        .iter()
        .find(|v| v.invariant == "no-loss")
        .unwrap();
    assert!(
        v.explanation
            .iter()
            .any(|l| l.contains("fault: clock-skew broker-0 (its clock 2h ahead")),
        "{:?}",
        v.explanation
    );
}

/// Retention 5 s, a group that starts at 25 s: it finds only the last
/// seconds of the log, unless a second of records stamped two hours ahead
/// at 10 s holds everything after them.
fn ahead(version: &str, topic: &str) -> String {
    format!(
        r#"
[scenario]
name = "ahead"
duration = "30s"

[cluster]
brokers = 3
{version}

[[topics]]
name = "ledger"
partitions = 3
replication_factor = 3
retention = "5s"
{topic}

[[producers]]
name = "teller"
topic = "ledger"
rate = 200
acks = "all"

[[groups]]
name = "audit"
topics = ["ledger"]
auto_offset_reset = "earliest"
start = "25s"

[[faults]]
kind = "clock-skew"
target = "teller"
skew = "+2h"
at = "10s"
duration = "1s"
"#
    )
}

#[test]
fn a_producer_clock_ahead_is_refused_from_4_0_and_holds_retention_before() {
    for seed in 0..3 {
        let calm = counts(&ahead("", "").replace("at = \"10s\"", "at = \"40s\""), seed);
        // 3.9: accepted; retention stops at them, so the late group reads
        // from 10 s on, not from about 20 s.
        let old = counts(&ahead("version = \"3.9\"", ""), seed);
        assert_eq!(old.acked, old.produced);
        assert!(old.delivered > calm.delivered * 3 / 2, "{old:?} {calm:?}");
        // 4.0 and later: more than an hour ahead is refused (KIP-1030's
        // default `message.timestamp.after.max.ms`): the second's records fail.
        let new = counts(&ahead("", ""), seed);
        assert!(
            (150..=260).contains(&new.produce_failed),
            "seed {seed}: {new:?}"
        );
        assert!(new.delivered < calm.delivered * 11 / 10, "{new:?} {calm:?}");
        // A larger bound lets them in, as before 4.0.
        let lax = counts(&ahead("", "message_timestamp_after_max = \"3h\""), seed);
        assert_eq!(lax.produce_failed, 0);
        assert_eq!(lax.delivered, old.delivered);
    }
}

#[test]
fn clock_skews_and_timestamp_settings_are_refused_with_their_location() {
    let text = ledger("", &skew("teller", "-2h", "0s", "20s"));
    assert_refused(
        &text,
        "skew = \"-2h\"",
        "skew = \"2 hours\"",
        "skew",
        "behind (\"-8d\")",
    );
    assert_refused(&text, "skew = \"-2h\"\n", "", "faults[1]", "needs a `skew`");
    assert_refused(
        &text,
        "target = \"teller\"",
        "target = \"balances/0\"",
        "faults[1].target",
        "is neither",
    );
    assert_refused(
        &text,
        "target = \"teller\"",
        "target = \"teler\"",
        "faults[1].target",
        "teller",
    );
    assert_refused(
        &text,
        "kind = \"pause\"\ntarget = \"balances/0\"",
        "kind = \"pause\"\nskew = \"1h\"\ntarget = \"balances/0\"",
        "faults[0].skew",
        "applies only to clock-skew",
    );
    assert_refused(
        &text,
        "retention = \"1h\"",
        "retention = \"1h\"\nmessage_timestamp_type = \"createtime\"",
        "message_timestamp_type",
        "CreateTime",
    );
    let old = text.replace("brokers = 3", "brokers = 3\nversion = \"3.5\"");
    assert_refused(
        &old,
        "retention = \"1h\"",
        "retention = \"1h\"\nmessage_timestamp_after_max = \"1h\"",
        "topics[0].message_timestamp_after_max",
        "came with Kafka 3.6 (KIP-937)",
    );
    let random = ledger(
        "",
        "[faults.random]\n[[faults.random.kinds]]\nkind = \"clock-skew\"\ntargets = [\"teller\"]\nrate = 1.0\n",
    )
    .replace("[[faults]]\nkind = \"pause\"\ntarget = \"balances/0\"\nat = \"12s\"\nduration = \"5s\"\n", "");
    assert_refused(
        &random,
        "rate = 1.0",
        "rate = 2.0",
        "faults.random.kinds[0].kind",
        "given, not drawn",
    );
}
