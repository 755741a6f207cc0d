#![no_main]
//! Overrides TOML: parse any text; an accepted file applied to a device never loosens the
//! decision the facts allow (it errs instead).
use libfuzzer_sys::fuzz_target;
use msix_policy_engine::*;

fn host() -> HostFacts {
    HostFacts {
        arch: "x86_64".into(),
        page_size: 65536,
        kernel: "6.1.0".into(),
        platform: Platform::X86Vtd,
        vfio_backend: VfioBackend::Type1,
        allow_unsafe_interrupts: Fact::known(true, Evidence::new("p", "Y")),
        msix_mappable: Mappability {
            mappable: Fact::known(true, Evidence::new("k", "6.1")),
            source: Some(MappableSource::Inferred),
        },
        iommufd: Fact::unknown(Evidence::new("iommufd", "test")),
        iommufd_allow_unsafe_interrupts: Fact::unknown(Evidence::new("iommufd", "test")),
        vfio_backends: VfioBackends::default(),
    }
}

fn device() -> DeviceFacts {
    DeviceFacts {
        address: "0000:01:00.0".into(),
        vendor: Some(0x1b36),
        device: Some(0x0010),
        class: Some(0x010802),
        driver: None,
        iommu_group: Some(1),
        header: HeaderKind::Endpoint,
        bars: Some(vec![Bar {
            index: 0,
            kind: BarKind::Memory64,
            prefetchable: false,
            start: 0x1_0000_0000,
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
        hot_windows: vec![],
        evidence: vec![],
        vfio_regions: Vec::new(),
        noiommu: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(o) = Overrides::parse(&String::from_utf8_lossy(data)) else { return };
    let (h, d) = (host(), device());
    for (iso, guest) in [
        (IsolationVerdict::isolated(RuleId::VTD_IR_ENABLED, "x", vec![]), GuestSelection::Paravirtual),
        (IsolationVerdict::isolated(RuleId::VTD_IR_ENABLED, "x", vec![]), GuestSelection::DirectTableWrites),
        (IsolationVerdict::unknown(RuleId::VTD_IR_UNKNOWN, "x", vec![]), GuestSelection::Paravirtual),
    ] {
        let none = Overrides::default();
        let base = decide(DecisionInput { host: &h, device: &d, isolation: &iso, guest, overrides: &none, layout: Default::default() }).unwrap();
        if let Ok(with) = decide(DecisionInput { host: &h, device: &d, isolation: &iso, guest, overrides: &o, layout: Default::default() }) {
            assert!(
                with.exposure.safety() >= base.exposure.safety(),
                "{:?} loosened {:?}",
                with.exposure,
                base.exposure
            );
            assert!(with.risk <= base.risk);
        }
    }
});
