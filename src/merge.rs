//! Merge operators: read-modify-write without the read.
//!
//! `db.merge(key, operand)` stores the operand; a read folds the operands of a key
//! onto its newest value (or onto nothing) with the database's [`MergeOperator`], and
//! compaction folds them ahead of time, so a counter increment costs one write and no
//! lookup.
//!
//! ```
//! # fn main() -> lsm::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let mut config = lsm::Config::with_root(dir.path());
//! config.set("merge.operator", "u64_add")?;
//! let db = lsm::Lsm::open_with_config(config)?;
//! db.merge(b"visits", &1u64.to_le_bytes())?;
//! db.merge(b"visits", &2u64.to_le_bytes())?;
//! assert_eq!(db.get(b"visits")?, Some(3u64.to_le_bytes().to_vec()));
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

/// How the operands of a key combine with its value.
///
/// Operands are passed oldest first. Both methods must be deterministic and pure: a
/// read and a compaction fold the same operands at different times and must agree.
pub trait MergeOperator: Send + Sync {
    /// The operator's name, recorded in the database: reopening it with an operator
    /// of another name, or with none, is a `Config` error.
    fn name(&self) -> &str;

    /// The value that results from applying `operands` (oldest first) to `existing`
    /// (`None` when the key has no value: never written, deleted, or expired). `None`
    /// means the operands cannot be applied: a read of the key fails, and compaction
    /// leaves the operands as they are.
    fn full_merge(
        &self,
        key: &[u8],
        existing: Option<&[u8]>,
        operands: &[&[u8]],
    ) -> Option<Vec<u8>>;

    /// One operand with the effect of `operands` (oldest first, at least two), or
    /// `None` when they do not combine without the value under them (the default).
    /// Compaction uses it to fold operands it cannot fold onto a value yet.
    fn partial_merge(&self, _key: &[u8], _operands: &[&[u8]]) -> Option<Vec<u8>> {
        None
    }
}

/// The names of the built-in operators, for `merge.operator`.
pub const BUILTIN_OPERATORS: &[&str] = &["u64_add", "append", "max", "min"];

/// The built-in operator called `name`, or `None`.
///
/// - `u64_add`: values and operands are 8-byte little-endian u64; wrapping add; a
///   missing value counts as 0. An operand or value of another length fails the merge.
/// - `append`: concatenation.
/// - `max` / `min`: the bytewise largest / smallest of the value and the operands.
pub fn builtin(name: &str) -> Option<Arc<dyn MergeOperator>> {
    let op: Arc<dyn MergeOperator> = match name {
        "u64_add" => Arc::new(U64Add),
        "append" => Arc::new(Append),
        "max" => Arc::new(Extreme { max: true }),
        "min" => Arc::new(Extreme { max: false }),
        _ => return None,
    };
    Some(op)
}

struct U64Add;

fn as_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

impl MergeOperator for U64Add {
    fn name(&self) -> &str {
        "u64_add"
    }

    fn full_merge(
        &self,
        _key: &[u8],
        existing: Option<&[u8]>,
        operands: &[&[u8]],
    ) -> Option<Vec<u8>> {
        let mut sum = match existing {
            Some(v) => as_u64(v)?,
            None => 0,
        };
        for o in operands {
            sum = sum.wrapping_add(as_u64(o)?);
        }
        Some(sum.to_le_bytes().to_vec())
    }

    fn partial_merge(&self, key: &[u8], operands: &[&[u8]]) -> Option<Vec<u8>> {
        self.full_merge(key, None, operands)
    }
}

struct Append;

impl MergeOperator for Append {
    fn name(&self) -> &str {
        "append"
    }

    fn full_merge(
        &self,
        _key: &[u8],
        existing: Option<&[u8]>,
        operands: &[&[u8]],
    ) -> Option<Vec<u8>> {
        let len = existing.map_or(0, <[u8]>::len) + operands.iter().map(|o| o.len()).sum::<usize>();
        let mut v = Vec::with_capacity(len);
        v.extend_from_slice(existing.unwrap_or_default());
        for o in operands {
            v.extend_from_slice(o);
        }
        Some(v)
    }

    fn partial_merge(&self, key: &[u8], operands: &[&[u8]]) -> Option<Vec<u8>> {
        self.full_merge(key, None, operands)
    }
}

struct Extreme {
    max: bool,
}

impl MergeOperator for Extreme {
    fn name(&self) -> &str {
        if self.max {
            "max"
        } else {
            "min"
        }
    }

    fn full_merge(
        &self,
        _key: &[u8],
        existing: Option<&[u8]>,
        operands: &[&[u8]],
    ) -> Option<Vec<u8>> {
        let all = existing.into_iter().chain(operands.iter().copied());
        let pick = if self.max { all.max() } else { all.min() };
        pick.map(<[u8]>::to_vec)
    }

    fn partial_merge(&self, key: &[u8], operands: &[&[u8]]) -> Option<Vec<u8>> {
        self.full_merge(key, None, operands)
    }
}

/// The configured operator (`[merge] operator`), compared and shown by name so a
/// [`crate::Config`] stays comparable and printable.
#[derive(Clone, Default)]
pub struct MergeConfig {
    /// The operator; `None`: merges are refused.
    pub operator: Option<Arc<dyn MergeOperator>>,
}

impl MergeConfig {
    /// The operator's name, `None` without one.
    pub fn name(&self) -> Option<&str> {
        self.operator.as_deref().map(|o| o.name())
    }
}

impl PartialEq for MergeConfig {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for MergeConfig {}

impl std::fmt::Debug for MergeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MergeConfig")
            .field("operator", &self.name())
            .finish()
    }
}

/// Folds `operands` (newest first, as a key's versions are met) onto `base` with `op`:
/// the shared step of reads and compaction.
pub(crate) fn fold<'a>(
    op: &dyn MergeOperator,
    key: &[u8],
    base: Option<&[u8]>,
    newest_first: impl DoubleEndedIterator<Item = &'a [u8]>,
) -> Option<Vec<u8>> {
    let oldest_first: Vec<&[u8]> = newest_first.rev().collect();
    guarded(|| op.full_merge(key, base, &oldest_first))
}

/// [`MergeOperator::partial_merge`] of `newest_first`, with panics as `None`.
pub(crate) fn fold_operands<'a>(
    op: &dyn MergeOperator,
    key: &[u8],
    newest_first: impl DoubleEndedIterator<Item = &'a [u8]>,
) -> Option<Vec<u8>> {
    let oldest_first: Vec<&[u8]> = newest_first.rev().collect();
    guarded(|| op.partial_merge(key, &oldest_first))
}

/// `f()`, with a panic as `None`: a foreign operator (a C callback, a user's Rust
/// code) that panics fails the merge, not the reader or compaction thread.
fn guarded(f: impl FnOnce() -> Option<Vec<u8>>) -> Option<Vec<u8>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .ok()
        .flatten()
}

/// The error of a read whose operands the operator could not apply.
pub(crate) fn failed(key: &[u8]) -> crate::LsmError {
    crate::LsmError::InvalidArgument(format!(
        "the merge operator could not apply the operands of key {:?}",
        String::from_utf8_lossy(key)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops<'a>(v: &'a [&'a [u8]]) -> impl DoubleEndedIterator<Item = &'a [u8]> {
        v.iter().copied()
    }

    #[test]
    fn builtins_fold_newest_first_operands_in_write_order() {
        let add = builtin("u64_add").unwrap();
        let one = 1u64.to_le_bytes();
        let five = 5u64.to_le_bytes();
        assert_eq!(
            fold(&*add, b"k", Some(&five), ops(&[&one, &one])),
            Some(7u64.to_le_bytes().to_vec())
        );
        assert_eq!(
            fold(&*add, b"k", None, ops(&[&u64::MAX.to_le_bytes(), &one])),
            Some(0u64.to_le_bytes().to_vec()),
            "wrapping add of 1 and MAX"
        );
        assert_eq!(fold(&*add, b"k", None, ops(&[b"short"])), None);
        let app = builtin("append").unwrap();
        // Newest first: "c" was written last.
        assert_eq!(
            fold(&*app, b"k", Some(b"a"), ops(&[b"c", b"b"])),
            Some(b"abc".to_vec())
        );
        assert_eq!(
            fold_operands(&*app, b"k", ops(&[b"c", b"b"])),
            Some(b"bc".to_vec())
        );
        let max = builtin("max").unwrap();
        let min = builtin("min").unwrap();
        assert_eq!(
            fold(&*max, b"k", Some(b"m"), ops(&[b"a", b"z"])),
            Some(b"z".to_vec())
        );
        assert_eq!(
            fold(&*min, b"k", Some(b"m"), ops(&[b"a", b"z"])),
            Some(b"a".to_vec())
        );
        assert!(builtin("sum").is_none());
        for n in BUILTIN_OPERATORS {
            assert_eq!(builtin(n).unwrap().name(), *n);
        }
    }

    #[test]
    fn a_panicking_operator_is_a_failed_merge() {
        struct Boom;
        impl MergeOperator for Boom {
            fn name(&self) -> &str {
                "boom"
            }
            fn full_merge(&self, _: &[u8], _: Option<&[u8]>, _: &[&[u8]]) -> Option<Vec<u8>> {
                panic!("boom")
            }
        }
        assert_eq!(fold(&Boom, b"k", None, ops(&[b"x"])), None);
        assert_eq!(fold_operands(&Boom, b"k", ops(&[b"x", b"y"])), None);
    }
}
