//! A `pki serve` started for a test: on 127.0.0.1, a port the kernel picks, the clock fixed,
//! its log kept; stopped with SIGTERM when the test is done.

use crate::store::TempDir;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Server {
    child: Child,
    pub port: u16,
    /// `https://localhost:PORT`.
    pub url: String,
    log: PathBuf,
}

/// Settings every test server uses: quick reloads. (Clients check the server's certificate at
/// the test's instant, never the wall clock; its default lifetime is what is tested.)
pub const CONFIG: &str = "reload_interval_seconds: 1\n";

impl Server {
    /// Starts `pki serve --ca CA --at AT` with `extra` flags; `dir` holds its config and log.
    pub fn start(ca: &Path, at: &str, dir: &TempDir, extra: &[&str]) -> Server {
        Server::start_with(ca, at, dir, extra, "", None)
    }

    /// The same with `config` lines added to [`CONFIG`] and, with `nofile`, the open-file
    /// limit lowered to it (`ulimit -n`) before the server starts.
    pub fn start_with(
        ca: &Path,
        at: &str,
        dir: &TempDir,
        extra: &[&str],
        config: &str,
        nofile: Option<u32>,
    ) -> Server {
        Server::launch(ca, at, dir, extra, config, nofile, 0)
    }

    /// `pki serve --ca CA --at AT` on `port` (the port of a server stopped before: the same
    /// URL, with its clock moved on).
    pub fn start_on(ca: &Path, at: &str, dir: &TempDir, port: u16) -> Server {
        Server::launch(ca, at, dir, &[], "", None, port)
    }

    fn launch(
        ca: &Path,
        at: &str,
        dir: &TempDir,
        extra: &[&str],
        config: &str,
        nofile: Option<u32>,
        port: u16,
    ) -> Server {
        let n = std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(0);
        // a key in `config` replaces the same key of CONFIG
        let keys: Vec<&str> = config.lines().filter_map(|l| l.split(':').next()).collect();
        let base: String = CONFIG
            .lines()
            .filter(|l| !keys.contains(&l.split(':').next().unwrap_or("")))
            .map(|l| format!("{l}\n"))
            .collect();
        let config = dir.write(&format!("serve-{n}.yaml"), format!("{base}{config}"));
        let log = dir.join(&format!("serve-{n}.log"));
        let mut command = Command::new("sh");
        let limit = nofile.map_or(String::new(), |n| format!("ulimit -n {n} && "));
        command
            .args(["-c", &format!("{limit}exec \"$0\" \"$@\"")])
            .arg(crate::run::binary())
            .args(["serve", "--ca"])
            .arg(ca)
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--name",
                "localhost",
                "--at",
                at,
                "--config",
            ])
            .arg(&config)
            .args(extra);
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start pki serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!(
                    "pki serve did not start: {line:?}\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        Server {
            child,
            port,
            url: format!("https://localhost:{port}"),
            log,
        }
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then its exit status.
    pub fn stop(mut self) -> i32 {
        self.terminate();
        let status = self.child.wait().expect("wait");
        status.code().unwrap_or(-1)
    }

    /// Sends `signal` (`HUP`, `TERM`, …).
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status();
    }

    /// Waits up to `seconds` for the process to end; its exit status.
    pub fn wait_exit(&mut self, seconds: u64) -> Option<i32> {
        for _ in 0..seconds * 10 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        None
    }

    /// Waits up to `seconds` for `text` in the log.
    pub fn wait_log(&self, text: &str, seconds: u64) -> bool {
        for _ in 0..seconds * 10 {
            if self.log().contains(text) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    }

    fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Whether `tool` runs here; under CI=true its absence fails the test, otherwise the test
/// says loudly that it is skipped.
pub fn have(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        crate::skip(&format!("{tool} is not installed here"));
    }
    found
}

/// A TLS client for a test server: it trusts `trust` (PEM), presents `identity` (chain PEM
/// and key PEM) if given, and checks the server's certificate at `at`.
pub fn client_config(
    trust: &[u8],
    identity: Option<(&[u8], &[u8])>,
    at: &str,
) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(trust).filter_map(Result::ok) {
        roots.add(c).expect("trust anchor");
    }
    let builder = rustls::ClientConfig::builder_with_details(provider, crate::tls::fixed_time(at))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(chain)
                    .filter_map(Result::ok)
                    .collect(),
                PrivateKeyDer::from_pem_slice(key).expect("key"),
            )
            .expect("client certificate"),
        None => builder.with_no_client_auth(),
    };
    std::sync::Arc::new(config)
}

/// One HTTP/1.1 exchange over TLS to `port` as `localhost`: the status and body, or the
/// error (a refused handshake says so).
pub fn exchange(
    config: std::sync::Arc<rustls::ClientConfig>,
    port: u16,
    request: &str,
    body: &[u8],
) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    tls.write_all(body).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    match tls.read_to_end(&mut out) {
        Ok(_) => {}
        Err(e) if !out.is_empty() && e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Err(e.to_string()),
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HTTP answer: {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
