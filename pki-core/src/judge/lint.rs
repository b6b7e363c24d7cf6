//! Warnings beyond the verdict: what will break (expiry inside the renewal window, a stale
//! CRL), what is unsafe, and RFC 5280 defects rustls tolerates but other servers do not, so
//! that nothing wrong passes silently.

use crate::finding::Side;
use crate::finding::{Code, Finding};
use crate::judge::chain::path_by_name;
use crate::judge::fix::Commands;
use crate::judge::validity::issuer_validity;
use crate::judge::verify::Purpose;
use crate::policy::Policy;
use crate::read::cert::Cert;
use crate::read::rfc5280::{crl_defects, defects, Role};
use crate::store::Material;
use crate::timestamp::{format, span};
use time::OffsetDateTime;

pub struct Lint<'a> {
    pub leaf: &'a Cert,
    pub material: &'a Material,
    pub policy: &'a Policy,
    pub purpose: &'a Purpose,
    pub at: OffsetDateTime,
}

pub fn lint(l: &Lint<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    expiring(l, &mut out);
    revocation(l, &mut out);
    leaf_profile(l, &mut out);
    let (links, anchor) = path_by_name(l.leaf, &l.material.intermediates, &l.material.anchors);
    for ca in &links {
        ca_profile(ca, Role::Intermediate, &mut out);
    }
    if let Some(anchor) = anchor {
        let cmds = Commands::of(l.material);
        out.extend(issuer_validity(
            anchor,
            l.at,
            time::Duration::ZERO,
            Some(l.material.trust_override.as_deref()),
            &cmds,
        ));
        ca_profile(anchor, Role::Anchor, &mut out);
    }
    out
}

fn expiring(l: &Lint<'_>, out: &mut Vec<Finding>) {
    let leaf = l.leaf;
    if !leaf.is_valid_at(l.at) {
        return;
    }
    let due = l.policy.renewal_due(leaf.not_before, leaf.not_after);
    if l.at >= due {
        out.push(Finding::new(
            Code::CertExpiringSoon,
            format!(
                "device certificate {} expires at {} (in {}); policy '{}' made it due for renewal at {}",
                leaf.describe(),
                format(leaf.not_after),
                span(leaf.not_after - l.at),
                l.policy.name,
                format(due)
            ),
            if Commands::of(l.material).managed() {
                "renew now: `pki renew STORE --ca DIR`".to_string()
            } else {
                format!("renew now: {}", Commands::of(l.material).new_certificate())
            },
        ));
    }
}

fn revocation(l: &Lint<'_>, out: &mut Vec<Finding>) {
    let crls = &l.material.crls;
    for crl in crls {
        if let Some(next) = crl.next_update.filter(|n| *n < l.at) {
            out.push(Finding::new(
                Code::CrlExpired,
                format!(
                    "{}: the CRL of '{}' was due for replacement at {} ({} before {})",
                    crl.origin,
                    crl.issuer,
                    format(next),
                    span(l.at - next),
                    format(l.at)
                ),
                crl_fix(l),
            ));
        }
    }
    for crl in crls {
        let issuer = l
            .material
            .anchors
            .iter()
            .chain(&l.material.intermediates)
            .find(|c| c.subject_raw == crl.issuer_raw);
        let defects = crl_defects(crl, issuer);
        if !defects.is_empty() {
            out.push(Finding::new(
                Code::PolicyViolation,
                format!(
                    "{}: the CRL of '{}': {} (RFC 5280; rustls tolerates it)",
                    crl.origin,
                    crl.issuer,
                    defects.join("; ")
                ),
                "the CA side should issue conforming CRLs (pki ca crl makes them)",
            ));
        }
    }
    // rustls checks the certificate against a CRL that covers it, else lets it through
    if !crls.is_empty() && !crls.iter().any(|c| c.authoritative_for(l.leaf)) {
        let named: Vec<String> = crls
            .iter()
            .filter(|c| c.issuer_raw == l.leaf.issuer_raw)
            .map(|c| c.origin.to_string())
            .collect();
        let why = if named.is_empty() {
            format!(
                "none from '{}', the issuer of the device certificate",
                l.leaf.issuer
            )
        } else {
            format!(
                "none covering the device certificate: those of its issuer's name ({}) are for other distribution points than its {} (another generation of that CA)",
                named.join(", "),
                l.leaf
                    .crl_distribution_points
                    .as_deref()
                    .unwrap_or_default()
                    .join(", "),
            )
        };
        out.push(Finding::new(
            Code::RevocationUnknown,
            format!(
                "{} CRL(s) given, {why}: its revocation status is unknown",
                crls.len()
            ),
            crl_fix(l),
        ));
    }
}

/// A fresh CRL of the CA's into the store (managed: `pki repair` copies the CA's current CRLs).
fn crl_fix(l: &Lint<'_>) -> String {
    crate::store::fresh_crl(Commands::of(l.material).managed(), None)
}

fn leaf_profile(l: &Lint<'_>, out: &mut Vec<Finding>) {
    let leaf = l.leaf;
    let reissue = Commands::of(l.material).new_certificate();
    let policy = |msg: String, fix: &str| Finding::new(Code::PolicyViolation, msg, fix);
    if let Some(ku) = leaf.key_usage.filter(|ku| !ku.digital_signature) {
        let _ = ku;
        out.push(Finding::new(
            Code::WrongKeyUsage,
            format!(
                "{} has keyUsage without digitalSignature: rustls accepts it, OpenSSL-based servers reject it",
                leaf.describe()
            ),
            format!("reissue with keyUsage digitalSignature: {reissue}"),
        ));
    }
    if leaf.eku.is_none() {
        out.push(policy(
            format!(
                "{} has no extendedKeyUsage extension: rustls accepts it for any purpose, the policy wants {}",
                leaf.describe(),
                match l.purpose { Purpose::Client => "clientAuth", Purpose::Server { .. } => "serverAuth" }
            ),
            &format!("reissue under the policy: {reissue}"),
        ));
    }
    if !l.policy.signature_algorithms.contains(&leaf.signature.name) && !leaf.signature.weak {
        out.push(policy(
            format!(
                "{} is signed with {}; policy '{}' accepts {}",
                leaf.describe(),
                leaf.signature.name,
                l.policy.name,
                l.policy.signature_algorithms.join(", ")
            ),
            "reissue from a CA whose key and signature algorithm the policy accepts",
        ));
    }
    let wants_san = !l.policy.san.dns.is_empty() || !l.policy.san.uri.is_empty();
    if wants_san && leaf.sans.is_empty() {
        out.push(policy(
            format!("{} has no subjectAltName", leaf.describe()),
            &format!("reissue under the policy (the device id goes into the SAN): {reissue}"),
        ));
    }
    let lifetime = leaf.not_after - leaf.not_before;
    if lifetime > l.policy.max_lifetime() {
        out.push(policy(
            format!(
                "{} is valid for {} days; policy '{}' issues for {}",
                leaf.describe(),
                lifetime.whole_days(),
                l.policy.name,
                l.policy.lifetime_days
            ),
            &format!("reissue under the policy: {reissue}"),
        ));
    }
    if let crate::read::cert::KeyAlgorithm::Rsa { bits } = leaf.key {
        if bits >= 2048 && bits < l.policy.min_rsa_bits {
            out.push(policy(
                format!(
                    "{} has an RSA key of {bits} bits; policy '{}' wants {}",
                    leaf.describe(),
                    l.policy.name,
                    l.policy.min_rsa_bits
                ),
                &format!("renew with a new key: {reissue}"),
            ));
        }
    }
    let server = matches!(l.purpose, Purpose::Server { .. });
    rfc5280(leaf, Role::Leaf { server }, reissue, out);
}

fn ca_profile(ca: &Cert, role: Role, out: &mut Vec<Finding>) {
    if let Some(ku) = ca.key_usage.filter(|ku| !ku.key_cert_sign) {
        let _ = ku;
        out.push(Finding::new(
            Code::WrongKeyUsage,
            format!(
                "CA {} has keyUsage without keyCertSign: rustls accepts its certificates, OpenSSL-based servers do not",
                ca.describe()
            ),
            format!("the CA side must reissue '{}' with keyCertSign", ca.subject),
        ).on(Side::Ca));
    }
    if ca.ski.is_none() {
        out.push(
            Finding::new(
                Code::PolicyViolation,
                format!(
                    "CA {} has no subjectKeyIdentifier (RFC 5280 4.2.1.2 requires one)",
                    ca.describe()
                ),
                format!(
                    "the CA side should reissue '{}' with a subjectKeyIdentifier",
                    ca.subject
                ),
            )
            .on(Side::Ca),
        );
    }
    rfc5280(ca, role, "", out);
}

/// One POLICY_VIOLATION per certificate listing its RFC 5280 defects.
fn rfc5280(cert: &Cert, role: Role, reissue: &str, out: &mut Vec<Finding>) {
    let defects = defects(cert, role);
    if !defects.is_empty() {
        let leaf = matches!(role, Role::Leaf { .. });
        out.push(
            Finding::new(
                Code::PolicyViolation,
                format!(
                    "{}: {} (RFC 5280; rustls tolerates it)",
                    cert.describe(),
                    defects.join("; ")
                ),
                if leaf {
                    format!("reissue from a conforming CA (pki ca sign makes RFC 5280 certificates): {reissue}")
                } else {
                    format!("the CA side should reissue '{}' conforming to RFC 5280", cert.subject)
                },
            )
            .on(if leaf { Side::Device } else { Side::Ca }),
        );
    }
}
