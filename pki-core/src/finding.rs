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

/// The finding codes of the contract (`CONTRACT.md`, "Finding codes"), plus the two this toolkit
/// adds and documents in its README: `CERT_MISSING` and `KEY_NOT_CHECKED`.
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
    NameConstraintViolation,
    PathLenExceeded,
    CertMalformed,
    DuplicateIdentity,
    PolicyViolation,
    StoreTampered,
    StoreLocked,
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
            | StoreLocked => Severity::Warning,
            KeyNotChecked => Severity::Info,
            _ => Severity::Critical,
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
            NameConstraintViolation => "NAME_CONSTRAINT_VIOLATION",
            PathLenExceeded => "PATH_LEN_EXCEEDED",
            CertMalformed => "CERT_MALFORMED",
            DuplicateIdentity => "DUPLICATE_IDENTITY",
            PolicyViolation => "POLICY_VIOLATION",
            StoreTampered => "STORE_TAMPERED",
            StoreLocked => "STORE_LOCKED",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding: the code, its severity, a message carrying the evidence (file, subject, serial,
/// dates or names) and a concrete fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub fix: String,
}

impl Finding {
    /// A finding at the contract's severity for `code`.
    pub fn new(code: Code, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding {
            code,
            severity: code.default_severity(),
            message: message.into(),
            fix: fix.into(),
        }
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
