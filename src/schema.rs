//! The JSON Schema of every JSON shape msix-policy reads or writes, generated from the Rust
//! types that serialize them: one definition per shape. `schemas/*.schema.json` are these,
//! committed; a test fails when they drift from the types (and rewrites them on request).

use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{json, Value};

use crate::policy::LAYOUT_SCHEMA;
use crate::policy::{Layout, VmmInput, PLAN_INPUT_SCHEMA};
use msix_policy_wire::{AuditDocument, DeviceDocument, RulesDocument, AUDIT_SCHEMA, DEVICE_SCHEMA, RULES_SCHEMA};

/// One JSON shape: its file under `schemas/`, its `schema` id, and the schema.
pub struct Shape {
    /// `audit.schema.json`.
    pub file: &'static str,
    /// `msix-policy/audit/v1`: the `schema` field every document of the shape carries.
    pub id: &'static str,
    /// What writes or reads it.
    pub what: &'static str,
    /// The JSON Schema (draft 2020-12).
    pub schema: Value,
}

/// Whether documents of a shape are written by msix-policy or read by it: a written shape
/// lists what is always present as required; a read shape what the reader insists on.
#[derive(Clone, Copy)]
enum Direction {
    Written,
    Read,
}

fn generate<T: JsonSchema>(direction: Direction, file: &'static str, id: &'static str, what: &'static str) -> Shape {
    let settings = match direction {
        Direction::Written => SchemaSettings::draft2020_12().for_serialize(),
        Direction::Read => SchemaSettings::draft2020_12().for_deserialize(),
    };
    let mut schema = settings.into_generator().into_root_schema_for::<T>().to_value();
    if let Some(top) = schema.as_object_mut() {
        top.insert("$id".into(), json!(format!("https://msix-policy.invalid/schemas/{file}")));
        top.insert("title".into(), json!(format!("{id}: {what}")));
        // Every document names its shape and version; a reader refuses any other.
        if let Some(props) = top.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert("schema".into(), json!({ "const": id }));
        }
        let required = top.entry("required").or_insert_with(|| json!([]));
        if let Some(list) = required.as_array_mut() {
            if !list.iter().any(|v| v == "schema") {
                list.insert(0, json!("schema"));
            }
        }
    }
    Shape { file, id, what, schema }
}

/// Every shape: the audit, one device, the rule catalogue, a diff, the plan input, the layout.
pub fn shapes() -> Vec<Shape> {
    vec![
        generate::<AuditDocument>(
            Direction::Written,
            "audit.schema.json",
            AUDIT_SCHEMA,
            "`msix-policy audit --format json`",
        ),
        generate::<DeviceDocument>(
            Direction::Written,
            "device.schema.json",
            DEVICE_SCHEMA,
            "`msix-policy explain --format json`",
        ),
        generate::<RulesDocument>(
            Direction::Written,
            "rules.schema.json",
            RULES_SCHEMA,
            "`msix-policy rules --format json`",
        ),
        generate::<crate::diff::DiffReport>(
            Direction::Written,
            "diff.schema.json",
            crate::diff::SCHEMA,
            "`msix-policy diff --format json`",
        ),
        generate::<VmmInput>(
            Direction::Read,
            "plan-input.schema.json",
            PLAN_INPUT_SCHEMA,
            "what a VMM hands `plan_layout`, `msix-policy plan` and `msix_policy_plan_layout`",
        ),
        generate::<Layout>(
            Direction::Written,
            "layout.schema.json",
            LAYOUT_SCHEMA,
            "the guest BAR layout `plan_layout` returns",
        ),
    ]
}

/// A schema as committed: pretty JSON and a final newline.
pub fn to_text(schema: &Value) -> String {
    let mut s = serde_json::to_string_pretty(schema).unwrap_or_default();
    s.push('\n');
    s
}
