//! The shape of the source, kept by a test: no import cycle among the
//! modules of `src/`, the judging and reporting modules never reach into
//! the model, and no function grows past 70 lines (those longer today are
//! listed in `long_functions.txt` with their length, which may only
//! shrink).
//!
//! The reading is lexical, which is enough for this code base: a module's
//! imports are the `crate::` and `super::` paths it writes (comments and
//! string literals left out), each resolved to the longest module it names.
//! Edges between a module and its own ancestors (`super::World` in
//! `model::broker`, `mod broker;` in `model`) are containment, not
//! imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Longest a function may be, in lines from `fn` to its closing brace.
const FN_MAX_LINES: usize = 70;

/// Modules that judge a history or report a run: they read the model's
/// results (`crate::outcome`, `crate::history`), never the model.
const MODEL_FREE: [&str; 10] = [
    "availability",
    "check",
    "flows",
    "history",
    "jepsen",
    "latency",
    "metrics",
    "outcome",
    "report",
    "timeseries",
];

struct Source {
    /// `model::broker`; the crate root is "".
    module: String,
    /// Path relative to the repository (`src/model/broker.rs`).
    path: String,
    /// The text without comments, and string and char literals blanked.
    code: String,
}

fn sources() -> Vec<Source> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    let root = crate::common::repo("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files
        .into_iter()
        .filter(|p| !p.ends_with("main.rs"))
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let module = rel
                .trim_end_matches(".rs")
                .trim_end_matches("/mod")
                .trim_end_matches("lib")
                .replace('/', "::");
            let text = std::fs::read_to_string(&p).unwrap();
            Source {
                module,
                path: format!("src/{rel}"),
                code: blank(&text),
            }
        })
        .collect()
}

/// `text` with comments removed and the insides of string and char
/// literals replaced by spaces (newlines kept, so lines still count).
fn blank(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let keep_lines = |s: &[char], out: &mut String| {
        for &ch in s {
            out.push(if ch == '\n' { '\n' } else { ' ' });
        }
    };
    while i < c.len() {
        match c[i] {
            '/' if c.get(i + 1) == Some(&'/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            '/' if c.get(i + 1) == Some(&'*') => {
                let start = i;
                i += 2;
                while i + 1 < c.len() && !(c[i] == '*' && c[i + 1] == '/') {
                    i += 1;
                }
                i = (i + 2).min(c.len());
                keep_lines(&c[start..i], &mut out);
            }
            'r' if matches!(c.get(i + 1), Some('"') | Some('#'))
                && !c
                    .get(i.wrapping_sub(1))
                    .is_some_and(|p| p.is_alphanumeric() || *p == '_') =>
            {
                // A raw string: r"...", r#"..."#.
                let mut j = i + 1;
                let mut hashes = 0;
                while c.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if c.get(j) != Some(&'"') {
                    out.push(c[i]);
                    i += 1;
                    continue;
                }
                j += 1;
                let start = j;
                loop {
                    if j >= c.len() {
                        break;
                    }
                    if c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#')) {
                        break;
                    }
                    j += 1;
                }
                out.push_str("r\"");
                keep_lines(&c[start..j.min(c.len())], &mut out);
                out.push('"');
                i = (j + 1 + hashes).min(c.len());
            }
            '"' => {
                let start = i + 1;
                let mut j = start;
                while j < c.len() && c[j] != '"' {
                    j += if c[j] == '\\' { 2 } else { 1 };
                }
                out.push('"');
                keep_lines(&c[start..j.min(c.len())], &mut out);
                out.push('"');
                i = (j + 1).min(c.len());
            }
            '\'' => {
                // A char literal ('x', '\n', '\u{1b}'), or a lifetime.
                let close = if c.get(i + 1) == Some(&'\\') {
                    (i + 2..c.len().min(i + 12)).find(|&j| c[j] == '\'')
                } else if c.get(i + 2) == Some(&'\'') {
                    Some(i + 2)
                } else {
                    None
                };
                match close {
                    Some(j) => {
                        out.push_str("' '");
                        i = j + 1;
                    }
                    None => {
                        out.push('\'');
                        i += 1;
                    }
                }
            }
            ch => {
                out.push(ch);
                i += 1;
            }
        }
    }
    out
}

/// The module a path written in `from` names: `crate::a::b::C` and
/// `super::x` resolved to the longest known module; grouped imports
/// (`use super::{a, b::C}`) give one path each.
fn imports(src: &Source, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let parent = |m: &str| {
        m.rsplit_once("::")
            .map_or(String::new(), |(p, _)| p.to_string())
    };
    let ident = |s: &str| -> Vec<String> {
        s.split("::")
            .map(|w| {
                w.trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .collect()
    };
    let resolve = |base: &str, rest: &[String]| -> Option<String> {
        let mut best = None;
        let mut m = base.to_string();
        for seg in rest {
            if seg.is_empty() {
                break;
            }
            m = if m.is_empty() {
                seg.clone()
            } else {
                format!("{m}::{seg}")
            };
            if modules.contains(&m) {
                best = Some(m.clone());
            }
        }
        best
    };
    let mut out = BTreeSet::new();
    let code = &src.code;
    for (anchor, base) in [("crate::", String::new()), ("super::", parent(&src.module))] {
        let mut at = 0;
        while let Some(k) = code[at..].find(anchor) {
            let start = at + k;
            at = start + anchor.len();
            if code[..start].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue; // `self::super::`, `x::crate::`: not a root
            }
            let tail = &code[at..];
            let end = tail
                .find(|c: char| {
                    !(c.is_alphanumeric()
                        || c == '_'
                        || c == ':'
                        || c == '{'
                        || c == '}'
                        || c == ','
                        || c == ' '
                        || c == '\n'
                        || c == '*')
                })
                .unwrap_or(tail.len());
            let tail = &tail[..end];
            // `a::b::{c, d::E}`: the prefix before a brace, then each item.
            let (prefix, items) = match tail.find('{') {
                Some(b) => {
                    let close = tail[b..].find('}').map_or(tail.len(), |e| b + e);
                    (
                        &tail[..b],
                        tail[b + 1..close].split(',').collect::<Vec<_>>(),
                    )
                }
                None => (
                    tail.split([' ', '\n', ',', '}']).next().unwrap_or(""),
                    vec![""],
                ),
            };
            for item in items {
                let mut segs = ident(prefix.trim_end_matches("::"));
                if !item.trim().is_empty() {
                    segs.extend(ident(item.trim()));
                }
                if let Some(m) = resolve(&base, &segs) {
                    out.insert(m);
                }
            }
        }
    }
    out
}

fn related(a: &str, b: &str) -> bool {
    let under = |x: &str, y: &str| y.is_empty() || x == y || x.starts_with(&format!("{y}::"));
    under(a, b) || under(b, a)
}

/// The modules and what each depends on: what it imports, and the
/// modules it contains (a module stands for its children: `page` using
/// `cli` while `cli::run` uses `page` is a cycle). A child naming its
/// ancestors (`super::World`) is not counted: it is inside them.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let srcs = sources();
    let modules: BTreeSet<String> = srcs.iter().map(|s| s.module.clone()).collect();
    let parent = |m: &str| m.rsplit_once("::").map(|(p, _)| p.to_string());
    let mut g: BTreeMap<String, BTreeSet<String>> = srcs
        .iter()
        .map(|s| {
            let to = imports(s, &modules)
                .into_iter()
                .filter(|m| !related(&s.module, m))
                .collect();
            (s.module.clone(), to)
        })
        .collect();
    for m in &modules {
        if let Some(p) = parent(m) {
            g.entry(p).or_default().insert(m.clone());
        }
    }
    g
}

/// A cycle of the graph, if it has one (depth first, in module order).
fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(m.to_string(), 1);
        stack.push(m.to_string());
        for n in g.get(m).into_iter().flatten() {
            match state.get(n.as_str()).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|x| x == n).unwrap();
                    let mut c = stack[from..].to_vec();
                    c.push(n.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(n, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in g.keys() {
        if state.get(m.as_str()).copied().unwrap_or(0) == 0
            && let Some(c) = visit(m, g, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_import_cycle_among_the_modules() {
    let g = graph();
    assert!(g.len() > 40, "read {} modules", g.len());
    // The reader sees real imports.
    assert!(g["report"].contains("outcome"), "{:?}", g["report"]);
    assert!(
        g["model::broker"].contains("history"),
        "{:?}",
        g["model::broker"]
    );
    if let Some(c) = cycle(&g) {
        panic!(
            "an import cycle: {}\n(move what both sides use below both, as `text`, `latency` and `outcome` were)",
            c.join(" -> ")
        );
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycle(&g).unwrap(), ["a", "b", "c", "a"]);
    g.get_mut("c").unwrap().clear();
    assert_eq!(cycle(&g), None);
}

#[test]
fn judging_and_reporting_modules_do_not_reach_into_the_model() {
    let g = graph();
    for (m, to) in &g {
        let judged = MODEL_FREE
            .iter()
            .any(|f| m == f || m.starts_with(&format!("{f}::")));
        if judged {
            let into: Vec<_> = to
                .iter()
                .filter(|t| *t == "model" || t.starts_with("model::"))
                .collect();
            assert!(
                into.is_empty(),
                "`{m}` imports {into:?}: it must read what the model hands out (crate::outcome, crate::history), not the model"
            );
        }
    }
}

/// Every function of the source: (path, name, lines from `fn` to its
/// closing brace).
fn functions() -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    for s in sources() {
        let code = s.code.as_bytes();
        let mut at = 0;
        while let Some(k) = s.code[at..].find("fn ") {
            let start = at + k;
            at = start + 3;
            if start > 0 && (code[start - 1].is_ascii_alphanumeric() || code[start - 1] == b'_') {
                continue;
            }
            let name: String = s.code[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                continue;
            }
            // The body: the first `{` before any `;` (a declaration in a
            // trait has none), to its matching `}`.
            let Some(open) = s.code[at..].find(['{', ';']).map(|o| at + o) else {
                continue;
            };
            if code[open] == b';' {
                continue;
            }
            let mut depth = 0usize;
            let mut end = open;
            for (i, &b) in code.iter().enumerate().skip(open) {
                match b {
                    b'{' => depth += 1,
                    b'}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let lines = s.code[start..=end].lines().count();
            out.push((s.path.clone(), name, lines));
        }
    }
    out
}

#[test]
fn no_function_grows_past_70_lines() {
    let listed =
        std::fs::read_to_string(crate::common::repo("tests/it/long_functions.txt")).unwrap();
    let mut allowed: BTreeMap<(String, String), usize> = BTreeMap::new();
    for line in listed
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let w: Vec<&str> = line.split_whitespace().collect();
        allowed.insert((w[0].to_string(), w[1].to_string()), w[2].parse().unwrap());
    }
    let fns = functions();
    assert!(fns.len() > 1000, "read {} functions", fns.len());
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (path, name, lines) in &fns {
        let key = (path.clone(), name.clone());
        let max = allowed.get(&key).copied().unwrap_or(FN_MAX_LINES);
        if *lines > max {
            problems.push(format!("{path} {name}: {lines} lines (at most {max})"));
        }
        if *lines > FN_MAX_LINES {
            seen.insert(key);
        }
    }
    // A listed function that shrank to 70 lines or went: take it off the list.
    for key in allowed.keys() {
        if !seen.contains(key) {
            problems.push(format!(
                "{} {}: no longer over {FN_MAX_LINES} lines; take it off tests/it/long_functions.txt",
                key.0, key.1
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "functions past their length (split them; the list may only shrink):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_reader_blanks_strings_and_comments_and_counts_lines() {
    let code = blank(
        "let s = \"crate::model { }\"; // crate::model\nlet c = '{';\nlet r = r#\"}\"#;\nfn f<'a>(x: &'a str) {}\n",
    );
    assert!(!code.contains("crate::model"), "{code}");
    assert_eq!(code.matches('{').count(), 1, "{code}");
    assert_eq!(code.matches('}').count(), 1, "{code}");
    assert_eq!(code.lines().count(), 4);
}
