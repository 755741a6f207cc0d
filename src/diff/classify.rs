//! Comparing two sides device by device: the classes, the changes and the [`DiffReport`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AuditView, DeviceView, HostView, Isolation, PlanView, ReasonView, SCHEMA};
use crate::policy::{Exposure, Risk};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::BarView;

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
