//! The exit accounting against a mocked vCPU and device (mockall) and the simulated vCPU: which
//! range an exit hits, which handler serves it, the counts and the predictions. No /dev/kvm.

use mockall::predicate::eq;
use msix_policy_engine::{IsolationAttestation, VfioRegion, VmmInput, REGION_MMAP, REGION_RW};
use msix_policy_engine::{RegionOffsets, VfioPciOffsets};
use msix_policy_engine::{TrapContents, TrapHandler, VfioBackend};

use crate::account::LayoutRun;
use crate::dispatch::{run_to_stop, Dispatcher, Exit, MockDeviceIo, MockVcpu, RunError};
use crate::guest::{self, Entry};
use crate::layouts::{self, Named};
use crate::map::{GuestMap, Hit};
use crate::report::{run_layout, STOP_PORT};
use crate::script::{self, Class};
use crate::sim::{MemDevice, SimMachine};

const ISO: IsolationAttestation =
    IsolationAttestation::KernelAccepted { backend: VfioBackend::Type1, allow_unsafe_interrupts: false };

/// QEMU's NVMe: BAR0 64-bit 16 KiB; 65 vectors, table at 0x2000, PBA at 0x3000.
fn nvme(page: u64) -> VmmInput {
    let mut c = vec![0u8; 256];
    c[0..4].copy_from_slice(&[0x36, 0x1b, 0x10, 0x00]);
    c[6] = 0x10;
    c[0x09..0x0c].copy_from_slice(&[0x02, 0x08, 0x01]);
    c[0x10] = 0x04;
    c[0x34] = 0x40;
    c[0x40..0x4c].copy_from_slice(&[0x11, 0, 64, 0, 0x00, 0x20, 0, 0, 0x00, 0x30, 0, 0]);
    let regions = vec![VfioRegion::new(0, 0x4000, REGION_RW | REGION_MMAP).msix_mappable(true)];
    VmmInput::new(c, regions, page, ISO).arch("aarch64")
}

/// QEMU's e1000e: BAR0 and BAR1 32-bit 128 KiB, BAR2 I/O 32 bytes, BAR3 16 KiB with the table
/// (5 vectors) at 0 and the PBA at 0x2000.
fn e1000e(page: u64) -> VmmInput {
    let mut c = vec![0u8; 256];
    c[0..4].copy_from_slice(&[0x86, 0x80, 0xd3, 0x10]);
    c[6] = 0x10;
    c[0x09..0x0c].copy_from_slice(&[0x00, 0x00, 0x02]);
    c[0x18] = 0x01; // BAR2: I/O
    c[0x34] = 0xa0;
    c[0xa0..0xac].copy_from_slice(&[0x11, 0, 4, 0, 0x03, 0, 0, 0, 0x03, 0x20, 0, 0]);
    let regions = vec![
        VfioRegion::new(0, 0x20000, REGION_RW | REGION_MMAP),
        VfioRegion::new(1, 0x20000, REGION_RW | REGION_MMAP),
        VfioRegion::new(2, 0x20, REGION_RW),
        VfioRegion::new(3, 0x4000, REGION_RW | REGION_MMAP).msix_mappable(true),
    ];
    VmmInput::new(c, regions, page, ISO).arch("aarch64")
}

fn simulate(input: &VmmInput, iterations: u64) -> Vec<LayoutRun> {
    let hot = input.facts().unwrap().device.hot_windows;
    let dev = MemDevice::default();
    let offsets = |bar: u8| VfioPciOffsets.region_offset(bar);
    let none = || None;
    layouts::all(input)
        .unwrap()
        .iter()
        .map(|n| run_layout(&mut SimMachine::default(), n, &hot, iterations, &dev, &offsets, &none).unwrap())
        .collect()
}

fn row(r: &LayoutRun, c: Class) -> (u64, u64) {
    r.rows.iter().find(|x| x.class == c).map(|x| (x.measured, x.accesses)).unwrap()
}

fn by_name<'a>(runs: &'a [LayoutRun], name: &str) -> &'a LayoutRun {
    runs.iter().find(|r| r.name == name).unwrap()
}

#[test]
fn the_program_words_and_the_script_encoding_round_trip() {
    assert_eq!(guest::program_bytes().len(), 4 * guest::PROGRAM.len());
    // The MMIO instructions are ldr/str (immediate, no writeback): KVM gets a valid syndrome.
    assert_eq!(guest::PROGRAM[5], 0xb940_0045);
    assert_eq!(guest::PROGRAM[10], 0xb900_0043);
    let e = vec![
        Entry { op: 1, addr: 0x1000_0000, value: 7, count: 3 },
        Entry { op: 0, addr: STOP_PORT, value: 0, count: 1 },
    ];
    let bytes = guest::encode(&e);
    assert_eq!(guest::decode(&bytes), e);
    assert_eq!(guest::value_at(&bytes, 0), Some(7));
}

#[test]
fn nvme_on_16k_pages_doorbells_exit_under_qemu_and_never_under_msix_policy() {
    let runs = simulate(&nvme(16384), 1000);
    for r in &runs {
        assert!(r.ok(), "{}: {:#?}", r.name, r.checks);
    }
    let ours = by_name(&runs, "msix-policy");
    assert!(ours.relocated);
    assert_eq!(row(ours, Class::Doorbell), (0, 2000));
    assert_eq!(row(ours, Class::Register), (0, 1000));
    assert_eq!(row(ours, Class::TableWrite), (16, 16), "the virtual table traps");
    let qemu = by_name(&runs, "qemu");
    assert!(!qemu.relocated);
    assert_eq!(row(qemu, Class::Doorbell), (2000, 2000), "one exit per doorbell access");
    assert_eq!(row(qemu, Class::Register), (1000, 1000));
    assert_eq!(qemu.handlers.forward_to_device, 3000 + 3, "CAP, doorbells and the swept register pages");
    let reloc = by_name(&runs, "qemu x-msix-relocation");
    assert!(reloc.relocated);
    assert_eq!(row(reloc, Class::Doorbell).0, 0);
    for name in ["crosvm", "linux<4.16"] {
        assert_eq!(row(by_name(&runs, name), Class::Doorbell), (2000, 2000), "{name}");
    }
}

#[test]
fn nvme_on_4k_pages_nothing_but_the_table_and_pba_exit() {
    let runs = simulate(&nvme(4096), 500);
    for r in &runs {
        assert!(r.ok(), "{}: {:#?}", r.name, r.checks);
        assert_eq!(row(r, Class::Doorbell), (0, 1000), "{}", r.name);
        assert_eq!(row(r, Class::Register), (0, 500), "{}", r.name);
        assert_eq!(row(r, Class::TableWrite), (16, 16), "{}", r.name);
    }
    let ours = by_name(&runs, "msix-policy");
    assert!(!ours.relocated, "4 KiB pages: nothing to spare, the table traps");
    // Page sweep: table page and PBA page trap under msix-policy/qemu/crosvm, only the table's
    // page under Linux < 4.16.
    assert_eq!(row(ours, Class::PageSweep), (2, 4));
    assert_eq!(row(by_name(&runs, "crosvm"), Class::PageSweep), (2, 4));
    assert_eq!(row(by_name(&runs, "linux<4.16"), Class::PageSweep), (1, 4));
    // x-msix-relocation maps BAR0 whole; only the page of the virtual table exits.
    let reloc = by_name(&runs, "qemu x-msix-relocation");
    assert!(reloc.relocated);
    assert_eq!(row(reloc, Class::PageSweep).0, 1);
    assert_eq!(reloc.handlers.forward_to_device, 0);
}

#[test]
fn every_layout_of_every_device_and_page_size_measures_what_it_predicts() {
    for page in [4096, 16384, 65536] {
        for input in [nvme(page), e1000e(page)] {
            for r in simulate(&input, 7) {
                assert!(r.ok(), "{page} {}: {:#?}", r.name, r.checks);
                for x in &r.rows {
                    assert_eq!(x.measured, x.predicted, "{page} {} {:?}", r.name, x.class);
                }
            }
        }
    }
}

#[test]
fn trap_sets_keep_whole_pages_and_the_table_trapped() {
    let qemu = layouts::all(&nvme(4096)).unwrap().into_iter().find(|n| n.name == "qemu").unwrap().layout;
    let old = layouts::trap_set(&qemu, false);
    let bar = old.bar(0).unwrap();
    assert!(bar.trap.iter().all(|t| t.offset >= 0x2000 && t.offset + t.length <= 0x3000));
    assert!(bar.trap.iter().any(|t| t.holds == TrapContents::Table && t.handler == TrapHandler::EmulateMsixTable));
    assert_eq!(bar.mmap.iter().map(|m| m.mmap_length).sum::<u64>(), 0x3000);
    // QEMU's own layout traps the table's pages only (its PBA page stays mapped).
    assert_eq!(old, qemu, "table pages: QEMU's trap layout itself");
    let crosvm = layouts::trap_set(&qemu, true);
    let bar = crosvm.bar(0).unwrap();
    assert!(bar.trap.iter().any(|t| t.holds == TrapContents::Pba && t.handler == TrapHandler::EmulateMsixPba));
    assert_eq!(bar.mmap.iter().map(|m| m.mmap_length).sum::<u64>(), 0x2000);
}

fn named(input: &VmmInput, name: &str) -> Named {
    layouts::all(input).unwrap().into_iter().find(|n| n.name == name).unwrap()
}

#[test]
fn a_trapped_register_read_is_forwarded_to_the_device_at_its_region_offset() {
    let n = named(&nvme(16384), "qemu");
    let map = GuestMap::new(&n.layout).unwrap();
    let cap = map.gpa(0, 0).unwrap();
    assert!(matches!(map.lookup(cap), Some(Hit::Trap(_))));
    let mut dev = MockDeviceIo::new();
    dev.expect_read().with(eq(0u64), mockall::predicate::always()).times(1).returning(|_, d| {
        d.copy_from_slice(&0x0040_0fffu32.to_le_bytes());
        Ok(())
    });
    dev.expect_write().with(eq(0x1000u64), eq(vec![1u8, 0, 0, 0])).times(1).returning(|_, _| Ok(()));
    let offsets = |b: u8| u64::from(b) << 40;
    let mut d = Dispatcher::new(&map, &dev, &offsets, n.layout.msix, STOP_PORT);
    let mut v = MockVcpu::new();
    let mut seq = mockall::Sequence::new();
    v.expect_run().times(1).in_sequence(&mut seq).returning(move || Ok(Exit::MmioRead { addr: cap, len: 4 }));
    v.expect_complete_read().with(eq(vec![0xffu8, 0x0f, 0x40, 0])).times(1).in_sequence(&mut seq).returning(|_| Ok(()));
    v.expect_run()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move || Ok(Exit::MmioWrite { addr: cap + 0x1000, data: vec![1, 0, 0, 0] }));
    v.expect_run()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(Exit::MmioWrite { addr: STOP_PORT, data: vec![0; 4] }));
    run_to_stop(&mut v, &mut d, 100).unwrap();
    assert_eq!(d.exits, 2);
    assert_eq!(d.handlers.forward_to_device, 2);
    assert_eq!(d.by_address.get(&(cap, false)), Some(&1));
    assert_eq!(d.by_address.get(&(cap + 0x1000, true)), Some(&1));
}

#[test]
fn a_virtual_table_write_is_emulated_and_never_reaches_the_device() {
    let n = named(&nvme(16384), "msix-policy");
    let m = n.layout.msix.unwrap();
    assert!(m.relocated);
    let map = GuestMap::new(&n.layout).unwrap();
    let entry1 = map.gpa(m.table_bir, u64::from(m.table_offset) + 16).unwrap();
    let dev = MockDeviceIo::new(); // any device access fails the test
    let offsets = |b: u8| u64::from(b) << 40;
    let mut d = Dispatcher::new(&map, &dev, &offsets, n.layout.msix, STOP_PORT);
    let mut v = MockVcpu::new();
    let mut seq = mockall::Sequence::new();
    v.expect_run()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move || Ok(Exit::MmioWrite { addr: entry1 + 8, data: vec![0x21, 0x40, 0, 0] }));
    v.expect_run().times(1).in_sequence(&mut seq).returning(move || Ok(Exit::MmioRead { addr: entry1 + 8, len: 4 }));
    v.expect_complete_read().with(eq(vec![0x21u8, 0x40, 0, 0])).times(1).in_sequence(&mut seq).returning(|_| Ok(()));
    v.expect_run()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(Exit::MmioWrite { addr: STOP_PORT, data: vec![0; 4] }));
    run_to_stop(&mut v, &mut d, 100).unwrap();
    assert_eq!(d.handlers.emulate_msix_table, 2);
    assert_eq!(d.table_writes, vec![(24, 0x4021)]);
    let t = map.traps[match map.lookup(entry1) {
        Some(Hit::Trap(i)) => i,
        other => panic!("{other:?}"),
    }];
    assert_eq!(t.range.holds, TrapContents::VirtualTable);
}

#[test]
fn exits_in_slots_outside_every_range_and_other_exits_are_reported() {
    let n = named(&nvme(4096), "msix-policy");
    let map = GuestMap::new(&n.layout).unwrap();
    let mapped = map.gpa(0, 0x1000).unwrap();
    let dev = MockDeviceIo::new();
    let offsets = |b: u8| u64::from(b) << 40;
    let mut d = Dispatcher::new(&map, &dev, &offsets, n.layout.msix, STOP_PORT);
    let mut v = MockVcpu::new();
    let mut seq = mockall::Sequence::new();
    v.expect_run()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move || Ok(Exit::MmioWrite { addr: mapped, data: vec![0; 4] }));
    v.expect_run()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(Exit::MmioWrite { addr: 0x4000_0000, data: vec![0; 4] }));
    v.expect_run().times(1).in_sequence(&mut seq).returning(|| Ok(Exit::Other("Hlt".into())));
    let e = run_to_stop(&mut v, &mut d, 100).unwrap_err();
    assert!(matches!(e, RunError::UnexpectedExit(ref s) if s == "Hlt"), "{e}");
    assert_eq!((d.in_slot, d.unbacked.clone()), (1, vec![0x4000_0000]));
}

#[test]
fn a_guest_that_never_stops_is_cut_off() {
    let n = named(&nvme(4096), "msix-policy");
    let map = GuestMap::new(&n.layout).unwrap();
    let table = map.gpa(0, 0x2000).unwrap();
    let dev = MockDeviceIo::new();
    let offsets = |b: u8| u64::from(b) << 40;
    let mut d = Dispatcher::new(&map, &dev, &offsets, n.layout.msix, STOP_PORT);
    let mut v = MockVcpu::new();
    v.expect_run().returning(move || Ok(Exit::MmioWrite { addr: table, data: vec![0; 4] }));
    assert!(matches!(run_to_stop(&mut v, &mut d, 50), Err(RunError::TooManyExits(50))));
    assert_eq!(d.exits, 50);
}

#[test]
fn a_measured_count_off_the_prediction_fails_its_check() {
    let input = nvme(16384);
    let n = named(&input, "qemu");
    let hot = input.facts().unwrap().device.hot_windows;
    let accesses = script::build(&n.layout, &hot, 10).unwrap();
    let mut predicted = script::predict(&n.layout, &accesses).unwrap();
    let map = GuestMap::new(&n.layout).unwrap();
    let entries = script::entries(&map, &accesses, STOP_PORT).unwrap();
    let dev = MemDevice::default();
    let offsets = |b: u8| u64::from(b) << 40;
    let mut d = Dispatcher::new(&map, &dev, &offsets, n.layout.msix, STOP_PORT);
    let mut v = crate::sim::SimVcpu::new(&map, entries);
    run_to_stop(&mut v, &mut d, 100_000).unwrap();
    predicted[0] += 1;
    let out = crate::account::Outcome { entries: &v.entries, device_table_before: None, device_table_after: None };
    let r = crate::account::account(&n, &map, &accesses, &predicted, &d, &out);
    assert!(!r.ok());
    assert!(!r.checks[0].ok && r.checks[1].ok, "{:#?}", r.checks);
}

#[test]
fn memory_slots_are_whole_host_pages_at_their_guest_addresses() {
    for page in [4096u64, 16384, 65536] {
        for n in layouts::all(&e1000e(page)).unwrap() {
            let map = GuestMap::new(&n.layout).unwrap();
            for s in &map.slots {
                assert_eq!((s.gpa % page, s.len % page), (0, 0), "{page} {}", n.name);
                assert_eq!(s.region_offset, (u64::from(s.bar) << 40) + s.offset);
            }
            assert!(map.end() < crate::report::STOP_PORT.max(1 << 32));
        }
    }
}

#[test]
fn the_report_names_every_layout_and_its_checks() {
    let runs = simulate(&nvme(16384), 10);
    let text = crate::report::render("0000:00:03.0", &runs);
    println!("{text}");
    for r in &runs {
        assert!(text.contains(&r.name));
    }
    assert!(!text.contains("FAIL"));
}

#[test]
fn the_msi_setup_programs_entry_0_through_the_table_emulation_with_the_its_doorbell() {
    use crate::msi;
    assert_eq!(msi::ACK_PROGRAM[0], 0xd503_201f, "a nop first: the pc may be advanced past it");
    let cmds = msi::its_commands(0x8000_0000);
    assert_eq!(cmds.len(), 4 * 32);
    assert_eq!(cmds[0], 0x08, "MAPD");
    assert_eq!(cmds[32], 0x09, "MAPC");
    assert_eq!(cmds[64], 0x0a, "MAPTI");
    assert_eq!(u32::from_le_bytes(cmds[76..80].try_into().unwrap()), msi::LPI, "pINTID");
    assert_eq!(u64::from_le_bytes(cmds[16..24].try_into().unwrap()), (1 << 63) | (0x8000_0000 + msi::ITT));
    for name in ["msix-policy", "qemu"] {
        let n = named(&nvme(16384), name);
        let m = n.layout.msix.unwrap();
        let map = GuestMap::new(&n.layout).unwrap();
        let table = map.gpa(m.table_bir, u64::from(m.table_offset)).unwrap();
        let script = msi::setup_script(0x8000_0000, table);
        assert_eq!(script.last().unwrap().addr, msi::READY_PORT);
        let dev = MockDeviceIo::new();
        let offsets = |b: u8| u64::from(b) << 40;
        let mut d = Dispatcher::new(&map, &dev, &offsets, n.layout.msix, msi::READY_PORT);
        let mut v = crate::sim::SimVcpu::new(&map, script);
        run_to_stop(&mut v, &mut d, 1000).unwrap();
        // The GIC's registers are KVM's (unbacked here); the four table writes are the VMM's.
        assert_eq!(d.table_writes.len(), 4, "{name}");
        assert_eq!(msi::entry0(&d.table), Some((msi::GITS_TRANSLATER, msi::EVENT_ID, false)), "{name}");
        assert!(d.unbacked.iter().all(|a| (msi::GICD_BASE..msi::GICR_BASE + 0x20000).contains(a)));
    }
}

#[test]
fn lab_errors_print_the_messages_of_the_string_errors_they_replace() {
    use std::error::Error as _;
    use std::io;

    use crate::error::LabError;
    use crate::map::MapError;
    use crate::report::Machine;

    let os = || io::Error::from_raw_os_error(libc::EINVAL);
    let einval = os().to_string();
    let (gpa, len, slot) = (0x1000_0000u64, 0x4000u64, 1u32);
    let ioctl =
        LabError::Ioctl { what: format!("KVM_SET_USER_MEMORY_REGION slot {slot} gpa {gpa:#x}+{len:#x}"), source: os() };
    assert_eq!(ioctl.to_string(), format!("KVM_SET_USER_MEMORY_REGION slot {slot} gpa {gpa:#x}+{len:#x}: {einval}"));
    assert_eq!(ioctl.source().map(ToString::to_string), Some(einval.clone()));
    let map = LabError::Map { what: "guest RAM".into(), source: os() };
    assert_eq!(map.to_string(), format!("guest RAM: {einval}"));
    let bits = 70u8;
    let limit = 0i32;
    assert_eq!(
        LabError::IpaBits { bits, limit }.to_string(),
        format!("--ipa-bits {bits}: KVM offers 32 to {limit} (KVM_CAP_ARM_VM_IPA_SIZE)")
    );
    assert_eq!(
        LabError::Unsupported("the MSI run needs an arm64 vGICv3 and ITS").to_string(),
        "the MSI run needs an arm64 vGICv3 and ITS"
    );
    let m = MapError::NoRoom { bar: 2 };
    assert_eq!(LabError::from(m.clone()).to_string(), m.to_string());
    let r = RunError::TooManyExits(50);
    let layout = LabError::Layout { layout: "qemu", source: Box::new(r.into()) };
    assert_eq!(layout.to_string(), format!("qemu: {}", RunError::TooManyExits(50)));
    for (e, text) in [
        (LabError::NotPrepared, "no VM prepared"),
        (LabError::NoVcpu, "no vCPU"),
        (LabError::RamTooSmall, "guest RAM too small for the script"),
        (LabError::ReadPastRam, "read past guest RAM"),
        (LabError::NoMsix, "the device has no MSI-X"),
        (LabError::TableUnplaced, "the table's BAR is not placed"),
    ] {
        assert_eq!(e.to_string(), text);
    }

    let mut sim = SimMachine::default();
    assert!(matches!(sim.vcpu(), Err(LabError::NotPrepared)));
    assert!(matches!(sim.entries(), Err(LabError::NotPrepared)));
}
