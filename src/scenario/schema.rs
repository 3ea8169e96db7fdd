//! Schema evolution: a producer's `schema` (its event type's next version,
//! how compatible it is, and when its instances switch to it) and a
//! group's `schema` (the version its consumers read, and when they are
//! upgraded), with their validation.
//!
//! ```toml
//! [[producers]]
//! event_type = "OrderPlaced"
//! schema = { version = 2, compatibility = "none", at = "20s", instances = 4, every = "5s" }
//!
//! [[groups]]
//! schema = { version = 1, upgrade = "40s", every = "2s", upcaster = false }
//! ```

use super::units::Duration;
use super::{Scenario, Step, key};
use serde::{Deserialize, Serialize};

/// How a new version of an event's schema relates to the one before, as
/// Confluent Schema Registry's compatibility types name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compatibility {
    /// A reader of the new version reads the old one (a field deleted, an
    /// optional field added): upgrade the consumers first.
    Backward,
    /// A reader of the old version reads the new one (a field added, an
    /// optional field deleted): upgrade the producers first.
    Forward,
    /// Both (an optional field added or deleted): an additive change.
    Full,
    /// Neither (a field renamed, a type changed): a breaking change.
    None,
}

impl Compatibility {
    /// A reader of the old version reads events of the new one.
    pub fn old_reads_new(self) -> bool {
        matches!(self, Compatibility::Forward | Compatibility::Full)
    }
    /// A reader of the new version reads events of the old one.
    pub fn new_reads_old(self) -> bool {
        matches!(self, Compatibility::Backward | Compatibility::Full)
    }
}

/// A producer's `schema`: from `at`, its instances switch one by one,
/// every `every`, from version 1 of its event type to `version`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProducerSchema {
    /// The new version (2 or more; events before the switch are version 1).
    pub version: u16,
    /// How the new version relates to version 1.
    pub compatibility: Compatibility,
    /// When the first instance switches.
    pub at: Duration,
    /// How many instances the producer runs; each event comes from one,
    /// spread evenly (a load balancer in front of the service).
    #[serde(default = "one")]
    pub instances: u32,
    /// Time between two instances switching (a rolling upgrade).
    #[serde(default)]
    pub every: Duration,
}

/// A group's `schema`: the version its consumers read, and when they are
/// upgraded to the newest version producers write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSchema {
    /// The version its consumers read from the start.
    #[serde(default = "one_u16")]
    pub version: u16,
    /// When its first consumer is upgraded to the newest version (never,
    /// if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<Duration>,
    /// Time between two consumers being upgraded (consumer `i` at
    /// `upgrade + i * every`).
    #[serde(default)]
    pub every: Duration,
    /// Once upgraded, the consumers turn events of an older version into
    /// the new one before handling them, whatever the compatibility.
    #[serde(default)]
    pub upcaster: bool,
}

fn one() -> u32 {
    1
}
fn one_u16() -> u16 {
    1
}

/// The most instances a producer's `schema` may name.
pub const MAX_INSTANCES: u32 = 10_000;

impl Scenario {
    /// Each event type's schema change, if a producer declares one:
    /// (event type, new version, compatibility).
    pub fn schema_changes(&self) -> Vec<(String, u16, Compatibility)> {
        let mut v: Vec<(String, u16, Compatibility)> = Vec::new();
        for p in &self.producers {
            if let Some(s) = &p.schema
                && !v.iter().any(|c| c.0 == p.event_type)
            {
                v.push((p.event_type.clone(), s.version, s.compatibility));
            }
        }
        v
    }

    pub(super) fn schema_problems(&self, push: &mut dyn FnMut(Vec<Step>, String)) {
        for (i, p) in self.producers.iter().enumerate() {
            let Some(s) = &p.schema else { continue };
            let at = |f: &str| vec![key("producers"), Step::Index(i), key("schema"), key(f)];
            if s.version < 2 {
                push(
                    at("version"),
                    "expected 2 or more: the producer writes version 1 until it switches".into(),
                );
            }
            if s.instances == 0 || s.instances > MAX_INSTANCES {
                push(
                    at("instances"),
                    format!("expected 1 to {MAX_INSTANCES} instances"),
                );
            }
            if let Some((j, o)) = self.producers[..i]
                .iter()
                .enumerate()
                .find(|(_, o)| o.event_type == p.event_type && o.schema.is_some())
            {
                let os = o.schema.as_ref().expect("found with a schema");
                if os.version != s.version || os.compatibility != s.compatibility {
                    push(
                        at("version"),
                        format!(
                            "producers[{j}] (`{}`) changes `{}` to version {} ({:?}); one event type has one schema change per run",
                            o.name, p.event_type, os.version, os.compatibility
                        ),
                    );
                }
            }
        }
        let newest = self.schema_changes().iter().map(|c| c.1).max().unwrap_or(1);
        for (i, g) in self.groups.iter().enumerate() {
            let Some(s) = &g.schema else { continue };
            let at = |f: &str| vec![key("groups"), Step::Index(i), key("schema"), key(f)];
            if s.version == 0 || s.version > newest {
                push(
                    at("version"),
                    format!(
                        "expected a version from 1 to {newest}, the newest a producer's `schema` writes"
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Compatibility::*;

    /// Schema Registry's table: BACKWARD upgrades consumers first (a new
    /// reader reads old data), FORWARD producers first (an old reader reads
    /// new data), FULL either, NONE neither.
    #[test]
    fn compatibility_says_which_reader_reads_which_version() {
        let table = [
            (Backward, false, true),
            (Forward, true, false),
            (Full, true, true),
            (None, false, false),
        ];
        for (c, old_reads_new, new_reads_old) in table {
            assert_eq!(c.old_reads_new(), old_reads_new, "{c:?}");
            assert_eq!(c.new_reads_old(), new_reads_old, "{c:?}");
        }
    }
}
