//! `Tree`: one keyspace's part of the engine, its memtables and levels.
//!
//! Every keyspace has its own memtables, levels and compactions, under its own
//! options; all of them share the WAL, the sequence numbers, the manifest, the caches
//! and the background threads of the database. The trees of a database are found by
//! id in an immutable map that is replaced whole when a keyspace is created or
//! dropped (both rare), so the write and read paths look one up without a lock.

use super::SvCell;
use crate::config::{Compression, Config};
use crate::error::{LsmError, Result};
use crate::sstable::TableOptions;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// One keyspace's memtables and tables.
pub(crate) struct Tree {
    /// The manifest's id for it (0 is `"default"`).
    pub id: u32,
    pub name: String,
    /// The database's options with the keyspace's own applied.
    pub config: Config,
    pub sv: SvCell,
    /// Set (under the WAL lock) when the keyspace is dropped: no write goes into it
    /// any more, and its background jobs log nothing.
    dropped: AtomicBool,
    /// The WAL rotation during which its memtable was created (see
    /// `DbInner::switch_memtables`).
    pub mem_epoch: AtomicU64,
    /// The instance number of the database it belongs to (`DbInner::instance`).
    pub db: u64,
}

impl Tree {
    pub fn new(id: u32, name: String, config: Config, sv: SvCell, epoch: u64, db: u64) -> Tree {
        Tree {
            db,
            id,
            name,
            config,
            sv,
            dropped: AtomicBool::new(false),
            mem_epoch: AtomicU64::new(epoch),
        }
    }

    pub fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::Acquire)
    }

    pub fn mark_dropped(&self) {
        self.dropped.store(true, Ordering::Release);
    }

    /// `InvalidArgument` once the keyspace is dropped.
    pub fn check_live(&self) -> Result<()> {
        if self.is_dropped() {
            Err(LsmError::InvalidArgument(format!(
                "keyspace {:?} was dropped",
                self.name
            )))
        } else {
            Ok(())
        }
    }

    /// True when its memtable is at its own limits.
    pub fn mem_full(&self) -> bool {
        let m = &self.config.memtable;
        let sv = self.sv.load();
        sv.mem.len() >= m.max_entries || sv.mem.approximate_bytes() >= m.max_bytes
    }

    pub fn table_options(&self, level: usize) -> TableOptions {
        table_options(&self.config, level)
    }
}

/// How the tables that a keyspace configured by `c` writes to `level` are built.
pub fn table_options(c: &Config, level: usize) -> TableOptions {
    let s = &c.sstable;
    TableOptions {
        block_size: s.block_size,
        bloom_bits_per_key: s.bloom_bits_per_key,
        compression: if level >= s.compression_from_level {
            s.compression
        } else {
            Compression::None
        },
        metadata_block_size: s.metadata_block_size,
    }
}

/// The budget a keyspace's memtable is sized for (its filter and arena blocks): its
/// own `memtable.max_bytes`, or its share of `memtable.total_bytes` among `keyspaces`
/// when that is smaller, so a hundred keyspaces do not hold a hundred full-size
/// filters.
pub fn memtable_budget(own: usize, total: usize, keyspaces: usize) -> usize {
    if total == 0 {
        own
    } else {
        own.min(total / keyspaces.max(1))
    }
}

/// The live trees by id.
pub(crate) type TreeMap = BTreeMap<u32, Arc<Tree>>;

/// The options a keyspace may set for itself; the others are the database's.
pub const KEYSPACE_KEYS: &[&str] = &[
    "memtable.max_entries",
    "memtable.max_bytes",
    "memtable.max_immutable",
    "sstable.block_size",
    "sstable.bloom_bits_per_key",
    "sstable.compression",
    "sstable.compression_from_level",
    "sstable.metadata_block_size",
    "compaction.level0_file_trigger",
    "compaction.level0_slowdown_files",
    "compaction.level0_stop_files",
    "compaction.level_fanout",
    "compaction.base_level_bytes",
    "compaction.target_file_bytes",
    "compaction.max_subcompactions",
    "merge.operator",
    "ttl",
];

/// `name` if it is a valid keyspace name (1-64 bytes of `[A-Za-z0-9_.-]`), else
/// `InvalidArgument` saying why.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(LsmError::InvalidArgument(format!(
            "invalid keyspace name {name:?}: use 1 to 64 characters of A-Z, a-z, 0-9, '_', '.' and '-'"
        )))
    }
}

/// `base` with a keyspace's `options` applied; `Config` error for a key a keyspace
/// may not set or a bad value.
pub fn keyspace_config(base: &Config, options: &[(String, String)]) -> Result<Config> {
    let mut c = base.clone();
    for (k, v) in options {
        if !KEYSPACE_KEYS.contains(&k.as_str()) {
            return Err(LsmError::config(
                k,
                format!(
                    "not a per-keyspace option (those are: {})",
                    KEYSPACE_KEYS.join(", ")
                ),
            ));
        }
        c.set(k, v)?;
    }
    c.validate()?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_contract() {
        for good in ["a", "users", "logs.2026-12", "A_b-c.d", &"x".repeat(64)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "é", "a/b", "a\0", &"x".repeat(65)] {
            assert!(
                matches!(check_name(bad), Err(LsmError::InvalidArgument(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn keyspace_options_apply_over_the_database_and_others_are_refused() {
        let base = Config::with_root("db");
        let c = keyspace_config(&base, &[("sstable.compression".into(), "none".into())]).unwrap();
        assert_eq!(c.sstable.compression, crate::config::Compression::None);
        assert_eq!(c.memtable.max_bytes, base.memtable.max_bytes);
        assert!(keyspace_config(&base, &[("wal.sync".into(), "always".into())]).is_err());
        assert!(keyspace_config(&base, &[("sstable.block_size".into(), "x".into())]).is_err());
    }
}
