//! `VFIO_DEVICE_GET_REGION_INFO` answers, parsed from the bytes the kernel returns into the
//! engine's [`VfioRegion`]: the fixed `struct vfio_region_info` and its capability chain (sparse
//! mmap areas, MSI-X mappable). Offsets and sizes come from vfio-bindings' structs.

use std::mem::{offset_of, size_of};

use msix_policy_engine::{MmapArea, VfioRegion};
use vfio_bindings::bindings::vfio::{
    vfio_info_cap_header, vfio_region_info, vfio_region_info_cap_sparse_mmap, vfio_region_sparse_mmap_area,
    VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, VFIO_REGION_INFO_CAP_SPARSE_MMAP, VFIO_REGION_INFO_FLAG_CAPS,
};

/// `sizeof(struct vfio_region_info)`: argsz, flags, index, cap_offset (u32), size, offset (u64).
pub const REGION_INFO_LEN: usize = size_of::<vfio_region_info>();
/// Where the first sparse area starts in `struct vfio_region_info_cap_sparse_mmap`.
const SPARSE_AREAS_AT: usize = offset_of!(vfio_region_info_cap_sparse_mmap, areas);
const SPARSE_AREA_LEN: usize = size_of::<vfio_region_sparse_mmap_area>();
/// A chain longer than this loops or is garbage; the kernel reports at most a handful.
const MAX_CAPS: usize = 16;

/// Why a region info answer cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    /// The answer is shorter than the fixed struct, or than the `argsz` it asked for.
    #[error("region info is {0} bytes, shorter than struct vfio_region_info")]
    Short(usize),
    /// A capability of the chain is malformed.
    #[error("capability at {offset:#x}: {why}")]
    Bad {
        /// Where the capability starts in the answer.
        offset: usize,
        /// What is wrong with it.
        why: &'static str,
    },
}

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

/// Whether the kernel lets userspace mmap `[offset, offset + len)` of `region`: the MMAP flag is
/// set, the range lies inside the region and, when the kernel gave sparse mmap areas, inside one.
pub fn allows_mmap(region: &VfioRegion, offset: u64, len: u64) -> bool {
    if !region.mmap_flag() || offset.checked_add(len).is_none_or(|e| e > region.size) {
        return false;
    }
    match &region.sparse_mmap {
        None => true,
        Some(areas) => areas.iter().any(|a| a.offset <= offset && offset + len <= a.offset.saturating_add(a.size)),
    }
}

/// The offset of `region` in the device fd, as the kernel gave it (0 when it was not given).
pub fn fd_offset(region: &VfioRegion) -> u64 {
    region.offset.unwrap_or_default()
}

/// Parses a region info buffer (native endian, as the kernel wrote it). The region carries the
/// kernel's `argsz`, its offset in the device fd, and the capability ids in chain order.
pub fn parse_region_info(b: &[u8]) -> Result<VfioRegion, CapError> {
    let short = || CapError::Short(b.len());
    let field32 = |at: usize| u32_at(b, at).ok_or_else(short);
    let field64 = |at: usize| u64_at(b, at).ok_or_else(short);
    let argsz = field32(offset_of!(vfio_region_info, argsz))?;
    let flags = field32(offset_of!(vfio_region_info, flags))?;
    let index = field32(offset_of!(vfio_region_info, index))?;
    let cap_offset = field32(offset_of!(vfio_region_info, cap_offset))? as usize;
    let size = field64(offset_of!(vfio_region_info, size))?;
    let offset = field64(offset_of!(vfio_region_info, offset))?;
    let mut info = VfioRegion::new(index, size, flags).at(offset);
    info.argsz = argsz;
    if flags & VFIO_REGION_INFO_FLAG_CAPS == 0 || cap_offset == 0 {
        return Ok(info);
    }
    let mut at = cap_offset;
    while at != 0 {
        if at < REGION_INFO_LEN || at % 4 != 0 {
            return Err(CapError::Bad { offset: at, why: "points into the fixed header or is misaligned" });
        }
        if info.caps.len() >= MAX_CAPS {
            return Err(CapError::Bad { offset: at, why: "chain too long (a loop?)" });
        }
        let (Some(id), Some(next)) = (
            u16_at(b, at + offset_of!(vfio_info_cap_header, id)),
            u32_at(b, at + offset_of!(vfio_info_cap_header, next)),
        ) else {
            return Err(CapError::Bad { offset: at, why: "header past the end of the buffer" });
        };
        info.caps.push(id);
        match u32::from(id) {
            VFIO_REGION_INFO_CAP_SPARSE_MMAP => {
                let nr = u32_at(b, at + offset_of!(vfio_region_info_cap_sparse_mmap, nr_areas))
                    .ok_or(CapError::Bad { offset: at, why: "sparse mmap truncated" })?;
                let mut areas = Vec::new();
                for i in 0..nr as usize {
                    let o = at + SPARSE_AREAS_AT + i * SPARSE_AREA_LEN;
                    let (Some(offset), Some(size)) = (
                        u64_at(b, o + offset_of!(vfio_region_sparse_mmap_area, offset)),
                        u64_at(b, o + offset_of!(vfio_region_sparse_mmap_area, size)),
                    ) else {
                        return Err(CapError::Bad { offset: at, why: "sparse mmap area past the end of the buffer" });
                    };
                    areas.push(MmapArea { offset, size });
                }
                info.sparse_mmap = Some(areas);
            }
            VFIO_REGION_INFO_CAP_MSIX_MAPPABLE => info.msix_mappable = true,
            _ => {}
        }
        let next = next as usize;
        if next != 0 && next <= at {
            return Err(CapError::Bad { offset: at, why: "next points backwards (a loop)" });
        }
        at = next;
    }
    Ok(info)
}

/// Builds region info bytes as the kernel would return them, for mocks and fuzzing: the fixed
/// struct, then a sparse mmap capability when `info` has areas and an MSI-X mappable one when it
/// says so. `argsz` and `caps` of `info` are ignored (the encoding sets them).
pub fn encode_region_info(info: &VfioRegion) -> Vec<u8> {
    let header = |id: u32| {
        let mut c = Vec::new();
        c.extend_from_slice(&(id as u16).to_ne_bytes());
        c.extend_from_slice(&1u16.to_ne_bytes()); // version
        c.extend_from_slice(&0u32.to_ne_bytes()); // next, set below
        c
    };
    let mut caps: Vec<Vec<u8>> = Vec::new();
    if let Some(areas) = &info.sparse_mmap {
        let mut c = header(VFIO_REGION_INFO_CAP_SPARSE_MMAP);
        c.extend_from_slice(&(areas.len() as u32).to_ne_bytes());
        c.extend_from_slice(&0u32.to_ne_bytes()); // reserved
        for a in areas {
            c.extend_from_slice(&a.offset.to_ne_bytes());
            c.extend_from_slice(&a.size.to_ne_bytes());
        }
        caps.push(c);
    }
    if info.msix_mappable {
        caps.push(header(VFIO_REGION_INFO_CAP_MSIX_MAPPABLE));
    }
    let total = REGION_INFO_LEN + caps.iter().map(Vec::len).sum::<usize>();
    let mut b = Vec::with_capacity(total);
    let flags = info.flags | if caps.is_empty() { 0 } else { VFIO_REGION_INFO_FLAG_CAPS };
    b.extend_from_slice(&(total as u32).to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&info.index.to_ne_bytes());
    b.extend_from_slice(&(if caps.is_empty() { 0u32 } else { REGION_INFO_LEN as u32 }).to_ne_bytes());
    b.extend_from_slice(&info.size.to_ne_bytes());
    b.extend_from_slice(&fd_offset(info).to_ne_bytes());
    let mut at = REGION_INFO_LEN;
    let n = caps.len();
    let next_at = offset_of!(vfio_info_cap_header, next);
    for (i, mut c) in caps.into_iter().enumerate() {
        let next = if i + 1 < n { (at + c.len()) as u32 } else { 0 };
        c[next_at..next_at + 4].copy_from_slice(&next.to_ne_bytes());
        at += c.len();
        b.extend_from_slice(&c);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use vfio_bindings::bindings::vfio::{
        VFIO_REGION_INFO_FLAG_MMAP, VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE,
    };

    fn bar0() -> VfioRegion {
        let flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP;
        VfioRegion::new(0, 0x4000, flags).at(0)
    }

    #[test]
    fn the_layout_is_the_uapis() {
        assert_eq!(
            (REGION_INFO_LEN, size_of::<vfio_info_cap_header>(), SPARSE_AREAS_AT, SPARSE_AREA_LEN),
            (32, 8, 16, 16)
        );
    }

    #[test]
    fn round_trips_sparse_and_msix_mappable() {
        let info = bar0().sparse(vec![MmapArea { offset: 0, size: 0x2000 }]).msix_mappable(true);
        let b = encode_region_info(&info);
        let p = parse_region_info(&b).unwrap();
        assert_eq!(p.sparse_mmap, Some(vec![MmapArea { offset: 0, size: 0x2000 }]));
        assert!(p.msix_mappable);
        assert_eq!(p.caps, vec![1, 3]);
        assert_eq!(p.argsz as usize, b.len());
        assert_eq!(p.offset, Some(0));
        assert!(allows_mmap(&p, 0, 0x1000) && !allows_mmap(&p, 0x2000, 0x1000) && !allows_mmap(&p, 0x3000, 0x2000));
    }

    #[test]
    fn hostile_chains_are_errors_not_panics() {
        let info = bar0().msix_mappable(true);
        let mut b = encode_region_info(&info);
        // next pointing at itself
        let at = REGION_INFO_LEN;
        b[at + 4..at + 8].copy_from_slice(&(at as u32).to_ne_bytes());
        assert!(parse_region_info(&b).is_err());
        // cap_offset into the header
        let mut c = encode_region_info(&info);
        c[12..16].copy_from_slice(&8u32.to_ne_bytes());
        assert!(parse_region_info(&c).is_err());
        // sparse area count larger than the buffer
        let s = bar0().sparse(vec![MmapArea { offset: 0, size: 0x1000 }]);
        let mut d = encode_region_info(&s);
        d[REGION_INFO_LEN + 8..REGION_INFO_LEN + 12].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(parse_region_info(&d).is_err());
        for n in 0..d.len() {
            let _ = parse_region_info(&d[..n]);
        }
    }
}
