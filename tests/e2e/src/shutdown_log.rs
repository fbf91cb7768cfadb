//! Reading PID 1's ordered shutdown back from the serial console.

/// The services PID 1 stopped, in the order its `shutdown: stopping … service=NAME` lines give.
pub fn stop_order(serial: &str) -> Vec<String> {
    serial
        .lines()
        .filter(|l| l.contains("shutdown: stopping") && l.contains("service="))
        .filter_map(|l| l.split("service=").nth(1))
        .map(|s| {
            s.split_whitespace()
                .next()
                .unwrap_or(s)
                .trim_matches('"')
                .to_owned()
        })
        .collect()
}

/// The guest uptime PID 1 stamped on its first line containing `needle` (its log lines start
/// with seconds, e.g. `  93.312s  INFO shutdown: …`).
pub fn uptime_of(serial: &str, needle: &str) -> Option<f64> {
    serial
        .lines()
        .filter(|l| l.contains(needle))
        .find_map(|l| l.split_whitespace().next()?.strip_suffix('s')?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::{stop_order, uptime_of};

    #[test]
    fn uptime_comes_from_pid1_lines_only() {
        let log = "[  1.0] kernel shutdown: x\n  93.250000000s  INFO shutdown: stopping user containers\n";
        assert_eq!(uptime_of(log, "stopping user containers"), Some(93.25));
        assert_eq!(uptime_of(log, "kernel"), None);
    }

    #[test]
    fn names_come_out_in_log_order_quoted_or_not() {
        let log = "x\nros-init: shutdown: stopping service=\"ntp\"\nnoise service=no\n\
                   shutdown: stopping service=console timeout=60\n";
        assert_eq!(stop_order(log), ["ntp", "console"]);
    }
}
