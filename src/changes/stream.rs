//! `ChangeStream`: a [`Subscription`] as a `futures_core::Stream`, for
//! [`crate::AsyncLsm::subscribe`].
//!
//! Polling never blocks the executor: a batch that is not ready yet leaves the task's
//! waker with the subscription, and the engine wakes it when the next commit group is
//! published (or when the database closes or a write fails).

use super::{ChangeBatch, Subscription};
use crate::error::{LsmError, Result};
use futures_core::Stream;
use std::pin::Pin;
use std::task::{Context, Poll};

/// New changes under a prefix, as a `Stream` of committed batches (see
/// [`crate::AsyncLsm::subscribe`]). It ends when the database closes; after any other
/// error (a failed write) it yields that error once and ends.
pub struct ChangeStream {
    /// `None` once ended.
    sub: Option<Subscription>,
}

impl ChangeStream {
    pub(crate) fn new(sub: Subscription) -> ChangeStream {
        ChangeStream { sub: Some(sub) }
    }
}

impl Stream for ChangeStream {
    type Item = Result<ChangeBatch>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(sub) = &mut this.sub else {
            return Poll::Ready(None);
        };
        match sub.poll_batch(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(b)) => Poll::Ready(Some(Ok(b))),
            Poll::Ready(Err(e)) => {
                this.sub = None;
                match e {
                    LsmError::Closed => Poll::Ready(None),
                    e => Poll::Ready(Some(Err(e))),
                }
            }
        }
    }
}
