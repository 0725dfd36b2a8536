//! Compaction filters: user code that decides, as compaction rewrites entries, which
//! to keep, remove or replace.
//!
//! A filter sees only entries no snapshot can see (the newest version of a key, newer
//! than every live snapshot), so it never changes what a snapshot reads. A removed
//! entry becomes a deletion (at the bottom level: nothing), so older versions of the
//! key never reappear. Merge operands and deletions are not shown to filters.
//!
//! ```
//! use std::sync::Arc;
//! # fn main() -> lsm::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let config = lsm::Config::with_root(dir.path())
//!     .with_compaction_filter(Arc::new(lsm::filter::DropPrefix::new(b"tmp:")));
//! let db = lsm::Lsm::open_with_config(config)?;
//! db.put(b"tmp:1", b"scratch")?;
//! db.put(b"user:1", b"ada")?;
//! db.flush()?;
//! db.compact()?;
//! assert_eq!(db.get(b"tmp:1")?, None);
//! assert_eq!(db.get(b"user:1")?, Some(b"ada".to_vec()));
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

/// What a compaction filter decides for an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Keep the entry as it is.
    Keep,
    /// Remove it: the key reads as deleted.
    Remove,
    /// Keep the key with this value instead (and the entry's expiry, if it has one).
    Replace(Vec<u8>),
}

/// An entry shown to a [`CompactionFilter`].
#[derive(Debug, Clone, Copy)]
pub struct FilterEntry<'a> {
    /// The keyspace's name (`"default"` for the database's own).
    pub keyspace: &'a str,
    /// The level the compaction writes to.
    pub level: usize,
    /// The user key.
    pub key: &'a [u8],
    /// The value.
    pub value: &'a [u8],
    /// When the entry expires (ms since the Unix epoch), for a put with a time to live.
    pub expires_at_ms: Option<u64>,
    /// The compaction's time, by the database's clock (ms since the Unix epoch).
    pub now_ms: u64,
}

/// Decides, for each entry a compaction rewrites, whether it stays. Called from
/// compaction threads, several at once; must be deterministic for an entry.
pub trait CompactionFilter: Send + Sync {
    /// A name for logs and errors.
    fn name(&self) -> &str;
    /// The decision for `entry`.
    fn filter(&self, entry: &FilterEntry<'_>) -> Decision;
}

/// Removes every key that starts with a prefix.
#[derive(Debug, Clone)]
pub struct DropPrefix {
    prefix: Vec<u8>,
}

impl DropPrefix {
    /// A filter removing the keys under `prefix`.
    pub fn new(prefix: &[u8]) -> DropPrefix {
        DropPrefix {
            prefix: prefix.to_vec(),
        }
    }
}

impl CompactionFilter for DropPrefix {
    fn name(&self) -> &str {
        "drop_prefix"
    }
    fn filter(&self, entry: &FilterEntry<'_>) -> Decision {
        if entry.key.starts_with(&self.prefix) {
            Decision::Remove
        } else {
            Decision::Keep
        }
    }
}

/// Removes entries whose time to live has passed: the filter the TTL feature runs in
/// every compaction, before the filters configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct DropExpired;

impl CompactionFilter for DropExpired {
    fn name(&self) -> &str {
        "drop_expired"
    }
    fn filter(&self, entry: &FilterEntry<'_>) -> Decision {
        match entry.expires_at_ms {
            Some(at) if at <= entry.now_ms => Decision::Remove,
            _ => Decision::Keep,
        }
    }
}

/// The configured filters, in order, compared by identity so a [`crate::Config`]
/// stays comparable.
#[derive(Clone, Default)]
pub struct FilterConfig {
    /// Applied after [`DropExpired`], in order; the first that does not keep an entry
    /// decides.
    pub filters: Vec<Arc<dyn CompactionFilter>>,
}

impl PartialEq for FilterConfig {
    fn eq(&self, other: &Self) -> bool {
        self.filters.len() == other.filters.len()
            && self
                .filters
                .iter()
                .zip(&other.filters)
                .all(|(a, b)| Arc::ptr_eq(a, b))
    }
}

impl Eq for FilterConfig {}

impl std::fmt::Debug for FilterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.filters.iter().map(|x| x.name()))
            .finish()
    }
}

/// The decision of `filters` (after [`DropExpired`]) for `entry`; a filter that panics
/// keeps the entry (nothing is lost to a bug in user code).
pub(crate) fn decide(filters: &[Arc<dyn CompactionFilter>], entry: &FilterEntry<'_>) -> Decision {
    let d = DropExpired.filter(entry);
    if d != Decision::Keep {
        return d;
    }
    for f in filters {
        let d = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.filter(entry)))
            .unwrap_or(Decision::Keep);
        if d != Decision::Keep {
            return d;
        }
    }
    Decision::Keep
}
