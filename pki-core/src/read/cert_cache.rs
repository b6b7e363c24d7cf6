//! Certificates already parsed, shared between the stores of one audit. Every store of a fleet
//! carries the same CA certificates in `chain.pem` and `trust.pem`; they are parsed (and their
//! RFC 5280 defects worked out) once, and each store gets them with its own origin. Only CA
//! certificates are kept, and at most [`CAPACITY`] of them: a device certificate is seen once.

use crate::origin::Origin;
use crate::read::cert::Cert;
use std::collections::HashMap;
use std::sync::RwLock;

/// More distinct CA certificates than any fleet holds; past it, certificates are parsed anew.
pub const CAPACITY: usize = 1024;

#[derive(Default)]
pub struct CertCache {
    by_der: RwLock<HashMap<Vec<u8>, Cert>>,
}

impl CertCache {
    /// `der` parsed, from the cache when this certificate was read before.
    pub fn parse(&self, der: Vec<u8>, origin: Origin) -> Result<Cert, String> {
        let known = self
            .by_der
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&der)
            .map(|cert| cert.with_origin(origin.clone()));
        if let Some(cert) = known {
            return Ok(cert);
        }
        let cert = Cert::from_der(der, origin)?;
        if cert.is_ca() {
            let mut map = self
                .by_der
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if map.len() < CAPACITY {
                map.insert(cert.der.to_vec(), cert.clone());
            }
        }
        Ok(cert)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_der
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(path: &str) -> Origin {
        Origin {
            path: path.into(),
            index: 0,
            of: 1,
        }
    }

    fn cert(ca: bool) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["x".to_string()]).unwrap();
        if ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_ca_certificate_is_parsed_once_and_keeps_each_origin() {
        let cache = CertCache::default();
        let der = cert(true);
        let first = cache.parse(der.clone(), origin("a/trust.pem")).unwrap();
        let second = cache.parse(der, origin("b/trust.pem")).unwrap();
        assert_eq!(cache.len(), 1);
        assert!(
            std::ptr::eq(&first.der, &second.der),
            "shared, not re-parsed"
        );
        assert_eq!(second.origin.path, std::path::Path::new("b/trust.pem"));
        assert_eq!(first.origin.path, std::path::Path::new("a/trust.pem"));
    }

    #[test]
    fn device_certificates_and_garbage_are_not_kept() {
        let cache = CertCache::default();
        cache.parse(cert(false), origin("a/device.crt")).unwrap();
        assert!(cache.parse(vec![0x30, 0x03, 1, 2, 3], origin("x")).is_err());
        assert_eq!(cache.len(), 0);
    }
}
