//! cargo-fuzz target `log_records`: the body is clio_fuzz_targets::log_records.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| clio_fuzz_targets::log_records(data));
