//! The flattened device tree as Linux exposes it under `sys/firmware/devicetree/base`.

use crate::root::{EntryKind, Root};

/// The device tree's root node as Linux exposes it: one directory per node, one file per property.
pub const DT_BASE: &str = "sys/firmware/devicetree/base";
/// Bounds for walking a recorded tree: real trees have a few thousand nodes.
const MAX_NODES: usize = 20_000;
const MAX_DEPTH: usize = 16;

/// Path of a node or property under the root.
pub fn path(rel: &str) -> String {
    if rel.is_empty() {
        DT_BASE.to_string()
    } else {
        format!("{DT_BASE}/{rel}")
    }
}

/// A string-list property (`compatible`): NUL-separated strings.
pub fn strings(root: &Root, prop: &str) -> Option<Vec<String>> {
    let b = root.read(&path(prop)).ok()?;
    Some(b.split(|&c| c == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect())
}

/// A cell-list property: big-endian u32s.
pub fn cells(root: &Root, prop: &str) -> Option<Vec<u32>> {
    let b = root.read(&path(prop)).ok()?;
    Some(b.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// One node of the tree: its path, `compatible` strings, phandle and `device_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The node's path relative to [`DT_BASE`] (`soc/pcie@40000000`); empty for the root node.
    pub path: String,
    /// The `compatible` strings, most specific first; empty when the node has none.
    pub compatible: Vec<String>,
    /// The node's `phandle` (or `linux,phandle`); `None` when it has none or it cannot be read.
    pub phandle: Option<u32>,
    /// `device_type` (`pci` on every PCI host bridge, by the DT PCI bus binding).
    pub device_type: Option<String>,
}

/// The tree's nodes, read once (bounded in count and depth); lookups are then in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceTree {
    /// Every node read, breadth first from the root node.
    pub nodes: Vec<Node>,
}

impl DeviceTree {
    /// Walks `sys/firmware/devicetree/base` breadth first. A missing tree is an empty one.
    pub fn load(root: &Root) -> Self {
        let mut nodes = Vec::new();
        let mut queue = std::collections::VecDeque::from([(String::new(), 0usize)]);
        while let Some((node, depth)) = queue.pop_front() {
            if nodes.len() >= MAX_NODES {
                break;
            }
            let Ok(entries) = root.list_kinds(&path(&node)) else { continue };
            let join = |name: &str| if node.is_empty() { name.to_string() } else { format!("{node}/{name}") };
            let mut n = Node { path: node.clone(), compatible: Vec::new(), phandle: None, device_type: None };
            for (name, kind) in entries {
                match (kind, name.as_str()) {
                    (EntryKind::Dir, _) if depth < MAX_DEPTH => queue.push_back((join(&name), depth + 1)),
                    (EntryKind::File, "compatible") => {
                        n.compatible = strings(root, &join("compatible")).unwrap_or_default()
                    }
                    (EntryKind::File, "device_type") => {
                        n.device_type = strings(root, &join("device_type")).and_then(|s| s.into_iter().next())
                    }
                    (EntryKind::File, "phandle" | "linux,phandle") if n.phandle.is_none() => {
                        n.phandle = cells(root, &join(&name)).and_then(|c| c.first().copied());
                    }
                    _ => {}
                }
            }
            nodes.push(n);
        }
        DeviceTree { nodes }
    }

    /// Every node (path) whose `compatible` holds one of `names`, with the matching string.
    pub fn find_compatible(&self, names: &[&str]) -> Vec<(String, String)> {
        self.nodes
            .iter()
            .filter_map(|n| {
                n.compatible.iter().find(|c| names.contains(&c.as_str())).map(|c| (n.path.clone(), c.clone()))
            })
            .collect()
    }

    /// The node whose `phandle` equals `handle`.
    pub fn by_phandle(&self, handle: u32) -> Option<&Node> {
        self.nodes.iter().find(|n| n.phandle == Some(handle))
    }
}

/// The node and its ancestors, nearest first (`a/b/c`, `a/b`, `a`).
pub fn ancestry(node: &str) -> impl Iterator<Item = &str> {
    let mut cur = Some(node);
    std::iter::from_fn(move || {
        let n = cur?;
        cur = n.rsplit_once('/').map(|(p, _)| p);
        Some(n)
    })
}
