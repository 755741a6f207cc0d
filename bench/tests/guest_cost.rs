//! msix-policy never traps more than the physical limit, nor more than any peer policy that
//! leaves no more of the MSI-X state reachable, on any MSI-X function of any fixture, for either
//! guest profile.

use msix_policy::policy::{Exposure, GuestSelection};
use msix_policy_bench::peers;

#[test]
fn never_above_the_limit_nor_above_an_as_safe_peer() {
    let mut checked = 0;
    for guest in [GuestSelection::Auto, GuestSelection::Paravirtual, GuestSelection::DirectTableWrites] {
        for m in peers::measure_all(guest) {
            let at = format!("{} {} {guest:?}", m.fixture.display(), m.device.address);
            assert!(
                m.ours.trapped <= m.limit.trapped,
                "{at}: traps {} over the limit {}",
                m.ours.trapped,
                m.limit.trapped
            );
            if m.device.decision.exposure == Exposure::Trap {
                assert!(!m.ours.reach.table && !m.ours.reach.pba, "{at}: Trap leaves MSI-X reachable");
            }
            for p in &m.peers {
                if p.reach.within(m.ours.reach) {
                    assert!(
                        m.ours.trapped <= p.trapped,
                        "{at}: traps {} where {} traps {}",
                        m.ours.trapped,
                        p.policy,
                        p.trapped
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} functions checked");
}
