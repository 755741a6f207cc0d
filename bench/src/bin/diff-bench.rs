//! Diff cost: `diff_reports` over two audits of N functions (a recorded host's devices replicated
//! under synthetic addresses), identical and with one function in eight made less safe; and the
//! same from the audit JSON text (parse both sides, then diff), as `msix-policy diff a.json b.json`
//! does.
//!
//!     cargo run --release -p msix-policy-bench --bin diff-bench [N...]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use msix_policy::diff::{self, AuditView, Isolation};
use msix_policy::policy::{Exposure, Risk};
use msix_policy::AuditOptions;

const RUNS: usize = 15;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `n` functions: the fixtures' devices in turn, at 0001:BB:DD.F addresses.
fn replicate(sources: &[AuditView], n: usize) -> Result<AuditView, String> {
    let devices: Vec<_> = sources.iter().flat_map(|v| v.devices.iter()).collect();
    let (Some(first), false) = (sources.first(), devices.is_empty()) else {
        return Err("the fixtures have no devices".into());
    };
    let mut out = first.clone();
    out.devices = (0..n)
        .map(|i| {
            let mut d = devices[i % devices.len()].clone();
            d.address = format!("0001:{:02x}:{:02x}.{}", i / 256, (i / 8) % 32, i % 8);
            d
        })
        .collect();
    Ok(out)
}

/// The JSON `audit --format json` would print for `n` functions (the recorded VT-d host's devices
/// replicated), every eighth made less safe when `worse`.
fn audit_json(fixtures: &std::path::Path, n: usize, worse: bool) -> Result<String, String> {
    let report = msix_policy::audit(fixtures.join("qemu/x86-q35-vtd-ir"), &AuditOptions::default())
        .map_err(|e| e.to_string())?;
    let mut v = serde_json::to_value(msix_policy::render::json_report(&report)).map_err(|e| e.to_string())?;
    let devices = v["devices"].as_array().cloned().unwrap_or_default();
    if devices.is_empty() {
        return Err("the fixture has no devices".into());
    }
    let out: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let mut d = devices[i % devices.len()].clone();
            d["address"] = format!("0001:{:02x}:{:02x}.{}", i / 256, (i / 8) % 32, i % 8).into();
            if worse && i % 8 == 0 {
                d["isolation"] = "not-isolated".into();
                d["risk"] = "unsafe".into();
            }
            d
        })
        .collect();
    v["devices"] = out.into();
    serde_json::to_string_pretty(&v).map_err(|e| e.to_string())
}

fn time<T>(f: impl Fn() -> T) -> Duration {
    let mut runs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        std::hint::black_box(f());
        runs.push(t.elapsed());
    }
    median(runs)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() -> Result<(), String> {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![64, 1024, 4096] } else { sizes };
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let sources: Vec<AuditView> = ["qemu/x86-q35-vtd-ir", "synthetic/arm64-its-64k", "qemu/ppc64-pseries-power9"]
        .iter()
        .map(|f| diff::load_side(&fixtures.join(f), &AuditOptions::default()).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    println!(
        "| functions | diff, identical (median of {RUNS}) | diff, 1 in 8 less safe | parse two audit JSON files + diff | JSON size |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for n in sizes {
        let old = replicate(&sources, n)?;
        let mut worse = old.clone();
        for d in worse.devices.iter_mut().step_by(8) {
            d.isolation = Isolation::NotIsolated;
            d.risk = Risk::Unsafe;
            if d.exposure == Exposure::Refuse {
                d.exposure = Exposure::Trap;
                d.assignable = true;
            }
        }
        let same = time(|| diff::diff_reports(&old, &old));
        let changed = time(|| diff::diff_reports(&old, &worse));
        let r = diff::diff_reports(&old, &worse);
        if r.counts.less_safe != n.div_ceil(8) || r.exit_code() != 1 {
            return Err(format!("{n}: expected {} less-safe functions, got {:?}", n.div_ceil(8), r.counts));
        }
        let a = audit_json(&fixtures, n, false)?;
        let b = audit_json(&fixtures, n, true)?;
        let full = time(|| {
            let o = diff::from_json(&a, "old").map_err(|e| e.to_string())?;
            let w = diff::from_json(&b, "new").map_err(|e| e.to_string())?;
            Ok::<_, String>(diff::diff_reports(&o, &w))
        });
        println!("| {n} | {} | {} | {} | {} KiB |", ms(same), ms(changed), ms(full), a.len() / 1024);
    }
    Ok(())
}
