//! Operator overrides (TOML). They may make a decision safer, never less safe.
//!
//! ```toml
//! [defaults]
//! forbid_relocation = true        # never relocate the table on this host
//!
//! [[device]]
//! match = "0000:00:04.0"          # an address, or vendor:device such as "8086:10d3"
//! exposure = "trap"               # passthrough | relocate | trap | refuse
//! ```
//! An `exposure` that is less safe than what the facts allow is an error naming the device and
//! the rule that limits it. Keys that would assert facts (isolation, allow_unsafe_interrupts,
//! mappability) are rejected: overrides cannot make a host safer than it is.

use serde::Deserialize;

use crate::decision::Exposure;
use crate::facts::DeviceFacts;

/// Why an overrides file was rejected, or an override could not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    /// Not valid TOML, or an unknown key (one line: `line N `src`: message`).
    #[error("overrides file is not valid: {0}")]
    Parse(String),
    /// A key that would assert a fact (`isolation`, `allow_unsafe_interrupts`, `msix_mappable`).
    #[error("override key `{key}` is not allowed: {why}")]
    Forbidden {
        /// The key.
        key: String,
        /// Why it is not allowed, and what to do instead.
        why: &'static str,
    },
    /// An exposure less safe than the facts allow.
    #[error("override for {device} asks for exposure `{requested}`, but the facts allow at most `{allowed}` (rule {rule}); overrides may only make a decision safer")]
    Loosening {
        /// The device's address.
        device: String,
        /// The exposure the override asks for.
        requested: String,
        /// The least safe exposure the facts allow.
        allowed: String,
        /// The rule that limits it.
        rule: String,
    },
    /// A `match` that is neither an address nor vendor:device.
    #[error("override `match = \"{0}\"` is neither an address (DDDD:BB:DD.F) nor vendor:device (hex)")]
    BadMatch(String),
}

/// The rules of one table: `[defaults]` or a `[[device]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Cap the exposure at this (it may only be safer than what the facts allow).
    pub exposure: Option<Exposure>,
    /// Never relocate the table: it traps with its collateral instead.
    #[serde(default)]
    pub forbid_relocation: bool,
    // Accepted by the parser only to be refused with a clear message.
    isolation: Option<toml::Value>,
    allow_unsafe_interrupts: Option<toml::Value>,
    msix_mappable: Option<toml::Value>,
}

/// A `[[device]]` entry: which devices, and their rules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRules {
    /// `match`: an address (`0000:00:04.0`) or vendor:device (`8086:10d3`).
    #[serde(rename = "match")]
    pub matches: String,
    /// The rules for the matching devices.
    #[serde(flatten)]
    pub rules: Rules,
}

/// A parsed overrides file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// `[defaults]`: rules for every device.
    #[serde(default)]
    pub defaults: Rules,
    /// `[[device]]` entries.
    #[serde(default, rename = "device")]
    pub devices: Vec<DeviceRules>,
}

/// What the overrides say for one device, merged: the safer of defaults and device entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effective {
    /// The safest exposure cap among the entries that apply.
    pub exposure: Option<Exposure>,
    /// Whether any entry that applies forbids relocation.
    pub forbid_relocation: bool,
    /// Where it came from, for the rationale.
    pub sources: Vec<String>,
}

/// A TOML error on one line: `line 3: invalid type: ...` (the crate's own is a multi-line drawing).
pub fn toml_error_line(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line = text.get(..span.start).map_or(1, |t| t.matches('\n').count() + 1);
            let src = text.lines().nth(line - 1).unwrap_or("").trim();
            format!("line {line} `{src}`: {msg}")
        }
        None => msg,
    }
}

impl Effective {
    /// The override lines that applied, as evidence for the rationale.
    pub fn evidence(&self) -> Vec<crate::facts::Evidence> {
        self.sources.iter().map(|s| crate::facts::Evidence::new("overrides", s.clone())).collect()
    }
}

impl Overrides {
    /// Parses and validates an overrides file (fact assertions and bad matches are errors).
    pub fn parse(text: &str) -> Result<Self, OverrideError> {
        let o: Overrides = toml::from_str(text).map_err(|e| OverrideError::Parse(toml_error_line(text, &e)))?;
        o.validate()?;
        Ok(o)
    }

    fn validate(&self) -> Result<(), OverrideError> {
        let all = std::iter::once(&self.defaults).chain(self.devices.iter().map(|d| &d.rules));
        for r in all {
            let forbidden = [
                (
                    "isolation",
                    r.isolation.is_some(),
                    "isolation is established from the host's evidence, never declared",
                ),
                (
                    "allow_unsafe_interrupts",
                    r.allow_unsafe_interrupts.is_some(),
                    "set vfio_iommu_type1.allow_unsafe_interrupts on the host if you accept that risk",
                ),
                (
                    "msix_mappable",
                    r.msix_mappable.is_some(),
                    "mappability is probed from VFIO or inferred from the kernel",
                ),
            ];
            if let Some((key, _, why)) = forbidden.into_iter().find(|f| f.1) {
                return Err(OverrideError::Forbidden { key: key.into(), why });
            }
        }
        for d in &self.devices {
            if !is_address(&d.matches) && parse_ids(&d.matches).is_none() {
                return Err(OverrideError::BadMatch(d.matches.clone()));
            }
        }
        Ok(())
    }

    /// The merged rules that apply to a device.
    pub fn for_device(&self, device: &DeviceFacts) -> Effective {
        let mut eff = Effective::default();
        let mut apply = |r: &Rules, source: String| {
            if let Some(e) = r.exposure {
                eff.exposure = Some(match eff.exposure {
                    Some(prev) if prev.safety() >= e.safety() => prev,
                    _ => e,
                });
                eff.sources.push(format!("{source}: exposure = \"{}\"", e.as_str()));
            }
            if r.forbid_relocation {
                eff.forbid_relocation = true;
                eff.sources.push(format!("{source}: forbid_relocation = true"));
            }
        };
        apply(&self.defaults, "[defaults]".into());
        for d in self.devices.iter().filter(|d| matches(&d.matches, device)) {
            apply(&d.rules, format!("[[device]] match = \"{}\"", d.matches));
        }
        eff
    }
}

fn is_address(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && s[..4].chars().chain(s[5..7].chars()).chain(s[8..10].chars()).all(|c| c.is_ascii_hexdigit())
        && (b'0'..=b'7').contains(&b[11])
}

fn parse_ids(s: &str) -> Option<(u16, u16)> {
    let (v, d) = s.split_once(':')?;
    if v.len() != 4 || d.len() != 4 {
        return None;
    }
    Some((u16::from_str_radix(v, 16).ok()?, u16::from_str_radix(d, 16).ok()?))
}

fn matches(pattern: &str, device: &DeviceFacts) -> bool {
    if is_address(pattern) {
        return pattern.eq_ignore_ascii_case(&device.address);
    }
    parse_ids(pattern).is_some_and(|(v, d)| device.vendor == Some(v) && device.device == Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_fact_assertions_and_typos() {
        let e = Overrides::parse("[defaults]\nisolation = \"isolated\"\n").unwrap_err();
        assert!(matches!(e, OverrideError::Forbidden { ref key, .. } if key == "isolation"), "{e}");
        let e = Overrides::parse("[[device]]\nmatch = \"0000:00:01.0\"\nallow_unsafe_interrupts = true\n").unwrap_err();
        assert!(e.to_string().contains("allow_unsafe_interrupts"), "{e}");
        let e = Overrides::parse("[defaults]\nforbid_relocaton = true\n").unwrap_err();
        assert!(matches!(e, OverrideError::Parse(_)), "{e}");
        let e = Overrides::parse("[[device]]\nmatch = \"nvme\"\nexposure = \"trap\"\n").unwrap_err();
        assert_eq!(e, OverrideError::BadMatch("nvme".into()));
        assert!(Overrides::parse("[defaults\n").is_err());
    }
}
