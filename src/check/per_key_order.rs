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
