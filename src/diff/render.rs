//! Printing a diff: text for a person, Markdown for a pull request, the diff JSON.

use std::fmt::Write as _;

use serde_json::Value;

use super::{Class, DeviceDiff, DiffReport, Presence, SideInfo, Summary};

/// How to print a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Text for a person ([`text`]).
    Text,
    /// The diff JSON (`msix-policy/diff/v1`).
    Json,
    /// Markdown for a pull request or a ticket ([`markdown`]).
    Markdown,
}

/// The diff in `format`; `colour` adds ANSI colours to text (when stdout is a terminal).
pub fn render(r: &DiffReport, format: Format, colour: bool) -> Result<String, serde_json::Error> {
    match format {
        Format::Text => Ok(text(r, colour)),
        Format::Markdown => Ok(markdown(r)),
        Format::Json => serde_json::to_string_pretty(r).map(|s| s + "\n"),
    }
}

fn side_line(s: &SideInfo) -> String {
    match &s.host {
        Some(h) => format!(
            "{} ({} devices; {} {}, kernel {}, {} B pages)",
            s.source, s.devices, h.arch, h.platform, h.kernel, h.page_size
        ),
        None => format!("{} ({} devices)", s.source, s.devices),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(show).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

fn summary_line(s: &Summary) -> String {
    format!(
        "{}, {}, exposure {}, risk {}, trapped {}",
        s.isolation.as_str(),
        if s.assignable { "assignable" } else { "not assignable" },
        s.exposure.as_str(),
        s.risk.as_str(),
        s.trapped_bytes.map_or("-".into(), |b| format!("{b} B"))
    )
}

fn verdict(r: &DiffReport) -> &'static str {
    if r.less_safe {
        "something became less safe (exit 1)"
    } else {
        "nothing became less safe"
    }
}

/// Text for a person; colours only when asked.
pub fn text(r: &DiffReport, colour: bool) -> String {
    let paint = |class: Class, s: &str| -> String {
        if !colour {
            return s.to_string();
        }
        let code = match class {
            Class::LessSafe => "1;31",
            Class::Safer => "32",
            Class::CostOnly => "33",
            Class::Same => "2",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    };
    let mut out = String::new();
    let _ = writeln!(out, "msix-policy diff\nold: {}\nnew: {}", side_line(&r.old), side_line(&r.new));
    for h in &r.host_changes {
        let _ = writeln!(out, "host {}: {} -> {}", h.field, h.old, h.new);
    }
    let c = &r.counts;
    let _ = writeln!(
        out,
        "{} less-safe, {} safer, {} cost-only, {} same; {} added, {} removed",
        c.less_safe, c.safer, c.cost_only, c.same, c.added, c.removed
    );
    let mut unchanged = 0usize;
    for d in &r.devices {
        if d.is_unchanged() {
            unchanged += 1;
            continue;
        }
        let label = paint(d.class, &d.class.as_str().to_uppercase());
        match d.presence {
            Presence::Both => {
                let _ = writeln!(out, "\n{label} {}", d.address);
            }
            Presence::Added | Presence::Removed => {
                let what = if d.presence == Presence::Added { "added" } else { "removed" };
                let s = d.new.as_ref().or(d.old.as_ref()).map(summary_line).unwrap_or_default();
                let _ = writeln!(out, "\n{label} {} {what}: {s}", d.address);
                continue;
            }
        }
        for ch in &d.changes {
            let note = ch.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<22} {} -> {}  {}{note}",
                ch.field,
                show(&ch.old),
                show(&ch.new),
                paint(ch.class, ch.class.as_str())
            );
        }
        for (what, rules) in [("rule removed", &d.rules_removed), ("rule added", &d.rules_added)] {
            for rule in rules {
                let _ = writeln!(out, "  {what}: {}: {}", rule.rule, rule.detail);
                for e in &rule.evidence {
                    let _ = writeln!(out, "      evidence: {}: {}", e.source, e.observed);
                }
            }
        }
    }
    if unchanged > 0 {
        let _ = writeln!(out, "\n{unchanged} devices unchanged");
    }
    let _ = writeln!(out, "\nresult: {}", verdict(r));
    out
}

/// `|` and line breaks would break a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Markdown for a pull request or a ticket.
pub fn markdown(r: &DiffReport) -> String {
    let mut out = String::new();
    let c = &r.counts;
    let _ = writeln!(out, "## msix-policy diff\n");
    let _ = writeln!(out, "- old: `{}`\n- new: `{}`", cell(&side_line(&r.old)), cell(&side_line(&r.new)));
    for h in &r.host_changes {
        let _ = writeln!(out, "- host {}: `{}` -> `{}`", h.field, cell(&h.old), cell(&h.new));
    }
    let _ = writeln!(
        out,
        "- **{} less-safe**, {} safer, {} cost-only, {} same; {} added, {} removed\n- result: {}\n",
        c.less_safe,
        c.safer,
        c.cost_only,
        c.same,
        c.added,
        c.removed,
        verdict(r)
    );
    let changed: Vec<&DeviceDiff> = r.devices.iter().filter(|d| !d.is_unchanged()).collect();
    if changed.is_empty() {
        let _ = writeln!(out, "No device changed.");
        return out;
    }
    let _ = writeln!(out, "| device | class | field | old | new | change | note |\n|---|---|---|---|---|---|---|");
    for d in &changed {
        let class = if d.class == Class::LessSafe { "**less-safe**".to_string() } else { d.class.as_str().to_string() };
        match d.presence {
            Presence::Added | Presence::Removed => {
                let (field, old, new) = match d.presence {
                    Presence::Added => ("added", "-".to_string(), d.new.as_ref().map(summary_line).unwrap_or_default()),
                    _ => ("removed", d.old.as_ref().map(summary_line).unwrap_or_default(), "-".to_string()),
                };
                let _ = writeln!(out, "| `{}` | {class} | {field} | {} | {} | | |", d.address, cell(&old), cell(&new));
            }
            Presence::Both => {
                if d.changes.is_empty() {
                    let _ = writeln!(out, "| `{}` | {class} | rules | | | same | see below |", d.address);
                }
                for ch in &d.changes {
                    let _ = writeln!(
                        out,
                        "| `{}` | {class} | {} | {} | {} | {} | {} |",
                        d.address,
                        ch.field,
                        cell(&show(&ch.old)),
                        cell(&show(&ch.new)),
                        ch.class.as_str(),
                        cell(ch.note.as_deref().unwrap_or(""))
                    );
                }
            }
        }
    }
    let with_rules: Vec<&&DeviceDiff> = changed
        .iter()
        .filter(|d| d.presence == Presence::Both && !(d.rules_added.is_empty() && d.rules_removed.is_empty()))
        .collect();
    if !with_rules.is_empty() {
        let _ = writeln!(out, "\n### Rules that changed\n");
        for d in with_rules {
            let _ = writeln!(out, "- `{}`", d.address);
            for (what, rules) in [("removed", &d.rules_removed), ("added", &d.rules_added)] {
                for rule in rules {
                    let _ = writeln!(out, "  - {what} `{}`: {}", rule.rule, cell(&rule.detail));
                    for e in &rule.evidence {
                        let _ = writeln!(out, "    - evidence `{}`: {}", cell(&e.source), cell(&e.observed));
                    }
                }
            }
        }
    }
    out
}
