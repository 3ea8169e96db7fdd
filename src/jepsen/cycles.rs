//! Cycles among operations, as Elle infers them for Kafka.
//!
//! An operation precedes another (`ww`) when it sent a value the other's
//! value directly follows in a key's version order, and (`wr`) when the
//! other read a value it sent. A cycle through `ww` edges only is `G0`:
//! Kafka's transactions do not isolate writes, so two producers'
//! transactions may be ordered oppositely on two partitions; allowed,
//! counted. A cycle through a `wr` edge is `G1c`: with a `ww` edge in it,
//! again a consequence of unisolated writes (allowed); through `wr` edges
//! alone, two transactions each saw the other's writes, which
//! `read_committed` consumers must never see (allowed only when the
//! consumers read uncommitted records).
//!
//! Each strongly connected component (Tarjan's algorithm, iterative) gives
//! one anomaly, witnessed by its shortest cycle through its first
//! operation (breadth-first search).

use super::analysis::Ctx;
use super::{Anomaly, F, Name, Step, Type};
use rustc_hash::FxHashSet as Set;

#[derive(Clone, Copy)]
struct Edge {
    from: u32,
    to: u32,
    wr: bool,
    key: u32,
    value: u32,
    value2: u32,
}

/// A graph over operations, in compressed rows.
struct Graph {
    start: Vec<u32>,
    edges: Vec<Edge>,
}

impl Graph {
    /// The graph of `edges`, one per (from, to, kind): the first given.
    fn new(n: usize, mut edges: Vec<Edge>) -> Graph {
        edges.sort_by_key(|e| (e.from, e.to, e.wr));
        edges.dedup_by_key(|e| (e.from, e.to, e.wr));
        let mut start = vec![0u32; n + 1];
        for e in &edges {
            start[e.from as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        Graph { start, edges }
    }

    fn out(&self, v: u32) -> &[Edge] {
        &self.edges[self.start[v as usize] as usize..self.start[v as usize + 1] as usize]
    }

    /// Strongly connected components of more than one node, each sorted.
    fn components(&self) -> Vec<Vec<u32>> {
        let n = self.start.len() - 1;
        const NONE: u32 = u32::MAX;
        let (mut index, mut low) = (vec![NONE; n], vec![0u32; n]);
        let mut on_stack = vec![false; n];
        let (mut stack, mut found, mut next) = (Vec::new(), Vec::new(), 0u32);
        let mut call: Vec<(u32, usize)> = Vec::new();
        for root in 0..n as u32 {
            if index[root as usize] != NONE || self.out(root).is_empty() {
                continue;
            }
            call.push((root, 0));
            while let Some(&mut (v, ref mut at)) = call.last_mut() {
                let vi = v as usize;
                if *at == 0 && index[vi] == NONE {
                    index[vi] = next;
                    low[vi] = next;
                    next += 1;
                    stack.push(v);
                    on_stack[vi] = true;
                }
                if let Some(e) = self.out(v).get(*at) {
                    *at += 1;
                    let w = e.to as usize;
                    if index[w] == NONE {
                        call.push((e.to, 0));
                    } else if on_stack[w] {
                        low[vi] = low[vi].min(index[w]);
                    }
                    continue;
                }
                call.pop();
                if let Some(&(parent, _)) = call.last() {
                    low[parent as usize] = low[parent as usize].min(low[vi]);
                }
                if low[vi] == index[vi] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w as usize] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if comp.len() > 1 {
                        comp.sort_unstable();
                        found.push(comp);
                    }
                }
            }
        }
        found.sort();
        found
    }

    /// The shortest path from `from` to `to` inside `within`, as edges
    /// (`to == from`: the shortest cycle through it).
    fn path(&self, from: u32, to: u32, within: &Set<u32>) -> Option<Vec<Edge>> {
        let mut parent: rustc_hash::FxHashMap<u32, Edge> = Default::default();
        let mut queue = std::collections::VecDeque::from([from]);
        while let Some(v) = queue.pop_front() {
            for e in self.out(v) {
                if !within.contains(&e.to) {
                    continue;
                }
                if e.to == to {
                    let mut path = vec![*e];
                    let mut at = e.from;
                    while at != from {
                        let p = parent[&at];
                        path.push(p);
                        at = p.from;
                    }
                    path.reverse();
                    return Some(path);
                }
                if e.to == from || parent.contains_key(&e.to) {
                    continue;
                }
                parent.insert(e.to, *e);
                queue.push_back(e.to);
            }
        }
        None
    }
}

fn cycle_anomaly(name: Name, allowed: bool, cycle: &[Edge]) -> Anomaly {
    let mut ops: Vec<u32> = cycle.iter().map(|e| e.from).collect();
    ops.push(cycle[0].from);
    Anomaly {
        name: Some(name),
        allowed,
        ops,
        steps: cycle
            .iter()
            .map(|e| Step {
                wr: e.wr,
                key: e.key,
                value: e.value,
                value2: (!e.wr).then_some(e.value2),
            })
            .collect(),
        ..Anomaly::default()
    }
}

/// The shortest cycle through a component's first node.
fn witness(g: &Graph, comp: &[u32]) -> Option<Vec<Edge>> {
    let within: Set<u32> = comp.iter().copied().collect();
    g.path(comp[0], comp[0], &within)
}

fn edges(cx: &Ctx) -> Vec<Edge> {
    let h = cx.h;
    let node = |op: u32| {
        let o = &h.ops[op as usize];
        matches!(o.kind, Type::Ok | Type::Info) && matches!(o.f, F::Send | F::Poll | F::Txn)
    };
    let mut out = Vec::new();
    for &k in &cx.keys {
        for w in cx.orders[&k].by_index.windows(2) {
            let (a, b) = (cx.writer.get(&(k, w[0])), cx.writer.get(&(k, w[1])));
            if let (Some(&a), Some(&b)) = (a, b)
                && a != b
                && node(a)
                && node(b)
            {
                out.push(Edge {
                    from: a,
                    to: b,
                    wr: false,
                    key: k,
                    value: w[0],
                    value2: w[1],
                });
            }
        }
    }
    for (i, op) in h.ops.iter().enumerate() {
        // A reader that sends nothing has no edge out: no cycle runs
        // through it, so its reads are left out (most of a queue
        // workload's edges).
        if !node(i as u32) || h.sends(op).is_empty() {
            continue;
        }
        for m in h.reads(op) {
            if let Some(&w) = cx.writer.get(&(m.key, m.value))
                && w != i as u32
                && node(w)
            {
                out.push(Edge {
                    from: w,
                    to: i as u32,
                    wr: true,
                    key: m.key,
                    value: m.value,
                    value2: m.value,
                });
            }
        }
    }
    out
}

/// Find G0 and G1c.
pub(super) fn find(cx: &Ctx, read_uncommitted: bool, out: &mut Vec<Anomaly>) {
    let n = cx.h.ops.len();
    let all = edges(cx);
    if all.is_empty() {
        return;
    }
    // One graph at a time: the write order, the reads, then both.
    let ww = Graph::new(n, all.iter().filter(|e| !e.wr).copied().collect());
    for comp in ww.components() {
        if let Some(c) = witness(&ww, &comp) {
            out.push(cycle_anomaly(Name::G0, true, &c));
        }
    }
    drop(ww);
    let mut pure: Set<u32> = Set::default();
    let wr = Graph::new(n, all.iter().filter(|e| e.wr).copied().collect());
    for comp in wr.components() {
        if let Some(c) = witness(&wr, &comp) {
            out.push(cycle_anomaly(Name::G1c, read_uncommitted, &c));
        }
        pure.extend(comp);
    }
    drop(wr);
    let full = Graph::new(n, all);
    for comp in full.components() {
        if comp.iter().any(|v| pure.contains(v)) {
            continue;
        }
        let within: Set<u32> = comp.iter().copied().collect();
        let first_wr = comp
            .iter()
            .flat_map(|&v| full.out(v))
            .find(|e| e.wr && within.contains(&e.to));
        if let Some(e) = first_wr
            && let Some(back) = full.path(e.to, e.from, &within)
        {
            let cycle: Vec<Edge> = std::iter::once(*e).chain(back).collect();
            out.push(cycle_anomaly(Name::G1c, true, &cycle));
        }
    }
}
