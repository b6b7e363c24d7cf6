//! Whether `at` falls inside a certificate's validity, and whether a miss looks like the
//! endpoint's clock rather than the certificate.

use crate::finding::{Code, Finding};
use crate::read::cert::Cert;
use crate::timestamp::{format, span};
use time::{Duration, OffsetDateTime};

/// CERT_EXPIRED or CERT_NOT_YET_VALID for the device certificate, each followed by
/// CLOCK_SKEW_SUSPECTED when the miss is shorter than `skew`. Empty when `at` is inside.
pub fn leaf_validity(leaf: &Cert, at: OffsetDateTime, skew: Duration) -> Vec<Finding> {
    let mut out = Vec::new();
    if at < leaf.not_before {
        let miss = leaf.not_before - at;
        out.push(Finding::new(
            Code::CertNotYetValid,
            format!(
                "device certificate {} is not valid until {}, {} after {}",
                leaf.describe(),
                format(leaf.not_before),
                span(miss),
                format(at)
            ),
            "check the endpoint's clock; if it is right, the certificate was issued with a future notBefore: reissue it (pki renew STORE --ca DIR --force)",
        ));
        if miss <= skew {
            out.push(skew_finding(miss, "behind", at));
        }
    } else if at > leaf.not_after {
        let miss = at - leaf.not_after;
        out.push(Finding::new(
            Code::CertExpired,
            format!(
                "device certificate {} expired at {}, {} before {}",
                leaf.describe(),
                format(leaf.not_after),
                span(miss),
                format(at)
            ),
            "renew it: pki renew STORE --ca DIR --force (or pki repair STORE --ca DIR)",
        ));
        // Expiry by a few minutes can be a clock running ahead; hours past expiry are real.
        if miss <= Duration::hours(1).min(skew) {
            out.push(skew_finding(miss, "ahead", at));
        }
    }
    out
}

fn skew_finding(miss: Duration, direction: &str, at: OffsetDateTime) -> Finding {
    Finding::new(
        Code::ClockSkewSuspected,
        format!(
            "the validity miss is only {}: the endpoint's clock (read as {}) is more likely {direction} than the certificate wrong",
            span(miss),
            format(at)
        ),
        "check the clock: timedatectl status (Linux) or w32tm /query /status (Windows), then resync NTP",
    )
}

/// ISSUER_EXPIRED for a CA outside its validity at `at`: critical for an intermediate, a
/// warning for a trust anchor (rustls does not check anchors' dates).
pub fn issuer_validity(ca: &Cert, at: OffsetDateTime, is_anchor: bool) -> Option<Finding> {
    if ca.is_valid_at(at) {
        return None;
    }
    let when = if at > ca.not_after {
        format!("expired at {}", format(ca.not_after))
    } else {
        format!("is not valid until {}", format(ca.not_before))
    };
    let finding = if is_anchor {
        Finding::new(
            Code::IssuerExpired,
            format!(
                "trust anchor {} {when}; rustls still accepts it, OpenSSL-based servers do not",
                ca.describe()
            ),
            "refresh the trust anchors from the CA (pki repair STORE --trust BUNDLE) and plan the root's replacement",
        )
        .warning()
    } else {
        Finding::new(
            Code::IssuerExpired,
            format!("intermediate CA {} {when}, at {}", ca.describe(), format(at)),
            "install the CA's current intermediate (pki repair STORE --ca DIR); if the CA itself expired, the CA side must rotate (pki ca rotate) and reissue",
        )
    };
    Some(finding)
}
