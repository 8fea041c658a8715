//! Golden tests: the JSON and the HTML page of the example reports must not change
//! unnoticed. Regenerate with
//! `OFFSIM_BLESS=1 cargo test -p offsim-reports --test integration golden::`.

use offsim_reports::{Report, charts, example, html};

use crate::util;

fn page(r: &Report) -> String {
    html::page(r, &charts::plan_charts(r))
}

#[test]
fn run_report_json() {
    util::golden("run.json", &example::run_report().to_json_string());
}

#[test]
fn sweep_report_json() {
    util::golden("sweep.json", &example::sweep_report().to_json_string());
}

#[test]
fn plan_report_json() {
    util::golden("plan.json", &example::plan_report().to_json_string());
}

#[test]
fn run_report_html() {
    util::golden("run.html", &page(&example::run_report()));
}

#[test]
fn sweep_report_html() {
    util::golden("sweep.html", &page(&example::sweep_report()));
}

#[test]
fn plan_report_html() {
    util::golden("plan.html", &page(&example::plan_report()));
}

/// The golden JSON files parse back into the reports they were written from.
#[test]
fn golden_json_files_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for (name, r) in [
        ("run.json", example::run_report()),
        ("sweep.json", example::sweep_report()),
        ("plan.json", example::plan_report()),
    ] {
        let parsed = Report::from_json_file(&dir.join(name)).unwrap();
        assert_eq!(parsed, r, "{name}");
    }
}
