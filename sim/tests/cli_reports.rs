//! The report commands of the `offsim` binary: `compare` (exit 0 / 1 / 2), `report` and
//! `merge`, run as a CI script would run them.

use std::path::{Path, PathBuf};

use offsim_reports::{Report, example, merge};

use crate::util::{offsim, scratch};

fn write(dir: &Path, name: &str, r: &Report) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, r.to_json_string()).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn compare_exit_codes() {
    let dir = scratch("cli-reports", "compare");
    let base_r = example::run_report();
    let base = write(&dir, "base.json", &base_r);
    let same = offsim(&["compare", s(&base), s(&base)]);
    assert_eq!(same.code, 0, "{}{}", same.stdout, same.stderr);
    assert!(same.stdout.ends_with("RESULT: OK\n"), "{}", same.stdout);

    // A 10 % drop of delivered throughput is a regression.
    let mut slower = base_r.clone();
    slower.runs[2].throughput.delivered_bps *= 0.9;
    let new = write(&dir, "new.json", &slower);
    let o = offsim(&["compare", s(&base), s(&new)]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("throughput.delivered_bps") && o.stdout.contains("REGRESSED"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.ends_with("RESULT: REGRESSION\n"));
    assert_eq!(
        offsim(&["compare", s(&base), s(&new), "--tolerance", "15"]).code,
        0
    );
    assert_eq!(
        offsim(&[
            "compare",
            s(&base),
            s(&new),
            "--metric",
            "throughput.delivered_bps=11"
        ])
        .code,
        0
    );
    assert_eq!(
        offsim(&["compare", s(&base), s(&new), "--metric", "throughput.*=off"]).code,
        0
    );
    assert_eq!(
        offsim(&[
            "compare",
            s(&base),
            s(&new),
            "--metric",
            "latency_ns.p99=50"
        ])
        .code,
        1
    );
    // The reverse direction is an improvement.
    let o = offsim(&["compare", s(&new), s(&base), "--all"]);
    assert_eq!(o.code, 0, "{}", o.stdout);
    assert!(o.stdout.contains("improved"));
}

#[test]
fn compare_bad_input_exits_2() {
    let dir = scratch("cli-reports", "compare-bad");
    let base = write(&dir, "base.json", &example::run_report());
    let o = offsim(&["compare", s(&base), s(&dir.join("absent.json"))]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("absent.json"), "{}", o.stderr);

    let wrong = dir.join("wrong.json");
    std::fs::write(
        &wrong,
        example::run_report()
            .to_json_string()
            .replace("offsim.report/1", "offsim.report/9"),
    )
    .unwrap();
    let o = offsim(&["compare", s(&base), s(&wrong)]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("wrong.json") && o.stderr.contains("offsim.report/9"),
        "{}",
        o.stderr
    );

    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{\n  \"schema\": \"offsim.report/1\",\n  oops\n}").unwrap();
    let o = offsim(&["compare", s(&base), s(&broken)]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("broken.json: line 3, column"),
        "{}",
        o.stderr
    );

    let mut renamed = example::run_report();
    for r in &mut renamed.runs {
        r.name = format!("other-{}", r.name);
        r.baseline = None;
    }
    let other = write(&dir, "other.json", &renamed);
    let o = offsim(&["compare", s(&base), s(&other)]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("no run in common"), "{}", o.stderr);

    let o = offsim(&["compare", s(&base), s(&base), "--metric", "latency.p99=1"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("unknown metric"), "{}", o.stderr);
    assert_eq!(
        offsim(&["compare", s(&base), s(&base), "--tolerance", "-1"]).code,
        2
    );
}

#[test]
fn report_rerenders_into_a_directory() {
    let dir = scratch("cli-reports", "report");
    let input = write(&dir, "in.json", &example::plan_report());
    let out = dir.join("site");
    let o = offsim(&["report", s(&input), "--out", s(&out)]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        out.join("index.html").is_file()
            && out.join("plan_knee.png").is_file()
            && out.join("plan_knee.svg").is_file()
    );
    assert_eq!(
        std::fs::read_to_string(out.join("report.json")).unwrap(),
        example::plan_report().to_json_string()
    );
    assert!(o.stdout.contains("index.html"));
    // Re-rendering in place keeps report.json.
    let o = offsim(&["report", s(&out.join("report.json")), "--out", s(&out)]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "not json").unwrap();
    let o = offsim(&["report", s(&bad), "--out", s(&out)]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("bad.json"), "{}", o.stderr);
}

#[test]
fn merge_of_shards_equals_the_unsharded_report() {
    let dir = scratch("cli-reports", "merge");
    let full = example::sweep_report();
    let shards = merge::split(&full, 3).unwrap();
    let paths: Vec<PathBuf> = shards
        .iter()
        .enumerate()
        .map(|(i, r)| write(&dir, &format!("shard{}.json", i + 1), r))
        .collect();
    let out = dir.join("merged");
    // Shards in any order.
    let o = offsim(&[
        "merge",
        s(&paths[2]),
        s(&paths[0]),
        s(&paths[1]),
        "--out",
        s(&out),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let merged = std::fs::read_to_string(out.join("report.json")).unwrap();
    assert_eq!(
        merged,
        full.to_json_string(),
        "merged report differs from the unsharded one"
    );
    assert!(out.join("index.html").is_file());

    let o = offsim(&[
        "merge",
        s(&paths[0]),
        s(&paths[1]),
        "--out",
        s(&dir.join("partial")),
    ]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("missing") && o.stderr.contains("3/3"),
        "{}",
        o.stderr
    );
    let o = offsim(&[
        "merge",
        s(&paths[0]),
        s(&paths[0]),
        s(&paths[1]),
        s(&paths[2]),
    ]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("given twice"), "{}", o.stderr);
    assert_eq!(offsim(&["merge"]).code, 2);
}
