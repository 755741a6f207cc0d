//! The PCI address of a function, `DDDD:BB:DD.F`: parsed once, compared and ordered as numbers,
//! printed in the kernel's lowercase form.

use std::fmt;
use std::str::FromStr;

/// A PCI function's address: domain (segment), bus, device, function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    /// PCI domain (segment), 16 bits in sysfs names.
    pub domain: u16,
    /// Bus number.
    pub bus: u8,
    /// Device number, 0-31.
    pub device: u8,
    /// Function number, 0-7.
    pub function: u8,
}

/// Why a string is not a PCI address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a PCI address: expected DDDD:BB:DD.F in hex, e.g. 0000:00:04.0")]
pub struct AddressError(pub String);

impl PciAddress {
    /// Parses `DDDD:BB:DD.F` (hex digits in either case; device 0-1f, function 0-7).
    pub fn parse(s: &str) -> Result<Self, AddressError> {
        let err = || AddressError(s.to_string());
        let b = s.as_bytes();
        if b.len() != 12 || b[4] != b':' || b[7] != b':' || b[10] != b'.' {
            return Err(err());
        }
        let hex = |r: std::ops::Range<usize>| -> Result<u32, AddressError> {
            let part = s.get(r).ok_or_else(err)?;
            if !part.bytes().all(|c| c.is_ascii_hexdigit()) {
                return Err(err());
            }
            u32::from_str_radix(part, 16).map_err(|_| err())
        };
        let (domain, bus, device, function) = (hex(0..4)?, hex(5..7)?, hex(8..10)?, hex(11..12)?);
        if device > 0x1f || function > 7 {
            return Err(err());
        }
        Ok(PciAddress { domain: domain as u16, bus: bus as u8, device: device as u8, function: function as u8 })
    }
}

impl FromStr for PciAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PciAddress::parse(s)
    }
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:02x}:{:02x}.{:x}", self.domain, self.bus, self.device, self.function)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prints_and_orders() {
        let a = PciAddress::parse("0000:0A:1f.7").unwrap();
        assert_eq!((a.domain, a.bus, a.device, a.function), (0, 0x0a, 0x1f, 7));
        assert_eq!(a.to_string(), "0000:0a:1f.7");
        assert_eq!("0000:0a:1F.7".parse::<PciAddress>(), Ok(a));
        let mut v: Vec<PciAddress> = ["0001:00:00.0", "0000:10:00.0", "0000:02:00.1", "0000:02:00.0"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        v.sort();
        let shown: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["0000:02:00.0", "0000:02:00.1", "0000:10:00.0", "0001:00:00.0"]);
        for bad in [
            "",
            "0000:00:04",
            "0000:00:20.0",
            "0000:00:04.8",
            "000g:00:04.0",
            "0000:00:+4.0",
            "0000-00:04.0",
            "00000:00:04.0",
        ] {
            assert!(PciAddress::parse(bad).is_err(), "{bad}");
        }
    }
}
