//! A latency distribution: an HdrHistogram and the exact sum, and the
//! percentiles reports print. Below the metrics and the flows' book, which
//! both keep them.

use hdrhistogram::Histogram;
use serde::Serialize;

/// A latency distribution: HdrHistogram at 3 significant digits, plus the
/// exact sum for an exact mean. The histogram is made at the first value:
/// an empty one costs 16 KiB, and a run of 5,000 groups has 20,000 streams,
/// most of which never record anything.
#[derive(Clone, Debug, Default)]
pub struct LatencyStream {
    /// The distribution, in ns (`None` until a value is recorded).
    hist: Option<Box<Histogram<u64>>>,
    sum_ns: u128,
}

impl LatencyStream {
    /// Add one latency (saturating at the histogram's range).
    #[inline]
    pub fn record(&mut self, ns: u64) {
        let hist = self.hist.get_or_insert_with(|| {
            Box::new(Histogram::new(3).expect("3 significant digits is valid"))
        });
        // An auto-resizing histogram only fails to record if it cannot grow.
        if hist.record(ns).is_err() {
            hist.saturating_record(ns);
        }
        self.sum_ns += u128::from(ns);
    }

    /// The distribution, if it holds any value.
    pub fn histogram(&self) -> Option<&Histogram<u64>> {
        self.hist.as_deref().filter(|h| !h.is_empty())
    }

    /// Whether no value was recorded.
    pub fn is_empty(&self) -> bool {
        self.histogram().is_none()
    }

    /// Its percentiles (all 0 when empty).
    pub fn stats(&self) -> LatencyStats {
        let Some(h) = self.histogram() else {
            return LatencyStats::default();
        };
        let count = h.len();
        LatencyStats {
            count,
            mean: (self.sum_ns / u128::from(count)) as u64,
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }

    /// Add another stream's records to this one.
    pub fn merge(&mut self, other: &LatencyStream) {
        let Some(o) = other.histogram() else {
            return;
        };
        match &mut self.hist {
            // Auto-resizing: adding cannot overflow the value range.
            Some(h) => {
                let _ = h.add(o);
            }
            None => self.hist = Some(Box::new(o.clone())),
        }
        self.sum_ns += other.sum_ns;
    }

    /// [`LatencyStream::merge`], taking `other`: into an empty stream it
    /// moves, without a copy.
    pub fn absorb(&mut self, other: LatencyStream) {
        if self.is_empty() {
            *self = other;
        } else {
            self.merge(&other);
        }
    }

    /// The exact mean in nanoseconds.
    pub fn mean_ns(&self) -> f64 {
        match self.histogram() {
            None => 0.0,
            Some(h) => self.sum_ns as f64 / h.len() as f64,
        }
    }
}

/// Percentiles of one latency stream, in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct LatencyStats {
    /// How many values.
    pub count: u64,
    /// The exact mean.
    pub mean: u64,
    /// The median.
    pub p50: u64,
    /// The 90th percentile.
    pub p90: u64,
    /// The 99th percentile.
    pub p99: u64,
    /// The 99.9th percentile.
    pub p999: u64,
    /// The largest value.
    pub max: u64,
}
