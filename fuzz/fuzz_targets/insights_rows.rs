#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowgate::fuzzing::insights_rows(data));
