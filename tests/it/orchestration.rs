//! Saga orchestration (`[groups.saga]`): the orchestrator sends each
//! step's command, moves on with its reply, compensates the steps done in
//! reverse when one fails or times out, keeps its state through its own
//! crashes, and skips replies it has moved past.

use crate::common::*;
use eventsim::check::CheckStatus;

const SCENARIO: &str = "scenarios/orchestration.toml";

fn edited(edits: &[(&str, &str)], extra: &str) -> eventsim::scenario::Scenario {
    let mut t = std::fs::read_to_string(repo(SCENARIO)).unwrap();
    for (from, to) in edits {
        assert!(t.contains(from), "{from}");
        t = t.replacen(from, to, 1);
    }
    t.push_str(extra);
    scenario(&t)
}

fn status(c: &eventsim::Checked, name: &str) -> CheckStatus {
    c.checks.iter().find(|r| r.name == name).unwrap().status
}

fn flows(c: &eventsim::Checked) -> eventsim::flows::FlowFigures {
    c.result.metrics.flows().remove(0)
}

/// Events of each type, by name.
fn produced(
    c: &eventsim::Checked,
    seed: u64,
    s: &eventsim::scenario::Scenario,
) -> Vec<(String, u64)> {
    use eventsim::history::{Observation, Observer, Shared};
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::rc::Rc;
    #[derive(Default)]
    struct Types(BTreeMap<u16, u64>);
    impl Observer for Types {
        fn observe(&mut self, _at: u64, o: &Observation) {
            if let Observation::Produced { event_type, .. } = *o {
                *self.0.entry(event_type).or_default() += 1;
            }
        }
    }
    let seen = Rc::new(RefCell::new(Types::default()));
    let mut w = eventsim::World::new(s, seed);
    w.add_observer(Box::new(Shared(seen.clone())));
    w.run();
    let names = &c.result.catalog.event_types;
    let counts = seen.borrow().0.clone();
    counts
        .into_iter()
        .map(|(t, n)| (names[t as usize].clone(), n))
        .collect()
}

fn count(v: &[(String, u64)], name: &str) -> u64 {
    v.iter().find(|(n, _)| n == name).map_or(0, |x| x.1)
}

#[test]
fn every_order_completes_or_is_compensated_in_reverse_by_the_orchestrator() {
    let s = load(SCENARIO);
    for seed in 0..5 {
        let c = run_passing(&s, seed);
        let f = flows(&c);
        assert_eq!(f.completed + f.compensated, f.started, "seed {seed}");
        assert_eq!((f.failed, f.inconsistent, f.open), (0, 0, 0));
        let n = produced(&c, seed, &s);
        let (declined, out) = (count(&n, "PaymentDeclined"), count(&n, "OutOfStock"));
        assert_eq!(f.compensated, declined + out, "seed {seed}");
        // A decline compensates nothing (the step failed); out of stock
        // refunds the payment; nothing else is released.
        assert_eq!(count(&n, "RefundPayment"), out);
        assert_eq!(count(&n, "ReleaseStock"), 0);
        // One command per step reached, none twice.
        assert_eq!(count(&n, "ChargePayment"), f.started);
        assert_eq!(count(&n, "ReserveStock"), f.started - declined);
        assert_eq!(count(&n, "ShipOrder"), f.completed);
    }
}

/// Both of the orchestrator's consumers crash for 5 s: the replies wait in
/// the log, and after the restart every saga goes on from the step its
/// store holds.
#[test]
fn an_orchestrator_that_crashes_mid_saga_resumes_it_after_restart() {
    let s = edited(
        &[],
        "\n[[faults]]\nkind = \"crash\"\ntarget = \"order-saga/0\"\nat = \"12s\"\nrestart_after = \"5s\"\n",
    );
    let c = run_passing(&s, 1);
    let f = flows(&c);
    assert_eq!(f.open, 0);
    assert_eq!(f.completed + f.compensated, f.started);
    // Sagas in flight at the crash waited for the restart.
    assert!(f.completion_ns.max > 4_000_000_000, "{:?}", f.completion_ns);
}

/// Payment commits offsets on a timer and crashes: it charges some orders
/// twice and replies twice. The orchestrator skips the replies it has
/// moved past, so inventory and shipping get each command once; only the
/// non-idempotent payment service double-charges.
#[test]
fn duplicate_replies_are_fenced_by_the_saga_store() {
    let s = edited(
        &[(
            "processing = { dist = \"exponential\", mean = \"2ms\" }\ncommit = \"after-process\"\nidempotency = \"dedup\"",
            "processing = { dist = \"exponential\", mean = \"2ms\" }\nclient = \"librdkafka\"\ncommit = \"auto\"",
        )],
        "\n[[faults]]\nkind = \"crash\"\ntarget = \"payment/0\"\nat = \"10s\"\nrestart_after = \"2s\"\n",
    );
    let c = eventsim::run_checked(&s, 1, Vec::new());
    assert!(c.result.metrics.counts.duplicates_applied > 50);
    let groups: std::collections::BTreeSet<&str> = c
        .violations
        .iter()
        .filter_map(|v| v.group.as_deref())
        .collect();
    assert_eq!(groups.into_iter().collect::<Vec<_>>(), ["payment"]);
    let f = flows(&c);
    assert_eq!((f.failed, f.inconsistent, f.open), (0, 0, 0));
    let n = produced(&c, 1, &s);
    // One command per saga step: duplicate replies sent nothing twice.
    assert_eq!(count(&n, "ChargePayment"), f.started);
    assert_eq!(count(&n, "ShipOrder"), f.completed);
}

/// A compensation that fails half the time (the refund is refused) leaves
/// payments taken for orders that failed: both flow checkers fire. The
/// shipped design, whose refunds succeed, passes them.
#[test]
fn a_failing_compensation_leaves_the_payment_held() {
    let s = edited(
        &[(
            "event_type = \"PaymentRefunded\"",
            "event_type = \"PaymentRefunded\"\nfailure = { probability = 0.5, event_type = \"RefundFailed\" }",
        )],
        "",
    );
    let c = eventsim::run_checked(&s, 1, Vec::new());
    let f = flows(&c);
    assert!(f.failed > 20, "{f:?}");
    assert_eq!(status(&c, "held-resources"), CheckStatus::Fail);
    assert_eq!(status(&c, "saga-atomicity"), CheckStatus::Fail);
    let m = &c
        .violations
        .iter()
        .find(|v| v.invariant == "held-resources")
        .unwrap()
        .message;
    assert!(
        m.contains("still holds payment (taken by PaymentCharged"),
        "{m}"
    );
}

/// A reply timeout shorter than a participant's stall: the orchestrator
/// compensates orders whose steps then complete anyway (shipped after the
/// payment was refunded), the classic hazard of timeouts in a saga.
#[test]
fn a_reply_timeout_shorter_than_a_stall_compensates_orders_that_then_complete() {
    let s = edited(
        &[("reply_timeout = \"10s\"", "reply_timeout = \"1s\"")],
        "\n[[faults]]\nkind = \"pause\"\ntarget = \"payment/0\"\nat = \"8s\"\nduration = \"3s\"\n",
    );
    let c = eventsim::run_checked(&s, 1, Vec::new());
    let f = flows(&c);
    assert!(f.inconsistent > 0 || f.open > 0, "{f:?}");
    assert_eq!(status(&c, "saga-atomicity"), CheckStatus::Fail);
    // With a timeout above the stall, nothing of the kind.
    let ok = edited(
        &[],
        "\n[[faults]]\nkind = \"pause\"\ntarget = \"payment/0\"\nat = \"8s\"\nduration = \"3s\"\n",
    );
    let c = run_passing(&ok, 1);
    assert_eq!((flows(&c).inconsistent, flows(&c).open), (0, 0));
}

#[test]
fn orchestration_runs_give_the_same_bytes() {
    assert_runs_repeat(SCENARIO);
}

#[test]
fn a_bad_saga_is_refused_at_its_field() {
    let text = std::fs::read_to_string(repo(SCENARIO)).unwrap();
    for (from, to, field, needle) in [
        (
            "topic = \"payment-commands\"\ncommand",
            "topic = \"payment-comands\"\ncommand",
            "groups[0].saga.steps[0].topic",
            "unknown topic",
        ),
        (
            "success = \"PaymentCharged\"",
            "success = \"PaymentCharge\"",
            "groups[0].saga.steps[0].success",
            "did you mean `PaymentCharged`",
        ),
        (
            "starts = \"OrderPlaced\"\nreply_timeout",
            "starts = \"PaymentCharged\"\nreply_timeout",
            "groups[0].saga.starts",
            "not made by a producer",
        ),
        (
            "commit = \"atomic-with-effect\"\n\n[groups.saga]",
            "commit = \"in-transaction\"\n\n[groups.saga]",
            "groups[0].commit",
            "own store",
        ),
        (
            "command = \"ShipOrder\"\nsuccess = \"Shipped\"",
            "command = \"ShipOrder\"\nsuccess = \"Shipped\"\ncompensated = \"Shipped\"",
            "groups[0].saga.steps[2].compensated",
            "needs the step's `compensation`",
        ),
        (
            "compensation = \"RefundPayment\"",
            "compensation = \"RefundPayment\"\ncompensated = \"PaymentRefund\"",
            "groups[0].saga.steps[0].compensated",
            "did you mean `PaymentRefunded`",
        ),
        (
            "reply_timeout = \"10s\"",
            "reply_timeout = \"0s\"",
            "groups[0].saga.reply_timeout",
            "greater than zero",
        ),
        (
            "cancelled = { topic = \"order-outcomes\"",
            "cancelled = { topic = \"order-outcome\"",
            "groups[0].saga.cancelled.topic",
            "unknown topic",
        ),
    ] {
        assert_refused(&text, from, to, field, needle);
    }
}

/// Under random crashes, pauses, partitions and duplicate deliveries of
/// every node, with a reply timeout above the longest stall: no saga is
/// left failed, open or inconsistent, nothing stays held, no command goes
/// out twice; the only atomicity violations are orders the front door
/// reported failed (its producer gave up, or crashed) that the saga
/// carried out anyway.
#[test]
fn under_random_faults_the_orchestrated_saga_only_breaks_at_the_front_door() {
    let chaos = RANDOM_CHAOS;
    let s = edited(
        &[
            (
                "[[faults]]\nkind = \"crash\"\ntarget = \"order-saga/1\"\nat = \"12s\"\nrestart_after = \"5s\"\n",
                chaos,
            ),
            ("reply_timeout = \"10s\"", "reply_timeout = \"60s\""),
            ("within = \"20s\"", "within = \"100s\""),
            ("drain = \"30s\"", "drain = \"120s\""),
        ],
        "",
    );
    let mut front_door = 0;
    for seed in 0..60 {
        let c = eventsim::run_checked(&s, seed, Vec::new());
        let f = flows(&c);
        assert_eq!(
            status(&c, "held-resources"),
            CheckStatus::Pass,
            "seed {seed}"
        );
        assert_eq!((f.failed, f.inconsistent, f.open), (0, 0, 0), "seed {seed}");
        let atomicity = c
            .checks
            .iter()
            .find(|r| r.name == "saga-atomicity")
            .unwrap();
        assert_eq!(atomicity.violations, f.rejected_with_effects, "seed {seed}");
        // The orchestrator sent no command twice: no group applied two
        // commands of one causal identity.
        for group in ["inventory", "shipping"] {
            assert!(
                !c.violations
                    .iter()
                    .any(|v| v.invariant == "exactly-once-effect"
                        && v.group.as_deref() == Some(group)),
                "seed {seed}: {group}"
            );
        }
        front_door += f.rejected_with_effects;
    }
    assert!(front_door > 0);
}

/// Per saga (root event), when each event type of its chain was first
/// produced.
fn first_produced(
    s: &eventsim::scenario::Scenario,
    seed: u64,
) -> std::collections::BTreeMap<(u64, String), u64> {
    use eventsim::history::{Observation, Observer, Shared};
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::rc::Rc;
    #[derive(Default)]
    struct Firsts(BTreeMap<(u64, u16), u64>);
    impl Observer for Firsts {
        fn observe(&mut self, at: u64, o: &Observation) {
            if let Observation::Produced {
                event_type, origin, ..
            } = *o
            {
                self.0.entry((u64::from(origin), event_type)).or_insert(at);
            }
        }
    }
    let seen = Rc::new(RefCell::new(Firsts::default()));
    let mut w = eventsim::World::new(s, seed);
    let names = w.catalog().event_types.clone();
    w.add_observer(Box::new(Shared(seen.clone())));
    w.run();
    let firsts = Rc::try_unwrap(seen).ok().expect("the world is gone");
    firsts
        .into_inner()
        .0
        .into_iter()
        .map(|((o, t), at)| ((o, names[t as usize].clone()), at))
        .collect()
}

#[test]
fn with_a_compensation_reply_the_orchestrator_undoes_one_step_at_a_time() {
    // Shipping fails 20% of orders: the saga undoes the reservation, then
    // the charge.
    let ship_fails = [
        (
            "command = \"ShipOrder\"\nsuccess = \"Shipped\"",
            "command = \"ShipOrder\"\nsuccess = \"Shipped\"\nfailure = \"ShippingFailed\"",
        ),
        (
            "on = \"ShipOrder\"\ntopic = \"saga-replies\"\nevent_type = \"Shipped\"",
            "on = \"ShipOrder\"\ntopic = \"saga-replies\"\nevent_type = \"Shipped\"\nfailure = { probability = 0.2, event_type = \"ShippingFailed\" }",
        ),
    ];
    let at_once = first_produced(&edited(&ship_fails, ""), 1);
    let mut waits = ship_fails.to_vec();
    waits.push((
        "compensation = \"ReleaseStock\"",
        "compensation = \"ReleaseStock\"\ncompensated = \"StockReleased\"",
    ));
    let one_by_one = first_produced(&edited(&waits, ""), 1);
    let order = |m: &std::collections::BTreeMap<(u64, String), u64>| {
        let (mut before, mut after, mut n) = (0, 0, 0);
        for ((o, t), &at) in m {
            if t != "RefundPayment" || !m.contains_key(&(*o, "ReleaseStock".into())) {
                continue;
            }
            n += 1;
            let released = m.get(&(*o, "StockReleased".into())).copied();
            match released {
                Some(r) if r < at => after += 1,
                _ => before += 1,
            }
        }
        (n, before, after)
    };
    // Sent together (the refund before the release is even handled)...
    let (n, before, after) = order(&at_once);
    assert!(n > 100, "{n}");
    assert_eq!((before, after), (n, 0));
    // ... or the refund only once the stock is released.
    let (n, before, after) = order(&one_by_one);
    assert!(n > 100, "{n}");
    assert_eq!((before, after), (0, n));
    let c = eventsim::run_checked(&edited(&waits, ""), 1, Vec::new());
    let f = flows(&c);
    assert_eq!(f.open + f.failed + f.inconsistent, 0, "{f:?}");
    assert_eq!(c.verdict(), eventsim::check::Verdict::Pass);
}
