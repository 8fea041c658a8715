//! The report schema `offsim.report/1`: plain serde structs the engine fills.
//!
//! Every struct derives `Default`, so the engine can start from `Report::default()` (which
//! already carries the right `schema` string) and fill in what it measured. Input is strict:
//! every struct denies unknown fields, so a typo in a hand-edited report is an error naming
//! its line and column, not a silently ignored key.
//!
//! Conventions, used everywhere below:
//! - times and latencies are integer nanoseconds of simulated time (`*_ns`);
//! - rates are per simulated second (`*_pps` packets, `*_bps` bits on the wire);
//! - utilisations and shares are fractions in `0..=1` (rendered as percent);
//! - maps are `BTreeMap<String, _>` so that output order is deterministic;
//! - floats are always finite: [`Report::sanitize`] replaces NaN/inf (and
//!   [`Report::to_json_string`] calls it, noting each fix in `warnings`).
//!
//! Layout of a report: [`Report`] has a [`Scenario`] (what was simulated, for display), one
//! [`Run`] per simulated configuration in `runs` (`none`, `software`, `hardware`, a what-if
//! policy, or a sweep point's configuration), and for `sweep` / `plan` reports a [`Sweep`] or
//! [`Plan`] section.
//!
//! Files, one section each (every type is re-exported here, so `schema::Run` etc.):
//! `mod.rs` the [`Report`] itself, `scenario.rs` the inputs, `run.rs` one configuration's
//! results, `sweep.rs` and `plan.rs` the extra sections, `json.rs` reading and writing,
//! `validate.rs` the invariants, `sanitize.rs` the NaN/inf replacement.

mod json;
mod plan;
mod run;
mod sanitize;
mod scenario;
mod sweep;
mod validate;

use serde::{Deserialize, Serialize};

pub use json::StreamError;
pub use plan::{Plan, PlanConfig, PlanPoint, Rate, RateBound};
pub use run::{
    ClosedLoop, ConntrackTable, Cpu, Drops, DurationStats, EgressReport, Energy, EventReport,
    FlowExample, Flows, Handshakes, HistogramBucket, Latency, LatencyStats, Nic, PathLatency,
    Paths, PerPath, Power, RuleCounter, Run, Savings, SenderReport, Series, SloCheck, SloResult,
    Throughput,
};
pub use scenario::{CpuInfo, NicInfo, ReplayInfo, RulesetInfo, Scenario, SloSpec, TraceInfo};
pub use sweep::{ParamValue, Shard, Sweep, SweepPoint};

/// The value of [`Report::schema`] this crate reads and writes.
pub const SCHEMA: &str = "offsim.report/1";

/// One report: the output of one `offsim run`, `offsim sweep` or `offsim plan`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Schema identifier; always [`SCHEMA`] (`"offsim.report/1"`).
    pub schema: String,
    /// The tool that wrote the report.
    pub tool: Tool,
    /// Which command produced the report.
    pub kind: ReportKind,
    /// What was simulated (display-oriented description of the inputs).
    pub scenario: Scenario,
    /// One entry per simulated configuration, names unique. In a sweep report: every
    /// point's runs, in point order (see [`SweepPoint::runs`]).
    pub runs: Vec<Run>,
    /// Sweep section (present exactly when `kind` is `sweep`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<Sweep>,
    /// Capacity-planning section (present exactly when `kind` is `plan`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// Human-readable warnings about the inputs or the results (in order of discovery).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Informational notes (how a search was run, …): not warnings, shown apart from them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Default for Report {
    fn default() -> Self {
        Report {
            schema: SCHEMA.to_string(),
            tool: Tool::default(),
            kind: ReportKind::Run,
            scenario: Scenario::default(),
            runs: Vec::new(),
            sweep: None,
            plan: None,
            warnings: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// The tool that wrote a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// Tool name (`"offsim"`).
    pub name: String,
    /// Tool version (the `offsim` crate version, e.g. `"0.1.0"`).
    pub version: String,
    /// Commit of what was simulated (`OFFSIM_COMMIT`, or the git checkout offsim ran in);
    /// orders reports in `offsim trend`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Date of that commit, ISO 8601 (`OFFSIM_DATE`, or the commit's committer date);
    /// never the time the report was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

impl Default for Tool {
    fn default() -> Self {
        Tool {
            name: "offsim".to_string(),
            version: String::new(),
            commit: None,
            date: None,
        }
    }
}

/// Which command produced a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    /// `offsim run`: one or more configurations over one trace.
    #[default]
    Run,
    /// `offsim sweep`: a parameter grid.
    Sweep,
    /// `offsim plan`: highest offered rate meeting the SLO.
    Plan,
}

impl ReportKind {
    /// The lowercase name used in JSON (`run`, `sweep`, `plan`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Run => "run",
            ReportKind::Sweep => "sweep",
            ReportKind::Plan => "plan",
        }
    }
}

impl Report {
    /// Find a run by name.
    pub fn run(&self, name: &str) -> Option<&Run> {
        self.runs.iter().find(|r| r.name == name)
    }
}
