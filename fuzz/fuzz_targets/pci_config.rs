#![no_main]
//! The PCI config parser on any bytes: never panics, and what it reports stays inside the image.
use libfuzzer_sys::fuzz_target;
use msix_policy_engine::ParsedConfig;

fuzz_target!(|data: &[u8]| {
    let p = ParsedConfig::parse(data);
    let _ = p.describe();
    for c in &p.capabilities {
        assert!(usize::from(c.offset) + 1 < data.len() && c.offset >= 0x40);
    }
    assert!(p.capabilities.len() <= 48);
});
