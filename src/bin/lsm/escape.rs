//! Keys and values as command-line text, both ways.
//!
//! Input (`parse`): text with escapes — `\xHH` (one byte), `\\`, `\n`, `\t`, `\r`,
//! `\0`, `\"` — or, with a `0x` prefix, the whole argument as hex (`0x00ff10`).
//!
//! Output (`show`): printable ASCII as it is, a backslash as `\\`, every other byte as
//! `\xHH`. So what `show` prints, `parse` reads back to the same bytes, and output can
//! be pasted into the next command. (A printed value that itself starts with `0x` is
//! written with its `0` escaped, so it is not read back as hex.)

/// The bytes an argument stands for, or what is wrong with it.
pub fn parse(arg: &str) -> Result<Vec<u8>, String> {
    if let Some(hex) = arg.strip_prefix("0x") {
        return parse_hex(hex).ok_or_else(|| format!("{arg:?} is not valid hex after 0x"));
    }
    let mut out = Vec::with_capacity(arg.len());
    let mut bytes = arg.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let escaped = match bytes.next() {
            Some(b'\\') => b'\\',
            Some(b'n') => b'\n',
            Some(b't') => b'\t',
            Some(b'r') => b'\r',
            Some(b'0') => 0,
            Some(b'"') => b'"',
            Some(b'\'') => b'\'',
            Some(b'x') => {
                let (h, l) = (bytes.next(), bytes.next());
                match (h.and_then(hex_digit), l.and_then(hex_digit)) {
                    (Some(h), Some(l)) => h << 4 | l,
                    _ => return Err(format!("{arg:?}: \\x must be followed by two hex digits")),
                }
            }
            Some(other) => {
                return Err(format!(
                    "{arg:?}: unknown escape \\{} (use \\xHH, \\\\, \\n or \\t)",
                    char::from(other).escape_default()
                ))
            }
            None => return Err(format!("{arg:?} ends with a lone backslash")),
        };
        out.push(escaped);
    }
    Ok(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks_exact(2)
        .map(|p| Some(hex_digit(p[0])? << 4 | hex_digit(p[1])?))
        .collect()
}

/// `bytes` as text that [`parse`] reads back to the same bytes.
pub fn show(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\\' => s.push_str("\\\\"),
            // Keep a leading "0x" from being read back as hex.
            b'0' if i == 0 && bytes.get(1) == Some(&b'x') => s.push_str("\\x30"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_itself() {
        assert_eq!(parse("hello world").unwrap(), b"hello world");
        assert_eq!(show(b"hello world"), "hello world");
        assert_eq!(parse("").unwrap(), b"");
        assert_eq!(show(b""), "");
    }

    #[test]
    fn escapes_are_decoded() {
        assert_eq!(parse(r"a\x00b\xFF").unwrap(), b"a\x00b\xff");
        assert_eq!(parse(r"tab\there\nnl").unwrap(), b"tab\there\nnl");
        assert_eq!(parse(r"back\\slash").unwrap(), b"back\\slash");
        assert_eq!(parse(r#"\"q\""#).unwrap(), b"\"q\"");
    }

    #[test]
    fn hex_prefix_takes_the_whole_argument() {
        assert_eq!(parse("0x").unwrap(), b"");
        assert_eq!(parse("0x00ff10").unwrap(), b"\x00\xff\x10");
        assert_eq!(parse("0xABcd").unwrap(), b"\xab\xcd");
        assert!(parse("0x123").is_err());
        assert!(parse("0xzz").is_err());
    }

    #[test]
    fn bad_escapes_are_errors_not_panics() {
        for bad in [r"\", r"a\", r"\x", r"\x1", r"\xg0", r"\q", "\\\u{e9}"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn output_escapes_everything_unprintable() {
        assert_eq!(show(b"a\x00\n\t\xff\\ b"), r"a\x00\x0a\x09\xff\\ b");
        assert_eq!(show("é".as_bytes()), r"\xc3\xa9");
        assert_eq!(show(b"0xff"), r"\x30xff");
        assert_eq!(show(b"10x"), "10x");
    }

    #[test]
    fn every_byte_string_round_trips() {
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(parse(&show(&all)).unwrap(), all);
        for sample in [&b"0x"[..], b"0x00", b"\\x41", b"\\", b"x", b"0", b" lead"] {
            assert_eq!(parse(&show(sample)).unwrap(), sample, "{sample:?}");
        }
    }

    #[test]
    fn non_ascii_text_input_is_kept_as_utf8() {
        assert_eq!(parse("héllo").unwrap(), "héllo".as_bytes());
    }
}
