//! A simulated run as a Jepsen history: what its clients did, in Jepsen's
//! operations, so that the same checker judges a simulation and a real
//! cluster, and Jepsen's own checker can read a run.
//!
//! Processes: producer `p` is process `p`; consumer `c` is process
//! `producers + c`. Keys are partitions (`"orders-3"`), values event ids.
//! A producer's acknowledged record is a `:send` (`:ok`, with the offset
//! of its last append), one it gave up on an `:info` send; a
//! transactional producer's transaction is one `:txn` of the records its
//! EndTxn answer settled at one instant, `:ok` when the producer was told
//! it committed and `:fail` when told it aborted (the client's view, which
//! a late EndTxn can make differ from the coordinator's). A consumer
//! `:subscribe`s to its group's partitions when first assigned, and the
//! records one poll returned (observed at one instant) are one `:poll`.
//! Each operation's invocation is written just before its completion.

use super::{Atom, Atoms, F, History, Mop, NO_OFFSET, Op, Type};
use crate::history::{Catalog, EventId, Observation, Observer};
use crate::kernel::Time;
use rustc_hash::FxHashMap as Map;

/// An observer that builds the run's Jepsen history.
pub struct Recorder {
    h: History,
    producers: u32,
    transactional: Vec<bool>,
    /// Per partition, its key atom.
    part_key: Vec<Atom>,
    /// Per consumer: subscribed yet; the group's partitions.
    subscribed: Vec<bool>,
    group_parts: Vec<Vec<u32>>,
    consumer_group: Vec<u32>,
    /// Events produced and not yet acknowledged or failed: partition.
    pending: Map<EventId, u32>,
    /// The offset of each pending event's last append.
    appended: Map<EventId, i64>,
    /// The transaction being settled: producer, time, committed, records.
    txn: Option<(u32, Time, bool)>,
    txn_mops: Vec<Mop>,
    /// The poll being gathered: consumer, time, records.
    poll: Option<(u32, Time)>,
    poll_mops: Vec<Mop>,
}

impl Recorder {
    /// A recorder for a run with this catalog.
    pub fn new(catalog: &Catalog) -> Recorder {
        let mut atoms = Atoms::default();
        let part_key = (0..catalog.partitions.len() as u32)
            .map(|p| atoms.string(&catalog.partition_name(p)))
            .collect();
        Recorder {
            h: History {
                atoms,
                ops: Vec::new(),
                mops: Vec::new(),
                keys: Vec::new(),
                subscribes: false,
                skipped: 0,
            },
            producers: catalog.producers.len() as u32,
            transactional: catalog.transactional.clone(),
            part_key,
            subscribed: vec![false; catalog.consumers.len()],
            group_parts: catalog.group_partitions.clone(),
            consumer_group: catalog.consumers.iter().map(|c| c.0).collect(),
            pending: Map::default(),
            appended: Map::default(),
            txn: None,
            txn_mops: Vec::new(),
            poll: None,
            poll_mops: Vec::new(),
        }
    }

    /// The history, once the run is over.
    pub fn finish(mut self) -> History {
        self.flush_poll();
        self.flush_txn();
        self.h
    }

    /// An invocation and its completion, the completion's records given.
    fn op(&mut self, process: u32, kind: Type, f: F, at: Time, mops: &[Mop]) {
        let line = self.h.ops.len() as u32 + 1;
        let from = self.h.mops.len() as u32;
        self.h.ops.push(Op {
            process,
            kind: Type::Invoke,
            f,
            time: at as i64,
            mops: (from, from),
            sends: 0,
            keys: (0, 0),
            line,
        });
        self.h.mops.extend_from_slice(mops);
        let sends = mops.iter().filter(|m| m.send).count() as u32;
        self.h.ops.push(Op {
            process,
            kind,
            f,
            time: at as i64,
            mops: (from, self.h.mops.len() as u32),
            sends,
            keys: (0, 0),
            line: line + 1,
        });
    }

    fn send_mop(&mut self, event: EventId, partition: u32) -> Mop {
        Mop {
            send: true,
            key: self.part_key[partition as usize],
            value: self.h.atoms.int(event as i64),
            offset: self.appended.remove(&event).unwrap_or(NO_OFFSET),
            index: 0,
        }
    }

    fn flush_poll(&mut self) {
        if let Some((consumer, at)) = self.poll.take() {
            let mut mops = std::mem::take(&mut self.poll_mops);
            // Grouped by key, as the reader groups them.
            mops.sort_by_key(|m| m.key);
            self.op(self.producers + consumer, Type::Ok, F::Poll, at, &mops);
            mops.clear();
            self.poll_mops = mops;
        }
    }

    fn subscribe(&mut self, consumer: u32, at: Time) {
        if std::mem::replace(&mut self.subscribed[consumer as usize], true) {
            return;
        }
        let g = self.consumer_group[consumer as usize] as usize;
        let from = self.h.keys.len() as u32;
        for &p in &self.group_parts[g] {
            self.h.keys.push(self.part_key[p as usize]);
        }
        let keys = (from, self.h.keys.len() as u32);
        self.h.subscribes = true;
        let process = self.producers + consumer;
        let line = self.h.ops.len() as u32 + 1;
        let m = self.h.mops.len() as u32;
        for (kind, line) in [(Type::Invoke, line), (Type::Ok, line + 1)] {
            self.h.ops.push(Op {
                process,
                kind,
                f: F::Subscribe,
                time: at as i64,
                mops: (m, m),
                sends: 0,
                keys,
                line,
            });
        }
    }

    fn delivered(&mut self, at: Time, consumer: u32, event: EventId, partition: u32, offset: u64) {
        if self.poll != Some((consumer, at)) {
            self.flush_poll();
            self.subscribe(consumer, at);
            self.poll = Some((consumer, at));
        }
        let value = self.h.atoms.int(event as i64);
        self.poll_mops.push(Mop {
            send: false,
            key: self.part_key[partition as usize],
            value,
            offset: offset as i64,
            index: 0,
        });
    }

    /// A producer gave up on a record: outside a transaction its outcome
    /// is unknown (a lost response may hide an append): `:info`.
    fn failed(&mut self, at: Time, event: EventId, producer: u32) {
        let Some(partition) = self.pending.remove(&event) else {
            return;
        };
        let mut m = self.send_mop(event, partition);
        m.offset = NO_OFFSET;
        self.op(producer, Type::Info, F::Send, at, &[m]);
    }

    /// A transactional producer learned a record's outcome: the records
    /// it learned of at one instant, all committed or all not, are one
    /// transaction.
    fn settled(&mut self, at: Time, event: EventId, producer: u32, committed: bool) {
        let Some(partition) = self.pending.remove(&event) else {
            return;
        };
        if self.txn != Some((producer, at, committed)) {
            self.flush_txn();
            self.txn = Some((producer, at, committed));
        }
        let m = self.send_mop(event, partition);
        self.txn_mops.push(m);
    }

    fn flush_txn(&mut self) {
        if let Some((producer, at, committed)) = self.txn.take() {
            let mut mops = std::mem::take(&mut self.txn_mops);
            mops.sort_by_key(|m| m.key);
            let kind = if committed { Type::Ok } else { Type::Fail };
            self.op(producer, kind, F::Txn, at, &mops);
            mops.clear();
            self.txn_mops = mops;
        }
    }
}

impl Observer for Recorder {
    fn observe(&mut self, at: Time, o: &Observation) {
        if let Observation::Delivered {
            event,
            consumer,
            partition,
            offset,
            ..
        } = *o
        {
            self.delivered(at, consumer, event, partition, offset);
            return;
        }
        self.flush_poll();
        let txn = |p: u32| self.transactional.get(p as usize) == Some(&true);
        match *o {
            Observation::Acked {
                event, producer, ..
            } if txn(producer) => return self.settled(at, event, producer, true),
            Observation::ProduceFailed { event, producer } if txn(producer) => {
                return self.settled(at, event, producer, false);
            }
            _ => self.flush_txn(),
        }
        match *o {
            Observation::Produced {
                event, partition, ..
            } => {
                self.pending.insert(event, partition);
            }
            Observation::Appended { event, offset, .. } if self.pending.contains_key(&event) => {
                self.appended.insert(event, offset as i64);
            }
            Observation::Acked {
                event,
                producer,
                partition,
                ..
            } => {
                self.pending.remove(&event);
                let m = self.send_mop(event, partition);
                self.op(producer, Type::Ok, F::Send, at, &[m]);
            }
            Observation::ProduceFailed { event, producer } => self.failed(at, event, producer),
            _ => {}
        }
    }
}

impl Atoms {
    /// The atom of an integer.
    pub fn int(&mut self, i: i64) -> Atom {
        let next = self.list.len() as Atom;
        *self.ints.entry(i).or_insert_with(|| {
            self.list.push(super::AtomValue::Int(i));
            next
        })
    }

    /// The atom of a string.
    pub fn string(&mut self, s: &str) -> Atom {
        if let Some(&a) = self.texts[3].get(s) {
            return a;
        }
        let next = self.list.len() as Atom;
        self.list.push(super::AtomValue::Str(s.into()));
        self.texts[3].insert(s.into(), next);
        next
    }
}

/// Write a history as `history.edn`: one operation per line, each
/// invocation with the values its completion sent (without offsets).
pub fn write_edn(h: &History, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut line = String::new();
    for (i, op) in h.ops.iter().enumerate() {
        use std::fmt::Write;
        line.clear();
        let _ = write!(
            line,
            "{{:index {i}, :time {}, :type :{}, :process {}, :f :{}, :value ",
            op.time,
            op.kind.name(),
            op.process,
            op.f.name()
        );
        let shown = match (op.kind, h.ops.get(i + 1)) {
            (Type::Invoke, Some(done)) if done.process == op.process => done,
            _ => op,
        };
        value(h, shown, op.kind == Type::Invoke, &mut line);
        line.push_str("}\n");
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

fn value(h: &History, op: &Op, invoke: bool, line: &mut String) {
    let t = |a: Atom| h.atoms.text(a);
    match op.f {
        F::Assign | F::Subscribe => {
            let keys: Vec<String> = h.keys_of(op).iter().map(|&k| t(k)).collect();
            line.push_str(&format!("[{}]", keys.join(" ")));
        }
        F::Crash => line.push_str("nil"),
        F::Send | F::Poll | F::Txn => {
            line.push('[');
            let mut parts: Vec<String> = Vec::new();
            for m in h.sends(op) {
                parts.push(match (invoke, m.offset) {
                    (false, o) if o != NO_OFFSET => {
                        format!("[:send {} [{o} {}]]", t(m.key), t(m.value))
                    }
                    _ => format!("[:send {} {}]", t(m.key), t(m.value)),
                });
            }
            let polled = || {
                let read: Vec<String> = super::by_key(h.reads(op))
                    .map(|(k, run)| {
                        let pairs: Vec<String> = run
                            .iter()
                            .map(|m| format!("[{} {}]", m.offset, t(m.value)))
                            .collect();
                        format!("{} [{}]", t(k), pairs.join(" "))
                    })
                    .collect();
                format!("[:poll {{{}}}]", read.join(", "))
            };
            let polls = op.f == F::Poll || !h.reads(op).is_empty();
            match (polls, invoke) {
                (true, true) => parts.push("[:poll]".to_string()),
                (true, false) => parts.push(polled()),
                _ => {}
            }
            line.push_str(&parts.join(" "));
            line.push(']');
        }
    }
}
