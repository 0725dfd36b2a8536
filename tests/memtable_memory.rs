//! `memtable.max_bytes` bounds the memory a memtable really takes: this binary counts
//! every heap block the process holds (as the allocator sizes it, header and rounding
//! included) and fills a memtable until the engine switches it. The growth must be
//! close to the budget: not above it (the accounting missed skiplist nodes, towers or
//! allocator rounding, as it once did by a quarter for small entries), and not far
//! below (the accounting would be pessimistic).

// A global allocator needs `unsafe impl`; this test binary is the only place.
#![allow(unsafe_code)]

use lsm::{Config, Lsm};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// The bytes a block really takes: what `malloc_usable_size` reports plus glibc's
/// 8-byte chunk header.
fn taken(p: *mut u8) -> isize {
    // SAFETY: `p` is a live block returned by the system allocator (glibc malloc).
    (unsafe { libc::malloc_usable_size(p.cast()) } + 8) as isize
}

// SAFETY: every call is forwarded to `System`, which upholds the GlobalAlloc contract;
// the counter only observes the blocks.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(taken(p), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(taken(p), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        LIVE.fetch_sub(taken(p), Ordering::Relaxed);
        // SAFETY: `p` came from `System` with this layout.
        unsafe { System.dealloc(p, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const BUDGET: usize = 4 << 20;

/// Fills a fresh database's memtable with entries of `value_len`-byte values until it
/// is switched; returns the heap growth seen just before that, in bytes.
fn fill(value_len: usize) -> isize {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Config::with_root(dir.path().join("db"));
    c.memtable.max_bytes = BUDGET;
    c.memtable.max_entries = 100_000_000;
    c.cache.key_cache_entries = 0;
    c.cache.persist_on_close = false;
    let db = Lsm::open_with_config(c).unwrap();
    let value = vec![b'v'; value_len];
    // The memtable's filter and head exist from the open on: only entries grow it.
    db.stats();
    let base = live();
    let mut peak = 0;
    for i in 0u64.. {
        db.put(format!("key{i:012}").as_bytes(), &value).unwrap();
        let s = db.stats();
        if s.immutable_memtables > 0 || s.flushes > 0 {
            break;
        }
        drop(s);
        if i % 64 == 0 {
            peak = peak.max(live() - base);
        }
    }
    db.close().unwrap();
    peak
}

#[test]
fn a_full_memtable_takes_about_memtable_max_bytes_of_memory() {
    for value_len in [0, 16, 100, 1000] {
        let grown = fill(value_len);
        let ratio = grown as f64 / BUDGET as f64;
        assert!(
            (0.85..=1.02).contains(&ratio),
            "{value_len}-byte values: the memtable grew the heap by {grown} bytes, \
             {ratio:.3} of its {BUDGET}-byte budget"
        );
    }
}
