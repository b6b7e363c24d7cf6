//! `pki diagnose`: the verdict on one endpoint (would the server accept this certificate,
//! chain and key?) and the findings that explain it, root cause first.

use crate::finding::{Code, Finding, Severity, Side};
use crate::judge::cause::cause;
use crate::judge::explain::{explain, Context};
use crate::judge::fix::{fill, Commands};
use crate::judge::lint::{lint, Lint};
use crate::judge::possession::{prove, Failure};
use crate::judge::select::select;
use crate::judge::validity::leaf_validity;
use crate::judge::verify::{Purpose, Verifier};
use crate::policy::Policy;
use crate::read::cert::Cert;
use crate::store::{Layout, Material};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use time::{Duration, OffsetDateTime};

/// How a diagnosis is made.
#[derive(Debug, Clone)]
pub struct Request {
    pub at: OffsetDateTime,
    pub purpose: Purpose,
    pub policy: Policy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Accepted,
    Rejected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Critical,
}

/// The contract's diagnose JSON, field for field.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub verdict: Verdict,
    pub status: Status,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub certificate: Option<Summary>,
    pub findings: Vec<Finding>,
    pub layout: Option<Layout>,
    #[serde(serialize_with = "crate::lossy::option")]
    pub store: Option<PathBuf>,
}

/// The device certificate judged.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub sha256: String,
    #[serde(serialize_with = "crate::lossy::path")]
    pub file: PathBuf,
    pub key_algorithm: String,
    pub san: Vec<String>,
    /// SHA-256 of the public key of the private key at hand, when it is the certificate's.
    pub key_sha256: Option<String>,
    /// When the policy makes it due for renewal.
    #[serde(with = "time::serde::rfc3339")]
    pub renewal_due: OffsetDateTime,
}

/// Judges `material` as the contract's server would, at `req.at`.
pub fn diagnose(material: &Material, req: &Request) -> Report {
    let verifier = Verifier::new(&material.anchors, &material.crls, &req.purpose);
    diagnose_with(material, req, &verifier)
}

/// The same, with a verifier built beforehand (an audit shares one across stores with the
/// same anchors and CRLs).
pub fn diagnose_with(material: &Material, req: &Request, verifier: &Verifier) -> Report {
    // rustls compares validity in whole seconds (UnixTime); so must every other check
    let req = &Request {
        at: crate::timestamp::whole_seconds(req.at),
        ..req.clone()
    };
    let mut findings = material.findings.clone();
    findings.extend(refused(material, verifier));
    // hand edits stand beside the reasons rustls rejects for, after them
    let tampered = material.tampered.clone();
    let cmds = Commands::of(material);
    let chosen = select(material, req.at);
    let Some(leaf) = chosen.leaf else {
        // a finding already says what stands where the certificate should (a request)
        if !findings.iter().any(|f| f.code == Code::CertMissing) {
            findings.push(no_certificate(material));
        }
        findings.extend(tampered);
        findings.extend(pending(material, false));
        return Report::new(findings, None, material, req);
    };
    let skew = Duration::hours(req.policy.clock_skew_hours.into());
    let device_id = material.manifest.as_ref().map(|m| m.device_id.as_str());

    // the verdict: rustls on the chain, then the key
    let mut root_cause = Vec::new();
    if let Err(err) = verifier.verify(leaf, &material.intermediates, req.at) {
        let ctx = Context {
            leaf,
            material,
            at: req.at,
            skew,
            purpose: &req.purpose,
            device_id,
            policy_sans: req.policy.sans_for(
                device_id
                    .map_or_else(|| leaf.common_name(), str::to_string)
                    .as_str(),
            ),
            detail: err.to_string(),
        };
        root_cause = explain(&cause(&err), &ctx);
    }
    findings.extend(root_cause);
    if req.purpose == (Purpose::Server { name: None }) {
        findings.push(Finding::new(
            Code::NameNotChecked,
            format!(
                "no --name given: the chain of {} was judged, whether it is valid for the name clients dial was not checked",
                leaf.describe()
            ),
            "pass --name HOST (the DNS name or IP address clients dial) to check it too",
        ));
    }
    findings.extend(leaf_validity(leaf, req.at, skew, &cmds));
    findings.extend(possession(material, chosen.key, leaf, &cmds));
    findings.extend(tampered);
    if let Some(weak) = leaf.key.weakness() {
        findings.push(Finding::new(
            Code::WeakAlgorithm,
            format!(
                "device certificate {} holds {weak}: it cannot sign a handshake",
                leaf.describe()
            ),
            format!(
                "renew with a supported key (ECDSA P-256 by default): {}",
                cmds.new_certificate()
            ),
        ));
    }
    findings.extend(chosen.findings);
    if let Some(manifest) = &material.manifest {
        findings.extend(crate::store::integrity::identity(
            leaf,
            manifest,
            &req.policy,
        ));
    }
    findings.extend(lint(&Lint {
        leaf,
        material,
        policy: &req.policy,
        purpose: &req.purpose,
        at: req.at,
    }));
    let accepted = !findings.iter().any(Finding::is_critical);
    findings.extend(pending(material, accepted));
    let mut summary = summary(leaf, &req.policy);
    summary.key_sha256 = chosen
        .key
        .filter(|k| k.matches(leaf))
        .and_then(|k| k.fingerprint());
    let mut report = Report::new(findings, Some(summary), material, req);
    fill(&mut report.findings, material, Some(leaf));
    report
}

impl Report {
    fn new(
        findings: Vec<Finding>,
        certificate: Option<Summary>,
        material: &Material,
        req: &Request,
    ) -> Report {
        let mut findings = order(findings);
        if certificate.is_none() {
            fill(&mut findings, material, None);
        }
        let (status, verdict) = standing(&findings);
        Report {
            verdict,
            status,
            at: req.at,
            certificate,
            findings,
            layout: material.layout,
            store: material.store.clone(),
        }
    }

    /// Adds a finding made beside the judgement (a server's clock compared with the
    /// endpoint's), in its place, the status and verdict following.
    pub fn add(&mut self, finding: Finding) {
        let mut findings = std::mem::take(&mut self.findings);
        findings.push(finding);
        self.findings = order(findings);
        (self.status, self.verdict) = standing(&self.findings);
    }

    /// The root cause: the first critical finding.
    pub fn root_cause(&self) -> Option<&Finding> {
        self.findings.iter().find(|f| f.is_critical())
    }

    pub fn has(&self, code: Code) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }
}

/// The status (the worst severity) and the verdict (rejected exactly when a finding is
/// critical).
fn standing(findings: &[Finding]) -> (Status, Verdict) {
    let status = findings
        .iter()
        .map(|f| match f.severity {
            Severity::Critical => Status::Critical,
            Severity::Warning => Status::Warning,
            Severity::Info => Status::Ok,
        })
        .max()
        .unwrap_or(Status::Ok);
    let verdict = if status == Status::Critical {
        Verdict::Rejected
    } else {
        Verdict::Accepted
    };
    (status, verdict)
}

/// Drops repeats, then orders: corrupt files first (they explain what follows), then the
/// other criticals in the order found (rustls' reason first), then warnings, then notes.
fn order(findings: Vec<Finding>) -> Vec<Finding> {
    let mut seen = std::collections::HashSet::new();
    let mut unique: Vec<Finding> = findings
        .into_iter()
        .filter(|f| seen.insert((f.code, f.message.clone())))
        .collect();
    unique.sort_by_key(|f| match (f.severity, f.code) {
        (Severity::Critical, Code::FileCorrupt | Code::FileEncrypted) => 0,
        (Severity::Critical, _) => 1,
        (Severity::Warning, _) => 2,
        (Severity::Info, _) => 3,
    });
    unique
}

fn possession(
    material: &Material,
    key: Option<&crate::read::key::Key>,
    leaf: &Cert,
    cmds: &Commands,
) -> Option<Finding> {
    let Some(key) = key else {
        return Some(if material.key_expected {
            Finding::new(
                Code::KeyMissing,
                format!("no private key at hand for {}", leaf.describe()),
                cmds.key_lost("re-link the key if it is in backup/ or beside the store's files"),
            )
        } else {
            Finding::new(
                Code::KeyNotChecked,
                "no --key given: whether the endpoint holds the certificate's private key was not checked",
                "pass --key FILE to check possession too",
            )
        });
    };
    match prove(key, leaf) {
        Ok(()) => None,
        Err(Failure::Mismatch(why)) => Some(Finding::new(
            Code::KeyMismatch,
            format!(
                "the private key {} does not belong to {}: {why}",
                key.origin,
                leaf.describe()
            ),
            cmds.key_lost("re-link the certificate's key if it is still in the store or backup/"),
        )),
        Err(Failure::Unusable(why)) => Some(Finding::new(
            Code::WeakAlgorithm,
            format!(
                "the private key {} cannot sign a handshake a rustls server accepts: {why}",
                key.origin
            ),
            format!(
                "renew with a supported key (ECDSA P-256 by default): {}",
                cmds.new_certificate()
            ),
        )),
    }
}

fn no_certificate(material: &Material) -> Finding {
    let place = match (&material.layout, &material.store) {
        (Some(Layout::Managed), Some(store)) => {
            store.join(crate::store::DEVICE_CERT).display().to_string()
        }
        (_, Some(store)) => store.display().to_string(),
        _ => "the files given".to_string(),
    };
    let cmds = Commands::of(material);
    Finding::new(
        Code::CertMissing,
        format!("no device certificate in {place}"),
        format!(
            "restore it from backup/ or the CA's copy, else a new one: {}",
            cmds.repair_with_ca(cmds.new_certificate())
        ),
    )
}

/// REQUEST_PENDING: a key and request `repair` left for a CA that was not at hand. Once the
/// store is `accepted` without it (renewed or installed since), it waits for nothing: signing
/// and installing it would only replace a working certificate.
fn pending(material: &Material, accepted: bool) -> Option<Finding> {
    let store = material.store.as_deref()?;
    let key = store.join(crate::store::PENDING_KEY);
    let csr = store.join(crate::store::CSR);
    if material.layout != Some(Layout::Managed) || !material.pending_request {
        return None;
    }
    let csr_word = crate::finding::quoted(&csr);
    if accepted {
        return Some(Finding::new(
            Code::RequestPending,
            format!(
                "{} and {} are left from a request pki repair made when no CA was at hand; the store is accepted without them",
                key.display(),
                csr.display()
            ),
            "`pki repair STORE` moves them to backup/ (the key is kept there, mode 0600)",
        ));
    }
    Some(Finding::new(
        Code::RequestPending,
        format!(
            "{} and {} wait for a certificate: a request pki repair left when no CA was at hand",
            key.display(),
            csr.display()
        ),
        format!(
            "on the CA side sign it (pki ca sign --ca DIR {csr_word} > device.crt) and install it here (pki store install STORE device.crt); or, with the CA at hand: `pki repair STORE --ca DIR` (the request then goes to backup/)"
        ),
    ))
}

fn refused(material: &Material, verifier: &Verifier) -> Vec<Finding> {
    let cmds = Commands::of(material);
    let mut out: Vec<Finding> = verifier
        .refused_anchors
        .iter()
        .map(|(i, why)| {
            let anchor = &material.anchors[*i];
            Finding::new(
                Code::CertMalformed,
                format!(
                    "trust anchor {} cannot be used by rustls: {why}",
                    anchor.describe()
                ),
                format!(
                    "replace the trust anchors with the CA's bundle: {}",
                    cmds.repair_with_ca(format!(
                        "DIR/trust.pem in place of {}",
                        anchor.origin.path.display()
                    ))
                ),
            )
            .on(if material.trust_override.is_some() {
                Side::Server
            } else {
                Side::Trust
            })
        })
        .collect();
    out.extend(verifier.refused_crls.iter().map(|(i, why)| {
        let crl = &material.crls[*i];
        Finding::new(
            Code::FileCorrupt,
            format!(
                "{}: rustls cannot use this CRL ({why}); it is left out",
                crl.origin
            ),
            crate::store::fresh_crl(cmds.managed(), Some(&crl.origin.path)),
        )
        .on(Side::Store)
    }));
    out
}

fn summary(leaf: &Cert, policy: &Policy) -> Summary {
    Summary {
        subject: leaf.subject.clone(),
        issuer: leaf.issuer.clone(),
        serial: leaf.serial.clone(),
        not_before: leaf.not_before,
        not_after: leaf.not_after,
        sha256: leaf.sha256.clone(),
        file: leaf.origin.path.clone(),
        key_algorithm: leaf.key.to_string(),
        san: leaf.sans.clone(),
        key_sha256: None,
        renewal_due: policy.renewal_due(leaf.not_before, leaf.not_after),
    }
}
