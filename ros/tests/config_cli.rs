//! `ros config` end to end: the real binary against a temporary root.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        let r = Root {
            dir: tempfile::tempdir().unwrap(),
        };
        let defaults =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../os-config/defaults/os-config.yml");
        r.write(
            "usr/share/ros/os-config.yml",
            &fs::read_to_string(defaults).unwrap(),
        );
        r.write("proc/cmdline", "BOOT_IMAGE=/vmlinuz console=ttyS0\n");
        r
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    fn cloud_config(&self) -> String {
        fs::read_to_string(self.path("var/lib/rancher/conf/cloud-config.yml")).unwrap_or_default()
    }
    fn ros(&self, args: &[&str]) -> Output {
        self.ros_stdin(args, "")
    }
    fn ros_stdin(&self, args: &[&str], stdin: &str) -> Output {
        test_support::run_with_stdin(
            Command::new(env!("CARGO_BIN_EXE_ros"))
                .arg("config")
                .args(args)
                .arg("--root")
                .arg(self.dir.path()),
            stdin,
        )
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
fn ok(o: &Output) -> String {
    assert!(o.status.success(), "failed: {}{}", stdout(o), stderr(o));
    stdout(o)
}

#[test]
fn get_prints_scalars_raw_and_maps_as_yaml() {
    let r = Root::new();
    assert_eq!(ok(&r.ros(&["get", "rancher.shutdown_timeout"])), "60\n");
    assert_eq!(
        ok(&r.ros(&["get", "rancher.state.dev"])),
        "LABEL=RANCHER_STATE\n"
    );
    assert_eq!(
        ok(&r.ros(&["get", "rancher.ntp"])),
        "servers:\n- pool.ntp.org\n"
    );
    assert_eq!(
        ok(&r.ros(&["get", "rancher.ntp", "--output", "json"])),
        "{\n  \"servers\": [\n    \"pool.ntp.org\"\n  ]\n}\n"
    );
    assert_eq!(
        ok(&r.ros(&["get", "rancher.ntp.servers[0]"])),
        "pool.ntp.org\n"
    );
}

#[test]
fn get_missing_key_exits_1() {
    let r = Root::new();
    let o = r.ros(&["get", "rancher.no.such.key"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "ros: key not found: rancher.no.such.key\n");
}

#[test]
fn get_sees_the_kernel_cmdline() {
    let r = Root::new();
    r.write(
        "proc/cmdline",
        "console=ttyS0 rancher.shutdown_timeout=5 cc.hostname=fromcmdline\n",
    );
    assert_eq!(ok(&r.ros(&["get", "rancher.shutdown_timeout"])), "5\n");
    assert_eq!(ok(&r.ros(&["get", "hostname"])), "fromcmdline\n");
}

#[test]
fn set_types_values_creates_maps_and_writes_0600() {
    let r = Root::new();
    ok(&r.ros(&["set", "rancher.docker.tls", "true"]));
    ok(&r.ros(&[
        "set",
        "rancher.network.dns.nameservers",
        "[10.0.0.1,10.0.0.2]",
    ]));
    ok(&r.ros(&["set", "hostname", "node1"]));
    ok(&r.ros(&["set", "rancher.ssh.port", "2222"]));
    assert_eq!(
        r.cloud_config(),
        "rancher:\n  docker:\n    tls: true\n  network:\n    dns:\n      nameservers:\n      - 10.0.0.1\n      - 10.0.0.2\n  ssh:\n    port: 2222\nhostname: node1\n"
    );
    let mode = fs::metadata(r.path("var/lib/rancher/conf/cloud-config.yml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(ok(&r.ros(&["get", "rancher.ssh.port"])), "2222\n");
}

#[test]
fn set_addresses_keys_with_dots_inside() {
    let r = Root::new();
    ok(&r.ros(&["set", r#"rancher.sysctl."net.core.somaxconn""#, "1024"]));
    assert_eq!(
        r.cloud_config(),
        "rancher:\n  sysctl:\n    net.core.somaxconn: 1024\n"
    );
    assert_eq!(
        ok(&r.ros(&["get", r#"rancher.sysctl."net.core.somaxconn""#])),
        "1024\n"
    );
    assert_eq!(
        ok(&r.ros(&["get", "rancher.sysctl"])),
        "net.core.somaxconn: 1024\n"
    );
}

#[test]
fn set_refuses_to_write_through_a_scalar() {
    let r = Root::new();
    ok(&r.ros(&["set", "hostname", "node1"]));
    let before = r.cloud_config();
    let o = r.ros(&["set", "hostname.domain", "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "ros: cannot set hostname.domain: hostname is a string, not a map\n"
    );
    assert_eq!(r.cloud_config(), before);
    // Also when the scalar comes from another layer (the built-in defaults).
    let o = r.ros(&["set", "rancher.shutdown_timeout.x", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("rancher.shutdown_timeout is a number, not a map"),
        "{}",
        stderr(&o)
    );
    assert_eq!(r.cloud_config(), before);
}

#[test]
fn set_validates_before_writing() {
    let r = Root::new();
    ok(&r.ros(&["set", "hostname", "node1"]));
    let before = r.cloud_config();
    let o = r.ros(&["set", "rancher.network.interfaces.eth0.mtu", "jumbo"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("not written"), "{err}");
    assert!(
        err.contains("rancher.network.interfaces.eth0.mtu: invalid type: string \"jumbo\""),
        "{err}"
    );
    assert_eq!(r.cloud_config(), before);
}

#[test]
fn set_never_rewrites_a_file_that_does_not_parse() {
    let r = Root::new();
    r.write(
        "var/lib/rancher/conf/cloud-config.yml",
        "hostname: a\n  bad: [\n",
    );
    let o = r.ros(&["set", "hostname", "b"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cloud-config.yml:2:"), "{}", stderr(&o));
    assert_eq!(r.cloud_config(), "hostname: a\n  bad: [\n");
}

#[test]
fn set_keeps_unknown_keys_and_warns_about_new_ones() {
    let r = Root::new();
    r.write(
        "var/lib/rancher/conf/cloud-config.yml",
        "future_key: {a: 1}\nrancher:\n  unknown_thing: x\n",
    );
    ok(&r.ros(&["set", "rancher.debug", "true"]));
    assert_eq!(
        r.cloud_config(),
        "future_key:\n  a: 1\nrancher:\n  unknown_thing: x\n  debug: true\n"
    );
    let o = r.ros(&["set", "rancher.newthing", "1"]);
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("warning: rancher.newthing: unknown key"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn merge_from_stdin_and_file() {
    let r = Root::new();
    ok(&r.ros(&["set", "rancher.network.dns.search", "[a.example]"]));
    ok(&r.ros_stdin(
        &["merge"],
        "rancher:\r\n  network:\r\n    dns:\r\n      nameservers: [10.0.0.1]\r\n",
    ));
    r.write("extra.yml", "hostname: merged\n");
    ok(&r.ros(&["merge", "-i", r.path("extra.yml").to_str().unwrap()]));
    assert_eq!(
        r.cloud_config(),
        "rancher:\n  network:\n    dns:\n      search:\n      - a.example\n      nameservers:\n      - 10.0.0.1\nhostname: merged\n"
    );
}

#[test]
fn merge_refuses_malformed_and_invalid_input() {
    let r = Root::new();
    ok(&r.ros(&["set", "hostname", "keep"]));
    let o = r.ros_stdin(&["merge"], "rancher:\n  debug: [\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("<stdin>:3:"), "{}", stderr(&o));
    let o = r.ros_stdin(&["merge"], "rancher:\n  ssh:\n    port: many\n");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("<stdin>:3:5: error: rancher.ssh.port: invalid type"),
        "{}",
        stderr(&o)
    );
    assert_eq!(r.cloud_config(), "hostname: keep\n");
}

#[test]
fn export_hides_secrets_unless_private() {
    let r = Root::new();
    r.write(
        "var/lib/rancher/conf/cloud-config.yml",
        "hostname: h\nrancher:\n  password: hunter2\n  ssh: {keys: {rsa: PRIVATE}, port: 22}\n  docker: {tls: true, server_key: KEY, ca_cert: CERT}\n  registry_auths: {reg: {auth: TOKEN}}\n",
    );
    let out = ok(&r.ros(&["export"]));
    for secret in ["hunter2", "PRIVATE", "KEY", "CERT", "TOKEN", "reg:"] {
        assert!(!out.contains(secret), "{secret} leaked:\n{out}");
    }
    assert!(out.starts_with("# secrets hidden (use --private): rancher.password, rancher.ssh.keys, rancher.registry_auths, rancher.docker.ca_cert, rancher.docker.server_key\n"), "{out}");
    assert!(
        out.contains("hostname: h") && out.contains("port: 22") && out.contains("tls: true"),
        "{out}"
    );
    // Defaults only with --full.
    assert!(!out.contains("system-volumes"));
    let full = ok(&r.ros(&["export", "--full", "--private"]));
    assert!(
        full.contains("system-volumes") && full.contains("hunter2") && full.contains("PRIVATE")
    );
}

#[test]
fn export_json_and_to_files() {
    let r = Root::new();
    ok(&r.ros(&["set", "hostname", "h"]));
    let out = ok(&r.ros(&["export", "--output", "json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["hostname"], "h");
    let f = r.path("out.yml");
    ok(&r.ros(&["export", "-o", f.to_str().unwrap()]));
    assert_eq!(fs::read_to_string(&f).unwrap(), "hostname: h\n");
    assert_eq!(
        fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // RancherOS v1 spelled the file option --output.
    let g = r.path("v1.yml");
    ok(&r.ros(&["export", "--output", g.to_str().unwrap()]));
    assert_eq!(fs::read_to_string(&g).unwrap(), "hostname: h\n");
}

#[test]
fn validate_reports_file_line_column_and_key() {
    let r = Root::new();
    r.write(
        "bad.yml",
        "#cloud-config\nrancher:\n  network:\n    interfaces:\n      eth0:\n        mtu: big\n  bogus: 1\n",
    );
    let f = r.path("bad.yml");
    let o = r.ros(&["validate", "-i", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let f = f.display();
    assert_eq!(
        stdout(&o),
        format!("{f}:6:9: error: rancher.network.interfaces.eth0.mtu: invalid type: string \"big\", expected a whole number\n{f}:7:3: warning: rancher.bogus: unknown key: kept as written, not used by ros\n")
    );
    r.write("syntax.yml", "rancher:\n  debug: true\n   x: [\n");
    let o = r.ros(&["validate", "-i", r.path("syntax.yml").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with(&format!("{}:3:", r.path("syntax.yml").display())),
        "{}",
        stdout(&o)
    );
}

#[test]
fn validate_passes_with_only_warnings_and_reads_stdin() {
    let r = Root::new();
    let o = r.ros_stdin(&["validate"], "rancher:\n  wifi_networks: {}\n");
    assert!(o.status.success());
    assert_eq!(
        stdout(&o),
        "<stdin>:2:3: warning: rancher.wifi_networks: unknown key: kept as written, not used by ros\n"
    );
    let o = r.ros_stdin(&["validate"], "hostname: ok\r\n");
    assert!(o.status.success());
    assert_eq!(stdout(&o), "");
}

#[test]
fn images_lists_sorted_unique_images() {
    let r = Root::new();
    r.write(
        "svc.yml",
        "rancher:\n  services:\n    b: {image: zeta:1}\n    a: {image: alpha:2}\n    c: {image: alpha:2}\n",
    );
    assert_eq!(
        ok(&r.ros(&["images", "-i", r.path("svc.yml").to_str().unwrap()])),
        "alpha:2\nzeta:1\n"
    );
    let all = ok(&r.ros(&["images"]));
    assert!(
        all.contains("ros/console:0.1.0\n") && all.contains("ros/udev:0.1.0\n"),
        "{all}"
    );
}

#[test]
fn completion_scripts() {
    for shell in ["bash", "zsh", "fish"] {
        let o = Command::new(env!("CARGO_BIN_EXE_ros"))
            .args(["completion", shell])
            .output()
            .unwrap();
        assert!(o.status.success());
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("config"),
            "{shell}"
        );
    }
}

/// `ros config boot-args` needs an installed system; kernel arguments that GRUB would read as
/// script are refused by `ros install -a` before the disk is looked at.
#[test]
fn boot_args_need_an_install_and_install_refuses_scripted_arguments() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root (both commands check it first)");
        return;
    }
    let r = Root::new();
    let out = r.ros(&["boot-args", "get"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("works on an installed system"), "{said}");

    let out = Command::new(env!("CARGO_BIN_EXE_ros"))
        .args([
            "install",
            "-d",
            "/dev/nonexistent-disk",
            "-f",
            "-a",
            "quiet; reboot",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("--append: ';' is not allowed") && said.contains("nothing was written"),
        "{said}"
    );
}
