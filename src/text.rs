//! Text for people and shells: a name as a terminal may show it, a word
//! as the shell reads it back. The bottom of the crate: it imports nothing.

use std::borrow::Cow;

/// A character a terminal or an XML file must not receive as it is:
/// control characters and the bidirectional overrides that make text
/// display other than it reads.
pub(crate) fn hidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every control or bidirectional-formatting character written
/// as an escape (`\u{1b}`), for terminal output and drawn text.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hidden) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if hidden(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// A word as the shell reads it back: as it is when it holds nothing the
/// shell would interpret, else single-quoted (or `$'...'` with escapes
/// when it holds control characters, which a terminal must not receive).
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    if word.chars().any(char::is_control) {
        let mut out = String::from("$'");
        for c in word.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('\'');
        return out;
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// A duration for people: `850.0us`, `5.01ms`, `2.11s`.
pub fn duration_text(ns: u64) -> String {
    if ns == 0 {
        "0s".to_string()
    } else if ns >= 1_000_000_000 {
        format!("{:.2}s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.2}ms", ns as f64 / 1e6)
    } else {
        format!("{:.1}us", ns as f64 / 1e3)
    }
}
