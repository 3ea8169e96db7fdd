#![allow(dead_code)]
//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn eventsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eventsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("eventsim runs")
}

pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Parse a scenario given inline (panics with the error if it is invalid).
pub fn scenario(text: &str) -> eventsim::scenario::Scenario {
    eventsim::scenario::Scenario::parse(text, "inline.toml").unwrap_or_else(|e| panic!("{e}"))
}
