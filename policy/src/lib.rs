//! msix-policy's decision engine: facts in, decision out, no I/O.
//!
//! Start at [`decide::decide`]: it walks the steps of the policy (isolation, assignability,
//! exposure, risk) and returns a [`Decision`] with a page-aligned [`MappingPlan`] and the
//! [`Reason`]s, each a stable rule id from [`rules`] with its evidence and reference.

#![deny(missing_docs)]

pub mod config;
pub mod decide;
pub mod decision;
pub mod facts;
pub mod layout;
pub mod overrides;
pub mod plan;
pub mod rules;
pub mod vmm;

pub use decide::{decide, resolve_guest, DecideError, DecisionInput};
pub use decision::{Decision, Exposure, GuestProfile, GuestSelection, Reason, Risk};
pub use facts::*;
pub use layout::{GuestBar, GuestMsix, Layout, MmapRange, TrapContents, TrapHandler, TrapRange};
pub use overrides::{OverrideError, Overrides};
pub use plan::{
    BarOrigin, BarPlan, LayoutMode, LayoutOptions, MappingPlan, RelocationPolicy, Segment, SegmentAction, TrapKind,
};
pub use vmm::{plan_layout, InputError, IsolationAttestation, VfioRegion, VmmInput};
