//! PCI configuration space: header, capability list (bounded, loop-safe), MSI-X and the virtio
//! vendor capabilities that locate the notify window.

use crate::facts::{BarKind, HeaderKind, HotWindow, MsixCapability, MsixFacts};
use crate::rules::RuleId;

/// Capability id of a vendor-specific capability (virtio's structures are vendor capabilities).
pub const CAP_ID_VENDOR: u8 = 0x09;
/// Capability id of MSI-X (PCI 3.0, 6.8.2).
pub const CAP_ID_MSIX: u8 = 0x11;
/// The vendor id of virtio devices: only their vendor capabilities are decoded as virtio.
pub const VIRTIO_VENDOR_ID: u16 = 0x1af4;
/// virtio_pci_cap.cfg_type of the notify structure (virtio 1.x, 4.1.4.4).
pub const VIRTIO_PCI_CAP_NOTIFY_CFG: u8 = 2;
/// What an unprivileged read of sysfs `config` returns.
pub const UNPRIVILEGED_CONFIG_BYTES: usize = 64;
/// A capability list longer than this loops or is garbage: 192 bytes / 4 bytes per capability.
const MAX_CAPABILITIES: usize = 48;

/// One entry of the standard capability list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capability {
    /// Capability id (`0x11` MSI-X, `0x09` vendor, ...).
    pub id: u8,
    /// Offset of the capability in config space.
    pub offset: u16,
}

/// How far the capability list could be walked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapListState {
    /// Walked to its end.
    Complete,
    /// Status says the function has no capability list.
    NoList,
    /// The bytes that hold it were not readable (short `config`).
    Unreadable(String),
    /// It loops, points into the header or past the end.
    Broken(String),
}

/// A virtio_pci_cap (virtio 1.x, 4.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtioCap {
    /// Which structure (`VIRTIO_PCI_CAP_NOTIFY_CFG` for the notify window).
    pub cfg_type: u8,
    /// The BAR that holds the structure.
    pub bar: u8,
    /// Offset of the structure in that BAR.
    pub offset: u32,
    /// Length of the structure in bytes.
    pub length: u32,
}

/// Everything decoded from a config space image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedConfig {
    /// Bytes in the image (64 means an unprivileged read).
    pub len: usize,
    /// Vendor id (0x00), when the image holds it.
    pub vendor: Option<u16>,
    /// Device id (0x02), when the image holds it.
    pub device: Option<u16>,
    /// Class code (0x09-0x0b: class, subclass, prog-if), when the image holds it.
    pub class: Option<u32>,
    /// Header layout (0x0e): vfio-pci assigns endpoints only.
    pub header: HeaderKind,
    /// The capabilities walked, in list order.
    pub capabilities: Vec<Capability>,
    /// How far the list could be walked.
    pub cap_state: CapListState,
    /// The MSI-X capability: present, absent, or unknown with the rule that says why.
    pub msix: MsixFacts,
    /// virtio vendor capabilities (virtio devices only), which locate the notify window.
    pub virtio: Vec<VirtioCap>,
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

impl ParsedConfig {
    /// Decodes a config space image `b` of any length; never panics.
    pub fn parse(b: &[u8]) -> ParsedConfig {
        let header = match b.get(0x0e).map(|h| h & 0x7f) {
            Some(0) => HeaderKind::Endpoint,
            Some(1) => HeaderKind::Bridge,
            Some(2) => HeaderKind::CardBus,
            _ => HeaderKind::Unknown,
        };
        let class = u32_at(b, 0x08).map(|v| v >> 8);
        let mut out = ParsedConfig {
            len: b.len(),
            vendor: u16_at(b, 0x00),
            device: u16_at(b, 0x02),
            class,
            header,
            capabilities: Vec::new(),
            cap_state: CapListState::Complete,
            msix: MsixFacts::Absent,
            virtio: Vec::new(),
        };
        out.cap_state = walk_capabilities(b, header, &mut out.capabilities);
        let msix_cap = out.capabilities.iter().find(|c| c.id == CAP_ID_MSIX).copied();
        out.msix = match (msix_cap, &out.cap_state) {
            (Some(c), _) => match decode_msix(b, c.offset) {
                Some(cap) => MsixFacts::Present { capability: cap },
                None => MsixFacts::Unknown {
                    rule: RuleId::DEVICE_CONFIG_UNREADABLE,
                    why: format!("the MSI-X capability at {:#x} runs past the {} bytes read", c.offset, b.len()),
                },
            },
            (None, CapListState::Complete | CapListState::NoList) => MsixFacts::Absent,
            (None, CapListState::Unreadable(why)) => {
                MsixFacts::Unknown { rule: RuleId::DEVICE_CONFIG_UNREADABLE, why: why.clone() }
            }
            (None, CapListState::Broken(why)) => {
                MsixFacts::Unknown { rule: RuleId::DEVICE_CAPS_BROKEN, why: why.clone() }
            }
        };
        if out.vendor == Some(VIRTIO_VENDOR_ID) {
            out.virtio = out
                .capabilities
                .iter()
                .filter(|c| c.id == CAP_ID_VENDOR)
                .filter_map(|c| decode_virtio(b, usize::from(c.offset)))
                .collect();
        }
        out
    }

    /// Names of the capabilities, for evidence lines.
    pub fn describe(&self) -> String {
        let mut caps: Vec<String> = self
            .capabilities
            .iter()
            .map(|c| {
                let name = match c.id {
                    0x01 => "PM",
                    0x05 => "MSI",
                    0x09 => "vendor",
                    0x10 => "PCIe",
                    0x11 => "MSI-X",
                    0x0d => "bridge-subsystem",
                    _ => "other",
                };
                format!("{:#04x} {name}", c.offset)
            })
            .collect();
        match &self.cap_state {
            CapListState::Complete => {}
            CapListState::NoList => caps.push("no capability list".into()),
            CapListState::Unreadable(w) | CapListState::Broken(w) => caps.push(w.clone()),
        }
        format!("{} bytes; {:?}; capabilities: {}", self.len, self.header, caps.join(", "))
    }

    /// The register windows a guest touches on its fast path, known from the config space alone:
    /// the virtio-pci notify structure (virtio 1.x, 4.1.4.4), then every window of the hot-register
    /// table ([`HotRegisterEntry::table`](crate::HotRegisterEntry::table): NVMe doorbells, NIC queue tails, ConnectX UAR pages,
    /// AHCI ports, the xHCI doorbells, ...) that matches the function's vendor, device and `class`,
    /// clipped to its BAR, with the MSI-X 4 KiB ranges cut out of the upper-bound windows.
    /// `class` may come from a source other than the image (sysfs `class`); `bar_size` gives a BAR's size.
    pub fn hot_windows(&self, class: Option<u32>, bar_size: impl Fn(u8) -> Option<u64>) -> Vec<HotWindow> {
        let mut out: Vec<HotWindow> = self
            .virtio
            .iter()
            .filter(|v| v.cfg_type == VIRTIO_PCI_CAP_NOTIFY_CFG && v.length > 0)
            .map(|v| HotWindow {
                bar: v.bar,
                offset: v.offset.into(),
                length: v.length.into(),
                what: "virtio notify".into(),
            })
            .collect();
        let msix = match &self.msix {
            MsixFacts::Present { capability } => Some(capability),
            _ => None,
        };
        out.extend(crate::hot::windows_around_msix(self.vendor, self.device, class, msix, bar_size));
        out
    }
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn walk_capabilities(b: &[u8], header: HeaderKind, caps: &mut Vec<Capability>) -> CapListState {
    let unreadable = |what: &str| {
        let hint = if b.len() <= UNPRIVILEGED_CONFIG_BYTES {
            format!(
                "config holds {} bytes (an unprivileged read): {what} unknown; run as root to read the capabilities",
                b.len()
            )
        } else {
            format!("config holds {} bytes: {what} unknown", b.len())
        };
        CapListState::Unreadable(hint)
    };
    let Some(status) = u16_at(b, 0x06) else { return unreadable("status register") };
    if status & 0x10 == 0 {
        return CapListState::NoList;
    }
    // CardBus keeps its pointer at 0x14; endpoints and bridges at 0x34.
    let ptr_at = if header == HeaderKind::CardBus { 0x14 } else { 0x34 };
    let Some(&first) = b.get(ptr_at) else { return unreadable("capability pointer") };
    let mut ptr = usize::from(first & 0xfc);
    let mut seen = [false; 256];
    while ptr != 0 {
        if ptr < 0x40 {
            return CapListState::Broken(format!("capability pointer {ptr:#x} points into the header"));
        }
        if seen[ptr] {
            return CapListState::Broken(format!("capability list loops back to {ptr:#x}"));
        }
        if caps.len() >= MAX_CAPABILITIES {
            return CapListState::Broken(format!("more than {MAX_CAPABILITIES} capabilities"));
        }
        let (Some(&id), Some(&next)) = (b.get(ptr), b.get(ptr + 1)) else {
            return unreadable(&format!("capability at {ptr:#x}"));
        };
        seen[ptr] = true;
        caps.push(Capability { id, offset: ptr as u16 });
        ptr = usize::from(next & 0xfc);
    }
    CapListState::Complete
}

fn decode_msix(b: &[u8], at: u16) -> Option<MsixCapability> {
    let at = usize::from(at);
    let control = u16_at(b, at + 2)?;
    let table = u32_at(b, at + 4)?;
    let pba = u32_at(b, at + 8)?;
    Some(MsixCapability {
        cap_offset: at as u16,
        table_size: (control & 0x7ff) + 1,
        table_bir: (table & 0x7) as u8,
        table_offset: table & !0x7,
        pba_bir: (pba & 0x7) as u8,
        pba_offset: pba & !0x7,
    })
}

fn decode_virtio(b: &[u8], at: usize) -> Option<VirtioCap> {
    let cap_len = *b.get(at + 2)?;
    if cap_len < 16 {
        return None;
    }
    Some(VirtioCap {
        cfg_type: *b.get(at + 3)?,
        bar: *b.get(at + 4)?,
        offset: u32_at(b, at + 8)?,
        length: u32_at(b, at + 12)?,
    })
}

/// NVMe (class 01:08, prog-if 02): doorbells start at BAR0 offset 0x1000 (NVMe 1.4, 3.1); the
/// window itself is the `nvme` entry of the hot-register table (`policy/data/hot-registers.toml`).
pub const NVME_CLASS: u32 = 0x01_08_02;

/// What a BAR register (config 0x10 + 4n) says of its BAR: I/O or memory, 32 or 64 bits,
/// prefetchable. Its size is not in config space (sizing writes the register); VFIO reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarRegister {
    /// A BAR of this kind.
    Bar {
        /// 32-bit memory, 64-bit memory or I/O.
        kind: BarKind,
        /// The prefetchable bit of a memory BAR.
        prefetchable: bool,
    },
    /// The upper 32 bits of the 64-bit BAR in the slot before.
    UpperHalf,
    /// A 64-bit BAR in slot 5, whose upper half would be past the last slot: invalid.
    Truncated64,
    /// Memory type 01b or 11b, reserved by the PCI spec.
    ReservedType,
}

/// Decodes the six BAR registers of a type-0 header; `None` when the image is shorter than 0x28 bytes.
pub fn bar_registers(b: &[u8]) -> Option<[BarRegister; 6]> {
    let mut out = [BarRegister::ReservedType; 6];
    let mut slot = 0;
    while slot < 6 {
        let raw = u32_at(b, 0x10 + 4 * slot)?;
        out[slot] = if raw & 1 == 1 {
            BarRegister::Bar { kind: BarKind::Io, prefetchable: false }
        } else {
            let prefetchable = raw & 0x8 != 0;
            match (raw >> 1) & 0x3 {
                0 => BarRegister::Bar { kind: BarKind::Memory32, prefetchable },
                2 if slot == 5 => BarRegister::Truncated64,
                2 => {
                    out[slot + 1] = BarRegister::UpperHalf;
                    out[slot] = BarRegister::Bar { kind: BarKind::Memory64, prefetchable };
                    slot += 2;
                    continue;
                }
                _ => BarRegister::ReservedType,
            }
        };
        slot += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint_with_caps() -> Vec<u8> {
        let mut b = vec![0u8; 256];
        b[0..2].copy_from_slice(&0x8086u16.to_le_bytes());
        b[2..4].copy_from_slice(&0x10d3u16.to_le_bytes());
        b[6] = 0x10; // capability list
        b[0x34] = 0x40;
        b[0x40] = 0x01; // PM
        b[0x41] = 0x50;
        b[0x50] = CAP_ID_MSIX;
        b[0x51] = 0x00;
        b[0x52..0x54].copy_from_slice(&4u16.to_le_bytes()); // 5 vectors
        b[0x54..0x58].copy_from_slice(&3u32.to_le_bytes()); // BAR3 offset 0
        b[0x58..0x5c].copy_from_slice(&(0x2000u32 | 3).to_le_bytes());
        b
    }

    #[test]
    fn decodes_msix() {
        let p = ParsedConfig::parse(&endpoint_with_caps());
        assert_eq!(p.cap_state, CapListState::Complete);
        let MsixFacts::Present { capability: c } = p.msix else { panic!("{:?}", p.msix) };
        assert_eq!((c.table_size, c.table_bir, c.table_offset, c.pba_bir, c.pba_offset), (5, 3, 0, 3, 0x2000));
    }

    #[test]
    fn loops_and_header_pointers_are_broken_not_absent() {
        let mut b = endpoint_with_caps();
        b[0x51] = 0x40; // MSI-X points back to PM
        b[0x41] = 0x50;
        // MSI-X was seen before the loop: its position is still known.
        assert!(matches!(ParsedConfig::parse(&b).msix, MsixFacts::Present { .. }));
        b[0x41] = 0x40; // PM points to itself, MSI-X never reached
        let p = ParsedConfig::parse(&b);
        assert!(matches!(p.cap_state, CapListState::Broken(_)));
        assert!(matches!(p.msix, MsixFacts::Unknown { ref rule, .. } if *rule == RuleId::DEVICE_CAPS_BROKEN));
        b[0x41] = 0x10;
        assert!(matches!(ParsedConfig::parse(&b).cap_state, CapListState::Broken(_)));
    }

    #[test]
    fn bar_registers_decode_kind_prefetch_and_upper_halves() {
        let mut b = endpoint_with_caps();
        b[0x10..0x14].copy_from_slice(&0xfebf_000cu32.to_le_bytes()); // 64-bit prefetchable
        b[0x18..0x1c].copy_from_slice(&0x0000_c001u32.to_le_bytes()); // I/O
        b[0x1c..0x20].copy_from_slice(&0xfe00_0000u32.to_le_bytes()); // 32-bit
        b[0x20..0x24].copy_from_slice(&0x0000_0002u32.to_le_bytes()); // reserved type 01b
        b[0x24..0x28].copy_from_slice(&0x0000_0004u32.to_le_bytes()); // 64-bit in slot 5
        let r = bar_registers(&b).unwrap();
        assert_eq!(r[0], BarRegister::Bar { kind: BarKind::Memory64, prefetchable: true });
        assert_eq!(r[1], BarRegister::UpperHalf);
        assert_eq!(r[2], BarRegister::Bar { kind: BarKind::Io, prefetchable: false });
        assert_eq!(r[3], BarRegister::Bar { kind: BarKind::Memory32, prefetchable: false });
        assert_eq!(r[4], BarRegister::ReservedType);
        assert_eq!(r[5], BarRegister::Truncated64);
        assert_eq!(bar_registers(&b[..0x27]), None);
    }

    #[test]
    fn short_config_is_unreadable_with_a_hint() {
        let b = endpoint_with_caps();
        let p = ParsedConfig::parse(&b[..64]);
        let MsixFacts::Unknown { rule, why } = p.msix else { panic!() };
        assert_eq!(rule, RuleId::DEVICE_CONFIG_UNREADABLE);
        assert!(why.contains("run as root"), "{why}");
        for n in 0..b.len() {
            let _ = ParsedConfig::parse(&b[..n]);
        }
    }
}
