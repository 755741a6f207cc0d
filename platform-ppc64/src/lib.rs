//! POWER hosts: PAPR (pSeries) guests of a hypervisor, and PowerNV hosts with IODA2/IODA3 PHBs.
//! Both validate MSIs per partitionable endpoint (PE); the evidence is the platform line of
//! `/proc/cpuinfo`, the device tree (RTAS services, `ibm,opal`, PHB `compatible`) and the
//! interrupt controller (XIVE or XICS).

use msix_backends::devicetree as dt;
use msix_backends::{HostContext, PciFunction, PlatformAssessment, PlatformBackend, Root};
use msix_policy_engine::{rules, Evidence, IsolationVerdict, Platform};

/// PHB models whose hardware checks each MSI against the PE of the device that sent it.
pub const ISOLATING_PHBS: &[&str] = &["ibm,ioda2-phb", "ibm,ioda3-phb"];
/// Every PHB model Linux's PowerNV code knows, isolating or not.
pub const KNOWN_PHBS: &[&str] =
    &["ibm,ioda2-phb", "ibm,ioda3-phb", "ibm,ioda-phb", "ibm,p5ioc2-pciex", "ibm,ioda2-npu-phb", "ibm,ioda2-npu2-phb"];

#[derive(Debug, Default, Clone, Copy)]
pub struct Ppc64Backend;

/// The `platform` line of `/proc/cpuinfo` (`pSeries`, `PowerNV`).
pub(crate) fn cpuinfo_platform(root: &Root) -> Option<String> {
    let text = root.read_text("proc/cpuinfo").ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "platform").then(|| v.trim().to_string())
    })
}

/// Which interrupt controller backend the host uses, from its chip names or the device tree.
pub(crate) fn interrupt_controller(ctx: &HostContext<'_>) -> Option<Evidence> {
    if let Some(ints) = ctx.kernel.interrupts.value.as_ref() {
        if let Some(l) = ints.lines.iter().find(|l| l.chip.starts_with("XIVE") || l.chip.starts_with("XICS")) {
            return Some(Evidence::new("proc/interrupts", format!("irq {}: {} ({})", l.irq, l.chip, &l.chip[..4])));
        }
    }
    ctx.kernel.dmesg_line("XIVE").or_else(|| ctx.kernel.dmesg_line("XICS"))
}

impl PlatformBackend for Ppc64Backend {
    fn name(&self) -> &'static str {
        "ppc64"
    }

    fn assess(&self, ctx: &HostContext<'_>, functions: &[PciFunction]) -> PlatformAssessment {
        let root = ctx.root;
        let mut evidence = Vec::new();
        let cpu_platform = cpuinfo_platform(root);
        evidence.push(Evidence::new(
            "proc/cpuinfo",
            cpu_platform.as_deref().map_or("no platform line".into(), |p| format!("platform: {p}")),
        ));
        let compat = dt::strings(root, "compatible");
        evidence
            .push(Evidence::new(dt::path("compatible"), compat.as_ref().map_or("missing".into(), |c| c.join(", "))));
        if let Some(e) = interrupt_controller(ctx) {
            evidence.push(e);
        }
        let opal = root.is_dir(&dt::path("ibm,opal"));
        let is_powernv = cpu_platform.as_deref() == Some("PowerNV") || opal;
        let is_pseries = !is_powernv
            && (cpu_platform.as_deref() == Some("pSeries")
                || compat.as_ref().is_some_and(|c| c.iter().any(|s| s.contains("pseries") || s == "IBM,pSeries")));

        let (platform, verdicts) = if is_powernv {
            let phbs = dt::DeviceTree::load(root).find_compatible(KNOWN_PHBS);
            evidence.push(Evidence::new(
                dt::path(""),
                format!("ibm,opal {}; PHBs: {}", if opal { "present" } else { "missing" }, describe_phbs(&phbs)),
            ));
            (Platform::Ppc64Powernv, functions.iter().map(|f| powernv_verdict(root, f, &phbs)).collect())
        } else if is_pseries {
            let change_msi = dt::path("rtas/ibm,change-msi");
            let v = if root.exists(&change_msi) {
                let ev = vec![Evidence::new(change_msi, "present: the hypervisor programs MSIs"), evidence[0].clone()];
                IsolationVerdict::isolated(
                    rules::PSERIES_PAPR,
                    "PAPR hypervisor validates MSIs per PE (RTAS ibm,change-msi)",
                    ev,
                )
            } else {
                let ev = vec![Evidence::new(change_msi, "missing"), evidence[0].clone()];
                IsolationVerdict::unknown(rules::PSERIES_NO_RTAS_MSI, "no RTAS ibm,change-msi in the device tree", ev)
            };
            (Platform::Ppc64Pseries, functions.iter().map(|_| v.clone()).collect())
        } else {
            let v = IsolationVerdict::unknown(
                rules::PPC64_PLATFORM_UNKNOWN,
                "neither pSeries nor PowerNV",
                evidence.clone(),
            );
            (Platform::Ppc64Unknown, functions.iter().map(|_| v.clone()).collect())
        };
        PlatformAssessment { platform, evidence, verdicts }
    }
}

fn describe_phbs(phbs: &[(String, String)]) -> String {
    if phbs.is_empty() {
        return "none found".into();
    }
    phbs.iter().map(|(n, c)| format!("{n} ({c})")).collect::<Vec<_>>().join(", ")
}

/// The PHB a function sits behind: its `of_node` ancestry first, else the PHB whose
/// `ibm,opal-phbid` or `linux,pci-domain` equals the function's domain.
pub(crate) fn phb_of(root: &Root, f: &PciFunction, phbs: &[(String, String)]) -> Option<(String, String, Evidence)> {
    if let Some(node) = &f.of_node {
        for anc in dt::ancestry(node) {
            if let Some((n, c)) = phbs.iter().find(|(n, _)| n == anc) {
                let ev = Evidence::new(
                    format!("sys/bus/pci/devices/{}/of_node", f.facts.address),
                    format!("-> {node} (PHB {n})"),
                );
                return Some((n.clone(), c.clone(), ev));
            }
        }
    }
    phbs.iter().find_map(|(n, c)| {
        let id = dt::cells(root, &format!("{n}/ibm,opal-phbid"))
            .and_then(|v| v.last().copied())
            .or_else(|| dt::cells(root, &format!("{n}/linux,pci-domain")).and_then(|v| v.first().copied()))?;
        (id == f.domain).then(|| {
            (
                n.clone(),
                c.clone(),
                Evidence::new(
                    dt::path(&format!("{n}/ibm,opal-phbid")),
                    format!("{id:#x} = domain of {}", f.facts.address),
                ),
            )
        })
    })
}

fn powernv_verdict(root: &Root, f: &PciFunction, phbs: &[(String, String)]) -> IsolationVerdict {
    match phb_of(root, f, phbs) {
        Some((node, compat, ev)) if ISOLATING_PHBS.contains(&compat.as_str()) => {
            let ev = vec![ev, Evidence::new(dt::path(&format!("{node}/compatible")), compat.clone())];
            IsolationVerdict::isolated(rules::POWERNV_IODA, format!("{compat} validates MSIs per PE"), ev)
        }
        Some((node, compat, ev)) => {
            let ev = vec![ev, Evidence::new(dt::path(&format!("{node}/compatible")), compat.clone())];
            IsolationVerdict::unknown(rules::POWERNV_PHB_UNKNOWN, format!("{compat} is not an IODA2/IODA3 PHB"), ev)
        }
        None => {
            let ev = vec![Evidence::new(
                dt::path(""),
                format!("no PHB found for {} (of_node {:?})", f.facts.address, f.of_node),
            )];
            IsolationVerdict::unknown(rules::POWERNV_PHB_UNKNOWN, "the function's PHB is unknown", ev)
        }
    }
}
