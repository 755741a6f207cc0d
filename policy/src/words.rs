//! The one spelling of every word a user reads: `Display` gives the same kebab-case names the
//! JSON uses, so text output, JSON and the documentation never disagree.

use std::fmt;

use crate::facts::{BarKind, MappableSource};
use crate::layout::{TrapContents, TrapHandler};
use crate::plan::{BarOrigin, EmulateKind, LayoutMode, SegmentAction, TrapKind};

macro_rules! words {
    ($( $ty:ty { $( $variant:ident => $word:literal ),* $(,)? } )*) => {
        $(
            impl $ty {
                /// The word users read (the JSON spelling).
                pub fn word(self) -> &'static str {
                    match self { $( <$ty>::$variant => $word, )* }
                }
            }
            impl fmt::Display for $ty {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str(self.word())
                }
            }
        )*
    };
}

words! {
    TrapKind { Table => "table", Pba => "pba", Collateral => "collateral", Unknown => "unknown" }
    EmulateKind { VirtualTable => "virtual-table" }
    BarOrigin { Physical => "physical", Virtual => "virtual", Extended => "extended" }
    BarKind { Memory32 => "memory32", Memory64 => "memory64", Io => "io" }
    MappableSource { Probed => "probed", Inferred => "inferred" }
    TrapContents {
        Table => "table",
        Pba => "pba",
        VirtualTable => "virtual-table",
        VirtualPba => "virtual-pba",
        Registers => "registers",
        Padding => "padding",
        IoPorts => "io-ports",
    }
    TrapHandler {
        EmulateMsixTable => "emulate-msix-table",
        EmulateMsixPba => "emulate-msix-pba",
        ForwardToDevice => "forward-to-device",
        ReadZero => "read-zero",
    }
}

impl fmt::Display for SegmentAction {
    /// `map`, `trap(table)`, `emulate(virtual-table)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SegmentAction::Map => f.write_str("map"),
            SegmentAction::Trap(k) => write!(f, "trap({k})"),
            SegmentAction::Emulate(k) => write!(f, "emulate({k})"),
        }
    }
}

impl fmt::Display for LayoutMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Display and serde agree, word for word.
    #[test]
    fn display_is_the_json_spelling() {
        fn same<T: fmt::Display + serde::Serialize>(v: T) {
            assert_eq!(serde_json::to_value(&v).unwrap(), serde_json::Value::String(v.to_string()));
        }
        for k in [TrapKind::Table, TrapKind::Pba, TrapKind::Collateral, TrapKind::Unknown] {
            same(k);
        }
        same(EmulateKind::VirtualTable);
        for o in [BarOrigin::Physical, BarOrigin::Virtual, BarOrigin::Extended] {
            same(o);
        }
        for k in [BarKind::Memory32, BarKind::Memory64, BarKind::Io] {
            same(k);
        }
        same(MappableSource::Probed);
        same(TrapContents::IoPorts);
        same(TrapHandler::EmulateMsixTable);
        same(LayoutMode::CloudHypervisor);
        assert_eq!(SegmentAction::Trap(TrapKind::Table).to_string(), "trap(table)");
    }
}
