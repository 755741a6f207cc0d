//! What every msix-policy platform shares: reading a root without leaving it, PCI config and
//! MSI-X parsing, the host's identity and kernel sources, and the platform backend seam.

// Unsafe is confined to the VFIO and KVM ioctls, mmap/munmap and the volatile read of a mapping
// this crate owns; each block says why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod acpi;
pub mod cmdline;
pub mod devicetree;
pub mod host;
pub mod interrupts;
pub mod kvm;
pub mod pack;
pub mod pci;
pub mod platform;
pub mod record;
pub mod root;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod vfio;

pub use host::{HostError, HostIdentity, KernelSources};
pub use pci::PciFunction;
pub use platform::{ArchFamily, HostContext, PlatformAssessment, PlatformBackend};
pub use root::{ReadError, Root};
