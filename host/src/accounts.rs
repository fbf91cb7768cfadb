//! The fixed accounts: PID 1 writes them into /etc, the console runs its shell as them.

/// The console user, as RancherOS v1 numbered it.
pub const RANCHER_UID: u32 = 1100;
pub const DOCKER_GID: u32 = 999;
/// The account whose ssh keys may only fetch a swarm join token (docs/swarm.md).
pub const SWARM_USER: &str = "swarm";
pub const SWARM_UID: u32 = 1101;
