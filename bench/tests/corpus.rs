//! The public hardware corpus (corpus/pciconf-msix.tsv): issue 14's targets, the generated audit
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
fn the_issue_14_targets_hold_on_16_and_64_kib_pages() {
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

#[test]
fn docs_corpus_md_is_what_the_corpus_gives() {
    let want = corpus::report(&entries());
    let have = std::fs::read_to_string(root().join("docs/corpus.md")).unwrap_or_default();
    assert!(
        have == want,
        "docs/corpus.md is stale: cargo run --release -p msix-policy-bench --bin corpus-audit > docs/corpus.md"
    );
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
    assert!(
        fresh == kept,
        "fixtures/corpus/arm64-its-64k is stale: rm -rf it, then \
         cargo run -p msix-policy-bench --bin corpus-audit -- --fixture fixtures/corpus/arm64-its-64k"
    );
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
