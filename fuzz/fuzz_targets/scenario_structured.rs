//! Scenarios built field by field (`gauntlet_fuzz::structured`) and written as YAML, so that
//! most inputs get past the YAML scanner and into the validator; same oracle as
//! `scenario_parse`. Set `GAUNTLET_FUZZ_SHOW=1` to print each generated file, e.g. when
//! re-running a crash: `cargo fuzz run scenario_structured <artifact>`.
#![no_main]

use libfuzzer_sys::fuzz_target;

use gauntlet_fuzz::structured::Spec;

fuzz_target!(|spec: Spec| {
    let text = spec.yaml();
    if std::env::var_os("GAUNTLET_FUZZ_SHOW").is_some() {
        eprintln!("--- generated scenario ---\n{text}--- end ---");
    }
    gauntlet_fuzz::scenario(&text);
});
