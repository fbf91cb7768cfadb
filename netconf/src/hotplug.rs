//! Link events (RTNLGRP_LINK): links that appear, are renamed or vanish after start.

use crate::error::{Error, Result};
use crate::links::Link;
use futures_util::StreamExt;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::SocketAddr;
use rtnetlink::MulticastGroup;

pub enum Event {
    New(Link),
    Deleted { index: u32 },
}

pub struct LinkEvents {
    rx: futures_util::stream::BoxStream<'static, (NetlinkMessage<RouteNetlinkMessage>, SocketAddr)>,
    task: tokio::task::JoinHandle<()>,
}

/// Subscribes to link events in the calling thread's network namespace.
pub fn subscribe() -> Result<LinkEvents> {
    let (conn, _handle, rx) = rtnetlink::new_multicast_connection(&[MulticastGroup::Link])
        .map_err(Error::NetlinkSocket)?;
    let task = tokio::spawn(conn);
    Ok(LinkEvents {
        rx: rx.boxed(),
        task,
    })
}

impl LinkEvents {
    /// The next link event; `None` when the socket is gone.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            let (msg, _) = self.rx.next().await?;
            match msg.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)) => {
                    if let Some(l) = Link::from_message(&m) {
                        return Some(Event::New(l));
                    }
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(m)) => {
                    return Some(Event::Deleted {
                        index: m.header.index,
                    })
                }
                _ => {}
            }
        }
    }
}

impl Drop for LinkEvents {
    fn drop(&mut self) {
        self.task.abort();
    }
}
