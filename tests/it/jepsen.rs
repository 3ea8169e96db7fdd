//! `eventsim check-history --format jepsen`: Jepsen's and Maelstrom's
//! Kafka histories, read and judged from the command line.

use crate::common::{eventsim, repo, stderr, stdout};

fn check(file: &str, out: &std::path::Path) -> std::process::Output {
    eventsim(&[
        "check-history",
        "--format",
        "jepsen",
        repo(file).to_str().unwrap_or_default(),
        "--out",
        out.to_str().unwrap_or_default(),
    ])
}

fn temp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("eventsim-jepsen-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn a_lost_write_fails_with_its_writer_and_the_reader_that_read_past_it() {
    let out = temp("lost");
    let o = check("tests/jepsen/lost-write.edn", &out);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("lost-write             2 violation(s)"),
        "{text}"
    );
    assert!(text.contains("verdict: fail"), "{text}");
    let lines = std::fs::read_to_string(out.join("violations.jsonl")).unwrap_or_default();
    let first: serde_json::Value =
        serde_json::from_str(lines.lines().next().unwrap_or("")).unwrap_or_default();
    assert_eq!(first["anomaly"], "lost-write");
    assert_eq!(first["allowed"], false);
    assert_eq!(first["key"], "7");
    // The writer's line and the poll's line in the file.
    assert_eq!(first["lines"], serde_json::json!([6, 15]));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("summary.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(summary["verdict"], "fail");
    // The nemesis's operation is skipped, not refused.
    assert_eq!(summary["skipped_operations"], 1);
    let page = std::fs::read_to_string(out.join("index.html")).unwrap_or_default();
    let headings = crate::common::well_formed(&page);
    assert_eq!(
        headings,
        [
            "lost-write: 2 violation(s), 0 allowed",
            "unseen: 1 violation(s), 0 allowed"
        ]
    );
    assert!(page.contains("verdict: fail"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_clean_history_passes_and_an_allowed_write_cycle_is_counted_not_failed() {
    let out = temp("clean");
    let o = check("tests/jepsen/clean.edn", &out);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("no anomaly found"));
    let o = check("tests/jepsen/write-cycle.edn", &out);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("G0                     1 allowed by Kafka's model"),
        "{}",
        stdout(&o)
    );
    let lines = std::fs::read_to_string(out.join("violations.jsonl")).unwrap_or_default();
    assert!(
        lines.contains("\"anomaly\":\"G0\",\"allowed\":true"),
        "{lines}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn the_same_history_writes_the_same_report() {
    let (a, b) = (temp("det-a"), temp("det-b"));
    for f in [
        "tests/jepsen/lost-write.edn",
        "tests/jepsen/write-cycle.edn",
    ] {
        check(f, &a);
        check(f, &b);
        for name in ["summary.json", "violations.jsonl", "index.html"] {
            let x = std::fs::read(a.join(name)).unwrap_or_default();
            assert!(!x.is_empty(), "{name}");
            assert_eq!(
                x,
                std::fs::read(b.join(name)).unwrap_or_default(),
                "{f} {name}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

/// Write `text` as a history and check it: exit status and stderr.
fn refused(text: &str) -> (Option<i32>, String) {
    let dir = temp("bad");
    std::fs::create_dir_all(&dir).unwrap_or_default();
    let file = dir.join("history.edn");
    std::fs::write(&file, text).unwrap_or_default();
    let o = eventsim(&[
        "check-history",
        "--format",
        "jepsen",
        file.to_str().unwrap_or_default(),
        "--out",
        dir.join("out").to_str().unwrap_or_default(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    (o.status.code(), stderr(&o))
}

#[test]
fn bad_histories_are_refused_with_their_line_and_column() {
    let ok = "{:type :invoke, :f :send, :process 0, :value [[:send :x 1]]}\n";
    for (text, needle) in [
        (
            "{:type :invoke, :f :send, :process 0, :value [[:send :x 1]}\n",
            "history.edn:1:",
        ),
        ("this is not a history\n", "expected an operation"),
        (
            "{:type :invoke, :f :write, :process 0, :value [[:send :x 1]]}\n",
            "history.edn:1:1: :f is `:write`: expected one of :send",
        ),
        (
            "{:type :maybe, :f :send, :process 0, :value [[:send :x 1]]}\n",
            ":type is `:maybe`: expected one of :invoke, :ok, :info, :fail",
        ),
        (
            "{:type :ok, :f :send, :process 0, :value [[:send :x [0 1]]]}\n",
            "a completion of process 0 without its invocation",
        ),
        (
            &format!(
                "{ok}  {{:type :ok, :f :send, :process 0, :value [[:send :x [\"zero\" 1]]]}}\n"
            ),
            "history.edn:2:3: offset `\"zero\"` is not an offset",
        ),
        (
            &format!("{ok}{{:type :ok, :f :send, :process 0, :value [[:send :x [0 1]]"),
            "history.edn:2:",
        ),
        (
            "{:type :ok :f}\n",
            "history.edn:1:14: a map has a key without its value",
        ),
        ("", "nothing to check"),
        ("; only a comment\n", "nothing to check"),
        (
            "{:type :invoke, :f :start, :process :nemesis}\n",
            "nothing to check",
        ),
        (
            &format!("{ok}{{:type :ok, :f :poll, :process 0, :value [[:poll]]}}\n"),
            "process 0 completes :poll but invoked :send",
        ),
        (
            "{:type :invoke, :f :poll, :process 0, :value [[:poll {:x 3}]]}\n",
            "what a poll read of `:x` is `3`",
        ),
    ] {
        let (code, err) = refused(text);
        assert_eq!(code, Some(2), "{text:?}: {err}");
        assert!(err.contains(needle), "{text:?}: want {needle:?} in {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // A file cut mid-operation says so.
    let (_, err) = refused(&format!(
        "{ok}{{:type :ok, :f :send, :process 0, :value [[:send :x [0 1]]"
    ));
    assert!(err.contains("truncated"), "{err}");
    // Not UTF-8.
    let dir = temp("bin");
    std::fs::create_dir_all(&dir).unwrap_or_default();
    let file = dir.join("h.edn");
    std::fs::write(&file, b"{:type :invoke,\n :f \xff}").unwrap_or_default();
    let o = eventsim(&[
        "check-history",
        "--format",
        "jepsen",
        file.to_str().unwrap_or_default(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("h.edn:2:5: not UTF-8"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_format_decides_whether_a_scenario_is_needed() {
    let h = repo("tests/jepsen/clean.edn");
    let h = h.to_str().unwrap_or_default();
    let o = eventsim(&["check-history", h]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("needs --scenario"), "{}", stderr(&o));
    let o = eventsim(&[
        "check-history",
        "--format",
        "jepsen",
        h,
        "--scenario",
        "scenarios/mm1.toml",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no meaning with --format jepsen"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_simulated_transactional_run_written_as_a_jepsen_history_counts_its_write_cycles_as_allowed() {
    let dir = temp("sim");
    std::fs::create_dir_all(&dir).unwrap_or_default();
    let edn = |n: &str| dir.join(format!("{n}.edn"));
    for n in ["a", "b"] {
        let o = eventsim(&[
            "run",
            "scenarios/faults/transactions.toml",
            "--seed",
            "1",
            "--out",
            dir.join(format!("run-{n}")).to_str().unwrap_or_default(),
            "--jepsen-history",
            edn(n).to_str().unwrap_or_default(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let a = std::fs::read(edn("a")).unwrap_or_default();
    assert!(a.len() > 100_000, "{} bytes", a.len());
    assert_eq!(
        a,
        std::fs::read(edn("b")).unwrap_or_default(),
        "the same run, the same history"
    );
    let out = dir.join("check");
    let o = eventsim(&[
        "check-history",
        "--format",
        "jepsen",
        edn("a").to_str().unwrap_or_default(),
        "--out",
        out.to_str().unwrap_or_default(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("summary.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    let count = |name: &str, field: &str| {
        summary["anomalies"]
            .as_array()
            .and_then(|l| l.iter().find(|a| a["anomaly"] == name))
            .map_or(0, |a| a[field].as_u64().unwrap_or(0))
    };
    // Two producers write the same partitions, one in transactions: their
    // writes interleave, so transactions are ordered both ways (G0), and
    // records of other writers land between one transaction's (int-send-
    // skip): both allowed by Kafka's model, both counted.
    assert!(count("G0", "allowed") > 10, "{summary}");
    assert!(count("int-send-skip", "allowed") > 10, "{summary}");
    assert_eq!(summary["verdict"], "pass");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unwritable_jepsen_history_is_refused_before_the_run() {
    let o = eventsim(&[
        "run",
        "scenarios/mm1.toml",
        "--out",
        temp("unwritable").to_str().unwrap_or_default(),
        "--jepsen-history",
        "/nonexistent-eventsim-dir/history.edn",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot write the Jepsen history"),
        "{}",
        stderr(&o)
    );
}
