//! Decisions across a fleet: an audit as a Node Feature Discovery feature file (node labels a
//! scheduler can select on) and as a Prometheus textfile-collector file (metrics to alert on).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::policy::{Exposure, Risk};
use crate::AuditReport;

/// The namespace of every NFD label this writes.
pub const NFD_PREFIX: &str = "msix-policy.io";

/// What a fleet export adds to the audit, so that a file nobody refreshes shows it.
#[derive(Debug, Clone, Copy)]
pub struct ExportOptions {
    /// When the audit ran: the Prometheus last-success gauge, the base of the NFD expiry.
    pub now: SystemTime,
    /// NFD: the labels expire this long after `now` (`# +expiry-time=`).
    pub expiry: Option<Duration>,
    /// Prometheus: one series per function (info, trapped and collateral bytes). Off for hosts
    /// with thousands of functions: the host's totals stay.
    pub device_series: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions { now: SystemTime::now(), expiry: None, device_series: true }
    }
}

fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// RFC 3339 in UTC (`2026-12-02T10:00:00Z`), as NFD's `# +expiry-time` takes it.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = unix_seconds(t);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's days_from_civil, inverted).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

const EXPOSURES: [Exposure; 5] =
    [Exposure::Passthrough, Exposure::Relocate, Exposure::Trap, Exposure::Refuse, Exposure::None];
const RISKS: [Risk; 3] = [Risk::None, Risk::SelfOnly, Risk::Unsafe];

/// The host's isolation over its devices: `isolated` when every device is, `not-isolated` when
/// none is, `partial` otherwise (`none` without devices).
fn host_isolation(r: &AuditReport) -> &'static str {
    let isolated = r.devices.iter().filter(|d| d.decision.isolation.is_isolated()).count();
    match (isolated, r.devices.len()) {
        (_, 0) => "none",
        (i, n) if i == n => "isolated",
        (0, _) => "not-isolated",
        _ => "partial",
    }
}

/// A label value NFD and Kubernetes accept: at most 63 characters of `[A-Za-z0-9_.-]`, starting
/// and ending with an alphanumeric (anything else becomes `_`, ends are trimmed).
pub fn label_value(s: &str) -> String {
    let mapped: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).take(63).collect();
    mapped.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()
}

/// The NFD `local` feature file (for /etc/kubernetes/node-feature-discovery/features.d/):
/// `msix-policy.io/<name>=<value>` lines under a comment header.
pub fn nfd(r: &AuditReport, opts: &ExportOptions) -> String {
    let mut out = String::new();
    if let Some(expiry) = opts.expiry {
        // NFD's local source drops the file's features after this time (features.d directives).
        let _ = writeln!(out, "# +expiry-time={}", rfc3339(opts.now + expiry));
    }
    let _ = writeln!(out, "# msix-policy audit of {}", r.root.replace(|c: char| c.is_control(), " "));
    let mut label = |name: &str, value: String| {
        let _ = writeln!(out, "{NFD_PREFIX}/{name}={}", label_value(&value));
    };
    label("isolation", host_isolation(r).into());
    label("platform", crate::diff::json_name(&r.host.platform).unwrap_or_default());
    label("page-size", r.host.page_size.to_string());
    label("devices", r.devices.len().to_string());
    label("assignable", r.devices.iter().filter(|d| d.decision.assignable).count().to_string());
    for e in EXPOSURES {
        let n = r.devices.iter().filter(|d| d.decision.exposure == e).count();
        label(&format!("exposure-{}", e.as_str()), n.to_string());
    }
    let unsafe_ = r.devices.iter().filter(|d| d.decision.risk == Risk::Unsafe).count();
    label("risk-unsafe", unsafe_.to_string());
    label("unsafe", (unsafe_ > 0).to_string());
    out
}

/// A Prometheus label value: backslash, double quote and line feed escaped.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
}

/// A node_exporter textfile-collector file (text exposition format 0.0.4): gauges by exposure
/// and risk, one info series per device, trapped and collateral bytes per planned device.
pub fn prometheus(r: &AuditReport, opts: &ExportOptions) -> String {
    let mut out = String::new();
    let h = &r.host;
    family(
        &mut out,
        "msix_policy_last_success_timestamp_seconds",
        "When this audit ran (Unix time): alert when it ages.",
    );
    let _ = writeln!(out, "msix_policy_last_success_timestamp_seconds {}", unix_seconds(opts.now));
    family(&mut out, "msix_policy_host_info", "The audited host (value 1).");
    let _ = writeln!(
        out,
        "msix_policy_host_info{{arch=\"{}\",kernel=\"{}\",platform=\"{}\",page_size=\"{}\",isolation=\"{}\"}} 1",
        esc(&h.arch),
        esc(&h.kernel),
        esc(&crate::diff::json_name(&h.platform).unwrap_or_default()),
        h.page_size,
        host_isolation(r)
    );
    family(&mut out, "msix_policy_devices", "PCI functions by MSI-X table exposure and risk.");
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for e in EXPOSURES {
        for k in RISKS {
            counts.insert((e.as_str(), k.as_str()), 0);
        }
    }
    for d in &r.devices {
        *counts.entry((d.decision.exposure.as_str(), d.decision.risk.as_str())).or_default() += 1;
    }
    for ((e, k), n) in &counts {
        let _ = writeln!(out, "msix_policy_devices{{exposure=\"{e}\",risk=\"{k}\"}} {n}");
    }
    family(&mut out, "msix_policy_unsafe_devices", "PCI functions assignable with risk unsafe.");
    let unsafe_ = r.devices.iter().filter(|d| d.decision.risk == Risk::Unsafe).count();
    let _ = writeln!(out, "msix_policy_unsafe_devices {unsafe_}");
    if !opts.device_series {
        return out;
    }
    family(&mut out, "msix_policy_device_info", "One PCI function's decision (value 1).");
    for d in &r.devices {
        let dec = &d.decision;
        let _ = writeln!(
            out,
            "msix_policy_device_info{{address=\"{}\",exposure=\"{}\",risk=\"{}\",isolation=\"{}\",assignable=\"{}\",driver=\"{}\"}} 1",
            esc(&d.address),
            dec.exposure.as_str(),
            dec.risk.as_str(),
            dec.isolation.status(),
            dec.assignable,
            esc(d.facts.driver.as_deref().unwrap_or(""))
        );
    }
    family(
        &mut out,
        "msix_policy_trapped_bytes",
        "Bytes of the function's BARs that trap (each access exits to the VMM); refused functions have no plan.",
    );
    for d in &r.devices {
        if let Some(p) = &d.decision.plan {
            let _ = writeln!(out, "msix_policy_trapped_bytes{{address=\"{}\"}} {}", esc(&d.address), p.trapped_bytes());
        }
    }
    family(
        &mut out,
        "msix_policy_collateral_bytes",
        "Trapped bytes outside the 4 KiB ranges of the MSI-X table and PBA (other registers that exit).",
    );
    for d in &r.devices {
        if let Some(p) = &d.decision.plan {
            let _ = writeln!(
                out,
                "msix_policy_collateral_bytes{{address=\"{}\"}} {}",
                esc(&d.address),
                p.collateral_bytes()
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_trimmed_to_the_kubernetes_syntax() {
        assert_eq!(super::label_value("x86-vtd"), "x86-vtd");
        assert_eq!(super::label_value("-a b/c-"), "a_b_c");
        assert_eq!(super::label_value(&"x".repeat(80)).len(), 63);
        assert_eq!(super::label_value("--"), "");
    }

    #[test]
    fn rfc3339_dates_cross_months_leap_days_and_years() {
        use std::time::{Duration, UNIX_EPOCH};
        let at = |s: u64| super::rfc3339(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_796_256_000 - 1), "2026-12-02T23:59:59Z");
        assert_eq!(at(1_798_761_600), "2027-01-01T00:00:00Z");
    }
}
