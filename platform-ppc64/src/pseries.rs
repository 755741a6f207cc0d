//! pSeries: which functions the hypervisor validates and which a QEMU pseries machine emulates.
//!
//! PAPR's per-PE MSI validation holds where the hypervisor validates: every PCI function of a
//! PowerVM LPAR, and the physical functions KVM passes through (the host's PHB checks each MSI).
//! A function the QEMU pseries machine emulates has its MSIs raised by QEMU's MSI window
//! (`hw/ppc/spapr_pci.c`, `spapr_msi_write`), which turns whatever data is written into an
//! interrupt number without looking at the writer. QEMU names such a function in its
//! device-tree node's `ibm,loc-code` as `qemu_<type>:<phb>:<bus>:<slot>.<fn>`
//! (`spapr_phb_get_loc_code`); a VFIO function carries the host's own location code (from the
//! host's `devspec` and `ibm,loc-code`), or `vfio_<type>:...` when QEMU could not read it.

use msix_backends::devicetree as dt;
use msix_backends::{PciFunction, Root};
use msix_policy_engine::{Evidence, IsolationVerdict, RuleId};

/// The QEMU pseries machine's `model` (hw/ppc/spapr.c).
pub const QEMU_MODEL: &str = "IBM pSeries (emulated by qemu)";
/// The QEMU pseries machine's root `compatible` (hw/ppc/spapr.c).
pub const QEMU_COMPATIBLE: &str = "qemu,pseries";
/// `/hypervisor` `compatible` under KVM (hw/ppc/spapr.c spapr_dt_hypervisor, KVM only).
pub const KVM_HYPERVISOR: &str = "linux,kvm";
/// Location-code prefix QEMU gives a function it emulates.
pub const QEMU_LOC_PREFIX: &str = "qemu_";
/// Location-code prefix QEMU gives a VFIO function whose host location code it could not read.
pub const VFIO_LOC_PREFIX: &str = "vfio_";
/// Bits of the domain number Linux takes from a PHB's `reg` (pci-common.c get_phb_number, MAX_PHBS).
const MAX_PHBS: u32 = 0x10000;

/// Who runs this partition, from the device tree root and `/hypervisor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Machine {
    /// QEMU's pseries machine (TCG or KVM): it emulates some functions and may pass others through.
    Qemu,
    /// A KVM guest whose VMM is not identified: it may emulate functions too.
    Kvm,
    /// PowerVM (root `compatible`/`model` `IBM,<type-model>`, no `/hypervisor` node): no PCI
    /// function is emulated; virtual I/O is on the VIO bus, not PCI.
    PowerVm,
    /// Nothing identifies the hypervisor.
    Unknown,
}

/// The partition's machine, with what identified it.
pub fn machine(root: &Root) -> (Machine, Vec<Evidence>) {
    let model = dt::strings(root, "model").and_then(|s| s.into_iter().next());
    let compat = dt::strings(root, "compatible").unwrap_or_default();
    let hyp = dt::strings(root, "hypervisor/compatible").unwrap_or_default();
    let mut ev = Vec::new();
    if let Some(m) = &model {
        ev.push(Evidence::new(dt::path("model"), m.clone()));
    }
    if !compat.is_empty() {
        ev.push(Evidence::new(dt::path("compatible"), compat.join(", ")));
    }
    if !hyp.is_empty() {
        ev.push(Evidence::new(dt::path("hypervisor/compatible"), hyp.join(", ")));
    }
    let qemu = model.as_deref() == Some(QEMU_MODEL) || compat.iter().any(|c| c == QEMU_COMPATIBLE);
    let kvm = hyp.iter().any(|c| c == KVM_HYPERVISOR);
    let ibm = model.as_deref().is_some_and(|m| m.starts_with("IBM,")) || compat.iter().any(|c| c.starts_with("IBM,"));
    let m = if qemu {
        Machine::Qemu
    } else if kvm {
        Machine::Kvm
    } else if ibm && !root.exists(&dt::path("hypervisor")) {
        Machine::PowerVm
    } else {
        Machine::Unknown
    };
    (m, ev)
}

impl Machine {
    fn describe(&self) -> &'static str {
        match self {
            Machine::Qemu => "a QEMU pseries machine",
            Machine::Kvm => "a KVM guest",
            Machine::PowerVm => "a PowerVM LPAR",
            Machine::Unknown => "an unidentified pSeries hypervisor",
        }
    }
}

/// The function's device-tree node: its `of_node` link, else the child of its PHB whose `reg`
/// names its bus, device and function (a PHB's domain is `linux,pci-domain`, else the low bits
/// of `reg` cell 1, as Linux's get_phb_number numbers pSeries PHBs).
pub fn function_node(root: &Root, tree: &dt::DeviceTree, f: &PciFunction) -> Option<(String, Evidence)> {
    if let Some(node) = &f.of_node {
        // The kernel's link names a node below the tree's base; one that climbs out of it or
        // names no node is bad input, and leaves the function's node unknown.
        if node.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            return None;
        }
        let ev = Evidence::new(format!("sys/bus/pci/devices/{}/of_node", f.facts.address), format!("-> {node}"));
        return Some((node.clone(), ev));
    }
    let addr = msix_backends::pci::parse_address(&f.facts.address)?;
    let phbs: Vec<&dt::Node> = tree
        .nodes
        .iter()
        .filter(|n| !n.path.is_empty() && !n.path.contains('/') && n.device_type.as_deref() == Some("pci"))
        .collect();
    let domain_of = |n: &str| {
        dt::cells(root, &format!("{n}/linux,pci-domain"))
            .and_then(|c| c.first().copied())
            .or_else(|| dt::cells(root, &format!("{n}/reg")).and_then(|c| c.get(1).copied()).map(|r| r % MAX_PHBS))
    };
    let mut matching = phbs.iter().filter(|p| domain_of(&p.path) == Some(u32::from(addr.domain)));
    let phb = matching.next()?;
    if matching.next().is_some() {
        return None; // Two PHBs claim the domain: Linux would have numbered one dynamically.
    }
    let want = (u32::from(addr.bus) << 16) | (u32::from(addr.device) << 11) | (u32::from(addr.function) << 8);
    let prefix = format!("{}/", phb.path);
    tree.nodes.iter().filter(|n| n.path.starts_with(&prefix)).find_map(|n| {
        let hi = dt::cells(root, &format!("{}/reg", n.path))?.first().copied()?;
        (hi & 0x00ff_ff00 == want).then(|| {
            let ev = Evidence::new(dt::path(&format!("{}/reg", n.path)), format!("{hi:#010x}: {}", f.facts.address));
            (n.path.clone(), ev)
        })
    })
}

/// The function's `ibm,loc-code`, with the evidence of how its node was found.
fn loc_code(root: &Root, tree: &dt::DeviceTree, f: &PciFunction) -> Result<(String, Vec<Evidence>), Evidence> {
    let Some((node, found)) = function_node(root, tree, f) else {
        return Err(Evidence::new(dt::path(""), format!("no device-tree node found for {}", f.facts.address)));
    };
    let prop = format!("{node}/ibm,loc-code");
    match dt::strings(root, &prop).and_then(|s| s.into_iter().next()) {
        Some(loc) if !loc.trim().is_empty() && loc.chars().all(|c| !c.is_control()) => {
            Ok((loc.clone(), vec![Evidence::new(dt::path(&prop), loc), found]))
        }
        _ => Err(Evidence::new(dt::path(&prop), "missing or unreadable")),
    }
}

/// The verdict for one function of a pSeries partition whose RTAS offers `ibm,change-msi`.
/// `host_ev` is the partition-wide evidence (RTAS, platform line, interrupt controller).
pub fn verdict(
    root: &Root,
    tree: &dt::DeviceTree,
    f: &PciFunction,
    machine: &(Machine, Vec<Evidence>),
    host_ev: &[Evidence],
) -> IsolationVerdict {
    let (m, machine_ev) = machine;
    let with = |mut first: Vec<Evidence>| {
        first.extend(machine_ev.iter().cloned());
        first.extend(host_ev.iter().cloned());
        first
    };
    match loc_code(root, tree, f) {
        Ok((loc, ev)) if loc.starts_with(QEMU_LOC_PREFIX) => IsolationVerdict::not_isolated(
            RuleId::PSERIES_EMULATED,
            format!(
                "emulated by QEMU (ibm,loc-code {loc}): QEMU's MSI window raises whatever interrupt the data names, \
                 whoever writes it; the location code decided"
            ),
            with(ev),
        ),
        Ok((loc, ev)) => {
            let how = if loc.starts_with(VFIO_LOC_PREFIX) {
                "passed through by VFIO (QEMU could not read the host's location code)"
            } else if *m == Machine::PowerVm {
                "a physical function of a PowerVM LPAR"
            } else {
                "a physical function: it carries a real location code, not one QEMU made up"
            };
            IsolationVerdict::isolated(
                RuleId::PSERIES_PAPR,
                format!(
                    "PAPR hypervisor validates MSIs per PE (RTAS ibm,change-msi); ibm,loc-code {loc}: {how}; \
                     the location code decided"
                ),
                with(ev),
            )
        }
        Err(missing) if *m == Machine::PowerVm => IsolationVerdict::isolated(
            RuleId::PSERIES_PAPR,
            "PAPR hypervisor validates MSIs per PE (RTAS ibm,change-msi); PowerVM emulates no PCI function; \
             the machine identity decided",
            with(vec![missing]),
        ),
        Err(missing) => IsolationVerdict::unknown(
            RuleId::PSERIES_ORIGIN_UNKNOWN,
            format!(
                "{}: without the function's ibm,loc-code, an emulated function (not isolated) cannot be told \
                 from a passed-through one",
                m.describe()
            ),
            with(vec![missing]),
        ),
    }
}
