//! The thin layer over the VFIO ioctls and mmap, behind a trait so that every error path can be
//! tested with mockall against the bytes the kernel would return.
//!
//! Mapped BAR memory is a [`Mapping`]: it is created only inside this crate (by
//! [`KernelVfio::mmap`], or in tests over memory the test owns), reads only inside its bounds and
//! unmaps itself on drop. No safe function of this crate reads or unmaps an address a caller gives.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::Mutex;

use vfio_bindings::bindings::vfio::{vfio_group_status, vfio_region_info, VFIO_BASE, VFIO_TYPE};

/// A file descriptor number as [`VfioSys`] hands them out; the implementation owns the fd.
pub type RawFd = i32;

/// What the apply step asks of the kernel. Handles are plain fd numbers owned by the implementation.
#[cfg_attr(test, mockall::automock)]
pub trait VfioSys {
    /// Opens `/dev/vfio/vfio` or `/dev/vfio/<group>` read-write.
    fn open(&self, path: &str) -> io::Result<RawFd>;
    /// Closes an fd [`open`](VfioSys::open) or [`device_fd`](VfioSys::device_fd) returned.
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
    /// mmap of `len` bytes at `offset` of the device fd, shared, read-write. The mapping is
    /// unmapped when the returned value is dropped. Only this crate can make a [`Mapping`], so an
    /// implementation outside it can only refuse.
    fn mmap(&self, device: RawFd, offset: u64, len: u64) -> io::Result<Mapping>;
    /// pread through the device fd (the kernel's read/write path, no mapping).
    fn read_at(&self, device: RawFd, offset: u64, len: usize) -> io::Result<Vec<u8>>;
    /// pwrite through the device fd (the kernel's write path, no mapping). Unsupported unless
    /// the implementation provides it.
    fn write_at(&self, _device: RawFd, _offset: u64, _data: &[u8]) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// How a [`Mapping`]'s memory is released.
enum Backing {
    /// A mapping the kernel made for [`KernelVfio::mmap`] or [`Mapping::anonymous`]: `munmap`
    /// on drop.
    Kernel,
    /// Memory a test owns (the mapping keeps it alive), and what to record when it is released.
    #[cfg(test)]
    Test { _words: Vec<u32>, on_drop: Option<Box<dyn FnOnce() + Send + Sync>> },
}

/// Memory mapped into this process, owned: device memory (part of a BAR region, through the
/// device fd, [`KernelVfio::mmap`]) or anonymous memory ([`Mapping::anonymous`], a VMM's guest
/// RAM). It stays mapped for the value's life and is unmapped when it is dropped. Accesses are
/// volatile and checked against its bounds; writes need `&mut self`. The address is kept as an
/// integer (with its provenance exposed) so that a `Mapping` is `Send` and `Sync` without an
/// unsafe impl.
pub struct Mapping {
    addr: usize,
    len: usize,
    backing: Backing,
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping").field("addr", &format_args!("{:#x}", self.addr)).field("len", &self.len).finish()
    }
}

impl Mapping {
    /// The host virtual address of the first byte (for `KVM_SET_USER_MEMORY_REGION` and
    /// messages). Valid while `self` lives; this crate never dereferences an address given back.
    pub fn addr(&self) -> usize {
        self.addr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping has no bytes (never the case for one made by `mmap`).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The 32-bit register at `offset` bytes into the mapping, read once (volatile); `None` when
    /// `offset` is not 4-byte aligned or the 4 bytes are not all inside the mapping.
    pub fn read_u32(&self, offset: usize) -> Option<u32> {
        const WORD: usize = std::mem::size_of::<u32>();
        let end = offset.checked_add(WORD)?;
        if offset % WORD != 0 || end > self.len {
            return None;
        }
        // Both kinds of mapping start 4-byte aligned (a page, or a `Vec<u32>`), so `addr + offset` is.
        let p = std::ptr::with_exposed_provenance::<u32>(self.addr + offset);
        // SAFETY: `p` and its 4 bytes lie inside `[addr, addr + len)` (checked above), memory this
        // value owns and keeps mapped until it is dropped: a shared kernel mapping of device memory
        // made by `KernelVfio::mmap`, or a test's `Vec<u32>`. `p` is 4-byte aligned (the offset is
        // checked, the base is page- or `u32`-aligned) and the provenance of the base was exposed
        // when the mapping was made. No Rust reference covers that memory; device registers need
        // a volatile access (exactly one read of the register).
        Some(unsafe { std::ptr::read_volatile(p) })
    }

    /// Fresh private anonymous memory of `len` bytes, zero-filled (a VMM's guest RAM), owned like
    /// any mapping: unmapped when dropped. `len` must not be 0.
    pub fn anonymous(len: usize) -> io::Result<Mapping> {
        if len == 0 {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        // SAFETY: a new private anonymous mapping at an address the kernel chooses (no MAP_FIXED,
        // no fd), so it replaces nothing and aliases no Rust object. The result is owned by the
        // `Mapping` below, which unmaps it with this length.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            Err(io::Error::last_os_error())
        } else {
            Ok(Mapping { addr: p.expose_provenance(), len, backing: Backing::Kernel })
        }
    }

    /// Whether `[offset, offset + len)` lies inside the mapping.
    fn holds(&self, offset: usize, len: usize) -> bool {
        offset.checked_add(len).is_some_and(|end| end <= self.len)
    }

    /// Copies `bytes` into the mapping at `offset` (volatile, byte by byte: another agent, a
    /// guest or the device, reads them); `None`, writing nothing, when they do not all fit.
    pub fn write_bytes(&mut self, offset: usize, bytes: &[u8]) -> Option<()> {
        if !self.holds(offset, bytes.len()) {
            return None;
        }
        for (i, &b) in bytes.iter().enumerate() {
            let p = std::ptr::with_exposed_provenance_mut::<u8>(self.addr + offset + i);
            // SAFETY: `p` lies inside `[addr, addr + len)` (checked above), memory this value owns
            // and keeps mapped writable until it is dropped; `&mut self` makes this the only
            // access through the value, no Rust reference covers that memory, and a byte needs
            // no alignment. The provenance of the base was exposed when the mapping was made.
            unsafe { std::ptr::write_volatile(p, b) };
        }
        Some(())
    }

    /// `len` bytes of the mapping at `offset` (volatile, byte by byte: another agent, a guest or
    /// the device, wrote them); `None` when they are not all inside it.
    pub fn read_bytes(&self, offset: usize, len: usize) -> Option<Vec<u8>> {
        if !self.holds(offset, len) {
            return None;
        }
        let read = |i: usize| {
            let p = std::ptr::with_exposed_provenance::<u8>(self.addr + offset + i);
            // SAFETY: `p` lies inside `[addr, addr + len)` (checked above), memory this value
            // owns and keeps mapped until it is dropped; no Rust reference covers it and a byte
            // needs no alignment. The provenance of the base was exposed when it was made.
            unsafe { std::ptr::read_volatile(p) }
        };
        Some((0..len).map(read).collect())
    }

    /// Memory a test owns, `len` bytes (rounded up to whole words), each aligned word set to
    /// `word(byte offset)`; `on_drop` runs when the mapping is released (a mock's "munmap").
    #[cfg(test)]
    pub(crate) fn for_test(
        len: u64,
        word: impl Fn(usize) -> u32,
        on_drop: impl FnOnce() + Send + Sync + 'static,
    ) -> Mapping {
        let len = usize::try_from(len).expect("test mapping length fits usize");
        let words: Vec<u32> = (0..len.div_ceil(4)).map(|i| word(i * 4)).collect();
        let addr = words.as_ptr().expose_provenance();
        Mapping { addr, len, backing: Backing::Test { _words: words, on_drop: Some(Box::new(on_drop)) } }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        match &mut self.backing {
            Backing::Kernel => {
                let p = std::ptr::with_exposed_provenance_mut::<libc::c_void>(self.addr);
                // SAFETY: `addr` and `len` are exactly the address a successful mmap returned and
                // the length it was asked for (`KernelVfio::mmap` and `Mapping::anonymous` are
                // the only makers of a kernel mapping, and the fields are private); this value
                // owns the mapping and nothing can reach it after this. A failure leaves the
                // range mapped: a leak, not a hazard.
                let _ = unsafe { libc::munmap(p, self.len) };
            }
            #[cfg(test)]
            Backing::Test { on_drop, .. } => {
                if let Some(f) = on_drop.take() {
                    f();
                }
            }
        }
    }
}

// vmm-sys-util's ioctl_io_nr! would fit these, but it sets _IOC_NONE = 0 and the direction
// shift 30 on every architecture, which is wrong on powerpc; the numbers are computed here.
// The ioctl request encoding differs by architecture: _IO() on powerpc (and mips and sparc, whose
// asm/ioctl.h has the same 13-bit size field) sets _IOC_NONE = 1 in the direction field at bit
// 29; on x86, arm64 and every other asm-generic architecture _IOC_NONE is 0.
cfg_if::cfg_if! {
    if #[cfg(any(
        target_arch = "powerpc64",
        target_arch = "powerpc",
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "sparc",
        target_arch = "sparc64"
    ))] {
        const IOC_NONE_BITS: u32 = 1 << 29;
    } else {
        const IOC_NONE_BITS: u32 = 0;
    }
}

const fn vfio_io(nr: u32) -> u32 {
    IOC_NONE_BITS | ((VFIO_TYPE as u32) << 8) | (VFIO_BASE + nr)
}

/// `_IO(VFIO_TYPE, VFIO_BASE + 0)`: the container's API version.
pub const VFIO_GET_API_VERSION: u32 = vfio_io(0);
/// `_IO(VFIO_TYPE, VFIO_BASE + 1)`: whether the container offers an extension (IOMMU backend).
pub const VFIO_CHECK_EXTENSION: u32 = vfio_io(1);
/// `_IO(VFIO_TYPE, VFIO_BASE + 2)`: sets the container's IOMMU backend.
pub const VFIO_SET_IOMMU: u32 = vfio_io(2);
/// `_IO(VFIO_TYPE, VFIO_BASE + 3)`: a group's `struct vfio_group_status`.
pub const VFIO_GROUP_GET_STATUS: u32 = vfio_io(3);
/// `_IO(VFIO_TYPE, VFIO_BASE + 4)`: attaches a group to a container.
pub const VFIO_GROUP_SET_CONTAINER: u32 = vfio_io(4);
/// `_IO(VFIO_TYPE, VFIO_BASE + 6)`: a device fd from its group, by name.
pub const VFIO_GROUP_GET_DEVICE_FD: u32 = vfio_io(6);
/// `_IO(VFIO_TYPE, VFIO_BASE + 8)`: a region's `struct vfio_region_info` and capability chain.
pub const VFIO_DEVICE_GET_REGION_INFO: u32 = vfio_io(8);

/// A `struct vfio_region_info` asking for region `index`, in a buffer of `len` bytes (rounded up
/// to whole u64s, which keeps it aligned for the kernel's struct), `argsz` set to `len`.
fn region_info_request(len: usize, index: u32) -> Vec<u64> {
    let mut bytes = vec![0u8; len.div_ceil(8) * 8];
    for (at, value) in [(offset_of!(vfio_region_info, argsz), len as u32), (offset_of!(vfio_region_info, index), index)]
    {
        bytes[at..at + 4].copy_from_slice(&value.to_ne_bytes());
    }
    bytes.chunks_exact(8).map(|w| u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]])).collect()
}

/// The real kernel interface. It owns every fd it opens; `close` drops them.
#[derive(Default)]
pub struct KernelVfio {
    fds: Mutex<HashMap<RawFd, OwnedFd>>,
}

impl KernelVfio {
    /// An interface holding no fd yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a duplicate of an fd the VMM owns (container, group or device): ioctls and mmap on
    /// the duplicate act on the same open file; closing it leaves the VMM's fd open.
    ///
    /// # Safety
    /// `fd` must be a VFIO container, group or device fd. Every ioctl this struct later issues on
    /// the duplicate is a VFIO request whose argument the kernel reads and writes with VFIO's
    /// layout; the ioctl wrappers' own SAFETY arguments rest on that. Another driver may give the
    /// same request number another meaning.
    pub unsafe fn adopt(&self, fd: std::os::fd::BorrowedFd<'_>) -> io::Result<RawFd> {
        Ok(self.keep(fd.try_clone_to_owned()?))
    }

    fn keep(&self, fd: OwnedFd) -> RawFd {
        let raw = fd.as_raw_fd();
        self.fds.lock().unwrap_or_else(|e| e.into_inner()).insert(raw, fd);
        raw
    }

    /// `fd` if this struct holds it (opened under `/dev/vfio`, returned by the kernel or adopted),
    /// else `EBADF`: no ioctl or mmap goes to an fd number a caller made up.
    fn owned(&self, fd: RawFd) -> io::Result<RawFd> {
        let fds = self.fds.lock().unwrap_or_else(|e| e.into_inner());
        if fds.contains_key(&fd) {
            Ok(fd)
        } else {
            Err(io::Error::from_raw_os_error(libc::EBADF))
        }
    }

    fn ioctl(&self, fd: RawFd, request: u32, arg: libc::c_ulong) -> io::Result<libc::c_int> {
        let fd = self.owned(fd)?;
        // SAFETY: `fd` is a VFIO fd this struct holds (checked above). Every request used here is
        // a VFIO one that takes an integer argument or a pointer to a buffer the calling method
        // owns for the duration of the call, sized for what the kernel reads or writes (the
        // `argsz` of the struct, an `int`, or a NUL-terminated string).
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
        // The container, a group or an iommufd cdev: nothing else is ioctl'd or mapped.
        let parent = std::path::Path::new(path).components().any(|c| c == std::path::Component::ParentDir);
        if !path.starts_with("/dev/vfio/") || parent {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{path} is not under /dev/vfio")));
        }
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
        let mut status = vfio_group_status { argsz: size_of::<vfio_group_status>() as u32, flags: 0 };
        self.ioctl(group, VFIO_GROUP_GET_STATUS, &mut status as *mut vfio_group_status as libc::c_ulong)?;
        Ok(status.flags)
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
        // SAFETY: a successful VFIO_GROUP_GET_DEVICE_FD returns a new open fd (the non-negative
        // ioctl result) that nothing else in this process owns or will close.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(self.keep(fd))
    }

    fn region_info(&self, device: RawFd, index: u32, argsz: u32) -> io::Result<Vec<u8>> {
        let len = (argsz as usize).max(size_of::<vfio_region_info>());
        let mut words = region_info_request(len, index);
        self.ioctl(device, VFIO_DEVICE_GET_REGION_INFO, words.as_mut_ptr() as libc::c_ulong)?;
        let mut out: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        out.truncate(len);
        Ok(out)
    }

    fn mmap(&self, device: RawFd, offset: u64, len: u64) -> io::Result<Mapping> {
        let device = self.owned(device)?;
        let invalid = || io::Error::from(io::ErrorKind::InvalidInput);
        let off = libc::off_t::try_from(offset).map_err(|_| invalid())?;
        let len = usize::try_from(len).ok().filter(|&l| l > 0).ok_or_else(invalid)?;
        // SAFETY: a new shared mapping at an address the kernel chooses (no MAP_FIXED), so it
        // replaces nothing and aliases no Rust object; `device` is a VFIO device fd this struct
        // holds. The result is owned by the `Mapping` below, which unmaps it with this length.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, device, off)
        };
        if p == libc::MAP_FAILED {
            Err(io::Error::last_os_error())
        } else {
            Ok(Mapping { addr: p.expose_provenance(), len, backing: Backing::Kernel })
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
}

#[cfg(test)]
mod request_numbers {
    //! The ioctl request numbers pinned to the values include/uapi/linux/vfio.h gives on each
    //! architecture: `_IO(VFIO_TYPE, VFIO_BASE + n)` with VFIO_TYPE ';' (0x3b) and VFIO_BASE 100
    //! (0x64). The literals are written out, not recomputed with `vfio_io`.
    use super::*;

    /// (name, value in this build, value the kernel expects on this architecture).
    fn table() -> [(&'static str, u32, u32); 7] {
        cfg_if::cfg_if! {
            if #[cfg(any(
                target_arch = "powerpc64",
                target_arch = "powerpc",
                target_arch = "mips",
                target_arch = "mips64",
                target_arch = "sparc",
                target_arch = "sparc64"
            ))] {
                // _IOC_NONE = 1, _IOC_DIRSHIFT = 29: 0x2000_0000 | ';' << 8 | nr.
                [
                    ("VFIO_GET_API_VERSION", VFIO_GET_API_VERSION, 0x2000_3b64),
                    ("VFIO_CHECK_EXTENSION", VFIO_CHECK_EXTENSION, 0x2000_3b65),
                    ("VFIO_SET_IOMMU", VFIO_SET_IOMMU, 0x2000_3b66),
                    ("VFIO_GROUP_GET_STATUS", VFIO_GROUP_GET_STATUS, 0x2000_3b67),
                    ("VFIO_GROUP_SET_CONTAINER", VFIO_GROUP_SET_CONTAINER, 0x2000_3b68),
                    ("VFIO_GROUP_GET_DEVICE_FD", VFIO_GROUP_GET_DEVICE_FD, 0x2000_3b6a),
                    ("VFIO_DEVICE_GET_REGION_INFO", VFIO_DEVICE_GET_REGION_INFO, 0x2000_3b6c),
                ]
            } else {
                // x86_64, aarch64 and the other asm-generic architectures: _IOC_NONE = 0.
                [
                    ("VFIO_GET_API_VERSION", VFIO_GET_API_VERSION, 0x3b64),
                    ("VFIO_CHECK_EXTENSION", VFIO_CHECK_EXTENSION, 0x3b65),
                    ("VFIO_SET_IOMMU", VFIO_SET_IOMMU, 0x3b66),
                    ("VFIO_GROUP_GET_STATUS", VFIO_GROUP_GET_STATUS, 0x3b67),
                    ("VFIO_GROUP_SET_CONTAINER", VFIO_GROUP_SET_CONTAINER, 0x3b68),
                    ("VFIO_GROUP_GET_DEVICE_FD", VFIO_GROUP_GET_DEVICE_FD, 0x3b6a),
                    ("VFIO_DEVICE_GET_REGION_INFO", VFIO_DEVICE_GET_REGION_INFO, 0x3b6c),
                ]
            }
        }
    }

    #[test]
    fn every_request_number_is_the_kernels() {
        for (name, ours, kernel) in table() {
            assert_eq!(ours, kernel, "{name}: {ours:#x}, the kernel expects {kernel:#x}");
        }
    }

    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn x86_64_and_aarch64() {
        assert_eq!(VFIO_GET_API_VERSION, 0x3b64);
        assert_eq!(VFIO_CHECK_EXTENSION, 0x3b65);
        assert_eq!(VFIO_SET_IOMMU, 0x3b66);
        assert_eq!(VFIO_GROUP_GET_STATUS, 0x3b67);
        assert_eq!(VFIO_GROUP_SET_CONTAINER, 0x3b68);
        assert_eq!(VFIO_GROUP_GET_DEVICE_FD, 0x3b6a);
        assert_eq!(VFIO_DEVICE_GET_REGION_INFO, 0x3b6c);
    }

    #[cfg(target_arch = "powerpc64")]
    #[test]
    fn powerpc64() {
        assert_eq!(VFIO_GET_API_VERSION, 0x2000_3b64);
        assert_eq!(VFIO_CHECK_EXTENSION, 0x2000_3b65);
        assert_eq!(VFIO_SET_IOMMU, 0x2000_3b66);
        assert_eq!(VFIO_GROUP_GET_STATUS, 0x2000_3b67);
        assert_eq!(VFIO_GROUP_SET_CONTAINER, 0x2000_3b68);
        assert_eq!(VFIO_GROUP_GET_DEVICE_FD, 0x2000_3b6a);
        assert_eq!(VFIO_DEVICE_GET_REGION_INFO, 0x2000_3b6c);
    }

    /// A region info request is a `struct vfio_region_info` with only argsz and index set.
    #[test]
    fn a_region_info_request_sets_argsz_and_index() {
        let words = region_info_request(40, 7);
        assert_eq!(words.len(), 5);
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        assert_eq!((&bytes[0..4], &bytes[8..12]), (&40u32.to_ne_bytes()[..], &7u32.to_ne_bytes()[..]));
        assert!(bytes[4..8].iter().chain(&bytes[12..]).all(|&b| b == 0));
    }

    /// The bindings' constants the numbers are built from are the uAPI's.
    #[test]
    fn type_and_base() {
        assert_eq!((VFIO_TYPE, VFIO_BASE), (b';' as _, 100));
    }
}

#[cfg(test)]
mod kernel_mapping {
    //! The real mmap, volatile read and munmap path, over a plain file (no VFIO device needed):
    //! `adopt` takes any fd, and a shared mapping of a file reads like a BAR.
    use std::io::Write as _;
    use std::os::fd::AsFd as _;

    use super::*;

    #[test]
    fn a_kernel_mapping_reads_inside_its_bounds_and_unmaps_on_drop() {
        let path = std::env::temp_dir().join(format!("msix-mapping-{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        let words: Vec<u8> = (0..2048u32).flat_map(|w| (0xa000_0000 | w).to_ne_bytes()).collect();
        f.write_all(&words).unwrap();
        let _ = std::fs::remove_file(&path);
        let k = KernelVfio::new();
        // SAFETY: not a VFIO fd, but this test issues no ioctl on it: only mmap and munmap, which
        // any regular file supports.
        let fd = unsafe { k.adopt(f.as_fd()) }.unwrap();
        assert!(k.mmap(fd, 0, 0).is_err(), "an empty mapping is refused");
        assert!(k.mmap(fd, u64::MAX, 4096).is_err(), "an offset past off_t is refused");
        let m = k.mmap(fd, 4096, 4096).unwrap();
        assert_eq!(m.len(), 4096);
        assert_eq!(m.read_u32(0), Some(0xa000_0400), "word 1024 is the first of the second page");
        assert_eq!(m.read_u32(4092), Some(0xa000_07ff));
        assert_eq!(m.read_u32(4096), None);
        assert_eq!(m.read_u32(2), None);
        k.close(fd);
        assert_eq!(m.read_u32(4), Some(0xa000_0401), "a mapping outlives the fd it was made through");
        drop(m);
    }

    #[test]
    fn anonymous_memory_reads_back_what_was_written_inside_its_bounds() {
        assert!(Mapping::anonymous(0).is_err());
        let mut m = Mapping::anonymous(8192).unwrap();
        assert_eq!(m.read_bytes(0, 4), Some(vec![0; 4]), "zero-filled");
        assert_eq!(m.write_bytes(4094, &[1, 2, 3, 4]), Some(()));
        assert_eq!(m.read_bytes(4094, 4), Some(vec![1, 2, 3, 4]));
        assert_eq!(m.read_u32(4096), Some(u32::from_ne_bytes([3, 4, 0, 0])));
        assert_eq!(m.write_bytes(8190, &[1, 2, 3]), None, "past the end: nothing written");
        assert_eq!(m.read_bytes(8190, 2), Some(vec![0, 0]));
        assert_eq!(m.read_bytes(usize::MAX, 2), None);
    }
}
