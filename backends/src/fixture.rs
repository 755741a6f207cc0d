//! The recorded-host format (FIXTURES.md): the file names of a recording and `fixture.toml`'s
//! tables. Shared by the reader ([`crate::host`]) and the recorder ([`crate::record`]), and
//! depending on neither.

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use msix_policy_engine::VfioRegion;

/// The recording's description, at the top of a recorded root: `[host]`, `[source]`, `[vfio]`.
pub const FIXTURE_TOML: &str = "fixture.toml";
/// The kernel log stored with a recording, at the top of a recorded root (MAC addresses scrubbed).
pub const DMESG_TXT: &str = "dmesg.txt";

/// A `fixture.toml` that cannot be read as one: where, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {msg}")]
pub struct FixtureError {
    /// The file shown to the user.
    pub path: String,
    /// What is wrong, with the line where TOML says so.
    pub msg: String,
}

/// `fixture.toml` as FIXTURES.md defines it. Unknown keys and tables are ignored.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct FixtureToml {
    /// `[host]`: the recorded host's identity (required).
    pub host: FixtureHost,
    /// `[source]`: what the host was and how it was recorded; `None` when the table is absent.
    #[serde(default)]
    pub source: Option<FixtureSource>,
    /// Region info probed through VFIO at recording time, per device address.
    #[serde(default)]
    pub vfio: Option<FixtureVfio>,
}

/// `fixture.toml`'s `[host]` table: the recorded host's identity, as `uname` and the kernel gave it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct FixtureHost {
    /// The machine name (`uname -m`: `x86_64`, `aarch64`, `ppc64le`).
    pub arch: String,
    /// The kernel's page size in bytes: a power of two from 4096 to 2 MiB ([`FixtureToml::parse`]
    /// checks it).
    pub page_size: u64,
    /// The kernel release (`uname -r`).
    pub kernel: String,
}

/// `fixture.toml`'s `[source]` table: free text saying what was recorded; every key defaults
/// to empty. (The audit JSON carries it as `msix_policy_wire::FixtureSource`, whose schema is
/// the one in `schemas/`.)
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FixtureSource {
    /// How the host was obtained: `qemu`, `hardware` or `synthetic`.
    #[serde(default)]
    pub kind: String,
    /// What the host is, in words.
    #[serde(default)]
    pub description: String,
    /// How it was produced: a QEMU command line, a board, a generator's command.
    #[serde(default)]
    pub machine: String,
}

/// `fixture.toml`'s `[vfio]` table: what VFIO answered when the host was recorded live.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct FixtureVfio {
    /// Whether VFIO_REGION_INFO_CAP_MSIX_MAPPABLE was seen on a probed MSI-X BAR.
    #[serde(default)]
    pub msix_mappable: Option<bool>,
    /// Where that was probed (device address).
    #[serde(default)]
    pub probed_on: Option<String>,
    /// The region info of each probed MSI-X BAR, as the kernel returned it.
    #[serde(default, rename = "region")]
    pub regions: Vec<ProbedRegion>,
}

/// One `VFIO_DEVICE_GET_REGION_INFO` answer kept in a recording: the device it was asked of and
/// the region. Stored as one `[[vfio.region]]` table: `device`, `index`, `flags`, `size`, `caps`
/// (default empty), `msix_mappable` (default false), in that order; the region's offset, sparse
/// areas and argsz are not recorded (they read back as absent, none and 0).
#[derive(Debug, Clone, PartialEq)]
pub struct ProbedRegion {
    /// The device address (`DDDD:BB:DD.F`).
    pub device: String,
    /// The region as the kernel described it.
    pub region: VfioRegion,
}

const PROBED_FIELDS: &[&str] = &["device", "index", "flags", "size", "caps", "msix_mappable"];

impl Serialize for ProbedRegion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = &self.region;
        let mut t = s.serialize_struct("ProbedRegion", PROBED_FIELDS.len())?;
        t.serialize_field("device", &self.device)?;
        t.serialize_field("index", &r.index)?;
        t.serialize_field("flags", &r.flags)?;
        t.serialize_field("size", &r.size)?;
        t.serialize_field("caps", &r.caps)?;
        t.serialize_field("msix_mappable", &r.msix_mappable)?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for ProbedRegion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = ProbedRegion;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a [[vfio.region]] table")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ProbedRegion, A::Error> {
                let (mut device, mut index, mut flags, mut size) = (None, None, None, None);
                let (mut caps, mut msix_mappable) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "device" => device = Some(map.next_value::<String>()?),
                        "index" => index = Some(map.next_value::<u32>()?),
                        "flags" => flags = Some(map.next_value::<u32>()?),
                        "size" => size = Some(map.next_value::<u64>()?),
                        "caps" => caps = Some(map.next_value::<Vec<u16>>()?),
                        "msix_mappable" => msix_mappable = Some(map.next_value::<bool>()?),
                        // Unknown keys are ignored, as everywhere in fixture.toml.
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                let device = device.ok_or_else(|| de::Error::missing_field("device"))?;
                let index = index.ok_or_else(|| de::Error::missing_field("index"))?;
                let flags = flags.ok_or_else(|| de::Error::missing_field("flags"))?;
                let size = size.ok_or_else(|| de::Error::missing_field("size"))?;
                let mut region = VfioRegion::new(index, size, flags).msix_mappable(msix_mappable.unwrap_or_default());
                region.caps = caps.unwrap_or_default();
                Ok(ProbedRegion { device, region })
            }
        }
        d.deserialize_struct("ProbedRegion", PROBED_FIELDS, Fields)
    }
}

impl FixtureToml {
    /// Parses `fixture.toml` (`path` is what errors show) and checks its page size.
    pub fn parse(text: &str, path: &str) -> Result<Self, FixtureError> {
        let f: FixtureToml = toml::from_str(text)
            .map_err(|e| FixtureError { path: path.into(), msg: msix_policy_engine::toml_error_line(text, &e) })?;
        let p = f.host.page_size;
        if !p.is_power_of_two() || !(4096..=1 << 21).contains(&p) {
            return Err(FixtureError {
                path: path.into(),
                msg: format!("[host] page_size = {p} is not a page size (a power of two from 4096 to 2 MiB)"),
            });
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORDED: &str = "[host]\narch = \"x86_64\"\npage_size = 4096\nkernel = \"6.1.0\"\n\n[vfio]\nmsix_mappable = true\nprobed_on = \"0000:00:03.0\"\n\n[[vfio.region]]\ndevice = \"0000:00:03.0\"\nindex = 3\nflags = 15\nsize = 16384\ncaps = [3]\nmsix_mappable = true\n";

    /// A recorded region reads into the one region type and writes back the same table.
    #[test]
    fn a_probed_region_round_trips_byte_identical() {
        let f = FixtureToml::parse(RECORDED, "f").unwrap();
        let vfio = f.vfio.as_ref().unwrap();
        let r = &vfio.regions[0];
        assert_eq!(r.device, "0000:00:03.0");
        assert_eq!((r.region.index, r.region.flags, r.region.size), (3, 15, 16384));
        assert_eq!((r.region.caps.as_slice(), r.region.msix_mappable, r.region.offset), (&[3u16][..], true, None));
        assert_eq!(toml::to_string(&f).unwrap(), RECORDED);
        // caps and msix_mappable default; unknown keys are ignored; the others are required.
        let t = "device = \"d\"\nindex = 0\nflags = 7\nsize = 4096\nlater = 1\n";
        let r: ProbedRegion = toml::from_str(t).unwrap();
        assert!(r.region.caps.is_empty() && !r.region.msix_mappable);
        assert!(toml::from_str::<ProbedRegion>("device = \"d\"\nindex = 0\nflags = 7\n").is_err());
    }
}
