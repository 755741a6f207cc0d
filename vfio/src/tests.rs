//! Every error path of the apply step against a mocked kernel.

use std::io;
use std::sync::{Arc, Mutex};

use mockall::predicate::eq;
use msix_backends::Root;
use msix_policy_engine::{BarOrigin, BarPlan, MappingPlan, MmapArea, Segment, SegmentAction, TrapKind, VfioRegion};
use vfio_bindings::bindings::vfio::{
    VFIO_GROUP_FLAGS_VIABLE, VFIO_REGION_INFO_FLAG_MMAP, VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE,
};

use crate::device::{apply_plan, open_device, ApplyError};
use crate::region::{encode_region_info, REGION_INFO_LEN};
use crate::sys::{Mapping, MockVfioSys};
use crate::IOMMU_TYPE;

const CONTAINER: i32 = 10;
const GROUP: i32 = 11;
const DEVICE: i32 = 12;

fn root() -> Root {
    Root::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/synthetic/x86-vtd-ir")).unwrap()
}

/// A kernel that opens everything; `tweak` changes one step.
fn kernel(tweak: impl FnOnce(&mut MockVfioSys)) -> MockVfioSys {
    let mut m = MockVfioSys::new();
    tweak(&mut m);
    m.expect_open().with(eq("/dev/vfio/vfio")).returning(|_| Ok(CONTAINER));
    m.expect_open().with(eq("/dev/vfio/4")).returning(|_| Ok(GROUP));
    m.expect_api_version().returning(|_| Ok(0));
    m.expect_check_extension().with(eq(CONTAINER), eq(IOMMU_TYPE)).returning(|_, _| Ok(true));
    m.expect_group_flags().returning(|_| Ok(VFIO_GROUP_FLAGS_VIABLE));
    m.expect_set_container().with(eq(GROUP), eq(CONTAINER)).returning(|_, _| Ok(()));
    m.expect_set_iommu().with(eq(CONTAINER), eq(IOMMU_TYPE)).returning(|_, _| Ok(()));
    m.expect_device_fd().with(eq(GROUP), eq("0000:00:04.0")).returning(|_, _| Ok(DEVICE));
    m.expect_close().returning(|_| ());
    m
}

/// What the mock kernel unmapped: (fd offset, length) of each mapping released, in order.
type Unmapped = Arc<Mutex<Vec<(u64, u64)>>>;

/// A mock mmap answer: a mapping over memory the test owns, every word reading `word(offset)`,
/// recorded in `unmapped` when it is released.
fn mapping(offset: u64, len: u64, word: impl Fn(usize) -> u32, unmapped: &Unmapped) -> Mapping {
    let log = Arc::clone(unmapped);
    Mapping::for_test(len, word, move || log.lock().unwrap().push((offset, len)))
}

fn errno(e: i32) -> io::Error {
    io::Error::from_raw_os_error(e)
}

fn bar0(extra: impl FnOnce(&mut VfioRegion)) -> VfioRegion {
    let flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP;
    let mut r = VfioRegion::new(0, 0x4000, flags).at(0);
    extra(&mut r);
    r
}

/// The kernel's two-step answer: the bare struct with the argsz it needs, then the whole chain.
fn serve_region(m: &mut MockVfioSys, info: VfioRegion) {
    let full = encode_region_info(&info);
    let argsz = full.len() as u32;
    m.expect_region_info().returning(move |_, _, asked| {
        let mut b = full.clone();
        if (asked as usize) < full.len() {
            b.truncate(asked as usize);
            b[0..4].copy_from_slice(&argsz.to_ne_bytes());
            b[12..16].copy_from_slice(&0u32.to_ne_bytes()); // no chain in a short answer
        }
        Ok(b)
    });
}

/// NVMe-like BAR0 on 4 KiB pages: doorbells mapped, table and PBA pages trapped.
fn plan() -> MappingPlan {
    let seg = |offset, length, action| Segment { offset, length, action };
    MappingPlan {
        page_size: 4096,
        relocation: None,
        bars: vec![BarPlan {
            index: 0,
            size: 0x4000,
            origin: BarOrigin::Physical,
            segments: vec![
                seg(0, 0x2000, SegmentAction::Map),
                seg(0x2000, 0x1000, SegmentAction::Trap(TrapKind::Table)),
                seg(0x3000, 0x1000, SegmentAction::Trap(TrapKind::Pba)),
            ],
            trapped_bytes: 0x2000,
            trapped_table_bytes: 1040,
            trapped_pba_bytes: 16,
            collateral_bytes: 0,
            hot_trapped: vec![],
        }],
    }
}

#[test]
fn maps_every_map_segment_with_the_argsz_retry_and_unmaps_on_drop() {
    let unmapped = Unmapped::default();
    let mut m = kernel(|m| serve_region(m, bar0(|r| r.msix_mappable = true)));
    let log = Arc::clone(&unmapped);
    m.expect_mmap().with(eq(DEVICE), eq(0u64), eq(0x2000u64)).times(1).returning(move |_, off, len| {
        Ok(mapping(off, len, |o| if o == 0x1000 { 0xdead_beef } else { o as u32 }, &log))
    });
    let root = root();
    let dev = open_device(&m, &root, "0000:00:04.0", Some(4)).unwrap();
    let info = dev.region_info(0).unwrap();
    assert!(info.msix_mappable, "the capability chain was read on the second call");
    assert!(info.argsz as usize > REGION_INFO_LEN);
    let applied = apply_plan(&dev, &plan()).unwrap();
    assert_eq!(applied.mapped.len(), 1);
    assert_eq!(applied.trapped.len(), 2);
    assert_eq!(applied.read_u32(0, 0x1000), Some(0xdead_beef));
    assert_eq!(applied.read_u32(0, 0x1ffc), Some(0x1ffc), "the last word of the mapping");
    assert_eq!(applied.read_u32(0, 0x2000), None, "a trapped page is not readable through a mapping");
    assert_eq!(applied.read_u32(0, 0x1002), None, "unaligned");
    assert_eq!(applied.read_u32(0, u64::MAX - 1), None, "no overflow past the end");
    assert_eq!(applied.read_u32(1, 0), None, "another BAR");
    assert!(unmapped.lock().unwrap().is_empty());
    drop(applied);
    assert_eq!(*unmapped.lock().unwrap(), vec![(0, 0x2000)], "unmapped once, on drop");
}

#[test]
fn a_mapping_reads_only_inside_its_bounds_and_aligned() {
    let unmapped = Unmapped::default();
    let m = mapping(0x4000, 0x1000, |o| 0x1000_0000 | o as u32, &unmapped);
    assert_eq!((m.len(), m.is_empty()), (0x1000, false));
    assert_eq!(m.addr() % 4, 0);
    assert_eq!(m.read_u32(0), Some(0x1000_0000));
    assert_eq!(m.read_u32(0xffc), Some(0x1000_0ffc));
    for bad in [1, 2, 3, 0xffd, 0x1000, 0x1004, usize::MAX - 3, usize::MAX] {
        assert_eq!(m.read_u32(bad), None, "offset {bad:#x}");
    }
    let moved = m; // the memory stays where it is when the owner moves
    assert_eq!(moved.read_u32(8), Some(0x1000_0008));
    drop(moved);
    assert_eq!(*unmapped.lock().unwrap(), vec![(0x4000, 0x1000)]);
    let empty = mapping(0, 0, |_| 0, &unmapped);
    assert!(empty.is_empty() && empty.read_u32(0).is_none());
    // A VMM can keep its memory slots in a device that moves between threads.
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Mapping>();
    send_sync::<crate::device::Applied>();
}

#[test]
fn the_kernel_interface_touches_only_fds_it_holds_and_paths_under_dev_vfio() {
    use crate::sys::{KernelVfio, VfioSys};
    let k = KernelVfio::new();
    // Fd numbers a caller made up: no ioctl, no mmap, no read.
    for fd in [0, 1, 2, 12345] {
        assert_eq!(k.api_version(fd).unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert_eq!(k.group_flags(fd).unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert_eq!(k.region_info(fd, 0, 32).unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert_eq!(k.mmap(fd, 0, 4096).unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert!(k.read_at(fd, 0, 4).is_err());
    }
    for path in ["/dev/null", "/dev/vfio/../null", "/dev/vfio/../../proc/self/mem", "vfio"] {
        assert_eq!(k.open(path).unwrap_err().kind(), io::ErrorKind::InvalidInput, "{path}");
    }
}

#[test]
fn each_open_refusal_has_its_own_error() {
    let root = root();
    let open = |m: &MockVfioSys, group| open_device(m, &root, "0000:00:04.0", group).err().unwrap().to_string();

    let m = kernel(|_| {});
    assert!(open(&m, None).contains("no IOMMU group"));

    let m = kernel(|m| {
        m.expect_open().with(eq("/dev/vfio/vfio")).returning(|_| Err(errno(libc::ENOENT)));
    });
    assert!(open(&m, Some(4)).contains("modprobe vfio-pci"));

    let m = kernel(|m| {
        m.expect_api_version().returning(|_| Ok(1));
    });
    assert!(open(&m, Some(4)).contains("API 1"));

    let m = kernel(|m| {
        m.expect_check_extension().returning(|_, _| Ok(false));
    });
    assert!(open(&m, Some(4)).contains("does not offer"));

    // A failing ioctl is named as the step that failed, not as the answer it would have given.
    let m = kernel(|m| {
        m.expect_api_version().returning(|_| Err(errno(libc::ENOTTY)));
    });
    let e = open_device(&m, &root, "0000:00:04.0", Some(4)).err().unwrap();
    assert!(matches!(e, ApplyError::ApiVersionQuery { .. }), "{e}");
    assert!(e.to_string().contains("VFIO_GET_API_VERSION failed"), "{e}");

    let m = kernel(|m| {
        m.expect_check_extension().returning(|_, _| Err(errno(libc::ENOTTY)));
    });
    let e = open_device(&m, &root, "0000:00:04.0", Some(4)).err().unwrap();
    assert!(matches!(e, ApplyError::CheckExtension { .. }), "{e}");

    let m = kernel(|m| {
        m.expect_group_flags().returning(|_| Err(errno(libc::EBADF)));
    });
    let e = open_device(&m, &root, "0000:00:04.0", Some(4)).err().unwrap();
    assert!(matches!(e, ApplyError::GroupStatus { group: 4, .. }), "{e}");
    assert!(e.to_string().contains("VFIO_GROUP_GET_STATUS"), "{e}");
    assert!(std::error::Error::source(&e).is_some(), "the errno is the source");

    let m = kernel(|m| {
        m.expect_open().with(eq("/dev/vfio/4")).returning(|_| Err(errno(libc::EBUSY)));
    });
    assert!(open(&m, Some(4)).contains("bind 0000:00:04.0 to vfio-pci"));

    let m = kernel(|m| {
        m.expect_set_iommu().returning(|_, _| Err(errno(libc::EPERM)));
    });
    let e = open(&m, Some(4));
    assert!(e.contains("EPERM") && e.contains("allow_unsafe_interrupts"), "{e}");

    let m = kernel(|m| {
        m.expect_set_iommu().returning(|_, _| Err(errno(libc::EINVAL)));
    });
    assert!(open(&m, Some(4)).contains("VFIO_SET_IOMMU"));

    let m = kernel(|m| {
        m.expect_set_container().returning(|_, _| Err(errno(libc::EBUSY)));
    });
    assert!(open(&m, Some(4)).contains("VFIO_GROUP_SET_CONTAINER"));

    let m = kernel(|m| {
        m.expect_device_fd().returning(|_, _| Err(errno(libc::ENODEV)));
    });
    assert!(open(&m, Some(4)).contains("is it bound to vfio-pci"));
}

#[test]
fn a_group_that_is_not_viable_names_its_other_devices() {
    let t = std::env::temp_dir().join(format!("msix-vfio-group-{}", std::process::id()));
    let devs = t.join("sys/kernel/iommu_groups/4/devices");
    std::fs::create_dir_all(&devs).unwrap();
    std::fs::create_dir_all(t.join("sys/bus/pci/devices/0000:00:1f.0")).unwrap();
    std::os::unix::fs::symlink("../../../bus/pci/drivers/lpc_ich", t.join("sys/bus/pci/devices/0000:00:1f.0/driver"))
        .unwrap();
    std::os::unix::fs::symlink("../../../../devices/pci0000:00/0000:00:04.0", devs.join("0000:00:04.0")).unwrap();
    std::os::unix::fs::symlink("../../../../devices/pci0000:00/0000:00:1f.0", devs.join("0000:00:1f.0")).unwrap();
    let root = Root::open(&t).unwrap();
    let m = kernel(|m| {
        m.expect_group_flags().returning(|_| Ok(0));
    });
    let e = open_device(&m, &root, "0000:00:04.0", Some(4)).err().unwrap();
    let _ = std::fs::remove_dir_all(&t);
    assert!(
        matches!(&e, ApplyError::GroupNotViable { others, .. } if others == &["0000:00:1f.0 (driver lpc_ich)".to_string()]),
        "{e}"
    );
}

#[test]
fn region_info_failures_and_bad_chains_are_errors() {
    let root = root();
    let m = kernel(|m| {
        m.expect_region_info().returning(|_, _, _| Err(errno(libc::EINVAL)));
    });
    let dev = open_device(&m, &root, "0000:00:04.0", Some(4)).unwrap();
    assert!(matches!(dev.region_info(0), Err(ApplyError::RegionInfo { index: 0, .. })));
    drop(dev);

    let m = kernel(|m| {
        m.expect_region_info().returning(|_, _, _| {
            let mut b = encode_region_info(&bar0(|r| r.msix_mappable = true));
            let at = REGION_INFO_LEN;
            b[at + 4..at + 8].copy_from_slice(&(at as u32).to_ne_bytes()); // loops onto itself
            Ok(b)
        });
    });
    let dev = open_device(&m, &root, "0000:00:04.0", Some(4)).unwrap();
    assert!(matches!(dev.region_info(0), Err(ApplyError::Caps { .. })));
}

#[test]
fn a_plan_that_maps_what_the_kernel_forbids_maps_nothing() {
    let root = root();
    // Pre-4.16 kernels carve the table out with sparse mmap areas: a Passthrough plan that maps
    // the whole BAR is refused before any mmap.
    let mut all = plan();
    all.bars[0].segments = vec![Segment { offset: 0, length: 0x4000, action: SegmentAction::Map }];
    let m = kernel(|m| serve_region(m, bar0(|r| r.sparse_mmap = Some(vec![MmapArea { offset: 0, size: 0x2000 }]))));
    let dev = open_device(&m, &root, "0000:00:04.0", Some(4)).unwrap();
    let e = apply_plan(&dev, &all).err().unwrap();
    assert!(matches!(e, ApplyError::NotMappable { bar: 0, .. }), "{e}");
    assert!(e.to_string().contains("sparse"), "{e}");
    drop(dev);

    let m = kernel(|m| serve_region(m, bar0(|r| r.flags &= !VFIO_REGION_INFO_FLAG_MMAP)));
    let dev = open_device(&m, &root, "0000:00:04.0", Some(4)).unwrap();
    assert!(apply_plan(&dev, &plan()).err().unwrap().to_string().contains("FLAG_MMAP"));
}

#[test]
fn a_failing_mmap_unmaps_what_was_mapped_and_names_the_segment() {
    let root = root();
    let mut two = plan();
    two.bars[0].segments = vec![
        Segment { offset: 0, length: 0x1000, action: SegmentAction::Map },
        Segment { offset: 0x1000, length: 0x1000, action: SegmentAction::Trap(TrapKind::Table) },
        Segment { offset: 0x2000, length: 0x2000, action: SegmentAction::Map },
    ];
    let unmapped = Unmapped::default();
    let mut m = kernel(|m| serve_region(m, bar0(|_| {})));
    let log = Arc::clone(&unmapped);
    m.expect_mmap()
        .with(eq(DEVICE), eq(0u64), eq(0x1000u64))
        .times(1)
        .returning(move |_, off, len| Ok(mapping(off, len, |_| 0, &log)));
    m.expect_mmap().with(eq(DEVICE), eq(0x2000u64), eq(0x2000u64)).returning(|_, _, _| Err(errno(libc::ENOMEM)));
    let dev = open_device(&m, &root, "0000:00:04.0", Some(4)).unwrap();
    let e = apply_plan(&dev, &two).err().unwrap();
    assert!(matches!(e, ApplyError::Mmap { bar: 0, offset: 0x2000, unmapped: 1, .. }), "{e}");
    assert_eq!(*unmapped.lock().unwrap(), vec![(0, 0x1000)], "the first mapping was released");
}

/// Region info per index, with the kernel's argsz retry; indices not given are empty regions.
fn serve_regions(m: &mut MockVfioSys, infos: Vec<VfioRegion>) {
    m.expect_region_info().returning(move |_, index, asked| {
        let info = infos.iter().find(|r| r.index == index).cloned().unwrap_or_else(|| VfioRegion::new(index, 0, 0));
        let full = encode_region_info(&info);
        let mut b = full.clone();
        if (asked as usize) < full.len() {
            b.truncate(asked as usize);
            b[0..4].copy_from_slice(&(full.len() as u32).to_ne_bytes());
            b[12..16].copy_from_slice(&0u32.to_ne_bytes());
        }
        Ok(b)
    });
}

#[test]
fn a_vmm_that_owns_its_fds_lays_out_and_maps_without_opening_or_closing_anything() {
    use msix_policy_engine::{plan_layout, Exposure, GuestSelection, IsolationAttestation, VfioBackend, VmmInput};
    // No open or close is expected: mockall fails the test on any such call.
    let unmapped = Unmapped::default();
    let mut m = MockVfioSys::new();
    serve_regions(&mut m, vec![bar0(|r| r.msix_mappable = true)]);
    let log = Arc::clone(&unmapped);
    m.expect_mmap()
        .with(eq(DEVICE), eq(0u64), eq(0x2000u64))
        .times(1)
        .returning(move |_, off, len| Ok(mapping(off, len, |o| o as u32, &log)));
    let dev = crate::device::OpenDevice::with_fds(&m, "0000:00:04.0", 4, CONTAINER, GROUP, DEVICE);
    let regions = dev.bar_regions().unwrap();
    assert_eq!(regions.len(), 1);
    assert!(regions[0].msix_mappable);
    // The NVMe function's recorded config: table at BAR0+0x2000, PBA at +0x3000.
    let config = root().read("sys/bus/pci/devices/0000:00:04.0/config").unwrap();
    let iso = IsolationAttestation::KernelAccepted { backend: VfioBackend::Type1, allow_unsafe_interrupts: false };
    let input = VmmInput::new(config, regions, 4096, iso).guest(GuestSelection::DirectTableWrites);
    let layout = plan_layout(&input).unwrap();
    assert_eq!(layout.exposure, Exposure::Trap);
    let applied = crate::device::map_layout(&dev, &layout).unwrap();
    assert_eq!(applied.mapped.len(), 1);
    assert!(applied.trapped.iter().any(|t| t.what == "table -> emulate-msix-table"));
    assert_eq!(applied.read_u32(0, 0x1000), Some(0x1000));
    // A VMM keeps a mapping as a memory slot after the rest goes.
    let mut applied = applied;
    let slot = applied.mapped.pop().unwrap();
    drop(applied);
    drop(dev);
    assert!(unmapped.lock().unwrap().is_empty());
    assert_eq!(slot.mapping.read_u32(0x1ffc), Some(0x1ffc));
    drop(slot);
    assert_eq!(*unmapped.lock().unwrap(), vec![(0, 0x2000)]);
}

#[test]
fn a_layout_that_maps_what_the_region_forbids_maps_nothing() {
    use msix_policy_engine::{plan_layout, GuestSelection, IsolationAttestation, VfioBackend, VmmInput};
    use msix_policy_engine::{REGION_MMAP, REGION_RW};
    let mut m = MockVfioSys::new();
    // The kernel says BAR0 cannot be mmapped; the layout was made from other (stale) facts.
    serve_regions(&mut m, vec![bar0(|r| r.flags &= !VFIO_REGION_INFO_FLAG_MMAP)]);
    let dev = crate::device::OpenDevice::with_fds(&m, "0000:00:04.0", 4, CONTAINER, GROUP, DEVICE);
    let config = root().read("sys/bus/pci/devices/0000:00:04.0/config").unwrap();
    let iso = IsolationAttestation::KernelAccepted { backend: VfioBackend::Type1, allow_unsafe_interrupts: false };
    let stale = vec![VfioRegion::new(0, 0x4000, REGION_RW | REGION_MMAP).msix_mappable(true)];
    let layout =
        plan_layout(&VmmInput::new(config, stale, 4096, iso).guest(GuestSelection::DirectTableWrites)).unwrap();
    let err = crate::device::map_layout(&dev, &layout).err().unwrap();
    assert!(matches!(err, ApplyError::NotMappable { bar: 0, .. }), "{err}");
}
