//! `fuzz-seeds DIR`: seed corpora for `fuzz/` (one folder per target), made from the PKI the
//! tests build. `fuzz/run.sh` runs it before fuzzing.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(out) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: fuzz-seeds DIR");
        return ExitCode::from(64);
    };
    let policies = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies");
    match pki_tests::fuzz_seeds::write(&out, &policies) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fuzz-seeds: {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}
