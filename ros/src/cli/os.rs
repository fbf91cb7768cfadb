//! `ros os`: which version and slot run, the slots' contents, upgrades to the inactive slot
//! (tried by GRUB under a boot counter) and rollbacks: prompts and output here, the steps in
//! os_disk::upgrade.

use anyhow::{bail, Context, Result};
use os_disk::boot_info::BootInfo;
use os_disk::layout::{self, Slot};
use os_disk::signing::{TrustedKeys, TRUSTED_KEYS_DIR};
use os_disk::upgrade::{self, Installed, Step};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a URL is downloaded: the state partition, since RAM is too small for a bundle on small
/// machines. Removed when the upgrade ends, whether it succeeded or not.
const DOWNLOAD: &str = "/var/lib/rancher/os/download.bundle";
/// Time to establish the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the response or for any one read of the body.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The whole download; 512 MiB at 1 MB/s takes about 9 minutes.
const TOTAL_TIMEOUT: Duration = Duration::from_secs(30 * 60);

#[derive(Debug, clap::Args)]
pub struct OsArgs {
    #[command(subcommand)]
    pub command: OsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum OsCommand {
    /// The running version and slot, what boots next, and the last rollback.
    Version,
    /// The two boot slots and the version each holds, then the releases that
    /// `rancher.upgrade.url`'s list offers.
    List {
        /// Accept a plain http:// release list.
        #[arg(long)]
        insecure_url: bool,
    },
    /// Write a bundle to the inactive slot and boot it on trial.
    Upgrade {
        /// The bundle: a file, or an https:// URL to download first. Without it, the newest
        /// release of `rancher.upgrade.url`'s list.
        #[arg(short = 'i', long = "image")]
        image: Option<String>,
        /// Accept a plain http:// URL (no transport security; the signature is still checked).
        #[arg(long)]
        insecure_url: bool,
        /// Do not ask.
        #[arg(short = 'f', long)]
        force: bool,
        /// Stay up; the new slot is tried at the next reboot.
        #[arg(long)]
        no_reboot: bool,
    },
    /// Boot the other slot again (with the config it had).
    Rollback {
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(long)]
        no_reboot: bool,
    },
}

pub fn run(args: OsArgs) -> Result<()> {
    match args.command {
        OsCommand::Version => version(),
        OsCommand::List { insecure_url } => list(insecure_url),
        OsCommand::Upgrade {
            image,
            insecure_url,
            force,
            no_reboot,
        } => {
            // The release list is read only when no bundle is given.
            let image = match image {
                Some(i) => i,
                None => match newest_release(insecure_url)? {
                    Some(url) => url,
                    None => return Ok(()),
                },
            };
            upgrade(&image, insecure_url, force, no_reboot)
        }
        OsCommand::Rollback { force, no_reboot } => rollback(force, no_reboot),
    }
}

/// The engine version of the daemon at `host`, or why there is none (a second at most).
fn engine_version(host: &str) -> String {
    let asked = async {
        let client = sysdocker::client::connect(host, Duration::from_secs(1)).await?;
        sysdocker::client::engine_version(&client).await
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match rt.map(|rt| rt.block_on(asked)) {
        Ok(Ok(v)) => format!("Docker Engine {v}"),
        Ok(Err(e)) => format!("not answering ({e})"),
        Err(e) => format!("unknown ({e})"),
    }
}

/// [`require_root`] when acting on the running system (`--root /`); tests use another root.
pub fn require_root_under(root: &Path, what: &str) -> Result<()> {
    if root == Path::new("/") {
        return require_root(what);
    }
    Ok(())
}

pub fn require_root(what: &str) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("{what} needs root: run it with sudo");
    }
    Ok(())
}

fn version() -> Result<()> {
    let info = BootInfo::read()?;
    println!("version: {}", info.version);
    match nix::sys::utsname::uname() {
        Ok(u) => println!("kernel: {}", u.release().to_string_lossy()),
        Err(e) => println!("kernel: unknown ({e})"),
    }
    for (name, scope) in [
        ("system docker", sysdocker::Scope::System),
        ("user docker", sysdocker::Scope::User),
    ] {
        println!("{name}: {}", engine_version(&scope.host_from_env()));
    }
    let Ok(inst) = Installed::from_info(info) else {
        println!("slot: none (not booted from an installed disk)");
        return Ok(());
    };
    println!(
        "slot: {}{} on {}",
        inst.slot,
        if inst.info.trial { " (on trial)" } else { "" },
        inst.disk.display()
    );
    match inst.boot_state() {
        Ok(state) => match state.next {
            Some(next) => println!(
                "next boot: slot {next} on trial ({} tries left), then slot {}",
                state.tries, state.good
            ),
            None => println!("next boot: slot {}", state.good),
        },
        // Reading grubenv means mounting the ESP.
        Err(_) if !nix::unistd::geteuid().is_root() => {
            println!("next boot: (run with sudo to read the boot loader's state)")
        }
        Err(e) => println!("next boot: unknown ({e})"),
    }
    match upgrade::last_rollback(Path::new("/")) {
        Some(r) => println!(
            "last rollback: slot {} -> slot {} ({}{}), at {}",
            r.from,
            r.to,
            if r.automatic {
                "automatic: slot ".to_owned()
                    + r.from.name()
                    + " did not reach ready within its tries"
            } else {
                "ros os rollback".to_owned()
            },
            if r.config_restored {
                "; config restored from the slot's snapshot"
            } else {
                ""
            },
            humantime_secs(r.at_unix)
        ),
        None => println!("last rollback: none"),
    }
    Ok(())
}

fn humantime_secs(unix: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The newest release's bundle URL from `rancher.upgrade.url`, or `None` (said why) when the
/// running version is already the newest.
fn newest_release(insecure_url: bool) -> Result<Option<String>> {
    let Some(url) = super::releases::configured_url(Path::new("/")) else {
        bail!("no bundle given: pass -i FILE|URL, or set rancher.upgrade.url to a release list (docs/install.md)");
    };
    let index = super::releases::fetch_configured(&url, insecure_url)?;
    let Some(newest) = index.newest() else {
        bail!("{url} lists no usable release; nothing was written");
    };
    let running = BootInfo::read().map(|i| i.version).unwrap_or_default();
    if index.is_current(&running) {
        println!(
            "ros {running} is running; the newest release in {url} is {}: nothing to do.",
            newest.version
        );
        return Ok(None);
    }
    println!(
        "newest release in {url}: {} ({})",
        newest.version, newest.url
    );
    Ok(Some(newest.url.clone()))
}

fn list(insecure_url: bool) -> Result<()> {
    let inst = Installed::detect()?;
    let state = inst.boot_state().ok();
    for slot in [Slot::A, Slot::B] {
        let version = inst
            .slot_manifest(slot)
            .map(|m| m.version)
            .unwrap_or_else(|| "(empty)".into());
        let mut notes = Vec::new();
        if slot == inst.slot {
            notes.push("running".to_owned());
        }
        if let Some(s) = state {
            if s.good == slot {
                notes.push("default".into());
            }
            if s.next == Some(slot) {
                notes.push(format!("on trial, {} tries left", s.tries));
            }
        }
        println!("{slot}  {version:<20} {}", notes.join(", "));
    }
    if let Some(url) = super::releases::configured_url(Path::new("/")) {
        println!("releases in {url}:");
        // The slots are shown whatever the list does; a list that cannot be read is a warning.
        match super::releases::fetch_configured(&url, insecure_url) {
            Ok(index) => {
                for r in &index.releases {
                    let mark = if r.version.to_string() == inst.info.version {
                        "  (running)"
                    } else {
                        ""
                    };
                    println!("  {:<20} {}{mark}", r.version.to_string(), r.url);
                }
            }
            Err(e) => eprintln!("warning: {e:#}"),
        }
    }
    Ok(())
}

/// Where `ros os upgrade -i` takes its bundle from.
#[derive(Debug, PartialEq, Eq)]
enum BundleSource {
    File(PathBuf),
    Url(String),
}

/// Classifies `-i`: https:// is a URL, http:// only with `--insecure-url`, anything else a file.
fn bundle_source(image: &str, insecure_url: bool) -> Result<BundleSource> {
    if image.starts_with("https://") {
        return Ok(BundleSource::Url(image.to_owned()));
    }
    if image.starts_with("http://") {
        if !insecure_url {
            bail!(
                "{image}: plain http:// is refused (anyone on the path can see or replace what is sent): use https://, or pass --insecure-url to accept it; nothing was written"
            );
        }
        return Ok(BundleSource::Url(image.to_owned()));
    }
    Ok(BundleSource::File(PathBuf::from(image)))
}

/// Removes the downloaded bundle when the upgrade ends, on every path out of it.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), "removing the downloaded bundle: {e}");
            }
        }
    }
}

fn upgrade(image: &str, insecure_url: bool, force: bool, no_reboot: bool) -> Result<()> {
    require_root("ros os upgrade")?;
    let source = bundle_source(image, insecure_url)?;
    let inst = Installed::detect()?;
    let trusted = TrustedKeys::load(Path::new(TRUSTED_KEYS_DIR))?;
    let mut downloaded = RemoveOnDrop(None);
    let bundle_path = match source {
        BundleSource::Url(url) => {
            if url.starts_with("http://") {
                println!("warning: {url} is plain http (--insecure-url): only the bundle's signature protects it");
            }
            let out = PathBuf::from(DOWNLOAD);
            println!(
                "downloading {url} (at most {} MiB, {} min) ...",
                layout::SLOT_BYTES >> 20,
                TOTAL_TIMEOUT.as_secs() / 60
            );
            let settings = host::http_client::Settings {
                component: Some("os-upgrade"),
                connect_timeout: Some(CONNECT_TIMEOUT),
                timeout: Some(STALL_TIMEOUT),
                proxies: host::http_client::Proxies::FromEnvironment,
                // Release downloads often redirect to a CDN; the signature, not the host, is
                // what makes a bundle trusted.
                redirects: host::http_client::Redirects::Any,
            };
            // A bundle's files must fit in a slot, so a bigger download cannot be a bundle.
            let bounds = host::http_client::Bounds {
                max_bytes: layout::SLOT_BYTES,
                total: TOTAL_TIMEOUT,
            };
            downloaded.0 = Some(out.clone());
            host::http_client::download(&settings, &url, &out, bounds)
                .context("not upgraded: nothing was written")?;
            out
        }
        BundleSource::File(path) => path,
    };
    println!("checking {} ...", bundle_path.display());
    let verified = upgrade::verify(&bundle_path, trusted)
        .context("not upgraded: the bundle was refused and nothing was written")?;
    let manifest = verified.manifest().clone();
    println!(
        "bundle verified: ros {} ({} files). Slot {} will be overwritten; slot {} (ros {}) stays as the fallback.",
        manifest.version,
        manifest.files.len(),
        inst.slot.other(),
        inst.slot,
        inst.info.version
    );
    if !force && !super::install::confirm("Upgrade? [y/N] ")? {
        bail!("not upgraded: nothing was written");
    }
    let target = upgrade::upgrade(&inst, &verified, Path::new("/"), |step| match step {
        Step::WritingSlot { slot, partition } => {
            println!("==> writing slot {slot} ({})", partition.display())
        }
        Step::SnapshottingConfig { slot } => {
            println!("==> saving the config as slot {slot}'s snapshot")
        }
    })?;
    println!(
        "slot {target} holds ros {}; the next boot tries it ({} tries, then back to slot {}).",
        manifest.version,
        os_disk::boot_state::TRIES,
        inst.slot
    );
    // Before the reboot request: PID 1 may stop this process before it returns.
    drop(downloaded);
    finish(no_reboot)
}

fn rollback(force: bool, no_reboot: bool) -> Result<()> {
    require_root("ros os rollback")?;
    let inst = Installed::detect()?;
    let (target, m) = upgrade::rollback_target(&inst)?;
    println!(
        "slot {target} holds ros {}; it boots from now on, with the config it had.",
        m.version
    );
    if !force && !super::install::confirm("Roll back? [y/N] ")? {
        bail!("not rolled back");
    }
    upgrade::rollback(&inst, Path::new("/"))?;
    finish(no_reboot)
}

fn finish(no_reboot: bool) -> Result<()> {
    if no_reboot {
        println!("Reboot to start it.");
        return Ok(());
    }
    println!("Rebooting.");
    pid1::power::request(pid1::power::PowerAction::Reboot).context("asking PID 1 to reboot")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_needs_insecure_url_and_https_does_not() {
        let e = bundle_source("http://10.0.2.2/ros.bundle", false)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("http://10.0.2.2/ros.bundle: plain http:// is refused")
                && e.contains("--insecure-url"),
            "{e}"
        );
        assert_eq!(
            bundle_source("http://10.0.2.2/ros.bundle", true).unwrap(),
            BundleSource::Url("http://10.0.2.2/ros.bundle".into())
        );
        assert_eq!(
            bundle_source("https://example.org/ros.bundle", false).unwrap(),
            BundleSource::Url("https://example.org/ros.bundle".into())
        );
        assert_eq!(
            bundle_source("/home/rancher/ros.bundle", false).unwrap(),
            BundleSource::File("/home/rancher/ros.bundle".into())
        );
    }
}
