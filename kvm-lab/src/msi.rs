//! One MSI delivered to the guest through KVM: the guest's GICv3 redistributor and ITS are
//! programmed by the guest itself (a script of register writes the same program runs), with the
//! ITS commands and tables prepared in guest RAM by the VMM; the guest programs MSI-X entry 0 with
//! the ITS doorbell, the VMM reads that entry from its table emulation and signals it with
//! KVM_SIGNAL_MSI, and a second small program acknowledges the interrupt (ICC_IAR1_EL1) and
//! reports its INTID.
//!
//! Second program, at [`ACK_PROGRAM_OFFSET`] of RAM, `x6` the result port. The VMM points the pc
//! at it after the ready port's MMIO exit, whose completion KVM may still apply as a pc increment
//! of 4: the leading `nop` makes both entry points equivalent.
//!
//! ```text
//! 0x00  d503201f  nop
//! 0x04  d2801fe1  mov  x1, #0xff
//! 0x08  d5184601  msr  ICC_PMR_EL1, x1        // every priority
//! 0x0c  d2800021  mov  x1, #1
//! 0x10  d518cce1  msr  ICC_IGRPEN1_EL1, x1    // group 1 on
//! 0x14  d5033fdf  isb
//! 0x18  d538cc05  mrs  x5, ICC_IAR1_EL1       // poll: acknowledge (works with PSTATE.I masked)
//! 0x1c  f10ffcbf  cmp  x5, #1023              // spurious: nothing pending
//! 0x20  54ffffc0  b.eq 0x18
//! 0x24  d518cc25  msr  ICC_EOIR1_EL1, x5
//! 0x28  b90000c5  str  w5, [x6]               // the INTID to the VMM
//! 0x2c  14000000  b    .
//! ```
//! (Checked against GNU as.)

use crate::guest::{Entry, OP_END, OP_WRITE};

/// The second program, one instruction per word (see the listing above).
pub const ACK_PROGRAM: [u32; 12] = [
    0xd503_201f,
    0xd280_1fe1,
    0xd518_4601,
    0xd280_0021,
    0xd518_cce1,
    0xd503_3fdf,
    0xd538_cc05,
    0xf10f_fcbf,
    0x54ff_ffc0,
    0xd518_cc25,
    0xb900_00c5,
    0x1400_0000,
];
/// Offset in guest RAM of [`ACK_PROGRAM`], after the main program.
pub const ACK_PROGRAM_OFFSET: u64 = 0x100;

/// Guest physical addresses of the vGIC (below the BARs, away from RAM): the GICv3 distributor.
pub const GICD_BASE: u64 = 0x0800_0000;
/// The ITS's register frame (its control frame; the translation frame follows 64 KiB on).
pub const GITS_BASE: u64 = 0x0808_0000;
/// The redistributor of vCPU 0.
pub const GICR_BASE: u64 = 0x080a_0000;
/// GITS_TRANSLATER, the ITS doorbell: the MSI address the guest writes into MSI-X entry 0.
pub const GITS_TRANSLATER: u64 = GITS_BASE + 0x1_0040;
/// Where the guest says it is ready for the MSI, and where it reports the INTID.
pub const READY_PORT: u64 = 0x0900_1000;
/// Where the acknowledge program writes the INTID it acknowledged (its `x6`).
pub const RESULT_PORT: u64 = 0x0900_2000;

/// Offsets in guest RAM of what the VMM prepares, each 64 KiB aligned: KVM's ITS reads a
/// GITS_BASER address as for 64 KiB ITS pages (bits 15:12 are address bits 51:48).
pub const PROP_TABLE: u64 = 0x1_0000; // LPI configuration, 8 KiB (IDbits 14)
/// The LPI pending table (GICR_PENDBASER); fresh guest RAM is zero, so PTZ is set.
pub const PEND_TABLE: u64 = 0x2_0000;
/// The ITS device table (GITS_BASER0), one page.
pub const DEVICE_TABLE: u64 = 0x3_0000;
/// The ITS collection table (GITS_BASER1), one page.
pub const COLLECTION_TABLE: u64 = 0x4_0000;
/// The ITS command queue (GITS_CBASER), one page, holding [`its_commands`].
pub const COMMAND_QUEUE: u64 = 0x5_0000;
/// The interrupt translation table of device [`DEVICE_ID`], named by MAPD.
pub const ITT: u64 = 0x6_0000;

/// The DeviceID, EventID and LPI of the MSI: the DeviceID KVM_SIGNAL_MSI passes to the ITS.
pub const DEVICE_ID: u32 = 0;
/// The EventID: the MSI data the guest writes into MSI-X entry 0.
pub const EVENT_ID: u32 = 0;
/// The LPI (INTID) the ITS maps the event to, the first LPI; the guest must acknowledge it.
pub const LPI: u32 = 8192;
/// The LPI's configuration byte: priority 0xa0, enabled.
pub const LPI_CONFIG: u8 = 0xa1;

/// The ITS commands: MAPD (device 0, ITT, 2 event bits), MAPC (collection 0 to vCPU 0), MAPTI
/// (event 0 to LPI 8192 in collection 0), SYNC.
pub fn its_commands(ram_base: u64) -> Vec<u8> {
    let cmds: [[u64; 4]; 4] = [
        [0x08 | (u64::from(DEVICE_ID) << 32), 1, (1 << 63) | (ram_base + ITT), 0],
        [0x09, 0, 1 << 63, 0],
        [0x0a | (u64::from(DEVICE_ID) << 32), u64::from(EVENT_ID) | (u64::from(LPI) << 32), 0, 0],
        [0x05, 0, 0, 0],
    ];
    cmds.iter().flatten().flat_map(|w| w.to_le_bytes()).collect()
}

fn write32(addr: u64, value: u32) -> Entry {
    Entry { op: OP_WRITE, addr, value: u64::from(value), count: 1 }
}

fn write64(out: &mut Vec<Entry>, addr: u64, value: u64) {
    out.push(write32(addr, value as u32));
    out.push(write32(addr + 4, (value >> 32) as u32));
}

/// The guest's setup: redistributor LPI tables and enable, distributor enable, ITS tables and
/// command queue, ITS enable; then MSI-X entry 0 (at `table_gpa`, the table the guest sees)
/// programmed with the ITS doorbell and unmasked; then the commands run (CWRITER); then ready.
pub fn setup_script(ram_base: u64, table_gpa: u64) -> Vec<Entry> {
    let mut s = Vec::new();
    write64(&mut s, GICR_BASE + 0x70, (ram_base + PROP_TABLE) | 13); // PROPBASER, IDbits 14
    write64(&mut s, GICR_BASE + 0x78, (ram_base + PEND_TABLE) | (1 << 62)); // PENDBASER, PTZ
    s.push(write32(GICR_BASE, 1)); // GICR_CTLR.EnableLPIs
    s.push(write32(GICD_BASE, 0x12)); // GICD_CTLR: ARE_NS, EnableGrp1A
    write64(&mut s, GITS_BASE + 0x100, (ram_base + DEVICE_TABLE) | (1 << 63)); // BASER0, 1 page
    write64(&mut s, GITS_BASE + 0x108, (ram_base + COLLECTION_TABLE) | (1 << 63)); // BASER1
    write64(&mut s, GITS_BASE + 0x80, (ram_base + COMMAND_QUEUE) | (1 << 63)); // CBASER, 1 page
    s.push(write32(GITS_BASE, 1)); // GITS_CTLR.Enabled
    s.push(write32(table_gpa, GITS_TRANSLATER as u32));
    s.push(write32(table_gpa + 4, (GITS_TRANSLATER >> 32) as u32));
    s.push(write32(table_gpa + 8, EVENT_ID));
    s.push(write32(table_gpa + 12, 0)); // unmasked
    s.push(write32(GITS_BASE + 0x88, 4 * 32)); // CWRITER: run the four commands
    s.push(Entry { op: OP_END, addr: READY_PORT, value: 0, count: 1 });
    s
}

/// MSI-X entry 0 as the VMM's table emulation holds it: (address, data, masked).
pub fn entry0(table: &[u8]) -> Option<(u64, u32, bool)> {
    let w = |i: usize| Some(u32::from_le_bytes(table.get(4 * i..4 * i + 4)?.try_into().ok()?));
    Some(((u64::from(w(1)?) << 32) | u64::from(w(0)?), w(2)?, w(3)? & 1 != 0))
}
