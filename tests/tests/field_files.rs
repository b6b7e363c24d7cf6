//! Files the field carries, made here with openssl: PKCS#12 as `openssl pkcs12 -export` writes
//! it by default (PBES2/AES-256, SHA-256 MAC), with `-legacy` (RC2-40, 3DES, SHA-1 MAC), with
//! Windows' TripleDES-SHA1 choice and with an empty password; encrypted keys in both forms
//! (PKCS#8 `ENCRYPTED PRIVATE KEY`, PEM and DER, and the traditional `Proc-Type: 4,ENCRYPTED`);
//! certificate requests where a certificate belongs; keys rustls cannot use, named for what
//! they are; the legacy `X509 CERTIFICATE` label; `diagnose --purpose server` without `--name`.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::ca::{enroll, init, snapshot};
use pki_tests::{openssl, pki, pki_env, Run, TempDir, AT};
use std::path::PathBuf;

/// A CA and one enrolled store; `pw` holds the password the files below are made with.
struct Field {
    dir: TempDir,
    store: PathBuf,
    pw: PathBuf,
}

impl Field {
    fn new(label: &str) -> Field {
        let dir = TempDir::new(label);
        let ca = init(&dir, "2025-06-01T00:00:00Z", &[]);
        let store = dir.join("store");
        let run = enroll(&store, &ca, "dev-field", "2026-01-01T00:00:00Z", &[]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let pw = dir.write("pw", "correct horse\n");
        dir.write(
            "bundle.pem",
            [
                std::fs::read_to_string(store.join("chain.pem")).unwrap(),
                std::fs::read_to_string(store.join("trust.pem")).unwrap(),
            ]
            .concat(),
        );
        Field { dir, store, pw }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }

    fn store_file(&self, name: &str) -> String {
        self.store.join(name).to_str().unwrap().to_string()
    }

    /// `openssl pkcs12 -export` of the store's certificate, key and CA bundle into `name`.
    fn pfx(&self, name: &str, options: &[&str], password: &str) -> String {
        let (cert, key) = (self.store_file("device.crt"), self.store_file("device.key"));
        let mut args = vec![
            "pkcs12",
            "-export",
            "-in",
            &cert,
            "-inkey",
            &key,
            "-certfile",
            "bundle.pem",
            "-out",
            name,
            "-passout",
            password,
        ];
        args.extend_from_slice(options);
        openssl(self.dir.path(), &args);
        self.path(name)
    }

    fn pass(&self) -> String {
        format!("file:{}", self.pw.display())
    }
}

fn diagnose_at(args: &[&str]) -> Run {
    let mut all = vec!["diagnose", "--at", AT, "--format", "json"];
    all.extend_from_slice(args);
    pki(all)
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn pkcs12_of_every_common_kind_is_read_with_its_password() {
    let f = Field::new("p12");
    let pass = f.pass();
    let files = [
        f.pfx("default.pfx", &[], &pass),
        f.pfx("legacy.pfx", &["-legacy"], &pass),
        // what Windows writes when "TripleDES-SHA1" is chosen on export
        f.pfx(
            "windows-3des.pfx",
            &[
                "-keypbe",
                "PBE-SHA1-3DES",
                "-certpbe",
                "PBE-SHA1-3DES",
                "-macalg",
                "sha1",
            ],
            &pass,
        ),
        // and "AES256-SHA256"
        f.pfx(
            "windows-aes.pfx",
            &[
                "-keypbe",
                "AES-256-CBC",
                "-certpbe",
                "AES-256-CBC",
                "-macalg",
                "sha256",
            ],
            &pass,
        ),
    ];
    for file in &files {
        let pw = f.pw.to_str().unwrap();
        let run = pki(["inspect", file, "--password-file", pw, "--format", "json"]);
        assert_eq!(run.code, 0, "{file}: {}{}", run.stdout, run.stderr);
        let objects = run.json()[0]["objects"].as_array().unwrap().clone();
        let types: Vec<&str> = objects
            .iter()
            .map(|o| o["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types.iter().filter(|t| **t == "certificate").count(),
            3,
            "{file}: device, issuing and root certificates: {}",
            run.stdout
        );
        let key = objects.iter().find(|o| o["type"] == "private_key").unwrap();
        assert_eq!(key["algorithm"], "ECDSA P-256", "{file}");
        assert!(
            key["matches"][0].as_str().unwrap().contains("dev-field"),
            "{file}: the key is the device certificate's: {key}"
        );
        assert!(
            !run.stdout.contains("PRIVATE KEY"),
            "a key is never printed"
        );

        // the same password from the environment
        let env = pki_env(["inspect", file], &[("PKI_PASSWORD", "correct horse")]);
        assert_eq!(env.code, 0, "{file}: {}", env.stdout);
        assert!(
            env.stdout.contains("private key: ECDSA P-256"),
            "{}",
            env.stdout
        );
    }

    // one PKCS#12 file given for both --cert and --key holds one key, not two candidates
    let pw = f.pw.to_str().unwrap();
    let trust = f.store_file("trust.pem");
    let both = diagnose_at(&[
        "--cert",
        &files[0],
        "--key",
        &files[0],
        "--trust",
        &trust,
        "--password-file",
        pw,
    ]);
    assert_eq!(both.code, 0, "{}{}", both.stdout, both.stderr);
    assert!(
        both.finding("MULTIPLE_CANDIDATES").is_none(),
        "{}",
        both.stdout
    );

    // an empty password is tried when none is given
    let empty = f.pfx("empty.pfx", &[], "pass:");
    let run = pki(["inspect", &empty]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("private key: ECDSA P-256"),
        "{}",
        run.stdout
    );
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn a_missing_or_wrong_pkcs12_password_is_named_as_such() {
    let f = Field::new("p12-password");
    let pfx = f.pfx("device.pfx", &[], &f.pass());
    let wrong = f.dir.write("wrong", "Tr0ub4dor&3\n");

    let none = pki(["inspect", &pfx]);
    assert_eq!(none.code, 2);
    assert!(
        none.stdout
            .contains("protected by a password; no password was given"),
        "{}",
        none.stdout
    );
    let bad = pki(["inspect", &pfx, "--password-file", wrong.to_str().unwrap()]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stdout.contains("the password given does not open it"),
        "{}",
        bad.stdout
    );

    // a folder holding it: FILE_ENCRYPTED naming the file, and a fix that works
    let folder = TempDir::new("p12-folder");
    std::fs::copy(&pfx, folder.join("device.pfx")).unwrap();
    let run = diagnose_at(&[folder.str()]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("FILE_ENCRYPTED"),
        "{}",
        run.stdout
    );
    let found = run.finding("FILE_ENCRYPTED").unwrap();
    assert!(
        found["message"].as_str().unwrap().contains("device.pfx"),
        "{found}"
    );
    let fix = found["fix"].as_str().unwrap();
    assert!(fix.contains("--password-file"), "{fix}");
    let wrong_run = diagnose_at(&[folder.str(), "--password-file", wrong.to_str().unwrap()]);
    let found = wrong_run.finding("FILE_ENCRYPTED").unwrap();
    assert!(
        found["message"]
            .as_str()
            .unwrap()
            .contains("does not open it"),
        "{found}"
    );
    // the fix, as printed: with its password the folder is judged, and accepted
    let fixed = diagnose_at(&[folder.str(), "--password-file", f.pw.to_str().unwrap()]);
    assert_eq!(fixed.code, 0, "{}", fixed.stdout);
    assert_eq!(fixed.json()["layout"], "foreign");
    assert!(fixed.json()["certificate"]["subject"]
        .as_str()
        .unwrap()
        .contains("dev-field"));
    assert!(
        fixed.json()["certificate"]["key_sha256"].is_string(),
        "the key was proven"
    );
    // and given as --cert alone (loose files): its root is the anchor, its key is checked
    let loose = diagnose_at(&["--cert", &pfx, "--password-file", f.pw.to_str().unwrap()]);
    assert_eq!(loose.code, 0, "{}", loose.stdout);
    assert!(
        loose.finding("KEY_NOT_CHECKED").is_none(),
        "{}",
        loose.stdout
    );
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn store_import_turns_a_pkcs12_file_into_a_managed_store() {
    let f = Field::new("import");
    let pfx = f.pfx("device.pfx", &["-legacy"], &f.pass());
    let store = f.dir.join("imported");
    let pw = f.pw.to_str().unwrap();
    let import = |extra: &[&str]| {
        let mut args = vec![
            "store",
            "import",
            store.to_str().unwrap(),
            &pfx,
            "--password-file",
            pw,
            "--at",
            AT,
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        pki(args)
    };
    // a dry run writes nothing, not even the folder
    let dry = import(&["--dry-run"]);
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    assert_eq!(dry.json()["dry_run"], true);
    assert!(!store.exists(), "a dry run made the store folder");

    let run = import(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.json()["device_id"], "dev-field");
    assert_eq!(run.json()["after"]["verdict"], "accepted");
    // the usual write guarantees: manifest, journal, key 0600, and diagnose agrees
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(store.join("device.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let journal = std::fs::read_to_string(store.join("journal.jsonl")).unwrap();
    assert!(journal.contains("\"action\":\"import\""), "{journal}");
    let judged = pki_tests::run::diagnose(&store, AT, &[]);
    assert_eq!(judged.code, 0, "{}", judged.stdout);
    assert_eq!(judged.json()["layout"], "managed");
    assert!(judged.finding("STORE_TAMPERED").is_none());
    // the same certificate again: nothing changed
    let before = snapshot(&store);
    let again = import(&[]);
    assert_eq!(again.code, 0);
    assert_eq!(again.json()["changed"], false);
    assert_eq!(snapshot(&store), before);

    // without the password: refused, named, nothing written
    let other = f.dir.join("other");
    let locked = pki(["store", "import", other.to_str().unwrap(), &pfx, "--at", AT]);
    assert_eq!(locked.code, 2, "{}", locked.stderr);
    assert!(locked.stderr.contains("device.pfx"), "{}", locked.stderr);
    assert!(
        locked.stderr.contains("no password was given"),
        "{}",
        locked.stderr
    );
    assert!(!other.exists());
}

#[test]
fn store_import_in_place_leaves_the_foreign_files_as_they_were() {
    let f = Field::new("import-in-place");
    let foreign = TempDir::new("foreign");
    std::fs::copy(f.store.join("device.crt"), foreign.join("client-cert.pem")).unwrap();
    std::fs::copy(f.store.join("device.key"), foreign.join("client.key")).unwrap();
    std::fs::copy(f.dir.join("bundle.pem"), foreign.join("ca.crt")).unwrap();
    foreign.write("README.txt", "installed by the 2024 agent\n");
    let before = snapshot(foreign.path());

    let run = pki([
        "store",
        "import",
        foreign.str(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let judged = pki_tests::run::diagnose(foreign.path(), AT, &[]);
    assert_eq!(judged.json()["layout"], "managed", "{}", judged.stdout);
    assert_eq!(judged.code, 0, "{}", judged.stdout);
    assert!(
        judged.finding("STORE_TAMPERED").is_none(),
        "{}",
        judged.stdout
    );
    // the files it was made from, and the note, are there byte for byte
    let after = snapshot(foreign.path());
    for (name, hash) in &before {
        assert_eq!(after.get(name), Some(hash), "{name} changed");
    }
    // a second import of the same folder changes nothing
    let again = pki([
        "store",
        "import",
        foreign.str(),
        "--at",
        AT,
        "--format",
        "json",
        "--force",
    ]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.json()["changed"], false, "{}", again.stdout);
}

/// The device key encrypted every way OpenSSL writes it.
fn encrypted_keys(f: &Field) -> Vec<(&'static str, String)> {
    let key = f.store_file("device.key");
    let pass = f.pass();
    let run = |args: &[&str]| openssl(f.dir.path(), args);
    run(&[
        "pkcs8",
        "-topk8",
        "-in",
        &key,
        "-out",
        "pkcs8.key",
        "-passout",
        &pass,
    ]);
    run(&[
        "pkcs8",
        "-topk8",
        "-in",
        &key,
        "-outform",
        "DER",
        "-out",
        "pkcs8.der",
        "-passout",
        &pass,
    ]);
    run(&[
        "ec",
        "-in",
        &key,
        "-aes256",
        "-out",
        "trad-aes.key",
        "-passout",
        &pass,
    ]);
    run(&[
        "ec",
        "-in",
        &key,
        "-des3",
        "-out",
        "trad-3des.key",
        "-passout",
        &pass,
    ]);
    vec![
        ("pkcs8.key", f.path("pkcs8.key")),
        ("pkcs8.der", f.path("pkcs8.der")),
        ("trad-aes.key", f.path("trad-aes.key")),
        ("trad-3des.key", f.path("trad-3des.key")),
    ]
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn encrypted_keys_are_named_everywhere_and_open_with_the_password() {
    let f = Field::new("encrypted");
    let pw = f.pw.to_str().unwrap().to_string();
    let ca = f.dir.join("ca");
    for (name, key) in encrypted_keys(&f) {
        if name.starts_with("trad") {
            let text = std::fs::read_to_string(&key).unwrap();
            assert!(text.contains("Proc-Type: 4,ENCRYPTED"), "{name}: {text}");
        }
        // inspect
        let run = pki(["inspect", &key]);
        assert_eq!(run.code, 2, "{name}: {}", run.stdout);
        assert!(
            run.stdout.contains("private key protected by a password"),
            "{name}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains("no password was given"),
            "{name}: {}",
            run.stdout
        );
        let opened = pki(["inspect", &key, "--password-file", &pw]);
        assert_eq!(opened.code, 0, "{name}: {}", opened.stdout);
        assert!(
            opened.stdout.contains("ECDSA P-256"),
            "{name}: {}",
            opened.stdout
        );

        // diagnose
        let loose = |extra: &[&str]| {
            let mut args = vec![
                "--cert".to_string(),
                f.store_file("device.crt"),
                "--chain".into(),
                f.store_file("chain.pem"),
                "--trust".into(),
                f.store_file("trust.pem"),
                "--key".into(),
                key.clone(),
            ];
            args.extend(extra.iter().map(|s| s.to_string()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            diagnose_at(&args)
        };
        let run = loose(&[]);
        assert_eq!(run.code, 2, "{name}: {}", run.stdout);
        assert_eq!(
            run.root_cause().as_deref(),
            Some("FILE_ENCRYPTED"),
            "{name}: {}",
            run.stdout
        );
        let found = run.finding("FILE_ENCRYPTED").unwrap();
        assert!(found["message"].as_str().unwrap().contains(name), "{found}");
        assert!(
            found["fix"].as_str().unwrap().contains("--password-file"),
            "{found}"
        );
        // the fix works
        let fixed = loose(&["--password-file", &pw]);
        assert_eq!(fixed.code, 0, "{name}: {}", fixed.stdout);

        // enroll --key: named, with the fix; with the password, enrolled
        let store = f.dir.join(&format!("enrolled-{name}"));
        let refused = enroll(&store, &ca, "dev-enc", AT, &["--key", &key]);
        assert_eq!(refused.code, 2, "{name}: {}", refused.stderr);
        assert!(refused.stderr.contains(name), "{}", refused.stderr);
        assert!(
            refused.stderr.contains("protected by a password"),
            "{}",
            refused.stderr
        );
        assert!(
            refused.stderr.contains("--password-file"),
            "{}",
            refused.stderr
        );
        assert!(!store.exists(), "a failed enroll leaves no store folder");
        let done = enroll(
            &store,
            &ca,
            "dev-enc",
            AT,
            &["--key", &key, "--password-file", &pw],
        );
        assert_eq!(done.code, 0, "{name}: {}", done.stderr);
        let judged = pki_tests::run::diagnose(&store, AT, &[]);
        assert_eq!(judged.code, 0, "{name}: {}", judged.stdout);
        // the store holds the key decrypted, as the server reads it
        let written = std::fs::read_to_string(store.join("device.key")).unwrap();
        assert!(
            written.starts_with("-----BEGIN PRIVATE KEY-----"),
            "{written}"
        );
    }
    // a wrong password is named as such
    let wrong = f.dir.write("wrong", "nope\n");
    let (_, key) = &encrypted_keys(&f)[2];
    let run = pki(["inspect", key, "--password-file", wrong.to_str().unwrap()]);
    assert!(
        run.stdout.contains("the password given does not open it"),
        "{}",
        run.stdout
    );
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn keys_rustls_cannot_use_are_named_for_what_they_are() {
    let dir = TempDir::new("misread-keys");
    let run = |args: &[&str]| {
        openssl(dir.path(), args);
    };
    run(&["dsaparam", "-out", "dsa.params", "1024"]);
    run(&["gendsa", "-out", "dsa.key", "dsa.params"]);
    run(&[
        "pkey",
        "-in",
        "dsa.key",
        "-traditional",
        "-out",
        "dsa-traditional.key",
    ]);
    run(&[
        "pkey",
        "-in",
        "dsa.key",
        "-outform",
        "DER",
        "-traditional",
        "-out",
        "dsa-traditional.der",
    ]);
    run(&["genpkey", "-algorithm", "ED448", "-out", "ed448.key"]);
    run(&["genpkey", "-algorithm", "X25519", "-out", "x25519.key"]);
    run(&["genpkey", "-algorithm", "X448", "-out", "x448.key"]);
    run(&[
        "genpkey",
        "-genparam",
        "-algorithm",
        "DH",
        "-pkeyopt",
        "dh_paramgen_prime_len:1024",
        "-out",
        "dh.params",
    ]);
    run(&["genpkey", "-paramfile", "dh.params", "-out", "dh.key"]);
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-pkeyopt",
        "ec_param_enc:explicit",
        "-out",
        "explicit.key",
    ]);
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-521",
        "-out",
        "p521.key",
    ]);
    // OpenSSL 3.0 cannot make ML-KEM keys: a PKCS#8 PrivateKeyInfo for ML-KEM-768 (FIPS 203,
    // OID 2.16.840.1.101.3.4.4.2) holding a 64-byte seed, as later OpenSSL versions write it
    let mut mlkem = vec![
        0x30, 0x54, 0x02, 0x01, 0x00, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
        0x04, 0x04, 0x02, 0x04, 0x42, 0x80, 0x40,
    ];
    mlkem.extend([7u8; 64]);
    dir.write("mlkem.der", &mlkem);
    let cases = [
        ("dsa.key", "DSA 1024 key (PKCS#8)"),
        (
            "dsa-traditional.key",
            "DSA 1024 key (OpenSSL traditional DSA)",
        ),
        (
            "dsa-traditional.der",
            "DSA 1024 key (OpenSSL traditional DSA)",
        ),
        ("ed448.key", "Ed448 key"),
        ("x25519.key", "X25519 key"),
        ("x448.key", "X448 key"),
        ("dh.key", "DH 1024 key"),
        ("explicit.key", "EC (explicit curve parameters) key"),
        ("p521.key", "ECDSA P-521 key"),
        ("mlkem.der", "ML-KEM-768 key"),
    ];
    for (name, what) in cases {
        let run = pki([
            "inspect",
            dir.join(name).to_str().unwrap(),
            "--format",
            "json",
        ]);
        assert_eq!(run.code, 0, "{name}: {}", run.stdout);
        let key = &run.json()[0]["objects"][0];
        assert_eq!(key["type"], "private_key", "{name}: {}", run.stdout);
        let unusable = key["unusable"].as_str().unwrap_or_default();
        assert!(
            unusable.starts_with(&format!("a valid {what}"))
                && unusable.contains("which the server cannot use"),
            "{name}: {unusable}"
        );
        assert!(
            !key["algorithm"].as_str().unwrap().contains("RSA") && key["format"] != "PKCS#1",
            "{name} is no RSA key: {}",
            run.stdout
        );
        assert!(
            !run.stdout.contains("not a valid private key"),
            "{}",
            run.stdout
        );
    }
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn requests_and_legacy_labels_are_read_for_what_they_are() {
    let f = Field::new("requests");
    let key = f.store_file("device.key");
    let run = |args: &[&str]| openssl(f.dir.path(), args);
    run(&[
        "req",
        "-new",
        "-key",
        &key,
        "-subj",
        "/CN=dev-csr",
        "-addext",
        "subjectAltName=DNS:dev-csr.fleet.internal",
        "-out",
        "device.csr",
    ]);
    run(&[
        "req",
        "-in",
        "device.csr",
        "-outform",
        "DER",
        "-out",
        "device.csr.der",
    ]);
    let legacy = std::fs::read_to_string(f.store.join("device.crt"))
        .unwrap()
        .replace("BEGIN CERTIFICATE", "BEGIN X509 CERTIFICATE")
        .replace("END CERTIFICATE", "END X509 CERTIFICATE");
    f.dir.write("legacy.crt", legacy);

    // inspect shows a request's subject, key and requested names, PEM or DER
    for name in ["device.csr", "device.csr.der"] {
        let run = pki(["inspect", &f.path(name), "--format", "json"]);
        assert_eq!(run.code, 0, "{name}: {}", run.stdout);
        let r = &run.json()[0]["objects"][0];
        assert_eq!(r["type"], "certificate_request", "{name}: {}", run.stdout);
        assert_eq!(r["subject"], "CN=dev-csr");
        assert_eq!(r["key"], "ECDSA P-256");
        assert_eq!(r["requested_names"][0], "DNS:dev-csr.fleet.internal");
        assert_eq!(r["signature_valid"], true);
    }
    // X509 CERTIFICATE is a certificate
    let run = pki(["inspect", &f.path("legacy.crt"), "--format", "json"]);
    assert_eq!(
        run.json()[0]["objects"][0]["type"],
        "certificate",
        "{}",
        run.stdout
    );

    // a request where the certificate belongs is named as one, with the command that signs it
    for name in ["device.csr", "device.csr.der"] {
        let run = diagnose_at(&["--cert", &f.path(name)]);
        assert_eq!(run.code, 2);
        let found = run
            .finding("CERT_MISSING")
            .unwrap_or_else(|| panic!("{}", run.stdout));
        let message = found["message"].as_str().unwrap();
        assert!(
            message.contains(name) && message.contains("certificate request"),
            "{message}"
        );
        assert!(!run.stdout.contains("FILE_CORRUPT"), "{}", run.stdout);
        assert!(
            found["fix"].as_str().unwrap().contains("pki ca sign"),
            "{found}"
        );
    }
    // in a managed store, and given to store install
    std::fs::copy(f.path("device.csr"), f.store.join("device.crt")).unwrap();
    let run = pki_tests::run::diagnose(&f.store, AT, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("CERT_MISSING"),
        "{}",
        run.stdout
    );
    let fix = run.finding("CERT_MISSING").unwrap()["fix"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(fix.contains("pki store install"), "{fix}");
    let install = pki([
        "store",
        "install",
        f.store.to_str().unwrap(),
        &f.path("device.csr"),
    ]);
    assert_eq!(install.code, 2, "{}", install.stderr);
    assert!(
        install.stderr.contains("certificate request"),
        "{}",
        install.stderr
    );
}

#[test]
fn a_server_certificate_without_name_gets_its_chain_judged() {
    use pki_tests::Ca;
    let root = Ca::root("Server Root");
    let issuing = root.intermediate("Server Issuing");
    let server = issuing.leaf_with("api", |p| {
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        p.subject_alt_names = vec![rcgen::SanType::DnsName(
            "api.example.com".try_into().unwrap(),
        )];
    });
    let dir = TempDir::new("server-noname");
    let cert = dir.write("server.crt", &server.pem);
    let chain = dir.write("chain.pem", &issuing.pem);
    let trust = dir.write("trust.pem", &root.pem);
    let args = |extra: &[&str]| {
        let mut a = vec![
            "--cert".to_string(),
            cert.display().to_string(),
            "--chain".into(),
            chain.display().to_string(),
            "--trust".into(),
            trust.display().to_string(),
            "--purpose".into(),
            "server".into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        diagnose_at(&a)
    };
    let no_name = run(&[]);
    assert_eq!(
        no_name.verdict(),
        "accepted",
        "chain judged, accepted: {}{}",
        no_name.stdout,
        no_name.stderr
    );
    let info = no_name.finding("NAME_NOT_CHECKED").unwrap();
    assert_eq!(info["severity"], "info");
    assert!(info["fix"].as_str().unwrap().contains("--name"));
    // the chain is still judged: without the intermediate it is rejected
    let a = args(&[]);
    let broken: Vec<&str> = a
        .iter()
        .map(String::as_str)
        .filter(|s| !s.ends_with("chain.pem") && *s != "--chain")
        .collect();
    assert_eq!(
        diagnose_at(&broken).root_cause().as_deref(),
        Some("CHAIN_INCOMPLETE")
    );
    // with a name, it is checked
    assert_eq!(run(&["--name", "api.example.com"]).verdict(), "accepted");
    assert_eq!(
        run(&["--name", "other.example.com"])
            .root_cause()
            .as_deref(),
        Some("NAME_MISMATCH")
    );
    assert!(run(&["--name", "api.example.com"])
        .finding("NAME_NOT_CHECKED")
        .is_none());
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn a_brought_key_the_policy_refuses_is_named_in_the_dry_run_and_nothing_is_made() {
    // an RSA key, as a Windows endpoint carries, under the device policy (ECDSA and Ed25519)
    let f = Field::new("key-policy");
    openssl(
        f.dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.key",
        ],
    );
    let key = f.path("rsa.key");
    let ca = f.path("ca");
    let store = f.path("new-store");
    for dry in [true, false] {
        let mut args = vec![
            "enroll",
            &store,
            "--ca",
            &ca,
            "--device-id",
            "dev-rsa",
            "--key",
            &key,
            "--at",
            AT,
        ];
        if dry {
            args.push("--dry-run");
        }
        let run = pki(&args);
        assert_eq!(run.code, 2, "dry run {dry}: {}{}", run.stdout, run.stderr);
        // the key file is named, the request pki made for it (never written) is not
        assert!(run.stderr.contains(&key), "{}", run.stderr);
        assert!(!run.stderr.contains("device.csr"), "{}", run.stderr);
        assert!(
            run.stderr.contains("ECDSA P-256, ECDSA P-384, Ed25519"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("EcdsaP256"), "{}", run.stderr);
        assert!(!PathBuf::from(&store).exists(), "{store} was made");
    }
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn a_pair_rustls_cannot_use_is_refused_in_words() {
    // an RSA 1024 key with a certificate the CA issued for it (signed with openssl: pki's CA
    // would refuse the request)
    let f = Field::new("weak-pair");
    let run = |args: &[&str]| openssl(f.dir.path(), args);
    run(&[
        "req",
        "-new",
        "-newkey",
        "rsa:1024",
        "-nodes",
        "-keyout",
        "weak.key",
        "-out",
        "weak.csr",
        "-subj",
        "/CN=dev-weak",
    ]);
    f.dir.write(
        "ext.cnf",
        "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    );
    run(&[
        "x509",
        "-req",
        "-in",
        "weak.csr",
        "-CA",
        "ca/issuing-1.crt",
        "-CAkey",
        "ca/issuing-1.key",
        "-out",
        "weak.crt",
        "-days",
        "30",
        "-extfile",
        "ext.cnf",
    ]);
    let (cert, key) = (f.path("weak.crt"), f.path("weak.key"));
    let chain = f.store_file("chain.pem");
    let trust = f.store_file("trust.pem");
    let store = f.path("weak-store");
    let run = pki([
        "store", "import", &store, &cert, &key, &chain, &trust, "--at", AT,
    ]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("RSA 1024"), "{}", run.stderr);
    assert!(!run.stderr.contains("Unusable("), "{}", run.stderr);
    assert!(!run.stderr.contains("Mismatch("), "{}", run.stderr);
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn an_import_left_rejected_says_why_and_what_to_do_on_lines_of_their_own() {
    // the device's PKCS#12 file, imported with another CA's root as --trust: imported, and
    // rejected after
    let f = Field::new("import-rejected");
    let pfx = f.pfx("device.pfx", &[], "pass:");
    openssl(
        f.dir.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "other.key",
            "-out",
            "other.pem",
            "-subj",
            "/CN=Other Root",
            "-days",
            "30",
        ],
    );
    let store = f.path("bare-store");
    let run = pki([
        "store",
        "import",
        &store,
        &pfx,
        "--trust",
        &f.path("other.pem"),
        "--at",
        AT,
    ]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let remaining = run.stdout.lines().find(|l| l.starts_with("  remaining: "));
    let fix = run.stdout.lines().find(|l| l.starts_with("  fix: "));
    assert!(remaining.is_some() && fix.is_some(), "{}", run.stdout);
    assert!(
        !run.stdout.contains("\\n"),
        "an escaped line end: {}",
        run.stdout
    );
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn an_audit_opens_the_pkcs12_files_of_a_fleet_with_the_password() {
    // Windows endpoints' exports collected in a fleet folder, one folder each
    let f = Field::new("audit-p12");
    let pfx = f.pfx("device.pfx", &[], &f.pass());
    let win = f.dir.join("fleet/win-0001");
    std::fs::create_dir_all(&win).unwrap();
    std::fs::copy(&pfx, win.join("device.pfx")).unwrap();
    let fleet = f.path("fleet");
    let audit = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["audit", &fleet, "--at", AT, "--format", "json"];
        args.extend_from_slice(extra);
        pki_env(args, env)
    };
    let locked = audit(&[], &[]);
    assert_eq!(locked.code, 2, "{}", locked.stdout);
    assert_eq!(
        locked.json()["stores"][0]["findings"][0]["code"],
        "FILE_ENCRYPTED",
        "{}",
        locked.stdout
    );
    let pw = f.pw.to_str().unwrap();
    for open in [
        audit(&["--password-file", pw], &[]),
        audit(&[], &[("PKI_PASSWORD", "correct horse")]),
    ] {
        assert_eq!(open.code, 0, "{}{}", open.stdout, open.stderr);
        assert_eq!(open.json()["summary"]["ok"], 1, "{}", open.stdout);
    }
}
