//! What a server process holds, from `/proc`: anonymous resident memory (RssAnon) and its
//! peak (VmHWM), open file descriptors, threads, CPU time, its sockets in CLOSE_WAIT (`ss`
//! with a kernel-side filter: reading /proc/net/tcp would mean walking every TIME_WAIT
//! socket of a busy loopback), and the inventory's files (the database, its WAL and
//! shared-memory index).

use std::path::{Path, PathBuf};
use std::process::Command;

/// One reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub rss_anon_kib: u64,
    pub vm_hwm_kib: u64,
    pub vm_rss_kib: u64,
    pub fds: u64,
    pub threads: u64,
    pub close_wait: u64,
    /// user + system, seconds (the process and, for nginx, its workers).
    pub cpu_seconds: f64,
    pub db_bytes: u64,
    pub wal_bytes: u64,
    pub shm_bytes: u64,
}

/// Reads processes `pids` (summed) listening on `port`, and the SQLite file `db` if any.
pub struct Probe {
    pub pids: Vec<u32>,
    pub port: u16,
    pub db: Option<PathBuf>,
}

impl Probe {
    pub fn read(&self) -> Sample {
        let mut s = Sample::default();
        for &pid in &self.pids {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            s.rss_anon_kib += field(&status, "RssAnon:");
            s.vm_hwm_kib += field(&status, "VmHWM:");
            s.vm_rss_kib += field(&status, "VmRSS:");
            s.threads += field(&status, "Threads:");
            s.fds += std::fs::read_dir(format!("/proc/{pid}/fd"))
                .map(|d| d.count() as u64)
                .unwrap_or(0);
            s.cpu_seconds += cpu_seconds(pid);
        }
        s.close_wait = close_wait(self.port);
        if let Some(db) = &self.db {
            let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            s.db_bytes = size(db);
            s.wal_bytes = size(&with_suffix(db, "-wal"));
            s.shm_bytes = size(&with_suffix(db, "-shm"));
        }
        s
    }
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The number after `name` in a /proc status file (kB for sizes).
fn field(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// What the descriptors of `pid` are open on (sockets and pipes by kind, files by path),
/// counted.
pub fn fd_targets(pid: u32) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(t) = std::fs::read_link(e.path()) {
            let t = t.display().to_string();
            // socket:[123] and pipe:[456] by kind only
            let key = t.split_once(":[").map_or(t.clone(), |(k, _)| k.to_string());
            *out.entry(key).or_default() += 1;
        }
    }
    out
}

/// utime + stime of `pid`, seconds (clock ticks of 1/100 s, as Linux reports them).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // the command name may hold spaces: fields count from after its closing parenthesis
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The children of `pid` (nginx's workers).
pub fn children(pid: u32) -> Vec<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Sockets in CLOSE_WAIT whose local port is `port` (the server's side of a connection the
/// peer closed and the server has not).
fn close_wait(port: u16) -> u64 {
    let out = Command::new("ss")
        .args([
            "-Htn",
            "state",
            "close-wait",
            &format!("( sport = :{port} )"),
        ])
        .output();
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout).lines().count() as u64,
        Err(_) => u64::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_reads_as_alive() {
        let p = Probe {
            pids: vec![std::process::id()],
            port: 1,
            db: None,
        };
        let s = p.read();
        assert!(s.rss_anon_kib > 0 && s.vm_hwm_kib >= s.rss_anon_kib);
        assert!(s.fds >= 3 && s.threads >= 1);
    }

    #[test]
    fn a_socket_the_peer_closed_is_counted_in_close_wait() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{e}"))
            .port();
        let client =
            std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| panic!("{e}"));
        let (held, _) = listener.accept().unwrap_or_else(|e| panic!("{e}"));
        drop(client);
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(close_wait(port), 1);
        drop(held);
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(close_wait(port), 0);
    }
}
