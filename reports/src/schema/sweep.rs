//! The sweep section of a `sweep` report: the grid's parameters and points.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The sweep section of a `sweep` report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    /// Swept parameter names, in grid order (the first varies slowest).
    pub parameters: Vec<String>,
    /// Number of points in the whole grid (all shards).
    pub total_points: u64,
    /// Which shard this report holds (absent for an unsharded or merged report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// The points this report holds, in increasing `index` order.
    pub points: Vec<SweepPoint>,
}

/// Which shard of a sweep a report holds (`offsim sweep --shard K/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shard {
    /// Shard number `K`, 1-based.
    pub index: u64,
    /// Number of shards `N`.
    pub count: u64,
}

/// One point of a sweep grid.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepPoint {
    /// Global index of the point in the grid, 0-based.
    pub index: u64,
    /// Point name (e.g. `"nic.table_capacity=4096,replay.target_pps=1e6"`).
    pub name: String,
    /// Parameter values (parameter name → value).
    pub values: BTreeMap<String, ParamValue>,
    /// Names of this point's runs in the report's `runs` (in that order).
    pub runs: Vec<String>,
    /// Warnings specific to this point.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A sweep parameter value: a number or a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A number.
    Num(f64),
    /// A string (e.g. a preset name).
    Text(String),
}

impl Default for ParamValue {
    fn default() -> Self {
        ParamValue::Num(0.0)
    }
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Num(x) => write!(f, "{}", crate::fmt::num(*x)),
            ParamValue::Text(s) => f.write_str(s),
        }
    }
}
