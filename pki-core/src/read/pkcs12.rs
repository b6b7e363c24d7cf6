//! PKCS#12 (`.p12`, `.pfx`; RFC 7292): what Windows exports and `openssl pkcs12 -export`
//! writes, with its default PBES2/AES-256 encryption and SHA-256 MAC, with `-legacy` (RC2-40
//! certificates, 3DES key, SHA-1 MAC), or with Windows' TripleDES-SHA1 choice. Opened by the
//! p12-keystore crate (its bag-level `Pkcs12Archive`, so that every certificate and key comes
//! out, linked or not); its MAC is checked first, so a wrong password is named as such.
//!
//! A file without a password given is tried with the empty one (`-passout pass:`, and what
//! some tools write when asked for none).

use crate::read::encrypted::Locked;
pub use crate::read::encrypted::Refusal;
use crate::read::password::Password;
use x509_parser::der_parser::ber::BerObjectContent;
use x509_parser::der_parser::der::parse_der;

/// What a PKCS#12 file holds: certificates and PKCS#8 private keys, DER, in file order.
#[derive(Default)]
pub struct Contents {
    pub certs: Vec<Vec<u8>>,
    pub keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Contents({} certs, {} keys)",
            self.certs.len(),
            self.keys.len()
        )
    }
}

/// The scheme is named by "a PKCS#12 file" already.
const SCHEME: &str = "";

/// Whether `der` has PKCS#12's outer shape: `PFX ::= SEQUENCE { version INTEGER (3),
/// authSafe ContentInfo, ... }` (RFC 7292 §4).
pub fn looks_like(der: &[u8]) -> bool {
    let Ok((_, pfx)) = parse_der(der) else {
        return false;
    };
    let Ok(seq) = pfx.as_sequence() else {
        return false;
    };
    let version_3 = seq
        .first()
        .is_some_and(|v| matches!(&v.content, BerObjectContent::Integer(n) if *n == [3]));
    let content_info = seq
        .get(1)
        .and_then(|c| c.as_sequence().ok())
        .is_some_and(|c| {
            c.first()
                .and_then(|oid| oid.as_oid().ok())
                .is_some_and(|oid| oid.to_id_string().starts_with("1.2.840.113549.1.7."))
        });
    version_3 && content_info
}

/// Opens a PKCS#12 file with `password` (without one: the empty password).
pub fn open(der: &[u8], password: Option<&Password>) -> Result<Contents, Refusal> {
    let tried = password.map_or("", Password::as_str);
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(der, tried).map_err(|e| {
        use p12_keystore::error::Error as E;
        let scheme = SCHEME.to_string();
        match e {
            // the MAC (or, without one, the padding of a decrypted bag) says the password is wrong
            E::MacError(_) | E::UnpadError | E::Pkcs5Error(_) => Refusal::Locked(match password {
                Some(_) => Locked::WrongPassword { scheme },
                None => Locked::NoPassword { scheme },
            }),
            E::UnsupportedEncryptionScheme | E::UnsupportedMacAlgorithm => {
                Refusal::Locked(Locked::Unsupported {
                    scheme: "a PKCS#12 scheme pki cannot open (MD5-based or unknown)".to_string(),
                })
            }
            E::InvalidParameters => Refusal::Damaged(
                "its key derivation asks for more rounds than pki accepts (over 1,000,000)"
                    .to_string(),
            ),
            other => Refusal::Damaged(format!("not readable as PKCS#12 ({other})")),
        }
    })?;
    Ok(Contents {
        certs: archive
            .certs
            .into_iter()
            .map(|bag| bag.cert.as_der().to_vec())
            .collect(),
        keys: archive
            .keys
            .into_iter()
            .map(|bag| bag.key.as_der().to_vec())
            .collect(),
    })
}
