//! `scripts/same-outputs.py`, the check that two builds give the same outputs byte for byte
//! (`sim/tests/pgo.rs` runs it on the profile-guided build): it must pass a build compared
//! with itself, and catch builds whose reports or whose printed output differ, naming the
//! checks they differ in. `--quick` and small captures keep it to seconds.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{repo, scratch, skip};

/// Runs the script (`--quick`, 2,000-packet captures, every check named) on `base` and
/// `new`: (exit code, stdout), or `None` after a SKIP without `python3`.
fn same_outputs(base: &Path, new: &Path) -> Option<(i32, String)> {
    let o = match Command::new("python3")
        .arg(repo().join("scripts/same-outputs.py"))
        .args([base, new])
        .args(["--packets", "2000", "--quick", "--verbose"])
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            skip(&format!(
                "scripts/same-outputs.py: python3 not runnable ({e})"
            ));
            return None;
        }
    };
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.stderr.is_empty(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    Some((o.status.code().unwrap_or(-1), out))
}

/// A "build" that runs `bin` under the shell `body` (`$BIN` is the binary).
fn wrapper(bin: &Path, name: &str, body: &str) -> PathBuf {
    let w = scratch("same-outputs", name).join("offsim");
    let script = body.replace("$BIN", &format!("'{}'", bin.display()));
    std::fs::write(&w, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).unwrap();
    w
}

/// The summary line's counts: (same, differing).
fn summary(out: &str) -> (u32, u32) {
    let last = out.lines().last().unwrap_or_default();
    let (a, b) = last
        .strip_prefix("same ")
        .and_then(|r| r.split_once(", differing "))
        .unwrap_or_else(|| panic!("summary line: {last}"));
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn same_outputs_passes_a_build_against_itself_and_catches_differences() {
    let bin = Path::new(env!("CARGO_BIN_EXE_offsim"));
    let Some((code, out)) = same_outputs(bin, bin) else {
        return;
    };
    assert_eq!(code, 0, "{out}");
    let (same, differing) = summary(&out);
    assert!(same > 50 && differing == 0, "{out}");
    for kind in ["trace gen", "trace info", "rules eval", "run"] {
        assert!(
            out.contains(&format!("same     {kind} ")),
            "no {kind}: {out}"
        );
    }

    // Reports that record a commit: every run differs in its report.json, nothing else
    // does.
    let w = wrapper(bin, "commit", "OFFSIM_COMMIT=0123abc exec $BIN \"$@\"");
    let (code, out) = same_outputs(bin, &w).expect("python3 ran before");
    assert_eq!(code, 1, "{out}");
    assert!(
        !out.contains("same     run "),
        "a run's report the same: {out}"
    );
    let differing: Vec<&str> = out.lines().filter(|l| l.starts_with("DIFFERS")).collect();
    assert_eq!(differing.len() as u32, summary(&out).1, "{out}");
    for l in &differing {
        assert!(l.starts_with("DIFFERS  run "), "{l}");
        assert!(l.ends_with(": report.json"), "{l}");
    }
    assert!(out.contains("same     rules eval "), "{out}");

    // One more line printed: every check differs, in its stdout.
    let w = wrapper(bin, "stdout", "$BIN \"$@\"; s=$?; echo x; exit $s");
    let (code, out) = same_outputs(bin, &w).expect("python3 ran before");
    assert_eq!(code, 1, "{out}");
    assert_eq!(summary(&out).0, 0, "{out}");
    for l in out.lines().filter(|l| l.starts_with("DIFFERS")) {
        assert!(l.contains(": stdout"), "{l}");
    }
}
