//! Fuzz target `wal_reader`: see `lsm::fuzz_api::wal_replay`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lsm::fuzz_api::wal_replay(data);
});
