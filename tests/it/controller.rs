//! The controller quorum and availability: brokers are fenced by the
//! active controller they heartbeat to, never because their peers died;
//! without a majority of voters the metadata freezes; `availability`
//! fails a cluster that stops serving a partition.

use crate::common::scenario;
use eventsim::check::{CheckStatus, Verdict};
use eventsim::history::{Observation, Observer, Shared};
use eventsim::kernel::Time;
use eventsim::report::Summary;
use std::cell::RefCell;
use std::rc::Rc;

const S: Time = 1_000_000_000;

/// What the controller and the brokers did.
#[derive(Default)]
struct Seen {
    /// (t, broker)
    fenced: Vec<(Time, u32)>,
    /// (t, partition, leader)
    elected: Vec<(Time, u32, Option<u32>)>,
    /// (t, active controller)
    quorum: Vec<(Time, Option<u32>)>,
    /// (t, node, state)
    nodes: Vec<(Time, u32, u8)>,
    /// (t, fault, started)
    faults: Vec<(Time, u32, bool)>,
    unclean: u32,
    /// Everything above in the order observed: (t, what, a, b) with what
    /// 0 node state (node, state), 1 fault (index, started), 2 quorum
    /// (voter or MAX), 3 unfenced (broker), 4 fenced (broker).
    log: Vec<(Time, u8, u32, u32)>,
}

impl Observer for Seen {
    fn observe(&mut self, at: Time, o: &Observation) {
        match *o {
            Observation::Fenced { broker } => {
                self.fenced.push((at, broker));
                self.log.push((at, 4, broker, 0));
            }
            Observation::Unfenced { broker } => {
                self.log.push((at, 3, broker, 0));
            }
            Observation::LeaderElected {
                partition,
                broker,
                unclean,
                ..
            } => {
                self.elected.push((at, partition, broker));
                self.unclean += unclean as u32;
            }
            Observation::Controller { voter, .. } => {
                self.quorum.push((at, voter));
                self.log.push((at, 2, voter.unwrap_or(u32::MAX), 0));
            }
            Observation::NodeState { node, state } => {
                self.nodes.push((at, node, state));
                self.log.push((at, 0, node, state as u32));
            }
            Observation::FaultStarted { fault } => {
                self.faults.push((at, fault, true));
                self.log.push((at, 1, fault, 1));
            }
            Observation::FaultEnded { fault } => {
                self.faults.push((at, fault, false));
                self.log.push((at, 1, fault, 0));
            }
            _ => {}
        }
    }
}

/// A cluster of `brokers` with one topic of `partitions` replicated on
/// every broker (min ISR 1), an acks=all producer and a group; `more`
/// adds sections (faults, checks) and `cluster` lines to `[cluster]`.
fn cluster(brokers: u32, partitions: u32, cluster: &str, more: &str) -> String {
    format!(
        r#"
[scenario]
name = "controller"
duration = "60s"

[cluster]
brokers = {brokers}
{cluster}

[[topics]]
name = "orders"
partitions = {partitions}
replication_factor = {brokers}
min_insync_replicas = 1

[[producers]]
name = "shop"
topic = "orders"
rate = 100
acks = "all"

[[groups]]
name = "billing"
topics = ["orders"]
auto_offset_reset = "earliest"
{more}
"#
    )
}

fn run(text: &str, seed: u64) -> (eventsim::Checked, Seen, Summary) {
    let seen = Rc::new(RefCell::new(Seen::default()));
    let c = eventsim::run_checked(&scenario(text), seed, vec![Box::new(Shared(seen.clone()))]);
    let summary = Summary::checked(&c, String::new());
    let seen = Rc::try_unwrap(seen).ok().expect("one owner").into_inner();
    (c, seen, summary)
}

fn status(c: &eventsim::Checked, name: &str) -> CheckStatus {
    c.checks
        .iter()
        .find(|r| r.name == name)
        .expect("checker")
        .status
}

/// When broker `b` was first fenced, which must be within a tick of
/// `at_s` seconds.
fn fenced_about(seen: &Seen, b: u32, at_s: u64) -> Time {
    let t = seen
        .fenced
        .iter()
        .find(|f| f.1 == b)
        .unwrap_or_else(|| panic!("broker-{b} fenced: {:?}", seen.fenced))
        .0;
    assert!(
        (at_s * S..=at_s * S + S / 5).contains(&t),
        "broker-{b} fenced at {t}"
    );
    t
}

fn leaderless_ns(s: &Summary) -> Time {
    s.availability.as_ref().expect("figures").topics[0].leaderless_ns
}

fn longest_ns(s: &Summary) -> Time {
    s.availability.as_ref().expect("figures").topics[0]
        .longest_outage
        .as_ref()
        .map_or(0, |o| o.duration_ns)
}

/// Before the fix the survivor of a 2-broker cluster was fenced (its only
/// peer was gone) and every partition stayed leaderless to the end.
#[test]
fn the_survivor_of_two_brokers_leads_every_partition() {
    let text = cluster(
        2,
        4,
        "",
        "[[faults]]\nkind = \"crash\"\ntarget = \"broker-1\"\nat = \"10s\"\n",
    );
    let (c, seen, s) = run(&text, 1);
    assert_eq!(c.verdict(), Verdict::Pass, "{:?}", c.violations);
    assert!(
        seen.fenced.iter().all(|&(_, b)| b == 1),
        "{:?}",
        seen.fenced
    );
    // Partitions 1 and 3 were led by broker-1: both move to broker-0.
    let moved: Vec<u32> = seen
        .elected
        .iter()
        .map(|&(_, p, b)| {
            assert_eq!(b, Some(0));
            p
        })
        .collect();
    assert_eq!(moved, vec![1, 3]);
    assert_eq!(c.result.metrics.counts.produce_failed, 0);
    assert_eq!(
        c.result.metrics.counts.acked,
        c.result.metrics.counts.produced
    );
    // Leaderless for the session timeout (9 s) from the crash, to a tick.
    let longest = longest_ns(&s);
    assert!((9 * S..=9 * S + S / 5).contains(&longest), "{longest}");
    assert_eq!(leaderless_ns(&s), 2 * longest);
}

/// Three brokers, two crashed: the survivor keeps the partition it leads
/// and takes the others; it is never fenced.
#[test]
fn the_survivor_of_three_keeps_what_it_leads() {
    let faults = "[[faults]]\nkind = \"crash\"\ntarget = \"broker-1\"\nat = \"10s\"\n\
                  [[faults]]\nkind = \"crash\"\ntarget = \"broker-2\"\nat = \"10s\"\n";
    let (c, seen, s) = run(&cluster(3, 3, "", faults), 1);
    assert_eq!(c.verdict(), Verdict::Pass, "{:?}", c.violations);
    assert!(
        seen.fenced.iter().all(|&(_, b)| b != 0),
        "{:?}",
        seen.fenced
    );
    // orders-0 is led by broker-0 from the start: never re-elected.
    assert!(seen.elected.iter().all(|&(_, p, b)| p != 0 && b == Some(0)));
    assert_eq!(seen.elected.len(), 2);
    let longest = longest_ns(&s);
    assert!((9 * S..=9 * S + S / 5).contains(&longest), "{longest}");
    assert_eq!(
        leaderless_ns(&s),
        2 * longest,
        "two partitions out, one never"
    );
    assert_eq!(c.result.metrics.counts.produce_failed, 0);
}

/// Two of three brokers paused: shorter than the session timeout, nobody
/// is fenced and no election is held; longer, the paused two are fenced
/// and their partitions move cleanly to the survivor, which is never
/// fenced (before the fix it was, and with unclean election allowed its
/// partitions were taken by the paused brokers on their return).
#[test]
fn a_pause_of_two_brokers_leaves_the_third_serving() {
    let faults = |d: u32| {
        format!(
            "[[faults]]\nkind = \"pause\"\ntarget = \"broker-1\"\nat = \"10s\"\nduration = \"{d}s\"\n\
             [[faults]]\nkind = \"pause\"\ntarget = \"broker-2\"\nat = \"10s\"\nduration = \"{d}s\"\n"
        )
    };
    for unclean in [false, true] {
        let text = |d| {
            cluster(3, 3, "", &faults(d)).replace(
                "min_insync_replicas = 1",
                &format!("min_insync_replicas = 1\nunclean_leader_election = {unclean}"),
            )
        };
        let (c, seen, s) = run(&text(4), 1);
        assert_eq!(c.verdict(), Verdict::Pass, "{:?}", c.violations);
        assert!(seen.fenced.is_empty(), "{:?}", seen.fenced);
        assert!(seen.elected.is_empty(), "{:?}", seen.elected);
        // The paused leaders' partitions wait 4 s; orders-0 never does.
        assert_eq!(leaderless_ns(&s), 2 * 4 * S);

        let (c, seen, s) = run(&text(15), 1);
        assert_eq!(c.verdict(), Verdict::Pass, "{:?}", c.violations);
        let mut fenced: Vec<u32> = seen.fenced.iter().map(|f| f.1).collect();
        fenced.sort();
        assert_eq!(fenced, vec![1, 2]);
        assert_eq!(seen.unclean, 0);
        assert!(
            seen.elected.iter().all(|&(_, p, b)| p != 0 && b == Some(0)),
            "{:?}",
            seen.elected
        );
        let longest = longest_ns(&s);
        assert!((9 * S..=9 * S + S / 5).contains(&longest), "{longest}");
    }
}

/// Heartbeats go to the active controller: a broker cut off from the
/// controllers is fenced, one cut off only from its peers is not.
#[test]
fn only_a_cut_from_the_controller_fences() {
    let cut = |sides: &str| {
        format!(
            "[[faults]]\nkind = \"partition\"\ntarget = {sides}\nat = \"10s\"\nduration = \"15s\"\n"
        )
    };
    let (c, seen, _) = run(
        &cluster(3, 3, "", &cut(r#"[["broker-0"], ["controllers"]]"#)),
        1,
    );
    assert_eq!(seen.fenced.iter().map(|f| f.1).collect::<Vec<_>>(), vec![0]);
    fenced_about(&seen, 0, 19);
    assert_ne!(c.verdict(), Verdict::Inconclusive);

    let (_, seen, _) = run(
        &cluster(
            3,
            3,
            "",
            &cut(r#"[["broker-0"], ["broker-1", "broker-2"]]"#),
        ),
        1,
    );
    assert!(seen.fenced.is_empty(), "{:?}", seen.fenced);
    assert!(seen.elected.is_empty(), "{:?}", seen.elected);
}

/// Two of three controllers crashed at 5 s (controller-0 back at 35 s) and
/// broker-1 crashed for good at 10 s, with a 20 s availability bound.
const FROZEN_QUORUM: &str = "[[faults]]\nkind = \"crash\"\ntarget = \"controller-0\"\nat = \"5s\"\nrestart_after = \"30s\"\n\
     [[faults]]\nkind = \"crash\"\ntarget = \"controller-1\"\nat = \"5s\"\n\
     [[faults]]\nkind = \"crash\"\ntarget = \"broker-1\"\nat = \"10s\"\n\
     [checks]\nunavailability_bound = \"20s\"\n";

/// Two of three controllers down: the quorum loses its leader and the
/// metadata freezes (a crashed leader's partitions wait, nobody is
/// fenced); once a majority is back, a new controller starts every
/// session afresh and fences the dead broker a session timeout later.
#[test]
fn without_a_majority_of_controllers_the_metadata_freezes() {
    let faults = FROZEN_QUORUM;
    let (c, seen, s) = run(&cluster(3, 3, "", faults), 1);
    // Lost 2 s after the leader was last heard (the tick at 4.9 s: the
    // fetch timeout); controller-0 back at 35 s is elected 1 s later (the
    // election timeout).
    assert_eq!(seen.quorum, vec![(69 * S / 10, None), (36 * S, Some(0))]);
    assert!(
        seen.fenced.iter().all(|&(t, _)| t >= 36 * S),
        "{:?}",
        seen.fenced
    );
    assert!(
        seen.elected.iter().all(|&(t, _, _)| t >= 36 * S),
        "{:?}",
        seen.elected
    );
    fenced_about(&seen, 1, 45);
    let a = s.availability.as_ref().unwrap();
    assert_eq!(a.controller_leaderless_ns, 291 * S / 10);
    // broker-1 led orders-1 from 10 s until the fence at 45 s; the bound ran out at 30 s, while the quorum was still down.
    assert_eq!(status(&c, "availability"), CheckStatus::Fail);
    let v = c
        .violations
        .iter()
        .find(|v| v.invariant == "availability")
        .unwrap();
    assert_eq!(v.partition.as_deref(), Some("orders-1"));
    assert!(
        v.message.contains("leader broker-1 crashed")
            && v.message.contains("the controller quorum had no leader"),
        "{}",
        v.message
    );
    assert!(
        v.explanation
            .iter()
            .any(|l| l.contains("the controller quorum lost its leader")),
        "{:#?}",
        v.explanation
    );
}

/// Combined mode: the first brokers are the voters; the active controller's
/// broker crashing costs the quorum its leader too.
#[test]
fn combined_mode_votes_on_the_brokers() {
    let faults = "[[faults]]\nkind = \"crash\"\ntarget = \"broker-0\"\nat = \"10s\"\n";
    let (c, seen, _) = run(&cluster(3, 3, "mode = \"combined\"", faults), 1);
    assert_eq!(c.verdict(), Verdict::Pass, "{:?}", c.violations);
    assert_eq!(c.result.catalog.voters.len(), 3);
    assert_eq!(
        seen.quorum,
        vec![(119 * S / 10, None), (129 * S / 10, Some(1))]
    );
    // The new controller's sessions start at 12.9 s.
    fenced_about(&seen, 0, 22);
    // No dedicated controller nodes.
    assert!(
        !c.result
            .catalog
            .nodes
            .iter()
            .any(|n| n.starts_with("controller-"))
    );
}

/// `availability` fires when a partition stays without a leader past the
/// bound (its only replica died) and holds through a clean failover.
#[test]
fn availability_fires_on_a_cluster_that_stays_down_and_passes_a_failover() {
    let down = cluster(
        2,
        2,
        "",
        "[[faults]]\nkind = \"crash\"\ntarget = \"broker-1\"\nat = \"10s\"\n",
    )
    .replace("replication_factor = 2", "replication_factor = 1");
    let (c, _, s) = run(&down, 1);
    assert_eq!(status(&c, "availability"), CheckStatus::Fail);
    let v = c
        .violations
        .iter()
        .find(|v| v.invariant == "availability")
        .unwrap();
    assert_eq!(v.t_ns, 40 * S, "found when the bound ran out");
    assert!(
        v.message.contains("orders-1") && v.message.contains("broker-1 crashed"),
        "{}",
        v.message
    );
    let o = s.availability.as_ref().unwrap().topics[0]
        .longest_outage
        .clone()
        .unwrap();
    assert!(o.until_end && o.from_ns == 10 * S, "{o:?}");

    let up = cluster(
        3,
        3,
        "",
        "[[faults]]\nkind = \"crash\"\ntarget = \"broker-1\"\nat = \"10s\"\nrestart_after = \"30s\"\n",
    );
    let (c, _, s) = run(&up, 1);
    assert_eq!(status(&c, "availability"), CheckStatus::Pass);
    assert_eq!(c.verdict(), Verdict::Pass, "{:?}", c.violations);
    let longest = longest_ns(&s);
    assert!((9 * S..=9 * S + S / 5).contains(&longest), "{longest}");

    // Skipped when asked, like any checker.
    let (c, _, _) = run(&format!("{down}\n[checks]\nskip = [\"availability\"]\n"), 1);
    assert_eq!(status(&c, "availability"), CheckStatus::Skipped);
}

/// Time under min ISR: a partition whose followers are gone refuses
/// acks=all writes while its leader still serves.
#[test]
fn under_min_isr_time_is_counted() {
    let text = cluster(3, 1, "replica_lag_time_max = \"1s\"", "[[faults]]\nkind = \"crash\"\ntarget = \"broker-1\"\nat = \"10s\"\nrestart_after = \"20s\"\n")
        .replace("min_insync_replicas = 1", "min_insync_replicas = 3");
    let (_, _, s) = run(&text, 1);
    let t = &s.availability.as_ref().unwrap().topics[0];
    // orders-0 is led by broker-0; its ISR shrinks below 3 about 1 s after
    // the crash and grows back after the restart.
    assert_eq!(t.leaderless_ns, 0);
    assert!(
        (15 * S..=21 * S).contains(&t.under_min_isr_ns),
        "{}",
        t.under_min_isr_ns
    );
}

/// Property: for random crashes, pauses and partitions of brokers and of
/// a minority of controllers, no broker is fenced while it runs and
/// nothing cuts it from the active controller (except at its own restart,
/// when its old incarnation is fenced and the new one let in).
#[test]
fn no_live_broker_reachable_from_the_controller_is_fenced() {
    let faults = r#"
[faults.random]
start = "2s"
stop = "50s"
max_down_brokers = 2

[[faults.random.kinds]]
kind = "crash"
targets = ["brokers", "controllers"]
rate = 4.0
restart_after = { dist = "uniform", min = "1s", max = "15s" }

[[faults.random.kinds]]
kind = "pause"
targets = ["brokers", "controllers"]
rate = 4.0
duration = { dist = "uniform", min = "500ms", max = "14s" }

[[faults.random.kinds]]
kind = "partition"
targets = ["brokers", "controllers"]
rate = 4.0
duration = { dist = "uniform", min = "500ms", max = "14s" }
"#;
    let text = cluster(3, 3, "broker_session_timeout = \"3s\"", faults);
    let s = scenario(&text);
    let mut fenced_total = 0;
    for seed in 0..60 {
        let seen = Rc::new(RefCell::new(Seen::default()));
        let r = {
            let mut w = eventsim::model::World::new(&s, seed);
            w.add_observer(Box::new(Shared(seen.clone())));
            w.run()
        };
        let seen = seen.borrow();
        let c = &r.catalog;
        let node_of = |name: &str| c.nodes.iter().position(|n| n == name).unwrap() as u32;
        // Replay node states, isolations ([[X], ["rest"]]) and the active
        // controller up to each fence.
        let mut state = vec![0u8; c.nodes.len()];
        let mut isolated = vec![0u32; c.nodes.len()];
        let mut active: Option<u32> = Some(0);
        // Per broker: restarted since the controller last let it in (its
        // old incarnation is still registered and is fenced when the new
        // one registers).
        let mut restarted = vec![false; c.brokers as usize];
        for &(t, what, a, b) in &seen.log {
            match what {
                0 => {
                    let broker = a
                        .checked_sub(c.first_broker_node)
                        .filter(|&x| x < c.brokers);
                    if let Some(x) = broker
                        && state[a as usize] == 1
                        && b == 0
                    {
                        restarted[x as usize] = true;
                    }
                    state[a as usize] = b as u8;
                }
                1 => {
                    let f = &r.faults[a as usize];
                    if f.kind == eventsim::scenario::FaultKind::Partition {
                        let side = &f.target.as_ref().unwrap().sides().unwrap().0;
                        let n = node_of(&side[0]);
                        if b == 1 {
                            isolated[n as usize] += 1;
                        } else {
                            isolated[n as usize] -= 1;
                        }
                    }
                }
                2 => active = (a != u32::MAX).then_some(a),
                3 => restarted[a as usize] = false,
                _ => {
                    fenced_total += 1;
                    let node = c.first_broker_node + a;
                    let restarting = restarted[a as usize];
                    let Some(v) = active else {
                        panic!(
                            "seed {seed}: broker-{a} fenced at {t} without an active controller"
                        );
                    };
                    let ctrl = c.voters[v as usize];
                    let reachable = state[node as usize] == 0
                        && isolated[node as usize] == 0
                        && state[ctrl as usize] == 0
                        && isolated[ctrl as usize] == 0;
                    assert!(
                        !reachable || restarting,
                        "seed {seed}: broker-{a} fenced at {t} while up and reachable from {}",
                        c.nodes[ctrl as usize]
                    );
                }
            }
        }
    }
    assert!(
        fenced_total > 50,
        "the schedules fence brokers: {fenced_total}"
    );
}

/// Same scenario and seed, same bytes: the quorum and the figures are
/// deterministic.
#[test]
fn the_quorum_and_availability_are_deterministic() {
    let faults = "[[faults]]\nkind = \"crash\"\ntarget = \"controller-0\"\nat = \"5s\"\nrestart_after = \"3s\"\n\
                  [[faults]]\nkind = \"partition\"\ntarget = [[\"broker-2\"], [\"rest\"]]\nat = \"8s\"\nduration = \"12s\"\n";
    let text = cluster(3, 6, "", faults);
    let a = run(&text, 7).2.to_json();
    let b = run(&text, 7).2.to_json();
    assert_eq!(a, b);
    assert!(a.contains("\"availability\""));
}

/// A history written by a run and read back by `check-history` is judged
/// the same by `availability` (the quorum's observations included).
#[test]
fn a_history_read_back_is_judged_the_same() {
    use crate::common::{eventsim, stderr, stdout};
    let faults = FROZEN_QUORUM;
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("s.toml");
    std::fs::write(&scenario, cluster(3, 3, "", faults)).unwrap();
    let history = tmp.path().join("h.jsonl");
    let out = tmp.path().join("out");
    let o = eventsim(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = std::fs::read_to_string(&history).unwrap();
    assert!(text.contains("\"type\":\"controller\""));
    let o = eventsim(&[
        "check-history",
        history.to_str().unwrap(),
        "--scenario",
        scenario.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let first = summary["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "availability")
        .unwrap()["first"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(stdout(&o).contains(&first), "{first} in {}", stdout(&o));
}
