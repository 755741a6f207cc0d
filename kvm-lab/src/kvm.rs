//! The real machine: a KVM VM (rust-vmm's kvm-ioctls) with guest RAM holding the program and its
//! script, one memory slot per layout slot over an mmap of the VFIO device, and one vCPU.

use std::io;

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};

use crate::dispatch::{Exit, Vcpu, VcpuError};
use crate::error::LabError;
use crate::guest::{self, Entry, ENTRY_BYTES};
use crate::map::GuestMap;
use crate::report::Machine;
use msix_vfio::Mapping;

/// Guest RAM: the program at its start, the script at [`SCRIPT_OFFSET`].
pub const RAM_BASE: u64 = 0x8000_0000;
/// Size of guest RAM in bytes (1 MiB): memory slot 0.
pub const RAM_SIZE: u64 = 0x10_0000;
/// Offset in guest RAM of the script, where the vCPU's `x0` points at boot.
pub const SCRIPT_OFFSET: u64 = 0x1000;

/// What lends the VM its memory slots: mmaps of the device fd, unmapped when dropped.
pub trait SlotSource {
    /// mmaps `len` bytes at `offset` of the device fd.
    fn map(&self, offset: u64, len: u64) -> io::Result<Mapping>;
}

fn os(e: kvm_ioctls::Error) -> io::Error {
    io::Error::from_raw_os_error(e.errno())
}

/// A [`LabError::Ioctl`] of the ioctl `what` (with its arguments), for `map_err`.
fn ioctl(what: impl Into<String>) -> impl FnOnce(kvm_ioctls::Error) -> LabError {
    move |e| LabError::Ioctl { what: what.into(), source: os(e) }
}

/// Seconds one layout's run may take before the watchdog interrupts KVM_RUN (the default).
pub const WATCHDOG_SECS: u32 = 120;

extern "C" fn on_alarm(_: libc::c_int) {}

/// Installs a SIGALRM handler without SA_RESTART, so that `alarm` makes a KVM_RUN that never
/// returns (a guest spinning without exits) come back with EINTR.
pub fn install_watchdog() -> io::Result<()> {
    // SAFETY: a zeroed sigaction with a handler that does nothing (async-signal-safe), installed
    // for SIGALRM only; the pointers are to live locals.
    let r = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_alarm as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut())
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Arms (or with 0 disarms) the watchdog.
pub fn arm_watchdog(secs: u32) {
    // SAFETY: alarm(2) has no memory effects.
    unsafe { libc::alarm(secs) };
}

/// A vCPU of kvm-ioctls behind [`Vcpu`].
pub struct KvmVcpu {
    fd: VcpuFd,
}

impl KvmVcpu {
    /// Where the guest is: pc, x0 (the script entry), x2 (the address under test), pstate.
    fn whereabouts(&self) -> String {
        const CORE: u64 = 0x6030_0000_0010_0000;
        let reg = |id: u64| {
            let mut b = [0u8; 8];
            self.fd
                .get_one_reg(id, &mut b)
                .map(|_| u64::from_le_bytes(b))
                .map_or_else(|e| format!("?({e})"), |v| format!("{v:#x}"))
        };
        format!("pc={} x0={} x2={} pstate={}", reg(CORE | (256 / 4)), reg(CORE), reg(CORE | 4), reg(CORE | (264 / 4)))
    }
}

impl Vcpu for KvmVcpu {
    fn run(&mut self) -> Result<Exit, VcpuError> {
        match self.fd.run() {
            Ok(VcpuExit::MmioRead(addr, data)) => Ok(Exit::MmioRead { addr, len: data.len() }),
            Ok(VcpuExit::MmioWrite(addr, data)) => Ok(Exit::MmioWrite { addr, data: data.to_vec() }),
            Ok(other) => {
                let what = format!("{other:?}");
                Ok(Exit::Other(format!("{what} ({})", self.whereabouts())))
            }
            Err(e) if e.errno() == libc::EINTR => Ok(Exit::Other(format!(
                "the watchdog interrupted KVM_RUN: the guest spins without exits ({})",
                self.whereabouts()
            ))),
            Err(e) => Err(VcpuError::Run(os(e))),
        }
    }

    fn complete_read(&mut self, data: &[u8]) -> Result<(), VcpuError> {
        let run = self.fd.get_kvm_run();
        // SAFETY: the last KVM_RUN returned KVM_EXIT_MMIO, so `mmio` is the live member of the
        // kvm_run union (the vCPU's shared mmap); KVM copies `data` to the guest on the next run.
        let mmio = unsafe { &mut run.__bindgen_anon_1.mmio };
        let n = data.len().min(mmio.data.len());
        mmio.data[..n].copy_from_slice(&data[..n]);
        Ok(())
    }
}

/// A VM per layout on the same /dev/kvm and the same device.
pub struct KvmMachine<'d> {
    kvm: Kvm,
    dev: &'d dyn SlotSource,
    vcpu: Option<KvmVcpu>,
    vm: Option<VmFd>,
    /// Guest RAM: anonymous memory, unmapped when dropped.
    ram: Option<Mapping>,
    /// The device mappings behind the memory slots, kept until the VM is closed.
    device_maps: Vec<Mapping>,
    entries: usize,
    /// KVM_VM_TYPE_ARM_IPA_SIZE for the VMs (0: KVM's default, 40 bits).
    ipa_bits: u8,
    /// With a vGICv3 and an ITS (for the MSI run), kept open with the VM.
    gic: bool,
    gic_fds: Vec<kvm_ioctls::DeviceFd>,
}

impl<'d> KvmMachine<'d> {
    /// Opens /dev/kvm; no VM yet (`prepare` makes one per layout), no vGIC, KVM's default IPA size.
    pub fn new(dev: &'d dyn SlotSource) -> io::Result<Self> {
        let kvm = Kvm::new().map_err(os)?;
        Ok(KvmMachine {
            kvm,
            dev,
            vcpu: None,
            vm: None,
            ram: None,
            device_maps: Vec::new(),
            entries: 0,
            ipa_bits: 0,
            gic: false,
            gic_fds: Vec::new(),
        })
    }

    /// VMs with this guest physical address size (KVM_VM_TYPE_ARM_IPA_SIZE; 0 for KVM's default).
    /// Everything the lab places lies below 4 GiB, so 32 bits suffice.
    pub fn with_ipa_bits(mut self, bits: u8) -> Result<Self, LabError> {
        if bits != 0 {
            #[cfg(target_arch = "aarch64")]
            let limit = self.kvm.get_host_ipa_limit();
            #[cfg(not(target_arch = "aarch64"))]
            let limit = 0;
            if !(32..=64).contains(&bits) || i32::from(bits) > limit {
                return Err(LabError::IpaBits { bits, limit });
            }
        }
        self.ipa_bits = bits;
        Ok(self)
    }

    fn slot(vm: &VmFd, slot: u32, gpa: u64, len: u64, host: usize) -> Result<(), LabError> {
        let region = kvm_userspace_memory_region {
            slot,
            flags: 0,
            guest_phys_addr: gpa,
            memory_size: len,
            userspace_addr: host as u64,
        };
        // SAFETY: `host` is a live mapping of `len` bytes (guest RAM or a device mmap) that stays
        // mapped until `finish`, which closes the VM (and with it the slot) before unmapping.
        unsafe { vm.set_user_memory_region(region) }
            .map_err(ioctl(format!("KVM_SET_USER_MEMORY_REGION slot {slot} gpa {gpa:#x}+{len:#x}")))
    }

    #[cfg(target_arch = "aarch64")]
    fn boot_vcpu(vm: &VmFd) -> Result<VcpuFd, LabError> {
        // KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offset in struct kvm_regs / 4):
        // regs.regs[0] at 0, regs.pc at 256.
        const CORE: u64 = 0x6030_0000_0010_0000;
        const X0: u64 = CORE;
        const PC: u64 = CORE | (256 / 4);
        let vcpu = vm.create_vcpu(0).map_err(ioctl("KVM_CREATE_VCPU"))?;
        let mut kvi = kvm_bindings::kvm_vcpu_init::default();
        vm.get_preferred_target(&mut kvi).map_err(ioctl("KVM_ARM_PREFERRED_TARGET"))?;
        vcpu.vcpu_init(&kvi).map_err(ioctl("KVM_ARM_VCPU_INIT"))?;
        vcpu.set_one_reg(PC, &RAM_BASE.to_le_bytes()).map_err(ioctl("KVM_SET_ONE_REG pc"))?;
        vcpu.set_one_reg(X0, &(RAM_BASE + SCRIPT_OFFSET).to_le_bytes()).map_err(ioctl("KVM_SET_ONE_REG x0"))?;
        Ok(vcpu)
    }

    #[cfg(not(target_arch = "aarch64"))]
    fn boot_vcpu(_vm: &VmFd) -> Result<VcpuFd, LabError> {
        Err(LabError::Unsupported(
            "the guest program is aarch64 code: run kvm-lab on an aarch64 host (or `kvm-lab simulate`)",
        ))
    }
}

impl Machine for KvmMachine<'_> {
    fn prepare(&mut self, map: &GuestMap, entries: &[Entry]) -> Result<(), LabError> {
        self.finish();
        let vm = match self.ipa_bits {
            0 => self.kvm.create_vm(),
            // KVM_VM_TYPE_ARM_IPA_SIZE(bits): the low byte of the machine type.
            bits => self.kvm.create_vm_with_type(u64::from(bits)),
        }
        .map_err(ioctl(format!("KVM_CREATE_VM (IPA bits {})", self.ipa_bits)))?;
        let mut ram = Mapping::anonymous(RAM_SIZE as usize)
            .map_err(|source| LabError::Map { what: "guest RAM".into(), source })?;
        ram.write_bytes(0, &guest::program_bytes()).ok_or(LabError::RamTooSmall)?;
        ram.write_bytes(SCRIPT_OFFSET as usize, &guest::encode(entries)).ok_or(LabError::RamTooSmall)?;
        Self::slot(&vm, 0, RAM_BASE, RAM_SIZE, ram.addr())?;
        self.ram = Some(ram);
        for (i, s) in map.slots.iter().enumerate() {
            let host = self.dev.map(s.region_offset, s.len).map_err(|source| LabError::Map {
                what: format!("mmap of BAR{} {:#x}+{:#x} (fd offset {:#x})", s.bar, s.offset, s.len, s.region_offset),
                source,
            })?;
            let addr = host.addr();
            self.device_maps.push(host);
            Self::slot(&vm, i as u32 + 1, s.gpa, s.len, addr)?;
        }
        self.vcpu = Some(KvmVcpu { fd: Self::boot_vcpu(&vm)? });
        if self.gic {
            self.gic_fds = gic::create(&vm)?;
        }
        self.vm = Some(vm);
        self.entries = entries.len();
        Ok(())
    }

    fn vcpu(&mut self) -> Result<&mut dyn Vcpu, LabError> {
        self.vcpu.as_mut().map(|v| v as &mut dyn Vcpu).ok_or(LabError::NotPrepared)
    }

    fn entries(&self) -> Result<Vec<Entry>, LabError> {
        let ram = self.ram.as_ref().ok_or(LabError::NotPrepared)?;
        let bytes = ram.read_bytes(SCRIPT_OFFSET as usize, self.entries * ENTRY_BYTES).ok_or(LabError::ReadPastRam)?;
        Ok(guest::decode(&bytes))
    }

    fn finish(&mut self) {
        self.vcpu = None;
        self.gic_fds.clear();
        self.vm = None; // closing the VM drops its memory slots
        self.device_maps.clear(); // and then the mappings behind them
        self.ram = None;
    }
}

impl Drop for KvmMachine<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}

/// KVM_GET_API_VERSION of /dev/kvm.
pub fn api_version() -> io::Result<i32> {
    Ok(Kvm::new().map_err(os)?.get_api_version())
}

#[cfg(target_arch = "aarch64")]
mod gic {
    use kvm_bindings::{
        kvm_create_device, kvm_device_attr, kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_ITS,
        kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V3, KVM_DEV_ARM_VGIC_CTRL_INIT, KVM_DEV_ARM_VGIC_GRP_ADDR,
        KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_VGIC_ITS_ADDR_TYPE, KVM_VGIC_V3_ADDR_TYPE_DIST, KVM_VGIC_V3_ADDR_TYPE_REDIST,
    };
    use kvm_ioctls::{DeviceFd, VmFd};

    use super::ioctl;
    use crate::error::LabError;
    use crate::msi::{GICD_BASE, GICR_BASE, GITS_BASE};

    fn attr(dev: &DeviceFd, group: u32, attr: u32, value: Option<u64>, what: &str) -> Result<(), LabError> {
        let v = value.unwrap_or(0);
        let a = kvm_device_attr {
            flags: 0,
            group,
            attr: u64::from(attr),
            addr: value.map_or(0, |_| &v as *const u64 as u64),
        };
        dev.set_device_attr(&a).map_err(ioctl(format!("KVM_SET_DEVICE_ATTR {what}")))
    }

    /// A vGICv3 (distributor, one redistributor) and an ITS, initialised; after the vCPUs.
    pub fn create(vm: &VmFd) -> Result<Vec<DeviceFd>, LabError> {
        let mut d = kvm_create_device { type_: kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_V3, fd: 0, flags: 0 };
        let gic = vm.create_device(&mut d).map_err(ioctl("KVM_CREATE_DEVICE vgic-v3"))?;
        attr(&gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, Some(GICD_BASE), "GICD base")?;
        attr(&gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, Some(GICR_BASE), "GICR base")?;
        let mut d = kvm_create_device { type_: kvm_device_type_KVM_DEV_TYPE_ARM_VGIC_ITS, fd: 0, flags: 0 };
        let its = vm.create_device(&mut d).map_err(ioctl("KVM_CREATE_DEVICE vgic-its"))?;
        attr(&its, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, Some(GITS_BASE), "ITS base")?;
        attr(&gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, None, "vgic init")?;
        attr(&its, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, None, "its init")?;
        Ok(vec![gic, its])
    }
}

#[cfg(not(target_arch = "aarch64"))]
mod gic {
    use crate::error::LabError;

    pub fn create(_: &kvm_ioctls::VmFd) -> Result<Vec<kvm_ioctls::DeviceFd>, LabError> {
        Err(LabError::Unsupported("the MSI run needs an arm64 vGICv3 and ITS"))
    }
}

/// What the MSI run saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MsiRun {
    /// The layout's name ([`crate::layouts::Named::name`]).
    pub layout: String,
    /// MSI-X entry 0 as the VMM's table emulation caught it: address, data, masked.
    pub entry: Option<(u64, u32, bool)>,
    /// Exits of the setup (the table writes).
    pub setup_exits: u64,
    /// KVM_SIGNAL_MSI's return value.
    pub signal: Option<i32>,
    /// The INTID the guest acknowledged.
    pub acknowledged: Option<u32>,
    /// Whether the guest acknowledged the expected LPI ([`crate::msi::LPI`]).
    pub ok: bool,
    /// What happened, in a sentence: the INTID acknowledged, or where the run stopped.
    pub note: String,
}

impl KvmMachine<'_> {
    /// With a vGICv3 and ITS in every VM.
    pub fn with_gic(mut self) -> Self {
        self.gic = true;
        self
    }

    fn write_ram(&mut self, offset: u64, bytes: &[u8]) -> Result<(), LabError> {
        self.ram.as_mut().ok_or(LabError::NotPrepared)?.write_bytes(offset as usize, bytes).ok_or(LabError::RamTooSmall)
    }

    /// One MSI, end to end, under `layout`: the guest programs its GIC and MSI-X entry 0, the
    /// VMM signals what the entry says with KVM_SIGNAL_MSI, the guest acknowledges it.
    pub fn run_msi(
        &mut self,
        named: &crate::layouts::Named,
        dev: &dyn crate::dispatch::DeviceIo,
        region_offset: &dyn Fn(u8) -> u64,
        watchdog: u32,
    ) -> Result<MsiRun, LabError> {
        use crate::dispatch::{run_to_stop, Dispatcher};
        use crate::msi;
        let layout = &named.layout;
        let m = layout.msix.ok_or(LabError::NoMsix)?;
        let map = GuestMap::new(layout)?;
        let table_gpa = map.gpa(m.table_bir, u64::from(m.table_offset)).ok_or(LabError::TableUnplaced)?;
        let script = msi::setup_script(RAM_BASE, table_gpa);
        self.prepare(&map, &script)?;
        self.write_ram(msi::PROP_TABLE, &[msi::LPI_CONFIG])?;
        self.write_ram(msi::COMMAND_QUEUE, &msi::its_commands(RAM_BASE))?;
        let ack: Vec<u8> = msi::ACK_PROGRAM.iter().flat_map(|w| w.to_le_bytes()).collect();
        self.write_ram(msi::ACK_PROGRAM_OFFSET, &ack)?;
        let mut d = Dispatcher::new(&map, dev, region_offset, layout.msix, msi::READY_PORT);
        arm_watchdog(watchdog);
        let setup = self.vcpu().and_then(|v| run_to_stop(v, &mut d, 1000).map_err(LabError::from));
        arm_watchdog(0);
        let mut run = MsiRun {
            layout: named.name.into(),
            entry: msi::entry0(&d.table),
            setup_exits: d.exits,
            signal: None,
            acknowledged: None,
            ok: false,
            note: String::new(),
        };
        if let Err(e) = setup {
            run.note = format!("setup: {e}");
            self.finish();
            return Ok(run);
        }
        let Some((address, data, masked)) = run.entry else {
            run.note = "the guest's table write never reached the table emulation".into();
            self.finish();
            return Ok(run);
        };
        if masked {
            run.note = "entry 0 is masked: nothing to deliver".into();
            self.finish();
            return Ok(run);
        }
        let msi = kvm_bindings::kvm_msi {
            address_lo: address as u32,
            address_hi: (address >> 32) as u32,
            data,
            flags: kvm_bindings::KVM_MSI_VALID_DEVID,
            devid: msi::DEVICE_ID,
            pad: [0; 12],
        };
        let vm = self.vm.as_ref().ok_or(LabError::NotPrepared)?;
        match vm.signal_msi(msi) {
            Ok(r) => run.signal = Some(r),
            Err(e) => {
                run.note = format!("KVM_SIGNAL_MSI: {}", os(e));
                self.finish();
                return Ok(run);
            }
        }
        let vcpu = self.vcpu.as_mut().ok_or(LabError::NoVcpu)?;
        let pc = RAM_BASE + msi::ACK_PROGRAM_OFFSET;
        set_reg(&vcpu.fd, 256 / 4, pc)?;
        set_reg(&vcpu.fd, 2 * 6, msi::RESULT_PORT)?;
        arm_watchdog(watchdog);
        let got = vcpu.run();
        arm_watchdog(0);
        match got {
            Ok(Exit::MmioWrite { addr, data }) if addr == msi::RESULT_PORT => {
                let mut w = [0u8; 4];
                let n = data.len().min(4);
                w[..n].copy_from_slice(&data[..n]);
                let intid = u32::from_le_bytes(w);
                run.acknowledged = Some(intid);
                run.ok = intid == msi::LPI;
                run.note = format!("the guest acknowledged INTID {intid} (expected LPI {})", msi::LPI);
            }
            Ok(other) => run.note = format!("after the MSI: {other:?}"),
            Err(e) => run.note = format!("after the MSI: {e}"),
        }
        self.finish();
        Ok(run)
    }
}

/// Sets core register `index` (struct kvm_regs, in 32-bit words) of a vCPU.
fn set_reg(fd: &VcpuFd, index: u64, value: u64) -> Result<(), LabError> {
    const CORE: u64 = 0x6030_0000_0010_0000;
    fd.set_one_reg(CORE | index, &value.to_le_bytes()).map(|_| ()).map_err(ioctl("KVM_SET_ONE_REG"))
}
