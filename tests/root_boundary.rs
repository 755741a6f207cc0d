//! A fixture whose links point outside it is read as unknown, with a reason, and decided safely.

mod common;

use msix_policy::policy::{Exposure, RuleId};
use msix_policy::{audit, AuditOptions};

#[test]
fn a_link_planted_to_a_file_outside_the_fixture_is_unknown() {
    let t = common::copy_fixture("synthetic/x86-vtd-ir");
    // A file outside the fixture that would parse as a real config with MSI-X.
    let outside = t.path().join("outside-config");
    std::fs::copy(common::fixture("synthetic/x86-vtd-ir/sys/bus/pci/devices/0000:00:02.0/config"), &outside).unwrap();
    let cfg = t.root().join("sys/bus/pci/devices/0000:00:02.0/config");
    std::fs::remove_file(&cfg).unwrap();
    std::os::unix::fs::symlink("../../../../../../outside-config", &cfg).unwrap();
    // And a group link that climbs out.
    let grp = t.root().join("sys/bus/pci/devices/0000:00:04.0/iommu_group");
    std::fs::remove_file(&grp).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../../../etc", &grp).unwrap();

    let r = audit(t.root(), &AuditOptions::default()).unwrap();
    let e1000e = r.device("0000:00:02.0").unwrap();
    let ev = e1000e.facts.evidence.iter().find(|e| e.source.ends_with("/config")).unwrap();
    assert!(ev.observed.contains("outside the root"), "{ev:?}");
    assert_eq!(e1000e.decision.exposure, Exposure::Trap);
    assert!(e1000e.decision.fired(RuleId::DEVICE_CONFIG_UNREADABLE));
    // The group link's target is only read as text; "etc" is no group number, so no group.
    let nvme = r.device("0000:00:04.0").unwrap();
    assert_eq!(nvme.decision.exposure, Exposure::Refuse);
    assert!(nvme.decision.fired(RuleId::ASSIGN_NO_GROUP));
}

#[test]
fn missing_kernel_sources_make_vtd_unknown_with_a_reason_naming_them() {
    let t = common::copy_fixture("synthetic/x86-vtd-ir");
    std::fs::remove_file(t.root().join("proc/interrupts")).unwrap();
    std::fs::remove_file(t.root().join("dmesg.txt")).unwrap();
    std::fs::remove_file(t.root().join("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts")).unwrap();
    let r = audit(t.root(), &AuditOptions::default()).unwrap();
    for d in &r.devices {
        assert_eq!(d.decision.isolation.status(), "unknown", "{}", d.address);
        assert_eq!(d.decision.isolation.rule(), RuleId::VTD_IR_UNKNOWN);
        let sources: Vec<String> =
            d.decision.isolation.evidence().iter().map(|e| format!("{}: {}", e.source, e.observed)).collect();
        assert!(sources.iter().any(|s| s.starts_with("proc/interrupts: missing")), "{sources:?}");
        assert!(sources.iter().any(|s| s.starts_with("dmesg.txt: missing")), "{sources:?}");
        // Unknown isolation and unknown allow_unsafe_interrupts: refused, and the reason says so.
        assert_eq!(d.decision.exposure, Exposure::Refuse);
        if d.decision.fired(RuleId::ASSIGN_REFUSED_TYPE1) {
            let r = d.decision.reasons.iter().find(|r| r.rule == RuleId::ASSIGN_REFUSED_TYPE1).unwrap();
            assert!(r.detail.contains("unknown, taken as N"), "{}", r.detail);
        }
    }
}

#[test]
fn a_device_node_planted_in_a_fixture_is_never_opened() {
    let t = common::copy_fixture("synthetic/x86-vtd-ir");
    let cfg = t.root().join("sys/bus/pci/devices/0000:00:02.0/config");
    std::fs::remove_file(&cfg).unwrap();
    // /dev/null's numbers: harmless if opened, but it must not be.
    let made = std::process::Command::new("mknod").arg(&cfg).args(["c", "1", "3"]).status().is_ok_and(|s| s.success());
    if !made {
        eprintln!("SKIPPED: mknod needs root");
        return;
    }
    let r = audit(t.root(), &AuditOptions::default()).unwrap();
    let d = r.device("0000:00:02.0").unwrap();
    let ev = d.facts.evidence.iter().find(|e| e.source.ends_with("/config")).unwrap();
    assert!(ev.observed.contains("not a regular file"), "{ev:?}");
    assert_eq!(d.decision.exposure, Exposure::Trap);
    assert!(d.decision.fired(RuleId::DEVICE_CONFIG_UNREADABLE));
}
