//! OpenStack config drives: a filesystem labelled `config-2` holding
//! `openstack/latest/user_data` and `meta_data.json`, as ISO 9660 or as vfat.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::error::{io, Error};

/// The filesystem a config drive is made with; OpenStack writes either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveFs {
    Iso9660,
    Vfat,
}

/// Writes a `config-2` image at `out` from a user-data file and a `meta_data.json` text.
pub fn make_config_drive(
    user_data: &Path,
    meta_data_json: &str,
    fs: DriveFs,
    out: &Path,
) -> Result<(), Error> {
    let dir = tempfile::tempdir().map_err(io("create a temporary directory"))?;
    let latest = dir.path().join("openstack/latest");
    fs::create_dir_all(&latest).map_err(io("create openstack/latest"))?;
    fs::copy(user_data, latest.join("user_data"))
        .map_err(io(format!("read {}", user_data.display())))?;
    fs::write(latest.join("meta_data.json"), meta_data_json).map_err(io("write meta_data.json"))?;
    match fs {
        DriveFs::Iso9660 => run(Command::new("xorriso")
            .args([
                "-as", "mkisofs", "-quiet", "-volid", "config-2", "-joliet", "-rock",
            ])
            .arg("-output")
            .arg(out)
            .arg(dir.path())),
        DriveFs::Vfat => {
            let f = fs::File::create(out).map_err(io(format!("create {}", out.display())))?;
            f.set_len(8 << 20)
                .map_err(io(format!("size {}", out.display())))?;
            run(Command::new("mkfs.vfat").args(["-n", "config-2"]).arg(out))?;
            run(Command::new("mcopy")
                .args(["-s", "-i"])
                .arg(out)
                .arg(dir.path().join("openstack"))
                .arg("::/"))
        }
    }
}

fn run(cmd: &mut Command) -> Result<(), Error> {
    let tool = cmd.get_program().to_string_lossy().into_owned();
    let output = cmd.output().map_err(io(format!(
        "run {tool} (apt-get install xorriso dosfstools mtools)"
    )))?;
    if !output.status.success() {
        return Err(Error::Tool {
            tool,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(())
}
