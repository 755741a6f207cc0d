//! The facts the engine decides from. Backends fill them in; the engine never reads a file.

use crate::rules::RuleId;
use serde::{Deserialize, Serialize};

/// Where a fact came from: a file under the root (or a probe) and what was read there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// Path relative to the root (`proc/cmdline`), or a probe name (`vfio:region-info`).
    pub source: String,
    /// What was read, or why nothing could be read.
    pub observed: String,
}

impl Evidence {
    /// Evidence read from `source`.
    pub fn new(source: impl Into<String>, observed: impl Into<String>) -> Self {
        Evidence { source: source.into(), observed: observed.into() }
    }
}

/// A fact that may be unknown. An unknown fact's evidence says what was missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Fact<T> {
    /// The value, `None` when it could not be established.
    pub value: Option<T>,
    /// Where the value came from, or what was missing.
    pub evidence: Evidence,
}

impl<T> Fact<T> {
    /// A fact established from `evidence`.
    pub fn known(value: T, evidence: Evidence) -> Self {
        Fact { value: Some(value), evidence }
    }
    /// A fact that could not be established; `evidence` says what was missing.
    pub fn unknown(evidence: Evidence) -> Self {
        Fact { value: None, evidence }
    }
}

/// Facts that cannot be true of any host or device; each names its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FactsError {
    /// The page size is not a power of two from 4 KiB to 64 KiB.
    #[error(
        "page_size {0}: must be a power of two from 4096 to 65536 (the base pages Linux uses on x86, arm64 and POWER)"
    )]
    PageSize(u64),
    /// A BAR index above 5.
    #[error("BAR{0}: a BAR index is 0-5")]
    BarOutOfRange(u8),
    /// The same BAR index twice.
    #[error("BAR{0}: given twice")]
    DuplicateBar(u8),
    /// A BAR (first) in the slot a 64-bit BAR (second) uses for its upper half.
    #[error("BAR{0}: shares its slot with the upper half of 64-bit BAR{1}")]
    BarInUpperHalf(u8, u8),
}

/// The smallest base page of a host this engine decides for (x86, arm64 4K, ppc64 4K).
pub const MIN_PAGE_SIZE: u64 = 4096;
/// The largest (arm64 and ppc64 64K kernels).
pub const MAX_PAGE_SIZE: u64 = 65536;

/// A host page is a power of two from 4 KiB to 64 KiB: the base pages Linux uses on x86 (4 KiB),
/// arm64 (4, 16, 64 KiB) and POWER (4, 64 KiB).
pub fn check_page_size(page: u64) -> Result<(), FactsError> {
    if page.is_power_of_two() && (MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&page) {
        Ok(())
    } else {
        Err(FactsError::PageSize(page))
    }
}

/// The platform family a backend established for the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Platform {
    /// x86 with Intel VT-d remapping units.
    X86Vtd,
    /// x86 with AMD-Vi remapping units.
    X86AmdVi,
    /// x86 without an IOMMU: nothing isolates MSIs.
    X86NoIommu,
    /// POWER under a PAPR hypervisor (pSeries LPAR).
    Ppc64Pseries,
    /// POWER bare metal (OPAL).
    Ppc64Powernv,
    /// POWER, neither pSeries nor PowerNV established.
    Ppc64Unknown,
    /// arm64; isolation depends on each device's MSI controller.
    Arm64,
    /// No platform backend knows this host.
    Unknown,
}

impl Platform {
    /// A human-readable name (`x86 Intel VT-d`).
    pub fn label(self) -> &'static str {
        match self {
            Platform::X86Vtd => "x86 Intel VT-d",
            Platform::X86AmdVi => "x86 AMD-Vi",
            Platform::X86NoIommu => "x86 without IOMMU",
            Platform::Ppc64Pseries => "ppc64 pSeries (PAPR)",
            Platform::Ppc64Powernv => "ppc64 PowerNV",
            Platform::Ppc64Unknown => "ppc64 (platform unknown)",
            Platform::Arm64 => "arm64",
            Platform::Unknown => "unknown",
        }
    }
    /// A POWER host runs PAPR guests: they program MSIs by hypercall.
    pub fn runs_papr_guests(self) -> bool {
        matches!(self, Platform::Ppc64Pseries | Platform::Ppc64Powernv | Platform::Ppc64Unknown)
    }
}

/// The VFIO IOMMU backend the host's VMM uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum VfioBackend {
    /// `vfio_iommu_type1` (x86, arm64): refuses non-isolated groups unless allow_unsafe_interrupts.
    Type1,
    /// `vfio_iommu_spapr_tce` (ppc64): has no MSI isolation check.
    SpaprTce,
    /// iommufd with VFIO cdev: checks MSI isolation per device at bind
    /// (`msi_device_has_isolated_msi`) unless iommufd's own allow_unsafe_interrupts is set.
    Iommufd,
}

impl VfioBackend {
    /// The kebab-case name used in JSON and text (`type1`, `spapr-tce`, `iommufd`).
    pub fn as_str(self) -> &'static str {
        match self {
            VfioBackend::Type1 => "type1",
            VfioBackend::SpaprTce => "spapr-tce",
            VfioBackend::Iommufd => "iommufd",
        }
    }
}

/// How the MSI-X BAR mappability was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum MappableSource {
    /// `VFIO_REGION_INFO_CAP_MSIX_MAPPABLE` seen on a live device (or recorded from one).
    Probed,
    /// Inferred from the kernel release.
    Inferred,
}

/// Whether the kernel lets userspace mmap the pages that hold the MSI-X table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Mappability {
    /// Whether the MSI-X BAR may be mmapped whole, with its evidence.
    pub mappable: Fact<bool>,
    /// Probed or inferred; `None` when unknown.
    pub source: Option<MappableSource>,
}

/// Facts about the host that every device shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HostFacts {
    /// `uname -m`: x86_64, ppc64le, aarch64.
    pub arch: String,
    /// Base page size in bytes (from the host, never from the build target).
    pub page_size: u64,
    /// `uname -r`.
    pub kernel: String,
    /// The platform family the backend established.
    pub platform: Platform,
    /// The VFIO IOMMU backend a VMM on this host uses (spapr-tce on POWER, else type1).
    pub vfio_backend: VfioBackend,
    /// `vfio_iommu_type1.allow_unsafe_interrupts`.
    pub allow_unsafe_interrupts: Fact<bool>,
    /// Whether the kernel lets userspace mmap the MSI-X table pages.
    pub msix_mappable: Mappability,
    /// Whether the host offers iommufd (VFIO cdev) next to the container backend.
    #[serde(default = "unknown_fact")]
    pub iommufd: Fact<bool>,
    /// `iommufd.allow_unsafe_interrupts`, iommufd's own parameter.
    #[serde(default = "unknown_fact")]
    pub iommufd_allow_unsafe_interrupts: Fact<bool>,
    /// Which VFIO backends the host shows (type1 container, VFIO cdev) and which one
    /// `vfio_backend` assumes.
    #[serde(default)]
    pub vfio_backends: VfioBackends,
}

fn unknown_fact() -> Fact<bool> {
    Fact::unknown(Evidence::new("iommufd", "not reported"))
}

/// Which VFIO IOMMU backends the host shows, beside [`HostFacts::iommufd`]: the backend a VMM
/// uses is a fact of the host. A kernel without the type1 container (VFIO cdev and iommufd only,
/// `CONFIG_IOMMUFD_VFIO_CONTAINER` or no `CONFIG_VFIO_CONTAINER`) has no type1 parameter in
/// effect, whatever the command line says; iommufd's own parameter then decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VfioBackends {
    /// The type1 container backend (`sys/module/vfio_iommu_type1`): `false` only where the host
    /// shows it cannot exist (iommufd and the VFIO cdev present, the module absent).
    pub type1: Fact<bool>,
    /// The VFIO device cdev (`sys/class/vfio-dev/`, a device's `vfio-dev/`, `dev/vfio/devices`).
    pub cdev: Fact<bool>,
    /// Which backend [`HostFacts::vfio_backend`] is and why, when the host offers a choice (type1
    /// and iommufd both) or leaves type1 out; `None` when only the architecture's container
    /// backend is in view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assumed: Option<Evidence>,
}

impl Default for VfioBackends {
    fn default() -> Self {
        VfioBackends {
            type1: Fact::unknown(Evidence::new("vfio backends", "not reported")),
            cdev: Fact::unknown(Evidence::new("vfio backends", "not reported")),
            assumed: None,
        }
    }
}

impl HostFacts {
    /// The allow_unsafe_interrupts parameter of the backend the VMM uses (sPAPR has none).
    pub fn allow_unsafe_for(&self, backend: VfioBackend) -> Option<&Fact<bool>> {
        match backend {
            VfioBackend::Type1 => Some(&self.allow_unsafe_interrupts),
            VfioBackend::Iommufd => Some(&self.iommufd_allow_unsafe_interrupts),
            VfioBackend::SpaprTce => None,
        }
    }
}

/// The MSI isolation verdict for one device, with what it rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "status", rename_all = "kebab-case", deny_unknown_fields)]
pub enum IsolationVerdict {
    /// A write by the device to the MSI window can only raise its own interrupts.
    Isolated {
        /// What isolates it (`VT-d interrupt remapping, source-id verified, ...`).
        mechanism: String,
        /// The rule id that established it (`isolation.*`).
        rule: RuleId,
        /// What the verdict rests on.
        evidence: Vec<Evidence>,
    },
    /// The device can raise interrupts it does not own.
    NotIsolated {
        /// Why not.
        why: String,
        /// The rule id that established it (`isolation.*`).
        rule: RuleId,
        /// What the verdict rests on.
        evidence: Vec<Evidence>,
    },
    /// Nothing establishes isolation. Treated as not isolated.
    Unknown {
        /// What is missing.
        why: String,
        /// The rule id that says so (`isolation.*`).
        rule: RuleId,
        /// What was read, or found missing.
        evidence: Vec<Evidence>,
    },
}

impl IsolationVerdict {
    /// An `Isolated` verdict under `rule`.
    pub fn isolated(rule: RuleId, mechanism: impl Into<String>, evidence: Vec<Evidence>) -> Self {
        IsolationVerdict::Isolated { mechanism: mechanism.into(), rule, evidence }
    }
    /// A `NotIsolated` verdict under `rule`.
    pub fn not_isolated(rule: RuleId, why: impl Into<String>, evidence: Vec<Evidence>) -> Self {
        IsolationVerdict::NotIsolated { why: why.into(), rule, evidence }
    }
    /// An `Unknown` verdict under `rule`.
    pub fn unknown(rule: RuleId, why: impl Into<String>, evidence: Vec<Evidence>) -> Self {
        IsolationVerdict::Unknown { why: why.into(), rule, evidence }
    }
    /// Only `Isolated` counts: `Unknown` is treated as not isolated.
    pub fn is_isolated(&self) -> bool {
        matches!(self, IsolationVerdict::Isolated { .. })
    }
    /// `isolated`, `not-isolated` or `unknown`.
    pub fn status(&self) -> &'static str {
        match self {
            IsolationVerdict::Isolated { .. } => "isolated",
            IsolationVerdict::NotIsolated { .. } => "not-isolated",
            IsolationVerdict::Unknown { .. } => "unknown",
        }
    }
    /// The rule id of the verdict.
    pub fn rule(&self) -> &RuleId {
        match self {
            IsolationVerdict::Isolated { rule, .. }
            | IsolationVerdict::NotIsolated { rule, .. }
            | IsolationVerdict::Unknown { rule, .. } => rule,
        }
    }
    /// The mechanism (isolated) or the reason (otherwise).
    pub fn summary(&self) -> &str {
        match self {
            IsolationVerdict::Isolated { mechanism, .. } => mechanism,
            IsolationVerdict::NotIsolated { why, .. } | IsolationVerdict::Unknown { why, .. } => why,
        }
    }
    /// What the verdict rests on.
    pub fn evidence(&self) -> &[Evidence] {
        match self {
            IsolationVerdict::Isolated { evidence, .. }
            | IsolationVerdict::NotIsolated { evidence, .. }
            | IsolationVerdict::Unknown { evidence, .. } => evidence,
        }
    }
}

/// The PCI header layout (config offset 0x0e, low 7 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum HeaderKind {
    /// Type 0: an endpoint, the only kind vfio-pci assigns.
    Endpoint,
    /// Type 1: a PCI-to-PCI bridge.
    Bridge,
    /// Type 2: a CardBus bridge.
    CardBus,
    /// Not readable, or a reserved type.
    Unknown,
}

/// The kind of a BAR, from its register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum BarKind {
    /// 32-bit memory BAR.
    Memory32,
    /// 64-bit memory BAR: it takes its slot and the next.
    Memory64,
    /// I/O port BAR: never mapped, always trapped.
    Io,
}

/// One BAR as the host assigned it (from sysfs `resource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Bar {
    /// BAR index, 0-5.
    pub index: u8,
    /// Memory (32/64-bit) or I/O.
    pub kind: BarKind,
    /// The prefetchable bit of a memory BAR.
    pub prefetchable: bool,
    /// Host physical start address (page alignment decides whether a sub-page BAR can be mmapped).
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
}

impl Bar {
    /// A memory BAR, as opposed to I/O ports.
    pub fn is_memory(&self) -> bool {
        !matches!(self.kind, BarKind::Io)
    }
}

/// The decoded MSI-X capability (PCI 3.0 6.8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MsixCapability {
    /// Offset of the capability in config space.
    pub cap_offset: u16,
    /// Number of vectors (Table Size field + 1).
    pub table_size: u16,
    /// The BAR that holds the table (Table BIR).
    pub table_bir: u8,
    /// Offset of the table in that BAR (8-byte aligned).
    pub table_offset: u32,
    /// The BAR that holds the Pending Bit Array (PBA BIR).
    pub pba_bir: u8,
    /// Offset of the PBA in that BAR (8-byte aligned).
    pub pba_offset: u32,
}

impl MsixCapability {
    /// Bytes of the vector table: 16 per entry.
    pub fn table_bytes(&self) -> u64 {
        u64::from(self.table_size) * 16
    }
    /// Bytes of the Pending Bit Array: one bit per vector, in whole QWORDs.
    pub fn pba_bytes(&self) -> u64 {
        u64::from(self.table_size).div_ceil(64) * 8
    }
}

/// What is known of a function's MSI-X capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum MsixFacts {
    /// The function has an MSI-X capability.
    Present {
        /// The decoded capability.
        capability: MsixCapability,
    },
    /// The capability list was read to its end and holds no MSI-X.
    Absent,
    /// The capability list could not be read or trusted; `rule` says which failure.
    Unknown {
        /// `device.config-unreadable`, `device.config-inconsistent` or `device.capability-list-broken`.
        rule: RuleId,
        /// What went wrong, in words.
        why: String,
    },
}

/// A register window the guest touches on its fast path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HotWindow {
    /// The BAR that holds it.
    pub bar: u8,
    /// Offset in that BAR.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// What lives there, e.g. "virtio notify" or "NVMe doorbells".
    pub what: String,
}

/// A range of a BAR's VFIO region that userspace may mmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MmapArea {
    /// Offset in the region.
    pub offset: u64,
    /// Length in bytes.
    pub size: u64,
}

/// Everything the engine needs to know about one PCI function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeviceFacts {
    /// `DDDD:BB:DD.F`.
    pub address: String,
    /// Vendor id, when known.
    pub vendor: Option<u16>,
    /// Device id, when known.
    pub device: Option<u16>,
    /// Class code (class, subclass, prog-if), when known.
    pub class: Option<u32>,
    /// The bound driver (`vfio-pci`, `nvme`), if any.
    pub driver: Option<String>,
    /// The IOMMU group; `None` means VFIO cannot assign the function.
    pub iommu_group: Option<u32>,
    /// The header layout: only endpoints are assignable.
    pub header: HeaderKind,
    /// `None` when the BARs could not be read.
    pub bars: Option<Vec<Bar>>,
    /// What is known of the MSI-X capability.
    pub msix: MsixFacts,
    /// Register windows the guest touches on its fast path (virtio notify, NVMe doorbells).
    pub hot_windows: Vec<HotWindow>,
    /// The files the facts above were read from, and what was missing.
    pub evidence: Vec<Evidence>,
    /// VFIO's word on which parts of each BAR may be mmapped (each BAR region's MMAP flag and
    /// sparse areas), where a VMM reported it; BARs without an entry are inferred from their
    /// size and start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vfio_regions: Vec<crate::vmm::VfioRegion>,
    /// Where the host shows the function's IOMMU group to be a `vfio-noiommu` group
    /// (`enable_unsafe_noiommu_mode`): no IOMMU backend can take it for a VM. `None` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noiommu: Option<Evidence>,
}

impl DeviceFacts {
    /// BAR indices are 0-5, each once, and none sits in the upper half of a 64-bit BAR.
    pub fn check_bars(&self) -> Result<(), FactsError> {
        let bars = self.bars.as_deref().unwrap_or(&[]);
        let mut seen = [false; 6];
        for b in bars {
            let slot = seen.get_mut(usize::from(b.index)).ok_or(FactsError::BarOutOfRange(b.index))?;
            if std::mem::replace(slot, true) {
                return Err(FactsError::DuplicateBar(b.index));
            }
        }
        for b in bars.iter().filter(|b| b.kind == BarKind::Memory64 && b.size > 0) {
            if let Some(upper) = bars.iter().find(|u| u.index == b.index + 1 && u.size > 0) {
                return Err(FactsError::BarInUpperHalf(upper.index, b.index));
            }
        }
        Ok(())
    }

    /// The mmappable areas VFIO reported for BAR `index`, if it did.
    pub fn mmap_areas(&self, index: u8) -> Option<Vec<MmapArea>> {
        self.vfio_regions.iter().find(|r| r.index == u32::from(index)).map(|r| r.mmap_areas())
    }
    /// The BAR with this index, if the device has it.
    pub fn bar(&self, index: u8) -> Option<&Bar> {
        self.bars.as_ref()?.iter().find(|b| b.index == index)
    }
}
