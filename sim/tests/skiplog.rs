//! Skipped tests, said visibly: shared by the integration tests and the PGO build's test.

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
