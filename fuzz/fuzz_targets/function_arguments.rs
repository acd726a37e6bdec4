//! cargo-fuzz target `function_arguments`: the body is clio_fuzz_targets::function_arguments.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| clio_fuzz_targets::function_arguments(data));
