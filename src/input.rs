//! Reading what a user hands the CLI (a plan input, an audit to diff): a file or standard input,
//! never more than a documented number of bytes, so `plan /dev/zero` ends with an error instead
//! of taking the machine's memory.

use std::io::Read;
use std::path::Path;

/// The largest audit JSON `diff` and `audit --baseline` read: 128 MiB, room for a host with
/// thousands of functions (an audit takes a few KiB per function).
pub const MAX_AUDIT_JSON_BYTES: usize = 128 << 20;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file or stream could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path, or `stdin`.
        path: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// More bytes than the limit.
    #[error("{path}: more than {limit} bytes; no input of this kind is that large")]
    TooLarge {
        /// The path, or `stdin`.
        path: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// Not UTF-8 text.
    #[error("{path}: not UTF-8 text")]
    NotText {
        /// The path, or `stdin`.
        path: String,
    },
}

/// Reads `path` (`-` for standard input) as text, at most `limit` bytes: one byte more is an
/// error, read before any more memory is taken.
pub fn read_bounded(path: &Path, limit: usize) -> Result<String, ReadError> {
    let stdin = path.as_os_str() == "-";
    let shown = if stdin { "stdin".to_string() } else { path.display().to_string() };
    let io = |source| ReadError::Io { path: shown.clone(), source };
    let mut bytes = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    if stdin {
        std::io::stdin().lock().take(cap).read_to_end(&mut bytes).map_err(io)?;
    } else {
        std::fs::File::open(path).and_then(|f| f.take(cap).read_to_end(&mut bytes)).map_err(io)?;
    }
    if bytes.len() > limit {
        return Err(ReadError::TooLarge { path: shown, limit });
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotText { path: shown })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_file_stops_at_the_limit() {
        let e = read_bounded(Path::new("/dev/zero"), 4096).unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { limit: 4096, .. }), "{e}");
    }

    #[test]
    fn a_file_at_the_limit_reads_and_binary_is_refused() {
        let dir = std::env::temp_dir().join(format!("msix-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x");
        std::fs::write(&f, "x".repeat(16)).unwrap();
        assert_eq!(read_bounded(&f, 16).unwrap().len(), 16);
        assert!(matches!(read_bounded(&f, 15), Err(ReadError::TooLarge { .. })));
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        assert!(matches!(read_bounded(&f, 16), Err(ReadError::NotText { .. })));
        assert!(matches!(read_bounded(&dir.join("absent"), 16), Err(ReadError::Io { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
