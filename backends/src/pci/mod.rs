//! PCI functions under `sys/bus/pci/devices`: their facts, read from the root.

pub mod resource;

// The config space parser lives in the engine (a VMM feeds it the bytes it holds).
use msix_policy_engine::{
    DeviceFacts, Evidence, HeaderKind, HotRegisterEntry, MsixFacts, ParsedConfig, PciAddress, RuleId,
};

use crate::root::{link_name, parse_hex, Dir, ReadError, Root};

/// Where sysfs lists every PCI function by address (`0000:00:03.0`), each a link to its directory.
pub const DEVICES_DIR: &str = "sys/bus/pci/devices";

/// A function's facts for the engine, plus what the platform backends still need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PciFunction {
    /// What the engine decides on: ids, driver, IOMMU group, BARs, MSI-X, with evidence.
    pub facts: DeviceFacts,
    /// IRQ numbers from `msi_irqs/`.
    pub msi_irqs: Vec<u32>,
    /// Device tree node (relative to `sys/firmware/devicetree/base`), from the `of_node` link.
    pub of_node: Option<String>,
    /// PCI domain (segment) from the address.
    pub domain: u32,
}

/// `DDDD:BB:DD.F` in lowercase or uppercase hex: the engine's [`PciAddress`].
pub fn parse_address(s: &str) -> Option<PciAddress> {
    PciAddress::parse(s).ok()
}

/// Every function in the root, in address order. A missing devices directory is no functions.
/// Large hosts are read on every core: each function's directory is independent.
pub fn enumerate(root: &Root) -> Result<Vec<PciFunction>, ReadError> {
    let devices = match root.dir(DEVICES_DIR) {
        Ok(d) => d,
        Err(e) if e.is_missing() => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let names: Vec<String> = devices.names()?.into_iter().filter(|n| parse_address(n).is_some()).collect();
    // Only device-tree hosts link functions to nodes: skip the lookup elsewhere.
    let has_dt = root.is_dir(crate::devicetree::DT_BASE);
    let one = |n: &String| match devices.subdir(n) {
        Ok(d) => with_group_kind(root, gather_in(&d, &format!("{DEVICES_DIR}/{n}"), n, has_dt)),
        Err(e) => unreadable(&format!("{DEVICES_DIR}/{n}"), n, e),
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if names.len() < 256 || threads == 1 {
        return Ok(names.iter().map(one).collect());
    }
    let chunk = names.len().div_ceil(threads);
    Ok(std::thread::scope(|s| {
        let handles: Vec<_> =
            names.chunks(chunk).map(|c| s.spawn(move || c.iter().map(one).collect::<Vec<_>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    }))
}

/// One function by address (any case), if the root has it; the others are not read.
pub fn gather_one(root: &Root, address: &str) -> Option<PciFunction> {
    let address = parse_address(address)?.to_string();
    root.exists(&format!("{DEVICES_DIR}/{address}")).then(|| gather(root, &address))
}

/// Reads one function. Never fails: what cannot be read becomes an unknown fact with evidence.
pub fn gather(root: &Root, address: &str) -> PciFunction {
    let dir = format!("{DEVICES_DIR}/{address}");
    match root.dir(&dir) {
        Ok(d) => with_group_kind(root, gather_in(&d, &dir, address, root.is_dir(crate::devicetree::DT_BASE))),
        Err(e) => unreadable(&dir, address, e),
    }
}

/// The IOMMU groups, one directory per group number (`devices/`, `type`, `name`).
pub const IOMMU_GROUPS_DIR: &str = "sys/kernel/iommu_groups";
/// vfio's `enable_unsafe_noiommu_mode` module parameter (`Y`/`N`): VFIO without an IOMMU.
pub const NOIOMMU_PARAM: &str = "sys/module/vfio/parameters/enable_unsafe_noiommu_mode";

/// The default-domain types an IOMMU group of a real IOMMU reports in its `type` attribute
/// (drivers/iommu/iommu.c, `iommu_group_show_type`); a group without a domain reads `unknown`.
const IOMMU_DOMAIN_TYPES: [&str; 5] = ["DMA", "DMA-FQ", "identity", "blocked", "unmanaged"];

/// Where the host shows IOMMU group `group` to be a `vfio-noiommu` group: its `name` (or `type`)
/// reads `vfio-noiommu` (drivers/vfio/group.c, `vfio_noiommu_group_alloc` names it so), or
/// `enable_unsafe_noiommu_mode` is on and the group has no IOMMU domain type (its `type` reads
/// none of a real IOMMU's, or cannot be read): with the mode on, a group not shown to belong to
/// an IOMMU is taken as a noiommu group, never as safe.
pub fn noiommu_group(root: &Root, group: u32) -> Option<Evidence> {
    let dir = format!("{IOMMU_GROUPS_DIR}/{group}");
    for file in ["name", "type"] {
        let p = format!("{dir}/{file}");
        if let Ok(v) = root.read_value(&p) {
            if v.trim() == "vfio-noiommu" {
                return Some(Evidence::new(p, v.trim().to_string()));
            }
        }
    }
    let on = root.read_value(NOIOMMU_PARAM).ok().and_then(|v| crate::cmdline::parse_bool(&v)) == Some(true);
    if !on {
        return None;
    }
    let ty = root.read_value(&format!("{dir}/type"));
    if ty.as_ref().is_ok_and(|t| IOMMU_DOMAIN_TYPES.contains(&t.trim())) {
        return None;
    }
    let shown = match ty {
        Ok(t) => format!("type {:?}", t.trim()),
        Err(e) => format!("type: {}", e.reason()),
    };
    Some(Evidence::new(
        NOIOMMU_PARAM,
        format!("Y, and group {group} shows no IOMMU domain ({shown}): a vfio-noiommu group as far as the host shows"),
    ))
}

/// Marks a function whose IOMMU group is a vfio-noiommu group.
fn with_group_kind(root: &Root, mut f: PciFunction) -> PciFunction {
    if let Some(ev) = f.facts.iommu_group.and_then(|g| noiommu_group(root, g)) {
        f.facts.evidence.push(ev.clone());
        f.facts.noiommu = Some(ev);
    }
    f
}

/// A function whose directory cannot be opened: every fact unknown.
fn unreadable(dir: &str, address: &str, e: ReadError) -> PciFunction {
    let why = e.reason();
    PciFunction {
        facts: DeviceFacts {
            address: address.to_string(),
            vendor: None,
            device: None,
            class: None,
            driver: None,
            iommu_group: None,
            header: HeaderKind::Unknown,
            bars: None,
            msix: MsixFacts::Unknown { rule: RuleId::DEVICE_CONFIG_UNREADABLE, why: format!("{dir}: {why}") },
            hot_windows: Vec::new(),
            evidence: vec![Evidence::new(dir, why)],
            vfio_regions: Vec::new(),
            noiommu: None,
        },
        msi_irqs: Vec::new(),
        of_node: None,
        domain: parse_address(address).map_or(0, |a| u32::from(a.domain)),
    }
}

/// The evidence of one function's facts, each keyed by the file under its directory.
struct Notes<'a> {
    dir: &'a str,
    evidence: Vec<Evidence>,
}

impl Notes<'_> {
    fn note(&mut self, file: &str, observed: String) {
        self.evidence.push(Evidence::new(format!("{}/{file}", self.dir), observed));
    }
}

/// A config image checked against the attributes the kernel serves from the same registers.
struct CheckedConfig {
    cfg: ParsedConfig,
    vendor: Option<u16>,
    device: Option<u16>,
    class: Option<u32>,
}

fn gather_in(root: &Dir<'_>, dir: &str, address: &str, has_dt: bool) -> PciFunction {
    let mut notes = Notes { dir, evidence: Vec::new() };
    let CheckedConfig { cfg, vendor, device, class } = read_config(root, &mut notes);
    let bars = read_bars(root, &mut notes);
    let mut link = |file: &str| -> Option<String> {
        match root.read_link(file) {
            Ok(t) => {
                notes.note(file, format!("-> {t}"));
                Some(t)
            }
            Err(e) => {
                notes.note(file, e.reason());
                None
            }
        }
    };
    let driver = link("driver").and_then(|t| link_name(&t));
    let iommu_group = link("iommu_group").and_then(|t| link_name(&t)).and_then(|g| g.parse().ok());
    let of_node = has_dt
        .then(|| root.read_link("of_node").ok())
        .flatten()
        .and_then(|t| t.split_once("devicetree/base/").map(|(_, p)| p.to_string()));
    let mut msi_irqs: Vec<u32> =
        root.list("msi_irqs").unwrap_or_default().iter().filter_map(|n| n.parse().ok()).collect();
    msi_irqs.sort_unstable();
    if !msi_irqs.is_empty() {
        notes.note("msi_irqs", format!("{} vectors allocated: {:?}", msi_irqs.len(), msi_irqs));
    }

    let hot_windows = cfg.hot_windows(class, |i| bars.as_ref()?.iter().find(|b| b.index == i).map(|b| b.size));
    if let Some(why) = HotRegisterEntry::table_error() {
        let observed = format!("{why}: only the built-in NVMe and virtio windows are known");
        notes.evidence.push(Evidence::new("msix-policy:hot-registers", observed));
    }

    PciFunction {
        facts: DeviceFacts {
            address: address.to_string(),
            vendor,
            device,
            class,
            driver,
            iommu_group,
            header: cfg.header,
            bars,
            msix: cfg.msix,
            hot_windows,
            evidence: notes.evidence,
            vfio_regions: Vec::new(),
            noiommu: None,
        },
        msi_irqs,
        of_node,
        domain: parse_address(address).map_or(0, |a| u32::from(a.domain)),
    }
}

/// Reads `config` and checks it against the `vendor`, `device` and `class` attributes: a config
/// that disagrees with them is corrupt and its MSI-X unknown; a bridge by any source stays one.
fn read_config(root: &Dir<'_>, notes: &mut Notes<'_>) -> CheckedConfig {
    let mut cfg = match root.read("config") {
        Ok(bytes) => {
            let p = ParsedConfig::parse(&bytes);
            notes.note("config", p.describe());
            p
        }
        Err(e) => {
            notes.note("config", e.reason());
            let mut p = ParsedConfig::parse(&[]);
            p.msix =
                MsixFacts::Unknown { rule: RuleId::DEVICE_CONFIG_UNREADABLE, why: format!("config unreadable: {e}") };
            p
        }
    };
    let attr = |file: &str| -> Option<u32> {
        root.read_value(file).ok().and_then(|v| parse_hex(&v)).and_then(|v| u32::try_from(v).ok())
    };
    // An SR-IOV virtual function (a `physfn` link to its PF) reads Vendor and Device ID 0xFFFF
    // in its own config space by specification (SR-IOV 1.1, 3.4.1.1-2); the kernel takes the
    // ids from the PF's SR-IOV capability (drivers/pci/iov.c, pci_iov_add_virtfn) and serves
    // them as the `vendor` and `device` attributes. Everything else in its config is its own.
    let physfn = root.read_link("physfn").ok();
    if let Some(pf) = &physfn {
        notes.note(
            "physfn",
            format!(
                "-> {pf}: an SR-IOV virtual function of {}; its config reads Vendor/Device ID 0xFFFF by \
                 specification, the ids are the kernel's vendor/device attributes",
                link_name(pf).unwrap_or_else(|| pf.clone())
            ),
        );
    }
    let vf_id = |v: Option<u16>| physfn.is_some() && v == Some(0xffff);
    let (vf_vendor, vf_device) = (vf_id(cfg.vendor), vf_id(cfg.device));
    if vf_vendor {
        cfg.vendor = None;
    }
    if vf_device {
        cfg.device = None;
    }
    // `vendor` is always read to check the config image; `device` and `class` only when the
    // image lacks them or already disagrees (each attribute read is three system calls).
    let vendor_attr = attr("vendor");
    let whole = cfg.vendor.is_some() && cfg.class.is_some();
    let agrees = vendor_attr.is_none() || vendor_attr == cfg.vendor.map(u32::from);
    let (device_attr, class_attr) = if whole && agrees { (None, None) } else { (attr("device"), attr("class")) };
    let vendor = vendor_attr.or(cfg.vendor.map(u32::from)).and_then(|v| u16::try_from(v).ok());
    let device = device_attr.or(cfg.device.map(u32::from)).and_then(|v| u16::try_from(v).ok());
    let class = class_attr.or(cfg.class);
    // The kernel serves `vendor`, `device` and `class` from the same config space: a `config`
    // that disagrees with them is corrupt, and nothing in it is trusted.
    let disagree = [
        ("vendor", cfg.vendor.map(u32::from), vendor_attr),
        ("device", cfg.device.map(u32::from), device_attr),
        ("class", cfg.class, class_attr),
    ]
    .into_iter()
    .find(|(_, c, a)| c.is_some() && a.is_some() && c != a);
    if let Some((what, c, a)) = disagree {
        let why = format!(
            "config says {what} {:#x}, the {what} attribute says {:#x}: config is corrupt",
            c.unwrap_or(0),
            a.unwrap_or(0)
        );
        notes.note("config", why.clone());
        cfg.msix = MsixFacts::Unknown { rule: RuleId::DEVICE_CONFIG_INCONSISTENT, why };
        cfg.virtio.clear();
    }
    // A bridge is not assignable: believe any source that says so (header type or class code),
    // so that a corrupt or missing config never turns a bridge into an endpoint.
    // A VF's ids are the attributes': the rest of the engine (hot windows) sees those.
    if vf_vendor {
        cfg.vendor = vendor;
    }
    if vf_device {
        cfg.device = device;
    }
    let bridge_class = [class, cfg.class].into_iter().flatten().any(|c| matches!(c >> 8, 0x0604 | 0x0607 | 0x0609));
    if bridge_class && !matches!(cfg.header, HeaderKind::Bridge | HeaderKind::CardBus) {
        cfg.header = HeaderKind::Bridge;
    }
    CheckedConfig { cfg, vendor, device, class }
}

/// The BARs from `resource`; `None` when it cannot be read or parsed.
fn read_bars(root: &Dir<'_>, notes: &mut Notes<'_>) -> Option<Vec<msix_policy_engine::Bar>> {
    match root
        .read_text("resource")
        .map_err(|e| e.reason())
        .and_then(|t| resource::parse(&t).map_err(|e| e.to_string()))
    {
        Ok(b) => {
            let list: Vec<String> =
                b.iter().map(|b| format!("BAR{} {} {:#x}@{:#x}", b.index, b.kind, b.size, b.start)).collect();
            notes.note("resource", list.join(", "));
            Some(b)
        }
        Err(e) => {
            notes.note("resource", e);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msix_policy_engine::MsixCapability;

    /// A root holding one function at `0000:01:10.0`: `config` (256 bytes: `ids` at 0, class
    /// 02:00:00, an MSI-X capability at 0x70 with 3 vectors, table BAR3 + 0, PBA BAR3 + 0x2000),
    /// the sysfs attributes of an 82576 VF (8086:10ca), and a `physfn` link when `vf`.
    fn function(dir: &std::path::Path, ids: [u8; 4], vf: bool) -> PciFunction {
        let d = dir.join("sys/bus/pci/devices/0000:01:10.0");
        std::fs::create_dir_all(&d).unwrap();
        let mut config = vec![0u8; 256];
        config[0..4].copy_from_slice(&ids);
        config[0x06] = 0x10;
        config[0x09..0x0c].copy_from_slice(&[0x00, 0x00, 0x02]);
        config[0x34] = 0x70;
        config[0x70..0x7c].copy_from_slice(&[0x11, 0, 2, 0, 3, 0, 0, 0, 0x03, 0x20, 0, 0]);
        std::fs::write(d.join("config"), config).unwrap();
        std::fs::write(d.join("vendor"), "0x8086\n").unwrap();
        std::fs::write(d.join("device"), "0x10ca\n").unwrap();
        std::fs::write(d.join("class"), "0x020000\n").unwrap();
        let mut resource = String::new();
        for i in 0..13 {
            let (s, e, f) = match i {
                0 => (0xf800_0000u64, 0xf800_3fffu64, 0x0014_0204u64),
                3 => (0xf802_0000, 0xf802_3fff, 0x0014_0204),
                _ => (0, 0, 0),
            };
            resource.push_str(&format!("0x{s:016x} 0x{e:016x} 0x{f:016x}\n"));
        }
        std::fs::write(d.join("resource"), resource).unwrap();
        if vf {
            std::os::unix::fs::symlink("../0000:01:00.0", d.join("physfn")).unwrap();
        }
        let root = Root::open(dir).unwrap();
        gather(&root, "0000:01:10.0")
    }

    fn temp(tag: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("msix-pci-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn a_vf_reads_ffff_ids_by_spec_and_keeps_its_msix() {
        let dir = temp("vf");
        let f = function(&dir, [0xff; 4], true);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!((f.facts.vendor, f.facts.device), (Some(0x8086), Some(0x10ca)));
        let MsixFacts::Present { capability } = f.facts.msix else { panic!("{:?}", f.facts.msix) };
        let want = MsixCapability {
            cap_offset: 0x70,
            table_size: 3,
            table_bir: 3,
            table_offset: 0,
            pba_bir: 3,
            pba_offset: 0x2000,
        };
        assert_eq!(capability, want);
        let pf = f.facts.evidence.iter().find(|e| e.source.ends_with("/physfn")).expect("the PF is named");
        assert!(pf.observed.starts_with("-> ../0000:01:00.0"), "{pf:?}");
        assert!(pf.observed.contains("virtual function of 0000:01:00.0"), "{pf:?}");
    }

    #[test]
    fn ffff_ids_without_physfn_are_still_inconsistent() {
        let dir = temp("not-vf");
        let f = function(&dir, [0xff; 4], false);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            matches!(&f.facts.msix, MsixFacts::Unknown { rule, .. } if rule == RuleId::DEVICE_CONFIG_INCONSISTENT),
            "{:?}",
            f.facts.msix
        );
        assert!(!f.facts.evidence.iter().any(|e| e.source.ends_with("/physfn")));
    }

    #[test]
    fn a_vf_whose_config_names_other_ids_is_inconsistent() {
        // Only 0xFFFF is what a VF reads; any other id that disagrees is corruption.
        let dir = temp("vf-other");
        let f = function(&dir, [0x34, 0x12, 0xca, 0x10], true);
        let _ = std::fs::remove_dir_all(&dir);
        let MsixFacts::Unknown { rule, why } = &f.facts.msix else { panic!("{:?}", f.facts.msix) };
        assert_eq!(rule, RuleId::DEVICE_CONFIG_INCONSISTENT);
        assert!(why.contains("vendor 0x1234"), "{why}");
    }
}

#[cfg(test)]
mod noiommu_tests {
    use super::*;

    fn root_with(files: &[(&str, &str)], tag: &str) -> (std::path::PathBuf, Root) {
        let dir = std::env::temp_dir().join(format!("msix-noiommu-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (p, v) in files {
            let p = dir.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, v).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        let root = Root::open(&dir).unwrap();
        (dir, root)
    }

    #[test]
    fn a_noiommu_group_is_seen_by_its_name_or_by_the_mode_without_a_domain() {
        let (d, r) = root_with(&[("sys/kernel/iommu_groups/3/name", "vfio-noiommu\n")], "name");
        assert_eq!(noiommu_group(&r, 3).map(|e| e.source), Some("sys/kernel/iommu_groups/3/name".into()));
        assert_eq!(noiommu_group(&r, 4), None);
        let _ = std::fs::remove_dir_all(d);
        // The mode on: a group without a domain type (or whose type cannot be read) is noiommu,
        // one of a real IOMMU (type DMA) is not.
        let files = [
            (NOIOMMU_PARAM, "Y\n"),
            ("sys/kernel/iommu_groups/5/type", "unknown\n"),
            ("sys/kernel/iommu_groups/6/type", "DMA\n"),
        ];
        let (d, r) = root_with(&files, "mode");
        assert!(noiommu_group(&r, 5).is_some_and(|e| e.observed.contains("type \"unknown\"")));
        assert!(noiommu_group(&r, 7).is_some(), "no type file");
        assert_eq!(noiommu_group(&r, 6), None);
        let _ = std::fs::remove_dir_all(d);
        // The mode off: only the name says noiommu.
        let files = [(NOIOMMU_PARAM, "N\n"), ("sys/kernel/iommu_groups/5/type", "unknown\n")];
        let (d, r) = root_with(&files, "off");
        assert_eq!(noiommu_group(&r, 5), None);
        let _ = std::fs::remove_dir_all(d);
    }
}
