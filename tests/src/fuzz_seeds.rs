//! Seed corpora for the fuzz targets in `fuzz/` (see the README's *Fuzzing*): the PKI the tests
//! build (rcgen certificates, keys, CRLs and requests, in PEM and DER and the messy forms the
//! field carries), the shipped policies, and a store enrolled and repaired by pki-core itself
//! for its `store.yaml` and `journal.jsonl`.

use crate::pki::Ca;
use std::fs;
use std::io;
use std::path::Path;

/// Writes one seed: target, file name, bytes.
type Seed<'a> = dyn Fn(&str, &str, &[u8]) -> io::Result<()> + 'a;

/// Writes `out/<target>/<name>` for every fuzz target.
pub fn write(out: &Path, policies: &Path) -> io::Result<()> {
    let root = Ca::root("Seed Root CA");
    let issuing = root.intermediate("Seed Issuing CA");
    let leaf = issuing.leaf("seed-device");
    let other = issuing.leaf("seed-other");
    let crl = issuing.crl(&[&other], "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z");
    let crl_der = pem_body(&crl);
    let key_pem = leaf.key_pem();
    let key_der = leaf.key.serialize_der();
    let chain = format!("{}{}", issuing.pem, root.pem);

    let seed = |target: &str, name: &str, bytes: &[u8]| -> io::Result<()> {
        let dir = out.join(target);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join(name), bytes)
    };

    // decode: every form a file of a store may take
    let bag = format!(
        "Bag Attributes\n    localKeyID: 01\nsubject=CN=seed\n{}",
        leaf.pem
    );
    let indented: String = leaf.pem.lines().map(|l| format!("    {l}\n")).collect();
    let bom = [b"\xEF\xBB\xBF".as_slice(), leaf.pem.as_bytes()].concat();
    let crlf = leaf.pem.replace('\n', "\r\n");
    // a certificate request, a legacy label, and the two encrypted key forms' outer shapes
    let request = {
        let mut params = rcgen::CertificateParams::new(vec!["seed.fleet".to_string()])
            .map_err(io::Error::other)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "seed");
        params
            .serialize_request(&leaf.key)
            .map_err(io::Error::other)?
    };
    let csr_pem = request.pem().map_err(io::Error::other)?;
    let legacy = leaf
        .pem
        .replace("BEGIN CERTIFICATE", "BEGIN X509 CERTIFICATE")
        .replace("END CERTIFICATE", "END X509 CERTIFICATE");
    let traditional = format!(
        "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,0102030405060708090A0B0C0D0E0F10\n\n{}-----END EC PRIVATE KEY-----\n",
        key_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
    for (name, bytes) in [
        ("csr.pem", csr_pem.as_bytes()),
        ("csr.der", request.der().as_ref()),
        ("x509-label.pem", legacy.as_bytes()),
        ("traditional-encrypted.key", traditional.as_bytes()),
        ("leaf.pem", leaf.pem.as_bytes()),
        ("leaf.der", leaf.der.as_slice()),
        ("chain.pem", chain.as_bytes()),
        ("key.pem", key_pem.as_bytes()),
        ("key.der", key_der.as_slice()),
        ("crl.pem", crl.as_bytes()),
        ("crl.der", crl_der.as_slice()),
        ("bag.pem", bag.as_bytes()),
        ("indented.pem", indented.as_bytes()),
        ("bom.pem", bom.as_slice()),
        ("crlf.pem", crlf.as_bytes()),
    ] {
        seed("decode", name, bytes)?;
    }
    for (name, bytes) in [
        ("cert.der", leaf.der.as_slice()),
        ("ca.der", issuing.der.as_slice()),
        ("crl.der", crl_der.as_slice()),
        ("key.der", key_der.as_slice()),
    ] {
        seed("der_objects", name, bytes)?;
    }
    for entry in fs::read_dir(policies)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            seed("policy_yaml", &name, &fs::read(&path)?)?;
        }
    }
    // csr_sign: requests of every key type the policy may accept, PEM and DER
    for (name, alg) in [
        ("p256", &rcgen::PKCS_ECDSA_P256_SHA256),
        ("p384", &rcgen::PKCS_ECDSA_P384_SHA384),
        ("ed25519", &rcgen::PKCS_ED25519),
    ] {
        let key = rcgen::KeyPair::generate_for(alg).map_err(io::Error::other)?;
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("seed-{name}"));
        let csr = params.serialize_request(&key).map_err(io::Error::other)?;
        seed("csr_sign", &format!("{name}.der"), csr.der())?;
        seed(
            "csr_sign",
            &format!("{name}.pem"),
            csr.pem().map_err(io::Error::other)?.as_bytes(),
        )?;
    }
    // diagnose: framed parts (certificate, key, chain, trust, CRL)
    let framed = |parts: &[&[u8]]| -> Vec<u8> {
        let mut out = Vec::new();
        for part in parts {
            out.extend_from_slice(&(part.len() as u16).to_le_bytes());
            out.extend_from_slice(part);
        }
        out
    };
    let other_key = other.key_pem();
    for (name, parts) in [
        (
            "healthy",
            vec![
                leaf.pem.as_bytes(),
                key_pem.as_bytes(),
                issuing.pem.as_bytes(),
                root.pem.as_bytes(),
                crl.as_bytes(),
            ],
        ),
        (
            "key-mismatch",
            vec![
                leaf.pem.as_bytes(),
                other_key.as_bytes(),
                issuing.pem.as_bytes(),
                root.pem.as_bytes(),
            ],
        ),
        (
            "chain-missing",
            vec![
                leaf.pem.as_bytes(),
                key_pem.as_bytes(),
                b"",
                root.pem.as_bytes(),
            ],
        ),
        (
            "revoked",
            vec![
                other.pem.as_bytes(),
                other_key.as_bytes(),
                issuing.pem.as_bytes(),
                root.pem.as_bytes(),
                crl.as_bytes(),
            ],
        ),
    ] {
        seed("diagnose", name, &framed(&parts))?;
    }
    store_files(out, &seed)
}

/// `store.yaml` and `journal.jsonl` of a store enrolled, broken and repaired by pki-core.
fn store_files(out: &Path, seed: &Seed<'_>) -> io::Result<()> {
    let work = out.join(".work");
    let _ = fs::remove_dir_all(&work);
    let at = crate::at("2026-02-01T00:00:00Z");
    let ca = work.join("ca");
    let store = work.join("store");
    let authority = pki_core::ca::init(&ca, "Seed", &pki_core::Policy::default(), None, None, at)
        .map_err(io::Error::other)?;
    let enrollment = pki_core::lifecycle::enroll::Enrollment {
        store: store.clone(),
        device_id: "seed-device".into(),
        policy: None,
        key: None,
        at,
        force: false,
        password: None,
        dry_run: false,
    };
    pki_core::lifecycle::enroll::enroll(&enrollment, &authority).map_err(io::Error::other)?;
    fs::remove_file(store.join("chain.pem"))?;
    let repair = pki_core::lifecycle::repair::Request {
        store: store.clone(),
        trust: None,
        dry_run: false,
        at: crate::at(crate::AT),
        policy: pki_core::Policy::default(),
    };
    pki_core::lifecycle::repair::repair(&repair, Some(&authority)).map_err(io::Error::other)?;
    seed(
        "manifest_yaml",
        "store.yaml",
        &fs::read(store.join("store.yaml"))?,
    )?;
    seed(
        "manifest_yaml",
        "hostile.yaml",
        b"schema: 1\ndevice_id: x\npolicy: device\nfiles:\n  /etc/passwd: 00\n  ../../x: 00\n  crl/a.crl: 00\n",
    )?;
    seed(
        "journal_lines",
        "journal.jsonl",
        &fs::read(store.join("journal.jsonl"))?,
    )?;
    let _ = fs::remove_dir_all(&work);
    Ok(())
}

/// The DER inside a PEM block.
fn pem_body(pem: &str) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateRevocationListDer::from_pem_slice(pem.as_bytes())
        .map(|der| der.to_vec())
        .unwrap_or_default()
}
