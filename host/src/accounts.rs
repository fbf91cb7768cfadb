//! The fixed accounts: PID 1 writes them into /etc, the console runs its shell as them.

/// The console user, as RancherOS v1 numbered it.
pub const RANCHER_UID: u32 = 1100;
pub const DOCKER_GID: u32 = 999;
