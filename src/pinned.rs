//! `PinnedValue`: a value read without copying it out of the engine.
//!
//! A get copies its value into a fresh `Vec`. `get_pinned` instead returns the bytes
//! where they already are: the decoded block in the block cache, the memtable's arena,
//! or the key cache's shared buffer. The value holds a reference count on that memory,
//! so it stays valid (and unchanged) across later writes, flushes, compactions and the
//! database's close, and frees it when it drops.
//!
//! The price of holding one: the memory it points into stays allocated. A value from a
//! memtable keeps that whole memtable (up to `memtable.max_bytes`) alive after it is
//! flushed, and one from a block keeps that block alive after the cache evicts it. Hold
//! pinned values briefly, or copy the ones to keep ([`PinnedValue::to_vec`]).

use crate::memtable::{ArenaValue, MemTable};
use crate::sstable::Block;
use std::ops::Deref;
use std::sync::Arc;

/// A value borrowed from the engine's memory, without a copy. Dereferences to `[u8]`.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let db = lsm::Lsm::open_with_config(lsm::Config::with_root(dir.path())).unwrap();
/// db.put(b"k", b"value").unwrap();
/// let v = db.get_pinned(b"k").unwrap().unwrap();
/// db.put(b"k", b"newer").unwrap();
/// assert_eq!(&*v, b"value"); // the value read, unchanged by the later write
/// ```
#[derive(Clone)]
pub struct PinnedValue(Repr);

#[derive(Clone)]
enum Repr {
    /// A value the read computed (a merge fold): nothing to borrow.
    Owned(Vec<u8>),
    /// The key cache's buffer.
    Shared(Arc<[u8]>),
    /// `block.data()[start..end]` of a decoded data block.
    Block {
        block: Arc<Block>,
        start: usize,
        end: usize,
    },
    /// A memtable value, from byte `start` on (an expiring value skips its expiry).
    Mem {
        value: ArenaValue<MemTable>,
        start: usize,
    },
}

impl PinnedValue {
    pub(crate) fn owned(v: Vec<u8>) -> PinnedValue {
        PinnedValue(Repr::Owned(v))
    }

    pub(crate) fn shared(v: Arc<[u8]>) -> PinnedValue {
        PinnedValue(Repr::Shared(v))
    }

    /// `block.data()[start..end]`; `None` when the range is not inside the block.
    pub(crate) fn block(block: Arc<Block>, start: usize, end: usize) -> Option<PinnedValue> {
        block.data().get(start..end)?;
        Some(PinnedValue(Repr::Block { block, start, end }))
    }

    pub(crate) fn mem(value: ArenaValue<MemTable>) -> PinnedValue {
        PinnedValue(Repr::Mem { value, start: 0 })
    }

    /// The value without its first `n` bytes (an expiring entry's expiry); `None`
    /// when it is shorter. Only raw stored values are cut: never an owned one.
    pub(crate) fn skip(self, n: usize) -> Option<PinnedValue> {
        if self.len() < n {
            return None;
        }
        Some(PinnedValue(match self.0 {
            Repr::Owned(mut v) => {
                v.drain(..n);
                Repr::Owned(v)
            }
            Repr::Shared(v) => Repr::Owned(v[n..].to_vec()),
            Repr::Block { block, start, end } => Repr::Block {
                block,
                start: start + n,
                end,
            },
            Repr::Mem { value, start } => Repr::Mem {
                value,
                start: start + n,
            },
        }))
    }

    /// A copy of the bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.as_ref().to_vec()
    }

    /// The bytes as a `Vec`: no copy when the value was computed by the read.
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Owned(v) => v,
            _ => self.to_vec(),
        }
    }
}

impl Deref for PinnedValue {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Owned(v) => v,
            Repr::Shared(v) => v,
            // In range: checked when made (`block`, `skip` keeps `start <= end`).
            Repr::Block { block, start, end } => block.data().get(*start..*end).unwrap_or_default(),
            Repr::Mem { value, start } => value.bytes().get(*start..).unwrap_or_default(),
        }
    }
}

impl AsRef<[u8]> for PinnedValue {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::borrow::Borrow<[u8]> for PinnedValue {
    fn borrow(&self) -> &[u8] {
        self
    }
}

impl PartialEq for PinnedValue {
    fn eq(&self, other: &PinnedValue) -> bool {
        **self == **other
    }
}

impl Eq for PinnedValue {}

impl PartialEq<[u8]> for PinnedValue {
    fn eq(&self, other: &[u8]) -> bool {
        **self == *other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for PinnedValue {
    fn eq(&self, other: &[u8; N]) -> bool {
        **self == other[..]
    }
}

impl PartialEq<Vec<u8>> for PinnedValue {
    fn eq(&self, other: &Vec<u8>) -> bool {
        **self == other[..]
    }
}

impl std::fmt::Debug for PinnedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let where_ = match &self.0 {
            Repr::Owned(_) => "owned",
            Repr::Shared(_) => "cache",
            Repr::Block { .. } => "block",
            Repr::Mem { .. } => "memtable",
        };
        f.debug_struct("PinnedValue")
            .field("from", &where_)
            .field("bytes", &self.as_ref())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_cuts_every_kind_and_refuses_short_values() {
        let owned = PinnedValue::owned(b"12345678value".to_vec());
        assert_eq!(owned.skip(8).unwrap(), *b"value");
        let shared = PinnedValue::shared(Arc::from(&b"12345678v"[..]));
        assert_eq!(shared.skip(8).unwrap(), *b"v");
        assert!(PinnedValue::owned(b"short".to_vec()).skip(8).is_none());
        assert_eq!(PinnedValue::owned(Vec::new()).into_vec(), Vec::<u8>::new());
    }
}
