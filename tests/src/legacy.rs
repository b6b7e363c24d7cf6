//! Certificates rcgen (rightly) will not make, made with `openssl ca` at fixed dates: a SHA-1
//! signature. Fixed dates keep the tests off the wall clock.

use crate::loose::openssl;
use crate::pki::Ca;
use crate::store::TempDir;

/// A device certificate for the key in `key_pem`, signed by `issuer` with SHA-1, valid
/// 2026-01-01 to 2026-12-31.
pub fn sha1_leaf(issuer: &Ca, key_pem: &str) -> String {
    let dir = TempDir::new("sha1");
    dir.write("ca.key", issuer.key.serialize_pem());
    dir.write("ca.pem", &issuer.pem);
    dir.write("dev.key", key_pem);
    dir.write("index.txt", "");
    dir.write("serial", "4660\n");
    dir.write(
        "ca.cnf",
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n",
    );
    dir.write(
        "ext",
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:dev.devices.example\nauthorityKeyIdentifier=keyid\n",
    );
    openssl(
        dir.path(),
        &[
            "req", "-new", "-key", "dev.key", "-out", "dev.csr", "-subj", "/CN=dev",
        ],
    );
    openssl(
        dir.path(),
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-in",
            "dev.csr",
            "-out",
            "dev.pem",
            "-md",
            "sha1",
            "-startdate",
            "20260101000000Z",
            "-enddate",
            "20261231000000Z",
            "-extfile",
            "ext",
            "-notext",
        ],
    );
    std::fs::read_to_string(dir.join("dev.pem")).expect("read SHA-1 certificate")
}
