//! JSON in and out: [`Report::to_json_string`], [`Report::from_json`] (schema check first,
//! then strict fields, then [`Report::validate`]) and [`Report::from_json_file`].

use std::path::Path;

use serde::Deserialize;

use super::{Report, SCHEMA};
use crate::ReportError;

#[derive(Deserialize)]
struct SchemaProbe {
    schema: Option<serde_json::Value>,
}

/// A serde_json error as [`ReportError::Json`], its position as fields rather than text.
fn json_error(e: &serde_json::Error) -> ReportError {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
    ReportError::Json {
        line: e.line(),
        column: e.column(),
        msg,
    }
}

/// Why a report streamed by [`Report::write_json_streaming`] could not be written.
#[derive(Debug, thiserror::Error)]
pub enum StreamError<E: std::error::Error + 'static> {
    /// Writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A run could not be read from where it was kept.
    #[error(transparent)]
    Run(E),
}

/// Pretty JSON of `v`, every line but the first indented by `indent` spaces.
fn pretty_indented<T: serde::Serialize>(v: &T, indent: usize) -> String {
    let s = serde_json::to_string_pretty(v)
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    let pad = " ".repeat(indent);
    s.replace('\n', &format!("\n{pad}"))
}

impl Report {
    /// Writes the bytes [`Report::to_json_string`] gives for this report with `runs` as its
    /// runs (`self.runs` is ignored), reading and writing one run at a time: a report of
    /// any number of runs is written in the memory of one (`offsim sweep`).
    pub fn write_json_streaming<E: std::error::Error + 'static>(
        &self,
        runs: impl Iterator<Item = Result<super::Run, E>>,
        out: &mut impl std::io::Write,
    ) -> Result<(), StreamError<E>> {
        let mut doc = self.clone();
        doc.runs.clear();
        let mut fixes = Vec::new();
        doc.sanitize_head(&mut fixes);
        // Split the document without runs around its `"runs": []`: nothing else can hold
        // that text (a newline inside a string is escaped).
        const MARK: &str = "\n  \"runs\": [],\n";
        let empty = pretty_indented(&doc, 0);
        let head_end = empty.find(MARK).map(|i| i + 1).unwrap_or(0);
        out.write_all(&empty.as_bytes()[..head_end])?;
        let mut n = 0usize;
        for r in runs {
            let mut r = r.map_err(StreamError::Run)?;
            super::sanitize::sanitize_run(&mut r, n, &mut fixes);
            out.write_all(if n == 0 {
                b"  \"runs\": [\n    "
            } else {
                b",\n    "
            })?;
            out.write_all(pretty_indented(&r, 4).as_bytes())?;
            n += 1;
        }
        out.write_all(if n == 0 {
            b"  \"runs\": [],\n"
        } else {
            b"\n  ],\n"
        })?;
        doc.sanitize_tail(&mut fixes);
        doc.warnings.extend(fixes);
        let full = pretty_indented(&doc, 0);
        let tail_start = full
            .find(MARK)
            .map(|i| i + MARK.len())
            .unwrap_or(full.len());
        out.write_all(&full.as_bytes()[tail_start..])?;
        out.write_all(b"\n")?;
        Ok(())
    }

    /// Serialise as pretty JSON with a trailing newline. Deterministic: the same report
    /// gives the same bytes. Non-finite floats are replaced first (see [`Report::sanitize`]).
    pub fn to_json_string(&self) -> String {
        let mut copy = self.clone();
        copy.sanitize();
        // Serialising plain structs with string keys and finite floats cannot fail.
        let mut out = serde_json::to_string_pretty(&copy)
            .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
        out.push('\n');
        out
    }

    /// Parse a report. Checks the `schema` value first (so a report of another schema
    /// version gets a clear error), then every field (unknown fields are errors), then
    /// [`Report::validate`]. JSON errors carry serde_json's line and column.
    pub fn from_json(text: &str) -> Result<Report, ReportError> {
        let probe: SchemaProbe = serde_json::from_str(text).map_err(|e| json_error(&e))?;
        match probe.schema {
            None => return Err(ReportError::Schema { found: None }),
            Some(serde_json::Value::String(s)) if s == SCHEMA => {}
            Some(v) => {
                let found = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                return Err(ReportError::Schema { found: Some(found) });
            }
        }
        let report: Report = serde_json::from_str(text).map_err(|e| json_error(&e))?;
        report.validate()?;
        Ok(report)
    }

    /// Read and parse a report file; errors name the file.
    pub fn from_json_file(path: &Path) -> Result<Report, ReportError> {
        let text = offsim_traces::input::read_text(path, offsim_traces::input::MAX_REPORT_BYTES)
            .map_err(|e| ReportError::Io {
                path: path.to_path_buf(),
                error: match e {
                    offsim_traces::input::InputError::Io(io) => io,
                    other => {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string())
                    }
                },
            })?;
        Report::from_json(&text).map_err(|e| ReportError::InFile {
            path: path.to_path_buf(),
            inner: Box::new(e),
        })
    }
}

#[cfg(test)]
mod test {
    /// Streaming the runs gives the bytes of the report serialised whole, NaNs included.
    #[test]
    fn streamed_json_is_byte_identical() {
        let mut reports = vec![
            crate::example::run_report(),
            crate::example::sweep_report(),
            crate::example::plan_report(),
        ];
        let mut nan = crate::example::sweep_report();
        nan.runs[1].cpu.util_mean = f64::NAN;
        nan.scenario.cpu.freq_hz = f64::INFINITY;
        reports.push(nan);
        let mut empty = crate::example::run_report();
        empty.runs.clear();
        reports.push(empty);
        for r in reports {
            let whole = r.to_json_string();
            let mut streamed = Vec::new();
            r.write_json_streaming(
                r.runs.iter().cloned().map(Ok::<_, std::io::Error>),
                &mut streamed,
            )
            .unwrap();
            assert_eq!(String::from_utf8(streamed).unwrap(), whole);
        }
    }
}
