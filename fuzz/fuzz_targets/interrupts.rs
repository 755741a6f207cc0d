#![no_main]
//! The /proc/interrupts parser: never panics; lookups agree with the lines.
use libfuzzer_sys::fuzz_target;
use msix_backends::interrupts::Interrupts;

fuzz_target!(|data: &[u8]| {
    let i = Interrupts::parse(&String::from_utf8_lossy(data));
    for l in &i.lines {
        assert!(i.get(l.irq).is_some());
    }
    let _ = i.msi_lines().count();
});
