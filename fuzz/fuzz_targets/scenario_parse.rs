//! Arbitrary bytes into the scenario parser: it must never panic, its errors must point
//! inside the text, and what it accepts must keep the model's promises
//! (`gauntlet_fuzz::check_scenario`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // `scenario::load` refuses non-UTF-8 before parsing; `parse` takes `&str`.
    if let Ok(text) = std::str::from_utf8(data) {
        gauntlet_fuzz::scenario(text);
    }
});
