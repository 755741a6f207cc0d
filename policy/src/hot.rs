//! Hot register windows known from a device's ids or class, as data: `policy/data/hot-registers.toml`,
//! embedded and parsed once. Each [`HotRegisterEntry`] names the devices it matches, the windows
//! (BAR, offset, length) a guest driver touches on its I/O fast path, what lives there and the
//! source the offsets come from (a spec section, or an upstream driver file and its register
//! macros). `docs/policy.md#hot-windows` lists them.
//!
//! ```
//! use msix_policy_engine::HotRegisterEntry;
//!
//! // Every entry carries its source; a tool can list them.
//! assert!(HotRegisterEntry::table().iter().all(|e| !e.source.is_empty()));
//! assert_eq!(HotRegisterEntry::table_error(), None);
//!
//! // An AHCI controller (class 01:06:01) with an 8 KiB ABAR in BAR5: its port registers.
//! let w = HotRegisterEntry::known_windows(Some(0x8086), Some(0x2922), Some(0x01_06_01), |bar| (bar == 5).then_some(0x2000));
//! assert_eq!((w[0].bar, w[0].offset, w[0].length), (5, 0x100, 0x1000));
//! ```

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::facts::{HotWindow, MsixCapability};
use crate::ranges::{subtract, MsixInBar};

/// The embedded table, as an operator reads it.
pub const TABLE_TOML: &str = include_str!("../data/hot-registers.toml");

/// Which functions an entry applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceMatch {
    /// A class code: class and subclass, and the programming interface when given.
    Class {
        /// Base class (`0x01` mass storage).
        class: u8,
        /// Subclass (`0x06` SATA).
        subclass: u8,
        /// Programming interface (`0x01` AHCI); `None` matches any.
        prog_if: Option<u8>,
    },
    /// A vendor and a list of its device ids.
    Ids {
        /// Vendor id.
        vendor: u16,
        /// Device ids.
        devices: Vec<u16>,
    },
}

impl DeviceMatch {
    /// Whether a function with these ids and class (class, subclass, prog-if) matches.
    pub fn matches(&self, vendor: Option<u16>, device: Option<u16>, class: Option<u32>) -> bool {
        match self {
            DeviceMatch::Class { class: c, subclass, prog_if } => class.is_some_and(|code| {
                let [_, base, sub, pi] = code.to_be_bytes();
                base == *c && sub == *subclass && prog_if.is_none_or(|p| p == pi)
            }),
            DeviceMatch::Ids { vendor: v, devices } => {
                vendor == Some(*v) && device.is_some_and(|d| devices.contains(&d))
            }
        }
    }
}

/// How far a window reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Extent {
    /// This many bytes (clipped to the BAR).
    Bytes(u64),
    /// To the end of the BAR, whatever its size.
    ToEndOfBar,
}

/// One register window of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowSpec {
    /// The BAR that holds it, 0-5.
    pub bar: u8,
    /// Its first byte in that BAR.
    pub offset: u64,
    /// Its length, or to the end of the BAR.
    pub extent: Extent,
    /// What lives there, as the decision prints it.
    pub what: String,
    /// The registers lie somewhere in the window, but only the device's BAR says where: the
    /// 4 KiB ranges of the MSI-X table and PBA are cut out of it (as [`ParsedConfig::hot_windows`](crate::ParsedConfig::hot_windows) does).
    pub upper_bound: bool,
}

impl WindowSpec {
    /// The window in a BAR of `bar_size` bytes: clipped to its end, `None` when the BAR is
    /// absent or no larger than the offset.
    pub fn clip(&self, bar_size: Option<u64>) -> Option<HotWindow> {
        let room = bar_size?.checked_sub(self.offset).filter(|&r| r > 0)?;
        let length = match self.extent {
            Extent::Bytes(n) => n.min(room),
            Extent::ToEndOfBar => room,
        };
        Some(HotWindow { bar: self.bar, offset: self.offset, length, what: self.what.clone() })
    }
}

/// One entry of the hot-register table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HotRegisterEntry {
    /// Stable name; `docs/policy.md#hot.<id>` documents it.
    pub id: String,
    /// The devices it covers, in words.
    pub device: String,
    /// Which functions it applies to.
    pub matches: DeviceMatch,
    /// The windows, in the order they are reported.
    pub windows: Vec<WindowSpec>,
    /// Where the offsets come from: a spec section, or an upstream driver file and its macros.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    entry: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: String,
    device: String,
    class: Option<String>,
    vendor: Option<u16>,
    devices: Option<Vec<u16>>,
    source: String,
    window: Vec<RawWindow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    bar: u8,
    offset: u64,
    length: RawLength,
    what: String,
    #[serde(default)]
    upper_bound: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawLength {
    Bytes(u64),
    Word(String),
}

/// Parses a table in the format of `policy/data/hot-registers.toml`, checking every entry:
/// a unique `[a-z0-9-]` id, a device, a source, exactly one match (a `cc:ss[:pp]` class, or a
/// vendor with at least one device id), and windows in BARs 0-5 with a non-empty `what` and a
/// length that is positive and does not overflow. The error names the entry.
pub(crate) fn parse_table(text: &str) -> Result<Vec<HotRegisterEntry>, String> {
    let raw: RawFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut ids = HashSet::new();
    raw.entry
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let name =
                check_entry(i, &e.id, &mut ids, &[("device", &e.device)], &e.source, "where its offsets come from")?;
            let err = |what: &str| format!("{name}: {what}");
            let matches = match (e.class, e.vendor, e.devices) {
                (Some(c), None, None) => class_match(&name, &c)?,
                (None, Some(vendor), Some(devices)) if !devices.is_empty() => DeviceMatch::Ids { vendor, devices },
                _ => return Err(err("give either class, or vendor with a non-empty devices list")),
            };
            if e.window.is_empty() {
                return Err(err("no window"));
            }
            let windows = e
                .window
                .into_iter()
                .map(|w| {
                    if w.bar > 5 {
                        return Err(err(&format!("BAR{}: a BAR index is 0-5", w.bar)));
                    }
                    if w.what.trim().is_empty() {
                        return Err(err("a window's what is empty"));
                    }
                    let extent = match w.length {
                        RawLength::Bytes(0) => return Err(err("a window's length is 0")),
                        RawLength::Bytes(n) if w.offset.checked_add(n).is_none() => {
                            return Err(err("a window's offset + length overflows"))
                        }
                        RawLength::Bytes(n) => Extent::Bytes(n),
                        RawLength::Word(s) if s == "to-end-of-bar" => Extent::ToEndOfBar,
                        RawLength::Word(s) => {
                            return Err(err(&format!("length {s:?}: a byte count or \"to-end-of-bar\"")))
                        }
                    };
                    Ok(WindowSpec { bar: w.bar, offset: w.offset, extent, what: w.what, upper_bound: w.upper_bound })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(HotRegisterEntry { id: e.id, device: e.device, matches, windows, source: e.source })
        })
        .collect()
}

/// What every entry of a device-knowledge table (hot registers, driver BARs) must have: a unique
/// `[a-z0-9-]` id and non-empty text fields (`(name, value)` pairs, the source among them, which
/// `source_is` says the meaning of). Returns the entry's name for further errors.
pub(crate) fn check_entry(
    position: usize,
    id: &str,
    ids: &mut HashSet<String>,
    fields: &[(&str, &str)],
    source: &str,
    source_is: &str,
) -> Result<String, String> {
    let name = if id.is_empty() { format!("entry {}", position + 1) } else { format!("entry {id:?}") };
    let err = |what: &str| Err(format!("{name}: {what}"));
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return err("id must be non-empty, of a-z, 0-9 and -");
    }
    if !ids.insert(id.to_string()) {
        return err("id given twice");
    }
    if let Some((field, _)) = fields.iter().find(|(_, v)| v.trim().is_empty()) {
        return err(&format!("{field} is empty"));
    }
    if source.trim().is_empty() {
        return err(&format!("source is empty: every entry names {source_is}"));
    }
    Ok(name)
}

/// A `cc:ss[:pp]` class match, or the error naming the entry.
pub(crate) fn class_match(name: &str, class: &str) -> Result<DeviceMatch, String> {
    parse_class(class).ok_or_else(|| format!("{name}: class {class:?}: expected cc:ss or cc:ss:pp in hex"))
}

pub(crate) fn parse_class(s: &str) -> Option<DeviceMatch> {
    let parts: Vec<u8> = s
        .split(':')
        .map(|p| (p.len() == 2).then(|| u8::from_str_radix(p, 16).ok()).flatten())
        .collect::<Option<_>>()?;
    match parts[..] {
        [class, subclass] => Some(DeviceMatch::Class { class, subclass, prog_if: None }),
        [class, subclass, pi] => Some(DeviceMatch::Class { class, subclass, prog_if: Some(pi) }),
        _ => None,
    }
}

/// What the engine knew before the table: NVMe doorbells from BAR0 + 0x1000 (virtio's notify
/// window comes from its capabilities, not from here).
fn built_in() -> Vec<HotRegisterEntry> {
    vec![HotRegisterEntry {
        id: "nvme".into(),
        device: "NVMe controllers (class 01:08:02)".into(),
        matches: DeviceMatch::Class { class: 0x01, subclass: 0x08, prog_if: Some(0x02) },
        windows: vec![WindowSpec {
            bar: 0,
            offset: 0x1000,
            extent: Extent::Bytes(0x1000),
            what: "NVMe doorbells".into(),
            upper_bound: false,
        }],
        source: "NVM Express Base Specification 1.4, 3.1 (SQ0TDBL at 0x1000)".into(),
    }]
}

/// The table parsed from `text`, or the built-in NVMe knowledge and the parse error.
fn load(text: &str) -> (Vec<HotRegisterEntry>, Option<String>) {
    match parse_table(text) {
        Ok(t) => (t, None),
        Err(e) => (built_in(), Some(format!("policy/data/hot-registers.toml: {e}"))),
    }
}

fn loaded() -> &'static (Vec<HotRegisterEntry>, Option<String>) {
    static TABLE: OnceLock<(Vec<HotRegisterEntry>, Option<String>)> = OnceLock::new();
    TABLE.get_or_init(|| load(TABLE_TOML))
}

impl HotRegisterEntry {
    /// Every entry of the embedded table, in file order. Should the embedded file not parse (a test
    /// keeps it parsing), this is the built-in NVMe entry alone and [`HotRegisterEntry::table_error`] says why.
    pub fn table() -> &'static [HotRegisterEntry] {
        &loaded().0
    }

    /// Why the embedded table could not be used, when it could not (the engine then knows only the
    /// NVMe doorbells and the virtio notify window). `None` in every release: a test parses the file.
    pub fn table_error() -> Option<&'static str> {
        loaded().1.as_deref()
    }

    /// The windows the table knows for a function with these ids and class, each clipped to its BAR
    /// (`bar_size` gives a BAR's size, `None` when absent); windows of absent or too small BARs are
    /// skipped. Upper-bound windows are reported whole: `windows_around_msix` cuts the MSI-X
    /// table's and PBA's 4 KiB ranges out of them.
    pub fn known_windows(
        vendor: Option<u16>,
        device: Option<u16>,
        class: Option<u32>,
        bar_size: impl Fn(u8) -> Option<u64>,
    ) -> Vec<HotWindow> {
        windows_around_msix(vendor, device, class, None, bar_size)
    }
}

/// [`HotRegisterEntry::known_windows`], with the 4 KiB ranges that hold the MSI-X table and PBA cut out of every
/// upper-bound window (the spec keeps registers out of them, so an upper bound that spans them
/// holds none there).
pub(crate) fn windows_around_msix(
    vendor: Option<u16>,
    device: Option<u16>,
    class: Option<u32>,
    msix: Option<&MsixCapability>,
    bar_size: impl Fn(u8) -> Option<u64>,
) -> Vec<HotWindow> {
    let mut out = Vec::new();
    for e in HotRegisterEntry::table().iter().filter(|e| e.matches.matches(vendor, device, class)) {
        for spec in &e.windows {
            let Some(w) = spec.clip(bar_size(spec.bar)) else { continue };
            match msix.filter(|_| spec.upper_bound) {
                Some(cap) => out.extend(cut_msix(w, cap)),
                None => out.push(w),
            }
        }
    }
    out
}

/// The pieces of `w` outside the 4 KiB ranges of the table and PBA that lie in its BAR; of each
/// such range only the part from the MSI-X structure on is cut: bytes before the first structure
/// in its range may be registers (docs/policy.md, Collateral).
fn cut_msix(w: HotWindow, cap: &MsixCapability) -> Vec<HotWindow> {
    // Unclipped: the window already lies in its BAR.
    let cuts = MsixInBar::of(cap, w.bar).register_free(u64::MAX);
    subtract((w.offset, w.offset.saturating_add(w.length)), &cuts)
        .into_iter()
        .map(|(a, b)| HotWindow { bar: w.bar, offset: a, length: b - a, what: w.what.clone() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> &'static HotRegisterEntry {
        HotRegisterEntry::table().iter().find(|e| e.id == id).unwrap_or_else(|| panic!("no entry {id}"))
    }

    /// The ids and class of a function this entry matches.
    fn sample(e: &HotRegisterEntry) -> (Option<u16>, Option<u16>, Option<u32>) {
        match &e.matches {
            DeviceMatch::Class { class, subclass, prog_if } => {
                (Some(0x1234), Some(0x5678), Some(u32::from_be_bytes([0, *class, *subclass, prog_if.unwrap_or(0x7f)])))
            }
            DeviceMatch::Ids { vendor, devices } => (Some(*vendor), Some(devices[devices.len() / 2]), Some(0x02_00_00)),
        }
    }

    fn spans(w: &[HotWindow]) -> Vec<(u8, u64, u64)> {
        w.iter().map(|w| (w.bar, w.offset, w.length)).collect()
    }

    #[test]
    fn the_embedded_table_parses_and_every_entry_has_a_source() {
        assert_eq!(parse_table(TABLE_TOML).err(), None);
        assert_eq!(HotRegisterEntry::table_error(), None);
        assert!(HotRegisterEntry::table().len() >= 10, "{} entries", HotRegisterEntry::table().len());
        for e in HotRegisterEntry::table() {
            assert!(!e.source.trim().is_empty(), "{}: no source", e.id);
            assert!(!e.device.trim().is_empty(), "{}: no device", e.id);
            assert!(!e.windows.is_empty(), "{}: no window", e.id);
            assert!(e.windows.iter().all(|w| !w.what.trim().is_empty()), "{}: a window without what", e.id);
        }
    }

    #[test]
    fn every_entry_is_documented_in_docs_policy_md() {
        const DOC: &str = include_str!("../../docs/policy.md");
        assert!(DOC.contains("<a id=\"hot-windows\"></a>"));
        for e in HotRegisterEntry::table() {
            let anchor = format!("<a id=\"hot.{}\"></a>", e.id);
            assert!(DOC.contains(&anchor), "docs/policy.md has no anchor {anchor}");
        }
    }

    /// Per entry: it matches its own sample and not another vendor or class; each window clips to
    /// a BAR that ends inside it, is skipped when its BAR is absent or no larger than its offset,
    /// and is whole in a BAR large enough.
    #[test]
    fn every_entry_matches_clips_and_skips() {
        for e in HotRegisterEntry::table() {
            let (v, d, c) = sample(e);
            assert!(e.matches.matches(v, d, c), "{}", e.id);
            assert!(!e.matches.matches(Some(0xffff), Some(0xffff), Some(0xff_ff_ff)), "{}", e.id);
            assert!(!e.matches.matches(None, None, None), "{}", e.id);
            for spec in &e.windows {
                assert_eq!(spec.clip(None), None, "{}: absent BAR", e.id);
                assert_eq!(spec.clip(Some(spec.offset)), None, "{}: BAR no larger than the offset", e.id);
                let short = spec.clip(Some(spec.offset + 1)).unwrap();
                assert_eq!((short.bar, short.offset, short.length), (spec.bar, spec.offset, 1), "{}", e.id);
                let big = 1 << 30;
                let whole = spec.clip(Some(big)).unwrap();
                let want = match spec.extent {
                    Extent::Bytes(n) => n,
                    Extent::ToEndOfBar => big - spec.offset,
                };
                assert_eq!(whole.length, want, "{}", e.id);
            }
            // Through the public entry point: every window of the entry, in order.
            let all = HotRegisterEntry::known_windows(v, d, c, |_| Some(1 << 30));
            for spec in &e.windows {
                assert!(
                    all.iter().any(|w| w.bar == spec.bar && w.offset == spec.offset && w.what == spec.what),
                    "{}",
                    e.id
                );
            }
            assert!(HotRegisterEntry::known_windows(v, d, c, |_| None).is_empty(), "{}", e.id);
        }
    }

    #[test]
    fn entries_hold_the_sourced_offsets() {
        let at = |id: &str, vendor, device, class, size: u64| {
            let _ = entry(id);
            spans(&HotRegisterEntry::known_windows(vendor, device, class, |_| Some(size)))
        };
        assert_eq!(at("nvme", None, None, Some(0x01_08_02), 0x4000), [(0, 0x1000, 0x1000)]);
        // The NVMe window as before the table: clipped to a 6 KiB BAR, skipped in a 4 KiB one.
        assert_eq!(at("nvme", None, None, Some(0x01_08_02), 0x1800), [(0, 0x1000, 0x800)]);
        assert_eq!(at("nvme", None, None, Some(0x01_08_02), 0x1000), []);
        assert_eq!(at("nvme", None, None, Some(0x01_08_01), 0x4000), []);
        assert_eq!(at("intel-82574", Some(0x8086), Some(0x10d3), None, 0x20000), [(0, 0x2818, 4), (0, 0x3818, 4)]);
        let igb = at("intel-igb", Some(0x8086), Some(0x10c9), None, 0x20000);
        assert_eq!(igb, [(0, 0x2818, 0x304), (0, 0x3818, 0x304), (0, 0xc118, 0x2c4), (0, 0xe118, 0x2c4)]);
        // RDT(3) = 0x2818 + 3 * 0x100 and RDT(15) = 0xc018 + 15 * 0x40 are the last 4 bytes.
        assert_eq!(igb[0].1 + igb[0].2, 0x2818 + 3 * 0x100 + 4);
        assert_eq!(igb[2].1 + igb[2].2, 0xc018 + 15 * 0x40 + 4);
        let ixgbe = at("intel-ixgbe", Some(0x8086), Some(0x10fb), None, 0x80000);
        assert_eq!(ixgbe, [(0, 0x1018, 0xfc4), (0, 0xd018, 0xfc4), (0, 0x6018, 0x1fc4)]);
        assert_eq!(ixgbe[0].1 + ixgbe[0].2, 0x1018 + 63 * 0x40 + 4);
        assert_eq!(ixgbe[1].1 + ixgbe[1].2, 0xd018 + 63 * 0x40 + 4);
        assert_eq!(ixgbe[2].1 + ixgbe[2].2, 0x6018 + 127 * 0x40 + 4);
        assert_eq!(
            at("intel-ixgbevf", Some(0x8086), Some(0x10ed), None, 0x4000),
            [(0, 0x1018, 0x1c4), (0, 0x2018, 0x1c4)]
        );
        assert_eq!(at("intel-iavf", Some(0x8086), Some(0x1889), None, 0x10000), [(0, 0, 0x40), (0, 0x2000, 0x40)]);
        assert_eq!(at("mellanox-mlx4", Some(0x15b3), Some(0x1003), None, 0x80_0000), [(2, 0, 0x80_0000)]);
        assert_eq!(at("mellanox-mlx5", Some(0x15b3), Some(0x1017), None, 0x200_0000), [(0, 0x1000, 0x1ff_f000)]);
        assert_eq!(at("ahci", Some(0x8086), Some(0x2922), Some(0x01_06_01), 0x2000), [(5, 0x100, 0x1000)]);
        // A 1 KiB ABAR (6 ports): clipped to it.
        assert_eq!(at("ahci", Some(0x8086), Some(0x2922), Some(0x01_06_01), 0x400), [(5, 0x100, 0x300)]);
        assert_eq!(at("xhci", Some(0x1b36), Some(0x000d), Some(0x0c_03_30), 0x4000), [(0, 0x20, 0x3fe0)]);
        // EHCI (prog-if 0x20) is not xHCI; the Intel ids of another vendor match nothing.
        assert_eq!(at("xhci", Some(0x1b36), Some(0x000d), Some(0x0c_03_20), 0x4000), []);
        assert_eq!(at("intel-igb", Some(0x15b3), Some(0x10c9), None, 0x20000), []);
    }

    #[test]
    fn upper_bound_windows_skip_the_msix_4k_ranges_and_exact_ones_do_not() {
        // QEMU's qemu-xhci: BAR0 16 KiB, table (16 vectors) at 0x3000, PBA at 0x3800.
        let cap = MsixCapability {
            cap_offset: 0x90,
            table_size: 16,
            table_bir: 0,
            table_offset: 0x3000,
            pba_bir: 0,
            pba_offset: 0x3800,
        };
        let xhci = windows_around_msix(Some(0x1b36), Some(0x000d), Some(0x0c_03_30), Some(&cap), |_| Some(0x4000));
        assert_eq!(spans(&xhci), [(0, 0x20, 0x2fe0)]);
        // Table at 0x1000, PBA at 0x3000 in a 64 KiB BAR: three pieces.
        let split = MsixCapability { table_offset: 0x1000, pba_offset: 0x3000, ..cap };
        let xhci = windows_around_msix(Some(0x1b36), Some(0x000d), Some(0x0c_03_30), Some(&split), |_| Some(0x10000));
        assert_eq!(spans(&xhci), [(0, 0x20, 0xfe0), (0, 0x2000, 0x1000), (0, 0x4000, 0xc000)]);
        // A table at 0x3080: the bytes before it in its range may be registers and stay in the window.
        let after_regs = MsixCapability { table_offset: 0x3080, pba_offset: 0x3880, ..cap };
        let xhci =
            windows_around_msix(Some(0x1b36), Some(0x000d), Some(0x0c_03_30), Some(&after_regs), |_| Some(0x4000));
        assert_eq!(spans(&xhci), [(0, 0x20, 0x3060)]);
        // A table in another BAR cuts nothing.
        let elsewhere = MsixCapability { table_bir: 3, pba_bir: 3, ..cap };
        let xhci =
            windows_around_msix(Some(0x1b36), Some(0x000d), Some(0x0c_03_30), Some(&elsewhere), |_| Some(0x4000));
        assert_eq!(spans(&xhci), [(0, 0x20, 0x3fe0)]);
        // A table over the whole window leaves nothing.
        let ahci = MsixCapability { table_bir: 5, pba_bir: 5, table_offset: 0, pba_offset: 0x800, ..cap };
        assert!(windows_around_msix(None, None, Some(0x01_06_01), Some(&ahci), |_| Some(0x1000)).is_empty());
        // NVMe's window is exact: a table inside it stays inside it (a spec violation to flag).
        let nvme = MsixCapability { table_offset: 0x1000, pba_offset: 0x1800, ..cap };
        let w = windows_around_msix(None, None, Some(0x01_08_02), Some(&nvme), |_| Some(0x4000));
        assert_eq!(spans(&w), [(0, 0x1000, 0x1000)]);
    }

    #[test]
    fn a_table_that_does_not_parse_falls_back_to_the_built_in_knowledge_and_says_why() {
        let (t, err) = load("[[entry]]\nid = \"x\"\n");
        assert_eq!(t, built_in());
        assert!(err.unwrap().contains("hot-registers.toml"));
        let (t, err) = load(TABLE_TOML);
        assert_eq!((t.len(), err), (HotRegisterEntry::table().len(), None));
        // The built-in NVMe entry is the table's own.
        assert_eq!(built_in()[0].windows, entry("nvme").windows);
        assert_eq!(built_in()[0].matches, entry("nvme").matches);
    }

    #[test]
    fn bad_entries_are_refused_with_their_name() {
        let ok = "[[entry]]\nid = \"a\"\ndevice = \"d\"\nclass = \"01:06:01\"\nsource = \"s\"\n\
                  [[entry.window]]\nbar = 5\noffset = 0x100\nlength = 0x1000\nwhat = \"w\"\n";
        assert_eq!(parse_table(ok).map(|t| t.len()), Ok(1));
        let bad = [
            (ok.replace("source = \"s\"", "source = \" \""), "source is empty"),
            (ok.replace("id = \"a\"", "id = \"A b\""), "id must be"),
            (ok.replace("class = \"01:06:01\"", "class = \"1:6\""), "class \"1:6\""),
            (ok.replace("class = \"01:06:01\"", "vendor = 0x8086"), "either class"),
            (ok.replace("class = \"01:06:01\"", "vendor = 0x8086\ndevices = []"), "either class"),
            (ok.replace("class = \"01:06:01\"", "class = \"01:06\"\nvendor = 0x8086\ndevices = [1]"), "either class"),
            (ok.replace("bar = 5", "bar = 6"), "BAR6"),
            (ok.replace("length = 0x1000", "length = 0"), "length is 0"),
            (ok.replace("length = 0x1000", "length = \"all\""), "length \"all\""),
            (ok.replace("length = 0x1000", "length = -1"), "length"),
            (ok.replace("what = \"w\"", "what = \"\""), "what is empty"),
            (format!("{ok}{ok}"), "id given twice"),
            (ok.replace("bar = 5", "bar = 5\nbars = 1"), "unknown field"),
            (ok.replace("devce", "x").replace("device = \"d\"", ""), "device"),
        ];
        for (text, want) in bad {
            let e = parse_table(&text).expect_err(&text);
            assert!(e.contains(want), "{e:?} should say {want:?}");
        }
    }
}
