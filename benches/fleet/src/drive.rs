//! Closed-loop clients: `clients` tasks, each sending its next request as soon as the last
//! one ended, until a deadline; every request numbered from one shared counter.

use crate::fleet::{Fleet, Mix};
use crate::stats::Tally;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The number of the next request.
pub type Next = Arc<dyn Fn() -> u64 + Send + Sync>;

pub type Job = Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

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
                job(next()).await;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// The fleet's honest requests in `mix`, counted in `tally`.
pub fn honest(fleet: Arc<Fleet>, mix: Mix, tally: Arc<Tally>) -> Load {
    let counter = fleet.clone();
    let next: Next = Arc::new(move || counter.next());
    let job: Job = Arc::new(move |n| {
        let (fleet, tally, kind) = (fleet.clone(), tally.clone(), mix.at(n));
        Box::pin(async move { fleet.request(kind, n, &tally).await })
    });
    (next, job)
}
