//! `no-duplicates-in-log`.

use super::*;

/// `no-duplicates-in-log`: an idempotent producer's event is in a
/// partition's log at most once.
#[derive(Default)]
pub(super) struct NoDuplicatesInLog {
    in_log: EventBits,
    idempotent: EventBits,
    found: Vec<Violation>,
}

impl Checker for NoDuplicatesInLog {
    fn name(&self) -> &'static str {
        "no-duplicates-in-log"
    }
    fn kinds(&self) -> &'static [Kind] {
        &[Kind::Appended, Kind::Produced, Kind::Truncated]
    }
    fn observe(&mut self, ctx: &Context, at: Time, o: &Observation) {
        match *o {
            Observation::Produced {
                event, producer, ..
            } if ctx.idempotent[producer as usize] => {
                self.idempotent.insert(event);
            }
            Observation::Appended {
                event,
                partition,
                offset,
            } => {
                if !self.idempotent.contains(event) {
                    return;
                }
                if self.in_log.insert(event) {
                    self.found.push(ctx.violation(
                        "no-duplicates-in-log",
                        at,
                        None,
                        Some(partition),
                        None,
                        vec![event],
                        format!(
                            "event {event} of an idempotent producer was appended again, at {} offset {offset}",
                            ctx.catalog.partition_name(partition)
                        ),
                    ));
                }
            }
            Observation::Truncated { event, .. } => self.in_log.remove(event),
            _ => {}
        }
    }
    fn released(&mut self, below: EventId) {
        self.in_log.release_below(below);
        self.idempotent.release_below(below);
    }
    fn finish(&mut self, _ctx: &Context, _end: End) -> Vec<Violation> {
        std::mem::take(&mut self.found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testkit::*;

    #[test]
    fn no_duplicates_in_log_fires_on_a_second_append_unless_truncated_between() {
        let mut h = written(2);
        assert!(check("no-duplicates-in-log", Effect::Sum, &h).is_empty());
        h.push((
            100,
            O::Truncated {
                event: 1,
                partition: 0,
                offset: 1,
            },
        ));
        h.push((101, appended(1, 1)));
        assert!(check("no-duplicates-in-log", Effect::Sum, &h).is_empty());
        h.push((102, appended(1, 2)));
        assert_eq!(check("no-duplicates-in-log", Effect::Sum, &h).len(), 1);
    }
}
