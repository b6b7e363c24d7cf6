//! Which database a CA's inventory lives in: `--database URL` when given, else the URL its
//! `ca.yaml` records, else `inventory.sqlite` in the CA folder.

use crate::postgres::Postgres;
use pki_core::ca::inventory::sql::Connector;
use pki_core::ca::inventory::sqlite::Sqlite;
use pki_core::ca::Ca;
use pki_core::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The CA in `dir` with its inventory open: in `url` (`postgres://…` or `sqlite:PATH`) when
/// given, else where `ca.yaml` says, else in the folder.
pub fn open_ca(dir: &Path, url: Option<&str>) -> Result<Ca, Error> {
    let config = Ca::read_config(dir)?;
    let url = url.map(str::to_string).or(config.database);
    let connector = url.as_deref().map(connector).transpose()?;
    Ca::open(dir, connector)
}

/// A connector for `url`: `postgres://` / `postgresql://` (libpq's URL form; a password
/// missing from it is taken from `PGPASSWORD`) or `sqlite:PATH`.
pub fn connector(url: &str) -> Result<Arc<dyn Connector>, Error> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(Postgres::new(url)?))
    } else if let Some(path) = url.strip_prefix("sqlite:").filter(|p| !p.is_empty()) {
        Ok(Arc::new(Sqlite {
            path: PathBuf::from(path),
        }))
    } else {
        Err(Error::Usage(format!(
            "--database '{}': give postgres://USER@HOST:PORT/DB or sqlite:PATH",
            redact(url)
        )))
    }
}

/// `url` without the password in its user information, for `ca.yaml` and messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map_or(user, |(u, _)| u);
            format!("{scheme}://{user}@{host}{path}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_url_names_a_file() {
        // an empty path opened a temporary database: "no such table: counters"
        let err = connector("sqlite:").err().unwrap();
        assert!(err.is_usage(), "{err}");
        assert!(connector("sqlite:/tmp/x.sqlite").is_ok());
    }

    #[test]
    fn passwords_never_leave() {
        assert_eq!(
            redact("postgres://pki:s3cret@db.internal:5432/ca?sslmode=disable"),
            "postgres://pki@db.internal:5432/ca?sslmode=disable"
        );
        assert_eq!(redact("postgres://db/ca"), "postgres://db/ca");
        assert!(connector("mysql://x").is_err());
    }
}
