//! Which hypervisor the machine runs under, from the firmware's DMI strings, and the catalogue
//! service that talks to it (`rancher.hypervisor_service`, as in RancherOS v1).

use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hypervisor {
    /// QEMU, with or without KVM (libvirt, Proxmox, OpenStack).
    Qemu,
    VMware,
    HyperV,
    Xen,
}

impl Hypervisor {
    /// The catalogue service for this hypervisor's guest agent, if ros ships one.
    pub fn guest_service(self) -> Option<&'static str> {
        match self {
            Hypervisor::Qemu => Some("qemu-guest-agent"),
            Hypervisor::VMware => Some("open-vm-tools"),
            Hypervisor::HyperV | Hypervisor::Xen => None,
        }
    }
}

/// Reads `sys/class/dmi/id/{sys_vendor,product_name}` under `root`; `None` on bare metal, in a
/// cloud whose hypervisor needs no agent (EC2, GCE), or when DMI is missing.
pub fn detect(root: &Path) -> Option<Hypervisor> {
    let read = |name: &str| {
        std::fs::read_to_string(root.join("sys/class/dmi/id").join(name))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    from_dmi(&read("sys_vendor"), &read("product_name"))
}

fn from_dmi(vendor: &str, product: &str) -> Option<Hypervisor> {
    match (vendor, product) {
        ("QEMU", _) | (_, "KVM") | ("Red Hat", _) => Some(Hypervisor::Qemu),
        ("VMware, Inc.", _) => Some(Hypervisor::VMware),
        ("Microsoft Corporation", "Virtual Machine") => Some(Hypervisor::HyperV),
        ("Xen", _) => Some(Hypervisor::Xen),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dmi_strings_name_the_hypervisor() {
        assert_eq!(
            from_dmi("QEMU", "Standard PC (Q35 + ICH9, 2009)"),
            Some(Hypervisor::Qemu)
        );
        assert_eq!(from_dmi("Red Hat", "KVM"), Some(Hypervisor::Qemu));
        assert_eq!(
            from_dmi("VMware, Inc.", "VMware7,1"),
            Some(Hypervisor::VMware)
        );
        assert_eq!(
            from_dmi("Microsoft Corporation", "Virtual Machine")
                .and_then(Hypervisor::guest_service),
            None
        );
        assert_eq!(from_dmi("Amazon EC2", "m5.large"), None);
        assert_eq!(from_dmi("Dell Inc.", "PowerEdge R640"), None);
    }

    #[test]
    fn reads_under_a_root() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(detect(root.path()), None);
        let dmi = root.path().join("sys/class/dmi/id");
        std::fs::create_dir_all(&dmi).unwrap();
        std::fs::write(dmi.join("sys_vendor"), "VMware, Inc.\n").unwrap();
        assert_eq!(detect(root.path()), Some(Hypervisor::VMware));
    }
}
