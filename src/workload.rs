//! Benchmark workloads: the db_bench-style loops that `lsm bench` and
//! `examples/bench.rs` run, with their keys, values and random numbers.
//!
//! A [`Runner`] runs one [`Workload`] at a time against an open [`Lsm`] and tells a
//! [`Probe`] about every operation — its [`Op`] and the `Instant` it started — right
//! after it completes, so the caller measures what it wants (latency histograms, a
//! progress bar, or nothing with `()`) and times the whole workload itself.
//!
//! Contract:
//! - Keys are decimal numbers zero-padded to `key_size` bytes ([`key`]). The written
//!   key space is `0..num`; `readmissing` asks for numbers in `num..2 * num`, which no
//!   workload writes, so keys need [`Options::min_key_size`] bytes to stay distinct
//!   and equally long.
//! - Every random number comes from one [`Rng`] seeded with [`Options::seed`]: the
//!   value is drawn first, then each workload draws its keys in turn. The same seed and
//!   the same sequence of workloads replay the same keys (`mixed` with more than one
//!   thread interleaves its writes nondeterministically, so what later reads find may
//!   differ).
//! - The database's life is the caller's: a workload for which
//!   [`Workload::starts_empty`] is true expects an empty database; the others run on
//!   whatever earlier workloads left, as in db_bench.

use crate::{Lsm, Result};
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Bytes per key unless [`Options::key_size`] says otherwise.
pub const DEFAULT_KEY_SIZE: usize = 16;

/// Bytes per value unless [`Options::value_size`] says otherwise.
pub const DEFAULT_VALUE_SIZE: usize = 100;

/// Every workload's name, comma-separated, in the order that fills first and reads
/// afterwards (the order of [`Workload::ALL`]).
pub const DEFAULT_ORDER: &str = "fillseq,fillrandom,overwrite,readrandom,readpinned,multiget,readmissing,readseq,readreverse,seekrandom,mixed,deleterandom";

/// splitmix64: a small, fast, seedable generator; benchmarks need no more. Not for
/// anything that must be unpredictable.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next number of the sequence.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (slightly biased towards small numbers when `n` is not a
    /// power of two); 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// The key for number `i`: its decimal digits, zero-padded on the left to `size` bytes
/// (longer than `size` when `i` has more digits).
pub fn key(i: u64, size: usize) -> Vec<u8> {
    format!("{i:0size$}").into_bytes()
}

/// A value of `size` printable ASCII bytes drawn from `rng`.
pub fn value(size: usize, rng: &mut Rng) -> Vec<u8> {
    (0..size).map(|_| b' ' + rng.below(95) as u8).collect()
}

/// Keys per `multi_get` in the `multiget` workload.
pub const MULTI_GET_BATCH: u64 = 32;

/// One db_bench-style workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    /// `num` puts of keys `0..num` in ascending order, into an empty database.
    FillSeq,
    /// `num` puts of random keys below `num`, into an empty database.
    FillRandom,
    /// `num` puts of random keys below `num`, on what is there.
    Overwrite,
    /// `num` gets of random keys below `num`; counts the keys found.
    ReadRandom,
    /// As [`Workload::ReadRandom`] with `get_pinned`: the value is read where it lies,
    /// not copied.
    ReadPinned,
    /// `num` random keys below `num` looked up [`MULTI_GET_BATCH`] at a time with
    /// `multi_get_pinned`; throughput counts keys, latency samples whole batches.
    MultiGet,
    /// `num` gets of keys no workload writes; counts the keys found (none, unless the
    /// database holds keys of its own).
    ReadMissing,
    /// Iterates forward over at most `num` entries.
    ReadSeq,
    /// Iterates backward over at most `num` entries.
    ReadReverse,
    /// `num` seeks of one raw iterator to random keys below `num`; counts the seeks
    /// that land exactly on their key.
    SeekRandom,
    /// [`Options::threads`] threads sharing `num` operations (or running for
    /// [`Options::duration`]), each a get with probability [`Options::read_percent`]
    /// and otherwise a put, of random keys below `num`; counts the gets that found
    /// their key.
    Mixed,
    /// `num` deletes of random keys below `num`.
    DeleteRandom,
}

impl Workload {
    /// Every workload, in the order of [`DEFAULT_ORDER`].
    pub const ALL: [Workload; 12] = [
        Workload::FillSeq,
        Workload::FillRandom,
        Workload::Overwrite,
        Workload::ReadRandom,
        Workload::ReadPinned,
        Workload::MultiGet,
        Workload::ReadMissing,
        Workload::ReadSeq,
        Workload::ReadReverse,
        Workload::SeekRandom,
        Workload::Mixed,
        Workload::DeleteRandom,
    ];

    /// The db_bench name, e.g. `fillseq`.
    pub fn name(self) -> &'static str {
        match self {
            Workload::FillSeq => "fillseq",
            Workload::FillRandom => "fillrandom",
            Workload::Overwrite => "overwrite",
            Workload::ReadRandom => "readrandom",
            Workload::ReadPinned => "readpinned",
            Workload::MultiGet => "multiget",
            Workload::ReadMissing => "readmissing",
            Workload::ReadSeq => "readseq",
            Workload::ReadReverse => "readreverse",
            Workload::SeekRandom => "seekrandom",
            Workload::Mixed => "mixed",
            Workload::DeleteRandom => "deleterandom",
        }
    }

    /// Whether the workload expects an empty database (the fills).
    pub fn starts_empty(self) -> bool {
        matches!(self, Workload::FillSeq | Workload::FillRandom)
    }

    /// Whether the workload only writes (puts or deletes).
    pub fn only_writes(self) -> bool {
        matches!(
            self,
            Workload::FillSeq | Workload::FillRandom | Workload::Overwrite | Workload::DeleteRandom
        )
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`DEFAULT_ORDER`]; displays as
/// `unknown benchmark "NAME" (known: fillseq,...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownWorkload(pub String);

impl fmt::Display for UnknownWorkload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown benchmark {:?} (known: {DEFAULT_ORDER})", self.0)
    }
}

impl std::error::Error for UnknownWorkload {}

impl FromStr for Workload {
    type Err = UnknownWorkload;

    /// The workload named `s` ([`Workload::name`]).
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| UnknownWorkload(s.to_string()))
    }
}

/// The sizes and parameters of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Operations per workload, and keys in the key space.
    pub num: u64,
    /// Bytes per key ([`DEFAULT_KEY_SIZE`]).
    pub key_size: usize,
    /// Bytes per value ([`DEFAULT_VALUE_SIZE`]).
    pub value_size: usize,
    /// Seed of the [`Rng`].
    pub seed: u64,
    /// Threads of [`Workload::Mixed`] (0 counts as 1).
    pub threads: usize,
    /// Percentage of gets in [`Workload::Mixed`], 0 to 100.
    pub read_percent: u8,
    /// When set, [`Workload::Mixed`] runs for this long instead of `num` operations.
    pub duration: Option<Duration>,
}

impl Default for Options {
    /// A million operations, 16 B keys, 100 B values, seed 301, 4 threads for `mixed`
    /// with 90% reads: the defaults of `lsm bench`.
    fn default() -> Self {
        Options {
            num: 1_000_000,
            key_size: DEFAULT_KEY_SIZE,
            value_size: DEFAULT_VALUE_SIZE,
            seed: 301,
            threads: 4,
            read_percent: 90,
            duration: None,
        }
    }
}

impl Options {
    /// The smallest `key_size` that keeps every key, up to `readmissing`'s `2 * num`,
    /// at the same length (and so in numeric order).
    pub fn min_key_size(&self) -> usize {
        self.num.saturating_mul(2).to_string().len()
    }
}

/// What one operation of a workload was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// [`Lsm::put`].
    Put,
    /// [`Lsm::delete`].
    Delete,
    /// [`Lsm::get`].
    Get,
    /// One step of [`Lsm::iter`], forward or backward.
    Next,
    /// [`crate::RawIterator::seek`], with the check of where it landed.
    Seek,
}

/// Observes the operations of a workload.
///
/// A multi-threaded workload ([`Workload::Mixed`]) gives each thread its own probe from
/// [`Probe::fork`] and hands each back to [`Probe::join`] when its thread ends, so
/// `op` never needs a lock.
pub trait Probe: Send {
    /// Called right after each successful operation with its kind and the instant it
    /// started (an operation that fails ends the workload without a call).
    fn op(&mut self, op: Op, started: Instant);

    /// A fresh probe for one thread of a multi-threaded workload.
    fn fork(&self) -> Self
    where
        Self: Sized;

    /// Takes back what a probe from [`Probe::fork`] observed.
    fn join(&mut self, forked: Self)
    where
        Self: Sized;
}

/// Observes nothing, for callers that time only whole workloads.
impl Probe for () {
    fn op(&mut self, _: Op, _: Instant) {}
    fn fork(&self) -> Self {}
    fn join(&mut self, _: Self) {}
}

/// What a workload counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Operations done (for `readseq` and `readreverse`: entries read, at most `num`).
    pub ops: u64,
    /// For the workloads that look keys up (`readrandom`, `readmissing`, `seekrandom`,
    /// `mixed`): how many found their key; `None` for the others.
    pub found: Option<u64>,
}

/// Runs workloads with one [`Options`], one value and one [`Rng`] stream.
#[derive(Debug, Clone)]
pub struct Runner {
    options: Options,
    value: Vec<u8>,
    rng: Rng,
}

impl Runner {
    /// A runner for `options`; draws the value from the seed first.
    pub fn new(options: Options) -> Self {
        let mut rng = Rng::new(options.seed);
        let value = value(options.value_size, &mut rng);
        Runner {
            options,
            value,
            rng,
        }
    }

    /// The options it runs with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The value every put writes.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    fn key(&self, i: u64) -> Vec<u8> {
        key(i, self.options.key_size)
    }

    /// Runs `workload` on `db`, telling `probe` about each operation. Stops at the
    /// first error the database returns.
    pub fn run<P: Probe>(&mut self, workload: Workload, db: &Lsm, probe: &mut P) -> Result<Counts> {
        let num = self.options.num;
        let (ops, found) = match workload {
            Workload::FillSeq
            | Workload::FillRandom
            | Workload::Overwrite
            | Workload::DeleteRandom => {
                for i in 0..num {
                    let n = if workload == Workload::FillSeq {
                        i
                    } else {
                        self.rng.below(num)
                    };
                    let k = self.key(n);
                    let t = Instant::now();
                    if workload == Workload::DeleteRandom {
                        db.delete(&k)?;
                        probe.op(Op::Delete, t);
                    } else {
                        db.put(&k, &self.value)?;
                        probe.op(Op::Put, t);
                    }
                }
                (num, None)
            }
            Workload::ReadPinned => {
                let mut hits = 0;
                for _ in 0..num {
                    let n = self.rng.below(num);
                    let k = self.key(n);
                    let t = Instant::now();
                    let v = db.get_pinned(&k)?;
                    probe.op(Op::Get, t);
                    hits += u64::from(v.is_some());
                }
                (num, Some(hits))
            }
            Workload::MultiGet => {
                let mut hits = 0;
                let mut done = 0;
                while done < num {
                    let n = MULTI_GET_BATCH.min(num - done);
                    let keys: Vec<Vec<u8>> = (0..n)
                        .map(|_| {
                            let i = self.rng.below(num);
                            self.key(i)
                        })
                        .collect();
                    let t = Instant::now();
                    let got = db.multi_get_pinned(&keys)?;
                    // One latency sample per batch (its percentiles are per batch).
                    probe.op(Op::Get, t);
                    hits += got.iter().filter(|v| v.is_some()).count() as u64;
                    done += n;
                }
                (num, Some(hits))
            }
            Workload::ReadRandom | Workload::ReadMissing => {
                let offset = if workload == Workload::ReadMissing {
                    num
                } else {
                    0
                };
                let mut hits = 0;
                for _ in 0..num {
                    let n = self.rng.below(num) + offset;
                    let k = self.key(n);
                    let t = Instant::now();
                    let v = db.get(&k)?;
                    probe.op(Op::Get, t);
                    hits += u64::from(v.is_some());
                }
                (num, Some(hits))
            }
            Workload::ReadSeq | Workload::ReadReverse => {
                let iter = db.iter();
                let n = if workload == Workload::ReadReverse {
                    read_seq(iter.rev(), num, probe)?
                } else {
                    read_seq(iter, num, probe)?
                };
                (n, None)
            }
            Workload::SeekRandom => {
                let mut it = db.raw_iter();
                let mut hits = 0;
                for _ in 0..num {
                    let n = self.rng.below(num);
                    let k = self.key(n);
                    let t = Instant::now();
                    it.seek(&k);
                    let hit = it.valid() && it.key() == k.as_slice();
                    probe.op(Op::Seek, t);
                    it.status()?;
                    hits += u64::from(hit);
                }
                (num, Some(hits))
            }
            Workload::Mixed => {
                let (ops, hits) = self.mixed(db, probe)?;
                (ops, Some(hits))
            }
        };
        Ok(Counts { ops, found })
    }

    /// [`Workload::Mixed`]: each thread gets its own seed from the runner's stream,
    /// its share of `num` and a forked probe.
    fn mixed<P: Probe>(&mut self, db: &Lsm, probe: &mut P) -> Result<(u64, u64)> {
        let threads = self.options.threads.max(1) as u64;
        let num = self.options.num;
        let deadline = self.options.duration.map(|d| Instant::now() + d);
        let total = AtomicU64::new(0);
        let hits = AtomicU64::new(0);
        let seeds: Vec<u64> = (0..threads).map(|_| self.rng.next_u64()).collect();
        let this = &*self;
        let forked: Vec<P> = seeds.iter().map(|_| probe.fork()).collect();
        let results: Vec<Result<P>> = std::thread::scope(|s| {
            let handles: Vec<_> = seeds
                .iter()
                .zip(forked)
                .enumerate()
                .map(|(t, (&seed, mut probe))| {
                    let (hits, total) = (&hits, &total);
                    let share = match deadline {
                        Some(_) => u64::MAX,
                        None => num / threads + u64::from((t as u64) < num % threads),
                    };
                    s.spawn(move || -> Result<P> {
                        let mut rng = Rng::new(seed);
                        for i in 0..share {
                            if deadline.is_some_and(|d| i % 256 == 0 && Instant::now() >= d) {
                                break;
                            }
                            total.fetch_add(1, Ordering::Relaxed);
                            let k = this.key(rng.below(num));
                            let read = rng.below(100) < u64::from(this.options.read_percent);
                            let t = Instant::now();
                            if read {
                                let found = db.get(&k)?.is_some();
                                probe.op(Op::Get, t);
                                if found {
                                    hits.fetch_add(1, Ordering::Relaxed);
                                }
                            } else {
                                db.put(&k, &this.value)?;
                                probe.op(Op::Put, t);
                            }
                        }
                        Ok(probe)
                    })
                })
                .collect();
            handles
                .into_iter()
                // A panicking thread (a bug, in the engine or the probe) panics the caller.
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        for r in results {
            probe.join(r?);
        }
        Ok((total.load(Ordering::Relaxed), hits.load(Ordering::Relaxed)))
    }
}

/// Reads at most `num` entries of `iter`; returns how many it read.
fn read_seq<P: Probe>(
    mut iter: impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>>,
    num: u64,
    probe: &mut P,
) -> Result<u64> {
    let mut n = 0;
    while n < num {
        let t = Instant::now();
        let Some(item) = iter.next() else { break };
        item?;
        probe.op(Op::Next, t);
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn options(num: u64) -> Options {
        Options {
            num,
            threads: 2,
            ..Options::default()
        }
    }

    fn open(dir: &tempfile::TempDir) -> Lsm {
        Lsm::open(dir.path().join("db")).expect("open")
    }

    fn all(db: &Lsm) -> Vec<(Vec<u8>, Vec<u8>)> {
        db.iter().collect::<Result<_>>().expect("scan")
    }

    /// Counts the operations of each kind.
    #[derive(Default)]
    struct Tally(BTreeMap<&'static str, u64>);

    impl Probe for Tally {
        fn op(&mut self, op: Op, started: Instant) {
            assert!(started <= Instant::now());
            let name = match op {
                Op::Put => "put",
                Op::Delete => "delete",
                Op::Get => "get",
                Op::Next => "next",
                Op::Seek => "seek",
            };
            *self.0.entry(name).or_default() += 1;
        }
        fn fork(&self) -> Self {
            Tally::default()
        }
        fn join(&mut self, forked: Self) {
            for (k, v) in forked.0 {
                *self.0.entry(k).or_default() += v;
            }
        }
    }

    #[test]
    fn rng_is_deterministic_for_a_seed_and_bounded() {
        let (mut a, mut b, mut c) = (Rng::new(7), Rng::new(7), Rng::new(8));
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..100).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        // splitmix64's published first output for seed 0.
        assert_eq!(Rng::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
        let mut r = Rng::new(7);
        for _ in 0..1000 {
            assert!(r.below(10) < 10);
        }
        assert_eq!(r.below(0), 0);
    }

    #[test]
    fn keys_are_zero_padded_and_values_printable() {
        assert_eq!(key(42, 16), b"0000000000000042");
        assert_eq!(key(123, 2), b"123");
        let v = value(DEFAULT_VALUE_SIZE, &mut Rng::new(1));
        assert_eq!(v.len(), DEFAULT_VALUE_SIZE);
        assert!(v.iter().all(|b| (b' '..=b'~').contains(b)));
        let r = Runner::new(Options::default());
        assert_eq!(r.value(), value(100, &mut Rng::new(301)));
        assert_eq!(options(999).min_key_size(), 4);
        assert_eq!(options(1000).min_key_size(), 4);
        assert_eq!(options(5000).min_key_size(), 5);
    }

    #[test]
    fn names_round_trip_in_the_default_order() {
        let names: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
        assert_eq!(names.join(","), DEFAULT_ORDER);
        for w in Workload::ALL {
            assert_eq!(w.to_string().parse::<Workload>(), Ok(w));
        }
        let err = "nope".parse::<Workload>().unwrap_err();
        assert!(err.to_string().starts_with("unknown benchmark \"nope\""));
        let fills: Vec<Workload> = Workload::ALL
            .into_iter()
            .filter(|w| w.starts_empty())
            .collect();
        assert_eq!(fills, [Workload::FillSeq, Workload::FillRandom]);
    }

    #[test]
    fn fillseq_writes_exactly_num_distinct_keys_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        let mut runner = Runner::new(options(500));
        let mut tally = Tally::default();
        let counts = runner.run(Workload::FillSeq, &db, &mut tally).unwrap();
        assert_eq!(
            counts,
            Counts {
                ops: 500,
                found: None
            }
        );
        assert_eq!(tally.0, BTreeMap::from([("put", 500)]));
        let entries = all(&db);
        let keys: Vec<Vec<u8>> = entries.iter().map(|(k, _)| k.clone()).collect();
        let expected: Vec<Vec<u8>> = (0..500).map(|i| key(i, DEFAULT_KEY_SIZE)).collect();
        assert_eq!(keys, expected);
        assert!(entries.iter().all(|(_, v)| v == runner.value()));
        db.close().unwrap();
    }

    #[test]
    fn readrandom_finds_every_key_and_readmissing_none() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        let mut runner = Runner::new(options(400));
        runner.run(Workload::FillSeq, &db, &mut ()).unwrap();
        let mut tally = Tally::default();
        let read = runner.run(Workload::ReadRandom, &db, &mut tally).unwrap();
        assert_eq!(
            read,
            Counts {
                ops: 400,
                found: Some(400)
            }
        );
        let missing = runner.run(Workload::ReadMissing, &db, &mut tally).unwrap();
        assert_eq!(
            missing,
            Counts {
                ops: 400,
                found: Some(0)
            }
        );
        let seek = runner.run(Workload::SeekRandom, &db, &mut tally).unwrap();
        assert_eq!(
            seek,
            Counts {
                ops: 400,
                found: Some(400)
            }
        );
        assert_eq!(tally.0, BTreeMap::from([("get", 800), ("seek", 400)]));
        db.close().unwrap();
    }

    #[test]
    fn fillrandom_keys_are_what_readrandom_finds() {
        // After fillrandom, the keys present are those its stream drew; a model of the
        // same stream predicts them, and readrandom finds only keys below num.
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        let num = 300;
        let mut runner = Runner::new(options(num));
        runner.run(Workload::FillRandom, &db, &mut ()).unwrap();
        let mut model = Rng::new(301);
        value(DEFAULT_VALUE_SIZE, &mut model);
        let mut expected: Vec<Vec<u8>> = (0..num)
            .map(|_| key(model.below(num), DEFAULT_KEY_SIZE))
            .collect();
        expected.sort();
        expected.dedup();
        let keys: Vec<Vec<u8>> = all(&db).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, expected);
        assert!(keys.len() < num as usize, "random keys repeat");
        let read = runner.run(Workload::ReadRandom, &db, &mut ()).unwrap();
        let found = read.found.unwrap();
        assert!(found > 0 && found < num, "{found}");
        db.close().unwrap();
    }

    #[test]
    fn the_same_seed_replays_the_same_workloads() {
        let run = || {
            let dir = tempfile::tempdir().unwrap();
            let db = open(&dir);
            let mut runner = Runner::new(Options {
                threads: 1,
                ..options(300)
            });
            let counts: Vec<Counts> = Workload::ALL
                .into_iter()
                .map(|w| runner.run(w, &db, &mut ()).unwrap())
                .collect();
            let left = all(&db);
            db.close().unwrap();
            (counts, left)
        };
        let first = run();
        assert_eq!(first, run());
        assert!(!first.1.is_empty(), "deleterandom leaves some keys");
    }

    #[test]
    fn readseq_and_readreverse_read_everything_at_most_num() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        let mut runner = Runner::new(options(200));
        runner.run(Workload::FillSeq, &db, &mut ()).unwrap();
        let mut tally = Tally::default();
        let fwd = runner.run(Workload::ReadSeq, &db, &mut tally).unwrap();
        let rev = runner.run(Workload::ReadReverse, &db, &mut tally).unwrap();
        assert_eq!((fwd.ops, rev.ops), (200, 200));
        assert_eq!(tally.0, BTreeMap::from([("next", 400)]));
        // Fewer entries than num: reads what there is.
        runner.run(Workload::DeleteRandom, &db, &mut ()).unwrap();
        let left = all(&db).len() as u64;
        assert!(left < 200);
        assert_eq!(
            runner.run(Workload::ReadSeq, &db, &mut ()).unwrap().ops,
            left
        );
        assert_eq!(
            runner.run(Workload::ReadReverse, &db, &mut ()).unwrap().ops,
            left
        );
        db.close().unwrap();
    }

    #[test]
    fn mixed_shares_num_between_threads_and_joins_their_probes() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        let mut runner = Runner::new(Options {
            threads: 3,
            read_percent: 50,
            ..options(301)
        });
        runner.run(Workload::FillSeq, &db, &mut ()).unwrap();
        let mut tally = Tally::default();
        let mixed = runner.run(Workload::Mixed, &db, &mut tally).unwrap();
        assert_eq!(mixed.ops, 301);
        let (gets, puts) = (tally.0["get"], tally.0["put"]);
        assert_eq!(gets + puts, 301);
        assert!(gets > 0 && puts > 0, "{gets} gets, {puts} puts");
        // Every key exists, so every get finds its key.
        assert_eq!(mixed.found, Some(gets));
        db.close().unwrap();
    }

    #[test]
    fn mixed_with_only_writes_puts_num_times() {
        let dir = tempfile::tempdir().unwrap();
        let db = open(&dir);
        let mut runner = Runner::new(Options {
            read_percent: 0,
            ..options(100)
        });
        let mut tally = Tally::default();
        let mixed = runner.run(Workload::Mixed, &db, &mut tally).unwrap();
        assert_eq!(
            mixed,
            Counts {
                ops: 100,
                found: Some(0)
            }
        );
        assert_eq!(tally.0, BTreeMap::from([("put", 100)]));
        db.close().unwrap();
    }
}
