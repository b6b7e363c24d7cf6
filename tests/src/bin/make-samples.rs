//! Writes the shipped samples (see `pki_tests::samples`) into the folder given, and
//! `expected.tsv` beside them: store, exit code and root cause at the samples' `--at`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "samples/out".into()),
    );
    match run(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make-samples: {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}

fn run(out: &std::path::Path) -> std::io::Result<()> {
    let expected = pki_tests::samples::generate(out)?;
    let mut tsv = std::fs::File::create(out.join("expected.tsv"))?;
    for e in &expected {
        writeln!(tsv, "{}\t{}\t{}", e.name, e.exit, e.code.unwrap_or("-"))?;
    }
    Ok(())
}
