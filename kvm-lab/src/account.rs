//! From a finished run to the numbers and the checks: measured exits per access against the
//! layout's prediction, per class; no exit on a mapped page; the MSI-X table writes caught where
//! the guest sees the table, read back intact, and the device's own table untouched.

use serde::Serialize;

use msix_policy_engine::{Layout, TrapContents};

use crate::dispatch::{Dispatcher, HandlerCounts};
use crate::guest::Entry;
use crate::layouts::Named;
use crate::map::{GuestMap, Hit};
use crate::script::{Access, Class};

/// Accesses and exits of one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClassRow {
    /// The class these counts are for.
    pub class: Class,
    /// Accesses the guest made of this class, each repetition counted.
    pub accesses: u64,
    /// Exits the layout predicts for them ([`crate::script::predict`]).
    pub predicted: u64,
    /// Exits the dispatcher counted at their (address, direction).
    pub measured: u64,
}

impl ClassRow {
    /// Exits per 1,000 accesses.
    pub fn per_mille(&self) -> f64 {
        if self.accesses == 0 {
            0.0
        } else {
            self.measured as f64 * 1000.0 / self.accesses as f64
        }
    }
}

/// One pass/fail check of a run, as the report prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked, with its figures or its first failures (at most six listed).
    pub what: String,
    /// Whether it held.
    pub ok: bool,
}

/// One layout's run, accounted.
#[derive(Debug, Clone, Serialize)]
pub struct LayoutRun {
    /// The layout's name ([`Named::name`]).
    pub name: String,
    /// How the layout was made ([`Named::how`]).
    pub how: String,
    /// The layout's MSI-X exposure, as the audit spells it (`trap`, `relocate`, ...).
    pub exposure: String,
    /// The host page size the layout was planned for, in bytes.
    pub page_size: u64,
    /// Whether the guest sees the MSI-X table moved (`GuestMsix::relocated`).
    pub relocated: bool,
    /// Memory slots of the placed layout: ranges the guest reaches without an exit.
    pub slots: usize,
    /// Trapped ranges of the placed layout: ranges that exit to the VMM.
    pub traps: usize,
    /// Accesses and exits per class, in [`Class`] order; a class the script did not use has no row.
    pub rows: Vec<ClassRow>,
    /// MMIO exits the VMM served, the stop port's excluded.
    pub exits: u64,
    /// The exits in trapped ranges, by the handler that served them.
    pub handlers: HandlerCounts,
    /// The run's checks, in the order the report prints them.
    pub checks: Vec<Check>,
}

impl LayoutRun {
    /// Whether every check held (the report's PASS).
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

/// What the run left behind, besides the dispatcher's counts.
pub struct Outcome<'a> {
    /// The script as the guest left it (reads store their last value).
    pub entries: &'a [Entry],
    /// The device's own table bytes, read through VFIO before the run; `None` when the device
    /// has no MSI-X table.
    pub device_table_before: Option<Vec<u8>>,
    /// The same bytes read after the run, to compare with `device_table_before`.
    pub device_table_after: Option<Vec<u8>>,
}

/// Accounts one run.
pub fn account(
    named: &Named,
    map: &GuestMap,
    accesses: &[Access],
    predicted: &[u64],
    d: &Dispatcher<'_>,
    out: &Outcome<'_>,
) -> LayoutRun {
    let (name, how, layout) = (named.name, named.how.as_str(), &named.layout);
    let mut checks = Vec::new();
    let mut rows: Vec<ClassRow> = Vec::new();
    let mut mismatches = Vec::new();
    let mut mapped_exits = 0;
    let mut trapped_short = Vec::new();
    for (i, a) in accesses.iter().enumerate() {
        let gpa = map.gpa(a.bar, a.offset).unwrap_or(u64::MAX);
        let measured = d.by_address.get(&(gpa, a.write)).copied().unwrap_or(0);
        let p = predicted.get(i).copied().unwrap_or(0);
        if measured != p {
            mismatches.push(format!(
                "BAR{} {:#x} {}: {measured} exits, predicted {p}",
                a.bar,
                a.offset,
                a.class.as_str()
            ));
        }
        match map.lookup(gpa) {
            Some(Hit::Slot(_)) => mapped_exits += measured,
            Some(Hit::Trap(_)) if measured != a.count => {
                trapped_short.push(format!("BAR{} {:#x}: {measured} of {}", a.bar, a.offset, a.count));
            }
            _ => {}
        }
        match rows.iter_mut().find(|r| r.class == a.class) {
            Some(r) => {
                r.accesses += a.count;
                r.predicted += p;
                r.measured += measured;
            }
            None => rows.push(ClassRow { class: a.class, accesses: a.count, predicted: p, measured }),
        }
    }
    rows.sort_by_key(|r| r.class);
    let accounted: u64 = rows.iter().map(|r| r.measured).sum();
    checks.push(Check {
        what: format!("every measured count equals the layout's prediction{}", list(&mismatches)),
        ok: mismatches.is_empty(),
    });
    checks.push(Check {
        what: format!(
            "no exit on a mapped page ({mapped_exits} exits on accesses to memory slots, {} in slots)",
            d.in_slot
        ),
        ok: mapped_exits == 0 && d.in_slot == 0,
    });
    checks.push(Check {
        what: format!("one exit per access on a trapped page{}", list(&trapped_short)),
        ok: trapped_short.is_empty(),
    });
    checks.push(Check {
        what: format!(
            "every exit belongs to an access of the script ({} exits, {accounted} accounted, {} outside every range)",
            d.exits,
            d.unbacked.len()
        ),
        ok: d.exits == accounted && d.unbacked.is_empty(),
    });
    table_checks(layout, accesses, d, out, &mut checks);
    LayoutRun {
        name: name.into(),
        how: how.into(),
        exposure: layout.exposure.as_str().into(),
        page_size: layout.page_size,
        relocated: layout.msix.is_some_and(|m| m.relocated),
        slots: map.slots.len(),
        traps: map.traps.len(),
        rows,
        exits: d.exits,
        handlers: d.handlers,
        checks,
    }
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        String::new()
    } else {
        let shown: Vec<_> = v.iter().take(6).cloned().collect();
        format!(
            ": {}{}",
            shown.join("; "),
            if v.len() > 6 { format!("; and {} more", v.len() - 6) } else { String::new() }
        )
    }
}

fn table_checks(layout: &Layout, accesses: &[Access], d: &Dispatcher<'_>, out: &Outcome<'_>, checks: &mut Vec<Check>) {
    let writes: Vec<(usize, &Access)> =
        accesses.iter().enumerate().filter(|(_, a)| a.class == Class::TableWrite).collect();
    if writes.is_empty() {
        return;
    }
    // Read back: each table read stores what it read; it must be what the write before it wrote.
    let mut bad = Vec::new();
    for (i, r) in accesses.iter().enumerate().filter(|(_, a)| a.class == Class::TableRead) {
        let wrote = writes.iter().find(|(_, w)| w.bar == r.bar && w.offset == r.offset).map(|(_, w)| w.value);
        let read = out.entries.get(i).map(|e| e.value as u32);
        if wrote != read {
            bad.push(format!("BAR{} {:#x}: wrote {wrote:#x?}, read back {read:#x?}", r.bar, r.offset));
        }
    }
    checks.push(Check { what: format!("table entries read back as written{}", list(&bad)), ok: bad.is_empty() });
    let holds = writes.first().and_then(|(_, w)| crate::script::holds(layout, w));
    let caught = d.table_writes.len();
    match holds {
        Some(TrapContents::VirtualTable) => checks.push(Check {
            what: format!(
                "relocation: the {} table writes landed in the virtual table ({caught} emulated)",
                writes.len()
            ),
            ok: caught == writes.len(),
        }),
        Some(TrapContents::Table) => checks.push(Check {
            what: format!("trap: the {} table writes were caught and emulated ({caught} emulated)", writes.len()),
            ok: caught == writes.len(),
        }),
        other => checks.push(Check {
            what: format!("the guest's table is {other:?}: its writes reach the device directly"),
            ok: caught == 0,
        }),
    }
    if let (Some(before), Some(after)) = (&out.device_table_before, &out.device_table_after) {
        let direct = holds.is_none();
        checks.push(Check {
            what: if direct {
                "the device's own table changed only by the guest's direct writes (read back through VFIO)".into()
            } else {
                "the device's own table is unchanged (read back through VFIO)".into()
            },
            ok: direct || before == after,
        });
    }
}
