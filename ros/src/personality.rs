//! Which program the multi-call binary is, by the name it was started as (argv[0]).

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Personality {
    /// PID 1 (`/init`, `init`).
    Init,
    /// The docker CLI against System Docker's socket.
    SystemDocker,
    /// `reboot`, `poweroff`, `halt`, `shutdown`.
    Power(&'static str),
    /// `wait-for-docker`, as RancherOS v1's rc.local examples use it.
    WaitForDocker,
    /// The `ros` command line.
    Ros,
}

pub fn from_argv0(argv0: &str) -> Personality {
    let name = Path::new(argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(argv0);
    match name {
        "init" => Personality::Init,
        "system-docker" => Personality::SystemDocker,
        "reboot" => Personality::Power("reboot"),
        "poweroff" => Personality::Power("poweroff"),
        "halt" => Personality::Power("halt"),
        "shutdown" => Personality::Power("shutdown"),
        "wait-for-docker" => Personality::WaitForDocker,
        _ => Personality::Ros,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_by_basename() {
        assert_eq!(from_argv0("/init"), Personality::Init);
        assert_eq!(
            from_argv0("/usr/bin/system-docker"),
            Personality::SystemDocker
        );
        assert_eq!(from_argv0("ros"), Personality::Ros);
        assert_eq!(
            from_argv0("/usr/sbin/poweroff"),
            Personality::Power("poweroff")
        );
        assert_eq!(
            from_argv0("/usr/bin/wait-for-docker"),
            Personality::WaitForDocker
        );
        assert_eq!(from_argv0("/usr/local/bin/anything-else"), Personality::Ros);
    }
}
