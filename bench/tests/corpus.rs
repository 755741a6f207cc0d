//! The public hardware corpus (corpus/pciconf-msix.tsv): the targets, the generated audit
//! document and fixture kept in step with it, and the sysfs path agreeing with the facts path.

use msix_policy::policy::{Exposure, MsixFacts};
use msix_policy_bench::corpus::{self, Entry};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn entries() -> Vec<Entry> {
    corpus::load().unwrap()
}

#[test]
fn every_layout_has_provenance_and_decodes_to_what_the_probe_shows() {
    let entries = entries();
    assert!(entries.len() >= 600, "{} layouts", entries.len());
    let header = std::fs::read_to_string(root().join(corpus::CORPUS)).unwrap();
    assert!(header.contains("https://github.com/bsdhw/PCIconf at commit "), "the source commit is recorded");
    for e in &entries {
        assert!(!e.source.is_empty() && e.reports > 0, "line {}", e.line);
        assert_eq!(e.decoded_matches(), Ok(()), "line {}", e.line);
    }
}

#[test]
fn a_broken_corpus_line_is_an_error_naming_the_line() {
    let text = "# c\nvendor\tdevice\tclass\tmsix\tbars\treports\tfamily\tname\tsource\n\
                8086\t10d3\t020000\tcap=0xa0;n=5;table=3+0x0;pba=3+0x2000\t0:m32:0x20000;3:m32:0x4000\t1\tnet\tx\tp\n\
                8086\t10d3\t020000\tcap=0xa0;n=0;table=3+0x0;pba=3+0x2000\t0:m32:0x20000\t1\tnet\tx\tp\n";
    let e = corpus::parse(text).unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    assert!(e.to_string().contains("0 vectors"), "{e}");
    assert!(corpus::parse("h\n1\t2\n").unwrap_err().to_string().contains("2 fields"));
}

#[test]
fn no_dedicated_bar_relocates_and_no_hot_window_or_untouched_bar_traps_on_16_and_64_kib_pages() {
    let entries = entries();
    for page in [16384u64, 65536] {
        let audited: Vec<_> = entries.iter().map(|e| corpus::audit(e, page).unwrap()).collect();
        let t = corpus::targets(&audited);
        let show = |idx: &[usize]| -> Vec<String> { idx.iter().map(|&i| corpus::describe(&entries[i])).collect() };
        assert!(t.relocated_dedicated.is_empty(), "{page}: {:?}", show(&t.relocated_dedicated));
        assert!(t.valid_with_collateral.len() <= 2, "{page}: {:?}", show(&t.valid_with_collateral));
        assert!(t.hot_trapped.is_empty(), "{page}: {:?}", show(&t.hot_trapped));
        assert!(t.untouched_bars_trapped.is_empty(), "{page}: {:?}", show(&t.untouched_bars_trapped));
        // And the decisions are not vacuous: most layouts move their table on pages this large,
        // dedicated MSI-X BARs (Intel NICs) trap, and every relocation leaves nothing physical trapped.
        let relocated = audited.iter().filter(|a| a.decision.exposure == Exposure::Relocate).count();
        assert!(relocated * 2 > audited.len(), "{page}: {relocated} relocations");
        let only_msix: Vec<_> = audited
            .iter()
            .filter(|a| {
                let MsixFacts::Present { capability: c } = &a.facts.msix else { return false };
                !a.forbidden && [c.table_bir, c.pba_bir].iter().all(|&b| corpus::holds_only_msix(&a.facts, c, b))
            })
            .collect();
        assert!(
            only_msix.len() >= 100,
            "{page}: {} layouts with a BAR holding only the table and PBA",
            only_msix.len()
        );
        assert!(only_msix.iter().all(|a| a.decision.exposure == Exposure::Trap && a.collateral() == 0));
        for a in audited.iter().filter(|a| a.decision.exposure == Exposure::Relocate) {
            assert_eq!(a.collateral(), 0, "{}", a.facts.address);
        }
    }
}

/// Registers beside the MSI-X structures, on the public corpus: no layout calls the bytes before an MSI-X structure in its
/// 4 KiB range free (on any page size), and relocations of a table at offset 0 beside a larger
/// memory BAR are those whose driver is unknown or maps that BAR (at most 12; 35 without the
/// driver table). Each one left is listed when the bound breaks.
#[test]
fn no_bytes_before_an_msix_structure_are_free_and_offset0_relocations_stay_bounded() {
    let entries = entries();
    for page in corpus::PAGES {
        let audited: Vec<_> = entries.iter().map(|e| corpus::audit(e, page).unwrap()).collect();
        let t = corpus::targets(&audited);
        let show = |idx: &[usize]| -> Vec<String> { idx.iter().map(|&i| corpus::describe(&entries[i])).collect() };
        assert!(t.off_range_start_free.is_empty(), "{page}: {:?}", show(&t.off_range_start_free));
        assert!(
            t.relocated_offset0_beside_larger.len() <= 12,
            "{page}: {:?}",
            show(&t.relocated_offset0_beside_larger)
        );
        for &i in &t.relocated_offset0_beside_larger {
            let a = &audited[i];
            let MsixFacts::Present { capability: c } = &a.facts.msix else { continue };
            assert!(
                a.facts.driver_unmapped_msix_bar(c, c.table_bir).is_none(),
                "{page}: a BAR the driver never maps relocated: {}",
                corpus::describe(&entries[i])
            );
        }
    }
    // Not vacuous: on 4 KiB pages the layouts with registers before their table now relocate.
    let audited: Vec<_> = entries.iter().map(|e| corpus::audit(e, 4096).unwrap()).collect();
    let relocated = audited.iter().filter(|a| a.decision.exposure == Exposure::Relocate).count();
    assert!(relocated >= 10, "{relocated} relocations on 4 KiB pages");
}

#[test]
fn docs_corpus_md_is_what_the_corpus_gives() {
    let want = corpus::report(&entries());
    let have = std::fs::read_to_string(root().join("docs/corpus.md")).unwrap_or_default();
    assert!(have == want, "docs/corpus.md is stale: run `cargo xtask corpus` and review the diff");
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            let ty = e.file_type().unwrap();
            if ty.is_symlink() {
                out.push((rel, std::fs::read_link(&p).unwrap().into_os_string().into_encoded_bytes()));
            } else if ty.is_dir() {
                stack.push(p);
            } else {
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_corpus_fixture_is_what_the_generator_writes_and_audits_as_the_corpus_decides() {
    let entries = entries();
    let chosen = corpus::fixture_selection(&entries);
    let tmp = std::env::temp_dir().join(format!("msix-corpus-fixture-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let placed = corpus::write_fixture(&tmp, &chosen, 65536).unwrap();
    let committed = root().join("fixtures/corpus/arm64-its-64k");
    let (fresh, kept) = (files(&tmp), files(&committed));
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(fresh == kept, "fixtures/corpus/arm64-its-64k is stale: run `cargo xtask corpus` and review the diff");
    // The sysfs path (platform backend, resource and config files) decides each placed function
    // as the facts path does.
    let report = msix_policy::audit(&committed, &msix_policy::AuditOptions::default()).unwrap();
    assert_eq!(report.devices.len(), placed.len());
    for (addr, line) in placed {
        let entry = entries.iter().find(|e| e.line == line).unwrap();
        let want = corpus::audit(entry, 65536).unwrap();
        let got = report.devices.iter().find(|d| d.address == addr).unwrap();
        assert!(matches!(got.facts.msix, MsixFacts::Present { .. }), "{addr}");
        assert_eq!(got.decision.exposure, want.decision.exposure, "{addr} ({})", corpus::describe(entry));
        assert_eq!(got.decision.risk, want.decision.risk, "{addr}");
        let plan = |p: &Option<msix_policy::policy::MappingPlan>| {
            p.as_ref().map(|p| (p.trapped_bytes(), p.collateral_bytes(), p.relocation))
        };
        assert_eq!(plan(&got.decision.plan), plan(&want.decision.plan), "{addr}");
    }
}

/// Every valid corpus layout through the VMM entry point (config bytes and region info, as a VMM
/// holds them), in each layout mode and page size: a layout, the same exposure as the audit
/// path in msix-policy's mode, power-of-two guest BARs, and the guest's table always behind a
/// trap that emulates it, never in a memory slot.
#[test]
fn every_valid_layout_gets_a_programmable_guest_layout_from_the_vmm_entry_point() {
    use msix_policy::policy::{plan_layout, IsolationAttestation, VfioRegion, REGION_MMAP, REGION_RW};
    use msix_policy::policy::{BarKind, GuestSelection, LayoutMode, TrapHandler, VfioBackend, VmmInput};
    let entries = entries();
    let (mut layouts, mut overlaps) = (0, 0);
    for e in &entries {
        for page in corpus::PAGES {
            let audited = corpus::audit(e, page).unwrap();
            if audited.forbidden {
                continue;
            }
            let regions: Vec<VfioRegion> = e
                .bars
                .iter()
                .map(|&(i, kind, _, size)| {
                    let mmap = if kind == BarKind::Io { 0 } else { REGION_MMAP };
                    VfioRegion::new(u32::from(i), size, REGION_RW | mmap).msix_mappable(kind != BarKind::Io)
                })
                .collect();
            let (_, verdict) = corpus::isolated_host(page);
            let isolation =
                IsolationAttestation::Audited { verdict, backend: VfioBackend::Type1, allow_unsafe_interrupts: false };
            for mode in [LayoutMode::MsixPolicy, LayoutMode::Qemu, LayoutMode::CloudHypervisor] {
                let input = VmmInput::new(e.config(), regions.clone(), page, isolation.clone())
                    .guest(GuestSelection::DirectTableWrites)
                    .mode(mode);
                let what = format!("{} at {page} in {mode:?}", corpus::describe(e));
                // A table overlapping its PBA is warned about by the audit and refused by the VMM
                // entry point, as QEMU's msix_init refuses it.
                if audited.decision.fired(msix_policy::policy::RuleId::DEVICE_MSIX_TABLE_PBA_OVERLAP) {
                    let err = plan_layout(&input).expect_err(&what);
                    assert!(matches!(err, msix_policy::policy::InputError::MsixOverlap { .. }), "{what}: {err}");
                    overlaps += 1;
                    continue;
                }
                let layout = plan_layout(&input).unwrap_or_else(|err| panic!("{what}: {err}"));
                layouts += 1;
                if mode == LayoutMode::MsixPolicy {
                    assert_eq!(layout.exposure, audited.decision.exposure, "{what}");
                }
                assert!(layout.bars.iter().all(|b| b.size.is_power_of_two()), "{what}");
                let msix = layout.msix.as_ref().unwrap();
                let bar = layout.bars.iter().find(|b| b.index == msix.table_bir).unwrap();
                let (start, end) =
                    (u64::from(msix.table_offset), u64::from(msix.table_offset) + 16 * u64::from(msix.table_size));
                assert!(bar.mmap.iter().all(|m| m.offset + m.mmap_length <= start || end <= m.offset), "{what}");
                assert!(
                    bar.trap.iter().any(|t| t.handler == TrapHandler::EmulateMsixTable
                        && t.offset <= start
                        && end <= t.offset + t.length),
                    "{what}: {:?}",
                    bar.trap
                );
            }
        }
    }
    assert!(layouts > 5000, "{layouts}");
    // The overlapping layouts of docs/corpus.md that break no other rule (8 of its 10), at three
    // page sizes in three modes.
    assert_eq!(overlaps, 8 * 9, "{overlaps}");
}
