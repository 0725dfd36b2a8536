//! Caches: open tables by file number, SSTable blocks by bytes, and hot keys (the
//! original design's `Cache`).

mod block_cache;
mod key_cache;
mod table_cache;

pub use block_cache::BlockCache;
pub use key_cache::Cache;
pub use table_cache::TableCache;
