//! Whether the initrd's copy of the system image is whole. The full initrd carries the image
//! at /ros/system.squashfs, preceded in the same cpio member by a sidecar
//! (/ros/system.squashfs.json: its size and SHA-256). When the machine's RAM is too small the
//! kernel stops unpacking ("Initramfs unpacking failed: write error") and leaves the image cut
//! short; this is checked from the sidecar, the file's holes and the squashfs superblock, a
//! few bytes each, before anything mounts it.

use serde::Deserialize;
use std::path::Path;

use crate::system_image::{INITRD_IMAGE, INITRD_SIDECAR, MEDIUM_IMAGE, MEDIUM_SIDECAR};

pub const MEMINFO: &str = "/proc/meminfo";
pub const MIB: u64 = 1 << 20;
/// The squashfs superblock (96 bytes): the magic at offset 0, `bytes_used` (u64 LE) at 40, and
/// where the lookup tables written last start: the id, xattr, fragment and export tables
/// (u64 LE at 48, 56, 80 and 88; all ones when absent).
const SQUASHFS_MAGIC: &[u8; 4] = b"hsqs";
const SUPERBLOCK_LEN: usize = 96;
const BYTES_USED_AT: usize = 40;
const LAST_TABLES: [usize; 4] = [48, 56, 80, 88];

/// The sidecar's content: `{"size": <bytes>, "sha256": "<hex>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Sidecar {
    pub size: u64,
    pub sha256: String,
}

impl Sidecar {
    /// The sidecar at `path`; `None` when there is none, or (with a warning) when it cannot be
    /// read or parsed.
    pub fn read(path: &Path) -> Option<Sidecar> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "system image: cannot read the sidecar");
                return None;
            }
        };
        match serde_json::from_str(&text) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "system image: the sidecar is not {{\"size\", \"sha256\"}}");
                None
            }
        }
    }
}

/// Why the initrd's image cannot be mounted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadImage {
    /// Shorter than the sidecar (or the superblock's `bytes_used`) says: the kernel ran out of
    /// RAM while unpacking. `memory_mib` is MemTotal from /proc/meminfo.
    #[error(
        "the initrd did not fit in RAM: the system image is {} MiB but only {} MiB of it were unpacked ({}); boot from the ISO or give the machine more memory",
        .expected.div_ceil(MIB),
        .unpacked / MIB,
        memory_phrase(*.memory_mib)
    )]
    Truncated {
        expected: u64,
        unpacked: u64,
        memory_mib: Option<u64>,
    },
    #[error("the initrd's system image {INITRD_IMAGE} is not a squashfs ({why}); rebuild the initrd with ros-build")]
    NotSquashfs { why: String },
    #[error("the initrd's system image {INITRD_IMAGE} is {len} bytes, not the {expected} bytes {INITRD_SIDECAR} gives; rebuild the initrd with ros-build")]
    SizeMismatch { expected: u64, len: u64 },
    #[error("reading the initrd's system image {INITRD_IMAGE}: {0}")]
    Read(String),
}

fn memory_phrase(mib: Option<u64>) -> String {
    match mib {
        Some(m) => format!("{m} MiB of memory available"),
        None => "the memory available is unknown".to_owned(),
    }
}

/// MemTotal from a /proc/meminfo text, in MiB (rounded down). MemTotal, not MemAvailable: by
/// the time PID 1 looks, the unpacked initrd has taken nearly all of the latter, and what the
/// operator can change is the machine's memory.
pub fn mem_total_mib(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        let rest = l.strip_prefix("MemTotal:")?;
        let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib / 1024)
    })
}

/// Checks the initrd's image before it is mounted, reading only its superblock and a few
/// bytes (no hashing: too slow under emulation). The kernel gives each file its full length
/// before writing it (`vfs_truncate` in init/initramfs.c), so an unpacking cut short leaves a
/// hole at the end rather than a shorter file: what was unpacked is where the first hole starts
/// (`SEEK_HOLE`; the initramfs is a tmpfs). The image must then:
/// - be as long as the sidecar's size (when there is a sidecar), all of it unpacked;
/// - start with the squashfs magic, with the superblock's `bytes_used` unpacked;
/// - have its last lookup table in place (non-zero): a filesystem without `SEEK_HOLE` (ramfs)
///   reads a never-written tail as zeros.
///
/// `meminfo` (/proc/meminfo) gives the memory figure of the error.
pub fn check_initrd_image(
    image: &Path,
    sidecar: Option<&Sidecar>,
    meminfo: &Path,
) -> Result<(), BadImage> {
    let truncated = |expected: u64, unpacked: u64| BadImage::Truncated {
        expected,
        unpacked,
        memory_mib: std::fs::read_to_string(meminfo)
            .ok()
            .and_then(|t| mem_total_mib(&t)),
    };
    let read_err = |e: std::io::Error| BadImage::Read(e.to_string());
    let file = match std::fs::File::open(image) {
        Ok(f) => f,
        // The sidecar came first and the image never started.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && sidecar.is_some() => {
            return Err(truncated(sidecar.map_or(0, |s| s.size), 0));
        }
        Err(e) => return Err(read_err(e)),
    };
    let len = file.metadata().map_err(read_err)?.len();
    let unpacked = data_before_hole(&file, len);
    if let Some(s) = sidecar {
        if len > s.size {
            return Err(BadImage::SizeMismatch {
                expected: s.size,
                len,
            });
        }
        if unpacked < s.size {
            return Err(truncated(s.size, unpacked));
        }
    }
    let expected = |bytes_used: u64| sidecar.map_or(bytes_used, |s| s.size);
    let mut head = [0u8; SUPERBLOCK_LEN];
    let got = read_at_most(&file, &mut head, 0).map_err(read_err)?;
    if !head.starts_with(SQUASHFS_MAGIC) {
        return Err(BadImage::NotSquashfs {
            why: "it does not start with the magic hsqs".to_owned(),
        });
    }
    if got < SUPERBLOCK_LEN {
        return Err(BadImage::NotSquashfs {
            why: format!("it is {len} bytes, shorter than a squashfs superblock"),
        });
    }
    // Every offset is a constant inside the superblock; a miss reads as 0 (no table).
    let field = |at: usize| {
        let mut b = [0u8; 8];
        if let Some(bytes) = at.checked_add(8).and_then(|end| head.get(at..end)) {
            b.copy_from_slice(bytes);
        }
        u64::from_le_bytes(b)
    };
    let bytes_used = field(BYTES_USED_AT);
    if bytes_used > unpacked {
        return Err(truncated(expected(bytes_used), unpacked));
    }
    // The lookup tables' indexes come last; the last one starts with a non-zero block address.
    let last_table = LAST_TABLES
        .iter()
        .map(|&at| field(at))
        .filter(|&start| start.saturating_add(8) <= bytes_used)
        .max();
    if let Some(start) = last_table {
        let mut word = [0u8; 8];
        let got = read_at_most(&file, &mut word, start).map_err(read_err)?;
        if got < 8 || word == [0u8; 8] {
            let unpacked = data_before_zeros(&file, bytes_used);
            return Err(truncated(expected(bytes_used), unpacked));
        }
    }
    Ok(())
}

/// Where the first hole of `file` starts (its data so far), or `len` where holes are not
/// reported.
fn data_before_hole(file: &std::fs::File, len: u64) -> u64 {
    match nix::unistd::lseek(file, 0, nix::unistd::Whence::SeekHole) {
        Ok(at) => u64::try_from(at).map_or(len, |at| at.min(len)),
        Err(_) => len,
    }
}

/// Reads into `buf` from `offset` until it is full or the file ends; returns the bytes read.
fn read_at_most(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut got = 0usize;
    while let Some(rest) = buf.get_mut(got..).filter(|r| !r.is_empty()) {
        match file.read_at(rest, offset.saturating_add(got as u64)) {
            Ok(0) => break,
            Ok(n) => got = got.saturating_add(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Where a file that ends in zeros where data should be (a tail never written, on a filesystem
/// that does not report holes) stops holding data, to a page: a binary search over its
/// pages, a compressed image having no page of zeros of its own.
fn data_before_zeros(file: &std::fs::File, end: u64) -> u64 {
    const PAGE: u64 = 4096;
    let zero_page = |at: u64| {
        let mut page = [0u8; PAGE as usize];
        read_at_most(file, &mut page, at).map_or(true, |n| {
            page.get(..n)
                .is_none_or(|data| data.iter().all(|&b| b == 0))
        })
    };
    // Invariant: the page at `lo` holds data (the superblock's does), the one at `hi` none.
    let (mut lo, mut hi) = (0, end.div_ceil(PAGE));
    while hi.saturating_sub(lo) > 1 {
        let mid = lo.saturating_add(hi.saturating_sub(lo) / 2);
        if zero_page(mid.saturating_mul(PAGE)) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi.saturating_mul(PAGE).min(end)
}

/// Why a medium's system image is not the one the initrd carries.
#[derive(Debug, thiserror::Error)]
pub enum MediumMismatch {
    #[error("the medium has no readable {MEDIUM_SIDECAR}")]
    NoSidecar,
    #[error("the medium carries another system image (sha256 {medium}, the initrd's is {initrd})")]
    OtherImage { medium: String, initrd: String },
    #[error("the medium's {MEDIUM_IMAGE} is {actual} bytes, not the {expected} its sidecar gives")]
    Size { actual: u64, expected: u64 },
    #[error("the medium's {MEDIUM_IMAGE}: {0}")]
    Unreadable(std::io::Error),
}

/// Whether the medium mounted at `root` carries the image `initrd` describes: its sidecar is
/// the same and its image has that size. `Err` says why not.
pub fn medium_matches(initrd: &Sidecar, root: &Path) -> Result<(), MediumMismatch> {
    let Some(medium) = Sidecar::read(&root.join(MEDIUM_SIDECAR)) else {
        return Err(MediumMismatch::NoSidecar);
    };
    if medium != *initrd {
        return Err(MediumMismatch::OtherImage {
            medium: medium.sha256,
            initrd: initrd.sha256.clone(),
        });
    }
    match std::fs::metadata(root.join(MEDIUM_IMAGE)) {
        Ok(m) if m.len() == initrd.size => Ok(()),
        Ok(m) => Err(MediumMismatch::Size {
            actual: m.len(),
            expected: initrd.size,
        }),
        Err(e) => Err(MediumMismatch::Unreadable(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The first `len` bytes of a file that passes for a squashfs of `bytes_used` bytes: the
    /// magic, `bytes_used`, data (no page of zeros) up to `bytes_used` and zeros after it, the
    /// fragment and id tables' indexes last, no xattr or export table.
    fn squashfs_bytes(bytes_used: u64, len: usize) -> Vec<u8> {
        let mut data: Vec<u8> = (0..bytes_used).map(|i| (i % 251) as u8 | 1).collect();
        data.resize(len.max(bytes_used as usize), 0);
        data[..SUPERBLOCK_LEN].fill(0);
        data[..4].copy_from_slice(b"hsqs");
        let mut put = |at: usize, v: u64| data[at..at + 8].copy_from_slice(&v.to_le_bytes());
        put(BYTES_USED_AT, bytes_used);
        put(48, bytes_used - 8); // id table index
        put(56, u64::MAX); // no xattrs
        put(80, bytes_used - 16); // fragment table index
        put(88, u64::MAX); // no export table
        data.truncate(len);
        data
    }

    fn fake_squashfs(path: &Path, bytes_used: u64, len: usize) {
        std::fs::write(path, squashfs_bytes(bytes_used, len)).unwrap();
    }

    fn meminfo(dir: &Path) -> PathBuf {
        let path = dir.join("meminfo");
        std::fs::write(
            &path,
            "MemTotal:         482432 kB\nMemFree:           10240 kB\nMemAvailable:       8000 kB\n",
        )
        .unwrap();
        path
    }

    fn sidecar(size: u64) -> Sidecar {
        Sidecar {
            size,
            sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn a_whole_image_passes() {
        let tmp = tempfile::tempdir().unwrap();
        let image = tmp.path().join("system.squashfs");
        fake_squashfs(&image, 8000, 8192);
        let mem = meminfo(tmp.path());
        assert_eq!(
            check_initrd_image(&image, Some(&sidecar(8192)), &mem),
            Ok(())
        );
        // Without a sidecar the superblock alone decides.
        assert_eq!(check_initrd_image(&image, None, &mem), Ok(()));
    }

    #[test]
    fn a_truncated_image_says_it_did_not_fit_in_ram() {
        let tmp = tempfile::tempdir().unwrap();
        let image = tmp.path().join("system.squashfs");
        let full = 100 * MIB + 5;
        // The first half, as the kernel leaves it when memory runs out.
        fake_squashfs(&image, full - 4000, (full / 2) as usize);
        let mem = meminfo(tmp.path());
        let err = check_initrd_image(&image, Some(&sidecar(full)), &mem).unwrap_err();
        assert_eq!(
            err,
            BadImage::Truncated {
                expected: full,
                unpacked: full / 2,
                memory_mib: Some(471),
            }
        );
        assert_eq!(
            err.to_string(),
            "the initrd did not fit in RAM: the system image is 101 MiB but only 50 MiB of it \
             were unpacked (471 MiB of memory available); boot from the ISO or give the machine \
             more memory"
        );
    }

    #[test]
    fn a_truncated_image_without_sidecar_is_caught_by_its_superblock() {
        let tmp = tempfile::tempdir().unwrap();
        let image = tmp.path().join("system.squashfs");
        fake_squashfs(&image, 3 * MIB, MIB as usize);
        let mem = meminfo(tmp.path());
        let err = check_initrd_image(&image, None, &mem).unwrap_err();
        assert_eq!(
            err,
            BadImage::Truncated {
                expected: 3 * MIB,
                unpacked: MIB,
                memory_mib: Some(471),
            }
        );
        assert!(
            err.to_string()
                .starts_with("the initrd did not fit in RAM: the system image is 3 MiB but only 1 MiB of it were unpacked (471 MiB of memory available)"),
            "{err}"
        );
    }

    #[test]
    fn an_image_cut_before_it_began_counts_as_nothing_unpacked() {
        let tmp = tempfile::tempdir().unwrap();
        let mem = meminfo(tmp.path());
        let err = check_initrd_image(&tmp.path().join("absent"), Some(&sidecar(2 * MIB)), &mem)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the initrd did not fit in RAM: the system image is 2 MiB but only 0 MiB of it were \
             unpacked (471 MiB of memory available); boot from the ISO or give the machine more \
             memory"
        );
    }

    #[test]
    fn wrong_magic_is_not_a_squashfs() {
        let tmp = tempfile::tempdir().unwrap();
        let image = tmp.path().join("system.squashfs");
        std::fs::write(&image, vec![0u8; 4096]).unwrap();
        let mem = meminfo(tmp.path());
        for side in [None, Some(sidecar(4096))] {
            let err = check_initrd_image(&image, side.as_ref(), &mem).unwrap_err();
            assert_eq!(
                err.to_string(),
                "the initrd's system image /ros/system.squashfs is not a squashfs (it does not \
                 start with the magic hsqs); rebuild the initrd with ros-build"
            );
        }
    }

    #[test]
    fn a_longer_image_than_its_sidecar_is_a_mismatch() {
        let tmp = tempfile::tempdir().unwrap();
        let image = tmp.path().join("system.squashfs");
        fake_squashfs(&image, 4000, 4096);
        let mem = meminfo(tmp.path());
        assert_eq!(
            check_initrd_image(&image, Some(&sidecar(2048)), &mem),
            Err(BadImage::SizeMismatch {
                expected: 2048,
                len: 4096
            })
        );
    }

    #[test]
    fn a_full_length_image_with_a_hole_at_the_end_is_truncated() {
        // What the kernel leaves: the file has its full length (set before the first write),
        // and its data stops where memory ran out. On a tmpfs, as the initramfs is, when there
        // is one.
        let shm = Path::new("/dev/shm");
        let tmp = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let image = tmp.path().join("system.squashfs");
        let full: u64 = 8 * MIB;
        let half = 4 * MIB as usize;
        let file = std::fs::File::create(&image).unwrap();
        use std::os::unix::fs::FileExt;
        file.write_all_at(&squashfs_bytes(full - 100, full as usize)[..half], 0)
            .unwrap();
        file.set_len(full).unwrap();
        if shm.is_dir() {
            // tmpfs reports the hole: no need to read the zeros.
            assert_eq!(data_before_hole(&file, full), half as u64);
        }
        let mem = meminfo(tmp.path());
        let expect = Err(BadImage::Truncated {
            expected: full,
            unpacked: half as u64,
            memory_mib: Some(471),
        });
        assert_eq!(
            check_initrd_image(&image, Some(&sidecar(full)), &mem),
            expect
        );
        let expect = Err(BadImage::Truncated {
            expected: full - 100,
            unpacked: half as u64,
            memory_mib: Some(471),
        });
        assert_eq!(check_initrd_image(&image, None, &mem), expect);
    }

    #[test]
    fn a_tail_of_zeros_without_holes_is_truncated() {
        // A filesystem that reports no holes (ramfs) reads the tail never written as zeros.
        let tmp = tempfile::tempdir().unwrap();
        let image = tmp.path().join("system.squashfs");
        let full: u64 = 8 * MIB;
        let mut data = squashfs_bytes(full - 100, full as usize);
        data[3 * MIB as usize..].fill(0);
        std::fs::write(&image, &data).unwrap();
        let mem = meminfo(tmp.path());
        assert_eq!(
            check_initrd_image(&image, Some(&sidecar(full)), &mem),
            Err(BadImage::Truncated {
                expected: full,
                unpacked: 3 * MIB,
                memory_mib: Some(471),
            })
        );
    }

    #[test]
    fn unknown_memory_is_said_so() {
        let err = BadImage::Truncated {
            expected: MIB,
            unpacked: 0,
            memory_mib: None,
        };
        assert!(
            err.to_string()
                .contains("unpacked (the memory available is unknown); boot from the ISO"),
            "{err}"
        );
    }

    #[test]
    fn mem_total_is_read_in_mib() {
        assert_eq!(mem_total_mib("MemTotal:        1012345 kB\n"), Some(988));
        assert_eq!(mem_total_mib("MemFree: 5 kB\n"), None);
    }

    #[test]
    fn sidecar_parses_the_builders_json() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s.json");
        std::fs::write(&path, r#"{"size":110862336,"sha256":"00ff"}"#).unwrap();
        assert_eq!(
            Sidecar::read(&path),
            Some(Sidecar {
                size: 110862336,
                sha256: "00ff".into()
            })
        );
        std::fs::write(&path, "{").unwrap();
        assert_eq!(Sidecar::read(&path), None);
        assert_eq!(Sidecar::read(&tmp.path().join("absent")), None);
    }

    #[test]
    fn the_medium_is_used_only_with_the_same_image() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("ros")).unwrap();
        let mine = sidecar(4096);
        assert!(medium_matches(&mine, root)
            .unwrap_err()
            .to_string()
            .contains("no readable ros/system.squashfs.json"));
        std::fs::write(
            root.join(MEDIUM_SIDECAR),
            format!(r#"{{"size":4096,"sha256":"{}"}}"#, "cd".repeat(32)),
        )
        .unwrap();
        fake_squashfs(&root.join(MEDIUM_IMAGE), 4000, 4096);
        assert!(medium_matches(&mine, root)
            .unwrap_err()
            .to_string()
            .contains("another system image"));
        std::fs::write(
            root.join(MEDIUM_SIDECAR),
            format!(r#"{{"size":4096,"sha256":"{}"}}"#, "ab".repeat(32)),
        )
        .unwrap();
        assert!(medium_matches(&mine, root).is_ok());
        fake_squashfs(&root.join(MEDIUM_IMAGE), 4000, 2048);
        assert!(medium_matches(&mine, root)
            .unwrap_err()
            .to_string()
            .contains("is 2048 bytes, not the 4096"));
    }
}
