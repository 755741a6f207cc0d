#![no_main]
//! VFIO region info bytes as a hostile kernel (or a bug) could return them: parse or err.
use libfuzzer_sys::fuzz_target;
use msix_vfio::parse_region_info;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = parse_region_info(data) {
        assert!(info.caps.len() <= 16);
        let _ = msix_vfio::allows_mmap(&info, 0, 4096);
    }
});
