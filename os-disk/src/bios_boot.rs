//! GRUB's BIOS boot code, placed the way `grub-bios-setup` would: boot.img's first 440 bytes
//! in the MBR (the partition table after them is kept), the core image at the start of the BIOS
//! boot partition. Done at build time for the fixed layout, so the installer only copies bytes.

use crate::layout::{self, SECTOR};

/// The MBR's boot code area; the disk signature and partition table follow.
pub const MBR_CODE_LEN: usize = 440;
/// boot.img: the LBA of the core image's first sector (GRUB_BOOT_MACHINE_KERNEL_SECTOR).
const KERNEL_SECTOR: usize = 0x5c;
/// boot.img: a jump that trusts the BIOS's boot drive only for floppies; hard disks nop it.
const DRIVE_CHECK: usize = 0x66;
/// diskboot.img (the core image's first sector): the blocklist of the rest, at its end.
const BLOCKLIST_START: usize = 512 - 12;

#[derive(Debug, thiserror::Error)]
pub enum BiosBootError {
    #[error("boot.img is {0} bytes, not 512")]
    BootImgSize(usize),
    #[error("the core image is {0} bytes; it must fit the {1}-byte BIOS boot partition")]
    CoreTooLarge(usize, u64),
    #[error("the core image does not start with diskboot.img (blocklist {0:?})")]
    NotDiskboot([u8; 12]),
}

/// Returns the MBR boot code and the core image, patched for the BIOS boot partition.
pub fn patch(boot_img: &[u8], core_img: &[u8]) -> Result<(Vec<u8>, Vec<u8>), BiosBootError> {
    let boot: [u8; 512] = boot_img
        .try_into()
        .map_err(|_| BiosBootError::BootImgSize(boot_img.len()))?;
    let part_bytes = layout::BIOS_BOOT.size.unwrap_or(0).saturating_mul(SECTOR);
    let too_large = || BiosBootError::CoreTooLarge(core_img.len(), part_bytes);
    if core_img.len() as u64 > part_bytes {
        return Err(too_large());
    }
    let (first, rest) = core_img.split_first_chunk::<512>().ok_or_else(too_large)?;
    let core_lba = layout::BIOS_BOOT.start;
    let mut mbr = boot;
    mbr[KERNEL_SECTOR..KERNEL_SECTOR + 8].copy_from_slice(&core_lba.to_le_bytes());
    mbr[DRIVE_CHECK] = 0x90;
    mbr[DRIVE_CHECK + 1] = 0x90;

    let mut first = *first;
    let mut block = [0u8; 12];
    block.copy_from_slice(&first[BLOCKLIST_START..512]);
    // grub-mkimage leaves start = 2 (the MBR gap) and segment 0x820: check we patch the right thing.
    if block[0..8] != 2u64.to_le_bytes() || block[10..12] != 0x820u16.to_le_bytes() {
        return Err(BiosBootError::NotDiskboot(block));
    }
    first[BLOCKLIST_START..BLOCKLIST_START + 8]
        .copy_from_slice(&core_lba.saturating_add(1).to_le_bytes());
    let mut core = first.to_vec();
    core.extend_from_slice(rest);
    Ok((mbr[..MBR_CODE_LEN].to_vec(), core))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_core(sectors: usize) -> Vec<u8> {
        let mut core = vec![0u8; sectors * 512];
        core[BLOCKLIST_START..BLOCKLIST_START + 8].copy_from_slice(&2u64.to_le_bytes());
        core[BLOCKLIST_START + 8..BLOCKLIST_START + 10]
            .copy_from_slice(&((sectors - 1) as u16).to_le_bytes());
        core[BLOCKLIST_START + 10..512].copy_from_slice(&0x820u16.to_le_bytes());
        core
    }

    #[test]
    fn points_the_mbr_and_the_blocklist_at_the_bios_boot_partition() {
        let boot = vec![0xeb; 512];
        let (mbr, core) = patch(&boot, &fake_core(300)).unwrap();
        assert_eq!(mbr.len(), 440);
        assert_eq!(&mbr[0x5c..0x64], &2048u64.to_le_bytes());
        assert_eq!(&mbr[0x66..0x68], &[0x90, 0x90]);
        assert_eq!(&core[500..508], &2049u64.to_le_bytes());
        assert_eq!(&core[508..510], &299u16.to_le_bytes());
    }

    #[test]
    fn refuses_what_it_does_not_recognise() {
        assert!(matches!(
            patch(&[0; 100], &fake_core(2)),
            Err(BiosBootError::BootImgSize(100))
        ));
        assert!(matches!(
            patch(&[0; 512], &[0; 1024]),
            Err(BiosBootError::NotDiskboot(_))
        ));
        assert!(matches!(
            patch(&[0; 512], &fake_core(2049)),
            Err(BiosBootError::CoreTooLarge(..))
        ));
    }
}
