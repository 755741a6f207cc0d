//! The hot-register table end to end: a window the table knows (AHCI ports, xHCI doorbells) that
//! shares a trapped page shows in the trap plan (`hot_trapped`), in the decision's warnings, and
//! in the relocation's reason; the same function without the table's knowledge reports none of it.

mod support;

use msix_policy_engine::{
    plan_layout, IsolationAttestation, MappingPlan, VfioRegion, VmmInput, REGION_MMAP, REGION_RW,
};
use msix_policy_engine::{Decision, Exposure, GuestSelection, MsixFacts, RelocationPolicy, RuleId, VfioBackend};
use support::{config_space, MEM32, MEM64};

const K: u64 = 1024;
const RWM: u32 = REGION_RW | REGION_MMAP;
const AHCI: &str = "AHCI port registers";
const XHCI: &str = "xHCI doorbell array";

fn accepted() -> IsolationAttestation {
    IsolationAttestation::KernelAccepted { backend: VfioBackend::Type1, allow_unsafe_interrupts: false }
}

/// QEMU's qemu-xhci (1b36:000d, class 0c:03:30): BAR0 64-bit 16 KiB, 16 vectors, table at
/// 0x3000, PBA at 0x3800. `class` lets a test present the same function as something else.
fn xhci(class: u32, page: u64) -> VmmInput {
    let config = config_space((0x1b36, 0x000d), class, &[(0, MEM64)], Some((16, 0, 0x3000, 0, 0x3800)));
    VmmInput::new(config, vec![VfioRegion::new(0, 16 * K, RWM).msix_mappable(true)], page, accepted())
        .guest(GuestSelection::DirectTableWrites)
}

/// An AHCI function (class 01:06:01) with MSI-X in its 16 KiB ABAR (BAR5): 8 vectors, table at
/// 0x2000, PBA at 0x3000; the 32 port register sets at 0x100-0x10ff.
fn ahci(class: u32, page: u64) -> VmmInput {
    let config = config_space((0x1234, 0x5678), class, &[(5, MEM32)], Some((8, 5, 0x2000, 5, 0x3000)));
    VmmInput::new(config, vec![VfioRegion::new(5, 16 * K, RWM).msix_mappable(true)], page, accepted())
        .guest(GuestSelection::DirectTableWrites)
}

fn relocate_detail(d: &Decision) -> &str {
    &d.reasons.iter().find(|r| r.rule == RuleId::EXPOSURE_RELOCATE).expect("a relocation").detail
}

/// The windows a trap of this input's table would catch.
fn hot_trapped_by_trap_plan(input: &VmmInput) -> Vec<String> {
    let f = input.facts().unwrap();
    let MsixFacts::Present { capability } = &f.device.msix else { panic!("no MSI-X") };
    let p = MappingPlan::trap(&f.device, capability, input.page_size).unwrap();
    p.hot_trapped().map(|h| h.what.clone()).collect()
}

#[test]
fn the_xhci_doorbells_share_the_trapped_64k_page_and_the_relocation_names_them() {
    let input = xhci(0x0c_03_30, 64 * K);
    let f = input.facts().unwrap();
    // Everything past the capability registers, up to the table's 4 KiB range.
    let w: Vec<_> = f.device.hot_windows.iter().map(|h| (h.bar, h.offset, h.length)).collect();
    assert_eq!(w, [(0, 0x20, 0x2fe0)]);
    assert!(f.device.hot_windows[0].what.starts_with(XHCI));

    let trapped = hot_trapped_by_trap_plan(&input);
    assert!(trapped.len() == 1 && trapped[0].starts_with(XHCI), "{trapped:?}");
    let l = plan_layout(&input).unwrap();
    assert_eq!(l.exposure, Exposure::Relocate);
    assert!(relocate_detail(&l.decision).contains(XHCI), "{}", relocate_detail(&l.decision));

    // The same function without the table's knowledge (EHCI's prog-if): the same decision, but
    // nothing names a window.
    let other = xhci(0x0c_03_20, 64 * K);
    assert!(other.facts().unwrap().device.hot_windows.is_empty());
    assert!(hot_trapped_by_trap_plan(&other).is_empty());
    let l = plan_layout(&other).unwrap();
    assert_eq!(l.exposure, Exposure::Relocate);
    assert!(!relocate_detail(&l.decision).contains("no longer trap"), "{}", relocate_detail(&l.decision));
}

#[test]
fn on_4k_pages_the_xhci_table_page_holds_no_hot_window() {
    // The upper-bound window stops short of the table's 4 KiB range, so the table's own page
    // traps no doorbell and nothing warns.
    let input = xhci(0x0c_03_30, 4 * K);
    assert!(hot_trapped_by_trap_plan(&input).is_empty());
    let l = plan_layout(&input).unwrap();
    assert_eq!(l.exposure, Exposure::Trap);
    assert!(!l.decision.fired(RuleId::PLAN_HOT_TRAPPED));
    assert!(!l.decision.fired("device.msix-shares-4k-range"));
}

#[test]
fn ahci_ports_in_a_trapped_page_warn_when_relocation_is_forbidden_and_are_spared_when_it_is_not() {
    let input = ahci(0x01_06_01, 64 * K);
    let f = input.facts().unwrap();
    let w: Vec<_> = f.device.hot_windows.iter().map(|h| (h.bar, h.offset, h.length)).collect();
    assert_eq!(w, [(5, 0x100, 0x1000)]);

    // Relocated: the reason names the ports the relocation spares.
    let l = plan_layout(&input).unwrap();
    assert_eq!(l.exposure, Exposure::Relocate);
    assert!(relocate_detail(&l.decision).contains(&format!("{AHCI} (PxCI")), "{}", relocate_detail(&l.decision));
    assert!(!l.decision.fired(RuleId::PLAN_HOT_TRAPPED));

    // Relocation forbidden by the VMM: the table traps, the trap plan lists the ports as
    // hot_trapped and the decision warns.
    let none = RelocationPolicy { add_bar: false, extend_bar: false, extend_32bit_bar: false };
    let l = plan_layout(&input.clone().relocation(none)).unwrap();
    assert_eq!(l.exposure, Exposure::Trap);
    let plan = l.decision.plan.as_ref().unwrap();
    let hot: Vec<_> = plan.hot_trapped().map(|h| (h.bar, h.offset, h.what.as_str())).collect();
    assert!(matches!(hot[..], [(5, 0x100, what)] if what.starts_with(AHCI)), "{hot:?}");
    assert!(l.decision.fired(RuleId::PLAN_HOT_TRAPPED));
    assert!(l.decision.warnings.iter().any(|w| w.starts_with(AHCI)), "{:?}", l.decision.warnings);

    // An IDE function (01:01) with the same layout: no window, no warning.
    let ide = ahci(0x01_01_80, 64 * K);
    let l = plan_layout(&ide.relocation(none)).unwrap();
    assert_eq!(l.exposure, Exposure::Trap);
    assert!(!l.decision.fired(RuleId::PLAN_HOT_TRAPPED));
    assert_eq!(l.decision.plan.unwrap().hot_trapped().count(), 0);
}
