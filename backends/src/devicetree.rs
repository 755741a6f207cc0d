//! The flattened device tree as Linux exposes it under `sys/firmware/devicetree/base`.

use crate::root::Root;

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

/// Whether the node's `compatible` holds any of `names`.
pub fn compatible_with(root: &Root, node: &str, names: &[&str]) -> Option<String> {
    let prop = if node.is_empty() { "compatible".to_string() } else { format!("{node}/compatible") };
    strings(root, &prop)?.into_iter().find(|c| names.contains(&c.as_str()))
}

/// Every node (relative path) whose `compatible` holds one of `names`, breadth first.
pub fn find_compatible(root: &Root, names: &[&str]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut queue = std::collections::VecDeque::from([(String::new(), 0usize)]);
    let mut visited = 0;
    while let Some((node, depth)) = queue.pop_front() {
        visited += 1;
        if visited > MAX_NODES {
            break;
        }
        if let Some(c) = compatible_with(root, &node, names) {
            found.push((node.clone(), c));
        }
        if depth >= MAX_DEPTH {
            continue;
        }
        for child in root.list(&path(&node)).unwrap_or_default() {
            let rel = if node.is_empty() { child } else { format!("{node}/{child}") };
            if root.is_dir(&path(&rel)) {
                queue.push_back((rel, depth + 1));
            }
        }
    }
    found
}

/// The node whose `phandle` (or legacy `linux,phandle`) equals `handle`.
pub fn by_phandle(root: &Root, handle: u32) -> Option<String> {
    let mut queue = std::collections::VecDeque::from([(String::new(), 0usize)]);
    let mut visited = 0;
    while let Some((node, depth)) = queue.pop_front() {
        visited += 1;
        if visited > MAX_NODES {
            return None;
        }
        for prop in ["phandle", "linux,phandle"] {
            let p = if node.is_empty() { prop.to_string() } else { format!("{node}/{prop}") };
            if cells(root, &p).and_then(|c| c.first().copied()) == Some(handle) {
                return Some(node);
            }
        }
        if depth < MAX_DEPTH {
            for child in root.list(&path(&node)).unwrap_or_default() {
                let rel = if node.is_empty() { child } else { format!("{node}/{child}") };
                if root.is_dir(&path(&rel)) {
                    queue.push_back((rel, depth + 1));
                }
            }
        }
    }
    None
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
