//! Test harness (feature `testing`): private dockerd instances on their own socket, data root
//! and exec root in a temporary directory, and tiny busybox images built without a registry.
//! Later capabilities reuse it; nothing here runs on a booted system.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::daemon::DaemonSpec;
use crate::scope::Scope;

/// Everything that can go wrong while setting up a test fixture.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("dockerd not found: install Debian's docker.io (or set ROS_TEST_DOCKERD)")]
    NoDockerd,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("dockerd at {socket} did not answer within {seconds} s; its log:\n{log}")]
    NotReady {
        socket: String,
        seconds: u64,
        log: String,
    },
    #[error("image archive: {0}")]
    Image(#[from] image_archive::Error),
    #[error("{0}")]
    Engine(#[from] crate::Error),
}

/// The dockerd binary: `$ROS_TEST_DOCKERD`, else the first `dockerd` on `PATH` or in `/usr/sbin`.
pub fn dockerd_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ROS_TEST_DOCKERD") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/bin".into(), "/sbin".into()])
        .map(|d| d.join("dockerd"))
        .find(|p| p.is_file())
}

/// The daemon spec tests use: everything private under `dir`, no bridge, no iptables, vfs
/// (no mounts left behind when a test kills the daemon), and a short shutdown.
pub fn test_daemon_spec(scope: Scope, dir: &Path) -> Result<DaemonSpec, HarnessError> {
    let mut spec = DaemonSpec::private(scope, dir);
    spec.program = dockerd_path().ok_or(HarnessError::NoDockerd)?;
    spec.storage_driver = Some("vfs".into());
    spec.extra_args = vec![
        "--shutdown-timeout=2".into(),
        "--userland-proxy=false".into(),
    ];
    Ok(spec)
}

/// A private dockerd for tests; stopped (and its directory removed) on drop, also on panic.
#[derive(Debug)]
pub struct TestDaemon {
    dir: Option<tempfile::TempDir>,
    child: Option<Child>,
    spec: DaemonSpec,
}

impl TestDaemon {
    /// Starts a daemon and waits (at most 60 s) until its API answers.
    pub fn start(scope: Scope) -> Result<TestDaemon, HarnessError> {
        TestDaemon::start_with(scope, |_| Ok(()))
    }

    /// Like [`TestDaemon::start`], after `prepare` may change the spec (another storage
    /// driver, a data root of the test's own) and fill the data root.
    pub fn start_with(
        scope: Scope,
        prepare: impl FnOnce(&mut DaemonSpec) -> Result<(), HarnessError>,
    ) -> Result<TestDaemon, HarnessError> {
        let dir = tempfile::Builder::new().prefix("ros-dockerd-").tempdir()?;
        let mut spec = test_daemon_spec(scope, dir.path())?;
        prepare(&mut spec)?;
        let log = std::fs::File::create(dir.path().join("dockerd.log"))?;
        let child = Command::new(&spec.program)
            .args(spec.to_args())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        register_for_exit(child.id());
        let daemon = TestDaemon {
            dir: Some(dir),
            child: Some(child),
            spec,
        };
        daemon.wait_ready(Duration::from_secs(60))?;
        Ok(daemon)
    }

    fn wait_ready(&self, timeout: Duration) -> Result<(), HarnessError> {
        let host = self.host();
        // Its own thread and runtime: callers may already be inside a tokio runtime.
        let probe = host.clone();
        let answered = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(crate::client::connect(&probe, timeout)).is_ok())
                .unwrap_or(false)
        })
        .join()
        .unwrap_or(false);
        answered
            .then_some(())
            .ok_or_else(|| HarnessError::NotReady {
                socket: host,
                seconds: timeout.as_secs(),
                log: self.log_tail(40),
            })
    }

    /// `unix:///…/docker.sock`.
    pub fn host(&self) -> String {
        self.spec.host()
    }

    pub fn spec(&self) -> &DaemonSpec {
        &self.spec
    }

    /// The temporary directory holding the socket, data root and exec root.
    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .map_or(Path::new("/nonexistent"), |d| d.path())
    }

    /// The last `lines` lines of dockerd's own log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir().join("dockerd.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// A fresh client (one per test runtime: bollard's connections belong to a runtime).
    pub async fn client(&self) -> Result<crate::DaemonClient, HarnessError> {
        Ok(crate::client::connect(&self.host(), Duration::from_secs(10)).await?)
    }

    /// Runs the docker CLI against this daemon and returns its output.
    pub fn docker_cli(&self, args: &[&str]) -> std::io::Result<std::process::Output> {
        Command::new("docker")
            .arg("-H")
            .arg(self.host())
            .args(args)
            .output()
    }

    /// Terminates dockerd (SIGTERM, SIGKILL after 20 s) and removes its directory.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, Duration::from_secs(20));
            unregister(child.id());
        }
        if let Some(dir) = self.dir.take() {
            detach_mounts_under(dir.path());
            let _ = dir.close();
        }
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.stop();
    }
}

fn stop_child(child: &mut Child, timeout: Duration) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Lazily unmounts whatever dockerd left mounted below `dir` (its private data-root bind
/// mount, netns files, shm), deepest first, so the directory can be removed.
pub fn detach_mounts_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for p in points {
        let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// A temporary directory for a daemon the test runs itself (e.g. under a [`crate::Supervisor`]):
/// dockerd's leftover mounts are detached before removal, also when the test panics.
#[derive(Debug)]
pub struct DaemonDir(Option<tempfile::TempDir>);

impl DaemonDir {
    pub fn new() -> std::io::Result<DaemonDir> {
        Ok(DaemonDir(Some(
            tempfile::Builder::new().prefix("ros-dockerd-").tempdir()?,
        )))
    }

    pub fn path(&self) -> &Path {
        self.0
            .as_ref()
            .map_or(Path::new("/nonexistent"), |d| d.path())
    }
}

impl Drop for DaemonDir {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            detach_mounts_under(dir.path());
            let _ = dir.close();
        }
    }
}

static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static SHARED: OnceLock<Mutex<Vec<&'static TestDaemon>>> = OnceLock::new();

fn register_for_exit(pid: u32) {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        // SAFETY: registering a plain extern "C" fn with no captured state.
        unsafe {
            libc::atexit(kill_live_daemons);
        }
    });
    if let Ok(mut live) = LIVE.lock() {
        live.push(pid);
    }
}

fn unregister(pid: u32) {
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|p| *p != pid);
    }
}

/// Statics are never dropped, so shared daemons are stopped when the test process exits.
extern "C" fn kill_live_daemons() {
    let pids: Vec<u32> = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
    for pid in &pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for pid in pids {
        let p = nix::unistd::Pid::from_raw(pid as i32);
        while Instant::now() < deadline && nix::sys::signal::kill(p, None).is_ok() {
            let _ = nix::sys::wait::waitpid(p, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
    }
    if let Some(shared) = SHARED.get() {
        if let Ok(list) = shared.lock() {
            for d in list.iter() {
                if let Some(dir) = &d.dir {
                    detach_mounts_under(dir.path());
                    let _ = std::fs::remove_dir_all(dir.path());
                }
            }
        }
    }
}

/// A daemon shared by all tests of one test binary (one per scope), started on first use and
/// stopped when the process exits. Tests sharing it must use unique names ([`unique_prefix`]).
pub fn shared(scope: Scope) -> &'static TestDaemon {
    static SYSTEM: OnceLock<TestDaemon> = OnceLock::new();
    static USER: OnceLock<TestDaemon> = OnceLock::new();
    let cell = match scope {
        Scope::System => &SYSTEM,
        Scope::User => &USER,
    };
    let d = cell.get_or_init(|| match TestDaemon::start(scope) {
        Ok(d) => d,
        Err(e) => panic!("starting the shared {scope} test dockerd: {e}"),
    });
    if let Ok(mut list) = SHARED.get_or_init(|| Mutex::new(Vec::new())).lock() {
        if !list.iter().any(|x| std::ptr::eq(*x, d)) {
            list.push(d);
        }
    }
    d
}

/// A name prefix unique to this process and call, so tests sharing a daemon never collide.
pub fn unique_prefix(test: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!("t{}{}-{test}", std::process::id() % 100_000, n)
}

/// Builds a rootfs with Debian's static busybox and all its applets as symlinks.
pub fn busybox_rootfs(dir: &Path) -> Result<(), HarnessError> {
    Ok(test_support::busybox_rootfs(dir)?)
}

/// Writes a `docker load`-able busybox image archive tagged `repo_tag` to `out`.
pub fn busybox_archive(out: &Path, repo_tag: &str) -> Result<(), HarnessError> {
    let root = tempfile::Builder::new().prefix("ros-busybox-").tempdir()?;
    busybox_rootfs(root.path())?;
    let layer = image_archive::Layer::from_dir(root.path(), 0)?;
    let config = image_archive::ImageConfig {
        cmd: vec!["/bin/sh".into()],
        env: vec!["PATH=/usr/sbin:/usr/bin:/sbin:/bin".into()],
        ..Default::default()
    };
    image_archive::write_archive(out, repo_tag, &[&layer], &config, 0)?;
    Ok(())
}

/// The busybox image every engine test uses.
pub const BUSYBOX: &str = "ros-test/busybox:latest";

/// Makes sure [`BUSYBOX`] exists on the daemon (loading a freshly written archive if not).
pub async fn ensure_busybox(client: &crate::DaemonClient) -> Result<(), HarnessError> {
    if client.docker.inspect_image(BUSYBOX).await.is_ok() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let tar = dir.path().join("busybox.tar");
    busybox_archive(&tar, BUSYBOX)?;
    crate::images::load_archive(client, &tar).await?;
    Ok(())
}

/// Engine options pointing at test daemons, with no bundled archives and pulling off.
pub fn engine_options(system: &TestDaemon, user: Option<&TestDaemon>) -> crate::EngineOptions {
    crate::EngineOptions {
        system_host: system.host(),
        user_host: user.map_or_else(
            || "unix:///nonexistent/docker.sock".to_string(),
            |u| u.host(),
        ),
        images: crate::ImageSources {
            archive_dirs: Vec::new(),
            allow_pull: false,
            ..Default::default()
        },
        connect_timeout: Duration::from_secs(10),
        one_shot_timeout: Duration::from_secs(60),
        stop_timeout: Duration::from_secs(1),
        max_reloads: 3,
    }
}

/// A project from a YAML config text (as `cloud-config.yml` would hold it).
pub fn project_from_yaml(yaml: &str, root: &Path) -> crate::Project {
    match yaml_serde::from_str::<yaml_serde::Value>(yaml) {
        Ok(v) => crate::Project::from_value(&v, root),
        Err(e) => panic!("test config does not parse: {e}\n{yaml}"),
    }
}

/// Seconds since the epoch of a Docker RFC 3339 timestamp (`2026-01-02T03:04:05.123456789Z`).
pub fn docker_time(ts: &str) -> Option<f64> {
    let (date, time) = ts.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let mut t = time.split(':');
    let (h, mi, s) = (
        t.next()?.parse::<f64>().ok()?,
        t.next()?.parse::<f64>().ok()?,
        t.next()?.parse::<f64>().ok()?,
    );
    Some(days as f64 * 86_400.0 + h * 3600.0 + mi * 60.0 + s)
}
