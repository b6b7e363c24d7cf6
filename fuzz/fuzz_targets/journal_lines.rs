//! A store's `journal.jsonl`: streamed a line at a time with a cap per line, each line parsed
//! as an entry and its names judged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pki_core::store::journal::Entry;

fuzz_target!(|data: &[u8]| {
    let mut longest = 0;
    pki_core::read::input::lines(data, 512, |_, line| {
        if let Ok(line) = line {
            assert!(line.len() <= 512, "a line over the cap was handed over");
            longest = longest.max(line.len());
            if let Ok(entry) = serde_json::from_slice::<Entry>(line) {
                let _ = entry.untrusted_name();
                let _ = pki_core::store::journal::writes(&entry, "device.crt", None);
            }
        }
        true
    })
    .expect("reading from memory cannot fail");
});
