//! Names in a scenario: what characters and lengths they may have.
//!
//! Names reach file paths, CSV and JSON, HTML and SVG, plot legends and the
//! terminal. Topics follow Kafka's own rule (ASCII letters, digits, `.`,
//! `_` and `-`, at most 249 characters, not `.` or `..`); producers,
//! groups, services, flows, holds and event types (saga commands and
//! replies included) follow the same character set with at most 128
//! characters; the scenario's name may be any text without control or
//! bidirectional-formatting characters, at most 128 characters; its
//! description any text of at most 10,000 characters with no control
//! character but newlines and tabs.

use super::error::Step;
use super::{Scenario, key};
pub use crate::text::printable;

/// Kafka's limit on a topic name's length.
pub const TOPIC_MAX: usize = 249;
/// The longest producer, group, event type or scenario name.
pub const NAME_MAX: usize = 128;
/// The longest key prefix.
pub const KEY_PREFIX_MAX: usize = 64;
/// The longest description.
pub const DESCRIPTION_MAX: usize = 10_000;

/// What is wrong with an identifier (topic, producer, group, event type),
/// if anything.
fn identifier(name: &str, max: usize) -> Option<String> {
    if name.is_empty() {
        return Some("expected a non-empty name".into());
    }
    let n = name.chars().count();
    if n > max {
        return Some(format!("a name of {n} characters; at most {max}"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Some(format!(
            "`{}` is not allowed in a name; use ASCII letters, digits, `.`, `_` and `-`",
            c.escape_default()
        ));
    }
    None
}

impl Scenario {
    /// Every name of the scenario against its rule.
    pub(super) fn name_problems(&self, push: &mut dyn FnMut(Vec<Step>, String)) {
        let meta = &self.scenario;
        let name_len = meta.name.chars().count();
        if meta.name.trim().is_empty() {
            push(
                vec![key("scenario"), key("name")],
                "expected a non-empty name".into(),
            );
        } else if name_len > NAME_MAX {
            push(
                vec![key("scenario"), key("name")],
                format!("a name of {name_len} characters; at most {NAME_MAX}"),
            );
        } else if let Some(c) = meta.name.chars().find(|&c| crate::text::hidden(c)) {
            push(
                vec![key("scenario"), key("name")],
                format!(
                    "the control character `{}` is not allowed in a name",
                    c.escape_unicode()
                ),
            );
        }
        let len = meta.description.chars().count();
        if len > DESCRIPTION_MAX {
            push(
                vec![key("scenario"), key("description")],
                format!("a description of {len} characters; at most {DESCRIPTION_MAX}"),
            );
        } else if let Some(c) = meta
            .description
            .chars()
            .find(|&c| crate::text::hidden(c) && c != '\n' && c != '\t')
        {
            push(
                vec![key("scenario"), key("description")],
                format!(
                    "the control character `{}` is not allowed in a description",
                    c.escape_unicode()
                ),
            );
        }
        let at =
            |section: &str, i: usize, field: &str| vec![key(section), Step::Index(i), key(field)];
        for (i, t) in self.topics.iter().enumerate() {
            let problem = identifier(&t.name, TOPIC_MAX).or_else(|| {
                (t.name == "." || t.name == "..")
                    .then(|| "Kafka does not allow `.` or `..` as a topic name".to_string())
            });
            if let Some(m) = problem {
                push(at("topics", i, "name"), m);
            }
        }
        let mut check = |path: Vec<Step>, name: &str, max: usize| {
            if let Some(m) = identifier(name, max) {
                push(path, m);
            }
        };
        for (i, p) in self.producers.iter().enumerate() {
            check(at("producers", i, "name"), &p.name, NAME_MAX);
            check(at("producers", i, "event_type"), &p.event_type, NAME_MAX);
            if !p.key_prefix.is_empty() {
                check(
                    at("producers", i, "key_prefix"),
                    &p.key_prefix,
                    KEY_PREFIX_MAX,
                );
            }
        }
        // A path below `section[i]`: `field`, then `rest` (indices and keys).
        let deep = |section: &str, i: usize, rest: &[Step]| {
            let mut path = vec![key(section), Step::Index(i)];
            path.extend_from_slice(rest);
            path
        };
        for (i, g) in self.groups.iter().enumerate() {
            check(at("groups", i, "name"), &g.name, NAME_MAX);
            for (j, e) in g.emit.iter().enumerate() {
                let mut path = at("groups", i, "emit");
                path.extend([Step::Index(j), key("event_type")]);
                check(path, &e.event_type, NAME_MAX);
                if let Some(f) = &e.failure {
                    let path = deep(
                        "groups",
                        i,
                        &[
                            key("emit"),
                            Step::Index(j),
                            key("failure"),
                            key("event_type"),
                        ],
                    );
                    check(path, &f.event_type, NAME_MAX);
                }
            }
            if let Some(saga) = &g.saga {
                let s = |rest: &[Step]| {
                    let mut r = vec![key("saga")];
                    r.extend_from_slice(rest);
                    deep("groups", i, &r)
                };
                check(s(&[key("starts")]), &saga.starts, NAME_MAX);
                for (k, step) in saga.steps.iter().enumerate() {
                    let st = |field: &str| s(&[key("steps"), Step::Index(k), key(field)]);
                    check(st("command"), &step.command, NAME_MAX);
                    check(st("success"), &step.success, NAME_MAX);
                    for (field, v) in [
                        ("failure", &step.failure),
                        ("compensation", &step.compensation),
                        ("compensated", &step.compensated),
                    ] {
                        if let Some(v) = v {
                            check(st(field), v, NAME_MAX);
                        }
                    }
                }
                if let Some(c) = &saga.cancelled {
                    check(
                        s(&[key("cancelled"), key("event_type")]),
                        &c.event_type,
                        NAME_MAX,
                    );
                }
            }
        }
        // One rule for every name: services, flows and holds too.
        for (i, sv) in self.services.iter().enumerate() {
            check(at("services", i, "name"), &sv.name, NAME_MAX);
            for (field, v) in [("success", &sv.success), ("compensation", &sv.compensation)] {
                if let Some(v) = v {
                    check(at("services", i, field), v, NAME_MAX);
                }
            }
            if let Some(f) = &sv.failure {
                check(
                    deep("services", i, &[key("failure"), key("event_type")]),
                    &f.event_type,
                    NAME_MAX,
                );
            }
            if let Some(r) = &sv.requests {
                check(
                    deep("services", i, &[key("requests"), key("event_type")]),
                    &r.event_type,
                    NAME_MAX,
                );
                if !r.key_prefix.is_empty() {
                    check(
                        deep("services", i, &[key("requests"), key("key_prefix")]),
                        &r.key_prefix,
                        KEY_PREFIX_MAX,
                    );
                }
            }
            if let Some(e) = &sv.emit {
                check(
                    deep("services", i, &[key("emit"), key("event_type")]),
                    &e.event_type,
                    NAME_MAX,
                );
            }
        }
        for (i, f) in self.flows.iter().enumerate() {
            check(at("flows", i, "name"), &f.name, NAME_MAX);
            check(at("flows", i, "starts"), &f.starts, NAME_MAX);
            for (field, list) in [("completes", &f.completes), ("fails", &f.fails)] {
                for (j, v) in list.iter().enumerate() {
                    check(deep("flows", i, &[key(field), Step::Index(j)]), v, NAME_MAX);
                }
            }
            for (j, h) in f.holds.iter().enumerate() {
                let hp =
                    |field: &str| deep("flows", i, &[key("holds"), Step::Index(j), key(field)]);
                check(hp("name"), &h.name, NAME_MAX);
                check(hp("take"), &h.take, NAME_MAX);
                check(hp("release"), &h.release, NAME_MAX);
            }
        }
        self.key_space_problems(push);
    }
}

impl Scenario {
    /// Keys are `key_prefix` + a number: two prefixes must never make the
    /// same text (`k` and `k1` both make `k12`), and all keys together
    /// must be numbered by a 64-bit id.
    fn key_space_problems(&self, push: &mut dyn FnMut(Vec<Step>, String)) {
        let at = |i: usize, field: &str| vec![key("producers"), Step::Index(i), key(field)];
        let mut total: u64 = 0;
        let mut seen: Vec<(&str, u64)> = Vec::new();
        for (i, p) in self.producers.iter().enumerate() {
            let b = p.key_prefix.as_str();
            if let Some(j) = seen.iter().position(|&(a, _)| a == b) {
                let grown = p.keys.n().saturating_sub(seen[j].1);
                seen[j].1 = seen[j].1.max(p.keys.n());
                total = total.saturating_add(grown);
            } else {
                let clash = seen.iter().find(|&&(a, _)| {
                    let (short, long) = if a.len() < b.len() { (a, b) } else { (b, a) };
                    long.strip_prefix(short).is_some_and(|rest| {
                        rest.bytes().all(|c| c.is_ascii_digit()) && !rest.starts_with('0')
                    })
                });
                if let Some(&(a, _)) = clash {
                    push(
                        at(i, "key_prefix"),
                        format!(
                            "key prefix `{b}` and another producer's `{a}` make the same key texts \
                             (e.g. `{}`); end prefixes with a separator such as `-`",
                            if a.len() < b.len() {
                                format!("{b}1")
                            } else {
                                format!("{a}1")
                            }
                        ),
                    );
                }
                seen.push((b, p.keys.n()));
                total = total.saturating_add(p.keys.n());
            }
            if total == u64::MAX {
                push(
                    at(i, "keys"),
                    "the producers' key spaces together exceed 2^64 keys; use fewer keys or \
                     share a key_prefix"
                        .to_string(),
                );
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(printable("order-flow"), "order-flow");
        assert_eq!(printable("a\u{1b}[31mb\0"), "a\\u{1b}[31mb\\u{0}");
        assert_eq!(printable("x\u{202E}y"), "x\\u{202e}y");
        assert_eq!(printable("café <b>"), "café <b>");
    }

    #[test]
    fn identifiers_follow_kafkas_topic_rule() {
        assert!(identifier("orders.v1_x-2", TOPIC_MAX).is_none());
        assert!(identifier("", TOPIC_MAX).is_some());
        assert!(identifier("a b", TOPIC_MAX).unwrap().contains("` `"));
        assert!(
            identifier("a\u{1b}", TOPIC_MAX)
                .unwrap()
                .contains("\\u{1b}")
        );
        assert!(
            identifier(&"x".repeat(250), TOPIC_MAX)
                .unwrap()
                .contains("at most 249")
        );
    }
}
