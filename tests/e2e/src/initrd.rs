//! Full initrds made by the tests: `dist/initrd-small`, then an uncompressed cpio member with
//! the sidecar `/ros/system.squashfs.json` and a system image of the test's choosing.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Writes to `out` the small initrd followed by a member carrying `squashfs` as
/// /ros/system.squashfs. `keep` bytes of it are written (all of it when `None`) while the cpio
/// header still gives the whole size: a write cut short, as the kernel leaves it in too
/// little RAM (the member then has no trailer). Returns the image's full size.
pub fn initrd_with_image(
    small: &Path,
    squashfs: &Path,
    keep: Option<usize>,
    out: &Path,
) -> std::io::Result<u64> {
    let mut bytes = std::fs::read(small)?;
    let image = std::fs::read(squashfs)?;
    let size = image.len() as u64;
    let sidecar = serde_json::to_vec(&serde_json::json!({
        "size": size,
        "sha256": format!("{:x}", Sha256::digest(&image)),
    }))
    .map_err(std::io::Error::other)?;
    let entry = |name: &str, mode: u32, ino: u32| {
        cpio::newc::Builder::new(name)
            .ino(ino)
            .mode(mode)
            .nlink(if mode & 0o040000 != 0 { 2 } else { 1 })
    };
    entry("ros", 0o040755, 2001).write(&mut bytes, 0).finish()?;
    let mut w =
        entry("ros/system.squashfs.json", 0o100644, 2002).write(&mut bytes, sidecar.len() as u32);
    w.write_all(&sidecar)?;
    w.finish()?;
    let len = u32::try_from(size).map_err(std::io::Error::other)?;
    let mut w = entry("ros/system.squashfs", 0o100644, 2003).write(&mut bytes, len);
    match keep {
        Some(n) => {
            w.write_all(&image[..n.min(image.len())])?;
            // Not finished: no padding, no trailer, as if the unpacking had stopped here.
            drop(w);
        }
        None => {
            w.write_all(&image)?;
            let mut rest = w.finish()?;
            cpio::newc::trailer(&mut rest)?;
        }
    }
    std::fs::write(out, &bytes).map(|()| size)
}
