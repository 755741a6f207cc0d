//! The kernel matrix (docs/lab/kernel-matrix.md): each lab machine recorded with the kernels of
//! Debian 11 (5.10), 12 (6.1) and 13 (6.12) decides as docs/policy.md says on every generation,
//! and each generation cites its own kernel rules (`kernel.*`, `host.msix-mappable.*`).

mod common;

use std::path::PathBuf;

use msix_policy::policy::{Exposure, MsixFacts, Risk, RuleId, VfioBackend};
use msix_policy::policy::{KernelVersion, Type1MsiCheck};
use msix_policy::{audit, AuditOptions, AuditReport};

/// Kernel generations of the matrix; 6.1 (Debian 12) recordings keep the machine's plain name.
const GENERATIONS: [&str; 3] = ["5.10", "6.1", "6.12"];

fn fixture_of(machine: &str, generation: &str) -> PathBuf {
    if generation == "6.1" {
        common::fixture(&format!("qemu/{machine}"))
    } else {
        common::fixture(&format!("qemu/{machine}@{generation}"))
    }
}

/// Every recorded generation of a machine, audited.
fn generations(machine: &str) -> Vec<(&'static str, AuditReport)> {
    let out: Vec<_> = GENERATIONS
        .iter()
        .filter(|g| fixture_of(machine, g).join("fixture.toml").is_file())
        .map(|g| (*g, audit(fixture_of(machine, g), &AuditOptions::default()).unwrap()))
        .collect();
    assert!(out.len() >= 2, "{machine}: expected at least two kernel generations, found {}", out.len());
    out
}

/// The recorded kernel is the generation the fixture is named after, and the type1 rule cited on
/// every assignable or type1-refused device is the one of that generation; iommufd is not offered
/// before 6.6.
fn check_generation(machine: &str, generation: &str, r: &AuditReport) {
    let v = KernelVersion::parse(&r.host.kernel).unwrap_or_else(|| panic!("{machine}: kernel {:?}", r.host.kernel));
    assert_eq!(v.to_string(), generation, "{machine}@{generation}: fixture.toml records kernel {}", r.host.kernel);
    if v < KernelVersion::VFIO_CDEV {
        assert_eq!(r.host.iommufd.value, Some(false), "{machine}@{generation}: iommufd offered before 6.6");
        assert!(r.host.iommufd.evidence.observed.contains("before 6.6"), "{:?}", r.host.iommufd.evidence);
    } else {
        assert_ne!(r.host.iommufd.value, Some(false), "{machine}@{generation}: iommufd denied on {}", r.host.kernel);
    }
    let (want, other) = match KernelVersion::parse(&r.host.kernel).unwrap().type1_msi_check() {
        Type1MsiCheck::SystemWide => (RuleId::KERNEL_TYPE1_SYSTEM_WIDE, RuleId::KERNEL_TYPE1_PER_GROUP),
        Type1MsiCheck::PerGroup => (RuleId::KERNEL_TYPE1_PER_GROUP, RuleId::KERNEL_TYPE1_SYSTEM_WIDE),
    };
    assert_eq!(r.host.vfio_backend, VfioBackend::Type1);
    for d in &r.devices {
        let dec = &d.decision;
        assert!(!dec.fired(&other), "{machine}@{generation} {}: cites {other} on {}", d.address, r.host.kernel);
        let type1_step = dec.fired(RuleId::ASSIGN_ISOLATED)
            || dec.fired(RuleId::ASSIGN_REFUSED_TYPE1)
            || dec.fired(RuleId::ASSIGN_ALLOW_UNSAFE);
        assert_eq!(dec.fired(&want), type1_step, "{machine}@{generation} {}: {want} with the type1 step", d.address);
        if let Some(reason) = dec.reasons.iter().find(|x| x.rule == want) {
            assert!(reason.detail.contains(&r.host.kernel), "{}", reason.detail);
        }
        if let Some(m) = dec.reasons.iter().find(|x| x.rule == RuleId::HOST_MAPPABLE_INFERRED) {
            assert!(m.detail.contains("is 4.16 or later"), "{}", m.detail);
        }
    }
}

/// Devices with an MSI-X table (the ones whose decision matters).
fn msix_devices(r: &AuditReport) -> impl Iterator<Item = &msix_policy::DeviceReport> {
    r.devices.iter().filter(|d| matches!(d.facts.msix, MsixFacts::Present { .. }))
}

/// The decision of every device, without the reasons: what must not change between kernels
/// unless a kernel rule changes it.
fn decisions(r: &AuditReport) -> Vec<(String, &'static str, bool, Exposure, Risk)> {
    r.devices
        .iter()
        .map(|d| {
            let x = &d.decision;
            (d.address.clone(), x.isolation.status(), x.assignable, x.exposure, x.risk)
        })
        .collect()
}

fn isolated_machine(machine: &str, isolation_rule: RuleId) {
    let gens = generations(machine);
    for (g, r) in &gens {
        check_generation(machine, g, r);
        assert!(msix_devices(r).count() >= 2, "{machine}@{g}: the lab's e1000e and nvme have MSI-X");
        for d in msix_devices(r) {
            let dec = &d.decision;
            assert_eq!(dec.isolation.rule(), isolation_rule, "{machine}@{g} {}", d.address);
            assert!(dec.assignable, "{machine}@{g} {}: isolated devices are assignable", d.address);
            assert!(dec.fired(RuleId::ASSIGN_ISOLATED));
            assert_ne!(dec.exposure, Exposure::Passthrough, "{machine}@{g}: the guest writes its table");
            assert_ne!(dec.risk, Risk::Unsafe);
        }
    }
    let first = decisions(&gens[0].1);
    for (g, r) in &gens[1..] {
        assert_eq!(decisions(r), first, "{machine}: {g} decides otherwise than {}", gens[0].0);
    }
}

fn refused_machine(machine: &str, isolation_rule: RuleId, refusal: RuleId) {
    let gens = generations(machine);
    for (g, r) in &gens {
        check_generation(machine, g, r);
        for d in msix_devices(r) {
            let dec = &d.decision;
            assert_eq!(dec.isolation.rule(), isolation_rule, "{machine}@{g} {}", d.address);
            assert_eq!(dec.exposure, Exposure::Refuse, "{machine}@{g} {}", d.address);
            assert!(dec.fired(&refusal), "{machine}@{g} {}: {refusal}", d.address);
            assert!(dec.plan.is_none());
        }
    }
    let first = decisions(&gens[0].1);
    for (g, r) in &gens[1..] {
        assert_eq!(decisions(r), first, "{machine}: {g} decides otherwise than {}", gens[0].0);
    }
}

#[test]
fn vtd_with_remapping_is_isolated_on_every_kernel() {
    isolated_machine("x86-q35-vtd-ir", RuleId::VTD_IR_ENABLED);
}

#[test]
fn vtd_vfio_is_isolated_on_every_kernel() {
    isolated_machine("x86-q35-vtd-vfio", RuleId::VTD_IR_ENABLED);
}

#[test]
fn amdvi_is_isolated_on_every_kernel() {
    isolated_machine("x86-q35-amdvi", RuleId::AMDVI_IR_ENABLED);
}

#[test]
fn arm64_its_is_isolated_on_every_kernel() {
    isolated_machine("arm64-virt-its-smmuv3", RuleId::ARM64_ITS);
}

#[test]
fn intremap_off_is_refused_on_every_kernel() {
    refused_machine("x86-q35-vtd-intremap-off", RuleId::VTD_INTREMAP_OFF, RuleId::ASSIGN_REFUSED_TYPE1);
}

#[test]
fn no_iommu_is_refused_on_every_kernel() {
    refused_machine("x86-q35-no-iommu", RuleId::X86_NO_IOMMU, RuleId::ASSIGN_NO_GROUP);
}

/// The rules a generation boundary changes, on the recorded hosts themselves: the iommufd backend
/// asked of a pre-6.6 host refuses, and a pre-4.16 release names the MSI-X mmap rule.
#[test]
fn version_rules_decide_on_recorded_facts() {
    let r = audit(fixture_of("x86-q35-vtd-ir", "6.1"), &AuditOptions::default()).unwrap();
    let nvme = r.devices.iter().find(|d| d.facts.vendor == Some(0x1b36)).expect("the lab's nvme");
    let decide = |host: &msix_policy::policy::HostFacts| {
        msix_policy::policy::decide(msix_policy::policy::DecisionInput {
            host,
            device: &nvme.facts,
            isolation: &nvme.decision.isolation,
            guest: Default::default(),
            overrides: &Default::default(),
            layout: Default::default(),
        })
        .unwrap()
    };
    let mut iommufd = r.host.clone();
    iommufd.vfio_backend = VfioBackend::Iommufd;
    let d = decide(&iommufd);
    assert_eq!(d.exposure, Exposure::Refuse);
    assert!(d.fired(RuleId::KERNEL_IOMMUFD_ABSENT), "{:?}", d.reasons);
    iommufd.kernel = "6.12.117+deb13-amd64".into();
    let d = decide(&iommufd);
    assert!(d.assignable && !d.fired(RuleId::KERNEL_IOMMUFD_ABSENT));
    assert!(!d.fired(RuleId::KERNEL_TYPE1_PER_GROUP), "no type1 rule on an iommufd host");

    let mut old = r.host.clone();
    old.kernel = "4.15.0-20-generic".into();
    old.msix_mappable.mappable.value = Some(false);
    old.msix_mappable.source = Some(msix_policy::policy::MappableSource::Inferred);
    let d = decide(&old);
    let why = d.reasons.iter().find(|x| x.rule == RuleId::HOST_NOT_MAPPABLE).expect("host.msix-not-mappable");
    assert!(why.detail.contains("is before 4.16"), "{}", why.detail);
    assert!(d.fired(RuleId::KERNEL_TYPE1_SYSTEM_WIDE));
}
