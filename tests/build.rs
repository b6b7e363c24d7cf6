//! Which outside tools the end-to-end tests can use on this machine: `openssl` (keys and
//! certificates rcgen will not make, and a second verifier), `curl` (the independent EST
//! client), `promtool` (checks the metrics), pkilint (lints what the CA issues) and PostgreSQL (the
//! inventory's two-node test: `PKI_TEST_POSTGRES`, or the server binaries `tests/postgres.sh`
//! starts a cluster with). A test that needs a missing tool is
//! compiled as ignored, so the summary says "ignored, … not installed" instead of counting it
//! as passed, and the build prints a warning naming the tool. Under `CI` every such test runs
//! (and fails without its tool): CI installs them all (`.ci/run`).

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=CI");
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rerun-if-env-changed=PKILINT_BIN");
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    let path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    // installing a tool changes its folder: the check runs again
    for dir in path.iter().filter(|d| d.is_dir()) {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    let on_path = |tool: &str| path.iter().any(|d| d.join(tool).is_file());
    let pkilint = std::env::var_os("PKILINT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin"));
    println!("cargo:rerun-if-changed={}", pkilint.display());
    // PostgreSQL: the server CI started (PKI_TEST_POSTGRES), or Debian's server binaries for a
    // cluster the test starts itself (tests/postgres.sh)
    println!("cargo:rerun-if-env-changed=PKI_TEST_POSTGRES");
    println!("cargo:rerun-if-changed=/usr/lib/postgresql");
    let postgres = std::env::var_os("PKI_TEST_POSTGRES").is_some()
        || std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|versions| {
            versions
                .flatten()
                .any(|v| v.path().join("bin/postgres").is_file())
        });
    let tools = [
        ("have_openssl", "openssl", on_path("openssl")),
        ("have_postgres", "PostgreSQL", postgres),
        ("have_curl", "curl", on_path("curl")),
        ("have_promtool", "promtool", on_path("promtool")),
        (
            "have_pkilint",
            "pkilint",
            pkilint.join("lint_pkix_cert").is_file(),
        ),
    ];
    for (cfg, tool, found) in tools {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if found || ci {
            println!("cargo:rustc-cfg={cfg}");
        } else {
            println!(
                "cargo:warning=SKIPPED: {tool} is not installed here; the tests that need it are ignored (CI installs it: .ci/run)"
            );
        }
    }
}
