//! `vmm_input_from` against a fake device: no VFIO, no hardware.

use std::io;

use msix_policy_engine::{
    plan_layout, Exposure, GuestSelection, IsolationAttestation, MmapArea, TrapContents, TrapHandler, VfioBackend,
};
use msix_policy_engine::{REGION_MMAP, REGION_RW};

use super::*;

/// A device as a VFIO layer sees it: regions by index and the config bytes.
struct Fake {
    regions: Vec<VfioRegion>,
    config: Vec<u8>,
}

impl RegionSource for Fake {
    fn region_count(&self) -> u32 {
        self.regions.len() as u32
    }
    fn region(&self, index: u32) -> VfioRegion {
        self.regions.get(index as usize).cloned().unwrap_or_else(|| VfioRegion::new(index, 0, 0))
    }
    fn read_config(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let at = offset as usize;
        let src = self.config.get(at..at + buf.len()).ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// An NVMe function (QEMU's model): BAR0 64-bit, 16 KiB; MSI-X with 65 vectors, table at
/// BAR0+0x2000, PBA at BAR0+0x3000. Config space is 4 KiB (PCI Express).
fn nvme_config() -> Vec<u8> {
    let mut config = vec![0u8; 4096];
    config[0..4].copy_from_slice(&[0x36, 0x1b, 0x10, 0x00]); // 1b36:0010
    config[6] = 0x10; // capability list
    config[0x09..0x0c].copy_from_slice(&[0x02, 0x08, 0x01]); // class 01:08:02
    config[0x10] = 0x04; // BAR0: memory, 64-bit
    config[0x34] = 0x40;
    config[0x40..0x4c].copy_from_slice(&[0x11, 0, 64, 0, 0x00, 0x20, 0, 0, 0x00, 0x30, 0, 0]);
    config
}

/// Offsets in the device fd that are not vfio-pci's `index << 40`, so that carrying them shows.
fn offset(index: u32) -> u64 {
    0x1000_0000 * u64::from(index + 1)
}

/// The NVMe function with all nine vfio-pci regions: BAR0, the upper half of BAR0 and BARs 2-5
/// (size 0), a ROM (6), config (7) and a VGA region (8), the last three not BARs.
fn nvme(bar0: impl FnOnce(&mut VfioRegion)) -> Fake {
    let mut regions: Vec<VfioRegion> = (0..9).map(|i| VfioRegion::new(i, 0, REGION_RW).at(offset(i))).collect();
    regions[0].size = 0x4000;
    regions[0].flags = REGION_RW | REGION_MMAP;
    regions[0].msix_mappable = true;
    bar0(&mut regions[0]);
    regions[6] = VfioRegion::new(6, 0x4_0000, 1).at(offset(6));
    regions[7].size = 4096;
    regions[8] = VfioRegion::new(8, 0xc_0000, REGION_RW | REGION_MMAP).at(offset(8));
    Fake { regions, config: nvme_config() }
}

fn accepted() -> IsolationAttestation {
    IsolationAttestation::KernelAccepted { backend: VfioBackend::Type1, allow_unsafe_interrupts: false }
}

#[test]
fn only_the_implemented_bars_are_passed_with_their_capabilities_and_offsets() {
    let input = vmm_input_from(&nvme(|_| {}), 4096, accepted()).unwrap();
    assert_eq!(input.regions.len(), 1, "BAR0 only: size-0 BARs and regions 6-8 are left out");
    let bar0 = &input.regions[0];
    assert_eq!((bar0.index, bar0.size, bar0.flags), (0, 0x4000, REGION_RW | REGION_MMAP));
    assert_eq!(bar0.offset, Some(offset(0)));
    assert!(bar0.msix_mappable);
    assert_eq!(bar0.sparse_mmap, None);
    assert_eq!(input.config, nvme_config(), "the whole 4 KiB config region");
    assert_eq!(input.page_size, 4096);
    assert_eq!(input.isolation, accepted());
}

#[test]
fn nvme_on_4k_pages_maps_the_doorbells_and_traps_the_table_and_pba() {
    let input = vmm_input_from(&nvme(|_| {}), 4096, accepted()).unwrap().guest(GuestSelection::DirectTableWrites);
    let layout = plan_layout(&input).unwrap();
    assert_eq!(layout.exposure, Exposure::Trap);
    let bar0 = layout.bar(0).unwrap();
    assert_eq!(bar0.mmap.len(), 1);
    let slot = &bar0.mmap[0];
    assert_eq!((slot.offset, slot.length, slot.mmap_length), (0, 0x2000, 0x2000));
    assert_eq!(slot.region_offset, offset(0), "the region's offset in the device fd is used");
    // The two pages after the doorbells trap, and nothing else: the table's 65 entries and the
    // PBA's 16 bytes are emulated, the rest of each page is what the kernel's read path gives.
    let traps: Vec<(u64, u64, TrapContents, TrapHandler)> =
        bar0.trap.iter().map(|t| (t.offset, t.length, t.holds, t.handler)).collect();
    assert_eq!(traps.first().map(|t| t.0), Some(0x2000));
    assert_eq!(traps.iter().map(|t| t.1).sum::<u64>(), 0x2000, "{traps:x?}");
    assert!(traps.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0), "contiguous: {traps:x?}");
    assert!(traps.contains(&(0x2000, 65 * 16, TrapContents::Table, TrapHandler::EmulateMsixTable)), "{traps:x?}");
    assert!(traps.contains(&(0x3000, 16, TrapContents::Pba, TrapHandler::EmulateMsixPba)), "{traps:x?}");
    let msix = layout.msix.unwrap();
    assert!(!msix.relocated);
    assert_eq!((msix.table_bir, msix.table_offset, msix.pba_offset), (0, 0x2000, 0x3000));
}

#[test]
fn nvme_on_64k_pages_relocates_the_table_and_maps_all_of_bar0() {
    let input = vmm_input_from(&nvme(|_| {}), 65536, accepted()).unwrap().guest(GuestSelection::DirectTableWrites);
    let layout = plan_layout(&input).unwrap();
    assert_eq!(layout.exposure, Exposure::Relocate, "trapping the table's 64 KiB page would trap the doorbells");
    let bar0 = layout.bar(0).unwrap();
    assert_eq!(bar0.mmap.len(), 1);
    assert_eq!((bar0.mmap[0].offset, bar0.mmap[0].mmap_length), (0, 65536), "one whole host page");
    assert_eq!(bar0.mmap[0].region_offset, offset(0));
    let msix = layout.msix.unwrap();
    assert!(msix.relocated);
    assert_eq!(msix.table_bir, 2, "the first free BAR slot after the 64-bit BAR0");
}

#[test]
fn a_paravirtual_guest_on_64k_pages_gets_the_table_mapped() {
    let input = vmm_input_from(&nvme(|_| {}), 65536, accepted()).unwrap().guest(GuestSelection::Paravirtual);
    let layout = plan_layout(&input).unwrap();
    assert_eq!(layout.exposure, Exposure::Passthrough);
    assert!(layout.bar(0).unwrap().trap.is_empty());
}

#[test]
fn sparse_areas_without_msix_mappable_are_carried_and_keep_the_table_unmapped() {
    // A pre-4.16 kernel: no MSIX_MAPPABLE, the table's page carved out of the mmap areas.
    let fake = nvme(|r| {
        r.msix_mappable = false;
        r.sparse_mmap = Some(vec![MmapArea { offset: 0, size: 0x2000 }, MmapArea { offset: 0x3000, size: 0x1000 }]);
    });
    let input = vmm_input_from(&fake, 4096, accepted()).unwrap().guest(GuestSelection::Paravirtual);
    assert_eq!(
        input.regions[0].sparse_mmap,
        Some(vec![MmapArea { offset: 0, size: 0x2000 }, MmapArea { offset: 0x3000, size: 0x1000 }])
    );
    assert!(!input.regions[0].msix_mappable);
    let layout = plan_layout(&input).unwrap();
    assert_ne!(layout.exposure, Exposure::Passthrough, "the kernel does not let the table be mapped");
    for slot in &layout.bar(0).unwrap().mmap {
        assert!(slot.offset + slot.length <= 0x2000 || slot.offset >= 0x3000, "{slot:?} maps the table page");
    }
}

#[test]
fn a_device_without_a_config_region_or_with_a_dead_one_is_an_error() {
    let mut fake = nvme(|_| {});
    fake.regions.truncate(7);
    assert!(matches!(vmm_input_from(&fake, 4096, accepted()), Err(SourceError::NoConfigRegion { count: 7 })));

    let mut fake = nvme(|_| {});
    fake.regions[7].size = 32;
    assert!(matches!(vmm_input_from(&fake, 4096, accepted()), Err(SourceError::ConfigShort { size: 32 })));

    let mut fake = nvme(|_| {});
    fake.config.truncate(256); // the region says 4 KiB, the read fails
    let e = vmm_input_from(&fake, 4096, accepted()).unwrap_err();
    assert!(matches!(e, SourceError::ConfigRead { len: 4096, .. }), "{e}");

    let mut fake = nvme(|_| {});
    fake.config.fill(0xff);
    assert!(matches!(vmm_input_from(&fake, 4096, accepted()), Err(SourceError::ConfigAllOnes)));
}

#[test]
fn a_conventional_pci_config_region_is_read_whole() {
    let mut fake = nvme(|_| {});
    fake.regions[7].size = 256;
    let input = vmm_input_from(&fake, 4096, accepted()).unwrap();
    assert_eq!(input.config.len(), 256);
    plan_layout(&input).unwrap();
}

/// rust-vmm's device is a source: the engine's input comes straight from it (no device here to
/// open, so this only has to compile).
#[cfg(all(feature = "vfio-ioctls", target_os = "linux"))]
#[allow(dead_code)]
fn a_vfio_ioctls_device_is_a_region_source(device: &vfio_ioctls::VfioDevice) -> Result<VmmInput, SourceError> {
    vmm_input_from(device, 4096, accepted())
}
