//! `[cluster] version`: behaviours that changed between Kafka versions.

use crate::common::*;
use eventsim::check::CheckStatus;

fn violations(c: &eventsim::Checked, name: &str) -> u64 {
    c.checks.iter().find(|r| r.name == name).unwrap().violations
}

/// Before KIP-320 (Kafka 2.1) a consumer has no leader epoch to check
/// after an unclean election: it reads on from its position and silently
/// skips the new leader's records at offsets it had passed, so those are
/// never applied (about twice the loss) and the projection diverges.
#[test]
fn before_kip_320_consumers_skip_the_new_leaders_records() {
    let text =
        std::fs::read_to_string(repo("scenarios/faults/unclean-election-loss.toml")).unwrap();
    let old = text.replacen("brokers = 3\n", "brokers = 3\nversion = \"2.0\"\n", 1);
    assert_ne!(old, text);
    for seed in 1..4 {
        let now = eventsim::run_checked(&scenario(&text), seed, vec![]);
        let then = eventsim::run_checked(&scenario(&old), seed, vec![]);
        let (a, b) = (violations(&now, "no-loss"), violations(&then, "no-loss"));
        assert!(b > a + a / 2, "seed {seed}: 2.0 loses {b}, 4.1 loses {a}");
        assert_eq!(
            then.checks
                .iter()
                .find(|r| r.name == "convergence")
                .unwrap()
                .status,
            CheckStatus::Fail,
            "seed {seed}"
        );
        assert!(now.result.metrics.counts.applied > then.result.metrics.counts.applied);
    }
    // Same seed, same bytes.
    let again = |seed| {
        let c = eventsim::run_checked(&scenario(&old), seed, vec![]);
        eventsim::report::Summary::checked(&c, String::new()).to_json()
    };
    assert_eq!(again(2), again(2));
    // From 2.1 on, as the newest.
    let new = text.replacen("brokers = 3\n", "brokers = 3\nversion = \"2.1\"\n", 1);
    let a = eventsim::run_checked(&scenario(&text), 1, vec![]);
    let b = eventsim::run_checked(&scenario(&new), 1, vec![]);
    assert_eq!(violations(&a, "no-loss"), violations(&b, "no-loss"));
}

#[test]
fn an_unknown_version_is_refused() {
    let text =
        std::fs::read_to_string(repo("scenarios/faults/unclean-election-loss.toml")).unwrap();
    for bad in ["\"5.0\"", "\"2\"", "\"2.x\"", "\"0.10\""] {
        assert_refused(
            &text,
            "brokers = 3\n",
            &format!("brokers = 3\nversion = {bad}\n"),
            "cluster.version",
            "eventsim knows 0.11 to 4.1",
        );
    }
}
