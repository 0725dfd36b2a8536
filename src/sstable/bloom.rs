//! A bloom filter over user keys, probed with the 64-bit [`crate::key::hash`] a lookup
//! computes once for all tables.
//!
//! ```text
//! filter := bits[m / 8] k:u8        (m >= 64, a multiple of 8)
//! ```
//!
//! Probe `i` (of `k`) tests bit `(h1 + i * h2) mod m`, with `h1` and `h2` the low and
//! high halves of the hash (double hashing: k probes from one hash computation).

/// Largest probe count the writer produces; a larger stored `k` is corrupt.
const MAX_PROBES: u8 = 30;

/// Builds the encoded filter for `hashes` with `bits_per_key` bits per key.
pub fn build(hashes: &[u64], bits_per_key: u32) -> Vec<u8> {
    // k = bits_per_key * ln 2 minimises the false-positive rate.
    let k = ((bits_per_key as f64) * std::f64::consts::LN_2).round() as u64;
    let k = k.clamp(1, MAX_PROBES as u64) as u8;
    let bits = (hashes.len() as u64)
        .saturating_mul(bits_per_key as u64)
        .max(64)
        .div_ceil(8)
        * 8;
    let mut out = vec![0u8; (bits / 8) as usize];
    for &h in hashes {
        let (mut h1, h2) = split(h);
        for _ in 0..k {
            let bit = h1 % bits;
            // `bit < bits = 8 * out.len()`, so the byte always exists.
            if let Some(byte) = out.get_mut((bit / 8) as usize) {
                *byte |= 1 << (bit % 8);
            }
            h1 = h1.wrapping_add(h2);
        }
    }
    out.push(k);
    out
}

fn split(h: u64) -> (u64, u64) {
    let h1 = h & 0xffff_ffff;
    // An odd step never degenerates to probing one bit k times.
    let h2 = (h >> 32) | 1;
    (h1, h2)
}

/// A checked filter, ready to probe.
#[derive(Debug, Clone)]
pub struct BloomFilter {
    data: Vec<u8>,
    k: u8,
}

impl BloomFilter {
    /// Checks and wraps an encoded filter.
    pub fn decode(mut data: Vec<u8>) -> Result<BloomFilter, &'static str> {
        let k = data.pop().ok_or("empty bloom filter")?;
        if data.len() < 8 {
            return Err("bloom filter too short");
        }
        if k == 0 || k > MAX_PROBES {
            return Err("bad bloom filter probe count");
        }
        Ok(BloomFilter { data, k })
    }

    /// Bytes of memory the decoded filter holds (what the block cache charges for it).
    pub fn charge(&self) -> usize {
        std::mem::size_of::<BloomFilter>() + self.data.capacity()
    }

    /// False only when no key with this hash was added.
    #[inline]
    pub fn may_contain(&self, hash: u64) -> bool {
        let bits = self.data.len() as u64 * 8;
        let (mut h1, h2) = split(hash);
        for _ in 0..self.k {
            let bit = h1 % bits;
            match self.data.get((bit / 8) as usize) {
                Some(b) if b & (1 << (bit % 8)) != 0 => {}
                _ => return false,
            }
            h1 = h1.wrapping_add(h2);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::hash;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let keys: Vec<Vec<u8>> = (0..10_000u32)
            .map(|i| format!("k{i}").into_bytes())
            .collect();
        let hashes: Vec<u64> = keys.iter().map(|k| hash(k)).collect();
        let f = BloomFilter::decode(build(&hashes, 10)).unwrap();
        assert!(hashes.iter().all(|&h| f.may_contain(h)));
        let fp = (0..10_000u32)
            .filter(|i| f.may_contain(hash(format!("x{i}").as_bytes())))
            .count();
        assert!(fp < 300, "false positives {fp}");
    }

    #[test]
    fn tiny_and_empty_filters_work() {
        let f = BloomFilter::decode(build(&[], 10)).unwrap();
        assert!(!f.may_contain(hash(b"a")));
        let f = BloomFilter::decode(build(&[hash(b"a")], 1)).unwrap();
        assert!(f.may_contain(hash(b"a")));
    }

    #[test]
    fn garbage_decodes_never_panic() {
        assert!(BloomFilter::decode(vec![]).is_err());
        assert!(BloomFilter::decode(vec![0xff; 9]).is_err());
        assert!(BloomFilter::decode(vec![0; 3]).is_err());
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for len in 0..64 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            if let Ok(f) = BloomFilter::decode(data) {
                f.may_contain(x);
            }
        }
    }
}
