//! `journal.jsonl`: one JSON object per change the toolkit made to a store — what, why, and the
//! SHA-256 of each file before and after. Written before the files change, so that a crash
//! midway leaves an entry that explains the new bytes.
//!
//! The journal is read as a stream, one line at a time with a cap per line, so a journal of
//! any size costs constant memory. What a line names is untrusted: an entry naming a file that
//! is no store file, or a backup folder the toolkit did not make, is a problem (reported as
//! STORE_TAMPERED, refused by rollback), never a path to open.

use crate::store::change::is_backup_folder;
use crate::store::is_store_file;
use crate::store::jail::Jail;
use serde::{Deserialize, Serialize};

pub const JOURNAL: &str = "journal.jsonl";

/// The longest journal line read (an entry is a few hundred bytes).
pub const MAX_LINE: usize = 64 * 1024;

/// At most this many problems are kept (and reported) per journal.
const MAX_PROBLEMS: usize = 8;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub at: String,
    pub action: String,
    pub reason: String,
    pub files: Vec<FileChange>,
    /// The backup folder (relative to the store) holding the superseded files.
    pub backup: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileChange {
    pub file: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl Entry {
    /// Why the entry cannot be trusted: a file that is no store file, a backup folder the
    /// toolkit did not make. `None` when every name is one the toolkit writes.
    pub fn untrusted_name(&self) -> Option<String> {
        if let Some(f) = self.files.iter().find(|f| !is_store_file(&f.file)) {
            return Some(format!("names '{}', which is no file of a store", f.file));
        }
        match &self.backup {
            Some(b) if !is_backup_folder(b) => Some(format!(
                "names the backup folder '{b}', which the toolkit did not make"
            )),
            _ => None,
        }
    }
}

/// What one pass over the journal found.
#[derive(Debug, Default)]
pub struct Scan {
    /// The last entry that could be parsed (trusted or not: rollback checks).
    pub last: Option<Entry>,
    /// The highest sequence number seen.
    pub max_seq: u64,
    /// Lines that name what they must not, and a journal that cannot be read: each a
    /// sentence, for STORE_TAMPERED.
    pub problems: Vec<String>,
}

/// Streams `jail`'s journal, oldest entry first; `visit` sees every entry whose names can be
/// trusted. Lines that cannot be parsed are skipped (a torn last line after a crash); lines
/// over [`MAX_LINE`] bytes are skipped and reported.
pub fn scan(jail: &Jail, mut visit: impl FnMut(&Entry)) -> Scan {
    let mut scan = Scan::default();
    let file = match jail.open_stream(JOURNAL) {
        Ok(Some(file)) => file,
        Ok(None) => return scan,
        Err(why) => {
            scan.problems.push(format!(
                "{}: {why}; the toolkit's history of this store is not read",
                jail.shown(JOURNAL).display()
            ));
            return scan;
        }
    };
    let problem = |scan: &mut Scan, why: String| {
        if scan.problems.len() < MAX_PROBLEMS {
            scan.problems
                .push(format!("{}: {why}", jail.shown(JOURNAL).display()));
        }
    };
    let streamed = crate::read::input::lines(file, MAX_LINE, |n, line| {
        let line = match line {
            Ok(line) => line,
            Err(_) => {
                problem(
                    &mut scan,
                    format!("line {n} is longer than {MAX_LINE} bytes; skipped"),
                );
                return true;
            }
        };
        let Ok(entry) = serde_json::from_slice::<Entry>(line) else {
            return true;
        };
        scan.max_seq = scan.max_seq.max(entry.seq);
        match entry.untrusted_name() {
            Some(why) => problem(&mut scan, format!("line {n} {why}: the journal was edited")),
            None => visit(&entry),
        }
        scan.last = Some(entry);
        true
    });
    if let Err(e) = streamed {
        problem(&mut scan, format!("could not be read to the end ({e})"));
    }
    scan
}

/// Appends `entry` to `jail`'s journal (fsynced; never through a link), which takes `owner`
/// (see `Jail::write`).
pub fn append(
    jail: &Jail,
    entry: &Entry,
    owner: Option<(u32, u32)>,
) -> Result<(), crate::error::Error> {
    let line = serde_json::to_string(entry)
        .map_err(|e| crate::error::Error::io(jail.shown(JOURNAL), std::io::Error::other(e)))?;
    jail.append_line(JOURNAL, &line, owner)
}

/// Whether `entry` wrote `hash` into `file`: the toolkit's own write.
pub fn writes(entry: &Entry, file: &str, hash: Option<&str>) -> bool {
    entry
        .files
        .iter()
        .any(|f| f.file == file && f.after.as_deref() == hash)
}
