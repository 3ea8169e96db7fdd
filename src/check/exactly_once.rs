//! `exactly-once-effect`.

use super::*;

/// `exactly-once-effect`: no event's effect is applied twice in a group.
pub(super) struct ExactlyOnce {
    applied: Vec<EventBits>,
    found: Vec<(Time, u32, EventId, u32, u32)>,
}

impl ExactlyOnce {
    pub(super) fn new(groups: usize) -> Self {
        ExactlyOnce {
            applied: vec![EventBits::default(); groups],
            found: Vec::new(),
        }
    }
}

impl Checker for ExactlyOnce {
    fn name(&self) -> &'static str {
        "exactly-once-effect"
    }
    fn observe(&mut self, _ctx: &Context, at: Time, o: &Observation) {
        if let Observation::Applied {
            event,
            group,
            partition,
            key,
            ..
        } = *o
            && self.applied[group as usize].insert(event)
        {
            self.found.push((at, group, event, partition, key));
        }
    }
    fn finish(&mut self, ctx: &Context, _end: End) -> Vec<Violation> {
        self.found
            .iter()
            .map(|&(at, g, event, partition, key)| {
                ctx.violation(
                    "exactly-once-effect",
                    at,
                    Some(g),
                    Some(partition),
                    Some(key),
                    vec![event],
                    format!(
                        "event {event} was applied again by group {}",
                        ctx.catalog.groups[g as usize]
                    ),
                )
            })
            .collect()
    }
}
