//! Fuzz target `block`: see `lsm::fuzz_api::block_decoders`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lsm::fuzz_api::block_decoders(data);
});
