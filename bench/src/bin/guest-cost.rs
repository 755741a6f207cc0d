//! Guest cost: for every MSI-X function of every fixture, the bytes msix-policy's plan traps
//! against the physical limit and the policies peer stacks hard-code (see `peers`).
//!
//!     cargo run --release -p msix-policy-bench --bin guest-cost [--guest direct|paravirtual]

use msix_policy::policy::GuestSelection;
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
    println!("Trapped bytes of the device's registers (hot-window bytes among them in brackets); `*` marks a policy that leaves the table or PBA reachable where msix-policy does not.\n");
    println!("| fixture | function | page | exposure | limit | msix-policy | linux<4.16 | qemu | qemu reloc | cloud-hv | crosvm |");
    println!("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for m in peers::measure_all(guest) {
        let cell = |c: &peers::Cost| {
            let mark = if c.reach.within(m.ours.reach) { "" } else { "*" };
            format!("{}{} [{}]", kib(c.trapped), mark, kib(c.hot_trapped))
        };
        let ps: Vec<String> = m.peers.iter().map(cell).collect();
        let d = &m.device;
        println!(
            "| {} | {} {:04x}:{:04x} | {}K | {} | {} [{}] | {} | {} |",
            m.fixture.strip_prefix(&root).unwrap_or(&m.fixture).display(),
            d.address,
            d.facts.vendor.unwrap_or(0),
            d.facts.device.unwrap_or(0),
            m.page_size / 1024,
            d.decision.exposure.as_str(),
            kib(m.limit.trapped),
            kib(m.limit.hot_trapped),
            cell(&m.ours),
            ps.join(" | ")
        );
    }
}
