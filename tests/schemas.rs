//! Every JSON output validates against the committed JSON Schema (`schemas/*.schema.json`):
//! the audit of every fixture, and for every device the VMM plan input and its layout in each
//! layout mode.

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
    let bad = serde_json::json!({ "config": "zz", "regions": [{ "index": 9, "size": 1, "flags": 0 }], "page_size": 12, "isolation": { "kind": "trust-me" } });
    assert!(input_s.iter_errors(&bad).count() >= 3);
    let layout_s = validator("layout.schema.json");
    assert!(!layout_s.is_valid(&serde_json::json!({ "schema": "msix-policy/layout/v2" })));
}
