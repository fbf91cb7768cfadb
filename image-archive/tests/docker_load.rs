//! Loads an archive of a busybox-static rootfs into a real dockerd that this test starts on a
//! private socket and data root, runs it, and checks the output.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use image_archive::{write_archive, ImageConfig, Layer};

/// A dockerd of the test's own, stopped on drop.
struct TestDockerd {
    child: Child,
    host: String,
    _dir: tempfile::TempDir,
}

impl TestDockerd {
    fn start() -> TestDockerd {
        // Short path: unix socket paths are limited to 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("ia-dockerd")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        let host = format!("unix://{}/docker.sock", d.display());
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
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
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("dockerd must be installed (Debian package docker.io)");
        let daemon = TestDockerd {
            child,
            host,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !daemon.docker(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer in 60 s:\n{}",
                daemon.log()
            );
            sleep(Duration::from_millis(250));
        }
        daemon
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("--host")
            .arg(&self.host)
            .args(args)
            .output()
            .expect("the docker CLI must be installed")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("dockerd.log")).unwrap_or_default()
    }
}

impl Drop for TestDockerd {
    fn drop(&mut self) {
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

fn busybox_rootfs(root: &Path) {
    test_support::busybox_rootfs(root).expect("busybox-static must be installed");
    std::fs::write(root.join("etc/greeting"), "hello from a daemonless image\n").unwrap();
}

#[test]
fn docker_loads_and_runs_a_written_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let base_root = tmp.path().join("base");
    busybox_rootfs(&base_root);
    let base = Layer::from_dir(&base_root, 1_700_000_000).unwrap();
    // A second layer on top, to check that layer stacking survives the load.
    let top_root = tmp.path().join("top");
    std::fs::create_dir_all(top_root.join("etc")).unwrap();
    std::fs::write(top_root.join("etc/extra"), "second layer\n").unwrap();
    let top = Layer::from_dir(&top_root, 1_700_000_000).unwrap();
    let config = ImageConfig {
        entrypoint: vec!["/bin/sh".into(), "-c".into()],
        cmd: vec!["cat /etc/greeting /etc/extra; echo $GREETER".into()],
        env: vec!["PATH=/bin".into(), "GREETER=image-archive".into()],
        ..ImageConfig::default()
    };
    let archive = tmp.path().join("image.tar");
    let info = write_archive(
        &archive,
        "ros/ia-test:1",
        &[&base, &top],
        &config,
        1_700_000_000,
    )
    .unwrap();

    let daemon = TestDockerd::start();
    let load = daemon.docker(&["load", "-i", archive.to_str().unwrap()]);
    assert!(
        load.status.success(),
        "docker load: {}\n{}",
        String::from_utf8_lossy(&load.stderr),
        daemon.log()
    );
    let inspect = daemon.docker(&["image", "inspect", "--format", "{{.Id}}", "ros/ia-test:1"]);
    assert_eq!(String::from_utf8_lossy(&inspect.stdout).trim(), info.id);
    let run = daemon.docker(&["run", "--rm", "--network", "none", "ros/ia-test:1"]);
    assert!(
        run.status.success(),
        "docker run: {}\n{}",
        String::from_utf8_lossy(&run.stderr),
        daemon.log()
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "hello from a daemonless image\nsecond layer\nimage-archive\n"
    );
}
