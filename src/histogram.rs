//! Latency histograms: log-linear buckets of atomic counters, cheap enough to record
//! every get and put.

use std::sync::atomic::{AtomicU64, Ordering};

/// Buckets: values below 16 exactly, then 8 buckets per power of two (12.5% wide).
const LINEAR: u64 = 16;
const SUB: u64 = 8;
const BUCKETS: usize = (LINEAR + (64 - 4) * SUB) as usize;

/// A histogram of nanosecond latencies.
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
        }
    }
}

fn bucket(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let e = 63 - v.leading_zeros() as u64; // >= 4
    let m = (v >> (e - 3)) & (SUB - 1);
    (LINEAR + (e - 4) * SUB + m) as usize
}

/// The smallest value of bucket `b`.
fn lower_bound(b: usize) -> u64 {
    let b = b as u64;
    if b < LINEAR {
        return b;
    }
    let e = (b - LINEAR) / SUB + 4;
    let m = (b - LINEAR) % SUB;
    (1u64 << e) | (m << (e - 3))
}

/// One operation in this many is timed (per thread, starting with the first): reading
/// the clock twice costs more than a cached get itself, and a sample of every eighth
/// operation gives the same percentiles.
pub(crate) const SAMPLE_EVERY: u32 = 8;

thread_local! {
    static TICK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// True when the calling thread's next operation should be timed.
#[inline]
pub(crate) fn sample() -> bool {
    TICK.with(|t| {
        let n = t.get();
        t.set(n.wrapping_add(1));
        n.is_multiple_of(SAMPLE_EVERY)
    })
}

impl Histogram {
    /// Records one value.
    pub fn record(&self, nanos: u64) {
        if let Some(b) = self.buckets.get(bucket(nanos)) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// `(count, p50, p99, p99.9)` in nanoseconds (bucket lower bounds).
    pub fn summary(&self) -> Percentiles {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        let at = |q: f64| -> u64 {
            if total == 0 {
                return 0;
            }
            let rank = ((total as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return lower_bound(i);
                }
            }
            0
        };
        Percentiles {
            count: total,
            p50_ns: at(0.50),
            p99_ns: at(0.99),
            p999_ns: at(0.999),
        }
    }
}

/// Latency percentiles of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// Operations recorded.
    pub count: u64,
    /// Median, in nanoseconds.
    pub p50_ns: u64,
    /// 99th percentile, in nanoseconds.
    pub p99_ns: u64,
    /// 99.9th percentile, in nanoseconds.
    pub p999_ns: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in (0..100_000u64).chain([1 << 40, u64::MAX]) {
            let b = bucket(v);
            assert!(b >= last && b < BUCKETS, "{v}");
            assert!(lower_bound(b) <= v, "{v}");
            assert!(v - lower_bound(b) <= v / 8 + 1, "{v}");
            last = b;
        }
    }

    #[test]
    fn percentiles_find_the_tail() {
        let h = Histogram::default();
        for _ in 0..990 {
            h.record(1_000);
        }
        for _ in 0..10 {
            h.record(1_000_000);
        }
        let p = h.summary();
        assert_eq!(p.count, 1000);
        assert!(p.p50_ns <= 1_000 && p.p50_ns > 800);
        assert!(p.p99_ns <= 1_000);
        assert!(p.p999_ns > 800_000);
    }
}
