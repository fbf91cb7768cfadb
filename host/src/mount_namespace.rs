//! Running work in another mount namespace: the host's, from the cloud-init container. The
//! container shares the host's PID namespace, so /proc/1/ns/mnt is PID 1's mount namespace;
//! a mount made there is the host's, and every container that binds the place with shared or
//! slave propagation sees it. The work runs on a dedicated thread, so the rest of this process
//! keeps its own namespace.

use nix::sched::{setns, unshare, CloneFlags};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// PID 1's mount namespace, as seen from a container with `pid: host`.
pub const HOST_MOUNT_NS: &str = "/proc/1/ns/mnt";

#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error("opening {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unsharing the thread's filesystem attributes: {0}")]
    Unshare(nix::Error),
    #[error("entering the mount namespace {}: {source}", path.display())]
    Enter { path: PathBuf, source: nix::Error },
    #[error("cannot start the namespace thread: {0}")]
    Spawn(std::io::Error),
    #[error("the namespace thread ended before it reported")]
    Lost,
}

/// Starts `work` on a new thread inside the mount namespace `ns` (a `/proc/PID/ns/mnt` path).
/// Returns once the thread is inside, or with why it could not get there (then `work` never
/// runs). `work` hands its results back through whatever channel it captured.
pub fn spawn_in<F>(ns: &Path, work: F) -> Result<JoinHandle<()>, NsError>
where
    F: FnOnce() + Send + 'static,
{
    // Opened here, so a missing namespace is reported before any thread exists.
    let file = File::open(ns).map_err(|source| NsError::Open {
        path: ns.to_path_buf(),
        source,
    })?;
    let path = ns.to_path_buf();
    let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<(), NsError>>(1);
    let handle = std::thread::Builder::new()
        .name("mount-ns".into())
        .spawn(move || {
            let entered = enter(&file, &path);
            let ok = entered.is_ok();
            let _ = ready_tx.send(entered);
            if ok {
                work();
            }
        })
        .map_err(NsError::Spawn)?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => Err(NsError::Lost),
    }
}

/// Runs `work` inside the mount namespace `ns` and waits for its result.
pub fn run_in<F, T>(ns: &Path, work: F) -> Result<T, NsError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    let handle = spawn_in(ns, move || {
        let _ = tx.send(work());
    })?;
    let result = rx.recv().map_err(|_| NsError::Lost);
    let _ = handle.join();
    result
}

fn enter(file: &File, path: &Path) -> Result<(), NsError> {
    // Threads share their root and cwd (CLONE_FS); the kernel refuses setns(CLONE_NEWNS) to a
    // thread that shares them, so this thread takes a private copy first.
    unshare(CloneFlags::CLONE_FS).map_err(NsError::Unshare)?;
    setns(file, CloneFlags::CLONE_NEWNS).map_err(|source| NsError::Enter {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::NsHolder;

    #[test]
    fn work_runs_in_the_other_namespace_only() {
        let Some(holder) = NsHolder::start() else {
            eprintln!("skipped: cannot create a mount namespace here (not root?)");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().to_path_buf();
        let t = target.clone();
        let mounted = run_in(&holder.ns(), move || {
            nix::mount::mount(
                Some("ros-ns-test"),
                &t,
                Some("tmpfs"),
                nix::mount::MsFlags::empty(),
                None::<&str>,
            )
            .map_err(|e| e.to_string())?;
            // /proc/thread-self is this thread; /proc/self would be the thread group leader,
            // which is still in the old namespace.
            std::fs::read_to_string("/proc/thread-self/mountinfo").map_err(|e| e.to_string())
        })
        .unwrap()
        .unwrap();
        let point = format!(" {} ", target.display());
        assert!(mounted.contains(&point), "not mounted in the thread's view");
        assert!(holder.mountinfo().contains(&point), "not in the namespace");
        let mine = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mine.contains(&point), "leaked into the test's namespace");
    }

    #[test]
    fn a_missing_namespace_is_an_error_and_work_never_runs() {
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let r = ran.clone();
        let err = run_in(Path::new("/proc/0/ns/mnt"), move || {
            r.store(true, std::sync::atomic::Ordering::SeqCst)
        })
        .unwrap_err();
        assert!(matches!(err, NsError::Open { .. }), "{err}");
        // Not a namespace file at all: opening works, entering does not.
        let err = run_in(Path::new("/proc/self/status"), || ()).unwrap_err();
        assert!(matches!(err, NsError::Enter { .. }), "{err}");
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }
}
