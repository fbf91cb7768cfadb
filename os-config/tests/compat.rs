//! Every cloud-config example from the RancherOS v1 documentation must validate (warnings for
//! keys ros does not implement are fine, errors are not) and load without losing a key.

use os_config::{load, Value};
use std::fs;
use std::path::Path;

fn corpus() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/rancheros-v1-docs");
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    files
}

/// Every leaf key path of a document.
fn leaf_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Mapping(m) if !m.is_empty() => {
            for (k, v) in m {
                let k = k
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{k:?}"));
                leaf_paths(v, &format!("{prefix}/{k}"), out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

#[test]
fn corpus_is_present() {
    assert!(corpus().len() >= 50, "compat corpus missing");
}

#[test]
fn every_example_validates_without_errors() {
    for path in corpus() {
        let text = fs::read_to_string(&path).unwrap();
        let doc = os_config::parse_document(&text, Some(&path)).unwrap_or_else(|d| panic!("{d}"));
        let errors: Vec<String> = doc
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
}

#[test]
fn every_example_loads_as_cloud_config_without_losing_a_key() {
    for path in corpus() {
        let text = fs::read_to_string(&path).unwrap();
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("var/lib/rancher/conf/cloud-config.yml");
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(&target, &text).unwrap();
        let loaded = load(root.path());
        let original: Value = yaml_serde::from_str(&text).unwrap();
        let (mut want, mut got) = (Vec::new(), Vec::new());
        leaf_paths(&original, "", &mut want);
        leaf_paths(&loaded.value, "", &mut got);
        // `rancher:` with nothing under it is an empty leaf that merging leaves out.
        want.retain(|p| original_leaf_is_not_null(&original, p));
        for p in &want {
            assert!(got.contains(p), "{}: lost {p}", path.display());
        }
    }
}

fn original_leaf_is_not_null(v: &Value, path: &str) -> bool {
    let mut cur = v;
    for seg in path.split('/').skip(1) {
        match cur.get(seg) {
            Some(next) => cur = next,
            None => return true,
        }
    }
    !cur.is_null()
}

#[test]
fn examples_mean_what_their_pages_say() {
    let parse = |name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/compat/rancheros-v1-docs")
            .join(name);
        os_config::parse_document(&fs::read_to_string(&path).unwrap(), Some(&path))
            .unwrap()
            .config
    };
    let c = parse("configuration--docker-2.yml");
    assert_eq!(c.rancher.docker.extra_args, vec!["--mtu", "1460"]);
    let c = parse("configuration--sysctl-1.yml");
    assert_eq!(c.rancher.sysctl["net.ipv4.conf.default.rp_filter"], "1");
    let c = parse("configuration--loading-kernel-modules-1.yml");
    assert_eq!(c.rancher.modules, vec!["nbd nbds_max=1024", "nfs"]);
    let c = parse("networking--interfaces-3.yml");
    let bond = &c.rancher.network.interfaces["bond0"];
    assert_eq!(bond.addresses, vec!["192.168.101.33/31", "10.88.23.129/31"]);
    assert_eq!(bond.bond_opts["mode"], "4");
    assert_eq!(
        c.rancher.network.interfaces["mac=0c:c4:d7:b2:14:d2"]
            .bond
            .as_deref(),
        Some("bond0")
    );
    let c = parse("networking--interfaces-4.yml");
    assert_eq!(
        c.rancher.network.interfaces["eth0"].vlans.as_deref(),
        Some("100,200:foobar")
    );
    let c = parse("configuration--write-files-2.yml");
    assert_eq!(c.write_files[0].container.as_deref(), Some("ntp"));
    assert_eq!(c.write_files[0].mode(), Some(0o644));
    let c = parse("configuration--running-commands-1.yml");
    assert_eq!(c.runcmd[0].to_args(), vec!["touch", "/home/rancher/test1"]);
    let c = parse("storage--additional-mounts-1.yml");
    assert_eq!(c.mounts[0].0, vec!["/dev/vdb", "/mnt/s", "ext4", ""]);
    let c = parse("system-services--custom-system-services-1.yml");
    assert_eq!(
        c.rancher.services["nginxapp"].restart.as_deref(),
        Some("always")
    );
    let c = parse("about--running-rancher-on-rancherOS-3.yml");
    assert_eq!(
        c.rancher.services["rancher-agent1"]
            .environment
            .get("CATTLE_HOST_LABELS")
            .as_deref(),
        Some("foo=bar&hello=world")
    );
    let c = parse("configuration--ssh-keys-2.yml");
    assert_eq!(c.rancher.ssh.port, Some(10022));
}
