//! What was simulated: the inputs of a report, for display ([`Scenario`] and its parts).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The scenario: display-oriented description of every input. Nothing here is read back
/// by the simulator; it is what a reader needs to know what was simulated.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Scenario name (from the scenario file).
    pub name: String,
    /// Scenario file path as given on the command line.
    pub file: String,
    /// Free-text description from the scenario file.
    #[serde(default)]
    pub description: String,
    /// The traffic replayed.
    pub trace: TraceInfo,
    /// The nftables ruleset.
    pub ruleset: RulesetInfo,
    /// The CPU model.
    pub cpu: CpuInfo,
    /// The NIC model.
    pub nic: NicInfo,
    /// Kernel flavour (e.g. `"6.14+"` or `"5.15-6.13"`), with OpenWrt sysctls if any.
    pub kernel: String,
    /// How the trace was replayed.
    pub replay: ReplayInfo,
    /// Seed of every random choice (same seed and inputs → same report).
    pub seed: u64,
    /// The service-level objective, if the scenario has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloSpec>,
    /// Any other scenario settings worth showing, as display strings (key → value).
    #[serde(default)]
    pub details: BTreeMap<String, String>,
}

/// The traffic a scenario replays.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceInfo {
    /// Capture file path, or the generator spec (e.g. `"gen:home-router seed=1"`).
    pub source: String,
    /// Packets in the trace (one pass, before replay loops).
    pub packets: u64,
    /// Wire bytes in the trace (one pass).
    pub bytes: u64,
    /// Duration of the trace as recorded, nanoseconds.
    pub duration_ns: u64,
    /// Distinct flows (5-tuples, both directions counted once), when known. `offsim run`
    /// no longer counts them (that needed a set of every flow of the trace; `offsim trace
    /// info` gives the count); reports written before still carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flows: Option<u64>,
    /// Free-text summary (protocol mix, packet sizes, …).
    #[serde(default)]
    pub description: String,
}

/// The nftables ruleset a scenario uses.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesetInfo {
    /// Ruleset file path.
    pub file: String,
    /// Table names, as `family name` (e.g. `"inet fw4"`).
    #[serde(default)]
    pub tables: Vec<String>,
    /// Number of chains.
    pub chains: u64,
    /// Number of rules.
    pub rules: u64,
    /// Flowtable names, with `(offload)` when they carry `flags offload`.
    #[serde(default)]
    pub flowtables: Vec<String>,
    /// Free-text summary.
    #[serde(default)]
    pub description: String,
}

/// The CPU model of a scenario.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuInfo {
    /// Preset name (e.g. `"mt7621"`).
    pub preset: String,
    /// Cores used for packet processing.
    pub cores: u32,
    /// Core clock, Hz.
    pub freq_hz: f64,
    /// Free-text summary (with the preset's source note).
    #[serde(default)]
    pub description: String,
}

/// The NIC model of a scenario.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NicInfo {
    /// Preset name (e.g. `"mt7621"`).
    pub preset: String,
    /// Hardware flow table capacity, entries.
    pub table_capacity: u64,
    /// Line rate, bits per second.
    pub line_rate_bps: f64,
    /// Free-text summary (buckets × ways, insertion rate, source note).
    #[serde(default)]
    pub description: String,
}

/// How a trace was replayed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayInfo {
    /// Mode: `"recorded"`, `"speedup"`, `"rate-pps"` or `"rate-bps"`.
    pub mode: String,
    /// Speed-up factor (1 for recorded timing).
    pub speedup: f64,
    /// Target rate in packets per second (0 when not retimed to a pps rate).
    pub target_pps: f64,
    /// Target rate in bits per second (0 when not retimed to a bit rate).
    pub target_bps: f64,
    /// Number of passes over the trace (1 = no looping).
    pub loops: u32,
    /// `"closed-loop"` when TCP connections were closed-loop senders (`replay.mode`);
    /// absent: open loop (every packet at the trace's time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_mode: Option<String>,
    /// The closed-loop senders' congestion control (`cubic`, `reno`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub congestion: Option<String>,
    /// Simulated duration, nanoseconds.
    pub duration_ns: u64,
    /// Free-text summary.
    #[serde(default)]
    pub description: String,
}

/// A service-level objective: each limit is optional; a run meets the SLO when it meets
/// every limit that is set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    /// Maximum p99 latency, nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_latency_ns: Option<u64>,
    /// Maximum p99.9 latency, nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p999_latency_ns: Option<u64>,
    /// Maximum drop rate, fraction of offered packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_drop_rate: Option<f64>,
    /// Maximum mean CPU utilisation, fraction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cpu_util: Option<f64>,
    /// Free-text summary (e.g. `"p99 ≤ 1 ms, drops ≤ 0.1 %"`).
    #[serde(default)]
    pub description: String,
}
