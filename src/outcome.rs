//! What a finished run hands to the reports: its figures, its fault log
//! and what each fault struck. The model makes it; the reports, the
//! checkers' explanations and the command line read it, without knowing
//! the model.

use crate::history::Catalog;
use crate::kernel::{StopReason, Time};
use crate::metrics::Metrics;
use crate::scenario::Fault;

/// What a finished run hands to reports.
pub struct RunResult {
    /// The scenario's name.
    pub scenario_name: String,
    /// The master seed.
    pub seed: u64,
    /// Simulated time when the run stopped.
    pub sim_time_ns: Time,
    /// Kernel events handled.
    pub kernel_events: u64,
    /// Why the run stopped.
    pub stop_reason: StopReason,
    /// Names and topology: what the ids in the history refer to.
    pub catalog: Catalog,
    /// Counts, latencies and rates.
    pub metrics: Metrics,
    /// Records still in each partition's leader log at the end (by partition).
    pub log_end_offsets: Vec<u64>,
    /// The concrete fault plan (schedule, then random draws).
    pub faults: Vec<Fault>,
    /// Every start and end of a fault, in time order.
    pub fault_log: Vec<FaultRecord>,
    /// What each fault struck, by fault index (`None`: it never fired).
    pub fault_hits: Vec<Option<FaultHit>>,
    /// When the last producer stopped producing.
    pub production_end_ns: Time,
    /// Throughput, lag, in-flight, ISR, node state and latency over time.
    pub series: crate::timeseries::TimeSeries,
    /// Per group: what it had not finished when the run stopped.
    pub unfinished: Vec<Unfinished>,
    /// Per broker: how long it spent appending (its `capacity` and
    /// `append_latency` work).
    pub broker_busy_ns: Vec<Time>,
    /// Per producer (catalog order): how long its application's `send()`
    /// blocked on a full buffer, the records it refused and those still
    /// waiting to be sent at the end.
    pub producer_pressure: Vec<(Time, u64, u64)>,
}

/// What a group had not finished when the run stopped: records it could
/// read and had not processed. Their latency is at least their age at the
/// end; the latency percentiles count only what finished.
#[derive(Clone, Debug, Default)]
pub struct Unfinished {
    /// How many records.
    pub events: u64,
    /// When the oldest of them was created (simulated ns).
    pub oldest_created_ns: Option<Time>,
    /// Their ages at the end (ns): a lower bound of their latency, which
    /// the `objectives` checker counts beside what finished.
    pub ages: crate::latency::LatencyStream,
}

impl RunResult {
    /// The faults that fired, in firing order, as a schedule: put it in
    /// `[[faults]]` with random faults off and the run is the same.
    pub fn fired_schedule(&self) -> Vec<Fault> {
        self.fault_log
            .iter()
            .filter(|r| r.phase == "start")
            .map(|r| self.faults[r.fault as usize].clone())
            .collect()
    }
}

/// A start or end of a fault, as `faults.csv` lists them.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRecord {
    /// When (simulated ns).
    pub t_ns: Time,
    /// `start` or `end`.
    pub phase: &'static str,
    /// Index into [`RunResult::faults`].
    pub fault: u32,
}

/// What one fault struck, as `faults.csv`, `summary.json` and the page
/// report it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultHit {
    /// It could not have changed any record's fate: it struck a node that
    /// held nothing, or a link that carried nothing while it lasted.
    pub nothing: bool,
    /// What it struck, in words (`leader of 4 partitions, follower of 8`).
    pub what: String,
}
