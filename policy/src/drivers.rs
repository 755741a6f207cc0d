//! Driver knowledge as data: which memory BARs each known device's Linux driver maps
//! (`policy/data/driver-bars.toml`, embedded and parsed once). A BAR the known driver never
//! maps holds no register that driver uses: where the MSI-X table or PBA lies in such a BAR,
//! trapping its pages catches no register (`exposure.trap.driver-unmapped-bar`). Each entry
//! names the driver source it is read from; `docs/policy.md#driver-bars` lists them.
//!
//! ```
//! use msix_policy_engine::DriverBars;
//!
//! // An Intel XL710 (i40e): the driver maps BAR0 only, so its MSI-X BAR3 holds no register.
//! let e = DriverBars::lookup(Some(0x8086), Some(0x1583), Some(0x02_00_00)).unwrap();
//! assert_eq!(e.driver, "i40e");
//! assert!(e.maps_bar(0, &[0, 3]) && !e.maps_bar(3, &[0, 3]));
//! assert_eq!(DriverBars::table_error(), None);
//! ```

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::hot::DeviceMatch;

/// The embedded table, as an operator reads it.
pub const TABLE_TOML: &str = include_str!("../data/driver-bars.toml");

/// Which BARs a driver maps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MappedBars {
    /// These BAR indices.
    Indices(Vec<u8>),
    /// The lowest-numbered memory BAR of the function (`ffs(pci_select_bars(pdev, IORESOURCE_MEM)) - 1`).
    FirstMemoryBar,
}

/// One entry of the driver table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriverBars {
    /// Stable name; `docs/policy.md#driver.<id>` documents it.
    pub id: String,
    /// The Linux driver (module) name.
    pub driver: String,
    /// The devices it covers, in words.
    pub device: String,
    /// Which functions it applies to (a vendor and device ids, or a vendor and a class).
    pub matches: EntryMatch,
    /// The BARs the driver maps.
    pub maps: MappedBars,
    /// The upstream driver file and function the mapping calls are read from.
    pub source: String,
}

/// A vendor and either device ids or a class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryMatch {
    /// Vendor id.
    pub vendor: u16,
    /// Device ids, or a class code.
    pub which: DeviceMatch,
}

impl EntryMatch {
    /// Whether a function with these ids and class matches.
    pub fn matches(&self, vendor: Option<u16>, device: Option<u16>, class: Option<u32>) -> bool {
        vendor == Some(self.vendor) && self.which.matches(vendor, device, class)
    }
}

impl DriverBars {
    /// Whether the driver maps BAR `index` of a function whose memory BARs are `memory_bars`.
    pub fn maps_bar(&self, index: u8, memory_bars: &[u8]) -> bool {
        match &self.maps {
            MappedBars::Indices(v) => v.contains(&index),
            MappedBars::FirstMemoryBar => memory_bars.iter().min() == Some(&index),
        }
    }
    /// The mapped BARs in words (`BAR0, BAR2`, `the first memory BAR`).
    pub fn maps_words(&self) -> String {
        match &self.maps {
            MappedBars::Indices(v) => v.iter().map(|i| format!("BAR{i}")).collect::<Vec<_>>().join(", "),
            MappedBars::FirstMemoryBar => "the first memory BAR".into(),
        }
    }
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
    driver: String,
    device: String,
    vendor: u16,
    devices: Option<Vec<u16>>,
    class: Option<String>,
    maps: RawMaps,
    source: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawMaps {
    Indices(Vec<u8>),
    Word(String),
}

/// Parses a table in the format of `policy/data/driver-bars.toml`, checking every entry: a unique
/// `[a-z0-9-]` id, a driver, a device, a source, a vendor with a non-empty device list or a class
/// (not both), and `maps` as BAR indices 0-5 (at least one, none twice) or `"first-memory-bar"`.
/// The error names the entry.
pub(crate) fn parse_table(text: &str) -> Result<Vec<DriverBars>, String> {
    let raw: RawFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut ids = HashSet::new();
    raw.entry
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let fields = [("driver", e.driver.as_str()), ("device", e.device.as_str())];
            let name =
                crate::hot::check_entry(i, &e.id, &mut ids, &fields, &e.source, "the driver code it is read from")?;
            let err = |what: &str| format!("{name}: {what}");
            let which = match (e.devices, e.class) {
                (Some(devices), None) if !devices.is_empty() => DeviceMatch::Ids { vendor: e.vendor, devices },
                (None, Some(c)) => crate::hot::class_match(&name, &c)?,
                _ => return Err(err("give the vendor with either a non-empty devices list or a class")),
            };
            let maps = match e.maps {
                RawMaps::Indices(v) if v.is_empty() => return Err(err("maps is empty")),
                RawMaps::Indices(v) if v.iter().any(|&b| b > 5) => return Err(err("maps: a BAR index is 0-5")),
                RawMaps::Indices(v) if v.iter().collect::<HashSet<_>>().len() != v.len() => {
                    return Err(err("maps: a BAR given twice"))
                }
                RawMaps::Indices(v) => MappedBars::Indices(v),
                RawMaps::Word(w) if w == "first-memory-bar" => MappedBars::FirstMemoryBar,
                RawMaps::Word(w) => return Err(err(&format!("maps {w:?}: BAR indices or \"first-memory-bar\""))),
            };
            Ok(DriverBars {
                id: e.id,
                driver: e.driver,
                device: e.device,
                matches: EntryMatch { vendor: e.vendor, which },
                maps,
                source: e.source,
            })
        })
        .collect()
}

fn loaded() -> &'static (Vec<DriverBars>, Option<String>) {
    static TABLE: OnceLock<(Vec<DriverBars>, Option<String>)> = OnceLock::new();
    TABLE.get_or_init(|| match parse_table(TABLE_TOML) {
        Ok(t) => (t, None),
        // Without the table nothing is known: the rule without knowledge stands.
        Err(e) => (Vec::new(), Some(format!("policy/data/driver-bars.toml: {e}"))),
    })
}

impl DriverBars {
    /// Every entry of the embedded table, in file order (empty should it not parse; a test keeps it
    /// parsing and [`DriverBars::table_error`] says why).
    pub fn table() -> &'static [DriverBars] {
        &loaded().0
    }

    /// Why the embedded table could not be used, when it could not. `None` in every release.
    pub fn table_error() -> Option<&'static str> {
        loaded().1.as_deref()
    }

    /// The first entry that knows a function with these ids and class, if any.
    pub fn lookup(vendor: Option<u16>, device: Option<u16>, class: Option<u32>) -> Option<&'static DriverBars> {
        Self::table().iter().find(|e| e.matches.matches(vendor, device, class))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_table_parses_and_every_entry_has_a_source() {
        assert_eq!(parse_table(TABLE_TOML).err(), None);
        assert_eq!(DriverBars::table_error(), None);
        assert!(DriverBars::table().len() >= 8, "{} entries", DriverBars::table().len());
        for e in DriverBars::table() {
            assert!(!e.source.trim().is_empty() && e.source.contains("drivers/"), "{}: no driver source", e.id);
        }
    }

    #[test]
    fn every_entry_is_documented_in_docs_policy_md() {
        const DOC: &str = include_str!("../../docs/policy.md");
        assert!(DOC.contains("<a id=\"driver-bars\"></a>"));
        for e in DriverBars::table() {
            let anchor = format!("<a id=\"driver.{}\"></a>", e.id);
            assert!(DOC.contains(&anchor), "docs/policy.md has no anchor {anchor}");
        }
    }

    #[test]
    fn entries_say_what_their_drivers_map() {
        let maps = |v: u16, d: u16, bars: &[u8]| -> Vec<u8> {
            let e = DriverBars::lookup(Some(v), Some(d), Some(0x02_00_00)).unwrap_or_else(|| panic!("{v:04x}:{d:04x}"));
            bars.iter().copied().filter(|&b| e.maps_bar(b, bars)).collect()
        };
        // Intel 700 and 800 series, 82576 and its VF: BAR0 only; BAR3 is MSI-X only.
        for d in [0x1572, 0x1583, 0x1584, 0x1585, 0x1589, 0x158a, 0x158b, 0x37d0, 0x37d2] {
            assert_eq!(maps(0x8086, d, &[0, 3]), [0], "{d:04x}");
        }
        for d in [0x1591, 0x1592, 0x1593, 0x159b, 0x10c9, 0x10ca] {
            assert_eq!(maps(0x8086, d, &[0, 3]), [0], "{d:04x}");
        }
        // bnxt_en maps BAR4 too ("bar4 registers"): it may hold registers.
        assert_eq!(maps(0x14e4, 0x16d7, &[0, 2, 4]), [0, 2, 4]);
        // r8169 maps the first memory BAR: BAR2 when BAR0 is I/O, not BAR4.
        assert_eq!(maps(0x10ec, 0x8168, &[2, 4]), [2]);
        assert_eq!(maps(0x10ec, 0x8125, &[0, 2, 4]), [0]);
        assert_eq!(maps(0x1077, 0x1656, &[0, 2, 4]), [0, 2]);
        assert_eq!(maps(0x1957, 0xe100, &[0, 2]), [0]);
        // Realtek Killer E3000 (r8169): BAR2 (first memory BAR), not BAR4.
        assert_eq!(maps(0x10ec, 0x3000, &[2, 4]), [2]);
        // Intel AHCI by class, and the RAID ids: the ABAR (BAR5) only. Intel VMD (RAID class,
        // another driver) is not known.
        let ahci = DriverBars::lookup(Some(0x8086), Some(0x2922), Some(0x01_06_01)).unwrap();
        assert_eq!(
            (ahci.id.as_str(), ahci.maps_bar(5, &[0, 5]), ahci.maps_bar(0, &[0, 5])),
            ("ahci-intel", true, false)
        );
        assert_eq!(
            DriverBars::lookup(Some(0x8086), Some(0x282a), Some(0x01_04_00)).map(|e| e.id.as_str()),
            Some("ahci-intel-raid")
        );
        assert!(DriverBars::lookup(Some(0x8086), Some(0x9a0b), Some(0x01_04_00)).is_none());
        assert!(DriverBars::lookup(Some(0x1b21), Some(0x0612), Some(0x01_06_01)).is_none(), "another vendor's AHCI");
        // Another vendor with the same device id, or no ids: nothing is known.
        assert!(DriverBars::lookup(Some(0x15b3), Some(0x1583), None).is_none());
        assert!(DriverBars::lookup(None, None, None).is_none());
    }

    #[test]
    fn a_class_entry_needs_its_vendor() {
        let t = parse_table(
            "[[entry]]\nid = \"x\"\ndriver = \"d\"\ndevice = \"d\"\nvendor = 0x1234\nclass = \"02:00\"\nmaps = [0]\nsource = \"drivers/x.c\"\n",
        )
        .unwrap();
        assert!(t[0].matches.matches(Some(0x1234), Some(1), Some(0x02_00_00)));
        assert!(!t[0].matches.matches(Some(0x4321), Some(1), Some(0x02_00_00)));
        assert!(!t[0].matches.matches(Some(0x1234), Some(1), Some(0x01_08_02)));
    }

    #[test]
    fn bad_entries_are_refused_with_their_name() {
        let ok = "[[entry]]\nid = \"a\"\ndriver = \"d\"\ndevice = \"d\"\nvendor = 0x8086\ndevices = [1]\nmaps = [0]\nsource = \"s\"\n";
        assert_eq!(parse_table(ok).map(|t| t.len()), Ok(1));
        let bad = [
            (ok.replace("source = \"s\"", "source = \" \""), "source is empty"),
            (ok.replace("id = \"a\"", "id = \"A\""), "id must be"),
            (ok.replace("driver = \"d\"", "driver = \"\""), "driver is empty"),
            (ok.replace("devices = [1]", "devices = []"), "devices list"),
            (ok.replace("devices = [1]", "devices = [1]\nclass = \"02:00\""), "devices list"),
            (ok.replace("maps = [0]", "maps = []"), "maps is empty"),
            (ok.replace("maps = [0]", "maps = [6]"), "0-5"),
            (ok.replace("maps = [0]", "maps = [0, 0]"), "given twice"),
            (ok.replace("maps = [0]", "maps = \"all\""), "first-memory-bar"),
            (format!("{ok}{ok}"), "id given twice"),
        ];
        for (text, want) in bad {
            let e = parse_table(&text).expect_err(&text);
            assert!(e.contains(want), "{e:?} should say {want:?}");
        }
    }
}
