//! Encrypted private keys, in both forms the field carries: PKCS#8 `ENCRYPTED PRIVATE KEY`
//! (RFC 5958 §3, PBES2 of RFC 8018: what `openssl pkcs8 -topk8` and `openssl genpkey -aes256`
//! write) and OpenSSL's traditional PEM with `Proc-Type: 4,ENCRYPTED` and `DEK-Info` headers
//! (RFC 1421 headers, the key derived with OpenSSL's `EVP_BytesToKey`: MD5, one round, the
//! IV's first eight bytes as salt; what `openssl genrsa -aes256` and `-traditional` write).
//!
//! With the right password the key comes back as plain DER; without one, or with a wrong one,
//! the answer says which ([`Locked`]). Work factors are bounded: a file cannot make the
//! toolkit spin for minutes.

use crate::read::password::Password;
use cbc::cipher::{block_padding::Pkcs7, BlockModeDecrypt, KeyIvInit};
use md5::{Digest, Md5};
use pkcs8::pkcs5::{self, pbes2};

/// PBKDF2 rounds accepted from a file (OpenSSL writes 2,048; OWASP asks for 600,000).
const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;
/// scrypt memory accepted from a file (128 · N · r bytes; OpenSSL writes 16 MiB).
const MAX_SCRYPT_BYTES: u64 = 256 * 1024 * 1024;

/// Why an encrypted key was not opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locked {
    /// No password was given.
    NoPassword { scheme: String },
    /// The password given does not decrypt it.
    WrongPassword { scheme: String },
    /// Encrypted in a way this toolkit does not decrypt.
    Unsupported { scheme: String },
}

/// Why encrypted content was not opened: locked, or not readable at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Locked(Locked),
    /// Damaged (truncated, not the structure it claims to be).
    Damaged(String),
}

impl Locked {
    /// "an encrypted private key (PBES2, AES-256-CBC); no password was given".
    pub fn describe(&self, what: &str) -> String {
        let how = |scheme: &str| {
            if scheme.is_empty() {
                String::new()
            } else {
                format!(" ({scheme})")
            }
        };
        match self {
            Locked::NoPassword { scheme } => format!(
                "{what} protected by a password{}; no password was given",
                how(scheme)
            ),
            Locked::WrongPassword { scheme } => format!(
                "{what} protected by a password{}; the password given does not open it",
                how(scheme)
            ),
            Locked::Unsupported { scheme } => {
                format!("{what} encrypted with {scheme}, which pki cannot decrypt")
            }
        }
    }
}

/// Whether `der` has the shape of an `EncryptedPrivateKeyInfo`: SEQUENCE { AlgorithmIdentifier
/// SEQUENCE { OID, ... }, OCTET STRING }.
pub fn looks_like_pkcs8(der: &[u8]) -> bool {
    use x509_parser::der_parser::ber::BerObjectContent;
    let Ok((rest, info)) = x509_parser::der_parser::der::parse_der(der) else {
        return false;
    };
    let Ok(seq) = info.as_sequence() else {
        return false;
    };
    rest.is_empty()
        && seq.len() == 2
        && seq[0]
            .as_sequence()
            .is_ok_and(|alg| alg.first().is_some_and(|oid| oid.as_oid().is_ok()))
        && matches!(seq[1].content, BerObjectContent::OctetString(_))
}

/// Decrypts a PKCS#8 `EncryptedPrivateKeyInfo`; the plain PKCS#8 DER on success.
pub fn pkcs8(der: &[u8], password: Option<&Password>) -> Result<Vec<u8>, Refusal> {
    if !looks_like_pkcs8(der) {
        return Err(Refusal::Damaged(
            "an encrypted private key that cannot be read: truncated or damaged".to_string(),
        ));
    }
    pkcs8_locked(der, password).map_err(Refusal::Locked)
}

fn pkcs8_locked(der: &[u8], password: Option<&Password>) -> Result<Vec<u8>, Locked> {
    let info =
        pkcs8::EncryptedPrivateKeyInfoRef::try_from(der).map_err(|_| Locked::Unsupported {
            scheme: scheme_oid(der),
        })?;
    let scheme = match &info.encryption_algorithm {
        pkcs5::EncryptionScheme::Pbes2(params) => {
            let name = pbes2_name(params);
            if let Some(why) = too_costly(&params.kdf) {
                return Err(Locked::Unsupported {
                    scheme: format!("{name}, {why}"),
                });
            }
            name
        }
        _ => {
            return Err(Locked::Unsupported {
                scheme: scheme_oid(der),
            })
        }
    };
    let Some(password) = password else {
        return Err(Locked::NoPassword { scheme });
    };
    info.decrypt(password.as_str())
        .map(|doc| doc.as_bytes().to_vec())
        .map_err(|_| Locked::WrongPassword { scheme })
}

/// Decrypts the body of a traditional PEM key whose `DEK-Info` header is `dek_info`
/// (`AES-256-CBC,<hex IV>`); the plain DER on success.
pub fn traditional(
    body: &[u8],
    dek_info: &str,
    password: Option<&Password>,
) -> Result<Vec<u8>, Locked> {
    let (cipher, iv_hex) = dek_info.split_once(',').unwrap_or((dek_info, ""));
    let cipher = cipher.trim().to_ascii_uppercase();
    let scheme = format!("OpenSSL traditional, {cipher}");
    let key_len = match cipher.as_str() {
        "AES-128-CBC" => 16,
        "AES-192-CBC" => 24,
        "AES-256-CBC" => 32,
        "DES-EDE3-CBC" => 24,
        _ => return Err(Locked::Unsupported { scheme }),
    };
    let iv = hex(iv_hex.trim()).ok_or_else(|| Locked::Unsupported {
        scheme: format!("{scheme} with an unreadable IV"),
    })?;
    let Some(password) = password else {
        return Err(Locked::NoPassword { scheme });
    };
    if iv.len() < 8 {
        return Err(Locked::Unsupported { scheme });
    }
    let key = bytes_to_key(password.as_str().as_bytes(), &iv[..8], key_len);
    let plain = match cipher.as_str() {
        "AES-128-CBC" => cbc_decrypt::<aes::Aes128>(&key, &iv, body),
        "AES-192-CBC" => cbc_decrypt::<aes::Aes192>(&key, &iv, body),
        "AES-256-CBC" => cbc_decrypt::<aes::Aes256>(&key, &iv, body),
        _ => cbc_decrypt::<des::TdesEde3>(&key, &iv, body),
    };
    // a wrong password passes the padding check one time in 256: the DER must parse as well
    match plain {
        Some(der) if is_one_sequence(&der) => Ok(der),
        _ => Err(Locked::WrongPassword { scheme }),
    }
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], data: &[u8]) -> Option<Vec<u8>>
where
    cbc::Decryptor<C>: KeyIvInit + BlockModeDecrypt,
    C: cbc::cipher::BlockCipherDecrypt,
{
    cbc::Decryptor::<C>::new_from_slices(key, iv)
        .ok()?
        .decrypt_padded_vec::<Pkcs7>(data)
        .ok()
}

/// OpenSSL's `EVP_BytesToKey` with MD5 and one round: D_i = MD5(D_{i-1} ‖ password ‖ salt).
fn bytes_to_key(password: &[u8], salt: &[u8], len: usize) -> Vec<u8> {
    let mut key = Vec::with_capacity(len + 16);
    let mut previous: Vec<u8> = Vec::new();
    while key.len() < len {
        let mut md5 = Md5::new();
        md5.update(&previous);
        md5.update(password);
        md5.update(salt);
        previous = md5.finalize().to_vec();
        key.extend_from_slice(&previous);
    }
    key.truncate(len);
    key
}

/// Whether `der` is exactly one DER SEQUENCE.
fn is_one_sequence(der: &[u8]) -> bool {
    matches!(
        x509_parser::der_parser::der::parse_der(der),
        Ok((rest, obj)) if rest.is_empty() && obj.as_sequence().is_ok()
    )
}

fn hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The name of an encryption scheme pkcs5 does not read, from its OID.
fn scheme_oid(der: &[u8]) -> String {
    let oid = x509_parser::der_parser::der::parse_der(der)
        .ok()
        .and_then(|(_, info)| {
            let seq = info.as_sequence().ok()?;
            let alg = seq.first()?.as_sequence().ok()?;
            Some(alg.first()?.as_oid().ok()?.to_id_string())
        })
        .unwrap_or_default();
    let name = match oid.as_str() {
        "1.2.840.113549.1.12.1.1" => "pbeWithSHAAnd128BitRC4",
        "1.2.840.113549.1.12.1.2" => "pbeWithSHAAnd40BitRC4",
        "1.2.840.113549.1.12.1.3" => "pbeWithSHAAnd3-KeyTripleDES-CBC",
        "1.2.840.113549.1.12.1.4" => "pbeWithSHAAnd2-KeyTripleDES-CBC",
        "1.2.840.113549.1.12.1.5" => "pbeWithSHAAnd128BitRC2-CBC",
        "1.2.840.113549.1.12.1.6" => "pbeWithSHAAnd40BitRC2-CBC",
        "1.2.840.113549.1.5.3" => "pbeWithMD5AndDES-CBC (PBES1)",
        "1.2.840.113549.1.5.10" => "pbeWithSHA1AndDES-CBC (PBES1)",
        _ => return format!("the scheme {oid}"),
    };
    name.to_string()
}

/// "PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC".
fn pbes2_name(params: &pbes2::Parameters) -> String {
    let kdf = match &params.kdf {
        pbes2::Kdf::Pbkdf2(p) => format!(
            "PBKDF2-{}",
            format!("{:?}", p.prf)
                .replace("HmacWith", "HMAC-")
                .to_uppercase()
        ),
        _ => "scrypt".to_string(),
    };
    let cipher = match params.encryption {
        pbes2::EncryptionScheme::Aes128Cbc { .. } => "AES-128-CBC".to_string(),
        pbes2::EncryptionScheme::Aes192Cbc { .. } => "AES-192-CBC".to_string(),
        pbes2::EncryptionScheme::Aes256Cbc { .. } => "AES-256-CBC".to_string(),
        pbes2::EncryptionScheme::DesEde3Cbc { .. } => "DES-EDE3-CBC".to_string(),
        other => format!("{other:?}")
            .split_whitespace()
            .next()
            .unwrap_or("a cipher")
            .to_string(),
    };
    format!("PBES2, {kdf}, {cipher}")
}

/// Why a key derivation asks for more work than any real file does.
fn too_costly(kdf: &pbes2::Kdf) -> Option<String> {
    match kdf {
        pbes2::Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ROUNDS => Some(format!(
            "{} PBKDF2 rounds (more than the {MAX_PBKDF2_ROUNDS} pki accepts)",
            p.iteration_count
        )),
        pbes2::Kdf::Scrypt(s) => {
            let bytes = 128u64
                .saturating_mul(s.cost_parameter)
                .saturating_mul(u64::from(s.block_size));
            (bytes > MAX_SCRYPT_BYTES || s.parallelization > 16).then(|| {
                format!(
                    "scrypt asking for {} MiB (more than pki allows)",
                    bytes >> 20
                )
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EVP_BytesToKey(MD5, 1 round) as OpenSSL computes it: `openssl enc -aes-256-cbc -P
    /// -md md5 -pass pass:secret -S 0102030405060708` prints this key.
    #[test]
    fn bytes_to_key_is_openssls() {
        let key = bytes_to_key(b"secret", &[1, 2, 3, 4, 5, 6, 7, 8], 32);
        assert_eq!(
            hex("C9E5A1BD216DBE1317E230CEF48F38EE7F0E17AD64022144BCCEC4A1AA2879AB"),
            Some(key)
        );
    }
}
