//! GRUB's environment block from the boot partition: parsing never panics, and a block that
//! parses and renders parses back to the same variables, still 1024 bytes. Inputs are also
//! tried padded or cut to 1024 bytes, so most reach the parser's body.
#![no_main]
use libfuzzer_sys::fuzz_target;
use os_disk::grubenv::{GrubEnv, SIZE};

fn round_trip(bytes: &[u8]) {
    let Ok(env) = GrubEnv::parse(bytes, "fuzz") else {
        return;
    };
    // Values with a newline or backslash, or too many bytes, are refused on write.
    let Ok(block) = env.render() else {
        return;
    };
    assert_eq!(block.len(), SIZE);
    let again = GrubEnv::parse(&block, "rendered").expect("a rendered block parses");
    assert_eq!(again, env, "grubenv does not read back as written");
}

fuzz_target!(|data: &[u8]| {
    round_trip(data);
    let mut block = data.to_vec();
    block.resize(SIZE, b'#');
    round_trip(&block);
});
