//! Skipped tests, said visibly. The one writer of the `OFFSIM_SKIP_LOG` lines `.ci/run` lists:
//! every crate's integration tests include this file (`#[path]`), and `env!` names the crate
//! that compiled it.

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
            // One `write` of the whole line: tests skip on several threads at once, and
            // `writeln!` writes its pieces one call each, which interleaved them.
            let _ = f.write_all(format!("{}: {line}\n", env!("CARGO_PKG_NAME")).as_bytes());
        }
    }
}
