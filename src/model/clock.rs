//! Clocks that are off (`clock-skew` faults): a producer's skew shifts
//! the CreateTime it stamps on its records, a broker's the time by which it
//! judges timestamps (KIP-937's bounds) and deletes by time-based retention.
//!
//! Kafka keeps one timestamp per record: the producer's CreateTime, or with
//! `message.timestamp.type=LogAppendTime` the leader's clock at the append.
//! Time-based retention deletes a segment once its largest timestamp is
//! `retention.ms` older than the broker's clock, and stops at the first
//! segment it may not delete; eventsim does the same record by record. So a
//! producer whose clock is behind writes records that are deleted early,
//! and one whose clock is ahead holds the log past its retention.
//!
//! Kept only when the plan has a clock-skew fault (`Cluster::clocks`), so
//! other runs pay one `is_some` test per append and per retention pass.

use super::EventMeta;
use crate::kernel::Time;

pub(crate) struct Clocks {
    /// Per client (producer or emitter, by id): the steps of its skew, in
    /// time order: (from when, skew in ns from then on).
    clients: Vec<Vec<(Time, i64)>>,
    /// Per broker: its clock's skew now (ns).
    brokers: Vec<i64>,
}

impl Clocks {
    /// Every clock right, for `clients` clients and `brokers` brokers.
    pub fn new(clients: usize, brokers: usize) -> Self {
        Clocks {
            clients: vec![Vec::new(); clients],
            brokers: vec![0; brokers],
        }
    }

    /// Client `c`'s clock moves by `delta` ns from `now` on (skews of
    /// overlapping faults add up).
    pub fn shift_client(&mut self, c: u32, now: Time, delta: i64) {
        let steps = &mut self.clients[c as usize];
        let skew = steps.last().map_or(0, |s| s.1) + delta;
        match steps.last_mut() {
            Some(last) if last.0 == now => last.1 = skew,
            _ => steps.push((now, skew)),
        }
    }

    /// Broker `b`'s clock moves by `delta` ns.
    pub fn shift_broker(&mut self, b: u32, delta: i64) {
        self.brokers[b as usize] += delta;
    }

    /// How far client `c`'s clock was off at `at`.
    fn client_skew(&self, c: u16, at: Time) -> i64 {
        let steps = &self.clients[c as usize];
        match steps.partition_point(|s| s.0 <= at) {
            0 => 0,
            i => steps[i - 1].1,
        }
    }

    /// A record's timestamp, in ns from the start of the run (negative:
    /// before it): the CreateTime its producer's clock stamped, or for a
    /// LogAppendTime topic the time it was written (the leader's skew does
    /// not reach it).
    pub fn timestamp(&self, e: &EventMeta, log_append_time: bool) -> i64 {
        let t = e.created_ns as i64;
        if log_append_time {
            t
        } else {
            t + self.client_skew(e.producer, e.created_ns)
        }
    }

    /// Broker `b`'s clock at `now`.
    pub fn broker_now(&self, b: u32, now: Time) -> i64 {
        now as i64 + self.brokers[b as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(producer: u16, created_ns: Time) -> EventMeta {
        EventMeta {
            created_ns,
            origin_created_ns: created_ns,
            origin: 0,
            key: 0,
            version: 1,
            value: 0,
            size: 0,
            event_type: 0,
            producer,
        }
    }

    #[test]
    fn a_record_carries_its_producers_skew_at_its_creation() {
        let mut c = Clocks::new(2, 1);
        c.shift_client(0, 100, -1_000);
        c.shift_client(0, 200, 1_000); // the fault ends: right again
        assert_eq!(c.timestamp(&event(0, 50), false), 50);
        assert_eq!(c.timestamp(&event(0, 150), false), 150 - 1_000);
        assert_eq!(c.timestamp(&event(0, 250), false), 250);
        assert_eq!(c.timestamp(&event(1, 150), false), 150);
        // LogAppendTime: the producer's clock does not matter.
        assert_eq!(c.timestamp(&event(0, 150), true), 150);
    }

    #[test]
    fn skews_of_overlapping_faults_add_up_and_brokers_keep_their_own() {
        let mut c = Clocks::new(1, 2);
        c.shift_client(0, 10, 5);
        c.shift_client(0, 10, 7);
        assert_eq!(c.timestamp(&event(0, 10), false), 22);
        c.shift_broker(1, -3);
        assert_eq!((c.broker_now(0, 100), c.broker_now(1, 100)), (100, 97));
    }
}
