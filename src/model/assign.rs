//! Consumer-group partition assignment strategies, as pure functions.
//!
//! Inputs are the group's subscribed partitions (grouped by topic, in topic
//! order), the live members in member order, and the previous owners; the
//! output gives each partition its new owner. Kafka's `range`,
//! `round-robin`, `sticky` and `cooperative-sticky` (which assigns like
//! `sticky`; the protocol difference lives in the group coordinator).

use crate::scenario::Assignment;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

/// Assign `parts_by_topic` (each inner list one topic's partitions, in
/// order) to `members`. `previous[i]` is the earlier owner of the i-th
/// partition of the flattened list. Returns the owner of each partition of
/// the flattened list; `None` only when there are no members.
pub fn assign(
    strategy: Assignment,
    parts_by_topic: &[usize],
    members: &[u32],
    previous: &[Option<u32>],
) -> Vec<Option<u32>> {
    let total: usize = parts_by_topic.iter().sum();
    if members.is_empty() {
        return vec![None; total];
    }
    match strategy {
        Assignment::Range => range(parts_by_topic, members),
        Assignment::RoundRobin => (0..total)
            .map(|j| Some(members[j % members.len()]))
            .collect(),
        Assignment::Sticky | Assignment::CooperativeSticky => sticky(total, members, previous),
    }
}

fn range(parts_by_topic: &[usize], members: &[u32]) -> Vec<Option<u32>> {
    let m = members.len();
    let mut out = Vec::new();
    for &n in parts_by_topic {
        let (base, extra) = (n / m, n % m);
        for (i, &member) in members.iter().enumerate() {
            let count = base + usize::from(i < extra);
            out.extend(std::iter::repeat_n(Some(member), count));
        }
    }
    out
}

/// Kafka's sticky assignment: keep what members owned, up to the quota,
/// give the rest to the least loaded, then balance. Each step picks the
/// member a linear scan would pick (least load, then member order), from
/// ordered sets, so a million members or partitions cost n log n.
fn sticky(total: usize, members: &[u32], previous: &[Option<u32>]) -> Vec<Option<u32>> {
    debug_assert!(members.is_sorted());
    let m = members.len();
    let quota_hi = total.div_ceil(m);
    let mut owner: Vec<Option<usize>> = vec![None; total];
    let mut load = vec![0usize; m];
    // 1. Keep previous owners that are still members, up to the quota.
    for (p, prev) in previous.iter().enumerate().take(total) {
        let member = prev.and_then(|c| members.binary_search(&c).ok());
        if let Some(i) = member.filter(|&i| load[i] < quota_hi) {
            load[i] += 1;
            owner[p] = Some(i);
        }
    }
    // 2. Everything else to the least-loaded member (ties: member order).
    let mut least: BinaryHeap<Reverse<(usize, usize)>> =
        (0..m).map(|i| Reverse((load[i], i))).collect();
    for slot in owner.iter_mut().filter(|o| o.is_none()) {
        let Reverse((l, i)) = least.pop().expect("members is not empty");
        load[i] = l + 1;
        least.push(Reverse((l + 1, i)));
        *slot = Some(i);
    }
    // 3. Balance: move the last partition of the most loaded member (ties:
    // member order) to the least loaded, until loads differ by at most one.
    let (min, max) = (load.iter().min(), load.iter().max());
    if max.zip(min).is_some_and(|(hi, lo)| *hi > lo + 1) {
        let mut by_low: BTreeSet<(usize, usize)> = (0..m).map(|i| (load[i], i)).collect();
        let mut by_high: BTreeSet<(usize, Reverse<usize>)> =
            (0..m).map(|i| (load[i], Reverse(i))).collect();
        let mut owned: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); m];
        for (p, o) in owner.iter().enumerate() {
            if let Some(i) = o {
                owned[*i].insert(p);
            }
        }
        loop {
            let (_, Reverse(hi)) = *by_high.last().expect("members");
            let (_, lo) = *by_low.first().expect("members");
            if load[hi] <= load[lo] + 1 {
                break;
            }
            let p = owned[hi]
                .pop_last()
                .expect("loaded member owns a partition");
            owned[lo].insert(p);
            owner[p] = Some(lo);
            for (i, delta) in [(hi, -1isize), (lo, 1)] {
                by_low.remove(&(load[i], i));
                by_high.remove(&(load[i], Reverse(i)));
                load[i] = load[i]
                    .checked_add_signed(delta)
                    .expect("load stays positive");
                by_low.insert((load[i], i));
                by_high.insert((load[i], Reverse(i)));
            }
        }
    }
    owner.into_iter().map(|o| o.map(|i| members[i])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(owner: &[Option<u32>], members: &[u32]) -> Vec<usize> {
        members
            .iter()
            .map(|m| owner.iter().filter(|o| **o == Some(*m)).count())
            .collect()
    }

    #[test]
    fn range_gives_contiguous_ranges_per_topic() {
        let got = assign(Assignment::Range, &[5, 2], &[0, 1], &[]);
        let want = [0, 0, 0, 1, 1, 0, 1].map(Some);
        assert_eq!(got, want.to_vec());
    }

    #[test]
    fn round_robin_deals_partitions_in_turn() {
        let got = assign(Assignment::RoundRobin, &[3, 2], &[4, 7], &[]);
        assert_eq!(got, [4, 7, 4, 7, 4].map(Some).to_vec());
    }

    #[test]
    fn sticky_keeps_owners_and_balances() {
        let first = assign(Assignment::Sticky, &[6], &[0, 1, 2], &[]);
        assert_eq!(counts(&first, &[0, 1, 2]), vec![2, 2, 2]);
        // Member 2 leaves: members 0 and 1 keep what they had.
        let second = assign(Assignment::Sticky, &[6], &[0, 1], &first);
        assert_eq!(counts(&second, &[0, 1]), vec![3, 3]);
        for (p, owner) in first.iter().enumerate() {
            if *owner != Some(2) {
                assert_eq!(second[p], *owner, "partition {p} moved needlessly");
            }
        }
        // Member 2 comes back: it takes partitions, the others keep the rest.
        let third = assign(Assignment::CooperativeSticky, &[6], &[0, 1, 2], &second);
        assert_eq!(counts(&third, &[0, 1, 2]), vec![2, 2, 2]);
        let moved = (0..6).filter(|&p| third[p] != second[p]).count();
        assert_eq!(moved, 2);
    }

    #[test]
    fn no_members_means_unassigned() {
        assert_eq!(assign(Assignment::Range, &[2], &[], &[]), vec![None, None]);
    }

    /// The scan this module's `sticky` replaced, kept as its oracle.
    fn sticky_by_scan(total: usize, members: &[u32], previous: &[Option<u32>]) -> Vec<Option<u32>> {
        let m = members.len();
        let quota_hi = total.div_ceil(m);
        let mut owner: Vec<Option<usize>> = vec![None; total];
        let mut load = vec![0usize; m];
        for (p, prev) in previous.iter().enumerate().take(total) {
            let member = prev.and_then(|c| members.iter().position(|&x| x == c));
            if let Some(i) = member.filter(|&i| load[i] < quota_hi) {
                load[i] += 1;
                owner[p] = Some(i);
            }
        }
        for slot in owner.iter_mut().filter(|o| o.is_none()) {
            let i = (0..m).min_by_key(|&i| (load[i], i)).unwrap();
            load[i] += 1;
            *slot = Some(i);
        }
        loop {
            let hi = (0..m)
                .max_by_key(|&i| (load[i], std::cmp::Reverse(i)))
                .unwrap();
            let lo = (0..m).min_by_key(|&i| (load[i], i)).unwrap();
            if load[hi] <= load[lo] + 1 {
                break;
            }
            let p = owner.iter().rposition(|o| *o == Some(hi)).unwrap();
            owner[p] = Some(lo);
            load[hi] -= 1;
            load[lo] += 1;
        }
        owner.into_iter().map(|o| o.map(|i| members[i])).collect()
    }

    #[test]
    fn sticky_picks_what_a_scan_picks() {
        use rand::Rng as _;
        let mut rng = crate::kernel::rng_stream(7, "sticky");
        let mut below = |n: u64| (rng.next_u64() % n) as u32;
        for _ in 0..3000 {
            let total = below(40) as usize;
            let mut members: Vec<u32> = (0..1 + below(8)).map(|_| below(12)).collect();
            members.sort_unstable();
            members.dedup();
            // Previous owners: members, departed members, or nobody; often
            // lopsided, so the balancing step has work to do.
            let lopsided = below(2) == 0;
            let previous: Vec<Option<u32>> = (0..total)
                .map(|_| match below(4) {
                    0 => None,
                    _ if lopsided => Some(members[0]),
                    _ => Some(below(12)),
                })
                .collect();
            assert_eq!(
                sticky(total, &members, &previous),
                sticky_by_scan(total, &members, &previous),
                "{total} partitions, members {members:?}, previous {previous:?}"
            );
        }
    }
}
