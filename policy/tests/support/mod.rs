//! Facts built by hand for the engine's own tests.
#![allow(dead_code)]

use msix_policy_engine::*;

pub fn host(page: u64, backend: VfioBackend, allow_unsafe: Option<bool>, mappable: Option<bool>) -> HostFacts {
    let ev = |s: &str| Evidence::new(s, "test");
    HostFacts {
        arch: if backend == VfioBackend::SpaprTce { "ppc64le".into() } else { "x86_64".into() },
        page_size: page,
        kernel: "6.1.0".into(),
        platform: if backend == VfioBackend::SpaprTce { Platform::Ppc64Powernv } else { Platform::X86Vtd },
        vfio_backend: backend,
        allow_unsafe_interrupts: Fact { value: allow_unsafe, evidence: ev("allow_unsafe_interrupts") },
        msix_mappable: Mappability {
            mappable: Fact { value: mappable, evidence: ev("osrelease") },
            source: mappable.map(|_| MappableSource::Inferred),
        },
        iommufd: Fact::unknown(Evidence::new("iommufd", "test")),
        iommufd_allow_unsafe_interrupts: Fact::unknown(Evidence::new("iommufd", "test")),
        vfio_backends: VfioBackends::default(),
    }
}

/// An NVMe-like function: BAR0 16 KiB (64-bit), doorbells at 0x1000, table at 0x2000, PBA at
/// 0x3000. Compliant: on 4 KiB pages trapping it costs nothing; on 64 KiB pages it costs 8 KiB.
pub fn nvme() -> DeviceFacts {
    DeviceFacts {
        address: "0000:01:00.0".into(),
        vendor: Some(0x1b36),
        device: Some(0x0010),
        class: Some(0x010802),
        driver: Some("vfio-pci".into()),
        iommu_group: Some(7),
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
                cap_offset: 0x60,
                table_size: 65,
                table_bir: 0,
                table_offset: 0x2000,
                pba_bir: 0,
                pba_offset: 0x3000,
            },
        },
        hot_windows: vec![HotWindow { bar: 0, offset: 0x1000, length: 0x1000, what: "NVMe doorbells".into() }],
        evidence: vec![],
        vfio_regions: Vec::new(),
        noiommu: None,
    }
}

pub fn verdict(status: &str) -> IsolationVerdict {
    let ev = vec![Evidence::new("test", status)];
    match status {
        "isolated" => IsolationVerdict::isolated(RuleId::VTD_IR_ENABLED, "test", ev),
        "not-isolated" => IsolationVerdict::not_isolated(RuleId::VTD_INTREMAP_OFF, "test", ev),
        _ => IsolationVerdict::unknown(RuleId::VTD_IR_UNKNOWN, "test", ev),
    }
}

/// Checks the structural promises of a plan: every BAR covered exactly by ordered,
/// non-overlapping segments that start on page boundaries and end on one or at the BAR end.
pub fn check_plan_shape(plan: &MappingPlan) -> Result<(), String> {
    for b in &plan.bars {
        let mut at = 0;
        for s in &b.segments {
            if s.offset != at {
                return Err(format!("BAR{}: segment at {:#x}, expected {:#x}", b.index, s.offset, at));
            }
            if s.length == 0 {
                return Err(format!("BAR{}: empty segment at {:#x}", b.index, s.offset));
            }
            if s.offset % plan.page_size != 0 && !(b.origin == BarOrigin::Extended && s.offset == extended_from(b)) {
                return Err(format!("BAR{}: segment at {:#x} is not page aligned", b.index, s.offset));
            }
            // A grown BAR smaller than a page keeps its registers' segment, ending at its old
            // size; the slot covers the rest of that page.
            if s.end() % plan.page_size != 0
                && s.end() != b.size
                && !(b.origin == BarOrigin::Extended && s.end() == extended_from(b))
            {
                return Err(format!(
                    "BAR{}: segment ends at {:#x}, neither a page boundary nor the BAR end",
                    b.index,
                    s.end()
                ));
            }
            at = s.end();
        }
        if at != b.size {
            return Err(format!("BAR{}: segments cover {:#x} of {:#x}", b.index, at, b.size));
        }
        let trapped: u64 =
            b.segments.iter().filter(|s| matches!(s.action, SegmentAction::Trap(_))).map(|s| s.length).sum();
        if trapped != b.trapped_bytes || b.collateral_bytes > b.trapped_bytes {
            return Err(format!("BAR{}: byte counts disagree with segments", b.index));
        }
    }
    Ok(())
}

fn extended_from(b: &BarPlan) -> u64 {
    b.segments.iter().find(|s| matches!(s.action, SegmentAction::Emulate(_))).map_or(0, |s| s.offset)
}

/// Whether a `map` segment of the plan touches the device's physical table or PBA.
pub fn maps_msix(plan: &MappingPlan, device: &DeviceFacts) -> bool {
    let MsixFacts::Present { capability: c } = &device.msix else { return false };
    let ranges = [
        (c.table_bir, u64::from(c.table_offset), c.table_bytes()),
        (c.pba_bir, u64::from(c.pba_offset), c.pba_bytes()),
    ];
    plan.bars.iter().filter(|b| b.origin != BarOrigin::Virtual).any(|b| {
        b.segments
            .iter()
            .filter(|s| s.action == SegmentAction::Map)
            .any(|s| ranges.iter().any(|&(bir, off, len)| bir == b.index && off < s.end() && s.offset < off + len))
    })
}

/// A type-0 config space image: ids, class, BAR registers (slot, raw value) and an MSI-X
/// capability at 0x40 (vectors, table BIR/offset, PBA BIR/offset).
pub fn config_space(
    ids: (u16, u16),
    class: u32,
    bars: &[(usize, u32)],
    msix: Option<(u16, u8, u32, u8, u32)>,
) -> Vec<u8> {
    let mut b = vec![0u8; 256];
    b[0..2].copy_from_slice(&ids.0.to_le_bytes());
    b[2..4].copy_from_slice(&ids.1.to_le_bytes());
    b[0x09..0x0c].copy_from_slice(&class.to_le_bytes()[..3]);
    for &(slot, raw) in bars {
        b[0x10 + 4 * slot..0x14 + 4 * slot].copy_from_slice(&raw.to_le_bytes());
    }
    if let Some((vectors, tbir, toff, pbir, poff)) = msix {
        b[6] = 0x10;
        b[0x34] = 0x40;
        b[0x40] = 0x11;
        b[0x42..0x44].copy_from_slice(&(vectors - 1).to_le_bytes());
        b[0x44..0x48].copy_from_slice(&(toff | u32::from(tbir)).to_le_bytes());
        b[0x48..0x4c].copy_from_slice(&(poff | u32::from(pbir)).to_le_bytes());
    }
    b
}

/// BAR register values.
pub const MEM32: u32 = 0x0;
pub const MEM64: u32 = 0x4;
pub const IO: u32 = 0x1;
