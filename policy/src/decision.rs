//! What the engine answers: exposure, risk, plan and the reasons for them.

use serde::{Deserialize, Serialize};

use crate::facts::{Evidence, IsolationVerdict};
use crate::plan::MappingPlan;
use crate::rules::RuleId;

/// How the MSI-X table is exposed to the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Exposure {
    /// Nothing traps: the guest reaches the physical table (paravirtual guests).
    Passthrough,
    /// The VMM presents a virtual table elsewhere; the physical BAR is mapped whole.
    Relocate,
    /// The table and PBA pages trap; the rest is mapped.
    Trap,
    /// The device is not assignable; there is no plan.
    Refuse,
    /// The function has no MSI-X table.
    None,
}

impl Exposure {
    /// Safety order: Refuse > Trap > Relocate > Passthrough. `None` has no table to expose.
    pub fn safety(self) -> u8 {
        match self {
            Exposure::Passthrough => 0,
            Exposure::Relocate => 1,
            Exposure::Trap | Exposure::None => 2,
            Exposure::Refuse => 3,
        }
    }
    /// The kebab-case name used in JSON and text (`passthrough`, `relocate`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Exposure::Passthrough => "passthrough",
            Exposure::Relocate => "relocate",
            Exposure::Trap => "trap",
            Exposure::Refuse => "refuse",
            Exposure::None => "none",
        }
    }
}

/// Who can be hurt through the device's MSI-X.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Risk {
    /// Nothing of the device's MSI-X is reachable by the guest.
    None,
    /// Reachable, but isolation confines the damage to the device's own interrupts.
    SelfOnly,
    /// allow_unsafe_interrupts on a non-isolated device.
    Unsafe,
}

impl Risk {
    /// The kebab-case name used in JSON and text (`none`, `self-only`, `unsafe`).
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::None => "none",
            Risk::SelfOnly => "self-only",
            Risk::Unsafe => "unsafe",
        }
    }
}

/// How the guest programs MSI-X.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum GuestProfile {
    /// PAPR guests: RTAS/hypercalls, never table writes.
    Paravirtual,
    /// x86 and arm64 guests write the table.
    DirectTableWrites,
}

impl GuestProfile {
    /// The kebab-case name used in JSON and text.
    pub fn as_str(self) -> &'static str {
        match self {
            GuestProfile::Paravirtual => "paravirtual",
            GuestProfile::DirectTableWrites => "direct-table-writes",
        }
    }
}

/// The VMM's choice of guest profile; `Auto` derives it from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum GuestSelection {
    /// Derive it from the host: a POWER host runs PAPR guests, everything else writes the table.
    #[default]
    Auto,
    /// The guest programs MSI-X by hypercall (PAPR).
    Paravirtual,
    /// The guest writes the table (x86, arm64).
    DirectTableWrites,
}

/// One step of the rationale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct Reason {
    /// The rule id that fired, from the catalogue (`msix-policy rules`), e.g. `isolation.vtd.ir-enabled`.
    pub rule: RuleId,
    /// What the rule found for this device, in words.
    pub detail: String,
    /// The files (or probes) read, and what was read there.
    pub evidence: Vec<Evidence>,
    /// The rule's reference from the catalogue: `docs/policy.md#<rule>`, a spec section or a
    /// kernel source.
    pub reference: String,
}

impl Reason {
    /// A reason for `rule`, its reference looked up in the catalogue (empty for an unknown id).
    pub fn new(rule: RuleId, detail: impl Into<String>, evidence: Vec<Evidence>) -> Self {
        Reason { reference: rule.reference().to_string(), rule, detail: detail.into(), evidence }
    }
}

/// The engine's answer for one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[non_exhaustive]
pub struct Decision {
    /// The device's address (`DDDD:BB:DD.F`).
    pub address: String,
    /// How the guest programs MSI-X (resolved from `auto`).
    pub guest: GuestProfile,
    /// The isolation verdict the decision started from (step 1).
    pub isolation: IsolationVerdict,
    /// Whether VFIO can assign the device (step 2); false exactly when the exposure is Refuse.
    pub assignable: bool,
    /// How the MSI-X table is exposed (step 3).
    pub exposure: Exposure,
    /// Who can be hurt through the device's MSI-X (step 4).
    pub risk: Risk,
    /// `None` only when the exposure is Refuse.
    pub plan: Option<MappingPlan>,
    /// Every step that fired, in order.
    pub reasons: Vec<Reason>,
    /// Costs or spec violations worth a human's attention (hot windows in trapped pages, ...).
    pub warnings: Vec<String>,
}

impl Decision {
    /// The rule ids of the reasons, in order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.reasons.iter().map(|r| r.rule.as_str())
    }
    /// Whether `rule` is among the reasons.
    pub fn fired(&self, rule: impl AsRef<str>) -> bool {
        self.rule_ids().any(|r| r == rule.as_ref())
    }
}
