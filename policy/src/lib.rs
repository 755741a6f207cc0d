//! msix-policy's decision engine: facts in, decision out, no I/O.
//!
//! **Where the decision is:** [`decide()`] in `policy/src/decide.rs` walks the steps of the
//! policy (isolation, assignability, exposure, risk) and returns a [`Decision`] with a
//! page-aligned [`MappingPlan`] and the [`Reason`]s that fired. Every reason is a stable rule id
//! from the catalogue ([`RuleId`]'s constants, [`Rule::ALL`]; `msix-policy rules` prints it), and each
//! rule is explained, step by step, in `docs/policy.md` under an anchor named by its id
//! (`docs/policy.md#risk.self-only`).
//!
//! The engine reads no file: the platform backends (`msix-backends`, `msix-platform-*`) or the VMM
//! gather the facts, the engine decides from them. This guide walks the four parts with compiled
//! examples: the [facts](#1-facts), the [decision](#2-the-decision), the [plan](#3-the-plan) and
//! the [VMM entry point](#4-the-vmm-entry-point).
//!
//! # 1. Facts
//!
//! - [`HostFacts`]: what every device of a host shares: arch, page size (from the host, never the
//!   build target), kernel, [`Platform`], [`VfioBackend`], each backend's
//!   `allow_unsafe_interrupts`, and whether the kernel lets userspace mmap the MSI-X BAR.
//! - [`DeviceFacts`]: one PCI function: ids, header, IOMMU group, [`Bar`]s, the MSI-X capability
//!   ([`MsixFacts`]: present, absent, or unknown with the rule that says why), the hot register
//!   windows a trapped page would slow down (virtio notify from its capabilities, the rest from
//!   the sourced table of [`HotRegisterEntry`]), and VFIO's mmap areas where a VMM reported them.
//! - [`IsolationVerdict`]: the platform backend's answer to "can this device only raise its own
//!   interrupts?": `Isolated`, `NotIsolated` or `Unknown` (treated as not isolated), each with its
//!   rule id and [`Evidence`].
//!
//! Every fact that can be missing is a [`Fact`] with the evidence of where it was read, or of
//! what was missing. Facts built by hand (a backend fills the same fields from sysfs, procfs, the
//! device tree and ACPI):
//!
//! ```
//! use msix_policy_engine::*;
//!
//! // The host: arm64 with a GICv3 ITS, 4 KiB pages, Linux 6.1 (MSI-X BAR mappable since 4.16),
//! // VFIO type1 with allow_unsafe_interrupts off. Each fact carries where it was read.
//! let host = HostFacts {
//!     arch: "aarch64".into(),
//!     page_size: 4096,
//!     kernel: "6.1.0-13-arm64".into(),
//!     platform: Platform::Arm64,
//!     vfio_backend: VfioBackend::Type1,
//!     allow_unsafe_interrupts: Fact::known(
//!         false,
//!         Evidence::new("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N"),
//!     ),
//!     msix_mappable: Mappability {
//!         mappable: Fact::known(true, Evidence::new("uname -r", "6.1.0-13-arm64 (MSI-X BAR mmap since 4.16)")),
//!         source: Some(MappableSource::Inferred),
//!     },
//!     iommufd: Fact::unknown(Evidence::new("sys/module/iommufd", "absent")),
//!     iommufd_allow_unsafe_interrupts: Fact::unknown(Evidence::new("sys/module/iommufd", "absent")),
//!     vfio_backends: VfioBackends::default(),
//! };
//!
//! // The device: an NVMe function. BAR0 is 64-bit, 16 KiB; the doorbells start at 0x1000; MSI-X
//! // has 65 vectors, the table at BAR0 + 0x2000 and the PBA at BAR0 + 0x3000.
//! let nvme = DeviceFacts {
//!     address: "0000:00:03.0".into(),
//!     vendor: Some(0x1b36),
//!     device: Some(0x0010),
//!     class: Some(0x01_08_02),
//!     driver: Some("vfio-pci".into()),
//!     iommu_group: Some(3),
//!     header: HeaderKind::Endpoint,
//!     bars: Some(vec![Bar { index: 0, kind: BarKind::Memory64, prefetchable: false, start: 0x1000_0000, size: 0x4000 }]),
//!     msix: MsixFacts::Present {
//!         capability: MsixCapability {
//!             cap_offset: 0x40,
//!             table_size: 65,
//!             table_bir: 0,
//!             table_offset: 0x2000,
//!             pba_bir: 0,
//!             pba_offset: 0x3000,
//!         },
//!     },
//!     hot_windows: vec![HotWindow { bar: 0, offset: 0x1000, length: 0x1000, what: "NVMe doorbells".into() }],
//!     evidence: vec![Evidence::new("sys/bus/pci/devices/0000:00:03.0/config", "4096 bytes")],
//!     vfio_regions: Vec::new(),
//!     noiommu: None,
//! };
//!
//! // The platform backend's verdict for this device, with its rule id and evidence.
//! let isolation = IsolationVerdict::isolated(
//!     RuleId::ARM64_ITS,
//!     "GICv3 ITS translates MSIs by DeviceID",
//!     vec![Evidence::new("proc/interrupts", "ITS-PCI-MSI-0000:00:03.0")],
//! );
//! assert!(isolation.is_isolated());
//! assert_eq!(isolation.status(), "isolated");
//! assert_eq!(isolation.rule(), "isolation.arm64.its");
//! assert_eq!(nvme.check_bars(), Ok(()));
//! ```
//!
//! # 2. The decision
//!
//! [`decide()`] takes a [`DecisionInput`]: the facts, the guest ([`GuestSelection`]: `Auto`
//! derives it from the host), the operator's [`Overrides`] (which may only make a decision
//! safer) and the [`LayoutOptions`] a relocation follows. It fails only on impossible facts or
//! on an override that would loosen the decision ([`DecideError`]). The [`Decision`] says:
//!
//! - whether the device is `assignable` (VFIO would accept it);
//! - the [`Exposure`] of its MSI-X table: `Passthrough` (nothing traps: paravirtual guests),
//!   `Relocate` (a virtual table elsewhere, the physical BAR mapped whole), `Trap` (the table's
//!   pages trap), `Refuse` (not assignable, no plan) or `None` (no MSI-X);
//! - the [`Risk`]: `None` (the guest cannot reach the table), `SelfOnly` (it can, isolation
//!   confines the damage), `Unsafe` (`allow_unsafe_interrupts` without isolation);
//! - the [`Reason`]s, in order: each a [`RuleId`] (its constants are the catalogue), a detail, the
//!   [`Evidence`] it used and a reference (`docs/policy.md#<rule>`, a spec section or a kernel
//!   source), plus warnings.
//!
//! ```
//! # use msix_policy_engine::*;
//! #
//! # // The host: arm64 with a GICv3 ITS, 4 KiB pages, Linux 6.1 (MSI-X BAR mappable since 4.16),
//! # // VFIO type1 with allow_unsafe_interrupts off. Each fact carries where it was read.
//! # let host = HostFacts {
//! #     arch: "aarch64".into(),
//! #     page_size: 4096,
//! #     kernel: "6.1.0-13-arm64".into(),
//! #     platform: Platform::Arm64,
//! #     vfio_backend: VfioBackend::Type1,
//! #     allow_unsafe_interrupts: Fact::known(
//! #         false,
//! #         Evidence::new("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N"),
//! #     ),
//! #     msix_mappable: Mappability {
//! #         mappable: Fact::known(true, Evidence::new("uname -r", "6.1.0-13-arm64 (MSI-X BAR mmap since 4.16)")),
//! #         source: Some(MappableSource::Inferred),
//! #     },
//! #     iommufd: Fact::unknown(Evidence::new("sys/module/iommufd", "absent")),
//! #     iommufd_allow_unsafe_interrupts: Fact::unknown(Evidence::new("sys/module/iommufd", "absent")),
//! #     vfio_backends: VfioBackends::default(),
//! # };
//! #
//! # // The device: an NVMe function. BAR0 is 64-bit, 16 KiB; the doorbells start at 0x1000; MSI-X
//! # // has 65 vectors, the table at BAR0 + 0x2000 and the PBA at BAR0 + 0x3000.
//! # let nvme = DeviceFacts {
//! #     address: "0000:00:03.0".into(),
//! #     vendor: Some(0x1b36),
//! #     device: Some(0x0010),
//! #     class: Some(0x01_08_02),
//! #     driver: Some("vfio-pci".into()),
//! #     iommu_group: Some(3),
//! #     header: HeaderKind::Endpoint,
//! #     bars: Some(vec![Bar { index: 0, kind: BarKind::Memory64, prefetchable: false, start: 0x1000_0000, size: 0x4000 }]),
//! #     msix: MsixFacts::Present {
//! #         capability: MsixCapability {
//! #             cap_offset: 0x40,
//! #             table_size: 65,
//! #             table_bir: 0,
//! #             table_offset: 0x2000,
//! #             pba_bir: 0,
//! #             pba_offset: 0x3000,
//! #         },
//! #     },
//! #     hot_windows: vec![HotWindow { bar: 0, offset: 0x1000, length: 0x1000, what: "NVMe doorbells".into() }],
//! #     evidence: vec![Evidence::new("sys/bus/pci/devices/0000:00:03.0/config", "4096 bytes")],
//! #     vfio_regions: Vec::new(),
//! #     noiommu: None,
//! # };
//! #
//! # // The platform backend's verdict for this device, with its rule id and evidence.
//! # let isolation = IsolationVerdict::isolated(
//! #     RuleId::ARM64_ITS,
//! #     "GICv3 ITS translates MSIs by DeviceID",
//! #     vec![Evidence::new("proc/interrupts", "ITS-PCI-MSI-0000:00:03.0")],
//! # );
//!
//! let overrides = Overrides::default();
//! let input = DecisionInput {
//!     host: &host,
//!     device: &nvme,
//!     isolation: &isolation,
//!     guest: GuestSelection::Auto,
//!     overrides: &overrides,
//!     layout: LayoutOptions::default(),
//! };
//! let d = decide(input).unwrap();
//! // An arm64 guest writes the table; on 4 KiB pages trapping it costs no other register.
//! assert!(d.assignable);
//! assert_eq!(d.guest, GuestProfile::DirectTableWrites);
//! assert_eq!((d.exposure, d.risk), (Exposure::Trap, Risk::None));
//! assert!(d.fired(RuleId::EXPOSURE_TRAP_GUEST_WRITES));
//!
//! // The rationale: every step that fired, with its evidence and reference.
//! let first = &d.reasons[0];
//! assert_eq!(first.rule, "isolation.arm64.its");
//! assert_eq!(first.evidence[0].source, "proc/interrupts");
//! let risk = d.reasons.iter().find(|r| r.rule == RuleId::RISK_NONE).unwrap();
//! assert_eq!(risk.reference, "docs/policy.md#risk.none");
//!
//! // The same device on a 64 KiB-page host: the table's page would also hold the doorbells, so
//! // the table is relocated and the guest can reach the physical one (risk self-only).
//! let host_64k = HostFacts { page_size: 65536, ..host.clone() };
//! let d = decide(DecisionInput { host: &host_64k, ..input }).unwrap();
//! assert_eq!((d.exposure, d.risk), (Exposure::Relocate, Risk::SelfOnly));
//!
//! // Without isolation, type1 refuses the group (allow_unsafe_interrupts is N): no plan.
//! let gicv2m = IsolationVerdict::not_isolated(RuleId::ARM64_GICV2M, "GICv2m", vec![]);
//! let d = decide(DecisionInput { isolation: &gicv2m, ..input }).unwrap();
//! assert_eq!((d.assignable, d.exposure, d.plan.is_none()), (false, Exposure::Refuse, true));
//! assert!(d.fired("assign.type1.not-isolated"));
//! ```
//!
//! # 3. The plan
//!
//! A [`MappingPlan`] (`decision.plan`, absent exactly when the exposure is `Refuse`) holds one
//! [`BarPlan`] per memory BAR, in index order: ordered, non-overlapping, page-aligned
//! [`Segment`]s covering the BAR exactly, each a [`SegmentAction`]: `Map`, `Trap` of a
//! [`TrapKind`] (`Table`, `Pba`, `Collateral`, `Unknown`) or `Emulate` (the virtual table of a
//! relocation, whose place is in `plan.relocation`). Each BAR counts its trapped bytes, the
//! table and PBA bytes among them, and the collateral: trapped bytes outside the 4 KiB ranges
//! the PCI spec reserves for the table and PBA, i.e. other registers that now exit.
//!
//! ```
//! # use msix_policy_engine::*;
//! #
//! # // The host: arm64 with a GICv3 ITS, 4 KiB pages, Linux 6.1 (MSI-X BAR mappable since 4.16),
//! # // VFIO type1 with allow_unsafe_interrupts off. Each fact carries where it was read.
//! # let host = HostFacts {
//! #     arch: "aarch64".into(),
//! #     page_size: 4096,
//! #     kernel: "6.1.0-13-arm64".into(),
//! #     platform: Platform::Arm64,
//! #     vfio_backend: VfioBackend::Type1,
//! #     allow_unsafe_interrupts: Fact::known(
//! #         false,
//! #         Evidence::new("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N"),
//! #     ),
//! #     msix_mappable: Mappability {
//! #         mappable: Fact::known(true, Evidence::new("uname -r", "6.1.0-13-arm64 (MSI-X BAR mmap since 4.16)")),
//! #         source: Some(MappableSource::Inferred),
//! #     },
//! #     iommufd: Fact::unknown(Evidence::new("sys/module/iommufd", "absent")),
//! #     iommufd_allow_unsafe_interrupts: Fact::unknown(Evidence::new("sys/module/iommufd", "absent")),
//! #     vfio_backends: VfioBackends::default(),
//! # };
//! #
//! # // The device: an NVMe function. BAR0 is 64-bit, 16 KiB; the doorbells start at 0x1000; MSI-X
//! # // has 65 vectors, the table at BAR0 + 0x2000 and the PBA at BAR0 + 0x3000.
//! # let nvme = DeviceFacts {
//! #     address: "0000:00:03.0".into(),
//! #     vendor: Some(0x1b36),
//! #     device: Some(0x0010),
//! #     class: Some(0x01_08_02),
//! #     driver: Some("vfio-pci".into()),
//! #     iommu_group: Some(3),
//! #     header: HeaderKind::Endpoint,
//! #     bars: Some(vec![Bar { index: 0, kind: BarKind::Memory64, prefetchable: false, start: 0x1000_0000, size: 0x4000 }]),
//! #     msix: MsixFacts::Present {
//! #         capability: MsixCapability {
//! #             cap_offset: 0x40,
//! #             table_size: 65,
//! #             table_bir: 0,
//! #             table_offset: 0x2000,
//! #             pba_bir: 0,
//! #             pba_offset: 0x3000,
//! #         },
//! #     },
//! #     hot_windows: vec![HotWindow { bar: 0, offset: 0x1000, length: 0x1000, what: "NVMe doorbells".into() }],
//! #     evidence: vec![Evidence::new("sys/bus/pci/devices/0000:00:03.0/config", "4096 bytes")],
//! #     vfio_regions: Vec::new(),
//! #     noiommu: None,
//! # };
//! #
//! # // The platform backend's verdict for this device, with its rule id and evidence.
//! # let isolation = IsolationVerdict::isolated(
//! #     RuleId::ARM64_ITS,
//! #     "GICv3 ITS translates MSIs by DeviceID",
//! #     vec![Evidence::new("proc/interrupts", "ITS-PCI-MSI-0000:00:03.0")],
//! # );
//! # let overrides = Overrides::default();
//! # let input = DecisionInput {
//! #     host: &host,
//! #     device: &nvme,
//! #     isolation: &isolation,
//! #     guest: GuestSelection::Auto,
//! #     overrides: &overrides,
//! #     layout: LayoutOptions::default(),
//! # };
//! // The NVMe function of the examples above, decided on the 4 KiB host: trap.
//! let plan = decide(input).unwrap().plan.unwrap();
//! let bar0 = &plan.bars[0];
//! let kinds: Vec<_> = bar0.segments.iter().map(|s| (s.offset, s.length, s.action)).collect();
//! assert_eq!(
//!     kinds,
//!     [
//!         (0x0000, 0x2000, SegmentAction::Map),
//!         (0x2000, 0x1000, SegmentAction::Trap(TrapKind::Table)),
//!         (0x3000, 0x1000, SegmentAction::Trap(TrapKind::Pba)),
//!     ]
//! );
//! assert_eq!((bar0.trapped_table_bytes, bar0.trapped_pba_bytes), (65 * 16, 16));
//! assert_eq!((plan.trapped_bytes(), plan.collateral_bytes()), (0x2000, 0));
//! assert!(plan.relocation.is_none());
//!
//! // On 64 KiB pages: BAR0 is mapped whole and a new 64-bit BAR2 holds the virtual table.
//! let host_64k = HostFacts { page_size: 65536, ..host.clone() };
//! let plan = decide(DecisionInput { host: &host_64k, ..input }).unwrap().plan.unwrap();
//! let r = plan.relocation.unwrap();
//! assert_eq!((r.bar, r.origin, r.bar_kind), (2, BarOrigin::Virtual, BarKind::Memory64));
//! assert_eq!(plan.bars[0].segments[0].action, SegmentAction::Map);
//! assert_eq!(plan.collateral_bytes(), 0);
//! ```
//!
//! # 4. The VMM entry point
//!
//! A VMM holds the device's config space (read through the VFIO config region), each BAR's
//! `VFIO_DEVICE_GET_REGION_INFO`, the host page size and the word of the IOMMU backend that
//! accepted the device. [`plan_layout`] takes exactly that, as a [`VmmInput`], checks it
//! (each impossible fact is an [`InputError`] naming the field), builds the facts, decides and
//! returns the [`Layout`] the VMM programs as is:
//!
//! - per BAR a [`GuestBar`]: the descriptor the guest sizes (index, 32/64-bit, prefetchable,
//!   size, alignment), its memory slots ([`MmapRange`]: offset, length, `mmap_length` in whole host
//!   pages, offset in the device fd: one mmap and one KVM memory slot each) and its trapped ranges
//!   ([`TrapRange`]: what they hold, [`TrapContents`], and what the exit handler does,
//!   [`TrapHandler`]);
//! - [`GuestMsix`]: the MSI-X capability as the guest must read it (the VMM rewrites the Table
//!   and PBA Offset/BIR registers when `relocated`);
//! - the [`Decision`] with its reasons.
//!
//! The isolation attestation ([`IsolationAttestation`]) is the verdict of an audit of the host, or
//! the kernel's word: type1 or iommufd accepted the device without `allow_unsafe_interrupts`
//! (`isolation.kernel-accepted`). [`LayoutMode`] keeps a VMM's existing guest ABI
//! (`MsixPolicy`, `Qemu`'s `x-msix-relocation`, `CloudHypervisor`'s `fixup_msix_region`) and
//! [`RelocationPolicy`] says what a relocation may change. A layout is versioned
//! ([`LAYOUT_VERSION`]): the version fixes the shape and each mode's geometry, and a reviewed
//! snapshot shows any change of what an input gets. Guest-visible BARs are part of a VM's
//! migration state: a VMM keeps a running guest's layout and plans only new guests.
//!
//! ```
//! use msix_policy_engine::{plan_layout, IsolationAttestation, VfioRegion, VmmInput, REGION_MMAP, REGION_RW};
//! use msix_policy_engine::{LayoutMode, TrapContents, TrapHandler, VfioBackend, LAYOUT_SCHEMA, LAYOUT_VERSION};
//!
//! // The NVMe function's config space, byte by byte: 1b36:0010, class 01:08:02, BAR0 64-bit,
//! // MSI-X at 0x40 with 65 vectors, table at BAR0 + 0x2000, PBA at BAR0 + 0x3000.
//! let mut config = vec![0u8; 256];
//! config[0..4].copy_from_slice(&[0x36, 0x1b, 0x10, 0x00]); // vendor, device
//! config[6] = 0x10; // status: capability list
//! config[0x09..0x0c].copy_from_slice(&[0x02, 0x08, 0x01]); // class 01:08:02
//! config[0x10] = 0x04; // BAR0: memory, 64-bit
//! config[0x34] = 0x40; // first capability
//! config[0x40..0x4c].copy_from_slice(&[0x11, 0, 64, 0, 0x00, 0x20, 0, 0, 0x00, 0x30, 0, 0]);
//!
//! // BAR0's region info: 16 KiB, read/write/mmap, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE.
//! let bar0 = VfioRegion::new(0, 0x4000, REGION_RW | REGION_MMAP).msix_mappable(true);
//! // type1 accepted the group with allow_unsafe_interrupts off: the kernel checked isolation.
//! let accepted = IsolationAttestation::KernelAccepted { backend: VfioBackend::Type1, allow_unsafe_interrupts: false };
//! let input = VmmInput::new(config, vec![bar0], 65536, accepted).arch("aarch64");
//!
//! let layout = plan_layout(&input).unwrap();
//! assert_eq!((layout.layout_version, layout.schema.as_str()), (LAYOUT_VERSION, LAYOUT_SCHEMA));
//! assert_eq!(layout.exposure.as_str(), "relocate");
//!
//! // Memory slots: mmap(device fd, region_offset, mmap_length) + KVM_SET_USER_MEMORY_REGION.
//! let slots: Vec<_> = layout.memory_slots().map(|(bar, m)| (bar, m.region_offset, m.mmap_length)).collect();
//! assert_eq!(slots, [(0, 0, 65536)]);
//!
//! // Trapped ranges: an MMIO exit handler per range. Here only the virtual table and PBA in the
//! // new BAR2 (and padding that reads zero); nothing is forwarded to the device.
//! for (bar, trap) in layout.traps() {
//!     assert_eq!(bar, 2);
//!     match trap.holds {
//!         TrapContents::VirtualTable => assert_eq!(trap.handler, TrapHandler::EmulateMsixTable),
//!         TrapContents::VirtualPba => assert_eq!(trap.handler, TrapHandler::EmulateMsixPba),
//!         _ => assert_eq!(trap.handler, TrapHandler::ReadZero),
//!     }
//! }
//!
//! // The capability the guest reads: the table moved to BAR2.
//! let msix = layout.msix.unwrap();
//! assert!(msix.relocated);
//! assert_eq!((msix.table_bir, msix.table_offset, msix.pba_bir), (2, 0, 2));
//! assert_eq!(msix.table_register, 2); // offset 0 | BIR 2
//!
//! // QEMU's layout of the same decision puts the PBA right after the table, as
//! // x-msix-relocation does; msix-policy's own puts it in the next 4 KiB range.
//! let qemu = plan_layout(&input.clone().mode(LayoutMode::Qemu)).unwrap().msix.unwrap();
//! assert_eq!((qemu.table_bir, qemu.pba_offset, msix.pba_offset), (2, 65 * 16, 0x1000));
//! ```
//!
//! The same walk with guest addresses and a trap dispatcher is `policy/examples/vmm_layout.rs`
//! (`cargo run -p msix-policy-engine --example vmm_layout`).
//!
//! # Where things live
//!
//! The modules are private; everything above is exported from the crate root. In the source:
//! `facts.rs` (the inputs), `config.rs` (config-space parsing: capabilities, MSI-X, BAR
//! registers, hot windows), `hot.rs` and `drivers.rs` (the device knowledge tables in
//! `policy/data/`, each entry with its source, `docs/policy.md#hot-windows`), `decide.rs` (the
//! steps), `decision.rs` (what they answer), `rules.rs` (the catalogue), `plan.rs` (mapping
//! plans, layout modes, the relocation policy), `layout.rs` (the guest BAR layout), `vmm.rs`
//! (the VMM entry point), `overrides.rs` (the operator's TOML), `quirks.rs` (devices whose
//! capability lies), `kernel.rs` (kernel generations). `ARCHITECTURE.md` at the top of the
//! repository maps the whole workspace.

#![deny(missing_docs)]

// The modules are private: the crate root below is the API, one path per item.
mod address;
mod config;
mod decide;
mod decision;
mod drivers;
mod facts;
mod hot;
mod kernel;
mod layout;
mod overrides;
mod plan;
mod quirks;
mod ranges;
mod rules;
mod vmm;
mod words;

pub use address::{AddressError, PciAddress};
pub use config::{
    bar_registers, BarRegister, CapListState, Capability, ParsedConfig, VirtioCap, CAP_ID_MSIX, CAP_ID_VENDOR,
    NVME_CLASS, UNPRIVILEGED_CONFIG_BYTES, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_VENDOR_ID,
};
pub use decide::{decide, resolve_guest, DecideError, DecisionInput};
pub use decision::{Decision, Exposure, GuestProfile, GuestSelection, Reason, Risk};
pub use drivers::{DriverBars, MappedBars};
pub use facts::{
    check_page_size, Bar, BarKind, DeviceFacts, Evidence, Fact, FactsError, HeaderKind, HostFacts, HotWindow,
    IsolationVerdict, Mappability, MappableSource, MmapArea, MsixCapability, MsixFacts, Platform, VfioBackend,
    VfioBackends, MAX_PAGE_SIZE, MIN_PAGE_SIZE,
};
pub use hot::{DeviceMatch, Extent, HotRegisterEntry, WindowSpec};
pub use kernel::{KernelVersion, Type1MsiCheck};
pub use layout::{
    GuestBar, GuestMsix, Layout, LayoutFault, MmapRange, RegionOffsets, TrapContents, TrapHandler, TrapRange,
    VfioPciOffsets, LAYOUT_SCHEMA, LAYOUT_VERSION,
};
pub use overrides::{toml_error_line, OverrideError, Overrides};
pub use plan::{
    BarOrigin, BarPlan, EmulateKind, LayoutMode, LayoutOptions, MappingPlan, MsixOnly, PlanError, Relocation,
    RelocationPolicy, Segment, SegmentAction, TrapKind,
};
pub use quirks::{Quirk, QUIRKS};
pub use ranges::PCI_MSIX_ISOLATION_GRANULE;
pub use rules::{Rule, RuleId};
pub use vmm::{
    plan_layout, plan_layout_with_overrides, running_arch, InputError, IsolationAttestation, VfioRegion, VmmFacts,
    VmmInput, ARCHES, MAX_BAR32_BYTES, MAX_BAR64_BYTES, MAX_CONFIG_BYTES, MAX_INPUT_BYTES, MAX_IO_BAR_BYTES,
    PLAN_INPUT_SCHEMA, REGION_MMAP, REGION_RW,
};
