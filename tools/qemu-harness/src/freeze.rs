//! Telling a frozen guest from a slow one. Under TCG with two vCPUs the kernel's live code
//! patching can lock both vCPUs up for minutes (an emulator race); the guest then either goes
//! quiet or prints nothing but the soft-lockup watchdog's reports.

use std::sync::OnceLock;
use std::time::Duration;

use regex::Regex;

/// What a frozen guest looks like from the outside.
#[derive(Debug, Clone, Copy)]
pub struct FreezeSigns {
    /// No console output at all for this long.
    pub silence: Duration,
    /// A soft-lockup report of a CPU stuck at least this long. The watchdog's first report
    /// comes after about 20 s, which a starved host can cause on its own; a minute cannot.
    pub stuck: Duration,
}

impl FreezeSigns {
    /// Why `log` (the whole console so far), after `quiet_for` without a new byte, shows a
    /// frozen guest; `None` while it looks alive.
    pub fn check(&self, log: &str, quiet_for: Duration) -> Option<String> {
        if quiet_for >= self.silence {
            return Some(format!("no console output for {} s", quiet_for.as_secs()));
        }
        longest_soft_lockup(log)
            .filter(|(secs, _)| Duration::from_secs(*secs) >= self.stuck)
            .map(|(_, line)| format!("the kernel reports a soft lockup: {}", line.trim()))
    }
}

/// The soft-lockup report with the longest stuck time, and that time in seconds.
fn longest_soft_lockup(log: &str) -> Option<(u64, &str)> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let re = RE
        .get_or_init(|| Regex::new(r"soft lockup - CPU#\d+ stuck for (\d+)s").ok())
        .as_ref()?;
    log.lines()
        .filter_map(|l| {
            let secs = re.captures(l)?.get(1)?.as_str().parse().ok()?;
            Some((secs, l))
        })
        .max_by_key(|(secs, _)| *secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNS: FreezeSigns = FreezeSigns {
        silence: Duration::from_secs(90),
        stuck: Duration::from_secs(60),
    };

    #[test]
    fn a_console_quiet_for_the_silence_limit_is_frozen() {
        let why = SIGNS.check("booting\n", Duration::from_secs(90));
        assert_eq!(why.as_deref(), Some("no console output for 90 s"));
        assert_eq!(SIGNS.check("booting\n", Duration::from_secs(89)), None);
    }

    #[test]
    fn a_cpu_stuck_for_a_minute_is_frozen_even_while_the_watchdog_keeps_printing() {
        let log = "[  40.1] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [runc:225]\n\
                   [  68.1] watchdog: BUG: soft lockup - CPU#0 stuck for 48s! [exe:230]\n\
                   [  96.1] watchdog: BUG: soft lockup - CPU#1 stuck for 75s! [runc:225]\n";
        let why = SIGNS.check(log, Duration::ZERO).unwrap_or_default();
        assert!(why.contains("CPU#1 stuck for 75s"), "{why}");
    }

    #[test]
    fn a_short_lockup_on_a_starved_host_is_not_a_freeze() {
        let log =
            "[  40.1] watchdog: BUG: soft lockup - CPU#1 stuck for 23s! [dockerd:99]\nros: ready\n";
        assert_eq!(SIGNS.check(log, Duration::from_secs(5)), None);
    }
}
