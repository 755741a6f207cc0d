//! The documents themselves: what `audit`, `explain` and `rules` print as JSON.

use serde::{Deserialize, Serialize};

use msix_policy_engine::{Evidence, GuestProfile, HostFacts, MappingPlan, MsixFacts, Reason};

/// One device in the audit JSON (`devices[]`), or alone in `explain --format json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeviceDocument {
    /// Set on a device printed alone (`explain`); absent inside an audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The function's PCI address (`0000:00:04.0`).
    pub address: String,
    /// The vendor id, four hex digits; `null` when unreadable.
    pub vendor: Option<String>,
    /// The device id, four hex digits; `null` when unreadable.
    pub device: Option<String>,
    /// The class code (class, subclass, programming interface), six hex digits; `null` when
    /// unreadable.
    pub class: Option<String>,
    /// The driver bound to the function (`vfio-pci`, `nvme`); `null` when none.
    pub driver: Option<String>,
    /// The function's IOMMU group; `null` when it has none.
    pub iommu_group: Option<u32>,
    /// MSI isolation: `isolated`, `not-isolated` or `unknown` (counted as not isolated).
    pub isolation: String,
    /// The rule id the isolation verdict cites.
    pub isolation_rule: String,
    /// The isolation verdict in one sentence.
    pub isolation_summary: String,
    /// Whether VFIO can assign the function; false exactly when the exposure is `refuse`.
    pub assignable: bool,
    /// How the guest programs MSI-X (resolved from `auto`).
    pub guest: GuestProfile,
    /// How the guest reaches the MSI-X table: `passthrough`, `trap`, `relocate`, `none` (no
    /// MSI-X) or `refuse`.
    pub exposure: String,
    /// What a guest can do with interrupts it does not own: `none`, `self-only` or `unsafe`.
    pub risk: String,
    /// The function's MSI-X capability as read from config space.
    pub msix: MsixFacts,
    /// The page-aligned mapping plan; `null` when the function is refused.
    pub plan: Option<MappingPlan>,
    /// Every rule that fired, in order, with its evidence and reference.
    pub reasons: Vec<Reason>,
    /// What the operator should know that does not change the decision.
    pub warnings: Vec<String>,
}

/// The audit JSON (`audit --format json`, `msix-policy/audit/v1`): the host and every device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditDocument {
    /// `msix-policy/audit/v1`.
    pub schema: String,
    /// The audited root (`/` or a recorded host's directory).
    pub root: String,
    /// Whether the root is the running host (not a recording).
    pub live: bool,
    /// The host's facts (architecture, kernel, page size, platform, VFIO backend).
    pub host: HostFacts,
    /// fixture.toml's `[source]` table, for recorded hosts; `null` otherwise.
    pub source: Option<FixtureSource>,
    /// Where the host's facts came from: identity, kernel command line, interrupts, kernel log.
    pub host_evidence: Vec<Evidence>,
    /// The evidence behind the platform's isolation assessment.
    pub platform_evidence: Vec<Evidence>,
    /// KVM's MSI facilities, probed on the live host only; `null` otherwise.
    pub kvm: Option<KvmFacts>,
    /// Every PCI function under the root, decided.
    pub devices: Vec<DeviceDocument>,
}

/// A recorded host's `[source]` table (fixture.toml) as the audit JSON carries it.
// The fields carry no description in the schema, as before this type moved here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(description = "")]
pub struct FixtureSource {
    #[allow(missing_docs)]
    #[serde(default)]
    pub kind: String,
    #[allow(missing_docs)]
    #[serde(default)]
    pub description: String,
    #[allow(missing_docs)]
    #[serde(default)]
    pub machine: String,
}

/// KVM's MSI facilities, as far as they could be probed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KvmFacts {
    /// `/dev/kvm` could be opened.
    pub available: bool,
    /// `KVM_CAP_SIGNAL_MSI`: the VMM can inject an MSI by address/data.
    pub signal_msi: Option<bool>,
    /// `KVM_CAP_MSI_DEVID`: MSIs carry a device ID (needed for a virtual ITS on arm64).
    pub msi_devid: Option<bool>,
    #[allow(missing_docs)]
    pub evidence: Vec<Evidence>,
}

/// One entry of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Rule {
    /// The stable, dotted id a [`Reason`](crate::Reason) cites (`isolation.vtd.ir-enabled`).
    pub id: String,
    /// What the rule says, in one sentence.
    pub summary: String,
    /// Spec section or kernel source the rule rests on.
    pub reference: String,
}

impl From<&msix_policy_engine::Rule> for Rule {
    fn from(r: &msix_policy_engine::Rule) -> Self {
        Rule { id: r.id.into(), summary: r.summary.into(), reference: r.reference.into() }
    }
}

/// `rules --format json`: the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RulesDocument {
    /// `msix-policy/rules/v1`.
    pub schema: String,
    /// Every rule of the catalogue: its id, summary and reference.
    pub rules: Vec<Rule>,
}

impl RulesDocument {
    /// The engine's whole catalogue ([`msix_policy_engine::Rule::ALL`]).
    pub fn catalogue() -> Self {
        RulesDocument {
            schema: crate::RULES_SCHEMA.into(),
            rules: msix_policy_engine::Rule::ALL.iter().map(Rule::from).collect(),
        }
    }
}
