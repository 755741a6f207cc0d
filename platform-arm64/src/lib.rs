//! arm64 hosts: which MSI controller serves each function. A GICv3 ITS translates by DeviceID
//! and isolates; GICv2m frames and GICv3 MBI do not. Evidence: the function's chip names in
//! `/proc/interrupts`, the device tree (`msi-parent`, `msi-map`), and on ACPI hosts the MADT
//! and the IORT (each requester ID mapped to its ITS, the `iort` module).

#![deny(missing_docs)]

mod iort;

use iort::{Iort, Malformed, Walk};
use msix_backends::acpi::{self, SubtableLayout};
use msix_backends::devicetree as dt;
use msix_backends::host::KernelSources;
use msix_backends::platform::{chip_evidence, msi_chips};
use msix_backends::{HostContext, PciFunction, PlatformAssessment, PlatformBackend, Root};
use msix_policy_engine::{Evidence, IsolationVerdict, Platform, RuleId};

/// MADT sub-table types (ACPI 6.x, 5.2.12).
pub(crate) const MADT_GIC_MSI_FRAME: u16 = 0x0d;
pub(crate) const MADT_GIC_ITS: u16 = 0x0f;

/// An MSI controller kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MsiController {
    Its,
    GicV2m,
    Mbi,
    /// A GICv5 ITS (Linux 6.17 on, drivers/irqchip/irq-gic-v5-its.c).
    ItsV5,
}

/// Per-device MSI domain chip names: the parent's `msi_parent_ops.prefix` followed by
/// `PCI-MSI-<bdf>` or `PCI-MSIX-<bdf>` (kernel/irq/msi.c msi_create_device_irq_domain), with the
/// prefix each driver registers, exactly.
const CHIP_PREFIXES: &[(&str, MsiController)] = &[
    // irq-gic-its-msi-parent.c gic_v3_its_msi_parent_ops / gic_v5_its_msi_parent_ops.
    ("ITS-", MsiController::Its),
    ("ITS-v5-", MsiController::ItsV5),
    // irq-gic-v2m.c gicv2m_msi_parent_ops, irq-gic-v3-mbi.c mbi_msi_parent_ops.
    ("GICv2m-", MsiController::GicV2m),
    ("MBI-", MsiController::Mbi),
];

/// Global PCI MSI chip names of kernels before per-device MSI domains that name their
/// controller: irq-gic-v3-its-pci-msi.c `its_msi_irq_chip` ("ITS-MSI"). GICv2m's ("MSI") and
/// MBI's ("PCI-MSI") name no controller, so the firmware decides for them.
const GLOBAL_CHIPS: &[(&str, MsiController)] = &[("ITS-MSI", MsiController::Its)];

impl MsiController {
    /// The controller a chip name identifies, by the exact names its driver registers: a global
    /// chip name (`ITS-MSI`), or a per-device name `<prefix>PCI-MSI-<bdf>`/`<prefix>PCI-MSIX-<bdf>`
    /// with a known prefix (`ITS-`, `ITS-v5-`, `GICv2m-`, `MBI-`). Anything else (`MSI`,
    /// `PCI-MSI`, a name that merely contains "ITS") identifies nothing.
    pub fn from_chip(chip: &str) -> Option<Self> {
        if let Some((_, k)) = GLOBAL_CHIPS.iter().find(|(name, _)| *name == chip) {
            return Some(*k);
        }
        CHIP_PREFIXES.iter().find_map(|(prefix, k)| {
            let rest = chip.strip_prefix(prefix)?;
            let bdf = rest.strip_prefix("PCI-MSIX-").or_else(|| rest.strip_prefix("PCI-MSI-"))?;
            msix_backends::pci::parse_address(bdf).map(|_| *k)
        })
    }

    fn from_compatible(c: &str) -> Option<Self> {
        match c {
            "arm,gic-v3-its" => Some(MsiController::Its),
            "arm,gic-v2m-frame" => Some(MsiController::GicV2m),
            _ => None,
        }
    }

    /// An ITS of either generation: translates by DeviceID.
    fn is_its(self) -> bool {
        matches!(self, MsiController::Its | MsiController::ItsV5)
    }

    pub fn verdict(self, ev: Vec<Evidence>) -> IsolationVerdict {
        match self {
            MsiController::Its => {
                IsolationVerdict::isolated(RuleId::ARM64_ITS, "GICv3 ITS translates MSIs by DeviceID", ev)
            }
            MsiController::ItsV5 => IsolationVerdict::isolated(
                RuleId::ARM64_GICV5_ITS,
                "GICv5 ITS translates MSIs by DeviceID (its driver sets IRQ_DOMAIN_FLAG_ISOLATED_MSI)",
                ev,
            ),
            MsiController::GicV2m => {
                IsolationVerdict::not_isolated(RuleId::ARM64_GICV2M, "GICv2m cannot tell which device wrote", ev)
            }
            MsiController::Mbi => {
                IsolationVerdict::not_isolated(RuleId::ARM64_MBI, "GICv3 MBI cannot tell which device wrote", ev)
            }
        }
    }
}

/// GICv5 device-tree compatibles (Documentation/devicetree/bindings/interrupt-controller/
/// arm,gic-v5.yaml): the GIC, its Interrupt Routing Services, their ITSs.
pub(crate) const GICV5: &str = "arm,gic-v5";
pub(crate) const GICV5_IRS: &str = "arm,gic-v5-irs";
pub(crate) const GICV5_ITS: &str = "arm,gic-v5-its";

/// The GICv5 ITS a node is, or belongs to: the `arm,gic-v5-its` node itself, or one of its
/// translate frames (a child with `msi-controller` and no `compatible`: the node an `msi-map`
/// or `msi-parent` names). Linux probes an ITS only as a child of an IRS
/// (irq-gic-v5-irs.c gicv5_irs_its_probe -> irq-gic-v5-its.c gicv5_its_of_probe) and an IRS
/// only as a child of the GIC (irq-gic-v5.c -> gicv5_irs_of_probe), so the ITS must sit under an
/// `arm,gic-v5-irs` node under an `arm,gic-v5` node. Returns the ITS node's path.
pub(crate) fn gicv5_its_of(root: &Root, tree: &dt::DeviceTree, node: &dt::Node) -> Option<String> {
    let compat = |path: &str, c: &str| tree.nodes.iter().any(|n| n.path == path && n.compatible.iter().any(|x| x == c));
    let parent = |path: &str| path.rsplit_once('/').map(|(p, _)| p.to_string());
    let its = if node.compatible.iter().any(|c| c == GICV5_ITS) {
        node.path.clone()
    } else {
        let p = parent(&node.path)?;
        let frame = node.compatible.is_empty() && root.exists(&dt::path(&format!("{}/msi-controller", node.path)));
        (frame && compat(&p, GICV5_ITS)).then_some(p)?
    };
    let irs = parent(&its)?;
    let gic = parent(&irs)?;
    (compat(&irs, GICV5_IRS) && compat(&gic, GICV5)).then_some(its)
}

/// The controllers a host declares, with where they were seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Controllers {
    pub found: Vec<(MsiController, Evidence)>,
    pub smmu: Option<Evidence>,
    /// The device tree, read once.
    pub tree: dt::DeviceTree,
    /// An ITS driver quirk that clears MSI isolation, with where it was seen.
    pub its_quirk: Option<Evidence>,
    /// The MADT's GIC ITS entries: (GIC ITS ID, base address). Not empty on an ACPI host with
    /// an ITS.
    pub madt_its: Vec<(u32, u64)>,
    /// The IORT, read once; why not when it is missing or malformed.
    pub iort: Result<Iort, Malformed>,
    /// GICv5 Interrupt Routing Services of the device tree (evidence: they route LPIs, the ITSs
    /// under them translate MSIs).
    pub gicv5_irs: Vec<Evidence>,
}

impl Default for Controllers {
    fn default() -> Self {
        Controllers {
            found: Vec::new(),
            smmu: None,
            tree: dt::DeviceTree::default(),
            its_quirk: None,
            madt_its: Vec::new(),
            iort: Err(Malformed("not read".into())),
            gicv5_irs: Vec::new(),
        }
    }
}

impl Controllers {
    pub fn read(root: &Root, kernel: &KernelSources) -> Self {
        let mut c = Controllers { tree: dt::DeviceTree::load(root), ..Default::default() };
        c.its_quirk = its_isolation_quirk(root, &c.tree, kernel);
        for (node, compat) in c.tree.find_compatible(&["arm,gic-v3-its", "arm,gic-v2m-frame"]) {
            if let Some(k) = MsiController::from_compatible(&compat) {
                c.found.push((k, Evidence::new(dt::path(&format!("{node}/compatible")), compat)));
            }
        }
        for (node, compat) in c.tree.find_compatible(&[GICV5_IRS]) {
            c.gicv5_irs.push(Evidence::new(dt::path(&format!("{node}/compatible")), compat));
        }
        let v5: Vec<(String, String)> = c.tree.find_compatible(&[GICV5_ITS]);
        for (node, compat) in v5 {
            let Some(n) = c.tree.nodes.iter().find(|n| n.path == node) else { continue };
            if gicv5_its_of(root, &c.tree, n).is_some() {
                c.found.push((MsiController::ItsV5, Evidence::new(dt::path(&format!("{node}/compatible")), compat)));
            }
        }
        for (node, _) in c.tree.find_compatible(&["arm,gic-v3"]) {
            if root.exists(&dt::path(&format!("{node}/mbi-ranges"))) {
                c.found.push((MsiController::Mbi, Evidence::new(dt::path(&format!("{node}/mbi-ranges")), "present")));
            }
        }
        c.iort = Iort::read(root);
        if let Ok(madt) = acpi::table(root, "APIC") {
            c.madt_its = iort::madt_its(&madt);
            // MADT: 36-byte header, then local interrupt controller address and flags (8 bytes).
            for (ty, _, _) in acpi::subtables(&madt, acpi::HEADER_LEN + 8, SubtableLayout::Byte) {
                let kind = match ty {
                    MADT_GIC_ITS => MsiController::Its,
                    MADT_GIC_MSI_FRAME => MsiController::GicV2m,
                    _ => continue,
                };
                if !c.found.iter().any(|(k, e)| *k == kind && e.source.ends_with("APIC")) {
                    let what = if kind == MsiController::Its { "GIC ITS structure" } else { "GIC MSI frame structure" };
                    c.found.push((kind, Evidence::new(format!("{}/APIC", acpi::TABLES), what)));
                }
            }
        }
        let smmu_dt = c.tree.find_compatible(&["arm,smmu-v3", "arm,mmu-500", "arm,smmu-v2", "arm,mmu-401"]);
        c.smmu = smmu_dt
            .first()
            .map(|(n, compat)| Evidence::new(dt::path(&format!("{n}/compatible")), compat.clone()))
            .or_else(|| {
                let table = c.iort.as_ref().ok()?;
                table
                    .nodes
                    .iter()
                    .find(|n| n.ty == iort::SMMU_V3 || n.ty == iort::SMMU)
                    .map(|n| Evidence::new(iort::source(), format!("SMMU node type {}", n.ty)))
            });
        c
    }

    fn kinds(&self) -> Vec<MsiController> {
        let mut k: Vec<MsiController> = self.found.iter().map(|f| f.0).collect();
        k.dedup();
        k.sort_by_key(|k| *k as u8);
        k.dedup();
        k
    }
}

/// The arm64 backend: GICv3/v5 ITS, GICv2m, the device tree and the ACPI IORT.
#[derive(Debug, Default, Clone, Copy)]
pub struct Arm64Backend;

impl PlatformBackend for Arm64Backend {
    fn name(&self) -> &'static str {
        "arm64"
    }

    fn assess(&self, ctx: &HostContext<'_>, functions: &[PciFunction]) -> PlatformAssessment {
        let ctl = Controllers::read(ctx.root, ctx.kernel);
        let mut evidence: Vec<Evidence> = ctl.found.iter().map(|f| f.1.clone()).collect();
        evidence.extend(ctl.its_quirk.clone());
        if evidence.is_empty() {
            evidence.push(Evidence::new(dt::path(""), "no ITS, GICv2m or MBI in the device tree or MADT"));
        }
        evidence.extend(ctl.gicv5_irs.iter().cloned());
        evidence.push(
            ctl.smmu.clone().unwrap_or_else(|| Evidence::new("sys/firmware", "no SMMU in the device tree or IORT")),
        );
        if !ctl.madt_its.is_empty() {
            evidence.push(match &ctl.iort {
                Ok(t) => {
                    let mut kinds: Vec<&str> = t.nodes.iter().map(|n| n.name()).collect();
                    kinds.sort_unstable();
                    kinds.dedup();
                    Evidence::new(
                        iort::source(),
                        format!("revision {}, {} nodes ({})", t.revision, t.nodes.len(), kinds.join(", ")),
                    )
                }
                Err(Malformed(why)) => Evidence::new(iort::source(), format!("cannot be used: {why}")),
            });
        }
        let bridges = host_bridges(ctx.root, &ctl.tree);
        let mut routes: Vec<FwRoute> = functions.iter().map(|f| firmware_route(ctx.root, &ctl, &bridges, f)).collect();
        mark_shared_its_device_ids(&mut routes, functions);
        let verdicts = functions.iter().zip(&routes).map(|(f, r)| device_verdict(ctx, f, &ctl, &bridges, r)).collect();
        PlatformAssessment { platform: Platform::Arm64, evidence, verdicts }
    }
}

/// Host bridge compatibles recognised even without `device_type = "pci"`.
const HOST_BRIDGES: &[&str] = &["pci-host-ecam-generic", "pci-host-cam-generic"];

/// A PCI host bridge of the device tree: a node with `device_type = "pci"` (the DT PCI bus
/// binding requires it of every host bridge, whatever its driver) or a generic ECAM/CAM
/// compatible, that is not itself below another PCI node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostBridge {
    pub node: String,
    /// `linux,pci-domain`.
    pub domain: Option<u32>,
    /// The buses it can hold: `bus-range` (0-0xff when absent, as drivers/pci/of.c
    /// of_pci_parse_bus_range's callers default), clipped to the buses its ECAM (1 MiB a bus) or
    /// CAM (64 KiB a bus) `reg` window spans, as drivers/pci/ecam.c pci_ecam_create does. Empty
    /// when `lo > hi`.
    pub buses: (u32, u32),
    /// The first `reg` address: Linux names the bridge's platform device `<addr>.<node name>`
    /// (drivers/of/platform.c of_device_make_bus_id), which is where its functions sit in sysfs.
    pub base: Option<u64>,
}

impl HostBridge {
    fn holds(&self, bus: u32) -> bool {
        self.buses.0 <= bus && bus <= self.buses.1
    }
}

fn first_cell(root: &Root, prop: &str) -> Option<u32> {
    dt::cells(root, prop).and_then(|c| c.first().copied())
}

/// Every PCI host bridge of the tree.
pub(crate) fn host_bridges(root: &Root, tree: &dt::DeviceTree) -> Vec<HostBridge> {
    let is_pci = |n: &dt::Node| {
        n.device_type.as_deref() == Some("pci") || n.compatible.iter().any(|c| HOST_BRIDGES.contains(&c.as_str()))
    };
    let pci: Vec<&dt::Node> = tree.nodes.iter().filter(|n| !n.path.is_empty() && is_pci(n)).collect();
    pci.iter()
        .filter(|n| !dt::ancestry(&n.path).skip(1).any(|a| pci.iter().any(|p| p.path == a)))
        .map(|n| {
            let parent = n.path.rsplit_once('/').map_or("", |(p, _)| p);
            let in_parent = |p: &str| if parent.is_empty() { p.to_string() } else { format!("{parent}/{p}") };
            // The parent's cell counts (DT spec defaults: 2 address cells, 1 size cell).
            let ac = first_cell(root, &in_parent("#address-cells")).unwrap_or(2) as usize;
            let sc = first_cell(root, &in_parent("#size-cells")).unwrap_or(1) as usize;
            let reg = dt::cells(root, &format!("{}/reg", n.path)).unwrap_or_default();
            let join = |c: &[u32]| c.iter().fold(0u64, |a, &x| (a << 32) | u64::from(x));
            let base = ((1..=2).contains(&ac) && reg.len() >= ac).then(|| join(&reg[..ac]));
            let size = ((1..=2).contains(&sc) && reg.len() >= ac + sc).then(|| join(&reg[ac..ac + sc]));
            let (lo, mut hi) = match dt::cells(root, &format!("{}/bus-range", n.path)).as_deref() {
                Some([a, b, ..]) if a <= b => (*a, (*b).min(0xff)),
                _ => (0, 0xff),
            };
            let shift = if n.compatible.iter().any(|c| c == "pci-host-cam-generic") {
                Some(16)
            } else if n.compatible.iter().any(|c| c.contains("ecam")) {
                Some(20)
            } else {
                None
            };
            if let (Some(shift), Some(size)) = (shift, size) {
                let buses = size >> shift;
                hi = if buses == 0 {
                    lo.wrapping_sub(1)
                } else {
                    hi.min(lo.saturating_add((buses - 1).min(0xff) as u32))
                };
            }
            let (lo, hi) = if hi < lo || (hi == u32::MAX && lo == 0) { (1, 0) } else { (lo, hi) };
            HostBridge {
                node: n.path.clone(),
                domain: first_cell(root, &format!("{}/linux,pci-domain", n.path)),
                buses: (lo, hi),
                base,
            }
        })
        .collect()
}

/// The hex unit address of a node name (`pcie@4010000000` -> 0x4010000000).
fn unit_address(node: &str) -> Option<u64> {
    let name = node.rsplit('/').next()?;
    let unit = name.split_once('@')?.1.split(',').next()?;
    u64::from_str_radix(unit, 16).ok()
}

/// The platform device a function sits under in sysfs, as an address:
/// `.../devices/platform/4010000000.pcie/pci0001:00/0001:00:01.0` -> 0x4010000000.
fn platform_device_address(link: &str) -> Option<u64> {
    let parts: Vec<&str> = link.split('/').collect();
    parts.windows(2).find_map(|w| {
        let bus_dir = w[1].strip_prefix("pci").is_some_and(|r| r.contains(':'));
        if !bus_dir {
            return None;
        }
        let (addr, _) = w[0].split_once('.')?;
        u64::from_str_radix(addr, 16).ok()
    })
}

/// The host bridge of a function, never another bridge's: its `of_node` ancestry when it has
/// one; else, when the tree numbers its bridges with `linux,pci-domain`, the bridge of the
/// function's domain (drivers/pci/pci.c of_get_pci_domain_nr: Linux then takes domains from the
/// tree); else, among the bridges whose bus range (`bus-range`, clipped to the ECAM window of
/// `reg`) holds the function's bus, the one whose `reg` address or unit address names the
/// platform device the function sits under in sysfs, or the only one. `None` when nothing ties
/// the function to exactly one bridge.
pub(crate) fn host_bridge_of<'a>(
    root: &Root,
    bridges: &'a [HostBridge],
    f: &PciFunction,
) -> Option<(&'a HostBridge, Evidence)> {
    if let Some(node) = &f.of_node {
        let host = dt::ancestry(node).find_map(|a| bridges.iter().find(|b| b.node == a))?;
        return Some((host, Evidence::new(format!("{}/of_node", sysfs_dir(f)), node.clone())));
    }
    if bridges.iter().any(|b| b.domain.is_some()) {
        let by_domain: Vec<&HostBridge> = bridges.iter().filter(|b| b.domain == Some(f.domain)).collect();
        let [only] = by_domain.as_slice() else { return None };
        let ev = Evidence::new(
            dt::path(&format!("{}/linux,pci-domain", only.node)),
            format!("{} (the function's PCI domain)", f.domain),
        );
        return Some((only, ev));
    }
    let bus = requester_id(f).map(|rid| rid >> 8);
    let holding: Vec<&HostBridge> = bridges.iter().filter(|b| bus.is_some_and(|bus| b.holds(bus))).collect();
    let link = root.read_link(&sysfs_dir(f)).unwrap_or_default();
    if let Some(addr) = platform_device_address(&link) {
        let named: Vec<&&HostBridge> =
            holding.iter().filter(|b| b.base == Some(addr) || unit_address(&b.node) == Some(addr)).collect();
        if let [only] = named.as_slice() {
            let ev = Evidence::new(
                sysfs_dir(f),
                format!(
                    "-> {link} (platform device {addr:x}: host bridge {}, buses {:#04x}-{:#04x})",
                    only.node, only.buses.0, only.buses.1
                ),
            );
            return Some((only, ev));
        }
    }
    let [only] = holding.as_slice() else { return None };
    let ev = Evidence::new(
        dt::path(&only.node),
        format!(
            "the only PCI host bridge whose buses ({:#04x}-{:#04x}, bus-range and reg) hold bus {:#04x}",
            only.buses.0,
            only.buses.1,
            bus.unwrap_or_default()
        ),
    );
    Some((only, ev))
}

/// The function's PCI requester ID (bus << 8 | device << 3 | function); `None` for an address
/// that does not parse.
fn requester_id(f: &PciFunction) -> Option<u32> {
    let a = msix_backends::pci::parse_address(&f.facts.address)?;
    Some((u32::from(a.bus) << 8) | (u32::from(a.device) << 3) | u32::from(a.function))
}

fn sysfs_dir(f: &PciFunction) -> String {
    format!("sys/bus/pci/devices/{}", f.facts.address)
}

/// Where a function's MSIs go by a node's `msi-map` or `msi-parent`, and as which DeviceID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MsiRoute {
    /// The node whose `msi-map`/`msi-parent` routed it.
    pub host: String,
    /// The `msi-map` entry (index) that matched; `None` for `msi-parent`.
    pub entry: Option<usize>,
    /// `msi-map-mask` (all ones when absent).
    pub mask: u32,
    pub phandle: u32,
    pub device_id: u32,
    pub evidence: Evidence,
}

/// A node's routing of one requester ID.
enum Route {
    Found(MsiRoute),
    /// The node has an `msi-map` and no entry covers the RID.
    Unmapped(Evidence),
    /// The node has neither property.
    Absent,
}

/// drivers/of/base.c of_map_id: the RID, masked by `msi-map-mask`, falls in an entry
/// (rid-base, phandle, msi-base, length) and maps to `msi-base + (rid - rid-base)`. Without
/// `msi-map`, `msi-parent` names the controller and the DeviceID is the RID.
fn msi_route(root: &Root, host: &str, rid: u32) -> Route {
    let map_prop = format!("{host}/msi-map");
    if let Some(map) = dt::cells(root, &map_prop) {
        let mask = first_cell(root, &format!("{host}/msi-map-mask")).unwrap_or(u32::MAX);
        let masked = rid & mask;
        for (i, e) in map.chunks_exact(4).enumerate() {
            let (base, phandle, out, len) = (e[0], e[1], e[2], e[3]);
            if masked >= base && masked - base < len {
                let device_id = out.wrapping_add(masked - base);
                let ev = Evidence::new(
                    dt::path(&map_prop),
                    format!(
                        "RID {rid:#06x}{} in entry {i} ({base:#x}, phandle {phandle:#x}, {out:#x}, {len:#x}) -> DeviceID {device_id:#x}",
                        if mask == u32::MAX { String::new() } else { format!(" (masked {mask:#x}: {masked:#06x})") }
                    ),
                );
                return Route::Found(MsiRoute {
                    host: host.to_string(),
                    entry: Some(i),
                    mask,
                    phandle,
                    device_id,
                    evidence: ev,
                });
            }
        }
        return Route::Unmapped(Evidence::new(dt::path(&map_prop), format!("no entry covers RID {rid:#06x}")));
    }
    let parent_prop = format!("{host}/msi-parent");
    match first_cell(root, &parent_prop) {
        Some(phandle) => Route::Found(MsiRoute {
            host: host.to_string(),
            entry: None,
            mask: u32::MAX,
            phandle,
            device_id: rid,
            evidence: Evidence::new(dt::path(&parent_prop), format!("phandle {phandle:#x}; DeviceID = RID {rid:#06x}")),
        }),
        None => Route::Absent,
    }
}

/// What the firmware (the device tree's `msi-map`/`msi-parent`, or the ACPI IORT) says of a
/// function's MSIs: one shape for both, so the verdict, the ITS quirk and the shared-DeviceID
/// rule are decided in one place ([`device_verdict`]).
#[derive(Debug)]
enum FwRoute {
    /// The route reaches a controller of a known kind.
    Routed {
        kind: MsiController,
        /// How the function was tied to its route (bridge or root complex) and the route itself.
        evidence: Vec<Evidence>,
        /// For an ITS: the evidence that another requester ID reaches the same ITS as the same
        /// DeviceID (`isolation.arm64.its-deviceid-shared`), then the route's own.
        shared: Option<Vec<Evidence>>,
        /// For a route to an ITS (device tree or IORT): (which ITS, DeviceID), compared across
        /// the host's functions by [`mark_shared_its_device_ids`].
        its_device: Option<(ItsKey, u32)>,
    },
    /// The firmware decides the function's verdict without a known controller (an `msi-map`
    /// that leaves its RID out, a route to an unknown node, an IORT route to no ITS).
    Decided(IsolationVerdict),
    /// The firmware says nothing of this function.
    Unknown,
}

/// Which ITS a route reaches: on ACPI the MADT GIC ITS ID, in a device tree the ITS node (for
/// a GICv5 translate frame, the ITS it belongs to: [`ItsKey::of_dt`]).
#[derive(Debug, Clone, PartialEq, Eq)]
enum ItsKey {
    Acpi(u32),
    Dt(String),
}

impl ItsKey {
    /// The ITS a device-tree route reaches: the GICv5 ITS a translate frame belongs to (frames
    /// of one ITS share its device table), else the controller node itself.
    fn of_dt(root: &Root, tree: &dt::DeviceTree, node: &str) -> Self {
        let its = tree.nodes.iter().find(|n| n.path == node).and_then(|n| gicv5_its_of(root, tree, n));
        ItsKey::Dt(its.unwrap_or_else(|| node.to_string()))
    }
}

impl std::fmt::Display for ItsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ItsKey::Acpi(id) => write!(f, "{id}"),
            ItsKey::Dt(node) => write!(f, "{node}"),
        }
    }
}

/// The controller kind of a phandle, with the node's path and `compatible`.
fn controller_of(root: &Root, tree: &dt::DeviceTree, phandle: u32) -> Option<(MsiController, String, Vec<String>)> {
    let target = tree.by_phandle(phandle)?;
    let (node, compat) = (&target.path, &target.compatible);
    if let Some(its) = gicv5_its_of(root, tree, target) {
        // A GICv5 translate frame has no compatible of its own: name its ITS's.
        let what = if its == *node { compat.clone() } else { vec![format!("translate frame of {its} ({GICV5_ITS})")] };
        return Some((MsiController::ItsV5, node.clone(), what));
    }
    let kind = compat
        .iter()
        .find_map(|c| MsiController::from_compatible(c))
        .or_else(|| root.exists(&dt::path(&format!("{node}/mbi-ranges"))).then_some(MsiController::Mbi))?;
    Some((kind, node.clone(), compat.clone()))
}

/// Every `msi-map`/`msi-parent` of a host bridge that names a phandle of no known MSI
/// controller: while one exists, the host's list of controllers may be missing a kind.
fn unresolved_targets(root: &Root, tree: &dt::DeviceTree, bridges: &[HostBridge]) -> Vec<Evidence> {
    let mut out = Vec::new();
    for b in bridges {
        let map = dt::cells(root, &format!("{}/msi-map", b.node));
        let handles: Vec<u32> = match &map {
            Some(m) => m.chunks_exact(4).map(|e| e[1]).collect(),
            None => first_cell(root, &format!("{}/msi-parent", b.node)).into_iter().collect(),
        };
        let prop = if map.is_some() { "msi-map" } else { "msi-parent" };
        for h in handles {
            if controller_of(root, tree, h).is_none() {
                out.push(Evidence::new(
                    dt::path(&format!("{}/{prop}", b.node)),
                    format!("phandle {h:#x} is no known MSI controller"),
                ));
            }
        }
    }
    out
}

/// The firmware route of a function: the device tree's, else on an ACPI host whose MADT lists an
/// ITS, the IORT's.
fn firmware_route(root: &Root, ctl: &Controllers, bridges: &[HostBridge], f: &PciFunction) -> FwRoute {
    match dt_route(root, &ctl.tree, bridges, f) {
        FwRoute::Unknown if !ctl.madt_its.is_empty() => acpi_route(ctl, f),
        r => r,
    }
}

/// The controller behind the function's own host bridge's `msi-map`/`msi-parent` (or, with an
/// `of_node`, behind the nearest ancestor that has one, as drivers/of/irq.c of_msi_map_id walks
/// up), for the function's own requester ID.
fn dt_route(root: &Root, tree: &dt::DeviceTree, bridges: &[HostBridge], f: &PciFunction) -> FwRoute {
    let Some(rid) = requester_id(f) else { return FwRoute::Unknown };
    let (hosts, tie): (Vec<String>, Evidence) = match &f.of_node {
        Some(node) => (
            dt::ancestry(node).map(str::to_string).collect(),
            Evidence::new(format!("{}/of_node", sysfs_dir(f)), node.clone()),
        ),
        None => match host_bridge_of(root, bridges, f) {
            Some((b, ev)) => (vec![b.node.clone()], ev),
            None => return FwRoute::Unknown,
        },
    };
    for host in hosts {
        match msi_route(root, &host, rid) {
            Route::Found(mut r) => {
                let Some((kind, node, compat)) = controller_of(root, tree, r.phandle) else {
                    r.evidence.observed = format!("{}: no known MSI controller has this phandle", r.evidence.observed);
                    return FwRoute::Decided(IsolationVerdict::unknown(
                        RuleId::ARM64_MSI_UNKNOWN,
                        "the host bridge routes this function's MSIs to a node that is no known MSI controller",
                        vec![tie, r.evidence],
                    ));
                };
                r.evidence.observed = format!("{} -> {node} ({})", r.evidence.observed, compat.join(", "));
                let its_device = kind.is_its().then(|| (ItsKey::of_dt(root, tree, &node), r.device_id));
                let mut evidence = vec![tie, r.evidence];
                // A mask that folds RIDs is evidence, not a verdict: whether another present
                // function really shares the DeviceID is decided across functions.
                if r.mask & 0xffff != 0xffff {
                    evidence.push(Evidence::new(
                        dt::path(&format!("{}/msi-map-mask", r.host)),
                        format!(
                            "{:#x}: RIDs that differ only in bits {:#x} would share DeviceID {:#x}",
                            r.mask,
                            !r.mask & 0xffff,
                            r.device_id
                        ),
                    ));
                }
                return FwRoute::Routed { kind, evidence, shared: None, its_device };
            }
            Route::Unmapped(e) => {
                return FwRoute::Decided(IsolationVerdict::unknown(
                    RuleId::ARM64_MSI_UNKNOWN,
                    "the host bridge's msi-map has no entry for this function's requester ID",
                    vec![tie, e],
                ))
            }
            Route::Absent => continue,
        }
    }
    FwRoute::Unknown
}

/// The IORT's route of a function on an ACPI host whose MADT lists an ITS: its root complex
/// (by PCI segment = PCI domain), its requester ID mapped through the ID mappings as
/// `iort_node_map_id` does, and the first ITS identifier of the ITS group reached
/// (`iort_dev_find_its_id` with index 0), which must be a GIC ITS of the MADT for Linux to
/// have an MSI domain for the function (`iort_get_device_domain`).
fn acpi_route(ctl: &Controllers, f: &PciFunction) -> FwRoute {
    let no_its = |why: &str, ev: Vec<Evidence>| {
        FwRoute::Decided(IsolationVerdict::not_isolated(RuleId::ARM64_IORT_NO_ITS, why, ev))
    };
    let madt_ids: Vec<u32> = ctl.madt_its.iter().map(|(id, _)| *id).collect();
    let table = match &ctl.iort {
        Ok(t) => t,
        Err(Malformed(why)) => {
            return FwRoute::Decided(IsolationVerdict::unknown(
                RuleId::ARM64_MSI_UNKNOWN,
                "the MADT lists a GIC ITS, but the IORT that maps each requester ID to its ITS is missing or cannot be read",
                vec![
                    Evidence::new(iort::madt_source(), format!("GIC ITS structures, ITS IDs {madt_ids:?}")),
                    Evidence::new(iort::source(), why.clone()),
                ],
            ))
        }
    };
    let Some(rid) = requester_id(f) else { return FwRoute::Unknown };
    match table.map_rid(f.domain, rid) {
        Walk::NoRootComplex => {
            let segments: Vec<u32> = table
                .nodes
                .iter()
                .filter_map(|n| match n.data {
                    iort::NodeData::RootComplex { segment } => Some(segment),
                    _ => None,
                })
                .collect();
            no_its(
                "no IORT root complex node has this function's PCI segment, so its requester ID reaches no ITS and it has no MSI domain",
                vec![Evidence::new(
                    iort::source(),
                    format!("no root complex node for segment {} (root complexes: segments {segments:?})", f.domain),
                )],
            )
        }
        Walk::Unmapped { steps, why } => no_its(
            "the IORT maps this function's requester ID to no ITS group, so it has no MSI domain",
            vec![Evidence::new(iort::source(), format!("{}: {why}", iort::describe(&steps)))],
        ),
        Walk::Broken { steps, why } => FwRoute::Decided(IsolationVerdict::unknown(
            RuleId::ARM64_MSI_UNKNOWN,
            "the IORT's ID mappings for this function's requester ID cannot be followed",
            vec![Evidence::new(iort::source(), format!("{}: {why}", iort::describe(&steps)))],
        )),
        Walk::Its { steps, its_ids, device_id, .. } => {
            let route = iort::its_evidence(&steps, &its_ids, device_id);
            match its_ids.first() {
                None => no_its("the ITS group the IORT maps this function to lists no ITS", vec![route]),
                Some(&id) => match ctl.madt_its.iter().find(|(m, _)| *m == id) {
                    Some((_, base)) => FwRoute::Routed {
                        kind: MsiController::Its,
                        evidence: vec![route, Evidence::new(iort::madt_source(), format!("GIC ITS ID {id} at {base:#x}"))],
                        shared: None,
                        its_device: Some((ItsKey::Acpi(id), device_id)),
                    },
                    None => no_its(
                        "the IORT maps this function to an ITS the MADT does not list, so Linux registers no MSI domain for it",
                        vec![
                            route,
                            Evidence::new(iort::madt_source(), format!("GIC ITS structures list ITS IDs {madt_ids:?}, not {id}")),
                        ],
                    ),
                },
            }
        }
    }
}

/// Marks the IORT routes whose (ITS, DeviceID) another present function reaches too while
/// outside the function's IOMMU group (or with either group unknown): the ITS keeps one
/// interrupt translation table for that DeviceID (irq-gic-v3-its.c its_msi_prepare) and either
/// function can raise the other's interrupts. Functions of one IOMMU group (DMA aliases) are
/// assigned together and share nothing they do not already share.
fn mark_shared_its_device_ids(routes: &mut [FwRoute], functions: &[PciFunction]) {
    let keys: Vec<Option<(ItsKey, u32)>> = routes
        .iter()
        .map(|r| match r {
            FwRoute::Routed { its_device, .. } => its_device.clone(),
            _ => None,
        })
        .collect();
    let same_group = |a: &PciFunction, b: &PciFunction| matches!((a.facts.iommu_group, b.facts.iommu_group), (Some(x), Some(y)) if x == y);
    let group = |f: &PciFunction| f.facts.iommu_group.map_or("no IOMMU group".into(), |g| format!("IOMMU group {g}"));
    for (i, route) in routes.iter_mut().enumerate() {
        let (Some(key), Some(me)) = (&keys[i], functions.get(i)) else { continue };
        let other = functions
            .iter()
            .enumerate()
            .find(|&(j, o)| j != i && keys.get(j).and_then(|k| k.as_ref()) == Some(key) && !same_group(me, o))
            .map(|(_, o)| o);
        if let (Some(o), FwRoute::Routed { shared, evidence, .. }) = (other, route) {
            let e = Evidence::new(
                sysfs_dir(o),
                format!(
                    "{} ({}) also reaches ITS {} as DeviceID {:#x}; this function is in {}",
                    o.facts.address,
                    group(o),
                    key.0,
                    key.1,
                    group(me)
                ),
            );
            *shared = Some(std::iter::once(e).chain(evidence.first().cloned()).collect());
        }
    }
}

/// ITS driver quirks that clear `IRQ_DOMAIN_FLAG_ISOLATED_MSI` (drivers/irqchip/irq-gic-v3-its.c):
/// (the device tree property that enables it on an ITS node, the line the kernel logs when it
/// does, what it means).
pub(crate) const ITS_ISOLATION_QUIRKS: &[(&str, &str, &str)] = &[(
    "socionext,synquacer-pre-its",
    "enabling workaround for ITS: Socionext Synquacer pre-ITS",
    "the Socionext SynQuacer pre-ITS translates MSIs before the ITS, so the ITS cannot tell devices apart; \
     the driver clears MSI isolation (its_enable_quirk_socionext_synquacer)",
)];

/// Evidence of an ITS quirk that clears MSI isolation: the kernel log's workaround line
/// (`GIC: enabling workaround for ITS: ...`, printed by gic_enable_quirks) or the property that
/// enables it on an ITS node of the device tree.
fn its_isolation_quirk(root: &Root, tree: &dt::DeviceTree, kernel: &KernelSources) -> Option<Evidence> {
    ITS_ISOLATION_QUIRKS.iter().find_map(|(prop, log, what)| {
        if let Some(mut e) = kernel.dmesg_line(log) {
            e.observed = format!("{}: {what}", e.observed);
            return Some(e);
        }
        tree.find_compatible(&["arm,gic-v3-its"]).into_iter().find_map(|(node, _)| {
            let p = dt::path(&format!("{node}/{prop}"));
            root.exists(&p).then(|| Evidence::new(p, format!("present: {what}")))
        })
    })
}

fn device_verdict(
    ctx: &HostContext<'_>,
    f: &PciFunction,
    ctl: &Controllers,
    bridges: &[HostBridge],
    route: &FwRoute,
) -> IsolationVerdict {
    let v = controller_verdict(ctx, f, ctl, bridges, route);
    let v = match (&ctl.its_quirk, v) {
        // The ITS would isolate, but its driver cleared isolation: Linux itself reports the
        // device's MSIs as not isolated (msi_device_has_isolated_msi).
        (Some(quirk), IsolationVerdict::Isolated { rule, mut evidence, .. }) if rule == RuleId::ARM64_ITS => {
            evidence.insert(0, quirk.clone());
            return IsolationVerdict::not_isolated(
                RuleId::ARM64_ITS_ISOLATION_QUIRK,
                "the ITS driver applied a quirk that clears MSI isolation",
                evidence,
            );
        }
        (_, v) => v,
    };
    match (v, route) {
        // Stricter than Linux, which keeps IRQ_DOMAIN_FLAG_ISOLATED_MSI for a shared DeviceID.
        (
            IsolationVerdict::Isolated { rule, evidence, .. },
            FwRoute::Routed { kind, shared: Some(shared), .. },
        ) if kind.is_its() && (rule == RuleId::ARM64_ITS || rule == RuleId::ARM64_GICV5_ITS) => IsolationVerdict::not_isolated(
            RuleId::ARM64_ITS_DEVICEID_SHARED,
            "another present function outside this function's IOMMU group reaches the same ITS as the same DeviceID, so the ITS cannot tell them apart",
            shared.iter().cloned().chain(evidence).collect(),
        ),
        (v, _) => v,
    }
}

fn controller_verdict(
    ctx: &HostContext<'_>,
    f: &PciFunction,
    ctl: &Controllers,
    bridges: &[HostBridge],
    route: &FwRoute,
) -> IsolationVerdict {
    let chips = msi_chips(ctx.kernel, f);
    let kinds: Vec<MsiController> = chips.iter().filter_map(|(_, c)| MsiController::from_chip(c)).collect();
    if let (Some(&first), Some(ev)) = (kinds.first(), chip_evidence(&chips)) {
        // Any non-isolating controller among the function's vectors decides against it.
        let worst = kinds.iter().copied().find(|k| !k.is_its()).unwrap_or(first);
        return worst.verdict(vec![ev]);
    }
    match route {
        FwRoute::Routed { kind, evidence, .. } => return kind.verdict(evidence.clone()),
        FwRoute::Decided(v) => return v.clone(),
        FwRoute::Unknown => {}
    }
    let unresolved = unresolved_targets(ctx.root, &ctl.tree, bridges);
    match ctl.kinds().as_slice() {
        [_] if !unresolved.is_empty() => IsolationVerdict::unknown(
            RuleId::ARM64_MSI_UNKNOWN,
            "a host bridge routes MSIs to a node that is no known MSI controller, so the host's controllers are not all known",
            unresolved,
        ),
        [only] => {
            let mut ev: Vec<Evidence> = ctl.found.iter().map(|f| f.1.clone()).collect();
            ev.push(Evidence::new("msi controllers", "the only MSI controller kind on this host"));
            only.verdict(ev)
        }
        [] => IsolationVerdict::unknown(
            RuleId::ARM64_MSI_UNKNOWN,
            "no MSI controller found",
            vec![ctx.kernel.interrupts.evidence.clone()],
        ),
        _ => {
            let ev = ctl.found.iter().map(|f| f.1.clone()).collect();
            IsolationVerdict::unknown(
                RuleId::ARM64_MSI_UNKNOWN,
                "several MSI controller kinds and nothing ties this function to one",
                ev,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msix_backends::host::HostIdentity;
    use msix_backends::testing::TempRoot;

    /// A root directory built by a test, removed on drop.
    struct TestRoot(TempRoot);

    impl TestRoot {
        fn new() -> Self {
            TestRoot(TempRoot::new("arm64"))
        }
        fn write(&self, rel: &str, data: &[u8]) -> &Self {
            self.0.write(rel, data);
            self
        }
        fn link(&self, rel: &str, target: &str) -> &Self {
            self.0.link(rel, target);
            self
        }
        fn dt(&self, rel: &str, data: &[u8]) -> &Self {
            self.write(&format!("sys/firmware/devicetree/base/{rel}"), data)
        }
        /// A function under the platform device of its host bridge, as sysfs shows it.
        fn function(&self, bdf: &str, bridge_unit: &str) -> &Self {
            let dir = format!("sys/devices/platform/{bridge_unit}.pcie/pci{}/{bdf}", &bdf[..7]);
            self.write(&format!("{dir}/vendor"), b"0x1b36\n");
            self.link(
                &format!("sys/bus/pci/devices/{bdf}"),
                &format!("../../../devices/platform/{bridge_unit}.pcie/pci{}/{bdf}", &bdf[..7]),
            )
        }
        /// A function whose sysfs path names no platform device (`devices/pci0000:00/...`).
        fn plain_function(&self, bdf: &str) -> &Self {
            let dir = format!("sys/devices/pci{}/{bdf}", &bdf[..7]);
            self.write(&format!("{dir}/vendor"), b"0x1b36\n");
            self.link(&format!("sys/bus/pci/devices/{bdf}"), &format!("../../../devices/pci{}/{bdf}", &bdf[..7]))
        }
        fn verdicts(&self) -> Vec<IsolationVerdict> {
            let root = Root::open(self.0.path()).unwrap();
            let kernel = KernelSources::read_with(&root, false);
            let identity = HostIdentity {
                arch: "aarch64".into(),
                page_size: 4096,
                kernel: "6.1.0".into(),
                fixture: None,
                evidence: vec![],
            };
            let ctx = HostContext { root: &root, identity: &identity, kernel: &kernel };
            let functions = msix_backends::pci::enumerate(&root).unwrap();
            Arm64Backend.assess(&ctx, &functions).verdicts
        }
    }

    fn its_host() -> TestRoot {
        let t = TestRoot::new();
        t.dt("intc@8000000/compatible", b"arm,gic-v3\0")
            .dt("intc@8000000/its@8080000/compatible", b"arm,gic-v3-its\0")
            .dt("intc@8000000/its@8080000/phandle", &0x8006u32.to_be_bytes())
            .dt("pcie@10000000/compatible", b"pci-host-ecam-generic\0")
            .dt("pcie@10000000/msi-map", &[0u32, 0x8006, 0, 0x10000].map(u32::to_be_bytes).concat())
            .function("0000:00:01.0", "10000000")
            .write("dmesg.txt", b"[    0.000000] GICv3: 256 SPIs implemented\n");
        t
    }

    #[test]
    fn an_its_without_quirks_isolates() {
        let v = its_host().verdicts();
        assert_eq!(v[0].rule(), RuleId::ARM64_ITS);
    }

    /// drivers/irqchip/irq-gic-v3-its.c: its_enable_quirk_socionext_synquacer clears
    /// IRQ_DOMAIN_FLAG_ISOLATED_MSI; gic_enable_quirks logs the workaround's description.
    #[test]
    fn the_synquacer_pre_its_quirk_in_the_kernel_log_clears_isolation() {
        let t = its_host();
        t.write(
            "dmesg.txt",
            b"[    0.000000] ITS [mem 0x30020000-0x3003ffff]\n\
              [    0.000000] GIC: enabling workaround for ITS: Socionext Synquacer pre-ITS\n\
              [    0.000000] ITS@0x0000000030020000: allocated 524288 Devices @aa400000 (flat, esz 8, psz 64K, shr 0)\n",
        );
        let v = t.verdicts();
        assert!(!v[0].is_isolated());
        assert_eq!(v[0].rule(), RuleId::ARM64_ITS_ISOLATION_QUIRK);
        assert!(v[0].evidence().iter().any(|e| e.source == "dmesg.txt" && e.observed.contains("Synquacer pre-ITS")));
    }

    #[test]
    fn the_synquacer_pre_its_property_in_the_device_tree_clears_isolation() {
        let t = its_host();
        t.dt(
            "intc@8000000/its@8080000/socionext,synquacer-pre-its",
            &[0u32, 0x5800_0000, 0, 0x20_0000].map(u32::to_be_bytes).concat(),
        );
        let v = t.verdicts();
        assert_eq!(v[0].rule(), RuleId::ARM64_ITS_ISOLATION_QUIRK);
        assert!(v[0].evidence().iter().any(|e| e.source.ends_with("socionext,synquacer-pre-its")));
    }

    /// Two host bridges: one maps its functions to an ITS, the other to a GICv2m frame. Each
    /// function follows its own bridge's msi-map/msi-parent, by PCI domain or by sysfs path.
    fn two_bridges(domains: bool) -> TestRoot {
        let t = TestRoot::new();
        t.dt("intc@8000000/compatible", b"arm,gic-v3\0")
            .dt("intc@8000000/its@8080000/compatible", b"arm,gic-v3-its\0")
            .dt("intc@8000000/its@8080000/phandle", &0x8006u32.to_be_bytes())
            .dt("v2m@8020000/compatible", b"arm,gic-v2m-frame\0")
            .dt("v2m@8020000/phandle", &0x8002u32.to_be_bytes())
            .dt("pcie@10000000/compatible", b"pci-host-ecam-generic\0")
            .dt("pcie@10000000/msi-parent", &0x8002u32.to_be_bytes())
            .dt("pcie@4010000000/compatible", b"pci-host-ecam-generic\0")
            .dt("pcie@4010000000/msi-map", &[0u32, 0x8006, 0, 0x10000].map(u32::to_be_bytes).concat())
            .function("0000:00:01.0", "10000000")
            .function("0001:00:01.0", "4010000000")
            .write("dmesg.txt", b"\n");
        if domains {
            t.dt("pcie@10000000/linux,pci-domain", &0u32.to_be_bytes())
                .dt("pcie@4010000000/linux,pci-domain", &1u32.to_be_bytes());
        }
        t
    }

    #[test]
    fn each_function_follows_its_own_host_bridge() {
        for domains in [true, false] {
            let v = two_bridges(domains).verdicts();
            assert_eq!(v[0].rule(), RuleId::ARM64_GICV2M, "domains {domains}: {v:?}");
            assert_eq!(v[1].rule(), RuleId::ARM64_ITS, "domains {domains}: {v:?}");
            assert!(v[1].evidence().iter().any(|e| e.observed.contains("its@8080000")), "{v:?}");
        }
    }

    #[test]
    fn a_function_no_bridge_claims_is_unknown_not_another_bridges() {
        let t = two_bridges(true);
        // Domain 2 under a platform device no bridge names.
        t.function("0002:00:01.0", "20000000");
        let v = t.verdicts();
        assert_eq!(v[2].rule(), RuleId::ARM64_MSI_UNKNOWN, "{v:?}");
    }

    fn cells(c: &[u32]) -> Vec<u8> {
        c.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    /// An ITS (phandle 0x8006) and a GICv2m frame (phandle 0x8002), no bridge yet.
    fn controllers() -> TestRoot {
        let t = TestRoot::new();
        t.dt("#address-cells", &cells(&[2]))
            .dt("#size-cells", &cells(&[2]))
            .dt("intc@8000000/compatible", b"arm,gic-v3\0")
            .dt("intc@8000000/its@8080000/compatible", b"arm,gic-v3-its\0")
            .dt("intc@8000000/its@8080000/phandle", &cells(&[0x8006]))
            .dt("v2m@8020000/compatible", b"arm,gic-v2m-frame\0")
            .dt("v2m@8020000/phandle", &cells(&[0x8002]))
            .write("dmesg.txt", b"\n");
        t
    }

    /// A vendor host bridge known only by `device_type = "pci"`.
    fn bridge(t: &TestRoot, node: &str, reg: &[u32], bus_range: Option<(u32, u32)>) {
        t.dt(&format!("{node}/compatible"), b"vendor,soc-pcie-ecam\0")
            .dt(&format!("{node}/device_type"), b"pci\0")
            .dt(&format!("{node}/reg"), &cells(reg));
        if let Some((lo, hi)) = bus_range {
            t.dt(&format!("{node}/bus-range"), &cells(&[lo, hi]));
        }
    }

    /// No linux,pci-domain and no platform device in sysfs: the bus ranges decide.
    #[test]
    fn bridges_found_by_device_type_are_told_apart_by_bus_range() {
        let t = controllers();
        bridge(&t, "pcie@30000000", &[0, 0x3000_0000, 0, 0x1000_0000], Some((0, 0x7f)));
        bridge(&t, "pcie@40000000", &[0, 0x4000_0000, 0, 0x1000_0000], Some((0x80, 0xff)));
        t.dt("pcie@30000000/msi-map", &cells(&[0, 0x8006, 0, 0x8000]))
            .dt("pcie@40000000/msi-parent", &cells(&[0x8002]))
            .plain_function("0000:01:00.0")
            .plain_function("0000:81:00.0");
        let v = t.verdicts();
        assert_eq!(v[0].rule(), RuleId::ARM64_ITS, "{v:?}");
        assert_eq!(v[1].rule(), RuleId::ARM64_GICV2M, "{v:?}");
        assert!(v[1].evidence().iter().any(|e| e.observed.contains("0x80-0xff")), "{v:?}");
    }

    /// pci-host-ecam-generic style clipping: an 8 MiB ECAM window holds buses 0-7 only.
    #[test]
    fn the_ecam_window_of_reg_clips_the_bus_range() {
        let t = controllers();
        bridge(&t, "pcie@30000000", &[0, 0x3000_0000, 0, 0x80_0000], None);
        bridge(&t, "pcie@40000000", &[0, 0x4000_0000, 0, 0x1000_0000], Some((0x08, 0xff)));
        t.dt("pcie@30000000/msi-map", &cells(&[0, 0x8006, 0, 0x800]))
            .dt("pcie@40000000/msi-parent", &cells(&[0x8002]))
            .plain_function("0000:02:00.0")
            .plain_function("0000:10:00.0");
        let v = t.verdicts();
        assert_eq!(v[0].rule(), RuleId::ARM64_ITS, "{v:?}");
        assert_eq!(v[1].rule(), RuleId::ARM64_GICV2M, "{v:?}");
        // Both windows holding bus 2 leaves it tied to neither: unknown, not a guess.
        let t = controllers();
        bridge(&t, "pcie@30000000", &[0, 0x3000_0000, 0, 0x80_0000], None);
        bridge(&t, "pcie@40000000", &[0, 0x4000_0000, 0, 0x1000_0000], None);
        t.dt("pcie@30000000/msi-map", &cells(&[0, 0x8006, 0, 0x800]))
            .dt("pcie@40000000/msi-parent", &cells(&[0x8002]))
            .plain_function("0000:02:00.0");
        assert_eq!(t.verdicts()[0].rule(), RuleId::ARM64_MSI_UNKNOWN);
    }

    /// The sysfs platform device is named by the bridge's translated reg address, which need
    /// not be its unit address.
    #[test]
    fn the_platform_device_is_matched_by_reg_address() {
        let t = controllers();
        bridge(&t, "pcie@0", &[0x40, 0x1000_0000, 0, 0x1000_0000], None);
        bridge(&t, "pcie@1", &[0x00, 0x1000_0000, 0, 0x1000_0000], None);
        t.dt("pcie@0/msi-map", &cells(&[0, 0x8006, 0, 0x10000]))
            .dt("pcie@1/msi-parent", &cells(&[0x8002]))
            .function("0000:00:01.0", "4010000000")
            .function("0001:00:01.0", "10000000");
        let v = t.verdicts();
        assert_eq!(v[0].rule(), RuleId::ARM64_ITS, "{v:?}");
        assert_eq!(v[1].rule(), RuleId::ARM64_GICV2M, "{v:?}");
    }

    /// One bridge, two msi-map entries to two controllers: the entry covering the RID decides.
    #[test]
    fn the_msi_map_entry_covering_the_rid_decides() {
        let t = controllers();
        bridge(&t, "pcie@30000000", &[0, 0x3000_0000, 0, 0x1000_0000], None);
        t.dt("pcie@30000000/msi-map", &cells(&[0, 0x8006, 0, 0x100, 0x100, 0x8002, 0, 0x100]))
            .plain_function("0000:00:01.0")
            .plain_function("0000:01:00.0")
            .plain_function("0000:02:00.0");
        let v = t.verdicts();
        assert_eq!(v[0].rule(), RuleId::ARM64_ITS, "{v:?}");
        assert!(v[0].evidence().iter().any(|e| e.observed.contains("DeviceID 0x8")), "{v:?}");
        assert_eq!(v[1].rule(), RuleId::ARM64_GICV2M, "{v:?}");
        // RID 0x200: no entry covers it.
        assert_eq!(v[2].rule(), RuleId::ARM64_MSI_UNKNOWN, "{v:?}");
        assert!(v[2].summary().contains("no entry"), "{v:?}");
    }

    /// A mask alone is evidence, not a verdict: with no other function present the function is
    /// isolated (its route shows the mask); a present function of another IOMMU group that the
    /// mask folds onto the same DeviceID makes both not isolated, each naming the other; in one
    /// group they share nothing they do not already share.
    #[test]
    fn an_msi_map_mask_shares_a_device_id_only_with_a_present_function_of_another_group() {
        let masked = || {
            let t = controllers();
            bridge(&t, "pcie@30000000", &[0, 0x3000_0000, 0, 0x1000_0000], None);
            t.dt("pcie@30000000/msi-map", &cells(&[0, 0x8006, 0, 0x10000]))
                .dt("pcie@30000000/msi-map-mask", &cells(&[0xfff8]))
                .plain_function("0000:00:01.1");
            t
        };
        let v = masked().verdicts();
        assert_eq!(v[0].rule(), RuleId::ARM64_ITS, "{v:?}");
        assert!(v[0].evidence().iter().any(|e| e.source.ends_with("msi-map-mask")), "{v:?}");
        // 00:01.0 and 00:01.1 both mask to RID 0x08: DeviceID 0x8 twice.
        for (groups, shared) in [((1, 2), true), ((1, 1), false)] {
            let t = masked();
            t.plain_function("0000:00:01.0").group("0000:00:01.0", groups.0).group("0000:00:01.1", groups.1);
            let v = t.verdicts();
            let want = if shared { RuleId::ARM64_ITS_DEVICEID_SHARED } else { RuleId::ARM64_ITS };
            assert_eq!(v[0].rule(), want, "{groups:?}: {v:?}");
            assert_eq!(v[1].rule(), want, "{groups:?}: {v:?}");
            if shared {
                assert!(!v[0].is_isolated());
                assert!(
                    v[0].evidence()[0].observed.starts_with(
                        "0000:00:01.1 (IOMMU group 2) also reaches ITS intc@8000000/its@8080000 as DeviceID 0x8"
                    ),
                    "{v:?}"
                );
                assert!(v[1].evidence()[0].observed.starts_with("0000:00:01.0 (IOMMU group 1)"), "{v:?}");
            }
        }
        // A function of another DeviceID (00:02.0 -> 0x10) shares nothing.
        let t = masked();
        t.plain_function("0000:00:02.0").group("0000:00:02.0", 1).group("0000:00:01.1", 2);
        assert!(t.verdicts().iter().all(|v| v.rule() == RuleId::ARM64_ITS));
    }

    /// Two bridges to one ITS: disjoint DeviceID ranges isolate, overlapping ones do not when
    /// both functions are present; one present function alone shares nothing.
    #[test]
    fn two_bridges_mapping_onto_the_same_device_ids_are_not_isolated() {
        for (second_base, shared) in [(0x10000u32, false), (0x0, true)] {
            let t = controllers();
            bridge(&t, "pcie@30000000", &[0, 0x3000_0000, 0, 0x1000_0000], None);
            bridge(&t, "pcie@40000000", &[0, 0x4000_0000, 0, 0x1000_0000], None);
            t.dt("pcie@30000000/linux,pci-domain", &cells(&[0]))
                .dt("pcie@40000000/linux,pci-domain", &cells(&[1]))
                .dt("pcie@30000000/msi-map", &cells(&[0, 0x8006, 0, 0x10000]))
                .dt("pcie@40000000/msi-map", &cells(&[0, 0x8006, second_base, 0x10000]))
                .plain_function("0000:00:01.0")
                .plain_function("0001:00:01.0");
            let v = t.verdicts();
            let want = if shared { RuleId::ARM64_ITS_DEVICEID_SHARED } else { RuleId::ARM64_ITS };
            assert_eq!(v[0].rule(), want, "base {second_base:#x}: {v:?}");
            assert_eq!(v[1].rule(), want, "base {second_base:#x}: {v:?}");
        }
        // Two bridges with msi-parent to one ITS: DeviceID = RID on both.
        let parents = || {
            let t = controllers();
            bridge(&t, "pcie@30000000", &[0, 0x3000_0000, 0, 0x1000_0000], None);
            bridge(&t, "pcie@40000000", &[0, 0x4000_0000, 0, 0x1000_0000], None);
            t.dt("pcie@30000000/linux,pci-domain", &cells(&[0]))
                .dt("pcie@40000000/linux,pci-domain", &cells(&[1]))
                .dt("pcie@30000000/msi-parent", &cells(&[0x8006]))
                .dt("pcie@40000000/msi-parent", &cells(&[0x8006]))
                .plain_function("0000:00:01.0");
            t
        };
        assert_eq!(parents().verdicts()[0].rule(), RuleId::ARM64_ITS);
        let t = parents();
        t.plain_function("0001:00:01.0");
        let v = t.verdicts();
        assert_eq!(v[0].rule(), RuleId::ARM64_ITS_DEVICEID_SHARED, "{v:?}");
        assert!(v[0].evidence()[0].observed.contains("0001:00:01.0 (no IOMMU group)"), "{v:?}");
    }

    #[test]
    fn chip_names_identify_a_controller_only_by_the_exact_names_its_driver_registers() {
        use MsiController::*;
        for (chip, want) in [
            ("ITS-MSI", Some(Its)),
            ("ITS-PCI-MSIX-0000:00:01.0", Some(Its)),
            ("ITS-PCI-MSI-0001:02:03.4", Some(Its)),
            ("ITS-v5-PCI-MSIX-0000:00:01.0", Some(ItsV5)),
            ("GICv2m-PCI-MSIX-0000:00:01.0", Some(GicV2m)),
            ("MBI-PCI-MSI-0000:00:01.0", Some(Mbi)),
            // Names that identify no controller, though some contain "ITS" or "v2m".
            ("MSI", None),
            ("PCI-MSI", None),
            ("PCI-MSIX-0000:00:01.0", None),
            ("ITS-pMSI", None),
            ("GICv5-ITS-MSI", None),
            ("XITS-MSI", None),
            ("ITS-MSI-0000:00:01.0", None),
            ("ITS-PCI-MSIX-garbage", None),
            ("ITS-v6-PCI-MSIX-0000:00:01.0", None),
            ("GICv2m-ITS-PCI-MSIX-0000:00:01.0", None),
            ("SOME-ITS-PCI-MSIX-0000:00:01.0", None),
        ] {
            assert_eq!(MsiController::from_chip(chip), want, "{chip}");
        }
    }

    /// A GICv5 as the binding describes it: GIC > IRS > ITS > translate frame (phandle 0x10).
    fn gicv5() -> TestRoot {
        let t = TestRoot::new();
        let gic = "interrupt-controller@2f000000";
        let irs = format!("{gic}/irs@2f1a0000");
        let its = format!("{irs}/its@2f120000");
        t.dt("#address-cells", &cells(&[2]))
            .dt("#size-cells", &cells(&[2]))
            .dt(&format!("{gic}/compatible"), b"arm,gic-v5\0")
            .dt(&format!("{irs}/compatible"), b"arm,gic-v5-irs\0")
            .dt(&format!("{its}/compatible"), b"arm,gic-v5-its\0")
            .dt(&format!("{its}/reg-names"), b"ns-config\0")
            .dt(&format!("{its}/msi-controller@2f130000/msi-controller"), b"")
            .dt(&format!("{its}/msi-controller@2f130000/#msi-cells"), &cells(&[1]))
            .dt(&format!("{its}/msi-controller@2f130000/phandle"), &cells(&[0x10]))
            .dt(&format!("{its}/msi-controller@2f140000/msi-controller"), b"")
            .dt(&format!("{its}/msi-controller@2f140000/phandle"), &cells(&[0x11]))
            .write("dmesg.txt", b"\n");
        bridge(&t, "pcie@30000000", &[0, 0x3000_0000, 0, 0x1000_0000], None);
        t
    }

    /// An idle function (no MSI lines) whose msi-map names a GICv5 translate frame is isolated
    /// by the GICv5 rule; before, the frame had no known compatible and it was unknown.
    #[test]
    fn a_gicv5_translate_frame_is_recognised_from_the_device_tree() {
        let t = gicv5();
        t.dt("pcie@30000000/msi-map", &cells(&[0, 0x10, 0, 0x10000])).plain_function("0000:00:01.0");
        let v = t.verdicts();
        assert_eq!(v[0].rule(), RuleId::ARM64_GICV5_ITS, "{v:?}");
        assert!(v[0].is_isolated());
        assert!(v[0].evidence().iter().any(|e| e.observed.contains("translate frame of")), "{v:?}");
        // With vectors allocated the exact chip name decides: ITS-v5-, never "contains ITS".
        let t = gicv5();
        t.dt("pcie@30000000/msi-map", &cells(&[0, 0x10, 0, 0x10000])).plain_function("0000:00:01.0").write(
            "proc/interrupts",
            b"           CPU0\n 40:          1  ITS-v5-PCI-MSIX-0000:00:01.0 0-edge      nvme0q0\n",
        );
        let v = t.verdicts();
        assert_eq!(v[0].rule(), RuleId::ARM64_GICV5_ITS, "{v:?}");
        assert!(v[0].evidence().iter().any(|e| e.source == "proc/interrupts"), "{v:?}");
    }

    /// An `arm,gic-v5-its` node Linux would not probe (not under an IRS under the GIC), or a frame
    /// without `msi-controller`, is no known controller: unknown, never isolated.
    #[test]
    fn a_gicv5_its_linux_would_not_probe_is_unknown() {
        let t = gicv5();
        t.dt("interrupt-controller@2f000000/irs@2f1a0000/compatible", b"arm,gic-v5-irx\0")
            .dt("pcie@30000000/msi-map", &cells(&[0, 0x10, 0, 0x10000]))
            .plain_function("0000:00:01.0");
        let v = t.verdicts();
        assert_eq!(v[0].rule(), RuleId::ARM64_MSI_UNKNOWN, "{v:?}");
        let t = gicv5();
        t.dt("frame@0/phandle", &cells(&[0x12]))
            .dt("pcie@30000000/msi-map", &cells(&[0, 0x12, 0, 0x10000]))
            .plain_function("0000:00:01.0");
        assert_eq!(t.verdicts()[0].rule(), RuleId::ARM64_MSI_UNKNOWN);
    }

    /// Two translate frames of one GICv5 ITS share its DeviceID space: the same DeviceID through
    /// either frame, from functions of two groups, is shared.
    #[test]
    fn gicv5_device_ids_are_shared_per_its_not_per_frame() {
        let t = gicv5();
        t.dt("pcie@30000000/msi-map", &cells(&[0x0, 0x10, 0x0, 0x100, 0x100, 0x11, 0x0, 0x100]))
            .plain_function("0000:00:01.0")
            .plain_function("0000:01:01.0")
            .group("0000:00:01.0", 1)
            .group("0000:01:01.0", 2);
        let v = t.verdicts();
        assert_eq!(v[0].rule(), RuleId::ARM64_ITS_DEVICEID_SHARED, "{v:?}");
        assert!(v[0].evidence()[0].observed.contains("its@2f120000 as DeviceID 0x8"), "{v:?}");
        assert_eq!(v[1].rule(), RuleId::ARM64_ITS_DEVICEID_SHARED, "{v:?}");
    }

    /// A route to a node whose compatible is unknown (garbled, or a controller msix-policy does
    /// not know) is unknown, never "the only controller kind on the host" (here the ITS).
    #[test]
    fn a_route_to_an_unknown_controller_is_unknown_even_beside_an_its() {
        let t = controllers();
        t.dt("v2m@8020000/compatible", b"arm,gic-v2m-frXme\0");
        bridge(&t, "pcie@30000000", &[0, 0x3000_0000, 0, 0x1000_0000], Some((0, 0x7f)));
        bridge(&t, "pcie@40000000", &[0, 0x4000_0000, 0, 0x1000_0000], Some((0x80, 0xff)));
        t.dt("pcie@30000000/msi-map", &cells(&[0, 0x8006, 0, 0x8000]))
            .dt("pcie@40000000/msi-parent", &cells(&[0x8002]))
            .plain_function("0000:81:00.0")
            .plain_function("0000:90:00.0");
        // 0000:90:00.0 is held by the second bridge too; a third bridge makes bus 0x90 ambiguous.
        bridge(&t, "pcie@50000000", &[0, 0x5000_0000, 0, 0x1000_0000], Some((0x90, 0x90)));
        t.dt("pcie@50000000/msi-map", &cells(&[0, 0x8006, 0x10000, 0x10000]));
        let v = t.verdicts();
        assert_eq!(v[0].rule(), RuleId::ARM64_MSI_UNKNOWN, "{v:?}");
        assert!(v[0].evidence().iter().any(|e| e.observed.contains("no known MSI controller")), "{v:?}");
        assert_eq!(v[1].rule(), RuleId::ARM64_MSI_UNKNOWN, "{v:?}");
        assert!(!v[1].is_isolated());
    }

    /// A MADT with a GICD and one GIC ITS structure per ID.
    fn madt(its_ids: &[u32]) -> Vec<u8> {
        let mut m = vec![0u8; 44];
        m[0..4].copy_from_slice(b"APIC");
        m.extend([0xc, 24].iter().chain([0u8; 22].iter()));
        for (i, id) in its_ids.iter().enumerate() {
            let mut e = vec![0xf, 20, 0, 0];
            e.extend(id.to_le_bytes());
            e.extend((0x0808_0000u64 + 0x20_0000 * i as u64).to_le_bytes());
            e.extend(0u32.to_le_bytes());
            m.extend(e);
        }
        let len = m.len() as u32;
        m[4..8].copy_from_slice(&len.to_le_bytes());
        m
    }

    impl TestRoot {
        fn acpi(&self, madt_its: &[u32], iort: Option<Vec<u8>>) -> &Self {
            self.write("sys/firmware/acpi/tables/APIC", &madt(madt_its));
            if let Some(t) = iort {
                self.write("sys/firmware/acpi/tables/IORT", &t);
            }
            self.write("dmesg.txt", b"\n")
        }
        fn group(&self, bdf: &str, group: u32) -> &Self {
            self.link(
                &format!("sys/devices/pci{}/{bdf}/iommu_group", &bdf[..7]),
                &format!("../../../kernel/iommu_groups/{group}"),
            )
        }
    }

    /// The IORT of iort::tests::server: segment 0 through an SMMUv3 to ITS 0, segment 1 bus 0
    /// straight to the ITS, bus 1 nowhere, bus 2 into the SMMUv3 where nothing maps it; no
    /// root complex for segment 2.
    #[test]
    fn on_acpi_each_function_is_decided_by_its_own_iort_route() {
        let t = TestRoot::new();
        t.acpi(&[0], Some(iort::tests::server().build()));
        for (i, bdf) in
            ["0000:00:02.0", "0001:00:01.0", "0001:01:00.0", "0001:02:00.0", "0002:00:01.0"].iter().enumerate()
        {
            t.plain_function(bdf).group(bdf, i as u32);
        }
        let v = t.verdicts();
        assert_eq!(v[0].rule(), RuleId::ARM64_ITS, "{v:?}");
        let path = &v[0].evidence()[0];
        assert_eq!(path.source, "sys/firmware/acpi/tables/IORT");
        assert!(
            path.observed.starts_with("root complex @0x") && path.observed.contains("(segment 0) ID 0x10"),
            "{path:?}"
        );
        assert!(
            path.observed.contains("-> SMMUv3 @0x") && path.observed.contains("-> ITS group @0x30 ID 0x10"),
            "{path:?}"
        );
        assert!(path.observed.ends_with("ITS identifiers [0], DeviceID 0x10"), "{path:?}");
        assert!(v[0].evidence().iter().any(|e| e.source.ends_with("APIC") && e.observed.contains("GIC ITS ID 0")));
        assert_eq!(v[1].rule(), RuleId::ARM64_ITS, "{v:?}");
        assert!(v[1].evidence()[0].observed.contains("DeviceID 0x20008"), "{v:?}");
        for (i, seen) in
            [(2, "no ID mapping covers ID 0x100"), (3, "skipped"), (4, "no root complex node for segment 2")]
        {
            assert_eq!(v[i].rule(), RuleId::ARM64_IORT_NO_ITS, "{i}: {v:?}");
            assert!(!v[i].is_isolated() && v[i].status() == "not-isolated", "{i}: {v:?}");
            assert!(v[i].evidence().iter().any(|e| e.observed.contains(seen)), "{i}: {v:?}");
        }
    }

    /// Without a readable IORT the MADT's ITS proves nothing for any one function: unknown,
    /// never the host's only controller kind.
    #[test]
    fn on_acpi_a_missing_or_broken_iort_is_unknown_never_isolated() {
        let mut cut = iort::tests::server().build();
        cut.truncate(100);
        let len = cut.len() as u32;
        cut[4..8].copy_from_slice(&len.to_le_bytes());
        for table in [None, Some(cut)] {
            let t = TestRoot::new();
            t.acpi(&[0], table.clone()).plain_function("0000:00:02.0");
            let v = t.verdicts();
            assert_eq!(v[0].rule(), RuleId::ARM64_MSI_UNKNOWN, "{table:?}: {v:?}");
            assert_eq!(v[0].status(), "unknown");
            assert!(v[0].evidence().iter().any(|e| e.source.ends_with("IORT")), "{v:?}");
        }
    }

    /// An ITS group whose ITS the MADT does not list: Linux finds no domain token for it.
    #[test]
    fn on_acpi_an_its_group_missing_from_the_madt_is_no_its() {
        let t = TestRoot::new();
        t.acpi(&[5], Some(iort::tests::server().build())).plain_function("0000:00:02.0");
        let v = t.verdicts();
        assert_eq!(v[0].rule(), RuleId::ARM64_IORT_NO_ITS, "{v:?}");
        assert!(v[0].evidence().iter().any(|e| e.observed.contains("list ITS IDs [5], not 0")), "{v:?}");
    }

    /// A single mapping sends every RID of a root complex to one DeviceID: two functions in
    /// different IOMMU groups share it (not isolated, the device-tree rule); in one group they
    /// are assigned together (isolated). Chip names do not hide the sharing.
    #[test]
    fn on_acpi_functions_of_different_groups_on_one_device_id_are_not_isolated() {
        let mut b = iort::tests::Builder::default();
        let its = b.its(&[0]);
        b.rc(0, &[(0, 0, 0x77, its, 1)]);
        for (groups, shared) in [((1, 2), true), ((1, 1), false)] {
            let t = TestRoot::new();
            t.acpi(&[0], Some(b.build()))
                .plain_function("0000:00:01.0")
                .plain_function("0000:00:02.0")
                .group("0000:00:01.0", groups.0)
                .group("0000:00:02.0", groups.1);
            let v = t.verdicts();
            for d in &v {
                let want = if shared { RuleId::ARM64_ITS_DEVICEID_SHARED } else { RuleId::ARM64_ITS };
                assert_eq!(d.rule(), want, "{groups:?}: {v:?}");
            }
            if shared {
                assert!(v[0].evidence()[0]
                    .observed
                    .contains("0000:00:02.0 (IOMMU group 2) also reaches ITS 0 as DeviceID 0x77"));
                assert!(v[0].evidence()[1].observed.contains("[mapping 0: single -> 0x77]"), "{v:?}");
            }
        }
        // With ITS chips in /proc/interrupts the chips name the controller; the IORT still
        // shows the shared DeviceID.
        let t = TestRoot::new();
        t.acpi(&[0], Some(b.build()))
            .plain_function("0000:00:01.0")
            .plain_function("0000:00:02.0")
            .write("sys/devices/pci0000:00/0000:00:01.0/msi_irqs/40", b"msix\n")
            .write("proc/interrupts", b"           CPU0\n 40:          1  ITS-MSI 524288-edge      eth0\n");
        let v = t.verdicts();
        assert_eq!(v[0].rule(), RuleId::ARM64_ITS_DEVICEID_SHARED, "{v:?}");
        assert!(v[0].evidence().iter().any(|e| e.source == "proc/interrupts"), "{v:?}");
    }

    /// Malformed properties: no panic, and nothing malformed makes a function isolated.
    #[test]
    fn malformed_bridge_properties_decide_safely() {
        let t = controllers();
        t.dt("pcie@30000000/device_type", b"pci\0")
            .dt("pcie@30000000/reg", &[1, 2, 3])
            .dt("pcie@30000000/bus-range", &cells(&[0x80]))
            .dt("pcie@30000000/msi-map", &cells(&[0, 0x8006, 0]))
            .dt("pcie@30000000/msi-map-mask", &[0xff])
            .plain_function("0000:00:01.0");
        let v = t.verdicts();
        assert!(!v[0].is_isolated(), "{v:?}");
        let t = controllers();
        bridge(&t, "pcie@30000000", &[0, 0x3000_0000, 0, 0x1000_0000], Some((0xff, 0x10)));
        t.dt("pcie@30000000/msi-map", &cells(&[0, 0xdead, 0, 0x10000])).plain_function("0000:00:01.0");
        let v = t.verdicts();
        assert!(!v[0].is_isolated(), "{v:?}");
    }
}
