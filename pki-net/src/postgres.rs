//! The inventory on PostgreSQL, for several `pki serve` nodes behind a load balancer: the same
//! schema and statements as SQLite (pki-core's `inventory`), so the same behaviour; serial
//! uniqueness and single-use tokens are the database's constraints, not a lock in one process.
//! Each connection keeps its prepared statements.
//!
//! The connection is not encrypted (`NoTls`): run the database on the same host (a Unix
//! socket, `host=/run/postgresql`) or on a private network.

use pki_core::ca::inventory::sql::{Connection, Connector, DbError, Row, Value};
use pki_core::Error;
use postgres::error::SqlState;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};
use std::collections::HashMap;
use std::fmt;

/// Serialises schema changes and imports between nodes (`pg_advisory_xact_lock`).
const SCHEMA_LOCK: i64 = 0x706b_6973_6572; // "pkiser"

pub struct Postgres {
    config: postgres::Config,
    described: String,
}

impl fmt::Debug for Postgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.described)
    }
}

impl Postgres {
    pub fn new(url: &str) -> Result<Postgres, Error> {
        let described = crate::database::redact(url);
        let mut config: postgres::Config = url.parse().map_err(|e| {
            Error::Usage(format!(
                "--database '{described}' is not a PostgreSQL URL ({e})"
            ))
        })?;
        if config.get_password().is_none() {
            if let Ok(password) = std::env::var("PGPASSWORD") {
                config.password(password);
            }
        }
        config.application_name("pki");
        config.connect_timeout(std::time::Duration::from_secs(10));
        Ok(Postgres { config, described })
    }
}

impl Connector for Postgres {
    fn connect(&self) -> Result<Box<dyn Connection>, DbError> {
        let client = self.config.connect(NoTls).map_err(error)?;
        Ok(Box::new(PgConnection {
            client,
            statements: HashMap::new(),
        }))
    }

    fn describe(&self) -> String {
        self.described.clone()
    }
}

struct PgConnection {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl PgConnection {
    fn prepare(&mut self, sql: &str) -> Result<Statement, DbError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).map_err(error)?;
        self.statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

impl Connection for PgConnection {
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        if params.is_empty() && !sql.contains('$') {
            // transaction control and DDL: no plan to keep
            return self.client.execute(sql, &[]).map_err(error);
        }
        let statement = self.prepare(sql)?;
        let params: Vec<Param<'_>> = params.iter().map(Param).collect();
        self.client
            .execute(&statement, &as_sql(&params))
            .map_err(error)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let statement = self.prepare(sql)?;
        let params: Vec<Param<'_>> = params.iter().map(Param).collect();
        let rows = self
            .client
            .query(&statement, &as_sql(&params))
            .map_err(error)?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        let ty = row.columns()[i].type_().clone();
                        if ty == Type::INT8 {
                            Ok(row
                                .try_get::<_, Option<i64>>(i)
                                .map_err(error)?
                                .map_or(Value::Null, Value::Int))
                        } else if ty == Type::INT4 {
                            Ok(row
                                .try_get::<_, Option<i32>>(i)
                                .map_err(error)?
                                .map_or(Value::Null, |n| Value::Int(n.into())))
                        } else if ty == Type::TEXT || ty == Type::VARCHAR {
                            Ok(row
                                .try_get::<_, Option<String>>(i)
                                .map_err(error)?
                                .map_or(Value::Null, Value::Text))
                        } else {
                            Err(DbError::new(format!(
                                "column {i} has type {ty}, which the inventory never uses"
                            )))
                        }
                    })
                    .collect()
            })
            .collect()
    }

    fn begin_write(&mut self) -> Result<(), DbError> {
        self.client.batch_execute("BEGIN").map_err(error)
    }

    fn lock_schema(&mut self) -> Result<(), DbError> {
        self.client
            .execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
            .map(|_| ())
            .map_err(error)
    }
}

/// A [`Value`] as a PostgreSQL parameter: integers are BIGINT, text is TEXT.
#[derive(Debug)]
struct Param<'a>(&'a Value);

impl ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self.0 {
            Value::Int(n) => n.to_sql(ty, out),
            Value::Text(t) => t.as_str().to_sql(ty, out),
            Value::Null => Ok(IsNull::Yes),
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INT8 || *ty == Type::TEXT || *ty == Type::VARCHAR
    }

    postgres::types::to_sql_checked!();
}

fn as_sql<'a>(params: &'a [Param<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

fn error(e: postgres::Error) -> DbError {
    let retry = e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    });
    DbError {
        message: match e.as_db_error() {
            Some(db) => format!("{}: {}", db.severity(), db.message()),
            // the cause too: "error connecting to server" alone does not say refused,
            // unreachable or a name that does not resolve
            None => match std::error::Error::source(&e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            },
        },
        retry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_connection_says_why() {
        // a port nothing listens on (taken, then given back)
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(1);
        let db = Postgres::new(&format!("postgres://pki@127.0.0.1:{port}/ca")).unwrap();
        let err = db.connect().err().map(|e| e.message).unwrap_or_default();
        assert!(err.contains("error connecting"), "{err}");
        assert!(err.contains("refused"), "the cause is said: {err}");
    }
}
