//! Whether a one-shot service already did its job in this boot. `ros service up console` brings
//! up what the console is ordered after; cloud-init's one-shot must not run again for it (its
//! runcmd would run twice). Only one-shots pulled in as dependencies are spared: a one-shot the
//! operator names runs again, and every boot runs them all.

use bollard::models::ContainerInspectResponse;

/// Seconds since the epoch at which this boot began (`btime` in /proc/stat), if readable.
pub fn boot_epoch() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    btime(&stat)
}

fn btime(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The container exited 0 after a start in this boot (`boot_epoch`). A clock stepped backwards
/// after the run makes it count as older, which only runs it again: the safe side.
pub fn completed_this_boot(c: &ContainerInspectResponse, boot_epoch: u64) -> bool {
    let Some(state) = c.state.as_ref() else {
        return false;
    };
    let exited_ok = state.running != Some(true) && state.exit_code == Some(0);
    let started = state
        .started_at
        .as_deref()
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    exited_ok && started.is_some_and(|s| s >= boot_epoch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::ContainerState;

    fn container(running: bool, exit_code: i64, started_at: &str) -> ContainerInspectResponse {
        ContainerInspectResponse {
            state: Some(ContainerState {
                running: Some(running),
                exit_code: Some(exit_code),
                started_at: Some(started_at.to_owned()),
                ..ContainerState::default()
            }),
            ..ContainerInspectResponse::default()
        }
    }

    #[test]
    fn reads_btime() {
        assert_eq!(
            btime("cpu  1 2 3\nintr 5\nbtime 1796669820\nprocesses 9\n"),
            Some(1_796_669_820)
        );
        assert_eq!(btime("cpu 1\n"), None);
        assert!(boot_epoch().is_some_and(|b| b > 1_600_000_000));
    }

    #[test]
    fn only_a_successful_run_since_this_boot_counts() {
        // 2026-12-07T18:57:00Z is 1796669820.
        let boot = 1_796_669_820;
        let after = "2026-12-07T18:58:26.111655Z";
        let before = "2026-12-07T18:56:59.999999999Z";
        assert!(completed_this_boot(&container(false, 0, after), boot));
        assert!(!completed_this_boot(&container(false, 0, before), boot));
        assert!(!completed_this_boot(&container(false, 1, after), boot));
        assert!(!completed_this_boot(&container(true, 0, after), boot));
        // Never started: Docker's zero time.
        assert!(!completed_this_boot(
            &container(false, 0, "0001-01-01T00:00:00Z"),
            boot
        ));
        assert!(!completed_this_boot(
            &ContainerInspectResponse::default(),
            boot
        ));
    }
}
