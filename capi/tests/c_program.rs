//! A C program (tests/c/msix_policy_demo.c) built with the system C compiler against the static
//! library and the committed header, run on real recorded devices: it must print exactly the
//! layout and the audit the Rust API gives for the same input. Under scripts/cross-test.sh the
//! target's cross compiler builds it and qemu-user runs it.

#[path = "../../tests/common/runner.rs"]
mod runner;

use std::path::{Path, PathBuf};
use std::process::Command;

use msix_policy::backends::Root;
use msix_policy::policy::{plan_layout, LayoutMode};
use msix_policy::{audit, render, vmm_input, AuditOptions};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `target/[<triple>/]debug/deps`: where this test runs from, and where cargo put the crate's own
/// static library when it built the library for this test (`cargo test` builds every crate type
/// of the library; only `cargo build` copies it up to `debug/`, so nothing else needs to run first).
fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent().expect("target/<profile>/deps/<test>").to_path_buf()
}

/// Builds the C program once per test process.
fn demo() -> PathBuf {
    let out = deps_dir().join("msix_policy_demo");
    let cc = std::env::var("MSIX_POLICY_TEST_CC").unwrap_or_else(|_| "cc".into());
    let lib = deps_dir().join("libmsix_policy_c.a");
    assert!(lib.exists(), "{} missing: cargo builds it with this test's crate", lib.display());
    let status = Command::new(&cc)
        .arg("-std=c99")
        .arg("-Wall")
        .arg("-Werror")
        .arg("-I")
        .arg(repo().join("capi/include"))
        .arg(repo().join("tests/c/msix_policy_demo.c"))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("{cc}: {e} (install a C compiler, or set MSIX_POLICY_TEST_CC)"));
    assert!(status.success(), "{cc} failed to build the C program");
    out
}

/// Runs the program, through the emulator when the tests run under one.
fn run(demo: &Path, args: &[&str]) -> std::process::Output {
    runner::under_runner(demo).args(args).output().expect("the C program runs")
}

#[test]
fn the_c_program_gets_the_rust_layouts_and_audit() {
    let demo = demo();
    let dir = std::env::temp_dir().join(format!("msix-capi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut compared = 0;
    for (fixture, address) in [
        ("synthetic/arm64-its-64k", "0000:00:03.0"),
        ("qemu/x86-q35-vtd-ir", "0000:00:04.0"),
        ("qemu/ppc64-pseries-power9", "0000:00:01.0"),
        ("qemu/x86-q35-no-iommu", "0000:00:03.0"),
    ] {
        let path = repo().join("fixtures").join(fixture);
        let root = Root::open(&path).unwrap();
        let report = audit(&path, &AuditOptions::default()).unwrap();
        let d = report.device(address).unwrap();
        for mode in [LayoutMode::MsixPolicy, LayoutMode::Qemu, LayoutMode::CloudHypervisor] {
            let input = vmm_input(&root, &report, d).unwrap().mode(mode);
            let file = dir.join("input.json");
            std::fs::write(&file, serde_json::to_vec(&input).unwrap()).unwrap();
            let o = run(&demo, &["plan", file.to_str().unwrap()]);
            assert!(o.status.success(), "{fixture} {address}: {}", String::from_utf8_lossy(&o.stderr));
            let from_c: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let from_rust = serde_json::to_value(plan_layout(&input).unwrap()).unwrap();
            assert_eq!(from_c, from_rust, "{fixture} {address} {}", mode.as_str());
            compared += 1;
        }
        let o = run(&demo, &["audit", path.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let from_c: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let from_rust = serde_json::to_value(render::json_report(&report)).unwrap();
        assert_eq!(from_c, from_rust, "{fixture} audit");
    }
    assert_eq!(compared, 12);
    // Bad input reaches C as a status and a one-line message, never a crash.
    let file = dir.join("bad.json");
    std::fs::write(&file, br#"{"schema":"msix-policy/plan-input/v1","config":"00","regions":[],"page_size":12288,"isolation":{"kind":"kernel-accepted","backend":"type1","allow_unsafe_interrupts":false}}"#).unwrap();
    let o = run(&demo, &["plan", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("status 2: page_size 12288"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(&demo, &["audit", "/nonexistent-root"]);
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The README's "Use from C" block compiles as it stands (with -Wall -Werror) against the header.
#[test]
fn the_readme_c_example_compiles() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme.split("## Use from C").nth(1).expect("README has a Use from C section");
    let code = section.split("```c\n").nth(1).and_then(|b| b.split("```").next()).expect("a ```c block");
    let dir = std::env::temp_dir().join(format!("msix-capi-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("readme.c");
    std::fs::write(&src, code).unwrap();
    let cc = std::env::var("MSIX_POLICY_TEST_CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-std=c99", "-Wall", "-Werror", "-c", "-I"])
        .arg(repo().join("capi/include"))
        .arg(&src)
        .arg("-o")
        .arg(dir.join("readme.o"))
        .status()
        .unwrap_or_else(|e| panic!("{cc}: {e}"));
    assert!(status.success(), "the README's C example does not compile");
    let _ = std::fs::remove_dir_all(&dir);
}
