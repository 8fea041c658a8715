//! The capacity-planning section of a `plan` report: per configuration, the non-drop rate
//! (NDR), the partial-drop rate (PDR) and the highest rate within the SLO, each with the
//! bracket the search is sure of (RFC 2544; FD.io CSIT's MLRsearch), and the probed rates.

use serde::{Deserialize, Serialize};

/// The capacity-planning section of a `plan` report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// One entry per configuration (policy).
    pub configs: Vec<PlanConfig>,
    /// The loss ratio the PDR allows, fraction.
    #[serde(default)]
    pub pdr_loss: f64,
}

/// An offered rate.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Packets per second.
    pub pps: f64,
    /// Frame bits per second (L2).
    pub bps: f64,
    /// Wire bits per second (L1, what `replay.rate_gbps` sets).
    pub wire_bps: f64,
    /// New connections per second at this rate (the trace's connections per packet, as
    /// the reference run set them up, times `pps`).
    #[serde(default)]
    pub cps: f64,
}

/// A throughput search's answer: the highest probed rate that passed with every probed
/// rate below it passing too (so the answer is monotone by construction), and the lowest
/// probed rate that failed.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateBound {
    /// The rate found (lower bound of the bracket).
    pub lower: Rate,
    /// The lowest failing rate probed (upper bound), absent when the highest rate probed
    /// passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<Rate>,
    /// Loss ratio measured at the lower bound, fraction.
    pub loss: f64,
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
    /// Non-drop rate: no loss (absent when even the lowest rate lost packets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ndr: Option<RateBound>,
    /// Partial-drop rate: loss at most [`Plan::pdr_loss`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdr: Option<RateBound>,
    /// The highest rate within the SLO, with its bracket (`max_bps` is its lower bound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<RateBound>,
    /// How the measurement window was chosen (the warm-up it leaves out).
    #[serde(default)]
    pub window: String,
    /// Drops the ruleset, routing and the trace cause by design, measured at the
    /// reference (lowest) rate, fraction of offered; loss is what a rate drops beyond them.
    #[serde(default)]
    pub design_drop_rate: f64,
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
    /// Loss, fraction of offered: what the router failed to forward for lack of capacity,
    /// plus drops beyond the design drop rate (e.g. a connection broken by a lost packet).
    #[serde(default)]
    pub loss_rate: f64,
    /// Offered load, wire bits per second (L1).
    #[serde(default)]
    pub offered_wire_bps: f64,
    /// Utilisation of the busiest core, fraction.
    #[serde(default)]
    pub cpu_busiest: f64,
    /// Mean CPU utilisation, fraction.
    pub cpu_util: f64,
    /// True when this point met the SLO.
    pub met: bool,
}
