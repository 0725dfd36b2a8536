//! The table cache: open table readers by file number, at most
//! `cache.max_open_files` of them, the least recently used closed first.
//!
//! Contract:
//! - [`TableCache::get`] opens a table on demand (footer and range tombstones
//!   checked, the index and filter too when pinned, see [`SSTable::open_cached`]) and
//!   caches the reader. Its errors are the open's: `Io` or `Corruption`, naming the
//!   file.
//! - "Open" counts every reader alive, not only those in the map: a reader handed out
//!   (held by a get, an iterator or a compaction) is never dropped from the map, only
//!   idle ones are. So the open files are at most `max(capacity, readers in use)`,
//!   plus the opens in progress; when every reader is busy the map overflows until the
//!   next miss finds idle ones to close.
//! - Concurrent misses of one table open it once: the others wait for that open.
//! - Whether a table keeps its index and filter pinned is decided when it is opened,
//!   from the level its caller names (level 0 pins when `pin_l0` says so). A table
//!   moved to a level that pins differently is forgotten (its reader closes when its
//!   holders let go) and reopened by the next lookup: a sequential load moves every
//!   table down from level 0 without rewriting it, and the pins would otherwise
//!   follow it to every level, outside any budget.
//!   (A move applied while that table's open is under way leaves the open's choice
//!   in place until the reader is closed.)
//! - After [`TableCache::close`] nothing is opened any more (`Closed`), so a closed
//!   database touches no file through its tables. `close` waits for opens already
//!   under way, then drops every cached reader (readers in use stay alive with their
//!   holders).
//!
//! Thread safety: one mutex over the map, held for lookups and bookkeeping only,
//! never while a file is opened or read (nor while a reader is dropped).

use super::BlockCache;
use crate::error::{LsmError, Result};
use crate::filename;
use crate::fs::FileSystem;
use crate::sstable::SSTable;
use parking_lot::{Condvar, Mutex};
use quick_cache::DefaultHashBuilder;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

enum Slot {
    /// An open reader and when it was last handed out.
    Open { table: Arc<SSTable>, used: u64 },
    /// Being opened by one caller; others wait on `opened`.
    Opening,
}

#[derive(Default)]
struct State {
    /// Hashed with quick_cache's fast hasher: file numbers are not adversarial.
    slots: HashMap<u64, Slot, DefaultHashBuilder>,
    /// A logical clock for least-recently-used order.
    tick: u64,
    closed: bool,
    /// Counted under the lock the lookup holds anyway (no shared atomic to bump).
    hits: u64,
    misses: u64,
}

/// An open under way: when dropped (the open returned, failed or panicked) it turns
/// the `Opening` slot into the reader, or removes it, and wakes the waiters.
struct Opening<'a> {
    cache: &'a TableCache,
    number: u64,
    table: Option<Arc<SSTable>>,
}

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        let mut st = self.cache.state.lock();
        match self.table.take() {
            Some(table) => {
                st.tick += 1;
                let used = st.tick;
                st.slots.insert(self.number, Slot::Open { table, used });
            }
            None => {
                st.slots.remove(&self.number);
            }
        }
        drop(st);
        self.cache.opened.notify_all();
    }
}

/// Open tables of one database, keyed by file number.
pub struct TableCache {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    block_cache: Option<Arc<BlockCache>>,
    pin_l0: bool,
    capacity: usize,
    state: Mutex<State>,
    /// Signalled when an open finishes (or fails).
    opened: Condvar,
}

impl TableCache {
    /// Tables of `dir` on `fs`, at most `capacity` open (`None`: unlimited), their
    /// blocks cached in `block_cache`; level-0 tables pin their index and filter when
    /// `pin_l0`.
    pub fn new(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        block_cache: Option<Arc<BlockCache>>,
        capacity: Option<usize>,
        pin_l0: bool,
    ) -> TableCache {
        TableCache {
            fs,
            dir: dir.to_path_buf(),
            block_cache,
            pin_l0,
            capacity: capacity.unwrap_or(usize::MAX).max(1),
            state: Mutex::new(State::default()),
            opened: Condvar::new(),
        }
    }

    /// The file system the tables live on.
    pub fn fs(&self) -> &Arc<dyn FileSystem> {
        &self.fs
    }

    /// The path of table `number`.
    pub fn path(&self, number: u64) -> PathBuf {
        filename::table(&self.dir, number)
    }

    /// The reader of table `number` (which lives in `level`), opened if needed.
    pub fn get(&self, number: u64, level: usize) -> Result<Arc<SSTable>> {
        let mut st = self.state.lock();
        loop {
            st.tick += 1;
            let tick = st.tick;
            match st.slots.get_mut(&number) {
                Some(Slot::Open { table, used }) => {
                    *used = tick;
                    let t = table.clone();
                    st.hits += 1;
                    return Ok(t);
                }
                Some(Slot::Opening) => self.opened.wait(&mut st),
                None => break,
            }
        }
        if st.closed {
            return Err(LsmError::Closed);
        }
        let evicted = self.make_room(&mut st);
        st.slots.insert(number, Slot::Opening);
        st.misses += 1;
        drop(st);
        drop(evicted);

        let mut opening = Opening {
            cache: self,
            number,
            table: None,
        };
        let pin = self.pins(level);
        let table = SSTable::open_cached(
            self.fs.as_ref(),
            &self.path(number),
            number,
            self.block_cache.clone(),
            pin,
        )?;
        opening.table = Some(table.clone());
        Ok(table)
    }

    /// Whether a table opened for `level` keeps its index and filter pinned.
    pub fn pins(&self, level: usize) -> bool {
        self.block_cache.is_none() || (self.pin_l0 && level == 0)
    }

    /// Bytes of index and filter partitions the open readers hold pinned (outside
    /// the block cache).
    pub fn pinned_bytes(&self) -> u64 {
        let st = self.state.lock();
        st.slots
            .values()
            .map(|s| match s {
                Slot::Open { table, .. } => table.pinned_bytes(),
                Slot::Opening => 0,
            })
            .sum()
    }

    /// Opens a table just written (by a flush or a compaction, for `level`): checks
    /// it whole (footer, every index and filter partition) and keeps it for the reads
    /// to come.
    pub fn open_new(&self, number: u64, level: usize) -> Result<()> {
        self.get(number, level)?.load_meta()
    }

    /// Takes idle readers out of the map, least recently used first, until there is
    /// room for one more slot; returns them to be dropped outside the lock.
    fn make_room(&self, st: &mut State) -> Vec<Arc<SSTable>> {
        let mut out = Vec::new();
        while st.slots.len() >= self.capacity {
            // Only the map holds an idle reader, and a new holder can only get it
            // through the map, under this lock: the count cannot rise meanwhile.
            let victim = st
                .slots
                .iter()
                .filter_map(|(n, s)| match s {
                    Slot::Open { table, used } if Arc::strong_count(table) == 1 => {
                        Some((*used, *n))
                    }
                    _ => None,
                })
                .min();
            let Some((_, n)) = victim else { break };
            if let Some(Slot::Open { table, .. }) = st.slots.remove(&n) {
                out.push(table);
            }
        }
        out
    }

    /// Forgets table `number` (deleted, or moved to a level that pins differently):
    /// its reader closes once its last holder lets go, and the next lookup opens it
    /// afresh.
    pub fn evict(&self, number: u64) {
        let mut st = self.state.lock();
        let gone = match st.slots.get(&number) {
            Some(Slot::Open { .. }) => st.slots.remove(&number),
            _ => None,
        };
        drop(st);
        drop(gone);
    }

    /// Refuses every later open, waits for those under way and closes every cached
    /// reader. Idempotent.
    pub fn close(&self) {
        let mut st = self.state.lock();
        st.closed = true;
        while st.slots.values().any(|s| matches!(s, Slot::Opening)) {
            self.opened.wait(&mut st);
        }
        let all: Vec<Slot> = st.slots.drain().map(|(_, s)| s).collect();
        drop(st);
        drop(all);
    }

    /// Readers open now (in the map; readers in use are never taken out of it).
    pub fn open_tables(&self) -> u64 {
        let st = self.state.lock();
        st.slots
            .values()
            .filter(|s| matches!(s, Slot::Open { .. }))
            .count() as u64
    }

    /// Lookups answered by an open reader.
    pub fn hits(&self) -> u64 {
        self.state.lock().hits
    }

    /// Lookups that opened the file.
    pub fn misses(&self) -> u64 {
        self.state.lock().misses
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;
    use crate::sstable::{TableBuilder, TableOptions};

    fn write_tables(fs: &Arc<MemFs>, n: u64) {
        fs.create_dir_all(Path::new("t")).unwrap();
        for number in 1..=n {
            let path = filename::table(Path::new("t"), number);
            let mut b = TableBuilder::new(
                fs.create(&path).unwrap(),
                path.clone(),
                TableOptions::default(),
            );
            b.add(
                &crate::key::encode(b"k", 1, crate::key::ValueKind::Put),
                b"v",
            )
            .unwrap();
            b.finish().unwrap();
        }
    }

    fn cache(fs: &Arc<MemFs>, cap: usize) -> TableCache {
        TableCache::new(fs.clone(), Path::new("t"), None, Some(cap), true)
    }

    #[test]
    fn closes_the_least_recently_used_idle_table() {
        let fs = Arc::new(MemFs::new());
        write_tables(&fs, 4);
        let c = cache(&fs, 2);
        c.get(1, 1).unwrap();
        c.get(2, 1).unwrap();
        c.get(1, 1).unwrap(); // 2 is now the least recently used
        c.get(3, 1).unwrap();
        assert_eq!(c.open_tables(), 2);
        assert_eq!((c.hits(), c.misses()), (1, 3));
        c.get(1, 1).unwrap();
        assert_eq!(c.misses(), 3, "1 stayed open");
        c.get(2, 1).unwrap();
        assert_eq!(c.misses(), 4, "2 was closed");
    }

    #[test]
    fn a_table_in_use_stays_open_and_counted() {
        let fs = Arc::new(MemFs::new());
        write_tables(&fs, 4);
        let c = cache(&fs, 2);
        let held: Vec<_> = (1..=3).map(|n| c.get(n, 1).unwrap()).collect();
        assert_eq!(c.open_tables(), 3, "all three in use: none could be closed");
        drop(held);
        c.get(4, 1).unwrap();
        assert_eq!(c.open_tables(), 2, "the idle ones made room");
    }

    #[test]
    fn errors_name_the_file_and_nothing_opens_after_close() {
        let fs = Arc::new(MemFs::new());
        write_tables(&fs, 1);
        let c = cache(&fs, 2);
        let e = c.get(9, 1).unwrap_err();
        assert!(e.to_string().contains("000009.sst"), "{e}");
        c.get(1, 1).unwrap();
        c.close();
        assert_eq!(c.open_tables(), 0);
        assert!(matches!(c.get(1, 1), Err(LsmError::Closed)));
    }

    #[test]
    fn concurrent_readers_get_their_table_and_stay_within_the_bound() {
        let fs = Arc::new(MemFs::new());
        write_tables(&fs, 40);
        let c = Arc::new(cache(&fs, 5));
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    let mut most = 0;
                    for i in 0..2000u64 {
                        let n = (i * 7 + t * 13) % 40 + 1;
                        let table = c.get(n, 1).unwrap();
                        assert_eq!(table.file_number(), n);
                        // Each thread holds at most one reader: 5 cached + 4 in use.
                        most = most.max(c.open_tables());
                    }
                    most
                })
            })
            .collect();
        for t in threads {
            let most = t.join().unwrap();
            assert!(most <= 5 + 4, "{most} open");
        }
        assert!(c.open_tables() <= 5);
        assert_eq!(c.hits() + c.misses(), 8000);
    }

    #[test]
    fn level0_tables_pin_their_index_and_filter_and_others_use_the_block_cache() {
        let fs = Arc::new(MemFs::new());
        write_tables(&fs, 3);
        let bc = Arc::new(BlockCache::new(1 << 20));
        let c = TableCache::new(fs.clone(), Path::new("t"), Some(bc.clone()), None, true);
        c.get(1, 0).unwrap();
        assert_eq!(
            (bc.index_bytes(), bc.filter_bytes()),
            (0, 0),
            "level 0 pins"
        );
        let t = c.get(2, 1).unwrap();
        assert_eq!(bc.index_bytes(), 0, "loaded at first use, not at open");
        assert!(t.get(b"k", 1, crate::key::hash(b"k")).unwrap().is_some());
        let (index, filter) = (bc.index_bytes(), bc.filter_bytes());
        assert!(
            index > 0 && filter > 0,
            "a deeper level's go to the block cache"
        );
        assert!(bc.used_bytes() >= index + filter);
        // Later reads find them there.
        assert!(t.get(b"k", 1, crate::key::hash(b"k")).unwrap().is_some());
        assert_eq!((bc.index_bytes(), bc.filter_bytes()), (index, filter));

        let unpinned = TableCache::new(fs, Path::new("t"), Some(bc.clone()), None, false);
        unpinned.open_new(3, 0).unwrap();
        assert_eq!(
            bc.index_bytes(),
            index,
            "a new table is checked, but its partitions are cached only when read"
        );
        let t = unpinned.get(3, 0).unwrap();
        assert!(t.get(b"k", 1, crate::key::hash(b"k")).unwrap().is_some());
        assert!(
            bc.index_bytes() > index,
            "without pinning level 0 is cached too"
        );
    }
}
