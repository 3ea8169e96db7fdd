//! The kernel's event queue on a synthetic hold model: a fixed population of
//! pending events; each step pops the earliest and schedules a successor at
//! a random delay. Reports kernel events per second.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eventsim::kernel::{Budget, Kernel, rng_stream};
use rand::RngExt;
use std::hint::black_box;

const STEPS: u64 = 1_000_000;

fn hold(population: u64) -> u64 {
    let mut k = Kernel::new(Budget {
        sim_time_max_ns: u64::MAX,
        kernel_events_max: STEPS,
    });
    let mut rng = rng_stream(1, "bench");
    for i in 0..population {
        k.schedule_at(rng.random_range(0..1_000_000), i);
    }
    let mut sum = 0u64;
    while let Ok(e) = k.next_event() {
        sum = sum.wrapping_add(e);
        k.schedule_in(rng.random_range(1..1_000_000), e);
    }
    sum
}

fn kernel(c: &mut Criterion) {
    let mut g = c.benchmark_group("kernel_hold");
    g.throughput(Throughput::Elements(STEPS));
    g.sample_size(10);
    for population in [16u64, 1024, 65_536] {
        g.bench_with_input(
            BenchmarkId::from_parameter(population),
            &population,
            |b, &p| b.iter(|| black_box(hold(p))),
        );
    }
    g.finish();
}

// No criterion plots: this crate's plotters features (pure-Rust text with a
// font registered at run time) would leave criterion's charts without a font.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = kernel
}
criterion_main!(benches);
