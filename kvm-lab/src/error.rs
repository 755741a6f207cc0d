//! [`LabError`]: why a machine could not be set up or a layout could not be run.
//!
//! The Display of every variant is the one-line message `kvm-lab` prints after `kvm-lab: `; the
//! variants that wrap an OS error repeat its text after a colon (and also return it as
//! [`std::error::Error::source`]).

use std::io;

use crate::dispatch::RunError;
use crate::map::MapError;
use crate::script::ScriptError;

/// Why a [`crate::report::Machine`] could not prepare or run a layout, or [`crate::report::run_layout`]
/// could not account it.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A KVM ioctl failed.
    #[error("{what}: {source}")]
    Ioctl {
        /// The ioctl and what it was asked, e.g. `KVM_SET_USER_MEMORY_REGION slot 1 gpa 0x10000000+0x4000`.
        what: String,
        /// The OS error it returned.
        #[source]
        source: io::Error,
    },
    /// An mmap failed: guest RAM, or a range of the device lent to a memory slot.
    #[error("{what}: {source}")]
    Map {
        /// What was being mapped, e.g. `guest RAM` or `mmap of BAR0 0x0+0x4000 (fd offset 0x0)`.
        what: String,
        /// The OS error of the mmap.
        #[source]
        source: io::Error,
    },
    /// The host cannot do this (the guest program and the vGIC are aarch64 only); the value says
    /// what to do instead.
    #[error("{0}")]
    Unsupported(&'static str),
    /// `--ipa-bits` outside what KVM offers (KVM_CAP_ARM_VM_IPA_SIZE).
    #[error("--ipa-bits {bits}: KVM offers 32 to {limit} (KVM_CAP_ARM_VM_IPA_SIZE)")]
    IpaBits {
        /// The guest physical address size asked for, in bits.
        bits: u8,
        /// The host's limit (0 on a host without KVM_CAP_ARM_VM_IPA_SIZE).
        limit: i32,
    },
    /// The layout cannot be placed in guest physical memory.
    #[error(transparent)]
    GuestMap(#[from] MapError),
    /// The access script of the layout cannot be built, predicted or encoded.
    #[error(transparent)]
    Script(#[from] ScriptError),
    /// The run of the guest ended before the stop port.
    #[error(transparent)]
    Run(#[from] RunError),
    /// Running one layout failed: its name, then why.
    #[error("{layout}: {source}")]
    Layout {
        /// The layout's name ([`crate::layouts::Named::name`]).
        layout: &'static str,
        /// Why it failed.
        #[source]
        source: Box<LabError>,
    },
    /// A vCPU, the script or the VM was asked for before `prepare` (or after `finish`).
    #[error("no VM prepared")]
    NotPrepared,
    /// The vCPU was asked for before `prepare` (or after `finish`) in the MSI run.
    #[error("no vCPU")]
    NoVcpu,
    /// Guest RAM is too small for what is written into it.
    #[error("guest RAM too small for the script")]
    RamTooSmall,
    /// Reading the script back would read past guest RAM.
    #[error("read past guest RAM")]
    ReadPastRam,
    /// The MSI run needs a device with MSI-X.
    #[error("the device has no MSI-X")]
    NoMsix,
    /// The MSI run needs the BAR of the MSI-X table placed in guest memory.
    #[error("the table's BAR is not placed")]
    TableUnplaced,
}
