//! Checks what scripts/build produced, from the outside: the manifest against the files, the
//! ISO's boot catalogue, the system image's and initrd's contents (its trusted bundle keys
//! included), and every image archive loaded into a real dockerd and run.

use std::io::Read;
use std::path::Path;
use std::process::Command;

use image_archive::docker_store::{self, StoreIndex};
use image_archive::Layer;
use ros_e2e::{dist, Dist, TestDockerd};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn manifest(d: &Dist) -> Value {
    let text = std::fs::read_to_string(d.manifest()).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn sha256(path: &Path) -> String {
    let mut f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    format!("{:x}", h.finalize())
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Extracts `dir` of the system image into a temporary directory; returns it and the copy.
fn unsquash(d: &Dist, dir: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let extracted = tmp.path().join("x");
    run(Command::new("unsquashfs")
        .args(["-q", "-n", "-d"])
        .arg(&extracted)
        .arg(d.squashfs())
        .arg(dir));
    let copy = extracted.join(dir);
    (tmp, copy)
}

#[test]
fn manifest_matches_the_files() {
    let d = dist();
    let m = manifest(&d);
    assert_eq!(m["ros_version"], env!("CARGO_PKG_VERSION"));
    assert!(
        m["git_commit"].as_str().unwrap().len() >= 40,
        "{}",
        m["git_commit"]
    );
    assert!(
        m["kernel"]["release"].as_str().unwrap().starts_with("6."),
        "{}",
        m["kernel"]
    );
    assert!(m["kernel"]["package"]
        .as_str()
        .unwrap()
        .starts_with("linux-image-"));
    // The base is Debian 13 (issue 15): kernel 6.12, Docker Engine 26, the CLI and compose.
    assert_eq!(m["debian_suite"], "trixie");
    assert!(
        m["kernel"]["release"]
            .as_str()
            .unwrap()
            .starts_with("6.12."),
        "{}",
        m["kernel"]
    );
    let version_of = |name: &str| {
        m["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["version"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{name} not in the manifest"))
    };
    assert!(version_of("docker.io").starts_with("26."));
    assert!(version_of("docker-cli").starts_with("26."));
    assert!(version_of("docker-compose").starts_with("2."));
    let names: Vec<&str> = m["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ros.iso",
            "ros.raw",
            "ros.qcow2",
            "ros.bundle",
            "vmlinuz",
            "initrd",
            "initrd-small",
            "system.squashfs"
        ]
    );
    for a in m["artifacts"].as_array().unwrap() {
        let path = d.dir().join(a["name"].as_str().unwrap());
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            a["size"].as_u64().unwrap(),
            "{}",
            path.display()
        );
        assert_eq!(
            sha256(&path),
            a["sha256"].as_str().unwrap(),
            "{}",
            path.display()
        );
    }
    let images: Vec<&str> = m["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        images,
        [
            "base",
            "udev",
            "network",
            "ntp",
            "syslog",
            "acpid",
            "console",
            "console-debian",
            "docker",
            "qemu-guest-agent",
            "open-vm-tools",
            "kernel-headers"
        ]
    );
    for i in m["images"].as_array().unwrap() {
        let path = d.dir().join(i["file"].as_str().unwrap());
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            i["size"].as_u64().unwrap(),
            "{}",
            path.display()
        );
        assert_eq!(
            sha256(&path),
            i["sha256"].as_str().unwrap(),
            "{}",
            path.display()
        );
        assert!(i["id"].as_str().unwrap().starts_with("sha256:"));
    }
    // The shared base layer is the first layer of every image.
    let base_layer = &m["images"][0]["layers"][0];
    for i in m["images"].as_array().unwrap() {
        assert_eq!(&i["layers"][0], base_layer, "{}", i["name"]);
    }
    let packages = m["packages"].as_array().unwrap();
    for wanted in [
        "libc6",
        "docker.io",
        "containerd",
        "runc",
        "tini",
        "iptables",
        "chrony",
        "udev",
        "acpid",
        "openssh-server",
        "dhcpcd-base",
        "busybox",
    ] {
        let p = packages
            .iter()
            .find(|p| p["name"] == wanted)
            .unwrap_or_else(|| panic!("{wanted} not in manifest"));
        assert!(!p["version"].as_str().unwrap().is_empty());
    }
}

#[test]
fn iso_is_hybrid_with_bios_and_uefi_entries() {
    let d = dist();
    let iso = d.iso();
    let report = run(Command::new("xorriso")
        .arg("-indev")
        .arg(&iso)
        .args(["-report_el_torito", "plain"]));
    let entries: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("El Torito boot img"))
        .collect();
    assert!(
        entries.iter().any(|l| l.contains("BIOS")),
        "no BIOS entry:\n{report}"
    );
    assert!(
        entries.iter().any(|l| l.contains("UEFI")),
        "no UEFI entry:\n{report}"
    );
    let pvd = run(Command::new("xorriso")
        .arg("-indev")
        .arg(&iso)
        .arg("-pvd_info"));
    assert!(
        pvd.lines()
            .any(|l| l.starts_with("Volume Id") && l.trim_end().ends_with(": ROS")),
        "{pvd}"
    );
    let listing = run(Command::new("xorriso").arg("-indev").arg(&iso).args([
        "-lsl",
        "/boot/vmlinuz",
        "/boot/initrd",
        "/ros/system.squashfs",
        "/boot/grub/grub.cfg",
    ]));
    let squashfs_size = std::fs::metadata(d.squashfs()).unwrap().len().to_string();
    assert!(
        listing
            .lines()
            .any(|l| l.contains("system.squashfs") && l.contains(&squashfs_size)),
        "{listing}"
    );
}

#[test]
fn system_image_holds_system_docker_and_the_images() {
    let d = dist();
    let listing = run(Command::new("unsquashfs")
        .args(["-l", "-d", ""])
        .arg(d.squashfs()));
    for path in [
        "/sbin/dockerd",
        "/bin/containerd",
        "/bin/containerd-shim-runc-v2",
        "/sbin/runc",
        "/bin/docker-init",
        "/sbin/xtables-nft-multi",
        "/sbin/iptables",
        "/lib/x86_64-linux-gnu/xtables/libxt_MASQUERADE.so",
        "/bin/ros",
        "/bin/sh",
        // The docker CLI, which the console bind-mounts.
        "/bin/docker",
        "/share/ros/modules.list",
    ] {
        assert!(
            listing.lines().any(|l| l == path),
            "{path} missing from the system image"
        );
    }
    let release = manifest(&d)["kernel"]["release"]
        .as_str()
        .unwrap()
        .to_string();
    for module in [
        "modules.dep",
        "kernel/net/bridge/bridge.ko",
        "kernel/fs/overlayfs/overlay.ko",
        "kernel/drivers/net/veth.ko",
    ] {
        let path = format!("/lib/modules/{release}/{module}");
        // Debian's 6.12 modules are xz-compressed (`.ko.xz`); the kernel unpacks them itself.
        assert!(
            listing
                .lines()
                .any(|l| l == path || l.strip_suffix(".xz") == Some(path.as_str())),
            "{path} missing from the system image"
        );
    }
}

/// The system image trusts the key dist/ros.bundle is signed with (and through it, any bundle
/// the same build signs).
#[test]
fn the_bundle_is_signed_by_a_key_the_system_image_trusts() {
    use os_disk::signing::TrustedKeys;
    let d = dist();
    let (_tmp, keys) = unsquash(&d, "share/ros/trusted-keys");
    let trusted = TrustedKeys::load(&keys).unwrap();
    assert!(!trusted.ids().is_empty(), "the system image trusts no key");
    let manifest = os_disk::bundle::verify(&d.bundle(), &trusted).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(manifest.files.len(), 3);
}

/// System Docker's image store in the system image holds the images of dist/images: the same
/// ids and tags, and each layer's tree streams back into the very bytes of dist/images/X.tar.
#[test]
fn system_image_carries_the_images_of_dist() {
    let d = dist();
    let m = manifest(&d);
    let (_tmp, store) = unsquash(&d, "share/ros/system-docker");
    let index = StoreIndex::read(&store).unwrap();
    assert_eq!(index.images.len(), m["images"].as_array().unwrap().len());
    for image in m["images"].as_array().unwrap() {
        let name = image["name"].as_str().unwrap();
        let stored = index.find(image["tag"].as_str().unwrap()).unwrap();
        assert_eq!(stored.name, name);
        assert_eq!(stored.id, image["id"].as_str().unwrap(), "{name}");
        let layers: Vec<Layer> = (0..stored.layers.len())
            .map(|i| docker_store::stored_layer(&store, stored, i).unwrap())
            .collect();
        let refs: Vec<&Layer> = layers.iter().collect();
        let mut hasher = HashWriter(Sha256::new());
        let info = image_archive::write_archive_to(
            &mut hasher,
            &stored.tag,
            &refs,
            &stored.config,
            stored.created,
        )
        .unwrap();
        assert_eq!(info.id, stored.id, "{name}");
        assert_eq!(
            format!("{:x}", hasher.0.finalize()),
            image["sha256"].as_str().unwrap(),
            "{name} differs from dist/images/{name}.tar"
        );
    }
}

struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The initrd is a zstd-compressed cpio (/init, libraries, modules) followed by an
/// uncompressed cpio holding the system image.
#[test]
fn initrd_has_init_modules_and_the_system_image() {
    let d = dist();
    let bytes = std::fs::read(d.initrd()).unwrap();
    let second = (0..bytes.len())
        .step_by(512)
        .find(|&off| off > 0 && bytes[off..].starts_with(b"070701"))
        .expect("no uncompressed cpio member in the initrd");
    let first = &bytes[..second];
    assert_eq!(
        first,
        &std::fs::read(d.small_initrd()).unwrap()[..],
        "initrd-small is not the initrd's first member"
    );
    assert!(
        first.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]),
        "first member is not zstd"
    );
    let decompressed = {
        let end = first.iter().rposition(|&b| b != 0).unwrap() + 1;
        let mut child = Command::new("zstd")
            .args(["-dc"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = first[..end].to_vec();
        let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
        let mut out = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
        writer.join().unwrap().unwrap();
        assert!(child.wait().unwrap().success());
        out
    };
    let first_names = cpio_names(&decompressed);
    let release = manifest(&d)["kernel"]["release"]
        .as_str()
        .unwrap()
        .to_string();
    for name in [
        "init".to_string(),
        "dev/console".to_string(),
        "lib64/ld-linux-x86-64.so.2".to_string(),
        "usr/lib/x86_64-linux-gnu/libc.so.6".to_string(),
        // The recovery shell before the root exists.
        "ros/busybox".to_string(),
        "usr/lib/x86_64-linux-gnu/libresolv.so.2".to_string(),
        format!("lib/modules/{release}/modules.dep"),
        format!("lib/modules/{release}/kernel/fs/squashfs/squashfs.ko.xz"),
        format!("lib/modules/{release}/kernel/fs/isofs/isofs.ko.xz"),
        format!("lib/modules/{release}/kernel/drivers/block/loop.ko.xz"),
    ] {
        assert!(
            first_names.iter().any(|(n, _)| *n == name),
            "{name} missing from the initrd: {first_names:?}"
        );
    }
    let second_names = cpio_names(&bytes[second..]);
    let squashfs_size = std::fs::metadata(d.squashfs()).unwrap().len() as u32;
    // The sidecar (size and sha256) comes before the image, so a cut-short unpacking keeps it.
    let names: Vec<&str> = second_names.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["ros", "ros/system.squashfs.json", "ros/system.squashfs"]
    );
    assert!(second_names[1].1 > 0, "{second_names:?}");
    assert_eq!(second_names[2].1, squashfs_size, "{second_names:?}");
}

fn cpio_names(mut data: &[u8]) -> Vec<(String, u32)> {
    let mut names = Vec::new();
    loop {
        let reader = cpio::newc::Reader::new(data).unwrap();
        if reader.entry().is_trailer() {
            return names;
        }
        names.push((
            reader.entry().name().to_string(),
            reader.entry().file_size(),
        ));
        data = reader.finish().unwrap();
    }
}

/// (image, entrypoint and arguments, text the output must contain): Debian 13's versions.
const SMOKE: &[(&str, &[&str], &[&str])] = &[
    (
        "base",
        &["/bin/sh", "-c", "echo base-ok; ls /bin/ls"],
        &["base-ok", "/bin/ls"],
    ),
    ("udev", &["udevadm", "--version"], &["257"]),
    ("network", &["dhcpcd", "--version"], &["dhcpcd 10.1.0"]),
    (
        "ntp",
        &["chronyd", "--version"],
        &["chronyd (chrony) version 4.6"],
    ),
    // The service is `ros syslogd`, bind-mounted from the host (the system e2e test reads what it
    // gathered); the image itself is busybox and the log directory. busybox 1.37's own syslogd
    // receives nothing from its logger on trixie, so it is not what is checked here.
    (
        "syslog",
        &[
            "/bin/sh",
            "-c",
            "test -d /var/log && echo log-dir-ok; busybox | head -1",
        ],
        &["log-dir-ok", "BusyBox v1.37"],
    ),
    ("acpid", &["acpid", "--version"], &["acpid-2.0.34"]),
    (
        "console",
        &[
            "/bin/sh",
            "-c",
            "ssh -V; sshd -V; id rancher; agetty --version; sudo -V; ip -V; bash --version",
        ],
        &[
            "OpenSSH_10.0",
            "uid=1100(rancher) gid=1100(rancher) groups=1100(rancher),27(sudo),999(docker)",
            "agetty from util-linux",
            "Sudo version",
            "ip utility",
            "GNU bash",
        ],
    ),
    // The Debian console (issue 17): apt and dpkg know what is installed, man pages are kept,
    // and apt's sources name Debian's mirrors.
    (
        "console-debian",
        &[
            "/bin/sh",
            "-c",
            "dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n' openssh-server apt libc6 busybox; \
             apt-get check && echo apt-consistent; man -w ls; grep -h ^URIs /etc/apt/sources.list.d/debian.sources; id rancher",
        ],
        &[
            "ii  openssh-server",
            "ii  apt",
            "ii  libc6",
            "ii  busybox",
            "apt-consistent",
            "/usr/share/man/man1/ls.1.gz",
            "URIs: http://deb.debian.org/debian",
            "uid=1100(rancher)",
        ],
    ),
    // The engine binaries come from the host's /usr at run time (see the squashfs test).
    (
        "docker",
        &["/bin/sh", "-c", "grep ^docker: /etc/group"],
        &["docker:x:999:"],
    ),
    // The catalogue (issue 17).
    (
        "qemu-guest-agent",
        &["/usr/sbin/qemu-ga", "--version"],
        &["QEMU Guest Agent"],
    ),
    (
        "open-vm-tools",
        // vmtoolsd exits 1 without a word outside VMware, --version too: check that every
        // library it needs is in the image instead.
        &[
            "/bin/sh",
            "-c",
            "/lib64/ld-linux-x86-64.so.2 --list /usr/bin/vmtoolsd | grep -q 'not found' || echo all-libraries-found",
        ],
        &["all-libraries-found"],
    ),
    (
        "kernel-headers",
        &[
            "/bin/sh",
            "-c",
            "ls /usr/lib/modules/*/build/Makefile && ls /usr/src",
        ],
        &["/build/Makefile", "linux-headers-"],
    ),
];

#[test]
fn every_image_loads_into_dockerd_and_runs() {
    let d = dist();
    let m = manifest(&d);
    let daemon = TestDockerd::start().unwrap_or_else(|e| panic!("{e}"));
    for (name, command, expected) in SMOKE {
        let entry = m["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == *name)
            .unwrap();
        let tag = entry["tag"].as_str().unwrap();
        let loaded = daemon
            .load(&d.image(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(loaded.contains(tag), "{name}: {loaded}");
        let inspect = daemon
            .docker(&["image", "inspect", "--format", "{{.Id}}", tag])
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&inspect.stdout).trim(),
            entry["id"].as_str().unwrap(),
            "{name}"
        );
        let mut args = vec![
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            command[0],
            tag,
        ];
        args.extend(&command[1..]);
        let out = daemon.docker(&args).unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{name}: {args:?} failed:\n{text}");
        for e in *expected {
            assert!(text.contains(e), "{name}: {e:?} not in output:\n{text}");
        }
    }
}
