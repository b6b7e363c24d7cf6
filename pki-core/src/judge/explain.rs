//! From the kind of failure rustls reported ([`Cause`]) to findings that name the certificate,
//! the file, the side that must change and the fix: "unknown issuer" becomes a missing
//! intermediate, an untrusted root or a re-keyed CA (and which side of it is stale); an expiry
//! is placed on the leaf or on an issuer; a name constraint names the name and the CA.

use crate::finding::{Code, Finding, Side};
use crate::judge::cause::Cause;
use crate::judge::chain::{walk, End, Walk};
use crate::judge::fix::Commands;
use crate::judge::names::{violation, Why};
use crate::judge::validity::{issuer_validity, leaf_validity};
use crate::judge::verify::Purpose;
use crate::read::cert::{hex, Cert};
use crate::store::{Layout, Material};
use crate::timestamp::format;
use time::{Duration, OffsetDateTime};

pub struct Context<'a> {
    pub leaf: &'a Cert,
    pub material: &'a Material,
    pub at: OffsetDateTime,
    pub skew: Duration,
    pub purpose: &'a Purpose,
    /// The device id the certificate should carry, when known (the store's manifest).
    pub device_id: Option<&'a str>,
    /// The names the policy gives that device, as `Cert::sans` spells them.
    pub policy_sans: Vec<String>,
    /// rustls' own words, kept for causes with nothing more specific to say.
    pub detail: String,
}

/// The findings that explain `cause`; the first is the root cause.
pub fn explain(cause: &Cause, ctx: &Context<'_>) -> Vec<Finding> {
    let leaf = ctx.leaf;
    let cmds = Commands::of(ctx.material);
    match cause {
        Cause::Expired | Cause::NotYetValid => {
            let found = leaf_validity(leaf, ctx.at, ctx.skew, &cmds);
            if !found.is_empty() {
                return found;
            }
            let w = ctx.walk();
            let outside = w
                .links
                .iter()
                .map(|ca| issuer_validity(ca, ctx.at, ctx.skew, None, &cmds))
                .find(|f| !f.is_empty());
            outside.unwrap_or_else(|| {
                vec![Finding::new(
                    Code::IssuerExpired,
                    format!(
                        "an issuer of {} is outside its validity at {} ({})",
                        leaf.describe(),
                        format(ctx.at),
                        ctx.detail
                    ),
                    cmds.repair_with_ca(format!(
                        "put the CA's current intermediates (DIR/chain.pem) in {}",
                        cmds.chain_file()
                    )),
                )
                .on(Side::Chain)]
            })
        }
        Cause::UnknownIssuer | Cause::BadSignature => explain_path(ctx, &ctx.walk()),
        Cause::PathBuilding(detail) => vec![path_building(ctx, detail)],
        Cause::UnsupportedAlgorithm(detail) => vec![weak_on_path(ctx, detail)],
        Cause::WrongEku(detail) => vec![wrong_eku(ctx, detail)],
        Cause::Revoked => vec![revoked(ctx)],
        Cause::NameMismatch(detail) => {
            let name = match ctx.purpose {
                Purpose::Server { name } => name.as_deref().unwrap_or(""),
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
        Cause::NameConstraint => vec![name_constraint(ctx)],
        Cause::PathLen(detail) => vec![path_len(ctx, detail)],
        Cause::NotACa => {
            let w = ctx.walk();
            let bad = w.links.iter().find(|c| !c.is_ca());
            vec![Finding::new(
                Code::NotACa,
                format!(
                    "{} is used as the issuer of {} but is not a CA (basicConstraints cA is not set): the device certificate was issued by an end-entity certificate",
                    bad.map(|c| c.describe()).unwrap_or_else(|| "a certificate in the chain".into()),
                    leaf.describe()
                ),
                format!("a certificate from the real issuing CA: {}", cmds.repair_with_ca(cmds.new_certificate())),
            )]
        }
        Cause::CaAsLeaf => vec![Finding::new(
            Code::CertMalformed,
            format!(
                "{} is a CA certificate (cA=TRUE) and cannot be used as a device certificate",
                leaf.describe()
            ),
            format!(
                "put the device's own certificate in its place: {}",
                cmds.repair_with_ca(cmds.new_certificate())
            ),
        )],
        Cause::Malformed(detail) => vec![Finding::new(
            Code::CertMalformed,
            format!(
                "the chain of {} is invalid for rustls: {detail}",
                leaf.describe()
            ),
            format!(
                "reissue the certificate from a standards-conforming CA: {}",
                cmds.new_certificate()
            ),
        )],
        Cause::Crl {
            detail,
            bad_signature,
        } => vec![(*bad_signature)
            .then(|| other_keys_crl(ctx))
            .flatten()
            .unwrap_or_else(|| {
                Finding::new(
                    if *bad_signature {
                        Code::BadSignature
                    } else {
                        Code::FileCorrupt
                    },
                    format!("a CRL cannot be used by rustls: {detail}"),
                    crate::store::fresh_crl(cmds.managed(), None),
                )
                .on(Side::Store)
            })],
        Cause::Other(detail) => vec![Finding::new(
            Code::CertMalformed,
            format!("rustls rejects {}: {detail}", leaf.describe()),
            "run pki inspect on the files to see what is wrong, then reissue",
        )],
    }
}

/// PATH_BUILDING_LIMIT: how many CA certificates at hand bear the issuer's name, and whether
/// a path exists among them (walked by hand, one signature check per candidate).
fn path_building(ctx: &Context<'_>, detail: &str) -> Finding {
    let leaf = ctx.leaf;
    let m = ctx.material;
    let named = m
        .intermediates
        .iter()
        .chain(&m.anchors)
        .filter(|c| c.subject_raw == leaf.issuer_raw)
        .count();
    let w = ctx.walk();
    let why = if named > 1 {
        format!(
            "{named} of the {} CA certificates at hand bear its issuer's name '{}'",
            m.intermediates.len() + m.anchors.len(),
            leaf.issuer
        )
    } else {
        "the CA certificates at hand form a loop".to_string()
    };
    let path = match &w.end {
        End::Anchored(anchor) => format!(
            "; a path exists ({}), and a chain holding only it is accepted",
            w.links
                .iter()
                .map(|c| format!("'{}'", c.subject))
                .chain(std::iter::once(format!("anchor '{}'", anchor.subject)))
                .collect::<Vec<_>>()
                .join(" → ")
        ),
        _ => String::new(),
    };
    Finding::new(
        Code::PathBuildingLimit,
        format!(
            "rustls gives up building a path for {} ({detail}): {why}{path}",
            leaf.describe(),
        ),
        "rebuild chain.pem from the CA's bundle: pki repair STORE --ca DIR (or keep only the issuing CA certificate in chain.pem)",
    )
}

impl Context<'_> {
    fn walk(&self) -> Walk<'_> {
        walk(
            self.leaf,
            &self.material.intermediates,
            &self.material.anchors,
        )
    }

    /// Where the anchors came from, for messages.
    fn anchors_file(&self) -> String {
        self.material
            .anchors_from
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the trust anchors".into())
    }

    /// Whether the anchors stand for a server's (a `--trust` file) rather than the store's own.
    fn server_anchors(&self) -> bool {
        self.material.trust_override.is_some() || self.material.layout == Some(Layout::Loose)
    }
}

fn explain_path(ctx: &Context<'_>, w: &Walk<'_>) -> Vec<Finding> {
    let m = ctx.material;
    let cmds = Commands::of(m);
    let anchors_file = ctx.anchors_file();
    if let Some(weak) = std::iter::once(ctx.leaf)
        .chain(w.links.iter().copied())
        .find(|c| c.signature.weak)
    {
        return vec![weak_signature(weak, &cmds)];
    }
    let finding = match &w.end {
        End::Missing { child } if m.anchors.is_empty() => no_anchors(child, &cmds),
        End::Missing { child } if child.sha256 == ctx.leaf.sha256 => Finding::new(
            Code::ChainIncomplete,
            format!(
                "the issuer of {}, '{}'{}, is in none of the certificates at hand (chain, trust anchors)",
                child.describe(),
                child.issuer,
                key_id(&child.aki)
            ),
            format!(
                "rebuild chain.pem from the CA's bundle: {}",
                cmds.repair_with_ca(format!("add the certificate of '{}' to {} (the CA's chain bundle DIR/chain.pem holds it)", child.issuer, cmds.chain_file()))
            ),
        ),
        End::Missing { child } => Finding::new(
            Code::UnknownIssuer,
            format!(
                "the chain ends at {}, issued by '{}'{}, and no trust anchor in {anchors_file} bears that name",
                child.describe(),
                child.issuer,
                key_id(&child.aki)
            ),
            untrusted_fix(ctx, &child.issuer),
        )
        .on(untrusted_side(ctx)),
        End::UntrustedRoot(root) => Finding::new(
            Code::UnknownIssuer,
            format!(
                "the chain ends at self-signed {}, which is not among the trust anchors ({anchors_file})",
                root.describe()
            ),
            untrusted_fix(ctx, &root.subject),
        )
        .on(untrusted_side(ctx)),
        End::Replaced { child, candidate } => replaced(ctx, child, candidate),
        End::BadSignature { child, issuer } => Finding::new(
            Code::BadSignature,
            format!(
                "the signature on {} does not verify under the key of {}, the trust anchor or CA of its issuer's name{}: the certificate was corrupted or tampered with",
                child.describe(),
                issuer.describe(),
                if issuer.spki == child.spki || (issuer.ski.is_some() && issuer.ski == child.aki) {
                    " whose key it names"
                } else {
                    ""
                }
            ),
            if child.sha256 == ctx.leaf.sha256 {
                format!("restore the certificate from backup/ or the CA's copy, else reissue: {}", cmds.repair_with_ca(cmds.new_certificate()))
            } else {
                format!("replace {} with an intact copy: {}", child.origin, cmds.repair_with_ca("the CA's bundles hold them (DIR/chain.pem, DIR/trust.pem)"))
            },
        )
        .on(if child.sha256 == ctx.leaf.sha256 { Side::Device } else { Side::Chain }),
        End::WeakIssuerKey { child, issuer } => Finding::new(
            Code::WeakAlgorithm,
            format!(
                "{} is signed by {} whose key is {}",
                child.describe(),
                issuer.describe(),
                issuer.key.weakness().unwrap_or_default()
            ),
            format!("the CA side must replace '{}' with a key rustls accepts (pki ca rotate makes one), then reissue the certificates below it", issuer.subject),
        )
        .on(Side::Ca),
        End::Anchored(_) | End::TooLong => Finding::new(
            Code::UnknownIssuer,
            format!(
                "rustls finds no valid path from {} to a trust anchor ({})",
                ctx.leaf.describe(),
                ctx.detail
            ),
            format!("run pki inspect on the chain and the trust anchors; {}", cmds.repair_with_ca("the CA's bundles (DIR/chain.pem, DIR/trust.pem) hold the path")),
        ),
    };
    vec![finding]
}

/// The fix for a chain that ends at a CA no anchor vouches for: the server's trust when it was
/// given with `--trust`, else the endpoint's.
fn untrusted_fix(ctx: &Context<'_>, ca: &str) -> String {
    let cmds = Commands::of(ctx.material);
    if ctx.material.trust_override.is_some() && cmds.managed() {
        format!(
            "if '{ca}' is not the fleet's CA any more, the device needs a certificate from the one the server trusts: `pki repair STORE --ca DIR --trust TRUST` (a chain through the CA's cross-certificates where one exists, else a new certificate); if it still is, add its root to TRUST on the server"
        )
    } else if cmds.managed() {
        format!("give the endpoint the CA's current trust bundle: `pki repair STORE --ca DIR` (if '{ca}' is not the fleet's CA, the certificate is from a foreign CA and repair issues a new one)")
    } else {
        format!(
            "if '{ca}' is the fleet's CA, add its root to {} (the CA's trust bundle: DIR/trust.pem); otherwise the certificate is from a foreign CA: {}",
            ctx.anchors_file(),
            cmds.new_certificate()
        )
    }
}

fn untrusted_side(ctx: &Context<'_>) -> Side {
    if ctx.server_anchors() {
        Side::Device
    } else {
        Side::Trust
    }
}

/// CA_ROTATED: a CA of the right name is at hand, but `child` was signed by another key. Which
/// side is stale follows from which key is the newer: the CA certificate bearing the key
/// `child` names, when it is at hand anywhere (the store's own files included), else `child`
/// itself (a certificate made after the CA at hand, yet not by it, is from a newer CA).
fn replaced(ctx: &Context<'_>, child: &Cert, candidate: &Cert) -> Finding {
    let m = ctx.material;
    let cmds = Commands::of(m);
    let name = &candidate.subject;
    let signer = if child.is_self_issued() {
        Some(child)
    } else {
        m.intermediates
            .iter()
            .chain(&m.anchors)
            .chain(&m.elsewhere)
            .find(|c| c.subject_raw == child.issuer_raw && child.is_signed_by(c))
    };
    let device_newer = match signer {
        Some(s) => s.not_before > candidate.not_before,
        None => child.not_before >= candidate.not_before,
    };
    let in_anchors = m.anchors.iter().any(|a| a.sha256 == candidate.sha256);
    let child_key = if child.is_self_issued() {
        child.ski.as_deref().or(child.aki.as_deref())
    } else {
        child.aki.as_deref()
    }
    .map(hex)
    .unwrap_or_else(|| "(none)".into());
    let other = format!(
        "'{}' (key id {}, valid from {}; serial {}, {})",
        candidate.subject,
        candidate
            .ski
            .as_deref()
            .map(hex)
            .unwrap_or_else(|| "(none)".into()),
        format(candidate.not_before),
        candidate.serial,
        candidate.origin
    );
    let found = signer
        .filter(|s| s.sha256 != child.sha256)
        .map(|s| format!(", found in {}", s.origin))
        .unwrap_or_default();
    let what = if child.is_self_issued() {
        format!(
            "the chain leads to the root {} (key id {child_key})",
            child.describe()
        )
    } else {
        format!(
            "{} was signed by '{}' with key id {child_key}{found}",
            child.describe(),
            child.issuer
        )
    };
    if !device_newer {
        return Finding::new(
            Code::CaRotated,
            format!(
                "{what}, but the CA of that name at hand is the newer {other}: the CA was re-keyed and the device's {} is from the old one",
                if child.sha256 == ctx.leaf.sha256 { "certificate" } else { "chain" }
            ),
            format!(
                "{} (during the overlap, trusting the old CA too keeps it working)",
                if cmds.managed() {
                    "a chain to the current CA through its cross-certificates where one exists, else a new certificate from it: `pki repair STORE --ca DIR`".to_string()
                } else {
                    format!("a new certificate from the current CA: {}", cmds.new_certificate())
                }
            ),
        )
        .on(Side::Device);
    }
    if !in_anchors {
        return Finding::new(
            Code::CaRotated,
            format!(
                "{what}, the newer CA of that name; the chain holds the older {other}: the chain is stale, not the certificate"
            ),
            format!(
                "rebuild the chain from the CA's current bundle: {}",
                cmds.repair_with_ca(format!(
                    "replace {} with the CA's current '{name}' (DIR/chain.pem)",
                    candidate.origin
                ))
            ),
        )
        .on(Side::Chain);
    }
    let source = match signer.filter(|s| s.sha256 != child.sha256) {
        Some(s) => format!("{} holds it", s.origin),
        None => "the CA's trust bundle DIR/trust.pem holds it".to_string(),
    };
    if ctx.server_anchors() {
        let trust = m
            .trust_override
            .as_ref()
            .or(m.anchors_from.as_ref())
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the server's trust anchors".into());
        return Finding::new(
            Code::CaRotated,
            format!(
                "{what}, the newer CA of that name; the server's trust anchors ({trust}) hold only the older {other}: the server's trust is stale, not the device (a renewed certificate would be rejected again)"
            ),
            format!(
                "on the server: add the current '{name}' certificate (key id {child_key}; {source}) to {trust}, keeping the older one beside it while certificates it issued are in use"
            ),
        )
        .on(Side::Server);
    }
    Finding::new(
        Code::CaRotated,
        format!(
            "{what}, the newer CA of that name; the trust anchors ({}) hold only the older {other}: the endpoint's trust anchors are stale, not the certificate",
            ctx.anchors_file()
        ),
        format!(
            "refresh the trust anchors from the CA: {}",
            cmds.repair_with_ca(format!(
                "add the current '{name}' ({source}) to {}",
                ctx.anchors_file()
            ))
        ),
    )
    .on(Side::Trust)
}

fn no_anchors(child: &Cert, cmds: &Commands) -> Finding {
    Finding::new(
        Code::UnknownIssuer,
        format!(
            "no trust anchors at hand, so nothing can vouch for '{}', the issuer of {}",
            child.issuer,
            child.describe()
        ),
        if cmds.managed() {
            "restore trust.pem from the CA's bundle: `pki repair STORE --ca DIR` (or judge against the server's anchors: pki diagnose STORE --trust FILE)".to_string()
        } else {
            "give the server's trust anchors with --trust FILE (the CA's trust bundle: DIR/trust.pem)".to_string()
        },
    )
    .on(Side::Trust)
}

fn weak_signature(cert: &Cert, cmds: &Commands) -> Finding {
    let leaf = !cert.is_ca();
    Finding::new(
        Code::WeakAlgorithm,
        format!(
            "{} is signed with {}, which rustls does not accept",
            cert.describe(),
            cert.signature.name
        ),
        if leaf {
            format!("reissue with SHA-256 or better: {}", cmds.new_certificate())
        } else {
            format!(
                "the CA side must reissue '{}' with SHA-256 or better",
                cert.subject
            )
        },
    )
    .on(if leaf { Side::Device } else { Side::Ca })
}

fn weak_on_path(ctx: &Context<'_>, detail: &str) -> Finding {
    let cmds = Commands::of(ctx.material);
    let w = ctx.walk();
    let path = std::iter::once(ctx.leaf).chain(w.links.iter().copied());
    if let Some(weak) = path.clone().find(|c| c.signature.weak) {
        return weak_signature(weak, &cmds);
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
        format!(
            "reissue with ECDSA P-256/P-384, Ed25519 or RSA ≥ 2048 and SHA-256 or better: {}",
            cmds.new_certificate()
        ),
    )
}

fn wrong_eku(ctx: &Context<'_>, detail: &str) -> Finding {
    let leaf = ctx.leaf;
    let cmds = Commands::of(ctx.material);
    let wanted = match ctx.purpose {
        Purpose::Client => "clientAuth (1.3.6.1.5.5.7.3.2)",
        Purpose::Server { .. } => "serverAuth (1.3.6.1.5.5.7.3.1)",
    };
    let has = match &leaf.eku {
        Some(e) if e.names.is_empty() => "an empty extendedKeyUsage".to_string(),
        Some(e) => format!("extendedKeyUsage {}", e.names.join(", ")),
        None => "no extendedKeyUsage".into(),
    };
    let any_only = leaf
        .eku
        .as_ref()
        .is_some_and(|e| e.any && !e.client_auth && !e.server_auth);
    Finding::new(
        Code::WrongEku,
        format!(
            "{} has {has} without {wanted}{}{}",
            leaf.describe(),
            if any_only {
                ": rustls does not take anyExtendedKeyUsage (2.5.29.37.0) for a specific purpose"
            } else {
                ""
            },
            if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            }
        ),
        match ctx.purpose {
            Purpose::Client => format!(
                "reissue with extendedKeyUsage clientAuth: {}",
                cmds.new_certificate()
            ),
            // pki's device policy issues clientAuth only: a renewal would bring the same
            Purpose::Server { .. } => "reissue with extendedKeyUsage serverAuth, from a CA whose policy's extended_key_usage includes serverAuth (the device policy gives clientAuth only, so pki renew or enroll under it would not help); if this is a device's certificate judged as a server's by mistake, judge it with --purpose client".to_string(),
        },
    )
}

fn revoked(ctx: &Context<'_>) -> Finding {
    let leaf = ctx.leaf;
    let cmds = Commands::of(ctx.material);
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
        format!(
            "a revoked certificate cannot come back: a new key and certificate, {}",
            cmds.repair_with_ca(cmds.new_certificate())
        ),
    )
}

/// BAD_SIGNATURE on a CRL that bears the name of the device certificate's issuer but was
/// signed by another key of that name (after an issuing CA rotation both generations' CRLs
/// carry one name): webpki checks the certificate against the first CRL that covers it and
/// fails on that CRL's signature. The CA's CRLs cover only their own generation's
/// certificates (an IssuingDistributionPoint each); this is a CRL from before (none), or a
/// certificate from before (no distribution point: every CRL of its issuer's name covers
/// it). `None` when that is not what happened.
fn other_keys_crl(ctx: &Context<'_>) -> Option<Finding> {
    let (leaf, m) = (ctx.leaf, ctx.material);
    let w = ctx.walk();
    let issuer = match (w.links.first(), &w.end) {
        (Some(first), _) => *first,
        (None, End::Anchored(anchor)) => *anchor,
        _ => return None,
    };
    let crl = m.crls.iter().find(|c| c.authoritative_for(leaf))?;
    if crl.is_signed_by(issuer) {
        return None;
    }
    let signer = m
        .intermediates
        .iter()
        .chain(&m.anchors)
        .chain(&m.elsewhere)
        .find(|c| c.subject_raw == crl.issuer_raw && crl.is_signed_by(c))
        .map(|c| {
            format!(
                "; it is the CRL of {}, key id {}",
                c.describe(),
                c.ski.as_deref().map(hex).unwrap_or_else(|| "(none)".into())
            )
        })
        .unwrap_or_default();
    let unpartitioned = match (&crl.idp, &leaf.crl_distribution_points) {
        (None, _) => "it has no IssuingDistributionPoint, so it covers every certificate of its issuer's name",
        (Some(_), None) => "the device certificate names no CRL distribution point (issued before the CA partitioned its CRLs), so every CRL of its issuer's name covers it",
        (Some(_), Some(_)) => "it names the device certificate's distribution point too (two generations of the CA share one crl_url)",
    };
    let message = format!(
        "{} is a CRL of '{}' signed by another key than the one that issued {} (key id {}){signer}; {unpartitioned}. rustls checks the device certificate against the first CRL that covers it and rejects it when that CRL's signature fails under the issuer's key",
        crl.origin,
        crl.issuer,
        leaf.describe(),
        issuer.ski.as_deref().map(hex).unwrap_or_else(|| "(none)".into())
    );
    let in_store = m
        .store
        .as_deref()
        .is_some_and(|s| crl.origin.path.starts_with(s));
    let cmds = Commands::of(m);
    if in_store && cmds.managed() {
        return Some(
            Finding::new(
                Code::BadSignature,
                message,
                "`pki repair STORE --ca DIR` moves it to backup/ and brings the issuer's own CRL",
            )
            .on(Side::Store),
        );
    }
    Some(
        Finding::new(
            Code::BadSignature,
            message,
            match (&crl.idp, &leaf.crl_distribution_points) {
                (None, _) => format!(
                    "the server that loads {} must load the CA's current CRLs in its place (DIR/crl/ as pki ca crl writes it: one per issuing key, each covering its own key's certificates only)",
                    crl.origin.path.display(),
                ),
                (Some(_), None) => format!(
                    "the server that loads {} must load the CRL of the key that issued the device certificate before it (DIR/crl/, oldest generation first: a certificate without a CRL distribution point is checked against the first CRL of its issuer's name), or drop it; renewing the device gives it a certificate that names its CRL",
                    crl.origin.path.display(),
                ),
                (Some(_), Some(_)) => format!(
                    "the server that loads {} must load the CRL of the key that issued the device certificate before it, or drop it; and the CA must give each issuing generation its own crl_url (DIR/ca.yaml)",
                    crl.origin.path.display(),
                ),
            },
        )
        .on(Side::Server),
    )
}

/// NAME_CONSTRAINT_VIOLATION naming the name and the CA whose constraint rejects it; on the CA
/// when no certificate for the device can pass (a subtree webpki does not evaluate, or one
/// that rejects a name the policy gives every device).
fn name_constraint(ctx: &Context<'_>) -> Finding {
    let leaf = ctx.leaf;
    let cmds = Commands::of(ctx.material);
    let w = ctx.walk();
    let mut path: Vec<&Cert> = std::iter::once(leaf)
        .chain(w.links.iter().copied())
        .collect();
    if let End::Anchored(anchor) = w.end {
        path.push(anchor);
    }
    let Some(v) = violation(&path) else {
        let ca = path.iter().skip(1).find(|c| c.name_constraints.is_some());
        return Finding::new(
            Code::NameConstraintViolation,
            format!(
                "{} names {} which the name constraints of {} reject",
                leaf.describe(),
                leaf.sans.join(", "),
                ca.map(|c| c.describe())
                    .unwrap_or_else(|| "a CA on the path (or the trust anchor)".into())
            ),
            format!(
                "reissue the certificate with names inside the CA's permitted subtrees: {}",
                cmds.new_certificate()
            ),
        );
    };
    let ca = format!("'{}' ({})", v.ca.subject, v.ca.origin);
    let holder = if v.holder.sha256 == leaf.sha256 {
        format!("the device certificate {}", leaf.describe())
    } else {
        format!("the CA certificate {}", v.holder.describe())
    };
    let reissue_ca = |what: &str| {
        format!(
            "the CA side must reissue '{}' {what} and the new certificate replace the old one in {}; nothing on the device can help",
            v.ca.subject, v.ca.origin.path.display()
        )
    };
    match v.why {
        Why::Unevaluated => {
            let every = if v.name.starts_with("subject ") {
                "every certificate below it (each has a subject)".to_string()
            } else {
                let kind = v.name.split(':').next().unwrap_or("");
                format!(
                    "every certificate below it that carries a {kind} name ({holder} carries {}{})",
                    v.name,
                    if kind == "URI" {
                        "; the device policy gives every device one"
                    } else {
                        ""
                    }
                )
            };
            Finding::new(
                Code::NameConstraintViolation,
                format!(
                    "{ca} constrains {}, a kind of name webpki does not evaluate: rustls rejects {every}, whatever the names say",
                    v.subtree
                ),
                reissue_ca(&format!("without the {} subtree", v.subtree)),
            )
            .on(Side::Ca)
        }
        why => {
            let relation = match why {
                Why::Excluded => format!("falls in the excluded subtree {}", v.subtree),
                _ => format!("is outside the permitted subtrees ({})", v.subtree),
            };
            let others: Vec<&String> = leaf.sans.iter().filter(|s| **s != v.name).collect();
            let rest = if v.holder.sha256 == leaf.sha256 && !others.is_empty() {
                format!(
                    "; its other names ({}) are not the problem",
                    others
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                String::new()
            };
            let message = format!(
                "{} in {holder} {relation} of the name constraints of {ca}{rest}",
                v.name
            );
            let policy_name = ctx.policy_sans.contains(&v.name);
            if v.holder.sha256 != leaf.sha256 || policy_name {
                let why = if policy_name {
                    format!(
                        " (the policy gives every device a name like {}, so no certificate for '{}' can pass)",
                        v.name,
                        ctx.device_id.unwrap_or("this device")
                    )
                } else {
                    String::new()
                };
                return Finding::new(
                    Code::NameConstraintViolation,
                    format!("{message}{why}"),
                    reissue_ca(&format!("with constraints that allow {}", v.name)),
                )
                .on(Side::Ca);
            }
            Finding::new(
                Code::NameConstraintViolation,
                message,
                format!(
                    "reissue the certificate without {} (with the policy's names only): {}",
                    v.name,
                    cmds.new_certificate()
                ),
            )
        }
    }
}

/// PATH_LEN_EXCEEDED naming the CA whose pathLenConstraint the path below it exceeds (webpki
/// counts the CA certificates between it and the device certificate).
fn path_len(ctx: &Context<'_>, detail: &str) -> Finding {
    let leaf = ctx.leaf;
    let w = ctx.walk();
    let exceeded = w
        .links
        .iter()
        .enumerate()
        .find_map(|(below, ca)| match ca.basic_constraints {
            Some((true, Some(len))) if below > len as usize => Some((below, *ca, len)),
            _ => None,
        });
    let Some((below, ca, len)) = exceeded else {
        return Finding::new(
            Code::PathLenExceeded,
            format!("the chain of {} is too long: {detail}", leaf.describe()),
            "the CA side must issue device certificates from a CA nearer the root",
        );
    };
    let between: Vec<String> = w.links[..below]
        .iter()
        .map(|c| format!("'{}'", c.subject))
        .collect();
    Finding::new(
        Code::PathLenExceeded,
        format!(
            "{} allows {} CA certificate{} below it (pathLenConstraint {len}), but the path to {} has {below}: {}",
            ca.describe(),
            len,
            if len == 1 { "" } else { "s" },
            leaf.describe(),
            between.join(", ")
        ),
        format!(
            "the CA side must reissue '{}' with pathLenConstraint {below} or more (or without one) and the new certificate replace the old one in {}; or issue the device certificates from '{}' itself",
            ca.subject,
            ca.origin.path.display(),
            ca.subject
        ),
    )
    .on(Side::Ca)
}

fn key_id(id: &Option<Vec<u8>>) -> String {
    id.as_deref()
        .map(|id| format!(" (key id {})", hex(id)))
        .unwrap_or_default()
}
