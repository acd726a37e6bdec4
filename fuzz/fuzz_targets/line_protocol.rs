//! cargo-fuzz target `line_protocol`: the body is clio_fuzz_targets::line_protocol.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| clio_fuzz_targets::line_protocol(data));
