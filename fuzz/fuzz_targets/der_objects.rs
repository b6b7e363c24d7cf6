//! DER objects taken as what they claim to be: a certificate, a CRL, a private key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pki_core::origin::Origin;
use rustls_pki_types::PrivateKeyDer;

fuzz_target!(|data: &[u8]| {
    let origin = || Origin {
        path: "fuzz.der".into(),
        index: 0,
        of: 1,
    };
    let cert = pki_core::Cert::from_der(data.to_vec(), origin()).ok();
    if let Some(cert) = &cert {
        let _ = cert.describe();
        let _ = cert.is_signed_by(cert);
        let _ = cert.der_pem();
    }
    if let Ok(crl) = pki_core::Crl::from_der(data.to_vec(), origin()) {
        let _ = crl.lists("01");
        let _ = pki_core::read::rfc5280::crl_defects(&crl, cert.as_ref());
    }
    if let Ok(der) = PrivateKeyDer::try_from(data) {
        let key = pki_core::Key::from_der(der.clone_key(), origin());
        let _ = key.describe();
        let _ = key.fingerprint();
        if let Some(cert) = &cert {
            let _ = key.matches(cert);
        }
    }
});
