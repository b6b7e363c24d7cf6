//! Group commit: one thread writes issuances to the inventory, as many as are waiting in one
//! transaction (one fsync for all), and answers each request only after its commit. So every
//! certificate handed out is on disk first, and a burst of renewals costs a few commits, not
//! one per device. The queue is bounded: when it is full the request is shed (503).

use crate::metrics::Metrics;
use pki_core::ca::inventory::{Issuance, Refusal};
use pki_core::ca::Inventory;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use tokio::sync::oneshot;

/// The most issuances in one transaction.
const MAX_BATCH: usize = 256;
/// A checkpoint of the inventory's log after this many issuances (or this long), run once
/// a batch has been answered.
const CHECKPOINT_EVERY: usize = 256;
const CHECKPOINT_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

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

pub struct Committer {
    queue: SyncSender<Job>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Committer {
    pub fn start(inventory: Arc<Inventory>, capacity: usize, metrics: Arc<Metrics>) -> Committer {
        let (queue, jobs) = sync_channel(capacity);
        let thread = std::thread::Builder::new()
            .name("pki-commit".into())
            .spawn(move || run(&inventory, &jobs, &metrics))
            .ok();
        Committer { queue, thread }
    }

    /// Commits `issuance`; its own answer (recorded, or refused by the inventory).
    pub async fn commit(&self, issuance: Issuance) -> Result<Result<(), Refusal>, Failed> {
        let (reply, answer) = oneshot::channel();
        match self.queue.try_send(Job { issuance, reply }) {
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

fn run(inventory: &Inventory, jobs: &Receiver<Job>, metrics: &Metrics) {
    let mut since_checkpoint = 0;
    let mut last_checkpoint = std::time::Instant::now();
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
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
