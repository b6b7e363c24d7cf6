//! Lifecycle: what changes an endpoint over its life — enrollment, renewal, repair and the
//! installation of a certificate signed elsewhere. Each judges with `judge` and writes through
//! `store`'s crash-safe change.

pub mod authority;
pub mod enroll;
pub mod import;
pub mod install;
pub mod renew;
pub mod repair;

use crate::error::Error;
use crate::read::decode::{decode_opts, Decoded, Options};
use crate::read::input;
use crate::read::password::Password;
use std::path::Path;

/// A file named on the command line, read (capped) and decoded, for a command that writes: a
/// file that cannot be read whole, or whose encrypted content stays locked, is refused naming
/// it and saying how to open it.
pub(crate) fn decode_file(path: &Path, password: Option<&Password>) -> Result<Decoded, Error> {
    let bytes = input::bytes(path).map_err(|e| match e {
        // a FIFO, a device, a file over the cap: content that cannot be used
        Error::BadRequest { path, reason } => Error::Refused { path, reason },
        e => e,
    })?;
    let decoded = decode_opts(
        path,
        &bytes,
        &Options {
            cache: None,
            password,
        },
    );
    refuse_locked(path, &decoded)?;
    Ok(decoded)
}

/// Encrypted content that stayed locked, refused naming the file and how to open it.
pub(crate) fn refuse_locked(path: &Path, decoded: &Decoded) -> Result<(), Error> {
    let Some(locked) = decoded.locked.first() else {
        return Ok(());
    };
    let fix = if locked.contains("cannot decrypt") {
        format!(
            "decrypt it with OpenSSL first: openssl pkey -in {0} -out {0}.plain",
            crate::finding::quoted(path)
        )
    } else {
        "give its password with --password-file FILE (or the PKI_PASSWORD variable)".to_string()
    };
    Err(Error::refused(path, format!("{locked}: {fix}")))
}
