//! Reading a Jepsen or Maelstrom Kafka history (`history.edn`).
//!
//! One operation per top-level form, each a map (or a tagged map, as
//! `#jepsen.history.Op{...}`):
//! `{:type :ok, :f :send, :process 3, :time 120, :value [[:send :x [4 7]]]}`.
//! Operations of a process that is not an integer (the nemesis) are
//! skipped: they say what the faults did, not what a client saw.
//! Everything else is checked as it is read, and the first problem is
//! reported with its line and column: an unknown `:f` or `:type`, a
//! completion without its invocation, an offset that is not an integer.

use super::{Atom, Atoms, F, History, Mop, NO_OFFSET, Op, Type};
use clojure_reader::edn::{self, Edn};
use std::collections::BTreeMap;

/// A problem in a history file, at a line and column (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// The line (1-based).
    pub line: usize,
    /// The column (1-based, in characters).
    pub column: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Where a form starts: its line and column.
#[derive(Clone, Copy)]
struct Pos {
    line: usize,
    column: usize,
}

/// Read a whole history. `text` is the file's content.
pub fn read_edn(text: &str) -> Result<History, ReadError> {
    let mut reader = Reader::default();
    let mut cursor = Cursor {
        text,
        at: 0,
        line: 1,
        line_start: 0,
    };
    loop {
        cursor.skip_blank();
        if cursor.at == text.len() {
            break;
        }
        let pos = cursor.pos();
        let rest = &text[cursor.at..];
        let (form, after) = edn::read(rest).map_err(|e| syntax_error(&e, rest, pos))?;
        reader.op(&form, pos)?;
        cursor.advance(rest.len() - after.len());
    }
    reader.finish()
}

/// How far the file is read: a byte offset, and the line it is on.
struct Cursor<'t> {
    text: &'t str,
    at: usize,
    line: usize,
    /// Where that line starts.
    line_start: usize,
}

impl Cursor<'_> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.text[self.line_start..self.at].chars().count() + 1,
        }
    }

    /// Move `n` bytes on, counting lines (not columns: those are counted
    /// only where a form starts).
    fn advance(&mut self, n: usize) {
        let consumed = &self.text.as_bytes()[self.at..self.at + n];
        if let Some(last) = consumed.iter().rposition(|&b| b == b'\n') {
            self.line += consumed.iter().filter(|&&b| b == b'\n').count();
            self.line_start = self.at + last + 1;
        }
        self.at += n;
    }

    /// Skip whitespace, commas and `;` comments.
    fn skip_blank(&mut self) {
        loop {
            let rest = &self.text[self.at..];
            let trimmed = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
            self.advance(rest.len() - trimmed.len());
            if trimmed.starts_with(';') {
                self.advance(trimmed.find('\n').unwrap_or(trimmed.len()));
            } else {
                return;
            }
        }
    }
}

fn advance(mut pos: Pos, consumed: &str) -> Pos {
    for c in consumed.chars() {
        if c == '\n' {
            pos.line += 1;
            pos.column = 1;
        } else {
            pos.column += 1;
        }
    }
    pos
}

fn syntax_error(e: &clojure_reader::error::Error, rest: &str, start: Pos) -> ReadError {
    use clojure_reader::error::Code;
    // The reader's position is relative to `rest`.
    let at = match (e.line, e.column) {
        (Some(1), Some(c)) => Pos {
            line: start.line,
            column: start.column + c - 1,
        },
        (Some(l), Some(c)) => Pos {
            line: start.line + l - 1,
            column: c,
        },
        _ => advance(start, rest),
    };
    let message = match &e.code {
        Code::UnexpectedEOF if e.ptr.and_then(|p| rest.as_bytes().get(p)) == Some(&b'}') => {
            "a map has a key without its value: expected {key value ...}".to_string()
        }
        Code::UnexpectedEOF => {
            "the file ends inside an operation (truncated?): expected its closing bracket"
                .to_string()
        }
        Code::UnmatchedDelimiter(c) => format!("`{c}` closes nothing: a bracket is unbalanced"),
        Code::HashMapDuplicateKey => "a map has the same key twice".to_string(),
        Code::SetDuplicateKey => "a set has the same value twice".to_string(),
        Code::InvalidNumber => "not a number".to_string(),
        other => format!("not EDN ({other:?})"),
    };
    ReadError {
        line: at.line,
        column: at.column,
        message,
    }
}

#[derive(Default)]
struct Reader {
    atoms: Atoms,
    ops: Vec<Op>,
    mops: Vec<Mop>,
    keys: Vec<Atom>,
    /// Each process's invocation still waiting for its completion: its f.
    open: BTreeMap<i64, F>,
    subscribes: bool,
    skipped: u64,
}

fn err(pos: Pos, message: impl Into<String>) -> ReadError {
    ReadError {
        line: pos.line,
        column: pos.column,
        message: message.into(),
    }
}

fn keyword<'a>(e: &'a Edn) -> Option<&'a str> {
    match e {
        Edn::Key(k) => Some(k.strip_prefix(':').unwrap_or(k)),
        _ => None,
    }
}

fn field<'a>(map: &'a BTreeMap<Edn<'a>, Edn<'a>>, name: &'static str) -> Option<&'a Edn<'a>> {
    map.get(&Edn::Key(std::borrow::Cow::Borrowed(name)))
}

fn items<'a>(e: &'a Edn<'a>) -> Option<&'a [Edn<'a>]> {
    match e {
        Edn::Vector(v) | Edn::List(v) => Some(v),
        _ => None,
    }
}

impl Reader {
    fn op(&mut self, form: &Edn, pos: Pos) -> Result<(), ReadError> {
        let form = match form {
            Edn::Tagged(_, inner) => inner,
            f => f,
        };
        let Edn::Map(map) = form else {
            return Err(err(
                pos,
                "expected an operation: a map such as {:type :invoke, :f :send, :process 0, :value [[:send :x 1]]}",
            ));
        };
        let process = match field(map, "process") {
            Some(Edn::Int(p)) => *p,
            // The nemesis (or another non-client process): skipped.
            Some(_) => {
                self.skipped += 1;
                return Ok(());
            }
            None => return Err(err(pos, "the operation has no :process")),
        };
        let (kind, f) = kind_and_f(map, pos)?;
        self.pair(process, kind, f, pos)?;
        let time = match field(map, "time") {
            Some(Edn::Int(t)) => *t,
            None | Some(Edn::Nil) => self.ops.len() as i64,
            Some(other) => {
                return Err(err(
                    pos,
                    format!(":time is {}: expected an integer", shown(Some(other))),
                ));
            }
        };
        let mops_from = self.mops.len() as u32;
        let keys_from = self.keys.len() as u32;
        let value = field(map, "value");
        match f {
            F::Send | F::Poll | F::Txn => self.micro_ops(value, pos)?,
            F::Assign | F::Subscribe => {
                self.subscribes |= f == F::Subscribe;
                self.key_list(value, pos)?;
            }
            F::Crash => {}
        }
        if kind == Type::Invoke {
            // What an invocation means to send or read is not evidence of
            // anything: checked above, not kept.
            self.mops.truncate(mops_from as usize);
        }
        let sends = self.group(mops_from as usize);
        let line = pos.line as u32;
        self.ops.push(Op {
            process: u32::try_from(process).unwrap_or(u32::MAX),
            kind,
            f,
            time,
            mops: (mops_from, self.mops.len() as u32),
            sends,
            keys: (keys_from, self.keys.len() as u32),
            line,
        });
        Ok(())
    }

    /// Pair an invocation with its completion, per process.
    fn pair(&mut self, process: i64, kind: Type, f: F, pos: Pos) -> Result<(), ReadError> {
        match (kind, self.open.get(&process)) {
            (Type::Invoke, None) => {
                self.open.insert(process, f);
                Ok(())
            }
            (Type::Invoke, Some(_)) => Err(err(
                pos,
                format!(
                    "process {process} invokes again before its last invocation completed: a Jepsen process runs one operation at a time"
                ),
            )),
            (_, None) => Err(err(
                pos,
                format!(
                    "a completion of process {process} without its invocation: each :ok, :info or :fail follows an :invoke of the same process"
                ),
            )),
            (_, Some(&open)) if open != f => Err(err(
                pos,
                format!(
                    "process {process} completes :{} but invoked :{}",
                    f.name(),
                    open.name()
                ),
            )),
            _ => {
                self.open.remove(&process);
                Ok(())
            }
        }
    }

    fn micro_ops(&mut self, value: Option<&Edn>, pos: Pos) -> Result<(), ReadError> {
        let Some(list) = value.and_then(items) else {
            return Err(err(
                pos,
                format!(
                    ":value is {}: expected a vector of micro-operations such as [[:send :x 1] [:poll]]",
                    shown(value)
                ),
            ));
        };
        for (i, mop) in list.iter().enumerate() {
            let parts = items(mop).unwrap_or(&[]);
            let index = u16::try_from(i).unwrap_or(u16::MAX);
            match parts.first().and_then(keyword) {
                Some("send") if parts.len() == 3 => self.send(&parts[1], &parts[2], index, pos)?,
                Some("poll") if parts.len() <= 2 => {
                    if let Some(polled) = parts.get(1) {
                        self.poll(polled, index, pos)?;
                    }
                }
                _ => {
                    return Err(err(
                        pos,
                        format!(
                            "micro-operation {} is {}: expected [:send key value], [:send key [offset value]], [:poll] or [:poll {{key [[offset value] ...]}}]",
                            i + 1,
                            shown(Some(mop))
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn send(&mut self, key: &Edn, v: &Edn, index: u16, pos: Pos) -> Result<(), ReadError> {
        let key = self.atoms.intern(key);
        let (offset, value) = match items(v) {
            Some([o, v]) => (offset(o, pos)?, self.atoms.intern(v)),
            _ => (NO_OFFSET, self.atoms.intern(v)),
        };
        self.mops.push(Mop {
            send: true,
            key,
            value,
            offset,
            index,
        });
        Ok(())
    }

    fn poll(&mut self, polled: &Edn, index: u16, pos: Pos) -> Result<(), ReadError> {
        let Edn::Map(by_key) = polled else {
            return Err(err(
                pos,
                format!(
                    "a poll's result is {}: expected a map of keys to [[offset value] ...]",
                    shown(Some(polled))
                ),
            ));
        };
        // BTreeMap order: the keys in a canonical order, whatever the file's.
        for (k, pairs) in by_key {
            let key = self.atoms.intern(k);
            let list = match pairs {
                Edn::Nil => &[][..],
                p => items(p).ok_or_else(|| {
                    err(
                        pos,
                        format!(
                            "what a poll read of {} is {}: expected [[offset value] ...]",
                            shown(Some(k)),
                            shown(Some(p))
                        ),
                    )
                })?,
            };
            for pair in list {
                let Some([o, v]) = items(pair) else {
                    return Err(err(
                        pos,
                        format!(
                            "a polled record is {}: expected [offset value]",
                            shown(Some(pair))
                        ),
                    ));
                };
                let offset = offset(o, pos)?;
                let value = self.atoms.intern(v);
                self.mops.push(Mop {
                    send: false,
                    key,
                    value,
                    offset,
                    index,
                });
            }
        }
        Ok(())
    }

    fn key_list(&mut self, value: Option<&Edn>, pos: Pos) -> Result<(), ReadError> {
        let list: Vec<&Edn> = match value {
            Some(Edn::Set(s)) => s.iter().collect(),
            Some(v) => match items(v) {
                Some(list) => list.iter().collect(),
                None => {
                    return Err(err(
                        pos,
                        format!(
                            ":value is {}: expected the list of keys assigned",
                            shown(value)
                        ),
                    ));
                }
            },
            None => Vec::new(),
        };
        for k in list {
            let k = self.atoms.intern(k);
            self.keys.push(k);
        }
        Ok(())
    }

    /// Order the micro-operations of the op being read: sends first, then
    /// polls, each grouped by key in the order keys first appear (stable
    /// within a key). Returns how many are sends.
    fn group(&mut self, from: usize) -> u32 {
        let ops = &mut self.mops[from..];
        if grouped(ops) {
            return ops.iter().filter(|m| m.send).count() as u32;
        }
        let mut first: Vec<(Atom, bool)> = Vec::new();
        for m in ops.iter() {
            if !first.contains(&(m.key, m.send)) {
                first.push((m.key, m.send));
            }
        }
        let rank = |m: &Mop| {
            let at = first
                .iter()
                .position(|&k| k == (m.key, m.send))
                .unwrap_or(0);
            (!m.send, at)
        };
        ops.sort_by_key(rank);
        ops.iter().filter(|m| m.send).count() as u32
    }

    fn finish(self) -> Result<History, ReadError> {
        Ok(History {
            atoms: self.atoms,
            ops: self.ops,
            mops: self.mops,
            keys: self.keys,
            subscribes: self.subscribes,
            skipped: self.skipped,
        })
    }
}

/// An operation's `:type` and `:f`.
fn kind_and_f(map: &BTreeMap<Edn, Edn>, pos: Pos) -> Result<(Type, F), ReadError> {
    let kind = match field(map, "type").and_then(keyword) {
        Some("invoke") => Type::Invoke,
        Some("ok") => Type::Ok,
        Some("info") => Type::Info,
        Some("fail") => Type::Fail,
        _ => {
            return Err(err(
                pos,
                format!(
                    ":type is {}: expected one of :invoke, :ok, :info, :fail",
                    shown(field(map, "type"))
                ),
            ));
        }
    };
    let f = match field(map, "f").and_then(keyword) {
        Some("send") => F::Send,
        Some("poll") => F::Poll,
        Some("txn") => F::Txn,
        Some("assign") => F::Assign,
        Some("subscribe") => F::Subscribe,
        Some("crash") => F::Crash,
        _ => {
            return Err(err(
                pos,
                format!(
                    ":f is {}: expected one of :send, :poll, :txn, :assign, :subscribe, :crash",
                    shown(field(map, "f"))
                ),
            ));
        }
    };
    Ok((kind, f))
}

/// Whether the records are already sends first, then polls, each key's
/// in one run.
fn grouped(mops: &[Mop]) -> bool {
    mops.windows(2).all(|w| w[0].send >= w[1].send)
        && mops.iter().enumerate().all(|(i, m)| {
            i == 0
                || (mops[i - 1].key, mops[i - 1].send) == (m.key, m.send)
                || !mops[..i].iter().any(|x| (x.key, x.send) == (m.key, m.send))
        })
}

fn offset(o: &Edn, pos: Pos) -> Result<i64, ReadError> {
    match o {
        Edn::Int(i) if *i >= 0 => Ok(*i),
        Edn::Nil => Ok(NO_OFFSET),
        other => Err(err(
            pos,
            format!(
                "offset {} is not an offset: expected a non-negative integer or nil",
                shown(Some(other))
            ),
        )),
    }
}

/// A value as the file wrote it, clipped.
fn shown(e: Option<&Edn>) -> String {
    match e {
        None => "missing".to_string(),
        Some(e) => {
            let mut s = e.to_string();
            if s.chars().count() > 60 {
                s = s.chars().take(57).collect::<String>() + "...";
            }
            format!("`{}`", crate::text::printable(&s))
        }
    }
}
