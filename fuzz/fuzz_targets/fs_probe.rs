//! Filesystem superblocks PID 1 reads from every block device (squashfs, iso9660, ext2/3/4,
//! vfat): probing never panics, reports only known types and trimmed, non-empty labels, and
//! probing the same bytes from a file gives the same answer.
#![no_main]
mod scratch;
use host::fs_probe::{probe, probe_path};
use libfuzzer_sys::fuzz_target;

/// What `probe_path` reads of a device (iso9660's superblock sits at 32 KiB).
const PROBE_LEN: usize = 34 * 1024;

fuzz_target!(|data: &[u8]| {
    let info = probe(data);
    if let Some(info) = &info {
        assert!(["squashfs", "iso9660", "ext4", "vfat"].contains(&info.fstype));
        if let Some(label) = &info.label {
            assert!(
                !label.is_empty() && label.trim() == label,
                "label {label:?}"
            );
        }
    }
    if data.len() <= PROBE_LEN {
        let file = scratch::write("fs-probe.img", data);
        assert_eq!(probe_path(file), info, "probing the file differs");
    }
});
