//! Any byte string as an `nft -j list ruleset` document.
#![no_main]
use libfuzzer_sys::fuzz_target;
use offsim_nft::{LoadOptions, Ruleset};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let opts = LoadOptions {
        allow_includes: false,
        ..Default::default()
    };
    let _ = Ruleset::from_str(&format!("{{\"nftables\": {text}"), "fuzz.json", &opts);
    let _ = Ruleset::from_str(text, "fuzz.json", &opts);
});
