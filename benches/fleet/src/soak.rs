//! The soak: `pki serve` on a CA made for the run, a fleet enrolled through it, then phases —
//! warm-up (honest load, then every hostile kind briefly, in the full soak); an idle gap (the
//! baseline); rounds of steady honest load, honest load beside
//! each hostile kind in turn, and an idle gap; the server's open-file limit lowered to 256
//! while 1,000 hostile connections are held; an idle gap; a last steady phase — with the
//! server's process sampled from /proc every second into a CSV. Judged at the end in
//! PASS/FAIL lines, with the 60-day projection of its memory.

use crate::drive::{closed_loop, honest};
use crate::fleet::{Fleet, Mix};
use crate::hostile::{self, Timeouts, KINDS};
use crate::probe::{Probe, Sample};
use crate::stats::{Hostile, Summary, Tally};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `pki serve`'s configuration for the bench and the full soak: the shipped defaults.
pub const SERVE_CONFIG: &str = "reload_interval_seconds: 1\n";
/// The short soak's: shorter timeouts, so that every hostile kind is cut off within its few
/// seconds.
const SHORT_CONFIG: &str = "reload_interval_seconds: 1\nhandshake_timeout_seconds: 2\nheader_timeout_seconds: 2\nbody_timeout_seconds: 3\nidle_timeout_seconds: 4\n";

#[derive(clap::Args)]
pub struct Args {
    /// The `pki` binary (a release build).
    #[arg(long, default_value = "target/release/pki")]
    pki: PathBuf,
    /// Work folder (default: a new one under /tmp, removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The short version (CI): about two minutes, every hostile kind once.
    #[arg(long)]
    short: bool,
    /// Endpoints enrolled (default 1,500; 300 with --short).
    #[arg(long)]
    endpoints: Option<usize>,
    /// Honest clients at once.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// The honest mix, percent.
    #[arg(long, default_value = "renew=20,cacerts=45,crl=20,refused=10,enroll=5")]
    mix: String,
    /// Rounds of steady + hostile + idle (default 2; 1 with --short).
    #[arg(long)]
    rounds: Option<usize>,
    /// Seconds of each steady phase (default 150; 10 with --short).
    #[arg(long)]
    steady: Option<u64>,
    /// Seconds of each hostile phase (default 30; 6 with --short).
    #[arg(long)]
    hostile: Option<u64>,
    /// The samples, one line a second.
    #[arg(long, default_value = "soak.csv")]
    csv: PathBuf,
    /// The server's allocator: glibc, arena2 (MALLOC_ARENA_MAX=2) or jemalloc (Debian's
    /// libjemalloc2, preloaded).
    #[arg(long, default_value = "glibc")]
    malloc: String,
    /// Generator worker threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

/// How long each part lasts.
struct Plan {
    warm_up: u64,
    /// Seconds of each hostile kind at the end of the warm-up (0: none), so that what is
    /// bounded (the TLS session cache, the allocator's arenas at their working size) has
    /// reached its bound before the baseline.
    warm_kind: u64,
    idle: u64,
    steady: u64,
    hostile: u64,
    rounds: usize,
    limited: u64,
    last: u64,
    /// The least requests for the projection to count (full soak: 1 million).
    min_requests: u64,
    config: &'static str,
    timeouts: Timeouts,
}

impl Plan {
    fn of(a: &Args) -> Plan {
        let (defaults, config, timeouts) = if a.short {
            (
                (10, 12, 10, 6, 1, 12, 10, 0),
                SHORT_CONFIG,
                Timeouts {
                    handshake: Duration::from_secs(2),
                    header: Duration::from_secs(2),
                    body: Duration::from_secs(3),
                    idle: Duration::from_secs(4),
                },
            )
        } else {
            (
                (60, 15, 150, 30, 2, 60, 60, 1_000_000),
                SERVE_CONFIG,
                Timeouts {
                    handshake: Duration::from_secs(10),
                    header: Duration::from_secs(10),
                    body: Duration::from_secs(10),
                    idle: Duration::from_secs(30),
                },
            )
        };
        let (warm_up, idle, steady, hostile, rounds, limited, last, min_requests) = defaults;
        Plan {
            warm_up,
            warm_kind: if a.short { 0 } else { 8 },
            idle,
            steady: a.steady.unwrap_or(steady),
            hostile: a.hostile.unwrap_or(hostile),
            rounds: a.rounds.unwrap_or(rounds),
            limited,
            last,
            min_requests,
            config,
            timeouts,
        }
    }
}

/// What the sampler and the phases share.
struct Shared {
    phase: Mutex<String>,
    requests: AtomicU64,
    honest: Mutex<Arc<Tally>>,
    hostile: Arc<Hostile>,
    /// The connections held while the open-file limit is low (not judged one by one: most
    /// wait in the kernel's backlog, as they should).
    held: Arc<Hostile>,
}

/// A phase's end: its name, the sample then, the requests so far, its honest summary.
struct Ended {
    name: String,
    sample: Sample,
    /// What the server's descriptors were open on.
    fds: std::collections::BTreeMap<String, usize>,
    requests: u64,
    honest: Summary,
}

pub async fn run(a: Args) -> Result<bool, String> {
    let plan = Plan::of(&a);
    let work = crate::Work::new(a.dir.clone())?;
    let ca_dir = work.path.join("ca");
    crate::fleet::make_ca(&ca_dir)?;
    let env = allocator(&a.malloc)?;
    let served = crate::server::pki_serve(&a.pki, &ca_dir, &work.path, plan.config, &env)?;
    let stop = Arc::new(AtomicBool::new(false));
    let n = a.endpoints.unwrap_or(if a.short { 300 } else { 1500 });
    let started = Instant::now();
    let fleet = Fleet::enroll(&ca_dir, served.addr, n, 16, stop.clone()).await?;
    println!(
        "soak: pki serve pid {} on {} (allocator {}), {} endpoints enrolled in {:.1} s; load average {}",
        served.pid,
        served.addr,
        a.malloc,
        fleet.len(),
        started.elapsed().as_secs_f64(),
        crate::load_average()
    );
    let mix = Mix::parse(&a.mix)?;
    let probe = Arc::new(Probe {
        pids: vec![served.pid],
        port: served.addr.port(),
        db: Some(ca_dir.join(pki_core::ca::inventory::sqlite::FILE)),
    });
    let shared = Arc::new(Shared {
        phase: Mutex::new("warm-up".into()),
        requests: AtomicU64::new(0),
        honest: Mutex::new(Arc::new(Tally::default())),
        hostile: Arc::new(Hostile::default()),
        held: Arc::new(Hostile::default()),
    });
    let sampler = sample(probe.clone(), shared.clone(), a.csv.clone(), stop.clone())?;

    let mut ended: Vec<Ended> = Vec::new();
    let phase = |name: &str| {
        if let Ok(mut p) = shared.phase.lock() {
            *p = name.to_string();
        }
        println!(
            "phase {name:<28} at {:>5.0} s",
            started.elapsed().as_secs_f64()
        );
    };
    // a phase of honest load for `seconds`, beside `hostile` (kind, concurrency) peers
    let pid = served.pid;
    let run_phase = |name: String,
                     seconds: u64,
                     clients: usize,
                     hostile_kind: Option<(&'static str, usize)>| {
        let (fleet, shared, mix, stop, probe) = (
            fleet.clone(),
            shared.clone(),
            mix.clone(),
            stop.clone(),
            probe.clone(),
        );
        let timeouts = plan.timeouts;
        async move {
            let tally = Arc::new(Tally::default());
            if let Ok(mut h) = shared.honest.lock() {
                *h = tally.clone();
            }
            let until = Instant::now() + Duration::from_secs(seconds);
            let judged = if name == "nofile-256" {
                shared.held.clone()
            } else {
                shared.hostile.clone()
            };
            let peers = hostile_kind.map(|(kind, c)| {
                tokio::spawn(hostile::run(
                    kind,
                    c,
                    until,
                    stop.clone(),
                    fleet.clone(),
                    timeouts,
                    judged,
                ))
            });
            if clients > 0 {
                let (next, job) = honest(fleet.clone(), mix, tally.clone());
                closed_loop(clients, until, stop.clone(), next, job).await;
            } else {
                tokio::time::sleep_until(until.into()).await;
            }
            if let Some(p) = peers {
                // hostile connections still waiting to be cut off end with the phase
                let _ = tokio::time::timeout(Duration::from_secs(1), p).await;
            }
            // the phase's count moves from its tally to the total under the lock the sampler
            // reads both with: counted once, never twice or not at all
            let summary = tally.summary();
            {
                let mut h = shared
                    .honest
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *h = Arc::new(Tally::default());
                shared
                    .requests
                    .fetch_add(summary.all.total(), Ordering::Relaxed);
            }
            if clients > 0 {
                println!("      honest: {}", summary.describe());
            }
            Ended {
                name,
                sample: probe.read(),
                fds: crate::probe::fd_targets(pid),
                requests: shared.requests.load(Ordering::Relaxed)
                    + shared.hostile.total()
                    + shared.held.total(),
                honest: summary,
            }
        }
    };

    phase("warm-up");
    ended.push(run_phase("warm-up".into(), plan.warm_up, a.clients, None).await);
    if plan.warm_kind > 0 {
        for kind in KINDS {
            let name = format!("warm-up:{kind}");
            phase(&name);
            ended.push(
                run_phase(
                    name,
                    plan.warm_kind,
                    a.clients,
                    Some((kind, concurrency(kind))),
                )
                .await,
            );
        }
    }
    phase("idle-0");
    ended.push(run_phase("idle-0".into(), plan.idle, 0, None).await);
    for r in 1..=plan.rounds {
        let name = format!("steady-{r}");
        phase(&name);
        ended.push(run_phase(name, plan.steady, a.clients, None).await);
        for kind in KINDS {
            let name = format!("hostile-{r}:{kind}");
            phase(&name);
            ended.push(
                run_phase(
                    name,
                    plan.hostile,
                    a.clients,
                    Some((kind, concurrency(kind))),
                )
                .await,
            );
        }
        let name = format!("idle-{r}");
        phase(&name);
        ended.push(run_phase(name, plan.idle, 0, None).await);
    }
    // the open-file limit of the running server lowered to 256 (prlimit(2), as
    // `prlimit --pid PID --nofile=256` does) while 1,000 hostile connections are held
    phase("nofile-256");
    let old = limit_nofile(served.pid, Some(256))?;
    let limited = run_phase("nofile-256".into(), plan.limited, 4, Some(("silent", 1000))).await;
    limit_nofile(served.pid, old.current)?;
    ended.push(limited);
    phase("idle-limit");
    ended.push(run_phase("idle-limit".into(), plan.idle, 0, None).await);
    phase("last");
    ended.push(run_phase("last".into(), plan.last, a.clients, None).await);
    phase("idle-end");
    ended.push(run_phase("idle-end".into(), plan.idle, 0, None).await);

    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let log = served.log.clone();
    let exit = served.stop(Duration::from_secs(30));
    let lines = std::fs::read_to_string(&log)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    println!("server log: {} ({lines} lines)", log.display());
    let pass = judge(&plan, &ended, &shared.hostile, &shared.held, exit);
    println!(
        "samples: {}; load average {}",
        a.csv.display(),
        crate::load_average()
    );
    Ok(pass)
}

/// Peers of `kind` at once in a hostile phase.
fn concurrency(kind: &str) -> usize {
    match kind {
        "silent" => 200,
        "handshake-then-silence" => 100,
        "slow-body" => 50,
        "resumption-burst" => 4,
        _ => 8,
    }
}

/// The environment that picks the server's allocator.
fn allocator(name: &str) -> Result<Vec<(String, String)>, String> {
    match name {
        "glibc" => Ok(Vec::new()),
        "arena2" => Ok(vec![("MALLOC_ARENA_MAX".into(), "2".into())]),
        "jemalloc" => {
            let lib = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
            if std::path::Path::new(lib).exists() {
                Ok(vec![("LD_PRELOAD".into(), lib.into())])
            } else {
                Err(format!("{lib} is missing: apt-get install libjemalloc2"))
            }
        }
        other => Err(format!("--malloc {other}: glibc, arena2 or jemalloc")),
    }
}

/// Sets the soft open-file limit of `pid` (the hard one kept); the old limit.
fn limit_nofile(pid: u32, soft: Option<u64>) -> Result<rustix::process::Rlimit, String> {
    use rustix::process::{getrlimit, prlimit, Pid, Resource, Rlimit};
    let pid = Pid::from_raw(pid as i32).ok_or("no pid")?;
    let hard = getrlimit(Resource::Nofile).maximum;
    prlimit(
        Some(pid),
        Resource::Nofile,
        Rlimit {
            current: soft,
            maximum: hard,
        },
    )
    .map_err(|e| format!("prlimit: {e}"))
}

/// Samples every second into `csv` until `stop`.
fn sample(
    probe: Arc<Probe>,
    shared: Arc<Shared>,
    csv: PathBuf,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, String> {
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&csv).map_err(|e| format!("{}: {e}", csv.display()))?,
    );
    let _ = writeln!(out, "t_s,phase,requests,honest_ok,honest_failed,honest_shed,rss_anon_kib,vm_hwm_kib,vm_rss_kib,fds,threads,close_wait,cpu_s,db_bytes,wal_bytes,shm_bytes");
    std::thread::Builder::new()
        .name("sampler".into())
        .spawn(move || {
            let t0 = Instant::now();
            let mut tick = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let s = probe.read();
                let phase = shared.phase.lock().map(|p| p.clone()).unwrap_or_default();
                let (running, counted) = {
                    let h = shared
                        .honest
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    (h.summary(), shared.requests.load(Ordering::Relaxed))
                };
                let requests =
                    counted + running.all.total() + shared.hostile.total() + shared.held.total();
                let _ = writeln!(
                    out,
                    "{:.1},{phase},{requests},{},{},{},{},{},{},{},{},{},{:.2},{},{},{}",
                    t0.elapsed().as_secs_f64(),
                    running.all.ok,
                    running.all.failed,
                    running.all.shed,
                    s.rss_anon_kib,
                    s.vm_hwm_kib,
                    s.vm_rss_kib,
                    s.fds,
                    s.threads,
                    s.close_wait,
                    s.cpu_seconds,
                    s.db_bytes,
                    s.wal_bytes,
                    s.shm_bytes
                );
                let _ = out.flush();
                tick += 1;
                let next = t0 + Duration::from_secs(tick);
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        })
        .map_err(|e| e.to_string())
}

fn line(pass: bool, text: String) -> bool {
    println!("{} {text}", if pass { "PASS" } else { "FAIL" });
    pass
}

fn mib(kib: f64) -> f64 {
    kib / 1024.0
}

/// The PASS/FAIL lines; true when all pass.
fn judge(
    plan: &Plan,
    ended: &[Ended],
    hostile: &Hostile,
    held: &Hostile,
    exit: Option<i32>,
) -> bool {
    let mut all = true;
    let by = |name: &str| ended.iter().find(|e| e.name == name);
    let Some(base) = by("idle-0") else {
        return line(false, "no baseline".into());
    };
    println!(
        "baseline (end of idle-0): RssAnon {:.1} MiB, fds {}, threads {}",
        mib(base.sample.rss_anon_kib as f64),
        base.sample.fds,
        base.sample.threads
    );
    // after every idle gap: descriptors and threads at the baseline, no CLOSE_WAIT
    for e in ended
        .iter()
        .filter(|e| e.name.starts_with("idle-") && e.name != "idle-0")
    {
        let s = &e.sample;
        let ok = s.fds == base.sample.fds && s.threads == base.sample.threads && s.close_wait == 0;
        all &= line(
            ok,
            format!(
                "{}: fds {} (baseline {}), threads {} (baseline {}), CLOSE_WAIT {}",
                e.name, s.fds, base.sample.fds, s.threads, base.sample.threads, s.close_wait
            ),
        );
        for (what, n) in &e.fds {
            let before = base.fds.get(what).copied().unwrap_or(0);
            if *n != before {
                println!("     {what}: {n} (baseline {before})");
            }
        }
    }
    // honest requests during hostile phases
    let mut sum = Summary::default();
    for e in ended.iter().filter(|e| e.name.starts_with("hostile-")) {
        sum.all.ok += e.honest.all.ok;
        sum.all.failed += e.honest.all.failed;
        sum.all.shed += e.honest.all.shed;
        for (r, n) in &e.honest.reasons {
            *sum.reasons.entry(r.clone()).or_default() += n;
        }
    }
    all &= line(
        sum.success_rate() >= 0.999,
        format!(
            "honest requests beside hostile peers: {:.3}% succeeded ({} ok, {} failed; {} shed with Retry-After)",
            sum.success_rate() * 100.0,
            sum.all.ok,
            sum.all.failed,
            sum.all.shed
        ),
    );
    for (r, n) in sum.reasons.iter().take(10) {
        println!("     {n} × {r}");
    }
    // every hostile kind cut off as it should be
    for (kind, c) in hostile.snapshot() {
        let ok = c.tries > 0 && c.unexpected.is_empty();
        all &= line(
            ok,
            format!(
                "hostile {kind}: {} peers, {} ended as they should (longest {:.1} s)",
                c.tries,
                c.expected,
                c.longest.as_secs_f64()
            ),
        );
        for (r, n) in c.unexpected.iter().take(5) {
            println!("     {n} × {r}");
        }
    }
    for kind in KINDS {
        if !hostile.snapshot().contains_key(kind) {
            all &= line(false, format!("hostile {kind}: never ran"));
        }
    }
    // the server under a 256 open-file limit beside 1,000 held connections
    if let Some(l) = by("nofile-256") {
        let h = &l.honest;
        let tries: u64 = held.snapshot().values().map(|c| c.tries).sum();
        println!("     the 1,000 hostile peers opened {tries} connections during the phase");
        all &= line(
            h.all.ok > 0 && h.success_rate() >= 0.999,
            format!(
                "open-file limit 256, 1,000 held connections: {} honest requests served ({:.3}%; {} failed, {} shed), p50 {:.0} ms, p99 {:.0} ms",
                h.all.ok,
                h.success_rate() * 100.0,
                h.all.failed,
                h.all.shed,
                crate::bench::ms(h.p50),
                crate::bench::ms(h.p99)
            ),
        );
        for (r, n) in h.reasons.iter().take(5) {
            println!("     {n} × {r}");
        }
    }
    if let (Some(first), Some(last)) = (by("steady-1"), by("last")) {
        let (a, b) = (
            first.honest.p99.as_secs_f64(),
            last.honest.p99.as_secs_f64(),
        );
        all &= line(
            b <= a * 1.2,
            format!(
                "p99 latency: last phase {:.1} ms, first steady phase {:.1} ms ({:+.0}%, limit +20%)",
                b * 1000.0,
                a * 1000.0,
                (b / a.max(1e-9) - 1.0) * 100.0
            ),
        );
    }
    let wal_max = ended.iter().map(|e| e.sample.wal_bytes).max().unwrap_or(0);
    all &= line(
        wal_max <= 64 << 20,
        format!(
            "WAL bounded: at most {:.1} MiB at phase ends (limit 64 MiB); database {:.1} MiB at the end",
            wal_max as f64 / 1048576.0,
            ended.last().map_or(0, |e| e.sample.db_bytes) as f64 / 1048576.0
        ),
    );
    // the 60-day projection: RssAnon at the idle gaps after warm-up against requests
    let points: Vec<(f64, f64)> = ended
        .iter()
        .filter(|e| e.name.starts_with("idle-"))
        .map(|e| (e.requests as f64, e.sample.rss_anon_kib as f64))
        .collect();
    let total = ended.last().map_or(0, |e| e.requests);
    let since = total.saturating_sub(base.requests);
    for e in ended.iter().filter(|e| e.name.starts_with("idle-")) {
        println!(
            "  RssAnon at {:<10} {:>8.1} MiB after {:>9} requests (VmHWM {:.1} MiB)",
            e.name,
            mib(e.sample.rss_anon_kib as f64),
            e.requests,
            mib(e.sample.vm_hwm_kib as f64)
        );
    }
    let fit = slope(&points); // KiB per request
    let per_million = fit * 1e6;
    let projected = per_million * 25.92 / 1024.0;
    let text = format!(
        "60-day projection: RssAnon grows {:.1} KiB per million requests after warm-up ({} requests since); × 25.9 million = {:.2} MiB (limit 16 MiB)",
        per_million, since, projected
    );
    // not judged: the same fit without the first gap, which tells a step (the heap's
    // high-water mark raised once by the first round's peak) from a steady growth
    if points.len() > 2 {
        let later = slope(&points[1..]) * 1e6;
        println!(
            "INFO the same fit from the second idle gap on: {later:.1} KiB per million, × 25.9 million = {:.2} MiB",
            later * 25.92 / 1024.0
        );
    }
    if plan.min_requests > 0 {
        all &= line(projected < 16.0, text);
    } else {
        // a short run is mostly warm-up (caches filling): shown, judged by the full soak
        println!("INFO {text}; judged in the full soak only");
    }
    if plan.min_requests > 0 {
        all &= line(
            total >= plan.min_requests,
            format!(
                "requests in the soak: {total} (at least {})",
                plan.min_requests
            ),
        );
    }
    all &= line(
        exit == Some(0),
        format!("SIGTERM: pki serve exited {exit:?}"),
    );
    println!("{}", if all { "SOAK PASSED" } else { "SOAK FAILED" });
    all
}

/// Least-squares slope of y over x.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx
    }
}

#[cfg(test)]
mod tests {
    use super::slope;

    #[test]
    fn the_slope_of_a_line_is_its_slope() {
        let pts: Vec<(f64, f64)> = (0..5)
            .map(|i| (i as f64 * 1e6, 100.0 + 3.0 * i as f64))
            .collect();
        assert!((slope(&pts) * 1e6 - 3.0).abs() < 1e-9);
        assert_eq!(slope(&[(1.0, 1.0)]), 0.0);
    }
}
