//! Everything of msix-policy that touches a device: the VFIO ioctls and mmap, applying a plan or
//! a VMM layout, the VMM entry point's input from a VFIO device, and the KVM probe.
//!
//! - [`sys`]: the thin layer over the kernel ([`VfioSys`], [`KernelVfio`]) and the one owned
//!   mapping type ([`Mapping`]), behind a trait so every error path is tested with mockall.
//! - [`region`]: `VFIO_DEVICE_GET_REGION_INFO` answers parsed into the engine's
//!   [`VfioRegion`](msix_policy_engine::VfioRegion), the workspace's one region type.
//! - [`device`]: opening a device (or adopting a VMM's fds), probing its regions, mapping a
//!   plan's or layout's segments ([`apply_plan`], [`map_layout`]).
//! - [`source`]: the VMM entry point's input from what a VMM's VFIO layer knows
//!   ([`RegionSource`], [`vmm_input_from`]; rust-vmm's `VfioDevice` behind the `vfio-ioctls`
//!   feature).
//! - [`kvm`]: what `/dev/kvm` offers for MSI injection on the live host.
//!
//! Unsafe is confined to the VFIO and KVM ioctls, mmap/munmap and the volatile read of a mapping
//! this crate owns; each block says why it is sound. Where soundness rests on a caller's word
//! that a file descriptor is a VFIO one, the function is an `unsafe fn` with a `# Safety` section.

#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod device;
pub mod kvm;
pub mod region;
pub mod source;
pub mod sys;

pub use device::{
    adopt_vmm_fds, apply_plan, map_layout, open_device, Applied, ApplyError, MappedRange, OpenDevice, TrappedRange,
};
pub use kvm::KvmFacts;
pub use region::{allows_mmap, parse_region_info, CapError};
pub use source::{vmm_input_from, RegionSource, SourceError};
pub use sys::{KernelVfio, Mapping, RawFd, VfioSys};

cfg_if::cfg_if! {
    if #[cfg(any(target_arch = "powerpc64", target_arch = "powerpc"))] {
        /// The IOMMU backend a VMM on this architecture uses: sPAPR TCE v2 on POWER.
        pub const IOMMU_TYPE: u32 = vfio_bindings::bindings::vfio::VFIO_SPAPR_TCE_v2_IOMMU;
        /// [`IOMMU_TYPE`]'s name in the uAPI, for messages.
        pub const IOMMU_NAME: &str = "VFIO_SPAPR_TCE_v2_IOMMU";
    } else {
        /// The IOMMU backend a VMM on this architecture uses: type1 v2 on x86 and arm64.
        pub const IOMMU_TYPE: u32 = vfio_bindings::bindings::vfio::VFIO_TYPE1v2_IOMMU;
        /// [`IOMMU_TYPE`]'s name in the uAPI, for messages.
        pub const IOMMU_NAME: &str = "VFIO_TYPE1v2_IOMMU";
    }
}

#[cfg(test)]
mod tests;
