//! A file given as a server's trust anchors (`--trust F`): read like every input (a regular
//! file under the size cap, so `/dev/zero` or a folder is refused, not read forever), and
//! refused when it holds no certificate — a server with no anchors accepts nobody, and no fix
//! could be planned or printed for it.

use crate::error::Error;
use crate::read::decode::decode;
use crate::read::input::{read, Read};
use std::path::Path;

/// The bytes of `path`, or why it cannot stand for a server's trust anchors
/// (`Error::BadRequest`, naming the file and what it holds; `Error::NotFound` when missing).
pub fn server_anchors(path: &Path) -> Result<Vec<u8>, Error> {
    let bytes = match read(path)? {
        Read::Bytes { bytes, .. } => bytes,
        unread => {
            return Err(refused(
                path,
                format!("it is {}", unread.refusal().unwrap_or_default()),
            ))
        }
    };
    let decoded = decode(path, &bytes);
    if !decoded.certs.is_empty() {
        return Ok(bytes);
    }
    let holds = if !decoded.keys.is_empty() {
        "a private key, not a certificate".to_string()
    } else if !decoded.crls.is_empty() {
        "a CRL, not a certificate".to_string()
    } else if let Some(problem) = decoded.problems.first() {
        format!("no certificate ({problem})")
    } else {
        "no certificate".to_string()
    };
    Err(refused(path, format!("it holds {holds}")))
}

fn refused(path: &Path, why: String) -> Error {
    Error::BadRequest {
        path: path.to_path_buf(),
        reason: format!(
            "--trust must be the server's trust anchors (PEM or DER certificates), but {why}: nothing was judged or planned"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_or_a_folder_is_refused_without_reading_it() {
        for path in ["/dev/zero", "/"] {
            let err = server_anchors(Path::new(path)).unwrap_err();
            assert!(err.is_usage(), "{err}");
            assert!(err.to_string().contains("not a regular file"), "{err}");
        }
    }
}
