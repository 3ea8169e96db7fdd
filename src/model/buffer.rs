//! A producer's buffer memory (Kafka's `buffer.memory` and `max.block.ms`),
//! as a component that owns its state: the Java client's record
//! accumulator holds at most `buffer.memory` bytes of records not yet
//! acknowledged (unsent, or in a request awaiting its response); when a
//! record does not fit, `send()` blocks the application's thread until
//! acknowledgements free enough room, and throws a `TimeoutException`
//! after `max.block.ms`: the record is never sent.
//!
//! The application calls `send()` from one thread, in arrival order: while
//! one call blocks, the records that arrive after it wait behind it (their
//! intended send time is their arrival, and their latency counts from
//! there), and each call's `max.block.ms` starts when that call begins.

use crate::kernel::Time;
use std::collections::VecDeque;

/// A record the application wants to send: what the pool needs of it, and
/// the caller's own description (`R`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Pending<R> {
    /// When the application wanted to send it.
    pub intended_ns: Time,
    /// Its size in bytes.
    pub size: u64,
    /// The record.
    pub record: R,
}

/// The buffer of one producer.
#[derive(Clone, Debug)]
pub(crate) struct BufferPool<R> {
    capacity: u64,
    max_block_ns: Time,
    used: u64,
    /// `send()` calls blocked or not begun, in arrival order.
    waiting: VecDeque<Pending<R>>,
    /// When the first waiting call began to block.
    head_since: Time,
    /// Total time the application's thread was blocked.
    pub blocked_ns: Time,
    /// Records refused: `send()` threw after `max.block.ms`, or the record
    /// is larger than the whole buffer.
    pub refused: u64,
}

/// What became of a record offered to the pool.
#[derive(Debug, PartialEq)]
pub(crate) enum Offer<R> {
    /// In the buffer at once: send it.
    Admitted(Pending<R>),
    /// Blocked, or behind a blocked call; `Some(t)`: the first call in
    /// line began to block, and gives up at `t` (set a timer).
    Waiting(Option<Time>),
    /// Larger than the whole buffer: refused at once.
    Refused,
}

impl<R> BufferPool<R> {
    /// A buffer of `capacity` bytes whose `send()` blocks `max_block_ns` at most.
    pub fn new(capacity: u64, max_block_ns: Time) -> Self {
        BufferPool {
            capacity,
            max_block_ns,
            used: 0,
            waiting: VecDeque::new(),
            head_since: 0,
            blocked_ns: 0,
            refused: 0,
        }
    }

    /// The application calls `send()` at `now`.
    pub fn offer(&mut self, now: Time, size: u64, record: R) -> Offer<R> {
        if size > self.capacity {
            self.refused += 1;
            return Offer::Refused;
        }
        let p = Pending {
            intended_ns: now,
            size,
            record,
        };
        if self.waiting.is_empty() && self.used + size <= self.capacity {
            self.used += size;
            return Offer::Admitted(p);
        }
        self.waiting.push_back(p);
        if self.waiting.len() == 1 {
            self.head_since = now;
            return Offer::Waiting(Some(now + self.max_block_ns));
        }
        Offer::Waiting(None)
    }

    /// A record of `size` bytes was acknowledged or failed at `now`: the
    /// calls that now fit return, in order. Returns those records and,
    /// if a call is still blocked, when it gives up.
    pub fn release(&mut self, now: Time, size: u64) -> (Vec<Pending<R>>, Option<Time>) {
        self.used = self.used.saturating_sub(size);
        self.admit(now, false)
    }

    /// The timer of the call blocked since `since` fires at `now`: if it
    /// still blocks, it throws (the record is refused) and the next call
    /// begins. Returns the records the next calls admitted and when the
    /// call then blocked gives up.
    pub fn expire(&mut self, now: Time) -> (Vec<Pending<R>>, Option<Time>) {
        if self.waiting.is_empty() || now < self.head_since + self.max_block_ns {
            return (Vec::new(), None);
        }
        self.waiting.pop_front();
        self.refused += 1;
        self.blocked_ns += now - self.head_since;
        self.head_since = now;
        self.admit(now, true)
    }

    /// Admit waiting calls that fit; the deadline of the one left blocked
    /// if it began to block now (the head changed).
    fn admit(&mut self, now: Time, head_changed: bool) -> (Vec<Pending<R>>, Option<Time>) {
        let mut out = Vec::new();
        while let Some(p) = self.waiting.front() {
            if self.used + p.size > self.capacity {
                break;
            }
            self.used += p.size;
            self.blocked_ns += now - self.head_since;
            self.head_since = now;
            out.extend(self.waiting.pop_front());
        }
        let deadline = ((head_changed || !out.is_empty()) && !self.waiting.is_empty())
            .then(|| now + self.max_block_ns);
        (out, deadline)
    }

    /// The producer crashed: its buffer and its blocked calls are gone
    /// (what it held is failed by the caller). The time blocked so far
    /// counts.
    pub fn reset(&mut self, now: Time) {
        if !self.waiting.is_empty() {
            self.blocked_ns += now - self.head_since;
        }
        self.used = 0;
        self.waiting.clear();
    }

    /// `send()` calls blocked or not begun.
    pub fn waiting(&self) -> u64 {
        self.waiting.len() as u64
    }

    /// Bytes held.
    #[cfg(test)]
    pub fn used(&self) -> u64 {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_that_fits_goes_at_once_and_one_that_does_not_waits_for_room() {
        let mut b = BufferPool::new(100, 60);
        assert!(matches!(b.offer(0, 60, 'a'), Offer::Admitted(_)));
        // 60 + 50 > 100: the call blocks, and gives up at 5 + 60.
        assert_eq!(b.offer(5, 50, 'b'), Offer::Waiting(Some(65)));
        // Behind a blocked call even though it would fit.
        assert_eq!(b.offer(6, 10, 'c'), Offer::Waiting(None));
        // 'a' acknowledged at 20: both return, 'b' blocked 15.
        let (out, next) = b.release(20, 60);
        let got: Vec<(char, Time)> = out.iter().map(|p| (p.record, p.intended_ns)).collect();
        assert_eq!(got, [('b', 5), ('c', 6)]);
        assert_eq!(next, None);
        assert_eq!(b.blocked_ns, 15);
        assert_eq!(b.used(), 60);
    }

    #[test]
    fn a_call_blocked_past_max_block_throws_and_the_next_one_begins() {
        let mut b = BufferPool::new(100, 60);
        assert!(matches!(b.offer(0, 100, 'a'), Offer::Admitted(_)));
        assert_eq!(b.offer(10, 30, 'b'), Offer::Waiting(Some(70)));
        assert_eq!(b.offer(20, 30, 'c'), Offer::Waiting(None));
        // Too early: nothing happens.
        assert_eq!(b.expire(69), (Vec::new(), None));
        // 'b' throws at 70; 'c' begins blocking then, until 130.
        assert_eq!(b.expire(70), (Vec::new(), Some(130)));
        assert_eq!(b.refused, 1);
        assert_eq!(b.blocked_ns, 60);
        let (out, _) = b.release(100, 100);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].record, 'c');
        assert_eq!(b.blocked_ns, 90);
    }

    #[test]
    fn a_record_larger_than_the_buffer_is_refused_at_once() {
        let mut b: BufferPool<()> = BufferPool::new(100, 60);
        assert_eq!(b.offer(0, 101, ()), Offer::Refused);
        assert_eq!((b.refused, b.blocked_ns, b.used()), (1, 0, 0));
    }

    #[test]
    fn room_freed_for_some_admits_them_and_sets_the_next_deadline() {
        let mut b = BufferPool::new(100, 60);
        assert!(matches!(b.offer(0, 100, 'a'), Offer::Admitted(_)));
        b.offer(1, 50, 'b');
        b.offer(2, 60, 'c');
        let (out, next) = b.release(10, 100);
        assert_eq!(out.len(), 1);
        assert_eq!(next, Some(70), "'c' begins blocking at 10");
        b.reset(30);
        assert_eq!(b.blocked_ns, 9 + 20);
        assert!(matches!(b.offer(31, 100, 'd'), Offer::Admitted(_)));
    }
}
