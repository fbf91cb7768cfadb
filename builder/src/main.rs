//! The daemonless OS build: Debian packages to image archives, squashfs, initrd and ISO (not built yet).
fn main() {}
