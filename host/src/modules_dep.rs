//! `modules.dep` as depmod writes it: one line per module, `path: dependency paths…`, the
//! deepest dependency last. The build reads it to choose module files, PID 1 to load them.

use std::collections::BTreeMap;

/// `virtio-net`, `virtio_net.ko.xz` and `kernel/.../virtio_net.ko` all name `virtio_net`.
pub fn normalize(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let base = base.split(".ko").next().unwrap_or(base);
    base.replace('-', "_")
}

/// One module: its file (relative to `/lib/modules/<release>`) and its dependencies' files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub path: String,
    pub deps: Vec<String>,
}

/// Every module of one kernel, by normalised name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModulesDep {
    modules: BTreeMap<String, Module>,
}

impl ModulesDep {
    pub fn parse(text: &str) -> ModulesDep {
        let modules = text
            .lines()
            .filter_map(|line| {
                let (path, deps) = line.split_once(':')?;
                let module = Module {
                    path: path.trim().to_owned(),
                    deps: deps.split_whitespace().map(str::to_owned).collect(),
                };
                Some((normalize(path), module))
            })
            .collect();
        ModulesDep { modules }
    }

    /// The module `name` names (any spelling [`normalize`] accepts).
    pub fn get(&self, name: &str) -> Option<&Module> {
        self.modules.get(&normalize(name))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Normalised names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.modules.keys().map(String::as_str)
    }

    pub fn modules(&self) -> impl Iterator<Item = &Module> {
        self.modules.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_and_dependencies() {
        let dep = ModulesDep::parse(
            "kernel/drivers/scsi/sr_mod.ko.xz: kernel/drivers/cdrom/cdrom.ko.xz\nkernel/drivers/cdrom/cdrom.ko.xz:\nnot a module line\n",
        );
        let sr = dep.get("sr-mod").unwrap();
        assert_eq!(sr.path, "kernel/drivers/scsi/sr_mod.ko.xz");
        assert_eq!(sr.deps, vec!["kernel/drivers/cdrom/cdrom.ko.xz"]);
        assert!(dep.contains("cdrom") && !dep.contains("isofs"));
        assert_eq!(dep.names().collect::<Vec<_>>(), vec!["cdrom", "sr_mod"]);
        assert_eq!(normalize("kernel/a/virtio-net.ko"), "virtio_net");
    }
}
