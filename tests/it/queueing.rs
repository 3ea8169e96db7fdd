//! Queueing theory as a correctness check of the kernel and the consumer
//! path: with free network and broker, a single partition with one
//! consumer is a single-server FIFO queue.

use crate::common::*;
use eventsim::scenario::Scenario;

fn mean_end_to_end_ns(s: &Scenario, seed: u64) -> (f64, u64) {
    let r = eventsim::run(s, seed);
    let server = &r.metrics.end_to_end[0];
    (server.mean_ns(), server.stats().count)
}

#[test]
fn mm1_mean_latency_matches_one_over_mu_minus_lambda() {
    let s = Scenario::load(&repo("scenarios/mm1.toml")).unwrap();
    let (lambda, mu) = (600.0, 1000.0);
    let want_ns = 1e9 / (mu - lambda);
    let (got_ns, n) = mean_end_to_end_ns(&s, s.scenario.seed);
    assert!(n >= 1_000_000, "only {n} events");
    let err = (got_ns - want_ns).abs() / want_ns;
    assert!(
        err < 0.02,
        "M/M/1 mean {got_ns:.0}ns, theory {want_ns:.0}ns ({:.2}% off)",
        err * 100.0
    );
}

#[test]
fn md1_mean_latency_matches_pollaczek_khinchine() {
    // Deterministic service D = 1ms, Poisson arrivals at 600/s (rho = 0.6):
    // W = D + rho * D / (2 (1 - rho)).
    let text = std::fs::read_to_string(repo("scenarios/mm1.toml")).unwrap();
    let text = text.replace(
        "processing = { dist = \"exponential\", mean = \"1ms\" }",
        "processing = \"1ms\"",
    );
    let s = scenario(&text);
    let (rho, d) = (0.6, 1e6);
    let want_ns = d + rho * d / (2.0 * (1.0 - rho));
    let (got_ns, n) = mean_end_to_end_ns(&s, 11);
    assert!(n >= 1_000_000);
    let err = (got_ns - want_ns).abs() / want_ns;
    assert!(
        err < 0.02,
        "M/D/1 mean {got_ns:.0}ns, P-K {want_ns:.0}ns ({:.2}% off)",
        err * 100.0
    );
}

/// Arrivals follow the stated process for any finite positive rate: a
/// gap too long for the run means no further arrival (it once wrapped
/// around to the past, and a producer at 1e-300/s restarted by a crash
/// made four million events at one instant).
#[test]
fn tiny_rates_make_no_flood_and_big_ones_keep_their_rate() {
    for arrival in ["constant", "poisson", "bursty\non = \"1s\"\noff = \"1s\""] {
        for rate in ["1e-300", "1e-12", "0.001"] {
            let text = format!(
                "[scenario]\nname = \"tiny\"\nduration = \"30s\"\n\
                 [[topics]]\nname = \"t\"\n\
                 [[producers]]\nname = \"p\"\ntopic = \"t\"\nrate = {rate}\narrival = {arrival}\n\
                 [[groups]]\nname = \"g\"\ntopics = [\"t\"]\nauto_offset_reset = \"earliest\"\n\
                 [[faults]]\nkind = \"crash\"\ntarget = \"p\"\nat = \"10s\"\nrestart_after = \"2s\"\n"
            )
            .replace("arrival = bursty", "arrival = \"bursty\"")
            .replace("arrival = constant", "arrival = \"constant\"")
            .replace("arrival = poisson", "arrival = \"poisson\"");
            let s = scenario(&text);
            let r = eventsim::run(&s, 1);
            // One at the start and one at the restart, at most.
            assert!(
                r.metrics.counts.produced <= 2,
                "{arrival} at {rate}/s: {}",
                r.metrics.counts.produced
            );
        }
    }
    // A high rate still gives its count: 3 s at 100,000/s, constant.
    let s = scenario(
        "[scenario]\nname = \"big\"\nduration = \"3s\"\n[[topics]]\nname = \"t\"\n\
         [[producers]]\nname = \"p\"\ntopic = \"t\"\nrate = 100000\narrival = \"constant\"\n",
    );
    let r = eventsim::run(&s, 1);
    assert!(
        (299_990..=300_010).contains(&r.metrics.counts.produced),
        "{}",
        r.metrics.counts.produced
    );
}
