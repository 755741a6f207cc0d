//! The project's generators, one home for every file the tree holds that a program writes
//! (`cargo xtask help` lists them; `GENERATED.md` lists the files). Each generator writes under
//! a root (the repository, or a temporary directory when a test checks the tree is fresh).

use std::error::Error;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub mod kernel_matrix;
pub mod synth;

/// What a generator returns: done, or why not.
pub type Result<T = ()> = std::result::Result<T, Box<dyn Error>>;

/// The repository's root directory.
pub fn repo() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// Where the synthetic fixtures live, under a root.
pub const SYNTHETIC: &str = "fixtures/synthetic";
/// The corpus fixture, under a root.
pub const CORPUS_FIXTURE: &str = "fixtures/corpus/arm64-its-64k";
/// The corpus audit document, under a root.
pub const CORPUS_DOC: &str = "docs/corpus.md";
/// The fixture the binary embeds as its demo host, and where the pack goes.
pub const DEMO_PACK: &str = "src/demo.pack";

/// `fixtures/synthetic/` (`cargo xtask synth-fixtures`).
pub fn synth_fixtures(root: &Path) -> Result<Vec<String>> {
    Ok(synth::write_all(&root.join(SYNTHETIC))?)
}

/// `docs/corpus.md` and `fixtures/corpus/arm64-its-64k` from `corpus/pciconf-msix.tsv`
/// (`cargo xtask corpus`).
pub fn corpus(root: &Path) -> Result {
    use msix_policy_bench::corpus;
    let entries = corpus::load().map_err(|e| e.to_string())?;
    let doc = root.join(CORPUS_DOC);
    if let Some(parent) = doc.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(&doc, corpus::report(&entries))?;
    let dir = root.join(CORPUS_FIXTURE);
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    corpus::write_fixture(&dir, &corpus::fixture_selection(&entries), 65536)?;
    Ok(())
}

/// `schemas/*.schema.json` from the Rust types (`cargo xtask schemas`).
pub fn schemas(root: &Path) -> Result {
    let dir = root.join("schemas");
    fs::create_dir_all(&dir)?;
    for s in msix_policy::schema::shapes() {
        fs::write(dir.join(s.file), msix_policy::schema::to_text(&s.schema))?;
    }
    Ok(())
}

/// `src/demo.pack`: the demo fixture packed (`cargo xtask demo`).
pub fn demo(root: &Path) -> Result {
    let fixture = repo().join("fixtures").join(msix_policy::demo::DEMO_FIXTURE);
    let pack = msix_policy::backends::pack::pack_dir(&fixture)?;
    let out = root.join(DEMO_PACK);
    if let Some(parent) = out.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(out, pack)?;
    Ok(())
}

/// `dist/man` and `dist/completions` from the CLI's own arguments (`cargo xtask dist`): the
/// binary's hidden `generate` command, built by the cargo running this.
pub fn dist(root: &Path) -> Result {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(repo())
        .args(["run", "--quiet", "-p", "msix-policy", "--bin", "msix-policy", "--", "generate"])
        .arg(root.join("dist"))
        .status()?;
    if !status.success() {
        return Err(format!("msix-policy generate: {status}").into());
    }
    Ok(())
}

/// One difference between two trees, for a freshness test's message.
fn entry_kind(p: &Path) -> std::io::Result<String> {
    let m = fs::symlink_metadata(p)?;
    Ok(if m.file_type().is_symlink() {
        format!("link -> {}", fs::read_link(p)?.display())
    } else if m.is_dir() {
        "dir".into()
    } else {
        format!("file mode {:o}", m.permissions().mode() & 0o777)
    })
}

fn walk(base: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in fs::read_dir(base.join(rel))? {
        let e = e?;
        let r = rel.join(e.file_name());
        out.push(r.clone());
        if e.file_type()?.is_dir() {
            walk(base, &r, out)?;
        }
    }
    Ok(())
}

/// The paths (relative) where trees `a` and `b` differ: present in one only, a different kind
/// (file, directory, link and its target, file mode) or different bytes.
pub fn diff_trees(a: &Path, b: &Path) -> std::io::Result<Vec<String>> {
    let (mut pa, mut pb) = (Vec::new(), Vec::new());
    walk(a, Path::new(""), &mut pa)?;
    walk(b, Path::new(""), &mut pb)?;
    let sa: std::collections::BTreeSet<_> = pa.into_iter().collect();
    let sb: std::collections::BTreeSet<_> = pb.into_iter().collect();
    let mut out = Vec::new();
    for r in sa.symmetric_difference(&sb) {
        out.push(format!("{}: only in {}", r.display(), if sa.contains(r) { a.display() } else { b.display() }));
    }
    for r in sa.intersection(&sb) {
        let (x, y) = (a.join(r), b.join(r));
        let (kx, ky) = (entry_kind(&x)?, entry_kind(&y)?);
        if kx != ky {
            out.push(format!("{}: {kx} vs {ky}", r.display()));
        } else if kx.starts_with("file") && fs::read(&x)? != fs::read(&y)? {
            out.push(format!("{}: contents differ", r.display()));
        }
    }
    Ok(out)
}
