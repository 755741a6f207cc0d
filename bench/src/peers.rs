//! Reference models of the MSI-X policies other stacks hard-code, written from their sources,
//! reduced to one question: which bytes of the physical BARs trap, and what of the MSI-X state
//! does the guest reach directly. Plus the physical limit under the same facts.
//!
//! - Linux before 4.16: vfio-pci's sparse mmap carves the table's pages out of the BAR
//!   (`vfio_pci_msix_sparse_mmap_cap`); the PBA stays mappable unless it shares those pages.
//! - QEMU (`hw/vfio/pci.c`): traps the table's pages (sparse mmap, or the emulated table overlaid
//!   on an `MSIX_MAPPABLE` BAR); the PBA region is disabled and mapped through, its emulation only
//!   switched on while a vector is masked. Machines with `vfio-no-msix-emulation` (pseries) trap
//!   nothing.
//! - QEMU with `x-msix-relocation`: a virtual table in another BAR; the physical BAR maps whole
//!   (only where the kernel lets it be mapped).
//! - cloud-hypervisor (`vfio.rs`, `fixup_msix_region`): a table off a page boundary is moved to
//!   the upper half of a doubled BAR (nothing physical traps); otherwise the table and PBA
//!   ranges are excluded from the mmap areas, rounded to pages.
//! - crosvm (`vfio_pci.rs`): the table and PBA pages are removed from the BAR mmaps.
//!
//! Every model, like msix-policy, must trap a BAR the kernel cannot mmap (smaller than a page and
//! off a page boundary).

use msix_policy::policy::{
    DeviceFacts, Exposure, GuestProfile, HostFacts, IsolationVerdict, MsixCapability, MsixFacts,
};

/// What of the device's MSI-X state the guest reaches without the VMM seeing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reach {
    pub table: bool,
    pub pba: bool,
}

impl Reach {
    /// Whether everything `self` leaves reachable is reachable in `other` too.
    pub fn within(self, other: Reach) -> bool {
        (!self.table || other.table) && (!self.pba || other.pba)
    }
}

/// One policy's cost on one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cost {
    pub policy: &'static str,
    pub trapped: u64,
    /// Bytes of hot register windows in trapped pages.
    pub hot_trapped: u64,
    pub reach: Reach,
}

type Range = (u8, u64, u64); // bar, start, end

fn pages(bar: u8, start: u64, end: u64, page: u64, bar_size: u64) -> Range {
    (bar, start - start % page, end.div_ceil(page).saturating_mul(page).min(bar_size))
}

/// Total bytes of a set of per-BAR ranges, overlaps counted once.
fn union_bytes(mut r: Vec<Range>) -> u64 {
    r.retain(|x| x.1 < x.2);
    r.sort_unstable();
    let mut total = 0;
    let mut cur: Option<Range> = None;
    for x in r {
        match cur {
            Some(c) if c.0 == x.0 && x.1 <= c.2 => cur = Some((c.0, c.1, c.2.max(x.2))),
            _ => {
                total += cur.map_or(0, |c| c.2 - c.1);
                cur = Some(x);
            }
        }
    }
    total + cur.map_or(0, |c| c.2 - c.1)
}

fn overlap(a: Range, b: Range) -> u64 {
    if a.0 != b.0 {
        return 0;
    }
    a.2.min(b.2).saturating_sub(a.1.max(b.1))
}

struct Geometry<'a> {
    d: &'a DeviceFacts,
    cap: MsixCapability,
    page: u64,
}

impl Geometry<'_> {
    fn bar_size(&self, i: u8) -> u64 {
        self.d.bar(i).map_or(0, |b| b.size)
    }
    fn table_pages(&self) -> Range {
        let o = u64::from(self.cap.table_offset);
        pages(self.cap.table_bir, o, o + self.cap.table_bytes(), self.page, self.bar_size(self.cap.table_bir))
    }
    fn pba_pages(&self) -> Range {
        let o = u64::from(self.cap.pba_offset);
        pages(self.cap.pba_bir, o, o + self.cap.pba_bytes(), self.page, self.bar_size(self.cap.pba_bir))
    }
    /// Memory BARs the kernel cannot mmap: everyone traps them whole.
    fn unmappable(&self) -> Vec<Range> {
        self.d
            .bars
            .iter()
            .flatten()
            .filter(|b| b.is_memory() && b.size > 0 && !b.is_mmappable(self.page))
            .map(|b| (b.index, 0, b.size))
            .collect()
    }
    fn cost(&self, policy: &'static str, mut trapped: Vec<Range>, reach: Reach) -> Cost {
        trapped.extend(self.unmappable());
        let hot = self
            .d
            .hot_windows
            .iter()
            .map(|h| {
                let w = (h.bar, h.offset, h.offset + h.length);
                // hot bytes in the union of trapped ranges
                let mut t = trapped.clone();
                t.retain(|r| overlap(*r, w) > 0);
                union_bytes(t.iter().map(|r| (r.0, r.1.max(w.1), r.2.min(w.2))).collect())
            })
            .sum();
        // Reach: a structure is reachable when some of its bytes sit in no trapped range.
        let t = self.table_pages();
        let p = self.pba_pages();
        let covered = |x: Range| trapped.iter().any(|r| r.0 == x.0 && r.1 <= x.1 && x.2 <= r.2);
        let reach = Reach { table: reach.table && !covered(t), pba: reach.pba && !covered(p) };
        Cost { policy, trapped: union_bytes(trapped), hot_trapped: hot, reach }
    }
    /// A free BAR slot, or a memory BAR that could grow (one smaller than a page grows from a page).
    fn relocatable(&self) -> bool {
        let bars = self.d.bars.as_deref().unwrap_or(&[]);
        let occupied = |s: u8| {
            bars.iter().any(|b| {
                b.size > 0 && (b.index == s || (b.kind == msix_policy::policy::BarKind::Memory64 && b.index + 1 == s))
            })
        };
        (0u8..6).any(|s| !occupied(s)) || bars.iter().any(|b| b.is_memory() && b.size.is_power_of_two())
    }
}

/// The devices a comparison is about: MSI-X present and inside its BARs.
fn geometry<'a>(d: &'a DeviceFacts, host: &HostFacts) -> Option<Geometry<'a>> {
    let MsixFacts::Present { capability } = &d.msix else { return None };
    d.check_msix_location(capability).ok()?;
    Some(Geometry { d, cap: *capability, page: host.page_size })
}

/// The least any policy can trap of the device's own registers under these facts: nothing when a
/// paravirtual guest may reach an isolated, mappable table; else the table and PBA rounded to host
/// pages, less the collateral relocation removes (it leaves only the naturally aligned 4 KiB
/// ranges the PCI spec reserves for them, emulated elsewhere; the pages of a BAR that holds no
/// register, a dedicated MSI-X BAR or one the device's known driver never maps, count whole).
/// Plus the BARs the kernel cannot mmap.
pub fn limit(d: &DeviceFacts, host: &HostFacts, iso: &IsolationVerdict, guest: GuestProfile) -> Option<Cost> {
    let g = geometry(d, host)?;
    let mappable = host.msix_mappable.mappable.value == Some(true);
    let none = Reach::default();
    Some(if iso.is_isolated() && mappable && guest == GuestProfile::Paravirtual {
        g.cost("limit", vec![], none)
    } else if iso.is_isolated() && mappable && g.relocatable() {
        // A BAR that holds no register (dedicated to MSI-X, or never mapped by the device's
        // known driver): trapping its pages whole costs none, so its limit is the table and PBA
        // pages (exposure.trap.dedicated-msix-bar, exposure.trap.driver-unmapped-bar).
        let k4 = |bar: u8, o: u32, len: u64| {
            let free = d.msix_only_bar(&g.cap, bar).is_some();
            let granule = if free { g.page } else { 4096 };
            pages(bar, u64::from(o), u64::from(o) + len, granule, g.bar_size(bar))
        };
        let reserved = vec![
            k4(g.cap.table_bir, g.cap.table_offset, g.cap.table_bytes()),
            k4(g.cap.pba_bir, g.cap.pba_offset, g.cap.pba_bytes()),
        ];
        g.cost("limit", reserved, none)
    } else {
        g.cost("limit", vec![g.table_pages(), g.pba_pages()], none)
    })
}

/// msix-policy's own plan, measured the same way.
pub fn ours(
    d: &DeviceFacts,
    plan: &msix_policy::policy::MappingPlan,
    exposure: Exposure,
    host: &HostFacts,
) -> Option<Cost> {
    let g = geometry(d, host)?;
    let trapped: Vec<Range> = plan
        .bars
        .iter()
        .filter(|b| b.origin != msix_policy::policy::BarOrigin::Virtual)
        .flat_map(|b| {
            b.segments
                .iter()
                .filter(|s| matches!(s.action, msix_policy::policy::SegmentAction::Trap(_)))
                .map(move |s| (b.index, s.offset, s.end()))
        })
        .collect();
    let open = matches!(exposure, Exposure::Passthrough | Exposure::Relocate);
    Some(g.cost("msix-policy", trapped, Reach { table: open, pba: open }))
}

/// The peers' costs on one device, in a fixed order.
pub fn peers(d: &DeviceFacts, host: &HostFacts, guest: GuestProfile) -> Vec<Cost> {
    let Some(g) = geometry(d, host) else { return Vec::new() };
    let mappable = host.msix_mappable.mappable.value == Some(true);
    let all = Reach { table: true, pba: true };
    let (t, p) = (g.table_pages(), g.pba_pages());
    let mut out = vec![g.cost("linux<4.16", vec![t], all)];
    // QEMU: pseries machines set vfio-no-msix-emulation; the kernel's carve-out still applies
    // where it cannot map the table.
    let qemu = if guest == GuestProfile::Paravirtual && mappable { vec![] } else { vec![t] };
    out.push(g.cost("qemu", qemu, all));
    out.push(g.cost("qemu x-msix-relocation", if mappable { vec![] } else { vec![t] }, all));
    let ch = if u64::from(g.cap.table_offset) % g.page != 0 && mappable { vec![] } else { vec![t, p] };
    out.push(g.cost("cloud-hypervisor", ch, all));
    out.push(g.cost("crosvm", vec![t, p], all));
    out
}

/// One MSI-X function of a fixture with its costs under one guest selection.
pub struct Measured {
    pub fixture: std::path::PathBuf,
    pub page_size: u64,
    pub device: msix_policy::DeviceReport,
    pub limit: Cost,
    pub ours: Cost,
    pub peers: Vec<Cost>,
}

/// Every fixture under `fixtures/` (a directory holding fixture.toml), sorted.
pub fn fixture_dirs() -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")];
    while let Some(dir) = stack.pop() {
        if dir.join("fixture.toml").exists() {
            out.push(dir);
            continue;
        }
        stack.extend(std::fs::read_dir(&dir).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    out.sort();
    out
}

/// The costs of every MSI-X function with a plan, in every fixture, for `guest`.
pub fn measure_all(guest: msix_policy::policy::GuestSelection) -> Vec<Measured> {
    let mut out = Vec::new();
    for f in fixture_dirs() {
        let Ok(r) = msix_policy::audit(&f, &msix_policy::AuditOptions { guest, ..Default::default() }) else {
            continue;
        };
        for d in &r.devices {
            let Some(plan) = &d.decision.plan else { continue };
            let g = d.decision.guest;
            let (Some(limit), Some(ours)) = (
                limit(&d.facts, &r.host, &d.decision.isolation, g),
                ours(&d.facts, plan, d.decision.exposure, &r.host),
            ) else {
                continue;
            };
            out.push(Measured {
                fixture: f.clone(),
                page_size: r.host.page_size,
                device: d.clone(),
                limit,
                ours,
                peers: peers(&d.facts, &r.host, g),
            });
        }
    }
    out
}
