//! Recognises the filesystems ros looks for by label (iso9660, ext2/3/4, vfat, squashfs) from
//! their superblocks, so PID 1 needs neither blkid nor udev to find its media.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsInfo {
    pub fstype: &'static str,
    pub label: Option<String>,
    pub uuid: Option<String>,
}

/// Bytes needed to see every superblock we know (iso9660's sits at 32 KiB).
const PROBE_LEN: usize = 34 * 1024;

pub fn probe_path(path: &Path) -> Option<FsInfo> {
    let mut f = File::open(path).ok()?;
    f.seek(SeekFrom::Start(0)).ok()?;
    let mut buf = vec![0u8; PROBE_LEN];
    let mut filled = 0usize;
    while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
        match f.read(rest) {
            Ok(0) | Err(_) => break,
            Ok(n) => filled = filled.saturating_add(n),
        }
    }
    buf.truncate(filled);
    probe(&buf)
}

pub fn probe(b: &[u8]) -> Option<FsInfo> {
    probe_squashfs(b)
        .or_else(|| probe_iso9660(b))
        .or_else(|| probe_ext(b))
        .or_else(|| probe_vfat(b))
}

/// The `N` bytes at `at`, as an array: fixed offsets then index it without a panic path
/// (the superblocks are read from any device PID 1 examines).
fn field<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn text(bytes: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim_end_matches(['\0', ' ']).trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn probe_squashfs(b: &[u8]) -> Option<FsInfo> {
    (b.get(0..4)? == b"hsqs").then_some(FsInfo {
        fstype: "squashfs",
        label: None,
        uuid: None,
    })
}

fn probe_iso9660(b: &[u8]) -> Option<FsInfo> {
    let pvd: [u8; 72] = field(b, 0x8000)?;
    (pvd[0] == 1 && &pvd[1..6] == b"CD001").then(|| FsInfo {
        fstype: "iso9660",
        label: text(&pvd[40..72]),
        uuid: None,
    })
}

fn probe_ext(b: &[u8]) -> Option<FsInfo> {
    let sb: [u8; 136] = field(b, 1024)?;
    if u16::from_le_bytes([sb[56], sb[57]]) != 0xEF53 {
        return None;
    }
    let u: [u8; 16] = field(&sb, 104)?;
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        hex(&u[0..4]),
        hex(&u[4..6]),
        hex(&u[6..8]),
        hex(&u[8..10]),
        hex(&u[10..16])
    );
    Some(FsInfo {
        fstype: "ext4",
        label: text(&sb[120..136]),
        uuid: Some(uuid),
    })
}

fn probe_vfat(b: &[u8]) -> Option<FsInfo> {
    let bs: [u8; 512] = field(b, 0)?;
    if bs[510] != 0x55 || bs[511] != 0xAA {
        return None;
    }
    let (label_at, serial_at) = if &bs[82..87] == b"FAT32" {
        (71, 67)
    } else if &bs[54..58] == b"FAT1" {
        (43, 39)
    } else {
        return None;
    };
    let serial = u32::from_le_bytes(field(&bs, serial_at)?);
    let label = text(&field::<11>(&bs, label_at)?).filter(|l| l != "NO NAME");
    Some(FsInfo {
        fstype: "vfat",
        label,
        uuid: Some(format!("{:04X}-{:04X}", serial >> 16, serial & 0xffff)),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_superblocks() {
        let mut iso = vec![0u8; PROBE_LEN];
        iso[0x8000] = 1;
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        iso[0x8000 + 40..0x8000 + 43].copy_from_slice(b"ROS");
        iso[0x8000 + 43..0x8000 + 72].fill(b' ');
        assert_eq!(
            probe(&iso),
            Some(FsInfo {
                fstype: "iso9660",
                label: Some("ROS".into()),
                uuid: None
            })
        );

        let mut ext = vec![0u8; 4096];
        ext[1024 + 56] = 0x53;
        ext[1024 + 57] = 0xEF;
        ext[1024 + 120..1024 + 133].copy_from_slice(b"RANCHER_STATE");
        let info = probe(&ext).unwrap();
        assert_eq!(
            (info.fstype, info.label.as_deref()),
            ("ext4", Some("RANCHER_STATE"))
        );

        let mut fat = vec![0u8; 4096];
        fat[510] = 0x55;
        fat[511] = 0xAA;
        fat[54..59].copy_from_slice(b"FAT16");
        fat[39..43].copy_from_slice(&0x1234_ABCDu32.to_le_bytes());
        fat[43..54].copy_from_slice(b"CIDATA     ");
        assert_eq!(
            probe(&fat),
            Some(FsInfo {
                fstype: "vfat",
                label: Some("CIDATA".into()),
                uuid: Some("1234-ABCD".into())
            })
        );

        assert_eq!(probe(&[0u8; 4096]), None);
        assert_eq!(
            probe(b"hsqs"),
            Some(FsInfo {
                fstype: "squashfs",
                label: None,
                uuid: None
            })
        );
    }
}
