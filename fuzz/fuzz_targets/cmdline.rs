//! The kernel cmdline parser must never panic, whatever the bootloader hands PID 1.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let parsed = os_config::cmdline::parse(&line);
    // The layers it yields must always go through validation without panicking too.
    let _ = os_config::document::validate(parsed.config, None, None);
    let _ = os_config::document::validate(parsed.elided, None, None);
});
