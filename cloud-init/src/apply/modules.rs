//! `rancher.modules`: loaded with finit_module in modules.dep order (the same loader PID 1
//! uses), from the host's /lib/modules, which system-volumes shares with this container.

use host::kernel_modules::{self, ModuleIndex};
use std::path::{Path, PathBuf};

/// Loads each entry (`name` or `name param=value ...`); modules already in the kernel are
/// skipped by the loader, failures are reported. Returns how many are loaded.
pub fn load(wanted: &[String]) -> usize {
    if wanted.is_empty() {
        return 0;
    }
    let Some(release) = kernel_modules::kernel_release() else {
        tracing::error!("rancher.modules: cannot tell the kernel release");
        return 0;
    };
    load_from(&PathBuf::from("/lib/modules").join(release), wanted)
}

pub fn load_from(dir: &Path, wanted: &[String]) -> usize {
    let index = match ModuleIndex::load(dir) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(error = %e, "rancher.modules: no module index");
            return 0;
        }
    };
    let loaded = kernel_modules::load_list(&index, wanted);
    if loaded < wanted.len() {
        tracing::error!(
            loaded,
            wanted = wanted.len(),
            "rancher.modules: some modules were not loaded"
        );
    } else {
        tracing::info!(loaded, "rancher.modules loaded");
    }
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_index_and_unknown_modules_are_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_from(dir.path(), &["nbd".into()]), 0);
        std::fs::write(dir.path().join("modules.dep"), "kernel/x/known.ko:\n").unwrap();
        assert_eq!(load_from(dir.path(), &["unknown".into()]), 0);
        assert_eq!(load(&[]), 0);
    }

    /// A module the running kernel already has (loaded or built in) counts as loaded without
    /// touching the kernel, the path a second pass after PID 1 takes.
    #[test]
    fn modules_already_in_the_kernel_count_as_loaded() {
        let Some(present) = std::fs::read_dir("/sys/module")
            .ok()
            .and_then(|d| d.filter_map(Result::ok).next())
        else {
            return;
        };
        let name = present.file_name().to_string_lossy().into_owned();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("modules.dep"),
            format!("kernel/x/{name}.ko:\n"),
        )
        .unwrap();
        assert_eq!(load_from(dir.path(), &[format!("{name} param=1")]), 1);
    }
}
