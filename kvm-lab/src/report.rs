//! One layout from start to numbers on any [`Machine`] (KVM or simulated), and the text report.

use std::fmt::Write as _;

use msix_policy_engine::HotWindow;

use crate::account::{account, LayoutRun, Outcome};
use crate::dispatch::{run_to_stop, DeviceIo, Dispatcher, Vcpu};
use crate::error::LabError;
use crate::guest::Entry;
use crate::layouts::Named;
use crate::map::GuestMap;
use crate::script::{self, Class};

/// Guest physical address the program writes to stop (outside RAM and every BAR).
pub const STOP_PORT: u64 = 0x0900_0000;

/// A VM that can run the guest program over one placed layout.
pub trait Machine {
    /// A fresh VM: guest RAM with the program and `entries`, a memory slot for every slot of `map`.
    fn prepare(&mut self, map: &GuestMap, entries: &[Entry]) -> Result<(), LabError>;
    /// The vCPU of the prepared VM.
    fn vcpu(&mut self) -> Result<&mut dyn Vcpu, LabError>;
    /// The script as the guest left it.
    fn entries(&self) -> Result<Vec<Entry>, LabError>;
    /// Tears the VM down (slots, mappings).
    fn finish(&mut self);
}

/// Runs one layout and accounts it. `device_table` reads the device's own MSI-X table through
/// VFIO (None when the device has none).
pub fn run_layout(
    m: &mut dyn Machine,
    named: &Named,
    hot: &[HotWindow],
    iterations: u64,
    dev: &dyn DeviceIo,
    region_offset: &dyn Fn(u8) -> u64,
    device_table: &dyn Fn() -> Option<Vec<u8>>,
) -> Result<LayoutRun, LabError> {
    let layout = &named.layout;
    let map = GuestMap::new(layout)?;
    let accesses = script::build(layout, hot, iterations)?;
    let predicted = script::predict(layout, &accesses)?;
    let entries = script::entries(&map, &accesses, STOP_PORT)?;
    let before = device_table();
    m.prepare(&map, &entries)?;
    let mut d = Dispatcher::new(&map, dev, region_offset, layout.msix, STOP_PORT);
    let max = predicted.iter().sum::<u64>() * 2 + 1000;
    eprintln!(
        "kvm-lab: {}: {} slots, {} trapped ranges, {} accesses, {} exits predicted",
        named.name,
        map.slots.len(),
        map.traps.len(),
        accesses.iter().map(|a| a.count).sum::<u64>(),
        predicted.iter().sum::<u64>()
    );
    let ran = m.vcpu().and_then(|v| run_to_stop(v, &mut d, max).map_err(LabError::from));
    let left = m.entries();
    m.finish();
    ran.map_err(|e| LabError::Layout { layout: named.name, source: Box::new(e) })?;
    let left = left?;
    let after = device_table();
    let out = Outcome { entries: &left, device_table_before: before, device_table_after: after };
    Ok(account(named, &map, &accesses, &predicted, &d, &out))
}

/// The text report of one device: a row per layout, exits per 1,000 accesses per class, then
/// each layout's checks.
pub fn render(device: &str, runs: &[LayoutRun]) -> String {
    let mut s = String::new();
    let page = runs.first().map_or(0, |r| r.page_size);
    let _ = writeln!(s, "device {device}, {} KiB host pages", page / 1024);
    let _ = writeln!(
        s,
        "{:<24} {:<11} {:>5} {:>5}  {:>20} {:>20} {:>20} {:>20} {:>20}  checks",
        "layout",
        "exposure",
        "slots",
        "traps",
        "page sweep",
        "register (CAP)",
        "doorbells",
        "table writes",
        "table reads",
    );
    for r in runs {
        let cell = |c: Class| {
            r.rows.iter().find(|x| x.class == c).map_or("-".to_string(), |x| {
                format!("{}/{} ({:.0}‰) p{}", x.measured, x.accesses, x.per_mille(), x.predicted)
            })
        };
        let _ = writeln!(
            s,
            "{:<24} {:<11} {:>5} {:>5}  {:>20} {:>20} {:>20} {:>20} {:>20}  {}",
            r.name,
            if r.relocated && r.exposure != "relocate" { format!("{}+reloc", r.exposure) } else { r.exposure.clone() },
            r.slots,
            r.traps,
            cell(Class::PageSweep),
            cell(Class::Register),
            cell(Class::Doorbell),
            cell(Class::TableWrite),
            cell(Class::TableRead),
            if r.ok() { "PASS" } else { "FAIL" }
        );
    }
    let _ = writeln!(s, "cells: measured exits/accesses (exits per 1,000 accesses) p<predicted exits>");
    for r in runs {
        let _ = writeln!(s, "  {} ({}):", r.name, r.how);
        for c in &r.checks {
            let _ = writeln!(s, "    [{}] {}", if c.ok { "ok" } else { "FAIL" }, c.what);
        }
        let h = r.handlers;
        let _ = writeln!(
            s,
            "    exits {}: emulate-msix-table {}, emulate-msix-pba {}, forward-to-device {}, read-zero {}",
            r.exits, h.emulate_msix_table, h.emulate_msix_pba, h.forward_to_device, h.read_zero
        );
    }
    s
}
