//! Validation: every semantic problem of a scenario that reads, section
//! by section, each pointing at its field. The problems are listed in the
//! order of the sections here; `parse` then sorts them by their place in
//! the file.

use super::{Problem, Scenario, Step, key, reserved};
use std::collections::BTreeSet;

impl Scenario {
    /// Every semantic problem, in file order of sections.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = vec![];
        let mut push = |path: Vec<Step>, message: String| out.push(Problem { path, message });

        self.name_problems(&mut push);
        self.meta_problems(&mut push);
        self.cluster_problems(&mut push);
        let topics = self.topic_problems(&mut push);
        let nodes = self.producer_names(&topics, &mut push);
        let groups = self.group_names(&topics, &nodes, &mut push);
        let mut names = nodes.clone();
        names.extend(groups.iter().cloned());
        self.service_problems(&mut names, &mut push);
        self.controller_problems(&mut push);
        self.network_problems(&mut push);
        self.fault_problems(&mut push);
        self.flow_problems(&mut push);
        self.schema_problems(&mut push);
        self.saga_problems(&mut push);
        self.checks_problems(&mut push);
        self.report_problems(&mut push);
        out
    }

    /// `[scenario]`, and the latencies of `[network]`.
    fn meta_problems(&self, push: &mut dyn FnMut(Vec<Step>, String)) {
        let meta = &self.scenario;
        if meta.duration.ns() == 0 {
            push(
                vec![key("scenario"), key("duration")],
                "expected a duration greater than zero".into(),
            );
        }
        if meta.max_kernel_events == 0 {
            push(
                vec![key("scenario"), key("max_kernel_events")],
                "expected a positive number of events".into(),
            );
        }
        for (field, d) in [
            ("client_latency", &self.network.client_latency),
            ("replication_latency", &self.network.replication_latency),
        ] {
            if let Some(msg) = d.problem() {
                push(vec![key("network"), key(field)], msg);
            }
        }
    }

    /// Each `[[producers]]` entry, its name among the nodes' names.
    fn producer_names(
        &self,
        topics: &BTreeSet<&str>,
        push: &mut dyn FnMut(Vec<Step>, String),
    ) -> BTreeSet<String> {
        let mut nodes = BTreeSet::new();
        for (i, p) in self.producers.iter().enumerate() {
            let at = |f: &str| vec![key("producers"), Step::Index(i), key(f)];
            // Empty names and characters such as `/` are refused by the
            // names rule (names.rs).
            if reserved(&p.name) {
                push(
                    at("name"),
                    format!("`{}` is reserved for fault targets", p.name),
                );
            } else if !nodes.insert(p.name.clone()) {
                push(at("name"), format!("name `{}` is used twice", p.name));
            }
            self.producer_problems(i, p, topics, push);
        }

        nodes
    }

    /// Each `[[groups]]` entry, its name among the groups' and the
    /// producers' names.
    fn group_names(
        &self,
        topics: &BTreeSet<&str>,
        nodes: &BTreeSet<String>,
        push: &mut dyn FnMut(Vec<Step>, String),
    ) -> BTreeSet<String> {
        let mut groups = BTreeSet::new();
        for (i, g) in self.groups.iter().enumerate() {
            let at = |f: &str| vec![key("groups"), Step::Index(i), key(f)];
            if reserved(&g.name) {
                push(
                    at("name"),
                    format!("`{}` is reserved for fault targets", g.name),
                );
            } else if !groups.insert(g.name.clone()) || nodes.contains(&g.name) {
                push(at("name"), format!("name `{}` is used twice", g.name));
            }
            self.group_problems(i, g, topics, push);
        }
        groups
    }

    /// `[network]`: the request timeout and the bandwidths.
    fn network_problems(&self, push: &mut dyn FnMut(Vec<Step>, String)) {
        if self.network.request_timeout.ns() == 0 {
            push(
                vec![key("network"), key("request_timeout")],
                "expected a duration greater than zero".into(),
            );
        }
        for (field, bandwidth) in [
            ("link_bandwidth", self.network.link_bandwidth),
            ("broker_bandwidth", self.network.broker_bandwidth),
        ] {
            if bandwidth.is_some_and(|b| !(b.is_finite() && b >= 1.0)) {
                push(
                    vec![key("network"), key(field)],
                    "expected bytes per second, at least 1".into(),
                );
            }
        }
    }

    /// `[report]`, and the bounds of `[checks]`.
    fn report_problems(&self, push: &mut dyn FnMut(Vec<Step>, String)) {
        if self.report.interval.ns() == 0 {
            push(
                vec![key("report"), key("interval")],
                "expected a duration greater than zero".into(),
            );
        }
        if self.report.max_points < 2 {
            push(
                vec![key("report"), key("max_points")],
                "expected at least 2 points".into(),
            );
        }
        if self.report.partition_series > 10_000 {
            push(
                vec![key("report"), key("partition_series")],
                "expected at most 10000 series per group".into(),
            );
        }
        for (field, bound) in [
            ("liveness_bound", self.checks.liveness_bound),
            (
                "producer_progress_bound",
                self.checks.producer_progress_bound,
            ),
            ("unavailability_bound", self.checks.unavailability_bound),
        ] {
            if bound.ns() == 0 {
                push(
                    vec![key("checks"), key(field)],
                    "expected a duration greater than zero".into(),
                );
            }
        }
    }
}
