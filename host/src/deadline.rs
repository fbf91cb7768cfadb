//! Deadlines for bounded waits. `Instant + Duration` panics when it overflows, so the code PID 1
//! runs takes its deadlines from here: a bound too large to add stands for "in a year".

use std::time::{Duration, Instant};

/// What an unrepresentable deadline becomes: later than any wait ros means.
const FAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// `bound` from now.
pub fn after(bound: Duration) -> Instant {
    from(Instant::now(), bound)
}

/// `bound` after `start`, saturating.
pub fn from(start: Instant, bound: Duration) -> Instant {
    start
        .checked_add(bound)
        .or_else(|| start.checked_add(FAR))
        .unwrap_or(start)
}

/// Time left until `deadline`; zero once it has passed.
pub fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_bound_gives_a_deadline_and_small_ones_are_exact() {
        let now = Instant::now();
        assert_eq!(
            from(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert!(from(now, Duration::MAX) > now);
        assert!(after(Duration::MAX) > now);
        assert_eq!(remaining(now), Duration::ZERO);
        assert!(remaining(after(Duration::from_secs(60))) > Duration::from_secs(50));
    }
}
