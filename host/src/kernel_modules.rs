//! Loading kernel modules ourselves (finit_module, dependencies first, from modules.dep), so
//! neither the initrd nor the system image needs kmod.

use crate::modules_dep::ModulesDep;
use nix::kmod::{finit_module, ModuleInitFlags};
use std::collections::HashSet;
use std::ffi::CString;
use std::fs::File;
use std::path::{Path, PathBuf};

/// `finit_module` flag: the file is compressed and the kernel decompresses it.
const MODULE_INIT_COMPRESSED_FILE: libc::c_uint = 4;

#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("module {0} is not in modules.dep")]
    Unknown(String),
    #[error("loading {name}: {source}")]
    Load { name: String, source: nix::Error },
}

/// The modules of one kernel: name → file and dependencies, from `modules.dep`.
#[derive(Debug, Default)]
pub struct ModuleIndex {
    dir: PathBuf,
    dep: ModulesDep,
}

pub use crate::modules_dep::normalize;

impl ModuleIndex {
    /// Reads `DIR/modules.dep` (DIR is `/lib/modules/<release>`).
    pub fn load(dir: &Path) -> Result<ModuleIndex, ModuleError> {
        let path = dir.join("modules.dep");
        let text = std::fs::read_to_string(&path).map_err(|source| ModuleError::Read {
            path: path.clone(),
            source,
        })?;
        Ok(ModuleIndex::parse(dir, &text))
    }

    pub fn parse(dir: &Path, text: &str) -> ModuleIndex {
        ModuleIndex {
            dir: dir.to_path_buf(),
            dep: ModulesDep::parse(text),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.dep.contains(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.dep.names()
    }

    /// The files to load for `name`, dependencies first (as modprobe orders them).
    pub fn load_order(&self, name: &str) -> Result<Vec<String>, ModuleError> {
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        self.visit(&normalize(name), &mut order, &mut seen)?;
        Ok(order)
    }

    fn visit(
        &self,
        name: &str,
        order: &mut Vec<String>,
        seen: &mut HashSet<String>,
    ) -> Result<(), ModuleError> {
        if !seen.insert(name.to_owned()) {
            return Ok(());
        }
        let module = self
            .dep
            .get(name)
            .ok_or_else(|| ModuleError::Unknown(name.to_owned()))?;
        // modules.dep lists the deepest dependency last; load from the end.
        for dep in module.deps.iter().rev() {
            self.visit(&normalize(dep), order, seen)?;
        }
        order.push(module.path.clone());
        Ok(())
    }

    /// Loads `name` and its dependencies; already-loaded modules are fine.
    pub fn load_module(&self, name: &str, params: &str) -> Result<(), ModuleError> {
        let order = self.load_order(name)?;
        let last = order.len().saturating_sub(1);
        for (i, rel) in order.iter().enumerate() {
            let p = if i == last { params } else { "" };
            self.insert(rel, p)?;
        }
        Ok(())
    }

    fn insert(&self, rel: &str, params: &str) -> Result<(), ModuleError> {
        let name = normalize(rel);
        if is_loaded(&name) {
            return Ok(());
        }
        let path = self.dir.join(rel);
        let file = File::open(&path).map_err(|source| ModuleError::Read {
            path: path.clone(),
            source,
        })?;
        let params = CString::new(params).unwrap_or_default();
        let mut flags = ModuleInitFlags::empty();
        if rel.ends_with(".xz") || rel.ends_with(".zst") || rel.ends_with(".gz") {
            flags |= ModuleInitFlags::from_bits_retain(MODULE_INIT_COMPRESSED_FILE);
        }
        match finit_module(&file, &params, flags) {
            Ok(()) | Err(nix::Error::EEXIST) => {
                tracing::debug!(module = %name, "module loaded");
                Ok(())
            }
            Err(source) => Err(ModuleError::Load { name, source }),
        }
    }
}

/// True if the module is in the running kernel (loaded, or built in).
pub fn is_loaded(name: &str) -> bool {
    Path::new("/sys/module").join(normalize(name)).exists()
}

/// The running kernel's release, for `/lib/modules/<release>`.
pub fn kernel_release() -> Option<String> {
    nix::sys::utsname::uname()
        .ok()
        .map(|u| u.release().to_string_lossy().into_owned())
}

/// Loads each module (`name` or `name param=value ...`), logging failures and going on.
pub fn load_list(index: &ModuleIndex, wanted: &[String]) -> usize {
    let mut loaded = 0usize;
    for entry in wanted {
        let mut parts = entry.splitn(2, char::is_whitespace);
        let name = parts.next().unwrap_or_default();
        let params = parts.next().unwrap_or_default().trim();
        if name.is_empty() {
            continue;
        }
        match index.load_module(name, params) {
            Ok(()) => loaded = loaded.saturating_add(1),
            Err(e) => tracing::warn!(module = name, error = %e, "module not loaded"),
        }
    }
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko.xz kernel/net/core/failover.ko.xz\nkernel/drivers/net/net_failover.ko.xz: kernel/net/core/failover.ko.xz\nkernel/net/core/failover.ko.xz:\nkernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko kernel/net/802/stp.ko kernel/net/llc/llc.ko\nkernel/net/bridge/bridge.ko: kernel/net/802/stp.ko kernel/net/llc/llc.ko\nkernel/net/802/stp.ko: kernel/net/llc/llc.ko\nkernel/net/llc/llc.ko:\n";

    #[test]
    fn dependencies_load_first_in_modprobe_order() {
        let idx = ModuleIndex::parse(Path::new("/lib/modules/x"), DEP);
        assert_eq!(
            idx.load_order("virtio-net").unwrap(),
            vec![
                "kernel/net/core/failover.ko.xz",
                "kernel/drivers/net/net_failover.ko.xz",
                "kernel/drivers/net/virtio_net.ko.xz"
            ]
        );
        assert_eq!(
            idx.load_order("br_netfilter").unwrap(),
            vec![
                "kernel/net/llc/llc.ko",
                "kernel/net/802/stp.ko",
                "kernel/net/bridge/bridge.ko",
                "kernel/net/bridge/br_netfilter.ko"
            ]
        );
        assert!(matches!(
            idx.load_order("nope"),
            Err(ModuleError::Unknown(_))
        ));
    }

    #[test]
    fn names_normalise() {
        assert_eq!(normalize("kernel/fs/squashfs/squashfs.ko.zst"), "squashfs");
        assert_eq!(normalize("crc32c-intel"), "crc32c_intel");
    }
}
