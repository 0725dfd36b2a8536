//! Little-endian fixed-width and LEB128 variable-width integers, shared by every
//! on-disk format. Decoders never panic: they return `None` on truncated input.

/// Appends `v` as a LEB128 varint (1 to 10 bytes).
#[inline]
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Decodes a varint at the start of `buf`: the value and the bytes it took.
#[inline]
pub fn get_varint(buf: &[u8]) -> Option<(u64, usize)> {
    // Most varints in blocks (key and value lengths, shared prefixes) are one byte;
    // deciding that before entering the loop keeps the common case branch-light.
    match buf.first() {
        Some(&b) if b < 0x80 => Some((u64::from(b), 1)),
        Some(_) => get_varint_long(buf),
        None => None,
    }
}

#[inline(never)]
fn get_varint_long(buf: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Appends a varint length followed by the bytes.
#[inline]
pub fn put_length_prefixed(out: &mut Vec<u8>, data: &[u8]) {
    put_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// A forward reader over a byte slice for decoders.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads `buf` from its start.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    /// Bytes consumed so far.
    pub fn pos(&self) -> usize {
        self.pos
    }
    /// True when everything was consumed.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }
    /// A little-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        self.bytes(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A little-endian u64.
    pub fn u64(&mut self) -> Option<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }
    /// A varint.
    pub fn varint(&mut self) -> Option<u64> {
        let (v, n) = get_varint(self.buf.get(self.pos..)?)?;
        self.pos += n;
        Some(v)
    }
    /// A varint length and that many bytes.
    pub fn length_prefixed(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.varint()?).ok()?;
        self.bytes(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_truncation() {
        for v in [
            0u64,
            1,
            127,
            128,
            255,
            300,
            16_383,
            16_384,
            u32::MAX as u64,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(get_varint(&b), Some((v, b.len())));
            assert_eq!(get_varint(&b[..b.len() - 1]), None);
            b.push(0x55);
            assert_eq!(get_varint(&b), Some((v, b.len() - 1)), "a trailing byte");
        }
        assert_eq!(get_varint(&[]), None);
        assert_eq!(get_varint(&[0x80; 11]), None, "more than ten bytes");
    }

    #[test]
    fn reader_stops_at_the_end() {
        let mut b = Vec::new();
        put_length_prefixed(&mut b, b"abc");
        b.extend_from_slice(&7u32.to_le_bytes());
        let mut r = Reader::new(&b);
        assert_eq!(r.length_prefixed(), Some(&b"abc"[..]));
        assert_eq!(r.u32(), Some(7));
        assert!(r.is_empty());
        assert_eq!(r.u8(), None);
    }
}
