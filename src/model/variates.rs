//! Random variates drawn the same way on every machine.
//!
//! The model draws only 64-bit words from its ChaCha8 streams and turns
//! them into numbers here, with integer arithmetic and the pure-Rust
//! [`libm`] for logarithms, exponentials and powers. Nothing depends on the
//! pointer width (`usize` ranges are sampled differently on 32-bit targets)
//! or on the platform's C math library (whose `exp`, `log` and `pow` may
//! round differently in the last bit), and nothing depends on how a version
//! of `rand` maps bits to ranges: the same seed gives the same run on any
//! machine and with any later `rand`.
//!
//! - [`unit()`], [`below`], [`in_range`], [`chance`]: uniform draws (a 53-bit
//!   fraction; Lemire's multiply-and-reject for integer ranges).
//! - [`exp1`], [`std_normal`]: the ziggurat method of Marsaglia and Tsang
//!   (2000, *J. Stat. Software* 5(8)) with 256 layers, its tables computed
//!   once with `libm` at first use.
//! - [`Zipf`]: rejection-inversion (Hörmann and Derflinger 1996, *ACM TOMACS*
//!   6(3)), O(1) per draw for a key space of any size.

use crate::kernel::Rng;
use rand::Rng as _;
use std::sync::LazyLock;

/// Uniform in [0, 1): the top 53 bits of one word.
#[inline]
pub fn unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform in (0, 1]: for logarithms.
#[inline]
fn unit_open_zero(rng: &mut Rng) -> f64 {
    1.0 - unit(rng)
}

/// `true` with probability `p` (never for `p <= 0`, always for `p >= 1`).
#[inline]
pub fn chance(rng: &mut Rng, p: f64) -> bool {
    unit(rng) < p
}

/// Uniform in `0..n` (`n > 0`), unbiased: the high word of a 64x64-bit
/// product, redrawn in the rare case the low word falls in the biased zone
/// (Lemire 2019, "Fast random integer generation in an interval").
#[inline]
pub fn below(rng: &mut Rng, n: u64) -> u64 {
    debug_assert!(n > 0);
    let mut m = u128::from(rng.next_u64()) * u128::from(n);
    if (m as u64) < n {
        let threshold = n.wrapping_neg() % n;
        while (m as u64) < threshold {
            m = u128::from(rng.next_u64()) * u128::from(n);
        }
    }
    (m >> 64) as u64
}

/// Uniform in `lo..=hi` (`lo <= hi`).
#[inline]
pub fn in_range(rng: &mut Rng, lo: u64, hi: u64) -> u64 {
    debug_assert!(lo <= hi);
    match (hi - lo).checked_add(1) {
        Some(n) => lo + below(rng, n),
        None => rng.next_u64(), // the whole u64 range
    }
}

/// Uniform real in `[lo, hi]`.
#[inline]
pub fn uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * unit(rng)
}

/// One ziggurat: 256 layers of equal area under a decreasing density.
struct Ziggurat {
    /// x[0] is the base layer's virtual width (its area over f(R)),
    /// x[1] = R, ..., x[256] = 0.
    x: [f64; 257],
    /// f[i] = density(x[i]).
    f: [f64; 257],
}

impl Ziggurat {
    /// Builds the layers from the tail's start `r` and the common area `v`,
    /// for the unnormalised density `f` and its inverse.
    fn new(r: f64, v: f64, f: fn(f64) -> f64, f_inv: fn(f64) -> f64) -> Ziggurat {
        let mut x = [0.0; 257];
        x[0] = v / f(r);
        x[1] = r;
        for i in 1..256 {
            // Layer i spans [f(x[i]), f(x[i+1])] at width x[i] with area v.
            let y = v / x[i] + f(x[i]);
            x[i + 1] = if y < 1.0 { f_inv(y) } else { 0.0 };
        }
        x[256] = 0.0;
        let mut fx = [0.0; 257];
        for i in 0..257 {
            fx[i] = f(x[i]);
        }
        Ziggurat { x, f: fx }
    }

    /// One draw: `symmetric` takes the sign from the fraction (normal),
    /// `tail` draws beyond R given a uniform sign flag.
    #[inline]
    fn sample(
        &self,
        rng: &mut Rng,
        symmetric: bool,
        density: fn(f64) -> f64,
        tail: fn(&mut Rng, bool) -> f64,
    ) -> f64 {
        loop {
            let bits = rng.next_u64();
            let i = (bits & 0xff) as usize;
            // The top 53 bits, independent of the layer's 8.
            let frac = (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            let u = if symmetric { 2.0 * frac - 1.0 } else { frac };
            let x = u * self.x[i];
            if x.abs() < self.x[i + 1] {
                return x;
            }
            if i == 0 {
                return tail(rng, u < 0.0);
            }
            if self.f[i + 1] + (self.f[i] - self.f[i + 1]) * unit(rng) < density(x) {
                return x;
            }
        }
    }
}

fn exp_density(x: f64) -> f64 {
    libm::exp(-x)
}

fn exp_density_inv(y: f64) -> f64 {
    -libm::log(y)
}

/// R and V for 256 layers under exp(-x) (Marsaglia and Tsang 2000, table 1).
const EXP_R: f64 = 7.697_117_470_131_05;
const EXP_V: f64 = 3.949_659_822_581_557e-3;

static EXP: LazyLock<Ziggurat> =
    LazyLock::new(|| Ziggurat::new(EXP_R, EXP_V, exp_density, exp_density_inv));

fn exp_tail(rng: &mut Rng, _negative: bool) -> f64 {
    // The exponential is memoryless: beyond R it is R plus another one.
    EXP_R - libm::log(unit_open_zero(rng))
}

/// Exponential with mean 1.
#[inline]
pub fn exp1(rng: &mut Rng) -> f64 {
    EXP.sample(rng, false, exp_density, exp_tail)
}

fn normal_density(x: f64) -> f64 {
    libm::exp(-0.5 * x * x)
}

fn normal_density_inv(y: f64) -> f64 {
    libm::sqrt(-2.0 * libm::log(y))
}

/// R and V for 256 layers under exp(-x²/2) (Marsaglia and Tsang 2000).
const NORMAL_R: f64 = 3.654_152_885_361_009;
const NORMAL_V: f64 = 4.928_673_233_99e-3;

static NORMAL: LazyLock<Ziggurat> =
    LazyLock::new(|| Ziggurat::new(NORMAL_R, NORMAL_V, normal_density, normal_density_inv));

fn normal_tail(rng: &mut Rng, negative: bool) -> f64 {
    // Marsaglia's tail method (1964).
    loop {
        let x = -libm::log(unit_open_zero(rng)) / NORMAL_R;
        let y = -libm::log(unit_open_zero(rng));
        if y + y >= x * x {
            let z = NORMAL_R + x;
            return if negative { -z } else { z };
        }
    }
}

/// Standard normal (mean 0, standard deviation 1).
#[inline]
pub fn std_normal(rng: &mut Rng) -> f64 {
    NORMAL.sample(rng, true, normal_density, normal_tail)
}

/// Zipf over ranks `1..=n`: P(k) proportional to k^-s, for any n up to
/// 2^64 and any s > 0, by rejection-inversion: invert the integral H of
/// the continuous h(x) = x^-s, round to the nearest rank, and accept it
/// unless the point fell in the sliver between h and the step function
/// (rare), with a squeeze that skips the test for most draws.
#[derive(Clone, Debug)]
pub struct Zipf {
    n: f64,
    s: f64,
    /// H(1.5) - 1: the upper end of the inverted range (rank 1's step
    /// is taken as area 1).
    h_x1: f64,
    /// H(n + 0.5): the lower end.
    h_n: f64,
    /// The squeeze: k - x <= this accepts without evaluating H(k + 0.5).
    squeeze: f64,
}

impl Zipf {
    /// `n >= 1`, `s > 0` (the scenario's validation guarantees both).
    pub fn new(n: u64, s: f64) -> Zipf {
        let n = n.max(1) as f64;
        let mut z = Zipf {
            n,
            s,
            h_x1: 0.0,
            h_n: 0.0,
            squeeze: 0.0,
        };
        z.h_x1 = z.big_h(1.5) - 1.0;
        z.h_n = z.big_h(n + 0.5);
        z.squeeze = 2.0 - z.big_h_inv(z.big_h(2.5) - z.h(2.0));
        z
    }

    fn h(&self, x: f64) -> f64 {
        libm::exp(-self.s * libm::log(x))
    }

    /// H(x) = (x^(1-s) - 1) / (1 - s), or ln x when s = 1, written so
    /// that s near 1 loses no precision.
    fn big_h(&self, x: f64) -> f64 {
        let log_x = libm::log(x);
        expm1_over_x((1.0 - self.s) * log_x) * log_x
    }

    fn big_h_inv(&self, y: f64) -> f64 {
        let t = (y * (1.0 - self.s)).max(-1.0);
        libm::exp(log1p_over_x(t) * y)
    }

    /// One rank in `1..=n`.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        loop {
            let u = self.h_n + unit(rng) * (self.h_x1 - self.h_n);
            let x = self.big_h_inv(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.squeeze || u >= self.big_h(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }
}

/// (e^x - 1) / x, 1 at 0.
fn expm1_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        libm::expm1(x) / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

/// ln(1 + x) / x, 1 at 0.
fn log1p_over_x(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        libm::log1p(x) / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::rng_stream;

    fn moments(mut draw: impl FnMut(&mut Rng) -> f64, n: usize) -> (f64, f64) {
        let mut rng = rng_stream(3, "variates");
        let xs: Vec<f64> = (0..n).map(|_| draw(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
        (mean, var)
    }

    #[test]
    fn the_layers_have_equal_area_and_close_at_the_top() {
        for (z, f) in [
            (&*EXP, exp_density as fn(f64) -> f64),
            (&*NORMAL, normal_density),
        ] {
            assert!(z.x[255] > 0.0 && z.x[255] < 0.5, "top layer {}", z.x[255]);
            // The top layer (width x[255], from f(x[255]) to f(0) = 1) has
            // the same area as the others, up to the constants' precision.
            let v = z.x[1] * (f(z.x[2]) - f(z.x[1]));
            let top = z.x[255] * (1.0 - f(z.x[255]));
            assert!((top - v).abs() < 1e-3 * v, "top {top} vs {v}");
            assert!(z.x.windows(2).all(|w| w[0] > w[1]), "decreasing");
        }
    }

    #[test]
    fn exponential_and_normal_have_their_moments_and_tails() {
        let n = 400_000;
        let (m, v) = moments(exp1, n);
        assert!((m - 1.0).abs() < 0.01, "exp mean {m}");
        assert!((v - 1.0).abs() < 0.02, "exp variance {v}");
        let (m, v) = moments(std_normal, n);
        assert!(m.abs() < 0.01, "normal mean {m}");
        assert!((v - 1.0).abs() < 0.02, "normal variance {v}");

        // Quantiles: P(E > 3) = e^-3, P(Z > 1.96) = 0.025, and draws
        // beyond R (the tail routines) occur at their rates.
        let mut rng = rng_stream(4, "variates");
        let share = |hits: usize| hits as f64 / n as f64;
        let over3 = (0..n).filter(|_| exp1(&mut rng) > 3.0).count();
        assert!((share(over3) - (-3.0f64).exp()).abs() < 0.002, "{over3}");
        let over = (0..n).filter(|_| std_normal(&mut rng) > 1.96).count();
        assert!((share(over) - 0.025).abs() < 0.0015, "{over}");
        let beyond = (0..4_000_000).filter(|_| exp1(&mut rng) > EXP_R).count();
        let want = 4e6 * (-EXP_R).exp(); // about 1,820
        assert!(
            (beyond as f64 - want).abs() < 5.0 * want.sqrt(),
            "{beyond} vs {want}"
        );
    }

    #[test]
    fn integer_ranges_are_uniform_and_inclusive() {
        let mut rng = rng_stream(5, "variates");
        let mut counts = [0u32; 7];
        for _ in 0..70_000 {
            counts[below(&mut rng, 7) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_500..10_500).contains(&c)),
            "{counts:?}"
        );
        let mut seen = [false; 4];
        for _ in 0..1000 {
            seen[(in_range(&mut rng, 10, 13) - 10) as usize] = true;
        }
        assert_eq!(seen, [true; 4]);
        assert_eq!(in_range(&mut rng, 9, 9), 9);
        let _ = in_range(&mut rng, 0, u64::MAX); // no overflow
    }

    #[test]
    fn zipf_ranks_follow_the_power_law_over_any_key_space() {
        let mut rng = rng_stream(6, "variates");
        for s in [0.6, 1.0, 1.2] {
            let z = Zipf::new(10, s);
            let mut counts = [0u32; 10];
            let n = 200_000;
            for _ in 0..n {
                counts[(z.sample(&mut rng) - 1) as usize] += 1;
            }
            let norm: f64 = (1..=10).map(|k| (k as f64).powf(-s)).sum();
            for (k, &c) in counts.iter().enumerate() {
                let p = ((k + 1) as f64).powf(-s) / norm;
                let sd = (n as f64 * p * (1.0 - p)).sqrt();
                assert!(
                    (c as f64 - n as f64 * p).abs() < 5.0 * sd,
                    "s={s} rank {}: {c}",
                    k + 1
                );
            }
        }
        // A key space of 2^63 costs nothing and draws inside it.
        let z = Zipf::new(1 << 63, 1.1);
        assert!((0..1000).all(|_| (1..=1u64 << 63).contains(&z.sample(&mut rng))));
    }

    #[test]
    fn draws_are_pinned_so_a_seed_means_the_same_run_everywhere() {
        // These values are part of the byte-identical promise: a change
        // here changes every output (and needs a CHANGELOG entry).
        let mut rng = rng_stream(42, "pinned");
        let got = (
            rng.next_u64(),
            below(&mut rng, 1000),
            exp1(&mut rng).to_bits(),
            std_normal(&mut rng).to_bits(),
            Zipf::new(1_000_000, 1.1).sample(&mut rng),
        );
        assert_eq!(
            got,
            (
                2_924_402_738_703_706_107,
                17,
                4_599_195_392_965_181_359,
                4_600_869_252_349_855_880,
                336
            ),
            "{got:?}"
        );
    }
}
