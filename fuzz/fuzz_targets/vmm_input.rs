#![no_main]
//! The VMM entry point on hostile input: the bytes as plan-input JSON, and the same bytes as a
//! config space with region info made from their tail. An error or a layout, never a panic; a
//! layout is well formed (`Layout::check_well_formed`).
use libfuzzer_sys::fuzz_target;
use msix_policy_engine::{plan_layout, IsolationAttestation, VfioRegion, VmmInput};
use msix_policy_engine::{GuestSelection, LayoutMode, VfioBackend};

fn check(input: &VmmInput) {
    if let Ok(l) = plan_layout(input) {
        if let Err(e) = l.check_well_formed() {
            panic!("{e}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // As a VMM's JSON arrives: bounded, every key known, the schema checked.
    if let Ok(input) = std::str::from_utf8(data).map_err(|_| ()).and_then(|t| VmmInput::from_json(t).map_err(|_| ())) {
        check(&input);
    }
    // Struct input: up to 256 bytes of config, then (index, log2 size, flags) triples.
    let (config, rest) = data.split_at(data.len().min(256));
    let regions: Vec<VfioRegion> = rest
        .chunks(3)
        .map(|c| {
            let size = 1u64.checked_shl(u32::from(*c.get(1).unwrap_or(&0) % 64)).unwrap_or(0);
            VfioRegion::new(u32::from(c[0] % 8), size, u32::from(*c.get(2).unwrap_or(&0) % 16)).msix_mappable(c[0] & 0x80 != 0)
        })
        .collect();
    let page = 4096u64 << (data.first().copied().unwrap_or(0) % 5);
    let iso = IsolationAttestation::KernelAccepted { backend: VfioBackend::Type1, allow_unsafe_interrupts: false };
    for mode in [LayoutMode::MsixPolicy, LayoutMode::Qemu, LayoutMode::CloudHypervisor] {
        let input = VmmInput::new(config.to_vec(), regions.clone(), page, iso.clone())
            .guest(GuestSelection::DirectTableWrites)
            .mode(mode);
        check(&input);
    }
});
