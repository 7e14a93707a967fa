//! libFuzzer target over the `.npy` reader of the CLIs (`tensorblas-npy`): see its `fuzz_check`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tensorblas_npy::fuzz_check(data));
