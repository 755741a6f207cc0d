//! Page-aligned mapping plans: which bytes of each BAR the VMM maps, traps or emulates.

use serde::{Deserialize, Serialize};

use crate::drivers::DriverBars;
use crate::facts::{Bar, BarKind, DeviceFacts, HotWindow, MsixCapability};
use crate::ranges::{
    align_down, align_up, merge, overlaps, subtract, total, MsixInBar, Range, PCI_MSIX_ISOLATION_GRANULE,
};

/// Why a trapped segment traps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TrapKind {
    /// The pages hold (part of) the MSI-X table.
    Table,
    /// The pages hold (part of) the PBA and none of the table.
    Pba,
    /// The pages hold neither but cannot be mapped (a sub-page BAR off a page boundary).
    Collateral,
    /// Where the table lives is unknown, so the whole BAR traps.
    Unknown,
}

/// What an emulated segment presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum EmulateKind {
    /// The VMM's own MSI-X table and PBA, presented where no physical register lives.
    VirtualTable,
}

/// What the VMM does with a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "action", content = "what", rename_all = "kebab-case")]
pub enum SegmentAction {
    /// mmap the device's BAR into the guest: no exit.
    Map,
    /// Every access exits to the VMM; the kind says why.
    Trap(TrapKind),
    /// The VMM serves it from its own state (a relocated table): every access exits.
    Emulate(EmulateKind),
}

/// A page-aligned run of a BAR (the last one may end at a BAR end smaller than a page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Segment {
    /// Offset in the BAR.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// Map, trap or emulate.
    #[serde(flatten)]
    pub action: SegmentAction,
}

impl Segment {
    /// The offset just past the segment.
    pub fn end(&self) -> u64 {
        self.offset + self.length
    }
}

/// Where a planned BAR comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum BarOrigin {
    /// The device's own BAR, at its own size.
    Physical,
    /// A BAR slot the device leaves free, filled by the VMM with the virtual table.
    Virtual,
    /// The device's BAR, enlarged by the VMM to hold the virtual table after its registers.
    Extended,
}

/// The plan of one BAR as the guest sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BarPlan {
    /// BAR index, 0-5.
    pub index: u8,
    /// Size the guest sees.
    pub size: u64,
    /// Physical, virtual (a free slot) or extended.
    pub origin: BarOrigin,
    /// Ordered, non-overlapping, page-aligned segments covering the BAR exactly.
    pub segments: Vec<Segment>,
    /// Bytes in `trap` segments.
    pub trapped_bytes: u64,
    /// Bytes of the physical MSI-X table that trap.
    pub trapped_table_bytes: u64,
    /// Bytes of the physical PBA that trap.
    pub trapped_pba_bytes: u64,
    /// Trapped bytes outside the 4 KiB ranges of the table and PBA, and the bytes of such a range
    /// before its first MSI-X structure: other registers that exit.
    pub collateral_bytes: u64,
    /// Hot register windows that share a trapped page.
    pub hot_trapped: Vec<HotWindow>,
}

/// Where a relocated virtual table lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct Relocation {
    /// The BAR the guest finds the virtual table in.
    pub bar: u8,
    /// A free slot (`Virtual`) or an enlarged BAR (`Extended`).
    pub origin: BarOrigin,
    /// Offset of the virtual table in that BAR.
    pub table_offset: u64,
    /// Offset of the virtual PBA in that BAR.
    pub pba_offset: u64,
    /// The guest-visible kind of the BAR that holds the virtual table (a new BAR: 64-bit when the
    /// slot after it is free too).
    pub bar_kind: BarKind,
    /// The prefetchable bit of that BAR as the guest sees it.
    pub prefetchable: bool,
    /// The guest-visible size of that BAR.
    pub bar_size: u64,
}

/// Whose guest ABI a layout follows: where a relocated table goes and how big the BAR becomes.
/// A VMM adopts msix-policy's decision without changing the BAR layout its guests already see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum LayoutMode {
    /// msix-policy's own: a free slot first (smallest BAR that fits), else the smallest
    /// extensible BAR grown to the next power of two with the table after its registers.
    #[default]
    MsixPolicy,
    /// QEMU's `x-msix-relocation=barN` (hw/vfio/pci.c, `vfio_pci_relocate_msix`).
    Qemu,
    /// cloud-hypervisor's (pci/src/vfio.rs, `VfioCommon::fixup_msix_region`): a table off a host
    /// page boundary moves to the upper half of its doubled BAR; any other table stays in place.
    CloudHypervisor,
}

impl LayoutMode {
    /// The kebab-case name used in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            LayoutMode::MsixPolicy => "msix-policy",
            LayoutMode::Qemu => "qemu",
            LayoutMode::CloudHypervisor => "cloud-hypervisor",
        }
    }
}

/// What the VMM lets a relocation change in the guest's BARs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(default, deny_unknown_fields)]
pub struct RelocationPolicy {
    /// May present the virtual table in a BAR slot the device leaves free.
    pub add_bar: bool,
    /// May enlarge a 64-bit BAR to hold the virtual table.
    pub extend_bar: bool,
    /// May enlarge a 32-bit BAR (it must stay within 2 GiB, below 4 GiB).
    pub extend_32bit_bar: bool,
}

impl Default for RelocationPolicy {
    fn default() -> Self {
        RelocationPolicy { add_bar: true, extend_bar: true, extend_32bit_bar: true }
    }
}

impl RelocationPolicy {
    /// Relocation forbidden: the table stays where the device put it.
    pub const FORBIDDEN: RelocationPolicy =
        RelocationPolicy { add_bar: false, extend_bar: false, extend_32bit_bar: false };

    /// Whether any relocation is allowed at all.
    pub fn allows_any(&self) -> bool {
        self.add_bar || self.extend_bar || self.extend_32bit_bar
    }
    fn may_extend(&self, bar: &Bar) -> bool {
        match bar.kind {
            BarKind::Memory64 => self.extend_bar,
            BarKind::Memory32 => self.extend_32bit_bar,
            BarKind::Io => false,
        }
    }
}

/// How plans are laid out: whose ABI, and what relocation may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LayoutOptions {
    /// Whose guest ABI a relocation follows.
    pub mode: LayoutMode,
    /// What a relocation may change.
    pub relocation: RelocationPolicy,
}

/// The whole plan for a device: every memory BAR, in index order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MappingPlan {
    /// The host page size the segments are aligned to.
    pub page_size: u64,
    /// Every memory BAR (and a virtual one for a relocated table), in index order.
    pub bars: Vec<BarPlan>,
    /// Where the virtual table lives, when the table is relocated.
    pub relocation: Option<Relocation>,
}

impl MappingPlan {
    /// Trapped bytes over every BAR.
    pub fn trapped_bytes(&self) -> u64 {
        self.bars.iter().map(|b| b.trapped_bytes).sum()
    }
    /// Collateral bytes (other registers that exit) over every BAR.
    pub fn collateral_bytes(&self) -> u64 {
        self.bars.iter().map(|b| b.collateral_bytes).sum()
    }
    /// Hot register windows that share a trapped page, over every BAR.
    pub fn hot_trapped(&self) -> impl Iterator<Item = &HotWindow> {
        self.bars.iter().flat_map(|b| b.hot_trapped.iter())
    }
}

/// Why no plan could be made for the table's position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The table or PBA lies outside its BAR, or in an absent or I/O BAR.
    #[error("MSI-X {what} at BAR{bir} offset {offset:#x} (+{len:#x}) is outside that BAR ({bar})")]
    OutsideBar {
        /// `table` or `PBA`.
        what: &'static str,
        /// The BAR index the capability names.
        bir: u8,
        /// The offset the capability gives.
        offset: u64,
        /// The structure's length in bytes.
        len: u64,
        /// What the BAR is: `absent`, `an I/O BAR`, or its size.
        bar: String,
    },
}

/// The page-aligned ranges of a BAR the kernel lets userspace mmap: the VFIO region's MMAP flag
/// and sparse areas when the facts carry them, else the sysfs inference. A range may end at the
/// BAR's end inside a page: the kernel maps that whole page (vfio-pci reserves the rest).
pub fn mmap_windows(device: &DeviceFacts, bar: &Bar, page: u64) -> Vec<(u64, u64)> {
    let size = bar.size;
    let areas: Vec<Range> = match device.mmap_areas(bar.index) {
        Some(areas) => areas.iter().map(|a| (a.offset.min(size), a.offset.saturating_add(a.size).min(size))).collect(),
        None if bar.is_mmappable(page) => vec![(0, size)],
        None => Vec::new(),
    };
    merge(
        areas
            .into_iter()
            .map(|(s, e)| (align_up(s, page).min(size), if e == size { e } else { align_down(e, page) }))
            .collect(),
    )
}

/// Every way the table and PBA break the spec's layout rules (empty when they are valid).
pub fn msix_location_problems(device: &DeviceFacts, cap: &MsixCapability) -> Vec<PlanError> {
    let mut out = Vec::new();
    for (what, bir, off, len) in [
        ("table", cap.table_bir, cap.table_offset, cap.table_bytes()),
        ("PBA", cap.pba_bir, cap.pba_offset, cap.pba_bytes()),
    ] {
        let off = u64::from(off);
        let err = |bar: String| PlanError::OutsideBar { what, bir, offset: off, len, bar };
        match device.bar(bir) {
            None => out.push(err("absent".into())),
            Some(b) if !b.is_memory() => out.push(err("an I/O BAR".into())),
            Some(b) if off.checked_add(len).is_none_or(|end| end > b.size) => {
                out.push(err(format!("{:#x} bytes", b.size)))
            }
            Some(_) => {}
        }
    }
    out
}

/// Whether the BAR the table's BIR names is among the device's known BARs (memory or I/O, the
/// table inside it or not). A BIR naming no known BAR looks the same as BARs that could not be
/// read, so there the table's place is unknown.
pub fn table_bar_known(device: &DeviceFacts, cap: &MsixCapability) -> bool {
    device.bar(cap.table_bir).is_some_and(|b| b.size > 0)
}

/// A layout the spec forbids, on an isolated device: trap the pages the capability claims for
/// the table and PBA where they lie inside a memory BAR (clipped to that BAR), map the rest. A
/// table wholly past the end of its memory BAR traps that whole BAR: a device decodes only the
/// BAR's low address bits, so its table may answer at an alias anywhere in it. A table in an
/// I/O BAR touches no memory BAR (the I/O BAR is forwarded, as every I/O BAR is).
pub fn claimed_trap_plan(device: &DeviceFacts, cap: &MsixCapability, page: u64) -> MappingPlan {
    let bars = memory_bars(device)
        .map(|b| {
            let clip = |bir: u8, off: u32, len: u64| {
                let s = u64::from(off);
                (bir == b.index).then(|| (s.min(b.size), s.saturating_add(len).min(b.size))).filter(|r| r.0 < r.1)
            };
            let table_past_end = cap.table_bir == b.index && u64::from(cap.table_offset) >= b.size;
            let m = MsixInBar {
                table: if table_past_end {
                    Some((0, b.size))
                } else {
                    clip(cap.table_bir, cap.table_offset, cap.table_bytes())
                },
                pba: clip(cap.pba_bir, cap.pba_offset, cap.pba_bytes()),
            };
            let m = (m.table.is_some() || m.pba.is_some()).then_some(m);
            physical_bar_plan(device, b, page, m.as_ref(), None)
        })
        .collect();
    MappingPlan { page_size: page, bars, relocation: None }
}

/// Builds one BAR's segments from its trapped ranges, classifying each trapped page.
fn physical_bar_plan(
    device: &DeviceFacts,
    bar: &Bar,
    page: u64,
    msix: Option<&MsixInBar>,
    trap_all: Option<TrapKind>,
) -> BarPlan {
    let size = bar.size;
    let hot = &device.hot_windows;
    let trap: Vec<Range> = if trap_all.is_some() {
        vec![(0, size)]
    } else {
        let mut t = subtract((0, size), &mmap_windows(device, bar, page));
        if let Some(m) = msix {
            t.extend(m.ranges().map(|(s, e)| (align_down(s, page), align_up(e, page).min(size))));
        }
        if t.is_empty() {
            return whole_bar(bar.index, size, BarOrigin::Physical, SegmentAction::Map);
        }
        merge(t)
    };
    let segments = segments_of(&trap, size, page, msix, trap_all);
    let reserved = msix.map(|m| m.register_free(size)).unwrap_or_default();
    let trapped_bytes = total(&trap);
    let within =
        |r: Option<Range>| r.filter(|r| trap.iter().any(|t| t.0 <= r.0 && r.1 <= t.1)).map_or(0, |r| r.1 - r.0);
    let reserved_trapped: u64 = reserved
        .iter()
        .map(|&r| trap.iter().filter(|t| overlaps(**t, r)).map(|t| t.1.min(r.1) - t.0.max(r.0)).sum::<u64>())
        .sum();
    BarPlan {
        index: bar.index,
        size,
        origin: BarOrigin::Physical,
        segments,
        trapped_bytes,
        trapped_table_bytes: within(msix.and_then(|m| m.table)),
        trapped_pba_bytes: within(msix.and_then(|m| m.pba)),
        collateral_bytes: trapped_bytes - reserved_trapped,
        hot_trapped: hot
            .iter()
            .filter(|h| {
                h.bar == bar.index && trap.iter().any(|&t| overlaps(t, (h.offset, h.offset.saturating_add(h.length))))
            })
            .cloned()
            .collect(),
    }
}

/// The ordered segments of a BAR of `size` bytes whose `trap` ranges (merged, page aligned)
/// trap and the rest maps; each trapped page is classed by what it holds.
fn segments_of(
    trap: &[Range],
    size: u64,
    page: u64,
    msix: Option<&MsixInBar>,
    trap_all: Option<TrapKind>,
) -> Vec<Segment> {
    let classify = |chunk: Range| -> TrapKind {
        if let Some(kind) = trap_all {
            return kind;
        }
        match msix {
            Some(m) if m.table.is_some_and(|t| overlaps(t, chunk)) => TrapKind::Table,
            Some(m) if m.pba.is_some_and(|p| overlaps(p, chunk)) => TrapKind::Pba,
            _ => TrapKind::Collateral,
        }
    };
    let mut segments: Vec<Segment> = Vec::new();
    let mut push = |offset: u64, end: u64, action: SegmentAction| match segments.last_mut() {
        Some(last) if last.action == action && last.end() == offset => last.length += end - offset,
        _ => segments.push(Segment { offset, length: end - offset, action }),
    };
    let mut cursor = 0;
    for &(a, b) in trap {
        if cursor < a {
            push(cursor, a, SegmentAction::Map);
        }
        // Classes change only at the page boundaries around the table and the PBA, so the range
        // is cut there, not page by page (a huge unmappable BAR would otherwise take a step per
        // page).
        let mut cuts = vec![a, b];
        for (s, e) in msix.iter().flat_map(|m| m.ranges()) {
            cuts.extend([align_down(s, page), align_up(e, page)].into_iter().filter(|&c| c > a && c < b));
        }
        cuts.sort_unstable();
        cuts.dedup();
        for w in cuts.windows(2) {
            push(w[0], w[1], SegmentAction::Trap(classify((w[0], w[1]))));
        }
        cursor = b;
    }
    if cursor < size {
        push(cursor, size, SegmentAction::Map);
    }
    segments
}

fn whole_bar(index: u8, size: u64, origin: BarOrigin, action: SegmentAction) -> BarPlan {
    let trapped = if matches!(action, SegmentAction::Trap(_)) { size } else { 0 };
    BarPlan {
        index,
        size,
        origin,
        segments: vec![Segment { offset: 0, length: size, action }],
        trapped_bytes: trapped,
        trapped_table_bytes: 0,
        trapped_pba_bytes: 0,
        collateral_bytes: trapped,
        hot_trapped: Vec::new(),
    }
}

fn memory_bars(device: &DeviceFacts) -> impl Iterator<Item = &Bar> {
    device.bars.iter().flatten().filter(|b| b.is_memory() && b.size > 0)
}

/// QEMU's trap plan: only the table's pages leave the mmap (`vfio_pci_fixup_msix_region`), and
/// the emulated PBA is disabled until a masked vector fires (`vfio_msix_setup`), so the PBA's
/// pages stay mapped unless they are the table's too.
pub fn table_pages_trap_plan(device: &DeviceFacts, cap: &MsixCapability, page: u64) -> Result<MappingPlan, PlanError> {
    trap_plan_with(device, cap, page, false)
}

fn trap_plan_with(
    device: &DeviceFacts,
    cap: &MsixCapability,
    page: u64,
    pba_traps: bool,
) -> Result<MappingPlan, PlanError> {
    device.check_msix_location(cap)?;
    let pages = |r: Range| (align_down(r.0, page), align_up(r.1, page));
    let bars = memory_bars(device)
        .map(|b| {
            let mut m = MsixInBar::of(cap, b.index);
            let shares_table_pages = matches!((m.table, m.pba), (Some(t), Some(p)) if overlaps(pages(t), pages(p)));
            if !pba_traps && !shares_table_pages {
                m.pba = None;
            }
            let m = (m.table.is_some() || m.pba.is_some()).then_some(m);
            let mut plan = physical_bar_plan(device, b, page, m.as_ref(), None);
            if device.msix_only_bar(cap, b.index).is_some() {
                plan.collateral_bytes = 0;
            }
            plan
        })
        .collect();
    Ok(MappingPlan { page_size: page, bars, relocation: None })
}

/// Why a BAR that holds the MSI-X table or PBA holds no register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsixOnly {
    /// The table and PBA fill it, as far as the facts show ([`DeviceFacts::dedicated_msix_bar`]).
    Dedicated,
    /// The device's known Linux driver never maps it ([`DeviceFacts::driver_unmapped_msix_bar`]).
    DriverNeverMaps(&'static DriverBars),
}

/// The trapped bytes of BARs that hold no register ([`DeviceFacts::msix_only_bar`]) that would otherwise
/// count as collateral, per BAR with the reason. Empty when the table position is invalid.
pub fn msix_only_trapped(device: &DeviceFacts, cap: &MsixCapability, page: u64) -> Vec<(u8, u64, MsixOnly)> {
    if device.check_msix_location(cap).is_err() {
        return Vec::new();
    }
    memory_bars(device)
        .filter_map(|b| {
            let why = device.msix_only_bar(cap, b.index)?;
            let m = MsixInBar::of(cap, b.index);
            let bytes = physical_bar_plan(device, b, page, Some(&m), None).collateral_bytes;
            (bytes > 0).then_some((b.index, bytes, why))
        })
        .collect()
}

/// Map every memory BAR whole (no MSI-X, or Passthrough). Sub-page BARs off a page boundary still trap.
pub fn map_all_plan(device: &DeviceFacts, page: u64) -> MappingPlan {
    let bars = memory_bars(device).map(|b| physical_bar_plan(device, b, page, None, None)).collect();
    MappingPlan { page_size: page, bars, relocation: None }
}

/// Where the table lives is unknown: trap every memory BAR whole.
pub fn trap_everything_plan(device: &DeviceFacts, page: u64) -> MappingPlan {
    let bars = memory_bars(device).map(|b| physical_bar_plan(device, b, page, None, Some(TrapKind::Unknown))).collect();
    MappingPlan { page_size: page, bars, relocation: None }
}

/// Puts the virtual table into a plan: a new BAR, or the upper part of an enlarged one.
pub fn add_relocation(plan: &mut MappingPlan, r: Relocation) -> Option<()> {
    let virtual_table = SegmentAction::Emulate(EmulateKind::VirtualTable);
    match r.origin {
        BarOrigin::Virtual => {
            plan.bars.push(whole_bar(r.bar, r.bar_size, BarOrigin::Virtual, virtual_table));
            plan.bars.sort_by_key(|b| b.index);
        }
        _ => {
            let bp = plan.bars.iter_mut().find(|b| b.index == r.bar)?;
            let old = bp.size;
            bp.size = r.bar_size;
            bp.origin = BarOrigin::Extended;
            bp.segments.push(Segment { offset: old, length: r.bar_size.checked_sub(old)?, action: virtual_table });
        }
    }
    plan.relocation = Some(r);
    Some(())
}

/// Slots the device's BARs occupy (a 64-bit BAR takes its slot and the next).
fn occupied_slots(device: &DeviceFacts) -> [bool; 6] {
    let mut used = [false; 6];
    for b in device.bars.iter().flatten().filter(|b| b.size > 0) {
        let i = usize::from(b.index);
        if let Some(u) = used.get_mut(i) {
            *u = true;
        }
        if b.kind == BarKind::Memory64 {
            if let Some(u) = used.get_mut(i + 1) {
                *u = true;
            }
        }
    }
    used
}

/// A new BAR in the first free slot: 64-bit when the slot after it is free too, prefetchable
/// (the VMM's emulated table has no read side effects), as QEMU makes it.
fn new_bar(used: &[bool; 6]) -> Option<(u8, BarKind)> {
    let slot = (0..6).find(|&s| !used[s])?;
    let kind = if slot < 5 && !used[slot + 1] { BarKind::Memory64 } else { BarKind::Memory32 };
    Some((slot as u8, kind))
}

/// The virtual table at the start of a new BAR in the first free slot, the PBA at `pba_offset`.
fn virtual_bar(device: &DeviceFacts, pba_offset: u64, bar_size: u64) -> Option<Relocation> {
    let (slot, kind) = new_bar(&occupied_slots(device))?;
    Some(Relocation {
        bar: slot,
        origin: BarOrigin::Virtual,
        table_offset: 0,
        pba_offset,
        bar_kind: kind,
        prefetchable: true,
        bar_size,
    })
}

/// A BAR that can grow to `new_size` and keep being mapped whole: memory, mappable, allowed by
/// the policy, and, when 32-bit, no larger than 2 GiB after growing.
fn extensible(device: &DeviceFacts, bar: &Bar, page: u64, policy: &RelocationPolicy, new_size: Option<u64>) -> bool {
    const TWO_GIB: u64 = 2 << 30;
    bar.is_memory()
        && bar.size > 0
        && policy.may_extend(bar)
        && mmap_windows(device, bar, page) == [(0, bar.size)]
        && new_size.is_some_and(|n| bar.kind == BarKind::Memory64 || n <= TWO_GIB)
}

fn native_relocation(
    device: &DeviceFacts,
    cap: &MsixCapability,
    page: u64,
    policy: &RelocationPolicy,
) -> Option<Relocation> {
    let g = PCI_MSIX_ISOLATION_GRANULE;
    let pba_offset = align_up(cap.table_bytes(), g);
    let needed = (pba_offset + cap.pba_bytes()).max(page).next_power_of_two();
    if let Some(r) = policy.add_bar.then(|| virtual_bar(device, pba_offset, needed)).flatten() {
        return Some(r);
    }
    // No free slot: enlarge the smallest extensible BAR and put the virtual table in the new
    // upper part. A BAR smaller than a page is already a page in this layout (its memory slot
    // is the whole host page, which vfio-pci reserves for it), so it grows from a page: the
    // virtual table starts on the next page and the guest's accesses to the registers still
    // reach the slot. The grown BAR stays a power of two, as a BAR must (PCI 3.0, 6.2.5.1).
    let presented = |b: &Bar| b.size.max(page);
    let grown = |b: &Bar| presented(b).checked_add(needed).and_then(u64::checked_next_power_of_two);
    let target = device
        .bars
        .iter()
        .flatten()
        .filter(|b| b.size.is_power_of_two() && extensible(device, b, page, policy, grown(b)))
        .min_by_key(|b| (presented(b), b.size, b.index))?;
    let new_size = grown(target)?;
    let at = presented(target);
    Some(Relocation {
        bar: target.index,
        origin: BarOrigin::Extended,
        table_offset: at,
        pba_offset: at + pba_offset,
        bar_kind: target.kind,
        prefetchable: target.prefetchable,
        bar_size: new_size,
    })
}

/// QEMU's sizing (`vfio_pci_relocate_msix`): the table and PBA back to back, rounded up to a
/// host page and to a power of two; a new BAR holds just that, an existing one doubles (at least
/// twice that size) with the table at its middle. QEMU's `auto` has no device list, so the
/// target is chosen here and named by `x-msix-relocation=barN`: a free slot (not the upper half
/// of a 64-bit BAR), else the smallest BAR QEMU accepts (memory, 32-bit ones up to 1 GiB).
fn qemu_relocation(
    device: &DeviceFacts,
    cap: &MsixCapability,
    page: u64,
    policy: &RelocationPolicy,
) -> Option<Relocation> {
    let entries = u64::from(cap.table_size);
    let table_bytes = entries * 16;
    let msix_sz = align_up(table_bytes + entries.div_ceil(64) * 8, page).checked_next_power_of_two()?;
    if let Some(r) = policy.add_bar.then(|| virtual_bar(device, table_bytes, msix_sz)).flatten() {
        return Some(r);
    }
    const ONE_GIB: u64 = 1 << 30;
    let grown = |b: &Bar| b.size.checked_mul(2).map(|d| d.max(msix_sz.saturating_mul(2)));
    let target = device
        .bars
        .iter()
        .flatten()
        .filter(|b| (b.kind == BarKind::Memory64 || b.size <= ONE_GIB) && extensible(device, b, page, policy, grown(b)))
        .min_by_key(|b| (b.size, b.index))?;
    let size = grown(target)?;
    Some(Relocation {
        bar: target.index,
        origin: BarOrigin::Extended,
        table_offset: size / 2,
        pba_offset: size / 2 + table_bytes,
        bar_kind: target.kind,
        prefetchable: target.prefetchable,
        bar_size: size,
    })
}

/// cloud-hypervisor's `fixup_msix_region`: only a table off a host page boundary moves, to the
/// middle of its own BAR doubled (at least twice the page-rounded table and PBA), the PBA at
/// the same distance from it as on the device. Both must share the BAR.
fn cloud_hypervisor_relocation(
    device: &DeviceFacts,
    cap: &MsixCapability,
    page: u64,
    policy: &RelocationPolicy,
) -> Option<Relocation> {
    let (table, pba) = (u64::from(cap.table_offset), u64::from(cap.pba_offset));
    if table % page == 0 || cap.pba_bir != cap.table_bir || pba < table {
        return None;
    }
    // allocate_bars calls fixup_msix_region for 64-bit BARs only.
    let bar = device.bar(cap.table_bir).filter(|b| b.kind == BarKind::Memory64)?;
    let msix_sz = align_up(cap.table_bytes() + cap.pba_bytes(), page);
    let size = bar.size.checked_mul(2)?.max(msix_sz.checked_mul(2)?);
    if !extensible(device, bar, page, policy, Some(size)) {
        return None;
    }
    Some(Relocation {
        bar: bar.index,
        origin: BarOrigin::Extended,
        table_offset: size / 2,
        pba_offset: size / 2 + (pba - table),
        bar_kind: bar.kind,
        prefetchable: bar.prefetchable,
        bar_size: size,
    })
}

/// Why cloud-hypervisor's `fixup_msix_region` would move this table (64-bit BAR, table off a
/// page boundary) to offsets that describe no valid layout, which the model refuses: `None`
/// where it would not move it, or where the model follows it.
pub fn cloud_hypervisor_invalid_fixup(device: &DeviceFacts, cap: &MsixCapability, page: u64) -> Option<String> {
    let bar = device.bar(cap.table_bir).filter(|b| b.kind == BarKind::Memory64 && b.size > 0)?;
    let (table, pba) = (u64::from(cap.table_offset), u64::from(cap.pba_offset));
    if table % page == 0 {
        return None;
    }
    let msix_sz = align_up(cap.table_bytes() + cap.pba_bytes(), page);
    let size = bar.size.saturating_mul(2).max(msix_sz.saturating_mul(2));
    if cap.pba_bir != cap.table_bir {
        Some(format!(
            "the PBA is in BAR{} but fixup_msix_region moves its offset as if it shared BAR{} with the table",
            cap.pba_bir, cap.table_bir
        ))
    } else if pba < table {
        Some(format!("the PBA ({pba:#x}) lies before the table ({table:#x}): pba_offset - table_offset underflows"))
    } else if (size / 2).saturating_add(pba - table).saturating_add(cap.pba_bytes()) > u64::from(u32::MAX) {
        Some(format!("BAR{} doubled to {size:#x} puts the table past 4 GiB: the u32 offsets wrap", bar.index))
    } else {
        None
    }
}

/// Where the mode moves this device's table whatever the decision (cloud-hypervisor moves
/// every table off a page boundary): the guest's ABI then has it there.
pub fn mode_always_relocates(
    device: &DeviceFacts,
    cap: &MsixCapability,
    page: u64,
    opts: &LayoutOptions,
) -> Option<Relocation> {
    if opts.mode != LayoutMode::CloudHypervisor {
        return None;
    }
    Relocation::for_mode(device, cap, page, opts)
}

/// Hot windows that sit inside a 4 KiB range the spec reserves for the table or PBA.
pub fn windows_sharing_msix_4k(device: &DeviceFacts, cap: &MsixCapability) -> Vec<HotWindow> {
    device
        .hot_windows
        .iter()
        .filter(|h| {
            let Some(bar) = device.bar(h.bar) else { return false };
            MsixInBar::of(cap, h.bar)
                .reserved_4k(bar.size)
                .iter()
                .any(|&r| overlaps(r, (h.offset, h.offset.saturating_add(h.length))))
        })
        .cloned()
        .collect()
}

// The plan's questions as methods of the facts they ask about (the crate root exports the types).

impl Bar {
    /// A BAR smaller than a page can only be mmapped when it starts on a page boundary
    /// (vfio-pci reserves the rest of that page); otherwise every access must trap. This is the
    /// inference from sysfs; a VMM's VFIO region info replaces it (see `mmap_windows`).
    pub fn is_mmappable(&self, page: u64) -> bool {
        self.is_memory() && (self.size >= page || self.start % page == 0)
    }
}

impl MsixCapability {
    /// Whether the table and the PBA share bytes (same BAR, overlapping ranges): the spec forbids it.
    pub fn table_and_pba_overlap(&self) -> bool {
        let t = (u64::from(self.table_offset), u64::from(self.table_offset) + self.table_bytes());
        let p = (u64::from(self.pba_offset), u64::from(self.pba_offset) + self.pba_bytes());
        self.table_bir == self.pba_bir && overlaps(t, p)
    }
}

impl DeviceFacts {
    /// Checks that the table and PBA each lie inside a memory BAR of the device.
    pub fn check_msix_location(&self, cap: &MsixCapability) -> Result<(), PlanError> {
        match msix_location_problems(self, cap).into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Whether, as far as the facts show, a BAR holds nothing but the MSI-X table and/or PBA (the
    /// separate 16 KiB MSI-X BAR of Intel NICs, next to their register BAR): a memory BAR in which
    /// the table or PBA (or both) lies, the lowest of them starting at the BAR's first byte (bytes
    /// before it are registers as far as anyone can tell),
    /// no larger than the smallest power-of-two BAR that holds the 4 KiB ranges covering them, and
    /// no known register window in it. Trapping such a BAR's pages catches no register.
    pub fn dedicated_msix_bar(&self, cap: &MsixCapability, index: u8) -> bool {
        let Some(bar) = self.bar(index).filter(|b| b.is_memory() && b.size > 0) else { return false };
        let m = MsixInBar::of(cap, index);
        let (Some(start), Some(end)) = (m.ranges().map(|r| r.0).min(), m.ranges().map(|r| r.1).max()) else {
            return false;
        };
        let g = PCI_MSIX_ISOLATION_GRANULE;
        let span = align_up(end, g).checked_next_power_of_two();
        start == 0
            && end <= bar.size
            && span.is_some_and(|s| bar.size <= s)
            && !self.hot_windows.iter().any(|h| h.bar == index)
    }

    /// The driver-table entry (`policy/data/driver-bars.toml`) that knows this device and never maps
    /// BAR `index`, when the table or PBA lies in that memory BAR and no known register window
    /// does: a BAR the driver never maps holds no register it uses. `None` without knowledge.
    pub fn driver_unmapped_msix_bar(&self, cap: &MsixCapability, index: u8) -> Option<&'static DriverBars> {
        self.bar(index).filter(|b| b.is_memory() && b.size > 0)?;
        let m = MsixInBar::of(cap, index);
        if m.table.is_none() && m.pba.is_none() || self.hot_windows.iter().any(|h| h.bar == index) {
            return None;
        }
        let entry = DriverBars::lookup(self.vendor, self.device, self.class)?;
        let memory: Vec<u8> = memory_bars(self).map(|b| b.index).collect();
        (!entry.maps_bar(index, &memory)).then_some(entry)
    }

    /// Whether a BAR that holds the table or PBA holds no register: a dedicated MSI-X BAR (checked
    /// first: the facts alone show it), else one the device's known driver never maps.
    pub fn msix_only_bar(&self, cap: &MsixCapability, index: u8) -> Option<MsixOnly> {
        if self.dedicated_msix_bar(cap, index) {
            return Some(MsixOnly::Dedicated);
        }
        self.driver_unmapped_msix_bar(cap, index).map(MsixOnly::DriverNeverMaps)
    }
}

impl MappingPlan {
    /// Trap the table and PBA rounded out to host pages; map the rest. The trapped bytes of a BAR
    /// that holds no register ([`DeviceFacts::msix_only_bar`]: a dedicated MSI-X BAR, or one the
    /// device's known driver never maps) count as no collateral. An error when the table or PBA
    /// lies outside its BAR.
    pub fn trap(device: &DeviceFacts, cap: &MsixCapability, page: u64) -> Result<MappingPlan, PlanError> {
        trap_plan_with(device, cap, page, true)
    }

    /// Present a virtual table and PBA where the layout mode puts them (a free BAR slot, or after
    /// the registers of an enlarged BAR) and map every physical BAR whole. `None` when the mode
    /// and the relocation policy leave no place for it.
    pub fn relocate(
        device: &DeviceFacts,
        cap: &MsixCapability,
        page: u64,
        opts: &LayoutOptions,
    ) -> Option<MappingPlan> {
        let r = Relocation::for_mode(device, cap, page, opts)?;
        let mut plan = map_all_plan(device, page);
        add_relocation(&mut plan, r)?;
        Some(plan)
    }
}

impl Relocation {
    /// Where a layout mode puts the virtual table and PBA of this device, if anywhere.
    pub fn for_mode(device: &DeviceFacts, cap: &MsixCapability, page: u64, opts: &LayoutOptions) -> Option<Relocation> {
        let r = match opts.mode {
            LayoutMode::MsixPolicy => native_relocation(device, cap, page, &opts.relocation),
            LayoutMode::Qemu => qemu_relocation(device, cap, page, &opts.relocation),
            LayoutMode::CloudHypervisor => cloud_hypervisor_relocation(device, cap, page, &opts.relocation),
        }?;
        // The capability's offset fields are 32 bits wide (the low 3 hold the BIR).
        let end = r.pba_offset.checked_add(cap.pba_bytes())?;
        (end <= u64::from(u32::MAX) && r.bar_size.is_power_of_two()).then_some(r)
    }
}
