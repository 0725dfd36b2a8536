//! Key bounds: `[lower, upper)` pairs built from Rust ranges and prefixes, as every
//! iterator takes them.

use std::ops::{Bound, RangeBounds};

/// The exclusive upper bound of the keys starting with `prefix` (`None`: no bound):
/// the keys with that prefix are exactly `[prefix, prefix_end(prefix))`.
///
/// ```
/// assert_eq!(lsm::prefix_end(b"ab"), Some(b"ac".to_vec()));
/// assert_eq!(lsm::prefix_end(b"a\xff"), Some(b"b".to_vec()));
/// assert_eq!(lsm::prefix_end(b"\xff"), None);
/// ```
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// `[lower, upper)` from any range of keys.
pub(crate) fn bounds<K: AsRef<[u8]>, R: RangeBounds<K>>(
    r: &R,
) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    // The successor of `k` in bytewise order is `k ++ [0]`.
    let succ = |k: &K| {
        let mut v = k.as_ref().to_vec();
        v.push(0);
        v
    };
    let lo = match r.start_bound() {
        Bound::Included(k) => Some(k.as_ref().to_vec()),
        Bound::Excluded(k) => Some(succ(k)),
        Bound::Unbounded => None,
    };
    let hi = match r.end_bound() {
        Bound::Included(k) => Some(succ(k)),
        Bound::Excluded(k) => Some(k.as_ref().to_vec()),
        Bound::Unbounded => None,
    };
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::{bounds, prefix_end};

    #[test]
    fn prefix_end_is_the_next_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn bounds_are_half_open() {
        assert_eq!(
            bounds(&(&b"a"[..]..&b"c"[..])),
            (Some(b"a".to_vec()), Some(b"c".to_vec()))
        );
        assert_eq!(
            bounds(&(&b"a"[..]..=&b"c"[..])),
            (Some(b"a".to_vec()), Some(b"c\0".to_vec()))
        );
        assert_eq!(bounds::<&[u8], _>(&(..)), (None, None));
    }
}
