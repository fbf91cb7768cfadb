//! Any bytes in a configuration file: parse, validate and position lookup must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(doc) = os_config::parse_document(text, None) {
            let mut merged = doc.cleaned.clone();
            os_config::merge(&mut merged, doc.value);
            let _ = os_config::document::validate(merged, None, None);
        }
    }
});
