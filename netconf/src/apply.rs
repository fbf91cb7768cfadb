//! Applying a whole `rancher.network`, and keeping it applied.

use crate::dhcp;
use crate::dns;
use crate::error::{Error, Result};
use crate::hooks;
use crate::hostname;
use crate::hotplug::{self, Event};
use crate::links::{self, Link};
use crate::matching::find_match;
use crate::static_addr::{self, Cidr};
use crate::{bond, bridge, vlan, RunOptions};
use os_config::model::network::{InterfaceConfig, NetworkConfig};
use rtnetlink::Handle;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Written in RUN_DIR once the first apply (static config, then the bounded DHCP wait) is done.
pub const APPLIED_MARKER: &str = "applied";
/// Seconds a DHCP wait may hold when `dhcp_timeout` is not set.
pub const DEFAULT_DHCP_TIMEOUT: u64 = 10;
/// Link events are gathered this long before one re-apply.
const SETTLE: Duration = Duration::from_millis(300);
/// A full re-scan this often catches link events lost to a full socket buffer.
const RESCAN: Duration = Duration::from_secs(60);

/// What one apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Links that matched an entry and were configured, in link order.
    pub configured: Vec<String>,
    /// Interfaces with a DHCP lease when the apply returned.
    pub dhcp_bound: Vec<String>,
    /// Interfaces whose DHCP client is still waiting (it keeps running).
    pub dhcp_pending: Vec<String>,
    /// Errors, each already logged; the rest of the config was still applied.
    pub errors: Vec<String>,
}

impl ApplyReport {
    fn error(&mut self, e: Error) {
        tracing::error!(error = %e, "network config not fully applied");
        self.errors.push(e.to_string());
    }
}

/// Addresses netconf added, kept in RUN_DIR so a restarted netconf can still remove them.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    owned: BTreeMap<String, BTreeSet<String>>,
}

/// A running netconf: the netlink connection, the DHCP clients and what it applied.
pub struct Netconf {
    handle: Handle,
    conn: tokio::task::JoinHandle<()>,
    opts: RunOptions,
    config: NetworkConfig,
    hook: PathBuf,
    clients: BTreeMap<String, dhcp::Client>,
    /// Links configured (hooks run) by index, with the name they had.
    configured: HashMap<u32, String>,
    /// Every link seen at the last apply, matched or not.
    known: HashMap<u32, String>,
    state: State,
    report: ApplyReport,
    hostname: Option<String>,
}

/// Applies `config` once: static configuration first, then DHCP with its bounded wait, DNS and
/// hooks. The returned `Netconf` owns the DHCP clients (dropping it stops them); call
/// [`Netconf::watch_until`] to keep the config applied.
pub async fn apply_once(config: &NetworkConfig, opts: &RunOptions) -> Result<Netconf> {
    let mut nc = Netconf::new(config.clone(), opts.clone())?;
    nc.report = nc.apply(true, true).await;
    Ok(nc)
}

/// Applies `config`, then keeps watching: hotplugged links, DHCP changes, SIGHUP re-reads the
/// config through `opts.reload` and applies the difference; SIGTERM/SIGINT stop it cleanly.
pub async fn run(config: &NetworkConfig, opts: &RunOptions) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let sig = |k: SignalKind| signal(k).map_err(|e| Error::io("signal handler", e));
    let (mut hup, mut term, mut int) = (
        sig(SignalKind::hangup())?,
        sig(SignalKind::terminate())?,
        sig(SignalKind::interrupt())?,
    );
    let marker = opts.run_dir.join(APPLIED_MARKER);
    let _ = std::fs::remove_file(&marker);
    let mut nc = apply_once(config, opts).await?;
    // cloud-init waits for this before probing network datasources.
    let summary = format!(
        "configured={:?} dhcp_bound={:?} dhcp_pending={:?}\n",
        nc.report.configured, nc.report.dhcp_bound, nc.report.dhcp_pending
    );
    if let Err(e) = os_config::atomic_write(&marker, summary.as_bytes(), 0o644) {
        tracing::warn!(path = %marker.display(), error = %e, "cannot write the applied marker");
    }
    let (tx, rx) = mpsc::channel(4);
    let reload = opts.reload.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: re-reading the network config");
            if let Some(f) = &reload {
                if tx.send(f()).await.is_err() {
                    return;
                }
            }
        }
    });
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    };
    nc.watch_until(shutdown, rx).await
}

impl Netconf {
    fn new(config: NetworkConfig, opts: RunOptions) -> Result<Netconf> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(Error::NetlinkSocket)?;
        let conn = tokio::spawn(conn);
        let hook = dhcp::install_hook(&opts.run_dir)?;
        let state = std::fs::read(opts.run_dir.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok(Netconf {
            handle,
            conn,
            opts,
            config,
            hook,
            clients: BTreeMap::new(),
            configured: HashMap::new(),
            known: HashMap::new(),
            state,
            report: ApplyReport::default(),
            hostname: None,
        })
    }

    /// What the last apply (the first one, or the latest reload) did.
    pub fn report(&self) -> &ApplyReport {
        &self.report
    }

    /// The config currently applied.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// The pid of the dhcpcd running for `iface`.
    pub fn dhcp_pid(&self, iface: &str) -> Option<i32> {
        self.clients.get(iface).and_then(dhcp::Client::pid)
    }

    /// Applies a changed config: the difference only (hooks and `pre_cmds`/`post_cmds` run again).
    pub async fn reload(&mut self, config: NetworkConfig) -> &ApplyReport {
        self.config = config;
        self.report = self.apply(true, true).await;
        &self.report
    }

    /// Keeps the config applied until `shutdown` resolves, taking new configs from `reload`;
    /// then stops the DHCP clients.
    pub async fn watch_until(
        &mut self,
        shutdown: impl Future<Output = ()>,
        mut reload: mpsc::Receiver<NetworkConfig>,
    ) -> Result<()> {
        let mut events = Some(hotplug::subscribe()?);
        // Links that appeared between the first apply and the subscription.
        self.apply(false, false).await;
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut dirty_since: Option<Instant> = None;
        let mut last_scan = Instant::now();
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(cfg) = reload.recv() => {
                    tracing::info!("applying a changed network config");
                    self.reload(cfg).await;
                    last_scan = Instant::now();
                }
                ev = async {
                    match events.as_mut() {
                        Some(e) => e.next().await,
                        None => std::future::pending().await,
                    }
                } => match ev {
                    Some(Event::New(l)) if self.known.get(&l.index) != Some(&l.name) => {
                        tracing::info!(iface = %l.name, "link appeared");
                        dirty_since.get_or_insert_with(Instant::now);
                    }
                    Some(Event::Deleted { index }) if self.known.contains_key(&index) => {
                        dirty_since.get_or_insert_with(Instant::now);
                    }
                    Some(_) => {}
                    None => {
                        tracing::warn!("link event socket closed; re-scanning every {RESCAN:?}");
                        events = None;
                    }
                },
                _ = tick.tick() => {
                    let settled = dirty_since.is_some_and(|t| t.elapsed() >= SETTLE);
                    if settled || last_scan.elapsed() >= RESCAN {
                        dirty_since = None;
                        last_scan = Instant::now();
                        let rep = self.apply(false, false).await;
                        if !rep.configured.is_empty() {
                            tracing::debug!(configured = ?rep.configured, "re-applied");
                        }
                    }
                    self.update_dns_and_hostname(&mut ApplyReport::default());
                }
            }
        }
        self.stop_clients().await;
        Ok(())
    }

    /// Stops every DHCP client and waits for them.
    pub async fn stop_clients(&mut self) {
        let clients = std::mem::take(&mut self.clients);
        for (_, c) in clients {
            c.stop().await;
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.dhcp_timeout.unwrap_or(DEFAULT_DHCP_TIMEOUT))
    }

    async fn list(&self, rep: &mut ApplyReport) -> Option<Vec<Link>> {
        match links::list(&self.handle).await {
            Ok(l) => Some(l),
            Err(e) => {
                rep.error(e);
                None
            }
        }
    }

    /// One pass over every link. `full`: also run pre_cmds/post_cmds and every link's hooks
    /// (otherwise only new links get theirs). `wait`: hold for DHCP up to dhcp_timeout.
    async fn apply(&mut self, full: bool, wait: bool) -> ApplyReport {
        let mut rep = ApplyReport::default();
        let cfg = self.config.clone();
        let ht = self.opts.hook_timeout;
        if full {
            hooks::run("pre_cmds", &cfg.pre_cmds, None, ht).await;
        }

        // Virtual links first, so the pass below finds and configures them like any other.
        let Some(all) = self.list(&mut rep).await else {
            return rep;
        };
        let bonds = bond::wanted(&cfg);
        for (name, opts) in &bonds {
            if let Err(e) = bond::ensure(&self.handle, &self.opts.sysfs, name, opts, &all).await {
                rep.error(e);
            }
        }
        let bridges = bridge::wanted(&cfg);
        for name in &bridges {
            if let Err(e) = bridge::ensure(&self.handle, name, &all).await {
                rep.error(e);
            }
        }
        let Some(all) = self.list(&mut rep).await else {
            return rep;
        };
        for l in &all {
            let Some((_, ic)) = matched(l, &cfg) else {
                continue;
            };
            let Some(spec) = ic.vlans.as_deref() else {
                continue;
            };
            match vlan::parse(&l.name, spec) {
                Ok(vs) => {
                    for v in vs {
                        if let Err(e) = vlan::ensure(&self.handle, l, &v, &all).await {
                            rep.error(e);
                        }
                    }
                }
                Err(e) => rep.error(e),
            }
        }

        // Slaves join their bond (whose options are already set) or bridge.
        let Some(all) = self.list(&mut rep).await else {
            return rep;
        };
        for l in &all {
            let Some((_, ic)) = matched(l, &cfg) else {
                continue;
            };
            let target =
                ic.bond
                    .clone()
                    .filter(|b| !b.trim().is_empty())
                    .or(match bridge::role(ic) {
                        bridge::Role::Member(b) => Some(b),
                        _ => None,
                    });
            let Some(target) = target else { continue };
            let Some(ctl) = links::by_name(&all, target.trim()) else {
                rep.error(Error::LinkNotFound(target));
                continue;
            };
            if let Err(e) = links::set_controller(&self.handle, l, ctl).await {
                rep.error(e);
            }
        }

        // Every matched link: hooks, MTU, addresses, up, gateways, DHCP.
        let Some(all) = self.list(&mut rep).await else {
            return rep;
        };
        let dhcp_wanted = dhcp_wanted(&all, &cfg, &self.hook);
        // Stale clients go first: dhcpcd deconfigures its interface as it exits, which would
        // otherwise race the static addresses and kernel routes added below.
        let lease_dir = dhcp::lease_dir(&self.opts.run_dir);
        let stale: Vec<String> = self
            .clients
            .iter()
            .filter(|(n, c)| dhcp_wanted.get(*n) != Some(&c.args))
            .map(|(n, _)| n.clone())
            .collect();
        for n in stale {
            if let Some(c) = self.clients.remove(&n) {
                tracing::info!(iface = %n, "stopping DHCP");
                c.stop().await;
                dhcp::clear_leases(&lease_dir, &n);
            }
        }
        for l in &all {
            let Some((_, ic)) = matched(l, &cfg) else {
                continue;
            };
            let is_new = self.configured.get(&l.index) != Some(&l.name);
            if full || is_new {
                hooks::run("pre_up", &ic.pre_up, Some(&l.name), ht).await;
            }
            if is_bond_slave(ic) {
                // A slave only needs to be up; its bond carries the addresses.
                if let Err(e) = links::set_up(&self.handle, l).await {
                    rep.error(e);
                }
            } else {
                if let Err(e) = self.configure(l, ic).await {
                    rep.error(e);
                }
            }
            if full || is_new {
                hooks::run("post_up", &ic.post_up, Some(&l.name), ht).await;
            }
            self.configured.insert(l.index, l.name.clone());
            rep.configured.push(l.name.clone());
        }
        // Bonds and bridges with no entry of their own still have to come up.
        for l in all.iter().filter(|l| matched(l, &cfg).is_none()) {
            if bonds.contains_key(&l.name) || bridges.contains(&l.name) {
                if let Err(e) = links::set_up(&self.handle, l).await {
                    rep.error(e);
                }
            }
        }
        self.known = all.iter().map(|l| (l.index, l.name.clone())).collect();
        self.configured.retain(|i, _| self.known.contains_key(i));

        // DHCP clients: start the missing.
        for (name, args) in &dhcp_wanted {
            if !self.clients.contains_key(name) {
                dhcp::clear_leases(&lease_dir, name);
                let c = dhcp::Client::spawn(&self.opts.dhcpcd, name, args.clone());
                self.clients.insert(name.clone(), c);
            }
        }

        // DNS from what is known now (static and default), then again after the DHCP wait.
        self.update_dns_and_hostname(&mut rep);
        let dhcp_ifaces: Vec<String> = dhcp_wanted.keys().cloned().collect();
        if wait && !dhcp_ifaces.is_empty() {
            let (b, p) = dhcp::wait_for_leases(&lease_dir, &dhcp_ifaces, self.timeout()).await;
            if !p.is_empty() {
                tracing::warn!(pending = ?p, "no DHCP lease within dhcp_timeout; continuing, the clients keep trying");
            }
            self.update_dns_and_hostname(&mut rep);
            rep.dhcp_bound = b;
            rep.dhcp_pending = p;
        } else {
            rep.dhcp_bound = dhcp::bound(&lease_dir, &dhcp_ifaces);
            rep.dhcp_pending = dhcp_ifaces
                .into_iter()
                .filter(|i| !rep.dhcp_bound.contains(i))
                .collect();
        }
        if full {
            hooks::run("post_cmds", &cfg.post_cmds, None, ht).await;
        }
        self.save_state();
        rep
    }

    async fn configure(&mut self, l: &Link, ic: &InterfaceConfig) -> Result<()> {
        if let Some(mtu) = ic.mtu {
            links::set_mtu(&self.handle, l, mtu).await?;
        }
        let desired = static_addr::desired(&l.name, ic)?;
        let ours: BTreeSet<Cidr> = self
            .state
            .owned
            .get(&l.name)
            .map(|s| s.iter().filter_map(|c| c.parse().ok()).collect())
            .unwrap_or_default();
        let dhcp = ic.dhcp == Some(true);
        let now = static_addr::apply(&self.handle, l, &desired, dhcp, &ours).await?;
        self.state
            .owned
            .insert(l.name.clone(), now.iter().map(Cidr::to_string).collect());
        links::set_up(&self.handle, l).await?;
        let gw4 = static_addr::parse_gateway(&l.name, "gateway", ic.gateway.as_deref(), false)?;
        let gw6 =
            static_addr::parse_gateway(&l.name, "gateway_ipv6", ic.gateway_ipv6.as_deref(), true)?;
        static_addr::apply_gateway(&self.handle, l, gw4, false).await?;
        static_addr::apply_gateway(&self.handle, l, gw6, true).await?;
        Ok(())
    }

    fn update_dns_and_hostname(&mut self, rep: &mut ApplyReport) {
        let leases = dns::read_leases(&dhcp::lease_dir(&self.opts.run_dir));
        let resolved = dns::resolve(&self.config.dns, &leases, &self.opts.default_dns);
        if let Err(e) = dns::write_resolv_conf(&self.opts.resolv_conf, &resolved) {
            rep.error(e);
        }
        let Some(h) = &self.opts.hostname else { return };
        let from_dhcp = leases.iter().find_map(|l| l.hostname.clone());
        let name = hostname::choose(
            h.configured.as_deref(),
            h.metadata.as_deref(),
            from_dhcp.as_deref(),
            &h.default,
        );
        if self.hostname.as_deref() == Some(name.as_str()) {
            return;
        }
        tracing::info!(hostname = %name, "setting the host name");
        if h.set_kernel_hostname {
            if let Err(e) = hostname::set_kernel_hostname(&name) {
                rep.error(e);
            }
        }
        if let Err(e) = hostname::write_hosts(&h.hosts_file, &name) {
            rep.error(e);
        }
        self.hostname = Some(name);
    }

    fn save_state(&self) {
        let path = self.opts.run_dir.join("state.json");
        match serde_json::to_vec_pretty(&self.state) {
            Ok(b) => {
                if let Err(e) = os_config::atomic_write(&path, &b, 0o600) {
                    tracing::warn!(path = %path.display(), error = %e, "cannot save netconf state");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot encode netconf state"),
        }
    }
}

impl Drop for Netconf {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

fn matched<'a>(l: &Link, cfg: &'a NetworkConfig) -> Option<(&'a str, &'a InterfaceConfig)> {
    find_match(
        &l.name,
        l.mac.as_deref(),
        l.kind.as_deref(),
        &cfg.interfaces,
    )
}

/// A link enslaved to a bond: it is only set up, and its bond carries addresses and DHCP.
fn is_bond_slave(ic: &InterfaceConfig) -> bool {
    ic.bond.as_deref().is_some_and(|b| !b.trim().is_empty())
}

/// The dhcpcd arguments of every matched link that wants DHCP (bond slaves never do).
fn dhcp_wanted(all: &[Link], cfg: &NetworkConfig, hook: &Path) -> BTreeMap<String, Vec<String>> {
    all.iter()
        .filter_map(|l| matched(l, cfg).map(|(_, ic)| (l, ic)))
        .filter(|(_, ic)| ic.dhcp == Some(true))
        .filter(|(_, ic)| !is_bond_slave(ic))
        .map(|(l, ic)| (l.name.clone(), dhcp::args(&l.name, ic, hook)))
        .collect()
}
