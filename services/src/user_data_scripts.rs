//! User-data scripts (user-data that starts with `#!`, or `text/x-shellscript` parts), which
//! cloud-init saves under `/var/lib/rancher/conf/scripts/`: each runs once per instance id,
//! in the console after the network is up, in the background with the boot scripts, its
//! output in syslog tagged with its name. What ran is kept in `scripts.ran` (instance id and
//! the script's SHA-256), written before the script starts: a script that reboots the machine
//! does not run again. A changed script is a new script; a new instance runs them all again.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Under the conf directory, beside `scripts/`.
pub const RAN_FILE: &str = "scripts.ran";
/// A datasource without an instance id (cmdline, `url:`, `file:`): once per script content.
const NO_INSTANCE: &str = "-";

/// The saved scripts that have not run for this instance, in name (user-data) order.
pub fn pending(root: &Path) -> Vec<PathBuf> {
    let dir = cloud_init::save::scripts_dir(root);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut scripts: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    scripts.sort();
    let ran = std::fs::read_to_string(ran_file(root)).unwrap_or_default();
    let instance = instance(root);
    scripts.retain(|s| match key(&instance, s) {
        Ok(k) => !ran.lines().any(|l| l == k),
        Err(e) => {
            tracing::warn!(script = %s.display(), error = %e, "cannot read user-data script");
            false
        }
    });
    scripts
}

/// Records that `script` ran (or is about to) for this instance.
pub fn mark_ran(root: &Path, script: &Path) -> std::io::Result<()> {
    let line = key(&instance(root), script)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(ran_file(root))?;
    writeln!(f, "{line}")?;
    f.sync_all()
}

fn ran_file(root: &Path) -> PathBuf {
    cloud_init::save::conf_dir(root).join(RAN_FILE)
}

fn instance(root: &Path) -> String {
    cloud_init::save::saved_instance_id(root)
        // One token per line field: an id with spaces must not split the record.
        .map(|id| id.split_whitespace().collect::<Vec<_>>().join("_"))
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| NO_INSTANCE.to_string())
}

fn key(instance: &str, script: &Path) -> std::io::Result<String> {
    let digest = Sha256::digest(std::fs::read(script)?);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{instance} {hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save_script(root: &Path, name: &str, body: &str) {
        let dir = cloud_init::save::scripts_dir(root);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), body).unwrap();
    }

    fn names(scripts: &[PathBuf]) -> Vec<String> {
        scripts
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn each_script_runs_once_per_instance_and_again_when_it_changes() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        assert!(pending(r).is_empty(), "no scripts saved");
        save_script(r, "01-b", "#!/bin/sh\necho b\n");
        save_script(r, "00-a", "#!/bin/sh\necho a\n");
        let first = pending(r);
        assert_eq!(names(&first), ["00-a", "01-b"]);
        for s in &first {
            mark_ran(r, s).unwrap();
        }
        assert!(pending(r).is_empty(), "ran once");
        // A changed script is a new one.
        save_script(r, "01-b", "#!/bin/sh\necho b2\n");
        assert_eq!(names(&pending(r)), ["01-b"]);
        mark_ran(r, &pending(r)[0]).unwrap();
        // A new instance (another datasource answer) runs them all again.
        let md = cloud_init::save::conf_dir(r).join("metadata");
        std::fs::write(&md, "instance-id: i-2\n").unwrap();
        assert_eq!(names(&pending(r)), ["00-a", "01-b"]);
    }
}
