//! Histories recorded from real clusters, in Jepsen's form, checked for
//! the anomalies Jepsen's Kafka checker names.
//!
//! A Jepsen (or Maelstrom) Kafka test writes what its clients did as
//! operations: `:send` micro-operations append a value to a key (a
//! partition) and learn its offset, `:poll` ones read `[offset value]`
//! pairs, `:txn` does both in one transaction, `:assign` and `:subscribe`
//! change what a client reads. [`read_edn`] reads such a history,
//! [`analyse`] infers each key's log from every offset a client was told
//! or read (the *version order*) and looks for the anomalies, and
//! [`Analysis::valid`] says whether Kafka's model allows every one
//! found. The inference follows `jepsen.tests.kafka`'s (offsets are
//! trusted from `:ok` sends, from `:info` sends one of whose values a
//! client read, and from every poll, even an aborted one: a poller must
//! never return bad data).
//!
//! Nothing here knows the simulator: the module reads a file and judges
//! it.

mod analysis;
mod cycles;
mod describe;
mod read;
mod record;
pub mod report;
mod synthetic;
#[cfg(test)]
mod tests;

pub use describe::describe;
pub use read::{ReadError, read_edn};
pub use record::{Recorder, write_edn};
pub use synthetic::synthetic;

use rustc_hash::FxHashMap;

/// A key or value of the history, interned: equal values, equal atoms.
pub type Atom = u32;

/// An offset a client was not told.
pub const NO_OFFSET: i64 = -1;

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    /// The call began.
    Invoke,
    /// It completed.
    Ok,
    /// Its outcome is unknown (a timeout, a crash).
    Info,
    /// It did not happen (a transaction aborted, a send refused).
    Fail,
}

impl Type {
    /// Its name in the history.
    pub fn name(self) -> &'static str {
        match self {
            Type::Invoke => "invoke",
            Type::Ok => "ok",
            Type::Info => "info",
            Type::Fail => "fail",
        }
    }
}

/// What an operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum F {
    /// Sends (appends), outside a transaction.
    Send,
    /// Polls (reads).
    Poll,
    /// Sends and polls in one transaction.
    Txn,
    /// Assigns the client the listed keys.
    Assign,
    /// Subscribes the client to the listed keys (the group rebalances).
    Subscribe,
    /// The client crashed.
    Crash,
}

impl F {
    /// Its name in the history.
    pub fn name(self) -> &'static str {
        match self {
            F::Send => "send",
            F::Poll => "poll",
            F::Txn => "txn",
            F::Assign => "assign",
            F::Subscribe => "subscribe",
            F::Crash => "crash",
        }
    }
}

/// One micro-operation's record: a value sent to a key, or a record a
/// poll read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mop {
    /// A send (else a polled record).
    pub send: bool,
    /// The key (partition).
    pub key: Atom,
    /// The value.
    pub value: Atom,
    /// Its offset, or [`NO_OFFSET`].
    pub offset: i64,
    /// Which micro-operation of the operation (0-based).
    pub index: u16,
}

/// One operation of a client process.
#[derive(Clone, Debug)]
pub struct Op {
    /// The client process.
    pub process: u32,
    /// How it ended (or `Invoke`).
    pub kind: Type,
    /// What it does.
    pub f: F,
    /// Its `:time` (ns), or its position when the history has none.
    pub time: i64,
    /// Its records in [`History::mops`]: the sends, then the polled
    /// records, each grouped by key.
    pub mops: (u32, u32),
    /// How many of them are sends.
    pub sends: u32,
    /// The keys of an assign or subscribe, in [`History::keys`].
    pub keys: (u32, u32),
    /// The line of the file it starts on.
    pub line: u32,
}

/// The interned keys and values.
#[derive(Default)]
pub struct Atoms {
    ints: FxHashMap<i64, Atom>,
    texts: [FxHashMap<Box<str>, Atom>; 5],
    list: Vec<AtomValue>,
}

/// A key or value as the history wrote it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AtomValue {
    /// `nil`
    Nil,
    /// `true`, `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A keyword, without its colon.
    Key(Box<str>),
    /// A string.
    Str(Box<str>),
    /// Anything else, as EDN text.
    Other(Box<str>),
}

impl Atoms {
    fn intern(&mut self, e: &clojure_reader::edn::Edn) -> Atom {
        use clojure_reader::edn::Edn;
        let next = self.list.len() as Atom;
        let (tag, text) = match e {
            Edn::Int(i) => {
                return *self.ints.entry(*i).or_insert_with(|| {
                    self.list.push(AtomValue::Int(*i));
                    next
                });
            }
            Edn::Nil => (0, std::borrow::Cow::Borrowed("nil")),
            Edn::Bool(b) => (
                1,
                std::borrow::Cow::Borrowed(if *b { "true" } else { "false" }),
            ),
            Edn::Key(k) => (2, std::borrow::Cow::Borrowed(&**k)),
            Edn::Str(s) => (3, std::borrow::Cow::Borrowed(&**s)),
            other => (4, std::borrow::Cow::Owned(other.to_string())),
        };
        if let Some(&a) = self.texts[tag].get(&*text) {
            return a;
        }
        let boxed = Box::<str>::from(&*text);
        let value = match (tag, e) {
            (0, _) => AtomValue::Nil,
            (1, Edn::Bool(b)) => AtomValue::Bool(*b),
            (2, _) => AtomValue::Key(boxed.clone()),
            (3, _) => AtomValue::Str(boxed.clone()),
            _ => AtomValue::Other(boxed.clone()),
        };
        self.list.push(value);
        self.texts[tag].insert(boxed, next);
        next
    }

    /// The atom as the history wrote it.
    pub fn value(&self, a: Atom) -> &AtomValue {
        &self.list[a as usize]
    }

    /// The atom as EDN text (`:x`, `"s"`, `42`).
    pub fn text(&self, a: Atom) -> String {
        match self.value(a) {
            AtomValue::Nil => "nil".to_string(),
            AtomValue::Bool(b) => b.to_string(),
            AtomValue::Int(i) => i.to_string(),
            AtomValue::Key(k) => format!(":{k}"),
            AtomValue::Str(s) => format!("{s:?}"),
            AtomValue::Other(o) => o.to_string(),
        }
    }

    /// Compare two atoms in a canonical order (by value, not by when they
    /// were first seen): what decides between values at one offset.
    pub fn cmp(&self, a: Atom, b: Atom) -> std::cmp::Ordering {
        self.value(a).cmp(self.value(b))
    }

    /// Look an atom up by its value (for tests).
    pub fn find(&self, v: &AtomValue) -> Option<Atom> {
        self.list.iter().position(|x| x == v).map(|i| i as Atom)
    }
}

/// A history: its client operations in order, with their records.
pub struct History {
    /// The interned keys and values.
    pub atoms: Atoms,
    /// The client operations, in the file's order.
    pub ops: Vec<Op>,
    /// Every operation's records.
    pub mops: Vec<Mop>,
    /// Every assign's and subscribe's keys.
    pub keys: Vec<Atom>,
    /// Whether any client subscribed (then the group may move keys between
    /// clients at any time, unseen by the history).
    pub subscribes: bool,
    /// Operations of non-client processes (the nemesis), skipped.
    pub skipped: u64,
}

impl History {
    /// The records an operation sent, grouped by key.
    pub fn sends(&self, op: &Op) -> &[Mop] {
        &self.mops[op.mops.0 as usize..(op.mops.0 + op.sends) as usize]
    }

    /// The records an operation read, grouped by key.
    pub fn reads(&self, op: &Op) -> &[Mop] {
        &self.mops[(op.mops.0 + op.sends) as usize..op.mops.1 as usize]
    }

    /// An assign's or subscribe's keys.
    pub fn keys_of(&self, op: &Op) -> &[Atom] {
        &self.keys[op.keys.0 as usize..op.keys.1 as usize]
    }
}

/// Runs of records with the same key, in order.
pub fn by_key(mops: &[Mop]) -> impl Iterator<Item = (Atom, &[Mop])> {
    let mut rest = mops;
    std::iter::from_fn(move || {
        let first = rest.first()?;
        let n = rest.iter().take_while(|m| m.key == first.key).count();
        let (run, tail) = rest.split_at(n);
        rest = tail;
        Some((first.key, run))
    })
}

/// An anomaly's name, as Jepsen's Kafka checker reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Name {
    /// A value some reader should have seen (it lies below what that
    /// reader saw) that no reader saw.
    LostWrite,
    /// A value that a failed (aborted) write sent, read by a committed poll.
    G1a,
    /// One offset of a key holding two different values.
    InconsistentOffsets,
    /// One value at two offsets of a key.
    Duplicate,
    /// A process's poll that skips records since its previous poll.
    PollSkip,
    /// A process's poll that starts at or before where its previous ended.
    NonmonotonicPoll,
    /// A process's send landing at or before its previous send.
    NonmonotonicSend,
    /// One poll operation skipping records.
    IntPollSkip,
    /// One poll operation going backwards.
    IntNonmonotonicPoll,
    /// Two sends of one operation with other records between them.
    IntSendSkip,
    /// Two sends of one operation landing in the opposite order.
    IntNonmonotonicSend,
    /// A transaction that read its own write before it committed.
    PrecommittedRead,
    /// Acknowledged values that no poll ever read.
    Unseen,
    /// A cycle of transactions through write order alone.
    G0,
    /// A cycle of transactions through at least one write-read edge.
    G1c,
}

impl Name {
    /// Jepsen's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Name::LostWrite => "lost-write",
            Name::G1a => "G1a",
            Name::InconsistentOffsets => "inconsistent-offsets",
            Name::Duplicate => "duplicate",
            Name::PollSkip => "poll-skip",
            Name::NonmonotonicPoll => "nonmonotonic-poll",
            Name::NonmonotonicSend => "nonmonotonic-send",
            Name::IntPollSkip => "int-poll-skip",
            Name::IntNonmonotonicPoll => "int-nonmonotonic-poll",
            Name::IntSendSkip => "int-send-skip",
            Name::IntNonmonotonicSend => "int-nonmonotonic-send",
            Name::PrecommittedRead => "precommitted-read",
            Name::Unseen => "unseen",
            Name::G0 => "G0",
            Name::G1c => "G1c",
        }
    }
}

/// One step of a cycle: `from` precedes `to` because of `key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// `ww` (write order on a key) or `wr` (a read of the write).
    pub wr: bool,
    /// The key.
    pub key: Atom,
    /// The value written by the earlier operation.
    pub value: Atom,
    /// For `ww`: the later operation's value.
    pub value2: Option<Atom>,
}

/// One anomaly found, with what Jepsen's report gives for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Anomaly {
    /// Its name (`None` only while being built).
    pub name: Option<Name>,
    /// Whether Kafka's model allows it (then it is counted, not a failure).
    pub allowed: bool,
    /// The key, if one.
    pub key: Option<Atom>,
    /// The values involved (a pair for skips and nonmonotonic orders, the
    /// values at an inconsistent offset, the value for the rest).
    pub values: Vec<Atom>,
    /// The values skipped over.
    pub skipped: Vec<Atom>,
    /// The distance in the version order between the two values.
    pub delta: Option<i64>,
    /// Offsets: a duplicate's, an inconsistent offset.
    pub offsets: Vec<i64>,
    /// The index in the version order (a lost write's; an inconsistent
    /// offset's).
    pub index: Option<i64>,
    /// The highest index a reader saw (lost writes).
    pub max_read_index: Option<i64>,
    /// How many (duplicates: times the value appears; unseen: values).
    pub count: Option<u64>,
    /// The operations involved, as positions in [`History::ops`]: a
    /// writer then a reader, two operations of one process, or a cycle
    /// (its first operation repeated at its end).
    pub ops: Vec<u32>,
    /// A cycle's steps.
    pub steps: Vec<Step>,
}

/// What a history holds.
pub struct Analysis {
    /// Every anomaly found, grouped by name.
    pub anomalies: Vec<Anomaly>,
    /// Client operations read.
    pub ops: usize,
    /// Keys written or read.
    pub keys: usize,
}

impl Analysis {
    /// How many anomalies of `name`.
    pub fn count(&self, name: Name) -> usize {
        self.anomalies
            .iter()
            .filter(|a| a.name == Some(name))
            .count()
    }

    /// Those of one name.
    pub fn of(&self, name: Name) -> Vec<&Anomaly> {
        self.anomalies
            .iter()
            .filter(|a| a.name == Some(name))
            .collect()
    }

    /// Whether any anomaly Kafka's model rules out was found.
    pub fn valid(&self) -> bool {
        self.anomalies.iter().all(|a| a.allowed)
    }
}

/// Check a history for every anomaly. `read_uncommitted`: its consumers
/// read uncommitted records, so a cycle of write-read edges alone is
/// allowed.
pub fn analyse(h: &History, read_uncommitted: bool) -> Analysis {
    let cx = analysis::Ctx::new(h);
    let mut out = Vec::new();
    cx.inconsistent_offsets(&mut out);
    cx.duplicates(&mut out);
    cx.g1a(&mut out);
    cx.lost_writes(&mut out);
    cx.poll_skips(&mut out);
    cx.nonmonotonic_sends(&mut out);
    cx.internal(&mut out);
    cx.precommitted_reads(&mut out);
    cx.unseen(&mut out);
    cycles::find(&cx, read_uncommitted, &mut out);
    for a in &mut out {
        a.allowed |= match a.name {
            // Writes of concurrent transactions interleave in Kafka's
            // model, and writes are never isolated.
            Some(Name::IntSendSkip | Name::G0) => true,
            // Under subscribe, the group may move a key to another client
            // between two polls without the history saying so.
            Some(Name::PollSkip | Name::NonmonotonicPoll) => h.subscribes,
            _ => false,
        };
    }
    out.sort_by_key(|a| a.name);
    Analysis {
        anomalies: out,
        ops: h.ops.len(),
        keys: cx.keys.len(),
    }
}
