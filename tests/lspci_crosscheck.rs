//! Cross-check against pciutils, an implementation nobody here wrote: for every function of every
//! fixture, the MSI-X table and PBA (BAR and offset) and the vector count decoded here equal what
//! `lspci -A linux-sysfs -O sysfs.path=<fixture>/sys/bus/pci -vv` prints. Skipped, with a message,
//! when lspci is missing (.ci/run installs pciutils).

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use msix_policy::policy::MsixFacts;
use msix_policy::{audit, AuditOptions};

/// What lspci says of one function's MSI-X: (count, table BAR, table offset, PBA BAR, PBA offset).
type LspciMsix = (u16, u8, u32, u8, u32);

fn lspci(fixture: &std::path::Path) -> Option<BTreeMap<String, Option<LspciMsix>>> {
    let path = fixture.join("sys/bus/pci");
    let out = Command::new("lspci")
        .args(["-A", "linux-sysfs", "-O"])
        .arg(format!("sysfs.path={}", path.display()))
        .args(["-D", "-vv"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut map = BTreeMap::new();
    let mut current: Option<String> = None;
    let (mut count, mut table) = (None, None);
    let hex = |s: &str| u32::from_str_radix(s, 16).unwrap();
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) && line.len() > 12 {
            current = Some(line[..12].to_string());
            map.insert(line[..12].to_string(), None);
            continue;
        }
        let l = line.trim();
        if let Some(rest) = l.split_once("MSI-X: ").map(|p| p.1) {
            count = rest.split_whitespace().find_map(|w| w.strip_prefix("Count=")).map(|c| c.parse::<u16>().unwrap());
        } else if let Some(rest) = l.strip_prefix("Vector table: BAR=") {
            let (bar, off) = rest.split_once(" offset=").unwrap();
            table = Some((bar.parse::<u8>().unwrap(), hex(off)));
        } else if let Some(rest) = l.strip_prefix("PBA: BAR=") {
            let (bar, off) = rest.split_once(" offset=").unwrap();
            let (tb, to) = table.take().expect("PBA after Vector table");
            let entry = (count.take().expect("Count before PBA"), tb, to, bar.parse::<u8>().unwrap(), hex(off));
            map.insert(current.clone().unwrap(), Some(entry));
        }
    }
    Some(map)
}

#[test]
fn msix_decoding_matches_lspci_on_every_fixture() {
    if Command::new("lspci").arg("--version").output().is_err() {
        eprintln!("SKIPPED: lspci (pciutils) is not installed; `apt-get install pciutils` to run this cross-check");
        return;
    }
    let mut compared = 0;
    for f in common::fixtures() {
        let theirs = lspci(&f).expect("lspci runs");
        let ours = audit(&f, &AuditOptions::default()).unwrap();
        assert_eq!(
            theirs.keys().collect::<Vec<_>>(),
            ours.devices.iter().map(|d| &d.address).collect::<Vec<_>>(),
            "{}: lspci and msix-policy list different functions",
            common::name(&f)
        );
        for d in &ours.devices {
            let lspci_msix = theirs[&d.address];
            match (&d.facts.msix, lspci_msix) {
                (MsixFacts::Present { capability: c }, Some(l)) => {
                    let mine = (c.table_size, c.table_bir, c.table_offset, c.pba_bir, c.pba_offset);
                    assert_eq!(mine, l, "{} {}", common::name(&f), d.address);
                    compared += 1;
                }
                (MsixFacts::Absent, None) => {}
                // Unreadable here (a 64-byte config): lspci cannot see it either.
                (MsixFacts::Unknown { .. }, None) => {}
                (mine, l) => panic!("{} {}: msix-policy {mine:?}, lspci {l:?}", common::name(&f), d.address),
            }
        }
    }
    println!("compared the MSI-X decoding of {compared} functions with lspci");
    assert!(compared >= 20, "only {compared} functions compared");
}
