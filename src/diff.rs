//! Decisions over time: compare two audits of a host (or of two hosts) device by device and say
//! whether anything became less safe.
//!
//! Each side is an [`AuditView`]: the fields of an audit the comparison needs, built from an
//! [`AuditReport`] (a fixture or a live root audited now) or read back from the JSON that
//! `audit --format json` printed ([`load_side`] takes either from a path). [`diff_reports`] matches
//! devices by PCI address (case-insensitive) and classes every change:
//!
//! - **isolation**: `isolated` > `not-isolated` = `unknown`. A loss of isolation is `less-safe`
//!   even when the device is now refused: the host changed for the worse and the operator must
//!   learn it. A gain is `safer`; `not-isolated` <-> `unknown` is `same` (both count as not
//!   isolated).
//! - **risk**: `none` < `self-only` < `unsafe`; up is `less-safe`, down `safer`.
//! - **exposure** between two assignable exposures: `trap` = `none` > `relocate` >
//!   `passthrough`; towards passthrough is `less-safe`, away from it `safer`. Becoming refused is
//!   `safer` (nothing reaches the guest; a loss of isolation behind it is reported on its own
//!   line). A refused device that becomes assignable is `less-safe` unless it gained isolation in
//!   the same step (the cause of the refusal is gone: `same`, and the isolation line says `safer`);
//!   with risk `unsafe` it is `less-safe` in any case.
//! - **assignable**: `true` -> `false` is `safer`; `false` -> `true` is classed like the exposure
//!   leaving `refuse` (`less-safe` with risk `unsafe` or without a gain of isolation).
//! - **plan** (trapped bytes, collateral bytes, page size, segments): `cost-only`.
//! - **rules**: added and removed rule ids are listed with their evidence; they carry no class of
//!   their own (the fields above say what changed).
//!
//! A device's class is the worst of its changes, in the order `less-safe` > `safer` >
//! `cost-only` > `same`. A device that appears is `less-safe` when its risk is `unsafe` (`same`
//! otherwise); one that disappears is `safer` when its risk was `unsafe` (`same` otherwise).
//! [`DiffReport::exit_code`] is 1 when any device is `less-safe`, else 0.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::policy::{Exposure, MappingPlan, Risk, SegmentAction};
use crate::{AuditOptions, AuditReport};

/// The `schema` of the JSON diff.
pub const SCHEMA: &str = "msix-policy/diff/v1";

/// Why a side could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The path could not be inspected (its metadata could not be read).
    #[error("{path}: {err}")]
    Read {
        /// The side's path.
        path: String,
        /// What the system said.
        err: std::io::Error,
    },
    /// The audit JSON file could not be read (I/O, too large, not UTF-8).
    #[error(transparent)]
    Input(#[from] crate::input::ReadError),
    /// The file's `schema` is missing or is not the audit's.
    #[error(
        "{path}: schema {found}: expected \"{}\" (`msix-policy audit --format json` writes it)",
        crate::render::AUDIT_SCHEMA
    )]
    Schema {
        /// The side's path.
        path: String,
        /// The `schema` value found, as JSON (`(missing)` when there is none).
        found: String,
    },
    /// The file is not JSON, or not the shape of an audit.
    #[error("{path}: not an audit JSON file (`msix-policy audit --format json` writes one): {err}")]
    Json {
        /// The side's path.
        path: String,
        /// What the JSON parser said.
        err: serde_json::Error,
    },
    /// The file is a diff report, where an audit belongs.
    #[error("{path}: is a diff report ({SCHEMA}), not an audit")]
    IsDiff {
        /// The side's path.
        path: String,
    },
    /// The side is a directory and auditing it failed.
    #[error("{path}: {err}")]
    Audit {
        /// The side's path.
        path: String,
        /// Why the audit failed.
        err: crate::AuditError,
    },
    /// The audit lists one device address twice (compared case-insensitively).
    #[error("{path}: device {address} appears twice")]
    Duplicate {
        /// The side's path.
        path: String,
        /// The address that appears twice.
        address: String,
    },
    /// The path does not exist.
    #[error("{path}: no such file or directory")]
    Missing {
        /// The side's path.
        path: String,
    },
}

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
    /// Unknown counts as not isolated.
    fn rank(self) -> u8 {
        u8::from(self == Isolation::Isolated)
    }
    fn of(status: &str) -> Self {
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
    fn describe(&self, bar: u8) -> String {
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
    fn segments(&self) -> Vec<String> {
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
pub(crate) fn json_name<T: Serialize>(v: &T) -> Option<String> {
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
    /// Where this side came from (a path), filled in by [`load_side`].
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

impl From<&AuditReport> for AuditView {
    fn from(r: &AuditReport) -> Self {
        let h = &r.host;
        AuditView {
            source: r.root.clone(),
            root: r.root.clone(),
            host: Some(HostView {
                arch: h.arch.clone(),
                kernel: h.kernel.clone(),
                platform: json_name(&h.platform).unwrap_or_default(),
                page_size: h.page_size,
            }),
            devices: r
                .devices
                .iter()
                .map(|d| {
                    let dec = &d.decision;
                    DeviceView {
                        address: d.address.clone(),
                        isolation: Isolation::of(dec.isolation.status()),
                        assignable: dec.assignable,
                        exposure: dec.exposure,
                        risk: dec.risk,
                        plan: dec.plan.as_ref().map(PlanView::from),
                        reasons: dec
                            .reasons
                            .iter()
                            .map(|r| ReasonView {
                                rule: r.rule.to_string(),
                                detail: r.detail.clone(),
                                evidence: r
                                    .evidence
                                    .iter()
                                    .map(|e| EvidenceView { source: e.source.clone(), observed: e.observed.clone() })
                                    .collect(),
                            })
                            .collect(),
                    }
                })
                .collect(),
        }
    }
}

impl AuditView {
    /// Reads the JSON `audit --format json` printed.
    pub fn from_json(text: &str, path: &str) -> Result<Self, DiffError> {
        // The version first: a reader that guessed at an unknown one could call a change safe.
        #[derive(Deserialize, schemars::JsonSchema)]
        struct Schema {
            schema: Option<serde_json::Value>,
        }
        let schema = serde_json::from_str::<Schema>(text).map_err(|err| DiffError::Json { path: path.into(), err })?;
        match schema.schema {
            Some(Value::String(s)) if s == crate::render::AUDIT_SCHEMA => {}
            // Name the common mistake of passing a diff where an audit belongs.
            Some(Value::String(s)) if s == SCHEMA => return Err(DiffError::IsDiff { path: path.into() }),
            Some(v) => return Err(DiffError::Schema { path: path.into(), found: v.to_string() }),
            None => return Err(DiffError::Schema { path: path.into(), found: "(missing)".into() }),
        }
        let mut view: AuditView =
            serde_json::from_str(text).map_err(|err| DiffError::Json { path: path.into(), err })?;
        view.source = path.into();
        view.check(path)?;
        Ok(view)
    }

    fn check(&self, path: &str) -> Result<(), DiffError> {
        let mut seen = std::collections::HashSet::with_capacity(self.devices.len());
        for d in &self.devices {
            if !seen.insert(d.address.to_ascii_lowercase()) {
                return Err(DiffError::Duplicate { path: path.into(), address: d.address.clone() });
            }
        }
        Ok(())
    }
}

/// Reads one side of a diff: an audit JSON file (`-` for standard input), or a directory (a
/// fixture or a live root such as `/`) audited now with `opts`.
pub fn load_side(path: &Path, opts: &AuditOptions) -> Result<AuditView, DiffError> {
    let shown = path.display().to_string();
    let read_json = || -> Result<AuditView, DiffError> {
        let text = crate::input::read_bounded(path, crate::input::MAX_AUDIT_JSON_BYTES)?;
        AuditView::from_json(&text, &shown)
    };
    if path.as_os_str() == "-" {
        return read_json();
    }
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(DiffError::Missing { path: shown }),
        Err(err) => return Err(DiffError::Read { path: shown, err }),
    };
    if meta.is_dir() {
        let report = crate::audit(path, opts).map_err(|err| DiffError::Audit { path: shown.clone(), err })?;
        let mut view = AuditView::from(&report);
        view.source = shown;
        return Ok(view);
    }
    read_json()
}

/// How a change bears on safety: `same`, `cost-only`, `safer` (something became safer), or
/// `less-safe` (something became less safe), in that order of weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// Nothing that matters for safety or cost changed.
    Same,
    /// Only the cost changed (trapped or collateral bytes, the plan's segments).
    CostOnly,
    // `safer` and `less-safe` are described on the enum: a doc comment on either would change the
    // schema's `enum` of the two into a `oneOf` of `const`s.
    #[allow(missing_docs)]
    Safer,
    #[allow(missing_docs)]
    LessSafe,
}

impl Class {
    /// The name the diff JSON gives it (`same`, `cost-only`, `safer`, `less-safe`).
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Same => "same",
            Class::CostOnly => "cost-only",
            Class::Safer => "safer",
            Class::LessSafe => "less-safe",
        }
    }
}

/// One field of a device that changed.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Change {
    /// `isolation`, `assignable`, `exposure`, `risk`, `plan.trapped_bytes`,
    /// `plan.collateral_bytes`, `plan.page_size` or `plan.segments`.
    pub field: &'static str,
    /// The field's value on the old side (`null` where there was none).
    pub old: Value,
    /// The field's value on the new side (`null` where there is none).
    pub new: Value,
    /// How this change bears on safety.
    pub class: Class,
    /// Why the class, where it is not plain from the order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Whether a device is on both sides: `both`, `added` (on the new side only) or `removed` (on
/// the old side only).
// The variants are described here, not one by one: a doc comment on a unit variant makes
// schemars write the schema's `enum` as a `oneOf` of `const`s.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Presence {
    Both,
    Added,
    Removed,
}

/// A device's decision at a glance (one side).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Summary {
    /// The device's MSI isolation.
    pub isolation: Isolation,
    /// Whether it may be assigned to a guest.
    pub assignable: bool,
    /// How the guest reaches its MSI-X table.
    pub exposure: Exposure,
    /// What a guest can do with interrupts it does not own.
    pub risk: Risk,
    /// The plan's trapped bytes over every BAR; `null` without a plan.
    pub trapped_bytes: Option<u64>,
}

impl From<&DeviceView> for Summary {
    fn from(d: &DeviceView) -> Self {
        Summary {
            isolation: d.isolation,
            assignable: d.assignable,
            exposure: d.exposure,
            risk: d.risk,
            trapped_bytes: d.trapped_bytes(),
        }
    }
}

/// One device of the diff.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct DeviceDiff {
    /// The address as the new side spells it (the old side's for a removed device).
    pub address: String,
    /// Whether the device is on both sides, or was added or removed.
    pub presence: Presence,
    /// The worst class of its changes (for an added or removed device, by its risk).
    pub class: Class,
    /// Its decision on the old side; `null` for an added device.
    pub old: Option<Summary>,
    /// Its decision on the new side; `null` for a removed device.
    pub new: Option<Summary>,
    /// Every field that changed, with its class.
    pub changes: Vec<Change>,
    /// Rules that fired on the new side only, with their evidence.
    pub rules_added: Vec<ReasonView>,
    /// Rules that fired on the old side only, with their evidence.
    pub rules_removed: Vec<ReasonView>,
}

impl DeviceDiff {
    /// Nothing at all changed (same class, no rule change).
    pub fn is_unchanged(&self) -> bool {
        self.presence == Presence::Both
            && self.changes.is_empty()
            && self.rules_added.is_empty()
            && self.rules_removed.is_empty()
    }
}

/// Where a side came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SideInfo {
    /// The path the side was read from (an audit JSON file, `-`, or a root audited now).
    pub source: String,
    /// The root its audit read.
    pub root: String,
    /// Its host; `null` when the audit does not say.
    pub host: Option<HostView>,
    /// How many devices it has.
    pub devices: usize,
}

impl From<&AuditView> for SideInfo {
    fn from(v: &AuditView) -> Self {
        SideInfo { source: v.source.clone(), root: v.root.clone(), host: v.host.clone(), devices: v.devices.len() }
    }
}

/// How many devices fall in each class, and how many were added or removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Counts {
    /// Devices of class `less-safe`.
    pub less_safe: usize,
    /// Devices of class `safer`.
    pub safer: usize,
    /// Devices of class `cost-only`.
    pub cost_only: usize,
    /// Devices of class `same`.
    pub same: usize,
    /// Devices on the new side only.
    pub added: usize,
    /// Devices on the old side only.
    pub removed: usize,
}

/// A host field that changed (context; never classed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct HostChange {
    /// `arch`, `kernel`, `platform` or `page_size`.
    pub field: &'static str,
    /// Its value on the old side.
    pub old: String,
    /// Its value on the new side.
    pub new: String,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct DiffReport {
    /// `msix-policy/diff/v1`.
    pub schema: &'static str,
    /// The old side.
    pub old: SideInfo,
    /// The new side.
    pub new: SideInfo,
    /// Host fields that differ between the sides (context; never classed).
    pub host_changes: Vec<HostChange>,
    /// Devices per class, added and removed.
    pub counts: Counts,
    /// Some device became less safe (exit status 1).
    pub less_safe: bool,
    /// Every device of either side, by address.
    pub devices: Vec<DeviceDiff>,
}

impl DiffReport {
    /// 1 when something became less safe, else 0.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.less_safe)
    }
}

fn change(
    field: &'static str,
    old: impl Into<Value>,
    new: impl Into<Value>,
    class: Class,
    note: Option<&str>,
) -> Change {
    Change { field, old: old.into(), new: new.into(), class, note: note.map(str::to_string) }
}

/// Classes a refused device (or an unassignable one) becoming assignable.
fn leaving_refusal(new: &DeviceView, gained_isolation: bool) -> (Class, &'static str) {
    if new.risk == Risk::Unsafe {
        (Class::LessSafe, "assignable with risk unsafe")
    } else if gained_isolation {
        (Class::Same, "assignable now that the device is isolated")
    } else {
        (Class::LessSafe, "a refused device became assignable")
    }
}

fn compare(o: &DeviceView, n: &DeviceView) -> Vec<Change> {
    let mut out = Vec::new();
    let gained = n.isolation.rank() > o.isolation.rank();
    let lost = n.isolation.rank() < o.isolation.rank();
    if o.isolation != n.isolation {
        let (class, note) = if gained {
            (Class::Safer, None)
        } else if lost && n.exposure == Exposure::Refuse {
            (Class::LessSafe, Some("a loss of isolation is less safe even where it makes the device refused"))
        } else if lost {
            (Class::LessSafe, None)
        } else {
            (Class::Same, Some("unknown counts as not isolated"))
        };
        out.push(change("isolation", o.isolation.as_str(), n.isolation.as_str(), class, note));
    }
    if o.assignable != n.assignable {
        let (class, note) =
            if n.assignable { leaving_refusal(n, gained) } else { (Class::Safer, "no longer assignable") };
        out.push(change("assignable", o.assignable, n.assignable, class, Some(note)));
    }
    if o.exposure != n.exposure {
        let (class, note) = match (o.exposure == Exposure::Refuse, n.exposure == Exposure::Refuse) {
            (false, true) => {
                (Class::Safer, Some(if lost { "refused because isolation was lost; see isolation" } else { "refused" }))
            }
            (true, false) => {
                let (c, why) = leaving_refusal(n, gained);
                (c, Some(why))
            }
            _ => match n.exposure.safety().cmp(&o.exposure.safety()) {
                std::cmp::Ordering::Greater => (Class::Safer, None),
                std::cmp::Ordering::Less => (Class::LessSafe, None),
                std::cmp::Ordering::Equal => (Class::Same, Some("no table reachable either way")),
            },
        };
        out.push(change("exposure", o.exposure.as_str(), n.exposure.as_str(), class, note));
    }
    if o.risk != n.risk {
        let class = if n.risk > o.risk { Class::LessSafe } else { Class::Safer };
        out.push(change("risk", o.risk.as_str(), n.risk.as_str(), class, None));
    }
    compare_plans(o.plan.as_ref(), n.plan.as_ref(), &mut out);
    out
}

fn compare_plans(o: Option<&PlanView>, n: Option<&PlanView>, out: &mut Vec<Change>) {
    if o == n {
        return;
    }
    let num = |v: Option<u64>| v.map_or(Value::Null, Value::from);
    let trapped = (o.map(PlanView::trapped_bytes), n.map(PlanView::trapped_bytes));
    if o.is_none() || n.is_none() {
        // A plan that appears or goes with a refusal: its trapped bytes say enough.
        let note = if n.is_none() { "no plan: refused" } else { "a plan where there was none" };
        out.push(change("plan.trapped_bytes", num(trapped.0), num(trapped.1), Class::CostOnly, Some(note)));
        return;
    }
    if trapped.0 != trapped.1 {
        out.push(change("plan.trapped_bytes", num(trapped.0), num(trapped.1), Class::CostOnly, None));
    }
    let collateral = (o.map(PlanView::collateral_bytes), n.map(PlanView::collateral_bytes));
    if collateral.0 != collateral.1 {
        out.push(change("plan.collateral_bytes", num(collateral.0), num(collateral.1), Class::CostOnly, None));
    }
    let page = (o.map(|p| p.page_size), n.map(|p| p.page_size));
    if page.0 != page.1 {
        out.push(change("plan.page_size", num(page.0), num(page.1), Class::CostOnly, None));
    }
    let segs = (o.map(PlanView::segments), n.map(PlanView::segments));
    if segs.0 != segs.1 {
        let list = |v: Option<Vec<String>>| v.map_or(Value::Null, Value::from);
        out.push(change("plan.segments", list(segs.0), list(segs.1), Class::CostOnly, None));
    }
}

/// Rules in `a` that `b` lacks (as multisets of rule ids, in `a`'s order).
fn rules_only_in(a: &[ReasonView], b: &[ReasonView]) -> Vec<ReasonView> {
    let mut left: HashMap<&str, usize> = HashMap::new();
    for r in b {
        *left.entry(r.rule.as_str()).or_default() += 1;
    }
    let mut out = Vec::new();
    for r in a {
        match left.get_mut(r.rule.as_str()) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(r.clone()),
        }
    }
    out
}

fn device_diff(o: &DeviceView, n: &DeviceView) -> DeviceDiff {
    let changes = compare(o, n);
    let class = changes.iter().map(|c| c.class).max().unwrap_or(Class::Same);
    DeviceDiff {
        address: n.address.clone(),
        presence: Presence::Both,
        class,
        old: Some(Summary::from(o)),
        new: Some(Summary::from(n)),
        changes,
        rules_added: rules_only_in(&n.reasons, &o.reasons),
        rules_removed: rules_only_in(&o.reasons, &n.reasons),
    }
}

fn one_side(d: &DeviceView, presence: Presence) -> DeviceDiff {
    let unsafe_ = d.risk == Risk::Unsafe;
    let class = match (presence, unsafe_) {
        (Presence::Added, true) => Class::LessSafe,
        (Presence::Removed, true) => Class::Safer,
        _ => Class::Same,
    };
    let (old, new, rules_added, rules_removed) = match presence {
        Presence::Removed => (Some(Summary::from(d)), None, Vec::new(), d.reasons.clone()),
        _ => (None, Some(Summary::from(d)), d.reasons.clone(), Vec::new()),
    };
    DeviceDiff {
        address: d.address.clone(),
        presence,
        class,
        old,
        new,
        changes: Vec::new(),
        rules_added,
        rules_removed,
    }
}

fn host_changes(o: Option<&HostView>, n: Option<&HostView>) -> Vec<HostChange> {
    let (Some(o), Some(n)) = (o, n) else { return Vec::new() };
    let mut out = Vec::new();
    let mut field = |name: &'static str, a: String, b: String| {
        if a != b {
            out.push(HostChange { field: name, old: a, new: b });
        }
    };
    field("arch", o.arch.clone(), n.arch.clone());
    field("kernel", o.kernel.clone(), n.kernel.clone());
    field("platform", o.platform.clone(), n.platform.clone());
    field("page_size", o.page_size.to_string(), n.page_size.to_string());
    out
}

/// Compares two audits device by device (matched by address, case-insensitive).
pub fn diff_reports(old: &AuditView, new: &AuditView) -> DiffReport {
    let key = |d: &DeviceView| d.address.to_ascii_lowercase();
    let new_by: HashMap<String, &DeviceView> = new.devices.iter().map(|d| (key(d), d)).collect();
    let old_keys: std::collections::HashSet<String> = old.devices.iter().map(key).collect();
    let mut devices: Vec<(String, DeviceDiff)> = Vec::with_capacity(old.devices.len().max(new.devices.len()));
    for o in &old.devices {
        let k = key(o);
        let d = match new_by.get(&k) {
            Some(n) => device_diff(o, n),
            None => one_side(o, Presence::Removed),
        };
        devices.push((k, d));
    }
    for n in &new.devices {
        let k = key(n);
        if !old_keys.contains(&k) {
            devices.push((k, one_side(n, Presence::Added)));
        }
    }
    devices.sort_by(|a, b| a.0.cmp(&b.0));
    let devices: Vec<DeviceDiff> = devices.into_iter().map(|(_, d)| d).collect();
    let mut counts = Counts::default();
    for d in &devices {
        match d.class {
            Class::LessSafe => counts.less_safe += 1,
            Class::Safer => counts.safer += 1,
            Class::CostOnly => counts.cost_only += 1,
            Class::Same => counts.same += 1,
        }
        match d.presence {
            Presence::Added => counts.added += 1,
            Presence::Removed => counts.removed += 1,
            Presence::Both => {}
        }
    }
    DiffReport {
        schema: SCHEMA,
        old: SideInfo::from(old),
        new: SideInfo::from(new),
        host_changes: host_changes(old.host.as_ref(), new.host.as_ref()),
        counts,
        less_safe: counts.less_safe > 0,
        devices,
    }
}

/// How to print a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Text for a person ([`text`]).
    Text,
    /// The diff JSON (`msix-policy/diff/v1`).
    Json,
    /// Markdown for a pull request or a ticket ([`markdown`]).
    Markdown,
}

/// The diff in `format`; `colour` adds ANSI colours to text (when stdout is a terminal).
pub fn render(r: &DiffReport, format: Format, colour: bool) -> Result<String, serde_json::Error> {
    match format {
        Format::Text => Ok(text(r, colour)),
        Format::Markdown => Ok(markdown(r)),
        Format::Json => serde_json::to_string_pretty(r).map(|s| s + "\n"),
    }
}

fn side_line(s: &SideInfo) -> String {
    match &s.host {
        Some(h) => format!(
            "{} ({} devices; {} {}, kernel {}, {} B pages)",
            s.source, s.devices, h.arch, h.platform, h.kernel, h.page_size
        ),
        None => format!("{} ({} devices)", s.source, s.devices),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(show).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

fn summary_line(s: &Summary) -> String {
    format!(
        "{}, {}, exposure {}, risk {}, trapped {}",
        s.isolation.as_str(),
        if s.assignable { "assignable" } else { "not assignable" },
        s.exposure.as_str(),
        s.risk.as_str(),
        s.trapped_bytes.map_or("-".into(), |b| format!("{b} B"))
    )
}

fn verdict(r: &DiffReport) -> &'static str {
    if r.less_safe {
        "something became less safe (exit 1)"
    } else {
        "nothing became less safe"
    }
}

/// Text for a person; colours only when asked.
pub fn text(r: &DiffReport, colour: bool) -> String {
    let paint = |class: Class, s: &str| -> String {
        if !colour {
            return s.to_string();
        }
        let code = match class {
            Class::LessSafe => "1;31",
            Class::Safer => "32",
            Class::CostOnly => "33",
            Class::Same => "2",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    };
    let mut out = String::new();
    let _ = writeln!(out, "msix-policy diff\nold: {}\nnew: {}", side_line(&r.old), side_line(&r.new));
    for h in &r.host_changes {
        let _ = writeln!(out, "host {}: {} -> {}", h.field, h.old, h.new);
    }
    let c = &r.counts;
    let _ = writeln!(
        out,
        "{} less-safe, {} safer, {} cost-only, {} same; {} added, {} removed",
        c.less_safe, c.safer, c.cost_only, c.same, c.added, c.removed
    );
    let mut unchanged = 0usize;
    for d in &r.devices {
        if d.is_unchanged() {
            unchanged += 1;
            continue;
        }
        let label = paint(d.class, &d.class.as_str().to_uppercase());
        match d.presence {
            Presence::Both => {
                let _ = writeln!(out, "\n{label} {}", d.address);
            }
            Presence::Added | Presence::Removed => {
                let what = if d.presence == Presence::Added { "added" } else { "removed" };
                let s = d.new.as_ref().or(d.old.as_ref()).map(summary_line).unwrap_or_default();
                let _ = writeln!(out, "\n{label} {} {what}: {s}", d.address);
                continue;
            }
        }
        for ch in &d.changes {
            let note = ch.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<22} {} -> {}  {}{note}",
                ch.field,
                show(&ch.old),
                show(&ch.new),
                paint(ch.class, ch.class.as_str())
            );
        }
        for (what, rules) in [("rule removed", &d.rules_removed), ("rule added", &d.rules_added)] {
            for rule in rules {
                let _ = writeln!(out, "  {what}: {}: {}", rule.rule, rule.detail);
                for e in &rule.evidence {
                    let _ = writeln!(out, "      evidence: {}: {}", e.source, e.observed);
                }
            }
        }
    }
    if unchanged > 0 {
        let _ = writeln!(out, "\n{unchanged} devices unchanged");
    }
    let _ = writeln!(out, "\nresult: {}", verdict(r));
    out
}

/// `|` and line breaks would break a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Markdown for a pull request or a ticket.
pub fn markdown(r: &DiffReport) -> String {
    let mut out = String::new();
    let c = &r.counts;
    let _ = writeln!(out, "## msix-policy diff\n");
    let _ = writeln!(out, "- old: `{}`\n- new: `{}`", cell(&side_line(&r.old)), cell(&side_line(&r.new)));
    for h in &r.host_changes {
        let _ = writeln!(out, "- host {}: `{}` -> `{}`", h.field, cell(&h.old), cell(&h.new));
    }
    let _ = writeln!(
        out,
        "- **{} less-safe**, {} safer, {} cost-only, {} same; {} added, {} removed\n- result: {}\n",
        c.less_safe,
        c.safer,
        c.cost_only,
        c.same,
        c.added,
        c.removed,
        verdict(r)
    );
    let changed: Vec<&DeviceDiff> = r.devices.iter().filter(|d| !d.is_unchanged()).collect();
    if changed.is_empty() {
        let _ = writeln!(out, "No device changed.");
        return out;
    }
    let _ = writeln!(out, "| device | class | field | old | new | change | note |\n|---|---|---|---|---|---|---|");
    for d in &changed {
        let class = if d.class == Class::LessSafe { "**less-safe**".to_string() } else { d.class.as_str().to_string() };
        match d.presence {
            Presence::Added | Presence::Removed => {
                let (field, old, new) = match d.presence {
                    Presence::Added => ("added", "-".to_string(), d.new.as_ref().map(summary_line).unwrap_or_default()),
                    _ => ("removed", d.old.as_ref().map(summary_line).unwrap_or_default(), "-".to_string()),
                };
                let _ = writeln!(out, "| `{}` | {class} | {field} | {} | {} | | |", d.address, cell(&old), cell(&new));
            }
            Presence::Both => {
                if d.changes.is_empty() {
                    let _ = writeln!(out, "| `{}` | {class} | rules | | | same | see below |", d.address);
                }
                for ch in &d.changes {
                    let _ = writeln!(
                        out,
                        "| `{}` | {class} | {} | {} | {} | {} | {} |",
                        d.address,
                        ch.field,
                        cell(&show(&ch.old)),
                        cell(&show(&ch.new)),
                        ch.class.as_str(),
                        cell(ch.note.as_deref().unwrap_or(""))
                    );
                }
            }
        }
    }
    let with_rules: Vec<&&DeviceDiff> = changed
        .iter()
        .filter(|d| d.presence == Presence::Both && !(d.rules_added.is_empty() && d.rules_removed.is_empty()))
        .collect();
    if !with_rules.is_empty() {
        let _ = writeln!(out, "\n### Rules that changed\n");
        for d in with_rules {
            let _ = writeln!(out, "- `{}`", d.address);
            for (what, rules) in [("removed", &d.rules_removed), ("added", &d.rules_added)] {
                for rule in rules {
                    let _ = writeln!(out, "  - {what} `{}`: {}", rule.rule, cell(&rule.detail));
                    for e in &rule.evidence {
                        let _ = writeln!(out, "    - evidence `{}`: {}", cell(&e.source), cell(&e.observed));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(isolation: Isolation, exposure: Exposure, risk: Risk) -> DeviceView {
        DeviceView {
            address: "0000:00:04.0".into(),
            isolation,
            assignable: exposure != Exposure::Refuse,
            exposure,
            risk,
            plan: None,
            reasons: Vec::new(),
        }
    }

    fn view(d: DeviceView) -> AuditView {
        AuditView { source: String::new(), root: String::new(), host: None, devices: vec![d] }
    }

    fn class(o: DeviceView, n: DeviceView) -> Class {
        diff_reports(&view(o), &view(n)).devices[0].class
    }

    #[test]
    fn the_classes_follow_the_documented_order() {
        use Exposure::*;
        use Isolation::*;
        let i = Isolated;
        assert_eq!(class(dev(i, Trap, Risk::None), dev(i, Trap, Risk::None)), Class::Same);
        assert_eq!(class(dev(i, Trap, Risk::None), dev(i, Relocate, Risk::SelfOnly)), Class::LessSafe);
        assert_eq!(class(dev(i, Relocate, Risk::SelfOnly), dev(i, Trap, Risk::None)), Class::Safer);
        assert_eq!(class(dev(i, Trap, Risk::None), dev(i, Exposure::None, Risk::None)), Class::Same);
        // Loss of isolation that ends in a refusal: less safe.
        assert_eq!(class(dev(i, Trap, Risk::None), dev(NotIsolated, Refuse, Risk::None)), Class::LessSafe);
        // Gain of isolation that lifts a refusal: safer.
        assert_eq!(class(dev(NotIsolated, Refuse, Risk::None), dev(i, Trap, Risk::None)), Class::Safer);
        // A refusal lifted without a gain of isolation: less safe.
        assert_eq!(class(dev(i, Refuse, Risk::None), dev(i, Trap, Risk::None)), Class::LessSafe);
        // Assignable with risk unsafe: less safe whatever else.
        assert_eq!(class(dev(Unknown, Refuse, Risk::None), dev(NotIsolated, Trap, Risk::Unsafe)), Class::LessSafe);
        assert_eq!(class(dev(i, Trap, Risk::None), dev(i, Refuse, Risk::None)), Class::Safer);
        assert_eq!(class(dev(NotIsolated, Refuse, Risk::None), dev(Unknown, Refuse, Risk::None)), Class::Same);
    }

    #[test]
    fn more_trapped_bytes_at_the_same_safety_is_cost_only() {
        let plan = |trapped| PlanView {
            page_size: 4096,
            bars: vec![BarView { index: 0, segments: Vec::new(), trapped_bytes: trapped, collateral_bytes: 0 }],
        };
        let mut o = dev(Isolation::Isolated, Exposure::Trap, Risk::None);
        let mut n = o.clone();
        o.plan = Some(plan(4096));
        n.plan = Some(plan(65536));
        assert_eq!(class(o, n), Class::CostOnly);
    }

    #[test]
    fn added_and_removed_devices_are_matched_case_insensitively() {
        let o = dev(Isolation::Isolated, Exposure::Trap, Risk::None);
        let mut n = o.clone();
        n.address = "0000:00:04.0".to_uppercase();
        let r = diff_reports(&view(o.clone()), &view(n));
        assert_eq!(r.devices.len(), 1);
        let mut other = o.clone();
        other.address = "0000:00:05.0".into();
        other.risk = Risk::Unsafe;
        let r = diff_reports(&view(o), &view(other));
        assert_eq!((r.counts.added, r.counts.removed, r.counts.less_safe), (1, 1, 1));
    }
}
