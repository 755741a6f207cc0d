//! The guest BAR layout a VMM programs as is: per BAR its guest-visible descriptor, the ranges to
//! register as memory slots (mmap of the device region) and the ranges to trap, each with what it
//! holds and what the trap handler does; and the MSI-X capability the guest must see.
//!
//! A layout is versioned ([`LAYOUT_VERSION`]): the version fixes its shape and each mode's
//! geometry, and docs/policy.md lists every change of what an input gets. Guest-visible BARs are
//! part of a VM's migration state, so a VMM keeps a running guest's layout.

use serde::{Deserialize, Serialize};

use crate::decision::{Decision, Exposure, Reason, Risk};
use crate::facts::{BarKind, DeviceFacts, Evidence, MsixCapability, MsixFacts};
use crate::plan::{self, BarOrigin, BarPlan, LayoutMode, LayoutOptions, MappingPlan, Relocation, SegmentAction};
use crate::ranges::{MsixInBar, Range};
use crate::rules::RuleId;

/// The layout version this release produces.
pub const LAYOUT_VERSION: u32 = 1;
/// The `schema` of a serialized [`Layout`].
pub const LAYOUT_SCHEMA: &str = "msix-policy/layout/v1";

/// A range of a BAR the VMM maps into the guest: one KVM memory slot over an mmap of the device
/// fd at `region_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MmapRange {
    /// Offset in the guest BAR.
    pub offset: u64,
    /// Bytes of the BAR the range covers.
    pub length: u64,
    /// Bytes to mmap and to give the memory slot: whole host pages (a BAR that ends inside a
    /// page is mapped to the page's end; vfio-pci reserves the rest of that page).
    pub mmap_length: u64,
    /// Offset in the VFIO device fd to mmap (region offset + `offset`).
    pub region_offset: u64,
}

/// What a trapped range holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TrapContents {
    /// The device's own MSI-X table.
    Table,
    /// The device's own PBA.
    Pba,
    /// The VMM's virtual table (relocation).
    VirtualTable,
    /// The VMM's virtual PBA (relocation).
    VirtualPba,
    /// Other device registers sharing a trapped page (collateral), or a BAR VFIO will not map.
    Registers,
    /// The rest of a virtual or enlarged BAR: nothing lives there.
    Padding,
    /// Port I/O: an I/O BAR always traps.
    IoPorts,
}

/// What the VMM does on an access to a trapped range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TrapHandler {
    /// Keep the guest's entries; program host vectors through `VFIO_DEVICE_SET_IRQS`.
    EmulateMsixTable,
    /// Serve the pending bits of the VMM's vectors; writes are ignored.
    EmulateMsixPba,
    /// Read or write the device through the VFIO region (pread/pwrite on the device fd).
    ForwardToDevice,
    /// Reads return zero, writes are dropped (the guest's capability no longer points here).
    ReadZero,
}

/// A byte range of a BAR that exits to the VMM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TrapRange {
    /// Offset in the guest BAR.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// What lives there.
    pub holds: TrapContents,
    /// What the VMM's MMIO exit handler does with an access.
    pub handler: TrapHandler,
}

/// One BAR as the guest sees it, and how the VMM backs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct GuestBar {
    /// BAR index, 0-5.
    pub index: u8,
    /// 32-bit, 64-bit (takes slot `index + 1` too) or I/O.
    pub kind: BarKind,
    /// The prefetchable bit the guest reads.
    pub prefetchable: bool,
    /// The size the guest sizes: a power of two.
    pub size: u64,
    /// The least alignment the VMM must give the guest address (a BAR with memory slots needs
    /// whole host pages).
    pub alignment: u64,
    /// The device's own BAR, a virtual one (relocated table) or an enlarged one.
    pub origin: BarOrigin,
    /// Bytes backed by the device's VFIO region (0 for a virtual BAR).
    pub region_size: u64,
    /// Memory slots, in offset order.
    pub mmap: Vec<MmapRange>,
    /// Trapped byte ranges, in offset order; with `mmap` they cover the BAR's pages exactly.
    pub trap: Vec<TrapRange>,
}

/// The MSI-X capability as the guest must read it (config space registers at `cap_offset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct GuestMsix {
    /// Offset of the capability in config space.
    pub cap_offset: u16,
    /// Number of vectors (unchanged from the device).
    pub table_size: u16,
    /// The BAR the guest finds the table in.
    pub table_bir: u8,
    /// The table's offset in that BAR.
    pub table_offset: u32,
    /// The BAR the guest finds the PBA in.
    pub pba_bir: u8,
    /// The PBA's offset in that BAR.
    pub pba_offset: u32,
    /// The Table Offset/BIR register value (cap + 4).
    pub table_register: u32,
    /// The PBA Offset/BIR register value (cap + 8).
    pub pba_register: u32,
    /// Whether the VMM must rewrite the two registers (the table moved).
    pub relocated: bool,
}

/// The guest BAR layout of one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct Layout {
    /// Always [`LAYOUT_SCHEMA`].
    pub schema: String,
    /// Always [`LAYOUT_VERSION`] for this release.
    pub layout_version: u32,
    /// Whose guest ABI the layout follows.
    pub mode: LayoutMode,
    /// The host page size the memory slots are made of.
    pub page_size: u64,
    /// The decision's exposure (also in `decision`).
    pub exposure: Exposure,
    /// The decision's risk (also in `decision`).
    pub risk: Risk,
    /// Empty when the device is refused.
    pub bars: Vec<GuestBar>,
    /// `None` without MSI-X, or when refused.
    pub msix: Option<GuestMsix>,
    /// Physical bytes that trap (table, PBA, collateral, unmappable).
    pub trapped_bytes: u64,
    /// Trapped bytes outside the 4 KiB ranges of the table and PBA: other registers that exit.
    pub collateral_bytes: u64,
    /// The decision with its reasons, rule ids, evidence and references.
    pub decision: Decision,
}

impl Layout {
    /// Every memory slot: (BAR, range).
    pub fn memory_slots(&self) -> impl Iterator<Item = (u8, &MmapRange)> {
        self.bars.iter().flat_map(|b| b.mmap.iter().map(move |m| (b.index, m)))
    }
    /// Every trapped range: (BAR, range).
    pub fn traps(&self) -> impl Iterator<Item = (u8, &TrapRange)> {
        self.bars.iter().flat_map(|b| b.trap.iter().map(move |t| (b.index, t)))
    }
    /// The guest BAR with this index.
    pub fn bar(&self, index: u8) -> Option<&GuestBar> {
        self.bars.iter().find(|b| b.index == index)
    }

    /// Checks what a VMM programs as is: mapped and trapped ranges tile each guest BAR exactly
    /// (a mapped sub-page BAR aside, whose slot is the whole page), in order, without overlap;
    /// guest BARs are powers of two aligned to their size; memory slots are whole pages at
    /// page-aligned offsets of the BAR and of the device fd; the table never lies in a memory
    /// slot when the decision traps it; a refused device has no BARs. Every layout
    /// [`plan_layout`](crate::plan_layout) returns passes; the error names the first fault.
    pub fn check_well_formed(&self) -> Result<(), LayoutFault> {
        for b in &self.bars {
            let bar = b.index;
            let mut pieces: Vec<(u64, u64)> = b.mmap.iter().map(|m| (m.offset, m.length)).collect();
            pieces.extend(b.trap.iter().map(|t| (t.offset, t.length)));
            pieces.sort_unstable();
            let mut at = 0u64;
            for (offset, length) in pieces {
                if offset != at || length == 0 {
                    return Err(LayoutFault::Gap { bar, offset, length, expected: at });
                }
                at = offset.checked_add(length).ok_or(LayoutFault::PastAddressSpace { bar })?;
            }
            if at != b.size {
                return Err(LayoutFault::Uncovered { bar, covered: at, size: b.size });
            }
            if !b.size.is_power_of_two() || b.alignment < b.size {
                return Err(LayoutFault::Unaligned { bar, size: b.size, alignment: b.alignment });
            }
            for m in &b.mmap {
                let whole = m.offset % self.page_size == 0
                    && m.mmap_length % self.page_size == 0
                    && m.mmap_length >= m.length
                    && m.region_offset % self.page_size == 0;
                if !whole {
                    return Err(LayoutFault::PartialPages { bar, slot: *m });
                }
            }
            if matches!(self.exposure, Exposure::Trap | Exposure::Refuse) {
                if let Some(t) = b.trap.iter().find(|t| t.holds == TrapContents::Table) {
                    if b.mmap.iter().any(|m| m.offset < t.offset + t.length && t.offset < m.offset + m.mmap_length) {
                        return Err(LayoutFault::TableMapped { bar, exposure: self.exposure });
                    }
                }
            }
        }
        if self.exposure == Exposure::Refuse && !(self.bars.is_empty() && self.msix.is_none()) {
            return Err(LayoutFault::RefusedWithLayout);
        }
        Ok(())
    }
}

/// The first fault [`Layout::check_well_formed`] finds: what a VMM could not program as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutFault {
    /// The mapped and trapped ranges of a BAR leave a gap, overlap or hold an empty range.
    #[error("BAR{bar}: piece at {offset:#x}+{length:#x}, expected {expected:#x}")]
    Gap {
        /// The guest BAR.
        bar: u8,
        /// Where the piece starts.
        offset: u64,
        /// Its length.
        length: u64,
        /// Where the previous piece ended.
        expected: u64,
    },
    /// A piece of the BAR ends past 2^64.
    #[error("BAR{bar}: a piece ends past 2^64")]
    PastAddressSpace {
        /// The guest BAR.
        bar: u8,
    },
    /// The pieces do not reach the BAR's end.
    #[error("BAR{bar}: covered {covered:#x} of {size:#x}")]
    Uncovered {
        /// The guest BAR.
        bar: u8,
        /// How far the pieces reach.
        covered: u64,
        /// The BAR's size.
        size: u64,
    },
    /// The BAR is not a power of two aligned to its size.
    #[error("BAR{bar}: size {size:#x} align {alignment:#x}")]
    Unaligned {
        /// The guest BAR.
        bar: u8,
        /// Its size.
        size: u64,
        /// Its alignment.
        alignment: u64,
    },
    /// A memory slot is not whole pages at page-aligned offsets.
    #[error("BAR{bar}: slot {slot:?} is not whole pages")]
    PartialPages {
        /// The guest BAR.
        bar: u8,
        /// The slot.
        slot: MmapRange,
    },
    /// The table lies in a memory slot although the decision traps it.
    #[error("BAR{bar}: the table is mapped under {exposure:?}")]
    TableMapped {
        /// The guest BAR.
        bar: u8,
        /// The decision's exposure.
        exposure: Exposure,
    },
    /// A refused device has BARs or an MSI-X capability in its layout.
    #[error("a refused device has a layout")]
    RefusedWithLayout,
}

/// Where the device fd holds a BAR's region.
pub trait RegionOffsets {
    /// Offset of BAR `index`'s region in the device fd.
    fn region_offset(&self, index: u8) -> u64;
}

/// vfio-pci's fixed encoding: region `index` at `index << 40` (VFIO_PCI_INDEX_TO_OFFSET).
pub struct VfioPciOffsets;

impl RegionOffsets for VfioPciOffsets {
    fn region_offset(&self, index: u8) -> u64 {
        u64::from(index) << 40
    }
}

impl Layout {
    /// Builds the layout of a decided device on a host whose MSI-X BAR is (or is not) mappable.
    /// The decision's plan gives the physical BARs; a peer's mode then does what that VMM does with
    /// them (QEMU maps the PBA's own pages; cloud-hypervisor moves every table off a page boundary
    /// and mmaps no MSI-X BAR without `MSIX_MAPPABLE`), each step a reason in the layout's decision,
    /// and so does every place a mode deviates from its VMM, with why.
    pub fn build(
        device: &DeviceFacts,
        decision: Decision,
        page: u64,
        msix_mappable: bool,
        opts: &LayoutOptions,
        offsets: &dyn RegionOffsets,
    ) -> Layout {
        let mut layout = Layout {
            schema: LAYOUT_SCHEMA.into(),
            layout_version: LAYOUT_VERSION,
            mode: opts.mode,
            page_size: page,
            exposure: decision.exposure,
            risk: decision.risk,
            bars: Vec::new(),
            msix: None,
            trapped_bytes: 0,
            collateral_bytes: 0,
            decision,
        };
        let Some(mut plan) = layout.decision.plan.clone() else { return layout };
        let cap = match &device.msix {
            MsixFacts::Present { capability } => Some(*capability),
            _ => None,
        };
        if let Some(cap) = &cap {
            let (peer_plan, reasons) = peer_plan(device, &layout.decision, plan, cap, page, msix_mappable, opts);
            plan = peer_plan;
            layout.decision.reasons.extend(reasons);
        }
        layout.trapped_bytes = plan.trapped_bytes();
        layout.collateral_bytes = plan.collateral_bytes();
        layout.msix = cap.map(|c| guest_msix(&c, plan.relocation.as_ref()));
        layout.bars = guest_bars(device, &plan, cap.as_ref(), opts.mode, offsets);
        layout
    }
}

/// What the mode's VMM does with the decision's plan, and the reasons that say so.
fn peer_plan(
    device: &DeviceFacts,
    decision: &Decision,
    mut plan: MappingPlan,
    cap: &MsixCapability,
    page: u64,
    msix_mappable: bool,
    opts: &LayoutOptions,
) -> (MappingPlan, Vec<Reason>) {
    let mut reasons = Vec::new();
    let trap = decision.exposure == Exposure::Trap;
    let config = || {
        let what = format!(
            "MSI-X: {} vectors, table BAR{} {:#x}, PBA BAR{} {:#x}",
            cap.table_size, cap.table_bir, cap.table_offset, cap.pba_bir, cap.pba_offset
        );
        vec![Evidence::new(format!("{}/config", device.address), what)]
    };
    match opts.mode {
        LayoutMode::MsixPolicy => {}
        LayoutMode::Qemu => {
            if trap && plan.relocation.is_none() {
                if let Ok(q) = plan::table_pages_trap_plan(device, cap, page) {
                    if q.trapped_bytes() < plan.trapped_bytes() {
                        reasons.push(Reason::new(
                            RuleId::LAYOUT_QEMU_PBA_MAPPED,
                            format!(
                                "the PBA's pages stay mapped as QEMU leaves them: {} bytes trap instead of {}",
                                q.trapped_bytes(),
                                plan.trapped_bytes()
                            ),
                            config(),
                        ));
                        plan = q;
                    }
                }
            }
            for b in &plan.bars {
                let mapped = b.segments.iter().any(|s| s.action == SegmentAction::Map);
                if b.size < page && mapped {
                    reasons.push(Reason::new(
                        RuleId::LAYOUT_QEMU_SUB_PAGE_BAR,
                        format!(
                            "BAR{} ({:#x} bytes) is smaller than a {page:#x}-byte page: place it on a page boundary",
                            b.index, b.size
                        ),
                        config(),
                    ));
                }
            }
        }
        LayoutMode::CloudHypervisor => {
            if trap && !msix_mappable {
                let unmapped = unmapped_msix_bars(device, cap);
                if let Ok(p) = MappingPlan::trap(&unmapped, cap, page) {
                    if p.trapped_bytes() > plan.trapped_bytes() {
                        reasons.push(Reason::new(
                            RuleId::LAYOUT_CH_NOT_MAPPABLE,
                            format!(
                                "BAR{} (and the PBA's BAR{}) trap whole: {} bytes",
                                cap.table_bir,
                                cap.pba_bir,
                                p.trapped_bytes()
                            ),
                            config(),
                        ));
                        plan = p;
                    }
                }
            }
            if plan.relocation.is_none() && msix_mappable {
                if let Some(r) = plan::mode_always_relocates(device, cap, page, opts) {
                    if trap {
                        reasons.push(Reason::new(
                            RuleId::LAYOUT_CH_PHYSICAL_TABLE_TRAPPED,
                            format!("the table moves to BAR{} offset {:#x} as cloud-hypervisor moves it; the physical table's pages keep trapping", r.bar, r.table_offset),
                            config(),
                        ));
                    }
                    let _ = plan::add_relocation(&mut plan, r);
                } else if let Some(why) = plan::cloud_hypervisor_invalid_fixup(device, cap, page) {
                    reasons.push(Reason::new(RuleId::LAYOUT_CH_RELOCATION_REFUSED, why, config()));
                }
            }
        }
    }
    (plan, reasons)
}

/// The device as cloud-hypervisor sees it without `MSIX_MAPPABLE`: the BARs holding the table
/// or PBA have no mmap area.
fn unmapped_msix_bars(device: &DeviceFacts, cap: &MsixCapability) -> DeviceFacts {
    let mut d = device.clone();
    for bar in [cap.table_bir, cap.pba_bir] {
        d.vfio_regions.retain(|r| r.index != u32::from(bar));
        // No MMAP flag: no area may be mmapped.
        d.vfio_regions.push(crate::vmm::VfioRegion::new(u32::from(bar), 0, 0));
    }
    d
}

fn guest_msix(cap: &MsixCapability, r: Option<&Relocation>) -> GuestMsix {
    let (table_bir, table_offset, pba_bir, pba_offset) = match r {
        // mode_relocation keeps both offsets within 32 bits.
        Some(r) => (r.bar, r.table_offset as u32, r.bar, r.pba_offset as u32),
        None => (cap.table_bir, cap.table_offset, cap.pba_bir, cap.pba_offset),
    };
    GuestMsix {
        cap_offset: cap.cap_offset,
        table_size: cap.table_size,
        table_bir,
        table_offset,
        pba_bir,
        pba_offset,
        table_register: table_offset | u32::from(table_bir),
        pba_register: pba_offset | u32::from(pba_bir),
        relocated: r.is_some(),
    }
}

fn guest_bars(
    device: &DeviceFacts,
    plan: &MappingPlan,
    cap: Option<&MsixCapability>,
    mode: LayoutMode,
    offsets: &dyn RegionOffsets,
) -> Vec<GuestBar> {
    let page = plan.page_size;
    let mut out: Vec<GuestBar> = Vec::new();
    for b in device.bars.iter().flatten().filter(|b| b.size > 0 && !b.is_memory()) {
        let io = TrapRange {
            offset: 0,
            length: b.size,
            holds: TrapContents::IoPorts,
            handler: TrapHandler::ForwardToDevice,
        };
        out.push(GuestBar {
            index: b.index,
            kind: BarKind::Io,
            prefetchable: false,
            size: b.size,
            alignment: b.size,
            origin: BarOrigin::Physical,
            region_size: b.size,
            mmap: Vec::new(),
            trap: vec![io],
        });
    }
    for bp in &plan.bars {
        out.push(guest_bar(device, plan, bp, cap, mode, offsets, page));
    }
    out.sort_by_key(|b| b.index);
    out
}

fn guest_bar(
    device: &DeviceFacts,
    plan: &MappingPlan,
    bp: &BarPlan,
    cap: Option<&MsixCapability>,
    mode: LayoutMode,
    offsets: &dyn RegionOffsets,
    page: u64,
) -> GuestBar {
    let physical = device.bar(bp.index).filter(|_| bp.origin != BarOrigin::Virtual);
    let reloc = plan.relocation.filter(|r| r.bar == bp.index);
    let (kind, prefetchable) = match (physical, reloc) {
        (Some(b), _) => (b.kind, b.prefetchable),
        (None, Some(r)) => (r.bar_kind, r.prefetchable),
        (None, None) => (BarKind::Memory32, false),
    };
    let region_size = physical.map_or(0, |b| b.size);
    let moved = plan.relocation.is_some();
    let mut mmap = Vec::new();
    let mut trap = Vec::new();
    for s in &bp.segments {
        match s.action {
            SegmentAction::Map => mmap.push(MmapRange {
                offset: s.offset,
                length: s.length,
                mmap_length: s.length.div_ceil(page) * page,
                region_offset: offsets.region_offset(bp.index) + s.offset,
            }),
            SegmentAction::Trap(_) => {
                split_physical(&mut trap, (s.offset, s.end()), bp.index, cap, moved);
            }
            SegmentAction::Emulate(_) => {
                if let Some(r) = reloc {
                    split_virtual(&mut trap, (s.offset, s.end()), &r, cap);
                }
            }
        }
    }
    absorb_padding(&mut mmap, &mut trap);
    let mut size = bp.size;
    // A mapped BAR smaller than a page: its memory slot is a whole page. msix-policy's own layout
    // presents the BAR at page size so the guest puts nothing else in that page (vfio-pci
    // reserves the rest of the host page); the peers keep the device's size and need the page
    // alignment.
    if size < page && mode == LayoutMode::MsixPolicy && trap.is_empty() {
        if let [m] = mmap.as_mut_slice() {
            m.length = page;
            size = page;
        }
    }
    let alignment = if mmap.is_empty() { size } else { size.max(page) };
    GuestBar { index: bp.index, kind, prefetchable, size, alignment, origin: bp.origin, region_size, mmap, trap }
}

/// A slot that ends inside a page covers the rest of that page: padding there (an enlarged BAR
/// past a sub-page region) is served by the slot, not trapped.
fn absorb_padding(mmap: &mut [MmapRange], trap: &mut Vec<TrapRange>) {
    for m in mmap.iter_mut() {
        let slot_end = m.offset + m.mmap_length;
        let mut end = m.offset + m.length;
        while let Some(i) =
            trap.iter().position(|t| t.offset == end && t.holds == TrapContents::Padding && end < slot_end)
        {
            let t = &mut trap[i];
            let take = t.length.min(slot_end - end);
            t.offset += take;
            t.length -= take;
            end += take;
            if t.length == 0 {
                trap.remove(i);
            }
        }
        m.length = end - m.offset;
    }
}

/// The table and PBA ranges of `bar`, when they are there.
fn msix_ranges(cap: Option<&MsixCapability>, bar: u8) -> [(Option<Range>, TrapContents); 2] {
    let m = cap.map(|c| MsixInBar::of(c, bar));
    [(m.as_ref().and_then(|m| m.table), TrapContents::Table), (m.as_ref().and_then(|m| m.pba), TrapContents::Pba)]
}

/// Splits a trapped physical range into the table, the PBA and the registers around them.
/// When the table moved, the physical structures are out of the guest's view: they read as zero.
fn split_physical(out: &mut Vec<TrapRange>, span: (u64, u64), bar: u8, cap: Option<&MsixCapability>, moved: bool) {
    let parts = msix_ranges(cap, bar).map(|(r, holds)| {
        let handler = match (moved, holds) {
            (true, _) => TrapHandler::ReadZero,
            (false, TrapContents::Table) => TrapHandler::EmulateMsixTable,
            (false, _) => TrapHandler::EmulateMsixPba,
        };
        (r, holds, handler)
    });
    let registers = (TrapContents::Registers, TrapHandler::ForwardToDevice);
    carve(out, span, &parts, registers);
}

/// Splits the virtual part of a relocated BAR into the virtual table, virtual PBA and padding.
fn split_virtual(out: &mut Vec<TrapRange>, span: (u64, u64), r: &Relocation, cap: Option<&MsixCapability>) {
    let (table, pba) = cap.map_or((0, 0), |c| (c.table_bytes(), c.pba_bytes()));
    let parts = [
        (Some((r.table_offset, r.table_offset + table)), TrapContents::VirtualTable, TrapHandler::EmulateMsixTable),
        (Some((r.pba_offset, r.pba_offset + pba)), TrapContents::VirtualPba, TrapHandler::EmulateMsixPba),
    ];
    carve(out, span, &parts, (TrapContents::Padding, TrapHandler::ReadZero));
}

/// A byte range of a BAR (if the structure is there), what it holds and its handler.
type Part = (Option<Range>, TrapContents, TrapHandler);

/// Cuts `span` at the `parts` that overlap it; the gaps get `rest`. Adjacent pieces of the same
/// kind merge. Parts may overlap each other (a device that overlaps its table and PBA): the
/// earlier part wins.
fn carve(out: &mut Vec<TrapRange>, span: (u64, u64), parts: &[Part], rest: (TrapContents, TrapHandler)) {
    let mut cuts = vec![span.0, span.1];
    for (r, _, _) in parts {
        if let Some((s, e)) = r {
            cuts.extend([*s, *e].into_iter().filter(|&c| c > span.0 && c < span.1));
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    for w in cuts.windows(2) {
        let (s, e) = (w[0], w[1]);
        let (holds, handler) =
            parts.iter().find_map(|(r, h, k)| r.filter(|&(a, b)| a <= s && e <= b).map(|_| (*h, *k))).unwrap_or(rest);
        match out.last_mut() {
            Some(last) if last.holds == holds && last.handler == handler && last.offset + last.length == s => {
                last.length += e - s;
            }
            _ => out.push(TrapRange { offset: s, length: e - s, holds, handler }),
        }
    }
}
