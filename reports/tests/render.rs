//! Rendering: every chart of every example is written as PNG and SVG, byte-identical across
//! renders; degenerate reports render without panicking; user strings are escaped; the page
//! references nothing outside its directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use offsim_reports::charts::{self, Chart, ChartKind, SweepMetric};
use offsim_reports::{
    HistogramBucket, Plan, PlanConfig, PlanPoint, Report, ReportKind, Run, Series, Sweep,
    SweepPoint, example, render,
};

use crate::util;

fn files_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        out.insert(
            p.file_name().unwrap().to_string_lossy().into_owned(),
            std::fs::read(&p).unwrap(),
        );
    }
    out
}

fn check_outputs(dir: &Path, written: &[PathBuf], r: &Report) {
    assert_eq!(written[0], dir.join("index.html"));
    let charts = charts::plan_charts(r);
    assert_eq!(written.len(), 1 + 2 * charts.len());
    for c in &charts {
        let png = std::fs::read(dir.join(format!("{}.png", c.stem))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{}", c.stem);
        let svg = std::fs::read_to_string(dir.join(format!("{}.svg", c.stem))).unwrap();
        assert!(svg.starts_with("<svg"), "{}", c.stem);
        assert!(svg.trim_end().ends_with("</svg>"), "{}", c.stem);
    }
}

#[test]
fn every_example_renders_deterministically() {
    for (name, r) in [
        ("run", example::run_report()),
        ("sweep", example::sweep_report()),
        ("sweep1d", example::sweep_report_1d()),
        ("plan", example::plan_report()),
    ] {
        let a = util::scratch(&format!("determinism-{name}-a"));
        let b = util::scratch(&format!("determinism-{name}-b"));
        let wa = render(&r, &a).unwrap();
        let wb = render(&r, &b).unwrap();
        check_outputs(&a, &wa, &r);
        assert_eq!(wa.len(), wb.len());
        let (fa, fb) = (files_in(&a), files_in(&b));
        assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
        for (k, v) in &fa {
            assert!(v == &fb[k], "{name}: {k} differs between two renders");
        }
    }
}

#[test]
fn expected_charts_per_kind() {
    let stems = |r: &Report| {
        charts::plan_charts(r)
            .into_iter()
            .map(|c| c.stem)
            .collect::<Vec<_>>()
    };
    let run = stems(&example::run_report());
    for s in [
        "throughput",
        "cpu",
        "latency_cdf",
        "latency_paths_0",
        "latency_paths_2",
        "cpu_cores",
        "nic_2",
        "paths",
    ] {
        assert!(run.contains(&s.to_string()), "{s} missing from {run:?}");
    }
    // A hardware table chart only for the configuration that has a table.
    assert!(
        !run.iter()
            .any(|s| s == "nic_0" || s == "nic_1" || s == "nic"),
        "{run:?}"
    );
    let sweep = stems(&example::sweep_report());
    for s in [
        "sweep_busiest_cpu_0",
        "sweep_p99_1",
        "sweep_hw_share_1",
        "sweep_refusals_1",
    ] {
        assert!(sweep.contains(&s.to_string()), "{s} missing from {sweep:?}");
    }
    // Hardware share and refusals only where there is a table (policy 0 is `none`).
    assert!(
        !sweep.contains(&"sweep_hw_share_0".to_string()),
        "{sweep:?}"
    );
    assert!(!sweep.contains(&"throughput".to_string()));
    let sweep1 = stems(&example::sweep_report_1d());
    assert!(
        sweep1.contains(&"sweep_throughput".to_string()),
        "{sweep1:?}"
    );
    let plan = stems(&example::plan_report());
    assert!(plan.contains(&"plan_knee".to_string()), "{plan:?}");
}

/// Reports with nothing or almost nothing in them.
fn degenerate_reports() -> Vec<(&'static str, Report)> {
    let mut out = vec![("default", Report::default())];

    let mut empty_run = Report::default();
    empty_run.runs.push(Run {
        name: "none".into(),
        policy: "none".into(),
        ..Run::default()
    });
    out.push(("empty-run", empty_run));

    let mut single = example::run_report();
    for r in &mut single.runs {
        let s = &mut r.series;
        let keep = 1;
        s.offered_pps.truncate(keep);
        s.offered_bps.truncate(keep);
        s.delivered_pps.truncate(keep);
        s.delivered_bps.truncate(keep);
        s.cpu_util.truncate(keep);
        s.hw_occupancy.truncate(keep);
        s.hw_inserts.truncate(keep);
        s.hw_refusals.truncate(keep);
        s.slow.truncate(keep);
        s.sw_fast.truncate(keep);
        s.hw.truncate(keep);
        s.drops.truncate(keep);
        s.latency_p99_ns.truncate(keep);
        r.latency_ns.overall.histogram.truncate(1);
        r.latency_ns.by_path.slow.histogram = vec![HistogramBucket { le_ns: 0, count: 5 }];
    }
    out.push(("single-point", single));

    let mut zeros = example::run_report();
    for r in &mut zeros.runs {
        let n = r.series.len();
        r.series = Series {
            interval_ns: 1,
            start_ns: 0,
            index: Vec::new(),
            offered_pps: vec![0.0; n],
            offered_bps: vec![0.0; n],
            delivered_pps: vec![0.0; n],
            delivered_bps: vec![0.0; n],
            cpu_util: vec![0.0; n],
            hw_occupancy: vec![0; n],
            hw_inserts: vec![0; n],
            hw_refusals: vec![0; n],
            slow: vec![0; n],
            sw_fast: vec![0; n],
            hw: vec![0; n],
            drops: vec![0; n],
            latency_p99_ns: vec![0; n],
            hw_backlog: vec![0; n],
        };
        r.paths = Default::default();
        r.latency_ns = Default::default();
    }
    out.push(("all-zeros", zeros));

    // A capture with a long idle gap: the series skips the empty intervals.
    let mut sparse = example::run_report();
    for r in &mut sparse.runs {
        let n = r.series.len() as u64;
        r.series.index = (0..n)
            .map(|i| if i < n / 2 { i } else { i + 100_000 })
            .collect();
    }
    out.push(("sparse-series", sparse));

    let mut nan = example::run_report();
    nan.runs[0].series.delivered_bps[2] = f64::NAN;
    nan.runs[1].cpu.util_mean = f64::INFINITY;
    out.push(("non-finite", nan));

    let mut no_points = example::sweep_report();
    no_points.runs.clear();
    no_points.sweep = Some(Sweep {
        parameters: vec!["x".into(), "y".into()],
        total_points: 0,
        shard: None,
        points: vec![],
    });
    out.push(("sweep-no-points", no_points));

    let mut text_params = Report {
        kind: ReportKind::Sweep,
        ..Report::default()
    };
    text_params.runs.push(Run {
        name: "p0/hardware".into(),
        policy: "hardware".into(),
        ..Run::default()
    });
    text_params.sweep = Some(Sweep {
        parameters: vec!["nic.preset".into()],
        total_points: 1,
        shard: None,
        points: vec![SweepPoint {
            index: 0,
            name: "p0".into(),
            values: BTreeMap::from([(
                "nic.preset".to_string(),
                offsim_reports::ParamValue::Text("mt7986".into()),
            )]),
            runs: vec!["p0/hardware".into()],
            warnings: vec![],
        }],
    });
    out.push(("sweep-one-text-point", text_params));

    let mut plan = example::run_report();
    plan.kind = ReportKind::Plan;
    plan.plan = Some(Plan {
        configs: vec![
            PlanConfig {
                name: "none".into(),
                ..PlanConfig::default()
            },
            PlanConfig {
                name: "hardware".into(),
                points: vec![PlanPoint {
                    offered_bps: 1e9,
                    delivered_bps: 1e9,
                    p99_ns: 0,
                    ..PlanPoint::default()
                }],
                ..PlanConfig::default()
            },
        ],
        pdr_loss: 0.005,
    });
    out.push(("plan-degenerate", plan));
    out
}

#[test]
fn degenerate_reports_render() {
    for (name, r) in degenerate_reports() {
        let dir = util::scratch(&format!("degenerate-{name}"));
        let written = render(&r, &dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut clean = r.clone();
        clean.sanitize();
        check_outputs(&dir, &written, &clean);
    }
}

/// Every kind of chart, drawn against every degenerate report (whether or not the report
/// would get that chart), returns without panicking.
#[test]
fn every_chart_kind_copes_with_degenerate_data() {
    let kinds = [
        ChartKind::Throughput,
        ChartKind::Cpu,
        ChartKind::LatencyCdf,
        ChartKind::LatencyPaths { run: 0 },
        ChartKind::LatencyPaths { run: 99 },
        ChartKind::Cores,
        ChartKind::Nic { run: 0 },
        ChartKind::Nic { run: 99 },
        ChartKind::PathMix,
        ChartKind::SweepLine {
            metric: SweepMetric::P99,
        },
        ChartKind::SweepHeat {
            metric: SweepMetric::Cpu,
            policy: "hardware".into(),
        },
        ChartKind::SweepHeat {
            metric: SweepMetric::Refusals,
            policy: "hardware".into(),
        },
        ChartKind::SweepLine {
            metric: SweepMetric::BusiestCpu,
        },
        ChartKind::PlanKnee,
    ];
    let dir = util::scratch("every-kind");
    for (name, r) in degenerate_reports() {
        let mut r = r;
        r.sanitize();
        for (k, kind) in kinds.iter().enumerate() {
            let c = Chart {
                stem: format!("{name}-{k}"),
                title: format!("{kind:?}"),
                kind: kind.clone(),
            };
            charts::render_png(&r, &c, &dir.join(format!("{}.png", c.stem)))
                .unwrap_or_else(|e| panic!("{name} {kind:?}: {e}"));
            charts::render_svg(&r, &c).unwrap_or_else(|e| panic!("{name} {kind:?}: {e}"));
        }
    }
}

#[test]
fn user_strings_are_escaped() {
    let r = util::hostile_report();
    let dir = util::scratch("escaping");
    render(&r, &dir).unwrap();
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert_eq!(
        page.matches("<script").count(),
        1,
        "only the page's own script"
    );
    assert!(!page.contains("<img src=x"));
    assert!(!page.contains("onerror=\""));
    assert!(page.contains("&lt;script&gt;console.error(&quot;xss&quot;)&lt;/script&gt;"));
    assert!(page.contains("<title>offsim report: &lt;script&gt;"));
    // SVG text is escaped by plotters too.
    for c in charts::plan_charts(&r) {
        let svg = std::fs::read_to_string(dir.join(format!("{}.svg", c.stem))).unwrap();
        assert!(!svg.contains("<script"), "{}", c.stem);
    }
}

#[test]
fn page_references_only_sibling_files() {
    for r in [
        example::run_report(),
        example::sweep_report(),
        example::plan_report(),
    ] {
        let dir = util::scratch("references");
        render(&r, &dir).unwrap();
        let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
        assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("//cdn"));
        assert!(!page.contains("<link"), "no external style sheet");
        for attr in ["src=\"", "href=\""] {
            for part in page.split(attr).skip(1) {
                let target = &part[..part.find('"').unwrap()];
                if target.starts_with('#') {
                    continue;
                }
                assert!(!target.contains('/') && !target.contains(':'), "{target}");
                assert!(
                    dir.join(target).is_file(),
                    "{target} referenced but not written"
                );
            }
        }
    }
}

#[test]
fn render_reports_invalid_reports_and_unwritable_dirs() {
    let mut r = example::run_report();
    r.runs[0].series.cpu_util.clear();
    assert!(render(&r, &util::scratch("invalid")).is_err());
    let dir = util::scratch("unwritable");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let e = render(&example::run_report(), &file.join("sub"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("a-file"), "{e}");
}
