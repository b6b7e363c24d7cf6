//! `pki enroll`: what an installer runs. The device key is made in the store (it never leaves
//! it), a CSR is signed by the CA (a folder at hand, or a server) under the policy, the pair is
//! checked, and the store is written the crash-safe way with its manifest and journal.
//! Idempotent: a healthy store with the same device id is left alone. Resumable: an
//! enrollment a crash interrupted (see `interrupted`) is finished by running the same
//! command again, with the key it made when that key reached the disk (over a server, the
//! same token then gets the certificate already issued for it sent again).

use crate::ca::{self, Issued, Planned};
use crate::error::Error;
use crate::judge::diagnose::{diagnose, Request, Verdict};
use crate::judge::verify::Purpose;
use crate::lifecycle::authority::Authority;
use crate::policy::{KeyKind, Policy};
use crate::read::cert::sha256_hex;
use crate::read::decode::{encode_pem, Decoded};
use crate::read::input::MAX_STORE_ENTRIES;
use crate::read::key::Key;
use crate::read::password::Password;
use crate::store;
use crate::store::change::{self, Change, FileWrite};
use crate::store::jail::{Jail, Kind};
use crate::store::journal::{self, Entry};
use crate::store::lock;
use crate::store::manifest::Manifest;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct Enrollment {
    pub store: PathBuf,
    pub device_id: String,
    /// Overrides the CA's policy (with a server: the policy the device makes its key by).
    pub policy: Option<Policy>,
    /// An existing private key to certify instead of making one (e.g. an RSA key).
    pub key: Option<PathBuf>,
    pub at: OffsetDateTime,
    pub force: bool,
    /// Opens an encrypted `key`.
    pub password: Option<Password>,
    /// Check everything and say what would be written; write nothing, sign nothing.
    pub dry_run: bool,
}

#[derive(Debug)]
pub enum Outcome {
    /// Already enrolled and accepted: nothing was written.
    Unchanged { device_id: String, serial: String },
    Enrolled {
        issued: Box<Issued>,
        entry: Entry,
        cleared_lock: Option<String>,
    },
    /// A dry run: what would be issued (when the authority says: a CA folder at hand does, a
    /// server's policy is its own), by whom, with which key, into which files.
    Planned {
        planned: Option<Box<Planned>>,
        authority: String,
        key: String,
        files: Vec<String>,
    },
}

/// Enrolls the store of `req` with a certificate from `authority`.
pub fn enroll(req: &Enrollment, authority: &dyn Authority) -> Result<Outcome, Error> {
    ca::issue::check_device_id(&req.device_id).map_err(Error::Usage)?;
    crate::lifecycle::authority::agree_on_time(authority, req.at)?;
    let policy = req
        .policy
        .clone()
        .or_else(|| authority.policy().cloned())
        .unwrap_or_default();
    if let Some(unchanged) = existing(req, &policy)? {
        return Ok(unchanged);
    }
    if req.dry_run {
        return plan(req, authority, &policy);
    }
    // a failed enroll leaves no folder it made behind (only empty ones are removed)
    let made = missing_folders(&req.store);
    let result = Jail::create(&req.store).and_then(|jail| write(req, authority, &policy, &jail));
    if result.is_err() {
        for dir in &made {
            let _ = std::fs::remove_dir(dir);
        }
    }
    result
}

/// The folders on the way to `dir` (itself included) that do not exist yet, deepest first.
fn missing_folders(dir: &Path) -> Vec<PathBuf> {
    dir.ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
        .map(Path::to_path_buf)
        .collect()
}

/// The dry run: the authority can sign, the key can be used, and what would be written.
fn plan(req: &Enrollment, authority: &dyn Authority, policy: &Policy) -> Result<Outcome, Error> {
    let key = match &req.key {
        Some(path) => {
            let key = device_key(req, policy, authority)?;
            format!("the key in {} ({})", path.display(), key_name(&key))
        }
        None => match planned_leftover(req) {
            Some((path, key)) => {
                // the CA refuses it as it would the brought key: the run that takes it fails
                refuse_by_policy(&path, &key, policy, authority)?;
                format!(
                    "the key an interrupted enrollment left in {} ({}), taken again",
                    path.display(),
                    key_name(&key)
                )
            }
            None => {
                new_key(policy, &req.store)?; // refuses what cannot be made here (RSA)
                format!("a new {} key made in the store", policy.key_algorithm)
            }
        },
    };
    let planned = authority
        .plan(&req.device_id, req.policy.as_ref(), req.at)?
        .map(Box::new);
    Ok(Outcome::Planned {
        planned,
        authority: authority.describe(),
        key,
        files: [
            store::DEVICE_KEY,
            store::DEVICE_CERT,
            store::CHAIN,
            store::TRUST,
            store::MANIFEST,
            crate::store::journal::JOURNAL,
        ]
        .iter()
        .map(|f| req.store.join(f).display().to_string())
        .collect(),
    })
}

fn key_name(key: &KeyPair) -> String {
    let der = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Key::from_der(
        der,
        crate::origin::Origin {
            path: PathBuf::new(),
            index: 0,
            of: 1,
        },
    )
    .describe()
}

fn write(
    req: &Enrollment,
    authority: &dyn Authority,
    policy: &Policy,
    jail: &Jail,
) -> Result<Outcome, Error> {
    let (_guard, cleared_lock) = lock::hold(jail)?;

    let resumed = match &req.key {
        None => interrupted(jail, &req.device_id).and_then(|entry| resumed_key(jail, &entry)),
        Some(_) => None,
    };
    let key = match resumed {
        Some(key) => key,
        None => device_key(req, policy, authority)?,
    };
    let csr = csr(&req.device_id, &key).map_err(|e| Error::ca(authority.describe(), e))?;
    let issued = authority.issue(
        &req.store.join("device.csr"),
        &csr,
        &req.device_id,
        req.policy.as_ref(),
        req.at,
    )?;
    let key_pem = pkcs8_pem(&key);
    check_pair(&key, &issued, &req.store)?;

    let change = Change {
        action: "enroll".into(),
        reason: format!("{}{})", enrolled(&req.device_id), issued.serial),
        writes: vec![
            FileWrite {
                name: store::DEVICE_KEY.into(),
                bytes: key_pem.into_bytes(),
                mode: 0o600,
            },
            FileWrite {
                name: store::DEVICE_CERT.into(),
                bytes: issued.pem.clone().into_bytes(),
                mode: 0o644,
            },
            FileWrite {
                name: store::CHAIN.into(),
                bytes: authority.chain_bundle(req.at)?.into_bytes(),
                mode: 0o644,
            },
            FileWrite {
                name: store::TRUST.into(),
                bytes: authority.trust_bundle(req.at)?.into_bytes(),
                mode: 0o644,
            },
        ],
        removes: Vec::new(),
    };
    let mut manifest = Manifest::new(&req.device_id, &policy.name);
    super::authority::record(authority, &mut manifest);
    let entry = change::apply(jail, &change, manifest, req.at)?;
    Ok(Outcome::Enrolled {
        issued: Box::new(issued),
        entry,
        cleared_lock,
    })
}

/// `Some` when the store is already enrolled as this device and accepted; an error when it
/// holds something enroll must not replace without `--force`.
fn existing(req: &Enrollment, policy: &Policy) -> Result<Option<Outcome>, Error> {
    if !req.store.exists() {
        return Ok(None);
    }
    let jail = Jail::open(&req.store)?;
    if jail.list("", Some(MAX_STORE_ENTRIES))?.is_empty() {
        return Ok(None);
    }
    if req.force {
        return Ok(None); // --force re-enrolls whatever is there (the old files go to backup/)
    }
    let manifest = Manifest::load(&jail).map_err(|why| Error::refused(&req.store, why))?;
    if manifest.is_none() && interrupted(&jail, &req.device_id).is_some() {
        return Ok(None); // finished below, with the key it made if that reached the disk
    }
    let material = store::gather_store(&req.store)?;
    let report = diagnose(
        &material,
        &Request {
            at: req.at,
            purpose: Purpose::Client,
            policy: policy.clone(),
        },
    );
    let same_device = manifest
        .as_ref()
        .is_some_and(|m| m.device_id == req.device_id);
    if same_device && report.verdict == Verdict::Accepted {
        let serial = report.certificate.map(|c| c.serial).unwrap_or_default();
        return Ok(Some(Outcome::Unchanged {
            device_id: req.device_id.clone(),
            serial,
        }));
    }
    let what = match (&manifest, report.root_cause()) {
        (None, _) => "a foreign store (no store.yaml)".to_string(),
        (Some(m), _) if m.device_id != req.device_id => {
            format!("the store of another device ({})", m.device_id)
        }
        (Some(_), Some(cause)) => format!("a store that is rejected ({})", cause.code),
        (Some(_), None) => "a store enroll will not touch".to_string(),
    };
    let store = crate::finding::quoted(&req.store);
    let fix = match &manifest {
        Some(_) => format!("run `pki repair {store}` to fix it in place, or add --force to replace it (the old files go to backup/)"),
        None => format!("make it a managed store from its own files with `pki store import {store}`, or add --force to replace it (the old files go to backup/)"),
    };
    Err(Error::refused(&req.store, format!("holds {what}; {fix}")))
}

/// How an enrollment's journal entry begins, before the serial: `enrolled device ID (serial `.
fn enrolled(device_id: &str) -> String {
    format!("enrolled device {device_id} (serial ")
}

/// The journal entry of an enrollment of `device_id` that a crash interrupted: `store.yaml`
/// (which a change writes last) is missing, the journal's last entry is that enrollment, and
/// each file the entry writes is absent or holds what it wrote. `None` for anything else.
fn interrupted(jail: &Jail, device_id: &str) -> Option<Entry> {
    if jail.kind(store::MANIFEST).is_some() {
        return None;
    }
    let scan = journal::scan(jail, |_| {});
    let entry = scan.last.filter(|e| {
        scan.problems.is_empty()
            && e.untrusted_name().is_none()
            && e.action == "enroll"
            && e.reason.starts_with(&enrolled(device_id))
    })?;
    let as_written = entry.files.iter().all(|f| match jail.hash(&f.file) {
        Some(hash) => f.after.as_deref() == Some(hash.as_str()),
        None => jail.kind(&f.file).is_none(),
    });
    as_written.then_some(entry)
}

/// The key the interrupted enrollment `entry` made, when it reached the disk: `device.key`
/// holding the bytes the entry records, or the temporary file a crash left before renaming
/// it into place (`.device.key.tmp-PID`, whole: written and fsynced before the rename), which
/// is then renamed, as that run would have done. `None` when the key was lost.
fn resumed_key(jail: &Jail, entry: &Entry) -> Option<KeyPair> {
    let (name, pem) = leftover_key(jail, entry)?;
    if name != store::DEVICE_KEY {
        jail.rename(&name, store::DEVICE_KEY).ok()?;
        jail.sync("").ok()?;
    }
    KeyPair::from_pem(&pem).ok()
}

/// Where the key of the interrupted enrollment `entry` is, and its PEM, read only (see
/// [`resumed_key`]); `None` when the key was lost.
fn leftover_key(jail: &Jail, entry: &Entry) -> Option<(String, String)> {
    let after = entry
        .files
        .iter()
        .find(|f| f.file == store::DEVICE_KEY)?
        .after
        .as_deref()?;
    let holds = |name: &str| {
        own_key_file(jail, name)
            .filter(|bytes| sha256_hex(bytes) == after)
            .and_then(|bytes| String::from_utf8(bytes).ok())
    };
    if let Some(pem) = holds(store::DEVICE_KEY) {
        return Some((store::DEVICE_KEY.to_string(), pem));
    }
    // renamed only into a free name (never over a file, though that could only hold the
    // same bytes: see `interrupted`)
    if jail.kind(store::DEVICE_KEY).is_some() {
        return None;
    }
    let prefix = format!(".{}.tmp-", store::DEVICE_KEY);
    let listed = jail.list("", Some(MAX_STORE_ENTRIES)).ok()?;
    listed
        .iter()
        .filter(|e| e.kind == Kind::File)
        .filter_map(|e| e.name().filter(|n| n.starts_with(&prefix)))
        .find_map(|name| holds(name).map(|pem| (name.to_string(), pem)))
}

/// The key a dry run would say `write` takes again: the one an interrupted enrollment of
/// this device left in the store (its file's path, and the key), read only.
fn planned_leftover(req: &Enrollment) -> Option<(PathBuf, KeyPair)> {
    if req.key.is_some() || !req.store.is_dir() {
        return None;
    }
    let jail = Jail::open(&req.store).ok()?;
    let entry = interrupted(&jail, &req.device_id)?;
    let (name, pem) = leftover_key(&jail, &entry)?;
    let key = KeyPair::from_pem(&pem).ok()?;
    Some((req.store.join(name), key))
}

/// The bytes of the key file `name` when pki can have written it: a regular file in the
/// store, owned by the user running pki (or by the store's owner, for whom pki run as root
/// writes), open to nobody else (keys are written 0600). A key another user planted in the
/// folder is never certified.
fn own_key_file(jail: &Jail, name: &str) -> Option<Vec<u8>> {
    use std::io::Read;
    let file = jail.open_stream(name).ok()??;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata().ok()?;
        let me = rustix::process::geteuid().as_raw();
        let owner = meta.uid() == me || jail.heir().is_some_and(|(uid, _)| uid == meta.uid());
        if !meta.is_file() || !owner || meta.mode() & 0o077 != 0 {
            return None;
        }
    }
    let mut bytes = Vec::new();
    file.take(64 * 1024).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// The key to certify. A brought one the CA here would refuse under `policy` is refused naming
/// its file, before a store folder is made or the CA asked (a server's policy is its own).
fn device_key(
    req: &Enrollment,
    policy: &Policy,
    authority: &dyn Authority,
) -> Result<KeyPair, Error> {
    let Some(path) = &req.key else {
        return new_key(policy, &req.store);
    };
    let key = read_key(path, req.password.as_ref())?;
    refuse_by_policy(path, &key, policy, authority)?;
    Ok(key)
}

/// Refuses (2, naming `path`) the key read from it when the CA here would refuse it under
/// `policy`; a server's policy is its own, so nothing is refused then.
fn refuse_by_policy(
    path: &Path,
    key: &KeyPair,
    policy: &Policy,
    authority: &dyn Authority,
) -> Result<(), Error> {
    if authority.policy().is_none() {
        return Ok(());
    }
    use rcgen::PublicKeyData;
    use x509_parser::prelude::FromDer;
    let der = key.subject_public_key_info();
    if let Ok((_, spki)) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&der) {
        let algorithm = crate::read::cert::key_algorithm(&spki);
        if let Some(why) = policy.refuses_key(&algorithm) {
            return Err(Error::refused(path, format!("holds {why}")));
        }
    }
    Ok(())
}

/// The one private key in `path` (PEM or DER, PKCS#8, SEC1 or PKCS#1; an encrypted one opened
/// with `password`), as rcgen signs with it. Content that is no usable key is refused (2).
pub(crate) fn read_key(path: &Path, password: Option<&Password>) -> Result<KeyPair, Error> {
    key_pair(path, super::decode_file(path, password)?)
}

/// The one private key `decoded` (read from `path`) holds, as rcgen signs with it.
pub(crate) fn key_pair(path: &Path, decoded: Decoded) -> Result<KeyPair, Error> {
    super::refuse_locked(path, &decoded)?;
    let key = match (decoded.keys.as_slice(), decoded.problems.first()) {
        ([key], _) => key,
        ([], Some(problem)) => {
            return Err(Error::refused(
                path,
                format!("no private key in it: {problem}"),
            ))
        }
        ([], None) => return Err(Error::refused(path, "holds no private key")),
        (_, _) => {
            return Err(Error::refused(
                path,
                "holds several private keys; give a file with one",
            ))
        }
    };
    if let Err(why) = key.signer() {
        return Err(Error::refused(path, format!("{}: {why}", key.describe())));
    }
    let pkcs8 = key.pkcs8_der().ok_or_else(|| {
        Error::refused(
            path,
            format!("{}: cannot be used to sign a request", key.describe()),
        )
    })?;
    KeyPair::try_from(pkcs8.as_slice()).map_err(|e| {
        Error::refused(
            path,
            format!("{}: rcgen cannot sign with it ({e})", key.describe()),
        )
    })
}

/// A new device key of the policy's algorithm.
pub(crate) fn new_key(policy: &Policy, store: &Path) -> Result<KeyPair, Error> {
    let alg = match policy.key_algorithm {
        KeyKind::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyKind::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyKind::Ed25519 => &rcgen::PKCS_ED25519,
        KeyKind::Rsa => {
            return Err(Error::Usage(format!(
                "policy '{}' wants an RSA key, which cannot be generated here (ring cannot): pass the device's existing key with --key FILE",
                policy.name
            )))
        }
    };
    KeyPair::generate_for(alg).map_err(|e| Error::ca(store, format!("key generation failed: {e}")))
}

pub(crate) fn csr(device_id: &str, key: &KeyPair) -> Result<Vec<u8>, String> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, device_id);
    params.distinguished_name = dn;
    params
        .serialize_request(key)
        .map(|csr| csr.der().to_vec())
        .map_err(|e| e.to_string())
}

/// The issued certificate and the key must be a pair rustls accepts, before anything is
/// written (a renewal must never install a mismatched pair).
pub(crate) fn check_pair(key: &KeyPair, issued: &Issued, store: &Path) -> Result<(), Error> {
    let cert = crate::read::decode::decode(Path::new("issued"), issued.pem.as_bytes())
        .certs
        .into_iter()
        .next()
        .ok_or_else(|| Error::ca(store, "the CA returned no certificate"))?;
    let der = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let key = Key::from_der(
        der,
        crate::origin::Origin {
            path: store.join("device.key"),
            index: 0,
            of: 1,
        },
    );
    crate::judge::possession::prove(&key, &cert).map_err(|f| {
        Error::ca(
            store,
            format!("the issued certificate does not fit the device key: {f}"),
        )
    })
}

/// The key as PKCS#8 PEM that OpenSSL reads too: ring writes Ed25519 keys as PKCS#8 v2 (with
/// the public key), which OpenSSL 3.0 refuses, so those are rewritten as v1.
pub(crate) fn pkcs8_pem(key: &KeyPair) -> String {
    // SEQUENCE { INTEGER 1, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING seed }, [1] public }
    const V2_BODY: &[u8] = &[
        0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ];
    const V1_PREFIX: &[u8] = &[
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let der = key.serialize_der();
    match der.get(2..).and_then(|body| body.strip_prefix(V2_BODY)) {
        Some(rest) if der[0] == 0x30 && rest.len() >= 32 => {
            let mut v1 = V1_PREFIX.to_vec();
            v1.extend_from_slice(&rest[..32]);
            encode_pem("PRIVATE KEY", &v1)
        }
        _ => key.serialize_pem(),
    }
}
