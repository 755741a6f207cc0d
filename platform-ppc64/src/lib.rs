//! POWER hosts: PAPR (pSeries) guests of a hypervisor, and PowerNV hosts with IODA2/IODA3 PHBs.
//! Both validate MSIs per partitionable endpoint (PE); the evidence is the platform line of
//! `/proc/cpuinfo`, the device tree (RTAS services, `ibm,opal`, PHB `compatible`) and the
//! interrupt controller (XIVE or XICS).

#![deny(missing_docs)]

use msix_backends::devicetree as dt;
use msix_backends::{HostContext, PciFunction, PlatformAssessment, PlatformBackend, Root};
use msix_policy_engine::{Evidence, IsolationVerdict, Platform, RuleId};

pub mod pseries;

/// PHB models whose hardware checks each MSI against the PE of the device that sent it.
pub const ISOLATING_PHBS: &[&str] = &["ibm,ioda2-phb", "ibm,ioda3-phb"];
/// Every PHB model Linux's PowerNV code knows, isolating or not.
pub const KNOWN_PHBS: &[&str] =
    &["ibm,ioda2-phb", "ibm,ioda3-phb", "ibm,ioda-phb", "ibm,p5ioc2-pciex", "ibm,ioda2-npu-phb", "ibm,ioda2-npu2-phb"];

/// The PHB generation a PHB node's `compatible` names (skiboot writes `ibm,power8-pciex` +
/// `ibm,ioda2-phb` for PHB3, `ibm,power9-pciex` / `ibm,power10-pciex` + `ibm,ioda3-phb` for
/// PHB4 / PHB5). Evidence only: Linux drives all three through the same IODA2 code
/// (pci-ioda.c pnv_pci_init_ioda2_phb) and the same per-PE MSI validation.
pub(crate) fn phb_generation(compatible: &[String]) -> Option<&'static str> {
    compatible.iter().find_map(|c| match c.as_str() {
        "ibm,power8-pciex" => Some("PHB3 (POWER8)"),
        "ibm,power9-pciex" => Some("PHB4 (POWER9)"),
        "ibm,power10-pciex" => Some("PHB5 (POWER10)"),
        _ => None,
    })
}

/// Evidence that this pSeries partition is itself a KVM host (KVM-HV nested on a KVM L0, or
/// KVM-PR): the `kvm_hv`/`kvm_pr` module's parameters. The devices it assigns still have their
/// MSIs programmed by its own RTAS `ibm,change-msi` calls and validated by the hypervisor below.
pub(crate) fn nested_kvm(root: &Root) -> Option<Evidence> {
    ["kvm_hv", "kvm_pr"].iter().find_map(|m| {
        let dir = format!("sys/module/{m}/parameters");
        root.is_dir(&dir).then(|| {
            let nested = root.read_value(&format!("{dir}/nested")).ok();
            let what = match nested.as_deref() {
                Some(v) => format!("{m} loaded (nested={v}): this pSeries partition is a KVM host itself"),
                None => format!("{m} loaded: this pSeries partition is a KVM host itself"),
            };
            Evidence::new(dir, what)
        })
    })
}

/// The ppc64 backend: PAPR pseries guests (the hypervisor validates MSIs per PE) and PowerNV hosts (IODA PHBs).
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
            let verdicts = if root.exists(&change_msi) {
                let mut ev =
                    vec![Evidence::new(change_msi, "present: the hypervisor programs MSIs"), evidence[0].clone()];
                // XIVE exploitation or XICS: which one delivers the interrupt, not who validates it.
                ev.extend(interrupt_controller(ctx));
                if let Some(k) = nested_kvm(root) {
                    evidence.push(k.clone());
                    ev.push(k);
                }
                // Who validates each function's MSIs: the hypervisor, or nobody (QEMU emulates it).
                let machine = pseries::machine(root);
                let tree = dt::DeviceTree::load(root);
                functions.iter().map(|f| pseries::verdict(root, &tree, f, &machine, &ev)).collect()
            } else {
                let ev = vec![Evidence::new(change_msi, "missing"), evidence[0].clone()];
                let v = IsolationVerdict::unknown(
                    RuleId::PSERIES_NO_RTAS_MSI,
                    "no RTAS ibm,change-msi in the device tree",
                    ev,
                );
                functions.iter().map(|_| v.clone()).collect()
            };
            (Platform::Ppc64Pseries, verdicts)
        } else {
            let v = IsolationVerdict::unknown(
                RuleId::PPC64_PLATFORM_UNKNOWN,
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

/// The PHB's `compatible`, in full, with its generation when it names one.
fn phb_evidence(root: &Root, node: &str, compat: &str) -> Evidence {
    let path = dt::path(&format!("{node}/compatible"));
    let all = dt::strings(root, &format!("{node}/compatible")).unwrap_or_else(|| vec![compat.to_string()]);
    let observed = match phb_generation(&all) {
        Some(g) => format!("{}: {g}", all.join(", ")),
        None => all.join(", "),
    };
    Evidence::new(path, observed)
}

fn powernv_verdict(root: &Root, f: &PciFunction, phbs: &[(String, String)]) -> IsolationVerdict {
    match phb_of(root, f, phbs) {
        Some((node, compat, ev)) if ISOLATING_PHBS.contains(&compat.as_str()) => {
            let ev = vec![ev, phb_evidence(root, &node, &compat)];
            IsolationVerdict::isolated(RuleId::POWERNV_IODA, format!("{compat} validates MSIs per PE"), ev)
        }
        Some((node, compat, ev)) => {
            let ev = vec![ev, Evidence::new(dt::path(&format!("{node}/compatible")), compat.clone())];
            IsolationVerdict::unknown(RuleId::POWERNV_PHB_UNKNOWN, format!("{compat} is not an IODA2/IODA3 PHB"), ev)
        }
        None => {
            let ev = vec![Evidence::new(
                dt::path(""),
                format!("no PHB found for {} (of_node {:?})", f.facts.address, f.of_node),
            )];
            IsolationVerdict::unknown(RuleId::POWERNV_PHB_UNKNOWN, "the function's PHB is unknown", ev)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msix_backends::host::{HostIdentity, KernelSources};
    use msix_backends::testing::TempRoot;

    struct TestRoot(TempRoot);

    impl TestRoot {
        fn new() -> Self {
            TestRoot(TempRoot::new("ppc64"))
        }
        fn write(&self, rel: &str, data: &[u8]) -> &Self {
            self.0.write(rel, data);
            self
        }
        fn dt(&self, rel: &str, data: &[u8]) -> &Self {
            self.write(&format!("sys/firmware/devicetree/base/{rel}"), data)
        }
        fn function(&self, bdf: &str) -> &Self {
            self.write(&format!("sys/bus/pci/devices/{bdf}/vendor"), b"0x1b36\n")
        }
        fn assess(&self) -> PlatformAssessment {
            let root = Root::open(self.0.path()).unwrap();
            let kernel = KernelSources::read_with(&root, false);
            let identity = HostIdentity {
                arch: "ppc64le".into(),
                page_size: 65536,
                kernel: "6.1.0".into(),
                fixture: None,
                evidence: vec![],
            };
            let ctx = HostContext { root: &root, identity: &identity, kernel: &kernel };
            let functions = msix_backends::pci::enumerate(&root).unwrap();
            Ppc64Backend.assess(&ctx, &functions)
        }
    }

    /// A QEMU pseries guest whose 0000:00:01.0 is a physical function KVM passes through (the
    /// host's location code in its node).
    fn pseries(chip: &str) -> TestRoot {
        let t = pseries_with("0000:00:01.0", Some("U78D2.001.WZS0ABC-P1-C7"));
        t.write(
            "proc/interrupts",
            format!("           CPU0\n 24:          7  {chip} 4096 Edge      nvme0q0\n").as_bytes(),
        );
        t
    }

    /// A QEMU pseries guest with one function at `bdf` (device 1 of bus 0), its node linked by
    /// `of_node`, with `loc` as its `ibm,loc-code` (none when `None`).
    fn pseries_with(bdf: &str, loc: Option<&str>) -> TestRoot {
        let t = TestRoot::new();
        t.write("proc/cpuinfo", b"processor\t: 0\nplatform\t: pSeries\n")
            .dt("compatible", b"qemu,pseries\0")
            .dt("model", b"IBM pSeries (emulated by qemu)\0")
            .dt("rtas/ibm,change-msi", &0x2cu32.to_be_bytes())
            .dt(PHB_DEVICE_TYPE.0, PHB_DEVICE_TYPE.1)
            .function(bdf);
        t.0.link(
            &format!("sys/bus/pci/devices/{bdf}/of_node"),
            "../../../firmware/devicetree/base/pci@800000020000000/ethernet@1",
        );
        if let Some(loc) = loc {
            t.dt("pci@800000020000000/ethernet@1/ibm,loc-code", format!("{loc}\0").as_bytes());
        }
        t
    }

    const PHB_DEVICE_TYPE: (&str, &[u8]) = ("pci@800000020000000/device_type", b"pci\0");

    fn evidence_has(v: &IsolationVerdict, needle: &str) -> bool {
        v.evidence().iter().any(|e| e.observed.contains(needle) || e.source.contains(needle))
    }

    #[test]
    fn a_function_qemu_emulates_is_not_isolated_and_the_location_code_says_so() {
        let v = &pseries_with("0000:00:01.0", Some("qemu_virtio-net-pci:0000:00:01.0")).assess().verdicts[0];
        assert_eq!(v.rule(), RuleId::PSERIES_EMULATED, "{v:?}");
        assert_eq!(v.status(), "not-isolated");
        assert!(v.summary().contains("location code decided"), "{}", v.summary());
        assert!(evidence_has(v, "ibm,loc-code"), "{v:?}");
        assert!(evidence_has(v, "IBM pSeries (emulated by qemu)"), "{v:?}");
    }

    #[test]
    fn a_function_kvm_passes_through_keeps_papr_with_the_host_location_code() {
        for loc in ["U78D2.001.WZS0ABC-P1-C7", "vfio_vfio-pci:0000:00:01.0"] {
            let v = &pseries_with("0000:00:01.0", Some(loc)).assess().verdicts[0];
            assert_eq!(v.rule(), RuleId::PSERIES_PAPR, "{loc}: {v:?}");
            assert!(v.is_isolated());
            assert!(v.evidence().iter().any(|e| e.observed == loc), "{loc}: {v:?}");
        }
    }

    #[test]
    fn a_qemu_function_without_a_location_code_is_unknown() {
        let v = &pseries_with("0000:00:01.0", None).assess().verdicts[0];
        assert_eq!(v.rule(), RuleId::PSERIES_ORIGIN_UNKNOWN, "{v:?}");
        assert_eq!(v.status(), "unknown");
        // An empty or control-character location code is no better than none.
        for bad in [&b"\0"[..], b"qemu\x01_x\0"] {
            let t = pseries_with("0000:00:01.0", None);
            t.dt("pci@800000020000000/ethernet@1/ibm,loc-code", bad);
            assert_eq!(t.assess().verdicts[0].rule(), RuleId::PSERIES_ORIGIN_UNKNOWN, "{bad:?}");
        }
        // An of_node link that climbs out of the node it names is bad input: unknown, even when
        // the file it reaches holds a host location code.
        let t = pseries_with("0000:00:01.0", Some("U78D2.001.WZS0ABC-P1-C7"));
        t.function("0000:00:02.0").dt("pci@800000020000000/x/name", b"x\0");
        t.0.link(
            "sys/bus/pci/devices/0000:00:02.0/of_node",
            "../../../firmware/devicetree/base/pci@800000020000000/x/../ethernet@1",
        );
        let a = t.assess();
        assert_eq!(a.verdicts[0].rule(), RuleId::PSERIES_PAPR, "{:?}", a.verdicts[0]);
        assert_eq!(a.verdicts[1].rule(), RuleId::PSERIES_ORIGIN_UNKNOWN, "{:?}", a.verdicts[1]);
        // A KVM guest of an unidentified VMM (only /hypervisor linux,kvm) is no different.
        let t = TestRoot::new();
        t.write("proc/cpuinfo", b"platform\t: pSeries\n")
            .dt("rtas/ibm,change-msi", &0x2cu32.to_be_bytes())
            .dt("hypervisor/compatible", b"linux,kvm\0")
            .function("0000:00:01.0");
        let v = &t.assess().verdicts[0];
        assert_eq!(v.rule(), RuleId::PSERIES_ORIGIN_UNKNOWN, "{v:?}");
        assert!(v.summary().starts_with("a KVM guest"), "{}", v.summary());
    }

    #[test]
    fn a_powervm_lpar_is_papr_with_or_without_location_codes_but_never_for_a_qemu_code() {
        let lpar = || {
            let t = TestRoot::new();
            t.write("proc/cpuinfo", b"platform\t: pSeries\n")
                .dt("compatible", b"IBM,9009-42A\0")
                .dt("model", b"IBM,9009-42A\0")
                .dt("rtas/ibm,change-msi", &0x2cu32.to_be_bytes())
                .function("0000:00:01.0");
            t
        };
        let v = &lpar().assess().verdicts[0];
        assert_eq!(v.rule(), RuleId::PSERIES_PAPR, "{v:?}");
        assert!(v.summary().contains("machine identity decided"), "{}", v.summary());
        // The same root with a /hypervisor node is not PowerVM: unknown without a location code.
        let t = lpar();
        t.dt("hypervisor/compatible", b"linux,kvm\0");
        assert_eq!(t.assess().verdicts[0].rule(), RuleId::PSERIES_ORIGIN_UNKNOWN);
        // A location code QEMU made up wins over the machine's name.
        let t = lpar();
        t.dt("pci@800000020000000/device_type", b"pci\0")
            .dt("pci@800000020000000/ethernet@1/ibm,loc-code", b"qemu_e1000e:0000:00:01.0\0");
        t.0.link(
            "sys/bus/pci/devices/0000:00:01.0/of_node",
            "../../../firmware/devicetree/base/pci@800000020000000/ethernet@1",
        );
        assert_eq!(t.assess().verdicts[0].rule(), RuleId::PSERIES_EMULATED);
    }

    /// Without an `of_node` link the node is the PHB child whose `reg` names the function, under
    /// the PHB whose domain (low bits of `reg` cell 1) is the function's.
    #[test]
    fn the_node_is_found_by_reg_under_the_phb_of_the_domain() {
        let t = TestRoot::new();
        let phb_reg = |index: u32| [0x0800_0000u32, 0x2000_0000 + index, 0, 0].map(u32::to_be_bytes).concat();
        // 0001:00:02.0: PHB index 1; devfn 0x10 -> phys.hi 0x00001000.
        t.write("proc/cpuinfo", b"platform\t: pSeries\n")
            .dt("compatible", b"qemu,pseries\0")
            .dt("rtas/ibm,change-msi", &0x2cu32.to_be_bytes())
            .dt("pci@800000020000000/device_type", b"pci\0")
            .dt("pci@800000020000000/reg", &phb_reg(0))
            .dt("pci@800000020000000/ethernet@2/reg", &[0x1000u32, 0, 0, 0, 0].map(u32::to_be_bytes).concat())
            .dt("pci@800000020000000/ethernet@2/ibm,loc-code", b"U78D2.001.WZS0ABC-P1-C7\0")
            .dt("pci@800000020000001/device_type", b"pci\0")
            .dt("pci@800000020000001/reg", &phb_reg(1))
            .dt("pci@800000020000001/ethernet@2/reg", &[0x1000u32, 0, 0, 0, 0].map(u32::to_be_bytes).concat())
            .dt("pci@800000020000001/ethernet@2/ibm,loc-code", b"qemu_e1000e:0001:00:02.0\0")
            .function("0000:00:02.0")
            .function("0001:00:02.0")
            .function("0001:00:03.0");
        let a = t.assess();
        assert_eq!(a.verdicts[0].rule(), RuleId::PSERIES_PAPR, "{:?}", a.verdicts[0]);
        assert_eq!(a.verdicts[1].rule(), RuleId::PSERIES_EMULATED, "{:?}", a.verdicts[1]);
        assert!(evidence_has(&a.verdicts[1], "pci@800000020000001/ethernet@2/reg"), "{:?}", a.verdicts[1]);
        // No node for device 3: unknown.
        assert_eq!(a.verdicts[2].rule(), RuleId::PSERIES_ORIGIN_UNKNOWN);
    }

    fn powernv(compat: &[u8]) -> TestRoot {
        let t = TestRoot::new();
        t.write("proc/cpuinfo", b"processor\t: 0\nplatform\t: PowerNV\n")
            .dt("ibm,opal/compatible", b"ibm,opal-v3\0")
            .dt("pciex@600c3c0000000/compatible", compat)
            .dt("pciex@600c3c0000000/ibm,opal-phbid", &[0u32.to_be_bytes(), 0u32.to_be_bytes()].concat())
            .function("0000:01:00.0");
        t
    }

    #[test]
    fn powernv_phb_generations_are_named_and_all_isolate() {
        for (compat, gen) in [
            (&b"ibm,power8-pciex\0ibm,ioda2-phb\0"[..], "PHB3 (POWER8)"),
            (&b"ibm,power9-pciex\0ibm,ioda3-phb\0"[..], "PHB4 (POWER9)"),
            (&b"ibm,power10-pciex\0ibm,ioda3-phb\0"[..], "PHB5 (POWER10)"),
        ] {
            let a = powernv(compat).assess();
            let v = &a.verdicts[0];
            assert_eq!(v.rule(), RuleId::POWERNV_IODA, "{gen}: {v:?}");
            assert!(v.evidence().iter().any(|e| e.observed.ends_with(gen)), "{gen}: {v:?}");
        }
        // An IODA1 (P7IOC) PHB: current Linux drives none, msix-policy vouches for none.
        let v = &powernv(b"ibm,p7ioc-pciex\0ibm,ioda-phb\0").assess().verdicts[0];
        assert_eq!(v.rule(), RuleId::POWERNV_PHB_UNKNOWN, "{v:?}");
        assert!(!v.is_isolated());
    }

    #[test]
    fn pseries_names_its_interrupt_controller_and_stays_papr_with_xics_or_xive() {
        for chip in ["XIVE-IRQ", "XICS"] {
            let v = &pseries(chip).assess().verdicts[0];
            assert_eq!(v.rule(), RuleId::PSERIES_PAPR, "{chip}");
            assert!(v.evidence().iter().any(|e| e.observed.contains(chip)), "{chip}: {v:?}");
        }
    }

    #[test]
    fn a_pseries_kvm_host_nested_names_kvm_and_keeps_the_papr_verdict() {
        let t = pseries("XIVE-IRQ");
        t.write("sys/module/kvm_hv/parameters/nested", b"Y\n");
        let a = t.assess();
        assert_eq!(a.verdicts[0].rule(), RuleId::PSERIES_PAPR);
        assert!(a.verdicts[0].evidence().iter().any(|e| e.observed.contains("nested=Y")), "{:?}", a.verdicts[0]);
        assert!(a.evidence.iter().any(|e| e.source == "sys/module/kvm_hv/parameters"));
        // Without kvm_hv there is no such evidence.
        let a = pseries("XIVE-IRQ").assess();
        assert!(!a.verdicts[0].evidence().iter().any(|e| e.source.contains("kvm")));
    }

    #[test]
    fn pseries_without_rtas_msi_is_unknown() {
        let t = TestRoot::new();
        t.write("proc/cpuinfo", b"platform\t: pSeries\n").function("0000:00:01.0");
        let v = &t.assess().verdicts[0];
        assert_eq!(v.rule(), RuleId::PSERIES_NO_RTAS_MSI);
        assert!(!v.is_isolated());
    }
}
