//! VLANs: `vlans: "100,200:name"` on a parent interface creates `PARENT.100` and `name`.

use crate::error::{Error, Result};
use crate::links::{self, Link};
use rtnetlink::{Handle, LinkVlan};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vlan {
    pub id: u16,
    pub name: String,
}

/// Parses the `vlans` value of the interface `parent`.
pub fn parse(parent: &str, spec: &str) -> Result<Vec<Vlan>> {
    let err = |reason: String| Error::InvalidVlans {
        iface: parent.to_owned(),
        value: spec.to_owned(),
        reason,
    };
    let mut out: Vec<Vlan> = Vec::new();
    for item in spec
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let (id, name) = match item.split_once(':') {
            Some((id, name)) => (id.trim(), Some(name.trim())),
            None => (item, None),
        };
        let id: u16 = id
            .parse()
            .ok()
            .filter(|i| (1..=4094).contains(i))
            .ok_or_else(|| err(format!("{id:?} is not a VLAN id (1-4094)")))?;
        let name = match name {
            Some("") => return Err(err(format!("VLAN {id} has an empty name"))),
            Some(n) => n.to_owned(),
            None => format!("{parent}.{id}"),
        };
        // The kernel limits names to 15 bytes (IFNAMSIZ - 1).
        if name.len() > 15 {
            return Err(err(format!("name {name:?} is longer than 15 characters")));
        }
        if out.iter().any(|v| v.id == id || v.name == name) {
            return Err(err(format!("VLAN {id} ({name}) is listed twice")));
        }
        out.push(Vlan { id, name });
    }
    Ok(out)
}

/// Creates the VLAN on `parent` if no link has its name; returns true when it was created.
pub async fn ensure(
    handle: &Handle,
    parent: &Link,
    vlan: &Vlan,
    existing: &[Link],
) -> Result<bool> {
    if links::by_name(existing, &vlan.name).is_some() {
        return Ok(false);
    }
    tracing::info!(parent = %parent.name, id = vlan.id, name = %vlan.name, "creating VLAN");
    handle
        .link()
        .add(
            LinkVlan::new(&vlan.name, parent.index, vlan.id)
                .up()
                .build(),
        )
        .execute()
        .await
        .map_err(|e| Error::netlink(format!("create VLAN {} on {}", vlan.name, parent.name), e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ids_and_names() {
        assert_eq!(
            parse("eth0", "100,200:mgmt").unwrap(),
            vec![
                Vlan {
                    id: 100,
                    name: "eth0.100".into()
                },
                Vlan {
                    id: 200,
                    name: "mgmt".into()
                }
            ]
        );
        assert_eq!(
            parse("eth0", " 7 ").unwrap(),
            vec![Vlan {
                id: 7,
                name: "eth0.7".into()
            }]
        );
        assert!(parse("eth0", "").unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_specs_with_the_reason() {
        let e = parse("eth0", "100,x").unwrap_err().to_string();
        assert_eq!(
            e,
            "eth0: invalid vlans \"100,x\": \"x\" is not a VLAN id (1-4094)"
        );
        assert!(parse("eth0", "4095").is_err());
        assert!(parse("eth0", "100,100").is_err());
        assert!(parse("eth0", "5:averyveryverylongname").is_err());
        assert!(parse("eth0", "5:").is_err());
    }
}
