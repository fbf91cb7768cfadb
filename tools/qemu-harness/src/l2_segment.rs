//! A private Ethernet segment for multi-VM tests: a network namespace made for the test, with a
//! bridge `br0` and persistent tap devices enslaved to it. Guests started inside the namespace
//! ([`QemuBuilder::netns`](crate::QemuBuilder::netns)) attach a NIC to a tap
//! ([`QemuBuilder::tap`](crate::QemuBuilder::tap)) and so share one L2 segment that nothing
//! outside the namespace can reach, and that reaches nothing outside it. Dropping the segment
//! deletes the namespace, and with it the bridge and the taps. Needs root and iproute2.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{io, Error};

/// The bridge every tap is enslaved to, inside the namespace.
pub const BRIDGE: &str = "br0";

/// Interface names are at most 15 bytes (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace holding a bridge; deleted on drop.
#[derive(Debug)]
pub struct L2Segment {
    name: String,
}

impl L2Segment {
    /// Creates a namespace named `PREFIX-PID-N` (unique in this process, and not taken by
    /// another), brings its `lo` up (so that `hostfwd` on 127.0.0.1 works inside it) and adds
    /// the bridge `br0`, up, without an address.
    pub fn create(prefix: &str) -> Result<L2Segment, Error> {
        let pid = std::process::id();
        let name = loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let name = format!("{prefix}-{pid}-{n}");
            if !Path::new("/run/netns").join(&name).exists() {
                break name;
            }
            if n > 1000 {
                return Err(Error::Tool {
                    tool: "ip netns add".into(),
                    stderr: format!("every namespace name {prefix}-{pid}-N is taken"),
                });
            }
        };
        ip(&["netns", "add", &name])?;
        // From here on, a failure deletes the namespace (drop).
        let segment = L2Segment { name };
        segment.ip(&["link", "set", "lo", "up"])?;
        // No STP: a port forwards as soon as it is up.
        segment.ip(&[
            "link",
            "add",
            BRIDGE,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])?;
        segment.ip(&["link", "set", BRIDGE, "up"])?;
        Ok(segment)
    }

    /// The namespace's name, for [`QemuBuilder::netns`](crate::QemuBuilder::netns) and
    /// [`Ssh::in_netns`](crate::Ssh::in_netns).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates the persistent tap `ifname` inside the namespace, enslaved to `br0` and up. It
    /// has carrier once a QEMU started in the namespace opens it.
    pub fn add_tap(&self, ifname: &str) -> Result<(), Error> {
        check_ifname(ifname)?;
        self.ip(&["tuntap", "add", ifname, "mode", "tap"])?;
        self.ip(&["link", "set", ifname, "master", BRIDGE])?;
        self.ip(&["link", "set", ifname, "up"])?;
        Ok(())
    }

    /// Gives the bridge an address (e.g. `10.10.0.1/24`), so that programs run in the
    /// namespace reach the guests on the segment.
    pub fn set_bridge_address(&self, cidr: &str) -> Result<(), Error> {
        self.ip(&["addr", "add", cidr, "dev", BRIDGE])?;
        Ok(())
    }

    /// Runs `ip -n NAMESPACE ARGS...`; its stdout, or an error with its stderr.
    pub fn ip(&self, args: &[&str]) -> Result<String, Error> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// `program` to be run inside the namespace (`ip netns exec NAMESPACE program`).
    pub fn command(&self, program: &str) -> Command {
        netns_command(&self.name, program)
    }
}

impl Drop for L2Segment {
    fn drop(&mut self) {
        // Deleting the namespace deletes its bridge and taps (once no QEMU holds it).
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!(
                "qemu-harness: cannot delete network namespace {}: {e}",
                self.name
            );
        }
    }
}

/// `program` run as `ip netns exec NS program` (ip execs it: its PID is the program's).
pub(crate) fn netns_command(ns: &str, program: &str) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, program]);
    cmd
}

fn check_ifname(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= IFNAME_MAX
        && name != "."
        && name != ".."
        && !name.contains(|c: char| c == '/' || c == ':' || c.is_whitespace());
    if ok {
        Ok(())
    } else {
        Err(Error::Tool {
            tool: "ip tuntap add".into(),
            stderr: format!("{name:?} is not a valid interface name (1 to {IFNAME_MAX} bytes, no '/', ':' or spaces)"),
        })
    }
}

fn ip(args: &[&str]) -> Result<String, Error> {
    let out: Output = Command::new("ip")
        .args(args)
        .output()
        .map_err(io("run ip (apt-get install iproute2)"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Tool {
            tool: format!("ip {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exists(name: &str) -> bool {
        Path::new("/run/netns").join(name).exists()
    }

    #[test]
    fn a_segment_has_a_bridge_with_its_taps_and_is_gone_after_drop() {
        let segment = L2Segment::create("ros-l2t").unwrap_or_else(|e| panic!("{e}"));
        let name = segment.name().to_owned();
        assert!(name.starts_with(&format!("ros-l2t-{}-", std::process::id())));
        assert!(exists(&name));
        segment.add_tap("tap-a").unwrap_or_else(|e| panic!("{e}"));
        segment.add_tap("tap-b").unwrap_or_else(|e| panic!("{e}"));
        let ports = segment
            .ip(&["-o", "link", "show", "master", BRIDGE])
            .unwrap_or_else(|e| panic!("{e}"));
        for tap in ["tap-a", "tap-b"] {
            assert!(ports.contains(&format!(": {tap}: ")), "{ports}");
        }
        let lo = segment
            .ip(&["-o", "link", "show", "lo"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(lo.contains(",UP"), "{lo}");
        // The host has no such tap: it lives in the namespace only.
        assert!(ip(&["link", "show", "tap-a"]).is_err());
        // A duplicate tap is refused with ip's own error.
        let dup = segment
            .add_tap("tap-a")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(dup.contains("ip -n"), "{dup}");
        // Programs run in the namespace see its bridge.
        segment
            .set_bridge_address("10.10.99.1/24")
            .unwrap_or_else(|e| panic!("{e}"));
        let out = segment
            .command("ip")
            .args(["-o", "-4", "addr", "show", "dev", BRIDGE])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("inet 10.10.99.1/24"), "{said}");

        let other = L2Segment::create("ros-l2t").unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(other.name(), name);
        drop(other);
        drop(segment);
        assert!(!exists(&name), "{name} was not deleted");
    }

    #[test]
    fn tap_names_longer_than_ifnamsiz_are_refused_before_running_ip() {
        let long = "a-very-long-tap0"; // 16 bytes
        let err = check_ifname(long).unwrap_err().to_string();
        assert!(err.contains("not a valid interface name"), "{err}");
        assert!(check_ifname("swarm-3").is_ok());
        assert!(check_ifname("a/b").is_err());
        assert!(check_ifname("").is_err());
    }
}
