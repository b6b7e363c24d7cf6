//! From the kind of failure rustls reported ([`Cause`]) to findings that name the certificate,
//! the file and the fix: "unknown issuer" becomes a missing intermediate, an untrusted root or
//! a replaced CA; an expiry is placed on the leaf or on an issuer.

use crate::finding::{Code, Finding};
use crate::judge::cause::Cause;
use crate::judge::chain::{walk, End, Walk};
use crate::judge::validity::{issuer_validity, leaf_validity};
use crate::judge::verify::Purpose;
use crate::read::cert::{hex, Cert};
use crate::store::Material;
use crate::timestamp::format;
use time::{Duration, OffsetDateTime};

pub struct Context<'a> {
    pub leaf: &'a Cert,
    pub material: &'a Material,
    pub at: OffsetDateTime,
    pub skew: Duration,
    pub purpose: &'a Purpose,
    /// rustls' own words, kept for causes with nothing more specific to say.
    pub detail: String,
}

/// The findings that explain `cause`; the first is the root cause.
pub fn explain(cause: &Cause, ctx: &Context<'_>) -> Vec<Finding> {
    let leaf = ctx.leaf;
    match cause {
        Cause::Expired | Cause::NotYetValid => {
            let found = leaf_validity(leaf, ctx.at, ctx.skew);
            if !found.is_empty() {
                return found;
            }
            let w = ctx.walk();
            let expired = w.links.iter().find_map(|ca| issuer_validity(ca, ctx.at, false));
            vec![expired.unwrap_or_else(|| {
                Finding::new(
                    Code::IssuerExpired,
                    format!(
                        "an issuer of {} is outside its validity at {} ({})",
                        leaf.describe(),
                        format(ctx.at),
                        ctx.detail
                    ),
                    "install the CA's current intermediate: pki repair STORE --ca DIR",
                )
            })]
        }
        Cause::UnknownIssuer | Cause::BadSignature => explain_path(ctx, &ctx.walk()),
        Cause::UnsupportedAlgorithm(detail) => vec![weak_on_path(ctx, detail)],
        Cause::WrongEku(detail) => vec![wrong_eku(ctx, detail)],
        Cause::Revoked => vec![revoked(ctx)],
        Cause::NameMismatch(detail) => {
            let name = match ctx.purpose {
                Purpose::Server { name } => name.as_str(),
                Purpose::Client => "",
            };
            vec![Finding::new(
                Code::NameMismatch,
                format!(
                    "{} is not valid for '{name}' ({detail}); its names: {}",
                    leaf.describe(),
                    if leaf.sans.is_empty() { "none in subjectAltName".to_string() } else { leaf.sans.join(", ") }
                ),
                format!("reissue the server certificate with subjectAltName DNS:{name} (or IP:{name}), or dial a name it holds"),
            )]
        }
        Cause::NameConstraint => {
            let ca = ctx.walk().links.into_iter().find(|c| c.has_name_constraints);
            vec![Finding::new(
                Code::NameConstraintViolation,
                format!(
                    "{} names {} which the name constraints of {} exclude",
                    leaf.describe(),
                    leaf.sans.join(", "),
                    ca.map(|c| c.describe()).unwrap_or_else(|| "a CA on the path (or the trust anchor)".into())
                ),
                "reissue the certificate with names inside the CA's permitted subtrees",
            )]
        }
        Cause::PathLen(detail) => vec![Finding::new(
            Code::PathLenExceeded,
            format!("the chain of {} is too long: {detail}", leaf.describe()),
            "issue device certificates directly from the issuing CA (pki ca sign), not from a sub-CA below it",
        )],
        Cause::NotACa => {
            let w = ctx.walk();
            let bad = w.links.iter().find(|c| !c.is_ca());
            vec![Finding::new(
                Code::NotACa,
                format!(
                    "{} is used as the issuer of the chain but is not a CA (basicConstraints cA is not set)",
                    bad.map(|c| c.describe()).unwrap_or_else(|| "a certificate in the chain".into())
                ),
                "remove the end-entity certificate from chain.pem and install the real issuing CA: pki repair STORE --ca DIR",
            )]
        }
        Cause::CaAsLeaf => vec![Finding::new(
            Code::CertMalformed,
            format!("{} is a CA certificate (cA=TRUE) and cannot be used as a device certificate", leaf.describe()),
            "enroll the device for a real end-entity certificate: pki enroll STORE --ca DIR --device-id ID",
        )],
        Cause::Malformed(detail) => vec![Finding::new(
            Code::CertMalformed,
            format!("the chain of {} is invalid for rustls: {detail}", leaf.describe()),
            "reissue the certificate from a standards-conforming CA (pki renew STORE --ca DIR --force)",
        )],
        Cause::Crl { detail, bad_signature } => vec![Finding::new(
            if *bad_signature { Code::BadSignature } else { Code::FileCorrupt },
            format!("a CRL cannot be used by rustls: {detail}"),
            "fetch a fresh CRL from the CA: pki ca crl --ca DIR",
        )],
        Cause::Other(detail) => vec![Finding::new(
            Code::CertMalformed,
            format!("rustls rejects {}: {detail}", leaf.describe()),
            "run pki inspect on the files to see what is wrong, then reissue",
        )],
    }
}

impl Context<'_> {
    fn walk(&self) -> Walk<'_> {
        walk(
            self.leaf,
            &self.material.intermediates,
            &self.material.anchors,
        )
    }
}

fn explain_path(ctx: &Context<'_>, w: &Walk<'_>) -> Vec<Finding> {
    let m = ctx.material;
    let anchors_file = m
        .anchors_from
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the trust anchors".into());
    if let Some(weak) = std::iter::once(ctx.leaf)
        .chain(w.links.iter().copied())
        .find(|c| c.signature.weak)
    {
        return vec![weak_signature(weak)];
    }
    let finding = match &w.end {
        End::Missing { child } if m.anchors.is_empty() => no_anchors(child),
        End::Missing { child } if child.sha256 == ctx.leaf.sha256 => Finding::new(
            Code::ChainIncomplete,
            format!(
                "the issuer of {}, '{}'{}, is in none of the certificates at hand (chain, trust anchors)",
                child.describe(),
                child.issuer,
                key_id(&child.aki)
            ),
            "rebuild chain.pem from the CA's bundle: pki repair STORE --ca DIR (or append the issuing CA certificate to chain.pem)",
        ),
        End::Missing { child } => Finding::new(
            Code::UnknownIssuer,
            format!(
                "the chain ends at {}, issued by '{}'{}, and no trust anchor in {anchors_file} bears that name",
                child.describe(),
                child.issuer,
                key_id(&child.aki)
            ),
            "give the endpoint the CA's current trust bundle: pki repair STORE --trust BUNDLE",
        ),
        End::UntrustedRoot(root) => Finding::new(
            Code::UnknownIssuer,
            format!(
                "the chain ends at self-signed {}, which is not among the trust anchors ({anchors_file})",
                root.describe()
            ),
            "if this root is the fleet's CA, add it to the trust anchors (pki repair STORE --trust BUNDLE); otherwise the certificate is from a foreign CA: re-enroll",
        ),
        End::Replaced { child, candidate } => Finding::new(
            Code::CaRotated,
            format!(
                "{} was issued by '{}' with key id {}, but the CA of that name at hand ({}, key id {}, valid from {}) has another key: the CA was re-keyed or replaced and the certificate is from the old one",
                child.describe(),
                child.issuer,
                child.aki.as_deref().map(hex).unwrap_or_else(|| "(none)".into()),
                candidate.origin,
                candidate.ski.as_deref().map(hex).unwrap_or_else(|| "(none)".into()),
                format(candidate.not_before)
            ),
            "reissue from the current CA: pki renew STORE --ca DIR --force (during the overlap, trusting the old CA too keeps it working)",
        ),
        End::BadSignature { child, issuer } => Finding::new(
            Code::BadSignature,
            format!(
                "the signature on {} does not verify under the key of its issuer {} although the key identifiers agree: the certificate was corrupted or tampered with",
                child.describe(),
                issuer.describe()
            ),
            "restore the file from backup/ or reissue: pki repair STORE --ca DIR",
        ),
        End::WeakIssuerKey { child, issuer } => Finding::new(
            Code::WeakAlgorithm,
            format!(
                "{} is signed by {} whose key is {}",
                child.describe(),
                issuer.describe(),
                issuer.key.weakness().unwrap_or_default()
            ),
            "the CA must be replaced with a key rustls accepts (pki ca rotate), then reissue",
        ),
        End::Anchored(_) | End::TooLong => Finding::new(
            Code::UnknownIssuer,
            format!(
                "rustls finds no valid path from {} to a trust anchor ({})",
                ctx.leaf.describe(),
                ctx.detail
            ),
            "run pki inspect on chain.pem and trust.pem; pki repair STORE --ca DIR rebuilds them",
        ),
    };
    vec![finding]
}

fn no_anchors(child: &Cert) -> Finding {
    Finding::new(
        Code::UnknownIssuer,
        format!(
            "no trust anchors at hand, so nothing can vouch for '{}', the issuer of {}",
            child.issuer,
            child.describe()
        ),
        "give the server's trust anchors with --trust FILE, or restore trust.pem: pki repair STORE --trust BUNDLE",
    )
}

fn weak_signature(cert: &Cert) -> Finding {
    Finding::new(
        Code::WeakAlgorithm,
        format!(
            "{} is signed with {}, which rustls does not accept",
            cert.describe(),
            cert.signature.name
        ),
        "reissue with SHA-256 or better: pki renew STORE --ca DIR --force",
    )
}

fn weak_on_path(ctx: &Context<'_>, detail: &str) -> Finding {
    let w = ctx.walk();
    let path = std::iter::once(ctx.leaf).chain(w.links.iter().copied());
    if let Some(weak) = path.clone().find(|c| c.signature.weak) {
        return weak_signature(weak);
    }
    if let End::WeakIssuerKey { .. } = w.end {
        if let Some(f) = explain_path(ctx, &w).into_iter().next() {
            return f;
        }
    }
    Finding::new(
        Code::WeakAlgorithm,
        format!(
            "the chain of {} uses an algorithm rustls does not accept: {detail}",
            ctx.leaf.describe()
        ),
        "reissue with ECDSA P-256/P-384, Ed25519 or RSA ≥ 2048 and SHA-256 or better",
    )
}

fn wrong_eku(ctx: &Context<'_>, detail: &str) -> Finding {
    let leaf = ctx.leaf;
    let wanted = match ctx.purpose {
        Purpose::Client => "clientAuth",
        Purpose::Server { .. } => "serverAuth",
    };
    let has = leaf
        .eku
        .as_ref()
        .map(|e| {
            if e.names.is_empty() {
                "nothing".to_string()
            } else {
                e.names.join(", ")
            }
        })
        .unwrap_or_else(|| "no extendedKeyUsage".into());
    Finding::new(
        Code::WrongEku,
        format!(
            "{} has extendedKeyUsage {has} without {wanted}{}",
            leaf.describe(),
            if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            }
        ),
        format!("reissue with extendedKeyUsage {wanted}: pki renew STORE --ca DIR --force"),
    )
}

fn revoked(ctx: &Context<'_>) -> Finding {
    let leaf = ctx.leaf;
    let entry = ctx
        .material
        .crls
        .iter()
        .filter(|c| c.issuer_raw == leaf.issuer_raw)
        .find_map(|crl| crl.lists(&leaf.serial).map(|r| (crl, r)));
    let message = match entry {
        Some((crl, r)) => format!(
            "{} is revoked: {} lists serial {} as revoked on {}{}",
            leaf.describe(),
            crl.origin,
            leaf.serial,
            format(r.date),
            r.reason
                .as_ref()
                .map(|r| format!(" (reason: {r})"))
                .unwrap_or_default()
        ),
        None => format!("{} is revoked by a CRL at hand", leaf.describe()),
    };
    Finding::new(
        Code::Revoked,
        message,
        "a revoked certificate cannot come back: reissue with a new key (pki repair STORE --ca DIR)",
    )
}

fn key_id(id: &Option<Vec<u8>>) -> String {
    id.as_deref()
        .map(|id| format!(" (key id {})", hex(id)))
        .unwrap_or_default()
}
