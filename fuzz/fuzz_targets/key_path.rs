//! Key paths typed by users into `ros config get/set` must parse or fail cleanly.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Ok(path) = os_config::KeyPath::parse(&s) {
        let mut doc = os_config::Value::Null;
        let _ = path.set(&mut doc, os_config::Value::Bool(true));
        let _ = path.get(&doc);
        let _ = path.remove(&mut doc);
    }
});
