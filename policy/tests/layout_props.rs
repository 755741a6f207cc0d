//! The VMM entry point on arbitrary input: errors, never panics; every layout it returns is
//! well formed, never maps the device's table where the decision traps it, and layout v1 is
//! pinned by a snapshot.

mod support;

use msix_policy_engine::{plan_layout, IsolationAttestation, VfioRegion, VmmInput};
use msix_policy_engine::{GuestSelection, LayoutMode, MmapArea, RelocationPolicy, VfioBackend};
use proptest::prelude::*;
use support::{config_space, MEM32, MEM64};

fn arb_region() -> impl Strategy<Value = VfioRegion> {
    (
        0u32..8,
        prop_oneof![Just(0u64), (4u32..24).prop_map(|s| 1u64 << s), (24u32..64).prop_map(|s| 1u64 << s), any::<u64>()],
        any::<u32>(),
        any::<bool>(),
        proptest::option::of(proptest::collection::vec((0u64..0x20000, 0u64..0x20000), 0..3)),
    )
        .prop_map(|(index, size, flags, msix, sparse)| {
            let mut r = VfioRegion::new(index, size, flags & 0xf).msix_mappable(msix);
            if let Some(a) = sparse {
                r = r.sparse(a.into_iter().map(|(offset, size)| MmapArea { offset, size }).collect());
            }
            r
        })
}

fn arb_input() -> impl Strategy<Value = VmmInput> {
    let bars = proptest::collection::vec(
        (0usize..6, prop_oneof![Just(MEM32), Just(MEM64), Just(0x1u32), Just(0x8u32), any::<u32>()]),
        0..6,
    );
    let msix = proptest::option::of((
        1u16..2049,
        0u8..8,
        (0u32..0x8_0000).prop_map(|o| o & !7),
        0u8..8,
        (0u32..0x8_0000).prop_map(|o| o & !7),
    ));
    let page = prop_oneof![Just(4096u64), Just(16384), Just(65536), any::<u64>()];
    let iso =
        (prop_oneof![Just(VfioBackend::Type1), Just(VfioBackend::Iommufd), Just(VfioBackend::SpaprTce)], any::<bool>())
            .prop_map(|(backend, allow_unsafe_interrupts)| IsolationAttestation::KernelAccepted {
                backend,
                allow_unsafe_interrupts,
            });
    let guest = prop_oneof![
        Just(GuestSelection::Auto),
        Just(GuestSelection::Paravirtual),
        Just(GuestSelection::DirectTableWrites)
    ];
    let mode = prop_oneof![Just(LayoutMode::MsixPolicy), Just(LayoutMode::Qemu), Just(LayoutMode::CloudHypervisor)];
    let reloc = (any::<bool>(), any::<bool>(), any::<bool>())
        .prop_map(|(add_bar, extend_bar, extend_32bit_bar)| RelocationPolicy { add_bar, extend_bar, extend_32bit_bar });
    (bars, msix, proptest::collection::vec(arb_region(), 0..7), page, iso, guest, mode, reloc, any::<u8>()).prop_map(
        |(bars, msix, regions, page, iso, guest, mode, reloc, cut)| {
            let mut config = config_space((0x1234, 0x5678), 0x010802, &bars, msix);
            if cut < 16 {
                config.truncate(usize::from(cut) * 16);
            }
            VmmInput::new(config, regions, page, iso).guest(guest).mode(mode).relocation(reloc)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_inputs_give_an_error_or_a_well_formed_layout(input in arb_input()) {
        if let Ok(l) = plan_layout(&input) {
            prop_assert_eq!(l.check_well_formed(), Ok(()));
            // Same input, same layout.
            prop_assert_eq!(plan_layout(&input).ok(), Some(l));
        }
    }

    #[test]
    fn arbitrary_json_gives_an_error_not_a_panic(text in "\\PC{0,400}") {
        if let Ok(input) = VmmInput::from_json(&text) {
            let _ = plan_layout(&input);
        }
    }
}

/// Layout v1, pinned: a change in this snapshot changes what guests see, and breaks migration.
#[test]
fn layout_v1_is_pinned() {
    const K: u64 = 1024;
    let accepted = IsolationAttestation::KernelAccepted { backend: VfioBackend::Type1, allow_unsafe_interrupts: false };
    let nvme = config_space((0x1b36, 0x0010), 0x010802, &[(0, MEM64)], Some((65, 0, 0x2000, 0, 0x3000)));
    let mlx = config_space((0x15b3, 0x101e), 0x020000, &[(0, MEM64)], Some((64, 0, 0x2800, 0, 0x2c00)));
    let mut out = Vec::new();
    for (name, config, size) in [("nvme", &nvme, 16 * K), ("unaligned", &mlx, 64 * K)] {
        for page in [4 * K, 64 * K] {
            for mode in [LayoutMode::MsixPolicy, LayoutMode::Qemu, LayoutMode::CloudHypervisor] {
                let regions = vec![VfioRegion::new(0, size, 7).msix_mappable(true)];
                let input = VmmInput::new(config.clone(), regions, page, accepted.clone())
                    .guest(GuestSelection::DirectTableWrites)
                    .mode(mode);
                let l = plan_layout(&input).unwrap();
                let mut v = serde_json::to_value(&l).unwrap();
                v["decision"] = serde_json::Value::Null; // reasons are prose; the layout is the ABI
                out.push(
                    serde_json::json!({ "case": format!("{name} {} KiB {}", page / K, mode.as_str()), "layout": v }),
                );
            }
        }
    }
    insta::assert_json_snapshot!("layout_v1", out);
}
