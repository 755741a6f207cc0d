//! x86 hosts: Intel VT-d and AMD-Vi interrupt remapping, read from sysfs, the kernel command
//! line, `/proc/interrupts`, the kernel log and the ACPI DMAR table.

#![deny(missing_docs)]

use msix_backends::acpi;
use msix_backends::host::KernelSources;
use msix_backends::platform::{chip_evidence, msi_chips};
use msix_backends::{HostContext, PciFunction, PlatformAssessment, PlatformBackend, Root};
use msix_policy_engine::{Evidence, IsolationVerdict, Platform, RuleId};

pub(crate) const IOMMU_CLASS: &str = "sys/class/iommu";
/// ECAP_REG bit 3: interrupt remapping supported (VT-d spec 10.4.3).
pub(crate) const ECAP_IR: u64 = 1 << 3;
/// ECAP_REG bit 4: extended interrupt mode (x2APIC) supported.
pub(crate) const ECAP_EIM: u64 = 1 << 4;
/// DMAR Flags (offset 37) bit 0: INTR_REMAP; bit 1: X2APIC_OPT_OUT.
pub(crate) const DMAR_FLAGS_OFFSET: usize = 37;
pub(crate) const DMAR_INTR_REMAP: u8 = 1 << 0;

/// One remapping unit under `sys/class/iommu`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VtdUnit {
    pub name: String,
    pub ecap: Option<u64>,
    pub cap: Option<u64>,
}

/// The x86 backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct X86Backend;

impl PlatformBackend for X86Backend {
    fn name(&self) -> &'static str {
        "x86"
    }

    fn assess(&self, ctx: &HostContext<'_>, functions: &[PciFunction]) -> PlatformAssessment {
        let root = ctx.root;
        let names = root.list(IOMMU_CLASS).unwrap_or_default();
        let vtd: Vec<&String> =
            names.iter().filter(|n| root.is_dir(&format!("{IOMMU_CLASS}/{n}/intel-iommu"))).collect();
        let amd: Vec<&String> = names.iter().filter(|n| root.is_dir(&format!("{IOMMU_CLASS}/{n}/amd-iommu"))).collect();
        let (platform, host_verdict, evidence) = if !vtd.is_empty() {
            let units: Vec<VtdUnit> = vtd.iter().map(|n| read_vtd_unit(root, n)).collect();
            let (v, ev) = vtd_verdict(root, ctx.kernel, &units);
            (Platform::X86Vtd, v, ev)
        } else if !amd.is_empty() {
            let (v, ev) = amd_verdict(root, ctx.kernel, &amd);
            (Platform::X86AmdVi, v, ev)
        } else {
            let seen = if names.is_empty() {
                "no remapping units".to_string()
            } else {
                format!("units {names:?}, none VT-d or AMD-Vi")
            };
            let ev = vec![Evidence::new(IOMMU_CLASS, seen)];
            let v = no_unit_verdict(ctx.kernel, &ev);
            (Platform::X86NoIommu, v, ev)
        };
        let verdicts = functions.iter().map(|f| per_device(ctx.kernel, f, &host_verdict, platform)).collect();
        PlatformAssessment { platform, evidence, verdicts }
    }
}

/// No remapping unit is registered. With `intel_iommu=off` Linux still enables VT-d interrupt
/// remapping (irq_remapping.c's intel_prepare_irq_remapping does not look at dmar_disabled), but
/// intel_iommu_init stops before registering the units with the IOMMU core: no
/// `sys/class/iommu` entry and no IOMMU group. The MSIs are remapped then; saying otherwise would
/// be false. Unknown, not isolated: msix-policy does not vouch for a remapper it cannot read,
/// and without a group the device is refused anyway.
fn no_unit_verdict(kernel: &KernelSources, ev: &[Evidence]) -> IsolationVerdict {
    let remapped = remapping_active(kernel, "Enabled IRQ remapping in")
        .or_else(|| remapping_active(kernel, "Interrupt remapping enabled"))
        .filter(|(active, _)| *active);
    match remapped {
        Some((_, e)) => {
            let mut all = vec![e];
            all.extend(kernel.cmdline_has("intel_iommu", "off"));
            all.extend(kernel.cmdline_has("amd_iommu", "off"));
            all.extend(ev.iter().cloned());
            IsolationVerdict::unknown(
                RuleId::X86_IR_WITHOUT_DMA_REMAPPING,
                "interrupts are remapped, but DMA remapping is off (no IOMMU unit registered, as with \
                 intel_iommu=off): VFIO has no IOMMU group to assign through",
                all,
            )
        }
        None => IsolationVerdict::not_isolated(
            RuleId::X86_NO_IOMMU,
            "no VT-d or AMD-Vi unit: MSIs are not remapped",
            ev.to_vec(),
        ),
    }
}

fn hex_attr(root: &Root, rel: &str) -> Option<u64> {
    root.read_value(rel).ok().and_then(|v| msix_backends::root::parse_hex(&v))
}

pub(crate) fn read_vtd_unit(root: &Root, name: &str) -> VtdUnit {
    let base = format!("{IOMMU_CLASS}/{name}/intel-iommu");
    VtdUnit {
        name: name.to_string(),
        ecap: hex_attr(root, &format!("{base}/ecap")),
        cap: hex_attr(root, &format!("{base}/cap")),
    }
}

/// The DMAR table's flags byte, if the table was recorded and is well formed.
pub(crate) fn dmar_flags(root: &Root) -> Result<u8, String> {
    let t = acpi::table(root, "DMAR").map_err(|e| e.to_string())?;
    t.get(DMAR_FLAGS_OFFSET).copied().ok_or_else(|| "DMAR: no flags byte".to_string())
}

/// Whether the kernel's own words say remapping is active: (active, evidence).
fn remapping_active(kernel: &KernelSources, enabled_msg: &str) -> Option<(bool, Evidence)> {
    if let Some(ev) = kernel.dmesg_line(enabled_msg) {
        return Some((true, ev));
    }
    let ints = kernel.interrupts.value.as_ref()?;
    let msi: Vec<_> = ints.msi_lines().collect();
    let ir = msi.iter().find(|l| l.chip.starts_with("IR-"));
    match (ir, msi.first()) {
        (Some(l), _) => Some((true, Evidence::new("proc/interrupts", format!("irq {}: {}", l.irq, l.chip)))),
        (None, Some(l)) => Some((
            false,
            Evidence::new("proc/interrupts", format!("irq {}: {} (no IR- chip on any MSI line)", l.irq, l.chip)),
        )),
        (None, None) => None,
    }
}

/// Missing sources, named for an unknown verdict.
fn missing_sources(kernel: &KernelSources) -> Vec<Evidence> {
    [&kernel.interrupts.evidence, &kernel.dmesg.evidence].into_iter().cloned().collect()
}

pub(crate) fn vtd_verdict(root: &Root, kernel: &KernelSources, units: &[VtdUnit]) -> (IsolationVerdict, Vec<Evidence>) {
    let (mut ev, dmar) = vtd_evidence(root, units);
    let verdict = command_line_verdict(kernel, &mut ev)
        .or_else(|| hardware_verdict(kernel, units, &dmar, &ev))
        .unwrap_or_else(|| remapping_verdict(kernel, &ev));
    (verdict, ev)
}

/// Each unit's ecap and the DMAR flags, as evidence; the flags too.
fn vtd_evidence(root: &Root, units: &[VtdUnit]) -> (Vec<Evidence>, Result<u8, String>) {
    let mut ev: Vec<Evidence> = units
        .iter()
        .map(|u| {
            let ecap = u.ecap.map_or("ecap unreadable".to_string(), |e| {
                format!("ecap {e:#x}: IR {}, EIM {}", (e & ECAP_IR != 0) as u8, (e & ECAP_EIM != 0) as u8)
            });
            Evidence::new(format!("{IOMMU_CLASS}/{}/intel-iommu/ecap", u.name), ecap)
        })
        .collect();
    let dmar = dmar_flags(root);
    ev.push(match &dmar {
        Ok(f) => Evidence::new(
            "sys/firmware/acpi/tables/DMAR",
            format!("flags {f:#04x}: INTR_REMAP {}, X2APIC_OPT_OUT {}", f & 1, (f >> 1) & 1),
        ),
        Err(e) => Evidence::new("sys/firmware/acpi/tables/DMAR", e.clone()),
    });
    (ev, dmar)
}

/// Not isolated, for `why`, with `extra` in front of the units' evidence.
fn not_isolated(rule: RuleId, why: &str, extra: Evidence, ev: &[Evidence]) -> IsolationVerdict {
    let mut all = vec![extra];
    all.extend_from_slice(ev);
    IsolationVerdict::not_isolated(rule, why, all)
}

/// What the kernel command line settles, as the kernel applies it: `nointremap` and every
/// `intremap=` in order (the last `on`/`off` wins; `nosid` sticks), from /proc/cmdline, else the
/// kernel log's "Command line:". The kernel log outranks the command line where it says what the
/// kernel concluded: remapping left off by the parameters, but "DMAR-IR: Enabled IRQ remapping"
/// in the log, is on (the log is the kernel's own word; the reading of the parameters a guess).
/// Unknown when the command line cannot be read at all: only it shows `nosid`.
fn command_line_verdict(kernel: &KernelSources, ev: &mut Vec<Evidence>) -> Option<IsolationVerdict> {
    let (ir, e) = match kernel.intremap() {
        Ok(Some(found)) => found,
        Ok(None) => return None,
        Err(()) => {
            let mut all = vec![kernel.cmdline.evidence.clone(), kernel.dmesg.evidence.clone()];
            all.extend(ev.iter().cloned());
            let why = "the kernel command line is unknown, so intremap=nosid cannot be ruled out";
            return Some(IsolationVerdict::unknown(RuleId::VTD_IR_UNKNOWN, why, all));
        }
    };
    let from_log = if e.source == msix_backends::fixture::DMESG_TXT { " (from the kernel log)" } else { "" };
    if ir.off {
        match kernel.dmesg_line("Enabled IRQ remapping in") {
            Some(log) => ev.insert(0, outranked(&e, log)),
            None => {
                let why = format!("interrupt remapping disabled on the command line{from_log}");
                return Some(not_isolated(RuleId::VTD_INTREMAP_OFF, &why, e, ev));
            }
        }
    }
    if ir.nosid {
        let why = format!("source-id verification disabled{from_log}: any device may use any IRTE");
        return Some(not_isolated(RuleId::VTD_SID_OFF, &why, e, ev));
    }
    None
}

/// Evidence that the kernel log contradicts the command line's `off`, and wins.
fn outranked(cmdline: &Evidence, log: Evidence) -> Evidence {
    Evidence::new(
        log.source.clone(),
        format!(
            "{} (the kernel log outranks the command line's {}: {})",
            log.observed, cmdline.source, cmdline.observed
        ),
    )
}

/// What the hardware and firmware settle: compatibility format allowed, no INTR_REMAP in the
/// DMAR flags, a unit without the IR capability.
fn hardware_verdict(
    kernel: &KernelSources,
    units: &[VtdUnit],
    dmar: &Result<u8, String>,
    ev: &[Evidence],
) -> Option<IsolationVerdict> {
    if let Some(e) = kernel.dmesg_line("Compatibility-format IRQs enabled despite intr remapping") {
        return Some(not_isolated(RuleId::VTD_COMPAT_FORMAT, "compatibility-format interrupts are not blocked", e, ev));
    }
    if let Ok(f) = dmar {
        if f & DMAR_INTR_REMAP == 0 {
            let e = Evidence::new("sys/firmware/acpi/tables/DMAR", format!("flags {f:#04x}: INTR_REMAP clear"));
            return Some(not_isolated(
                RuleId::VTD_FIRMWARE_NO_IR,
                "firmware does not offer interrupt remapping",
                e,
                ev,
            ));
        }
    }
    let u = units.iter().find(|u| u.ecap.is_some_and(|e| e & ECAP_IR == 0))?;
    let e = Evidence::new(format!("{IOMMU_CLASS}/{}/intel-iommu/ecap", u.name), "IR bit clear");
    Some(not_isolated(RuleId::VTD_HW_NO_IR, "a DMAR unit cannot remap interrupts", e, ev))
}

/// Whether remapping is active, from the interrupt chips and the kernel log.
fn remapping_verdict(kernel: &KernelSources, ev: &[Evidence]) -> IsolationVerdict {
    match remapping_active(kernel, "Enabled IRQ remapping in") {
        Some((true, e)) => {
            let mut all = vec![e];
            all.extend(ev.iter().cloned());
            let mode = if kernel.dmesg_line("IRQ remapping in x2apic mode").is_some() { " (x2apic mode)" } else { "" };
            let mech = format!("VT-d interrupt remapping{mode}, source-id verified, compatibility format blocked");
            IsolationVerdict::isolated(RuleId::VTD_IR_ENABLED, mech, all)
        }
        Some((false, e)) => not_isolated(RuleId::VTD_IR_NOT_ACTIVE, "MSIs are delivered without remapping", e, ev),
        None => {
            let mut all = missing_sources(kernel);
            all.extend(ev.iter().cloned());
            let why = "no interrupt line or kernel log shows whether remapping is active";
            IsolationVerdict::unknown(RuleId::VTD_IR_UNKNOWN, why, all)
        }
    }
}

pub(crate) fn amd_verdict(root: &Root, kernel: &KernelSources, units: &[&String]) -> (IsolationVerdict, Vec<Evidence>) {
    let ev: Vec<Evidence> = units
        .iter()
        .map(|n| {
            let f = root.read_value(&format!("{IOMMU_CLASS}/{n}/amd-iommu/features")).unwrap_or_else(|e| e.to_string());
            Evidence::new(format!("{IOMMU_CLASS}/{n}/amd-iommu/features"), f)
        })
        .collect();
    // intremap= as the kernel applies it (the last on/off wins), unless the log says remapping
    // came up anyway; amd_iommu=off is never undone (parse_amd_iommu_options only sets it).
    let mut ev = ev;
    let intremap_off = match kernel.intremap() {
        Ok(Some((ir, e))) if ir.off => match kernel.dmesg_line("Interrupt remapping enabled") {
            Some(log) => {
                ev.insert(0, outranked(&e, log));
                None
            }
            None => Some(e),
        },
        _ => None,
    };
    let off = kernel.cmdline_has("amd_iommu", "off").or(intremap_off);
    if let Some(e) = off {
        let mut all = vec![e];
        all.extend(ev.iter().cloned());
        let v = IsolationVerdict::not_isolated(
            RuleId::AMDVI_INTREMAP_OFF,
            "interrupt remapping disabled on the command line",
            all,
        );
        return (v, ev);
    }
    let mut all = ev.clone();
    match remapping_active(kernel, "Interrupt remapping enabled") {
        Some((true, e)) => {
            all.insert(0, e);
            let mech = "AMD-Vi interrupt remapping with a per-device table (DTE)";
            (IsolationVerdict::isolated(RuleId::AMDVI_IR_ENABLED, mech, all), ev)
        }
        Some((false, e)) => {
            all.insert(0, e);
            (
                IsolationVerdict::not_isolated(
                    RuleId::AMDVI_IR_NOT_ACTIVE,
                    "MSIs are delivered without remapping",
                    all,
                ),
                ev,
            )
        }
        None => {
            all.extend(missing_sources(kernel));
            let why = "no interrupt line or kernel log shows whether remapping is active";
            (IsolationVerdict::unknown(RuleId::AMDVI_IR_UNKNOWN, why, all), ev)
        }
    }
}

/// The host verdict, sharpened by the function's own interrupt lines where it has any.
fn per_device(
    kernel: &KernelSources,
    f: &PciFunction,
    host: &IsolationVerdict,
    platform: Platform,
) -> IsolationVerdict {
    let chips = msi_chips(kernel, f);
    let Some(chip_ev) = chip_evidence(&chips) else { return host.clone() };
    let remapped = chips.iter().all(|(_, c)| c.starts_with("IR-"));
    let not_active_rule = match platform {
        Platform::X86AmdVi => RuleId::AMDVI_IR_NOT_ACTIVE,
        _ => RuleId::VTD_IR_NOT_ACTIVE,
    };
    match host {
        // A device whose own vectors bypass the remapper is not isolated, whatever the host says.
        IsolationVerdict::Isolated { .. } if !remapped => {
            IsolationVerdict::not_isolated(not_active_rule, "this function's MSIs are not remapped", vec![chip_ev])
        }
        IsolationVerdict::Isolated { mechanism, rule, evidence } => {
            let mut ev = vec![chip_ev];
            ev.extend(evidence.iter().cloned());
            IsolationVerdict::isolated(rule.clone(), mechanism.clone(), ev)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msix_backends::host::HostIdentity;
    use msix_backends::testing::TempRoot;

    struct TestRoot(TempRoot);

    impl TestRoot {
        fn new() -> Self {
            TestRoot(TempRoot::new("x86"))
        }
        fn write(&self, rel: &str, data: &str) -> &Self {
            self.0.write(rel, data);
            self
        }
        fn assess(&self) -> PlatformAssessment {
            let root = Root::open(self.0.path()).unwrap();
            let kernel = KernelSources::read_with(&root, false);
            let identity = HostIdentity {
                arch: "x86_64".into(),
                page_size: 4096,
                kernel: "6.1.0".into(),
                fixture: None,
                evidence: vec![],
            };
            let ctx = HostContext { root: &root, identity: &identity, kernel: &kernel };
            X86Backend.assess(&ctx, &[])
        }
    }

    fn no_units(cmdline: &str, chip: &str, dmesg: &str) -> TestRoot {
        let t = TestRoot::new();
        t.write("proc/cmdline", &format!("BOOT_IMAGE=/vmlinuz root=/dev/vda1 {cmdline}\n"))
            .write(
                "proc/interrupts",
                &format!("           CPU0\n  24:          7  {chip} 512000-edge      virtio0-config\n"),
            )
            .write("dmesg.txt", dmesg);
        t
    }

    /// intel_iommu=off: Linux keeps interrupt remapping on but registers no VT-d unit.
    #[test]
    fn intel_iommu_off_with_remapped_interrupts_does_not_claim_msis_are_not_remapped() {
        let t = no_units("intel_iommu=off", "IR-PCI-MSI", "[    0.1] DMAR-IR: Enabled IRQ remapping in x2apic mode\n");
        assert_eq!(t.assess().platform, Platform::X86NoIommu);
        let root = Root::open(t.0.path()).unwrap();
        let v = no_unit_verdict(&KernelSources::read_with(&root, false), &[]);
        assert_eq!(v.rule(), RuleId::X86_IR_WITHOUT_DMA_REMAPPING);
        assert!(!v.is_isolated());
        assert!(!v.summary().contains("not remapped"), "{}", v.summary());
        assert!(v.evidence().iter().any(|e| e.observed.contains("intel_iommu=off")), "{v:?}");
        assert!(v.evidence().iter().any(|e| e.observed.contains("Enabled IRQ remapping")), "{v:?}");
    }

    /// A VT-d unit with IR, the given command line (None: no /proc/cmdline) and kernel log.
    fn vtd(cmdline: Option<&str>, dmesg: &str) -> IsolationVerdict {
        let t = TestRoot::new();
        t.write("sys/class/iommu/dmar0/intel-iommu/ecap", "0xf0205e\n").write(
            "proc/interrupts",
            "           CPU0\n  24:          7  IR-PCI-MSI 512000-edge      virtio0-config\n",
        );
        t.write("dmesg.txt", dmesg);
        if let Some(c) = cmdline {
            t.write("proc/cmdline", &format!("BOOT_IMAGE=/vmlinuz {c}\n"));
        }
        let root = Root::open(t.0.path()).unwrap();
        let kernel = KernelSources::read_with(&root, false);
        vtd_verdict(&root, &kernel, &[read_vtd_unit(&root, "dmar0")]).0
    }

    const IR_ON: &str = "[    0.2] DMAR-IR: Enabled IRQ remapping in x2apic mode\n";

    #[test]
    fn repeated_intremap_is_applied_in_order_and_the_last_on_off_wins() {
        let v = vtd(Some("intremap=off quiet intremap=on"), IR_ON);
        assert_eq!(v.rule(), RuleId::VTD_IR_ENABLED, "{v:?}");
        let v = vtd(Some("intremap=on quiet intremap=off"), "");
        assert_eq!(v.rule(), RuleId::VTD_INTREMAP_OFF, "{v:?}");
        assert!(v.evidence()[0].observed.contains("intremap=on, then intremap=off"), "{v:?}");
        // nosid sticks through a later intremap=on.
        let v = vtd(Some("intremap=nosid intremap=on"), IR_ON);
        assert_eq!(v.rule(), RuleId::VTD_SID_OFF, "{v:?}");
        // nointremap followed by intremap=on: on.
        assert_eq!(vtd(Some("nointremap intremap=on"), IR_ON).rule(), RuleId::VTD_IR_ENABLED);
    }

    #[test]
    fn the_kernel_log_outranks_a_command_line_that_reads_as_off() {
        // The log says the kernel enabled remapping: the command line's off is a misreading.
        let v = vtd(Some("intremap=off"), IR_ON);
        assert_eq!(v.rule(), RuleId::VTD_IR_ENABLED, "{v:?}");
        assert!(v.evidence().iter().any(|e| e.observed.contains("outranks the command line")), "{v:?}");
        // Without the log line the command line decides.
        assert_eq!(vtd(Some("intremap=off"), "").rule(), RuleId::VTD_INTREMAP_OFF);
        // The log never clears nosid: it does not say whether source-ids are checked.
        assert_eq!(vtd(Some("intremap=off,nosid"), IR_ON).rule(), RuleId::VTD_SID_OFF);
    }

    #[test]
    fn the_kernel_logs_command_line_serves_when_proc_cmdline_is_missing() {
        let log = |c: &str, extra: &str| format!("[    0.0] Command line: BOOT_IMAGE=/vmlinuz {c}\n{extra}");
        let v = vtd(None, &log("intremap=off intremap=on", IR_ON));
        assert_eq!(v.rule(), RuleId::VTD_IR_ENABLED, "{v:?}");
        let v = vtd(None, &log("intremap=on intremap=off", ""));
        assert_eq!(v.rule(), RuleId::VTD_INTREMAP_OFF, "{v:?}");
        assert!(v.summary().contains("from the kernel log"), "{}", v.summary());
        assert_eq!(vtd(None, &log("intremap=nosid", IR_ON)).rule(), RuleId::VTD_SID_OFF);
        // Neither /proc/cmdline nor a logged command line: unknown.
        assert_eq!(vtd(None, IR_ON).rule(), RuleId::VTD_IR_UNKNOWN);
    }

    #[test]
    fn amd_vi_applies_intremap_in_order_and_keeps_amd_iommu_off() {
        let amd = |cmdline: &str, dmesg: &str| {
            let t = TestRoot::new();
            t.write("sys/class/iommu/ivhd0/amd-iommu/features", "0x0\n")
                .write("proc/cmdline", &format!("BOOT_IMAGE=/vmlinuz {cmdline}\n"))
                .write(
                    "proc/interrupts",
                    "           CPU0\n  24:          7  IR-PCI-MSI 512000-edge      virtio0-config\n",
                )
                .write("dmesg.txt", dmesg);
            let root = Root::open(t.0.path()).unwrap();
            let name = "ivhd0".to_string();
            amd_verdict(&root, &KernelSources::read_with(&root, false), &[&name]).0
        };
        let on = "[    0.3] AMD-Vi: Interrupt remapping enabled\n";
        assert_eq!(amd("intremap=off intremap=on", on).rule(), RuleId::AMDVI_IR_ENABLED);
        assert_eq!(amd("intremap=on intremap=off", "").rule(), RuleId::AMDVI_INTREMAP_OFF);
        let v = amd("intremap=off", on);
        assert_eq!(v.rule(), RuleId::AMDVI_IR_ENABLED, "{v:?}");
        assert!(v.evidence().iter().any(|e| e.observed.contains("outranks")), "{v:?}");
        assert_eq!(amd("amd_iommu=off intremap=on", "").rule(), RuleId::AMDVI_INTREMAP_OFF);
    }

    #[test]
    fn ir_chips_alone_are_evidence_of_remapping_and_none_keeps_the_old_rule() {
        let t = no_units("intel_iommu=off", "IR-PCI-MSI", "\n");
        let root = Root::open(t.0.path()).unwrap();
        let v = no_unit_verdict(&KernelSources::read_with(&root, false), &[]);
        assert_eq!(v.rule(), RuleId::X86_IR_WITHOUT_DMA_REMAPPING);
        let t = no_units("quiet", "PCI-MSI", "\n");
        let root = Root::open(t.0.path()).unwrap();
        let v = no_unit_verdict(&KernelSources::read_with(&root, false), &[]);
        assert_eq!(v.rule(), RuleId::X86_NO_IOMMU);
        assert!(v.summary().contains("not remapped"));
    }
}
