//! The input of msix-policy's VMM entry point ([`msix_policy_engine::plan_layout`]) from what
//! a VMM's VFIO layer already knows about a device: its regions (size, flags, offset in the
//! device fd, sparse mmap areas, `VFIO_REGION_INFO_CAP_MSIX_MAPPABLE`) and its config space.
//!
//! [`RegionSource`] is that knowledge, each region as the engine's [`VfioRegion`]; with the
//! `vfio-ioctls` feature it is implemented for rust-vmm's `vfio_ioctls::VfioDevice` (on Linux).
//! [`vmm_input_from`] turns a source into a [`VmmInput`]: BAR regions 0-5 only (size-0 ones left
//! out), config space from the config region (7).
//!
//! ```
//! use msix_policy_engine::{REGION_MMAP, REGION_RW};
//! use msix_policy_engine::{plan_layout, IsolationAttestation, VfioBackend, VfioRegion};
//! use msix_vfio::{vmm_input_from, RegionSource};
//!
//! /// A device with one 4 KiB BAR and a config space without capabilities.
//! struct Tiny;
//! impl RegionSource for Tiny {
//!     fn region_count(&self) -> u32 { 9 }
//!     fn region(&self, i: u32) -> VfioRegion {
//!         let size = [0x1000, 0, 0, 0, 0, 0, 0, 256, 0][i as usize];
//!         let flags = if i == 0 { REGION_RW | REGION_MMAP } else { REGION_RW };
//!         VfioRegion::new(i, size, flags).at(u64::from(i) << 40)
//!     }
//!     fn read_config(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
//!         let mut config = [0u8; 256];
//!         config[..4].copy_from_slice(&[0x86, 0x80, 0xd3, 0x10]);
//!         let at = offset as usize;
//!         buf.copy_from_slice(&config[at..at + buf.len()]);
//!         Ok(())
//!     }
//! }
//!
//! let accepted = IsolationAttestation::KernelAccepted { backend: VfioBackend::Type1, allow_unsafe_interrupts: false };
//! let input = vmm_input_from(&Tiny, 4096, accepted).unwrap();
//! assert_eq!(input.regions.len(), 1);
//! let layout = plan_layout(&input).unwrap();
//! assert_eq!(layout.exposure.as_str(), "none"); // no MSI-X: the whole BAR is mapped
//! ```

use std::io;

use msix_policy_engine::{IsolationAttestation, VfioRegion, VmmInput};
use vfio_bindings::bindings::vfio::{VFIO_PCI_BAR5_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX};

/// The config region's index (`VFIO_PCI_CONFIG_REGION_INDEX`).
pub const CONFIG_REGION: u32 = VFIO_PCI_CONFIG_REGION_INDEX;
/// BAR regions are indices 0-5 (`VFIO_PCI_BAR0_REGION_INDEX`..`VFIO_PCI_BAR5_REGION_INDEX`).
pub const BAR_REGIONS: u32 = VFIO_PCI_BAR5_REGION_INDEX + 1;
/// The most config space read: PCI Express extended config space.
pub const CONFIG_MAX: u64 = 4096;
/// The standard header every function has.
const CONFIG_HEADER: u64 = 64;

/// What a VFIO layer knows about a device's regions, by VFIO region index.
pub trait RegionSource {
    /// How many regions the device has (`vfio_device_info.num_regions`): indices below it exist.
    fn region_count(&self) -> u32;
    /// Region `index` as the layer knows it: size (0 for an unimplemented BAR), flags, offset in
    /// the device fd, the `VFIO_REGION_INFO_CAP_SPARSE_MMAP` areas when that capability is
    /// present, and whether `VFIO_REGION_INFO_CAP_MSIX_MAPPABLE` is.
    fn region(&self, index: u32) -> VfioRegion;
    /// Reads `buf.len()` bytes of config space (region [`CONFIG_REGION`]) at `offset`.
    fn read_config(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

/// Why a source gives no input.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The device has no config region: not a PCI device.
    #[error("the device has {count} regions: no config region (index {CONFIG_REGION}); is it a PCI device?")]
    NoConfigRegion {
        /// How many regions it has.
        count: u32,
    },
    /// The config region is shorter than the standard header.
    #[error("the config region is {size} bytes, shorter than the {CONFIG_HEADER}-byte header")]
    ConfigShort {
        /// Its size.
        size: u64,
    },
    /// Reading the config region failed.
    #[error("reading {len} bytes of config space through region {CONFIG_REGION}: {err}")]
    ConfigRead {
        /// How many bytes were asked for.
        len: usize,
        /// Why the read failed.
        #[source]
        err: io::Error,
    },
    /// The config space reads as all ones.
    #[error("config space reads as all ones (vendor 0xffff): the device is gone or the read failed")]
    ConfigAllOnes,
}

/// The engine's input for the device `source` describes, on a host with `page_size`-byte pages
/// and the given isolation attestation, and the architecture this runs on (the device is this
/// host's); the other fields keep [`VmmInput::new`]'s defaults
/// (chain `.guest(..)`, `.mode(..)`, `.address(..)` as needed).
///
/// Regions: BARs 0-5 that exist and have a size (the upper half of a 64-bit BAR and
/// unimplemented BARs report 0 and are left out), each with its flags, offset in the device fd,
/// sparse mmap areas and `MSIX_MAPPABLE`. The ROM (6), config (7), VGA (8) and device-specific
/// regions are not BARs and are not passed. Config: the first `min(size, 4096)` bytes of the
/// config region.
pub fn vmm_input_from(
    source: &impl RegionSource,
    page_size: u64,
    isolation: IsolationAttestation,
) -> Result<VmmInput, SourceError> {
    let count = source.region_count();
    if count <= CONFIG_REGION {
        return Err(SourceError::NoConfigRegion { count });
    }
    let mut regions = Vec::new();
    for index in 0..BAR_REGIONS.min(count) {
        let r = source.region(index);
        if r.size > 0 {
            regions.push(r);
        }
    }
    let size = source.region(CONFIG_REGION).size;
    if size < CONFIG_HEADER {
        return Err(SourceError::ConfigShort { size });
    }
    // At most 4096, so the conversion cannot fail on any target.
    let len = usize::try_from(size.min(CONFIG_MAX)).map_err(|_| SourceError::ConfigShort { size })?;
    let mut config = vec![0u8; len];
    source.read_config(0, &mut config).map_err(|err| SourceError::ConfigRead { len, err })?;
    if config[..2] == [0xff, 0xff] {
        return Err(SourceError::ConfigAllOnes);
    }
    let input = VmmInput::new(config, regions, page_size, isolation);
    // The device is this host's: its architecture decides a `guest: auto` profile.
    Ok(match msix_policy_engine::running_arch() {
        Some(arch) => input.arch(arch),
        None => input,
    })
}

#[cfg(all(feature = "vfio-ioctls", target_os = "linux"))]
mod vfio_ioctls_device {
    use std::io;

    use msix_policy_engine::{MmapArea, VfioRegion};
    use vfio_ioctls::{VfioDevice, VfioRegionInfoCap};

    use super::{RegionSource, CONFIG_REGION};

    /// Indices scanned for [`RegionSource::region_count`]: vfio-pci has 9 fixed regions and a
    /// few device-specific ones after them.
    const MAX_REGIONS: u32 = 64;

    /// vfio-ioctls 0.10 keeps the region infos it read at `VfioDevice::new` (one per index, from
    /// BAR0; a region whose info the kernel refused, such as a missing VGA region, is skipped,
    /// which shifts the ones after it: vfio-pci's BARs and config region come before any such).
    impl RegionSource for VfioDevice {
        /// vfio-ioctls does not expose `num_regions`: the count is one past the last index with
        /// flags or an offset (every vfio-pci region after BAR0 has a non-zero offset).
        fn region_count(&self) -> u32 {
            (0..MAX_REGIONS)
                .rev()
                .find(|&i| self.get_region_flags(i) != 0 || self.get_region_offset(i) != 0)
                .map_or(0, |i| i + 1)
        }

        fn region(&self, index: u32) -> VfioRegion {
            let caps = self.get_region_caps(index);
            let msix_mappable = caps.iter().any(|c| matches!(c, VfioRegionInfoCap::MsixMappable));
            let sparse = caps.into_iter().find_map(|c| match c {
                VfioRegionInfoCap::SparseMmap(s) => {
                    Some(s.areas.iter().map(|a| MmapArea { offset: a.offset, size: a.size }).collect())
                }
                _ => None,
            });
            let r = VfioRegion::new(index, self.get_region_size(index), self.get_region_flags(index))
                .msix_mappable(msix_mappable)
                .at(self.get_region_offset(index));
            match sparse {
                Some(areas) => r.sparse(areas),
                None => r,
            }
        }

        /// `VfioDevice::region_read` reports a failed read only in its log, so the buffer starts
        /// as all ones (what a failed PCI config read returns), which [`super::vmm_input_from`]
        /// refuses; reads past the region are refused here.
        fn read_config(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
            let end = offset.checked_add(buf.len() as u64);
            if end.is_none_or(|e| e > self.get_region_size(CONFIG_REGION)) {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "read past the config region"));
            }
            buf.fill(0xff);
            self.region_read(CONFIG_REGION, buf, offset);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
