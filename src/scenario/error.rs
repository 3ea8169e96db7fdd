//! Errors in scenario files: every problem found, each naming the file,
//! line, column and field, with the offending text underlined (rendered
//! the way rustc renders its diagnostics, by `annotate-snippets`).

use crate::text::printable;
use std::fmt;
use std::ops::Range;
use toml_edit::{ImDocument, Item, Value};

/// A scenario file that cannot be run: every problem found in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file as the user named it.
    pub file: String,
    /// What is wrong, in the order of the file; never empty.
    pub problems: Vec<Diagnostic>,
}

/// One problem in a scenario file, and where exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line and column of the offending text (0 when unknown, e.g. unreadable file).
    pub line: usize,
    /// 1-based column of the offending text (0 when unknown).
    pub column: usize,
    /// Dotted path of the field, e.g. `producers[0].topic` (empty for syntax errors).
    pub field: String,
    /// What was wrong and what was expected.
    pub message: String,
    /// A likely fix (`did you mean `partitions`?`), if one is known.
    pub help: Option<String>,
    /// The lines of the file the offending text is on, and its byte range
    /// within them, for display.
    pub excerpt: Option<(String, Range<usize>)>,
}

/// The most lines of the file one problem shows (a longer span, say a
/// whole array, is underlined to the end of its first line).
const EXCERPT_LINES: usize = 4;

/// The most bytes of a file an excerpt shows around its span (a value of
/// a million characters is quoted by its start, not whole).
const EXCERPT_BYTES: usize = 160;

/// `excerpt` cut to about [`EXCERPT_BYTES`] around the start of `span`
/// (at character boundaries, `...` where it was cut), and the span in it.
fn clipped(excerpt: String, span: Range<usize>) -> (String, Range<usize>) {
    if excerpt.len() <= EXCERPT_BYTES {
        return (excerpt, span);
    }
    let floor = |mut i: usize| {
        i = i.min(excerpt.len());
        while !excerpt.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let from = floor(span.start.saturating_sub(40));
    let to = floor(from + EXCERPT_BYTES).max(floor(span.start));
    let head = if from > 0 { "..." } else { "" };
    let tail = if to < excerpt.len() { "..." } else { "" };
    let text = format!("{head}{}{tail}", &excerpt[from..to]);
    let shift = head.len();
    let start = span.start - from + shift;
    let end = (span.end.min(to) - from + shift).max(start);
    (text, start..end)
}

impl Diagnostic {
    /// A problem located at a byte span of `text`.
    pub fn at(text: &str, span: Range<usize>, field: String, message: String) -> Self {
        let start = span.start.min(text.len());
        let end = span.end.clamp(start, text.len());
        let before = &text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = text[line_start..start].chars().count() + 1;
        // The excerpt: whole lines from the span's first to its last, at
        // most EXCERPT_LINES of them.
        let first_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let mut excerpt_end = first_end;
        let mut end = end;
        if end > first_end {
            let last_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
            if text[line_start..last_end].lines().count() <= EXCERPT_LINES {
                excerpt_end = last_end;
            } else {
                end = first_end;
            }
        }
        let excerpt = text[line_start..excerpt_end]
            .trim_end_matches('\r')
            .to_string();
        let local = (start - line_start)..(end - line_start).min(excerpt.len());
        let (excerpt, local) = clipped(excerpt, local);
        Diagnostic {
            line,
            column,
            field,
            message,
            help: None,
            excerpt: Some((excerpt, local)),
        }
    }

    /// This problem with a suggested fix.
    pub fn with_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// The title line: `field `f`: message`, or the message alone.
    fn title(&self) -> String {
        let message = short_quotes(&printable(&self.message));
        if self.field.is_empty() {
            message
        } else {
            format!("field `{}`: {message}", printable(&self.field))
        }
    }
}

/// The longest text quoted in back quotes that a message shows whole.
const QUOTE_MAX: usize = 64;

/// `text` with every back-quoted or double-quoted part longer than
/// 64 characters cut to its start and its length (`` `xxxx...` (1000000
/// characters) ``): a value of a million characters is not quoted whole,
/// in each message that names it.
pub fn short_quotes(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4096));
    let mut rest = text;
    while let Some(open) = rest.find(['`', '"']) {
        let q = rest[open..].chars().next().expect("a quote");
        let Some(close) = rest[open + 1..].find(q) else {
            break;
        };
        let inner = &rest[open + 1..open + 1 + close];
        out.push_str(&rest[..=open]);
        let n = inner.chars().count();
        if n > QUOTE_MAX {
            out.extend(inner.chars().take(40));
            out.push_str(&format!("...{q} ({n} characters)"));
        } else {
            out.push_str(inner);
            out.push(q);
        }
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}

impl ScenarioError {
    /// The error for a scenario file that cannot be read.
    pub fn io(file: &str, err: &std::io::Error) -> Self {
        ScenarioError {
            file: file.to_string(),
            problems: vec![Diagnostic {
                line: 0,
                column: 0,
                field: String::new(),
                message: format!("cannot read scenario file: {err}"),
                help: None,
                excerpt: None,
            }],
        }
    }

    /// An error with one problem, located at a byte span of `text`.
    pub fn at(file: &str, text: &str, span: Range<usize>, field: String, message: String) -> Self {
        ScenarioError {
            file: file.to_string(),
            problems: vec![Diagnostic::at(text, span, field, message)],
        }
    }
}

/// `excerpt` as shown: control characters escaped line by line (a
/// line's `\r` dropped), and `span` moved to match; an empty span widened
/// to the character it points at.
fn printable_excerpt(excerpt: &str, span: &Range<usize>) -> (String, Range<usize>) {
    fn shown(s: &str) -> String {
        s.split('\n')
            .map(|l| printable(l.strip_suffix('\r').unwrap_or(l)).into_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }
    let mut end = span.end;
    if end == span.start
        && let Some(c) = excerpt[end..].chars().next()
        && c != '\n'
    {
        end += c.len_utf8();
    }
    let text = shown(excerpt);
    let start = shown(&excerpt[..span.start]).len();
    let end = shown(&excerpt[..end]).len().min(text.len());
    (text, start..end.max(start))
}

impl fmt::Display for ScenarioError {
    /// Each problem as rustc shows a diagnostic: `error: field `f`:
    /// message`, ` --> file:line:column`, the line with the offending text
    /// underlined, and a `help:` line when a fix is known; then how many
    /// problems there were. Control characters from the file are shown
    /// escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use annotate_snippets::{Level, Renderer, Snippet};
        let file = printable(&self.file);
        let renderer = Renderer::plain();
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f, "\n")?;
            }
            let title = p.title();
            let help = p.help.as_deref().map(|h| short_quotes(&printable(h)));
            let mut message = match &p.excerpt {
                None => {
                    // No position: the file itself (unreadable, too large).
                    let title = format!("{file}: {title}");
                    write!(f, "{}", renderer.render(Level::Error.title(&title)))?;
                    continue;
                }
                Some(_) => Level::Error.title(&title),
            };
            let (source, span) = p
                .excerpt
                .as_ref()
                .map(|(e, s)| printable_excerpt(e, s))
                .unwrap_or_default();
            message = message.snippet(
                Snippet::source(&source)
                    .line_start(p.line)
                    .origin(&file)
                    .annotation(Level::Error.span(span)),
            );
            if let Some(help) = &help {
                message = message.footer(Level::Help.title(help));
            }
            write!(f, "{}", renderer.render(message))?;
        }
        if self.problems.len() > 1 {
            write!(f, "\n\nerror: {} problems in {file}", self.problems.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// One step of a field path: a key or an index into an array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A table key: `producers`, `acks`.
    Key(String),
    /// An index into an array of tables, from 0.
    Index(usize),
}

/// Render a path as `producers[0].keys.n`.
pub fn render_path(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The deepest field whose key or value covers byte `offset`.
pub fn path_at(doc: &ImDocument<String>, offset: usize) -> Vec<Step> {
    let mut path = vec![];
    walk_item_at(doc.as_item(), offset, &mut path);
    path
}

fn covers(span: Option<Range<usize>>, offset: usize) -> bool {
    span.is_some_and(|s| s.start <= offset && offset < s.end.max(s.start + 1))
}

fn walk_item_at(item: &Item, offset: usize, path: &mut Vec<Step>) {
    match item {
        Item::Table(t) => {
            for (k, v) in t.iter() {
                let key_span = t.key(k).and_then(|key| key.span());
                let hit_key = covers(key_span, offset);
                if hit_key || covers(item_span(v), offset) || contains_deep(v, offset) {
                    path.push(Step::Key(k.to_string()));
                    if !hit_key {
                        walk_item_at(v, offset, path);
                    }
                    return;
                }
            }
        }
        Item::ArrayOfTables(a) => {
            for (i, t) in a.iter().enumerate() {
                let as_item = Item::Table(t.clone());
                if covers(t.span(), offset) || contains_deep(&as_item, offset) {
                    path.push(Step::Index(i));
                    walk_item_at(&as_item, offset, path);
                    return;
                }
            }
        }
        Item::Value(v) => walk_value_at(v, offset, path),
        Item::None => {}
    }
}

fn walk_value_at(v: &Value, offset: usize, path: &mut Vec<Step>) {
    match v {
        Value::InlineTable(t) => {
            for (k, _) in t.iter() {
                if let Some((key, val)) = t.get_key_value(k) {
                    let hit_key = covers(key.span(), offset);
                    if hit_key || covers(item_span(val), offset) {
                        path.push(Step::Key(k.to_string()));
                        if !hit_key {
                            walk_item_at(val, offset, path);
                        }
                        return;
                    }
                }
            }
        }
        Value::Array(a) => {
            for (i, val) in a.iter().enumerate() {
                if covers(val.span(), offset) {
                    path.push(Step::Index(i));
                    walk_value_at(val, offset, path);
                    return;
                }
            }
        }
        _ => {}
    }
}

fn item_span(item: &Item) -> Option<Range<usize>> {
    match item {
        Item::Value(v) => v.span(),
        Item::Table(t) => t.span(),
        Item::ArrayOfTables(a) => a.span(),
        Item::None => None,
    }
}

/// Whether any key or value below `item` covers `offset` (standard tables'
/// own spans cover only their header).
fn contains_deep(item: &Item, offset: usize) -> bool {
    match item {
        Item::Table(t) => t.iter().any(|(k, v)| {
            covers(t.key(k).and_then(|key| key.span()), offset)
                || covers(item_span(v), offset)
                || contains_deep(v, offset)
        }),
        Item::ArrayOfTables(a) => a
            .iter()
            .any(|t| covers(t.span(), offset) || contains_deep(&Item::Table(t.clone()), offset)),
        Item::Value(v) => covers(v.span(), offset),
        Item::None => false,
    }
}

/// The byte range of the `key = value` entry whose key covers `offset`,
/// with the comma that parts it from a neighbour in an inline table (found
/// in `text`, the document's text as it is now); `None` when the key is a
/// table's (a header, not an entry).
pub fn entry_at(doc: &ImDocument<String>, text: &str, offset: usize) -> Option<Range<usize>> {
    let Range { mut start, mut end } = entry_in_item(doc.as_item(), offset)?;
    let bytes = text.as_bytes();
    let after = end + text[end..].len() - text[end..].trim_start_matches([' ', '\t']).len();
    let before = text[..start].trim_end_matches([' ', '\t']).len();
    if bytes.get(after) == Some(&b',') {
        end = after + 1;
    } else if before > 0 && bytes[before - 1] == b',' {
        start = before - 1;
    }
    Some(start..end)
}

/// The span of the key `name` inside `within`, if there is exactly one.
pub fn key_within(
    doc: &ImDocument<String>,
    within: &Range<usize>,
    name: &str,
) -> Option<Range<usize>> {
    let mut found = vec![];
    keys_named(doc.as_item(), name, &mut found);
    found.retain(|k| within.start <= k.start && k.end <= within.end);
    match found.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

fn keys_named(item: &Item, name: &str, out: &mut Vec<Range<usize>>) {
    match item {
        Item::Table(t) => {
            for (k, v) in t.iter() {
                if k == name
                    && let Some(span) = t.key(k).and_then(|key| key.span())
                {
                    out.push(span);
                }
                keys_named(v, name, out);
            }
        }
        Item::ArrayOfTables(a) => {
            for t in a.iter() {
                keys_named(&Item::Table(t.clone()), name, out);
            }
        }
        Item::Value(Value::InlineTable(t)) => {
            for (k, _) in t.iter() {
                if let Some((key, val)) = t.get_key_value(k) {
                    if k == name
                        && let Some(span) = key.span()
                    {
                        out.push(span);
                    }
                    keys_named(val, name, out);
                }
            }
        }
        Item::Value(Value::Array(a)) => {
            for v in a.iter() {
                keys_named(&Item::Value(v.clone()), name, out);
            }
        }
        _ => {}
    }
}

fn entry_in_item(item: &Item, offset: usize) -> Option<Range<usize>> {
    match item {
        Item::Table(t) => t.iter().find_map(|(k, v)| {
            let key = t.key(k).and_then(|key| key.span());
            if covers(key.clone(), offset) {
                return match v {
                    Item::Value(val) => Some(key?.start..val.span()?.end),
                    _ => None,
                };
            }
            entry_in_item(v, offset)
        }),
        Item::ArrayOfTables(a) => a
            .iter()
            .find_map(|t| entry_in_item(&Item::Table(t.clone()), offset)),
        Item::Value(v) => entry_in_value(v, offset),
        Item::None => None,
    }
}

fn entry_in_value(v: &Value, offset: usize) -> Option<Range<usize>> {
    match v {
        Value::InlineTable(t) => t.iter().find_map(|(k, _)| {
            let (key, val) = t.get_key_value(k)?;
            if covers(key.span(), offset) {
                return match val {
                    Item::Value(x) => Some(key.span()?.start..x.span()?.end),
                    _ => None,
                };
            }
            entry_in_item(val, offset)
        }),
        Value::Array(a) => a.iter().find_map(|x| entry_in_value(x, offset)),
        _ => None,
    }
}

/// The byte span of the field at `path`: its value if it has one, else the
/// nearest enclosing field that exists (so a missing field points at its table).
pub fn span_of(doc: &ImDocument<String>, path: &[Step]) -> Option<Range<usize>> {
    let mut item = doc.as_item().clone();
    let mut best = None;
    let mut key_span = None;
    for step in path {
        let next = match (&item, step) {
            (Item::Table(t), Step::Key(k)) => {
                key_span = t.key(k).and_then(|key| key.span());
                t.get(k).cloned()
            }
            (Item::ArrayOfTables(a), Step::Index(i)) => a.get(*i).cloned().map(Item::Table),
            (Item::Value(Value::InlineTable(t)), Step::Key(k)) => {
                key_span = t.get_key_value(k).and_then(|(key, _)| key.span());
                t.get(k).cloned().map(Item::Value)
            }
            (Item::Value(Value::Array(a)), Step::Index(i)) => a.get(*i).cloned().map(Item::Value),
            _ => None,
        };
        match next {
            Some(n) => {
                let span = item_span(&n).or(key_span.clone());
                if span.is_some() {
                    best = span;
                }
                item = n;
            }
            None => break,
        }
    }
    best
}
