//! `saga-atomicity` and `held-resources`: the cross-service invariants of
//! the scenario's business flows (`[[flows]]`, see [`crate::flows`]).

use super::*;
use crate::flows::{Flow, FlowBook, NEVER, Outcome};
use std::cell::RefCell;
use std::rc::Rc;

/// The flows both flow checkers judge: one book, fed by the first of them
/// that is enabled (they read the same observations).
pub(super) type SharedBook = Rc<RefCell<FlowBook>>;

/// A new book for the context's flows.
pub(super) fn shared_book(ctx: &Context) -> SharedBook {
    Rc::new(RefCell::new(FlowBook::new(
        ctx.catalog.flows.clone(),
        ctx.catalog.event_types.len(),
    )))
}

const FLOW_KINDS: &[Kind] = &[
    Kind::Produced,
    Kind::Acked,
    Kind::ProduceFailed,
    Kind::Aborted,
    Kind::Requested,
    Kind::Acted,
    Kind::CallEnded,
];

fn secs(t: Time) -> String {
    format!("{:.3}s", t as f64 / 1e9)
}

/// `order flow of order-42 (event 17)`.
fn subject(ctx: &Context, book: &FlowBook, root: EventId, f: &Flow) -> String {
    format!(
        "{} flow of {} (event {root})",
        book.defs[f.def as usize].name,
        ctx.catalog.keys.text(f.key)
    )
}

fn type_name(ctx: &Context, t: u16) -> &str {
    &ctx.catalog.event_types[t as usize]
}

/// `saga-atomicity`: every flow the front door accepted ends, within its
/// bound, in exactly one of two states: completed (a completion event, no
/// failure, nothing released) or compensated (a failure event, and every
/// resource it took released). A flow the front door reported failed (its
/// root event's producer gave up) has no effect at all.
pub(super) struct SagaAtomicity {
    book: SharedBook,
    /// It feeds the book (else the other flow checker does).
    feeds: bool,
    /// On a cut run: flows still open within their bound.
    open: Option<String>,
}

impl SagaAtomicity {
    pub(super) fn new(book: SharedBook, feeds: bool) -> Self {
        SagaAtomicity {
            book,
            feeds,
            open: None,
        }
    }

    fn judge(
        book: &FlowBook,
        ctx: &Context,
        end: End,
        root: EventId,
        f: &Flow,
    ) -> Option<(Time, String)> {
        let def = &book.defs[f.def as usize];
        let holds = def.holds.len();
        let who = subject(ctx, book, root, f);
        let deadline = f.created_ns.saturating_add(def.within_ns);
        match f.outcome(holds) {
            Outcome::Rejected => f.lasting_effect(def).map(|(at, what)| {
                (
                    at,
                    format!(
                        "{who}: the front door reported it failed at {} (its producer gave up on the root event, or its client got an error or stopped waiting), yet {what} (its first step: {} at {})",
                        secs(f.rejected_ns),
                        type_name(ctx, f.first_step.1),
                        secs(f.first_step.0)
                    ),
                )
            }),
            Outcome::Inconsistent => {
                let what = if f.failed_ns != NEVER {
                    format!("also failed at {}", secs(f.failed_ns))
                } else {
                    let h = (0..holds)
                        .find(|&h| f.released[h].1 != NEVER)
                        .expect("inconsistent without failure: something released");
                    format!(
                        "yet released its {} at {}",
                        def.holds[h].0,
                        secs(f.released[h].1)
                    )
                };
                Some((
                    f.completed_ns.max(f.failed_ns.min(end.t_ns)),
                    format!("{who} completed at {} and {what}", secs(f.completed_ns)),
                ))
            }
            Outcome::Failed => {
                let held: Vec<String> = f
                    .held(holds)
                    .map(|h| format!("{} (taken at {})", def.holds[h].0, secs(f.taken[h].1)))
                    .collect();
                Some((
                    end.t_ns,
                    format!(
                        "{who} failed at {} and was never fully compensated: still holds {}",
                        secs(f.failed_ns),
                        held.join(", ")
                    ),
                ))
            }
            Outcome::Completed | Outcome::Compensated => {
                let ended = f.ended_ns(holds);
                (ended > deadline).then(|| {
                    (
                        ended,
                        format!(
                            "{who} started at {} and was {} only at {}, {} later; within {}",
                            secs(f.created_ns),
                            if f.outcome(holds) == Outcome::Completed {
                                "completed"
                            } else {
                                "compensated"
                            },
                            secs(ended),
                            secs(ended - f.created_ns),
                            secs(def.within_ns)
                        ),
                    )
                })
            }
            Outcome::Open if end.cut && end.t_ns <= deadline => None,
            Outcome::Open => Some((
                deadline.min(end.t_ns),
                format!(
                    "{who} started at {} and neither completed nor failed {}",
                    secs(f.created_ns),
                    if end.t_ns <= deadline {
                        "by the end of the run".to_string()
                    } else {
                        format!("within {}", secs(def.within_ns))
                    }
                ),
            )),
        }
    }
}

impl Checker for SagaAtomicity {
    fn name(&self) -> &'static str {
        "saga-atomicity"
    }
    fn kinds(&self) -> &'static [Kind] {
        if self.feeds { FLOW_KINDS } else { &[] }
    }
    fn observe(&mut self, _ctx: &Context, at: Time, o: &Observation) {
        self.book.borrow_mut().observe(at, o);
    }
    fn finish(&mut self, ctx: &Context, end: End) -> Vec<Violation> {
        let mut found = Vec::new();
        let mut open = 0u64;
        let book = self.book.borrow();
        for (root, f) in book.flows() {
            let holds = book.defs[f.def as usize].holds.len();
            let deadline = f
                .created_ns
                .saturating_add(book.defs[f.def as usize].within_ns);
            if end.cut && f.outcome(holds) == Outcome::Open && end.t_ns <= deadline {
                open += 1;
            }
            if let Some((t, message)) = Self::judge(&book, ctx, end, root, f) {
                // The root, and the first step after it (what went on).
                let mut events = vec![root];
                if f.first_step.0 != NEVER {
                    events.push(f.first_step.2);
                }
                found.push(ctx.violation(
                    "saga-atomicity",
                    t,
                    None,
                    None,
                    Some(f.key),
                    events,
                    message,
                ));
            }
        }
        drop(book);
        if open > 0 {
            self.open = Some(format!("{open} flows still open within their bound"));
        }
        found.sort_by_key(|v| v.t_ns);
        found
    }
    fn undecided(&self) -> Option<String> {
        self.open.clone()
    }
}

/// `held-resources`: no resource stays taken by a flow that did not
/// complete (stock reserved for a declined order), and no resource is
/// released before it was taken (the release finds nothing to release, and
/// what is taken afterwards stays taken).
pub(super) struct HeldResources {
    book: SharedBook,
    /// It feeds the book (else the other flow checker does).
    feeds: bool,
    open: Option<String>,
}

impl HeldResources {
    pub(super) fn new(book: SharedBook, feeds: bool) -> Self {
        HeldResources {
            book,
            feeds,
            open: None,
        }
    }
}

impl Checker for HeldResources {
    fn name(&self) -> &'static str {
        "held-resources"
    }
    fn kinds(&self) -> &'static [Kind] {
        if self.feeds { FLOW_KINDS } else { &[] }
    }
    fn observe(&mut self, _ctx: &Context, at: Time, o: &Observation) {
        self.book.borrow_mut().observe(at, o);
    }
    fn finish(&mut self, ctx: &Context, end: End) -> Vec<Violation> {
        let mut found = Vec::new();
        let mut open = 0u64;
        let book = self.book.borrow();
        for (root, f) in book.flows() {
            let def = &book.defs[f.def as usize];
            let holds = def.holds.len();
            let outcome = f.outcome(holds);
            let who = || subject(ctx, &book, root, f);
            for h in 0..holds {
                let (taken, released) = (f.taken[h], f.released[h]);
                if taken.1 != NEVER && released.1 != NEVER && released.0 < taken.0 {
                    found.push(ctx.violation(
                        "held-resources",
                        taken.1,
                        None,
                        None,
                        Some(f.key),
                        vec![root],
                        format!(
                            "{}: its {} was released ({}) at {}, before it was taken ({}) at {}: the release found nothing to release, and what was taken stays taken",
                            who(),
                            def.holds[h].0,
                            type_name(ctx, def.holds[h].2),
                            secs(released.0),
                            type_name(ctx, def.holds[h].1),
                            secs(taken.0)
                        ),
                    ));
                }
            }
            // Released before taken is reported above, once.
            let held: Vec<usize> = f
                .held(holds)
                .filter(|&h| f.released[h].1 == NEVER)
                .collect();
            // A flow that completed used what it took (shipping consumes
            // the stock), whatever else went wrong with it.
            if held.is_empty() || f.completed_ns != NEVER {
                continue;
            }
            let deadline = f.created_ns.saturating_add(def.within_ns);
            if outcome == Outcome::Open && end.cut && end.t_ns <= deadline {
                open += 1;
                continue;
            }
            let why = match outcome {
                Outcome::Failed => format!("it failed at {}", secs(f.failed_ns)),
                Outcome::Rejected => format!(
                    "the front door reported it failed at {}",
                    secs(f.rejected_ns)
                ),
                _ if end.t_ns > deadline => format!(
                    "it did not complete within {} of its start at {}",
                    secs(def.within_ns),
                    secs(f.created_ns)
                ),
                _ => "it never completed".to_string(),
            };
            let what: Vec<String> = held
                .iter()
                .map(|&h| {
                    format!(
                        "{} (taken by {} at {})",
                        def.holds[h].0,
                        type_name(ctx, def.holds[h].1),
                        secs(f.taken[h].1)
                    )
                })
                .collect();
            found.push(ctx.violation(
                "held-resources",
                end.t_ns,
                None,
                None,
                Some(f.key),
                vec![root],
                format!(
                    "{} still holds {} at the end of the run; {why}",
                    who(),
                    what.join(", ")
                ),
            ));
        }
        drop(book);
        if open > 0 {
            self.open = Some(format!("{open} open flows hold resources"));
        }
        found.sort_by_key(|v| v.t_ns);
        found
    }
    fn undecided(&self) -> Option<String> {
        self.open.clone()
    }
}
