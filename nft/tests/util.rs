//! Helpers shared by the test modules: where the nftables corpus is, and loading a ruleset
//! that must load.

use std::path::PathBuf;

use offsim_nft::{LoadOptions, Ruleset};

/// The nftables corpus: `$OFFSIM_NFT_CORPUS`, else `tests/data/nft-corpus`.
fn corpus_path() -> PathBuf {
    std::env::var("OFFSIM_NFT_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/nft-corpus"
            ))
        })
}

/// The corpus (with `sub`, that folder of it) when it is there; otherwise says that the
/// test skips and returns `None`.
pub fn corpus_dir(sub: Option<&str>) -> Option<PathBuf> {
    let p = corpus_path();
    let d = match sub {
        Some(s) => p.join(s),
        None => p.clone(),
    };
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("nft corpus not found at {}; skipping", p.display());
        None
    }
}

/// Loads a ruleset that must load (named `name` in messages); panics with the error.
pub fn load(text: &str, name: &str) -> Ruleset {
    Ruleset::from_str(text, name, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// Each text must fail to load (as `bad.nft`) with an error that contains its string.
pub fn assert_rejected(cases: &[(&str, &str)]) {
    for (bad, want) in cases {
        let e = Ruleset::from_str(bad, "bad.nft", &LoadOptions::default()).unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
    }
}
