//! The seam between shared reading and per-platform facts: which backend a root needs, and
//! what a backend answers.

use msix_policy_engine::{Evidence, IsolationVerdict, Platform};

use crate::host::{HostIdentity, KernelSources};
use crate::pci::PciFunction;
use crate::root::Root;

/// The architecture family a root's `arch` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchFamily {
    /// `x86_64`, `i686`, `i386`, `amd64`.
    X86,
    /// `ppc64`, `ppc64le`, `powerpc64`.
    Ppc64,
    /// `aarch64`, `arm64`.
    Arm64,
    /// Any other architecture: no platform backend knows it.
    Other,
}

impl ArchFamily {
    /// The family of a `uname -m` machine name (`HostIdentity::arch`).
    pub fn of(arch: &str) -> Self {
        match arch {
            "x86_64" | "i686" | "i386" | "amd64" => ArchFamily::X86,
            a if a.starts_with("ppc64") || a == "powerpc64" => ArchFamily::Ppc64,
            "aarch64" | "arm64" => ArchFamily::Arm64,
            _ => ArchFamily::Other,
        }
    }
}

/// The inputs a platform backend reads from.
pub struct HostContext<'a> {
    /// The root being audited (`/` or a recording).
    pub root: &'a Root,
    /// The host's architecture, page size and kernel release.
    pub identity: &'a HostIdentity,
    /// The kernel command line, interrupts and log, read once.
    pub kernel: &'a KernelSources,
}

/// A platform backend's answer: which platform this is, the host-wide evidence, and one
/// isolation verdict per function (same order as the input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformAssessment {
    /// The platform the backend recognised (interrupt controller and IOMMU, as far as shown).
    pub platform: Platform,
    /// Host-wide evidence behind the platform and its verdicts.
    pub evidence: Vec<Evidence>,
    /// One MSI isolation verdict per function, in the order the functions were given.
    pub verdicts: Vec<IsolationVerdict>,
}

/// Gathers one platform's facts. Every backend builds and runs on every architecture, so a
/// recording from any host can be assessed anywhere.
pub trait PlatformBackend {
    /// The backend's short name: its architecture family (`x86`, `ppc64`, `arm64`).
    fn name(&self) -> &'static str;
    /// Names the platform of `ctx` and gives each of `functions` its isolation verdict (one per
    /// function, same order); what cannot be read is an unknown verdict, never an error.
    fn assess(&self, ctx: &HostContext<'_>, functions: &[PciFunction]) -> PlatformAssessment;
}

/// The chips that deliver a function's MSIs, from its `msi_irqs` and `/proc/interrupts`.
pub fn msi_chips(kernel: &KernelSources, f: &PciFunction) -> Vec<(u32, String)> {
    let Some(ints) = kernel.interrupts.value.as_ref() else { return Vec::new() };
    let mut chips: Vec<(u32, String)> =
        f.msi_irqs.iter().filter_map(|&i| ints.get(i).map(|l| (i, l.chip.clone()))).collect();
    if chips.is_empty() {
        // Newer kernels name the function in the chip (`PCI-MSIX-0000:00:03.0`).
        chips = ints.lines_of_device(&f.facts.address).map(|l| (l.irq, l.chip.clone())).collect();
    }
    chips
}

/// Evidence for a function's chips, or `None` when it has no MSI lines to show.
pub fn chip_evidence(chips: &[(u32, String)]) -> Option<Evidence> {
    let (irq, chip) = chips.first()?;
    Some(Evidence::new("proc/interrupts", format!("irq {irq}: {chip} ({} MSI lines for this function)", chips.len())))
}
