//! `pki ca init`: a root CA and an issuing CA below it (pathlen 0), keys mode 0600, the policy,
//! an empty index and the bundles for endpoints. An existing CA is never overwritten.

use super::config::{Config, Generation, CONFIG, SCHEMA};
use super::inventory::sql::Connector;
use super::{write_cert, write_key, Ca};
use crate::error::Error;
use crate::policy::Policy;
use crate::store::atomic;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::Path;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

pub const POLICY_FILE: &str = "policy.yaml";

/// Makes a new CA named `name` in `dir`, issuing under `policy`, its inventory in the database
/// `connector` leads to (recorded in `ca.yaml` as `database`), or by default in the folder.
/// Its issuing CA's CRL is published at `<crl_base>/issuing-1` (default
/// [`DEFAULT_CRL_BASE`](super::config::DEFAULT_CRL_BASE); checked by
/// [`crl_base`](super::config::crl_base)).
pub fn init(
    dir: &Path,
    name: &str,
    policy: &Policy,
    database: Option<(String, Arc<dyn Connector>)>,
    crl_base: Option<&str>,
    at: OffsetDateTime,
) -> Result<Ca, Error> {
    let crl_base = super::config::crl_base(crl_base.unwrap_or(super::config::DEFAULT_CRL_BASE))
        .map_err(Error::Usage)?;
    refuse_occupied(dir)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let root_key = new_key(dir)?;
    let root_params = ca_params(
        &format!("{name} Root CA"),
        name,
        None,
        at,
        Duration::days(365 * 20),
    )?;
    let root_pem = root_params
        .self_signed(&root_key)
        .map_err(|e| Error::ca(dir, e.to_string()))?
        .pem();
    let issuer_key = new_key(dir)?;
    let issuer_params = ca_params(
        &format!("{name} Issuing CA"),
        name,
        Some(0),
        at,
        Duration::days(365 * 10),
    )?;
    let root = Issuer::from_params(&root_params, &root_key);
    let issuer_pem = issuer_params
        .signed_by(&issuer_key, &root)
        .map_err(|e| Error::ca(dir, e.to_string()))?
        .pem();

    write_key(dir, "root-1.key", &root_key)?;
    write_cert(dir, "root-1.crt", &root_pem)?;
    write_key(dir, "issuing-1.key", &issuer_key)?;
    write_cert(dir, "issuing-1.crt", &issuer_pem)?;
    let policy_yaml = serde_saphyr::to_string(policy).map_err(|e| Error::ca(dir, e.to_string()))?;
    write_cert(dir, POLICY_FILE, &policy_yaml)?;
    let config = Config {
        schema: SCHEMA,
        name: name.to_string(),
        policy: POLICY_FILE.to_string(),
        roots: vec![generation("root-1", None)],
        issuers: vec![Generation {
            crl_url: Some(format!("{crl_base}/issuing-1")),
            ..generation("issuing-1", Some("root-1"))
        }],
        crl_number: 0,
        database: database.as_ref().map(|(url, _)| url.clone()),
    };
    for (name, text) in [
        (super::TRUST_BUNDLE, root_pem.clone()),
        (super::CHAIN_BUNDLE, issuer_pem.clone()),
    ] {
        write_cert(dir, name, &text)?;
    }
    let text = serde_saphyr::to_string(&config).map_err(|e| Error::ca(dir, e.to_string()))?;
    // last: a folder without ca.yaml is no CA, so a crash above leaves none
    atomic::write(dir, CONFIG, text.as_bytes(), 0o644)
        .map_err(|e| Error::io(dir.join(CONFIG), e))?;
    Ca::open(dir, database.map(|(_, c)| c))
}

/// Refuses (2) a folder `ca init` must not write in: one holding a CA, or anything else but
/// dot files (an endpoint store, whose `trust.pem` and `chain.pem` init would overwrite
/// without a backup; what an interrupted init left, whose keys it never overwrites). A missing
/// folder, or one init cannot read (it says so when it writes), passes.
pub(super) fn refuse_occupied(dir: &Path) -> Result<(), Error> {
    if dir.join(CONFIG).exists() {
        return Err(Error::refused(
            dir,
            "a CA already exists here; it is never overwritten",
        ));
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    let more = match names.len() {
        0 => return Ok(()),
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    Err(Error::refused(
        dir,
        format!(
            "holds {}{more}: ca init never overwrites what is there; make the CA in a new or empty folder",
            names[0]
        ),
    ))
}

pub(super) fn generation(id: &str, parent: Option<&str>) -> Generation {
    Generation {
        id: id.to_string(),
        cert: format!("{id}.crt"),
        key: format!("{id}.key"),
        parent: parent.map(str::to_string),
        cross: None,
        retire_after: None,
        crl_url: None,
    }
}

pub(super) fn new_key(dir: &Path) -> Result<KeyPair, Error> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| Error::ca(dir, format!("key generation failed: {e}")))
}

/// A CA certificate's parameters: valid from an hour before `at` for `lifetime`.
pub(super) fn ca_params(
    cn: &str,
    org: &str,
    path_len: Option<u8>,
    at: OffsetDateTime,
    lifetime: Duration,
) -> Result<CertificateParams, Error> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, org);
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.is_ca = match path_len {
        Some(n) => IsCa::Ca(BasicConstraints::Constrained(n)),
        None => IsCa::Ca(BasicConstraints::Unconstrained),
    };
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = at - Duration::hours(1);
    p.not_after = at + lifetime;
    p.serial_number = Some(super::issue::random_serial().map_err(|e| Error::ca(cn, e))?);
    p.use_authority_key_identifier_extension = path_len.is_some();
    p.key_identifier_method = rcgen::KeyIdMethod::Sha256;
    Ok(p)
}
