//! Samplers compiled from the scenario's distribution specs.

use crate::kernel::Rng;
use crate::model::variates::{self, Zipf};
use crate::scenario::units::{DistSpec, Magnitude, lognormal_params};
use crate::scenario::{Dist, Keys};

/// A distribution over non-negative integers (nanoseconds or bytes).
#[derive(Clone, Debug)]
pub enum Sampler {
    Constant(u64),
    Uniform(f64, f64),
    Normal { mean: f64, stddev: f64 },
    Exponential { mean: f64 },
    Lognormal { mu: f64, sigma: f64 },
    Pareto { scale: f64, inv_shape: f64 },
}

impl Sampler {
    pub fn new<V: Magnitude>(dist: &Dist<V>) -> Sampler {
        match &dist.0 {
            DistSpec::Constant { value } => Sampler::Constant(value.magnitude() as u64),
            DistSpec::Uniform { min, max } => Sampler::Uniform(min.magnitude(), max.magnitude()),
            DistSpec::Normal { mean, stddev } => Sampler::Normal {
                mean: mean.magnitude(),
                stddev: stddev.magnitude(),
            },
            DistSpec::Exponential { mean } => Sampler::Exponential {
                mean: mean.magnitude(),
            },
            DistSpec::Lognormal { median, p99 } => {
                let (mu, sigma) = lognormal_params(median.magnitude(), p99.magnitude());
                Sampler::Lognormal { mu, sigma }
            }
            DistSpec::Pareto { scale, shape } => Sampler::Pareto {
                scale: scale.magnitude(),
                inv_shape: 1.0 / shape,
            },
        }
    }

    /// One draw. Constants (zero latency is common) return without a call.
    #[inline(always)]
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        match *self {
            Sampler::Constant(v) => v,
            _ => self.draw(rng),
        }
    }

    #[inline(never)]
    fn draw(&self, rng: &mut Rng) -> u64 {
        let x = match *self {
            Sampler::Constant(v) => return v,
            Sampler::Uniform(lo, hi) => {
                if hi > lo {
                    variates::uniform(rng, lo, hi)
                } else {
                    lo
                }
            }
            Sampler::Normal { mean, stddev } => mean + stddev * variates::std_normal(rng),
            Sampler::Exponential { mean } => mean * variates::exp1(rng),
            Sampler::Lognormal { mu, sigma } => libm::exp(mu + sigma * variates::std_normal(rng)),
            Sampler::Pareto { scale, inv_shape } => {
                let u = 1.0 - variates::unit(rng); // (0, 1]
                scale * libm::pow(u, -inv_shape)
            }
        };
        if x.is_finite() && x > 0.0 {
            x.round().min(u64::MAX as f64 / 4.0) as u64
        } else {
            0
        }
    }
}

/// Draws key numbers in `0..n`.
#[derive(Clone, Debug)]
pub enum KeySampler {
    Uniform(u64),
    Zipf(Zipf),
    Sequential { n: u64, next: u64 },
}

impl KeySampler {
    pub fn new(keys: &Keys) -> KeySampler {
        match *keys {
            Keys::Uniform { n } => KeySampler::Uniform(n),
            Keys::Zipf { n, s } => KeySampler::Zipf(Zipf::new(n, s)),
            Keys::Sequential { n } => KeySampler::Sequential { n, next: 0 },
        }
    }

    #[inline]
    pub fn sample(&mut self, rng: &mut Rng) -> u64 {
        match self {
            KeySampler::Uniform(n) => variates::below(rng, *n),
            // Zipf draws 1..=n; rank 1 (the hottest key) becomes key 0.
            KeySampler::Zipf(z) => z.sample(rng) - 1,
            KeySampler::Sequential { n, next } => {
                let k = *next;
                *next = if *next + 1 >= *n { 0 } else { *next + 1 };
                k
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::rng_stream;
    use crate::scenario::Duration;

    fn mean_of(s: &Sampler, n: usize) -> f64 {
        let mut rng = rng_stream(1, "test");
        (0..n).map(|_| s.sample(&mut rng) as f64).sum::<f64>() / n as f64
    }

    #[test]
    fn sample_means_match_the_spec() {
        let cases: Vec<(DistSpec<Duration>, f64)> = vec![
            (DistSpec::Constant { value: Duration(7) }, 7.0),
            (
                DistSpec::Uniform {
                    min: Duration(1000),
                    max: Duration(3000),
                },
                2000.0,
            ),
            (
                DistSpec::Exponential {
                    mean: Duration(5000),
                },
                5000.0,
            ),
            (
                DistSpec::Normal {
                    mean: Duration(10_000),
                    stddev: Duration(1000),
                },
                10_000.0,
            ),
            (
                DistSpec::Pareto {
                    scale: Duration(1000),
                    shape: 3.0,
                },
                1500.0,
            ),
        ];
        for (spec, want) in cases {
            let got = mean_of(&Sampler::new(&Dist(spec.clone())), 200_000);
            assert!(
                (got - want).abs() / want < 0.02,
                "{spec:?}: mean {got}, want {want}"
            );
        }
    }

    #[test]
    fn lognormal_hits_its_median_and_p99() {
        let s = Sampler::new(&Dist(DistSpec::Lognormal {
            median: Duration(1_000_000),
            p99: Duration(10_000_000),
        }));
        let mut rng = rng_stream(3, "test");
        let mut v: Vec<u64> = (0..100_000).map(|_| s.sample(&mut rng)).collect();
        v.sort_unstable();
        let median = v[50_000] as f64;
        let p99 = v[99_000] as f64;
        assert!((median / 1e6 - 1.0).abs() < 0.03, "median {median}");
        assert!((p99 / 1e7 - 1.0).abs() < 0.08, "p99 {p99}");
    }

    #[test]
    fn zipf_keys_favour_key_zero_and_stay_in_range() {
        let mut k = KeySampler::new(&Keys::Zipf { n: 100, s: 1.2 });
        let mut rng = rng_stream(5, "keys");
        let mut counts = [0u32; 100];
        for _ in 0..50_000 {
            counts[k.sample(&mut rng) as usize] += 1;
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[10]);
        let mut s = KeySampler::new(&Keys::Sequential { n: 3 });
        let seq: Vec<u64> = (0..5).map(|_| s.sample(&mut rng)).collect();
        assert_eq!(seq, vec![0, 1, 2, 0, 1]);
    }
}
