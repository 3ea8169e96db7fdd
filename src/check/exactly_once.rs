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
    /// (when, group, event applied, its identity, partition, key).
    found: Vec<(Time, u32, EventId, EventId, u32, KeyId)>,
}

impl ExactlyOnce {
    pub(super) fn new(groups: usize) -> Self {
        ExactlyOnce {
            applied: vec![EventBits::default(); groups],
            first_emission: FastMap::default(),
            alias: FastMap::default(),
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
                if self.applied[group as usize].insert(identity) {
                    self.found
                        .push((at, group, event, identity, partition, key));
                }
            }
            _ => {}
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
