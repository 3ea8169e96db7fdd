//! The version order of each key, and the anomalies found against it.
//!
//! Each key's log is inferred from every `[offset value]` the history
//! shows: the offsets `:ok` sends were told, those of `:info` sends that
//! must have committed (a client read one of their values), and every
//! polled record, whatever became of the poll. The log's offsets with a
//! value, in order, are its *indices* (offsets without the gaps); each
//! index holds one value (the greatest, when an offset holds several: that
//! is an `inconsistent-offsets` anomaly of its own). Skips and reorderings
//! are measured in indices.

use super::{Anomaly, Atom, F, History, Mop, NO_OFFSET, Name, Op, Type, by_key};
use rustc_hash::{FxHashMap as Map, FxHashSet as Set};
use std::collections::BTreeMap;

/// One key's version order.
#[derive(Default)]
pub(super) struct Order {
    /// The offsets that hold a value, in order: index i is offsets[i].
    pub offsets: Vec<i64>,
    /// The value of each index (the greatest, where an offset holds
    /// several).
    pub by_index: Vec<Atom>,
    /// The index of each value in `by_index` (its last, if several).
    pub by_value: Map<Atom, u32>,
    /// The indices whose offset holds several values: the values (in
    /// canonical order) and the operations that first placed each there.
    conflicts: Vec<(usize, Vec<Atom>, Vec<u32>)>,
}

impl Order {
    /// The values at index `i`.
    pub fn values(&self, i: usize) -> &[Atom] {
        match self.conflicts.binary_search_by_key(&i, |c| c.0) {
            Ok(c) => &self.conflicts[c].1,
            Err(_) => std::slice::from_ref(&self.by_index[i]),
        }
    }

    /// Each index with its values.
    pub fn log(&self) -> impl Iterator<Item = (usize, &[Atom])> {
        (0..self.by_index.len()).map(|i| (i, self.values(i)))
    }
}

/// What every anomaly search reads.
pub(super) struct Ctx<'h> {
    pub h: &'h History,
    /// (key, value) read by an `:ok` poll or transaction.
    ok_read: Set<(Atom, Atom)>,
    /// (key, value) sent by a `:fail`ed operation.
    failed: Set<(Atom, Atom)>,
    /// The last completed operation that sent each (key, value).
    pub writer: Map<(Atom, Atom), u32>,
    /// The first completed operation that read each (key, value).
    first_reader: Map<(Atom, Atom), u32>,
    pub orders: Map<Atom, Order>,
    /// Every key with a version order, in canonical order.
    pub keys: Vec<Atom>,
    /// Each key's position in `keys`.
    rank: Map<Atom, u32>,
}

fn anomaly(name: Name, key: Atom) -> Anomaly {
    Anomaly {
        name: Some(name),
        key: Some(key),
        ..Anomaly::default()
    }
}

impl<'h> Ctx<'h> {
    pub(super) fn new(h: &'h History) -> Ctx<'h> {
        let mut cx = Ctx {
            h,
            ok_read: Set::default(),
            failed: Set::default(),
            writer: Map::default(),
            first_reader: Map::default(),
            orders: Map::default(),
            keys: Vec::new(),
            rank: Map::default(),
        };
        for (i, op) in h.ops.iter().enumerate() {
            if op.kind == Type::Invoke {
                continue;
            }
            for m in h.sends(op) {
                cx.writer.insert((m.key, m.value), i as u32);
                if op.kind == Type::Fail {
                    cx.failed.insert((m.key, m.value));
                }
            }
            for m in h.reads(op) {
                cx.first_reader.entry((m.key, m.value)).or_insert(i as u32);
                if op.kind == Type::Ok {
                    cx.ok_read.insert((m.key, m.value));
                }
            }
        }
        cx.version_orders();
        cx
    }

    /// An `:ok` operation, or an `:info` one some of whose values a
    /// committed poll read: its sends took effect.
    pub fn must_have_committed(&self, op: &Op) -> bool {
        op.kind == Type::Ok
            || (op.kind == Type::Info
                && self
                    .h
                    .sends(op)
                    .iter()
                    .any(|m| self.ok_read.contains(&(m.key, m.value))))
    }

    fn version_orders(&mut self) {
        let h = self.h;
        // Per key, offset -> the first value placed there and its op; the
        // rare further values at the same offset aside.
        let mut logs: Map<Atom, BTreeMap<i64, (Atom, u32)>> = Map::default();
        let mut more: BTreeMap<(Atom, i64), Vec<(Atom, u32)>> = BTreeMap::new();
        let mut keys = Vec::new();
        let mut add = |op: u32, m: &Mop| {
            if m.offset == NO_OFFSET {
                return;
            }
            let log = logs.entry(m.key).or_insert_with(|| {
                keys.push(m.key);
                BTreeMap::new()
            });
            let first = *log.entry(m.offset).or_insert((m.value, op));
            if first.0 != m.value {
                let others = more.entry((m.key, m.offset)).or_default();
                if !others.iter().any(|&(v, _)| v == m.value) {
                    others.push((m.value, op));
                }
            }
        };
        for (i, op) in h.ops.iter().enumerate() {
            if !matches!(op.f, F::Send | F::Poll | F::Txn) {
                continue;
            }
            if self.must_have_committed(op) {
                h.sends(op).iter().for_each(|m| add(i as u32, m));
            }
            h.reads(op).iter().for_each(|m| add(i as u32, m));
        }
        keys.sort_by(|&a, &b| h.atoms.cmp(a, b));
        for &k in &keys {
            let mut order = Order::default();
            for (offset, first) in logs.remove(&k).unwrap_or_default() {
                let chosen = match more.remove(&(k, offset)) {
                    None => first.0,
                    Some(others) => {
                        let mut placed = others;
                        placed.push(first);
                        placed.sort_by(|a, b| h.atoms.cmp(a.0, b.0));
                        let mut ops: Vec<u32> = placed.iter().map(|p| p.1).collect();
                        ops.sort_unstable();
                        ops.dedup();
                        let values: Vec<Atom> = placed.iter().map(|p| p.0).collect();
                        let chosen = values[values.len() - 1];
                        order.conflicts.push((order.by_index.len(), values, ops));
                        chosen
                    }
                };
                order.by_value.insert(chosen, order.by_index.len() as u32);
                order.by_index.push(chosen);
                order.offsets.push(offset);
            }
            self.orders.insert(k, order);
        }
        self.rank = keys
            .iter()
            .enumerate()
            .map(|(i, &k)| (k, i as u32))
            .collect();
        self.keys = keys;
    }

    fn between(&self, key: Atom, from: i64, to: i64) -> Vec<Atom> {
        let o = &self.orders[&key];
        (from + 1..to).map(|i| o.by_index[i as usize]).collect()
    }

    /// Where a record sits in its key's order: at its offset's index
    /// when it carries an offset the order holds, else at its value's.
    /// (Jepsen's checker always goes by the value, so a duplicated value
    /// seems to jump to its last copy.)
    fn position(&self, m: &Mop) -> Option<i64> {
        let o = self.orders.get(&m.key)?;
        if m.offset != NO_OFFSET
            && let Ok(i) = o.offsets.binary_search(&m.offset)
        {
            return Some(i as i64);
        }
        o.by_value.get(&m.value).map(|&i| i as i64)
    }

    /// The distance from `a` to `b` in their key's order, 1 when either is
    /// not placed (nothing can be said).
    fn delta(&self, a: &Mop, b: &Mop) -> (i64, Option<(i64, i64)>) {
        match (self.position(a), self.position(b)) {
            (Some(i), Some(j)) => (j - i, Some((i, j))),
            _ => (1, None),
        }
    }

    pub(super) fn inconsistent_offsets(&self, out: &mut Vec<Anomaly>) {
        for &k in &self.keys {
            let order = &self.orders[&k];
            for (index, values, ops) in &order.conflicts {
                out.push(Anomaly {
                    values: values.clone(),
                    offsets: vec![order.offsets[*index]],
                    index: Some(*index as i64),
                    ops: ops.clone(),
                    ..anomaly(Name::InconsistentOffsets, k)
                });
            }
        }
    }

    pub(super) fn duplicates(&self, out: &mut Vec<Anomaly>) {
        for &k in &self.keys {
            let mut offsets: Map<Atom, Vec<i64>> = Map::default();
            let mut seen = Vec::new();
            let order = &self.orders[&k];
            for (i, values) in order.log() {
                for &v in values {
                    let at = offsets.entry(v).or_default();
                    if at.len() == 1 {
                        seen.push(v);
                    }
                    at.push(order.offsets[i]);
                }
            }
            let mut found: Vec<(i64, Atom)> = seen.iter().map(|v| (offsets[v][1], *v)).collect();
            found.sort_by(|a, b| a.0.cmp(&b.0).then(self.h.atoms.cmp(a.1, b.1)));
            for (_, v) in found {
                let offs = &offsets[&v];
                out.push(Anomaly {
                    values: vec![v],
                    count: Some(offs.len() as u64),
                    offsets: offs.clone(),
                    ops: self.writer.get(&(k, v)).copied().into_iter().collect(),
                    ..anomaly(Name::Duplicate, k)
                });
            }
        }
    }

    pub(super) fn g1a(&self, out: &mut Vec<Anomaly>) {
        let h = self.h;
        for (i, op) in h.ops.iter().enumerate() {
            if op.kind != Type::Ok {
                continue;
            }
            for m in h.reads(op) {
                if self.failed.contains(&(m.key, m.value)) {
                    let writer = self.writer[&(m.key, m.value)];
                    out.push(Anomaly {
                        values: vec![m.value],
                        ops: vec![writer, i as u32],
                        ..anomaly(Name::G1a, m.key)
                    });
                }
            }
        }
    }

    /// The values below the highest one a committed poll read of a key
    /// that no committed poll read, whose writes took effect.
    pub(super) fn lost_writes(&self, out: &mut Vec<Anomaly>) {
        let h = self.h;
        let mut read: Map<Atom, Set<Atom>> = Map::default();
        for op in h.ops.iter().filter(|o| o.kind == Type::Ok) {
            for m in h.reads(op) {
                read.entry(m.key).or_default().insert(m.value);
            }
        }
        for &k in &self.keys {
            let Some(vs) = read.get(&k) else { continue };
            let order = &self.orders[&k];
            let mut first: Map<Atom, usize> = Map::default();
            let mut last: Map<Atom, usize> = Map::default();
            for (i, values) in order.log() {
                for &v in values {
                    first.entry(v).or_insert(i);
                    last.insert(v, i);
                }
            }
            let mut bound: Option<usize> = None;
            for (_, values) in order.log() {
                for v in values.iter().filter(|v| vs.contains(v)) {
                    bound = bound.max(first.get(v).copied());
                }
            }
            let Some(bound) = bound else { continue };
            let top = order.values(bound).iter().find(|v| last[v] == bound);
            let max_read = top.and_then(|&v| self.first_reader.get(&(k, v)).copied());
            for (i, values) in order.log().take(bound + 1) {
                for &v in values {
                    if last[&v] != i || vs.contains(&v) {
                        continue;
                    }
                    let Some(&w) = self.writer.get(&(k, v)) else {
                        continue;
                    };
                    if !self.must_have_committed(&h.ops[w as usize]) {
                        continue;
                    }
                    out.push(Anomaly {
                        values: vec![v],
                        index: Some(first[&v] as i64),
                        max_read_index: Some(bound as i64),
                        ops: std::iter::once(w).chain(max_read).collect(),
                        ..anomaly(Name::LostWrite, k)
                    });
                }
            }
        }
    }

    /// The last record `op` read (or sent) of `key`.
    fn last_of(&self, op: u32, key: Atom, sends: bool) -> Option<Mop> {
        let op = &self.h.ops[op as usize];
        let mops = if sends {
            self.h.sends(op)
        } else {
            self.h.reads(op)
        };
        by_key(mops)
            .find(|(k, _)| *k == key)
            .and_then(|(_, run)| run.last())
            .copied()
    }

    /// Each process's polls against its previous committed poll of the
    /// same key: a skip over records it should have read, or a step back.
    pub(super) fn poll_skips(&self, out: &mut Vec<Anomaly>) {
        let h = self.h;
        let mut last: Map<u32, Map<Atom, u32>> = Map::default();
        for (i, op) in h.ops.iter().enumerate() {
            let state = last.entry(op.process).or_default();
            match op.f {
                F::Assign | F::Subscribe => {
                    if matches!(op.kind, Type::Ok | Type::Info) {
                        let keys = h.keys_of(op);
                        state.retain(|k, _| keys.contains(k));
                    }
                }
                F::Poll | F::Txn => {
                    for (k, run) in by_key(h.reads(op)) {
                        let Some(&prev) = state.get(&k) else { continue };
                        let Some(last) = self.last_of(prev, k, false) else {
                            continue;
                        };
                        let (v, v2) = (last.value, run[0].value);
                        let (delta, at) = self.delta(&last, &run[0]);
                        let ops = vec![prev, i as u32];
                        if let (true, Some((a, b))) = (delta > 1, at) {
                            out.push(Anomaly {
                                delta: Some(delta),
                                skipped: self.between(k, a, b),
                                ops,
                                ..anomaly(Name::PollSkip, k)
                            });
                        } else if delta < 1 {
                            out.push(Anomaly {
                                values: vec![v, v2],
                                delta: Some(delta),
                                ops,
                                ..anomaly(Name::NonmonotonicPoll, k)
                            });
                        }
                    }
                    if op.kind == Type::Ok {
                        for (k, _) in by_key(h.reads(op)) {
                            state.insert(k, i as u32);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Each process's sends against its previous send to the same key.
    pub(super) fn nonmonotonic_sends(&self, out: &mut Vec<Anomaly>) {
        let h = self.h;
        let mut last: Map<u32, Map<Atom, u32>> = Map::default();
        for (i, op) in h.ops.iter().enumerate() {
            if !matches!(op.kind, Type::Ok | Type::Info) {
                continue;
            }
            let state = last.entry(op.process).or_default();
            match op.f {
                F::Assign | F::Subscribe => {
                    let keys = h.keys_of(op);
                    state.retain(|k, _| keys.contains(k));
                }
                F::Send | F::Txn => {
                    for (k, run) in by_key(h.sends(op)) {
                        if let Some(&prev) = state.get(&k)
                            && let Some(last) = self.last_of(prev, k, true)
                        {
                            let (delta, at) = self.delta(&last, &run[0]);
                            if at.is_some() && delta < 1 {
                                out.push(Anomaly {
                                    values: vec![last.value, run[0].value],
                                    delta: Some(delta),
                                    ops: vec![prev, i as u32],
                                    ..anomaly(Name::NonmonotonicSend, k)
                                });
                            }
                        }
                        state.insert(k, i as u32);
                    }
                }
                _ => {}
            }
        }
    }

    /// Within one operation: successive polled records of a key that skip
    /// or go back, and successive sends that do.
    pub(super) fn internal(&self, out: &mut Vec<Anomaly>) {
        let h = self.h;
        for (i, op) in h.ops.iter().enumerate() {
            self.pairs(i as u32, h.reads(op), Name::IntPollSkip, out);
            if op.kind != Type::Invoke {
                self.pairs(i as u32, h.sends(op), Name::IntSendSkip, out);
            }
        }
    }

    fn pairs(&self, i: u32, mops: &[Mop], skip: Name, out: &mut Vec<Anomaly>) {
        for (k, run) in by_key(mops) {
            for w in run.windows(2) {
                let (v1, v2) = (w[0].value, w[1].value);
                let (delta, at) = self.delta(&w[0], &w[1]);
                let name = match (skip, delta > 1) {
                    (_, true) => skip,
                    (Name::IntPollSkip, false) => Name::IntNonmonotonicPoll,
                    _ => Name::IntNonmonotonicSend,
                };
                if delta == 1 {
                    continue;
                }
                out.push(Anomaly {
                    values: vec![v1, v2],
                    delta: Some(delta),
                    skipped: match at {
                        Some((a, b)) if delta > 1 => self.between(k, a, b),
                        _ => Vec::new(),
                    },
                    ops: vec![i],
                    ..anomaly(name, k)
                });
            }
        }
    }

    /// A transaction that polled a value it sent itself: records must be
    /// invisible to every poller until their transaction commits.
    pub(super) fn precommitted_reads(&self, out: &mut Vec<Anomaly>) {
        let h = self.h;
        for (i, op) in h.ops.iter().enumerate() {
            let reads = h.reads(op);
            if reads.is_empty() {
                continue;
            }
            let own = h
                .sends(op)
                .iter()
                .find(|s| reads.iter().any(|r| r.key == s.key && r.value == s.value));
            if let Some(m) = own {
                out.push(Anomaly {
                    values: vec![m.value],
                    ops: vec![i as u32],
                    ..anomaly(Name::PrecommittedRead, m.key)
                });
            }
        }
    }

    /// Values `:ok` sends acknowledged that no `:ok` poll read, per key.
    pub(super) fn unseen(&self, out: &mut Vec<Anomaly>) {
        let h = self.h;
        const UNSEEN_SHOWN: usize = 8;
        let mut per_key: BTreeMap<u32, (Atom, Vec<Atom>, Vec<u32>, u64)> = BTreeMap::new();
        let mut counted: Set<(Atom, Atom)> = Set::default();
        // Only keys some client reads: polled, assigned or subscribed to
        // (a topic no consumer reads, a dead-letter topic, is not unseen).
        let mut read: Set<Atom> = Set::default();
        for op in &h.ops {
            read.extend(h.reads(op).iter().map(|m| m.key));
            read.extend(h.keys_of(op).iter().copied());
        }
        for (i, op) in h.ops.iter().enumerate() {
            if op.kind != Type::Ok {
                continue;
            }
            for m in h.sends(op) {
                let kv = (m.key, m.value);
                if !read.contains(&m.key) || self.ok_read.contains(&kv) || !counted.insert(kv) {
                    continue;
                }
                // Keys without an offset anywhere sort after the others.
                let rank = self.rank.get(&m.key).copied();
                let rank = rank.unwrap_or(self.keys.len() as u32 + m.key);
                let e = per_key
                    .entry(rank)
                    .or_insert((m.key, Vec::new(), Vec::new(), 0));
                // The first few values and their senders show it; the
                // count says how many.
                e.3 += 1;
                if e.1.len() < UNSEEN_SHOWN {
                    e.1.push(m.value);
                    e.2.push(i as u32);
                }
            }
        }
        for (_, (k, values, mut ops, count)) in per_key {
            ops.dedup();
            out.push(Anomaly {
                count: Some(count),
                values,
                ops,
                ..anomaly(Name::Unseen, k)
            });
        }
    }
}
