//! What the guest does on one layout, and what the layout predicts it costs.
//!
//! The accesses: one read in every 4 KiB of every memory BAR (the page sweep); `iterations` reads
//! of the first register of the device's first memory BAR (the NVMe CAP register); `iterations`
//! reads of each of the first two doorbells of every hot window (NVMe SQ0 tail, CQ0 head); a write
//! of every dword of the first MSI-X entries where the guest sees the table (masked, so nothing
//! fires), then a read of each back. Every access has its own (address, direction), so the VMM can
//! tell which access an exit belongs to.

use msix_policy_engine::{HotWindow, Layout, TrapContents};
use serde::Serialize;

use crate::guest::{Entry, OP_END, OP_READ, OP_WRITE};
use crate::map::GuestMap;

/// The kinds of access, reported separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// One read per 4 KiB of every BAR.
    PageSweep,
    /// The first register of the first memory BAR, again and again (NVMe CAP).
    Register,
    /// Hot-window registers (NVMe doorbells), again and again.
    Doorbell,
    /// MSI-X table writes (the guest programming vectors).
    TableWrite,
    /// Reading the table entries back.
    TableRead,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 5] =
        [Class::PageSweep, Class::Register, Class::Doorbell, Class::TableWrite, Class::TableRead];
    /// The kebab-case name, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::PageSweep => "page-sweep",
            Class::Register => "register",
            Class::Doorbell => "doorbell",
            Class::TableWrite => "table-write",
            Class::TableRead => "table-read",
        }
    }
}

/// One guest access, repeated `count` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Access {
    /// The kind of access, for the report.
    pub class: Class,
    /// The BAR's index.
    pub bar: u8,
    /// Offset in the BAR as the guest sees it, in bytes.
    pub offset: u64,
    /// A write (else a read); 4 bytes either way.
    pub write: bool,
    /// What a write writes (0 for a read).
    pub value: u32,
    /// Times the access repeats: `iterations` for registers and doorbells, else 1.
    pub count: u64,
}

/// MSI-X entries the guest programs.
pub const TABLE_ENTRIES: u16 = 4;

/// Why the accesses, their prediction or the script could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// The access's BAR is not in the layout or not placed in guest memory.
    #[error("BAR{bar} offset {offset:#x} is not placed in guest memory")]
    Unplaced {
        /// The BAR's index.
        bar: u8,
        /// Offset in the BAR, in bytes.
        offset: u64,
    },
    /// The layout neither maps nor traps the access's byte: it cannot say how many exits to expect.
    #[error("BAR{bar} offset {offset:#x} is neither a memory slot nor a trapped range of the layout")]
    Unbacked {
        /// The BAR's index.
        bar: u8,
        /// Offset in the BAR, in bytes.
        offset: u64,
    },
    /// `iterations` was 0.
    #[error("iterations must be at least 1")]
    NoIterations,
}

/// The accesses for `layout` (whose guest sees the MSI-X table where `layout.msix` says).
pub fn build(layout: &Layout, hot: &[HotWindow], iterations: u64) -> Result<Vec<Access>, ScriptError> {
    if iterations == 0 {
        return Err(ScriptError::NoIterations);
    }
    let mut fixed = Vec::new();
    let memory: Vec<_> = layout.bars.iter().filter(|b| b.kind != msix_policy_engine::BarKind::Io).collect();
    if let Some(first) = memory.iter().find(|b| b.origin != msix_policy_engine::BarOrigin::Virtual) {
        let a =
            Access { class: Class::Register, bar: first.index, offset: 0, write: false, value: 0, count: iterations };
        fixed.push(a);
    }
    for h in hot {
        for k in 0..2u64.min(h.length / 4) {
            let offset = h.offset + 4 * k;
            fixed.push(Access {
                class: Class::Doorbell,
                bar: h.bar,
                offset,
                write: false,
                value: 0,
                count: iterations,
            });
        }
    }
    let mut table = Vec::new();
    if let Some(m) = &layout.msix {
        let n = m.table_size.min(TABLE_ENTRIES);
        for e in 0..u64::from(n) {
            let words = [0xfee0_0000 + (e as u32) * 0x10, 0, 0x4000 + e as u32, 1]; // address lo/hi, data, masked
            for (w, value) in words.into_iter().enumerate() {
                let offset = u64::from(m.table_offset) + e * 16 + 4 * w as u64;
                table.push(Access { class: Class::TableWrite, bar: m.table_bir, offset, write: true, value, count: 1 });
            }
        }
        let reads: Vec<_> =
            table.iter().map(|a| Access { class: Class::TableRead, write: false, value: 0, ..*a }).collect();
        table.extend(reads);
    }
    // One read per 4 KiB, at an offset no other access uses.
    let mut sweep = Vec::new();
    for b in &memory {
        let mut page = 0;
        while page < b.size {
            let taken = |o: u64| fixed.iter().chain(&table).any(|a| a.bar == b.index && a.offset == o);
            let offset = [0x100u64, 0x200, 0x300, 0x400, 0x800, 0]
                .into_iter()
                .map(|o| page + o)
                .find(|&o| o + 4 <= b.size && !taken(o))
                .unwrap_or(page);
            sweep.push(Access { class: Class::PageSweep, bar: b.index, offset, write: false, value: 0, count: 1 });
            page += 4096;
        }
    }
    Ok(sweep.into_iter().chain(fixed).chain(table).collect())
}

/// Exits the layout predicts for each access: `count` when its byte lies in a trapped range,
/// none when it lies in a memory slot (computed from the layout's ranges, not from the map).
pub fn predict(layout: &Layout, accesses: &[Access]) -> Result<Vec<u64>, ScriptError> {
    accesses
        .iter()
        .map(|a| {
            let bar = layout.bar(a.bar).ok_or(ScriptError::Unplaced { bar: a.bar, offset: a.offset })?;
            let o = a.offset;
            if bar.mmap.iter().any(|m| o >= m.offset && o < m.offset + m.mmap_length) {
                Ok(0)
            } else if bar.trap.iter().any(|t| o >= t.offset && o < t.offset + t.length) {
                Ok(a.count)
            } else {
                Err(ScriptError::Unbacked { bar: a.bar, offset: o })
            }
        })
        .collect()
}

/// What the layout says an access hits, for the report.
pub fn holds(layout: &Layout, a: &Access) -> Option<TrapContents> {
    layout.bar(a.bar)?.trap.iter().find(|t| a.offset >= t.offset && a.offset < t.offset + t.length).map(|t| t.holds)
}

/// The script in guest memory: the entries, ending at the stop port.
pub fn entries(map: &GuestMap, accesses: &[Access], stop_port: u64) -> Result<Vec<Entry>, ScriptError> {
    let mut out = Vec::with_capacity(accesses.len() + 1);
    for a in accesses {
        let addr = map.gpa(a.bar, a.offset).ok_or(ScriptError::Unplaced { bar: a.bar, offset: a.offset })?;
        let op = if a.write { OP_WRITE } else { OP_READ };
        out.push(Entry { op, addr, value: u64::from(a.value), count: a.count });
    }
    out.push(Entry { op: OP_END, addr: stop_port, value: 0, count: 1 });
    Ok(out)
}
