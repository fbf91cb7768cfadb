//! The check PID 1 makes of the initrd's system image before mounting it
//! (`check_initrd_image`: superblock, `bytes_used`, the last lookup table). It reads a file,
//! not bytes, so each input is written to a scratch file. Nothing panics; an image it accepts
//! starts with a whole squashfs superblock; an image shorter than its sidecar is refused.
#![no_main]
mod scratch;
use libfuzzer_sys::fuzz_target;
use pid1::initrd_image::{check_initrd_image, BadImage, Sidecar};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let image = scratch::write("system.squashfs", data);
    let meminfo = Path::new("/nonexistent/meminfo");
    let len = data.len() as u64;
    if check_initrd_image(image, None, meminfo).is_ok() {
        assert!(data.starts_with(b"hsqs") && data.len() >= 96);
    }
    let exact = Sidecar {
        size: len,
        sha256: String::new(),
    };
    let _ = check_initrd_image(image, Some(&exact), meminfo);
    let longer = Sidecar {
        size: len + 1,
        sha256: String::new(),
    };
    match check_initrd_image(image, Some(&longer), meminfo) {
        Err(BadImage::Truncated { expected, .. }) => assert_eq!(expected, len + 1),
        other => panic!("an image shorter than its sidecar gave {other:?}"),
    }
});
