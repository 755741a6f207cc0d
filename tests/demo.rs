//! The demo fixture the binary carries is the recorded host it names, and audits as that host.

use std::path::Path;

use msix_policy::backends::pack;
use msix_policy::demo::{audit_demo, DEMO_FIXTURE, DEMO_PACK};
use msix_policy::{audit, render, AuditOptions};

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(DEMO_FIXTURE)
}

#[test]
fn the_embedded_pack_is_the_fixture() {
    let packed = pack::pack_dir(&fixture()).unwrap();
    assert!(packed == DEMO_PACK, "src/demo.pack is stale: run `cargo xtask demo`, review the diff");
}

#[test]
fn the_demo_audits_as_the_fixture_with_its_own_name() {
    let opts = AuditOptions::sandboxed();
    let demo = audit_demo(&opts).unwrap();
    let recorded = audit(fixture(), &opts).unwrap();
    assert_eq!(demo.root, format!("embedded demo fixture {DEMO_FIXTURE}"));
    assert!(!demo.devices.is_empty());
    let strip = |r: &msix_policy::AuditReport| {
        let mut v = serde_json::to_value(render::json_report(r)).unwrap();
        v.as_object_mut().unwrap().remove("root");
        v
    };
    assert_eq!(strip(&demo), strip(&recorded));
}
