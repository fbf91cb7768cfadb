//! Runs a dockerd as a supervised child: start, bounded wait until its API answers, restart
//! with backoff whenever it dies, and an orderly bounded stop. A dockerd that outlived the
//! process that started it (sysinit restarted by PID 1) is adopted instead of started twice.

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::{self, DaemonClient};
use crate::daemon::DaemonSpec;
use crate::error::{Error, Result};

/// How patient the supervisor is.
#[derive(Debug, Clone)]
pub struct SupervisorOptions {
    /// How long the first start may take before [`Supervisor::start`] fails.
    pub ready_timeout: Duration,
    /// First delay before a restart; doubles up to `max_backoff`, resets after a stable run.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// How long dockerd gets to exit on SIGTERM before SIGKILL.
    pub stop_timeout: Duration,
    /// Where dockerd's stdout and stderr go (appended); inherited when `None`.
    pub log_file: Option<std::path::PathBuf>,
}

impl Default for SupervisorOptions {
    fn default() -> Self {
        SupervisorOptions {
            ready_timeout: Duration::from_secs(60),
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            stop_timeout: Duration::from_secs(20),
            log_file: None,
        }
    }
}

/// A running, supervised dockerd.
#[derive(Debug)]
pub struct Supervisor {
    spec: DaemonSpec,
    pid: watch::Receiver<Option<u32>>,
    shutdown: watch::Sender<bool>,
    restarts: Arc<AtomicU64>,
    task: Option<JoinHandle<()>>,
    options: SupervisorOptions,
}

impl Supervisor {
    /// Starts dockerd and waits (bounded by `ready_timeout`) until its API answers.
    pub async fn start(spec: DaemonSpec, options: SupervisorOptions) -> Result<Supervisor> {
        if let Some(socket) = spec.socket() {
            if let Some(dir) = socket.parent() {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| Error::io(dir, e))?;
            }
        }
        let first = Running::Child(spawn(&spec, &options)?);
        Supervisor::watch(spec, options, first).await
    }

    /// Adopts the dockerd of `spec` that is still running (its pid file names a live `dockerd`),
    /// or starts one. An adopted daemon is watched by polling, restarted as our child when it
    /// dies, and stopped like our own.
    pub async fn adopt_or_start(
        spec: DaemonSpec,
        options: SupervisorOptions,
    ) -> Result<Supervisor> {
        let Some(pid) = running_dockerd(&spec) else {
            return Supervisor::start(spec, options).await;
        };
        tracing::warn!(scope = %spec.scope, pid = pid.as_raw(), "dockerd still running from before; adopting it");
        Supervisor::watch(spec, options, Running::Adopted(pid)).await
    }

    /// Supervises `first` and waits (bounded by `ready_timeout`) until its API answers.
    async fn watch(
        spec: DaemonSpec,
        options: SupervisorOptions,
        first: Running,
    ) -> Result<Supervisor> {
        let (pid_tx, pid_rx) = watch::channel(first.id());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let restarts = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(supervise(
            spec.clone(),
            options.clone(),
            first,
            pid_tx,
            shutdown_rx,
            restarts.clone(),
        ));
        let sup = Supervisor {
            spec,
            pid: pid_rx,
            shutdown: shutdown_tx,
            restarts,
            task: Some(task),
            options,
        };
        sup.wait_ready(sup.options.ready_timeout).await?;
        Ok(sup)
    }

    /// Waits (bounded) until the daemon's API answers and returns a client for it.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<DaemonClient> {
        client::connect(&self.spec.host(), timeout).await
    }

    /// The current dockerd's pid, if one is running.
    pub fn pid(&self) -> Option<u32> {
        *self.pid.borrow()
    }

    /// How many times dockerd has been restarted after dying.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::SeqCst)
    }

    pub fn spec(&self) -> &DaemonSpec {
        &self.spec
    }

    /// Waits (bounded) until dockerd was restarted more than `seen` times and answers again.
    pub async fn wait_restarted(&self, seen: u64, timeout: Duration) -> Result<DaemonClient> {
        let deadline = host::deadline::after(timeout);
        while self.restarts() <= seen {
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: "dockerd restart".into(),
                    seconds: timeout.as_secs(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        self.wait_ready(left.max(Duration::from_secs(1))).await
    }

    /// Stops supervising and terminates dockerd: SIGTERM, then SIGKILL after `stop_timeout`.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // A dropped supervisor must not leave dockerd behind; the child is kill_on_drop.
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
            // The aborted task SIGKILLs dockerd (kill_on_drop); its containerd would linger.
            if let Some(pid) = containerd_pid(&self.spec) {
                let _ = kill(pid, Signal::SIGTERM);
            }
        }
    }
}

fn spawn(spec: &DaemonSpec, options: &SupervisorOptions) -> Result<Child> {
    let mut cmd = Command::new(&spec.program);
    cmd.args(spec.to_args())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for item in &spec.environment {
        if let Some((k, v)) = item.split_once('=') {
            cmd.env(k, v);
        }
    }
    if let Some(path) = &options.log_file {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let err = file.try_clone().map_err(|e| Error::io(path, e))?;
        cmd.stdout(file).stderr(err);
    }
    let child = cmd.spawn().map_err(|source| Error::Spawn {
        program: spec.program.display().to_string(),
        source,
    })?;
    tracing::info!(scope = %spec.scope, pid = ?child.id(), host = %spec.host(), "dockerd started");
    Ok(child)
}

/// The dockerd of `spec` named by its pid file, if that process is alive and is a dockerd.
pub fn running_dockerd(spec: &DaemonSpec) -> Option<Pid> {
    let text = std::fs::read_to_string(spec.pid_file.as_ref()?).ok()?;
    let pid = Pid::from_raw(text.trim().parse::<i32>().ok()?);
    // A stale pid file may name a pid reused by another program.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == "dockerd" && kill(pid, None).is_ok()).then_some(pid)
}

/// The dockerd being watched: our own child, or one adopted from a process that died.
enum Running {
    Child(Child),
    /// Not our child: its parent is now PID 1, which reaps it; we poll for it to be gone.
    Adopted(Pid),
}

/// How often an adopted dockerd is checked.
const ADOPTED_POLL: Duration = Duration::from_millis(500);

impl Running {
    fn id(&self) -> Option<u32> {
        match self {
            Running::Child(c) => c.id(),
            Running::Adopted(pid) => u32::try_from(pid.as_raw()).ok(),
        }
    }

    /// Waits until the daemon has exited; says how, as far as we can know.
    async fn wait(&mut self) -> String {
        match self {
            Running::Child(c) => format!("{:?}", c.wait().await),
            Running::Adopted(pid) => {
                while kill(*pid, None).is_ok() {
                    tokio::time::sleep(ADOPTED_POLL).await;
                }
                "gone (adopted, status unknown)".to_owned()
            }
        }
    }

    /// SIGTERM, then SIGKILL after `timeout`.
    async fn terminate(&mut self, timeout: Duration) {
        match self {
            Running::Child(c) => terminate(c, timeout).await,
            Running::Adopted(pid) => {
                let _ = kill(*pid, Signal::SIGTERM);
                if tokio::time::timeout(timeout, self.wait()).await.is_err() {
                    if let Running::Adopted(pid) = self {
                        tracing::warn!(pid = pid.as_raw(), "dockerd ignored SIGTERM; killing it");
                        let _ = kill(*pid, Signal::SIGKILL);
                    }
                }
            }
        }
    }
}

async fn supervise(
    spec: DaemonSpec,
    options: SupervisorOptions,
    mut child: Running,
    pid_tx: watch::Sender<Option<u32>>,
    mut shutdown: watch::Receiver<bool>,
    restarts: Arc<AtomicU64>,
) {
    let mut backoff = options.backoff;
    loop {
        let started = Instant::now();
        tokio::select! {
            status = child.wait() => {
                let _ = pid_tx.send(None);
                tracing::warn!(scope = %spec.scope, status = %status, "dockerd exited; restarting");
                if started.elapsed() > Duration::from_secs(30) {
                    backoff = options.backoff;
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = backoff.saturating_mul(2).min(options.max_backoff);
                stop_stale_containerd(&spec, options.stop_timeout).await;
                loop {
                    match spawn(&spec, &options) {
                        Ok(c) => { child = Running::Child(c); break; }
                        Err(e) => {
                            tracing::error!(scope = %spec.scope, error = %e, "dockerd restart failed");
                            tokio::select! {
                                _ = tokio::time::sleep(options.max_backoff) => {}
                                _ = shutdown.changed() => return,
                            }
                        }
                    }
                }
                let _ = pid_tx.send(child.id());
                restarts.fetch_add(1, Ordering::SeqCst);
            }
            _ = shutdown.changed() => {
                child.terminate(options.stop_timeout).await;
                let _ = pid_tx.send(None);
                return;
            }
        }
    }
}

/// A dockerd killed hard leaves its managed containerd running; the next dockerd would wait
/// 15 s for it and give up, so the supervisor stops it first (containers keep their shims).
async fn stop_stale_containerd(spec: &DaemonSpec, timeout: Duration) {
    let Some(pid) = containerd_pid(spec) else {
        return;
    };
    tracing::info!(pid = pid.as_raw(), "stopping the dead dockerd's containerd");
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = host::deadline::after(timeout);
    while kill(pid, None).is_ok() {
        if Instant::now() >= deadline {
            let _ = kill(pid, Signal::SIGKILL);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The pid of the containerd a dockerd of `spec` manages, if it is alive.
fn containerd_pid(spec: &DaemonSpec) -> Option<Pid> {
    let exec_root = spec
        .exec_root
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("/var/run/docker"));
    let text = std::fs::read_to_string(exec_root.join("containerd").join("containerd.pid")).ok()?;
    let pid = Pid::from_raw(text.trim().parse::<i32>().ok()?);
    kill(pid, None).is_ok().then_some(pid)
}

async fn terminate(child: &mut Child, timeout: Duration) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        if tokio::time::timeout(timeout, child.wait()).await.is_ok() {
            return;
        }
        tracing::warn!(pid, "dockerd ignored SIGTERM; killing it");
    }
    let _ = child.kill().await;
}
