//! The embedded backend: one SQLite file (`inventory.sqlite` in the CA folder by default), in
//! WAL mode so readers never wait for the writer, `synchronous = FULL` so a committed issuance
//! survives a power cut, a busy timeout so concurrent processes (`pki serve` and an offline
//! `pki ca revoke`) wait for each other instead of failing, and writes in `BEGIN IMMEDIATE`.

use super::sql::{Connection, Connector, DbError, Row, Value};
use rusqlite::types::ValueRef;
use std::path::PathBuf;
use std::time::Duration;

/// The inventory file's name in the CA folder.
pub const FILE: &str = "inventory.sqlite";

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Sqlite {
    pub path: PathBuf,
}

impl Connector for Sqlite {
    fn connect(&self) -> Result<Box<dyn Connection>, DbError> {
        let conn = rusqlite::Connection::open(&self.path).map_err(error)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(error)?;
        // journal_mode answers with a row; the others with none
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .map_err(error)?;
        // each connection's page cache is private memory: 512 KiB each keeps a full pool
        // (16 readers and the writer) under 9 MiB whatever the database's size; pages
        // beyond it come from the kernel's page cache
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA journal_size_limit = 67108864; PRAGMA cache_size = -512;",
        )
        .map_err(error)?;
        Ok(Box::new(SqliteConnection(conn)))
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

struct SqliteConnection(rusqlite::Connection);

impl Connection for SqliteConnection {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let mut stmt = self.0.prepare_cached(sql).map_err(error)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params.iter().map(to_sql)))
            .map_err(error)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let mut stmt = self.0.prepare_cached(sql).map_err(error)?;
        let width = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter().map(to_sql)))
            .map_err(error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(error)? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(match row.get_ref(i).map_err(error)? {
                    ValueRef::Integer(n) => Value::Int(n),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Null => Value::Null,
                    ValueRef::Real(_) | ValueRef::Blob(_) => {
                        return Err(DbError::new(format!(
                            "column {i} holds a value the inventory never writes (a real or a blob)"
                        )))
                    }
                });
            }
            out.push(values);
        }
        Ok(out)
    }

    fn begin_write(&mut self) -> Result<(), DbError> {
        self.0.execute_batch("BEGIN IMMEDIATE").map_err(error)
    }

    fn lock_schema(&mut self) -> Result<(), DbError> {
        Ok(()) // BEGIN IMMEDIATE holds the only write lock there is
    }

    fn defer_checkpoints(&mut self) -> Result<(), DbError> {
        self.0
            .query_row("PRAGMA wal_autocheckpoint = 0", [], |_| Ok(()))
            .map_err(error)
    }

    fn checkpoint(&mut self) -> Result<(), DbError> {
        self.0
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(error)
    }
}

fn to_sql(v: &Value) -> rusqlite::types::Value {
    match v {
        Value::Int(i) => rusqlite::types::Value::Integer(*i),
        Value::Text(t) => rusqlite::types::Value::Text(t.clone()),
        Value::Null => rusqlite::types::Value::Null,
    }
}

fn error(e: rusqlite::Error) -> DbError {
    let retry = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    DbError {
        message: e.to_string(),
        retry,
    }
}
