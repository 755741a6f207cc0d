//! Every device of every fixture decides the same through the VMM entry point (config bytes and
//! region info in, layout out) as through the sysfs audit.

mod common;

use msix_policy::backends::Root;
use msix_policy::policy::{self, Exposure, RuleId, SegmentAction};
use msix_policy::{audit, vmm_input, AuditOptions};

/// Rule ids with the mappability rule folded: the VMM path always has it probed (region info).
/// The kernel-generation rules (`kernel.*`) are left out: a VMM's input carries no kernel
/// release, so its decision cites none (docs/policy.md, "The kernel generation").
fn rule_ids(d: &policy::Decision) -> Vec<String> {
    d.rule_ids()
        .filter(|r| !r.starts_with("kernel."))
        .map(|r| {
            if r == RuleId::HOST_MAPPABLE_INFERRED { RuleId::HOST_MAPPABLE_PROBED.as_str() } else { r }.to_string()
        })
        .collect()
}

#[test]
fn every_fixture_decides_identically_through_the_vmm_entry_point() {
    let (mut compared, mut rejected) = (0, 0);
    for f in common::fixtures() {
        let root = Root::open(&f).unwrap();
        let report = audit(&f, &AuditOptions::default()).unwrap();
        for d in &report.devices {
            let name = format!("{} {}", common::name(&f), d.address);
            let input = vmm_input(&root, &report, d).unwrap_or_else(|| panic!("{name}: no config"));
            let audited = &d.decision;
            match policy::plan_layout(&input) {
                Ok(layout) => {
                    // The VMM opened the device, so it has a group; the audit refuses group-less
                    // functions before anything else is looked at.
                    if audited.fired(RuleId::ASSIGN_NO_GROUP) {
                        assert!(!layout.decision.fired(RuleId::ASSIGN_NO_GROUP), "{name}");
                        continue;
                    }
                    // Nor can a VMM's IOMMU backend have accepted a vfio-noiommu group, which
                    // the audit refuses as such: the VMM's input never describes one.
                    if audited.fired(RuleId::ASSIGN_NOIOMMU) {
                        assert!(!layout.decision.fired(RuleId::ASSIGN_NOIOMMU), "{name}");
                        continue;
                    }
                    let v = &layout.decision;
                    assert_eq!(v.exposure, audited.exposure, "{name}");
                    assert_eq!(v.risk, audited.risk, "{name}");
                    assert_eq!(v.assignable, audited.assignable, "{name}");
                    assert_eq!(v.isolation, audited.isolation, "{name}");
                    assert_eq!(rule_ids(v), rule_ids(audited), "{name}");
                    assert_eq!(v.plan, audited.plan, "{name}: plan");
                    assert_eq!(layout.exposure, audited.exposure, "{name}");
                    if let Some(plan) = &audited.plan {
                        let mapped: u64 = plan
                            .bars
                            .iter()
                            .flat_map(|b| b.segments.iter())
                            .filter(|s| s.action == SegmentAction::Map)
                            .map(|s| s.length)
                            .sum();
                        let slots: u64 = layout.memory_slots().map(|(_, m)| m.length.min(m.mmap_length)).sum();
                        assert!(slots >= mapped, "{name}: memory slots {slots} < mapped {mapped}");
                    }
                    compared += 1;
                }
                Err(e) => {
                    // Only what the audit itself could not trust is rejected: an unreadable or
                    // broken capability list (MSI-X unknown), a bridge, a table outside its BAR,
                    // a table overlapping its PBA (the audit warns; QEMU's msix_init refuses).
                    let why = e.to_string();
                    let unknown = matches!(d.facts.msix, policy::MsixFacts::Unknown { .. });
                    let bridge = matches!(d.facts.header, policy::HeaderKind::Bridge | policy::HeaderKind::CardBus);
                    let outside = audited.fired(RuleId::DEVICE_MSIX_OUT_OF_BAR);
                    let overlap = audited.fired(RuleId::DEVICE_MSIX_TABLE_PBA_OVERLAP);
                    assert!(overlap || !why.contains("overlap"), "{name}: {why}");
                    assert!(
                        unknown || bridge || outside || overlap,
                        "{name}: rejected ({why}) yet the audit trusted it"
                    );
                    if unknown || outside {
                        assert!(matches!(audited.exposure, Exposure::Trap | Exposure::Refuse), "{name}");
                    }
                    rejected += 1;
                }
            }
        }
    }
    eprintln!("compared {compared} devices, rejected {rejected} (MSI-X unknown, bridges, table outside its BAR or on its PBA)");
    assert!(compared >= 80, "compared {compared} devices, rejected {rejected}");
}
