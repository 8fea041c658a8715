//! The profile-guided build (`scripts/build-pgo.sh`), built for real: the script must finish,
//! and the binary it builds must give every output the ordinary build gives, byte for byte
//! (a profile changes how the compiler lays code out, never what it computes).
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

/// Runs `bin` with `args` from the repository's top directory (paths in reports relative),
/// with no commit or date recorded; returns the exit code and standard output.
fn run(bin: &Path, args: &[&str]) -> (i32, Vec<u8>) {
    let o = Command::new(bin)
        .current_dir(repo())
        .env("OFFSIM_COMMIT", "")
        .env("OFFSIM_DATE", "")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{} {args:?}: {:?}\n{}",
        bin.display(),
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code().unwrap_or(-1), o.stdout)
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
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("offsim-pgo");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let s = |name: &str| scratch.join(name).to_str().unwrap().to_string();

    // A capture the training set did not see (its seed), written by each build.
    for (who, bin) in [("plain", &plain), ("pgo", &pgo)] {
        let out = s(&format!("{who}.pcap"));
        let args = ["trace", "gen", "--profile", "enterprise", "--seed", "77"];
        run(
            bin,
            &[&args[..], &["--packets", "30000", "-q", "-o", &out]].concat(),
        );
    }
    let plain_pcap = std::fs::read(s("plain.pcap")).unwrap();
    assert!(
        plain_pcap == std::fs::read(s("pgo.pcap")).unwrap(),
        "trace gen differs"
    );
    let pcap = s("plain.pcap");
    let checks: Vec<Vec<&str>> = vec![
        vec!["trace", "info", &pcap],
        vec!["trace", "info", "traces/data/variants/trace.pcapng"],
        vec![
            "rules",
            "eval",
            "scenarios/rulesets/enterprise-fw4.nft",
            &pcap,
            "--json",
        ],
        vec![
            "rules",
            "eval",
            "sim/tests/data/oracle/rich-nocounters.nft",
            "sim/tests/data/oracle/edge.pcap",
            "--json",
            "--sides",
            "single",
        ],
    ];
    for args in &checks {
        let a = run(&plain, args);
        let b = run(&pgo, args);
        assert!(a == b, "offsim {args:?}: the PGO build's output differs");
    }
    // The main job, both builds: report.json byte for byte.
    for (who, bin) in [("plain", &plain), ("pgo", &pgo)] {
        run(
            bin,
            &["run", "scenarios/default.toml", "-q", "--out", &s(who)],
        );
    }
    let report = |who: &str| std::fs::read(scratch.join(who).join("report.json")).unwrap();
    assert!(
        report("plain") == report("pgo"),
        "the default scenario's report differs"
    );
}
