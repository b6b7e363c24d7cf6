//! `pki store import STORE [FILE...]`: a managed store made from what the field carries — a
//! PKCS#12 file (what Windows exports), PEM or DER certificate and key files, or (without
//! FILE) a foreign folder's own files, in place (read through the store's folder handle, as
//! every store file is: a link out of the folder is not followed). The content is sorted as a
//! foreign store's is (the end-entity certificate that matches a key is the device's,
//! self-signed CAs are the anchors, other CAs the chain), the pair is proven as diagnose proves
//! it, and the store is written through the same crash-safe change as every other write.
//!
//! In place, the folder's own files stay where they are, byte for byte: a managed store reads
//! only its role files, and the journal may name no other file (`store::jail`: names from
//! files are untrusted), so the files are neither moved nor recorded. A role file the import
//! replaces (a `device.crt` already there) goes to `backup/` as every superseded file does.

use crate::error::Error;
use crate::judge::diagnose::{diagnose, Report, Request as Judge};
use crate::judge::possession::prove;
use crate::judge::verify::Purpose;
use crate::policy::Policy;
use crate::read::cert::Cert;
use crate::read::decode::{decode_opts, encode_pem, Decoded, Options};
use crate::read::input::{Read, MAX_STORE_ENTRIES};
use crate::read::key::Key;
use crate::read::password::Password;
use crate::store::change::{self, Change, FileWrite};
use crate::store::jail::{Jail, Kind};
use crate::store::journal::Entry;
use crate::store::manifest::Manifest;
use crate::store::{self, lock};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct Import {
    pub store: PathBuf,
    /// The files to import; empty: the store folder's own files (in place).
    pub files: Vec<PathBuf>,
    /// The trust anchors for `trust.pem` (else the self-signed CAs among the files).
    pub trust: Option<PathBuf>,
    /// The device id (else the certificate's CN).
    pub device_id: Option<String>,
    pub policy: Policy,
    pub password: Option<Password>,
    /// Replace a managed store that holds something else.
    pub force: bool,
    pub dry_run: bool,
    pub at: OffsetDateTime,
}

#[derive(Debug)]
pub enum Outcome {
    /// The store already holds this certificate: nothing was written.
    Unchanged { device_id: String, serial: String },
    Imported {
        device_id: String,
        serial: String,
        entry: Entry,
        after: Box<Report>,
    },
    /// A dry run: what would be written.
    Planned {
        device_id: String,
        certificate: String,
        writes: Vec<String>,
    },
}

/// The files the toolkit writes or keeps in a store: never "taken over" by an in-place import.
const OWN: [&str; 4] = [store::MANIFEST, store::LOCK, "journal.jsonl", "device.csr"];

pub fn import(req: &Import) -> Result<Outcome, Error> {
    let folder = if req.store.exists() {
        Some(Jail::open(&req.store)?)
    } else {
        None
    };
    let existing = match &folder {
        Some(jail) => Manifest::load(jail).map_err(|why| Error::refused(&req.store, why))?,
        None => None,
    };
    let in_place = req.files.is_empty();
    if in_place && existing.is_some() && !req.force {
        return Err(Error::refused(
            &req.store,
            "is a managed store already; name the files to import, or diagnose it: pki diagnose STORE",
        ));
    }
    let found = match (&folder, in_place) {
        (Some(jail), true) => read_in_place(jail, req.password.as_ref())?,
        _ => read(&req.files, req.password.as_ref())?,
    };
    let sources = if in_place {
        found.used.clone()
    } else {
        req.files.clone()
    };
    let (leaf, key) = pair(&found, req.at, &sources)?;
    let device_id = device_id(req, leaf)?;
    let trust = trust(req, &found, &sources)?;
    let chain = chain(leaf, &found.certs);

    if let Some(m) = &existing {
        let same = std::fs::read(req.store.join(store::DEVICE_CERT)).is_ok_and(|b| {
            crate::read::decode::decode(&req.store, &b)
                .certs
                .iter()
                .any(|c| c.sha256 == leaf.sha256)
        });
        if same && m.device_id == device_id {
            return Ok(Outcome::Unchanged {
                device_id,
                serial: leaf.serial.clone(),
            });
        }
        if !req.force {
            return Err(Error::refused(
                &req.store,
                format!("is the managed store of {} already: add --force to replace what it holds (the old files go to backup/)", m.device_id),
            ));
        }
    }
    let key_pem = key
        .pkcs8_der()
        .map(|der| encode_pem("PRIVATE KEY", &der))
        .ok_or_else(|| {
            Error::refused(
                &key.origin.path,
                format!("{}: cannot be written as PKCS#8", key.describe()),
            )
        })?;
    let writes = vec![
        FileWrite {
            name: store::DEVICE_KEY.into(),
            bytes: key_pem.into_bytes(),
            mode: 0o600,
        },
        FileWrite {
            name: store::DEVICE_CERT.into(),
            bytes: leaf.der_pem(),
            mode: 0o644,
        },
        FileWrite {
            name: store::CHAIN.into(),
            bytes: chain.iter().flat_map(|c| c.der_pem()).collect(),
            mode: 0o644,
        },
        FileWrite {
            name: store::TRUST.into(),
            bytes: trust.iter().flat_map(|c| c.der_pem()).collect(),
            mode: 0o644,
        },
    ];
    let origin: Vec<String> = sources.iter().map(|p| p.display().to_string()).collect();
    if req.dry_run {
        return Ok(Outcome::Planned {
            device_id,
            certificate: leaf.describe(),
            writes: writes
                .iter()
                .map(|w| req.store.join(&w.name).display().to_string())
                .collect(),
        });
    }
    let serial = leaf.serial.clone();
    let change = Change {
        action: "import".into(),
        reason: format!("imported {} from {}", leaf.describe(), origin.join(", ")),
        writes,
        removes: Vec::new(),
    };
    let jail = match folder {
        Some(jail) => jail,
        None => Jail::create(&req.store)?,
    };
    let (_guard, _) = lock::hold(&jail)?;
    let manifest = Manifest::new(&device_id, &req.policy.name);
    let entry = change::apply(&jail, &change, manifest, req.at)?;
    let after = diagnose(
        &store::gather_store(&req.store)?,
        &Judge {
            at: req.at,
            purpose: Purpose::Client,
            policy: req.policy.clone(),
        },
    );
    Ok(Outcome::Imported {
        device_id,
        serial,
        entry,
        after: Box::new(after),
    })
}

/// What the files hold.
#[derive(Default)]
struct Found {
    certs: Vec<Cert>,
    keys: Vec<Key>,
    /// The files that held certificates or keys.
    used: Vec<PathBuf>,
}

fn read(files: &[PathBuf], password: Option<&Password>) -> Result<Found, Error> {
    let mut found = Found::default();
    for path in files {
        found.add(path.clone(), super::decode_file(path, password)?);
    }
    Ok(found)
}

/// What a foreign folder's own top-level files hold, read through its folder handle: links out
/// of it, FIFOs and files over the cap are not read (as diagnose does not read them), and the
/// toolkit's own files are left alone.
fn read_in_place(jail: &Jail, password: Option<&Password>) -> Result<Found, Error> {
    let mut found = Found::default();
    let opts = Options {
        cache: None,
        password,
    };
    for entry in jail.list("", Some(MAX_STORE_ENTRIES))? {
        let name = entry.name.to_string_lossy().into_owned();
        if !matches!(entry.kind, Kind::File | Kind::Symlink)
            || name.starts_with('.')
            || OWN.contains(&name.as_str())
        {
            continue;
        }
        let path = jail.shown(&entry.name);
        let Read::Bytes { bytes, .. } = jail.read(&entry.name)? else {
            continue;
        };
        let decoded = decode_opts(&path, &bytes, &opts);
        super::refuse_locked(&path, &decoded)?;
        found.add(path, decoded);
    }
    Ok(found)
}

impl Found {
    fn add(&mut self, path: PathBuf, decoded: Decoded) {
        if !decoded.certs.is_empty() || !decoded.keys.is_empty() {
            self.used.push(path);
        }
        self.certs.extend(decoded.certs);
        self.keys.extend(decoded.keys);
    }
}

/// The device certificate and its key: the end-entity certificate matching a key (the newest
/// valid one if several do).
fn pair<'f>(
    found: &'f Found,
    at: OffsetDateTime,
    sources: &[PathBuf],
) -> Result<(&'f Cert, &'f Key), Error> {
    let mut pairs: Vec<(&Cert, &Key)> = found
        .certs
        .iter()
        .filter(|c| !c.is_ca())
        .filter_map(|c| found.keys.iter().find(|k| k.matches(c)).map(|k| (c, k)))
        .collect();
    pairs.sort_by_key(|(c, _)| (c.is_valid_at(at), c.not_before));
    let place = sources
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let Some((leaf, key)) = pairs.pop() else {
        return Err(Error::refused(
            sources.first().map_or(Path::new("."), PathBuf::as_path),
            format!(
                "no device certificate with its private key in {place} ({} certificate(s), {} key(s) found)",
                found.certs.len(),
                found.keys.len()
            ),
        ));
    };
    prove(key, leaf).map_err(|f| {
        Error::refused(
            &key.origin.path,
            format!("the key cannot serve {}: {f}", leaf.describe()),
        )
    })?;
    Ok((leaf, key))
}

fn device_id(req: &Import, leaf: &Cert) -> Result<String, Error> {
    let id = req.device_id.clone().unwrap_or_else(|| leaf.common_name());
    crate::ca::issue::check_device_id(&id).map_err(|why| {
        Error::Usage(format!(
            "{why}; the certificate's CN does not make a device id: give --device-id ID"
        ))
    })?;
    Ok(id)
}

/// The anchors: `--trust`, else the self-signed CA certificates among the files.
fn trust(req: &Import, found: &Found, sources: &[PathBuf]) -> Result<Vec<Cert>, Error> {
    if let Some(path) = &req.trust {
        let anchors = read(std::slice::from_ref(path), None)?.certs;
        if anchors.is_empty() {
            return Err(Error::refused(path, "holds no certificate to trust"));
        }
        return Ok(anchors);
    }
    let anchors: Vec<Cert> = found
        .certs
        .iter()
        .filter(|c| c.is_ca() && c.is_self_issued() && c.is_signed_by(c))
        .cloned()
        .collect();
    if anchors.is_empty() {
        return Err(Error::refused(
            sources.first().map_or(Path::new("."), PathBuf::as_path),
            "holds no trust anchor (self-signed CA certificate): give the server's anchors with --trust FILE",
        ));
    }
    Ok(anchors)
}

/// The intermediates on the path from `leaf`, leaf-side first.
fn chain(leaf: &Cert, certs: &[Cert]) -> Vec<Cert> {
    let mut out: Vec<Cert> = Vec::new();
    let mut current = leaf;
    while let Some(issuer) = certs.iter().find(|c| {
        c.is_ca()
            && !c.is_self_issued()
            && current.names_issuer(c)
            && current.is_signed_by(c)
            && !out.iter().any(|o| o.sha256 == c.sha256)
    }) {
        out.push(issuer.clone());
        current = issuer;
    }
    out
}
