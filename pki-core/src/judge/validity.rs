//! Whether `at` falls inside a certificate's validity, and whether a miss looks like the
//! endpoint's clock rather than the certificate.

use crate::finding::{Code, Finding, Side};
use crate::judge::fix::Commands;
use crate::read::cert::Cert;
use crate::timestamp::{format, span};
use std::path::Path;
use time::{Duration, OffsetDateTime};

/// CERT_EXPIRED or CERT_NOT_YET_VALID for the device certificate, each followed by
/// CLOCK_SKEW_SUSPECTED when the miss is shorter than `skew`. Empty when `at` is inside.
pub(crate) fn leaf_validity(
    leaf: &Cert,
    at: OffsetDateTime,
    skew: Duration,
    cmds: &Commands,
) -> Vec<Finding> {
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
            format!(
                "check the endpoint's clock; if it is right, the certificate was issued with a future notBefore: {}",
                cmds.new_certificate()
            ),
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
            format!("renew it: {}", cmds.new_certificate()),
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

/// ISSUER_EXPIRED for a CA outside its validity at `at` — "expired" or "not yet valid", as it
/// is — critical for an intermediate, a warning for a trust anchor (rustls does not check
/// anchors' dates); for an intermediate, followed by CLOCK_SKEW_SUSPECTED when the miss is as
/// small as for the device certificate.
///
/// `anchor_of`: `None` for an intermediate; for a trust anchor, `Some(the --trust file)` when
/// the anchors are the server's, `Some(None)` when they are the endpoint's own.
pub(crate) fn issuer_validity(
    ca: &Cert,
    at: OffsetDateTime,
    skew: Duration,
    anchor_of: Option<Option<&Path>>,
    cmds: &Commands,
) -> Vec<Finding> {
    if ca.is_valid_at(at) {
        return Vec::new();
    }
    let early = at < ca.not_before;
    let when = if early {
        format!(
            "is not yet valid: valid from {}, {} after {}",
            format(ca.not_before),
            span(ca.not_before - at),
            format(at)
        )
    } else {
        format!(
            "expired at {}, {} before {}",
            format(ca.not_after),
            span(at - ca.not_after),
            format(at)
        )
    };
    if let Some(server) = anchor_of {
        return vec![anchor_outside(ca, &when, early, server, cmds)];
    }
    let mut out = vec![if early {
        Finding::new(
            Code::IssuerExpired,
            format!("intermediate CA {} {when}", ca.describe()),
            format!(
                "check the endpoint's clock; if it is right, '{}' was made with a future notBefore: {}",
                ca.subject,
                cmds.repair_with_ca(format!("put the CA's current intermediate (DIR/chain.pem) in place of it in {}", cmds.chain_file()))
            ),
        )
    } else {
        Finding::new(
            Code::IssuerExpired,
            format!("intermediate CA {} {when}", ca.describe()),
            format!(
                "{} (the CA's current intermediate, or a new certificate if the device's is from the expired one; a CA whose own issuing certificate expired must rotate first: pki ca rotate --ca DIR)",
                cmds.repair_with_ca(format!("put the CA's current intermediate (DIR/chain.pem) in place of it in {}", cmds.chain_file()))
            ),
        )
    }
    .on(Side::Chain)];
    let miss = if early {
        ca.not_before - at
    } else {
        at - ca.not_after
    };
    let limit = if early {
        skew
    } else {
        Duration::hours(1).min(skew)
    };
    if miss <= limit {
        out.push(skew_finding(
            miss,
            if early { "behind" } else { "ahead" },
            at,
        ));
    }
    out
}

/// ISSUER_EXPIRED (a warning) for a trust anchor outside its validity: on the server when the
/// anchors are the `--trust` file (nothing on the endpoint changes them), else on the
/// endpoint's `trust.pem`. A root not yet valid points at the clock first: re-keying the root
/// is no fix for a clock running behind.
fn anchor_outside(
    ca: &Cert,
    when: &str,
    early: bool,
    server: Option<&Path>,
    cmds: &Commands,
) -> Finding {
    let message = format!(
        "trust anchor {} {when}; rustls still accepts it, OpenSSL-based servers do not",
        ca.describe()
    );
    let root = &ca.subject;
    let fix = match (server, early) {
        (Some(file), false) => format!(
            "on the server: replace '{root}' in {} with the CA's current root (DIR/trust.pem; if the CA's own root expired, the CA side rotates first: pki ca rotate --ca DIR --root)",
            file.display()
        ),
        (Some(file), true) => format!(
            "on the server: check its clock; if it is right, '{root}' was made with a future notBefore, and the CA side must replace it (pki ca rotate --ca DIR --root) and {} hold the new root",
            file.display()
        ),
        (None, false) => format!(
            "the CA side must replace the root (pki ca rotate --ca DIR --root); then {}",
            cmds.repair_with_ca("give the endpoint the CA's new trust bundle (DIR/trust.pem)")
        ),
        (None, true) => format!(
            "check the endpoint's clock; if it is right, '{root}' was made with a future notBefore: the CA side must replace it (pki ca rotate --ca DIR --root), then {}",
            cmds.repair_with_ca("give the endpoint the CA's new trust bundle (DIR/trust.pem)")
        ),
    };
    Finding::new(Code::IssuerExpired, message, fix)
        .warning()
        .on(if server.is_some() {
            Side::Server
        } else {
            Side::Trust
        })
}
