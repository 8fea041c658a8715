//! The profile-guided build (`scripts/build-pgo.sh`), built for real: the script must finish,
//! and the binary it builds must give every output the ordinary build gives, byte for byte
//! (a profile changes how the compiler lays code out, never what it computes), as
//! `scripts/same-outputs.py` compares them.
//!
//! A test binary of its own, so that its two release builds run after the integration tests
//! rather than beside their timed ones. It runs when `OFFSIM_PGO_TEST=1` (`.ci/run` sets it;
//! the builds take about four minutes on two cores, too long for every `cargo test` at a
//! desk) and `llvm-profdata` of rustc's LLVM is there (`rustup component add llvm-tools`,
//! which `.ci/run` does); otherwise it prints `SKIP` and passes. It builds into the
//! workspace's `target/pgo/` (as a user running the script would), so a second run
//! rebuilds only what changed.

#[path = "../../traces/tests/skiplog.rs"]
mod skiplog;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The PGO build, or `None` (after a `SKIP`) when `OFFSIM_PGO_TEST` is not set or this
/// machine lacks `llvm-profdata`.
fn build() -> Option<PathBuf> {
    if std::env::var_os("OFFSIM_PGO_TEST").is_none_or(|v| v.is_empty() || v == "0") {
        skiplog::skip("the PGO build (two release builds): set OFFSIM_PGO_TEST=1");
        return None;
    }
    let o = Command::new("bash")
        .arg(repo().join("scripts/build-pgo.sh"))
        .output()
        .expect("run bash");
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.code() == Some(2) && err.contains("needs llvm-profdata") {
        skiplog::skip(&format!("PGO build: {}", err.trim()));
        return None;
    }
    assert!(
        o.status.success(),
        "scripts/build-pgo.sh: {:?}\n{err}",
        o.status
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { repo().join(t) })
        .unwrap_or_else(|| repo().join("target"));
    let bin = target.join("pgo/offsim");
    assert!(bin.is_file(), "{} missing after the script", bin.display());
    Some(bin)
}

#[test]
fn pgo_build_gives_the_same_outputs() {
    let Some(pgo) = build() else {
        return;
    };
    let plain = PathBuf::from(env!("CARGO_BIN_EXE_offsim"));
    // Every output `scripts/same-outputs.py` compares (generated captures of every profile
    // at a seed the training set did not use, the capture variants and fetched captures,
    // every bundled ruleset, scenario and configuration), and the oracle's richest ruleset.
    let o = match Command::new("python3")
        .current_dir(repo())
        .arg("scripts/same-outputs.py")
        .args([&plain, &pgo])
        .args(["--packets", "30000"])
        .args(["--ruleset", "sim/tests/data/oracle/rich-nocounters.nft"])
        .args(["--capture", "sim/tests/data/oracle/edge.pcap"])
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            skiplog::skip(&format!("PGO outputs: python3 not runnable ({e})"));
            return;
        }
    };
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "the PGO build's outputs differ from the plain build's:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.trim_end().ends_with(", differing 0"), "{out}");
}
