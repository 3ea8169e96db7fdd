//! `--trace FILE`: the run as Chrome trace-event JSON, which Perfetto's UI
//! (ui.perfetto.dev) and chrome://tracing open. One track per node
//! (producers, brokers, consumers) and one per partition; produce (creation
//! to acknowledgement) and process (delivery to effect) as slices, appends
//! and replication as instants, faults as global instants, and flow arrows
//! from each event's produce slice to every processing of it and from a
//! processing to the events it emitted (the correlation chain).
//!
//! Streaming: each observation is written as it happens; the writer keeps
//! only deliveries not yet processed.

use crate::history::{Catalog, EventId, Observation, Observer};
use crate::kernel::Time;
use crate::scenario::Fault;
use std::collections::HashMap;
use std::io::Write;

const PRODUCERS: u32 = 1;
const BROKERS: u32 = 2;
const CONSUMERS: u32 = 3;
const PARTITIONS: u32 = 4;

/// Writes the trace; call [`TraceWriter::finish`] at the end.
pub struct TraceWriter<W: Write> {
    out: W,
    first: bool,
    producers: u32,
    catalog: Catalog,
    faults: Vec<Fault>,
    /// (consumer, event) -> delivery time, until processed.
    delivered: HashMap<(u32, EventId), Time>,
    next_flow: u64,
    /// The last event produced and its producer (an emission follows it).
    last_produced: (EventId, u32),
    pub error: Option<std::io::Error>,
}

fn us(t: Time) -> String {
    format!("{}.{:03}", t / 1000, t % 1000)
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

impl<W: Write> TraceWriter<W> {
    pub fn new(out: W, catalog: &Catalog, faults: Vec<Fault>) -> std::io::Result<Self> {
        let mut w = TraceWriter {
            out,
            first: true,
            producers: catalog.producers.len() as u32,
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
        Ok(w)
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

    /// Close the JSON and flush.
    pub fn finish(mut self) -> std::io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.write_all(b"\n]}\n")?;
        self.out.flush()
    }
}

impl<W: Write> Observer for TraceWriter<W> {
    fn observe(&mut self, at: Time, o: &Observation) {
        match *o {
            Observation::Acked {
                event,
                producer,
                created_ns,
                ..
            } => self.slice(
                &format!("produce {event}"),
                PRODUCERS,
                producer,
                created_ns,
                at,
                &format!("\"event\":{event}"),
            ),
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
            }
            Observation::Emitted {
                event, consumer, ..
            } if self.last_produced.0 == event => {
                let emitter = self.last_produced.1;
                self.flow("emits", (CONSUMERS, consumer, at), (PRODUCERS, emitter, at));
            }
            Observation::FaultStarted { fault } => {
                let f = &self.faults[fault as usize];
                let name = format!(
                    "fault: {} {}",
                    f.kind.as_str(),
                    f.target.as_ref().map_or(String::new(), |t| t.to_string())
                );
                self.instant(&name, PRODUCERS, 0, at, "g");
            }
            Observation::FaultEnded { fault } => {
                let f = &self.faults[fault as usize];
                let name = format!(
                    "fault over: {} {}",
                    f.kind.as_str(),
                    f.target.as_ref().map_or(String::new(), |t| t.to_string())
                );
                self.instant(&name, PRODUCERS, 0, at, "g");
            }
            Observation::NodeState { node, state } => {
                let (pid, tid) = if node < self.producers {
                    (PRODUCERS, node)
                } else if node < self.producers + self.catalog.brokers {
                    (BROKERS, node - self.producers)
                } else {
                    (CONSUMERS, node - self.producers - self.catalog.brokers)
                };
                let name = ["up", "crashed", "paused"][state as usize % 3];
                self.instant(name, pid, tid, at, "t");
            }
            _ => {}
        }
    }
}
