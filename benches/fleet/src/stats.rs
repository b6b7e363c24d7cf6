//! Counting what happened: honest requests by kind (ok, shed, failed, with the reasons) and
//! their latencies; hostile peers by kind (how each ended).

use crate::fleet::{Kind, Verdict};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Honest requests of one phase.
#[derive(Default)]
pub struct Tally {
    inner: Mutex<Inner>,
}

#[derive(Default, Clone)]
struct Inner {
    counts: BTreeMap<&'static str, Counts>,
    /// Latencies in microseconds, every honest request answered (ok or shed).
    latencies: Vec<u32>,
    reasons: BTreeMap<String, u64>,
    skipped: u64,
}

/// How requests of one kind ended.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub ok: u64,
    pub shed: u64,
    pub failed: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.ok + self.shed + self.failed
    }
}

/// A summary of a [`Tally`].
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub by_kind: BTreeMap<&'static str, Counts>,
    pub all: Counts,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub reasons: BTreeMap<String, u64>,
    /// Enrollments not tried for want of a token made in time.
    pub skipped: u64,
}

impl Summary {
    /// `N ok (renew …, cacerts …), N failed, N shed, p50 …, p99 …` for a phase's line.
    pub fn describe(&self) -> String {
        let kinds: Vec<String> = self
            .by_kind
            .iter()
            .map(|(k, c)| format!("{k} {}", c.ok))
            .collect();
        format!(
            "{} ok ({}), {} failed, {} shed, p50 {:.1} ms, p99 {:.1} ms, max {:.0} ms{}",
            self.all.ok,
            kinds.join(", "),
            self.all.failed,
            self.all.shed,
            self.p50.as_secs_f64() * 1000.0,
            self.p99.as_secs_f64() * 1000.0,
            self.max.as_secs_f64() * 1000.0,
            if self.skipped > 0 {
                format!(", {} enrollments waited for a token", self.skipped)
            } else {
                String::new()
            }
        )
    }

    /// Successes over everything not shed.
    pub fn success_rate(&self) -> f64 {
        let judged = self.all.ok + self.all.failed;
        if judged == 0 {
            1.0
        } else {
            self.all.ok as f64 / judged as f64
        }
    }
}

impl Tally {
    pub fn record(&self, kind: Kind, verdict: &Verdict, took: Duration) {
        let Ok(mut t) = self.inner.lock() else { return };
        let c = t.counts.entry(kind.name()).or_default();
        match verdict {
            Verdict::Ok => c.ok += 1,
            Verdict::Shed => c.shed += 1,
            Verdict::Failed(why) => {
                c.failed += 1;
                if t.reasons.len() < 50 || t.reasons.contains_key(why) {
                    *t.reasons.entry(why.clone()).or_default() += 1;
                }
            }
        }
        if !matches!(verdict, Verdict::Failed(_)) {
            t.latencies
                .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
        }
    }

    pub fn count_skip(&self) {
        if let Ok(mut t) = self.inner.lock() {
            t.skipped += 1;
        }
    }

    pub fn summary(&self) -> Summary {
        let Ok(t) = self.inner.lock() else {
            return Summary::default();
        };
        let mut all = Counts::default();
        for c in t.counts.values() {
            all.ok += c.ok;
            all.shed += c.shed;
            all.failed += c.failed;
        }
        let mut l = t.latencies.clone();
        l.sort_unstable();
        Summary {
            by_kind: t.counts.clone(),
            all,
            p50: percentile(&l, 0.50),
            p99: percentile(&l, 0.99),
            max: l
                .last()
                .map_or(Duration::ZERO, |&m| Duration::from_micros(m.into())),
            reasons: t.reasons.clone(),
            skipped: t.skipped,
        }
    }
}

/// The `q` quantile of sorted microseconds.
pub fn percentile(sorted: &[u32], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    Duration::from_micros(sorted[i].into())
}

/// Hostile peers of one kind: how many, how each ended.
#[derive(Default)]
pub struct Hostile {
    inner: Mutex<BTreeMap<&'static str, HostileCounts>>,
}

#[derive(Debug, Default, Clone)]
pub struct HostileCounts {
    pub tries: u64,
    /// Ended as the server should end it (cut off in time, the right status or alert).
    pub expected: u64,
    /// Anything else, by reason.
    pub unexpected: BTreeMap<String, u64>,
    /// The longest time the server took to end one.
    pub longest: Duration,
}

impl Hostile {
    pub fn record(&self, kind: &'static str, result: Result<Duration, String>) {
        let Ok(mut m) = self.inner.lock() else { return };
        let c = m.entry(kind).or_default();
        c.tries += 1;
        match result {
            Ok(took) => {
                c.expected += 1;
                c.longest = c.longest.max(took);
            }
            Err(why) => {
                if c.unexpected.len() < 20 || c.unexpected.contains_key(&why) {
                    *c.unexpected.entry(why).or_default() += 1;
                }
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.inner
            .lock()
            .map(|m| m.values().map(|c| c.tries).sum())
            .unwrap_or(0)
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, HostileCounts> {
        self.inner.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_micros(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_micros(99));
        assert_eq!(percentile(&v, 1.0), Duration::from_micros(100));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn shed_requests_are_not_failures() {
        let t = Tally::default();
        t.record(Kind::Renew, &Verdict::Ok, Duration::from_millis(1));
        t.record(Kind::Renew, &Verdict::Shed, Duration::from_millis(1));
        t.record(
            Kind::Crl,
            &Verdict::Failed("x".into()),
            Duration::from_millis(1),
        );
        let s = t.summary();
        assert_eq!(
            s.all,
            Counts {
                ok: 1,
                shed: 1,
                failed: 1
            }
        );
        assert!((s.success_rate() - 0.5).abs() < 1e-9);
    }
}
