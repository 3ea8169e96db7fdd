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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::*;

    #[test]
    fn exactly_once_fires_on_a_second_application_only() {
        let mut h = written(2);
        consumed(&mut h, &[0, 1]);
        assert!(check("exactly-once-effect", Effect::Sum, &h).is_empty());
        h.push((5000, delivered(1, 1, 1)));
        assert!(
            check("exactly-once-effect", Effect::Sum, &h).is_empty(),
            "a second delivery is no second effect"
        );
        h.push((5001, applied(1, 0, 2, 10)));
        let v = check("exactly-once-effect", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].t_ns, v[0].events.clone()), (5001, vec![1]));
        assert_eq!(v[0].key.as_deref(), Some("k0"));
    }

    #[test]
    fn exactly_once_judges_by_causal_identity_so_a_re_emission_applied_twice_fires() {
        // Event 0 is processed twice upstream; each time the service emits
        // (rule 0): events 10 and 11, one cause. Rule 1 emits event 12, another
        // cause. Applying 10 and 12 is fine; applying 11 as well is not.
        let mut h = written(1);
        h.push((100, emitted(10, 0, 0)));
        h.push((101, emitted(12, 0, 1)));
        h.push((102, emitted(11, 0, 0)));
        h.push((200, applied(10, 0, 2, 10)));
        h.push((201, applied(12, 0, 3, 10)));
        assert!(check("exactly-once-effect", Effect::Sum, &h).is_empty());
        h.push((202, applied(11, 0, 4, 10)));
        let v = check("exactly-once-effect", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].events, vec![10, 11]);
        assert!(v[0].message.contains("two emissions of one cause"));
    }

    #[test]
    fn exactly_once_keeps_what_a_live_re_emission_needs_when_old_ids_are_released() {
        // Event 100 (emitted for event 0) is applied, then everything below
        // 200 is released while event 200, a re-emission of the same cause,
        // is still on its way: applying it is the effect applied twice.
        let mut h = written(1);
        h.push((100, emitted(100, 0, 0)));
        h.push((101, emitted(200, 0, 0)));
        h.push((200, applied(100, 0, 2, 10)));
        h.push((300, applied(200, 0, 3, 10)));
        let v = check_releasing("exactly-once-effect", Effect::Sum, &h, &[(7, 200)]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].events, vec![100, 200]);
        // One link further: the service applies 100 and emits 300 for it,
        // which is applied; later it applies 200 (the re-emission, released
        // below 200 by then) and emits 400: 400 has 300's cause, the identity
        // of 100 processed. Released below 400 before 400 is applied, 300's
        // application must still count.
        let mut h = written(1);
        h.push((100, emitted(100, 0, 0)));
        h.push((101, emitted(200, 0, 0)));
        h.push((150, emitted(300, 100, 0)));
        h.push((160, applied(300, 0, 4, 10)));
        h.push((170, emitted(400, 200, 0)));
        h.push((300, applied(400, 0, 5, 10)));
        let v = check_releasing(
            "exactly-once-effect",
            Effect::Sum,
            &h,
            &[(8, 200), (9, 400)],
        );
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].events, vec![300, 400]);
        // Nothing applied twice: releasing changes no verdict.
        h.pop();
        assert!(check_releasing("exactly-once-effect", Effect::Sum, &h, &[(8, 200)]).is_empty());
    }
}
