//! Schema evolution at run time: which version each event was written in,
//! which version each consumer reads, and whether it can.
//!
//! Nothing is stored per event: an event's version follows from its
//! producer's plan, its creation time and the instance it came from (a
//! hash of the event id, so no random stream moves).

use super::{EventMeta, World};
use crate::history::EventId;
use crate::kernel::Time;
use crate::scenario::{Compatibility, Scenario};

/// One producer's switch to a new version.
#[derive(Clone, Copy, Debug)]
struct Switch {
    version: u16,
    at: Time,
    instances: u32,
    every: Time,
}

/// One group's readers.
#[derive(Clone, Copy, Debug)]
struct Readers {
    version: u16,
    upgrade: Option<Time>,
    every: Time,
    upcaster: bool,
}

/// The run's schema changes (absent from the world when the scenario
/// declares none, so a run without them pays nothing).
#[derive(Clone, Debug)]
pub(crate) struct SchemaRt {
    /// Per producer (catalog order, emitters included): its switch.
    by_producer: Vec<Option<Switch>>,
    /// Per event type: its new version and how compatible it is.
    by_type: Vec<Option<(u16, Compatibility)>>,
    /// Per group: its readers (absent: version 1, never upgraded).
    by_group: Vec<Option<Readers>>,
}

impl SchemaRt {
    /// The schema plan of `s`, or `None` when no producer changes schema.
    /// `type_id` maps an event type's name to its id; `producers` is how
    /// many producers the catalog holds (emitters write version 1).
    pub(crate) fn new(
        s: &Scenario,
        mut type_id: impl FnMut(&str) -> u16,
        event_types: usize,
        producers: usize,
    ) -> Option<Box<SchemaRt>> {
        let changes = s.schema_changes();
        if changes.is_empty() {
            return None;
        }
        let mut by_type = vec![None; event_types];
        for (t, version, compatibility) in changes {
            by_type[type_id(&t) as usize] = Some((version, compatibility));
        }
        let mut by_producer = vec![None; producers];
        for (i, p) in s.producers.iter().enumerate() {
            by_producer[i] = p.schema.as_ref().map(|sc| Switch {
                version: sc.version,
                at: sc.at.ns(),
                instances: sc.instances.max(1),
                every: sc.every.ns(),
            });
        }
        let by_group = s
            .groups
            .iter()
            .map(|g| {
                g.schema.as_ref().map(|sc| Readers {
                    version: sc.version,
                    upgrade: sc.upgrade.map(|d| d.ns()),
                    every: sc.every.ns(),
                    upcaster: sc.upcaster,
                })
            })
            .collect();
        Some(Box::new(SchemaRt {
            by_producer,
            by_type,
            by_group,
        }))
    }
}

impl World {
    /// The version `event` was written in: its producer's new version if
    /// the instance it came from had switched when it was created, else 1.
    pub(crate) fn schema_version(&self, event: EventId, e: &EventMeta) -> u16 {
        let Some(s) = &self.schema else { return 1 };
        let Some(Some(sw)) = s.by_producer.get(e.producer as usize) else {
            return 1;
        };
        let instance = if sw.instances <= 1 {
            0
        } else {
            let u = super::consumer::outcome_unit(
                self.outcome_salt,
                event,
                u32::MAX,
                u32::from(e.producer),
            );
            ((u * f64::from(sw.instances)) as u32).min(sw.instances - 1)
        };
        let switched = sw
            .at
            .saturating_add(sw.every.saturating_mul(u64::from(instance)));
        if e.created_ns >= switched {
            sw.version
        } else {
            1
        }
    }

    /// Whether `consumer` can read `event` now: the same version, or a
    /// version its compatibility lets it read, or an older one it upcasts.
    pub(crate) fn schema_readable(&self, consumer: u32, event: EventId) -> bool {
        let Some(s) = &self.schema else { return true };
        let e = self.events[event as usize];
        let Some(Some((newest, compatibility))) = s.by_type.get(e.event_type as usize) else {
            return true;
        };
        let (g, index) = self.catalog.consumers[consumer as usize];
        let readers = s.by_group[g as usize];
        let upgraded = readers.and_then(|r| {
            r.upgrade
                .map(|at| at.saturating_add(r.every.saturating_mul(u64::from(index))))
        });
        let now = self.now();
        let reads = if upgraded.is_some_and(|at| now >= at) {
            *newest
        } else {
            readers.map_or(1, |r| r.version).min(*newest)
        };
        let written = self.schema_version(event, &e);
        match written.cmp(&reads) {
            std::cmp::Ordering::Equal => true,
            std::cmp::Ordering::Greater => compatibility.old_reads_new(),
            std::cmp::Ordering::Less => {
                compatibility.new_reads_old() || readers.is_some_and(|r| r.upcaster)
            }
        }
    }
}
