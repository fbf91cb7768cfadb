//! A private dockerd for tests: its own socket, data root and exec root in a temporary
//! directory, no bridge and no iptables, stopped on drop.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> std::io::Error {
    move |e| std::io::Error::new(e.kind(), format!("{what}: {e}"))
}

pub struct TestDockerd {
    child: Child,
    host: String,
    dir: tempfile::TempDir,
}

impl TestDockerd {
    /// Starts dockerd and waits (at most 60 s) until it answers.
    pub fn start() -> std::io::Result<TestDockerd> {
        Self::start_with(&[])
    }

    /// [`start`](Self::start) with more dockerd arguments (another `--host`, TLS flags).
    pub fn start_with(extra: &[&str]) -> std::io::Result<TestDockerd> {
        // Under /tmp: a unix socket path must stay short.
        let dir = tempfile::Builder::new()
            .prefix("ros-dockerd")
            .tempdir_in("/tmp")
            .map_err(io("create dockerd dir"))?;
        let d = dir.path();
        let host = format!("unix://{}/docker.sock", d.display());
        let log = fs::File::create(d.join("dockerd.log")).map_err(io("create dockerd.log"))?;
        let child = Command::new("dockerd")
            .arg("--host")
            .arg(&host)
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .args(["--bridge=none", "--iptables=false", "--ip-masq=false"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().map_err(io("dockerd.log"))?))
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(io("start dockerd (apt-get install docker.io)"))?;
        let daemon = TestDockerd { child, host, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if daemon.docker(&["version"])?.status.success() {
                return Ok(daemon);
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other(format!(
                    "dockerd did not answer within 60 s; its log:\n{}",
                    daemon.log()
                )));
            }
            sleep(Duration::from_millis(250));
        }
    }

    /// Runs the docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> std::io::Result<Output> {
        Command::new("docker")
            .arg("--host")
            .arg(&self.host)
            .args(args)
            .output()
            .map_err(io("run the docker CLI"))
    }

    /// `docker load -i archive`; returns the CLI's stdout.
    pub fn load(&self, archive: &Path) -> std::io::Result<String> {
        let out = self.docker(&["load", "-i", &archive.to_string_lossy()])?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "docker load failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// dockerd's own log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }
}

impl Drop for TestDockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop its containerd; SIGKILL after 20 s.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
