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
use crate::read::csr::Request;
use crate::read::encrypted::{self, Refusal};
use crate::read::key::Key;
use crate::read::password::Password;
use crate::read::pkcs12;
use rustls_pki_types::pem::{self, SectionKind};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use std::path::Path;

/// What one file holds.
#[derive(Debug, Default)]
pub struct Decoded {
    pub certs: Vec<Cert>,
    pub keys: Vec<Key>,
    pub crls: Vec<Crl>,
    /// Certificate requests (PKCS#10): shown by inspect, named where a certificate was expected.
    pub requests: Vec<Request>,
    /// Other PEM objects seen (a public key): noted, not judged.
    pub others: Vec<&'static str>,
    /// Why some or all of the file could not be read; empty when all of it was.
    pub problems: Vec<String>,
    /// Content behind a password that was not opened (an encrypted key, a PKCS#12 file): no
    /// password, a wrong one, or a scheme pki cannot decrypt. Each says which.
    pub locked: Vec<String>,
}

impl Decoded {
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty() && self.keys.is_empty() && self.crls.is_empty()
    }
}

/// How to decode: certificates parsed before, and the password for encrypted content.
#[derive(Clone, Copy, Default)]
pub struct Options<'a> {
    pub cache: Option<&'a CertCache>,
    pub password: Option<&'a Password>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `der` as PEM under `label` (`CERTIFICATE`, `PRIVATE KEY`, `X509 CRL`, …), with LF line
/// ends: how pki writes every PEM file (RFC 7468).
pub fn encode_pem(label: &str, der: &[u8]) -> String {
    let config = ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF);
    ::pem::encode_config(&::pem::Pem::new(label, der), config)
}

/// Reads every certificate, key and CRL in `bytes`, which came from `path`.
pub fn decode(path: &Path, bytes: &[u8]) -> Decoded {
    decode_opts(path, bytes, &Options::default())
}

/// The same, taking certificates parsed before from `cache`.
pub fn decode_with(path: &Path, bytes: &[u8], cache: Option<&CertCache>) -> Decoded {
    decode_opts(
        path,
        bytes,
        &Options {
            cache,
            password: None,
        },
    )
}

/// The same with every option: a certificate cache and a password for encrypted keys and
/// PKCS#12 files.
pub fn decode_opts(path: &Path, bytes: &[u8], opts: &Options<'_>) -> Decoded {
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut out = Decoded::default();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        out.problems.push("the file is empty".to_string());
    } else if contains(bytes, b"-----BEGIN ") {
        decode_pem(path, &normalise(bytes), opts, &mut out);
    } else if bytes.first() == Some(&0x30) {
        decode_der(path, bytes, opts, &mut out);
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

/// One PEM block: its label and its text from the BEGIN line to the END line (or to the end
/// of the file when the END line is missing, for pki-types to call it truncated).
struct Block<'a> {
    label: &'a [u8],
    text: &'a [u8],
}

/// The PEM blocks of `bytes`, in order; text between them is skipped, as pki-types skips it.
fn blocks(bytes: &[u8]) -> Vec<Block<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(begin) = memchr::memmem::find(&bytes[at..], b"-----BEGIN ").map(|i| at + i) {
        // a marker must start its line
        if begin > 0 && bytes[begin - 1] != b'\n' {
            at = begin + 11;
            continue;
        }
        let line_end = memchr::memchr(b'\n', &bytes[begin..]).map_or(bytes.len(), |i| begin + i);
        let line = trim_end(&bytes[begin..line_end]);
        let label = line
            .strip_prefix(b"-----BEGIN ")
            .and_then(|l| l.strip_suffix(b"-----"))
            .unwrap_or(b"");
        let mut end_marker = b"-----END ".to_vec();
        end_marker.extend_from_slice(label);
        end_marker.extend_from_slice(b"-----");
        let end = if label.is_empty() {
            None // a malformed BEGIN line: pki-types names the problem
        } else {
            memchr::memmem::find(&bytes[line_end..], &end_marker)
                .map(|i| line_end + i + end_marker.len())
        };
        let stop = end.map_or(bytes.len(), |e| {
            memchr::memchr(b'\n', &bytes[e..]).map_or(bytes.len(), |i| e + i + 1)
        });
        out.push(Block {
            label,
            text: &bytes[begin..stop],
        });
        at = stop;
    }
    out
}

fn trim_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !matches!(b, b'\r' | b' ' | b'\t'))
        .map_or(0, |i| i + 1);
    &line[..end]
}

fn decode_pem(path: &Path, bytes: &[u8], opts: &Options<'_>, out: &mut Decoded) {
    let mut index = 0;
    let mut seen_block = false;
    for block in blocks(bytes) {
        seen_block = true;
        let origin = Origin {
            path: path.to_path_buf(),
            index,
            of: 0,
        };
        let before = out.certs.len() + out.keys.len() + out.crls.len();
        match special(&block) {
            Some(Special::Renamed(text)) => section(&text, origin, opts, out),
            Some(Special::Encrypted(how)) => encrypted_block(&block, how, origin, opts, out),
            None => section(block.text, origin, opts, out),
        }
        index += out.certs.len() + out.keys.len() + out.crls.len() - before;
    }
    if !seen_block {
        // BEGIN markers, but none at the start of a line
        out.problems
            .push("has PEM markers but no certificate, key or CRL block".to_string());
    } else if out.is_empty()
        && out.problems.is_empty()
        && out.others.is_empty()
        && out.requests.is_empty()
        && out.locked.is_empty()
    {
        out.problems
            .push("has PEM markers but no certificate, key or CRL block".to_string());
    }
}

/// A block pki-types would skip or misread.
enum Special {
    /// A legacy label for a standard object: the block rewritten with today's label.
    Renamed(Vec<u8>),
    /// An encrypted key.
    Encrypted(Encryption),
}

enum Encryption {
    Pkcs8,
    /// `Proc-Type: 4,ENCRYPTED` headers; the label says what the DER inside is.
    Traditional,
}

fn special(block: &Block<'_>) -> Option<Special> {
    let renamed = match block.label {
        b"X509 CERTIFICATE" => b"CERTIFICATE".as_slice(),
        b"NEW CERTIFICATE REQUEST" => b"CERTIFICATE REQUEST".as_slice(),
        b"DSA PRIVATE KEY" if !contains(block.text, b"Proc-Type:") => b"RSA PRIVATE KEY".as_slice(),
        b"ENCRYPTED PRIVATE KEY" => return Some(Special::Encrypted(Encryption::Pkcs8)),
        _ if contains(block.text, b"Proc-Type:") && contains(block.text, b"ENCRYPTED") => {
            return Some(Special::Encrypted(Encryption::Traditional))
        }
        _ => return None,
    };
    // a traditional DSA key has PKCS#1's outer shape; key_algorithm tells them apart
    let mut text = Vec::with_capacity(block.text.len());
    for line in block.text.split(|b| *b == b'\n') {
        let line = trim_end(line);
        if line.starts_with(b"-----BEGIN ") {
            text.extend_from_slice(b"-----BEGIN ");
            text.extend_from_slice(renamed);
            text.extend_from_slice(b"-----");
        } else if line.starts_with(b"-----END ") {
            text.extend_from_slice(b"-----END ");
            text.extend_from_slice(renamed);
            text.extend_from_slice(b"-----");
        } else {
            text.extend_from_slice(line);
        }
        text.push(b'\n');
    }
    Some(Special::Renamed(text))
}

/// One block pki-types reads (the object in it becomes object `origin.index`).
fn section(text: &[u8], origin: Origin, opts: &Options<'_>, out: &mut Decoded) {
    let mut reader = std::io::Cursor::new(text);
    match pem::from_buf(&mut reader) {
        Ok(None) => {} // a label pki-types does not know: not ours to judge
        Ok(Some((kind, der))) => match kind {
            SectionKind::Certificate => push_cert(der, origin, opts.cache, out),
            SectionKind::Crl => push_crl(der, origin, out),
            SectionKind::PrivateKey => push_key(PrivatePkcs8KeyDer::from(der).into(), origin, out),
            SectionKind::RsaPrivateKey => {
                push_key(PrivatePkcs1KeyDer::from(der).into(), origin, out)
            }
            SectionKind::EcPrivateKey => push_key(PrivateSec1KeyDer::from(der).into(), origin, out),
            SectionKind::Csr => push_request(&der, origin, out),
            SectionKind::PublicKey => out.others.push("public key"),
            _ => {}
        },
        Err(e) => out.problems.push(pem_error(&e)),
    }
}

/// An encrypted key block: decrypted with the password, or named as locked.
fn encrypted_block(
    block: &Block<'_>,
    how: Encryption,
    origin: Origin,
    opts: &Options<'_>,
    out: &mut Decoded,
) {
    let n = origin.index + 1;
    let parsed = match ::pem::parse(block.text) {
        Ok(parsed) => parsed,
        Err(e) => {
            return out.problems.push(format!(
                "PEM block {n} (encrypted private key): unreadable ({e})"
            ))
        }
    };
    let opened: Result<PrivateKeyDer<'static>, Refusal> = match how {
        Encryption::Pkcs8 => encrypted::pkcs8(parsed.contents(), opts.password)
            .map(|der| PrivatePkcs8KeyDer::from(der).into()),
        Encryption::Traditional => {
            let dek = parsed.headers().get("DEK-Info").unwrap_or("");
            encrypted::traditional(parsed.contents(), dek, opts.password)
                .map_err(Refusal::Locked)
                .map(|der| match block.label {
                    b"EC PRIVATE KEY" => PrivateSec1KeyDer::from(der).into(),
                    b"PRIVATE KEY" => PrivatePkcs8KeyDer::from(der).into(),
                    // RSA, and DSA, whose outer shape is PKCS#1's (key_algorithm tells)
                    _ => PrivatePkcs1KeyDer::from(der).into(),
                })
        }
    };
    match opened {
        Ok(der) => push_key(der, origin, out),
        Err(Refusal::Locked(locked)) => out.locked.push(format!(
            "PEM block {n}: {}",
            locked.describe("a private key")
        )),
        Err(Refusal::Damaged(why)) => out.problems.push(format!("PEM block {n}: {why}")),
    }
}

fn decode_der(path: &Path, bytes: &[u8], opts: &Options<'_>, out: &mut Decoded) {
    let origin = Origin {
        path: path.to_path_buf(),
        index: 0,
        of: 1,
    };
    let cert_error = match parse_cert(bytes.to_vec(), origin.clone(), opts.cache) {
        Ok(cert) => return out.certs.push(cert),
        Err(e) => e,
    };
    if let Ok(crl) = Crl::from_der(bytes.to_vec(), origin.clone()) {
        return out.crls.push(crl);
    }
    if let Ok(key) = PrivateKeyDer::try_from(bytes) {
        let key = Key::from_der(key.clone_key(), origin.clone());
        if key.algorithm.is_some() || key.signer().is_ok() {
            return out.keys.push(key);
        }
    }
    if let Ok(request) = Request::from_der(bytes, origin.clone()) {
        return out.requests.push(request);
    }
    if pkcs12::looks_like(bytes) {
        return pkcs12_file(path, bytes, opts, out);
    }
    if encrypted::looks_like_pkcs8(bytes) {
        // DER of an EncryptedPrivateKeyInfo (`openssl pkcs8 -topk8 -outform DER`)
        return match encrypted::pkcs8(bytes, opts.password) {
            Ok(der) => push_key(PrivatePkcs8KeyDer::from(der).into(), origin, out),
            Err(Refusal::Locked(locked)) => out.locked.push(locked.describe("a private key")),
            Err(Refusal::Damaged(why)) => out.problems.push(why),
        };
    }
    out.problems.push(format!(
        "DER data that is no certificate, key, CRL, certificate request or PKCS#12 file (read as a certificate: {cert_error})"
    ));
}

/// A PKCS#12 file's certificates and keys, each with its place in the file.
fn pkcs12_file(path: &Path, bytes: &[u8], opts: &Options<'_>, out: &mut Decoded) {
    let contents = match pkcs12::open(bytes, opts.password) {
        Ok(contents) => contents,
        Err(pkcs12::Refusal::Locked(locked)) => {
            return out.locked.push(locked.describe("a PKCS#12 file"))
        }
        Err(pkcs12::Refusal::Damaged(why)) => return out.problems.push(why),
    };
    let mut index = 0;
    for der in contents.certs {
        let origin = Origin {
            path: path.to_path_buf(),
            index,
            of: 0,
        };
        index += 1;
        push_cert(der, origin, opts.cache, out);
    }
    for der in contents.keys {
        let origin = Origin {
            path: path.to_path_buf(),
            index,
            of: 0,
        };
        index += 1;
        push_key(PrivatePkcs8KeyDer::from(der).into(), origin, out);
    }
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
            .push(format!("object {} (certificate): {e}", index + 1)),
    }
}

fn push_crl(der: Vec<u8>, origin: Origin, out: &mut Decoded) {
    let index = origin.index;
    match Crl::from_der(der, origin) {
        Ok(crl) => out.crls.push(crl),
        Err(e) => out
            .problems
            .push(format!("object {} (CRL): {e}", index + 1)),
    }
}

fn push_key(der: PrivateKeyDer<'static>, origin: Origin, out: &mut Decoded) {
    let index = origin.index;
    let key = Key::from_der(der, origin);
    if key.algorithm.is_none() && key.signer().is_err() {
        out.problems.push(format!(
            "object {} (private key): not a valid private key ({})",
            index + 1,
            key.signer().err().unwrap_or("unknown format")
        ));
    } else {
        out.keys.push(key);
    }
}

fn push_request(der: &[u8], origin: Origin, out: &mut Decoded) {
    let index = origin.index;
    match Request::from_der(der, origin) {
        Ok(request) => out.requests.push(request),
        Err(e) => out
            .problems
            .push(format!("object {} (certificate request): {e}", index + 1)),
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
