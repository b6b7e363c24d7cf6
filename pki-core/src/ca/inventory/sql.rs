//! The little the inventory needs from a SQL database, so that one body of code (the schema,
//! every statement, every transaction) runs on SQLite and on PostgreSQL alike. A backend is a
//! [`Connector`] that opens [`Connection`]s; statements use `$1`, `$2`, … numbered in the order
//! they appear (SQLite reads `$N` as a named parameter bound by position, PostgreSQL as
//! positional), and only the types [`Value`] has: 64-bit integers, text and NULL.

use std::fmt;

/// A parameter or a column value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Text(String),
    Null,
}

impl Value {
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<&str> for Value {
    fn from(t: &str) -> Value {
        Value::Text(t.to_string())
    }
}

impl From<String> for Value {
    fn from(t: String) -> Value {
        Value::Text(t)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// A row: its columns in the order of the SELECT.
pub type Row = Vec<Value>;

/// What a backend reports when a statement fails.
#[derive(Debug, Clone)]
pub struct DbError {
    pub message: String,
    /// The database was busy or the transaction lost a race (SQLITE_BUSY, PostgreSQL's
    /// serialization failure or deadlock): trying again may succeed.
    pub retry: bool,
}

impl DbError {
    pub fn new(message: impl Into<String>) -> DbError {
        DbError {
            message: message.into(),
            retry: false,
        }
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// One open connection. Not shared between threads: the inventory keeps a small pool.
pub trait Connection: Send {
    /// Runs a statement; the number of rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError>;
    /// Runs a query; every row.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError>;
    /// Starts a transaction that will write: SQLite takes the write lock now (`BEGIN
    /// IMMEDIATE`, so two writers never deadlock upgrading a read lock), PostgreSQL `BEGIN`.
    fn begin_write(&mut self) -> Result<(), DbError>;
    /// Inside a write transaction: holds a lock that serialises schema changes and imports
    /// between processes (PostgreSQL: an advisory lock; SQLite: `BEGIN IMMEDIATE` already did).
    fn lock_schema(&mut self) -> Result<(), DbError>;
    /// Leaves checkpoints to [`Connection::checkpoint`] instead of the committing
    /// transaction (SQLite's WAL; nothing to do elsewhere).
    fn defer_checkpoints(&mut self) -> Result<(), DbError> {
        Ok(())
    }
    /// Copies what the write-ahead log holds into the database without waiting for anyone
    /// (SQLite: a passive checkpoint; nothing to do elsewhere).
    fn checkpoint(&mut self) -> Result<(), DbError> {
        Ok(())
    }
}

/// Opens connections to one database.
pub trait Connector: Send + Sync + fmt::Debug {
    fn connect(&self) -> Result<Box<dyn Connection>, DbError>;
    /// Where the database is, for messages (never a password).
    fn describe(&self) -> String;
}
