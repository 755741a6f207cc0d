//! What every msix-policy platform shares: reading a root without leaving it, PCI config and
//! MSI-X parsing, the host's identity and kernel sources, the recorded-host format and recorder,
//! and the platform backend seam. A read-only reader: no ioctl and no mmap (those live in
//! `msix-vfio`, the crate for everything that touches a device).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod acpi;
pub mod cmdline;
pub mod devicetree;
pub mod fixture;
pub mod host;
pub mod interrupts;
pub mod pack;
pub mod pci;
pub mod platform;
pub mod record;
pub mod root;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use host::{HostError, HostIdentity, KernelSources};
pub use pci::PciFunction;
pub use platform::{ArchFamily, HostContext, PlatformAssessment, PlatformBackend};
pub use root::{ReadError, Root};
