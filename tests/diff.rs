//! `msix-policy diff` and `audit --baseline`: decisions over time, on the recorded hosts.

mod common;

use common::{run_cli as run, stderr, stdout};

use std::process::Command;
use std::sync::OnceLock;

use msix_policy::diff::{self, AuditView, Class, DiffReport, Isolation, Presence};
use msix_policy::policy::{Exposure, Risk};
use msix_policy::AuditOptions;
use proptest::prelude::*;

fn fx(name: &str) -> String {
    common::fixture(name).display().to_string()
}

fn view(name: &str) -> AuditView {
    diff::load_side(&common::fixture(name), &AuditOptions::default()).unwrap()
}

fn json_diff(old: &str, new: &str) -> (serde_json::Value, i32) {
    let o = run(&["diff", old, new, "--format", "json"]);
    let code = o.status.code().unwrap();
    assert!(code == 0 || code == 1, "{}", stderr(&o));
    (serde_json::from_slice(&o.stdout).unwrap(), code)
}

/// The class of one field of one device in a JSON diff.
fn field_class<'a>(v: &'a serde_json::Value, address: &str, field: &str) -> Option<&'a str> {
    let d = v["devices"].as_array()?.iter().find(|d| d["address"] == address)?;
    let c = d["changes"].as_array()?.iter().find(|c| c["field"] == field)?;
    c["class"].as_str()
}

#[test]
fn a_fixture_diffed_with_itself_is_all_same_and_exits_0() {
    for f in common::fixtures() {
        let p = f.display().to_string();
        let (v, code) = json_diff(&p, &p);
        assert_eq!(code, 0, "{}", common::name(&f));
        assert_eq!(v["schema"], diff::SCHEMA);
        assert_eq!(v["less_safe"], false);
        for d in v["devices"].as_array().unwrap() {
            assert_eq!(d["class"], "same", "{}: {d}", common::name(&f));
            assert!(d["changes"].as_array().unwrap().is_empty(), "{}: {d}", common::name(&f));
            assert!(
                d["rules_added"].as_array().unwrap().is_empty() && d["rules_removed"].as_array().unwrap().is_empty()
            );
        }
        assert_eq!(v["counts"]["same"].as_u64().unwrap() as usize, v["devices"].as_array().unwrap().len());
    }
}

#[test]
fn intremap_off_is_less_safe_even_though_the_devices_become_refused() {
    let (v, code) = json_diff(&fx("qemu/x86-q35-vtd-ir"), &fx("qemu/x86-q35-vtd-intremap-off"));
    assert_eq!(code, 1);
    assert_eq!(v["less_safe"], true);
    // The NVMe function: trap -> refuse is safer in exposure terms, but the loss of isolation is
    // less safe, and the device is classed by the worse of the two.
    let nvme = "0000:00:04.0";
    assert_eq!(field_class(&v, nvme, "isolation"), Some("less-safe"));
    assert_eq!(field_class(&v, nvme, "exposure"), Some("safer"));
    assert_eq!(field_class(&v, nvme, "assignable"), Some("safer"));
    let d = v["devices"].as_array().unwrap().iter().find(|d| d["address"] == nvme).unwrap();
    assert_eq!(d["class"], "less-safe");
    assert_eq!(d["old"]["exposure"], "trap");
    assert_eq!(d["new"]["exposure"], "refuse");
    // The rules that changed carry their evidence.
    let added: Vec<&str> = d["rules_added"].as_array().unwrap().iter().map(|r| r["rule"].as_str().unwrap()).collect();
    assert!(added.contains(&"isolation.vtd.intremap-off"), "{added:?}");
    let intremap =
        d["rules_added"].as_array().unwrap().iter().find(|r| r["rule"] == "isolation.vtd.intremap-off").unwrap();
    assert!(
        intremap["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["observed"].as_str().unwrap().contains("intremap=off")),
        "{intremap}"
    );
    let removed: Vec<&str> =
        d["rules_removed"].as_array().unwrap().iter().map(|r| r["rule"].as_str().unwrap()).collect();
    assert!(removed.contains(&"isolation.vtd.ir-enabled"), "{removed:?}");
}

#[test]
fn turning_interrupt_remapping_on_is_safer_and_exits_0() {
    let (v, code) = json_diff(&fx("qemu/x86-q35-vtd-intremap-off"), &fx("qemu/x86-q35-vtd-ir"));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["less_safe"], false);
    assert_eq!(field_class(&v, "0000:00:04.0", "isolation"), Some("safer"));
    // The refusal is lifted because the cause is gone: not a loss of safety.
    assert_eq!(field_class(&v, "0000:00:04.0", "exposure"), Some("same"));
    assert_eq!(v["counts"]["less_safe"], 0);
    assert!(v["counts"]["safer"].as_u64().unwrap() > 0);
}

#[test]
fn allow_unsafe_interrupts_shows_as_a_less_safe_risk() {
    let (v, code) = json_diff(&fx("qemu/x86-q35-vtd-ir"), &fx("qemu/x86-q35-allow-unsafe"));
    assert_eq!(code, 1);
    for addr in ["0000:00:02.0", "0000:00:03.0", "0000:00:04.0"] {
        assert_eq!(field_class(&v, addr, "risk"), Some("less-safe"), "{addr}");
        assert_eq!(field_class(&v, addr, "isolation"), Some("less-safe"), "{addr}");
        // Trap both sides: no exposure change.
        assert_eq!(field_class(&v, addr, "exposure"), None, "{addr}");
    }
    // The other way round is safer.
    let (v, code) = json_diff(&fx("qemu/x86-q35-allow-unsafe"), &fx("qemu/x86-q35-vtd-ir"));
    assert_eq!(code, 0);
    assert_eq!(field_class(&v, "0000:00:04.0", "risk"), Some("safer"));
    // From refused (intremap=off) to assignable with risk unsafe: less safe.
    let (v, code) = json_diff(&fx("qemu/x86-q35-vtd-intremap-off"), &fx("qemu/x86-q35-allow-unsafe"));
    assert_eq!(code, 1);
    assert_eq!(field_class(&v, "0000:00:04.0", "assignable"), Some("less-safe"));
    assert_eq!(field_class(&v, "0000:00:04.0", "exposure"), Some("less-safe"));
}

#[test]
fn an_audit_json_side_equals_its_fixture_side() {
    let t = common::TempDir::new();
    for name in
        ["qemu/x86-q35-vtd-ir", "qemu/ppc64-pseries-power9", "synthetic/arm64-its-64k", "qemu/x86-q35-allow-unsafe"]
    {
        let o = run(&["audit", "--root", &fx(name), "--format", "json"]);
        assert!(o.status.success());
        let file = t.path().join(format!("{}.json", name.replace('/', "-")));
        std::fs::write(&file, &o.stdout).unwrap();
        let from_json = diff::load_side(&file, &AuditOptions::default()).unwrap();
        let mut from_fixture = view(name);
        from_fixture.source = from_json.source.clone();
        assert_eq!(from_json, from_fixture, "{name}");
        // And through the CLI, both ways.
        let f = file.display().to_string();
        let (v, code) = json_diff(&f, &fx(name));
        assert_eq!((code, &v["counts"]["same"]), (0, &v["devices"].as_array().unwrap().len().into()), "{name}");
        let (v, code) = json_diff(&fx(name), &f);
        assert_eq!((code, &v["counts"]["same"]), (0, &v["devices"].as_array().unwrap().len().into()), "{name}");
    }
    // A JSON side gives the same diff as the fixture it was audited from.
    let ir = t.path().join("qemu-x86-q35-vtd-ir.json").display().to_string();
    let (a, _) = json_diff(&ir, &fx("qemu/x86-q35-vtd-intremap-off"));
    let (b, _) = json_diff(&fx("qemu/x86-q35-vtd-ir"), &fx("qemu/x86-q35-vtd-intremap-off"));
    assert_eq!(a["devices"], b["devices"]);
    assert_eq!(a["counts"], b["counts"]);
}

#[test]
fn addresses_match_case_insensitively_and_added_and_removed_devices_are_reported() {
    let t = common::TempDir::new();
    let o = run(&["audit", "--root", &fx("qemu/x86-q35-vtd-ir"), "--format", "json"]);
    let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let devices = v["devices"].as_array_mut().unwrap();
    for d in devices.iter_mut() {
        let upper = d["address"].as_str().unwrap().to_uppercase();
        d["address"] = upper.into();
    }
    let upper = t.path().join("upper.json");
    std::fs::write(&upper, serde_json::to_vec(&v).unwrap()).unwrap();
    let (r, code) = json_diff(&fx("qemu/x86-q35-vtd-ir"), &upper.display().to_string());
    assert_eq!((code, r["counts"]["added"].as_u64(), r["counts"]["removed"].as_u64()), (0, Some(0), Some(0)));

    // Remove the NVMe function, add an unsafe one.
    let devices = v["devices"].as_array_mut().unwrap();
    devices.retain(|d| d["address"] != "0000:00:04.0");
    let mut extra = devices[0].clone();
    extra["address"] = "0000:00:09.0".into();
    extra["risk"] = "unsafe".into();
    devices.push(extra);
    let changed = t.path().join("changed.json");
    std::fs::write(&changed, serde_json::to_vec(&v).unwrap()).unwrap();
    let (r, code) = json_diff(&fx("qemu/x86-q35-vtd-ir"), &changed.display().to_string());
    assert_eq!(code, 1, "an added device with risk unsafe is less safe");
    assert_eq!((r["counts"]["added"].as_u64(), r["counts"]["removed"].as_u64()), (Some(1), Some(1)));
    let find = |a: &str| r["devices"].as_array().unwrap().iter().find(|d| d["address"] == a).unwrap().clone();
    assert_eq!(find("0000:00:04.0")["presence"], "removed");
    assert_eq!(find("0000:00:09.0")["presence"], "added");
    assert_eq!(find("0000:00:09.0")["class"], "less-safe");
    let text = stdout(&run(&["diff", &fx("qemu/x86-q35-vtd-ir"), &changed.display().to_string()]));
    assert!(text.contains("0000:00:04.0 removed") && text.contains("0000:00:09.0 added"), "{text}");
}

#[test]
fn audit_baseline_diffs_the_baseline_against_the_new_audit() {
    let t = common::TempDir::new();
    let o = run(&["audit", "--root", &fx("qemu/x86-q35-vtd-ir"), "--format", "json"]);
    let baseline = t.path().join("baseline.json");
    std::fs::write(&baseline, &o.stdout).unwrap();
    let b = baseline.display().to_string();
    let o = run(&["audit", "--root", &fx("qemu/x86-q35-vtd-ir"), "--baseline", &b]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("nothing became less safe"));
    let o = run(&["audit", "--root", &fx("qemu/x86-q35-vtd-intremap-off"), "--baseline", &b, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema"], diff::SCHEMA);
    // A fixture directory as the baseline.
    let o = run(&["audit", "--root", &fx("qemu/x86-q35-vtd-intremap-off"), "--baseline", &fx("qemu/x86-q35-vtd-ir")]);
    assert_eq!(o.status.code(), Some(1));
    let o = run(&["audit", "--root", &fx("qemu/x86-q35-vtd-ir"), "--baseline", &fx("qemu/x86-q35-vtd-intremap-off")]);
    assert_eq!(o.status.code(), Some(0));
    let o = run(&["audit", "--root", &fx("qemu/x86-q35-vtd-ir"), "--baseline", &b, "--format", "markdown"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("## msix-policy diff"));
    let o = run(&["audit", "--root", &fx("qemu/x86-q35-vtd-ir"), "--baseline", &b, "--format", "nfd"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn text_has_no_colour_off_a_terminal_and_markdown_is_a_table() {
    let o = run(&["diff", &fx("qemu/x86-q35-vtd-ir"), &fx("qemu/x86-q35-vtd-intremap-off")]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(!text.contains('\x1b'), "{text}");
    assert!(text.contains("LESS-SAFE 0000:00:04.0"), "{text}");
    assert!(text.contains("result: something became less safe (exit 1)"), "{text}");
    // Colour is there when asked for (a terminal).
    let r = diff::diff_reports(&view("qemu/x86-q35-vtd-ir"), &view("qemu/x86-q35-vtd-intremap-off"));
    assert!(diff::text(&r, true).contains("\x1b[1;31m"));
    let md = stdout(&run(&[
        "diff",
        &fx("qemu/x86-q35-vtd-ir"),
        &fx("qemu/x86-q35-vtd-intremap-off"),
        "--format",
        "markdown",
    ]));
    assert!(md.contains("| device | class | field | old | new | change | note |"), "{md}");
    assert!(
        md.contains("| `0000:00:04.0` | **less-safe** | isolation | isolated | not-isolated | less-safe |"),
        "{md}"
    );
    // Every table row has the header's number of cells.
    for line in md.lines().filter(|l| l.starts_with('|')) {
        assert_eq!(line.replace("\\|", "").matches('|').count(), 8, "{line}");
    }
}

#[test]
fn bad_input_is_one_line_on_stderr_and_exit_2() {
    let t = common::TempDir::new();
    let ir = fx("qemu/x86-q35-vtd-ir");
    let not_json = t.path().join("not.json");
    std::fs::write(&not_json, "hello").unwrap();
    let wrong_shape = t.path().join("shape.json");
    std::fs::write(
        &wrong_shape,
        r#"{"schema": "msix-policy/audit/v1", "devices": [{"address": "0000:00:01.0", "isolation": "sort-of"}]}"#,
    )
    .unwrap();
    let no_schema = t.path().join("no-schema.json");
    std::fs::write(&no_schema, r#"{"devices": []}"#).unwrap();
    let future = t.path().join("future.json");
    std::fs::write(&future, r#"{"schema": "msix-policy/audit/v999", "devices": []}"#).unwrap();
    let dup = t.path().join("dup.json");
    let o = run(&["audit", "--root", &ir, "--format", "json"]);
    let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let first = v["devices"][0].clone();
    v["devices"].as_array_mut().unwrap().push(first);
    std::fs::write(&dup, serde_json::to_vec(&v).unwrap()).unwrap();
    let a_diff = t.path().join("diff.json");
    std::fs::write(&a_diff, run(&["diff", &ir, &ir, "--format", "json"]).stdout).unwrap();
    let empty_dir = t.path().join("empty");
    std::fs::create_dir(&empty_dir).unwrap();
    let cases: Vec<(String, &str)> = vec![
        (t.path().join("missing").display().to_string(), "no such file"),
        (not_json.display().to_string(), "not an audit JSON file"),
        (wrong_shape.display().to_string(), "unknown variant"),
        (dup.display().to_string(), "appears twice"),
        (a_diff.display().to_string(), "is a diff report"),
        (empty_dir.display().to_string(), "fixture.toml"),
        (no_schema.display().to_string(), "schema (missing): expected \"msix-policy/audit/v1\""),
        (future.display().to_string(), "schema \"msix-policy/audit/v999\""),
        // An endless file ends at the documented bound, not when memory does.
        ("/dev/zero".to_string(), "more than 134217728 bytes"),
    ];
    for (side, expect) in &cases {
        for args in [["diff", side.as_str(), ir.as_str()], ["diff", ir.as_str(), side.as_str()]] {
            let o = run(&args);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            assert!(o.stdout.is_empty(), "{args:?}");
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
            assert!(err.starts_with("msix-policy: ") && err.contains(expect), "{args:?}: {err}");
        }
    }
    let o = run(&["audit", "--root", &ir, "--baseline", &not_json.display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stderr(&o).lines().count(), 1);
    let o = run(&["diff", &ir, &ir, "--format", "prometheus"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["explain", "0000:00:04.0", "--root", &ir, "--format", "nfd"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_side_can_come_from_standard_input() {
    use std::io::Write;
    let ir = fx("qemu/x86-q35-vtd-ir");
    let json = run(&["audit", "--root", &ir, "--format", "json"]).stdout;
    let bin = env!("CARGO_BIN_EXE_msix-policy");
    if !std::env::var("MSIX_POLICY_TEST_RUNNER").unwrap_or_default().is_empty() {
        return; // the emulator wrapper is exercised by the other tests
    }
    let mut child = Command::new(bin)
        .args(["diff", "-", &fx("qemu/x86-q35-vtd-intremap-off")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&json).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("old: - ("), "{}", stdout(&o));
}

// ---- property: an audit mutated toward less safe never diffs as safe ----

fn bases() -> &'static [AuditView] {
    static B: OnceLock<Vec<AuditView>> = OnceLock::new();
    B.get_or_init(|| {
        [
            "qemu/x86-q35-vtd-ir",
            "qemu/x86-q35-vtd-intremap-off",
            "qemu/x86-q35-allow-unsafe",
            "qemu/ppc64-pseries-power9",
            "synthetic/arm64-its-64k",
            "synthetic/ppc64-powernv",
            "synthetic/x86-vtd-unprivileged",
        ]
        .iter()
        .map(|n| view(n))
        .collect()
    })
}

/// One step toward less safe, when it applies to the device.
fn worsen(d: &mut diff::DeviceView, kind: u8, pick: u8) -> bool {
    match kind % 4 {
        // Lose isolation.
        0 if d.isolation == Isolation::Isolated => {
            d.isolation = if pick % 2 == 0 { Isolation::NotIsolated } else { Isolation::Unknown };
            true
        }
        // Raise the risk.
        1 if d.risk != Risk::Unsafe => {
            d.risk = if d.risk == Risk::None && pick % 2 == 0 { Risk::SelfOnly } else { Risk::Unsafe };
            true
        }
        // Expose the table more (an assignable device).
        2 if matches!(d.exposure, Exposure::Trap | Exposure::None | Exposure::Relocate) => {
            d.exposure = if d.exposure == Exposure::Relocate || pick % 2 == 0 {
                Exposure::Passthrough
            } else {
                Exposure::Relocate
            };
            true
        }
        // A refused device becomes assignable with risk unsafe.
        3 if d.exposure == Exposure::Refuse || !d.assignable => {
            d.exposure = Exposure::Trap;
            d.assignable = true;
            d.risk = Risk::Unsafe;
            true
        }
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn an_audit_mutated_toward_less_safe_never_exits_0(
        base in 0usize..7,
        steps in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6),
        upper in any::<bool>(),
        reverse_order in any::<bool>(),
        extra_trap in 0u64..3,
    ) {
        let old = &bases()[base];
        let mut new = old.clone();
        let mut worsened = std::collections::BTreeSet::new();
        for (i, kind, pick) in steps {
            let n = new.devices.len();
            let d = &mut new.devices[i % n];
            // Try the asked kind first, then the others, so that every step worsens something.
            if (0..4).any(|k| worsen(d, kind.wrapping_add(k), pick)) {
                worsened.insert(d.address.to_ascii_lowercase());
            }
        }
        prop_assume!(!worsened.is_empty());
        // Noise that must not matter: address case, device order, trapped bytes (cost only).
        for d in &mut new.devices {
            if upper { d.address = d.address.to_uppercase(); }
            if let Some(p) = &mut d.plan {
                for b in &mut p.bars { b.trapped_bytes += extra_trap * 4096; }
            }
        }
        if reverse_order { new.devices.reverse(); }

        let r: DiffReport = diff::diff_reports(old, &new);
        prop_assert!(r.less_safe);
        prop_assert_eq!(r.exit_code(), 1);
        for d in &r.devices {
            prop_assert_eq!(d.presence, Presence::Both);
            if worsened.contains(&d.address.to_ascii_lowercase()) {
                prop_assert_eq!(d.class, Class::LessSafe, "{}: {:?}", d.address, d.changes);
            } else {
                prop_assert!(d.class == Class::Same || d.class == Class::CostOnly, "{}: {:?}", d.address, d.changes);
            }
        }
        // Undoing the changes is never less safe.
        let back = diff::diff_reports(&new, old);
        prop_assert!(!back.less_safe, "{:?}", back.devices.iter().filter(|d| d.class == Class::LessSafe).collect::<Vec<_>>());
        prop_assert_eq!(back.exit_code(), 0);
    }
}

#[test]
fn the_json_schema_names_every_field_the_readme_documents() {
    let (v, _) = json_diff(&fx("qemu/x86-q35-vtd-ir"), &fx("qemu/x86-q35-vtd-intremap-off"));
    for k in ["schema", "old", "new", "host_changes", "counts", "less_safe", "devices"] {
        assert!(v.get(k).is_some(), "{k}");
    }
    let d = &v["devices"][0];
    for k in ["address", "presence", "class", "old", "new", "changes", "rules_added", "rules_removed"] {
        assert!(d.get(k).is_some(), "{k}");
    }
    for c in d["changes"].as_array().unwrap() {
        assert!(c["field"].is_string() && c["class"].is_string() && c.get("old").is_some() && c.get("new").is_some());
    }
}
