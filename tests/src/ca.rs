//! A CA folder made by `pki ca init` and stores made by `pki enroll`, for the tests of what
//! installers run.

use crate::run::{pki, Run};
use crate::store::TempDir;
use std::path::{Path, PathBuf};

/// A CA made with `pki ca init` at `at` inside `dir/ca`.
pub fn init(dir: &TempDir, at: &str, extra: &[&str]) -> PathBuf {
    let ca = dir.join("ca");
    let mut args = vec!["ca", "init", ca.to_str().expect("utf-8"), "--at", at];
    args.extend_from_slice(extra);
    let run = pki(&args);
    assert_eq!(run.code, 0, "pki ca init: {}{}", run.stdout, run.stderr);
    ca
}

/// `pki enroll STORE --ca CA --device-id ID --at AT` plus `extra`.
pub fn enroll(store: &Path, ca: &Path, id: &str, at: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "enroll",
        store.to_str().expect("utf-8"),
        "--ca",
        ca.to_str().expect("utf-8"),
        "--device-id",
        id,
        "--at",
        at,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    pki(&args)
}

/// SHA-256 of every file under `dir` (relative path → hash), to prove a command changed nothing.
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<String, String> {
    entries(dir, false)
}

/// Every entry under `dir`: a file's SHA-256 and mode, a folder's mode (relative path →
/// either), to prove a dry run changed nothing — not a byte, not a mode, not an empty folder.
/// A `dir` that does not exist is an empty map.
pub fn snapshot_all(dir: &Path) -> std::collections::BTreeMap<String, String> {
    entries(dir, true)
}

fn entries(dir: &Path, all: bool) -> std::collections::BTreeMap<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = std::collections::BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("stat");
            let mode = meta.permissions().mode() & 0o7777;
            let rel = path
                .strip_prefix(dir)
                .expect("prefix")
                .display()
                .to_string();
            if meta.is_dir() {
                stack.push(path);
                if all {
                    out.insert(rel, format!("folder {mode:o}"));
                }
            } else {
                let bytes = std::fs::read(&path).expect("read");
                let hash = pki_core::read::cert::sha256_hex(&bytes);
                out.insert(
                    rel,
                    if all {
                        format!("{hash} {mode:o}")
                    } else {
                        hash
                    },
                );
            }
        }
    }
    out
}

/// The CA folder's generation `id` (`issuing-1`) as an rcgen issuer: its certificate and key.
fn issuer_of(ca: &Path, id: &str) -> rcgen::Issuer<'static, rcgen::KeyPair> {
    let read = |ext: &str| {
        std::fs::read_to_string(ca.join(format!("{id}.{ext}")))
            .unwrap_or_else(|e| panic!("{id}.{ext}: {e}"))
    };
    let key = rcgen::KeyPair::from_pem(&read("key")).expect("CA key");
    rcgen::Issuer::from_ca_cert_pem(&read("crt"), key).expect("CA certificate")
}

/// A CRL of the CA's generation `id` as `pki ca crl` made them before the CA partitioned its
/// CRLs: no IssuingDistributionPoint, so it covers every certificate of its issuer's name.
/// Numbered `number`, valid from `at` for 7 days, listing `revoked` (serials, colon hex); PEM.
pub fn unpartitioned_crl(ca: &Path, id: &str, number: u64, at: &str, revoked: &[&str]) -> String {
    let this_update = crate::at(at);
    let revoked_certs = revoked
        .iter()
        .map(|serial| rcgen::RevokedCertParams {
            serial_number: rcgen::SerialNumber::from_slice(&colon_hex_bytes(serial)),
            revocation_time: this_update,
            reason_code: None,
            invalidity_date: None,
        })
        .collect();
    rcgen::CertificateRevocationListParams {
        this_update,
        next_update: this_update + time::Duration::days(7),
        crl_number: rcgen::SerialNumber::from(number),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    }
    .signed_by(&issuer_of(ca, id))
    .expect("CRL")
    .pem()
    .expect("PEM")
}

/// Replaces `store`'s device certificate by the one `pki` issued before the CA partitioned
/// its CRLs: the same subject, names, key, usages, validity and serial (so the inventory
/// knows it and can revoke it), signed by the CA's generation `id`, without the
/// cRLDistributionPoints extension; installed with `pki store install` (journaled, so the
/// store is not tampered with) at `at`. Returns its serial (colon hex).
pub fn without_distribution_point(store: &Path, ca: &Path, id: &str, at: &str) -> String {
    let path = store.join("device.crt");
    let pem = std::fs::read(&path).expect("device.crt");
    let cert = pki_core::read::decode::decode(&path, &pem)
        .certs
        .into_iter()
        .next()
        .expect("a certificate in device.crt");
    assert!(
        cert.crl_distribution_points.is_some(),
        "pki issues certificates with a CRL distribution point"
    );
    let mut p = rcgen::CertificateParams::default();
    let (_, x509) = x509_parser::parse_x509_certificate(&cert.der).expect("X.509");
    p.distinguished_name = rcgen::DistinguishedName::new();
    for attr in x509.subject().iter_attributes() {
        let value = attr.as_str().expect("a text attribute").to_string();
        if attr.attr_type() == &x509_parser::oid_registry::OID_X509_ORGANIZATION_NAME {
            p.distinguished_name
                .push(rcgen::DnType::OrganizationName, value);
        } else if attr.attr_type() == &x509_parser::oid_registry::OID_X509_COMMON_NAME {
            p.distinguished_name.push(rcgen::DnType::CommonName, value);
        }
    }
    for san in &cert.sans {
        p.subject_alt_names.push(match san.split_once(':') {
            Some(("DNS", dns)) => rcgen::SanType::DnsName(dns.try_into().expect("DNS")),
            Some(("URI", uri)) => rcgen::SanType::URI(uri.try_into().expect("URI")),
            _ => panic!("a SAN pki does not issue: {san}"),
        });
    }
    p.is_ca = rcgen::IsCa::ExplicitNoCa;
    p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    p.not_before = cert.not_before;
    p.not_after = cert.not_after;
    p.serial_number = Some(rcgen::SerialNumber::from_slice(&cert.serial_raw));
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = rcgen::KeyIdMethod::Sha256;
    let public = rcgen::SubjectPublicKeyInfo::from_der(&cert.spki).expect("SPKI");
    let legacy = p
        .signed_by(&public, &issuer_of(ca, id))
        .expect("signing")
        .pem();
    let file = store.with_extension("legacy.crt");
    std::fs::write(&file, legacy).expect("write the certificate");
    let run = pki([
        "store",
        "install",
        store.to_str().expect("utf-8"),
        file.to_str().expect("utf-8"),
        "--at",
        at,
    ]);
    assert_eq!(
        run.code, 0,
        "pki store install: {}{}",
        run.stdout, run.stderr
    );
    cert.serial.clone()
}

fn colon_hex_bytes(serial: &str) -> Vec<u8> {
    serial
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).expect("colon hex"))
        .collect()
}
