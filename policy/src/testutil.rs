//! Small hand-built facts for unit tests of the engine.

use crate::facts::*;

/// An NVMe-like function: BAR0 16 KiB with doorbells at 0x1000 and the table at 0x2000.
pub fn device_with_msix() -> DeviceFacts {
    DeviceFacts {
        address: "0000:00:04.0".into(),
        vendor: Some(0x1b36),
        device: Some(0x0010),
        class: Some(0x010802),
        driver: Some("nvme".into()),
        iommu_group: Some(4),
        header: HeaderKind::Endpoint,
        bars: Some(vec![Bar {
            index: 0,
            kind: BarKind::Memory64,
            prefetchable: false,
            start: 0xfe00_0000,
            size: 0x4000,
        }]),
        msix: MsixFacts::Present {
            capability: MsixCapability {
                cap_offset: 0x40,
                table_size: 65,
                table_bir: 0,
                table_offset: 0x2000,
                pba_bir: 0,
                pba_offset: 0x3000,
            },
        },
        hot_windows: vec![HotWindow { bar: 0, offset: 0x1000, length: 0x1000, what: "NVMe doorbells".into() }],
        evidence: vec![],
    }
}
