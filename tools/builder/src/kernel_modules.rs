//! Choosing kernel modules: the closure of a list over modules.dep, copied into a root with
//! its own modules.dep (made by depmod) so that PID 1, udev and modprobe can load them.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use host::modules_dep::{normalize, ModulesDep};

use crate::command;

/// The modules of one kernel release, as listed by its modules.dep.
pub struct ModuleIndex {
    dir: PathBuf,
    release: String,
    dep: ModulesDep,
    builtin: BTreeSet<String>,
}

impl ModuleIndex {
    /// Reads `<kernel_root>/lib/modules/<release>/modules.dep`.
    pub fn read(kernel_root: &Path, release: &str) -> Result<ModuleIndex> {
        let dir = kernel_root.join("lib/modules").join(release);
        let dep = fs::read_to_string(dir.join("modules.dep")).context("read modules.dep")?;
        let builtin = fs::read_to_string(dir.join("modules.builtin"))
            .unwrap_or_default()
            .lines()
            .map(normalize)
            .collect();
        Ok(ModuleIndex {
            dir,
            release: release.to_string(),
            dep: ModulesDep::parse(&dep),
            builtin,
        })
    }

    /// Whether `name` is a loadable module of this kernel.
    pub fn has(&self, name: &str) -> bool {
        self.dep.contains(name)
    }

    /// The module files for `wanted` (names, or directory prefixes ending in `/`) and all they
    /// depend on. Built-in and unknown names are returned separately (a flavour may lack some);
    /// a name ending in `?` is optional and never reported as missing.
    pub fn closure(&self, wanted: &[String]) -> Selection {
        let mut sel = Selection::default();
        let mut todo: Vec<String> = Vec::new();
        for w in wanted {
            let optional = w.ends_with('?');
            let w = &w.trim_end_matches('?').to_string();
            if w.ends_with('/') {
                todo.extend(
                    self.dep
                        .modules()
                        .map(|m| &m.path)
                        .filter(|p| p.starts_with(w.as_str()))
                        .cloned(),
                );
            } else if let Some(module) = self.dep.get(w) {
                todo.push(module.path.clone());
            } else if self.builtin.contains(&normalize(w)) {
                sel.builtin.push(w.clone());
            } else if !optional {
                sel.missing.push(w.clone());
            }
        }
        while let Some(path) = todo.pop() {
            if sel.files.insert(path.clone()) {
                todo.extend(
                    self.dep
                        .get(&path)
                        .map(|m| m.deps.clone())
                        .unwrap_or_default(),
                );
            }
        }
        sel
    }

    /// Copies `files` under `<root>/lib/modules/<release>/` and runs depmod there.
    pub fn install(&self, files: &BTreeSet<String>, root: &Path) -> Result<()> {
        let dest = root.join("lib/modules").join(&self.release);
        fs::create_dir_all(&dest).with_context(|| format!("create {}", dest.display()))?;
        for file in files {
            let target = dest.join(file);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::copy(self.dir.join(file), &target)
                .with_context(|| format!("copy module {file}"))?;
        }
        for meta in ["modules.builtin", "modules.builtin.modinfo"] {
            if self.dir.join(meta).exists() {
                fs::copy(self.dir.join(meta), dest.join(meta))
                    .with_context(|| format!("copy {meta}"))?;
            }
        }
        let order: String = fs::read_to_string(self.dir.join("modules.order"))
            .unwrap_or_default()
            .lines()
            .filter(|l| files.contains(*l))
            .map(|l| format!("{l}\n"))
            .collect();
        fs::write(dest.join("modules.order"), order).context("write modules.order")?;
        command::require_tool("depmod", "kmod")?;
        command::run(
            Command::new("depmod")
                .arg("-b")
                .arg(root)
                .arg(&self.release),
        )
        .context("depmod")
    }
}

/// The outcome of [`ModuleIndex::closure`].
#[derive(Debug, Default)]
pub struct Selection {
    pub files: BTreeSet<String>,
    pub builtin: Vec<String>,
    pub missing: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closure_follows_dependencies_and_reports_builtin() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lib/modules/6.1.0-test");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("modules.dep"),
            "kernel/fs/isofs/isofs.ko:\nkernel/drivers/scsi/sr_mod.ko: kernel/drivers/cdrom/cdrom.ko\nkernel/drivers/cdrom/cdrom.ko:\nkernel/fs/nls/nls_iso8859-1.ko:\n",
        )
        .unwrap();
        fs::write(dir.join("modules.builtin"), "kernel/fs/ext4/ext4.ko\n").unwrap();
        let index = ModuleIndex::read(tmp.path(), "6.1.0-test").unwrap();
        let sel = index.closure(&[
            "sr_mod".into(),
            "nls_iso8859_1".into(),
            "ext4".into(),
            "nope".into(),
            "maybe?".into(),
        ]);
        let files: Vec<_> = sel.files.iter().cloned().collect();
        assert_eq!(
            files,
            vec![
                "kernel/drivers/cdrom/cdrom.ko",
                "kernel/drivers/scsi/sr_mod.ko",
                "kernel/fs/nls/nls_iso8859-1.ko"
            ]
        );
        assert_eq!(sel.builtin, vec!["ext4"]);
        assert_eq!(sel.missing, vec!["nope"]);
    }
}
