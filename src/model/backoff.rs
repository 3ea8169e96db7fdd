//! A producer's wait before a retry (Kafka's `retry.backoff.ms` and, since
//! Kafka 3.7, `retry.backoff.max.ms`, KIP-580), as a component that owns
//! its state.
//!
//! Kafka's clients compute it with `ExponentialBackoff(retry.backoff.ms, 2,
//! retry.backoff.max.ms, 0.2)`: after `n` failed attempts the batch waits
//! `retry.backoff.ms * 2^(n-1)`, at most `retry.backoff.max.ms`, times a
//! random factor in [0.8, 1.2), and never longer than the maximum. When the
//! maximum is not above the initial wait, the wait is constant (the maximum)
//! and has no jitter: that is also how versions before 3.7 behave, with a
//! constant `retry.backoff.ms`, so the model builds them with the maximum
//! equal to the initial wait.
//!
//! The jitter comes from a SplitMix64 sequence seeded from the producer's
//! own stream: retries draw from it and nothing else does, so a retry
//! changes no other draw of the run.

use crate::kernel::Time;

/// One producer's retry backoff.
#[derive(Clone, Debug)]
pub(crate) struct RetryBackoff {
    /// `retry.backoff.ms`, at most the maximum (Kafka clamps it so).
    initial_ns: Time,
    /// `retry.backoff.max.ms`.
    max_ns: Time,
    /// SplitMix64 state for the jitter.
    state: u64,
}

/// Kafka's `CommonClientConfigs.RETRY_BACKOFF_JITTER`.
const JITTER: f64 = 0.2;

impl RetryBackoff {
    /// A backoff from `initial_ns` doubling up to `max_ns`, its jitter
    /// drawn from a sequence that starts at `seed`.
    pub fn new(initial_ns: Time, max_ns: Time, seed: u64) -> Self {
        RetryBackoff {
            initial_ns: initial_ns.min(max_ns),
            max_ns,
            state: seed,
        }
    }

    /// The wait before the next attempt, after `failed` attempts failed
    /// (1 after the first).
    pub fn wait(&mut self, failed: u32) -> Time {
        if self.max_ns <= self.initial_ns {
            return self.initial_ns;
        }
        let doublings = failed.saturating_sub(1).min(63);
        let term = self
            .initial_ns
            .saturating_mul(1u64 << doublings)
            .min(self.max_ns);
        let unit = (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        let factor = 1.0 - JITTER + 2.0 * JITTER * unit;
        ((factor * term as f64) as Time).min(self.max_ns)
    }

    /// SplitMix64 (Steele, Lea and Flood, 2014).
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Time = 1_000_000;

    #[test]
    fn the_wait_doubles_from_the_initial_to_the_maximum_within_the_jitter() {
        let mut b = RetryBackoff::new(100 * MS, 1000 * MS, 7);
        for (failed, term) in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (9, 1000)] {
            let w = b.wait(failed);
            assert!(w >= term * MS * 8 / 10, "{failed}: {w}");
            assert!(w < term * MS * 12 / 10 && w <= 1000 * MS, "{failed}: {w}");
        }
    }

    #[test]
    fn a_maximum_not_above_the_initial_wait_is_a_constant_wait_without_jitter() {
        // Kafka before 3.7, and `retry_backoff_max <= retry_backoff`.
        let mut same = RetryBackoff::new(100 * MS, 100 * MS, 7);
        let mut below = RetryBackoff::new(100 * MS, 50 * MS, 7);
        for failed in 1..10 {
            assert_eq!(same.wait(failed), 100 * MS);
            assert_eq!(below.wait(failed), 50 * MS);
        }
    }

    #[test]
    fn the_jitter_spreads_over_its_range_and_repeats_from_its_seed() {
        let draws = |seed| {
            let mut b = RetryBackoff::new(100 * MS, 1000 * MS, seed);
            (0..2000).map(|_| b.wait(1)).collect::<Vec<_>>()
        };
        let a = draws(3);
        assert_eq!(a, draws(3));
        assert_ne!(a, draws(4));
        let (lo, hi) = (a.iter().min().unwrap(), a.iter().max().unwrap());
        assert!(*lo < 82 * MS && *hi > 118 * MS, "{lo} {hi}");
        let mean = a.iter().sum::<u64>() as f64 / a.len() as f64;
        assert!((mean / (100 * MS) as f64 - 1.0).abs() < 0.01, "{mean}");
    }

    #[test]
    fn a_zero_initial_wait_stays_zero() {
        let mut b = RetryBackoff::new(0, 1000 * MS, 1);
        assert_eq!(b.wait(1), 0);
        assert_eq!(b.wait(30), 0);
    }
}
