//! Hex for keys and values: `?enc=hex` on the HTTP API, and the byte fields of log
//! entries (JSON has no byte strings).

/// Lower-case hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The bytes `s` spells in hex (either case); an error names the first bad position.
pub fn decode(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(format!("hex string has an odd length ({})", b.len()));
    }
    let digit = |i: usize| -> Result<u8, String> {
        match b[i] {
            c @ b'0'..=b'9' => Ok(c - b'0'),
            c @ b'a'..=b'f' => Ok(c - b'a' + 10),
            c @ b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(format!("not a hex digit at position {i}")),
        }
    };
    (0..b.len() / 2)
        .map(|i| Ok(digit(2 * i)? << 4 | digit(2 * i + 1)?))
        .collect()
}

/// `#[serde(with = "hex::serde_bytes")]`: a `Vec<u8>` as a hex string.
pub mod serde_bytes {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    /// Writes `bytes` as a hex string.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode(bytes))
    }

    /// Reads a hex string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::decode(&s).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let s = encode(&all);
        assert_eq!(s.len(), 512);
        assert_eq!(&s[..6], "000102");
        assert_eq!(decode(&s).unwrap(), all);
        assert_eq!(decode(&s.to_uppercase()).unwrap(), all);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(decode("abc").unwrap_err().contains("odd"));
        assert!(decode("0g").unwrap_err().contains("position 1"));
        assert_eq!(decode("").unwrap(), Vec::<u8>::new());
    }
}
