//! Output for people (text, coloured on a terminal unless NO_COLOR is set) and for programs
//! (JSON exactly as the contract shows).

mod diagnose;
mod inspect;
mod policy;
mod style;

pub use diagnose::diagnose;
pub use inspect::inspect;
pub use policy::{policy_error, policy_ok};

use std::borrow::Cow;
use std::io::Write;

/// `text` as one line that a terminal shows as it is: every control character (ESC, CR, a
/// line end, …) and every character that reorders what follows it (the Unicode bidi
/// controls) written as its escape (`\u{1b}`, `\n`). What pki prints comes in part from files
/// that whoever writes a store writes (the names in it, its `store.yaml` and journal, a
/// certificate's subject): raw, an escape sequence in a file name sets the terminal's title
/// or clears the screen, and a line end starts a line of its own ("ACCEPTED (ok)").
pub fn clean(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// [`clean`], keeping line ends (a message of several lines, as a YAML error's excerpt).
pub fn clean_lines(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

fn escape(text: &str, keep_line_ends: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && !(keep_line_ends && c == '\n'))
            || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
    };
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            c if !unsafe_char(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        }
    }
    Cow::Owned(out)
}

/// Writes `text` as it is to stdout (a PEM certificate).
pub fn raw(text: &str) -> anyhow::Result<()> {
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// Writes one line of text to stdout, [`clean`]ed (a line end in it is shown as `\n`).
pub fn line(text: &str) -> anyhow::Result<()> {
    writeln!(std::io::stdout().lock(), "{}", clean(text))?;
    Ok(())
}

/// Writes `value` as pretty JSON and a newline to stdout.
pub fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_would_steer_a_terminal_is_escaped() {
        assert_eq!(clean("device.crt"), "device.crt");
        assert_eq!(
            clean("a\u{1b}]0;t\u{7}\nACCEPTED\r\u{202e}x"),
            "a\\u{1b}]0;t\\u{7}\\nACCEPTED\\r\\u{202e}x"
        );
        assert_eq!(clean_lines("one\ntwo\u{1b}[2J"), "one\ntwo\\u{1b}[2J");
    }
}
