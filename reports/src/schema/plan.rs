//! The capacity-planning section of a `plan` report: per configuration, the highest rate
//! within the SLO and the probed rates.

use serde::{Deserialize, Serialize};

/// The capacity-planning section of a `plan` report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// One entry per configuration (policy).
    pub configs: Vec<PlanConfig>,
}

/// Capacity of one configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    /// Configuration name (`none`, `software`, `hardware`, …).
    pub name: String,
    /// Highest offered rate meeting the SLO, packets per second (absent when even the
    /// lowest probed rate missed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pps: Option<f64>,
    /// Highest offered rate meeting the SLO, bits per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bps: Option<f64>,
    /// What limits the rate just above the maximum (e.g. `latency_ns.p99`, `drop_rate`).
    #[serde(default)]
    pub limited_by: String,
    /// Probed rates, in increasing offered rate order (for the knee chart).
    pub points: Vec<PlanPoint>,
}

/// One probed rate of a capacity search.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanPoint {
    /// Offered load, packets per second.
    pub offered_pps: f64,
    /// Offered load, bits per second.
    pub offered_bps: f64,
    /// Delivered traffic, packets per second.
    pub delivered_pps: f64,
    /// Delivered traffic, bits per second.
    pub delivered_bps: f64,
    /// 99th percentile latency, nanoseconds.
    pub p99_ns: u64,
    /// Dropped packets, fraction of offered.
    pub drop_rate: f64,
    /// Mean CPU utilisation, fraction.
    pub cpu_util: f64,
    /// True when this point met the SLO.
    pub met: bool,
}
