//! Static addresses and default gateways.

use crate::error::{Error, Result};
use crate::links::Link;
use futures_util::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol,
};
use os_config::model::network::InterfaceConfig;
use rtnetlink::{Handle, RouteMessageBuilder};
use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An address with its prefix length, as in `10.0.0.2/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl FromStr for Cidr {
    type Err = ();
    /// A bare address is a host address (/32 or /128).
    fn from_str(s: &str) -> Result<Self, ()> {
        let s = s.trim();
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| ())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().map_err(|_| ())?,
            None => max,
        };
        if prefix > max {
            return Err(());
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An address found on a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub cidr: Cidr,
    /// False for addresses with a lifetime (DHCP, SLAAC).
    pub permanent: bool,
}

/// The addresses the configuration asks for, `address` first.
pub fn desired(iface: &str, cfg: &InterfaceConfig) -> Result<Vec<Cidr>> {
    let mut out = Vec::new();
    for a in cfg.all_addresses() {
        let c = a.parse::<Cidr>().map_err(|()| Error::InvalidAddress {
            iface: iface.to_owned(),
            value: a.clone(),
        })?;
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

fn kernel_owned(c: &Cidr) -> bool {
    match c.addr {
        // Link-local and loopback IPv6 addresses come with the link; removing them breaks IPv6.
        IpAddr::V6(a) => a == Ipv6Addr::LOCALHOST || (a.segments()[0] & 0xffc0) == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

/// Which existing addresses to remove.
///
/// On a static interface every address the config does not list goes, except the kernel's own
/// IPv6 link-local/loopback ones and non-permanent IPv6 ones (router advertisements). On a DHCP
/// interface the DHCP client owns the rest, so only addresses netconf itself added earlier
/// (`ours`) and no longer wanted go.
pub fn to_remove(
    existing: &[Existing],
    desired: &[Cidr],
    dhcp: bool,
    ours: &BTreeSet<Cidr>,
) -> Vec<Cidr> {
    existing
        .iter()
        .filter(|e| !desired.contains(&e.cidr) && !kernel_owned(&e.cidr))
        .filter(|e| {
            if dhcp {
                ours.contains(&e.cidr)
            } else {
                e.permanent || e.cidr.addr.is_ipv4()
            }
        })
        .map(|e| e.cidr)
        .collect()
}

pub fn to_add(existing: &[Existing], desired: &[Cidr]) -> Vec<Cidr> {
    desired
        .iter()
        .filter(|d| !existing.iter().any(|e| &e.cidr == *d))
        .copied()
        .collect()
}

async fn address_messages(handle: &Handle, index: u32) -> Result<Vec<AddressMessage>> {
    let mut stream = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute();
    let mut out = Vec::new();
    while let Some(m) = stream
        .try_next()
        .await
        .map_err(|e| Error::netlink("list addresses", e))?
    {
        if m.header.index == index {
            out.push(m);
        }
    }
    Ok(out)
}

fn existing_of(m: &AddressMessage) -> Option<Existing> {
    let mut addr = None;
    let mut local = None;
    let mut flags = AddressFlags::empty();
    for a in &m.attributes {
        match a {
            AddressAttribute::Address(x) => addr = Some(*x),
            AddressAttribute::Local(x) => local = Some(*x),
            AddressAttribute::Flags(f) => flags = *f,
            _ => {}
        }
    }
    // For IPv4, IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on p2p links).
    let addr = local.or(addr)?;
    Some(Existing {
        cidr: Cidr {
            addr,
            prefix: m.header.prefix_len,
        },
        permanent: flags.contains(AddressFlags::Permanent),
    })
}

pub async fn current(handle: &Handle, index: u32) -> Result<Vec<Existing>> {
    Ok(address_messages(handle, index)
        .await?
        .iter()
        .filter_map(existing_of)
        .collect())
}

/// Makes the link's addresses match `desired`; returns the addresses netconf now owns there.
pub async fn apply(
    handle: &Handle,
    link: &Link,
    desired: &[Cidr],
    dhcp: bool,
    ours: &BTreeSet<Cidr>,
) -> Result<BTreeSet<Cidr>> {
    let messages = address_messages(handle, link.index).await?;
    let existing: Vec<Existing> = messages.iter().filter_map(existing_of).collect();
    for c in to_remove(&existing, desired, dhcp, ours) {
        if let Some(m) = messages
            .iter()
            .find(|m| existing_of(m).is_some_and(|e| e.cidr == c))
        {
            tracing::info!(iface = %link.name, address = %c, "removing address not in the config");
            handle
                .address()
                .del(m.clone())
                .execute()
                .await
                .map_err(|e| Error::netlink(format!("remove {c} from {}", link.name), e))?;
        }
    }
    for c in to_add(&existing, desired) {
        tracing::info!(iface = %link.name, address = %c, "adding address");
        handle
            .address()
            .add(link.index, c.addr, c.prefix)
            .execute()
            .await
            .map_err(|e| Error::netlink(format!("add {c} to {}", link.name), e))?;
    }
    Ok(desired.iter().copied().collect())
}

/// A default route found in the main table.
#[derive(Debug, Clone)]
struct DefaultRoute {
    message: RouteMessage,
    gateway: Option<IpAddr>,
    oif: Option<u32>,
    protocol: RouteProtocol,
}

async fn default_routes(handle: &Handle, v6: bool) -> Result<Vec<DefaultRoute>> {
    let query = if v6 {
        RouteMessageBuilder::<Ipv6Addr>::new().build()
    } else {
        RouteMessageBuilder::<Ipv4Addr>::new().build()
    };
    let mut stream = handle.route().get(query).execute();
    let mut out = Vec::new();
    while let Some(m) = stream
        .try_next()
        .await
        .map_err(|e| Error::netlink("list routes", e))?
    {
        if m.header.destination_prefix_length != 0 || m.header.table != RouteHeader::RT_TABLE_MAIN {
            continue;
        }
        let mut gateway = None;
        let mut oif = None;
        for a in &m.attributes {
            match a {
                RouteAttribute::Gateway(RouteAddress::Inet(g)) => gateway = Some(IpAddr::V4(*g)),
                RouteAttribute::Gateway(RouteAddress::Inet6(g)) => gateway = Some(IpAddr::V6(*g)),
                RouteAttribute::Oif(i) => oif = Some(*i),
                _ => {}
            }
        }
        let protocol = m.header.protocol;
        out.push(DefaultRoute {
            message: m,
            gateway,
            oif,
            protocol,
        });
    }
    Ok(out)
}

/// Makes the link's static default route (IPv4 or IPv6) `gateway`, removing any other static
/// default route through this link. Routes a DHCP client or the kernel added are left alone.
pub async fn apply_gateway(
    handle: &Handle,
    link: &Link,
    gateway: Option<IpAddr>,
    v6: bool,
) -> Result<()> {
    let routes = default_routes(handle, v6).await?;
    let mine = |r: &&DefaultRoute| {
        r.oif == Some(link.index)
            && matches!(r.protocol, RouteProtocol::Static | RouteProtocol::Boot)
    };
    let mut present = false;
    for r in routes.iter().filter(mine) {
        if gateway.is_some() && r.gateway == gateway {
            present = true;
            continue;
        }
        tracing::info!(iface = %link.name, gateway = ?r.gateway, "removing default route not in the config");
        handle
            .route()
            .del(r.message.clone())
            .execute()
            .await
            .map_err(|e| Error::netlink(format!("remove default route on {}", link.name), e))?;
    }
    let Some(gw) = gateway else { return Ok(()) };
    if present {
        return Ok(());
    }
    tracing::info!(iface = %link.name, gateway = %gw, "adding default route");
    let msg = match gw {
        IpAddr::V4(g) => RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(g)
            .output_interface(link.index)
            .build(),
        IpAddr::V6(g) => RouteMessageBuilder::<Ipv6Addr>::new()
            .gateway(g)
            .output_interface(link.index)
            .build(),
    };
    handle
        .route()
        .add(msg)
        .replace()
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("add default route via {gw} on {}", link.name), e))
}

/// Parses `gateway` / `gateway_ipv6`, checking the family.
pub fn parse_gateway(
    iface: &str,
    field: &'static str,
    value: Option<&str>,
    v6: bool,
) -> Result<Option<IpAddr>> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match v.parse::<IpAddr>() {
        Ok(a) if a.is_ipv6() == v6 => Ok(Some(a)),
        _ => Err(Error::InvalidGateway {
            iface: iface.to_owned(),
            field,
            value: v.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }
    fn ex(s: &str, permanent: bool) -> Existing {
        Existing {
            cidr: c(s),
            permanent,
        }
    }

    #[test]
    fn parses_cidrs() {
        assert_eq!(c("10.0.0.2/24").to_string(), "10.0.0.2/24");
        assert_eq!(c("10.0.0.2").to_string(), "10.0.0.2/32");
        assert_eq!(c("fd00::2/64").to_string(), "fd00::2/64");
        assert!("10.0.0.2/33".parse::<Cidr>().is_err());
        assert!("eth0".parse::<Cidr>().is_err());
    }

    #[test]
    fn static_interface_removes_everything_unlisted_but_kernel_ipv6() {
        let existing = [
            ex("10.0.0.2/24", true),
            ex("10.0.0.9/24", true),
            ex("192.168.5.5/24", false),
            ex("fe80::1/64", true),
            ex("2001:db8::5/64", false),
            ex("fd00::9/64", true),
        ];
        let desired = [c("10.0.0.2/24"), c("fd00::2/64")];
        let rm = to_remove(&existing, &desired, false, &BTreeSet::new());
        assert_eq!(
            rm,
            vec![c("10.0.0.9/24"), c("192.168.5.5/24"), c("fd00::9/64")]
        );
        assert_eq!(to_add(&existing, &desired), vec![c("fd00::2/64")]);
    }

    #[test]
    fn dhcp_interface_only_removes_what_netconf_added() {
        let existing = [ex("10.0.0.2/24", true), ex("10.0.0.77/24", false)];
        let ours: BTreeSet<Cidr> = [c("10.0.0.2/24")].into_iter().collect();
        assert_eq!(
            to_remove(&existing, &[], true, &ours),
            vec![c("10.0.0.2/24")]
        );
        assert!(to_remove(&existing, &[c("10.0.0.2/24")], true, &ours).is_empty());
    }

    #[test]
    fn gateways_must_match_the_family() {
        assert!(parse_gateway("e", "gateway", Some("fd00::1"), false).is_err());
        assert_eq!(
            parse_gateway("e", "gateway", Some("10.0.0.1"), false).unwrap(),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            parse_gateway("e", "gateway", Some(" "), false).unwrap(),
            None
        );
    }
}
