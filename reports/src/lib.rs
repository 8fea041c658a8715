//! # offsim-reports
//!
//! The report of an offsim simulation: its schema (`offsim.report/1`), JSON in and out, a
//! self-contained HTML page with PNG and SVG charts, the CI comparison of two reports and the
//! merge of sharded sweeps. This crate holds no simulation code and depends on no other
//! offsim crate: the simulator fills a [`Report`] and hands it here.
//!
//! Map of the code, one line per module (the larger ones are directories with one file per
//! section):
//!
//! | module | what |
//! |---|---|
//! | [`schema`] | `schema/`: the plain serde structs ([`Report`], [`Run`], …) by section (`scenario.rs`, `run.rs`, `sweep.rs`, `plan.rs`), JSON in and out (`json.rs`), invariants (`validate.rs`), NaN/inf replacement (`sanitize.rs`) |
//! | [`html`] | `html/`: the `index.html` page: head, navigation and charts (`mod.rs`), sentences (`findings.rs`), sections (`plan.rs`, `sweep.rs`, `scenario.rs`, `run.rs`), shared tables and cells (`common.rs`) |
//! | [`charts`] | `charts/`: PNG and SVG charts with plotters and an embedded DejaVu font: which charts a report gets (`mod.rs`), shared drawing (`draw.rs`), the charts of runs, sweeps and plans (`run.rs`, `sweep.rs`, `plan.rs`) |
//! | [`mod@compare`] | `compare/`: [`compare()`], the direction-aware, per-metric-tolerance diff of two reports (the CI gate); the metrics it checks (`metrics.rs`) |
//! | [`mod@merge`] | [`merge()`]: join `--shard K/N` sweep reports into the unsharded report |
//! | [`fmt`] | number formatting (units) and HTML escaping; [`fmt::si`] and [`fmt::dur`] for terminal text |
//! | [`trend`] | `trend/`: `offsim trend`: metrics over a series of reports, regressions against the trend marked; its page and charts |
//! | [`example`] | `example/`: realistic example reports (run, sweep, plan) used by tests and docs |
//!
//! How a report flows:
//!
//! 1. The simulator fills a [`Report`] (`schema/`), starting from `Report::default()`.
//! 2. JSON: [`Report::to_json_string`] replaces NaN/inf in a copy (`schema/sanitize.rs`) and
//!    writes it; [`Report::from_json`] checks the `schema` string, parses strictly and
//!    validates (`schema/json.rs`, `schema/validate.rs`).
//! 3. Page and charts: [`render`] validates and sanitises, asks [`charts::plan_charts`]
//!    which charts the report gets, writes [`html::page`] (which shows them) as
//!    `index.html`, then draws each chart as PNG and SVG ([`charts::render_png`],
//!    [`charts::render_svg`]).
//! 4. [`compare()`] diffs the common runs of two reports metric by metric (`offsim
//!    compare`); [`merge()`] joins sweep shards into the unsharded report (`offsim merge`).
//!
//! Everything is deterministic: the same report gives byte-identical JSON, HTML, PNG and SVG.
#![deny(missing_docs)]

pub mod charts;
pub mod compare;
pub mod example;
pub mod fmt;
pub mod html;
pub mod merge;
pub mod schema;
pub mod trend;

use std::path::{Path, PathBuf};

pub use compare::{CompareOptions, Comparison, compare};
pub use merge::merge;
pub use schema::*;

/// Every error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading or writing a file failed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error (part of the message, so not also reported as a source).
        error: std::io::Error,
    },
    /// The JSON is malformed or does not fit the schema.
    #[error("line {line}, column {column}: {msg}")]
    Json {
        /// Line (1-based) of the error.
        line: usize,
        /// Column (1-based) of the error.
        column: usize,
        /// What is wrong.
        msg: String,
    },
    /// The `schema` field is missing or names another schema.
    #[error("{}", match found {
        None => format!("not an offsim report: no \"schema\" field (expected \"{SCHEMA}\")"),
        Some(s) => format!("unsupported report schema {s:?} (expected \"{SCHEMA}\")"),
    })]
    Schema {
        /// The value found, if any.
        found: Option<String>,
    },
    /// The report parses but breaks an invariant (see [`Report::validate`]).
    #[error("invalid report: {0}")]
    Invalid(String),
    /// An error in a named file.
    #[error("{}: {inner}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// The error.
        inner: Box<ReportError>,
    },
    /// Drawing a chart failed.
    #[error("chart {chart}: {msg}")]
    Chart {
        /// Chart file stem.
        chart: String,
        /// What failed.
        msg: String,
    },
    /// Two reports to compare share no run name.
    #[error("the reports have no run in common (base: {base:?}; new: {new:?})")]
    NoCommonRuns {
        /// Run names of the base report.
        base: Vec<String>,
        /// Run names of the new report.
        new: Vec<String>,
    },
    /// Comparison options are invalid (e.g. an unknown metric name).
    #[error("{0}")]
    Options(String),
    /// Shard reports cannot be merged.
    #[error("cannot merge: {0}")]
    Merge(String),
}

/// Render a report into `out_dir` (created if missing): `index.html` plus every chart as
/// PNG and SVG. Returns the written paths, `index.html` first. Does not write
/// `report.json`; the caller does that with [`Report::to_json_string`].
pub fn render(report: &Report, out_dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    report.validate()?;
    let mut clean = report.clone();
    clean.sanitize();
    std::fs::create_dir_all(out_dir).map_err(|error| ReportError::Io {
        path: out_dir.to_path_buf(),
        error,
    })?;
    let charts = charts::plan_charts(&clean);
    let mut written = Vec::with_capacity(1 + 2 * charts.len());
    let index = out_dir.join("index.html");
    let page = html::page(&clean, &charts);
    std::fs::write(&index, page).map_err(|error| ReportError::Io {
        path: index.clone(),
        error,
    })?;
    written.push(index);
    for files in draw_all(&clean, &charts, out_dir) {
        written.extend(files?);
    }
    Ok(written)
}

/// Draws every chart as PNG and SVG into `out_dir`: the charts' files, in `charts` order.
///
/// The charts are independent, so they are drawn on as many threads as the machine has
/// cores (at most one per chart), each thread taking every n-th chart: drawing them one
/// after another (PNG encoding most of it) was two thirds of the time a one-configuration
/// `run` spends after its simulation. A chart's files are the same whichever thread draws
/// it; when some fail, the first failure in chart order is the one returned.
fn draw_all(
    report: &Report,
    charts: &[charts::Chart],
    out_dir: &Path,
) -> Vec<Result<[PathBuf; 2], ReportError>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    draw_on(threads, report, charts, out_dir)
}

/// [`draw_all`] on at most `threads` threads. A chart that fails does not stop the others
/// (they are drawn and written, but not listed: the caller returns the error).
fn draw_on(
    threads: usize,
    report: &Report,
    charts: &[charts::Chart],
    out_dir: &Path,
) -> Vec<Result<[PathBuf; 2], ReportError>> {
    let threads = threads.min(charts.len());
    if threads <= 1 {
        return charts
            .iter()
            .map(|c| draw_one(report, c, out_dir))
            .collect();
    }
    let mut drawn: Vec<(usize, Result<[PathBuf; 2], ReportError>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|w| {
                s.spawn(move || {
                    (charts.iter().enumerate().skip(w).step_by(threads))
                        .map(|(i, c)| (i, draw_one(report, c, out_dir)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        (workers.into_iter())
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    drawn.sort_by_key(|(i, _)| *i);
    drawn.into_iter().map(|(_, r)| r).collect()
}

/// Draws chart `c` as `<stem>.png` and `<stem>.svg` in `out_dir`.
fn draw_one(
    report: &Report,
    c: &charts::Chart,
    out_dir: &Path,
) -> Result<[PathBuf; 2], ReportError> {
    let png = out_dir.join(format!("{}.png", c.stem));
    charts::render_png(report, c, &png)?;
    let svg_path = out_dir.join(format!("{}.svg", c.stem));
    let svg = charts::render_svg(report, c)?;
    std::fs::write(&svg_path, svg).map_err(|error| ReportError::Io {
        path: svg_path.clone(),
        error,
    })?;
    Ok([png, svg_path])
}

/// The files an earlier `offsim` command left in `dir` that a new one would write or must
/// not leave beside its own: `report.json`, `index.html` and every chart (`<stem>.png` and
/// `.svg` for the stems this crate draws). Nothing else is listed, so a directory shared
/// with other files is safe. A missing directory has none.
pub fn stale_outputs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in rd {
        let e = e?;
        if !e.file_type()?.is_file() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let ours = match name.rsplit_once('.') {
            Some((_, "json")) | Some((_, "html")) => name == "report.json" || name == "index.html",
            Some((stem, "png" | "svg")) => charts::is_chart_stem(stem),
            _ => false,
        };
        if ours {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod test {
    use super::*;

    /// The charts drawn on several threads (two, three, and more than there are charts) are
    /// the files drawing them one after another gives, listed in chart order.
    #[test]
    fn charts_drawn_at_once_are_those_drawn_in_turn() {
        let dir = |n: &str| {
            let d = std::env::temp_dir().join(format!("offsim-draw-{n}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            d
        };
        for (name, r) in [
            ("run", example::run_report()),
            ("sweep", example::sweep_report()),
        ] {
            let mut clean = r.clone();
            clean.sanitize();
            let charts = charts::plan_charts(&clean);
            assert!(charts.len() > 3, "{name}");
            let b = dir(&format!("{name}-in-turn"));
            let in_turn: Vec<_> = (charts.iter())
                .map(|c| draw_one(&clean, c, &b).unwrap())
                .collect();
            for threads in [2, 3, charts.len() + 1] {
                let a = dir(&format!("{name}-{threads}"));
                let at_once: Vec<_> = (draw_on(threads, &clean, &charts, &a).into_iter())
                    .map(Result::unwrap)
                    .collect();
                assert_eq!(at_once.len(), charts.len(), "{name}");
                for (x, y) in at_once.iter().zip(&in_turn) {
                    for (p, q) in x.iter().zip(y) {
                        assert_eq!(p.file_name(), q.file_name(), "{name} {threads}");
                        let (p_bytes, q_bytes) =
                            (std::fs::read(p).unwrap(), std::fs::read(q).unwrap());
                        assert!(p_bytes == q_bytes, "{p:?} differs from {q:?}");
                    }
                }
                let _ = std::fs::remove_dir_all(&a);
            }
            let _ = std::fs::remove_dir_all(&b);
        }
    }
}
