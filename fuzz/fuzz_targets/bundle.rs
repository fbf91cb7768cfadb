//! The upgrade bundle: `manifest.json` alone (parse and check; what `extract` writes to the
//! slot reads back the same), then the bytes as a whole bundle through `bundle::verify`, which
//! reads the tar from a file. Nothing panics; a bundle that verifies lists exactly `FILES`.
#![no_main]
mod scratch;
use libfuzzer_sys::fuzz_target;
use os_disk::bundle::{self, Manifest, FILES};
use std::path::Path;

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
    if let Ok(m) = bundle::verify(scratch::write("bundle.tar", data)) {
        lists_exactly_files(&m);
    }
});
