//! The exit dispatch and its accounting: which range an MMIO exit hits, which handler serves it,
//! and the counts. No KVM here: the vCPU is behind [`Vcpu`], so the accounting is tested against
//! a mock and the simulated vCPU on every target.

use std::collections::BTreeMap;
use std::io;

use msix_policy_engine::{GuestMsix, TrapContents, TrapHandler};

use crate::map::{GuestMap, Hit};

/// The device behind the layout, reached through its VFIO fd (pread/pwrite).
#[cfg_attr(test, mockall::automock)]
pub trait DeviceIo {
    /// Reads `data.len()` bytes at `offset` of the device fd.
    fn read(&self, offset: u64, data: &mut [u8]) -> io::Result<()>;
    /// Writes `data` at `offset` of the device fd.
    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()>;
}

/// One exit as the vCPU reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// KVM_EXIT_MMIO, a read of `len` bytes: the VMM answers with [`Vcpu::complete_read`].
    MmioRead {
        /// Guest physical address of the access.
        addr: u64,
        /// Width of the access in bytes.
        len: usize,
    },
    /// KVM_EXIT_MMIO, a write.
    MmioWrite {
        /// Guest physical address of the access.
        addr: u64,
        /// The bytes the guest wrote, little-endian, as many as the access is wide.
        data: Vec<u8>,
    },
    /// Anything else the guest program should never cause.
    Other(String),
}

/// Why a vCPU could not run or be driven.
#[derive(Debug, thiserror::Error)]
pub enum VcpuError {
    /// KVM_RUN failed with this OS error.
    #[error("KVM_RUN: {0}")]
    Run(io::Error),
    /// Any other failure of the vCPU or its setup (for example a `complete_read` with no MMIO
    /// read pending), as a message.
    #[error("{0}")]
    Setup(String),
}

/// What the dispatch needs of a vCPU.
#[cfg_attr(test, mockall::automock)]
pub trait Vcpu {
    /// Runs until the next exit.
    fn run(&mut self) -> Result<Exit, VcpuError>;
    /// The data of the MMIO read the last exit asked for; the next `run` returns it to the guest.
    fn complete_read(&mut self, data: &[u8]) -> Result<(), VcpuError>;
}

/// Why a run ended before the guest wrote the stop port.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The vCPU failed.
    #[error(transparent)]
    Vcpu(#[from] VcpuError),
    /// An exit other than MMIO ([`Exit::Other`]), for example the watchdog interrupting KVM_RUN.
    #[error("unexpected exit: {0}")]
    UnexpectedExit(String),
    /// The exit limit (the value) was reached first: the guest loops or the script is wrong.
    #[error("the guest did not reach the stop port within {0} exits")]
    TooManyExits(u64),
    /// A trapped access forwarded to the device (pread/pwrite of the VFIO device fd) failed.
    #[error("forwarding {what} at device offset {offset:#x}: {err}")]
    Device {
        /// What was forwarded: a register or an I/O port access.
        what: &'static str,
        /// Offset in the device fd: the BAR's region offset plus the offset in the BAR.
        offset: u64,
        /// The error of the pread/pwrite.
        err: io::Error,
    },
    /// An MMIO access wider than 8 bytes (the value, in bytes).
    #[error("MMIO access of {0} bytes (the program makes 4-byte accesses)")]
    Width(usize),
}

/// Exits per handler, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct HandlerCounts {
    /// Exits served by the VMM's MSI-X table emulation (`TrapHandler::EmulateMsixTable`).
    pub emulate_msix_table: u64,
    /// Exits served by the PBA emulation, which reads as nothing pending (`EmulateMsixPba`).
    pub emulate_msix_pba: u64,
    /// Exits forwarded to the device through the VFIO fd (`ForwardToDevice`).
    pub forward_to_device: u64,
    /// Exits that read as zero and drop writes (`ReadZero`).
    pub read_zero: u64,
}

/// Serves exits and counts them.
pub struct Dispatcher<'a> {
    map: &'a GuestMap,
    dev: &'a dyn DeviceIo,
    /// Offset of each BAR's region in the device fd.
    region_offset: &'a dyn Fn(u8) -> u64,
    msix: Option<GuestMsix>,
    stop_port: u64,
    /// The VMM's copy of the table the guest sees (16 bytes an entry) and its PBA.
    pub table: Vec<u8>,
    /// Exits per (guest physical address, write).
    pub by_address: BTreeMap<(u64, bool), u64>,
    /// Exits per trapped range of the map.
    pub by_trap: Vec<u64>,
    /// Exits that landed in a memory slot (KVM should never give one).
    pub in_slot: u64,
    /// Exits outside every slot and trapped range.
    pub unbacked: Vec<u64>,
    /// Exits in trapped ranges, by the handler that served them.
    pub handlers: HandlerCounts,
    /// Writes that reached the emulated table (entry offset, value).
    pub table_writes: Vec<(u64, u32)>,
    /// Every MMIO exit served, the stop port's write excluded (slot and unbacked ones included).
    pub exits: u64,
}

/// Where to stop.
pub enum Flow {
    /// The exit is served: run the vCPU again.
    Continue,
    /// The guest wrote the stop port: the run is over.
    Stop,
}

impl<'a> Dispatcher<'a> {
    /// A dispatcher over `map` with nothing counted yet. `dev` serves forwarded accesses at
    /// `region_offset(bar)` plus the offset in the BAR; `msix` says where the guest sees the table
    /// (the emulated copy starts zeroed); a write to the guest physical address `stop_port` ends
    /// the run.
    pub fn new(
        map: &'a GuestMap,
        dev: &'a dyn DeviceIo,
        region_offset: &'a dyn Fn(u8) -> u64,
        msix: Option<GuestMsix>,
        stop_port: u64,
    ) -> Self {
        let table = vec![0u8; msix.map_or(0, |m| usize::from(m.table_size) * 16)];
        Dispatcher {
            map,
            dev,
            region_offset,
            msix,
            stop_port,
            table,
            by_address: BTreeMap::new(),
            by_trap: vec![0; map.traps.len()],
            in_slot: 0,
            unbacked: Vec::new(),
            handlers: HandlerCounts::default(),
            table_writes: Vec::new(),
            exits: 0,
        }
    }

    /// The offset in the guest's table of `gpa`, when it is in it.
    fn table_offset(&self, gpa: u64) -> Option<usize> {
        let m = self.msix?;
        let base = self.map.gpa(m.table_bir, u64::from(m.table_offset))?;
        let off = usize::try_from(gpa.checked_sub(base)?).ok()?;
        (off < self.table.len()).then_some(off)
    }

    /// Serves one MMIO access: fills `data` on a read.
    pub fn mmio(&mut self, gpa: u64, data: &mut [u8], write: bool) -> Result<Flow, RunError> {
        if write && gpa == self.stop_port {
            return Ok(Flow::Stop);
        }
        self.exits += 1;
        *self.by_address.entry((gpa, write)).or_default() += 1;
        if data.len() > 8 {
            return Err(RunError::Width(data.len()));
        }
        let i = match self.map.lookup(gpa) {
            Some(Hit::Trap(i)) => i,
            Some(Hit::Slot(_)) => {
                self.in_slot += 1;
                return Ok(Flow::Continue);
            }
            None => {
                self.unbacked.push(gpa);
                data.fill(0);
                return Ok(Flow::Continue);
            }
        };
        self.by_trap[i] += 1;
        let t = self.map.traps[i];
        let offset_in_bar = gpa - (t.gpa - t.range.offset);
        match t.range.handler {
            TrapHandler::EmulateMsixTable => {
                self.handlers.emulate_msix_table += 1;
                match self.table_offset(gpa) {
                    Some(o) if o + data.len() <= self.table.len() => {
                        if write {
                            self.table[o..o + data.len()].copy_from_slice(data);
                            let mut w = [0u8; 4];
                            let n = data.len().min(4);
                            w[..n].copy_from_slice(&data[..n]);
                            self.table_writes.push((o as u64, u32::from_le_bytes(w)));
                        } else {
                            data.copy_from_slice(&self.table[o..o + data.len()]);
                        }
                    }
                    // Past the last entry, inside the trapped range: reads as zero.
                    _ if !write => data.fill(0),
                    _ => {}
                }
            }
            TrapHandler::EmulateMsixPba => {
                self.handlers.emulate_msix_pba += 1;
                if !write {
                    data.fill(0); // no vector of this VMM is pending
                }
            }
            TrapHandler::ForwardToDevice => {
                self.handlers.forward_to_device += 1;
                let offset = (self.region_offset)(t.bar) + offset_in_bar;
                let what = match t.range.holds {
                    TrapContents::IoPorts => "an I/O port access",
                    _ => "a register access",
                };
                let r = if write { self.dev.write(offset, data) } else { self.dev.read(offset, data) };
                r.map_err(|err| RunError::Device { what, offset, err })?;
            }
            _ => {
                self.handlers.read_zero += 1;
                if !write {
                    data.fill(0);
                }
            }
        }
        Ok(Flow::Continue)
    }
}

/// Runs the vCPU until the guest writes the stop port, serving every exit.
pub fn run_to_stop(vcpu: &mut dyn Vcpu, d: &mut Dispatcher<'_>, max_exits: u64) -> Result<(), RunError> {
    loop {
        if d.exits >= max_exits {
            return Err(RunError::TooManyExits(max_exits));
        }
        match vcpu.run()? {
            Exit::MmioRead { addr, len } => {
                let mut buf = vec![0u8; len];
                d.mmio(addr, &mut buf, false)?;
                vcpu.complete_read(&buf)?;
            }
            Exit::MmioWrite { addr, mut data } => {
                if let Flow::Stop = d.mmio(addr, &mut data, true)? {
                    return Ok(());
                }
            }
            Exit::Other(what) => return Err(RunError::UnexpectedExit(what)),
        }
    }
}
