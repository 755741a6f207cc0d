//! What the Debian package ships from dist/: man pages and completions generated from the CLI's
//! own arguments (stale = failure), a pkg-config file of this version, and an export service
//! whose commands run and write what node_exporter and NFD read.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{run_cli, stderr};

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in ["man", "completions"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap().flatten() {
            out.insert(format!("{sub}/{}", e.file_name().to_string_lossy()), std::fs::read(e.path()).unwrap());
        }
    }
    out
}

#[test]
fn man_pages_and_completions_are_generated_from_the_cli() {
    let t = common::TempDir::new();
    let o = run_cli(&["generate", t.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let generated = files(t.path());
    let dist = common::repo().join("dist");
    // One page for the command and one per visible subcommand, three shells.
    assert_eq!(generated.keys().filter(|k| k.starts_with("man/")).count(), 8, "{:?}", generated.keys());
    for shell in ["completions/msix-policy.bash", "completions/_msix-policy", "completions/msix-policy.fish"] {
        assert!(generated.contains_key(shell), "{shell}");
    }
    let audit_page = String::from_utf8_lossy(&generated["man/msix-policy-audit.1"]);
    assert!(audit_page.contains("prometheus") && audit_page.contains("\\-\\-output"), "{audit_page}");
    assert!(
        files(&dist) == generated,
        "dist/man or dist/completions is stale: run `cargo xtask dist`, review the diff"
    );
}

#[test]
fn the_pkg_config_file_is_this_version() {
    let pc = std::fs::read_to_string(common::repo().join("dist/msix-policy.pc")).unwrap();
    assert!(pc.lines().any(|l| l == format!("Version: {}", env!("CARGO_PKG_VERSION"))), "{pc}");
    assert!(pc.contains("-lmsix_policy_c"));
}

/// The service's ExecStart lines, with ${VAR} from its Environment= lines (or `vars`).
fn exec_starts(vars: &BTreeMap<&str, String>) -> Vec<Vec<String>> {
    let unit = std::fs::read_to_string(common::repo().join("dist/systemd/msix-policy-export.service")).unwrap();
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for l in unit.lines() {
        if let Some((k, v)) = l.strip_prefix("Environment=").and_then(|kv| kv.split_once('=')) {
            env.insert(k.into(), v.into());
        }
    }
    for (k, v) in vars {
        env.insert((*k).into(), v.clone());
    }
    unit.lines()
        .filter_map(|l| l.strip_prefix("ExecStart="))
        .map(|cmd| {
            cmd.split_whitespace()
                .map(|w| {
                    let mut w = w.to_string();
                    for (k, v) in &env {
                        w = w.replace(&format!("${{{k}}}"), v);
                    }
                    w
                })
                .collect()
        })
        .collect()
}

#[test]
fn the_export_service_writes_both_files_atomically() {
    let t = common::TempDir::new();
    let prom = t.path().join("textfile/msix-policy.prom");
    let nfd = t.path().join("features.d/msix-policy");
    let vars = BTreeMap::from([
        ("MSIX_POLICY_PROMETHEUS_FILE", prom.display().to_string()),
        ("MSIX_POLICY_NFD_FILE", nfd.display().to_string()),
    ]);
    let cmds = exec_starts(&vars);
    assert_eq!(cmds.len(), 2);
    let fixture = common::fixture("qemu/x86-q35-vtd-ir");
    for cmd in &cmds {
        assert_eq!(cmd[0], "/usr/bin/msix-policy", "the package installs the binary there");
        let mut args: Vec<&str> = cmd[1..].iter().map(String::as_str).collect();
        // CI runs the installed unit's commands on the host as they are; here, on a fixture.
        args.extend(["--root", fixture.to_str().unwrap()]);
        let o = run_cli(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{args:?} printed instead of writing");
    }
    let prom = std::fs::read_to_string(&prom).unwrap();
    assert!(prom.contains("msix_policy_last_success_timestamp_seconds "), "{prom}");
    let nfd = std::fs::read_to_string(&nfd).unwrap();
    assert!(nfd.starts_with("# +expiry-time=") && nfd.contains("msix-policy.io/platform=x86-vtd"), "{nfd}");
    // Only the two files: no temporary left beside them.
    for dir in ["textfile", "features.d"] {
        assert_eq!(std::fs::read_dir(t.path().join(dir)).unwrap().count(), 1, "{dir}");
    }
}
