//! Report files: latency.csv agrees with summary.json, timeseries.csv holds
//! the documented series, memory stays bounded on long runs, and the files
//! are byte-identical across runs of the same seed.

use crate::common::*;

fn run_to(dir: &std::path::Path, scenario: &str, seed: &str) {
    let o = eventsim(&[
        "run",
        scenario,
        "--seed",
        seed,
        "--out",
        dir.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.code().is_some_and(|c| c <= 1), "{}", stderr(&o));
}

#[test]
fn latency_csv_agrees_with_the_summary_percentiles() {
    let tmp = tempfile::tempdir().unwrap();
    run_to(tmp.path(), "scenarios/order-flow.toml", "42");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("summary.json")).unwrap()).unwrap();
    let csv = std::fs::read_to_string(tmp.path().join("latency.csv")).unwrap();
    assert!(csv.starts_with("stream,value_ns,percentile,total_count,inverse\n"));
    let rows: Vec<(String, u64, f64, u64)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect();
    let streams = [
        (
            "produce_to_ack".to_string(),
            &summary["latency_ns"]["produce_to_ack"],
        ),
        (
            "end_to_end/payment".to_string(),
            &summary["latency_ns"]["end_to_end"]["payment"],
        ),
        (
            "end_to_end_from_origin/inventory".to_string(),
            &summary["latency_ns"]["end_to_end_from_origin"]["inventory"],
        ),
    ];
    for (name, stats) in streams {
        let mine: Vec<&(String, u64, f64, u64)> = rows.iter().filter(|r| r.0 == name).collect();
        assert!(mine.len() > 20, "{name}");
        assert_eq!(
            mine.last().unwrap().3,
            stats["count"].as_u64().unwrap(),
            "{name} total"
        );
        assert_eq!(
            mine.last().unwrap().1,
            stats["max"].as_u64().unwrap(),
            "{name} max"
        );
        for (q, field) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p999")] {
            let v = stats[field].as_u64().unwrap();
            let below = mine
                .iter()
                .filter(|r| r.2 < q)
                .map(|r| r.1)
                .max()
                .unwrap_or(0);
            let above = mine.iter().find(|r| r.2 >= q).unwrap().1;
            assert!(
                below <= v && v <= above,
                "{name} {field}: {below} <= {v} <= {above}"
            );
        }
        let p50_row = mine.iter().find(|r| r.2 >= 0.5).unwrap();
        if (p50_row.2 - 0.5).abs() < 1e-9 {
            assert_eq!(
                p50_row.1,
                stats["p50"].as_u64().unwrap(),
                "{name}: the 50% row is p50"
            );
        }
    }
}

#[test]
fn timeseries_csv_holds_rates_lag_isr_and_node_states_over_time() {
    let tmp = tempfile::tempdir().unwrap();
    run_to(tmp.path(), "scenarios/order-flow.toml", "42");
    let csv = std::fs::read_to_string(tmp.path().join("timeseries.csv")).unwrap();
    assert!(csv.starts_with("t_ns,metric,label,value\n"));
    let mut series: std::collections::BTreeMap<(String, String), Vec<(u64, f64)>> =
        Default::default();
    for l in csv.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        series
            .entry((f[1].to_string(), f[2].to_string()))
            .or_default()
            .push((f[0].parse().unwrap(), f[3].parse().unwrap()));
    }
    for metric in [
        "append_rate",
        "produce_rate",
        "apply_rate",
        "lag_events",
        "group_lag_events",
        "group_lag_time_ns",
        "in_flight",
        "isr",
        "node_state",
        "e2e_p50_ns",
        "e2e_p99_ns",
    ] {
        assert!(series.keys().any(|(m, _)| m == metric), "{metric}");
    }
    for (key, points) in &series {
        assert!(
            points.windows(2).all(|w| w[0].0 < w[1].0),
            "{key:?} in time order"
        );
        assert_eq!(points.len(), 600, "{key:?}: 60s at 100ms");
    }
    let at = |m: &str, l: &str, t: u64| {
        series[&(m.to_string(), l.to_string())]
            .iter()
            .find(|p| p.0 >= t)
            .unwrap()
            .1
    };
    // broker-1 is down from 30s to 40s, and its followers leave the ISR.
    assert_eq!(at("node_state", "broker-1", 35_000_000_000), 1.0);
    assert_eq!(at("node_state", "broker-1", 45_000_000_000), 0.0);
    let isr_dips = series
        .iter()
        .filter(|((m, _), _)| m == "isr")
        .any(|(_, pts)| pts.iter().any(|p| p.1 < 3.0));
    assert!(isr_dips);
    // Orders come in bursts; on average as many per second as were appended.
    let orders = &series[&("append_rate".to_string(), "orders".to_string())];
    let mean = orders.iter().map(|p| p.1).sum::<f64>() / orders.len() as f64;
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("summary.json")).unwrap()).unwrap();
    let appended = summary["throughput_per_s"]["topics"]["orders"]
        .as_f64()
        .unwrap();
    assert!(
        (mean - appended).abs() / appended < 0.05,
        "{mean} vs {appended}"
    );
    // Analytics starts 20s late with a backlog it then drains.
    assert!(at("group_lag_events", "analytics", 19_900_000_000) > 1000.0);
    assert!(at("group_lag_time_ns", "analytics", 19_900_000_000) > 15e9);
    // Caught up by 59s: nothing left to poll, and Kafka's lag (high
    // watermark minus committed offset) is at most what the last auto-commit
    // interval (5s) has not committed yet.
    assert_eq!(
        at("group_unpolled_events", "analytics", 59_000_000_000),
        0.0
    );
    assert!(at("group_lag_events", "analytics", 59_000_000_000) < 5.0 * appended);
}

#[test]
fn long_runs_downsample_to_a_bounded_number_of_points() {
    let s = load("scenarios/mm1.toml");
    let r = eventsim::run(&s, 1);
    let ts = &r.series;
    assert!(ts.interval_ns >= 800_000_000, "{}", ts.interval_ns);
    for series in &ts.series {
        assert!(
            series.points.len() <= 2000 && series.points.len() >= 1000,
            "{}",
            series.points.len()
        );
        let last = series.points.last().unwrap().0;
        assert_eq!(last, r.sim_time_ns, "the whole run is covered");
    }
}

#[test]
fn report_files_are_byte_identical_across_runs_of_the_same_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    run_to(&a, "scenarios/faults/random-chaos.toml", "4");
    run_to(&b, "scenarios/faults/random-chaos.toml", "4");
    for f in [
        "summary.json",
        "latency.csv",
        "timeseries.csv",
        "faults.csv",
        "faults.toml",
        "violations.jsonl",
        "scenario.toml",
        "index.html",
    ] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn every_plot_renders_as_a_real_png_and_a_well_formed_svg() {
    let tmp = tempfile::tempdir().unwrap();
    run_to(tmp.path(), "scenarios/order-flow.toml", "42");
    for (stem, y_label) in eventsim::report::plot::PLOTS {
        let file = std::fs::File::open(tmp.path().join(format!("{stem}.png"))).unwrap();
        let mut reader = png::Decoder::new(file).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(
            (info.width, info.height),
            (
                eventsim::report::plot::WIDTH,
                eventsim::report::plot::HEIGHT
            )
        );
        let px = info.color_type.samples();
        let pixels = &buf[..info.buffer_size()];
        let drawn = pixels
            .chunks(px)
            .filter(|p| p.iter().take(3).any(|&c| c < 200))
            .count();
        assert!(drawn > 5_000, "{stem}: {drawn} drawn pixels");
        // Text is drawn too (the bundled font): the title row is not blank.
        let title_row = &pixels[(15 * info.width as usize) * px..(25 * info.width as usize) * px];
        assert!(title_row.chunks(px).any(|p| p[0] < 128), "{stem}: a title");

        let svg = std::fs::read_to_string(tmp.path().join(format!("{stem}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{stem}"
        );
        assert_eq!(svg.matches("<svg").count(), svg.matches("</svg>").count());
        assert!(svg.contains(y_label), "{stem}: y axis label {y_label}");
        let x_label = if stem == "latency-percentiles" {
            "percentile"
        } else {
            "simulated time (s)"
        };
        assert!(svg.contains(x_label), "{stem}: x axis label");
        if stem != "latency-percentiles" {
            assert!(
                svg.contains("\ncrash broker-1\n"),
                "{stem}: the broker crash is shaded and named in the legend"
            );
        }
    }
    // 60 (group, partition) lag series: one line per group instead, each
    // in the legend, naming the partition that lagged most.
    let lag = std::fs::read_to_string(tmp.path().join("lag.svg")).unwrap();
    assert!(lag.contains("consumer lag per group (60 partition series)"));
    for group in ["payment", "inventory", "notification", "analytics"] {
        assert!(
            lag.contains(&format!("\n{group}, all partitions; most on ")),
            "{group} in the lag legend"
        );
    }
    assert!(
        !lag.contains("payment/orders-"),
        "no unlabelled partition lines"
    );
}

#[test]
fn every_line_of_a_time_plot_has_its_own_colour_and_legend_entry() {
    // A scenario with more (group, partition) lag lines than colours in
    // the palette but few enough to draw: 2 groups x 5 partitions = 10
    // lines, each labelled; 2 x 6 = 12 fold into one line per group.
    for (partitions, lines) in [(5, 10), (6, 2)] {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("s.toml");
        std::fs::write(
            &file,
            format!(
                r#"
[scenario]
name = "lines"
duration = "2s"

[[topics]]
name = "t"
partitions = {partitions}

[[producers]]
name = "p"
topic = "t"
rate = 500

[[groups]]
name = "a"
topics = ["t"]

[[groups]]
name = "b"
topics = ["t"]

[[faults]]
kind = "pause"
target = "a/0"
at = "500ms"
duration = "500ms"
"#
            ),
        )
        .unwrap();
        let out = tmp.path().join("r");
        let o = eventsim(&[
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let svg = std::fs::read_to_string(out.join("lag.svg")).unwrap();
        let strokes: std::collections::BTreeSet<&str> = svg
            .split("<polyline")
            .skip(1)
            .filter_map(|p| p.split("stroke=\"").nth(1)?.split('"').next())
            .filter(|&c| c != "#000000") // the axes
            .collect();
        assert_eq!(
            strokes.len(),
            lines,
            "{partitions} partitions: distinct line colours"
        );
        assert!(svg.contains("\npause a/0\n"), "the fault named");
    }
}

#[test]
fn index_html_is_self_contained_and_escapes_names_from_the_scenario() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo("scenarios/faults/consumer-crash-duplicates.toml"))
        .unwrap()
        .replace(
            "name = \"consumer-crash-duplicates\"",
            "name = \"<script>alert(1)</script>\"",
        );
    let path = tmp.path().join("x.toml");
    std::fs::write(&path, text).unwrap();
    let out = tmp.path().join("out");
    let o = eventsim(&[
        "run",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        !html.to_lowercase().contains("<script"),
        "no script tag gets through"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("src=\"http"), "no network");
    assert_eq!(
        html.matches("href=\"http").count(),
        html.matches("href=\"https://ui.perfetto.dev\"").count(),
        "the only link is to the trace viewer"
    );
    for needle in [
        "verdict",
        "exactly-once-effect",
        "duplicates_applied",
        "end to end, billing",
        "crash billing/1",
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    assert_eq!(
        html.matches("<svg").count(),
        7,
        "every plot inline, the topology and the fault timeline"
    );
}

#[test]
fn plot_redraws_the_same_plots_and_page_from_the_files_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, copy) = (tmp.path().join("run"), tmp.path().join("copy"));
    run_to(&run, "scenarios/order-flow.toml", "42");
    std::fs::create_dir_all(&copy).unwrap();
    for f in [
        "summary.json",
        "latency.csv",
        "timeseries.csv",
        "faults.csv",
        "scenario.toml",
    ] {
        std::fs::copy(run.join(f), copy.join(f)).unwrap();
    }
    let o = eventsim(&["plot", copy.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut files = vec!["index.html".to_string()];
    for (stem, _) in eventsim::report::plot::PLOTS {
        files.push(format!("{stem}.png"));
        files.push(format!("{stem}.svg"));
    }
    for f in files {
        assert_eq!(
            std::fs::read(run.join(&f)).unwrap(),
            std::fs::read(copy.join(&f)).unwrap(),
            "{f}"
        );
    }
    let o = eventsim(&["plot", tmp.path().join("nothing").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("summary.json"), "{}", stderr(&o));
}

#[test]
fn trace_json_has_the_trace_event_fields_and_every_flow_start_has_its_end() {
    let tmp = tempfile::tempdir().unwrap();
    // order-flow, shortened: emissions (flows between hops) and the crash at 3s.
    let text = std::fs::read_to_string(repo("scenarios/order-flow.toml"))
        .unwrap()
        .replace("duration = \"60s\"", "duration = \"6s\"")
        .replace("at = \"30s\"", "at = \"3s\"")
        .replace("start = \"20s\"", "start = \"2s\"");
    let path = tmp.path().join("short.toml");
    std::fs::write(&path, text).unwrap();
    let trace = tmp.path().join("trace.json");
    let o = eventsim(&[
        "run",
        path.to_str().unwrap(),
        "--out",
        tmp.path().join("out").to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The same seed writes the same trace, byte for byte.
    let again = tmp.path().join("again.json");
    let o = eventsim(&[
        "run",
        path.to_str().unwrap(),
        "--out",
        tmp.path().join("out2").to_str().unwrap(),
        "--trace",
        again.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::read(&trace).unwrap() == std::fs::read(&again).unwrap());
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    assert!(events.len() > 1000);
    for e in events {
        for field in ["ph", "ts", "pid", "tid", "name"] {
            assert!(!e[field].is_null(), "{field} in {e}");
        }
    }
    let ids = |ph: &str| -> std::collections::BTreeSet<u64> {
        events
            .iter()
            .filter(|e| e["ph"] == ph)
            .map(|e| e["id"].as_u64().unwrap())
            .collect()
    };
    let (starts, ends) = (ids("s"), ids("f"));
    assert!(!starts.is_empty());
    assert_eq!(starts, ends, "every flow start has its end");
    let names = |prefix: &str| {
        events
            .iter()
            .filter(|e| e["name"].as_str().unwrap().starts_with(prefix))
            .count()
    };
    assert!(names("produce ") > 100 && names("process ") > 100 && names("append ") > 100);
    assert!(
        events.iter().any(|e| e["name"] == "emits"),
        "flows along the choreography"
    );
    assert!(
        events
            .iter()
            .any(|e| e["name"] == "fault: crash broker-1" && e["s"] == "g")
    );
    let tracks: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    for t in [
        "order-service",
        "broker-0",
        "payment/0",
        "orders-0",
        "crash broker-1",
    ] {
        assert!(tracks.contains(&t), "track {t}");
    }
    // The crash is a slice from 3s to the restart at 13s.
    let crash: Vec<_> = events
        .iter()
        .filter(|e| e["name"] == "crash broker-1" && e["ph"] == "X")
        .collect();
    assert_eq!(crash.len(), 1, "{crash:?}");
    assert_eq!(crash[0]["ts"].as_f64(), Some(3e6));
    assert_eq!(crash[0]["dur"].as_f64(), Some(10e6));
    // Counter tracks: one value per name and instant, in time order.
    let counter = |name: &str, arg: &str| -> Vec<(f64, i64)> {
        events
            .iter()
            .filter(|e| e["ph"] == "C" && e["name"] == name)
            .map(|e| (e["ts"].as_f64().unwrap(), e["args"][arg].as_i64().unwrap()))
            .collect()
    };
    for name in [
        "isr orders-0",
        "lag payment orders-0",
        "unacked order-service",
    ] {
        let arg = if name.starts_with("isr") {
            "replicas"
        } else {
            "records"
        };
        let c = counter(name, arg);
        assert!(!c.is_empty(), "{name}");
        assert!(
            c.windows(2).all(|w| w[0].0 < w[1].0),
            "{name}: one per instant"
        );
        assert!(c.iter().all(|&(_, v)| v >= 0), "{name}: {c:?}");
    }
    // Every partition has a replica on broker-1 and drops it from its ISR
    // while it is down (the run ends as it restarts): a follower when the
    // leader shrinks the ISR, the leader when the controller elects
    // another (the ISR and the leader change together).
    let shrunk = (0..12)
        .filter(|p| {
            let c = counter(&format!("isr orders-{p}"), "replicas");
            c.first() == Some(&(0.0, 3))
                && c.iter().any(|&(t, v)| v == 2 && (3e6..13e6).contains(&t))
        })
        .count();
    assert_eq!(shrunk, 12, "ISRs shrink during the crash");
    // Lag rises while records wait and is back to 0 at the end.
    let lag = counter("lag analytics orders-0", "records");
    assert!(lag.iter().any(|&(_, v)| v > 10), "{lag:?}");
    assert_eq!(lag.last().map(|l| l.1), Some(0));
    assert_eq!(
        counter("unacked order-service", "records")
            .last()
            .map(|l| l.1),
        Some(0)
    );
}

#[test]
fn the_readme_images_are_what_order_flow_draws() {
    let tmp = tempfile::tempdir().unwrap();
    run_to(tmp.path(), "scenarios/order-flow.toml", "42");
    for f in ["lag.png", "latency-percentiles.png"] {
        assert!(
            std::fs::read(tmp.path().join(f)).unwrap()
                == std::fs::read(repo(&format!("docs/images/{f}"))).unwrap(),
            "docs/images/{f} is stale: regenerate it with the command in the README"
        );
    }
}

#[test]
fn plot_refuses_non_finite_values_and_escapes_hidden_characters() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    run_to(&run, "scenarios/order-flow.toml", "42");
    let copy = |name: &str| {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for f in [
            "summary.json",
            "latency.csv",
            "timeseries.csv",
            "faults.csv",
        ] {
            std::fs::copy(run.join(f), dir.join(f)).unwrap();
        }
        dir
    };
    for (file, bad) in [
        ("timeseries.csv", "inf"),
        ("timeseries.csv", "NaN"),
        ("latency.csv", "-inf"),
        // Finite but at the edge of f64: drawing its axis used to hang.
        ("timeseries.csv", "1.7976931348623157e308"),
        ("timeseries.csv", "-1e31"),
    ] {
        let dir = copy(&format!("{bad}-{file}"));
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        // The value column of line 3.
        let mut cells: Vec<&str> = lines[2].split(',').collect();
        let col = if file == "latency.csv" { 2 } else { 3 };
        cells[col] = bad;
        lines[2] = cells.join(",");
        std::fs::write(dir.join(file), lines.join("\n") + "\n").unwrap();
        let o = eventsim(&["plot", dir.to_str().unwrap()]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{bad} in {file}: {err}");
        assert!(err.contains(&format!("{file}:3:")), "{err}");
        assert!(err.contains("finite"), "{err}");
    }

    // A run killed between its summary and its perf.json: the previous
    // run's perf.json beside the new summary, no manifest. Refused.
    let dir = copy("half");
    std::fs::write(
        dir.join("perf.json"),
        "{\"wall_time_s\": 1.0, \"kernel_events\": 12}\n",
    )
    .unwrap();
    let o = eventsim(&["plot", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("its perf.json is another run's"),
        "{}",
        stderr(&o)
    );
    // An empty timeseries.csv is refused, not drawn as empty plots.
    let dir = copy("empty");
    std::fs::write(dir.join("timeseries.csv"), "").unwrap();
    let o = eventsim(&["plot", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("timeseries.csv: no sample"),
        "{}",
        stderr(&o)
    );

    // A summary edited to carry ESC and NUL in the scenario's name: the
    // drawn plots stay well-formed XML, the characters shown as escapes.
    let dir = copy("hidden");
    let summary = std::fs::read_to_string(dir.join("summary.json"))
        .unwrap()
        .replace(
            "\"scenario\": \"order-flow\"",
            "\"scenario\": \"order\\u001b[2J\\u0000flow\"",
        );
    std::fs::write(dir.join("summary.json"), summary).unwrap();
    let o = eventsim(&["plot", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for (stem, _) in eventsim::report::plot::PLOTS {
        let svg = std::fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
        assert!(
            !svg.chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t'),
            "{stem}: a raw control character in the SVG"
        );
    }
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(
        !html
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    );
}

/// 3,000 partitions, two groups and a crash: the report stays small and
/// readable (a bounded number of series), and byte-identical by seed.
#[test]
fn thousands_of_partitions_give_a_bounded_report() {
    let text = r#"
[scenario]
name = "wide"
duration = "20s"
drain = "30s"

[cluster]
brokers = 3

[[topics]]
name = "orders"
partitions = 3000
replication_factor = 3
min_insync_replicas = 2

[[producers]]
name = "p"
topic = "orders"
rate = 2000
keys = { dist = "zipf", n = 10000000, s = 1.1 }

[[groups]]
name = "fast"
topics = ["orders"]
consumers = 4
auto_offset_reset = "earliest"

[[groups]]
name = "slow"
topics = ["orders"]
consumers = 2
auto_offset_reset = "earliest"
processing = { dist = "exponential", mean = "0.4ms" }

[[faults]]
kind = "crash"
target = "broker-1"
at = "5s"
restart_after = "12s"
"#;
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("wide.toml");
    std::fs::write(&path, text).unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for out in [&a, &b] {
        let o = eventsim(&[
            "run",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    for f in ["summary.json", "timeseries.csv", "latency.csv"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f}"
        );
    }
    let csv = std::fs::read_to_string(a.join("timeseries.csv")).unwrap();
    let mut series = std::collections::BTreeSet::new();
    for line in csv.lines().skip(1) {
        let mut f = line.split(',');
        let (_, metric, label) = (f.next(), f.next().unwrap(), f.next().unwrap());
        series.insert((metric.to_string(), label.to_string()));
    }
    let count = |m: &str| series.iter().filter(|(x, _)| x == m).count();
    // At most 20 partition series per group, and the distribution of each.
    assert!(count("lag_events") <= 40, "{}", count("lag_events"));
    assert!(count("lag_events") >= 20, "{}", count("lag_events"));
    assert_eq!(count("lag_events_p99"), 2);
    assert_eq!(count("isr"), 0);
    assert_eq!(count("under_replicated_partitions"), 1);
    // The crash leaves partitions under-replicated for a while.
    assert!(
        csv.lines()
            .filter(|l| l.contains(",under_replicated_partitions,"))
            .any(|l| !l.ends_with(",0")),
        "no under-replicated partition during the crash"
    );
    let folder: u64 = std::fs::read_dir(&a)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(folder < 5 << 20, "report folder of {folder} bytes");
}

#[test]
fn the_page_says_what_was_simulated_in_a_well_formed_self_contained_document() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("t.json");
    let text = std::fs::read_to_string(repo("scenarios/faults/auto-commit-loss.toml"))
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("description = ") {
                "description = \"Offsets stored <ahead> of processing & a crash\"\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect::<String>();
    assert!(
        text.contains("<ahead>"),
        "the scenario has a description to replace"
    );
    let path = tmp.path().join("s.toml");
    std::fs::write(&path, &text).unwrap();
    let o = eventsim(&[
        "run",
        path.to_str().unwrap(),
        "--out",
        tmp.path().join("out").to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let html = std::fs::read_to_string(tmp.path().join("out/index.html")).unwrap();
    let headings = well_formed(&html);
    assert_eq!(
        headings,
        [
            "Topology",
            "Checks",
            "Counts",
            "Groups",
            "Availability",
            "Catch-up",
            "Latency",
            "Faults",
            "Plots",
            "Trace",
            "Scenario file"
        ]
    );
    // The late group's catch-up.
    assert!(html.contains("<h2 id=\"catch-up\">Catch-up</h2>"));
    let scenario = eventsim::scenario::Scenario::load(&path).unwrap();
    // The description, then the first violation, before the topology.
    let at = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("{needle}"));
    let first = at("<div class=\"first\">");
    assert!(at("Offsets stored &lt;ahead&gt; of processing &amp; a crash") < first);
    assert!(first < at("<h2 id=\"topology\">"));
    // Every producer, topic and group in the diagram.
    let topology = &html[at("<h2 id=\"topology\">")..at("<h2 id=\"checks\">")];
    for name in scenario
        .producers
        .iter()
        .map(|p| &p.name)
        .chain(scenario.topics.iter().map(|t| &t.name))
        .chain(scenario.groups.iter().map(|g| &g.name))
    {
        assert!(topology.contains(&format!(">{name}<")), "{name} drawn");
    }
    // Counts in pipeline order; latencies with units; the trace named;
    // the scenario file itself, collapsed.
    let counts = &html[at("<h2 id=\"counts\">")..at("<h2 id=\"latency\">")];
    let order: Vec<usize> = ["produced", "acked", "appended", "delivered", "applied"]
        .iter()
        .map(|c| {
            counts
                .find(&format!(">{c}<"))
                .unwrap_or_else(|| panic!("{c}"))
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{counts}");
    let latency = &html[at("<h2 id=\"latency\">")..at("<h2 id=\"faults\">")];
    assert!(
        latency.contains("ms</td>") || latency.contains("s</td>"),
        "{latency}"
    );
    // The fault on a timeline and in the table, in the crash colour of
    // the plots' bands, named.
    let faults = &html[at("<h2 id=\"faults\">")..at("<h2 id=\"plots\">")];
    assert!(faults.contains("<svg class=\"timeline\""), "{faults}");
    assert!(
        faults.contains(">crash billing/1</text><rect")
            && faults.contains("crash billing/1 from 8.00s to 14.00s")
            && faults.contains("style=\"background:rgb(214,39,40)\"></span>crash billing/1</td>"),
        "{faults}"
    );
    assert!(html.contains(&eventsim::report::html_escape(&trace.display().to_string())));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("out/scenario.toml")).unwrap(),
        text
    );
    let first_line = text.lines().find(|l| !l.trim().is_empty()).unwrap();
    assert!(html.contains(&eventsim::report::html_escape(first_line)));
    assert!(html.contains("<details>"));
}

/// The README counts the behaviours docs/kafka-semantics.md tabulates.
#[test]
fn the_readme_counts_the_semantics_table_rows() {
    let table = std::fs::read_to_string(repo("docs/kafka-semantics.md")).unwrap();
    let rows = table
        .lines()
        .filter(|l| {
            l.strip_prefix("| ")
                .and_then(|r| r.split(' ').next())
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .count();
    let words = [
        (41, "forty-one"),
        (44, "forty-four"),
        (48, "forty-eight"),
        (50, "fifty"),
        (51, "fifty-one"),
        (52, "fifty-two"),
        (53, "fifty-three"),
        (54, "fifty-four"),
        (55, "fifty-five"),
        (56, "fifty-six"),
        (57, "fifty-seven"),
        (58, "fifty-eight"),
        (59, "fifty-nine"),
        (60, "sixty"),
        (61, "sixty-one"),
    ];
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let (_, word) = words
        .iter()
        .find(|(n, _)| *n == rows)
        .unwrap_or_else(|| panic!("{rows} rows: add the number's word to this test"));
    assert!(
        readme.contains(&format!("{word} behaviours")),
        "README should say `{word} behaviours` ({rows} rows)"
    );
}
