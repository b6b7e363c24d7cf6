//! Benchmark fleets: a CA and N stores made in-process with rcgen (fast enough for 10,000),
//! of every 50 stores 45 healthy and 5 broken the usual ways. The shipped samples are made by
//! `samples/make.sh` with `pki` itself.

use crate::pki::Ca;
use crate::store::set_mode;
use std::fs;
use std::path::Path;

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
        let validity = |from: &str, to: &str| {
            let (from, to) = (crate::at(from), crate::at(to));
            issuing.leaf_with(&id, move |p| {
                p.not_before = from;
                p.not_after = to;
            })
        };
        let leaf = match n % 50 {
            7 | 31 => validity("2025-02-01T00:00:00Z", "2026-02-15T00:00:00Z"), // expired
            40 => validity("2025-06-01T00:00:00Z", "2026-03-10T00:00:00Z"),     // expiring
            _ => issuing.leaf(&id),
        };
        // 22: a key from a reinstall; 13: the chain missing
        let key = if n % 50 == 22 {
            issuing.leaf(&id).key_pem()
        } else {
            leaf.key_pem()
        };
        let chain = if n % 50 == 13 {
            ""
        } else {
            issuing.pem.as_str()
        };
        managed(&dir.join(&id), &id, &leaf.pem, &key, chain, &root.pem)?;
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
