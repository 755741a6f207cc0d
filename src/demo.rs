//! The demo fixture the binary carries: what `msix-policy audit` shows a newcomer whose host has
//! no PCI functions to show (a container, a laptop VM), wherever the binary was installed.
//!
//! `src/demo.pack` is `fixtures/qemu/x86-q35-vtd-ir` packed ([`backends::pack`]); a test fails
//! when the two differ. Only the text format ever falls back to it: machine formats describe
//! the host they run on or nothing.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::{backends, AuditError, AuditOptions, AuditReport};

/// The fixture the pack holds, under `fixtures/`.
pub const DEMO_FIXTURE: &str = "qemu/x86-q35-vtd-ir";
/// The packed fixture.
pub const DEMO_PACK: &str = include_str!("demo.pack");

/// Why the demo could not be audited.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Unpacking into a temporary directory failed.
    #[error("the embedded demo fixture: {0}")]
    Unpack(#[from] backends::pack::PackError),
    /// The audit itself failed.
    #[error("the embedded demo fixture: {0}")]
    Audit(#[from] AuditError),
}

/// Audits the embedded demo fixture: unpacked into a fresh temporary directory, audited, removed.
/// The report's `root` names the demo, not the temporary path.
pub fn audit_demo(opts: &AuditOptions) -> Result<AuditReport, DemoError> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "msix-policy-demo-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let io = |source| backends::pack::PackError::Io { path: dir.display().to_string(), source };
    std::fs::create_dir(&dir).map_err(io)?;
    let result = backends::pack::unpack(DEMO_PACK, &dir)
        .map_err(DemoError::from)
        .and_then(|()| crate::audit(&dir, opts).map_err(DemoError::from));
    let _ = std::fs::remove_dir_all(&dir);
    let mut report = result?;
    report.root = format!("embedded demo fixture {DEMO_FIXTURE}");
    Ok(report)
}
