//! The user's view of the merged entries: one entry per user key, the newest visible
//! at the snapshot, deleted keys skipped, merge operands folded, inside `[lower, upper)`.

use super::merging::MergingIterator;
use super::InternalIterator;
use crate::error::{LsmError, Result};
use crate::key::{self, SeqNo, ValueKind, MAX_SEQ};
use crate::merge::MergeOperator;
use crate::range_del::FragmentedTombstones;
use std::sync::Arc;

/// A bidirectional cursor over user keys and values.
///
/// Contract of the merge cursor's position (as in LevelDB's DBIter): moving forward, it
/// stands on the entry that produced the current key; moving backward, it stands before
/// every entry of the current key.
pub struct DbCursor {
    merge: MergingIterator,
    snapshot: SeqNo,
    tombstones: FragmentedTombstones,
    lower: Option<Vec<u8>>,
    upper: Option<Vec<u8>>,
    forward: bool,
    valid: bool,
    key: Vec<u8>,
    value: Vec<u8>,
    /// When the current value is not in `value` but under the merge cursor (a put or
    /// an expiring put found walking forward): from which byte of the entry's value.
    value_at: Option<usize>,
    error: Option<LsmError>,
    merge_op: Option<Arc<dyn MergeOperator>>,
    /// Operands of the key being resolved, newest first (reused across keys).
    operands: Vec<Vec<u8>>,
    /// The time entries expire by (ms since the Unix epoch; 0: none has expired).
    now_ms: u64,
}

impl DbCursor {
    /// A cursor over `merge` at `snapshot`, limited to `[lower, upper)`.
    pub fn new(
        merge: MergingIterator,
        snapshot: SeqNo,
        tombstones: FragmentedTombstones,
        lower: Option<Vec<u8>>,
        upper: Option<Vec<u8>>,
    ) -> DbCursor {
        DbCursor {
            merge,
            snapshot,
            tombstones,
            lower,
            upper,
            forward: true,
            valid: false,
            key: Vec::new(),
            value: Vec::new(),
            value_at: None,
            error: None,
            merge_op: None,
            operands: Vec::new(),
            now_ms: 0,
        }
    }

    /// This cursor, treating entries that expire by `now_ms` as deleted.
    pub fn at_time(mut self, now_ms: u64) -> DbCursor {
        self.now_ms = now_ms;
        self
    }

    /// The live value of the expiring entry `raw`, or `None` once it has expired;
    /// `Err` for a malformed one.
    fn unexpired<'v>(&self, raw: &'v [u8]) -> Result<Option<&'v [u8]>> {
        let (at, v) = crate::ttl::split(raw).ok_or_else(crate::ttl::malformed)?;
        Ok((at > self.now_ms).then_some(v))
    }

    /// This cursor, folding merge operands with `op`.
    pub fn with_merge_operator(mut self, op: Option<Arc<dyn MergeOperator>>) -> DbCursor {
        self.merge_op = op;
        self
    }

    /// True when positioned on a key.
    pub fn valid(&self) -> bool {
        self.valid
    }

    /// The current key. REQUIRES: `valid()`.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The current value. REQUIRES: `valid()`.
    pub fn value(&self) -> &[u8] {
        match self.value_at {
            // Still under the merge cursor, which has not moved since.
            Some(from) => self.merge.value().get(from..).unwrap_or_default(),
            None => &self.value,
        }
    }

    /// The first error met; the cursor is invalid once there is one.
    pub fn status(&self) -> Result<()> {
        match &self.error {
            Some(e) => Err(e.duplicate()),
            None => Ok(()),
        }
    }

    /// Positions on the first key.
    pub fn seek_to_first(&mut self) {
        match self.lower.clone() {
            Some(l) => self.seek(&l),
            None => {
                self.merge.seek_to_first();
                self.find_next(None);
            }
        }
    }

    /// Positions on the last key.
    pub fn seek_to_last(&mut self) {
        match self.upper.clone() {
            // The last entry before every version of `upper`.
            Some(u) => {
                self.merge.seek_for_prev(&before_all_versions(&u));
                self.find_prev();
            }
            None => {
                self.merge.seek_to_last();
                self.find_prev();
            }
        }
    }

    /// Positions on the first key `>= target`.
    pub fn seek(&mut self, target: &[u8]) {
        let t = match &self.lower {
            Some(l) if l.as_slice() > target => l.clone(),
            _ => target.to_vec(),
        };
        self.merge.seek(&key::lookup_key(&t, MAX_SEQ));
        self.find_next(None);
    }

    /// Positions on the last key `<= target`.
    pub fn seek_for_prev(&mut self, target: &[u8]) {
        match &self.upper {
            Some(u) if u.as_slice() <= target => {
                let u = u.clone();
                self.merge.seek_for_prev(&before_all_versions(&u));
            }
            // Sequence 0 with the lowest kind is the last internal key of `target`.
            _ => self
                .merge
                .seek_for_prev(&key::encode(target, 0, ValueKind::Delete)),
        }
        self.find_prev();
    }

    /// Moves to the next key. REQUIRES: `valid()`.
    pub fn next(&mut self) {
        if !self.valid {
            return;
        }
        if !self.forward {
            self.merge.seek(&key::lookup_key(&self.key, MAX_SEQ));
        }
        let cur = std::mem::take(&mut self.key);
        self.find_next(Some(cur));
    }

    /// Moves to the previous key. REQUIRES: `valid()`.
    pub fn prev(&mut self) {
        if !self.valid {
            return;
        }
        if self.forward {
            self.merge.seek_for_prev(&before_all_versions(&self.key));
        }
        self.find_prev();
    }

    fn fail(&mut self, e: LsmError) {
        self.valid = false;
        self.value_at = None;
        self.error = Some(e);
    }

    /// Walks forward to the newest visible live entry of the next user key, skipping
    /// the key `skip` (the one just returned).
    fn find_next(&mut self, skip: Option<Vec<u8>>) {
        self.forward = true;
        self.valid = false;
        self.value_at = None;
        let mut skipping: Option<Vec<u8>> = skip;
        while self.merge.valid() {
            let ik = self.merge.key();
            let uk = key::user_key(ik);
            if let Some(u) = &self.upper {
                if uk >= u.as_slice() {
                    break;
                }
            }
            let seq = key::seq(ik);
            if seq > self.snapshot || skipping.as_deref() == Some(uk) {
                self.merge.next();
                continue;
            }
            match key::kind(ik) {
                Some(ValueKind::Put) if !self.tombstones.covers(uk, seq) => {
                    self.key.clear();
                    self.key.extend_from_slice(uk);
                    // Not copied: the merge cursor stays on the entry until the next
                    // move, and `value` reads it there.
                    self.value_at = Some(0);
                    self.valid = true;
                    return;
                }
                Some(ValueKind::Merge) if !self.tombstones.covers(uk, seq) => {
                    self.key.clear();
                    self.key.extend_from_slice(uk);
                    return self.resolve_forward();
                }
                Some(ValueKind::PutExpiring) if !self.tombstones.covers(uk, seq) => {
                    match self.unexpired(self.merge.value()) {
                        Ok(Some(_)) => {
                            // Read in place past the expiry, as a put's value is.
                            self.key.clear();
                            self.key.extend_from_slice(uk);
                            self.value_at = Some(crate::ttl::EXPIRY_LEN);
                            self.valid = true;
                            return;
                        }
                        // Expired: the key reads as deleted.
                        Ok(None) => {
                            skipping = Some(uk.to_vec());
                            self.merge.next();
                        }
                        Err(e) => return self.fail(e),
                    }
                }
                Some(
                    ValueKind::Put | ValueKind::Delete | ValueKind::Merge | ValueKind::PutExpiring,
                ) => {
                    skipping = Some(uk.to_vec());
                    self.merge.next();
                }
                _ => {
                    let e = LsmError::corruption("", 0, "unexpected entry kind in a key stream");
                    return self.fail(e);
                }
            }
        }
        if let Err(e) = self.merge.status() {
            self.fail(e);
        }
    }

    /// Standing on the newest visible entry of `self.key`, a merge operand: collects
    /// it and the older operands down to the value under them (a put), or to what
    /// hides everything older (a delete, a covering range deletion, the end of the
    /// key), and folds them. Leaves the merge cursor past the entries it read, still
    /// inside or just after this key, which `next` skips as usual.
    fn resolve_forward(&mut self) {
        self.operands.clear();
        self.operands.push(self.merge.value().to_vec());
        self.merge.next();
        let mut base: Option<Vec<u8>> = None;
        while self.merge.valid() {
            let ik = self.merge.key();
            if key::user_key(ik) != self.key.as_slice() {
                break;
            }
            let seq = key::seq(ik);
            // Versions of this key below the first visible one are all visible.
            if self.tombstones.covers(&self.key, seq) {
                break;
            }
            match key::kind(ik) {
                Some(ValueKind::Merge) => self.operands.push(self.merge.value().to_vec()),
                Some(ValueKind::Put) => {
                    base = Some(self.merge.value().to_vec());
                    break;
                }
                Some(ValueKind::PutExpiring) => {
                    match self.unexpired(self.merge.value()) {
                        Ok(v) => base = v.map(<[u8]>::to_vec),
                        Err(e) => return self.fail(e),
                    }
                    break;
                }
                Some(ValueKind::Delete) => break,
                _ => {
                    let e = LsmError::corruption("", 0, "unexpected entry kind in a key stream");
                    return self.fail(e);
                }
            }
            self.merge.next();
        }
        if let Err(e) = self.merge.status() {
            return self.fail(e);
        }
        self.fold(base.as_deref());
    }

    /// Folds `self.operands` onto `base` into the current value; a failed merge fails
    /// the cursor.
    fn fold(&mut self, base: Option<&[u8]>) {
        let Some(op) = self.merge_op.as_deref() else {
            let e = LsmError::InvalidArgument(
                "the data holds merge operands, but no merge operator is configured".into(),
            );
            return self.fail(e);
        };
        match crate::merge::fold(op, &self.key, base, self.operands.iter().map(Vec::as_slice)) {
            Some(v) => {
                self.value = v;
                self.valid = true;
            }
            None => {
                let e = crate::merge::failed(&self.key);
                self.fail(e);
            }
        }
    }

    /// Walks backward collecting the newest visible entry of the user key before the
    /// cursor; stops once an older user key shows up after a live one.
    fn find_prev(&mut self) {
        self.forward = false;
        self.valid = false;
        self.value_at = None;
        // `live`: the key in `self.key` has a value (in `self.value`, when `operands`
        // is empty) or operands above its value (`has_base` says whether one is under
        // them). Entries of a key come oldest first walking backward.
        let mut live = false;
        let mut has_base = false;
        self.operands.clear();
        while self.merge.valid() {
            let ik = self.merge.key();
            let uk = key::user_key(ik);
            if let Some(l) = &self.lower {
                if uk < l.as_slice() {
                    break;
                }
            }
            let seq = key::seq(ik);
            if seq <= self.snapshot {
                if live && uk < self.key.as_slice() {
                    break;
                }
                if uk != self.key.as_slice() {
                    // A new key (older user keys were not live): nothing carries over.
                    self.operands.clear();
                    has_base = false;
                }
                let mut kind = key::kind(ik);
                let mut value = self.merge.value();
                if kind == Some(ValueKind::PutExpiring) {
                    match self.unexpired(value) {
                        Ok(Some(v)) => {
                            kind = Some(ValueKind::Put);
                            value = v;
                        }
                        // Expired: a deletion of the key.
                        Ok(None) => kind = Some(ValueKind::Delete),
                        Err(e) => return self.fail(e),
                    }
                }
                match kind {
                    Some(ValueKind::Put) if !self.tombstones.covers(uk, seq) => {
                        live = true;
                        has_base = true;
                        self.operands.clear();
                        self.key.clear();
                        self.key.extend_from_slice(uk);
                        self.value.clear();
                        self.value.extend_from_slice(value);
                    }
                    Some(ValueKind::Merge) if !self.tombstones.covers(uk, seq) => {
                        live = true;
                        self.key.clear();
                        self.key.extend_from_slice(uk);
                        // Oldest first here; turned newest first before the fold.
                        self.operands.push(value.to_vec());
                    }
                    Some(ValueKind::Put | ValueKind::Delete | ValueKind::Merge) => {
                        live = false;
                        has_base = false;
                        self.operands.clear();
                        // Remember the key so an older version of it is compared
                        // against the right user key.
                        self.key.clear();
                        self.key.extend_from_slice(uk);
                    }
                    _ => {
                        let e =
                            LsmError::corruption("", 0, "unexpected entry kind in a key stream");
                        return self.fail(e);
                    }
                }
            }
            self.merge.prev();
        }
        if let Err(e) = self.merge.status() {
            return self.fail(e);
        }
        if live && !self.operands.is_empty() {
            // Collected oldest first walking backward; `fold` takes newest first.
            self.operands.reverse();
            let base = has_base.then(|| std::mem::take(&mut self.value));
            return self.fold(base.as_deref());
        }
        self.valid = live;
    }
}

/// An internal key that sorts before every version of `user_key`.
fn before_all_versions(user_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(user_key.len() + key::TRAILER_LEN);
    k.extend_from_slice(user_key);
    k.extend_from_slice(&u64::MAX.to_le_bytes());
    k
}
