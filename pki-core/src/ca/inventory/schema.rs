//! The inventory's tables, the same on SQLite and PostgreSQL. The database enforces what must
//! hold across processes and machines: a serial is issued once (primary key; a certificate
//! holds its serial, so no certificate twice either) and a token is used once (`token_uses`'
//! primary key is the token's hash), so two `pki serve` nodes on one database cannot both win.
//! Indexes are few on purpose: each is pages written per issuance.

/// The schema version written to `meta`.
pub const VERSION: &str = "1";

/// Every statement is idempotent: run on each open, under the schema lock.
pub const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )",
    // 'crl_number': the last CRL number issued; 'revision': grows with every revocation, so
    // a running server sees one made elsewhere
    "CREATE TABLE IF NOT EXISTS counters (
        name TEXT PRIMARY KEY,
        value BIGINT NOT NULL
    )",
    // instants are Unix seconds; a certificate is revoked when revoked_at is set
    "CREATE TABLE IF NOT EXISTS certificates (
        serial TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        profile TEXT NOT NULL,
        issuer TEXT NOT NULL,
        not_before BIGINT NOT NULL,
        not_after BIGINT NOT NULL,
        issued_at BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        revoked_at BIGINT,
        reason TEXT,
        pem TEXT
    )",
    "CREATE INDEX IF NOT EXISTS certificates_device ON certificates (device_id)",
    // only the SHA-256 of a token is kept: the secret itself is shown once, to its issuer
    "CREATE TABLE IF NOT EXISTS tokens (
        hash TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS token_uses (
        hash TEXT PRIMARY KEY REFERENCES tokens (hash),
        serial TEXT NOT NULL UNIQUE REFERENCES certificates (serial),
        used_at BIGINT NOT NULL
    )",
    "INSERT INTO counters (name, value) VALUES ('crl_number', 0) ON CONFLICT (name) DO NOTHING",
    "INSERT INTO counters (name, value) VALUES ('revision', 0) ON CONFLICT (name) DO NOTHING",
];
