//! Arbitrary text into the gate parser: it must never panic, error columns must lie in
//! 1..=chars+1, and an accepted gate must be finite and re-parse to itself
//! (`gauntlet_fuzz::check_gate`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Bytes, not `&str`, so that a corpus file or reproducer is exactly the gate's text.
    if let Ok(text) = std::str::from_utf8(data) {
        gauntlet_fuzz::gate(text);
    }
});
