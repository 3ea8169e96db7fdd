//! Synchronous calls (`[[services]]`): timeouts and refusals, retries,
//! circuit breakers, compensation of the calls done, idempotency keys,
//! the "charged but the order failed" outcome, and the three
//! architectures of `scenarios/architectures/` side by side.

use crate::common::*;
use eventsim::check::CheckStatus;
use eventsim::metrics::ServiceFigures;

const SYNC: &str = "scenarios/architectures/sync.toml";
const CHOREOGRAPHY: &str = "scenarios/architectures/choreography.toml";
const ORCHESTRATION: &str = "scenarios/architectures/orchestration.toml";

/// The fault schedule the three architecture files share.
const SCHEDULE: &str = "# The fault schedule, the same in the three files.";

fn text(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap()
}

/// `path` with `edits` made, and its fault schedule replaced by `faults`
/// (`None`: kept).
fn edited(
    path: &str,
    edits: &[(&str, &str)],
    faults: Option<&str>,
) -> eventsim::scenario::Scenario {
    let mut t = text(path);
    for (from, to) in edits {
        assert!(t.contains(from), "{from}");
        t = t.replace(from, to);
    }
    if let Some(f) = faults {
        let i = t.find(SCHEDULE).expect("the schedule's heading");
        t.truncate(i);
        t.push_str(f);
    }
    scenario(&t)
}

fn service(c: &eventsim::Checked, name: &str) -> ServiceFigures {
    c.result
        .metrics
        .services()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap()
}

fn flows(c: &eventsim::Checked) -> eventsim::flows::FlowFigures {
    c.result.metrics.flows().remove(0)
}

fn status(c: &eventsim::Checked, name: &str) -> CheckStatus {
    c.checks.iter().find(|r| r.name == name).unwrap().status
}

const NO_BREAKER: (&str, &str) = ("breaker = { failures = 10, open = \"5s\" }\n", "");

const PAYMENT_CRASH: &str = "
[[faults]]
kind = \"crash\"
target = \"payment\"
at = \"30s\"
restart_after = \"20s\"
";

const PAYMENT_CUT: &str = "
[[faults]]
kind = \"partition\"
target = [\"order\", \"payment\"]
at = \"30s\"
duration = \"20s\"
";

#[test]
fn a_call_to_a_crashed_service_is_refused_and_to_a_cut_off_one_times_out() {
    let run = |s| eventsim::run_checked(&s, 1, Vec::new());
    let crashed = run(edited(SYNC, &[NO_BREAKER], Some(PAYMENT_CRASH)));
    let p = service(&crashed, "payment");
    // Connection refused: an error at once, retried twice.
    assert!(p.errors > 300, "{p:?}");
    assert_eq!(p.timeouts, 0, "{p:?}");
    let cut = run(edited(SYNC, &[NO_BREAKER], Some(PAYMENT_CUT)));
    let p = service(&cut, "payment");
    assert!(p.timeouts > 100, "{p:?}");
    assert_eq!(p.errors, 0, "{p:?}");
    // Either way the front door turns orders away while payment is out,
    // and every order it took ended (shipped, or declined and undone).
    for c in [&crashed, &cut] {
        let f = flows(c);
        assert!(f.rejected > 300, "{f:?}");
        assert_eq!(f.open + f.failed + f.inconsistent, 0, "{f:?}");
        assert_eq!(f.started, f.rejected + f.completed + f.compensated, "{f:?}");
    }
    // Waiting for timeouts holds the order service's workers: its queue
    // fills and it refuses more orders than when payment refuses at once.
    assert!(flows(&cut).rejected > flows(&crashed).rejected);
}

/// Per flow, the attempts of its calls to `callee` that timed out, as
/// (attempt, sent at, ended at).
fn timeouts_to(
    s: &eventsim::scenario::Scenario,
    callee: u32,
) -> std::collections::BTreeMap<u64, Vec<(u32, u64, u64)>> {
    use eventsim::history::{CallOutcome, Observation, Observer, Shared};
    use std::cell::RefCell;
    use std::rc::Rc;
    #[derive(Default)]
    struct Calls(u32, std::collections::BTreeMap<u64, Vec<(u32, u64, u64)>>);
    impl Observer for Calls {
        fn observe(&mut self, at: u64, o: &Observation) {
            if let Observation::CallEnded {
                service,
                origin,
                attempt,
                outcome: CallOutcome::Timeout,
                latency_ns,
                ..
            } = *o
                && service == self.0
            {
                let v = self.1.entry(u64::from(origin)).or_default();
                v.push((attempt, at - latency_ns, at));
            }
        }
    }
    let seen = Rc::new(RefCell::new(Calls(callee, Default::default())));
    let mut w = eventsim::World::new(s, 1);
    w.add_observer(Box::new(Shared(seen.clone())));
    w.run();
    let calls = Rc::try_unwrap(seen).ok().expect("the world is gone");
    calls.into_inner().1
}

#[test]
fn retries_repeat_a_timed_out_call_after_a_doubling_backoff_and_a_breaker_stops_them() {
    const PAYMENT: u32 = 1;
    let no_retries = edited(
        SYNC,
        &[NO_BREAKER, ("retries = 2\n", "retries = 0\n")],
        Some(PAYMENT_CUT),
    );
    let once = timeouts_to(&no_retries, PAYMENT);
    assert!(once.len() > 100, "{}", once.len());
    assert!(once.values().all(|v| v.len() == 1));
    let retried = timeouts_to(&edited(SYNC, &[NO_BREAKER], Some(PAYMENT_CUT)), PAYMENT);
    // Every call that timed out was tried three times (retries = 2), 200
    // ms then 400 ms after the attempt before timed out, but those the
    // partition's end cut short
    let whole: Vec<&Vec<(u32, u64, u64)>> = retried.values().filter(|v| v.len() == 3).collect();
    // (at most one per worker of the order service: its call under way
    // when the partition ended).
    assert!(
        whole.len() + 16 >= retried.len() && whole.len() > 50,
        "{} of {}",
        whole.len(),
        retried.len()
    );
    for v in whole {
        assert_eq!(v.iter().map(|a| a.0).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(v[1].1 - v[0].2, 200_000_000);
        assert_eq!(v[2].1 - v[1].2, 400_000_000);
        assert_eq!(v[0].2 - v[0].1, 1_000_000_000, "the call's timeout");
    }
    // A breaker opens after 10 failures in a row and fails calls without
    // sending them: few reach the network.
    let run = |s| eventsim::run_checked(&s, 1, Vec::new());
    let thrice = service(
        &run(edited(SYNC, &[NO_BREAKER], Some(PAYMENT_CUT))),
        "payment",
    );
    let b = service(&run(edited(SYNC, &[], Some(PAYMENT_CUT))), "payment");
    assert!(b.breaker_open > 500, "{b:?}");
    assert!(b.timeouts * 5 < thrice.timeouts, "{b:?} {thrice:?}");
}

#[test]
fn a_failed_call_undoes_the_calls_before_it_last_first() {
    // No faults: only business failures. Payment declines (nothing to
    // undo); inventory out of stock undoes the charge (a refund).
    let c = run_passing(&edited(SYNC, &[], Some("")), 1);
    let (payment, inventory, shipping) = (
        service(&c, "payment"),
        service(&c, "inventory"),
        service(&c, "shipping"),
    );
    assert!(
        payment.failed > 400 && inventory.failed > 100,
        "{payment:?} {inventory:?}"
    );
    assert_eq!(payment.compensations, inventory.failed);
    assert_eq!(inventory.compensations, 0);
    let f = flows(&c);
    assert_eq!(f.compensated, payment.failed + inventory.failed);
    assert_eq!(f.completed, shipping.ok);
    assert_eq!(f.rejected, 0);
    // Shipping refusing for a while: each order that reached it undoes
    // both the reservation and the charge.
    let shipping_down = "
[[faults]]
kind = \"crash\"
target = \"shipping\"
at = \"30s\"
restart_after = \"10s\"
";
    let c = eventsim::run_checked(
        &edited(SYNC, &[NO_BREAKER], Some(shipping_down)),
        1,
        Vec::new(),
    );
    let (payment, inventory) = (service(&c, "payment"), service(&c, "inventory"));
    assert!(inventory.compensations > 100, "{inventory:?}");
    assert_eq!(
        payment.compensations,
        inventory.compensations + inventory.failed
    );
    assert_eq!(flows(&c).failed, 0, "nothing left held");
}

#[test]
fn a_timeout_after_the_callee_acted_is_a_charge_for_a_failed_order() {
    // Payment takes up to 900 ms; the order service waits 500 ms.
    let slow = [
        (
            "processing = { dist = \"exponential\", mean = \"2ms\" }",
            "processing = { dist = \"uniform\", min = \"100ms\", max = \"900ms\" }\nworkers = 64",
        ),
        (
            "timeout = \"1s\"\nretries = 2",
            "timeout = \"500ms\"\nretries = 2",
        ),
        NO_BREAKER,
    ];
    let mut edits = slow.to_vec();
    edits.push((
        "idempotent = true            # a retried charge is not charged twice",
        "",
    ));
    let c = eventsim::run_checked(&edited(SYNC, &edits, Some("")), 1, Vec::new());
    let f = flows(&c);
    assert!(f.rejected_with_effects > 100, "{f:?}");
    assert!(f.duplicated > 100, "charged again by the retries: {f:?}");
    assert_eq!(status(&c, "saga-atomicity"), CheckStatus::Fail);
    let v = c
        .violations
        .iter()
        .find(|v| v.invariant == "saga-atomicity")
        .unwrap();
    assert!(v.message.contains("PaymentCharged"), "{}", v.message);
    assert!(
        v.explanation
            .iter()
            .any(|l| l.contains("order -> payment, attempt 1: timeout")),
        "{:?}",
        v.explanation
    );
    // An idempotency key: a retry gets the first charge's answer, never a
    // second charge; the order still fails after it was charged.
    let c = eventsim::run_checked(&edited(SYNC, &slow, Some("")), 1, Vec::new());
    let f = flows(&c);
    assert_eq!(f.duplicated, 0, "{f:?}");
    assert!(f.rejected_with_effects > 0, "{f:?}");
}

#[test]
fn an_optional_call_degrades_instead_of_failing_the_request() {
    let optional = edited(
        SYNC,
        &[
            NO_BREAKER,
            (
                "service = \"shipping\"\ntimeout = \"1s\"\nretries = 2",
                "service = \"shipping\"\noptional = true\ntimeout = \"1s\"\nretries = 0",
            ),
        ],
        Some(
            "
[[faults]]
kind = \"crash\"
target = \"shipping\"
at = \"30s\"
restart_after = \"10s\"
",
        ),
    );
    let c = eventsim::run_checked(&optional, 1, Vec::new());
    let order = service(&c, "order");
    // The orders shipping missed are confirmed all the same, unshipped:
    // their flows stay open (the design's price).
    assert_eq!(order.errors, 0, "{order:?}");
    assert!(flows(&c).open > 100, "{:?}", flows(&c));
    assert_eq!(status(&c, "saga-atomicity"), CheckStatus::Fail);
}

#[test]
fn with_idempotent_callees_no_fault_charges_twice_and_every_flow_ends() {
    // Any seed, random crashes, pauses and partitions of every service,
    // broker, consumer and producer: every order ends, nothing is taken
    // twice, and the verdicts are those of the design (rejected flows
    // with effects), never an unfinished call.
    let chaos = RANDOM_CHAOS.replace(
        "targets = [\"brokers\", \"consumers\", \"producers\"]",
        "targets = [\"brokers\", \"consumers\", \"producers\", \"services\"]",
    );
    let s = edited(
        SYNC,
        &[
            ("duration = \"120s\"", "duration = \"30s\""),
            ("rate = 50,", "rate = 100,"),
        ],
        Some(&chaos),
    );
    for seed in 0..40 {
        let c = eventsim::run_checked(&s, seed, Vec::new());
        assert_eq!(
            c.result.stop_reason,
            eventsim::kernel::StopReason::Quiescent,
            "seed {seed}"
        );
        let f = flows(&c);
        assert_eq!(f.duplicated, 0, "seed {seed}: {f:?}");
        assert_eq!(f.open, 0, "seed {seed}: {f:?}");
        assert_eq!(f.inconsistent, 0, "seed {seed}: {f:?}");
        for v in c
            .violations
            .iter()
            .filter(|v| v.invariant == "saga-atomicity")
        {
            assert!(
                v.message.contains("front door reported it failed"),
                "seed {seed}: {}",
                v.message
            );
        }
    }
}

#[test]
fn the_architectures_differ_in_the_directions_the_articles_say() {
    let designs = [SYNC, CHOREOGRAPHY, ORCHESTRATION].map(load);
    for seed in 1..4 {
        let [sync, choreography, orchestration] = designs
            .clone()
            .map(|s| flows(&eventsim::run_checked(&s, seed, Vec::new())));
        // Payment unreachable for a minute: the synchronous chain turns
        // orders away; the event-driven designs take every one.
        assert!(sync.acceptance_rate < 0.8, "seed {seed}: {sync:?}");
        for f in [&choreography, &orchestration] {
            assert!(f.acceptance_rate > 0.99, "seed {seed}: {f:?}");
            // ... and every order they took ends, shipped or undone.
            assert_eq!(f.open + f.failed + f.inconsistent, 0, "seed {seed}: {f:?}");
            assert_eq!(f.completed + f.compensated, f.started - f.rejected);
            // They stay half done for as long as payment is out.
            assert!(f.settle_ns.p99 > 30_000_000_000, "seed {seed}: {f:?}");
        }
        assert!(sync.settle_ns.p99 < 1_000_000_000, "seed {seed}: {sync:?}");
    }
    // Without faults the synchronous chain is the fastest way through.
    let quiet = [SYNC, CHOREOGRAPHY, ORCHESTRATION].map(|p| edited(p, &[], Some("")));
    let [sync, choreography, orchestration] =
        quiet.map(|s| flows(&eventsim::run_checked(&s, 1, Vec::new())));
    assert!(sync.acceptance_rate == 1.0);
    for f in [&choreography, &orchestration] {
        assert!(
            sync.completion_ns.p50 < f.completion_ns.p50,
            "{sync:?} {f:?}"
        );
    }
}

#[test]
fn the_architecture_runs_give_the_same_bytes() {
    for s in [SYNC, CHOREOGRAPHY, ORCHESTRATION] {
        assert_runs_repeat(repo(s).to_str().unwrap());
    }
}

#[test]
fn bad_services_are_refused_at_their_fields() {
    let t = text(SYNC);
    let cases = [
        (
            "service = \"inventory\"",
            "service = \"inventroy\"",
            "services[0].calls[1].service",
            "unknown service `inventroy`",
        ),
        (
            "service = \"payment\"",
            "service = \"order\"",
            "services[0].calls[0].service",
            "cannot call itself",
        ),
        (
            "name = \"order\"\nworkers = 16",
            "name = \"order\"\nworkers = 0",
            "services[0].workers",
            "at least 1 worker",
        ),
        (
            "requests = { rate = 50,",
            "requests = { rate = 0,",
            "services[0].requests.rate",
            "positive rate",
        ),
        (
            "breaker = { failures = 10,",
            "breaker = { failures = 0,",
            "services[0].calls[0].breaker.failures",
            "at least 1",
        ),
        (
            "topic = \"order-events\", event_type",
            "topic = \"orders\", event_type",
            "services[0].emit.topic",
            "unknown topic `orders`",
        ),
        (
            "name = \"shipping\"",
            "name = \"notification\"",
            "services[3].name",
            "used twice",
        ),
        (
            "timeout = \"1s\"",
            "timeout = \"0s\"",
            "services[0].calls[0].timeout",
            "greater than zero",
        ),
        (
            "probability = 0.1,",
            "probability = 1.5,",
            "services[1].failure.probability",
            "between 0 and 1",
        ),
        (
            "timeout = \"3s\" }",
            "timeout = \"0s\" }",
            "services[0].requests.timeout",
            "greater than zero",
        ),
        (
            "retries = 2\n",
            "retries = 1000\n",
            "services[0].calls[0].retries",
            "at most 100",
        ),
        (
            "open = \"5s\" }",
            "open = \"0s\" }",
            "services[0].calls[0].breaker.open",
            "greater than zero",
        ),
        (
            "name = \"inventory\"",
            "name = \"brokers\"",
            "services[2].name",
            "reserved",
        ),
        (
            "keys = { dist = \"uniform\", n = 100000 }, timeout",
            "keys = { dist = \"uniform\", n = 0 }, timeout",
            "services[0].requests.keys",
            "at least 1 key",
        ),
    ];
    for (from, to, field, needle) in cases {
        assert_refused(&t, from, to, field, needle);
    }
    // A cycle of calls would wait on itself.
    let cycle = format!("{t}\n[[services.calls]]\nservice = \"order\"\n");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("cycle.toml");
    std::fs::write(&path, cycle).unwrap();
    let o = eventsim(&["check", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("a cycle of synchronous calls"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_synchronous_history_read_back_is_judged_the_same() {
    // The slow payment of the timeout test, written out and run by the CLI.
    let t = text(SYNC)
        .replace(
            "processing = { dist = \"exponential\", mean = \"2ms\" }",
            "processing = { dist = \"uniform\", min = \"100ms\", max = \"900ms\" }",
        )
        .replace("timeout = \"1s\"", "timeout = \"500ms\"")
        .replace("duration = \"120s\"", "duration = \"20s\"")
        // The broker crash at 100 s is past the shortened run: refused.
        .replace("at = \"100s\"", "at = \"15s\"");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("slow.toml");
    std::fs::write(&path, t).unwrap();
    let history = tmp.path().join("h.jsonl");
    let o = eventsim(&[
        "run",
        path.to_str().unwrap(),
        "--out",
        tmp.path().join("out").to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let run = stdout(&o);
    let line = |text: &str, name: &str| -> String {
        text.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("{name}: {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let o = eventsim(&[
        "check-history",
        "--scenario",
        path.to_str().unwrap(),
        history.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let read = stdout(&o);
    let v = line(&read, "saga-atomicity");
    assert!(v.starts_with("saga-atomicity fail"), "{v}");
    let summary = std::fs::read_to_string(tmp.path().join("out/summary.json")).unwrap();
    let n: u64 = v.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        summary.contains(&format!("\"violations\": {n}")),
        "{n}: {summary}"
    );
    assert!(run.contains("rejected with effects"), "{run}");
    let html = std::fs::read_to_string(tmp.path().join("out/index.html")).unwrap();
    assert!(well_formed(&html).contains(&"Services".to_string()));
    assert!(
        html.contains("<title>service payment"),
        "the topology draws services"
    );
}

#[test]
fn a_synchronous_orchestrator_that_crashes_mid_request_leaves_its_steps_done() {
    // Inventory slow enough that the order service crashes with requests
    // charged and waiting for their stock: nobody ships or undoes them.
    let c = eventsim::run_checked(
        &edited(
            SYNC,
            &[(
                "name = \"inventory\"\nprocessing = \"1ms\"",
                "name = \"inventory\"\nprocessing = \"200ms\"\nworkers = 32",
            )],
            Some(
                "
[[faults]]
kind = \"crash\"
target = \"order\"
at = \"30s\"
restart_after = \"5s\"
",
            ),
        ),
        1,
        Vec::new(),
    );
    assert_eq!(status(&c, "held-resources"), CheckStatus::Fail);
    let v = c
        .violations
        .iter()
        .find(|v| v.invariant == "held-resources")
        .unwrap();
    assert!(v.message.contains("still holds payment"), "{}", v.message);
    let f = flows(&c);
    assert!(f.rejected_with_effects > 0, "{f:?}");
}

#[test]
fn a_front_door_beyond_the_memory_budget_is_refused_at_its_rate() {
    // A billion requests a second for two minutes: flows nobody can hold.
    let t = text(SYNC).replace("requests = { rate = 50,", "requests = { rate = 1e9,");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("huge.toml");
    std::fs::write(&path, t).unwrap();
    let o = eventsim(&["check", path.to_str().unwrap(), "--max-memory", "4GiB"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("services[0].requests.rate") && err.contains("requests followed for the run"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let o = eventsim(&["check", repo(SYNC).to_str().unwrap()]);
    assert!(stdout(&o).contains("4 service(s)"), "{}", stdout(&o));
}
