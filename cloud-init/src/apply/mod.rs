//! The cloud-init container's entry point (`ros cloud-init-execute`), a one-shot that every
//! other late service waits for. In order:
//!
//! 1. probe the datasources and save user-data and metadata as config layers; when that
//!    changed `rancher.network`, tell the network service (started earlier) to re-apply;
//! 2. `bootcmd` (early, as in RancherOS v1, before anything else the config drives);
//! 3. the hostname;
//! 4. `rancher.modules`, then `rancher.sysctl` (a sysctl may need a module's knobs);
//! 5. `rancher.resize_device` (once);
//! 6. `mounts`, in the host's mount namespace.
//!
//! `write_files` without `container:` and `runcmd` run in the console (see `console`);
//! `write_files` for another system container are uploaded by the service engine before that
//! container starts (`sysdocker::container_files`).
//!
//! Every step reports its failures and the next step still runs: the one-shot exits 0 unless
//! it could not run at all, because its dependents (the console among them) must come up.

pub mod commands;
pub mod datasource;
pub mod hostname;
pub mod modules;
pub mod mounts;
pub mod network_reload;
pub mod resize;
pub mod write_files;

pub use commands::run_commands;
pub use hostname::{apply_hostname, hosts_with};
pub use write_files::{resolve_owner, write_files};

use std::path::Path;

pub fn run() {
    let root = Path::new("/");
    // Loaded twice in all: before the save, and after it for what the save changed.
    let before = os_config::load(root).config;
    datasource::read_and_save(root, &before);
    let network_before = before.rancher.network;

    let loaded = os_config::load(root);
    network_reload::notify_if_changed(&network_before, &loaded.config.rancher.network);
    for d in loaded.diagnostics.iter().filter(|d| d.is_error()) {
        tracing::error!("config: {d}");
    }
    let cfg = loaded.config;

    let failed = run_commands("bootcmd", &cfg.bootcmd, None);
    if failed > 0 {
        tracing::error!(
            failed,
            total = cfg.bootcmd.len(),
            "bootcmd: some commands failed"
        );
    }

    if let Some(h) = cfg.hostname.as_deref().filter(|h| !h.is_empty()) {
        apply_hostname(h);
    }

    // PID 1 already loaded and applied these from the config it saw at boot; user-data that
    // was saved just now may add more, and both steps skip what is already in place.
    modules::load(&cfg.rancher.modules);
    let applied = host::sysctl::apply(Path::new("/proc/sys"), &cfg.rancher.sysctl);
    if !cfg.rancher.sysctl.is_empty() {
        tracing::info!(
            applied,
            total = cfg.rancher.sysctl.len(),
            "rancher.sysctl applied"
        );
    }

    if let Some(device) = cfg
        .rancher
        .resize_device
        .as_deref()
        .filter(|d| !d.is_empty())
    {
        resize::resize_once(device, Path::new(resize::STAMP));
    }
    // An installed disk's state partition is its last: it follows the disk when that grows
    // (a cloud image's first boot, a resized volume). Checked once per boot.
    if let Some(disk) = os_disk::boot_info::BootInfo::read()
        .ok()
        .and_then(|i| i.disk)
    {
        let state = os_disk::layout::partition_path(&disk, os_disk::layout::STATE.number);
        resize::resize_once(&state.to_string_lossy(), Path::new(resize::STATE_STAMP));
    }

    if !cfg.mounts.is_empty() {
        mounts::apply_all(&cfg.mounts, &mounts::Options::host());
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn load(cloud_config: &str) -> os_config::model::CloudConfig {
        let root = tempfile::tempdir().unwrap();
        let conf = root.path().join("var/lib/rancher/conf");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(conf.join("cloud-config.yml"), cloud_config).unwrap();
        os_config::load(root.path()).config
    }

    /// Dotted sysctl names survive the layered load whole, not split into nested maps.
    #[test]
    fn dotted_sysctl_keys_survive_the_loader() {
        let cfg = load(
            "rancher:\n  sysctl:\n    net.ipv4.ip_forward: 1\n    vm.swappiness: \"10\"\n    net.ipv4.conf.default.rp_filter: 1\n",
        );
        let got: Vec<(&str, &str)> = cfg
            .rancher
            .sysctl
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("net.ipv4.ip_forward", "1"),
                ("vm.swappiness", "10"),
                ("net.ipv4.conf.default.rp_filter", "1")
            ]
        );
    }

    /// The values reach /proc/sys: written in a network namespace of a thread's own, so the
    /// machine running the test keeps its settings.
    #[test]
    fn sysctls_are_written_and_read_back() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let cfg = load("rancher:\n  sysctl:\n    net.ipv4.ip_forward: 1\n    net.ipv4.conf.default.forwarding: 1\n    net.no.such.key: 1\n");
        let result = std::thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string())?;
            // A new namespace may inherit the host's value; start from a known one.
            std::fs::write("/proc/sys/net/ipv4/ip_forward", "0").map_err(|e| e.to_string())?;
            let before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
            let applied = host::sysctl::apply(Path::new("/proc/sys"), &cfg.rancher.sysctl);
            let after = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
            let fwd =
                std::fs::read_to_string("/proc/sys/net/ipv4/conf/default/forwarding").unwrap();
            Ok::<_, String>((before, applied, after, fwd))
        })
        .join()
        .unwrap();
        let (before, applied, after, fwd) = match result {
            Ok(r) => r,
            Err(e) => {
                eprintln!("skipped: no network namespace here: {e}");
                return;
            }
        };
        assert_eq!(
            (before.trim(), applied, after.trim(), fwd.trim()),
            ("0", 2, "1", "1")
        );
    }
}
