//! Time series of a run, sampled at a fixed simulated interval: append,
//! produce and apply rates, consumer lag per partition (events) and per
//! group (events and time), events in flight, ISR sizes, node states and
//! end-to-end latency percentiles per interval.
//!
//! An observer of the history like the metrics. Memory is bounded by the
//! number of series times `max_points`: when a series would grow past it,
//! the interval doubles and every series merges its points pairwise, so a
//! long run keeps its whole span at a coarser grain.
//!
//! Per-partition series stay bounded too: a group reading more than
//! `partition_series` partitions gets the distribution of lag across its
//! partitions (min, p50, p99, max per interval) and a lag series for only
//! the `partition_series` partitions with the highest lag; a topic with
//! more partitions than that gets its smallest ISR and its count of
//! under-replicated partitions instead of an ISR series per partition, and
//! a group with more consumers than that, its count of consumers down
//! instead of a state series per consumer; with more producers than that
//! (a transactional producer per consumer of a large group), the first
//! `partition_series` producers get their own `produce_rate` and
//! `in_flight` series and the others one summed series, labelled `N
//! others`.

use crate::history::{Catalog, Observation, Observer};
use crate::kernel::Time;
use std::collections::VecDeque;

/// Each topic's partitions (global indices), in order.
fn partitions_by_topic(catalog: &Catalog) -> Vec<Vec<u32>> {
    let mut per_topic = vec![Vec::new(); catalog.topics.len()];
    for (p, &(t, _)) in catalog.partitions.iter().enumerate() {
        per_topic[t as usize].push(p as u32);
    }
    per_topic
}

/// The labels of the producers' series: the first `shown` producers,
/// then, if there are more, one summing the rest (`N others`).
fn producer_labels(catalog: &Catalog, shown: usize) -> Vec<String> {
    let producers = &catalog.producers;
    let shown = producers.len().min(shown);
    let mut labels = producers[..shown].to_vec();
    if producers.len() > shown {
        labels.push(format!("{} others", producers.len() - shown));
    }
    labels
}

/// End-to-end latencies of the events one group applied in the current
/// interval, for exact (nearest-rank) p50 and p99. Cheaper than a histogram
/// that must be cleared every interval; memory is bounded by keeping every
/// `stride`-th sample once `SAMPLE_CAP` are held (deterministic thinning).
#[derive(Default)]
struct IntervalLatency {
    samples: Vec<u64>,
    stride: u32,
    skipped: u32,
}

const SAMPLE_CAP: usize = 1 << 20;

impl IntervalLatency {
    #[inline]
    fn record(&mut self, v: u64) {
        if self.stride > 1 {
            self.skipped += 1;
            if self.skipped < self.stride {
                return;
            }
            self.skipped = 0;
        }
        if self.samples.len() == SAMPLE_CAP {
            let mut i = 0;
            self.samples.retain(|_| {
                i += 1;
                i % 2 == 0
            });
            self.stride = self.stride.max(1) * 2;
        }
        self.samples.push(v);
    }

    /// (p50, p99) of the interval, (0, 0) if nothing was applied; clears.
    fn take_p50_p99(&mut self) -> (u64, u64) {
        let n = self.samples.len();
        if n == 0 {
            return (0, 0);
        }
        let rank = |q: f64| ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
        let (i50, i99) = (rank(0.5), rank(0.99));
        let (_, &mut p50, above) = self.samples.select_nth_unstable(i50);
        let p99 = if i99 == i50 {
            p50
        } else {
            *above.select_nth_unstable(i99 - i50 - 1).1
        };
        self.samples.clear();
        self.stride = 0;
        self.skipped = 0;
        (p50, p99)
    }
}

/// One named series of (interval end, value) points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub metric: &'static str,
    pub label: String,
    pub points: Vec<(Time, f64)>,
    /// How points merge when the interval doubles: rates and percentiles
    /// average, gauges keep the larger (a lag peak must survive).
    merge_max: bool,
}

/// A partition among a large group's highest-lag ones: its lag series
/// from the interval it entered that set.
struct Watched {
    part: u32,
    /// The largest lag it had while watched.
    peak: u64,
    points: Vec<(Time, f64)>,
}

/// Lag of a group that reads more than `partition_series` partitions.
struct LargeGroup {
    /// At most `partition_series`, by partition.
    watched: Vec<Watched>,
    /// (lag, partition) of the active partitions this interval (reused);
    /// the group's other partitions have lag 0.
    scratch: Vec<(u64, u32)>,
    /// Partitions that may have lag or unpolled records: every partition
    /// whose high watermark moved, or whose position or commit was set,
    /// since the last interval found it at zero. A sample visits these
    /// only, so its cost follows the partitions with traffic, not the
    /// partition count.
    active: Vec<u32>,
    /// Per partition of the run: whether it is in `active`.
    is_active: Vec<bool>,
    /// How many partitions the group reads.
    reads: usize,
}

impl LargeGroup {
    fn new(parts: usize, reads: usize) -> LargeGroup {
        LargeGroup {
            watched: Vec::new(),
            scratch: Vec::new(),
            active: Vec::new(),
            is_active: vec![false; parts],
            reads,
        }
    }

    #[inline]
    fn touch(&mut self, p: u32) {
        let a = &mut self.is_active[p as usize];
        if !*a {
            *a = true;
            self.active.push(p);
        }
    }
}

/// The time series of a run.
pub struct TimeSeries {
    pub interval_ns: Time,
    max_points: usize,
    next_ns: Time,
    pub series: Vec<Series>,
    // Counters of the current interval.
    appended: Vec<u64>,
    produced: Vec<u64>,
    applied: Vec<u64>,
    latency: Vec<IntervalLatency>,
    // Gauges.
    groups: usize,
    parts: usize,
    part_topic: Vec<u32>,
    /// Per partition: the high watermark (what consumers can read).
    hw: Vec<u64>,
    /// Per (group, partition): next offset the group will be delivered; None if it does not read it.
    next: Vec<Option<u64>>,
    /// Per partition: the groups that read it.
    readers: Vec<Vec<u32>>,
    /// Some group reads more than `partition_series` partitions.
    any_large: bool,
    /// Partitions whose commits moved this interval, and per partition
    /// whether it is listed.
    commits: Vec<u32>,
    commit_moved: Vec<bool>,
    /// Per (group, partition): the committed offset (before the first
    /// commit, where the group starts: its assignment, else 0 for an
    /// `earliest` group); None while unknown or not subscribed.
    committed: Vec<Option<u64>>,
    /// Per partition: (offset, append time) of records some group has not committed.
    appends: Vec<VecDeque<(u64, Time)>>,
    in_flight: Vec<i64>,
    isr: Vec<u32>,
    /// Per partition: its replication factor (a full ISR).
    replication: Vec<u32>,
    node_state: Vec<u8>,
    /// Per node: its `node_state` series, or None if it is a consumer of
    /// a group with more than `partition_series` consumers...
    node_series: Vec<Option<usize>>,
    /// ...whose consumers down are counted instead: the group's number
    /// among those groups.
    node_crowd: Vec<Option<u32>>,
    /// Per such group: consumers not up (crashed or paused).
    down: Vec<u32>,
    s_down: usize,
    // Series indices.
    s_append: usize,
    s_produce: usize,
    s_apply: usize,
    s_lag: usize,
    s_lag_group: usize,
    s_lag_time: usize,
    s_unpolled: usize,
    s_in_flight: usize,
    s_isr: usize,
    s_node: usize,
    s_p50: usize,
    s_p99: usize,
    /// The largest lag each group had, in events.
    pub max_lag: Vec<u64>,
    /// Each group's lag at the last sample (after [`TimeSeries::finish`]:
    /// at the run's end), in events.
    pub end_lag: Vec<u64>,
    /// Each group's records not yet delivered at the last sample.
    pub end_unread: Vec<u64>,
    /// Per group: its lag watch, if it reads more than `partition_series`
    /// partitions (its series base in `s_lag_dist`).
    large: Vec<Option<LargeGroup>>,
    partition_series: usize,
    s_lag_dist: usize,
    /// Per partition: its ISR series, or None if its topic is large.
    isr_series: Vec<Option<usize>>,
    /// Large topics: (topic, partitions) and their series.
    large_topics: Vec<(u32, Vec<u32>)>,
    s_isr_topic: usize,
    part_names: Vec<String>,
    group_names: Vec<String>,
    /// Per group: the partitions it reads, in the order of its topics.
    group_parts: Vec<Vec<u32>>,
}

impl TimeSeries {
    /// `earliest[g]`: group `g` starts from the log start (its lag counts
    /// the whole log before it first joins).
    pub fn new(
        catalog: &Catalog,
        earliest: &[bool],
        interval_ns: Time,
        max_points: usize,
        partition_series: usize,
    ) -> TimeSeries {
        let groups = catalog.groups.len();
        let parts = catalog.partitions.len();
        let mut series = Vec::new();
        let mut add = |metric: &'static str, labels: Vec<String>, merge_max: bool| {
            let first = series.len();
            for label in labels {
                series.push(Series {
                    metric,
                    label,
                    points: Vec::new(),
                    merge_max,
                });
            }
            first
        };
        let part_names: Vec<String> = (0..parts as u32)
            .map(|p| catalog.partition_name(p))
            .collect();
        let s_append = add("append_rate", catalog.topics.clone(), false);
        let producer_labels = producer_labels(catalog, partition_series);
        let s_produce = add("produce_rate", producer_labels.clone(), false);
        let s_apply = add("apply_rate", catalog.groups.clone(), false);
        let mut lag_labels = Vec::new();
        let mut next = vec![None; groups * parts];
        let mut committed = vec![None; groups * parts];
        let mut large = Vec::new();
        let mut readers: Vec<Vec<u32>> = vec![Vec::new(); parts];
        for (g, gp) in catalog.group_partitions.iter().enumerate() {
            let is_large = gp.len() > partition_series;
            large.push(is_large.then(|| LargeGroup::new(parts, gp.len())));
            for &p in gp {
                readers[p as usize].push(g as u32);
            }
            for &p in gp {
                if !is_large {
                    lag_labels.push(format!("{}/{}", catalog.groups[g], part_names[p as usize]));
                }
                next[g * parts + p as usize] = Some(0);
                if earliest.get(g).copied().unwrap_or(false) {
                    committed[g * parts + p as usize] = Some(0);
                }
            }
        }
        let s_lag = add("lag_events", lag_labels, true);
        let s_lag_group = add("group_lag_events", catalog.groups.clone(), true);
        let s_lag_time = add("group_lag_time_ns", catalog.groups.clone(), true);
        let s_unpolled = add("group_unpolled_events", catalog.groups.clone(), true);
        let s_in_flight = add("in_flight", producer_labels, true);
        let per_topic = partitions_by_topic(catalog);
        let mut isr_series = vec![None; parts];
        let mut isr_labels = Vec::new();
        let mut large_topics = Vec::new();
        for (t, ps) in per_topic.into_iter().enumerate() {
            if ps.len() > partition_series {
                large_topics.push((t as u32, ps));
            } else {
                for p in ps {
                    isr_series[p as usize] = Some(isr_labels.len());
                    isr_labels.push(part_names[p as usize].clone());
                }
            }
        }
        let s_isr = add("isr", isr_labels, false);
        let large_groups: Vec<String> = (0..groups)
            .filter(|&g| large[g].is_some())
            .map(|g| catalog.groups[g].clone())
            .collect();
        let s_lag_dist = add("lag_events_min", large_groups.clone(), false);
        add("lag_events_p50", large_groups.clone(), false);
        add("lag_events_p99", large_groups.clone(), true);
        add("lag_events_max", large_groups, true);
        let topic_names: Vec<String> = large_topics
            .iter()
            .map(|(t, _)| catalog.topics[*t as usize].clone())
            .collect();
        let s_isr_topic = add("isr_min", topic_names.clone(), false);
        add("under_replicated_partitions", topic_names, true);
        // Consumers are the last nodes, in catalog order.
        let first_consumer = catalog.nodes.len().saturating_sub(catalog.consumers.len());
        let mut members = vec![0usize; groups];
        for &(g, _) in &catalog.consumers {
            members[g as usize] += 1;
        }
        let crowd: Vec<Option<u32>> = {
            let mut slot = 0;
            members
                .iter()
                .map(|&m| {
                    (m > partition_series).then(|| {
                        slot += 1;
                        slot - 1
                    })
                })
                .collect()
        };
        let node_crowd: Vec<Option<u32>> = (0..catalog.nodes.len())
            .map(|n| {
                let c = n.checked_sub(first_consumer)?;
                crowd[catalog.consumers[c].0 as usize]
            })
            .collect();
        let node_labels: Vec<String> = (0..catalog.nodes.len())
            .filter(|&n| node_crowd[n].is_none())
            .map(|n| catalog.nodes[n].clone())
            .collect();
        let mut node_series = vec![None; catalog.nodes.len()];
        let mut next_series = 0;
        for (n, s) in node_series.iter_mut().enumerate() {
            if node_crowd[n].is_none() {
                *s = Some(next_series);
                next_series += 1;
            }
        }
        let s_node = add("node_state", node_labels, true);
        let crowd_names: Vec<String> = (0..groups)
            .filter(|&g| crowd[g].is_some())
            .map(|g| catalog.groups[g].clone())
            .collect();
        let crowds = crowd_names.len();
        let s_down = add("consumers_down", crowd_names, true);
        let s_p50 = add("e2e_p50_ns", catalog.groups.clone(), false);
        let s_p99 = add("e2e_p99_ns", catalog.groups.clone(), true);
        TimeSeries {
            interval_ns: interval_ns.max(1),
            max_points: max_points.max(2),
            next_ns: interval_ns.max(1),
            series,
            appended: vec![0; catalog.topics.len()],
            produced: vec![0; catalog.producers.len()],
            applied: vec![0; groups],
            latency: (0..groups).map(|_| IntervalLatency::default()).collect(),
            groups,
            parts,
            part_topic: catalog.partitions.iter().map(|&(t, _)| t).collect(),
            hw: vec![0; parts],
            next,
            readers,
            any_large: large.iter().any(Option::is_some),
            commits: Vec::new(),
            commit_moved: vec![false; parts],
            committed,
            appends: vec![VecDeque::new(); parts],
            in_flight: vec![0; catalog.producers.len()],
            isr: catalog.replication.clone(),
            replication: catalog.replication.clone(),
            node_state: vec![0; catalog.nodes.len()],
            node_series,
            node_crowd,
            down: vec![0; crowds],
            s_down,
            s_append,
            s_produce,
            s_apply,
            s_lag,
            s_lag_group,
            s_lag_time,
            s_unpolled,
            s_in_flight,
            s_isr,
            s_node,
            s_p50,
            s_p99,
            max_lag: vec![0; groups],
            end_lag: vec![0; groups],
            end_unread: vec![0; groups],
            large,
            partition_series,
            s_lag_dist,
            isr_series,
            large_topics,
            s_isr_topic,
            part_names,
            group_names: catalog.groups.clone(),
            group_parts: catalog.group_partitions.clone(),
        }
    }

    /// Close every interval that ends at or before `at`.
    #[cold]
    #[inline(never)]
    fn advance(&mut self, at: Time) {
        while at >= self.next_ns {
            let end = self.next_ns;
            self.sample(end, self.interval_ns);
            self.next_ns += self.interval_ns;
        }
    }

    /// Close the last, partial interval at the end of the run; the lag
    /// series of large groups' watched partitions join the others.
    pub fn finish(&mut self, end_ns: Time) {
        self.advance(end_ns);
        let start = self.next_ns - self.interval_ns;
        if end_ns > start {
            self.sample(end_ns, end_ns - start);
        }
        for g in 0..self.groups {
            let Some(large) = self.large[g].take() else {
                continue;
            };
            for w in large.watched {
                self.series.push(Series {
                    metric: "lag_events",
                    label: format!(
                        "{}/{}",
                        self.group_names[g], self.part_names[w.part as usize]
                    ),
                    points: w.points,
                    merge_max: true,
                });
            }
        }
    }

    /// A large group's lag this interval: its distribution across the
    /// partitions, and the watched partitions' points. A partition joins
    /// the watched ones when its lag is among the interval's highest and
    /// above the smallest peak of those watched, which it then replaces.
    fn sample_large(&mut self, g: usize, t: Time, slot: usize) {
        let Some(large) = self.large[g].as_mut() else {
            return;
        };
        let k = self.partition_series;
        let n = large.scratch.len();
        // The group's partitions not in `scratch` have lag 0.
        let zeros = large.reads.saturating_sub(n);
        if large.reads == 0 {
            return;
        }
        // Highest lag first, ties by partition: the first k are the top.
        let order = |a: &(u64, u32), b: &(u64, u32)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        let top = k.min(n);
        if top < n {
            large.scratch.select_nth_unstable_by(top, order);
        }
        large.scratch[..top].sort_unstable_by(order);
        for &(lag, part) in &large.scratch[..top] {
            if lag == 0 || large.watched.iter().any(|w| w.part == part) {
                continue;
            }
            if large.watched.len() < k {
                large.watched.push(Watched {
                    part,
                    peak: 0,
                    points: Vec::new(),
                });
            } else if let Some(i) = (0..large.watched.len())
                .min_by_key(|&i| (large.watched[i].peak, u32::MAX - large.watched[i].part))
                .filter(|&i| lag > large.watched[i].peak)
            {
                large.watched[i] = Watched {
                    part,
                    peak: 0,
                    points: Vec::new(),
                };
            }
        }
        large.watched.sort_unstable_by_key(|w| w.part);
        for w in &mut large.watched {
            let i = g * self.parts + w.part as usize;
            let lag = self.committed[i].map_or(0, |c| self.hw[w.part as usize].saturating_sub(c));
            w.peak = w.peak.max(lag);
            w.points.push((t, lag as f64));
        }
        // The distribution across the group's partitions (nearest rank):
        // `zeros` zeros, then `scratch` in order.
        let all = large.reads;
        let rank = |q: f64| ((q * all as f64).ceil() as usize).clamp(1, all) - 1;
        let by_lag = |a: &(u64, u32), b: &(u64, u32)| a.0.cmp(&b.0);
        let s = &mut large.scratch;
        let max = s.iter().map(|x| x.0).max().unwrap_or(0);
        let min = if zeros > 0 {
            0
        } else {
            s.iter().map(|x| x.0).min().unwrap_or(0)
        };
        let mut at_rank = |r: usize| match r.checked_sub(zeros) {
            Some(i) => s.select_nth_unstable_by(i, by_lag).1.0,
            None => 0,
        };
        let p50 = at_rank(rank(0.5));
        let p99 = at_rank(rank(0.99));
        let base = self.s_lag_dist;
        let per = self.large.iter().filter(|l| l.is_some()).count();
        // `per` large groups in each of the four metrics; this is number `slot`.
        for (m, v) in [min, p50, p99, max].into_iter().enumerate() {
            self.series[base + m * per + slot]
                .points
                .push((t, v as f64));
        }
    }

    /// A group's position or commit on a partition was set: the partition
    /// may be behind (a large group samples it), and its records every
    /// reader has committed may go (at the end of the interval).
    #[inline]
    fn moved(&mut self, group: u32, partition: u32) {
        if self.any_large
            && let Some(l) = self.large[group as usize].as_mut()
        {
            l.touch(partition);
        }
        let d = &mut self.commit_moved[partition as usize];
        if !*d {
            *d = true;
            self.commits.push(partition);
        }
    }

    /// Drop the records of partitions whose commits moved this interval
    /// that every reader has committed: no longer needed for lag time.
    fn trim_committed(&mut self) {
        let parts = self.parts;
        for p in self.commits.drain(..) {
            let p = p as usize;
            self.commit_moved[p] = false;
            let min_committed = self.readers[p]
                .iter()
                .map(|&g| self.committed[g as usize * parts + p].unwrap_or(0))
                .min()
                .unwrap_or(u64::MAX);
            let q = &mut self.appends[p];
            while q.front().is_some_and(|&(o, _)| o < min_committed) {
                q.pop_front();
            }
        }
    }

    /// Each producer's produce rate and records in flight; past
    /// `partition_series` producers, the rest summed in one series.
    fn sample_producers(&mut self, t: Time, per_s: f64) {
        let shown = self.produced.len().min(self.partition_series);
        for (i, n) in self.produced[..shown].iter_mut().enumerate() {
            self.series[self.s_produce + i]
                .points
                .push((t, *n as f64 * per_s));
            *n = 0;
        }
        if self.produced.len() > shown {
            let others: u64 = self.produced[shown..].iter().sum();
            self.produced[shown..].fill(0);
            self.series[self.s_produce + shown]
                .points
                .push((t, others as f64 * per_s));
        }
        for (i, &n) in self.in_flight[..shown].iter().enumerate() {
            self.series[self.s_in_flight + i].points.push((t, n as f64));
        }
        if self.in_flight.len() > shown {
            let others: i64 = self.in_flight[shown..].iter().sum();
            self.series[self.s_in_flight + shown]
                .points
                .push((t, others as f64));
        }
    }

    fn sample(&mut self, t: Time, span: Time) {
        let per_s = 1e9 / span as f64;
        let push = |series: &mut Vec<Series>, base: usize, i: usize, v: f64| {
            series[base + i].points.push((t, v));
        };
        for (i, n) in self.appended.iter_mut().enumerate() {
            push(&mut self.series, self.s_append, i, *n as f64 * per_s);
            *n = 0;
        }
        self.sample_producers(t, per_s);
        for (i, n) in self.applied.iter_mut().enumerate() {
            push(&mut self.series, self.s_apply, i, *n as f64 * per_s);
            *n = 0;
        }
        let mut k = 0;
        let mut slot = 0;
        for g in 0..self.groups {
            let mut total = 0u64;
            let mut unpolled = 0u64;
            let mut oldest: Option<Time> = None;
            // A partition's lag and unpolled records (0, 0 when the group
            // does not read it), and the oldest record behind its commit.
            let mut visit = |p: usize, total: &mut u64, unpolled: &mut u64| -> Option<u64> {
                let next = self.next[g * self.parts + p]?;
                let behind = self.hw[p].saturating_sub(next);
                *unpolled += behind;
                // Kafka's lag: high watermark minus the committed offset.
                let from = self.committed[g * self.parts + p];
                let lag = from.map_or(0, |c| self.hw[p].saturating_sub(c));
                *total += lag;
                if lag > 0
                    && let Some(from) = from
                    && let Some(&(_, at)) = self.appends[p].iter().find(|&&(o, _)| o >= from)
                {
                    oldest = Some(oldest.map_or(at, |o: Time| o.min(at)));
                }
                Some(lag)
            };
            match self.large[g].as_mut() {
                // Only the partitions that may be behind; the rest add
                // zeros, counted rather than listed.
                Some(l) => {
                    l.scratch.clear();
                    let mut i = 0;
                    while i < l.active.len() {
                        let p = l.active[i];
                        let before = unpolled;
                        let lag = visit(p as usize, &mut total, &mut unpolled).unwrap_or(0);
                        if lag == 0 && unpolled == before {
                            l.is_active[p as usize] = false;
                            l.active.swap_remove(i);
                        } else {
                            l.scratch.push((lag, p));
                            i += 1;
                        }
                    }
                }
                // In the group's partition order, the order of its series' labels.
                None => {
                    for &p in &self.group_parts[g] {
                        if let Some(lag) = visit(p as usize, &mut total, &mut unpolled) {
                            push(&mut self.series, self.s_lag, k, lag as f64);
                            k += 1;
                        }
                    }
                }
            }
            if self.large[g].is_some() {
                self.sample_large(g, t, slot);
                slot += 1;
            }
            self.max_lag[g] = self.max_lag[g].max(total);
            self.end_lag[g] = total;
            self.end_unread[g] = unpolled;
            push(&mut self.series, self.s_lag_group, g, total as f64);
            push(&mut self.series, self.s_unpolled, g, unpolled as f64);
            let lag_time = oldest.map_or(0, |o| t.saturating_sub(o));
            push(&mut self.series, self.s_lag_time, g, lag_time as f64);
            let (p50, p99) = self.latency[g].take_p50_p99();
            push(&mut self.series, self.s_p50, g, p50 as f64);
            push(&mut self.series, self.s_p99, g, p99 as f64);
        }
        for (p, &n) in self.isr.iter().enumerate() {
            if let Some(i) = self.isr_series[p] {
                push(&mut self.series, self.s_isr, i, f64::from(n));
            }
        }
        let topics = self.large_topics.len();
        for (i, (_, ps)) in self.large_topics.iter().enumerate() {
            let min = ps.iter().map(|&p| self.isr[p as usize]).min().unwrap_or(0);
            let under = ps
                .iter()
                .filter(|&&p| self.isr[p as usize] < self.replication[p as usize])
                .count();
            push(&mut self.series, self.s_isr_topic, i, f64::from(min));
            push(&mut self.series, self.s_isr_topic + topics, i, under as f64);
        }
        for (node, &n) in self.node_state.iter().enumerate() {
            if let Some(i) = self.node_series[node] {
                push(&mut self.series, self.s_node, i, f64::from(n));
            }
        }
        for (i, &n) in self.down.iter().enumerate() {
            push(&mut self.series, self.s_down, i, f64::from(n));
        }
        self.trim_committed();
        if self
            .series
            .first()
            .is_some_and(|s| s.points.len() >= self.max_points)
        {
            self.downsample();
        }
    }

    /// Double the interval: merge every series' points pairwise.
    fn downsample(&mut self) {
        for s in &mut self.series {
            let merged: Vec<(Time, f64)> = s
                .points
                .chunks(2)
                .map(|c| {
                    let t = c[c.len() - 1].0;
                    let v = if s.merge_max {
                        c.iter().map(|x| x.1).fold(f64::MIN, f64::max)
                    } else {
                        c.iter().map(|x| x.1).sum::<f64>() / c.len() as f64
                    };
                    (t, v)
                })
                .collect();
            s.points = merged;
        }
        // Watched partitions entered at any interval: merge by time, into
        // the doubled intervals every other series now has.
        let doubled = self.interval_ns * 2;
        for large in self.large.iter_mut().flatten() {
            for w in &mut large.watched {
                let mut merged: Vec<(Time, f64)> = Vec::with_capacity(w.points.len() / 2 + 1);
                let mut last_bucket = None;
                for &(t, v) in &w.points {
                    let bucket = t.saturating_sub(1) / doubled;
                    match merged.last_mut() {
                        Some(m) if last_bucket == Some(bucket) => *m = (t, m.1.max(v)),
                        _ => merged.push((t, v)),
                    }
                    last_bucket = Some(bucket);
                }
                w.points = merged;
            }
        }
        // The next boundary is a multiple of the doubled interval.
        self.next_ns = self.next_ns.div_ceil(doubled) * doubled;
        self.interval_ns = doubled;
    }
}

impl Observer for TimeSeries {
    // Inlined into each call site (see `Metrics::observe`).
    #[inline(always)]
    fn observe(&mut self, at: Time, o: &Observation) {
        if at >= self.next_ns {
            self.advance(at);
        }
        match *o {
            Observation::Produced { producer, .. } => {
                self.produced[producer as usize] += 1;
                self.in_flight[producer as usize] += 1;
            }
            Observation::Acked { producer, .. } => self.in_flight[producer as usize] -= 1,
            Observation::ProduceFailed { producer, .. } => self.in_flight[producer as usize] -= 1,
            Observation::Appended {
                partition, offset, ..
            } => {
                let p = partition as usize;
                self.appended[self.part_topic[p] as usize] += 1;
                // Kept for lag time, while a group has not committed it.
                if !self.readers[p].is_empty() {
                    self.appends[p].push_back((offset, at));
                }
            }
            Observation::Truncated {
                partition, offset, ..
            } => {
                let p = partition as usize;
                while self.appends[p].back().is_some_and(|&(o, _)| o >= offset) {
                    self.appends[p].pop_back();
                }
            }
            Observation::Delivered {
                group,
                partition,
                offset,
                ..
            } => {
                if let Some(next) = &mut self.next[group as usize * self.parts + partition as usize]
                {
                    *next = (*next).max(offset + 1);
                }
            }
            Observation::Assigned {
                group,
                partition,
                offset,
                ..
            } => {
                let i = group as usize * self.parts + partition as usize;
                if let Some(next) = &mut self.next[i] {
                    *next = offset;
                    self.committed[i] = Some(offset);
                    self.moved(group, partition);
                }
            }
            Observation::Committed {
                group,
                partition,
                offset,
                ..
            } => {
                let i = group as usize * self.parts + partition as usize;
                if self.next[i].is_some() {
                    self.committed[i] = Some(offset);
                    self.moved(group, partition);
                }
            }
            Observation::HighWatermark { partition, offset } => {
                self.hw[partition as usize] = offset;
                if self.any_large {
                    for &g in &self.readers[partition as usize] {
                        if let Some(l) = self.large[g as usize].as_mut() {
                            l.touch(partition);
                        }
                    }
                }
            }
            Observation::Applied {
                group, created_ns, ..
            } => {
                self.applied[group as usize] += 1;
                self.latency[group as usize].record(at - created_ns);
            }
            Observation::IsrChanged { partition, isr } => self.isr[partition as usize] = isr,
            Observation::NodeState { node, state } => {
                let was = std::mem::replace(&mut self.node_state[node as usize], state);
                if let Some(c) = self.node_crowd[node as usize]
                    && (was == 0) != (state == 0)
                {
                    let d = &mut self.down[c as usize];
                    *d = if state == 0 {
                        d.saturating_sub(1)
                    } else {
                        *d + 1
                    };
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nearest_rank(sorted: &[u64], q: f64) -> u64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    #[test]
    fn interval_percentiles_are_exact_nearest_rank() {
        let mut l = IntervalLatency::default();
        assert_eq!(l.take_p50_p99(), (0, 0));
        for n in [1usize, 2, 3, 99, 100, 101, 1000, 4321] {
            // A scrambled sequence with repeats.
            let values: Vec<u64> = (0..n as u64).map(|i| (i * 7919) % 613 + 5).collect();
            for &v in &values {
                l.record(v);
            }
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let expected = (nearest_rank(&sorted, 0.5), nearest_rank(&sorted, 0.99));
            assert_eq!(l.take_p50_p99(), expected, "n = {n}");
            assert_eq!(l.take_p50_p99(), (0, 0), "cleared after n = {n}");
        }
    }

    /// One topic of `parts` partitions (replication 3) read by one
    /// `earliest` group.
    fn many_partitions(parts: u32, partition_series: usize) -> TimeSeries {
        many_partitions_from(parts, partition_series, true)
    }

    /// [`many_partitions`], the group starting at the earliest offset or
    /// (`false`) where its assignment says.
    fn many_partitions_from(parts: u32, partition_series: usize, earliest: bool) -> TimeSeries {
        let catalog = Catalog {
            producers: vec!["p".into()],
            topics: vec!["t".into()],
            partitions: (0..parts).map(|p| (0, p)).collect(),
            groups: vec!["g".into()],
            consumers: vec![(0, 0)],
            event_types: vec!["E".into()],
            keys: crate::history::KeySpace::new([("k", 4)]),
            brokers: 3,
            group_partitions: vec![(0..parts).collect()],
            replication: vec![3; parts as usize],
            nodes: vec!["p".into()],
            flows: Vec::new(),
            services: Vec::new(),
            group_start_ns: Vec::new(),
            ..Catalog::default()
        };
        TimeSeries::new(&catalog, &[earliest], 100, 1000, partition_series)
    }

    fn metric<'a>(ts: &'a TimeSeries, m: &str) -> Vec<&'a Series> {
        ts.series.iter().filter(|s| s.metric == m).collect()
    }

    #[test]
    fn a_large_group_keeps_its_highest_lag_partitions_and_the_distribution() {
        let mut ts = many_partitions(1000, 3);
        // Partition p has lag p % 100 in the first interval, except three
        // partitions far behind.
        for p in 0..1000u32 {
            let lag = match p {
                17 => 5000,
                500 => 4000,
                999 => 3000,
                _ => u64::from(p % 100),
            };
            ts.observe(
                1,
                &Observation::HighWatermark {
                    partition: p,
                    offset: lag,
                },
            );
        }
        // Partition 42 falls far behind later: it replaces the smallest peak.
        ts.observe(
            150,
            &Observation::HighWatermark {
                partition: 42,
                offset: 9000,
            },
        );
        ts.observe(
            250,
            &Observation::IsrChanged {
                partition: 7,
                isr: 2,
            },
        );
        ts.finish(300);
        let lag: Vec<(&str, usize)> = metric(&ts, "lag_events")
            .iter()
            .map(|s| (s.label.as_str(), s.points.len()))
            .collect();
        assert_eq!(
            lag,
            vec![("g/t-17", 3), ("g/t-42", 2), ("g/t-500", 3)],
            "the three highest peaks, by partition; t-42 from when it entered"
        );
        let last = |m: &str| metric(&ts, m)[0].points[0].1;
        assert_eq!(last("lag_events_max"), 5000.0);
        assert_eq!(last("lag_events_min"), 0.0);
        // Nearest rank over 1000 values: 997 of them are p % 100 (0, 17
        // and 99 once less), so the 500th smallest is 50, the 990th 99.
        assert_eq!(last("lag_events_p50"), 50.0);
        assert_eq!(last("lag_events_p99"), 99.0);
        // Per-partition ISR gives way to the topic's smallest ISR and its
        // under-replicated count.
        assert!(metric(&ts, "isr").is_empty());
        let isr_min = metric(&ts, "isr_min")[0];
        assert_eq!((isr_min.points[0].1, isr_min.points[2].1), (3.0, 2.0));
        let under = metric(&ts, "under_replicated_partitions")[0];
        assert_eq!((under.points[0].1, under.points[2].1), (0.0, 1.0));
    }

    /// A large group samples only the partitions that may be behind: its
    /// distribution, totals and lag time are those of every partition, as
    /// the same history read as a small group (a series per partition)
    /// gives them, over a random history of appends, deliveries, commits,
    /// reassignments and a high watermark that sometimes falls back.
    #[test]
    fn a_large_group_sampling_only_active_partitions_sees_what_every_partition_shows() {
        for earliest in [true, false] {
            large_group_matches_every_partition(earliest);
        }
    }

    fn large_group_matches_every_partition(earliest: bool) {
        const PARTS: u32 = 200;
        let mut small = many_partitions_from(PARTS, PARTS as usize, earliest);
        let mut large = many_partitions_from(PARTS, 3, earliest);
        let (mut hw, mut next, mut committed) = (
            vec![0u64; PARTS as usize],
            vec![0u64; PARTS as usize],
            vec![0u64; PARTS as usize],
        );
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut draw = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut event = 0;
        for t in 1..60_000u64 {
            // Every third stretch the group only catches up: partitions
            // fall back to zero lag, and some intervals have none at all.
            let drain = (t / 5_000) % 3 == 2;
            let p = draw(u64::from(PARTS)) as usize;
            let partition = p as u32;
            let kind = if drain { 4 + draw(4) } else { draw(10) };
            if drain {
                next[p] = next[p].max(hw[p].saturating_sub(1));
            }
            let o = match kind {
                0..=3 => {
                    hw[p] += 1 + draw(3);
                    for offset in hw[p] - 1..hw[p] {
                        let a = Observation::Appended {
                            event,
                            partition,
                            offset,
                        };
                        event += 1;
                        small.observe(t, &a);
                        large.observe(t, &a);
                    }
                    Observation::HighWatermark {
                        partition,
                        offset: hw[p],
                    }
                }
                4..=5 => {
                    next[p] = hw[p].min(next[p] + 1 + draw(4));
                    Observation::Delivered {
                        event: 0,
                        group: 0,
                        consumer: 0,
                        partition,
                        offset: next[p].saturating_sub(1),
                    }
                }
                6..=7 => {
                    committed[p] = next[p];
                    Observation::Committed {
                        group: 0,
                        consumer: 0,
                        partition,
                        offset: committed[p],
                        generation: 0,
                    }
                }
                8 => {
                    next[p] = committed[p];
                    Observation::Assigned {
                        group: 0,
                        consumer: 0,
                        partition,
                        generation: 0,
                        offset: committed[p],
                    }
                }
                _ => {
                    hw[p] = hw[p].saturating_sub(draw(2));
                    Observation::HighWatermark {
                        partition,
                        offset: hw[p],
                    }
                }
            };
            small.observe(t, &o);
            large.observe(t, &o);
        }
        small.finish(60_000);
        large.finish(60_000);
        let points = |ts: &TimeSeries, m: &str| -> Vec<Vec<f64>> {
            metric(ts, m)
                .iter()
                .map(|s| s.points.iter().map(|p| p.1).collect())
                .collect()
        };
        for m in [
            "group_lag_events",
            "group_unpolled_events",
            "group_lag_time_ns",
        ] {
            assert_eq!(points(&small, m), points(&large, m), "{m}");
        }
        let per_partition = points(&small, "lag_events");
        let intervals = per_partition[0].len();
        assert!(intervals > 100, "{intervals} intervals");
        let mut quiet = 0;
        for i in 0..intervals {
            let mut lags: Vec<u64> = per_partition.iter().map(|s| s[i] as u64).collect();
            lags.sort_unstable();
            quiet += usize::from(lags[lags.len() - 1] == 0);
            for (m, want) in [
                ("lag_events_min", lags[0]),
                ("lag_events_p50", nearest_rank(&lags, 0.5)),
                ("lag_events_p99", nearest_rank(&lags, 0.99)),
                ("lag_events_max", lags[lags.len() - 1]),
            ] {
                assert_eq!(points(&large, m)[0][i], want as f64, "{m} interval {i}");
            }
        }
        assert!(
            quiet > 0 && quiet < intervals,
            "{quiet} intervals all caught up"
        );
    }

    #[test]
    fn lag_series_follow_the_group_topic_order() {
        // Topics a (partitions 0, 1) and b (2, 3); the group lists b first.
        let catalog = Catalog {
            producers: vec!["p".into()],
            topics: vec!["a".into(), "b".into()],
            partitions: vec![(0, 0), (0, 1), (1, 0), (1, 1)],
            groups: vec!["g".into()],
            consumers: vec![(0, 0)],
            event_types: vec!["E".into()],
            keys: crate::history::KeySpace::new([("k", 4)]),
            brokers: 1,
            group_partitions: vec![vec![2, 3, 0, 1]],
            replication: vec![1; 4],
            nodes: vec!["p".into()],
            flows: Vec::new(),
            services: Vec::new(),
            group_start_ns: Vec::new(),
            ..Catalog::default()
        };
        let mut ts = TimeSeries::new(&catalog, &[true], 100, 1000, 20);
        ts.observe(
            1,
            &Observation::HighWatermark {
                partition: 0,
                offset: 7,
            },
        );
        ts.finish(100);
        let lag: Vec<(&str, f64)> = metric(&ts, "lag_events")
            .iter()
            .map(|s| (s.label.as_str(), s.points[0].1))
            .collect();
        assert_eq!(
            lag,
            vec![
                ("g/b-0", 0.0),
                ("g/b-1", 0.0),
                ("g/a-0", 7.0),
                ("g/a-1", 0.0)
            ]
        );
    }

    #[test]
    fn a_large_group_counts_its_consumers_down_instead_of_a_series_each() {
        // Group g has 30 consumers (nodes 2..32 after a producer and a
        // broker), group h has 2.
        let mut consumers: Vec<(u32, u32)> = (0..30).map(|i| (0, i)).collect();
        consumers.extend([(1, 0), (1, 1)]);
        let mut nodes = vec!["p".to_string(), "broker-0".to_string()];
        nodes.extend(
            consumers
                .iter()
                .map(|&(g, i)| format!("{}/{i}", ["g", "h"][g as usize])),
        );
        let catalog = Catalog {
            producers: vec!["p".into()],
            topics: vec!["t".into()],
            partitions: vec![(0, 0)],
            groups: vec!["g".into(), "h".into()],
            consumers,
            event_types: vec!["E".into()],
            keys: crate::history::KeySpace::new([("k", 4)]),
            brokers: 1,
            group_partitions: vec![vec![0], vec![0]],
            replication: vec![1],
            nodes,
            flows: Vec::new(),
            services: Vec::new(),
            group_start_ns: Vec::new(),
            ..Catalog::default()
        };
        let mut ts = TimeSeries::new(&catalog, &[true, true], 100, 1000, 20);
        for (at, node, state) in [(10, 5, 1), (20, 6, 2), (30, 5, 2), (150, 6, 0)] {
            ts.observe(at, &Observation::NodeState { node, state });
        }
        ts.finish(200);
        let labels: Vec<&str> = metric(&ts, "node_state")
            .iter()
            .map(|s| s.label.as_str())
            .collect();
        assert_eq!(labels, vec!["p", "broker-0", "h/0", "h/1"]);
        let down = metric(&ts, "consumers_down");
        assert_eq!(down.len(), 1);
        assert_eq!(down[0].label, "g");
        let values: Vec<f64> = down[0].points.iter().map(|p| p.1).collect();
        assert_eq!(values, vec![2.0, 1.0]);
    }

    #[test]
    fn a_small_group_keeps_a_series_per_partition() {
        let mut ts = many_partitions(3, 3);
        ts.finish(250);
        assert_eq!(metric(&ts, "lag_events").len(), 3);
        assert_eq!(metric(&ts, "isr").len(), 3);
        assert!(metric(&ts, "lag_events_p99").is_empty());
        assert!(metric(&ts, "isr_min").is_empty());
    }

    #[test]
    fn interval_samples_are_thinned_past_the_cap() {
        let mut l = IntervalLatency::default();
        let n = 3 * SAMPLE_CAP as u64;
        for v in 0..n {
            l.record(v);
        }
        assert!(l.samples.len() <= SAMPLE_CAP);
        assert!(l.samples.len() >= SAMPLE_CAP / 2);
        // Thinning keeps samples spread over the whole range.
        let (p50, p99) = l.take_p50_p99();
        let within = |got: u64, want: u64| got.abs_diff(want) < n / 100;
        assert!(within(p50, n / 2), "p50 {p50}");
        assert!(within(p99, n * 99 / 100), "p99 {p99}");
    }
}
