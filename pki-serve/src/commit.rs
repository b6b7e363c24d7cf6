//! Group commit: one thread writes issuances to the inventory, as many as are waiting in one
//! transaction (one fsync for all), and answers each request only after its commit. So every
//! certificate handed out is on disk first, and a burst of renewals costs a few commits, not
//! one per device. The queue is bounded: when it is full the request is shed (503).
//!
//! Requests whose CSR has been checked are counted as [`Coming`] until the thread takes
//! their issuance into a transaction (or they are refused on the way). While any is coming,
//! the thread waits up to [`LINGER`] for it before committing (PostgreSQL's `commit_delay`
//! with `commit_siblings`, counted exactly): without it, a fleet renewing at 1,300/s
//! committed 1.6 issuances per transaction, each with its fsync; with it, 5.7. A request
//! with nothing else in flight is never delayed.

use crate::metrics::Metrics;
use pki_core::ca::inventory::{Issuance, Refusal};
use pki_core::ca::Inventory;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The most issuances in one transaction.
const MAX_BATCH: usize = 256;
/// A checkpoint of the inventory's log after this many issuances (or this long), run once
/// a batch has been answered.
const CHECKPOINT_EVERY: usize = 256;
const CHECKPOINT_AFTER: std::time::Duration = std::time::Duration::from_secs(1);
/// The longest a commit waits for issuances still [`Coming`].
pub const LINGER: Duration = Duration::from_millis(2);

/// Why an issuance was not committed.
#[derive(Debug)]
pub enum Failed {
    /// The queue is full: shed the request (503 + Retry-After).
    Busy,
    /// The inventory failed (the message says how).
    Database(String),
}

struct Job {
    issuance: Issuance,
    reply: oneshot::Sender<Result<Result<(), Refusal>, String>>,
}

/// What the queue carries: a job and its count, dropped when the thread takes the job.
type Queued<T> = (T, Coming);

pub struct Committer {
    queue: SyncSender<Queued<Job>>,
    coming: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// One issuance on its way to the committer, from its checked request until the commit
/// thread takes it from the queue; dropped on the way (a refusal), it is no longer waited
/// for.
pub struct Coming(Arc<AtomicUsize>);

impl Coming {
    fn new(count: &Arc<AtomicUsize>) -> Coming {
        count.fetch_add(1, Ordering::AcqRel);
        Coming(count.clone())
    }
}

impl Drop for Coming {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Committer {
    pub fn start(inventory: Arc<Inventory>, capacity: usize, metrics: Arc<Metrics>) -> Committer {
        let (queue, jobs) = sync_channel(capacity);
        let coming = Arc::new(AtomicUsize::new(0));
        let waited_for = coming.clone();
        let thread = std::thread::Builder::new()
            .name("pki-commit".into())
            .spawn(move || run(&inventory, &jobs, &waited_for, &metrics))
            .ok();
        Committer {
            queue,
            coming,
            thread,
        }
    }

    /// Counts an issuance as coming: a commit waits for it (at most [`LINGER`]) until the
    /// guard is dropped or its job taken.
    pub fn coming(&self) -> Coming {
        Coming::new(&self.coming)
    }

    /// Commits `issuance`, counted by `coming` until the thread takes it; its own answer
    /// (recorded, or refused by the inventory).
    pub async fn commit(
        &self,
        issuance: Issuance,
        coming: Coming,
    ) -> Result<Result<(), Refusal>, Failed> {
        let (reply, answer) = oneshot::channel();
        match self.queue.try_send((Job { issuance, reply }, coming)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Failed::Busy),
            Err(TrySendError::Disconnected(_)) => {
                return Err(Failed::Database("the commit thread has stopped".into()))
            }
        }
        match answer.await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(Failed::Database(e)),
            Err(_) => Err(Failed::Database("the commit thread has stopped".into())),
        }
    }

    /// Finishes what is queued and stops the thread.
    pub fn stop(mut self) {
        let thread = self.thread.take();
        drop(self);
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

/// The next transaction's jobs, at most `max`: `first`, those queued, and those that come
/// within `linger` while any is counted as coming. A job is no longer coming once taken, so
/// a count of zero means every job sent is taken.
fn gather<T>(
    first: Queued<T>,
    jobs: &Receiver<Queued<T>>,
    coming: &AtomicUsize,
    linger: Duration,
    max: usize,
) -> Vec<T> {
    let (job, taken) = first;
    drop(taken);
    let mut batch = vec![job];
    let until = Instant::now() + linger;
    while batch.len() < max {
        if let Ok((job, _taken)) = jobs.try_recv() {
            batch.push(job);
            continue;
        }
        let left = until.saturating_duration_since(Instant::now());
        if coming.load(Ordering::Acquire) == 0 || left.is_zero() {
            break;
        }
        match jobs.recv_timeout(left) {
            Ok((job, _taken)) => batch.push(job),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
        }
    }
    batch
}

fn run(
    inventory: &Inventory,
    jobs: &Receiver<Queued<Job>>,
    coming: &AtomicUsize,
    metrics: &Metrics,
) {
    let mut since_checkpoint = 0;
    let mut last_checkpoint = std::time::Instant::now();
    while let Ok(first) = jobs.recv() {
        let batch = gather(first, jobs, coming, LINGER, MAX_BATCH);
        let (issuances, replies): (Vec<Issuance>, Vec<_>) =
            batch.into_iter().map(|j| (j.issuance, j.reply)).unzip();
        metrics.batch(issuances.len());
        since_checkpoint += issuances.len();
        let started = std::time::Instant::now();
        let recorded = inventory.record(&issuances);
        metrics.commit(started.elapsed());
        match recorded {
            Ok(answers) => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, issuances = issuances.len(), "the inventory refused a commit; nothing of it was issued");
                for reply in replies {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
        // answered: now the log's checkpoint costs no request its latency
        if since_checkpoint >= CHECKPOINT_EVERY || last_checkpoint.elapsed() >= CHECKPOINT_AFTER {
            if let Err(e) = inventory.checkpoint() {
                tracing::warn!(error = %e, "inventory checkpoint failed");
            }
            since_checkpoint = 0;
            last_checkpoint = std::time::Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(n: usize) -> Arc<AtomicUsize> {
        Arc::new(AtomicUsize::new(n))
    }

    /// One issuance still coming: the commit waits for it and takes both, and stops waiting
    /// once it is taken (the queue stays open; a 30 s linger would show).
    #[test]
    fn a_commit_waits_for_an_issuance_on_its_way() {
        let (queue, jobs) = sync_channel(8);
        let coming = count(0);
        let first = (1, Coming::new(&coming));
        let on_its_way = Coming::new(&coming);
        let sends = queue.clone();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let _ = sends.send((2, on_its_way));
        });
        let started = Instant::now();
        let batch = gather(first, &jobs, &coming, Duration::from_secs(30), 256);
        assert_eq!(batch, vec![1, 2]);
        assert!(started.elapsed() < Duration::from_secs(30));
        assert_eq!(coming.load(Ordering::Acquire), 0);
        let _ = sender.join();
        drop(queue);
    }

    /// None coming: what is queued is committed at once.
    #[test]
    fn a_lone_issuance_is_committed_at_once() {
        let (queue, jobs) = sync_channel(8);
        let coming = count(0);
        let first = (1, Coming::new(&coming));
        queue.send((2, Coming::new(&coming))).unwrap();
        let started = Instant::now();
        let batch = gather(first, &jobs, &coming, Duration::from_secs(30), 256);
        assert_eq!(batch, vec![1, 2]);
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    /// One counted as coming that never comes (refused on its way, its guard not yet
    /// dropped): the wait ends with the linger.
    #[test]
    fn the_wait_for_an_issuance_that_never_comes_is_bounded() {
        let (_queue, jobs) = sync_channel::<Queued<u32>>(8);
        let coming = count(0);
        let first = (1, Coming::new(&coming));
        let _never = Coming::new(&coming);
        let started = Instant::now();
        let batch = gather(first, &jobs, &coming, Duration::from_millis(50), 256);
        assert_eq!(batch, vec![1]);
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    /// A batch holds at most `max`.
    #[test]
    fn a_batch_holds_at_most_max() {
        let (queue, jobs) = sync_channel(8);
        let coming = count(0);
        let first = (1, Coming::new(&coming));
        for j in 2..8 {
            queue.send((j, Coming::new(&coming))).unwrap();
        }
        let batch = gather(first, &jobs, &coming, Duration::from_secs(30), 4);
        assert_eq!(batch, vec![1, 2, 3, 4]);
    }
}
