//! `exactly-once-effect`.

use super::*;

/// `exactly-once-effect`: no business effect is applied twice in a group.
///
/// Effects are judged by causal identity, not by event id: an event a
/// service emits has the identity (identity of the event it processed,
/// group, emit rule), as an idempotency key derived from the source event
/// would. A service that processes an event twice and emits twice (a
/// dual write before a crash) produces two events with two ids and one
/// identity; a downstream group that applies both applies one business
/// effect twice.
pub(super) struct ExactlyOnce {
    /// Per group: the identities applied.
    applied: Vec<EventBits>,
    /// (source identity, group, rule) -> the first event emitted for it.
    first_emission: FastMap<(EventId, u32, u32), EventId>,
    /// Re-emitted event -> the identity it shares (only re-emissions).
    alias: FastMap<EventId, EventId>,
    /// (identity, group) applied, for identities whose bits are released
    /// but that a live event may still take: an alias's target, or the
    /// first emission of a cause a live event may emit for again.
    old_applied: rustc_hash::FxHashSet<(EventId, u32)>,
    /// (when, group, event applied, its identity, partition, key).
    found: Vec<(Time, u32, EventId, EventId, u32, KeyId)>,
}

impl ExactlyOnce {
    pub(super) fn new(groups: usize) -> Self {
        ExactlyOnce {
            applied: vec![EventBits::default(); groups],
            first_emission: FastMap::default(),
            alias: FastMap::default(),
            old_applied: Default::default(),
            found: Vec::new(),
        }
    }

    fn identity(&self, event: EventId) -> EventId {
        self.alias.get(&event).copied().unwrap_or(event)
    }
}

impl Checker for ExactlyOnce {
    fn name(&self) -> &'static str {
        "exactly-once-effect"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Applied, Kind::Emitted]
    }
    fn observe(&mut self, _ctx: &Context, at: Time, o: &Observation) {
        match *o {
            Observation::Emitted {
                event,
                source,
                group,
                rule,
                ..
            } => {
                let cause = (self.identity(source), group, rule);
                match self.first_emission.get(&cause) {
                    Some(&first) => {
                        self.alias.insert(event, first);
                    }
                    None => {
                        self.first_emission.insert(cause, event);
                    }
                }
            }
            Observation::Applied {
                event,
                group,
                partition,
                key,
                ..
            } => {
                let identity = self.identity(event);
                let bits = &mut self.applied[group as usize];
                let again = if bits.released(identity) {
                    !self.old_applied.insert((identity, group))
                } else {
                    bits.insert(identity)
                };
                if again {
                    self.found
                        .push((at, group, event, identity, partition, key));
                }
            }
            _ => {}
        }
    }
    #[allow(clippy::disallowed_methods)] // builds sets: order does not matter
    fn released(&mut self, below: EventId) {
        // Only live events are applied or emitted from now on. Each
        // takes its own identity (not released) or an alias's; and a live
        // source's cause is its identity.
        self.alias.retain(|&event, _| event >= below);
        let live: rustc_hash::FxHashSet<EventId> = self
            .alias
            .values()
            .copied()
            .filter(|&i| i < below)
            .collect();
        self.first_emission
            .retain(|&(cause, _, _), _| cause >= below || live.contains(&cause));
        let mut keep = live;
        keep.extend(self.first_emission.values().copied().filter(|&i| i < below));
        self.old_applied.retain(|(i, _)| keep.contains(i));
        for (g, bits) in self.applied.iter_mut().enumerate() {
            for &i in &keep {
                if !bits.released(i) && bits.contains(i) {
                    self.old_applied.insert((i, g as u32));
                }
            }
            bits.release_below(below);
        }
    }
    fn finish(&mut self, ctx: &Context, _end: End) -> Vec<Violation> {
        self.found
            .iter()
            .map(|&(at, g, event, identity, partition, key)| {
                let group = &ctx.catalog.groups[g as usize];
                let (events, message) = if identity == event {
                    (
                        vec![event],
                        format!("event {event} was applied again by group {group}"),
                    )
                } else {
                    (
                        vec![identity, event],
                        format!(
                            "event {event} was applied by group {group} after event {identity}: two emissions of one cause (the same source event processed twice, the same emit rule), one business effect applied twice"
                        ),
                    )
                };
                ctx.violation(
                    "exactly-once-effect",
                    at,
                    Some(g),
                    Some(partition),
                    Some(key),
                    events,
                    message,
                )
            })
            .collect()
    }
}
