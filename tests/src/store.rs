//! Endpoint stores written into temporary folders, laid out as the contract says.

use std::fs;
use std::path::{Path, PathBuf};

/// A temporary folder removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pki-test-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `content` to `name` inside the folder and returns its path.
    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent");
        }
        fs::write(&path, content).expect("write file");
        path
    }

    pub fn str(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// What goes into a managed store.
pub struct Endpoint<'a> {
    pub device_id: &'a str,
    pub cert: String,
    pub key: String,
    pub chain: String,
    pub trust: String,
}

impl Endpoint<'_> {
    /// Writes the store into `dir` (key mode 0600) and returns the folder.
    pub fn write(&self, dir: &TempDir) -> PathBuf {
        dir.write(
            "store.yaml",
            format!("schema: 1\ndevice_id: {}\npolicy: device\n", self.device_id),
        );
        dir.write("device.crt", &self.cert);
        let key = dir.write("device.key", &self.key);
        set_mode(&key, 0o600);
        dir.write("chain.pem", &self.chain);
        dir.write("trust.pem", &self.trust);
        dir.path().to_path_buf()
    }
}

#[cfg(unix)]
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

#[cfg(not(unix))]
pub fn set_mode(_path: &Path, _mode: u32) {}

/// The key a crashed enrollment left in `store`: its file name (`device.key`, or the
/// temporary `.device.key.tmp-PID` it was written to before the rename) and its bytes.
pub fn key_left(store: &Path) -> Option<(String, Vec<u8>)> {
    fs::read_dir(store).ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        (name == "device.key" || name.starts_with(".device.key.tmp-")).then(|| {
            let bytes = fs::read(e.path()).expect("read the key left");
            (name, bytes)
        })
    })
}
