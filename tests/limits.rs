//! Keys and values at the edges of what the contract promises.

use lsm::{Lsm, LsmError};

#[test]
fn empty_key_empty_value_large_key_and_large_value() {
    let dir = tempfile::tempdir().unwrap();
    let db = Lsm::open(dir.path().join("db")).unwrap();
    let big_key = vec![7u8; 64 << 10];
    let big_value: Vec<u8> = (0..(64usize << 20)).map(|i| (i % 251) as u8).collect();
    db.put(b"", b"empty key").unwrap();
    db.put(b"empty value", b"").unwrap();
    db.put(&big_key, b"big key").unwrap();
    db.put(b"big value", &big_value).unwrap();
    let check = |db: &Lsm| {
        assert_eq!(db.get(b"").unwrap(), Some(b"empty key".to_vec()));
        assert_eq!(db.get(b"empty value").unwrap(), Some(Vec::new()));
        assert_eq!(db.get(&big_key).unwrap(), Some(b"big key".to_vec()));
        assert!(db.get(b"big value").unwrap() == Some(big_value.clone()));
        let first = db.iter().next().unwrap().unwrap();
        assert_eq!(first.0, b"");
    };
    check(&db);
    db.flush().unwrap();
    check(&db);
    db.close().unwrap();
    let db = Lsm::open(dir.path().join("db")).unwrap();
    check(&db);
    db.verify().unwrap();
}

#[test]
fn oversized_keys_and_bad_ranges_are_invalid_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let db = Lsm::open(dir.path().join("db")).unwrap();
    let huge = vec![0u8; lsm::batch::MAX_KEY_LEN + 1];
    assert!(matches!(
        db.put(&huge, b"v"),
        Err(LsmError::InvalidArgument(_))
    ));
    assert!(matches!(
        db.delete_range(b"b", b"a"),
        Err(LsmError::InvalidArgument(_))
    ));
    // Nothing was written by the failed calls.
    assert_eq!(db.iter().count(), 0);
    // The SPEC's range form compiles and works.
    db.put(b"b", b"1").unwrap();
    let n = db.range(b"a".as_slice()..b"m".as_slice()).count();
    assert_eq!(n, 1);
}
