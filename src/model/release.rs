//! Releasing what the run can no longer reach, so that memory follows the
//! live state (records not yet read by every group, requests in flight,
//! batches in consumers' hands) rather than the run's length.
//!
//! Every so often (when the event records held have doubled since the
//! last pass, and at least [`RELEASE_MIN`] were added), one pass:
//!
//! 1. trims each partition's replica logs below its *floor*: the lowest
//!    offset any reader may still fetch (each reading group's committed
//!    offset, the positions of the consumers holding the partition, a
//!    KIP-320 divergence point a consumer has not seen yet), never above
//!    the high watermark nor above any replica's log end, so what is
//!    trimmed is the same on every replica and no election can cut below
//!    it. Trimming moves the log start offset, which no reader can observe:
//!    every reader is at or past it. Compacted topics are left whole.
//! 2. trims each producer's sequence-to-event table below its oldest
//!    sequence still queued or in a request that is not done with.
//! 3. releases the event records that no log, consumer, producer or
//!    transaction still holds: all of them below a cut, except the few
//!    held there, which are set aside (so a slow partition's old records
//!    do not pin every later record), and tells the groups' dedup sets,
//!    the metrics and every observer (the checkers) that no observation
//!    will name an event below the lowest one held again
//!    (`Observer::released`), so their per-event bits go too.
//!
//! The pass reads the live state only, so its cost, spread over the
//! events added since the last one, is constant per event. Nothing it
//! does changes what the run does: a run's outputs are the same with it.

use super::World;
use super::broker::COMPACTED;
use super::broker::is_record;
use super::producer::ReqState;
use crate::history::{EventId, Observer};
use crate::scenario::OffsetReset;

/// Fewest event records added between two passes.
pub(crate) const RELEASE_MIN: usize = 1 << 16;

impl World {
    /// Trim logs and sequence tables, release unreachable event records.
    pub(crate) fn release(&mut self) {
        self.trim_logs();
        self.trim_sequences();
        let held = self.held_events();
        let floor = held.first().copied().unwrap_or(self.events.len());
        let cut = self.events_cut(&held);
        self.events.release_except(cut, &held);
        // No observation will name an event below the floor again: the
        // per-event sets of the groups, metrics and checkers may let go.
        let below = floor as EventId;
        for g in &mut self.groups {
            g.dedup.release_below(below);
        }
        self.metrics.released(below);
        if let Some(c) = &mut self.checks {
            c.released(below);
        }
        for o in &mut self.observers {
            o.released(below);
        }
        let live = self.events.live();
        self.release_at = live + live.max(self.release_min);
    }

    /// The lowest offset of each partition that a reader may still fetch,
    /// bounded by the high watermark and every replica's log end (`0`:
    /// keep everything).
    fn log_floors(&self) -> Vec<u64> {
        let mut floor: Vec<u64> = (self.cluster.parts.iter())
            .map(|p| {
                if p.compaction.is_some() || !p.online {
                    0
                } else {
                    p.logs.iter().map(|l| l.leo()).fold(p.hw, u64::min)
                }
            })
            .collect();
        // The oldest leader epoch a reader of each partition may fetch
        // with: a divergence recorded after it may still rewind it.
        let mut oldest_epoch: Vec<u32> = vec![u32::MAX; self.cluster.parts.len()];
        for grp in &self.groups {
            for (idx, &part) in grp.parts.iter().enumerate() {
                let part = part as usize;
                match grp.committed[idx] {
                    Some(offset) => {
                        floor[part] = floor[part].min(offset);
                        oldest_epoch[part] = oldest_epoch[part].min(grp.committed_epoch[idx]);
                    }
                    // Not committed yet: an `earliest` reader starts from
                    // the log start; a `latest` one where its consumer
                    // started (below).
                    None if grp.auto_offset_reset == OffsetReset::Earliest => floor[part] = 0,
                    None => {}
                }
            }
        }
        for c in &self.consumers {
            let grp = &self.groups[c.group as usize];
            for cp in &c.parts {
                let part = cp.part as usize;
                floor[part] = floor[part].min(cp.processed).min(cp.position);
                // An aborted transaction rewinds to the committed offset,
                // or without one to where the assignment started.
                let idx = grp.part_index[part] as usize;
                if grp.committed.get(idx).is_some_and(|c| c.is_none()) {
                    floor[part] = floor[part].min(cp.assigned_at);
                }
                oldest_epoch[part] = oldest_epoch[part].min(cp.fetched_epoch);
            }
        }
        for (part, p) in self.cluster.parts.iter().enumerate() {
            for &(epoch, offset) in &p.truncations {
                if epoch > oldest_epoch[part] {
                    floor[part] = floor[part].min(offset);
                }
            }
        }
        floor
    }

    /// Drop every replica's records below its partition's floor.
    fn trim_logs(&mut self) {
        let floor = self.log_floors();
        for (p, &floor) in self.cluster.parts.iter_mut().zip(&floor) {
            for log in &mut p.logs {
                if floor > log.start {
                    let n = (floor - log.start).min(log.entries.len() as u64);
                    log.entries.drain(..n as usize);
                    log.start += n;
                }
            }
        }
    }

    /// Drop each producer's sequences below the oldest one still queued or
    /// in a request that is not done with (a resolved request whose copy is
    /// still on the wire may yet be appended).
    fn trim_sequences(&mut self) {
        let mut floor: Vec<Vec<u32>> = self
            .producers
            .iter()
            .map(|p| p.parts.iter().map(|pp| pp.queued_from).collect())
            .collect();
        for r in &self.requests {
            if r.state != ReqState::Free {
                let first = self.producers[r.producer as usize].first_part;
                let f = &mut floor[r.producer as usize][(r.part - first) as usize];
                *f = (*f).min(r.first_seq);
            }
        }
        for (p, floors) in self.producers.iter_mut().zip(floor) {
            for (pp, f) in p.parts.iter_mut().zip(floors) {
                pp.seq_events.release_below(f as usize);
            }
        }
    }

    /// Where to cut the event records: everything held below the cut is
    /// set aside (a hash map entry, about twice a record in the window),
    /// everything above stays in the window, held or not. The cut that
    /// costs least: usually far past the lowest id held when one slow
    /// partition holds a few old records (a hot key's consumer falling
    /// behind must not pin every later record of every partition).
    fn events_cut(&self, held: &[usize]) -> usize {
        let len = self.events.len();
        if self.release_aside_all {
            return len;
        }
        let mut best = (usize::MAX, len);
        for j in 0..=held.len() {
            let cut = held.get(j).copied().unwrap_or(len);
            let cost = (len - cut).saturating_add(2 * j);
            if cost < best.0 {
                best = (cost, cut);
            }
        }
        best.1
    }

    /// Every event id the model still holds anywhere, ascending, once each.
    fn held_events(&self) -> Vec<usize> {
        let mut held: Vec<usize> = Vec::new();
        let mut hold = |e: EventId| {
            if is_record(e) && e != COMPACTED {
                held.push(e as usize);
            }
        };
        for p in &self.cluster.parts {
            for log in &p.logs {
                log.entries.iter().for_each(|&e| hold(e));
            }
        }
        for c in &self.consumers {
            for cp in &c.parts {
                cp.buffer.iter().for_each(|&(_, e)| hold(e));
                cp.inflight.iter().for_each(|&(_, e)| hold(e));
            }
            c.batch.iter().for_each(|&(_, _, e)| hold(e));
            if let Some(cur) = c.current {
                hold(cur.event);
            }
        }
        for p in &self.producers {
            for pp in &p.parts {
                pp.seq_events.iter().for_each(|&e| hold(e));
            }
            if let Some(t) = &p.txn {
                t.events.iter().for_each(|&(e, _)| hold(e));
                t.next.iter().for_each(|&(e, _)| hold(e));
                t.offsets
                    .iter()
                    .chain(&t.next_offsets)
                    .filter_map(|i| i.effect)
                    .for_each(&mut hold);
            }
        }
        held.sort_unstable();
        held.dedup();
        held
    }
}
