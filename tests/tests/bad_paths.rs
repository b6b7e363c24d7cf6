//! Every command, with each kind of bad path and bad input, ends with the contract's exit code
//! and a message naming the file: a path that does not exist or is the wrong kind (a file for
//! a folder, a folder for a file) is 64; content that cannot be used is 2 (a policy that is
//! none is 64, an unreadable policy being a usage error); only I/O the tool could not perform
//! is 3. Never a raw OS error alone, never parser debug text, never a panic. A failed enroll
//! leaves no folder behind; output to a closed pipe ends quietly.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::ca::{enroll, init};
use pki_tests::{pki, TempDir, AT};

#[test]
fn every_command_names_the_bad_path_with_the_right_exit_code() {
    let dir = TempDir::new("bad-paths");
    let ca = init(&dir, "2025-06-01T00:00:00Z", &[]);
    let store = dir.join("store");
    assert_eq!(
        enroll(&store, &ca, "dev-bad", "2026-01-01T00:00:00Z", &[]).code,
        0
    );
    let missing = dir.join("missing").display().to_string();
    let file = dir.write("a-file.txt", "hello\n").display().to_string();
    let folder = dir.join("a-folder");
    std::fs::create_dir_all(&folder).unwrap();
    let folder = folder.display().to_string();
    let garbage = dir
        .write(
            "garbage.pem",
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .display()
        .to_string();
    let binary = dir
        .write("binary.bin", [0u8, 159, 146, 150, 0, 1, 2])
        .display()
        .to_string();
    // a symbolic link that leads round in a loop: neither a file nor a folder
    let looping = dir.join("loop-a").display().to_string();
    std::os::unix::fs::symlink(dir.join("loop-b"), &looping).unwrap();
    std::os::unix::fs::symlink(&looping, dir.join("loop-b")).unwrap();
    let too_large = dir
        .write(
            "too-large.csr",
            vec![b'A'; pki_core::read::input::MAX_FILE_SIZE as usize + 1],
        )
        .display()
        .to_string();
    let under_file = format!("{file}/sub");
    let in_missing = format!("{missing}/pki.prom");
    let (ca, store) = (ca.display().to_string(), store.display().to_string());
    let cert = format!("{store}/device.crt");

    // (arguments, exit code, the path the message must name)
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        // diagnose
        (vec!["diagnose", &missing], 64, &missing),
        (vec!["diagnose", &file], 64, &file),
        (vec!["diagnose", "--cert", &missing], 64, &missing),
        (vec!["diagnose", "--cert", &folder], 64, &folder),
        (vec!["diagnose", &store, "--trust", &folder], 64, &folder),
        (vec!["diagnose", &store, "--crl", &missing], 64, &missing),
        (vec!["diagnose", &store, "--policy", &binary], 64, &binary),
        (vec!["diagnose", &store, "--policy", &file], 64, &file),
        (
            vec!["diagnose", &store, "--password-file", &folder],
            64,
            &folder,
        ),
        (vec!["diagnose", "--cert", &garbage], 2, &garbage),
        // a name no client can dial is the command line's fault, not the certificate's
        (
            vec![
                "diagnose",
                "--purpose",
                "server",
                "--cert",
                &cert,
                "--name",
                "bad name!",
            ],
            64,
            "bad name!",
        ),
        // inspect
        (vec!["inspect", &missing], 64, &missing),
        (vec!["inspect", &folder], 64, &folder),
        (vec!["inspect", &garbage], 2, &garbage),
        // policy check
        (vec!["policy", "check", &missing], 64, &missing),
        (vec!["policy", "check", &folder], 64, &folder),
        (vec!["policy", "check", &binary], 64, &binary),
        (vec!["policy", "check", &file], 64, &file),
        // ca init
        (vec!["ca", "init", &file], 64, &file),
        (vec!["ca", "init", &under_file], 64, &file),
        (
            vec!["ca", "init", &folder, "--policy", &missing],
            64,
            &missing,
        ),
        (
            vec!["ca", "init", &folder, "--policy", &binary],
            64,
            &binary,
        ),
        // ca sign
        (vec!["ca", "sign", "--ca", &missing, &cert], 64, &missing),
        (vec!["ca", "sign", "--ca", &file, &cert], 64, &file),
        (vec!["ca", "sign", "--ca", &folder, &cert], 64, &folder),
        (vec!["ca", "sign", "--ca", &ca, &missing], 64, &missing),
        (vec!["ca", "sign", "--ca", &ca, &folder], 64, &folder),
        (vec!["ca", "sign", "--ca", &ca, &garbage], 2, &garbage),
        (vec!["ca", "sign", "--ca", &ca, &cert], 2, &cert),
        (vec!["ca", "sign", "--ca", &ca, &too_large], 2, &too_large),
        (
            vec!["ca", "sign", "--ca", &ca, &too_large, "--dry-run"],
            2,
            &too_large,
        ),
        (
            vec!["ca", "sign", "--ca", &ca, &cert, "--out-dir", &file],
            64,
            &file,
        ),
        // ca revoke, crl, rotate, bundle
        (vec!["ca", "revoke", "--ca", &missing, "0a"], 64, &missing),
        (vec!["ca", "revoke", "--ca", &file, "0a"], 64, &file),
        (vec!["ca", "revoke", "--ca", &ca, "not-hex"], 64, "not-hex"),
        (vec!["ca", "revoke", "--ca", &ca, "0a0b"], 2, "0A:0B"),
        (vec!["ca", "crl", "--ca", &missing], 64, &missing),
        (vec!["ca", "crl", "--ca", &folder], 64, &folder),
        (vec!["ca", "rotate", "--ca", &file], 64, &file),
        (vec!["ca", "bundle", "--ca", &folder], 64, &folder),
        // enroll
        (
            vec!["enroll", &file, "--ca", &ca, "--device-id", "d"],
            64,
            &file,
        ),
        (
            vec!["enroll", &under_file, "--ca", &ca, "--device-id", "d"],
            64,
            &file,
        ),
        (
            vec!["enroll", &missing, "--ca", &missing, "--device-id", "d"],
            64,
            &missing,
        ),
        (
            vec!["enroll", &missing, "--ca", &file, "--device-id", "d"],
            64,
            &file,
        ),
        (
            vec!["enroll", &missing, "--ca", &folder, "--device-id", "d"],
            64,
            &folder,
        ),
        (
            vec![
                "enroll",
                &missing,
                "--ca",
                &ca,
                "--device-id",
                "d",
                "--key",
                &folder,
            ],
            64,
            &folder,
        ),
        (
            vec![
                "enroll",
                &missing,
                "--ca",
                &ca,
                "--device-id",
                "d",
                "--key",
                &garbage,
            ],
            2,
            &garbage,
        ),
        (
            vec![
                "enroll",
                &missing,
                "--ca",
                &ca,
                "--device-id",
                "d",
                "--key",
                &cert,
            ],
            2,
            &cert,
        ),
        (
            vec!["enroll", &missing, "--ca", &ca, "--device-id", "not valid"],
            64,
            "not valid",
        ),
        // repair
        (vec!["repair", &missing], 64, &missing),
        (vec!["repair", &file], 64, &file),
        (vec!["repair", &store, "--ca", &file], 64, &file),
        (vec!["repair", &store, "--trust", &missing], 64, &missing),
        // renew
        (vec!["renew", &missing, "--ca", &ca], 64, &missing),
        (vec!["renew", &store, "--ca", &file], 64, &file),
        (vec!["renew", "--check", &file], 64, &file),
        // audit
        (vec!["audit", &missing], 64, &missing),
        (vec!["audit", &file], 64, &file),
        (vec!["audit", &store, "--output", &folder], 64, &folder),
        (vec!["audit", &store, "--output", &in_missing], 64, &missing),
        (vec!["audit", &store, "--trust", &folder], 64, &folder),
        // store rollback, install, import
        (vec!["store", "rollback", &missing], 64, &missing),
        (vec!["store", "rollback", &file], 64, &file),
        (vec!["store", "install", &store, &missing], 64, &missing),
        (vec!["store", "install", &file, &cert], 64, &file),
        (vec!["store", "install", &store, &folder], 64, &folder),
        (vec!["store", "install", &store, &garbage], 2, &garbage),
        (vec!["store", "import", &file, &cert], 64, &file),
        (vec!["store", "import", &missing, &folder], 64, &folder),
        (vec!["store", "import", &missing, &garbage], 2, &garbage),
        // the CA folder given for a store (arguments in the wrong order): its bundles would
        // be replaced by a store's
        (
            vec!["enroll", &ca, "--ca", &ca, "--device-id", "d", "--force"],
            64,
            &ca,
        ),
        (vec!["store", "import", &ca, &cert], 64, &ca),
        // a symlink loop, for a file, a folder, a folder to make, a file to write
        (vec!["inspect", &looping], 64, &looping),
        (vec!["diagnose", "--cert", &looping], 64, &looping),
        (vec!["diagnose", &looping], 64, &looping),
        (vec!["ca", "init", &looping], 64, &looping),
        (
            vec!["enroll", &looping, "--ca", &ca, "--device-id", "d"],
            64,
            &looping,
        ),
        (vec!["audit", &store, "--output", &looping], 64, &looping),
        (vec!["store", "import", &looping, &cert], 64, &looping),
    ];
    for (args, code, names) in cases {
        let mut all = args.clone();
        all.extend(["--at", AT]);
        // inspect and policy check judge no time
        if matches!(args[0], "inspect" | "policy") {
            all.truncate(args.len());
        }
        let run = pki(&all);
        let said = format!("{}{}", run.stdout, run.stderr);
        assert_eq!(run.code, code, "{args:?}: {said}");
        assert!(
            said.contains(names),
            "{args:?}: the message does not name {names}: {said}"
        );
        for raw in [
            "(os error",
            "UnexpectedTag",
            "NomError",
            "Parsing Error",
            "panicked",
            "<input>",
        ] {
            assert!(!said.contains(raw), "{args:?}: {raw} in {said}");
        }
    }
    // none of the failed commands left a folder behind
    assert!(
        !std::path::Path::new(&missing).exists(),
        "{missing} was made"
    );
}

#[test]
fn a_policy_error_names_the_file_and_says_what_is_wrong_in_words() {
    let dir = TempDir::new("policy-words");
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/device.yaml");
    let yaml = std::fs::read_to_string(shipped)
        .unwrap()
        .replace("lifetime_days: 365", "lifetime_days: -5");
    assert!(yaml.contains("lifetime_days: -5"));
    let file = dir.write("negative.yaml", yaml);
    let run = pki(["policy", "check", file.to_str().unwrap()]);
    assert_eq!(run.code, 64);
    assert!(run.stderr.contains("negative.yaml"), "{}", run.stderr);
    assert!(run.stderr.contains("whole number"), "{}", run.stderr);
    assert!(!run.stderr.contains("invalid u32"), "{}", run.stderr);
    assert!(!run.stderr.contains("<input>"), "{}", run.stderr);
}

#[test]
fn a_failed_enroll_leaves_no_folder_behind() {
    let dir = TempDir::new("enroll-fails");
    // a CA whose issuing key is gone: the CA cannot sign (3), after the store folder was made
    let ca = init(&dir, "2025-06-01T00:00:00Z", &[]);
    std::fs::remove_file(ca.join("issuing-1.key")).unwrap();
    let store = dir.join("deep/new/store");
    let run = enroll(&store, &ca, "dev-x", AT, &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("issuing-1.key"), "{}", run.stderr);
    assert!(
        !dir.join("deep").exists(),
        "the folders enroll made are gone"
    );
}

#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    use std::io::Read;
    let dir = TempDir::new("pipe");
    pki_tests::samples::generate_fleet(dir.path(), 300).unwrap();
    // a bundle of many certificates: more output than a pipe buffers
    let mut bundle = String::new();
    for entry in std::fs::read_dir(dir.join("fleet")).unwrap().take(300) {
        bundle
            .push_str(&std::fs::read_to_string(entry.unwrap().path().join("device.crt")).unwrap());
    }
    let file = dir.write("bundle.pem", bundle);
    for args in [
        vec!["inspect", file.to_str().unwrap()],
        vec!["inspect", file.to_str().unwrap(), "--format", "json"],
        vec![
            "audit",
            dir.join("fleet").to_str().unwrap(),
            "--format",
            "json",
            "--at",
            AT,
        ],
    ] {
        let mut child = std::process::Command::new(pki_tests::run::binary())
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // read one line, as `head -1` does, and close the pipe
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 64];
        let _ = stdout.read(&mut first).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        let code = out.status.code().unwrap();
        assert!(
            code == 0 || (args[0] == "audit" && code == 2),
            "{args:?}: exit {code}: {stderr}"
        );
    }
}

#[test]
fn careless_numbers_are_usage_errors_never_a_panic() {
    // instants and spans so far out that what is reckoned from them passes X.509's year 9999
    // (or the arithmetic's range): each was a panic
    let dir = TempDir::new("careless-numbers");
    let ca = init(&dir, "2025-06-01T00:00:00Z", &[]);
    let ca = ca.to_str().unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/device.yaml");
    let yaml = std::fs::read_to_string(shipped).unwrap();
    let policy = |name: &str, from: &str, to: &str| {
        assert!(yaml.contains(from), "{from}");
        dir.write(name, yaml.replace(from, to))
            .display()
            .to_string()
    };
    let long_life = policy(
        "long-life.yaml",
        "lifetime_days: 365",
        "lifetime_days: 4000000000",
    );
    let far_back = policy(
        "far-back.yaml",
        "backdate_minutes: 60",
        "backdate_minutes: 4000000000",
    );
    let store = dir.join("store").display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["policy", "check", &long_life], "lifetime_days"),
        (vec!["policy", "check", &far_back], "backdate_minutes"),
        (
            vec![
                "enroll",
                &store,
                "--ca",
                ca,
                "--device-id",
                "d",
                "--policy",
                &long_life,
                "--at",
                AT,
            ],
            "lifetime_days",
        ),
        (
            vec!["ca", "crl", "--ca", ca, "--at", "9999-12-31T00:00:00Z"],
            "9999-12-31T00:00:00Z",
        ),
        (
            vec!["ca", "init", &store, "--at", "0000-01-01T00:00:00Z"],
            "0000-01-01T00:00:00Z",
        ),
        (
            vec![
                "ca",
                "token",
                "--ca",
                ca,
                "--device-id",
                "d",
                "--ttl",
                "99999999d",
                "--at",
                AT,
            ],
            "99999999d",
        ),
        (
            vec![
                "ca",
                "rotate",
                "--ca",
                ca,
                "--overlap-days",
                "4000000",
                "--at",
                AT,
            ],
            "4000000",
        ),
    ];
    for (args, names) in cases {
        let run = pki(&args);
        let said = format!("{}{}", run.stdout, run.stderr);
        assert_eq!(run.code, 64, "{args:?}: {said}");
        assert!(
            said.contains(names),
            "{args:?} does not name {names}: {said}"
        );
        assert!(!said.contains("panicked"), "{args:?}: {said}");
    }
    assert!(
        !dir.join("store").exists(),
        "a refused command made the store"
    );
}
