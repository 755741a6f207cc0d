//! The committed JSON Schemas (`schemas/*.schema.json`) are what the Rust types generate, and
//! every JSON output validates against its schema: the audit of every fixture, each device
//! alone, the rule catalogue, diffs, and for every device the VMM plan input and its layout in
//! each layout mode.

mod common;

use msix_policy::backends::Root;
use msix_policy::policy::{self, LayoutMode};
use msix_policy::{audit, render, vmm_input, AuditOptions};

fn validator(name: &str) -> jsonschema::Validator {
    let path = common::repo().join("schemas").join(name);
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn check(v: &jsonschema::Validator, value: &serde_json::Value, what: &str) {
    let errors: Vec<String> = v.iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

#[test]
fn the_committed_schemas_are_generated_from_the_types() {
    let shapes = msix_policy::schema::shapes();
    assert_eq!(shapes.len(), 6);
    let mut stale = Vec::new();
    for s in &shapes {
        let path = common::repo().join("schemas").join(s.file);
        let text = msix_policy::schema::to_text(&s.schema);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(s.file);
        }
        assert_eq!(s.schema["properties"]["schema"]["const"], s.id, "{}", s.file);
    }
    assert!(stale.is_empty(), "{stale:?} differ from the types: run `cargo xtask schemas`, review the diff");
}

#[test]
fn device_rules_and_diff_outputs_validate() {
    let (device_s, rules_s, diff_s) =
        (validator("device.schema.json"), validator("rules.schema.json"), validator("diff.schema.json"));
    check(&rules_s, &serde_json::to_value(render::json_rules()).unwrap(), "rules");
    let before = common::fixture("qemu/x86-q35-vtd-ir");
    let opts = AuditOptions::default();
    let old = msix_policy::diff::load_side(&before, &opts).unwrap();
    for f in common::fixtures() {
        let name = common::name(&f);
        let report = audit(&f, &opts).unwrap();
        for d in &report.devices {
            check(&device_s, &serde_json::to_value(render::json_device_alone(d)).unwrap(), &name);
        }
        let new = msix_policy::diff::AuditView::from(&report);
        let d = msix_policy::diff::diff_reports(&old, &new);
        check(&diff_s, &serde_json::to_value(&d).unwrap(), &format!("diff to {name}"));
    }
}

#[test]
fn every_output_validates_against_its_schema() {
    let (audit_s, input_s, layout_s) =
        (validator("audit.schema.json"), validator("plan-input.schema.json"), validator("layout.schema.json"));
    let mut layouts = 0;
    for f in common::fixtures() {
        let name = common::name(&f);
        let report = audit(&f, &AuditOptions::default()).unwrap();
        let json = serde_json::to_value(render::json_report(&report)).unwrap();
        assert_eq!(json["schema"], "msix-policy/audit/v1");
        check(&audit_s, &json, &name);
        let root = Root::open(&f).unwrap();
        for d in &report.devices {
            let Some(input) = vmm_input(&root, &report, d) else { continue };
            for mode in [LayoutMode::MsixPolicy, LayoutMode::Qemu, LayoutMode::CloudHypervisor] {
                let input = input.clone().mode(mode);
                let what = format!("{name} {} {}", d.address, mode.as_str());
                check(&input_s, &serde_json::to_value(&input).unwrap(), &what);
                if let Ok(layout) = policy::plan_layout(&input) {
                    check(&layout_s, &serde_json::to_value(&layout).unwrap(), &what);
                    layouts += 1;
                }
            }
        }
    }
    assert!(layouts >= 250, "{layouts} layouts validated");
}

#[test]
fn the_schemas_reject_what_is_not_theirs() {
    let input_s = validator("plan-input.schema.json");
    let bad = serde_json::json!({ "config": "zz", "regions": [{ "index": 9, "size": 1, "flags": 0, "sise": 2 }], "page_size": -12, "isolation": { "kind": "trust-me" } });
    assert!(input_s.iter_errors(&bad).count() >= 3);
    // What the parser refuses, the schema refuses: a missing schema, an unknown key, a verdict
    // without its mechanism.
    let f = common::fixture("synthetic/arm64-its-64k");
    let root = Root::open(&f).unwrap();
    let report = audit(&f, &AuditOptions::default()).unwrap();
    let good =
        serde_json::to_value(vmm_input(&root, &report, report.device("0000:00:03.0").unwrap()).unwrap()).unwrap();
    assert!(input_s.is_valid(&good));
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("schema");
    assert!(!input_s.is_valid(&v), "no schema");
    let mut v = good.clone();
    v["relocaton"] = serde_json::json!({});
    assert!(!input_s.is_valid(&v), "unknown key");
    let mut v = good.clone();
    v["isolation"]["verdict"].as_object_mut().unwrap().remove("mechanism");
    assert!(!input_s.is_valid(&v), "verdict without mechanism");
    let layout_s = validator("layout.schema.json");
    assert!(!layout_s.is_valid(&serde_json::json!({ "schema": "msix-policy/layout/v2" })));
}

#[test]
fn the_wire_documents_read_back_what_they_wrote() {
    use msix_policy_wire::{AuditDocument, DeviceDocument, RulesDocument};
    let rules = render::json_rules();
    let text = serde_json::to_string_pretty(&rules).unwrap();
    assert_eq!(serde_json::from_str::<RulesDocument>(&text).unwrap(), rules);
    for f in common::fixtures() {
        let name = common::name(&f);
        let report = audit(&f, &AuditOptions::default()).unwrap();
        let doc = render::json_report(&report);
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let back: AuditDocument = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, doc, "{name}");
        assert_eq!(serde_json::to_string_pretty(&back).unwrap(), text, "{name}");
        for d in &report.devices {
            let alone = render::json_device_alone(d);
            let text = serde_json::to_string_pretty(&alone).unwrap();
            let back: DeviceDocument = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(back, alone, "{name} {}", d.address);
        }
    }
}
