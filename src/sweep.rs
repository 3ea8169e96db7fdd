//! Many runs of one scenario: a seed sweep, in parallel across
//! runs (worker threads; each run stays single-threaded), one JSON line per seed,
//! sorted by seed so that the output is the same whatever the number of
//! jobs. A sweep can be split into shards (`I/N`: the seeds whose position
//! in the range is I modulo N), run anywhere, and merged back.

use crate::scenario::Scenario;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// One seed's outcome: a line of `sweep.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    /// The scenario file, as the sweep was given it (for repro commands).
    pub scenario: String,
    pub seed: u64,
    pub verdict: crate::check::Verdict,
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
    /// Per group that had not processed every record it could read when
    /// the run stopped: how many it had not (absent: none). Its p99 counts
    /// only what finished.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unfinished: BTreeMap<String, u64>,
    pub sim_time_ns: u64,
    pub kernel_events: u64,
    pub faults: u64,
    /// Per business flow (`[[flows]]`): how its flows ended.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub flows: BTreeMap<String, FlowSeed>,
}

/// One flow's figures in one seed of a sweep.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowSeed {
    /// Root events created.
    pub started: u64,
    /// Started and not rejected at the front door.
    pub accepted: u64,
    pub completed: u64,
    pub compensated: u64,
    /// Rejected flows left with an effect.
    pub rejected_with_effects: u64,
    /// Root created -> completion acknowledged, p99 over completed flows.
    pub completion_p99_ns: u64,
}

/// A range of seeds, both ends included (so that the largest seed, u64::MAX,
/// can be named). Never materialised: seeds are drawn from it one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeds {
    pub first: u64,
    pub last: u64,
}

impl Seeds {
    /// Parse `A..B` (B excluded), `A..=B` (B included) or a single seed `A`.
    pub fn parse(text: &str) -> Result<Seeds, String> {
        let err = || {
            format!(
                "expected seeds as A..B (B excluded), A..=B or A, each between 0 and {}, e.g. 0..100, not `{text}`",
                u64::MAX
            )
        };
        let num = |t: &str| t.trim().parse::<u64>().map_err(|_| err());
        let (first, last) = if let Some((a, b)) = text.split_once("..=") {
            (num(a)?, num(b)?)
        } else if let Some((a, b)) = text.split_once("..") {
            let (a, b) = (num(a)?, num(b)?);
            (a, b.checked_sub(1).ok_or_else(err)?)
        } else {
            let a = num(text)?;
            (a, a)
        };
        if first > last {
            return Err(err());
        }
        Ok(Seeds { first, last })
    }

    /// How many seeds.
    pub fn len(self) -> u128 {
        (self.last - self.first) as u128 + 1
    }

    pub fn contains(self, seed: u64) -> bool {
        (self.first..=self.last).contains(&seed)
    }
}

impl std::fmt::Display for Seeds {
    /// `A..B` (B excluded) when B fits in a u64, else `A..=B`.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self.last.checked_add(1) {
            Some(end) => write!(f, "{}..{end}", self.first),
            None => write!(f, "{}..={}", self.first, self.last),
        }
    }
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

    /// Whether `seed` of `range` is this shard's.
    pub fn owns(self, range: Seeds, seed: u64) -> bool {
        range.contains(seed) && (seed - range.first) % self.count == self.index
    }

    /// The seeds of `range` this shard runs, in order, lazily.
    pub fn seeds(self, range: Seeds) -> impl Iterator<Item = u64> + Send {
        let start = range
            .first
            .checked_add(self.index)
            .filter(|&s| s <= range.last);
        let step = self.count;
        std::iter::successors(start, move |&s| {
            s.checked_add(step).filter(|&n| n <= range.last)
        })
    }

    /// How many seeds of `range` this shard runs.
    pub fn len(self, range: Seeds) -> u128 {
        let n = range.len();
        let i = self.index as u128;
        if n <= i {
            0
        } else {
            (n - i - 1) / self.count as u128 + 1
        }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The seeds of `range` owned by `shard` that are not in `done`, as
/// ranges `A..=B` (seeds of other shards inside a range are not meant).
pub fn missing(range: Seeds, shard: Shard, done: &std::collections::BTreeSet<u64>) -> Vec<Seeds> {
    let mut out = Vec::new();
    // The next seed of the shard not yet accounted for.
    let mut next = shard.seeds(range).next();
    for &seed in done.range(range.first..=range.last) {
        let Some(n) = next else { break };
        if !shard.owns(range, seed) || seed < n {
            continue;
        }
        if seed > n {
            out.push(Seeds {
                first: n,
                last: seed - shard.count,
            });
        }
        next = seed.checked_add(shard.count).filter(|&s| s <= range.last);
    }
    if let Some(n) = next {
        let last = range.last - (range.last - n) % shard.count;
        out.push(Seeds { first: n, last });
    }
    out
}

/// Ranges of seeds, shortened for a message: the first `shown`, then how
/// many more.
pub fn describe(ranges: &[Seeds], shown: usize) -> String {
    let mut parts: Vec<String> = ranges
        .iter()
        .take(shown)
        .map(|r| {
            if r.first == r.last {
                r.first.to_string()
            } else {
                format!("{}..={}", r.first, r.last)
            }
        })
        .collect();
    if ranges.len() > shown {
        parts.push(format!("and {} more range(s)", ranges.len() - shown));
    }
    parts.join(", ")
}

/// `sweep.json`: what a sweep folder holds, written last.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub eventsim_sweep: u32,
    pub version: String,
    /// The scenario file, as the sweep was given it.
    pub scenario: String,
    /// FNV-1a of the scenario file's bytes: a resume or a merge of another
    /// scenario's results is refused.
    pub scenario_hash: String,
    /// The seed range asked for, `A..B` or `A..=B`.
    pub seeds: String,
    /// `I/N`.
    pub shard: String,
    /// How many seeds this folder's `sweep.jsonl` holds.
    pub seeds_run: u64,
    /// Every seed of the shard ran (or `--fail-fast` stopped it on purpose:
    /// `stopped_by` says so).
    pub complete: bool,
    /// `complete`, `fail-fast` or `interrupted`.
    pub stopped_by: String,
    /// Seeds of the shard that did not run, as `A..=B` ranges (of the
    /// shard's seeds only), at most `MISSING_LISTED` of them.
    pub missing: Vec<String>,
    /// How many ranges `missing` would list in full.
    pub missing_ranges: u64,
}

/// At most this many missing ranges are listed in `sweep.json`.
pub const MISSING_LISTED: usize = 1000;

/// FNV-1a (64 bits) of `bytes`, in hex: a stable fingerprint of a file.
pub fn fingerprint(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Run one seed with the checkers (violations are counted, not explained).
pub fn run_seed(s: &Scenario, path: &str, seed: u64) -> SeedResult {
    let (c, _) = crate::run_checks(s, seed, Vec::new());
    let r = &c.result;
    let m = &r.metrics;
    SeedResult {
        scenario: path.to_string(),
        seed,
        verdict: c.verdict(),
        failed: c
            .checks
            .iter()
            .filter(|x| x.status == crate::check::CheckStatus::Fail)
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
        unfinished: (r.catalog.groups.iter().zip(&r.unfinished))
            .filter(|(_, u)| u.events > 0)
            .map(|(g, u)| (g.clone(), u.events))
            .collect(),
        sim_time_ns: r.sim_time_ns,
        kernel_events: r.kernel_events,
        faults: r.fault_log.iter().filter(|f| f.phase == "start").count() as u64,
        flows: m
            .flows()
            .into_iter()
            .map(|f| {
                let seed = FlowSeed {
                    started: f.started,
                    accepted: f.started.saturating_sub(f.rejected),
                    completed: f.completed,
                    compensated: f.compensated,
                    rejected_with_effects: f.rejected_with_effects,
                    completion_p99_ns: f.completion_ns.p99,
                };
                (f.name, seed)
            })
            .collect(),
    }
}

/// Run `f` on every item of `items` with `jobs` worker threads, handing
/// each result to `done` on the calling thread as it comes (in completion
/// order: sort afterwards for a deterministic output). Items are drawn
/// one at a time, so `items` may be endless; `stop` ends the run early:
/// running items finish, no new one starts.
pub fn pool<I, T, R>(
    jobs: usize,
    items: I,
    stop: &AtomicBool,
    f: impl Fn(T) -> R + Sync,
    mut done: impl FnMut(R),
) where
    I: Iterator<Item = T> + Send,
    T: Send,
    R: Send,
{
    let items = std::sync::Mutex::new(items);
    let (tx, rx) = std::sync::mpsc::channel::<R>();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let tx = tx.clone();
            let (items, f) = (&items, &f);
            scope.spawn(move || {
                loop {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Some(item) = items.lock().map_or(None, |mut i| i.next()) else {
                        break;
                    };
                    if tx.send(f(item)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for r in rx {
            done(r);
        }
    });
}

/// Run the `seeds` on `jobs` threads, handing each result to `done` as it
/// finishes. `stop` ends the sweep early (Ctrl-C, or the first failure
/// with `fail_fast`): seeds already running finish, no new one starts.
pub fn sweep(
    s: &Scenario,
    path: &str,
    seeds: impl Iterator<Item = u64> + Send,
    jobs: usize,
    fail_fast: bool,
    stop: &AtomicBool,
    done: impl FnMut(SeedResult),
) {
    pool(
        jobs,
        seeds,
        stop,
        |seed| {
            let r = run_seed(s, path, seed);
            if fail_fast && r.verdict == crate::check::Verdict::Fail {
                stop.store(true, Ordering::SeqCst);
            }
            r
        },
        done,
    );
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
        let range = Seeds::parse("10..30").unwrap();
        let all: Vec<u64> = (10..30).collect();
        let mut union: Vec<u64> = (0..3)
            .flat_map(|i| Shard { index: i, count: 3 }.seeds(range))
            .collect();
        union.sort_unstable();
        assert_eq!(union, all);
        for i in 0..3 {
            let shard = Shard { index: i, count: 3 };
            assert_eq!(shard.len(range), shard.seeds(range).count() as u128);
        }
        assert_eq!(Shard::parse("2/3").unwrap(), Shard { index: 2, count: 3 });
        assert!(
            Shard::parse("3/3").is_err()
                && Shard::parse("1/0").is_err()
                && Shard::parse("x").is_err()
        );
        assert_eq!(Seeds::parse("0..20").unwrap(), Seeds { first: 0, last: 19 });
        assert_eq!(Seeds::parse("7").unwrap(), Seeds { first: 7, last: 7 });
        assert_eq!(Seeds::parse("3..=5").unwrap(), Seeds { first: 3, last: 5 });
        assert!(Seeds::parse("5..5").is_err() && Seeds::parse("a..b").is_err());
        assert!(Seeds::parse("18446744073709551616").is_err());
    }

    #[test]
    fn the_largest_seed_is_a_seed_and_huge_ranges_are_not_materialised() {
        let max = Seeds::parse("18446744073709551615").unwrap();
        assert_eq!(max.len(), 1);
        assert_eq!(Shard::ALL.seeds(max).collect::<Vec<_>>(), vec![u64::MAX]);
        assert_eq!(
            max.to_string(),
            "18446744073709551615..=18446744073709551615"
        );
        let all = Seeds::parse("0..=18446744073709551615").unwrap();
        assert_eq!(all.len(), 1u128 << 64);
        let shard = Shard { index: 5, count: 7 };
        let first: Vec<u64> = shard.seeds(all).take(3).collect();
        assert_eq!(first, vec![5, 12, 19]);
        let tail = Seeds {
            first: u64::MAX - 10,
            last: u64::MAX,
        };
        assert_eq!(Shard::ALL.seeds(tail).count(), 11);
    }

    #[test]
    fn missing_seeds_are_the_shards_seeds_that_did_not_run() {
        let range = Seeds::parse("0..20").unwrap();
        let shard = Shard { index: 1, count: 3 }; // 1 4 7 10 13 16 19
        let done: std::collections::BTreeSet<u64> = [1, 4, 13, 2].into_iter().collect();
        let m = missing(range, shard, &done);
        assert_eq!(
            m,
            vec![
                Seeds { first: 7, last: 10 },
                Seeds {
                    first: 16,
                    last: 19
                }
            ]
        );
        assert_eq!(describe(&m, 1), "7..=10, and 1 more range(s)");
        let all: std::collections::BTreeSet<u64> = shard.seeds(range).collect();
        assert!(missing(range, shard, &all).is_empty());
        assert_eq!(missing(range, Shard::ALL, &Default::default()), vec![range]);
    }

    #[test]
    fn a_pool_runs_every_item_once_and_stops_when_told() {
        let stop = AtomicBool::new(false);
        let mut got = Vec::new();
        pool(3, 0..100u64, &stop, |x| x * 2, |r| got.push(r));
        got.sort_unstable();
        assert_eq!(got, (0..100).map(|x| x * 2).collect::<Vec<_>>());
        let stop = AtomicBool::new(false);
        let mut n = 0;
        pool(
            2,
            0..,
            &stop,
            |x: u64| {
                if x >= 10 {
                    stop.store(true, Ordering::SeqCst);
                }
                x
            },
            |_| n += 1,
        );
        assert!((11..=20).contains(&n), "an endless range stops: {n}");
    }
}
