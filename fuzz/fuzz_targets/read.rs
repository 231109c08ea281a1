//! Raw bytes as a bbolt file. Seed the corpus with testdata/**/*.db.
#![no_main]
mod common;
libfuzzer_sys::fuzz_target!(|data: &[u8]| common::exercise(data));
