//! The kernel command line (`/proc/cmdline`), up to the `--` that starts init's arguments.

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
}
