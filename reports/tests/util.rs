//! Helpers shared by the integration tests: scratch directories, golden files and a hostile
//! report.

use std::path::{Path, PathBuf};

/// A fresh, empty scratch directory under cargo's target tmp dir.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("offsim-reports")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Compare `actual` with `tests/golden/<name>`; with `OFFSIM_BLESS=1`, rewrite the golden
/// file instead. On a mismatch the actual output is saved next to the scratch files and
/// the first differing line is shown.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("OFFSIM_BLESS").is_some_and(|v| v != "0") {
        std::fs::write(&path, actual).expect("write golden file");
        eprintln!("blessed {}", path.display());
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "golden file {}: {e}; run the tests with OFFSIM_BLESS=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let out = scratch("golden-actual").join(name);
        std::fs::write(&out, actual).expect("write actual output");
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || expected.lines().count().min(actual.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "{name} differs from its golden file at line {line}:\n  golden: {:?}\n  actual: {:?}\nactual output saved to {}; if the change is intended, rerun with OFFSIM_BLESS=1",
            expected.lines().nth(line - 1).unwrap_or("<end of file>"),
            actual.lines().nth(line - 1).unwrap_or("<end of file>"),
            out.display()
        );
    }
}

/// A report whose every user-provided string is a script-injection attempt.
pub fn hostile_report() -> offsim_reports::Report {
    let evil =
        "<script>console.error(\"xss\")</script><img src=x onerror=\"console.error('xss')\">";
    let mut r = offsim_reports::example::run_report();
    r.scenario.name = format!("{evil} scenario");
    r.scenario.file = format!("{evil}.toml");
    r.scenario.description = evil.to_string();
    r.scenario.trace.source = format!("{evil}.pcap");
    r.scenario.ruleset.file = format!("{evil}.nft");
    r.scenario.ruleset.tables = vec![format!("inet {evil}")];
    r.scenario
        .details
        .insert(evil.to_string(), evil.to_string());
    r.tool.version = evil.to_string();
    r.warnings.push(evil.to_string());
    for (i, run) in r.runs.iter_mut().enumerate() {
        run.name = format!("{evil}{i}");
        run.baseline = None;
        run.savings = None;
        run.flows.not_offloaded.insert(evil.to_string(), 99_999);
        for ex in &mut run.flows.examples {
            ex.flow = evil.to_string();
            ex.reason = evil.to_string();
        }
        if let Some(slo) = &mut run.slo {
            for c in &mut slo.checks {
                c.metric = evil.to_string();
            }
        }
    }
    r
}

pub use crate::skiplog::skip;
