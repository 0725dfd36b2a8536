//! The write buffer manager's accounting: the bytes of the memtables of every
//! keyspace together, kept as running totals so that a write checks the shared
//! budget (`memtable.total_bytes`) in O(1), whatever the number of keyspaces.
//!
//! Each writer, after its inserts, adds what the mutable memtables grew by
//! ([`crate::memtable::MemTable::growth`] hands every byte to exactly one writer); a
//! memtable switch moves a memtable's bytes from mutable to immutable; the flush that
//! retires it, or the drop of its keyspace, subtracts them. An immutable
//! memtable takes no more inserts, so the bytes subtracted are the bytes added.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub(crate) struct MemoryUse {
    mutable: AtomicU64,
    immutable: AtomicU64,
}

impl MemoryUse {
    /// Inserts grew a mutable memtable by `bytes`.
    pub fn grew(&self, bytes: usize) {
        self.mutable.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A mutable memtable of `bytes` became immutable.
    pub fn sealed(&self, bytes: usize) {
        self.mutable.fetch_sub(bytes as u64, Ordering::Relaxed);
        self.immutable.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// An immutable memtable of `bytes` was flushed (or dropped with its keyspace).
    pub fn retired(&self, bytes: usize) {
        self.immutable.fetch_sub(bytes as u64, Ordering::Relaxed);
    }

    /// A mutable memtable of `bytes` was dropped with its keyspace.
    pub fn discarded(&self, bytes: usize) {
        self.mutable.fetch_sub(bytes as u64, Ordering::Relaxed);
    }

    /// Bytes of the mutable memtables.
    pub fn mutable(&self) -> u64 {
        // Never negative in a consistent state; read as signed so that a transient
        // mismatch cannot look like an enormous total.
        (self.mutable.load(Ordering::Relaxed) as i64).max(0) as u64
    }

    /// Bytes of every memtable, immutable ones included.
    pub fn total(&self) -> u64 {
        self.mutable() + (self.immutable.load(Ordering::Relaxed) as i64).max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::MemoryUse;

    #[test]
    fn bytes_move_from_mutable_to_immutable_and_out() {
        let m = MemoryUse::default();
        m.grew(100);
        m.grew(50);
        assert_eq!((m.mutable(), m.total()), (150, 150));
        m.sealed(150);
        m.grew(10);
        assert_eq!((m.mutable(), m.total()), (10, 160));
        m.retired(150);
        m.discarded(10);
        assert_eq!((m.mutable(), m.total()), (0, 0));
    }
}
