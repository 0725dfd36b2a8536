//! `ChangeFeed`: committed batches read back from the WAL segments on disk, the
//! flushed ones `wal.retention` keeps and the live ones.

use super::{ChangeBatch, ChangeOp};
use crate::batch::DecodedBatch;
use crate::db::DbInner;
use crate::error::{LsmError, Result};
use crate::key::SeqNo;
use crate::wal::{self, format::decode_segment_header};
use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::sync::Arc;

/// The committed batches from a sequence number on, oldest first, up to the last
/// one committed when the feed was created (see [`crate::Lsm::changes_since`]).
///
/// Each item is a batch or an error; after an error the feed ends. A segment deleted
/// while the feed reads (history aged out under it) is
/// [`LsmError::ChangesPurged`], and a gap in the sequence numbers is
/// [`LsmError::Corruption`]: the feed never skips a batch silently.
pub struct ChangeFeed {
    db: Arc<DbInner>,
    /// Deliver batches whose last sequence number is at least this.
    since: SeqNo,
    /// The last sequence number committed at creation: nothing after it is read.
    upto: SeqNo,
    /// The next sequence number the feed must see, once it has seen one.
    expect: Option<SeqNo>,
    segments: VecDeque<u64>,
    ready: VecDeque<ChangeBatch>,
    names: HashMap<u32, Arc<str>>,
    done: bool,
}

impl ChangeFeed {
    pub(crate) fn new(db: Arc<DbInner>, since: SeqNo) -> Result<ChangeFeed> {
        Self::open(db, since, true)
    }

    /// The first sequence number the feed can still serve: that of the first batch
    /// in the oldest WAL segment on disk, or the next one to be written when no
    /// segment holds a batch.
    pub(crate) fn oldest(db: &Arc<DbInner>) -> Result<SeqNo> {
        let next = db.visible_seq() + 1;
        match ChangeFeed::open(db.clone(), 1, false)?.next() {
            Some(Ok(b)) => Ok(b.seq),
            Some(Err(e)) => Err(e),
            None => Ok(next),
        }
    }

    fn open(db: Arc<DbInner>, since: SeqNo, check: bool) -> Result<ChangeFeed> {
        db.check_open()?;
        let since = since.max(1);
        let upto = db.visible_seq();
        let segments: VecDeque<u64> = db.wal_segments()?.into();
        let names = db
            .trees()
            .values()
            .map(|t| (t.id, Arc::<str>::from(t.name.as_str())))
            .collect();
        let mut feed = ChangeFeed {
            db,
            since,
            upto,
            expect: None,
            segments,
            ready: VecDeque::new(),
            names,
            done: since > upto,
        };
        if check && !feed.done {
            // Read up to the first batch now, so a history that is gone fails here
            // rather than at the first `next`.
            feed.fill()?;
            let oldest = feed.ready.front().map_or(upto + 1, |b| b.seq);
            if since < oldest {
                return Err(LsmError::ChangesPurged { oldest });
            }
        }
        Ok(feed)
    }

    /// Reads segments until a batch is ready or none is left.
    fn fill(&mut self) -> Result<()> {
        while self.ready.is_empty() {
            let Some(number) = self.segments.pop_front() else {
                self.done = true;
                if let Some(e) = self.expect.filter(|&e| e <= self.upto) {
                    let why = format!(
                        "the change feed ends at sequence {} but {} were committed",
                        e - 1,
                        self.upto
                    );
                    return Err(LsmError::corruption(self.db.paths.wal_dir.clone(), 0, why));
                }
                return Ok(());
            };
            self.read_segment(number)?;
        }
        Ok(())
    }

    fn read_segment(&mut self, number: u64) -> Result<()> {
        let path = self.db.paths.wal_dir.join(wal::segment_file_name(number));
        let data = match self.db.fs.read_all(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // Retention deleted it after the feed listed it.
                let oldest = ChangeFeed::oldest(&self.db)?;
                return Err(LsmError::ChangesPurged { oldest });
            }
            Err(e) => return Err(LsmError::io_at("read", &path, e)),
        };
        let contents = wal::read_log(&data, &path, number);
        let mut records = contents.records.into_iter();
        if let Some((offset, header)) = records.next() {
            if let Err(why) = decode_segment_header(&header) {
                return Err(LsmError::corruption(path, offset, why));
            }
        }
        for (offset, rec) in records {
            let batch = DecodedBatch::parse(&rec)
                .map_err(|why| LsmError::corruption(&path, offset, why))?;
            let ops = batch
                .ops()
                .map_err(|why| LsmError::corruption(&path, offset, why))?;
            if ops.is_empty() {
                continue;
            }
            let first = batch.seq;
            let last = first + ops.len() as u64 - 1;
            if first > self.upto {
                break;
            }
            if let Some(e) = self.expect {
                if first != e {
                    let why = format!("the change feed expected sequence {e} but the next batch starts at {first}");
                    return Err(LsmError::corruption(path, offset, why));
                }
            }
            self.expect = Some(last + 1);
            if last < self.since {
                continue;
            }
            let ops = ops
                .into_iter()
                .zip(first..)
                .map(|((ks, op), seq)| {
                    let name = self
                        .names
                        .get(&ks)
                        .cloned()
                        .unwrap_or_else(|| Arc::from(""));
                    ChangeOp::from_batch_op(seq, ks, name, op)
                })
                .collect();
            self.ready.push_back(ChangeBatch::new(first, last, ops));
        }
        Ok(())
    }
}

impl Iterator for ChangeFeed {
    type Item = Result<ChangeBatch>;

    fn next(&mut self) -> Option<Result<ChangeBatch>> {
        if let Some(b) = self.ready.pop_front() {
            return Some(Ok(b));
        }
        if self.done {
            return None;
        }
        if let Err(e) = self.db.check_open() {
            self.done = true;
            return Some(Err(e));
        }
        match self.fill() {
            Ok(()) => self.ready.pop_front().map(Ok),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
