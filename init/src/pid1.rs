//! PID 1's entry point and its life after boot: it runs the host steps itself, then stays to
//! reap every orphan and to hand signals on. It never exits and never panics.

use crate::host_boot::{self, EarlyOptions};
use crate::timeline::Timeline;
use crate::{console, early_mounts, logging, recovery};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use os_config::model::CloudConfig;
use std::process::ExitCode;
use std::time::Duration;

/// How long to wait for the boot medium when the initrd does not carry the system image.
const MEDIUM_WAIT: Duration = Duration::from_secs(30);

pub fn run() -> ExitCode {
    if std::process::id() != 1 {
        eprintln!("ros-init: must run as PID 1 (started as pid {})", std::process::id());
        return ExitCode::FAILURE;
    }
    early_mounts::mount_all();
    console::attach();
    let early = early_config();
    logging::init(early.rancher.debug);
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "ros-init: starting");
    let mut timeline = Timeline::default();
    timeline.step("pid1");
    // Ctrl-Alt-Del becomes SIGINT to PID 1 (an ordered shutdown), not an instant reboot.
    let _ = nix::sys::reboot::set_cad_enabled(false);

    if early.rancher.recovery {
        recovery::shell("rancher.recovery=true is on the kernel command line");
    }
    let opts = EarlyOptions { medium_wait: MEDIUM_WAIT };
    let _loaded = match host_boot::boot(&opts, &mut timeline) {
        Ok(loaded) => loaded,
        Err(e) => recovery::shell(&e.to_string()),
    };
    timeline.save(&Timeline::default_path());
    tracing::info!("ros-init: root ready");
    reap_forever()
}

/// The kernel command line's share of the configuration: all PID 1 knows before the root.
fn early_config() -> CloudConfig {
    let text = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let parsed = os_config::cmdline::parse(&text);
    let mut value = parsed.config;
    os_config::merge(&mut value, parsed.elided);
    os_config::document::validate(value, None, None).config
}

fn reap_forever() -> ! {
    loop {
        match waitpid(None, Some(WaitPidFlag::empty())) {
            Ok(WaitStatus::StillAlive) | Err(_) => std::thread::sleep(Duration::from_secs(1)),
            Ok(_) => {}
        }
    }
}
