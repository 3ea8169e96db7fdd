//! `availability`.

use super::*;
use crate::availability::AvailabilityBook;

/// `availability`: no partition goes without a live leader (one that is up
/// and not fenced) for longer than the bound. A cluster that stops serving
/// a partition for longer than that has failed its users, whatever the
/// other checkers found about the records it did serve.
pub(super) struct Availability {
    bound_ns: Time,
    book: AvailabilityBook,
    /// Per partition: the start of the outage already reported.
    reported: Vec<Option<Time>>,
    found: Vec<Violation>,
    /// On a cut run: outages under way that had not reached the bound.
    open: Option<String>,
}

impl Availability {
    pub(super) fn new(ctx: &Context, bound_ns: Time) -> Self {
        Availability {
            bound_ns,
            book: AvailabilityBook::new(&ctx.catalog, false),
            reported: vec![None; ctx.catalog.partitions.len()],
            found: Vec::new(),
            open: None,
        }
    }

    /// Report every outage under way that has lasted past the bound by
    /// `now`; the book's state is the state since its last observation,
    /// so it is the state when the bound ran out.
    fn judge(&mut self, ctx: &Context, now: Time, at_end: bool) {
        if !self.book.any_open() {
            return;
        }
        let c = &ctx.catalog;
        let mut new = Vec::new();
        for o in self.book.open_outages() {
            let p = o.partition as usize;
            if now.saturating_sub(o.from_ns) <= self.bound_ns || self.reported[p] == Some(o.from_ns)
            {
                continue;
            }
            let replicas: Vec<String> = c.replicas[p]
                .iter()
                .map(|&b| format!("broker-{b} {}", self.book.broker_state(b).unwrap_or("up")))
                .collect();
            let why = match self.book.leader_of(o.partition) {
                _ if self.book.quorum_lost() => {
                    "the controller quorum had no leader, so no election could be held"
                }
                Some(b) if self.book.broker_state(b) == Some("fenced") => {
                    "its leader is fenced and was not replaced"
                }
                Some(_) => {
                    "the controller had not fenced its leader yet (it waits broker_session_timeout after the last heartbeat)"
                }
                None => {
                    "no live replica could lead (in the ISR, or with an empty ISR in the ELR or the last leader), and unclean election is off"
                }
            };
            let until = if at_end {
                format!(
                    "{:.3}s, to the end of the run",
                    (now - o.from_ns) as f64 / 1e9
                )
            } else {
                format!("more than {:.3}s", self.bound_ns as f64 / 1e9)
            };
            new.push((
                o.partition,
                o.from_ns,
                format!(
                    "{} had no live leader for {until} (from {:.3}s: {}; bound {:.3}s): {why}; replicas {}",
                    c.partition_name(o.partition),
                    o.from_ns as f64 / 1e9,
                    o.cause.describe(),
                    self.bound_ns as f64 / 1e9,
                    replicas.join(", "),
                ),
            ));
        }
        for (p, from, message) in new {
            self.reported[p as usize] = Some(from);
            let t = from.saturating_add(self.bound_ns);
            self.found.push(ctx.violation(
                "availability",
                t,
                None,
                Some(p),
                None,
                Vec::new(),
                message,
            ));
        }
    }
}

impl Checker for Availability {
    fn name(&self) -> &'static str {
        "availability"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[
            Kind::LeaderElected,
            Kind::IsrChanged,
            Kind::Fenced,
            Kind::Unfenced,
            Kind::NodeState,
            Kind::Controller,
        ]
    }
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation) {
        self.judge(ctx, at, false);
        self.book.observe(at, o);
    }
    fn finish(&mut self, ctx: &Context, end: End) -> Vec<Violation> {
        // An outage that reached the bound before the end was found then;
        // one still under way is judged on its length at the end.
        self.judge(ctx, end.t_ns, true);
        if end.cut {
            let short: Vec<String> = self
                .book
                .open_outages()
                .filter(|o| self.reported[o.partition as usize] != Some(o.from_ns))
                .map(|o| ctx.catalog.partition_name(o.partition))
                .collect();
            if !short.is_empty() {
                self.open = Some(format!(
                    "{} partition(s) without a live leader at the cut, for less than the bound ({})",
                    short.len(),
                    short.join(", ")
                ));
            }
        }
        std::mem::take(&mut self.found)
    }
    fn undecided(&self) -> Option<String> {
        self.open.clone()
    }
}
