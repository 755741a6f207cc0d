//! msix-policy: decide, explain and apply how a VMM exposes the MSI-X table of a PCI function
//! assigned through VFIO.
//!
//! The library call a VMM integrator needs is [`audit`] (every function of a root) or
//! [`audit_device`] (one); each device comes back with a [`Decision`] and a
//! page-aligned [`MappingPlan`](policy::MappingPlan).
//!
//! ```
//! use msix_policy::{audit, AuditOptions};
//! let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/synthetic/x86-vtd-ir");
//! let report = audit(fixture, &AuditOptions::default()).expect("bundled fixture loads");
//! for d in &report.devices {
//!     // Every decision carries its exposure, risk, plan and the rule ids that fired.
//!     println!("{} {:?} {:?}", d.address, d.decision.exposure, d.decision.rule_ids().collect::<Vec<_>>());
//! }
//! let nvme = report.device("0000:00:04.0").expect("the fixture has an NVMe function");
//! assert_eq!(nvme.decision.isolation.status(), "isolated");
//! ```

#![deny(missing_docs)]
pub mod apply;
pub mod demo;
pub mod diff;
pub mod export;
pub mod input;
pub mod output;
pub mod render;
pub mod schema;

/// The README's Rust examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

use std::path::Path;

use serde::Serialize;

pub use msix_backends as backends;
pub use msix_policy_engine as policy;
pub use msix_vfio as vfio;

use backends::platform::ArchFamily;
use backends::{HostContext, HostIdentity, KernelSources, PlatformAssessment, PlatformBackend, Root};
use policy::{Decision, DeviceFacts, Evidence, GuestSelection, HostFacts, IsolationVerdict, Overrides, Platform};

/// What the VMM or operator chooses.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// How the guest programs MSI-X (`Auto`: derived from the host).
    pub guest: GuestSelection,
    /// The operator's overrides file, parsed: it may only make decisions safer.
    pub overrides: Overrides,
    /// Whose BAR layout relocations follow, and what they may change.
    pub layout: policy::LayoutOptions,
    /// Device files a live audit may open beyond sysfs and procfs.
    pub live_probes: LiveProbes,
}

impl AuditOptions {
    /// Options for a sandboxed caller (a VMM under seccomp or landlock): sysfs and procfs only,
    /// never /dev/kmsg or /dev/kvm.
    pub fn sandboxed() -> Self {
        AuditOptions { live_probes: LiveProbes::NONE, ..Default::default() }
    }
}

/// Device files a live audit opens beyond sysfs and procfs. Recorded roots never open either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveProbes {
    /// Read the kernel log from /dev/kmsg (evidence of interrupt remapping and ITS quirks).
    pub kernel_log: bool,
    /// Open /dev/kvm to probe KVM_CAP_SIGNAL_MSI and KVM_CAP_MSI_DEVID.
    pub kvm: bool,
}

impl LiveProbes {
    /// Neither.
    pub const NONE: LiveProbes = LiveProbes { kernel_log: false, kvm: false };
}

impl Default for LiveProbes {
    fn default() -> Self {
        LiveProbes { kernel_log: true, kvm: true }
    }
}

/// Why a root could not be audited.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The root could not be opened (missing, not a directory, no permission).
    #[error("cannot open root {0}")]
    Root(#[from] backends::root::RootError),
    /// The host's identity (fixture.toml, or the live host's uname) could not be read.
    #[error(transparent)]
    Host(#[from] backends::HostError),
    /// `sys/bus/pci/devices` exists but cannot be listed.
    #[error("{path}: cannot list PCI functions: {source}")]
    Devices {
        /// The root whose PCI functions could not be listed.
        path: String,
        /// Why the listing failed.
        #[source]
        source: backends::ReadError,
    },
    /// Impossible facts, or an override that would loosen a decision.
    #[error(transparent)]
    Decide(#[from] policy::DecideError),
    /// The one function asked for ([`audit_device`]) is not under the root.
    #[error("no PCI function {address} under {root}/sys/bus/pci/devices (`msix-policy audit` lists them)")]
    NoSuchDevice {
        /// The PCI address asked for.
        address: String,
        /// The root that was searched.
        root: String,
    },
}

/// One function: its facts and the decision.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DeviceReport {
    /// The function's PCI address (`0000:00:04.0`), as its sysfs directory names it.
    pub address: String,
    /// What the backends read about the function.
    pub facts: DeviceFacts,
    /// What the engine decided for it.
    pub decision: Decision,
}

/// A whole root.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AuditReport {
    /// The root that was audited (`/` or a recorded host's directory).
    pub root: String,
    /// Whether the root is the running host (not a recording).
    pub live: bool,
    /// The host's facts (architecture, kernel, page size, platform, VFIO backend).
    pub host: HostFacts,
    /// fixture.toml's `[source]` table, for recorded hosts.
    pub source: Option<backends::fixture::FixtureSource>,
    /// Where the host's facts came from: identity, kernel command line, interrupts, kernel log.
    pub host_evidence: Vec<Evidence>,
    /// The evidence behind the platform backend's assessment.
    pub platform_evidence: Vec<Evidence>,
    /// KVM's MSI facilities, probed on the live host only.
    pub kvm: Option<vfio::KvmFacts>,
    /// Every PCI function under the root, decided.
    pub devices: Vec<DeviceReport>,
}

impl AuditReport {
    /// The function at `address` (compared as a PCI address, in any case); `None` when the
    /// address does not parse or no function has it.
    pub fn device(&self, address: &str) -> Option<&DeviceReport> {
        // Compared as addresses, not strings: any case, one parser.
        let wanted = policy::PciAddress::parse(address).ok()?;
        self.devices.iter().find(|d| policy::PciAddress::parse(&d.address).ok() == Some(wanted))
    }
}

/// The platform backend for an `arch` string (`uname -m` of the recorded or live host).
pub fn backend_for(arch: &str) -> Option<Box<dyn PlatformBackend>> {
    match ArchFamily::of(arch) {
        ArchFamily::X86 => Some(Box::new(msix_platform_x86::X86Backend)),
        ArchFamily::Ppc64 => Some(Box::new(msix_platform_ppc64::Ppc64Backend)),
        ArchFamily::Arm64 => Some(Box::new(msix_platform_arm64::Arm64Backend)),
        ArchFamily::Other => None,
    }
}

cfg_if::cfg_if! {
    if #[cfg(target_arch = "x86_64")] {
        /// The backend compiled in as this build's native one (for a live host of this arch).
        pub type NativeBackend = msix_platform_x86::X86Backend;
        /// The architecture this build runs on, as `uname -m` names it.
        pub const NATIVE_ARCH: &str = "x86_64";
    } else if #[cfg(target_arch = "powerpc64")] {
        /// The backend compiled in as this build's native one (for a live host of this arch).
        pub type NativeBackend = msix_platform_ppc64::Ppc64Backend;
        /// The architecture this build runs on, as `uname -m` names it.
        pub const NATIVE_ARCH: &str = "ppc64le";
    } else if #[cfg(target_arch = "aarch64")] {
        /// The backend compiled in as this build's native one (for a live host of this arch).
        pub type NativeBackend = msix_platform_arm64::Arm64Backend;
        /// The architecture this build runs on, as `uname -m` names it.
        pub const NATIVE_ARCH: &str = "aarch64";
    } else {
        /// No platform backend is compiled in for the architecture this build runs on.
        pub const NATIVE_ARCH: &str = "unknown";
    }
}

/// The backend compiled in for the architecture this build runs on (selected with cfg-if).
pub fn native_backend() -> Option<Box<dyn PlatformBackend>> {
    cfg_if::cfg_if! {
        if #[cfg(any(target_arch = "x86_64", target_arch = "powerpc64", target_arch = "aarch64"))] {
            Some(Box::new(NativeBackend::default()))
        } else {
            None
        }
    }
}

fn unknown_platform(arch: &str, n: usize) -> PlatformAssessment {
    let ev = vec![Evidence::new("arch", format!("{arch}: no platform backend"))];
    let v =
        IsolationVerdict::unknown(policy::RuleId::PLATFORM_UNKNOWN, format!("no backend for arch {arch}"), ev.clone());
    PlatformAssessment { platform: Platform::Unknown, evidence: ev, verdicts: vec![v; n] }
}

/// Gathers every fact of a root and decides every function.
pub fn audit(root: impl AsRef<Path>, opts: &AuditOptions) -> Result<AuditReport, AuditError> {
    audit_filtered(root.as_ref(), opts, None)
}

/// Like [`audit`], for one function.
pub fn audit_device(root: impl AsRef<Path>, address: &str, opts: &AuditOptions) -> Result<DeviceReport, AuditError> {
    let report = audit_filtered(root.as_ref(), opts, Some(address))?;
    report
        .devices
        .into_iter()
        .next()
        .ok_or_else(|| AuditError::NoSuchDevice { address: address.into(), root: report.root })
}

/// The VMM entry point's input for an audited device, as a VMM on this host would hand it over:
/// the recorded config bytes, one region per BAR (MMAP where the kernel would allow it, the
/// host's MSI-X mappability on every region), the host page size, and the audited isolation
/// verdict for the host's VFIO backend. `None` when the root has no readable config for it.
pub fn vmm_input(root: &Root, report: &AuditReport, d: &DeviceReport) -> Option<policy::VmmInput> {
    use policy::{IsolationAttestation, VfioRegion, REGION_MMAP, REGION_RW};
    let mut config = root.read(&format!("{}/{}/config", backends::pci::DEVICES_DIR, d.address)).ok()?;
    // An SR-IOV VF reads Vendor/Device ID 0xFFFF in sysfs `config`; VFIO's config region shows
    // the ids the kernel gave it (drivers/vfio/pci/vfio_pci_config.c, vfio_config_init), as a
    // VMM reads them.
    if d.facts.evidence.iter().any(|e| e.source.ends_with("/physfn")) {
        for (at, id) in [(0, d.facts.vendor), (2, d.facts.device)] {
            if let (Some(id), Some(slot)) = (id, config.get_mut(at..at + 2)) {
                if slot == [0xff, 0xff] {
                    slot.copy_from_slice(&id.to_le_bytes());
                }
            }
        }
    }
    let host = &report.host;
    let mappable = host.msix_mappable.mappable.value == Some(true);
    let regions = d
        .facts
        .bars
        .iter()
        .flatten()
        .filter(|b| b.size > 0)
        .map(|b| {
            let mmap = if b.is_mmappable(host.page_size) { REGION_MMAP } else { 0 };
            VfioRegion::new(u32::from(b.index), b.size, REGION_RW | mmap).msix_mappable(mappable && b.is_memory())
        })
        .collect();
    let allow_unsafe = host.allow_unsafe_for(host.vfio_backend).and_then(|f| f.value).unwrap_or(false);
    let isolation = IsolationAttestation::Audited {
        verdict: d.decision.isolation.clone(),
        backend: host.vfio_backend,
        allow_unsafe_interrupts: allow_unsafe,
    };
    Some(
        policy::VmmInput::new(config, regions, host.page_size, isolation)
            .address(d.address.clone())
            .arch(host.arch.clone()),
    )
}

fn audit_filtered(path: &Path, opts: &AuditOptions, only: Option<&str>) -> Result<AuditReport, AuditError> {
    audit_root(&Root::open(path)?, opts, only)
}

/// Like [`audit`], over an opened [`Root`] (for instance one made `with_trace`), optionally for
/// one function only.
pub fn audit_root(root: &Root, opts: &AuditOptions, only: Option<&str>) -> Result<AuditReport, AuditError> {
    let identity: HostIdentity = backends::host::identify(root)?;
    let kernel = KernelSources::read_with(root, opts.live_probes.kernel_log);
    // One function asked for: read only its directory.
    let functions = match only {
        Some(a) => backends::pci::gather_one(root, a).into_iter().collect(),
        None => backends::pci::enumerate(root)
            .map_err(|source| AuditError::Devices { path: root.path().display().to_string(), source })?,
    };
    let ctx = HostContext { root, identity: &identity, kernel: &kernel };
    // A live host is assessed by the backend compiled in for this architecture; a recording by
    // the backend of the architecture it was recorded on.
    let backend = if root.is_live() { native_backend() } else { backend_for(&identity.arch) };
    let assessment = match backend {
        Some(b) => b.assess(&ctx, &functions),
        None => unknown_platform(&identity.arch, functions.len()),
    };
    let host = backends::host::host_facts(root, &identity, &kernel, assessment.platform);
    let mut devices = Vec::with_capacity(functions.len());
    for (f, isolation) in functions.into_iter().zip(assessment.verdicts.iter()) {
        let decision = policy::decide(policy::DecisionInput {
            host: &host,
            device: &f.facts,
            isolation,
            guest: opts.guest,
            overrides: &opts.overrides,
            layout: opts.layout,
        })?;
        devices.push(DeviceReport { address: f.facts.address.clone(), facts: f.facts, decision });
    }
    let mut host_evidence = identity.evidence.clone();
    host_evidence.extend([
        kernel.cmdline.evidence.clone(),
        kernel.interrupts.evidence.clone(),
        kernel.dmesg.evidence.clone(),
    ]);
    Ok(AuditReport {
        root: root.path().display().to_string(),
        live: root.is_live(),
        source: identity.fixture.as_ref().and_then(|f| f.source.clone()),
        host,
        host_evidence,
        platform_evidence: assessment.evidence,
        kvm: (root.is_live() && opts.live_probes.kvm).then(|| vfio::kvm::probe(root)),
        devices,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_native_backend_is_this_architectures() {
        let native = super::native_backend().map(|b| b.name());
        let expected = super::backend_for(super::NATIVE_ARCH).map(|b| b.name());
        assert_eq!(native, expected);
        #[cfg(target_arch = "powerpc64")]
        assert_eq!(native, Some("ppc64"));
        #[cfg(target_arch = "aarch64")]
        assert_eq!(native, Some("arm64"));
        #[cfg(target_arch = "x86_64")]
        assert_eq!(native, Some("x86"));
    }

    #[test]
    fn the_live_page_size_comes_from_the_running_kernel() {
        // Under qemu-user this is the emulated target's page size, never a build-time constant.
        let id = crate::backends::host::live_identity();
        assert!(id.page_size.is_power_of_two() && id.page_size >= 4096, "{}", id.page_size);
        assert_eq!(id.page_size, rustix::param::page_size() as u64);
    }
}
