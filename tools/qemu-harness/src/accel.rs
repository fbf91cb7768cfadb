//! KVM when it works, TCG otherwise. /dev/kvm can exist and still hang a Linux guest (it does on
//! our CI machines), so the probe boots the real kernel and waits briefly for its first line.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn qemu_args(self) -> &'static [&'static str] {
        match self {
            Accel::Kvm => &["-accel", "kvm", "-cpu", "host"],
            Accel::Tcg => &["-accel", "tcg", "-cpu", "max"],
        }
    }
}

static PROBED: OnceLock<Accel> = OnceLock::new();

/// The accelerator to use: `ROS_QEMU_ACCEL=kvm|tcg` if set, else a probe (once per process)
/// that boots `kernel` under KVM and waits up to 10 s for "Linux version" on the serial port.
pub fn probe_accel(kernel: &Path) -> Accel {
    match std::env::var("ROS_QEMU_ACCEL").as_deref() {
        Ok("kvm") => return Accel::Kvm,
        Ok("tcg") => return Accel::Tcg,
        _ => {}
    }
    *PROBED.get_or_init(|| {
        let accel = if kvm_boots(kernel) {
            Accel::Kvm
        } else {
            Accel::Tcg
        };
        tracing::info!(?accel, "QEMU accelerator");
        accel
    })
}

fn kvm_boots(kernel: &Path) -> bool {
    let Ok(kvm) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    else {
        return false;
    };
    drop(kvm);
    let Ok(mut child) = Command::new("qemu-system-x86_64")
        .args([
            "-accel",
            "kvm",
            "-cpu",
            "host",
            "-m",
            "128",
            "-nodefaults",
            "-display",
            "none",
        ])
        .args(["-no-reboot", "-serial", "stdio", "-kernel"])
        .arg(kernel)
        .args(["-append", "console=ttyS0 panic=-1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let Some(mut stdout) = child.stdout.take() else {
        let _ = child.kill();
        return false;
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if seen.windows(13).any(|w| w == b"Linux version") {
                let _ = tx.send(());
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let ok = rx
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .is_ok();
    let _ = child.kill();
    let _ = child.wait();
    ok
}
