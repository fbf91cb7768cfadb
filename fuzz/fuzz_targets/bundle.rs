//! The upgrade bundle: `manifest.json` alone (parse and check; what `extract` writes to the
//! slot reads back the same), then the bytes as a whole bundle through `bundle::verify`, which
//! reads the tar from a file and checks `manifest.sig` against one fixed trusted key. Nothing
//! panics; a bundle that verifies lists exactly `FILES`.
#![no_main]
mod scratch;
use libfuzzer_sys::fuzz_target;
use os_disk::bundle::{self, Manifest, FILES};
use os_disk::signing::{self, SigningKey, TrustedKeys};
use std::path::Path;
use std::sync::OnceLock;

/// A key directory trusting one key made from a fixed seed, written once per process.
fn trusted() -> &'static TrustedKeys {
    static KEYS: OnceLock<TrustedKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ros-fuzz-keys-{}", std::process::id()));
        let key = SigningKey::from_seed([7; 32]);
        signing::add_trusted_key(&dir, &key.public()).expect("write the trusted key");
        TrustedKeys::load(&dir).expect("load the trusted key")
    })
}

fn lists_exactly_files(m: &Manifest) {
    let mut listed: Vec<&str> = m.files.iter().map(|f| f.name.as_str()).collect();
    listed.sort_unstable();
    let mut want = FILES.to_vec();
    want.sort_unstable();
    assert_eq!(listed, want);
}

fuzz_target!(|data: &[u8]| {
    let origin = Path::new("fuzz");
    if let Ok(m) = Manifest::parse(data, origin) {
        lists_exactly_files(&m);
        let json = m.to_json().expect("a manifest serialises");
        let again = Manifest::parse(&json, origin).expect("a written manifest parses");
        assert_eq!(again, m, "the slot's manifest.json reads back differently");
    }
    if let Ok(m) = bundle::verify(scratch::write("bundle.tar", data), trusted()) {
        lists_exactly_files(&m);
    }
});
