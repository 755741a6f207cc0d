//! Every layout the lab runs for one device: msix-policy's own, QEMU's (trap, and
//! `x-msix-relocation`), cloud-hypervisor's, and the trap sets of crosvm and Linux before 4.16
//! (bench/src/peers.rs) rebuilt as layouts.

use msix_policy_engine::VfioPciOffsets;
use msix_policy_engine::{
    decide, BarOrigin, DecisionInput, Layout, LayoutMode, MmapRange, MsixFacts, Overrides, RelocationPolicy,
    TrapContents, TrapHandler, TrapRange,
};
use msix_policy_engine::{plan_layout, InputError, VmmInput};
use msix_policy_engine::{MappingPlan, Relocation};

/// A layout under test.
#[derive(Debug, Clone)]
pub struct Named {
    /// Whose layout it is (`msix-policy`, `qemu`, `crosvm`, ...), as the report names it.
    pub name: &'static str,
    /// The layout itself: memory slots, trapped ranges and the MSI-X capability the guest reads.
    pub layout: Layout,
    /// How it was made.
    pub how: String,
}

/// The six layouts of one device, in a fixed order.
pub fn all(input: &VmmInput) -> Result<Vec<Named>, InputError> {
    let ours = plan_layout(&input.clone().mode(LayoutMode::MsixPolicy))?;
    let qemu = plan_layout(&input.clone().mode(LayoutMode::Qemu).relocation(RelocationPolicy::FORBIDDEN))?;
    let reloc = qemu_relocation(input)?;
    let ch = plan_layout(&input.clone().mode(LayoutMode::CloudHypervisor))?;
    let crosvm = trap_set(&qemu, true);
    let old = trap_set(&qemu, false);
    Ok(vec![
        Named { name: "msix-policy", how: "plan_layout, LayoutMode::MsixPolicy".into(), layout: ours },
        Named { name: "qemu", how: "plan_layout, LayoutMode::Qemu, relocation forbidden (trap)".into(), layout: qemu },
        reloc,
        Named { name: "cloud-hypervisor", how: "plan_layout, LayoutMode::CloudHypervisor".into(), layout: ch },
        Named { name: "crosvm", how: "trap set of bench/src/peers.rs: table and PBA pages".into(), layout: crosvm },
        Named { name: "linux<4.16", how: "trap set of bench/src/peers.rs: table pages only".into(), layout: old },
    ])
}

/// QEMU with `x-msix-relocation`: the operator asks for it, so it relocates even where the
/// decision would trap (QEMU's own choice of BAR, `LayoutMode::Qemu`).
fn qemu_relocation(input: &VmmInput) -> Result<Named, InputError> {
    let input = input.clone().mode(LayoutMode::Qemu);
    let l = plan_layout(&input)?;
    let name = "qemu x-msix-relocation";
    if l.msix.is_some_and(|m| m.relocated) || l.decision.plan.is_none() {
        return Ok(Named { name, how: "plan_layout, LayoutMode::Qemu (the decision relocates)".into(), layout: l });
    }
    let f = input.facts()?;
    let mut decision = decide(DecisionInput {
        host: &f.host,
        device: &f.device,
        isolation: &f.isolation,
        guest: input.guest,
        overrides: &Overrides::default(),
        layout: f.layout,
    })?;
    let forced = match &f.device.msix {
        MsixFacts::Present { capability } if f.host.msix_mappable.mappable.value == Some(true) => {
            Relocation::for_mode(&f.device, capability, input.page_size, &f.layout)
                .and_then(|_| MappingPlan::relocate(&f.device, capability, input.page_size, &f.layout))
        }
        _ => None,
    };
    let how = match forced {
        Some(plan) => {
            decision.plan = Some(plan);
            "LayoutMode::Qemu relocation forced (x-msix-relocation=auto where the decision traps)"
        }
        None => "LayoutMode::Qemu: no place to relocate, the table traps",
    };
    let mappable = f.host.msix_mappable.mappable.value == Some(true);
    let layout = Layout::build(&f.device, decision, input.page_size, mappable, &f.layout, &VfioPciOffsets);
    Ok(Named { name, how: how.into(), layout })
}

/// A trap layout reduced to page sets: trap the table's pages, and the PBA's pages when `pba`;
/// map every other page of every physical BAR (the base must trap whole pages, as a trap layout
/// does). BARs smaller than a page stay as the base has them.
pub fn trap_set(base: &Layout, pba: bool) -> Layout {
    let mut out = base.clone();
    let Some(m) = base.msix.filter(|m| !m.relocated) else { return out };
    let page = base.page_size;
    let pages = |bir: u8, off: u32, len: u64| {
        let s = u64::from(off) / page * page;
        (bir, s, (u64::from(off) + len).div_ceil(page) * page)
    };
    let table = pages(m.table_bir, m.table_offset, u64::from(m.table_size) * 16);
    let pba_bytes = u64::from(m.table_size).div_ceil(64) * 8;
    let pba_pages = pages(m.pba_bir, m.pba_offset, pba_bytes);
    let trapped = |bar: u8, p: u64| {
        let inr = |r: (u8, u64, u64)| r.0 == bar && p >= r.1 && p < r.2;
        inr(table) || (pba && inr(pba_pages))
    };
    let offsets = VfioPciOffsets;
    for b in out.bars.iter_mut().filter(|b| b.origin != BarOrigin::Virtual && b.size >= page) {
        if b.kind == msix_policy_engine::BarKind::Io {
            continue;
        }
        let base_traps = std::mem::take(&mut b.trap);
        b.mmap.clear();
        let mut p = 0;
        while p < b.size {
            if trapped(b.index, p) {
                let pieces: Vec<TrapRange> = base_traps
                    .iter()
                    .filter_map(|t| {
                        let s = t.offset.max(p);
                        let e = (t.offset + t.length).min(p + page);
                        (s < e).then(|| TrapRange { offset: s, length: e - s, ..*t })
                    })
                    .collect();
                if pieces.is_empty() {
                    // A page the base maps (QEMU's layout leaves the PBA's pages mapped): the PBA's
                    // bytes in it are emulated, the rest forwarded.
                    let (s, e) = (u64::from(m.pba_offset), u64::from(m.pba_offset) + pba_bytes);
                    let pba_here = (m.pba_bir == b.index).then(|| (s.max(p), e.min(p + page))).filter(|r| r.0 < r.1);
                    let mut at = p;
                    if let Some((s, e)) = pba_here {
                        if at < s {
                            b.trap.push(TrapRange {
                                offset: at,
                                length: s - at,
                                holds: TrapContents::Registers,
                                handler: TrapHandler::ForwardToDevice,
                            });
                        }
                        b.trap.push(TrapRange {
                            offset: s,
                            length: e - s,
                            holds: TrapContents::Pba,
                            handler: TrapHandler::EmulateMsixPba,
                        });
                        at = e;
                    }
                    if at < p + page {
                        let regs = TrapRange {
                            offset: at,
                            length: p + page - at,
                            holds: TrapContents::Registers,
                            handler: TrapHandler::ForwardToDevice,
                        };
                        b.trap.push(regs);
                    }
                } else {
                    b.trap.extend(pieces);
                }
            } else {
                match b.mmap.last_mut() {
                    Some(last) if last.offset + last.length == p => {
                        last.length += page;
                        last.mmap_length += page;
                    }
                    _ => b.mmap.push(MmapRange {
                        offset: p,
                        length: page,
                        mmap_length: page,
                        region_offset: msix_policy_engine::RegionOffsets::region_offset(&offsets, b.index) + p,
                    }),
                }
            }
            p += page;
        }
    }
    out.trapped_bytes = out.traps().filter(|(_, t)| t.holds != TrapContents::VirtualTable).map(|(_, t)| t.length).sum();
    out
}
