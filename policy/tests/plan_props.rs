//! Invariants of mapping plans over random devices, hosts and choices.

mod support;

use msix_policy_engine::*;
use proptest::prelude::*;
use support::*;

fn arb_device() -> impl Strategy<Value = DeviceFacts> {
    // Up to three memory BARs at indices 0, 2, 4 (64-bit) with power-of-two sizes, starts that
    // are sometimes off a page boundary, and an MSI-X table and PBA placed anywhere (even
    // outside their BAR) with any vector count.
    let bar = (7u32..21, any::<bool>(), 0u64..4);
    (
        proptest::collection::vec(bar, 1..=3),
        1u16..=2048,
        0usize..3,
        0usize..3,
        any::<u32>(),
        any::<u32>(),
        proptest::collection::vec((0usize..3, any::<u32>(), 1u64..0x4000), 0..3),
    )
        .prop_map(|(bars, vectors, tb, pb, toff, poff, hot)| {
            let bars: Vec<Bar> = bars
                .iter()
                .enumerate()
                .map(|(i, &(shift, prefetch, misalign))| {
                    let size = 1u64 << shift;
                    Bar {
                        index: (i * 2) as u8,
                        kind: BarKind::Memory64,
                        prefetchable: prefetch,
                        start: 0x1_0000_0000 * (i as u64 + 1) + misalign * 0x1000,
                        size,
                    }
                })
                .collect();
            let n = bars.len();
            let pick = |k: usize| &bars[k % n];
            let (t, p) = (pick(tb), pick(pb));
            // Offsets mostly inside the BAR, QWORD aligned; a few outside.
            let place = |b: &Bar, raw: u32| ((u64::from(raw) % (b.size + b.size / 4)) as u32) & !7;
            let hot_windows = hot
                .iter()
                .map(|&(k, off, len)| {
                    let b = pick(k);
                    HotWindow { bar: b.index, offset: u64::from(off) % b.size, length: len, what: "hot".into() }
                })
                .collect();
            DeviceFacts {
                address: "0000:02:00.0".into(),
                vendor: Some(0x15b3),
                device: Some(0x101e),
                class: Some(0x020000),
                driver: None,
                iommu_group: Some(3),
                header: HeaderKind::Endpoint,
                msix: MsixFacts::Present {
                    capability: MsixCapability {
                        cap_offset: 0x9c,
                        table_size: vectors,
                        table_bir: t.index,
                        table_offset: place(t, toff),
                        pba_bir: p.index,
                        pba_offset: place(p, poff),
                    },
                },
                bars: Some(bars),
                hot_windows,
                evidence: vec![],
                vfio_regions: Vec::new(),
                noiommu: None,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn plans_are_page_aligned_exact_and_safe(
        device in arb_device(),
        page in prop_oneof![Just(4096u64), Just(16384), Just(65536)],
        iso in prop_oneof![Just("isolated"), Just("not-isolated"), Just("unknown")],
        guest in prop_oneof![Just(GuestSelection::Paravirtual), Just(GuestSelection::DirectTableWrites)],
        mappable in prop_oneof![Just(Some(true)), Just(Some(false)), Just(None)],
        allow in prop_oneof![Just(Some(true)), Just(Some(false))],
    ) {
        let host = host(page, VfioBackend::Type1, allow, mappable);
        let isolation = verdict(iso);
        let d = decide(DecisionInput { host: &host, device: &device, isolation: &isolation, guest, overrides: &Overrides::default(), layout: Default::default() }).unwrap();
        if let Some(plan) = &d.plan {
            prop_assert_eq!(check_plan_shape(plan), Ok(()));
            if matches!(d.exposure, Exposure::Trap | Exposure::Refuse) {
                prop_assert!(!maps_msix(plan, &device), "a {:?} plan maps the table: {:?}", d.exposure, plan);
            }
            if iso != "isolated" {
                prop_assert!(!maps_msix(plan, &device));
                prop_assert!(d.exposure != Exposure::Passthrough && d.exposure != Exposure::Relocate);
            }
            if d.exposure == Exposure::Relocate {
                let r = plan.relocation.unwrap();
                prop_assert!(plan.bars.iter().any(|b| b.index == r.bar && b.segments.iter().any(|s| matches!(s.action, SegmentAction::Emulate(_)))));
            }
            // Every physical memory BAR appears once, in index order.
            let idx: Vec<u8> = plan.bars.iter().map(|b| b.index).collect();
            let mut sorted = idx.clone();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(idx, sorted);
        } else {
            prop_assert_eq!(d.exposure, Exposure::Refuse);
        }
    }
}
