//! Design comparisons: the cross product of variants (values of
//! scenario fields) by seeds, each run with its checkers, summarised per
//! variant as a mean and a 95% confidence interval over seeds.
//!
//! A variant sets fields by path: `producers.order-service.partitioner`,
//! `topics.orders.partitions`, `groups.payment.commit`, `cluster.brokers`.
//! In `[[producers]]`, `[[topics]]` and `[[groups]]` the element is named by
//! its `name`. Values are TOML values (`16`, `true`, `"1"`) or bare words.

use crate::scenario::{Scenario, ScenarioError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One `--vary PATH=V1,V2,...`.
#[derive(Clone, Debug, PartialEq)]
pub struct Vary {
    pub path: Vec<String>,
    pub values: Vec<String>,
}

impl Vary {
    /// `PATH=V1,V2,...`. A path segment with a dot in it is written in
    /// double quotes (`topics."clicks.v1".partitions=4,8`, as TOML writes
    /// such keys); a value with a comma in it is a quoted string or an
    /// inline table or array (`groups.g.processing={dist="exponential",
    /// mean="1ms"},{dist="constant",value="1ms"}`): commas inside quotes,
    /// braces and brackets do not separate values.
    pub fn parse(text: &str) -> Result<Vary, String> {
        let eq = split_outside(text, '=')
            .filter(|parts| parts.len() >= 2)
            .map(|parts| parts[0].len())
            .ok_or_else(|| format!("expected PATH=V1,V2,... (e.g. producers.orders.partitioner=murmur2,round-robin), not `{text}`"))?;
        let (path, values) = (&text[..eq], &text[eq + 1..]);
        let unbalanced = || format!("unclosed quote, brace or bracket in `{text}`");
        let path: Vec<String> = split_outside(path, '.')
            .ok_or_else(unbalanced)?
            .into_iter()
            .map(|p| {
                let p = p.trim();
                p.strip_prefix('"')
                    .and_then(|q| q.strip_suffix('"'))
                    .unwrap_or(p)
                    .to_string()
            })
            .collect();
        let values: Vec<String> = split_outside(values, ',')
            .ok_or_else(unbalanced)?
            .into_iter()
            .map(|v| v.trim().to_string())
            .collect();
        if path.iter().any(String::is_empty) || values.iter().any(String::is_empty) {
            return Err(format!("empty path segment or value in `{text}`"));
        }
        // Two variants of one value would be labelled alike and run alike.
        for (i, v) in values.iter().enumerate() {
            if values[..i].contains(v) {
                return Err(format!(
                    "`--vary {text}` lists the value `{v}` twice: each value is one variant"
                ));
            }
        }
        Ok(Vary { path, values })
    }

    /// The short name of the field (its last path segment).
    pub fn field(&self) -> &str {
        self.path.last().map_or("", String::as_str)
    }
}

/// `text` split at each `sep` outside quotes (`"`, `'`), braces and
/// brackets; `None` if one is left open.
fn split_outside(text: &str, sep: char) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0);
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '{' | '[' => depth += 1,
                '}' | ']' => depth -= 1,
                c if c == sep && depth == 0 => {
                    parts.push(&text[start..i]);
                    start = i + c.len_utf8();
                }
                _ => {}
            },
        }
        if depth < 0 {
            return None;
        }
    }
    if quote.is_some() || depth != 0 {
        return None;
    }
    parts.push(&text[start..]);
    Some(parts)
}

/// Names in back quotes, comma-separated (the first 10).
fn quoted(names: &[String]) -> String {
    let mut list: Vec<String> = names.iter().take(10).map(|n| format!("`{n}`")).collect();
    if names.len() > 10 {
        list.push(format!("and {} more", names.len() - 10));
    }
    if list.is_empty() {
        "no named element".to_string()
    } else {
        list.join(", ")
    }
}

/// Set `path` to `value` in scenario text.
fn set(text: &str, path: &[String], value: &str) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    let parsed: toml_edit::Value = value
        .parse()
        .unwrap_or_else(|_| toml_edit::Value::from(value));
    set_in_table(doc.as_table_mut(), path, parsed, &path.join("."))?;
    Ok(doc.to_string())
}

fn set_in_table(
    table: &mut toml_edit::Table,
    rest: &[String],
    value: toml_edit::Value,
    dotted: &str,
) -> Result<(), String> {
    match rest {
        [] => Err(format!("`{dotted}`: name a field")),
        [field] => {
            table.insert(field, toml_edit::Item::Value(value));
            Ok(())
        }
        [head, tail @ ..] => {
            let keys: Vec<String> = table.iter().map(|(k, _)| k.to_string()).collect();
            let item = table.get_mut(head).ok_or_else(|| {
                let hint =
                    crate::scenario::suggest::did_you_mean(head, keys.iter().map(String::as_str))
                        .map_or_else(String::new, |h| format!("; {h}"));
                format!("`{dotted}`: no `{head}` in the scenario{hint}")
            })?;
            if let Some(array) = item.as_array_of_tables_mut() {
                let (name, tail) = tail
                    .split_first()
                    .ok_or_else(|| format!("`{dotted}`: name the element of `{head}`"))?;
                let names: Vec<String> = array
                    .iter()
                    .filter_map(|t| t.get("name").and_then(|n| n.as_str()).map(str::to_string))
                    .collect();
                let element = array
                    .iter_mut()
                    .find(|t| t.get("name").and_then(|n| n.as_str()) == Some(name.as_str()))
                    .ok_or_else(|| {
                        let hint = crate::scenario::suggest::did_you_mean(
                            name,
                            names.iter().map(String::as_str),
                        )
                        .map_or_else(
                            || format!("; `{head}` has {}", quoted(&names)),
                            |h| format!("; {h}"),
                        );
                        format!("`{dotted}`: no element of `{head}` is named `{name}`{hint}")
                    })?;
                return set_in_table(element, tail, value, dotted);
            }
            if let (Some(inline), [field]) = (item.as_inline_table_mut(), tail) {
                inline.insert(field, value);
                return Ok(());
            }
            let sub = item
                .as_table_mut()
                .ok_or_else(|| format!("`{dotted}`: `{head}` is not a table"))?;
            set_in_table(sub, tail, value, dotted)
        }
    }
}

/// One variant: its label and values, and the scenario it makes.
pub struct Variant {
    pub label: String,
    pub values: Vec<String>,
    pub scenario: Scenario,
}

/// The variants of one or more scenario files ((path as given, text)):
/// each file's cross product of the variations. With several files each
/// variant's label starts with its scenario's name, which must differ
/// between files, and its values with that name.
pub fn variants_of(files: &[(String, String)], varies: &[Vary]) -> Result<Vec<Variant>, String> {
    // A path varied twice: the later value would silently win, and the
    // labels would name values a run did not use.
    for (i, v) in varies.iter().enumerate() {
        if varies[..i].iter().any(|w| w.path == v.path) {
            return Err(format!(
                "`{}` is varied twice (--vary {}=...): give all its values in one --vary",
                v.path.join("."),
                v.path.join(".")
            ));
        }
    }
    if let [(file, text)] = files {
        if varies.is_empty() {
            return Err(
                "nothing to compare: give --vary PATH=V1,V2 or more than one scenario file".into(),
            );
        }
        return variants(text, file, varies);
    }
    let mut out: Vec<Variant> = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for (file, text) in files {
        let vs = variants(text, file, varies)?;
        if let Some(v) = vs.first()
            && !names.insert(v.scenario.scenario.name.clone())
        {
            return Err(format!(
                "{file}: another scenario file is also named `{}`; the scenarios compared need names of their own",
                v.scenario.scenario.name
            ));
        }
        for mut v in vs {
            let name = v.scenario.scenario.name.clone();
            v.label = if v.label.is_empty() {
                name.clone()
            } else {
                format!("{name} {}", v.label)
            };
            v.values.insert(0, name);
            out.push(v);
        }
    }
    Ok(out)
}

/// The columns naming a variant in comparison.csv: `scenario` when
/// several files are compared, then each varied field's path.
pub fn value_columns(files: usize, varies: &[Vary]) -> Vec<String> {
    let mut columns = Vec::new();
    if files > 1 {
        columns.push("scenario".to_string());
    }
    columns.extend(varies.iter().map(|v| v.path.join(".")));
    columns
}

/// The cross product of the variations, validated like any scenario file.
pub fn variants(text: &str, file: &str, varies: &[Vary]) -> Result<Vec<Variant>, String> {
    let mut combos: Vec<Vec<String>> = vec![Vec::new()];
    for v in varies {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                v.values.iter().map(move |x| {
                    let mut c = c.clone();
                    c.push(x.clone());
                    c
                })
            })
            .collect();
    }
    let mut out = Vec::new();
    for values in combos {
        let mut t = text.to_string();
        for (v, value) in varies.iter().zip(&values) {
            t = set(&t, &v.path, value)?;
        }
        let label: Vec<String> = varies
            .iter()
            .zip(&values)
            .map(|(v, x)| format!("{}={x}", v.field()))
            .collect();
        let label = label.join(" ");
        let scenario = Scenario::parse(&t, file)
            .map_err(|e: ScenarioError| variant_error(text, e, varies, &values, &label))?;
        out.push(Variant {
            label,
            values,
            scenario,
        });
    }
    Ok(out)
}

/// A variant that is not a valid scenario. A problem on a line the file
/// does not hold came from the command line: it quotes the `--vary`, not
/// the file (which never said `autox`); the rest quote the file.
fn variant_error(
    original: &str,
    mut e: ScenarioError,
    varies: &[Vary],
    values: &[String],
    label: &str,
) -> String {
    let mut out = String::new();
    e.problems.retain(|p| {
        let Some((excerpt, _)) = &p.excerpt else {
            return true;
        };
        if original
            .lines()
            .any(|l| l.trim_end_matches('\r') == excerpt)
        {
            return true;
        }
        let given = varies
            .iter()
            .zip(values)
            .find(|(_, x)| excerpt.contains(x.as_str()))
            .map_or(label.to_string(), |(v, x)| {
                format!("--vary {}={x}", v.path.join("."))
            });
        out.push_str(&format!(
            "error: {given} (from the command line): field `{}`: {}\n",
            p.field, p.message
        ));
        if let Some(help) = &p.help {
            out.push_str(&format!("  = help: {help}\n"));
        }
        false
    });
    if !e.problems.is_empty() {
        out.push_str(&format!("variant `{label}`:\n{e}"));
    }
    // The caller prefixes the first line with `error: `.
    let out = out.trim_end();
    out.strip_prefix("error: ").unwrap_or(out).to_string()
}

/// The figures of one run of one variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunFigures {
    pub variant: String,
    pub seed: u64,
    /// Events appended per simulated second, all topics.
    pub throughput: f64,
    /// End-to-end latency percentiles, worst group (ns).
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max_lag: f64,
    /// Max partition load / mean partition load, over the producers' topics.
    pub skew: f64,
    pub order_violations: f64,
    pub failed: Vec<String>,
    /// Faults that fired, and of them those that struck nothing (a node
    /// holding no record whose fate it could change, a link that carried
    /// nothing while it lasted).
    #[serde(default)]
    pub faults: u64,
    #[serde(default)]
    pub faults_struck_nothing: u64,
    /// Figures only some scenarios have, by name (see [`extra_figures`]):
    /// the same names for every run of one variant.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

/// A run's figures beyond the fixed metrics, named by what the scenario
/// declares, so a comparison without them keeps its columns: per flow
/// (`flow.NAME.acceptance_rate`, `completion_p50_ns`, `completion_p99_ns`,
/// `compensated`, `failed`, `open`, `rejected_with_effects`, `duplicated`,
/// `settle_p99_ns`), per group
/// that joins later (`catch_up.GROUP_ns`), and `dead_lettered` when a
/// group has a dead-letter topic.
pub fn extra_figures(s: &Scenario, c: &crate::Checked) -> BTreeMap<String, f64> {
    let m = &c.result.metrics;
    let mut out = BTreeMap::new();
    for f in m.flows() {
        let name = |k: &str| format!("flow.{}.{k}", f.name);
        for (k, v) in [
            ("acceptance_rate", f.acceptance_rate),
            ("completion_p50_ns", f.completion_ns.p50 as f64),
            ("completion_p99_ns", f.completion_ns.p99 as f64),
            ("compensated", f.compensated as f64),
            ("failed", f.failed as f64),
            ("open", f.open as f64),
            ("rejected_with_effects", f.rejected_with_effects as f64),
            ("duplicated", f.duplicated as f64),
            ("settle_p99_ns", f.settle_ns.p99 as f64),
        ] {
            out.insert(name(k), v);
        }
    }
    for (g, figures) in c.result.catalog.groups.iter().zip(m.catch_up()) {
        if s.groups.iter().any(|x| &x.name == g && x.start.ns() > 0) {
            // No backlog: caught up at once; never caught up: the whole run.
            let ns = figures.map_or(0, |f| f.caught_up_ns.unwrap_or(c.result.sim_time_ns));
            out.insert(format!("catch_up.{g}_ns"), ns as f64);
        }
    }
    if s.groups.iter().any(|g| g.dead_letter_topic.is_some()) {
        out.insert("dead_lettered".into(), m.counts.dead_lettered as f64);
    }
    // What the groups had not processed when the run stopped: the latency
    // figures count only what finished.
    let unfinished: u64 = c.result.unfinished.iter().map(|u| u.events).sum();
    out.insert("unfinished".into(), unfinished as f64);
    out
}

pub fn run_variant(v: &Variant, seed: u64) -> RunFigures {
    let (c, _) = crate::run_checks(&v.scenario, seed, Vec::new());
    let r = &c.result;
    let m = &r.metrics;
    let worst = |f: fn(&crate::metrics::LatencyStats) -> u64| {
        m.end_to_end
            .iter()
            .map(|h| f(&h.stats()))
            .max()
            .unwrap_or(0) as f64
    };
    let secs = (r.production_end_ns as f64 / 1e9).max(1e-9);
    // Skew over the partitions of the topics producers write to.
    let mut topics: Vec<u32> = Vec::new();
    for p in &v.scenario.producers {
        if let Some(t) = r.catalog.topics.iter().position(|x| *x == p.topic) {
            topics.push(t as u32);
        }
    }
    topics.sort_unstable();
    topics.dedup();
    let loads: Vec<u64> = r
        .catalog
        .partitions
        .iter()
        .enumerate()
        .filter(|(_, (t, _))| topics.contains(t))
        .map(|(p, _)| m.appended_by_partition[p])
        .collect();
    let mean = loads.iter().sum::<u64>() as f64 / loads.len().max(1) as f64;
    let skew = if mean > 0.0 {
        *loads.iter().max().unwrap_or(&0) as f64 / mean
    } else {
        0.0
    };
    let order = c
        .checks
        .iter()
        .find(|x| x.name == "per-key-order")
        .map_or(0, |x| x.violations) as f64;
    let extra = extra_figures(&v.scenario, &c);
    let fired = r.fault_hits.iter().flatten();
    let faults = fired.clone().count() as u64;
    let faults_struck_nothing = fired.filter(|h| h.nothing).count() as u64;
    RunFigures {
        extra,
        faults,
        faults_struck_nothing,
        variant: v.label.clone(),
        seed,
        throughput: m.counts.appended as f64 / secs,
        p50: worst(|s| s.p50),
        p99: worst(|s| s.p99),
        p999: worst(|s| s.p999),
        max_lag: r.series.max_lag.iter().copied().max().unwrap_or(0) as f64,
        skew,
        order_violations: order,
        failed: c
            .checks
            .iter()
            .filter(|x| x.status == crate::check::CheckStatus::Fail)
            .map(|x| x.name.clone())
            .collect(),
    }
}

/// Mean and half-width of the 95% confidence interval (Student's t).
pub fn mean_ci(xs: &[f64]) -> (f64, f64) {
    let n = xs.len();
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, f64::NAN); // one seed says nothing about the spread
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, t_975(n - 1) * (var / n as f64).sqrt())
}

/// Student's t quantile 0.975 with `df` degrees of freedom (exact, for
/// any `df`: 12.706 for 1, 2.042 for 30, 1.984 for 100).
pub fn t_975(df: usize) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    StudentsT::new(0.0, 1.0, df as f64)
        .map(|t| t.inverse_cdf(0.975))
        .unwrap_or(f64::NAN)
}

/// A mean ± interval for a table: `n/a` for the interval of one seed.
fn pm(m: f64, ci: f64, scale: f64) -> String {
    if ci.is_nan() {
        format!("{:.2} ± n/a", m / scale)
    } else {
        format!("{:.2} ± {:.2}", m / scale, ci / scale)
    }
}

/// The metrics of comparison.csv, in column order.
pub const METRICS: [&str; 7] = [
    "throughput_per_s",
    "e2e_p50_ns",
    "e2e_p99_ns",
    "e2e_p999_ns",
    "max_lag",
    "partition_skew",
    "per_key_order_violations",
];

fn metric(r: &RunFigures, i: usize) -> f64 {
    [
        r.throughput,
        r.p50,
        r.p99,
        r.p999,
        r.max_lag,
        r.skew,
        r.order_violations,
    ][i]
}

/// A comparison: the extra figures' names (sorted; the union over the
/// variants), then one row per variant, in variant order.
pub struct Summary {
    pub extras: Vec<String>,
    pub rows: Vec<Row>,
    /// Set when the runs cover only part of the comparison (interrupted,
    /// or shards missing from a merge): how much ran.
    pub incomplete: Option<String>,
}

/// A figure a chart draws: one of [`METRICS`], or an extra figure.
#[derive(Clone, Copy, Debug)]
pub enum Figure {
    /// Index in [`METRICS`] (a row's `stats`).
    Metric(usize),
    /// Index in the summary's `extras` (a row's `extra`).
    Extra(usize),
}

impl Figure {
    /// This figure's (mean, ci) in a row, if the row has it.
    pub fn of(self, r: &Row) -> Option<(f64, f64)> {
        match self {
            Figure::Metric(i) => r.stats.get(i).copied(),
            Figure::Extra(i) => r.extra.get(i).copied().flatten(),
        }
    }
}

/// The charts of a comparison, in the order a reader needs them: when the
/// scenarios declare business flows, what designs are compared on first
/// (per flow: acceptance rate, completion p99, flows rejected with
/// effects), then the worst group's end-to-end p99 and the partition
/// skew. Each: (file stem, figure, axis label, divisor of its values).
pub fn charts(s: &Summary) -> Vec<(String, Figure, String, f64)> {
    let mut out = Vec::new();
    let flows: Vec<&str> = {
        let mut v: Vec<&str> = s
            .extras
            .iter()
            .filter_map(|n| n.strip_prefix("flow."))
            .filter_map(|n| n.split('.').next())
            .collect();
        v.dedup();
        v
    };
    for f in &flows {
        for (key, label, scale) in [
            (
                "acceptance_rate",
                "acceptance rate (accepted / started)",
                1.0,
            ),
            ("completion_p99_ns", "completion p99 (ms)", 1e6),
            (
                "rejected_with_effects",
                "rejected with effects per run",
                1.0,
            ),
        ] {
            let name = format!("flow.{f}.{key}");
            // Charted when every variant has it (a design without the flow
            // has no bar to draw).
            if let Some(i) = s.extras.iter().position(|x| *x == name)
                && s.rows.iter().all(|r| Figure::Extra(i).of(r).is_some())
            {
                let stem = format!("compare-{}-{}", sanitize_stem(f), key.replace('_', "-"));
                out.push((stem, Figure::Extra(i), format!("{f}: {label}"), scale));
            }
        }
    }
    out.push((
        "compare-p99".into(),
        Figure::Metric(2),
        "end-to-end p99 (ms), worst group".into(),
        1e6,
    ));
    out.push((
        "compare-skew".into(),
        Figure::Metric(5),
        "partition skew (max / mean load)".into(),
        1.0,
    ));
    out
}

/// A flow's name as a file name's part.
fn sanitize_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// One variant's row.
pub struct Row {
    pub label: String,
    pub values: Vec<String>,
    pub seeds: usize,
    /// (mean, ci) of each of [`METRICS`].
    pub stats: Vec<(f64, f64)>,
    /// (mean, ci) of each extra figure, `None` for one the variant lacks.
    pub extra: Vec<Option<(f64, f64)>>,
    /// Checks that failed, with the share of seeds (`convergence (2/5)`).
    pub failed: Vec<String>,
    /// Faults that fired over its seeds, and those that struck nothing.
    pub faults: u64,
    pub faults_struck_nothing: u64,
}

impl Row {
    /// A warning when some of the variant's faults struck nothing: its
    /// checks passing does not show it survives them.
    pub fn missed_faults(&self) -> Option<String> {
        (self.faults_struck_nothing > 0).then(|| {
            format!(
                "{}: {} of {} fault(s) over {} seed(s) struck nothing (no record in the hands of the node they struck, no message on the link they cut)",
                self.label, self.faults_struck_nothing, self.faults, self.seeds
            )
        })
    }
}

pub fn summarise(variants: &[Variant], runs: &[RunFigures]) -> Summary {
    let extras: Vec<String> = runs
        .iter()
        .flat_map(|r| r.extra.keys().cloned())
        .collect::<std::collections::BTreeSet<String>>()
        .into_iter()
        .collect();
    let rows = variants
        .iter()
        .map(|v| {
            let mine: Vec<&RunFigures> = runs.iter().filter(|r| r.variant == v.label).collect();
            let stats = (0..METRICS.len())
                .map(|i| mean_ci(&mine.iter().map(|r| metric(r, i)).collect::<Vec<_>>()))
                .collect();
            let extra = extras
                .iter()
                .map(|name| {
                    let xs: Vec<f64> = mine
                        .iter()
                        .filter_map(|r| r.extra.get(name).copied())
                        .collect();
                    (!xs.is_empty()).then(|| mean_ci(&xs))
                })
                .collect();
            let mut failed: BTreeMap<String, usize> = BTreeMap::new();
            for r in &mine {
                for f in &r.failed {
                    *failed.entry(f.clone()).or_default() += 1;
                }
            }
            let failed = failed
                .into_iter()
                .map(|(k, n)| format!("{k} ({n}/{})", mine.len()))
                .collect();
            Row {
                label: v.label.clone(),
                values: v.values.clone(),
                seeds: mine.len(),
                stats,
                extra,
                failed,
                faults: mine.iter().map(|r| r.faults).sum(),
                faults_struck_nothing: mine.iter().map(|r| r.faults_struck_nothing).sum(),
            }
        })
        .collect();
    Summary {
        extras,
        rows,
        incomplete: None,
    }
}

fn r3(x: f64) -> String {
    if x.is_nan() {
        return String::new(); // no interval from one seed
    }
    let r = (x * 1000.0).round() / 1000.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

/// `comparison.csv`: one row per variant.
pub fn to_csv(columns: &[String], s: &Summary) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["variant".to_string()];
    header.extend(columns.iter().cloned());
    header.push("seeds".into());
    for m in METRICS {
        header.push(format!("{m}_mean"));
        header.push(format!("{m}_ci95"));
    }
    for m in &s.extras {
        header.push(format!("{m}_mean"));
        header.push(format!("{m}_ci95"));
    }
    header.push("failed_checks".into());
    header.push("faults".into());
    header.push("faults_struck_nothing".into());
    w.write_record(&header).expect("writing to memory");
    for r in &s.rows {
        let mut row = vec![r.label.clone()];
        row.extend(r.values.iter().cloned());
        row.push(r.seeds.to_string());
        if r.seeds == 0 {
            // Not run: no figure, and no check that passed.
            row.extend(std::iter::repeat_n(
                String::new(),
                2 * (r.stats.len() + r.extra.len()),
            ));
            row.extend(["not run".to_string(), "0".into(), "0".into()]);
            w.write_record(&row).expect("writing to memory");
            continue;
        }
        for &(m, ci) in &r.stats {
            row.push(r3(m));
            row.push(r3(ci));
        }
        for x in &r.extra {
            let (m, ci) = x.map_or((String::new(), String::new()), |(m, ci)| (r3(m), r3(ci)));
            row.push(m);
            row.push(ci);
        }
        row.push(r.failed.join("; "));
        row.push(r.faults.to_string());
        row.push(r.faults_struck_nothing.to_string());
        w.write_record(&row).expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("flushing to memory")).expect("UTF-8")
}

/// `comparison.md`: the same as a readable table.
pub fn to_markdown(title: &str, seeds: &str, s: &Summary) -> String {
    let mut out = match &s.incomplete {
        None => format!("# {title}: comparison over seeds {seeds}\n\n"),
        Some(what) => format!(
            "# {title}: INCOMPLETE comparison over seeds {seeds}\n\n**Incomplete: {what}.** Each variant's figures cover the seeds it ran; a variant that ran none reads `not run`.\n\n"
        ),
    };
    out.push_str(
        "Mean ± 95% confidence interval over seeds; latency is the worst group's end-to-end.\n\n| variant | events appended/s | p50 ms | p99 ms | p99.9 ms | max lag | skew | per-key order violations |",
    );
    for name in &s.extras {
        out.push_str(&format!(" {} |", extra_heading(name)));
    }
    out.push_str(" failed checks |\n|---|---|---|---|---|---|---|---|");
    out.push_str(&"---|".repeat(s.extras.len() + 1));
    out.push('\n');
    for r in &s.rows {
        if r.seeds == 0 {
            out.push_str(&format!("| {} |", r.label));
            out.push_str(&" not run |".repeat(7 + s.extras.len() + 1));
            out.push('\n');
            continue;
        }
        let st = &r.stats;
        let ms = |(m, c): (f64, f64)| pm(m, c, 1e6);
        let num = |(m, c): (f64, f64)| pm(m, c, 1.0);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            num(st[0]),
            ms(st[1]),
            ms(st[2]),
            ms(st[3]),
            num(st[4]),
            num(st[5]),
            num(st[6]),
        ));
        for (name, x) in s.extras.iter().zip(&r.extra) {
            let cell = match x {
                None => "n/a".to_string(),
                Some(x) if name.ends_with("_ns") => ms(*x),
                Some(x) => num(*x),
            };
            out.push_str(&format!(" {cell} |"));
        }
        out.push_str(&format!(
            " {} |\n",
            if r.failed.is_empty() {
                "none".to_string()
            } else {
                r.failed.join(", ")
            }
        ));
    }
    let missed: Vec<String> = s.rows.iter().filter_map(Row::missed_faults).collect();
    if !missed.is_empty() {
        out.push_str("\nFaults that struck nothing (a pass there does not show the design survives them):\n\n");
        for m in missed {
            out.push_str(&format!("- {m}\n"));
        }
    }
    out
}

/// An extra figure's column heading: `flow.order.completion_p99_ns` ->
/// `order completion p99 ms`.
pub fn extra_heading(name: &str) -> String {
    let text = name
        .strip_prefix("flow.")
        .unwrap_or(name)
        .replace("catch_up.", "catch-up ")
        .replace(['.', '_'], " ");
    match text.strip_suffix(" ns") {
        Some(t) => format!("{t} ms"),
        None => text,
    }
}

/// The first line of compare-runs.jsonl: what comparison the runs belong to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub compare: u32,
    /// The scenario file, as given (the first, when several are compared).
    pub scenario: String,
    /// Every scenario file compared, when there are several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenarios: Vec<String>,
    pub vary: Vec<String>,
    pub seeds: String,
}

impl Header {
    /// The scenario files compared, as given.
    pub fn files(&self) -> Vec<String> {
        if self.scenarios.is_empty() {
            vec![self.scenario.clone()]
        } else {
            self.scenarios.clone()
        }
    }
}

/// compare-runs.jsonl: the header, then one line per run.
pub fn runs_jsonl(header: &Header, runs: &[RunFigures]) -> String {
    let mut out = serde_json::to_string(header).expect("a header serializes");
    out.push('\n');
    for r in runs {
        out.push_str(&serde_json::to_string(r).expect("a run serializes"));
        out.push('\n');
    }
    out
}

pub fn parse_runs(text: &str, file: &str) -> Result<(Header, Vec<RunFigures>), String> {
    let mut lines = text.lines().enumerate();
    let (_, first) = lines.next().ok_or_else(|| format!("{file}: empty"))?;
    let header: Header = serde_json::from_str(first)
        .map_err(|e| format!("{file}:1: expected a comparison header: {e}"))?;
    let runs = lines
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| format!("{file}:{}: expected a run: {e}", i + 1))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((header, runs))
}

/// The runs of all shards, each (variant, seed) once, in variant then seed order.
/// The (variant, seed) runs of `variants` x `range` that `shard` owns,
/// lazily: runs are numbered variant by variant, then seed by seed, and
/// shard I of N runs those numbered I modulo N.
pub fn shard_runs(
    variants: usize,
    range: crate::sweep::Seeds,
    shard: crate::sweep::Shard,
) -> impl Iterator<Item = (usize, u64)> + Send {
    let n = range.len();
    (0..variants).flat_map(move |v| {
        // The first seed offset k with (v * n + k) % count == index.
        let count = shard.count as u128;
        let base = (v as u128 * n) % count;
        let k0 = (shard.index as u128 + count - base) % count;
        let first = (k0 < n).then(|| range.first + k0 as u64);
        std::iter::successors(first, move |&s| {
            s.checked_add(shard.count).filter(|&x| x <= range.last)
        })
        .map(move |s| (v, s))
    })
}

/// How many runs [`shard_runs`] yields.
pub fn shard_len(variants: usize, range: crate::sweep::Seeds, shard: crate::sweep::Shard) -> u128 {
    let total = variants as u128 * range.len();
    let (i, c) = (shard.index as u128, shard.count as u128);
    if total <= i {
        0
    } else {
        (total - i - 1) / c + 1
    }
}

/// Per variant with runs missing: its label and the seeds of `range` it
/// has no run for.
pub fn missing_runs(
    variants: &[Variant],
    range: crate::sweep::Seeds,
    runs: &[RunFigures],
) -> Vec<(String, Vec<crate::sweep::Seeds>)> {
    variants
        .iter()
        .filter_map(|v| {
            let done: std::collections::BTreeSet<u64> = runs
                .iter()
                .filter(|r| r.variant == v.label)
                .map(|r| r.seed)
                .collect();
            let missing = crate::sweep::missing(range, crate::sweep::Shard::ALL, &done);
            (!missing.is_empty()).then(|| (v.label.clone(), missing))
        })
        .collect()
}

pub fn merge_runs(variants: &[Variant], runs: Vec<RunFigures>) -> Result<Vec<RunFigures>, String> {
    let order = |r: &RunFigures| variants.iter().position(|v| v.label == r.variant);
    let mut keyed: BTreeMap<(usize, u64), RunFigures> = BTreeMap::new();
    for r in runs {
        let v = order(&r).ok_or_else(|| format!("run of unknown variant `{}`", r.variant))?;
        if let Some(old) = keyed.get(&(v, r.seed)) {
            if *old != r {
                return Err(format!(
                    "variant `{}` seed {} has two different results",
                    r.variant, r.seed
                ));
            }
            continue;
        }
        keyed.insert((v, r.seed), r);
    }
    Ok(keyed.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_paths_quote_dotted_names_and_values_keep_their_commas() {
        let v = Vary::parse("topics.\"clicks.v1\".partitions=4,8").unwrap();
        assert_eq!(v.path, ["topics", "clicks.v1", "partitions"]);
        assert_eq!(v.values, ["4", "8"]);
        let v = Vary::parse(
            "groups.g.processing={dist=\"exponential\",mean=\"1ms\"},{dist=\"constant\",value=\"1ms\"}",
        )
        .unwrap();
        assert_eq!(
            v.values,
            [
                "{dist=\"exponential\",mean=\"1ms\"}",
                "{dist=\"constant\",value=\"1ms\"}"
            ]
        );
        let v = Vary::parse("producers.p.key_prefix=\"a,b\",'c=d',[1,2]").unwrap();
        assert_eq!(v.values, ["\"a,b\"", "'c=d'", "[1,2]"]);
        // Plain forms are unchanged.
        let v = Vary::parse("cluster.brokers=3, 5").unwrap();
        assert_eq!(
            (v.path.len(), v.values.clone()),
            (2, vec!["3".into(), "5".into()])
        );
        for bad in ["x", "a.b={c=1", "a.\"b=1", "a..b=1", "a.b=1,,2"] {
            assert!(Vary::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn intervals_use_students_t_for_any_number_of_seeds_and_none_for_one() {
        for (df, t) in [
            (1, 12.706),
            (4, 2.776),
            (30, 2.042),
            (31, 2.040),
            (100, 1.984),
        ] {
            assert!((t_975(df) - t).abs() < 5e-4, "df {df}: {}", t_975(df));
        }
        let (m, ci) = mean_ci(&[5.0]);
        assert_eq!(m, 5.0);
        assert!(ci.is_nan());
        assert_eq!(pm(m, ci, 1.0), "5.00 ± n/a");
        assert_eq!(r3(ci), "");
        // 40 seeds: t(39) = 2.023, not the normal 1.96.
        let xs: Vec<f64> = (0..40).map(f64::from).collect();
        let (_, ci) = mean_ci(&xs);
        let sd = (xs.iter().map(|x| (x - 19.5).powi(2)).sum::<f64>() / 39.0).sqrt();
        assert!((ci / (sd / 40f64.sqrt()) - 2.0227).abs() < 1e-3, "{ci}");
    }
}
