//! PID 1's standard streams: the kernel may start us without a console node in the initramfs,
//! so once devtmpfs is mounted, /dev/console is opened onto fds 0, 1 and 2.

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::dup2_stdin;
use std::os::fd::AsFd;

pub fn attach() {
    let Ok(fd) = open(
        "/dev/console",
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        Mode::empty(),
    ) else {
        return;
    };
    let _ = dup2_stdin(fd.as_fd());
    let _ = nix::unistd::dup2_stdout(fd.as_fd());
    let _ = nix::unistd::dup2_stderr(fd.as_fd());
}
