//! Kernel generations: where the kernel's behaviour that a decision rests on changed, by release.
//!
//! The engine decides from the host's kernel release (`HostFacts::kernel`, `uname -r`) where
//! Linux itself behaves differently across releases. Each boundary here is a rule of
//! `docs/policy.md`, and the reason that applies it names the release and the boundary:
//!
//! | since | what changed | rule |
//! |---|---|---|
//! | 4.16 | vfio-pci lets userspace mmap the MSI-X BAR (`VFIO_REGION_INFO_CAP_MSIX_MAPPABLE`) | `host.msix-mappable.inferred`, `host.msix-not-mappable` |
//! | 6.3 | `vfio_iommu_type1_attach_group` asks `iommu_group_has_isolated_msi()` of the group instead of `irq_domain_check_msi_remap() \|\| IOMMU_CAP_INTR_REMAP` | `kernel.type1.msi-check-per-group`, `kernel.type1.msi-check-system-wide` |
//! | 6.6 | VFIO device cdev (`CONFIG_VFIO_DEVICE_CDEV`): a VFIO device can be bound to iommufd | `kernel.iommufd.absent` |
//!
//! ```
//! use msix_policy_engine::{KernelVersion, Type1MsiCheck};
//!
//! let v = KernelVersion::parse("6.1.0-56-amd64").unwrap();
//! assert_eq!((v.major, v.minor, v.to_string()), (6, 1, "6.1".to_string()));
//! assert_eq!(KernelVersion::parse("5.10.0-32-amd64").unwrap().type1_msi_check(), Type1MsiCheck::SystemWide);
//! assert_eq!(KernelVersion::parse("6.12.117+deb13-amd64").unwrap().type1_msi_check(), Type1MsiCheck::PerGroup);
//! assert!(!v.offers_vfio_cdev());
//! assert!(!KernelVersion::parse("4.15.0-generic").unwrap().msix_bar_mmap());
//! assert_eq!(KernelVersion::parse("unknown (VMM input)"), None);
//! ```

use std::fmt;

/// A kernel release's `major.minor`, ordered: the generation a boundary below compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KernelVersion {
    /// The major version (`6` of `6.1.0-56-amd64`).
    pub major: u32,
    /// The minor version (`1` of `6.1.0-56-amd64`).
    pub minor: u32,
}

impl KernelVersion {
    /// vfio-pci lets userspace mmap the MSI-X BAR, table pages included, and reports
    /// `VFIO_REGION_INFO_CAP_MSIX_MAPPABLE` ("vfio-pci: Allow mapping MSIX BAR", Linux 4.16).
    pub const MSIX_BAR_MMAP: KernelVersion = KernelVersion { major: 4, minor: 16 };

    /// `vfio_iommu_type1_attach_group` checks `iommu_group_has_isolated_msi(iommu_group)` (the
    /// "Remove IOMMU_CAP_INTR_REMAP" series, Linux 6.3); before, `irq_domain_check_msi_remap() ||`
    /// the IOMMU's `IOMMU_CAP_INTR_REMAP` (asked of the bus, `iommu_capable(bus, ...)`, until the
    /// per-device `device_iommu_capable` of 6.0).
    pub const TYPE1_GROUP_MSI_CHECK: KernelVersion = KernelVersion { major: 6, minor: 3 };

    /// The VFIO device cdev (`/dev/vfio/devices/vfioX`, `VFIO_DEVICE_BIND_IOMMUFD`), Linux 6.6:
    /// before it no VFIO device can be bound to iommufd (iommufd itself came in 6.2, usable by VFIO
    /// only through its type1-compatible container).
    pub const VFIO_CDEV: KernelVersion = KernelVersion { major: 6, minor: 6 };

    /// The version of a release such as `6.1.0-56-amd64` or `6.12.117+deb13-arm64`; `None`
    /// when it does not start with one (`unknown (VMM input)`).
    pub fn parse(release: &str) -> Option<KernelVersion> {
        let mut it = release.split(|c: char| !c.is_ascii_digit());
        Some(KernelVersion { major: it.next()?.parse().ok()?, minor: it.next()?.parse().ok()? })
    }

    /// The type1 MSI isolation check of this generation.
    pub fn type1_msi_check(self) -> Type1MsiCheck {
        if self >= Self::TYPE1_GROUP_MSI_CHECK {
            Type1MsiCheck::PerGroup
        } else {
            Type1MsiCheck::SystemWide
        }
    }

    /// Whether this generation can bind a VFIO device to iommufd (VFIO cdev).
    pub fn offers_vfio_cdev(self) -> bool {
        self >= Self::VFIO_CDEV
    }

    /// Whether this generation lets userspace mmap the MSI-X BAR.
    pub fn msix_bar_mmap(self) -> bool {
        self >= Self::MSIX_BAR_MMAP
    }
}

/// `major.minor`, as a message shows it.
impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// How `vfio_iommu_type1` decides that a group's MSIs are isolated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type1MsiCheck {
    /// Before 6.3: `irq_domain_check_msi_remap() || IOMMU_CAP_INTR_REMAP`. The first half is
    /// system-wide: one MSI-remapping irq domain anywhere (a GICv3 ITS) accepts every group,
    /// whatever controller the group's own MSIs go to.
    SystemWide,
    /// 6.3 and later: `iommu_group_has_isolated_msi()`: every device of the group must have
    /// isolated MSIs (its own irq domain `IRQ_DOMAIN_FLAG_ISOLATED_MSI`, or the IOMMU's
    /// interrupt remapping).
    PerGroup,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(release: &str) -> KernelVersion {
        KernelVersion::parse(release).unwrap()
    }

    #[test]
    fn boundaries() {
        assert_eq!(v("6.2.16").type1_msi_check(), Type1MsiCheck::SystemWide);
        assert_eq!(v("6.3.0").type1_msi_check(), Type1MsiCheck::PerGroup);
        assert!(!v("6.5.0").offers_vfio_cdev());
        assert!(v("6.6.1").offers_vfio_cdev());
        assert!(v("4.16.0").msix_bar_mmap());
        assert_eq!(KernelVersion::parse("x"), None);
        assert_eq!(KernelVersion::parse("10"), None);
    }
}
