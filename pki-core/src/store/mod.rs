//! The endpoint store on disk and every write to it: gathering what an endpoint holds into
//! roles, the manifest, the lock, the journal and the crash-safe change.
//!
//! Here: gathering what an endpoint holds: a managed store (the contract's layout, `store.yaml`
//! present), a foreign folder classified by content, loose files, or a store with some files
//! overridden from the command line.

pub mod atomic;
pub mod change;
pub mod integrity;
pub mod jail;
pub mod journal;
pub mod lock;
pub mod manifest;
pub mod rollback;

use crate::error::Error;
use crate::finding::{Code, Finding, Side};
use crate::read::cert::Cert;
use crate::read::cert_cache::CertCache;
use crate::read::crl::Crl;
use crate::read::decode::{decode_opts, decode_with, Decoded, Options};
use crate::read::input::{self, Read, MAX_STORE_ENTRIES};
use crate::read::key::Key;
use crate::read::password::Password;
use crate::store::jail::{Jail, Kind};
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "store.yaml";
pub const DEVICE_CERT: &str = "device.crt";
pub const DEVICE_KEY: &str = "device.key";
pub const CHAIN: &str = "chain.pem";
pub const TRUST: &str = "trust.pem";
pub const CRL_DIR: &str = "crl";
pub const LOCK: &str = ".lock";
/// The key `repair` made for a request no CA was at hand to sign (mode 0600).
pub const PENDING_KEY: &str = "device.key.pending";
/// That request, for `pki ca sign`; `pki store install` takes the certificate back.
pub const CSR: &str = "device.csr";

/// Whether `name` (from `store.yaml` or `journal.jsonl`: untrusted) is a file the toolkit
/// writes into a store: a role file, the pending key and request, a CRL directly in `crl/`
/// (or `crl` itself, when repair takes out what is there instead of a folder). Nothing else
/// is ever opened by a name read from a file.
pub fn is_store_file(name: &str) -> bool {
    matches!(
        name,
        DEVICE_CERT | DEVICE_KEY | CHAIN | TRUST | PENDING_KEY | CSR | CRL_DIR
    ) || name
        .strip_prefix("crl/")
        .is_some_and(|n| !n.is_empty() && !n.starts_with('.') && !n.contains(['/', '\\', ':']))
}

/// Which files to judge. With `store`, the other fields override the store's own files.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub store: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub chain: Option<PathBuf>,
    pub trust: Option<PathBuf>,
    pub crls: Vec<PathBuf>,
    /// Opens encrypted keys and PKCS#12 files.
    pub password: Option<Password>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// A store with `store.yaml`, laid out as the contract says.
    Managed,
    /// A folder without `store.yaml`, classified by content.
    Foreign,
    /// Files named on the command line.
    Loose,
}

/// Everything at hand for one endpoint, sorted into the roles the judgement needs.
#[derive(Debug, Default)]
pub struct Material {
    pub layout: Option<Layout>,
    pub store: Option<PathBuf>,
    /// End-entity certificates that could be the device certificate.
    pub leaf_candidates: Vec<Cert>,
    /// CA certificates offered as intermediates (chain file, CA certificates found elsewhere).
    pub intermediates: Vec<Cert>,
    /// The trust anchors the server holds.
    pub anchors: Vec<Cert>,
    /// Where the anchors came from, for messages; `None` when there were none.
    pub anchors_from: Option<PathBuf>,
    /// The `--trust` file that stands for the server's anchors instead of the store's own
    /// `trust.pem` (fix texts name it: the same judgement must follow a fix).
    pub trust_override: Option<PathBuf>,
    /// CA certificates of the store's own `chain.pem` and `trust.pem` when flags overrode them:
    /// not judged, but evidence of which side of a re-keyed CA is the newer one.
    pub elsewhere: Vec<Cert>,
    pub keys: Vec<Key>,
    pub crls: Vec<Crl>,
    /// A key was expected (a store, or `--key`): its absence is KEY_MISSING, not KEY_NOT_CHECKED.
    pub key_expected: bool,
    /// Findings about the files themselves (corrupt, too open), made while reading.
    pub findings: Vec<Finding>,
    /// SHA-256 of the store's own files as they were read (file name → hash), so that the
    /// tamper check does not read them a second time.
    pub file_hashes: std::collections::BTreeMap<String, String>,
    /// A managed store's manifest.
    pub manifest: Option<crate::store::manifest::Manifest>,
    /// A managed store holds `device.key.pending` or `device.csr` (a request repair left).
    pub pending_request: bool,
    /// STORE_TAMPERED findings (manifest and journal checked while the store was read);
    /// diagnose places them after the reason rustls rejects for.
    pub tampered: Vec<Finding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Cert,
    Key,
    Chain,
    Trust,
    Crl,
    /// A file of a foreign store: classified by content alone.
    Any,
}

impl Role {
    /// Whether an empty file in this role is a defect.
    fn must_hold_something(self) -> bool {
        matches!(self, Role::Cert | Role::Key | Role::Trust | Role::Crl)
    }
}

/// The role files of a managed store as bytes not yet written (a repair's candidate).
#[derive(Clone, Default)]
pub struct Candidate {
    pub cert: Option<Vec<u8>>,
    pub key: Option<Vec<u8>>,
    pub chain: Option<Vec<u8>>,
    pub trust: Option<Vec<u8>>,
    pub crls: Vec<(PathBuf, Vec<u8>)>,
}

impl std::fmt::Debug for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidate")
            .field("cert", &self.cert.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

/// The material a managed store in `dir` would hold with the `candidate` files (for judging
/// a repair before it is written). Key permissions are taken as 0600.
pub fn material_from(dir: &Path, candidate: &Candidate) -> Material {
    let mut g = Gatherer::default();
    g.m.layout = Some(Layout::Managed);
    g.m.store = Some(dir.to_path_buf());
    g.m.key_expected = true;
    g.trust_given = true;
    let roles = [
        (DEVICE_CERT, Role::Cert, &candidate.cert),
        (DEVICE_KEY, Role::Key, &candidate.key),
        (CHAIN, Role::Chain, &candidate.chain),
        (TRUST, Role::Trust, &candidate.trust),
    ];
    for (name, role, bytes) in roles {
        if let Some(bytes) = bytes {
            g.ingest(&dir.join(name), role, bytes, Some(0o600));
        }
    }
    for (path, bytes) in &candidate.crls {
        g.ingest(path, Role::Crl, bytes, None);
    }
    g.finish()
}

/// A store folder's material, its own files only.
pub fn gather_store(dir: &Path) -> Result<Material, Error> {
    gather(&Sources {
        store: Some(dir.to_path_buf()),
        ..Sources::default()
    })
}

/// Reads the files `src` names and sorts their content into a [`Material`].
pub fn gather(src: &Sources) -> Result<Material, Error> {
    gather_with(src, None)
}

/// The same, taking certificates parsed before from `cache` (an audit shares one).
pub fn gather_with(src: &Sources, cache: Option<&CertCache>) -> Result<Material, Error> {
    let mut g = Gatherer {
        cache,
        password: src.password.clone(),
        ..Gatherer::default()
    };
    match &src.store {
        Some(store) => g.store(store, src)?,
        None => {
            if src.cert.is_none() {
                return Err(Error::Usage(
                    "nothing to judge: give a STORE folder or --cert FILE".to_string(),
                ));
            }
            g.m.layout = Some(Layout::Loose);
        }
    }
    let overrides = [
        (&src.cert, Role::Cert),
        (&src.key, Role::Key),
        (&src.chain, Role::Chain),
        (&src.trust, Role::Trust),
    ];
    for (path, role) in overrides {
        if let Some(path) = path {
            g.file(path, role)?;
        }
    }
    g.m.trust_override = src.trust.clone();
    if let Some(trust) = src.trust.as_deref().filter(|_| g.m.anchors.is_empty()) {
        // a server's anchors that hold no certificate: refused, as repair refuses them (the
        // fix texts would name a repair that cannot run)
        crate::read::anchors::server_anchors(trust)?;
    }
    for crl in &src.crls {
        g.file(crl, Role::Crl)?;
    }
    g.m.key_expected |= src.key.is_some();
    Ok(g.finish())
}

#[derive(Default)]
struct Gatherer<'a> {
    cache: Option<&'a CertCache>,
    m: Material,
    cert_file_certs: Vec<Cert>,
    found_roots: Vec<Cert>,
    trust_given: bool,
    password: Option<Password>,
    /// Password-protected content not opened: the file and why.
    locked: Vec<(PathBuf, String)>,
    /// Certificate requests found where a certificate could be: the file and its subject.
    requests: Vec<(PathBuf, String)>,
}

impl Gatherer<'_> {
    fn store(&mut self, dir: &Path, src: &Sources) -> Result<(), Error> {
        let jail = Jail::open(dir)?;
        self.m.store = Some(dir.to_path_buf());
        self.m.key_expected = true;
        if let Some(finding) = crate::store::lock::check(&jail) {
            self.m.findings.push(finding);
        }
        let manifest = crate::store::manifest::Manifest::load(&jail);
        if !matches!(manifest, Ok(None)) {
            self.m.layout = Some(Layout::Managed);
            match manifest {
                Ok(manifest) => self.m.manifest = manifest,
                Err(why) => self.m.findings.push(Finding::new(
                    Code::FileCorrupt,
                    why,
                    "`pki repair STORE` rewrites store.yaml from the store's files (the device id from the certificate)",
                ).on(Side::Store)),
            }
            self.trust_given = true; // a managed store's anchors are trust.pem, or none
            self.m.pending_request = jail.kind(PENDING_KEY).is_some() || jail.kind(CSR).is_some();
            let roles = [
                (DEVICE_CERT, Role::Cert, src.cert.is_some()),
                (DEVICE_KEY, Role::Key, src.key.is_some()),
                (CHAIN, Role::Chain, src.chain.is_some()),
                (TRUST, Role::Trust, src.trust.is_some()),
            ];
            for (name, role, overridden) in roles {
                if !overridden {
                    self.store_file(&jail, name, role)?;
                } else if matches!(role, Role::Chain | Role::Trust) {
                    self.elsewhere(&jail, name);
                }
            }
        } else {
            self.m.layout = Some(Layout::Foreign);
            for entry in jail.list("", Some(MAX_STORE_ENTRIES))? {
                let Some(name) = entry.name() else { continue };
                // folders, FIFOs, sockets and dot-files of another product are not ours
                if name.starts_with('.') || !matches!(entry.kind, Kind::File | Kind::Symlink) {
                    continue;
                }
                self.store_file(&jail, name, Role::Any)?;
            }
        }
        if src.crls.is_empty() {
            self.crl_folder(&jail)?;
        }
        if let Some(manifest) = &self.m.manifest {
            self.m.tampered =
                crate::store::integrity::tampered(&jail, manifest, &self.m.file_hashes);
        }
        Ok(())
    }

    /// The CA certificates of a store file that a flag overrode, kept aside as evidence.
    fn elsewhere(&mut self, jail: &Jail, name: &str) {
        if let Ok(Read::Bytes { bytes, .. }) = jail.read(name) {
            let path = jail.shown(name);
            let decoded = decode_with(&path, &bytes, self.cache);
            self.m
                .elsewhere
                .extend(decoded.certs.into_iter().filter(|c| c.is_ca()));
        }
    }

    /// The CRLs in `crl/`; anything there that is not a readable CRL file is FILE_CORRUPT.
    fn crl_folder(&mut self, jail: &Jail) -> Result<(), Error> {
        match jail.kind(CRL_DIR) {
            None => Ok(()),
            Some(Kind::Dir | Kind::Symlink) => {
                let entries = match jail.list(CRL_DIR, Some(MAX_STORE_ENTRIES)) {
                    Ok(entries) => entries,
                    Err(Error::Refused { reason, .. }) => {
                        let path = jail.shown(CRL_DIR);
                        self.m
                            .findings
                            .push(corrupt(Role::Crl, &path, reason, self.m.layout));
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                };
                // a dot-file (a temporary file left behind) is not a CRL of the store
                for entry in entries
                    .iter()
                    .filter(|e| !e.name().is_some_and(|n| n.starts_with('.')))
                {
                    let name = Path::new(CRL_DIR).join(&entry.name);
                    match entry.name() {
                        Some(_) => self.store_file(jail, &name.to_string_lossy(), Role::Crl)?,
                        // not read under a lossy spelling (no such file): said, not skipped
                        None => self.m.findings.push(corrupt(
                            Role::Crl,
                            &jail.shown(&name),
                            NOT_UTF8_NAME.to_string(),
                            self.m.layout,
                        )),
                    }
                }
                Ok(())
            }
            Some(_) => {
                let path = jail.shown(CRL_DIR);
                let why = jail
                    .read(CRL_DIR)
                    .ok()
                    .and_then(|r| r.refusal())
                    .unwrap_or_else(|| "not a folder".to_string());
                self.m
                    .findings
                    .push(corrupt(Role::Crl, &path, why, self.m.layout));
                Ok(())
            }
        }
    }

    /// Reads the store file `name` through the store's handle; a missing one is skipped.
    fn store_file(&mut self, jail: &Jail, name: &str, role: Role) -> Result<(), Error> {
        let read = match jail.read(name) {
            Err(Error::NotFound { .. }) => return Ok(()),
            other => other?,
        };
        let path = jail.shown(name);
        if let Read::Bytes { bytes, .. } = &read {
            if !name.contains('/') {
                let hash = crate::read::cert::sha256_hex(bytes);
                self.m.file_hashes.insert(name.to_string(), hash);
            }
        }
        self.take(&path, role, read);
        Ok(())
    }

    /// Reads a file named on the command line; a missing one, or one that is no regular file
    /// (a FIFO, a device), is an error naming it.
    fn file(&mut self, path: &Path, role: Role) -> Result<(), Error> {
        let read = input::read(path)?;
        if let Read::NotAFile(_) = read {
            return Err(Error::BadRequest {
                path: path.to_path_buf(),
                reason: read.refusal().unwrap_or_default(),
            });
        }
        self.take(path, role, read);
        Ok(())
    }

    /// Sorts what was read from `path` into the material, or reports why it was not read.
    fn take(&mut self, path: &Path, role: Role, read: Read) {
        let (bytes, mode) = match read {
            Read::Bytes { bytes, mode } => (bytes, mode),
            // a foreign folder's stray link or socket: not ours to follow or judge
            Read::LeavesStore(_) | Read::NotAFile(_) if role == Role::Any => return,
            unread => {
                let why = unread.refusal().unwrap_or_default();
                self.m
                    .findings
                    .push(corrupt(role, path, why, self.m.layout));
                return;
            }
        };
        self.ingest(path, role, &bytes, mode);
    }

    /// Sorts the content of one file (already read) into the material.
    fn ingest(&mut self, path: &Path, role: Role, bytes: &[u8], mode: Option<u32>) {
        let opts = Options {
            cache: self.cache,
            password: self.password.as_ref(),
        };
        let decoded = decode_opts(path, bytes, &opts);
        let layout = self.m.layout;
        let corrupt = |why: String| corrupt(role, path, why, layout);
        self.report_problems(path, role, bytes, &decoded, corrupt);
        self.locked.extend(
            decoded
                .locked
                .iter()
                .map(|why| (path.to_path_buf(), why.clone())),
        );
        if matches!(role, Role::Cert | Role::Any) {
            self.requests.extend(
                decoded
                    .requests
                    .iter()
                    .map(|r| (path.to_path_buf(), r.subject.clone())),
            );
        }
        if !decoded.keys.is_empty() {
            self.check_mode(path, mode);
        }
        self.sort(decoded, role);
        if role == Role::Trust {
            self.trust_given = true;
            self.m.anchors_from = Some(path.to_path_buf());
        }
    }

    fn report_problems(
        &mut self,
        path: &Path,
        role: Role,
        bytes: &[u8],
        decoded: &Decoded,
        corrupt: impl Fn(String) -> Finding,
    ) {
        let empty_ok = !role.must_hold_something() && decoded.is_empty();
        for problem in &decoded.problems {
            let foreign_stray = role == Role::Any && !looks_like_pki(path, bytes);
            if foreign_stray || (empty_ok && problem == "the file is empty") {
                continue;
            }
            self.m.findings.push(corrupt(problem.clone()));
        }
    }

    fn check_mode(&mut self, path: &Path, mode: Option<u32>) {
        if let Some(mode) = mode.filter(|m| m & 0o077 != 0) {
            self.m.findings.push(Finding::new(
                Code::KeyPermissionsTooOpen,
                format!(
                    "{}: private key file has mode {mode:04o}; group or others can read it",
                    path.display()
                ),
                format!("`chmod 600 {}`", crate::finding::quoted(path)),
            ));
        }
    }

    fn sort(&mut self, decoded: Decoded, role: Role) {
        self.m.keys.extend(decoded.keys);
        self.m.crls.extend(decoded.crls);
        for cert in decoded.certs {
            match role {
                Role::Cert => self.cert_file_certs.push(cert),
                Role::Chain => self.m.intermediates.push(cert),
                Role::Trust => self.m.anchors.push(cert),
                Role::Key | Role::Crl | Role::Any => {
                    if !cert.is_ca() {
                        self.cert_file_certs.push(cert)
                    } else if cert.is_self_issued() {
                        self.found_roots.push(cert)
                    } else {
                        self.m.intermediates.push(cert)
                    }
                }
            }
        }
    }

    fn finish(mut self) -> Material {
        let (leaves, cas): (Vec<Cert>, Vec<Cert>) =
            self.cert_file_certs.into_iter().partition(|c| !c.is_ca());
        let mut cas = cas.into_iter();
        if leaves.is_empty() {
            // only CA certificates where the device certificate belongs: judge the first
            self.m.leaf_candidates.extend(cas.next());
        }
        self.m.leaf_candidates.extend(leaves);
        // a self-signed CA beside the device certificate (a PKCS#12 file, a full bundle) is
        // found like one in a foreign folder: an anchor unless anchors were given
        let (roots, cas): (Vec<Cert>, Vec<Cert>) = cas.partition(|c| c.is_self_issued());
        self.found_roots.extend(roots);
        self.m.intermediates.extend(cas);
        if self.trust_given {
            self.m.intermediates.extend(self.found_roots);
        } else {
            if let Some(first) = self.found_roots.first() {
                self.m.anchors_from = Some(first.origin.path.clone());
            }
            self.m.anchors.extend(self.found_roots);
        }
        dedup(&mut self.m.leaf_candidates);
        dedup(&mut self.m.intermediates);
        dedup(&mut self.m.anchors);
        // one file given for two roles (--cert F --key F: a PKCS#12 file, a PEM bundle) holds
        // its keys once, not two candidates
        let mut seen = HashSet::new();
        self.m.keys.retain(|k| seen.insert(k.origin.clone()));
        // locked content is the root cause unless a certificate and its key are at hand anyway
        let complete = self
            .m
            .leaf_candidates
            .iter()
            .any(|c| self.m.keys.iter().any(|k| k.matches(c)));
        for (path, why) in self.locked {
            let finding = locked(&path, &why);
            self.m
                .findings
                .push(if complete { finding.warning() } else { finding });
        }
        if self.m.leaf_candidates.is_empty() {
            for (path, subject) in self.requests {
                self.m
                    .findings
                    .push(request_not_certificate(&path, &subject, self.m.layout));
            }
        }
        self.m
    }
}

/// Why a store file whose name is not UTF-8 text is not read (the journal and `store.yaml`
/// name files as text, so no change of the toolkit can record it either).
pub const NOT_UTF8_NAME: &str =
    "a file name that is not UTF-8 text; not read: rename or remove it by hand";

/// FILE_ENCRYPTED for `path`, with the fix that opens it (written with the STORE placeholder
/// that `judge::fix` fills in).
fn locked(path: &Path, why: &str) -> Finding {
    let file = crate::finding::quoted(path);
    let password = "give its password with --password-file FILE (or the PKI_PASSWORD variable)";
    let decrypt = format!(
        "decrypt it with OpenSSL, which asks for the password: openssl pkey -in {file} -out {file}.plain"
    );
    let fix = if why.contains("cannot decrypt") {
        decrypt
    } else if why.contains("PKCS#12") {
        format!("{password}; to make a managed store of what it holds: `pki store import STORE {file} --password-file FILE`")
    } else {
        format!("{password}; or {decrypt}")
    };
    Finding::new(
        Code::FileEncrypted,
        format!("{}: {why}", path.display()),
        fix,
    )
}

/// CERT_MISSING naming the certificate request that stands where the certificate should
/// (written with the STORE and DIR placeholders that `judge::fix` fills in).
fn request_not_certificate(path: &Path, subject: &str, layout: Option<Layout>) -> Finding {
    let file = crate::finding::quoted(path);
    let fix = match layout {
        Some(Layout::Managed) => format!(
            "have the CA sign it (pki ca sign --ca DIR {file} > signed.crt), then install the certificate: pki store install STORE signed.crt"
        ),
        _ => format!("have the CA sign it: pki ca sign --ca DIR {file} > device.crt"),
    };
    Finding::new(
        Code::CertMissing,
        format!(
            "{} holds a certificate request (CSR, subject '{subject}'), not a certificate: a request is what the CA signs, not what a server accepts",
            path.display()
        ),
        fix,
    )
}

/// Whether a file was meant to hold PKI objects: named so, or PEM inside (a foreign store's
/// file that could not be read; a file beside a fleet's stores).
pub(crate) fn looks_like_pki(path: &Path, bytes: &[u8]) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(
        ext.as_str(),
        "crt" | "cer" | "pem" | "der" | "key" | "crl" | "p8" | "cert" | "p12" | "pfx" | "csr"
    ) || bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

/// FILE_CORRUPT for `path`, with the fix its role calls for: in a managed store the `pki repair`
/// that restores it (fix texts say STORE and DIR; diagnose fills in the real paths), elsewhere
/// what to put in the file.
fn corrupt(role: Role, path: &Path, why: String, layout: Option<Layout>) -> Finding {
    Finding::new(
        Code::FileCorrupt,
        format!("{}: {why}", path.display()),
        fix_for_corrupt(role, path, layout),
    )
    .on(match role {
        Role::Chain => Side::Chain,
        Role::Trust => Side::Trust,
        Role::Crl => Side::Store,
        _ => Side::Device,
    })
}

fn fix_for_corrupt(role: Role, path: &Path, layout: Option<Layout>) -> String {
    let file = crate::finding::quoted(path);
    let managed = layout == Some(Layout::Managed);
    match (role, managed) {
        (Role::Crl, _) => fresh_crl(managed, Some(path)),
        (_, true) => "`pki repair STORE --ca DIR` restores it (from backup/ or the CA's bundles and copies; a new certificate only if nothing else works)".to_string(),
        (Role::Trust, false) => format!("replace {file} with the CA's trust bundle (DIR/trust.pem)"),
        (Role::Chain, false) => format!("replace {file} with the CA's chain bundle (DIR/chain.pem)"),
        (_, false) if layout == Some(Layout::Foreign) => format!("replace {file} with an intact copy, or enroll the folder anew (its files go to backup/): `pki enroll STORE --ca DIR --device-id ID --force`"),
        (_, false) => format!("replace {file} with an intact copy, or have pki keep this device's files in a store of their own: `pki enroll NEW_STORE --ca DIR --device-id ID`"),
    }
}

/// How a fresh CRL gets where it is read: in a managed store `pki repair` copies the CA's
/// current CRLs into `crl/`; elsewhere `file` (or a `--crl` file) is replaced by hand.
pub(crate) fn fresh_crl(managed: bool, file: Option<&Path>) -> String {
    match (managed, file) {
        (true, _) => "fetch a fresh CRL and put it in crl/: `pki ca crl --ca DIR`, then `pki repair STORE --ca DIR`".to_string(),
        (false, Some(file)) => format!(
            "replace {} with a fresh CRL from the CA (`pki ca crl --ca DIR` writes DIR/crl/)",
            crate::finding::quoted(file)
        ),
        (false, None) => "give the issuing CA's current CRL with --crl (`pki ca crl --ca DIR` writes DIR/crl/)".to_string(),
    }
}

fn dedup(certs: &mut Vec<Cert>) {
    let mut seen = HashSet::new();
    certs.retain(|c| seen.insert(c.sha256.clone()));
}
