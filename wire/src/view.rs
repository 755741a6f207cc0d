//! The lenient reader of an audit/v1 document: the fields two audits are compared on, read
//! from the JSON `audit --format json` printed by this or an earlier release.
//!
//! These are the same audit/v1 fields as [`AuditDocument`](crate::AuditDocument)'s, typed for
//! comparison (`isolation` as [`Isolation`], `exposure` and `risk` as the engine's [`Exposure`]
//! and [`Risk`]), and every field an earlier release did not write is `#[serde(default)]`: an older
//! audit loads, and one this release wrote loads to the same view as the report it was printed
//! from. Unknown fields are ignored; an unknown isolation, exposure or risk is an error (a reader
//! that guessed could call a change safe).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use msix_policy_engine::{Exposure, MappingPlan, Risk, SegmentAction};

/// MSI isolation as the audit states it: `isolated` (a device cannot raise interrupts it does
/// not own), `not-isolated`, or `unknown` (the evidence does not say; counted as not isolated).
// The variants are described here, not one by one: a doc comment on a unit variant makes
// schemars write the schema's `enum` as a `oneOf` of `const`s.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    Isolated,
    NotIsolated,
    Unknown,
}

impl Isolation {
    /// The name the audit JSON gives it (`isolated`, `not-isolated`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Isolated => "isolated",
            Isolation::NotIsolated => "not-isolated",
            Isolation::Unknown => "unknown",
        }
    }
    /// `1` when isolated, `0` otherwise: unknown counts as not isolated.
    pub fn rank(self) -> u8 {
        u8::from(self == Isolation::Isolated)
    }
    /// From the audit's `isolation` text; anything but `isolated` and `not-isolated` is
    /// `unknown`.
    pub fn of(status: &str) -> Self {
        match status {
            "isolated" => Isolation::Isolated,
            "not-isolated" => Isolation::NotIsolated,
            _ => Isolation::Unknown,
        }
    }
}

/// The host line of an audit (context only: host changes are listed, never classed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostView {
    /// The host's architecture (`uname -m`: `x86_64`, `ppc64le`, `aarch64`).
    #[serde(default)]
    pub arch: String,
    /// The host's kernel release.
    #[serde(default)]
    pub kernel: String,
    /// The interrupt-isolation platform the audit found, by its JSON name.
    #[serde(default)]
    pub platform: String,
    /// The host's page size in bytes.
    #[serde(default)]
    pub page_size: u64,
}

/// One piece of evidence behind a rule: where it was read and what was seen there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EvidenceView {
    /// Where the fact was read (a file under the root, a kernel log line, a probe).
    pub source: String,
    /// What was observed there.
    pub observed: String,
}

/// One rule that fired for a device, with its detail and evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReasonView {
    /// The rule id from the catalogue (`msix-policy rules`).
    pub rule: String,
    /// What the rule found for this device, in one sentence.
    #[serde(default)]
    pub detail: String,
    /// The evidence the rule relied on.
    #[serde(default)]
    pub evidence: Vec<EvidenceView>,
}

/// One plan segment: `map`, or `trap`/`emulate` with what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SegmentView {
    /// The segment's start, in bytes from the start of its BAR.
    pub offset: u64,
    /// The segment's length in bytes.
    pub length: u64,
    /// `map`, `trap` or `emulate`.
    pub action: String,
    /// For `trap` and `emulate`: what the segment holds (its JSON name, such as the MSI-X
    /// table or PBA); absent for `map`.
    #[serde(default)]
    pub what: Option<String>,
}

impl SegmentView {
    /// `BAR0 0x1000+0x1000 trap(msix-table)`: the segment as a diff lists it.
    pub fn describe(&self, bar: u8) -> String {
        let action = match &self.what {
            Some(w) => format!("{}({w})", self.action),
            None => self.action.clone(),
        };
        format!("BAR{bar} {:#x}+{:#x} {action}", self.offset, self.length)
    }
}

/// One BAR of a mapping plan: its segments and what trapping costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BarView {
    /// The BAR's index (0 to 5).
    pub index: u8,
    /// The BAR's segments in order: what is mapped, trapped or emulated.
    #[serde(default)]
    pub segments: Vec<SegmentView>,
    /// Bytes of the BAR whose every access traps.
    #[serde(default)]
    pub trapped_bytes: u64,
    /// Trapped bytes that hold neither the MSI-X table nor the PBA (they share a page with them).
    #[serde(default)]
    pub collateral_bytes: u64,
}

/// A device's mapping plan: the page size it is aligned to and its BARs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlanView {
    /// The page size the plan is aligned to, in bytes.
    pub page_size: u64,
    /// The plan of every BAR.
    #[serde(default)]
    pub bars: Vec<BarView>,
}

impl PlanView {
    /// Trapped bytes over every BAR.
    pub fn trapped_bytes(&self) -> u64 {
        self.bars.iter().map(|b| b.trapped_bytes).sum()
    }
    /// Collateral bytes over every BAR.
    pub fn collateral_bytes(&self) -> u64 {
        self.bars.iter().map(|b| b.collateral_bytes).sum()
    }
    /// Every segment of every BAR, described ([`SegmentView::describe`]).
    pub fn segments(&self) -> Vec<String> {
        self.bars.iter().flat_map(|b| b.segments.iter().map(|s| s.describe(b.index))).collect()
    }
}

impl From<&MappingPlan> for PlanView {
    fn from(p: &MappingPlan) -> Self {
        PlanView {
            page_size: p.page_size,
            bars: p
                .bars
                .iter()
                .map(|b| BarView {
                    index: b.index,
                    segments: b
                        .segments
                        .iter()
                        .map(|s| {
                            let (action, what) = match s.action {
                                SegmentAction::Map => ("map", None),
                                SegmentAction::Trap(k) => ("trap", json_name(&k)),
                                SegmentAction::Emulate(k) => ("emulate", json_name(&k)),
                            };
                            SegmentView { offset: s.offset, length: s.length, action: action.into(), what }
                        })
                        .collect(),
                    trapped_bytes: b.trapped_bytes,
                    collateral_bytes: b.collateral_bytes,
                })
                .collect(),
        }
    }
}

/// The name serde gives a unit variant (the name the audit JSON prints).
pub fn json_name<T: Serialize>(v: &T) -> Option<String> {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// The fields of one audited device that a diff compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeviceView {
    /// The function's PCI address (`0000:00:04.0`).
    pub address: String,
    /// Its MSI isolation.
    pub isolation: Isolation,
    /// Whether it may be assigned to a guest at all.
    pub assignable: bool,
    /// How the guest reaches its MSI-X table.
    pub exposure: Exposure,
    /// What a guest can do with interrupts it does not own.
    pub risk: Risk,
    /// Its mapping plan; absent when the device is refused.
    #[serde(default)]
    pub plan: Option<PlanView>,
    /// The rules that fired, in order.
    #[serde(default)]
    pub reasons: Vec<ReasonView>,
}

impl DeviceView {
    /// The plan's trapped bytes over every BAR; `None` without a plan.
    pub fn trapped_bytes(&self) -> Option<u64> {
        self.plan.as_ref().map(PlanView::trapped_bytes)
    }
}

/// The fields of an audit that a diff compares: what `audit --format json` prints, read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuditView {
    /// Where this side came from (a path); never read from the JSON (the reader fills it in).
    #[serde(skip)]
    pub source: String,
    /// The root the audit read (`/` or a recorded host).
    #[serde(default)]
    pub root: String,
    /// The audited host; absent in an audit that does not say.
    #[serde(default)]
    pub host: Option<HostView>,
    /// Every audited device.
    pub devices: Vec<DeviceView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_with_only_what_the_comparison_insists_on_loads_with_defaults() {
        let text = r#"{"devices": [{"address": "0000:00:04.0", "isolation": "isolated", "assignable": true,
            "exposure": "trap", "risk": "none", "plan": {"page_size": 4096, "bars": [{"index": 0,
            "segments": [{"offset": 0, "length": 4096, "action": "map"}]}]},
            "reasons": [{"rule": "isolation.vtd.ir-enabled"}]}], "host": {}}"#;
        let v: AuditView = serde_json::from_str(text).unwrap();
        assert_eq!((v.source.as_str(), v.root.as_str()), ("", ""));
        assert_eq!(v.host, Some(HostView::default()));
        let d = &v.devices[0];
        assert_eq!(d.trapped_bytes(), Some(0));
        assert_eq!(d.plan.as_ref().unwrap().segments(), vec!["BAR0 0x0+0x1000 map".to_string()]);
        assert_eq!(
            d.reasons[0],
            ReasonView { rule: "isolation.vtd.ir-enabled".into(), detail: String::new(), evidence: Vec::new() }
        );
    }

    #[test]
    fn what_the_comparison_insists_on_is_required() {
        let text = r#"{"devices": [{"address": "0000:00:04.0", "isolation": "isolated", "assignable": true, "risk": "none"}]}"#;
        assert!(serde_json::from_str::<AuditView>(text).unwrap_err().to_string().contains("missing field `exposure`"));
        let text = r#"{"devices": [{"address": "0000:00:04.0", "isolation": "sort-of", "assignable": true, "exposure": "trap", "risk": "none"}]}"#;
        assert!(serde_json::from_str::<AuditView>(text).unwrap_err().to_string().contains("unknown variant"));
    }
}
