//! Snapshots of facts, decision and plan for every recorded host. A change of decision shows
//! as a diff in review: read it, never accept it blindly.

mod common;

use msix_policy::{audit, render, AuditOptions};

/// One line per device: the audit at a glance, over every fixture.
#[test]
fn decision_summary_of_every_fixture() {
    let mut out = String::new();
    for f in common::fixtures() {
        let r = audit(&f, &AuditOptions::default()).unwrap();
        out.push_str(&format!(
            "{} [{} {} KiB, {}]\n",
            common::name(&f),
            r.host.arch,
            r.host.page_size / 1024,
            r.host.platform.label()
        ));
        for d in &r.devices {
            let dec = &d.decision;
            let (trapped, collateral) = dec.plan.as_ref().map_or((0, 0), |p| (p.trapped_bytes(), p.collateral_bytes()));
            out.push_str(&format!(
                "  {} {:04x}:{:04x} isolation={} exposure={} risk={} trapped={} collateral={} rules={}\n",
                d.address,
                d.facts.vendor.unwrap_or(0),
                d.facts.device.unwrap_or(0),
                dec.isolation.status(),
                dec.exposure.as_str(),
                dec.risk.as_str(),
                trapped,
                collateral,
                dec.rule_ids().collect::<Vec<_>>().join(",")
            ));
        }
    }
    insta::assert_snapshot!("summary", out);
}

/// The full JSON of every fixture: facts, evidence, decision, plan, reasons.
#[test]
fn full_report_of_every_fixture() {
    for f in common::fixtures() {
        let r = audit(&f, &AuditOptions::default()).unwrap();
        let mut v = serde_json::to_value(render::json_report(&r)).unwrap();
        v["root"] = serde_json::Value::String(common::name(&f));
        let facts: Vec<_> = r.devices.iter().map(|d| &d.facts).collect();
        let snap = serde_json::json!({ "report": v, "facts": facts });
        insta::assert_json_snapshot!(common::name(&f).replace('/', "__"), snap);
    }
}
