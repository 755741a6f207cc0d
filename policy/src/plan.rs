//! Page-aligned mapping plans: which bytes of each BAR the VMM maps, traps or emulates.

use serde::{Deserialize, Serialize};

use crate::facts::{Bar, DeviceFacts, HotWindow, MsixCapability};

/// The PCI spec keeps other registers out of the naturally aligned 4 KiB ranges that hold the
/// MSI-X table and PBA; bytes trapped outside those ranges are collateral.
pub const PCI_MSIX_ISOLATION_GRANULE: u64 = 4096;

/// Why a trapped segment traps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmulateKind {
    /// The VMM's own MSI-X table and PBA, presented where no physical register lives.
    VirtualTable,
}

/// What the VMM does with a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", content = "what", rename_all = "kebab-case")]
pub enum SegmentAction {
    Map,
    Trap(TrapKind),
    Emulate(EmulateKind),
}

/// A page-aligned run of a BAR (the last one may end at a BAR end smaller than a page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub offset: u64,
    pub length: u64,
    #[serde(flatten)]
    pub action: SegmentAction,
}

impl Segment {
    pub fn end(&self) -> u64 {
        self.offset + self.length
    }
}

/// Where a planned BAR comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct BarPlan {
    pub index: u8,
    /// Size the guest sees.
    pub size: u64,
    pub origin: BarOrigin,
    pub segments: Vec<Segment>,
    /// Bytes in `trap` segments.
    pub trapped_bytes: u64,
    /// Bytes of the physical MSI-X table that trap.
    pub trapped_table_bytes: u64,
    /// Bytes of the physical PBA that trap.
    pub trapped_pba_bytes: u64,
    /// Trapped bytes outside the 4 KiB ranges of the table and PBA: other registers that exit.
    pub collateral_bytes: u64,
    /// Hot register windows that share a trapped page.
    pub hot_trapped: Vec<HotWindow>,
}

/// Where a relocated virtual table lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relocation {
    pub bar: u8,
    pub origin: BarOrigin,
    pub table_offset: u64,
    pub pba_offset: u64,
}

/// The whole plan for a device: every memory BAR, in index order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingPlan {
    pub page_size: u64,
    pub bars: Vec<BarPlan>,
    pub relocation: Option<Relocation>,
}

impl MappingPlan {
    pub fn trapped_bytes(&self) -> u64 {
        self.bars.iter().map(|b| b.trapped_bytes).sum()
    }
    pub fn collateral_bytes(&self) -> u64 {
        self.bars.iter().map(|b| b.collateral_bytes).sum()
    }
    pub fn hot_trapped(&self) -> impl Iterator<Item = &HotWindow> {
        self.bars.iter().flat_map(|b| b.hot_trapped.iter())
    }
}

/// Why no plan could be made for the table's position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("MSI-X {what} at BAR{bir} offset {offset:#x} (+{len:#x}) is outside that BAR ({bar})")]
    OutsideBar { what: &'static str, bir: u8, offset: u64, len: u64, bar: String },
}

type Range = (u64, u64);

fn align_down(v: u64, a: u64) -> u64 {
    v - v % a
}

fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a).saturating_mul(a)
}

fn overlaps(a: Range, b: Range) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Sorts and merges ranges; empty ones vanish.
fn merge(mut ranges: Vec<Range>) -> Vec<Range> {
    ranges.retain(|r| r.0 < r.1);
    ranges.sort_unstable();
    let mut out: Vec<Range> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.0 <= last.1 => last.1 = last.1.max(r.1),
            _ => out.push(r),
        }
    }
    out
}

fn total(ranges: &[Range]) -> u64 {
    ranges.iter().map(|r| r.1 - r.0).sum()
}

/// A BAR smaller than a page can only be mmapped when it starts on a page boundary
/// (vfio-pci reserves the rest of that page); otherwise every access must trap.
pub fn bar_is_mmappable(bar: &Bar, page: u64) -> bool {
    bar.is_memory() && (bar.size >= page || bar.start % page == 0)
}

/// The table and PBA ranges that fall in one BAR.
struct MsixInBar {
    table: Option<Range>,
    pba: Option<Range>,
}

impl MsixInBar {
    fn of(cap: &MsixCapability, index: u8) -> Self {
        let range = |bir: u8, off: u32, len: u64| (bir == index).then(|| (u64::from(off), u64::from(off) + len));
        MsixInBar {
            table: range(cap.table_bir, cap.table_offset, cap.table_bytes()),
            pba: range(cap.pba_bir, cap.pba_offset, cap.pba_bytes()),
        }
    }
    fn ranges(&self) -> impl Iterator<Item = Range> + '_ {
        self.table.iter().chain(self.pba.iter()).copied()
    }
    /// The naturally aligned 4 KiB ranges the spec reserves for the table and PBA, clipped to the BAR.
    fn reserved_4k(&self, bar_size: u64) -> Vec<Range> {
        let g = PCI_MSIX_ISOLATION_GRANULE;
        merge(self.ranges().map(|(s, e)| (align_down(s, g), align_up(e, g).min(bar_size))).collect())
    }
}

/// Checks that the table and PBA each lie inside a memory BAR of the device.
pub fn check_msix_location(device: &DeviceFacts, cap: &MsixCapability) -> Result<(), PlanError> {
    for (what, bir, off, len) in [
        ("table", cap.table_bir, cap.table_offset, cap.table_bytes()),
        ("PBA", cap.pba_bir, cap.pba_offset, cap.pba_bytes()),
    ] {
        let off = u64::from(off);
        let err = |bar: String| PlanError::OutsideBar { what, bir, offset: off, len, bar };
        match device.bar(bir) {
            None => return Err(err("absent".into())),
            Some(b) if !b.is_memory() => return Err(err("an I/O BAR".into())),
            Some(b) if off.checked_add(len).is_none_or(|end| end > b.size) => {
                return Err(err(format!("{:#x} bytes", b.size)))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Builds one BAR's segments from its trapped ranges, classifying each trapped page.
fn physical_bar_plan(
    bar: &Bar,
    page: u64,
    msix: Option<&MsixInBar>,
    trap_all: Option<TrapKind>,
    hot: &[HotWindow],
) -> BarPlan {
    let size = bar.size;
    let unmappable = !bar_is_mmappable(bar, page);
    let trap: Vec<Range> = if trap_all.is_some() || unmappable {
        vec![(0, size)]
    } else {
        let Some(m) = msix else { return whole_bar(bar.index, size, BarOrigin::Physical, SegmentAction::Map) };
        merge(m.ranges().map(|(s, e)| (align_down(s, page), align_up(e, page).min(size))).collect())
    };
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
    for &(a, b) in &trap {
        if cursor < a {
            push(cursor, a, SegmentAction::Map);
        }
        let mut p = a;
        while p < b {
            let q = (align_down(p, page) + page).min(b);
            push(p, q, SegmentAction::Trap(classify((p, q))));
            p = q;
        }
        cursor = b;
    }
    if cursor < size {
        push(cursor, size, SegmentAction::Map);
    }
    let reserved = msix.map(|m| m.reserved_4k(size)).unwrap_or_default();
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

/// Trap the table and PBA rounded out to host pages; map the rest.
pub fn trap_plan(device: &DeviceFacts, cap: &MsixCapability, page: u64) -> Result<MappingPlan, PlanError> {
    check_msix_location(device, cap)?;
    let bars = memory_bars(device)
        .map(|b| {
            let m = MsixInBar::of(cap, b.index);
            let m = (m.table.is_some() || m.pba.is_some()).then_some(m);
            physical_bar_plan(b, page, m.as_ref(), None, &device.hot_windows)
        })
        .collect();
    Ok(MappingPlan { page_size: page, bars, relocation: None })
}

/// Map every memory BAR whole (no MSI-X, or Passthrough). Sub-page BARs off a page boundary still trap.
pub fn map_all_plan(device: &DeviceFacts, page: u64) -> MappingPlan {
    let bars = memory_bars(device).map(|b| physical_bar_plan(b, page, None, None, &device.hot_windows)).collect();
    MappingPlan { page_size: page, bars, relocation: None }
}

/// Where the table lives is unknown: trap every memory BAR whole.
pub fn trap_everything_plan(device: &DeviceFacts, page: u64) -> MappingPlan {
    let bars = memory_bars(device)
        .map(|b| physical_bar_plan(b, page, None, Some(TrapKind::Unknown), &device.hot_windows))
        .collect();
    MappingPlan { page_size: page, bars, relocation: None }
}

/// Present a virtual table and PBA in a free BAR slot, or after the registers of an enlarged BAR,
/// and map every physical BAR whole. `None` when there is no room.
pub fn relocation_plan(device: &DeviceFacts, cap: &MsixCapability, page: u64) -> Option<MappingPlan> {
    let bars = device.bars.as_ref()?;
    let g = PCI_MSIX_ISOLATION_GRANULE;
    let pba_offset = align_up(cap.table_bytes(), g);
    let needed = (pba_offset + cap.pba_bytes()).max(page).next_power_of_two();
    let occupied = |slot: u8| {
        bars.iter().any(|b| {
            b.size > 0 && (b.index == slot || (b.kind == crate::facts::BarKind::Memory64 && b.index + 1 == slot))
        })
    };
    let mut plan = map_all_plan(device, page);
    let relocation = if let Some(slot) = (0u8..6).find(|&s| !occupied(s)) {
        let action = SegmentAction::Emulate(EmulateKind::VirtualTable);
        plan.bars.push(whole_bar(slot, needed, BarOrigin::Virtual, action));
        plan.bars.sort_by_key(|b| b.index);
        Relocation { bar: slot, origin: BarOrigin::Virtual, table_offset: 0, pba_offset }
    } else {
        // No free slot: enlarge the smallest mappable memory BAR (power of two, at least twice
        // its size) and put the virtual table in the new upper part.
        let target = bars
            .iter()
            .filter(|b| b.is_memory() && b.size >= page && b.size.is_power_of_two())
            .min_by_key(|b| b.size)?;
        let old = target.size;
        let new_size = old.checked_add(needed)?.next_power_of_two();
        let bp = plan.bars.iter_mut().find(|b| b.index == target.index)?;
        bp.size = new_size;
        bp.origin = BarOrigin::Extended;
        bp.segments.push(Segment {
            offset: old,
            length: new_size - old,
            action: SegmentAction::Emulate(EmulateKind::VirtualTable),
        });
        Relocation { bar: target.index, origin: BarOrigin::Extended, table_offset: old, pba_offset: old + pba_offset }
    };
    plan.relocation = Some(relocation);
    Some(plan)
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
