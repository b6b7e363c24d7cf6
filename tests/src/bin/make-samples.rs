//! `make-samples DIR --fleet N`: a CA and a fleet of N stores for benchmarks (see
//! `pki_tests::samples`). The shipped samples come from `samples/make.sh`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(out), Some("--fleet"), Some(Ok(n))) = (
        args.first(),
        args.get(1).map(String::as_str),
        args.get(2).map(|n| n.parse::<usize>()),
    ) else {
        eprintln!("usage: make-samples DIR --fleet N");
        return ExitCode::from(64);
    };
    let out = PathBuf::from(out);
    match pki_tests::samples::generate_fleet(&out, n) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make-samples: {}: {e}", out.display());
            ExitCode::FAILURE
        }
    }
}
