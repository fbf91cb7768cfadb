//! Test harness: network namespaces the test creates (deleted on drop, even on panic), veth
//! pairs, a real dnsmasq, and a thread that runs netconf inside a namespace.
//!
//! The netconf thread unshares its mount namespace, enters the network namespace, mounts a fresh
//! sysfs (so /sys/class/net shows that namespace's links) and private tmpfs over dhcpcd's run and
//! lease directories (so parallel tests' dhcpcds never meet). Child processes (dhcpcd, hooks)
//! inherit all of it. Nothing here touches the host's interfaces or /etc.

#![allow(dead_code)]

use netconf::{NetworkConfig, RunOptions};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("netconf=debug")
        .with_test_writer()
        .try_init();
}

/// Runs a command, panicking with its output when it fails; returns stdout.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct Netns {
    pub name: String,
    owned: bool,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!(
            "ncf-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name, owned: true };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// A handle on a namespace another guard owns (usable from the netconf thread).
    pub fn borrowed(name: &str) -> Netns {
        Netns {
            name: name.to_owned(),
            owned: false,
        }
    }

    /// `ip -n NS ARGS…`
    pub fn ip(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// Global addresses of `dev` as `inet 10.0.0.2/24` / `inet6 fd00::2/64`, sorted.
    pub fn addrs(&self, dev: &str) -> Vec<String> {
        let out = self.ip(&["-o", "addr", "show", "dev", dev, "scope", "global"]);
        let mut v: Vec<String> = out
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some(format!("{} {}", f.get(2)?, f.get(3)?))
            })
            .collect();
        v.sort();
        v
    }

    /// Whether `dev` exists here.
    pub fn has_link(&self, dev: &str) -> bool {
        Command::new("ip")
            .args(["-n", &self.name, "link", "show", "dev", dev])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Whether the kernel can make links of `kind` (bond, vlan…) here.
    pub fn supports(&self, kind: &str) -> bool {
        let ok = match kind {
            "vlan" => {
                self.ip(&[
                    "link", "add", "probe0", "type", "veth", "peer", "name", "probe1",
                ]);
                let ok = Command::new("ip")
                    .args([
                        "-n", &self.name, "link", "add", "link", "probe0", "name", "probe0.9",
                        "type", "vlan", "id", "9",
                    ])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                self.ip(&["link", "del", "probe0"]);
                return ok;
            }
            k => Command::new("ip")
                .args(["-n", &self.name, "link", "add", "probe0", "type", k])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
        };
        if ok {
            self.ip(&["link", "del", "probe0"]);
        }
        ok
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if self.owned {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.name])
                .status();
        }
    }
}

/// A veth pair with `a` in `ns_a` and `b` in `ns_b`, optional MAC on `a`.
pub fn veth(ns_a: &Netns, a: &str, mac: Option<&str>, ns_b: &Netns, b: &str) {
    let mut args = vec!["link", "add", a];
    if let Some(m) = mac {
        args.extend(["address", m]);
    }
    args.extend(["type", "veth", "peer", "name", b, "netns", &ns_b.name]);
    ns_a.ip(&args);
}

/// A real dnsmasq serving DHCP on `iface` in `ns`; killed on drop.
pub struct Dnsmasq {
    child: Child,
    pub dir: tempfile::TempDir,
}

impl Dnsmasq {
    pub fn start(
        ns: &Netns,
        iface: &str,
        server_cidr: &str,
        range: &str,
        extra: &[&str],
    ) -> Dnsmasq {
        ns.ip(&["addr", "add", server_cidr, "dev", iface]);
        ns.ip(&["link", "set", iface, "up"]);
        let dir = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = [
            "netns",
            "exec",
            &ns.name,
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
            "--port=0",
            "--bind-interfaces",
            "--user=root",
            "--log-dhcp",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--interface={iface}"));
        args.push(format!("--dhcp-range={range}"));
        args.push(format!(
            "--dhcp-leasefile={}",
            dir.path().join("leases").display()
        ));
        args.push(format!("--pid-file={}", dir.path().join("pid").display()));
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new("ip")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Dnsmasq { child, dir }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `f` on a fresh single-threaded runtime in a thread inside `ns` (see the module doc).
pub fn in_netns<F, Fut, R>(ns: &Netns, f: F) -> R
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = R>,
    R: Send + 'static,
{
    let path = PathBuf::from("/run/netns").join(&ns.name);
    let t = std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_FS).expect("unshare mount ns");
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_SLAVE,
            None::<&str>,
        )
        .expect("make / a slave mount");
        let fd = std::fs::File::open(&path).expect("open netns");
        setns(&fd, CloneFlags::CLONE_NEWNET).expect("setns");
        umount2("/sys", MntFlags::MNT_DETACH).expect("detach /sys");
        mount(
            Some("sysfs"),
            "/sys",
            Some("sysfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .expect("mount sysfs");
        for d in ["/run/dhcpcd", "/var/lib/dhcpcd"] {
            std::fs::create_dir_all(d).expect("dhcpcd dir");
            mount(
                Some("tmpfs"),
                d,
                Some("tmpfs"),
                MsFlags::empty(),
                None::<&str>,
            )
            .expect("tmpfs");
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(f())
    });
    match t.join() {
        Ok(r) => r,
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// Options with every path in `dir`.
pub fn options(dir: &Path) -> RunOptions {
    RunOptions {
        resolv_conf: dir.join("resolv.conf"),
        run_dir: dir.join("run"),
        hook_timeout: Duration::from_secs(30),
        ..RunOptions::default()
    }
}

pub fn config(yaml: &str) -> NetworkConfig {
    yaml_serde::from_str(yaml).unwrap_or_else(|e| panic!("bad test config: {e}\n{yaml}"))
}

/// Polls `f` (every 100 ms, at most `secs` seconds) until it returns Some.
pub async fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
