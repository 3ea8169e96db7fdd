//! Print a synthetic Jepsen Kafka history of N operations (default one
//! million) on standard output: `cargo run --release --example
//! jepsen_history -- 1000000 > history.edn`, then `eventsim check-history
//! --format jepsen history.edn` (docs/performance.md).

fn main() {
    let ops = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    print!("{}", eventsim::jepsen::synthetic(ops, 1));
}
