//! Helpers shared by the integration tests: paths, scratch directories, running the
//! `offsim` binary, the kernel oracle's data and skip check.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `sim` crate's directory.
pub fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The repository's top directory.
pub fn repo() -> PathBuf {
    manifest().join("..")
}

/// A fresh, empty scratch directory `offsim-<group>/<name>` under cargo's test temp dir.
pub fn scratch(group: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("offsim-{group}"))
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// The `offsim` binary as a command, with no commit or date recorded in its reports (so
/// that the golden reports do not change with every commit of this repository).
pub fn offsim_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_offsim"));
    c.env("OFFSIM_COMMIT", "").env("OFFSIM_DATE", "");
    c
}

/// What a run of the binary gave.
pub struct Out {
    /// Exit code (-1: killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `offsim` with `args` in the current directory.
pub fn offsim(args: &[&str]) -> Out {
    let o = offsim_cmd().args(args).output().expect("run offsim");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Writes `packets` generated packets of `profile` to the pcap file `path` (`offsim trace
/// gen`).
pub fn gen_trace(path: &Path, profile: &str, packets: u64) {
    let o = offsim(&[
        "trace",
        "gen",
        "--profile",
        profile,
        "--packets",
        &packets.to_string(),
        "-o",
        path.to_str().expect("a UTF-8 path"),
        "-q",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
}

/// A file of the kernel oracle's test data (`tests/data/oracle`).
pub fn oracle_data(name: &str) -> PathBuf {
    manifest().join("tests/data/oracle").join(name)
}

/// True (after printing `SKIP`) when the kernel oracle cannot run here.
pub fn skip_oracle() -> bool {
    match crate::kernel::available() {
        Ok(()) => false,
        Err(why) => {
            skip(&format!("kernel oracle: {why}"));
            true
        }
    }
}

pub use crate::skiplog::skip;

/// A scenario file: a home router (fw4, MT7621) on 6 s of generated home traffic, with
/// `events` (any more TOML) appended.
pub fn home_router(name: &str, events: &str) -> std::path::PathBuf {
    let dir = scratch("events", name);
    let fw4 = repo().join("scenarios/rulesets/home-fw4.nft");
    let text = format!(
        r#"name = "{name}"
policies = ["none", "software", "hardware"]
[trace.generate]
profile = "home-router"
duration_s = 6.0
[ruleset]
file = "{}"
iif = "lan0"
oif = "wan0"
sides = "flow"
[cpu]
preset = "mt7621"
[nic]
preset = "mt7621"
[kernel]
flavour = "6.6"
conntrack = "openwrt"
{events}"#,
        fw4.display()
    );
    let p = dir.join("s.toml");
    std::fs::write(&p, text).unwrap();
    p
}

pub fn run_home_router(name: &str, events: &str) -> (offsim_reports::schema::Report, String) {
    let sc = home_router(name, events);
    let out = sc.parent().unwrap().join("out");
    let o = offsim(&["run", sc.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.code == 0 || o.code == 1, "exit {}: {}", o.code, o.stderr);
    let r: offsim_reports::schema::Report =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    (r, html)
}

pub fn by_name<'a>(
    r: &'a offsim_reports::schema::Report,
    n: &str,
) -> &'a offsim_reports::schema::Run {
    r.runs.iter().find(|x| x.name == n).unwrap()
}
