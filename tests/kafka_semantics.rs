//! Kafka semantics that must be visible in runs: idempotent producers,
//! acks and min.insync.replicas, keyed partitioning, late groups.

mod common;
use common::*;

/// A broker too slow for the request timeout: requests time out and are
/// retried while the originals are still queued and will be appended.
fn overloaded(idempotent: bool, max_in_flight: u32) -> String {
    format!(
        r#"
[scenario]
name = "retries"
duration = "5s"
drain = "300s"

[network]
client_latency = "1ms"
replication_latency = "1ms"

[cluster]
brokers = 1
capacity = 100              # records/s: the producer sends 150/s

[[topics]]
name = "t"
partitions = 2

[[producers]]
name = "p"
topic = "t"
rate = 150
keys = {{ dist = "uniform", n = 20 }}
request_timeout = "80ms"
retry_backoff = "50ms"
batch_size = 1
max_in_flight = {max_in_flight}
idempotent = {idempotent}

[[groups]]
name = "g"
topics = ["t"]
auto_offset_reset = "earliest"
processing = "10us"
commit = "after-process"
"#
    )
}

#[test]
fn timeouts_without_idempotence_duplicate_records_in_the_log() {
    let r = eventsim::run(&scenario(&overloaded(false, 5)), 1);
    let c = &r.metrics.counts;
    assert!(
        c.appended > c.produced,
        "appended {} produced {}",
        c.appended,
        c.produced
    );
    assert!(c.duplicates_delivered > 0);
}

#[test]
fn idempotent_producer_with_retries_leaves_no_duplicate_in_the_log() {
    let r = eventsim::run(&scenario(&overloaded(true, 5)), 1);
    let c = &r.metrics.counts;
    assert!(c.produced > 600);
    assert_eq!(
        c.appended,
        c.produced - c.produce_failed,
        "every event appended exactly once"
    );
    assert_eq!(c.duplicates_delivered, 0);
    let log_total: u64 = r.log_end_offsets.iter().sum();
    assert_eq!(log_total, c.appended);
}

fn replicated(acks: &str, min_isr: u32, replication_latency: &str) -> String {
    format!(
        r#"
[scenario]
name = "acks"
duration = "3s"
drain = "5s"

[network]
client_latency = "1ms"
replication_latency = "{replication_latency}"

[cluster]
brokers = 3
replica_lag_time_max = "1s"

[[topics]]
name = "t"
partitions = 3
replication_factor = 3
min_insync_replicas = {min_isr}

[[producers]]
name = "p"
topic = "t"
rate = 200
acks = "{acks}"
idempotent = false
retry_backoff = "100ms"
delivery_timeout = "2s"
"#
    )
}

#[test]
fn acks_all_waits_for_the_followers_and_acks_1_does_not() {
    let all = eventsim::run(&scenario(&replicated("all", 2, "10ms")), 1);
    let one = eventsim::run(&scenario(&replicated("1", 2, "10ms")), 1);
    let p50_all = all.metrics.produce_to_ack.stats().p50;
    let p50_one = one.metrics.produce_to_ack.stats().p50;
    // acks=1: request + response (2ms). acks=all adds a follower fetch
    // response and the next fetch (2 x 10ms) before the high watermark moves.
    assert!(
        (1_900_000..3_000_000).contains(&p50_one),
        "acks=1 p50 {p50_one}"
    );
    assert!(
        (22_000_000..45_000_000).contains(&p50_all),
        "acks=all p50 {p50_all}"
    );
}

#[test]
fn acks_all_is_refused_when_the_isr_is_below_min_insync_replicas() {
    // Followers 5s away fall out of the ISR after replica_lag_time_max (1s):
    // with min_insync_replicas = 2, acks=all writes are refused
    // (NOT_ENOUGH_REPLICAS) and fail after delivery_timeout...
    let strict = eventsim::run(&scenario(&replicated("all", 2, "5s")), 1);
    let c = &strict.metrics.counts;
    assert!(c.produce_failed > 0, "{c:?}");
    assert_eq!(c.acked + c.produce_failed, c.produced);
    // ...while min_insync_replicas = 1 lets the leader alone acknowledge.
    let lax = eventsim::run(&scenario(&replicated("all", 1, "5s")), 1);
    let c = &lax.metrics.counts;
    assert_eq!(c.produce_failed, 0, "{c:?}");
    assert_eq!(c.acked, c.produced);
}

#[test]
fn a_late_group_replays_the_retained_history_from_earliest() {
    let s = eventsim::scenario::Scenario::load(&repo("scenarios/order-flow.toml")).unwrap();
    let r = eventsim::run(&s, 42);
    let groups = &r.catalog.groups;
    let analytics = groups.iter().position(|g| g == "analytics").unwrap();
    let payment = groups.iter().position(|g| g == "payment").unwrap();
    // Both read `orders` in full, although analytics joined 20s late.
    assert_eq!(
        r.metrics.applied_by_group[analytics].count,
        r.metrics.applied_by_group[payment].count
    );
    assert!(r.metrics.end_to_end[analytics].stats().max > 19_000_000_000);
}

#[test]
fn latest_offset_reset_skips_what_came_before_the_group() {
    let text = overloaded(true, 1)
        .replace("capacity = 100 ", "capacity = 5000 ")
        .replace(
            "auto_offset_reset = \"earliest\"",
            "auto_offset_reset = \"latest\"\nstart = \"2s\"",
        );
    let r = eventsim::run(&scenario(&text), 1);
    let applied = r.metrics.applied_by_group[0].count;
    let produced = r.metrics.counts.produced;
    assert!(
        applied < produced * 3 / 4 && applied > produced / 4,
        "applied {applied} of {produced}"
    );
}

#[test]
fn choreography_keeps_the_correlation_to_the_origin() {
    let s = eventsim::scenario::Scenario::load(&repo("scenarios/order-flow.toml")).unwrap();
    let r = eventsim::run(&s, 1);
    let g = r
        .catalog
        .groups
        .iter()
        .position(|g| g == "inventory")
        .unwrap();
    // inventory reads PaymentProcessed too: from the origin (the order) it is
    // at least as late as the hop itself, and strictly later on average.
    let hop = r.metrics.end_to_end[g].mean_ns();
    let origin = r.metrics.end_to_end_from_origin[g].mean_ns();
    assert!(origin > hop, "origin {origin} hop {hop}");
    assert!(r.metrics.counts.emitted > 10_000);
}
