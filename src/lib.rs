//! eventsim: a deterministic, seeded discrete-event simulator of
//! event-driven architectures (producers, a replicated log broker, consumer
//! groups and the services they feed).
//!
//! Data flows one way (DESIGN §2):
//! `scenario` (parse, validate) -> `model` on the `kernel` (run) ->
//! `history` observations -> `metrics` -> `report` (files) -> `cli`.
//!
//! ```no_run
//! let scenario = eventsim::scenario::Scenario::load("scenarios/mm1.toml".as_ref()).unwrap();
//! let result = eventsim::run(&scenario, 7);
//! println!("{} events applied", result.metrics.counts.applied);
//! ```

pub mod cli;
pub mod history;
pub mod kernel;
pub mod metrics;
pub mod model;
pub mod report;
pub mod scenario;

pub use model::{RunResult, World};

/// The eventsim version written into every report.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Build and run `scenario` with master seed `seed`.
pub fn run(scenario: &scenario::Scenario, seed: u64) -> RunResult {
    World::new(scenario, seed).run()
}
