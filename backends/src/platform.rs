//! The seam between shared reading and per-platform facts: which backend a root needs, and
//! what a backend answers.

use msix_policy_engine::{Evidence, IsolationVerdict, Platform};

use crate::host::{HostIdentity, KernelSources};
use crate::pci::PciFunction;
use crate::root::Root;

/// The architecture family a root's `arch` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchFamily {
    X86,
    Ppc64,
    Arm64,
    Other,
}

impl ArchFamily {
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
    pub root: &'a Root,
    pub identity: &'a HostIdentity,
    pub kernel: &'a KernelSources,
}

/// A platform backend's answer: which platform this is, the host-wide evidence, and one
/// isolation verdict per function (same order as the input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformAssessment {
    pub platform: Platform,
    pub evidence: Vec<Evidence>,
    pub verdicts: Vec<IsolationVerdict>,
}

/// Gathers one platform's facts. Every backend builds and runs on every architecture, so a
/// recording from any host can be assessed anywhere.
pub trait PlatformBackend {
    fn name(&self) -> &'static str;
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
