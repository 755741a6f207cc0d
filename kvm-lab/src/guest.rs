//! The guest: a small aarch64 program, hand-assembled, that walks a script of MMIO accesses the
//! VMM wrote into guest RAM, and the script itself.
//!
//! The program runs at EL1 with the MMU off (as KVM_ARM_VCPU_INIT leaves it), `x0` pointing at the
//! script. Every MMIO access is a plain `ldr w`/`str w` with an immediate offset of zero, so a
//! trapped access reaches the VMM as KVM_EXIT_MMIO with a valid syndrome (ISV), never as an
//! "instruction not decodable" error.
//!
//! A script entry is four little-endian u64: `op` (0 end, 1 read, 2 write), `addr` (guest
//! physical), `value` (written by a write; the last value read is stored back by a read) and
//! `count` (at least 1: the access repeats `count` times). The end entry's `addr` is the VMM's
//! stop port: the program writes it once and the VMM ends the run there.
//!
//! ```text
//! 0x00 loop:  a9400801  ldp  x1, x2, [x0]        // op, addr
//! 0x04        a9411003  ldp  x3, x4, [x0, #16]   // value, count
//! 0x08        b40001a1  cbz  x1, done            // -> 0x3c
//! 0x0c        f100043f  cmp  x1, #1
//! 0x10        540000c1  b.ne write               // -> 0x28
//! 0x14 rd:    b9400045  ldr  w5, [x2]            // the read under test
//! 0x18        f1000484  subs x4, x4, #1
//! 0x1c        54ffffc1  b.ne rd                  // -> 0x14
//! 0x20        f9000805  str  x5, [x0, #16]       // last value read, for the VMM to check
//! 0x24        14000004  b    next                // -> 0x34
//! 0x28 write: b9000043  str  w3, [x2]            // the write under test
//! 0x2c        f1000484  subs x4, x4, #1
//! 0x30        54ffffc1  b.ne write               // -> 0x28
//! 0x34 next:  91008000  add  x0, x0, #32
//! 0x38        17fffff2  b    loop                // -> 0x00
//! 0x3c done:  b9000041  str  w1, [x2]            // the stop port
//! 0x40        17ffffff  b    done                // -> 0x3c
//! ```
//!
//! (Checked against GNU as: `aarch64-linux-gnu-as` of the listing gives these words.)

/// The program, one instruction per word (see the listing above).
pub const PROGRAM: [u32; 17] = [
    0xa940_0801,
    0xa941_1003,
    0xb400_01a1,
    0xf100_043f,
    0x5400_00c1,
    0xb940_0045,
    0xf100_0484,
    0x54ff_ffc1,
    0xf900_0805,
    0x1400_0004,
    0xb900_0043,
    0xf100_0484,
    0x54ff_ffc1,
    0x9100_8000,
    0x17ff_fff2,
    0xb900_0041,
    0x17ff_ffff,
];

/// The program as bytes to copy into guest RAM.
pub fn program_bytes() -> Vec<u8> {
    PROGRAM.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Bytes of one script entry.
pub const ENTRY_BYTES: usize = 32;
/// `op` of the last entry: the program writes the stop port at `addr`, where the VMM ends the run.
pub const OP_END: u64 = 0;
/// `op` of a read: 32-bit load from `addr`, `count` times; the last value read goes to `value`.
pub const OP_READ: u64 = 1;
/// `op` of a write: 32-bit store of `value`'s low half to `addr`, `count` times.
pub const OP_WRITE: u64 = 2;

/// One entry as the guest reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// [`OP_END`], [`OP_READ`] or [`OP_WRITE`].
    pub op: u64,
    /// Guest physical address of the access (the stop port for [`OP_END`]).
    pub addr: u64,
    /// What a write stores (its low 32 bits); where a read leaves the last value it read.
    pub value: u64,
    /// How many times the access repeats (at least 1).
    pub count: u64,
}

/// Encodes entries for guest RAM.
pub fn encode(entries: &[Entry]) -> Vec<u8> {
    entries.iter().flat_map(|e| [e.op, e.addr, e.value, e.count]).flat_map(u64::to_le_bytes).collect()
}

/// The `value` field of entry `i` in an encoded script (where a read stores what it read).
pub fn value_at(script: &[u8], i: usize) -> Option<u64> {
    let o = i * ENTRY_BYTES + 16;
    Some(u64::from_le_bytes(script.get(o..o + 8)?.try_into().ok()?))
}

/// Decodes a script read back from guest RAM.
pub fn decode(bytes: &[u8]) -> Vec<Entry> {
    let word = |c: &[u8], i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&c[8 * i..8 * i + 8]);
        u64::from_le_bytes(w)
    };
    bytes
        .chunks_exact(ENTRY_BYTES)
        .map(|c| Entry { op: word(c, 0), addr: word(c, 1), value: word(c, 2), count: word(c, 3) })
        .collect()
}
