//! The links of this network namespace as netconf sees them.

use crate::error::{Error, Result};
use futures_util::TryStreamExt;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::{Handle, LinkUnspec};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// Lower-case `aa:bb:cc:dd:ee:ff`.
    pub mac: Option<String>,
    /// The netlink kind (`bond`, `bridge`, `vlan`, `veth`…); `None` for a physical NIC.
    pub kind: Option<String>,
    pub up: bool,
    pub mtu: Option<u32>,
    /// The bond or bridge this link is enslaved to.
    pub controller: Option<u32>,
}

impl Link {
    pub fn from_message(msg: &LinkMessage) -> Option<Link> {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            mac: None,
            kind: None,
            up: msg.header.flags.contains(LinkFlags::Up),
            mtu: None,
            controller: None,
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Address(a) if a.len() == 6 => {
                    link.mac = Some(
                        a.iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<Vec<_>>()
                            .join(":"),
                    )
                }
                LinkAttribute::Mtu(m) => link.mtu = Some(*m),
                LinkAttribute::Controller(c) => link.controller = Some(*c),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(k) = info {
                            link.kind = Some(k.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        (!link.name.is_empty()).then_some(link)
    }
}

pub async fn list(handle: &Handle) -> Result<Vec<Link>> {
    let mut stream = handle.link().get().execute();
    let mut out = Vec::new();
    while let Some(msg) = stream
        .try_next()
        .await
        .map_err(|e| Error::netlink("list links", e))?
    {
        out.extend(Link::from_message(&msg));
    }
    Ok(out)
}

pub fn by_name<'a>(links: &'a [Link], name: &str) -> Option<&'a Link> {
    links.iter().find(|l| l.name == name)
}

pub async fn set_up(handle: &Handle, link: &Link) -> Result<()> {
    if link.up {
        return Ok(());
    }
    handle
        .link()
        .set(LinkUnspec::new_with_index(link.index).up().build())
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("set {} up", link.name), e))
}

pub async fn set_down(handle: &Handle, link: &Link) -> Result<()> {
    handle
        .link()
        .set(LinkUnspec::new_with_index(link.index).down().build())
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("set {} down", link.name), e))
}

pub async fn set_mtu(handle: &Handle, link: &Link, mtu: u32) -> Result<()> {
    if link.mtu == Some(mtu) {
        return Ok(());
    }
    handle
        .link()
        .set(LinkUnspec::new_with_index(link.index).mtu(mtu).build())
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("set {} mtu {mtu}", link.name), e))
}

/// Enslaves `link` to the bond or bridge `controller` (a bond needs the slave down first).
pub async fn set_controller(handle: &Handle, link: &Link, controller: &Link) -> Result<()> {
    if link.controller == Some(controller.index) {
        return Ok(());
    }
    if controller.kind.as_deref() == Some("bond") {
        set_down(handle, link).await?;
    }
    handle
        .link()
        .set(
            LinkUnspec::new_with_index(link.index)
                .controller(controller.index)
                .build(),
        )
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("enslave {} to {}", link.name, controller.name), e))
}
