//! `pki-fleet`: a fleet of devices on loopback for `pki serve`.
//!
//! * `pki-fleet bench`: renewals and mutual-TLS `cacerts` per second at 1, 16 and 64
//!   clients with p50/p99, beside nginx driven by the same generator, and the cryptographic
//!   floor of one renewal, all in one run; ratios printed.
//! * `pki-fleet soak`: the endurance run — honest fleet traffic, every hostile peer kind in
//!   turn, idle gaps, the server's open-file limit lowered under 1,000 held connections —
//!   sampled from /proc every second to CSV, judged in PASS/FAIL lines, with the 60-day
//!   projection of memory growth.
//!
//! Loopback only; every run is bounded in requests and time and stops by itself.

#![allow(clippy::print_stdout)] // its output is the result

mod bench;
mod drive;
mod fleet;
mod hostile;
mod probe;
mod server;
mod soak;
mod stats;
mod tls;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "pki-fleet",
    about = "A fleet of devices on loopback for `pki serve`"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Throughput and latency against `pki serve` and nginx, and the floor.
    Bench(BenchArgs),
    /// The endurance run.
    Soak(soak::Args),
}

#[derive(clap::Args)]
struct BenchArgs {
    /// The `pki` binary (a release build).
    #[arg(long, default_value = "target/release/pki")]
    pki: PathBuf,
    /// Work folder (default: a new one under /tmp, removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Endpoints enrolled.
    #[arg(long, default_value_t = 256)]
    endpoints: usize,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 8.0)]
    seconds: f64,
    /// Concurrent clients, comma-separated.
    #[arg(long, default_value = "1,16,64", value_delimiter = ',')]
    clients: Vec<usize>,
    /// Routes: renew, cacerts.
    #[arg(long, default_value = "renew,cacerts", value_delimiter = ',')]
    routes: Vec<String>,
    /// Renewal rates (per second) to pace the most clients of `--clients` at, after the
    /// closed loops: the latency a fleet arriving at that rate sees (0: none).
    #[arg(long, default_value = "1000,1200", value_delimiter = ',', value_parser = rate)]
    paced: Vec<f64>,
    /// Skip nginx.
    #[arg(long)]
    no_nginx: bool,
    /// Renewals measured for the floor.
    #[arg(long, default_value_t = 400)]
    floor_iterations: usize,
    /// Generator worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Leave `pki serve` running this many seconds after enrolling, for a profiler to
    /// attach (its pid is printed), before measuring.
    #[arg(long, default_value_t = 0)]
    pause: u64,
}

/// A `--paced` rate: a finite number of renewals per second, 0 or more (0: not paced).
fn rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r >= 0.0 => Ok(r),
        _ => Err(format!(
            "a rate is renewals per second, a finite number, 0 or more (0: none), not '{s}'"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    raise_nofile();
    let threads = match &cli.command {
        Command::Bench(a) => a.threads,
        Command::Soak(a) => a.threads,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pki-fleet: {e}");
            return ExitCode::from(3);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Bench(a) => run_bench(a).await.map(|()| true),
            Command::Soak(a) => soak::run(a).await,
        }
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("pki-fleet: {e}");
            ExitCode::from(3)
        }
    }
}

/// The generator holds many connections at once: the soft open-file limit goes to the hard.
fn raise_nofile() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut l = getrlimit(Resource::Nofile);
    l.current = l.maximum;
    let _ = setrlimit(Resource::Nofile, l);
}

/// A work folder: the one given, or a new one under /tmp removed when dropped.
pub struct Work {
    pub path: PathBuf,
    remove: bool,
}

impl Work {
    pub fn new(given: Option<PathBuf>) -> Result<Work, String> {
        let (path, remove) = match given {
            Some(p) => (p, false),
            None => (
                std::env::temp_dir().join(format!("pki-fleet-{}", std::process::id())),
                true,
            ),
        };
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Work { path, remove })
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

async fn run_bench(a: BenchArgs) -> Result<(), String> {
    let work = Work::new(a.dir.clone())?;
    let ca_dir = work.path.join("ca");
    fleet::make_ca(&ca_dir)?;
    let served = server::pki_serve(&a.pki, &ca_dir, &work.path, soak::SERVE_CONFIG, &[])?;
    let stop = Arc::new(AtomicBool::new(false));
    let fleet = fleet::Fleet::enroll(&ca_dir, served.addr, a.endpoints, 16, stop.clone()).await?;
    println!(
        "pki serve pid {} on {}; {} endpoints enrolled; load average {}",
        served.pid,
        served.addr,
        fleet.len(),
        load_average()
    );
    if a.pause > 0 {
        tokio::time::sleep(std::time::Duration::from_secs(a.pause)).await;
    }
    let mut rows = Vec::new();
    let pid = served.pid;
    for route in &a.routes {
        let kind = match route.as_str() {
            "renew" => fleet::Kind::Renew,
            "cacerts" => fleet::Kind::Cacerts,
            other => return Err(format!("unknown route {other}")),
        };
        let name = if kind == fleet::Kind::Renew {
            "renew"
        } else {
            "cacerts (mTLS)"
        };
        for &c in &a.clients {
            let job = bench::fleet_job(fleet.clone(), kind);
            let row =
                bench::measure("pki serve", name, c, None, a.seconds, &|| vec![pid], &job).await;
            row.print();
            rows.push(row);
        }
    }
    let most = a.clients.iter().copied().max().unwrap_or(64);
    for &rate in a.paced.iter().filter(|r| **r > 0.0) {
        let job = bench::fleet_job(fleet.clone(), fleet::Kind::Renew);
        let row = bench::measure(
            "pki serve",
            "renew",
            most,
            Some(rate),
            a.seconds,
            &|| vec![pid],
            &job,
        )
        .await;
        row.print();
        rows.push(row);
    }
    let crl = bench::fetch_crl(&fleet).await?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if !a.no_nginx {
        let port = server::free_port()?;
        let nginx = server::nginx(&ca_dir.join("trust.pem"), &work.path, port)?;
        let root = std::fs::read(work.path.join("nginx-root.pem")).map_err(|e| e.to_string())?;
        let job = bench::nginx_job(fleet.clone(), nginx.addr, &root)?;
        let npid = nginx.pid;
        for &c in &a.clients {
            let row = bench::measure(
                "nginx",
                "static 200 (mTLS)",
                c,
                None,
                a.seconds,
                &|| bench::with_children(npid),
                &job,
            )
            .await;
            row.print();
            rows.push(row);
        }
        nginx.stop(std::time::Duration::from_secs(5));
    }
    let floor = bench::floor(&ca_dir, &fleet, crl, a.floor_iterations)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "floor      one renewal, both sides: {:.0} µs of CPU (server {:.0} µs, device {:.0} µs; {} renewals on one thread) → {:.0} renewals/s on {cores} cores",
        floor.total_us,
        floor.server_us,
        floor.total_us - floor.server_us,
        floor.iterations,
        floor.rate(cores)
    );
    for &c in &a.clients {
        // a closed loop of c clients at rate r waits c / r on average (Little's law): the
        // least mean latency any server could show here, the generator sharing the cores
        println!(
            "bound      {c:>3} clients at the floor's rate: a mean latency of at least {:.1} ms (clients / rate)",
            c as f64 / floor.rate(cores) * 1000.0
        );
        let find = |t: &str, r: &str| {
            rows.iter().find(|x| {
                x.target == t && x.route.starts_with(r) && x.clients == c && x.offered.is_none()
            })
        };
        if let (Some(p), Some(n)) = (find("pki serve", "cacerts"), find("nginx", "static")) {
            println!(
                "ratio      {c:>3} clients: pki serve mTLS cacerts / nginx mTLS = {:.2}",
                p.rate / n.rate
            );
        }
        if let Some(r) = find("pki serve", "renew") {
            println!(
                "ratio      {c:>3} clients: renewals / floor = {:.2} ({:.0}/s of {:.0}/s)",
                r.rate / floor.rate(cores),
                r.rate,
                floor.rate(cores)
            );
        }
    }
    for r in rows.iter().filter(|r| r.offered.is_some()) {
        println!(
            "paced      {} clients, renewals due at {}/s: {:.0}/s answered, p99 {:.1} ms from when each was due",
            r.clients,
            r.offered.unwrap_or_default(),
            r.rate,
            bench::ms(r.p99)
        );
    }
    println!("load average {}", load_average());
    served.stop(std::time::Duration::from_secs(10));
    Ok(())
}

/// `/proc/loadavg`'s three figures.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paced(value: &str) -> Result<Vec<f64>, String> {
        let arg = format!("--paced={value}");
        match Cli::try_parse_from(["pki-fleet", "bench", arg.as_str()]) {
            Ok(Cli {
                command: Command::Bench(a),
            }) => Ok(a.paced),
            Ok(_) => Err("not bench".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// A rate that is not a finite number, 0 or more, is refused with the value named (a
    /// tiny one panicked in the schedule, NaN and negatives were dropped without a word).
    #[test]
    fn a_paced_rate_is_a_finite_number_zero_or_more() {
        assert_eq!(paced("1000,1200"), Ok(vec![1000.0, 1200.0]));
        assert_eq!(paced("0"), Ok(vec![0.0]));
        for bad in ["-5", "NaN", "inf", "", "fast", "1000,-1"] {
            let e = paced(bad).expect_err(bad);
            assert!(e.contains("renewals per second"), "{bad}: {e}");
        }
    }
}
