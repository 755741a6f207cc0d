//! sysfs `resource`: one line per region, `start end flags` in hex; lines 0-5 are the BARs.

use msix_policy_engine::{Bar, BarKind};

const IORESOURCE_IO: u64 = 0x100;
const IORESOURCE_MEM: u64 = 0x200;
const IORESOURCE_PREFETCH: u64 = 0x2000;
const IORESOURCE_MEM_64: u64 = 0x0010_0000;

/// Why a `resource` file's BAR lines cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    /// A line is not three hex numbers, or its size overflows.
    #[error("line {line}: expected `start end flags` in hex, found {found:?}")]
    Malformed {
        /// The line's index, from 0 (the BAR number).
        line: usize,
        /// The line as read, at most 80 characters.
        found: String,
    },
    /// A line's end address is below its start.
    #[error("line {line}: end {end:#x} is below start {start:#x}")]
    Inverted {
        /// The line's index, from 0 (the BAR number).
        line: usize,
        /// The first address of the region.
        start: u64,
        /// The last address of the region (inclusive).
        end: u64,
    },
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x").unwrap_or(s), 16).ok()
}

/// Parses the BAR lines. Unassigned BARs (all zero) and the upper halves of 64-bit BARs are
/// left out; a malformed line fails the whole file, since a wrong BAR size would mislead the plan.
pub fn parse(text: &str) -> Result<Vec<Bar>, ResourceError> {
    let mut bars = Vec::new();
    for (i, line) in text.lines().take(6).enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let malformed = || ResourceError::Malformed { line: i, found: line.chars().take(80).collect() };
        let [s, e, fl] = f.as_slice() else { return Err(malformed()) };
        let (Some(start), Some(end), Some(flags)) = (hex(s), hex(e), hex(fl)) else { return Err(malformed()) };
        if start == 0 && end == 0 {
            continue;
        }
        if end < start {
            return Err(ResourceError::Inverted { line: i, start, end });
        }
        let kind = if flags & IORESOURCE_IO != 0 {
            BarKind::Io
        } else if flags & IORESOURCE_MEM != 0 {
            if flags & IORESOURCE_MEM_64 != 0 {
                BarKind::Memory64
            } else {
                BarKind::Memory32
            }
        } else {
            continue;
        };
        let Some(size) = (end - start).checked_add(1) else { return Err(malformed()) };
        bars.push(Bar { index: i as u8, kind, prefetchable: flags & IORESOURCE_PREFETCH != 0, start, size });
    }
    Ok(bars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qemu_virtio_net() {
        let text = "0x000000000000c040 0x000000000000c05f 0x0000000000040101\n\
                    0x00000000febd1000 0x00000000febd1fff 0x0000000000040200\n\
                    0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
                    0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
                    0x00000000fe000000 0x00000000fe003fff 0x000000000014220c\n\
                    0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
                    0x00000000feb80000 0x00000000febbffff 0x0000000000046200\n";
        let bars = parse(text).unwrap();
        assert_eq!(bars.len(), 3);
        assert_eq!((bars[0].index, bars[0].kind, bars[0].size), (0, BarKind::Io, 0x20));
        assert_eq!((bars[1].index, bars[1].kind, bars[1].size), (1, BarKind::Memory32, 0x1000));
        assert_eq!(
            (bars[2].index, bars[2].kind, bars[2].size, bars[2].prefetchable),
            (4, BarKind::Memory64, 0x4000, true)
        );
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(parse("0x1 zz 0x200\n").is_err());
        assert!(parse("0x1000 0x0fff 0x200\n").is_err());
        assert!(parse("0x0 0xffffffffffffffff 0x200\n").is_err());
        assert_eq!(parse("").unwrap(), vec![]);
    }
}
