//! What the checkers' unit tests share: a small catalog and context, a
//! config that runs one checker, and builders of observations, so that a
//! checker's test beside it is a hand-written history and two asserts.

pub(super) use super::*;
pub(super) use crate::history::Observation as O;

/// One topic `t` of 2 partitions read by group `g` (sum effect); one
/// idempotent producer; keys k0..k3.
pub(super) fn ctx(effect: Effect) -> Context {
    let catalog = Catalog {
        producers: vec!["p".into()],
        transactional: vec![false],
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
        group_settings: vec![super::GroupSettings {
            commit: crate::scenario::CommitMode::AfterProcess,
            guarded: false,
            reset_latest: false,
        }],
        max_in_flight: vec![5],
    }
}

pub(super) fn config(name: &str) -> CheckConfig {
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
pub(super) fn check(name: &str, effect: Effect, history: &[(Time, O)]) -> Vec<Violation> {
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
pub(super) fn check_releasing(
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

pub(super) fn assigned(consumer: u32, partition: u32, offset: u64) -> O {
    O::Assigned {
        group: 0,
        consumer,
        partition,
        generation: 1,
        offset,
    }
}

pub(super) fn produced(event: EventId, key: u64) -> O {
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

pub(super) fn appended(event: EventId, offset: u64) -> O {
    O::Appended {
        event,
        partition: 0,
        offset,
    }
}

pub(super) fn acked(event: EventId, key: u64, version: u32, value: u32) -> O {
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

pub(super) fn delivered(event: EventId, consumer: u32, offset: u64) -> O {
    O::Delivered {
        event,
        group: 0,
        consumer,
        partition: 0,
        offset,
    }
}

pub(super) fn applied(event: EventId, key: u64, version: u32, value: u32) -> O {
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
pub(super) fn emitted(event: EventId, source: EventId, rule: u32) -> O {
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
pub(super) fn written(n: u32) -> Vec<(Time, O)> {
    let mut h = vec![(0, assigned(0, 0, 0))];
    for i in 0..n {
        let t = u64::from(i) * 10 + 1;
        h.push((t, produced(i, 0)));
        h.push((t, appended(i, u64::from(i))));
        h.push((t, acked(i, 0, i + 1, 10)));
    }
    h
}

pub(super) fn consumed(h: &mut Vec<(Time, O)>, order: &[u32]) {
    for (j, &i) in order.iter().enumerate() {
        let t = 1000 + j as u64;
        h.push((t, delivered(i, 0, u64::from(i))));
        h.push((t, applied(i, 0, i + 1, 10)));
    }
}

pub(super) fn sent(event: EventId, attempt: u32) -> O {
    O::Sent {
        producer: 0,
        partition: 0,
        first_event: event,
        count: 1,
        attempt,
    }
}

pub(super) fn marker(offset: u64, first: u64, commit: bool) -> O {
    O::TxnMarker {
        producer: 0,
        partition: 0,
        offset,
        first,
        commit,
    }
}
