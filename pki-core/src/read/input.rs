//! Reading files from the field safely: the one capped reader every read of the toolkit goes
//! through. Only regular files are read: the file is opened non-blocking (a FIFO does not hang
//! the open) and its type is checked on the open handle (a FIFO, a device or a socket is named,
//! never read); at most [`MAX_FILE_SIZE`] bytes are read, whatever the file claims. Files of a
//! store are opened through the store's folder handle (`store::jail`) and handed here open;
//! files named on the command line (`--policy`, `--trust`, CSRs, CA files) are opened here by
//! path.

use crate::error::Error;
use std::fs;
use std::io::{BufRead, Read as _};
use std::path::Path;

/// Larger files are not read: no certificate, key, CRL or policy an endpoint holds comes near it.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// A folder with more entries than this is not an endpoint store.
pub const MAX_STORE_ENTRIES: usize = 10_000;

/// A file read, or the reason it was not.
#[derive(Debug)]
pub enum Read {
    Bytes {
        bytes: Vec<u8>,
        mode: Option<u32>,
    },
    TooLarge(u64),
    /// A symlink whose target lies outside the store (the link's text, for the message):
    /// not followed.
    LeavesStore(String),
    /// Not a regular file: what it is ("a FIFO (named pipe)", "a folder", …).
    NotAFile(&'static str),
    /// A store file with more than one name (the count): a hard link may lead to a file
    /// outside the store, whose bytes a change would copy or give to the store's owner.
    HardLinked(u64),
}

impl Read {
    /// Why the file was not read, as a finding says it; `None` when it was.
    pub fn refusal(&self) -> Option<String> {
        match self {
            Read::Bytes { .. } => None,
            Read::TooLarge(size) => Some(format!(
                "{size} bytes, larger than the {MAX_FILE_SIZE} byte limit; not read"
            )),
            Read::LeavesStore(target) => Some(format!(
                "a symlink leading out of the store (to {target}); not followed"
            )),
            Read::NotAFile(what) => Some(format!("{what}, not a regular file; not read")),
            Read::HardLinked(names) => Some(format!(
                "a hard link (the file has {names} names; it may be a file from outside the store); not read: give the store a copy of its own"
            )),
        }
    }
}

/// `Ok` when `dir` is a folder; else why not (missing, or something else).
pub fn folder(dir: &Path) -> Result<(), Error> {
    if dir.is_dir() {
        Ok(())
    } else if dir.exists() {
        Err(Error::BadRequest {
            path: dir.to_path_buf(),
            reason: "is not a folder".into(),
        })
    } else {
        Err(Error::NotFound {
            path: dir.to_path_buf(),
        })
    }
}

/// The canonical path of `dir` when it is a folder holding the regular file `file` that only
/// the system or the user running pki can have put there and can change: the file, the
/// folder and every folder above them owned by root or by this user, and none of them
/// writable by group or others (a folder above may be, with its sticky bit set, as `/tmp`:
/// nobody can rename there what another user owns). `None` otherwise. This is the check
/// OpenSSH makes of the files it trusts (`StrictModes`). The path given back holds no
/// symlink: a link that another user owns could be turned elsewhere later.
///
/// Used where a path comes from a file an attacker may write (the `ca:` a store's
/// `store.yaml` records) before it is printed as a folder to run a command against.
pub fn trusted_folder(dir: &Path, file: &str) -> Option<std::path::PathBuf> {
    let real = fs::canonicalize(dir).ok()?;
    let inner = real.join(file);
    if !fs::symlink_metadata(&inner).ok()?.is_file() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = rustix::process::geteuid().as_raw();
        let safe = |path: &Path, above: bool| {
            fs::symlink_metadata(path).is_ok_and(|m| {
                let owner = m.uid() == 0 || m.uid() == me;
                let open = m.mode() & 0o022 != 0;
                let sticky = m.is_dir() && m.mode() & 0o1000 != 0;
                owner && (!open || (above && sticky))
            })
        };
        let all_safe = safe(&inner, false)
            && safe(&real, false)
            && real.ancestors().skip(1).all(|above| safe(above, true));
        all_safe.then_some(real)
    }
    #[cfg(not(unix))]
    Some(real)
}

/// Reads a file named on the command line (or in a CA's configuration): regular files only,
/// capped. A missing file is `Error::NotFound`; other I/O failures are `Error::Io`.
pub fn read(path: &Path) -> Result<Read, Error> {
    // the type first, without opening: a device is never opened, a socket cannot be
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if let Some(what) = not_regular(&meta.file_type()) {
        return Ok(Read::NotAFile(what));
    }
    let file = open_options().open(path).map_err(|e| Error::io(path, e))?;
    from_open(file).map_err(|e| Error::io(path, e))
}

/// [`read`], with a file that could not be read refused as a bad request naming what it is
/// (a FIFO, a device, too large).
pub fn bytes(path: &Path) -> Result<Vec<u8>, Error> {
    match read(path)? {
        Read::Bytes { bytes, .. } => Ok(bytes),
        unread => Err(Error::BadRequest {
            path: path.to_path_buf(),
            reason: unread.refusal().unwrap_or_default(),
        }),
    }
}

/// [`bytes`] as UTF-8 text.
pub fn text(path: &Path) -> Result<String, Error> {
    String::from_utf8(bytes(path)?).map_err(|_| Error::BadRequest {
        path: path.to_path_buf(),
        reason: "not UTF-8 text".into(),
    })
}

/// Opens a file named by path to be streamed with [`lines`] (a CA's index, which grows past
/// [`MAX_FILE_SIZE`]): regular files only, refused as a bad request naming what it is.
pub fn stream(path: &Path) -> Result<fs::File, Error> {
    let file = open_options().open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    match not_regular(&meta.file_type()) {
        None => Ok(file),
        Some(what) => Err(Error::BadRequest {
            path: path.to_path_buf(),
            reason: Read::NotAFile(what).refusal().unwrap_or_default(),
        }),
    }
}

/// How every file is opened for reading: non-blocking, so that opening a FIFO returns at once,
/// and without taking a terminal as the controlling one.
pub fn open_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(nonblocking_flags());
    }
    options
}

/// `O_NONBLOCK | O_NOCTTY` (Unix), for options of another file API (the store's handle).
#[cfg(unix)]
pub fn nonblocking_flags() -> i32 {
    (rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY).bits() as i32
}

/// Reads an open file: its type checked on the handle (a file of the kernel's own file
/// systems, `/proc` or `/sys`, is no file to read either: reading `/proc/kmsg` takes the
/// kernel's messages from the system log), at most [`MAX_FILE_SIZE`] bytes.
pub fn from_open(file: fs::File) -> std::io::Result<Read> {
    let meta = file.metadata()?;
    if let Some(what) = not_regular(&meta.file_type()).or_else(|| kernel_file(&file)) {
        return Ok(Read::NotAFile(what));
    }
    if meta.len() > MAX_FILE_SIZE {
        return Ok(Read::TooLarge(meta.len()));
    }
    // read at most one byte past the cap: a file that grew meanwhile is still refused
    let mut bytes = Vec::with_capacity(meta.len() as usize + 1);
    file.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Ok(Read::TooLarge(bytes.len() as u64));
    }
    Ok(Read::Bytes {
        bytes,
        mode: mode(&meta),
    })
}

/// Whether `e` is ELOOP: a path through a symbolic link that leads round in a loop (or is
/// refused as a link where none may be followed).
pub fn is_loop(e: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error())
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// What a file that is not a regular one is, in words; `None` for a regular file.
pub fn not_regular(t: &fs::FileType) -> Option<&'static str> {
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a folder");
    }
    if t.is_symlink() {
        return Some("a symlink");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        Some(special(
            t.is_fifo(),
            t.is_char_device(),
            t.is_block_device(),
            t.is_socket(),
        ))
    }
    #[cfg(not(unix))]
    Some("a special file")
}

/// A special file in words, from what it is (the store's handle asks cap-std's file type the
/// same questions).
pub fn special(fifo: bool, char_device: bool, block_device: bool, socket: bool) -> &'static str {
    match (fifo, char_device, block_device, socket) {
        (true, ..) => "a FIFO (named pipe)",
        (_, true, ..) => "a character device",
        (_, _, true, _) => "a block device",
        (.., true) => "a socket",
        _ => "a special file",
    }
}

/// What an open file is when it lies on one of the kernel's own file systems (procfs, sysfs,
/// debugfs and the like), whose "files" are interfaces: `None` for a file of a real one.
#[cfg(target_os = "linux")]
pub fn kernel_file(file: &fs::File) -> Option<&'static str> {
    // the file systems' magic numbers (linux/magic.h)
    const KERNEL: [(u32, &str); 9] = [
        (0x9fa0, "a file of /proc (the kernel's process file system)"),
        (0x6265_6572, "a file of /sys (the kernel's sysfs)"),
        (0x6462_6720, "a file of the kernel's debugfs"),
        (0x7472_6163, "a file of the kernel's tracefs"),
        (0x7363_6673, "a file of the kernel's securityfs"),
        (0x6367_7270, "a file of the kernel's cgroup file system"),
        (0x0027_e0eb, "a file of the kernel's cgroup file system"),
        (0xde5e_81e4, "an EFI variable (efivarfs)"),
        (0x6265_6570, "a file of the kernel's configfs"),
    ];
    let stat = rustix::fs::fstatfs(file).ok()?;
    // f_type's width differs between architectures; the magic numbers are 32 bits
    let magic = stat.f_type as u64 as u32;
    KERNEL
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, what)| *what)
}

#[cfg(not(target_os = "linux"))]
pub fn kernel_file(_file: &fs::File) -> Option<&'static str> {
    None
}

/// Why a line of a [`lines`] stream was not handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong;

/// Streams an open file line by line (each without its line end), never holding more than
/// `per_line` bytes of one line: a longer line is handed over as `Err(LineTooLong)` and skipped
/// to its end. `visit` gets the 1-based line number. Stops at the end, or when `visit` says
/// `false`. A file's type must have been checked (see [`from_open`]).
pub fn lines(
    file: impl std::io::Read,
    per_line: usize,
    mut visit: impl FnMut(u64, Result<&[u8], LineTooLong>) -> bool,
) -> std::io::Result<()> {
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let mut too_long = false;
        let mut ended = false;
        // read up to the newline in buffer-sized steps, keeping at most `per_line` bytes
        loop {
            let buf = reader.fill_buf()?;
            if buf.is_empty() {
                ended = true;
                break;
            }
            let (chunk, found) = match memchr::memchr(b'\n', buf) {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            if !too_long {
                if line.len() + chunk.len() > per_line {
                    too_long = true;
                    line.clear();
                } else {
                    line.extend_from_slice(chunk);
                }
            }
            let used = found.unwrap_or(buf.len());
            reader.consume(used);
            if found.is_some() {
                break;
            }
        }
        if ended && line.is_empty() && !too_long {
            return Ok(());
        }
        number += 1;
        let item = if too_long {
            Err(LineTooLong)
        } else {
            Ok(line.strip_suffix(b"\r").unwrap_or(&line))
        };
        if !visit(number, item) || ended {
            return Ok(());
        }
    }
}

#[cfg(unix)]
fn mode(meta: &fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode(_meta: &fs::Metadata) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn stream(text: &[u8], cap: usize) -> Vec<Result<String, LineTooLong>> {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, text).unwrap();
        std::io::Seek::rewind(&mut file).unwrap();
        let mut out = Vec::new();
        lines(file, cap, |_, l| {
            out.push(l.map(|b| String::from_utf8_lossy(b).into_owned()));
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn lines_are_capped_one_by_one() {
        assert_eq!(
            stream(b"ab\r\ncdefgh\nij", 4),
            vec![Ok("ab".into()), Err(LineTooLong), Ok("ij".into())]
        );
        assert_eq!(stream(b"", 4), vec![]);
        assert_eq!(
            stream(b"a\n\nb\n", 4),
            vec![Ok("a".into()), Ok("".into()), Ok("b".into())]
        );
        // a line far longer than the reader's buffer
        let long = [vec![b'x'; 100_000], b"\nok\n".to_vec()].concat();
        assert_eq!(stream(&long, 1000), vec![Err(LineTooLong), Ok("ok".into())]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn devices_and_fifos_are_named_not_read() {
        assert!(matches!(
            read(Path::new("/dev/zero")).unwrap(),
            Read::NotAFile("a character device")
        ));
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // opening does not wait for a writer
        assert!(matches!(
            read(&fifo).unwrap(),
            Read::NotAFile("a FIFO (named pipe)")
        ));
        assert!(matches!(
            read(dir.path()).unwrap(),
            Read::NotAFile("a folder")
        ));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn files_of_the_kernel_are_named_not_read() {
        // regular files by their type, yet interfaces: /proc/kmsg would take the kernel's
        // messages from the system log
        for path in ["/proc/self/status", "/sys/kernel/uevent_seqnum"] {
            match read(Path::new(path)) {
                Ok(Read::NotAFile(what)) => assert!(what.contains("kernel"), "{path}: {what}"),
                other => panic!("{path}: {other:?}"),
            }
        }
        // a socket is named, not an I/O error ("no such device or address")
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("socket");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        assert!(matches!(read(&socket).unwrap(), Read::NotAFile("a socket")));
    }
}
