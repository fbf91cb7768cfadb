//! Carrying out one planned row: mount(2) or swapon(2). Runs on the thread that is inside the
//! target mount namespace, so every path here (targets, bind sources, swap files) is the
//! host's; /proc/thread-self is that thread's view.

use super::options::MountOptions;
use super::{Kind, Plan};
use host::block_devices::{DeviceSpec, Resolver};
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use std::ffi::{CString, NulError};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// swapon(2) flags (linux/swap.h).
const SWAP_FLAG_PREFER: i32 = 0x8000;
const SWAP_FLAG_PRIO_MASK: i32 = 0x7fff;
const SWAP_FLAG_DISCARD: i32 = 0x10000;

/// What applying a row did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Mounted {
        source: String,
        fstype: String,
    },
    SwapOn {
        device: PathBuf,
    },
    /// The same thing is mounted there already (cloud-init ran before in this boot).
    AlreadyMounted,
    AlreadySwap,
    /// `noauto`.
    Skipped,
}

/// A mount(2) call that failed; the text is the errno's description, as mount(8) gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MountCallError {
    #[error("{}", .0.desc())]
    Mount(#[source] Errno),
    /// The remount that gives a bind mount its per-mount flags.
    #[error("remounting with the options: {}", .0.desc())]
    Remount(#[source] Errno),
    #[error("setting propagation: {}", .0.desc())]
    Propagation(#[source] Errno),
}

/// What one try of several was: an NFS data string, or a filesystem type for a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tried {
    /// The one mount there is to try (a filesystem without a device).
    Only,
    /// An NFS data string (one per protocol version).
    Data(String),
    /// A filesystem type tried on a device.
    FsType(String),
}

/// One try that failed, shown as `[data] error`, `fstype: error` or just the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub tried: Tried,
    pub error: MountCallError,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tried {
            Tried::Only => write!(f, "{}", self.error),
            Tried::Data(d) => write!(f, "[{d}] {}", self.error),
            Tried::FsType(t) => write!(f, "{t}: {}", self.error),
        }
    }
}

/// Why a planned row could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("bind source {}: {source}", path.display())]
    BindSource {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Making the mount point (or its parent, for a file bind-mounted onto it).
    #[error("creating {}: {source}", path.display())]
    CreateTarget {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Mount(#[from] MountCallError),
    /// Every try failed, in order; shown joined by `; `.
    #[error("{}", join_attempts(.0))]
    AllAttemptsFailed(Vec<Attempt>),
    #[error("device {0} not found")]
    DeviceNotFound(String),
    #[error("cannot tell the filesystem type of {0}")]
    UnknownFsType(String),
    #[error("swap {0} not found")]
    SwapNotFound(String),
    /// The swap path holds a NUL byte.
    #[error(transparent)]
    SwapPath(#[from] NulError),
    #[error("swapon: {}{}", .0.desc(), swapon_hint(*.0))]
    Swapon(#[source] Errno),
}

fn join_attempts(attempts: &[Attempt]) -> String {
    attempts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn swapon_hint(e: Errno) -> &'static str {
    if e == Errno::EINVAL {
        " (no swap signature, or a sparse file: make it with dd or fallocate, then mkswap)"
    } else {
        ""
    }
}

pub fn apply(plan: &Plan, device_deadline: Instant) -> Result<Done, ApplyError> {
    if plan.options.noauto {
        return Ok(Done::Skipped);
    }
    match &plan.kind {
        Kind::Swap => swap(plan, device_deadline),
        Kind::Bind => {
            let source = Path::new(&plan.source);
            let src = std::fs::metadata(source).map_err(|e| ApplyError::BindSource {
                path: source.to_path_buf(),
                source: e,
            })?;
            // Bound already: the target is the very same file or directory.
            let same = |_: &MountInfo| {
                std::fs::metadata(&plan.target)
                    .is_ok_and(|t| (t.dev(), t.ino()) == (src.dev(), src.ino()))
            };
            if already(&plan.target, same) {
                return Ok(Done::AlreadyMounted);
            }
            prepare_target(&plan.target, src.is_dir())?;
            bind(source, &plan.target, &plan.options)?;
            Ok(Done::Mounted {
                source: plan.source.clone(),
                fstype: "bind".into(),
            })
        }
        Kind::Virtual | Kind::Nfs { .. } => {
            let same =
                |m: &MountInfo| m.source == plan.source && m.fstype.starts_with(&plan.fstype);
            if already(&plan.target, same) {
                return Ok(Done::AlreadyMounted);
            }
            prepare_target(&plan.target, true)?;
            let attempts = match &plan.kind {
                Kind::Nfs { attempts } => attempts.iter().map(|a| Some(a.as_str())).collect(),
                _ => vec![None],
            };
            let mut errors = Vec::new();
            for data in attempts {
                match mount_fs(
                    &plan.source,
                    &plan.target,
                    &plan.fstype,
                    &plan.options,
                    data,
                ) {
                    Ok(done) => return Ok(done),
                    Err(error) => errors.push(Attempt {
                        tried: data.map_or(Tried::Only, |d| Tried::Data(d.to_owned())),
                        error,
                    }),
                }
            }
            Err(ApplyError::AllAttemptsFailed(errors))
        }
        Kind::Device => {
            let dev = wait_device(&plan.source, device_deadline)
                .ok_or_else(|| ApplyError::DeviceNotFound(plan.source.clone()))?;
            let rdev = std::fs::metadata(&dev).map(|m| m.rdev()).ok();
            let same = |m: &MountInfo| rdev.is_some_and(|r| m.dev == (major(r), minor(r)));
            if already(&plan.target, same) {
                return Ok(Done::AlreadyMounted);
            }
            prepare_target(&plan.target, true)?;
            let source = dev.display().to_string();
            let candidates = fs_candidates(&plan.fstype, &dev);
            if candidates.is_empty() {
                return Err(ApplyError::UnknownFsType(source));
            }
            let mut errors = Vec::new();
            for fstype in &candidates {
                match mount_fs(&source, &plan.target, fstype, &plan.options, None) {
                    Ok(done) => return Ok(done),
                    Err(error) => errors.push(Attempt {
                        tried: Tried::FsType(fstype.clone()),
                        error,
                    }),
                }
            }
            Err(ApplyError::AllAttemptsFailed(errors))
        }
    }
}

/// True when the topmost mount at `target` is what the row would mount. Something else there
/// (the shared bind PID 1 puts on /mnt, an older mount) is mounted over, as mount(8) does.
fn already(target: &Path, same: impl Fn(&MountInfo) -> bool) -> bool {
    let info = std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap_or_default();
    parse_mountinfo(&info)
        .into_iter()
        .rfind(|m| m.point == target)
        .is_some_and(|m| same(&m))
}

fn major(rdev: u64) -> u32 {
    nix::sys::stat::major(rdev) as u32
}

fn minor(rdev: u64) -> u32 {
    nix::sys::stat::minor(rdev) as u32
}

/// Creates the mount point: a directory, or an empty file for a file bind-mounted onto it.
fn prepare_target(target: &Path, dir: bool) -> Result<(), ApplyError> {
    let creating = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ApplyError::CreateTarget { path, source }
    };
    if dir {
        return std::fs::create_dir_all(target).map_err(creating(target));
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(creating(parent))?;
    }
    if !target.exists() {
        std::fs::write(target, b"").map_err(creating(target))?;
    }
    Ok(())
}

fn mount_fs(
    source: &str,
    target: &Path,
    fstype: &str,
    options: &MountOptions,
    data: Option<&str>,
) -> Result<Done, MountCallError> {
    let owned = options.data_string();
    let data = data.or(owned.as_deref());
    let mut flags = options.flags;
    let mut r = mount(Some(source), target, Some(fstype), flags, data);
    // A read-only medium (a CD, a write-protected disk) is mounted read-only, as mount(8) does.
    if matches!(r, Err(Errno::EROFS) | Err(Errno::EACCES)) && !flags.contains(MsFlags::MS_RDONLY) {
        flags.insert(MsFlags::MS_RDONLY);
        r = mount(Some(source), target, Some(fstype), flags, data);
        if r.is_ok() {
            tracing::warn!(source, target = %target.display(), "mounts: write-protected, mounted read-only");
        }
    }
    r.map_err(MountCallError::Mount)?;
    set_propagation(target, options)?;
    Ok(Done::Mounted {
        source: source.to_owned(),
        fstype: fstype.to_owned(),
    })
}

fn bind(source: &Path, target: &Path, options: &MountOptions) -> Result<(), MountCallError> {
    let mut flags = MsFlags::MS_BIND;
    if options.recursive {
        flags.insert(MsFlags::MS_REC);
    }
    mount(Some(source), target, None::<&str>, flags, None::<&str>)
        .map_err(MountCallError::Mount)?;
    // A bind mount takes its per-mount flags (ro, nosuid...) only on a remount.
    if !options.flags.is_empty() {
        let remount = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | options.flags;
        mount(None::<&str>, target, None::<&str>, remount, None::<&str>)
            .map_err(MountCallError::Remount)?;
    }
    set_propagation(target, options)
}

fn set_propagation(target: &Path, options: &MountOptions) -> Result<(), MountCallError> {
    if let Some(p) = options.propagation {
        mount(None::<&str>, target, None::<&str>, p, None::<&str>)
            .map_err(MountCallError::Propagation)?;
    }
    Ok(())
}

/// The row's device (or swap file), waited for until `deadline`. Loop devices count: a user
/// may mount an image they attached.
fn wait_device(source: &str, deadline: Instant) -> Option<PathBuf> {
    let spec = DeviceSpec::parse(source).ok()?;
    Resolver::system(true).wait(&spec, deadline)
}

fn swap(plan: &Plan, device_deadline: Instant) -> Result<Done, ApplyError> {
    let dev = wait_device(&plan.source, device_deadline)
        .ok_or_else(|| ApplyError::SwapNotFound(plan.source.clone()))?;
    let real = std::fs::canonicalize(&dev).unwrap_or_else(|_| dev.clone());
    if active_swaps().iter().any(|s| s == &real) {
        return Ok(Done::AlreadySwap);
    }
    if let Ok(meta) = std::fs::metadata(&real) {
        // swapon(8) warns too: a readable swap area leaks memory contents.
        if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = %real.display(), mode = format!("{:o}", meta.mode() & 0o777), "mounts: insecure permissions on a swap file; 0600 is suggested");
        }
    }
    let mut flags = 0;
    if let Some(p) = plan.options.priority {
        flags |= SWAP_FLAG_PREFER | (p & SWAP_FLAG_PRIO_MASK);
    }
    if plan.options.discard {
        flags |= SWAP_FLAG_DISCARD;
    }
    let path = CString::new(real.as_os_str().as_bytes())?;
    // SAFETY: a valid NUL-terminated path and plain flags.
    let rc = unsafe { libc::swapon(path.as_ptr(), flags) };
    if rc != 0 {
        let e = Errno::last();
        if e == Errno::EBUSY {
            return Ok(Done::AlreadySwap);
        }
        return Err(ApplyError::Swapon(e));
    }
    Ok(Done::SwapOn { device: real })
}

/// The swap areas in use, from /proc/swaps.
pub fn active_swaps() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/swaps")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(|p| PathBuf::from(unescape(p)))
        .collect()
}

/// One line of /proc/PID/mountinfo, the fields this module needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// major:minor of the mounted filesystem.
    pub dev: (u32, u32),
    pub point: PathBuf,
    pub fstype: String,
    pub source: String,
}

/// Parses mountinfo: `ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE ...`.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let f: Vec<&str> = left.split(' ').collect();
            let (maj, min) = f.get(2)?.split_once(':')?;
            let mut r = right.split(' ');
            Some(MountInfo {
                dev: (maj.parse().ok()?, min.parse().ok()?),
                point: PathBuf::from(unescape(f.get(4)?)),
                fstype: r.next()?.to_owned(),
                source: unescape(r.next().unwrap_or_default()),
            })
        })
        .collect()
}

/// True when `path` is a mount point in this thread's mount namespace.
pub fn is_mount_point(path: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap_or_default();
    parse_mountinfo(&info).iter().any(|m| m.point == path)
}

/// The kernel writes space, tab, newline and backslash in these files as octal escapes.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The types to try: the one given, else what the superblock says, else every block
/// filesystem the kernel has (what mount(8) does for `auto`).
fn fs_candidates(fstype: &str, dev: &Path) -> Vec<String> {
    if fstype != "auto" {
        return vec![fstype.to_owned()];
    }
    if let Some(fs) = host::fs_probe::probe_path(dev) {
        return vec![fs.fstype.to_owned()];
    }
    block_filesystems(&std::fs::read_to_string("/proc/filesystems").unwrap_or_default())
}

/// Filesystems of /proc/filesystems that live on a device (no `nodev` mark).
pub fn block_filesystems(proc_filesystems: &str) -> Vec<String> {
    proc_filesystems
        .lines()
        .filter(|l| !l.starts_with("nodev"))
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_tables_parse() {
        let info = "36 35 98:0 /mnt1 /mnt/my\\040disk rw,noatime master:1 - ext3 /dev/root rw\n\
                    37 35 98:0 / / rw - ext4 /dev/vda rw\n";
        let m = parse_mountinfo(info);
        assert_eq!(
            m[0],
            MountInfo {
                dev: (98, 0),
                point: PathBuf::from("/mnt/my disk"),
                fstype: "ext3".into(),
                source: "/dev/root".into()
            }
        );
        assert_eq!(
            (m[1].point.as_path(), m[1].fstype.as_str()),
            (Path::new("/"), "ext4")
        );
        assert_eq!(
            block_filesystems("nodev\tsysfs\n\text4\nnodev\ttmpfs\n\tvfat\n"),
            vec!["ext4", "vfat"]
        );
        assert_eq!(unescape("a\\134b\\011"), "a\\b\t");
        assert_eq!(unescape("trailing\\"), "trailing\\");
        assert!(is_mount_point(Path::new("/")));
        assert!(!is_mount_point(Path::new("/nonexistent-ros")));
    }
}
