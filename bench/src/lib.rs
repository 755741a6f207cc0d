//! Measurements of msix-policy, kept out of the shipped crates: reference models of what peer
//! VMMs trap (`peers`), and a generator of large synthetic hosts (`synth`).

#![deny(missing_docs)]

pub mod corpus;
pub mod peers;
pub mod synth;
