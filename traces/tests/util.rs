//! Helpers shared by the integration test modules.

use std::path::PathBuf;

use offsim_traces::r#gen::{GenConfig, Profile, Stop};

/// Packets per generated test trace.
pub const N: u64 = 20_000;

/// The generator configuration of an `n`-packet test trace.
pub fn gen_config(p: Profile, seed: u64, n: u64) -> GenConfig {
    GenConfig::new(p, seed, Stop::Packets(n))
}

/// `traces/data/<sub>`: the committed (or fetched) captures.
pub fn data_dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join(sub)
}

/// Print a `SKIP` line (cargo shows it with `--nocapture`) and, when `OFFSIM_SKIP_LOG` names
/// a file, append it there so that `.ci/run` can list every skipped test at the end (cargo
/// hides a passing test's output).
pub fn skip(why: &str) {
    let line = format!("SKIP {why}");
    eprintln!("{line}");
    if let Some(p) = std::env::var_os("OFFSIM_SKIP_LOG") {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            let _ = writeln!(f, "{}: {line}", env!("CARGO_PKG_NAME"));
        }
    }
}
