//! Guest cost: for every MSI-X function of every fixture, the bytes msix-policy's plan traps
//! against the physical limit and the policies peer stacks hard-code (see `peers`).
//!
//!     cargo run --release -p msix-policy-bench --bin guest-cost [--guest direct|paravirtual]

use msix_policy::policy::GuestSelection;
use msix_policy::{audit, AuditOptions};
use msix_policy_bench::peers;

fn kib(n: u64) -> String {
    if n == 0 {
        "0".into()
    } else if n % 1024 == 0 {
        format!("{}K", n / 1024)
    } else {
        format!("{n}B")
    }
}

fn main() {
    let guest = match std::env::args().skip_while(|a| a != "--guest").nth(1).as_deref() {
        Some("direct") => GuestSelection::DirectTableWrites,
        Some("paravirtual") => GuestSelection::Paravirtual,
        _ => GuestSelection::Auto,
    };
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut fixtures = Vec::new();
    for group in ["hardware", "qemu", "synthetic"] {
        let mut names: Vec<_> =
            std::fs::read_dir(root.join(group)).into_iter().flatten().flatten().map(|e| e.path()).collect();
        names.sort();
        fixtures.extend(names);
    }
    println!("Trapped bytes (hot-window bytes among them in brackets); `*` marks a policy that leaves the table or PBA reachable where msix-policy does not.\n");
    println!("| fixture | function | page | exposure | limit | msix-policy | linux<4.16 | qemu | qemu reloc | cloud-hv | crosvm |");
    println!("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for f in fixtures {
        let Ok(r) = audit(&f, &AuditOptions { guest, ..Default::default() }) else { continue };
        for d in &r.devices {
            let Some(plan) = &d.decision.plan else { continue };
            let g = d.decision.guest;
            let (Some(lim), Some(me)) = (
                peers::limit(&d.facts, &r.host, &d.decision.isolation, g),
                peers::ours(&d.facts, plan, d.decision.exposure, &r.host),
            ) else {
                continue;
            };
            let cell = |c: &peers::Cost| {
                let mark = if c.reach.within(me.reach) { "" } else { "*" };
                format!("{}{} [{}]", kib(c.trapped), mark, kib(c.hot_trapped))
            };
            let ps: Vec<String> = peers::peers(&d.facts, &r.host, g).iter().map(cell).collect();
            println!(
                "| {} | {} {:04x}:{:04x} | {}K | {} | {} [{}] | {} | {} |",
                f.strip_prefix(&root).unwrap_or(&f).display(),
                d.address,
                d.facts.vendor.unwrap_or(0),
                d.facts.device.unwrap_or(0),
                r.host.page_size / 1024,
                d.decision.exposure.as_str(),
                kib(lim.trapped),
                kib(lim.hot_trapped),
                cell(&me),
                ps.join(" | ")
            );
        }
    }
}
