//! Fuzz target `sstable`: see `lsm::fuzz_api::sstable_open_and_scan`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lsm::fuzz_api::sstable_open_and_scan(data);
});
