//! `Iter`: the double-ended std iterator over a view's `(key, value)` pairs.

use crate::db::DbInner;
use crate::error::{LsmError, Result};
use crate::iter::DbCursor;
use crate::view::View;
use std::sync::Arc;

/// An iterator over `(key, value)` pairs in key order; double-ended. It reads a
/// consistent view fixed when it was created, and yields `Err` once (then ends) on
/// damaged data or after the database was closed.
pub struct Iter {
    view: View,
    front: Option<DbCursor>,
    back: Option<DbCursor>,
    front_key: Option<Vec<u8>>,
    back_key: Option<Vec<u8>>,
    done: bool,
}

impl Iter {
    pub(crate) fn new(
        inner: Arc<DbInner>,
        tree: Option<&crate::db::Tree>,
        at: Option<crate::ttl::ReadPoint>,
        lower: Option<Vec<u8>>,
        upper: Option<Vec<u8>>,
    ) -> Iter {
        let empty = matches!((&lower, &upper), (Some(l), Some(u)) if l >= u);
        Iter {
            view: View::new(inner, tree, at, lower, upper),
            front: None,
            back: None,
            front_key: None,
            back_key: None,
            done: empty,
        }
    }

    fn step(&mut self, forward: bool) -> Option<Result<(Vec<u8>, Vec<u8>)>> {
        if self.done {
            return None;
        }
        // Held for the step, which may read table files: `close` waits for it.
        let Ok(_op) = self.view.inner.enter() else {
            self.done = true;
            return Some(Err(LsmError::Closed));
        };
        let slot = if forward {
            &mut self.front
        } else {
            &mut self.back
        };
        match slot {
            Some(c) if forward => c.next(),
            Some(c) => c.prev(),
            None => {
                let mut c = self.view.cursor();
                if forward {
                    c.seek_to_first();
                } else {
                    c.seek_to_last();
                }
                *slot = Some(c);
            }
        }
        let c = slot.as_ref()?;
        if !c.valid() {
            self.done = true;
            return c.status().err().map(Err);
        }
        let k = c.key();
        // Stop where the two ends meet.
        let crossed = if forward {
            self.back_key.as_deref().is_some_and(|b| k >= b)
        } else {
            self.front_key.as_deref().is_some_and(|f| k <= f)
        };
        if crossed {
            self.done = true;
            return None;
        }
        let item = (k.to_vec(), c.value().to_vec());
        if forward {
            self.front_key = Some(item.0.clone());
        } else {
            self.back_key = Some(item.0.clone());
        }
        Some(Ok(item))
    }
}

impl Iterator for Iter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(true)
    }
}

impl DoubleEndedIterator for Iter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(false)
    }
}
