//! The options column of a `mounts` row, as fstab(5) and mount(8) read it: generic options
//! become mount(2) flags, the rest is the filesystem's data string.

use nix::mount::MsFlags;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Per-mount flags for mount(2) (`ro`, `nosuid`, `noatime`, ...).
    pub flags: MsFlags,
    /// Filesystem-specific options, passed to the filesystem as they are.
    pub data: Vec<String>,
    pub bind: bool,
    /// `rbind`: submounts come along.
    pub recursive: bool,
    /// `shared`, `rslave`, ...: applied to the new mount after it is made.
    pub propagation: Option<MsFlags>,
    /// Not mounted at boot (fstab's `noauto`).
    pub noauto: bool,
    /// A failure is a warning, not an error.
    pub nofail: bool,
    /// swap: `pri=N`.
    pub priority: Option<i32>,
    /// swap: `discard`.
    pub discard: bool,
}

/// Why the options column was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    /// `pri=` outside -1..=32767, or not a number; holds the whole word.
    #[error("bad swap priority {0:?}")]
    BadPriority(String),
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            data: Vec::new(),
            bind: false,
            recursive: false,
            propagation: None,
            noauto: false,
            nofail: false,
            priority: None,
            discard: false,
        }
    }
}

impl MountOptions {
    /// The data string for mount(2), `None` when there is none.
    pub fn data_string(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// Parses `defaults,ro,noatime,size=10m`. Unknown words go to the filesystem, which rejects
/// what it does not know, as mount(8) would.
pub fn parse(options: &str) -> Result<MountOptions, OptionsError> {
    let mut o = MountOptions::default();
    for word in options.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        if let Some((set, clear)) = flag(word) {
            o.flags.insert(set);
            o.flags.remove(clear);
            continue;
        }
        if let Some(p) = propagation(word) {
            o.propagation = Some(p);
            continue;
        }
        match word {
            // The fstab fields that mean nothing to mount(2).
            "defaults" | "auto" | "nouser" | "user" | "users" | "owner" | "group" | "_netdev"
            | "sw" | "nobootwait" => {}
            "noauto" => o.noauto = true,
            "nofail" => o.nofail = true,
            "bind" => o.bind = true,
            "rbind" => {
                o.bind = true;
                o.recursive = true;
            }
            "discard" => o.discard = true,
            w if w.starts_with("x-") || w.starts_with("comment=") => {}
            w if w.starts_with("discard=") => o.discard = true,
            w if w.starts_with("pri=") => {
                let n = w["pri=".len()..]
                    .parse::<i32>()
                    .ok()
                    .filter(|n| (-1..=32767).contains(n))
                    .ok_or_else(|| OptionsError::BadPriority(w.to_owned()))?;
                o.priority = (n >= 0).then_some(n);
            }
            w => o.data.push(w.to_owned()),
        }
    }
    Ok(o)
}

/// A generic option: the flag it sets and the flag it clears.
fn flag(word: &str) -> Option<(MsFlags, MsFlags)> {
    let none = MsFlags::empty();
    Some(match word {
        "ro" => (MsFlags::MS_RDONLY, none),
        "rw" => (none, MsFlags::MS_RDONLY),
        "nosuid" => (MsFlags::MS_NOSUID, none),
        "suid" => (none, MsFlags::MS_NOSUID),
        "nodev" => (MsFlags::MS_NODEV, none),
        "dev" => (none, MsFlags::MS_NODEV),
        "noexec" => (MsFlags::MS_NOEXEC, none),
        "exec" => (none, MsFlags::MS_NOEXEC),
        "sync" => (MsFlags::MS_SYNCHRONOUS, none),
        "async" => (none, MsFlags::MS_SYNCHRONOUS),
        "dirsync" => (MsFlags::MS_DIRSYNC, none),
        "mand" => (MsFlags::MS_MANDLOCK, none),
        "nomand" => (none, MsFlags::MS_MANDLOCK),
        "noatime" => (MsFlags::MS_NOATIME, none),
        "atime" => (none, MsFlags::MS_NOATIME),
        "nodiratime" => (MsFlags::MS_NODIRATIME, none),
        "diratime" => (none, MsFlags::MS_NODIRATIME),
        "relatime" => (MsFlags::MS_RELATIME, none),
        "norelatime" => (none, MsFlags::MS_RELATIME),
        "strictatime" => (MsFlags::MS_STRICTATIME, none),
        "nostrictatime" => (none, MsFlags::MS_STRICTATIME),
        "lazytime" => (MsFlags::MS_LAZYTIME, none),
        "nolazytime" => (none, MsFlags::MS_LAZYTIME),
        "silent" => (MsFlags::MS_SILENT, none),
        "loud" => (none, MsFlags::MS_SILENT),
        _ => return None,
    })
}

fn propagation(word: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match word {
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_options_become_flags_and_the_rest_data() {
        let o =
            parse("defaults,ro,noatime,nosuid,size=10m,mode=0755,x-systemd.foo,nofail").unwrap();
        assert_eq!(
            o.flags,
            MsFlags::MS_RDONLY | MsFlags::MS_NOATIME | MsFlags::MS_NOSUID
        );
        assert_eq!(o.data_string().as_deref(), Some("size=10m,mode=0755"));
        assert!(o.nofail && !o.noauto && !o.bind);
        // Later words win, as in mount(8).
        assert_eq!(parse("ro,rw").unwrap().flags, MsFlags::empty());
        assert_eq!(parse("").unwrap(), MountOptions::default());
        assert_eq!(parse("defaults").unwrap().data_string(), None);
    }

    #[test]
    fn bind_propagation_and_swap_options() {
        let o = parse("rbind,ro,rslave").unwrap();
        assert!(o.bind && o.recursive);
        assert_eq!(o.propagation, Some(MsFlags::MS_SLAVE | MsFlags::MS_REC));
        let s = parse("sw,pri=5,discard=once").unwrap();
        assert_eq!((s.priority, s.discard), (Some(5), true));
        assert_eq!(parse("pri=-1").unwrap().priority, None);
        assert_eq!(
            parse("pri=high").unwrap_err().to_string(),
            "bad swap priority \"pri=high\""
        );
        assert!(parse("noauto").unwrap().noauto);
    }
}
