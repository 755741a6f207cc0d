//! Writing a report where a collector reads it (node_exporter's textfile directory, NFD's
//! features.d): never half a file, never a stale temporary left behind on failure.

use std::io::Write as _;
use std::path::Path;

/// Why the file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct WriteError {
    /// The file or directory at fault.
    pub path: String,
    /// What the system said.
    #[source]
    pub source: std::io::Error,
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory (a dot file, which
/// NFD and node_exporter skip), flushed to disk, then renamed over `path`. Missing directories
/// are created.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let err = |p: &Path| {
        let path = p.display().to_string();
        move |source| WriteError { path, source }
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    let name = path.file_name().ok_or_else(|| WriteError {
        path: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
    })?;
    let tmp = dir.join(format!(".{}.tmp.{}", name.to_string_lossy(), std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(path)(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_file_whole_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("msix-output-{}", std::process::id()));
        let file = dir.join("sub/metrics.prom");
        write_atomically(&file, b"one\n").unwrap();
        write_atomically(&file, b"two\n").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two\n");
        assert_eq!(std::fs::read_dir(dir.join("sub")).unwrap().count(), 1);
        // A directory where the file should be: an error, and no temporary left.
        std::fs::create_dir_all(dir.join("sub/taken")).unwrap();
        assert!(write_atomically(&dir.join("sub/taken"), b"x").is_err());
        assert_eq!(std::fs::read_dir(dir.join("sub")).unwrap().count(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
