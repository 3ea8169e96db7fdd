//! Business outcomes and compensation in choreography: an emit rule's
//! `failure` emits its failure event for a share of the events, the same
//! one however often an event is processed, and other groups compensate
//! by emit rules on the failure event.

use crate::common::*;
use eventsim::history::{EventId, Observation, Observer, Shared};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

const SCENARIO: &str = "scenarios/compensation.toml";

/// Each event's type, and what each (source, group) emitted.
#[derive(Default)]
struct Outcomes {
    types: BTreeMap<EventId, u16>,
    emitted: BTreeMap<(EventId, u32), Vec<EventId>>,
}

impl Observer for Outcomes {
    fn observe(&mut self, _at: u64, o: &Observation) {
        match *o {
            Observation::Produced {
                event, event_type, ..
            } => {
                self.types.insert(event, event_type);
            }
            Observation::Emitted {
                event,
                source,
                group,
                ..
            } => self.emitted.entry((source, group)).or_default().push(event),
            _ => {}
        }
    }
}

struct Run {
    checked: eventsim::Checked,
    /// Events produced per type name.
    counts: BTreeMap<String, usize>,
    outcomes: Outcomes,
}

fn run(s: &eventsim::scenario::Scenario, seed: u64) -> Run {
    let seen = Rc::new(RefCell::new(Outcomes::default()));
    let checked = eventsim::run_checked(s, seed, vec![Box::new(Shared(seen.clone()))]);
    let outcomes = Rc::try_unwrap(seen).ok().unwrap().into_inner();
    let names = &checked.result.catalog.event_types;
    let mut counts = BTreeMap::new();
    for &t in outcomes.types.values() {
        *counts.entry(names[t as usize].clone()).or_insert(0) += 1;
    }
    Run {
        checked,
        counts,
        outcomes,
    }
}

fn count(r: &Run, name: &str) -> usize {
    r.counts.get(name).copied().unwrap_or(0)
}

#[test]
fn every_declined_payment_is_compensated_once_and_the_share_follows_the_probability() {
    let s = load(SCENARIO);
    for seed in 0..5 {
        let r = run(&s, seed);
        assert_eq!(r.checked.verdict(), Verdict::Pass, "seed {seed}");
        let (orders, declined) = (count(&r, "OrderPlaced"), count(&r, "PaymentDeclined"));
        assert_eq!(count(&r, "StockReserved"), orders, "seed {seed}");
        assert_eq!(
            count(&r, "StockReleased"),
            declined,
            "one release per declined payment, seed {seed}"
        );
        assert_eq!(count(&r, "PaymentProcessed") + declined, orders);
        assert_eq!(count(&r, "Shipped"), count(&r, "PaymentProcessed"));
        let share = declined as f64 / orders as f64;
        assert!((0.06..0.10).contains(&share), "seed {seed}: {share}");
    }
}

/// At-least-once payment (no idempotency, offsets committed on a timer
/// ahead of a crash): orders are processed again and emit again, and each
/// order's outcome is the same every time.
#[test]
fn a_redelivered_event_gets_the_same_outcome() {
    let text = std::fs::read_to_string(repo(SCENARIO))
        .unwrap()
        .replace(
            "idempotency = \"dedup\"        # a redelivered order is not charged twice",
            "client = \"librdkafka\"\ncommit = \"auto\"",
        )
        .replace("commit = \"after-process\"\n", "");
    let s = scenario(&text);
    let mut reprocessed = 0;
    for seed in 0..10 {
        let r = run(&s, seed);
        let payment = r
            .checked
            .result
            .catalog
            .groups
            .iter()
            .position(|g| g == "payment")
            .unwrap() as u32;
        for ((_, group), events) in &r.outcomes.emitted {
            if *group != payment {
                continue;
            }
            reprocessed += usize::from(events.len() > 1);
            let first = r.outcomes.types[&events[0]];
            assert!(
                events.iter().all(|e| r.outcomes.types[e] == first),
                "seed {seed}: one order, two outcomes"
            );
        }
    }
    assert!(
        reprocessed > 0,
        "the crash made some orders processed twice"
    );
}

#[test]
fn probability_zero_never_fails_one_always_fails_and_runs_repeat() {
    let text = std::fs::read_to_string(repo(SCENARIO)).unwrap();
    let with = |p: &str| scenario(&text.replace("probability = 0.08", p));
    let never = run(&with("probability = 0.0"), 1);
    assert_eq!(count(&never, "PaymentDeclined"), 0);
    assert_eq!(count(&never, "StockReleased"), 0);
    let always = run(&with("probability = 1.0"), 1);
    assert_eq!(count(&always, "PaymentProcessed"), 0);
    assert_eq!(count(&always, "Shipped"), 0);
    assert_eq!(
        count(&always, "PaymentDeclined"),
        count(&always, "OrderPlaced")
    );
    // The same seed, the same orders declined; another seed, others.
    let s = load(SCENARIO);
    let declined = |r: &Run| -> Vec<EventId> {
        let t = r
            .checked
            .result
            .catalog
            .event_types
            .iter()
            .position(|n| n == "PaymentDeclined")
            .unwrap() as u16;
        r.outcomes
            .emitted
            .iter()
            .filter(|(_, e)| r.outcomes.types[&e[0]] == t)
            .map(|((source, _), _)| *source)
            .collect()
    };
    let (a, b, c) = (run(&s, 3), run(&s, 3), run(&s, 4));
    assert_eq!(declined(&a), declined(&b));
    assert_ne!(declined(&a), declined(&c));
    let json = |r: &Run| eventsim::report::Summary::new(&r.checked.result, String::new()).to_json();
    assert_eq!(json(&a), json(&b));
}

#[test]
fn a_failure_needs_a_probability_and_an_event_type_of_its_own() {
    let text = std::fs::read_to_string(repo(SCENARIO)).unwrap();
    for (bad, field, needle) in [
        (
            "probability = 1.5",
            "groups[0].emit[0].failure.probability",
            "0..=1",
        ),
        (
            "probability = 0.08, event_type = \"PaymentProcessed\"",
            "groups[0].emit[0].failure.event_type",
            "own event type",
        ),
    ] {
        let t = text.replace(
            "probability = 0.08, event_type = \"PaymentDeclined\"",
            if bad.contains("event_type") {
                bad.to_string()
            } else {
                format!("{bad}, event_type = \"PaymentDeclined\"")
            }
            .as_str(),
        );
        let e = eventsim::scenario::Scenario::parse(&t, "c.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains(field) && e.contains(needle), "{e}");
    }
}

#[test]
fn an_emit_rule_on_an_event_type_nothing_makes_is_refused_with_a_suggestion() {
    let text = std::fs::read_to_string(repo(SCENARIO))
        .unwrap()
        .replace("on = \"PaymentDeclined\"", "on = \"PaymentDecline\"");
    let e = eventsim::scenario::Scenario::parse(&text, "c.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("groups[1].emit[1].on") && e.contains("`PaymentDecline`"),
        "{e}"
    );
    assert!(e.contains("did you mean `PaymentDeclined`"), "{e}");
}
