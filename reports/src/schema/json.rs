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

impl Report {
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
        let text = std::fs::read_to_string(path).map_err(|error| ReportError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Report::from_json(&text).map_err(|e| ReportError::InFile {
            path: path.to_path_buf(),
            inner: Box::new(e),
        })
    }
}
