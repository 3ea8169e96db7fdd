//! Each checker on hand-written histories: one where it must fire, one
//! where it must not.
use super::*;
use crate::history::Observation as O;

/// One topic `t` of 2 partitions read by group `g` (sum effect); one
/// idempotent producer; keys k0..k3.
fn ctx(effect: Effect) -> Context {
    let catalog = Catalog {
        producers: vec!["p".into()],
        topics: vec!["t".into()],
        partitions: vec![(0, 0), (0, 1)],
        groups: vec!["g".into()],
        consumers: vec![(0, 0), (0, 1)],
        event_types: vec!["E".into()],
        keys: crate::history::KeySpace::new([("k", 4)]),
        brokers: 1,
        group_partitions: vec![vec![0, 1]],
        replication: vec![1, 1],
        nodes: vec!["p".into(), "broker-0".into(), "g/0".into(), "g/1".into()],
        flows: Vec::new(),
        services: Vec::new(),
        group_start_ns: Vec::new(),
        replicas: vec![vec![0], vec![0]],
        min_isr: vec![1, 1],
        first_broker_node: 1,
        voters: vec![4],
    };
    Context {
        catalog,
        effects: vec![effect],
        idempotent: vec![true],
        transaction_timeout_ns: vec![None],
        readers: vec![vec![0], vec![0]],
        read_committed: vec![false],
        faults: Vec::new(),
        orchestrators: vec![false],
    }
}

fn config(name: &str) -> CheckConfig {
    CheckConfig {
        run: [CheckerId::from_name(name).expect("a checker")].into(),
        convergence_deadline_ns: 2_000,
        liveness_bound_ns: 1_000,
        producer_progress_bound_ns: 1_000,
        unavailability_bound_ns: 1_000,
        production_end_ns: 0,
    }
}

/// Feed `history` to checker `name`; its violations.
fn check(name: &str, effect: Effect, history: &[(Time, O)]) -> Vec<Violation> {
    let mut c = Checks::new(ctx(effect), config(name));
    for (t, o) in history {
        c.observe(*t, o);
    }
    let end = history.last().map_or(0, |h| h.0);
    let (results, violations) = c.finish(end, 0, false);
    let r = results.iter().find(|r| r.name == name).unwrap();
    assert_eq!(r.violations as usize, violations.len());
    assert_eq!(
        r.status,
        if violations.is_empty() {
            CheckStatus::Pass
        } else {
            CheckStatus::Fail
        }
    );
    violations
}

/// Like [`check`], releasing ids below `below` just before history entry
/// `i` for each `(i, below)` of `releases`, as the model does once nothing
/// it holds can reach them.
fn check_releasing(
    name: &str,
    effect: Effect,
    history: &[(Time, O)],
    releases: &[(usize, EventId)],
) -> Vec<Violation> {
    let mut c = Checks::new(ctx(effect), config(name));
    for (i, (t, o)) in history.iter().enumerate() {
        for &(_, below) in releases.iter().filter(|r| r.0 == i) {
            c.released(below);
        }
        c.observe(*t, o);
    }
    let end = history.last().map_or(0, |h| h.0);
    c.finish(end, 0, false).1
}

fn assigned(consumer: u32, partition: u32, offset: u64) -> O {
    O::Assigned {
        group: 0,
        consumer,
        partition,
        generation: 1,
        offset,
    }
}
fn produced(event: EventId, key: u64) -> O {
    O::Produced {
        event,
        producer: 0,
        partition: 0,
        key,
        event_type: 0,
        origin: event,
        origin_created_ns: 0,
    }
}
fn appended(event: EventId, offset: u64) -> O {
    O::Appended {
        event,
        partition: 0,
        offset,
    }
}
fn acked(event: EventId, key: u64, version: u32, value: u32) -> O {
    O::Acked {
        event,
        producer: 0,
        partition: 0,
        key,
        version,
        value,
        created_ns: 0,
    }
}
fn delivered(event: EventId, consumer: u32, offset: u64) -> O {
    O::Delivered {
        event,
        group: 0,
        consumer,
        partition: 0,
        offset,
    }
}
fn applied(event: EventId, key: u64, version: u32, value: u32) -> O {
    O::Applied {
        event,
        group: 0,
        consumer: 0,
        partition: 0,
        producer: 0,
        key,
        version,
        value,
        created_ns: 0,
        origin_created_ns: 0,
    }
}

/// Group 0's service, processing event `source`, emitted `event` by
/// emit rule `rule`.
fn emitted(event: EventId, source: EventId, rule: u32) -> O {
    O::Emitted {
        event,
        source,
        group: 0,
        consumer: 0,
        rule,
    }
}

/// Events 0..n of key 0 (version i+1, value 10), produced, appended at
/// offset i, acknowledged.
fn written(n: u32) -> Vec<(Time, O)> {
    let mut h = vec![(0, assigned(0, 0, 0))];
    for i in 0..n {
        let t = u64::from(i) * 10 + 1;
        h.push((t, produced(i, 0)));
        h.push((t, appended(i, u64::from(i))));
        h.push((t, acked(i, 0, i + 1, 10)));
    }
    h
}

fn consumed(h: &mut Vec<(Time, O)>, order: &[u32]) {
    for (j, &i) in order.iter().enumerate() {
        let t = 1000 + j as u64;
        h.push((t, delivered(i, 0, u64::from(i))));
        h.push((t, applied(i, 0, i + 1, 10)));
    }
}

#[test]
fn no_loss_fires_on_an_acknowledged_event_never_applied_and_not_otherwise() {
    let mut h = written(3);
    consumed(&mut h, &[0, 1, 2]);
    assert!(check("no-loss", Effect::Sum, &h).is_empty());
    let mut h = written(3);
    consumed(&mut h, &[0, 2]);
    let v = check("no-loss", Effect::Sum, &h);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].events, vec![1]);
    assert_eq!(v[0].group.as_deref(), Some("g"));
}

#[test]
fn no_loss_excuses_what_came_before_the_group_and_what_it_dead_lettered() {
    // The group starts at offset 2 (latest): events 0 and 1 are not its own.
    let mut h = written(3);
    h[0] = (0, assigned(0, 0, 2));
    h.push((50, assigned(0, 0, 2)));
    consumed(&mut h, &[2]);
    assert!(check("no-loss", Effect::Sum, &h).is_empty());
    let mut h = written(2);
    consumed(&mut h, &[0]);
    h.push((
        2000,
        O::GaveUp {
            event: 1,
            group: 0,
            consumer: 0,
            dead_lettered: true,
            key: 0,
            value: 10,
        },
    ));
    assert!(check("no-loss", Effect::Sum, &h).is_empty());
}

#[test]
fn no_loss_reports_truncated_and_expired_acknowledged_events() {
    let mut h = written(2);
    consumed(&mut h, &[0, 1]);
    h.push((
        3000,
        O::Truncated {
            event: 1,
            partition: 0,
            offset: 1,
        },
    ));
    let v = check("no-loss", Effect::Sum, &h);
    assert_eq!(v.len(), 1);
    assert!(v[0].message.contains("truncated"), "{}", v[0].message);
    let mut h = written(2);
    consumed(&mut h, &[0]);
    h.push((
        3000,
        O::Expired {
            event: 1,
            group: 0,
            partition: 0,
            offset: 1,
            key: 0,
            value: 10,
        },
    ));
    let v = check("no-loss", Effect::Sum, &h);
    assert_eq!(v.len(), 1);
    assert!(v[0].message.contains("retention"), "{}", v[0].message);
}

#[test]
fn exactly_once_fires_on_a_second_application_only() {
    let mut h = written(2);
    consumed(&mut h, &[0, 1]);
    assert!(check("exactly-once-effect", Effect::Sum, &h).is_empty());
    h.push((5000, delivered(1, 1, 1)));
    assert!(
        check("exactly-once-effect", Effect::Sum, &h).is_empty(),
        "a second delivery is no second effect"
    );
    h.push((5001, applied(1, 0, 2, 10)));
    let v = check("exactly-once-effect", Effect::Sum, &h);
    assert_eq!(v.len(), 1);
    assert_eq!((v[0].t_ns, v[0].events.clone()), (5001, vec![1]));
    assert_eq!(v[0].key.as_deref(), Some("k0"));
}

#[test]
fn per_key_order_fires_on_an_inversion_and_ignores_reapplications() {
    let mut h = written(3);
    consumed(&mut h, &[0, 1, 2]);
    h.push((5000, applied(1, 0, 2, 10))); // a duplicate, not an inversion
    assert!(check("per-key-order", Effect::Sum, &h).is_empty());
    let mut h = written(3);
    consumed(&mut h, &[0, 2, 1]);
    let v = check("per-key-order", Effect::Sum, &h);
    assert_eq!(v.len(), 1);
    assert_eq!(
        v[0].events,
        vec![2, 1],
        "both events: the newer, then the late one"
    );
}

#[test]
fn convergence_compares_the_projection_with_the_reference() {
    let mut h = written(3);
    consumed(&mut h, &[0, 1, 2]);
    assert!(check("convergence", Effect::Sum, &h).is_empty());
    // A duplicate corrupts a sum...
    h.push((1003, applied(1, 0, 2, 10)));
    let v = check("convergence", Effect::Sum, &h);
    assert_eq!(v.len(), 1);
    assert!(
        v[0].message.contains("10 more than the reference"),
        "{}",
        v[0].message
    );
    // ...and reordering corrupts a last-write projection: the reference
    // keeps the newest version's value (7), the group applied 7 then 3.
    let h = vec![
        (0, assigned(0, 0, 0)),
        (1, appended(0, 0)),
        (1, acked(0, 0, 1, 3)),
        (2, appended(1, 1)),
        (2, acked(1, 0, 2, 7)),
        (10, applied(1, 0, 2, 7)),
        (11, applied(0, 0, 1, 3)),
    ];
    let v = check("convergence", Effect::LastWrite, &h);
    assert_eq!(v.len(), 1);
    assert!(v[0].message.contains("3 instead of 7"), "{}", v[0].message);
}

#[test]
fn convergence_fires_when_it_takes_longer_than_the_deadline() {
    let mut h = written(2);
    h.push((100, applied(0, 0, 1, 10)));
    h.push((5000, applied(1, 0, 2, 10))); // settled at 0, deadline 2000
    let v = check("convergence", Effect::Sum, &h);
    assert_eq!(v.len(), 1);
    assert!(v[0].message.contains("deadline"), "{}", v[0].message);
}

#[test]
fn liveness_fires_on_a_partition_left_behind() {
    let mut h = written(3);
    consumed(&mut h, &[0, 1, 2]);
    assert!(check("liveness", Effect::Sum, &h).is_empty());
    let mut h = written(3);
    consumed(&mut h, &[0]);
    h.push((1500, produced(9, 1))); // the run goes on, no progress
    let v = check("liveness", Effect::Sum, &h);
    assert_eq!(v.len(), 1);
    assert!(v[0].message.contains("behind"), "{}", v[0].message);
    let mut h = written(3);
    consumed(&mut h, &[0]);
    h.push((9000, produced(9, 1)));
    let v = check("liveness", Effect::Sum, &h);
    assert!(v[0].message.contains("no progress"), "{}", v[0].message);
}

#[test]
fn no_duplicates_in_log_fires_on_a_second_append_unless_truncated_between() {
    let mut h = written(2);
    assert!(check("no-duplicates-in-log", Effect::Sum, &h).is_empty());
    h.push((
        100,
        O::Truncated {
            event: 1,
            partition: 0,
            offset: 1,
        },
    ));
    h.push((101, appended(1, 1)));
    assert!(check("no-duplicates-in-log", Effect::Sum, &h).is_empty());
    h.push((102, appended(1, 2)));
    assert_eq!(check("no-duplicates-in-log", Effect::Sum, &h).len(), 1);
}

#[test]
fn polls_must_return_consecutive_offsets_within_an_assignment() {
    let base = written(4);
    let mut ok = base.clone();
    for i in 0..4 {
        ok.push((1000 + u64::from(i), delivered(i, 0, u64::from(i))));
    }
    ok.push((2000, assigned(1, 0, 2))); // another assignment starts over
    ok.push((2001, delivered(2, 1, 2)));
    assert!(check("nonmonotonic-poll", Effect::Sum, &ok).is_empty());
    assert!(check("skipped-offset", Effect::Sum, &ok).is_empty());

    let mut back = base.clone();
    back.push((1000, delivered(0, 0, 0)));
    back.push((1001, delivered(1, 0, 1)));
    back.push((1002, delivered(0, 0, 0)));
    assert_eq!(check("nonmonotonic-poll", Effect::Sum, &back).len(), 1);
    assert!(check("skipped-offset", Effect::Sum, &back).is_empty());

    let mut skip = base;
    skip.push((1000, delivered(0, 0, 0)));
    skip.push((1001, delivered(3, 0, 3)));
    assert_eq!(check("skipped-offset", Effect::Sum, &skip).len(), 1);
    assert!(check("nonmonotonic-poll", Effect::Sum, &skip).is_empty());
}

#[test]
fn explanations_follow_the_events_and_the_faults() {
    let mut h = written(2);
    consumed(&mut h, &[0, 1]);
    h.push((1500, O::NodeState { node: 2, state: 1 }));
    h.push((
        1600,
        O::Expelled {
            group: 0,
            consumer: 0,
            poll_timeout: false,
        },
    ));
    h.push((2000, delivered(1, 1, 1)));
    h.push((2001, applied(1, 0, 2, 10)));
    let mut violations = check("exactly-once-effect", Effect::Sum, &h);
    let mut e = Explainer::new(&ctx(Effect::Sum), &violations);
    for (t, o) in &h {
        e.observe(*t, o);
    }
    e.explain(&mut violations);
    let text = violations[0].explanation.join("\n");
    assert!(text.contains("event 1 applied by g/0"), "{text}");
    assert!(text.contains("g/0 crashed"), "{text}");
    assert!(text.contains("expelled"), "{text}");
    assert!(text.ends_with("event 1 applied by g/0"), "{text}");
}

fn sent(event: EventId, attempt: u32) -> O {
    O::Sent {
        producer: 0,
        partition: 0,
        first_event: event,
        count: 1,
        attempt,
    }
}

#[test]
fn producer_progress_fires_on_a_producer_retrying_without_acknowledgements_only() {
    // Acknowledged within the bound (1,000 ns) each time: progress.
    let mut h = Vec::new();
    for i in 0..5u32 {
        let t = u64::from(i) * 800;
        h.push((t, produced(i, 0)));
        h.push((t + 700, acked(i, 0, i + 1, 10)));
    }
    assert!(check("producer-progress", Effect::Count, &h).is_empty());

    // Event 5 is retried for 3,000 ns with no answer; event 6 fails: a stall,
    // reported once, naming the oldest outstanding event.
    let mut stuck = h.clone();
    stuck.push((4_000, produced(5, 0)));
    stuck.push((4_100, produced(6, 0)));
    for a in 1..30u32 {
        stuck.push((4_000 + u64::from(a) * 100, sent(5, a)));
    }
    stuck.push((
        6_000,
        O::ProduceFailed {
            event: 6,
            producer: 0,
        },
    ));
    stuck.push((7_000, sent(5, 31)));
    let v = check("producer-progress", Effect::Count, &stuck);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].events, vec![5]);
    assert!(
        v[0].message.contains("none acknowledged"),
        "{}",
        v[0].message
    );

    // The same stall found at the end of the run, with nothing sent after.
    let mut silent = h;
    silent.push((4_000, produced(5, 0)));
    silent.push((9_000, appended(99, 50)));
    let v = check("producer-progress", Effect::Count, &silent);
    assert_eq!(v.len(), 1);
    assert!(v[0].message.contains("to the end of the run"));
}

#[test]
fn exactly_once_judges_by_causal_identity_so_a_re_emission_applied_twice_fires() {
    // Event 0 is processed twice upstream; each time the service emits
    // (rule 0): events 10 and 11, one cause. Rule 1 emits event 12, another
    // cause. Applying 10 and 12 is fine; applying 11 as well is not.
    let mut h = written(1);
    h.push((100, emitted(10, 0, 0)));
    h.push((101, emitted(12, 0, 1)));
    h.push((102, emitted(11, 0, 0)));
    h.push((200, applied(10, 0, 2, 10)));
    h.push((201, applied(12, 0, 3, 10)));
    assert!(check("exactly-once-effect", Effect::Sum, &h).is_empty());
    h.push((202, applied(11, 0, 4, 10)));
    let v = check("exactly-once-effect", Effect::Sum, &h);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].events, vec![10, 11]);
    assert!(v[0].message.contains("two emissions of one cause"));
}

#[test]
fn exactly_once_keeps_what_a_live_re_emission_needs_when_old_ids_are_released() {
    // Event 100 (emitted for event 0) is applied, then everything below
    // 200 is released while event 200, a re-emission of the same cause,
    // is still on its way: applying it is the effect applied twice.
    let mut h = written(1);
    h.push((100, emitted(100, 0, 0)));
    h.push((101, emitted(200, 0, 0)));
    h.push((200, applied(100, 0, 2, 10)));
    h.push((300, applied(200, 0, 3, 10)));
    let v = check_releasing("exactly-once-effect", Effect::Sum, &h, &[(7, 200)]);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].events, vec![100, 200]);
    // One link further: the service applies 100 and emits 300 for it,
    // which is applied; later it applies 200 (the re-emission, released
    // below 200 by then) and emits 400: 400 has 300's cause, the identity
    // of 100 processed. Released below 400 before 400 is applied, 300's
    // application must still count.
    let mut h = written(1);
    h.push((100, emitted(100, 0, 0)));
    h.push((101, emitted(200, 0, 0)));
    h.push((150, emitted(300, 100, 0)));
    h.push((160, applied(300, 0, 4, 10)));
    h.push((170, emitted(400, 200, 0)));
    h.push((300, applied(400, 0, 5, 10)));
    let v = check_releasing(
        "exactly-once-effect",
        Effect::Sum,
        &h,
        &[(8, 200), (9, 400)],
    );
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].events, vec![300, 400]);
    // Nothing applied twice: releasing changes no verdict.
    h.pop();
    assert!(check_releasing("exactly-once-effect", Effect::Sum, &h, &[(8, 200)]).is_empty());
}

#[test]
fn per_key_order_still_judges_live_events_after_a_release() {
    // Event 2 (version 3) applied before event 1 (version 2): out of
    // order, whether or not ids below 1 were released in between.
    let mut h = written(3);
    h.push((100, applied(2, 0, 3, 10)));
    h.push((101, applied(1, 0, 2, 10)));
    let v = check_releasing("per-key-order", Effect::Sum, &h, &[(h.len() - 1, 1)]);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].events, vec![2, 1]);
}

#[test]
fn convergence_reports_a_sum_by_its_difference_and_forgets_settled_keys() {
    // Three events of 10 acknowledged, two applied: 10 less. The key is
    // where the projection and the reference differ, whatever happened
    // to it before they last agreed.
    let mut h = written(3);
    consumed(&mut h, &[0, 1]);
    let v = check("convergence", Effect::Sum, &h);
    assert_eq!(v.len(), 1);
    assert!(
        v[0].message
            .contains("on 1 key(s); key k0: 10 less than the reference"),
        "{}",
        v[0].message
    );
}

#[test]
fn convergence_takes_indeterminate_writes_the_group_applied_as_having_happened() {
    // Event 1 failed at the producer (a timeout) but is in the log, and the
    // group applied it; event 2 failed and was never applied. Both are
    // allowed; the acknowledged event 0 must be there.
    let mut h = written(1);
    h.push((20, produced(1, 0)));
    h.push((21, appended(1, 1)));
    h.push((
        22,
        O::ProduceFailed {
            event: 1,
            producer: 0,
        },
    ));
    h.push((23, produced(2, 0)));
    h.push((
        24,
        O::ProduceFailed {
            event: 2,
            producer: 0,
        },
    ));
    consumed(&mut h, &[0, 1]);
    assert!(check("convergence", Effect::Sum, &h).is_empty());
    assert!(check("convergence", Effect::LastWrite, &h).is_empty());
    // Applied before its acknowledgement arrived: counted once.
    let mut h = written(0);
    h.push((1, produced(0, 0)));
    h.push((2, appended(0, 0)));
    h.push((3, applied(0, 0, 1, 10)));
    h.push((4, acked(0, 0, 1, 10)));
    assert!(check("convergence", Effect::Sum, &h).is_empty());
}

#[test]
fn convergence_leaves_out_what_came_before_a_latest_groups_start() {
    // Events 0..3 at offsets 0..3 are acknowledged before the group is
    // assigned the partition at offset 2 (a `latest` start): only 2 is its.
    let mut h = written(3);
    h.retain(|(_, o)| !matches!(o, O::Assigned { .. }));
    h.push((100, assigned(0, 0, 2)));
    h.push((101, delivered(2, 0, 2)));
    h.push((101, applied(2, 0, 3, 10)));
    assert!(check("convergence", Effect::Sum, &h).is_empty());
    // An earliest group assigned at 0 must have all three.
    let mut h = written(3);
    h.retain(|(_, o)| !matches!(o, O::Assigned { .. }));
    h.push((100, assigned(0, 0, 0)));
    h.push((101, applied(2, 0, 3, 10)));
    assert_eq!(check("convergence", Effect::Sum, &h).len(), 1);
}

#[test]
fn skipped_offset_lets_polls_jump_transaction_markers_and_nothing_else() {
    // Offsets 0, 1 are records, 2 a commit marker, 3 a record.
    let mut h = written(2);
    h.push((
        30,
        O::TxnMarker {
            producer: 0,
            partition: 0,
            offset: 2,
            first: 0,
            commit: true,
        },
    ));
    h.push((31, produced(3, 0)));
    h.push((32, appended(3, 3)));
    let mut ok = h.clone();
    for (i, o) in [(0, 0), (1, 1), (3, 3)] {
        ok.push((1000 + u64::from(i), delivered(i, 0, o)));
    }
    assert!(check("skipped-offset", Effect::Sum, &ok).is_empty());
    // Jumping a record (offset 1) is still caught.
    let mut skip = h;
    skip.push((1000, delivered(0, 0, 0)));
    skip.push((1001, delivered(3, 0, 3)));
    assert_eq!(check("skipped-offset", Effect::Sum, &skip).len(), 1);
}

#[test]
fn convergence_fires_on_a_group_that_applied_an_aborted_transactions_record() {
    // Event 1's transaction aborted; a read_uncommitted group applied it.
    let mut h = written(1);
    h.push((20, produced(1, 0)));
    h.push((21, appended(1, 1)));
    h.push((
        22,
        O::Aborted {
            event: 1,
            producer: 0,
        },
    ));
    h.push((
        23,
        O::ProduceFailed {
            event: 1,
            producer: 0,
        },
    ));
    let mut dirty = h.clone();
    consumed(&mut dirty, &[0, 1]);
    let v = check("convergence", Effect::Sum, &dirty);
    assert_eq!(v.len(), 1);
    assert!(v[0].message.contains("1 record(s) of aborted transactions"));
    // A read_committed group skips it: no violation.
    consumed(&mut h, &[0]);
    assert!(check("convergence", Effect::Sum, &h).is_empty());
}

#[test]
fn liveness_does_not_wait_for_records_removed_before_the_group_read_them() {
    // Offsets 0..3 appended; the group reads 0 and 1; 2 is compacted away
    // before it reads it: the group is caught up. Without the compaction
    // it ended one behind.
    let mut h = written(3);
    h.push((5, assigned(0, 0, 0)));
    h.push((10, delivered(0, 0, 0)));
    h.push((11, delivered(1, 0, 1)));
    let mut compacted = h.clone();
    compacted.push((
        12,
        O::Compacted {
            event: 2,
            group: 0,
            partition: 0,
            offset: 2,
            key: 0,
            value: 1,
        },
    ));
    assert!(check("liveness", Effect::Sum, &compacted).is_empty());
    assert_eq!(check("liveness", Effect::Sum, &h).len(), 1);
}

/// A single-server queue on partition 0 read by consumer 0 of group g:
/// a record arrives every `every` ns and takes `serve` ns to process,
/// one record per poll, for `end` ns of production.
fn queue(every: Time, serve: Time, end: Time) -> Vec<(Time, O)> {
    let mut h = vec![(
        0,
        O::Assigned {
            group: 0,
            consumer: 0,
            partition: 0,
            generation: 1,
            offset: 0,
        },
    )];
    let (mut arrivals, mut done) = (Vec::new(), Vec::new());
    let mut free = 0;
    let mut t = every;
    let mut n: u64 = 0;
    while t < end {
        arrivals.push((t, n));
        let start = free.max(t);
        free = start + serve;
        done.push((start, free, n));
        n += 1;
        t += every;
    }
    let mut all: Vec<(Time, u8, u64)> = Vec::new();
    all.extend(arrivals.iter().map(|&(t, n)| (t, 0, n)));
    // At one instant a record is done before the next one is polled.
    all.extend(done.iter().map(|&(_, f, n)| (f, 1, n)));
    all.extend(done.iter().map(|&(s, _, n)| (s, 2, n)));
    all.sort_unstable();
    for (t, what, n) in all {
        let event = n as EventId;
        h.push((
            t,
            match what {
                0 => O::Appended {
                    event,
                    partition: 0,
                    offset: n,
                },
                2 => O::Delivered {
                    event,
                    group: 0,
                    consumer: 0,
                    partition: 0,
                    offset: n,
                },
                _ => O::Applied {
                    event,
                    group: 0,
                    consumer: 0,
                    partition: 0,
                    producer: 0,
                    key: 0,
                    version: n as u32,
                    value: 1,
                    created_ns: t,
                    origin_created_ns: t,
                },
            },
        ));
    }
    h
}

fn kept_up(history: &[(Time, O)], end: Time) -> Vec<Violation> {
    let config = CheckConfig {
        production_end_ns: end,
        ..config("kept-up")
    };
    let mut c = Checks::new(ctx(Effect::Sum), config);
    for (t, o) in history {
        c.observe(*t, o);
    }
    let last = history.last().map_or(0, |h| h.0).max(end);
    c.finish(last, end, false).1
}

#[test]
fn kept_up_fires_when_arrivals_outrun_the_consumer() {
    const MS: Time = 1_000_000;
    // 1,000/s arrive, 833/s served: the lag grows by 167/s.
    let v = kept_up(&queue(MS, 1_200_000, 20_000 * MS), 20_000 * MS);
    assert_eq!(v.len(), 1, "{v:?}");
    let m = &v[0].message;
    assert!(m.contains("g cannot keep up on t-0"), "{m}");
    assert!(
        m.contains("1,000 records/s arrive, 833 records/s served by g/0"),
        "{m}"
    );
    assert!(m.contains("busy 100%"), "{m}");
    assert!(m.contains("the lag grows by 167/s"), "{m}");
    assert_eq!(v[0].group.as_deref(), Some("g"));
}

#[test]
fn kept_up_holds_for_a_consumer_with_room_to_spare_and_for_a_short_run() {
    const MS: Time = 1_000_000;
    assert!(kept_up(&queue(MS, 800_000, 20_000 * MS), 20_000 * MS).is_empty());
    // Exactly at capacity: the lag stays at one record.
    assert!(kept_up(&queue(MS, MS, 20_000 * MS), 20_000 * MS).is_empty());
    // A window under a second is too short to tell.
    assert!(kept_up(&queue(MS, 1_200_000, 1_500 * MS), 1_500 * MS).is_empty());
}

/// `liveness` over a history where producer 0 writes in transactions
/// (timeout 1 µs) and group 0 reads with the given isolation.
fn check_transactional(read_committed: bool, history: &[(Time, O)]) -> Vec<Violation> {
    let mut x = ctx(Effect::Sum);
    x.read_committed = vec![read_committed];
    x.transaction_timeout_ns = vec![Some(1_000)];
    let mut c = Checks::new(x, config("liveness"));
    for (t, o) in history {
        c.observe(*t, o);
    }
    let end = history.last().map_or(0, |h| h.0);
    c.finish(end, 0, false).1
}

fn marker(offset: u64, first: u64, commit: bool) -> O {
    O::TxnMarker {
        producer: 0,
        partition: 0,
        offset,
        first,
        commit,
    }
}

#[test]
fn liveness_knows_what_read_committed_never_reads_and_names_a_hanging_transaction() {
    // Record 0 commits (marker at 1); record 1 at offset 2 aborts (marker
    // at 3). A read_committed group that read offset 0 has read all it
    // will ever be handed; a read_uncommitted one still owes offset 2.
    let mut h = vec![
        (0, produced(0, 0)),
        (1, appended(0, 0)),
        (2, marker(1, 0, true)),
        (3, produced(1, 1)),
        (4, appended(1, 2)),
        (
            5,
            O::TxnEnded {
                producer: 0,
                committed: false,
                records: 1,
            },
        ),
        (6, marker(3, 2, false)),
        (7, assigned(0, 0, 0)),
        (8, delivered(0, 0, 0)),
    ];
    assert!(check_transactional(true, &h).is_empty());
    assert_eq!(check_transactional(false, &h).len(), 1);
    // A record of the aborted transaction arrives after its marker: it
    // opens a transaction no marker closes, and the group waits behind it.
    h.push((10, produced(2, 2)));
    h.push((11, appended(2, 4)));
    h.push((20_000_000_000, produced(3, 3)));
    let v = check_transactional(true, &h);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].message.contains("hanging transaction"),
        "{}",
        v[0].message
    );
    assert!(
        v[0].message.contains("from offset 4 on"),
        "{}",
        v[0].message
    );
}
