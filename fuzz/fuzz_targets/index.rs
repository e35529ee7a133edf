#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowgate::fuzzing::index(data));
