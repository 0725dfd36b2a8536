//! Fuzz target `key_cache`: see `lsm::fuzz_api::key_cache_open`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lsm::fuzz_api::key_cache_open(data);
});
