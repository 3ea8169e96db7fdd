//! A panic inside eventsim is a bug in the simulator, never a finding about
//! the user's design: the command line reports it as such, with what was
//! running (the scenario and seed this thread was simulating) and the line
//! that reproduces it, and exits with its own status.

use std::cell::RefCell;
use std::sync::Mutex;

thread_local! {
    /// The scenario (by name) and seed this thread is running.
    static RUNNING: RefCell<Option<(String, u64)>> = const { RefCell::new(None) };
}

/// Scenario files the command line was given, by scenario name: the repro
/// line names the file.
static FILES: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// This thread now runs `scenario` with `seed`.
pub(crate) fn running(scenario: &str, seed: u64) {
    RUNNING.with(|r| *r.borrow_mut() = Some((scenario.to_string(), seed)));
}

/// The command line read scenario `name` from `file`.
pub(crate) fn file(name: &str, file: &str) {
    if let Ok(mut files) = FILES.lock() {
        files.push((name.to_string(), file.to_string()));
    }
}

/// What a bug report says of a panic with `message` at `location`.
pub(crate) fn report(message: &str, location: &str) -> String {
    let mut out = format!(
        "error: internal error in eventsim (a bug in the simulator, not a finding about your design): {message}\n  at {location}\n"
    );
    if let Some((name, seed)) = RUNNING.with(|r| r.borrow().clone()) {
        out.push_str(&format!(
            "  while running scenario `{name}` with seed {seed}\n"
        ));
        let file = FILES.lock().ok().and_then(|files| {
            files
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, f)| f.clone())
        });
        let file = file.map_or_else(
            || "SCENARIO.toml".to_string(),
            |f| crate::text::shell_quote(&f),
        );
        out.push_str(&format!("  repro: eventsim run {file} --seed {seed}\n"));
    }
    out.push_str(
        "  please report it, with the scenario file: it and this message are enough to reproduce it\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_names_the_run_and_its_repro() {
        let plain = report("index out of bounds", "src/model/broker.rs:1:1");
        assert!(
            plain.starts_with("error: internal error in eventsim"),
            "{plain}"
        );
        assert!(!plain.contains("repro:"), "{plain}");
        running("orders", 42);
        file("orders", "scenarios/my orders.toml");
        let r = report("index out of bounds", "src/model/broker.rs:1:1");
        assert!(
            r.contains("while running scenario `orders` with seed 42"),
            "{r}"
        );
        assert!(
            r.contains("repro: eventsim run 'scenarios/my orders.toml' --seed 42"),
            "{r}"
        );
        assert!(r.contains("please report it"), "{r}");
    }
}
