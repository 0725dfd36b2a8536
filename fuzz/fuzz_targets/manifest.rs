//! Fuzz target `manifest`: see `lsm::fuzz_api::manifest_open`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lsm::fuzz_api::manifest_open(data);
});
