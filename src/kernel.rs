//! The discrete-event kernel: virtual time, the event queue, rng streams and budgets.
//!
//! The kernel knows nothing about Kafka. It orders opaque events by
//! `(time, sequence number)` so that ties are broken by insertion order and
//! never by memory address, hash or thread. Time is an integer
//! number of nanoseconds; the wall clock is never read here.

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// Virtual time in nanoseconds since the start of the run.
pub type Time = u64;

/// Nanoseconds in a microsecond.
pub const NS_PER_US: u64 = 1_000;
/// Nanoseconds in a millisecond.
pub const NS_PER_MS: u64 = 1_000_000;
/// Nanoseconds in a second.
pub const NS_PER_S: u64 = 1_000_000_000;

/// The random-number generator every component owns.
pub type Rng = ChaCha8Rng;

/// An independent random stream for the component called `name`.
///
/// The stream depends only on the master seed and the component's stable
/// name, so adding or removing another component (or fault) never shifts the
/// numbers this one draws.
pub fn rng_stream(master_seed: u64, name: &str) -> Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(master_seed);
    rng.set_stream(fnv1a64(name.as_bytes()));
    rng
}

/// FNV-1a, 64 bit: a stable hash of a component name (std's hashers are
/// randomly keyed or unspecified across versions, so they cannot be used).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

struct Entry<E> {
    time: Time,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    // Reversed: BinaryHeap is a max-heap and we want the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .time
            .cmp(&self.time)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Limits that end a run cleanly instead of letting it run away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The run ends when the next event would happen after this time.
    pub sim_time_max_ns: Time,
    /// The run ends after this many kernel events.
    pub kernel_events_max: u64,
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Nothing left to do: producers finished and every group caught up.
    Quiescent,
    /// The event queue ran dry.
    QueueEmpty,
    /// The simulated time budget was reached.
    SimTimeMax,
    /// The kernel event budget was reached.
    KernelEventsMax,
    /// The process's resident memory went over the memory budget
    /// (`--max-memory`).
    MemoryMax,
    /// The user interrupted the run (Ctrl-C or SIGTERM).
    Interrupted,
}

impl StopReason {
    /// The run was stopped by a budget (simulated time, kernel events)
    /// rather than by running out of work.
    pub fn is_budget(self) -> bool {
        matches!(
            self,
            StopReason::SimTimeMax
                | StopReason::KernelEventsMax
                | StopReason::MemoryMax
                | StopReason::Interrupted
        )
    }

    /// The reason named by [`StopReason::as_str`].
    pub fn parse(text: &str) -> Option<StopReason> {
        [
            StopReason::Quiescent,
            StopReason::QueueEmpty,
            StopReason::SimTimeMax,
            StopReason::KernelEventsMax,
            StopReason::MemoryMax,
            StopReason::Interrupted,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }

    /// The reason as `summary.json` writes it (`quiescent`, `sim-time-max`).
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Quiescent => "quiescent",
            StopReason::QueueEmpty => "queue-empty",
            StopReason::SimTimeMax => "sim-time-max",
            StopReason::KernelEventsMax => "kernel-events-max",
            StopReason::MemoryMax => "memory-max",
            StopReason::Interrupted => "interrupted",
        }
    }
}

/// Clock and event queue.
///
/// Events scheduled for the current instant (zero delays are common: a
/// network without latency, a handler that answers at once) skip the heap
/// and wait in a FIFO. The order is unchanged: an event already in the heap
/// for this instant was scheduled before the clock reached it, so before
/// anything in the FIFO, and comes out first; the FIFO keeps insertion order.
pub struct Kernel<E> {
    now: Time,
    seq: u64,
    queue: BinaryHeap<Entry<E>>,
    /// Events at time `now` scheduled while the clock was already at `now`.
    current: VecDeque<E>,
    budget: Budget,
    events_processed: u64,
}

impl<E> Kernel<E> {
    /// An empty kernel at time 0 with the given budget.
    pub fn new(budget: Budget) -> Self {
        Kernel {
            now: 0,
            seq: 0,
            queue: BinaryHeap::with_capacity(1024),
            current: VecDeque::with_capacity(64),
            budget,
            events_processed: 0,
        }
    }

    /// Current virtual time.
    #[inline]
    pub fn now(&self) -> Time {
        self.now
    }

    /// Kernel events handed out so far.
    pub fn events_processed(&self) -> u64 {
        self.events_processed
    }

    /// Events waiting in the queue.
    pub fn pending(&self) -> usize {
        self.queue.len() + self.current.len()
    }

    /// Lower the kernel event budget to `events` (never raise it).
    pub fn cut_at(&mut self, events: u64) {
        self.budget.kernel_events_max = self.budget.kernel_events_max.min(events);
    }

    /// The budget the kernel runs under.
    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// Schedule `event` at absolute time `time` (never in the past).
    #[inline]
    pub fn schedule_at(&mut self, time: Time, event: E) {
        debug_assert!(time >= self.now, "event scheduled in the past");
        if time <= self.now {
            self.current.push_back(event);
            return;
        }
        self.seq += 1;
        self.queue.push(Entry {
            time,
            seq: self.seq,
            event,
        });
    }

    /// Schedule `event` after `delay` nanoseconds.
    #[inline]
    pub fn schedule_in(&mut self, delay: Time, event: E) {
        self.schedule_at(self.now.saturating_add(delay), event);
    }

    /// The next event, advancing the clock to its time; `Err` when the run
    /// must stop (queue empty or a budget reached).
    #[inline]
    pub fn next_event(&mut self) -> Result<E, StopReason> {
        if self.events_processed >= self.budget.kernel_events_max {
            return Err(StopReason::KernelEventsMax);
        }
        let top_time = self.queue.peek().map(|top| top.time);
        if top_time != Some(self.now)
            && let Some(event) = self.current.pop_front()
        {
            self.events_processed += 1;
            return Ok(event);
        }
        let Some(top_time) = top_time else {
            return Err(StopReason::QueueEmpty);
        };
        if top_time > self.budget.sim_time_max_ns {
            self.now = self.budget.sim_time_max_ns;
            return Err(StopReason::SimTimeMax);
        }
        let entry = self.queue.pop().expect("peeked entry exists");
        debug_assert!(entry.time >= self.now, "time went backwards");
        self.now = entry.time;
        self.events_processed += 1;
        Ok(entry.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;

    fn budget() -> Budget {
        Budget {
            sim_time_max_ns: u64::MAX,
            kernel_events_max: u64::MAX,
        }
    }

    #[test]
    fn events_come_out_in_time_then_insertion_order() {
        let mut k = Kernel::new(budget());
        k.schedule_at(20, "c");
        k.schedule_at(10, "a");
        k.schedule_at(20, "d");
        k.schedule_at(10, "b");
        let mut out = vec![];
        while let Ok(e) = k.next_event() {
            out.push((k.now(), e));
        }
        assert_eq!(out, vec![(10, "a"), (10, "b"), (20, "c"), (20, "d")]);
    }

    #[test]
    fn events_for_the_current_instant_keep_insertion_order() {
        // "b" was scheduled for t=10 before the clock got there, "c" and
        // "d" while it was there: b, c, d, whatever path each took.
        let mut k = Kernel::new(budget());
        k.schedule_at(10, "a");
        k.schedule_at(10, "b");
        k.schedule_at(11, "e");
        assert_eq!(k.next_event(), Ok("a"));
        k.schedule_at(10, "c");
        k.schedule_in(0, "d");
        assert_eq!(k.pending(), 4);
        assert_eq!(k.next_event(), Ok("b"));
        assert_eq!(k.next_event(), Ok("c"));
        k.schedule_in(1, "f");
        assert_eq!(k.next_event(), Ok("d"));
        assert_eq!(k.next_event(), Ok("e"));
        assert_eq!(k.now(), 11);
        assert_eq!(k.next_event(), Ok("f"));
        assert_eq!(k.next_event(), Err(StopReason::QueueEmpty));
        assert_eq!(k.events_processed(), 6);
    }

    #[test]
    fn the_event_budget_counts_events_for_the_current_instant() {
        let mut k = Kernel::new(Budget {
            sim_time_max_ns: u64::MAX,
            kernel_events_max: 2,
        });
        for e in 0..3 {
            k.schedule_at(0, e);
        }
        assert_eq!(k.next_event(), Ok(0));
        assert_eq!(k.next_event(), Ok(1));
        assert_eq!(k.next_event(), Err(StopReason::KernelEventsMax));
    }

    #[test]
    fn budgets_stop_the_run_with_a_reason() {
        let mut k = Kernel::new(Budget {
            sim_time_max_ns: 15,
            kernel_events_max: 100,
        });
        k.schedule_at(10, 1);
        k.schedule_at(20, 2);
        assert_eq!(k.next_event(), Ok(1));
        assert_eq!(k.next_event(), Err(StopReason::SimTimeMax));
        assert_eq!(k.now(), 15);

        let mut k = Kernel::new(Budget {
            sim_time_max_ns: u64::MAX,
            kernel_events_max: 1,
        });
        k.schedule_at(1, 1);
        k.schedule_at(2, 2);
        assert_eq!(k.next_event(), Ok(1));
        assert_eq!(k.next_event(), Err(StopReason::KernelEventsMax));
    }

    #[test]
    fn rng_streams_are_independent_of_each_other() {
        let a1 = rng_stream(7, "producer/a").next_u64();
        let a2 = rng_stream(7, "producer/a").next_u64();
        let b = rng_stream(7, "producer/b").next_u64();
        let a_other_seed = rng_stream(8, "producer/a").next_u64();
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_ne!(a1, a_other_seed);
    }

    proptest::proptest! {
        /// Law: events come out ordered by (time, order of scheduling),
        /// whichever internal path (heap or current-instant FIFO) they took.
        #[test]
        fn order_is_time_then_scheduling_order(
            steps in proptest::collection::vec((0u64..4, 0usize..3), 1..200)
        ) {
            let mut k = Kernel::new(budget());
            // Reference: (time, scheduling index) of every pending event.
            let mut reference: Vec<(Time, usize)> = Vec::new();
            for (scheduled, (delay, pops)) in steps.into_iter().enumerate() {
                k.schedule_in(delay, scheduled);
                reference.push((k.now() + delay, scheduled));
                for _ in 0..pops {
                    let expected = reference.iter().copied().min();
                    match k.next_event() {
                        Ok(e) => {
                            let (t, i) = expected.expect("reference has an event");
                            proptest::prop_assert_eq!((k.now(), e), (t, i));
                            reference.retain(|&(_, j)| j != i);
                        }
                        Err(_) => proptest::prop_assert!(expected.is_none()),
                    }
                }
            }
        }
    }
}
