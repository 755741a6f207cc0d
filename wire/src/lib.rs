//! The versioned JSON documents msix-policy writes, as one set of owned types that both
//! serialize and deserialize them:
//!
//! - [`AuditDocument`] (`msix-policy/audit/v1`, `msix-policy audit --format json`): the host and
//!   every device, each a [`DeviceDocument`];
//! - [`DeviceDocument`] alone (`msix-policy/device/v1`, `msix-policy explain --format json`);
//! - [`RulesDocument`] (`msix-policy/rules/v1`, `msix-policy rules --format json`).
//!
//! The documents are built on the engine's own types ([`HostFacts`], [`Evidence`], [`MsixFacts`],
//! [`MappingPlan`], [`Reason`], [`GuestProfile`]), so what the engine decides is what the JSON
//! says. The JSON Schemas under `schemas/` are generated from these types (the `msix-policy`
//! crate's `schema` module) and checked for drift by a test.
//!
//! An audit written by an earlier release may lack fields this release writes. [`view`] reads
//! any audit/v1 document leniently, keeping only what comparing two audits needs (`msix-policy
//! diff`); a missing optional field takes its default there, exactly as earlier releases read it.

#![deny(missing_docs)]

mod document;
pub mod view;

pub use document::{AuditDocument, DeviceDocument, FixtureSource, KvmFacts, Rule, RulesDocument};
pub use msix_policy_engine::{Evidence, GuestProfile, HostFacts, MappingPlan, MsixFacts, Reason};

/// `schema` of `audit --format json`.
pub const AUDIT_SCHEMA: &str = "msix-policy/audit/v1";
/// `schema` of `explain --format json`.
pub const DEVICE_SCHEMA: &str = "msix-policy/device/v1";
/// `schema` of `rules --format json`.
pub const RULES_SCHEMA: &str = "msix-policy/rules/v1";
/// `schema` of `diff --format json`.
pub const DIFF_SCHEMA: &str = "msix-policy/diff/v1";
