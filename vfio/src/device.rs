//! Opening a device through VFIO and mapping a plan's `map` segments, with an error for every
//! refusal the kernel can give.

use std::io;

use msix_backends::Root;
use msix_policy_engine::{BarOrigin, Layout, MappingPlan, SegmentAction, VfioRegion};
use vfio_bindings::bindings::vfio::{
    VFIO_API_VERSION, VFIO_GROUP_FLAGS_VIABLE, VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_BAR5_REGION_INDEX,
    VFIO_PCI_CONFIG_REGION_INDEX,
};

use crate::region::{allows_mmap, fd_offset, parse_region_info, CapError, REGION_INFO_LEN};
use crate::sys::{KernelVfio, Mapping, RawFd, VfioSys};
use crate::{IOMMU_NAME, IOMMU_TYPE};

/// The VFIO container device.
pub const CONTAINER: &str = "/dev/vfio/vfio";

/// What failed while opening a device through VFIO, probing its regions or mapping a plan. The
/// message names the step (the ioctl, file or segment) and, for a kernel refusal, its errno.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The function has no IOMMU group.
    #[error("{address} has no IOMMU group: VFIO cannot assign it (is the IOMMU enabled on the kernel command line?)")]
    NoGroup {
        /// The function.
        address: String,
    },
    /// The container or group device could not be opened.
    #[error("cannot open {path}: {err} ({hint})")]
    Open {
        /// `/dev/vfio/vfio` or `/dev/vfio/<group>`.
        path: String,
        /// Why the kernel refused.
        #[source]
        err: io::Error,
        /// What to do about it.
        hint: String,
    },
    /// `VFIO_GET_API_VERSION` itself failed.
    #[error("VFIO_GET_API_VERSION failed on {CONTAINER}: {err}")]
    ApiVersionQuery {
        /// The kernel's errno.
        #[source]
        err: io::Error,
    },
    /// The container speaks another VFIO API version.
    #[error("{CONTAINER} speaks VFIO API {found}, this build speaks {VFIO_API_VERSION}")]
    ApiVersion {
        /// The version the container reported.
        found: i32,
    },
    /// The container does not offer this architecture's IOMMU backend.
    #[error("the VFIO container does not offer {IOMMU_NAME}: extension not supported")]
    NoIommuBackend,
    /// `VFIO_CHECK_EXTENSION` for the IOMMU backend failed.
    #[error("the VFIO container does not offer {IOMMU_NAME}: {err}")]
    CheckExtension {
        /// The kernel's errno.
        #[source]
        err: io::Error,
    },
    /// `VFIO_GROUP_GET_STATUS` failed.
    #[error("VFIO_GROUP_GET_STATUS failed for group {group}: {err}")]
    GroupStatus {
        /// The IOMMU group.
        group: u32,
        /// The kernel's errno.
        #[source]
        err: io::Error,
    },
    /// Another device of the group is bound to a host driver.
    #[error("IOMMU group {group} is not viable: every device in it must be bound to vfio-pci or unbound; also in it: {}", others.join(", "))]
    GroupNotViable {
        /// The IOMMU group.
        group: u32,
        /// The group's other functions, each with its driver.
        others: Vec<String>,
    },
    /// `VFIO_GROUP_SET_CONTAINER` failed.
    #[error("VFIO_GROUP_SET_CONTAINER failed for group {group}: {err}")]
    SetContainer {
        /// The IOMMU group.
        group: u32,
        /// The kernel's errno.
        #[source]
        err: io::Error,
    },
    /// `VFIO_SET_IOMMU` was refused with EPERM: the kernel's own MSI isolation check.
    #[error("VFIO_SET_IOMMU was refused with EPERM: the host lacks MSI isolation for group {group}; set vfio_iommu_type1.allow_unsafe_interrupts=1 only if you accept that a device may forge other devices' interrupts")]
    NotIsolated {
        /// The IOMMU group.
        group: u32,
    },
    /// `VFIO_SET_IOMMU` failed otherwise.
    #[error("VFIO_SET_IOMMU ({IOMMU_NAME}) failed: {err}")]
    SetIommu {
        /// The kernel's errno.
        #[source]
        err: io::Error,
    },
    /// `VFIO_GROUP_GET_DEVICE_FD` failed.
    #[error("VFIO_GROUP_GET_DEVICE_FD failed for {address}: {err} (is it bound to vfio-pci?)")]
    DeviceFd {
        /// The function.
        address: String,
        /// The kernel's errno.
        #[source]
        err: io::Error,
    },
    /// `VFIO_DEVICE_GET_REGION_INFO` failed.
    #[error("VFIO_DEVICE_GET_REGION_INFO failed for region {index}: {err}")]
    RegionInfo {
        /// The VFIO region index.
        index: u32,
        /// The kernel's errno.
        #[source]
        err: io::Error,
    },
    /// The region info's capability chain is malformed.
    #[error("region {index}: malformed capability chain: {err}")]
    Caps {
        /// The VFIO region index.
        index: u32,
        /// What is wrong with the chain.
        #[source]
        err: CapError,
    },
    /// Reading a region through the device fd failed.
    #[error("reading {len} bytes of region {index} through the device fd failed: {err}")]
    ReadRegion {
        /// The VFIO region index.
        index: u32,
        /// How many bytes were asked for.
        len: usize,
        /// The kernel's errno.
        #[source]
        err: io::Error,
    },
    /// The plan maps a range the kernel does not let userspace mmap.
    #[error("the plan maps BAR{bar} {offset:#x}+{length:#x}, which the kernel does not allow: {why}")]
    NotMappable {
        /// The BAR.
        bar: u8,
        /// Offset of the range in the BAR.
        offset: u64,
        /// Length of the range.
        length: u64,
        /// Why the kernel does not allow it.
        why: String,
    },
    /// An mmap failed; what was mapped before it is unmapped.
    #[error("mmap of BAR{bar} {offset:#x}+{length:#x} failed: {err}; the {unmapped} segments mapped before it were unmapped")]
    Mmap {
        /// The BAR.
        bar: u8,
        /// Offset of the range in the BAR.
        offset: u64,
        /// Length of the range.
        length: u64,
        /// The kernel's errno.
        #[source]
        err: io::Error,
        /// How many mappings were made (and released) before it.
        unmapped: usize,
    },
}

/// An open container, group and device; closed in reverse order on drop when this opened them
/// ([`open_device`]), left open when the VMM owns them ([`OpenDevice::with_fds`]).
pub struct OpenDevice<'s, S: VfioSys + ?Sized> {
    sys: &'s S,
    /// The function (`DDDD:BB:DD.F`).
    pub address: String,
    /// Its IOMMU group.
    pub group: u32,
    container: RawFd,
    group_fd: RawFd,
    device: RawFd,
    owned: bool,
}

impl<S: VfioSys + ?Sized> Drop for OpenDevice<'_, S> {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        for fd in [self.device, self.group_fd, self.container] {
            if fd >= 0 {
                self.sys.close(fd);
            }
        }
    }
}

impl<'s, S: VfioSys + ?Sized> OpenDevice<'s, S> {
    /// A device the VMM already opened (container set up, group attached, device fd obtained;
    /// or, with iommufd, a bound cdev: pass -1 for the container and group). Nothing is closed
    /// on drop: the fds stay the VMM's. The numbers are `sys`'s handles: with [`KernelVfio`],
    /// only fds it holds are ever used (others fail with EBADF); to hand it a VMM's own fds, use
    /// [`adopt_vmm_fds`].
    pub fn with_fds(sys: &'s S, address: &str, group: u32, container: RawFd, group_fd: RawFd, device: RawFd) -> Self {
        OpenDevice { sys, address: address.into(), group, container, group_fd, device, owned: false }
    }
}

/// The other functions of an IOMMU group, with their drivers, to name in an error.
pub fn group_members(root: &Root, group: u32, except: &str) -> Vec<String> {
    let dir = format!("sys/kernel/iommu_groups/{group}/devices");
    root.list(&dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a != except)
        .map(|a| {
            let driver = root
                .read_link(&format!("sys/bus/pci/devices/{a}/driver"))
                .ok()
                .and_then(|t| msix_backends::root::link_name(&t))
                .unwrap_or_else(|| "no driver".into());
            format!("{a} (driver {driver})")
        })
        .collect()
}

/// The device a VMM already opened, through duplicates of its fds (container, group, device):
/// the duplicates are closed on drop, the VMM's fds stay open and stay the VMM's.
///
/// # Safety
/// The three fds must be the VFIO container, group and device fds they are named for (see
/// [`KernelVfio::adopt`]).
pub unsafe fn adopt_vmm_fds<'s>(
    sys: &'s KernelVfio,
    address: &str,
    group: u32,
    fds: [std::os::fd::BorrowedFd<'_>; 3],
) -> io::Result<OpenDevice<'s, KernelVfio>> {
    let [container, group_fd, device] = fds;
    // SAFETY: the caller vouches that each fd is the VFIO fd it is named for.
    let (c, g, d) = unsafe { (sys.adopt(container)?, sys.adopt(group_fd)?, sys.adopt(device)?) };
    let mut dev = OpenDevice::with_fds(sys, address, group, c, g, d);
    dev.owned = true;
    Ok(dev)
}

/// Opens `address` (in IOMMU group `group`) through VFIO, checking every step.
pub fn open_device<'s, S: VfioSys + ?Sized>(
    sys: &'s S,
    root: &Root,
    address: &str,
    group: Option<u32>,
) -> Result<OpenDevice<'s, S>, ApplyError> {
    let group = group.ok_or_else(|| ApplyError::NoGroup { address: address.into() })?;
    let mut dev =
        OpenDevice { sys, address: address.into(), group, container: -1, group_fd: -1, device: -1, owned: true };
    dev.container = sys.open(CONTAINER).map_err(|err| ApplyError::Open {
        path: CONTAINER.into(),
        err,
        hint: "load the vfio-pci module (modprobe vfio-pci) and run as root".into(),
    })?;
    let v = sys.api_version(dev.container).map_err(|err| ApplyError::ApiVersionQuery { err })?;
    if v != VFIO_API_VERSION as i32 {
        return Err(ApplyError::ApiVersion { found: v });
    }
    match sys.check_extension(dev.container, IOMMU_TYPE) {
        Ok(true) => {}
        Ok(false) => return Err(ApplyError::NoIommuBackend),
        Err(err) => return Err(ApplyError::CheckExtension { err }),
    }
    let path = format!("/dev/vfio/{group}");
    dev.group_fd = sys.open(&path).map_err(|err| ApplyError::Open {
        path: path.clone(),
        err,
        hint: format!("bind {address} to vfio-pci (driver_override or vfio-pci.ids=)"),
    })?;
    let flags = sys.group_flags(dev.group_fd).map_err(|err| ApplyError::GroupStatus { group, err })?;
    if flags & VFIO_GROUP_FLAGS_VIABLE == 0 {
        return Err(ApplyError::GroupNotViable { group, others: group_members(root, group, address) });
    }
    sys.set_container(dev.group_fd, dev.container).map_err(|err| ApplyError::SetContainer { group, err })?;
    sys.set_iommu(dev.container, IOMMU_TYPE).map_err(|err| match err.raw_os_error() {
        Some(libc::EPERM) => ApplyError::NotIsolated { group },
        _ => ApplyError::SetIommu { err },
    })?;
    dev.device =
        sys.device_fd(dev.group_fd, address).map_err(|err| ApplyError::DeviceFd { address: address.into(), err })?;
    Ok(dev)
}

impl<S: VfioSys + ?Sized> OpenDevice<'_, S> {
    /// Region info with the argsz retry the uAPI requires: ask with the bare struct, and again
    /// with the size the kernel says its capability chain needs.
    pub fn region_info(&self, index: u32) -> Result<VfioRegion, ApplyError> {
        let get = |argsz: u32| {
            let b =
                self.sys.region_info(self.device, index, argsz).map_err(|err| ApplyError::RegionInfo { index, err })?;
            parse_region_info(&b).map(|i| (i, b.len())).map_err(|err| ApplyError::Caps { index, err })
        };
        let (first, len) = get(REGION_INFO_LEN as u32)?;
        if first.argsz as usize <= len {
            return Ok(first);
        }
        let (second, len) = get(first.argsz)?;
        if (second.argsz as usize) > len {
            return Err(ApplyError::Caps { index, err: CapError::Short(len) });
        }
        Ok(second)
    }

    /// The BAR regions (0-5) as the VMM entry point takes them; BARs of size 0 are left out.
    pub fn bar_regions(&self) -> Result<Vec<VfioRegion>, ApplyError> {
        let mut out = Vec::new();
        for index in VFIO_PCI_BAR0_REGION_INDEX..=VFIO_PCI_BAR5_REGION_INDEX {
            let r = self.region_info(index)?;
            if r.size > 0 {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The config space as the VMM reads it: through the VFIO config region, at most `len` bytes.
    pub fn read_config(&self, len: usize) -> Result<Vec<u8>, ApplyError> {
        let index = VFIO_PCI_CONFIG_REGION_INDEX;
        let r = self.region_info(index)?;
        let len = len.min(usize::try_from(r.size).unwrap_or(usize::MAX));
        self.read_region(&r, 0, len).map_err(|err| ApplyError::ReadRegion { index, len, err })
    }

    /// Reads `len` bytes at `offset` of the device fd (a region's offset plus the offset in it).
    pub fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        self.sys.read_at(self.device, offset, len)
    }

    /// Writes `data` at `offset` of the device fd (pwrite: the kernel's write path).
    pub fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.sys.write_at(self.device, offset, data)
    }

    /// mmaps `len` bytes at `offset` of the device fd, shared and read-write; unmapped when the
    /// returned [`Mapping`] is dropped.
    pub fn mmap_at(&self, offset: u64, len: u64) -> io::Result<Mapping> {
        self.sys.mmap(self.device, offset, len)
    }

    /// Reads through the device fd (the kernel's read path, no mapping).
    pub fn read_region(&self, region: &VfioRegion, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        self.sys.read_at(self.device, fd_offset(region) + offset, len)
    }
}

/// A mapped `map` segment (or memory slot): where it is in the BAR and the mapping that owns it.
#[derive(Debug)]
pub struct MappedRange {
    /// The BAR.
    pub bar: u8,
    /// Offset in the BAR.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// The memory; unmapped when this range is dropped.
    pub mapping: Mapping,
}

impl MappedRange {
    /// The host virtual address of the mapping (for messages and memory slots).
    pub fn addr(&self) -> usize {
        self.mapping.addr()
    }
}

/// A range the VMM must emulate: trapped physical pages or the virtual table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrappedRange {
    /// The BAR.
    pub bar: u8,
    /// Offset in the BAR.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
    /// What the range holds and who handles it (`trap table`, `table -> emulate-msix-table`).
    pub what: String,
}

/// The mappings made for a plan or layout; each is unmapped when dropped (with this value, or
/// on its own when the VMM takes it out of `mapped`).
#[derive(Debug, Default)]
pub struct Applied {
    /// Every mapping, in plan order.
    pub mapped: Vec<MappedRange>,
    /// Every range the VMM must emulate.
    pub trapped: Vec<TrappedRange>,
    /// The region info of every BAR that was probed, as the kernel gave it.
    pub regions: Vec<VfioRegion>,
}

impl Applied {
    /// A 32-bit register read through a mapping, if `offset` of `bar` is mapped (4-byte aligned,
    /// all 4 bytes inside one mapping).
    pub fn read_u32(&self, bar: u8, offset: u64) -> Option<u32> {
        let m = self.mapped.iter().find(|m| {
            m.bar == bar && m.offset <= offset && offset.checked_add(4).is_some_and(|end| end <= m.offset + m.length)
        })?;
        m.mapping.read_u32(usize::try_from(offset - m.offset).ok()?)
    }
}

/// Probes every BAR of the plan, checks that the kernel allows each `map` segment, then maps them.
/// Nothing is mapped when a check fails; a failing mmap unmaps what was mapped before it.
pub fn apply_plan<S: VfioSys + ?Sized>(dev: &OpenDevice<'_, S>, plan: &MappingPlan) -> Result<Applied, ApplyError> {
    let mut applied = Applied::default();
    let mut to_map = Vec::new();
    for bar in &plan.bars {
        for s in bar.segments.iter().filter(|s| !matches!(s.action, SegmentAction::Map)) {
            let what = match s.action {
                SegmentAction::Trap(k) => format!("trap {k}"),
                _ => "emulate virtual table".into(),
            };
            applied.trapped.push(TrappedRange { bar: bar.index, offset: s.offset, length: s.length, what });
        }
        if bar.origin == BarOrigin::Virtual {
            continue; // nothing physical behind it
        }
        let region = dev.region_info(u32::from(bar.index))?;
        for s in bar.segments.iter().filter(|s| s.action == SegmentAction::Map) {
            check_mmap(&region, bar.index, s.offset, s.length, s.length)?;
            to_map.push(Slot {
                bar: bar.index,
                fd_offset: fd_offset(&region) + s.offset,
                offset: s.offset,
                length: s.length,
            });
        }
        applied.regions.push(region);
    }
    mmap_all(dev, applied, to_map)
}

/// Maps every memory slot of a layout (the VMM entry point's output): each `mmap_length` bytes
/// of the device fd at `region_offset`, after checking that the kernel allows it. Nothing is
/// mapped when a check fails; a failing mmap unmaps what was mapped before it. Trapped ranges
/// are listed with what they hold and their handler.
pub fn map_layout<S: VfioSys + ?Sized>(dev: &OpenDevice<'_, S>, layout: &Layout) -> Result<Applied, ApplyError> {
    let mut applied = Applied::default();
    let mut to_map = Vec::new();
    for bar in &layout.bars {
        for t in &bar.trap {
            let what = format!("{} -> {}", t.holds, t.handler);
            applied.trapped.push(TrappedRange { bar: bar.index, offset: t.offset, length: t.length, what });
        }
        if bar.mmap.is_empty() {
            continue;
        }
        let region = dev.region_info(u32::from(bar.index))?;
        for m in &bar.mmap {
            // vfio-pci maps a sub-page BAR's whole page; the region itself is the BAR's size.
            let checked = m.length.min(region.size.saturating_sub(m.offset));
            check_mmap(&region, bar.index, m.offset, checked, m.length)?;
            to_map.push(Slot { bar: bar.index, fd_offset: m.region_offset, offset: m.offset, length: m.mmap_length });
        }
        applied.regions.push(region);
    }
    mmap_all(dev, applied, to_map)
}

/// One mapping to make: `length` bytes of the device fd at `fd_offset`, for BAR `bar` at `offset`.
struct Slot {
    bar: u8,
    fd_offset: u64,
    offset: u64,
    length: u64,
}

/// Whether the kernel lets `[offset, offset + checked)` of the region be mmapped; the error
/// names the range asked for (`length`) and why not.
fn check_mmap(region: &VfioRegion, bar: u8, offset: u64, checked: u64, length: u64) -> Result<(), ApplyError> {
    if allows_mmap(region, offset, checked) {
        return Ok(());
    }
    let why = if !region.mmap_flag() {
        "the region has no VFIO_REGION_INFO_FLAG_MMAP".to_string()
    } else if offset.saturating_add(checked) > region.size {
        format!("the region is only {:#x} bytes", region.size)
    } else {
        let areas: Vec<(u64, u64)> = region.sparse_mmap.iter().flatten().map(|a| (a.offset, a.size)).collect();
        format!("outside the sparse mmap areas {areas:x?}")
    };
    Err(ApplyError::NotMappable { bar, offset, length, why })
}

/// Maps every slot in order; a failing mmap drops (unmaps) what was mapped before it.
fn mmap_all<S: VfioSys + ?Sized>(
    dev: &OpenDevice<'_, S>,
    mut applied: Applied,
    slots: Vec<Slot>,
) -> Result<Applied, ApplyError> {
    for Slot { bar, fd_offset, offset, length } in slots {
        match dev.sys.mmap(dev.device, fd_offset, length) {
            Ok(mapping) => applied.mapped.push(MappedRange { bar, offset, length, mapping }),
            Err(err) => {
                let unmapped = applied.mapped.len();
                return Err(ApplyError::Mmap { bar, offset, length, err, unmapped });
            }
        }
    }
    Ok(applied)
}
