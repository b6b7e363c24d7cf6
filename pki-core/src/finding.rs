//! What the toolkit found: a contract code, how bad it is, the evidence and the fix.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A finding's severity; the order is the order of urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// The finding codes of the contract (`docs/contract.md`, "Finding codes"), including the ones
/// this toolkit added: `CERT_MISSING`, `KEY_NOT_CHECKED`, `REQUEST_PENDING`,
/// `PATH_BUILDING_LIMIT`, `NAME_NOT_CHECKED` and `FILE_ENCRYPTED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum Code {
    CertExpired,
    CertNotYetValid,
    ClockSkewSuspected,
    CertExpiringSoon,
    CertMissing,
    KeyMissing,
    KeyMismatch,
    KeyNotChecked,
    KeyPermissionsTooOpen,
    FileCorrupt,
    /// A file behind a password that was not given, or not the right one (an encrypted key, a
    /// PKCS#12 file): critical when nothing else at hand stands in for what it holds.
    FileEncrypted,
    MultipleCandidates,
    ChainIncomplete,
    UnknownIssuer,
    CaRotated,
    IssuerExpired,
    NotACa,
    BadSignature,
    WrongEku,
    WrongKeyUsage,
    WeakAlgorithm,
    Revoked,
    RevocationUnknown,
    CrlExpired,
    IdentityMismatch,
    NameMismatch,
    /// (`--purpose server` without `--name`) the chain was judged, no name was checked.
    NameNotChecked,
    NameConstraintViolation,
    PathLenExceeded,
    /// The certificates at hand offer so many candidate issuers (or a loop) that the validator
    /// gives up before it finds a path: webpki's budget of signature checks and path-building
    /// calls is spent. The certificate itself may be fine.
    PathBuildingLimit,
    CertMalformed,
    DuplicateIdentity,
    PolicyViolation,
    StoreTampered,
    StoreLocked,
    RequestPending,
}

impl Code {
    /// The severity the contract gives this code. `ISSUER_EXPIRED` is critical for an
    /// intermediate and a warning for a trust anchor; callers pick with [`Finding::warning`].
    pub fn default_severity(self) -> Severity {
        use Code::*;
        match self {
            ClockSkewSuspected
            | CertExpiringSoon
            | KeyPermissionsTooOpen
            | MultipleCandidates
            | WrongKeyUsage
            | RevocationUnknown
            | CrlExpired
            | PolicyViolation
            | StoreTampered
            | StoreLocked => Severity::Warning,
            KeyNotChecked | RequestPending | NameNotChecked => Severity::Info,
            _ => Severity::Critical,
        }
    }

    /// The side that must change for a finding of this code, unless the finding says
    /// otherwise ([`Finding::on`]): `CA_ROTATED` may be the device's, the chain's or the
    /// server's, a corrupt file is the one it names.
    pub fn default_side(self) -> Side {
        use Code::*;
        match self {
            CertExpired
            | CertNotYetValid
            | CertExpiringSoon
            | CertMissing
            | KeyMissing
            | KeyMismatch
            | WrongEku
            | WrongKeyUsage
            | WeakAlgorithm
            | Revoked
            | IdentityMismatch
            | NameMismatch
            | NameConstraintViolation
            | CertMalformed
            | DuplicateIdentity
            | PolicyViolation
            | CaRotated
            | NotACa
            | BadSignature
            | FileEncrypted
            | MultipleCandidates => Side::Device,
            ChainIncomplete | IssuerExpired | PathBuildingLimit => Side::Chain,
            UnknownIssuer => Side::Trust,
            PathLenExceeded => Side::Ca,
            ClockSkewSuspected => Side::Clock,
            KeyPermissionsTooOpen
            | FileCorrupt
            | RevocationUnknown
            | CrlExpired
            | StoreTampered
            | StoreLocked
            | RequestPending
            | KeyNotChecked
            | NameNotChecked => Side::Store,
        }
    }

    /// The contract's spelling, e.g. `CHAIN_INCOMPLETE`.
    pub fn as_str(self) -> &'static str {
        use Code::*;
        match self {
            CertExpired => "CERT_EXPIRED",
            CertNotYetValid => "CERT_NOT_YET_VALID",
            ClockSkewSuspected => "CLOCK_SKEW_SUSPECTED",
            CertExpiringSoon => "CERT_EXPIRING_SOON",
            CertMissing => "CERT_MISSING",
            KeyMissing => "KEY_MISSING",
            KeyMismatch => "KEY_MISMATCH",
            KeyNotChecked => "KEY_NOT_CHECKED",
            KeyPermissionsTooOpen => "KEY_PERMISSIONS_TOO_OPEN",
            FileCorrupt => "FILE_CORRUPT",
            FileEncrypted => "FILE_ENCRYPTED",
            MultipleCandidates => "MULTIPLE_CANDIDATES",
            ChainIncomplete => "CHAIN_INCOMPLETE",
            UnknownIssuer => "UNKNOWN_ISSUER",
            CaRotated => "CA_ROTATED",
            IssuerExpired => "ISSUER_EXPIRED",
            NotACa => "NOT_A_CA",
            BadSignature => "BAD_SIGNATURE",
            WrongEku => "WRONG_EKU",
            WrongKeyUsage => "WRONG_KEY_USAGE",
            WeakAlgorithm => "WEAK_ALGORITHM",
            Revoked => "REVOKED",
            RevocationUnknown => "REVOCATION_UNKNOWN",
            CrlExpired => "CRL_EXPIRED",
            IdentityMismatch => "IDENTITY_MISMATCH",
            NameMismatch => "NAME_MISMATCH",
            NameNotChecked => "NAME_NOT_CHECKED",
            NameConstraintViolation => "NAME_CONSTRAINT_VIOLATION",
            PathLenExceeded => "PATH_LEN_EXCEEDED",
            PathBuildingLimit => "PATH_BUILDING_LIMIT",
            CertMalformed => "CERT_MALFORMED",
            DuplicateIdentity => "DUPLICATE_IDENTITY",
            PolicyViolation => "POLICY_VIOLATION",
            StoreTampered => "STORE_TAMPERED",
            StoreLocked => "STORE_LOCKED",
            RequestPending => "REQUEST_PENDING",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side must change for a finding to go away: what `repair` may act on (the device's
/// certificate and key, its chain, its trust anchors, the store's other files) and what it
/// cannot (the server's trust anchors, the CA, the clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Side {
    /// The device certificate or its key: a new certificate (or the right key) is needed.
    #[default]
    Device,
    /// The intermediates the endpoint presents (`chain.pem`).
    Chain,
    /// The endpoint's own trust anchors (`trust.pem`).
    Trust,
    /// The server's trust anchors (the `--trust` file): nothing on the endpoint can help.
    Server,
    /// A CA certificate must be reissued: nothing on the endpoint can help.
    Ca,
    /// The endpoint's clock.
    Clock,
    /// The store's other files (permissions, CRLs, the manifest, the lock).
    Store,
}

/// One finding: the code, its severity, a message carrying the evidence (file, subject, serial,
/// dates or names) and a concrete fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub fix: String,
    /// Which side must change (for `repair`'s plan; not part of the contract's JSON).
    #[serde(skip)]
    pub side: Side,
}

impl Finding {
    /// A finding at the contract's severity for `code`.
    pub fn new(code: Code, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding {
            code,
            severity: code.default_severity(),
            message: message.into(),
            fix: fix.into(),
            side: code.default_side(),
        }
    }

    /// The same finding, placed on `side` (a stale chain or server trust for `CA_ROTATED`, a
    /// CA's constraint for `NAME_CONSTRAINT_VIOLATION`, …).
    pub fn on(mut self, side: Side) -> Self {
        self.side = side;
        self
    }

    /// The same finding, downgraded to a warning (an anchor's dates, a check rustls skips).
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    pub fn is_critical(&self) -> bool {
        self.severity == Severity::Critical
    }
}

/// A path as one shell word, for the commands fix texts name (quoted only when it must be).
pub fn quoted(path: &std::path::Path) -> String {
    let text = path.display().to_string();
    match shlex::try_quote(&text) {
        Ok(q) => q.into_owned(),
        Err(_) => text,
    }
}
