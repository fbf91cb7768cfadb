//! NoCloud seed drives: an ISO 9660 image labelled `cidata` holding user-data and meta-data.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::error::{io, Error};

/// Writes a NoCloud `cidata` image at `out` from a user-data file (and optional meta-data).
pub fn make_cidata(user_data: &Path, meta_data: Option<&Path>, out: &Path) -> Result<(), Error> {
    let dir = tempfile::tempdir().map_err(io("create a temporary directory"))?;
    fs::copy(user_data, dir.path().join("user-data"))
        .map_err(io(format!("read {}", user_data.display())))?;
    match meta_data {
        Some(m) => fs::copy(m, dir.path().join("meta-data")).map(|_| ()),
        None => fs::write(dir.path().join("meta-data"), "instance-id: ros-nocloud\n"),
    }
    .map_err(io("write meta-data"))?;
    let output = Command::new("xorriso")
        .args([
            "-as", "mkisofs", "-quiet", "-volid", "cidata", "-joliet", "-rock", "-output",
        ])
        .arg(out)
        .arg(dir.path())
        .output()
        .map_err(io("run xorriso (apt-get install xorriso)"))?;
    if !output.status.success() {
        return Err(Error::Tool {
            tool: "xorriso".into(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(())
}
