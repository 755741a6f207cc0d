//! Devices known to report an MSI-X layout the PCI spec forbids, and the correction each needs.
//! Every entry names its source; a quirk applies only to the exact fault it corrects, and its
//! reason (own rule id, evidence) is part of the decision.

use crate::decision::Reason;
use crate::facts::{DeviceFacts, Evidence, MsixCapability, MsixFacts};
use crate::rules::RuleId;

/// One known device fault and its correction.
#[derive(Debug, Clone)]
pub struct Quirk {
    /// The rule id the decision cites when the quirk applies.
    pub rule: RuleId,
    /// The devices it concerns, in words.
    pub devices: &'static str,
    /// Where the correction comes from.
    pub source: &'static str,
    /// The corrected capability, when the quirk applies to this device.
    correct: fn(&DeviceFacts, &MsixCapability) -> Option<(MsixCapability, String)>,
}

/// Every known quirk.
pub const QUIRKS: &[Quirk] = &[Quirk {
    rule: RuleId::QUIRK_CHELSIO_T5_VF_PBA,
    devices: "Chelsio T5 virtual functions (vendor 0x1425, device 0x58xx)",
    source: "QEMU hw/vfio/pci.c (vfio_msix_early_setup)",
    correct: chelsio_t5_vf_pba,
}];

/// Chelsio T5 VFs report a PBA offset of 0x8000 in an 8 KiB BAR; the PBA is at 0x1000. QEMU
/// corrects it when the reported PBA offset is at or past the end of its BAR.
fn chelsio_t5_vf_pba(device: &DeviceFacts, cap: &MsixCapability) -> Option<(MsixCapability, String)> {
    const CHELSIO: u16 = 0x1425;
    const CORRECT_PBA: u32 = 0x1000;
    let (vendor, id) = (device.vendor?, device.device?);
    if vendor != CHELSIO || id & 0xff00 != 0x5800 {
        return None;
    }
    let bar = device.bar(cap.pba_bir).filter(|b| b.is_memory())?;
    let fixed = MsixCapability { pba_offset: CORRECT_PBA, ..*cap };
    let fits = u64::from(CORRECT_PBA) + fixed.pba_bytes() <= bar.size;
    (u64::from(cap.pba_offset) >= bar.size && fits).then(|| {
        let seen = format!(
            "{vendor:04x}:{id:04x} reports PBA offset {:#x} in BAR{} of {:#x} bytes; corrected to {CORRECT_PBA:#x}",
            cap.pba_offset, cap.pba_bir, bar.size
        );
        (fixed, seen)
    })
}

/// The device with its MSI-X capability corrected by the first quirk that applies, and the
/// reason that says so; `None` when no quirk applies.
pub(crate) fn apply(device: &DeviceFacts) -> Option<(DeviceFacts, Reason)> {
    let MsixFacts::Present { capability } = &device.msix else { return None };
    QUIRKS.iter().find_map(|q| {
        let (fixed, seen) = (q.correct)(device, capability)?;
        let mut evidence: Vec<Evidence> =
            device.evidence.iter().filter(|e| e.source.ends_with("/config")).cloned().collect();
        evidence.push(Evidence::new(format!("quirk {}", q.rule), seen));
        let detail =
            format!("{}: the reported MSI-X layout is a known fault, corrected as {} does", q.devices, q.source);
        let mut corrected = device.clone();
        corrected.msix = MsixFacts::Present { capability: fixed };
        Some((corrected, Reason::new(q.rule.clone(), detail, evidence)))
    })
}

impl DeviceFacts {
    /// The device with its MSI-X capability corrected by the first quirk of [`QUIRKS`] that
    /// applies, and the reason that says so; `None` when no quirk applies.
    pub fn with_quirks(&self) -> Option<(DeviceFacts, Reason)> {
        apply(self)
    }
}
