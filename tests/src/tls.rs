//! A real mutual-TLS handshake on loopback: a rustls server that requires a client certificate
//! chaining to the given trust anchors, and a rustls client presenting a store's certificate,
//! chain and key. Both sides read the clock from a fixed instant, never the wall clock.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug)]
struct FixedTime(UnixTime);

impl rustls::time_provider::TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(self.0)
    }
}

/// rustls' clock fixed at `at` (RFC 3339), for clients and servers in tests.
pub fn fixed_time(at: &str) -> Arc<dyn rustls::time_provider::TimeProvider> {
    Arc::new(FixedTime(UnixTime::since_unix_epoch(
        std::time::Duration::from_secs(crate::at(at).unix_timestamp() as u64),
    )))
}

fn certs(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// Runs the handshake at `at` (RFC 3339): the server trusts `server_trust` (PEM) for client
/// certificates; the client presents `store`'s device.crt + chain.pem with device.key. Returns
/// the subject-bearing DER of the certificate the server saw, or the error either side hit
/// (the server's first when both failed: it says why it refused).
pub fn mutual_tls(store: &Path, server_trust: &str, at: &str) -> Result<Vec<u8>, String> {
    mutual_tls_crls(store, server_trust, &[], at)
}

/// The same handshake with a server that also checks the device certificate against `crls`
/// (each PEM or DER, in the order the server loads them), as the contract's server does:
/// rustls' `WebPkiClientVerifier` with end-entity revocation only and unknown status allowed.
pub fn mutual_tls_crls(
    store: &Path,
    server_trust: &str,
    crls: &[Vec<u8>],
    at: &str,
) -> Result<Vec<u8>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client_roots = RootCertStore::empty();
    for c in certs(server_trust.as_bytes()) {
        client_roots
            .add(c)
            .map_err(|e| format!("server trust: {e}"))?;
    }
    let crls = crls
        .iter()
        .map(|bytes| match bytes.first() {
            Some(0x30) => Ok(CertificateRevocationListDer::from(bytes.clone())),
            _ => CertificateRevocationListDer::from_pem_slice(bytes),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("CRL: {e}"))?;
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(client_roots), provider.clone())
            .with_crls(crls)
            .only_check_end_entity_revocation()
            .allow_unknown_revocation_status()
            .build()
            .map_err(|e| format!("client verifier: {e}"))?;
    mutual_tls_with(store, at, |_| verifier)
}

/// The same handshake with the server's client-certificate verifier made by `verifier` for
/// the peer's address.
pub fn mutual_tls_with(
    store: &Path,
    at: &str,
    verifier: impl FnOnce(std::net::SocketAddr) -> Arc<dyn rustls::server::danger::ClientCertVerifier>
        + Send
        + 'static,
) -> Result<Vec<u8>, String> {
    handshake(store, at, verifier, true)
}

/// The same, with the client presenting the store's certificate and signing with its key
/// even when they are no pair (rustls' client would refuse such a pair before sending it; a
/// hostile client, or one with a copied certificate, sends it anyway).
pub fn mutual_tls_presenting(
    store: &Path,
    at: &str,
    verifier: impl FnOnce(std::net::SocketAddr) -> Arc<dyn rustls::server::danger::ClientCertVerifier>
        + Send
        + 'static,
) -> Result<Vec<u8>, String> {
    handshake(store, at, verifier, false)
}

/// A client that presents `certified`, whatever its key.
#[derive(Debug)]
struct Presenting(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for Presenting {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn handshake(
    store: &Path,
    at: &str,
    verifier: impl FnOnce(std::net::SocketAddr) -> Arc<dyn rustls::server::danger::ClientCertVerifier>
        + Send
        + 'static,
    pair_checked: bool,
) -> Result<Vec<u8>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        crate::at(at).unix_timestamp() as u64,
    ));
    let clock = Arc::new(FixedTime(now));

    // the server's own identity, from a CA of its own
    let server_ca = crate::Ca::root("Loopback Server CA");
    let server_leaf = server_ca.leaf_with("server", |p| {
        p.subject_alt_names = vec![rcgen::SanType::DnsName(
            "server.fleet.internal".try_into().expect("dns"),
        )];
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        p.not_before = crate::at("2020-01-01T00:00:00Z");
        p.not_after = crate::at("2040-01-01T00:00:00Z");
    });

    let server_key = PrivateKeyDer::from_pem_slice(server_leaf.key_pem().as_bytes())
        .map_err(|e| e.to_string())?;
    let server_provider = provider.clone();
    let server_clock = clock.clone();
    let server_chain = vec![CertificateDer::from(server_leaf.der.clone())];

    let read = |name: &str| std::fs::read(store.join(name)).map_err(|e| format!("{name}: {e}"));
    let mut chain = certs(&read("device.crt")?);
    chain.extend(certs(&read("chain.pem")?));
    let key = PrivateKeyDer::from_pem_slice(&read("device.key")?)
        .map_err(|e| format!("device.key: {e}"))?;
    let mut server_roots = RootCertStore::empty();
    server_roots
        .add(CertificateDer::from(server_ca.der.clone()))
        .map_err(|e| e.to_string())?;
    let client_builder = ClientConfig::builder_with_details(provider.clone(), clock)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(server_roots);
    let client_config = if pair_checked {
        client_builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("client certificate: {e}"))?
    } else {
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| format!("device.key: {e}"))?;
        client_builder.with_client_cert_resolver(Arc::new(Presenting(Arc::new(
            rustls::sign::CertifiedKey::new(chain, signing),
        ))))
    };

    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = std::thread::spawn(move || -> Result<Vec<u8>, String> {
        let (tcp, peer) = listener.accept().map_err(|e| e.to_string())?;
        let server_config = ServerConfig::builder_with_details(server_provider, server_clock)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_client_cert_verifier(verifier(peer))
            .with_single_cert(server_chain, server_key)
            .map_err(|e| e.to_string())?;
        let conn =
            rustls::ServerConnection::new(Arc::new(server_config)).map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut line = String::new();
        BufReader::new(&mut tls)
            .read_line(&mut line)
            .map_err(|e| format!("server: {e}"))?;
        let peer = tls
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .ok_or("no client certificate")?;
        tls.write_all(b"accepted\n").map_err(|e| e.to_string())?;
        tls.conn.send_close_notify();
        let _ = tls.flush();
        Ok(peer)
    });
    let client = (|| -> Result<String, String> {
        let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        let name = ServerName::try_from("server.fleet.internal").map_err(|e| e.to_string())?;
        let conn = rustls::ClientConnection::new(Arc::new(client_config), name)
            .map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(b"hello\n")
            .map_err(|e| format!("client: {e}"))?;
        let mut reply = String::new();
        BufReader::new(&mut tls)
            .read_line(&mut reply)
            .map_err(|e| format!("client: {e}"))?;
        Ok(reply)
    })();
    let seen = server
        .join()
        .map_err(|_| "server thread panicked".to_string())?;
    let (reply, seen) = match (client, seen) {
        (Ok(reply), Ok(seen)) => (reply, seen),
        (Err(client), Err(server)) => return Err(format!("{server}; {client}")),
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    if reply.trim() != "accepted" {
        return Err(format!("unexpected reply {reply:?}"));
    }
    Ok(seen)
}
