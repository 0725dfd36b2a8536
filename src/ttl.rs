//! Per-key time to live: entries that expire, and the clock they expire by.
//!
//! An expiring put stores its expiry (milliseconds since the Unix epoch, wall clock)
//! in front of the value:
//!
//! ```text
//! expiring value := expires_at_ms: u64 LE ++ value
//! ```
//!
//! A read at time `now` treats an entry with `expires_at_ms <= now` as a deletion of
//! the key; a snapshot reads at the time it was taken. Compaction turns expired
//! entries no snapshot can see into deletions (at the bottom level: into nothing).
//!
//! ```
//! use std::time::Duration;
//! # fn main() -> lsm::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let clock = std::sync::Arc::new(lsm::ttl::ManualClock::new(1_000_000));
//! let db = lsm::Lsm::open_with_config(lsm::Config::with_root(dir.path()).with_clock(clock.clone()))?;
//! db.put_with_ttl(b"session", b"abc", Duration::from_secs(60))?;
//! assert_eq!(db.get(b"session")?, Some(b"abc".to_vec()));
//! clock.advance(Duration::from_secs(60));
//! assert_eq!(db.get(b"session")?, None);
//! # Ok(())
//! # }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bytes of the expiry in front of an expiring value.
pub(crate) const EXPIRY_LEN: usize = 8;

/// Wall-clock time as the engine reads it, in milliseconds since the Unix epoch.
/// Tests inject a [`ManualClock`] with [`crate::Config::with_clock`].
pub trait Clock: Send + Sync {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told to: for tests of expiry.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock standing at `now_ms`.
    pub fn new(now_ms: u64) -> ManualClock {
        ManualClock {
            now: AtomicU64::new(now_ms),
        }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.now.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock to `now_ms`.
    pub fn set(&self, now_ms: u64) {
        self.now.store(now_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

/// The configured clock (the system's unless a test set one), compared by identity so
/// a [`crate::Config`] stays comparable.
#[derive(Clone, Default)]
pub struct ClockConfig {
    /// `None`: [`SystemClock`].
    pub clock: Option<Arc<dyn Clock>>,
}

impl ClockConfig {
    /// Now by the configured clock.
    pub fn now_ms(&self) -> u64 {
        match &self.clock {
            Some(c) => c.now_ms(),
            None => SystemClock.now_ms(),
        }
    }
}

impl PartialEq for ClockConfig {
    fn eq(&self, other: &Self) -> bool {
        match (&self.clock, &other.clock) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for ClockConfig {}

impl std::fmt::Debug for ClockConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.clock.is_some() {
            "ClockConfig(custom)"
        } else {
            "ClockConfig(system)"
        })
    }
}

/// `expires_at_ms ++ value`.
pub(crate) fn join(expires_at_ms: u64, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(EXPIRY_LEN + value.len());
    v.extend_from_slice(&expires_at_ms.to_le_bytes());
    v.extend_from_slice(value);
    v
}

/// The expiry and the value of an expiring value; `None` when it is too short (damage).
pub(crate) fn split(raw: &[u8]) -> Option<(u64, &[u8])> {
    let (e, v) = raw.split_first_chunk::<EXPIRY_LEN>()?;
    Some((u64::from_le_bytes(*e), v))
}

/// The expiry of a write made at `now_ms` that lives for `ttl` (saturating).
pub(crate) fn expiry(now_ms: u64, ttl: Duration) -> u64 {
    now_ms.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}

/// The error for an expiring value shorter than its expiry.
pub(crate) fn malformed() -> crate::LsmError {
    crate::LsmError::corruption("", 0, "an expiring entry shorter than its expiry")
}

/// A point in time reads are made at: a sequence number and the wall-clock time by
/// which entries expire (a snapshot reads at the time it was taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadPoint {
    pub seq: crate::key::SeqNo,
    pub now_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_short_ones_are_refused() {
        let raw = join(42, b"value");
        assert_eq!(split(&raw), Some((42, &b"value"[..])));
        assert_eq!(split(&join(7, b"")), Some((7, &b""[..])));
        assert_eq!(split(b"short"), None);
        assert_eq!(expiry(u64::MAX - 1, Duration::from_secs(5)), u64::MAX);
        let c = ManualClock::new(10);
        c.advance(Duration::from_millis(5));
        assert_eq!(c.now_ms(), 15);
        assert!(SystemClock.now_ms() > 1_600_000_000_000);
    }
}
