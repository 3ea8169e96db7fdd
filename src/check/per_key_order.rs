//! `per-key-order`.

use super::*;

/// `per-key-order`: within a group, each producer's events of a key take
/// effect in the order the producer created them. Re-applications of an
/// event are `exactly-once-effect`'s business and are ignored here.
#[derive(Default)]
pub(super) struct PerKeyOrder {
    seen: FastMap<u32, EventBits>,
    /// (group, producer, key) -> (version, event) of the newest applied.
    /// A key's versions follow its events' ids (both are assigned when the
    /// event is created), so once that event is released no event that can
    /// still be applied is older: the entry is dropped.
    last: FastMap<(u32, u32, KeyId), (u32, EventId)>,
    found: Vec<Violation>,
}

impl Checker for PerKeyOrder {
    fn name(&self) -> &'static str {
        "per-key-order"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Applied]
    }
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation) {
        if let Observation::Applied {
            event,
            group,
            partition,
            producer,
            key,
            version,
            ..
        } = *o
        {
            if self.seen.entry(group).or_default().insert(event) {
                return;
            }
            let last = self
                .last
                .entry((group, producer, key))
                .or_insert((0, event));
            if version < last.0 {
                let newer = last.1;
                self.found.push(ctx.violation(
                    "per-key-order",
                    at,
                    Some(group),
                    Some(partition),
                    Some(key),
                    vec![newer, event],
                    format!(
                        "group {} applied event {event} (version {version} of key {}) after event {newer} (version {})",
                        ctx.catalog.groups[group as usize],
                        ctx.catalog.keys.text(key),
                        last.0
                    ),
                ));
            } else {
                *last = (version, event);
            }
        }
    }
    #[allow(clippy::disallowed_methods)] // each value is changed alone: order does not matter
    fn released(&mut self, below: EventId) {
        for b in self.seen.values_mut() {
            b.release_below(below);
        }
        self.last.retain(|_, &mut (_, event)| event >= below);
    }
    fn finish(&mut self, _ctx: &Context, _end: End) -> Vec<Violation> {
        std::mem::take(&mut self.found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::*;

    #[test]
    fn per_key_order_fires_on_an_inversion_and_ignores_reapplications() {
        let mut h = written(3);
        consumed(&mut h, &[0, 1, 2]);
        h.push((5000, applied(1, 0, 2, 10))); // a duplicate, not an inversion
        assert!(check("per-key-order", Effect::Sum, &h).is_empty());
        let mut h = written(3);
        consumed(&mut h, &[0, 2, 1]);
        let v = check("per-key-order", Effect::Sum, &h);
        assert_eq!(v.len(), 1);
        assert_eq!(
            v[0].events,
            vec![2, 1],
            "both events: the newer, then the late one"
        );
    }

    #[test]
    fn per_key_order_still_judges_live_events_after_a_release() {
        // Event 2 (version 3) applied before event 1 (version 2): out of
        // order, whether or not ids below 1 were released in between.
        let mut h = written(3);
        h.push((100, applied(2, 0, 3, 10)));
        h.push((101, applied(1, 0, 2, 10)));
        let v = check_releasing("per-key-order", Effect::Sum, &h, &[(h.len() - 1, 1)]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].events, vec![2, 1]);
    }
}
