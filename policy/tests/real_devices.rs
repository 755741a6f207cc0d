//! Real devices: dedicated MSI-X BARs, overlapping table and PBA, layouts the spec
//! forbids and the quirks that correct known ones. Hand-built facts only.

mod support;

use msix_policy_engine::*;
use support::*;

/// An Intel NIC (e1000e as QEMU models it): BAR0 128 KiB registers, BAR1 128 KiB flash, BAR2
/// 32 bytes of I/O, BAR3 a 16 KiB MSI-X BAR with 5 vectors, table at 0, PBA at 0x2000.
pub fn e1000e() -> DeviceFacts {
    let mem =
        |index: u8, start: u64, size: u64| Bar { index, kind: BarKind::Memory32, prefetchable: false, start, size };
    DeviceFacts {
        address: "0000:00:02.0".into(),
        vendor: Some(0x8086),
        device: Some(0x10d3),
        class: Some(0x020000),
        driver: Some("vfio-pci".into()),
        iommu_group: Some(3),
        header: HeaderKind::Endpoint,
        bars: Some(vec![
            mem(0, 0x1000_0000, 0x2_0000),
            mem(1, 0x1002_0000, 0x2_0000),
            Bar { index: 2, kind: BarKind::Io, prefetchable: false, start: 0x1000, size: 0x20 },
            mem(3, 0x1004_0000, 0x4000),
        ]),
        msix: MsixFacts::Present {
            capability: MsixCapability {
                cap_offset: 0xa0,
                table_size: 5,
                table_bir: 3,
                table_offset: 0,
                pba_bir: 3,
                pba_offset: 0x2000,
            },
        },
        hot_windows: vec![],
        evidence: vec![Evidence::new("sys/bus/pci/devices/0000:00:02.0/config", "test")],
        vfio_regions: Vec::new(),
        noiommu: None,
    }
}

pub fn cap(d: &DeviceFacts) -> MsixCapability {
    match &d.msix {
        MsixFacts::Present { capability } => *capability,
        _ => panic!("no capability"),
    }
}

pub fn set_cap(d: &mut DeviceFacts, f: impl FnOnce(&mut MsixCapability)) {
    if let MsixFacts::Present { capability } = &mut d.msix {
        f(capability);
    }
}

pub fn decide_on(page: u64, device: &DeviceFacts, iso: &str, allow: Option<bool>) -> Decision {
    let host = host(page, VfioBackend::Type1, allow, Some(true));
    let isolation = verdict(iso);
    let d = decide(DecisionInput {
        host: &host,
        device,
        isolation: &isolation,
        guest: GuestSelection::DirectTableWrites,
        overrides: &Overrides::default(),
        layout: Default::default(),
    })
    .unwrap();
    if let Some(p) = &d.plan {
        check_plan_shape(p).unwrap();
    }
    d
}

fn rules_of(d: &Decision) -> Vec<&str> {
    d.rule_ids().collect()
}

// ---- 1. Relocation that pays ----

#[test]
fn an_intel_nic_msix_bar_is_dedicated_and_the_nvme_bar_is_not() {
    let nic = e1000e();
    assert!(nic.dedicated_msix_bar(&cap(&nic), 3));
    assert!(!nic.dedicated_msix_bar(&cap(&nic), 0), "BAR0 holds no MSI-X structure");
    let nvme = nvme();
    assert!(!nvme.dedicated_msix_bar(&cap(&nvme), 0), "the table starts at 0x2000, after registers");
    // A 32 KiB BAR is larger than the 16 KiB that table and PBA need: it may hold registers.
    let mut big = e1000e();
    if let Some(bars) = &mut big.bars {
        bars[3].size = 0x8000;
    }
    assert!(!big.dedicated_msix_bar(&cap(&big), 3));
    // A known register window in the BAR: not dedicated.
    let mut hot = e1000e();
    hot.hot_windows.push(HotWindow { bar: 3, offset: 0x3000, length: 4, what: "doorbell".into() });
    assert!(!hot.dedicated_msix_bar(&cap(&hot), 3));
    // The table alone in a 4 KiB BAR, the PBA elsewhere: dedicated too.
    let mut split = e1000e();
    set_cap(&mut split, |c| {
        c.pba_bir = 0;
        c.pba_offset = 0x1_f000;
    });
    if let Some(bars) = &mut split.bars {
        bars[3].size = 0x1000;
    }
    assert!(split.dedicated_msix_bar(&cap(&split), 3));
}

#[test]
fn a_dedicated_msix_bar_traps_on_16k_and_64k_pages_with_no_collateral() {
    let nic = e1000e();
    for page in [16384, 65536] {
        let d = decide_on(page, &nic, "isolated", None);
        assert_eq!(d.exposure, Exposure::Trap, "{page}");
        assert_eq!(d.risk, Risk::None);
        assert!(rules_of(&d).contains(&"exposure.trap.dedicated-msix-bar"), "{:?}", rules_of(&d));
        let reason = d.reasons.iter().find(|r| r.rule == "exposure.trap.dedicated-msix-bar").unwrap();
        assert!(reason.detail.contains("BAR3") && reason.detail.contains("8192 trapped bytes"), "{}", reason.detail);
        let plan = d.plan.unwrap();
        assert_eq!(plan.collateral_bytes(), 0);
        assert_eq!(plan.trapped_bytes(), 0x4000);
        assert!(plan.relocation.is_none());
    }
    // On 4 KiB pages nothing beyond the 4 KiB ranges traps: the ordinary rule.
    let d = decide_on(4096, &nic, "isolated", None);
    assert!(rules_of(&d).contains(&"exposure.trap.guest-writes"), "{:?}", rules_of(&d));
}

#[test]
fn relocation_still_pays_where_trapped_pages_hold_registers() {
    // The NVMe's table shares a 64 KiB page with its doorbells.
    let d = decide_on(65536, &nvme(), "isolated", None);
    assert_eq!(d.exposure, Exposure::Relocate);
    // A 32 KiB MSI-X BAR may hold registers beyond 16 KiB: relocated.
    let mut big = e1000e();
    if let Some(bars) = &mut big.bars {
        bars[3].size = 0x8000;
    }
    let d = decide_on(65536, &big, "isolated", None);
    assert_eq!(d.exposure, Exposure::Relocate, "{:?}", rules_of(&d));
    // A hot window in the MSI-X BAR: relocated.
    let mut hot = e1000e();
    hot.hot_windows.push(HotWindow { bar: 3, offset: 0x3000, length: 4, what: "doorbell".into() });
    let d = decide_on(65536, &hot, "isolated", None);
    assert_eq!(d.exposure, Exposure::Relocate, "{:?}", rules_of(&d));
}

// ---- 2. Overlapping table and PBA ----

#[test]
fn an_overlapping_table_and_pba_is_a_warning_citing_the_spec() {
    let mut d = nvme();
    set_cap(&mut d, |c| c.pba_offset = 0x2100); // the table is 65 * 16 = 0x410 bytes from 0x2000
    let dec = decide_on(4096, &d, "isolated", None);
    let r = dec.reasons.iter().find(|r| r.rule == "device.msix-table-pba-overlap").expect("overlap reason");
    assert!(r.reference.contains("PCI Local Bus Specification"), "{}", r.reference);
    assert!(dec.warnings.iter().any(|w| w.contains("overlap")), "{:?}", dec.warnings);
    // Touching is not overlapping; different BARs never overlap.
    let mut touch = nvme();
    set_cap(&mut touch, |c| c.pba_offset = 0x2410);
    assert!(!cap(&touch).table_and_pba_overlap());
    assert!(!decide_on(4096, &touch, "isolated", None).rule_ids().any(|r| r == "device.msix-table-pba-overlap"));
    let nic = e1000e();
    let mut other = cap(&nic);
    other.pba_bir = 0;
    other.pba_offset = 0;
    assert!(!other.table_and_pba_overlap());
}

// ---- 3. Layouts the spec forbids, and quirks ----

#[test]
fn a_pba_past_its_bar_on_an_isolated_device_traps_what_is_claimed_and_maps_the_rest() {
    let mut d = nvme();
    set_cap(&mut d, |c| c.pba_offset = 0x8000); // BAR0 is 16 KiB
    let dec = decide_on(4096, &d, "isolated", None);
    assert_eq!(dec.exposure, Exposure::Trap);
    assert_eq!(dec.risk, Risk::SelfOnly, "the real table may be mapped");
    let ids = rules_of(&dec);
    assert!(ids.contains(&"device.msix-outside-bar") && ids.contains(&"exposure.trap.msix-as-claimed"), "{ids:?}");
    let why = dec.reasons.iter().find(|r| r.rule == "exposure.trap.msix-as-claimed").unwrap();
    assert!(why.detail.contains("PBA at BAR0 offset 0x8000"), "{}", why.detail);
    let plan = dec.plan.unwrap();
    let b = &plan.bars[0];
    // The table's page traps, the rest of the BAR is mapped.
    let trapped: Vec<_> = b
        .segments
        .iter()
        .filter(|s| matches!(s.action, SegmentAction::Trap(_)))
        .map(|s| (s.offset, s.length))
        .collect();
    assert_eq!(trapped, vec![(0x2000, 0x1000)]);
    assert_eq!(b.trapped_table_bytes, 65 * 16);
}

#[test]
fn a_table_in_an_io_bar_or_past_its_bar_traps_only_what_it_claims_on_an_isolated_device() {
    // Realtek 10ec:816c/816e (corpus): table and PBA claimed at offset 0 of I/O BAR0. No memory
    // BAR holds them: every memory BAR maps, the I/O BAR is forwarded as always.
    let mut d = e1000e();
    set_cap(&mut d, |c| {
        c.table_bir = 2;
        c.pba_bir = 2;
        c.pba_offset = 0;
    });
    let dec = decide_on(65536, &d, "isolated", None);
    assert_eq!(dec.exposure, Exposure::Trap);
    assert_eq!(dec.risk, Risk::SelfOnly, "the guest reaches the I/O BAR");
    let why = dec.reasons.iter().find(|r| r.rule == "exposure.trap.msix-as-claimed").unwrap();
    assert!(why.detail.contains("I/O BAR2"), "{}", why.detail);
    assert!(dec.plan.as_ref().unwrap().bars.iter().all(|b| b.trapped_bytes == 0), "{:?}", dec.plan);
    // A table wholly past the end of its 16 KiB memory BAR3: that BAR traps whole (the table
    // may answer at an alias), the register BARs map.
    let mut d = e1000e();
    set_cap(&mut d, |c| c.table_offset = 0x8000);
    let dec = decide_on(65536, &d, "isolated", None);
    let why = dec.reasons.iter().find(|r| r.rule == "exposure.trap.msix-as-claimed").unwrap();
    assert!(why.detail.contains("wholly past BAR3"), "{}", why.detail);
    let plan = dec.plan.unwrap();
    for b in &plan.bars {
        let expect = if b.index == 3 { b.size } else { 0 };
        assert_eq!(b.trapped_bytes, expect, "BAR{}", b.index);
    }
}

#[test]
fn a_table_in_no_known_bar_is_unknown_and_traps_everything() {
    // A BIR naming a BAR the facts do not show looks the same as a `resource` file that could
    // not be read: where the table is, is unknown, so every memory BAR traps.
    let mut d = e1000e();
    set_cap(&mut d, |c| c.table_bir = 5);
    let dec = decide_on(65536, &d, "isolated", None);
    let r = dec.reasons.iter().find(|r| r.rule == "device.msix-outside-bar").unwrap();
    assert!(r.detail.contains("absent"), "{}", r.detail);
    assert!(rules_of(&dec).contains(&"exposure.trap.msix-unknown"), "{:?}", rules_of(&dec));
    assert_eq!(dec.risk, Risk::None);
    assert!(dec.plan.unwrap().bars.iter().all(|b| b.trapped_bytes == b.size));
    // No BARs read at all (an empty `resource`): the same.
    let mut d = nvme();
    d.bars = Some(vec![]);
    let dec = decide_on(4096, &d, "isolated", None);
    assert!(rules_of(&dec).contains(&"exposure.trap.msix-unknown"), "{:?}", rules_of(&dec));
    assert_eq!(dec.risk, Risk::None);
}

// ---- Sub-page BARs grow from a page ----

/// Intel RST / C3000 SATA in RAID mode (corpus, 8086:2822 and kin): every BAR slot used, table
/// at 0 of an 8 KiB BAR0, PBA at 0 of a 256-byte BAR1, the 2 KiB AHCI BAR5.
fn intel_rst() -> DeviceFacts {
    let mut d = e1000e();
    let bar = |index: u8, kind: BarKind, start: u64, size: u64| Bar { index, kind, prefetchable: false, start, size };
    d.vendor = Some(0x8086);
    d.device = Some(0x2822);
    d.class = Some(0x010400);
    d.bars = Some(vec![
        bar(0, BarKind::Memory32, 0x1000_0000, 0x2000),
        bar(1, BarKind::Memory32, 0x1001_0000, 0x100),
        bar(2, BarKind::Io, 0x1000, 8),
        bar(3, BarKind::Io, 0x1010, 4),
        bar(4, BarKind::Io, 0x1020, 0x20),
        bar(5, BarKind::Memory32, 0x1002_0000, 0x800),
    ]);
    set_cap(&mut d, |c| {
        c.table_size = 1;
        c.table_bir = 0;
        c.table_offset = 0;
        c.pba_bir = 1;
        c.pba_offset = 0;
    });
    d
}

/// The same layout from a vendor no driver entry knows: without knowledge BAR0 may hold
/// registers, so the table moves (the mechanism of growing a sub-page BAR from a page).
fn rst_like_unknown_driver() -> DeviceFacts {
    let mut d = intel_rst();
    d.vendor = Some(0x1234);
    d.device = Some(0x5678);
    d
}

#[test]
fn the_real_intel_rst_traps_its_bar0_that_ahci_never_maps() {
    let d = intel_rst();
    for page in [16384u64, 65536] {
        let dec = decide_on(page, &d, "isolated", None);
        assert_eq!(dec.exposure, Exposure::Trap, "{page}: {:?}", rules_of(&dec));
        assert!(rules_of(&dec).contains(&"exposure.trap.driver-unmapped-bar"), "{:?}", rules_of(&dec));
        assert_eq!(dec.plan.unwrap().collateral_bytes(), 0);
    }
}

#[test]
fn with_every_slot_used_a_sub_page_bar_grows_from_a_page_and_the_table_moves_there() {
    let d = rst_like_unknown_driver();
    // On 4 KiB pages trapping BAR0's first page costs nothing.
    assert_eq!(decide_on(4096, &d, "isolated", None).exposure, Exposure::Trap);
    for page in [16384u64, 65536] {
        let dec = decide_on(page, &d, "isolated", None);
        assert_eq!(dec.exposure, Exposure::Relocate, "{page}: {:?}", rules_of(&dec));
        let plan = dec.plan.unwrap();
        let r = plan.relocation.unwrap();
        // The smallest BAR as presented (a page) wins: BAR1, 256 bytes, grows to two pages.
        assert_eq!((r.bar, r.origin, r.table_offset, r.bar_size), (1, BarOrigin::Extended, page, 2 * page));
        assert_eq!(plan.collateral_bytes(), 0);
        assert!(plan.bars.iter().filter(|b| b.origin != BarOrigin::Virtual).all(|b| b.trapped_bytes == 0));
        let why = dec.reasons.iter().find(|r| r.rule == "exposure.relocate").unwrap();
        assert!(why.detail.contains("BAR1 (extended)"), "{}", why.detail);
    }
}

#[test]
fn a_sub_page_bar_grows_only_where_vfio_could_map_its_page() {
    // BAR1 off a page boundary cannot be mapped on 64 KiB pages (vfio-pci maps a sub-page BAR
    // only when it starts a page), so BAR5 (aligned) grows instead.
    let mut d = rst_like_unknown_driver();
    if let Some(bars) = d.bars.as_mut() {
        bars[1].start = 0x1001_0100;
    }
    let dec = decide_on(65536, &d, "isolated", None);
    let r = dec.plan.unwrap().relocation.unwrap();
    assert_eq!((r.bar, r.table_offset), (5, 65536));
    // With a VMM that forbids growing BARs nothing moves and the collateral stays.
    let host = host(65536, VfioBackend::Type1, None, Some(true));
    let iso = verdict("isolated");
    let layout = LayoutOptions {
        relocation: RelocationPolicy { extend_32bit_bar: false, ..Default::default() },
        ..Default::default()
    };
    let dec = decide(DecisionInput {
        host: &host,
        device: &rst_like_unknown_driver(),
        isolation: &iso,
        guest: GuestSelection::DirectTableWrites,
        overrides: &Overrides::default(),
        layout,
    })
    .unwrap();
    assert_eq!(dec.exposure, Exposure::Trap);
    assert!(dec.plan.unwrap().collateral_bytes() > 0);
}

#[test]
fn without_isolation_a_forbidden_layout_still_traps_everything() {
    let mut d = nvme();
    set_cap(&mut d, |c| c.pba_offset = 0x8000);
    for iso in ["not-isolated", "unknown"] {
        let dec = decide_on(4096, &d, iso, Some(true));
        assert_eq!(dec.exposure, Exposure::Trap);
        assert_eq!(dec.risk, Risk::Unsafe);
        assert!(rules_of(&dec).contains(&"exposure.trap.msix-unknown"), "{:?}", rules_of(&dec));
        let plan = dec.plan.unwrap();
        assert!(plan.bars.iter().all(|b| b.trapped_bytes == b.size));
        // And refused as before without allow_unsafe_interrupts.
        assert_eq!(decide_on(4096, &d, iso, Some(false)).exposure, Exposure::Refuse);
    }
}

/// A Chelsio T5 VF as QEMU describes it: BAR0 8 KiB, table at 0, PBA reported at 0x8000.
fn chelsio_t5_vf() -> DeviceFacts {
    let mut d = nvme();
    d.vendor = Some(0x1425);
    d.device = Some(0x5803);
    d.hot_windows.clear();
    if let Some(bars) = &mut d.bars {
        bars[0].size = 0x2000;
    }
    set_cap(&mut d, |c| {
        c.table_size = 8;
        c.table_offset = 0;
        c.pba_offset = 0x8000;
    });
    d.evidence = vec![Evidence::new("sys/bus/pci/devices/0000:01:00.0/config", "test")];
    d
}

#[test]
fn the_chelsio_t5_vf_pba_quirk_corrects_the_offset_with_its_own_rule() {
    let d = chelsio_t5_vf();
    let (fixed, reason) = d.with_quirks().expect("quirk applies");
    assert_eq!(cap(&fixed).pba_offset, 0x1000);
    assert_eq!(reason.rule, "device.quirk.chelsio-t5-vf-pba");
    assert!(reason.evidence.iter().any(|e| e.observed.contains("0x8000") && e.observed.contains("0x1000")));
    assert!(reason.reference.contains("vfio_msix_early_setup"));
    let dec = decide_on(4096, &d, "isolated", None);
    let ids = rules_of(&dec);
    assert!(ids.contains(&"device.quirk.chelsio-t5-vf-pba"), "{ids:?}");
    assert!(!ids.contains(&"device.msix-outside-bar"), "{ids:?}");
    assert!(ids.contains(&"exposure.trap.guest-writes"), "{ids:?}");
    let plan = dec.plan.unwrap();
    assert_eq!(plan.bars[0].trapped_pba_bytes, 8);
    // Not isolated: the correction still applies, the refusal too.
    assert_eq!(decide_on(4096, &d, "not-isolated", Some(false)).exposure, Exposure::Refuse);
}

#[test]
fn the_chelsio_quirk_touches_nothing_else() {
    // Another Chelsio device id, a PBA inside its BAR, another vendor: no quirk.
    let mut other_id = chelsio_t5_vf();
    other_id.device = Some(0x5403);
    let mut in_bar = chelsio_t5_vf();
    set_cap(&mut in_bar, |c| c.pba_offset = 0x1800);
    let mut other_vendor = chelsio_t5_vf();
    other_vendor.vendor = Some(0x8086);
    for d in [other_id, in_bar, other_vendor] {
        assert!(d.with_quirks().is_none(), "{:?}", d.device);
    }
    assert!(QUIRKS.iter().all(|q| !q.source.is_empty() && q.rule.rule().is_some()));
}

#[test]
fn the_vmm_entry_point_applies_the_chelsio_quirk_and_rejects_other_forbidden_layouts() {
    use msix_policy_engine::{plan_layout, IsolationAttestation, VfioRegion, VmmInput, REGION_MMAP, REGION_RW};
    let accepted = IsolationAttestation::KernelAccepted { backend: VfioBackend::Type1, allow_unsafe_interrupts: false };
    let region = || vec![VfioRegion::new(0, 0x2000, REGION_RW | REGION_MMAP).msix_mappable(true)];
    let chelsio = config_space((0x1425, 0x5803), 0x020000, &[(0, MEM64)], Some((8, 0, 0, 0, 0x8000)));
    let l = plan_layout(&VmmInput::new(chelsio, region(), 4096, accepted.clone()).arch("x86_64")).unwrap();
    assert!(l.decision.rule_ids().any(|r| r == "device.quirk.chelsio-t5-vf-pba"));
    let msix = l.msix.unwrap();
    assert_eq!(msix.pba_offset, 0x1000, "the guest reads the corrected PBA offset");
    let other = config_space((0x8086, 0x5803), 0x020000, &[(0, MEM64)], Some((8, 0, 0, 0, 0x8000)));
    let err = plan_layout(&VmmInput::new(other, region(), 4096, accepted).arch("x86_64")).unwrap_err();
    assert!(matches!(err, msix_policy_engine::InputError::MsixOutsideBar(_)), "{err}");
}

// ---- Bytes before the first MSI-X structure in its 4 KiB range are registers ----

/// One 64-bit BAR0 of `size` bytes with the table (`vectors`) and PBA at the given offsets.
fn one_bar(size: u64, vectors: u16, table: u32, pba: u32) -> DeviceFacts {
    let mut d = nvme();
    d.vendor = Some(0x1234);
    d.device = Some(0x5678);
    d.class = Some(0xff0000);
    d.hot_windows.clear();
    if let Some(bars) = &mut d.bars {
        bars[0].size = size;
    }
    set_cap(&mut d, |c| {
        c.table_size = vectors;
        c.table_offset = table;
        c.pba_offset = pba;
    });
    d
}

#[test]
fn bytes_before_the_first_msix_structure_in_its_4k_range_are_collateral() {
    // (layout, collateral on 4 KiB pages): a PCIe endpoint test function with its table at 0x80
    // after its control registers; a NIC with the table at 0x1200; an accelerator with the PBA at
    // 0x46068 first in its range and the table at 0x46800.
    let cases = [
        ("table at 0x80", one_bar(0x4000, 32, 0x80, 0x1000), 0x80),
        ("table at 0x1200", one_bar(0x4000, 16, 0x1200, 0x3000), 0x200),
        ("PBA at 0x46068, table at 0x46800", one_bar(0x8_0000, 64, 0x4_6800, 0x4_6068), 0x68),
        // Both start their range: nothing before them, the spec's compliant layout.
        ("table at 0x2000", one_bar(0x4000, 65, 0x2000, 0x3000), 0),
        // The PBA in the table's range after it: the range starts with the table.
        ("table at 0, PBA at 0x800", one_bar(0x4000, 8, 0, 0x800), 0),
    ];
    for (what, device, want) in cases {
        let trap = MappingPlan::trap(&device, &cap(&device), 4096).unwrap();
        assert_eq!(trap.collateral_bytes(), want, "{what}");
        let d = decide_on(4096, &device, "isolated", None);
        if want > 0 {
            // The trap would catch registers: the table moves, and nothing of BAR0 traps.
            assert_eq!(d.exposure, Exposure::Relocate, "{what}: {:?}", rules_of(&d));
            let reason = d.reasons.iter().find(|r| r.rule == "exposure.relocate").unwrap();
            assert!(reason.detail.starts_with(&format!("{want} collateral bytes")), "{what}: {}", reason.detail);
            assert_eq!(d.plan.unwrap().trapped_bytes(), 0, "{what}");
        } else {
            assert_eq!(d.exposure, Exposure::Trap, "{what}");
            assert!(rules_of(&d).contains(&"exposure.trap.guest-writes"), "{what}");
        }
    }
}

#[test]
fn a_bar_whose_table_starts_after_registers_is_not_dedicated() {
    // A 4 KiB BAR whose table starts at 0x80: the bytes before it may be registers.
    let mut d = one_bar(0x1000, 32, 0x80, 0x800);
    assert!(!d.dedicated_msix_bar(&cap(&d), 0));
    set_cap(&mut d, |c| c.table_offset = 0);
    assert!(d.dedicated_msix_bar(&cap(&d), 0));
}

// ---- A BAR the device's known driver never maps holds no register ----

/// An Intel XL710 (i40e, 8086:1583): BAR0 8 MiB registers, BAR3 32 KiB MSI-X, 129 vectors with
/// the table at 0 and the PBA at 0x1000 (64-bit BARs). BAR3 is larger than its table and PBA
/// need (8 KiB, rounded to 8 KiB), so the facts alone cannot call it dedicated.
fn xl710(device: u16) -> DeviceFacts {
    let mem =
        |index: u8, start: u64, size: u64| Bar { index, kind: BarKind::Memory64, prefetchable: true, start, size };
    let mut d = e1000e();
    d.vendor = Some(0x8086);
    d.device = Some(device);
    d.bars = Some(vec![mem(0, 0x4000_0000, 0x80_0000), mem(3, 0x4080_0000, 0x8000)]);
    set_cap(&mut d, |c| {
        c.table_size = 129;
        c.table_bir = 3;
        c.table_offset = 0;
        c.pba_bir = 3;
        c.pba_offset = 0x1000;
    });
    d
}

#[test]
fn an_msix_bar_the_known_driver_never_maps_traps_instead_of_relocating() {
    let nic = xl710(0x1583);
    assert!(!nic.dedicated_msix_bar(&cap(&nic), 3), "32 KiB is more than table and PBA need");
    assert_eq!(nic.driver_unmapped_msix_bar(&cap(&nic), 3).map(|e| e.driver.as_str()), Some("i40e"));
    assert!(nic.driver_unmapped_msix_bar(&cap(&nic), 0).is_none(), "BAR0 holds no MSI-X structure");
    for page in [16384, 65536] {
        let d = decide_on(page, &nic, "isolated", None);
        assert_eq!(d.exposure, Exposure::Trap, "{page}: {:?}", rules_of(&d));
        assert!(rules_of(&d).contains(&"exposure.trap.driver-unmapped-bar"), "{:?}", rules_of(&d));
        let r = d.reasons.iter().find(|r| r.rule == "exposure.trap.driver-unmapped-bar").unwrap();
        assert!(r.detail.contains("BAR3") && r.detail.contains("i40e maps only BAR0"), "{}", r.detail);
        assert!(r.evidence[0].observed.contains("i40e_main.c"), "{:?}", r.evidence);
        let plan = d.plan.unwrap();
        assert_eq!(plan.collateral_bytes(), 0);
        assert!(plan.relocation.is_none());
    }
    // Without knowledge (an id no entry names) the rule stands: the spare 4 KiB ranges of a
    // 32 KiB BAR may hold registers, so on 64 KiB pages the table moves.
    let unknown = xl710(0x0001);
    assert!(unknown.driver_unmapped_msix_bar(&cap(&unknown), 3).is_none());
    let d = decide_on(65536, &unknown, "isolated", None);
    assert_eq!(d.exposure, Exposure::Relocate, "{:?}", rules_of(&d));
    // A known hot window in the BAR outweighs the driver entry.
    let mut hot = xl710(0x1583);
    hot.hot_windows.push(HotWindow { bar: 3, offset: 0x4000, length: 4, what: "doorbell".into() });
    assert!(hot.driver_unmapped_msix_bar(&cap(&hot), 3).is_none());
    assert_eq!(decide_on(65536, &hot, "isolated", None).exposure, Exposure::Relocate);
}

#[test]
fn a_driver_that_maps_the_msix_bar_leaves_the_rule_standing() {
    // Broadcom bnxt_en maps BAR4 ("bar4 registers"): a table there may share pages with them.
    let mut bnxt = xl710(0x16d7);
    bnxt.vendor = Some(0x14e4);
    if let Some(bars) = &mut bnxt.bars {
        bars[1].index = 4;
    }
    set_cap(&mut bnxt, |c| {
        c.table_bir = 4;
        c.pba_bir = 4;
    });
    assert!(bnxt.driver_unmapped_msix_bar(&cap(&bnxt), 4).is_none());
    assert_eq!(decide_on(65536, &bnxt, "isolated", None).exposure, Exposure::Relocate);
    // Realtek r8169 maps the first memory BAR: BAR2 when BAR0 is I/O; BAR4 (MSI-X) is unmapped.
    let mut rtl = xl710(0x8168);
    rtl.vendor = Some(0x10ec);
    rtl.bars = Some(vec![
        Bar { index: 0, kind: BarKind::Io, prefetchable: false, start: 0xe000, size: 0x100 },
        Bar { index: 2, kind: BarKind::Memory64, prefetchable: false, start: 0x4000_0000, size: 0x1000 },
        Bar { index: 4, kind: BarKind::Memory64, prefetchable: true, start: 0x4010_0000, size: 0x8000 },
    ]);
    set_cap(&mut rtl, |c| {
        c.table_size = 4;
        c.table_bir = 4;
        c.pba_bir = 4;
        c.pba_offset = 0x800;
    });
    assert_eq!(rtl.driver_unmapped_msix_bar(&cap(&rtl), 4).map(|e| e.id.as_str()), Some("r8169"));
    let d = decide_on(65536, &rtl, "isolated", None);
    assert_eq!(d.exposure, Exposure::Trap, "{:?}", rules_of(&d));
    assert!(rules_of(&d).contains(&"exposure.trap.driver-unmapped-bar"));
}
