//! Byte ranges of a BAR as half-open `(start, end)` pairs, and where the MSI-X structures lie in
//! one BAR: the interval arithmetic the plan, the guest layout and the hot-register windows share.

use crate::facts::MsixCapability;

/// The PCI spec keeps other registers out of the naturally aligned 4 KiB ranges that hold the
/// MSI-X table and PBA; bytes trapped outside those ranges are collateral.
pub const PCI_MSIX_ISOLATION_GRANULE: u64 = 4096;

/// A half-open byte range `[start, end)` of a BAR.
pub(crate) type Range = (u64, u64);

/// `v` rounded down to a multiple of `a`.
pub(crate) fn align_down(v: u64, a: u64) -> u64 {
    v - v % a
}

/// `v` rounded up to a multiple of `a` (saturating).
pub(crate) fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a).saturating_mul(a)
}

/// Whether two ranges share a byte.
pub(crate) fn overlaps(a: Range, b: Range) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Sorts and merges ranges; empty ones vanish.
pub(crate) fn merge(mut ranges: Vec<Range>) -> Vec<Range> {
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

/// The bytes the (disjoint) ranges cover.
pub(crate) fn total(ranges: &[Range]) -> u64 {
    ranges.iter().map(|r| r.1 - r.0).sum()
}

/// The pieces of `span` that no range of `cuts` covers, in order (`cuts` in any order; they may
/// overlap each other or reach outside `span`).
pub(crate) fn subtract(span: Range, cuts: &[Range]) -> Vec<Range> {
    let mut cuts = cuts.to_vec();
    cuts.sort_unstable();
    let (start, end) = span;
    let mut out = Vec::new();
    let mut cursor = start;
    for (s, e) in cuts {
        if s > cursor {
            out.push((cursor, s.min(end)));
        }
        cursor = cursor.max(e);
        if cursor >= end {
            break;
        }
    }
    if cursor < end {
        out.push((cursor, end));
    }
    out.retain(|r| r.0 < r.1);
    out
}

/// The table and PBA ranges that fall in one BAR.
pub(crate) struct MsixInBar {
    /// The table's bytes, when it lies in this BAR.
    pub(crate) table: Option<Range>,
    /// The PBA's bytes, when it lies in this BAR.
    pub(crate) pba: Option<Range>,
}

impl MsixInBar {
    /// Where `cap`'s table and PBA lie in BAR `index`.
    pub(crate) fn of(cap: &MsixCapability, index: u8) -> Self {
        let range = |bir: u8, off: u32, len: u64| (bir == index).then(|| (u64::from(off), u64::from(off) + len));
        MsixInBar {
            table: range(cap.table_bir, cap.table_offset, cap.table_bytes()),
            pba: range(cap.pba_bir, cap.pba_offset, cap.pba_bytes()),
        }
    }
    /// The table's and the PBA's ranges in this BAR.
    pub(crate) fn ranges(&self) -> impl Iterator<Item = Range> + '_ {
        self.table.iter().chain(self.pba.iter()).copied()
    }
    /// The naturally aligned 4 KiB ranges the spec reserves for the table and PBA, clipped to the
    /// BAR: another known register window inside them breaks the spec.
    pub(crate) fn reserved_4k(&self, bar_size: u64) -> Vec<Range> {
        let g = PCI_MSIX_ISOLATION_GRANULE;
        merge(self.ranges().map(|(s, e)| (align_down(s, g), align_up(e, g).min(bar_size))).collect())
    }
    /// The bytes of those 4 KiB ranges that hold no register: from the first MSI-X structure in
    /// each range to the range's end (clipped to the BAR). Where the first structure does not
    /// start its range, the bytes before it are not MSI-X: a device that puts the table at 0x80
    /// after its control registers (or at 0x1200, or its PBA at 0x46068) keeps registers there,
    /// as far as anyone can tell, so trapping them is collateral, never free.
    pub(crate) fn register_free(&self, bar_size: u64) -> Vec<Range> {
        let g = PCI_MSIX_ISOLATION_GRANULE;
        merge(self.ranges().map(|(s, e)| (s.min(bar_size), align_up(e, g).min(bar_size))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtract_keeps_what_no_cut_covers() {
        assert_eq!(subtract((0, 0x4000), &[(0x2000, 0x3000)]), [(0, 0x2000), (0x3000, 0x4000)]);
        assert_eq!(subtract((0x1000, 0x3000), &[(0x2800, 0x5000), (0, 0x1800)]), [(0x1800, 0x2800)]);
        assert_eq!(subtract((0, 0x1000), &[(0, 0x1000)]), []);
        assert_eq!(subtract((0, 0x1000), &[]), [(0, 0x1000)]);
        assert_eq!(subtract((0, 0x1000), &[(0x200, 0x400), (0x300, 0x800)]), [(0, 0x200), (0x800, 0x1000)]);
    }

    #[test]
    fn merge_joins_touching_ranges_and_drops_empty_ones() {
        assert_eq!(merge(vec![(0x1000, 0x2000), (0, 0x1000), (5, 5)]), [(0, 0x2000)]);
        assert_eq!(total(&merge(vec![(0, 10), (5, 20), (30, 40)])), 30);
        assert_eq!((align_down(0x1234, 0x1000), align_up(0x1234, 0x1000)), (0x1000, 0x2000));
        assert!(overlaps((0, 2), (1, 3)) && !overlaps((0, 1), (1, 2)));
    }

    #[test]
    fn msix_structures_of_a_bar_and_their_4k_ranges() {
        let cap = MsixCapability {
            cap_offset: 0x40,
            table_size: 65,
            table_bir: 0,
            table_offset: 0x2080,
            pba_bir: 0,
            pba_offset: 0x3000,
        };
        let m = MsixInBar::of(&cap, 0);
        assert_eq!((m.table, m.pba), (Some((0x2080, 0x2080 + 65 * 16)), Some((0x3000, 0x3010))));
        assert_eq!(m.reserved_4k(0x4000), [(0x2000, 0x4000)]);
        // The 0x80 bytes before the table may be registers: not free.
        assert_eq!(m.register_free(0x4000), [(0x2080, 0x4000)]);
        assert!(MsixInBar::of(&cap, 2).ranges().next().is_none());
    }
}
