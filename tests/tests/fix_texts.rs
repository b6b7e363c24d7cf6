//! Fix texts name the real paths (the store, the CA folder it was enrolled from, the `--trust`
//! file) and only commands that apply: `pki repair` and `pki renew` for a managed store; for
//! a foreign folder or loose files, what to put in which file, or `pki enroll`.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::ca::{enroll, init};
use pki_tests::{pki, Ca, Files, Run, TempDir, AT};

fn fixes(run: &Run) -> Vec<(String, String)> {
    run.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["fix"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn fix_of(run: &Run, code: &str) -> String {
    run.finding(code)
        .unwrap_or_else(|| panic!("no {code}: {}", run.stdout))["fix"]
        .as_str()
        .unwrap()
        .to_string()
}

fn assert_no_store_commands(run: &Run, label: &str) {
    for (code, fix) in fixes(run) {
        for command in ["pki repair", "pki renew", "pki store"] {
            assert!(
                !fix.contains(command),
                "{label}: {code} names {command}, which does not apply: {fix}"
            );
        }
    }
}

#[test]
fn a_managed_store_gets_its_own_path_and_its_cas() {
    let dir = TempDir::new("fix-paths");
    let ca = init(&dir, AT, &[]);
    let store = dir.join("store");
    assert_eq!(enroll(&store, &ca, "dev-p", AT, &[]).code, 0);
    std::fs::remove_file(store.join("chain.pem")).unwrap();
    let run = pki_tests::run::diagnose(&store, AT, &[]);
    let fix = fix_of(&run, "CHAIN_INCOMPLETE");
    let ca_abs = std::fs::canonicalize(&ca).unwrap();
    assert_eq!(
        fix,
        format!(
            "rebuild chain.pem from the CA's bundle: `pki repair {} --ca {}`",
            store.display(),
            ca_abs.display()
        )
    );
    // judged against a server's anchors, the repair is judged against them too
    let server = dir.write("server.pem", std::fs::read(ca.join("trust.pem")).unwrap());
    let run = pki_tests::run::diagnose(&store, AT, &["--trust", server.to_str().unwrap()]);
    let fix = fix_of(&run, "CHAIN_INCOMPLETE");
    assert!(
        fix.ends_with(&format!(
            "`pki repair {} --ca {} --trust {}`",
            store.display(),
            ca_abs.display(),
            server.display()
        )),
        "{fix}"
    );
    for (code, fix) in fixes(&run) {
        for token in ["STORE", "DIR", "TRUST"] {
            let word = fix
                .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .any(|w| w == token);
            assert!(!word, "{code}: {token} left in {fix}");
        }
    }
}

/// A store enrolled from the CA in `dir/ca`, its chain.pem removed.
fn store_missing_its_chain(dir: &TempDir) -> std::path::PathBuf {
    let ca = init(dir, AT, &[]);
    let store = dir.join("store");
    assert_eq!(enroll(&store, &ca, "dev-r", AT, &[]).code, 0);
    std::fs::remove_file(store.join("chain.pem")).unwrap();
    store
}

/// The CHAIN_INCOMPLETE fix of `store` once its store.yaml records `recorded` as its CA
/// folder (as the store's writer may write it).
fn fix_with_recorded_ca(store: &std::path::Path, recorded: &std::path::Path) -> String {
    let manifest = store.join("store.yaml");
    let text: String = std::fs::read_to_string(&manifest)
        .unwrap()
        .lines()
        .map(|l| match l.starts_with("ca:") {
            true => format!("ca: '{}'\n", recorded.display()),
            false => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&manifest, text).unwrap();
    fix_of(
        &pki_tests::run::diagnose(store, AT, &[]),
        "CHAIN_INCOMPLETE",
    )
}

#[test]
fn a_recorded_ca_folder_is_named_only_when_no_other_user_can_have_made_it() {
    use std::os::unix::fs::PermissionsExt;
    let open = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let dir = TempDir::new("fix-ca-recorded");
    let store = store_missing_its_chain(&dir);
    let ca = dir.join("ca");
    let real = std::fs::canonicalize(&ca).unwrap();
    let named = format!("--ca {}`", real.display());
    assert!(fix_with_recorded_ca(&store, &ca).ends_with(&named));

    // a CA folder others may write: the placeholder
    open(&ca, 0o777);
    let fix = fix_with_recorded_ca(&store, &ca);
    assert!(fix.ends_with("--ca DIR`"), "{fix}");
    open(&ca, 0o755);

    // a CA folder inside a folder others may write (they could put theirs in its place)
    let shared = dir.join("shared");
    std::fs::create_dir(&shared).unwrap();
    open(&shared, 0o777);
    let planted = shared.join("ca");
    let run = pki(["ca", "init", planted.to_str().unwrap(), "--at", AT]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let fix = fix_with_recorded_ca(&store, &planted);
    assert!(fix.ends_with("--ca DIR`"), "{fix}");

    // named through a symlink: the folder itself is named, never the link (which its owner
    // could turn elsewhere later)
    let link = dir.join("ca-link");
    std::os::unix::fs::symlink(&ca, &link).unwrap();
    let fix = fix_with_recorded_ca(&store, &link);
    assert!(fix.ends_with(&named), "{fix}");

    // a CA folder another user owns (run as root): the placeholder
    let root =
        std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    if !root {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs the tests as root"
        );
        eprintln!("SKIPPED: not root, cannot give a CA folder to nobody");
        return;
    }
    std::os::unix::fs::chown(&ca, Some(65534), Some(65534)).unwrap();
    let fix = fix_with_recorded_ca(&store, &ca);
    assert!(fix.ends_with("--ca DIR`"), "{fix}");
}

#[test]
fn a_store_whose_ca_folder_is_unknown_keeps_dir_and_fills_the_store() {
    let root = Ca::root("Root");
    let issuing = root.intermediate("Issuing");
    let leaf = issuing.leaf("dev");
    let dir = TempDir::new("fix-unknown-ca");
    let store = pki_tests::Endpoint {
        device_id: "dev",
        cert: leaf.pem.clone(),
        key: leaf.key_pem(),
        chain: String::new(),
        trust: root.pem.clone(),
    }
    .write(&dir);
    let run = pki_tests::run::diagnose(&store, AT, &[]);
    let fix = fix_of(&run, "CHAIN_INCOMPLETE");
    assert!(
        fix.contains(&format!("`pki repair {} --ca DIR`", store.display())),
        "{fix}"
    );
}

#[test]
fn a_foreign_folder_gets_no_repair_or_renew_but_its_files_and_enroll() {
    let root = Ca::root("Root");
    let issuing = root.intermediate("Issuing");
    let expired = issuing.leaf_with("dev-f", |p| {
        p.not_after = pki_tests::at("2026-02-01T00:00:00Z")
    });
    let folder = TempDir::new("fix-foreign");
    let leaf = issuing.leaf("dev-f");
    folder.write("cert.pem", &leaf.pem);
    folder.write("key.pem", leaf.key_pem());
    pki_tests::store::set_mode(&folder.join("key.pem"), 0o600);
    folder.write("root.pem", &root.pem);
    // no intermediate: the chain is incomplete
    let run = pki_tests::run::diagnose(folder.path(), AT, &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_no_store_commands(&run, "foreign");
    let fix = fix_of(&run, "CHAIN_INCOMPLETE");
    assert!(
        fix.contains(&format!("{}/chain.pem", folder.str())),
        "names the file to put it in: {fix}"
    );
    // expired: the folder is enrolled anew, for the device its certificate names
    folder.write("cert.pem", &expired.pem);
    folder.write("key.pem", expired.key_pem());
    folder.write("chain.pem", &issuing.pem);
    let run = pki_tests::run::diagnose(folder.path(), AT, &[]);
    assert_no_store_commands(&run, "foreign, expired");
    let fix = fix_of(&run, "CERT_EXPIRED");
    assert!(
        fix.contains(&format!(
            "`pki enroll {} --ca DIR --device-id dev-f --force`",
            folder.str()
        )),
        "{fix}"
    );
    // and repair says what applies, not "repair"
    let refused = pki(["repair", folder.str(), "--at", AT]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!(
            "pki enroll {} --ca DIR --device-id ID --force",
            folder.str()
        )),
        "{}",
        refused.stderr
    );

    // a corrupt file and a foreign root
    let stranger = Ca::root("Stranger");
    let leaf = issuing.leaf("dev-f");
    let folder = TempDir::new("fix-foreign-2");
    folder.write("cert.pem", &leaf.pem);
    folder.write(
        "key.pem",
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    );
    pki_tests::store::set_mode(&folder.join("key.pem"), 0o600);
    folder.write("chain.pem", format!("{}{}", issuing.pem, root.pem));
    folder.write("stranger.pem", &stranger.pem);
    folder.write("broken.crt", "-----BEGIN CERTIFICATE-----\nAAAA\n");
    let run = pki_tests::run::diagnose(folder.path(), AT, &[]);
    assert!(run.finding("FILE_CORRUPT").is_some(), "{}", run.stdout);
    assert!(run.finding("KEY_MISMATCH").is_some(), "{}", run.stdout);
    assert_no_store_commands(&run, "foreign 2");
}

#[test]
fn loose_files_get_no_repair_or_renew() {
    let root = Ca::root("Root");
    let issuing = root.intermediate("Issuing");
    for (label, leaf, chain) in [
        (
            "expired",
            issuing.leaf_with("dev", |p| {
                p.not_after = pki_tests::at("2026-02-01T00:00:00Z")
            }),
            issuing.pem.clone(),
        ),
        ("no chain", issuing.leaf("dev"), String::new()),
        (
            "wrong eku",
            issuing.leaf_with("dev", |p| {
                p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth]
            }),
            issuing.pem.clone(),
        ),
    ] {
        let run = Files {
            cert: leaf.pem.clone(),
            key: leaf.key_pem(),
            chain,
            trust: root.pem.clone(),
            crls: vec![],
        }
        .diagnose(AT, &[]);
        assert_eq!(run.code, 2, "{label}: {}", run.stdout);
        assert_no_store_commands(&run, label);
    }
}

#[test]
fn several_certificates_in_a_foreign_folder_name_the_files_to_move_away() {
    // the installer left last year's certificate for the same key in another file
    let root = Ca::root("Root");
    let issuing = root.intermediate("Issuing");
    let key = rcgen::KeyPair::generate().unwrap();
    let key_pem = key.serialize_pem();
    let current = issuing.leaf_for_key("dev-m", key, |_| {});
    let old = issuing.leaf_for_key("dev-m", rcgen::KeyPair::from_pem(&key_pem).unwrap(), |p| {
        p.not_before = pki_tests::at("2025-01-01T00:00:00Z");
        p.not_after = pki_tests::at("2026-01-01T00:00:00Z");
    });
    let folder = TempDir::new("fix-foreign-several");
    folder.write("client.crt", &current.pem);
    folder.write("client-2025.crt", &old.pem);
    folder.write("client.key", &key_pem);
    pki_tests::store::set_mode(&folder.join("client.key"), 0o600);
    folder.write("ca.pem", format!("{}{}", issuing.pem, root.pem));
    let run = pki_tests::run::diagnose(folder.path(), AT, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let f = run.finding("MULTIPLE_CANDIDATES").unwrap();
    assert!(
        f["message"].as_str().unwrap().contains("valid at"),
        "chosen because it is valid: {}",
        f["message"]
    );
    let fix = f["fix"].as_str().unwrap();
    let stale = folder.join("client-2025.crt");
    assert!(
        fix.starts_with(&format!("move {} away", stale.display())),
        "names the file that holds the other certificate: {fix}"
    );
    // doing it closes the loop
    std::fs::create_dir(folder.join("attic")).unwrap();
    std::fs::rename(&stale, folder.join("attic/client-2025.crt")).unwrap();
    let after = pki_tests::run::diagnose(folder.path(), AT, &[]);
    assert_eq!(after.code, 0, "{}", after.stdout);
}

/// A device store judged as a server's (`--purpose server`): WRONG_EKU. pki's device policy
/// issues clientAuth only, so a renewal would bring the same certificate: the fix names no
/// `pki renew`/`enroll` under it, says what a server certificate needs, and that judging the
/// store as what it is (`--purpose client`) accepts it.
#[test]
fn a_device_store_judged_as_a_server_is_not_told_to_renew() {
    let dir = TempDir::new("fix-eku-server");
    let ca = init(&dir, AT, &[]);
    let store = dir.join("store");
    assert_eq!(enroll(&store, &ca, "dev-1", AT, &[]).code, 0);
    let server = pki_tests::run::diagnose(
        &store,
        AT,
        &[
            "--purpose",
            "server",
            "--name",
            "dev-1.devices.fleet.internal",
        ],
    );
    let fix = fix_of(&server, "WRONG_EKU");
    assert!(!fix.contains('`'), "a command that would not help: {fix}");
    assert!(
        fix.contains("serverAuth") && fix.contains("--purpose client"),
        "{fix}"
    );
    let client = pki_tests::run::diagnose(&store, AT, &["--purpose", "client"]);
    assert_eq!(client.verdict(), "accepted", "{}", client.stdout);
}
