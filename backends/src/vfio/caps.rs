//! `VFIO_DEVICE_GET_REGION_INFO` answers, parsed from the bytes the kernel returns: the fixed
//! `vfio_region_info` and its capability chain (sparse mmap areas, MSI-X mappable).

use vfio_bindings::bindings::vfio::{
    VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, VFIO_REGION_INFO_CAP_SPARSE_MMAP, VFIO_REGION_INFO_FLAG_CAPS,
    VFIO_REGION_INFO_FLAG_MMAP,
};

/// `sizeof(struct vfio_region_info)`: argsz, flags, index, cap_offset (u32), size, offset (u64).
pub const REGION_INFO_LEN: usize = 32;
const CAP_HEADER_LEN: usize = 8;
/// A chain longer than this loops or is garbage; the kernel reports at most a handful.
const MAX_CAPS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    #[error("region info is {0} bytes, shorter than struct vfio_region_info")]
    Short(usize),
    #[error("capability at {offset:#x}: {why}")]
    Bad { offset: usize, why: &'static str },
}

/// One region as the kernel describes it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RegionInfo {
    pub index: u32,
    pub flags: u32,
    pub size: u64,
    /// Offset of the region in the device fd (for mmap and pread).
    pub offset: u64,
    /// `argsz` the kernel asked for (larger than ours when capabilities follow).
    pub argsz: u32,
    /// Sparse mmap areas (offset, size) when the kernel restricts mmap to them.
    pub sparse: Option<Vec<(u64, u64)>>,
    /// `VFIO_REGION_INFO_CAP_MSIX_MAPPABLE` is present: the MSI-X table pages may be mmapped.
    pub msix_mappable: bool,
    /// Capability ids seen, in chain order.
    pub caps: Vec<u16>,
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

impl RegionInfo {
    pub fn mmappable(&self) -> bool {
        self.flags & VFIO_REGION_INFO_FLAG_MMAP != 0
    }

    /// Whether the kernel lets userspace mmap `[offset, offset + len)` of this region.
    pub fn allows_mmap(&self, offset: u64, len: u64) -> bool {
        if !self.mmappable() || offset.checked_add(len).is_none_or(|e| e > self.size) {
            return false;
        }
        match &self.sparse {
            None => true,
            Some(areas) => areas.iter().any(|&(o, s)| o <= offset && offset + len <= o.saturating_add(s)),
        }
    }
}

/// Parses a region info buffer (native endian, as the kernel wrote it).
pub fn parse_region_info(b: &[u8]) -> Result<RegionInfo, CapError> {
    let short = || CapError::Short(b.len());
    let mut info = RegionInfo {
        argsz: u32_at(b, 0).ok_or_else(short)?,
        flags: u32_at(b, 4).ok_or_else(short)?,
        index: u32_at(b, 8).ok_or_else(short)?,
        size: u64_at(b, 16).ok_or_else(short)?,
        offset: u64_at(b, 24).ok_or_else(short)?,
        ..Default::default()
    };
    let cap_offset = u32_at(b, 12).ok_or_else(short)? as usize;
    if info.flags & VFIO_REGION_INFO_FLAG_CAPS == 0 || cap_offset == 0 {
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
        let (Some(id), Some(next)) = (u16_at(b, at), u32_at(b, at + 4)) else {
            return Err(CapError::Bad { offset: at, why: "header past the end of the buffer" });
        };
        info.caps.push(id);
        match u32::from(id) {
            VFIO_REGION_INFO_CAP_SPARSE_MMAP => {
                let nr =
                    u32_at(b, at + CAP_HEADER_LEN).ok_or(CapError::Bad { offset: at, why: "sparse mmap truncated" })?;
                let mut areas = Vec::new();
                for i in 0..nr as usize {
                    let o = at + CAP_HEADER_LEN + 8 + i * 16;
                    let (Some(off), Some(size)) = (u64_at(b, o), u64_at(b, o + 8)) else {
                        return Err(CapError::Bad { offset: at, why: "sparse mmap area past the end of the buffer" });
                    };
                    areas.push((off, size));
                }
                info.sparse = Some(areas);
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

/// Builds region info bytes as the kernel would return them (for tests and mocks).
pub fn encode_region_info(info: &RegionInfo) -> Vec<u8> {
    let mut caps: Vec<Vec<u8>> = Vec::new();
    if let Some(areas) = &info.sparse {
        let mut c = Vec::new();
        c.extend_from_slice(&(VFIO_REGION_INFO_CAP_SPARSE_MMAP as u16).to_ne_bytes());
        c.extend_from_slice(&1u16.to_ne_bytes());
        c.extend_from_slice(&0u32.to_ne_bytes());
        c.extend_from_slice(&(areas.len() as u32).to_ne_bytes());
        c.extend_from_slice(&0u32.to_ne_bytes());
        for (o, s) in areas {
            c.extend_from_slice(&o.to_ne_bytes());
            c.extend_from_slice(&s.to_ne_bytes());
        }
        caps.push(c);
    }
    if info.msix_mappable {
        let mut c = Vec::new();
        c.extend_from_slice(&(VFIO_REGION_INFO_CAP_MSIX_MAPPABLE as u16).to_ne_bytes());
        c.extend_from_slice(&1u16.to_ne_bytes());
        c.extend_from_slice(&0u32.to_ne_bytes());
        caps.push(c);
    }
    let total = REGION_INFO_LEN + caps.iter().map(Vec::len).sum::<usize>();
    let mut b = Vec::with_capacity(total);
    let flags = info.flags | if caps.is_empty() { 0 } else { VFIO_REGION_INFO_FLAG_CAPS };
    b.extend_from_slice(&(total as u32).to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&info.index.to_ne_bytes());
    b.extend_from_slice(&(if caps.is_empty() { 0u32 } else { REGION_INFO_LEN as u32 }).to_ne_bytes());
    b.extend_from_slice(&info.size.to_ne_bytes());
    b.extend_from_slice(&info.offset.to_ne_bytes());
    let mut at = REGION_INFO_LEN;
    let n = caps.len();
    for (i, mut c) in caps.into_iter().enumerate() {
        let next = if i + 1 < n { (at + c.len()) as u32 } else { 0 };
        c[4..8].copy_from_slice(&next.to_ne_bytes());
        at += c.len();
        b.extend_from_slice(&c);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use vfio_bindings::bindings::vfio::{VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE};

    fn bar0() -> RegionInfo {
        RegionInfo {
            index: 0,
            flags: VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP,
            size: 0x4000,
            offset: 0,
            ..Default::default()
        }
    }

    #[test]
    fn round_trips_sparse_and_msix_mappable() {
        let mut info = bar0();
        info.sparse = Some(vec![(0, 0x2000)]);
        info.msix_mappable = true;
        let b = encode_region_info(&info);
        let p = parse_region_info(&b).unwrap();
        assert_eq!(p.sparse, Some(vec![(0, 0x2000)]));
        assert!(p.msix_mappable);
        assert_eq!(p.caps, vec![1, 3]);
        assert_eq!(p.argsz as usize, b.len());
        assert!(p.allows_mmap(0, 0x1000) && !p.allows_mmap(0x2000, 0x1000) && !p.allows_mmap(0x3000, 0x2000));
    }

    #[test]
    fn hostile_chains_are_errors_not_panics() {
        let mut info = bar0();
        info.msix_mappable = true;
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
        let mut s = bar0();
        s.sparse = Some(vec![(0, 0x1000)]);
        let mut d = encode_region_info(&s);
        d[REGION_INFO_LEN + 8..REGION_INFO_LEN + 12].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(parse_region_info(&d).is_err());
        for n in 0..d.len() {
            let _ = parse_region_info(&d[..n]);
        }
    }
}
