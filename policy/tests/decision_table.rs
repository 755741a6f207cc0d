//! Every combination of isolation x guest x mappable x collateral x allow_unsafe x IOMMU
//! backend, against the table of docs/policy.md written out independently below.

mod support;

use msix_policy_engine::*;
use support::*;

/// docs/policy.md steps 2-4, as a table: (exposure, risk).
fn expected(
    iso: &str,
    guest: GuestProfile,
    mappable: Option<bool>,
    collateral: bool,
    allow: Option<bool>,
    backend: VfioBackend,
) -> (Exposure, Risk) {
    let isolated = iso == "isolated";
    let unsafe_assign = !isolated && backend == VfioBackend::Type1 && allow == Some(true);
    if !isolated && !unsafe_assign {
        return (Exposure::Refuse, Risk::None);
    }
    let exposure = match (isolated, mappable, guest, collateral) {
        (false, ..) => Exposure::Trap,
        (true, Some(true), GuestProfile::Paravirtual, _) => Exposure::Passthrough,
        (true, Some(true), GuestProfile::DirectTableWrites, true) => Exposure::Relocate,
        _ => Exposure::Trap,
    };
    let risk = match exposure {
        _ if unsafe_assign => Risk::Unsafe,
        Exposure::Passthrough | Exposure::Relocate => Risk::SelfOnly,
        _ => Risk::None,
    };
    (exposure, risk)
}

#[test]
fn every_combination_matches_the_policy_table() {
    let device = nvme();
    let overrides = Overrides::default();
    let mut walked = 0;
    for iso in ["isolated", "not-isolated", "unknown"] {
        for guest in [GuestProfile::Paravirtual, GuestProfile::DirectTableWrites] {
            for mappable in [Some(true), Some(false), None] {
                for (page, collateral) in [(4096, false), (65536, true)] {
                    for allow in [Some(true), Some(false), None] {
                        for backend in [VfioBackend::Type1, VfioBackend::SpaprTce] {
                            let host = host(page, backend, allow, mappable);
                            let isolation = verdict(iso);
                            let sel = match guest {
                                GuestProfile::Paravirtual => GuestSelection::Paravirtual,
                                GuestProfile::DirectTableWrites => GuestSelection::DirectTableWrites,
                            };
                            let d = decide(DecisionInput {
                                host: &host,
                                device: &device,
                                isolation: &isolation,
                                guest: sel,
                                overrides: &overrides,
                                layout: Default::default(),
                            })
                            .unwrap();
                            let case = format!(
                                "{iso} {guest:?} mappable={mappable:?} page={page} allow={allow:?} {backend:?}"
                            );
                            assert_eq!(
                                (d.exposure, d.risk),
                                expected(iso, guest, mappable, collateral, allow, backend),
                                "{case}"
                            );
                            assert_eq!(d.isolation.status(), iso, "{case}");
                            match d.exposure {
                                Exposure::Refuse => assert!(d.plan.is_none() && !d.assignable, "{case}"),
                                _ => {
                                    let plan = d.plan.as_ref().unwrap();
                                    check_plan_shape(plan).unwrap_or_else(|e| panic!("{case}: {e}"));
                                    if d.exposure == Exposure::Trap {
                                        assert!(!maps_msix(plan, &device), "{case}: Trap maps the table");
                                    }
                                    // Unknown never means safe: the table is only reachable when isolated.
                                    if iso != "isolated" {
                                        assert!(!maps_msix(plan, &device), "{case}: non-isolated table mapped");
                                    }
                                    // On 64 KiB pages a Trap catches the doorbells, and says so.
                                    if d.exposure == Exposure::Trap && collateral {
                                        assert!(d.fired(RuleId::PLAN_HOT_TRAPPED), "{case}");
                                    }
                                }
                            }
                            let exposure_rule = d.rule_ids().find(|r| r.starts_with("exposure.")).is_some();
                            assert!(
                                exposure_rule,
                                "{case}: no exposure rule in {:?}",
                                d.rule_ids().collect::<Vec<_>>()
                            );
                            walked += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(walked, 3 * 2 * 3 * 2 * 3 * 2);
}

#[test]
fn overrides_tighten_and_never_loosen() {
    let device = nvme();
    let host = host(65536, VfioBackend::Type1, Some(false), Some(true));
    let isolated = verdict("isolated");
    let run = |text: &str, guest| {
        let o = Overrides::parse(text).unwrap();
        decide(DecisionInput {
            host: &host,
            device: &device,
            isolation: &isolated,
            guest,
            overrides: &o,
            layout: Default::default(),
        })
    };
    // Relocate -> trap on request.
    let d =
        run("[[device]]\nmatch = \"0000:01:00.0\"\nexposure = \"trap\"\n", GuestSelection::DirectTableWrites).unwrap();
    assert_eq!(d.exposure, Exposure::Trap);
    assert!(d.fired(RuleId::OVERRIDE_EXPOSURE));
    assert!(!maps_msix(d.plan.as_ref().unwrap(), &device));
    // Passthrough -> refuse.
    let d = run("[defaults]\nexposure = \"refuse\"\n", GuestSelection::Paravirtual).unwrap();
    assert_eq!((d.exposure, d.assignable, d.plan.is_none()), (Exposure::Refuse, false, true));
    // Trap -> passthrough is refused with a message naming the device and the rule.
    let not_isolated = verdict("not-isolated");
    let host_unsafe = support::host(65536, VfioBackend::Type1, Some(true), Some(true));
    let o = Overrides::parse("[[device]]\nmatch = \"1b36:0010\"\nexposure = \"passthrough\"\n").unwrap();
    let e = decide(DecisionInput {
        host: &host_unsafe,
        device: &device,
        isolation: &not_isolated,
        guest: GuestSelection::Paravirtual,
        overrides: &o,
        layout: Default::default(),
    })
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("0000:01:00.0") && msg.contains("exposure.trap.not-isolated") && msg.contains("passthrough"),
        "{msg}"
    );
    // Refusing a device assigned only through allow_unsafe_interrupts leaves no risk.
    let o = Overrides::parse("[defaults]\nexposure = \"refuse\"\n").unwrap();
    let d = decide(DecisionInput {
        host: &host_unsafe,
        device: &device,
        isolation: &not_isolated,
        guest: GuestSelection::Auto,
        overrides: &o,
        layout: Default::default(),
    })
    .unwrap();
    assert_eq!((d.exposure, d.risk, d.plan.is_none()), (Exposure::Refuse, Risk::None, true));
    // Refused devices cannot be forced either.
    let host_safe = support::host(65536, VfioBackend::Type1, Some(false), Some(true));
    let o = Overrides::parse("[defaults]\nexposure = \"trap\"\n").unwrap();
    let e = decide(DecisionInput {
        host: &host_safe,
        device: &device,
        isolation: &not_isolated,
        guest: GuestSelection::Auto,
        overrides: &o,
        layout: Default::default(),
    })
    .unwrap_err();
    assert!(e.to_string().contains("assign.type1.not-isolated"), "{e}");
}

#[test]
fn merges_to_the_safest_matching_rule() {
    let o = Overrides::parse(
        "[defaults]\nexposure = \"relocate\"\n[[device]]\nmatch = \"1af4:1041\"\nexposure = \"refuse\"\nforbid_relocation = true\n[[device]]\nmatch = \"0000:00:09.0\"\nexposure = \"trap\"\n",
    )
    .unwrap();
    let mut dev = support::nvme();
    dev.vendor = Some(0x1af4);
    dev.device = Some(0x1041);
    let eff = o.for_device(&dev);
    assert_eq!(eff.exposure, Some(Exposure::Refuse));
    assert!(eff.forbid_relocation);
    dev.vendor = Some(0x8086);
    let eff = o.for_device(&dev);
    assert_eq!(eff.exposure, Some(Exposure::Relocate));
    assert!(!eff.forbid_relocation);
}

/// Facts no host can have are a typed error naming the field, never a panic or a plan.
#[test]
fn impossible_facts_are_errors_not_plans() {
    use msix_policy_engine::{Bar, BarKind, DecideError, FactsError};
    let iso = verdict("isolated");
    let o = Overrides::default();
    let run = |host: &HostFacts, device: &DeviceFacts| {
        decide(DecisionInput {
            host,
            device,
            isolation: &iso,
            guest: GuestSelection::Auto,
            overrides: &o,
            layout: Default::default(),
        })
    };
    let device = nvme();
    for page in [0, 1, 12288, 2048] {
        let host = support::host(page, VfioBackend::Type1, Some(false), Some(true));
        assert_eq!(run(&host, &device).unwrap_err(), DecideError::InvalidFacts(FactsError::PageSize(page)));
    }
    let host = support::host(4096, VfioBackend::Type1, Some(false), Some(true));
    let bar = |index, kind| Bar { index, kind, prefetchable: false, start: 0, size: 0x4000 };
    for (bars, err) in [
        (vec![bar(9, BarKind::Memory32)], FactsError::BarOutOfRange(9)),
        (vec![bar(0, BarKind::Memory64), bar(0, BarKind::Memory32)], FactsError::DuplicateBar(0)),
        (vec![bar(0, BarKind::Memory64), bar(1, BarKind::Memory32)], FactsError::BarInUpperHalf(1, 0)),
    ] {
        let mut d = nvme();
        d.bars = Some(bars);
        assert_eq!(run(&host, &d).unwrap_err(), DecideError::InvalidFacts(err));
    }
}
