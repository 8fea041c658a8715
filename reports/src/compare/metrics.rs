//! The metrics `offsim compare` checks: each one's name (the `--metric` vocabulary), which
//! way is better, the floor of its percent change, its display unit and how to read it
//! from a [`Run`].

use serde::Serialize;

use crate::fmt;
use crate::schema::Run;

/// Which way a metric should move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Higher is better (throughput, hardware share).
    HigherIsBetter,
    /// Lower is better (latency, CPU, power, drops, refusals).
    LowerIsBetter,
    /// Neither: a change is reported but never a regression (e.g. hardware inserts).
    Neutral,
}

/// Unit of a metric, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Bits per second.
    Bps,
    /// Packets per second.
    Pps,
    /// Nanoseconds.
    Ns,
    /// A fraction shown as percent.
    Fraction,
    /// A count.
    Count,
    /// Cycles.
    Cycles,
    /// Watts.
    Watts,
    /// Nanojoules.
    Nanojoules,
    /// A yes/no value (1 or 0).
    Bool,
}

impl Unit {
    pub(crate) fn show(self, v: f64) -> String {
        match self {
            Unit::Bps => fmt::bps(v),
            Unit::Pps => fmt::pps(v),
            Unit::Ns => fmt::ns(v),
            Unit::Fraction => fmt::pct(v),
            Unit::Count => {
                if v >= 0.0 && v.fract() == 0.0 && v < 1e15 {
                    (v as u64).to_string()
                } else {
                    fmt::sig3(v)
                }
            }
            Unit::Cycles => fmt::sig3(v),
            Unit::Watts => fmt::watts(v),
            Unit::Nanojoules => fmt::nanojoules(v),
            Unit::Bool => (if v != 0.0 { "yes" } else { "no" }).to_string(),
        }
    }
}

/// One compared metric.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Metric {
    /// Name, as accepted by `--metric NAME=PCT` (e.g. `latency_ns.p99`).
    pub name: &'static str,
    /// Which way is better.
    pub direction: Direction,
    /// Smallest denominator for the percent change, in the metric's unit.
    pub floor: f64,
    /// Display unit.
    pub unit: Unit,
    /// Extract the value (None: not applicable to this run, e.g. no SLO).
    pub get: fn(&Run) -> Option<f64>,
}

use Direction::{HigherIsBetter as Higher, LowerIsBetter as Lower, Neutral};

/// Every metric compared, in output order.
pub(crate) const METRICS: &[Metric] = &[
    Metric {
        name: "throughput.delivered_bps",
        direction: Higher,
        floor: 1.0,
        unit: Unit::Bps,
        get: |r| Some(r.throughput.delivered_bps),
    },
    Metric {
        name: "throughput.delivered_pps",
        direction: Higher,
        floor: 1.0,
        unit: Unit::Pps,
        get: |r| Some(r.throughput.delivered_pps),
    },
    Metric {
        name: "throughput.offered_bps",
        direction: Neutral,
        floor: 1.0,
        unit: Unit::Bps,
        get: |r| Some(r.throughput.offered_bps),
    },
    Metric {
        name: "latency_ns.p50",
        direction: Lower,
        floor: 1.0,
        unit: Unit::Ns,
        get: |r| Some(r.latency_ns.overall.p50 as f64),
    },
    Metric {
        name: "latency_ns.p99",
        direction: Lower,
        floor: 1.0,
        unit: Unit::Ns,
        get: |r| Some(r.latency_ns.overall.p99 as f64),
    },
    Metric {
        name: "latency_ns.p999",
        direction: Lower,
        floor: 1.0,
        unit: Unit::Ns,
        get: |r| Some(r.latency_ns.overall.p999 as f64),
    },
    Metric {
        name: "latency_ns.max",
        direction: Lower,
        floor: 1.0,
        unit: Unit::Ns,
        get: |r| Some(r.latency_ns.overall.max as f64),
    },
    Metric {
        name: "latency_ns.mean",
        direction: Lower,
        floor: 1.0,
        unit: Unit::Ns,
        get: |r| Some(r.latency_ns.overall.mean),
    },
    Metric {
        name: "cpu.util_mean",
        direction: Lower,
        floor: 0.001,
        unit: Unit::Fraction,
        get: |r| Some(r.cpu.util_mean),
    },
    Metric {
        name: "cpu.util_busiest",
        direction: Lower,
        floor: 0.001,
        unit: Unit::Fraction,
        get: |r| Some(r.cpu.busiest_core().map_or(r.cpu.util_mean, |(_, u)| u)),
    },
    Metric {
        name: "cpu.cycles_per_packet",
        direction: Lower,
        floor: 1.0,
        unit: Unit::Cycles,
        get: |r| Some(r.cpu.cycles_per_packet),
    },
    Metric {
        name: "power_w.total",
        direction: Lower,
        floor: 0.001,
        unit: Unit::Watts,
        get: |r| Some(r.power_w.total),
    },
    Metric {
        name: "energy.per_packet_nj",
        direction: Lower,
        floor: 0.001,
        unit: Unit::Nanojoules,
        get: |r| Some(r.energy.per_packet_nj),
    },
    Metric {
        name: "drops.total",
        direction: Lower,
        floor: 1.0,
        unit: Unit::Count,
        get: |r| Some(r.drops.total as f64),
    },
    Metric {
        name: "paths.slow_share",
        direction: Lower,
        floor: 0.001,
        unit: Unit::Fraction,
        get: |r| Some(r.paths.shares().0),
    },
    Metric {
        name: "paths.sw_fast_share",
        direction: Neutral,
        floor: 0.001,
        unit: Unit::Fraction,
        get: |r| Some(r.paths.shares().1),
    },
    Metric {
        name: "paths.hw_share",
        direction: Higher,
        floor: 0.001,
        unit: Unit::Fraction,
        get: |r| Some(r.paths.shares().2),
    },
    Metric {
        name: "nic.peak_occupancy",
        direction: Neutral,
        floor: 1.0,
        unit: Unit::Count,
        get: |r| Some(r.nic.peak_occupancy as f64),
    },
    Metric {
        name: "nic.inserts",
        direction: Neutral,
        floor: 1.0,
        unit: Unit::Count,
        get: |r| Some(r.nic.inserts as f64),
    },
    Metric {
        name: "nic.refusals",
        direction: Lower,
        floor: 1.0,
        unit: Unit::Count,
        get: |r| Some(r.nic.refusals as f64),
    },
    Metric {
        name: "nic.evictions",
        direction: Neutral,
        floor: 1.0,
        unit: Unit::Count,
        get: |r| Some(r.nic.evictions as f64),
    },
    Metric {
        name: "flows.offloaded_hw",
        direction: Higher,
        floor: 1.0,
        unit: Unit::Count,
        get: |r| Some(r.flows.offloaded_hw as f64),
    },
    Metric {
        name: "flows.offloaded_sw",
        direction: Neutral,
        floor: 1.0,
        unit: Unit::Count,
        get: |r| Some(r.flows.offloaded_sw as f64),
    },
    Metric {
        name: "flows.not_offloaded",
        direction: Lower,
        floor: 1.0,
        unit: Unit::Count,
        get: |r| Some(r.flows.not_offloaded.values().sum::<u64>() as f64),
    },
    Metric {
        name: "slo.met",
        direction: Higher,
        floor: 1.0,
        unit: Unit::Bool,
        get: |r| r.slo.as_ref().map(|s| if s.met { 1.0 } else { 0.0 }),
    },
];

#[cfg(test)]
mod test {
    use super::*;

    /// The names are the vocabulary of `offsim compare --metric` and of its output: pinned.
    #[test]
    fn metric_names_are_pinned() {
        let names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            [
                "throughput.delivered_bps",
                "throughput.delivered_pps",
                "throughput.offered_bps",
                "latency_ns.p50",
                "latency_ns.p99",
                "latency_ns.p999",
                "latency_ns.max",
                "latency_ns.mean",
                "cpu.util_mean",
                "cpu.util_busiest",
                "cpu.cycles_per_packet",
                "power_w.total",
                "energy.per_packet_nj",
                "drops.total",
                "paths.slow_share",
                "paths.sw_fast_share",
                "paths.hw_share",
                "nic.peak_occupancy",
                "nic.inserts",
                "nic.refusals",
                "nic.evictions",
                "flows.offloaded_hw",
                "flows.offloaded_sw",
                "flows.not_offloaded",
                "slo.met"
            ]
        );
    }
}
