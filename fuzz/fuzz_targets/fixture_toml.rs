#![no_main]
//! fixture.toml: any text parses to a valid host or a clear error, never a panic.
use libfuzzer_sys::fuzz_target;
use msix_backends::fixture::FixtureToml;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = FixtureToml::parse(&String::from_utf8_lossy(data), "fixture.toml") {
        assert!(f.host.page_size.is_power_of_two() && f.host.page_size >= 4096);
    }
});
