//! Audit cost: gather + decide + plan over synthetic hosts of N functions, per device, against
//! `lspci -A linux-sysfs -vv` reading the same tree.
//!
//!     cargo run --release -p msix-policy-bench --bin audit-bench [N...]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use msix_policy::{audit, AuditOptions};
use msix_policy_bench::synth;

const RUNS: usize = 9;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![64, 1024, 4096] } else { sizes };
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-trees");
    let lspci = Command::new("lspci").arg("--version").output().is_ok();
    println!("| functions | audit (median of {RUNS}) | per function | lspci -vv (median of {RUNS}) | lspci / audit |");
    println!("|---:|---:|---:|---:|---:|");
    let mut per_fn = Vec::new();
    for n in sizes {
        let dir = base.join(format!("host-{n}"));
        if !dir.join("fixture.toml").exists() {
            let _ = std::fs::remove_dir_all(&dir);
            synth::write_host(&dir, n).expect("write the synthetic tree");
        }
        let opts = AuditOptions::default();
        let r = audit(&dir, &opts).expect("audit the synthetic tree");
        assert_eq!(r.devices.len(), n);
        assert!(r.devices.iter().all(|d| d.decision.plan.is_some()));
        let times: Vec<Duration> = (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                let r = audit(&dir, &opts).expect("audit");
                std::hint::black_box(&r);
                t.elapsed()
            })
            .collect();
        let a = median(times);
        let (l, ratio) = if lspci {
            let path = format!("sysfs.path={}", dir.join("sys/bus/pci").display());
            let times: Vec<Duration> = (0..RUNS)
                .map(|_| {
                    let t = Instant::now();
                    let st = Command::new("lspci")
                        .args(["-A", "linux-sysfs", "-O", &path, "-vv"])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .expect("lspci runs");
                    assert!(st.success());
                    t.elapsed()
                })
                .collect();
            let l = median(times);
            (format!("{:.2} ms", l.as_secs_f64() * 1e3), format!("{:.1}x", l.as_secs_f64() / a.as_secs_f64()))
        } else {
            ("(no lspci)".into(), "-".into())
        };
        let each = a.as_secs_f64() * 1e6 / n as f64;
        per_fn.push(each);
        println!("| {n} | {:.2} ms | {each:.1} µs | {l} | {ratio} |", a.as_secs_f64() * 1e3);
    }
    if let (Some(first), Some(last)) = (per_fn.first(), per_fn.last()) {
        println!("\nper-function time, largest N over smallest: {:.2} (1.0 is perfectly linear)", last / first);
    }
    println!("peak RSS: {} KiB", peak_rss_kib());
}
