//! The VMM's entry point: what a VMM already holds (the device's config space, the VFIO region
//! info of each BAR, the host page size, the word of the IOMMU backend that accepted the group)
//! in, a guest BAR layout out. No I/O: the VMM did that.
//!
//! ```
//! use msix_policy_engine::{plan_layout, IsolationAttestation, VfioRegion, VmmInput, REGION_MMAP, REGION_RW};
//! use msix_policy_engine::{GuestSelection, VfioBackend};
//!
//! // An NVMe function: BAR0 64-bit, 16 KiB; 65 vectors, table at 0x2000, PBA at 0x3000.
//! let mut config = vec![0u8; 256];
//! config[0..4].copy_from_slice(&[0x36, 0x1b, 0x10, 0x00]); // 1b36:0010
//! config[6] = 0x10; // capability list
//! config[0x09..0x0c].copy_from_slice(&[0x02, 0x08, 0x01]); // class 01:08:02
//! config[0x10] = 0x04; // BAR0: memory, 64-bit
//! config[0x34] = 0x40;
//! config[0x40..0x4c].copy_from_slice(&[0x11, 0, 64, 0, 0x00, 0x20, 0, 0, 0x00, 0x30, 0, 0]);
//!
//! let input = VmmInput::new(
//!     config,
//!     vec![VfioRegion::new(0, 0x4000, REGION_RW | REGION_MMAP).msix_mappable(true)],
//!     65536,
//!     IsolationAttestation::KernelAccepted { backend: VfioBackend::Type1, allow_unsafe_interrupts: false },
//! )
//! // An x86 or arm64 guest writes its table (`Auto` would derive this from the host's arch).
//! .guest(GuestSelection::DirectTableWrites);
//! let layout = plan_layout(&input).unwrap();
//! // 64 KiB pages would trap the doorbells with the table: the table moves to a new BAR.
//! assert_eq!(layout.exposure.as_str(), "relocate");
//! assert_eq!(layout.bar(0).unwrap().mmap.len(), 1);
//! assert!(layout.msix.unwrap().relocated);
//! ```

use serde::{Deserialize, Serialize};

use crate::config::{self, BarRegister, ParsedConfig};
use crate::decide::{decide_quirked, DecideError, DecisionInput};
use crate::decision::{GuestSelection, Reason};
use crate::facts::{
    Bar, BarKind, DeviceFacts, Evidence, Fact, FactsError, HeaderKind, HostFacts, IsolationVerdict, Mappability,
    MappableSource, MmapArea, MsixFacts, Platform, VfioBackend, VfioBackends,
};
use crate::layout::{self, Layout, RegionOffsets, LAYOUT_VERSION};
use crate::overrides::Overrides;
use crate::plan::{LayoutMode, LayoutOptions, PlanError, RelocationPolicy};
use crate::rules::RuleId;

/// The `schema` of a serialized [`VmmInput`].
pub const PLAN_INPUT_SCHEMA: &str = "msix-policy/plan-input/v1";
/// `VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE`.
pub const REGION_RW: u32 = 0x3;
/// `VFIO_REGION_INFO_FLAG_MMAP`.
pub const REGION_MMAP: u32 = 0x4;
/// BAR regions are VFIO region indices 0-5 (`VFIO_PCI_BAR0_REGION_INDEX`..`BAR5`).
const BAR_REGIONS: u32 = 6;
/// The largest plan input [`VmmInput::from_json`] reads: a 4 KiB config space in hex and six
/// regions with sparse areas take under 16 KiB; anything near this bound describes no device.
pub const MAX_INPUT_BYTES: usize = 1 << 20;
/// PCIe extended configuration space: no function has more.
pub const MAX_CONFIG_BYTES: usize = 4096;
/// The largest 32-bit memory BAR: its register encodes address bits 31..4, so 2 GiB.
pub const MAX_BAR32_BYTES: u64 = 1 << 31;
/// The largest 64-bit memory BAR its register pair can encode.
pub const MAX_BAR64_BYTES: u64 = 1 << 63;
/// The largest I/O BAR: "a function may not claim more than 256 bytes per I/O BAR" (PCI Local
/// Bus 3.0, 6.2.5.1).
pub const MAX_IO_BAR_BYTES: u64 = 256;
/// The architectures a plan input may name (`uname -m`), for `guest: auto`.
pub const ARCHES: &[&str] = &["x86_64", "aarch64", "ppc64le", "ppc64"];

/// `uname -m` of the machine this code runs on, for a VMM that lays out devices of its own host
/// (the live VFIO adapter); `None` on an architecture outside [`ARCHES`]. Never a default for an
/// input that names no arch: that would make one input's layout depend on where it is planned.
pub fn running_arch() -> Option<&'static str> {
    match (std::env::consts::ARCH, cfg!(target_endian = "little")) {
        ("x86_64", _) => Some("x86_64"),
        ("aarch64", _) => Some("aarch64"),
        ("powerpc64", true) => Some("ppc64le"),
        ("powerpc64", false) => Some("ppc64"),
        _ => None,
    }
}

/// One BAR's region as `VFIO_DEVICE_GET_REGION_INFO` reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VfioRegion {
    /// The region index: 0-5 for BAR0-BAR5.
    pub index: u32,
    /// The region's size: the BAR's size (0 for a BAR the device does not implement).
    pub size: u64,
    /// `flags` as the kernel reported them (READ 1, WRITE 2, MMAP 4, CAPS 8).
    pub flags: u32,
    /// The region's offset in the device fd; vfio-pci's `index << 40` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// `VFIO_REGION_INFO_CAP_SPARSE_MMAP` areas, when the capability was present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse_mmap: Option<Vec<MmapArea>>,
    /// `VFIO_REGION_INFO_CAP_MSIX_MAPPABLE` was present.
    #[serde(default)]
    pub msix_mappable: bool,
    /// The `argsz` the kernel asked for (larger than `struct vfio_region_info` when capabilities
    /// follow); 0 when the region was not read from the kernel. Not part of the plan input.
    #[serde(skip)]
    pub argsz: u32,
    /// The capability ids of the kernel's answer, in chain order (recorded with a fixture's
    /// probed regions). Not part of the plan input.
    #[serde(skip)]
    pub caps: Vec<u16>,
}

impl VfioRegion {
    /// A region with these index, size and flags, no capabilities.
    pub fn new(index: u32, size: u64, flags: u32) -> Self {
        VfioRegion {
            index,
            size,
            flags,
            offset: None,
            sparse_mmap: None,
            msix_mappable: false,
            argsz: 0,
            caps: Vec::new(),
        }
    }
    /// With or without `VFIO_REGION_INFO_CAP_MSIX_MAPPABLE`.
    pub fn msix_mappable(mut self, yes: bool) -> Self {
        self.msix_mappable = yes;
        self
    }
    /// With a sparse mmap capability listing these areas.
    pub fn sparse(mut self, areas: Vec<MmapArea>) -> Self {
        self.sparse_mmap = Some(areas);
        self
    }
    /// At this offset of the device fd.
    pub fn at(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }
    /// Whether the kernel set `VFIO_REGION_INFO_FLAG_MMAP`.
    pub fn mmap_flag(&self) -> bool {
        self.flags & REGION_MMAP != 0
    }
    /// The areas VFIO lets userspace mmap: the sparse areas, the whole region when MMAP is set
    /// without them, none without MMAP.
    pub fn mmap_areas(&self) -> Vec<MmapArea> {
        match (&self.sparse_mmap, self.mmap_flag()) {
            (_, false) => Vec::new(),
            (Some(areas), true) => areas.clone(),
            (None, true) => vec![MmapArea { offset: 0, size: self.size }],
        }
    }
}

/// Why the VMM may assume (or not) that the device's MSIs are isolated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum IsolationAttestation {
    /// The verdict of an msix-policy audit of this host (`audit --format json`, the device's
    /// `isolation` object), for the backend the VMM uses.
    Audited {
        /// The audited verdict for this device.
        verdict: IsolationVerdict,
        /// The IOMMU backend the VMM uses.
        backend: VfioBackend,
        /// That backend's `allow_unsafe_interrupts`.
        allow_unsafe_interrupts: bool,
    },
    /// The VMM's IOMMU backend accepted the group (type1 `VFIO_SET_IOMMU`, iommufd bind, or
    /// sPAPR TCE, which checks nothing). With allow_unsafe_interrupts the kernel skipped its check.
    KernelAccepted {
        /// The IOMMU backend that accepted the group or device.
        backend: VfioBackend,
        /// That backend's `allow_unsafe_interrupts` (type1's or iommufd's own).
        allow_unsafe_interrupts: bool,
    },
}

impl IsolationAttestation {
    fn backend(&self) -> (VfioBackend, bool) {
        match self {
            IsolationAttestation::Audited { backend, allow_unsafe_interrupts, .. }
            | IsolationAttestation::KernelAccepted { backend, allow_unsafe_interrupts } => {
                (*backend, *allow_unsafe_interrupts)
            }
        }
    }

    /// The verdict the decision starts from.
    pub fn verdict(&self) -> IsolationVerdict {
        match self {
            IsolationAttestation::Audited { verdict, .. } => verdict.clone(),
            IsolationAttestation::KernelAccepted { backend, allow_unsafe_interrupts } => {
                let ev = vec![Evidence::new(
                    "vmm:iommu-backend",
                    format!(
                        "{} accepted the device, allow_unsafe_interrupts={allow_unsafe_interrupts}",
                        backend.as_str()
                    ),
                )];
                match (backend, allow_unsafe_interrupts) {
                    (VfioBackend::Type1 | VfioBackend::Iommufd, false) => IsolationVerdict::isolated(
                        RuleId::ISOLATION_KERNEL_ACCEPTED,
                        format!("the {} backend checked MSI isolation and accepted the device", backend.as_str()),
                        ev,
                    ),
                    (VfioBackend::SpaprTce, _) => IsolationVerdict::unknown(
                        RuleId::ISOLATION_KERNEL_UNCHECKED,
                        "the sPAPR TCE backend checks no MSI isolation: pass the audited verdict",
                        ev,
                    ),
                    _ => IsolationVerdict::unknown(
                        RuleId::ISOLATION_KERNEL_UNCHECKED,
                        "allow_unsafe_interrupts let the kernel skip its MSI isolation check",
                        ev,
                    ),
                }
            }
        }
    }
}

fn layout_v1() -> u32 {
    LAYOUT_VERSION
}

/// Everything the VMM hands the engine for one device.
///
/// Every field is bounded by what hardware and kernels can have; [`VmmInput::facts`] refuses the rest with
/// an [`InputError`] naming the field, and JSON with a key this version does not know is refused
/// by [`VmmInput::from_json`] (a typo must not silently take the default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct VmmInput {
    /// [`PLAN_INPUT_SCHEMA`]; required in JSON, so a reader never guesses the version.
    pub schema: String,
    /// The layout version the VMM's guests were created with.
    #[serde(default = "layout_v1")]
    pub layout_version: u32,
    /// The device's address, for reasons and messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Config space as read through the VFIO config region (at least the 64-byte header;
    /// 256 bytes to reach the capabilities). Hex in JSON.
    #[serde(with = "hex_bytes")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub config: Vec<u8>,
    /// Region info of the BARs the device implements (indices 0-5).
    pub regions: Vec<VfioRegion>,
    /// The host's page size in bytes: a power of two from 4 KiB to 64 KiB (the base pages Linux
    /// uses on x86, arm64 and POWER).
    #[cfg_attr(feature = "schema", schemars(range(min = 4096, max = 65536)))]
    pub page_size: u64,
    /// `uname -m` of the host (one of [`ARCHES`]); required with `guest: auto` (POWER hosts run
    /// PAPR guests), so one input gives one layout on every machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Why the VMM may assume the device's MSIs are isolated (or not).
    pub isolation: IsolationAttestation,
    /// How the guest programs MSI-X (`auto` by default).
    #[serde(default)]
    pub guest: GuestSelection,
    /// What a relocation may change in the guest's BARs (everything by default).
    #[serde(default)]
    pub relocation: RelocationPolicy,
    /// Whose guest ABI the layout follows (msix-policy's by default).
    #[serde(default)]
    pub mode: LayoutMode,
}

impl VmmInput {
    /// Validates the input and turns it into the facts the decision starts from; each impossible
    /// fact is an [`InputError`] naming the field.
    pub fn facts(&self) -> Result<VmmFacts, InputError> {
        facts(self)
    }

    /// An input with the defaults: layout v1, guest `auto`, relocation allowed, msix-policy's layout.
    pub fn new(config: Vec<u8>, regions: Vec<VfioRegion>, page_size: u64, isolation: IsolationAttestation) -> Self {
        VmmInput {
            schema: PLAN_INPUT_SCHEMA.into(),
            layout_version: LAYOUT_VERSION,
            address: None,
            config,
            regions,
            page_size,
            arch: None,
            isolation,
            guest: GuestSelection::Auto,
            relocation: RelocationPolicy::default(),
            mode: LayoutMode::MsixPolicy,
        }
    }
    /// For this guest profile.
    pub fn guest(mut self, guest: GuestSelection) -> Self {
        self.guest = guest;
        self
    }
    /// In this peer's layout.
    pub fn mode(mut self, mode: LayoutMode) -> Self {
        self.mode = mode;
        self
    }
    /// With this relocation policy.
    pub fn relocation(mut self, policy: RelocationPolicy) -> Self {
        self.relocation = policy;
        self
    }
    /// Naming the device.
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }
    /// On a host of this architecture (`uname -m`).
    pub fn arch(mut self, arch: impl Into<String>) -> Self {
        self.arch = Some(arch.into());
        self
    }

    /// Parses a plan input (`msix-policy/plan-input/v1`) from JSON text: at most
    /// [`MAX_INPUT_BYTES`], every key known, `schema` present and this version's. The facts
    /// themselves are checked by [`plan_layout`].
    pub fn from_json(text: &str) -> Result<Self, InputError> {
        if text.len() > MAX_INPUT_BYTES {
            return Err(InputError::TooLarge(text.len()));
        }
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| InputError::Json(e.to_string()))?;
        match value.get("schema") {
            None => return Err(InputError::Schema("(missing)".into())),
            Some(serde_json::Value::String(s)) if s == PLAN_INPUT_SCHEMA => {}
            Some(other) => return Err(InputError::Schema(other.to_string())),
        }
        serde_json::from_value(value).map_err(|e| InputError::Json(e.to_string()))
    }
}

/// Input the engine cannot decide from; each names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// A layout version this release does not make.
    #[error("layout_version {0}: this release makes layout version {LAYOUT_VERSION} only")]
    LayoutVersion(u32),
    /// A `schema` other than [`PLAN_INPUT_SCHEMA`], or none.
    #[error("schema {0}: expected \"{PLAN_INPUT_SCHEMA}\"")]
    Schema(String),
    /// More than [`MAX_INPUT_BYTES`] of input.
    #[error("input: {0} bytes or more, over the {MAX_INPUT_BYTES}-byte limit of a plan input")]
    TooLarge(usize),
    /// Not JSON, or JSON that is not a plan input: a missing field, a value of the wrong type,
    /// or a key this version does not know (serde names it).
    #[error("{0}")]
    Json(String),
    /// `guest: auto` without `arch`: the guest profile would depend on where the engine runs.
    #[error("arch: required with guest \"auto\" (name the host, e.g. \"x86_64\", or choose the guest)")]
    ArchRequired,
    /// An `arch` that is none of [`ARCHES`].
    #[error("arch {0:?}: expected one of x86_64, aarch64, ppc64le, ppc64")]
    Arch(String),
    /// An `address` that is not `DDDD:BB:DD.F`.
    #[error("address: {0}")]
    Address(#[from] crate::address::AddressError),
    /// Config space longer than PCIe's 4 KiB.
    #[error("config: {0} bytes, longer than the {MAX_CONFIG_BYTES}-byte PCIe configuration space")]
    ConfigLong(usize),
    /// An impossible page size or BAR set.
    #[error(transparent)]
    Facts(#[from] FactsError),
    /// Config space shorter than the 64-byte header.
    #[error("config: {0} bytes, shorter than the 64-byte header")]
    ConfigShort(usize),
    /// A bridge or unknown header: vfio-pci assigns endpoints only.
    #[error("config: header type {0:?} is not an endpoint (type 0); vfio-pci assigns endpoints only")]
    NotEndpoint(HeaderKind),
    /// The capability list loops, points into the header or runs past the bytes given.
    #[error("config: {0}")]
    Capabilities(String),
    /// A BAR register the PCI spec does not allow for a region the VMM gave.
    #[error("config: BAR{slot} register {what}")]
    BarRegister {
        /// The BAR slot.
        slot: u32,
        /// What is wrong with its register.
        what: &'static str,
    },
    /// A region index that is not a BAR (0-5).
    #[error("regions[{position}]: index {index} is not a BAR region (0-5)")]
    RegionNotBar {
        /// Position in `regions`.
        position: usize,
        /// The region index given.
        index: u32,
    },
    /// The same BAR region twice.
    #[error("regions: BAR{0} given twice")]
    DuplicateRegion(u32),
    /// A BAR size that is not a power of two.
    #[error("regions: BAR{index} size {size:#x} is not a power of two")]
    RegionSize {
        /// The BAR index.
        index: u32,
        /// The size given.
        size: u64,
    },
    /// A BAR larger than its type can encode.
    #[error("regions: BAR{index} size {size:#x} is larger than a {kind} can be ({max:#x} bytes)")]
    RegionTooLarge {
        /// The BAR index.
        index: u32,
        /// The size given.
        size: u64,
        /// What kind of BAR the config register says it is.
        kind: &'static str,
        /// The largest size of that kind.
        max: u64,
    },
    /// A region offset that is not page aligned, or whose region would end past 2^64.
    #[error("regions: BAR{index} offset {offset:#x} {why}")]
    RegionOffset {
        /// The BAR index.
        index: u32,
        /// The offset given.
        offset: u64,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A sized region in the upper half of a 64-bit BAR.
    #[error("regions: BAR{index} has size {size:#x} but config says it is the upper half of 64-bit BAR{}", index - 1)]
    UpperHalfRegion {
        /// The BAR index.
        index: u32,
        /// The size given.
        size: u64,
    },
    /// An I/O BAR that reports MMAP.
    #[error("regions: BAR{index} is an I/O BAR yet reports MMAP")]
    IoMmap {
        /// The BAR index.
        index: u32,
    },
    /// A sparse mmap area outside its region.
    #[error("regions: BAR{index} sparse mmap area {offset:#x}+{size:#x} lies outside its {region:#x}-byte region")]
    SparseOutside {
        /// The BAR index.
        index: u32,
        /// The area's offset.
        offset: u64,
        /// The area's size.
        size: u64,
        /// The region's size.
        region: u64,
    },
    /// The MSI-X table or PBA lies outside its BAR.
    #[error("config: {0}")]
    MsixOutsideBar(#[from] PlanError),
    /// The MSI-X table and PBA overlap (QEMU's `msix_init` refuses such a device too).
    #[error("config: MSI-X table {table:#x}+{table_len:#x} and PBA {pba:#x}+{pba_len:#x} overlap in BAR{bir}")]
    MsixOverlap {
        /// The BAR both live in.
        bir: u8,
        /// The table's offset.
        table: u32,
        /// The table's length.
        table_len: u64,
        /// The PBA's offset.
        pba: u32,
        /// The PBA's length.
        pba_len: u64,
    },
    /// The decision failed (an override that would loosen it).
    #[error(transparent)]
    Decide(#[from] DecideError),
}

/// The facts the engine decides from, built from a VMM's input (exposed for tests and for VMMs
/// that want the facts without the layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmmFacts {
    /// The host, as far as the input tells (page size, backend, mappability of the MSI-X BAR).
    pub host: HostFacts,
    /// The device: config space decoded, BARs from the regions, VFIO's mmap areas.
    pub device: DeviceFacts,
    /// The verdict of the isolation attestation.
    pub isolation: IsolationVerdict,
    /// The input's layout mode and relocation policy.
    pub layout: LayoutOptions,
    /// The device corrected by a quirk, and the reason that cites it, when one applies: looked
    /// up once here, handed to the decision and the layout.
    pub(crate) quirk: Option<(DeviceFacts, Reason)>,
}

/// Validates the input and turns it into facts.
pub(crate) fn facts(input: &VmmInput) -> Result<VmmFacts, InputError> {
    if input.schema != PLAN_INPUT_SCHEMA {
        return Err(InputError::Schema(format!("{:?}", input.schema)));
    }
    if input.layout_version != LAYOUT_VERSION {
        return Err(InputError::LayoutVersion(input.layout_version));
    }
    crate::facts::check_page_size(input.page_size)?;
    match input.arch.as_deref() {
        None if input.guest == GuestSelection::Auto => return Err(InputError::ArchRequired),
        Some(a) if !ARCHES.contains(&a) => return Err(InputError::Arch(a.into())),
        _ => {}
    }
    if let Some(a) = &input.address {
        crate::address::PciAddress::parse(a)?;
    }
    let b = &input.config;
    if b.len() < config::UNPRIVILEGED_CONFIG_BYTES {
        return Err(InputError::ConfigShort(b.len()));
    }
    if b.len() > MAX_CONFIG_BYTES {
        return Err(InputError::ConfigLong(b.len()));
    }
    let parsed = ParsedConfig::parse(b);
    if parsed.header != HeaderKind::Endpoint {
        return Err(InputError::NotEndpoint(parsed.header));
    }
    // The audit keeps an MSI-X capability seen before a list loops; a VMM's config must be whole.
    if let config::CapListState::Broken(why) = &parsed.cap_state {
        return Err(InputError::Capabilities(why.clone()));
    }
    if let MsixFacts::Unknown { why, .. } = &parsed.msix {
        return Err(InputError::Capabilities(why.clone()));
    }
    let registers = config::bar_registers(b).ok_or(InputError::ConfigShort(b.len()))?;
    let bars = bars(input, &registers)?;
    let address = input.address.clone().unwrap_or_else(|| "vmm-device".into());
    let mut device = DeviceFacts {
        address: address.clone(),
        vendor: parsed.vendor,
        device: parsed.device,
        class: parsed.class,
        driver: Some("vfio-pci".into()),
        // The VMM opened the device through VFIO: it has a group.
        iommu_group: Some(0),
        header: parsed.header,
        hot_windows: parsed.hot_windows(parsed.class, |i| bars.iter().find(|b| b.index == i).map(|b| b.size)),
        bars: Some(bars),
        msix: parsed.msix.clone(),
        evidence: vec![Evidence::new(format!("vmm:{address}/config"), parsed.describe())],
        // The VMM's IOMMU backend accepted the group: not a noiommu group.
        noiommu: None,
        vfio_regions: input.regions.iter().filter(|r| r.size > 0).cloned().collect(),
    };
    if let Some(why) = crate::hot::HotRegisterEntry::table_error() {
        device.evidence.push(Evidence::new(
            "msix-policy:hot-registers",
            format!("{why}: only the built-in NVMe and virtio windows are known"),
        ));
    }
    device.evidence.push(Evidence::new(
        format!("vmm:{address}/region-info"),
        input
            .regions
            .iter()
            .map(|r| {
                format!(
                    "BAR{} {:#x} flags {:#x}{}{}",
                    r.index,
                    r.size,
                    r.flags,
                    if r.msix_mappable { " MSIX_MAPPABLE" } else { "" },
                    r.sparse_mmap.as_ref().map_or(String::new(), |a| format!(" sparse {} areas", a.len()))
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
    ));
    // A known device fault (crate::quirks) is corrected by the decision, which cites it.
    let quirk = crate::quirks::apply(&device);
    let corrected = quirk.as_ref().map_or(&device, |q| &q.0);
    if let MsixFacts::Present { capability: c } = &corrected.msix {
        corrected.check_msix_location(c)?;
        if c.table_and_pba_overlap() {
            return Err(InputError::MsixOverlap {
                bir: c.table_bir,
                table: c.table_offset,
                table_len: c.table_bytes(),
                pba: c.pba_offset,
                pba_len: c.pba_bytes(),
            });
        }
    }
    let host = host_facts(input, &device);
    Ok(VmmFacts {
        host,
        device,
        isolation: input.isolation.verdict(),
        layout: LayoutOptions { mode: input.mode, relocation: input.relocation },
        quirk,
    })
}

/// The BARs: kind and prefetch bit from config, size from the regions.
fn bars(input: &VmmInput, registers: &[BarRegister; 6]) -> Result<Vec<Bar>, InputError> {
    let mut seen = [false; 6];
    let mut out = Vec::new();
    for (position, r) in input.regions.iter().enumerate() {
        if r.index >= BAR_REGIONS {
            return Err(InputError::RegionNotBar { position, index: r.index });
        }
        let slot = r.index as usize;
        if std::mem::replace(&mut seen[slot], true) {
            return Err(InputError::DuplicateRegion(r.index));
        }
        if r.size == 0 {
            continue;
        }
        if !r.size.is_power_of_two() {
            return Err(InputError::RegionSize { index: r.index, size: r.size });
        }
        let (kind, prefetchable) = match registers[slot] {
            BarRegister::Bar { kind, prefetchable } => (kind, prefetchable),
            BarRegister::UpperHalf => return Err(InputError::UpperHalfRegion { index: r.index, size: r.size }),
            BarRegister::Truncated64 => {
                return Err(InputError::BarRegister { slot: r.index, what: "is 64-bit in the last slot" })
            }
            BarRegister::ReservedType => {
                return Err(InputError::BarRegister { slot: r.index, what: "has the reserved memory type" })
            }
        };
        if kind == BarKind::Io && r.mmap_flag() {
            return Err(InputError::IoMmap { index: r.index });
        }
        let (what, max) = match kind {
            BarKind::Io => ("I/O BAR", MAX_IO_BAR_BYTES),
            BarKind::Memory32 => ("32-bit memory BAR", MAX_BAR32_BYTES),
            BarKind::Memory64 => ("64-bit memory BAR", MAX_BAR64_BYTES),
        };
        if r.size > max {
            return Err(InputError::RegionTooLarge { index: r.index, size: r.size, kind: what, max });
        }
        if let Some(offset) = r.offset {
            let bad = |why| InputError::RegionOffset { index: r.index, offset, why };
            if offset % input.page_size != 0 {
                return Err(bad("is not page aligned: mmap takes page-aligned offsets"));
            }
            if offset.checked_add(r.size).is_none() {
                return Err(bad("puts the region's end past 2^64"));
            }
        }
        for a in r.sparse_mmap.iter().flatten() {
            if a.offset.checked_add(a.size).is_none_or(|end| end > r.size) {
                return Err(InputError::SparseOutside {
                    index: r.index,
                    offset: a.offset,
                    size: a.size,
                    region: r.size,
                });
            }
        }
        out.push(Bar { index: r.index as u8, kind, prefetchable, start: 0, size: r.size });
    }
    out.sort_by_key(|b| b.index);
    Ok(out)
}

fn host_facts(input: &VmmInput, device: &DeviceFacts) -> HostFacts {
    let (backend, allow_unsafe) = input.isolation.backend();
    // Without an arch the guest was chosen explicitly (facts refuses `auto` without one), and
    // nothing else reads the arch: say it is unknown rather than borrow the build machine's.
    let arch = input.arch.clone().unwrap_or_else(|| "unknown".into());
    let said = |what: &str| Evidence::new("vmm:iommu-backend", format!("{what}={allow_unsafe} (VMM input)"));
    let not_used =
        |what: &str| Fact::known(false, Evidence::new("vmm:iommu-backend", format!("{what}: backend not in use")));
    let (type1, iommufd) = match backend {
        VfioBackend::Type1 => (Fact::known(allow_unsafe, said("allow_unsafe_interrupts")), not_used("iommufd")),
        VfioBackend::Iommufd => (not_used("type1"), Fact::known(allow_unsafe, said("iommufd.allow_unsafe_interrupts"))),
        VfioBackend::SpaprTce => (not_used("type1"), not_used("iommufd")),
    };
    // Mappability of the MSI-X BAR is per region: the table's region says.
    let table_region = match &device.msix {
        MsixFacts::Present { capability } => input.regions.iter().find(|r| r.index == u32::from(capability.table_bir)),
        _ => None,
    };
    let mappable = table_region.is_some_and(|r| r.msix_mappable && r.mmap_flag());
    let ev = Evidence::new(
        "vmm:region-info",
        match table_region {
            Some(r) => format!(
                "BAR{}: MMAP {}, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE {}",
                r.index,
                if r.mmap_flag() { "set" } else { "clear" },
                if r.msix_mappable { "present" } else { "absent" }
            ),
            None => "no MSI-X region".into(),
        },
    );
    HostFacts {
        platform: if arch.starts_with("ppc64") { Platform::Ppc64Unknown } else { Platform::Unknown },
        arch,
        page_size: input.page_size,
        kernel: "unknown (VMM input)".into(),
        vfio_backend: backend,
        allow_unsafe_interrupts: type1,
        msix_mappable: Mappability { mappable: Fact::known(mappable, ev), source: Some(MappableSource::Probed) },
        iommufd: Fact::known(backend == VfioBackend::Iommufd, Evidence::new("vmm:iommu-backend", backend.as_str())),
        iommufd_allow_unsafe_interrupts: iommufd,
        vfio_backends: VfioBackends {
            type1: Fact::known(backend == VfioBackend::Type1, Evidence::new("vmm:iommu-backend", backend.as_str())),
            cdev: Fact::known(backend == VfioBackend::Iommufd, Evidence::new("vmm:iommu-backend", backend.as_str())),
            assumed: None,
        },
    }
}

struct InputOffsets<'a>(&'a [VfioRegion]);

impl RegionOffsets for InputOffsets<'_> {
    fn region_offset(&self, index: u8) -> u64 {
        let given = self.0.iter().find(|r| r.index == u32::from(index)).and_then(|r| r.offset);
        given.unwrap_or_else(|| layout::VfioPciOffsets.region_offset(index))
    }
}

/// The VMM's call: validate, decide, lay out (deterministic: the same input gives the same
/// layout).
pub fn plan_layout(input: &VmmInput) -> Result<Layout, InputError> {
    plan_layout_with_overrides(input, &Overrides::default())
}

/// [`plan_layout`] under an operator's overrides (which may only make the decision safer).
pub fn plan_layout_with_overrides(input: &VmmInput, overrides: &Overrides) -> Result<Layout, InputError> {
    let f = facts(input)?;
    let decision = decide_quirked(
        DecisionInput {
            host: &f.host,
            device: &f.device,
            isolation: &f.isolation,
            guest: input.guest,
            overrides,
            layout: f.layout,
        },
        f.quirk.as_ref(),
    )?;
    let device = f.quirk.as_ref().map_or(&f.device, |q| &q.0);
    let mappable = f.host.msix_mappable.mappable.value == Some(true);
    Ok(Layout::build(device, decision, input.page_size, mappable, &f.layout, &InputOffsets(&input.regions)))
}

/// Config bytes as a hex string in JSON (`"8680d310..."`; whitespace ignored).
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        let digits: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
        if digits.len() % 2 != 0 {
            return Err(serde::de::Error::custom("config: an odd number of hex digits"));
        }
        digits
            .chunks(2)
            .map(|p| {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(p[0]), hex(p[1])) {
                    (Some(h), Some(l)) => Ok((h * 16 + l) as u8),
                    _ => Err(serde::de::Error::custom("config: not a hex string")),
                }
            })
            .collect()
    }
}
