//! The README stays true: every example in it (a `$ pki …` line in a code block, followed by
//! the output it shows) is run on freshly made samples and compared with what `pki` prints.
//! Serial numbers and hashes differ from run to run (keys and serials are random), so both
//! sides have them filtered; a `…` in the README stands for any text on its line, and a line
//! `...` for any number of lines. Also: the contract lives in `docs/`, the README links to it,
//! and no link in the README or `docs/` points outside the repository.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::TempDir;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An example: the command line and the output the README shows.
struct Example {
    line: usize,
    command: String,
    expected: Vec<String>,
}

fn examples(readme: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    let mut in_block = false;
    // whether the lines now read are the output of the last example
    let mut collecting = false;
    for (n, line) in readme.lines().enumerate() {
        if line.starts_with("```") {
            in_block = !in_block;
            collecting = false;
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ pki ") {
            out.push(Example {
                line: n + 1,
                command: command.to_string(),
                expected: Vec::new(),
            });
            collecting = true;
        } else if line.starts_with("$ ") {
            collecting = false;
        } else if let (true, Some(example)) = (collecting, out.last_mut()) {
            example.expected.push(line.to_string());
        }
    }
    // a block's output ends at the block's end: trailing blank lines are not output
    for e in &mut out {
        while e.expected.last().is_some_and(|l| l.trim().is_empty()) {
            e.expected.pop();
        }
    }
    out
}

/// Serials (colon hex) and hashes (long hex) vary from run to run.
fn filter(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in split_keep(text) {
        let colon_hex = word.split(':').count() >= 8
            && word
                .split(':')
                .all(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit()));
        let hex = word.len() >= 12 && word.chars().all(|c| c.is_ascii_hexdigit());
        out.push_str(if colon_hex {
            "SERIAL"
        } else if hex {
            "HEX"
        } else {
            word
        });
    }
    out
}

/// `text` cut into words (letters, digits, ':') and the text between them, all kept.
fn split_keep(text: &str) -> Vec<&str> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == ':';
    let mut parts = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match chars.peek() {
            Some((_, n)) if is_word(*n) == is_word(c) => {}
            Some((next, _)) => {
                parts.push(&text[start..*next]);
                start = *next;
            }
            None => parts.push(&text[start..]),
        }
    }
    parts
}

/// Whether `actual` fits `pattern`, where `…` stands for any text.
fn line_fits(pattern: &str, actual: &str) -> bool {
    let pieces: Vec<&str> = pattern.split('…').collect();
    if pieces.len() == 1 {
        return pattern.trim_end() == actual.trim_end();
    }
    let Some(mut rest) = actual.strip_prefix(pieces[0]) else {
        return false;
    };
    for (i, piece) in pieces.iter().enumerate().skip(1) {
        if i == pieces.len() - 1 {
            return rest.trim_end().ends_with(piece.trim_end());
        }
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// Whether the output lines fit the expected lines (`...` skips any number of lines).
fn fits(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.iter().all(|l| l.trim().is_empty()),
        Some((first, rest)) if first.trim() == "..." => {
            (0..=actual.len()).any(|skip| fits(rest, &actual[skip..]))
        }
        Some((first, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| line_fits(first, a) && fits(rest, more)),
    }
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn the_readmes_examples_print_what_the_readme_shows() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let examples = examples(&readme);
    assert!(examples.len() >= 3, "the README shows examples");
    // the samples, where the README's commands expect them
    let dir = TempDir::new("readme");
    let out = std::process::Command::new("bash")
        .arg(repo().join("samples/make.sh"))
        .arg("samples/out")
        .current_dir(dir.path())
        .env("PKI", pki_tests::run::binary())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "make.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for e in examples {
        let args: Vec<&str> = e.command.split_whitespace().collect();
        let run = std::process::Command::new(pki_tests::run::binary())
            .args(&args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let actual: Vec<String> = filter(&String::from_utf8_lossy(&run.stdout))
            .lines()
            .map(str::to_string)
            .collect();
        let expected: Vec<String> = e.expected.iter().map(|l| filter(l)).collect();
        let first_difference = expected
            .iter()
            .zip(&actual)
            .position(|(x, a)| x.trim() != "..." && !line_fits(x, a))
            .map_or(String::new(), |i| {
                format!(
                    "first difference, line {}:\n  shown:   {:?}\n  printed: {:?}\n",
                    i + 1,
                    expected[i],
                    actual[i]
                )
            });
        assert!(
            fits(&expected, &actual),
            "README.md line {}: `pki {}` printed\n{}\nbut the README shows\n{}\n{first_difference}",
            e.line,
            e.command,
            actual.join("\n"),
            expected.join("\n")
        );
    }
}

#[test]
fn the_filters_and_the_matcher_do_their_job() {
    assert_eq!(
        filter("serial 69:D5:24:E6:10:9F:30:77:1B:AB ·"),
        "serial SERIAL ·"
    );
    assert_eq!(filter("key id 479168a4f9c1a594d4fc837c44f5"), "key id HEX");
    assert_eq!(filter("at 2026-03-01T00:00:00Z"), "at 2026-03-01T00:00:00Z");
    assert!(line_fits("fix: …", "fix: pki repair x"));
    assert!(line_fits("a … c … e", "a b c d e"));
    assert!(!line_fits("a … c", "a b d"));
    let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
    assert!(fits(&lines("a\n...\nd"), &lines("a\nb\nc\nd")));
    assert!(!fits(&lines("a\nd"), &lines("a\nb\nd")));
}

/// `[text](target)` links in Markdown.
fn links(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = markdown;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        if let Some(end) = after.find(')') {
            out.push(after[..end].to_string());
        }
        rest = after;
    }
    out
}

#[test]
fn the_contract_is_in_the_repository_and_no_link_leaves_it() {
    let root = repo().canonicalize().unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        links(&readme).iter().any(|l| l == "docs/contract.md"),
        "the README links to the contract"
    );
    let contract = std::fs::read_to_string(root.join("docs/contract.md")).unwrap();
    // every finding code the toolkit emits (`Code::as_str`'s spellings) is in the contract
    let finding_rs = std::fs::read_to_string(root.join("pki-core/src/finding.rs")).unwrap();
    let codes: Vec<&str> = finding_rs
        .split('"')
        .filter(|w| w.len() > 5 && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .filter(|w| *w != "SCREAMING_SNAKE_CASE") // serde's rename rule
        .collect();
    assert!(codes.len() >= 30, "{codes:?}");
    for code in codes {
        assert!(contract.contains(code), "docs/contract.md lists {code}");
    }
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        files.push(entry.unwrap().path());
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for link in links(&text) {
            let target = link.split('#').next().unwrap();
            assert!(
                !link.contains("://") && !target.starts_with('/'),
                "{}: {link} points outside the repository",
                file.display()
            );
            if target.is_empty() {
                continue;
            }
            let resolved = file.parent().unwrap().join(target).canonicalize();
            assert!(
                resolved.as_ref().is_ok_and(|p| p.starts_with(&root)),
                "{}: {link} does not lead to a file in the repository",
                file.display()
            );
        }
        assert!(
            !text.contains("../shared"),
            "{}: names a path outside the repository",
            file.display()
        );
    }
}
