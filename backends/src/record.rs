//! Recording a host to the fixture contract (FIXTURES.md): an allowlist of files copied as the
//! kernel returned them, links kept as links with their original targets, no identifying data.

use std::fs;
use std::path::{Path, PathBuf};

use crate::fixture::{FixtureHost, FixtureSource, FixtureToml, FixtureVfio, DMESG_TXT, FIXTURE_TOML};
use crate::host::{read_kmsg, HostIdentity};
use crate::pci::{parse_address, DEVICES_DIR};
use crate::root::{EntryKind, Root};

/// Device attributes never copied: BAR contents, actions, and identifying data.
const DEVICE_DENYLIST: &[&str] = &["rom", "remove", "rescan", "reset", "reset_method", "vpd", "label", "serial_number"];
/// Device tree properties never copied: identifying data.
const DT_DENYLIST: &[&str] =
    &["serial-number", "system-id", "mac-address", "local-mac-address", "ibm,vpd", "vpd", "hostname", "model-serial"];
const PROC_FILES: &[&str] =
    &["proc/interrupts", "proc/cpuinfo", "proc/cmdline", "proc/version", "proc/sys/kernel/osrelease"];
const ACPI_TABLES: &[&str] = &["DMAR", "IVRS", "IORT", "APIC"];
const MAX_TREE_ENTRIES: usize = 200_000;

/// Why a recording could not be written. Files the source refuses to give are skipped, not errors.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The destination exists and is not an empty directory (or cannot be listed).
    #[error("{0}: exists and is not an empty directory; choose a new one")]
    NotEmpty(String),
    /// A file, link or directory of the recording could not be created.
    #[error("{path}: {err}")]
    Write {
        /// The destination path that failed.
        path: String,
        /// The error creating it.
        err: std::io::Error,
    },
    /// `fixture.toml` could not be serialized.
    #[error("fixture.toml: {0}")]
    Toml(String),
}

/// What to say in `[source]`.
#[derive(Debug, Clone, Default)]
pub struct RecordOptions {
    /// Written as `fixture.toml`'s `[source]` table.
    pub source: FixtureSource,
    /// Kernel log to store as dmesg.txt; `None` reads /dev/kmsg when recording `/`.
    pub dmesg: Option<String>,
    /// Region info probed through VFIO on the live host, stored as `[vfio]`.
    pub vfio: Option<FixtureVfio>,
}

/// Counts of what was recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSummary {
    /// Regular files written (`fixture.toml` and `dmesg.txt` included).
    pub files: usize,
    /// Links recreated with their original targets.
    pub links: usize,
    /// PCI functions whose directory was copied.
    pub functions: usize,
    /// Entries not copied: unreadable files, links or special files.
    pub skipped: usize,
}

struct Writer<'a> {
    src: &'a Root,
    dest: PathBuf,
    summary: RecordSummary,
}

impl Writer<'_> {
    fn target(&self, rel: &str) -> Result<PathBuf, RecordError> {
        let p = self.dest.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).map_err(|err| RecordError::Write { path: parent.display().to_string(), err })?;
        }
        Ok(p)
    }

    fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<(), RecordError> {
        let p = self.target(rel)?;
        fs::write(&p, bytes).map_err(|err| RecordError::Write { path: p.display().to_string(), err })?;
        self.summary.files += 1;
        Ok(())
    }

    /// Copies a file if it can be read; unreadable attributes are skipped, as the kernel refused them.
    fn copy_file(&mut self, rel: &str) -> Result<(), RecordError> {
        match self.src.read(rel) {
            Ok(b) => self.write(rel, &b),
            Err(_) => {
                self.summary.skipped += 1;
                Ok(())
            }
        }
    }

    fn copy_link(&mut self, rel: &str) -> Result<(), RecordError> {
        let Ok(t) = self.src.read_link(rel) else {
            self.summary.skipped += 1;
            return Ok(());
        };
        let p = self.target(rel)?;
        std::os::unix::fs::symlink(&t, &p).map_err(|err| RecordError::Write { path: p.display().to_string(), err })?;
        self.summary.links += 1;
        Ok(())
    }

    /// Copies a directory tree: files, links as links, sub-directories (followed inside the
    /// source root only), minus denied names.
    fn copy_tree(&mut self, rel: &str, deny: &[&str], budget: &mut usize) -> Result<(), RecordError> {
        for name in self.src.list(rel).unwrap_or_default() {
            if *budget == 0 {
                return Ok(());
            }
            *budget -= 1;
            if deny.contains(&name.as_str()) {
                continue;
            }
            let child = format!("{rel}/{name}");
            match self.src.kind(&child) {
                Some(EntryKind::File) => self.copy_file(&child)?,
                Some(EntryKind::Link) => self.copy_link(&child)?,
                Some(EntryKind::Dir) => self.copy_tree(&child, deny, budget)?,
                _ => self.summary.skipped += 1,
            }
        }
        Ok(())
    }

    fn copy_device(&mut self, address: &str) -> Result<(), RecordError> {
        let dir = format!("{DEVICES_DIR}/{address}");
        for name in self.src.list(&dir).unwrap_or_default() {
            if DEVICE_DENYLIST.contains(&name.as_str()) || is_resource_n(&name) {
                continue;
            }
            let rel = format!("{dir}/{name}");
            match self.src.kind(&rel) {
                Some(EntryKind::Link) => self.copy_link(&rel)?,
                Some(EntryKind::File) => self.copy_file(&rel)?,
                Some(EntryKind::Dir) if name == "msi_irqs" => self.copy_tree(&rel, &[], &mut 4096)?,
                _ => {}
            }
        }
        self.summary.functions += 1;
        Ok(())
    }
}

/// `resource0`, `resource2_wc`: the BARs themselves, never copied.
fn is_resource_n(name: &str) -> bool {
    name.strip_prefix("resource").is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// Records `src` into the new directory `dest`.
pub fn record(
    src: &Root,
    identity: &HostIdentity,
    dest: &Path,
    opts: &RecordOptions,
) -> Result<RecordSummary, RecordError> {
    if dest.exists() && fs::read_dir(dest).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(RecordError::NotEmpty(dest.display().to_string()));
    }
    fs::create_dir_all(dest).map_err(|err| RecordError::Write { path: dest.display().to_string(), err })?;
    let mut w = Writer { src, dest: dest.to_path_buf(), summary: RecordSummary::default() };
    for f in PROC_FILES {
        w.copy_file(f)?;
    }
    for name in src.list(DEVICES_DIR).unwrap_or_default() {
        if parse_address(&name).is_some() {
            w.copy_device(&name)?;
        }
    }
    let mut budget = MAX_TREE_ENTRIES;
    w.copy_tree("sys/kernel/iommu_groups", &[], &mut budget)?;
    for unit in src.list("sys/class/iommu").unwrap_or_default() {
        for sub in ["intel-iommu", "amd-iommu"] {
            let rel = format!("sys/class/iommu/{unit}/{sub}");
            if src.is_dir(&rel) {
                w.copy_tree(&rel, &[], &mut budget)?;
            }
        }
    }
    for module in src.list("sys/module").unwrap_or_default() {
        if module.starts_with("vfio") || module.starts_with("kvm") || module == "iommufd" {
            w.copy_tree(&format!("sys/module/{module}/parameters"), &[], &mut budget)?;
        }
    }
    for t in ACPI_TABLES {
        w.copy_file(&format!("sys/firmware/acpi/tables/{t}"))?;
    }
    w.copy_tree("sys/firmware/devicetree/base", DT_DENYLIST, &mut budget)?;

    let dmesg = opts.dmesg.clone().or_else(|| src.is_live().then(read_kmsg).flatten());
    if let Some(log) = dmesg {
        w.write(DMESG_TXT, scrub_macs(&log).as_bytes())?;
    }
    let toml = FixtureToml {
        host: FixtureHost {
            arch: identity.arch.clone(),
            page_size: identity.page_size,
            kernel: identity.kernel.clone(),
        },
        source: Some(opts.source.clone()),
        vfio: opts.vfio.clone().or_else(|| identity.fixture.as_ref().and_then(|f| f.vfio.clone())),
    };
    let text = toml::to_string(&toml).map_err(|e| RecordError::Toml(e.to_string()))?;
    w.write(FIXTURE_TOML, text.as_bytes())?;
    Ok(w.summary)
}

/// Replaces MAC addresses (`52:54:00:12:34:56`) so a recording names no interface.
pub fn scrub_macs(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if i + 17 <= b.len() && is_mac(&b[i..i + 17]) && (i == 0 || !b[i - 1].is_ascii_hexdigit()) {
            out.push_str("xx:xx:xx:xx:xx:xx");
            i += 17;
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or('?');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

fn is_mac(s: &[u8]) -> bool {
    s.iter().enumerate().all(|(j, &c)| if j % 3 == 2 { c == b':' } else { c.is_ascii_hexdigit() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_macs_only() {
        assert_eq!(
            scrub_macs("e1000e 0000:00:02.0 eth0: 52:54:00:12:34:56 ok"),
            "e1000e 0000:00:02.0 eth0: xx:xx:xx:xx:xx:xx ok"
        );
        assert_eq!(scrub_macs("0000:00:02.0 é"), "0000:00:02.0 é");
        assert!(is_resource_n("resource0") && is_resource_n("resource2_wc") && !is_resource_n("resource"));
    }
}
