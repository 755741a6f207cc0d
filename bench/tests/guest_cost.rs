//! msix-policy never traps more than the physical limit, nor more than any peer policy that
//! leaves no more of the MSI-X state reachable, on any MSI-X function of any fixture, for either
//! guest profile.

use msix_policy::policy::{Exposure, GuestSelection};
use msix_policy::{audit, AuditOptions};
use msix_policy_bench::peers;

#[test]
fn never_above_the_limit_nor_above_an_as_safe_peer() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut checked = 0;
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        if !dir.join("fixture.toml").exists() {
            stack.extend(std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_dir()));
            continue;
        }
        for guest in [GuestSelection::Auto, GuestSelection::Paravirtual, GuestSelection::DirectTableWrites] {
            let r = audit(&dir, &AuditOptions { guest, ..Default::default() }).unwrap();
            for d in &r.devices {
                let Some(plan) = &d.decision.plan else { continue };
                let g = d.decision.guest;
                let (Some(lim), Some(me)) = (
                    peers::limit(&d.facts, &r.host, &d.decision.isolation, g),
                    peers::ours(&d.facts, plan, d.decision.exposure, &r.host),
                ) else {
                    continue;
                };
                let at = format!("{} {} {guest:?}", dir.display(), d.address);
                assert!(me.trapped <= lim.trapped, "{at}: traps {} over the limit {}", me.trapped, lim.trapped);
                if d.decision.exposure == Exposure::Trap {
                    assert!(!me.reach.table && !me.reach.pba, "{at}: Trap leaves MSI-X reachable");
                }
                for p in peers::peers(&d.facts, &r.host, g) {
                    if p.reach.within(me.reach) {
                        assert!(
                            me.trapped <= p.trapped,
                            "{at}: traps {} where {} traps {}",
                            me.trapped,
                            p.policy,
                            p.trapped
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} functions checked");
}
