//! `scripts/same-outputs.py`, the check that two builds give the same outputs byte for byte
//! (`sim/tests/pgo.rs` runs it on the profile-guided build): it must pass a build compared
//! with itself, and catch one whose outputs differ. `--quick` and small captures keep it to
//! seconds.

use std::path::Path;
use std::process::Command;

use crate::util::{repo, scratch, skip};

/// Runs the script on `base` and `new` with 2,000-packet captures: (exit code, stdout).
fn same_outputs(base: &Path, new: &Path) -> Option<(i32, String)> {
    let o = match Command::new("python3")
        .arg(repo().join("scripts/same-outputs.py"))
        .args([base, new])
        .args(["--packets", "2000", "--quick"])
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

#[test]
fn same_outputs_passes_a_build_against_itself_and_catches_a_difference() {
    let bin = Path::new(env!("CARGO_BIN_EXE_offsim"));
    let Some((code, out)) = same_outputs(bin, bin) else {
        return;
    };
    assert_eq!(code, 0, "{out}");
    let last = out.lines().last().unwrap_or_default();
    let same: u32 = last
        .strip_prefix("same ")
        .and_then(|r| r.strip_suffix(", differing 0"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("summary line: {last}"));
    assert!(same > 50, "{out}");

    // A "build" whose reports record a commit: runs' report.json differ, nothing else does.
    let dir = scratch("same-outputs", "wrapped");
    let wrapper = dir.join("offsim");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nOFFSIM_COMMIT=0123abc exec '{}' \"$@\"\n",
            bin.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (code, out) = same_outputs(bin, &wrapper).expect("python3 ran before");
    assert_eq!(code, 1, "{out}");
    let differing: Vec<&str> = out.lines().filter(|l| l.starts_with("DIFFERS")).collect();
    assert!(!differing.is_empty(), "{out}");
    for l in &differing {
        assert!(
            l.contains(" run ") || l.contains(" sweep "),
            "only reports record the commit: {l}"
        );
        assert!(l.ends_with(": report.json"), "{l}");
    }
    assert!(!out.contains("DIFFERS  rules eval"), "{out}");
}
