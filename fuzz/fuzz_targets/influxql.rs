//! cargo-fuzz target `influxql`: the body is clio_fuzz_targets::influxql.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| clio_fuzz_targets::influxql(data));
