//! Schema evolution: a producer's rolling switch to a new version of its
//! event type, consumers that read one version and are upgraded later,
//! compatibility deciding who reads what, and each group's error policy
//! (dead-letter or block) deciding what follows.

use crate::common::*;
use eventsim::check::CheckStatus;

const SCENARIO: &str = "scenarios/schema-evolution.toml";

fn edited(edits: &[(&str, &str)]) -> eventsim::scenario::Scenario {
    let mut t = std::fs::read_to_string(repo(SCENARIO)).unwrap();
    for (from, to) in edits {
        assert!(t.contains(from), "{from}");
        t = t.replace(from, to);
    }
    scenario(&t)
}

fn group(c: &eventsim::Checked, name: &str) -> usize {
    c.result
        .catalog
        .groups
        .iter()
        .position(|g| g == name)
        .unwrap()
}

fn max_lag(c: &eventsim::Checked, name: &str) -> u64 {
    c.result.series.max_lag[group(c, name)]
}

fn status(c: &eventsim::Checked, name: &str) -> CheckStatus {
    c.checks.iter().find(|r| r.name == name).unwrap().status
}

const NO_UPCASTER: (&str, &str) = (", upcaster = true", "");

#[test]
fn a_breaking_change_is_dead_lettered_by_one_group_and_blocks_the_other_until_upgraded() {
    let s = load(SCENARIO);
    let c = run_passing(&s, 1);
    let counts = &c.result.metrics.counts;
    assert!(counts.handler_failures > 1000, "{counts:?}");
    // Only billing dead-letters: fulfilment blocks.
    assert!(counts.dead_lettered > 300, "{counts:?}");
    let blocked_only = edited(&[("on_failure = \"dead-letter\"", "on_failure = \"block\"")]);
    let b = run_passing(&blocked_only, 1);
    assert_eq!(b.result.metrics.counts.dead_lettered, 0);
    // Blocking holds fulfilment's partitions behind the first unreadable
    // order until its consumer is upgraded at 40 s: a lag of ~20 s of
    // traffic; dead-lettering keeps billing much closer.
    let (billing, fulfilment) = (max_lag(&c, "billing"), max_lag(&c, "fulfilment"));
    assert!(fulfilment > 1500, "{fulfilment}");
    assert!(fulfilment > 2 * billing, "{fulfilment} vs {billing}");
    // Blocking, nothing is lost: every order reaches fulfilment.
    assert_eq!(status(&c, "no-loss"), CheckStatus::Pass);
}

#[test]
fn an_additive_change_breaks_nobody() {
    let s = edited(&[("compatibility = \"none\"", "compatibility = \"full\"")]);
    for seed in 0..3 {
        let c = run_passing(&s, seed);
        let counts = &c.result.metrics.counts;
        assert_eq!((counts.handler_failures, counts.dead_lettered), (0, 0));
        assert!(max_lag(&c, "fulfilment") < 100);
    }
}

/// With a rolling upgrade, version 1 orders are written until the last
/// instance switches; an upgraded consumer without an upcaster cannot read
/// them under a breaking change.
#[test]
fn without_an_upcaster_an_upgraded_consumer_cannot_read_the_old_orders_left_in_the_log() {
    let with = run_passing(&load(SCENARIO), 1);
    let without = eventsim::run_checked(&edited(&[NO_UPCASTER]), 1, Vec::new());
    assert_eq!(status(&without, "liveness"), CheckStatus::Fail);
    let m = &without
        .violations
        .iter()
        .find(|v| v.invariant == "liveness")
        .unwrap()
        .message;
    assert!(m.contains("group fulfilment made no progress"), "{m}");
    assert!(
        without.result.metrics.counts.dead_lettered > with.result.metrics.counts.dead_lettered,
        "billing dead-letters the old orders too"
    );
}

/// Schema Registry's advice: with BACKWARD compatibility upgrade the
/// consumers first (a new reader reads old data), with FORWARD the
/// producers first (an old reader reads new data).
#[test]
fn compatibility_decides_which_side_may_upgrade_first() {
    let consumers_first = |compatibility: &str| {
        edited(&[
            ("compatibility = \"none\"", compatibility),
            (
                "schema = { version = 1, upgrade = \"40s\", every = \"2s\", upcaster = true }",
                "schema = { version = 2 }",
            ),
        ])
    };
    let ok = run_passing(&consumers_first("compatibility = \"backward\""), 1);
    assert_eq!(ok.result.metrics.counts.handler_failures, 0);
    let bad = eventsim::run_checked(
        &consumers_first("compatibility = \"forward\""),
        1,
        Vec::new(),
    );
    assert!(bad.result.metrics.counts.handler_failures > 0);
    let producers_first = |compatibility: &str| {
        edited(&[
            ("compatibility = \"none\"", compatibility),
            (NO_UPCASTER.0, NO_UPCASTER.1),
        ])
    };
    let ok = eventsim::run_checked(
        &producers_first("compatibility = \"forward\""),
        1,
        Vec::new(),
    );
    // Old readers read the new orders; once upgraded, a forward-only
    // change leaves them unable to read the old ones still in the log.
    let before_upgrade_failures = ok.result.metrics.counts.handler_failures;
    let bad = eventsim::run_checked(
        &producers_first("compatibility = \"backward\""),
        1,
        Vec::new(),
    );
    assert!(bad.result.metrics.counts.handler_failures > before_upgrade_failures);
}

#[test]
fn a_rolling_upgrade_writes_fewer_new_versions_before_the_consumers_are_ready() {
    // Billing gives up at once, so it keeps up and dead-letters each
    // version 2 order it meets before its upgrade (with retries its
    // capacity, not the versions, would bound what it dead-letters).
    let fast = ("handler_retries = 3", "handler_retries = 0");
    let rolling = run_passing(&edited(&[fast]), 1);
    let at_once = run_passing(
        &edited(&[fast, ("instances = 4, every = \"5s\"", "instances = 1")]),
        1,
    );
    let (r, a) = (
        rolling.result.metrics.counts.dead_lettered,
        at_once.result.metrics.counts.dead_lettered,
    );
    assert!(r < a * 3 / 4, "rolling {r}, at once {a}");
}

#[test]
fn schema_evolution_runs_give_the_same_bytes() {
    assert_runs_repeat(SCENARIO);
}

#[test]
fn bad_schema_fields_are_refused_at_their_field() {
    let text = std::fs::read_to_string(repo(SCENARIO)).unwrap();
    let producer = "schema = { version = 2, compatibility = \"none\", at = \"20s\", instances = 4, every = \"5s\" }";
    for (to, field, needle) in [
        (
            producer.replace("version = 2", "version = 1"),
            "producers[0].schema.version",
            "2 or more",
        ),
        (
            producer.replace("instances = 4", "instances = 0"),
            "producers[0].schema.instances",
            "1 to 10000",
        ),
        (
            producer.replace("\"none\"", "\"breaking\""),
            "producers[0].schema.compatibility",
            "backward",
        ),
        (
            producer.replace("at = \"20s\", ", ""),
            "producers[0].schema",
            "at",
        ),
    ] {
        assert_refused(&text, producer, &to, field, needle);
    }
    assert_refused(
        &text,
        "schema = { version = 1, upgrade",
        "schema = { version = 3, upgrade",
        "groups[0].schema.version",
        "from 1 to 2",
    );
}
