//! A policy file (`--policy`, a CA's policy.yaml): YAML parsed and checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pki_core::Policy::parse(text);
    }
});
