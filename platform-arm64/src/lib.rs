//! arm64 hosts: which MSI controller serves each function. A GICv3 ITS translates by DeviceID
//! and isolates; GICv2m frames and GICv3 MBI do not. Evidence: the function's chip names in
//! `/proc/interrupts`, the device tree (`msi-parent`, `msi-map`) and the ACPI MADT.

use msix_backends::acpi::{self, SubtableLayout};
use msix_backends::devicetree as dt;
use msix_backends::host::KernelSources;
use msix_backends::platform::{chip_evidence, msi_chips};
use msix_backends::{HostContext, PciFunction, PlatformAssessment, PlatformBackend, Root};
use msix_policy_engine::{rules, Evidence, IsolationVerdict, Platform};

/// MADT sub-table types (ACPI 6.x, 5.2.12).
pub(crate) const MADT_GIC_MSI_FRAME: u16 = 0x0d;
pub(crate) const MADT_GIC_ITS: u16 = 0x0f;
/// IORT node types.
pub(crate) const IORT_SMMU: u16 = 3;
pub(crate) const IORT_SMMU_V3: u16 = 4;

/// An MSI controller kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MsiController {
    Its,
    GicV2m,
    Mbi,
}

impl MsiController {
    /// From a chip name: `ITS-MSI`, `ITS-PCI-MSIX-<bdf>`, `GICv2m-PCI-MSIX-<bdf>`, `MBI-...`.
    pub fn from_chip(chip: &str) -> Option<Self> {
        if chip.contains("ITS") {
            Some(MsiController::Its)
        } else if chip.contains("v2m") {
            Some(MsiController::GicV2m)
        } else if chip.contains("MBI") {
            Some(MsiController::Mbi)
        } else {
            None
        }
    }

    fn from_compatible(c: &str) -> Option<Self> {
        match c {
            "arm,gic-v3-its" => Some(MsiController::Its),
            "arm,gic-v2m-frame" => Some(MsiController::GicV2m),
            _ => None,
        }
    }

    pub fn verdict(self, ev: Vec<Evidence>) -> IsolationVerdict {
        match self {
            MsiController::Its => {
                IsolationVerdict::isolated(rules::ARM64_ITS, "GICv3 ITS translates MSIs by DeviceID", ev)
            }
            MsiController::GicV2m => {
                IsolationVerdict::not_isolated(rules::ARM64_GICV2M, "GICv2m cannot tell which device wrote", ev)
            }
            MsiController::Mbi => {
                IsolationVerdict::not_isolated(rules::ARM64_MBI, "GICv3 MBI cannot tell which device wrote", ev)
            }
        }
    }
}

/// The controllers a host declares, with where they were seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Controllers {
    pub found: Vec<(MsiController, Evidence)>,
    pub smmu: Option<Evidence>,
    /// The device tree, read once.
    pub tree: dt::DeviceTree,
    /// An ITS driver quirk that clears MSI isolation, with where it was seen.
    pub its_quirk: Option<Evidence>,
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
        for (node, _) in c.tree.find_compatible(&["arm,gic-v3"]) {
            if root.exists(&dt::path(&format!("{node}/mbi-ranges"))) {
                c.found.push((MsiController::Mbi, Evidence::new(dt::path(&format!("{node}/mbi-ranges")), "present")));
            }
        }
        if let Ok(madt) = acpi::table(root, "APIC") {
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
                let iort = acpi::table(root, "IORT").ok()?;
                let off = u32::from_le_bytes(iort.get(40..44)?.try_into().ok()?) as usize;
                acpi::subtables(&iort, off, SubtableLayout::IortNode)
                    .iter()
                    .find(|(t, _, _)| *t == IORT_SMMU_V3 || *t == IORT_SMMU)
                    .map(|(t, _, _)| Evidence::new(format!("{}/IORT", acpi::TABLES), format!("SMMU node type {t}")))
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
        evidence.push(
            ctl.smmu.clone().unwrap_or_else(|| Evidence::new("sys/firmware", "no SMMU in the device tree or IORT")),
        );
        let verdicts = functions.iter().map(|f| device_verdict(ctx, f, &ctl)).collect();
        PlatformAssessment { platform: Platform::Arm64, evidence, verdicts }
    }
}

/// Host bridge compatibles whose children are PCI functions.
const HOST_BRIDGES: &[&str] = &["pci-host-ecam-generic", "pci-host-cam-generic"];

/// The host bridge node of a function, never another bridge's: its `of_node` ancestry when it
/// has one, else the bridge whose `linux,pci-domain` is the function's PCI domain, else the
/// bridge whose unit address names the platform device the function sits under in sysfs
/// (`.../4010000000.pcie/pci0000:00/...`), else the only bridge. `None` when several bridges
/// exist and nothing ties the function to one. Linux: drivers/pci/of.c
/// (of_get_pci_domain_nr), drivers/pci/controller/pci-host-common.c.
fn host_bridge_of(root: &Root, tree: &dt::DeviceTree, f: &PciFunction) -> Option<(String, Evidence)> {
    let bridges: Vec<String> = tree.find_compatible(HOST_BRIDGES).into_iter().map(|h| h.0).collect();
    if let Some(node) = &f.of_node {
        let host = dt::ancestry(node).find(|a| bridges.iter().any(|b| b == a))?;
        return Some((host.to_string(), Evidence::new(format!("{}/of_node", sysfs_dir(f)), node.clone())));
    }
    let by_domain: Vec<&String> = bridges
        .iter()
        .filter(|b| {
            dt::cells(root, &format!("{b}/linux,pci-domain")).and_then(|c| c.first().copied()) == Some(f.domain)
        })
        .collect();
    if let [only] = by_domain.as_slice() {
        let ev = Evidence::new(
            dt::path(&format!("{only}/linux,pci-domain")),
            format!("{} (the function's PCI domain)", f.domain),
        );
        return Some(((*only).clone(), ev));
    }
    let link = root.read_link(&sysfs_dir(f)).unwrap_or_default();
    let by_unit: Vec<&String> = bridges
        .iter()
        .filter(|b| {
            let unit = b.rsplit('/').next().and_then(|n| n.split_once('@')).map(|(_, u)| u.trim_start_matches('0'));
            unit.is_some_and(|u| {
                !u.is_empty()
                    && link.split('/').any(|c| c.split_once('.').is_some_and(|(a, _)| a.trim_start_matches('0') == u))
            })
        })
        .collect();
    if let [only] = by_unit.as_slice() {
        let ev = Evidence::new(sysfs_dir(f), format!("-> {link} (under host bridge {only})"));
        return Some(((*only).clone(), ev));
    }
    match bridges.as_slice() {
        [only] => Some((only.clone(), Evidence::new(dt::path(only), "the only PCI host bridge"))),
        _ => None,
    }
}

fn sysfs_dir(f: &PciFunction) -> String {
    format!("sys/bus/pci/devices/{}", f.facts.address)
}

/// The controller behind the function's own host bridge's `msi-map`/`msi-parent`, found by
/// phandle (or, with an `of_node`, behind the nearest ancestor that has one).
fn controller_from_dt(root: &Root, tree: &dt::DeviceTree, f: &PciFunction) -> Option<(MsiController, Evidence)> {
    let hosts: Vec<String> = match &f.of_node {
        Some(node) => dt::ancestry(node).map(str::to_string).collect(),
        None => vec![host_bridge_of(root, tree, f)?.0],
    };
    for host in hosts {
        // msi-map: (rid-base, msi-controller phandle, msi-base, length)*; msi-parent: phandle.
        let handle = dt::cells(root, &format!("{host}/msi-map"))
            .and_then(|c| c.get(1).copied())
            .or_else(|| dt::cells(root, &format!("{host}/msi-parent")).and_then(|c| c.first().copied()));
        let Some(handle) = handle else { continue };
        let target = tree.by_phandle(handle)?;
        let (node, compat) = (&target.path, &target.compatible);
        let kind = compat
            .iter()
            .find_map(|c| MsiController::from_compatible(c))
            .or_else(|| root.exists(&dt::path(&format!("{node}/mbi-ranges"))).then_some(MsiController::Mbi))?;
        let ev = Evidence::new(
            dt::path(&format!("{host}/msi-map")),
            format!("phandle {handle:#x} -> {node} ({})", compat.join(", ")),
        );
        return Some((kind, ev));
    }
    None
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

fn device_verdict(ctx: &HostContext<'_>, f: &PciFunction, ctl: &Controllers) -> IsolationVerdict {
    let v = controller_verdict(ctx, f, ctl);
    match (&ctl.its_quirk, v) {
        // The ITS would isolate, but its driver cleared isolation: Linux itself reports the
        // device's MSIs as not isolated (msi_device_has_isolated_msi).
        (Some(quirk), IsolationVerdict::Isolated { rule, mut evidence, .. }) if rule == rules::ARM64_ITS => {
            evidence.insert(0, quirk.clone());
            IsolationVerdict::not_isolated(
                rules::ARM64_ITS_ISOLATION_QUIRK,
                "the ITS driver applied a quirk that clears MSI isolation",
                evidence,
            )
        }
        (_, v) => v,
    }
}

fn controller_verdict(ctx: &HostContext<'_>, f: &PciFunction, ctl: &Controllers) -> IsolationVerdict {
    let chips = msi_chips(ctx.kernel, f);
    let kinds: Vec<MsiController> = chips.iter().filter_map(|(_, c)| MsiController::from_chip(c)).collect();
    if let (Some(&first), Some(ev)) = (kinds.first(), chip_evidence(&chips)) {
        // Any non-isolating controller among the function's vectors decides against it.
        let worst = kinds.iter().copied().find(|k| *k != MsiController::Its).unwrap_or(first);
        return worst.verdict(vec![ev]);
    }
    if let Some((kind, ev)) = controller_from_dt(ctx.root, &ctl.tree, f) {
        return kind.verdict(vec![ev]);
    }
    match ctl.kinds().as_slice() {
        [only] => {
            let mut ev: Vec<Evidence> = ctl.found.iter().map(|f| f.1.clone()).collect();
            ev.push(Evidence::new("msi controllers", "the only MSI controller kind on this host"));
            only.verdict(ev)
        }
        [] => IsolationVerdict::unknown(
            rules::ARM64_MSI_UNKNOWN,
            "no MSI controller found",
            vec![ctx.kernel.interrupts.evidence.clone()],
        ),
        _ => {
            let ev = ctl.found.iter().map(|f| f.1.clone()).collect();
            IsolationVerdict::unknown(
                rules::ARM64_MSI_UNKNOWN,
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
        assert_eq!(v[0].rule(), rules::ARM64_ITS);
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
        assert_eq!(v[0].rule(), rules::ARM64_ITS_ISOLATION_QUIRK);
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
        assert_eq!(v[0].rule(), rules::ARM64_ITS_ISOLATION_QUIRK);
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
            assert_eq!(v[0].rule(), rules::ARM64_GICV2M, "domains {domains}: {v:?}");
            assert_eq!(v[1].rule(), rules::ARM64_ITS, "domains {domains}: {v:?}");
            assert!(v[1].evidence().iter().any(|e| e.observed.contains("its@8080000")), "{v:?}");
        }
    }

    #[test]
    fn a_function_no_bridge_claims_is_unknown_not_another_bridges() {
        let t = two_bridges(true);
        // Domain 2 under a platform device no bridge names.
        t.function("0002:00:01.0", "20000000");
        let v = t.verdicts();
        assert_eq!(v[2].rule(), rules::ARM64_MSI_UNKNOWN, "{v:?}");
    }
}
