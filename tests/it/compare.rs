//! `eventsim compare`: variants x seeds, the documented CSV columns, and
//! the partition-strategy trade-off a user should see.

use crate::common::*;

#[test]
fn comparing_partitioners_shows_the_hot_key_trade_off() {
    let tmp = tempfile::tempdir().unwrap();
    let o = eventsim(&[
        "compare",
        "scenarios/partition-strategies.toml",
        "--vary",
        "producers.tracker.partitioner=murmur2,round-robin",
        "--seeds",
        "0..3",
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let csv = std::fs::read_to_string(tmp.path().join("comparison.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut expected = vec!["variant", "producers.tracker.partitioner", "seeds"];
    // The columns docs/report-format.md documents, in its order.
    for m in [
        "throughput_per_s",
        "e2e_p50_ns",
        "e2e_p99_ns",
        "e2e_p999_ns",
        "max_lag",
        "partition_skew",
        "per_key_order_violations",
        // Always present among the extra figures: what never finished.
        "unfinished",
    ] {
        expected.push(Box::leak(format!("{m}_mean").into_boxed_str()));
        expected.push(Box::leak(format!("{m}_ci95").into_boxed_str()));
    }
    expected.extend(["failed_checks", "faults", "faults_struck_nothing"]);
    assert_eq!(header, expected);
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 2);
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let get = |r: &Vec<String>, name: &str| r[col(name)].parse::<f64>().unwrap();
    let (hash, rr) = (&rows[0], &rows[1]);
    assert_eq!(hash[1], "murmur2");
    assert_eq!(rr[1], "round-robin");
    assert_eq!(get(hash, "seeds"), 3.0);
    assert_eq!(
        get(hash, "per_key_order_violations_mean"),
        0.0,
        "hashing keeps per-key order"
    );
    assert!(
        get(rr, "per_key_order_violations_mean") > 0.0,
        "round-robin breaks it"
    );
    assert!(
        get(hash, "partition_skew_mean") > get(rr, "partition_skew_mean"),
        "hot keys skew hashing more than round-robin"
    );
    assert!(get(rr, "partition_skew_ci95") >= 0.0);
    let md = std::fs::read_to_string(tmp.path().join("comparison.md")).unwrap();
    assert!(md.contains("| partitioner=murmur2 |") && md.contains("per-key order violations"));
    for f in [
        "compare-p99.png",
        "compare-p99.svg",
        "compare-skew.png",
        "compare-skew.svg",
    ] {
        assert!(
            std::fs::metadata(tmp.path().join(f)).unwrap().len() > 1000,
            "{f}"
        );
    }
    // p99 differs by about 800 times between the two: a log axis, so the
    // round-robin bar stays visible; its failed checks are named on the
    // chart, and every bar's value is written on it.
    let svg = |f: &str| std::fs::read_to_string(tmp.path().join(f)).unwrap();
    let p99 = svg("compare-p99.svg");
    assert!(p99.contains("log scale"), "a log axis");
    // plotters writes each text node on its own line: compare trimmed nodes.
    let texts = |svg: &str| -> Vec<String> {
        svg.split('>')
            .filter_map(|t| Some(t.split('<').next()?.trim().to_string()))
            .filter(|t| !t.is_empty())
            .collect()
    };
    let p99_texts = texts(&p99);
    for want in [
        "per-key-order (3/3)",
        "convergence (3/3)",
        "kept-up (3/3)",
        "a check failed (named above the bar)",
    ] {
        assert!(p99_texts.iter().any(|t| t == want), "{want} on the chart");
    }
    let skew = svg("compare-skew.svg");
    assert!(!skew.contains("log scale"), "skew 3.6 vs 1: a linear axis");
    // The page: the table and both charts, each variant and its failed
    // checks named.
    let page = svg("index.html");
    assert_eq!(well_formed(&page), ["Variants", "Charts", "Files"]);
    for (variant, failed) in [
        // Hashing keeps each user's order, but the consumer of the hot
        // users' partition cannot keep up with them.
        (
            "partitioner=murmur2",
            "<td class=\"l fail\">kept-up (3/3)</td>",
        ),
        (
            "partitioner=round-robin",
            "convergence (3/3), per-key-order (3/3)</td>",
        ),
    ] {
        let row = page
            .lines()
            .find(|l| l.starts_with(&format!("<tr><td class=\"l\">{variant}</td>")))
            .unwrap_or_else(|| panic!("{variant} in {page}"));
        assert!(row.contains(failed), "{row}");
    }
    assert!(
        page.contains("<figure id=\"compare-p99\">")
            && page.contains("<figure id=\"compare-skew\">")
    );
    let shown = |svg: &str| -> Vec<f64> {
        texts(svg)
            .iter()
            .filter_map(|t| t.parse::<f64>().ok())
            .collect()
    };
    for r in [hash, rr] {
        let v = get(r, "partition_skew_mean");
        assert!(
            shown(&skew)
                .iter()
                .any(|&x| (x - v).abs() < 0.051 * v.max(1.0)),
            "skew {v} written on its bar"
        );
    }
}

#[test]
fn compare_is_deterministic_and_rejects_bad_variations() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |out: &str, jobs: &str| {
        eventsim(&[
            "compare",
            "scenarios/partition-strategies.toml",
            "--vary",
            "topics.clicks.partitions=4,8",
            "--seeds",
            "0..2",
            "--jobs",
            jobs,
            "--out",
            tmp.path().join(out).to_str().unwrap(),
        ])
    };
    assert_eq!(run("a", "1").status.code(), Some(0));
    assert_eq!(run("b", "2").status.code(), Some(0));
    for f in ["comparison.csv", "comparison.md", "compare-skew.png"] {
        assert_eq!(
            std::fs::read(tmp.path().join("a").join(f)).unwrap(),
            std::fs::read(tmp.path().join("b").join(f)).unwrap(),
            "{f}"
        );
    }
    for (vary, needle) in [
        (
            "producers.nobody.partitioner=murmur2",
            "no element of `producers` is named `nobody`",
        ),
        (
            "topics.clicks.partitions=0",
            "expected at least 1 partition",
        ),
        ("partitions", "PATH=V1,V2"),
        ("topics.clicks.partitions=4,4", "lists the value `4` twice"),
        // Did you mean, as the scenario parser would say it.
        (
            "topics.clickz.partitions=4",
            "no element of `topics` is named `clickz`; did you mean `clicks`?",
        ),
        (
            "topcs.clicks.partitions=4",
            "no `topcs` in the scenario; did you mean `topics`?",
        ),
        // A bad value from the command line quotes the command line, not
        // a file line that never held it.
        (
            "producers.tracker.partitioner=murmur3",
            "--vary producers.tracker.partitioner=murmur3 (from the command line): field `producers[0].partitioner`",
        ),
    ] {
        let o = eventsim(&[
            "compare",
            "scenarios/partition-strategies.toml",
            "--vary",
            vary,
            "--seeds",
            "0..1",
        ]);
        assert_eq!(o.status.code(), Some(2), "{vary}");
        assert!(stderr(&o).contains(needle), "{vary}: {}", stderr(&o));
        assert!(
            !stderr(&o).contains("murmur3\""),
            "no file line quoted: {}",
            stderr(&o)
        );
    }
}

/// One path varied twice would let the later value win while the labels
/// name the earlier: refused, naming the path.
#[test]
fn a_path_varied_twice_is_refused() {
    let o = eventsim(&[
        "compare",
        "scenarios/partition-strategies.toml",
        "--vary",
        "topics.clicks.partitions=4,8",
        "--vary",
        "topics.clicks.partitions=16",
        "--seeds",
        "0..1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("`topics.clicks.partitions` is varied twice"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn compare_shards_merge_into_the_unsharded_comparison() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |out: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "compare",
            "scenarios/partition-strategies.toml",
            "--vary",
            "producers.tracker.partitioner=murmur2,round-robin",
            "--seeds",
            "0..3",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = eventsim(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    };
    let whole = tmp.path().join("whole");
    run(&whole, &[]);
    let shards: Vec<std::path::PathBuf> =
        (0..3).map(|i| tmp.path().join(format!("s{i}"))).collect();
    for (i, d) in shards.iter().enumerate() {
        run(d, &["--shard", &format!("{i}/3")]);
    }
    let merged = tmp.path().join("merged");
    let mut args = vec!["merge".to_string()];
    args.extend(shards.iter().map(|d| d.to_str().unwrap().to_string()));
    args.extend(["--out".into(), merged.to_str().unwrap().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = eventsim(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for f in [
        "compare-runs.jsonl",
        "comparison.csv",
        "comparison.md",
        "compare-skew.png",
        "index.html",
    ] {
        let same = std::fs::read(whole.join(f)).unwrap() == std::fs::read(merged.join(f)).unwrap();
        assert!(
            same,
            "{f} differs between the merged shards and the whole comparison"
        );
    }
}

#[test]
fn vary_reaches_a_dotted_topic_and_one_seed_has_no_interval() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("dotted.toml");
    std::fs::write(
        &file,
        r#"
[scenario]
name = "dotted"
duration = "2s"

[[topics]]
name = "clicks.v1"
partitions = 2

[[producers]]
name = "p"
topic = "clicks.v1"
rate = 200

[[groups]]
name = "g"
topics = ["clicks.v1"]
"#,
    )
    .unwrap();
    let out = tmp.path().join("c");
    let o = eventsim(&[
        "compare",
        file.to_str().unwrap(),
        "--vary",
        "topics.\"clicks.v1\".partitions=1,4",
        "--vary",
        "groups.g.processing={dist=\"constant\",value=\"1ms\"},{dist=\"exponential\",mean=\"2ms\"}",
        "--seeds",
        "0..1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = std::fs::read_to_string(out.join("comparison.md")).unwrap();
    assert_eq!(md.matches("| partitions=").count(), 4, "{md}");
    assert!(md.contains("± n/a"), "{md}");
    assert!(!md.contains("± 0.00"), "{md}");
    let mut csv = csv::Reader::from_path(out.join("comparison.csv")).unwrap();
    let header = csv.headers().unwrap().clone();
    assert_eq!(&header[1], "topics.clicks.v1.partitions");
    let ci = header
        .iter()
        .position(|h| h == "throughput_per_s_ci95")
        .unwrap();
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    for row in rows {
        assert_eq!(&row[ci], "", "{row:?}");
    }
}

/// Several scenario files are variants of one comparison (named by their
/// scenarios), and the flows they declare add their figures: a design
/// whose compensation never runs shows failed flows and no compensation,
/// side by side with the one that works, over seeds.
#[test]
fn scenario_files_compare_side_by_side_with_their_flow_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("scenarios/compensation.toml")).unwrap();
    let twin = tmp.path().join("unsubscribed.toml");
    std::fs::write(
        &twin,
        text.replace(
            "topics = [\"orders\", \"payments\"]",
            "topics = [\"orders\"]",
        )
        .replace(
            "name = \"compensation\"",
            "name = \"compensation-unsubscribed\"",
        ),
    )
    .unwrap();
    let run = |out: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "compare",
            "scenarios/compensation.toml",
            twin.to_str().unwrap(),
            "--seeds",
            "0..3",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = eventsim(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stdout(&o)
    };
    let whole = tmp.path().join("whole");
    let printed = run(&whole, &[]);
    assert!(
        printed.contains("# compensation vs compensation-unsubscribed: comparison over seeds 0..3"),
        "{printed}"
    );
    let csv = std::fs::read_to_string(whole.join("comparison.csv")).unwrap();
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let header = rows.headers().unwrap().clone();
    let first: Vec<&str> = header.iter().take(3).collect();
    assert_eq!(first, ["variant", "scenario", "seeds"]);
    for column in [
        "flow.order.acceptance_rate_mean",
        "flow.order.completion_p99_ns_mean",
        "flow.order.compensated_mean",
        "flow.order.failed_mean",
    ] {
        assert!(header.iter().any(|h| h == column), "{column}: {header:?}");
    }
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 2);
    assert_eq!(&records[0][0], "compensation");
    assert_eq!(&records[1][0], "compensation-unsubscribed");
    let num = |r: &csv::StringRecord, name: &str| r[col(name)].parse::<f64>().unwrap();
    assert!(num(&records[0], "flow.order.compensated_mean") > 300.0);
    assert_eq!(num(&records[0], "flow.order.failed_mean"), 0.0);
    assert_eq!(num(&records[1], "flow.order.compensated_mean"), 0.0);
    assert!(num(&records[1], "flow.order.failed_mean") > 300.0);
    assert_eq!(&records[0][col("failed_checks")], "");
    assert_eq!(
        &records[1][col("failed_checks")],
        "held-resources (3/3); saga-atomicity (3/3)"
    );
    let html = std::fs::read_to_string(whole.join("index.html")).unwrap();
    well_formed(&html);
    assert!(
        html.contains("3 variant(s): one per scenario file")
            || html.contains("2 variant(s): one per scenario file"),
        "the header says where the variants come from"
    );
    // The flow's table first (its figures without the flow's name), then
    // the Kafka pipeline's, throughput labelled by what it counts.
    let flow_table = html
        .find("<h3>Flow <code>order</code></h3>")
        .expect("a flow table");
    let kafka_table = html
        .find("<h3>Kafka pipeline</h3>")
        .expect("a pipeline table");
    assert!(flow_table < kafka_table);
    assert!(
        html.contains("<th>compensated</th>"),
        "a column per flow figure"
    );
    assert!(html.contains("<th>events appended/s</th>"));
    // Charts: what the designs are compared on first.
    let charts: Vec<usize> = [
        "id=\"compare-order-acceptance-rate\"",
        "id=\"compare-order-completion-p99-ns\"",
        "id=\"compare-order-rejected-with-effects\"",
        "id=\"compare-p99\"",
        "id=\"compare-skew\"",
    ]
    .iter()
    .map(|id| html.find(id).unwrap_or_else(|| panic!("{id}")))
    .collect();
    assert!(charts.windows(2).all(|w| w[0] < w[1]), "{charts:?}");
    // One unit per cell: no "ms ± ...us" or "s ± ...ms".
    for cell in html.split("<td>").skip(1) {
        let cell = &cell[..cell.find("</td>").unwrap_or(cell.len())];
        if let Some((m, c)) = cell.split_once(" &plusmn;&nbsp;")
            && c != "n/a"
        {
            let unit = |t: &str| {
                t.trim_start_matches(|ch: char| ch.is_ascii_digit() || ch == '.')
                    .to_string()
            };
            assert_eq!(unit(m), unit(c), "{cell}");
        }
    }
    // Shards of a comparison of files merge into the same files.
    let shards: Vec<std::path::PathBuf> =
        (0..2).map(|i| tmp.path().join(format!("s{i}"))).collect();
    for (i, d) in shards.iter().enumerate() {
        run(d, &["--shard", &format!("{i}/2")]);
    }
    let merged = tmp.path().join("merged");
    let o = eventsim(&[
        "merge",
        shards[0].to_str().unwrap(),
        shards[1].to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for f in [
        "compare-runs.jsonl",
        "comparison.csv",
        "comparison.md",
        "index.html",
    ] {
        assert_eq!(
            std::fs::read(whole.join(f)).unwrap(),
            std::fs::read(merged.join(f)).unwrap(),
            "{f}"
        );
    }
    // One file and no variation, or two files of one scenario name: usage errors.
    let o = eventsim(&["compare", "scenarios/compensation.toml", "--seeds", "0..2"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nothing to compare"), "{}", stderr(&o));
    let o = eventsim(&[
        "compare",
        "scenarios/compensation.toml",
        "scenarios/compensation.toml",
        "--seeds",
        "0..2",
        "--out",
        tmp.path().join("same").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("also named `compensation`"),
        "{}",
        stderr(&o)
    );
}

/// A crash that lands while the consumer holds no processed, uncommitted
/// record tests nothing about redelivery: the comparison says which
/// variant's faults struck nothing, so that its pass is not read as safety.
#[test]
fn a_comparison_says_when_a_variant_s_faults_struck_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let o = eventsim(&[
        "compare",
        "scenarios/faults/consumer-crash-duplicates.toml",
        "--vary",
        "groups.billing.processing=1ms,5ms",
        "--seeds",
        "0..3",
        "--out",
        tmp.path().to_str().unwrap(),
    ]);
    // compare exits 0 when it ran: its failed checks are in the tables.
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = std::fs::read_to_string(tmp.path().join("comparison.md")).unwrap();
    assert!(
        md.contains("- processing=1ms: 3 of 3 fault(s) over 3 seed(s) struck nothing"),
        "{md}"
    );
    assert!(!md.contains("- processing=5ms"), "{md}");
    let html = std::fs::read_to_string(tmp.path().join("index.html")).unwrap();
    well_formed(&html);
    assert!(html.contains("<p class=\"warn\">processing=1ms: 3 of 3 fault(s)"));
    let csv = std::fs::read_to_string(tmp.path().join("comparison.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert!(
        rows[0].ends_with(",3,3") && rows[1].ends_with(",3,0"),
        "{csv}"
    );
}

/// A comparison that covers part of its runs says so where a reader looks
/// first: the title of comparison.md and of the page, the verdict, the
/// manifest; a variant that ran no seed reads `not run`, never `0.00` or
/// "every check passed".
#[test]
fn an_incomplete_comparison_says_so_and_a_variant_without_runs_reads_not_run() {
    let tmp = tempfile::tempdir().unwrap();
    let shard = tmp.path().join("shard0");
    let o = eventsim(&[
        "compare",
        "scenarios/partition-strategies.toml",
        "--vary",
        "producers.tracker.partitioner=murmur2,round-robin",
        "--seeds",
        "0..1",
        "--shard",
        "0/2",
        "--out",
        shard.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let merged = tmp.path().join("merged");
    let o = eventsim(&[
        "merge",
        shard.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let md = std::fs::read_to_string(merged.join("comparison.md")).unwrap();
    assert!(
        md.starts_with("# partition-strategies: INCOMPLETE comparison"),
        "{md}"
    );
    assert!(md.contains("| partitioner=round-robin | not run |"), "{md}");
    let csv = std::fs::read_to_string(merged.join("comparison.csv")).unwrap();
    assert!(csv.contains(",not run,"), "{csv}");
    let html = std::fs::read_to_string(merged.join("index.html")).unwrap();
    well_formed(&html);
    assert!(html.contains("incomplete comparison over seeds 0..1</h1>"));
    assert!(!html.contains("every check passed in every variant"));
    assert!(html.contains(">not run</td>"));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(merged.join("manifest.json")).unwrap())
            .unwrap();
    assert!(
        manifest["incomplete"]
            .as_str()
            .is_some_and(|s| s.contains("missing")),
        "{manifest}"
    );
    // The shard itself is complete: no such field.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shard.join("manifest.json")).unwrap())
            .unwrap();
    assert!(manifest.get("incomplete").is_none());
}
