//! Writes the shipped samples (see `pki_tests::samples`) into the folder given, and
//! `expected.tsv` beside them: store, exit code and root cause at the samples' `--at`.
//! `make-samples DIR --fleet N` writes only a CA and a fleet of N stores (for benchmarks).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = PathBuf::from(
        args.first()
            .cloned()
            .unwrap_or_else(|| "samples/out".into()),
    );
    let fleet = args.get(2).map(|n| n.parse::<usize>());
    let result = match (args.get(1).map(String::as_str), fleet) {
        (Some("--fleet"), Some(Ok(n))) => pki_tests::samples::generate_fleet(&out, n),
        (None, None) => samples(&out),
        _ => {
            eprintln!("usage: make-samples [DIR] [--fleet N]");
            return ExitCode::from(64);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make-samples: {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

fn samples(out: &Path) -> std::io::Result<()> {
    let expected = pki_tests::samples::generate(out)?;
    let mut tsv = std::fs::File::create(out.join("expected.tsv"))?;
    for e in &expected {
        writeln!(tsv, "{}\t{}\t{}", e.name, e.exit, e.code.unwrap_or("-"))?;
    }
    Ok(())
}
