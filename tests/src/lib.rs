//! Helpers for the end-to-end suite: a PKI built fresh with rcgen in each test, endpoint
//! stores written to temporary folders, and a runner for the `pki` binary.

pub mod ca;
pub mod fuzz_seeds;
pub mod legacy;
pub mod loose;
pub mod pki;
pub mod postgres;
pub mod run;
pub mod samples;
pub mod serve;
pub mod store;
pub mod tls;

pub use loose::{openssl, Files};
pub use pki::{Ca, Leaf};
pub use run::{pki, pki_env, Run};
pub use store::{Endpoint, TempDir};

/// A part of a test that cannot run here because `what` is missing: under `CI` that is a
/// failure (CI provides every tool, `.ci/run`); otherwise `SKIPPED: …` is said loudly.
pub fn skip(what: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what}: CI must provide it (.ci/run)"
    );
    say_skipped(what);
}

/// Writes `SKIPPED: why` to the process's own standard error. The test harness captures
/// `eprintln!` (and shows it only for a failing test, so a skip would pass in silence); a
/// write to the stream itself is not captured, so `cargo test` shows it.
pub fn say_skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

/// The instant every test judges at unless it says otherwise.
pub const AT: &str = "2026-03-01T00:00:00Z";

/// Parses an RFC 3339 instant (test input, so a bad one is a bug in the test).
pub fn at(text: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("bad test time {text}: {e}"))
}
