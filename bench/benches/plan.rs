//! The VMM entry point: one device from plan-input JSON to a layout (parse + validate + decide +
//! lay out), per layout mode. Target: under 100 µs per device.
//!
//!     cargo bench -p msix-policy-bench --bench plan

use criterion::{criterion_group, criterion_main, Criterion};
use msix_policy::backends::Root;
use msix_policy::policy::{plan_layout, LayoutMode, VmmInput};
use msix_policy::{audit_root, vmm_input, AuditOptions};

fn input_json(fixture: &str, address: &str, mode: LayoutMode) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(fixture);
    let root = Root::open(&path).expect("fixture opens");
    let r = audit_root(&root, &AuditOptions::default(), Some(address)).expect("fixture loads");
    let input = vmm_input(&root, &r, &r.devices[0]).expect("config readable").mode(mode);
    serde_json::to_string(&input).expect("serializes")
}

fn bench(c: &mut Criterion) {
    for (name, fixture, address) in [
        ("x86-vtd nvme trap", "qemu/x86-q35-vtd-ir", "0000:00:04.0"),
        ("arm64-64k nvme relocate", "synthetic/arm64-its-64k", "0000:00:03.0"),
        // The qemu/ppc64-pseries-power9 functions are all emulated by QEMU, so refused: the
        // passed-through NVMe of the synthetic pSeries guest is the passthrough case.
        ("pseries nvme passthrough", "synthetic/ppc64-pseries", "0000:00:04.0"),
    ] {
        for mode in [LayoutMode::MsixPolicy, LayoutMode::Qemu, LayoutMode::CloudHypervisor] {
            let json = input_json(fixture, address, mode);
            c.bench_function(&format!("plan/{name} ({})", mode.as_str()), |b| {
                b.iter(|| {
                    let input = VmmInput::from_json(std::hint::black_box(&json)).expect("parses");
                    std::hint::black_box(plan_layout(&input).ok())
                })
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
