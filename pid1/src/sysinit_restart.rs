//! When PID 1 starts `ros-sysinit` again after it died without saying why (a panic, the OOM
//! killer, a kill): with doubling delays, and at most `MAX_RESTARTS` times within `WINDOW`, so a
//! sysinit that dies at every start ends in the recovery shell instead of a loop.

use std::time::{Duration, Instant};

pub const MAX_RESTARTS: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(600);
const FIRST_DELAY: Duration = Duration::from_secs(1);
const MAX_DELAY: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub struct Restarts {
    /// When each recent restart was decided, oldest first, within `WINDOW`.
    recent: Vec<Instant>,
}

impl Restarts {
    /// The delay before starting sysinit again after it died at `now`, or `None` to give up.
    pub fn after_death(&mut self, now: Instant) -> Option<Duration> {
        self.recent
            .retain(|t| now.saturating_duration_since(*t) < WINDOW);
        if self.recent.len() >= MAX_RESTARTS {
            return None;
        }
        let doublings = u32::try_from(self.recent.len()).unwrap_or(u32::MAX);
        self.recent.push(now);
        let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
        Some(FIRST_DELAY.saturating_mul(factor).min(MAX_DELAY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_then_it_gives_up_until_the_window_passes() {
        let mut r = Restarts::default();
        let t0 = Instant::now();
        let delays: Vec<Option<Duration>> = (0..6).map(|_| r.after_death(t0)).collect();
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(delays, [secs(1), secs(2), secs(4), secs(8), secs(16), None]);
        // Once the first deaths are older than the window, sysinit gets another chance.
        assert_eq!(r.after_death(t0 + WINDOW), secs(1));
    }
}
