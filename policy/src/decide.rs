//! The decision of `docs/policy.md`, step by step. Facts in, `Decision` out; no I/O.

use crate::decision::{Decision, Exposure, GuestProfile, GuestSelection, Reason, Risk};
use crate::facts::{
    DeviceFacts, Evidence, HeaderKind, HostFacts, IsolationVerdict, MappableSource, MsixCapability, MsixFacts,
    VfioBackend,
};
use crate::kernel::{KernelVersion, Type1MsiCheck};
use crate::overrides::{Effective, OverrideError, Overrides};
use crate::plan::{self, LayoutOptions, MappingPlan};
use crate::rules::RuleId;

/// Everything `decide` needs for one device.
#[derive(Debug, Clone, Copy)]
pub struct DecisionInput<'a> {
    /// The host the device sits in.
    pub host: &'a HostFacts,
    /// The device to decide for.
    pub device: &'a DeviceFacts,
    /// The platform backend's (or the VMM's) isolation verdict for this device.
    pub isolation: &'a IsolationVerdict,
    /// How the guest programs MSI-X, or `Auto` to derive it from the host.
    pub guest: GuestSelection,
    /// The operator's overrides (empty by default); they may only make the decision safer.
    pub overrides: &'a Overrides,
    /// Whose BAR layout a relocation follows, and what it may change.
    pub layout: LayoutOptions,
}

/// Why `decide` gave no decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecideError {
    /// An operator override would loosen the decision the facts allow.
    #[error(transparent)]
    Override(#[from] OverrideError),
    /// The facts themselves are impossible; the field is named.
    #[error("invalid facts: {0}")]
    InvalidFacts(#[from] crate::facts::FactsError),
}

/// Resolves `auto`: a POWER host runs PAPR guests, everything else writes the table.
pub fn resolve_guest(host: &HostFacts, selection: GuestSelection) -> (GuestProfile, Reason) {
    let (profile, how) = match selection {
        GuestSelection::Paravirtual => (GuestProfile::Paravirtual, "chosen by the VMM"),
        GuestSelection::DirectTableWrites => (GuestProfile::DirectTableWrites, "chosen by the VMM"),
        GuestSelection::Auto if host.platform.runs_papr_guests() || host.arch.starts_with("ppc64") => {
            (GuestProfile::Paravirtual, "derived: a POWER host runs PAPR guests")
        }
        GuestSelection::Auto => (GuestProfile::DirectTableWrites, "derived: x86 and arm64 guests write the table"),
    };
    let rule = match profile {
        GuestProfile::Paravirtual => RuleId::GUEST_PARAVIRTUAL,
        GuestProfile::DirectTableWrites => RuleId::GUEST_DIRECT,
    };
    let ev = Evidence::new("guest", format!("{how} (host {} / {})", host.arch, host.platform.label()));
    (profile, Reason::new(rule, how, vec![ev]))
}

/// Decides how the device's MSI-X table is exposed. Fails when the facts are impossible (a page
/// size that is not a power of two of at least 4 KiB, duplicate or out-of-range BARs) or when an
/// override would loosen the decision the facts allow.
pub fn decide(input: DecisionInput<'_>) -> Result<Decision, DecideError> {
    // A known device fault is corrected before anything looks at the table's position.
    let quirk = crate::quirks::apply(input.device);
    decide_quirked(input, quirk.as_ref())
}

/// [`decide`] for a device whose quirk was already looked up (`quirk`: the corrected facts and
/// the reason that cites the correction), so a caller that also needs the corrected facts (the
/// VMM entry point, for the layout) applies the quirks once.
pub(crate) fn decide_quirked(
    input: DecisionInput<'_>,
    quirk: Option<&(DeviceFacts, Reason)>,
) -> Result<Decision, DecideError> {
    let DecisionInput { host, device, isolation, guest, overrides, layout } = input;
    crate::facts::check_page_size(host.page_size)?;
    device.check_bars()?;
    let (device, quirk_reason) = match quirk {
        Some((fixed, reason)) => (fixed, Some(reason.clone())),
        None => (device, None),
    };
    let page = host.page_size;
    let (guest, guest_reason) = resolve_guest(host, guest);
    let mut d = Decision {
        address: device.address.clone(),
        guest,
        isolation: isolation.clone(),
        assignable: false,
        exposure: Exposure::Refuse,
        risk: Risk::None,
        plan: None,
        reasons: vec![Reason::new(isolation.rule().clone(), isolation.summary(), isolation.evidence().to_vec())],
        warnings: Vec::new(),
    };

    let effective = overrides.for_device(device);

    // Assignability: can VFIO assign it at all?
    let Some(unsafe_assign) = assignability(host, device, isolation, &mut d.reasons) else {
        return Ok(finish(d, device, page, Exposure::Refuse, effective, &layout)?);
    };
    d.assignable = true;
    d.reasons.push(guest_reason);
    let Some(_) = device.bars else {
        d.assignable = false;
        let ev = evidence_named(device, "resource");
        d.reasons.push(Reason::new(RuleId::DEVICE_BARS_UNKNOWN, "no BARs, no plan", ev));
        return Ok(finish(d, device, page, Exposure::Refuse, effective, &layout)?);
    };

    d.reasons.extend(quirk_reason);

    // Exposure.
    let step3 = Step3 { host, device, isolation, guest, effective: &effective, layout };
    let (exposure, plan, claimed) = step3.exposure(&mut d);
    d.plan = Some(plan);
    let mut d = finish(d, device, page, exposure, effective, &layout)?;

    // Risk.
    assess_risk(&mut d, unsafe_assign, claimed);
    plan_warnings(&mut d, device, page);
    Ok(d)
}

/// What the exposure reads, for any MSI-X state.
struct Step3<'a> {
    host: &'a HostFacts,
    device: &'a DeviceFacts,
    isolation: &'a IsolationVerdict,
    guest: GuestProfile,
    effective: &'a Effective,
    layout: LayoutOptions,
}

impl Step3<'_> {
    /// The exposure and its plan; `true` when the table is trapped where the capability claims
    /// it is (a layout the spec forbids, on an isolated device).
    fn exposure(&self, d: &mut Decision) -> (Exposure, MappingPlan, bool) {
        let Step3 { host, device, isolation, guest, effective, layout } = *self;
        let page = host.page_size;
        match &device.msix {
            MsixFacts::Absent => {
                d.reasons.push(Reason::new(
                    RuleId::DEVICE_NO_MSIX,
                    "no MSI-X capability in the list",
                    evidence_named(device, "config"),
                ));
                d.reasons.push(Reason::new(RuleId::EXPOSURE_NONE, "every memory BAR is mapped", vec![]));
                (Exposure::None, plan::map_all_plan(device, page), false)
            }
            MsixFacts::Unknown { rule, why } => {
                d.reasons.push(Reason::new(rule.clone(), why.clone(), evidence_named(device, "config")));
                d.reasons.push(Reason::new(RuleId::EXPOSURE_TRAP_UNKNOWN_MSIX, "every memory BAR traps", vec![]));
                (Exposure::Trap, plan::trap_everything_plan(device, page), false)
            }
            MsixFacts::Present { capability } => match MappingPlan::trap(device, capability, page) {
                Err(e) => self.forbidden_layout(capability, &e, d),
                Ok(trap) => {
                    let ctx = Context { host, device, cap: capability, isolation, guest, effective, layout };
                    let (exposure, plan) = ctx.choose_exposure(trap, d);
                    (exposure, plan, false)
                }
            },
        }
    }

    /// A table or PBA the spec forbids where it is (outside its BAR, in an I/O or absent BAR).
    fn forbidden_layout(
        &self,
        cap: &MsixCapability,
        e: &plan::PlanError,
        d: &mut Decision,
    ) -> (Exposure, MappingPlan, bool) {
        let (device, page) = (self.device, self.host.page_size);
        let problems = plan::msix_location_problems(device, cap);
        let what: Vec<String> =
            if problems.is_empty() { vec![e.to_string()] } else { problems.iter().map(ToString::to_string).collect() };
        d.reasons.push(Reason::new(RuleId::DEVICE_MSIX_OUT_OF_BAR, what.join("; "), evidence_named(device, "config")));
        // A table whose BIR names a known BAR is trapped as claimed on an isolated device: the
        // claimed pages inside a memory BAR, a whole memory BAR the table lies past, nothing for
        // an I/O BAR (forwarded like every I/O BAR). A BIR naming no known BAR (absent, or BARs
        // that could not be read) leaves the table's place unknown, and unknown never means safe.
        if self.isolation.is_isolated() && plan::table_bar_known(device, cap) {
            let bir = cap.table_bir;
            let table_bar = device.bar(bir);
            let claim = match table_bar {
                Some(b) if !b.is_memory() => format!(
                    "the table is claimed in I/O BAR{bir}, forwarded to the device like every I/O BAR: no \
                     memory BAR holds it, so only PBA pages claimed in a memory BAR trap"
                ),
                Some(b) if u64::from(cap.table_offset) >= b.size => format!(
                    "the table lies wholly past BAR{bir}: that whole BAR traps (the device decodes only \
                     its low address bits, so the table may answer at an alias in it)"
                ),
                _ => "the pages it claims inside a memory BAR trap".to_string(),
            };
            // Isolation confines whatever the guest does to the table, wherever it really is.
            d.reasons.push(Reason::new(
                RuleId::EXPOSURE_TRAP_MSIX_AS_CLAIMED,
                format!("the spec forbids this layout ({}): {claim}, every other page is mapped", what.join("; ")),
                vec![],
            ));
            (Exposure::Trap, plan::claimed_trap_plan(device, cap, page), true)
        } else {
            d.reasons.push(Reason::new(RuleId::EXPOSURE_TRAP_UNKNOWN_MSIX, "every memory BAR traps", vec![]));
            (Exposure::Trap, plan::trap_everything_plan(device, page), false)
        }
    }
}

/// The risk: who can be hurt through the device's MSI-X.
fn assess_risk(d: &mut Decision, unsafe_assign: bool, claimed: bool) {
    d.risk = if d.exposure == Exposure::Refuse {
        Risk::None // an override refused it: nothing is assigned
    } else if unsafe_assign {
        Risk::Unsafe
    } else if matches!(d.exposure, Exposure::Passthrough | Exposure::Relocate)
        || (claimed && d.exposure == Exposure::Trap)
    {
        Risk::SelfOnly
    } else {
        Risk::None
    };
    let risk_rule = match d.risk {
        Risk::None => RuleId::RISK_NONE,
        Risk::SelfOnly => RuleId::RISK_SELF_ONLY,
        Risk::Unsafe => RuleId::RISK_UNSAFE,
    };
    d.reasons.push(Reason::new(risk_rule, d.risk.as_str(), vec![]));
}

/// Assignability. `None`: refused (reason pushed). `Some(unsafe)`: assignable, possibly only because
/// allow_unsafe_interrupts is set.
fn assignability(
    host: &HostFacts,
    device: &DeviceFacts,
    isolation: &IsolationVerdict,
    reasons: &mut Vec<Reason>,
) -> Option<bool> {
    if matches!(device.header, HeaderKind::Bridge | HeaderKind::CardBus) {
        reasons.push(Reason::new(RuleId::ASSIGN_BRIDGE, "header type is a bridge", evidence_named(device, "config")));
        return None;
    }
    if device.iommu_group.is_none() {
        reasons.push(Reason::new(
            RuleId::ASSIGN_NO_GROUP,
            "no iommu_group link",
            evidence_named(device, "iommu_group"),
        ));
        return None;
    }
    // A vfio-noiommu group can never back a VM: no IOMMU backend takes it (the container offers
    // only the noiommu backend, which has no DMA or MSI protection at all), whatever
    // allow_unsafe_interrupts says.
    if let Some(ev) = &device.noiommu {
        let detail = "the IOMMU group is a vfio-noiommu group (enable_unsafe_noiommu_mode): no IOMMU backend can \
                      take it for a VM; DMA and MSIs are unprotected";
        reasons.push(Reason::new(RuleId::ASSIGN_NOIOMMU, detail, vec![ev.clone()]));
        return None;
    }
    // Which backend the decision assumes, where the host offers a choice or leaves type1 out.
    let mut backend_ev: Vec<Evidence> = host.vfio_backends.assumed.iter().cloned().collect();
    // Where both exist, say what the other backend (iommufd) would decide for this device.
    if !backend_ev.is_empty() && host.vfio_backend == VfioBackend::Type1 && host.iommufd.value == Some(true) {
        let other = if isolation.is_isolated() {
            "iommufd would bind it too (isolated MSIs)"
        } else if host.iommufd_allow_unsafe_interrupts.value == Some(true) {
            "iommufd would bind it only through its own allow_unsafe_interrupts=Y (risk unsafe)"
        } else {
            "iommufd would refuse to bind it (EPERM: no isolated MSIs, its allow_unsafe_interrupts is not Y)"
        };
        backend_ev.push(Evidence::new("vfio backends: iommufd", other));
    }
    if host.vfio_backend == VfioBackend::Iommufd
        && KernelVersion::parse(&host.kernel).is_some_and(|v| !v.offers_vfio_cdev())
    {
        let detail = format!(
            "kernel {} is before {}: no VFIO device cdev, so the device cannot be bound to iommufd",
            host.kernel,
            KernelVersion::VFIO_CDEV
        );
        reasons.push(Reason::new(RuleId::KERNEL_IOMMUFD_ABSENT, detail, vec![kernel_evidence(host)]));
        return None;
    }
    if isolation.is_isolated() {
        reasons.push(Reason::new(RuleId::ASSIGN_ISOLATED, "the IOMMU backend will accept the group", backend_ev));
        type1_kernel_rule(host, true, reasons);
        return Some(false);
    }
    let (allow_rule, refused_rule, refusal) = match host.vfio_backend {
        VfioBackend::Type1 => {
            (RuleId::ASSIGN_ALLOW_UNSAFE, RuleId::ASSIGN_REFUSED_TYPE1, "VFIO_SET_IOMMU fails with EPERM")
        }
        VfioBackend::Iommufd => (
            RuleId::ASSIGN_IOMMUFD_ALLOW_UNSAFE,
            RuleId::ASSIGN_REFUSED_IOMMUFD,
            "binding the VFIO cdev to iommufd fails with EPERM",
        ),
        // sPAPR TCE has no allow_unsafe_interrupts: nothing makes a non-isolated device assignable.
        VfioBackend::SpaprTce => {
            reasons.push(Reason::new(
                RuleId::ASSIGN_REFUSED_SPAPR,
                "isolation not established on a sPAPR TCE host",
                vec![],
            ));
            return None;
        }
    };
    let param = host.allow_unsafe_for(host.vfio_backend)?;
    let ev: Vec<Evidence> = std::iter::once(param.evidence.clone()).chain(backend_ev).collect();
    if param.value == Some(true) {
        reasons.push(Reason::new(allow_rule, "assignable only because allow_unsafe_interrupts=Y", ev));
        type1_kernel_rule(host, false, reasons);
        Some(true)
    } else {
        let state = if param.value.is_some() { "N" } else { "unknown, taken as N" };
        reasons.push(Reason::new(refused_rule, format!("{refusal}; allow_unsafe_interrupts is {state}"), ev));
        type1_kernel_rule(host, false, reasons);
        None
    }
}

/// The host's kernel release as evidence of a version rule.
fn kernel_evidence(host: &HostFacts) -> Evidence {
    let v = KernelVersion::parse(&host.kernel).map_or_else(|| "no version".to_string(), |v| v.to_string());
    Evidence::new("host kernel", format!("{} ({v})", host.kernel))
}

/// Assignability on a type1 host whose release is known: which MSI isolation check its
/// `vfio_iommu_type1` makes (`kernel.type1.*`). It never changes the decision, which rests on the
/// device's own verdict; it says whether the kernel checks the group itself (6.3 and later) or
/// system-wide (before), so a refusal before 6.3 is msix-policy's, not necessarily the kernel's.
fn type1_kernel_rule(host: &HostFacts, isolated: bool, reasons: &mut Vec<Reason>) {
    if host.vfio_backend != VfioBackend::Type1 {
        return;
    }
    let Some(check) = KernelVersion::parse(&host.kernel).map(KernelVersion::type1_msi_check) else { return };
    let since = KernelVersion::TYPE1_GROUP_MSI_CHECK;
    let release = &host.kernel;
    let (rule, detail) = match (check, isolated) {
        (Type1MsiCheck::PerGroup, _) => (
            RuleId::KERNEL_TYPE1_PER_GROUP,
            format!(
                "kernel {release} is {since} or later: VFIO_SET_IOMMU checks this group itself (iommu_group_has_isolated_msi)"
            ),
        ),
        // x86: no irq domain sets MSI_REMAP, so IOMMU_CAP_INTR_REMAP (remapping enabled) decides.
        (Type1MsiCheck::SystemWide, _) if host.arch.starts_with("x86") || host.arch == "i686" => (
            RuleId::KERNEL_TYPE1_SYSTEM_WIDE,
            format!(
                "kernel {release} is before {since}: VFIO_SET_IOMMU checks irq_domain_check_msi_remap() || IOMMU_CAP_INTR_REMAP; on x86 no irq domain remaps MSIs, so the IOMMU's interrupt remapping decides, as the per-group check does from {since}"
            ),
        ),
        (Type1MsiCheck::SystemWide, true) => (
            RuleId::KERNEL_TYPE1_SYSTEM_WIDE,
            format!(
                "kernel {release} is before {since}: VFIO_SET_IOMMU checks irq_domain_check_msi_remap() || IOMMU_CAP_INTR_REMAP, not the group; the device's own verdict says isolated"
            ),
        ),
        (Type1MsiCheck::SystemWide, false) => (
            RuleId::KERNEL_TYPE1_SYSTEM_WIDE,
            format!(
                "kernel {release} is before {since}: VFIO_SET_IOMMU checks irq_domain_check_msi_remap() || IOMMU_CAP_INTR_REMAP, not the group, and may accept it when another MSI controller of the system remaps (an ITS); msix-policy refuses from the device's own verdict"
            ),
        ),
    };
    reasons.push(Reason::new(rule, detail, vec![kernel_evidence(host)]));
}

/// What the exposure looks at for a device whose table position is known and valid.
struct Context<'a> {
    host: &'a HostFacts,
    device: &'a DeviceFacts,
    cap: &'a MsixCapability,
    isolation: &'a IsolationVerdict,
    guest: GuestProfile,
    effective: &'a Effective,
    layout: LayoutOptions,
}

impl Context<'_> {
    /// The exposure, and the plan that realises it.
    fn choose_exposure(&self, trap: MappingPlan, d: &mut Decision) -> (Exposure, MappingPlan) {
        let Context { host, device, cap, isolation, guest, effective, layout } = *self;
        let page = host.page_size;
        let collateral = trap.collateral_bytes();
        if !isolation.is_isolated() {
            d.reasons.push(Reason::new(
                RuleId::EXPOSURE_TRAP_NOT_ISOLATED,
                "the table stays out of the guest's reach",
                vec![],
            ));
            return (Exposure::Trap, trap);
        }
        let m = &host.msix_mappable;
        let ev = vec![m.mappable.evidence.clone()];
        match (m.mappable.value, m.source) {
            (Some(true), Some(MappableSource::Probed)) => {
                d.reasons.push(Reason::new(RuleId::HOST_MAPPABLE_PROBED, "the MSI-X BAR may be mmapped", ev))
            }
            (Some(true), _) => {
                let detail = match KernelVersion::parse(&host.kernel) {
                    Some(v) => format!(
                        "kernel {} ({}) is {} or later: the MSI-X BAR may be mmapped",
                        host.kernel,
                        v,
                        KernelVersion::MSIX_BAR_MMAP
                    ),
                    None => "the MSI-X BAR may be mmapped".to_string(),
                };
                d.reasons.push(Reason::new(RuleId::HOST_MAPPABLE_INFERRED, detail, ev))
            }
            _ => {
                let detail = match (m.source, KernelVersion::parse(&host.kernel)) {
                    (Some(MappableSource::Inferred), Some(v)) if v < KernelVersion::MSIX_BAR_MMAP => format!(
                        "kernel {} ({}) is before {}: vfio-pci leaves the table pages out of the BAR's mmap",
                        host.kernel,
                        v,
                        KernelVersion::MSIX_BAR_MMAP
                    ),
                    _ => "the table pages cannot be mapped".to_string(),
                };
                d.reasons.push(Reason::new(RuleId::HOST_NOT_MAPPABLE, detail, ev));
                d.reasons.push(Reason::new(
                    RuleId::EXPOSURE_TRAP_NOT_MAPPABLE,
                    format!("{collateral} collateral bytes are served by read/write on the device fd"),
                    vec![],
                ));
                return (Exposure::Trap, trap);
            }
        }
        if guest == GuestProfile::Paravirtual {
            d.reasons.push(Reason::new(RuleId::EXPOSURE_PASSTHROUGH, "nothing traps", vec![]));
            return (Exposure::Passthrough, plan::map_all_plan(device, page));
        }
        let msix_only = plan::msix_only_trapped(device, cap, page);
        if collateral == 0 && !msix_only.is_empty() {
            let size = |i: u8| device.bar(i).map_or(0, |b| b.size);
            let dedicated: Vec<String> = msix_only
                .iter()
                .filter(|(_, _, why)| *why == plan::MsixOnly::Dedicated)
                .map(|(i, bytes, _)| {
                    format!(
                        "BAR{i} ({:#x} bytes, {bytes} trapped bytes beyond the table's and PBA's 4 KiB ranges)",
                        size(*i)
                    )
                })
                .collect();
            if !dedicated.is_empty() {
                let detail = format!(
                    "{} holds only the MSI-X table and PBA as far as the facts show: trapping its pages catches no \
                     register, so relocating would gain nothing",
                    dedicated.join(", ")
                );
                d.reasons.push(Reason::new(
                    RuleId::EXPOSURE_TRAP_DEDICATED_MSIX_BAR,
                    detail,
                    evidence_named(device, "config"),
                ));
            }
            for (i, bytes, why) in &msix_only {
                let plan::MsixOnly::DriverNeverMaps(entry) = why else { continue };
                let detail = format!(
                    "BAR{i} ({:#x} bytes, {bytes} trapped bytes that would count as collateral) holds the MSI-X \
                     table or PBA, and the device's Linux driver {} maps only {}: it holds no register the \
                     driver uses, so relocating would gain nothing",
                    size(*i),
                    entry.driver,
                    entry.maps_words()
                );
                let ev = vec![Evidence::new(
                    format!("msix-policy:driver-bars {}", entry.id),
                    format!("{:04x}:{:04x}: {}", device.vendor.unwrap_or(0), device.device.unwrap_or(0), entry.source),
                )];
                d.reasons.push(Reason::new(RuleId::EXPOSURE_TRAP_DRIVER_UNMAPPED_BAR, detail, ev));
            }
            return (Exposure::Trap, trap);
        }
        if collateral == 0 {
            let detail = format!("trapping {} bytes costs no other register", trap.trapped_bytes());
            d.reasons.push(Reason::new(RuleId::EXPOSURE_TRAP_GUEST_WRITES, detail, vec![]));
            return (Exposure::Trap, trap);
        }
        if effective.forbid_relocation {
            let ev = effective.evidence();
            d.reasons.push(Reason::new(
                RuleId::OVERRIDE_NO_RELOCATION,
                format!("{collateral} collateral bytes stay trapped"),
                ev,
            ));
            return (Exposure::Trap, trap);
        }
        if !layout.relocation.allows_any() {
            d.reasons.push(Reason::new(
                RuleId::LAYOUT_NO_RELOCATION,
                format!("the VMM forbids relocation: {collateral} collateral bytes stay trapped"),
                vec![],
            ));
            return (Exposure::Trap, trap);
        }
        match MappingPlan::relocate(device, cap, page, &layout).and_then(|p| p.relocation.map(|r| (p, r))) {
            Some((reloc, r)) if reloc.collateral_bytes() < collateral => {
                let spared: Vec<&str> = trap.hot_trapped().map(|h| h.what.as_str()).collect();
                let spared =
                    if spared.is_empty() { String::new() } else { format!(" ({} no longer trap)", spared.join(", ")) };
                let detail = format!(
                    "{collateral} collateral bytes would trap{spared}; virtual table in BAR{} ({}) at {:#x}",
                    r.bar, r.origin, r.table_offset
                );
                d.reasons.push(Reason::new(RuleId::EXPOSURE_RELOCATE, detail, vec![]));
                (Exposure::Relocate, reloc)
            }
            _ => {
                d.reasons.push(Reason::new(
                    RuleId::EXPOSURE_TRAP_NO_SLOT,
                    format!("{collateral} collateral bytes stay trapped ({} layout)", layout.mode.as_str()),
                    vec![],
                ));
                (Exposure::Trap, trap)
            }
        }
    }
}

/// Applies the override cap and fills in the exposure. A cap below what the facts allow is an
/// error; a cap above makes the decision safer.
fn finish(
    mut d: Decision,
    device: &DeviceFacts,
    page: u64,
    exposure: Exposure,
    effective: Effective,
    layout: &LayoutOptions,
) -> Result<Decision, OverrideError> {
    d.exposure = exposure;
    if exposure == Exposure::Refuse {
        d.plan = None;
        d.reasons.push(Reason::new(RuleId::EXPOSURE_REFUSE, "no plan", vec![]));
    }
    let Some(cap) = effective.exposure else { return Ok(d) };
    if exposure == Exposure::None && cap != Exposure::Refuse {
        return Ok(d); // no table: nothing an override could loosen or tighten
    }
    if cap.safety() < exposure.safety() || (cap == Exposure::None && exposure != Exposure::None) {
        let limiting = d
            .reasons
            .iter()
            .rev()
            .find(|r| r.rule != RuleId::EXPOSURE_REFUSE && matches!(r.rule.step(), "exposure" | "assign"));
        return Err(OverrideError::Loosening {
            device: d.address.clone(),
            requested: cap.as_str().into(),
            allowed: exposure.as_str().into(),
            rule: limiting.map_or_else(|| "exposure".to_string(), |r| r.rule.to_string()),
        });
    }
    if cap.safety() == exposure.safety() {
        return Ok(d);
    }
    let ev = effective.evidence();
    d.reasons.push(Reason::new(
        RuleId::OVERRIDE_EXPOSURE,
        format!("{} capped to {}", exposure.as_str(), cap.as_str()),
        ev,
    ));
    d.exposure = cap;
    let capped_plan = match (cap, &device.msix) {
        (Exposure::Trap, MsixFacts::Present { capability }) => MappingPlan::trap(device, capability, page).ok(),
        (Exposure::Relocate, MsixFacts::Present { capability }) => {
            MappingPlan::relocate(device, capability, page, layout)
        }
        _ => None,
    };
    match (cap, capped_plan) {
        (Exposure::Refuse, _) => {
            d.assignable = false;
            d.plan = None;
        }
        (_, Some(p)) => d.plan = Some(p),
        // No room to relocate: the next safer exposure is Trap.
        (Exposure::Relocate, None) => {
            d.exposure = Exposure::Trap;
            if let MsixFacts::Present { capability } = &device.msix {
                d.plan = MappingPlan::trap(device, capability, page).ok();
            }
        }
        _ => {}
    }
    Ok(d)
}

fn plan_warnings(d: &mut Decision, device: &DeviceFacts, page: u64) {
    let Some(plan) = &d.plan else { return };
    let hot: Vec<_> = plan.hot_trapped().cloned().collect();
    for h in hot {
        let detail = format!(
            "{} (BAR{} {:#x}+{:#x}) shares a trapped {} KiB page: every access exits",
            h.what,
            h.bar,
            h.offset,
            h.length,
            page / 1024
        );
        d.warnings.push(detail.clone());
        d.reasons.push(Reason::new(RuleId::PLAN_HOT_TRAPPED, detail, vec![]));
    }
    for b in device.bars.iter().flatten().filter(|b| b.is_memory() && b.size > 0) {
        if plan::mmap_windows(device, b, page) == [(0, b.size)] {
            continue;
        }
        let (rule, detail, ev) = match device.mmap_areas(b.index) {
            Some(areas) => (
                RuleId::PLAN_REGION_NOT_MMAPPABLE,
                format!(
                    "BAR{} ({:#x} bytes): VFIO lets only {:x?} be mmapped; the rest traps",
                    b.index,
                    b.size,
                    areas.iter().map(|a| (a.offset, a.size)).collect::<Vec<_>>()
                ),
                vec![Evidence::new(format!("vfio:region-info BAR{}", b.index), "MMAP flag and sparse mmap areas")],
            ),
            None => (
                RuleId::PLAN_SUBPAGE_BAR,
                format!(
                    "BAR{} ({:#x} bytes at {:#x}) is smaller than a page and off a page boundary",
                    b.index, b.size, b.start
                ),
                evidence_named(device, "resource"),
            ),
        };
        d.warnings.push(detail.clone());
        d.reasons.push(Reason::new(rule, detail, ev));
    }
    if let MsixFacts::Present { capability } = &device.msix {
        if capability.table_and_pba_overlap() {
            let detail = format!(
                "the MSI-X table (BAR{} {:#x}+{:#x}) and PBA (BAR{} {:#x}+{:#x}) overlap",
                capability.table_bir,
                capability.table_offset,
                capability.table_bytes(),
                capability.pba_bir,
                capability.pba_offset,
                capability.pba_bytes()
            );
            d.warnings.push(detail.clone());
            d.reasons.push(Reason::new(
                RuleId::DEVICE_MSIX_TABLE_PBA_OVERLAP,
                detail,
                evidence_named(device, "config"),
            ));
        }
        for h in plan::windows_sharing_msix_4k(device, capability) {
            let detail = format!(
                "{} (BAR{} {:#x}) lies inside a 4 KiB range of the MSI-X table or PBA",
                h.what, h.bar, h.offset
            );
            d.warnings.push(detail.clone());
            d.reasons.push(Reason::new(RuleId::DEVICE_SHARES_4K, detail, evidence_named(device, "config")));
        }
    }
}

/// The device evidence whose source ends with `/name`.
fn evidence_named(device: &DeviceFacts, name: &str) -> Vec<Evidence> {
    device.evidence.iter().filter(|e| e.source.rsplit('/').next() == Some(name)).cloned().collect()
}
