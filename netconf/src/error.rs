//! What can go wrong while applying `rancher.network`.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open a netlink socket: {0}")]
    NetlinkSocket(#[source] std::io::Error),
    #[error("netlink: {op}: {source}")]
    Netlink {
        op: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error(
        "{iface}: invalid address {value:?} (expected CIDR such as 10.0.0.2/24 or fd00::2/64)"
    )]
    InvalidAddress { iface: String, value: String },
    #[error("{iface}: invalid {field} {value:?}")]
    InvalidGateway {
        iface: String,
        field: &'static str,
        value: String,
    },
    #[error("{iface}: invalid vlans {value:?}: {reason}")]
    InvalidVlans {
        iface: String,
        value: String,
        reason: String,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("interface {0} not found")]
    LinkNotFound(String),
}

impl Error {
    pub(crate) fn netlink(op: impl Into<String>, source: rtnetlink::Error) -> Self {
        Error::Netlink {
            op: op.into(),
            source,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
