//! Bad scenario files exit 2 with file:line:col, the field and what was expected.

use crate::common::*;

const GOOD: &str = r#"
[scenario]
name = "t"
duration = "1s"

[[topics]]
name = "orders"
partitions = 2

[[producers]]
name = "p"
topic = "orders"
rate = 10

[[groups]]
name = "g"
topics = ["orders"]
"#;

/// Run `eventsim check` on `text` and return (exit code, stderr).
fn check(text: &str) -> (Option<i32>, String) {
    check_with(text, &[])
}

fn check_with(text: &str, args: &[&str]) -> (Option<i32>, String) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let mut all = args.to_vec();
    all.extend(["check", path.to_str().unwrap()]);
    let o = eventsim(&all);
    let err = stderr(&o).replace(path.to_str().unwrap(), "bad.toml");
    (o.status.code(), err)
}

fn assert_error(text: &str, location: &str, needles: &[&str]) {
    assert_error_with(text, &[], location, needles);
}

fn assert_error_with(text: &str, args: &[&str], location: &str, needles: &[&str]) {
    let (code, err) = check_with(text, args);
    assert_eq!(code, Some(2), "expected exit 2, stderr: {err}");
    assert!(
        err.contains(&format!("--> bad.toml:{location}\n")),
        "expected location {location} in: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn the_base_scenario_is_valid() {
    let (code, err) = check(GOOD);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn unknown_field_is_rejected_with_its_location() {
    let text = GOOD.replace("rate = 10", "rate = 10\nrat = 11");
    assert_error(
        &text,
        "14:1",
        &["producers[0].rat", "unknown field `rat`", "expected one of"],
    );
}

#[test]
fn bad_duration_names_the_field_and_the_format() {
    let text = GOOD.replace("duration = \"1s\"", "duration = \"5 parsecs\"");
    assert_error(
        &text,
        "4:12",
        &["scenario.duration", "invalid duration", "\"5ms\""],
    );
    let text = GOOD.replace("duration = \"1s\"", "duration = \"-5ms\"");
    assert_error(&text, "4:12", &["scenario.duration", "invalid duration"]);
}

#[test]
fn dangling_topic_reference_is_rejected() {
    let text = GOOD.replace("topic = \"orders\"", "topic = \"ordres\"");
    assert_error(
        &text,
        "12:9",
        &["producers[0].topic", "unknown topic `ordres`", "`orders`"],
    );
    let text = GOOD.replace("topics = [\"orders\"]", "topics = [\"orders\", \"nope\"]");
    assert_error(
        &text,
        "17:21",
        &["groups[0].topics[1]", "unknown topic `nope`"],
    );
}

#[test]
fn broken_toml_is_rejected_with_its_location() {
    let text = GOOD.replace("rate = 10", "rate = = 10");
    assert_error(&text, "13:8", &["invalid TOML"]);
}

#[test]
fn impossible_values_are_rejected() {
    let text = GOOD.replace("partitions = 2", "partitions = 0");
    assert_error(
        &text,
        "8:14",
        &["topics[0].partitions", "at least 1 partition"],
    );
    let text = GOOD.replace(
        "partitions = 2",
        "partitions = 2\nreplication_factor = 1\nmin_insync_replicas = 2",
    );
    assert_error(
        &text,
        "10:23",
        &[
            "topics[0].min_insync_replicas",
            "exceeds replication_factor",
        ],
    );
    let text = GOOD.replace("partitions = 2", "partitions = 2\nreplication_factor = 3");
    assert_error(
        &text,
        "9:22",
        &["topics[0].replication_factor", "exceeds the 1 broker"],
    );
    let text = GOOD.replace("rate = 10", "rate = -3");
    assert_error(&text, "13:8", &["producers[0].rate", "positive rate"]);
    let text = GOOD.replace("rate = 10", "rate = 10\nacks = \"1\"");
    assert_error(&text, "14:8", &["producers[0].acks", "idempotent = false"]);
}

#[test]
fn wrong_types_and_enum_values_are_explained() {
    let text = GOOD.replace("rate = 10", "rate = \"fast\"");
    assert_error(&text, "13:8", &["producers[0].rate", "invalid type"]);
    let text = GOOD.replace("rate = 10", "rate = 10\npartitioner = \"murmur3\"");
    assert_error(
        &text,
        "14:15",
        &["producers[0].partitioner", "murmur2", "round-robin"],
    );
    let text = GOOD.replace(
        "rate = 10",
        "rate = 10\npayload = { dist = \"gaussian\", mean = 3 }",
    );
    assert_error(
        &text,
        "14:20",
        &[
            "producers[0].payload.dist",
            "unknown variant `gaussian`",
            "lognormal",
        ],
    );
}

#[test]
fn missing_required_field_points_at_its_table() {
    let text = GOOD.replace("rate = 10\n", "");
    let (code, err) = check(&text);
    assert_eq!(code, Some(2));
    assert!(err.contains("missing field `rate`"), "{err}");
    assert!(err.contains("bad.toml:"), "{err}");
}

#[test]
fn no_input_makes_it_panic() {
    // A handful of hostile inputs: each must be an error with exit 2, never a panic.
    for text in [
        "",
        "[scenario",
        "\u{0}\u{1}",
        "[[topics]]\nname = 1",
        "[scenario]\nname = \"x\"\nduration = 0\n",
    ] {
        let (code, err) = check(text);
        assert_eq!(code, Some(2), "{text:?}: {err}");
        assert!(!err.contains("panicked"), "{text:?}: {err}");
    }
}

fn with_fault(fault: &str) -> String {
    format!("{}\n[cluster]\nbrokers = 3\n\n{fault}\n", GOOD)
}

#[test]
fn a_fault_on_an_unknown_node_names_the_nodes_there_are() {
    let text = with_fault("[[faults]]\nkind = \"crash\"\ntarget = \"billing/0\"\nat = \"1s\"");
    assert_error(
        &text,
        "24:10",
        &[
            "faults[0].target",
            "unknown node `billing/0`",
            "`broker-0`..`broker-2`",
            "g/0",
        ],
    );
}

#[test]
fn a_crash_of_a_broker_that_does_not_exist_is_rejected() {
    let text = with_fault("[[faults]]\nkind = \"crash\"\ntarget = \"broker-7\"");
    assert_error(
        &text,
        "24:10",
        &["faults[0].target", "unknown node `broker-7`"],
    );
    let text = with_fault("[[faults]]\nkind = \"crash\"\ntarget = \"g/3\"");
    assert_error(&text, "24:10", &["unknown node `g/3`"]);
}

#[test]
fn a_negative_fault_duration_is_rejected() {
    let text = with_fault(
        "[[faults]]\nkind = \"pause\"\ntarget = \"g/0\"\nat = \"1s\"\nduration = \"-5s\"",
    );
    assert_error(
        &text,
        "26:12",
        &["faults[0].duration", "invalid duration \"-5s\""],
    );
}

#[test]
fn a_partition_naming_one_node_is_rejected() {
    let text =
        with_fault("[[faults]]\nkind = \"partition\"\ntarget = \"broker-1\"\nduration = \"1s\"");
    assert_error(
        &text,
        "24:10",
        &[
            "faults[0].target",
            "needs two sides",
            "[[\"NODE\"], [\"rest\"]]",
        ],
    );
    let text = with_fault(
        "[[faults]]\nkind = \"partition\"\ntarget = [[\"broker-1\"]]\nduration = \"1s\"",
    );
    assert_error(&text, "24:10", &["needs two sides"]);
}

#[test]
fn fault_fields_that_do_not_apply_or_are_missing_are_named() {
    let text = with_fault("[[faults]]\nkind = \"pause\"\ntarget = \"g/0\"");
    assert_error(&text, "22:1", &["faults[0]", "needs a `duration`"]);
    let text = with_fault(
        "[[faults]]\nkind = \"latency-spike\"\ntarget = [\"p\", \"broker-0\"]\nduration = \"1s\"\nlatency = \"5ms\"\nfactor = 2.0",
    );
    assert_error(&text, "27:10", &["faults[0].factor", "does not apply"]);
    let text = with_fault("[[faults]]\nkind = \"crush\"\ntarget = \"g/0\"");
    assert_error(&text, "23:8", &["unknown variant `crush`", "`crash`"]);
    let text = with_fault(
        "[[faults]]\nkind = \"partition\"\ntarget = [[\"p\"], [\"g\"]]\nduration = \"1s\"",
    );
    assert_error(&text, "24:10", &["one side must hold a broker"]);
    let text = with_fault(
        "[faults.random]\n[[faults.random.kinds]]\nkind = \"crash\"\ntargets = [\"brokers\", \"nobody\"]\nrate = 1\nrestart_after = \"1s\"",
    );
    assert_error(
        &text,
        "25:23",
        &["faults.random.kinds[0].targets[1]", "unknown node `nobody`"],
    );
}

#[test]
fn report_and_checks_settings_are_validated() {
    let text = format!("{GOOD}\n[report]\ninterval = \"0\"\n");
    assert_error(&text, "20:12", &["report.interval", "greater than zero"]);
    let text = format!("{GOOD}\n[report]\nmax_points = 1\n");
    assert_error(&text, "20:14", &["report.max_points", "at least 2"]);
    let text = format!("{GOOD}\n[report]\npartition_series = 20000\n");
    assert_error(
        &text,
        "20:20",
        &["report.partition_series", "at most 10000"],
    );
    let text = format!("{GOOD}\n[report]\npartition_series = -1\n");
    assert_error(&text, "20:20", &["report.partition_series"]);
    let (code, err) = check(&format!("{GOOD}\n[report]\npartition_series = 0\n"));
    assert_eq!(code, Some(0), "0: only the distribution: {err}");
    let text = format!("{GOOD}\n[checks]\nskip = [\"liveness\", \"speed\"]\n");
    assert_error(
        &text,
        "20:21",
        &["checks.skip[1]", "unknown checker `speed`"],
    );
}

#[test]
fn unwritable_history_and_trace_files_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for flag in ["--history", "--trace"] {
        let o = eventsim(&[
            "run",
            "scenarios/mm1.toml",
            "--quiet",
            "--out",
            tmp.path().to_str().unwrap(),
            flag,
            "/nonexistent-dir/file.json",
        ]);
        assert_eq!(o.status.code(), Some(2), "{flag}");
        assert!(
            stderr(&o).contains("/nonexistent-dir/file.json"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn transactional_is_the_old_name_of_atomic_with_effect() {
    let base = "[scenario]\nname = \"x\"\nduration = \"1s\"\n[[topics]]\nname = \"t\"\n[[groups]]\nname = \"g\"\ntopics = [\"t\"]\n";
    let old = eventsim::scenario::Scenario::parse(
        &format!("{base}commit = \"transactional\"\n"),
        "a.toml",
    )
    .unwrap();
    let new = eventsim::scenario::Scenario::parse(
        &format!("{base}commit = \"atomic-with-effect\"\n"),
        "b.toml",
    )
    .unwrap();
    assert_eq!(old.groups[0].commit, new.groups[0].commit);
    assert_eq!(
        new.groups[0].commit,
        eventsim::scenario::CommitMode::AtomicWithEffect
    );
}

#[test]
fn the_conformance_fields_are_validated_with_their_location() {
    let groups = |extra: &str| {
        GOOD.replace(
            "topics = [\"orders\"]\n",
            &format!("topics = [\"orders\"]\n{extra}\n"),
        )
    };
    assert_error(
        &groups("client = \"kafkajs\""),
        "18:10",
        &["groups[0].client", "expected `java` or `librdkafka`"],
    );
    assert_error(
        &groups("max_poll_interval = \"0\""),
        "18:21",
        &["groups[0].max_poll_interval", "greater than zero"],
    );
    assert_error(
        &groups("session_timeout = \"3s\"\nheartbeat_interval = \"5s\""),
        "19:22",
        &["groups[0].heartbeat_interval", "below session_timeout (3s)"],
    );
    let text = GOOD.replace(
        "partitions = 2",
        "partitions = 2\ncleanup_policy = \"archive\"",
    );
    assert_error(
        &text,
        "9:18",
        &["topics[0].cleanup_policy", "expected `delete` or `compact`"],
    );
    let text = GOOD.replace(
        "duration = \"1s\"",
        "duration = \"1s\"\n[network]\nlink_bandwidth = 0.5",
    );
    assert_error(&text, "6:18", &["network.link_bandwidth", "at least 1"]);
    assert_error(
        &groups("isolation = \"read-committed\""),
        "18:13",
        &[
            "groups[0].isolation",
            "expected `read_uncommitted` or `read_committed`",
        ],
    );
    let in_transaction = |extra: &str| {
        format!(
            "{}\ncommit = \"in-transaction\"\n{extra}\n[[groups.emit]]\ntopic = \"orders\"\nevent_type = \"E\"\n",
            GOOD.trim_end()
        )
    };
    assert_error(
        &in_transaction("commit_interval = \"0\""),
        "19:19",
        &["groups[0].commit_interval", "greater than zero"],
    );
    assert_error(
        &format!("{}mode = \"dual-write\"\n", in_transaction("")),
        "23:8",
        &["groups[0].emit[0].mode", "emits inside its transaction"],
    );
    assert_error(
        &GOOD.replace("rate = 10\n", "rate = 10\ntombstones = 0.2\n"),
        "16:1",
        &["groups[0].effect", "writes tombstones", "only `last-write`"],
    );
    let producer = |extra: &str| GOOD.replace("rate = 10\n", &format!("rate = 10\n{extra}\n"));
    assert_error(
        &producer("transactional = true\nidempotent = false\nacks = \"1\""),
        "15:14",
        &[
            "producers[0].idempotent",
            "a transactional producer is idempotent",
        ],
    );
    assert_error(
        &producer("transactional = true\ntransaction_interval = \"0\""),
        "15:24",
        &["producers[0].transaction_interval", "greater than zero"],
    );
    let text = format!("{GOOD}\n[checks]\nproducer_progress_bound = \"0\"\n");
    assert_error(
        &text,
        "20:27",
        &["checks.producer_progress_bound", "greater than zero"],
    );
}

#[test]
fn names_follow_a_character_set_and_a_length_limit() {
    assert_error(
        &GOOD.replace("name = \"orders\"", "name = \"or ders\""),
        "7:8",
        &["topics[0].name", "` ` is not allowed in a name"],
    );
    let long = "t".repeat(250);
    assert_error(
        &GOOD
            .replace("name = \"orders\"", &format!("name = \"{long}\""))
            .replace("topic = \"orders\"", &format!("topic = \"{long}\"")),
        "7:8",
        &["topics[0].name", "250 characters; at most 249"],
    );
    assert_error(
        &GOOD.replace("name = \"p\"", "name = \"p/../../x\""),
        "11:8",
        &["producers[0].name", "`/` is not allowed"],
    );
    assert_error(
        &GOOD.replace("name = \"g\"", &format!("name = \"{}\"", "g".repeat(129))),
        "16:8",
        &["groups[0].name", "at most 128"],
    );
    // Kafka refuses `.` and `..` as topic names.
    assert_error(
        &GOOD
            .replace("name = \"orders\"", "name = \"..\"")
            .replace("\"orders\"", "\"..\""),
        "7:8",
        &["topics[0].name"],
    );
}

#[test]
fn control_characters_are_refused_and_never_printed_raw() {
    // ESC and NUL written as TOML escapes: the parsed name holds them.
    for bad in ["\\u001b[31mred", "a\\u0000b", "x\\u202Ey"] {
        let (code, err) = check(&GOOD.replace("name = \"t\"", &format!("name = \"{bad}\"")));
        assert_eq!(code, Some(2), "{bad}: {err}");
        assert!(err.contains("bad.toml:3:8\n"), "{err}");
        assert!(err.contains("scenario.name"), "{err}");
        assert!(
            !err.chars().any(|c| c.is_control() && c != '\n'),
            "raw control character in: {err:?}"
        );
    }
    // A raw control character in the file itself is a TOML error, and the
    // excerpt of the line shows it escaped.
    let (code, err) = check(&GOOD.replace("name = \"t\"", "name = \"t\u{1b}[2J\""));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bad.toml:3:"), "{err}");
    assert!(
        !err.chars().any(|c| c.is_control() && c != '\n'),
        "raw control character in: {err:?}"
    );
}

#[test]
fn unreadable_and_invalid_files_get_a_reason_or_a_position() {
    let tmp = tempfile::tempdir().unwrap();
    // Invalid UTF-8 on line 3.
    let mut bytes = GOOD.as_bytes().to_vec();
    let at = GOOD.find("name = \"t\"").unwrap() + 8;
    bytes[at] = 0xff;
    let path = tmp.path().join("latin.toml");
    std::fs::write(&path, &bytes).unwrap();
    let o = eventsim(&["check", path.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("latin.toml:3:9\n"), "{err}");
    assert!(err.contains("UTF-8"), "{err}");
    assert!(!err.contains(":0:0"), "{err}");

    // A folder where a file is expected.
    let o = eventsim(&["check", tmp.path().to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains(":0:0") && !err.contains("panicked"), "{err}");

    // A file larger than any scenario: refused without reading it all.
    let big = tmp.path().join("big.toml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(64 << 20).unwrap();
    let o = eventsim(&["check", big.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("larger than 16 MiB"), "{err}");

    // An endless stream: bounded read, clear error.
    if std::path::Path::new("/dev/zero").exists() {
        let o = eventsim(&["check", "/dev/zero"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("larger than 16 MiB"), "{err}");
    }
}

#[test]
fn key_prefixes_that_make_the_same_texts_or_too_many_keys_are_refused() {
    let two = |a: &str, an: &str, b: &str, bn: &str| {
        GOOD.replace(
            "rate = 10\n",
            &format!(
                "rate = 10\nkey_prefix = \"{a}\"\nkeys = {{ dist = \"uniform\", n = {an} }}\n\n\
                 [[producers]]\nname = \"q\"\ntopic = \"orders\"\nrate = 10\n\
                 key_prefix = \"{b}\"\nkeys = {{ dist = \"uniform\", n = {bn} }}\n"
            ),
        )
    };
    // `k` + 12 and `k1` + 2 are both `k12`.
    assert_error(
        &two("k", "100", "k1", "100"),
        "21:14",
        &["producers[1].key_prefix", "`k1`", "`k`", "same key texts"],
    );
    // A zero after the shorter prefix cannot clash (numbers have no
    // leading zeros), nor can a separator; a shared prefix shares keys.
    for (a, b) in [("k", "k0"), ("k", "k-"), ("order-", "order-")] {
        let (code, err) = check(&two(a, "100", b, "100"));
        assert_eq!(code, Some(0), "{a} {b}: {err}");
    }
    let max = "9223372036854775807";
    let (code, err) = check(&two("a-", max, "b-", max));
    assert_eq!(
        code,
        Some(0),
        "two largest key spaces fit in 64 bits: {err}"
    );
    let three = two("a-", max, "b-", max).replace(
        "[[groups]]",
        &format!(
            "[[producers]]\nname = \"r\"\ntopic = \"orders\"\nrate = 10\n\
             key_prefix = \"c-\"\nkeys = {{ dist = \"uniform\", n = {max} }}\n\n[[groups]]"
        ),
    );
    assert_error(&three, "29:8", &["producers[2].keys", "exceed 2^64 keys"]);
}

#[test]
fn a_scenario_beyond_the_memory_budget_is_refused_at_its_costliest_field() {
    // Sizes a user could mean but no machine holds: refused before
    // anything is built, at the field, with the estimate.
    assert_error(
        &GOOD.replace("partitions = 2", "partitions = 1000000000"),
        "8:14",
        &["topics[0].partitions", "TiB of memory", "--max-memory"],
    );
    // A key space costs what is drawn of it: 2^63 keys are fine at 10/s,
    // not at a rate that would draw a billion of them.
    let huge_keys = "keys = { dist = \"uniform\", n = 9223372036854775807 }";
    let (code, err) = check(&GOOD.replace("rate = 10", &format!("rate = 10\n{huge_keys}")));
    assert_eq!(code, Some(0), "{err}");
    assert_error(
        &GOOD
            .replace("rate = 10", &format!("rate = 1e6\n{huge_keys}"))
            .replace("duration = \"1s\"", "duration = \"1000s\""),
        "14:8",
        &["producers[0].keys", "keys drawn of 9.223e18"],
    );
    // Rates beyond the kernel event budget (2e9 events): seconds of such
    // traffic held at once, hundreds of GB, beyond 4 GiB.
    let budget = ["--max-memory", "4GiB"];
    assert_error_with(
        &GOOD.replace("rate = 10", "rate = 1e15"),
        &budget,
        "13:8",
        &["producers[0].rate", "about 2.000e9 records held at once"],
    );
    assert_error_with(
        &GOOD.replace("rate = 10", "rate = 1e12"),
        &budget,
        "13:8",
        &["producers[0].rate", "records held at once"],
    );
    // A run of 100,000 days at 10 events/s holds little at once but keeps
    // a few bits for each of the 2e9 events it may run: about 750 MB.
    assert_error_with(
        &GOOD.replace("duration = \"1s\"", "duration = \"100000d\""),
        &["--max-memory", "512MiB"],
        "13:8",
        &["producers[0].rate", "about 2.000e9 events kept for the run"],
    );
    assert_error(
        &GOOD.replace(
            "topics = [\"orders\"]",
            "topics = [\"orders\"]\nconsumers = 100000000",
        ),
        "18:13",
        &["groups[0].consumers", "1.000e8 consumers"],
    );
    assert_error(
        &GOOD.replace(
            "duration = \"1s\"",
            "duration = \"1s\"\n[cluster]\nbrokers = 65536",
        ),
        "6:11",
        &["cluster.brokers", "links"],
    );

    // The budget is the user's to set; a bad size is a usage error.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("s.toml");
    std::fs::write(&path, GOOD.replace("partitions = 2", "partitions = 100000")).unwrap();
    let p = path.to_str().unwrap();
    let o = eventsim(&["check", p]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = eventsim(&["check", p, "--max-memory", "64MiB"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("budget of 64 MiB (--max-memory)"),
        "{}",
        stderr(&o)
    );
    let o = eventsim(&["check", p, "--max-memory", "lots"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--max-memory: `lots` is not a size"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn every_problem_is_listed_in_file_order_with_the_bad_text_underlined() {
    // Two unknown fields (read past), a dangling topic and an impossible
    // value: four problems, one exit.
    let text = GOOD
        .replace("partitions = 2", "partitons = 2\nreplicas = 3")
        .replace("topic = \"orders\"", "topic = \"ordres\"")
        .replace("rate = 10", "rate = -1\nrat = 11");
    let (code, err) = check(&text);
    assert_eq!(code, Some(2), "{err}");
    let expect = [
        "--> bad.toml:8:1\n",
        "--> bad.toml:9:1\n",
        "--> bad.toml:13:9\n",
        "--> bad.toml:14:8\n",
        "--> bad.toml:15:1\n",
    ];
    let mut at = 0;
    for e in expect {
        let found = err[at..]
            .find(e)
            .unwrap_or_else(|| panic!("{e:?} after byte {at} in:\n{err}"));
        at += found + e.len();
    }
    assert_eq!(err.matches("error: ").count(), 6, "{err}");
    assert!(
        err.trim_end().ends_with("error: 5 problems in bad.toml"),
        "{err}"
    );
    // The whole offending value is underlined, and misspellings get help.
    assert!(
        err.contains("13 | topic = \"ordres\"\n   |         ^^^^^^^^"),
        "{err}"
    );
    assert!(err.contains("= help: did you mean `partitions`?"), "{err}");
    assert!(err.contains("= help: did you mean `orders`?"), "{err}");
    assert!(err.contains("= help: did you mean `rate`?"), "{err}");
}

#[test]
fn misspelt_fields_values_and_names_get_a_did_you_mean() {
    // A field inside an inline table, read past with its comma.
    let text = GOOD.replace(
        "rate = 10",
        "rate = 10\nkeys = { dist = \"uniform\", nn = 5 }",
    );
    assert_error(&text, "14:28", &["unknown field `nn`", "did you mean `n`?"]);
    // A value of an enumeration.
    let text = GOOD.replace("rate = 10", "rate = 10\nacks = \"al\"");
    assert_error(
        &text,
        "14:8",
        &["unknown variant `al`", "did you mean `all`?"],
    );
    // A checker, a fault target.
    let text = format!("{GOOD}\n[checks]\nrun = [\"no-los\"]\n");
    assert_error(
        &text,
        "20:8",
        &["unknown checker", "did you mean `no-loss`?"],
    );
    let text = format!(
        "{GOOD}\n[[faults]]\nat = \"1s\"\nkind = \"crash\"\ntarget = \"p0\"\nduration = \"1s\"\n"
    );
    assert_error(&text, "22:10", &["unknown node `p0`", "did you mean `p`?"]);
    // A required field misspelt: reported once, not again as missing.
    let text = GOOD.replace("name = \"p\"", "nmae = \"p\"");
    assert_error(
        &text,
        "11:1",
        &["unknown field `nmae`", "did you mean `name`?"],
    );
    let (_, err) = check(&text);
    assert!(!err.contains("missing field"), "{err}");
    // Nothing close: no guess.
    let text = GOOD.replace("topic = \"orders\"", "topic = \"zzzzzz\"");
    let (_, err) = check(&text);
    assert!(!err.contains("did you mean"), "{err}");
}

#[test]
fn the_controller_fields_are_validated_with_their_location() {
    let cluster = |lines: &str| format!("{GOOD}\n[cluster]\nbrokers = 2\n{lines}\n");
    assert_error(
        &cluster("controllers = 0"),
        "21:15",
        &[
            "cluster.controllers",
            "at least 1 controller",
            "even number",
        ],
    );
    assert_error(
        &cluster("controllers = 11"),
        "21:15",
        &["cluster.controllers", "at most 9"],
    );
    assert_error(
        &cluster("mode = \"combined\"\ncontrollers = 3"),
        "22:15",
        &[
            "cluster.controllers",
            "3 controllers in combined mode",
            "has 2",
        ],
    );
    assert_error(
        &cluster("mode = \"kraft\""),
        "21:8",
        &["cluster.mode", "dedicated", "combined"],
    );
    assert_error(
        &cluster("quorum_fetch_timeout = \"0s\""),
        "21:24",
        &["cluster.quorum_fetch_timeout", "greater than zero"],
    );
    assert_error(
        &cluster("quorum_election_timeout = \"0s\""),
        "21:27",
        &["cluster.quorum_election_timeout", "greater than zero"],
    );
    assert_error(
        &format!("{GOOD}\n[checks]\nunavailability_bound = \"0s\"\n"),
        "20:24",
        &["checks.unavailability_bound", "greater than zero"],
    );
    assert_error(
        &format!("{GOOD}\n[checks]\nunavailabilty_bound = \"5s\"\n"),
        "20:1",
        &["unavailabilty_bound", "unavailability_bound"],
    );
    // A controller that does not exist, in either mode.
    let text = with_fault("[[faults]]\nkind = \"crash\"\ntarget = \"controller-3\"");
    assert_error(
        &text,
        "24:10",
        &[
            "faults[0].target",
            "unknown node `controller-3`",
            "`controller-0`..`controller-2`",
        ],
    );
    let text = format!(
        "{GOOD}\n[cluster]\nbrokers = 3\nmode = \"combined\"\n\n[[faults]]\nkind = \"power\"\n"
    )
    .replace(
        "kind = \"power\"\n",
        "kind = \"pause\"\ntarget = \"controller-0\"\nduration = \"1s\"\n",
    );
    assert_error(
        &text,
        "25:10",
        &[
            "unknown node `controller-0`",
            "in combined mode the controllers are brokers",
        ],
    );
    // Names that fault targets reserve.
    let text = GOOD.replace("name = \"p\"", "name = \"controller-1\"");
    assert_error(&text, "11:8", &["reserved for fault targets"]);
    // Controllers are nodes of links: a partition among them is valid.
    let text = with_fault(
        "[[faults]]\nkind = \"partition\"\ntarget = [[\"controller-0\"], [\"controller-1\", \"controller-2\"]]\nduration = \"1s\"",
    );
    let (code, err) = check(&text);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_fault_after_the_end_of_the_run_is_refused() {
    // GOOD runs 1 s and drains 30 s by default.
    let text = with_fault("[[faults]]\nkind = \"crash\"\ntarget = \"broker-1\"\nat = \"500s\"");
    assert_error(
        &text,
        "25:6",
        &[
            "faults[0].at",
            "the run ends at 31s",
            "a fault at 500s would never fire",
        ],
    );
    let text = with_fault("[[faults]]\nkind = \"crash\"\ntarget = \"broker-1\"\nat = \"31s\"");
    let (code, err) = check(&text);
    assert_eq!(code, Some(0), "at the end is still in the run: {err}");
}

#[test]
fn acks_may_be_written_as_kafka_writes_it() {
    let with = |acks: &str| {
        GOOD.replace(
            "rate = 10",
            &format!("rate = 10\nacks = {acks}\nidempotent = false"),
        )
    };
    for ok in ["0", "1", "-1", "\"0\"", "\"1\"", "\"all\"", "\"-1\""] {
        let (code, err) = check(&with(ok));
        assert_eq!(code, Some(0), "acks = {ok}: {err}");
    }
    assert_error(
        &with("2"),
        "14:8",
        &[
            "producers[0].acks",
            "acks = 2 is not a Kafka acks",
            "0, 1, -1",
        ],
    );
    assert_error(&with("\"al\""), "14:8", &["did you mean `all`?"]);
}

/// One rule for every name: services, flows, holds and saga commands refuse
/// control characters and names of a million characters as producers and
/// groups do, and the error quotes a million-character value by its start.
#[test]
fn every_name_follows_one_rule_and_errors_quote_long_values_short() {
    let cases = [
        (
            "scenarios/architectures/sync.toml",
            "name = \"payment\"",
            "services[1].name",
        ),
        (
            "scenarios/compensation.toml",
            "name = \"order\"",
            "flows[0].name",
        ),
        (
            "scenarios/compensation.toml",
            "name = \"stock\"\ntake",
            "flows[0].holds[0].name",
        ),
        (
            "scenarios/orchestration.toml",
            "command = \"ChargePayment\"",
            "groups[0].saga.steps[0].command",
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (file, find, field) in cases {
        let text = std::fs::read_to_string(repo(file)).unwrap();
        assert!(text.contains(find), "{file}: {find}");
        let (key, value) = find.split_once(" = ").unwrap();
        let value = value.trim_matches('"').split('"').next().unwrap();
        let rest = &find[key.len() + 3 + value.len() + 2..];
        for (bad, needle) in [
            (
                format!("{value}\\u001b[2J"),
                "is not allowed in a name".to_string(),
            ),
            (
                "x".repeat(1_000_000),
                "a name of 1000000 characters".to_string(),
            ),
        ] {
            let mutated = text.replacen(find, &format!("{key} = \"{bad}\"{rest}"), 1);
            let path = tmp.path().join("m.toml");
            std::fs::write(&path, &mutated).unwrap();
            let o = eventsim(&["check", path.to_str().unwrap()]);
            assert_eq!(o.status.code(), Some(2), "{file} {field}");
            let err = stderr(&o);
            assert!(
                err.contains(&format!("field `{field}`: ")) && err.contains(&needle),
                "{file} {field}: {}",
                &err[..err.len().min(2000)]
            );
            assert!(
                !err.contains('\u{1b}'),
                "no raw escape reaches the terminal"
            );
            assert!(err.len() < 20_000, "{file} {field}: {} bytes", err.len());
        }
    }
}

/// Under an address-space limit (`ulimit -v`, as a container or a shared
/// machine sets) the default budget is half of it, so a scenario that
/// would exhaust it is refused (exit 2, located) instead of aborting when
/// an allocation fails (it was exit 134).
#[test]
fn the_default_budget_holds_under_an_address_space_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("big.toml");
    std::fs::write(
        &file,
        "[scenario]\nname = \"big\"\nduration = \"1s\"\n\n[[topics]]\nname = \"t\"\npartitions = 1000000\n\n[[producers]]\nname = \"p\"\ntopic = \"t\"\nrate = 10\n\n[[groups]]\nname = \"g\"\ntopics = [\"t\"]\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    for args in [
        format!("check '{}'", file.display()),
        format!("run '{}' --out '{}' -q", file.display(), out.display()),
    ] {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -v 2097152 && exec '{}' {args}",
                env!("CARGO_BIN_EXE_eventsim")
            ))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("more than the budget of 1 GiB")
                && stderr(&o).contains("`ulimit -v`"),
            "{args}: {}",
            stderr(&o)
        );
    }
}
