//! cargo-fuzz target `alpz_frames`: the body is clio_fuzz_targets::alpz_frames.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| clio_fuzz_targets::alpz_frames(data));
