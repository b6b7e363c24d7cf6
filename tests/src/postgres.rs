//! A PostgreSQL database for a test: on the server `.ci/run` started (`PKI_TEST_POSTGRES`, a
//! URL), or on a cluster this test process starts itself with `tests/postgres.sh` when the
//! server binaries are installed. Each test gets a database of its own. Without either, the
//! test is skipped loudly, and fails under CI=true.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Database {
    /// `postgres://…/<this test's database>`.
    pub url: String,
    /// The cluster this process started (stopped on drop).
    cluster: Option<PathBuf>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("postgres.sh")
}

/// A fresh database named after `label`, or `None` (skipped) when PostgreSQL cannot run here.
pub fn database(label: &str) -> Option<Database> {
    let (base, cluster) = match std::env::var("PKI_TEST_POSTGRES") {
        Ok(url) => (url, None),
        Err(_) => {
            let dir = PathBuf::from(format!("/tmp/pkipg-{label}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let out = Command::new("bash")
                .arg(script())
                .args(["start"])
                .arg(&dir)
                .output()
                .expect("run tests/postgres.sh");
            if !out.status.success() {
                crate::skip(&format!(
                    "no PostgreSQL here ({}); set PKI_TEST_POSTGRES or install postgresql (CI: .ci/run starts one)",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
                let _ = std::fs::remove_dir_all(&dir);
                return None;
            }
            (
                String::from_utf8_lossy(&out.stdout).trim().to_string(),
                Some(dir),
            )
        }
    };
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "pki_{label}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
    .replace('-', "_");
    let mut admin = postgres::Client::connect(&base, postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect to {base}: {e}"));
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("create database {name}: {e}"));
    let root = base.rsplit_once('/').map_or(base.as_str(), |(r, _)| r);
    Some(Database {
        url: format!("{root}/{name}"),
        cluster,
    })
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some(dir) = &self.cluster {
            let _ = Command::new("bash")
                .arg(script())
                .arg("stop")
                .arg(dir)
                .status();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
