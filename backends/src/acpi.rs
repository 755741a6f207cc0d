//! ACPI tables from `sys/firmware/acpi/tables`: header checks and bounded sub-table walks.

use crate::root::{ReadError, Root};

/// Where Linux exposes the firmware's ACPI tables: one file per signature (`DMAR`, `IORT`, ...).
pub const TABLES: &str = "sys/firmware/acpi/tables";
/// Bytes in the standard ACPI table header (signature, length, revision, checksum, OEM ids, ...).
pub const HEADER_LEN: usize = 36;

/// Why an ACPI table could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcpiError {
    /// The table's file could not be read (missing: no such table, or it was not recorded).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The file (path given) is shorter than the 36-byte header or than its own length field, or
    /// that field is below 36.
    #[error("{0}: shorter than its header or its own length field")]
    Truncated(String),
    /// The file (path given first) does not start with the signature asked for (given second).
    #[error("{0}: signature is not {1}")]
    Signature(String, String),
}

/// Reads a table and checks its signature and length; returns the bytes up to its length.
pub fn table(root: &Root, sig: &str) -> Result<Vec<u8>, AcpiError> {
    let rel = format!("{TABLES}/{sig}");
    let mut b = root.read(&rel)?;
    if b.len() < HEADER_LEN {
        return Err(AcpiError::Truncated(rel));
    }
    if &b[0..4] != sig.as_bytes() {
        return Err(AcpiError::Signature(rel, sig.into()));
    }
    let len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]) as usize;
    if len < HEADER_LEN || len > b.len() {
        return Err(AcpiError::Truncated(rel));
    }
    b.truncate(len);
    Ok(b)
}

/// How a table's sub-tables encode their type and length.
#[derive(Debug, Clone, Copy)]
pub enum SubtableLayout {
    /// MADT: u8 type, u8 length.
    Byte,
    /// DMAR: u16 type, u16 length.
    Word,
    /// IORT nodes: u8 type, u16 length at offset 1.
    IortNode,
}

/// (type, offset, length) of each sub-table from `start`, stopping at the first bad length.
pub fn subtables(b: &[u8], start: usize, layout: SubtableLayout) -> Vec<(u16, usize, usize)> {
    let mut out = Vec::new();
    let mut at = start;
    while out.len() < 4096 {
        let (ty, len) = match layout {
            SubtableLayout::Byte => match (b.get(at), b.get(at + 1)) {
                (Some(&t), Some(&l)) => (u16::from(t), usize::from(l)),
                _ => break,
            },
            SubtableLayout::Word => match (b.get(at..at + 2), b.get(at + 2..at + 4)) {
                (Some(t), Some(l)) => (u16::from_le_bytes([t[0], t[1]]), usize::from(u16::from_le_bytes([l[0], l[1]]))),
                _ => break,
            },
            SubtableLayout::IortNode => match (b.get(at), b.get(at + 1..at + 3)) {
                (Some(&t), Some(l)) => (u16::from(t), usize::from(u16::from_le_bytes([l[0], l[1]]))),
                _ => break,
            },
        };
        if len < 2 || at + len > b.len() {
            break;
        }
        out.push((ty, at, len));
        at += len;
    }
    out
}
