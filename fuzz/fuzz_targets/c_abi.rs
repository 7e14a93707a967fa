//! libFuzzer target over the whole C ABI: see `src/lib.rs` for the decoding and the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tensorblas_fuzz::run(data));
