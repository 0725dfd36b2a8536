//! What the scale mode measures besides throughput, the same way for every engine:
//! a put-latency histogram, the process's I/O counters (`/proc/self/io`), its peak
//! resident set (`VmHWM`, reset per workload through `/proc/self/clear_refs`), its open
//! descriptors (a sampler thread listing `/proc/self/fd` every 50 ms) and the size of
//! the database directory. Linux only; on another OS the counters read as 0.

use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

// ------------------------------------------------------------------ histogram

/// Values below `2 << SUB_BITS` get a bucket each; above, every power of two is split
/// into `1 << SUB_BITS` buckets, so a bucket is at most 1/64 (1.6%) wide relative to
/// its values. Fixed size, no allocation per record.
const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = (SUB as usize) * (64 - SUB_BITS as usize) + SUB as usize;

/// A log-linear histogram of nanoseconds (HDR-like, 1.6% resolution).
pub struct Hist {
    counts: Box<[u64]>,
    count: u64,
    sum: u128,
    max: u64,
}

impl Hist {
    pub fn new() -> Hist {
        Hist {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            count: 0,
            sum: 0,
            max: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < 2 * SUB {
            return v as usize;
        }
        let shift = 63 - v.leading_zeros() - SUB_BITS; // >= 1
        (SUB * shift as u64 + (v >> shift)) as usize
    }

    /// The largest value that lands in bucket `i`.
    fn upper(i: usize) -> u64 {
        let i = i as u64;
        if i < 2 * SUB {
            return i;
        }
        let shift = i / SUB - 1;
        let m = i - SUB * shift; // in [SUB, 2 * SUB)
        ((m + 1) << shift).wrapping_sub(1)
    }

    #[inline]
    pub fn record(&mut self, nanos: u64) {
        self.counts[Self::index(nanos)] += 1;
        self.count += 1;
        self.sum += nanos as u128;
        self.max = self.max.max(nanos);
    }

    pub fn merge(&mut self, o: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(o.counts.iter()) {
            *a += b;
        }
        self.count += o.count;
        self.sum += o.sum;
        self.max = self.max.max(o.max);
    }

    /// The `q` quantile (0..=1): the upper edge of the bucket holding the value of
    /// rank ceil(q * count), never above the exact maximum.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::upper(i).min(self.max);
            }
        }
        self.max
    }

    /// Nanoseconds: count, mean, p50, p99, p99.9, p99.99 and max (the longest single op).
    pub fn to_json(&self) -> Value {
        if self.count == 0 {
            return Value::Null;
        }
        json!({
            "count": self.count,
            "mean_ns": (self.sum / self.count as u128) as u64,
            "p50_ns": self.quantile(0.5),
            "p99_ns": self.quantile(0.99),
            "p999_ns": self.quantile(0.999),
            "p9999_ns": self.quantile(0.9999),
            "max_ns": self.max,
        })
    }
}

// --------------------------------------------------------------- /proc readers

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The process's `/proc/self/io` counters (every thread, background ones included).
#[derive(Clone, Copy, Default, Debug)]
pub struct Io {
    /// Bytes passed to write-like syscalls.
    pub wchar: u64,
    /// Bytes passed to read-like syscalls.
    pub rchar: u64,
    /// Bytes the process caused to be written to the block device: counted when a page
    /// cache page is dirtied (so it includes writes not yet written back).
    pub write_bytes: u64,
    /// Bytes fetched from the block device (page cache misses).
    pub read_bytes: u64,
    /// Dirty bytes that never reached the device because the file was truncated or
    /// deleted first (e.g. a WAL deleted soon after its memtable was flushed).
    pub cancelled_write_bytes: u64,
}

impl Io {
    pub fn now() -> Io {
        let mut io = Io::default();
        for line in read("/proc/self/io").lines() {
            let mut p = line.split(':');
            let (Some(k), Some(v)) = (p.next(), p.next()) else {
                continue;
            };
            let v = v.trim().parse().unwrap_or(0);
            match k {
                "wchar" => io.wchar = v,
                "rchar" => io.rchar = v,
                "write_bytes" => io.write_bytes = v,
                "read_bytes" => io.read_bytes = v,
                "cancelled_write_bytes" => io.cancelled_write_bytes = v,
                _ => {}
            }
        }
        io
    }

    pub fn since(self, start: Io) -> Io {
        Io {
            wchar: self.wchar.saturating_sub(start.wchar),
            rchar: self.rchar.saturating_sub(start.rchar),
            write_bytes: self.write_bytes.saturating_sub(start.write_bytes),
            read_bytes: self.read_bytes.saturating_sub(start.read_bytes),
            cancelled_write_bytes: self
                .cancelled_write_bytes
                .saturating_sub(start.cancelled_write_bytes),
        }
    }
}

/// A `/proc/self/status` field in kB, as bytes (`VmHWM`, `VmRSS`, ...).
pub fn status_bytes(field: &str) -> u64 {
    read("/proc/self/status")
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// Resets the peak resident set (`VmHWM`) to the current one; false if the kernel
/// refused (then the peaks are since the process started).
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Open descriptors of the process (the listing's own descriptor not counted).
pub fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count().saturating_sub(1) as u64)
        .unwrap_or(0)
}

/// Bytes under `dir`, recursively: (allocated on disk, as `du`; apparent, as
/// `du --apparent-size`).
pub fn dir_bytes(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut disk, mut apparent) = (0, 0);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    for entry in rd.flatten() {
        let Ok(m) = entry.metadata() else { continue }; // deleted meanwhile
        if m.is_dir() {
            let (d, a) = dir_bytes(&entry.path());
            disk += d;
            apparent += a;
        } else {
            disk += m.blocks() * 512;
            apparent += m.len();
        }
    }
    (disk, apparent)
}

// ------------------------------------------------------------------ fd sampler

/// Counts `/proc/self/fd` every 50 ms on its own thread and keeps the maximum since
/// the last `take_max`.
pub struct FdSampler {
    max: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FdSampler {
    pub fn start() -> FdSampler {
        let max = Arc::new(AtomicU64::new(open_fds()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (max, stop) = (max.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    max.fetch_max(open_fds(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        FdSampler {
            max,
            stop,
            thread: Some(thread),
        }
    }

    /// The maximum seen since the previous call (or the start), including a sample
    /// taken now; the next period starts from the current count.
    pub fn take_max(&self) -> u64 {
        let now = open_fds();
        self.max.swap(now, Ordering::Relaxed).max(now)
    }
}

impl Drop for FdSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        let mut prev = None;
        for v in (0..5000u64).chain([1 << 20, (1 << 20) + 12345, u64::MAX / 3, u64::MAX]) {
            let i = Hist::index(v);
            assert!(i < BUCKETS, "{v}");
            assert!(Hist::upper(i) >= v, "{v}");
            if i > 0 {
                assert!(Hist::upper(i - 1) < v, "{v}");
            }
            if v >= 128 {
                assert!((Hist::upper(i) - v) as f64 <= v as f64 / 64.0, "{v}");
            }
            if let Some(p) = prev {
                assert!(i >= p);
            }
            prev = Some(i);
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Hist::new();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        let p99 = h.quantile(0.99);
        assert!(
            (9_900_000..=9_900_000 + 9_900_000 / 64).contains(&p99),
            "{p99}"
        );
        assert!(h.quantile(0.5) <= p99 && p99 <= h.quantile(0.999));
        assert!(h.quantile(0.999) <= h.max);
        assert_eq!(h.quantile(1.0), 10_000_000);
    }
}
