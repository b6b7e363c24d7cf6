//! Certificate authorities and device certificates made with rcgen, with every field a test
//! may want to bend (validity, EKU, key usage, CA flag, key type, key identifiers).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use time::OffsetDateTime;

/// A CA: its parameters (for signing), key and certificate.
pub struct Ca {
    pub params: CertificateParams,
    pub key: KeyPair,
    pub pem: String,
    pub der: Vec<u8>,
}

/// A device (or server) certificate and its key.
pub struct Leaf {
    pub pem: String,
    pub der: Vec<u8>,
    pub key: KeyPair,
    pub serial: SerialNumber,
}

impl Leaf {
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "Fleet Test");
    dn.push(DnType::CommonName, cn);
    dn
}

fn serial() -> SerialNumber {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0x1000);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut bytes = vec![0x40];
    bytes.extend_from_slice(&n.to_be_bytes());
    SerialNumber::from_slice(&bytes)
}

fn ca_params(cn: &str, path_len: Option<u8>) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = name(cn);
    p.is_ca = match path_len {
        Some(n) => IsCa::Ca(BasicConstraints::Constrained(n)),
        None => IsCa::Ca(BasicConstraints::Unconstrained),
    };
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = crate::at("2025-01-01T00:00:00Z");
    p.not_after = crate::at("2035-01-01T00:00:00Z");
    p.use_authority_key_identifier_extension = true;
    p.serial_number = Some(serial());
    p
}

impl Ca {
    pub fn root(cn: &str) -> Ca {
        Ca::root_with(cn, |_| {})
    }

    pub fn root_with(cn: &str, edit: impl FnOnce(&mut CertificateParams)) -> Ca {
        let key = KeyPair::generate().expect("generate key");
        let mut params = ca_params(cn, None);
        params.use_authority_key_identifier_extension = false;
        edit(&mut params);
        let cert = params.self_signed(&key).expect("self-sign");
        Ca {
            pem: cert.pem(),
            der: cert.der().to_vec(),
            params,
            key,
        }
    }

    pub fn intermediate(&self, cn: &str) -> Ca {
        self.intermediate_with(cn, |_| {})
    }

    pub fn intermediate_with(&self, cn: &str, edit: impl FnOnce(&mut CertificateParams)) -> Ca {
        let key = KeyPair::generate().expect("generate key");
        let mut params = ca_params(cn, Some(0));
        params.not_after = crate::at("2030-01-01T00:00:00Z");
        edit(&mut params);
        let cert = params
            .signed_by(&key, &self.issuer())
            .expect("sign intermediate");
        Ca {
            pem: cert.pem(),
            der: cert.der().to_vec(),
            params,
            key,
        }
    }

    /// A CA of the same name as `self` with a new key: a re-keyed CA.
    pub fn rekeyed_by(&self, parent: Option<&Ca>) -> Ca {
        let key = KeyPair::generate().expect("generate key");
        let mut params = self.params.clone();
        params.serial_number = Some(serial());
        params.not_before = crate::at("2026-02-01T00:00:00Z");
        let cert = match parent {
            Some(parent) => params.signed_by(&key, &parent.issuer()),
            None => params.self_signed(&key),
        }
        .expect("sign re-keyed CA");
        Ca {
            pem: cert.pem(),
            der: cert.der().to_vec(),
            params,
            key,
        }
    }

    pub fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    /// A device certificate for `id`: clientAuth, digitalSignature, DNS and URI SANs, valid
    /// 2026-01-01 to 2026-12-31, P-256 key.
    pub fn leaf(&self, id: &str) -> Leaf {
        self.leaf_with(id, |_| {})
    }

    pub fn leaf_with(&self, id: &str, edit: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let key = KeyPair::generate().expect("generate key");
        self.leaf_for_key(id, key, edit)
    }

    /// A device certificate for an existing key (any algorithm, e.g. RSA made by openssl).
    pub fn leaf_for_key(
        &self,
        id: &str,
        key: KeyPair,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Leaf {
        let mut params = leaf_params(id);
        edit(&mut params);
        let cert = params.signed_by(&key, &self.issuer()).expect("sign leaf");
        let serial = params.serial_number.clone().unwrap_or_else(serial);
        Leaf {
            pem: cert.pem(),
            der: cert.der().to_vec(),
            key,
            serial,
        }
    }

    /// A CRL from this CA listing `revoked`, valid from `this_update` to `next_update`.
    pub fn crl(&self, revoked: &[&Leaf], this_update: &str, next_update: &str) -> String {
        let params = rcgen::CertificateRevocationListParams {
            this_update: crate::at(this_update),
            next_update: crate::at(next_update),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|leaf| rcgen::RevokedCertParams {
                    serial_number: leaf.serial.clone(),
                    revocation_time: crate::at("2026-02-01T00:00:00Z"),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        params
            .signed_by(&self.issuer())
            .expect("sign CRL")
            .pem()
            .expect("CRL PEM")
    }

    /// A certificate for the public key in `spki_pem` (a key rcgen cannot sign with).
    pub fn leaf_for_public_key(&self, id: &str, spki_pem: &str) -> String {
        let public = rcgen::SubjectPublicKeyInfo::from_pem(spki_pem).expect("public key");
        let params = leaf_params(id);
        params
            .signed_by(&public, &self.issuer())
            .expect("sign leaf")
            .pem()
    }
}

pub fn leaf_params(id: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = name(id);
    p.subject_alt_names = vec![
        SanType::DnsName(
            format!("{id}.devices.example")
                .try_into()
                .expect("dns name"),
        ),
        SanType::URI(format!("urn:device:{id}").try_into().expect("uri")),
    ];
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p.not_before = crate::at("2026-01-01T00:00:00Z");
    p.not_after = crate::at("2026-12-31T00:00:00Z");
    p.use_authority_key_identifier_extension = true;
    p.serial_number = Some(serial());
    p
}

/// A time a test wants, shifted from [`crate::AT`].
pub fn shifted(by: time::Duration) -> OffsetDateTime {
    crate::at(crate::AT) + by
}
