//! The kernel command line (`/proc/cmdline`), up to the `--` that starts init's arguments.

/// The kernel's parameters in command-line order, each `key` or `key=value` (quotes around
/// the value removed); what follows `--` is init's and left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cmdline {
    params: Vec<(String, Option<String>)>,
}

impl Cmdline {
    /// `/proc/cmdline` is printable text the kernel always ends with a newline; anything else was
    /// truncated or corrupted, and an option that decides isolation may be missing from it.
    pub fn validate(bytes: &[u8]) -> Result<&str, &'static str> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text: corrupt, taken as unknown")?;
        if !text.ends_with('\n') {
            return Err("does not end with the newline the kernel writes: truncated, taken as unknown");
        }
        if text.trim_end_matches('\n').chars().any(|c| c.is_control() && c != '\t') {
            return Err("holds control characters: corrupt, taken as unknown");
        }
        Ok(text)
    }

    /// Splits a command line at whitespace into parameters, up to `--`. Never fails; check
    /// `/proc/cmdline`'s bytes with [`Cmdline::validate`] first.
    pub fn parse(text: &str) -> Self {
        let params = text
            .split_whitespace()
            .take_while(|t| *t != "--")
            .map(|t| match t.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.trim_matches('"').to_string())),
                None => (t.to_string(), None),
            })
            .collect();
        Cmdline { params }
    }

    /// The last value given for `key` (the kernel lets later ones win).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.iter().rev().find(|(k, _)| k == key).and_then(|(_, v)| v.as_deref())
    }

    /// Every comma-separated option given for `key`, in order (`intremap=nosid,no_x2apic_optout`).
    pub fn options(&self, key: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == key)
            .filter_map(|(_, v)| v.as_deref())
            .flat_map(|v| v.split(','))
            .filter(|o| !o.is_empty())
            .collect()
    }

    /// Whether `key=option` was given (as one of its comma-separated options).
    pub fn has(&self, key: &str, option: &str) -> bool {
        self.options(key).contains(&option)
    }

    /// Interrupt remapping as the kernel's early parameters leave it: `nointremap` and every
    /// `intremap=` applied in command-line order, each `intremap=` running `setup_irqremap`
    /// (drivers/iommu/irq_remapping.c) over its comma-separated options, each matched by prefix
    /// (`strncmp`) in the handler's order: `on` clears the disable, `off` sets it, `nosid` turns
    /// source-id checking off for good (nothing turns it back on). `None` when neither appears.
    pub fn intremap(&self) -> Option<Intremap> {
        let mut state = Intremap { off: false, nosid: false, applied: Vec::new() };
        for (k, v) in &self.params {
            match (k.as_str(), v.as_deref()) {
                ("nointremap", _) => {
                    state.off = true;
                    state.applied.push("nointremap".into());
                }
                // `intremap` without a value: the handler returns -EINVAL and changes nothing.
                ("intremap", Some(v)) => {
                    for o in v.split(',').filter(|o| !o.is_empty()) {
                        if o.starts_with("on") {
                            state.off = false;
                        } else if o.starts_with("off") {
                            state.off = true;
                        } else if o.starts_with("nosid") {
                            state.nosid = true;
                        }
                    }
                    state.applied.push(format!("intremap={v}"));
                }
                _ => {}
            }
        }
        (!state.applied.is_empty()).then_some(state)
    }

    /// The last value of the dotted module parameter `module.param`, `None` when absent. The
    /// caller decides whether the module can exist at all: a parameter of a module the kernel
    /// cannot have is ignored by the kernel, and must be here too.
    pub fn module_param(&self, module: &str, param: &str) -> Option<&str> {
        let key = format!("{module}.{param}");
        // The kernel treats `-` and `_` alike in parameter names (parameq).
        let same = |k: &str| k.len() == key.len() && k.bytes().zip(key.bytes()).all(|(a, b)| norm(a) == norm(b));
        self.params.iter().rev().find(|(k, _)| same(k)).and_then(|(_, v)| v.as_deref())
    }
}

fn norm(c: u8) -> u8 {
    if c == b'-' {
        b'_'
    } else {
        c
    }
}

/// Interrupt remapping as the command line leaves it, with the parameters applied, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intremap {
    /// `disable_irq_remap` after every occurrence.
    pub off: bool,
    /// `disable_sourceid_checking`: set by any `nosid`, never cleared.
    pub nosid: bool,
    /// The parameters applied, in order (`intremap=off`, `intremap=on`).
    pub applied: Vec<String>,
}

impl Intremap {
    /// `intremap=off, then intremap=on: remapping on`, for evidence.
    pub fn describe(&self) -> String {
        format!(
            "{} (applied in order: remapping {}{})",
            self.applied.join(", then "),
            if self.off { "off" } else { "on" },
            if self.nosid { ", source-id checking off" } else { "" }
        )
    }
}

/// A boolean module parameter as the kernel spells it (`Y`, `1`, `on`, ...).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim() {
        "Y" | "y" | "1" | "on" | "true" => Some(true),
        "N" | "n" | "0" | "off" | "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_options_and_stops_at_init_args() {
        let c = Cmdline::parse("BOOT_IMAGE=/vmlinuz intremap=nosid,no_x2apic_optout intel_iommu=on -- intremap=off\n");
        assert!(c.has("intremap", "nosid"));
        assert!(!c.has("intremap", "off"));
        assert_eq!(c.get("intel_iommu"), Some("on"));
        assert_eq!(parse_bool("Y\n"), Some(true));
    }

    #[test]
    fn intremap_is_applied_in_order_as_setup_irqremap_does() {
        let ir = |t: &str| Cmdline::parse(t).intremap();
        assert_eq!(ir("quiet\n"), None);
        // The last occurrence wins for on/off.
        let s = ir("intremap=off quiet intremap=on\n").unwrap();
        assert!(!s.off, "{s:?}");
        assert_eq!(s.applied, ["intremap=off", "intremap=on"]);
        assert!(s.describe().contains("remapping on"), "{}", s.describe());
        assert!(ir("intremap=on intremap=off\n").unwrap().off);
        // Within one occurrence, left to right; options match by prefix (strncmp).
        assert!(!ir("intremap=off,on\n").unwrap().off);
        assert!(ir("intremap=on,offx\n").unwrap().off);
        // nosid is never undone.
        let s = ir("intremap=nosid intremap=on\n").unwrap();
        assert!(s.nosid && !s.off);
        assert!(ir("intremap=no_x2apic_optout,nosid\n").unwrap().nosid);
        // nointremap sets the disable; a later intremap=on clears it, an earlier one does not.
        assert!(!ir("nointremap intremap=on\n").unwrap().off);
        assert!(ir("intremap=on nointremap\n").unwrap().off);
        // A bare `intremap` is rejected by the handler: nothing applied.
        assert_eq!(ir("intremap\n"), None);
        // After `--` it is init's argument, not the kernel's.
        assert_eq!(ir("quiet -- intremap=off\n"), None);
    }

    #[test]
    fn module_params_take_the_last_value_and_treat_dash_as_underscore() {
        let c =
            Cmdline::parse("vfio_iommu_type1.allow_unsafe_interrupts=0 vfio-iommu-type1.allow_unsafe_interrupts=1\n");
        assert_eq!(c.module_param("vfio_iommu_type1", "allow_unsafe_interrupts"), Some("1"));
        assert_eq!(c.module_param("iommufd", "allow_unsafe_interrupts"), None);
        assert_eq!(c.module_param("vfio_iommu_type1", "allow_unsafe"), None);
    }
}
