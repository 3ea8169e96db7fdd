//! The explainer: a second pass over a history that collects, for each
//! violation, the observations that led to it.

use super::*;

/// One explanation line: (time, text, the event, group, partition it concerns).
/// (when, text, event, group, partition, and whether it explains what
/// follows even from before the violation's first event: a clock that is
/// off stamps and judges every later record).
type Line = (
    Time,
    String,
    Option<EventId>,
    Option<u32>,
    Option<u32>,
    bool,
);

/// Collects, in a second pass over a history, the observations that
/// explain a set of violations.
pub struct Explainer {
    ctx: Context,
    events: BTreeSet<EventId>,
    groups: BTreeSet<u32>,
    partitions: BTreeSet<u32>,
    /// (time, line, events / group / partition it concerns).
    lines: Vec<Line>,
    /// When the last power-loss or disk-failure fault fired: what is
    /// truncated then was lost with a page cache or a disk, not cut by an
    /// election.
    power_loss_at: Option<Time>,
}

/// Violations explained per checker, at most.
pub const EXPLAINED_PER_CHECKER: usize = 20;

impl Explainer {
    /// An explainer for `violations`, found in a run of the context's scenario.
    pub fn new(ctx: &Context, violations: &[Violation]) -> Explainer {
        let mut e = Explainer {
            ctx: ctx.clone(),
            events: BTreeSet::new(),
            groups: BTreeSet::new(),
            partitions: BTreeSet::new(),
            lines: Vec::new(),
            power_loss_at: None,
        };
        let mut per: BTreeMap<&str, usize> = BTreeMap::new();
        for v in violations {
            let n = per.entry(v.invariant.as_str()).or_default();
            *n += 1;
            // Over the limit, or explained by its checker (objectives).
            if *n > EXPLAINED_PER_CHECKER || !v.explanation.is_empty() {
                continue;
            }
            e.events.extend(v.events.iter().copied());
            e.groups.extend(v.ids.group);
            e.partitions.extend(v.ids.partition);
        }
        e
    }

    /// Attach explanations to the violations (the first
    /// `EXPLAINED_PER_CHECKER` of each checker).
    pub fn explain(&self, violations: &mut [Violation]) {
        let mut per: BTreeMap<String, usize> = BTreeMap::new();
        for v in violations.iter_mut() {
            let n = per.entry(v.invariant.clone()).or_default();
            *n += 1;
            if *n > EXPLAINED_PER_CHECKER || !v.explanation.is_empty() {
                continue;
            }
            let first = self
                .lines
                .iter()
                .filter(|l| l.2.is_some_and(|e| v.events.contains(&e)))
                .map(|l| l.0)
                .min()
                .unwrap_or(0);
            let relevant: Vec<&Line> = self
                .lines
                .iter()
                .filter(|l| l.0 <= v.t_ns)
                .filter(|l| {
                    l.5 || match (l.2, l.3, l.4) {
                        (Some(e), _, _) => v.events.contains(&e),
                        (None, Some(g), Some(p)) => {
                            v.ids.group == Some(g) && v.ids.partition == Some(p) && l.0 >= first
                        }
                        (None, Some(g), None) => v.ids.group == Some(g) && l.0 >= first,
                        (None, None, Some(p)) => v.ids.partition == Some(p) && l.0 >= first,
                        (None, None, None) => l.0 >= first,
                    }
                })
                .collect();
            // Every line about the violation's own events (the first and
            // last few if there are many), and the context closest to it.
            let own: Vec<usize> = (0..relevant.len())
                .filter(|&i| relevant[i].2.is_some())
                .collect();
            let context: Vec<usize> = (0..relevant.len())
                .filter(|&i| relevant[i].2.is_none())
                .collect();
            let mut keep: BTreeSet<usize> = BTreeSet::new();
            keep.extend(own.iter().take(6));
            keep.extend(own.iter().rev().take(4));
            keep.extend(context.iter().rev().take(6));
            v.explanation = keep.into_iter().map(|i| relevant[i].1.clone()).collect();
        }
    }

    /// `12.000s fault: clock-skew teller (its clock 2h behind until the
    /// fault ends)`.
    fn fault_line(&self, t: &str, fault: u32) -> String {
        let f = &self.ctx.faults[fault as usize];
        let skew = f.skew.map_or(String::new(), |k| {
            let by = crate::scenario::Duration(k.ns().unsigned_abs());
            let way = if k.ns() < 0 { "behind" } else { "ahead" };
            format!(" (its clock {by} {way} until the fault ends)")
        });
        format!(
            "{t} fault: {} {}{skew}",
            f.kind.as_str(),
            f.target.as_ref().map_or(String::new(), |x| x.to_string())
        )
    }

    fn t(at: Time) -> String {
        format!("{:.3}s", at as f64 / 1e9)
    }
}

impl Observer for Explainer {
    fn observe(&mut self, at: Time, o: &Observation) {
        if let Observation::FaultStarted { fault } = *o
            && matches!(
                self.ctx.faults[fault as usize].kind,
                crate::scenario::FaultKind::PowerLoss | crate::scenario::FaultKind::DiskFailure
            )
        {
            self.power_loss_at = Some(at);
        }
        let power_loss = self.power_loss_at == Some(at);
        let c = &self.ctx.catalog;
        let t = Self::t(at);
        let mine = |e: &EventId| self.events.contains(e);
        let ev = |event: EventId, line: String| Some((line, Some(event), None, None));
        let gp = |g: u32, p: u32, line: String| Some((line, None, Some(g), Some(p)));
        let line = match *o {
            Observation::Acked {
                event, producer, ..
            } if mine(&event) => ev(
                event,
                format!(
                    "{t} event {event} acknowledged to {}",
                    c.producers[producer as usize]
                ),
            ),
            Observation::Appended {
                event,
                partition,
                offset,
            } if mine(&event) => ev(
                event,
                format!(
                    "{t} event {event} appended to {} at offset {offset}",
                    c.partition_name(partition)
                ),
            ),
            Observation::ProduceFailed { event, producer } if mine(&event) => ev(
                event,
                format!(
                    "{t} event {event}: {} gave up on it (retries or delivery_timeout exhausted)",
                    c.producers[producer as usize]
                ),
            ),
            Observation::Emitted {
                event,
                source,
                consumer,
                ..
            } if mine(&event) => ev(
                event,
                format!(
                    "{t} event {event} emitted by {} processing event {source}",
                    c.consumer_name(consumer)
                ),
            ),
            Observation::Delivered {
                event,
                consumer,
                partition,
                offset,
                ..
            } if mine(&event) => ev(
                event,
                format!(
                    "{t} event {event} delivered to {} ({} offset {offset})",
                    c.consumer_name(consumer),
                    c.partition_name(partition)
                ),
            ),
            Observation::Applied {
                event, consumer, ..
            } if mine(&event) => Some((
                format!("{t} event {event} applied by {}", c.consumer_name(consumer)),
                Some(event),
                None,
                None,
            )),
            Observation::Truncated {
                event,
                partition,
                offset,
            } if mine(&event) => ev(
                event,
                format!(
                    "{t} event {event} truncated from {} (offset {offset}): {}",
                    c.partition_name(partition),
                    if power_loss {
                        "the page caches or disks that held it were lost"
                    } else {
                        "the new leader never had it"
                    }
                ),
            ),
            Observation::Expired { event, group, .. } if mine(&event) => ev(
                event,
                format!(
                    "{t} event {event} deleted by retention before group {} read it",
                    c.groups[group as usize]
                ),
            ),
            Observation::HandlerFailed {
                event,
                consumer,
                attempt,
                ..
            } if mine(&event) => ev(
                event,
                format!(
                    "{t} event {event}: handler of {} failed (attempt {attempt})",
                    c.consumer_name(consumer)
                ),
            ),
            Observation::Committed {
                group,
                consumer,
                partition,
                offset,
                generation,
            } if self.partitions.contains(&partition) && self.groups.contains(&group) => gp(
                group,
                partition,
                format!(
                    "{t} {} committed offset {offset} of {} (generation {generation})",
                    c.consumer_name(consumer),
                    c.partition_name(partition)
                ),
            ),
            Observation::Assigned {
                group,
                consumer,
                partition,
                generation,
                offset,
            } if self.groups.contains(&group) && self.partitions.contains(&partition) => gp(
                group,
                partition,
                format!(
                    "{t} {} received {} from offset {offset} (generation {generation})",
                    c.consumer_name(consumer),
                    c.partition_name(partition)
                ),
            ),
            Observation::Expelled {
                group,
                consumer,
                poll_timeout,
            } if self.groups.contains(&group) => Some((
                format!(
                    "{t} {} {} group {} ({})",
                    c.consumer_name(consumer),
                    if poll_timeout {
                        "left"
                    } else {
                        "expelled from"
                    },
                    c.groups[group as usize],
                    if poll_timeout {
                        "no poll within max_poll_interval"
                    } else {
                        "session timeout"
                    }
                ),
                None,
                Some(group),
                None,
            )),
            Observation::ResetRefused {
                group,
                consumer,
                partition,
                offset,
            } if self.groups.contains(&group) => gp(
                group,
                partition,
                format!(
                    "{t} {} stopped: poll() threw OffsetOutOfRangeException at offset {offset} of {} (auto_offset_reset = \"none\")",
                    c.consumer_name(consumer),
                    c.partition_name(partition)
                ),
            ),
            Observation::LeaderElected {
                partition,
                broker,
                unclean,
                ..
            } if self.partitions.contains(&partition) => Some((
                match broker {
                    Some(b) => format!(
                        "{t} broker-{b} elected leader of {}{}",
                        c.partition_name(partition),
                        if unclean {
                            " (unclean: from outside the ISR)"
                        } else {
                            ""
                        }
                    ),
                    None => format!(
                        "{t} {} offline: no eligible replica",
                        c.partition_name(partition)
                    ),
                },
                None,
                None,
                Some(partition),
            )),
            Observation::NodeState { node, state } => Some((
                format!(
                    "{t} {} {}",
                    c.nodes.get(node as usize).map_or("?", String::as_str),
                    ["up", "crashed", "paused"][state as usize % 3]
                ),
                None,
                None,
                None,
            )),
            Observation::Requested {
                event,
                service,
                key,
                event_type,
            } if mine(&event) => ev(
                event,
                format!(
                    "{t} event {event}: a client's request {} for {} reached {}",
                    c.event_types[event_type as usize],
                    c.keys.text(key),
                    c.services[service as usize]
                ),
            ),
            Observation::Acted {
                event,
                service,
                origin,
                event_type,
                ..
            } if mine(&event) || mine(&origin) => Some((
                format!(
                    "{t} {} recorded {} (event {event}) for the flow of event {origin}",
                    c.services[service as usize], c.event_types[event_type as usize]
                ),
                Some(if mine(&origin) { origin } else { event }),
                None,
                None,
            )),
            Observation::CallEnded {
                service,
                caller,
                origin,
                attempt,
                outcome,
                compensation,
                latency_ns,
            } if mine(&origin) => Some((
                format!(
                    "{t} {} -> {}{}, attempt {attempt}: {} after {:.1}ms (flow of event {origin})",
                    c.caller_name(caller),
                    c.services[service as usize],
                    if compensation { " (undo)" } else { "" },
                    outcome.as_str(),
                    latency_ns as f64 / 1e6
                ),
                Some(origin),
                None,
                None,
            )),
            Observation::Fenced { broker } => Some((
                format!("{t} broker-{broker} fenced by the controller"),
                None,
                None,
                None,
            )),
            Observation::Controller { voter, epoch } => Some((
                match voter {
                    Some(v) => format!(
                        "{t} {} is the active controller (epoch {epoch})",
                        c.voters
                            .get(v as usize)
                            .and_then(|&n| c.nodes.get(n as usize))
                            .map_or("?", String::as_str)
                    ),
                    None => format!(
                        "{t} the controller quorum lost its leader: no elections, fencing or ISR changes until a majority is back"
                    ),
                },
                None,
                None,
                None,
            )),
            Observation::FaultStarted { fault } => {
                Some((self.fault_line(&t, fault), None, None, None))
            }
            _ => None,
        };
        let sticky = matches!(*o, Observation::FaultStarted { fault }
            if self.ctx.faults[fault as usize].kind == crate::scenario::FaultKind::ClockSkew);
        if let Some((text, event, group, partition)) = line {
            self.lines.push((at, text, event, group, partition, sticky));
        }
    }
}

/// Put each checker's first (explained) violation into its result.
pub fn attach_first(results: &mut [CheckResult], violations: &[Violation]) {
    for r in results {
        r.first = violations.iter().find(|v| v.invariant == r.name).cloned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::*;

    #[test]
    fn explanations_follow_the_events_and_the_faults() {
        let mut h = written(2);
        consumed(&mut h, &[0, 1]);
        h.push((1500, O::NodeState { node: 2, state: 1 }));
        h.push((
            1600,
            O::Expelled {
                group: 0,
                consumer: 0,
                poll_timeout: false,
            },
        ));
        h.push((2000, delivered(1, 1, 1)));
        h.push((2001, applied(1, 0, 2, 10)));
        let mut violations = check("exactly-once-effect", Effect::Sum, &h);
        let mut e = Explainer::new(&ctx(Effect::Sum), &violations);
        for (t, o) in &h {
            e.observe(*t, o);
        }
        e.explain(&mut violations);
        let text = violations[0].explanation.join("\n");
        assert!(text.contains("event 1 applied by g/0"), "{text}");
        assert!(text.contains("g/0 crashed"), "{text}");
        assert!(text.contains("expelled"), "{text}");
        assert!(text.ends_with("event 1 applied by g/0"), "{text}");
    }
}
