//! Connections that have not sent a byte yet, oldest first. When `accept()` finds no file
//! descriptor left, the listener closes the oldest of those that have been silent for
//! [`MIN_SILENCE`]: a device sends its ClientHello as soon as it is connected, so a peer
//! silent that long is holding a descriptor, not using it. Without this, 1,000 peers that
//! connect and say nothing keep every descriptor until the handshake timeout, and honest
//! devices wait behind them in the kernel's backlog (the soak measured 13 s at an
//! open-file limit of 256); with it they are served within a fraction of a second.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long a connection must have been silent before it may be closed to make room. A
/// device's ClientHello follows the TCP handshake's last ACK at once (one that waited in the
/// kernel's backlog has it there already when accepted), so a tenth of a second is generous.
pub const MIN_SILENCE: Duration = Duration::from_millis(100);

/// What [`Silent::evict`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evicted {
    /// This many connections were closed.
    Closed(usize),
    /// None was silent long enough; the oldest will be after this long.
    NoneYet(Duration),
    /// No connection is silent: every descriptor is held by one that spoke.
    NoneSilent,
}

/// The registry (bounded by the connection cap: one entry per connection, removed when its
/// first byte comes or it ends).
#[derive(Default)]
pub struct Silent {
    waiting: Mutex<BTreeMap<u64, (Instant, Arc<Notify>)>>,
    next: AtomicU64,
}

/// One connection's place in the registry; leaving it (drop) removes it.
pub struct Waiting {
    registry: Arc<Silent>,
    id: u64,
    closed: Arc<Notify>,
}

impl Silent {
    /// Registers a connection just accepted.
    pub fn enter(self: &Arc<Self>) -> Waiting {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let closed = Arc::new(Notify::new());
        if let Ok(mut w) = self.waiting.lock() {
            w.insert(id, (Instant::now(), closed.clone()));
        }
        Waiting {
            registry: self.clone(),
            id,
            closed,
        }
    }

    /// Closes up to `n` of the oldest connections silent for at least `min`; how many, or
    /// when the oldest will have been silent that long, or that none is silent.
    pub fn evict(&self, n: usize, min: Duration) -> Evicted {
        let Ok(mut w) = self.waiting.lock() else {
            return Evicted::NoneSilent;
        };
        let now = Instant::now();
        let chosen: Vec<u64> = w
            .iter()
            .take_while(|(_, (since, _))| now.duration_since(*since) >= min)
            .take(n)
            .map(|(id, _)| *id)
            .collect();
        for id in &chosen {
            if let Some((_, closed)) = w.remove(id) {
                closed.notify_one();
            }
        }
        if !chosen.is_empty() {
            return Evicted::Closed(chosen.len());
        }
        match w.values().next() {
            Some((since, _)) => Evicted::NoneYet(min.saturating_sub(now.duration_since(*since))),
            None => Evicted::NoneSilent,
        }
    }

    /// Connections silent now.
    pub fn len(&self) -> usize {
        self.waiting.lock().map(|w| w.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Waiting {
    /// Completes when the listener closes this connection to make room.
    pub async fn evicted(&self) {
        self.closed.notified().await;
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Ok(mut w) = self.registry.waiting.lock() {
            w.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_oldest_silent_connections_go_first_and_only_once_silent_long_enough() {
        let registry = Arc::new(Silent::default());
        let old = registry.enter();
        let older_too = registry.enter();
        tokio::time::sleep(Duration::from_millis(60)).await;
        let young = registry.enter();
        assert_eq!(
            registry.evict(5, Duration::from_millis(50)),
            Evicted::Closed(2),
            "the young one stays"
        );
        // both were told, at once
        tokio::time::timeout(Duration::from_secs(1), old.evicted())
            .await
            .expect("the oldest is closed");
        tokio::time::timeout(Duration::from_secs(1), older_too.evicted())
            .await
            .expect("the next is closed");
        assert_eq!(registry.len(), 1);
        // the young one: not yet, and the listener is told how long to wait, not to back off
        match registry.evict(5, Duration::from_secs(60)) {
            Evicted::NoneYet(d) => assert!(
                d > Duration::from_secs(59) && d <= Duration::from_secs(60),
                "{d:?}"
            ),
            other => panic!("{other:?}"),
        }
        drop(young);
        assert_eq!(registry.evict(5, Duration::ZERO), Evicted::NoneSilent);
        assert!(
            registry.is_empty(),
            "a connection that spoke leaves the registry"
        );
    }
}
