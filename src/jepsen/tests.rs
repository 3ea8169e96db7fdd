//! The cases of Jepsen's own Kafka checker tests (`kafka_test.clj` in
//! jepsen-io/jepsen), each written here over the same history and
//! asserting the same anomalies. Operations are one per line, so an
//! operation is named by its line (`L3`). Where eventsim answers
//! differently on purpose, the test says why. Two differences run
//! through all of them: every completion here follows its invocation (the
//! reader refuses a completion without one, and some of Jepsen's cases
//! leave invocations out), and when one offset holds two values the
//! version order keeps the greatest (Jepsen's keeps whichever its hash
//! set yields first).

use super::*;

fn history(lines: &[&str]) -> History {
    read_edn(&lines.join("\n")).unwrap_or_else(|e| panic!("{e}"))
}

fn show(h: &History, a: &Anomaly) -> String {
    let t = |v: &Atom| h.atoms.text(*v);
    let list = |vs: &[Atom]| vs.iter().map(t).collect::<Vec<_>>().join(" ");
    let mut s = a.name.map(Name::as_str).unwrap_or("?").to_string();
    if let Some(k) = a.key {
        s += &format!(" key={}", t(&k));
    }
    if !a.values.is_empty() {
        s += &format!(" values=[{}]", list(&a.values));
    }
    if !a.skipped.is_empty() {
        s += &format!(" skipped=[{}]", list(&a.skipped));
    }
    if let Some(d) = a.delta {
        s += &format!(" delta={d}");
    }
    if !a.offsets.is_empty() {
        let o: Vec<String> = a.offsets.iter().map(|o| o.to_string()).collect();
        s += &format!(" offsets=[{}]", o.join(" "));
    }
    if let Some(i) = a.index {
        s += &format!(" index={i}");
    }
    if let Some(i) = a.max_read_index {
        s += &format!(" max-read-index={i}");
    }
    if let Some(c) = a.count {
        s += &format!(" count={c}");
    }
    let ops: Vec<String> = a
        .ops
        .iter()
        .map(|&o| format!("L{}", h.ops[o as usize].line))
        .collect();
    s += &format!(" ops=[{}]", ops.join(" "));
    for st in &a.steps {
        s += &match st.value2 {
            Some(v2) if !st.wr => format!(" ww:{}:{}>{}", t(&st.key), t(&st.value), t(&v2)),
            _ => format!(" wr:{}:{}", t(&st.key), t(&st.value)),
        };
    }
    if a.allowed {
        s += " (allowed)";
    }
    s
}

fn found(lines: &[&str], name: Name) -> Vec<String> {
    let h = history(lines);
    let a = analyse(&h, false);
    a.of(name).into_iter().map(|x| show(&h, x)).collect()
}

#[test]
fn version_orders_conflicts_are_inconsistent_offsets() {
    // Read a and b at offsets 0 and 1; an :info send wrote c at 1, b at 3
    // and d at 4: it must have committed, since b was read.
    let h = [
        "{:type :invoke, :f :poll, :process 0, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 0, :value [[:poll {:x [[0 :a] [1 :b]]}]]}",
        "{:type :invoke, :f :send, :process 1, :value [[:send :x :c] [:send :x :b] [:send :x :d]]}",
        "{:type :info, :f :send, :process 1, :value [[:send :x [1 :c]] [:send :x [3 :b]] [:send :x [4 :d]]]}",
    ];
    assert_eq!(
        found(&h, Name::InconsistentOffsets),
        ["inconsistent-offsets key=:x values=[:b :c] offsets=[1] index=1 ops=[L2 L4]"]
    );
    // "A real-world example": two sends told the same offset.
    let h = [
        "{:type :invoke, :f :send, :value [[:send 11 641]], :time 280153467070, :process 379}",
        "{:type :ok, :f :send, :value [[:send 11 [537 641]]], :time 280169754615, :process 379}",
        "{:type :invoke, :f :send, :value [[:send 11 645]], :time 283654729962, :process 363}",
        "{:type :ok, :f :send, :value [[:send 11 [537 645]]], :time 287474569112, :process 363}",
    ];
    assert_eq!(
        found(&h, Name::InconsistentOffsets),
        ["inconsistent-offsets key=11 values=[641 645] offsets=[537] index=0 ops=[L2 L4]"]
    );
}

#[test]
fn an_info_send_conflicts_only_once_a_read_proves_it_committed() {
    let sends = [
        "{:index 0, :type :invoke, :f :send, :process 0, :value [[:send :x 1] [:send :y 1]]}",
        "{:index 1, :type :info, :f :send, :process 0, :value [[:send :x [0 1]] [:send :y 1]]}",
        "{:index 2, :type :invoke, :f :send, :process 1, :value [[:send :x 2]]}",
        "{:index 3, :type :ok, :f :send, :process 1, :value [[:send :x [0 2]]]}",
    ];
    assert!(found(&sends, Name::InconsistentOffsets).is_empty());
    let mut h = sends.to_vec();
    h.push("{:index 4, :type :invoke, :f :poll, :process 2, :value [[:poll]]}");
    h.push("{:index 5, :type :ok, :f :poll, :process 2, :value [[:poll {:y [[5 1]]}]]}");
    assert_eq!(
        found(&h, Name::InconsistentOffsets),
        ["inconsistent-offsets key=:x values=[1 2] offsets=[0] index=0 ops=[L2 L4]"]
    );
}

#[test]
fn g1a_a_failed_write_read() {
    let h = [
        "{:type :invoke, :f :send, :process 0, :value [[:send :x 2] [:send :y 3]]}",
        "{:type :fail, :f :send, :process 0, :value [[:send :x 2] [:send :y 3]]}",
        "{:type :invoke, :f :poll, :process 1, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 1, :value [[:poll {:x [[0 2]]}]]}",
    ];
    assert_eq!(found(&h, Name::G1a), ["G1a key=:x values=[2] ops=[L2 L4]"]);
}

#[test]
fn lost_write_consistent() {
    // a at 0, b at 1, d at 3; a poll reads c at 2: a and b were lost.
    let h = [
        "{:type :invoke, :f :send, :process 0, :value [[:send :x :a]]}",
        "{:type :ok, :f :send, :process 0, :value [[:send :x [0 :a]]]}",
        "{:type :invoke, :f :send, :process 0, :value [[:send :x :b] [:send :x :d]]}",
        "{:type :ok, :f :send, :process 0, :value [[:send :x [1 :b]] [:send :x [3 :d]]]}",
        "{:type :invoke, :f :send, :process 1, :value [[:send :x :c]]}",
        "{:type :info, :f :send, :process 1, :value [[:send :x :c]]}",
        "{:type :invoke, :f :poll, :process 0, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 0, :value [[:poll {:x [[2 :c]]}]]}",
    ];
    assert_eq!(
        found(&h, Name::LostWrite),
        [
            "lost-write key=:x values=[:a] index=0 max-read-index=2 ops=[L2 L8]",
            "lost-write key=:x values=[:b] index=1 max-read-index=2 ops=[L4 L8]",
        ]
    );
}

#[test]
fn lost_write_inconsistent() {
    // a told offset 0, b told 0 too, c at 2; a read of b and c: a was lost.
    let h = [
        "{:type :invoke, :f :send, :process 0, :value [[:send :x :a]]}",
        "{:type :ok, :f :send, :process 0, :value [[:send :x [0 :a]]]}",
        "{:type :invoke, :f :send, :process 0, :value [[:send :x :b] [:send :x :c]]}",
        "{:type :ok, :f :send, :process 0, :value [[:send :x [0 :b]] [:send :x [2 :c]]]}",
        "{:type :invoke, :f :poll, :process 0, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 0, :value [[:poll {:x [[0 :b] [2 :c]]}]]}",
    ];
    assert_eq!(
        found(&h, Name::LostWrite),
        ["lost-write key=:x values=[:a] index=0 max-read-index=1 ops=[L2 L6]"]
    );
}

#[test]
fn lost_write_atomic() {
    // A crashed transaction's values count once any of them was read.
    let base = [
        "{:type :invoke, :f :send, :process 0, :value [[:send :x :a] [:send :y :b]]}",
        "{:type :info, :f :send, :process 0, :value [[:send :x :a] [:send :y [0 :b]]]}",
        "{:type :invoke, :f :send, :process 1, :value [[:send :y :c]]}",
        "{:type :info, :f :send, :process 1, :value [[:send :y :c]]}",
    ];
    let poll_a = [
        "{:type :invoke, :f :poll, :process 2, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 2, :value [[:poll {:x [[0 :a]]}]]}",
    ];
    let poll_c = [
        "{:type :invoke, :f :poll, :process 3, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 3, :value [[:poll {:y [[1 :c]]}]]}",
    ];
    let without: Vec<&str> = base.iter().chain(&poll_c).copied().collect();
    assert!(found(&without, Name::LostWrite).is_empty());
    let with: Vec<&str> = base.iter().chain(&poll_a).chain(&poll_c).copied().collect();
    assert_eq!(
        found(&with, Name::LostWrite),
        ["lost-write key=:y values=[:b] index=0 max-read-index=1 ops=[L2 L8]"]
    );
}

/// The poll-skip case: process 0 reads offsets 1 2, then 4, then 7; 3 and
/// 6 are known to exist.
fn poll_skip_history(between_4: &[&'static str], between_7: &[&'static str]) -> Vec<&'static str> {
    let mut h = vec![
        "{:type :invoke, :f :poll, :process 0, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 0, :value [[:poll {:x [[1 :a] [2 :b]]}]]}",
        "{:type :invoke, :f :poll, :process 1, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 1, :value [[:poll {:x [[3 :c]]}]]}",
    ];
    h.extend(between_4);
    h.push("{:type :invoke, :f :poll, :process 0, :value [[:poll]]}");
    h.push("{:type :ok, :f :poll, :process 0, :value [[:poll {:x [[4 :d]]}]]}");
    h.extend(between_7);
    h.extend([
        "{:type :invoke, :f :send, :process 2, :value [[:send :x :f]]}",
        "{:type :ok, :f :send, :process 2, :value [[:send :x [6 :f]]]}",
        "{:type :invoke, :f :poll, :process 0, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 0, :value [[:poll {:x [[7 :g]]}]]}",
        "{:type :invoke, :f :send, :process 3, :value [[:send :x :a] [:send :x :b] [:send :x :c] [:send :x :d] [:send :x :g]]}",
        "{:type :info, :f :send, :process 3, :value [[:send :x :a] [:send :x :b] [:send :x :c] [:send :x :d] [:send :x :g]]}",
    ]);
    h
}

#[test]
fn poll_skip() {
    let skips = |h: &[&str]| {
        found(h, Name::PollSkip)
            .into_iter()
            .map(|s| s.split(" ops=").next().unwrap_or("").to_string())
            .collect::<Vec<_>>()
    };
    let errs = [
        "poll-skip key=:x skipped=[:c] delta=2",
        "poll-skip key=:x skipped=[:f] delta=2",
    ];
    assert_eq!(skips(&poll_skip_history(&[], &[])), errs);
    // A subscribe or assign that leaves :x out forgets where :x was.
    let sub_y = [
        "{:type :invoke, :f :subscribe, :process 0, :value [:y]}",
        "{:type :ok, :f :subscribe, :process 0, :value [:y]}",
    ];
    let assign_y = [
        "{:type :invoke, :f :assign, :process 0, :value [:y]}",
        "{:type :info, :f :assign, :process 0, :value [:y]}",
    ];
    assert!(skips(&poll_skip_history(&sub_y, &assign_y)).is_empty());
    // One that keeps :x keeps it.
    let sub_xy = [
        "{:type :invoke, :f :subscribe, :process 0, :value [:x :y]}",
        "{:type :ok, :f :subscribe, :process 0, :value [:x :y]}",
    ];
    let assign_xy = [
        "{:type :invoke, :f :assign, :process 0, :value [:x :y]}",
        "{:type :ok, :f :assign, :process 0, :value [:x :y]}",
    ];
    let h = poll_skip_history(&sub_xy, &assign_xy);
    assert_eq!(skips(&h), errs);
    // eventsim, beyond Jepsen's case: a history that subscribes counts
    // its poll skips as allowed (a rebalance may move a key unseen), as
    // Jepsen's checker does for tests run with subscribe.
    assert!(
        found(&h, Name::PollSkip)
            .iter()
            .all(|s| s.ends_with("(allowed)"))
    );
}

const SIX_SENT: [&str; 2] = [
    "{:type :invoke, :f :send, :process 0, :value [[:send :x 0] [:send :x 1] [:send :x 2] [:send :x 3] [:send :x 4] [:send :x 5]]}",
    "{:type :ok, :f :send, :process 0, :value [[:send :x [0 0]] [:send :x [1 1]] [:send :x [2 2]] [:send :x [3 3]] [:send :x [4 4]] [:send :x [5 5]]]}",
];

#[test]
fn an_aborted_transaction_s_polls_rewind() {
    let mut good = SIX_SENT.to_vec();
    good.extend([
        "{:type :invoke, :f :txn, :process 1, :value [[:poll]]}",
        "{:type :ok, :f :txn, :process 1, :value [[:poll {:x [[0 0]]}]]}",
        "{:type :invoke, :f :txn, :process 1, :value [[:poll]]}",
        "{:type :fail, :f :txn, :process 1, :value [[:poll {:x [[1 1] [2 2]]}]]}",
        "{:type :invoke, :f :txn, :process 1, :value [[:poll]]}",
        "{:type :info, :f :txn, :process 1, :value [[:poll {:x [[1 1] [2 2]]}]]}",
        "{:type :invoke, :f :txn, :process 1, :value [[:poll]]}",
        "{:type :ok, :f :txn, :process 1, :value [[:poll {:x [[1 1] [2 2]]}]]}",
    ]);
    // Only the unread 3, 4 and 5 are left (unseen): no poll skipped or
    // went back.
    let h = history(&good);
    let a = analyse(&h, false);
    let bad: Vec<String> = a
        .anomalies
        .iter()
        .filter(|x| !x.allowed && x.name != Some(Name::Unseen))
        .map(|x| show(&h, x))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
}

#[test]
fn an_abort_that_does_not_roll_back_is_a_poll_skip() {
    let mut h = SIX_SENT.to_vec();
    h.extend([
        "{:type :invoke, :f :txn, :process 1, :value [[:poll]]}",
        "{:type :ok, :f :txn, :process 1, :value [[:poll {:x [[0 0]]}]]}",
        "{:type :invoke, :f :txn, :process 1, :value [[:poll]]}",
        "{:type :fail, :f :txn, :process 1, :value [[:poll {:x [[1 1] [2 2]]}]]}",
        "{:type :invoke, :f :txn, :process 1, :value [[:poll]]}",
        "{:type :fail, :f :txn, :process 1, :value [[:poll {:x [[3 3] [4 4]]}]]}",
        "{:type :invoke, :f :txn, :process 1, :value [[:poll]]}",
        "{:type :ok, :f :txn, :process 1, :value [[:poll {:x [[5 5]]}]]}",
    ]);
    assert_eq!(
        found(&h, Name::PollSkip),
        [
            "poll-skip key=:x skipped=[1 2] delta=3 ops=[L4 L8]",
            "poll-skip key=:x skipped=[1 2 3 4] delta=5 ops=[L4 L10]",
        ]
    );
    // An :info poll that did not rewind is one too.
    let mut h = SIX_SENT.to_vec();
    h.extend([
        "{:type :invoke, :f :txn, :process 1, :value [[:poll]]}",
        "{:type :ok, :f :txn, :process 1, :value [[:poll {:x [[0 0]]}]]}",
        "{:type :invoke, :f :txn, :process 1, :value [[:poll]]}",
        "{:type :fail, :f :txn, :process 1, :value [[:poll {:x [[1 1] [2 2]]}]]}",
        "{:type :invoke, :f :txn, :process 1, :value [[:poll]]}",
        "{:type :info, :f :txn, :process 1, :value [[:poll {:x [[3 3] [4 4]]}]]}",
    ]);
    assert_eq!(
        found(&h, Name::PollSkip),
        ["poll-skip key=:x skipped=[1 2] delta=3 ops=[L4 L8]"]
    );
}

fn nonmonotonic_poll_history(between: &[&'static str]) -> Vec<&'static str> {
    let mut h = vec![
        "{:type :invoke, :f :send, :process 0, :value [[:send :x :a] [:send :x :b] [:send :x :c] [:send :x :d]]}",
        "{:type :ok, :f :send, :process 0, :value [[:send :x :a] [:send :x :b] [:send :x :c] [:send :x :d]]}",
        "{:type :invoke, :f :poll, :process 0, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 0, :value [[:poll {:x [[1 :a] [2 :b] [3 :c]]}]]}",
    ];
    h.extend(between);
    h.push("{:type :invoke, :f :poll, :process 0, :value [[:poll]]}");
    h.push("{:type :ok, :f :poll, :process 0, :value [[:poll {:x [[2 :b] [3 :c] [4 :d]]}]]}");
    h
}

#[test]
fn nonmonotonic_poll() {
    let nm = |h: &[&str]| {
        found(h, Name::NonmonotonicPoll)
            .into_iter()
            .map(|s| s.replace(" (allowed)", ""))
            .collect::<Vec<_>>()
    };
    let err = |last: usize| {
        vec![format!(
            "nonmonotonic-poll key=:x values=[:c :b] delta=-1 ops=[L4 L{last}]"
        )]
    };
    assert_eq!(nm(&nonmonotonic_poll_history(&[])), err(6));
    for (f, keep) in [
        ("subscribe", ":y"),
        ("assign", ":y"),
        ("subscribe", ":x :y"),
        ("assign", ":x :y"),
    ] {
        let inv = format!("{{:type :invoke, :f :{f}, :process 0, :value [{keep}]}}");
        let ok = format!("{{:type :ok, :f :{f}, :process 0, :value [{keep}]}}");
        let between: [&'static str; 2] = [inv.leak(), ok.leak()];
        let h = nonmonotonic_poll_history(&between);
        if keep == ":y" {
            assert!(nm(&h).is_empty(), "{f} {keep}");
        } else {
            assert_eq!(nm(&h), err(8), "{f} {keep}");
        }
    }
}

#[test]
fn nonmonotonic_send() {
    let send = |between: &[&'static str]| {
        let mut h = vec![
            "{:type :invoke, :f :send, :process 0, :value [[:send :x :c] [:send :x :d]]}",
            "{:type :ok, :f :send, :process 0, :value [[:send :x [3 :c]] [:send :x [4 :d]]]}",
        ];
        h.extend(between);
        h.push("{:type :invoke, :f :send, :process 0, :value [[:send :x 1] [:send :x 2]]}");
        h.push("{:type :ok, :f :send, :process 0, :value [[:send :x [1 :a]] [:send :x [2 :b]]]}");
        found(&h, Name::NonmonotonicSend)
    };
    let err = |last: usize| {
        vec![format!(
            "nonmonotonic-send key=:x values=[:d :a] delta=-3 ops=[L2 L{last}]"
        )]
    };
    assert_eq!(send(&[]), err(4));
    for (f, kind, keep) in [
        ("subscribe", "ok", ":y"),
        ("assign", "info", ":y"),
        ("subscribe", "ok", ":x :y"),
        ("assign", "ok", ":x :y"),
    ] {
        let inv = format!("{{:type :invoke, :f :{f}, :process 0, :value [{keep}]}}");
        let done = format!("{{:type :{kind}, :f :{f}, :process 0, :value [{keep}]}}");
        let r = send(&[inv.leak(), done.leak()]);
        if keep == ":y" {
            assert!(r.is_empty(), "{f} {keep}");
        } else {
            assert_eq!(r, err(6), "{f} {keep}");
        }
    }
}

#[test]
fn int_poll_skip() {
    let h = [
        "{:type :invoke, :f :send, :process 1, :value [[:send :x :a] [:send :x :b] [:send :x :d]]}",
        "{:type :info, :f :send, :process 1, :value [[:send :x :a] [:send :x :b] [:send :x :d]]}",
        "{:type :invoke, :f :poll, :process 0, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 0, :value [[:poll {:x [[1 :a] [4 :d]]}]]}",
        "{:type :invoke, :f :poll, :process 0, :value [[:poll] [:poll]]}",
        "{:type :ok, :f :poll, :process 0, :value [[:poll {:x [[1 :a]]}] [:poll {:x [[4 :d]]}]]}",
        "{:type :invoke, :f :poll, :process 0, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 0, :value [[:poll {:x [[2 :b]]}]]}",
    ];
    assert_eq!(
        found(&h, Name::IntPollSkip),
        [
            "int-poll-skip key=:x values=[:a :d] skipped=[:b] delta=2 ops=[L4]",
            "int-poll-skip key=:x values=[:a :d] skipped=[:b] delta=2 ops=[L6]",
        ]
    );
}

#[test]
fn int_send_skip_is_found_and_allowed() {
    let h = [
        "{:type :invoke, :f :send, :process 0, :value [[:send :x :a] [:send :x :c]]}",
        "{:type :ok, :f :send, :process 0, :value [[:send :x [1 :a]] [:send :x :c]]}",
        "{:type :invoke, :f :send, :process 1, :value [[:send :x :b]]}",
        "{:type :info, :f :send, :process 1, :value [[:send :x :b]]}",
        "{:type :invoke, :f :poll, :process 2, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 2, :value [[:poll {:x [[2 :b] [3 :c]]}]]}",
    ];
    assert_eq!(
        found(&h, Name::IntSendSkip),
        ["int-send-skip key=:x values=[:a :c] skipped=[:b] delta=2 ops=[L2] (allowed)"]
    );
}

#[test]
fn int_nonmonotonic_poll() {
    let h = [
        "{:type :invoke, :f :send, :process 0, :value [[:send :x :a] [:send :x :b] [:send :x :c]]}",
        "{:type :info, :f :send, :process 0, :value [[:send :x :a] [:send :x :b] [:send :x :c]]}",
        "{:type :invoke, :f :poll, :process 1, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 1, :value [[:poll {:x [[3 :c] [1 :a]]}]]}",
        "{:type :invoke, :f :poll, :process 1, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 1, :value [[:poll {:x [[2 :b] [3 :c]]}] [:poll {:x [[3 :c]]}]]}",
    ];
    assert_eq!(
        found(&h, Name::IntNonmonotonicPoll),
        [
            "int-nonmonotonic-poll key=:x values=[:c :a] delta=-2 ops=[L4]",
            "int-nonmonotonic-poll key=:x values=[:c :c] delta=0 ops=[L6]",
        ]
    );
}

#[test]
fn int_nonmonotonic_send() {
    let h = [
        "{:type :invoke, :f :send, :process 0, :value [[:send :x 3] [:send :x 1]]}",
        "{:type :ok, :f :send, :process 0, :value [[:send :x [3 :c]] [:send :x [1 :a]]]}",
        "{:type :invoke, :f :send, :process 1, :value [[:send :y :d] [:send :y :b]]}",
        "{:type :info, :f :send, :process 1, :value [[:send :y :d] [:send :y :b]]}",
        "{:type :invoke, :f :send, :process 2, :value [[:send :y :c]]}",
        "{:type :info, :f :send, :process 2, :value [[:send :y :c]]}",
        "{:type :invoke, :f :poll, :process 3, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 3, :value [[:poll {:y [[2 :b] [3 :c] [4 :d]]}]]}",
    ];
    assert_eq!(
        found(&h, Name::IntNonmonotonicSend),
        [
            "int-nonmonotonic-send key=:x values=[:c :a] delta=-1 ops=[L2]",
            "int-nonmonotonic-send key=:y values=[:d :b] delta=-2 ops=[L4]",
        ]
    );
}

#[test]
fn duplicates() {
    // a sent to 1, and read at 3.
    let h = [
        "{:type :invoke, :f :send, :process 0, :value [[:send :x :a]]}",
        "{:type :ok, :f :send, :process 0, :value [[:send :x [1 :a]]]}",
        "{:type :invoke, :f :send, :process 1, :value [[:send :x :b]]}",
        "{:type :info, :f :send, :process 1, :value [[:send :x :b]]}",
        "{:type :invoke, :f :poll, :process 2, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 2, :value [[:poll {:x [[2 :b] [3 :a]]}]]}",
    ];
    assert_eq!(
        found(&h, Name::Duplicate),
        ["duplicate key=:x values=[:a] offsets=[1 3] count=2 ops=[L2]"]
    );
    // Hash-insensitive: ten values each sent to 0 and polled at 1.
    let mut lines = Vec::new();
    for v in 0..10 {
        lines.push(format!(
            "{{:type :invoke, :f :send, :process 0, :value [[:send :x {v}]]}}"
        ));
        lines.push(format!(
            "{{:type :ok, :f :send, :process 0, :value [[:send :x [0 {v}]]]}}"
        ));
        lines.push("{:type :invoke, :f :poll, :process 1, :value [[:poll]]}".to_string());
        lines.push(format!(
            "{{:type :ok, :f :poll, :process 1, :value [[:poll {{:x [[1 {v}]]}}]]}}"
        ));
    }
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let h = history(&lines);
    let a = analyse(&h, false);
    let dups: Vec<String> = a
        .of(Name::Duplicate)
        .iter()
        .map(|d| h.atoms.text(d.values[0]))
        .collect();
    assert_eq!(dups, (0..10).map(|v| v.to_string()).collect::<Vec<_>>());
    let inc: Vec<String> = a
        .of(Name::InconsistentOffsets)
        .iter()
        .map(|x| show(&h, x))
        .collect();
    assert_eq!(inc.len(), 2);
    assert!(inc[0].starts_with(
        "inconsistent-offsets key=:x values=[0 1 2 3 4 5 6 7 8 9] offsets=[0] index=0"
    ));
    assert!(inc[1].starts_with(
        "inconsistent-offsets key=:x values=[0 1 2 3 4 5 6 7 8 9] offsets=[1] index=1"
    ));
    // An aborted poll's records count: 0 is duplicated, 1 never written.
    let h = [
        "{:type :invoke, :f :send, :process 0, :value [[:send :x 0]]}",
        "{:type :ok, :f :send, :process 0, :value [[:send :x [1 0]]]}",
        "{:type :invoke, :f :send, :process 0, :value [[:send :x 1]]}",
        "{:type :fail, :f :send, :process 0, :value [[:send :x [2 1]]]}",
        "{:type :invoke, :f :poll, :process 1, :value [[:poll]]}",
        "{:type :fail, :f :poll, :process 1, :value [[:poll {:x [[11 0] [12 1]]}]]}",
    ];
    assert_eq!(
        found(&h, Name::Duplicate),
        ["duplicate key=:x values=[0] offsets=[1 11] count=2 ops=[L2]"]
    );
}

#[test]
fn unseen() {
    let h = [
        "{:type :invoke, :f :poll, :process 0, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 0, :value [[:poll {}]]}",
        "{:type :invoke, :f :send, :process 0, :value [[:send :x :a] [:send :x :b]]}",
        "{:type :ok, :f :send, :process 0, :value [[:send :x [0 :a]] [:send :x [1 :b]]]}",
        "{:type :invoke, :f :poll, :process 0, :value [[:poll]]}",
        "{:type :ok, :f :poll, :process 0, :value [[:poll {:x [[0 :a]]}]]}",
    ];
    assert_eq!(
        found(&h, Name::Unseen),
        ["unseen key=:x values=[:b] count=1 ops=[L4]"]
    );
    let mut all = h.to_vec();
    all.push("{:type :invoke, :f :poll, :process 0, :value [[:poll]]}");
    all.push("{:type :ok, :f :poll, :process 0, :value [[:poll {:x [[1 :b]]}]]}");
    assert!(found(&all, Name::Unseen).is_empty());
}

#[test]
fn g0_a_write_cycle_is_allowed() {
    let h = [
        "{:type :invoke, :f :send, :process 0, :value [[:send :x :a] [:send :y :a]]}",
        "{:type :invoke, :f :send, :process 1, :value [[:send :x :b] [:send :y :b]]}",
        "{:type :ok, :f :send, :process 0, :value [[:send :x [0 :a]] [:send :y [1 :a]]]}",
        "{:type :ok, :f :send, :process 1, :value [[:send :x [1 :b]] [:send :y [0 :b]]]}",
    ];
    // Jepsen starts the cycle at process 1's send; eventsim at the first
    // operation in the file. The same cycle.
    assert_eq!(
        found(&h, Name::G0),
        ["G0 ops=[L3 L4 L3] ww::x::a>:b ww::y::b>:a (allowed)"]
    );
}

#[test]
fn g1c_pure_write_read_is_not_allowed_at_read_committed() {
    let h = [
        "{:type :invoke, :f :txn, :process 0, :value [[:send :x :a] [:poll]]}",
        "{:type :invoke, :f :txn, :process 1, :value [[:send :y :b] [:poll]]}",
        "{:type :ok, :f :txn, :process 0, :value [[:send :x [0 :a]] [:poll {:y [[0 :b]]}]]}",
        "{:type :ok, :f :txn, :process 1, :value [[:send :y [0 :b]] [:poll {:x [[0 :a]]}]]}",
    ];
    assert_eq!(
        found(&h, Name::G1c),
        ["G1c ops=[L3 L4 L3] wr::x::a wr::y::b"]
    );
    let parsed = history(&h);
    assert!(analyse(&parsed, true).of(Name::G1c)[0].allowed);
}

#[test]
fn g1c_with_a_write_order_edge_is_allowed() {
    let h = [
        "{:type :invoke, :f :txn, :process 0, :value [[:send :x :a] [:send :y :c]]}",
        "{:type :invoke, :f :txn, :process 1, :value [[:poll] [:send :y :b]]}",
        "{:type :ok, :f :txn, :process 0, :value [[:send :x [0 :a]] [:send :y [2 :c]]]}",
        "{:type :ok, :f :txn, :process 1, :value [[:poll {:x [[0 :a]]}] [:send :y [1 :b]]]}",
    ];
    assert_eq!(
        found(&h, Name::G1c),
        ["G1c ops=[L3 L4 L3] wr::x::a ww::y::b>:c (allowed)"]
    );
}

#[test]
fn precommitted_read() {
    let h = [
        "{:type :invoke, :f :txn, :process 0, :value [[:send :x :a] [:poll]]}",
        "{:type :ok, :f :txn, :process 0, :value [[:send :x [0 :a]] [:poll {:x [[0 :a]]}]]}",
    ];
    assert_eq!(
        found(&h, Name::PrecommittedRead),
        ["precommitted-read key=:x values=[:a] ops=[L2]"]
    );
}

#[test]
fn no_cut_or_changed_byte_makes_the_reader_or_the_checker_panic() {
    let text = [
        "; a comment",
        "{:type :invoke, :f :txn, :process 0, :value [[:send :x :a] [:poll]]}",
        "{:type :invoke, :f :send, :process 1, :value [[:send \"k\" 1] [:send :y 2]]}",
        "{:type :ok, :f :txn, :process 0, :value [[:send :x [0 :a]] [:poll {:x [[0 :a]], :y [[3 2] [1 9]]}]]}",
        "{:type :info, :f :send, :process 1, :value [[:send \"k\" [2 1]] [:send :y [3 2]]]}",
        "{:type :invoke, :f :assign, :process 2, :value [:x :y]}",
        "{:type :ok, :f :assign, :process 2, :value [:x :y]}",
        "#jepsen.history.Op{:type :invoke, :f :poll, :process 2, :value [[:poll]]}",
        "{:type :fail, :f :poll, :process 2, :value [[:poll {:x [[0 :b] [0 :a]], \"k\" nil}]]}",
    ]
    .join("\n");
    let run = |t: &str| {
        if let Ok(h) = read_edn(t) {
            let a = analyse(&h, false);
            for x in &a.anomalies {
                describe(&h, x);
                report::violation_line(&h, x);
            }
            report::page_html(&h, &a, "h.edn");
        }
    };
    run(&text);
    for cut in 0..text.len() {
        if text.is_char_boundary(cut) {
            run(&text[..cut]);
        }
    }
    let swaps = [
        '}', '{', '[', ']', ' ', ':', '"', '#', '1', '-', '\n', 'x', 'é',
    ];
    for at in 0..text.len() {
        if !text.is_char_boundary(at) || !text.is_char_boundary(at + 1) {
            continue;
        }
        for c in swaps {
            let mut t = text[..at].to_string();
            t.push(c);
            t.push_str(&text[at + 1..]);
            run(&t);
        }
    }
}

#[test]
fn a_correct_queue_history_holds_no_anomaly_for_any_seed() {
    for seed in 0..30 {
        let h = read_edn(&synthetic(3_000, seed)).unwrap_or_else(|e| panic!("{e}"));
        let a = analyse(&h, false);
        let found: Vec<String> = a.anomalies.iter().map(|x| show(&h, x)).collect();
        assert!(found.is_empty(), "seed {seed}: {found:?}");
        assert!(a.ops > 2_900, "seed {seed}: {} ops", a.ops);
    }
}

#[test]
fn a_history_written_and_read_again_judges_the_same() {
    for text in [synthetic(2_000, 3), history_text(&G1C_WW)] {
        let h = read_edn(&text).unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        write_edn(&h, &mut out).unwrap_or_default();
        let again =
            read_edn(&String::from_utf8(out).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.ops.len(), again.ops.len());
        let shown = |h: &History| {
            analyse(h, false)
                .anomalies
                .iter()
                .map(|a| show(h, a))
                .collect::<Vec<_>>()
        };
        assert_eq!(shown(&h), shown(&again));
    }
}

const G1C_WW: [&str; 4] = [
    "{:type :invoke, :f :txn, :process 0, :value [[:send :x :a] [:send :y :c]]}",
    "{:type :ok, :f :txn, :process 0, :value [[:send :x [0 :a]] [:send :y [2 :c]]]}",
    "{:type :invoke, :f :txn, :process 1, :value [[:poll] [:send :y :b]]}",
    "{:type :ok, :f :txn, :process 1, :value [[:poll {:x [[0 :a]]}] [:send :y [1 :b]]]}",
];

fn history_text(lines: &[&str]) -> String {
    lines.join("\n")
}
