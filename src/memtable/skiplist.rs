//! `SkipList`: the memtable's ordered map of internal keys to values, after RocksDB's
//! `InlineSkipList`: every node (its tower of next-pointers, its key and its value) is
//! one bump allocation in an arena owned by the list, so an insert costs no `malloc`
//! and a memtable's memory is freed in a few large blocks when it drops.
//!
//! Concurrency protocol. Links change only under the arena's mutex, and only by
//! adding nodes. An insert searches for its place without the lock, as a reader does
//! (the search, a cache miss per level on a large list, is nearly all of its cost), then
//! takes the lock and walks on from each level's predecessor past whatever other
//! writers linked there meanwhile: a node before the key stays before it, so the walk
//! finds the current predecessor. Writers insert from several threads at once (each
//! its own group, after the WAL lock) and serialize only for the splice. A key that
//! sorts right after the last one inserted skips the search: the list keeps that
//! insert's splice under the mutex and walks on from it (ascending fills cost a
//! compare per level, not a search).
//! Readers take no lock. A writer fills a node completely, its whole tower included,
//! before it links it, and links it with `Release` stores, bottom level first; readers
//! follow links with `Acquire` loads. So a reader that reaches a node sees all of it,
//! and the list it sees at each level is sorted at every moment. Nodes are never
//! unlinked or freed before the list itself drops, which needs `&mut` (no reader
//! left): a pointer a reader loaded stays valid for as long as it borrows the list.
//!
//! Node layout, in the arena, 8-aligned:
//!
//! ```text
//! key_len: u32 | value_len: u32 | height: u32 | pad: u32
//! | next: AtomicPtr{height} | key bytes | value bytes
//! ```
//!
//! This module holds all of the memtable's `unsafe`; each block says why it is sound.
//! The publication protocol is model-checked with loom (`--cfg lsm_loom`, see the
//! `loom_tests` module and `scripts/test.sh`).

#[cfg(lsm_loom)]
use loom::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
#[cfg(not(lsm_loom))]
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

#[cfg(not(lsm_loom))]
use parking_lot::Mutex;
use smallvec::SmallVec;
use std::cmp::Ordering as CmpOrdering;
use std::ptr;
use std::sync::Arc;

/// Under loom, the arena's mutex is loom's, so that loom schedules the writers that
/// contend for it.
#[cfg(lsm_loom)]
struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(lsm_loom)]
impl<T> Mutex<T> {
    fn new(t: T) -> Self {
        Mutex(loom::sync::Mutex::new(t))
    }

    fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0.lock().unwrap()
    }
}

/// The tallest tower. With a branching factor of 4 a list of 4^16 entries still
/// searches in about 16 * 4 / 2 steps; a 64 MiB memtable holds well under that.
const MAX_HEIGHT: usize = 24;
/// One node in this many is promoted to the next level.
const BRANCHING: u32 = 2;
/// The header before the tower (16 bytes; more under loom, see [`Node`]).
const HEADER: usize = (std::mem::size_of::<Node>() + 7) & !7;
/// The first arena block; each next one is twice as large, up to the list's largest
/// block size, so a memtable that holds a few entries holds a few KiB, not a megabyte.
const FIRST_BLOCK: usize = 4 << 10;

#[repr(C)]
struct Node {
    key_len: u32,
    value_len: u32,
    height: u32,
    _pad: u32,
    /// Under loom only: a cell written with the node and read wherever a reader reads
    /// it, so loom reports a race if a node could be reached before its contents are
    /// visible (the plain bytes of the arena are invisible to loom).
    #[cfg(lsm_loom)]
    written: loom::cell::UnsafeCell<u32>,
}

/// Bytes a node of `height` with a key of `k` and a value of `v` bytes takes, rounded
/// up to the arena's alignment of 8.
fn node_size(height: usize, k: usize, v: usize) -> usize {
    (HEADER + height * std::mem::size_of::<AtomicPtr<Node>>() + k + v + 7) & !7
}

/// The size of a huge page, and of the arena blocks that ask for one.
const HUGE_PAGE: usize = 2 << 20;

/// One arena block, 8-aligned, freed (or kept as a spare) when it drops. Its bytes
/// are uninitialised as far as the list is concerned: a node is written whole before
/// anything reads it.
///
/// A block of [`HUGE_PAGE`] bytes is mapped on its own, aligned to 2 MiB and marked
/// `MADV_HUGEPAGE` (Linux), so the kernel backs it with one huge page where it can.
/// The search of a large memtable is a chain of dependent loads from random nodes:
/// with 4 KiB pages nearly each of them also misses the TLB (64 MiB of nodes is 16,384
/// pages; the TLB covers a few thousand), and under virtualisation a page walk is
/// itself several cache misses. With 2 MiB pages the whole memtable fits in the TLB.
/// (The measurement is in benches/peers/NOTES.md.) Other sizes, other systems, and a
/// failed mapping use the heap.
///
/// A mapped block of a list that drops goes to its [`Spares`] while other lists live,
/// and the next list takes it from there: a fresh mapping costs a page fault that
/// zeroes 2 MiB (9% of a sequential fill on this virtual machine, where the host
/// also faults the page in), and with `defrag = madvise` a fault can stall on the
/// kernel's compaction when no huge page is free.
enum Block {
    Heap(#[allow(dead_code)] Box<[u64]>),
    #[cfg(target_os = "linux")]
    /// A mapping of [`HUGE_PAGE`] bytes at `base`.
    Mapped {
        base: *mut libc::c_void,
        spares: &'static Spares,
    },
}

/// Mapped huge-page blocks that dropped lists left behind, for the next list
/// (Linux). At most [`MAX_SPARES`] are kept, and only while some list of the same
/// `Spares` lives: when the last one drops, every spare is unmapped, so a process
/// that closed its databases holds none. Kept blocks never add to the memory the
/// memtables had at their peak: each was part of a list until it dropped, and the
/// lists still alive take from the spares before mapping more.
pub(crate) struct Spares {
    inner: std::sync::Mutex<SpareState>,
}

struct SpareState {
    /// Start addresses of kept blocks, each a mapping of [`HUGE_PAGE`] bytes.
    blocks: Vec<usize>,
    /// Lists (arenas) alive that take from these spares.
    lists: usize,
}

/// At most this many spare blocks (64 MiB): one memtable of the default size, half
/// of the smallest memtable budget whose blocks are huge pages.
const MAX_SPARES: usize = 32;

/// The spares every memtable shares.
static SPARES: Spares = Spares::new();

impl Spares {
    const fn new() -> Spares {
        Spares {
            inner: std::sync::Mutex::new(SpareState {
                blocks: Vec::new(),
                lists: 0,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SpareState> {
        // The state is two plain values, consistent at every unlock: a panic elsewhere
        // while it was held leaves nothing half done.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A kept block's start, if any.
    #[cfg(target_os = "linux")]
    fn take(&self) -> Option<usize> {
        self.state().blocks.pop()
    }

    /// Keeps the block at `base` (a mapping of [`HUGE_PAGE`] bytes that no one uses
    /// any more), or unmaps it when there are enough or no list is left to use it.
    #[cfg(target_os = "linux")]
    fn give(&self, base: usize) {
        let mut st = self.state();
        if st.lists > 0 && st.blocks.len() < MAX_SPARES {
            st.blocks.push(base);
            return;
        }
        drop(st);
        unmap(base);
    }

    fn list_opened(&self) {
        self.state().lists += 1;
    }

    /// Called by a list's arena after its blocks dropped: the last list gone unmaps
    /// every spare.
    fn list_closed(&self) {
        let mut st = self.state();
        st.lists -= 1;
        let left = if st.lists == 0 {
            std::mem::take(&mut st.blocks)
        } else {
            Vec::new()
        };
        drop(st);
        #[cfg(target_os = "linux")]
        for base in left {
            unmap(base);
        }
        #[cfg(not(target_os = "linux"))]
        drop(left);
    }

    /// Blocks kept now.
    #[cfg(test)]
    fn kept(&self) -> Vec<usize> {
        self.state().blocks.clone()
    }
}

/// Unmaps a block of [`HUGE_PAGE`] bytes at `base` that nothing references.
#[cfg(target_os = "linux")]
fn unmap(base: usize) {
    // SAFETY: `base..base + HUGE_PAGE` is a mapping `Block::mapped` made; its block
    // (and with it every pointer the list handed out into it) is gone, and a spare
    // address is held by the spares alone.
    unsafe { libc::munmap(base as *mut libc::c_void, HUGE_PAGE) };
}

// SAFETY: a `Block` owns its memory exclusively (the arena hands out pointers into
// it, governed by the list's protocol); the raw pointer is only used to unmap it.
unsafe impl Send for Block {}

impl Block {
    /// A block of `bytes` (a multiple of 8) and a pointer to its start: a spare when
    /// `spares` has one of that size, else a new one (zeroed, but callers may not
    /// count on it).
    fn new(bytes: usize, spares: &'static Spares) -> (Block, *mut u8) {
        #[cfg(target_os = "linux")]
        if bytes == HUGE_PAGE {
            if let Some(base) = spares.take() {
                let block = Block::Mapped {
                    base: base as *mut libc::c_void,
                    spares,
                };
                return (block, base as *mut u8);
            }
            if let Some(b) = Self::mapped(spares) {
                return b;
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = spares;
        let mut b: Box<[u64]> = vec![0u64; bytes / 8].into_boxed_slice();
        let start = b.as_mut_ptr() as *mut u8;
        (Block::Heap(b), start)
    }

    /// A 2 MiB-aligned anonymous mapping of [`HUGE_PAGE`] bytes (zeroed by the
    /// kernel), with the huge-page advice; `None` when the kernel refuses the mapping.
    #[cfg(target_os = "linux")]
    fn mapped(spares: &'static Spares) -> Option<(Block, *mut u8)> {
        let len = 2 * HUGE_PAGE;
        // SAFETY: an anonymous private mapping at an address the kernel picks touches
        // no existing memory; the result is checked against MAP_FAILED.
        let raw = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return None;
        }
        // Keep the 2 MiB-aligned 2 MiB inside the 4 MiB mapped, and give back the rest.
        let start = raw as usize;
        let aligned = (start + HUGE_PAGE - 1) & !(HUGE_PAGE - 1);
        let head = aligned - start;
        let tail = len - head - HUGE_PAGE;
        // SAFETY: `[start, start + head)` and `[aligned + HUGE_PAGE, start + len)` lie
        // inside the mapping just made, which nothing else references yet; a failed
        // unmap of either only leaves address space mapped until the process exits.
        unsafe {
            if head > 0 {
                libc::munmap(raw, head);
            }
            if tail > 0 {
                libc::munmap((aligned + HUGE_PAGE) as *mut libc::c_void, tail);
            }
            // Advice only: without it, or if the kernel has no huge page to give, the
            // block works the same on 4 KiB pages.
            libc::madvise(aligned as *mut libc::c_void, HUGE_PAGE, libc::MADV_HUGEPAGE);
        }
        let base = aligned as *mut libc::c_void;
        Some((Block::Mapped { base, spares }, aligned as *mut u8))
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // The list drops its blocks only when no reader is left (its `drop` has
        // `&mut self`, and pinned values hold the list alive): the block is unused
        // from here on, to keep as a spare or to unmap.
        #[cfg(target_os = "linux")]
        if let Block::Mapped { base, spares } = *self {
            spares.give(base as usize);
        }
    }
}

/// The bump allocator: blocks that are never freed while the list lives.
struct Arena {
    /// Every block, to free at drop.
    blocks: Vec<Block>,
    /// Where mapped blocks come from and go back to.
    spares: &'static Spares,
    /// The free part of the last block: `[next, end)`.
    next: *mut u8,
    end: *mut u8,
    /// The size of the next block.
    block: usize,
    /// The largest block size.
    max_block: usize,
    /// The writer's random state for tower heights.
    rng: u64,
    /// Where the last insert went: at each level, the last node at or before the key
    /// inserted last (that node itself on the levels of its tower, the head where
    /// nothing is). A key that sorts right after that key splices there without a
    /// search (see [`SkipList::insert`]). Written only under the mutex, with every
    /// splice, so it never names a node that is not linked at its level.
    splice: [*const Node; MAX_HEIGHT],
}

impl Drop for Arena {
    fn drop(&mut self) {
        // The blocks first, while this list still counts: they may stay as spares.
        self.blocks.clear();
        self.spares.list_closed();
    }
}

impl Arena {
    /// `size` bytes (a multiple of 8), 8-aligned, uninitialised.
    fn alloc(&mut self, size: usize, allocated: &AtomicUsize) -> *mut u8 {
        debug_assert_eq!(size % 8, 0);
        let left = self.end as usize - self.next as usize;
        if left < size {
            let bytes = self.block.max(size);
            self.block = (self.block * 2).min(self.max_block);
            let (b, start) = Block::new(bytes, self.spares);
            // SAFETY: `start..start + bytes` is the block just allocated, which lives
            // in `blocks` (its memory does not move when the Vec grows) until the
            // arena drops.
            self.end = unsafe { start.add(bytes) };
            self.next = start;
            self.blocks.push(b);
            allocated.fetch_add(bytes, Ordering::Relaxed);
        }
        let p = self.next;
        // SAFETY: `size <= end - next` (checked above, or a new block of at least
        // `size` bytes), so `p + size` stays within the block.
        self.next = unsafe { p.add(size) };
        p
    }

    fn random_height(&mut self) -> usize {
        let mut h = 1;
        loop {
            // xorshift64*
            self.rng ^= self.rng >> 12;
            self.rng ^= self.rng << 25;
            self.rng ^= self.rng >> 27;
            let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
            if h >= MAX_HEIGHT || !(r as u32).is_multiple_of(BRANCHING) {
                return h;
            }
            h += 1;
        }
    }
}

/// Asks the CPU to start loading the cache line at `p` (nothing on other
/// architectures). A hint: it reads nothing and cannot fault, whatever `p` is, so it
/// is safe to call with any pointer; the memtable's filter uses it too.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE, which the intrinsic needs, is part of the x86_64 baseline; a
        // prefetch only hints the cache, so any address (null, dangling) is fine.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p as *const i8) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The order of a list's keys, a type so that searches call it directly (inlined),
/// not through a function pointer.
pub(crate) trait KeyOrder {
    fn cmp(a: &[u8], b: &[u8]) -> CmpOrdering;
}

/// An ordered map from keys (in the order `O`) to values, with lock-free readers.
/// Keys must be distinct (the memtable's carry unique sequence numbers).
pub(crate) struct SkipList<O: KeyOrder> {
    head: *const Node,
    /// The tallest tower in use.
    height: AtomicUsize,
    /// The node inserted last (null before the first insert), published after its
    /// splice: a writer checks it without the lock to guess whether its key follows
    /// on (the guess is checked again under the lock against [`Arena::splice`]).
    last: AtomicPtr<Node>,
    /// Inserts that spliced at the hint, without a search (tests check it is used).
    #[cfg(test)]
    hinted: AtomicUsize,
    arena: Mutex<Arena>,
    /// Bytes of arena blocks allocated (what the list costs in memory).
    allocated: AtomicUsize,
    order: std::marker::PhantomData<O>,
}

// SAFETY: the raw pointers point into arena blocks that the list owns and frees only
// in `drop` (which has `&mut self`). Shared access follows the protocol of the module
// docs: nodes are written only before they are published (under the arena mutex),
// and after that only their atomic links change.
unsafe impl<O: KeyOrder> Send for SkipList<O> {}
// SAFETY: as for `Send`; every mutation through `&self` is either under the arena
// mutex or an atomic store.
unsafe impl<O: KeyOrder> Sync for SkipList<O> {}

/// A pointer to a node of a list, with the provenance of its arena block (made only
/// from the list's head or from its links, never from a `&Node`, whose provenance
/// would cover the header alone). Every method reads through it.
///
/// Invariant: it points at the head or at a node published in a list (or, inside
/// `insert`, at the node being written, after `write_node` filled it), and a
/// lifetime it hands out never outlives the borrow of that list: the arena frees
/// nodes only when the list drops.
#[derive(Clone, Copy)]
struct Raw(*const Node);

impl Raw {
    fn header(self) -> (usize, usize, usize) {
        // SAFETY: by the invariant the header was written before the node could be
        // reached, and is never written again; fields are read through the raw
        // pointer (no reference to the node is made).
        unsafe {
            (
                (*self.0).height as usize,
                (*self.0).key_len as usize,
                (*self.0).value_len as usize,
            )
        }
    }

    /// The link at `level`.
    fn link<'l>(self, level: usize) -> &'l AtomicPtr<Node> {
        debug_assert!(level < self.header().0);
        // SAFETY: the tower of `height` links follows the 8-aligned header inside the
        // node's allocation, `level < height`, and every link was initialised before
        // the node could be reached (invariant); `'l` is bounded by the list's borrow.
        unsafe { &*((self.0 as *const u8).add(HEADER) as *const AtomicPtr<Node>).add(level) }
    }

    fn key<'l>(self) -> &'l [u8] {
        self.observe();
        let (height, k, _) = self.header();
        // SAFETY: the key is `key_len` bytes after the header and tower, inside the
        // node's allocation, written before the node could be reached (invariant).
        unsafe {
            std::slice::from_raw_parts(
                (self.0 as *const u8).add(HEADER + height * std::mem::size_of::<AtomicPtr<Node>>()),
                k,
            )
        }
    }

    fn value<'l>(self) -> &'l [u8] {
        let (height, k, v) = self.header();
        // SAFETY: as for `key`: the value follows the key inside the node.
        unsafe {
            std::slice::from_raw_parts(
                (self.0 as *const u8)
                    .add(HEADER + height * std::mem::size_of::<AtomicPtr<Node>>() + k),
                v,
            )
        }
    }

    /// Tells loom that the node's contents are read here.
    #[inline(always)]
    fn observe(self) {
        #[cfg(lsm_loom)]
        // SAFETY: the invariant (the cell was written with the node); loom checks the
        // read happens after that write.
        unsafe {
            (*self.0)
                .written
                .with(|w| assert_eq!(*w, (*self.0).key_len));
        }
    }
}

/// A node of a list, borrowed from it.
pub(crate) struct Entry<'a, O: KeyOrder> {
    node: Raw,
    list: &'a SkipList<O>,
}

impl<O: KeyOrder> Clone for Entry<'_, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<O: KeyOrder> Copy for Entry<'_, O> {}

impl<'a, O: KeyOrder> Entry<'a, O> {
    /// The entry's key.
    pub fn key(&self) -> &'a [u8] {
        self.node.key()
    }

    /// The entry's value.
    pub fn value(&self) -> &'a [u8] {
        self.node.value()
    }

    /// The next entry in key order.
    pub fn next(&self) -> Option<Entry<'a, O>> {
        self.list.entry(self.node.link(0).load(Ordering::Acquire))
    }

    /// The previous entry in key order (a search: O(log n)).
    pub fn prev(&self) -> Option<Entry<'a, O>> {
        self.list.seek_lt(self.key())
    }
}

impl<O: KeyOrder> SkipList<O> {
    /// An empty list, whose arena blocks grow up to `max_block` bytes (a larger entry
    /// gets a block of its own size).
    pub fn new(max_block: usize) -> SkipList<O> {
        Self::with_spares(max_block, &SPARES)
    }

    /// [`SkipList::new`] with its mapped blocks taken from and left to `spares`.
    fn with_spares(max_block: usize, spares: &'static Spares) -> SkipList<O> {
        spares.list_opened();
        let mut arena = Arena {
            spares,
            blocks: Vec::new(),
            next: ptr::null_mut(),
            end: ptr::null_mut(),
            block: FIRST_BLOCK,
            max_block: max_block.max(FIRST_BLOCK),
            rng: 0x9e37_79b9_7f4a_7c15,
            splice: [ptr::null(); MAX_HEIGHT],
        };
        let allocated = AtomicUsize::new(0);
        let head = Self::write_node(&mut arena, &allocated, MAX_HEIGHT, &[], &[], &[]);
        arena.splice = [head; MAX_HEIGHT];
        SkipList {
            head,
            last: AtomicPtr::new(ptr::null_mut()),
            #[cfg(test)]
            hinted: AtomicUsize::new(0),
            height: AtomicUsize::new(1),
            arena: Mutex::new(arena),
            allocated,
            order: std::marker::PhantomData,
        }
    }

    /// Allocates and fills a node whose key is `key_a ++ key_b`, with every link null.
    fn write_node(
        arena: &mut Arena,
        allocated: &AtomicUsize,
        height: usize,
        key_a: &[u8],
        key_b: &[u8],
        value: &[u8],
    ) -> *const Node {
        let k = key_a.len() + key_b.len();
        let p = arena.alloc(node_size(height, k, value.len()), allocated);
        // SAFETY: `p` is a fresh, 8-aligned allocation of `node_size(..)` bytes that
        // no one else can reach yet; the writes below stay inside it (header, then
        // `height` links, then the key and the value).
        unsafe {
            ptr::write(
                p as *mut Node,
                Node {
                    key_len: k as u32,
                    value_len: value.len() as u32,
                    height: height as u32,
                    _pad: 0,
                    #[cfg(lsm_loom)]
                    written: loom::cell::UnsafeCell::new(k as u32),
                },
            );
            let tower = p.add(HEADER) as *mut AtomicPtr<Node>;
            for l in 0..height {
                ptr::write(tower.add(l), AtomicPtr::new(ptr::null_mut()));
            }
            let kp = p.add(HEADER + height * std::mem::size_of::<AtomicPtr<Node>>());
            ptr::copy_nonoverlapping(key_a.as_ptr(), kp, key_a.len());
            ptr::copy_nonoverlapping(key_b.as_ptr(), kp.add(key_a.len()), key_b.len());
            ptr::copy_nonoverlapping(value.as_ptr(), kp.add(k), value.len());
        }
        p as *const Node
    }

    fn head(&self) -> Raw {
        Raw(self.head)
    }

    /// The entry a link points at: non-null links point at published nodes.
    fn entry(&self, p: *mut Node) -> Option<Entry<'_, O>> {
        (!p.is_null()).then_some(Entry {
            node: Raw(p),
            list: self,
        })
    }

    /// Adds `key_a ++ key_b` (a user key and its trailer) with `value`.
    ///
    /// REQUIRES: no entry with the same key (inserting a duplicate would leave two).
    pub fn insert(&self, key_a: &[u8], key_b: &[u8], value: &[u8]) {
        // The whole key, to compare with: on the stack for the usual short keys.
        let mut whole: SmallVec<[u8; 64]> = SmallVec::with_capacity(key_a.len() + key_b.len());
        whole.extend_from_slice(key_a);
        whole.extend_from_slice(key_b);
        // Each level's last node before the key, and the node after it, as of the
        // search. Levels above the list's height keep the head and null.
        let mut prev = [(self.head(), ptr::null_mut::<Node>()); MAX_HEIGHT];
        // A key that sorts right after the last one inserted (ascending keys, the
        // usual bulk load and every sequential fill) starts from where that insert
        // spliced, as RocksDB's InlineSkipList reuses its splice: a compare per level
        // instead of a search of cache misses. The `after` of each level stays null,
        // so the walk below compares that level's next node with the key.
        let hinted = if self.follows(Raw(self.last.load(Ordering::Acquire)), &whole) {
            let arena = self.arena.lock();
            if self.follows(Raw(arena.splice[0]), &whole) {
                for (p, &s) in prev.iter_mut().zip(arena.splice.iter()) {
                    p.0 = Raw(s);
                }
                #[cfg(test)]
                self.hinted.fetch_add(1, Ordering::Relaxed);
                Some(arena)
            } else {
                None
            }
        } else {
            None
        };
        let mut arena = match hinted {
            Some(arena) => arena,
            None => {
                let top = self.height.load(Ordering::Relaxed);
                self.search(&whole, false, top, |level, x, after| {
                    prev[level] = (x, after)
                });
                self.arena.lock()
            }
        };
        let height = arena.random_height();
        if height > self.height.load(Ordering::Relaxed) {
            // Readers that see the new height before the head's new links find null
            // there and go down: harmless.
            self.height.store(height, Ordering::Relaxed);
        }
        // Other writers may have linked nodes since the search; those between a
        // level's predecessor and the key move the predecessor on. A link unchanged
        // since the search (the usual case) costs a pointer compare.
        for (level, (x, after)) in prev.iter_mut().enumerate().take(height) {
            loop {
                let n = x.link(level).load(Ordering::Acquire);
                if n == *after {
                    break;
                }
                // `n` is non-null: links only ever go from null or a node to a new
                // node, never back.
                if O::cmp(Raw(n).key(), &whole) == CmpOrdering::Less {
                    *x = Raw(n);
                } else {
                    *after = n;
                    break;
                }
            }
        }
        let node = Raw(Self::write_node(
            &mut arena,
            &self.allocated,
            height,
            key_a,
            key_b,
            value,
        ));
        for (level, (_, after)) in prev.iter().enumerate().take(height) {
            // The current successor (the lock keeps it current until the splice).
            node.link(level).store(*after, Ordering::Relaxed);
        }
        for (level, (p, _)) in prev.iter().enumerate().take(height) {
            // Publishes the node at this level; the Release orders every write of the
            // node (header, key, value, whole tower) before any reader's Acquire load
            // that finds it.
            p.link(level).store(node.0 as *mut Node, Ordering::Release);
        }
        // Above the new tower, a level's predecessor is still before the key: at
        // worst other writers linked nodes after it, which the next walk passes.
        for (level, s) in arena.splice.iter_mut().enumerate() {
            *s = if level < height {
                node.0
            } else {
                prev[level].0 .0
            };
        }
        self.last.store(node.0 as *mut Node, Ordering::Release);
    }

    /// True when `whole` sorts right after node `x` (a node linked in the list, or
    /// null): after its key and before the key of the node after it on level 0. Every
    /// level's predecessor of such a key is then at or before `x`.
    fn follows(&self, x: Raw, whole: &[u8]) -> bool {
        if x.0.is_null() || ptr::eq(x.0, self.head) {
            return false;
        }
        if O::cmp(x.key(), whole) != CmpOrdering::Less {
            return false;
        }
        let next = x.link(0).load(Ordering::Acquire);
        next.is_null() || O::cmp(Raw(next).key(), whole) == CmpOrdering::Greater
    }

    /// The first entry whose key is `>= target`.
    pub fn seek_ge(&self, target: &[u8]) -> Option<Entry<'_, O>> {
        let (_, n) = self.find(target, false);
        self.entry(n)
    }

    /// The last entry whose key is `< target`.
    pub fn seek_lt(&self, target: &[u8]) -> Option<Entry<'_, O>> {
        let (x, _) = self.find(target, false);
        if ptr::eq(x, self.head) {
            None
        } else {
            self.entry(x as *mut Node)
        }
    }

    /// The last entry whose key is `<= target`.
    pub fn seek_le(&self, target: &[u8]) -> Option<Entry<'_, O>> {
        let (x, _) = self.find(target, true);
        if ptr::eq(x, self.head) {
            None
        } else {
            self.entry(x as *mut Node)
        }
    }

    /// The first entry.
    pub fn first(&self) -> Option<Entry<'_, O>> {
        self.entry(self.head().link(0).load(Ordering::Acquire))
    }

    /// The last entry.
    pub fn last(&self) -> Option<Entry<'_, O>> {
        let mut x = self.head();
        for level in (0..self.height.load(Ordering::Relaxed)).rev() {
            loop {
                let n = x.link(level).load(Ordering::Acquire);
                if n.is_null() {
                    break;
                }
                x = Raw(n);
            }
        }
        if ptr::eq(x.0, self.head) {
            None
        } else {
            self.entry(x.0 as *mut Node)
        }
    }

    /// The last node before `target` (`< target`, or `<= target` when `inclusive`;
    /// the head when there is none) and the node after it (null at the end).
    fn find(&self, target: &[u8], inclusive: bool) -> (*const Node, *mut Node) {
        let top = self.height.load(Ordering::Relaxed);
        self.search(target, inclusive, top, |_, _, _| {})
    }

    /// The search under `find` and `insert`, from level `top - 1` down: calls
    /// `at(level, x, after)` with the last node before `target` at each level and
    /// the node after it there (null at the end), and returns those of level 0.
    ///
    /// Two savings over the textbook walk: a node already found not before `target`
    /// one level up is not compared again (as in RocksDB's InlineSkipList), and the
    /// next nodes one and two levels down are prefetched while this level's is
    /// compared. On a large memtable of random keys nearly all of a search's time is
    /// cache misses on the nodes it visits; the node one level down is the one needed
    /// next whenever this level stops, so its miss overlaps the current one. (The
    /// measurements, and the variants that lost, are in benches/peers/NOTES.md.)
    #[inline(always)]
    fn search(
        &self,
        target: &[u8],
        inclusive: bool,
        top: usize,
        mut at: impl FnMut(usize, Raw, *mut Node),
    ) -> (*const Node, *mut Node) {
        let mut x = self.head();
        let mut after: *mut Node = ptr::null_mut();
        let mut level = top;
        while level > 0 {
            level -= 1;
            loop {
                let n = x.link(level).load(Ordering::Acquire);
                if n.is_null() || n == after {
                    after = n;
                    break;
                }
                if level > 0 {
                    prefetch(x.link(level - 1).load(Ordering::Relaxed));
                }
                if level > 1 {
                    prefetch(x.link(level - 2).load(Ordering::Relaxed));
                }
                let c = O::cmp(Raw(n).key(), target);
                if c == CmpOrdering::Less || (inclusive && c == CmpOrdering::Equal) {
                    x = Raw(n);
                } else {
                    after = n;
                    break;
                }
            }
            at(level, x, after);
        }
        (x.0, after)
    }

    /// Asserts that every level is sorted and that each node on a level is on the
    /// one below too (a splice that lost a node, or linked it out of order, fails).
    #[cfg(test)]
    fn check_levels(&self) {
        let walk = |level: usize| {
            let mut keys: Vec<&[u8]> = Vec::new();
            let mut x = self.head();
            loop {
                let n = x.link(level).load(Ordering::Acquire);
                if n.is_null() {
                    return keys;
                }
                x = Raw(n);
                keys.push(x.key());
            }
        };
        let mut below: Vec<&[u8]> = Vec::new();
        for level in 0..self.height.load(Ordering::Relaxed) {
            let keys = walk(level);
            assert!(
                keys.windows(2)
                    .all(|w| O::cmp(w[0], w[1]) == CmpOrdering::Less),
                "level {level} out of order"
            );
            assert!(
                level == 0
                    || keys
                        .iter()
                        .all(|k| below.binary_search_by(|b| O::cmp(b, k)).is_ok()),
                "level {level} holds a node level {} lacks",
                level.saturating_sub(1)
            );
            below = keys;
        }
    }

    /// Bytes of arena blocks the list holds.
    pub fn memory(&self) -> usize {
        self.allocated.load(Ordering::Relaxed)
    }
}

/// Bytes borrowed from a `T` that the value keeps alive by holding an `Arc` of it: a
/// memtable value handed out without a copy (`get_pinned`) that outlives the borrow
/// of the memtable, its flush and the database's close.
pub(crate) struct ArenaValue<T> {
    _owner: Arc<T>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: an `ArenaValue` is an `Arc<T>` plus a shared view of immutable bytes inside
// that `T`; sending or sharing it across threads is as safe as sending or sharing the
// `Arc<T>` and a `&[u8]`, which `T: Send + Sync` allows.
unsafe impl<T: Send + Sync> Send for ArenaValue<T> {}
// SAFETY: as for `Send`: the bytes are only ever read.
unsafe impl<T: Send + Sync> Sync for ArenaValue<T> {}

impl<T> Clone for ArenaValue<T> {
    fn clone(&self) -> Self {
        ArenaValue {
            _owner: Arc::clone(&self._owner),
            ptr: self.ptr,
            len: self.len,
        }
    }
}

impl<T> ArenaValue<T> {
    /// The bytes `find` borrows from `owner`, kept readable for as long as the
    /// returned value lives.
    ///
    /// `find` must return bytes of the `T` it is given (or `'static` ones): its
    /// higher-ranked signature lets it return nothing else.
    pub fn pin(
        owner: Arc<T>,
        find: impl for<'a> FnOnce(&'a T) -> Option<&'a [u8]>,
    ) -> Option<ArenaValue<T>> {
        let bytes = find(&owner)?;
        let (ptr, len) = (bytes.as_ptr(), bytes.len());
        Some(ArenaValue {
            _owner: owner,
            ptr,
            len,
        })
    }

    /// The pinned bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr..ptr + len` was a `&[u8]` borrowed from `*_owner` (or 'static),
        // by the signature of `pin`. The `T` lives while this value holds its `Arc`,
        // and nothing can mutate or free memory a shared borrow of it reached while
        // the `Arc` is shared (no `&mut T` exists: `Arc::get_mut` fails with this
        // clone alive). For the memtable this is the arena's contract: nodes are
        // immutable once linked and freed only when the list drops. The borrow
        // returned is tied to `&self`, so it cannot outlive the `Arc`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

#[cfg(all(test, not(lsm_loom)))]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    struct Bytes;

    impl KeyOrder for Bytes {
        fn cmp(a: &[u8], b: &[u8]) -> CmpOrdering {
            a.cmp(b)
        }
    }

    /// Writers searching without the lock and splicing under it, on keys that land
    /// next to each other's, while readers walk: every key ends up in the list, and
    /// each level is sorted and a subset of the one below.
    #[test]
    fn concurrent_inserts_keep_every_key_and_every_level_sorted() {
        let list = Arc::new(SkipList::<Bytes>::new(1 << 16));
        let (threads, per) = (4u32, 20_000u32);
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut walks = 0u32;
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let keys: Vec<&[u8]> = std::iter::successors(list.first(), |e| e.next())
                        .map(|e| e.key())
                        .collect();
                    assert!(keys.windows(2).all(|w| w[0] < w[1]), "unsorted walk");
                    walks += 1;
                }
                walks
            });
            let writers: Vec<_> = (0..threads)
                .map(|t| {
                    let list = &list;
                    s.spawn(move || {
                        for i in 0..per {
                            let k = (i * threads + t).to_be_bytes();
                            list.insert(&k, &[], &k);
                        }
                    })
                })
                .collect();
            for w in writers {
                w.join().unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            assert!(reader.join().unwrap() > 0);
        });
        let all: Vec<u32> = std::iter::successors(list.first(), |e| e.next())
            .map(|e| {
                assert_eq!(e.key(), e.value());
                u32::from_be_bytes(e.key().try_into().unwrap())
            })
            .collect();
        assert_eq!(all, (0..threads * per).collect::<Vec<_>>());
        list.check_levels();
    }

    /// Runs of ascending keys, each starting anywhere (at the end of the list or
    /// inside it, where the key after the hint bounds the run), between random
    /// single keys: most inserts splice at the hint, and the list still matches a
    /// BTreeMap at every level.
    #[test]
    fn ascending_runs_splice_at_the_hint_and_match_a_btreemap() {
        let list = SkipList::<Bytes>::new(1 << 16);
        let mut model = BTreeMap::new();
        let mut rng = crate::workload::Rng::new(7);
        let mut inserts = 0;
        for _ in 0..400 {
            let start = rng.below(1_000_000);
            let run = 1 + rng.below(60);
            for k in (start..start + run).chain([rng.below(1_000_000)]) {
                let k = format!("{k:08}").into_bytes();
                if model.insert(k.clone(), k.clone()).is_none() {
                    list.insert(&k[..3], &k[3..], &k);
                    inserts += 1;
                }
            }
            list.check_levels();
        }
        let got: Vec<(Vec<u8>, Vec<u8>)> = std::iter::successors(list.first(), |e| e.next())
            .map(|e| (e.key().to_vec(), e.value().to_vec()))
            .collect();
        assert!(got.into_iter().eq(model.clone().into_iter()));
        for k in model.keys() {
            assert_eq!(list.seek_ge(k).map(|e| e.key()), Some(&k[..]));
        }
        let hinted = list.hinted.load(Ordering::Relaxed);
        assert!(
            hinted * 10 > inserts * 8,
            "{hinted} of {inserts} inserts used the hint"
        );
    }

    /// Fills `list` with random entries until it holds `blocks` huge blocks; the model.
    fn fill_blocks(list: &SkipList<Bytes>, blocks: usize, seed: u64) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let mut model = BTreeMap::new();
        let mut rng = crate::workload::Rng::new(seed);
        while list.memory() < blocks * HUGE_PAGE {
            let k = rng.below(u64::MAX).to_be_bytes();
            let v = vec![k[0]; 100 + k[1] as usize];
            if model.insert(k.to_vec(), v.clone()).is_none() {
                list.insert(&k[..5], &k[5..], &v);
            }
        }
        model
    }

    /// Every entry of `list`, in order, against `model`, and its towers.
    fn assert_holds(list: &SkipList<Bytes>, model: BTreeMap<Vec<u8>, Vec<u8>>) {
        let got: Vec<(Vec<u8>, Vec<u8>)> = std::iter::successors(list.first(), |e| e.next())
            .map(|e| (e.key().to_vec(), e.value().to_vec()))
            .collect();
        assert!(got.into_iter().eq(model));
        list.check_levels();
    }

    /// Start addresses of the list's mapped blocks.
    #[cfg(target_os = "linux")]
    fn mapped_blocks(list: &SkipList<Bytes>) -> Vec<usize> {
        let arena = list.arena.lock();
        arena
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Mapped { base, .. } => Some(*base as usize),
                Block::Heap(_) => None,
            })
            .collect()
    }

    /// A list whose blocks are huge pages: entries fill several 2 MiB mappings,
    /// written to their last byte and read back (a mapping trimmed to the wrong range
    /// faults or loses entries), with the blocks mapped 2 MiB-aligned on Linux.
    #[test]
    fn huge_page_blocks_hold_every_entry() {
        // Spares of its own, which no list uses: the block is a new mapping.
        let spares: &'static Spares = Box::leak(Box::new(Spares::new()));
        let (aligned, start) = Block::new(HUGE_PAGE, spares);
        #[cfg(target_os = "linux")]
        {
            assert!(matches!(aligned, Block::Mapped { .. }));
            assert_eq!(start as usize % HUGE_PAGE, 0);
        }
        // SAFETY (test): the block is `HUGE_PAGE` bytes from `start`, owned here.
        let bytes = unsafe { std::slice::from_raw_parts_mut(start, HUGE_PAGE) };
        assert!(bytes.iter().all(|&b| b == 0), "a new mapping is zeroed");
        bytes.fill(0xa5);
        assert!(bytes.iter().all(|&b| b == 0xa5));
        drop(aligned);
        #[cfg(target_os = "linux")]
        assert!(
            spares.kept().is_empty(),
            "no list lives: the block is unmapped"
        );

        let list = SkipList::<Bytes>::with_spares(HUGE_PAGE, spares);
        let model = fill_blocks(&list, 5, 11);
        #[cfg(target_os = "linux")]
        assert!(mapped_blocks(&list).len() >= 4);
        assert_holds(&list, model);
    }

    /// The blocks of a list that drops are kept while another list lives, and the
    /// next list reuses them: its entries are all there and nothing of the old
    /// list's bytes shows through. When the last list drops, none is kept.
    #[cfg(target_os = "linux")]
    #[test]
    fn dropped_lists_leave_their_blocks_to_the_next() {
        let spares: &'static Spares = Box::leak(Box::new(Spares::new()));
        let keeper = SkipList::<Bytes>::with_spares(HUGE_PAGE, spares);
        let first = SkipList::<Bytes>::with_spares(HUGE_PAGE, spares);
        let model = fill_blocks(&first, 5, 21);
        let mut left = mapped_blocks(&first);
        assert!(left.len() >= 4 && left.len() <= MAX_SPARES);
        assert_holds(&first, model);
        drop(first);
        let mut kept = spares.kept();
        left.sort_unstable();
        kept.sort_unstable();
        assert_eq!(kept, left, "every mapped block of the dropped list is kept");

        let second = SkipList::<Bytes>::with_spares(HUGE_PAGE, spares);
        let model = fill_blocks(&second, 5, 22);
        let reused = mapped_blocks(&second);
        assert!(
            left.iter().all(|b| reused.contains(b)),
            "the spares are taken first"
        );
        assert!(spares.kept().is_empty());
        assert_holds(&second, model);

        drop(second);
        // `reused` holds every block of `left`, and maybe fresh ones: all go back.
        assert_eq!(spares.kept().len(), reused.len().min(MAX_SPARES));
        drop(keeper);
        assert!(spares.kept().is_empty(), "the last list unmaps every spare");
    }

    /// Random inserts, then every kind of seek and both walk directions, against a
    /// BTreeMap; values of every size, split keys, and the memory counted.
    #[test]
    fn the_list_matches_a_btreemap() {
        let list = SkipList::<Bytes>::new(1 << 20);
        let mut model = BTreeMap::new();
        let mut x = 1u64;
        let mut rnd = |n: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % n
        };
        assert!(list.first().is_none() && list.last().is_none());
        for i in 0..5000u64 {
            let k = format!("{:06}", rnd(100_000)).into_bytes();
            if model.contains_key(&k) {
                continue;
            }
            let v = vec![i as u8; rnd(300) as usize];
            let split = rnd(k.len() as u64 + 1) as usize;
            list.insert(&k[..split], &k[split..], &v);
            model.insert(k, v);
        }
        let got: Vec<(Vec<u8>, Vec<u8>)> = std::iter::successors(list.first(), |e| e.next())
            .map(|e| (e.key().to_vec(), e.value().to_vec()))
            .collect();
        assert!(got.iter().cloned().eq(model.clone().into_iter()));
        let back: Vec<Vec<u8>> = std::iter::successors(list.last(), |e| e.prev())
            .map(|e| e.key().to_vec())
            .collect();
        assert!(back.into_iter().eq(model.keys().rev().cloned()));
        for _ in 0..2000 {
            let t = format!("{:06}", rnd(100_001)).into_bytes();
            let ge = model.range(t.clone()..).next().map(|(k, _)| k.clone());
            let lt = model.range(..t.clone()).next_back().map(|(k, _)| k.clone());
            let le = model
                .range(..=t.clone())
                .next_back()
                .map(|(k, _)| k.clone());
            assert_eq!(list.seek_ge(&t).map(|e| e.key().to_vec()), ge);
            assert_eq!(list.seek_lt(&t).map(|e| e.key().to_vec()), lt);
            assert_eq!(list.seek_le(&t).map(|e| e.key().to_vec()), le);
        }
        let payload: usize = model.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(list.memory() > payload && list.memory() < payload * 3);
    }

    /// One writer inserts while readers walk and seek: a reader never sees an entry
    /// out of order, a torn entry (each value names its key), or a key that was
    /// inserted before its walk began go missing.
    #[test]
    fn readers_see_a_sorted_whole_list_while_the_writer_inserts() {
        let list = Arc::new(SkipList::<Bytes>::new(1 << 20));
        let n = 20_000u64;
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|t| {
                let (list, done) = (list.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut rounds = 0;
                    while !done.load(std::sync::atomic::Ordering::Acquire) || rounds < 2 {
                        let mut last: Option<Vec<u8>> = None;
                        let mut seen = 0;
                        let start = if t == 0 {
                            list.first()
                        } else {
                            list.seek_ge(b"k1")
                        };
                        for e in std::iter::successors(start, |e| e.next()) {
                            let k = e.key();
                            assert_eq!(e.value(), [k, b"!"].concat(), "a torn entry");
                            if let Some(l) = &last {
                                assert!(l.as_slice() < k, "out of order");
                            }
                            last = Some(k.to_vec());
                            seen += 1;
                        }
                        let _ = seen;
                        rounds += 1;
                    }
                })
            })
            .collect();
        let mut x = 3u64;
        let mut keys = Vec::new();
        for _ in 0..n {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let k = format!("k{:016x}", x).into_bytes();
            list.insert(&k, &[], &[k.as_slice(), b"!"].concat());
            keys.push(k);
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        for r in readers {
            r.join().unwrap();
        }
        keys.sort();
        let all: Vec<Vec<u8>> = std::iter::successors(list.first(), |e| e.next())
            .map(|e| e.key().to_vec())
            .collect();
        assert_eq!(all, keys);
    }
}

/// The publication protocol under loom: every interleaving of a writer inserting
/// into a list and a reader walking it. Run with
/// `RUSTFLAGS="--cfg lsm_loom" CARGO_TARGET_DIR=target/loom cargo test --lib
/// memtable::skiplist::loom_tests` (as `scripts/test.sh` does).
#[cfg(all(test, lsm_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    struct Bytes;

    impl KeyOrder for Bytes {
        fn cmp(a: &[u8], b: &[u8]) -> CmpOrdering {
            a.cmp(b)
        }
    }

    #[test]
    fn a_reader_sees_whole_nodes_in_order() {
        loom::model(|| {
            let list = Arc::new(SkipList::<Bytes>::new(1 << 20));
            list.insert(b"b", &[], b"B");
            let reader = {
                let list = list.clone();
                loom::thread::spawn(move || {
                    let mut keys = Vec::new();
                    for e in std::iter::successors(list.first(), |e| e.next()) {
                        // A node reached through a link is whole: its value matches.
                        assert_eq!(e.value(), e.key().to_ascii_uppercase());
                        keys.push(e.key().to_vec());
                    }
                    assert!(keys.windows(2).all(|w| w[0] < w[1]));
                    assert!(keys.contains(&b"b".to_vec()), "an entry published before");
                    if let Some(e) = list.seek_ge(b"c") {
                        assert_eq!(e.value(), e.key().to_ascii_uppercase());
                    }
                })
            };
            list.insert(b"a", &[], b"A");
            list.insert(b"c", &[], b"C");
            reader.join().unwrap();
            let all: Vec<Vec<u8>> = std::iter::successors(list.first(), |e| e.next())
                .map(|e| e.key().to_vec())
                .collect();
            assert_eq!(all, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        });
    }

    /// Two writers insert their keys at once into a list holding `first`, each
    /// searching without the lock and splicing under it (or at the hint), while a
    /// reader walks the list: in every interleaving with up to three preemptions
    /// (enough for a splice to come between another writer's search and its own at
    /// any level) the reader sees a sorted list of whole nodes, no insert is lost,
    /// every level stays sorted, and a seek finds each key.
    fn two_writers_and_a_reader(first: &'static [u8], writers: [[&'static [u8]; 2]; 2]) {
        let mut model = loom::model::Builder::new();
        model.preemption_bound = Some(3);
        model.check(move || {
            let list = Arc::new(SkipList::<Bytes>::new(1 << 20));
            list.insert(first, &[], &first.to_ascii_uppercase());
            let handles: Vec<_> = writers
                .into_iter()
                .map(|keys| {
                    let list = list.clone();
                    loom::thread::spawn(move || {
                        for k in keys {
                            list.insert(k, &[], &k.to_ascii_uppercase());
                        }
                    })
                })
                .collect();
            let mut keys = Vec::new();
            for e in std::iter::successors(list.first(), |e| e.next()) {
                assert_eq!(e.value(), e.key().to_ascii_uppercase());
                keys.push(e.key().to_vec());
            }
            assert!(keys.windows(2).all(|w| w[0] < w[1]));
            for h in handles {
                h.join().unwrap();
            }
            let all: Vec<Vec<u8>> = std::iter::successors(list.first(), |e| e.next())
                .map(|e| e.key().to_vec())
                .collect();
            let mut want: Vec<Vec<u8>> = writers.iter().flatten().map(|k| k.to_vec()).collect();
            want.push(first.to_vec());
            want.sort();
            assert_eq!(all, want);
            list.check_levels();
            for k in &want {
                assert_eq!(list.seek_ge(k).map(|e| e.key().to_vec()), Some(k.clone()));
            }
        });
    }

    /// Writers whose keys interleave, in the middle of the list: each splice may come
    /// between the other writer's search and its own.
    #[test]
    fn concurrent_writers_lose_no_node() {
        two_writers_and_a_reader(b"m", [[b"b", b"d"], [b"c", b"e"]]);
    }

    /// Writers appending ascending keys at the end of the list, so each guesses from
    /// the other's last node and splices at the hint, or finds the guess stale under
    /// the lock and searches.
    #[test]
    fn writers_appending_at_the_hint_lose_no_node() {
        two_writers_and_a_reader(b"a", [[b"b", b"c"], [b"d", b"e"]]);
    }
}
