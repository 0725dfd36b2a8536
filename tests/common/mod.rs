//! Shared by the durability tests: a deterministic random history of operations, a
//! reference model (a `BTreeMap`) to replay it on, and helpers that read a database back
//! and compare it with the model.
#![allow(dead_code)]

use lsm::{Keyspace, Lsm, WriteBatch};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

/// The whole content of a database: key -> value.
pub type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// One acknowledged-or-not operation of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    DeleteRange(Vec<u8>, Vec<u8>),
    Batch(Vec<Op>),
    /// Puts and deletes committed by one transaction, which first reads every key it
    /// writes (the writer is alone, so it never conflicts).
    Tx(Vec<Op>),
    /// A put, delete or range delete in the keyspace [`SECOND`] (alone, in a batch
    /// or in a transaction). The model keeps its keys under the prefix
    /// `SECOND ++ "/"`, so one map describes both keyspaces.
    In(Box<Op>),
}

/// The second keyspace of the histories.
pub const SECOND: &str = "ks1";

/// `k` as the model holds it for the keyspace [`SECOND`].
pub fn in_second(k: &[u8]) -> Vec<u8> {
    let mut out = format!("{SECOND}/").into_bytes();
    out.extend_from_slice(k);
    out
}

/// Key number `n`.
pub fn key(n: u32) -> Vec<u8> {
    format!("k{n:05}").into_bytes()
}

fn single_op(rng: &mut StdRng, index: u64, sub: usize, nkeys: u32) -> Op {
    let op = default_op(rng, index, sub, nkeys);
    if rng.random_range(0..100) < 25 {
        Op::In(Box::new(op))
    } else {
        op
    }
}

fn default_op(rng: &mut StdRng, index: u64, sub: usize, nkeys: u32) -> Op {
    let r = rng.random_range(0..100);
    let k = rng.random_range(0..nkeys);
    if r < 65 {
        // The value names the operation that wrote it, so a stale value is visible.
        let pad = rng.random_range(0..48);
        let mut v = format!("op{index}.{sub}:").into_bytes();
        v.extend(std::iter::repeat_n(b'a' + (index % 26) as u8, pad));
        Op::Put(key(k), v)
    } else if r < 92 {
        Op::Delete(key(k))
    } else {
        let width = rng.random_range(1..16);
        Op::DeleteRange(key(k), key(k + width))
    }
}

/// Operation `index` of the history `seed`: a pure function of both, so a process can
/// resume the history anywhere.
pub fn gen_op(seed: u64, index: u64, nkeys: u32) -> Op {
    let mut rng = StdRng::seed_from_u64(
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03),
    );
    let r = rng.random_range(0..100);
    if r < 12 {
        let n = rng.random_range(2..7);
        Op::Batch(
            (0..n)
                .map(|s| single_op(&mut rng, index, s, nkeys))
                .collect(),
        )
    } else if r < 20 {
        let n = rng.random_range(1..6);
        Op::Tx(
            (0..n)
                .map(|s| match single_op(&mut rng, index, s, nkeys) {
                    // A transaction has no range deletion: delete its first key.
                    Op::DeleteRange(k, _) => Op::Delete(k),
                    Op::In(op) => match *op {
                        Op::DeleteRange(k, _) => Op::In(Box::new(Op::Delete(k))),
                        op => Op::In(Box::new(op)),
                    },
                    op => op,
                })
                .collect(),
        )
    } else {
        single_op(&mut rng, index, 0, nkeys)
    }
}

/// Applies `op` to the model.
pub fn apply(state: &mut State, op: &Op) {
    match op {
        Op::Put(k, v) => {
            state.insert(k.clone(), v.clone());
        }
        Op::Delete(k) => {
            state.remove(k);
        }
        Op::DeleteRange(s, e) => {
            let doomed: Vec<Vec<u8>> = state
                .range(s.clone()..e.clone())
                .map(|(k, _)| k.clone())
                .collect();
            for k in doomed {
                state.remove(&k);
            }
        }
        Op::Batch(ops) | Op::Tx(ops) => {
            for o in ops {
                apply(state, o);
            }
        }
        Op::In(op) => apply(state, &prefixed(op)),
    }
}

/// `op` (of the keyspace [`SECOND`]) on the model's prefixed keys.
fn prefixed(op: &Op) -> Op {
    match op {
        Op::Put(k, v) => Op::Put(in_second(k), v.clone()),
        Op::Delete(k) => Op::Delete(in_second(k)),
        Op::DeleteRange(s, e) => Op::DeleteRange(in_second(s), in_second(e)),
        other => panic!("not a keyspace op: {other:?}"),
    }
}

fn add_to_batch(b: &mut WriteBatch, ks: &Keyspace, op: &Op) {
    match op {
        Op::Put(k, v) => {
            b.put(k, v);
        }
        Op::Delete(k) => {
            b.delete(k);
        }
        Op::DeleteRange(s, e) => {
            b.delete_range(s, e);
        }
        Op::Batch(ops) | Op::Tx(ops) => {
            for o in ops {
                add_to_batch(b, ks, o);
            }
        }
        Op::In(op) => match &**op {
            Op::Put(k, v) => {
                b.put_in(ks, k, v);
            }
            Op::Delete(k) => {
                b.delete_in(ks, k);
            }
            Op::DeleteRange(s, e) => {
                b.delete_range_in(ks, s, e);
            }
            other => panic!("not a keyspace op: {other:?}"),
        },
    }
}

/// The `WriteBatch` holding `op` (`ks` is the keyspace [`SECOND`] of the database
/// it is for).
pub fn to_batch(ks: &Keyspace, op: &Op) -> WriteBatch {
    let mut b = WriteBatch::new();
    add_to_batch(&mut b, ks, op);
    b
}

/// The keyspace [`SECOND`] of `db` (created on first use).
pub fn second(db: &Lsm) -> Keyspace {
    db.keyspace(SECOND).expect("open the second keyspace")
}

/// Performs `op` on `db` through the matching public call.
pub fn exec(db: &Lsm, op: &Op) -> lsm::Result<()> {
    match op {
        Op::Put(k, v) => db.put(k, v),
        Op::Delete(k) => db.delete(k),
        Op::DeleteRange(s, e) => db.delete_range(s, e),
        Op::Batch(_) => db.write(to_batch(&db.keyspace(SECOND)?, op)),
        Op::In(inner) => {
            let ks = db.keyspace(SECOND)?;
            match &**inner {
                Op::Put(k, v) => ks.put(k, v),
                Op::Delete(k) => ks.delete(k),
                Op::DeleteRange(s, e) => ks.delete_range(s, e),
                other => panic!("not a keyspace op: {other:?}"),
            }
        }
        Op::Tx(ops) => {
            let ks = db.keyspace(SECOND)?;
            let mut tx = db.transaction();
            for o in ops {
                match o {
                    Op::Put(k, v) => {
                        tx.get(k)?;
                        tx.put(k, v);
                    }
                    Op::Delete(k) => {
                        tx.get(k)?;
                        tx.delete(k);
                    }
                    Op::In(inner) => match &**inner {
                        Op::Put(k, v) => {
                            tx.get_in(&ks, k)?;
                            tx.put_in(&ks, k, v);
                        }
                        Op::Delete(k) => {
                            tx.get_in(&ks, k)?;
                            tx.delete_in(&ks, k);
                        }
                        other => panic!("not a transaction op: {other:?}"),
                    },
                    other => panic!("not a transaction op: {other:?}"),
                }
            }
            tx.commit()
        }
    }
}

/// Everything `db.iter()` yields, checking that keys ascend strictly and that the
/// reverse iteration yields the same items backwards.
pub fn contents(db: &Lsm) -> State {
    let mut out = contents_of(db.iter(), db.iter().rev());
    let ks = second(db);
    for (k, v) in contents_of(ks.iter(), ks.iter().rev()) {
        out.insert(in_second(&k), v);
    }
    out
}

/// What a forward and a reverse iterator over the same view yield, checked
/// against each other.
fn contents_of(fwd_iter: lsm::Iter, rev_iter: std::iter::Rev<lsm::Iter>) -> State {
    let mut out = State::new();
    let mut last: Option<Vec<u8>> = None;
    for item in fwd_iter {
        let (k, v) = item.expect("iteration failed");
        if let Some(l) = &last {
            assert!(*l < k, "iteration not strictly ascending: {l:?} then {k:?}");
        }
        last = Some(k.clone());
        out.insert(k, v);
    }
    let rev: Vec<(Vec<u8>, Vec<u8>)> = rev_iter
        .map(|r| r.expect("reverse iteration failed"))
        .collect();
    let fwd: Vec<(Vec<u8>, Vec<u8>)> = out
        .iter()
        .rev()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert!(
        rev == fwd,
        "reverse iteration differs from forward iteration"
    );
    out
}

/// Asserts that `get` of every key number below `nkeys` (and every key of `state`)
/// agrees with `state`.
pub fn assert_gets(db: &Lsm, state: &State, nkeys: u32) {
    for n in 0..nkeys + 16 {
        let k = key(n);
        let got = db.get(&k).expect("get failed");
        assert_eq!(
            got.as_deref(),
            state.get(&k).map(Vec::as_slice),
            "get({}) disagrees with the model",
            String::from_utf8_lossy(&k)
        );
    }
    let ks = second(db);
    let prefix = in_second(b"");
    for (k, v) in state {
        let got = match k.strip_prefix(prefix.as_slice()) {
            Some(k) => ks.get(k),
            None => db.get(k),
        };
        assert_eq!(got.expect("get failed").as_ref(), Some(v));
    }
    for n in 0..nkeys + 16 {
        let k = key(n);
        assert_eq!(
            ks.get(&k).expect("get failed").as_deref(),
            state.get(&in_second(&k)).map(Vec::as_slice),
            "get in {SECOND} of {} disagrees with the model",
            String::from_utf8_lossy(&k)
        );
    }
}

/// Of the states `base`, `base + ops[0]`, `base + ops[0] + ops[1]`, ..., the number of
/// operations of the first one equal to `got`.
pub fn find_prefix(got: &State, base: &State, ops: &[Op]) -> Option<usize> {
    let mut cur = base.clone();
    if &cur == got {
        return Some(0);
    }
    for (i, op) in ops.iter().enumerate() {
        apply(&mut cur, op);
        if &cur == got {
            return Some(i + 1);
        }
    }
    None
}

/// A short description of how `got` differs from `want`, for failure messages.
pub fn describe_diff(got: &State, want: &State) -> String {
    let mut lines = Vec::new();
    for (k, v) in want {
        match got.get(k) {
            None => lines.push(format!("missing {}", String::from_utf8_lossy(k))),
            Some(g) if g != v => lines.push(format!(
                "{}: got {:?}, want {:?}",
                String::from_utf8_lossy(k),
                String::from_utf8_lossy(g),
                String::from_utf8_lossy(v)
            )),
            _ => {}
        }
    }
    for k in got.keys() {
        if !want.contains_key(k) {
            lines.push(format!("unexpected {}", String::from_utf8_lossy(k)));
        }
    }
    let n = lines.len();
    lines.truncate(12);
    format!("{n} differences: {}", lines.join("; "))
}
