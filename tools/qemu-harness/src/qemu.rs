//! A QEMU guest booted from the ISO or from vmlinuz + initrd, with its serial console captured
//! to a file, user networking restricted to the host (`restrict=on`) and ssh forwarded from a
//! loopback port. The guest is killed when the [`Qemu`] is dropped.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use regex::Regex;

use crate::accel::{probe_accel, Accel};
use crate::cidata::make_cidata;
use crate::error::{io, Error};
use crate::freeze::FreezeSigns;
use crate::l2_segment::netns_command;
use crate::ssh::Ssh;

const KERNEL_PANIC: &str = "Kernel panic - not syncing";

/// How many serial lines a failure shows.
pub const SERIAL_TAIL_LINES: usize = 200;

/// The default kernel arguments, the same as the ISO's default menu entry. ttyS0 is last so
/// that it is /dev/console.
pub const DEFAULT_APPEND: &str =
    "console=tty1 console=ttyS0 rancher.autologin=tty1 rancher.autologin=ttyS0";

#[derive(Debug, Clone)]
enum Boot {
    Iso(PathBuf),
    Kernel {
        vmlinuz: PathBuf,
        initrd: PathBuf,
    },
    /// From the first disk, through its boot loader (an installed disk or a cloud image).
    Disk {
        kernel_for_probe: PathBuf,
    },
}

#[derive(Debug, Clone)]
enum Disk {
    Blank(String),
    File(PathBuf),
}

/// Options of a guest; [`QemuBuilder::boot`] starts it.
#[derive(Debug, Clone)]
pub struct QemuBuilder {
    boot: Option<Boot>,
    append: Vec<String>,
    uefi: bool,
    memory_mib: u32,
    cpus: u32,
    cloud_config: Option<PathBuf>,
    disks: Vec<Disk>,
    ssh_port: Option<u16>,
    guestfwd: Vec<String>,
    /// The user network's subnet (`net=`), QEMU's 10.0.2.0/24 when unset.
    user_net: Option<String>,
    /// No user network: one NIC on a socket nobody answers (carrier, but no DHCP).
    no_network: bool,
    extra: Vec<String>,
    accel: Option<Accel>,
    /// `throttling.bps-write` on every attached disk: slow writes, to cut one in the middle.
    write_bps: Option<u64>,
    /// The network namespace QEMU runs in (`ip netns exec NAME qemu-system-x86_64 ...`).
    netns: Option<String>,
    /// More NICs, each on an existing tap device: (interface name, MAC address).
    taps: Vec<(String, String)>,
}

impl Default for QemuBuilder {
    fn default() -> Self {
        QemuBuilder {
            boot: None,
            append: Vec::new(),
            uefi: false,
            memory_mib: 1024,
            cpus: 2,
            cloud_config: None,
            disks: Vec::new(),
            ssh_port: None,
            guestfwd: Vec::new(),
            user_net: None,
            no_network: false,
            extra: Vec::new(),
            accel: None,
            write_bps: None,
            netns: None,
            taps: Vec::new(),
        }
    }
}

impl QemuBuilder {
    /// Boot the hybrid ISO as a CD-ROM (BIOS, or UEFI with [`uefi`](Self::uefi)).
    pub fn iso(mut self, iso: impl Into<PathBuf>) -> Self {
        self.boot = Some(Boot::Iso(iso.into()));
        self
    }

    /// Boot vmlinuz + initrd directly (`-kernel/-initrd/-append`).
    pub fn kernel(mut self, vmlinuz: impl Into<PathBuf>, initrd: impl Into<PathBuf>) -> Self {
        self.boot = Some(Boot::Kernel {
            vmlinuz: vmlinuz.into(),
            initrd: initrd.into(),
        });
        self
    }

    /// Boot from the first attached disk (its boot loader: BIOS, or UEFI with [`uefi`](Self::uefi)).
    /// `vmlinuz` is only used to probe the accelerator.
    pub fn from_disk(mut self, vmlinuz: impl Into<PathBuf>) -> Self {
        self.boot = Some(Boot::Disk {
            kernel_for_probe: vmlinuz.into(),
        });
        self
    }

    /// Extra kernel arguments, after the defaults (kernel boots only; the ISO uses GRUB's menu).
    pub fn append(mut self, args: &str) -> Self {
        self.append.push(args.to_string());
        self
    }

    /// Firmware: OVMF (UEFI) instead of SeaBIOS.
    pub fn uefi(mut self, uefi: bool) -> Self {
        self.uefi = uefi;
        self
    }

    pub fn memory(mut self, mib: u32) -> Self {
        self.memory_mib = mib;
        self
    }

    pub fn cpus(mut self, cpus: u32) -> Self {
        self.cpus = cpus;
        self
    }

    /// Attach a NoCloud drive (label `cidata`) with this file as user-data.
    pub fn cloud_config(mut self, user_data: impl Into<PathBuf>) -> Self {
        self.cloud_config = Some(user_data.into());
        self
    }

    /// Attach a blank virtio disk of `size` (qemu-img syntax: "2G", "512M").
    pub fn disk(mut self, size: &str) -> Self {
        self.disks.push(Disk::Blank(size.to_string()));
        self
    }

    /// Attach an existing disk image (qcow2 or raw, detected from the name).
    pub fn disk_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.disks.push(Disk::File(path.into()));
        self
    }

    /// Forward 127.0.0.1:`port` to the guest's ssh (a free port is picked otherwise).
    pub fn ssh_port(mut self, port: u16) -> Self {
        self.ssh_port = Some(port);
        self
    }

    /// A `guestfwd` rule, e.g. `tcp:10.0.2.100:80-tcp:127.0.0.1:8080`.
    /// The user network's subnet, e.g. `169.254.0.0/16` so that a `guestfwd` can sit on
    /// the metadata address 169.254.169.254.
    pub fn user_net(mut self, net: &str) -> Self {
        self.user_net = Some(net.to_owned());
        self
    }

    /// No network at all for the guest: one NIC with carrier that nothing answers (no DHCP,
    /// no metadata service). ssh is then unreachable; watch the serial console.
    pub fn no_network(mut self) -> Self {
        self.no_network = true;
        self
    }

    pub fn guestfwd(mut self, rule: &str) -> Self {
        self.guestfwd.push(rule.to_string());
        self
    }

    /// Limit writes to the attached disks to `bytes_per_sec` (a power-loss test cuts a long
    /// write in the middle).
    pub fn disk_write_limit(mut self, bytes_per_sec: u64) -> Self {
        self.write_bps = Some(bytes_per_sec);
        self
    }

    /// Runs QEMU inside the network namespace `name` (`ip netns exec NAME qemu-system-x86_64`;
    /// ip execs QEMU, so the child's PID is QEMU's). The user network's ssh forward then
    /// listens on 127.0.0.1 inside that namespace: reach it with
    /// [`Ssh::in_netns`](crate::Ssh::in_netns). See [`L2Segment`](crate::L2Segment).
    pub fn netns(mut self, name: &str) -> Self {
        self.netns = Some(name.to_owned());
        self
    }

    /// One more virtio NIC, after the user network's (so the first tap is the guest's eth1),
    /// on the existing tap device `ifname` with the MAC address `mac`
    /// (`-netdev tap,ifname=..,script=no,downscript=no`). The tap must be in QEMU's network
    /// namespace: see [`netns`](Self::netns) and [`L2Segment::add_tap`](crate::L2Segment::add_tap).
    pub fn tap(mut self, ifname: &str, mac: &str) -> Self {
        self.taps.push((ifname.to_owned(), mac.to_owned()));
        self
    }

    /// Raw QEMU arguments appended at the end.
    pub fn arg(mut self, arg: &str) -> Self {
        self.extra.push(arg.to_string());
        self
    }

    /// Force an accelerator instead of probing.
    pub fn accel(mut self, accel: Accel) -> Self {
        self.accel = Some(accel);
        self
    }

    /// Starts the guest with its serial console written to a log file.
    pub fn boot(self) -> Result<Qemu, Error> {
        let dir = tempfile::Builder::new()
            .prefix("ros-qemu")
            .tempdir()
            .map_err(io("create QEMU work dir"))?;
        let serial_log = dir.path().join("serial.log");
        let qemu_log = dir.path().join("qemu.log");
        let monitor = dir.path().join("monitor.sock");
        let ssh_port = match self.ssh_port {
            Some(p) => p,
            None => free_port()?,
        };
        let mut cmd = self.command(dir.path(), ssh_port)?;
        cmd.args(["-display", "none", "-monitor"])
            .arg(format!("unix:{},server=on,wait=off", monitor.display()))
            .arg("-serial")
            .arg(format!("file:{}", serial_log.display()));
        let command_line = shell_words(&cmd);
        let log = fs::File::create(&qemu_log).map_err(io("create qemu.log"))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().map_err(io("qemu.log"))?))
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(io(
                "start qemu-system-x86_64 (apt-get install qemu-system-x86)",
            ))?;
        Ok(Qemu {
            child: Some(child),
            serial_log,
            qemu_log,
            monitor,
            ssh_port,
            dir,
            command_line,
            netns: self.netns,
        })
    }

    /// The command for an interactive guest: serial console and monitor on this terminal.
    /// `dir` receives generated drives and must outlive QEMU.
    pub fn interactive_command(self, dir: &Path, ssh_port: u16) -> Result<Command, Error> {
        let mut cmd = self.command(dir, ssh_port)?;
        // -nodefaults leaves no serial port: add one, muxed with the monitor, on stdio.
        cmd.args(["-nographic", "-serial", "mon:stdio"]);
        Ok(cmd)
    }

    fn command(&self, dir: &Path, ssh_port: u16) -> Result<Command, Error> {
        let boot = self.boot.as_ref().ok_or(Error::NoBootMedium)?;
        let accel = match (self.accel, boot) {
            (Some(a), _) => a,
            (None, Boot::Kernel { vmlinuz, .. }) => probe_accel(vmlinuz),
            (None, Boot::Iso(iso)) => probe_accel(&iso_kernel(iso, dir)?),
            (None, Boot::Disk { kernel_for_probe }) => probe_accel(kernel_for_probe),
        };
        let mut cmd = match &self.netns {
            Some(ns) => netns_command(ns, "qemu-system-x86_64"),
            None => Command::new("qemu-system-x86_64"),
        };
        cmd.args(accel.qemu_args())
            .args([
                "-m",
                &self.memory_mib.to_string(),
                "-smp",
                &self.cpus.to_string(),
            ])
            .args(["-no-reboot", "-nodefaults", "-vga", "std"]);
        if self.uefi {
            cmd.arg("-bios").arg(ovmf()?);
        }
        match boot {
            Boot::Iso(iso) => {
                cmd.arg("-cdrom").arg(iso).args(["-boot", "d"]);
            }
            Boot::Disk { .. } => {
                cmd.args(["-boot", "c"]);
            }
            Boot::Kernel { vmlinuz, initrd } => {
                let mut append = DEFAULT_APPEND.to_string();
                for a in &self.append {
                    append.push(' ');
                    append.push_str(a);
                }
                cmd.arg("-kernel")
                    .arg(vmlinuz)
                    .arg("-initrd")
                    .arg(initrd)
                    .arg("-append")
                    .arg(append);
            }
        }
        if self.no_network {
            // A multicast socket on loopback: the NIC has carrier, and nothing ever answers.
            let port = free_port()?;
            cmd.arg("-netdev")
                .arg(format!(
                    "socket,id=n0,mcast=230.0.0.1:{port},localaddr=127.0.0.1"
                ))
                .args(["-device", "virtio-net-pci,netdev=n0"]);
        } else {
            let mut netdev = format!("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{ssh_port}-:22");
            if let Some(net) = &self.user_net {
                netdev.push_str(&format!(",net={net}"));
            }
            for rule in &self.guestfwd {
                netdev.push_str(&format!(",guestfwd={rule}"));
            }
            cmd.arg("-netdev")
                .arg(netdev)
                .args(["-device", "virtio-net-pci,netdev=n0"]);
        }
        for (i, (ifname, mac)) in self.taps.iter().enumerate() {
            let id = format!("n{}", i + 1);
            cmd.arg("-netdev")
                .arg(format!(
                    "tap,id={id},ifname={ifname},script=no,downscript=no"
                ))
                .arg("-device")
                .arg(format!("virtio-net-pci,netdev={id},mac={mac}"));
        }
        cmd.args(["-device", "virtio-rng-pci"]);
        if let Some(user_data) = &self.cloud_config {
            let seed = dir.join("cidata.iso");
            make_cidata(user_data, None, &seed)?;
            cmd.arg("-drive").arg(format!(
                "file={},if=virtio,format=raw,readonly=on",
                seed.display()
            ));
        }
        for (i, disk) in self.disks.iter().enumerate() {
            let (path, format) = match disk {
                Disk::Blank(size) => {
                    let path = dir.join(format!("disk{i}.qcow2"));
                    qemu_img_create(&path, size)?;
                    (path, "qcow2")
                }
                Disk::File(path) => {
                    let qcow = path.extension().is_some_and(|e| e == "qcow2");
                    (path.clone(), if qcow { "qcow2" } else { "raw" })
                }
            };
            let mut drive = format!("file={},if=virtio,format={format}", path.display());
            if let Some(bps) = self.write_bps {
                drive.push_str(&format!(",throttling.bps-write={bps}"));
            }
            cmd.arg("-drive").arg(drive);
        }
        cmd.args(&self.extra);
        Ok(cmd)
    }
}

/// `cmd` as one shell line (arguments with spaces or quotes are single-quoted).
fn shell_words(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| {
            let a = a.to_string_lossy();
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c));
            if plain {
                a.into_owned()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The kernel inside an ISO, for the KVM probe: dist's vmlinuz beside the ISO if present.
fn iso_kernel(iso: &Path, dir: &Path) -> Result<PathBuf, Error> {
    let beside = iso.with_file_name("vmlinuz");
    if beside.is_file() {
        return Ok(beside);
    }
    let out = dir.join("probe-vmlinuz");
    let status = Command::new("xorriso")
        .args(["-osirrox", "on", "-indev"])
        .arg(iso)
        .args(["-extract", "/boot/vmlinuz"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(io("run xorriso"))?;
    if !status.success() {
        return Err(Error::MissingArtifact(iso.to_path_buf()));
    }
    Ok(out)
}

fn ovmf() -> Result<PathBuf, Error> {
    ["/usr/share/ovmf/OVMF.fd", "/usr/share/qemu/OVMF.fd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::MissingArtifact(PathBuf::from(
                "/usr/share/ovmf/OVMF.fd (apt-get install ovmf)",
            ))
        })
}

fn qemu_img_create(path: &Path, size: &str) -> Result<(), Error> {
    let out = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(path)
        .arg(size)
        .output()
        .map_err(io("run qemu-img (apt-get install qemu-utils)"))?;
    if !out.status.success() {
        return Err(Error::Tool {
            tool: "qemu-img".into(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("find a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(io("find a free port"))?
        .port())
}

/// A running guest.
pub struct Qemu {
    child: Option<Child>,
    serial_log: PathBuf,
    qemu_log: PathBuf,
    monitor: PathBuf,
    ssh_port: u16,
    dir: tempfile::TempDir,
    command_line: String,
    netns: Option<String>,
}

impl Qemu {
    pub fn builder() -> QemuBuilder {
        QemuBuilder::default()
    }

    /// Waits until a serial line matches `pattern`; returns that line. On timeout or if QEMU
    /// exits, the error (also printed to stderr) holds the last 200 serial lines.
    pub fn wait_for_serial(&mut self, pattern: &str, timeout: Duration) -> Result<String, Error> {
        self.wait_serial(pattern, timeout, None)
    }

    /// [`wait_for_serial`](Self::wait_for_serial), but a guest that shows `signs` of a freeze
    /// ends the wait early with [`Error::GuestFrozen`].
    pub fn wait_for_serial_live(
        &mut self,
        pattern: &str,
        timeout: Duration,
        signs: FreezeSigns,
    ) -> Result<String, Error> {
        self.wait_serial(pattern, timeout, Some(signs))
    }

    fn wait_serial(
        &mut self,
        pattern: &str,
        timeout: Duration,
        freeze: Option<FreezeSigns>,
    ) -> Result<String, Error> {
        let re = Regex::new(pattern).map_err(|e| Error::Pattern(pattern.to_string(), e))?;
        let deadline = Instant::now() + timeout;
        let (mut last_len, mut last_change) = (0, Instant::now());
        loop {
            let log = self.serial_log();
            if let Some(line) = log.lines().find(|l| re.is_match(l)) {
                return Ok(line.to_string());
            }
            if log.len() != last_len {
                (last_len, last_change) = (log.len(), Instant::now());
            }
            let frozen = freeze.and_then(|f| f.check(&log, last_change.elapsed()));
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            let err = if log.contains(KERNEL_PANIC) {
                // The kernel will not recover; waiting out the timeout would only hide this.
                Some(Error::KernelPanic {
                    pattern: pattern.to_string(),
                    lines: SERIAL_TAIL_LINES,
                    tail: self.serial_tail(SERIAL_TAIL_LINES),
                })
            } else if let Some(status) = exited {
                Some(Error::QemuExited {
                    pattern: pattern.to_string(),
                    status: status.to_string(),
                    qemu_log: fs::read_to_string(&self.qemu_log).unwrap_or_default(),
                    lines: SERIAL_TAIL_LINES,
                    tail: self.serial_tail(SERIAL_TAIL_LINES),
                })
            } else if let Some(reason) = frozen {
                Some(Error::GuestFrozen {
                    pattern: pattern.to_string(),
                    reason,
                    lines: SERIAL_TAIL_LINES,
                    tail: self.serial_tail(SERIAL_TAIL_LINES),
                })
            } else if Instant::now() >= deadline {
                Some(Error::SerialTimeout {
                    pattern: pattern.to_string(),
                    secs: timeout.as_secs(),
                    lines: SERIAL_TAIL_LINES,
                    tail: self.serial_tail(SERIAL_TAIL_LINES),
                })
            } else {
                None
            };
            if let Some(err) = err {
                eprintln!("{err}");
                return Err(err);
            }
            sleep(Duration::from_millis(200));
        }
    }

    /// Everything the guest wrote to its serial console so far.
    pub fn serial_log(&self) -> String {
        fs::read(&self.serial_log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `n` lines of the serial console.
    pub fn serial_tail(&self, n: usize) -> String {
        let log = self.serial_log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    pub fn serial_log_path(&self) -> &Path {
        &self.serial_log
    }

    /// The loopback port forwarded to the guest's port 22.
    pub fn ssh_port(&self) -> u16 {
        self.ssh_port
    }

    /// The network namespace QEMU runs in, if [`QemuBuilder::netns`] was given.
    pub fn netns(&self) -> Option<&str> {
        self.netns.as_deref()
    }

    /// ssh as `rancher` with `key` to this guest's forwarded port, from inside its network
    /// namespace if it runs in one.
    pub fn ssh(&self, key: &Path) -> Ssh {
        let ssh = Ssh::new(self.ssh_port, key);
        match &self.netns {
            Some(ns) => ssh.in_netns(ns),
            None => ssh,
        }
    }

    /// The QEMU command line this guest was started with, as one shell line.
    pub fn command_line(&self) -> &str {
        &self.command_line
    }

    /// QEMU's process id while it runs (also inside a network namespace: `ip netns exec`
    /// execs QEMU).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether QEMU has exited (without waiting).
    pub fn exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => !matches!(child.try_wait(), Ok(None)),
            None => true,
        }
    }

    /// Scratch directory of this guest (generated drives, logs).
    pub fn work_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Waits until QEMU exits by itself (the guest powered off or rebooted: QEMU runs with
    /// -no-reboot), at most `timeout`; the error holds the last 200 serial lines.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<std::process::ExitStatus, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().map_err(io("wait for QEMU"))? {
                    self.child = None;
                    return Ok(status);
                }
            } else {
                return Err(Error::Monitor("QEMU was already stopped".into()));
            }
            if Instant::now() >= deadline {
                let err = Error::ExitTimeout {
                    secs: timeout.as_secs(),
                    lines: SERIAL_TAIL_LINES,
                    tail: self.serial_tail(SERIAL_TAIL_LINES),
                };
                eprintln!("{err}");
                return Err(err);
            }
            sleep(Duration::from_millis(200));
        }
    }

    /// Sends one command to the QEMU monitor (HMP), e.g. `system_powerdown` for the ACPI power
    /// button; returns what the monitor answered.
    pub fn monitor(&self, command: &str) -> Result<String, Error> {
        use std::io::{Read, Write};
        use std::os::unix::net::UnixStream;
        // QEMU creates the socket a moment after it starts: a command sent right after boot()
        // waits for it (up to 15 s) rather than failing with "No such file or directory".
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut stream = loop {
            match UnixStream::connect(&self.monitor) {
                Ok(s) => break s,
                Err(e)
                    if Instant::now() < deadline
                        && matches!(
                            e.kind(),
                            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                        ) =>
                {
                    sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(io("connect to the QEMU monitor")(e)),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(io("QEMU monitor"))?;
        let read_prompt = |stream: &mut UnixStream| -> Result<String, Error> {
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            while !seen.ends_with(b"(qemu) ") {
                let n = stream.read(&mut buf).map_err(io("read the QEMU monitor"))?;
                if n == 0 {
                    return Err(Error::Monitor("closed before its prompt".into()));
                }
                seen.extend_from_slice(&buf[..n]);
            }
            Ok(String::from_utf8_lossy(&seen).into_owned())
        };
        read_prompt(&mut stream)?;
        stream
            .write_all(format!("{command}\n").as_bytes())
            .map_err(io("write the QEMU monitor"))?;
        let answer = read_prompt(&mut stream)?;
        Ok(answer.trim_end_matches("(qemu) ").to_string())
    }

    /// Stops the guest now.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::L2Segment;
    use std::os::unix::fs::MetadataExt;

    /// The command line `builder` would start, with a fixed ssh port and no accelerator probe.
    fn line(builder: QemuBuilder) -> String {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cmd = builder
            .accel(Accel::Tcg)
            .command(dir.path(), 2222)
            .unwrap_or_else(|e| panic!("{e}"));
        shell_words(&cmd)
    }

    fn kernel() -> QemuBuilder {
        Qemu::builder().kernel("/x/vmlinuz", "/x/initrd")
    }

    #[test]
    fn without_a_netns_qemu_is_run_directly_with_one_user_nic() {
        let l = line(kernel());
        assert!(l.starts_with("qemu-system-x86_64 "), "{l}");
        assert!(
            l.contains(
                " -netdev user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22 \
                 -device virtio-net-pci,netdev=n0 "
            ),
            "{l}"
        );
        assert!(!l.contains("tap"), "{l}");
    }

    #[test]
    fn a_netns_wraps_qemu_in_ip_netns_exec_and_taps_come_after_the_user_nic() {
        let l = line(
            kernel()
                .netns("ros-l2-1-0")
                .tap("swarm-1", "52:54:00:10:10:11")
                .tap("extra", "52:54:00:10:10:99"),
        );
        assert!(
            l.starts_with("ip netns exec ros-l2-1-0 qemu-system-x86_64 -accel tcg "),
            "{l}"
        );
        let user = " -netdev user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22 \
                    -device virtio-net-pci,netdev=n0 ";
        let tap1 = " -netdev tap,id=n1,ifname=swarm-1,script=no,downscript=no \
                    -device virtio-net-pci,netdev=n1,mac=52:54:00:10:10:11 ";
        let tap2 = " -netdev tap,id=n2,ifname=extra,script=no,downscript=no \
                    -device virtio-net-pci,netdev=n2,mac=52:54:00:10:10:99 ";
        let at = |part: &str| l.find(part).unwrap_or_else(|| panic!("no {part:?} in {l}"));
        // PCI slots follow the command line: eth0 is the user network, eth1 the first tap.
        assert!(at(user) < at(tap1) && at(tap1) < at(tap2), "{l}");
    }

    /// Polls `f` every 100 ms for up to 10 s.
    fn within_10s(mut f: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if f() {
                return true;
            }
            sleep(Duration::from_millis(100));
        }
        false
    }

    /// A real QEMU (firmware only: no boot medium, nothing to emulate for long) started in a
    /// segment: it runs in the namespace, holds its tap (carrier), forwards ssh inside the
    /// namespace, and kill() stops QEMU itself.
    #[test]
    fn a_guest_in_a_netns_opens_its_tap_there_and_kill_stops_qemu() {
        let segment = L2Segment::create("ros-l2q").unwrap_or_else(|e| panic!("{e}"));
        segment.add_tap("vm-a").unwrap_or_else(|e| panic!("{e}"));
        let tap_state = || {
            segment
                .ip(&["-o", "link", "show", "vm-a"])
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert!(tap_state().contains("NO-CARRIER"), "{}", tap_state());
        let mut vm = Qemu::builder()
            .from_disk("/nonexistent/vmlinuz")
            .accel(Accel::Tcg)
            .memory(64)
            .cpus(1)
            .netns(segment.name())
            .tap("vm-a", "52:54:00:10:10:01")
            .boot()
            .unwrap_or_else(|e| panic!("{e}"));
        let pid = vm.pid().unwrap_or_else(|| panic!("no pid"));
        let carrier = within_10s(|| {
            let s = tap_state();
            s.contains("LOWER_UP") && !s.contains("NO-CARRIER")
        });
        let qemu_log = || fs::read_to_string(&vm.qemu_log).unwrap_or_default();
        assert!(carrier, "{}\nqemu: {}", tap_state(), qemu_log());
        let ns_inode = |p: &str| fs::metadata(p).map(|m| m.ino()).unwrap_or_default();
        assert_eq!(
            ns_inode(&format!("/proc/{pid}/ns/net")),
            ns_inode(&format!("/run/netns/{}", segment.name())),
            "QEMU is not in the segment's namespace"
        );
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        assert_eq!(comm.trim(), "qemu-system-x86", "the child is not QEMU");
        let port = format!("127.0.0.1:{}", vm.ssh_port());
        let listening = within_10s(|| {
            segment
                .command("ss")
                .args(["-Hltn"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&port))
        });
        assert!(listening, "no ssh forward on {port} in the namespace");
        assert_eq!(vm.netns(), Some(segment.name()));
        let ssh = format!("{:?}", vm.ssh(Path::new("/k/id")));
        assert!(
            ssh.contains(&format!("netns: Some({:?})", segment.name())),
            "{ssh}"
        );
        assert!(vm.command_line().starts_with(&format!(
            "ip netns exec {} qemu-system-x86_64 ",
            segment.name()
        )));

        vm.kill();
        assert!(vm.exited());
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "QEMU still runs"
        );
        assert!(
            within_10s(|| tap_state().contains("NO-CARRIER")),
            "{}",
            tap_state()
        );
    }
}
