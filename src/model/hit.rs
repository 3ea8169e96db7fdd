//! What a fault struck: a crash that lands while a consumer holds no
//! uncommitted record tests nothing about redelivery, and a design that
//! passes because of it looks safer than it is. Each fault that fires gets
//! a line saying what it found (records in a producer's or consumer's
//! hands, partitions a broker led, messages a link fault dropped or
//! delayed) and whether that was nothing at all.
//!
//! Node faults are read from the model's state when they fire; link and
//! handler faults count what they struck while they lasted.

use super::World;
use super::network::NodeKind;
use crate::scenario::FaultKind;

use crate::outcome::FaultHit;

/// One node's share of what a node fault struck.
struct NodeHit {
    nothing: bool,
    what: String,
}

impl World {
    /// What a fault of `kind` on producer `p` strikes.
    fn producer_hit(&self, p: u32, name: &str, kind: FaultKind) -> NodeHit {
        let pr = &self.producers[p as usize];
        let queued: u64 = pr
            .parts
            .iter()
            .map(|pp| (pp.seq_events.len() as u64).saturating_sub(u64::from(pp.queued_from)))
            .sum();
        let sent: u64 = pr
            .live
            .iter()
            .map(|&r| u64::from(self.requests[r as usize].count))
            .sum();
        let unacked = queued + sent;
        if kind == FaultKind::ClockSkew {
            // It stamps what it creates meanwhile.
            return NodeHit {
                nothing: false,
                what: format!("{name}: the CreateTime of every record it creates is off"),
            };
        }
        NodeHit {
            // A pause also holds back what it produces meanwhile.
            nothing: unacked == 0 && kind != FaultKind::Pause,
            what: format!(
                "{name}: {unacked} record(s) not yet acknowledged ({sent} sent, {queued} waiting to be sent)"
            ),
        }
    }

    /// What a node fault finds on `n` as it fires (before it acts).
    fn node_hit(&self, n: u32, kind: FaultKind) -> NodeHit {
        let name = &self.catalog.nodes[n as usize];
        match self.node_kind(n) {
            NodeKind::Producer(p) => self.producer_hit(p, name, kind),
            NodeKind::Broker(b) => {
                let (mut led, mut followed, mut unflushed) = (0u64, 0u64, 0u64);
                for p in &self.cluster.parts {
                    let Some(r) = p.replicas.iter().position(|&x| x == b) else {
                        continue;
                    };
                    if r == p.leader && p.online {
                        led += 1;
                    } else {
                        followed += 1;
                    }
                    if self.cluster.disk.is_some() {
                        let log = &p.logs[r];
                        unflushed += log.leo().saturating_sub(log.flushed.max(log.start));
                    }
                }
                let mut what =
                    format!("{name}: leader of {led} partition(s), follower of {followed}");
                if kind == FaultKind::PowerLoss {
                    what += &format!(", {unflushed} record(s) not yet on disk");
                }
                NodeHit {
                    nothing: led + followed == 0,
                    what,
                }
            }
            NodeKind::Consumer(c) => {
                let cr = &self.consumers[c as usize];
                let grp = &self.groups[cr.group as usize];
                // Processed and not committed: applied again after a
                // redelivery. Committed and not processed: skipped
                // (auto-commit). Delivered and not processed: only delayed.
                let (mut applied, mut skipped, mut waiting) = (0u64, 0u64, 0u64);
                for cp in &cr.parts {
                    let idx = grp.part_index[cp.part as usize] as usize;
                    let committed = grp
                        .committed
                        .get(idx)
                        .copied()
                        .flatten()
                        .unwrap_or(cp.assigned_at);
                    applied += cp.processed.saturating_sub(committed);
                    skipped += committed.min(cp.position).saturating_sub(cp.processed);
                    waiting += cp.position.saturating_sub(cp.processed.max(committed));
                }
                let parts = cr.parts.len();
                NodeHit {
                    // A pause holds its partitions back (lag, expiry, an
                    // expulsion); a crash changes the fate only of records
                    // processed and not committed, or the reverse.
                    nothing: parts == 0 || (kind != FaultKind::Pause && applied + skipped == 0),
                    what: format!(
                        "{name}: {parts} partition(s) assigned; {applied} record(s) processed and not committed, {skipped} committed and not processed, {waiting} delivered and waiting"
                    ),
                }
            }
            NodeKind::Service(s) => {
                let sv = &self.sync.services[s as usize];
                let held = u64::from(sv.busy) + sv.queue.len() as u64;
                NodeHit {
                    nothing: held == 0 && kind != FaultKind::Pause,
                    what: format!(
                        "{name}: {held} request(s) in hand ({} queued)",
                        sv.queue.len()
                    ),
                }
            }
            NodeKind::Controller(_) => {
                let active = self.quorum.leader_node().is_some_and(|l| l.0 == n);
                NodeHit {
                    // A follower voter's loss matters only with others'.
                    nothing: false,
                    what: format!(
                        "{name}: {}",
                        if active {
                            "the active controller"
                        } else {
                            "a follower voter"
                        }
                    ),
                }
            }
        }
    }

    /// Note what fault `fault` finds as it fires: node faults what their
    /// nodes hold, partitions which brokers they cut off from the active
    /// controller; link and handler faults count as they strike
    /// (`FaultRt::struck`).
    pub(crate) fn note_hit(&mut self, fault: u32) {
        let rt = &self.faults[fault as usize];
        let kind = rt.spec.kind;
        if kind == FaultKind::Partition {
            let (a, b) = rt.sides.as_ref().expect("link fault has sides");
            let apart = |x: u32, y: u32| {
                let (x, y) = (x as usize, y as usize);
                (a[x] && b[y]) || (b[x] && a[y])
            };
            // Sessions no message carries here: brokers' with the active
            // controller, voters' with it, group members' with their
            // coordinator. Cutting one fences, elects or expels.
            let mut cut = 0u32;
            if let Some(c) = self.quorum.leader_node() {
                cut += (0..self.cluster.brokers.len() as u32)
                    .filter(|&br| apart(self.net.broker(br).0, c.0))
                    .count() as u32;
                cut += self
                    .catalog
                    .voters
                    .iter()
                    .filter(|&&v| apart(v, c.0))
                    .count() as u32;
            }
            for g in 0..self.groups.len() as u32 {
                if let Some(co) = self.coordinator(g) {
                    let co = self.net.broker(co).0;
                    cut += self.groups[g as usize]
                        .members
                        .iter()
                        .filter(|&&m| apart(self.consumers[m as usize].node.0, co))
                        .count() as u32;
                }
            }
            self.faults[fault as usize].cut = cut;
            return;
        }
        let nodes: Vec<u32> = match kind {
            FaultKind::PowerLoss => rt.nodes.clone(),
            FaultKind::Crash
            | FaultKind::Pause
            | FaultKind::DiskFailure
            | FaultKind::SlowDisk
            | FaultKind::ClockSkew => rt.node.into_iter().collect(),
            _ => return,
        };
        let hits: Vec<NodeHit> = nodes.iter().map(|&n| self.node_hit(n, kind)).collect();
        let struck = hits.iter().filter(|h| !h.nothing).count();
        let mut what: Vec<String> = hits
            .iter()
            .filter(|h| !h.nothing)
            .take(3)
            .map(|h| h.what.clone())
            .collect();
        if struck > 3 {
            what.push(format!("{} more node(s) holding something", struck - 3));
        }
        if what.is_empty() {
            what = hits.iter().take(1).map(|h| h.what.clone()).collect();
            if hits.len() > 1 {
                what.push(format!("{} more node(s) holding nothing", hits.len() - 1));
            }
        }
        self.faults[fault as usize].hit = Some(FaultHit {
            nothing: struck == 0,
            what: what.join("; "),
        });
    }

    /// What each fault struck, by fault index (`None`: it never fired).
    pub(crate) fn fault_hits(&self) -> Vec<Option<FaultHit>> {
        let mut fired = vec![false; self.faults.len()];
        for r in &self.fault_log {
            fired[r.fault as usize] = true;
        }
        let mut out = Vec::with_capacity(self.faults.len());
        for (f, rt) in self.faults.iter().enumerate() {
            if !fired[f] || rt.hit.is_some() {
                out.push(rt.hit.clone().filter(|_| fired[f]));
                continue;
            }
            let mut n = rt.struck;
            if let Some(lf) = self.net.active.iter().find(|lf| lf.fault == f as u32) {
                n += lf.struck;
            }
            let what = match rt.spec.kind {
                FaultKind::Partition => format!("{n} message(s) dropped"),
                FaultKind::LatencySpike => format!("{n} message(s) delayed"),
                FaultKind::Reorder => format!("{n} message(s) held back"),
                FaultKind::Duplicate => format!("{n} message(s) delivered twice"),
                FaultKind::HandlerErrors | FaultKind::Poison => {
                    format!("{n} handler attempt(s) failed")
                }
                _ => String::new(),
            };
            let cut = rt.cut;
            let what = if cut > 0 {
                format!(
                    "{what}; {cut} session(s) cut (brokers or voters from the active controller, consumers from their group coordinator)"
                )
            } else {
                what
            };
            out.push(Some(FaultHit {
                nothing: n == 0 && cut == 0,
                what,
            }));
        }
        out
    }
}
