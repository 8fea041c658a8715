//! JSON in and out: round trips, typed errors with positions, schema checks, validation,
//! NaN/inf sanitising, and no panic on damaged input.

use offsim_reports::{Report, ReportError, example};
use proptest::prelude::*;

use crate::util;

fn all_examples() -> Vec<Report> {
    vec![
        example::run_report(),
        example::sweep_report(),
        example::sweep_report_1d(),
        example::plan_report(),
    ]
}

#[test]
fn round_trip_is_exact() {
    for r in all_examples() {
        let text = r.to_json_string();
        assert!(text.ends_with("}\n"));
        let back = Report::from_json(&text).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.to_json_string(), text);
    }
}

#[test]
fn default_report_is_valid_and_round_trips() {
    let r = Report::default();
    assert_eq!(r.schema, "offsim.report/1");
    let back = Report::from_json(&r.to_json_string()).unwrap();
    assert_eq!(back, r);
}

#[test]
fn wrong_or_missing_schema_is_rejected() {
    let text = example::run_report().to_json_string();
    let other = text.replacen("\"offsim.report/1\"", "\"offsim.report/2\"", 1);
    match Report::from_json(&other) {
        Err(ReportError::Schema { found: Some(s) }) => assert_eq!(s, "offsim.report/2"),
        e => panic!("{e:?}"),
    }
    let e = Report::from_json(&other).unwrap_err().to_string();
    assert!(
        e.contains("offsim.report/2") && e.contains("offsim.report/1"),
        "{e}"
    );
    let none = text.replacen("\"schema\": \"offsim.report/1\",", "", 1);
    assert!(matches!(
        Report::from_json(&none),
        Err(ReportError::Schema { found: None })
    ));
    let number = text.replacen("\"offsim.report/1\"", "1", 1);
    assert!(matches!(
        Report::from_json(&number),
        Err(ReportError::Schema { found: Some(_) })
    ));
    assert!(matches!(
        Report::from_json("[1, 2]"),
        Err(ReportError::Json { .. })
    ));
}

#[test]
fn unknown_field_names_line_and_column() {
    let text = example::run_report().to_json_string();
    let needle = "\"util_mean\":";
    let at = text.find(needle).unwrap();
    let bad = format!(
        "{}\"util_maen\":{}",
        &text[..at],
        &text[at + needle.len()..]
    );
    let line = bad[..at].matches('\n').count() + 1;
    match Report::from_json(&bad) {
        Err(ReportError::Json {
            line: l,
            column,
            msg,
        }) => {
            assert_eq!(l, line, "{msg}");
            assert!(column > 1);
            assert!(msg.contains("util_maen"), "{msg}");
        }
        e => panic!("{e:?}"),
    }
    let e = Report::from_json(&bad).unwrap_err().to_string();
    assert!(e.starts_with(&format!("line {line}, column ")), "{e}");
}

/// `latency_ns` holds the overall statistics flattened next to `by_path` (one type,
/// `LatencyStats`, for both): its keys are still checked strictly.
#[test]
fn latency_keys_are_strict() {
    let text = example::run_report().to_json_string();
    let at = text.find("\"latency_ns\": {").unwrap() + "\"latency_ns\": {".len();
    let extra = format!("{}\"p95\": 1,{}", &text[..at], &text[at..]);
    let e = Report::from_json(&extra).unwrap_err().to_string();
    assert!(e.contains("unknown field `p95`"), "{e}");
    for (from, to) in [("\"p90\":", "\"p91\":"), ("\"by_path\":", "\"by_paht\":")] {
        let k = at + text[at..].find(from).unwrap();
        let bad = format!("{}{to}{}", &text[..k], &text[k + from.len()..]);
        let e = Report::from_json(&bad).unwrap_err().to_string();
        // A renamed key is reported as the missing one (the flattened statistics are read
        // before the leftover keys are checked).
        assert!(e.contains("missing field"), "{e}");
        assert!(e.starts_with("line "), "{e}");
    }
}

#[test]
fn syntax_error_names_line_and_column() {
    let text = "{\n  \"schema\": \"offsim.report/1\",\n  \"tool\": {,\n}";
    match Report::from_json(text) {
        Err(ReportError::Json { line, column, .. }) => assert_eq!((line, column), (3, 12)),
        e => panic!("{e:?}"),
    }
}

#[test]
fn file_errors_name_the_file() {
    let dir = util::scratch("json-file-errors");
    let missing = dir.join("nope.json");
    let e = Report::from_json_file(&missing).unwrap_err().to_string();
    assert!(e.contains("nope.json"), "{e}");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"schema\": \"offsim.report/1\", \"tool\": 3}").unwrap();
    let e = Report::from_json_file(&bad).unwrap_err().to_string();
    assert!(e.contains("bad.json: line 1, column"), "{e}");
}

#[test]
fn validation_catches_broken_invariants() {
    let mut r = example::run_report();
    r.runs[1].name = "none".into();
    let e = Report::from_json(&r.to_json_string())
        .unwrap_err()
        .to_string();
    assert!(e.contains("duplicate run name"), "{e}");

    let mut r = example::run_report();
    r.runs[0].series.cpu_util.pop();
    let e = Report::from_json(&r.to_json_string())
        .unwrap_err()
        .to_string();
    assert!(e.contains("series.cpu_util"), "{e}");

    let mut r = example::run_report();
    r.runs[2].baseline = Some("nosuch".into());
    assert!(r.validate().unwrap_err().to_string().contains("baseline"));

    let mut r = example::sweep_report();
    r.sweep.as_mut().unwrap().points[1]
        .runs
        .push("ghost".into());
    assert!(r.validate().unwrap_err().to_string().contains("ghost"));

    let mut r = example::sweep_report();
    r.sweep.as_mut().unwrap().points.swap(0, 1);
    assert!(r.validate().unwrap_err().to_string().contains("increasing"));

    let mut r = example::sweep_report();
    r.kind = offsim_reports::ReportKind::Run;
    assert!(r.validate().is_err());

    let mut r = example::run_report();
    r.kind = offsim_reports::ReportKind::Plan;
    assert!(r.validate().is_err());
}

#[test]
fn non_finite_values_are_sanitised_and_reported() {
    let mut r = example::run_report();
    r.runs[1].cpu.util_mean = f64::NAN;
    r.runs[2].power_w.total = f64::INFINITY;
    r.runs[0].series.offered_bps[3] = f64::NEG_INFINITY;
    assert!(r.has_non_finite());
    let text = r.to_json_string();
    let back = Report::from_json(&text).unwrap();
    assert_eq!(back.runs[1].cpu.util_mean, 0.0);
    assert_eq!(back.runs[2].power_w.total, f64::MAX);
    assert_eq!(back.runs[0].series.offered_bps[3], f64::MIN);
    let w = back.warnings.join("\n");
    assert!(w.contains("runs[1].cpu.util_mean"), "{w}");
    assert!(w.contains("runs[2].power_w.total"), "{w}");
    assert!(w.contains("runs[0].series.offered_bps[3]"), "{w}");
    assert!(!back.has_non_finite());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any truncation of a valid report is an error, never a panic.
    #[test]
    fn truncated_reports_are_errors(cut in 0usize..1000) {
        let text = example::run_report().to_json_string();
        let at = cut * text.len() / 1000;
        let at = (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        prop_assert!(Report::from_json(&text[..at]).is_err());
    }

    /// Damaged bytes never make the parser panic.
    #[test]
    fn damaged_reports_do_not_panic(pos in 0usize..1000, byte in any::<u8>()) {
        let text = example::sweep_report().to_json_string();
        let mut bytes = text.into_bytes();
        let at = pos * bytes.len() / 1000;
        bytes[at] = byte;
        let s = String::from_utf8_lossy(&bytes);
        let _ = Report::from_json(&s);
    }
}

/// Reports the mutation harness starts from: the examples and the simulator's golden
/// reports (real runs, sweeps).
fn json_seeds() -> Vec<String> {
    let mut v: Vec<String> = all_examples().iter().map(|r| r.to_json_string()).collect();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../sim/tests/data/golden");
    if let Ok(d) = std::fs::read_dir(dir) {
        let mut paths: Vec<_> = d
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".report.json"))
            .collect();
        paths.sort();
        v.extend(paths.iter().filter_map(|p| std::fs::read_to_string(p).ok()));
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Mutation fuzzing of report JSON on the stable toolchain (`cargo fuzz run
    /// report_json` goes deeper): edits of real reports never panic, and whatever parses
    /// re-serialises and parses again.
    #[test]
    fn mutated_reports_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..5, "[ -~]{0,12}"), 1..8),
    ) {
        let seeds = json_seeds();
        let mut text = seeds[pick.index(seeds.len())].clone();
        for (at, op, piece) in edits {
            let mut i = at.index(text.len().max(1)).min(text.len());
            while !text.is_char_boundary(i) { i -= 1; }
            match op {
                0 => text.insert_str(i, &piece),
                1 => { let j = (i + piece.len()).min(text.len()); if text.is_char_boundary(j) { text.replace_range(i..j, ""); } }
                2 => text.insert_str(i, "1e999"),
                3 => text.insert_str(i, "[[[[{\"a\":"),
                _ => text.truncate(i),
            }
        }
        if let Ok(r) = Report::from_json(&text) {
            let again = r.to_json_string();
            prop_assert!(Report::from_json(&again).is_ok());
        }
    }
}

/// A JSON document of the wrong shape and invalid UTF-8 are errors with a position.
#[test]
fn wrong_top_level_and_bad_utf8_have_positions() {
    for (text, want) in [
        ("[1, 2]", "line 1"),
        ("\n\n\"report\"", "line 3"),
        ("42", "line 1"),
    ] {
        let e = Report::from_json(text).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
    }
    let dir = util::scratch("json-utf8");
    let p = dir.join("bad.json");
    std::fs::write(&p, b"{\n  \"schema\": \"offsim.report/1\xff\"\n}").unwrap();
    let e = Report::from_json_file(&p).unwrap_err().to_string();
    assert!(
        e.contains("bad.json") && e.contains("2:") && e.contains("UTF-8"),
        "{e}"
    );
    #[cfg(unix)]
    {
        let e = Report::from_json_file(std::path::Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }
}
