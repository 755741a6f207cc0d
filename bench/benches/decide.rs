//! decide() alone, per platform, on the facts of a recorded host: ns per device.
//!
//!     cargo bench -p msix-policy-bench --bench decide

use criterion::{criterion_group, criterion_main, Criterion};
use msix_policy::policy::{decide, DecisionInput, GuestSelection, Overrides};
use msix_policy::{audit, AuditOptions};

fn bench(c: &mut Criterion) {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let overrides = Overrides::default();
    for (name, fixture) in [
        ("x86-vtd", "qemu/x86-q35-vtd-ir"),
        ("x86-amdvi", "qemu/x86-q35-amdvi"),
        ("ppc64-pseries", "qemu/ppc64-pseries-power9"),
        ("ppc64-powernv", "qemu/ppc64-powernv9"),
        ("arm64-its", "qemu/arm64-virt-its-smmuv3"),
        ("arm64-its-64k-relocate", "synthetic/arm64-its-64k"),
    ] {
        let r = audit(root.join(fixture), &AuditOptions::default()).expect("fixture loads");
        let n = r.devices.len() as u64;
        c.bench_function(&format!("decide/{name} ({n} devices, per host)"), |b| {
            b.iter(|| {
                for d in &r.devices {
                    let dec = decide(DecisionInput {
                        host: &r.host,
                        device: &d.facts,
                        isolation: &d.decision.isolation,
                        guest: GuestSelection::Auto,
                        overrides: &overrides,
                        layout: Default::default(),
                    });
                    std::hint::black_box(dec.ok());
                }
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
