//! Any byte string as an `nft list ruleset` text: the loader ends with a ruleset or an
//! error, never a panic (includes off: the fuzzer must not read the file system).
#![no_main]
use libfuzzer_sys::fuzz_target;
use offsim_nft::{LoadOptions, Ruleset};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Text, even when it starts like JSON.
    let text = format!(" {text}").replacen(" {", " table inet x {", 1);
    let opts = LoadOptions {
        allow_includes: false,
        ..Default::default()
    };
    let _ = Ruleset::from_str(&text, "fuzz.nft", &opts);
});
