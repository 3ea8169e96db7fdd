//! The disk under each replica's log: what is fsynced, what sits in the
//! page cache, and what a power loss takes.
//!
//! Kafka acknowledges a write once it is in the page cache of the replicas
//! (in the ISR, with `acks = all`) and does not fsync by default
//! (`flush.messages`, `flush.ms` and `log.flush.interval.*` are unset): it
//! relies on replication, and on the OS writing dirty pages back. A
//! process crash keeps the page cache, so it loses nothing written; a
//! power loss takes every page not yet on disk, and the broker recovers
//! its log to what was flushed.
//!
//! A replica log keeps its flushed prefix (`ReplicaLog::flushed`): an
//! fsync (`flush_messages` records unflushed, or every `flush_ms`) moves
//! it to the log end; the OS writes back what was appended
//! `dirty_page_expiry` ago (one checkpoint of the log end a second). All
//! of it is kept only when the run has a power-loss fault (`Cluster::disk`),
//! so other runs pay one `is_some` test per append and per tick.

use super::World;
use super::broker::is_record;
use super::broker::{Cluster, ReplicaLog};
use super::network::NodeKind;
use crate::history::{EventId, Observation};
use crate::kernel::Time;

/// A writeback checkpoint every so many ticks (1 s).
const CHECKPOINT_TICKS: u64 = 10;

impl ReplicaLog {
    /// After an append: fsync once `n` records or more are unflushed.
    pub(crate) fn flush_if(&mut self, n: u64) {
        if self.leo().saturating_sub(self.flushed) >= n {
            self.flushed = self.leo();
        }
    }

    /// The OS has written back what was appended by `now - expiry`.
    pub(crate) fn write_back(&mut self, now: Time, expiry: Time) {
        while let Some(&(t, end)) = self.writeback.front() {
            if now.saturating_sub(t) < expiry {
                break;
            }
            self.flushed = self.flushed.max(end.min(self.leo()));
            self.writeback.pop_front();
        }
    }

    /// One disk tick: the OS writeback, an fsync every `flush_ns`, and
    /// (with `checkpoint`) a note of the log end for a later writeback.
    pub(crate) fn disk_tick(
        &mut self,
        now: Time,
        expiry: Time,
        flush_ns: Option<Time>,
        checkpoint: bool,
    ) {
        self.write_back(now, expiry);
        if let Some(every) = flush_ns
            && now.saturating_sub(self.last_flush_ns) >= every
        {
            self.flushed = self.leo();
            self.last_flush_ns = now;
        }
        if checkpoint && self.leo() > self.flushed {
            self.writeback.push_back((now, self.leo()));
        }
    }

    /// The page cache is gone: the log keeps what was on disk. Returns
    /// the records it lost, with their offsets.
    pub(crate) fn lose_page_cache(&mut self, now: Time, expiry: Time) -> Vec<(u64, EventId)> {
        self.write_back(now, expiry);
        let keep = self.flushed.max(self.start);
        self.cut_to(keep)
    }

    /// The disk is gone: nothing is left of the log (its start offset
    /// stays, so a restarted follower fetches from the leader's start).
    pub(crate) fn lose_disk(&mut self) -> Vec<(u64, EventId)> {
        let start = self.start;
        self.cut_to(start)
    }

    /// Keep the log below `keep`; what it held from there, by offset.
    fn cut_to(&mut self, keep: u64) -> Vec<(u64, EventId)> {
        let lost = (keep..self.leo())
            .map(|o| (o, self.get(o)))
            .filter(|&(_, e)| is_record(e))
            .collect();
        while self.leo() > keep {
            self.entries.pop_back();
        }
        self.writeback.clear();
        self.flushed = self.leo();
        self.known_leo = self.leo();
        lost
    }
}

impl Cluster {
    /// A replica appended: fsync if its topic says so.
    pub(crate) fn flush_on_append(&mut self, part: u32, r: usize) {
        let p = &mut self.parts[part as usize];
        if let Some(n) = p.flush_messages {
            p.logs[r].flush_if(n);
        }
    }
}

impl World {
    /// Every tick of a run with a power-loss fault: writeback and timed
    /// fsyncs of every replica log.
    pub(crate) fn disk_tick(&mut self) {
        let Some(disk) = &self.cluster.disk else {
            return;
        };
        let now = self.kernel.now();
        let expiry = disk.dirty_expiry_ns;
        let checkpoint = self.ticks.is_multiple_of(CHECKPOINT_TICKS);
        for p in &mut self.cluster.parts {
            let every = p.flush_ns;
            for log in &mut p.logs {
                log.disk_tick(now, expiry, every, checkpoint);
            }
        }
    }

    /// Node `n` loses power: a broker's logs fall back to what was on
    /// disk, then the node crashes like any other. A record no replica
    /// kept is gone from the partition (`Truncated`); the next election
    /// records the cut for consumers (KIP-320) and producers' sequences.
    pub(crate) fn power_off(&mut self, n: u32) {
        if let (NodeKind::Broker(b), Some(disk)) = (self.node_kind(n), &self.cluster.disk) {
            let now = self.kernel.now();
            let expiry = disk.dirty_expiry_ns;
            self.lose_logs(b, |log| log.lose_page_cache(now, expiry));
        }
        self.crash(n);
    }

    /// Broker node `n`'s log directory fails: it stops, and every log it
    /// held is gone; after its restart it copies its replicas back from
    /// the leaders (and rejoins each ISR once caught up).
    pub(crate) fn disk_failed(&mut self, n: u32) {
        if let NodeKind::Broker(b) = self.node_kind(n) {
            self.lose_logs(b, ReplicaLog::lose_disk);
            self.cluster.brokers[b as usize].disk_replaced = true;
        }
        self.crash(n);
    }

    /// Broker `b`'s replica logs each lose what `lose` takes; a record no
    /// replica kept is gone from its partition (`Truncated`), and the
    /// next election records the cut for consumers (KIP-320) and
    /// producers' sequences.
    fn lose_logs(&mut self, b: u32, mut lose: impl FnMut(&mut ReplicaLog) -> Vec<(u64, EventId)>) {
        {
            let mut gone_all: Vec<(EventId, u32, u64)> = Vec::new();
            for part in 0..self.cluster.parts.len() as u32 {
                let p = &mut self.cluster.parts[part as usize];
                let Some(r) = p.replicas.iter().position(|&x| x == b) else {
                    continue;
                };
                if r == p.leader && p.leader_cut_end.is_none() {
                    p.leader_cut_end = Some(p.logs[r].leo());
                }
                let lost = lose(&mut p.logs[r]);
                let kept_elsewhere = |o: u64, e: EventId| {
                    p.logs.iter().enumerate().any(|(q, log)| {
                        q != r && o >= log.start && o < log.leo() && log.get(o) == e
                    })
                };
                let gone: Vec<(u64, EventId)> = lost
                    .into_iter()
                    .filter(|&(o, e)| !kept_elsewhere(o, e))
                    .collect();
                if let Some(&(first, _)) = gone.first() {
                    p.power_lost_from = Some(p.power_lost_from.map_or(first, |f| f.min(first)));
                }
                gone_all.extend(gone.into_iter().map(|(o, e)| (e, part, o)));
            }
            for (event, partition, offset) in gone_all {
                self.observe(Observation::Truncated {
                    event,
                    partition,
                    offset,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(n: u32) -> ReplicaLog {
        let mut l = ReplicaLog::default();
        l.entries.extend(0..n);
        l
    }

    #[test]
    fn flush_messages_fsyncs_once_enough_records_are_unflushed() {
        let mut l = log(3);
        l.flush_if(5);
        assert_eq!(l.flushed, 0);
        l.entries.extend(3..5);
        l.flush_if(5);
        assert_eq!(l.flushed, 5);
        l.entries.push_back(5);
        l.flush_if(1);
        assert_eq!(l.flushed, 6);
    }

    #[test]
    fn the_os_writes_back_what_was_appended_an_expiry_ago() {
        let mut l = log(10);
        l.disk_tick(1_000, 30_000, None, true);
        l.entries.extend(10..20);
        l.disk_tick(2_000, 30_000, None, true);
        l.disk_tick(30_999, 30_000, None, false);
        assert_eq!(l.flushed, 0);
        l.disk_tick(31_000, 30_000, None, false);
        assert_eq!(l.flushed, 10);
        // A power loss keeps the first 10 records at 31 s.
        let lost = l.lose_page_cache(31_500, 30_000);
        assert_eq!(lost.len(), 10);
        assert_eq!(lost[0], (10, 10));
        assert_eq!(l.leo(), 10);
    }

    #[test]
    fn flush_ms_fsyncs_on_its_period() {
        let mut l = log(4);
        l.disk_tick(50, 1_000_000, Some(100), false);
        assert_eq!(l.flushed, 0);
        l.disk_tick(100, 1_000_000, Some(100), false);
        assert_eq!(l.flushed, 4);
        assert!(l.lose_page_cache(150, 1_000_000).is_empty());
    }
}
