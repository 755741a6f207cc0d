//! Applying a `MappingPlan` through the real VFIO interface: open the container, group and
//! device, probe each BAR's region info, and mmap every `map` segment.

pub mod apply;
pub mod caps;
pub mod sys;

pub use apply::{
    adopt_vmm_fds, apply_plan, map_layout, open_device, Applied, ApplyError, MappedRange, OpenDevice, TrappedRange,
};
pub use caps::{parse_region_info, RegionInfo};
pub use sys::{KernelVfio, Mapping, VfioSys};

cfg_if::cfg_if! {
    if #[cfg(any(target_arch = "powerpc64", target_arch = "powerpc"))] {
        /// The IOMMU backend a VMM on this architecture uses: sPAPR TCE v2 on POWER.
        pub const IOMMU_TYPE: u32 = vfio_bindings::bindings::vfio::VFIO_SPAPR_TCE_v2_IOMMU;
        pub const IOMMU_NAME: &str = "VFIO_SPAPR_TCE_v2_IOMMU";
    } else {
        /// The IOMMU backend a VMM on this architecture uses: type1 v2 on x86 and arm64.
        pub const IOMMU_TYPE: u32 = vfio_bindings::bindings::vfio::VFIO_TYPE1v2_IOMMU;
        pub const IOMMU_NAME: &str = "VFIO_TYPE1v2_IOMMU";
    }
}

#[cfg(test)]
mod tests;
