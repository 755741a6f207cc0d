#![no_main]
//! The sysfs `resource` parser: never panics; every BAR it returns is a sane range.
use libfuzzer_sys::fuzz_target;
use msix_backends::pci::resource;

fuzz_target!(|data: &[u8]| {
    if let Ok(bars) = resource::parse(&String::from_utf8_lossy(data)) {
        for b in bars {
            assert!(b.index < 6 && b.size > 0 && b.start.checked_add(b.size - 1).is_some());
        }
    }
});
