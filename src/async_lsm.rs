//! `AsyncLsm`: the same operations as [`Lsm`], as `async fn`s.
//!
//! Each call runs on the engine's own runtime (its blocking pool), so a call that waits
//! for the disk never blocks the caller's executor threads; the returned futures can be
//! awaited from any executor.

use crate::batch::WriteBatch;
use crate::changes::ChangeStream;
use crate::config::Config;
use crate::error::{LsmError, Result};
use crate::lsm::{Lsm, WriteOptions};
use crate::report::VerifyReport;
use crate::stats::Stats;
use std::path::PathBuf;

/// An open database with an async API. Cheap to clone; clones share one engine.
///
/// ```
/// # fn main() -> lsm::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let db = lsm::AsyncLsm::open(lsm::Config::with_root(dir.path().join("db"))).await?;
/// db.put(b"k", b"v").await?;
/// assert_eq!(db.get(b"k").await?, Some(b"v".to_vec()));
/// db.close().await
/// # })
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncLsm {
    db: Lsm,
}

impl AsyncLsm {
    /// Opens (or creates) the database `config` describes. The open itself (lock,
    /// manifest, WAL replay) runs on a thread of its own.
    pub async fn open(config: Config) -> Result<AsyncLsm> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("lsm-open".into())
            .spawn(move || {
                let _ = tx.send(Lsm::open_with_config(config));
            })
            .map_err(|e| LsmError::io("start the open thread", e))?;
        let db = rx.await.map_err(|_| {
            LsmError::io("open", std::io::Error::other("the open thread ended early"))
        })??;
        Ok(AsyncLsm { db })
    }

    /// Wraps an open database.
    pub fn from_lsm(db: Lsm) -> AsyncLsm {
        AsyncLsm { db }
    }

    /// The synchronous handle to the same engine.
    pub fn blocking(&self) -> &Lsm {
        &self.db
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Lsm) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.db.clone();
        self.db.runtime().run_blocking(move || f(&db)).await
    }

    /// See [`Lsm::put`].
    pub async fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let (k, v) = (key.to_vec(), value.to_vec());
        self.run(move |db| db.put(&k, &v)).await
    }

    /// See [`Lsm::get`].
    pub async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let k = key.to_vec();
        self.run(move |db| db.get(&k)).await
    }

    /// See [`Lsm::multi_get`].
    pub async fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        let keys: Vec<Vec<u8>> = keys.iter().map(|k| k.as_ref().to_vec()).collect();
        self.run(move |db| db.multi_get(&keys)).await
    }

    /// See [`Lsm::delete`].
    pub async fn delete(&self, key: &[u8]) -> Result<()> {
        let k = key.to_vec();
        self.run(move |db| db.delete(&k)).await
    }

    /// See [`Lsm::delete_range`].
    pub async fn delete_range(&self, start: &[u8], end: &[u8]) -> Result<()> {
        let (s, e) = (start.to_vec(), end.to_vec());
        self.run(move |db| db.delete_range(&s, &e)).await
    }

    /// See [`Lsm::write`].
    pub async fn write(&self, batch: WriteBatch) -> Result<()> {
        self.run(move |db| db.write(batch)).await
    }

    /// See [`Lsm::write_opt`].
    pub async fn write_opt(&self, batch: WriteBatch, opts: WriteOptions) -> Result<()> {
        self.run(move |db| db.write_opt(batch, opts)).await
    }

    /// The keys and values in `[start, end)` (`None`: unbounded), at most `limit`.
    pub async fn scan(
        &self,
        start: Option<Vec<u8>>,
        end: Option<Vec<u8>>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.run(move |db| {
            use std::ops::Bound;
            let lo = start.map_or(Bound::Unbounded, Bound::Included);
            let hi = end.map_or(Bound::Unbounded, Bound::Excluded);
            db.range::<Vec<u8>, _>((lo, hi)).take(limit).collect()
        })
        .await
    }

    /// See [`Lsm::sync`].
    pub async fn sync(&self) -> Result<()> {
        self.run(|db| db.sync()).await
    }

    /// See [`Lsm::flush`].
    pub async fn flush(&self) -> Result<()> {
        self.run(|db| db.flush()).await
    }

    /// See [`Lsm::compact`].
    pub async fn compact(&self) -> Result<()> {
        self.run(|db| db.compact()).await
    }

    /// See [`Lsm::checkpoint`].
    pub async fn checkpoint(&self, dir: impl Into<PathBuf>) -> Result<()> {
        let dir = dir.into();
        self.run(move |db| db.checkpoint(&dir)).await
    }

    /// See [`Lsm::verify`].
    pub async fn verify(&self) -> Result<VerifyReport> {
        self.run(|db| db.verify()).await
    }

    /// See [`Lsm::subscribe`]: the changes under `prefix` committed from now on, as a
    /// `futures_core::Stream` of batches. Waiting for the next batch holds no thread:
    /// the stream's task is woken when one is published. It ends when the database
    /// closes.
    ///
    /// ```
    /// # fn main() -> lsm::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// # rt.block_on(async {
    /// use std::future::poll_fn;
    /// use std::pin::Pin;
    /// use futures_core::Stream;
    /// let db = lsm::AsyncLsm::open(lsm::Config::with_root(dir.path().join("db"))).await?;
    /// let mut changes = db.subscribe(b"user:").await?;
    /// db.put(b"other", b"-").await?;
    /// db.put(b"user:1", b"ada").await?;
    /// let batch = poll_fn(|cx| Pin::new(&mut changes).poll_next(cx)).await.unwrap()?;
    /// assert_eq!(batch.ops()[0].key(), b"user:1");
    /// db.close().await
    /// # })
    /// # }
    /// ```
    pub async fn subscribe(&self, prefix: &[u8]) -> Result<ChangeStream> {
        let p = prefix.to_vec();
        // Registering waits for the commit groups in flight to be published.
        let sub = self.run(move |db| db.subscribe(&p)).await?;
        Ok(ChangeStream::new(sub))
    }

    /// See [`Lsm::stats`] (memory only: no need to leave the caller's thread).
    pub fn stats(&self) -> Stats {
        self.db.stats()
    }

    /// See [`Lsm::close`]. Runs on a thread of its own, since closing stops the
    /// runtime the other calls use.
    pub async fn close(&self) -> Result<()> {
        let db = self.db.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("lsm-close".into())
            .spawn(move || {
                let _ = tx.send(db.close());
            })
            .map_err(|e| LsmError::io("start the close thread", e))?;
        rx.await.map_err(|_| {
            LsmError::io(
                "close",
                std::io::Error::other("the close thread ended early"),
            )
        })?
    }
}
