//! Errors in scenario files: every one names the file, line, column and field.

use super::names::printable;
use std::fmt;
use std::ops::Range;
use toml_edit::{ImDocument, Item, Value};

/// A scenario file that cannot be run, and where exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line and column of the offending text (0 when unknown, e.g. unreadable file).
    pub line: usize,
    pub column: usize,
    /// Dotted path of the field, e.g. `producers[0].topic` (empty for syntax errors).
    pub field: String,
    /// What was wrong and what was expected.
    pub message: String,
    /// The offending source line, for display.
    pub source_line: Option<String>,
}

impl ScenarioError {
    pub fn io(file: &str, err: &std::io::Error) -> Self {
        ScenarioError {
            file: file.to_string(),
            line: 0,
            column: 0,
            field: String::new(),
            message: format!("cannot read scenario file: {err}"),
            source_line: None,
        }
    }

    /// An error located at a byte span of `text`.
    pub fn at(file: &str, text: &str, span: Range<usize>, field: String, message: String) -> Self {
        let start = span.start.min(text.len());
        let before = &text[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let column = text[line_start..start].chars().count() + 1;
        let source_line = text[line_start..].lines().next().map(str::to_string);
        ScenarioError {
            file: file.to_string(),
            line,
            column,
            field,
            message,
            source_line,
        }
    }
}

impl fmt::Display for ScenarioError {
    /// `file:line:column: field `f`: message` and the line with a caret;
    /// `file: message` when there is no position (an unreadable file).
    /// Control characters from the file are shown escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = printable(&self.file);
        if self.line == 0 {
            write!(f, "{file}: ")?;
        } else {
            write!(f, "{file}:{}:{}: ", self.line, self.column)?;
        }
        if self.field.is_empty() {
            write!(f, "{}", printable(&self.message))?;
        } else {
            write!(
                f,
                "field `{}`: {}",
                printable(&self.field),
                printable(&self.message)
            )?;
        }
        if let Some(src) = &self.source_line {
            let width = self.line.to_string().len();
            // The caret under the column, counted on the line as shown.
            let before: String = src.chars().take(self.column.saturating_sub(1)).collect();
            let col = printable(&before).chars().count() + 1;
            write!(
                f,
                "\n{:width$} |\n{} | {}\n{:width$} | {:>col$}",
                "",
                self.line,
                printable(src),
                "",
                "^",
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioError {}

/// One step of a field path: a key or an index into an array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
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
