//! Compare two reports: the CI gate behind `offsim compare BASE.json NEW.json`.
//!
//! Runs are matched by name. For every common run, every metric in `METRICS` is compared
//! with a direction (lower throughput is worse, higher latency is worse, …) and a tolerance
//! in percent: the global one (default `DEFAULT_TOLERANCE_PCT`, 0.5 %, tight because results
//! are deterministic) or a per-metric override. A change beyond the tolerance in the bad
//! direction is a regression; in the good direction an improvement; for a neutral metric
//! (e.g. hardware inserts) just a change. A run of the base missing from the new report
//! counts as a regression (the gate lost coverage).
//!
//! Percent changes are relative to the base value, but never to less than the metric's
//! `floor` (so a metric going from 0 to 1 drop is a 100 % change, not an infinite one).
//!
//! `format.rs` writes a comparison as JSON, JUnit XML or Markdown. `metrics.rs` lists the metrics (name, direction, floor, unit, how to read it from a
//! run); this file holds the options, the judgement and the text table.

mod format;
mod metrics;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::ReportError;
use crate::fmt;
use crate::schema::Report;
pub use metrics::{Direction, Unit};
pub(crate) use metrics::{METRICS, Metric};

/// Default tolerance, percent.
pub(crate) const DEFAULT_TOLERANCE_PCT: f64 = 0.5;

/// Options of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareOptions {
    /// Tolerance for every metric without an override, percent.
    pub tolerance_pct: f64,
    /// Per-metric overrides (metric name or `prefix.*` → percent; `None` = not gated).
    pub metric_tolerance_pct: BTreeMap<String, Option<f64>>,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            tolerance_pct: DEFAULT_TOLERANCE_PCT,
            metric_tolerance_pct: BTreeMap::new(),
        }
    }
}

impl CompareOptions {
    /// Options with a global tolerance in percent (must be finite and ≥ 0).
    pub fn with_tolerance(pct: f64) -> Result<Self, ReportError> {
        check_pct(pct, "--tolerance")?;
        Ok(CompareOptions {
            tolerance_pct: pct,
            ..CompareOptions::default()
        })
    }

    /// Add a per-metric override from `NAME=PCT` (`NAME` a metric of `METRICS` or a
    /// `prefix.*` pattern such as `latency_ns.*`; `PCT` a percentage or `off` to report the
    /// metric without gating on it).
    pub fn add_metric_override(&mut self, spec: &str) -> Result<(), ReportError> {
        let Some((name, value)) = spec.split_once('=') else {
            return Err(ReportError::Options(format!(
                "--metric {spec:?}: expected NAME=PCT (e.g. latency_ns.p99=2) or NAME=off"
            )));
        };
        let name = name.trim();
        let value = value.trim();
        if !METRICS.iter().any(|m| pattern_matches(name, m.name)) {
            let names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
            return Err(ReportError::Options(format!(
                "--metric {spec:?}: unknown metric {name:?} (known: {})",
                names.join(", ")
            )));
        }
        let pct = if value.eq_ignore_ascii_case("off") {
            None
        } else {
            let v: f64 = value.trim_end_matches('%').parse().map_err(|_| {
                ReportError::Options(format!(
                    "--metric {spec:?}: {value:?} is not a percentage or `off`"
                ))
            })?;
            check_pct(v, &format!("--metric {spec:?}"))?;
            Some(v)
        };
        self.metric_tolerance_pct.insert(name.to_string(), pct);
        Ok(())
    }

    /// Tolerance of a metric in percent (`None`: not gated). An exact name beats a
    /// pattern; among patterns the longest prefix wins.
    pub fn tolerance_for(&self, metric: &str) -> Option<f64> {
        if let Some(v) = self.metric_tolerance_pct.get(metric) {
            return *v;
        }
        let best = self
            .metric_tolerance_pct
            .iter()
            .filter(|(k, _)| k.ends_with(".*") && pattern_matches(k, metric))
            .max_by_key(|(k, _)| k.len());
        match best {
            Some((_, v)) => *v,
            None => Some(self.tolerance_pct),
        }
    }
}

/// Error unless `v` is a finite percentage ≥ 0.
fn check_pct(v: f64, what: &str) -> Result<(), ReportError> {
    if !v.is_finite() || v < 0.0 {
        return Err(ReportError::Options(format!(
            "{what}: tolerance must be a finite percentage ≥ 0, got {v}"
        )));
    }
    Ok(())
}

/// True when `metric` is `pattern`, or starts with the prefix of a `prefix.*` pattern.
fn pattern_matches(pattern: &str, metric: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) if prefix.ends_with('.') => metric.starts_with(prefix),
        _ => pattern == metric,
    }
}

/// Outcome of one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Identical values.
    Unchanged,
    /// Changed, but within the tolerance.
    WithinTolerance,
    /// Beyond the tolerance in the good direction.
    Improved,
    /// Beyond the tolerance in the bad direction.
    Regressed,
    /// Beyond the tolerance, for a neutral or ungated metric.
    Changed,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Unchanged => "same",
            Status::WithinTolerance => "within tolerance",
            Status::Improved => "improved",
            Status::Regressed => "REGRESSED",
            Status::Changed => "changed",
        }
    }
}

/// One metric of one run, compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delta {
    /// Run name.
    pub run: String,
    /// Metric name.
    pub metric: &'static str,
    /// Display unit.
    pub unit: Unit,
    /// Base value.
    pub base: f64,
    /// New value.
    pub new: f64,
    /// Change relative to the base (or the metric's floor), percent.
    pub change_pct: f64,
    /// Tolerance applied, percent (`None`: not gated).
    pub tolerance_pct: Option<f64>,
    /// Which way is better.
    pub direction: Direction,
    /// Outcome.
    pub status: Status,
}

/// The result of [`compare`].
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Comparison {
    /// Every compared metric of every common run (base run order, then `METRICS` order).
    pub deltas: Vec<Delta>,
    /// Runs of the base missing from the new report (each counts as a regression).
    pub missing_runs: Vec<String>,
    /// Runs only in the new report (informational).
    pub new_runs: Vec<String>,
    /// Notes about the inputs (e.g. different scenario names).
    pub notes: Vec<String>,
}

impl Comparison {
    /// Deltas that regressed.
    pub fn regressions(&self) -> impl Iterator<Item = &Delta> {
        self.deltas.iter().filter(|d| d.status == Status::Regressed)
    }

    /// Deltas that moved at all (every status but `Unchanged`).
    pub fn moved(&self) -> impl Iterator<Item = &Delta> {
        self.deltas.iter().filter(|d| d.status != Status::Unchanged)
    }

    /// True when some metric regressed or a base run is missing: `offsim compare` exits 1.
    pub fn has_regression(&self) -> bool {
        self.regressions().next().is_some() || !self.missing_runs.is_empty()
    }

    fn count(&self, s: Status) -> usize {
        self.deltas.iter().filter(|d| d.status == s).count()
    }

    /// A text table of the metrics that moved (every metric when `all`), then a summary
    /// and a final `RESULT: OK` or `RESULT: REGRESSION` line.
    pub fn to_text(&self, all: bool) -> String {
        let mut rows: Vec<[String; 7]> = vec![[
            "run".into(),
            "metric".into(),
            "base".into(),
            "new".into(),
            "change".into(),
            "tolerance".into(),
            "status".into(),
        ]];
        for d in self
            .deltas
            .iter()
            .filter(|d| all || d.status != Status::Unchanged)
        {
            rows.push([
                d.run.clone(),
                d.metric.to_string(),
                d.unit.show(d.base),
                d.unit.show(d.new),
                if d.status == Status::Unchanged {
                    "0".into()
                } else {
                    fmt::signed_pct(d.change_pct)
                },
                match d.tolerance_pct {
                    Some(t) => format!("±{} %", fmt::num(t)),
                    None => "off".into(),
                },
                d.status.word().to_string(),
            ]);
        }
        let mut out = String::new();
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        if rows.len() > 1 {
            let mut w = [0usize; 7];
            for r in &rows {
                for (i, c) in r.iter().enumerate() {
                    w[i] = w[i].max(c.chars().count());
                }
            }
            for (k, r) in rows.iter().enumerate() {
                let mut line = String::new();
                for (i, c) in r.iter().enumerate() {
                    let pad = w[i] - c.chars().count();
                    if (2..=5).contains(&i) {
                        line.push_str(&" ".repeat(pad));
                        line.push_str(c);
                    } else {
                        line.push_str(c);
                        if i < 6 {
                            line.push_str(&" ".repeat(pad));
                        }
                    }
                    if i < 6 {
                        line.push_str("  ");
                    }
                }
                let _ = writeln!(out, "{}", line.trim_end());
                if k == 0 {
                    let total: usize = w.iter().sum::<usize>() + 12;
                    let _ = writeln!(out, "{}", "-".repeat(total));
                }
            }
        } else {
            let _ = writeln!(out, "no metric moved");
        }
        for r in &self.missing_runs {
            let _ = writeln!(
                out,
                "REGRESSED: run {r:?} is in the base report but missing from the new one"
            );
        }
        for r in &self.new_runs {
            let _ = writeln!(out, "note: run {r:?} is only in the new report");
        }
        let runs: std::collections::BTreeSet<&str> =
            self.deltas.iter().map(|d| d.run.as_str()).collect();
        let _ = writeln!(
            out,
            "compared {} run(s), {} metric value(s): {} regression(s), {} improvement(s), {} other change(s) beyond tolerance, {} within tolerance, {} unchanged",
            runs.len(),
            self.deltas.len(),
            self.count(Status::Regressed) + self.missing_runs.len(),
            self.count(Status::Improved),
            self.count(Status::Changed),
            self.count(Status::WithinTolerance),
            self.count(Status::Unchanged),
        );
        let _ = writeln!(
            out,
            "RESULT: {}",
            if self.has_regression() {
                "REGRESSION"
            } else {
                "OK"
            }
        );
        out
    }
}

/// The change of a metric from `base` to `new` in percent, and its status under the
/// tolerance `tol` (`None`: not gated).
fn judge(m: &Metric, base: f64, new: f64, tol: Option<f64>) -> (f64, Status) {
    let denom = base.abs().max(m.floor);
    let change = (new - base) / denom * 100.0;
    if new == base || (new - base).abs() <= 1e-12 * denom {
        return (0.0, Status::Unchanged);
    }
    let Some(tol) = tol else {
        return (change, Status::Changed);
    };
    if change.abs() <= tol {
        return (change, Status::WithinTolerance);
    }
    let status = match m.direction {
        Direction::Neutral => Status::Changed,
        Direction::HigherIsBetter => {
            if change > 0.0 {
                Status::Improved
            } else {
                Status::Regressed
            }
        }
        Direction::LowerIsBetter => {
            if change < 0.0 {
                Status::Improved
            } else {
                Status::Regressed
            }
        }
    };
    (change, status)
}

/// Compare `new` against `base`. Errors when the reports share no run name.
pub fn compare(
    base: &Report,
    new: &Report,
    opts: &CompareOptions,
) -> Result<Comparison, ReportError> {
    check_pct(opts.tolerance_pct, "tolerance")?;
    let common = base
        .runs
        .iter()
        .filter(|r| new.run(&r.name).is_some())
        .count();
    if common == 0 {
        return Err(ReportError::NoCommonRuns {
            base: base.runs.iter().map(|r| r.name.clone()).collect(),
            new: new.runs.iter().map(|r| r.name.clone()).collect(),
        });
    }
    let mut c = Comparison::default();
    if base.scenario.name != new.scenario.name {
        c.notes.push(format!(
            "scenario names differ: {:?} vs {:?}",
            base.scenario.name, new.scenario.name
        ));
    }
    if base.tool.version != new.tool.version {
        c.notes.push(format!(
            "tool versions differ: {:?} vs {:?}",
            base.tool.version, new.tool.version
        ));
    }
    for b in &base.runs {
        let Some(n) = new.run(&b.name) else {
            c.missing_runs.push(b.name.clone());
            continue;
        };
        for m in METRICS {
            let (Some(bv), Some(nv)) = ((m.get)(b), (m.get)(n)) else {
                continue;
            };
            let tol = opts.tolerance_for(m.name);
            let (change_pct, status) = judge(m, bv, nv, tol);
            c.deltas.push(Delta {
                run: b.name.clone(),
                metric: m.name,
                unit: m.unit,
                base: bv,
                new: nv,
                change_pct,
                tolerance_pct: tol,
                direction: m.direction,
                status,
            });
        }
    }
    c.new_runs = new
        .runs
        .iter()
        .filter(|r| base.run(&r.name).is_none())
        .map(|r| r.name.clone())
        .collect();
    Ok(c)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::example;

    #[test]
    fn identical_reports_pass() {
        let r = example::run_report();
        let c = compare(&r, &r, &CompareOptions::default()).unwrap();
        assert!(!c.has_regression());
        assert_eq!(c.moved().count(), 0);
        assert!(c.to_text(false).ends_with("RESULT: OK\n"));
    }

    #[test]
    fn throughput_drop_is_a_regression_and_a_gain_is_not() {
        let base = example::run_report();
        let mut new = base.clone();
        new.runs[2].throughput.delivered_bps *= 0.9;
        let c = compare(&base, &new, &CompareOptions::default()).unwrap();
        assert!(c.has_regression());
        let d = c.regressions().next().unwrap();
        assert_eq!(
            (d.run.as_str(), d.metric),
            ("hardware", "throughput.delivered_bps")
        );
        assert!((d.change_pct + 10.0).abs() < 1e-9);
        let mut better = base.clone();
        better.runs[2].throughput.delivered_bps *= 1.1;
        let c = compare(&base, &better, &CompareOptions::default()).unwrap();
        assert!(!c.has_regression());
        assert_eq!(c.moved().next().unwrap().status, Status::Improved);
    }

    #[test]
    fn latency_direction_and_tolerances() {
        let base = example::run_report();
        let mut new = base.clone();
        new.runs[0].latency_ns.overall.p99 = base.runs[0].latency_ns.overall.p99 * 102 / 100;
        assert!(
            compare(&base, &new, &CompareOptions::default())
                .unwrap()
                .has_regression()
        );
        let loose = CompareOptions::with_tolerance(5.0).unwrap();
        assert!(!compare(&base, &new, &loose).unwrap().has_regression());
        let mut per_metric = CompareOptions::default();
        per_metric.add_metric_override("latency_ns.p99=3").unwrap();
        assert!(!compare(&base, &new, &per_metric).unwrap().has_regression());
        let mut pattern = CompareOptions::default();
        pattern.add_metric_override("latency_ns.*=off").unwrap();
        let c = compare(&base, &new, &pattern).unwrap();
        assert!(!c.has_regression());
        assert_eq!(c.moved().next().unwrap().status, Status::Changed);
        // Lower latency is an improvement.
        let mut faster = base.clone();
        faster.runs[0].latency_ns.overall.p99 /= 2;
        assert!(
            !compare(&base, &faster, &CompareOptions::default())
                .unwrap()
                .has_regression()
        );
    }

    #[test]
    fn zero_base_uses_the_floor() {
        let base = example::run_report();
        let mut new = base.clone();
        assert_eq!(base.runs[1].drops.total, 0);
        new.runs[1].drops.total = 3;
        let c = compare(&base, &new, &CompareOptions::default()).unwrap();
        let d = c.regressions().next().unwrap();
        assert_eq!(d.metric, "drops.total");
        assert_eq!(d.change_pct, 300.0);
    }

    #[test]
    fn missing_runs_and_no_common_runs() {
        let base = example::run_report();
        let mut new = base.clone();
        new.runs.retain(|r| r.name != "software");
        let c = compare(&base, &new, &CompareOptions::default()).unwrap();
        assert_eq!(c.missing_runs, vec!["software".to_string()]);
        assert!(c.has_regression());
        let mut other = base.clone();
        for r in &mut other.runs {
            r.name.push('x');
        }
        assert!(matches!(
            compare(&base, &other, &CompareOptions::default()),
            Err(ReportError::NoCommonRuns { .. })
        ));
    }

    #[test]
    fn bad_options_are_errors() {
        let mut o = CompareOptions::default();
        assert!(o.add_metric_override("latency_ns.p98=1").is_err());
        assert!(o.add_metric_override("latency_ns.p99").is_err());
        assert!(o.add_metric_override("latency_ns.p99=-1").is_err());
        assert!(o.add_metric_override("latency_ns.p99=abc").is_err());
        assert!(o.add_metric_override("nosuch.*=1").is_err());
        assert!(CompareOptions::with_tolerance(f64::NAN).is_err());
        assert!(o.add_metric_override("latency_ns.p99=2%").is_ok());
        assert_eq!(o.tolerance_for("latency_ns.p99"), Some(2.0));
        assert_eq!(
            o.tolerance_for("latency_ns.p50"),
            Some(DEFAULT_TOLERANCE_PCT)
        );
    }
}
