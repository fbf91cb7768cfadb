//! What the benchmark reads from a running ros guest over ssh: the boot timeline and the
//! memory figures.

use serde::{Deserialize, Serialize};

pub use host::boot_timeline::{Event, Timeline};

/// The shell script run in the guest (as root) for the memory figures: MemTotal and
/// MemAvailable, then `proc PID COMM RSS_KIB CMDLINE` for PID 1 and every dockerd.
pub const MEMORY_SCRIPT: &str = r#"grep -E "^(MemTotal|MemAvailable):" /proc/meminfo
for d in /proc/[0-9]*; do
  pid=${d#/proc/}
  comm=$(cat "$d/comm" 2>/dev/null) || continue
  if [ "$pid" = 1 ] || [ "$comm" = dockerd ]; then
    rss=$(awk "/^VmRSS:/ {print \$2}" "$d/status" 2>/dev/null)
    echo "proc $pid $comm ${rss:-0} $(tr "\000" " " < "$d/cmdline" 2>/dev/null)"
  fi
done"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestMemory {
    pub mem_total_kib: u64,
    pub mem_available_kib: u64,
    /// MemTotal − MemAvailable.
    pub used_kib: u64,
    pub pid1_rss_kib: Option<u64>,
    /// dockerd listening on system-docker.sock.
    pub system_docker_rss_kib: Option<u64>,
    /// The other dockerd (/var/run/docker.sock).
    pub user_docker_rss_kib: Option<u64>,
}

/// Parses [`MEMORY_SCRIPT`]'s output.
pub fn parse_memory(out: &str) -> Option<GuestMemory> {
    let kib = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let total = kib("MemTotal:")?;
    let available = kib("MemAvailable:")?;
    let mut mem = GuestMemory {
        mem_total_kib: total,
        mem_available_kib: available,
        used_kib: total.saturating_sub(available),
        pid1_rss_kib: None,
        system_docker_rss_kib: None,
        user_docker_rss_kib: None,
    };
    for line in out.lines() {
        let mut f = line.splitn(5, ' ');
        if f.next() != Some("proc") {
            continue;
        }
        let (Some(pid), Some(comm), Some(rss)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Ok(rss) = rss.parse::<u64>() else {
            continue;
        };
        let cmdline = f.next().unwrap_or("");
        if pid == "1" {
            mem.pid1_rss_kib = Some(rss);
        } else if comm == "dockerd" {
            let slot = if cmdline.contains("system-docker.sock") {
                &mut mem.system_docker_rss_kib
            } else {
                &mut mem.user_docker_rss_kib
            };
            *slot = Some(slot.unwrap_or(0) + rss);
        }
    }
    Some(mem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_take_steps_and_service_readiness() {
        let json = r#"{"events":[
            {"name":"pid1","kind":"step","t":2.5},
            {"name":"switch-root","kind":"step","t":4.0},
            {"name":"system-docker-ready","kind":"step","t":20.0},
            {"name":"service:cloud-init","kind":"created","t":30.0},
            {"name":"service:cloud-init","kind":"started","t":31.0},
            {"name":"service:cloud-init","kind":"exited","t":40.0},
            {"name":"service:udev","kind":"started","t":25.0},
            {"name":"service:docker","kind":"started","t":45.0,"detail":"x"},
            {"name":"ready","kind":"step","t":60.0}
        ]}"#;
        let tl = Timeline::parse(json).unwrap();
        assert!(tl.has_ready());
        assert_eq!(
            tl.figures(),
            vec![
                ("step:pid1".to_string(), 2.5),
                ("step:switch-root".to_string(), 4.0),
                ("step:system-docker-ready".to_string(), 20.0),
                ("service:udev".to_string(), 25.0),
                ("service:cloud-init".to_string(), 40.0),
                ("service:docker".to_string(), 45.0),
                ("step:ready".to_string(), 60.0),
            ]
        );
        assert!(!Timeline::parse(r#"{"events":[]}"#).unwrap().has_ready());
        assert_eq!(Timeline::parse("{broken"), None);
    }

    #[test]
    fn memory_output_is_split_by_daemon() {
        let out = "MemTotal:        1004000 kB\nMemAvailable:     704000 kB\n\
proc 1 init 9000 /init \n\
proc 612 dockerd 61000 dockerd --group=root -H unix:///var/run/system-docker.sock --data-root /var/lib/system-docker \n\
proc 901 dockerd 52000 dockerd -H unix:///var/run/docker.sock --data-root /var/lib/docker \n\
proc 77 sshd 4000 sshd: /usr/sbin/sshd\n";
        let m = parse_memory(out).unwrap();
        assert_eq!(m.used_kib, 300_000);
        assert_eq!(m.pid1_rss_kib, Some(9000));
        assert_eq!(m.system_docker_rss_kib, Some(61_000));
        assert_eq!(m.user_docker_rss_kib, Some(52_000));
        assert_eq!(parse_memory("proc 1 init 5 /init"), None);
    }
}
