//! Reading a root directory (`/` or a recorded fixture) without ever leaving it.
//!
//! Paths are resolved one component at a time. A symbolic link is read with readlink and its
//! target resolved inside the root: an absolute target restarts at the root (as under chroot),
//! and a `..` that would climb above the root is refused with [`ReadError::OutsideRoot`]. Only
//! regular files are opened, with O_NOFOLLOW and O_NONBLOCK, and reads are bounded.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{ErrorKind, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags};

/// Most files here are sysfs attributes of a few bytes; kernel logs and ACPI tables are larger.
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// Links followed while resolving one path (the kernel's own limit is 40).
const MAX_LINK_HOPS: usize = 40;
/// Entries listed from one directory.
pub const MAX_DIR_ENTRIES: usize = 65_536;

/// Why a path under a [`Root`] could not be read. Every variant carries the path as asked
/// (relative to the root); a caller turns it into an unknown fact with evidence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Nothing is at the path (or at a component of it).
    #[error("{0}: missing")]
    Missing(String),
    /// A link (or a `..`) on the way would climb above the root; nothing was read.
    #[error("{path}: a link ({target}) points outside the root; it is read as unknown")]
    OutsideRoot {
        /// The path asked for.
        path: String,
        /// The link target (or `..`) that would leave the root, as written.
        target: String,
    },
    /// More than 40 links were followed resolving the path (the kernel's own limit).
    #[error("{0}: too many levels of links")]
    LinkLoop(String),
    /// The path is a directory, device node, FIFO or socket where a regular file was expected.
    #[error("{0}: not a regular file")]
    NotAFile(String),
    /// The path is not a directory where one was expected.
    #[error("{0}: not a directory")]
    NotADir(String),
    /// The file holds more than [`MAX_FILE_BYTES`].
    #[error("{0}: larger than {MAX_FILE_BYTES} bytes")]
    TooLarge(String),
    /// Any other failure (permission denied, not a link where one was read, ...), with its message.
    #[error("{path}: {msg}")]
    Io {
        /// The path asked for.
        path: String,
        /// What went wrong (the operating system's message, as a rule).
        msg: String,
    },
}

impl ReadError {
    /// True for [`ReadError::Missing`]: the file is absent, not unreadable.
    pub fn is_missing(&self) -> bool {
        matches!(self, ReadError::Missing(_))
    }

    /// The message without the path (for evidence already keyed by the path).
    pub fn reason(&self) -> String {
        let full = self.to_string();
        match full.split_once(": ") {
            Some((_, rest)) => rest.to_string(),
            None => full,
        }
    }
}

/// A sysfs hex attribute (`0x8086`, `0x010802`, an ecap `0xf0050e`): the one parser for them.
pub fn parse_hex(value: &str) -> Option<u64> {
    u64::from_str_radix(value.trim().trim_start_matches("0x"), 16).ok()
}

/// The last component of a link target (`../../../bus/pci/drivers/vfio-pci` -> `vfio-pci`):
/// the name of a driver, an IOMMU group, a device.
pub fn link_name(target: &str) -> Option<String> {
    target.rsplit('/').next().filter(|n| !n.is_empty()).map(str::to_string)
}

/// Why a root could not be opened; the kinds a caller can match on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RootError {
    /// Nothing is at that path.
    #[error("{path}: no such directory (give `/` or a recorded fixture)")]
    Missing {
        /// The path as given.
        path: String,
        /// The error canonicalizing it.
        #[source]
        source: std::io::Error,
    },
    /// The path exists but may not be read.
    #[error("{path}: permission denied (run as root, or record the host first)")]
    PermissionDenied {
        /// The path as given.
        path: String,
        /// The error canonicalizing it.
        #[source]
        source: std::io::Error,
    },
    /// The path is a file, not a directory.
    #[error("{path}: not a directory (give `/` or a recorded fixture)")]
    NotADirectory {
        /// The path as given.
        path: String,
    },
    /// Any other failure to resolve it.
    #[error("{path}: {source}")]
    Io {
        /// The path as given.
        path: String,
        /// The error canonicalizing it.
        #[source]
        source: std::io::Error,
    },
}

impl RootError {
    /// The path that was asked for.
    pub fn path(&self) -> &str {
        match self {
            RootError::Missing { path, .. }
            | RootError::PermissionDenied { path, .. }
            | RootError::NotADirectory { path }
            | RootError::Io { path, .. } => path,
        }
    }
}

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Link,
    /// Anything else: a device node, FIFO or socket.
    Other,
}

/// A directory that stands for `/` of a host.
#[derive(Debug, Clone)]
pub struct Root {
    base: PathBuf,
    live: bool,
    /// Every path read, listed or readlinked, when tracing (for the mutation sweep).
    trace: Option<std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>>,
}

impl Root {
    /// Opens a root. It must be a directory; `/` (after canonicalization) is the live host.
    pub fn open(path: impl AsRef<Path>) -> Result<Root, RootError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let base = fs::canonicalize(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => RootError::Missing { path: shown.clone(), source },
            std::io::ErrorKind::PermissionDenied => RootError::PermissionDenied { path: shown.clone(), source },
            _ => RootError::Io { path: shown.clone(), source },
        })?;
        if !base.is_dir() {
            return Err(RootError::NotADirectory { path: shown });
        }
        let live = base == Path::new("/");
        Ok(Root { base, live, trace: None })
    }

    /// A root that remembers every path it is asked for; `traced()` lists them.
    pub fn with_trace(mut self) -> Self {
        self.trace = Some(Default::default());
        self
    }

    /// The paths asked for so far (empty unless made `with_trace`).
    pub fn traced(&self) -> Vec<String> {
        self.trace
            .as_ref()
            .map(|t| t.lock().map(|s| s.iter().cloned().collect()).unwrap_or_default())
            .unwrap_or_default()
    }

    fn note(&self, rel: &str) {
        if let Some(t) = &self.trace {
            if let Ok(mut s) = t.lock() {
                s.insert(rel.to_string());
            }
        }
    }

    /// The root's directory, canonicalized (`/` for the live host).
    pub fn path(&self) -> &Path {
        &self.base
    }

    /// True for `/`: the host this process runs on.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Resolves `rel` to a real path inside the root. With `follow_last` false, a final link
    /// is returned as the link itself.
    fn resolve(&self, rel: &str, follow_last: bool) -> Result<PathBuf, ReadError> {
        let mut stack: Vec<OsString> = Vec::new();
        let mut queue: VecDeque<OsString> = components(Path::new(rel));
        let mut hops = 0;
        while let Some(c) = queue.pop_front() {
            if c == ".." {
                if stack.pop().is_none() {
                    return Err(ReadError::OutsideRoot { path: rel.into(), target: "..".into() });
                }
                continue;
            }
            stack.push(c);
            let real = self.join(&stack);
            let meta = match fs::symlink_metadata(&real) {
                Ok(m) => m,
                Err(e) if e.kind() == ErrorKind::NotFound => return Err(ReadError::Missing(rel.into())),
                Err(e) => return Err(io_err(rel, &e)),
            };
            if !meta.file_type().is_symlink() || (!follow_last && queue.is_empty()) {
                continue;
            }
            hops += 1;
            if hops > MAX_LINK_HOPS {
                return Err(ReadError::LinkLoop(rel.into()));
            }
            let target = fs::read_link(&real).map_err(|e| io_err(rel, &e))?;
            stack.pop();
            if target.is_absolute() {
                stack.clear();
            }
            // Climbing out is checked against the parent of the link, component by component.
            let mut depth = stack.len() as isize;
            for t in components(&target).iter() {
                depth += if t == ".." { -1 } else { 1 };
                if depth < 0 {
                    return Err(ReadError::OutsideRoot { path: rel.into(), target: target.display().to_string() });
                }
            }
            for t in components(&target).into_iter().rev() {
                queue.push_front(t);
            }
        }
        Ok(self.join(&stack))
    }

    fn join(&self, stack: &[OsString]) -> PathBuf {
        let mut p = self.base.clone();
        p.extend(stack);
        p
    }

    /// Reads a regular file, at most [`MAX_FILE_BYTES`].
    pub fn read(&self, rel: &str) -> Result<Vec<u8>, ReadError> {
        self.note(rel);
        let real = self.resolve(rel, true)?;
        let meta = fs::symlink_metadata(&real).map_err(|e| io_err(rel, &e))?;
        if !meta.is_file() {
            return Err(ReadError::NotAFile(rel.into()));
        }
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&real)
            .map_err(|e| io_err(rel, &e))?;
        read_bounded(file, meta.len(), rel)
    }

    /// Reads a file as text (invalid UTF-8 replaced).
    pub fn read_text(&self, rel: &str) -> Result<String, ReadError> {
        self.read(rel).map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Reads a one-value attribute, trimmed.
    pub fn read_value(&self, rel: &str) -> Result<String, ReadError> {
        self.read_text(rel).map(|s| s.trim().to_string())
    }

    /// The target of a link, as written (never followed).
    pub fn read_link(&self, rel: &str) -> Result<String, ReadError> {
        self.note(rel);
        let real = self.resolve(rel, false)?;
        let meta = fs::symlink_metadata(&real).map_err(|e| io_err(rel, &e))?;
        if !meta.file_type().is_symlink() {
            return Err(ReadError::Io { path: rel.into(), msg: "not a link".into() });
        }
        let t = fs::read_link(&real).map_err(|e| io_err(rel, &e))?;
        Ok(t.to_string_lossy().into_owned())
    }

    /// Names in a directory, sorted; at most [`MAX_DIR_ENTRIES`].
    pub fn list(&self, rel: &str) -> Result<Vec<String>, ReadError> {
        let real = self.resolve(rel, true)?;
        let rd = fs::read_dir(&real).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOTDIR) => ReadError::NotADir(rel.into()),
            _ => io_err(rel, &e),
        })?;
        let mut names = Vec::new();
        for entry in rd.take(MAX_DIR_ENTRIES) {
            let entry = entry.map_err(|e| io_err(rel, &e))?;
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// Whether a path exists in the root (as a file, directory or link).
    pub fn exists(&self, rel: &str) -> bool {
        self.resolve(rel, false).is_ok()
    }

    /// Names in a directory with what each is (not following links), sorted.
    pub fn list_kinds(&self, rel: &str) -> Result<Vec<(String, EntryKind)>, ReadError> {
        self.note(rel);
        let real = self.resolve(rel, true)?;
        let rd = fs::read_dir(&real).map_err(|e| io_err(rel, &e))?;
        let mut out = Vec::new();
        for entry in rd.take(MAX_DIR_ENTRIES) {
            let entry = entry.map_err(|e| io_err(rel, &e))?;
            let kind = match entry.file_type() {
                Ok(t) if t.is_symlink() => EntryKind::Link,
                Ok(t) if t.is_dir() => EntryKind::Dir,
                Ok(t) if t.is_file() => EntryKind::File,
                _ => EntryKind::Other,
            };
            out.push((entry.file_name().to_string_lossy().into_owned(), kind));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// A handle on a directory of the root, for reading many entries of it cheaply: the path is
    /// resolved once, then each entry is opened relative to the directory with O_NOFOLLOW, so a
    /// single-component name can never lead out of the root.
    pub fn dir(&self, rel: &str) -> Result<Dir<'_>, ReadError> {
        self.note(rel);
        let real = self.resolve(rel, true)?;
        let fd = rustix::fs::open(
            &real,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            rustix::io::Errno::NOENT => ReadError::Missing(rel.into()),
            rustix::io::Errno::NOTDIR => ReadError::NotADir(rel.into()),
            e => ReadError::Io { path: rel.into(), msg: e.to_string() },
        })?;
        Ok(Dir { root: self, rel: rel.to_string(), fd })
    }

    /// What the last component of `rel` is, without following it.
    pub fn kind(&self, rel: &str) -> Option<EntryKind> {
        let m = fs::symlink_metadata(self.resolve(rel, false).ok()?).ok()?;
        let t = m.file_type();
        Some(if t.is_symlink() {
            EntryKind::Link
        } else if t.is_dir() {
            EntryKind::Dir
        } else if t.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        })
    }

    /// Whether `rel` resolves, following links inside the root, to a directory.
    pub fn is_dir(&self, rel: &str) -> bool {
        self.resolve(rel, true).is_ok_and(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
    }
}

/// An open directory of a [`Root`] (see [`Root::dir`]).
pub struct Dir<'r> {
    root: &'r Root,
    rel: String,
    fd: std::os::fd::OwnedFd,
}

impl Dir<'_> {
    fn path_of(&self, name: &str) -> String {
        format!("{}/{name}", self.rel)
    }

    /// `name` must be one path component; anything else goes through the root's resolver.
    fn single(name: &str) -> bool {
        !name.is_empty() && name != "." && name != ".." && !name.contains('/')
    }

    fn errno(&self, name: &str, e: rustix::io::Errno) -> ReadError {
        let path = self.path_of(name);
        match e {
            rustix::io::Errno::NOENT => ReadError::Missing(path),
            // O_NOFOLLOW on a link: a fixture's link where a file belongs is resolved the slow,
            // checked way by the caller.
            rustix::io::Errno::LOOP => ReadError::NotAFile(path),
            e => ReadError::Io { path, msg: e.to_string() },
        }
    }

    /// Reads a regular file of this directory, at most [`MAX_FILE_BYTES`].
    pub fn read(&self, name: &str) -> Result<Vec<u8>, ReadError> {
        if !Self::single(name) {
            return self.root.read(&self.path_of(name));
        }
        self.root.note(&self.path_of(name));
        // In a recording, look before opening: opening a device node planted there (a watchdog,
        // a tape) could act on this host. The live sysfs holds none.
        if !self.root.live {
            match rustix::fs::statat(&self.fd, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => match rustix::fs::FileType::from_raw_mode(st.st_mode) {
                    rustix::fs::FileType::RegularFile => {}
                    rustix::fs::FileType::Symlink => return self.root.read(&self.path_of(name)),
                    _ => return Err(ReadError::NotAFile(self.path_of(name))),
                },
                Err(e) => return Err(self.errno(name, e)),
            }
        }
        let fd = match rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            // A link (allowed in a live sysfs, never out of the root): the checked resolver.
            Err(rustix::io::Errno::LOOP) => return self.root.read(&self.path_of(name)),
            Err(e) => return Err(self.errno(name, e)),
        };
        if self.root.live {
            let st = rustix::fs::fstat(&fd).map_err(|e| self.errno(name, e))?;
            if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
                return Err(ReadError::NotAFile(self.path_of(name)));
            }
        }
        // Attribute files are small: one read into a page-sized buffer. A short read of a
        // regular file (or a sysfs attribute, produced by one show() call) is its end.
        let mut file = std::fs::File::from(fd);
        let mut buf = vec![0u8; 8192];
        let n = file.read(&mut buf).map_err(|e| io_err(&self.path_of(name), &e))?;
        if n < buf.len() {
            buf.truncate(n);
            return Ok(buf);
        }
        let mut rest = read_bounded(file, 0, &self.path_of(name))?;
        buf.append(&mut rest);
        if buf.len() as u64 > MAX_FILE_BYTES {
            return Err(ReadError::TooLarge(self.path_of(name)));
        }
        Ok(buf)
    }

    /// Reads a file of this directory as text (invalid UTF-8 replaced).
    pub fn read_text(&self, name: &str) -> Result<String, ReadError> {
        self.read(name).map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Reads a one-value attribute of this directory, trimmed.
    pub fn read_value(&self, name: &str) -> Result<String, ReadError> {
        self.read_text(name).map(|s| s.trim().to_string())
    }

    /// The target of a link of this directory, as written (never followed).
    pub fn read_link(&self, name: &str) -> Result<String, ReadError> {
        if !Self::single(name) {
            return self.root.read_link(&self.path_of(name));
        }
        self.root.note(&self.path_of(name));
        match rustix::fs::readlinkat(&self.fd, name, Vec::new()) {
            Ok(t) => Ok(t.to_string_lossy().into_owned()),
            Err(rustix::io::Errno::INVAL) => Err(ReadError::Io { path: self.path_of(name), msg: "not a link".into() }),
            Err(e) => Err(self.errno(name, e)),
        }
    }

    /// Names in a sub-directory, sorted. A link there goes through the root's checked resolver.
    pub fn list(&self, name: &str) -> Result<Vec<String>, ReadError> {
        if !Self::single(name) {
            return self.root.list(&self.path_of(name));
        }
        self.root.note(&self.path_of(name));
        match rustix::fs::openat(&self.fd, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => entries_of(fd).map_err(|e| self.errno(name, e)),
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => self.root.list(&self.path_of(name)),
            Err(e) => Err(self.errno(name, e)),
        }
    }

    /// Names in this directory, sorted.
    pub fn names(&self) -> Result<Vec<String>, ReadError> {
        let fd = rustix::fs::openat(&self.fd, ".", DIR_FLAGS, Mode::empty()).map_err(|e| self.errno(".", e))?;
        entries_of(fd).map_err(|e| self.errno(".", e))
    }

    /// A sub-directory, opened relative to this one; a link there goes through the root's
    /// checked resolver (a live sysfs links every function's directory).
    pub fn subdir(&self, name: &str) -> Result<Dir<'_>, ReadError> {
        let path = self.path_of(name);
        if !Self::single(name) {
            return self.root.dir(&path);
        }
        match rustix::fs::openat(&self.fd, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => {
                self.root.note(&path);
                Ok(Dir { root: self.root, rel: path, fd })
            }
            Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => self.root.dir(&path),
            Err(e) => Err(self.errno(name, e)),
        }
    }
}

const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// The names in an open directory, sorted, without `.` and `..`.
fn entries_of(fd: std::os::fd::OwnedFd) -> Result<Vec<String>, rustix::io::Errno> {
    let mut dir = rustix::fs::Dir::new(fd)?;
    let mut names = Vec::new();
    while let Some(entry) = dir.read() {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy();
        if name != "." && name != ".." {
            names.push(name.into_owned());
        }
        if names.len() >= MAX_DIR_ENTRIES {
            break;
        }
    }
    names.sort();
    Ok(names)
}

/// Reads an open regular file to its end, at most [`MAX_FILE_BYTES`]. Room for the whole file is
/// made up front, so one read fills it and the next sees the end (sysfs attributes report 4096
/// bytes, proc files 0).
fn read_bounded(file: fs::File, size: u64, rel: &str) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::with_capacity(size.clamp(4096, MAX_FILE_BYTES) as usize + 1);
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut buf).map_err(|e| io_err(rel, &e))?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::TooLarge(rel.into()));
    }
    Ok(buf)
}

fn components(p: &Path) -> VecDeque<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .filter(|s: &OsString| !OsStr::as_bytes(s).is_empty())
        .collect()
}

fn io_err(rel: &str, e: &std::io::Error) -> ReadError {
    ReadError::Io { path: rel.into(), msg: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempdir::Dir, Root) {
        let d = tempdir::Dir::new();
        fs::create_dir_all(d.0.join("root/sys/devices/pci0000:00/0000:00:01.0")).unwrap();
        fs::create_dir_all(d.0.join("root/sys/bus/pci/devices")).unwrap();
        fs::write(d.0.join("root/sys/devices/pci0000:00/0000:00:01.0/vendor"), "0x8086\n").unwrap();
        fs::write(d.0.join("secret"), "outside").unwrap();
        symlink("../../../devices/pci0000:00/0000:00:01.0", d.0.join("root/sys/bus/pci/devices/0000:00:01.0")).unwrap();
        let r = Root::open(d.0.join("root")).unwrap();
        (d, r)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "msix-root-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn follows_links_that_stay_inside() {
        let (_d, r) = tree();
        assert_eq!(r.read_value("sys/bus/pci/devices/0000:00:01.0/vendor").unwrap(), "0x8086");
        assert_eq!(
            r.read_link("sys/bus/pci/devices/0000:00:01.0").unwrap(),
            "../../../devices/pci0000:00/0000:00:01.0"
        );
        assert_eq!(r.list("sys/bus/pci/devices").unwrap(), vec!["0000:00:01.0"]);
    }

    #[test]
    fn refuses_links_and_dotdot_that_leave_the_root() {
        let (d, r) = tree();
        symlink("../../../../secret", d.0.join("root/sys/leak")).unwrap();
        assert!(matches!(r.read("sys/leak"), Err(ReadError::OutsideRoot { .. })));
        assert!(matches!(r.read("../secret"), Err(ReadError::OutsideRoot { .. })));
        assert!(matches!(r.read("sys/../../secret"), Err(ReadError::OutsideRoot { .. })));
        // An absolute target is re-rooted: it names root/secret, which does not exist.
        symlink(d.0.join("secret"), d.0.join("root/sys/abs")).unwrap();
        assert!(r.read("sys/abs").unwrap_err().is_missing());
    }

    #[test]
    fn link_loops_and_special_files_are_errors() {
        let (d, r) = tree();
        symlink("b", d.0.join("root/a")).unwrap();
        symlink("a", d.0.join("root/b")).unwrap();
        assert!(matches!(r.read("a"), Err(ReadError::LinkLoop(_))));
        assert!(matches!(r.read("sys"), Err(ReadError::NotAFile(_))));
        let fifo = d.0.join("root/fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(matches!(r.read("fifo"), Err(ReadError::NotAFile(_))));
        assert!(r.read("nope").unwrap_err().is_missing());
    }
}
