//! The kind of path each argument takes, checked while the command line is parsed: a path that
//! does not exist, or is a file where a folder belongs (or the other way round), is a usage
//! error (exit 64) whose message names it, before anything runs or is written.

use clap::builder::{PathBufValueParser, TypedValueParser};
use std::path::{Path, PathBuf};

/// An existing file (anything that is not a folder: a FIFO is refused later, by the reader).
pub fn file() -> impl TypedValueParser<Value = PathBuf> {
    PathBufValueParser::new().try_map(|p| match kind(&p) {
        Kind::Folder => Err(format!(
            "{} is a folder, not a regular file: a file is needed here",
            p.display()
        )),
        Kind::Missing => Err(format!("{}: no such file", p.display())),
        Kind::Loop => Err(looping(&p)),
        Kind::File | Kind::Unknown => Ok(p),
    })
}

/// An existing folder.
pub fn folder() -> impl TypedValueParser<Value = PathBuf> {
    PathBufValueParser::new().try_map(|p| match kind(&p) {
        Kind::Folder | Kind::Unknown => Ok(p),
        Kind::Missing => Err(format!("{}: no such folder", p.display())),
        Kind::Loop => Err(looping(&p)),
        Kind::File => Err(format!(
            "{} is a file; a folder is needed here",
            p.display()
        )),
    })
}

/// A folder that exists or will be made: nothing on the way may be a file.
pub fn folder_or_new() -> impl TypedValueParser<Value = PathBuf> {
    PathBufValueParser::new().try_map(|p| {
        let first_there = p
            .ancestors()
            .find(|a| !a.as_os_str().is_empty() && kind(a) != Kind::Missing);
        match first_there {
            Some(a) if kind(a) == Kind::File => Err(if a == p.as_path() {
                format!("{} is a file; a folder is needed here", p.display())
            } else {
                format!(
                    "{} is a file, so {} cannot be a folder",
                    a.display(),
                    p.display()
                )
            }),
            Some(a) if kind(a) == Kind::Loop => Err(looping(a)),
            _ => Ok(p),
        }
    })
}

/// A store folder that exists or will be made ([`folder_or_new`]), and is no CA folder: a CA's
/// `trust.pem` and `chain.pem` are its bundles, which a store's would replace.
pub fn store_or_new() -> impl TypedValueParser<Value = PathBuf> {
    folder_or_new().try_map(|p: PathBuf| {
        if p.join(pki_core::ca::CONFIG).exists() {
            Err(format!(
                "{} is a CA folder (it holds {}): a store is a folder of its own",
                p.display(),
                pki_core::ca::CONFIG
            ))
        } else {
            Ok(p)
        }
    })
}

/// A file to write: not a folder, in a folder that exists.
pub fn new_file() -> impl TypedValueParser<Value = PathBuf> {
    PathBufValueParser::new().try_map(|p| {
        let parent = p
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        match (kind(&p), kind(parent)) {
            (Kind::Folder, _) => Err(format!(
                "{} is a folder; give the name of a file to write",
                p.display()
            )),
            (Kind::Loop, _) => Err(looping(&p)),
            (_, Kind::Loop) => Err(looping(parent)),
            (_, Kind::Missing | Kind::File) => Err(format!(
                "{}: no such folder to write {} in",
                parent.display(),
                p.display()
            )),
            _ => Ok(p),
        }
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Missing,
    Folder,
    File,
    /// A symbolic link that leads back to itself (ELOOP): neither file nor folder.
    Loop,
    /// Not for us to say (permission denied): the command meets it and says so (exit 3).
    Unknown,
}

fn kind(path: &Path) -> Kind {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Kind::Folder,
        Ok(_) => Kind::File,
        // a dangling symlink is there, but leads nowhere: missing
        // (a file on the way, `file/sub`, is NotADirectory: the walk up finds the file)
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Kind::Missing
        }
        Err(e) if pki_core::read::input::is_loop(&e) => Kind::Loop,
        Err(_) => Kind::Unknown,
    }
}

fn looping(path: &Path) -> String {
    format!(
        "{}: a symbolic link that leads round in a loop, to no file or folder",
        path.display()
    )
}
