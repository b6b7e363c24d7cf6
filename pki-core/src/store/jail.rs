//! The store's folder as a handle that no name can leave: every file operation on a store —
//! reading role files, `crl/`, `backup/`, `journal.jsonl`, `.lock`, writing temporary files,
//! renaming, linking, removing — goes through a [`Jail`].
//!
//! The handle is a `cap_std::fs::Dir`: every path given to it is resolved beneath the folder
//! (on Linux with `openat2(RESOLVE_BENEATH)`, elsewhere component by component), so `..`, an
//! absolute path or a symlink whose target lies outside fails instead of resolving. Symlinks
//! that stay inside are followed when reading, never when writing: temporary files are created
//! new (`O_EXCL`), the journal is opened without following a link, and a rename replaces the
//! name itself. Reads go through the one capped reader (`read::input`), opened non-blocking so
//! that a FIFO neither hangs the open nor gets read.
//!
//! The store's own write steps count towards `PKI_CRASH_AFTER=N` (fault injection: the process
//! aborts right after the N-th step), so that a test can interrupt every one in turn.

use crate::error::Error;
use crate::read::input::{self, Read};
use cap_std::fs::{Dir, OpenOptions};
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A store folder (or a CA folder, or an output folder), held open.
#[derive(Debug)]
pub struct Jail {
    dir: Dir,
    path: PathBuf,
}

/// What a listed entry is, from the listing itself (symlinks are not followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A FIFO, a device, a socket.
    Other,
}

/// One entry of a listing.
#[derive(Debug, Clone)]
pub struct Listed {
    pub name: OsString,
    pub kind: Kind,
}

impl Listed {
    /// The name as text (`None` when it is not UTF-8).
    pub fn name(&self) -> Option<&str> {
        self.name.to_str()
    }
}

impl Jail {
    /// Opens the folder `path`. A missing path is `Error::NotFound`, a path that is not a
    /// folder `Error::BadRequest`.
    pub fn open(path: &Path) -> Result<Jail, Error> {
        input::folder(path)?;
        let dir = Dir::open_ambient_dir(path, cap_std::ambient_authority())
            .map_err(|e| Error::io(path, e))?;
        Ok(Jail {
            dir,
            path: path.to_path_buf(),
        })
    }

    /// Creates the folder `path` (and its parents) when missing, then opens it.
    pub fn create(path: &Path) -> Result<Jail, Error> {
        std::fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        Jail::open(path)
    }

    /// The folder's path, as the caller named it (for messages only: never opened again).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `name` inside the folder, for messages.
    pub fn shown(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }

    /// The error for a failed operation on `name`: a path that would leave the folder is
    /// refused (exit 2: the store's content is wrong) naming the file; others are I/O errors
    /// naming it (exit 3), a missing file `Error::NotFound`.
    pub fn error(&self, name: impl AsRef<Path>, e: io::Error) -> Error {
        let path = self.shown(&name);
        if escapes(&e) {
            let to = self.link_text(&name);
            Error::refused(
                path,
                format!("a symlink on this path leads out of the store (to {to}); the toolkit neither follows nor writes through it: remove it"),
            )
        } else if input::is_loop(&e) {
            Error::refused(path, "a symlink loop; remove it")
        } else {
            Error::io(path, e)
        }
    }

    // ---- reading ----

    /// Reads `name` with the capped reader. A symlink leading out is not followed
    /// ([`Read::LeavesStore`]); a symlink loop, a FIFO, a device or a socket is not read
    /// ([`Read::NotAFile`]), nor opened: its type is looked at first, then checked again on
    /// the open handle. A file with more than one name is not read ([`Read::HardLinked`]): a
    /// hard link is no link to see, and may be a file from outside the store (one that a
    /// change would copy into `backup/`, or write back under the store owner's name). A
    /// missing file is `Error::NotFound`.
    pub fn read(&self, name: impl AsRef<Path>) -> Result<Read, Error> {
        self.read_file(name.as_ref(), false)
    }

    /// [`Jail::read`] for the store's `.lock`, which has two names for an instant while a
    /// process takes it (written as `.lock.PID`, then hard-linked).
    pub fn read_lock(&self, name: impl AsRef<Path>) -> Result<Read, Error> {
        self.read_file(name.as_ref(), true)
    }

    fn read_file(&self, name: &Path, linked_ok: bool) -> Result<Read, Error> {
        let unopened = |e: io::Error| {
            if escapes(&e) {
                Ok(Read::LeavesStore(self.link_text(name)))
            } else if input::is_loop(&e) {
                Ok(Read::NotAFile("a symlink loop"))
            } else {
                Err(self.error(name, e))
            }
        };
        match self.dir.metadata(name) {
            Ok(meta) => {
                if let Some(what) = not_regular(&meta.file_type()) {
                    return Ok(Read::NotAFile(what));
                }
            }
            Err(e) => return unopened(e),
        }
        let file = match self.open_read(name) {
            Ok(file) => file,
            Err(e) => return unopened(e),
        };
        if !linked_ok {
            if let Some(names) = hard_linked(&file) {
                return Ok(Read::HardLinked(names));
            }
        }
        input::from_open(file).map_err(|e| self.error(name, e))
    }

    /// The bytes of `name` when it is a regular file that could be read, else `None`.
    pub fn bytes(&self, name: impl AsRef<Path>) -> Option<Vec<u8>> {
        match self.read(name) {
            Ok(Read::Bytes { bytes, .. }) => Some(bytes),
            _ => None,
        }
    }

    /// SHA-256 of `name`'s bytes, or `None` when it is missing or not a readable regular file.
    pub fn hash(&self, name: impl AsRef<Path>) -> Option<String> {
        self.bytes(name)
            .map(|bytes| crate::read::cert::sha256_hex(&bytes))
    }

    /// Opens `name` to be streamed (the journal): `Ok(None)` when it is missing, `Err` with
    /// the refusal when it is not a regular file inside the store.
    pub fn open_stream(&self, name: impl AsRef<Path>) -> Result<Option<std::fs::File>, String> {
        let name = name.as_ref();
        let file = match self.open_read(name) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) if escapes(&e) => {
                return Err(Read::LeavesStore(self.link_text(name))
                    .refusal()
                    .unwrap_or_default())
            }
            Err(e) if input::is_loop(&e) => {
                return Err(Read::NotAFile("a symlink loop")
                    .refusal()
                    .unwrap_or_default())
            }
            Err(e) => return Err(e.to_string()),
        };
        match file.metadata().map(|m| input::not_regular(&m.file_type())) {
            Ok(None) => match hard_linked(&file) {
                None => Ok(Some(file)),
                Some(names) => Err(Read::HardLinked(names).refusal().unwrap_or_default()),
            },
            Ok(Some(what)) => Err(Read::NotAFile(what).refusal().unwrap_or_default()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn open_read(&self, name: &Path) -> io::Result<std::fs::File> {
        let mut options = OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        {
            use cap_std::fs::OpenOptionsExt;
            options.custom_flags(input::nonblocking_flags());
        }
        self.dir.open_with(name, &options).map(|f| f.into_std())
    }

    /// What the entry `name` is, without following a symlink; `None` when there is none.
    pub fn kind(&self, name: impl AsRef<Path>) -> Option<Kind> {
        self.dir
            .symlink_metadata(name)
            .ok()
            .map(|m| kind_of(&m.file_type()))
    }

    /// The entries of the folder `sub` ("" for the store itself), sorted by name. With `cap`,
    /// a folder holding more entries is refused (exit 2) as no endpoint store.
    pub fn list(&self, sub: impl AsRef<Path>, cap: Option<usize>) -> Result<Vec<Listed>, Error> {
        let sub = sub.as_ref();
        let entries = if sub.as_os_str().is_empty() {
            self.dir.entries()
        } else {
            self.dir.read_dir(sub)
        }
        .map_err(|e| self.error(sub, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| self.error(sub, e))?;
            let kind = entry
                .file_type()
                .map(|t| kind_of(&t))
                .unwrap_or(Kind::Other);
            out.push(Listed {
                name: entry.file_name(),
                kind,
            });
            if let Some(cap) = cap.filter(|cap| out.len() > *cap) {
                return Err(Error::refused(
                    self.shown(sub),
                    format!("holds more than {cap} entries; that is no endpoint store"),
                ));
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The text of the symlink `name` (for messages), or "elsewhere".
    pub fn link_text(&self, name: impl AsRef<Path>) -> String {
        // the first component that is a link is the one that leads out
        let mut prefix = PathBuf::new();
        for part in name.as_ref().components() {
            prefix.push(part);
            if let Ok(target) = self.dir.read_link_contents(&prefix) {
                return target.display().to_string();
            }
        }
        "elsewhere".to_string()
    }

    // ---- writing ----

    /// Writes `name` atomically: a temporary file beside it (created new, so a name planted
    /// there is never followed), written, given `mode` (and `owner`, on the open handle),
    /// fsynced, renamed over `name`, and the folder fsynced. At any instant `name` holds the
    /// old bytes or the new ones.
    pub fn write(
        &self,
        name: &str,
        bytes: &[u8],
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<(), Error> {
        self.write_with(name, mode, owner, |w| w.write_all(bytes))
    }

    /// The same for output made as it is written (`fill` writes it). When `fill` fails, the
    /// temporary file is removed and `name` left as it was.
    pub fn write_with(
        &self,
        name: &str,
        mode: u32,
        owner: Option<(u32, u32)>,
        fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), Error> {
        let (parent, base) = split(name);
        if !parent.as_os_str().is_empty() {
            // a file in a sub-folder (a CRL in `crl/`): the folder is made, inside the store
            let mut folder = PathBuf::new();
            for part in parent.components() {
                folder.push(part);
                self.create_dir(&folder.to_string_lossy(), owner)?;
            }
        }
        let tmp = parent.join(format!(".{base}.tmp-{}", std::process::id()));
        let written = self.create_new(&tmp, mode).and_then(|file| {
            chown(&file, owner)?;
            let mut out = io::BufWriter::new(file);
            fill(&mut out)?;
            out.into_inner().map_err(|e| e.into_error())?.sync_all()
        });
        if let Err(e) = written {
            let _ = self.dir.remove_file(&tmp);
            return Err(self.error(&tmp, e));
        }
        step();
        if let Err(e) = self.dir.rename(&tmp, &self.dir, name) {
            let _ = self.dir.remove_file(&tmp);
            return Err(self.error(name, e));
        }
        step();
        self.sync(parent)
    }

    /// Creates `name` anew with `mode`, never through an entry already there: a leftover of
    /// ours (or anything planted under the name) is removed first — the name itself, never
    /// what a link points to.
    pub fn create_new(&self, name: &Path, mode: u32) -> io::Result<std::fs::File> {
        match self.dir.remove_file(name) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use cap_std::fs::OpenOptionsExt;
            options.mode(mode);
        }
        let file = self.dir.open_with(name, &options)?.into_std();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        #[cfg(not(unix))]
        let _ = mode;
        Ok(file)
    }

    /// Appends `line` and a newline to `name` (the journal), fsynced; the file takes `owner`
    /// (see [`Jail::write`]). A symlink, a FIFO, a hard link or anything but a regular file
    /// of its own under that name is refused, never written through.
    pub fn append_line(
        &self,
        name: &str,
        line: &str,
        owner: Option<(u32, u32)>,
    ) -> Result<(), Error> {
        use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt};
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        options.follow(FollowSymlinks::No);
        #[cfg(unix)]
        {
            use cap_std::fs::OpenOptionsExt;
            options.custom_flags(input::nonblocking_flags()).mode(0o644);
        }
        let fail = |e| self.error(name, e);
        let foreign = |what: &str| {
            Error::refused(
                self.shown(name),
                format!("{what}, not the toolkit's file: not written to; remove it (or move it out of the store), then run again"),
            )
        };
        match self.kind(name) {
            Some(Kind::Symlink) => return Err(foreign("a symlink")),
            Some(Kind::Dir) => return Err(foreign("a folder")),
            Some(Kind::Other) => return Err(foreign("a FIFO, device or socket")),
            Some(Kind::File) | None => {}
        }
        let mut file = self.dir.open_with(name, &options).map_err(fail)?.into_std();
        let meta = file.metadata().map_err(fail)?;
        if let Some(what) = input::not_regular(&meta.file_type()) {
            return Err(foreign(what));
        }
        if hard_linked(&file).is_some() {
            // appending would write into every file of that name, wherever it is
            return Err(foreign("a hard link (a file with more than one name)"));
        }
        chown(&file, owner)
            .and_then(|()| file.write_all(format!("{line}\n").as_bytes()))
            .and_then(|()| file.sync_all())
            .map_err(fail)?;
        step();
        Ok(())
    }

    /// Copies the regular file `from` into `to` (a backup), fsynced, with `mode` and `owner`
    /// (see [`Jail::write`]). A file that is not a regular one of the store's own is refused.
    pub fn copy(
        &self,
        from: &str,
        to: &str,
        mode: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<(), Error> {
        let bytes = match self.read(from)? {
            Read::Bytes { bytes, .. } => bytes,
            unread => {
                return Err(Error::refused(
                    self.shown(from),
                    unread.refusal().unwrap_or_default(),
                ))
            }
        };
        let fail = |e| self.error(to, e);
        let mut file = self.create_new(Path::new(to), mode).map_err(fail)?;
        chown(&file, owner).map_err(fail)?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(fail)?;
        step();
        Ok(())
    }

    /// Creates the folder `name` (its parent must exist) with mode 0755 (less as the umask
    /// says; never the 0777 an umask of 0 would leave) and `owner` (see [`Jail::write`]);
    /// `Ok(false)` when it exists already.
    pub fn create_dir(&self, name: &str, owner: Option<(u32, u32)>) -> Result<bool, Error> {
        let mut builder = cap_std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use cap_std::fs::DirBuilderExt;
            builder.mode(0o755);
        }
        match self.dir.create_dir_with(name, &builder) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(self.error(name, e)),
        }
        if owner.is_some() {
            // on the folder made, never through a link put in its place meanwhile
            use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt, OpenOptionsMaybeDirExt};
            let mut options = OpenOptions::new();
            options
                .read(true)
                .maybe_dir(true)
                .follow(FollowSymlinks::No);
            self.dir
                .open_with(name, &options)
                .and_then(|dir| match dir.metadata()?.is_dir() {
                    true => chown(&dir, owner),
                    false => Err(io::Error::other("not the folder made")),
                })
                .map_err(|e| self.error(name, e))?;
        }
        Ok(true)
    }

    /// Renames the entry `from` (whatever it is: a link is moved, not followed) to `to`.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), Error> {
        self.dir
            .rename(from, &self.dir, to)
            .map_err(|e| self.error(from, e))?;
        step();
        Ok(())
    }

    /// Hard-links `from` as `to`; `to` must not exist.
    pub fn hard_link(&self, from: &Path, to: &str) -> io::Result<()> {
        self.dir.hard_link(from, &self.dir, to)
    }

    /// Removes the file `name` (a link itself, never its target).
    pub fn remove_file(&self, name: impl AsRef<Path>) -> io::Result<()> {
        self.dir.remove_file(name)
    }

    /// Removes the folder `name` and everything in it (a failed change's own backup copies).
    pub fn remove_dir_all(&self, name: &str) -> Result<(), Error> {
        self.dir
            .remove_dir_all(name)
            .map_err(|e| self.error(name, e))
    }

    /// fsyncs the folder `sub` ("" for the store) so that renames in it are durable.
    pub fn sync(&self, sub: impl AsRef<Path>) -> Result<(), Error> {
        let sub = sub.as_ref();
        #[cfg(unix)]
        {
            use cap_fs_ext::OpenOptionsMaybeDirExt;
            // the handle itself may be a path-only descriptor: open the folder for reading
            let name = if sub.as_os_str().is_empty() {
                Path::new(".")
            } else {
                sub
            };
            let mut options = OpenOptions::new();
            options.read(true).maybe_dir(true);
            self.dir
                .open_with(name, &options)
                .and_then(|d| d.sync_all())
                .map_err(|e| self.error(sub, e))?;
        }
        #[cfg(not(unix))]
        let _ = sub;
        Ok(())
    }

    /// Whom what is written into the folder belongs to: run as root, the folder's owner when
    /// that is another user (so that the product's service account can still read its key: a
    /// root-owned 0600 key is a key it cannot use, and a root-owned `backup/` or journal a
    /// store it can no longer change); `None` otherwise (the writer's own).
    pub fn heir(&self) -> Option<(u32, u32)> {
        #[cfg(unix)]
        {
            let running_as_root = rustix::process::geteuid().is_root();
            self.owner().filter(|(uid, _)| running_as_root && *uid != 0)
        }
        #[cfg(not(unix))]
        None
    }

    /// The owner (uid, gid) of the folder itself (Unix).
    #[cfg(unix)]
    pub fn owner(&self) -> Option<(u32, u32)> {
        use cap_std::fs::MetadataExt;
        let meta = self.dir.dir_metadata().ok()?;
        Some((meta.uid(), meta.gid()))
    }

    #[cfg(not(unix))]
    pub fn owner(&self) -> Option<(u32, u32)> {
        None
    }

    /// A second handle on the same folder (the lock's guard keeps one).
    pub fn try_clone(&self) -> Result<Jail, Error> {
        Ok(Jail {
            dir: self.dir.try_clone().map_err(|e| Error::io(&self.path, e))?,
            path: self.path.clone(),
        })
    }
}

/// A name's folder part and last component ("crl/a.crl" → ("crl", "a.crl")).
fn split(name: &str) -> (&Path, &str) {
    match name.rsplit_once('/') {
        Some((parent, base)) => (Path::new(parent), base),
        None => (Path::new(""), name),
    }
}

#[cfg(unix)]
fn chown(file: &impl std::os::fd::AsFd, owner: Option<(u32, u32)>) -> io::Result<()> {
    match owner {
        Some((uid, gid)) => std::os::unix::fs::fchown(file, Some(uid), Some(gid)),
        None => Ok(()),
    }
}

#[cfg(not(unix))]
fn chown<T>(_file: &T, _owner: Option<(u32, u32)>) -> io::Result<()> {
    Ok(())
}

/// The number of names of the open regular file `file` when it has more than one.
fn hard_linked(file: &std::fs::File) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        file.metadata()
            .ok()
            .filter(|m| m.is_file() && m.nlink() > 1)
            .map(|m| m.nlink())
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        None
    }
}

/// What a looked-up entry that is not a regular file is, in the words of
/// [`input::not_regular`]; `None` for a regular file.
fn not_regular(t: &cap_std::fs::FileType) -> Option<&'static str> {
    match kind_of(t) {
        Kind::File => None,
        Kind::Dir => Some("a folder"),
        Kind::Symlink => Some("a symlink"),
        #[cfg(unix)]
        Kind::Other => {
            use cap_std::fs::FileTypeExt;
            Some(input::special(
                t.is_fifo(),
                t.is_char_device(),
                t.is_block_device(),
                t.is_socket(),
            ))
        }
        #[cfg(not(unix))]
        Kind::Other => Some("a special file"),
    }
}

fn kind_of(t: &cap_std::fs::FileType) -> Kind {
    if t.is_file() {
        Kind::File
    } else if t.is_dir() {
        Kind::Dir
    } else if t.is_symlink() {
        Kind::Symlink
    } else {
        Kind::Other
    }
}

/// Whether cap-std refused `e` because the path would leave the folder (its own error carries
/// no OS error code; a real EACCES does).
fn escapes(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied && e.raw_os_error().is_none()
}

/// One write step done; aborts here when fault injection asks for it.
fn step() {
    static STEPS: AtomicU32 = AtomicU32::new(0);
    let n = STEPS.fetch_add(1, Ordering::SeqCst) + 1;
    let crash_at = std::env::var("PKI_CRASH_AFTER")
        .ok()
        .and_then(|v| v.parse::<u32>().ok());
    if crash_at == Some(n) {
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn writes_and_reads_inside() {
        let dir = tempfile::tempdir().unwrap();
        let jail = Jail::open(dir.path()).unwrap();
        jail.write("a.txt", b"hello", 0o600, None).unwrap();
        assert_eq!(jail.bytes("a.txt").unwrap(), b"hello");
    }

    /// A store folder and, beside it, an outside folder holding a file.
    fn store_and_outside() -> (tempfile::TempDir, Jail, std::path::PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let store = root.path().join("store");
        let outside = root.path().join("outside");
        std::fs::create_dir_all(&store).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("f"), b"outside").unwrap();
        let jail = Jail::open(&store).unwrap();
        (root, jail, outside)
    }

    #[cfg(unix)]
    #[test]
    fn no_name_resolves_outside() {
        use std::os::unix::fs::symlink;
        let (root, jail, outside) = store_and_outside();
        let store = root.path().join("store");
        symlink(outside.join("f"), store.join("link")).unwrap();
        symlink(&outside, store.join("dir-link")).unwrap();
        let absolute = outside.join("f").display().to_string();
        // reading: `..`, an absolute path, a link out, a folder link out
        for name in ["../outside/f", absolute.as_str(), "link", "dir-link/f"] {
            match jail.read(name) {
                Ok(Read::LeavesStore(_)) | Err(Error::Refused { .. }) => {}
                other => panic!("{name}: {other:?}"),
            }
        }
        // writing, copying, renaming, linking, creating folders through the same names
        for name in ["../outside/g", absolute.as_str(), "dir-link/g"] {
            assert!(jail.write(name, b"x", 0o644, None).is_err(), "{name}");
            assert!(
                jail.create_dir(&format!("{name}-d"), None).is_err(),
                "{name}"
            );
            assert!(jail.rename("link", name).is_err(), "{name}");
        }
        assert!(jail.append_line("link", "x", None).is_err());
        assert!(jail.copy("link", "copy", 0o644, None).is_err());
        // the outside is as it was
        let names: Vec<_> = std::fs::read_dir(&outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f"]);
        assert_eq!(std::fs::read(outside.join("f")).unwrap(), b"outside");
    }

    #[cfg(unix)]
    #[test]
    fn a_temporary_name_planted_as_a_link_is_replaced_not_followed() {
        use std::os::unix::fs::symlink;
        let (root, jail, outside) = store_and_outside();
        let store = root.path().join("store");
        let tmp = store.join(format!(".device.key.tmp-{}", std::process::id()));
        symlink(outside.join("f"), &tmp).unwrap();
        jail.write("device.key", b"key", 0o600, None).unwrap();
        assert_eq!(std::fs::read(outside.join("f")).unwrap(), b"outside");
        assert_eq!(std::fs::read(store.join("device.key")).unwrap(), b"key");
        assert!(
            std::fs::symlink_metadata(&tmp).is_err(),
            "the planted name is gone"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_link_in_the_way_of_a_write_is_replaced_itself() {
        use std::os::unix::fs::symlink;
        let (root, jail, outside) = store_and_outside();
        let store = root.path().join("store");
        symlink(outside.join("f"), store.join("chain.pem")).unwrap();
        jail.write("chain.pem", b"chain", 0o644, None).unwrap();
        assert_eq!(std::fs::read(outside.join("f")).unwrap(), b"outside");
        assert!(!std::fs::symlink_metadata(store.join("chain.pem"))
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
