//! Networking and cloud-init, booted for real: a NoCloud drive with a rich cloud-config, an
//! EC2-style metadata service reached through QEMU's guestfwd, and a boot with no network and
//! no datasource at all. One guest at a time (two cores, TCG).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ros_e2e::{
    boot_ready, boot_until, dist, must, ssh_when_up, MetadataServer, Qemu, Ssh, SshKey, FROZEN,
    READY_LINE, READY_TIMEOUT,
};

static ONE_GUEST: Mutex<()> = Mutex::new(());

/// The second NIC's MAC: the cloud-config matches it with `mac=`.
const SECOND_MAC: &str = "52:54:00:12:34:57";

/// Polls `cmd` until `check` holds (config applied by a service that is still starting).
fn eventually(ssh: &Ssh, limit: Duration, cmd: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + limit;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(out) = ssh.ok(cmd) {
            if check(&out) {
                return out;
            }
            last = out;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    panic!("`{cmd}` never satisfied the check; last output:\n{last}");
}

/// A raw disk holding a swap signature, made with the host's mkswap.
fn swap_disk(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("swap.raw");
    let f = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{e}"));
    f.set_len(32 << 20).unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new("mkswap")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("mkswap: {e}"));
    assert!(out.status.success(), "mkswap: {out:?}");
    path
}

#[test]
fn rich_nocloud_config_every_effect_checked_over_ssh() {
    let _one = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let key1 = SshKey::generate().unwrap_or_else(|e| panic!("{e}"));
    let key2 = SshKey::generate().unwrap_or_else(|e| panic!("{e}"));
    let user_data = dir.path().join("user-data");
    let cc = format!(
        r#"#cloud-config
hostname: rich-e2e
ssh_authorized_keys:
  - {k1}
  - {k2}
  - {k1}
write_files:
  - path: /home/rancher/console-file.txt
    content: "into the console\n"
    owner: rancher
    permissions: "0600"
  - path: /home/rancher/b64.txt
    encoding: b64
    content: aGVsbG8gYmFzZTY0Cg==
  - path: /etc/ros-e2e-ntp.txt
    container: ntp
    content: "into the ntp container\n"
runcmd:
  - [sh, -c, "if grep -q ':0016 00000000:0000 0A' /proc/net/tcp; then echo listening; else echo not-listening; fi > /home/rancher/runcmd-sshd"]
  - [sh, -c, "echo list-form > /home/rancher/runcmd-list"]
  - "false"
  - sleep 100000
  - echo string-form > /home/rancher/runcmd-string
  - echo ran >> /home/rancher/runcmd-count
mounts:
  - [/dev/vdb, none, swap, sw]
rancher:
  runcmd_timeout: 5
  ntp:
    servers: []
  sysctl:
    vm.swappiness: "13"
  modules: [nbd]
  network:
    interfaces:
      "mac={mac}":
        address: 10.0.3.50/24
        mtu: 1400
        vlans: "100,200:vlan-two"
      bond0:
        address: 10.0.4.50/24
        bond_opts: {{mode: active-backup, miimon: "100"}}
      eth2: {{bond: bond0}}
      eth3: {{bond: bond0}}
"#,
        k1 = key1.public,
        k2 = key2.public,
        mac = SECOND_MAC,
    );
    std::fs::write(&user_data, cc).unwrap_or_else(|e| panic!("{e}"));
    let mcast = 40000 + std::process::id() % 20000;
    let builder = Qemu::builder()
        .iso(dist().iso())
        .memory(1024)
        .cloud_config(&user_data)
        .disk_file(swap_disk(dir.path()))
        .arg("-netdev")
        .arg("user,id=n1,restrict=on,net=10.0.3.0/24")
        .arg("-device")
        .arg(&format!("virtio-net-pci,netdev=n1,mac={SECOND_MAC}"))
        // Two NICs for the bond: a multicast socket on loopback gives them carrier.
        .arg("-netdev")
        .arg(&format!(
            "socket,id=n2,mcast=230.0.0.1:{mcast},localaddr=127.0.0.1"
        ))
        .arg("-device")
        .arg("virtio-net-pci,netdev=n2")
        .arg("-netdev")
        .arg(&format!(
            "socket,id=n3,mcast=230.0.0.1:{mcast},localaddr=127.0.0.1"
        ))
        .arg("-device")
        .arg("virtio-net-pci,netdev=n3");
    let (vm, ssh) = boot_ready(builder, &key1.private);

    // Both keys log in, and the repeated one is written once.
    let ssh2 = Ssh::new(vm.ssh_port(), &key2.private);
    assert_eq!(must(&vm, ssh2.ok("echo second-key")), "second-key\n");
    let keys = must(&vm, ssh.ok("cat /home/rancher/.ssh/authorized_keys"));
    assert_eq!(keys.matches(key1.public.as_str()).count(), 1, "{keys}");
    assert_eq!(keys.matches(key2.public.as_str()).count(), 1, "{keys}");

    assert_eq!(must(&vm, ssh.ok("hostname")).trim(), "rich-e2e");
    assert!(must(&vm, ssh.ok("cat /etc/hosts")).contains("127.0.1.1\trich-e2e"));

    // write_files: the console's (owner, mode, base64) and the ntp container's.
    assert_eq!(
        must(&vm, ssh.ok("stat -c '%U %a' /home/rancher/console-file.txt; cat /home/rancher/console-file.txt /home/rancher/b64.txt")),
        "rancher 600\ninto the console\nhello base64\n"
    );
    assert_eq!(
        must(
            &vm,
            ssh.ok("sudo system-docker exec ntp cat /etc/ros-e2e-ntp.txt")
        ),
        "into the ntp container\n"
    );

    // runcmd, after sshd: the list and the string both ran although the command between them
    // failed and the next hung until rancher.runcmd_timeout (5 s) killed it.
    let ran = ssh.eventually(
        Duration::from_secs(90),
        "cat /home/rancher/runcmd-list /home/rancher/runcmd-string",
        |o| o == "list-form\nstring-form\n",
    );
    assert!(ran.is_ok(), "runcmd: {ran:?}\n{}", vm.serial_tail(100));
    // The first command saw sshd's listening socket: runcmd waited for it.
    assert_eq!(
        must(&vm, ssh.ok("cat /home/rancher/runcmd-sshd")).trim(),
        "listening"
    );
    let log = must(&vm, ssh.ok("sudo system-docker logs console 2>&1"));
    assert!(log.contains("command timed out; killed"), "{log}");
    // Once per boot: a console restart does not run it again. The restarted console says it
    // skipped runcmd before it starts sshd; the count is read after the commands' own time
    // (the timeout, 5 s) has passed twice over.
    let _ = ssh.run("sudo system-docker restart console");
    let skipped = ssh.eventually(
        Duration::from_secs(120),
        "sudo system-docker logs console 2>&1 | grep -c 'runcmd already ran this boot' || true",
        |o| o.trim() == "1",
    );
    assert!(skipped.is_ok(), "{skipped:?}\n{}", vm.serial_tail(60));
    let count = must(&vm, ssh.ok("sleep 10; cat /home/rancher/runcmd-count"));
    assert_eq!(count, "ran\n", "runcmd ran again");

    // The dotted sysctl, the module, the swap device.
    assert_eq!(
        must(&vm, ssh.ok("cat /proc/sys/vm/swappiness")).trim(),
        "13"
    );
    must(&vm, ssh.ok("test -d /sys/module/nbd"));
    assert!(
        must(&vm, ssh.ok("cat /proc/swaps")).contains("/dev/vdb"),
        "swap on /dev/vdb missing"
    );

    // The second NIC, matched by MAC: exactly the static address, the MTU, no DHCP lease.
    let addrs = eventually(
        &ssh,
        Duration::from_secs(60),
        "ip -4 -o addr show dev eth1 | awk '{print $4}'",
        |o| o.trim() == "10.0.3.50/24",
    );
    assert_eq!(addrs.trim(), "10.0.3.50/24");
    assert!(must(&vm, ssh.ok("ip link show dev eth1")).contains("mtu 1400"));
    // The kernel's prefix route follows the link's state, which settles after the address.
    eventually(
        &ssh,
        Duration::from_secs(30),
        "ip -4 route show dev eth1",
        |o| o.trim() == "10.0.3.0/24 proto kernel scope link src 10.0.3.50",
    );
    // VLANs 100 and 200 on eth1, the second with its own name; guest kernel's 8021q.
    let vlan = must(
        &vm,
        ssh.ok("ip -d link show eth1.100; ip -d link show vlan-two"),
    );
    assert!(vlan.contains("vlan protocol 802.1Q id 100"), "{vlan}");
    assert!(vlan.contains("vlan protocol 802.1Q id 200"), "{vlan}");
    assert!(vlan.contains("vlan-two@eth1"), "{vlan}");

    // The bond: its mode read back from sysfs, both slaves, the address on the bond only.
    assert_eq!(
        must(
            &vm,
            ssh.ok("cat /sys/class/net/bond0/bonding/mode /sys/class/net/bond0/bonding/slaves")
        ),
        "active-backup 1\neth2 eth3\n"
    );
    assert!(must(&vm, ssh.ok("ip -4 -o addr show dev bond0")).contains("10.0.4.50/24"));
    assert_eq!(
        must(&vm, ssh.ok("ip -4 -o addr show dev eth2 | wc -l")).trim(),
        "0"
    );

    // The first NIC still has its DHCP lease.
    assert!(must(&vm, ssh.ok("ip -4 -o addr show dev eth0")).contains("10.0.2.15/24"));
}

#[test]
fn ec2_metadata_service_through_guestfwd() {
    let _one = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let key = SshKey::generate().unwrap_or_else(|e| panic!("{e}"));
    let mut routes = BTreeMap::new();
    routes.insert(
        "/latest/user-data".to_owned(),
        "#cloud-config\nwrite_files:\n  - path: /home/rancher/from-ec2.txt\n    content: \"from ec2 user-data\\n\"\nrancher:\n  ntp:\n    servers: []\n".to_owned(),
    );
    routes.insert(
        "/latest/meta-data/local-hostname".to_owned(),
        "ec2-e2e".to_owned(),
    );
    routes.insert(
        "/latest/meta-data/hostname".to_owned(),
        "ec2-e2e".to_owned(),
    );
    // How the probe tells EC2 from other services on the same address.
    routes.insert(
        "/latest/meta-data/instance-id".to_owned(),
        "i-0123456789abcdef0".to_owned(),
    );
    routes.insert(
        "/latest/meta-data/public-keys/".to_owned(),
        "0=ros-e2e".to_owned(),
    );
    routes.insert(
        "/latest/meta-data/public-keys/0/openssh-key".to_owned(),
        key.public.clone(),
    );
    let server = MetadataServer::start(routes).unwrap_or_else(|e| panic!("{e}"));
    let d = dist();
    // The user network sits on 169.254.0.0/16 so that the guestfwd can take the real metadata
    // address: the guest uses EC2's defaults, unchanged.
    let builder = Qemu::builder()
        .kernel(d.vmlinuz(), d.small_initrd())
        .arg("-cdrom")
        .arg(&d.iso().display().to_string())
        .append("rancher.cloud_init.datasources=[ec2]")
        .user_net("169.254.0.0/16")
        // `cmd:` starts one busybox nc per guest connection; a `tcp:` target would be a single
        // chardev connection that only the first request could use.
        .guestfwd(&format!(
            "tcp:169.254.169.254:80-cmd:busybox nc 127.0.0.1 {}",
            server.port()
        ))
        .memory(1024);
    let (vm, _) = boot_until(&builder, READY_LINE, READY_TIMEOUT);
    let ssh = Ssh::new(vm.ssh_port(), &key.private);
    if let Err(e) = ssh.wait(Duration::from_secs(120)) {
        panic!(
            "ssh never answered: {e}\nmetadata requests: {:?}\n{}",
            server.requests(),
            vm.serial_tail(60)
        );
    }

    assert_eq!(must(&vm, ssh.ok("hostname")).trim(), "ec2-e2e");
    assert_eq!(
        must(&vm, ssh.ok("cat /home/rancher/from-ec2.txt")),
        "from ec2 user-data\n"
    );
    let saved = must(&vm, ssh.ok("sudo cat /var/lib/rancher/conf/metadata"));
    assert!(saved.contains("ec2-e2e"), "{saved}");

    // IMDSv2: a token first, then every GET carried it.
    let reqs = server.requests();
    assert_eq!(
        reqs.first().map(|r| (r.method.as_str(), r.path.as_str())),
        Some(("PUT", "/latest/api/token")),
        "{reqs:?}"
    );
    assert!(
        reqs.iter()
            .filter(|r| r.method == "GET")
            .all(|r| r.token.is_some()),
        "{reqs:?}"
    );
}

#[test]
fn no_network_and_no_datasource_still_reaches_ready() {
    let _one = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let d = dist();
    // Every datasource enabled, a NIC with carrier and no DHCP server, no drive: DHCP gives up
    // after dhcp_timeout and every probe after its bound.
    let builder = Qemu::builder()
        .kernel(d.vmlinuz(), d.small_initrd())
        .arg("-cdrom")
        .arg(&d.iso().display().to_string())
        .append("rancher.cloud_init.datasources=[*]")
        .no_network()
        .memory(1024);
    let started = Instant::now();
    let (vm, line) = boot_until(&builder, READY_LINE, READY_TIMEOUT);
    let serial = vm.serial_log();
    // cloud-init ran, found nothing, and said so; then the system still came up.
    assert!(
        serial.contains("service up service=cloud-init"),
        "{}",
        vm.serial_tail(200)
    );
    eprintln!(
        "ready without a network: {line} ({} s host)",
        started.elapsed().as_secs()
    );
}

/// Guest seconds a boot whose NIC has no carrier may take beyond `dhcp_timeout` to be ready
/// (a TCG boot with a network is ready in about 30 s).
const NO_CARRIER_SLACK_S: f64 = 90.0;

#[test]
fn no_carrier_reaches_ready_within_dhcp_timeout_and_a_huge_shutdown_timeout_still_powers_off() {
    let _one = ONE_GUEST.lock().unwrap_or_else(|e| e.into_inner());
    let d = dist();
    let dhcp_timeout: u32 = 5;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let key = SshKey::generate().unwrap_or_else(|e| panic!("{e}"));
    let user_data = dir.path().join("user-data");
    std::fs::write(
        &user_data,
        format!("#cloud-config\nssh_authorized_keys:\n  - {}\n", key.public),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // NoCloud from a disk: the datasource needs no network.
    let builder = Qemu::builder()
        .kernel(d.vmlinuz(), d.initrd())
        .append(&format!(
            "rancher.network.dhcp_timeout={dhcp_timeout} rancher.shutdown_timeout=99999999999"
        ))
        .cloud_config(&user_data)
        .memory(1024)
        // Paused (-S) so that the link is down before the guest's driver first looks.
        .arg("-S");
    let mut vm = builder.boot().unwrap_or_else(|e| panic!("{e}"));
    vm.monitor("set_link n0 off")
        .unwrap_or_else(|e| panic!("{e}"));
    vm.monitor("cont").unwrap_or_else(|e| panic!("{e}"));
    let line = vm
        .wait_for_serial_live(READY_LINE, READY_TIMEOUT, FROZEN)
        .unwrap_or_else(|e| panic!("{e}\n{}", vm.serial_tail(200)));
    let seconds: f64 = line
        .split_whitespace()
        .rev()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no seconds in {line:?}"));
    assert!(
        seconds <= f64::from(dhcp_timeout) + NO_CARRIER_SLACK_S,
        "{line}\n{}",
        vm.serial_tail(200)
    );
    eprintln!("ready with no carrier: {line}");

    // Carrier back: the DHCP client that kept trying gets its lease, and netconf's log shows
    // the link really was down for the whole dhcp_timeout.
    vm.monitor("set_link n0 on")
        .unwrap_or_else(|e| panic!("{e}"));
    let ssh = ssh_when_up(&vm, &key.private);
    let log = must(&vm, ssh.ok("sudo system-docker logs network 2>&1"));
    assert!(log.contains("no DHCP lease within dhcp_timeout"), "{log}");

    // The same boot: a shutdown_timeout too large for any deadline (it made PID 1 panic) is a
    // config error naming the key, and the ACPI power button still powers off.
    assert!(
        vm.serial_log().contains(
            "rancher.shutdown_timeout: invalid value: 99999999999 seconds is out of range"
        ),
        "{}",
        vm.serial_tail(200)
    );
    vm.monitor("system_powerdown")
        .unwrap_or_else(|e| panic!("{e}"));
    vm.wait_exit(Duration::from_secs(240))
        .unwrap_or_else(|e| panic!("{e}\n{}", vm.serial_tail(200)));
    assert!(
        vm.serial_log().contains("ros: bye"),
        "{}",
        vm.serial_tail(200)
    );
}
