//! `check-history --format jepsen`: operations per second through the
//! EDN reader and through the analysis, on a synthetic queue-workload
//! history of 100,000 operations.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventsim::jepsen::{analyse, read_edn, synthetic};
use std::hint::black_box;

const OPS: usize = 100_000;

fn jepsen(c: &mut Criterion) {
    let text = synthetic(OPS, 1);
    let history = read_edn(&text).expect("the synthetic history reads");
    let mut g = c.benchmark_group("jepsen");
    g.throughput(Throughput::Elements(history.ops.len() as u64));
    g.sample_size(10);
    g.bench_function("read-edn", |b| {
        b.iter(|| read_edn(black_box(&text)).map(|h| h.ops.len()))
    });
    g.bench_function("analyse", |b| {
        b.iter(|| analyse(black_box(&history), false).anomalies.len())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = jepsen
}
criterion_main!(benches);
