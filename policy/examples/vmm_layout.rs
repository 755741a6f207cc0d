//! What a VMM does with msix-policy, in one file: from the facts it already holds (config space
//! bytes and VFIO region info) to KVM memory slots and MMIO trap handlers. Engine crate only, no I/O.
//!
//!     cargo run -p msix-policy-engine --example vmm_layout
//!
//! A real VMM reads `config` through the VFIO config region and `regions` with
//! VFIO_DEVICE_GET_REGION_INFO; here they are an NVMe function as QEMU's model presents it.

use msix_policy_engine::{plan_layout, IsolationAttestation, VfioRegion, VmmInput, REGION_MMAP, REGION_RW};
use msix_policy_engine::{GuestSelection, Layout, TrapHandler, VfioBackend};

/// Config space of an NVMe controller: 1b36:0010, class 01:08:02, BAR0 64-bit; MSI-X at 0x40
/// with 65 vectors, table at BAR0+0x2000, PBA at BAR0+0x3000.
fn nvme_config() -> Vec<u8> {
    let mut c = vec![0u8; 256];
    c[0x00..0x04].copy_from_slice(&[0x36, 0x1b, 0x10, 0x00]);
    c[0x06] = 0x10; // status: capability list
    c[0x09..0x0c].copy_from_slice(&[0x02, 0x08, 0x01]);
    c[0x10] = 0x04; // BAR0: memory, 64-bit
    c[0x34] = 0x40; // first capability
    c[0x40..0x4c].copy_from_slice(&[0x11, 0x00, 64, 0x00, 0x00, 0x20, 0, 0, 0x00, 0x30, 0, 0]);
    c
}

fn main() {
    // 1. The facts: config bytes, the BAR regions as VFIO reported them, the host page size, and
    //    the word of the IOMMU backend that accepted the group (type1 without allow_unsafe).
    let input = VmmInput::new(
        nvme_config(),
        vec![VfioRegion::new(0, 0x4000, REGION_RW | REGION_MMAP).msix_mappable(true)],
        65536, // a 64 KiB-page host: the table's page would also hold the doorbells
        IsolationAttestation::KernelAccepted { backend: VfioBackend::Type1, allow_unsafe_interrupts: false },
    )
    .guest(GuestSelection::DirectTableWrites)
    .address("0000:01:00.0");

    // 2. The decision and the layout. Errors name the field at fault; they never panic.
    let layout = match plan_layout(&input) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot lay out the device: {e}");
            std::process::exit(2);
        }
    };
    println!(
        "exposure {} risk {} ({} layout v{})",
        layout.exposure.as_str(),
        layout.risk.as_str(),
        layout.mode.as_str(),
        layout.layout_version
    );
    for r in &layout.decision.reasons {
        println!("  because {}: {}", r.rule, r.detail);
    }

    // 3. Guest addresses: each BAR naturally aligned (and page aligned where it has slots).
    let mut next = 0x1_0000_0000u64;
    let mut base = Vec::new();
    for b in &layout.bars {
        next = next.div_ceil(b.alignment) * b.alignment;
        base.push((b.index, next));
        println!("BAR{} {:?} prefetchable={} size {:#x} at guest {:#x}", b.index, b.kind, b.prefetchable, b.size, next);
        next += b.size;
    }
    let gpa = |bar: u8| base.iter().find(|(i, _)| *i == bar).map_or(0, |(_, a)| *a);

    // 4. Memory slots: mmap the device fd at region_offset for mmap_length bytes, then
    //    KVM_SET_USER_MEMORY_REGION with that many bytes at the BAR's guest address + offset.
    for (slot, (bar, m)) in layout.memory_slots().enumerate() {
        println!(
            "slot {slot}: guest {:#x}..{:#x} <- mmap(device fd, offset {:#x}, {:#x} bytes)",
            gpa(bar) + m.offset,
            gpa(bar) + m.offset + m.mmap_length,
            m.region_offset,
            m.mmap_length
        );
    }

    // 5. Trap handlers: every other guest address of a BAR exits; dispatch by what it holds.
    for (bar, t) in layout.traps() {
        println!("trap {:#x}+{:#x}: {:?} -> {:?}", gpa(bar) + t.offset, t.length, t.holds, t.handler);
    }
    let doorbell = gpa(0) + 0x1000;
    println!("an access to the first NVMe doorbell at {doorbell:#x} is {}", describe(&layout, 0, 0x1000));

    // 6. The MSI-X capability the guest must read: rewrite Table/PBA Offset-BIR when relocated.
    if let Some(m) = layout.msix {
        println!(
            "MSI-X capability at {:#x}: table register {:#010x}, PBA register {:#010x}{}",
            m.cap_offset,
            m.table_register,
            m.pba_register,
            if m.relocated { " (relocated: emulate these two registers)" } else { "" }
        );
    }
}

/// What happens on a guest access to `offset` of `bar`.
fn describe(layout: &Layout, bar: u8, offset: u64) -> String {
    let Some(b) = layout.bar(bar) else { return "outside every BAR".into() };
    if b.mmap.iter().any(|m| m.offset <= offset && offset < m.offset + m.length) {
        return "served by a memory slot: no exit".into();
    }
    match b.trap.iter().find(|t| t.offset <= offset && offset < t.offset + t.length).map(|t| t.handler) {
        Some(TrapHandler::EmulateMsixTable) => "an exit: emulate the MSI-X table".into(),
        Some(h) => format!("an exit: {h:?}"),
        None => "unbacked".into(),
    }
}
