//! `offsim trend`: metrics over a series of reports, with regressions against the trend
//! marked, as FD.io CSIT's trending pages do for its nightly runs.
//!
//! Reports are ordered by `tool.date` (the commit date a report records; reports without
//! one keep their place after the dated ones, in the order given). For every chosen metric
//! (the names of `offsim compare`) and every run name, each value is compared with the
//! trend before it: the median of up to [`WINDOW`] previous values. A change beyond the
//! tolerance in the metric's bad direction is a regression, in its good direction a
//! progression; neutral metrics are never marked. A median, unlike the previous value
//! alone, is not moved by one outlier, so a single noisy report marks itself and not its
//! successor.
//!
//! `mod.rs` computes the series ([`trend`]) and the text summary; `page.rs` writes the
//! HTML page and charts ([`render`]).

mod page;

use std::fmt::Write as _;

use serde::Serialize;

use crate::ReportError;
use crate::compare::{Direction, METRICS, Metric, Unit};
use crate::schema::Report;
pub use page::render;

/// Previous values whose median is the trend a value is judged against.
pub const WINDOW: usize = 5;

/// Metrics charted when none are chosen.
pub const DEFAULT_METRICS: [&str; 7] = [
    "throughput.delivered_bps",
    "latency_ns.p99",
    "latency_ns.p999",
    "cpu.util_busiest",
    "cpu.util_mean",
    "power_w.total",
    "drops.total",
];

/// One report of the series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// The file it was read from.
    pub file: String,
    /// Its commit (`tool.commit`).
    pub commit: Option<String>,
    /// Its commit date (`tool.date`).
    pub date: Option<String>,
    /// Scenario name.
    pub scenario: String,
}

impl Entry {
    /// A short label for axes and table rows: the commit's first 10 characters, else the
    /// date, else the file name.
    pub fn label(&self) -> String {
        if let Some(c) = &self.commit {
            return c.chars().take(10).collect();
        }
        if let Some(d) = &self.date {
            return d.chars().take(10).collect();
        }
        std::path::Path::new(&self.file)
            .parent()
            .and_then(|p| p.file_name())
            .map_or_else(|| self.file.clone(), |n| n.to_string_lossy().into_owned())
    }
}

/// How a value compares with the trend before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// No trend yet, no value, within tolerance, or a neutral metric.
    Normal,
    /// Beyond the tolerance in the bad direction.
    Regression,
    /// Beyond the tolerance in the good direction.
    Progression,
}

/// One metric of one run over the series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// Metric name (`compare`'s vocabulary).
    pub metric: &'static str,
    /// Run name.
    pub run: String,
    /// Display unit.
    pub unit: Unit,
    /// Which way is better.
    pub direction: Direction,
    /// The value in each report (`None`: the report has no such run).
    pub values: Vec<Option<f64>>,
    /// The trend each value was judged against (`None` for the first values).
    pub trend: Vec<Option<f64>>,
    /// Change against the trend, percent.
    pub change_pct: Vec<Option<f64>>,
    /// The verdict of each value.
    pub marks: Vec<Mark>,
}

/// A series of reports and the chosen metrics over it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    /// The reports, oldest first.
    pub entries: Vec<Entry>,
    /// The metrics, in the order chosen.
    pub metrics: Vec<&'static str>,
    /// Tolerance, percent.
    pub tolerance_pct: f64,
    /// One line per metric and run name (metric order, then run order of first appearance).
    pub lines: Vec<Line>,
}

/// Seconds since 1970 of an ISO 8601 date and time with a zone (`2026-03-01T10:00:00Z`,
/// `…+02:00`, fractions of a second ignored; git's `%cI`), or `None`.
fn instant(s: &str) -> Option<i64> {
    let num = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    if s.len() < 20 || s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut rest = &s[19..];
    if let Some(r) = rest.strip_prefix('.') {
        rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hh: i64 = rest.get(1..3)?.parse().ok()?;
            let mm: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (hh * 3600 + mm * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

/// The median of `v` (not empty).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The verdicts of `values` against the median of up to [`WINDOW`] previous values.
fn judge(
    m: &Metric,
    values: &[Option<f64>],
    tol: f64,
) -> (Vec<Option<f64>>, Vec<Option<f64>>, Vec<Mark>) {
    let mut trend = Vec::with_capacity(values.len());
    let mut change = Vec::with_capacity(values.len());
    let mut marks = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let mut prev: Vec<f64> = values[..i]
            .iter()
            .rev()
            .flatten()
            .take(WINDOW)
            .copied()
            .collect();
        let (t, c, mark) = match (*v, prev.is_empty()) {
            (Some(v), false) => {
                let t = median(&mut prev);
                let c = (v - t) / t.abs().max(m.floor) * 100.0;
                let mark = if c.abs() <= tol || m.direction == Direction::Neutral {
                    Mark::Normal
                } else if (c < 0.0) == (m.direction == Direction::HigherIsBetter) {
                    Mark::Regression
                } else {
                    Mark::Progression
                };
                (Some(t), Some(c), mark)
            }
            _ => (None, None, Mark::Normal),
        };
        trend.push(t);
        change.push(c);
        marks.push(mark);
    }
    (trend, change, marks)
}

/// The trend of `metrics` (default [`DEFAULT_METRICS`]) over `reports` (file name and
/// report), ordered by their dates; `tolerance_pct` decides what is marked.
pub fn trend(
    reports: Vec<(String, Report)>,
    metrics: &[String],
    tolerance_pct: f64,
) -> Result<Trend, ReportError> {
    if !tolerance_pct.is_finite() || tolerance_pct < 0.0 {
        return Err(ReportError::Options(format!(
            "--tolerance {tolerance_pct}: must be a finite percentage ≥ 0"
        )));
    }
    if reports.is_empty() {
        return Err(ReportError::Options(
            "trend needs at least one report".into(),
        ));
    }
    let names: Vec<&str> = if metrics.is_empty() {
        DEFAULT_METRICS.to_vec()
    } else {
        metrics.iter().map(String::as_str).collect()
    };
    let mut chosen: Vec<&'static Metric> = Vec::new();
    for n in names {
        let m = METRICS.iter().find(|m| m.name == n).ok_or_else(|| {
            let known: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
            ReportError::Options(format!(
                "--metric {n:?}: unknown metric (known: {})",
                known.join(", ")
            ))
        })?;
        if !chosen.iter().any(|c| c.name == m.name) {
            chosen.push(m);
        }
    }
    let mut reports = reports;
    // By instant (dates carry their committers' time zones); stable, so equal dates keep
    // the order given, and reports without a readable date go last in that order.
    reports.sort_by_key(|(_, r)| {
        r.tool
            .date
            .as_deref()
            .and_then(instant)
            .map_or((1, 0), |t| (0, t))
    });
    let mut runs: Vec<String> = Vec::new();
    for (_, r) in &reports {
        for run in &r.runs {
            if !runs.contains(&run.name) {
                runs.push(run.name.clone());
            }
        }
    }
    let mut lines = Vec::new();
    for m in &chosen {
        for run in &runs {
            let values: Vec<Option<f64>> = reports
                .iter()
                .map(|(_, r)| r.run(run).and_then(|x| (m.get)(x)))
                .collect();
            if values.iter().all(Option::is_none) {
                continue;
            }
            let (trend, change_pct, marks) = judge(m, &values, tolerance_pct);
            lines.push(Line {
                metric: m.name,
                run: run.clone(),
                unit: m.unit,
                direction: m.direction,
                values,
                trend,
                change_pct,
                marks,
            });
        }
    }
    Ok(Trend {
        entries: reports
            .iter()
            .map(|(f, r)| Entry {
                file: f.clone(),
                commit: r.tool.commit.clone(),
                date: r.tool.date.clone(),
                scenario: r.scenario.name.clone(),
            })
            .collect(),
        metrics: chosen.iter().map(|m| m.name).collect(),
        tolerance_pct,
        lines,
    })
}

impl Trend {
    /// Lines with a regression in the newest report.
    pub fn latest_regressions(&self) -> impl Iterator<Item = &Line> {
        self.lines
            .iter()
            .filter(|l| l.marks.last() == Some(&Mark::Regression))
    }

    /// True when the newest report regressed against the trend (`offsim trend` exits 1).
    pub fn latest_regressed(&self) -> bool {
        self.latest_regressions().next().is_some()
    }

    /// Every marked value: (entry index, line, mark).
    pub fn anomalies(&self) -> impl Iterator<Item = (usize, &Line, Mark)> {
        self.lines.iter().flat_map(|l| {
            l.marks
                .iter()
                .enumerate()
                .filter(|(_, m)| **m != Mark::Normal)
                .map(move |(i, m)| (i, l, *m))
        })
    }

    /// The summary `offsim trend` prints: the series, every anomaly, and a final `RESULT:`
    /// line about the newest report.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} report(s), oldest first; each value against the median of up to {WINDOW} before it, tolerance ±{} %:",
            self.entries.len(),
            crate::fmt::num(self.tolerance_pct)
        );
        for (i, e) in self.entries.iter().enumerate() {
            let _ = writeln!(
                s,
                "  [{i}] {}  {}  {}",
                e.label(),
                e.date.as_deref().unwrap_or("-"),
                e.file
            );
        }
        let mut any = false;
        for (i, l, m) in self.anomalies() {
            any = true;
            let _ = writeln!(
                s,
                "{} at [{i}] {}: {} {} {} (trend {}, {})",
                if m == Mark::Regression {
                    "REGRESSION"
                } else {
                    "progression"
                },
                self.entries[i].label(),
                l.run,
                l.metric,
                l.values[i].map_or("-".into(), |v| l.unit.show(v)),
                l.trend[i].map_or("-".into(), |v| l.unit.show(v)),
                l.change_pct[i].map_or("-".into(), crate::fmt::signed_pct)
            );
        }
        if !any {
            s.push_str("no value beyond the tolerance\n");
        }
        let _ = writeln!(
            s,
            "RESULT: {}",
            if self.latest_regressed() {
                "REGRESSION in the newest report"
            } else {
                "OK"
            }
        );
        s
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::example;

    /// A series of `n` run reports with dates out of order and hardware p99 `p99s[i]`.
    fn series(p99s: &[u64]) -> Vec<(String, Report)> {
        let mut v: Vec<(String, Report)> = p99s
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let mut r = example::run_report();
                r.tool.commit = Some(format!("{i:040x}"));
                r.tool.date = Some(format!("2026-01-{:02}T00:00:00Z", i + 1));
                r.runs[2].latency_ns.overall.p99 = p;
                (format!("r{i}/report.json"), r)
            })
            .collect();
        v.reverse();
        v
    }

    #[test]
    fn ordered_by_date_and_regression_marked_against_the_median() {
        let t = trend(
            series(&[100_000, 101_000, 99_000, 100_000, 130_000]),
            &[],
            5.0,
        )
        .unwrap();
        let dates: Vec<&str> = t
            .entries
            .iter()
            .map(|e| e.date.as_deref().unwrap())
            .collect();
        assert!(dates.windows(2).all(|w| w[0] < w[1]), "{dates:?}");
        let l = t
            .lines
            .iter()
            .find(|l| l.metric == "latency_ns.p99" && l.run == "hardware")
            .unwrap();
        assert_eq!(l.marks[..4], [Mark::Normal; 4]);
        assert_eq!(l.marks[4], Mark::Regression);
        assert_eq!(l.trend[4], Some(100_000.0));
        assert!(t.latest_regressed());
        assert!(
            t.to_text()
                .ends_with("RESULT: REGRESSION in the newest report\n")
        );
    }

    #[test]
    fn one_outlier_marks_itself_only_and_improvements_are_not_regressions() {
        let t = trend(series(&[100_000, 160_000, 100_000, 60_000]), &[], 5.0).unwrap();
        let l = t
            .lines
            .iter()
            .find(|l| l.metric == "latency_ns.p99" && l.run == "hardware")
            .unwrap();
        // 160 µs against 100: regression; then 100 against median(100, 160) = 130: a
        // progression, not a regression; 60 against median(100, 160, 100) = 100: progression.
        assert_eq!(
            l.marks,
            vec![
                Mark::Normal,
                Mark::Regression,
                Mark::Progression,
                Mark::Progression
            ]
        );
        assert!(!t.latest_regressed());
    }

    #[test]
    fn dates_in_other_zones_order_by_instant() {
        assert_eq!(instant("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(instant("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(
            instant("2026-03-01T10:00:00+02:00"),
            instant("2026-03-01T08:00:00Z")
        );
        assert_eq!(
            instant("2026-03-01T08:00:00.123-01:30"),
            instant("2026-03-01T09:30:00Z")
        );
        assert_eq!(instant("yesterday"), None);
        let mut v = series(&[1, 2]);
        v[0].1.tool.date = Some("2026-01-05T10:00:00+05:00".into()); // 05:00 UTC
        v[1].1.tool.date = Some("2026-01-05T06:00:00Z".into());
        let t = trend(v, &[], 1.0).unwrap();
        assert_eq!(
            t.entries[0].date.as_deref(),
            Some("2026-01-05T10:00:00+05:00")
        );
    }

    #[test]
    fn bad_metric_and_tolerance_are_errors() {
        assert!(trend(series(&[1, 2]), &["nosuch".into()], 1.0).is_err());
        assert!(trend(series(&[1, 2]), &[], -1.0).is_err());
        assert!(trend(Vec::new(), &[], 1.0).is_err());
    }
}
