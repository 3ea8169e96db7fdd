//! Units of the scenario format: durations (`"5ms"`), byte sizes and the
//! distributions built from them.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// A span of virtual time, written `"250us"`, `"5ms"`, `"1.5s"`, `"2m"`, `"1h"`, `"7d"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Duration(pub u64);

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);
    /// In nanoseconds.
    pub fn ns(self) -> u64 {
        self.0
    }
    /// `ms` milliseconds (saturating at the largest duration).
    pub fn from_ms(ms: u64) -> Duration {
        Duration(ms.saturating_mul(1_000_000))
    }
    /// `s` seconds (saturating at the largest duration).
    pub fn from_secs(s: u64) -> Duration {
        Duration(s.saturating_mul(1_000_000_000))
    }
}

const UNITS: [(&str, f64); 8] = [
    ("ns", 1.0),
    ("us", 1e3),
    ("µs", 1e3),
    ("ms", 1e6),
    ("s", 1e9),
    ("m", 60e9),
    ("h", 3600e9),
    ("d", 86400e9),
];

/// What a duration looks like, for error messages.
pub const DURATION_EXPECTED: &str = "a duration such as \"250us\", \"5ms\", \"1.5s\", \"2m\", \"1h\" or \"7d\" (units ns, us, ms, s, m, h, d)";

/// Parse a duration string; `None` when it is not one.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let scale = UNITS.iter().find(|(u, _)| *u == unit.trim())?.1;
    let ns = value * scale;
    if !ns.is_finite() || ns > u64::MAX as f64 / 2.0 {
        return None;
    }
    Some(Duration(ns.round() as u64))
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        for (unit, scale) in [
            ("d", 86_400_000_000_000u64),
            ("h", 3_600_000_000_000),
            ("m", 60_000_000_000),
            ("s", 1_000_000_000),
            ("ms", 1_000_000),
            ("us", 1_000),
        ] {
            if ns >= scale && ns.is_multiple_of(scale) {
                return write!(f, "{}{}", ns / scale, unit);
            }
        }
        write!(f, "{ns}ns")
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(DURATION_EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                parse_duration(v).ok_or_else(|| {
                    E::custom(format!(
                        "invalid duration {v:?}: expected {DURATION_EXPECTED}"
                    ))
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                if v == 0 {
                    Ok(Duration::ZERO)
                } else {
                    Err(E::custom(format!(
                        "invalid duration {v}: a number needs a unit; expected {DURATION_EXPECTED}"
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// How far a clock is off: a duration ahead (`"+2h"`, `"90s"`) or behind
/// (`"-8d"`), in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Skew(pub i64);

/// What a skew looks like, for error messages.
pub const SKEW_EXPECTED: &str = "a duration ahead (\"+2h\", \"90s\") or behind (\"-8d\")";

impl Skew {
    /// In nanoseconds (negative: behind).
    pub fn ns(self) -> i64 {
        self.0
    }
}

/// Parse a skew; `None` when it is not one.
pub fn parse_skew(text: &str) -> Option<Skew> {
    let text = text.trim();
    let (sign, rest) = match text.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let d = parse_duration(rest)?;
    i64::try_from(d.ns()).ok().map(|ns| Skew(sign * ns))
}

impl fmt::Display for Skew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "+" };
        write!(f, "{sign}{}", Duration(self.0.unsigned_abs()))
    }
}

impl Serialize for Skew {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Skew {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Skew;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(SKEW_EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Skew, E> {
                parse_skew(v).ok_or_else(|| {
                    E::custom(format!("invalid skew {v:?}: expected {SKEW_EXPECTED}"))
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A distribution over values of type `V` (durations or byte counts).
///
/// Written as a table with a `dist` tag, or as a bare value meaning a constant:
/// `processing = "2ms"` is `processing = { dist = "constant", value = "2ms" }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DistSpec<V> {
    /// Always `value`.
    Constant {
        /// The value.
        value: V,
    },
    /// Uniform between `min` and `max`.
    Uniform {
        /// The least value.
        min: V,
        /// The greatest value.
        max: V,
    },
    /// Normal, truncated at zero.
    Normal {
        /// The mean.
        mean: V,
        /// The standard deviation.
        stddev: V,
    },
    /// Exponential with the given mean (a Poisson process's gaps).
    Exponential {
        /// The mean.
        mean: V,
    },
    /// Lognormal given by its median and its 99th percentile.
    Lognormal {
        /// The median (50th percentile).
        median: V,
        /// The 99th percentile.
        p99: V,
    },
    /// Pareto (heavy tail) with minimum `scale` and tail index `shape`.
    Pareto {
        /// The least value.
        scale: V,
        /// The tail index: the smaller, the heavier the tail.
        shape: f64,
    },
}

/// Deserialize a `DistSpec` from either a bare value or a tagged table.
pub fn dist_spec<'de, D, V>(d: D) -> Result<DistSpec<V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Vis<V>(std::marker::PhantomData<V>);
    impl<'de, V: Deserialize<'de>> Visitor<'de> for Vis<V> {
        type Value = DistSpec<V>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a value, or a table with `dist` = constant, uniform, normal, exponential, lognormal or pareto")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            let value = V::deserialize(de::value::StrDeserializer::<E>::new(v))?;
            Ok(DistSpec::Constant { value })
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            let value = V::deserialize(de::value::I64Deserializer::<E>::new(v))?;
            Ok(DistSpec::Constant { value })
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            let value = V::deserialize(de::value::U64Deserializer::<E>::new(v))?;
            Ok(DistSpec::Constant { value })
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            DistSpec::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(Vis(std::marker::PhantomData))
}

/// A `DistSpec` field that accepts the bare-value shorthand.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Dist<V>(pub DistSpec<V>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Dist<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        dist_spec(d).map(Dist)
    }
}

/// Something a distribution's parameters can be turned into: a plain number.
pub trait Magnitude: Copy {
    /// The value as a plain number (nanoseconds, bytes).
    fn magnitude(self) -> f64;
}
impl Magnitude for Duration {
    fn magnitude(self) -> f64 {
        self.0 as f64
    }
}
impl Magnitude for u64 {
    fn magnitude(self) -> f64 {
        self as f64
    }
}

impl<V: Magnitude> Dist<V> {
    /// Always `v`.
    pub fn constant(v: V) -> Self {
        Dist(DistSpec::Constant { value: v })
    }

    /// Why these parameters cannot describe a distribution, if they cannot.
    pub fn problem(&self) -> Option<String> {
        match &self.0 {
            DistSpec::Constant { .. } => None,
            DistSpec::Uniform { min, max } => {
                (min.magnitude() > max.magnitude()).then(|| "`min` must not exceed `max`".into())
            }
            DistSpec::Normal { .. } => None,
            DistSpec::Exponential { mean } => {
                (mean.magnitude() <= 0.0).then(|| "`mean` must be greater than zero".into())
            }
            DistSpec::Lognormal { median, p99 } => {
                if median.magnitude() <= 0.0 {
                    Some("`median` must be greater than zero".into())
                } else if p99.magnitude() < median.magnitude() {
                    Some("`p99` must be at least `median`".into())
                } else {
                    None
                }
            }
            DistSpec::Pareto { scale, shape } => {
                if scale.magnitude() <= 0.0 {
                    Some("`scale` must be greater than zero".into())
                } else if !(*shape > 0.0 && shape.is_finite()) {
                    Some("`shape` must be a positive number".into())
                } else {
                    None
                }
            }
        }
    }

    /// The mean of the distribution, in the value's unit.
    pub fn mean(&self) -> f64 {
        match &self.0 {
            DistSpec::Constant { value } => value.magnitude(),
            DistSpec::Uniform { min, max } => (min.magnitude() + max.magnitude()) / 2.0,
            DistSpec::Normal { mean, .. } | DistSpec::Exponential { mean } => mean.magnitude(),
            DistSpec::Lognormal { median, p99 } => {
                let (mu, sigma) = lognormal_params(median.magnitude(), p99.magnitude());
                libm::exp(mu + sigma * sigma / 2.0)
            }
            DistSpec::Pareto { scale, shape } => {
                if *shape > 1.0 {
                    shape * scale.magnitude() / (shape - 1.0)
                } else {
                    f64::INFINITY
                }
            }
        }
    }
}

/// z such that P(Z <= z) = 0.99 for a standard normal Z.
const Z_P99: f64 = 2.326_347_874_040_841;

/// (mu, sigma) of the underlying normal of a lognormal with this median and p99.
pub fn lognormal_params(median: f64, p99: f64) -> (f64, f64) {
    // libm, not std: these parameters decide every draw (model::variates).
    let mu = libm::log(median);
    let sigma = (libm::log(p99 / median) / Z_P99).max(0.0);
    (mu, sigma)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("5ms"), Some(Duration(5_000_000)));
        assert_eq!(parse_duration("1.5s"), Some(Duration(1_500_000_000)));
        assert_eq!(parse_duration("250us"), Some(Duration(250_000)));
        assert_eq!(parse_duration("2m"), Some(Duration(120_000_000_000)));
        assert_eq!(parse_duration("7d"), Some(Duration(7 * 86_400_000_000_000)));
        assert_eq!(parse_duration("0"), Some(Duration(0)));
        for bad in ["5", "ms", "-5ms", "5 parsecs", "1e3ms", "", ".5s", "5.ms"] {
            assert_eq!(parse_duration(bad), None, "{bad:?} should not parse");
        }
    }

    #[test]
    fn durations_print_back_to_what_parses() {
        for text in ["5ms", "1500ms", "2m", "7d", "250us", "13ns"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&d.to_string()), Some(d));
        }
        assert_eq!(Duration(1_500_000_000).to_string(), "1500ms");
    }

    #[test]
    fn lognormal_mean_follows_median_and_p99() {
        let d: Dist<u64> = Dist(DistSpec::Lognormal {
            median: 100,
            p99: 100,
        });
        assert!((d.mean() - 100.0).abs() < 1e-9);
        let (mu, sigma) = lognormal_params(1.0, 10.0);
        assert!(mu.abs() < 1e-12);
        assert!((sigma - 10f64.ln() / Z_P99).abs() < 1e-12);
    }
}
