//! NIC power: static watts plus energy per packet.
//!
//! `P = static_w + E_dyn / T`, where `E_dyn` counts `rx_nj_per_packet` for every packet that
//! crosses the NIC (received, or sent by the CPU) and `hw_nj_per_packet` for every packet the
//! offload engine forwards. The preset notes say where the figures come from
//! (`reference/anchors.md` §3); savings are always computed by the engine against a
//! no-offload run of the same trace.

use crate::config::PowerConfig;
use crate::stats::DataPathStats;
use offsim_traces::SimDuration;
use serde::Serialize;

/// Power of the NIC over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct PowerReport {
    /// Static power, W.
    pub static_w: f64,
    /// Mean dynamic (per-packet) power, W.
    pub dynamic_w: f64,
    /// Total mean power, W.
    pub total_w: f64,
    /// Energy over the run, J.
    pub energy_j: f64,
}

impl PowerReport {
    /// Power over `duration` given the data-path counters.
    pub fn new(cfg: &PowerConfig, dp: &DataPathStats, duration: SimDuration) -> PowerReport {
        let secs = duration.as_secs_f64();
        let dyn_j = dp.energy_pj as f64 * 1e-12;
        let dynamic_w = if secs > 0.0 { dyn_j / secs } else { 0.0 };
        PowerReport {
            static_w: cfg.static_w,
            dynamic_w,
            total_w: cfg.static_w + dynamic_w,
            energy_j: cfg.static_w * secs + dyn_j,
        }
    }
}

/// Nanojoules to whole picojoules (the unit of [`DataPathStats::energy_pj`]).
pub(crate) fn nj_to_pj(nj: f64) -> u64 {
    (nj * 1000.0).round().max(0.0) as u64
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn static_plus_dynamic() {
        let cfg = PowerConfig {
            static_w: 10.0,
            rx_nj_per_packet: 5.0,
            hw_nj_per_packet: 20.0,
        };
        let dp = DataPathStats {
            energy_pj: nj_to_pj(25.0) * 1_000_000, // 1e6 hw packets
            ..DataPathStats::default()
        };
        let r = PowerReport::new(&cfg, &dp, SimDuration::from_secs(2));
        assert!((r.dynamic_w - 0.0125).abs() < 1e-12, "{r:?}");
        assert!((r.total_w - 10.0125).abs() < 1e-12);
        assert!((r.energy_j - 20.025).abs() < 1e-9);
        assert_eq!(
            PowerReport::new(&cfg, &dp, SimDuration::ZERO).dynamic_w,
            0.0
        );
    }
}
