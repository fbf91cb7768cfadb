//! ros-bench: boots ros and the baseline alternately under identical QEMU settings, searches
//! the smallest memory each needs, and writes tools/bench/results/<date>-<commit>.{json,svg}.
//! `scripts/bench` builds it and the baseline, then runs it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Parser;
use qemu_harness::{probe_accel, Accel, Dist};
use ros_bench::host::{self, Manifest};
use ros_bench::memsearch::{self, Outcome, SearchConfig, SearchResult};
use ros_bench::report::{self, Results, Settings};
use ros_bench::runner::{Bench, Medium};
use ros_bench::stats::median_index;

#[derive(Parser)]
#[command(
    name = "ros-bench",
    about = "Boot time, memory and size of ros against a baseline"
)]
struct Args {
    /// Boots of each (ros, baseline), alternating.
    #[arg(long, default_value_t = 5)]
    runs: u32,
    /// Guest memory of the timing runs, MiB.
    #[arg(long, default_value_t = 1024)]
    memory: u32,
    /// Guest vCPUs.
    #[arg(long, default_value_t = 2)]
    cpus: u32,
    /// Time box for the whole run, minutes; the memory search stops when it is spent.
    #[arg(long, default_value_t = 30)]
    budget: u64,
    /// Development: one run each, a coarse memory search (256 MiB steps, one success).
    #[arg(long)]
    quick: bool,
    /// Skip the smallest-memory search.
    #[arg(long)]
    no_memory_search: bool,
    /// Boot ros from dist/vmlinuz + dist/initrd instead of the ISO.
    #[arg(long)]
    kernel: bool,
    #[arg(long, default_value = "dist")]
    dist: PathBuf,
    /// The baseline initramfs (`ros-build baseline` makes it).
    #[arg(long, default_value = "dist/bench/baseline-initrd")]
    baseline: PathBuf,
    /// The ros binary whose `boot-time --svg` draws the waterfall.
    #[arg(long, default_value = "target/release/ros")]
    ros: PathBuf,
    /// Where the results go.
    #[arg(long, default_value = "tools/bench/results")]
    out: PathBuf,
}

/// The design target (docs: design brief §7), probed first by the memory search.
const TARGET_MIB: u32 = 384;
const ROS_TIMEOUT: Duration = Duration::from_secs(600);
const BASELINE_TIMEOUT: Duration = Duration::from_secs(300);

struct Clock {
    start: Instant,
    deadline: Instant,
}

impl Clock {
    fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
    fn stamp(&self) -> String {
        let s = self.start.elapsed().as_secs();
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.1} s"))
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    if args.quick {
        args.runs = 1;
    }
    let start = Instant::now();
    let clock = Clock {
        start,
        deadline: start + Duration::from_secs(args.budget * 60),
    };
    if !args.dist.join("ros.iso").is_file() {
        bail!(
            "{}/ros.iso is missing: run scripts/build",
            args.dist.display()
        );
    }
    std::env::set_var("ROS_DIST", &args.dist);
    let dist = Dist::locate()?;
    if !args.baseline.is_file() {
        bail!(
            "{} is missing: run `ros-build baseline` (scripts/bench does)",
            args.baseline.display()
        );
    }
    let manifest_text = std::fs::read_to_string(dist.manifest())?;
    let manifest = Manifest::parse(&manifest_text).context("parse dist/manifest.json")?;
    let accel = probe_accel(&dist.vmlinuz());
    let accel_name = match accel {
        Accel::Kvm => "kvm",
        Accel::Tcg => "tcg",
    };
    let medium = if args.kernel {
        Medium::Kernel
    } else {
        Medium::Iso
    };
    let bench = Bench::new(
        dist.clone(),
        args.baseline.clone(),
        accel,
        args.cpus,
        medium,
    )?;
    println!(
        "==> ros-bench: {} run(s) each, {} MiB, {} vCPUs, {accel_name}, budget {} min{}",
        args.runs,
        args.memory,
        args.cpus,
        args.budget,
        if args.quick { " (--quick)" } else { "" }
    );

    // Timing runs, alternating.
    let mut ros_runs = Vec::new();
    let mut base_runs = Vec::new();
    let (mut ros_cmd, mut base_cmd) = (String::new(), String::new());
    let mut pair_cost: Option<Duration> = None;
    for i in 1..=args.runs {
        if pair_cost.is_some_and(|c| c > clock.left()) {
            println!(
                "==> time box: stopping the timing runs after {} of {}",
                i - 1,
                args.runs
            );
            break;
        }
        let pair_start = Instant::now();
        println!(
            "==> [{}] ros boot {i}/{} ({} MiB)",
            clock.stamp(),
            args.runs,
            args.memory
        );
        let (run, cmd) = bench.ros(args.memory, ROS_TIMEOUT.min(clock.left()), true);
        println!(
            "    PID 1 {}, ready {} (guest {}), sshd {}, idle used {}{}",
            opt(run.pid1_host_s),
            opt(run.ready_host_s),
            opt(run.ready_guest_s),
            opt(run.sshd_host_s),
            run.memory
                .map_or("–".into(), |m| format!("{} MiB", m.used_kib / 1024)),
            run.error
                .as_ref()
                .map_or(String::new(), |e| format!("; {e}"))
        );
        ros_cmd = if ros_cmd.is_empty() { cmd } else { ros_cmd };
        ros_runs.push(run);

        println!("==> [{}] baseline boot {i}/{}", clock.stamp(), args.runs);
        let (run, cmd) = bench.baseline(args.memory, BASELINE_TIMEOUT.min(clock.left()), i == 1);
        println!(
            "    /init {}, dockerd answers (guest) {}, marker {} (guest {}){}",
            opt(run.init_host_s),
            opt(run.dockerd_guest_s),
            opt(run.ready_host_s),
            opt(run.ready_guest_s),
            run.error
                .as_ref()
                .map_or(String::new(), |e| format!("; {e}"))
        );
        base_cmd = if base_cmd.is_empty() { cmd } else { base_cmd };
        base_runs.push(run);
        pair_cost = Some(pair_start.elapsed());
    }
    let (summary, mut memory) = report::summarize_runs(&ros_runs, &base_runs);

    if !args.no_memory_search {
        let ros_ready = summary.ros.get("ready_host").map(|s| s.median);
        let base_ready = summary.baseline.get("ready_host").map(|s| s.median);
        // Three good boots in a row: a size that reaches ready only sometimes is not enough.
        let (step, successes) = if args.quick { (256, 1) } else { (64, 3) };
        let cfg = |first| SearchConfig {
            low: 128,
            high: 1024,
            step,
            successes,
            first,
        };
        let prior = |ok: usize| if args.memory == 1024 { ok as u32 } else { 0 };
        let base_ok = base_runs.iter().filter(|r| r.ok).count();
        let ros_ok = ros_runs.iter().filter(|r| r.ok).count();
        // Keep enough of the time box for the (cheap) baseline search after ros's.
        let base_probes = (memsearch::grid(&cfg(None)).len() as f64).log2().ceil();
        let base_reserve = base_ready.map_or(Duration::ZERO, |t| {
            Duration::from_secs_f64(base_probes * f64::from(successes) * (t + 5.0))
        });
        if let Some(t) = ros_ready {
            println!(
                "==> [{}] smallest memory for ros (ready line)",
                clock.stamp()
            );
            let timeout = Duration::from_secs_f64((2.0 * t).clamp(120.0, 600.0));
            let cost = Duration::from_secs_f64(t * 1.2 + 5.0);
            let r = memsearch::search(
                cfg(Some(TARGET_MIB)),
                prior(ros_ok),
                || clock.left() > cost + base_reserve,
                |mib| {
                    let limit = timeout.min(clock.left());
                    let (run, _) = bench.ros(mib, limit, false);
                    let outcome = outcome(run.ok, run.ready_host_s, run.error, limit < timeout);
                    println!("    {mib} MiB: {}", describe(&outcome));
                    outcome
                },
            );
            println!("    {}", r.note);
            memory.ros_min = Some(r);
        }
        if let Some(t) = base_ready {
            println!(
                "==> [{}] smallest memory for the baseline (marker)",
                clock.stamp()
            );
            let timeout = Duration::from_secs_f64((2.0 * t).clamp(60.0, 300.0));
            let cost = Duration::from_secs_f64(t * 1.2 + 5.0);
            let r: SearchResult = memsearch::search(
                cfg(None),
                prior(base_ok),
                || clock.left() > cost,
                |mib| {
                    let limit = timeout.min(clock.left());
                    let (run, _) = bench.baseline(mib, limit, false);
                    let outcome = outcome(run.ok, run.ready_host_s, run.error, limit < timeout);
                    println!("    {mib} MiB: {}", describe(&outcome));
                    outcome
                },
            );
            println!("    {}", r.note);
            memory.baseline_min = Some(r);
        }
    }

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let repo = std::env::current_dir()?;
    let commit = host::commit(&repo);
    let readies: Vec<f64> = ros_runs
        .iter()
        .map(|r| match (r.ok, r.timeline.is_some(), r.ready_host_s) {
            (true, true, Some(t)) => t,
            _ => f64::NAN,
        })
        .collect();
    let median_run = median_index(&readies);
    let baseline_size = std::fs::metadata(&args.baseline).ok().map(|m| m.len());
    let results = Results {
        schema: report::SCHEMA,
        date: host::utc_date(now),
        commit: commit.clone(),
        ros_version: manifest.ros_version.clone(),
        host: host::host(),
        qemu: report::QemuSettings {
            accel: accel_name.into(),
            memory_mib: args.memory,
            cpus: args.cpus,
            ros_command: ros_cmd,
            baseline_command: base_cmd,
        },
        settings: Settings {
            runs: args.runs,
            quick: args.quick,
            budget_s: args.budget * 60,
            memory_search: !args.no_memory_search,
            ros_medium: match medium {
                Medium::Iso => "ros.iso".into(),
                Medium::Kernel => "vmlinuz + initrd".into(),
            },
        },
        ros_runs,
        baseline_runs: base_runs,
        summary,
        memory,
        sizes: manifest.sizes(baseline_size),
        median_run,
        elapsed_s: start.elapsed().as_secs_f64(),
    };
    if manifest.git_commit.trim_end_matches("-dirty") != "unknown"
        && !manifest
            .git_commit
            .starts_with(commit.trim_end_matches("-dirty"))
    {
        println!(
            "warning: dist/ was built from {}, the work tree is at {commit}",
            manifest.git_commit
        );
    }

    std::fs::create_dir_all(&args.out)?;
    let stem = args.out.join(format!("{}-{commit}", results.date));
    let json_path = stem.with_extension("json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&results)? + "\n")
        .with_context(|| format!("write {}", json_path.display()))?;
    let svg_path = stem.with_extension("svg");
    let svg = median_run
        .and_then(|i| results.ros_runs[i].timeline.as_ref())
        .map(|tl| draw_waterfall(&args.ros, tl, &svg_path));
    println!("\n{}", report::markdown(&results));
    println!("==> results: {}", json_path.display());
    match svg {
        Some(Ok(())) => println!("==> waterfall of the median run: {}", svg_path.display()),
        Some(Err(e)) => println!("warning: no waterfall: {e:#}"),
        None => println!("warning: no waterfall: no run has a complete timeline"),
    }
    println!(
        "==> done in {:.1} min",
        start.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

fn outcome(ok: bool, ready: Option<f64>, error: Option<String>, cut_short: bool) -> Outcome {
    match (ok, ready) {
        (true, Some(t)) => Outcome::Ready(t),
        _ => {
            let why = error.unwrap_or_else(|| "no ready line".into());
            if cut_short && why.starts_with("no ") {
                Outcome::Unknown(why)
            } else {
                Outcome::Failed(why)
            }
        }
    }
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Ready(t) => format!("ready at {t:.1} s"),
        Outcome::Failed(why) => format!("failed: {why}"),
        Outcome::Unknown(why) => format!("unknown (time box): {why}"),
    }
}

/// `ros boot-time --file TIMELINE --svg OUT`, the same drawing the guest makes.
fn draw_waterfall(ros: &Path, timeline: &ros_bench::guest::Timeline, out: &Path) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("boot-timeline.json");
    std::fs::write(&file, serde_json::to_vec_pretty(timeline)?)?;
    let status = Command::new(ros)
        .args(["boot-time", "--file"])
        .arg(&file)
        .arg("--svg")
        .arg(out)
        .status()
        .with_context(|| format!("run {}", ros.display()))?;
    if !status.success() {
        bail!("{} boot-time --svg failed ({status})", ros.display());
    }
    Ok(())
}
