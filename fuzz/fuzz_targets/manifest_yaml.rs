//! A store's `store.yaml`: parsed, and every name in it judged as a store file or not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(manifest) = pki_core::store::manifest::Manifest::parse(text) {
        for name in manifest.files.keys() {
            let _ = pki_core::store::is_store_file(name);
        }
    }
});
