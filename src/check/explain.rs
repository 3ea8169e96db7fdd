//! The explainer: a second pass over a history that collects, for each
//! violation, the observations that led to it.

use super::*;

/// One explanation line: (time, text, the event, group, partition it concerns).
/// (when, text, event, group, partition, and whether it explains what
/// follows even from before the violation's first event: a clock that is
/// off stamps and judges every later record).
/// The last field: the fault, on a fault's line.
type Line = (
    Time,
    String,
    Option<EventId>,
    Option<u32>,
    Option<u32>,
    bool,
    Option<u32>,
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
    /// The producer of each event explained.
    producer_of: BTreeMap<EventId, u32>,
    /// How many times each event explained was appended so far.
    appends: BTreeMap<EventId, u32>,
    /// The last offset each (group, partition) explained committed.
    committed: BTreeMap<(u32, u32), u64>,
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
            producer_of: BTreeMap::new(),
            appends: BTreeMap::new(),
            committed: BTreeMap::new(),
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
            let mut chosen: Vec<&Line> = keep.into_iter().map(|i| relevant[i]).collect();
            // The faults that struck what the violation involves start
            // its chain, even from before its first event.
            for f in self.related_faults(v) {
                if !chosen.iter().any(|l| std::ptr::eq(*l, f)) {
                    chosen.push(f);
                }
            }
            chosen.sort_by_key(|l| l.0);
            v.explanation = self.setting_lines(v);
            v.explanation
                .extend(chosen.into_iter().map(|l| l.1.clone()));
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

    /// The last three faults before the violation that struck a node it
    /// involves: its group's consumers (or the group), the brokers holding
    /// its partition (or its group's partitions), its events' producers;
    /// and faults without a target.
    fn related_faults(&self, v: &Violation) -> Vec<&Line> {
        let c = &self.ctx.catalog;
        let mut names: Vec<String> = Vec::new();
        let group = v.ids.group.map(|g| c.groups[g as usize].clone());
        names.extend(group.iter().cloned());
        let parts: Vec<u32> = match (v.ids.partition, v.ids.group) {
            (Some(p), _) => vec![p],
            (None, Some(g)) => c.group_partitions[g as usize].clone(),
            _ => Vec::new(),
        };
        for p in parts {
            names.extend(c.replicas[p as usize].iter().map(|b| format!("broker-{b}")));
        }
        for e in &v.events {
            if let Some(&p) = self.producer_of.get(e) {
                names.push(c.producers[p as usize].clone());
            }
        }
        let related = |f: u32| {
            let Some(target) = &self.ctx.faults[f as usize].target else {
                return true;
            };
            let text = target.to_string();
            text.split("<->").flat_map(|s| s.split(',')).any(|node| {
                names.iter().any(|n| n == node)
                    || group.as_ref().is_some_and(|g| {
                        node.strip_prefix(g.as_str())
                            .is_some_and(|r| r.starts_with('/'))
                    })
            })
        };
        let mut out: Vec<&Line> = self
            .lines
            .iter()
            .filter(|l| l.0 <= v.t_ns && l.6.is_some_and(related))
            .collect();
        let extra = out.len().saturating_sub(3);
        out.drain(..extra);
        out
    }

    /// The settings that let the violation happen, first in its chain.
    fn setting_lines(&self, v: &Violation) -> Vec<String> {
        use crate::scenario::CommitMode;
        let c = &self.ctx.catalog;
        let mut out = Vec::new();
        if let Some(g) = v.ids.group {
            let name = &c.groups[g as usize];
            let settings = self.ctx.group_settings[g as usize];
            let (mode, guarded) = (settings.commit, settings.guarded);
            if v.invariant == "no-loss" && settings.reset_latest {
                out.push(format!(
                    "setting: group {name} starts at the log end where it has no committed offset (auto_offset_reset = \"latest\"): what was appended before its first commit can be skipped"
                ));
            }
            match (v.invariant.as_str(), mode) {
                ("no-loss", CommitMode::Auto) => out.push(format!(
                    "setting: group {name} commits automatically (commit = \"auto\", Kafka's enable.auto.commit): an offset it was handed can be committed before its record is processed, and a crash then skips the record"
                )),
                ("no-loss", CommitMode::BeforeProcess) => out.push(format!(
                    "setting: group {name} commits before processing (commit = \"before-process\", at-most-once): a crash skips what was committed and not yet processed"
                )),
                ("exactly-once-effect", CommitMode::Auto | CommitMode::AfterProcess)
                    if !guarded =>
                {
                    out.push(format!(
                        "setting: group {name} commits after processing (at-least-once) without an idempotency guard: what it processed since its last commit is processed again after a crash or a rebalance"
                    ))
                }
                _ => {}
            }
        }
        if v.invariant == "per-key-order" {
            let mut producers: Vec<u32> = v
                .events
                .iter()
                .filter_map(|e| self.producer_of.get(e).copied())
                .collect();
            producers.sort_unstable();
            producers.dedup();
            for p in producers {
                let in_flight = self.ctx.max_in_flight.get(p as usize).copied().unwrap_or(1);
                if !self.ctx.idempotent.get(p as usize).copied().unwrap_or(true) && in_flight > 1 {
                    out.push(format!(
                        "setting: producer {} is not idempotent and keeps up to {in_flight} requests in flight per partition: a retried batch can land behind a later one",
                        c.producers[p as usize]
                    ));
                }
            }
        }
        out
    }

    /// What the second pass learns beside its lines: who produced each
    /// event, how often it was appended, where each group committed.
    fn track(&mut self, o: &Observation) {
        match *o {
            Observation::Produced {
                event, producer, ..
            } if self.events.contains(&event) => {
                self.producer_of.insert(event, producer);
            }
            Observation::Appended { event, .. } if self.events.contains(&event) => {
                *self.appends.entry(event).or_default() += 1;
            }
            Observation::Committed {
                group,
                partition,
                offset,
                ..
            } => {
                self.committed.insert((group, partition), offset);
            }
            _ => {}
        }
    }

    /// An append of an event; a second one says why it could happen.
    fn appended_text(&self, t: &str, event: EventId, partition: u32, offset: u64) -> String {
        let c = &self.ctx.catalog;
        let at = c.partition_name(partition);
        let again = self.appends.get(&event).copied().unwrap_or(0) > 1;
        match self.producer_of.get(&event) {
            Some(&p) if again && !self.ctx.idempotent.get(p as usize).copied().unwrap_or(true) => {
                format!(
                    "{t} event {event} appended again to {at} at offset {offset}: {} sent it again (a retry after a lost or late response), and without enable.idempotence the broker cannot tell the copy",
                    c.producers[p as usize]
                )
            }
            _ if again => format!("{t} event {event} appended again to {at} at offset {offset}"),
            _ => format!("{t} event {event} appended to {at} at offset {offset}"),
        }
    }

    /// A partition handed to a consumer, and where its position came from.
    fn assigned_text(
        &self,
        t: &str,
        consumer: u32,
        partition: u32,
        generation: u32,
        offset: u64,
    ) -> String {
        let c = &self.ctx.catalog;
        let (g, _) = c.consumers[consumer as usize];
        let from = match self.committed.get(&(g, partition)) {
            Some(&o) if o == offset => "the group's committed offset".to_string(),
            Some(&o) => format!("not the committed offset {o}"),
            None => "no committed offset: auto_offset_reset put it there".to_string(),
        };
        format!(
            "{t} {} received {} from offset {offset} ({from}; generation {generation})",
            c.consumer_name(consumer),
            c.partition_name(partition)
        )
    }
}

impl Observer for Explainer {
    fn observe(&mut self, at: Time, o: &Observation) {
        self.track(o);
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
            } if mine(&event) => ev(event, self.appended_text(&t, event, partition, offset)),
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
                self.assigned_text(&t, consumer, partition, generation, offset),
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
        let fault = match *o {
            Observation::FaultStarted { fault } => Some(fault),
            _ => None,
        };
        if let Some((text, event, group, partition)) = line {
            self.lines
                .push((at, text, event, group, partition, sticky, fault));
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
