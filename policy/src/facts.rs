//! The facts the engine decides from. Backends fill them in; the engine never reads a file.

use serde::{Deserialize, Serialize};

/// Where a fact came from: a file under the root (or a probe) and what was read there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Path relative to the root (`proc/cmdline`), or a probe name (`vfio:region-info`).
    pub source: String,
    /// What was read, or why nothing could be read.
    pub observed: String,
}

impl Evidence {
    pub fn new(source: impl Into<String>, observed: impl Into<String>) -> Self {
        Evidence { source: source.into(), observed: observed.into() }
    }
}

/// A fact that may be unknown. An unknown fact's evidence says what was missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact<T> {
    pub value: Option<T>,
    pub evidence: Evidence,
}

impl<T> Fact<T> {
    pub fn known(value: T, evidence: Evidence) -> Self {
        Fact { value: Some(value), evidence }
    }
    pub fn unknown(evidence: Evidence) -> Self {
        Fact { value: None, evidence }
    }
}

/// Facts that cannot be true of any host or device; each names its field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FactsError {
    #[error("page_size {0}: must be a power of two of at least 4096")]
    PageSize(u64),
    #[error("BAR{0}: a BAR index is 0-5")]
    BarOutOfRange(u8),
    #[error("BAR{0}: given twice")]
    DuplicateBar(u8),
    #[error("BAR{0}: shares its slot with the upper half of 64-bit BAR{1}")]
    BarInUpperHalf(u8, u8),
}

/// A host page is a power of two of at least 4 KiB.
pub fn check_page_size(page: u64) -> Result<(), FactsError> {
    if page.is_power_of_two() && page >= 4096 {
        Ok(())
    } else {
        Err(FactsError::PageSize(page))
    }
}

/// The platform family a backend established for the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    X86Vtd,
    X86AmdVi,
    X86NoIommu,
    Ppc64Pseries,
    Ppc64Powernv,
    Ppc64Unknown,
    Arm64,
    Unknown,
}

impl Platform {
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
#[serde(rename_all = "kebab-case")]
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
#[serde(rename_all = "kebab-case")]
pub enum MappableSource {
    /// `VFIO_REGION_INFO_CAP_MSIX_MAPPABLE` seen on a live device (or recorded from one).
    Probed,
    /// Inferred from the kernel release.
    Inferred,
}

/// Whether the kernel lets userspace mmap the pages that hold the MSI-X table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mappability {
    pub mappable: Fact<bool>,
    pub source: Option<MappableSource>,
}

/// Facts about the host that every device shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    /// `uname -m`: x86_64, ppc64le, aarch64.
    pub arch: String,
    /// Base page size in bytes (from the host, never from the build target).
    pub page_size: u64,
    /// `uname -r`.
    pub kernel: String,
    pub platform: Platform,
    pub vfio_backend: VfioBackend,
    /// `vfio_iommu_type1.allow_unsafe_interrupts`.
    pub allow_unsafe_interrupts: Fact<bool>,
    pub msix_mappable: Mappability,
    /// Whether the host offers iommufd (VFIO cdev) next to the container backend.
    #[serde(default = "unknown_fact")]
    pub iommufd: Fact<bool>,
    /// `iommufd.allow_unsafe_interrupts`, iommufd's own parameter.
    #[serde(default = "unknown_fact")]
    pub iommufd_allow_unsafe_interrupts: Fact<bool>,
}

fn unknown_fact<T>() -> Fact<T> {
    Fact::unknown(Evidence::new("iommufd", "not reported"))
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
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum IsolationVerdict {
    Isolated {
        mechanism: String,
        rule: String,
        evidence: Vec<Evidence>,
    },
    NotIsolated {
        why: String,
        rule: String,
        evidence: Vec<Evidence>,
    },
    /// Treated as not isolated.
    Unknown {
        why: String,
        rule: String,
        evidence: Vec<Evidence>,
    },
}

impl IsolationVerdict {
    pub fn isolated(rule: &str, mechanism: impl Into<String>, evidence: Vec<Evidence>) -> Self {
        IsolationVerdict::Isolated { mechanism: mechanism.into(), rule: rule.into(), evidence }
    }
    pub fn not_isolated(rule: &str, why: impl Into<String>, evidence: Vec<Evidence>) -> Self {
        IsolationVerdict::NotIsolated { why: why.into(), rule: rule.into(), evidence }
    }
    pub fn unknown(rule: &str, why: impl Into<String>, evidence: Vec<Evidence>) -> Self {
        IsolationVerdict::Unknown { why: why.into(), rule: rule.into(), evidence }
    }
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
    pub fn rule(&self) -> &str {
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
#[serde(rename_all = "kebab-case")]
pub enum HeaderKind {
    Endpoint,
    Bridge,
    CardBus,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BarKind {
    Memory32,
    Memory64,
    Io,
}

/// One BAR as the host assigned it (from sysfs `resource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    pub index: u8,
    pub kind: BarKind,
    pub prefetchable: bool,
    /// Host physical start address (page alignment decides whether a sub-page BAR can be mmapped).
    pub start: u64,
    pub size: u64,
}

impl Bar {
    pub fn is_memory(&self) -> bool {
        !matches!(self.kind, BarKind::Io)
    }
}

/// The decoded MSI-X capability (PCI 3.0 6.8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsixCapability {
    /// Offset of the capability in config space.
    pub cap_offset: u16,
    /// Number of vectors (Table Size field + 1).
    pub table_size: u16,
    pub table_bir: u8,
    pub table_offset: u32,
    pub pba_bir: u8,
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
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum MsixFacts {
    Present {
        capability: MsixCapability,
    },
    Absent,
    /// The capability list could not be read or trusted; `rule` says which failure.
    Unknown {
        rule: String,
        why: String,
    },
}

/// A register window the guest touches on its fast path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotWindow {
    pub bar: u8,
    pub offset: u64,
    pub length: u64,
    /// What lives there, e.g. "virtio notify" or "NVMe doorbells".
    pub what: String,
}

/// A range of a BAR's VFIO region that userspace may mmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MmapArea {
    pub offset: u64,
    pub size: u64,
}

/// What VFIO reported about mmapping one BAR's region: the areas userspace may mmap (the whole
/// region when MMAP is set without sparse areas; none without MMAP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionMmap {
    pub bar: u8,
    pub areas: Vec<MmapArea>,
}

/// Everything the engine needs to know about one PCI function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceFacts {
    /// `DDDD:BB:DD.F`.
    pub address: String,
    pub vendor: Option<u16>,
    pub device: Option<u16>,
    pub class: Option<u32>,
    pub driver: Option<String>,
    pub iommu_group: Option<u32>,
    pub header: HeaderKind,
    /// `None` when the BARs could not be read.
    pub bars: Option<Vec<Bar>>,
    pub msix: MsixFacts,
    pub hot_windows: Vec<HotWindow>,
    /// The files the facts above were read from, and what was missing.
    pub evidence: Vec<Evidence>,
    /// VFIO's word on which parts of each BAR may be mmapped, where a VMM reported it; BARs
    /// without an entry are inferred from their size and start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vfio_regions: Vec<RegionMmap>,
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
    pub fn mmap_areas(&self, index: u8) -> Option<&[MmapArea]> {
        self.vfio_regions.iter().find(|r| r.bar == index).map(|r| r.areas.as_slice())
    }
    pub fn bar(&self, index: u8) -> Option<&Bar> {
        self.bars.as_ref()?.iter().find(|b| b.index == index)
    }
}
