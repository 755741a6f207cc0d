//! Test support (feature `test-support`): a root directory a test builds file by file and that
//! is removed when dropped. Platform crates' tests use it to make hosts no fixture shows.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempRoot(PathBuf);

impl TempRoot {
    /// A new empty directory named after `tag`, the process and a counter.
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "msix-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        TempRoot(p)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `data` at `rel`, making its parent directories.
    pub fn write(&self, rel: &str, data: impl AsRef<[u8]>) -> &Self {
        let p = self.parent_of(rel);
        std::fs::write(&p, data).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        self
    }

    /// Makes `rel` a symbolic link to `target`, making its parent directories.
    pub fn link(&self, rel: &str, target: &str) -> &Self {
        let p = self.parent_of(rel);
        std::os::unix::fs::symlink(target, &p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        self
    }

    fn parent_of(&self, rel: &str) -> PathBuf {
        let p = self.0.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
        }
        p
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
