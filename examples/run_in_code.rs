//! Build a scenario in code, run it for several seeds, and read the metrics.
//!
//! `cargo run --release --example run_in_code`

use eventsim::scenario::{Duration, Scenario};

fn main() {
    // Start from the flagship file and vary one design choice in code.
    let mut scenario =
        Scenario::load("scenarios/order-flow.toml".as_ref()).expect("valid scenario");
    scenario.scenario.duration = Duration::from_secs(20);
    for acks in [
        eventsim::scenario::Acks::Leader,
        eventsim::scenario::Acks::All,
    ] {
        scenario.producers[0].acks = acks;
        scenario.producers[0].idempotent = acks == eventsim::scenario::Acks::All;
        assert!(scenario.problems().is_empty(), "{:?}", scenario.problems());
        for seed in 0..3 {
            let result = eventsim::run(&scenario, seed);
            let ack = result.metrics.produce_to_ack.stats();
            println!(
                "acks={acks:?} seed={seed}: {} events produced, produce->ack p50 {}us p99 {}us",
                result.metrics.counts.produced,
                ack.p50 / 1000,
                ack.p99 / 1000
            );
        }
    }
}
