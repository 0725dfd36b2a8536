//! `RawIterator`: a cursor over a view, positioned explicitly (the C API and the
//! bindings build on it).

use crate::db::DbInner;
use crate::error::Result;
use crate::iter::DbCursor;
use crate::view::View;
use std::sync::Arc;

/// A cursor over a consistent view, positioned explicitly: seek, then step either way.
/// After the database is closed it is invalid and `status` is `Closed`.
pub struct RawIterator {
    view: View,
    cursor: DbCursor,
}

impl RawIterator {
    pub(crate) fn new(
        inner: Arc<DbInner>,
        tree: Option<&crate::db::Tree>,
        at: Option<crate::ttl::ReadPoint>,
        lower: Option<Vec<u8>>,
        upper: Option<Vec<u8>>,
    ) -> RawIterator {
        let view = View::new(inner, tree, at, lower, upper);
        let cursor = view.cursor();
        RawIterator { view, cursor }
    }

    /// True when positioned on an entry (and the database is open).
    pub fn valid(&self) -> bool {
        !self.view.inner.is_closed() && self.cursor.valid()
    }

    /// Positions on the first key.
    pub fn seek_to_first(&mut self) {
        // Held for the move, which may read table files: `close` waits for it.
        if let Ok(_op) = self.view.inner.enter() {
            self.cursor.seek_to_first();
        }
    }

    /// Positions on the last key.
    pub fn seek_to_last(&mut self) {
        // Held for the move, which may read table files: `close` waits for it.
        if let Ok(_op) = self.view.inner.enter() {
            self.cursor.seek_to_last();
        }
    }

    /// Positions on the first key `>= key`.
    pub fn seek(&mut self, key: &[u8]) {
        // Held for the move, which may read table files: `close` waits for it.
        if let Ok(_op) = self.view.inner.enter() {
            self.cursor.seek(key);
        }
    }

    /// Positions on the last key `<= key`.
    pub fn seek_for_prev(&mut self, key: &[u8]) {
        // Held for the move, which may read table files: `close` waits for it.
        if let Ok(_op) = self.view.inner.enter() {
            self.cursor.seek_for_prev(key);
        }
    }

    /// Moves to the next key; does nothing when not valid.
    pub fn next(&mut self) {
        if let Ok(_op) = self.view.inner.enter() {
            if self.cursor.valid() {
                self.cursor.next();
            }
        }
    }

    /// Moves to the previous key; does nothing when not valid.
    pub fn prev(&mut self) {
        if let Ok(_op) = self.view.inner.enter() {
            if self.cursor.valid() {
                self.cursor.prev();
            }
        }
    }

    /// The current key (empty when not valid). Valid until the cursor moves.
    pub fn key(&self) -> &[u8] {
        if self.valid() {
            self.cursor.key()
        } else {
            &[]
        }
    }

    /// The current value (empty when not valid). Valid until the cursor moves.
    pub fn value(&self) -> &[u8] {
        if self.valid() {
            self.cursor.value()
        } else {
            &[]
        }
    }

    /// `Closed` after the database was closed; the first error met otherwise.
    pub fn status(&self) -> Result<()> {
        self.view.inner.check_open()?;
        self.cursor.status()
    }
}
