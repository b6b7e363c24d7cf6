//! Where an audit keeps its per-store results while the fleet is scanned: an unnamed temporary
//! file (gone when the process ends, however it ends), one JSON line per store, in path order.
//! Memory holds one batch of stores at a time, so it stays flat as the fleet grows; the report
//! reads the file back, as many times as its format needs, each reader at its own offset.

use super::StoreResult;
use crate::error::Error;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};

pub(super) struct Spill {
    writer: BufWriter<File>,
}

impl Spill {
    pub(super) fn new() -> Result<Spill, Error> {
        let file = tempfile::tempfile().map_err(failed)?;
        Ok(Spill {
            writer: BufWriter::with_capacity(1 << 16, file),
        })
    }

    pub(super) fn push(&mut self, result: &StoreResult) -> Result<(), Error> {
        serde_json::to_writer(&mut self.writer, result)
            .map_err(io::Error::from)
            .and_then(|()| self.writer.write_all(b"\n"))
            .map_err(failed)?;
        Ok(())
    }

    /// Done writing: the file, for reading.
    pub(super) fn seal(self) -> Result<Sealed, Error> {
        let file = self
            .writer
            .into_inner()
            .map_err(|e| failed(e.into_error()))?;
        Ok(Sealed { file })
    }
}

/// A spill file written to the end.
pub(super) struct Sealed {
    file: File,
}

impl Sealed {
    /// The results in the order they were pushed.
    pub(super) fn read(&self) -> impl Iterator<Item = Result<StoreResult, Error>> + '_ {
        let mut lines = BufReader::with_capacity(
            1 << 16,
            At {
                file: &self.file,
                offset: 0,
            },
        );
        let mut line = String::new();
        std::iter::from_fn(move || {
            line.clear();
            match lines.read_line(&mut line) {
                Ok(0) => None,
                Ok(_) => Some(
                    serde_json::from_str(&line)
                        .map_err(|e| failed(io::Error::new(io::ErrorKind::InvalidData, e))),
                ),
                Err(e) => Some(Err(failed(e))),
            }
        })
    }
}

/// An I/O failure of the spill file: the audit could not run (exit 3), whatever the kind.
fn failed(e: io::Error) -> Error {
    Error::Io {
        path: std::env::temp_dir(),
        error: io::Error::new(
            e.kind(),
            format!("the audit's temporary file (TMPDIR chooses where): {e}"),
        ),
    }
}

/// Reads `file` from its own offset, so that readers do not move each other.
struct At<'a> {
    file: &'a File,
    offset: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(self.file, buf, self.offset)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(self.file, buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}
