//! Business flows (`[[flows]]`) and their checkers: `saga-atomicity` and
//! `held-resources`, each on a scenario built to break it and on its safe
//! twin, and the flow figures in `summary.json`.

use crate::common::*;
use eventsim::check::CheckStatus;
use eventsim::flows::FlowFigures;

const SCENARIO: &str = "scenarios/compensation.toml";

fn text() -> String {
    std::fs::read_to_string(repo(SCENARIO)).unwrap()
}

/// The compensation scenario with `from` replaced by `to` (which must occur).
fn edited(edits: &[(&str, &str)], extra: &str) -> eventsim::scenario::Scenario {
    let mut t = text();
    for (from, to) in edits {
        assert!(t.contains(from), "{from}");
        t = t.replace(from, to);
    }
    t.push_str(extra);
    scenario(&t)
}

fn status(c: &eventsim::Checked, name: &str) -> CheckStatus {
    c.checks.iter().find(|r| r.name == name).unwrap().status
}

fn violations(c: &eventsim::Checked, name: &str) -> u64 {
    c.checks.iter().find(|r| r.name == name).unwrap().violations
}

fn first(c: &eventsim::Checked, name: &str) -> String {
    c.violations
        .iter()
        .find(|v| v.invariant == name)
        .map(|v| v.message.clone())
        .unwrap_or_default()
}

fn figures(c: &eventsim::Checked) -> FlowFigures {
    c.result.metrics.flows().remove(0)
}

/// Orders placed: what the front door (the order service) produced.
fn orders(c: &eventsim::Checked) -> u64 {
    let p = &c.result.metrics.produce_to_ack_by_producer[0];
    p.stats().count
}

#[test]
fn every_order_of_the_compensation_scenario_completes_or_is_compensated() {
    let s = load(SCENARIO);
    for seed in 0..5 {
        let c = run_passing(&s, seed);
        assert_eq!(status(&c, "saga-atomicity"), CheckStatus::Pass);
        assert_eq!(status(&c, "held-resources"), CheckStatus::Pass);
        let f = figures(&c);
        assert_eq!(f.name, "order");
        assert_eq!(f.started, orders(&c));
        assert_eq!((f.rejected, f.acceptance_rate), (0, 1.0));
        assert_eq!(f.completed + f.compensated, f.started, "seed {seed}");
        assert_eq!((f.failed, f.inconsistent, f.open), (0, 0, 0));
        let share = f.compensated as f64 / f.started as f64;
        assert!((0.06..0.10).contains(&share), "seed {seed}: {share}");
        assert_eq!(f.completion_ns.count, f.completed);
        assert_eq!(f.compensation_ns.count, f.compensated);
        assert!(f.completion_ns.p50 > 0 && f.completion_ns.p50 <= f.completion_ns.p99);
    }
}

/// Inventory never subscribed to `payments`: it cannot see a declined
/// payment, so the stock of every declined order stays reserved.
#[test]
fn a_compensation_that_never_runs_leaves_failed_flows_holding_stock() {
    let s = edited(
        &[(
            "topics = [\"orders\", \"payments\"]",
            "topics = [\"orders\"]",
        )],
        "",
    );
    let c = eventsim::run_checked(&s, 1, Vec::new());
    let f = figures(&c);
    assert!(f.failed > 100, "{f:?}");
    assert_eq!(f.compensated, 0);
    assert_eq!(f.completed + f.failed, f.started);
    assert_eq!(status(&c, "saga-atomicity"), CheckStatus::Fail);
    assert_eq!(status(&c, "held-resources"), CheckStatus::Fail);
    assert_eq!(violations(&c, "saga-atomicity"), f.failed);
    assert_eq!(violations(&c, "held-resources"), f.failed);
    let m = first(&c, "saga-atomicity");
    assert!(
        m.contains("was never fully compensated: still holds stock"),
        "{m}"
    );
    let m = first(&c, "held-resources");
    assert!(
        m.contains("still holds stock (taken by StockReserved at"),
        "{m}"
    );
    assert!(m.contains("; it failed at"), "{m}");
    // The two checkers share one book: each judges alone what it judged
    // beside the other.
    for (skip, kept) in [
        ("saga-atomicity", "held-resources"),
        ("held-resources", "saga-atomicity"),
    ] {
        let alone = edited(
            &[(
                "topics = [\"orders\", \"payments\"]",
                "topics = [\"orders\"]",
            )],
            &format!("\n[checks]\nskip = [\"{skip}\"]\n"),
        );
        let a = eventsim::run_checked(&alone, 1, Vec::new());
        assert_eq!(status(&a, skip), CheckStatus::Skipped);
        assert_eq!(violations(&a, kept), f.failed, "{kept} alone");
    }
}

/// Shipping crashes for good: orders paid after it stay open, their
/// stock reserved; the bound names how long they may take.
#[test]
fn flows_that_never_end_break_atomicity_and_hold_their_resources() {
    let crash = "\n[[faults]]\nkind = \"crash\"\ntarget = \"shipping/{i}\"\nat = \"10s\"\n";
    let extra = format!("{}{}", crash.replace("{i}", "0"), crash.replace("{i}", "1"));
    let s = edited(&[], &extra);
    let c = eventsim::run_checked(&s, 1, Vec::new());
    let f = figures(&c);
    assert!(f.open > 1000, "{f:?}");
    assert_eq!(violations(&c, "saga-atomicity"), f.open);
    let m = first(&c, "saga-atomicity");
    assert!(
        m.contains("neither completed nor failed within 20.000s"),
        "{m}"
    );
    assert_eq!(status(&c, "held-resources"), CheckStatus::Fail);
    let m = first(&c, "held-resources");
    assert!(m.contains("it did not complete within 20.000s"), "{m}");
}

/// The front door's producer gives up on orders whose acknowledgement is
/// late (a latency spike beyond `delivery_timeout`, no retries), yet the
/// broker appended them: the order service reports them failed and the
/// rest of the system goes on (stock reserved, payment taken, shipped).
#[test]
fn an_order_reported_failed_at_the_front_door_must_have_no_effect() {
    let s = edited(
        &[(
            "acks = \"all\"",
            "acks = \"all\"\nrequest_timeout = \"30ms\"\ndelivery_timeout = \"60ms\"\nretries = 0",
        )],
        "\n[[faults]]\nkind = \"latency-spike\"\ntarget = [\"order-service\", \"brokers\"]\nlatency = \"100ms\"\nat = \"5s\"\nduration = \"3s\"\n",
    );
    let c = eventsim::run_checked(&s, 1, Vec::new());
    let f = figures(&c);
    assert!(f.rejected > 100, "{f:?}");
    // All went on; those declined (8%) had their stock given back, so
    // nothing of them is left.
    assert!(f.rejected_with_effects < f.rejected, "{f:?}");
    assert!(f.rejected_with_effects * 100 > f.rejected * 85, "{f:?}");
    assert!(f.acceptance_rate < 0.95 && f.acceptance_rate > 0.5, "{f:?}");
    assert_eq!(status(&c, "saga-atomicity"), CheckStatus::Fail);
    assert_eq!(violations(&c, "saga-atomicity"), f.rejected_with_effects);
    let m = first(&c, "saga-atomicity");
    assert!(
        m.contains("the front door reported it failed at") && m.contains("yet it "),
        "{m}"
    );
    // The producer gave up: no-loss does not count it as lost.
    assert_eq!(status(&c, "no-loss"), CheckStatus::Pass);
}

/// Inventory reads orders and payments; with round-robin assignment the
/// two partitions of one order may sit with different consumers, and a
/// paused consumer handles the reservation after the release.
#[test]
fn a_release_handled_before_its_reservation_is_found() {
    let pause = "\n[[faults]]\nkind = \"pause\"\ntarget = \"inventory/0\"\nat = \"8s\"\nduration = \"4s\"\n";
    let s = edited(
        &[(
            "topics = [\"orders\", \"payments\"]\nconsumers = 3",
            "topics = [\"orders\", \"payments\"]\nconsumers = 3\nassignment = \"round-robin\"",
        )],
        pause,
    );
    let c = eventsim::run_checked(&s, 1, Vec::new());
    assert_eq!(status(&c, "held-resources"), CheckStatus::Fail);
    let m = first(&c, "held-resources");
    assert!(m.contains("was released (StockReleased) at"), "{m}");
    assert!(m.contains("before it was taken (StockReserved)"), "{m}");
    // The safe twin: payment writes its outcome to the orders topic, so an
    // order's events share a partition and inventory reads them in order.
    let twin = edited(
        &[
            (
                "topics = [\"orders\", \"payments\"]\nconsumers = 3",
                "topics = [\"orders\"]\nconsumers = 3\nassignment = \"round-robin\"",
            ),
            (
                "on = \"OrderPlaced\"\ntopic = \"payments\"",
                "on = \"OrderPlaced\"\ntopic = \"orders\"",
            ),
            (
                "name = \"shipping\"\ntopics = [\"payments\"]",
                "name = \"shipping\"\ntopics = [\"orders\"]",
            ),
        ],
        pause,
    );
    for seed in 0..20 {
        let c = eventsim::run_checked(&twin, seed, Vec::new());
        assert_eq!(
            status(&c, "held-resources"),
            CheckStatus::Pass,
            "seed {seed}"
        );
        assert_eq!(
            status(&c, "saga-atomicity"),
            CheckStatus::Pass,
            "seed {seed}"
        );
        assert!(figures(&c).compensated > 0);
    }
}

#[test]
fn flows_run_twice_give_the_same_bytes_and_read_back_the_same_from_history() {
    let tmp = tempfile::tempdir().unwrap();
    let out = |n: &str| tmp.path().join(n);
    for n in ["a", "b"] {
        let o = eventsim(&[
            "run",
            SCENARIO,
            "--seed",
            "3",
            "--out",
            out(n).to_str().unwrap(),
            "--history",
            out(&format!("{n}.jsonl")).to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    for f in ["summary.json", "violations.jsonl", "index.html"] {
        assert_eq!(
            std::fs::read(out("a").join(f)).unwrap(),
            std::fs::read(out("b").join(f)).unwrap(),
            "{f}"
        );
    }
    let summary = std::fs::read_to_string(out("a").join("summary.json")).unwrap();
    assert!(summary.contains("\"flows\": ["), "{summary}");
    let html = std::fs::read_to_string(out("a").join("index.html")).unwrap();
    assert!(well_formed(&html).contains(&"Flows".to_string()));
    // The history file read back decides the flows' checks the same way.
    let o = eventsim(&[
        "check-history",
        "--scenario",
        SCENARIO,
        out("a.jsonl").to_str().unwrap(),
    ]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}{}", stderr(&o));
    assert!(
        text.contains("saga-atomicity") && text.contains("held-resources"),
        "{text}"
    );
}

#[test]
fn a_flow_naming_what_nothing_makes_is_refused_at_its_field() {
    for (from, to, field, needle) in [
        (
            "completes = [\"Shipped\"]",
            "completes = [\"Shiped\"]",
            "flows[0].completes[0]",
            "did you mean `Shipped`",
        ),
        (
            "starts = \"OrderPlaced\"",
            "starts = \"PaymentProcessed\"",
            "flows[0].starts",
            "not made by a producer",
        ),
        (
            "release = \"StockReleased\"",
            "release = \"StockReserved\"",
            "flows[0].holds[0].release",
            "both takes and releases",
        ),
        (
            "completes = [\"Shipped\"]",
            "completes = []",
            "flows[0].completes",
            "at least one event type",
        ),
        (
            "fails = [\"PaymentDeclined\"]",
            "fails = [\"Shipped\"]",
            "flows[0].fails[0]",
            "also in `completes`",
        ),
        (
            "within = \"20s\"",
            "within = \"0s\"",
            "flows[0].within",
            "greater than zero",
        ),
        (
            "take = \"StockReserved\"",
            "take = \"StockReserved\"\nlimit = 3",
            "flows[0].holds[0]",
            "limit",
        ),
    ] {
        assert_refused(&text(), from, to, field, needle);
    }
}

/// The compensation design made safe (payment writes its outcome to the
/// orders topic, keyed by order, so inventory and shipping read an order's
/// events in order) under random crashes, pauses, partitions and duplicate
/// deliveries: no resource is ever left held, no flow fails, stays open or
/// is inconsistent, and the only atomicity violations are flows the front
/// door reported failed that went on anyway (a producer's delivery timeout
/// after a broker appended the order, which Kafka does not rule out).
#[test]
fn under_random_faults_a_safe_choreography_only_breaks_at_the_front_door() {
    let chaos = RANDOM_CHAOS;
    let s = edited(
        &[
            (
                "[[faults]]\nkind = \"crash\"\ntarget = \"payment/1\"\nat = \"12s\"\nrestart_after = \"5s\"\n",
                chaos,
            ),
            (
                "name = \"inventory\"\ntopics = [\"orders\", \"payments\"]",
                "name = \"inventory\"\ntopics = [\"orders\"]",
            ),
            (
                "on = \"OrderPlaced\"\ntopic = \"payments\"",
                "on = \"OrderPlaced\"\ntopic = \"orders\"",
            ),
            (
                "name = \"shipping\"\ntopics = [\"payments\"]",
                "name = \"shipping\"\ntopics = [\"orders\"]",
            ),
            ("within = \"20s\"", "within = \"60s\""),
            ("drain = \"30s\"", "drain = \"60s\""),
        ],
        "",
    );
    let mut front_door = 0;
    for seed in 0..120 {
        let c = eventsim::run_checked(&s, seed, Vec::new());
        let f = figures(&c);
        assert_eq!(
            status(&c, "held-resources"),
            CheckStatus::Pass,
            "seed {seed}"
        );
        assert_eq!((f.failed, f.inconsistent, f.open), (0, 0, 0), "seed {seed}");
        assert_eq!(
            violations(&c, "saga-atomicity"),
            f.rejected_with_effects,
            "seed {seed}: {}",
            first(&c, "saga-atomicity")
        );
        assert!(f.completed > 0 && f.compensated > 0);
        front_door += f.rejected_with_effects;
    }
    assert!(
        front_door > 0,
        "some delivery timeout came after the append"
    );
}

/// Payment's relay to the payments topic crashes with records in flight
/// (a 20 ms network, so some always are). An outbox keeps them in the
/// service's database: the relay sends them again after it restarts, so
/// no order is stranded, and those that had reached the broker are in the
/// log twice (at least once). A dual write's records were in the crashed
/// producer only: they fail.
#[test]
fn an_outbox_relay_that_crashes_loses_nothing_and_may_publish_twice() {
    let crash = [
        (
            "[cluster]\nbrokers = 3",
            "[network]\nclient_latency = \"20ms\"\n\n[cluster]\nbrokers = 3",
        ),
        ("target = \"payment/1\"", "target = \"payment->payments\""),
        ("restart_after = \"5s\"", "restart_after = \"3s\""),
    ];
    let outbox = eventsim::run_checked(&edited(&crash, ""), 7, Vec::new());
    let m = &outbox.result.metrics;
    assert_eq!(m.counts.produce_failed, 0);
    let f = figures(&outbox);
    // No order stranded by the relay: none open. A flow counted failed
    // is one whose stock release was created before its reservation (the
    // choreography's own race, not the relay's), which held-resources
    // reports as such.
    assert_eq!(f.open, 0, "{f:?}");
    assert_eq!(f.failed, violations(&outbox, "held-resources"), "{f:?}");
    assert!(
        f.failed == 0 || first(&outbox, "held-resources").contains("before it was taken"),
        "{}",
        first(&outbox, "held-resources")
    );
    assert_eq!(status(&outbox, "no-duplicates-in-log"), CheckStatus::Fail);
    let mut dual = crash.to_vec();
    dual.push((
        "event_type = \"PaymentProcessed\"\n",
        "event_type = \"PaymentProcessed\"\nmode = \"dual-write\"\n",
    ));
    let c = eventsim::run_checked(&edited(&dual, ""), 7, Vec::new());
    assert!(c.result.metrics.counts.produce_failed > 0);
    assert_eq!(status(&c, "no-duplicates-in-log"), CheckStatus::Pass);
}

/// One source of truth: a flow whose release was created before its take
/// (the release found nothing, the stock stays taken) is not counted as
/// compensated while `held-resources` fails for it; the flow figures count
/// it failed, and `saga-atomicity` sees it too.
#[test]
fn a_release_before_its_take_is_a_failed_flow_in_the_figures_and_the_checks() {
    let s = load("scenarios/compensation.toml");
    let c = eventsim::run_checked(&s, 105, Vec::new());
    let f = &c.result.metrics.flows()[0];
    let held = c
        .checks
        .iter()
        .find(|r| r.name == "held-resources")
        .unwrap();
    assert_eq!(held.violations, 1, "{:?}", c.checks);
    assert_eq!(f.failed, 1, "{f:?}");
    assert_eq!(
        f.compensated + f.failed + f.completed,
        f.started - f.rejected
    );
    for seed in 100..112 {
        let c = eventsim::run_checked(&s, seed, Vec::new());
        let f = &c.result.metrics.flows()[0];
        let held = c
            .checks
            .iter()
            .find(|r| r.name == "held-resources")
            .unwrap()
            .violations;
        // Every flow held-resources flags is one the figures count as
        // holding something: failed, rejected with effects, or open.
        assert!(
            held <= f.failed + f.rejected_with_effects + f.open + f.inconsistent,
            "seed {seed}: {held} violations, {f:?}"
        );
    }
}
