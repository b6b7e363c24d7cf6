//! The shipped samples: a sample CA, healthy and broken endpoint stores (one per common
//! failure) and a fleet folder of 50 stores, all judged at [`SAMPLE_AT`]. Made fresh by
//! `make-samples` (run by `samples/demo.sh` and by the tests, so they never rot).

use crate::pki::{shifted, Ca};
use crate::store::set_mode;
use std::fs;
use std::path::Path;
use time::Duration;

/// The instant every sample is judged at.
pub const SAMPLE_AT: &str = crate::AT;

/// One sample store and what diagnosing it at [`SAMPLE_AT`] must say.
pub struct Expectation {
    pub name: String,
    pub exit: i32,
    /// The root cause (first critical finding), or the first warning for exit 1.
    pub code: Option<&'static str>,
}

/// Writes the samples under `out` and returns what each store must diagnose to.
pub fn generate(out: &Path) -> std::io::Result<Vec<Expectation>> {
    let _ = fs::remove_dir_all(out);
    let root = Ca::root("Sample Fleet Root CA");
    let issuing = root.intermediate("Sample Fleet Issuing CA");
    let ca = out.join("ca");
    write(&ca.join("root.pem"), &root.pem)?;
    write(&ca.join("issuing.pem"), &issuing.pem)?;
    write(&ca.join("trust.pem"), &root.pem)?;

    let stores = out.join("stores");
    let mut expect = Vec::new();
    let mut add = |name: &str, exit: i32, code: Option<&'static str>| {
        expect.push(Expectation {
            name: name.to_string(),
            exit,
            code,
        });
        stores.join(name)
    };

    let healthy = |dir: &Path, id: &str| -> std::io::Result<()> {
        let leaf = issuing.leaf(id);
        managed(dir, id, &leaf.pem, &leaf.key_pem(), &issuing.pem, &root.pem)
    };
    healthy(&add("healthy", 0, None), "device-0001")?;
    healthy(&add("healthy-2", 0, None), "device-0002")?;

    let leaf = issuing.leaf_with("device-0003", |p| {
        p.not_before = crate::at("2025-06-01T00:00:00Z");
        p.not_after = crate::at("2026-03-20T00:00:00Z");
    });
    managed(
        &add("expiring", 1, Some("CERT_EXPIRING_SOON")),
        "device-0003",
        &leaf.pem,
        &leaf.key_pem(),
        &issuing.pem,
        &root.pem,
    )?;

    let leaf = issuing.leaf_with("device-0004", |p| {
        p.not_before = crate::at("2025-02-01T00:00:00Z");
        p.not_after = crate::at("2026-01-31T00:00:00Z");
    });
    managed(
        &add("expired", 2, Some("CERT_EXPIRED")),
        "device-0004",
        &leaf.pem,
        &leaf.key_pem(),
        &issuing.pem,
        &root.pem,
    )?;

    // a re-run installer made a new key and left the old one beside it
    let leaf = issuing.leaf("device-0005");
    let dir = add("key-swapped", 2, Some("KEY_MISMATCH"));
    let new_key = rcgen::KeyPair::generate().map_err(std::io::Error::other)?;
    managed(
        &dir,
        "device-0005",
        &leaf.pem,
        &new_key.serialize_pem(),
        &issuing.pem,
        &root.pem,
    )?;
    write_key(&dir.join("device.key.old"), &leaf.key_pem())?;

    let leaf = issuing.leaf("device-0006");
    managed(
        &add("chain-missing", 2, Some("CHAIN_INCOMPLETE")),
        "device-0006",
        &leaf.pem,
        &leaf.key_pem(),
        "",
        &root.pem,
    )?;

    let leaf = issuing.leaf("device-0007");
    let rekeyed = issuing.rekeyed_by(Some(&root));
    managed(
        &add("ca-rotated", 2, Some("CA_ROTATED")),
        "device-0007",
        &leaf.pem,
        &leaf.key_pem(),
        &rekeyed.pem,
        &root.pem,
    )?;

    let leaf = issuing.leaf("device-0008");
    let dir = add("revoked", 2, Some("REVOKED"));
    managed(
        &dir,
        "device-0008",
        &leaf.pem,
        &leaf.key_pem(),
        &issuing.pem,
        &root.pem,
    )?;
    write(
        &dir.join("crl/issuing.crl"),
        issuing.crl(&[&leaf], "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z"),
    )?;

    let leaf = issuing.leaf_with("device-0009", |p| {
        p.not_before = shifted(Duration::minutes(20));
        p.not_after = shifted(Duration::days(300));
    });
    managed(
        &add("clock-skew", 2, Some("CERT_NOT_YET_VALID")),
        "device-0009",
        &leaf.pem,
        &leaf.key_pem(),
        &issuing.pem,
        &root.pem,
    )?;

    let stale = issuing.leaf_with("device-0010", |p| {
        p.not_before = crate::at("2025-01-15T00:00:00Z");
        p.not_after = crate::at("2026-01-15T00:00:00Z");
    });
    let leaf = issuing.leaf("device-0010");
    let both = format!("{}{}", stale.pem, leaf.pem);
    managed(
        &add("stale-cert-first", 1, Some("MULTIPLE_CANDIDATES")),
        "device-0010",
        &both,
        &leaf.key_pem(),
        &issuing.pem,
        &root.pem,
    )?;

    let leaf = issuing.leaf("device-0011");
    let dir = add("world-readable-key", 1, Some("KEY_PERMISSIONS_TOO_OPEN"));
    managed(
        &dir,
        "device-0011",
        &leaf.pem,
        &leaf.key_pem(),
        &issuing.pem,
        &root.pem,
    )?;
    set_mode(&dir.join("device.key"), 0o644);

    // a foreign folder: another product's files, named its own way, in mixed encodings
    let leaf = issuing.leaf("device-0012");
    let dir = add("foreign", 0, None);
    write(&dir.join("client-cert.pem"), leaf.pem.replace('\n', "\r\n"))?;
    write(
        &dir.join("ca-bundle.crt"),
        format!("\u{feff}{}{}", root.pem, issuing.pem),
    )?;
    write_key(&dir.join("client.key"), &leaf.key_pem())?;
    write(&dir.join("README.txt"), "installed by the 2024 agent\n")?;

    fleet(&out.join("fleet"), &root, &issuing, 50)?;
    Ok(expect)
}

/// A CA (in `out/ca`) and a fleet of `size` stores (in `out/fleet`), for benchmarks.
pub fn generate_fleet(out: &Path, size: usize) -> std::io::Result<()> {
    let _ = fs::remove_dir_all(out);
    let root = Ca::root("Bench Fleet Root CA");
    let issuing = root.intermediate("Bench Fleet Issuing CA");
    write(&out.join("ca/trust.pem"), &root.pem)?;
    write(&out.join("ca/issuing.pem"), &issuing.pem)?;
    fleet(&out.join("fleet"), &root, &issuing, size)
}

/// `size` stores; of every 50, 45 are healthy and 5 broken the usual ways.
fn fleet(dir: &Path, root: &Ca, issuing: &Ca, size: usize) -> std::io::Result<()> {
    for n in 1..=size {
        let id = format!("fleet-{n:04}");
        let store = dir.join(&id);
        match n % 50 {
            7 | 31 => {
                let leaf = issuing.leaf_with(&id, |p| {
                    p.not_before = crate::at("2025-02-01T00:00:00Z");
                    p.not_after = crate::at("2026-02-15T00:00:00Z");
                });
                managed(
                    &store,
                    &id,
                    &leaf.pem,
                    &leaf.key_pem(),
                    &issuing.pem,
                    &root.pem,
                )?
            }
            13 => {
                let leaf = issuing.leaf(&id);
                managed(&store, &id, &leaf.pem, &leaf.key_pem(), "", &root.pem)?
            }
            22 => {
                let leaf = issuing.leaf(&id);
                let other = issuing.leaf(&id);
                managed(
                    &store,
                    &id,
                    &leaf.pem,
                    &other.key_pem(),
                    &issuing.pem,
                    &root.pem,
                )?
            }
            40 => {
                let leaf = issuing.leaf_with(&id, |p| {
                    p.not_before = crate::at("2025-06-01T00:00:00Z");
                    p.not_after = crate::at("2026-03-10T00:00:00Z");
                });
                managed(
                    &store,
                    &id,
                    &leaf.pem,
                    &leaf.key_pem(),
                    &issuing.pem,
                    &root.pem,
                )?
            }
            _ => {
                let leaf = issuing.leaf(&id);
                managed(
                    &store,
                    &id,
                    &leaf.pem,
                    &leaf.key_pem(),
                    &issuing.pem,
                    &root.pem,
                )?
            }
        }
    }
    Ok(())
}

fn managed(
    dir: &Path,
    id: &str,
    cert: &str,
    key: &str,
    chain: &str,
    trust: &str,
) -> std::io::Result<()> {
    write(
        &dir.join("store.yaml"),
        format!("schema: 1\ndevice_id: {id}\npolicy: device\n"),
    )?;
    write(&dir.join("device.crt"), cert)?;
    write_key(&dir.join("device.key"), key)?;
    write(&dir.join("chain.pem"), chain)?;
    write(&dir.join("trust.pem"), trust)
}

fn write(path: &Path, content: impl AsRef<[u8]>) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, content)
}

fn write_key(path: &Path, key: &str) -> std::io::Result<()> {
    write(path, key)?;
    set_mode(path, 0o600);
    Ok(())
}
