//! Precedence across all seven layers, read from a temporary root exactly as on a machine.

use os_config::{load, load_with, LoadOptions, Value};
use std::fs;
use std::path::Path;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    os_config::KeyPath::parse(key).unwrap().get(v)
}

fn yaml(s: &str) -> Value {
    yaml_serde::from_str(s).unwrap()
}

fn seven_layer_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "usr/share/ros/os-config.yml", "rancher:\n  level: defaults\n  debug: false\n  modules: [a, b]\n  network: {dns: {nameservers: [1.1.1.1]}, dhcp_timeout: 10}\n  from_defaults: 1\n");
    write(
        r,
        "usr/share/ros/oem/oem-config.yml",
        "rancher:\n  level: oem\n  from_oem: 1\n",
    );
    write(
        r,
        "var/lib/rancher/conf/cloud-config.d/10-a.yml",
        "rancher:\n  level: d10\n  from_d10: 1\n",
    );
    write(
        r,
        "var/lib/rancher/conf/cloud-config.d/20-b.yml",
        "rancher:\n  level: d20\n  modules: [c]\n",
    );
    write(
        r,
        "var/lib/rancher/conf/cloud-config.d/.20-b.yml.swp",
        "rancher: {level: dotfile}\n",
    );
    write(r, "var/lib/rancher/conf/cloud-config.yml", "rancher:\n  level: cloud-config\n  network: {dns: {search: [example.com]}}\nhostname: from-cloud-config\n");
    write(
        r,
        "proc/cmdline",
        "BOOT_IMAGE=/vmlinuz rancher.level=cmdline rancher.debug -- rancher.level=elided\n",
    );
    write(
        r,
        "var/lib/rancher/conf/metadata",
        "hostname: from-metadata\npublic_keys: {k1: ssh-rsa AAA k1}\n",
    );
    dir
}

#[test]
fn seven_layers_in_precedence_order() {
    let dir = seven_layer_root();
    let cfg = load(dir.path());
    assert!(
        !cfg.diagnostics.iter().any(|d| d.is_error()),
        "{:?}",
        cfg.diagnostics
    );
    // The test's own keys are unknown to the model: kept, and reported per layer with a line.
    assert!(cfg
        .diagnostics
        .iter()
        .any(|d| d.key_path == "rancher.from_oem" && d.line == Some(3)));
    // Scalar override: the highest layer that sets it wins.
    assert_eq!(
        get(&cfg.value, "rancher.level"),
        Some(&Value::from("elided"))
    );
    assert_eq!(get(&cfg.value, "rancher.debug"), Some(&Value::Bool(true)));
    assert!(cfg.config.rancher.debug);
    // List replacement, not concatenation.
    assert_eq!(cfg.config.rancher.modules, vec!["c"]);
    // Deep map merge keeps keys from every layer.
    for key in ["from_defaults", "from_oem", "from_d10"] {
        assert_eq!(
            get(&cfg.value, &format!("rancher.{key}")),
            Some(&Value::from(1)),
            "{key}"
        );
    }
    assert_eq!(cfg.config.rancher.network.dns.nameservers, vec!["1.1.1.1"]);
    assert_eq!(cfg.config.rancher.network.dns.search, vec!["example.com"]);
    assert_eq!(cfg.config.rancher.network.dhcp_timeout, Some(10));
    // Metadata fills the hostname only if unset, and adds keys.
    assert_eq!(cfg.config.hostname.as_deref(), Some("from-cloud-config"));
    assert_eq!(cfg.config.ssh_authorized_keys, vec!["ssh-rsa AAA k1"]);
}

#[test]
fn each_layer_beats_the_one_below() {
    let dir = seven_layer_root();
    let r = dir.path();
    let expect = |want: &str| {
        let cfg = load(r);
        assert_eq!(get(&cfg.value, "rancher.level"), Some(&Value::from(want)));
    };
    expect("elided");
    write(r, "proc/cmdline", "rancher.level=cmdline\n");
    expect("cmdline");
    fs::remove_file(r.join("proc/cmdline")).unwrap();
    expect("cloud-config");
    fs::remove_file(r.join("var/lib/rancher/conf/cloud-config.yml")).unwrap();
    expect("d20");
    fs::remove_file(r.join("var/lib/rancher/conf/cloud-config.d/20-b.yml")).unwrap();
    expect("d10");
    fs::remove_dir_all(r.join("var/lib/rancher/conf/cloud-config.d")).unwrap();
    expect("oem");
    fs::remove_file(r.join("usr/share/ros/oem/oem-config.yml")).unwrap();
    expect("defaults");
}

#[test]
fn metadata_hostname_applies_when_no_layer_sets_one() {
    let dir = seven_layer_root();
    fs::remove_file(dir.path().join("var/lib/rancher/conf/cloud-config.yml")).unwrap();
    let cfg = load(dir.path());
    assert_eq!(cfg.config.hostname.as_deref(), Some("from-metadata"));
}

#[test]
fn metadata_keys_are_not_duplicated() {
    let dir = seven_layer_root();
    write(
        dir.path(),
        "var/lib/rancher/conf/cloud-config.yml",
        "ssh_authorized_keys: [ssh-rsa AAA k1, ssh-rsa BBB k2]\n",
    );
    let cfg = load(dir.path());
    assert_eq!(
        cfg.config.ssh_authorized_keys,
        vec!["ssh-rsa AAA k1", "ssh-rsa BBB k2"]
    );
}

#[test]
fn broken_layer_is_skipped_with_location_and_the_rest_loads() {
    let dir = seven_layer_root();
    let bad = dir
        .path()
        .join("var/lib/rancher/conf/cloud-config.d/20-b.yml");
    fs::write(&bad, "rancher:\n  level: [unclosed\n  x: 1\n").unwrap();
    let cfg = load(dir.path());
    let errors: Vec<String> = cfg
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.to_string())
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(&format!("{}:", bad.display())),
        "{errors:?}"
    );
    assert!(errors[0].contains("layer skipped"), "{errors:?}");
    assert_eq!(cfg.diagnostics[0].line, Some(3));
    // The other layers still apply; the broken layer's list did not.
    assert_eq!(
        get(&cfg.value, "rancher.level"),
        Some(&Value::from("elided"))
    );
    assert_eq!(cfg.config.rancher.modules, vec!["a", "b"]);
}

#[test]
fn wrong_type_in_cmdline_drops_only_that_key() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "proc/cmdline",
        "rancher.shutdown_timeout=soon rancher.debug\n",
    );
    let cfg = load(dir.path());
    let d: Vec<String> = cfg.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(
        d[0].contains("proc/cmdline: error: rancher.shutdown_timeout: invalid type"),
        "{d:?}"
    );
    assert!(cfg.config.rancher.debug);
    assert_eq!(cfg.config.rancher.shutdown_timeout, None);
}

#[test]
fn without_defaults_gives_the_users_own_config() {
    let dir = seven_layer_root();
    let cfg = load_with(dir.path(), LoadOptions { defaults: false });
    assert_eq!(get(&cfg.value, "rancher.from_defaults"), None);
    assert_eq!(get(&cfg.value, "rancher.from_oem"), Some(&Value::from(1)));
}

#[test]
fn empty_root_loads_defaults_of_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = load(dir.path());
    assert!(cfg.diagnostics.is_empty());
    assert_eq!(cfg.value, yaml("{}"));
}

#[test]
fn builtin_os_config_is_valid_and_names_every_default_service() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("defaults/os-config.yml");
    let text = fs::read_to_string(&path).unwrap();
    let doc = os_config::parse_document(&text, Some(&path)).unwrap();
    assert!(doc.diagnostics.is_empty(), "{:?}", doc.diagnostics);
    let services = &doc.config.rancher.services;
    for name in [
        "udev",
        "network",
        "ntp",
        "syslog",
        "acpid",
        "console",
        "cloud-init",
        "docker",
    ] {
        let svc = services
            .get(name)
            .unwrap_or_else(|| panic!("no {name} service"));
        assert!(svc.is_system(), "{name} must run on System Docker");
        assert!(
            svc.image.as_deref().is_some_and(|i| i.starts_with("ros/")),
            "{name}"
        );
    }
    assert_eq!(
        services["cloud-init"]
            .label("io.rancher.os.detach")
            .as_deref(),
        Some("false")
    );
}
