//! `convergence`.

use super::*;

/// An acknowledged event a group has not started reading the partition of:
/// (offset, key, version, value, event).
type Waiting = (u64, KeyId, u32, u32, EventId);

/// `convergence`: once producers stop and faults heal, each group's
/// projection equals the reference (the fold of the unique acknowledged
/// events it reads, in per-key version order), within the deadline.
///
/// Writes whose outcome the producer never learned as a success (failed
/// after a timeout or a crash, or still unresolved) may or may not be in
/// the log, as Jepsen treats indeterminate operations: those the group
/// applied are taken as having happened and join the reference, the others
/// as not.
pub(super) struct Convergence {
    deadline_ns: Time,
    /// Per group: the projection against the reference, for the keys where
    /// they differ now.
    keys: Vec<Projection>,
    set_seen: Vec<EventBits>,
    excluded: Vec<EventBits>,
    acked: EventBits,
    /// Records of aborted transactions: never committed, so not part of
    /// any group's reference, even if a `read_uncommitted` group applied
    /// them.
    aborted: EventBits,
    /// Per group: events applied before (or without) an acknowledgement:
    /// event -> (key, version, value). Those never acknowledged are
    /// indeterminate writes that happened.
    applied_unacked: Vec<FastMap<EventId, (KeyId, u32, u32)>>,
    /// Per group x partition: the offset the group started reading it
    /// from, once it has.
    start: Vec<Option<u64>>,
    /// Per partition: reader groups that have not started reading it.
    unstarted: Vec<u32>,
    partitions: usize,
    /// Offsets of events on partitions some reader has not started yet.
    offsets: FastMap<EventId, u64>,
    /// Per (group, partition) not started yet: acknowledged events waiting
    /// to learn whether they come before the group's start (a `latest`
    /// group never reads those): (offset, key, version, value).
    waiting: BTreeMap<(u32, u32), Vec<Waiting>>,
    /// Per group: the last time its projection changed.
    changed_ns: Vec<Time>,
    figures: BTreeMap<String, Time>,
    /// On a cut run: the groups whose projection still differed.
    open: Option<String>,
}

impl Convergence {
    pub(super) fn new(ctx: &Context, deadline_ns: Time) -> Self {
        let g = ctx.catalog.groups.len();
        Convergence {
            deadline_ns,
            keys: ctx
                .effects
                .iter()
                .map(|&e| {
                    if e == Effect::LastWrite {
                        Projection::LastWrite(FastMap::default())
                    } else {
                        Projection::Difference(FastMap::default())
                    }
                })
                .collect(),
            set_seen: vec![EventBits::default(); g],
            excluded: vec![EventBits::default(); g],
            acked: EventBits::default(),
            aborted: EventBits::default(),
            applied_unacked: vec![FastMap::default(); g],
            start: vec![None; g * ctx.catalog.partitions.len()],
            unstarted: ctx.readers.iter().map(|r| r.len() as u32).collect(),
            partitions: ctx.catalog.partitions.len(),
            offsets: FastMap::default(),
            waiting: BTreeMap::new(),
            changed_ns: vec![0; g],
            figures: BTreeMap::new(),
            open: None,
        }
    }
}

impl Convergence {
    fn started(&self, group: u32, partition: u32) -> bool {
        self.start[group as usize * self.partitions + partition as usize].is_some()
    }

    /// An event that is not the group's to apply (retention deleted it
    /// first, or the handler gave up on it): take it out of the reference.
    fn exclude(
        &mut self,
        ctx: &Context,
        group: u32,
        partition: Option<u32>,
        event: EventId,
        key: KeyId,
        value: u32,
    ) {
        let g = group as usize;
        let effect = ctx.effects[g];
        let folded = partition.is_none_or(|p| self.started(group, p));
        if !self.excluded[g].insert(event)
            && folded
            && self.acked.contains(event)
            && let Projection::Difference(d) = &mut self.keys[g]
        {
            add(d, key, contribution(effect, value));
        }
    }

    /// Fold an event that happened into group `g`'s reference.
    fn add_to_reference(&mut self, ctx: &Context, g: usize, key: KeyId, version: u32, value: u32) {
        match &mut self.keys[g] {
            Projection::LastWrite(m) => {
                let k = m.entry(key).or_default();
                if version > k.reference_version {
                    k.reference = i64::from(value);
                    k.reference_version = version;
                }
            }
            Projection::Difference(d) => add(d, key, -contribution(ctx.effects[g], value)),
        }
    }
}

/// A group's projection held against its reference.
///
/// For `sum`, `count` and `set` only the difference (projection minus
/// reference) of the keys where it is not zero: a key whose effects have
/// all been both applied and acknowledged costs nothing, so memory follows
/// what is in flight, not the number of keys ever written. `last-write`
/// keeps both values and the reference's version for every key: whether a
/// late acknowledgement replaces the reference depends on that version.
enum Projection {
    Difference(FastMap<KeyId, i64>),
    LastWrite(FastMap<KeyId, LastWrite>),
}

#[derive(Clone, Copy, Default)]
struct LastWrite {
    projection: i64,
    reference: i64,
    reference_version: u32,
}

/// Add `delta` to `key`'s difference, forgetting the key when it is zero.
fn add(d: &mut FastMap<KeyId, i64>, key: KeyId, delta: i64) {
    if delta == 0 {
        return;
    }
    let slot = d.entry(key).or_insert(0);
    *slot += delta;
    if *slot == 0 {
        d.remove(&key);
    }
}

impl Projection {
    /// The keys where the projection differs from the reference, in key
    /// order, with the difference, or the projection and the reference.
    #[allow(clippy::disallowed_methods)] // the keys are sorted before they are returned
    fn differing(&self) -> Vec<(KeyId, Differs)> {
        let mut out: Vec<(KeyId, Differs)> = match self {
            Projection::Difference(d) => d.iter().map(|(&k, &by)| (k, Differs::By(by))).collect(),
            Projection::LastWrite(m) => m
                .iter()
                .filter(|(_, w)| w.projection != w.reference)
                .map(|(&k, w)| (k, Differs::Values(w.projection, w.reference)))
                .collect(),
        };
        out.sort_unstable_by_key(|&(k, _)| k);
        out
    }
}

#[derive(Clone, Copy)]
enum Differs {
    By(i64),
    Values(i64, i64),
}

impl std::fmt::Display for Differs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Differs::By(by) if by > 0 => write!(f, "{by} more than the reference"),
            Differs::By(by) => write!(f, "{} less than the reference", -by),
            Differs::Values(projection, reference) => {
                write!(f, "{projection} instead of {reference}")
            }
        }
    }
}

fn contribution(effect: Effect, value: u32) -> i64 {
    match effect {
        Effect::Sum => i64::from(value),
        Effect::LastWrite => i64::from(value),
        Effect::Count | Effect::Set => 1,
    }
}

impl Checker for Convergence {
    fn name(&self) -> &'static str {
        "convergence"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[
            Kind::Aborted,
            Kind::Acked,
            Kind::Appended,
            Kind::Applied,
            Kind::Assigned,
            Kind::Compacted,
            Kind::Expired,
            Kind::GaveUp,
        ]
    }
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation) {
        match *o {
            Observation::Acked {
                event,
                partition,
                key,
                version,
                value,
                ..
            } => {
                self.acked.insert(event);
                let offset = self.offsets.get(&event).copied().unwrap_or(u64::MAX);
                for &g in &ctx.readers[partition as usize] {
                    if self.unstarted[partition as usize] > 0 && !self.started(g, partition) {
                        self.waiting
                            .entry((g, partition))
                            .or_default()
                            .push((offset, key, version, value, event));
                        continue;
                    }
                    let start = self.start[g as usize * self.partitions + partition as usize];
                    let g = g as usize;
                    self.applied_unacked[g].remove(&event);
                    // Appended below where a `latest` group started, but
                    // acknowledged only after: not the group's to read.
                    if self.excluded[g].contains(event) || start.is_some_and(|s| offset < s) {
                        continue;
                    }
                    self.add_to_reference(ctx, g, key, version, value);
                }
            }
            Observation::Appended {
                event,
                partition,
                offset,
            } if self.unstarted[partition as usize] > 0 => {
                self.offsets.insert(event, offset);
            }
            Observation::Assigned {
                group,
                partition,
                offset,
                ..
            } => {
                let i = group as usize * self.partitions + partition as usize;
                if self.start[i].is_none() {
                    // What came before the group's first position is not its
                    // to read (a `latest` start): fold in only the rest.
                    self.start[i] = Some(offset);
                    self.unstarted[partition as usize] -= 1;
                    let g = group as usize;
                    for (o, key, version, value, event) in
                        self.waiting.remove(&(group, partition)).unwrap_or_default()
                    {
                        self.applied_unacked[g].remove(&event);
                        if o >= offset && !self.excluded[g].contains(event) {
                            self.add_to_reference(ctx, g, key, version, value);
                        }
                    }
                }
            }
            Observation::Expired {
                event,
                group,
                partition,
                key,
                value,
                ..
            }
            | Observation::Compacted {
                event,
                group,
                partition,
                key,
                value,
                ..
            } => self.exclude(ctx, group, Some(partition), event, key, value),
            Observation::GaveUp {
                event,
                group,
                key,
                value,
                ..
            } => self.exclude(ctx, group, None, event, key, value),
            Observation::Aborted { event, .. } => {
                self.aborted.insert(event);
            }
            Observation::Applied {
                event,
                group,
                key,
                version,
                value,
                ..
            } => {
                let g = group as usize;
                if !self.acked.contains(event) {
                    self.applied_unacked[g].insert(event, (key, version, value));
                }
                let changed = match &mut self.keys[g] {
                    Projection::LastWrite(m) => {
                        let k = m.entry(key).or_default();
                        let before = k.projection;
                        k.projection = i64::from(value);
                        k.projection != before
                    }
                    Projection::Difference(d) => {
                        let delta = match ctx.effects[g] {
                            Effect::Set if self.set_seen[g].insert(event) => 0,
                            effect => contribution(effect, value),
                        };
                        add(d, key, delta);
                        delta != 0
                    }
                };
                if changed {
                    self.changed_ns[g] = at;
                }
            }
            _ => {}
        }
    }
    fn released(&mut self, below: EventId) {
        // Kept: `excluded` and `aborted`, which `finish` reads for writes
        // applied and never acknowledged, however old.
        self.acked.release_below(below);
        for b in &mut self.set_seen {
            b.release_below(below);
        }
    }
    #[allow(clippy::disallowed_methods)] // sorted before use
    fn finish(&mut self, ctx: &Context, end: End) -> Vec<Violation> {
        let mut out = Vec::new();
        // Partitions a group never started on: everything acknowledged
        // there was the group's to read.
        for ((group, _), events) in std::mem::take(&mut self.waiting) {
            let g = group as usize;
            for (_, key, version, value, event) in events {
                self.applied_unacked[g].remove(&event);
                if !self.excluded[g].contains(event) {
                    self.add_to_reference(ctx, g, key, version, value);
                }
            }
        }
        let mut open = Vec::new();
        for g in 0..self.keys.len() {
            // An orchestrator's state is its saga store, which skips the
            // replies it has moved past: the flows' checkers judge it,
            // not a fold of what it read.
            if ctx.orchestrators.get(g).copied().unwrap_or(false) {
                continue;
            }
            let mut indeterminate: Vec<(EventId, (KeyId, u32, u32))> =
                self.applied_unacked[g].drain().collect();
            indeterminate.sort_unstable();
            let mut dirty = 0;
            for (event, (key, version, value)) in indeterminate {
                if self.aborted.contains(event) {
                    dirty += 1;
                } else if !self.excluded[g].contains(event) {
                    self.add_to_reference(ctx, g, key, version, value);
                }
            }
            let name = &ctx.catalog.groups[g];
            let differing = self.keys[g].differing();
            if end.cut && !differing.is_empty() {
                open.push(format!("group {name} on {} key(s)", differing.len()));
                continue;
            }
            if let Some(&(k, differs)) = differing.first() {
                out.push(ctx.violation(
                    "convergence",
                    end.t_ns,
                    Some(g as u32),
                    None,
                    Some(k),
                    Vec::new(),
                    format!(
                        "group {name}'s projection differs from the reference on {} key(s); key {}: {differs}{}",
                        differing.len(),
                        ctx.catalog.keys.text(k),
                        aborted_note(ctx, g, dirty)
                    ),
                ));
                continue;
            }
            let took = self.changed_ns[g].saturating_sub(end.settled_ns);
            self.figures.insert(name.clone(), took);
            if took > self.deadline_ns {
                out.push(ctx.violation(
                    "convergence",
                    self.changed_ns[g],
                    Some(g as u32),
                    None,
                    None,
                    Vec::new(),
                    format!(
                        "group {name} converged {:.3}s after producers stopped and faults healed, beyond the {:.3}s deadline",
                        took as f64 / 1e9,
                        self.deadline_ns as f64 / 1e9
                    ),
                ));
            }
        }
        self.open = (!open.is_empty()).then(|| {
            format!(
                "projections still differing from the reference when the run stopped (the groups may not have caught up): {}",
                open.join(", ")
            )
        });
        out
    }
    fn undecided(&self) -> Option<String> {
        self.open.clone()
    }
    fn figures(&self) -> BTreeMap<String, Time> {
        self.figures.clone()
    }
}

/// Why a group applied `dirty` records of aborted transactions, if it did.
fn aborted_note(ctx: &Context, g: usize, dirty: usize) -> String {
    if dirty == 0 {
        String::new()
    } else if ctx.read_committed.get(g) == Some(&true) {
        format!(
            " (it applied {dirty} record(s) of aborted transactions although it reads read_committed: late records of \
             aborted transactions, appended by their partition leaders and committed by a later transaction's marker, \
             as Kafka allows before transaction version 2, KIP-890)"
        )
    } else {
        format!(
            " (it applied {dirty} record(s) of aborted transactions: use isolation = \"read_committed\")"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::*;

    #[test]
    fn convergence_compares_the_projection_with_the_reference() {
        let mut h = written(3);
        consumed(&mut h, &[0, 1, 2]);
        assert!(check("convergence", Effect::Sum, &h).is_empty());
        // A duplicate corrupts a sum...
        h.push((1003, applied(1, 0, 2, 10)));
        let v = check("convergence", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert!(
            v[0].message.contains("10 more than the reference"),
            "{}",
            v[0].message
        );
        // ...and reordering corrupts a last-write projection: the reference
        // keeps the newest version's value (7), the group applied 7 then 3.
        let h = vec![
            (0, assigned(0, 0, 0)),
            (1, appended(0, 0)),
            (1, acked(0, 0, 1, 3)),
            (2, appended(1, 1)),
            (2, acked(1, 0, 2, 7)),
            (10, applied(1, 0, 2, 7)),
            (11, applied(0, 0, 1, 3)),
        ];
        let v = check("convergence", Effect::LastWrite, &h);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("3 instead of 7"), "{}", v[0].message);
    }

    #[test]
    fn convergence_fires_when_it_takes_longer_than_the_deadline() {
        let mut h = written(2);
        h.push((100, applied(0, 0, 1, 10)));
        h.push((5000, applied(1, 0, 2, 10))); // settled at 0, deadline 2000
        let v = check("convergence", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("deadline"), "{}", v[0].message);
    }

    #[test]
    fn convergence_reports_a_sum_by_its_difference_and_forgets_settled_keys() {
        // Three events of 10 acknowledged, two applied: 10 less. The key is
        // where the projection and the reference differ, whatever happened
        // to it before they last agreed.
        let mut h = written(3);
        consumed(&mut h, &[0, 1]);
        let v = check("convergence", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert!(
            v[0].message
                .contains("on 1 key(s); key k0: 10 less than the reference"),
            "{}",
            v[0].message
        );
    }

    #[test]
    fn convergence_takes_indeterminate_writes_the_group_applied_as_having_happened() {
        // Event 1 failed at the producer (a timeout) but is in the log, and the
        // group applied it; event 2 failed and was never applied. Both are
        // allowed; the acknowledged event 0 must be there.
        let mut h = written(1);
        h.push((20, produced(1, 0)));
        h.push((21, appended(1, 1)));
        h.push((
            22,
            O::ProduceFailed {
                event: 1,
                producer: 0,
            },
        ));
        h.push((23, produced(2, 0)));
        h.push((
            24,
            O::ProduceFailed {
                event: 2,
                producer: 0,
            },
        ));
        consumed(&mut h, &[0, 1]);
        assert!(check("convergence", Effect::Sum, &h).is_empty());
        assert!(check("convergence", Effect::LastWrite, &h).is_empty());
        // Applied before its acknowledgement arrived: counted once.
        let mut h = written(0);
        h.push((1, produced(0, 0)));
        h.push((2, appended(0, 0)));
        h.push((3, applied(0, 0, 1, 10)));
        h.push((4, acked(0, 0, 1, 10)));
        assert!(check("convergence", Effect::Sum, &h).is_empty());
    }

    #[test]
    fn convergence_leaves_out_what_came_before_a_latest_groups_start() {
        // Events 0..3 at offsets 0..3 are acknowledged before the group is
        // assigned the partition at offset 2 (a `latest` start): only 2 is its.
        let mut h = written(3);
        h.retain(|(_, o)| !matches!(o, O::Assigned { .. }));
        h.push((100, assigned(0, 0, 2)));
        h.push((101, delivered(2, 0, 2)));
        h.push((101, applied(2, 0, 3, 10)));
        assert!(check("convergence", Effect::Sum, &h).is_empty());
        // An earliest group assigned at 0 must have all three.
        let mut h = written(3);
        h.retain(|(_, o)| !matches!(o, O::Assigned { .. }));
        h.push((100, assigned(0, 0, 0)));
        h.push((101, applied(2, 0, 3, 10)));
        assert_eq!(check("convergence", Effect::Sum, &h).len(), 1);
    }

    #[test]
    fn convergence_fires_on_a_group_that_applied_an_aborted_transactions_record() {
        // Event 1's transaction aborted; a read_uncommitted group applied it.
        let mut h = written(1);
        h.push((20, produced(1, 0)));
        h.push((21, appended(1, 1)));
        h.push((
            22,
            O::Aborted {
                event: 1,
                producer: 0,
            },
        ));
        h.push((
            23,
            O::ProduceFailed {
                event: 1,
                producer: 0,
            },
        ));
        let mut dirty = h.clone();
        consumed(&mut dirty, &[0, 1]);
        let v = check("convergence", Effect::Sum, &dirty);
        assert_eq!(v.len(), 1);
        assert!(v[0].message.contains("1 record(s) of aborted transactions"));
        // A read_committed group skips it: no violation.
        consumed(&mut h, &[0]);
        assert!(check("convergence", Effect::Sum, &h).is_empty());
    }
}
