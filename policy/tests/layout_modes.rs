//! The VMM entry point's layouts: msix-policy's own, and the peers' guest ABIs, each checked
//! against the layout worked out by hand from the peer's source.

mod support;

use msix_policy_engine::{plan_layout, IsolationAttestation, VfioRegion, VmmInput, REGION_MMAP, REGION_RW};
use msix_policy_engine::{
    BarKind, BarOrigin, Exposure, GuestSelection, LayoutMode, RelocationPolicy, RuleId, TrapContents, TrapHandler,
    VfioBackend,
};
use support::{config_space, IO, MEM32, MEM64};

const K: u64 = 1024;
const RWM: u32 = REGION_RW | REGION_MMAP;

fn accepted() -> IsolationAttestation {
    IsolationAttestation::KernelAccepted { backend: VfioBackend::Type1, allow_unsafe_interrupts: false }
}

/// NVMe-like: BAR0 64-bit 16 KiB, doorbells at 0x1000, 65 vectors, table 0x2000, PBA 0x3000.
fn nvme(page: u64) -> VmmInput {
    let config = config_space((0x1b36, 0x0010), 0x010802, &[(0, MEM64)], Some((65, 0, 0x2000, 0, 0x3000)));
    VmmInput::new(config, vec![VfioRegion::new(0, 16 * K, RWM).msix_mappable(true)], page, accepted())
        .guest(GuestSelection::DirectTableWrites)
}

#[test]
fn msix_policy_relocates_the_nvme_table_into_a_new_64bit_bar_on_64k_pages() {
    let l = plan_layout(&nvme(64 * K)).unwrap();
    assert_eq!(l.exposure, Exposure::Relocate);
    let bar0 = l.bar(0).unwrap();
    // The whole physical BAR is one memory slot of a whole page; nothing of it traps. Smaller
    // than a page, it is presented at page size so the guest puts nothing else in that page.
    assert_eq!(bar0.mmap.len(), 1);
    assert_eq!((bar0.mmap[0].offset, bar0.mmap[0].length, bar0.mmap[0].mmap_length), (0, 64 * K, 64 * K));
    assert!(bar0.trap.is_empty());
    assert_eq!((bar0.size, bar0.region_size, bar0.alignment), (64 * K, 16 * K, 64 * K));
    // BAR0 is 64-bit, so slots 0 and 1 are taken: the virtual table goes to BAR2, 64-bit too.
    let v = l.bar(2).unwrap();
    assert_eq!((v.kind, v.prefetchable, v.origin, v.size), (BarKind::Memory64, true, BarOrigin::Virtual, 64 * K));
    assert_eq!(v.trap[0].holds, TrapContents::VirtualTable);
    assert_eq!((v.trap[0].offset, v.trap[0].length), (0, 65 * 16));
    assert_eq!(v.trap[0].handler, TrapHandler::EmulateMsixTable);
    let m = l.msix.unwrap();
    assert_eq!((m.table_bir, m.table_offset, m.pba_bir, m.pba_offset), (2, 0, 2, 0x1000));
    assert_eq!((m.table_register, m.pba_register), (2, 0x1002));
    assert!(m.relocated);
}

#[test]
fn on_4k_pages_the_table_page_traps_and_only_it() {
    let l = plan_layout(&nvme(4 * K)).unwrap();
    assert_eq!(l.exposure, Exposure::Trap);
    let bar0 = l.bar(0).unwrap();
    let slots: Vec<(u64, u64)> = bar0.mmap.iter().map(|m| (m.offset, m.length)).collect();
    assert_eq!(slots, vec![(0, 0x2000)]);
    let traps: Vec<(u64, u64, TrapContents)> = bar0.trap.iter().map(|t| (t.offset, t.length, t.holds)).collect();
    assert_eq!(
        traps,
        vec![
            (0x2000, 65 * 16, TrapContents::Table),
            (0x2000 + 65 * 16, 0x1000 - 65 * 16, TrapContents::Registers),
            (0x3000, 16, TrapContents::Pba),
            (0x3010, 0x1000 - 16, TrapContents::Registers),
        ]
    );
    assert_eq!(l.collateral_bytes, 0);
    assert!(!l.msix.unwrap().relocated);
}

/// QEMU hw/vfio/pci.c, `vfio_pci_relocate_msix`: msix_sz = pow2ceil(REAL_HOST_PAGE_ALIGN(65 * 16 +
/// 16)) = 64 KiB; a new BAR is 64-bit when the next slot is free, prefetchable; the table at 0
/// and the PBA right after it (65 * 16 = 0x410).
#[test]
fn qemu_mode_adds_a_bar_as_x_msix_relocation_does() {
    let l = plan_layout(&nvme(64 * K).mode(LayoutMode::Qemu)).unwrap();
    assert_eq!(l.exposure, Exposure::Relocate);
    let v = l.bar(2).unwrap();
    assert_eq!((v.kind, v.prefetchable, v.size), (BarKind::Memory64, true, 64 * K));
    let m = l.msix.unwrap();
    assert_eq!((m.table_bir, m.table_offset, m.pba_offset), (2, 0, 0x410));
}

/// Every slot used (BAR0 64 KiB with the table, BAR1-5 64 KiB): QEMU's extension of a BAR
/// doubles it (`MAX(size * 2, msix_sz * 2)`) and puts the table at its middle, the PBA right after.
#[test]
fn qemu_mode_extends_a_full_device_at_the_middle() {
    let bars: Vec<(usize, u32)> = (0..6).map(|s| (s, MEM32)).collect();
    let config = config_space((0x8086, 0x1234), 0x020000, &bars, Some((64, 0, 0x8000, 0, 0x9000)));
    let regions = (0..6).map(|i| VfioRegion::new(i, 64 * K, RWM).msix_mappable(true)).collect();
    let input = VmmInput::new(config, regions, 64 * K, accepted())
        .guest(GuestSelection::DirectTableWrites)
        .mode(LayoutMode::Qemu);
    let l = plan_layout(&input).unwrap();
    assert_eq!(l.exposure, Exposure::Relocate);
    let b = l.bar(0).unwrap();
    assert_eq!((b.origin, b.size, b.region_size), (BarOrigin::Extended, 128 * K, 64 * K));
    assert_eq!((b.mmap[0].offset, b.mmap[0].length), (0, 64 * K));
    let m = l.msix.unwrap();
    assert_eq!((m.table_bir, m.table_offset, m.pba_offset), (0, 0x10000, 0x10000 + 64 * 16));
    // msix-policy's own layout puts the table right after the registers instead.
    let own = plan_layout(&input.clone().mode(LayoutMode::MsixPolicy)).unwrap();
    let m = own.msix.unwrap();
    assert_eq!((m.table_bir, m.table_offset, m.pba_offset), (0, 0x10000, 0x11000));
    // A relocation policy that forbids extending leaves the table trapped, and says why.
    let no_extend = RelocationPolicy { add_bar: true, extend_bar: false, extend_32bit_bar: false };
    let l = plan_layout(&input.relocation(no_extend)).unwrap();
    assert_eq!(l.exposure, Exposure::Trap);
    assert!(l.decision.fired(RuleId::EXPOSURE_TRAP_NO_SLOT));
}

/// cloud-hypervisor pci/src/vfio.rs, `VfioCommon::fixup_msix_region`: a table off a page
/// boundary moves to the middle of its BAR doubled (`max(region_size * 2, msix_sz * 2)`,
/// msix_sz = page-aligned table + PBA), the PBA at the same distance from the table.
#[test]
fn cloud_hypervisor_mode_doubles_the_bar_of_an_unaligned_table() {
    let config = config_space((0x15b3, 0x101e), 0x020000, &[(0, MEM64)], Some((64, 0, 0x2800, 0, 0x2c00)));
    let input = VmmInput::new(config, vec![VfioRegion::new(0, 64 * K, RWM).msix_mappable(true)], 64 * K, accepted())
        .guest(GuestSelection::DirectTableWrites)
        .mode(LayoutMode::CloudHypervisor);
    let l = plan_layout(&input).unwrap();
    assert_eq!(l.exposure, Exposure::Relocate);
    let b = l.bar(0).unwrap();
    assert_eq!((b.size, b.origin), (128 * K, BarOrigin::Extended));
    let m = l.msix.unwrap();
    assert_eq!((m.table_offset, m.pba_offset), (0x10000, 0x10400));
}

/// cloud-hypervisor keeps a page-aligned table where it is: no relocation in its ABI, even
/// where trapping its page costs other registers (PBA at 0x18000 shares the 64 KiB page).
#[test]
fn cloud_hypervisor_mode_traps_an_aligned_table() {
    let config = config_space((0x15b3, 0x101e), 0x020000, &[(0, MEM64)], Some((64, 0, 0x10000, 0, 0x18000)));
    let input = VmmInput::new(config, vec![VfioRegion::new(0, 128 * K, RWM).msix_mappable(true)], 64 * K, accepted())
        .guest(GuestSelection::DirectTableWrites);
    assert_eq!(plan_layout(&input).unwrap().exposure, Exposure::Relocate);
    let l = plan_layout(&input.mode(LayoutMode::CloudHypervisor)).unwrap();
    assert_eq!(l.exposure, Exposure::Trap);
    assert!(l.decision.fired(RuleId::EXPOSURE_TRAP_NO_SLOT));
    assert!(l.bar(0).unwrap().trap.iter().any(|t| t.holds == TrapContents::Table));
}

/// A trap decision in cloud-hypervisor's ABI still shows the table at the doubled BAR's middle
/// (that is where its guests look), and the physical table page stays trapped, reading zero.
/// The trap comes from isolation (allow_unsafe_interrupts: the kernel did not check); on an
/// isolated device the bytes 0x2000-0x2800 before the table are registers, so it relocates.
#[test]
fn cloud_hypervisor_mode_keeps_its_abi_under_a_trap_decision() {
    let config = config_space((0x15b3, 0x101e), 0x020000, &[(0, MEM64)], Some((64, 0, 0x2800, 0, 0x2c00)));
    let unchecked = IsolationAttestation::KernelAccepted { backend: VfioBackend::Type1, allow_unsafe_interrupts: true };
    let regions = vec![VfioRegion::new(0, 16 * K, RWM).msix_mappable(true)];
    let isolated = VmmInput::new(config.clone(), regions.clone(), 4 * K, accepted())
        .guest(GuestSelection::DirectTableWrites)
        .mode(LayoutMode::CloudHypervisor);
    let l = plan_layout(&isolated).unwrap();
    assert_eq!(l.exposure, Exposure::Relocate);
    assert_eq!(l.decision.plan.as_ref().map(|p| p.collateral_bytes()), Some(0));
    let input = VmmInput::new(config, regions, 4 * K, unchecked)
        .guest(GuestSelection::DirectTableWrites)
        .mode(LayoutMode::CloudHypervisor);
    let l = plan_layout(&input).unwrap();
    assert_eq!(l.exposure, Exposure::Trap);
    assert!(l.msix.unwrap().relocated);
    let b = l.bar(0).unwrap();
    assert_eq!(b.size, 32 * K);
    let t = b.trap.iter().find(|t| t.holds == TrapContents::Table).unwrap();
    assert_eq!(t.handler, TrapHandler::ReadZero);
    assert!(b.trap.iter().any(|t| t.holds == TrapContents::VirtualTable && t.offset == 16 * K));
}

#[test]
fn io_bars_trap_and_sub_page_bars_take_a_whole_page() {
    // virtio-like: BAR0 I/O 32 B, BAR1 4 KiB with the table, BAR4 64-bit 16 KiB, on 64 KiB pages.
    let config =
        config_space((0x1af4, 0x1041), 0x020000, &[(0, IO), (1, MEM32), (4, MEM64)], Some((3, 1, 0, 1, 0x800)));
    let regions = vec![
        VfioRegion::new(0, 32, REGION_RW),
        VfioRegion::new(1, 4 * K, RWM).msix_mappable(true),
        VfioRegion::new(4, 16 * K, RWM).msix_mappable(true),
    ];
    let input = VmmInput::new(config, regions, 64 * K, accepted()).guest(GuestSelection::Paravirtual);
    let l = plan_layout(&input).unwrap();
    assert_eq!(l.exposure, Exposure::Passthrough);
    let io = l.bar(0).unwrap();
    assert_eq!(
        (io.kind, io.trap[0].holds, io.trap[0].handler),
        (BarKind::Io, TrapContents::IoPorts, TrapHandler::ForwardToDevice)
    );
    // A 4 KiB BAR on 64 KiB pages: one memory slot of a whole page, presented as a 64 KiB BAR.
    let b1 = l.bar(1).unwrap();
    assert_eq!((b1.size, b1.mmap[0].length, b1.mmap[0].mmap_length), (64 * K, 64 * K, 64 * K));
    // QEMU keeps the device's size and needs the page alignment instead.
    let q = plan_layout(&input.mode(LayoutMode::Qemu)).unwrap();
    let b1 = q.bar(1).unwrap();
    assert_eq!((b1.size, b1.alignment, b1.mmap[0].mmap_length), (4 * K, 64 * K, 64 * K));
}

#[test]
fn sparse_mmap_areas_and_a_missing_mmap_flag_trap_what_vfio_will_not_map() {
    let mut input = nvme(4 * K);
    input.regions =
        vec![VfioRegion::new(0, 16 * K, RWM).sparse(vec![msix_policy_engine::MmapArea { offset: 0, size: 0x1000 }])];
    let l = plan_layout(&input).unwrap();
    let b = l.bar(0).unwrap();
    assert_eq!(b.mmap.iter().map(|m| (m.offset, m.length)).collect::<Vec<_>>(), vec![(0, 0x1000)]);
    assert!(b.trap.iter().any(|t| t.offset == 0x1000 && t.holds == TrapContents::Registers));
    assert!(l.decision.fired(RuleId::PLAN_REGION_NOT_MMAPPABLE));
    input.regions = vec![VfioRegion::new(0, 16 * K, REGION_RW)];
    let l = plan_layout(&input).unwrap();
    assert!(l.bar(0).unwrap().mmap.is_empty());
    assert!(l.decision.fired(RuleId::HOST_NOT_MAPPABLE));
}

#[test]
fn the_kernel_word_on_isolation_decides_assignability() {
    let unsafe_type1 =
        IsolationAttestation::KernelAccepted { backend: VfioBackend::Type1, allow_unsafe_interrupts: true };
    let mut input = nvme(64 * K);
    input.isolation = unsafe_type1;
    let l = plan_layout(&input).unwrap();
    assert_eq!((l.exposure, l.risk.as_str()), (Exposure::Trap, "unsafe"));
    assert!(l.decision.fired(RuleId::ISOLATION_KERNEL_UNCHECKED));
    input.isolation =
        IsolationAttestation::KernelAccepted { backend: VfioBackend::Iommufd, allow_unsafe_interrupts: false };
    let l = plan_layout(&input).unwrap();
    assert_eq!(l.exposure, Exposure::Relocate);
    assert!(l.decision.fired(RuleId::ISOLATION_KERNEL_ACCEPTED));
    input.isolation =
        IsolationAttestation::KernelAccepted { backend: VfioBackend::Iommufd, allow_unsafe_interrupts: true };
    assert!(plan_layout(&input).unwrap().decision.fired(RuleId::ASSIGN_IOMMUFD_ALLOW_UNSAFE));
    input.isolation =
        IsolationAttestation::KernelAccepted { backend: VfioBackend::SpaprTce, allow_unsafe_interrupts: false };
    let l = plan_layout(&input).unwrap();
    assert_eq!(l.exposure, Exposure::Refuse);
    assert!(l.bars.is_empty() && l.msix.is_none());
}

#[test]
fn impossible_facts_are_errors_naming_the_field() {
    use msix_policy_engine::InputError;
    let base = nvme(64 * K);
    let with = |f: &dyn Fn(&mut VmmInput)| {
        let mut i = base.clone();
        f(&mut i);
        plan_layout(&i).unwrap_err()
    };
    assert!(matches!(with(&|i| i.page_size = 0), InputError::Facts(_)));
    assert!(with(&|i| i.page_size = 12288).to_string().contains("page_size 12288"));
    assert!(matches!(with(&|i| i.regions.push(VfioRegion::new(0, 4096, 0))), InputError::DuplicateRegion(0)));
    assert!(matches!(
        with(&|i| i.regions.push(VfioRegion::new(9, 4096, 0))),
        InputError::RegionNotBar { index: 9, .. }
    ));
    assert!(matches!(
        with(&|i| i.regions.push(VfioRegion::new(1, 4096, 0))),
        InputError::UpperHalfRegion { index: 1, .. }
    ));
    assert!(matches!(with(&|i| i.regions[0].size = 0x3000), InputError::RegionSize { .. }));
    assert!(matches!(with(&|i| i.regions[0].size = 0x2000), InputError::MsixOutsideBar(_)));
    assert!(matches!(with(&|i| i.config.truncate(40)), InputError::ConfigShort(40)));
    assert!(matches!(with(&|i| i.config[0x34] = 0x20), InputError::Capabilities(_)));
    assert!(matches!(with(&|i| i.layout_version = 2), InputError::LayoutVersion(2)));
    let sparse = with(&|i| {
        i.regions[0] =
            VfioRegion::new(0, 16 * K, RWM).sparse(vec![msix_policy_engine::MmapArea { offset: 0x3000, size: 0x2000 }])
    });
    assert!(sparse.to_string().contains("sparse mmap area 0x3000+0x2000"), "{sparse}");
}

/// A huge BAR VFIO will not map traps whole in one range, not page by page.
#[test]
fn a_huge_unmappable_bar_is_one_trapped_range() {
    let mut input = nvme(4 * K);
    input.regions = vec![VfioRegion::new(0, 1 << 62, REGION_RW)];
    let l = plan_layout(&input).unwrap();
    let b = l.bar(0).unwrap();
    assert!(b.mmap.is_empty());
    assert_eq!(b.trap.last().map(|t| t.offset + t.length), Some(1 << 62));
    assert!(b.trap.len() <= 5, "{:?}", b.trap);
}

// ---- Each mode is what its VMM does (QEMU hw/vfio/pci.c, cloud-hypervisor pci/src/vfio.rs), or
// ---- names the deviation in the layout's reasons.

fn unchecked() -> IsolationAttestation {
    IsolationAttestation::KernelAccepted { backend: VfioBackend::Type1, allow_unsafe_interrupts: true }
}

fn mapped(l: &msix_policy_engine::Layout, bar: u8, offset: u64) -> bool {
    l.bar(bar).unwrap().mmap.iter().any(|m| m.offset <= offset && offset < m.offset + m.mmap_length)
}

/// QEMU carves only the table's pages (`vfio_pci_fixup_msix_region`) and starts with its
/// emulated PBA disabled (`vfio_msix_setup`): the PBA's own page stays mapped under a trap.
#[test]
fn qemu_mode_maps_the_pba_page_and_traps_the_table_page() {
    let l = plan_layout(&nvme(4 * K).mode(LayoutMode::Qemu)).unwrap();
    assert_eq!(l.exposure, Exposure::Trap);
    assert!(!mapped(&l, 0, 0x2000) && mapped(&l, 0, 0x3000) && mapped(&l, 0, 0x1000));
    assert!(l.decision.fired(RuleId::LAYOUT_QEMU_PBA_MAPPED));
    assert_eq!(l.trapped_bytes, 4 * K);
    // msix-policy's own layout traps both pages.
    let own = plan_layout(&nvme(4 * K)).unwrap();
    assert!(!mapped(&own, 0, 0x3000) && !own.decision.fired(RuleId::LAYOUT_QEMU_PBA_MAPPED));
    // A PBA that shares the table's page traps with it: nothing to say.
    let config = config_space((0x1b36, 0x0010), 0x010802, &[(0, MEM64)], Some((8, 0, 0x2000, 0, 0x2800)));
    let shared = VmmInput::new(config, vec![VfioRegion::new(0, 16 * K, RWM).msix_mappable(true)], 4 * K, accepted())
        .guest(GuestSelection::DirectTableWrites)
        .mode(LayoutMode::Qemu);
    let l = plan_layout(&shared).unwrap();
    assert!(!mapped(&l, 0, 0x2800) && !l.decision.fired(RuleId::LAYOUT_QEMU_PBA_MAPPED));
}

/// `vfio_sub_page_bar_update_mapping`: QEMU maps a sub-page BAR only on a host-page boundary.
#[test]
fn qemu_mode_names_the_sub_page_bar_condition() {
    let config =
        config_space((0x1af4, 0x1041), 0x020000, &[(0, IO), (1, MEM32), (4, MEM64)], Some((3, 1, 0, 1, 0x800)));
    let regions = vec![
        VfioRegion::new(0, 32, REGION_RW),
        VfioRegion::new(1, 4 * K, RWM).msix_mappable(true),
        VfioRegion::new(4, 16 * K, RWM).msix_mappable(true),
    ];
    let input = VmmInput::new(config, regions, 64 * K, accepted()).guest(GuestSelection::Paravirtual);
    let q = plan_layout(&input.clone().mode(LayoutMode::Qemu)).unwrap();
    let sub: Vec<&str> = q
        .decision
        .reasons
        .iter()
        .filter(|r| r.rule == RuleId::LAYOUT_QEMU_SUB_PAGE_BAR)
        .map(|r| r.detail.as_str())
        .collect();
    assert_eq!(sub.len(), 2, "BAR1 and BAR4 are below 64 KiB: {sub:?}");
    assert!(sub[0].starts_with("BAR1 "), "{sub:?}");
    assert!(q.bar(1).unwrap().alignment >= 64 * K);
    assert!(!plan_layout(&input).unwrap().decision.fired(RuleId::LAYOUT_QEMU_SUB_PAGE_BAR));
}

/// `allocate_bars` calls `fixup_msix_region` for `Memory64BitRegion` only: an unaligned table
/// in a 32-bit BAR stays where it is.
#[test]
fn cloud_hypervisor_mode_relocates_64bit_bars_only() {
    let config = config_space((0x15b3, 0x101e), 0x020000, &[(0, MEM32)], Some((64, 0, 0x2800, 0, 0x2c00)));
    let input = VmmInput::new(config, vec![VfioRegion::new(0, 64 * K, RWM).msix_mappable(true)], 64 * K, accepted())
        .guest(GuestSelection::DirectTableWrites);
    assert_eq!(plan_layout(&input).unwrap().exposure, Exposure::Relocate, "msix-policy adds a BAR");
    let l = plan_layout(&input.mode(LayoutMode::CloudHypervisor)).unwrap();
    assert_eq!(l.exposure, Exposure::Trap);
    assert!(!l.msix.unwrap().relocated);
}

/// `map_mmio_regions` does not mmap a region holding the table or PBA without
/// `VFIO_REGION_INFO_CAP_MSIX_MAPPABLE`, the kernel's sparse areas notwithstanding.
#[test]
fn cloud_hypervisor_mode_traps_the_msix_bar_whole_without_msix_mappable() {
    let mut input = nvme(4 * K);
    input.regions =
        vec![VfioRegion::new(0, 16 * K, RWM).sparse(vec![msix_policy_engine::MmapArea { offset: 0, size: 0x2000 }])];
    let own = plan_layout(&input).unwrap();
    assert!(mapped(&own, 0, 0x1000), "msix-policy maps the kernel's sparse area");
    let l = plan_layout(&input.mode(LayoutMode::CloudHypervisor)).unwrap();
    assert_eq!(l.exposure, Exposure::Trap);
    assert!(l.bar(0).unwrap().mmap.is_empty());
    assert_eq!(l.trapped_bytes, 16 * K);
    assert!(l.decision.fired(RuleId::LAYOUT_CH_NOT_MAPPABLE));
    let doorbells = |t: &&msix_policy_engine::TrapRange| t.offset <= 0x1000 && 0x1000 < t.offset + t.length;
    let t = l.bar(0).unwrap().trap.iter().find(doorbells).unwrap();
    assert_eq!((t.holds, t.handler), (TrapContents::Registers, TrapHandler::ForwardToDevice));
}

/// A deviation for safety: cloud-hypervisor maps the moved table's physical BAR whole (its
/// physical table too) whatever the isolation; the layout keeps the physical table trapped and
/// says so.
#[test]
fn cloud_hypervisor_mode_names_the_physical_table_it_keeps_trapped() {
    let config = config_space((0x15b3, 0x101e), 0x020000, &[(0, MEM64)], Some((64, 0, 0x2800, 0, 0x2c00)));
    let regions = vec![VfioRegion::new(0, 16 * K, RWM).msix_mappable(true)];
    let input = VmmInput::new(config, regions, 4 * K, unchecked())
        .guest(GuestSelection::DirectTableWrites)
        .mode(LayoutMode::CloudHypervisor);
    let l = plan_layout(&input).unwrap();
    assert_eq!(l.exposure, Exposure::Trap);
    assert!(l.decision.fired(RuleId::LAYOUT_CH_PHYSICAL_TABLE_TRAPPED));
    assert!(!mapped(&l, 0, 0x2800));
}

/// `fixup_msix_region` checks only the table's BIR and casts the offsets to u32: where that
/// gives no valid layout the table stays, and the reason says what cloud-hypervisor would do.
#[test]
fn cloud_hypervisor_mode_refuses_fixups_that_give_invalid_offsets() {
    // (what the reason says, BAR registers, MSI-X (vectors, table BIR/offset, PBA BIR/offset), regions)
    type Case = (&'static str, Vec<(usize, u32)>, (u16, u8, u32, u8, u32), Vec<VfioRegion>);
    let cases: [Case; 3] = [
        (
            "the PBA is in BAR2",
            vec![(0, MEM64), (2, MEM64)],
            (64, 0, 0x2800, 2, 0),
            vec![
                VfioRegion::new(0, 16 * K, RWM).msix_mappable(true),
                VfioRegion::new(2, 16 * K, RWM).msix_mappable(true),
            ],
        ),
        (
            "lies before the table",
            vec![(0, MEM64)],
            (64, 0, 0x2800, 0, 0x1000),
            vec![VfioRegion::new(0, 16 * K, RWM).msix_mappable(true)],
        ),
        (
            "past 4 GiB",
            vec![(0, MEM64)],
            (64, 0, 0x2800, 0, 0x2c00),
            vec![VfioRegion::new(0, 8 << 30, RWM).msix_mappable(true)],
        ),
    ];
    for (why, bars, msix, regions) in cases {
        let config = config_space((0x15b3, 0x101e), 0x020000, &bars, Some(msix));
        let input = VmmInput::new(config, regions, 4 * K, unchecked())
            .guest(GuestSelection::DirectTableWrites)
            .mode(LayoutMode::CloudHypervisor);
        let l = plan_layout(&input).unwrap_or_else(|e| panic!("{why}: {e}"));
        assert!(!l.msix.unwrap().relocated, "{why}");
        let r = l.decision.reasons.iter().find(|r| r.rule == RuleId::LAYOUT_CH_RELOCATION_REFUSED);
        assert!(r.is_some_and(|r| r.detail.contains(why)), "{why}: {:?}", l.decision.reasons);
        assert!(l.check_well_formed().is_ok(), "{why}");
    }
}

/// Both VMMs refuse a table that overlaps its PBA (QEMU `msix_init`); so does every mode here.
#[test]
fn every_mode_refuses_a_table_on_its_pba() {
    let config = config_space((0x1b36, 0x0010), 0x010802, &[(0, MEM64)], Some((65, 0, 0x2000, 0, 0x2200)));
    for mode in [LayoutMode::MsixPolicy, LayoutMode::Qemu, LayoutMode::CloudHypervisor] {
        let input =
            VmmInput::new(config.clone(), vec![VfioRegion::new(0, 16 * K, RWM).msix_mappable(true)], 4 * K, accepted())
                .guest(GuestSelection::DirectTableWrites)
                .mode(mode);
        let e = plan_layout(&input).unwrap_err();
        assert!(matches!(e, msix_policy_engine::InputError::MsixOverlap { .. }), "{mode:?}: {e}");
    }
}
