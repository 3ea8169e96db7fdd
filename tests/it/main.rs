//! The integration tests, in one binary: each module runs the CLI or the
//! library on real scenario files (one binary links the crate once, not
//! once per file).

mod capacity;
mod checks;
mod cli_run;
mod clocks;
mod common;
mod compare;
mod controller;
mod disk;
mod faults;
mod flows;
mod fuzz;
mod jepsen;
mod kafka_semantics;
mod limits;
mod objectives;
mod orchestration;
mod outcomes;
mod properties;
mod queueing;
mod report;
mod scenario_errors;
mod schema;
mod services;
mod sweep;
mod tidy;
mod versions;
