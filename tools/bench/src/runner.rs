//! Booting ros and the baseline in QEMU and timing them from the host.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{sleep, JoinHandle};
use std::time::{Duration, Instant};

use qemu_harness::{Accel, Dist, Qemu, QemuBuilder, Ssh, SshKey};

use crate::guest::{parse_memory, Timeline, MEMORY_SCRIPT};
use crate::report::{BaselineRun, RosRun};
use crate::serial::{self, seconds};

const POLL: Duration = Duration::from_millis(100);
/// ros's idle memory is read at least this long after its ready line (the baseline waits as
/// long before printing its own).
const SETTLE: Duration = Duration::from_secs(10);

/// How ros boots: the live ISO (the product) or vmlinuz + initrd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Medium {
    Iso,
    Kernel,
}

/// Everything both kinds of boot share: artifacts, accelerator, vCPUs, the ssh key and the
/// cloud-config that installs it.
pub struct Bench {
    pub dist: Dist,
    pub baseline_initrd: PathBuf,
    pub accel: Accel,
    pub cpus: u32,
    pub medium: Medium,
    key: SshKey,
    user_data: PathBuf,
    _dir: tempfile::TempDir,
}

impl Bench {
    pub fn new(
        dist: Dist,
        baseline_initrd: PathBuf,
        accel: Accel,
        cpus: u32,
        medium: Medium,
    ) -> anyhow::Result<Bench> {
        let key = SshKey::generate()?;
        let dir = tempfile::tempdir()?;
        let user_data = dir.path().join("user-data");
        std::fs::write(&user_data, cloud_config(&key.public))?;
        Ok(Bench {
            dist,
            baseline_initrd,
            accel,
            cpus,
            medium,
            key,
            user_data,
            _dir: dir,
        })
    }

    fn ros_builder(&self, memory: u32) -> QemuBuilder {
        let b = Qemu::builder()
            .accel(self.accel)
            .memory(memory)
            .cpus(self.cpus)
            .cloud_config(&self.user_data);
        match self.medium {
            Medium::Iso => b.iso(self.dist.iso()),
            Medium::Kernel => b.kernel(self.dist.vmlinuz(), self.dist.initrd()),
        }
    }

    fn baseline_builder(&self, memory: u32) -> QemuBuilder {
        Qemu::builder()
            .accel(self.accel)
            .memory(memory)
            .cpus(self.cpus)
            .kernel(self.dist.vmlinuz(), &self.baseline_initrd)
    }

    /// Boots ros once. With `measure`, also times sshd from the host and, over ssh, reads the
    /// boot timeline and the idle memory. Returns the run and the QEMU command line.
    pub fn ros(&self, memory: u32, timeout: Duration, measure: bool) -> (RosRun, String) {
        let mut run = RosRun::default();
        let t0 = Instant::now();
        let mut vm = match self.ros_builder(memory).boot() {
            Ok(vm) => vm,
            Err(e) => {
                run.error = Some(format!("QEMU did not start: {e}"));
                return (run, String::new());
            }
        };
        let command = vm.command_line().to_string();
        let probe = measure.then(|| SshProbe::start(vm.ssh_port(), t0));
        loop {
            let log = vm.serial_log();
            let el = t0.elapsed().as_secs_f64();
            if run.pid1_host_s.is_none() && log.contains(serial::ROS_PID1) {
                run.pid1_host_s = Some(el);
            }
            if let Some(g) = seconds(&log, serial::ROS_READY) {
                run.ready_guest_s = Some(g);
                run.ready_host_s = Some(el);
                run.ok = true;
                break;
            }
            if let Some(why) = stop_reason(&mut vm, &log, t0, timeout, "ready line") {
                run.error = Some(why);
                break;
            }
            sleep(POLL);
        }
        if let Some(probe) = probe {
            let until = Instant::now() + Duration::from_secs(if run.ok { 120 } else { 0 });
            run.sshd_host_s = probe.finish(until);
        }
        if run.ok && measure {
            let ready_at = t0 + Duration::from_secs_f64(run.ready_host_s.unwrap_or(0.0));
            if let Err(e) = self.measure(&mut run, vm.ssh_port(), ready_at) {
                run.error = Some(e);
            }
        }
        (run, command)
    }

    /// Over ssh: the idle memory (at least [`SETTLE`] after the ready line) and the complete
    /// boot timeline.
    fn measure(&self, run: &mut RosRun, port: u16, ready_at: Instant) -> Result<(), String> {
        let ssh = Ssh::new(port, &self.key.private);
        ssh.wait(Duration::from_secs(90))
            .map_err(|e| format!("ssh: {e}"))?;
        let settle = (ready_at + SETTLE).saturating_duration_since(Instant::now());
        sleep(settle);
        let out = ssh
            .ok(&format!("sudo sh -c '{MEMORY_SCRIPT}'"))
            .map_err(|e| format!("memory over ssh: {e}"))?;
        run.memory = parse_memory(&out);
        if run.memory.is_none() {
            return Err(format!("cannot read the memory figures from:\n{out}"));
        }
        for _ in 0..20 {
            if let Ok(json) = ssh.ok("cat /run/ros/boot-timeline.json") {
                if let Some(tl) = Timeline::parse(&json).filter(Timeline::has_ready) {
                    run.timeline = Some(tl);
                    return Ok(());
                }
            }
            sleep(Duration::from_secs(1));
        }
        Err("no complete /run/ros/boot-timeline.json".into())
    }

    /// Boots the baseline once; with `idle`, also waits for its idle-memory line.
    pub fn baseline(&self, memory: u32, timeout: Duration, idle: bool) -> (BaselineRun, String) {
        let mut run = BaselineRun::default();
        let t0 = Instant::now();
        let mut vm = match self.baseline_builder(memory).boot() {
            Ok(vm) => vm,
            Err(e) => {
                run.error = Some(format!("QEMU did not start: {e}"));
                return (run, String::new());
            }
        };
        let command = vm.command_line().to_string();
        loop {
            let log = vm.serial_log();
            let el = t0.elapsed().as_secs_f64();
            if run.init_host_s.is_none() && seconds(&log, serial::BASELINE_INIT).is_some() {
                run.init_host_s = Some(el);
            }
            if run.ready_host_s.is_none() {
                if let Some(g) = seconds(&log, serial::BASELINE_READY) {
                    run.ready_host_s = Some(el);
                    run.ready_guest_s = Some(g);
                    run.init_guest_s = seconds(&log, serial::BASELINE_INIT);
                    run.dockerd_guest_s = seconds(&log, serial::BASELINE_DOCKERD);
                    run.loaded_guest_s = seconds(&log, serial::BASELINE_LOADED);
                    run.ok = true;
                    if !idle {
                        break;
                    }
                }
            }
            if run.ok {
                if let Some(i) = serial::baseline_idle(&log) {
                    run.idle = Some(i);
                    break;
                }
                if el > run.ready_host_s.unwrap_or(el) + 60.0 {
                    run.error = Some("no idle line within 60 s of the marker".into());
                    break;
                }
            } else if let Some(why) = stop_reason(&mut vm, &log, t0, timeout, "marker") {
                run.error = Some(why);
                break;
            }
            sleep(POLL);
        }
        (run, command)
    }
}

/// Why a boot is over without its line: QEMU exited, the console shows a failure, or time.
fn stop_reason(
    vm: &mut Qemu,
    log: &str,
    t0: Instant,
    timeout: Duration,
    what: &str,
) -> Option<String> {
    if let Some(f) = serial::failure(log) {
        return Some(f);
    }
    if vm.exited() {
        return Some("QEMU exited".into());
    }
    if t0.elapsed() >= timeout {
        return Some(format!("no {what} within {} s", timeout.as_secs()));
    }
    None
}

/// The cloud-config of every ros boot: the benchmark's ssh key, and no NTP servers (the guest
/// may reach nothing but the host).
pub fn cloud_config(public_key: &str) -> String {
    format!("#cloud-config\nssh_authorized_keys:\n  - {public_key}\nrancher:\n  ntp:\n    servers: []\n")
}

/// Polls the forwarded ssh port from the host until sshd sends its banner. slirp accepts the
/// host's connection by itself, so only the banner shows that the guest's sshd accepted it.
struct SshProbe {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Option<f64>>,
}

impl SshProbe {
    fn start(port: u16, t0: Instant) -> SshProbe {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            while !flag.load(Ordering::Relaxed) {
                if banner(&addr) {
                    return Some(t0.elapsed().as_secs_f64());
                }
                sleep(Duration::from_millis(500));
            }
            None
        });
        SshProbe { stop, handle }
    }

    /// The time sshd first answered, waiting for it until `until`.
    fn finish(self, until: Instant) -> Option<f64> {
        while !self.handle.is_finished() && Instant::now() < until {
            sleep(POLL);
        }
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().ok().flatten()
    }
}

fn banner(addr: &SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(addr, Duration::from_secs(1)) else {
        return false;
    };
    if stream
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 4];
    let mut got = 0;
    while got < buf.len() {
        match stream.read(&mut buf[got..]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got += n,
        }
    }
    &buf == b"SSH-"
}
