//! Configuration: `Config` and its sections, loaded from `config.toml` or built in code.

/// Block compression of SSTable data blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Blocks are stored as they are.
    #[default]
    None,
    /// LZ4 block compression.
    Lz4,
    /// Zstandard, level 3.
    Zstd,
}

/// What a damaged WAL means at open (`wal.recovery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// A torn record at the very end is dropped; damage followed by valid records is a
    /// `Corruption` error.
    #[default]
    TolerateTail,
    /// Any damage is a `Corruption` error.
    Absolute,
    /// Damaged records are skipped (and logged); the database opens with the rest.
    Salvage,
}
