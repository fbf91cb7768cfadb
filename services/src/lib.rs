//! What runs inside the system containers: each entry point reads the merged configuration
//! (bind-mounted from the host) and starts its daemon. The `ros` binary is bind-mounted into
//! every system container, so each is `ros <service-command>`.

pub mod boot_scripts;
pub mod console;
pub mod ntp;
pub mod respawn;
pub mod runcmd;
pub mod syslogd;
pub mod user_data_scripts;
pub mod user_docker;
pub mod user_docker_tls;
