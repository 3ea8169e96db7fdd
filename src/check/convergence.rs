//! `convergence`.

use super::*;

/// `convergence`: once producers stop and faults heal, each group's
/// projection equals the reference (the fold of the unique acknowledged
/// events it reads, in per-key version order), within the deadline.
pub(super) struct Convergence {
    deadline_ns: Time,
    /// Per group: key -> projection.
    state: Vec<FastMap<u32, i64>>,
    set_seen: Vec<EventBits>,
    /// Per group: key -> (reference value, newest version for last-write).
    reference: Vec<FastMap<u32, (i64, u32)>>,
    excluded: Vec<EventBits>,
    acked: EventBits,
    /// Per group: the last time its projection changed.
    changed_ns: Vec<Time>,
    figures: BTreeMap<String, Time>,
}

impl Convergence {
    pub(super) fn new(ctx: &Context, deadline_ns: Time) -> Self {
        let g = ctx.catalog.groups.len();
        Convergence {
            deadline_ns,
            state: vec![FastMap::default(); g],
            set_seen: vec![EventBits::default(); g],
            reference: vec![FastMap::default(); g],
            excluded: vec![EventBits::default(); g],
            acked: EventBits::default(),
            changed_ns: vec![0; g],
            figures: BTreeMap::new(),
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
                for &g in &ctx.readers[partition as usize] {
                    let g = g as usize;
                    if self.excluded[g].contains(event) {
                        continue;
                    }
                    let effect = ctx.effects[g];
                    let r = self.reference[g].entry(key).or_insert((0, 0));
                    if effect == Effect::LastWrite {
                        if version > r.1 {
                            *r = (i64::from(value), version);
                        }
                    } else {
                        r.0 += contribution(effect, value);
                    }
                }
            }
            Observation::Expired {
                event,
                group,
                key,
                value,
                ..
            }
            | Observation::GaveUp {
                event,
                group,
                key,
                value,
                ..
            } => {
                // Not the group's to apply: take it out of its reference.
                let g = group as usize;
                let effect = ctx.effects[g];
                if !self.excluded[g].insert(event)
                    && self.acked.contains(event)
                    && effect != Effect::LastWrite
                    && let Some(r) = self.reference[g].get_mut(&key)
                {
                    r.0 -= contribution(effect, value);
                }
            }
            Observation::Applied {
                event,
                group,
                key,
                value,
                ..
            } => {
                let g = group as usize;
                let effect = ctx.effects[g];
                let slot = self.state[g].entry(key).or_insert(0);
                let before = *slot;
                match effect {
                    Effect::Sum => *slot += i64::from(value),
                    Effect::LastWrite => *slot = i64::from(value),
                    Effect::Count => *slot += 1,
                    Effect::Set => {
                        if !self.set_seen[g].insert(event) {
                            *slot += 1;
                        }
                    }
                }
                if *slot != before {
                    self.changed_ns[g] = at;
                }
            }
            _ => {}
        }
    }
    fn finish(&mut self, ctx: &Context, end: End) -> Vec<Violation> {
        let mut out = Vec::new();
        for g in 0..self.state.len() {
            let name = &ctx.catalog.groups[g];
            let keys: BTreeSet<u32> = self.state[g]
                .keys()
                .chain(self.reference[g].keys())
                .copied()
                .collect();
            let differing: Vec<u32> = keys
                .into_iter()
                .filter(|k| {
                    self.state[g].get(k).copied().unwrap_or(0)
                        != self.reference[g].get(k).map_or(0, |r| r.0)
                })
                .collect();
            if let Some(&k) = differing.first() {
                out.push(ctx.violation(
                    "convergence",
                    end.t_ns,
                    Some(g as u32),
                    None,
                    Some(k),
                    Vec::new(),
                    format!(
                        "group {name}'s projection differs from the reference on {} key(s); key {}: {} instead of {}",
                        differing.len(),
                        ctx.catalog.keys[k as usize],
                        self.state[g].get(&k).copied().unwrap_or(0),
                        self.reference[g].get(&k).map_or(0, |r| r.0)
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
        out
    }
    fn figures(&self) -> BTreeMap<String, Time> {
        self.figures.clone()
    }
}
