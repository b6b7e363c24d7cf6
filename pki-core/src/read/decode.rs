//! Bytes from the field to certificates, keys and CRLs: PEM or DER, several objects per file,
//! and the mess real files carry (a UTF-8 BOM, CRLF line ends, "Bag Attributes" and
//! `openssl x509 -text` output around the PEM blocks).
//!
//! PEM is parsed by rustls-pki-types (`pem::from_buf`, the successor of rustls-pemfile). Its
//! parser only sees a `-----BEGIN` marker at the very start of a line, so two inputs need a
//! normalising pass first: a UTF-8 BOM (which hides the first marker) and PEM indented by
//! spaces or tabs (as pasted into mails and YAML). Text around blocks and CRLF line ends it
//! handles on its own.

use crate::origin::Origin;
use crate::read::cert::Cert;
use crate::read::cert_cache::CertCache;
use crate::read::crl::Crl;
use crate::read::key::Key;
use rustls_pki_types::pem::{self, SectionKind};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use std::path::Path;

/// What one file holds.
#[derive(Debug, Default)]
pub struct Decoded {
    pub certs: Vec<Cert>,
    pub keys: Vec<Key>,
    pub crls: Vec<Crl>,
    /// Other PEM objects seen (a CSR, a public key): noted, not judged.
    pub others: Vec<&'static str>,
    /// Why some or all of the file could not be read; empty when all of it was.
    pub problems: Vec<String>,
}

impl Decoded {
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty() && self.keys.is_empty() && self.crls.is_empty()
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Reads every certificate, key and CRL in `bytes`, which came from `path`.
pub fn decode(path: &Path, bytes: &[u8]) -> Decoded {
    decode_with(path, bytes, None)
}

/// The same, taking certificates parsed before from `cache`.
pub fn decode_with(path: &Path, bytes: &[u8], cache: Option<&CertCache>) -> Decoded {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut out = Decoded::default();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        out.problems.push("the file is empty".to_string());
    } else if contains(bytes, b"-----BEGIN ") {
        decode_pem(path, &normalise(bytes), cache, &mut out);
    } else if bytes.first() == Some(&0x30) {
        decode_der(path, bytes, cache, &mut out);
    } else {
        out.problems
            .push("neither PEM nor DER: no certificate, key or CRL in it".to_string());
    }
    let of = out.certs.len() + out.keys.len() + out.crls.len();
    out.certs.iter_mut().for_each(|c| c.origin.of = of);
    out.keys.iter_mut().for_each(|k| k.origin.of = of);
    out.crls.iter_mut().for_each(|c| c.origin.of = of);
    out
}

/// Moves indented PEM markers and base64 lines to the start of their line; everything else
/// passes through untouched. Borrowed when nothing needs changing.
fn normalise(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let indented = bytes.split(|b| *b == b'\n').any(|line| {
        line.first().is_some_and(|b| *b == b' ' || *b == b'\t') && contains(line, b"-----BEGIN ")
    });
    if !indented {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    for line in bytes.split(|b| *b == b'\n') {
        let start = line
            .iter()
            .position(|b| *b != b' ' && *b != b'\t')
            .unwrap_or(line.len());
        out.extend_from_slice(&line[start..]);
        out.push(b'\n');
    }
    std::borrow::Cow::Owned(out)
}

fn decode_pem(path: &Path, bytes: &[u8], cache: Option<&CertCache>, out: &mut Decoded) {
    if contains(bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        out.problems.push(
            "holds an encrypted private key; decrypt it first (openssl pkcs8 -in F -out F.key)"
                .to_string(),
        );
    }
    let mut reader = std::io::Cursor::new(bytes);
    let mut index = 0;
    loop {
        match pem::from_buf(&mut reader) {
            Ok(None) => break,
            Ok(Some((kind, der))) => {
                let origin = Origin {
                    path: path.to_path_buf(),
                    index,
                    of: 0,
                };
                index += 1;
                match kind {
                    SectionKind::Certificate => push_cert(der, origin, cache, out),
                    SectionKind::Crl => push_crl(der, origin, out),
                    SectionKind::PrivateKey => {
                        push_key(PrivatePkcs8KeyDer::from(der).into(), origin, out)
                    }
                    SectionKind::RsaPrivateKey => {
                        push_key(PrivatePkcs1KeyDer::from(der).into(), origin, out)
                    }
                    SectionKind::EcPrivateKey => {
                        push_key(PrivateSec1KeyDer::from(der).into(), origin, out)
                    }
                    SectionKind::Csr => {
                        index -= 1;
                        out.others.push("certificate request")
                    }
                    SectionKind::PublicKey => {
                        index -= 1;
                        out.others.push("public key")
                    }
                    _ => index -= 1,
                }
            }
            Err(e) => {
                out.problems.push(pem_error(&e));
                break;
            }
        }
    }
    if out.is_empty() && out.problems.is_empty() && out.others.is_empty() {
        out.problems
            .push("has PEM markers but no certificate, key or CRL block".to_string());
    }
}

fn decode_der(path: &Path, bytes: &[u8], cache: Option<&CertCache>, out: &mut Decoded) {
    let origin = Origin {
        path: path.to_path_buf(),
        index: 0,
        of: 1,
    };
    let cert_error = match parse_cert(bytes.to_vec(), origin.clone(), cache) {
        Ok(cert) => return out.certs.push(cert),
        Err(e) => e,
    };
    if let Ok(crl) = Crl::from_der(bytes.to_vec(), origin.clone()) {
        return out.crls.push(crl);
    }
    if let Ok(key) = PrivateKeyDer::try_from(bytes) {
        let key = Key::from_der(key.clone_key(), origin);
        if key.algorithm.is_some() || key.signer().is_ok() {
            return out.keys.push(key);
        }
    }
    out.problems.push(format!(
        "DER data that is no certificate, key or CRL: {cert_error}"
    ));
}

fn parse_cert(der: Vec<u8>, origin: Origin, cache: Option<&CertCache>) -> Result<Cert, String> {
    match cache {
        Some(cache) => cache.parse(der, origin),
        None => Cert::from_der(der, origin),
    }
}

fn push_cert(der: Vec<u8>, origin: Origin, cache: Option<&CertCache>, out: &mut Decoded) {
    let index = origin.index;
    match parse_cert(der, origin, cache) {
        Ok(cert) => out.certs.push(cert),
        Err(e) => out
            .problems
            .push(format!("PEM block {} (CERTIFICATE): {e}", index + 1)),
    }
}

fn push_crl(der: Vec<u8>, origin: Origin, out: &mut Decoded) {
    let index = origin.index;
    match Crl::from_der(der, origin) {
        Ok(crl) => out.crls.push(crl),
        Err(e) => out
            .problems
            .push(format!("PEM block {} (X509 CRL): {e}", index + 1)),
    }
}

fn push_key(der: PrivateKeyDer<'static>, origin: Origin, out: &mut Decoded) {
    let index = origin.index;
    let key = Key::from_der(der, origin);
    if key.algorithm.is_none() && key.signer().is_err() {
        out.problems.push(format!(
            "PEM block {} (private key): not a valid private key ({})",
            index + 1,
            key.signer().err().unwrap_or("unknown format")
        ));
    } else {
        out.keys.push(key);
    }
}

fn pem_error(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "truncated: a PEM block has no END line (-----END {}-----)",
            String::from_utf8_lossy(end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => format!(
            "malformed PEM BEGIN line: {}",
            String::from_utf8_lossy(line).trim()
        ),
        pem::Error::Base64Decode(detail) => format!("a PEM block is not valid base64 ({detail})"),
        other => format!("unreadable PEM ({other})"),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["dev".to_string()]).unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    fn pki_types_count(bytes: &[u8]) -> usize {
        let mut reader = std::io::Cursor::new(bytes);
        let mut n = 0;
        while let Ok(Some(_)) = pem::from_buf(&mut reader) {
            n += 1;
        }
        n
    }

    /// Evidence for the module's note: which inputs need the normalising pass.
    #[test]
    fn a_bom_and_indentation_need_normalising_crlf_and_text_do_not() {
        let pem = pem();
        let bom = format!("\u{feff}{pem}");
        let indented: String = pem.lines().map(|l| format!("  {l}\n")).collect();
        let crlf = pem.replace('\n', "\r\n");
        let text = format!("Bag Attributes\n    friendlyName: dev\n{pem}");
        assert_eq!(
            pki_types_count(bom.as_bytes()),
            0,
            "pki-types misses a block behind a BOM"
        );
        assert_eq!(
            pki_types_count(indented.as_bytes()),
            0,
            "pki-types misses indented blocks"
        );
        assert_eq!(pki_types_count(crlf.as_bytes()), 1);
        assert_eq!(pki_types_count(text.as_bytes()), 1);
        for input in [&bom, &indented, &crlf, &text] {
            let d = decode(Path::new("x.pem"), input.as_bytes());
            assert_eq!(d.certs.len(), 1, "{input}");
            assert!(d.problems.is_empty(), "{:?}", d.problems);
        }
    }

    #[test]
    fn truncated_pem_is_a_problem_not_a_panic() {
        let pem = pem();
        let d = decode(Path::new("x.pem"), &pem.as_bytes()[..pem.len() / 2]);
        assert!(d.certs.is_empty());
        assert!(d.problems[0].contains("truncated"), "{:?}", d.problems);
    }
}
