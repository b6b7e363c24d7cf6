//! The CA's inventory: every certificate issued (serial, device id, validity, SHA-256, the
//! certificate itself), revocations, one-time enrollment tokens and CRL numbers, in one
//! database shared by the offline commands (`pki ca sign/revoke/crl/token`, `enroll --ca`,
//! `renew --ca`, `repair --ca`) and `pki serve`, through this code alone.
//!
//! SQLite in the CA folder by default ([`sqlite`]); PostgreSQL for several servers (its
//! [`Connector`] lives in `pki-net`, since pki-core never opens a socket). An issuance is
//! committed before the certificate is handed out, so a crash between the two leaves a record
//! and never a certificate the CA does not know.

pub mod import;
pub mod schema;
pub mod sql;
pub mod sqlite;

use crate::error::Error;
use serde::Serialize;
use sql::{Connection, Connector, DbError, Row, Value};
use std::sync::{Arc, Condvar, Mutex};
use time::OffsetDateTime;

/// Connections open at once, at most (more callers wait for one): a server under a burst
/// never opens more than this to the database. Once opened a connection is kept (a server
/// opens them all at start, [`Inventory::open_pool`]): a connection opened and closed per
/// burst would leave the process's descriptors above where they were (SQLite keeps a
/// closed connection's descriptor while another holds a lock on the file), and one needed
/// when descriptors have run out could not be opened.
const MAX_OPEN: usize = 16;
/// Attempts of a write transaction the database asks to retry (busy, serialization).
const ATTEMPTS: u32 = 5;

/// What a certificate was issued as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// A device certificate (clientAuth), issued under the CA's policy.
    Device,
    /// `pki serve`'s own TLS certificate (serverAuth).
    Server,
}

impl Profile {
    fn as_str(self) -> &'static str {
        match self {
            Profile::Device => "device",
            Profile::Server => "server",
        }
    }
}

/// One certificate the CA issued.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// Upper-case colon hex, as `pki inspect` and diagnose print it.
    pub serial: String,
    pub device_id: String,
    pub profile: Profile,
    /// The issuing CA generation (`issuing-2`).
    pub issuer: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    pub sha256: String,
    pub status: Status,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    pub reason: Option<String>,
    /// The certificate, PEM (absent for records imported without their copy).
    #[serde(skip)]
    pub pem: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Valid,
    Revoked,
}

/// An issuance to commit: the record, and what it consumes or continues.
#[derive(Debug, Clone)]
pub struct Issuance {
    pub record: Record,
    /// The SHA-256 (hex) of the one-time token this enrollment uses up.
    pub token: Option<String>,
    /// The serial this renewal replaces: refused when that one is revoked or unknown.
    pub renews: Option<String>,
}

/// Why one issuance of a batch was not recorded (the others are unaffected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No token with this hash.
    TokenUnknown,
    /// The token was made for another device id.
    TokenOtherDevice(String),
    /// The token has been used (by this node or another).
    TokenUsed,
    TokenExpired(OffsetDateTime),
    /// The renewed serial is revoked.
    Revoked(String),
    /// The renewed serial was never issued by this CA.
    UnknownSerial(String),
    /// The serial or the certificate's hash is taken (a serial collision: sign again).
    Duplicate,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::TokenUnknown => f.write_str("the enrollment token is not known"),
            Refusal::TokenOtherDevice(id) => {
                write!(f, "the enrollment token was made for device {id}")
            }
            Refusal::TokenUsed => f.write_str("the enrollment token has been used"),
            Refusal::TokenExpired(at) => write!(
                f,
                "the enrollment token expired at {}",
                crate::timestamp::format(*at)
            ),
            Refusal::Revoked(s) => write!(f, "certificate {s} is revoked: it never renews"),
            Refusal::UnknownSerial(s) => {
                write!(f, "certificate {s} is not in this CA's inventory")
            }
            Refusal::Duplicate => f.write_str("the serial number is already taken"),
        }
    }
}

/// A one-time enrollment token, as stored (the hash, never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Token {
    pub hash: String,
    pub device_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The serial it was used for.
    pub used_by: Option<String>,
}

/// A revoked certificate, for a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    pub serial: String,
    pub issuer: String,
    pub at: OffsetDateTime,
    pub reason: Option<String>,
}

/// The inventory of one CA. Cheap to share (`Arc`); safe to use from many threads.
pub struct Inventory {
    connector: Arc<dyn Connector>,
    pool: Mutex<Pool>,
    freed: Condvar,
    /// The connection writes go through, one transaction at a time in this process (SQLite
    /// has one writer anyway; its page cache stays warm instead of being invalidated by
    /// writes on other connections).
    writer: Mutex<Option<Box<dyn Connection>>>,
    /// Checkpoints are run by [`Inventory::checkpoint`], not by the committing transaction.
    deferred: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Pool {
    idle: Vec<Box<dyn Connection>>,
    /// Connections open, idle or in use.
    open: usize,
}

impl std::fmt::Debug for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inventory")
            .field("database", &self.connector.describe())
            .finish()
    }
}

const COLUMNS: &str = "serial, device_id, profile, issuer, not_before, not_after, issued_at, sha256, revoked_at, reason, pem";

impl Inventory {
    /// Opens the database behind `connector` for the CA identified by `ca_id` (the SHA-256 of
    /// its first root's public key), creating the tables the first time. A database that belongs to
    /// another CA is refused.
    pub fn open(connector: Arc<dyn Connector>, ca_id: &str) -> Result<Inventory, Error> {
        let inventory = Inventory {
            connector,
            pool: Mutex::new(Pool::default()),
            freed: Condvar::new(),
            writer: Mutex::new(None),
            deferred: std::sync::atomic::AtomicBool::new(false),
        };
        let owner = inventory.write(|c| {
            c.lock_schema()?;
            for statement in schema::TABLES {
                c.execute(statement, &[])?;
            }
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('schema', $1) ON CONFLICT (key) DO NOTHING",
                &[schema::VERSION.into()],
            )?;
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('ca', $1) ON CONFLICT (key) DO NOTHING",
                &[ca_id.into()],
            )?;
            let rows = c.query("SELECT value FROM meta WHERE key = 'ca'", &[])?;
            Ok(rows.first().map(|r| column(r, 0)).unwrap_or_default())
        })?;
        if owner != ca_id {
            return Err(inventory.error(format!(
                "this database holds the inventory of another CA (its root's key has SHA-256 {owner}); give each CA its own database"
            )));
        }
        Ok(inventory)
    }

    /// Where the database is (a file or a URL without its password).
    pub fn describe(&self) -> String {
        self.connector.describe()
    }

    /// Commits a batch of issuances in one transaction (one fsync for all: a group commit).
    /// Each gets its own answer; a refused one leaves no trace and does not stop the others.
    pub fn record(&self, batch: &[Issuance]) -> Result<Vec<Result<(), Refusal>>, Error> {
        self.write(|c| {
            let mut out = Vec::with_capacity(batch.len());
            for item in batch {
                c.execute("SAVEPOINT issuance", &[])?;
                let answer = record_one(c, item)?;
                if answer.is_err() {
                    c.execute("ROLLBACK TO SAVEPOINT issuance", &[])?;
                }
                c.execute("RELEASE SAVEPOINT issuance", &[])?;
                out.push(answer);
            }
            Ok(out)
        })
    }

    /// Marks `serial` (normalised) revoked at `at` for `reason`; revoking twice keeps the
    /// first revocation. `None` when this CA never issued it.
    pub fn revoke(
        &self,
        serial: &str,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Record>, Error> {
        self.write(|c| {
            let changed = c.execute(
                "UPDATE certificates SET revoked_at = $1, reason = $2 WHERE serial = $3 AND revoked_at IS NULL",
                &[unix(at).into(), reason.into(), serial.into()],
            )?;
            if changed > 0 {
                c.execute(
                    "UPDATE counters SET value = value + 1 WHERE name = 'revision'",
                    &[],
                )?;
            }
            get(c, serial)
        })
    }

    /// The record of `serial` (normalised).
    pub fn get(&self, serial: &str) -> Result<Option<Record>, Error> {
        self.read(|c| get(c, serial))
    }

    /// The certificates issued to `device_id` that are not revoked, newest first.
    pub fn issued_to(&self, device_id: &str) -> Result<Vec<Record>, Error> {
        self.read(|c| {
            let rows = c.query(
                &format!("SELECT {COLUMNS} FROM certificates WHERE device_id = $1 AND revoked_at IS NULL ORDER BY issued_at DESC, serial"),
                &[device_id.into()],
            )?;
            rows.iter().map(record).collect()
        })
    }

    /// Every record, oldest first (for exports and tests).
    pub fn all(&self) -> Result<Vec<Record>, Error> {
        self.read(|c| {
            let rows = c.query(
                &format!("SELECT {COLUMNS} FROM certificates ORDER BY issued_at, serial"),
                &[],
            )?;
            rows.iter().map(record).collect()
        })
    }

    /// Every revoked certificate (for CRLs).
    pub fn revoked(&self) -> Result<Vec<Revoked>, Error> {
        self.read(|c| {
            let rows = c.query(
                "SELECT serial, issuer, revoked_at, reason FROM certificates WHERE revoked_at IS NOT NULL ORDER BY serial",
                &[],
            )?;
            rows.iter()
                .map(|r| {
                    Ok(Revoked {
                        serial: column(r, 0),
                        issuer: column(r, 1),
                        at: instant(r.get(2).and_then(Value::int).unwrap_or(0))?,
                        reason: r.get(3).and_then(Value::text).map(str::to_string),
                    })
                })
                .collect()
        })
    }

    /// When the last certificate `issuer` issued that is not revoked expires.
    pub fn last_expiry(&self, issuer: &str) -> Result<Option<OffsetDateTime>, Error> {
        self.read(|c| {
            let rows = c.query(
                "SELECT MAX(not_after) FROM certificates WHERE issuer = $1 AND revoked_at IS NULL AND profile = 'device'",
                &[issuer.into()],
            )?;
            rows.first()
                .and_then(|r| r.first())
                .and_then(Value::int)
                .map(instant)
                .transpose()
        })
    }

    /// Stores a new token (its hash).
    pub fn add_token(&self, token: &Token) -> Result<(), Error> {
        self.write(|c| {
            c.execute(
                "INSERT INTO tokens (hash, device_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                &[
                    token.hash.as_str().into(),
                    token.device_id.as_str().into(),
                    unix(token.created_at).into(),
                    unix(token.expires_at).into(),
                ],
            )?;
            Ok(())
        })
    }

    /// The token with this hash, and whether it has been used.
    pub fn token(&self, hash: &str) -> Result<Option<Token>, Error> {
        self.read(|c| token(c, hash))
    }

    /// The next CRL number: one more than the last, across every process on this database.
    pub fn next_crl_number(&self) -> Result<u64, Error> {
        self.write(|c| {
            let rows = c.query(
                "UPDATE counters SET value = value + 1 WHERE name = 'crl_number' RETURNING value",
                &[],
            )?;
            Ok(rows
                .first()
                .and_then(|r| r.first())
                .and_then(Value::int)
                .unwrap_or(1) as u64)
        })
    }

    /// The number of the last CRL issued (0 before the first), read without taking the next
    /// one (`ca crl --dry-run`).
    pub fn crl_number(&self) -> Result<u64, Error> {
        self.counter("crl_number").map(|n| n.max(0) as u64)
    }

    /// A number that grows with every revocation: a server polls it to see revocations made
    /// by other processes or nodes.
    pub fn revision(&self) -> Result<i64, Error> {
        self.counter("revision")
    }

    /// From now on, commits leave the write-ahead log's checkpoints to
    /// [`Inventory::checkpoint`], which the server's commit thread runs after it has answered
    /// a batch, so that no issuance waits for one; until then the committing transaction runs
    /// them before it returns, as SQLite does by default.
    pub fn defer_checkpoints(&self) {
        self.deferred
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut w) = self.writer.lock() {
            *w = None; // the next writer connection is opened with checkpoints deferred
        }
    }

    /// A checkpoint that waits for no reader (SQLite: PASSIVE), run by the writer between its
    /// transactions: with no new frames meanwhile it can complete, and the next transaction
    /// starts the log over, so the log stays short however long writes go on.
    pub fn checkpoint(&self) -> Result<(), Error> {
        let mut writer = match self.writer.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        match writer.as_mut() {
            Some(conn) => conn.checkpoint().map_err(|e| self.error(e.message)),
            None => Ok(()), // nothing written through this process yet
        }
    }

    /// Opens every connection the pool may hold (and the writer's) now, so that serving
    /// never opens one: a server's descriptors are the same after any burst, and a server
    /// out of descriptors still reaches its database.
    pub fn open_pool(&self) -> Result<(), Error> {
        let mut opened = Vec::new();
        while self.lock().open < MAX_OPEN {
            opened.push(self.take()?);
        }
        for c in opened {
            self.give_back(c);
        }
        self.write(|_| Ok(()))
    }

    /// How many certificates are recorded.
    pub fn count(&self) -> Result<u64, Error> {
        self.read(|c| {
            let rows = c.query("SELECT COUNT(*) FROM certificates", &[])?;
            Ok(rows
                .first()
                .and_then(|r| r.first())
                .and_then(Value::int)
                .unwrap_or(0) as u64)
        })
    }

    fn counter(&self, name: &str) -> Result<i64, Error> {
        self.read(|c| {
            let rows = c.query("SELECT value FROM counters WHERE name = $1", &[name.into()])?;
            Ok(rows
                .first()
                .and_then(|r| r.first())
                .and_then(Value::int)
                .unwrap_or(0))
        })
    }

    /// Runs `f` on a pooled connection outside a transaction.
    fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Connection) -> Result<T, DbError>,
    ) -> Result<T, Error> {
        let mut conn = self.take()?;
        match f(conn.as_mut()) {
            Ok(v) => {
                self.give_back(conn);
                Ok(v)
            }
            Err(e) => {
                self.discard(conn);
                Err(self.error(e.message))
            }
        }
    }

    /// Runs `f` in a write transaction, committed when `f` succeeds, retried when the
    /// database asks for it.
    fn write<T>(
        &self,
        mut f: impl FnMut(&mut dyn Connection) -> Result<T, DbError>,
    ) -> Result<T, Error> {
        let mut writer = match self.writer.lock() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut conn = match writer.take() {
                Some(c) => c,
                None => {
                    let mut c = self
                        .connector
                        .connect()
                        .map_err(|e| self.error(format!("cannot open the inventory: {e}")))?;
                    if self.deferred.load(std::sync::atomic::Ordering::Relaxed) {
                        c.defer_checkpoints().map_err(|e| self.error(e.message))?;
                    }
                    c
                }
            };
            let result = conn.begin_write().and_then(|()| {
                let value = f(conn.as_mut())?;
                conn.execute("COMMIT", &[])?;
                Ok(value)
            });
            match result {
                Ok(v) => {
                    *writer = Some(conn);
                    return Ok(v);
                }
                Err(e) => {
                    // a connection whose transaction failed is not reused (PostgreSQL
                    // leaves it aborted); the rollback is a courtesy
                    let _ = conn.execute("ROLLBACK", &[]);
                    drop(conn);
                    if !e.retry || attempt >= ATTEMPTS {
                        return Err(self.error(e.message));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20 * u64::from(attempt)));
                }
            }
        }
    }

    /// An idle connection, a new one while fewer than [`MAX_OPEN`] are open, else the next
    /// one given back.
    fn take(&self) -> Result<Box<dyn Connection>, Error> {
        let mut pool = self.lock();
        loop {
            if let Some(c) = pool.idle.pop() {
                return Ok(c);
            }
            if pool.open < MAX_OPEN {
                pool.open += 1;
                drop(pool);
                return self.connector.connect().map_err(|e| {
                    self.lock().open -= 1;
                    self.freed.notify_one();
                    self.error(format!("cannot open the inventory: {e}"))
                });
            }
            pool = match self.freed.wait(pool) {
                Ok(p) => p,
                Err(poisoned) => poisoned.into_inner(),
            };
        }
    }

    fn give_back(&self, conn: Box<dyn Connection>) {
        self.lock().idle.push(conn);
        self.freed.notify_one();
    }

    /// Closes a connection that failed.
    fn discard(&self, conn: Box<dyn Connection>) {
        drop(conn);
        self.lock().open -= 1;
        self.freed.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pool> {
        match self.pool.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::Database {
            database: self.connector.describe(),
            reason: reason.into(),
        }
    }
}

fn record_one(c: &mut dyn Connection, item: &Issuance) -> Result<Result<(), Refusal>, DbError> {
    let r = &item.record;
    if let Some(old) = &item.renews {
        match get(c, old)? {
            None => return Ok(Err(Refusal::UnknownSerial(old.clone()))),
            Some(rec) if rec.status == Status::Revoked => {
                return Ok(Err(Refusal::Revoked(old.clone())))
            }
            Some(_) => {}
        }
    }
    if let Some(hash) = &item.token {
        match token(c, hash)? {
            None => return Ok(Err(Refusal::TokenUnknown)),
            Some(t) if t.device_id != r.device_id => {
                return Ok(Err(Refusal::TokenOtherDevice(t.device_id)))
            }
            Some(t) if t.used_by.is_some() => return Ok(Err(Refusal::TokenUsed)),
            Some(t) if r.issued_at > t.expires_at => {
                return Ok(Err(Refusal::TokenExpired(t.expires_at)))
            }
            Some(_) => {}
        }
    }
    let inserted = c.execute(
        &format!("INSERT INTO certificates ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING"),
        &[
            r.serial.as_str().into(),
            r.device_id.as_str().into(),
            r.profile.as_str().into(),
            r.issuer.as_str().into(),
            unix(r.not_before).into(),
            unix(r.not_after).into(),
            unix(r.issued_at).into(),
            r.sha256.as_str().into(),
            r.revoked_at.map(unix).into(),
            r.reason.clone().into(),
            r.pem.clone().into(),
        ],
    )?;
    if inserted == 0 {
        return Ok(Err(Refusal::Duplicate));
    }
    if let Some(hash) = &item.token {
        // the primary key of token_uses is what makes a token single-use, across nodes
        let used = c.execute(
            "INSERT INTO token_uses (hash, serial, used_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[hash.as_str().into(), r.serial.as_str().into(), unix(r.issued_at).into()],
        )?;
        if used == 0 {
            return Ok(Err(Refusal::TokenUsed));
        }
    }
    Ok(Ok(()))
}

fn get(c: &mut dyn Connection, serial: &str) -> Result<Option<Record>, DbError> {
    let rows = c.query(
        &format!("SELECT {COLUMNS} FROM certificates WHERE serial = $1"),
        &[serial.into()],
    )?;
    rows.first().map(record).transpose()
}

fn token(c: &mut dyn Connection, hash: &str) -> Result<Option<Token>, DbError> {
    let rows = c.query(
        "SELECT t.hash, t.device_id, t.created_at, t.expires_at, u.serial FROM tokens t LEFT JOIN token_uses u ON u.hash = t.hash WHERE t.hash = $1",
        &[hash.into()],
    )?;
    rows.first()
        .map(|r| {
            Ok(Token {
                hash: column(r, 0),
                device_id: column(r, 1),
                created_at: instant(r.get(2).and_then(Value::int).unwrap_or(0))?,
                expires_at: instant(r.get(3).and_then(Value::int).unwrap_or(0))?,
                used_by: r.get(4).and_then(Value::text).map(str::to_string),
            })
        })
        .transpose()
}

fn record(r: &Row) -> Result<Record, DbError> {
    let s = |i: usize| column(r, i);
    let n = |i: usize| r.get(i).and_then(Value::int);
    let revoked_at = n(8).map(instant).transpose()?;
    Ok(Record {
        serial: s(0),
        device_id: s(1),
        profile: if s(2) == "server" {
            Profile::Server
        } else {
            Profile::Device
        },
        issuer: s(3),
        not_before: instant(n(4).unwrap_or(0))?,
        not_after: instant(n(5).unwrap_or(0))?,
        issued_at: instant(n(6).unwrap_or(0))?,
        sha256: s(7),
        status: if revoked_at.is_some() {
            Status::Revoked
        } else {
            Status::Valid
        },
        revoked_at,
        reason: r.get(9).and_then(Value::text).map(str::to_string),
        pem: r.get(10).and_then(Value::text).map(str::to_string),
    })
}

/// Column `i` of `row` as text ("" when NULL).
fn column(row: &Row, i: usize) -> String {
    row.get(i).and_then(Value::text).unwrap_or("").to_string()
}

pub(crate) fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

fn instant(secs: i64) -> Result<OffsetDateTime, DbError> {
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| DbError::new(format!("instant {secs} out of range ({e})")))
}

/// `serial` in the inventory's spelling: upper-case colon hex, whatever the user typed
/// (`0a1b`, `0A:1B`, `0x0a1b`).
pub fn normalise_serial(serial: &str) -> Option<String> {
    let hex: String = serial
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| *c != ':')
        .collect();
    if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let hex = if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex
    };
    let bytes: Vec<String> = hex
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect();
    Some(bytes.join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path) -> Inventory {
        let connector = Arc::new(sqlite::Sqlite {
            path: dir.join(sqlite::FILE),
        });
        Inventory::open(connector, "ca-1").expect("open")
    }

    fn rec(serial: &str, device: &str, at: OffsetDateTime) -> Record {
        Record {
            serial: serial.into(),
            device_id: device.into(),
            profile: Profile::Device,
            issuer: "issuing-1".into(),
            not_before: at,
            not_after: at + time::Duration::days(365),
            issued_at: at,
            sha256: format!("hash-{serial}"),
            status: Status::Valid,
            revoked_at: None,
            reason: None,
            pem: Some("PEM".into()),
        }
    }

    /// Descriptors of this process open on files under `dir`.
    fn fds_under(dir: &std::path::Path) -> usize {
        std::fs::read_dir("/proc/self/fd")
            .expect("/proc/self/fd")
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target.starts_with(dir))
            .count()
    }

    #[test]
    fn an_opened_pool_serves_a_burst_without_a_new_descriptor() {
        // the soak found a server's descriptors above their baseline after bursts: readers
        // opened for a burst and closed after it leave SQLite's descriptors behind
        let dir = tempfile::tempdir().expect("tempdir");
        let inv = open(dir.path());
        inv.open_pool().expect("the pool");
        let opened = fds_under(dir.path());
        assert_eq!(inv.lock().open, MAX_OPEN);
        std::thread::scope(|s| {
            for _ in 0..(2 * MAX_OPEN) {
                s.spawn(|| {
                    for _ in 0..20 {
                        inv.count().expect("a read");
                    }
                });
            }
        });
        assert_eq!(
            fds_under(dir.path()),
            opened,
            "no descriptor opened or left"
        );
        assert_eq!(inv.lock().open, MAX_OPEN);
    }

    #[test]
    fn tokens_are_single_use_and_serials_unique() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inv = open(dir.path());
        let at = crate::timestamp::parse("2026-03-01T00:00:00Z").expect("at");
        inv.add_token(&Token {
            hash: "h1".into(),
            device_id: "dev-1".into(),
            created_at: at,
            expires_at: at + time::Duration::hours(24),
            used_by: None,
        })
        .expect("token");
        let first = Issuance {
            record: rec("01", "dev-1", at),
            token: Some("h1".into()),
            renews: None,
        };
        let again = Issuance {
            record: rec("02", "dev-1", at),
            ..first.clone()
        };
        let dup = Issuance {
            record: rec("01", "dev-9", at),
            token: None,
            renews: None,
        };
        let answers = inv.record(&[first, again, dup]).expect("record");
        assert_eq!(answers[0], Ok(()));
        assert_eq!(answers[1], Err(Refusal::TokenUsed));
        assert_eq!(answers[2], Err(Refusal::Duplicate));
        assert_eq!(
            inv.count().expect("count"),
            1,
            "refused issuances leave no trace"
        );
        assert_eq!(
            inv.token("h1").expect("token").and_then(|t| t.used_by),
            Some("01".to_string())
        );
        // a second handle on the same file (another process) sees the same
        let other = open(dir.path());
        assert_eq!(
            other.get("01").expect("get").map(|r| r.device_id),
            Some("dev-1".into())
        );
        assert!(Inventory::open(
            Arc::new(sqlite::Sqlite {
                path: dir.path().join(sqlite::FILE)
            }),
            "another-ca"
        )
        .is_err());
    }

    #[test]
    fn revocation_refuses_renewal_and_counts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inv = open(dir.path());
        let at = crate::timestamp::parse("2026-03-01T00:00:00Z").expect("at");
        inv.record(&[Issuance {
            record: rec("0A", "dev-2", at),
            token: None,
            renews: None,
        }])
        .expect("record");
        let before = inv.revision().expect("revision");
        let r = inv.revoke("0A", "keyCompromise", at).expect("revoke");
        assert_eq!(r.map(|r| r.status), Some(Status::Revoked));
        assert_eq!(inv.revision().expect("revision"), before + 1);
        inv.revoke("0A", "superseded", at).expect("again");
        assert_eq!(
            inv.revision().expect("revision"),
            before + 1,
            "twice is a no-op"
        );
        let renewal = Issuance {
            record: rec("0B", "dev-2", at),
            token: None,
            renews: Some("0A".into()),
        };
        assert_eq!(
            inv.record(&[renewal]).expect("record")[0],
            Err(Refusal::Revoked("0A".into()))
        );
        assert_eq!(inv.next_crl_number().expect("n"), 1);
        assert_eq!(inv.next_crl_number().expect("n"), 2);
        assert_eq!(inv.revoked().expect("revoked").len(), 1);
    }

    #[test]
    fn deferred_checkpoints_keep_the_log_short_under_continuous_writes() {
        let at = crate::timestamp::parse("2026-03-01T00:00:00Z").expect("at");
        let wal_after = |checkpoints: bool| {
            let dir = tempfile::tempdir().expect("tempdir");
            let inv = open(dir.path());
            inv.defer_checkpoints();
            for batch in 0..150 {
                let items: Vec<Issuance> = (0..4)
                    .map(|i| Issuance {
                        record: rec(&format!("{batch:04X}{i:02X}"), "dev", at),
                        token: None,
                        renews: None,
                    })
                    .collect();
                inv.record(&items).expect("record");
                if checkpoints && batch % 10 == 9 {
                    inv.checkpoint().expect("checkpoint");
                }
            }
            std::fs::metadata(dir.path().join("inventory.sqlite-wal"))
                .map(|m| m.len())
                .unwrap_or(0)
        };
        let kept_short = wal_after(true);
        let left_alone = wal_after(false);
        assert!(
            kept_short * 4 < left_alone,
            "the writer's checkpoints restart the log: {kept_short} bytes, {left_alone} without"
        );
    }

    #[test]
    fn serials_normalise() {
        assert_eq!(normalise_serial("0x0a1b").as_deref(), Some("0A:1B"));
        assert_eq!(normalise_serial("a:1b").as_deref(), Some("0A:1B"));
        assert_eq!(normalise_serial("zz"), None);
    }
}
