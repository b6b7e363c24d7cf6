//! The layout's rule, checked on the source itself: imports run one way, `lifecycle` →
//! `judge` → `store` → `read`, and nothing in `judge/` or `read/` writes a file.

use std::path::{Path, PathBuf};

/// The folders of the pipeline, upstream first; a folder may import only those after it.
const PIPELINE: [&str; 4] = ["lifecycle", "judge", "store", "read"];

fn sources(folder: &str) -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(folder);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("source file");
            out.push((path, text));
        }
    }
    assert!(!out.is_empty(), "{} holds no source", dir.display());
    out
}

#[test]
fn imports_run_one_way() {
    let mut broken = Vec::new();
    for (rank, folder) in PIPELINE.iter().enumerate() {
        let upstream = &PIPELINE[..rank];
        for (path, text) in sources(folder) {
            for up in upstream {
                let needle = format!("crate::{up}::");
                if text.contains(&needle) {
                    broken.push(format!("{} imports from {up}/", path.display()));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports against the pipeline:\n{}",
        broken.join("\n")
    );
}

#[test]
fn judging_and_reading_never_write() {
    // opening for reading (non-blocking, through `OpenOptions`) is reading; any of these is not
    const WRITES: [&str; 10] = [
        "fs::write",
        "fs::rename",
        "fs::remove",
        "fs::copy",
        "fs::create_dir",
        "File::create",
        ".write(true)",
        ".append(true)",
        ".create(true)",
        "set_permissions",
    ];
    let mut broken = Vec::new();
    for folder in ["judge", "read"] {
        for (path, text) in sources(folder) {
            for write in WRITES {
                if text.contains(write) {
                    broken.push(format!("{} uses {write}", path.display()));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "writes where only reading belongs:\n{}",
        broken.join("\n")
    );
}
