//! The machine-readable forms of a [`Comparison`]: JSON (for scripts), JUnit XML (for CI
//! test reporters: one test case per run and metric, a regression is a failure) and
//! Markdown (a pull-request summary).

use std::fmt::Write as _;

use serde::Serialize;

use super::{Comparison, Delta, Status};
use crate::fmt;

/// The JSON document of `--format json`.
#[derive(Serialize)]
struct JsonOut<'a> {
    /// `"OK"` or `"REGRESSION"`.
    result: &'static str,
    /// Regressions (metrics beyond tolerance in the bad direction, plus missing runs).
    regressions: usize,
    #[serde(flatten)]
    comparison: &'a Comparison,
}

/// Escape text for XML attributes and content.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even as references.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// A Markdown table cell: pipes escaped, line breaks removed.
fn md(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

impl Delta {
    /// `base → new (change, tolerance)` in the metric's unit.
    fn summary(&self) -> String {
        format!(
            "{} -> {} ({}; tolerance {})",
            self.unit.show(self.base),
            self.unit.show(self.new),
            fmt::signed_pct(self.change_pct),
            self.tolerance_pct
                .map_or("off".to_string(), |t| format!("±{} %", fmt::num(t)))
        )
    }
}

impl Comparison {
    fn result_word(&self) -> &'static str {
        if self.has_regression() {
            "REGRESSION"
        } else {
            "OK"
        }
    }

    /// Every delta and the verdict as pretty JSON (with a trailing newline).
    pub fn to_json(&self) -> String {
        let doc = JsonOut {
            result: self.result_word(),
            regressions: self.regressions().count() + self.missing_runs.len(),
            comparison: self,
        };
        // Plain structs with string keys: serialising cannot fail.
        let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
        s.push('\n');
        s
    }

    /// JUnit XML: a test suite per run, a test case per metric (failed when it regressed),
    /// and a failed case per base run missing from the new report.
    pub fn to_junit(&self) -> String {
        let mut runs: Vec<&str> = Vec::new();
        for d in &self.deltas {
            if !runs.contains(&d.run.as_str()) {
                runs.push(&d.run);
            }
        }
        let failures = self.regressions().count() + self.missing_runs.len();
        let tests = self.deltas.len() + self.missing_runs.len();
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            s,
            "<testsuites name=\"offsim compare\" tests=\"{tests}\" failures=\"{failures}\">"
        );
        for run in runs {
            let ds: Vec<&Delta> = self.deltas.iter().filter(|d| d.run == run).collect();
            let fails = ds.iter().filter(|d| d.status == Status::Regressed).count();
            let _ = writeln!(
                s,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\">",
                xml(run),
                ds.len()
            );
            for d in ds {
                let _ = write!(
                    s,
                    "    <testcase classname=\"offsim.{}\" name=\"{}\"",
                    xml(run),
                    xml(d.metric)
                );
                if d.status == Status::Regressed {
                    let _ = writeln!(
                        s,
                        ">\n      <failure message=\"regressed: {}\" type=\"regression\"/>\n    </testcase>",
                        xml(&d.summary())
                    );
                } else {
                    let _ = writeln!(
                        s,
                        ">\n      <system-out>{}: {}</system-out>\n    </testcase>",
                        d.status.word(),
                        xml(&d.summary())
                    );
                }
            }
            s.push_str("  </testsuite>\n");
        }
        if !self.missing_runs.is_empty() {
            let _ = writeln!(
                s,
                "  <testsuite name=\"missing runs\" tests=\"{n}\" failures=\"{n}\">",
                n = self.missing_runs.len()
            );
            for r in &self.missing_runs {
                let _ = writeln!(
                    s,
                    "    <testcase classname=\"offsim.{0}\" name=\"present\">\n      <failure message=\"run {0} is in the base report but missing from the new one\" type=\"missing\"/>\n    </testcase>",
                    xml(r)
                );
            }
            s.push_str("  </testsuite>\n");
        }
        s.push_str("</testsuites>\n");
        s
    }

    /// A Markdown summary: the verdict, then a table of the metrics that moved (every
    /// metric when `all`), regressions first.
    pub fn to_markdown(&self, all: bool) -> String {
        let mut s = String::new();
        let regressions = self.regressions().count() + self.missing_runs.len();
        let _ = writeln!(
            s,
            "### offsim compare: {}\n",
            if regressions > 0 {
                format!("❌ {regressions} regression(s)")
            } else {
                "✅ no regression".to_string()
            }
        );
        for n in &self.notes {
            let _ = writeln!(s, "> note: {}\n", md(n));
        }
        for r in &self.missing_runs {
            let _ = writeln!(s, "- **run `{}` is missing** from the new report\n", md(r));
        }
        let mut rows: Vec<&Delta> = self
            .deltas
            .iter()
            .filter(|d| all || d.status != Status::Unchanged)
            .collect();
        // Regressions first, then the others in report order (a stable sort).
        rows.sort_by_key(|d| d.status != Status::Regressed);
        if rows.is_empty() {
            s.push_str("No metric moved.\n");
        } else {
            s.push_str("| run | metric | base | new | change | tolerance | status |\n");
            s.push_str("|---|---|--:|--:|--:|--:|---|\n");
            for d in rows {
                let status = match d.status {
                    Status::Regressed => "**regressed**".to_string(),
                    other => other.word().to_string(),
                };
                let _ = writeln!(
                    s,
                    "| {} | `{}` | {} | {} | {} | {} | {status} |",
                    md(&d.run),
                    d.metric,
                    d.unit.show(d.base),
                    d.unit.show(d.new),
                    fmt::signed_pct(d.change_pct),
                    d.tolerance_pct
                        .map_or("off".to_string(), |t| format!("±{} %", fmt::num(t)))
                );
            }
        }
        let unchanged = self
            .deltas
            .iter()
            .filter(|d| d.status == Status::Unchanged)
            .count();
        let _ = writeln!(
            s,
            "\n{} metric value(s) compared, {unchanged} unchanged.",
            self.deltas.len()
        );
        s
    }
}

#[cfg(test)]
mod test {
    use crate::example;
    use crate::{CompareOptions, compare};

    fn regressed() -> crate::Comparison {
        let base = example::run_report();
        let mut new = base.clone();
        new.runs[2].throughput.delivered_bps *= 0.9;
        new.runs[0].name = "none<&>".into();
        compare(&base, &new, &CompareOptions::default()).unwrap()
    }

    #[test]
    fn json_has_the_verdict_and_every_delta() {
        let c = regressed();
        let v: serde_json::Value = serde_json::from_str(&c.to_json()).unwrap();
        assert_eq!(v["result"], "REGRESSION");
        assert_eq!(v["regressions"], 2);
        assert_eq!(v["deltas"].as_array().unwrap().len(), c.deltas.len());
        assert_eq!(v["missing_runs"][0], "none");
    }

    #[test]
    fn junit_fails_exactly_the_regressions() {
        let c = regressed();
        let x = c.to_junit();
        assert!(x.starts_with("<?xml"));
        assert_eq!(x.matches("<failure ").count(), 2, "{x}");
        assert_eq!(x.matches("<testcase ").count(), c.deltas.len() + 1, "{x}");
        assert!(x.contains("name=\"throughput.delivered_bps\">\n      <failure"));
        // Balanced: every opened element is closed.
        assert_eq!(
            x.matches("<testsuite ").count(),
            x.matches("</testsuite>").count()
        );
        assert_eq!(
            x.matches("<testcase ").count(),
            x.matches("</testcase>").count()
        );
    }

    #[test]
    fn markdown_leads_with_the_verdict_and_the_regression() {
        let c = regressed();
        let m = c.to_markdown(false);
        assert!(
            m.starts_with("### offsim compare: ❌ 2 regression(s)"),
            "{m}"
        );
        let first_row = m.lines().find(|l| l.starts_with("| hardware")).unwrap();
        assert!(first_row.contains("**regressed**"), "{m}");
        let ok = compare(
            &example::run_report(),
            &example::run_report(),
            &CompareOptions::default(),
        )
        .unwrap();
        assert!(ok.to_markdown(false).contains("✅ no regression"));
        assert!(ok.to_markdown(false).contains("No metric moved."));
    }
}
