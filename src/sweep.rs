//! Many runs of one scenario: a seed sweep (DESIGN §7), in parallel across
//! runs (rayon; each run stays single-threaded), one JSON line per seed,
//! sorted by seed so that the output is the same whatever the number of
//! jobs. A sweep can be split into shards (`I/N`: the seeds whose position
//! in the range is I modulo N), run anywhere, and merged back.

use crate::scenario::Scenario;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// One seed's outcome: a line of `sweep.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    /// The scenario file, as the sweep was given it (for repro commands).
    pub scenario: String,
    pub seed: u64,
    pub verdict: String,
    /// Checkers that failed, in checker order.
    pub failed: Vec<String>,
    pub produced: u64,
    pub acked: u64,
    pub applied: u64,
    pub duplicates_applied: u64,
    pub expired: u64,
    /// Per group: end-to-end p99 in ns.
    pub e2e_p99_ns: BTreeMap<String, u64>,
    pub max_lag: BTreeMap<String, u64>,
    pub sim_time_ns: u64,
    pub kernel_events: u64,
    pub faults: u64,
}

/// A share of a range of seeds: `index` of `count` (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parse `I/N` with 0 <= I < N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let err = || format!("expected a shard as I/N with 0 <= I < N (e.g. 0/3), not `{text}`");
        let (i, n) = text.split_once('/').ok_or_else(err)?;
        let (index, count): (u64, u64) = (
            i.trim().parse().map_err(|_| err())?,
            n.trim().parse().map_err(|_| err())?,
        );
        if count == 0 || index >= count {
            return Err(err());
        }
        Ok(Shard { index, count })
    }

    /// The seeds of `range` this shard runs.
    pub fn seeds(self, range: std::ops::Range<u64>) -> Vec<u64> {
        let start = range.start;
        range
            .filter(|s| (s - start) % self.count == self.index)
            .collect()
    }
}

/// Parse `A..B` (B excluded) or a single seed `A`.
pub fn parse_seeds(text: &str) -> Result<std::ops::Range<u64>, String> {
    let err = || format!("expected seeds as A..B (B excluded), e.g. 0..100, not `{text}`");
    match text.split_once("..") {
        Some((a, b)) => {
            let (a, b): (u64, u64) = (
                a.trim().parse().map_err(|_| err())?,
                b.trim().parse().map_err(|_| err())?,
            );
            if a >= b {
                return Err(err());
            }
            Ok(a..b)
        }
        None => {
            let a: u64 = text.trim().parse().map_err(|_| err())?;
            Ok(a..a + 1)
        }
    }
}

/// Run one seed with the checkers (violations are counted, not explained).
pub fn run_seed(s: &Scenario, path: &str, seed: u64) -> SeedResult {
    let (c, _) = crate::run_checks(s, seed, Vec::new());
    let r = &c.result;
    let m = &r.metrics;
    SeedResult {
        scenario: path.to_string(),
        seed,
        verdict: c.verdict().to_string(),
        failed: c
            .checks
            .iter()
            .filter(|x| x.status == "fail")
            .map(|x| x.name.clone())
            .collect(),
        produced: m.counts.produced,
        acked: m.counts.acked,
        applied: m.counts.applied,
        duplicates_applied: m.counts.duplicates_applied,
        expired: m.counts.expired,
        e2e_p99_ns: r
            .catalog
            .groups
            .iter()
            .cloned()
            .zip(m.end_to_end.iter().map(|h| h.stats().p99))
            .collect(),
        max_lag: r
            .catalog
            .groups
            .iter()
            .cloned()
            .zip(r.series.max_lag.iter().copied())
            .collect(),
        sim_time_ns: r.sim_time_ns,
        kernel_events: r.kernel_events,
        faults: r.fault_log.iter().filter(|f| f.phase == "start").count() as u64,
    }
}

/// Run `seeds` on `jobs` threads. `stop` ends the sweep early (Ctrl-C,
/// or the first failure with `fail_fast`): seeds already running finish,
/// no new one starts. `done` counts finished seeds (for a progress bar).
#[allow(clippy::too_many_arguments)]
pub fn sweep(
    s: &Scenario,
    path: &str,
    seeds: &[u64],
    jobs: usize,
    fail_fast: bool,
    stop: &AtomicBool,
    done: &AtomicU64,
    failed: &AtomicU64,
) -> Result<Vec<SeedResult>, String> {
    use rayon::prelude::*;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .map_err(|e| format!("cannot start {jobs} threads: {e}"))?;
    let mut results: Vec<SeedResult> = pool.install(|| {
        seeds
            .par_iter()
            .with_max_len(1)
            .filter_map(|&seed| {
                if stop.load(Ordering::Relaxed) {
                    return None;
                }
                let r = run_seed(s, path, seed);
                if r.verdict == "fail" {
                    failed.fetch_add(1, Ordering::Relaxed);
                    if fail_fast {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
                Some(r)
            })
            .collect()
    });
    results.sort_by_key(|r| r.seed);
    Ok(results)
}

/// `sweep.jsonl`: one line per seed, by seed.
pub fn to_jsonl(results: &[SeedResult]) -> String {
    let mut out = String::new();
    for r in results {
        out.push_str(&serde_json::to_string(r).expect("a seed result serializes"));
        out.push('\n');
    }
    out
}

/// Read a `sweep.jsonl`.
pub fn from_jsonl(text: &str, file: &str) -> Result<Vec<SeedResult>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| format!("{file}:{}: expected a seed result: {e}", i + 1))
        })
        .collect()
}

/// Combine shards' results: every seed once, by seed. Two shards that
/// disagree on a seed is an error (they ran different scenarios or versions).
pub fn merge(parts: Vec<Vec<SeedResult>>) -> Result<Vec<SeedResult>, String> {
    let mut by_seed: BTreeMap<u64, SeedResult> = BTreeMap::new();
    for r in parts.into_iter().flatten() {
        if let Some(old) = by_seed.get(&r.seed) {
            if *old != r {
                return Err(format!("seed {} has two different results", r.seed));
            }
            continue;
        }
        by_seed.insert(r.seed, r);
    }
    Ok(by_seed.into_values().collect())
}

/// Failing seeds per invariant, for the end-of-sweep summary.
pub fn failures(results: &[SeedResult]) -> BTreeMap<String, Vec<u64>> {
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in results {
        for f in &r.failed {
            out.entry(f.clone()).or_default().push(r.seed);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_seeds() {
        let all: Vec<u64> = (10..30).collect();
        let mut union: Vec<u64> = (0..3)
            .flat_map(|i| Shard { index: i, count: 3 }.seeds(10..30))
            .collect();
        union.sort_unstable();
        assert_eq!(union, all);
        assert_eq!(Shard::parse("2/3").unwrap(), Shard { index: 2, count: 3 });
        assert!(
            Shard::parse("3/3").is_err()
                && Shard::parse("1/0").is_err()
                && Shard::parse("x").is_err()
        );
        assert_eq!(parse_seeds("0..20").unwrap(), 0..20);
        assert_eq!(parse_seeds("7").unwrap(), 7..8);
        assert!(parse_seeds("5..5").is_err() && parse_seeds("a..b").is_err());
    }
}
