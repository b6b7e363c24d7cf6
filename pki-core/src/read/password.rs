//! The password of an encrypted private key or a PKCS#12 file. It comes from a file
//! (`--password-file`) or the environment (`PKI_PASSWORD`), never from the command line where
//! `ps` and shell histories would show it; it is never printed or logged.

use crate::error::Error;
use crate::read::input;
use std::path::Path;

/// The environment variable a password may come from.
pub const PASSWORD_ENV: &str = "PKI_PASSWORD";

/// A password; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(…)")
    }
}

impl Password {
    pub fn new(text: impl Into<String>) -> Password {
        Password(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first line of `path` (as `openssl -passin file:` reads it), without its line end
    /// and without a UTF-8 byte order mark (what Windows' Notepad puts first).
    /// A missing file is [`Error::NotFound`]; a file that is no text is [`Error::BadRequest`].
    pub fn from_file(path: &Path) -> Result<Password, Error> {
        let bytes = input::bytes(path)?;
        let text = String::from_utf8(bytes).map_err(|_| Error::BadRequest {
            path: path.to_path_buf(),
            reason: "a password file must be text (UTF-8)".to_string(),
        })?;
        Ok(Password(first_line(&text).to_string()))
    }
}

/// The first line of a password file's `text`, without its line end or a UTF-8 byte order mark.
fn first_line(text: &str) -> &str {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_is_the_password_whatever_the_editor_wrote() {
        for text in [
            "secret\n",
            "secret\r\nsecond line\r\n",
            "\u{feff}secret\r\n",
            "secret",
        ] {
            assert_eq!(first_line(text), "secret", "{text:?}");
        }
    }
}
