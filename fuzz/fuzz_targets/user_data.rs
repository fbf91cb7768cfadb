//! User-data exactly as a datasource returns it (gzip, MIME multipart, cloud-config, scripts,
//! compose): decoding never panics, and the `boot.yml` that `save_parts` writes reads back as
//! the same document when the config layers load it.
#![no_main]
use cloud_init::save::boot_yml;
use cloud_init::user_data::{self, Part, UserData};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

fuzz_target!(|data: &[u8]| {
    let decoded = user_data::decode(data, "fuzz");
    // save_parts reports a value that does not serialise; that is not a crash.
    let Some(Ok(saved)) = boot_yml(&decoded.parts) else {
        return;
    };
    let doc = os_config::parse_document(&saved, None).expect("the saved boot.yml must parse");
    // Compared as saved text: a `.nan` value is not equal to itself as a Value.
    let reread = Part {
        name: "boot.yml".into(),
        origin: PathBuf::from("boot.yml"),
        data: UserData::CloudConfig(doc.value),
    };
    let again = boot_yml(&[reread]).and_then(Result::ok);
    assert_eq!(Some(saved), again, "boot.yml does not read back as saved");
});
