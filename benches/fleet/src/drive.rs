//! The two ways clients send: closed-loop (`clients` tasks, each sending its next request
//! as soon as the last one ended) and paced (the same tasks on a fixed schedule of `rate`
//! requests per second, wrk2's open loop), until a deadline; every request numbered from one
//! shared counter and given the instant it was due.

use crate::fleet::{Fleet, Mix};
use crate::stats::Tally;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The number of the next request.
pub type Next = Arc<dyn Fn() -> u64 + Send + Sync>;

/// One request: its number and the instant it was due. Its latency counts from that
/// instant, so a request that waited for a free client shows the wait.
pub type Job = Arc<dyn Fn(u64, Instant) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// What a measurement runs: the numbering and the job, counting into the tally given.
pub type Load = (Next, Job);

/// Runs `job` from `clients` tasks until `until` (or `stop`); returns when all have ended.
pub async fn closed_loop(
    clients: usize,
    until: Instant,
    stop: Arc<AtomicBool>,
    next: Next,
    job: Job,
) {
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (job, stop, next) = (job.clone(), stop.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                job(next(), Instant::now()).await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Runs `job` on a schedule of `rate` requests per second from now until `until` (or
/// `stop`), from at most `clients` at once: a free client takes the next slot and waits
/// until it is due. When the server falls behind, slots are taken late and each request's
/// latency counts from when it was due, not from when it was sent (the correction wrk2
/// makes for coordinated omission), so the figures are those a fleet arriving at `rate`
/// would see.
pub async fn paced(
    clients: usize,
    rate: f64,
    until: Instant,
    stop: Arc<AtomicBool>,
    next: Next,
    job: Job,
) {
    let start = Instant::now();
    let slot = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (job, stop, next, slot) = (job.clone(), stop.clone(), next.clone(), slot.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let k = slot.fetch_add(1, Ordering::Relaxed);
                // a schedule fallen behind ends at the deadline too, as wrk2's does
                let due = match due_at(start, k, rate) {
                    Some(due) if due < until => due,
                    _ => break,
                };
                if Instant::now() >= until || stop.load(Ordering::Relaxed) {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                job(next(), due).await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// When slot `k` of a schedule of `rate` per second from `start` is due; `None` for a rate
/// that is not a positive number, or a slot past what an `Instant` holds (a rate so small
/// that it never comes).
fn due_at(start: Instant, k: u64, rate: f64) -> Option<Instant> {
    if rate.is_nan() || rate <= 0.0 {
        return None;
    }
    start.checked_add(Duration::try_from_secs_f64(k as f64 / rate).ok()?)
}

/// The fleet's honest requests in `mix`, counted in `tally`.
pub fn honest(fleet: Arc<Fleet>, mix: Mix, tally: Arc<Tally>) -> Load {
    let counter = fleet.clone();
    let next: Next = Arc::new(move || counter.next());
    let job: Job = Arc::new(move |n, due| {
        let (fleet, tally, kind) = (fleet.clone(), tally.clone(), mix.at(n));
        Box::pin(async move { fleet.request(kind, n, due, &tally).await })
    });
    (next, job)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// One client, a request due every millisecond, each taking at least 5 ms: the server
    /// falls behind, and request k (from 0) starts at least 5k ms after the start while it
    /// was due at k ms, so its lateness is at least 4k ms. A driver that timed requests
    /// from when they were sent (coordinated omission) would see no lateness at all.
    #[tokio::test(flavor = "current_thread")]
    async fn a_paced_request_that_waits_for_a_client_counts_the_wait() {
        let late: Arc<Mutex<Vec<(u64, Duration)>>> = Arc::default();
        let seen = late.clone();
        let counter = Arc::new(AtomicU64::new(0));
        let next: Next = Arc::new(move || counter.fetch_add(1, Ordering::Relaxed));
        let job: Job = Arc::new(move |n, due| {
            let seen = seen.clone();
            Box::pin(async move {
                if let Ok(mut s) = seen.lock() {
                    s.push((n, due.elapsed()));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            })
        });
        let until = Instant::now() + Duration::from_millis(60);
        paced(
            1,
            1000.0,
            until,
            Arc::new(AtomicBool::new(false)),
            next,
            job,
        )
        .await;
        let late = late.lock().unwrap().clone();
        assert!(late.len() >= 3, "{late:?}");
        // one client at ≥ 5 ms each sends at most 12 before the deadline, though 60 were due
        assert!(late.len() <= 12, "{late:?}");
        for (k, (n, l)) in late.iter().enumerate() {
            assert_eq!(*n, k as u64);
            assert!(
                *l >= Duration::from_millis(4 * k as u64),
                "request {k} was {l:?} late"
            );
        }
    }

    /// Slot k is due k / rate seconds after the start; a rate too small for the clock, or
    /// not a positive number, has no slot due (no panic in `Duration::from_secs_f64`).
    #[test]
    fn a_slot_is_due_k_over_rate_after_the_start_or_never() {
        let start = Instant::now();
        assert_eq!(due_at(start, 0, 1000.0), Some(start));
        assert_eq!(
            due_at(start, 3, 1000.0),
            Some(start + Duration::from_millis(3))
        );
        assert_eq!(due_at(start, 0, 1e-30), Some(start));
        assert_eq!(due_at(start, 1, 1e-30), None);
        assert_eq!(due_at(start, u64::MAX, 1e-300), None);
        for bad in [0.0, -5.0, f64::NAN] {
            assert_eq!(due_at(start, 1, bad), None, "{bad}");
        }
    }

    /// A closed loop sends as soon as a client is free: every request is due when sent.
    #[tokio::test(flavor = "current_thread")]
    async fn a_closed_loop_request_is_due_when_sent() {
        let due_at: Arc<Mutex<Vec<Instant>>> = Arc::default();
        let seen = due_at.clone();
        let next: Next = Arc::new(|| 0);
        let job: Job = Arc::new(move |_, due| {
            let seen = seen.clone();
            Box::pin(async move {
                if let Ok(mut s) = seen.lock() {
                    s.push(due);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            })
        });
        let start = Instant::now();
        closed_loop(
            1,
            start + Duration::from_millis(30),
            Arc::new(AtomicBool::new(false)),
            next,
            job,
        )
        .await;
        let due_at = due_at.lock().unwrap().clone();
        assert!(due_at.len() >= 2);
        // each request was due only once the one before it had ended (≥ 5 ms later)
        for w in due_at.windows(2) {
            assert!(w[1] - w[0] >= Duration::from_millis(5));
        }
    }
}
