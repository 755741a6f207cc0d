//! What the CLI prints: a table a person reads at a glance, `explain` for one device, and a
//! stable JSON shape for machines.

use std::fmt::Write as _;

use msix_policy_wire::{AuditDocument, DeviceDocument, RulesDocument};

use crate::policy::{Decision, MappingPlan, MsixFacts};
use crate::{AuditReport, DeviceReport};

/// The `schema` ids of the JSON documents (the documents are `msix_policy_wire`'s).
pub use msix_policy_wire::{AUDIT_SCHEMA, DEVICE_SCHEMA, RULES_SCHEMA};

/// One device in the audit JSON's shape (without `schema`: it sits inside an audit).
pub fn json_device(d: &DeviceReport) -> DeviceDocument {
    let f = &d.facts;
    let dec = &d.decision;
    DeviceDocument {
        schema: None,
        address: d.address.clone(),
        vendor: f.vendor.map(|v| format!("{v:04x}")),
        device: f.device.map(|v| format!("{v:04x}")),
        class: f.class.map(|v| format!("{v:06x}")),
        driver: f.driver.clone(),
        iommu_group: f.iommu_group,
        isolation: dec.isolation.status().into(),
        isolation_rule: dec.isolation.rule().as_str().into(),
        isolation_summary: dec.isolation.summary().into(),
        assignable: dec.assignable,
        guest: dec.guest,
        exposure: dec.exposure.as_str().into(),
        risk: dec.risk.as_str().into(),
        msix: f.msix.clone(),
        plan: dec.plan.clone(),
        reasons: dec.reasons.clone(),
        warnings: dec.warnings.clone(),
    }
}

/// The audit JSON (`msix-policy/audit/v1`) of a report.
pub fn json_report(r: &AuditReport) -> AuditDocument {
    AuditDocument {
        schema: AUDIT_SCHEMA.into(),
        root: r.root.clone(),
        live: r.live,
        host: r.host.clone(),
        source: r.source.as_ref().map(|s| msix_policy_wire::FixtureSource {
            kind: s.kind.clone(),
            description: s.description.clone(),
            machine: s.machine.clone(),
        }),
        host_evidence: r.host_evidence.clone(),
        platform_evidence: r.platform_evidence.clone(),
        kvm: r.kvm.clone(),
        devices: r.devices.iter().map(json_device).collect(),
    }
}

/// Bytes as a person reads them: `0 B`, `4 KiB`, `1.5 KiB`.
pub fn bytes(n: u64) -> String {
    match n {
        0 => "0 B".into(),
        n if n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n % 1024 == 0 => format!("{} KiB", n >> 10),
        n if n >= 1024 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn ids(d: &DeviceReport) -> String {
    match (d.facts.vendor, d.facts.device) {
        (Some(v), Some(p)) => format!("{v:04x}:{p:04x}"),
        _ => "????:????".into(),
    }
}

fn host_header(r: &AuditReport, out: &mut String) {
    let h = &r.host;
    let what = if r.live {
        "this host".to_string()
    } else {
        let kind =
            r.source.as_ref().map_or("recorded", |s| if s.kind.is_empty() { "recorded" } else { s.kind.as_str() });
        format!("{} ({kind})", r.root)
    };
    let _ = writeln!(out, "msix-policy audit of {what}");
    let mappable = match (h.msix_mappable.mappable.value, h.msix_mappable.source) {
        (Some(true), Some(s)) => format!("yes ({s})"),
        (Some(false), _) => "no".into(),
        _ => "unknown (taken as no)".into(),
    };
    // The parameter of the backend the decision assumes (iommufd's own on an iommufd-only host).
    let unsafe_ = match h.allow_unsafe_for(h.vfio_backend).map(|f| f.value) {
        None => "n/a (sPAPR TCE has no such check)",
        Some(Some(true)) => "Y",
        Some(Some(false)) => "N",
        Some(None) => "unknown (taken as N)",
    };
    let _ = writeln!(
        out,
        "host: {}, {} pages, kernel {}\nplatform: {} | VFIO backend: {} | allow_unsafe_interrupts: {unsafe_} | MSI-X BAR mappable: {mappable}",
        h.arch,
        bytes(h.page_size),
        h.kernel,
        h.platform.label(),
        h.vfio_backend.as_str()
    );
}

/// The audit table, then one line of rule ids per device.
pub fn text_report(r: &AuditReport) -> String {
    let mut out = String::new();
    host_header(r, &mut out);
    if r.devices.is_empty() {
        out.push_str("\nno PCI functions under sys/bus/pci/devices\n");
        return out;
    }
    let _ = writeln!(
        out,
        "\n{:<13} {:<10} {:<7} {:<12} {:<13} {:<12} {:<10} {:>9} {:>10}  HOT TRAPPED",
        "ADDRESS", "ID", "CLASS", "DRIVER", "ISOLATION", "EXPOSURE", "RISK", "TRAPPED", "COLLATERAL"
    );
    for d in &r.devices {
        let dec = &d.decision;
        let (trapped, collateral, hot) = match &dec.plan {
            Some(p) => (
                bytes(p.trapped_bytes()),
                bytes(p.collateral_bytes()),
                p.hot_trapped().map(|h| h.what.as_str()).collect::<Vec<_>>().join(", "),
            ),
            None => ("-".into(), "-".into(), String::new()),
        };
        let _ = writeln!(
            out,
            "{:<13} {:<10} {:<7} {:<12} {:<13} {:<12} {:<10} {:>9} {:>10}  {}",
            d.address,
            ids(d),
            d.facts.class.map_or("?".into(), |c| format!("{c:06x}")),
            truncate(d.facts.driver.as_deref().unwrap_or("-"), 12),
            dec.isolation.status(),
            dec.exposure.as_str(),
            dec.risk.as_str(),
            trapped,
            collateral,
            if hot.is_empty() { "-" } else { &hot }
        );
    }
    out.push_str("\nwhy (rule ids in order; `msix-policy explain <ADDRESS>` shows the evidence):\n");
    for d in &r.devices {
        let chain: Vec<&str> = d.decision.rule_ids().collect();
        let _ = writeln!(out, "  {}  {}", d.address, chain.join(" > "));
        for w in &d.decision.warnings {
            let _ = writeln!(out, "  {}  warning: {w}", " ".repeat(d.address.len()));
        }
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n - 1).collect();
        format!("{t}~")
    }
}

/// Everything about one device: facts, plan segment by segment, reasons with evidence.
pub fn text_explain(r: &AuditReport, d: &DeviceReport) -> String {
    let mut out = String::new();
    host_header(r, &mut out);
    let dec: &Decision = &d.decision;
    explain_facts(d, &mut out);
    let _ = writeln!(
        out,
        "\n  isolation  {} ({})\n  exposure   {}\n  risk       {}\n  guest      {}",
        dec.isolation.status(),
        dec.isolation.summary(),
        dec.exposure.as_str(),
        dec.risk.as_str(),
        dec.guest.as_str()
    );
    match &dec.plan {
        Some(p) => explain_plan(p, &mut out),
        None => out.push_str("\n  plan: none (refused)\n"),
    }
    explain_reasons(dec, &mut out);
    out
}

/// The device line, its MSI-X capability and its hot windows.
fn explain_facts(d: &DeviceReport, out: &mut String) {
    let f = &d.facts;
    let _ = writeln!(
        out,
        "\n{}  {}  class {}  driver {}  iommu group {}",
        d.address,
        ids(d),
        f.class.map_or("?".into(), |c| format!("{c:06x}")),
        f.driver.as_deref().unwrap_or("-"),
        f.iommu_group.map_or("-".into(), |g| g.to_string())
    );
    match &f.msix {
        MsixFacts::Present { capability: c } => {
            let _ = writeln!(
                out,
                "  MSI-X: {} vectors, table BAR{} {:#x} ({}), PBA BAR{} {:#x} ({})",
                c.table_size,
                c.table_bir,
                c.table_offset,
                bytes(c.table_bytes()),
                c.pba_bir,
                c.pba_offset,
                bytes(c.pba_bytes())
            );
        }
        MsixFacts::Absent => out.push_str("  MSI-X: none\n"),
        MsixFacts::Unknown { why, .. } => {
            let _ = writeln!(out, "  MSI-X: unknown ({why})");
        }
    }
    for h in &f.hot_windows {
        let _ = writeln!(out, "  hot window: {} at BAR{} {:#x}+{:#x}", h.what, h.bar, h.offset, h.length);
    }
}

/// Every BAR's segments and byte counts, and where a relocated table went.
fn explain_plan(p: &MappingPlan, out: &mut String) {
    let _ = writeln!(out, "\n  plan ({} pages):", bytes(p.page_size));
    for b in &p.bars {
        let _ = writeln!(
            out,
            "    BAR{} {} {}: trapped {} (table {}, PBA {}, collateral {})",
            b.index,
            bytes(b.size),
            b.origin,
            bytes(b.trapped_bytes),
            bytes(b.trapped_table_bytes),
            bytes(b.trapped_pba_bytes),
            bytes(b.collateral_bytes)
        );
        for s in &b.segments {
            let _ = writeln!(out, "      {:#010x}..{:#010x}  {}", s.offset, s.end(), s.action);
        }
    }
    if let Some(rel) = &p.relocation {
        let _ = writeln!(
            out,
            "    virtual table: BAR{} ({}) table at {:#x}, PBA at {:#x}",
            rel.bar, rel.origin, rel.table_offset, rel.pba_offset
        );
    }
}

/// Every step that fired, with its evidence and reference, then the warnings.
fn explain_reasons(dec: &Decision, out: &mut String) {
    out.push_str("\n  reasons:\n");
    for (i, reason) in dec.reasons.iter().enumerate() {
        let _ = writeln!(out, "    {}. {}: {}", i + 1, reason.rule, reason.detail);
        for e in &reason.evidence {
            let _ = writeln!(out, "         evidence: {}: {}", e.source, e.observed);
        }
        if !reason.reference.is_empty() {
            let _ = writeln!(out, "         reference: {}", reason.reference);
        }
    }
    for w in &dec.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
}

/// `explain --format json`: one device, with its schema.
pub fn json_device_alone(d: &DeviceReport) -> DeviceDocument {
    DeviceDocument { schema: Some(DEVICE_SCHEMA.into()), ..json_device(d) }
}

/// `rules --format json`.
pub fn json_rules() -> RulesDocument {
    RulesDocument::catalogue()
}

/// Why a function is no candidate for assignment to a guest at all, by its class: bridges (the
/// host bridge, ISA/LPC, PCI-to-PCI), base system peripherals (interrupt controllers, timers,
/// the IOMMU itself) and SMBus controllers belong to the host.
pub fn not_a_candidate(class: Option<u32>) -> Option<&'static str> {
    let class = class?;
    match (class >> 16, (class >> 8) & 0xff) {
        (0x06, _) => Some("a bridge"),
        (0x08, _) => Some("a base system peripheral (interrupt controller, timer, IOMMU)"),
        (0x0c, 0x05) => Some("an SMBus controller"),
        _ => None,
    }
}

/// `audit --format qemu`: a `-device vfio-pci` line per function that may be assigned, with the
/// properties its decision needs. Refused functions and functions that belong to the host get a
/// comment saying why, never a line; so do functions assignable only with risk `unsafe`, unless
/// `allow_unsafe` (the operator asked for them). Everything from the host is printed on one line.
pub fn qemu_properties(r: &AuditReport, allow_unsafe: bool) -> String {
    use crate::policy::{Exposure, Risk};
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# msix-policy audit of {} for QEMU (-device vfio-pci properties per function)",
        one_line(&r.root)
    );
    for d in &r.devices {
        let dec = &d.decision;
        // The address came from a directory name: only a real PCI address goes on a command line.
        let Ok(address) = crate::policy::PciAddress::parse(&d.address) else {
            let _ = writeln!(out, "# {}: not a PCI address, left out", one_line(&d.address));
            continue;
        };
        if let Some(what) = not_a_candidate(d.facts.class) {
            let _ = writeln!(
                out,
                "# {address}: {what} (class {:06x}): belongs to the host, not assigned",
                d.facts.class.unwrap_or(0)
            );
            continue;
        }
        let base = format!("-device vfio-pci,host={address}");
        let (line, why) = match dec.exposure {
            Exposure::Refuse => {
                let rules: Vec<&str> = dec.rule_ids().collect();
                (None, format!("refuse: do not assign ({})", rules.join(" > ")))
            }
            Exposure::Relocate => match dec.plan.as_ref().and_then(|p| p.relocation) {
                Some(rel) => (
                    Some(format!("{base},x-msix-relocation=bar{}", rel.bar)),
                    format!(
                        "relocate: virtual table in BAR{} ({}, {} bytes), every physical BAR mapped whole",
                        rel.bar,
                        if rel.origin == crate::policy::BarOrigin::Virtual { "a new BAR" } else { "the BAR enlarged" },
                        rel.bar_size
                    ),
                ),
                None => (Some(base.clone()), "relocate without a relocation: keep QEMU's defaults".into()),
            },
            Exposure::Passthrough => (
                Some(base.clone()),
                "passthrough: nothing to set; the pseries machine's vfio-no-msix-emulation (always on, \
                 hw/ppc/spapr.c) already turns QEMU's table emulation off"
                    .into(),
            ),
            Exposure::Trap => (Some(base.clone()), "trap: QEMU's default traps the table pages".into()),
            Exposure::None => (Some(base.clone()), "no MSI-X: nothing to set".into()),
            // An exposure this release does not know: assign nothing rather than guess.
            other => (None, format!("{}: not realisable in QEMU by this release", other.as_str())),
        };
        let (line, why) = match line {
            Some(_) if dec.risk == Risk::Unsafe && !allow_unsafe => (
                None,
                format!(
                    "risk unsafe: its MSIs are not isolated, a guest can raise interrupts it does not own \
                     ({}); left out (--allow-unsafe prints it)",
                    dec.rule_ids().collect::<Vec<_>>().join(" > ")
                ),
            ),
            Some(l) if dec.risk == Risk::Unsafe => (Some(l), format!("risk UNSAFE, printed as asked: {why}")),
            other => (other, why),
        };
        match line {
            Some(l) => {
                let _ = writeln!(out, "{l}\n    # {address}: {}", one_line(&why));
            }
            None => {
                let _ = writeln!(out, "# {address}: {}", one_line(&why));
            }
        }
    }
    out
}

/// A host-derived string on one line: control characters (a newline in a path) become `?`.
pub fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// `plan --format text`: the layout a VMM programs, slot by slot.
pub fn text_layout(l: &crate::policy::Layout) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "layout v{} ({} mode), {} KiB pages: exposure {} risk {}, {} bytes trapped ({} collateral)",
        l.layout_version,
        l.mode.as_str(),
        l.page_size / 1024,
        l.exposure.as_str(),
        l.risk.as_str(),
        l.trapped_bytes,
        l.collateral_bytes
    );
    for b in &l.bars {
        let _ = writeln!(
            out,
            "BAR{} {}{} size {:#x} align {:#x} ({}, region {:#x})",
            b.index,
            b.kind,
            if b.prefetchable { " prefetchable" } else { "" },
            b.size,
            b.alignment,
            b.origin,
            b.region_size
        );
        for m in &b.mmap {
            let _ = writeln!(
                out,
                "  slot   {:#010x}+{:#x}  mmap {:#x} bytes at fd offset {:#x}",
                m.offset, m.length, m.mmap_length, m.region_offset
            );
        }
        for t in &b.trap {
            let _ = writeln!(out, "  trap   {:#010x}+{:#x}  {} -> {}", t.offset, t.length, t.holds, t.handler);
        }
    }
    if let Some(m) = &l.msix {
        let _ = writeln!(
            out,
            "MSI-X at config {:#x}: {} vectors, table BAR{}+{:#x} (register {:#010x}), PBA BAR{}+{:#x} (register {:#010x}){}",
            m.cap_offset,
            m.table_size,
            m.table_bir,
            m.table_offset,
            m.table_register,
            m.pba_bir,
            m.pba_offset,
            m.pba_register,
            if m.relocated { ", relocated" } else { "" }
        );
    }
    for r in &l.decision.reasons {
        let _ = writeln!(out, "  {}: {}", r.rule, r.detail);
    }
    out
}
