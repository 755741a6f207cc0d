//! The public hardware corpus (`corpus/pciconf-msix.tsv`, derived from FreeBSD `pciconf -lvbc`
//! probes by `scripts/corpus/build_corpus.py`): every distinct MSI-X layout, its config space
//! rebuilt from what the probe shows, decoded by the engine's own parser, and decided on an
//! isolated host at each page size against the peer models.

use msix_policy::policy::ParsedConfig;

use msix_policy::policy::{
    decide, Bar, BarKind, Decision, DecisionInput, DeviceFacts, Evidence, Exposure, Fact, GuestSelection, HeaderKind,
    HostFacts, IsolationVerdict, Mappability, MappableSource, MsixCapability, MsixFacts, Overrides, Platform, RuleId,
    VfioBackend, VfioBackends,
};

use crate::peers;

/// The corpus file, relative to the workspace root.
pub const CORPUS: &str = "corpus/pciconf-msix.tsv";

/// One distinct layout of the corpus.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Line in the corpus file (1-based), for messages.
    pub line: usize,
    pub vendor: u16,
    pub device: u16,
    pub class: u32,
    /// The MSI-X capability as the probe shows it (BIRs as pciconf's map registers give them).
    pub cap: MsixCapability,
    /// Slot, kind, prefetchable, size.
    pub bars: Vec<(u8, BarKind, bool, u64)>,
    /// Probes that show this layout.
    pub reports: u32,
    /// pciconf's class/subclass words, e.g. "network/ethernet".
    pub family: String,
    pub name: String,
    /// The first probe showing it: a path in github.com/bsdhw/PCIconf.
    pub source: String,
}

/// Why a corpus line could not be read.
#[derive(Debug)]
pub struct CorpusError {
    pub line: usize,
    pub why: String,
}

impl std::fmt::Display for CorpusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} line {}: {}", CORPUS, self.line, self.why)
    }
}

fn hex<T: TryFrom<u64>>(s: &str, what: &str) -> Result<T, String> {
    let v = u64::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| format!("{what} {s:?}: {e}"))?;
    T::try_from(v).map_err(|_| format!("{what} {s:?} out of range"))
}

fn dec<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("{what} {s:?} is not a number"))
}

/// `bir+0xoffset`
fn placed(s: &str, what: &str) -> Result<(u8, u32), String> {
    let (bir, off) = s.split_once('+').ok_or_else(|| format!("{what} {s:?}: expected BIR+offset"))?;
    Ok((dec(bir, what)?, hex(off, what)?))
}

fn parse_msix(s: &str) -> Result<MsixCapability, String> {
    let field = |k: &str| {
        s.split(';')
            .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .ok_or_else(|| format!("msix {s:?} has no {k}"))
    };
    let n: u16 = dec(field("n")?, "vectors")?;
    let (table_bir, table_offset) = placed(field("table")?, "table")?;
    let (pba_bir, pba_offset) = placed(field("pba")?, "pba")?;
    if n == 0 || n > 2048 {
        return Err(format!("{n} vectors"));
    }
    Ok(MsixCapability {
        cap_offset: hex(field("cap")?, "cap")?,
        table_size: n,
        table_bir,
        table_offset,
        pba_bir,
        pba_offset,
    })
}

fn parse_bars(s: &str) -> Result<Vec<(u8, BarKind, bool, u64)>, String> {
    s.split(';')
        .filter(|b| !b.is_empty())
        .map(|b| {
            let mut it = b.split(':');
            let (Some(slot), Some(kind), Some(size)) = (it.next(), it.next(), it.next()) else {
                return Err(format!("BAR {b:?}: expected slot:kind:size"));
            };
            let (kind, prefetchable) = match kind {
                "io" => (BarKind::Io, false),
                "m32" => (BarKind::Memory32, false),
                "m32p" => (BarKind::Memory32, true),
                "m64" => (BarKind::Memory64, false),
                "m64p" => (BarKind::Memory64, true),
                k => return Err(format!("BAR kind {k:?}")),
            };
            Ok((dec(slot, "BAR slot")?, kind, prefetchable, hex(size, "BAR size")?))
        })
        .collect()
}

/// Reads the corpus text (comment lines start with `#`, then a header line).
pub fn parse(text: &str) -> Result<Vec<Entry>, CorpusError> {
    let mut out = Vec::new();
    let mut header_seen = false;
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        if l.starts_with('#') || l.trim().is_empty() {
            continue;
        }
        if !header_seen {
            header_seen = true;
            continue;
        }
        let err = |why: String| CorpusError { line, why };
        let f: Vec<&str> = l.split('\t').collect();
        let [vendor, device, class, msix, bars, reports, family, name, source] = f[..] else {
            return Err(err(format!("{} fields, expected 9", f.len())));
        };
        out.push(Entry {
            line,
            vendor: hex(vendor, "vendor").map_err(err)?,
            device: hex(device, "device").map_err(err)?,
            class: hex(class, "class").map_err(err)?,
            cap: parse_msix(msix).map_err(err)?,
            bars: parse_bars(bars).map_err(err)?,
            reports: dec(reports, "reports").map_err(err)?,
            family: family.into(),
            name: name.into(),
            source: source.into(),
        });
    }
    Ok(out)
}

/// The bundled corpus.
pub fn load() -> Result<Vec<Entry>, CorpusError> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(CORPUS);
    let text =
        std::fs::read_to_string(&path).map_err(|e| CorpusError { line: 0, why: format!("{}: {e}", path.display()) })?;
    parse(&text)
}

impl Entry {
    /// The config space (256 bytes) the probe implies: ids, class, the BAR registers' type bits,
    /// a capability list holding the MSI-X capability where the probe saw it.
    pub fn config(&self) -> Vec<u8> {
        let mut b = vec![0u8; 256];
        b[0..2].copy_from_slice(&self.vendor.to_le_bytes());
        b[2..4].copy_from_slice(&self.device.to_le_bytes());
        b[6] = 0x10; // capability list
        b[9..12].copy_from_slice(&self.class.to_le_bytes()[..3]);
        for &(slot, kind, prefetchable, _) in &self.bars {
            let Some(reg) = b.get_mut(0x10 + 4 * usize::from(slot)..0x14 + 4 * usize::from(slot)) else { continue };
            let low: u32 = match kind {
                BarKind::Io => 1,
                BarKind::Memory32 => u32::from(prefetchable) << 3,
                BarKind::Memory64 => 0x4 | u32::from(prefetchable) << 3,
            };
            reg.copy_from_slice(&low.to_le_bytes());
        }
        let c = &self.cap;
        let at = usize::from(c.cap_offset);
        b[0x34] = c.cap_offset as u8;
        b[at] = 0x11;
        b[at + 2..at + 4].copy_from_slice(&(c.table_size - 1).to_le_bytes());
        b[at + 4..at + 8].copy_from_slice(&(c.table_offset | u32::from(c.table_bir & 7)).to_le_bytes());
        b[at + 8..at + 12].copy_from_slice(&(c.pba_offset | u32::from(c.pba_bir & 7)).to_le_bytes());
        b
    }

    /// The device as the engine sees it: the config decoded by the engine's parser, the BARs the
    /// probe lists, each naturally aligned to at least `page` (as a host of that page size lays
    /// them out for VFIO), hot windows from the engine's knowledge.
    pub fn facts(&self, page: u64) -> DeviceFacts {
        let cfg = self.config();
        let parsed = ParsedConfig::parse(&cfg);
        let mut at = 0x4000_0000_u64;
        let bars: Vec<Bar> = self
            .bars
            .iter()
            .map(|&(index, kind, prefetchable, size)| {
                let align = if kind == BarKind::Io { size.max(1) } else { size.max(page) };
                at = at.div_ceil(align) * align;
                let start = at;
                at += align;
                Bar { index, kind, prefetchable, start, size }
            })
            .collect();
        let sizes = bars.clone();
        let hot = parsed.hot_windows(parsed.class, |i| sizes.iter().find(|b| b.index == i).map(|b| b.size));
        DeviceFacts {
            address: format!("corpus:{}", self.line),
            vendor: parsed.vendor,
            device: parsed.device,
            class: parsed.class,
            driver: Some("vfio-pci".into()),
            iommu_group: Some(1),
            header: HeaderKind::Endpoint,
            bars: Some(bars),
            msix: parsed.msix,
            hot_windows: hot,
            evidence: vec![Evidence::new(format!("{CORPUS}:{}", self.line), self.source.clone())],
            vfio_regions: Vec::new(),
            noiommu: None,
        }
    }

    /// The capability the engine decoded from [`Entry::config`], when it matches the probe's.
    pub fn decoded_matches(&self) -> Result<(), String> {
        let parsed = ParsedConfig::parse(&self.config());
        let MsixFacts::Present { capability } = parsed.msix else {
            return Err(format!("decoded {:?}", parsed.msix));
        };
        let mut want = self.cap;
        want.table_bir &= 7;
        want.pba_bir &= 7;
        if capability != want {
            return Err(format!("decoded {capability:?}, probe shows {want:?}"));
        }
        Ok(())
    }
}

/// An isolated host of `page` bytes a page, MSI-X BARs mappable (Linux 4.16 or later, an ITS
/// with a per-device ID, or VT-d/AMD-Vi interrupt remapping: the verdict is what matters).
pub fn isolated_host(page: u64) -> (HostFacts, IsolationVerdict) {
    let ev = |s: &str| Evidence::new(s, "corpus audit");
    let host = HostFacts {
        arch: "aarch64".into(),
        page_size: page,
        kernel: "6.1.0".into(),
        platform: Platform::Arm64,
        vfio_backend: VfioBackend::Type1,
        allow_unsafe_interrupts: Fact { value: Some(false), evidence: ev("allow_unsafe_interrupts") },
        msix_mappable: Mappability {
            mappable: Fact { value: Some(true), evidence: ev("kernel") },
            source: Some(MappableSource::Inferred),
        },
        iommufd: Fact::unknown(ev("iommufd")),
        iommufd_allow_unsafe_interrupts: Fact::unknown(ev("iommufd")),
        vfio_backends: VfioBackends::default(),
    };
    let iso = IsolationVerdict::isolated(RuleId::ARM64_ITS, "corpus audit: an isolating MSI controller", vec![]);
    (host, iso)
}

/// One layout decided at one page size, with the peers' costs.
pub struct Audited {
    /// The corpus line of the layout.
    pub line: usize,
    pub page: u64,
    pub facts: DeviceFacts,
    pub decision: Decision,
    /// The layout breaks the spec (table or PBA outside a memory BAR).
    pub forbidden: bool,
    pub limit: Option<peers::Cost>,
    pub ours: Option<peers::Cost>,
    pub peers: Vec<peers::Cost>,
}

impl Audited {
    fn cap(&self) -> Option<MsixCapability> {
        match &self.facts.msix {
            MsixFacts::Present { capability } => Some(*capability),
            _ => None,
        }
    }

    /// The reason that set the exposure (the last `exposure.*` rule).
    pub fn exposure_reason(&self) -> Option<&msix_policy::policy::Reason> {
        self.decision.reasons.iter().rev().find(|r| r.rule.starts_with("exposure."))
    }

    /// Trapped bytes outside the 4 KiB ranges of the table and PBA, on the physical BARs.
    pub fn collateral(&self) -> u64 {
        self.decision.plan.as_ref().map_or(0, |p| p.collateral_bytes())
    }

    /// A relocation while every BAR the table and PBA touch holds nothing but them.
    pub fn relocates_dedicated_bar(&self) -> bool {
        let Some(cap) = self.cap() else { return false };
        self.decision.exposure == Exposure::Relocate
            && [cap.table_bir, cap.pba_bir].iter().all(|&b| holds_only_msix(&self.facts, &cap, b))
    }

    /// Memory BARs with trapped pages that neither the table nor the PBA touches (and that the
    /// kernel could mmap: a BAR it cannot map traps whatever the policy).
    pub fn untouched_bars_trapped(&self) -> Vec<u8> {
        let (Some(cap), Some(plan)) = (self.cap(), &self.decision.plan) else { return Vec::new() };
        plan.bars
            .iter()
            .filter(|b| b.trapped_bytes > 0 && b.index != cap.table_bir && b.index != cap.pba_bir)
            .filter(|b| self.facts.bar(b.index).is_some_and(|bar| bar.is_mmappable(self.page)))
            .map(|b| b.index)
            .collect()
    }

    /// Hot windows that share a trapped page.
    pub fn hot_trapped(&self) -> Vec<String> {
        self.decision.plan.as_ref().map_or(Vec::new(), |p| p.hot_trapped().map(|h| h.what.clone()).collect())
    }

    /// A valid layout left trapping register bytes.
    pub fn valid_with_collateral(&self) -> bool {
        !self.forbidden && self.decision.exposure == Exposure::Trap && self.collateral() > 0
    }

    /// A relocation of a table at offset 0 of its BAR while another memory BAR of the device is
    /// larger (an MSI-X BAR beside a register BAR).
    pub fn relocates_offset0_beside_larger_bar(&self) -> bool {
        let Some(cap) = self.cap() else { return false };
        let Some(table_bar) = self.facts.bar(cap.table_bir) else { return false };
        self.decision.exposure == Exposure::Relocate
            && cap.table_offset == 0
            && self
                .facts
                .bars
                .iter()
                .flatten()
                .any(|b| b.is_memory() && b.index != cap.table_bir && b.size > table_bar.size)
    }

    /// The first MSI-X structure of some 4 KiB range does not start that range (bytes before it
    /// may be registers), yet the decision traps with no collateral: it calls those bytes free.
    pub fn off_range_start_called_free(&self) -> bool {
        let Some(cap) = self.cap() else { return false };
        let g = 4096;
        let structs = [(cap.table_bir, u64::from(cap.table_offset)), (cap.pba_bir, u64::from(cap.pba_offset))];
        let off_start = structs.iter().any(|&(bir, off)| {
            off % g != 0 && !structs.iter().any(|&(b2, o2)| b2 == bir && o2 < off && o2 / g == off / g)
        });
        !self.forbidden && off_start && self.decision.exposure == Exposure::Trap && self.collateral() == 0
    }
}

/// Whether BAR `index` holds the table and/or PBA and nothing more: no larger than the power of
/// two that holds their 4 KiB ranges, which start in its first 4 KiB (an independent restatement
/// of what the targets call a BAR holding only the table and PBA; the engine's own test is
/// `dedicated_msix_bar`, which also looks at known hot windows).
pub fn holds_only_msix(d: &DeviceFacts, cap: &MsixCapability, index: u8) -> bool {
    let Some(bar) = d.bar(index) else { return false };
    let mut ranges = Vec::new();
    if cap.table_bir == index {
        ranges.push((u64::from(cap.table_offset), u64::from(cap.table_offset) + cap.table_bytes()));
    }
    if cap.pba_bir == index {
        ranges.push((u64::from(cap.pba_offset), u64::from(cap.pba_offset) + cap.pba_bytes()));
    }
    let (Some(start), Some(end)) = (ranges.iter().map(|r| r.0).min(), ranges.iter().map(|r| r.1).max()) else {
        return false;
    };
    start < 4096 && bar.size <= end.div_ceil(4096).saturating_mul(4096).next_power_of_two()
}

/// Decides one layout at one page size for a guest that writes its table.
pub fn audit(entry: &Entry, page: u64) -> Result<Audited, String> {
    let facts = entry.facts(page);
    let (host, iso) = isolated_host(page);
    let decision = decide(DecisionInput {
        host: &host,
        device: &facts,
        isolation: &iso,
        guest: GuestSelection::DirectTableWrites,
        overrides: &Overrides::default(),
        layout: Default::default(),
    })
    .map_err(|e| format!("line {}: {e}", entry.line))?;
    let forbidden = match &facts.msix {
        MsixFacts::Present { capability } => facts.check_msix_location(capability).is_err(),
        _ => true,
    };
    let g = decision.guest;
    let limit = peers::limit(&facts, &host, &iso, g);
    let ours = decision.plan.as_ref().and_then(|p| peers::ours(&facts, p, decision.exposure, &host));
    let peer_costs = peers::peers(&facts, &host, g);
    Ok(Audited { line: entry.line, page, facts, decision, forbidden, limit, ours, peers: peer_costs })
}

/// Whether the table and PBA overlap.
pub fn overlapping(a: &Audited) -> bool {
    a.cap().is_some_and(|c| c.table_and_pba_overlap())
}

/// The page sizes the corpus is audited at.
pub const PAGES: [u64; 3] = [4096, 16384, 65536];

/// The corpus targets (docs/corpus.md) on one page size, with the layouts that miss each.
#[derive(Debug, Default)]
pub struct Targets {
    pub layouts: usize,
    pub relocated_dedicated: Vec<usize>,
    pub valid_with_collateral: Vec<usize>,
    pub hot_trapped: Vec<usize>,
    pub untouched_bars_trapped: Vec<usize>,
    /// Relocations of a table at offset 0 beside a larger memory BAR.
    pub relocated_offset0_beside_larger: Vec<usize>,
    /// Layouts whose bytes before an MSI-X structure in its 4 KiB range are called free.
    pub off_range_start_free: Vec<usize>,
}

/// Counts the targets over audited layouts (indices into `audited`).
pub fn targets(audited: &[Audited]) -> Targets {
    let mut t = Targets { layouts: audited.len(), ..Default::default() };
    for (i, a) in audited.iter().enumerate() {
        if a.relocates_dedicated_bar() {
            t.relocated_dedicated.push(i);
        }
        if a.valid_with_collateral() {
            t.valid_with_collateral.push(i);
        }
        if !a.hot_trapped().is_empty() {
            t.hot_trapped.push(i);
        }
        if !a.untouched_bars_trapped().is_empty() {
            t.untouched_bars_trapped.push(i);
        }
        if a.relocates_offset0_beside_larger_bar() {
            t.relocated_offset0_beside_larger.push(i);
        }
        if a.off_range_start_called_free() {
            t.off_range_start_free.push(i);
        }
    }
    t
}

fn kib(n: u64) -> String {
    match n {
        0 => "0".into(),
        n if n % (1 << 20) == 0 => format!("{}M", n >> 20),
        n if n % 1024 == 0 => format!("{}K", n / 1024),
        n if n > 1024 => format!("{:.1}K", n as f64 / 1024.0),
        n => format!("{n}B"),
    }
}

/// What a layout looks like in one cell: ids, BARs, table and PBA.
pub fn describe(e: &Entry) -> String {
    let bars: Vec<String> =
        e.bars.iter().map(|(i, k, p, s)| format!("{i}:{}{} {}", k, if *p { "p" } else { "" }, kib(*s))).collect();
    format!(
        "{:04x}:{:04x} {} vectors, table {}+{:#x}, PBA {}+{:#x}; BARs {}",
        e.vendor,
        e.device,
        e.cap.table_size,
        e.cap.table_bir,
        e.cap.table_offset,
        e.cap.pba_bir,
        e.cap.pba_offset,
        bars.join(", ")
    )
}

/// The corpus audit as Markdown (docs/corpus.md).
pub fn report(entries: &[Entry]) -> String {
    use std::collections::BTreeMap;
    use std::fmt::Write;
    let mut o = String::new();
    let reports: u32 = entries.iter().map(|e| e.reports).sum();
    let decode_bad: Vec<String> =
        entries.iter().filter_map(|e| e.decoded_matches().err().map(|w| format!("line {}: {w}", e.line))).collect();
    let _ = writeln!(o, "<!-- Generated by `cargo xtask corpus` (bench/src/corpus.rs): do not edit. -->\n");
    let _ = writeln!(o, "# The public hardware corpus, audited\n");
    let _ = writeln!(
        o,
        "Generated by `cargo xtask corpus` from \
         `{CORPUS}` ({} distinct MSI-X layouts of type-0 functions, seen {} times in public FreeBSD \
         `pciconf -lvbc` probes from github.com/bsdhw/PCIconf; provenance per line in the file, rebuilt by \
         `scripts/corpus/build_corpus.py`). Do not edit by hand: `bench/tests/corpus.rs` fails when this file \
         differs from what the corpus gives.\n",
        entries.len(),
        reports
    );
    let _ = writeln!(
        o,
        "Each layout's config space is rebuilt from the probe (ids, class, BAR register types, the MSI-X \
         capability at its offset) and decoded by the engine's parser: {} of {} decode to the probe's \
         capability{}. BARs are placed naturally aligned to at least a host page. The host is isolated \
         (an ITS with per-device IDs, or x86 interrupt remapping: the verdict is what matters) with \
         mappable MSI-X BARs; the guest writes its own table (`--guest direct`); msix-policy's own layout \
         mode with its default relocation policy. Peer models as in docs/performance.md \
         (`bench/src/peers.rs`); `limit` is the least any policy can trap; it counts \
         the table's and PBA's 4 KiB ranges even where they move (the virtual table is emulated elsewhere), \
         while msix-policy's and the peers' columns count the physical pages they trap.\n",
        entries.len() - decode_bad.len(),
        entries.len(),
        if decode_bad.is_empty() { String::new() } else { format!(" (mismatches: {})", decode_bad.join("; ")) }
    );
    let mut per_page = Vec::new();
    for page in PAGES {
        let audited: Vec<Audited> = entries.iter().filter_map(|e| audit(e, page).ok()).collect();
        per_page.push((page, audited));
    }
    let _ = writeln!(o, "## Targets: relocation, collateral, hot windows, untouched BARs\n");
    let _ = writeln!(o, "| page | layouts | relocations of a BAR holding only the table and PBA | valid layouts trapping collateral | layouts with a known hot window trapped | layouts trapping a BAR the MSI-X structures do not touch |");
    let _ = writeln!(o, "|---:|---:|---:|---:|---:|---:|");
    for (page, audited) in &per_page {
        let t = targets(audited);
        let _ = writeln!(
            o,
            "| {}K | {} | {} | {} | {} | {} |",
            page / 1024,
            t.layouts,
            t.relocated_dedicated.len(),
            t.valid_with_collateral.len(),
            t.hot_trapped.len(),
            t.untouched_bars_trapped.len()
        );
    }
    let _ = writeln!(o, "\nTargets on 64 KiB pages: 0, at most 2, 0, 0.\n");
    let _ = writeln!(o, "## Targets: registers beside the MSI-X structures\n");
    let _ = writeln!(o, "| page | relocations of a table at offset 0 beside a larger memory BAR | layouts whose bytes before an MSI-X structure in its 4 KiB range are called free |");
    let _ = writeln!(o, "|---:|---:|---:|");
    for (page, audited) in &per_page {
        let t = targets(audited);
        let _ = writeln!(
            o,
            "| {}K | {} | {} |",
            page / 1024,
            t.relocated_offset0_beside_larger.len(),
            t.off_range_start_free.len()
        );
    }
    let _ = writeln!(
        o,
        "\nA relocation of such a table is left where the device's driver is not in `policy/data/driver-bars.toml` \
         (or maps that BAR, as bnxt_en maps BAR4): without knowledge, a BAR larger than its table and PBA may hold \
         registers.\n"
    );
    let _ = writeln!(o, "## Decisions per page size\n");
    let _ = writeln!(o, "Exposures, then per policy: layouts where it traps more than the limit, and trapped bytes over all layouts with a valid table position (hot-window bytes in brackets).\n");
    let policies = ["msix-policy", "linux<4.16", "qemu", "qemu x-msix-relocation", "cloud-hypervisor", "crosvm"];
    let _ = writeln!(o, "| page | relocate | trap | other | limit | {} |", policies.join(" | "));
    let _ = writeln!(o, "|---:|---:|---:|---:|---:|{}", "---:|".repeat(policies.len()));
    for (page, audited) in &per_page {
        let count = |x: Exposure| audited.iter().filter(|a| a.decision.exposure == x).count();
        let other = audited.len() - count(Exposure::Relocate) - count(Exposure::Trap);
        let limit_total: u64 = audited.iter().filter_map(|a| a.limit.as_ref()).map(|c| c.trapped).sum();
        let cells: Vec<String> = policies
            .iter()
            .map(|p| {
                let costs = audited.iter().filter_map(|a| {
                    let c = if *p == "msix-policy" {
                        a.ours.clone()
                    } else {
                        a.peers.iter().find(|c| c.policy == *p).cloned()
                    };
                    Some((c?, a.limit.clone()?))
                });
                let (mut over, mut bytes, mut hot) = (0, 0, 0);
                for (c, l) in costs {
                    over += usize::from(c.trapped > l.trapped);
                    bytes += c.trapped;
                    hot += c.hot_trapped;
                }
                format!("{over}: {} [{}]", kib(bytes), kib(hot))
            })
            .collect();
        let _ = writeln!(
            o,
            "| {}K | {} | {} | {} | {} | {} |",
            page / 1024,
            count(Exposure::Relocate),
            count(Exposure::Trap),
            other,
            kib(limit_total),
            cells.join(" | ")
        );
    }
    let _ = writeln!(o, "\n## Per device family\n");
    let _ = writeln!(o, "Per family and page size: layouts, relocations, traps; trapped bytes of msix-policy, the limit, QEMU, QEMU with x-msix-relocation, cloud-hypervisor and crosvm.\n");
    let _ = writeln!(
        o,
        "| family | page | layouts | relocate | trap | msix-policy | limit | qemu | qemu reloc | cloud-hv | crosvm |"
    );
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let by_line: BTreeMap<usize, &Entry> = entries.iter().map(|e| (e.line, e)).collect();
    let family_of = |a: &Audited| by_line.get(&a.line).map(|e| e.family.as_str());
    let families: std::collections::BTreeSet<&str> = entries.iter().map(|e| e.family.as_str()).collect();
    for family in &families {
        for (page, audited) in &per_page {
            let mine: Vec<&Audited> = audited.iter().filter(|a| family_of(a) == Some(family)).collect();
            let sum = |f: &dyn Fn(&Audited) -> Option<u64>| kib(mine.iter().filter_map(|a| f(a)).sum());
            let peer =
                |name: &'static str| move |a: &Audited| a.peers.iter().find(|c| c.policy == name).map(|c| c.trapped);
            let _ = writeln!(
                o,
                "| {family} | {}K | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                page / 1024,
                mine.len(),
                mine.iter().filter(|a| a.decision.exposure == Exposure::Relocate).count(),
                mine.iter().filter(|a| a.decision.exposure == Exposure::Trap).count(),
                sum(&|a| a.ours.as_ref().map(|c| c.trapped)),
                sum(&|a| a.limit.as_ref().map(|c| c.trapped)),
                sum(&peer("qemu")),
                sum(&peer("qemu x-msix-relocation")),
                sum(&peer("cloud-hypervisor")),
                sum(&peer("crosvm")),
            );
        }
    }
    let Some((_, at64)) = per_page.last() else { return o };
    let by_line = |a: &Audited| by_line.get(&a.line).copied();
    let _ = writeln!(o, "\n## On 64 KiB pages: valid layouts still trapping collateral\n");
    for a in at64.iter().filter(|a| a.valid_with_collateral()) {
        if let Some(e) = by_line(a) {
            let why = a.exposure_reason().map_or(String::new(), |r| format!("{}: {}", r.rule, r.detail));
            let _ = writeln!(o, "- {} ({}): {} collateral bytes; {}", e.name, describe(e), a.collateral(), why);
        }
    }
    let _ = writeln!(o, "\n## Layouts the spec forbids\n");
    let _ = writeln!(o, "What the engine does with each on 64 KiB pages (the rule that set the exposure, and the trapped bytes per BAR).\n");
    for a in at64.iter().filter(|a| a.forbidden) {
        if let Some(e) = by_line(a) {
            let rule = a.exposure_reason().map_or("-", |r| r.rule.as_str());
            let trapped: Vec<String> = a
                .decision
                .plan
                .iter()
                .flat_map(|p| p.bars.iter())
                .filter(|b| b.trapped_bytes > 0)
                .map(|b| format!("BAR{} {}", b.index, kib(b.trapped_bytes)))
                .collect();
            let _ = writeln!(
                o,
                "- {} ({}): {} `{}`, trapped: {}",
                e.name,
                describe(e),
                a.decision.exposure.as_str(),
                rule,
                if trapped.is_empty() { "nothing".into() } else { trapped.join(", ") }
            );
        }
    }
    let overlapping: Vec<String> = at64
        .iter()
        .filter(|a| overlapping(a))
        .filter_map(by_line)
        .map(|e| format!("{:04x}:{:04x}", e.vendor, e.device))
        .collect();
    let _ = writeln!(
        o,
        "\n## Overlapping table and PBA\n\n{} layouts, each warned about (`warning.msix-table-pba-overlap`): {}.",
        overlapping.len(),
        overlapping.join(", ")
    );
    o
}

/// Layouts worth a fixture: per family the most reported, then every layout the spec forbids,
/// that overlaps its table and PBA, or that has no free BAR slot and only BARs smaller than
/// 64 KiB (relocation must grow a sub-page BAR there), each once, in corpus order.
pub fn fixture_selection(entries: &[Entry]) -> Vec<&Entry> {
    use std::collections::BTreeMap;
    let mut by_family: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for e in entries {
        by_family.entry(e.family.as_str()).or_default().push(e);
    }
    let mut keep: Vec<usize> = Vec::new();
    for list in by_family.values_mut() {
        list.sort_by_key(|e| (std::cmp::Reverse(e.reports), e.line));
        keep.extend(list.iter().take(1).map(|e| e.line));
    }
    for e in entries {
        let facts = e.facts(65536);
        let cap = e.cap;
        let forbidden = facts.check_msix_location(&cap).is_err();
        let slots_full = {
            let mut used = [false; 6];
            for &(i, k, _, _) in &e.bars {
                for s in [i, i + u8::from(k == BarKind::Memory64)] {
                    if let Some(u) = used.get_mut(usize::from(s)) {
                        *u = true;
                    }
                }
            }
            used.iter().all(|u| *u)
        };
        let sub_page = e.bars.iter().all(|&(_, k, _, size)| k == BarKind::Io || size < 65536);
        if forbidden || cap.table_and_pba_overlap() || (slots_full && sub_page) {
            keep.push(e.line);
        }
    }
    keep.sort_unstable();
    keep.dedup();
    entries.iter().filter(|e| keep.contains(&e.line)).collect()
}

/// IORESOURCE_* flags of a BAR as sysfs `resource` shows them.
fn resource_flags(kind: BarKind, prefetchable: bool) -> u64 {
    match kind {
        BarKind::Io => 0x40101,
        BarKind::Memory32 => 0x40200 | if prefetchable { 0x2000 } else { 0 },
        BarKind::Memory64 => 0x140204 | if prefetchable { 0x2008 } else { 0 },
    }
}

/// Writes a recorded-host fixture (FIXTURES.md, kind "synthetic") holding `entries` as
/// vfio-pci functions of an arm64 host with a GICv3 ITS behind one ECAM host bridge, `page`
/// bytes a page. Returns (PCI address, corpus line) per function. `dir` must not exist.
pub fn write_fixture(dir: &std::path::Path, entries: &[&Entry], page: u64) -> std::io::Result<Vec<(String, usize)>> {
    use crate::synth::{link_in, write_in};
    let w = |rel: &str, data: &[u8]| write_in(dir, rel, data);
    let kernel = "6.1.0-26-arm64";
    w(
        "fixture.toml",
        format!(
            "# Generated by `cargo xtask corpus` (bench/src/corpus.rs): do not edit.\n\
             [host]\narch = \"aarch64\"\npage_size = {page}\nkernel = \"{kernel}\"\n\n[source]\nkind = \"synthetic\"\n\
             description = \"{} layouts of the public hardware corpus ({CORPUS}; corpus.txt maps each function to its line \
             and probe) on arm64 with a GICv3 ITS, {} KiB pages\"\nmachine = \"cargo run -p msix-policy-bench --bin \
             corpus-audit -- --fixture DIR\"\n",
            entries.len(),
            page / 1024
        )
        .as_bytes(),
    )?;
    w("proc/sys/kernel/osrelease", format!("{kernel}\n").as_bytes())?;
    w("proc/version", format!("Linux version {kernel} (synthetic)\n").as_bytes())?;
    w("proc/cmdline", format!("BOOT_IMAGE=/boot/vmlinuz-{kernel} root=/dev/vda2 ro\n").as_bytes())?;
    w("proc/cpuinfo", b"processor\t: 0\nBogoMIPS\t: 125.00\nCPU implementer\t: 0x41\n")?;
    w("proc/interrupts", b"           CPU0       CPU1\n")?;
    w("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", b"N\n")?;
    let dt = "sys/firmware/devicetree/base/";
    w(&format!("{dt}compatible"), b"linux,dummy-virt\0")?;
    w(&format!("{dt}intc@8000000/compatible"), b"arm,gic-v3\0")?;
    w(&format!("{dt}intc@8000000/its@8080000/compatible"), b"arm,gic-v3-its\0")?;
    w(&format!("{dt}intc@8000000/its@8080000/phandle"), &0x8006u32.to_be_bytes())?;
    w(&format!("{dt}intc@8000000/its@8080000/msi-controller"), b"")?;
    let pcie = format!("{dt}pcie@10000000/");
    w(&format!("{pcie}compatible"), b"pci-host-ecam-generic\0")?;
    w(&format!("{pcie}linux,pci-domain"), &0u32.to_be_bytes())?;
    w(&format!("{pcie}bus-range"), &[0u32.to_be_bytes(), 0xffu32.to_be_bytes()].concat())?;
    let msi_map: Vec<u8> = [0u32, 0x8006, 0, 0x10000].iter().flat_map(|v| v.to_be_bytes()).collect();
    w(&format!("{pcie}msi-map"), &msi_map)?;
    w(&format!("{dt}smmuv3@9050000/compatible"), b"arm,smmu-v3\0")?;
    let mut listing = String::from("# PCI address -> corpus line, ids, first probe (github.com/bsdhw/PCIconf)\n");
    let mut placed = Vec::new();
    let mut mem = 0x80_0000_0000_u64;
    let mut io = 0x1000_u64;
    for (n, e) in entries.iter().enumerate() {
        let addr = format!("0000:{:02x}:{:02x}.0", 1 + n / 32, n % 32);
        let d = format!("sys/bus/pci/devices/{addr}");
        let mut cfg = e.config();
        let mut resource = vec![(0u64, 0u64, 0u64); 13];
        for &(i, kind, prefetchable, size) in &e.bars {
            let start = if kind == BarKind::Io {
                io = io.div_ceil(size.max(4)) * size.max(4);
                let s = io;
                io += size;
                s
            } else {
                let align = size.max(page);
                mem = mem.div_ceil(align) * align;
                let s = mem;
                mem += align;
                s
            };
            if let Some(r) = resource.get_mut(usize::from(i)) {
                *r = (start, start + size - 1, resource_flags(kind, prefetchable));
            }
            let reg = 0x10 + 4 * usize::from(i);
            if let Some(low) = cfg.get_mut(reg..reg + 4) {
                let bits = u32::from_le_bytes([low[0], low[1], low[2], low[3]]);
                let mask = if kind == BarKind::Io { !0x3u32 } else { !0xfu32 };
                low.copy_from_slice(&(bits | (start as u32 & mask)).to_le_bytes());
            }
            if kind == BarKind::Memory64 {
                if let Some(high) = cfg.get_mut(reg + 4..reg + 8) {
                    high.copy_from_slice(&((start >> 32) as u32).to_le_bytes());
                }
            }
        }
        let res: String = resource.iter().map(|(s, e, f)| format!("0x{s:016x} 0x{e:016x} 0x{f:016x}\n")).collect();
        w(&format!("{d}/config"), &cfg)?;
        w(&format!("{d}/resource"), res.as_bytes())?;
        w(&format!("{d}/vendor"), format!("0x{:04x}\n", e.vendor).as_bytes())?;
        w(&format!("{d}/device"), format!("0x{:04x}\n", e.device).as_bytes())?;
        w(&format!("{d}/class"), format!("0x{:06x}\n", e.class).as_bytes())?;
        w(&format!("{d}/irq"), b"0\n")?;
        w(&format!("{d}/subsystem_vendor"), format!("0x{:04x}\n", e.vendor).as_bytes())?;
        w(&format!("{d}/subsystem_device"), b"0x0000\n")?;
        link_in(dir, &format!("{d}/driver"), "../../../bus/pci/drivers/vfio-pci")?;
        let group = 10 + n;
        link_in(dir, &format!("{d}/iommu_group"), &format!("../../../kernel/iommu_groups/{group}"))?;
        w(&format!("sys/kernel/iommu_groups/{group}/type"), b"DMA\n")?;
        link_in(
            dir,
            &format!("sys/kernel/iommu_groups/{group}/devices/{addr}"),
            &format!("../../../../devices/pci0000:00/{addr}"),
        )?;
        listing.push_str(&format!(
            "{addr}\t{CORPUS}:{}\t{:04x}:{:04x}\t{}\t{}\n",
            e.line, e.vendor, e.device, e.name, e.source
        ));
        placed.push((addr, e.line));
    }
    w("corpus.txt", listing.as_bytes())?;
    Ok(placed)
}
