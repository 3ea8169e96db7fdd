//! Reading a scenario file: bounded, UTF-8, TOML, then the typed
//! structures, reading past unknown fields so that one error lists them
//! all, then validation.

use super::{Diagnostic, Scenario, ScenarioError, error, render_path, suggest};
use std::path::Path;

/// Read a scenario file: at most [`Scenario::MAX_FILE_BYTES`], and UTF-8,
/// with the line and column of the first byte that is not.
fn read_bounded(path: &Path, file: &str) -> Result<String, ScenarioError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(Scenario::MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| ScenarioError::io(file, &e))?;
    if bytes.len() as u64 > Scenario::MAX_FILE_BYTES {
        return Err(ScenarioError::io(
            file,
            &std::io::Error::other(format!(
                "it is larger than {} MiB; a scenario file is a few kilobytes of TOML",
                Scenario::MAX_FILE_BYTES >> 20
            )),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let bytes = e.into_bytes();
        let prefix = String::from_utf8_lossy(&bytes[..good]).into_owned();
        let bad = bytes[good];
        let mut text = prefix.clone();
        text.push('?');
        ScenarioError::at(
            file,
            &text,
            good..good + 1,
            String::new(),
            format!("invalid UTF-8 (byte 0x{bad:02x}); a scenario file is UTF-8 text"),
        )
    })
}

impl Scenario {
    /// Read, parse and validate a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        Scenario::load_with_text(path).map(|(s, _)| s)
    }

    /// [`Scenario::load`], and the file's text as read.
    pub fn load_with_text(path: &Path) -> Result<(Scenario, String), ScenarioError> {
        let file = path.display().to_string();
        let text = read_bounded(path, &file)?;
        Scenario::parse(&text, &file).map(|s| (s, text))
    }

    /// The largest scenario file read (scenarios are a few kilobytes; this
    /// keeps `check /dev/zero` from reading until memory runs out).
    pub const MAX_FILE_BYTES: u64 = 16 << 20;

    /// Parse and validate scenario text; `file` names it in errors.
    ///
    /// The error lists every problem found: unknown fields (reading on as
    /// if they were absent), the first value that cannot be read as its
    /// field's type (the reader cannot go past it), and, once the file
    /// reads as a scenario, every problem validation finds.
    pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let doc = toml_edit::ImDocument::parse(text.to_string()).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            ScenarioError::at(
                file,
                text,
                span,
                String::new(),
                format!("invalid TOML: {}", e.message().trim()),
            )
        })?;
        let mut found: Vec<(usize, Diagnostic)> = vec![];
        let scenario = Scenario::read_past_unknown_fields(&doc, text, &mut found);
        if let Some(scenario) = &scenario {
            // Sizes first: validation itself lists nodes (every consumer of
            // a group named as a fault target), which a huge count must not
            // reach.
            let problems = match scenario.footprint_problem(crate::budget::max_memory()) {
                Some(p) => vec![p],
                None => scenario.problems(),
            };
            for problem in problems {
                let span = error::span_of(&doc, &problem.path).unwrap_or(0..0);
                let help = suggest::for_message(&problem.message);
                let d = Diagnostic::at(
                    text,
                    span.clone(),
                    render_path(&problem.path),
                    problem.message,
                );
                found.push((span.start, d.with_help(help)));
            }
        }
        if found.is_empty() {
            return Ok(scenario.expect("a scenario that reads, with no problem"));
        }
        found.sort_by_key(|(at, _)| *at);
        Err(ScenarioError {
            file: file.to_string(),
            problems: found.into_iter().map(|(_, d)| d).collect(),
        })
    }

    /// The most unknown fields read past before giving up.
    const MAX_UNKNOWN_FIELDS: usize = 50;

    /// Deserialize `text` (parsed as `doc`), recording each error in
    /// `found`: past an unknown field by blanking it out (spaces, so every
    /// other offset stays put) and reading again; the scenario once it
    /// reads, `None` at the first error of another kind.
    fn read_past_unknown_fields(
        doc: &toml_edit::ImDocument<String>,
        text: &str,
        found: &mut Vec<(usize, Diagnostic)>,
    ) -> Option<Scenario> {
        let mut blanked = text.to_string();
        let mut suggested: Vec<String> = vec![];
        loop {
            let e = match toml_edit::de::from_str::<Scenario>(&blanked) {
                Ok(s) => return Some(s),
                Err(e) => e,
            };
            let mut span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_string();
            let unknown = message
                .strip_prefix("unknown field `")
                .and_then(|m| m.split_once('`'))
                .map(|(name, _)| name.to_string());
            // Some tables (a distribution's) report an unknown field at
            // the whole table: point at the key itself.
            if let Some(name) = &unknown
                && let Some(key) = error::key_within(doc, &span, name)
            {
                span = key;
            }
            // A required field reported missing after its misspelling was
            // read past says nothing the misspelling's help did not.
            if suggested
                .iter()
                .any(|s| message == format!("missing field `{s}`"))
            {
                return None;
            }
            let help = suggest::for_message(&message);
            if let Some(h) = &help
                && let Some(name) = h.split('`').nth(1)
            {
                suggested.push(name.to_string());
            }
            let field = render_path(&error::path_at(doc, span.start));
            found.push((
                span.start,
                Diagnostic::at(text, span.clone(), field, message).with_help(help),
            ));
            let extent = unknown.and_then(|_| error::entry_at(doc, &blanked, span.start));
            match extent {
                Some(r) if found.len() < Self::MAX_UNKNOWN_FIELDS => {
                    // As many bytes of spaces as each character had, and
                    // the newlines kept: every offset stays put.
                    let spaces: String = blanked[r.clone()]
                        .chars()
                        .map(|c| match c {
                            '\n' => "\n".to_string(),
                            c => " ".repeat(c.len_utf8()),
                        })
                        .collect();
                    blanked.replace_range(r, &spaces);
                    if toml_edit::ImDocument::parse(blanked.as_str()).is_err() {
                        return None;
                    }
                }
                _ => return None,
            }
        }
    }
}
