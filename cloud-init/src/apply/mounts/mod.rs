//! `mounts`: fstab-like rows `[device, mountpoint, fstype, options, dump, pass]`, mounted in
//! the host's mount namespace so that the host, the console and User Docker all see them
//! (/mnt and /media reach the containers through user-volumes' shared binds).
//!
//! Missing fields take cloud-init's defaults (`auto`, `defaults`); dump and pass are ignored
//! (nothing runs fsck). Kinds of row:
//! - `swap`: swapon(2) on a device or a file (`[/swapfile, none, swap, sw]`), `pri=`, `discard`;
//! - `bind`/`rbind` in the options: a bind mount of a host path;
//! - `nfs`/`nfs4`: the kernel's NFS client (see `nfs`);
//! - a filesystem without a device (`tmpfs`, `overlay`, `virtiofs`...): the source as written;
//! - anything else: a block device by `LABEL=`, `UUID=` or path, with `auto` probing the type.
//!
//! Each row is reported on its own (`nofail` turns its failure into a warning); a failing row
//! never stops the others. Devices get a short wait to appear; rows left hanging (an NFS
//! server that does not answer) are reported and left to finish in the background.

pub mod apply;
pub mod nfs;
pub mod options;

use apply::{ApplyError, Done};
use host::block_devices::{DeviceSpec, SpecError};
use host::mount_namespace as host_ns;
use nfs::NfsError;
use options::{MountOptions, OptionsError};
use os_config::model::MountEntry;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Filesystems that never need a device, also when their module is not loaded yet (then
/// /proc/filesystems does not list them).
const VIRTUAL_FS: [&str; 16] = [
    "tmpfs",
    "ramfs",
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "overlay",
    "cgroup",
    "cgroup2",
    "mqueue",
    "hugetlbfs",
    "virtiofs",
    "9p",
    "fuse",
    "binfmt_misc",
    "efivarfs",
];

/// Why a row was refused before anything was tried.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("no device")]
    NoDevice,
    #[error("no mount point")]
    NoMountPoint,
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error("bind source {0:?} must be an absolute path")]
    RelativeBindSource(String),
    #[error(transparent)]
    Nfs(#[from] NfsError),
    /// An `addr=` option that is no IP address; holds what follows `addr=`.
    #[error("addr={given} is not an address")]
    BadAddr {
        given: String,
        source: std::net::AddrParseError,
    },
    #[error("device {0:?} is not LABEL=, UUID=, PARTUUID=, PARTLABEL= or a path")]
    UnknownDevice(String),
    #[error("mount point {0:?} must be an absolute path")]
    RelativeMountPoint(String),
}

/// Why the worker that applies the rows could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Namespace(#[from] host_ns::NsError),
    #[error(transparent)]
    Thread(#[from] std::io::Error),
}

/// What went wrong with one row: refused, failed, or never applied.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error(transparent)]
    Row(#[from] RowError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// The worker did not start, so no row was tried; shared by every row.
    #[error("not applied: {0}")]
    NotApplied(#[source] Arc<StartError>),
    /// Still running at the timeout (e.g. an NFS server that does not answer).
    #[error(
        "still in progress after {} s; left to finish in the background",
        .0.as_secs()
    )]
    StillInProgress(Duration),
}

/// One row, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub device: String,
    pub target: String,
    pub fstype: String,
    pub options: String,
}

impl Row {
    pub fn parse(entry: &MountEntry) -> Result<Row, RowError> {
        let field = |i: usize| entry.0.get(i).map(|s| s.trim()).unwrap_or_default();
        let non_empty = |s: &str, default: &str| {
            if s.is_empty() || (default == "auto" && s.eq_ignore_ascii_case("none")) {
                default.to_owned()
            } else {
                s.to_owned()
            }
        };
        let row = Row {
            device: field(0).to_owned(),
            target: field(1).to_owned(),
            fstype: non_empty(field(2), "auto"),
            options: non_empty(field(3), "defaults"),
        };
        if row.device.is_empty() {
            return Err(RowError::NoDevice);
        }
        if row.target.is_empty() && row.fstype != "swap" {
            return Err(RowError::NoMountPoint);
        }
        Ok(row)
    }
}

/// How a row is carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Swap,
    Bind,
    /// A filesystem without a device: the source is passed as written.
    Virtual,
    /// The mount(2) data strings to try, in order.
    Nfs {
        attempts: Vec<String>,
    },
    Device,
}

/// A row checked and ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub index: usize,
    pub source: String,
    pub target: PathBuf,
    pub fstype: String,
    pub options: MountOptions,
    pub kind: Kind,
}

/// Checks a row and decides how to apply it. Server names are resolved here, before the
/// work moves into the host's namespace.
pub fn plan(index: usize, entry: &MountEntry, nodev: &[String]) -> Result<Plan, RowError> {
    let row = Row::parse(entry)?;
    let options = options::parse(&row.options)?;
    let target = PathBuf::from(&row.target);
    let kind = if row.fstype == "swap" {
        Kind::Swap
    } else if options.bind || row.fstype == "bind" {
        if !row.device.starts_with('/') {
            return Err(RowError::RelativeBindSource(row.device));
        }
        Kind::Bind
    } else if nfs::is_nfs(&row.fstype) {
        let (host, _) = nfs::split_source(&row.device)?;
        let given = options.data.iter().find_map(|o| o.strip_prefix("addr="));
        let addr = match given {
            Some(a) => a.parse().map_err(|source| RowError::BadAddr {
                given: a.to_owned(),
                source,
            })?,
            None => nfs::resolve(&host)?,
        };
        Kind::Nfs {
            attempts: nfs::attempts(&row.fstype, &options.data, addr),
        }
    } else if nodev.iter().any(|f| f == &row.fstype) {
        Kind::Virtual
    } else {
        if matches!(
            DeviceSpec::parse(&row.device),
            Err(SpecError::Unknown { .. })
        ) {
            return Err(RowError::UnknownDevice(row.device));
        }
        Kind::Device
    };
    if kind != Kind::Swap && !target.is_absolute() {
        return Err(RowError::RelativeMountPoint(row.target));
    }
    Ok(Plan {
        index,
        source: row.device,
        target,
        fstype: row.fstype,
        options,
        kind,
    })
}

/// Where and how patiently rows are applied.
#[derive(Debug, Clone)]
pub struct Options {
    /// The mount namespace to work in (`None`: this process's own).
    pub namespace: Option<PathBuf>,
    /// How long devices may take to appear, counted from the start.
    pub device_wait: Duration,
    /// How long all rows may take before the rest are reported as still in progress.
    pub timeout: Duration,
}

impl Options {
    /// The host's mount namespace, as cloud-init-execute uses it.
    pub fn host() -> Options {
        Options {
            namespace: Some(PathBuf::from(host_ns::HOST_MOUNT_NS)),
            device_wait: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
        }
    }
}

/// What happened to one row.
#[derive(Debug)]
pub struct Outcome {
    pub index: usize,
    pub what: String,
    pub nofail: bool,
    pub result: Result<Done, MountError>,
}

/// Applies every row, in order, and reports each.
pub fn apply_all(entries: &[MountEntry], opts: &Options) -> Vec<Outcome> {
    let nodev = nodev_filesystems();
    let mut outcomes = Vec::new();
    let mut plans = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        match plan(index, entry, &nodev) {
            Ok(p) => plans.push(p),
            Err(e) => outcomes.push(Outcome {
                index,
                what: entry.0.join(" "),
                nofail: false,
                result: Err(e.into()),
            }),
        }
    }
    if !plans.is_empty() {
        preload_fs_modules(&plans);
        outcomes.extend(execute(plans, opts));
    }
    outcomes.sort_by_key(|o| o.index);
    for o in &outcomes {
        report(o);
    }
    outcomes
}

/// Runs the plans on one thread inside the namespace, one after another (a later row may
/// mount inside an earlier one), and collects their results until the timeout.
fn execute(plans: Vec<Plan>, opts: &Options) -> Vec<Outcome> {
    let outcome = |p: &Plan, result: Result<Done, MountError>| Outcome {
        index: p.index,
        what: describe(p),
        nofail: p.options.nofail,
        result,
    };
    let (tx, rx) = mpsc::channel();
    let device_deadline = Instant::now() + opts.device_wait;
    let work_plans = plans.clone();
    let work = move || {
        for p in &work_plans {
            let r = apply::apply(p, device_deadline);
            if tx.send((p.index, r)).is_err() {
                break;
            }
        }
    };
    let started = match &opts.namespace {
        Some(ns) => host_ns::spawn_in(ns, work).map_err(StartError::from),
        None => std::thread::Builder::new()
            .name("mounts".into())
            .spawn(work)
            .map_err(StartError::from),
    };
    if let Err(e) = started {
        let e = Arc::new(e);
        return plans
            .iter()
            .map(|p| outcome(p, Err(MountError::NotApplied(Arc::clone(&e)))))
            .collect();
    }
    let mut pending: BTreeMap<usize, Plan> = plans.into_iter().map(|p| (p.index, p)).collect();
    let mut out = Vec::new();
    let deadline = Instant::now() + opts.timeout;
    while !pending.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((index, result)) => {
                if let Some(p) = pending.remove(&index) {
                    out.push(outcome(&p, result.map_err(MountError::from)));
                }
            }
            Err(_) => break,
        }
    }
    for p in pending.values() {
        out.push(outcome(p, Err(MountError::StillInProgress(opts.timeout))));
    }
    out
}

fn describe(p: &Plan) -> String {
    if p.kind == Kind::Swap {
        format!("swap {}", p.source)
    } else {
        format!("{} on {}", p.source, p.target.display())
    }
}

fn report(o: &Outcome) {
    match &o.result {
        Ok(Done::Mounted { source, fstype }) => {
            tracing::info!(row = o.index, %source, %fstype, what = %o.what, "mounts: mounted")
        }
        Ok(Done::SwapOn { device }) => {
            tracing::info!(row = o.index, device = %device.display(), "mounts: swap on")
        }
        Ok(Done::AlreadyMounted) => {
            tracing::info!(row = o.index, what = %o.what, "mounts: already mounted")
        }
        Ok(Done::AlreadySwap) => {
            tracing::info!(row = o.index, what = %o.what, "mounts: swap already on")
        }
        Ok(Done::Skipped) => {
            tracing::info!(row = o.index, what = %o.what, "mounts: noauto, skipped")
        }
        Err(e) if o.nofail => {
            tracing::warn!(row = o.index, what = %o.what, error = %e, "mounts: failed (nofail)")
        }
        Err(e) => tracing::error!(row = o.index, what = %o.what, error = %e, "mounts: failed"),
    }
}

/// Loads the module of each filesystem type the kernel does not know yet (`nfs`, `xfs`...).
/// The kernel would ask the host's modprobe itself, but that is busybox's, which may not
/// resolve the `fs-*` aliases; loading by name here does not depend on it. Quietly: a type
/// that is built in, or that no module provides, is for mount(2) to report.
fn preload_fs_modules(plans: &[Plan]) {
    let known = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    let known: Vec<&str> = known
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    let mut wanted: Vec<String> = Vec::new();
    for p in plans {
        let fstype = p.fstype.as_str();
        let names: Vec<&str> = match fstype {
            // The NFS client asks for its version modules the same way.
            "nfs" | "nfs4" => vec!["nfs", "nfsv4", "nfsv3"],
            _ if known.contains(&fstype) || matches!(fstype, "auto" | "swap" | "bind" | "none") => {
                vec![]
            }
            other => vec![other],
        };
        for n in names {
            if !wanted.iter().any(|w| w == n) {
                wanted.push(n.to_owned());
            }
        }
    }
    if wanted.is_empty() {
        return;
    }
    let Some(release) = host::kernel_modules::kernel_release() else {
        return;
    };
    let dir = Path::new("/lib/modules").join(release);
    let Ok(index) = host::kernel_modules::ModuleIndex::load(&dir) else {
        return;
    };
    for name in &wanted {
        if index.contains(name) {
            if let Err(e) = index.load_module(name, "") {
                tracing::warn!(module = name, error = %e, "mounts: filesystem module not loaded");
            }
        }
    }
}

/// Filesystems without a device: /proc/filesystems' `nodev` entries plus the usual ones whose
/// module may not be loaded yet.
pub fn nodev_filesystems() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("nodev"))
        .map(|f| f.trim().to_owned())
        // The NFS types are nodev too, but take their own path.
        .filter(|f| !nfs::is_nfs(f))
        .collect();
    out.extend(VIRTUAL_FS.iter().map(|s| (*s).to_owned()));
    out
}

/// True when `path` is a mount point in this thread's namespace (for callers and tests).
pub fn is_mount_point(path: &Path) -> bool {
    apply::is_mount_point(path)
}

#[cfg(test)]
mod tests;
