//! `audit --format nfd` and `audit --format prometheus`, checked against their formats on every
//! fixture: the NFD local feature file against the documented label rules, the Prometheus text
//! exposition with a real parser (prometheus-parse) and a strict line grammar.

mod common;

use common::run_cli as run;

use std::collections::{BTreeMap, BTreeSet, HashMap};

fn audit(fixture: &std::path::Path, format: &str) -> String {
    let o = run(&["audit", "--root", fixture.to_str().unwrap(), "--format", format]);
    assert!(o.status.success(), "{}: {}", common::name(fixture), String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn audit_json(fixture: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&audit(fixture, "json")).unwrap()
}

// ---- NFD: the local feature source's file format and Kubernetes label syntax ----

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63 characters (a label name or value).
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

/// An RFC 1123 DNS subdomain: at most 253 characters, dot-separated lowercase labels of at most
/// 63 characters, alphanumeric at both ends, `-` inside.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

/// Parses an NFD feature file (`# comment` lines, `<prefix>/<name>[=<value>]` lines) with the
/// documented rules, returning the labels; any violation is an error naming the line.
fn parse_nfd(text: &str) -> Result<BTreeMap<String, String>, String> {
    if text.len() > 64 * 1024 {
        return Err(format!("{} bytes: NFD ignores feature files over 64 kB", text.len()));
    }
    let mut labels = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or((line, "true"));
        let (prefix, name) = key.split_once('/').ok_or(format!("line {n}: {key}: no namespace prefix"))?;
        if !is_dns_subdomain(prefix) {
            return Err(format!("line {n}: prefix {prefix} is not a DNS subdomain"));
        }
        if prefix == "kubernetes.io" || prefix.ends_with(".kubernetes.io") || prefix.ends_with("k8s.io") {
            return Err(format!("line {n}: prefix {prefix} is reserved"));
        }
        if !is_qualified_name_part(name) {
            return Err(format!("line {n}: name {name} is not a label name"));
        }
        if !value.is_empty() && !is_qualified_name_part(value) {
            return Err(format!("line {n}: value {value:?} is not a label value"));
        }
        if labels.insert(key.to_string(), value.to_string()).is_some() {
            return Err(format!("line {n}: {key} twice"));
        }
    }
    Ok(labels)
}

#[test]
fn the_nfd_validator_rejects_what_kubernetes_rejects() {
    assert!(parse_nfd("msix-policy.io/a=b\n").is_ok());
    assert!(parse_nfd("# comment\n# +expiry-time=2080-07-28T11:22:33Z\nvendor.io/x\n").is_ok());
    assert!(parse_nfd("noprefix=1\n").is_err());
    assert!(parse_nfd("Msix.IO/a=1\n").is_err());
    assert!(parse_nfd("msix-policy.io/a=has space\n").is_err());
    assert!(parse_nfd(&format!("msix-policy.io/a={}\n", "x".repeat(64))).is_err());
    assert!(parse_nfd("msix-policy.io/-a=1\n").is_err());
    assert!(parse_nfd("msix-policy.io/a=1\nmsix-policy.io/a=2\n").is_err());
    assert!(parse_nfd("msix-policy.io/a=-x\n").is_err());
}

#[test]
fn nfd_labels_are_valid_and_count_the_devices_by_exposure() {
    for f in common::fixtures() {
        let name = common::name(&f);
        let text = audit(&f, "nfd");
        let labels = parse_nfd(&text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
        let json = audit_json(&f);
        let devices = json["devices"].as_array().unwrap();
        assert_eq!(labels["msix-policy.io/devices"], devices.len().to_string(), "{name}");
        let mut total = 0;
        for e in ["passthrough", "relocate", "trap", "refuse", "none"] {
            let n = devices.iter().filter(|d| d["exposure"] == e).count();
            assert_eq!(labels[&format!("msix-policy.io/exposure-{e}")], n.to_string(), "{name} {e}");
            total += n;
        }
        assert_eq!(total, devices.len());
        let unsafe_ = devices.iter().filter(|d| d["risk"] == "unsafe").count();
        assert_eq!(labels["msix-policy.io/risk-unsafe"], unsafe_.to_string(), "{name}");
        assert_eq!(labels["msix-policy.io/unsafe"], (unsafe_ > 0).to_string(), "{name}");
        let isolated = devices.iter().filter(|d| d["isolation"] == "isolated").count();
        let expect = match isolated {
            i if i == devices.len() => "isolated",
            0 => "not-isolated",
            _ => "partial",
        };
        assert_eq!(labels["msix-policy.io/isolation"], expect, "{name}");
        assert_eq!(labels["msix-policy.io/platform"], json["host"]["platform"].as_str().unwrap(), "{name}");
    }
    // The bundled recordings cover the interesting values.
    let unsafe_ = parse_nfd(&audit(&common::fixture("qemu/x86-q35-allow-unsafe"), "nfd")).unwrap();
    assert_eq!(unsafe_["msix-policy.io/unsafe"], "true");
    let relocate = parse_nfd(&audit(&common::fixture("synthetic/arm64-its-64k"), "nfd")).unwrap();
    // The NVMe relocates; the e1000e's 16 KiB BAR3 is a dedicated MSI-X BAR, so it traps
    // (exposure.trap.dedicated-msix-bar).
    assert_eq!(relocate["msix-policy.io/exposure-relocate"], "1");
}

// ---- Prometheus text exposition format (0.0.4) ----

fn is_metric_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b"_:".contains(&b[0]))
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"_:".contains(c))
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && !s.starts_with("__")
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// `{name="value",...}` with the format's escapes; returns the pairs.
fn parse_labels(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").ok_or(format!("{s}: no =\""))?;
        if !is_label_name(name) {
            return Err(format!("{s}: label name {name}"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    other => return Err(format!("{s}: bad escape {other:?}")),
                },
                Some((i, '"')) => break i,
                Some((_, '\n')) => return Err(format!("{s}: raw line feed")),
                Some((_, c)) => value.push(c),
                None => return Err(format!("{s}: unterminated value")),
            }
        };
        out.push((name.to_string(), value));
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    Ok(out)
}

/// The strict grammar: every line a HELP, a TYPE (gauge, before its samples) or a sample of a
/// declared family; no series twice.
fn check_exposition(text: &str) -> Result<usize, String> {
    if !text.ends_with('\n') {
        return Err("the last line has no line feed".into());
    }
    let mut typed: HashMap<String, String> = HashMap::new();
    let mut helped: BTreeSet<String> = BTreeSet::new();
    let mut series: BTreeSet<String> = BTreeSet::new();
    let mut samples = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').ok_or(format!("{line}: HELP without text"))?;
            if !is_metric_name(name) || !helped.insert(name.to_string()) {
                return Err(format!("{line}: bad or repeated HELP"));
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or(format!("{line}: TYPE without type"))?;
            if kind != "gauge" || typed.insert(name.to_string(), kind.to_string()).is_some() {
                return Err(format!("{line}: bad or repeated TYPE"));
            }
        } else if line.starts_with('#') || line.is_empty() {
            return Err(format!("{line:?}: unexpected comment or blank line"));
        } else {
            let (head, value) = line.rsplit_once(' ').ok_or(format!("{line}: no value"))?;
            value.parse::<f64>().map_err(|e| format!("{line}: value {e}"))?;
            let (name, labels) = match head.split_once('{') {
                Some((n, l)) => (n, l.strip_suffix('}').ok_or(format!("{line}: unclosed labels"))?),
                None => (head, ""),
            };
            if !is_metric_name(name) || !typed.contains_key(name) || !helped.contains(name) {
                return Err(format!("{line}: sample of an undeclared family"));
            }
            parse_labels(labels)?;
            if !series.insert(head.to_string()) {
                return Err(format!("{line}: series twice"));
            }
            samples += 1;
        }
    }
    Ok(samples)
}

#[test]
fn the_exposition_checker_rejects_what_prometheus_rejects() {
    let ok = "# HELP m h\n# TYPE m gauge\nm{a=\"x\\\"y\"} 1\n";
    assert_eq!(check_exposition(ok), Ok(1));
    assert!(check_exposition("m 1\n").is_err());
    assert!(check_exposition("# HELP m h\n# TYPE m gauge\nm{a=\"x} 1\n").is_err());
    assert!(check_exposition("# HELP m h\n# TYPE m gauge\nm 1\nm 2\n").is_err());
    assert!(check_exposition("# HELP m h\n# TYPE m gauge\nm one\n").is_err());
    assert!(check_exposition("# HELP m h\n# TYPE m gauge\nm 1").is_err());
}

#[test]
fn prometheus_files_parse_and_agree_with_the_audit() {
    use prometheus_parse::{LineInfo, Scrape, Value};
    for f in common::fixtures() {
        let name = common::name(&f);
        let text = audit(&f, "prometheus");
        let lines = check_exposition(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        // The real parser: every line is recognised, every sample read back as a gauge.
        for line in text.lines() {
            assert!(!matches!(LineInfo::parse(line), LineInfo::Ignored), "{name}: {line}");
        }
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
        assert_eq!(scrape.samples.len(), lines, "{name}");
        for m in ["msix_policy_devices", "msix_policy_device_info", "msix_policy_trapped_bytes"] {
            assert!(scrape.docs.contains_key(m), "{name}: {m}");
        }
        let json = audit_json(&f);
        let devices = json["devices"].as_array().unwrap();
        let gauge = |s: &prometheus_parse::Sample| match s.value {
            Value::Gauge(v) => v,
            ref other => panic!("{name}: {} is {other:?}", s.metric),
        };
        let mut by_exposure = 0.0;
        let mut info = 0;
        let mut trapped = 0;
        for s in &scrape.samples {
            let v = gauge(s);
            match s.metric.as_str() {
                "msix_policy_devices" => {
                    let n = devices
                        .iter()
                        .filter(|d| {
                            Some(d["exposure"].as_str().unwrap()) == s.labels.get("exposure")
                                && Some(d["risk"].as_str().unwrap()) == s.labels.get("risk")
                        })
                        .count();
                    assert_eq!(v, n as f64, "{name}: {:?}", s.labels);
                    by_exposure += v;
                }
                "msix_policy_device_info" => {
                    let addr = s.labels.get("address").unwrap();
                    let d = devices.iter().find(|d| d["address"] == addr).unwrap();
                    for k in ["exposure", "risk", "isolation"] {
                        assert_eq!(s.labels.get(k), d[k].as_str(), "{name} {addr} {k}");
                    }
                    assert_eq!(v, 1.0);
                    info += 1;
                }
                "msix_policy_trapped_bytes" => {
                    let addr = s.labels.get("address").unwrap();
                    let d = devices.iter().find(|d| d["address"] == addr).unwrap();
                    let bytes: u64 = d["plan"]["bars"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|b| b["trapped_bytes"].as_u64().unwrap())
                        .sum();
                    assert_eq!(v, bytes as f64, "{name} {addr}");
                    trapped += 1;
                }
                "msix_policy_unsafe_devices" => {
                    assert_eq!(v, devices.iter().filter(|d| d["risk"] == "unsafe").count() as f64, "{name}");
                }
                _ => {}
            }
        }
        assert_eq!(by_exposure, devices.len() as f64, "{name}");
        assert_eq!(info, devices.len(), "{name}");
        assert_eq!(trapped, devices.iter().filter(|d| !d["plan"].is_null()).count(), "{name}");
    }
}

#[test]
fn fleet_exports_cannot_go_stale_silently() {
    use prometheus_parse::{Scrape, Value};
    let f = common::fixture("qemu/x86-q35-vtd-ir");
    let root = f.to_str().unwrap();
    // NFD: with --expiry the file carries NFD's expiry directive, RFC 3339 UTC, in the future.
    let o = run(&["audit", "--root", root, "--format", "nfd", "--expiry", "3600"]);
    let text = String::from_utf8(o.stdout).unwrap();
    let first = text.lines().next().unwrap();
    let stamp = first.strip_prefix("# +expiry-time=").unwrap_or_else(|| panic!("{text}"));
    assert!(stamp.len() == 20 && stamp.ends_with('Z') && &stamp[10..11] == "T", "{stamp}");
    let now = std::time::SystemTime::now();
    let in_an_hour = msix_policy::export::rfc3339(now + std::time::Duration::from_secs(3600));
    assert!(stamp <= in_an_hour.as_str() && stamp > msix_policy::export::rfc3339(now).as_str(), "{stamp}");
    parse_nfd(&text).unwrap();
    assert!(!audit(&f, "nfd").contains("expiry-time"), "no expiry unless asked");
    // Prometheus: a last-success gauge an alert can age, and a switch for per-function series.
    let full = audit(&f, "prometheus");
    let scrape = Scrape::parse(full.lines().map(|l| Ok(l.to_string()))).unwrap();
    let stamp = scrape.samples.iter().find(|s| s.metric == "msix_policy_last_success_timestamp_seconds").unwrap();
    let Value::Gauge(t) = stamp.value else { panic!("{:?}", stamp.value) };
    let unix = now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as f64;
    assert!((unix - 60.0..=unix + 1.0).contains(&t), "{t} vs {unix}");
    let o = run(&["audit", "--root", root, "--format", "prometheus", "--no-device-series"]);
    let lean = String::from_utf8(o.stdout).unwrap();
    check_exposition(&lean).unwrap();
    assert!(!lean.contains("address="), "{lean}");
    assert!(lean.contains("msix_policy_devices{") && lean.contains("msix_policy_last_success_timestamp_seconds "));
    let series = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
    let devices = audit_json(&f)["devices"].as_array().unwrap().len();
    let planned = audit_json(&f)["devices"].as_array().unwrap().iter().filter(|d| !d["plan"].is_null()).count();
    assert_eq!(series(&full) - series(&lean), devices + 2 * planned);
}
