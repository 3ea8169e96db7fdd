//! Shrinking a failing run to a small repro: the run's fired
//! faults become a concrete schedule (the random generator off), delta
//! debugging (ddmin) removes faults while the same invariant still fails,
//! then the workload shrinks (shorter duration, lower rates, fewer keys,
//! partitions, consumers and brokers) as long as it still fails. Every step
//! is a deterministic run, so shrinking is deterministic too.

use crate::scenario::{Fault, Faults, Scenario};

/// What shrinking found.
pub struct Shrunk {
    /// The small scenario, its seed in `[scenario] seed`.
    pub scenario: Scenario,
    pub invariant: String,
    pub faults_before: usize,
    /// The faults removed, in words.
    pub removed: Vec<String>,
    /// What of the workload was reduced, in words (`duration 20s -> 10s`).
    pub reduced: Vec<String>,
    /// Candidate runs tried.
    pub tried: u64,
}

/// Runs at most this many candidates for the workload pass.
const MAX_WORKLOAD_TRIES: u64 = 300;

/// Shrink the failing run of `s` with `seed`. `invariant` picks which
/// violation to keep (default: the first failing checker). `progress` is
/// called with the number of candidates tried after each.
pub fn shrink(
    s: &Scenario,
    seed: u64,
    invariant: Option<&str>,
    progress: &mut dyn FnMut(u64),
) -> Result<Shrunk, String> {
    let (first, _) = crate::run_checks(s, seed, Vec::new());
    let failed: Vec<String> = first
        .checks
        .iter()
        .filter(|c| c.status == crate::check::CheckStatus::Fail)
        .map(|c| c.name.clone())
        .collect();
    let invariant = match invariant {
        Some(name) if failed.iter().any(|f| f == name) => name.to_string(),
        Some(name) => {
            return Err(format!(
                "seed {seed} does not violate `{name}` (violated: {})",
                if failed.is_empty() {
                    "nothing".to_string()
                } else {
                    failed.join(", ")
                }
            ));
        }
        None => failed
            .first()
            .cloned()
            .ok_or_else(|| format!("seed {seed} violates no invariant: nothing to shrink"))?,
    };
    let tried = std::cell::Cell::new(0u64);
    let mut fails = |candidate: &Scenario| -> bool {
        tried.set(tried.get() + 1);
        let (c, _) = crate::run_checks(candidate, seed, Vec::new());
        progress(tried.get());
        c.checks
            .iter()
            .any(|r| r.name == invariant && r.status == crate::check::CheckStatus::Fail)
    };

    // The concrete schedule of what fired.
    let schedule = first.result.fired_schedule();
    let faults_before = schedule.len();
    let with = |faults: &[Fault]| -> Scenario {
        let mut c = s.clone();
        c.faults = Faults {
            schedule: faults.to_vec(),
            random: None,
            table_form: false,
        };
        c.scenario.seed = seed;
        c
    };
    let mut removed = Vec::new();
    let concrete = with(&schedule);
    if !fails(&concrete) {
        return Err("the fired faults as a schedule do not reproduce the violation (a bug: please report it)".into());
    }
    let kept = ddmin(schedule.clone(), &mut |faults: &[Fault]| {
        fails(&with(faults))
    });
    for f in &schedule {
        if !kept.contains(f) {
            removed.push(describe(f));
        }
    }
    let mut current = with(&kept);

    // The workload, greedily, while it still fails.
    let mut reduced = Vec::new();
    let budget_end = tried.get() + MAX_WORKLOAD_TRIES;
    let mut changed = true;
    while changed && tried.get() < budget_end {
        changed = false;
        for (what, candidate) in reductions(&current) {
            if tried.get() >= budget_end {
                break;
            }
            if !candidate.problems().is_empty() {
                continue;
            }
            if fails(&candidate) {
                note_reduction(&mut reduced, what);
                current = candidate;
                changed = true;
                break;
            }
        }
    }
    // Its own name, so that running it writes its own report
    // (reports/NAME-shrunk/...) instead of over the one being investigated.
    // The name reaches no random stream: the repro fails the same way.
    current.scenario.name = format!("{}-shrunk", s.scenario.name);
    Ok(Shrunk {
        scenario: current,
        invariant,
        faults_before,
        removed,
        reduced,
        tried: tried.get(),
    })
}

/// A fault in words: `crash broker-1 at 10.445s`.
pub fn describe(f: &Fault) -> String {
    let target = f.target.as_ref().map_or(String::new(), |t| format!(" {t}"));
    format!(
        "fault {}{target} at {:.3}s",
        f.kind.as_str(),
        f.at.ns() as f64 / 1e9
    )
}

/// Smaller variants of a scenario's workload, each with what it changes.
fn reductions(s: &Scenario) -> Vec<(String, Scenario)> {
    let mut out = Vec::new();
    let d = s.scenario.duration.ns();
    if d >= 2_000_000_000 {
        let mut c = s.clone();
        c.scenario.duration = crate::scenario::Duration(d / 2);
        out.push((
            format!(
                "duration {} -> {}",
                s.scenario.duration, c.scenario.duration
            ),
            c,
        ));
    }
    for (i, p) in s.producers.iter().enumerate() {
        if p.rate >= 2.0 {
            let mut c = s.clone();
            c.producers[i].rate = (p.rate / 2.0).floor();
            out.push((
                format!(
                    "producer {} rate {} -> {}",
                    p.name, p.rate, c.producers[i].rate
                ),
                c,
            ));
        }
        let n = p.keys.n();
        if n >= 2 {
            let mut c = s.clone();
            match &mut c.producers[i].keys {
                crate::scenario::Keys::Uniform { n }
                | crate::scenario::Keys::Zipf { n, .. }
                | crate::scenario::Keys::Sequential { n } => *n /= 2,
            }
            out.push((format!("producer {} keys {n} -> {}", p.name, n / 2), c));
        }
    }
    for (i, t) in s.topics.iter().enumerate() {
        if t.partitions >= 2 {
            let mut c = s.clone();
            c.topics[i].partitions /= 2;
            out.push((
                format!(
                    "topic {} partitions {} -> {}",
                    t.name, t.partitions, c.topics[i].partitions
                ),
                c,
            ));
        }
    }
    for (i, g) in s.groups.iter().enumerate() {
        if g.consumers >= 2 {
            let mut c = s.clone();
            c.groups[i].consumers -= 1;
            out.push((
                format!(
                    "group {} consumers {} -> {}",
                    g.name,
                    g.consumers,
                    g.consumers - 1
                ),
                c,
            ));
        }
    }
    if s.cluster.brokers >= 2 {
        let mut c = s.clone();
        c.cluster.brokers -= 1;
        out.push((
            format!("brokers {} -> {}", s.cluster.brokers, c.cluster.brokers),
            c,
        ));
    }
    out
}

/// Zeller's ddmin: a 1-minimal subset of `items` for which `test` holds,
/// given that it holds for `items`.
pub fn ddmin<T: Clone>(items: Vec<T>, test: &mut dyn FnMut(&[T]) -> bool) -> Vec<T> {
    if items.is_empty() || test(&[]) {
        return Vec::new();
    }
    let mut c = items;
    let mut n = 2usize;
    while c.len() >= 2 {
        let size = c.len().div_ceil(n);
        let chunks: Vec<Vec<T>> = c.chunks(size).map(<[T]>::to_vec).collect();
        let mut reduced = false;
        for chunk in &chunks {
            if test(chunk) {
                c = chunk.clone();
                n = 2;
                reduced = true;
                break;
            }
        }
        if !reduced && chunks.len() > 2 {
            for i in 0..chunks.len() {
                let complement: Vec<T> = chunks
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .flat_map(|(_, ch)| ch.iter().cloned())
                    .collect();
                if test(&complement) {
                    c = complement;
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
        }
        if !reduced {
            if n >= c.len() {
                break;
            }
            n = (n * 2).min(c.len());
        }
    }
    c
}

/// The repro file: the shrunk scenario with a header saying where it came from.
pub fn repro_file(shrunk: &Shrunk, source: &str, seed: u64) -> String {
    let mut out = format!(
        "# Shrunk by `eventsim shrink {source} --seed {seed}`: still violates `{}`.\n\
         # Run it with `eventsim run FILE` (the seed is in [scenario]).\n",
        shrunk.invariant
    );
    for r in &shrunk.removed {
        out.push_str(&format!("# removed: {r}\n"));
    }
    for r in &shrunk.reduced {
        out.push_str(&format!("# reduced: {r}\n"));
    }
    out.push('\n');
    out.push_str(
        &toml_edit::ser::to_string_pretty(&shrunk.scenario).expect("a scenario serializes"),
    );
    out
}

/// The subject and the two values of `SUBJECT FROM -> TO`.
fn reduction_parts(line: &str) -> Option<(&str, &str, &str)> {
    let (left, to) = line.rsplit_once(" -> ")?;
    let (subject, from) = left.rsplit_once(' ')?;
    Some((subject, from, to))
}

/// Record one step of the workload's reduction: a later step of a subject
/// already reduced extends its line (`duration 20s -> 10s` then `10s ->
/// 5s` read `duration 20s -> 5s`), so each subject is one line.
fn note_reduction(reduced: &mut Vec<String>, what: String) {
    if let Some((subject, _, to)) = reduction_parts(&what)
        && let Some(line) = reduced
            .iter_mut()
            .find(|l| reduction_parts(l).is_some_and(|(s, _, _)| s == subject))
        && let Some((_, from, _)) = reduction_parts(line)
    {
        *line = format!("{subject} {from} -> {to}");
        return;
    }
    reduced.push(what);
}

#[cfg(test)]
mod tests {
    use super::{ddmin, note_reduction};

    #[test]
    fn each_reduced_subject_is_one_line_from_first_to_last_value() {
        let mut r = Vec::new();
        for step in [
            "duration 20s -> 10s",
            "producer checkout keys 500 -> 250",
            "duration 10s -> 5s",
            "producer checkout keys 250 -> 125",
            "producer other keys 9 -> 4",
        ] {
            note_reduction(&mut r, step.to_string());
        }
        assert_eq!(
            r,
            [
                "duration 20s -> 5s",
                "producer checkout keys 500 -> 125",
                "producer other keys 9 -> 4"
            ]
        );
    }

    #[test]
    fn ddmin_finds_the_one_culprit() {
        let mut runs = 0;
        let kept = ddmin((0..16).collect(), &mut |s: &[u32]| {
            runs += 1;
            s.contains(&11)
        });
        assert_eq!(kept, vec![11]);
        assert!(runs < 30, "{runs}");
    }

    #[test]
    fn ddmin_keeps_a_pair_that_fails_only_together() {
        let kept = ddmin((0..10).collect(), &mut |s: &[u32]| {
            s.contains(&2) && s.contains(&7)
        });
        assert_eq!(kept, vec![2, 7]);
    }

    #[test]
    fn ddmin_empties_when_nothing_is_needed() {
        assert!(ddmin(vec![1, 2, 3], &mut |_: &[u32]| true).is_empty());
    }
}
