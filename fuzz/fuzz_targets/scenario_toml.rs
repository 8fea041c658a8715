//! Any byte string as a scenario file: loading, validating and expanding the sweep grid
//! never panic (nothing is run: that would read traces and rulesets).
#![no_main]
use libfuzzer_sys::fuzz_target;
use offsim::scenario::ScenarioFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(f) = ScenarioFile::from_text(std::path::Path::new("fuzz.toml"), text) {
        let _ = f.resolve();
        let _ = offsim::sweep::grid(&f);
    }
});
