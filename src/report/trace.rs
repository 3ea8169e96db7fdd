//! `--trace FILE`: the run as Chrome trace-event JSON, which Perfetto's UI
//! (ui.perfetto.dev) and chrome://tracing open. One track per node
//! (producers, brokers, consumers) and one per partition; produce (creation
//! to acknowledgement) and process (delivery to effect) as slices, appends
//! and replication as instants, and flow arrows from each event's produce
//! slice to every processing of it and from a processing to the events it
//! emitted (the correlation chain). Faults are slices on a `faults` track,
//! from when they fired to when they ended (or the end of the run), and
//! global instants where they start and end. Counter tracks: each
//! producer's unacknowledged records, each partition's ISR size and each
//! group's lag per partition (high watermark minus committed offset, as
//! `kafka-consumer-groups --describe` reports it). Services called
//! synchronously have a track each: their calls as slices (from the
//! attempt's sending to its end, named by outcome), requests and effects
//! as instants.
//!
//! Streaming: each observation is written as it happens; the writer keeps
//! only deliveries not yet processed, events not yet acknowledged and the
//! faults still running. Counters changed at one instant are written once,
//! with their last value, when time moves on.

use crate::history::{Catalog, EventId, Observation, Observer};
use crate::kernel::Time;
use crate::scenario::Fault;
use std::collections::HashMap;
use std::io::Write;

const PRODUCERS: u32 = 1;
const BROKERS: u32 = 2;
const CONSUMERS: u32 = 3;
const PARTITIONS: u32 = 4;
const FAULTS: u32 = 5;
const LAG: u32 = 6;
const SERVICES: u32 = 7;
const CONTROLLERS: u32 = 8;

/// One counter track.
struct Counter {
    name: String,
    pid: u32,
    /// The value's name in the track (its unit).
    arg: &'static str,
    value: i64,
    dirty: bool,
}

/// Which counter: unacked records of a producer, ISR of a partition, lag
/// of (group, partition).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum CounterKey {
    Unacked(u32),
    Isr(u32),
    Lag(u32, u32),
}

/// Writes the trace; call [`TraceWriter::finish`] at the end.
pub struct TraceWriter<W: Write> {
    out: W,
    first: bool,
    catalog: Catalog,
    faults: Vec<Fault>,
    /// (consumer, event) -> delivery time, until processed.
    delivered: HashMap<(u32, EventId), Time>,
    next_flow: u64,
    /// The last event produced and its producer (an emission follows it).
    last_produced: (EventId, u32),
    /// Counter tracks in creation order, looked up by key (the map is
    /// never iterated, so its order reaches no output).
    counters: Vec<Counter>,
    counter_index: HashMap<CounterKey, usize>,
    /// Counters changed at `now`, in the order they changed.
    dirty: Vec<usize>,
    now: Time,
    /// Events produced and not yet acknowledged, failed or aborted.
    unacked: HashMap<EventId, u32>,
    /// Per partition: its high watermark and the groups reading it.
    high_watermark: Vec<u64>,
    readers: Vec<Vec<u32>>,
    /// (group, partition) -> committed offset (where the group starts
    /// before its first commit).
    committed: HashMap<(u32, u32), u64>,
    /// Fault -> when it started, while it runs.
    running: Vec<Option<Time>>,
    pub error: Option<std::io::Error>,
}

fn us(t: Time) -> String {
    format!("{}.{:03}", t / 1000, t % 1000)
}

/// `crash broker-1`: the fault's kind and target.
fn fault_name(f: &Fault) -> String {
    match &f.target {
        Some(t) => format!("{} {t}", f.kind.as_str()),
        None => f.kind.as_str().to_string(),
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

impl<W: Write> TraceWriter<W> {
    /// `earliest[g]`: group `g` starts from the log start, so its lag
    /// counts from offset 0 before its first assignment (as in
    /// `timeseries.csv`).
    pub fn new(
        out: W,
        catalog: &Catalog,
        faults: Vec<Fault>,
        earliest: &[bool],
    ) -> std::io::Result<Self> {
        let mut readers = vec![Vec::new(); catalog.partitions.len()];
        let mut committed = HashMap::new();
        for (g, parts) in catalog.group_partitions.iter().enumerate() {
            for &p in parts {
                readers[p as usize].push(g as u32);
                if earliest.get(g).copied().unwrap_or(false) {
                    committed.insert((g as u32, p), 0);
                }
            }
        }
        let mut w = TraceWriter {
            counters: Vec::new(),
            counter_index: HashMap::new(),
            dirty: Vec::new(),
            now: 0,
            unacked: HashMap::new(),
            high_watermark: vec![0; catalog.partitions.len()],
            readers,
            committed,
            running: vec![None; faults.len()],
            out,
            first: true,
            catalog: catalog.clone(),
            faults,
            delivered: HashMap::new(),
            next_flow: 0,
            last_produced: (EventId::MAX, 0),
            error: None,
        };
        w.out
            .write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")?;
        for (pid, name) in [
            (PRODUCERS, "producers"),
            (BROKERS, "brokers"),
            (CONSUMERS, "consumers"),
            (PARTITIONS, "partitions"),
            (FAULTS, "faults"),
            (LAG, "consumer lag"),
            (SERVICES, "services"),
            (CONTROLLERS, "controllers"),
        ] {
            w.event(&format!(
                "{{\"name\":\"process_name\",\"ph\":\"M\",\"ts\":0,\"pid\":{pid},\"tid\":0,\"args\":{{\"name\":\"{name}\"}}}}"
            ));
        }
        let c = w.catalog.clone();
        for (i, name) in c.producers.iter().enumerate() {
            w.thread_name(PRODUCERS, i as u32, name);
        }
        for b in 0..c.brokers {
            w.thread_name(BROKERS, b, &format!("broker-{b}"));
        }
        for i in 0..c.consumers.len() as u32 {
            w.thread_name(CONSUMERS, i, &c.consumer_name(i));
        }
        for p in 0..c.partitions.len() as u32 {
            w.thread_name(PARTITIONS, p, &c.partition_name(p));
        }
        for (i, name) in c.services.iter().enumerate() {
            w.thread_name(SERVICES, i as u32, name);
        }
        for (i, &node) in c.voters.iter().enumerate() {
            w.thread_name(CONTROLLERS, i as u32, &c.nodes[node as usize]);
        }
        for (i, f) in w.faults.clone().iter().enumerate() {
            w.thread_name(FAULTS, i as u32, &fault_name(f));
        }
        // Every partition starts with its full ISR.
        for (p, &rf) in c.replication.iter().enumerate() {
            w.set(CounterKey::Isr(p as u32), i64::from(rf));
        }
        Ok(w)
    }

    /// The counter for `key`, created on first use.
    fn counter(&mut self, key: CounterKey) -> usize {
        if let Some(&i) = self.counter_index.get(&key) {
            return i;
        }
        let (name, pid, arg) = match key {
            CounterKey::Unacked(p) => (
                format!("unacked {}", self.catalog.producers[p as usize]),
                PRODUCERS,
                "records",
            ),
            CounterKey::Isr(p) => (
                format!("isr {}", self.catalog.partition_name(p)),
                PARTITIONS,
                "replicas",
            ),
            CounterKey::Lag(g, p) => (
                format!(
                    "lag {} {}",
                    self.catalog.groups[g as usize],
                    self.catalog.partition_name(p)
                ),
                LAG,
                "records",
            ),
        };
        self.counters.push(Counter {
            name,
            pid,
            arg,
            value: 0,
            dirty: false,
        });
        self.counter_index.insert(key, self.counters.len() - 1);
        self.counters.len() - 1
    }

    fn set(&mut self, key: CounterKey, value: i64) {
        let i = self.counter(key);
        let c = &mut self.counters[i];
        c.value = value;
        if !c.dirty {
            c.dirty = true;
            self.dirty.push(i);
        }
    }

    fn add(&mut self, key: CounterKey, delta: i64) {
        let i = self.counter(key);
        let v = self.counters[i].value + delta;
        self.set(key, v);
    }

    /// Write the counters changed at `now` with their last values.
    fn flush_counters(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for &i in &dirty {
            let c = &mut self.counters[i];
            c.dirty = false;
            let line = format!(
                "{{\"name\":{},\"ph\":\"C\",\"ts\":{},\"pid\":{},\"tid\":0,\"args\":{{\"{}\":{}}}}}",
                json_str(&c.name),
                us(self.now),
                c.pid,
                c.arg,
                c.value
            );
            self.event(&line);
        }
        self.dirty = dirty;
        self.dirty.clear();
    }

    /// A group's lag on a partition, once it has committed there.
    fn update_lag(&mut self, group: u32, partition: u32) {
        if let Some(&offset) = self.committed.get(&(group, partition)) {
            let hw = self.high_watermark[partition as usize];
            self.set(
                CounterKey::Lag(group, partition),
                hw.saturating_sub(offset) as i64,
            );
        }
    }

    /// The fault's slice, from its start to `end`.
    fn fault_slice(&mut self, fault: usize, end: Time) {
        if let Some(start) = self.running[fault].take() {
            let name = fault_name(&self.faults[fault]);
            self.slice(&name, FAULTS, fault as u32, start, end, "");
        }
    }

    fn thread_name(&mut self, pid: u32, tid: u32, name: &str) {
        self.event(&format!(
            "{{\"name\":\"thread_name\",\"ph\":\"M\",\"ts\":0,\"pid\":{pid},\"tid\":{tid},\"args\":{{\"name\":{}}}}}",
            json_str(name)
        ));
    }

    fn event(&mut self, json: &str) {
        if self.error.is_some() {
            return;
        }
        let sep: &[u8] = if self.first { b"" } else { b",\n" };
        self.first = false;
        if let Err(e) = self
            .out
            .write_all(sep)
            .and_then(|()| self.out.write_all(json.as_bytes()))
        {
            self.error = Some(e);
        }
    }

    fn slice(&mut self, name: &str, pid: u32, tid: u32, start: Time, end: Time, args: &str) {
        self.event(&format!(
            "{{\"name\":{},\"ph\":\"X\",\"ts\":{},\"dur\":{},\"pid\":{pid},\"tid\":{tid},\"args\":{{{args}}}}}",
            json_str(name),
            us(start),
            us(end.saturating_sub(start))
        ));
    }

    fn instant(&mut self, name: &str, pid: u32, tid: u32, at: Time, scope: &str) {
        self.event(&format!(
            "{{\"name\":{},\"ph\":\"i\",\"s\":\"{scope}\",\"ts\":{},\"pid\":{pid},\"tid\":{tid}}}",
            json_str(name),
            us(at)
        ));
    }

    /// A flow arrow from (pid, tid) at `from` to (pid, tid) at `to`; both
    /// ends are written together, so every start has its end.
    fn flow(&mut self, name: &str, from: (u32, u32, Time), to: (u32, u32, Time)) {
        let id = self.next_flow;
        self.next_flow += 1;
        self.event(&format!(
            "{{\"name\":{},\"cat\":\"flow\",\"ph\":\"s\",\"id\":{id},\"ts\":{},\"pid\":{},\"tid\":{}}}",
            json_str(name),
            us(from.2),
            from.0,
            from.1
        ));
        self.event(&format!(
            "{{\"name\":{},\"cat\":\"flow\",\"ph\":\"f\",\"bp\":\"e\",\"id\":{id},\"ts\":{},\"pid\":{},\"tid\":{}}}",
            json_str(name),
            us(to.2),
            to.0,
            to.1
        ));
    }

    /// Close the JSON and flush: counters changed at the last instant
    /// and faults still running (they last to the end) are written first.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.flush_counters();
        for f in 0..self.running.len() {
            self.fault_slice(f, self.now);
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.write_all(b"\n]}\n")?;
        self.out.flush()
    }
}

impl<W: Write> Observer for TraceWriter<W> {
    fn observe(&mut self, at: Time, o: &Observation) {
        if at > self.now {
            self.flush_counters();
            self.now = at;
        }
        match *o {
            Observation::Acked {
                event,
                producer,
                created_ns,
                ..
            } => {
                self.slice(
                    &format!("produce {event}"),
                    PRODUCERS,
                    producer,
                    created_ns,
                    at,
                    &format!("\"event\":{event}"),
                );
                if self.unacked.remove(&event).is_some() {
                    self.add(CounterKey::Unacked(producer), -1);
                }
            }
            Observation::Appended {
                event,
                partition,
                offset,
            } => self.instant(
                &format!("append {event} @{offset}"),
                PARTITIONS,
                partition,
                at,
                "t",
            ),
            Observation::Replicated {
                partition,
                broker,
                end_offset,
            } => {
                let name = format!(
                    "replicate {} to {end_offset}",
                    self.catalog.partition_name(partition)
                );
                self.instant(&name, BROKERS, broker, at, "t");
            }
            Observation::Delivered {
                event, consumer, ..
            } => {
                self.delivered.insert((consumer, event), at);
            }
            Observation::Applied {
                event,
                consumer,
                producer,
                created_ns,
                ..
            } => {
                let from = self.delivered.remove(&(consumer, event)).unwrap_or(at);
                self.slice(
                    &format!("process {event}"),
                    CONSUMERS,
                    consumer,
                    from,
                    at,
                    &format!("\"event\":{event}"),
                );
                self.flow(
                    "event",
                    (PRODUCERS, producer, created_ns),
                    (CONSUMERS, consumer, from),
                );
            }
            Observation::Skipped {
                event, consumer, ..
            }
            | Observation::GaveUp {
                event, consumer, ..
            } => {
                self.delivered.remove(&(consumer, event));
            }
            Observation::Produced {
                event, producer, ..
            } => {
                self.last_produced = (event, producer);
                self.unacked.insert(event, producer);
                self.add(CounterKey::Unacked(producer), 1);
            }
            Observation::ProduceFailed { event, .. } | Observation::Aborted { event, .. } => {
                if let Some(p) = self.unacked.remove(&event) {
                    self.add(CounterKey::Unacked(p), -1);
                }
            }
            Observation::IsrChanged { partition, isr } => {
                self.set(CounterKey::Isr(partition), i64::from(isr));
            }
            Observation::HighWatermark { partition, offset } => {
                self.high_watermark[partition as usize] = offset;
                for i in 0..self.readers[partition as usize].len() {
                    let g = self.readers[partition as usize][i];
                    self.update_lag(g, partition);
                }
            }
            Observation::Committed {
                group,
                partition,
                offset,
                ..
            }
            | Observation::Assigned {
                group,
                partition,
                offset,
                ..
            } => {
                self.committed.insert((group, partition), offset);
                self.update_lag(group, partition);
            }
            Observation::Emitted {
                event, consumer, ..
            } if self.last_produced.0 == event => {
                let emitter = self.last_produced.1;
                self.flow("emits", (CONSUMERS, consumer, at), (PRODUCERS, emitter, at));
            }
            Observation::FaultStarted { fault } => {
                let name = format!("fault: {}", fault_name(&self.faults[fault as usize]));
                self.instant(&name, PRODUCERS, 0, at, "g");
                self.fault_slice(fault as usize, at); // fired again: the last one ends
                self.running[fault as usize] = Some(at);
            }
            Observation::FaultEnded { fault } => {
                let name = format!("fault over: {}", fault_name(&self.faults[fault as usize]));
                self.instant(&name, PRODUCERS, 0, at, "g");
                self.fault_slice(fault as usize, at);
            }
            Observation::Requested { event, service, .. } => {
                self.instant(&format!("request {event}"), SERVICES, service, at, "t");
            }
            Observation::Acted {
                event,
                service,
                origin,
                event_type,
                ..
            } => {
                let name = format!(
                    "{} {event} (flow {origin})",
                    self.catalog.event_types[event_type as usize]
                );
                self.instant(&name, SERVICES, service, at, "t");
            }
            Observation::CallEnded {
                service,
                caller,
                origin,
                attempt,
                outcome,
                compensation,
                latency_ns,
            } => {
                let from = self.catalog.caller_name(caller);
                let what = if compensation { "undo" } else { "call" };
                let name = format!("{what} from {from}: {}", outcome.as_str());
                let args = format!("\"flow\":{origin},\"attempt\":{attempt}");
                self.slice(&name, SERVICES, service, at - latency_ns, at, &args);
            }
            Observation::NodeState { node, state } => {
                let c = &self.catalog;
                // Nodes: producers, brokers, consumers, services, then
                // dedicated controllers.
                let brokers_end = c.first_broker_node + c.brokers;
                let dedicated = c.voters.iter().filter(|&&n| n >= brokers_end).count();
                let services_from = c.nodes.len() - dedicated - c.services.len();
                let controller = c.voters.iter().position(|&n| n == node);
                let (pid, tid) = match controller {
                    Some(v) if node >= brokers_end => (CONTROLLERS, v as u32),
                    _ if node as usize >= services_from => (SERVICES, node - services_from as u32),
                    _ if node < c.first_broker_node => (PRODUCERS, node),
                    _ if node < brokers_end => (BROKERS, node - c.first_broker_node),
                    _ => (CONSUMERS, node - brokers_end),
                };
                let name = ["up", "crashed", "paused"][state as usize % 3];
                self.instant(name, pid, tid, at, "t");
            }
            Observation::Controller { voter, epoch } => {
                let name = match voter {
                    Some(_) => format!("active controller (epoch {epoch})"),
                    None => "quorum lost: metadata frozen".to_string(),
                };
                self.instant(&name, CONTROLLERS, voter.unwrap_or(0), at, "p");
            }
            _ => {}
        }
    }
}
