//! The results file (`tools/bench/results/<date>-<commit>.json`) and its markdown table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::guest::{GuestMemory, Timeline};
use crate::memsearch::SearchResult;
use crate::serial::BaselineIdle;
use crate::stats::{summarize, Summary};

/// Bumped when the layout of the results file changes.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub schema: u32,
    /// UTC, YYYY-MM-DD.
    pub date: String,
    pub commit: String,
    pub ros_version: String,
    pub host: Host,
    pub qemu: QemuSettings,
    pub settings: Settings,
    pub ros_runs: Vec<RosRun>,
    pub baseline_runs: Vec<BaselineRun>,
    pub summary: Summaries,
    pub memory: Memory,
    pub sizes: Vec<Size>,
    /// Index into `ros_runs` of the run whose waterfall was drawn.
    pub median_run: Option<usize>,
    pub elapsed_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    pub cpu: String,
    pub cpus: usize,
    pub mem_total_mib: u64,
    pub kernel: String,
    pub qemu_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QemuSettings {
    pub accel: String,
    pub memory_mib: u32,
    pub cpus: u32,
    /// The exact command lines of one ros and one baseline boot (temporary paths vary).
    pub ros_command: String,
    pub baseline_command: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub runs: u32,
    pub quick: bool,
    pub budget_s: u64,
    pub memory_search: bool,
    pub ros_medium: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RosRun {
    pub ok: bool,
    pub error: Option<String>,
    /// Host clock, seconds from QEMU's start.
    pub pid1_host_s: Option<f64>,
    pub ready_host_s: Option<f64>,
    pub sshd_host_s: Option<f64>,
    /// Guest clock (since the kernel started), from the ready line.
    pub ready_guest_s: Option<f64>,
    pub timeline: Option<Timeline>,
    pub memory: Option<GuestMemory>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineRun {
    pub ok: bool,
    pub error: Option<String>,
    pub init_host_s: Option<f64>,
    pub ready_host_s: Option<f64>,
    /// Guest clock: /init started, dockerd answered, image loaded, container ran (marker).
    pub init_guest_s: Option<f64>,
    pub dockerd_guest_s: Option<f64>,
    pub loaded_guest_s: Option<f64>,
    pub ready_guest_s: Option<f64>,
    pub idle: Option<BaselineIdle>,
}

/// Medians, minima and maxima over the runs; figure name → summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summaries {
    pub ros: BTreeMap<String, Summary>,
    /// Steps and services from the guest timeline (`step:…`, `service:…`), in boot order.
    pub ros_timeline: Vec<(String, Summary)>,
    pub baseline: BTreeMap<String, Summary>,
    /// ros ready / baseline marker, of the medians: host clock and guest clock.
    pub ratio_host: Option<f64>,
    pub ratio_guest: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Medians over the ros runs, KiB.
    pub ros_idle: BTreeMap<String, Summary>,
    pub baseline_idle: Option<BaselineIdle>,
    pub ros_min: Option<SearchResult>,
    pub baseline_min: Option<SearchResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Size {
    pub name: String,
    pub bytes: u64,
}

fn collect<T>(runs: &[T], f: impl Fn(&T) -> Option<f64>) -> Option<Summary> {
    let v: Vec<f64> = runs.iter().filter_map(f).collect();
    summarize(&v)
}

/// Summarises the runs (only runs that reached ready count).
pub fn summarize_runs(ros: &[RosRun], baseline: &[BaselineRun]) -> (Summaries, Memory) {
    let ros_ok: Vec<&RosRun> = ros.iter().filter(|r| r.ok).collect();
    let base_ok: Vec<&BaselineRun> = baseline.iter().filter(|r| r.ok).collect();
    let mut s = Summaries::default();
    let put = |map: &mut BTreeMap<String, Summary>, k: &str, v: Option<Summary>| {
        if let Some(v) = v {
            map.insert(k.to_string(), v);
        }
    };
    put(&mut s.ros, "pid1_host", collect(&ros_ok, |r| r.pid1_host_s));
    put(
        &mut s.ros,
        "ready_host",
        collect(&ros_ok, |r| r.ready_host_s),
    );
    put(&mut s.ros, "sshd_host", collect(&ros_ok, |r| r.sshd_host_s));
    put(
        &mut s.ros,
        "ready_guest",
        collect(&ros_ok, |r| r.ready_guest_s),
    );
    put(
        &mut s.baseline,
        "init_host",
        collect(&base_ok, |r| r.init_host_s),
    );
    put(
        &mut s.baseline,
        "ready_host",
        collect(&base_ok, |r| r.ready_host_s),
    );
    put(
        &mut s.baseline,
        "init_guest",
        collect(&base_ok, |r| r.init_guest_s),
    );
    put(
        &mut s.baseline,
        "dockerd_guest",
        collect(&base_ok, |r| r.dockerd_guest_s),
    );
    put(
        &mut s.baseline,
        "loaded_guest",
        collect(&base_ok, |r| r.loaded_guest_s),
    );
    put(
        &mut s.baseline,
        "ready_guest",
        collect(&base_ok, |r| r.ready_guest_s),
    );

    // Timeline figures in the order of the first run that has them, then by median.
    let mut names: Vec<String> = Vec::new();
    for r in &ros_ok {
        if let Some(tl) = &r.timeline {
            for (name, _) in tl.figures() {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    for name in names {
        let v: Vec<f64> = ros_ok
            .iter()
            .filter_map(|r| r.timeline.as_ref())
            .filter_map(|tl| tl.figures().into_iter().find(|(n, _)| *n == name))
            .map(|(_, t)| t)
            .collect();
        if let Some(sum) = summarize(&v) {
            s.ros_timeline.push((name, sum));
        }
    }
    s.ros_timeline
        .sort_by(|a, b| a.1.median.total_cmp(&b.1.median));

    let ratio = |a: Option<&Summary>, b: Option<&Summary>| match (a, b) {
        (Some(a), Some(b)) if b.median > 0.0 => Some(a.median / b.median),
        _ => None,
    };
    s.ratio_host = ratio(s.ros.get("ready_host"), s.baseline.get("ready_host"));
    s.ratio_guest = ratio(s.ros.get("ready_guest"), s.baseline.get("ready_guest"));

    let mut m = Memory::default();
    let mems: Vec<&GuestMemory> = ros_ok.iter().filter_map(|r| r.memory.as_ref()).collect();
    let kib = |f: &dyn Fn(&GuestMemory) -> Option<u64>| {
        summarize(
            &mems
                .iter()
                .filter_map(|g| f(g))
                .map(|v| v as f64)
                .collect::<Vec<_>>(),
        )
    };
    put(&mut m.ros_idle, "used_kib", kib(&|g| Some(g.used_kib)));
    put(&mut m.ros_idle, "pid1_rss_kib", kib(&|g| g.pid1_rss_kib));
    put(
        &mut m.ros_idle,
        "system_docker_rss_kib",
        kib(&|g| g.system_docker_rss_kib),
    );
    put(
        &mut m.ros_idle,
        "user_docker_rss_kib",
        kib(&|g| g.user_docker_rss_kib),
    );
    m.baseline_idle = base_ok.iter().find_map(|r| r.idle);
    (s, m)
}

fn secs(s: Option<&Summary>) -> String {
    match s {
        Some(s) if s.n > 1 => format!("{:.1} ({:.1}–{:.1})", s.median, s.min, s.max),
        Some(s) => format!("{:.1}", s.median),
        None => "–".into(),
    }
}

fn mib_of_kib(s: Option<&Summary>) -> String {
    match s {
        Some(s) if s.n > 1 => format!(
            "{:.0} ({:.0}–{:.0})",
            s.median / 1024.0,
            s.min / 1024.0,
            s.max / 1024.0
        ),
        Some(s) => format!("{:.0}", s.median / 1024.0),
        None => "–".into(),
    }
}

fn min_memory(r: Option<&SearchResult>) -> String {
    let Some(r) = r else {
        return "not searched".into();
    };
    let mut out = match (r.min_ok_mib, r.max_failed_mib) {
        (Some(ok), Some(bad)) if r.complete => format!("{ok} (fails at {bad})"),
        (Some(ok), Some(bad)) => format!("≤ {ok}, > {bad}"),
        (Some(ok), None) if r.complete => format!("≤ {ok} (lowest tried)"),
        (Some(ok), None) => format!("≤ {ok}"),
        (None, Some(bad)) => format!("> {bad}"),
        (None, None) => "unknown".into(),
    };
    if !r.complete {
        out.push_str(" (incomplete: time box)");
    }
    out
}

/// The markdown report printed at the end and pasted into docs/performance.md.
pub fn markdown(r: &Results) -> String {
    let s = &r.summary;
    let ok_ros = r.ros_runs.iter().filter(|x| x.ok).count();
    let ok_base = r.baseline_runs.iter().filter(|x| x.ok).count();
    let mut o = String::new();
    let _ = writeln!(
        o,
        "ros {} ({}), {}; {} under {}, {} MiB, {} vCPUs; host: {}, {} cores, {} MiB",
        r.ros_version,
        r.commit,
        r.date,
        r.settings.ros_medium,
        r.qemu.accel,
        r.qemu.memory_mib,
        r.qemu.cpus,
        r.host.cpu,
        r.host.cpus,
        r.host.mem_total_mib
    );
    let _ = writeln!(
        o,
        "\nBoot time, seconds: median (min–max) over {ok_ros} ros and {ok_base} baseline runs{}.\n",
        if r.settings.quick { " (--quick)" } else { "" }
    );
    let _ = writeln!(o, "| Figure | ros | baseline | ros / baseline |");
    let _ = writeln!(o, "|---|---|---|---|");
    let ratio = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.2}"));
    let row = |o: &mut String, name: &str, a: String, b: String, ratio: String| {
        let _ = writeln!(o, "| {name} | {a} | {b} | {ratio} |");
    };
    row(
        &mut o,
        "PID 1 / baseline /init starts (host clock)",
        secs(s.ros.get("pid1_host")),
        secs(s.baseline.get("init_host")),
        "".into(),
    );
    let step = |name: &str| {
        s.ros_timeline
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    };
    row(
        &mut o,
        "System Docker ready / baseline dockerd answers (guest clock)",
        secs(step("step:system-docker-ready")),
        secs(s.baseline.get("dockerd_guest")),
        "".into(),
    );
    row(
        &mut o,
        "sshd accepting (host clock)",
        secs(s.ros.get("sshd_host")),
        "–".into(),
        "".into(),
    );
    row(
        &mut o,
        "**User Docker ready / baseline container ran (guest clock)**",
        secs(s.ros.get("ready_guest")),
        secs(s.baseline.get("ready_guest")),
        ratio(s.ratio_guest),
    );
    row(
        &mut o,
        "**User Docker ready / baseline container ran (host clock, from QEMU start)**",
        secs(s.ros.get("ready_host")),
        secs(s.baseline.get("ready_host")),
        ratio(s.ratio_host),
    );

    let _ = writeln!(
        o,
        "\nros boot steps and services (guest clock, seconds since the kernel started):\n"
    );
    let _ = writeln!(o, "| Step / service | median | min | max |");
    let _ = writeln!(o, "|---|---|---|---|");
    for (name, v) in &s.ros_timeline {
        let _ = writeln!(
            o,
            "| {name} | {:.1} | {:.1} | {:.1} |",
            v.median, v.min, v.max
        );
    }

    let m = &r.memory;
    let _ = writeln!(o, "\nMemory, MiB:\n");
    let _ = writeln!(o, "| Figure | ros | baseline |");
    let _ = writeln!(o, "|---|---|---|");
    let base_idle = m.baseline_idle;
    let bmib = |f: fn(&BaselineIdle) -> u64| {
        base_idle.map_or("–".into(), |i| format!("{:.0}", f(&i) as f64 / 1024.0))
    };
    let _ = writeln!(
        o,
        "| smallest memory reaching ready | {} | {} |",
        min_memory(m.ros_min.as_ref()),
        min_memory(m.baseline_min.as_ref())
    );
    let _ = writeln!(
        o,
        "| idle used (MemTotal − MemAvailable), ≥ 10 s after ready | {} | {} |",
        mib_of_kib(m.ros_idle.get("used_kib")),
        bmib(BaselineIdle::used_kib)
    );
    let _ = writeln!(
        o,
        "| RSS of PID 1 | {} | – |",
        mib_of_kib(m.ros_idle.get("pid1_rss_kib"))
    );
    let _ = writeln!(
        o,
        "| RSS of System Docker (dockerd) | {} | – |",
        mib_of_kib(m.ros_idle.get("system_docker_rss_kib"))
    );
    let _ = writeln!(
        o,
        "| RSS of User Docker (dockerd) / baseline dockerd | {} | {} |",
        mib_of_kib(m.ros_idle.get("user_docker_rss_kib")),
        bmib(|i| i.dockerd_rss_kib)
    );

    let _ = writeln!(o, "\nSizes:\n");
    let _ = writeln!(o, "| Artifact | MB |");
    let _ = writeln!(o, "|---|---|");
    for size in &r.sizes {
        let _ = writeln!(o, "| {} | {:.1} |", size.name, size.bytes as f64 / 1e6);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::Event;
    use crate::memsearch::SearchConfig;

    fn ros_run(ready: f64) -> RosRun {
        RosRun {
            ok: true,
            pid1_host_s: Some(5.0),
            ready_host_s: Some(ready),
            sshd_host_s: Some(ready - 10.0),
            ready_guest_s: Some(ready - 4.0),
            timeline: Some(Timeline {
                events: vec![
                    Event {
                        name: "pid1".into(),
                        kind: "step".into(),
                        t: 2.0,
                        detail: None,
                    },
                    Event {
                        name: "system-docker-ready".into(),
                        kind: "step".into(),
                        t: ready / 4.0,
                        detail: None,
                    },
                ],
            }),
            memory: Some(GuestMemory {
                mem_total_kib: 1_000_000,
                mem_available_kib: 800_000,
                used_kib: 200_000,
                pid1_rss_kib: Some(8192),
                system_docker_rss_kib: Some(51200),
                user_docker_rss_kib: Some(40960),
            }),
            ..RosRun::default()
        }
    }

    fn sample() -> Results {
        let ros = vec![ros_run(100.0), ros_run(120.0), ros_run(110.0)];
        let baseline = vec![
            BaselineRun {
                ok: true,
                ready_host_s: Some(25.0),
                ready_guest_s: Some(22.0),
                dockerd_guest_s: Some(15.0),
                idle: Some(BaselineIdle {
                    mem_total_kib: 1_000_000,
                    mem_available_kib: 900_000,
                    dockerd_rss_kib: 40_000,
                    containerd_rss_kib: 20_000,
                }),
                ..BaselineRun::default()
            },
            BaselineRun {
                ok: false,
                error: Some("timeout".into()),
                ..BaselineRun::default()
            },
        ];
        let (summary, mut memory) = summarize_runs(&ros, &baseline);
        memory.ros_min = Some(SearchResult {
            min_ok_mib: Some(384),
            max_failed_mib: Some(320),
            complete: true,
            note: String::new(),
            probes: vec![],
            config: SearchConfig {
                low: 128,
                high: 1024,
                step: 64,
                successes: 2,
                first: Some(384),
            },
        });
        Results {
            schema: SCHEMA,
            date: "2025-01-02".into(),
            commit: "abc1234".into(),
            ros_version: "0.1.0".into(),
            host: Host {
                cpu: "Xeon".into(),
                cpus: 2,
                mem_total_mib: 24000,
                kernel: "6.1".into(),
                qemu_version: "7.2".into(),
            },
            qemu: QemuSettings {
                accel: "tcg".into(),
                memory_mib: 1024,
                cpus: 2,
                ros_command: "qemu-system-x86_64 …".into(),
                baseline_command: "qemu-system-x86_64 …".into(),
            },
            settings: Settings {
                runs: 3,
                quick: false,
                budget_s: 1800,
                memory_search: true,
                ros_medium: "ISO".into(),
            },
            ros_runs: ros,
            baseline_runs: baseline,
            summary,
            memory,
            sizes: vec![Size {
                name: "ros.iso".into(),
                bytes: 151_300_096,
            }],
            median_run: Some(2),
            elapsed_s: 900.0,
        }
    }

    #[test]
    fn summaries_and_ratios() {
        let r = sample();
        let ready = r.summary.ros["ready_host"];
        assert_eq!(
            (ready.n, ready.median, ready.min, ready.max),
            (3, 110.0, 100.0, 120.0)
        );
        // Only the successful baseline run counts.
        assert_eq!(r.summary.baseline["ready_host"].n, 1);
        assert_eq!(r.summary.ratio_host, Some(110.0 / 25.0));
        assert_eq!(r.summary.ratio_guest, Some(106.0 / 22.0));
        assert_eq!(r.summary.ros_timeline[0].0, "step:pid1");
        assert_eq!(r.memory.ros_idle["used_kib"].median, 200_000.0);
        assert_eq!(r.memory.baseline_idle.unwrap().used_kib(), 100_000);
    }

    #[test]
    fn json_round_trips() {
        let r = sample();
        let text = serde_json::to_string_pretty(&r).unwrap();
        let back: Results = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["schema"], 1);
        assert_eq!(v["summary"]["ros"]["ready_host"]["median"], 110.0);
        assert_eq!(v["memory"]["ros_min"]["min_ok_mib"], 384);
    }

    #[test]
    fn markdown_has_every_figure() {
        let md = markdown(&sample());
        for needle in [
            "| **User Docker ready / baseline container ran (host clock, from QEMU start)** | 110.0 (100.0–120.0) | 25.0 | 4.40 |",
            "| sshd accepting (host clock) | 100.0 (90.0–110.0) |",
            "| step:system-docker-ready | 27.5 | 25.0 | 30.0 |",
            "| smallest memory reaching ready | 384 (fails at 320) | not searched |",
            "| idle used (MemTotal − MemAvailable), ≥ 10 s after ready | 195 (195–195) | 98 |",
            "| RSS of System Docker (dockerd) | 50 (50–50) | – |",
            "| ros.iso | 151.3 |",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
    }
}
