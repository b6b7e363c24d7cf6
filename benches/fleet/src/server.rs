//! The servers under test, started by the generator on loopback: `pki serve` on a CA made
//! for the run, and nginx (Debian's package) configured for mutual TLS with the same CA's
//! trust bundle and a static 200 — the peer a user would otherwise run. Both are stopped when
//! dropped.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process started here.
pub struct Running {
    child: Child,
    pub addr: SocketAddr,
    /// The process whose /proc is sampled (for nginx, the master; its workers are its
    /// children).
    pub pid: u32,
    /// Where its standard error goes.
    pub log: PathBuf,
}

impl Running {
    /// SIGTERM, then waits up to `grace` for it to exit; its exit code.
    pub fn stop(mut self, grace: Duration) -> Option<i32> {
        let pid = rustix::process::Pid::from_raw(self.pid as i32);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `pki serve --ca CA` on 127.0.0.1 (a port the kernel picks) with `config` (YAML)
/// and `env`, logging to `dir/serve.log`; returns once it listens.
pub fn pki_serve(
    pki: &Path,
    ca: &Path,
    dir: &Path,
    config: &str,
    env: &[(String, String)],
) -> Result<Running, String> {
    let config_path = dir.join("serve.yaml");
    std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
    let log = dir.join("serve.log");
    let mut child = Command::new(pki)
        .args(["serve", "--ca"])
        .arg(ca)
        .args(["--listen", "127.0.0.1:0", "--name", "localhost", "--config"])
        .arg(&config_path)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("{}: {e}", pki.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    let _ = BufReader::new(stdout).read_line(&mut line);
    let addr = line
        .trim()
        .rsplit("https://")
        .next()
        .and_then(|a| a.parse::<SocketAddr>().ok());
    match addr {
        Some(addr) => Ok(Running {
            pid: child.id(),
            child,
            addr,
            log,
        }),
        None => {
            let _ = child.kill();
            Err(format!(
                "pki serve did not start: {line:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ))
        }
    }
}

/// Starts nginx on 127.0.0.1:`port` in `dir`: mutual TLS required (`ssl_verify_client on`,
/// the CA's `trust.pem`, depth 2 for the issuing CA the device sends), TLS 1.2 and 1.3, a
/// static 200 for every path, no access log, one worker per core. Its server certificate
/// is made here by a CA of its own (leaf and intermediate, P-256, the shape of `pki
/// serve`'s), whose root is written to `dir/nginx-root.pem` for the clients.
pub fn nginx(trust: &Path, dir: &Path, port: u16) -> Result<Running, String> {
    let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or("nginx is not installed (apt-get install nginx-light)")?;
    let (root, chain, key) = server_identity().map_err(|e| e.to_string())?;
    let w = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    w("nginx-root.pem", &root)?;
    w("nginx-chain.pem", &chain)?;
    w("nginx-key.pem", &key)?;
    let user = if rustix::process::getuid().is_root() {
        "user nobody nogroup;\n"
    } else {
        ""
    };
    let conf = format!(
        "{user}worker_processes auto;\ndaemon off;\npid {dir}/nginx.pid;\nerror_log {dir}/nginx-error.log warn;\nevents {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {dir}/body;\n  proxy_temp_path {dir}/proxy;\n  fastcgi_temp_path {dir}/fastcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n  server {{\n    listen 127.0.0.1:{port} ssl;\n    ssl_protocols TLSv1.2 TLSv1.3;\n    ssl_certificate {dir}/nginx-chain.pem;\n    ssl_certificate_key {dir}/nginx-key.pem;\n    ssl_client_certificate {trust};\n    ssl_verify_client on;\n    ssl_verify_depth 2;\n    ssl_session_tickets off;\n    keepalive_timeout 30s;\n    location / {{ return 200 \"ok\\n\"; }}\n  }}\n}}\n",
        dir = dir.display(),
        trust = trust.display(),
    );
    w("nginx.conf", &conf)?;
    let log = dir.join("nginx-stderr.log");
    let child = Command::new(binary)
        .args(["-p"])
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| format!("nginx: {e}"))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(Running {
                pid: child.id(),
                child,
                addr,
                log,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "nginx did not start: {}",
        std::fs::read_to_string(dir.join("nginx-error.log")).unwrap_or_default()
    ))
}

/// A root, a chain (leaf for `localhost`, intermediate) and the leaf's key, PEM.
fn server_identity() -> Result<(String, String, String), rcgen::Error> {
    let ca = |cn: &str| {
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        p
    };
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let root_params = ca("nginx bench root");
    let root = root_params.self_signed(&root_key)?;
    let root_issuer = Issuer::from_params(&root_params, &root_key);
    let mid_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mid_params = ca("nginx bench intermediate");
    let mid = mid_params.signed_by(&mid_key, &root_issuer)?;
    let mid_issuer = Issuer::from_params(&mid_params, &mid_key);
    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()])?;
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf.signed_by(&leaf_key, &mid_issuer)?;
    Ok((
        root.pem(),
        format!("{}{}", leaf.pem(), mid.pem()),
        leaf_key.serialize_pem(),
    ))
}

/// A free loopback port (the kernel's pick, released again).
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}
