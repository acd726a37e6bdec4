//! cargo-fuzz target `chunk_decoding`: the body is clio_fuzz_targets::chunk_decoding.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| clio_fuzz_targets::chunk_decoding(data));
