//! What each group had not finished when the run stopped: the records in
//! its partitions' logs, up to what it may read (the high watermark, or
//! the last stable offset under `read_committed`), that it had not
//! processed. Latency percentiles count only what finished; these sit
//! beside them so that a run cut short, or a design that cannot keep up,
//! cannot hide its slowest events.

use super::World;
use super::broker::is_record;
use crate::kernel::Time;
use crate::outcome::Unfinished;
use crate::scenario::{Isolation, OffsetReset};

impl World {
    /// Per group: its unfinished records and the oldest one's creation.
    pub(crate) fn unfinished(&self) -> Vec<Unfinished> {
        (0..self.groups.len())
            .map(|g| self.group_unfinished(g))
            .collect()
    }

    fn group_unfinished(&self, g: usize) -> Unfinished {
        let grp = &self.groups[g];
        let now = self.now();
        let mut out = Unfinished::default();
        for (idx, &part) in grp.parts.iter().enumerate() {
            let p = &self.cluster.parts[part as usize];
            let log = p.leader_log();
            let end = p.readable_end(grp.isolation);
            // Where the group is: its owner's processed offset, else what
            // it committed, else where it would start.
            let owned = grp.owner[idx].and_then(|c| {
                let c = &self.consumers[c as usize];
                c.idx(part).map(|i| c.parts[i].processed)
            });
            let from = match (owned, grp.committed[idx], grp.auto_offset_reset) {
                (Some(at), _, _) | (None, Some(at), _) => at,
                (None, None, OffsetReset::Earliest) => log.start,
                (None, None, OffsetReset::Latest | OffsetReset::None) => end,
            };
            let read_committed = grp.isolation == Isolation::ReadCommitted;
            for offset in from.max(log.start)..end.min(log.leo()) {
                let event = log.get(offset);
                if !is_record(event) {
                    continue;
                }
                let meta = &self.events[event as usize];
                if read_committed && p.aborted(u32::from(meta.producer), offset) {
                    continue;
                }
                out.events += 1;
                let created: Time = meta.created_ns;
                if self.unfinished_ages {
                    out.ages.record(now.saturating_sub(created));
                }
                out.oldest_created_ns =
                    Some(out.oldest_created_ns.map_or(created, |o| o.min(created)));
            }
        }
        out
    }
}
