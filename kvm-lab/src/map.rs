//! A layout placed in guest physical memory: where each BAR sits, which ranges are memory slots
//! (no exit) and which trap, and which range a guest physical address falls in.

use msix_policy_engine::{BarKind, Layout, TrapRange};

/// Guest physical address of the first BAR; BARs follow at their alignment.
pub const BAR_BASE: u64 = 0x1000_0000;

/// Why a layout cannot be placed in guest physical memory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// A memory slot's offset or mmap length is not a whole number of host pages (a KVM memory
    /// slot is whole pages).
    #[error("BAR{bar}: memory slot at offset {offset:#x} is not host-page aligned ({page:#x})")]
    SlotAlignment {
        /// The BAR's index.
        bar: u8,
        /// The slot's offset in the BAR, in bytes.
        offset: u64,
        /// The host page size, in bytes.
        page: u64,
    },
    /// Placed at their alignment, the BARs would end above 4 GiB.
    #[error("BAR{bar}: the BARs do not fit below 4 GiB")]
    NoRoom {
        /// The index of the first BAR that does not fit.
        bar: u8,
    },
}

/// A memory slot: `len` bytes of the device fd at `region_offset`, at `gpa`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// The BAR's index.
    pub bar: u8,
    /// Offset in the BAR, in bytes (host-page aligned).
    pub offset: u64,
    /// Guest physical address of the slot's first byte.
    pub gpa: u64,
    /// Length in bytes: the mmap length, whole host pages.
    pub len: u64,
    /// Offset in the VFIO device fd to mmap (the BAR's region offset plus `offset`).
    pub region_offset: u64,
}

/// A trapped range at `gpa`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trap {
    /// The BAR's index.
    pub bar: u8,
    /// Guest physical address of the range's first byte.
    pub gpa: u64,
    /// The layout's range: offset in the BAR, length, contents and handler.
    pub range: TrapRange,
}

/// Where an address landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// Inside memory slot `i`: the guest reaches the device without the VMM.
    Slot(usize),
    /// Inside trapped range `i`.
    Trap(usize),
}

/// One placed memory BAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacedBar {
    /// The BAR's index.
    pub index: u8,
    /// Guest physical address of the BAR, aligned to its size and alignment, at least a host page.
    pub gpa: u64,
    /// The BAR's size in bytes, as the layout gives it.
    pub size: u64,
}

/// A layout in guest physical memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestMap {
    /// The layout's host page size, in bytes.
    pub page_size: u64,
    /// The memory BARs, in the layout's order (I/O BARs are not placed).
    pub bars: Vec<PlacedBar>,
    /// Every memory slot: accesses there reach the device without an exit.
    pub slots: Vec<Slot>,
    /// Every trapped range: accesses there exit to the VMM (KVM_EXIT_MMIO).
    pub traps: Vec<Trap>,
}

impl GuestMap {
    /// Places every memory BAR of `layout` from [`BAR_BASE`] up, each at its alignment (at least
    /// a host page, so that memory slots are whole host pages). I/O BARs are not placed: the
    /// guest program touches memory BARs only.
    pub fn new(layout: &Layout) -> Result<Self, MapError> {
        let page = layout.page_size;
        let mut next = BAR_BASE;
        let mut map = GuestMap { page_size: page, bars: Vec::new(), slots: Vec::new(), traps: Vec::new() };
        for b in layout.bars.iter().filter(|b| b.kind != BarKind::Io) {
            let align = b.alignment.max(b.size).max(page);
            let gpa = next.div_ceil(align) * align;
            let span = b.size.max(b.mmap.iter().map(|m| m.offset + m.mmap_length).max().unwrap_or(0));
            next = gpa.checked_add(span).filter(|e| *e <= 1 << 32).ok_or(MapError::NoRoom { bar: b.index })?;
            map.bars.push(PlacedBar { index: b.index, gpa, size: b.size });
            for m in &b.mmap {
                if m.offset % page != 0 || m.mmap_length % page != 0 {
                    return Err(MapError::SlotAlignment { bar: b.index, offset: m.offset, page });
                }
                map.slots.push(Slot {
                    bar: b.index,
                    offset: m.offset,
                    gpa: gpa + m.offset,
                    len: m.mmap_length,
                    region_offset: m.region_offset,
                });
            }
            for t in &b.trap {
                map.traps.push(Trap { bar: b.index, gpa: gpa + t.offset, range: *t });
            }
        }
        Ok(map)
    }

    /// The guest physical address of `offset` in BAR `bar`.
    pub fn gpa(&self, bar: u8, offset: u64) -> Option<u64> {
        self.bars.iter().find(|b| b.index == bar).map(|b| b.gpa + offset)
    }

    /// The BAR and offset of a guest physical address.
    pub fn bar_offset(&self, gpa: u64) -> Option<(u8, u64)> {
        self.bars
            .iter()
            .find(|b| gpa >= b.gpa && gpa - b.gpa < b.size.max(self.page_size))
            .map(|b| (b.index, gpa - b.gpa))
    }

    /// Which slot or trapped range holds `gpa` (access of `len` bytes starting there).
    pub fn lookup(&self, gpa: u64) -> Option<Hit> {
        if let Some(i) = self.slots.iter().position(|s| gpa >= s.gpa && gpa - s.gpa < s.len) {
            return Some(Hit::Slot(i));
        }
        self.traps.iter().position(|t| gpa >= t.gpa && gpa - t.gpa < t.range.length).map(Hit::Trap)
    }

    /// One past the highest guest physical address a BAR uses.
    pub fn end(&self) -> u64 {
        self.bars.iter().map(|b| b.gpa + b.size.max(self.page_size)).max().unwrap_or(BAR_BASE)
    }
}
