//! A simulated vCPU: runs the guest program's semantics over the script against a [`GuestMap`]
//! the way KVM would (an access inside a memory slot goes to memory, anything else exits). It
//! lets the whole run be exercised without /dev/kvm, on every target.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::dispatch::{DeviceIo, Exit, Vcpu, VcpuError};
use crate::error::LabError;
use crate::guest::{Entry, OP_END, OP_WRITE};
use crate::map::{GuestMap, Hit};
use crate::report::Machine;

/// A vCPU that runs the guest program's semantics in the VMM: no /dev/kvm, same exits.
pub struct SimVcpu {
    map: GuestMap,
    /// The script as the guest holds it; reads store their last value back, as the program does.
    pub entries: Vec<Entry>,
    at: usize,
    left: u64,
    pending_read: bool,
    /// What the guest wrote into memory slots (the device's mapped registers), by address.
    pub slot_memory: HashMap<u64, u32>,
    /// Accesses that went to memory slots without an exit.
    pub direct: u64,
}

impl SimVcpu {
    /// A vCPU at the first of `entries`, with `map`'s memory slots as plain (initially zero) memory.
    pub fn new(map: &GuestMap, entries: Vec<Entry>) -> Self {
        let left = entries.first().map_or(0, |e| e.count);
        SimVcpu { map: map.clone(), entries, at: 0, left, pending_read: false, slot_memory: HashMap::new(), direct: 0 }
    }

    fn step(&mut self) {
        self.left = self.left.saturating_sub(1);
        if self.left == 0 {
            self.at += 1;
            self.left = self.entries.get(self.at).map_or(0, |e| e.count);
        }
    }
}

impl Vcpu for SimVcpu {
    fn run(&mut self) -> Result<Exit, VcpuError> {
        loop {
            let Some(e) = self.entries.get(self.at).copied() else {
                return Ok(Exit::Other("the program ran past the end of its script".into()));
            };
            if e.op == OP_END {
                return Ok(Exit::MmioWrite { addr: e.addr, data: 0u32.to_le_bytes().to_vec() });
            }
            let write = e.op == OP_WRITE;
            match self.map.lookup(e.addr) {
                Some(Hit::Slot(_)) => {
                    self.direct += 1;
                    if write {
                        self.slot_memory.insert(e.addr, e.value as u32);
                    } else {
                        let v = self.slot_memory.get(&e.addr).copied().unwrap_or(0);
                        self.entries[self.at].value = u64::from(v);
                    }
                    self.step();
                }
                _ => {
                    if write {
                        self.step();
                        return Ok(Exit::MmioWrite { addr: e.addr, data: (e.value as u32).to_le_bytes().to_vec() });
                    }
                    self.pending_read = true;
                    return Ok(Exit::MmioRead { addr: e.addr, len: 4 });
                }
            }
        }
    }

    fn complete_read(&mut self, data: &[u8]) -> Result<(), VcpuError> {
        if !std::mem::take(&mut self.pending_read) {
            return Err(VcpuError::Setup("complete_read without a pending MMIO read".into()));
        }
        let mut w = [0u8; 4];
        let n = data.len().min(4);
        w[..n].copy_from_slice(&data[..n]);
        if let Some(e) = self.entries.get_mut(self.at) {
            e.value = u64::from(u32::from_le_bytes(w));
        }
        self.step();
        Ok(())
    }
}

/// A device that is plain memory: what was written reads back (the stand-in for VFIO in tests
/// and `kvm-lab simulate`).
#[derive(Default)]
pub struct MemDevice {
    /// Bytes written, by offset in the device fd; a byte never written reads as zero.
    pub bytes: Mutex<HashMap<u64, u8>>,
    /// Writes received (calls of `write`, not bytes).
    pub writes: AtomicU64,
}

impl DeviceIo for MemDevice {
    fn read(&self, offset: u64, data: &mut [u8]) -> std::io::Result<()> {
        let b = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        for (i, x) in data.iter_mut().enumerate() {
            *x = b.get(&(offset + i as u64)).copied().unwrap_or(0);
        }
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let mut b = self.bytes.lock().unwrap_or_else(|e| e.into_inner());
        for (i, x) in data.iter().enumerate() {
            b.insert(offset + i as u64, *x);
        }
        Ok(())
    }
}

/// A [`Machine`] over [`SimVcpu`].
#[derive(Default)]
pub struct SimMachine {
    vcpu: Option<SimVcpu>,
}

impl Machine for SimMachine {
    fn prepare(&mut self, map: &GuestMap, entries: &[Entry]) -> Result<(), LabError> {
        self.vcpu = Some(SimVcpu::new(map, entries.to_vec()));
        Ok(())
    }
    fn vcpu(&mut self) -> Result<&mut dyn Vcpu, LabError> {
        self.vcpu.as_mut().map(|v| v as &mut dyn Vcpu).ok_or(LabError::NotPrepared)
    }
    fn entries(&self) -> Result<Vec<Entry>, LabError> {
        self.vcpu.as_ref().map(|v| v.entries.clone()).ok_or(LabError::NotPrepared)
    }
    fn finish(&mut self) {}
}
