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
//! use msix_policy_engine::kernel::{self, Type1MsiCheck};
//!
//! assert_eq!(kernel::version("6.1.0-56-amd64"), Some((6, 1)));
//! assert_eq!(kernel::type1_msi_check("5.10.0-32-amd64"), Some(Type1MsiCheck::SystemWide));
//! assert_eq!(kernel::type1_msi_check("6.12.117+deb13-amd64"), Some(Type1MsiCheck::PerGroup));
//! assert_eq!(kernel::offers_vfio_cdev("6.1.0-56-amd64"), Some(false));
//! assert_eq!(kernel::msix_bar_mmap("4.15.0-generic"), Some(false));
//! assert_eq!(kernel::type1_msi_check("unknown (VMM input)"), None);
//! ```

/// vfio-pci lets userspace mmap the MSI-X BAR, table pages included, and reports
/// `VFIO_REGION_INFO_CAP_MSIX_MAPPABLE` ("vfio-pci: Allow mapping MSIX BAR", Linux 4.16).
pub const MSIX_BAR_MMAP_SINCE: (u32, u32) = (4, 16);

/// `vfio_iommu_type1_attach_group` checks `iommu_group_has_isolated_msi(iommu_group)` (the
/// "Remove IOMMU_CAP_INTR_REMAP" series, Linux 6.3); before, `irq_domain_check_msi_remap() ||`
/// the IOMMU's `IOMMU_CAP_INTR_REMAP` (asked of the bus, `iommu_capable(bus, ...)`, until the
/// per-device `device_iommu_capable` of 6.0).
pub const TYPE1_GROUP_MSI_CHECK_SINCE: (u32, u32) = (6, 3);

/// The VFIO device cdev (`/dev/vfio/devices/vfioX`, `VFIO_DEVICE_BIND_IOMMUFD`), Linux 6.6:
/// before it no VFIO device can be bound to iommufd (iommufd itself came in 6.2, usable by VFIO
/// only through its type1-compatible container).
pub const VFIO_CDEV_SINCE: (u32, u32) = (6, 6);

/// `(major, minor)` of a release such as `6.1.0-56-amd64` or `6.12.117+deb13-arm64`; `None`
/// when it does not start with one (`unknown (VMM input)`).
pub fn version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// `major.minor` for a message.
pub fn show((major, minor): (u32, u32)) -> String {
    format!("{major}.{minor}")
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

/// The type1 MSI isolation check of a release; `None` when the release has no version.
pub fn type1_msi_check(release: &str) -> Option<Type1MsiCheck> {
    version(release).map(|v| {
        if v >= TYPE1_GROUP_MSI_CHECK_SINCE {
            Type1MsiCheck::PerGroup
        } else {
            Type1MsiCheck::SystemWide
        }
    })
}

/// Whether a release can bind a VFIO device to iommufd (VFIO cdev); `None` without a version.
pub fn offers_vfio_cdev(release: &str) -> Option<bool> {
    version(release).map(|v| v >= VFIO_CDEV_SINCE)
}

/// Whether a release lets userspace mmap the MSI-X BAR; `None` without a version.
pub fn msix_bar_mmap(release: &str) -> Option<bool> {
    version(release).map(|v| v >= MSIX_BAR_MMAP_SINCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        assert_eq!(type1_msi_check("6.2.16"), Some(Type1MsiCheck::SystemWide));
        assert_eq!(type1_msi_check("6.3.0"), Some(Type1MsiCheck::PerGroup));
        assert_eq!(offers_vfio_cdev("6.5.0"), Some(false));
        assert_eq!(offers_vfio_cdev("6.6.1"), Some(true));
        assert_eq!(msix_bar_mmap("4.16.0"), Some(true));
        assert_eq!(version("x"), None);
        assert_eq!(version("10"), None);
    }
}
