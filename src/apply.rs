//! `msix-policy apply`: decide, open through VFIO, probe, map, report, release.

use std::fmt::Write as _;

use crate::backends::fixture::{FixtureVfio, ProbedRegion};
use crate::backends::Root;
use crate::policy::{plan_layout_with_overrides, InputError, IsolationAttestation, VfioRegion, VmmInput};
use crate::policy::{Exposure, MsixFacts, SegmentAction};
use crate::vfio::{self, KernelVfio};
use crate::{AuditOptions, AuditReport, DeviceReport};

/// What would be mapped and trapped, without touching any device.
pub fn dry_run(report: &AuditReport, d: &DeviceReport) -> String {
    let mut out = String::new();
    let dec = &d.decision;
    let _ = writeln!(
        out,
        "{} exposure {} risk {} (dry run: no device was opened)",
        d.address,
        dec.exposure.as_str(),
        dec.risk.as_str()
    );
    let Some(plan) = &dec.plan else {
        let why: Vec<&str> = dec.rule_ids().collect();
        let _ = writeln!(out, "refused: nothing to map ({})", why.join(" > "));
        return out;
    };
    let _ = writeln!(out, "page size {} on {}", plan.page_size, report.root);
    for b in &plan.bars {
        for s in &b.segments {
            let what = match s.action {
                SegmentAction::Map => "map".to_string(),
                SegmentAction::Trap(k) => format!("trap {k}"),
                SegmentAction::Emulate(_) => "emulate virtual-table".to_string(),
            };
            let _ = writeln!(out, "  BAR{} {:#010x}+{:#x}  {what}", b.index, s.offset, s.length);
        }
    }
    out
}

fn describe_region(r: &VfioRegion) -> String {
    use crate::vfio::region::REGION_INFO_LEN;
    let flags: Vec<&str> = [(1, "READ"), (2, "WRITE"), (4, "MMAP"), (8, "CAPS")]
        .iter()
        .filter(|(bit, _)| r.flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    let caps: Vec<String> = r
        .caps
        .iter()
        .map(|c| match c {
            1 => {
                let areas: Vec<(u64, u64)> = r.sparse_mmap.iter().flatten().map(|a| (a.offset, a.size)).collect();
                format!("SPARSE_MMAP {areas:x?}")
            }
            3 => "MSIX_MAPPABLE".to_string(),
            other => format!("cap {other}"),
        })
        .collect();
    format!(
        "region {} size {:#x} offset {:#x} flags {} argsz {} (struct {REGION_INFO_LEN}) caps [{}]",
        r.index,
        r.size,
        vfio::region::fd_offset(r),
        flags.join("|"),
        r.argsz,
        caps.join(", ")
    )
}

/// Why `apply` mapped nothing; each message says what to do where there is something to do.
#[derive(Debug, thiserror::Error)]
pub enum LiveApplyError {
    /// The report is of a recorded host: only the live `/` has devices to open.
    #[error("apply opens real devices: it needs the live host `/`, not {root} (use --dry-run on a fixture)")]
    NotLive {
        /// The report's root.
        root: String,
    },
    /// `/` could not be opened as a root.
    #[error(transparent)]
    Root(#[from] crate::backends::root::RootError),
    /// VFIO refused: opening the container, group or device, probing a region, or mapping.
    #[error(transparent)]
    Vfio(#[from] vfio::ApplyError),
    /// The sysfs config space (read when VFIO's config region could not be) is unreadable.
    #[error(transparent)]
    Config(#[from] crate::backends::ReadError),
    /// The engine refused the probed facts.
    #[error("{address}: {source}")]
    Input {
        /// The device.
        address: String,
        /// What the engine refused.
        source: InputError,
    },
    /// The decision refuses the device: there is nothing to map.
    #[error("{address}: refused, nothing to map ({rules})")]
    Refused {
        /// The device.
        address: String,
        /// The rule ids that fired, in order.
        rules: String,
    },
}

/// Opens the device and does what a VMM does with it: reads its config space through VFIO and
/// the region info of every BAR, hands those facts (with the audited isolation verdict) to the
/// engine's VMM entry point, maps every memory slot of the layout, reads a register through a
/// mapping and through the fd, and releases.
pub fn live(report: &AuditReport, d: &DeviceReport, opts: &AuditOptions) -> Result<String, LiveApplyError> {
    if !report.live {
        return Err(LiveApplyError::NotLive { root: report.root.clone() });
    }
    let root = Root::open("/")?;
    let sys = KernelVfio::new();
    let dev = vfio::open_device(&sys, &root, &d.address, d.facts.iommu_group)?;
    let mut out = String::new();
    let _ = writeln!(out, "{}: opened through VFIO (group {}, {})", d.address, dev.group, vfio::IOMMU_NAME);

    // The VMM's facts, probed: config space through the VFIO config region, every BAR's region.
    let regions = dev.bar_regions()?;
    let config = match dev.read_config(4096) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(out, "  config through VFIO failed ({e}); using sysfs config");
            root.read(&format!("{}/{}/config", crate::backends::pci::DEVICES_DIR, d.address))?
        }
    };
    let host = &report.host;
    let allow_unsafe = host.allow_unsafe_for(host.vfio_backend).and_then(|f| f.value).unwrap_or(false);
    let isolation = IsolationAttestation::Audited {
        verdict: d.decision.isolation.clone(),
        backend: host.vfio_backend,
        allow_unsafe_interrupts: allow_unsafe,
    };
    let input = VmmInput::new(config, regions, host.page_size, isolation)
        .address(d.address.clone())
        .arch(host.arch.clone())
        .guest(opts.guest)
        .mode(opts.layout.mode)
        .relocation(opts.layout.relocation);
    let layout = plan_layout_with_overrides(&input, &opts.overrides)
        .map_err(|source| LiveApplyError::Input { address: d.address.clone(), source })?;
    let rules: Vec<&str> = layout.decision.rule_ids().collect();
    let _ = writeln!(
        out,
        "decision: exposure {} risk {} ({})",
        layout.exposure.as_str(),
        layout.risk.as_str(),
        rules.join(" > ")
    );
    if layout.exposure == Exposure::Refuse {
        return Err(LiveApplyError::Refused { address: d.address.clone(), rules: rules.join(" > ") });
    }
    let applied = vfio::map_layout(&dev, &layout)?;
    for r in &applied.regions {
        let _ = writeln!(out, "  {}", describe_region(r));
    }
    for m in &applied.mapped {
        let region = applied.regions.iter().find(|r| r.index == u32::from(m.bar));
        let through_map = applied.read_u32(m.bar, m.offset);
        let through_fd = region
            .and_then(|r| dev.read_region(r, m.offset, 4).ok())
            .and_then(|b| b.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])));
        let same = match (through_map, through_fd) {
            (Some(a), Some(b)) if a == b => "equal",
            (Some(_), Some(_)) => "DIFFER",
            _ => "unread",
        };
        let _ = writeln!(
            out,
            "  mapped  BAR{} {:#010x}+{:#x} at {:#x}: first dword {:#010x} via mapping, {:#010x} via read(): {same}",
            m.bar,
            m.offset,
            m.length,
            m.addr(),
            through_map.unwrap_or(0),
            through_fd.unwrap_or(0)
        );
    }
    if d.facts.class == Some(crate::policy::NVME_CLASS) {
        if let (Some(lo), Some(hi)) = (applied.read_u32(0, 0), applied.read_u32(0, 4)) {
            let _ = writeln!(
                out,
                "  NVMe CAP (BAR0+0) through the mapping: {:#018x}",
                (u64::from(hi) << 32) | u64::from(lo)
            );
        }
    }
    for t in &applied.trapped {
        let _ = writeln!(out, "  trapped BAR{} {:#010x}+{:#x} ({})", t.bar, t.offset, t.length, t.what);
    }
    if let Some(m) = layout.msix {
        let _ = writeln!(
            out,
            "  guest MSI-X: table BAR{}+{:#x}, PBA BAR{}+{:#x}{}",
            m.table_bir,
            m.table_offset,
            m.pba_bir,
            m.pba_offset,
            if m.relocated { " (relocated)" } else { "" }
        );
    }
    let (n_map, n_trap) = (applied.mapped.len(), applied.trapped.len());
    drop(applied);
    drop(dev);
    let _ = writeln!(out, "released: {n_map} mappings unmapped, {n_trap} trapped ranges, device closed");
    Ok(out)
}

/// Probes the MSI-X BAR of every function bound to vfio-pci on the live host, for `record`.
pub fn probe_for_record(root: &Root) -> Option<FixtureVfio> {
    let sys = KernelVfio::new();
    let mut regions = Vec::new();
    for f in crate::backends::pci::enumerate(root).ok()? {
        let MsixFacts::Present { capability } = &f.facts.msix else { continue };
        if f.facts.driver.as_deref() != Some("vfio-pci") {
            continue;
        }
        let Ok(dev) = vfio::open_device(&sys, root, &f.facts.address, f.facts.iommu_group) else { continue };
        if let Ok(region) = dev.region_info(u32::from(capability.table_bir)) {
            regions.push(ProbedRegion { device: f.facts.address.clone(), region });
        }
    }
    let first = regions.first()?;
    Some(FixtureVfio {
        msix_mappable: Some(regions.iter().all(|r| r.region.msix_mappable)),
        probed_on: Some(first.device.clone()),
        regions,
    })
}
