//! The rule catalogue: every rule id a decision can cite, what it means and where it comes from.
//!
//! This table is the policy language an operator reads (`msix-policy rules` prints it). A rule id
//! is stable: tests and snapshots refer to it, so rename one only with a changelog entry. Each
//! rule is explained in `docs/policy.md` under an anchor named by its id
//! (`docs/policy.md#risk.none`); a test below keeps the two in step.
//!
//! A rule id is a [`RuleId`]: the catalogue's ids are its associated constants
//! (`RuleId::RISK_SELF_ONLY`); an id read from outside (an audit's verdict in a plan input) keeps
//! its text even when this build's catalogue does not list it.
//!
//! ```
//! use msix_policy_engine::{Rule, RuleId};
//!
//! let rule = RuleId::RISK_SELF_ONLY.rule().unwrap();
//! assert_eq!(rule.id, "risk.self-only");
//! assert_eq!(RuleId::RISK_SELF_ONLY.reference(), "docs/policy.md#risk.self-only");
//! assert_eq!(RuleId::RISK_SELF_ONLY.step(), "risk");
//! assert!(Rule::ALL.iter().all(|r| r.id.contains('.')));
//! ```

use std::borrow::Cow;
use std::fmt;

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Rule {
    /// The stable, dotted id a [`Reason`](crate::Reason) cites (`isolation.vtd.ir-enabled`).
    pub id: &'static str,
    /// What the rule says, in one sentence.
    pub summary: &'static str,
    /// Spec section or kernel source the rule rests on.
    pub reference: &'static str,
}

/// A rule id (`isolation.vtd.ir-enabled`): what a [`Reason`](crate::Reason) or an
/// [`IsolationVerdict`](crate::IsolationVerdict) cites. Serialized as its text.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(Cow<'static, str>);

impl RuleId {
    /// An id read from outside the engine (an audited verdict); it may name a rule this build's
    /// catalogue does not list ([`RuleId::rule`] is then `None`).
    pub fn from_text(id: impl Into<String>) -> Self {
        RuleId(Cow::Owned(id.into()))
    }
    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The catalogue entry, `None` for an id this build does not list.
    pub fn rule(&self) -> Option<&'static Rule> {
        Rule::find(self.as_str())
    }
    /// The rule's reference from the catalogue, or an empty string for an id outside it.
    pub fn reference(&self) -> &'static str {
        self.rule().map_or("", |r| r.reference)
    }
    /// The policy step the id belongs to: the text before its first dot (`isolation`, `assign`,
    /// `exposure`, `risk`, `layout`, ...).
    pub fn step(&self) -> &str {
        self.as_str().split('.').next().unwrap_or_default()
    }
}

impl std::ops::Deref for RuleId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for RuleId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<str> for RuleId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RuleId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<RuleId> for &RuleId {
    fn eq(&self, other: &RuleId) -> bool {
        **self == *other
    }
}

impl PartialEq<RuleId> for &str {
    fn eq(&self, other: &RuleId) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<RuleId> for str {
    fn eq(&self, other: &RuleId) -> bool {
        self == other.as_str()
    }
}

impl serde::Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for RuleId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        // A catalogue id shares the constant's text; any other id keeps its own.
        Ok(match Rule::find(&text) {
            Some(rule) => RuleId(Cow::Borrowed(rule.id)),
            None => RuleId::from_text(text),
        })
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for RuleId {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        String::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

macro_rules! catalogue {
    ($( $konst:ident = $id:literal, $summary:literal, $reference:expr; )*) => {
        impl RuleId {
            $(
                #[doc = concat!("`", $id, "`: ", $summary, ".")]
                pub const $konst: RuleId = RuleId(Cow::Borrowed($id));
            )*
        }
        impl Rule {
            /// Every rule, in catalogue order.
            pub const ALL: &'static [Rule] = &[ $( Rule { id: $id, summary: $summary, reference: $reference }, )* ];
        }
    };
}

const VTD_IR: &str = "Linux drivers/iommu/intel/irq_remapping.c; Intel VT-d spec ch. 5 (interrupt remapping)";
const AMD_IR: &str =
    "Linux drivers/iommu/amd/init.c, iommu.c; AMD IOMMU spec 2.2.5 (interrupt remapping tables per DTE)";
const TYPE1: &str = "Linux drivers/vfio/vfio_iommu_type1.c (allow_unsafe_interrupts, MSI isolation check)";
const IOMMUFD: &str =
    "Linux drivers/iommu/iommufd/device.c (iommufd_device_bind, msi_device_has_isolated_msi, allow_unsafe_interrupts)";
const TYPE1_ATTACH: &str = "Linux drivers/vfio/vfio_iommu_type1.c (vfio_iommu_type1_attach_group); drivers/iommu/iommu.c (iommu_group_has_isolated_msi, since 6.3); kernel/irq/irqdomain.c (irq_domain_check_msi_remap, until 6.2)";
const PCI_MSIX: &str = "PCI Local Bus Specification 3.0, 6.8.2 (MSI-X table and PBA)";
const VFIO_MAP: &str =
    "Linux drivers/vfio/pci/vfio_pci_core.c; include/uapi/linux/vfio.h (VFIO_REGION_INFO_CAP_MSIX_MAPPABLE)";

catalogue! {
    // Isolation, from the platform backends.
    VTD_IR_ENABLED = "isolation.vtd.ir-enabled", "VT-d interrupt remapping is enabled with source-id verification: a device can only raise its own remapped interrupts", VTD_IR;
    VTD_INTREMAP_OFF = "isolation.vtd.intremap-off", "the kernel command line disables interrupt remapping (intremap=off)", VTD_IR;
    VTD_SID_OFF = "isolation.vtd.sid-verification-off", "intremap=nosid turns off source-id verification: any device may use any IRTE; stricter than Linux, which still reports isolation", "Linux drivers/iommu/intel/irq_remapping.c (disable_sourceid_checking); Intel VT-d spec 9.10 (IRTE SVT/SID)";
    VTD_COMPAT_FORMAT = "isolation.vtd.compat-format-allowed", "compatibility-format interrupts are not blocked, so a device can bypass remapping", VTD_IR;
    VTD_FIRMWARE_NO_IR = "isolation.vtd.firmware-no-ir", "the ACPI DMAR table does not set INTR_REMAP: firmware offers no interrupt remapping", "ACPI DMAR table, Intel VT-d spec 8.1 (Flags bit 0 INTR_REMAP)";
    VTD_HW_NO_IR = "isolation.vtd.hw-no-ir", "a DMAR unit lacks the IR bit (ecap bit 3): Linux enables remapping only when every unit has it", "Intel VT-d spec 10.4.3 (ECAP_REG.IR); Linux drivers/iommu/intel/irq_remapping.c";
    VTD_IR_NOT_ACTIVE = "isolation.vtd.ir-not-active", "MSI interrupts are delivered without remapping (chip names lack the IR- prefix)", "Linux drivers/iommu/intel/irq_remapping.c (IR-PCI-MSI irq domain)";
    VTD_IR_UNKNOWN = "isolation.vtd.ir-state-unknown", "no evidence shows whether interrupt remapping is active", VTD_IR;
    AMDVI_IR_ENABLED = "isolation.amdvi.ir-enabled", "AMD-Vi interrupt remapping is enabled; its tables are per device (DTE), so a device can only raise its own interrupts", AMD_IR;
    AMDVI_INTREMAP_OFF = "isolation.amdvi.intremap-off", "the kernel command line disables interrupt remapping (intremap=off or amd_iommu=off)", AMD_IR;
    AMDVI_IR_NOT_ACTIVE = "isolation.amdvi.ir-not-active", "MSI interrupts are delivered without remapping (chip names lack the IR- prefix)", AMD_IR;
    AMDVI_IR_UNKNOWN = "isolation.amdvi.ir-state-unknown", "no evidence shows whether AMD-Vi interrupt remapping is active", AMD_IR;
    X86_NO_IOMMU = "isolation.x86.no-iommu", "no VT-d or AMD-Vi unit is registered: nothing remaps or validates MSI writes", "Linux drivers/iommu/iommu.c; sys/class/iommu";
    PSERIES_PAPR = "isolation.ppc64.pseries-papr", "the PAPR hypervisor owns MSI programming (RTAS ibm,change-msi) and validates MSIs per partitionable endpoint", "PAPR+ 7.3.10 (ibm,change-msi); Linux arch/powerpc/platforms/pseries/msi.c";
    PSERIES_NO_RTAS_MSI = "isolation.ppc64.pseries-no-rtas-msi", "a pSeries host without evidence of the RTAS MSI services: MSI validation is unproven", "PAPR+ 7.3.10; Linux arch/powerpc/platforms/pseries/msi.c";
    POWERNV_IODA = "isolation.ppc64.powernv-ioda", "the device sits behind an IODA2/IODA3 PHB, which validates each MSI against its PE", "Linux arch/powerpc/platforms/powernv/pci-ioda.c (pnv_pci_ioda_msi_setup); IODA2/IODA3 PHB specs";
    POWERNV_PHB_UNKNOWN = "isolation.ppc64.powernv-phb-unknown", "the device's PHB is not a known IODA2/IODA3 PHB, or cannot be found", "Linux arch/powerpc/platforms/powernv/pci-ioda.c";
    PPC64_PLATFORM_UNKNOWN = "isolation.ppc64.platform-unknown", "neither pSeries nor PowerNV could be established for this POWER host", "Linux arch/powerpc/kernel/setup-common.c (cpuinfo platform line)";
    ARM64_ITS = "isolation.arm64.its", "the device's MSIs go to a GICv3 ITS, which translates them by DeviceID", "Arm GICv3/v4 architecture spec ch. 5 (ITS); Linux drivers/irqchip/irq-gic-v3-its-msi.c";
    ARM64_GICV2M = "isolation.arm64.gicv2m", "the device's MSIs go to a GICv2m frame, which does not know which device wrote", "Linux drivers/irqchip/irq-gic-v2m.c (no IRQ_DOMAIN_FLAG_ISOLATED_MSI)";
    ARM64_MBI = "isolation.arm64.mbi", "the device's MSIs go to GICv3 MBI, which does not know which device wrote", "Linux drivers/irqchip/irq-gic-v3-mbi.c";
    ARM64_MSI_UNKNOWN = "isolation.arm64.msi-controller-unknown", "the device's MSI controller could not be established", "Linux drivers/irqchip/irq-gic-v3-its-msi.c, irq-gic-v2m.c";
    PLATFORM_UNKNOWN = "isolation.platform-unknown", "the host's platform is unknown, so is MSI isolation", "docs/policy.md#isolation.platform-unknown (unknown is treated as not isolated)";

    // Assignability.
    ASSIGN_ISOLATED = "assign.isolated", "MSI isolation holds: the VFIO IOMMU backend accepts the group", TYPE1;
    ASSIGN_REFUSED_TYPE1 = "assign.type1.not-isolated", "without MSI isolation vfio_iommu_type1 fails VFIO_SET_IOMMU with EPERM unless allow_unsafe_interrupts=Y", TYPE1;
    ASSIGN_ALLOW_UNSAFE = "assign.type1.allow-unsafe", "allow_unsafe_interrupts=Y lets a non-isolated device be assigned; the guest can forge other devices' interrupts", TYPE1;
    ASSIGN_REFUSED_IOMMUFD = "assign.iommufd.not-isolated", "without MSI isolation iommufd refuses to bind the device (msi_device_has_isolated_msi) unless iommufd's own allow_unsafe_interrupts=Y", IOMMUFD;
    ASSIGN_IOMMUFD_ALLOW_UNSAFE = "assign.iommufd.allow-unsafe", "iommufd's allow_unsafe_interrupts=Y lets a non-isolated device be bound; the guest can forge other devices' interrupts", IOMMUFD;
    ASSIGN_REFUSED_SPAPR = "assign.spapr.not-isolated", "the sPAPR TCE backend has no MSI isolation check of its own, so msix-policy refuses a device whose isolation is not established", "Linux drivers/vfio/vfio_iommu_spapr_tce.c";
    KERNEL_TYPE1_SYSTEM_WIDE = "kernel.type1.msi-check-system-wide", "before Linux 6.3 vfio_iommu_type1 accepts a group when any irq domain of the system remaps MSIs (irq_domain_check_msi_remap) or the IOMMU reports IOMMU_CAP_INTR_REMAP: not a per-group check, so msix-policy decides from the device's own verdict", TYPE1_ATTACH;
    KERNEL_TYPE1_PER_GROUP = "kernel.type1.msi-check-per-group", "from Linux 6.3 vfio_iommu_type1 accepts a group only when every device of it has isolated MSIs (iommu_group_has_isolated_msi)", TYPE1_ATTACH;
    KERNEL_IOMMUFD_ABSENT = "kernel.iommufd.absent", "before Linux 6.6 there is no VFIO device cdev, so no VFIO device can be bound to iommufd: the iommufd backend is not offered", "Linux drivers/vfio/device_cdev.c (VFIO_DEVICE_BIND_IOMMUFD, since 6.6); drivers/vfio/Kconfig (VFIO_DEVICE_CDEV)";
    ASSIGN_NOIOMMU = "assign.vfio-noiommu", "the device's IOMMU group is a vfio-noiommu group (enable_unsafe_noiommu_mode): no IOMMU backend can take it for a VM and nothing protects DMA or MSIs, so it is refused, never safe", "Linux drivers/vfio/group.c (vfio_noiommu_group_alloc names the group 'vfio-noiommu'; VFIO_NOIOMMU_IOMMU only in a container of noiommu groups); drivers/vfio/vfio_main.c (enable_unsafe_noiommu_mode)";
    ASSIGN_NO_GROUP = "assign.no-iommu-group", "the device has no IOMMU group, so VFIO cannot assign it", "Linux drivers/vfio/group.c; Documentation/driver-api/vfio.rst";
    ASSIGN_BRIDGE = "assign.bridge", "PCI-to-PCI and CardBus bridges are not assignable through vfio-pci", "Linux drivers/vfio/pci/vfio_pci.c (vfio_pci_probe: header type 0 only)";

    // Guest profile.
    GUEST_PARAVIRTUAL = "guest.paravirtual", "the guest programs MSI-X by hypercall (PAPR ibm,change-msi), never by writing the table", "PAPR+ 7.3.10";
    GUEST_DIRECT = "guest.direct-table-writes", "the guest programs MSI-X by writing the table, so the VMM must see those writes", PCI_MSIX;

    // Host facts the exposure depends on.
    HOST_MAPPABLE_PROBED = "host.msix-mappable.probed", "VFIO reported VFIO_REGION_INFO_CAP_MSIX_MAPPABLE on the MSI-X BAR", VFIO_MAP;
    HOST_MAPPABLE_INFERRED = "host.msix-mappable.inferred", "the kernel release is 4.16 or later, which lets userspace mmap the MSI-X BAR (vfio-pci: MSI-X BAR mmap since 4.16)", VFIO_MAP;
    HOST_NOT_MAPPABLE = "host.msix-not-mappable", "the kernel does not let userspace mmap the MSI-X table pages (before 4.16, or unknown release)", VFIO_MAP;

    // Device facts.
    DEVICE_NO_MSIX = "device.no-msix", "the function has no MSI-X capability: there is no table to expose", PCI_MSIX;
    DEVICE_CONFIG_UNREADABLE = "device.config-unreadable", "the capability list could not be read (64-byte config means an unprivileged read): MSI-X is unknown, all memory BARs are trapped", "Linux drivers/pci/pci-sysfs.c (config read limited to 64 bytes without CAP_SYS_ADMIN)";
    DEVICE_CONFIG_INCONSISTENT = "device.config-inconsistent", "config disagrees with the vendor/device/class attributes the kernel serves from the same registers: it is corrupt and nothing in it is trusted", "Linux drivers/pci/pci-sysfs.c (vendor, device, class, config)";
    DEVICE_CAPS_BROKEN = "device.capability-list-broken", "the capability list loops, points into the header or runs past the config space", "PCI Local Bus Specification 3.0, 6.7 (capabilities list)";
    DEVICE_MSIX_OUT_OF_BAR = "device.msix-outside-bar", "the MSI-X table or PBA lies outside its BAR, or in a BAR that is absent or I/O: where it is cannot be trusted", PCI_MSIX;
    DEVICE_BARS_UNKNOWN = "device.bars-unknown", "the device's BARs could not be read, so no mapping plan can be made", "Linux drivers/pci/pci-sysfs.c (resource)";
    DEVICE_SHARES_4K = "device.msix-shares-4k-range", "a known register window lies inside a 4 KiB range that holds the MSI-X table or PBA, which the PCI spec forbids", PCI_MSIX;

    // Exposure.
    EXPOSURE_PASSTHROUGH = "exposure.passthrough", "paravirtual guest, isolated device, mappable BAR: map everything, nothing traps", "docs/policy.md#exposure.passthrough; Linux vfio_pci_core.c (MSI-X BAR mmap since 4.16)";
    EXPOSURE_RELOCATE = "exposure.relocate", "the guest writes the table and trapping it would catch other registers: present a virtual table elsewhere and map the whole physical BAR", "QEMU hw/vfio/pci.c (vfio_pci_relocate_msix)";
    EXPOSURE_TRAP_NOT_ISOLATED = "exposure.trap.not-isolated", "without isolation the table is never reachable by the guest", TYPE1;
    EXPOSURE_TRAP_GUEST_WRITES = "exposure.trap.guest-writes", "the guest writes the table and trapping it costs no other register", PCI_MSIX;
    EXPOSURE_TRAP_NOT_MAPPABLE = "exposure.trap.not-mappable", "the kernel will not map the MSI-X table pages, so they are trapped", VFIO_MAP;
    EXPOSURE_TRAP_NO_SLOT = "exposure.trap.no-relocation-slot", "relocation would help but no free BAR slot or extensible BAR exists", "QEMU hw/vfio/pci.c (vfio_pci_relocate_msix)";
    EXPOSURE_TRAP_UNKNOWN_MSIX = "exposure.trap.msix-unknown", "where the MSI-X table lives is unknown: every memory BAR is trapped", "docs/policy.md#exposure.trap.msix-unknown (unknown never means safe)";
    EXPOSURE_NONE = "exposure.none", "no MSI-X table: every memory BAR is mapped", PCI_MSIX;
    EXPOSURE_REFUSE = "exposure.refuse", "the device is not assignable: no plan", TYPE1;

    // Risk.
    RISK_NONE = "risk.none", "nothing of the device's MSI-X is reachable by the guest", "docs/policy.md#risk.none";
    RISK_SELF_ONLY = "risk.self-only", "the guest can reach the MSI-X table, but isolation confines the damage to its own device", "docs/policy.md#risk.self-only";
    RISK_UNSAFE = "risk.unsafe", "allow_unsafe_interrupts on a non-isolated device: the device can raise interrupts it does not own", TYPE1;

    // Plan details.
    PLAN_HOT_TRAPPED = "plan.hot-window-trapped", "a hot register window shares a trapped page: every access to it exits to the VMM", "docs/policy.md#plan.hot-window-trapped";
    PLAN_REGION_NOT_MMAPPABLE = "plan.region-not-mmappable", "VFIO reports part of a BAR as not mmappable (no MMAP flag, or outside its sparse mmap areas): those pages trap", "include/uapi/linux/vfio.h (VFIO_REGION_INFO_FLAG_MMAP, VFIO_REGION_INFO_CAP_SPARSE_MMAP)";
    PLAN_SUBPAGE_BAR = "plan.sub-page-bar-unaligned", "a BAR smaller than a page that does not start on a page boundary cannot be mmapped; it is trapped whole", "Linux drivers/vfio/pci/vfio_pci_core.c (bar_mmap_supported)";

    // The VMM's layout.
    LAYOUT_NO_RELOCATION = "layout.relocation-forbidden", "the VMM's relocation policy forbids adding or extending a BAR, so the table stays in place", "msix-policy VMM input (relocation policy)";
    LAYOUT_QEMU_PBA_MAPPED = "layout.qemu.pba-mapped", "QEMU's layout: only the table's pages leave the BAR's mmap; the PBA's own pages stay mapped (QEMU enables its emulated PBA only while a masked vector fires through it)", "QEMU hw/vfio/pci.c (vfio_pci_fixup_msix_region carves the table only; vfio_msix_setup disables the PBA MemoryRegion until it is needed)";
    LAYOUT_QEMU_SUB_PAGE_BAR = "layout.qemu.sub-page-bar", "QEMU maps a BAR smaller than a host page only where the guest places it on a host-page boundary; this layout asks for that alignment so the mapping holds (elsewhere QEMU traps the BAR)", "QEMU hw/vfio/pci.c (vfio_sub_page_bar_update_mapping)";
    LAYOUT_CH_NOT_MAPPABLE = "layout.cloud-hypervisor.bar-not-mappable", "cloud-hypervisor's layout: a BAR holding the table or PBA whose region lacks VFIO_REGION_INFO_CAP_MSIX_MAPPABLE is not mmapped at all: every access traps", "cloud-hypervisor pci/src/vfio.rs (map_mmio_regions skips such a region)";
    LAYOUT_CH_PHYSICAL_TABLE_TRAPPED = "layout.cloud-hypervisor.physical-table-trapped", "deviation from cloud-hypervisor, for safety: once it moves the table it maps the whole physical BAR, the physical table included, whatever the isolation; here the physical table's pages stay trapped (read as zero) because the decision traps the table", "cloud-hypervisor pci/src/vfio.rs (fixup_msix_region, generate_sparse_areas carves no hole past the region)";
    LAYOUT_CH_RELOCATION_REFUSED = "layout.cloud-hypervisor.relocation-refused", "deviation from cloud-hypervisor: its fixup_msix_region would produce offsets that describe no valid layout (a PBA in another BAR or before the table moved with it, or a table offset past 32 bits truncated); the table stays in place and traps", "cloud-hypervisor pci/src/vfio.rs (fixup_msix_region checks only the table's BIR and casts the offsets to u32)";
    ISOLATION_KERNEL_ACCEPTED = "isolation.kernel-accepted", "the VMM's IOMMU backend (type1 or iommufd) accepted the device with allow_unsafe_interrupts off, so the kernel found its MSIs isolated", "Linux drivers/vfio/vfio_iommu_type1.c (vfio_iommu_type1_attach_group); drivers/iommu/iommufd/device.c";
    ISOLATION_KERNEL_UNCHECKED = "isolation.kernel-unchecked", "the VMM's IOMMU backend accepted the device without checking MSI isolation (allow_unsafe_interrupts, or sPAPR TCE, which has no check)", "Linux drivers/vfio/vfio_iommu_type1.c; drivers/vfio/vfio_iommu_spapr_tce.c";

    // Operator overrides.
    OVERRIDE_EXPOSURE = "override.exposure", "an operator override capped the exposure", "msix-policy overrides file";
    OVERRIDE_NO_RELOCATION = "override.forbid-relocation", "an operator override forbids relocating the table", "msix-policy overrides file";

    // Real devices and real platforms: layouts the spec forbids, device quirks, arm64 routing.
    DEVICE_MSIX_TABLE_PBA_OVERLAP = "device.msix-table-pba-overlap", "the MSI-X table and PBA ranges overlap, which the PCI spec forbids: writes to one change the other", "PCI Local Bus Specification 3.0, 6.8.2 (the table and PBA may share a 4 KiB range but must not overlap)";
    QUIRK_CHELSIO_T5_VF_PBA = "device.quirk.chelsio-t5-vf-pba", "Chelsio T5 VFs (1425:58xx) report a PBA offset of 0x8000 in an 8 KiB BAR; the PBA is at 0x1000, as QEMU corrects it", "QEMU hw/vfio/pci.c (vfio_msix_early_setup: Chelsio T5 VF PBA offset)";
    EXPOSURE_TRAP_MSIX_AS_CLAIMED = "exposure.trap.msix-as-claimed", "the MSI-X layout breaks the spec but the device is isolated: the pages the capability claims trap where they lie in a memory BAR, the rest is mapped; the guest may reach the real table, so the risk is self-only", "docs/policy.md#exposure.trap.msix-as-claimed; PCI Local Bus Specification 3.0, 6.8.2";
    ARM64_ITS_ISOLATION_QUIRK = "isolation.arm64.its-quirk-not-isolated", "the device's MSIs go to a GICv3 ITS whose driver applied a quirk that clears MSI isolation (the Socionext SynQuacer pre-ITS), so Linux does not report them isolated", "Linux drivers/irqchip/irq-gic-v3-its.c (its_enable_quirk_socionext_synquacer clears IRQ_DOMAIN_FLAG_ISOLATED_MSI); drivers/irqchip/irq-gic-common.c (gic_enable_quirks logs 'GIC: enabling workaround for ...')";
    ARM64_ITS_DEVICEID_SHARED = "isolation.arm64.its-deviceid-shared", "the device's MSIs go to an ITS, and another present function outside its IOMMU group reaches the same ITS as the same DeviceID (through msi-map-mask, overlapping msi-map entries, two bridges' msi-parent, or IORT mappings): the ITS keeps one translation table for both and cannot tell them apart; stricter than Linux", "Linux drivers/of/base.c (of_map_id: msi-map, msi-map-mask); drivers/irqchip/irq-gic-v3-its.c (its_msi_prepare shares the its_device of a DeviceID seen before); Documentation/devicetree/bindings/pci/pci-msi.txt";
    ARM64_IORT_NO_ITS = "isolation.arm64.iort-no-its", "on an ACPI host the IORT maps the device's requester ID from its PCI root complex to no ITS the MADT lists (no root complex for its segment, no ID mapping covers it, or an ITS group whose ITS is not in the MADT): it has no MSI domain, so its MSIs are not isolated", "Linux drivers/acpi/arm64/iort.c (iort_node_map_id, iort_dev_find_its_id, iort_get_device_domain); drivers/irqchip/irq-gic-v3-its.c (gic_acpi_parse_madt_its registers each MADT ITS by its ID); Arm DEN 0049 (IORT)";
    PSERIES_EMULATED = "isolation.ppc64.pseries-emulated", "the function is emulated by the QEMU pseries machine (its device-tree ibm,loc-code starts with qemu_): QEMU's MSI window turns any written data into an interrupt number without checking who wrote it, so no hypervisor validates its MSIs", "QEMU hw/ppc/spapr_pci.c (spapr_msi_write; spapr_phb_get_loc_code names emulated functions qemu_<type>:...)";
    PSERIES_ORIGIN_UNKNOWN = "isolation.ppc64.pseries-origin-unknown", "on a QEMU pseries machine the function's device-tree node or ibm,loc-code cannot be read, so whether QEMU emulates it (not isolated) or KVM passes it through (validated by the host PHB) is unknown", "QEMU hw/ppc/spapr_pci.c (spapr_phb_get_loc_code, spapr_msi_write); hw/ppc/spapr.c (model, compatible)";
    ARM64_GICV5_ITS = "isolation.arm64.gicv5-its", "the device's MSIs go to a GICv5 ITS (its translate frame, or chip names ITS-v5-PCI-MSI(X)-DDDD:BB:DD.F), which translates them by DeviceID; its driver sets IRQ_DOMAIN_FLAG_ISOLATED_MSI on every ITS domain", "Linux drivers/irqchip/irq-gic-v5-its.c (gicv5_its_init_bases: msi_domain_flags = IRQ_DOMAIN_FLAG_ISOLATED_MSI); drivers/irqchip/irq-gic-its-msi-parent.c (gic_v5_its_msi_parent_ops prefix ITS-v5-); Documentation/devicetree/bindings/interrupt-controller/arm,gic-v5.yaml";
    X86_IR_WITHOUT_DMA_REMAPPING = "isolation.x86.ir-without-dma-remapping", "no IOMMU unit is registered (DMA remapping off, e.g. intel_iommu=off) although interrupts are remapped (IR- chips, or the kernel log): MSIs are remapped, but there is no IOMMU group to assign through", "Linux drivers/iommu/intel/irq_remapping.c (intel_prepare_irq_remapping ignores dmar_disabled); drivers/iommu/intel/iommu.c (intel_iommu_init returns before registering units when dmar_disabled); drivers/vfio/group.c (vfio_group_find_or_alloc: no IOMMU group, no VFIO device, unless enable_unsafe_noiommu_mode, whose container takes only the noiommu backend)";
    EXPOSURE_TRAP_DRIVER_UNMAPPED_BAR = "exposure.trap.driver-unmapped-bar", "the trapped pages beyond the table's and PBA's 4 KiB ranges lie in a BAR the device's known Linux driver never maps (its pci_iomap/ioremap calls, policy/data/driver-bars.toml): it holds no register the driver uses, so the table traps instead of being relocated", "docs/policy.md#exposure.trap.driver-unmapped-bar; docs/policy.md#driver-bars (each entry names its driver source)";
    EXPOSURE_TRAP_DEDICATED_MSIX_BAR = "exposure.trap.dedicated-msix-bar", "the trapped pages beyond the table's and PBA's 4 KiB ranges lie in a BAR that holds only the table and PBA (a dedicated MSI-X BAR): they catch no register, so the table traps instead of being relocated", "docs/policy.md#exposure.trap.dedicated-msix-bar; PCI Local Bus Specification 3.0, 6.8.2 (MSI-X table and PBA)";
}

impl Rule {
    /// Looks a rule up by id.
    pub fn find(id: &str) -> Option<&'static Rule> {
        Rule::ALL.iter().find(|r| r.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_dotted() {
        let mut seen = std::collections::BTreeSet::new();
        for r in Rule::ALL {
            assert!(seen.insert(r.id), "duplicate rule id {}", r.id);
            assert!(r.id.contains('.'), "rule id {} has no namespace", r.id);
            assert!(!r.reference.is_empty() && !r.summary.is_empty());
        }
    }

    /// Every rule id has an anchor in docs/policy.md, every reference into it names an anchor
    /// that exists, and nothing cites the design document by its old name.
    #[test]
    fn every_rule_is_documented_in_docs_policy_md() {
        const DOC: &str = include_str!("../../docs/policy.md");
        for r in Rule::ALL {
            let anchor = format!("<a id=\"{}\"></a>", r.id);
            assert!(DOC.contains(&anchor), "docs/policy.md has no anchor {anchor}");
            assert!(!r.reference.contains("POLICY.md"), "{} still cites POLICY.md: {}", r.id, r.reference);
            for part in r.reference.split("docs/policy.md#").skip(1) {
                let target: String =
                    part.chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')).collect();
                let target = target.trim_end_matches('.');
                assert!(
                    DOC.contains(&format!("<a id=\"{target}\"></a>")),
                    "{} refers to docs/policy.md#{target}, which has no anchor",
                    r.id
                );
            }
        }
    }
}
