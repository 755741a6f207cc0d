//! Decisions over time: compare two audits of a host (or of two hosts) device by device and say
//! whether anything became less safe.
//!
//! Each side is an [`AuditView`]: the fields of an audit the comparison needs, built from an
//! [`AuditReport`](crate::AuditReport) (a fixture or a live root audited now) or read back from the JSON that
//! `audit --format json` printed ([`load_side`] takes either from a path). [`diff_reports`] matches
//! devices by PCI address (case-insensitive) and classes every change:
//!
//! - **isolation**: `isolated` > `not-isolated` = `unknown`. A loss of isolation is `less-safe`
//!   even when the device is now refused: the host changed for the worse and the operator must
//!   learn it. A gain is `safer`; `not-isolated` <-> `unknown` is `same` (both count as not
//!   isolated).
//! - **risk**: `none` < `self-only` < `unsafe`; up is `less-safe`, down `safer`.
//! - **exposure** between two assignable exposures: `trap` = `none` > `relocate` >
//!   `passthrough`; towards passthrough is `less-safe`, away from it `safer`. Becoming refused is
//!   `safer` (nothing reaches the guest; a loss of isolation behind it is reported on its own
//!   line). A refused device that becomes assignable is `less-safe` unless it gained isolation in
//!   the same step (the cause of the refusal is gone: `same`, and the isolation line says `safer`);
//!   with risk `unsafe` it is `less-safe` in any case.
//! - **assignable**: `true` -> `false` is `safer`; `false` -> `true` is classed like the exposure
//!   leaving `refuse` (`less-safe` with risk `unsafe` or without a gain of isolation).
//! - **plan** (trapped bytes, collateral bytes, page size, segments): `cost-only`.
//! - **rules**: added and removed rule ids are listed with their evidence; they carry no class of
//!   their own (the fields above say what changed).
//!
//! A device's class is the worst of its changes, in the order `less-safe` > `safer` >
//! `cost-only` > `same`. A device that appears is `less-safe` when its risk is `unsafe` (`same`
//! otherwise); one that disappears is `safer` when its risk was `unsafe` (`same` otherwise).
//! [`DiffReport::exit_code`] is 1 when any device is `less-safe`, else 0.
//!
//! `load` reads a side (a file, standard input or a root), `classify` compares two, `render`
//! prints the result; the views are the lenient audit/v1 reader of [`msix_policy_wire::view`].

mod classify;
mod load;
mod render;

pub use classify::{
    diff_reports, Change, Class, Counts, DeviceDiff, DiffReport, HostChange, Presence, SideInfo, Summary,
};
pub use load::{from_json, load_side, DiffError};
pub use msix_policy_wire::view::{
    AuditView, BarView, DeviceView, EvidenceView, HostView, Isolation, PlanView, ReasonView, SegmentView,
};
pub use render::{markdown, render, text, Format};

pub(crate) use msix_policy_wire::view::json_name;

/// The `schema` of the JSON diff.
pub const SCHEMA: &str = msix_policy_wire::DIFF_SCHEMA;
