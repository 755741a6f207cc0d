//! The thin layer over the VFIO ioctls and mmap, behind a trait so that every error path can be
//! tested with mockall against the bytes the kernel would return.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::Mutex;

use vfio_bindings::bindings::vfio::{VFIO_BASE, VFIO_TYPE};

pub type RawFd = i32;

/// What the apply step asks of the kernel. Handles are plain fd numbers owned by the implementation.
#[cfg_attr(test, mockall::automock)]
pub trait VfioSys {
    /// Opens `/dev/vfio/vfio` or `/dev/vfio/<group>` read-write.
    fn open(&self, path: &str) -> io::Result<RawFd>;
    fn close(&self, fd: RawFd);
    /// `VFIO_GET_API_VERSION`.
    fn api_version(&self, container: RawFd) -> io::Result<i32>;
    /// `VFIO_CHECK_EXTENSION`.
    fn check_extension(&self, container: RawFd, extension: u32) -> io::Result<bool>;
    /// `VFIO_GROUP_GET_STATUS`: the flags.
    fn group_flags(&self, group: RawFd) -> io::Result<u32>;
    /// `VFIO_GROUP_SET_CONTAINER`.
    fn set_container(&self, group: RawFd, container: RawFd) -> io::Result<()>;
    /// `VFIO_SET_IOMMU`.
    fn set_iommu(&self, container: RawFd, iommu: u32) -> io::Result<()>;
    /// `VFIO_GROUP_GET_DEVICE_FD`.
    fn device_fd(&self, group: RawFd, address: &str) -> io::Result<RawFd>;
    /// `VFIO_DEVICE_GET_REGION_INFO` with a buffer of `argsz` bytes; returns the buffer.
    fn region_info(&self, device: RawFd, index: u32, argsz: u32) -> io::Result<Vec<u8>>;
    /// mmap of `len` bytes at `offset` of the device fd, shared, read-write; returns the address.
    fn mmap(&self, device: RawFd, offset: u64, len: u64) -> io::Result<usize>;
    fn munmap(&self, addr: usize, len: u64) -> io::Result<()>;
    /// pread through the device fd (the kernel's read/write path, no mapping).
    fn read_at(&self, device: RawFd, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    /// A 32-bit read from a live mapping made by `mmap`.
    fn read_mapped_u32(&self, addr: usize) -> u32;
    /// pwrite through the device fd (the kernel's write path, no mapping). Unsupported unless
    /// the implementation provides it.
    fn write_at(&self, _device: RawFd, _offset: u64, _data: &[u8]) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

// The ioctl request encoding differs by architecture: _IO() on powerpc sets the "none"
// direction bit at 29, elsewhere the direction field is zero.
cfg_if::cfg_if! {
    if #[cfg(any(target_arch = "powerpc64", target_arch = "powerpc"))] {
        const IOC_NONE_BITS: u32 = 1 << 29;
    } else {
        const IOC_NONE_BITS: u32 = 0;
    }
}

const fn vfio_io(nr: u32) -> u32 {
    IOC_NONE_BITS | ((VFIO_TYPE as u32) << 8) | (VFIO_BASE + nr)
}

pub const VFIO_GET_API_VERSION: u32 = vfio_io(0);
pub const VFIO_CHECK_EXTENSION: u32 = vfio_io(1);
pub const VFIO_SET_IOMMU: u32 = vfio_io(2);
pub const VFIO_GROUP_GET_STATUS: u32 = vfio_io(3);
pub const VFIO_GROUP_SET_CONTAINER: u32 = vfio_io(4);
pub const VFIO_GROUP_GET_DEVICE_FD: u32 = vfio_io(6);
pub const VFIO_DEVICE_GET_REGION_INFO: u32 = vfio_io(8);

/// Two u32s as they lie in memory, first at the lower address.
fn pack(first: u32, second: u32) -> u64 {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&first.to_ne_bytes());
    b[4..].copy_from_slice(&second.to_ne_bytes());
    u64::from_ne_bytes(b)
}

/// The real kernel interface. It owns every fd it opens; `close` drops them.
#[derive(Default)]
pub struct KernelVfio {
    fds: Mutex<HashMap<RawFd, OwnedFd>>,
}

impl KernelVfio {
    pub fn new() -> Self {
        Self::default()
    }

    fn keep(&self, fd: OwnedFd) -> RawFd {
        let raw = fd.as_raw_fd();
        self.fds.lock().unwrap_or_else(|e| e.into_inner()).insert(raw, fd);
        raw
    }

    fn ioctl(&self, fd: RawFd, request: u32, arg: libc::c_ulong) -> io::Result<libc::c_int> {
        // SAFETY: `fd` is an fd this struct opened and still owns; every VFIO request used here
        // takes either an integer argument or a pointer to a caller-owned buffer large enough for
        // the structure the kernel writes (checked by the callers below).
        let r = unsafe { libc::ioctl(fd, request as _, arg) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }
}

impl VfioSys for KernelVfio {
    fn open(&self, path: &str) -> io::Result<RawFd> {
        let f = OpenOptions::new().read(true).write(true).custom_flags(libc::O_CLOEXEC).open(path)?;
        Ok(self.keep(f.into()))
    }

    fn close(&self, fd: RawFd) {
        self.fds.lock().unwrap_or_else(|e| e.into_inner()).remove(&fd);
    }

    fn api_version(&self, container: RawFd) -> io::Result<i32> {
        self.ioctl(container, VFIO_GET_API_VERSION, 0)
    }

    fn check_extension(&self, container: RawFd, extension: u32) -> io::Result<bool> {
        Ok(self.ioctl(container, VFIO_CHECK_EXTENSION, extension.into())? > 0)
    }

    fn group_flags(&self, group: RawFd) -> io::Result<u32> {
        // struct vfio_group_status { u32 argsz; u32 flags; }
        let mut status = [8u32, 0u32];
        self.ioctl(group, VFIO_GROUP_GET_STATUS, status.as_mut_ptr() as libc::c_ulong)?;
        Ok(status[1])
    }

    fn set_container(&self, group: RawFd, container: RawFd) -> io::Result<()> {
        let c: libc::c_int = container;
        self.ioctl(group, VFIO_GROUP_SET_CONTAINER, &c as *const libc::c_int as libc::c_ulong).map(|_| ())
    }

    fn set_iommu(&self, container: RawFd, iommu: u32) -> io::Result<()> {
        self.ioctl(container, VFIO_SET_IOMMU, iommu.into()).map(|_| ())
    }

    fn device_fd(&self, group: RawFd, address: &str) -> io::Result<RawFd> {
        let name = std::ffi::CString::new(address).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let raw = self.ioctl(group, VFIO_GROUP_GET_DEVICE_FD, name.as_ptr() as libc::c_ulong)?;
        // SAFETY: VFIO_GROUP_GET_DEVICE_FD returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(self.keep(fd))
    }

    fn region_info(&self, device: RawFd, index: u32, argsz: u32) -> io::Result<Vec<u8>> {
        let len = (argsz as usize).max(super::caps::REGION_INFO_LEN);
        // u64 storage keeps the buffer aligned for the kernel's struct.
        let mut words = vec![0u64; len.div_ceil(8)];
        // argsz and index are the first and third u32 of struct vfio_region_info.
        words[0] = pack(len as u32, 0);
        words[1] = pack(index, 0);
        self.ioctl(device, VFIO_DEVICE_GET_REGION_INFO, words.as_mut_ptr() as libc::c_ulong)?;
        let mut out: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        out.truncate(len);
        Ok(out)
    }

    fn mmap(&self, device: RawFd, offset: u64, len: u64) -> io::Result<usize> {
        let off = libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: a fresh shared mapping chosen by the kernel (no fixed address), of a device
        // region through an fd this struct owns; it aliases no Rust object and is released by
        // `munmap` with the same length.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                device,
                off,
            )
        };
        if p == libc::MAP_FAILED {
            Err(io::Error::last_os_error())
        } else {
            Ok(p as usize)
        }
    }

    fn munmap(&self, addr: usize, len: u64) -> io::Result<()> {
        // SAFETY: `addr` and `len` are exactly what a successful `mmap` above returned and was asked for.
        let r = unsafe { libc::munmap(addr as *mut libc::c_void, len as usize) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn read_at(&self, device: RawFd, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let fds = self.fds.lock().unwrap_or_else(|e| e.into_inner());
        let fd = fds.get(&device).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let file = std::fs::File::from(fd.try_clone()?);
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    fn write_at(&self, device: RawFd, offset: u64, data: &[u8]) -> io::Result<()> {
        let fds = self.fds.lock().unwrap_or_else(|e| e.into_inner());
        let fd = fds.get(&device).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        let file = std::fs::File::from(fd.try_clone()?);
        file.write_all_at(data, offset)
    }

    fn read_mapped_u32(&self, addr: usize) -> u32 {
        // SAFETY: callers pass an address inside a live mapping made by `mmap` (checked against
        // its bounds by `Applied::read_u32`), 4-byte aligned; device registers need volatile access.
        unsafe { std::ptr::read_volatile(addr as *const u32) }
    }
}
