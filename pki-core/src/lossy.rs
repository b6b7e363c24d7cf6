//! Paths in JSON. serde refuses a path that is not UTF-8 (a store folder named in a legacy
//! encoding), which would fail a whole report, or a whole fleet's audit, for one name. Reports
//! show such a path as `Path::display` does, with U+FFFD where the name is not UTF-8.

use serde::Serializer;
use std::path::{Path, PathBuf};

pub fn path<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&path.to_string_lossy())
}

pub fn option<S: Serializer>(path: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match path {
        Some(p) => s.serialize_some(&*p.to_string_lossy()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn a_name_that_is_not_utf8_is_shown_not_refused() {
        use std::os::unix::ffi::OsStrExt;
        #[derive(serde::Serialize)]
        struct Report {
            #[serde(serialize_with = "super::path")]
            path: std::path::PathBuf,
            #[serde(serialize_with = "super::option")]
            store: Option<std::path::PathBuf>,
        }
        let name = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(b"/fleet/bad\xff"));
        let report = Report {
            path: name.clone(),
            store: Some(name.clone()),
        };
        assert!(
            serde_json::to_string(&name).is_err(),
            "serde alone refuses it"
        );
        assert_eq!(
            serde_json::to_string(&report).unwrap(),
            r#"{"path":"/fleet/bad�","store":"/fleet/bad�"}"#
        );
    }
}
