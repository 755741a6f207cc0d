//! Issue 14, real devices: dedicated MSI-X BARs, overlapping table and PBA, layouts the spec
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
    assert!(plan::dedicated_msix_bar(&nic, &cap(&nic), 3));
    assert!(!plan::dedicated_msix_bar(&nic, &cap(&nic), 0), "BAR0 holds no MSI-X structure");
    let nvme = nvme();
    assert!(!plan::dedicated_msix_bar(&nvme, &cap(&nvme), 0), "the table starts at 0x2000, after registers");
    // A 32 KiB BAR is larger than the 16 KiB that table and PBA need: it may hold registers.
    let mut big = e1000e();
    if let Some(bars) = &mut big.bars {
        bars[3].size = 0x8000;
    }
    assert!(!plan::dedicated_msix_bar(&big, &cap(&big), 3));
    // A known register window in the BAR: not dedicated.
    let mut hot = e1000e();
    hot.hot_windows.push(HotWindow { bar: 3, offset: 0x3000, length: 4, what: "doorbell".into() });
    assert!(!plan::dedicated_msix_bar(&hot, &cap(&hot), 3));
    // The table alone in a 4 KiB BAR, the PBA elsewhere: dedicated too.
    let mut split = e1000e();
    set_cap(&mut split, |c| {
        c.pba_bir = 0;
        c.pba_offset = 0x1_f000;
    });
    if let Some(bars) = &mut split.bars {
        bars[3].size = 0x1000;
    }
    assert!(plan::dedicated_msix_bar(&split, &cap(&split), 3));
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
