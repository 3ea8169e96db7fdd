//! Partitioners: keys per second for each strategy (murmur2 is Kafka's
//! hash of the key's text, computed when a key is first drawn and cached;
//! also measured raw, and over a key space far larger than the cache).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use eventsim::history::KeySpace;
use eventsim::kernel::rng_stream;
use eventsim::model::partitioner::{PartitionChooser, murmur2};
use eventsim::scenario::Partitioner;
use std::hint::black_box;
use std::sync::Arc;

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
        let space = Arc::new(KeySpace::new([("order-", KEYS)]));
        let mut chooser = PartitionChooser::new(kind, 64, space, 0, KEYS, 16_384, &mut rng);
        g.bench_function(kind.as_str(), |b| {
            b.iter(|| {
                (0..KEYS).fold(0u32, |acc, k| {
                    acc ^ chooser.choose(black_box(k), 600, &mut rng)
                })
            })
        });
    }
    // Ten million keys: each draw almost always misses the cache, so this
    // is the cost of formatting the key's text and hashing it.
    let huge = 10_000_000u64;
    let space = Arc::new(KeySpace::new([("order-", huge)]));
    let mut rng = rng_stream(1, "bench");
    let mut chooser =
        PartitionChooser::new(Partitioner::Murmur2, 64, space, 0, huge, 16_384, &mut rng);
    g.bench_function("murmur2-10M-keys", |b| {
        b.iter(|| {
            (0..KEYS).fold(0u32, |acc, k| {
                acc ^ chooser.choose(black_box(k * 997 % huge), 600, &mut rng)
            })
        })
    });
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
