//! A recorded host packed into one text file, and unpacked again: how a binary carries a demo
//! fixture (no path known at compile time survives `cargo install`).
//!
//! One entry a line, in path order: `D<TAB>path`, `F<TAB>path<TAB>hex bytes`,
//! `L<TAB>path<TAB>link target`, after the header line [`HEADER`]. Links keep their relative
//! targets, as FIXTURES.md asks; [`Root`](crate::Root) checks them on every read.

use std::fmt::Write as _;
use std::fs;
use std::path::{Component, Path};

/// The first line of a pack.
pub const HEADER: &str = "msix-policy-pack v1";

/// Why a tree could not be packed or a pack unpacked.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A pack line that is not an entry, or a path that would leave the destination.
    #[error("pack line {line}: {what}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// A name that is not UTF-8, or holds a tab or newline.
    #[error("{0}: a name a pack cannot hold")]
    Name(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PackError + '_ {
    move |source| PackError::Io { path: path.display().to_string(), source }
}

/// Packs every directory, regular file and link under `dir`.
pub fn pack_dir(dir: &Path) -> Result<String, PackError> {
    let mut out = format!("{HEADER}\n");
    walk(dir, "", &mut out)?;
    Ok(out)
}

fn walk(base: &Path, rel: &str, out: &mut String) -> Result<(), PackError> {
    let here = base.join(rel);
    let mut names = Vec::new();
    for e in fs::read_dir(&here).map_err(io(&here))? {
        let e = e.map_err(io(&here))?;
        let name = e.file_name().into_string().map_err(|n| PackError::Name(n.to_string_lossy().into()))?;
        if name.contains(['\t', '\n']) {
            return Err(PackError::Name(name));
        }
        names.push(name);
    }
    names.sort();
    for name in names {
        let rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        let path = base.join(&rel);
        let meta = fs::symlink_metadata(&path).map_err(io(&path))?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).map_err(io(&path))?;
            let target =
                target.to_str().filter(|t| !t.contains(['\t', '\n'])).ok_or_else(|| PackError::Name(rel.clone()))?;
            let _ = writeln!(out, "L\t{rel}\t{target}");
        } else if meta.is_dir() {
            let _ = writeln!(out, "D\t{rel}");
            walk(base, &rel, out)?;
        } else if meta.is_file() {
            let bytes = fs::read(&path).map_err(io(&path))?;
            let _ = write!(out, "F\t{rel}\t");
            for b in bytes {
                let _ = write!(out, "{b:02x}");
            }
            out.push('\n');
        }
    }
    Ok(())
}

/// Writes a pack's entries under `dest` (which must exist). Every path stays inside `dest`.
pub fn unpack(pack: &str, dest: &Path) -> Result<(), PackError> {
    let mut lines = pack.lines().enumerate();
    if lines.next().map(|(_, l)| l) != Some(HEADER) {
        return Err(PackError::Malformed { line: 1, what: format!("expected {HEADER:?}") });
    }
    for (i, line) in lines {
        let bad = |what: &str| PackError::Malformed { line: i + 1, what: what.into() };
        let mut parts = line.splitn(3, '\t');
        let (kind, rel) = (parts.next().unwrap_or(""), parts.next().ok_or_else(|| bad("no path"))?);
        let inside = !rel.is_empty() && Path::new(rel).components().all(|c| matches!(c, Component::Normal(_)));
        if !inside {
            return Err(bad("a path that is not relative and plain"));
        }
        let path = dest.join(rel);
        match (kind, parts.next()) {
            ("D", None) => fs::create_dir(&path).map_err(io(&path))?,
            ("L", Some(target)) => std::os::unix::fs::symlink(target, &path).map_err(io(&path))?,
            ("F", Some(hex)) => {
                fs::write(&path, from_hex(hex).ok_or_else(|| bad("file bytes are not hex"))?).map_err(io(&path))?
            }
            _ => return Err(bad("not a D, F or L entry")),
        }
    }
    Ok(())
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|p| {
            let d = |c: u8| (c as char).to_digit(16);
            Some((d(p[0])? * 16 + d(p[1])?) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("msix-pack-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_tree_round_trips_with_binary_files_and_links() {
        let src = tmp("src");
        fs::create_dir_all(src.join("sys/bus")).unwrap();
        fs::write(src.join("sys/bus/config"), [0u8, 0x86, 0xff]).unwrap();
        std::os::unix::fs::symlink("../bus", src.join("sys/link")).unwrap();
        let packed = pack_dir(&src).unwrap();
        let dst = tmp("dst");
        unpack(&packed, &dst).unwrap();
        assert_eq!(fs::read(dst.join("sys/bus/config")).unwrap(), [0u8, 0x86, 0xff]);
        assert_eq!(fs::read_link(dst.join("sys/link")).unwrap(), Path::new("../bus"));
        assert_eq!(pack_dir(&dst).unwrap(), packed);
        fs::remove_dir_all(&src).unwrap();
        fs::remove_dir_all(&dst).unwrap();
    }

    #[test]
    fn a_pack_never_writes_outside_its_destination() {
        let dst = tmp("escape");
        for bad in ["F\t../x\t00", "F\t/etc/x\t00", "D\ta/../../b", "X\ta", "F\ta\t0"] {
            let e = unpack(&format!("{HEADER}\n{bad}\n"), &dst).unwrap_err();
            assert!(matches!(e, PackError::Malformed { line: 2, .. }), "{bad}: {e}");
        }
        assert!(unpack("not a pack\n", &dst).is_err());
        assert_eq!(fs::read_dir(&dst).unwrap().count(), 0);
        fs::remove_dir_all(&dst).unwrap();
    }
}
