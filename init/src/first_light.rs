//! What PID 1 does before the boot stages exist: announce itself on the console, then stay
//! alive reaping children, because PID 1 exiting panics the kernel.

use nix::sys::wait::waitpid;
use std::process::ExitCode;

pub fn run() -> ExitCode {
    eprintln!(
        "ros-init: ros {} started as pid {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    if std::process::id() != 1 {
        eprintln!("ros-init: not PID 1; nothing to do");
        return ExitCode::FAILURE;
    }
    eprintln!("ros-init: the boot stages after this line arrive with the PID 1 capability");
    loop {
        // Reap anything re-parented to us; with no children, wait a while instead of spinning.
        if waitpid(None, None).is_err() {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
}
