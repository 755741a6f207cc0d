//! Host facts every platform shares: identity (fixture.toml or the live kernel), the kernel's
//! own words (command line, interrupts, log) and the VFIO settings.

use std::io::{ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;

use msix_policy_engine::{
    Evidence, Fact, HostFacts, KernelVersion, Mappability, MappableSource, Platform, VfioBackend, VfioBackends,
};

use crate::cmdline::{parse_bool, Cmdline};
use crate::fixture::{FixtureError, FixtureToml, DMESG_TXT, FIXTURE_TOML};
use crate::interrupts::Interrupts;
use crate::root::Root;

/// vfio_iommu_type1's `allow_unsafe_interrupts` module parameter (`Y`/`N`), relative to the root.
pub const ALLOW_UNSAFE: &str = "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts";

/// Why a root's identity could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A root other than `/` without a `fixture.toml`: not a recorded host.
    #[error(
        "{path}: not a recorded host: fixture.toml is missing (record one with `msix-policy record DIR`, or audit `/`)"
    )]
    NotAFixture {
        /// The root's directory.
        path: String,
    },
    /// `fixture.toml` is there but cannot be read or parsed, or its page size is not one.
    #[error("{path}: {msg}")]
    BadFixture {
        /// The root's directory, or the `fixture.toml` at fault.
        path: String,
        /// What is wrong.
        msg: String,
    },
}

impl From<FixtureError> for HostError {
    fn from(FixtureError { path, msg }: FixtureError) -> Self {
        HostError::BadFixture { path, msg }
    }
}

/// Who the host is: arch, page size, kernel release.
#[derive(Debug, Clone, PartialEq)]
pub struct HostIdentity {
    /// The machine name as `uname -m` gives it (`x86_64`, `aarch64`, `ppc64le`).
    pub arch: String,
    /// The kernel's page size in bytes (4096, 16384, 65536).
    pub page_size: u64,
    /// The kernel release as `uname -r` gives it (`6.1.0-18-amd64`).
    pub kernel: String,
    /// The recording's `fixture.toml`; `None` for the live host.
    pub fixture: Option<FixtureToml>,
    /// Where the identity was read: `fixture.toml`, or `uname(2)` and `getpagesize(2)`.
    pub evidence: Vec<Evidence>,
}

/// Reads `fixture.toml` of a recorded root, or asks the running kernel for `/`.
pub fn identify(root: &Root) -> Result<HostIdentity, HostError> {
    let shown = root.path().display().to_string();
    match root.read_text(FIXTURE_TOML) {
        Ok(text) => {
            let f = FixtureToml::parse(&text, &format!("{shown}/{FIXTURE_TOML}"))?;
            let ev = Evidence::new(
                FIXTURE_TOML,
                format!("arch {}, page_size {}, kernel {}", f.host.arch, f.host.page_size, f.host.kernel),
            );
            Ok(HostIdentity {
                arch: f.host.arch.clone(),
                page_size: f.host.page_size,
                kernel: f.host.kernel.clone(),
                fixture: Some(f),
                evidence: vec![ev],
            })
        }
        Err(e) if root.is_live() && e.is_missing() => Ok(live_identity()),
        Err(e) if e.is_missing() => Err(HostError::NotAFixture { path: shown }),
        Err(e) => Err(HostError::BadFixture { path: shown, msg: e.to_string() }),
    }
}

/// The running kernel's identity; the page size comes from the kernel, never the build target.
pub fn live_identity() -> HostIdentity {
    let u = rustix::system::uname();
    let arch = u.machine().to_string_lossy().into_owned();
    let kernel = u.release().to_string_lossy().into_owned();
    let page_size = rustix::param::page_size() as u64;
    let ev = Evidence::new("uname(2), getpagesize(2)", format!("arch {arch}, page_size {page_size}, kernel {kernel}"));
    HostIdentity { arch, page_size, kernel, fixture: None, evidence: vec![ev] }
}

/// The kernel's own words, read once and shared by every platform backend.
#[derive(Debug, Clone)]
pub struct KernelSources {
    /// The kernel command line (`proc/cmdline`); unknown when unreadable, truncated or corrupt.
    pub cmdline: Fact<Cmdline>,
    /// The interrupt lines of `proc/interrupts`; unknown when it cannot be read.
    pub interrupts: Fact<Interrupts>,
    /// The kernel log recorded with a fixture (`dmesg.txt`), or on the live host read from
    /// /dev/kmsg; unknown when neither can be read.
    pub dmesg: Fact<String>,
}

impl KernelSources {
    /// Reads the kernel sources of a root; on the live host, the kernel log from /dev/kmsg when
    /// the root has no `dmesg.txt`.
    pub fn read(root: &Root) -> Self {
        Self::read_with(root, true)
    }

    /// Like [`KernelSources::read`]; `kernel_log: false` never opens /dev/kmsg (a sandboxed VMM
    /// under seccomp or landlock), leaving the log unknown unless the root holds `dmesg.txt`.
    pub fn read_with(root: &Root, kernel_log: bool) -> Self {
        let cmdline = match root.read("proc/cmdline") {
            Ok(b) => match Cmdline::validate(&b) {
                Ok(t) => Fact::known(
                    Cmdline::parse(t),
                    Evidence::new("proc/cmdline", t.trim().chars().take(400).collect::<String>()),
                ),
                Err(why) => Fact::unknown(Evidence::new("proc/cmdline", why)),
            },
            Err(e) => Fact::unknown(Evidence::new("proc/cmdline", e.reason())),
        };
        let interrupts = match root.read_text("proc/interrupts") {
            Ok(t) => {
                let i = Interrupts::parse(&t);
                let n = i.msi_lines().count();
                Fact::known(i, Evidence::new("proc/interrupts", format!("{n} MSI lines")))
            }
            Err(e) => Fact::unknown(Evidence::new("proc/interrupts", e.reason())),
        };
        let dmesg = match root.read_text(DMESG_TXT) {
            Ok(t) => {
                let n = t.lines().count();
                Fact::known(t, Evidence::new(DMESG_TXT, format!("{n} lines")))
            }
            // The live host's own log, as a recording would have stored it.
            Err(_) if root.is_live() && !kernel_log => {
                Fact::unknown(Evidence::new("/dev/kmsg", "not read: live probes turned off by the caller"))
            }
            Err(_) if root.is_live() => match read_kmsg() {
                Some(t) => {
                    let n = t.lines().count();
                    Fact::known(t, Evidence::new("/dev/kmsg", format!("{n} lines")))
                }
                None => Fact::unknown(Evidence::new("/dev/kmsg", "unreadable (run as root)")),
            },
            Err(e) => Fact::unknown(Evidence::new(DMESG_TXT, e.reason())),
        };
        KernelSources { cmdline, interrupts, dmesg }
    }

    /// The first kernel log line containing `needle`, as evidence.
    pub fn dmesg_line(&self, needle: &str) -> Option<Evidence> {
        let text = self.dmesg.value.as_ref()?;
        text.lines().find(|l| l.contains(needle)).map(|l| Evidence::new(DMESG_TXT, l.trim()))
    }

    /// The command line the kernel booted with: `/proc/cmdline`, else the kernel log's
    /// `Command line:` line (x86 and arm64 kernels log it), with where it came from. `None` when
    /// neither can be read.
    pub fn boot_cmdline(&self) -> Option<(Cmdline, &'static str)> {
        if let Some(c) = self.cmdline.value.as_ref() {
            return Some((c.clone(), "proc/cmdline"));
        }
        let text = self.dmesg.value.as_ref()?;
        let line = text.lines().find_map(|l| l.split_once("Command line:").map(|(_, c)| c))?;
        Some((Cmdline::parse(line), DMESG_TXT))
    }

    /// Interrupt remapping as the command line's `intremap=`/`nointremap` leave it, applied in
    /// order ([`Cmdline::intremap`]), with its evidence. `Ok(None)`: neither was given;
    /// `Err(())`: the command line is unknown.
    #[allow(clippy::result_unit_err)]
    pub fn intremap(&self) -> Result<Option<(crate::cmdline::Intremap, Evidence)>, ()> {
        let (c, src) = self.boot_cmdline().ok_or(())?;
        Ok(c.intremap().map(|ir| {
            let e = Evidence::new(src, ir.describe());
            (ir, e)
        }))
    }

    /// Evidence that `proc/cmdline` gives `key=option` (one of `key`'s comma-separated options);
    /// `None` when it does not, or the command line is unknown.
    pub fn cmdline_has(&self, key: &str, option: &str) -> Option<Evidence> {
        let c = self.cmdline.value.as_ref()?;
        c.has(key, option).then(|| Evidence::new("proc/cmdline", format!("{key}={option}")))
    }
}

/// The kernel log from /dev/kmsg, read without blocking; `None` when it cannot be opened.
pub fn read_kmsg() -> Option<String> {
    let mut f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open("/dev/kmsg").ok()?;
    let mut out = String::new();
    let mut buf = vec![0u8; 16 * 1024];
    for _ in 0..1_000_000 {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let rec = String::from_utf8_lossy(&buf[..n]);
                // "prio,seq,usec,flags;message\n continuation lines"
                let Some((head, msg)) = rec.split_once(';') else { continue };
                let usec: u64 = head.split(',').nth(2).and_then(|u| u.parse().ok()).unwrap_or(0);
                let first = msg.lines().next().unwrap_or("");
                out.push_str(&format!("[{:>5}.{:06}] {first}\n", usec / 1_000_000, usec % 1_000_000));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue, // overwritten records
            Err(_) => break,
        }
    }
    Some(out)
}

/// Whether the kernel of `arch` can have `vfio_iommu_type1` at all: drivers/vfio/Kconfig selects
/// the hidden VFIO_IOMMU_TYPE1 only `if MMU && (X86 || S390 || ARM || ARM64)`; POWER uses the
/// sPAPR TCE backend.
pub fn type1_can_exist(arch: &str) -> bool {
    !matches!(crate::platform::ArchFamily::of(arch), crate::platform::ArchFamily::Ppc64)
}

/// allow_unsafe_interrupts from the loaded module, else from the command line, else unknown. A
/// dotted parameter of a module that cannot exist is ignored, whatever the command line says: on
/// a kernel that shows it has no type1 container (`type1` known false) the parameter has no
/// effect, and on an architecture without type1 it is taken as N. Where the module is not shown
/// but iommufd is, the kernel may have no type1 container at all (the VFIO cdev is not in every
/// recording): a `=1` on the command line is not trusted there, and the parameter is unknown,
/// taken as N (the safe side).
pub fn allow_unsafe_interrupts(
    root: &Root,
    kernel: &KernelSources,
    arch: &str,
    type1: &Fact<bool>,
    iommufd: &Fact<bool>,
) -> Fact<bool> {
    let key = "vfio_iommu_type1.allow_unsafe_interrupts";
    let given =
        kernel.cmdline.value.as_ref().and_then(|c| c.module_param("vfio_iommu_type1", "allow_unsafe_interrupts"));
    if type1.value == Some(false) {
        let on_cmdline = given.map(|v| format!("; proc/cmdline {key}={v} is ignored")).unwrap_or_default();
        return Fact::known(
            false,
            Evidence::new(ALLOW_UNSAFE, format!("vfio_iommu_type1 cannot exist on this kernel (no type1 container): its parameter has no effect{on_cmdline}")),
        );
    }
    match root.read_value(ALLOW_UNSAFE) {
        Ok(v) => match parse_bool(&v) {
            Some(b) => Fact::known(b, Evidence::new(ALLOW_UNSAFE, v)),
            None => Fact::unknown(Evidence::new(ALLOW_UNSAFE, format!("unrecognized value {v:?}"))),
        },
        Err(e) => {
            if let Some(v) = given {
                if !type1_can_exist(arch) {
                    return Fact::unknown(Evidence::new(
                        "proc/cmdline",
                        format!(
                            "{key}={v} ignored: a {arch} kernel has no vfio_iommu_type1 (drivers/vfio/Kconfig selects it \
                             only on x86, s390, arm and arm64); taken as N"
                        ),
                    ));
                }
                match parse_bool(v) {
                    Some(true) if iommufd.value == Some(true) => {
                        return Fact::unknown(Evidence::new(
                            "proc/cmdline",
                            format!(
                                "{key}={v}, but vfio_iommu_type1 is not shown while iommufd is: the kernel may have no \
                                 type1 container, so the parameter may apply to no module; taken as N"
                            ),
                        ))
                    }
                    Some(b) => return Fact::known(b, Evidence::new("proc/cmdline", format!("{key}={v}"))),
                    None => {}
                }
            }
            Fact::unknown(Evidence::new(
                ALLOW_UNSAFE,
                format!("{} (module not loaded or not recorded); taken as N", e.reason()),
            ))
        }
    }
}

/// Whether the MSI-X BAR may be mmapped: probed (fixture or live VFIO) beats inferred from the release.
pub fn msix_mappable(identity: &HostIdentity, probed: Option<(bool, Evidence)>) -> Mappability {
    if let Some((v, ev)) = probed {
        return Mappability { mappable: Fact::known(v, ev), source: Some(MappableSource::Probed) };
    }
    if let Some(vfio) = identity.fixture.as_ref().and_then(|f| f.vfio.as_ref()) {
        if let Some(v) = vfio.msix_mappable {
            let on = vfio.probed_on.clone().unwrap_or_default();
            let ev = Evidence::new("fixture.toml [vfio]", format!("msix_mappable = {v} (probed on {on})"));
            return Mappability { mappable: Fact::known(v, ev), source: Some(MappableSource::Probed) };
        }
    }
    let src = if identity.fixture.is_some() { "fixture.toml [host] kernel" } else { "uname -r" };
    match KernelVersion::parse(&identity.kernel) {
        Some(v) => Mappability {
            mappable: Fact::known(
                v.msix_bar_mmap(),
                Evidence::new(src, format!("kernel {} (MSI-X BAR mmap since 4.16)", identity.kernel)),
            ),
            source: Some(MappableSource::Inferred),
        },
        None => Mappability {
            mappable: Fact::unknown(Evidence::new(src, format!("kernel release {:?} has no version", identity.kernel))),
            source: None,
        },
    }
}

/// The VFIO IOMMU backend a VMM on this arch uses when the host offers no other.
pub fn vfio_backend(arch: &str) -> VfioBackend {
    if arch.starts_with("ppc64") {
        VfioBackend::SpaprTce
    } else {
        VfioBackend::Type1
    }
}

/// The backend a VMM on this host uses, from what the host shows, and why when there was a
/// choice: iommufd where the host has no type1 container (an iommufd-only kernel); type1, as
/// before, where both exist (the evidence says so); the architecture's container backend
/// otherwise.
pub fn choose_backend(arch: &str, backends: &VfioBackends, iommufd: &Fact<bool>) -> (VfioBackend, Option<Evidence>) {
    let default = vfio_backend(arch);
    if default != VfioBackend::Type1 || iommufd.value != Some(true) {
        return (default, None);
    }
    if backends.type1.value == Some(false) {
        let ev = Evidence::new(
            "vfio backends",
            format!(
                "iommufd assumed: no type1 container ({}), the VMM binds the VFIO cdev to iommufd ({}); iommufd's own allow_unsafe_interrupts decides",
                backends.type1.evidence.observed, iommufd.evidence.source
            ),
        );
        return (VfioBackend::Iommufd, Some(ev));
    }
    let ev = Evidence::new(
        "vfio backends",
        format!(
            "type1 assumed; iommufd (VFIO cdev) is offered too ({}) and checks the same MSI isolation per device at bind (msi_device_has_isolated_msi), with its own allow_unsafe_interrupts",
            iommufd.evidence.source
        ),
    );
    (VfioBackend::Type1, Some(ev))
}

/// Everything host-wide, once the platform backend has named the platform.
pub fn host_facts(root: &Root, identity: &HostIdentity, kernel: &KernelSources, platform: Platform) -> HostFacts {
    let iommufd = iommufd_offered(root, identity);
    let cdev = vfio_cdev(root);
    let type1 = type1_container(root, &iommufd, &cdev);
    let mut backends = VfioBackends { type1, cdev, assumed: None };
    let (backend, assumed) = choose_backend(&identity.arch, &backends, &iommufd);
    backends.assumed = assumed;
    HostFacts {
        arch: identity.arch.clone(),
        page_size: identity.page_size,
        kernel: identity.kernel.clone(),
        platform,
        vfio_backend: backend,
        allow_unsafe_interrupts: allow_unsafe_interrupts(root, kernel, &identity.arch, &backends.type1, &iommufd),
        msix_mappable: msix_mappable(identity, None),
        iommufd,
        iommufd_allow_unsafe_interrupts: iommufd_allow_unsafe(root),
        vfio_backends: backends,
    }
}

/// The vfio_iommu_type1 module's sysfs directory: present when it is loaded or built in.
pub const TYPE1_MODULE: &str = "sys/module/vfio_iommu_type1";
/// The class of VFIO device cdevs (`vfio0`, ...): present when the kernel has the VFIO cdev.
pub const VFIO_DEV_CLASS: &str = "sys/class/vfio-dev";
/// The VFIO device cdev nodes (`/dev/vfio/devices/vfio0`, ...).
pub const VFIO_CDEV_DIR: &str = "dev/vfio/devices";
/// iommufd's device node.
pub const DEV_IOMMU: &str = "dev/iommu";

/// Whether the host shows the VFIO device cdev: `sys/class/vfio-dev/`, `dev/vfio/devices`, or a
/// PCI function's `vfio-dev/` directory. Unknown when none is there (not built, or not recorded).
pub fn vfio_cdev(root: &Root) -> Fact<bool> {
    if root.is_dir(VFIO_DEV_CLASS) {
        return Fact::known(true, Evidence::new(VFIO_DEV_CLASS, "present"));
    }
    if root.exists(VFIO_CDEV_DIR) {
        return Fact::known(true, Evidence::new(VFIO_CDEV_DIR, "present"));
    }
    let devices = crate::pci::DEVICES_DIR;
    let with_cdev = root
        .list(devices)
        .unwrap_or_default()
        .into_iter()
        .map(|n| format!("{devices}/{n}/vfio-dev"))
        .find(|p| root.is_dir(p));
    match with_cdev {
        Some(p) => Fact::known(true, Evidence::new(p, "present")),
        None => Fact::unknown(Evidence::new(
            VFIO_DEV_CLASS,
            format!("absent, as are {VFIO_CDEV_DIR} and every function's vfio-dev/: no VFIO cdev, or not recorded"),
        )),
    }
}

/// Whether the type1 container backend exists: present when `sys/module/vfio_iommu_type1` is
/// (built in or loaded: the module has parameters, so it shows); known absent only where the
/// host shows an iommufd-only kernel (iommufd and the VFIO cdev present, the module absent);
/// unknown otherwise (a module not loaded yet, or not recorded: taken as the container backend).
pub fn type1_container(root: &Root, iommufd: &Fact<bool>, cdev: &Fact<bool>) -> Fact<bool> {
    if root.is_dir(TYPE1_MODULE) {
        return Fact::known(true, Evidence::new(TYPE1_MODULE, "present"));
    }
    if iommufd.value == Some(true) && cdev.value == Some(true) {
        return Fact::known(
            false,
            Evidence::new(
                TYPE1_MODULE,
                format!(
                    "absent while iommufd ({}) and the VFIO cdev ({}) are present: an iommufd-only kernel",
                    iommufd.evidence.source, cdev.evidence.source
                ),
            ),
        );
    }
    Fact::unknown(Evidence::new(TYPE1_MODULE, "absent: not loaded, or not recorded; taken as the container backend"))
}

/// The iommufd module's sysfs directory: present when it is loaded or built in.
pub const IOMMUFD_MODULE: &str = "sys/module/iommufd";
/// iommufd's `allow_unsafe_interrupts` module parameter (`Y`/`N`), relative to the root.
pub const IOMMUFD_ALLOW_UNSAFE: &str = "sys/module/iommufd/parameters/allow_unsafe_interrupts";

/// Whether the host offers iommufd (VFIO cdev): not before 6.6, which added the VFIO device
/// cdev (a 6.2-6.5 kernel has an iommufd module, but no VFIO device can bind to it); from 6.6
/// when the module is loaded or built in.
pub fn iommufd_offered(root: &Root, identity: &HostIdentity) -> Fact<bool> {
    if KernelVersion::parse(&identity.kernel).is_some_and(|v| !v.offers_vfio_cdev()) {
        let src = if identity.fixture.is_some() { "fixture.toml [host] kernel" } else { "uname -r" };
        return Fact::known(
            false,
            Evidence::new(
                src,
                format!(
                    "kernel {} is before {}: no VFIO device cdev, no iommufd backend (kernel.iommufd.absent)",
                    identity.kernel,
                    KernelVersion::VFIO_CDEV
                ),
            ),
        );
    }
    if root.is_dir(IOMMUFD_MODULE) {
        Fact::known(true, Evidence::new(IOMMUFD_MODULE, "present"))
    } else if root.exists(DEV_IOMMU) {
        Fact::known(true, Evidence::new(DEV_IOMMU, "present"))
    } else {
        Fact::unknown(Evidence::new(IOMMUFD_MODULE, "absent: not loaded, or not recorded"))
    }
}

/// iommufd's own `allow_unsafe_interrupts` (drivers/iommu/iommufd/device.c).
pub fn iommufd_allow_unsafe(root: &Root) -> Fact<bool> {
    match root.read_value(IOMMUFD_ALLOW_UNSAFE) {
        Ok(v) => match parse_bool(&v) {
            Some(b) => Fact::known(b, Evidence::new(IOMMUFD_ALLOW_UNSAFE, v)),
            None => Fact::unknown(Evidence::new(IOMMUFD_ALLOW_UNSAFE, format!("unrecognized value {v:?}"))),
        },
        Err(e) => Fact::unknown(Evidence::new(IOMMUFD_ALLOW_UNSAFE, format!("{}; taken as N", e.reason()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_toml_contract() {
        let t = "[host]\narch = \"ppc64le\"\npage_size = 65536\nkernel = \"6.1.0-56-powerpc64le\"\nfuture = 1\n[source]\nkind = \"qemu\"\n[later]\nx = 1\n";
        let f = FixtureToml::parse(t, "f").unwrap();
        assert_eq!(f.host.page_size, 65536);
        assert!(FixtureToml::parse("[host]\narch = \"x\"\npage_size = 4000\nkernel = \"k\"\n", "f").is_err());
        assert!(FixtureToml::parse("[host\n", "f").is_err());
        assert!(FixtureToml::parse("[source]\nkind = \"qemu\"\n", "f").is_err());
        assert_eq!(KernelVersion::parse("4.15.0-generic"), Some(KernelVersion { major: 4, minor: 15 }));
        assert_eq!(KernelVersion::parse("x"), None);
    }

    /// `vfio_iommu_type1.allow_unsafe_interrupts=1` on the command line counts where the module
    /// can exist and is ignored on ppc64, whose kernels have no type1 (sPAPR TCE only).
    #[test]
    fn a_dotted_parameter_of_a_module_that_cannot_exist_is_ignored() {
        let t = crate::testing::TempRoot::new("host-cmdline");
        t.write("proc/cmdline", "quiet vfio_iommu_type1.allow_unsafe_interrupts=1\n");
        let root = Root::open(t.path()).unwrap();
        let kernel = KernelSources::read_with(&root, false);
        let unknown = Fact::unknown(Evidence::new("test", "not shown"));
        let x86 = allow_unsafe_interrupts(&root, &kernel, "x86_64", &unknown, &unknown);
        assert_eq!(x86.value, Some(true));
        let arm = allow_unsafe_interrupts(&root, &kernel, "aarch64", &unknown, &unknown);
        assert_eq!(arm.value, Some(true));
        let ppc = allow_unsafe_interrupts(&root, &kernel, "ppc64le", &unknown, &unknown);
        assert_eq!(ppc.value, None, "{ppc:?}");
        assert!(ppc.evidence.observed.contains("ignored"), "{ppc:?}");
        // The loaded module's own value still decides first, anywhere.
        t.write("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N\n");
        let root = Root::open(t.path()).unwrap();
        assert_eq!(allow_unsafe_interrupts(&root, &kernel, "x86_64", &unknown, &unknown).value, Some(false));
    }
}

#[cfg(test)]
mod backend_tests {
    use super::*;
    use crate::fixture::FixtureHost;

    fn root_with(dirs: &[&str], tag: &str) -> (std::path::PathBuf, Root) {
        let dir = std::env::temp_dir().join(format!("msix-backends-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for d in dirs {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        let root = Root::open(&dir).unwrap();
        (dir, root)
    }

    fn identity(kernel: &str) -> HostIdentity {
        let host = FixtureHost { arch: "x86_64".into(), page_size: 4096, kernel: kernel.into() };
        let fixture = FixtureToml { host, source: None, vfio: None };
        HostIdentity {
            arch: "x86_64".into(),
            page_size: 4096,
            kernel: kernel.into(),
            fixture: Some(fixture),
            evidence: vec![],
        }
    }

    fn backend(dirs: &[&str], kernel: &str, tag: &str) -> (VfioBackend, VfioBackends) {
        let (d, r) = root_with(dirs, tag);
        let iommufd = iommufd_offered(&r, &identity(kernel));
        let cdev = vfio_cdev(&r);
        let type1 = type1_container(&r, &iommufd, &cdev);
        let mut b = VfioBackends { type1, cdev, assumed: None };
        let (chosen, assumed) = choose_backend("x86_64", &b, &iommufd);
        b.assumed = assumed;
        let _ = std::fs::remove_dir_all(d);
        (chosen, b)
    }

    #[test]
    fn a_type1_parameter_on_the_command_line_is_trusted_only_where_type1_can_exist() {
        let unsafe_on = |dirs: &[&str], tag: &str| {
            let (d, r) = root_with(dirs, tag);
            std::fs::create_dir_all(d.join("proc")).unwrap();
            std::fs::write(d.join("proc/cmdline"), "ro vfio_iommu_type1.allow_unsafe_interrupts=1\n").unwrap();
            let kernel = KernelSources::read(&r);
            let iommufd = iommufd_offered(&r, &identity("6.12.0"));
            let cdev = vfio_cdev(&r);
            let type1 = type1_container(&r, &iommufd, &cdev);
            let f = allow_unsafe_interrupts(&r, &kernel, "x86_64", &type1, &iommufd);
            let _ = std::fs::remove_dir_all(d);
            f
        };
        // No iommufd in view: the command line says what the module will take (as before).
        assert_eq!(unsafe_on(&[], "cmd-plain").value, Some(true));
        // iommufd shown, type1 not: it may not exist; not trusted, taken as N.
        let f = unsafe_on(&[IOMMUFD_MODULE], "cmd-iommufd");
        assert_eq!(f.value, None);
        assert!(f.evidence.observed.contains("taken as N"), "{:?}", f.evidence);
        // iommufd and the cdev shown, type1 not: it cannot exist; the parameter is ignored.
        let f = unsafe_on(&[IOMMUFD_MODULE, VFIO_DEV_CLASS], "cmd-only");
        assert_eq!(f.value, Some(false));
        assert!(f.evidence.observed.contains("is ignored"), "{:?}", f.evidence);
    }

    #[test]
    fn the_backend_is_what_the_host_shows() {
        // iommufd-only: /dev/iommu and a function's vfio-dev/, no type1 module.
        let (b, f) = backend(&["dev/iommu", "sys/bus/pci/devices/0000:00:02.0/vfio-dev/vfio0"], "6.12.0", "only");
        assert_eq!((b, f.type1.value, f.cdev.value), (VfioBackend::Iommufd, Some(false), Some(true)));
        assert!(f.assumed.unwrap().observed.starts_with("iommufd assumed"));
        // Both: type1 as before, and the evidence says so.
        let (b, f) = backend(&[TYPE1_MODULE, IOMMUFD_MODULE, VFIO_CDEV_DIR], "6.12.0", "both");
        assert_eq!((b, f.type1.value), (VfioBackend::Type1, Some(true)));
        assert!(f.assumed.unwrap().observed.starts_with("type1 assumed"));
        // iommufd without any VFIO cdev: type1 is not shown absent, so nothing changes.
        let (b, f) = backend(&[IOMMUFD_MODULE], "6.12.0", "no-cdev");
        assert_eq!((b, f.type1.value), (VfioBackend::Type1, None));
        // Before 6.6 no VFIO device binds to iommufd, whatever the host shows.
        let (b, _) = backend(&[IOMMUFD_MODULE, VFIO_DEV_CLASS], "6.5.0", "old");
        assert_eq!(b, VfioBackend::Type1);
        // Nothing shown: type1, no choice to report.
        let (b, f) = backend(&[], "6.1.0", "none");
        assert_eq!((b, f.assumed), (VfioBackend::Type1, None));
    }
}
