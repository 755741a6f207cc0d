//! arm64 hosts: which MSI controller serves each function. A GICv3 ITS translates by DeviceID
//! and isolates; GICv2m frames and GICv3 MBI do not. Evidence: the function's chip names in
//! `/proc/interrupts`, the device tree (`msi-parent`, `msi-map`) and the ACPI MADT.

use msix_backends::acpi::{self, SubtableLayout};
use msix_backends::devicetree as dt;
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
}

impl Controllers {
    pub fn read(root: &Root) -> Self {
        let mut c = Controllers { tree: dt::DeviceTree::load(root), ..Default::default() };
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
        let ctl = Controllers::read(ctx.root);
        let mut evidence: Vec<Evidence> = ctl.found.iter().map(|f| f.1.clone()).collect();
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

/// The controller behind a host bridge's `msi-map`/`msi-parent`, found by phandle.
fn controller_from_dt(root: &Root, tree: &dt::DeviceTree, f: &PciFunction) -> Option<(MsiController, Evidence)> {
    let hosts: Vec<String> = match &f.of_node {
        Some(node) => dt::ancestry(node).map(str::to_string).collect(),
        None => {
            tree.find_compatible(&["pci-host-ecam-generic", "pci-host-cam-generic"]).into_iter().map(|h| h.0).collect()
        }
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

fn device_verdict(ctx: &HostContext<'_>, f: &PciFunction, ctl: &Controllers) -> IsolationVerdict {
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
