//! Whole runs of the shipped scenarios: simulated events (produced) per
//! wall second. mm1 is cut to 200 simulated seconds (~120,000 events),
//! order-flow runs as shipped (~39,000 events over 60 simulated seconds)
//! and production (6 brokers, 1,000 partitions, 10M Zipf keys, 5 groups)
//! is cut to 10 simulated seconds of traffic (~500,000 events, before its
//! broker crash).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventsim::scenario::{Duration, Scenario};
use std::hint::black_box;
use std::path::Path;

fn load(name: &str) -> Scenario {
    Scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios")
            .join(name),
    )
    .expect("shipped scenario")
}

fn runs(c: &mut Criterion) {
    let mut mm1 = load("mm1.toml");
    mm1.scenario.duration = Duration::from_secs(200);
    let order_flow = load("order-flow.toml");
    let mut production = load("production.toml");
    production.scenario.duration = Duration::from_secs(10);
    let mut g = c.benchmark_group("run");
    g.sample_size(10);
    for (name, s) in [
        ("mm1", &mm1),
        ("order-flow", &order_flow),
        ("production", &production),
    ] {
        let produced = eventsim::run(s, 1).metrics.counts.produced;
        g.throughput(Throughput::Elements(produced));
        g.bench_function(name, |b| {
            b.iter(|| black_box(eventsim::run(s, 1).kernel_events))
        });
    }
    g.finish();
}

// No criterion plots: this crate's plotters features (pure-Rust text with a
// font registered at run time) would leave criterion's charts without a font.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = runs
}
criterion_main!(benches);
