//! A minimal VMM that measures MSI-X layouts under KVM: it places a layout in guest memory
//! (memory slots over mmaps of the VFIO device, trapped ranges served by the VMM), runs a small
//! aarch64 guest program that sweeps the BARs, hammers the NVMe CAP and doorbell registers and
//! programs MSI-X entries, and counts KVM_EXIT_MMIO per range against what the layout predicts.
//!
//! The accounting ([`dispatch`], [`account`]) is behind the [`dispatch::Vcpu`] trait and runs on
//! every target against a mock or the [`sim`] vCPU; [`kvm`] is the real one (x86_64 and aarch64,
//! where rust-vmm's kvm-ioctls builds; the guest program is aarch64 code).

#![deny(missing_docs)]

pub mod account;
pub mod dispatch;
pub mod error;
pub mod guest;
pub mod layouts;
pub mod map;
pub mod msi;
pub mod report;
pub mod script;
pub mod sim;

cfg_if::cfg_if! {
    if #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))] {
        pub mod kvm;
    }
}

pub use error::LabError;

#[cfg(test)]
mod tests;
