//! Partitioners: keys per second for each strategy (murmur2 is Kafka's
//! hash, computed once per key at build time; also measured raw).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventsim::kernel::rng_stream;
use eventsim::model::partitioner::{PartitionChooser, murmur2};
use eventsim::scenario::Partitioner;
use std::hint::black_box;

const KEYS: u64 = 10_000;

fn partitioners(c: &mut Criterion) {
    let texts: Vec<Vec<u8>> = (0..KEYS)
        .map(|k| format!("order-{k}").into_bytes())
        .collect();
    let mut g = c.benchmark_group("partitioner");
    g.throughput(Throughput::Elements(KEYS));
    g.bench_function("murmur2-raw", |b| {
        b.iter(|| {
            texts
                .iter()
                .fold(0i32, |acc, t| acc ^ murmur2(black_box(t)))
        })
    });
    for kind in [
        Partitioner::Murmur2,
        Partitioner::RoundRobin,
        Partitioner::Sticky,
        Partitioner::Random,
        Partitioner::KeyRange,
    ] {
        let mut rng = rng_stream(1, "bench");
        let mut chooser = PartitionChooser::new(
            kind,
            64,
            KEYS,
            16_384,
            |k| texts[k as usize].clone(),
            &mut rng,
        );
        g.bench_function(kind.as_str(), |b| {
            b.iter(|| {
                (0..KEYS).fold(0u32, |acc, k| {
                    acc ^ chooser.choose(black_box(k), 600, &mut rng)
                })
            })
        });
    }
    g.finish();
}

// No criterion plots: this crate's plotters features (pure-Rust text with a
// font registered at run time) would leave criterion's charts without a font.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = partitioners
}
criterion_main!(benches);
