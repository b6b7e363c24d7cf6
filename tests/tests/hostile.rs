//! Hostile stores, as an attacker who can write into a store folder (or a careless admin) makes
//! them: paths out of the store in the journal, symlinks out, FIFOs, devices, huge files,
//! garbage, loops, locks that are not what they seem. Each shape is built in the test. What
//! must hold: no command hangs, reads without end, or reaches outside the store; findings and
//! refusals name the file; and every shape repaired twice with `--ca` settles: the second run
//! changes nothing (the whole store hashed, `backup/` included), the number of distinct private
//! keys does not grow after the first run, and the store is accepted or the refusal says what
//! is needed.
//!
//! CI runs this as root; the shapes that need an unprivileged caller run `pki` as `nobody`
//! through `setpriv` (they fail under `CI=true` when that is impossible, and say "skipped"
//! loudly otherwise).

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::ca::{enroll, init};
use pki_tests::run::binary;
use pki_tests::{Run, TempDir, AT};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A CA, a store enrolled from it, and a folder outside the store holding a secret.
struct Site {
    dir: TempDir,
    ca: PathBuf,
    store: PathBuf,
    outside: PathBuf,
    serial: String,
}

const SECRET: &str = "root-only secret: must never be copied, changed or removed\n";

fn new_site(label: &str) -> Site {
    let dir = TempDir::new(label);
    let ca = init(&dir, "2026-01-01T00:00:00Z", &[]);
    let store = dir.join("store");
    let run = enroll(&store, &ca, "dev-hostile", "2026-02-01T00:00:00Z", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let serial = run.json()["serial"].as_str().unwrap().to_string();
    let outside = dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let secret = outside.join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    Site {
        dir,
        ca,
        store,
        outside,
        serial,
    }
}

impl Site {
    fn s(&self) -> &str {
        self.store.to_str().unwrap()
    }

    fn ca(&self) -> &str {
        self.ca.to_str().unwrap()
    }

    /// The outside folder is as it was made: the secret, and nothing else.
    fn assert_outside_untouched(&self) {
        assert_eq!(
            tree(&self.outside).keys().cloned().collect::<Vec<_>>(),
            ["secret"],
            "something was written outside the store"
        );
        assert_eq!(
            std::fs::read_to_string(self.outside.join("secret")).unwrap(),
            SECRET
        );
        let mode = std::fs::metadata(self.outside.join("secret"))
            .unwrap()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the secret's mode changed");
    }
}

// ---- running pki with a deadline, optionally as nobody ----

/// Runs `pki args` and fails the test if it has not ended within `limit` (a FIFO hang).
fn pki_within(limit: Duration, args: &[&str]) -> Run {
    run_within(limit, Command::new(binary()).args(args))
}

fn run_within(limit: Duration, cmd: &mut Command) -> Run {
    let mut child = cmd
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pki");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).ok();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).ok();
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} hung: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

const LIMIT: Duration = Duration::from_secs(60);

fn pki(args: &[&str]) -> Run {
    pki_within(LIMIT, args)
}

fn diagnose(store: &str) -> Run {
    pki(&["diagnose", store, "--at", AT, "--format", "json"])
}

fn repair(site: &Site, extra: &[&str]) -> Run {
    let mut args = vec!["repair", site.s(), "--at", AT, "--format", "json"];
    args.extend_from_slice(extra);
    pki(&args)
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `pki args` as the user nobody; `None` (after saying "skipped" loudly) when this test does
/// not run as root — which fails under CI, where it must.
fn as_nobody(args: &[&str]) -> Option<Run> {
    if !is_root() {
        pki_tests::skip("not root, cannot run pki as nobody (CI runs the hostile tests as root)");
        return None;
    }
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(binary())
        .args(args);
    Some(run_within(LIMIT, &mut cmd))
}

/// Gives the whole tree to nobody (so that nobody can write the store).
fn chown_nobody(path: &Path) {
    for (rel, _) in tree(path) {
        let p = path.join(rel);
        std::os::unix::fs::lchown(&p, Some(65534), Some(65534)).unwrap();
    }
    std::os::unix::fs::chown(path, Some(65534), Some(65534)).unwrap();
}

// ---- looking at a store without following anything ----

/// Every entry under `dir` (relative path → what it is: the SHA-256 of a file, the text of a
/// link, "fifo", "dir"), never following a link or opening anything but a regular file.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let t = meta.file_type();
            let what = if t.is_symlink() {
                format!("link to {}", std::fs::read_link(&path).unwrap().display())
            } else if t.is_dir() {
                stack.push(path.clone());
                "dir".to_string()
            } else if t.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                format!(
                    "{:o} {}",
                    meta.mode() & 0o777,
                    pki_core::read::cert::sha256_hex(&bytes)
                )
            } else {
                "special".to_string()
            };
            out.insert(rel, what);
        }
    }
    out
}

/// Every regular file under `dir`, by its real path (a name that is not UTF-8 included),
/// never following a link.
fn regular_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let t = std::fs::symlink_metadata(&path).unwrap().file_type();
            if t.is_dir() {
                stack.push(path);
            } else if t.is_file() {
                out.push(path);
            }
        }
    }
    out
}

/// The distinct private keys anywhere in the store (backups included).
fn keys(dir: &Path) -> BTreeSet<Vec<u8>> {
    let mut out = BTreeSet::new();
    for path in regular_files(dir) {
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for block in text.split("-----BEGIN ").skip(1) {
            if block.starts_with("PRIVATE KEY") || block.starts_with("EC PRIVATE KEY") {
                let body: String = block
                    .lines()
                    .skip(1)
                    .take_while(|l| !l.starts_with("-----END"))
                    .collect();
                out.insert(body.into_bytes());
            }
        }
    }
    out
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

fn replace_with_link(path: &Path, target: &Path) {
    let _ = std::fs::remove_file(path);
    symlink(target, path).unwrap();
}

fn replace_with_fifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    mkfifo(path);
}

fn actions(run: &Run) -> Vec<String> {
    run.json()["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap().to_string())
        .collect()
}

fn messages(run: &Run) -> String {
    run.json()["findings"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| format!("{} {}", f["code"], f["message"]))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

// ---- every shape, repaired twice ----

/// One hostile shape: a name and what it does to a store.
type Shape = (&'static str, fn(&Site));

fn shapes() -> Vec<Shape> {
    vec![
        ("cert-link-out", |s| {
            replace_with_link(&s.store.join("device.crt"), &s.outside.join("secret"))
        }),
        ("chain-link-out", |s| {
            replace_with_link(&s.store.join("chain.pem"), &s.outside.join("secret"))
        }),
        ("key-link-to-dev-zero", |s| {
            replace_with_link(&s.store.join("device.key"), Path::new("/dev/zero"))
        }),
        ("trust-link-to-dev-zero", |s| {
            replace_with_link(&s.store.join("trust.pem"), Path::new("/dev/zero"))
        }),
        ("cert-fifo", |s| {
            replace_with_fifo(&s.store.join("device.crt"))
        }),
        ("key-fifo", |s| {
            replace_with_fifo(&s.store.join("device.key"))
        }),
        ("chain-fifo", |s| {
            replace_with_fifo(&s.store.join("chain.pem"))
        }),
        ("trust-fifo", |s| {
            replace_with_fifo(&s.store.join("trust.pem"))
        }),
        ("cert-symlink-loop", |s| {
            replace_with_link(&s.store.join("device.crt"), Path::new("device.crt"))
        }),
        ("journal-fifo", |s| {
            replace_with_fifo(&s.store.join("journal.jsonl"))
        }),
        ("journal-link-out", |s| {
            replace_with_link(&s.store.join("journal.jsonl"), &s.outside.join("secret"))
        }),
        ("journal-link-to-dev-zero", |s| {
            replace_with_link(&s.store.join("journal.jsonl"), Path::new("/dev/zero"))
        }),
        ("manifest-fifo", |s| {
            replace_with_fifo(&s.store.join("store.yaml"))
        }),
        ("manifest-names-outside", |s| {
            let path = s.store.join("store.yaml");
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text.replace(
                "files:\n",
                "files:\n  /etc/passwd: 0000000000000000000000000000000000000000000000000000000000000000\n  ../../x: 0000000000000000000000000000000000000000000000000000000000000000\n  /dev/zero: 0000000000000000000000000000000000000000000000000000000000000000\n",
            );
            std::fs::write(path, text).unwrap();
        }),
        ("lock-fifo", |s| mkfifo(&s.store.join(".lock"))),
        ("lock-link-to-dev-zero", |s| {
            symlink("/dev/zero", s.store.join(".lock")).unwrap()
        }),
        ("lock-folder", |s| {
            std::fs::create_dir(s.store.join(".lock")).unwrap()
        }),
        ("lock-garbage", |s| {
            std::fs::write(s.store.join(".lock"), "garbage\n").unwrap()
        }),
        ("lock-20-digit-pid", |s| {
            std::fs::write(s.store.join(".lock"), "12345678901234567890").unwrap()
        }),
        ("crl-garbage", |s| {
            std::fs::create_dir_all(s.store.join("crl")).unwrap();
            std::fs::write(s.store.join("crl/garbage.crl"), "not a CRL at all").unwrap();
        }),
        ("crl-fifo", |s| {
            std::fs::create_dir_all(s.store.join("crl")).unwrap();
            mkfifo(&s.store.join("crl/pipe.crl"));
        }),
        ("crl-folder-link-out", |s| {
            symlink(&s.outside, s.store.join("crl")).unwrap()
        }),
        ("backup-link-out", |s| {
            symlink(&s.outside, s.store.join("backup")).unwrap();
            std::fs::write(s.store.join("trust.pem"), "").unwrap();
        }),
        ("chain-200-same-name-cas", |s| same_name_cas(s, 200)),
        ("chain-loop", chain_loop),
        ("cert-hard-link-out", |s| {
            std::fs::remove_file(s.store.join("device.crt")).unwrap();
            std::fs::hard_link(s.outside.join("secret"), s.store.join("device.crt")).unwrap();
        }),
        ("journal-hard-link-out", |s| {
            std::fs::remove_file(s.store.join("journal.jsonl")).unwrap();
            std::fs::hard_link(s.outside.join("secret"), s.store.join("journal.jsonl")).unwrap();
            std::fs::write(s.store.join("chain.pem"), "").unwrap();
        }),
        ("manifest-hard-link-out", |s| {
            std::fs::remove_file(s.store.join("store.yaml")).unwrap();
            std::fs::hard_link(s.outside.join("secret"), s.store.join("store.yaml")).unwrap();
        }),
        ("cert-socket", |s| socket_at(&s.store.join("device.crt"))),
        ("crl-socket", |s| {
            std::fs::create_dir_all(s.store.join("crl")).unwrap();
            socket_at(&s.store.join("crl/s.crl"));
        }),
        ("crl-entry-link-out", |s| {
            std::fs::create_dir_all(s.store.join("crl")).unwrap();
            symlink(s.outside.join("secret"), s.store.join("crl/a.crl")).unwrap();
        }),
        ("crl-a-file", |s| {
            std::fs::write(s.store.join("crl"), "not a folder").unwrap()
        }),
        ("backup-fifo", |s| {
            mkfifo(&s.store.join("backup"));
            std::fs::write(s.store.join("chain.pem"), "").unwrap();
        }),
        ("backup-link-in", |s| {
            std::fs::create_dir(s.store.join("crl")).unwrap();
            symlink("crl", s.store.join("backup")).unwrap();
            std::fs::write(s.store.join("chain.pem"), "").unwrap();
        }),
        ("backup-entries-hostile", |s| {
            let generation = s.store.join("backup/0001-2026-01-01T000000Z");
            std::fs::create_dir_all(&generation).unwrap();
            mkfifo(&generation.join("device.key"));
            symlink(s.outside.join("secret"), generation.join("trust.pem")).unwrap();
            std::fs::hard_link(s.outside.join("secret"), generation.join("chain.pem")).unwrap();
            symlink(&s.outside, s.store.join("backup/0002-2026-01-02T000000Z")).unwrap();
            std::fs::write(s.store.join("trust.pem"), "").unwrap();
        }),
        ("pending-fifo-and-link-out", |s| {
            mkfifo(&s.store.join("device.key.pending"));
            symlink(s.outside.join("secret"), s.store.join("device.csr")).unwrap();
        }),
        ("stray-fifos", |s| {
            mkfifo(&s.store.join("device.key.old"));
            mkfifo(&s.store.join("old.crt"));
            std::fs::write(s.store.join("chain.pem"), "").unwrap();
        }),
        ("lock-link-in", |s| {
            symlink("device.key", s.store.join(".lock")).unwrap()
        }),
        ("crl-name-not-utf8", |s| {
            use std::os::unix::ffi::OsStrExt;
            std::fs::create_dir_all(s.store.join("crl")).unwrap();
            let name = std::ffi::OsStr::from_bytes(b"\xff\xfe.crl");
            std::fs::write(s.store.join("crl").join(name), "not a CRL").unwrap();
        }),
    ]
}

#[test]
fn a_crl_whose_name_is_not_utf8_is_named_not_skipped() {
    use std::os::unix::ffi::OsStrExt;
    let site = new_site("crl-not-utf8");
    std::fs::create_dir(site.store.join("crl")).unwrap();
    let name = std::ffi::OsStr::from_bytes(b"\xff\xfe.crl");
    std::fs::write(site.store.join("crl").join(name), "not a CRL").unwrap();
    let seen = diagnose(site.s());
    assert_eq!(seen.code, 2, "{}", seen.stdout);
    assert!(
        messages(&seen).contains("a file name that is not UTF-8 text"),
        "{}",
        seen.stdout
    );
    let before = tree(&site.store);
    let run = repair(&site, &["--ca", site.ca()]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("rename or remove it"), "{}", run.stderr);
    assert_eq!(tree(&site.store), before);
}

#[test]
fn every_hostile_shape_settles_after_one_repair_and_never_reaches_outside() {
    let mut report = Vec::new();
    for (name, make) in shapes() {
        let site = new_site(&format!("shape-{name}"));
        make(&site);
        // no command hangs or reads without end
        let seen = diagnose(site.s());
        assert!(
            matches!(seen.code, 0..=3),
            "{name}: diagnose exit {}: {}",
            seen.code,
            seen.stderr
        );
        let dry = repair(&site, &["--dry-run", "--ca", site.ca()]);
        assert!(
            dry.code != 64,
            "{name}: a dry run is no usage error: {}",
            dry.stderr
        );

        let first = repair(&site, &["--ca", site.ca()]);
        let keys_first = keys(&site.store);
        let settled = tree(&site.store);
        let second = repair(&site, &["--ca", site.ca()]);
        assert_eq!(
            tree(&site.store),
            settled,
            "{name}: the second repair changed the store\nfirst: {}{}\nsecond: {}{}",
            first.stdout,
            first.stderr,
            second.stdout,
            second.stderr
        );
        assert_eq!(
            keys(&site.store),
            keys_first,
            "{name}: the second repair made a key"
        );
        site.assert_outside_untouched();
        // accepted, or refused saying what is needed
        let after = diagnose(site.s());
        if first.code == 0 || first.code == 1 {
            assert_eq!(after.verdict(), "accepted", "{name}: {}", after.stdout);
        } else {
            // refused naming the file and what to do, or a plan that says what it needs (a
            // store whose key is gone proves no device: it is enrolled by someone who knows)
            let needs = second.code == 2
                && second.stdout.contains("needs-input")
                && second.stdout.contains(&format!("pki enroll {}", site.s()));
            assert!(
                needs || (second.stderr.contains(site.s()) && second.stderr.contains("remove")),
                "{name}: a refusal names the file and what to do: exit {} {}{}",
                second.code,
                second.stdout,
                second.stderr
            );
            assert!(
                second.code == 2 || second.code == 3,
                "{name}: exit {}",
                second.code
            );
        }
        // whatever the repair did can be undone, without reaching outside either
        let back = pki(&["store", "rollback", site.s(), "--at", AT]);
        assert!(
            matches!(back.code, 0 | 2),
            "{name}: rollback exit {}: {}",
            back.code,
            back.stderr
        );
        site.assert_outside_untouched();
        report.push(format!(
            "{name}: first exit {}, second exit {}, keys {}",
            first.code,
            second.code,
            keys_first.len()
        ));
    }
    eprintln!("{}", report.join("\n"));
}

// ---- the shapes seen, one test each ----

/// A journal entry as the toolkit writes it, naming `file` with `backup`.
fn journal_line(seq: u64, file: &str, before: Option<&str>, backup: &str) -> String {
    serde_json::json!({
        "seq": seq, "at": AT, "action": "repair", "reason": "planted",
        "files": [{"file": file, "before": before, "after": "00"}],
        "backup": backup,
    })
    .to_string()
}

#[test]
fn rollback_never_follows_a_path_out_of_the_store_from_the_journal() {
    for (label, file) in [
        ("relative", "x/../../outside/f".to_string()),
        ("absolute", String::new()),
    ] {
        let site = new_site(&format!("rollback-{label}"));
        let target = site.outside.join("f");
        let file = if file.is_empty() {
            target.display().to_string()
        } else {
            file
        };
        // a backup holding the bytes the journal promises, planted where the path leads
        let planted = b"planted by an attacker\n";
        let backup = "backup/0009-2026-03-01T000000Z";
        let hash = pki_core::read::cert::sha256_hex(planted);
        let at = site.store.join(backup).join(&file);
        if label == "relative" {
            std::fs::create_dir_all(at.parent().unwrap()).ok();
        }
        let journal = site.store.join("journal.jsonl");
        let mut text = std::fs::read_to_string(&journal).unwrap();
        text.push_str(&journal_line(9, &file, Some(&hash), backup));
        text.push('\n');
        std::fs::write(&journal, text).unwrap();
        let before = tree(&site.store);
        let run = pki(&["store", "rollback", site.s(), "--at", AT]);
        assert_eq!(run.code, 2, "{label}: refused: {}", run.stderr);
        assert!(
            run.stderr.contains("no file of a store") && run.stderr.contains("journal.jsonl"),
            "{label}: {}",
            run.stderr
        );
        assert!(
            !target.exists(),
            "{label}: rollback wrote outside the store"
        );
        site.assert_outside_untouched();
        assert_eq!(
            tree(&site.store),
            before,
            "{label}: a refused rollback changes nothing"
        );
        // diagnose says the journal was edited
        let seen = diagnose(site.s());
        assert!(
            messages(&seen).contains("no file of a store"),
            "{label}: {}",
            seen.stdout
        );
    }

    // "before": null would take the file out: the outside secret stays
    let site = new_site("rollback-delete");
    let secret = site.outside.join("secret").display().to_string();
    let journal = site.store.join("journal.jsonl");
    let mut text = std::fs::read_to_string(&journal).unwrap();
    text.push_str(&journal_line(9, &secret, None, "backup/0009-x"));
    text.push('\n');
    std::fs::write(&journal, text).unwrap();
    let run = pki(&["store", "rollback", site.s(), "--at", AT]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    site.assert_outside_untouched();
}

#[test]
fn a_role_file_linked_to_a_root_only_file_is_never_copied_into_backup() {
    let site = new_site("link-secret");
    replace_with_link(&site.store.join("chain.pem"), &site.outside.join("secret"));
    let seen = diagnose(site.s());
    assert!(
        messages(&seen).contains("chain.pem: a symlink leading out of the store"),
        "{}",
        seen.stdout
    );
    let run = repair(&site, &["--ca", site.ca()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for (rel, what) in tree(&site.store) {
        if what.starts_with('6') || what.starts_with('4') {
            let bytes = std::fs::read(site.store.join(&rel)).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains("root-only secret"),
                "{rel} holds the secret"
            );
        }
    }
    site.assert_outside_untouched();
    // the link itself was replaced, not written through
    assert!(!std::fs::symlink_metadata(site.store.join("chain.pem"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn the_journal_and_backup_planted_as_links_out_are_never_written_through() {
    for planted in ["journal.jsonl", "backup"] {
        let site = new_site(&format!("planted-{planted}"));
        let target = if planted == "backup" {
            site.outside.clone()
        } else {
            site.outside.join("secret")
        };
        replace_with_link(&site.store.join(planted), &target);
        std::fs::write(site.store.join("trust.pem"), "").unwrap(); // work that needs a backup
        let run = repair(&site, &["--ca", site.ca()]);
        site.assert_outside_untouched();
        assert!(
            !site.store.join(".lock").exists(),
            "{planted}: the lock is released"
        );
        if planted == "backup" {
            // the backups cannot be written: refused, naming the link and what to do
            assert_eq!(run.code, 2, "{planted}: {}{}", run.stdout, run.stderr);
            assert!(
                run.stderr.contains(&format!("{}/backup", site.s()))
                    && run.stderr.contains("not the toolkit's backup folder")
                    && run.stderr.contains("remove it"),
                "{planted}: the message names the link: {}",
                run.stderr
            );
        } else {
            // the journal link is set aside (the link itself moved, not followed)
            assert_eq!(run.code, 0, "{planted}: {}{}", run.stdout, run.stderr);
            assert!(actions(&run).contains(&"set-journal-aside".to_string()));
            let aside = tree(&site.store)
                .into_iter()
                .find(|(k, _)| k.starts_with("backup/") && k.ends_with("/journal.jsonl"))
                .unwrap();
            assert!(aside.1.starts_with("link to"), "{aside:?}");
            assert!(diagnose(site.s()).finding("STORE_TAMPERED").is_none());
        }
    }
}

#[test]
fn temporary_names_planted_as_links_out_are_replaced_not_followed() {
    let site = new_site("planted-tmp");
    std::fs::remove_file(site.store.join("chain.pem")).unwrap();
    // the repair writes a key: it runs after the certificate expired (a new key and
    // certificate), as pid 1 of a new pid namespace, so the names it will use are known
    let expired = "2027-03-01T00:00:00Z";
    let secret = site.outside.join("secret");
    let planted = [
        ".device.key.tmp-1",
        ".chain.pem.tmp-1",
        ".lock.1",
        ".store.yaml.tmp-1",
    ];
    for name in planted {
        symlink(&secret, site.store.join(name)).unwrap();
    }
    if !is_root() {
        pki_tests::skip("not root, cannot run pki in a pid namespace (unshare; CI runs as root)");
        return;
    }
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--"]).arg(binary()).args([
        "repair",
        site.s(),
        "--ca",
        site.ca(),
        "--at",
        expired,
    ]);
    let run = run_within(LIMIT, &mut cmd);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    site.assert_outside_untouched();
    // each planted name was in the repair's way and was replaced, not followed
    for name in planted {
        assert!(
            std::fs::symlink_metadata(site.store.join(name)).is_err(),
            "{name} is still there: the repair did not run as pid 1"
        );
    }
    let after = pki(&["diagnose", site.s(), "--at", expired, "--format", "json"]);
    assert_eq!(after.verdict(), "accepted", "{}", after.stdout);
}

#[test]
fn fifos_block_nothing_and_are_named() {
    for role in ["device.crt", "device.key", "chain.pem", "trust.pem"] {
        let site = new_site(&format!("fifo-{role}"));
        replace_with_fifo(&site.store.join(role));
        let seen = diagnose(site.s());
        assert_eq!(seen.code, 2, "{role}: {}", seen.stdout);
        assert!(
            messages(&seen).contains(&format!("{role}: a FIFO (named pipe), not a regular file")),
            "{role}: {}",
            seen.stdout
        );
    }
    // journal, lock, store.yaml naming one, and a fleet audit over such stores
    let site = new_site("fifo-rest");
    replace_with_fifo(&site.store.join("journal.jsonl"));
    mkfifo(&site.store.join(".lock"));
    mkfifo(&site.store.join("crl-pipe"));
    let path = site.store.join("store.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("files:\n", "files:\n  crl-pipe: 00\n");
    std::fs::write(path, text).unwrap();
    let seen = diagnose(site.s());
    let all = messages(&seen);
    assert!(all.contains("journal.jsonl: a FIFO"), "{all}");
    assert!(all.contains(".lock: it is a FIFO"), "{all}");
    assert!(
        all.contains("names 'crl-pipe', which is no file of a store"),
        "{all}"
    );
    let audit = pki(&["audit", site.dir.str(), "--at", AT, "--format", "json"]);
    assert!(matches!(audit.code, 0..=3), "{}", audit.stderr);

    // command-line inputs: policy check, ca sign, --policy, --trust
    let fifo = site.dir.join("input-fifo");
    mkfifo(&fifo);
    let f = fifo.to_str().unwrap();
    for args in [
        vec!["policy", "check", f],
        vec!["ca", "sign", "--ca", site.ca(), f, "--at", AT],
        vec!["diagnose", site.s(), "--policy", f, "--at", AT],
        vec!["diagnose", site.s(), "--trust", f, "--at", AT],
    ] {
        let run = pki(&args);
        assert_eq!(run.code, 64, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(f) && run.stderr.contains("FIFO"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

#[test]
fn dev_zero_and_huge_files_are_never_read_whole() {
    let site = new_site("zero");
    for role in ["device.crt", "journal.jsonl"] {
        replace_with_link(&site.store.join(role), Path::new("/dev/zero"));
    }
    symlink("/dev/zero", site.store.join(".lock")).unwrap();
    let seen = diagnose(site.s());
    let all = messages(&seen);
    assert!(
        all.contains("device.crt: a symlink leading out of the store (to /dev/zero)"),
        "{all}"
    );
    assert!(
        all.contains("journal.jsonl: a symlink leading out"),
        "{all}"
    );
    assert!(
        all.contains(".lock: it is a symlink (to /dev/zero), not a lock file"),
        "{all}"
    );
    let site = new_site("zero-inputs");
    let zero = "/dev/zero";
    for args in [
        vec!["policy", "check", zero],
        vec!["ca", "sign", "--ca", site.ca(), zero, "--at", AT],
        vec!["diagnose", site.s(), "--policy", zero, "--at", AT],
        vec!["diagnose", site.s(), "--trust", zero, "--at", AT],
        vec!["repair", site.s(), "--trust", zero, "--at", AT],
        vec!["inspect", zero],
    ] {
        let run = pki(&args);
        assert!(
            run.code == 64 || run.code == 2,
            "{args:?}: {} {}",
            run.code,
            run.stderr
        );
        assert!(
            run.stderr.contains("a character device") || run.stdout.contains("a character device"),
            "{args:?}: {}{}",
            run.stdout,
            run.stderr
        );
    }

    // a 200 MB journal (one endless line, then entries) is streamed in little memory
    let site = new_site("huge-journal");
    let journal = site.store.join("journal.jsonl");
    let kept = std::fs::read(&journal).unwrap();
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&journal).unwrap();
        f.write_all(&kept).unwrap();
        let line = vec![b'x'; 1 << 20];
        for _ in 0..200 {
            f.write_all(&line).unwrap();
        }
        f.write_all(b"\n").unwrap();
    }
    let (run, kib) = peak_memory(&["diagnose", site.s(), "--at", AT, "--format", "json"]);
    assert_eq!(
        run.code, 1,
        "an edited journal is STORE_TAMPERED (a warning): {}",
        run.stdout
    );
    assert!(
        messages(&run).contains("longer than 65536 bytes"),
        "{}",
        run.stdout
    );
    assert!(
        kib < 64 * 1024,
        "diagnose took {kib} KiB for a 200 MB journal"
    );
    eprintln!("diagnose of a store with a 200 MB journal: peak {kib} KiB");
}

/// Runs `pki args` under `/usr/bin/time` and returns its peak memory in KiB.
fn peak_memory(args: &[&str]) -> (Run, u64) {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        pki_tests::skip("memory measure: /usr/bin/time is missing (.ci/run installs it)");
        return (pki(args), 0);
    }
    let report = std::env::temp_dir().join(format!("pki-rss-{}", std::process::id()));
    let mut cmd = Command::new(time);
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(binary())
        .args(args);
    let run = run_within(LIMIT, &mut cmd);
    // GNU time puts "Command exited with non-zero status N" first when it did
    let text = std::fs::read_to_string(&report).unwrap();
    let kib = text.lines().last().unwrap().trim().parse().unwrap();
    let _ = std::fs::remove_file(report);
    (run, kib)
}

#[test]
fn names_in_store_yaml_are_never_opened() {
    let site = new_site("manifest-names");
    let path = site.store.join("store.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "files:\n",
        "files:\n  /etc/passwd: 00\n  ../../x: 00\n  /dev/zero: 00\n",
    );
    std::fs::write(&path, text).unwrap();
    let seen = diagnose(site.s());
    let all = messages(&seen);
    for name in ["/etc/passwd", "../../x", "/dev/zero"] {
        assert!(
            all.contains(&format!(
                "names '{name}', which is no file of a store; not read"
            )),
            "{name}: {all}"
        );
    }
    assert!(
        !all.contains("now has SHA-256"),
        "nothing outside is hashed: {all}"
    );
    // the fix promised: repair re-records the store without them
    let run = repair(&site, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let after = diagnose(site.s());
    assert!(
        after.finding("STORE_TAMPERED").is_none(),
        "{}",
        after.stdout
    );
}

#[test]
fn a_garbage_crl_is_taken_out_not_answered_with_a_new_key() {
    let site = new_site("crl-garbage");
    std::fs::create_dir_all(site.store.join("crl")).unwrap();
    std::fs::write(site.store.join("crl/garbage.crl"), "not a CRL").unwrap();
    let keys_before = keys(&site.store);
    let run = repair(&site, &["--ca", site.ca()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let actions = actions(&run);
    assert!(
        actions.contains(&"drop-unreadable-crl".to_string()),
        "{}",
        run.stdout
    );
    assert!(
        !actions.iter().any(|a| a == "reissue"),
        "no new certificate for a garbage CRL: {}",
        run.stdout
    );
    assert_eq!(keys(&site.store), keys_before, "no new key");
    let after = diagnose(site.s());
    assert_eq!(after.json()["certificate"]["serial"], site.serial.as_str());
    assert!(!site.store.join("crl/garbage.crl").exists());
}

/// CA parameters bearing the subject name of the certificate in `pem`.
fn ca_params_named_like(pem: &str) -> rcgen::CertificateParams {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let cert = block.parse_x509().unwrap();
    let mut dn = rcgen::DistinguishedName::new();
    for attr in cert.subject().iter_attributes() {
        let oid: Vec<u64> = attr.attr_type().iter().unwrap().collect();
        dn.push(rcgen::DnType::from_oid(&oid), attr.as_str().unwrap());
    }
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = dn;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    params.not_before = pki_tests::at("2025-01-01T00:00:00Z");
    params.not_after = pki_tests::at("2035-01-01T00:00:00Z");
    params
}

/// `n` self-signed CAs bearing the issuing CA's name (other keys) in front of chain.pem.
fn same_name_cas(site: &Site, n: usize) {
    let issuing = std::fs::read_to_string(site.ca.join("issuing-1.crt")).unwrap();
    let params = ca_params_named_like(&issuing);
    let mut chain = String::new();
    for _ in 0..n {
        let key = rcgen::KeyPair::generate().unwrap();
        chain.push_str(&params.self_signed(&key).unwrap().pem());
    }
    chain.push_str(&std::fs::read_to_string(site.store.join("chain.pem")).unwrap());
    std::fs::write(site.store.join("chain.pem"), chain).unwrap();
}

/// chain.pem: A (the issuing CA's name) issued by B, and B issued by A — a loop, without the
/// real issuing CA.
fn chain_loop(site: &Site) {
    let issuing = std::fs::read_to_string(site.ca.join("issuing-1.crt")).unwrap();
    let a_params = ca_params_named_like(&issuing);
    let mut b_params = a_params.clone();
    b_params.distinguished_name = rcgen::DistinguishedName::new();
    b_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Loop CA");
    let a_key = rcgen::KeyPair::generate().unwrap();
    let b_key = rcgen::KeyPair::generate().unwrap();
    let a_issuer = rcgen::Issuer::from_params(&a_params, &a_key);
    let b = b_params.signed_by(&b_key, &a_issuer).unwrap();
    let b_issuer = rcgen::Issuer::from_params(&b_params, &b_key);
    let a = a_params.signed_by(&a_key, &b_issuer).unwrap();
    std::fs::write(
        site.store.join("chain.pem"),
        format!("{}{}", a.pem(), b.pem()),
    )
    .unwrap();
}

#[test]
fn a_chain_loop_and_200_same_name_cas_rebuild_the_chain_keeping_key_and_serial() {
    for (label, make) in [
        ("200", (|s| same_name_cas(s, 200)) as fn(&Site)),
        ("loop", chain_loop),
    ] {
        let site = new_site(&format!("chain-{label}"));
        make(&site);
        let seen = diagnose(site.s());
        assert_eq!(seen.code, 2, "{label}: {}", seen.stdout);
        assert!(
            seen.finding("CERT_MALFORMED").is_none(),
            "{label}: the certificate is fine: {}",
            seen.stdout
        );
        eprintln!("{label}: {}", messages(&seen));
        let keys_before = keys(&site.store);
        let run = repair(&site, &["--ca", site.ca()]);
        assert_eq!(run.code, 0, "{label}: {}{}", run.stdout, run.stderr);
        let actions = actions(&run);
        assert_eq!(actions, ["rebuild-chain"], "{label}: {}", run.stdout);
        assert_eq!(keys(&site.store), keys_before, "{label}: no new key");
        assert_eq!(
            diagnose(site.s()).json()["certificate"]["serial"],
            site.serial.as_str()
        );
    }
}

#[test]
fn locks_are_cleared_only_when_provably_stale() {
    // garbage and a 20-digit "pid": cannot tell, so obeyed and said why
    for (label, content, says) in [
        ("garbage", "garbage", "holds 'garbage', no process id"),
        (
            "20-digit",
            "12345678901234567890",
            "holds '12345678901234567890', which is no process id",
        ),
    ] {
        let site = new_site(&format!("lock-{label}"));
        std::fs::write(site.store.join(".lock"), content).unwrap();
        let seen = diagnose(site.s());
        let lock = seen.finding("STORE_LOCKED").unwrap();
        assert!(
            lock["message"].as_str().unwrap().contains(says),
            "{label}: {lock}"
        );
        let run = repair(&site, &["--ca", site.ca()]);
        assert_eq!(run.code, 2, "{label}: {}", run.stderr);
        assert!(
            run.stderr.contains(".lock") && run.stderr.contains("remove"),
            "{}",
            run.stderr
        );
        assert_eq!(
            std::fs::read_to_string(site.store.join(".lock")).unwrap(),
            content
        );
    }
    // a lock whose process is gone is cleared
    let site = new_site("lock-stale");
    let mut child = Command::new("true").spawn().unwrap();
    let gone = child.id();
    child.wait().unwrap();
    std::fs::write(site.store.join(".lock"), gone.to_string()).unwrap();
    let run = repair(&site, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("clear-stale-lock"), "{}", run.stdout);
    assert!(!site.store.join(".lock").exists());

    // a live holder's lock that the caller cannot read (nobody) is not stale
    let site = new_site("lock-unreadable");
    chown_nobody(&site.store);
    let lock = site.store.join(".lock");
    std::fs::write(&lock, std::process::id().to_string()).unwrap();
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o600)).unwrap();
    let Some(run) = as_nobody(&["repair", site.s(), "--at", AT]) else {
        return;
    };
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("cannot be read"), "{}", run.stderr);
    assert!(lock.exists(), "a live holder's lock was removed");
    let seen = as_nobody(&["diagnose", site.s(), "--at", AT, "--format", "json"]).unwrap();
    assert!(
        messages(&seen).contains("cannot be read"),
        "{}",
        seen.stdout
    );
}

#[test]
fn a_symlink_loop_as_the_certificate_is_file_corrupt_and_repaired() {
    let site = new_site("loop");
    replace_with_link(&site.store.join("device.crt"), Path::new("device.crt"));
    let seen = diagnose(site.s());
    assert_eq!(seen.code, 2, "{}", seen.stderr);
    assert_eq!(
        seen.root_cause().as_deref(),
        Some("FILE_CORRUPT"),
        "{}",
        seen.stdout
    );
    assert!(
        messages(&seen).contains("a symlink loop"),
        "{}",
        seen.stdout
    );
    let run = repair(&site, &["--ca", site.ca()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        diagnose(site.s()).json()["certificate"]["serial"],
        site.serial.as_str(),
        "the same certificate, from the CA's copy"
    );
}

#[test]
fn exit_codes_and_messages_for_what_is_no_usage_error() {
    // a foreign folder of more than 10,000 entries: refused as no store (2), not 64
    let dir = TempDir::new("many");
    for n in 0..=pki_core::read::input::MAX_STORE_ENTRIES {
        std::fs::write(dir.join(&format!("{n}.txt")), "").unwrap();
    }
    let run = pki(&["diagnose", dir.str(), "--at", AT]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("more than 10000 entries"),
        "{}",
        run.stderr
    );

    // backup/ of more than 10,000 changes: the store stays repairable
    let site = new_site("many-backups");
    for n in 0..=pki_core::read::input::MAX_STORE_ENTRIES {
        std::fs::create_dir_all(site.store.join(format!("backup/{n:05}-2026-01-01T000000Z")))
            .unwrap();
    }
    std::fs::remove_file(site.store.join("chain.pem")).unwrap();
    let run = repair(&site, &["--ca", site.ca()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    // .lock a folder: refused naming it (2)
    let site = new_site("lock-dir");
    std::fs::create_dir(site.store.join(".lock")).unwrap();
    let run = repair(&site, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(".lock: it is a folder"),
        "{}",
        run.stderr
    );

    // a store the caller cannot write: an I/O error (3) naming the file
    let site = new_site("read-only");
    std::fs::remove_file(site.store.join("chain.pem")).unwrap();
    std::fs::set_permissions(&site.store, std::fs::Permissions::from_mode(0o755)).unwrap();
    let key = site.store.join("device.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let Some(run) = as_nobody(&["repair", site.s(), "--at", AT]) else {
        return;
    };
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!("{}/.lock", site.s())),
        "names the file: {}",
        run.stderr
    );

    // a repair that fails mid-way (the journal is not the caller's): no orphan backup folder,
    // and the message names the file
    let site = new_site("mid-way");
    chown_nobody(&site.store);
    std::os::unix::fs::chown(site.store.join("journal.jsonl"), Some(0), Some(0)).unwrap();
    std::fs::write(site.store.join("trust.pem"), "").unwrap();
    std::os::unix::fs::lchown(site.store.join("trust.pem"), Some(65534), Some(65534)).unwrap();
    let ca_trust = site.ca.join("trust.pem");
    let run = as_nobody(&[
        "repair",
        site.s(),
        "--trust",
        ca_trust.to_str().unwrap(),
        "--at",
        AT,
    ])
    .unwrap();
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(&format!("{}/journal.jsonl", site.s())),
        "names the file: {}",
        run.stderr
    );
    let backups: Vec<String> = tree(&site.store)
        .into_keys()
        .filter(|k| k.starts_with("backup/"))
        .collect();
    assert!(backups.is_empty(), "orphan backup folders: {backups:?}");
}

#[test]
fn what_cannot_be_read_under_a_written_name_is_moved_to_backup_not_overwritten() {
    let site = new_site("oversized");
    // 2 MiB where the certificate belongs: over the read cap, so never read, yet not lost
    let big = vec![b'x'; 2 << 20];
    std::fs::write(site.store.join("device.crt"), &big).unwrap();
    let run = repair(&site, &["--ca", site.ca()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let kept = tree(&site.store)
        .into_iter()
        .find(|(k, _)| k.starts_with("backup/") && k.ends_with("/device.crt"))
        .map(|(k, _)| k)
        .unwrap_or_else(|| panic!("no backup of the big file: {:?}", tree(&site.store)));
    assert_eq!(std::fs::read(site.store.join(kept)).unwrap(), big);
    assert_eq!(
        diagnose(site.s()).json()["certificate"]["serial"],
        site.serial.as_str()
    );
}

// ---- hard links, owners, sockets, what backup/ and .lock may be ----

/// Every regular file under the store (backups included) whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    regular_files(dir)
        .into_iter()
        .filter(|path| {
            let bytes = std::fs::read(path).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle)
        })
        .collect()
}

#[test]
fn a_hard_link_to_a_file_outside_is_never_read_copied_or_appended_to() {
    // (an unprivileged writer cannot make these where fs.protected_hardlinks is 1; elsewhere,
    // and on other systems, it can: the test makes them as the caller)
    // the certificate: repair, then rollback, must never bring the secret into the store
    let site = new_site("hardlink-cert");
    std::fs::remove_file(site.store.join("device.crt")).unwrap();
    std::fs::hard_link(site.outside.join("secret"), site.store.join("device.crt")).unwrap();
    let seen = diagnose(site.s());
    assert!(
        messages(&seen).contains("device.crt: a hard link"),
        "{}",
        seen.stdout
    );
    let run = repair(&site, &["--ca", site.ca()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let back = pki(&["store", "rollback", site.s(), "--at", AT]);
    assert_eq!(back.code, 0, "{}{}", back.stdout, back.stderr);
    // the secret is only where it was: the link, moved aside as it is
    for path in files_holding(&site.store, SECRET.as_bytes()) {
        let meta = std::fs::metadata(&path).unwrap();
        assert!(
            meta.nlink() > 1 && meta.mode() & 0o777 == 0o600,
            "{} holds a copy of the secret",
            path.display()
        );
    }
    site.assert_outside_untouched();

    // the key, mode 0640: fix-key-permissions must not rewrite its bytes into the store
    let site = new_site("hardlink-key");
    let outside_key = site.outside.join("service.key");
    let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    std::fs::write(&outside_key, &key).unwrap();
    std::fs::set_permissions(&outside_key, std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::remove_file(site.store.join("device.key")).unwrap();
    std::fs::hard_link(&outside_key, site.store.join("device.key")).unwrap();
    let run = repair(&site, &[]);
    assert!(matches!(run.code, 0..=2), "{}{}", run.stdout, run.stderr);
    let body = key.lines().nth(1).unwrap().as_bytes();
    for path in files_holding(&site.store, body) {
        let meta = std::fs::metadata(&path).unwrap();
        assert!(
            meta.nlink() > 1,
            "{} holds a copy of the outside key",
            path.display()
        );
    }
    assert_eq!(std::fs::read_to_string(&outside_key).unwrap(), key);
    assert_eq!(
        std::fs::metadata(&outside_key).unwrap().mode() & 0o777,
        0o640
    );

    // the journal: a change's entry is never appended to the file outside
    let site = new_site("hardlink-journal");
    std::fs::remove_file(site.store.join("journal.jsonl")).unwrap();
    std::fs::hard_link(
        site.outside.join("secret"),
        site.store.join("journal.jsonl"),
    )
    .unwrap();
    std::fs::remove_file(site.store.join("chain.pem")).unwrap();
    let run = repair(&site, &["--ca", site.ca()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(actions(&run).contains(&"set-journal-aside".to_string()));
    site.assert_outside_untouched();
}

/// `pki args` run with umask 000, as a careless admin's root shell has it.
fn pki_with_umask_0(args: &[&str]) -> Run {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(binary())
        .args(args);
    run_within(LIMIT, &mut cmd)
}

#[test]
fn run_as_root_what_a_change_makes_belongs_to_the_store_owner_and_stays_closed() {
    if !is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the hostile tests as root"
        );
        eprintln!("SKIPPED: not root, cannot give a store to nobody");
        return;
    }
    let site = new_site("owner");
    chown_nobody(&site.store);
    // work that makes backup folders (a CRL folder's too) and a new journal
    std::fs::create_dir(site.store.join("crl")).unwrap();
    std::fs::write(site.store.join("crl/garbage.crl"), "not a CRL").unwrap();
    std::fs::write(site.store.join("chain.pem"), "").unwrap();
    std::fs::remove_file(site.store.join("journal.jsonl")).unwrap();
    chown_nobody(&site.store);
    let run = pki_with_umask_0(&["repair", site.s(), "--ca", site.ca(), "--at", AT]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    for (rel, what) in tree(&site.store) {
        let meta = std::fs::symlink_metadata(site.store.join(&rel)).unwrap();
        assert_eq!(meta.uid(), 65534, "{rel} ({what}) is not the store owner's");
        assert_eq!(
            meta.mode() & 0o022,
            0,
            "{rel} ({what}) is writable by others: {:o}",
            meta.mode()
        );
        if rel.ends_with(".key") {
            assert_eq!(meta.mode() & 0o777, 0o600, "{rel}");
        }
    }
    // the owner's service can still repair its store itself (journal, backup/ are its own):
    // a change that moves a file into backup/
    let garbage = site.store.join("crl/garbage.crl");
    std::fs::write(&garbage, "not a CRL").unwrap();
    std::os::unix::fs::lchown(&garbage, Some(65534), Some(65534)).unwrap();
    let run = as_nobody(&["repair", site.s(), "--at", AT]).unwrap();
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(!garbage.exists());
}

/// Binds a Unix socket at `path` (the listener is dropped; the socket file stays).
fn socket_at(path: &Path) {
    let _ = std::fs::remove_file(path);
    std::os::unix::net::UnixListener::bind(path).unwrap();
}

#[test]
fn sockets_are_named_not_an_io_error() {
    let site = new_site("socket");
    socket_at(&site.store.join("device.crt"));
    std::fs::create_dir(site.store.join("crl")).unwrap();
    socket_at(&site.store.join("crl/s.crl"));
    let seen = diagnose(site.s());
    assert_eq!(seen.code, 2, "{}{}", seen.stdout, seen.stderr);
    let all = messages(&seen);
    assert!(all.contains("device.crt: a socket"), "{all}");
    assert!(all.contains("crl/s.crl: a socket"), "{all}");
    let run = repair(&site, &["--ca", site.ca()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // named on the command line: a usage error naming it
    let sock = site.dir.join("input-socket");
    socket_at(&sock);
    let s = sock.to_str().unwrap();
    for args in [
        vec!["diagnose", site.s(), "--trust", s, "--at", AT],
        vec!["policy", "check", s],
    ] {
        let run = pki(&args);
        assert_eq!(run.code, 64, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("a socket"), "{}", run.stderr);
    }
}

#[test]
fn a_backup_name_that_is_no_folder_is_refused_and_nothing_changes() {
    for (label, make) in [
        (
            "fifo",
            (|s: &Site| mkfifo(&s.store.join("backup"))) as fn(&Site),
        ),
        ("link-in", |s: &Site| {
            std::fs::create_dir(s.store.join("crl")).unwrap();
            symlink("crl", s.store.join("backup")).unwrap();
        }),
        ("link-dot", |s: &Site| {
            symlink(".", s.store.join("backup")).unwrap()
        }),
    ] {
        let site = new_site(&format!("backup-{label}"));
        make(&site);
        std::fs::write(site.store.join("chain.pem"), "").unwrap(); // work that needs a backup
        let before = tree(&site.store);
        for _ in 0..2 {
            let run = repair(&site, &["--ca", site.ca()]);
            assert_eq!(run.code, 2, "{label}: {}{}", run.stdout, run.stderr);
            assert!(
                run.stderr.contains(&format!("{}/backup", site.s()))
                    && run.stderr.contains("not the toolkit's backup folder")
                    && run.stderr.contains("remove it"),
                "{label}: {}",
                run.stderr
            );
            assert_eq!(tree(&site.store), before, "{label}: the store changed");
        }
    }
}

#[test]
fn a_lock_that_is_a_link_is_never_read() {
    let site = new_site("lock-link-key");
    symlink("device.key", site.store.join(".lock")).unwrap();
    let seen = diagnose(site.s());
    let run = repair(&site, &["--ca", site.ca()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    for out in [&seen.stdout, &run.stderr] {
        assert!(out.contains("a symlink (to device.key)"), "{out}");
        assert!(!out.contains("PRIVATE"), "the key's text is shown: {out}");
    }
}

#[test]
fn names_and_text_from_a_store_never_steer_the_terminal() {
    // an escape sequence that sets the title and clears the screen, then a line of its own
    let evil = "x\u{1b}]0;owned\u{7}\u{1b}[2J\nACCEPTED (ok) at 2026-03-01T00:00:00Z\r";
    let site = new_site("terminal");
    std::fs::create_dir(site.store.join("crl")).unwrap();
    std::fs::write(site.store.join(format!("crl/{evil}.crl")), "not a CRL").unwrap();
    let manifest = site.store.join("store.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "device_id: dev-hostile",
        &format!("device_id: {}", serde_json::json!(evil)),
    );
    std::fs::write(&manifest, text).unwrap();
    let entry = serde_json::json!({"seq": 2, "at": AT, "action": evil, "reason": evil,
        "files": [{"file": "trust.pem", "before": null, "after": "00"}], "backup": null});
    let journal = site.store.join("journal.jsonl");
    let mut lines = std::fs::read_to_string(&journal).unwrap();
    lines.push_str(&format!("{entry}\n"));
    std::fs::write(&journal, lines).unwrap();
    // a certificate whose subject carries it
    let cert = site.dir.join("evil.crt");
    std::fs::write(&cert, pki_tests::Ca::root(evil).pem).unwrap();
    let c = cert.to_str().unwrap();
    let runs = [
        pki(&["diagnose", site.s(), "--at", AT]),
        pki(&["diagnose", "--cert", c, "--at", AT]),
        pki(&["inspect", c]),
        pki(&["repair", site.s(), "--dry-run", "--at", AT]),
        pki(&["store", "rollback", site.s(), "--dry-run", "--at", AT]),
        pki(&["audit", site.dir.str(), "--at", AT]),
        pki(&[
            "enroll",
            site.s(),
            "--ca",
            site.ca(),
            "--device-id",
            "x",
            "--at",
            AT,
        ]),
    ];
    for run in &runs {
        for out in [&run.stdout, &run.stderr] {
            assert!(
                !out.contains(['\u{1b}', '\u{7}', '\r']),
                "a control character reached the terminal: {out:?}"
            );
            assert!(
                !out.lines().any(|l| l.starts_with("ACCEPTED (ok) at")),
                "a line of the store's making: {out}"
            );
        }
    }
    let all: String = runs.iter().map(|r| r.stdout.clone() + &r.stderr).collect();
    assert!(
        all.contains("x\\u{1b}]0;owned\\u{7}"),
        "shown escaped: {all}"
    );
}

#[test]
fn a_fleet_audit_judges_every_healthy_store_beside_hostile_ones() {
    let dir = TempDir::new("fleet-hostile");
    let ca = init(&dir, "2026-01-01T00:00:00Z", &[]);
    let fleet = dir.join("fleet");
    let healthy: Vec<PathBuf> = (0..4).map(|n| fleet.join(format!("ok-{n}"))).collect();
    for (n, store) in healthy.iter().enumerate() {
        let id = format!("dev-ok-{n}");
        assert_eq!(enroll(store, &ca, &id, "2026-02-01T00:00:00Z", &[]).code, 0);
    }
    let hostile = |name: &str| {
        let store = fleet.join(name);
        let id = format!("dev-{name}");
        assert_eq!(
            enroll(&store, &ca, &id, "2026-02-01T00:00:00Z", &[]).code,
            0
        );
        store
    };
    replace_with_fifo(&hostile("fifo-cert").join("device.crt"));
    socket_at(&hostile("socket-cert").join("device.crt"));
    replace_with_fifo(&hostile("fifo-manifest").join("store.yaml"));
    replace_with_link(
        &hostile("zero-journal").join("journal.jsonl"),
        Path::new("/dev/zero"),
    );
    let crl = hostile("crl-to-kmsg").join("crl");
    std::fs::create_dir(&crl).unwrap();
    symlink("/proc/kmsg", crl.join("k.crl")).unwrap();
    // entries of the fleet folder itself: links to the kernel's folders, a loop, a FIFO
    symlink("/proc", fleet.join("link-to-proc")).unwrap();
    symlink("/dev", fleet.join("link-to-dev")).unwrap();
    symlink(".", fleet.join("link-to-itself")).unwrap();
    symlink(fleet.join("dangling"), fleet.join("dangling")).unwrap();
    mkfifo(&fleet.join("a-fifo"));
    let run = pki(&[
        "audit",
        fleet.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert!(matches!(run.code, 2 | 3), "{}{}", run.stdout, run.stderr);
    let report = run.json();
    let stores = report["stores"].as_array().unwrap();
    let status = |path: &Path| {
        stores
            .iter()
            .find(|s| s["path"] == path.to_str().unwrap())
            .map(|s| s["status"].as_str().unwrap().to_string())
    };
    for store in &healthy {
        assert_eq!(status(store).as_deref(), Some("ok"), "{}", run.stdout);
    }
    for name in ["fifo-cert", "socket-cert", "fifo-manifest", "crl-to-kmsg"] {
        assert_eq!(
            status(&fleet.join(name)).as_deref(),
            Some("critical"),
            "{name}: {}",
            run.stdout
        );
    }
    // nothing of /proc was read (its files are the kernel's, not a store's)
    assert!(
        !run.stdout.contains("Resource temporarily unavailable"),
        "{}",
        run.stdout
    );
}

#[test]
fn store_yaml_naming_another_device_never_gets_that_device_a_certificate() {
    // the writer of dev-hostile's store names another device of the fleet in store.yaml: the
    // repair a helpdesk runs as printed, or the renewal a timer runs, must not have the CA
    // sign a certificate for it with a key the writer can read
    let site = new_site("identity");
    let victim = site.dir.join("victim");
    assert_eq!(enroll(&victim, &site.ca, "dev-victim", AT, &[]).code, 0);
    let issued = || {
        let ca = pki_core::ca::Ca::load(&site.ca).unwrap();
        ca.inventory.all().unwrap().len()
    };
    let manifest = site.store.join("store.yaml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("device_id: dev-hostile", "device_id: dev-victim");
    std::fs::write(&manifest, text).unwrap();
    let before = issued();
    for shape in [
        "as it is",
        "certificate deleted",
        "the victim's certificate copied in",
    ] {
        match shape {
            "certificate deleted" => std::fs::remove_file(site.store.join("device.crt")).unwrap(),
            "the victim's certificate copied in" => {
                std::fs::copy(victim.join("device.crt"), site.store.join("device.crt")).unwrap();
            }
            _ => {}
        }
        let run = repair(&site, &["--ca", site.ca()]);
        assert_eq!(run.code, 2, "{shape}: {}{}", run.stdout, run.stderr);
        assert!(
            actions(&run).contains(&"needs-input".to_string()) && run.stdout.contains("pki enroll"),
            "{shape}: {}",
            run.stdout
        );
        let renew = pki(&["renew", site.s(), "--ca", site.ca(), "--force", "--at", AT]);
        assert_eq!(renew.code, 2, "{shape}: {}{}", renew.stdout, renew.stderr);
        assert!(
            renew.stderr.contains("proves") || shape == "certificate deleted",
            "{shape}: {}",
            renew.stderr
        );
        assert_eq!(issued(), before, "{shape}: the CA signed");
        assert!(
            !std::fs::read_to_string(site.store.join("device.crt"))
                .unwrap_or_default()
                .contains(&std::fs::read_to_string(victim.join("device.crt")).unwrap())
                || shape == "the victim's certificate copied in",
            "{shape}"
        );
    }
    // the device it really is still repairs and renews itself
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("device_id: dev-victim", "device_id: dev-hostile");
    std::fs::write(&manifest, text).unwrap();
    std::fs::remove_file(site.store.join("device.crt")).unwrap();
    let run = repair(&site, &["--ca", site.ca()]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let renew = pki(&["renew", site.s(), "--ca", site.ca(), "--force", "--at", AT]);
    assert_eq!(renew.code, 0, "{}{}", renew.stdout, renew.stderr);
}
