//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every recorded host under fixtures/ (a directory holding fixture.toml), sorted.
pub fn fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![repo().join("fixtures")];
    while let Some(dir) = stack.pop() {
        if dir.join("fixture.toml").is_file() {
            out.push(dir);
            continue;
        }
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    assert!(out.len() >= 12, "expected the bundled fixtures, found {out:?}");
    out
}

/// `synthetic/x86-vtd-ir` for a fixture path.
pub fn name(p: &Path) -> String {
    p.strip_prefix(repo().join("fixtures")).unwrap_or(p).display().to_string()
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("fixtures").join(name)
}

/// Copies a fixture to a fresh temporary directory (links kept as links).
pub fn copy_fixture(name: &str) -> TempDir {
    let t = TempDir::new();
    let status =
        std::process::Command::new("cp").arg("-a").arg(fixture(name)).arg(t.path().join("root")).status().unwrap();
    assert!(status.success());
    t
}

pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "msix-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn root(&self) -> PathBuf {
        self.0.join("root")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

mod runner;
pub use runner::under_runner;

/// The `msix-policy` binary with these arguments, not yet run (to set its environment or stdin).
pub fn command(args: &[&str]) -> std::process::Command {
    let mut c = under_runner(Path::new(env!("CARGO_BIN_EXE_msix-policy")));
    c.args(args);
    c
}

/// The `msix-policy` binary with these arguments, run to completion.
pub fn run_cli(args: &[&str]) -> std::process::Output {
    command(args).output().expect("binary runs")
}

pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
