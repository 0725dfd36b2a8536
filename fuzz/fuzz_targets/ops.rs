//! Fuzz target `ops`: see `lsm::fuzz_api::ops`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lsm::fuzz_api::ops(data);
});
