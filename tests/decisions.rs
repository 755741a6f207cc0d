//! The decisions docs/policy.md predicts, asserted on the recorded hosts themselves.

mod common;

use msix_policy::policy::{Exposure, GuestSelection, Risk, Rule, RuleId, SegmentAction, TrapKind};
use msix_policy::{audit, audit_device, AuditOptions};

fn opts(guest: GuestSelection) -> AuditOptions {
    AuditOptions { guest, ..Default::default() }
}

#[test]
fn vtd_with_remapping_traps_the_table_and_nothing_else_on_4k() {
    let r = audit(common::fixture("synthetic/x86-vtd-ir"), &AuditOptions::default()).unwrap();
    let nvme = r.device("0000:00:04.0").unwrap();
    assert_eq!(nvme.decision.isolation.rule(), RuleId::VTD_IR_ENABLED);
    assert_eq!(nvme.decision.exposure, Exposure::Trap);
    assert_eq!(nvme.decision.risk, Risk::None);
    let plan = nvme.decision.plan.as_ref().unwrap();
    assert_eq!(plan.collateral_bytes(), 0, "a compliant device costs nothing on 4 KiB pages");
    // Table at 0x2000 and PBA at 0x3000 of a 16 KiB BAR0: two 4 KiB pages trap, the doorbells map.
    let segs = &plan.bars[0].segments;
    assert_eq!(segs[0].action, SegmentAction::Map);
    assert_eq!((segs[0].offset, segs[0].length), (0, 0x2000));
    assert_eq!(segs[1].action, SegmentAction::Trap(TrapKind::Table));
    assert_eq!(segs[2].action, SegmentAction::Trap(TrapKind::Pba));
    assert!(r.device("0000:00:03.0").unwrap().decision.fired(RuleId::ASSIGN_BRIDGE));
}

#[test]
fn intremap_off_refuses_and_allow_unsafe_traps_with_risk() {
    let off = audit(common::fixture("synthetic/x86-vtd-intremap-off"), &AuditOptions::default()).unwrap();
    for d in &off.devices {
        assert_eq!(d.decision.exposure, Exposure::Refuse, "{}", d.address);
        assert_eq!(d.decision.isolation.rule(), RuleId::VTD_INTREMAP_OFF);
        assert!(d.decision.plan.is_none());
    }
    let unsafe_ = audit(common::fixture("synthetic/x86-vtd-allow-unsafe"), &AuditOptions::default()).unwrap();
    let e1000e = unsafe_.device("0000:00:02.0").unwrap();
    assert_eq!(e1000e.decision.exposure, Exposure::Trap);
    assert_eq!(e1000e.decision.risk, Risk::Unsafe);
    assert!(e1000e.decision.fired(RuleId::ASSIGN_ALLOW_UNSAFE));
    // The table is never handed to a non-isolated guest, even as a paravirtual one.
    let pv = audit(common::fixture("synthetic/x86-vtd-allow-unsafe"), &opts(GuestSelection::Paravirtual)).unwrap();
    assert_eq!(pv.device("0000:00:02.0").unwrap().decision.exposure, Exposure::Trap);
}

#[test]
fn nosid_is_not_isolated_although_linux_reports_remapping() {
    let r = audit(common::fixture("synthetic/x86-vtd-nosid"), &AuditOptions::default()).unwrap();
    let d = r.device("0000:00:01.0").unwrap();
    assert_eq!(d.decision.isolation.rule(), RuleId::VTD_SID_OFF);
    assert_eq!(d.decision.exposure, Exposure::Refuse);
}

#[test]
fn amd_vi_isolates() {
    let r = audit(common::fixture("synthetic/x86-amdvi"), &AuditOptions::default()).unwrap();
    assert_eq!(r.device("0000:00:02.0").unwrap().decision.isolation.rule(), RuleId::AMDVI_IR_ENABLED);
}

#[test]
fn power_hosts_give_papr_guests_passthrough() {
    for (f, bdf) in [("synthetic/ppc64-pseries", "0000:00:04.0"), ("synthetic/ppc64-powernv", "0000:01:00.0")] {
        let r = audit(common::fixture(f), &AuditOptions::default()).unwrap();
        assert_eq!(r.host.page_size, 65536);
        let d = r.device(bdf).unwrap();
        assert_eq!(d.decision.exposure, Exposure::Passthrough, "{f}");
        assert_eq!(d.decision.risk, Risk::SelfOnly);
        assert_eq!(d.decision.plan.as_ref().unwrap().trapped_bytes(), 0);
    }
    // The pSeries guest's virtio-net is emulated by QEMU (ibm,loc-code qemu_...): not isolated,
    // and sPAPR has no kernel check, so msix-policy refuses it itself.
    let d = audit_device(common::fixture("synthetic/ppc64-pseries"), "0000:00:01.0", &AuditOptions::default()).unwrap();
    assert_eq!(d.decision.isolation.rule(), RuleId::PSERIES_EMULATED);
    assert_eq!(d.decision.exposure, Exposure::Refuse);
    assert!(d.decision.fired(RuleId::ASSIGN_REFUSED_SPAPR));
    // The PowerNV device behind an IODA1 PHB is not proven isolated: sPAPR has no kernel check,
    // so msix-policy refuses it itself.
    let d = audit_device(common::fixture("synthetic/ppc64-powernv"), "0001:01:00.0", &AuditOptions::default()).unwrap();
    assert_eq!(d.decision.isolation.status(), "unknown");
    assert!(d.decision.fired(RuleId::ASSIGN_REFUSED_SPAPR));
}

#[test]
fn a_direct_guest_on_64k_relocates_to_spare_the_doorbells() {
    let r = audit(common::fixture("synthetic/ppc64-pseries"), &opts(GuestSelection::DirectTableWrites)).unwrap();
    let nvme = r.device("0000:00:04.0").unwrap();
    assert_eq!(nvme.decision.exposure, Exposure::Relocate);
    let plan = nvme.decision.plan.as_ref().unwrap();
    assert_eq!(plan.trapped_bytes(), 0);
    let reloc = plan.relocation.unwrap();
    assert_ne!(reloc.bar, 0, "the virtual table goes in a free slot, not over the doorbells");
    // With relocation forbidden, the whole 16 KiB BAR traps and the doorbells with it.
    let o = msix_policy::policy::Overrides::parse("[defaults]\nforbid_relocation = true\n").unwrap();
    let r = audit(
        common::fixture("synthetic/ppc64-pseries"),
        &AuditOptions { guest: GuestSelection::DirectTableWrites, overrides: o, ..Default::default() },
    )
    .unwrap();
    let nvme = r.device("0000:00:04.0").unwrap();
    assert_eq!(nvme.decision.exposure, Exposure::Trap);
    let plan = nvme.decision.plan.as_ref().unwrap();
    assert_eq!(plan.collateral_bytes(), 0x4000 - 0x2000);
    assert_eq!(plan.hot_trapped().next().unwrap().what, "NVMe doorbells");
    assert!(nvme.decision.warnings.iter().any(|w| w.contains("NVMe doorbells")));
}

#[test]
fn arm64_its_isolates_and_gicv2m_does_not() {
    let its = audit(common::fixture("synthetic/arm64-its"), &AuditOptions::default()).unwrap();
    assert!(its.devices.iter().all(|d| d.decision.isolation.rule() == RuleId::ARM64_ITS));
    let v2m = audit(common::fixture("synthetic/arm64-gicv2m"), &AuditOptions::default()).unwrap();
    for d in &v2m.devices {
        assert_eq!(d.decision.isolation.rule(), RuleId::ARM64_GICV2M, "{}", d.address);
        assert_eq!(d.decision.isolation.status(), "not-isolated");
        assert_eq!(d.decision.exposure, Exposure::Refuse);
    }
}

/// SynQuacer: the ITS would isolate, but the pre-ITS quirk clears isolation on both bridges.
#[test]
fn arm64_synquacer_pre_its_is_not_isolated_and_refused() {
    let r = audit(common::fixture("synthetic/arm64-synquacer"), &AuditOptions::default()).unwrap();
    assert_eq!(r.devices.len(), 2);
    for d in &r.devices {
        assert_eq!(d.decision.isolation.rule(), RuleId::ARM64_ITS_ISOLATION_QUIRK, "{}", d.address);
        assert_eq!(d.decision.isolation.status(), "not-isolated");
        assert_eq!(d.decision.exposure, Exposure::Refuse, "{}", d.address);
        assert!(d.decision.fired(RuleId::ASSIGN_REFUSED_TYPE1), "{}", d.address);
    }
}

/// Two host bridges, no linux,pci-domain: each function follows its own bridge (by bus range),
/// so the ITS bridge's functions are isolated and the GICv2m bridge's are refused.
#[test]
fn arm64_two_bridges_give_each_bridge_its_own_verdict() {
    let r = audit(common::fixture("synthetic/arm64-two-bridges"), &AuditOptions::default()).unwrap();
    for (addr, rule) in [
        ("0000:01:00.0", RuleId::ARM64_ITS),
        ("0000:02:00.0", RuleId::ARM64_ITS),
        ("0001:81:00.0", RuleId::ARM64_GICV2M),
        ("0001:82:00.0", RuleId::ARM64_GICV2M),
    ] {
        let d = r.device(addr).unwrap();
        assert_eq!(d.decision.isolation.rule(), rule, "{addr}");
        let refused = d.decision.exposure == Exposure::Refuse;
        assert_eq!(refused, rule == RuleId::ARM64_GICV2M, "{addr}: {:?}", d.decision.exposure);
    }
}

/// ACPI arm64 server: each function's requester ID is mapped through the IORT from its root
/// complex (by PCI segment). Segment 0 reaches ITS 0 through the SMMUv3 and segment 1 bus 0
/// straight: isolated, trapped, the evidence names the IORT path. Segment 1 bus 1 (no ID
/// mapping) and bus 2 (into the SMMUv3, which maps nothing there) reach no ITS: no MSI domain,
/// not isolated, refused (the 6.12 kernel checks each group).
#[test]
fn arm64_acpi_functions_follow_their_iort_route() {
    let r = audit(common::fixture("synthetic/arm64-acpi-iort"), &AuditOptions::default()).unwrap();
    assert_eq!(r.devices.len(), 5);
    for (addr, rule, path) in [
        ("0000:00:01.0", RuleId::ARM64_ITS, "SMMUv3 @0x48 ID 0x8 [mapping 0: 0x0..=0xffff -> 0x0] -> ITS group @0x30"),
        ("0000:00:02.0", RuleId::ARM64_ITS, "DeviceID 0x10"),
        ("0001:00:01.0", RuleId::ARM64_ITS, "(segment 1) ID 0x8 [mapping 0: 0x0..=0xff -> 0x20000] -> ITS group @0x30"),
        ("0001:01:00.0", RuleId::ARM64_IORT_NO_ITS, "no ID mapping covers ID 0x100"),
        ("0001:02:00.0", RuleId::ARM64_IORT_NO_ITS, "SMMUv3 @0x48 ID 0x30200: no ID mapping covers ID 0x30200"),
    ] {
        let d = r.device(addr).unwrap();
        let iso = &d.decision.isolation;
        assert_eq!(iso.rule(), rule, "{addr}");
        assert!(
            iso.evidence().iter().any(|e| e.source == "sys/firmware/acpi/tables/IORT" && e.observed.contains(path)),
            "{addr}: {iso:?}"
        );
        if rule == RuleId::ARM64_ITS {
            assert_eq!(d.decision.exposure, Exposure::Trap, "{addr}");
            assert_eq!(d.decision.plan.as_ref().unwrap().collateral_bytes(), 0, "{addr}");
        } else {
            assert_eq!(iso.status(), "not-isolated", "{addr}");
            assert_eq!(d.decision.exposure, Exposure::Refuse, "{addr}");
            assert!(d.decision.fired(RuleId::ASSIGN_REFUSED_TYPE1), "{addr}");
        }
    }
}

/// A real ACPI boot (QEMU virt, edk2, acpi=force, Debian 12 kernel): QEMU's IORT sends bus 0
/// through the SMMUv3 to ITS 0, whose ID the MADT lists: every function isolated. Functions
/// without MSI lines yet (e1000e, the host bridge) are decided by their IORT path; the others
/// by their ITS-MSI lines.
#[test]
fn arm64_acpi_boot_recorded_in_the_lab_is_isolated_through_the_iort() {
    let r = audit(common::fixture("qemu/arm64-virt-acpi-its-smmuv3"), &AuditOptions::default()).unwrap();
    assert_eq!(r.devices.len(), 4);
    for d in &r.devices {
        assert_eq!(d.decision.isolation.rule(), RuleId::ARM64_ITS, "{}", d.address);
    }
    let e1000e = r.device("0000:00:02.0").unwrap();
    assert!(
        e1000e.decision.isolation.evidence().iter().any(|e| e.source == "sys/firmware/acpi/tables/IORT"
            && e.observed.contains("(segment 0) ID 0x10 [mapping 0: 0x0..=0x100 -> 0x0] -> SMMUv3")
            && e.observed.ends_with("DeviceID 0x10")),
        "{:?}",
        e1000e.decision.isolation
    );
    assert_eq!(e1000e.decision.exposure, Exposure::Trap);
}

/// ppc64 variants: a PHB5, a 4 KiB XICS pSeries, a pSeries that is a KVM host (L1). Each keeps
/// its platform's verdict; the evidence names the variant, and the page size moves collateral.
#[test]
fn ppc64_variants_keep_their_verdict_and_name_the_variant() {
    for (fixture, rule, seen) in [
        ("synthetic/ppc64-powernv10", RuleId::POWERNV_IODA, "PHB5 (POWER10)"),
        ("synthetic/ppc64-pseries-xics-4k", RuleId::PSERIES_PAPR, "XICS"),
        ("synthetic/ppc64-pseries-nested-kvm", RuleId::PSERIES_PAPR, "nested=Y"),
        ("synthetic/ppc64-pseries-powervm", RuleId::PSERIES_PAPR, "U78D2.001.WZS00AB-P1-C"),
    ] {
        let r = audit(common::fixture(fixture), &AuditOptions::default()).unwrap();
        assert!(!r.devices.is_empty(), "{fixture}");
        for d in &r.devices {
            let iso = &d.decision.isolation;
            assert_eq!(iso.rule(), rule, "{fixture} {}", d.address);
            assert!(iso.evidence().iter().any(|e| e.observed.contains(seen)), "{fixture} {}: {iso:?}", d.address);
            assert_eq!(d.decision.exposure, Exposure::Passthrough, "{fixture} {}", d.address);
        }
    }
    let r = audit(common::fixture("synthetic/ppc64-pseries-xics-4k"), &AuditOptions::default()).unwrap();
    assert_eq!(r.host.page_size, 4096);
}

#[test]
fn unprivileged_config_is_unknown_and_traps_everything() {
    let r = audit(common::fixture("synthetic/x86-vtd-unprivileged"), &AuditOptions::default()).unwrap();
    let d = r.device("0000:00:02.0").unwrap();
    assert_eq!(d.decision.exposure, Exposure::Trap);
    let why = d.decision.reasons.iter().find(|r| r.rule == RuleId::DEVICE_CONFIG_UNREADABLE).unwrap();
    assert!(why.detail.contains("run as root"), "{}", why.detail);
    let plan = d.decision.plan.as_ref().unwrap();
    assert!(plan.bars.iter().all(|b| b.segments.iter().all(|s| s.action == SegmentAction::Trap(TrapKind::Unknown))));
}

#[test]
fn this_hosts_recording_has_no_iommu_and_refuses() {
    let r = audit(common::fixture("hardware/x86-firecracker-vm"), &AuditOptions::default()).unwrap();
    assert!(r.devices.len() >= 5);
    for d in &r.devices {
        assert_eq!(d.decision.isolation.rule(), RuleId::X86_NO_IOMMU);
        assert_eq!(d.decision.exposure, Exposure::Refuse);
    }
    // The facts are still decoded: its virtio-net has its table in BAR0 next to the notify window.
    let net = r.devices.iter().find(|d| d.facts.device == Some(0x1041)).unwrap();
    assert!(matches!(net.facts.msix, msix_policy::policy::MsixFacts::Present { .. }));
    assert!(net.facts.hot_windows.iter().any(|h| h.what == "virtio notify"));
}

#[test]
fn every_reason_cites_a_catalogued_rule_with_a_reference() {
    for f in common::fixtures() {
        for guest in [GuestSelection::Auto, GuestSelection::Paravirtual, GuestSelection::DirectTableWrites] {
            let r = audit(&f, &opts(guest)).unwrap();
            for d in &r.devices {
                assert!(!d.decision.reasons.is_empty());
                for reason in &d.decision.reasons {
                    let rule = Rule::find(&reason.rule)
                        .unwrap_or_else(|| panic!("{} cites unknown rule {}", d.address, reason.rule));
                    assert_eq!(reason.reference, rule.reference);
                }
            }
        }
    }
}

/// The recordings of real Debian kernels (fixtures/qemu, made by scripts/lab/lab.py).
#[test]
fn real_kernels_get_the_decisions_policy_md_predicts() {
    let by = |fixture: &str, class: u32| {
        let r = audit(common::fixture(fixture), &AuditOptions::default()).unwrap();
        let d = r.devices.iter().find(|d| d.facts.class == Some(class)).unwrap().clone();
        (r, d)
    };
    const NVME: u32 = 0x010802;
    const ETH: u32 = 0x020000;
    // PAPR guests of a PowerNV host: passthrough, nothing traps on 64 KiB pages.
    let (r, d) = by("qemu/ppc64-powernv9", NVME);
    assert_eq!(r.host.page_size, 65536);
    assert_eq!((d.decision.exposure, d.decision.risk), (Exposure::Passthrough, Risk::SelfOnly));
    // The QEMU pseries guest's functions are all emulated (ibm,loc-code qemu_...): QEMU's MSI
    // window validates nothing, so none is isolated and msix-policy refuses each on sPAPR.
    let r = audit(common::fixture("qemu/ppc64-pseries-power9"), &AuditOptions::default()).unwrap();
    assert_eq!(r.devices.len(), 5);
    for d in &r.devices {
        assert_eq!(d.decision.isolation.rule(), RuleId::PSERIES_EMULATED, "{}", d.address);
        assert!(d.decision.isolation.evidence().iter().any(|e| e.observed.starts_with("qemu_")), "{}", d.address);
        assert_eq!(d.decision.exposure, Exposure::Refuse, "{}", d.address);
    }
    // VT-d with remapping: isolated, trap on 4 KiB pages without collateral; intremap=off: refuse.
    let (_, d) = by("qemu/x86-q35-vtd-ir", NVME);
    assert_eq!(d.decision.isolation.rule(), RuleId::VTD_IR_ENABLED);
    assert_eq!(d.decision.exposure, Exposure::Trap);
    assert_eq!(d.decision.plan.as_ref().unwrap().collateral_bytes(), 0);
    let (_, d) = by("qemu/x86-q35-vtd-intremap-off", NVME);
    assert_eq!(
        (d.decision.isolation.rule().clone(), d.decision.exposure),
        (RuleId::VTD_INTREMAP_OFF, Exposure::Refuse)
    );
    // allow_unsafe_interrupts=1 recorded from the loaded module: trap, risk unsafe.
    let (_, d) = by("qemu/x86-q35-allow-unsafe", ETH);
    assert_eq!((d.decision.exposure, d.decision.risk), (Exposure::Trap, Risk::Unsafe));
    // AMD-Vi remapping: isolated.
    let (_, d) = by("qemu/x86-q35-amdvi", NVME);
    assert_eq!(d.decision.isolation.rule(), RuleId::AMDVI_IR_ENABLED);
    // arm64: ITS isolates, GICv2m does not (and type1 refuses it).
    let (_, d) = by("qemu/arm64-virt-its-smmuv3", NVME);
    assert_eq!(d.decision.isolation.rule(), RuleId::ARM64_ITS);
    let (_, d) = by("qemu/arm64-virt-gicv2m", NVME);
    assert_eq!(d.decision.isolation.status(), "not-isolated");
    assert!(d.decision.fired(RuleId::ASSIGN_REFUSED_TYPE1));
    // A host recorded with devices bound to vfio-pci carries the probed MSIX_MAPPABLE capability.
    let (r, d) = by("qemu/x86-q35-vtd-vfio", NVME);
    assert_eq!(d.facts.driver.as_deref(), Some("vfio-pci"));
    assert_eq!(r.host.msix_mappable.source, Some(msix_policy::policy::MappableSource::Probed));
    assert!(d.decision.fired(RuleId::HOST_MAPPABLE_PROBED));
}

#[test]
fn one_function_is_audited_alone_whatever_the_case_of_its_address() {
    let root = common::fixture("qemu/x86-q35-vtd-ir");
    let full = audit(&root, &AuditOptions::default()).unwrap();
    let one = audit_device(&root, "0000:00:1F.2", &AuditOptions::default()).unwrap();
    assert_eq!(one.address, "0000:00:1f.2");
    assert_eq!(one.decision, full.device("0000:00:1f.2").unwrap().decision);
    let e = audit_device(&root, "0000:09:00.0", &AuditOptions::default()).unwrap_err();
    assert!(e.to_string().contains("no PCI function 0000:09:00.0"), "{e}");
    assert!(audit_device(&root, "../../etc", &AuditOptions::default()).is_err());
}

/// SR-IOV VFs read Vendor/Device ID 0xFFFF in config by spec: each is a first-class function,
/// ids from sysfs, MSI-X decoded from its own config, its PF named, and on 4 KiB pages only its
/// table and PBA pages trap.
#[test]
fn sriov_vfs_are_first_class_functions_and_trap_only_their_msix_pages() {
    let r = audit(common::fixture("synthetic/x86-vtd-sriov"), &AuditOptions::default()).unwrap();
    for vf in ["0000:01:10.0", "0000:01:10.2"] {
        let d = r.device(vf).unwrap();
        assert_eq!((d.facts.vendor, d.facts.device), (Some(0x8086), Some(0x10ca)), "{vf}");
        assert!(!d.decision.fired(RuleId::DEVICE_CONFIG_INCONSISTENT), "{vf}");
        assert!(!d.decision.fired(RuleId::EXPOSURE_TRAP_UNKNOWN_MSIX), "{vf}");
        assert!(
            d.facts.evidence.iter().any(|e| e.source.ends_with("/physfn") && e.observed.contains("0000:01:00.0")),
            "{vf}: the PF is named"
        );
        assert_eq!(d.decision.exposure, Exposure::Trap, "{vf}");
        let plan = d.decision.plan.as_ref().unwrap();
        assert_eq!(plan.collateral_bytes(), 0, "{vf}");
        // BAR0 maps whole; BAR3 traps the table page (0) and the PBA page (0x2000), nothing else.
        assert_eq!(plan.trapped_bytes(), 0x2000, "{vf}");
        let bar3 = plan.bars.iter().find(|b| b.index == 3).unwrap();
        let traps: Vec<_> = bar3
            .segments
            .iter()
            .filter(|s| matches!(s.action, SegmentAction::Trap(_)))
            .map(|s| (s.offset, s.length, s.action))
            .collect();
        assert_eq!(
            traps,
            [(0, 0x1000, SegmentAction::Trap(TrapKind::Table)), (0x2000, 0x1000, SegmentAction::Trap(TrapKind::Pba))]
        );
    }
    // The VMM reads the VF's config through VFIO, which shows the kernel's ids, and decides alike.
    let root = msix_policy::backends::Root::open(common::fixture("synthetic/x86-vtd-sriov")).unwrap();
    let vf = r.device("0000:01:10.0").unwrap();
    let input = msix_policy::vmm_input(&root, &r, vf).unwrap();
    assert_eq!(input.config[0..4], [0x86, 0x80, 0xca, 0x10]);
    let layout = msix_policy::policy::plan_layout(&input).unwrap();
    assert_eq!((layout.exposure, layout.trapped_bytes), (Exposure::Trap, 0x2000));
    // A paravirtual guest gets the VF's table passed through, as any isolated function's.
    let r = audit(common::fixture("synthetic/x86-vtd-sriov"), &opts(GuestSelection::Paravirtual)).unwrap();
    assert_eq!(r.device("0000:01:10.0").unwrap().decision.exposure, Exposure::Passthrough);
}

/// A real kernel's VFs (lab `x86-q35-vtd-sriov`: Debian 12's 6.1 on QEMU 7.2, an nvme PF with
/// two VFs enabled through `sriov_numvfs`, VF 0 on vfio-pci, VF 1 unbound). QEMU's VFs read
/// Vendor/Device ID 0xFFFF in config as the spec says; the engine takes the kernel's ids, decodes
/// each VF's own MSI-X (1 vector, table BAR0 + 0x2000, PBA BAR0 + 0x3000 of its 16 KiB BAR0, which
/// the PF's SR-IOV capability sizes), names the PF, and traps only the table and PBA pages.
#[test]
fn a_real_kernels_sriov_vfs_are_first_class_functions() {
    use msix_policy::policy::MsixFacts;
    let fixture = common::fixture("qemu/x86-q35-vtd-sriov");
    let r = audit(&fixture, &AuditOptions::default()).unwrap();
    let pf = r.device("0000:01:00.0").unwrap();
    assert_eq!(
        (pf.facts.vendor, pf.facts.device, pf.facts.driver.as_deref()),
        (Some(0x1b36), Some(0x0010), Some("nvme"))
    );
    assert!(!pf.facts.evidence.iter().any(|e| e.source.ends_with("/physfn")), "the PF is no VF");
    assert_eq!(pf.decision.exposure, Exposure::Trap);
    let root = msix_policy::backends::Root::open(&fixture).unwrap();
    for (vf, driver, group) in [("0000:01:00.1", Some("vfio-pci"), 8), ("0000:01:00.2", None, 9)] {
        // The recorded config really reads 0xFFFF: the ids below come from sysfs.
        let config = std::fs::read(fixture.join(format!("sys/bus/pci/devices/{vf}/config"))).unwrap();
        assert_eq!(config[0..4], [0xff; 4], "{vf}");
        let d = r.device(vf).unwrap();
        assert_eq!(
            (d.facts.vendor, d.facts.device, d.facts.class),
            (Some(0x1b36), Some(0x0010), Some(0x01_08_02)),
            "{vf}"
        );
        assert_eq!((d.facts.driver.as_deref(), d.facts.iommu_group), (driver, Some(group)), "{vf}");
        assert!(!d.decision.fired(RuleId::DEVICE_CONFIG_INCONSISTENT), "{vf}");
        assert!(!d.decision.fired(RuleId::EXPOSURE_TRAP_UNKNOWN_MSIX), "{vf}");
        assert!(
            d.facts.evidence.iter().any(|e| e.source.ends_with("/physfn") && e.observed.contains("0000:01:00.0")),
            "{vf}: the PF is named"
        );
        let MsixFacts::Present { capability: cap } = &d.facts.msix else { panic!("{vf}: {:?}", d.facts.msix) };
        assert_eq!(
            (cap.table_size, cap.table_bir, cap.table_offset, cap.pba_bir, cap.pba_offset),
            (1, 0, 0x2000, 0, 0x3000),
            "{vf}"
        );
        assert_eq!(
            (d.decision.exposure, d.decision.risk, d.decision.assignable),
            (Exposure::Trap, Risk::None, true),
            "{vf}"
        );
        assert_eq!(d.decision.isolation.rule(), RuleId::VTD_IR_ENABLED, "{vf}");
        let plan = d.decision.plan.as_ref().unwrap();
        assert_eq!((plan.trapped_bytes(), plan.collateral_bytes()), (0x2000, 0), "{vf}");
        let bar0 = plan.bars.iter().find(|b| b.index == 0).unwrap();
        let segments: Vec<_> = bar0.segments.iter().map(|s| (s.offset, s.length, s.action)).collect();
        assert_eq!(
            segments,
            [
                (0, 0x2000, SegmentAction::Map),
                (0x2000, 0x1000, SegmentAction::Trap(TrapKind::Table)),
                (0x3000, 0x1000, SegmentAction::Trap(TrapKind::Pba))
            ],
            "{vf}"
        );
        // A VMM reads the ids through VFIO's config region and plans the same layout.
        let input = msix_policy::vmm_input(&root, &r, d).unwrap();
        assert_eq!(input.config[0..4], [0x36, 0x1b, 0x10, 0x00], "{vf}");
        let layout = msix_policy::policy::plan_layout(&input).unwrap();
        assert_eq!((layout.exposure, layout.trapped_bytes), (Exposure::Trap, 0x2000), "{vf}");
    }
}

/// The VFIO backend is a fact of the host. An iommufd-only kernel (VFIO cdev and iommufd, no
/// type1 container) decides with iommufd's own allow_unsafe_interrupts; the type1 parameter on
/// its command line has no module to apply to.
#[test]
fn an_iommufd_only_kernel_decides_with_iommufds_own_parameter() {
    use msix_policy::policy::VfioBackend;
    let r = audit(common::fixture("synthetic/x86-iommufd-only"), &AuditOptions::default()).unwrap();
    assert_eq!(r.host.vfio_backend, VfioBackend::Iommufd);
    assert_eq!(r.host.vfio_backends.type1.value, Some(false));
    assert_eq!(r.host.vfio_backends.cdev.value, Some(true));
    assert_eq!(r.host.allow_unsafe_interrupts.value, Some(false));
    assert!(r.host.allow_unsafe_interrupts.evidence.observed.contains("allow_unsafe_interrupts=1 is ignored"));
    for a in ["0000:00:02.0", "0000:00:04.0"] {
        let d = &r.device(a).unwrap().decision;
        assert_eq!(d.exposure, Exposure::Refuse, "{a}");
        assert!(d.fired(RuleId::ASSIGN_REFUSED_IOMMUFD) && !d.fired(RuleId::ASSIGN_ALLOW_UNSAFE), "{a}");
        let reason = d.reasons.iter().find(|r| r.rule == RuleId::ASSIGN_REFUSED_IOMMUFD).unwrap();
        assert!(reason.evidence.iter().any(|e| e.observed.starts_with("iommufd assumed")), "{:?}", reason.evidence);
    }
    let r = audit(common::fixture("synthetic/x86-iommufd-only-allow-unsafe"), &AuditOptions::default()).unwrap();
    assert_eq!(r.host.vfio_backend, VfioBackend::Iommufd);
    for a in ["0000:00:02.0", "0000:00:04.0"] {
        let d = &r.device(a).unwrap().decision;
        assert_eq!((d.exposure, d.risk), (Exposure::Trap, Risk::Unsafe), "{a}");
        assert!(d.fired(RuleId::ASSIGN_IOMMUFD_ALLOW_UNSAFE), "{a}");
    }
}

/// Where both type1 and iommufd exist, the decision is type1's, as before, and says so.
#[test]
fn both_backends_decide_with_type1_and_say_which_was_assumed() {
    use msix_policy::policy::VfioBackend;
    let r = audit(common::fixture("synthetic/x86-vtd-type1-and-iommufd"), &AuditOptions::default()).unwrap();
    assert_eq!(r.host.vfio_backend, VfioBackend::Type1);
    assert_eq!((r.host.vfio_backends.type1.value, r.host.iommufd.value), (Some(true), Some(true)));
    let d = &r.device("0000:00:04.0").unwrap().decision;
    assert_eq!(d.exposure, Exposure::Trap);
    let reason = d.reasons.iter().find(|r| r.rule == RuleId::ASSIGN_ISOLATED).unwrap();
    assert!(reason.evidence.iter().any(|e| e.observed.starts_with("type1 assumed; iommufd")), "{:?}", reason.evidence);
    // The audit notes what the other backend would decide.
    assert!(
        reason.evidence.iter().any(|e| e.observed == "iommufd would bind it too (isolated MSIs)"),
        "{:?}",
        reason.evidence
    );
    // A host that shows only type1 says nothing about a choice.
    let r = audit(common::fixture("synthetic/x86-vtd-ir"), &AuditOptions::default()).unwrap();
    assert_eq!(r.host.vfio_backends.assumed, None);
    let d = &r.device("0000:00:04.0").unwrap().decision;
    assert!(d.reasons.iter().find(|r| r.rule == RuleId::ASSIGN_ISOLATED).unwrap().evidence.is_empty());
}

/// A vfio-noiommu group can never back a VM: refused, whatever allow_unsafe_interrupts says.
#[test]
fn a_noiommu_group_is_refused_never_safe() {
    let r = audit(common::fixture("synthetic/x86-noiommu-mode"), &AuditOptions::default()).unwrap();
    assert_eq!(r.host.allow_unsafe_interrupts.value, Some(true));
    for a in ["0000:00:02.0", "0000:00:04.0"] {
        let dev = r.device(a).unwrap();
        assert!(dev.facts.noiommu.is_some(), "{a}");
        let d = &dev.decision;
        assert_eq!((d.exposure, d.assignable, d.risk), (Exposure::Refuse, false, Risk::None), "{a}");
        assert!(d.fired(RuleId::ASSIGN_NOIOMMU), "{a}");
        assert!(!d.fired(RuleId::ASSIGN_ALLOW_UNSAFE), "{a}");
        let reason = d.reasons.iter().find(|r| r.rule == RuleId::ASSIGN_NOIOMMU).unwrap();
        assert!(reason.evidence[0].source.ends_with("iommu_groups/0/name") || a != "0000:00:02.0");
    }
    // A paravirtual guest changes nothing.
    let r = audit(common::fixture("synthetic/x86-noiommu-mode"), &opts(GuestSelection::Paravirtual)).unwrap();
    assert_eq!(r.device("0000:00:04.0").unwrap().decision.exposure, Exposure::Refuse);
}

/// A GICv5 host: the idle function bound to vfio-pci is decided by the device tree
/// (its bridge's msi-map names a GICv5 ITS translate frame), the one with vectors by its exact
/// chip names (ITS-v5-PCI-MSIX-<bdf>); both by the GICv5 rule, never the GICv3 one.
#[test]
fn a_gicv5_host_isolates_idle_and_active_functions_by_the_gicv5_rule() {
    let r = audit(common::fixture("synthetic/arm64-gicv5"), &AuditOptions::default()).unwrap();
    let active = r.device("0000:00:01.0").unwrap();
    let idle = r.device("0000:00:02.0").unwrap();
    for d in [active, idle] {
        assert_eq!(d.decision.isolation.rule(), RuleId::ARM64_GICV5_ITS, "{}", d.address);
        assert!(d.decision.fired(RuleId::ASSIGN_ISOLATED), "{}", d.address);
    }
    assert!(active.decision.isolation.evidence().iter().any(|e| e.observed.contains("ITS-v5-PCI-MSIX-0000:00:01.0")));
    assert!(idle.decision.isolation.evidence().iter().any(|e| e.observed.contains("translate frame of")));
}

/// An i.MX95-like msi-map-mask (0x1ff): the mask is evidence, not a verdict; no present
/// function outside the NVMe's IOMMU group shares its DeviceID, so it is isolated.
#[test]
fn an_msi_map_mask_alone_does_not_make_a_device_id_shared() {
    let r = audit(common::fixture("synthetic/arm64-msi-map-mask"), &AuditOptions::default()).unwrap();
    let nvme = r.device("0000:01:00.0").unwrap();
    assert_eq!(nvme.decision.isolation.rule(), RuleId::ARM64_ITS);
    let port = r.device("0000:00:00.0").unwrap();
    assert_eq!(port.decision.isolation.rule(), RuleId::ARM64_ITS);
    assert!(port.decision.isolation.evidence().iter().any(|e| e.source.ends_with("msi-map-mask")));
    assert!(r.devices.iter().all(|d| !d.decision.fired(RuleId::ARM64_ITS_DEVICEID_SHARED)));
}
