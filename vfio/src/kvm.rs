//! What KVM offers a VMM for MSI injection on the live host. Reported beside the decision (a VMM
//! that traps or relocates the table injects the guest's MSIs itself), never decided on.

use msix_policy_engine::Evidence;

use msix_backends::Root;

// The facts are the audit document's own type: the probe fills what the audit JSON carries.
pub use msix_policy_wire::KvmFacts;

cfg_if::cfg_if! {
    if #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))] {
        use std::os::fd::AsRawFd;
        use kvm_bindings::{KVM_CAP_MSI_DEVID, KVM_CAP_SIGNAL_MSI};

        /// _IO(KVMIO, 0x03): KVM_CHECK_EXTENSION (the direction field is zero on x86 and arm64).
        const KVM_CHECK_EXTENSION: u32 = (0xAE << 8) | 0x03;

        fn check(kvm: &std::fs::File, cap: u32) -> Option<bool> {
            // SAFETY: KVM_CHECK_EXTENSION takes an integer argument and writes no memory; the fd
            // is a live /dev/kvm handle owned by `kvm`.
            let r = unsafe { libc::ioctl(kvm.as_raw_fd(), KVM_CHECK_EXTENSION as _, cap as libc::c_ulong) };
            (r >= 0).then_some(r > 0)
        }

        /// Probes `/dev/kvm` with KVM_CHECK_EXTENSION (kvm-bindings names the capabilities).
        pub fn probe(_root: &Root) -> KvmFacts {
            match std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
                Ok(kvm) => {
                    let signal_msi = check(&kvm, KVM_CAP_SIGNAL_MSI);
                    let msi_devid = check(&kvm, KVM_CAP_MSI_DEVID);
                    let ev = Evidence::new("/dev/kvm", format!("KVM_CAP_SIGNAL_MSI {signal_msi:?}, KVM_CAP_MSI_DEVID {msi_devid:?}"));
                    KvmFacts { available: true, signal_msi, msi_devid, evidence: vec![ev] }
                }
                Err(e) => KvmFacts {
                    available: false,
                    signal_msi: None,
                    msi_devid: None,
                    evidence: vec![Evidence::new("/dev/kvm", e.to_string())],
                },
            }
        }
    } else {
        /// kvm-bindings has no module for this architecture (ppc64 among them): report which
        /// KVM flavour is loaded from sysfs instead of asking /dev/kvm.
        pub fn probe(root: &Root) -> KvmFacts {
            let loaded: Vec<&str> = ["kvm_hv", "kvm_pr", "kvm"].into_iter().filter(|m| root.is_dir(&format!("sys/module/{m}"))).collect();
            let ev = Evidence::new("sys/module", format!("KVM modules loaded: {loaded:?} (no kvm-bindings on this architecture)"));
            KvmFacts { available: !loaded.is_empty(), signal_msi: None, msi_devid: None, evidence: vec![ev] }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn probe_never_fails() {
        let root = msix_backends::Root::open("/").unwrap();
        let k = super::probe(&root);
        assert!(!k.evidence.is_empty());
        if !k.available {
            assert_eq!(k.signal_msi, None);
        }
    }
}
