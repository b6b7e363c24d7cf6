//! The PKCS#7 "certs-only" message EST hands certificates in (RFC 7030 §4.1.3, RFC 5652
//! §5): a SignedData with no content and no signers, whose `certificates` set holds them.
//! Built and read with RustCrypto's `cms`. A DER SET is sorted, so the order given is not
//! kept: readers classify certificates by content.

use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{CertificateSet, EncapsulatedContentInfo, SignedData, SignerInfos};
use der::asn1::{ObjectIdentifier, SetOfVec};
use der::{Any, Decode, Encode};

/// id-signedData (RFC 5652 §5.1).
const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// id-data (RFC 5652 §4).
const DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");

/// A certs-only message (DER) holding `certs` (each DER).
pub fn certs_only(certs: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    let mut set = SetOfVec::new();
    for der in certs {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| format!("a certificate cannot be carried in PKCS#7 ({e})"))?;
        set.insert(CertificateChoices::Certificate(cert))
            .map_err(|e| format!("PKCS#7 certificate set: {e}"))?;
    }
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(set)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::new()),
    };
    let content = Any::encode_from(&signed).map_err(|e| format!("PKCS#7: {e}"))?;
    ContentInfo {
        content_type: SIGNED_DATA,
        content,
    }
    .to_der()
    .map_err(|e| format!("PKCS#7: {e}"))
}

/// The certificates (each DER) of a certs-only message.
pub fn certificates(der: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let info = ContentInfo::from_der(der).map_err(|e| format!("not a PKCS#7 message ({e})"))?;
    if info.content_type != SIGNED_DATA {
        return Err(format!(
            "a PKCS#7 message of type {}, not SignedData",
            info.content_type
        ));
    }
    let signed: SignedData = info
        .content
        .decode_as()
        .map_err(|e| format!("not a PKCS#7 SignedData ({e})"))?;
    let mut out = Vec::new();
    for choice in signed
        .certificates
        .map(|s| s.0.into_vec())
        .unwrap_or_default()
    {
        if let CertificateChoices::Certificate(cert) = choice {
            out.push(
                cert.to_der()
                    .map_err(|e| format!("PKCS#7 certificate: {e}"))?,
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_go_in_and_come_out() {
        let certs: Vec<Vec<u8>> = (0..3)
            .map(|i| {
                let key = rcgen::KeyPair::generate().expect("key");
                let mut p = rcgen::CertificateParams::new(vec![format!("host{i}.example")])
                    .expect("params");
                p.distinguished_name
                    .push(rcgen::DnType::CommonName, format!("host{i}"));
                p.self_signed(&key).expect("cert").der().to_vec()
            })
            .collect();
        let message = certs_only(&certs).expect("pkcs7");
        let mut back = certificates(&message).expect("read");
        let mut want = certs.clone();
        back.sort();
        want.sort();
        assert_eq!(back, want);
        assert!(
            certificates(&certs[0]).is_err(),
            "a certificate is no PKCS#7"
        );
    }
}
