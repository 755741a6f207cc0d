//! The ACPI IORT (IO Remapping Table, Arm DEN 0049) and the MADT's GIC ITS entries: which ITS,
//! if any, a PCI function's requester ID reaches on an ACPI arm64 host, walked as Linux does in
//! `drivers/acpi/arm64/iort.c` (`iort_node_map_id`, `iort_id_map`, `iort_get_id_mapping_index`,
//! `iort_dev_find_its_id`, `iort_get_device_domain`).
//!
//! Layouts (checked against Linux `include/acpi/actbl2.h`): the table is the 36-byte ACPI header,
//! node count (u32 @36), node array offset (u32 @40), reserved (u32 @44). Each node: type (u8
//! @0), length (u16 @1), revision (u8 @3), identifier (u32 @4, reserved before E.b), ID mapping
//! count (u32 @8), ID mapping array offset from the node (u32 @12), node data from @16. An ID
//! mapping is 20 bytes: input base, number of IDs *minus one*, output base, output reference
//! (offset of a node from the table start), flags (bit 0: single mapping). ITS group data: ITS
//! count (u32 @16), then that many ITS identifiers (u32). Root complex data: memory access
//! properties (u64 @16), ATS attribute (u32 @24), PCI segment number (u32 @28), memory address
//! size limit (u8 @32), ... SMMUv3 data: base (u64 @16), flags (u32 @24, bit 4 DeviceID
//! valid), reserved (u32 @28), VATOS (u64 @32), model (u32 @40), event/PRI/GERR/sync GSIVs (u32
//! @44/48/52/56), proximity domain (u32 @60), DeviceID mapping index (u32 @64, node revision 1
//! on). The MADT's GIC ITS structure (type 0xF, 20 bytes): GIC ITS ID (u32 @4), base (u64 @8).
//!
//! Everything is bounded: every offset and count is checked against the table before it is
//! read, a table with more than [`MAX_NODES`] nodes or a node whose fields run past it is
//! refused whole, and a walk stops after [`MAX_HOPS`] nodes (Linux has no bound and would loop).

use msix_backends::acpi::{self, SubtableLayout};
use msix_backends::Root;
use msix_policy_engine::Evidence;

/// IORT node types (Arm DEN 0049, table 4).
pub(crate) const ITS_GROUP: u8 = 0;
pub(crate) const NAMED_COMPONENT: u8 = 1;
pub(crate) const ROOT_COMPLEX: u8 = 2;
pub(crate) const SMMU: u8 = 3;
pub(crate) const SMMU_V3: u8 = 4;
pub(crate) const PMCG: u8 = 5;
pub(crate) const RMR: u8 = 6;

const NODE_HEADER: usize = 16;
const ID_MAPPING_LEN: usize = 20;
/// ID mapping flags bit 0 (`ACPI_IORT_ID_SINGLE_MAPPING`).
const SINGLE_MAPPING: u32 = 1;
/// SMMUv3 flags bit 4 (`ACPI_IORT_SMMU_V3_DEVICEID_VALID`, node revision 5 on).
const SMMU_V3_DEVICEID_VALID: u32 = 1 << 4;
/// The most nodes a table is read for.
pub(crate) const MAX_NODES: usize = 4096;
/// The most nodes one walk visits (a root complex, two levels of IOMMU, an ITS group is 4).
pub(crate) const MAX_HOPS: usize = 16;

pub(crate) fn source() -> String {
    format!("{}/IORT", acpi::TABLES)
}

pub(crate) fn madt_source() -> String {
    format!("{}/APIC", acpi::TABLES)
}

/// One ID mapping of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdMapping {
    pub input_base: u32,
    /// The number of IDs in the range minus one, as the table stores it.
    pub id_count: u32,
    pub output_base: u32,
    /// Offset of the output node from the start of the table.
    pub output_ref: u32,
    pub flags: u32,
}

/// What a node's type-specific data says that the walk needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeData {
    ItsGroup {
        its_ids: Vec<u32>,
    },
    RootComplex {
        segment: u32,
    },
    SmmuV3 {
        flags: u32,
        gsivs: [u32; 4],
        id_mapping_index: Option<u32>,
    },
    Pmcg {
        overflow_gsiv: u32,
    },
    /// Named component, SMMUv1/v2, RMR, or a type this parser does not know: header and
    /// mappings only.
    Plain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// Offset from the start of the table: what output references name.
    pub offset: u32,
    pub ty: u8,
    pub revision: u8,
    /// The node's ID mappings; empty when its mapping count or mapping offset is zero.
    pub mappings: Vec<IdMapping>,
    pub data: NodeData,
}

impl Node {
    /// `iort_get_id_mapping_index`: the mapping an SMMUv3 (or PMCG) uses for its own MSIs,
    /// which a walk from a PCI function skips.
    fn special_index(&self) -> Option<usize> {
        match &self.data {
            NodeData::SmmuV3 { flags, gsivs, id_mapping_index } => {
                if self.revision < 1 {
                    return None;
                }
                if self.revision < 5 {
                    // Until IORT E.e the index is valid unless every interrupt is a GSIV.
                    if gsivs.iter().all(|g| *g != 0) {
                        return None;
                    }
                } else if flags & SMMU_V3_DEVICEID_VALID == 0 {
                    return None;
                }
                let i = usize::try_from((*id_mapping_index)?).ok()?;
                (i < self.mappings.len()).then_some(i)
            }
            NodeData::Pmcg { overflow_gsiv } => (*overflow_gsiv == 0 && !self.mappings.is_empty()).then_some(0),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        type_name(self.ty)
    }
}

pub(crate) fn type_name(ty: u8) -> &'static str {
    match ty {
        ITS_GROUP => "ITS group",
        NAMED_COMPONENT => "named component",
        ROOT_COMPLEX => "root complex",
        SMMU => "SMMUv1/v2",
        SMMU_V3 => "SMMUv3",
        PMCG => "PMCG",
        RMR => "RMR",
        _ => "unknown node",
    }
}

/// A parsed IORT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Iort {
    pub revision: u8,
    pub nodes: Vec<Node>,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

/// Why a table cannot be read or followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed(pub String);

impl Iort {
    /// Reads and parses `sys/firmware/acpi/tables/IORT`.
    pub fn read(root: &Root) -> Result<Self, Malformed> {
        let b = acpi::table(root, "IORT").map_err(|e| Malformed(e.to_string()))?;
        Self::parse(&b)
    }

    /// Parses a table already checked for its signature and length (`acpi::table`).
    pub fn parse(b: &[u8]) -> Result<Self, Malformed> {
        let bad = |what: String| Malformed(what);
        let revision = b.get(8).copied().ok_or_else(|| bad("shorter than its header".into()))?;
        let count = u32_at(b, 36).ok_or_else(|| bad("no node count at offset 36".into()))? as usize;
        let first = u32_at(b, 40).ok_or_else(|| bad("no node array offset at offset 40".into()))? as usize;
        if count > MAX_NODES {
            return Err(bad(format!("{count} nodes: more than the {MAX_NODES} read")));
        }
        let mut nodes = Vec::with_capacity(count);
        let mut at = first;
        for i in 0..count {
            let node = b
                .get(at..)
                .filter(|n| n.len() >= NODE_HEADER)
                .ok_or_else(|| bad(format!("node {i} at {at:#x} runs past the table ({:#x} bytes)", b.len())))?;
            let len = usize::from(u16::from_le_bytes([node[1], node[2]]));
            if len < NODE_HEADER || len > node.len() {
                return Err(bad(format!(
                    "node {i} at {at:#x}: length {len:#x} is shorter than a node or runs past the table"
                )));
            }
            let node = &node[..len];
            let offset = u32::try_from(at).map_err(|_| bad(format!("node {i} at {at:#x} is past 4 GiB")))?;
            nodes.push(parse_node(node, offset).map_err(|why| bad(format!("node {i} at {at:#x}: {why}")))?);
            at += len;
        }
        Ok(Iort { revision, nodes })
    }

    pub fn node_at(&self, offset: u32) -> Option<&Node> {
        self.nodes.iter().find(|n| n.offset == offset)
    }

    /// `iort_scan_node(ACPI_IORT_NODE_PCI_ROOT_COMPLEX, ...)`: the first root complex node whose
    /// PCI segment number is the function's PCI domain.
    pub fn root_complex(&self, segment: u32) -> Option<&Node> {
        self.nodes.iter().find(|n| n.data == NodeData::RootComplex { segment })
    }

    /// `iort_node_map_id(node, id, &out, IORT_MSI_TYPE)`: follows the ID mappings from `start`
    /// until an ITS group node, as Linux does, with the same range test (the number of IDs is
    /// one more than the field), the same handling of a match at the very end of a range (it
    /// yields to a range that starts there) and of single mappings (honoured on root complex and
    /// named component nodes only), skipping an SMMUv3's own DeviceID mapping.
    pub fn map_id(&self, start: u32, id: u32) -> Walk {
        let mut steps: Vec<Step> = Vec::new();
        let (mut at, mut id) = (start, id);
        for _ in 0..MAX_HOPS {
            let Some(node) = self.node_at(at) else {
                return Walk::Broken { steps, why: format!("output reference {at:#x} is the start of no node") };
            };
            steps.push(Step { node: at, ty: node.ty, id, segment: segment_of(node), mapping: None });
            if node.ty == ITS_GROUP {
                let its_ids = match &node.data {
                    NodeData::ItsGroup { its_ids } => its_ids.clone(),
                    _ => Vec::new(),
                };
                return Walk::Its { steps, group: at, its_ids, device_id: id };
            }
            if node.mappings.is_empty() {
                return Walk::Unmapped { steps, why: "the node has no ID mappings".into() };
            }
            if node.mappings[0].output_ref == 0 {
                return Walk::Unmapped {
                    steps,
                    why: "its first ID mapping has a null output reference (a firmware bug: Linux stops here)".into(),
                };
            }
            let special = node.special_index();
            let mut found: Option<(usize, u32)> = None;
            let mut pending: Option<(usize, u32)> = None;
            for (i, m) in node.mappings.iter().enumerate() {
                if Some(i) == special {
                    continue;
                }
                match id_map(m, node.ty, id, pending.is_some()) {
                    MapResult::Hit(out) => {
                        found = Some((i, out));
                        break;
                    }
                    MapResult::EndOfRange(out) => pending = Some((i, out)),
                    MapResult::Miss => {}
                }
            }
            let Some((i, out)) = found.or(pending) else {
                let skipped =
                    special.map_or(String::new(), |s| format!(" (mapping {s}, the node's own DeviceID, skipped)"));
                return Walk::Unmapped { steps, why: format!("no ID mapping covers ID {id:#x}{skipped}") };
            };
            if let Some(last) = steps.last_mut() {
                last.mapping = Some((i, node.mappings[i]));
            }
            at = node.mappings[i].output_ref;
            id = out;
        }
        Walk::Broken { steps, why: format!("more than {MAX_HOPS} nodes: the ID mappings loop") }
    }

    /// The ITS a function (PCI `segment`, requester ID `rid`) reaches.
    pub fn map_rid(&self, segment: u32, rid: u32) -> Walk {
        match self.root_complex(segment) {
            Some(rc) => self.map_id(rc.offset, rid),
            None => Walk::NoRootComplex,
        }
    }
}

fn segment_of(n: &Node) -> Option<u32> {
    match n.data {
        NodeData::RootComplex { segment } => Some(segment),
        _ => None,
    }
}

fn parse_node(node: &[u8], offset: u32) -> Result<Node, String> {
    let ty = node[0];
    let revision = node[3];
    let need = |n: usize, what: &str| {
        if node.len() < n {
            Err(format!("{} node of {:#x} bytes cannot hold its {what}", type_name(ty), node.len()))
        } else {
            Ok(())
        }
    };
    let count = u32_at(node, 8).unwrap_or(0) as usize;
    let moff = u32_at(node, 12).unwrap_or(0) as usize;
    let mut mappings = Vec::new();
    if count > 0 && moff > 0 {
        let end = count
            .checked_mul(ID_MAPPING_LEN)
            .and_then(|n| n.checked_add(moff))
            .filter(|end| *end <= node.len() && moff >= NODE_HEADER)
            .ok_or_else(|| format!("{count} ID mappings at {moff:#x} run past the node ({:#x} bytes)", node.len()))?;
        for m in node[moff..end].chunks_exact(ID_MAPPING_LEN) {
            let f = |at| u32_at(m, at).unwrap_or(0);
            mappings.push(IdMapping {
                input_base: f(0),
                id_count: f(4),
                output_base: f(8),
                output_ref: f(12),
                flags: f(16),
            });
        }
    }
    let data = match ty {
        ITS_GROUP => {
            need(20, "ITS count")?;
            let n = u32_at(node, 16).unwrap_or(0) as usize;
            let ids = n
                .checked_mul(4)
                .and_then(|len| node.get(20..20 + len))
                .ok_or_else(|| format!("{n} ITS identifiers run past the node ({:#x} bytes)", node.len()))?;
            NodeData::ItsGroup {
                its_ids: ids.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            }
        }
        ROOT_COMPLEX => {
            need(32, "PCI segment number")?;
            NodeData::RootComplex { segment: u32_at(node, 28).unwrap_or(0) }
        }
        SMMU_V3 => {
            need(60, "interrupts")?;
            let id_mapping_index = if revision >= 1 {
                need(68, "DeviceID mapping index")?;
                u32_at(node, 64)
            } else {
                None
            };
            let g = |at| u32_at(node, at).unwrap_or(0);
            NodeData::SmmuV3 { flags: g(24), gsivs: [g(44), g(48), g(52), g(56)], id_mapping_index }
        }
        PMCG => {
            need(28, "overflow interrupt")?;
            NodeData::Pmcg { overflow_gsiv: u32_at(node, 24).unwrap_or(0) }
        }
        _ => NodeData::Plain,
    };
    Ok(Node { offset, ty, revision, mappings, data })
}

enum MapResult {
    Hit(u32),
    /// Matched at the last ID of a range: taken only when no range starts there.
    EndOfRange(u32),
    Miss,
}

/// `iort_id_map`.
fn id_map(m: &IdMapping, ty: u8, id: u32, after_end_of_range: bool) -> MapResult {
    if m.flags & SINGLE_MAPPING != 0 {
        // A single mapping ignores the input ID; Linux honours it on these two types only.
        return if ty == NAMED_COMPONENT || ty == ROOT_COMPLEX {
            MapResult::Hit(m.output_base)
        } else {
            MapResult::Miss
        };
    }
    // The field is the number of IDs minus one: the range is inclusive (u32 arithmetic, as C).
    let last = m.input_base.wrapping_add(m.id_count);
    if id < m.input_base || id > last {
        return MapResult::Miss;
    }
    if after_end_of_range && id != m.input_base {
        return MapResult::Miss;
    }
    let out = m.output_base.wrapping_add(id - m.input_base);
    if m.id_count > 0 && id == last {
        MapResult::EndOfRange(out)
    } else {
        MapResult::Hit(out)
    }
}

/// One node a walk visited: the ID it arrived with and the mapping it left by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub node: u32,
    pub ty: u8,
    pub id: u32,
    pub segment: Option<u32>,
    pub mapping: Option<(usize, IdMapping)>,
}

/// Where a walk from a root complex ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Walk {
    /// No root complex node has the function's PCI segment (`iort_find_dev_node` finds none).
    NoRootComplex,
    /// Reached an ITS group node: its ITS identifiers and the DeviceID.
    Its { steps: Vec<Step>, group: u32, its_ids: Vec<u32>, device_id: u32 },
    /// Stopped without an ITS group (`iort_node_map_id`'s `fail_map`).
    Unmapped { steps: Vec<Step>, why: String },
    /// A reference to no node, or a loop: the table cannot be followed.
    Broken { steps: Vec<Step>, why: String },
}

/// `root complex @0x30 (segment 0) ID 0x8 [mapping 0: 0x0..=0xffff -> 0x0] -> SMMUv3 @0x48 ID
/// 0x8 [...] -> ITS group @0x18 ID 0x8`.
pub(crate) fn describe(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| {
            let seg = s.segment.map_or(String::new(), |g| format!(" (segment {g})"));
            let map = s.mapping.map_or(String::new(), |(i, m)| {
                if m.flags & SINGLE_MAPPING != 0 {
                    format!(" [mapping {i}: single -> {:#x}]", m.output_base)
                } else {
                    format!(
                        " [mapping {i}: {:#x}..={:#x} -> {:#x}]",
                        m.input_base,
                        m.input_base.wrapping_add(m.id_count),
                        m.output_base
                    )
                }
            });
            format!("{} @{:#x}{seg} ID {:#x}{map}", type_name(s.ty), s.node, s.id)
        })
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// The GIC ITS entries of the MADT: (GIC ITS ID, base address).
pub(crate) fn madt_its(madt: &[u8]) -> Vec<(u32, u64)> {
    // MADT: 36-byte header, then local interrupt controller address and flags (8 bytes).
    acpi::subtables(madt, acpi::HEADER_LEN + 8, SubtableLayout::Byte)
        .into_iter()
        .filter(|(ty, _, len)| *ty == crate::MADT_GIC_ITS && *len >= 16)
        .filter_map(|(_, at, _)| Some((u32_at(madt, at + 4)?, u64_at(madt, at + 8)?)))
        .collect()
}

/// The IORT's evidence of a walk that reached an ITS group.
pub(crate) fn its_evidence(steps: &[Step], its_ids: &[u32], device_id: u32) -> Evidence {
    Evidence::new(source(), format!("{}: ITS identifiers {its_ids:?}, DeviceID {device_id:#x}", describe(steps)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds IORT tables for tests (the same layouts the fixture generator writes).
    #[derive(Default)]
    pub(crate) struct Builder {
        nodes: Vec<Vec<u8>>,
    }

    /// (input base, number of IDs minus one, output base, output node index, flags).
    pub(crate) type Map = (u32, u32, u32, usize, u32);

    impl Builder {
        const FIRST: usize = 48;

        /// The offset node `i` will have.
        pub fn offset(&self, i: usize) -> u32 {
            (Self::FIRST + self.nodes[..i].iter().map(Vec::len).sum::<usize>()) as u32
        }

        fn node(&mut self, ty: u8, rev: u8, data: &[u8], maps: &[Map]) -> usize {
            // Mappings refer to nodes by index; resolved in build().
            let mut n = vec![ty, 0, 0, rev];
            n.extend(0u32.to_le_bytes());
            n.extend((maps.len() as u32).to_le_bytes());
            let moff = if maps.is_empty() { 0u32 } else { (NODE_HEADER + data.len()) as u32 };
            n.extend(moff.to_le_bytes());
            n.extend(data);
            for &(ib, cnt, ob, target, fl) in maps {
                for v in [ib, cnt, ob, 0xdead_0000 | target as u32, fl] {
                    n.extend(v.to_le_bytes());
                }
            }
            let len = n.len() as u16;
            n[1..3].copy_from_slice(&len.to_le_bytes());
            self.nodes.push(n);
            self.nodes.len() - 1
        }

        pub fn its(&mut self, ids: &[u32]) -> usize {
            let mut d = (ids.len() as u32).to_le_bytes().to_vec();
            for id in ids {
                d.extend(id.to_le_bytes());
            }
            self.node(ITS_GROUP, 1, &d, &[])
        }

        pub fn rc(&mut self, segment: u32, maps: &[Map]) -> usize {
            let mut d = vec![0u8; 24];
            d[12..16].copy_from_slice(&segment.to_le_bytes());
            self.node(ROOT_COMPLEX, 4, &d, maps)
        }

        pub fn smmu_v3(&mut self, rev: u8, flags: u32, gsiv: u32, index: u32, maps: &[Map]) -> usize {
            let mut d = vec![0u8; 52];
            d[8..12].copy_from_slice(&flags.to_le_bytes());
            for at in [28, 32, 36, 40] {
                d[at..at + 4].copy_from_slice(&gsiv.to_le_bytes());
            }
            d[48..52].copy_from_slice(&index.to_le_bytes());
            self.node(SMMU_V3, rev, &d, maps)
        }

        pub fn build(&self) -> Vec<u8> {
            let mut b = vec![0u8; Self::FIRST];
            b[0..4].copy_from_slice(b"IORT");
            b[8] = 3;
            b[36..40].copy_from_slice(&(self.nodes.len() as u32).to_le_bytes());
            b[40..44].copy_from_slice(&(Self::FIRST as u32).to_le_bytes());
            for n in &self.nodes {
                let mut n = n.clone();
                let count = u32::from_le_bytes([n[8], n[9], n[10], n[11]]) as usize;
                let moff = u32::from_le_bytes([n[12], n[13], n[14], n[15]]) as usize;
                for k in 0..count {
                    let at = moff + k * ID_MAPPING_LEN + 12;
                    let r = u32::from_le_bytes([n[at], n[at + 1], n[at + 2], n[at + 3]]);
                    if r & 0xffff_0000 == 0xdead_0000 {
                        let target = self.offset((r & 0xffff) as usize);
                        n[at..at + 4].copy_from_slice(&target.to_le_bytes());
                    }
                }
                b.extend(n);
            }
            let len = b.len() as u32;
            b[4..8].copy_from_slice(&len.to_le_bytes());
            b
        }
    }

    /// The fixture's topology: ITS group (ITS 0); SMMUv3 mapping StreamIDs 0-0xffff 1:1 to the
    /// ITS, its own MSIs as DeviceID 0x10000 (mapping 1, the DeviceID mapping index); segment 0
    /// through the SMMUv3; segment 1 bus 0 straight to the ITS at 0x20000, bus 2 to the SMMUv3 at
    /// 0x30200 (which maps nothing there), bus 1 nowhere.
    pub(crate) fn server() -> Builder {
        let mut t = Builder::default();
        let its = t.its(&[0]);
        let smmu = t.smmu_v3(4, 0, 0, 1, &[(0, 0xffff, 0, 0, 0), (0, 0, 0x10000, 0, SINGLE_MAPPING)]);
        assert_eq!((its, smmu), (0, 1));
        t.rc(0, &[(0, 0xffff, 0, smmu, 0)]);
        t.rc(1, &[(0x0000, 0xff, 0x20000, its, 0), (0x0200, 0xff, 0x30200, smmu, 0)]);
        t
    }

    /// The generator's fixture (xtask/src/synth.rs `iort_server`) and this builder describe
    /// one topology: every walk ends alike (node types, DeviceIDs, ITS IDs, where it stops).
    #[test]
    fn the_synthetic_fixture_iort_is_the_server_topology() {
        let fixture = include_bytes!("../../fixtures/synthetic/arm64-acpi-iort/sys/firmware/acpi/tables/IORT");
        let (a, b) = (Iort::parse(fixture).unwrap(), Iort::parse(&server().build()).unwrap());
        let shape = |w: Walk| match w {
            Walk::Its { steps, its_ids, device_id, .. } => {
                format!("its {:?} {its_ids:?} {device_id:#x}", steps.iter().map(|s| s.ty).collect::<Vec<_>>())
            }
            Walk::Unmapped { steps, .. } => format!("unmapped {:?}", steps.iter().map(|s| s.ty).collect::<Vec<_>>()),
            other => format!("{other:?}"),
        };
        for segment in 0..3 {
            for rid in [0, 0x8, 0xff, 0x100, 0x1ff, 0x200, 0x2ff, 0x300, 0xffff] {
                assert_eq!(shape(a.map_rid(segment, rid)), shape(b.map_rid(segment, rid)), "{segment} {rid:#x}");
            }
        }
    }

    fn walk(t: &Builder, segment: u32, rid: u32) -> Walk {
        Iort::parse(&t.build()).unwrap().map_rid(segment, rid)
    }

    #[test]
    fn a_rid_reaches_the_its_through_the_smmu_as_iort_node_map_id_does() {
        let t = server();
        let Walk::Its { steps, its_ids, device_id, group } = walk(&t, 0, 0x0010) else { panic!() };
        assert_eq!((its_ids, device_id, group), (vec![0], 0x10, t.offset(0)));
        let kinds: Vec<u8> = steps.iter().map(|s| s.ty).collect();
        assert_eq!(kinds, [ROOT_COMPLEX, SMMU_V3, ITS_GROUP]);
        let d = describe(&steps);
        assert!(d.starts_with("root complex @0x"), "{d}");
        assert!(d.contains("(segment 0)") && d.contains("SMMUv3") && d.contains("ITS group"), "{d}");
    }

    #[test]
    fn each_segment_uses_its_own_root_complex_and_uncovered_rids_reach_no_its() {
        let t = server();
        let Walk::Its { device_id, steps, .. } = walk(&t, 1, 0x0010) else { panic!() };
        assert_eq!(device_id, 0x20010);
        assert_eq!(steps.len(), 2, "straight to the ITS group");
        // Bus 1: no mapping of the root complex covers it.
        let Walk::Unmapped { steps, why } = walk(&t, 1, 0x0100) else { panic!() };
        assert_eq!(steps.len(), 1);
        assert!(why.contains("0x100"), "{why}");
        // Bus 2: through the SMMUv3, which maps nothing at 0x30200; the SMMU's own DeviceID
        // mapping (index 1) is skipped, not used.
        let Walk::Unmapped { steps, why } = walk(&t, 1, 0x0200) else { panic!() };
        assert_eq!(steps.iter().map(|s| s.ty).collect::<Vec<_>>(), [ROOT_COMPLEX, SMMU_V3]);
        assert!(why.contains("skipped"), "{why}");
        // No root complex for segment 2.
        assert_eq!(walk(&t, 2, 0), Walk::NoRootComplex);
    }

    /// The SMMUv3 DeviceID mapping index is honoured only where iort_get_id_mapping_index
    /// honours it: revision 1 on; before revision 5 unless every interrupt is a GSIV; from
    /// revision 5 only with the DeviceID-valid flag.
    #[test]
    fn the_smmu_v3_device_id_mapping_is_skipped_only_when_linux_skips_it() {
        for (rev, flags, gsiv, skipped) in [
            (0, 0, 0, false),
            (1, 0, 0, true),
            (4, 0, 7, false),
            (5, 0, 0, false),
            (5, SMMU_V3_DEVICEID_VALID, 0, true),
        ] {
            let mut t = Builder::default();
            let its = t.its(&[3]);
            // Mapping 0: a range mapping that covers StreamID 0x5 too; mapping 1 the index.
            let smmu = t.smmu_v3(rev, flags, gsiv, 0, &[(0, 0xff, 0x500, its, 0), (0, 0xff, 0x900, its, 0)]);
            t.rc(0, &[(0, 0xff, 0, smmu, 0)]);
            let Walk::Its { device_id, .. } = walk(&t, 0, 5) else { panic!() };
            assert_eq!(device_id, if skipped { 0x905 } else { 0x505 }, "rev {rev} flags {flags:#x} gsiv {gsiv}");
        }
    }

    #[test]
    fn single_mappings_and_the_inclusive_id_count() {
        let mut t = Builder::default();
        let its = t.its(&[0]);
        // Single mapping on a root complex: every RID becomes 0x77.
        t.rc(0, &[(0, 0, 0x77, its, SINGLE_MAPPING)]);
        // id_count 0xf covers 16 IDs: 0x10..=0x1f; 0x1f is the end of the range and, with no
        // range starting there, still maps.
        t.rc(1, &[(0x10, 0xf, 0x100, its, 0)]);
        // The end of one range and the start of the next: the next wins (Linux's workaround).
        t.rc(2, &[(0x0, 0x10, 0x100, its, 0), (0x10, 0xf, 0x800, its, 0)]);
        let b = t.build();
        let iort = Iort::parse(&b).unwrap();
        let dev = |seg, rid| match iort.map_rid(seg, rid) {
            Walk::Its { device_id, .. } => Some(device_id),
            _ => None,
        };
        assert_eq!(dev(0, 0x1234), Some(0x77));
        assert_eq!(dev(1, 0x1f), Some(0x10f));
        assert_eq!(dev(1, 0x20), None);
        assert_eq!(dev(1, 0x0f), None);
        assert_eq!(dev(2, 0x10), Some(0x800));
        assert_eq!(dev(2, 0x0f), Some(0x10f));
        // A single mapping on an SMMUv3 (outside its DeviceID index) is skipped, as Linux does.
        let mut t = Builder::default();
        let its = t.its(&[0]);
        let smmu = t.smmu_v3(0, 0, 0, 0, &[(0, 0, 0x42, its, SINGLE_MAPPING)]);
        t.rc(0, &[(0, 0xffff, 0, smmu, 0)]);
        assert!(matches!(walk(&t, 0, 8), Walk::Unmapped { .. }));
    }

    #[test]
    fn loops_and_dangling_references_are_broken_not_followed_forever() {
        let mut t = Builder::default();
        let a = t.smmu_v3(0, 0, 0, 0, &[(0, 0xffff, 0, 1, 0)]);
        let b = t.smmu_v3(0, 0, 0, 0, &[(0, 0xffff, 0, a, 0)]);
        t.rc(0, &[(0, 0xffff, 0, b, 0)]);
        let Walk::Broken { steps, why } = walk(&t, 0, 1) else { panic!() };
        assert!(why.contains("loop") && steps.len() == MAX_HOPS, "{why}");
        // A reference into the middle of a node.
        let mut b = server().build();
        let rc0 = server().offset(2) as usize;
        let target = rc0 + 40 + 12;
        let mid = u32::from_le_bytes(b[target..target + 4].try_into().unwrap()) + 4;
        b[target..target + 4].copy_from_slice(&mid.to_le_bytes());
        let Walk::Broken { why, .. } = Iort::parse(&b).unwrap().map_rid(0, 0) else { panic!() };
        assert!(why.contains("no node"), "{why}");
    }

    /// Every truncation and every byte flip of a real-shaped table: never a panic, and a table
    /// cut short is refused, never half-read.
    #[test]
    fn truncated_and_corrupted_tables_never_panic() {
        let b = server().build();
        for cut in 0..b.len() {
            let r = Iort::parse(&b[..cut]);
            assert!(r.is_err(), "cut at {cut} parsed");
        }
        for at in 0..b.len() {
            for v in [0x00, 0x01, 0x7f, 0xff] {
                let mut c = b.clone();
                c[at] = v;
                if let Ok(t) = Iort::parse(&c) {
                    for seg in 0..3 {
                        for rid in [0, 0x10, 0xff, 0x100, 0x200, 0xffff] {
                            let _ = t.map_rid(seg, rid);
                        }
                    }
                }
            }
        }
        let mut c = b.clone();
        c[36..40].copy_from_slice(&(MAX_NODES as u32 + 1).to_le_bytes());
        assert!(Iort::parse(&c).unwrap_err().0.contains("more than"));
    }

    /// The IORT QEMU 7.2 built for `-M virt,iommu=smmuv3`, as a real kernel booted with ACPI
    /// exposed it (fixtures/qemu/arm64-virt-acpi-its-smmuv3). Its root complex maps bus 0
    /// (input 0, "number of IDs" 0x100: one too many, the confusion iort_id_map works around)
    /// through the SMMUv3 and RIDs 0x100 on straight to the ITS. The SMMUv3's interrupts are
    /// all GSIVs (node revision 4), so its DeviceID mapping index 0 is not valid and mapping 0
    /// carries PCI StreamIDs on.
    #[test]
    fn the_qemu_virt_iort_of_a_real_acpi_boot() {
        let b = include_bytes!("../../fixtures/qemu/arm64-virt-acpi-its-smmuv3/sys/firmware/acpi/tables/IORT");
        let t = Iort::parse(b).unwrap();
        assert_eq!(t.nodes.iter().map(|n| n.ty).collect::<Vec<_>>(), [ITS_GROUP, SMMU_V3, ROOT_COMPLEX]);
        let path = |rid| match t.map_rid(0, rid) {
            Walk::Its { steps, device_id, its_ids, .. } => {
                (steps.iter().map(|s| s.ty).collect::<Vec<_>>(), device_id, its_ids)
            }
            other => panic!("{rid:#x}: {other:?}"),
        };
        assert_eq!(path(0x10), (vec![ROOT_COMPLEX, SMMU_V3, ITS_GROUP], 0x10, vec![0]));
        assert_eq!(path(0xff), (vec![ROOT_COMPLEX, SMMU_V3, ITS_GROUP], 0xff, vec![0]));
        // 0x100 is the (off by one) end of mapping 0 and the start of mapping 1: mapping 1 wins.
        assert_eq!(path(0x100), (vec![ROOT_COMPLEX, ITS_GROUP], 0x100, vec![0]));
        assert_eq!(path(0xffff), (vec![ROOT_COMPLEX, ITS_GROUP], 0xffff, vec![0]));
        assert_eq!(t.map_rid(1, 0), Walk::NoRootComplex);
    }

    #[test]
    fn the_madt_its_entries_give_their_translation_ids() {
        let mut m = vec![0u8; 44];
        m[0..4].copy_from_slice(b"APIC");
        // GICD (type 0xc, 24 bytes), then two ITS (type 0xf, 20 bytes), then a broken entry.
        m.extend([0xc, 24].iter().chain([0u8; 22].iter()));
        for (id, base) in [(0u32, 0x0808_0000u64), (7, 0x0900_0000)] {
            let mut e = vec![0xf, 20, 0, 0];
            e.extend(id.to_le_bytes());
            e.extend(base.to_le_bytes());
            e.extend(0u32.to_le_bytes());
            m.extend(e);
        }
        m.extend([0xf, 0xff]);
        assert_eq!(madt_its(&m), vec![(0, 0x0808_0000), (7, 0x0900_0000)]);
    }
}
