//! The smallest guest memory at which a boot reaches its ready line: a bisection over a grid
//! of sizes (`low`, `low + step`, …, `high`), each size needing `successes` good boots in a row
//! (one failure marks it failed), and time-boxed: when the caller cannot afford another boot,
//! the search stops and reports the bracket it reached.

use serde::{Deserialize, Serialize};

/// What one boot at one memory size gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Reached the ready line; seconds from QEMU's start.
    Ready(f64),
    /// Did not (timeout, OOM killer, panic, recovery shell…), with why.
    Failed(String),
    /// Could not tell: the time box ran out during the boot.
    Unknown(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchConfig {
    pub low: u32,
    pub high: u32,
    pub step: u32,
    /// Good boots needed at one size before it counts as enough.
    pub successes: u32,
    /// Probe this size first if it is on the grid (the design target), then bisect.
    pub first: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub memory_mib: u32,
    pub ok: bool,
    /// Seconds to the ready line, or why the boot failed.
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// The smallest size seen to reach ready `successes` times (None: not even `high`).
    pub min_ok_mib: Option<u32>,
    /// The largest size seen to fail, if any was tried.
    pub max_failed_mib: Option<u32>,
    /// Whether the bracket is as narrow as the grid allows.
    pub complete: bool,
    pub note: String,
    pub probes: Vec<ProbeRecord>,
    pub config: SearchConfig,
}

/// The sizes tried: multiples of `step` above `low`, with `high` last.
pub fn grid(cfg: &SearchConfig) -> Vec<u32> {
    let step = cfg.step.max(1);
    let mut g: Vec<u32> = (0..)
        .map(|i| cfg.low + i * step)
        .take_while(|&m| m < cfg.high)
        .collect();
    g.push(cfg.high);
    g
}

enum Verdict {
    Good,
    Bad,
    Stop(String),
}

/// Runs the search. `prior_at_high` is how many good boots at `high` the caller already has
/// (the timing runs); `affordable()` is asked before every boot; `boot(mib)` boots once.
pub fn search(
    cfg: SearchConfig,
    prior_at_high: u32,
    mut affordable: impl FnMut() -> bool,
    mut boot: impl FnMut(u32) -> Outcome,
) -> SearchResult {
    let g = grid(&cfg);
    let mut probes = Vec::new();
    let mut try_size = |mib: u32, already: u32, probes: &mut Vec<ProbeRecord>| -> Verdict {
        let mut good = already;
        while good < cfg.successes {
            if !affordable() {
                return Verdict::Stop(format!("time box reached before another boot at {mib} MiB"));
            }
            match boot(mib) {
                Outcome::Ready(t) => {
                    probes.push(ProbeRecord {
                        memory_mib: mib,
                        ok: true,
                        detail: format!("ready at {t:.1} s"),
                    });
                    good += 1;
                }
                Outcome::Failed(why) => {
                    probes.push(ProbeRecord {
                        memory_mib: mib,
                        ok: false,
                        detail: why,
                    });
                    return Verdict::Bad;
                }
                Outcome::Unknown(why) => {
                    return Verdict::Stop(format!(
                        "time box reached during a boot at {mib} MiB: {why}"
                    ));
                }
            }
        }
        Verdict::Good
    };

    let result = |min_ok: Option<u32>, max_failed: Option<u32>, complete, note: String, probes| {
        SearchResult {
            min_ok_mib: min_ok,
            max_failed_mib: max_failed,
            complete,
            note,
            probes,
            config: cfg,
        }
    };

    // Invariant: g[hi] reached ready; every size at or below lo failed (lo = -1: none tried).
    let mut hi = g.len() - 1;
    match try_size(g[hi], prior_at_high, &mut probes) {
        Verdict::Good => {}
        Verdict::Bad => {
            let note = format!("does not reach ready with {} MiB", g[hi]);
            return result(None, Some(g[hi]), true, note, probes);
        }
        Verdict::Stop(why) => return result(None, None, false, why, probes),
    }
    let mut lo: isize = -1;
    let mut first = cfg.first.and_then(|f| g.iter().position(|&m| m == f));
    while hi as isize - lo > 1 {
        let mid = match first.take() {
            Some(i) if (i as isize) > lo && i < hi => i,
            _ => ((lo + hi as isize) / 2).max(0) as usize,
        };
        match try_size(g[mid], 0, &mut probes) {
            Verdict::Good => hi = mid,
            Verdict::Bad => lo = mid as isize,
            Verdict::Stop(why) => {
                let failed = (lo >= 0).then(|| g[lo as usize]);
                return result(Some(g[hi]), failed, false, why, probes);
            }
        }
    }
    let failed = (lo >= 0).then(|| g[lo as usize]);
    let note = match failed {
        Some(f) => format!("ready with {} MiB, not with {f} MiB", g[hi]),
        None => format!("ready with {} MiB, the lowest size tried", g[hi]),
    };
    result(Some(g[hi]), failed, true, note, probes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(successes: u32, first: Option<u32>) -> SearchConfig {
        SearchConfig {
            low: 128,
            high: 1024,
            step: 64,
            successes,
            first,
        }
    }

    /// A fake guest that needs `need` MiB; records the sizes it was booted with.
    fn fake(need: u32, log: &mut Vec<u32>) -> impl FnMut(u32) -> Outcome + '_ {
        move |mib| {
            log.push(mib);
            if mib >= need {
                Outcome::Ready(100.0)
            } else {
                Outcome::Failed("oom".into())
            }
        }
    }

    #[test]
    fn grid_ends_at_high() {
        let g = grid(&cfg(2, None));
        assert_eq!(g.len(), 15);
        assert_eq!((g[0], g[4], g[14]), (128, 384, 1024));
        let coarse = SearchConfig {
            step: 256,
            ..cfg(1, None)
        };
        assert_eq!(grid(&coarse), vec![128, 384, 640, 896, 1024]);
    }

    #[test]
    fn finds_the_smallest_size_with_two_successes() {
        let mut log = Vec::new();
        let r = search(cfg(2, None), 2, || true, fake(300, &mut log));
        assert_eq!(r.min_ok_mib, Some(320));
        assert_eq!(r.max_failed_mib, Some(256));
        assert!(r.complete);
        // A good size is booted twice, a failing one once; 1024 was known good already.
        for m in &log {
            let n = log.iter().filter(|x| *x == m).count();
            assert_eq!(n, if *m >= 300 { 2 } else { 1 }, "{m} in {log:?}");
        }
        assert!(!log.contains(&1024));
    }

    #[test]
    fn starts_at_the_target_when_asked() {
        let mut log = Vec::new();
        let r = search(cfg(1, Some(384)), 1, || true, fake(200, &mut log));
        assert_eq!(log[0], 384);
        assert_eq!((r.min_ok_mib, r.max_failed_mib), (Some(256), Some(192)));
    }

    #[test]
    fn lowest_size_passing_is_reported_without_a_failure() {
        let mut log = Vec::new();
        let r = search(cfg(1, None), 1, || true, fake(0, &mut log));
        assert_eq!(
            (r.min_ok_mib, r.max_failed_mib, r.complete),
            (Some(128), None, true)
        );
    }

    #[test]
    fn confirms_high_when_the_caller_has_too_few_successes() {
        let mut log = Vec::new();
        let r = search(cfg(2, None), 0, || true, fake(2000, &mut log));
        assert_eq!(log, vec![1024]);
        assert_eq!((r.min_ok_mib, r.max_failed_mib), (None, Some(1024)));
    }

    #[test]
    fn stops_at_the_time_box_with_the_bracket_so_far() {
        let mut log = Vec::new();
        let mut budget = 3;
        let r = search(
            cfg(2, Some(384)),
            2,
            || {
                budget -= 1;
                budget >= 0
            },
            fake(300, &mut log),
        );
        // 384 twice (good), then one boot at the next size, then out of time.
        assert_eq!(log.len(), 3);
        assert_eq!(r.min_ok_mib, Some(384));
        assert!(!r.complete);
        assert!(r.note.contains("time box"), "{}", r.note);
    }

    #[test]
    fn an_unknown_boot_ends_the_search_without_counting() {
        let r = search(
            cfg(1, None),
            1,
            || true,
            |_| Outcome::Unknown("deadline".into()),
        );
        assert_eq!(
            (r.min_ok_mib, r.max_failed_mib, r.complete),
            (Some(1024), None, false)
        );
        assert!(r.probes.is_empty());
    }
}
