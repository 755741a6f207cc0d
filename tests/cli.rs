//! The `msix-policy` binary as an operator runs it.

mod common;

use common::{run_cli as run, stderr, stdout};

use std::process::Output;

#[test]
fn audit_json_has_the_documented_fields_for_every_device_of_every_fixture() {
    for f in common::fixtures() {
        let o = run(&["audit", "--root", f.to_str().unwrap(), "--format", "json"]);
        assert!(o.status.success(), "{}: {}", common::name(&f), stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let devices = v["devices"].as_array().unwrap();
        assert!(!devices.is_empty(), "{}", common::name(&f));
        for d in devices {
            let addr = d["address"].as_str().unwrap();
            assert!(["isolated", "not-isolated", "unknown"].contains(&d["isolation"].as_str().unwrap()), "{addr}");
            let exposure = d["exposure"].as_str().unwrap();
            assert!(["passthrough", "relocate", "trap", "refuse", "none"].contains(&exposure), "{addr}");
            assert!(["none", "self-only", "unsafe"].contains(&d["risk"].as_str().unwrap()), "{addr}");
            if exposure == "refuse" {
                assert!(d["plan"].is_null());
            } else {
                for bar in d["plan"]["bars"].as_array().unwrap() {
                    for s in bar["segments"].as_array().unwrap() {
                        assert!(s["offset"].is_u64() && s["length"].is_u64(), "{addr}: {s}");
                        assert!(["map", "trap", "emulate"].contains(&s["action"].as_str().unwrap()), "{addr}: {s}");
                    }
                }
            }
            let reasons = d["reasons"].as_array().unwrap();
            assert!(!reasons.is_empty());
            for r in reasons {
                assert!(r["rule"].is_string() && r["evidence"].is_array() && r["reference"].is_string(), "{addr}: {r}");
            }
        }
    }
}

#[test]
fn text_audit_and_explain_read_at_a_glance() {
    let root = common::fixture("synthetic/ppc64-pseries");
    let o = run(&["audit", "--root", root.to_str().unwrap()]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert!(text.contains("ppc64 pSeries (PAPR)") && text.contains("64 KiB pages"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("0000:00:04.0") && l.contains("passthrough") && l.contains("self-only")),
        "{text}"
    );
    let o = run(&["explain", "0000:00:04.0", "--root", root.to_str().unwrap(), "--guest", "direct"]);
    let text = stdout(&o);
    assert!(o.status.success());
    assert!(text.contains("exposure   relocate") && text.contains("emulate(virtual-table)"), "{text}");
    assert!(text.contains("evidence: sys/firmware/devicetree/base/rtas/ibm,change-msi"), "{text}");
    let o = run(&["rules"]);
    assert!(stdout(&o).contains("isolation.vtd.sid-verification-off"));
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let t = common::TempDir::new();
    std::fs::create_dir_all(t.path().join("empty")).unwrap();
    std::fs::create_dir_all(t.path().join("badtoml")).unwrap();
    std::fs::write(t.path().join("badtoml/fixture.toml"), "[host]\narch = \"x86_64\"\npage_size = \"big\"\n").unwrap();
    std::fs::write(t.path().join("loosen.toml"), "[[device]]\nmatch = \"0000:00:01.0\"\nexposure = \"passthrough\"\n")
        .unwrap();
    std::fs::write(t.path().join("broken.toml"), "[defaults\n").unwrap();
    let vtd = common::fixture("synthetic/x86-vtd-intremap-off");
    let p = |s: &str| t.path().join(s).to_str().unwrap().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["audit".into(), "--root".into(), p("nope")], "cannot open root"),
        (vec!["audit".into(), "--root".into(), p("empty")], "fixture.toml is missing"),
        (vec!["audit".into(), "--root".into(), p("badtoml")], "page_size"),
        (
            vec!["audit".into(), "--root".into(), vtd.to_str().unwrap().into(), "--policy".into(), p("loosen.toml")],
            "only make a decision safer",
        ),
        (
            vec!["audit".into(), "--root".into(), vtd.to_str().unwrap().into(), "--policy".into(), p("broken.toml")],
            "not valid",
        ),
        (
            vec!["explain".into(), "0000:09:00.0".into(), "--root".into(), vtd.to_str().unwrap().into()],
            "no PCI function 0000:09:00.0",
        ),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn record_then_audit_round_trips_a_fixture() {
    let t = common::TempDir::new();
    let src = common::fixture("synthetic/arm64-its-64k");
    let dest = t.path().join("rec");
    let o = run(&["record", dest.to_str().unwrap(), "--root", src.to_str().unwrap(), "--kind", "synthetic"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let a = run(&["audit", "--root", src.to_str().unwrap(), "--format", "json"]);
    let b = run(&["audit", "--root", dest.to_str().unwrap(), "--format", "json"]);
    let strip = |o: &Output| {
        let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["root"] = serde_json::Value::Null;
        v["source"] = serde_json::Value::Null;
        v["devices"].clone()
    };
    assert_eq!(strip(&a), strip(&b));
    // Links stay links with their original targets.
    let link = std::fs::read_link(dest.join("sys/bus/pci/devices/0000:00:03.0/iommu_group")).unwrap();
    assert_eq!(link.to_str().unwrap(), "../../../kernel/iommu_groups/2");
    // A second record into a non-empty directory is refused.
    let o = run(&["record", dest.to_str().unwrap(), "--root", src.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_host_with_nothing_to_show_falls_back_to_the_demo_in_text_only() {
    let t = common::TempDir::new();
    let toml = "[host]\narch = \"x86_64\"\npage_size = 4096\nkernel = \"6.1.0\"\n";
    std::fs::write(t.path().join("fixture.toml"), toml).unwrap();
    let run_here = |args: &[&str]| {
        let mut c = common::command(args);
        c.env("MSIX_POLICY_ROOT", t.path());
        c.output().expect("binary runs")
    };
    // Text for a person: the embedded demo, and the first line on stdout says it is not this host.
    let o = run_here(&["audit"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let first = out.lines().next().unwrap_or("");
    assert!(first.contains("no PCI functions") && first.contains("embedded demo fixture qemu/x86-q35-vtd-ir"), "{out}");
    assert!(first.contains("not this host"), "{first}");
    assert!(out.contains("x86 Intel VT-d"), "{out}");
    // Written to a file, the report still says so first.
    let file = t.path().join("out/audit.txt");
    let o = run_here(&["audit", "--output", file.to_str().unwrap()]);
    assert!(o.status.success() && o.stdout.is_empty(), "{}", stderr(&o));
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written.lines().next(), Some(first), "{written}");
    // Machine formats describe this host or nothing: exit 2, nothing on stdout.
    for format in ["json", "nfd", "prometheus", "qemu"] {
        let o = run_here(&["audit", "--format", format]);
        assert_eq!(o.status.code(), Some(2), "{format}: {}", stdout(&o));
        assert!(o.stdout.is_empty(), "{format} published: {}", stdout(&o));
        assert!(stderr(&o).contains("shows no PCI functions"), "{}", stderr(&o));
    }
    let o = run_here(&["explain", "0000:00:04.0", "--format", "json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
}

#[test]
fn plan_lays_out_a_device_from_its_input_file_and_from_an_audit() {
    let fixture = common::fixture("synthetic/arm64-its-64k");
    let root = fixture.to_str().unwrap();
    let input = run(&["plan", "--device", "0000:00:03.0", "--root", root, "--print-input"]);
    assert!(input.status.success(), "{}", stderr(&input));
    let dir = common::TempDir::new();
    let file = dir.path().join("nvme.json");
    std::fs::write(&file, &input.stdout).unwrap();
    let from_file = run(&["plan", file.to_str().unwrap()]);
    let from_audit = run(&["plan", "--device", "0000:00:03.0", "--root", root]);
    assert!(from_file.status.success(), "{}", stderr(&from_file));
    assert_eq!(stdout(&from_file), stdout(&from_audit));
    let layout: serde_json::Value = serde_json::from_slice(&from_file.stdout).unwrap();
    assert_eq!(layout["schema"], "msix-policy/layout/v1");
    assert_eq!(layout["exposure"], "relocate");
    assert_eq!(layout["msix"]["table_bir"], 2);
    // QEMU's geometry for the same decision: the PBA right after the table.
    let qemu = run(&["plan", file.to_str().unwrap(), "--mode", "qemu"]);
    let q: serde_json::Value = serde_json::from_slice(&qemu.stdout).unwrap();
    assert_eq!(q["msix"]["pba_offset"], 65 * 16);
    // Bad input: exit 2 and one line that names the field.
    std::fs::write(&file, r#"{"schema":"msix-policy/plan-input/v1","config":"00","regions":[],"page_size":12288,"isolation":{"kind":"kernel-accepted","backend":"type1","allow_unsafe_interrupts":false}}"#).unwrap();
    let bad = run(&["plan", file.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("page_size 12288"), "{}", stderr(&bad));
    assert_eq!(stderr(&bad).lines().count(), 1);
}

#[test]
fn audit_for_qemu_names_the_relocation_bar_or_why_not() {
    let f = common::fixture("synthetic/arm64-its-64k");
    let o = run(&["audit", "--root", f.to_str().unwrap(), "--format", "qemu"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("-device vfio-pci,host=0000:00:03.0,x-msix-relocation=bar2"), "{out}");
    let refused =
        run(&["audit", "--root", common::fixture("qemu/x86-q35-no-iommu").to_str().unwrap(), "--format", "qemu"]);
    assert!(stdout(&refused).lines().filter(|l| l.starts_with("-device")).count() == 0, "{}", stdout(&refused));
    assert!(stdout(&refused).contains("refuse: do not assign"));
}

#[test]
fn qemu_lines_are_safe_to_paste() {
    // allow_unsafe_interrupts on a host without isolation: assignable, risk unsafe.
    let f = common::fixture("qemu/x86-q35-allow-unsafe");
    let root = f.to_str().unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&run(&["audit", "--root", root, "--format", "json"]).stdout).unwrap();
    let devices = json["devices"].as_array().unwrap();
    let host_owned = |d: &serde_json::Value| {
        let class = d["class"].as_str().unwrap_or("");
        class.starts_with("06") || class.starts_with("08") || class.starts_with("0c05")
    };
    let unsafe_: Vec<&str> = devices
        .iter()
        .filter(|d| d["risk"] == "unsafe" && !host_owned(d))
        .map(|d| d["address"].as_str().unwrap())
        .collect();
    assert!(!unsafe_.is_empty());
    let out = stdout(&run(&["audit", "--root", root, "--format", "qemu"]));
    for a in &unsafe_ {
        assert!(!out.lines().any(|l| l.starts_with("-device") && l.contains(a)), "{a} printed:\n{out}");
        assert!(out.contains(&format!("# {a}: risk unsafe")), "{out}");
    }
    let asked = stdout(&run(&["audit", "--root", root, "--format", "qemu", "--allow-unsafe"]));
    for a in &unsafe_ {
        assert!(asked.lines().any(|l| l.starts_with("-device") && l.contains(a)), "{asked}");
    }
    assert!(asked.contains("risk UNSAFE, printed as asked"));
    // The host bridge, ISA bridge and SMBus controller of a q35 belong to the host.
    let q35 = common::fixture("qemu/x86-q35-vtd-ir");
    let out = stdout(&run(&["audit", "--root", q35.to_str().unwrap(), "--format", "qemu"]));
    let json: serde_json::Value =
        serde_json::from_slice(&run(&["audit", "--root", q35.to_str().unwrap(), "--format", "json"]).stdout).unwrap();
    let mut owned = 0;
    for d in json["devices"].as_array().unwrap() {
        let a = d["address"].as_str().unwrap();
        if host_owned(d) {
            owned += 1;
            assert!(out.contains(&format!("# {a}: ")) && out.contains("belongs to the host"), "{a}:\n{out}");
            assert!(!out.lines().any(|l| l.starts_with("-device") && l.contains(a)), "{a}:\n{out}");
        }
    }
    assert!(owned >= 3, "{owned}");
    assert!(out.lines().any(|l| l.starts_with("-device vfio-pci,host=")), "{out}");
    // A newline in a path cannot start a line of its own.
    let t = common::copy_fixture("synthetic/x86-vtd-ir");
    let odd = t.path().join("host\n-device evil");
    std::fs::rename(t.root(), &odd).unwrap();
    let o = run(&["audit", "--root", odd.to_str().unwrap(), "--format", "qemu"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).lines().any(|l| l.starts_with("-device evil")), "{}", stdout(&o));
}

#[test]
fn each_subcommand_takes_only_its_formats() {
    let f = common::fixture("synthetic/x86-vtd-ir");
    let root = f.to_str().unwrap();
    for args in [
        vec!["apply", "0000:00:04.0", "--dry-run", "--root", root, "--format", "json"],
        vec!["explain", "0000:00:04.0", "--root", root, "--format", "prometheus"],
        vec!["rules", "--format", "nfd"],
        vec!["plan", "--device", "0000:00:04.0", "--root", root, "--format", "qemu"],
        vec!["diff", root, root, "--format", "nfd"],
        vec!["audit", "--root", root, "--format", "markdown"],
        vec!["audit", "--root", root, "--format", "nfd", "--baseline", root],
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stdout(&o));
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    // Help lists what each takes, nothing else.
    let help = |cmd: &str| stdout(&run(&[cmd, "--help"]));
    assert!(!help("explain").contains("prometheus") && help("explain").contains("json"));
    assert!(!help("plan").contains("nfd") && !help("rules").contains("qemu"));
    assert!(!help("apply").contains("--format"));
    assert!(help("audit").contains("prometheus"));
}
