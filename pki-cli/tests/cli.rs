//! The binary's own contract at the edge: every command's help describes every argument and
//! flag, shows value lists and an example, keeps its summaries whole and offers only the
//! options that apply; usage errors exit 64 (not clap's 2, which means "critical" here). Also
//! makes `cargo test --workspace` build `target/*/pki` for the end-to-end suite in `tests/`.

use std::process::Command;

fn pki(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pki"))
        .args(args)
        .output()
        .expect("run pki");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every command path (`["ca", "sign"]`, …) found by walking `--help`.
fn commands() -> Vec<Vec<String>> {
    fn walk(prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        let mut args: Vec<&str> = prefix.iter().map(String::as_str).collect();
        args.push("--help");
        let (code, help, _) = pki(&args);
        assert_eq!(code, 0, "{args:?}");
        let subs = section(&help, "Commands:");
        if subs.is_empty() {
            out.push(prefix);
            return;
        }
        for line in subs {
            let name = line.split_whitespace().next().unwrap_or("").to_string();
            if name != "help" {
                let mut next = prefix.clone();
                next.push(name);
                walk(next, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(Vec::new(), &mut out);
    out
}

/// The entry lines of a help section ("Commands:", "Arguments:", "Options:").
fn section<'a>(help: &'a str, title: &str) -> Vec<&'a str> {
    help.lines()
        .skip_while(|l| *l != title)
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  "))
        .collect()
}

#[test]
fn every_command_has_an_example_and_every_argument_a_description() {
    let all = commands();
    assert!(all.len() >= 16, "{all:?}");
    for cmd in &all {
        let mut args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        args.push("--help");
        let (code, long, _) = pki(&args);
        assert_eq!(code, 0, "{cmd:?}");
        assert!(long.contains("Example"), "{cmd:?} has no example:\n{long}");
        args.pop();
        args.push("-h");
        let (_, short, _) = pki(&args);
        for title in ["Arguments:", "Options:"] {
            for entry in section(&short, title) {
                // "  <NAME>  what it is" / "      --flag <X>  what it is"
                let described = entry.trim().split("  ").filter(|s| !s.is_empty()).count() >= 2;
                assert!(described, "{cmd:?}: undescribed: {entry:?}\n{short}");
            }
        }
    }
}

#[test]
fn summaries_are_whole_and_value_lists_shown() {
    for cmd in [vec![], vec!["ca"], vec!["store"], vec!["policy"]] {
        let mut args = cmd.clone();
        args.push("--help");
        let (_, help, _) = pki(&args);
        for line in section(&help, "Commands:") {
            assert!(
                line.chars().count() <= 80,
                "a summary a terminal cuts: {line:?}"
            );
            assert!(!line.trim_end().ends_with(','), "{line:?}");
        }
    }
    let (_, revoke, _) = pki(&["ca", "revoke", "-h"]);
    for reason in ["keyCompromise", "superseded", "cessationOfOperation"] {
        assert!(revoke.contains(reason), "{revoke}");
    }
    let (_, diagnose, _) = pki(&["diagnose", "-h"]);
    assert!(
        diagnose.contains("[possible values: client, server]"),
        "{diagnose}"
    );
    let (_, audit, _) = pki(&["audit", "--help"]);
    assert!(audit.contains("prometheus"), "{audit}");
    assert!(
        audit.contains("`table` is the same"),
        "the help says table = text: {audit}"
    );
}

#[test]
fn options_are_offered_only_where_they_apply() {
    for cmd in commands() {
        let mut args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        args.push("-h");
        let (_, help, _) = pki(&args);
        let name = cmd.join(" ");
        // --at where time is judged or stamped into what is written
        let timeless = ["inspect", "policy check"].contains(&name.as_str());
        assert_eq!(
            help.contains("--at <RFC3339>"),
            !timeless,
            "{name}: --at\n{help}"
        );
        assert_eq!(
            help.contains("prometheus"),
            name == "audit",
            "{name}: prometheus\n{help}"
        );
        // every command that prints a result takes --format (serve logs: --log-format)
        assert_eq!(
            help.contains("--format <FORMAT>"),
            name != "serve",
            "{name}: --format"
        );
    }
    // and refused where they do not
    assert_eq!(pki(&["inspect", "--at", "2026-03-01T00:00:00Z", "x"]).0, 64);
    assert_eq!(pki(&["diagnose", "--format", "prometheus", "x"]).0, 64);
    assert_eq!(
        pki(&["policy", "check", "--at", "2026-03-01T00:00:00Z", "x"]).0,
        64
    );
}

#[test]
fn usage_errors_exit_64() {
    assert_eq!(pki(&["diagnose", "--bogus"]).0, 64);
    assert_eq!(pki(&["diagnose", "--at", "yesterday", "."]).0, 64);
    assert_eq!(pki(&["diagnose"]).0, 64, "nothing to judge");
    let (code, _, stderr) = pki(&["diagnose", "--cert", "/nonexistent/file.pem"]);
    assert_eq!(code, 64);
    assert!(stderr.contains("/nonexistent/file.pem"), "{stderr}");
    let (code, _, stderr) = pki(&["diagnose", "--name", "x.example", "."]);
    assert_eq!(code, 64);
    assert!(stderr.contains("--purpose server"), "{stderr}");
}
