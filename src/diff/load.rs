//! Reading one side of a diff: an audit JSON file (bounded, its schema checked first) or a root
//! audited now.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{json_name, AuditView, DeviceView, EvidenceView, HostView, Isolation, PlanView, ReasonView, SCHEMA};
use crate::{AuditOptions, AuditReport};

/// Why a side could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The path could not be inspected (its metadata could not be read).
    #[error("{path}: {err}")]
    Read {
        /// The side's path.
        path: String,
        /// What the system said.
        err: std::io::Error,
    },
    /// The audit JSON file could not be read (I/O, too large, not UTF-8).
    #[error(transparent)]
    Input(#[from] crate::input::ReadError),
    /// The file's `schema` is missing or is not the audit's.
    #[error(
        "{path}: schema {found}: expected \"{}\" (`msix-policy audit --format json` writes it)",
        msix_policy_wire::AUDIT_SCHEMA
    )]
    Schema {
        /// The side's path.
        path: String,
        /// The `schema` value found, as JSON (`(missing)` when there is none).
        found: String,
    },
    /// The file is not JSON, or not the shape of an audit.
    #[error("{path}: not an audit JSON file (`msix-policy audit --format json` writes one): {err}")]
    Json {
        /// The side's path.
        path: String,
        /// What the JSON parser said.
        err: serde_json::Error,
    },
    /// The file is a diff report, where an audit belongs.
    #[error("{path}: is a diff report ({SCHEMA}), not an audit")]
    IsDiff {
        /// The side's path.
        path: String,
    },
    /// The side is a directory and auditing it failed.
    #[error("{path}: {err}")]
    Audit {
        /// The side's path.
        path: String,
        /// Why the audit failed.
        err: crate::AuditError,
    },
    /// The audit lists one device address twice (compared case-insensitively).
    #[error("{path}: device {address} appears twice")]
    Duplicate {
        /// The side's path.
        path: String,
        /// The address that appears twice.
        address: String,
    },
    /// The path does not exist.
    #[error("{path}: no such file or directory")]
    Missing {
        /// The side's path.
        path: String,
    },
}

impl From<&AuditReport> for AuditView {
    fn from(r: &AuditReport) -> Self {
        let h = &r.host;
        AuditView {
            source: r.root.clone(),
            root: r.root.clone(),
            host: Some(HostView {
                arch: h.arch.clone(),
                kernel: h.kernel.clone(),
                platform: json_name(&h.platform).unwrap_or_default(),
                page_size: h.page_size,
            }),
            devices: r
                .devices
                .iter()
                .map(|d| {
                    let dec = &d.decision;
                    DeviceView {
                        address: d.address.clone(),
                        isolation: Isolation::of(dec.isolation.status()),
                        assignable: dec.assignable,
                        exposure: dec.exposure,
                        risk: dec.risk,
                        plan: dec.plan.as_ref().map(PlanView::from),
                        reasons: dec
                            .reasons
                            .iter()
                            .map(|r| ReasonView {
                                rule: r.rule.to_string(),
                                detail: r.detail.clone(),
                                evidence: r
                                    .evidence
                                    .iter()
                                    .map(|e| EvidenceView { source: e.source.clone(), observed: e.observed.clone() })
                                    .collect(),
                            })
                            .collect(),
                    }
                })
                .collect(),
        }
    }
}

/// Reads the JSON `audit --format json` printed (`path` names the side in errors and in
/// [`AuditView::source`]).
pub fn from_json(text: &str, path: &str) -> Result<AuditView, DiffError> {
    // The version first: a reader that guessed at an unknown one could call a change safe.
    #[derive(Deserialize, schemars::JsonSchema)]
    struct Schema {
        schema: Option<serde_json::Value>,
    }
    let schema = serde_json::from_str::<Schema>(text).map_err(|err| DiffError::Json { path: path.into(), err })?;
    match schema.schema {
        Some(Value::String(s)) if s == msix_policy_wire::AUDIT_SCHEMA => {}
        // Name the common mistake of passing a diff where an audit belongs.
        Some(Value::String(s)) if s == SCHEMA => return Err(DiffError::IsDiff { path: path.into() }),
        Some(v) => return Err(DiffError::Schema { path: path.into(), found: v.to_string() }),
        None => return Err(DiffError::Schema { path: path.into(), found: "(missing)".into() }),
    }
    let mut view: AuditView = serde_json::from_str(text).map_err(|err| DiffError::Json { path: path.into(), err })?;
    view.source = path.into();
    check(&view, path)?;
    Ok(view)
}

/// An audit lists every device once (addresses compared case-insensitively).
fn check(view: &AuditView, path: &str) -> Result<(), DiffError> {
    let mut seen = std::collections::HashSet::with_capacity(view.devices.len());
    for d in &view.devices {
        if !seen.insert(d.address.to_ascii_lowercase()) {
            return Err(DiffError::Duplicate { path: path.into(), address: d.address.clone() });
        }
    }
    Ok(())
}

/// Reads one side of a diff: an audit JSON file (`-` for standard input), or a directory (a
/// fixture or a live root such as `/`) audited now with `opts`.
pub fn load_side(path: &Path, opts: &AuditOptions) -> Result<AuditView, DiffError> {
    let shown = path.display().to_string();
    let read_json = || -> Result<AuditView, DiffError> {
        let text = crate::input::read_bounded(path, crate::input::MAX_AUDIT_JSON_BYTES)?;
        from_json(&text, &shown)
    };
    if path.as_os_str() == "-" {
        return read_json();
    }
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(DiffError::Missing { path: shown }),
        Err(err) => return Err(DiffError::Read { path: shown, err }),
    };
    if meta.is_dir() {
        let report = crate::audit(path, opts).map_err(|err| DiffError::Audit { path: shown.clone(), err })?;
        let mut view = AuditView::from(&report);
        view.source = shown;
        return Ok(view);
    }
    read_json()
}
