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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ReportError;

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
}

impl Default for Tool {
    fn default() -> Self {
        Tool {
            name: "offsim".to_string(),
            version: String::new(),
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
    /// Distinct flows (5-tuples, both directions counted once).
    pub flows: u64,
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
    /// Preset name (e.g. `"mt7621-ppe"`).
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

/// One simulated configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    /// Unique name: `none`, `software`, `hardware`, a what-if policy name, or for a sweep
    /// `"<point name>/<policy>"`.
    pub name: String,
    /// Offload policy: `none`, `software`, `hardware` or a what-if policy name. Charts of
    /// a sweep group runs by this field.
    pub policy: String,
    /// Free-text description of the configuration.
    #[serde(default)]
    pub description: String,
    /// Name of the run that `savings` compare against (the `none` run of the same trace),
    /// if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Simulated duration of the run, nanoseconds.
    pub duration_ns: u64,
    /// Offered and delivered throughput.
    pub throughput: Throughput,
    /// Latency, overall and per path.
    pub latency_ns: Latency,
    /// Packets per path.
    pub paths: Paths,
    /// CPU utilisation and cycles.
    pub cpu: Cpu,
    /// Hardware flow table figures.
    pub nic: Nic,
    /// Dropped packets.
    pub drops: Drops,
    /// Mean power, watts.
    pub power_w: Power,
    /// Energy over the run.
    pub energy: Energy,
    /// Savings against the `baseline` run; absent for the baseline itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savings: Option<Savings>,
    /// Flow offload outcomes ("is this flow offloaded, and if not, why?").
    pub flows: Flows,
    /// SLO evaluation (absent when the scenario has no SLO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloResult>,
    /// Per-interval time series.
    pub series: Series,
}

/// Offered and delivered throughput, mean over the run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throughput {
    /// Offered load, packets per second.
    pub offered_pps: f64,
    /// Offered load, bits per second (wire length).
    pub offered_bps: f64,
    /// Delivered (forwarded) traffic, packets per second.
    pub delivered_pps: f64,
    /// Delivered (forwarded) traffic, bits per second (wire length).
    pub delivered_bps: f64,
    /// Offered packets, count.
    pub offered_packets: u64,
    /// Delivered packets, count.
    pub delivered_packets: u64,
    /// Offered wire bytes, count.
    pub offered_bytes: u64,
    /// Delivered wire bytes, count.
    pub delivered_bytes: u64,
}

/// Latency distribution of delivered packets (arrival at the NIC to departure), overall
/// (the fields at this level) and per path (`by_path`). All values in nanoseconds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// Packets measured, count.
    pub count: u64,
    /// Mean, nanoseconds.
    pub mean: f64,
    /// Minimum, nanoseconds.
    pub min: u64,
    /// Median, nanoseconds.
    pub p50: u64,
    /// 90th percentile, nanoseconds.
    pub p90: u64,
    /// 99th percentile, nanoseconds.
    pub p99: u64,
    /// 99.9th percentile, nanoseconds.
    pub p999: u64,
    /// Maximum, nanoseconds.
    pub max: u64,
    /// Histogram of all packets, for CDF charts.
    #[serde(default)]
    pub histogram: Vec<HistogramBucket>,
    /// The same statistics per path.
    pub by_path: PathLatency,
}

impl Latency {
    /// The overall statistics as a [`LatencyStats`] (without `by_path`).
    pub fn overall(&self) -> LatencyStats {
        LatencyStats {
            count: self.count,
            mean: self.mean,
            min: self.min,
            p50: self.p50,
            p90: self.p90,
            p99: self.p99,
            p999: self.p999,
            max: self.max,
            histogram: self.histogram.clone(),
        }
    }

    /// Set the overall statistics from a [`LatencyStats`] (keeps `by_path`).
    pub fn set_overall(&mut self, s: LatencyStats) {
        self.count = s.count;
        self.mean = s.mean;
        self.min = s.min;
        self.p50 = s.p50;
        self.p90 = s.p90;
        self.p99 = s.p99;
        self.p999 = s.p999;
        self.max = s.max;
        self.histogram = s.histogram;
    }
}

/// Latency statistics of one path. All values in nanoseconds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyStats {
    /// Packets measured, count (0: every other field is 0).
    pub count: u64,
    /// Mean, nanoseconds.
    pub mean: f64,
    /// Minimum, nanoseconds.
    pub min: u64,
    /// Median, nanoseconds.
    pub p50: u64,
    /// 90th percentile, nanoseconds.
    pub p90: u64,
    /// 99th percentile, nanoseconds.
    pub p99: u64,
    /// 99.9th percentile, nanoseconds.
    pub p999: u64,
    /// Maximum, nanoseconds.
    pub max: u64,
    /// Histogram, for CDF charts.
    #[serde(default)]
    pub histogram: Vec<HistogramBucket>,
}

/// One histogram bucket: packets whose latency is ≤ `le_ns` and above the previous
/// bucket's bound. Buckets are in increasing `le_ns` order; empty buckets may be omitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistogramBucket {
    /// Upper bound of the bucket (inclusive), nanoseconds.
    pub le_ns: u64,
    /// Packets in the bucket, count.
    pub count: u64,
}

/// Latency per path.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathLatency {
    /// CPU slow path (netfilter hooks, conntrack, rules).
    pub slow: LatencyStats,
    /// Software flowtable fast path.
    pub sw_fast: LatencyStats,
    /// Hardware (NIC) forwarding.
    pub hw: LatencyStats,
}

/// Packets forwarded per path, counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paths {
    /// Packets through the CPU slow path, count.
    pub slow: u64,
    /// Packets through the software flowtable fast path, count.
    pub sw_fast: u64,
    /// Packets forwarded by the NIC hardware, count.
    pub hw: u64,
}

impl Paths {
    /// Sum over the three paths.
    pub fn total(&self) -> u64 {
        self.slow
            .saturating_add(self.sw_fast)
            .saturating_add(self.hw)
    }

    /// Shares `(slow, sw_fast, hw)` as fractions of the total (all 0 when no packets).
    pub fn shares(&self) -> (f64, f64, f64) {
        let t = self.total();
        if t == 0 {
            return (0.0, 0.0, 0.0);
        }
        let t = t as f64;
        (
            self.slow as f64 / t,
            self.sw_fast as f64 / t,
            self.hw as f64 / t,
        )
    }
}

/// A value per path.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerPath {
    /// CPU slow path.
    pub slow: f64,
    /// Software flowtable fast path.
    pub sw_fast: f64,
    /// Hardware path (CPU cycles spent on hardware-path packets are normally 0).
    pub hw: f64,
}

/// CPU use.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cpu {
    /// Utilisation per core, fraction of the run's duration (index = core number).
    pub util_per_core: Vec<f64>,
    /// Mean utilisation over all cores, fraction.
    pub util_mean: f64,
    /// Total cycles spent on packet processing and timers, count.
    pub total_cycles: u64,
    /// Cycles per delivered-or-dropped packet that reached a core, cycles.
    pub cycles_per_packet: f64,
    /// Cycles per packet on each path, cycles.
    pub cycles_per_packet_by_path: PerPath,
    /// Cycles by stage (e.g. `driver_rx`, `conntrack`, `rules`, `flowtable`), count.
    #[serde(default)]
    pub cycles_by_stage: BTreeMap<String, u64>,
}

/// Hardware flow table figures.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nic {
    /// Table capacity, entries (0: no hardware table in this configuration).
    pub capacity: u64,
    /// Peak occupancy, entries.
    pub peak_occupancy: u64,
    /// Mean occupancy, entries (time-weighted).
    pub mean_occupancy: f64,
    /// Entries inserted (bound), count.
    pub inserts: u64,
    /// Insertions refused, total count.
    pub refusals: u64,
    /// Insertions refused, by reason (e.g. `bucket_full`, `table_full`, `queue_full`,
    /// `unsupported`), counts.
    #[serde(default)]
    pub refusals_by_reason: BTreeMap<String, u64>,
    /// Entries evicted or aged out by the hardware, count.
    pub evictions: u64,
    /// Entries deleted on flow teardown, count.
    pub deletes: u64,
    /// Packets that hit a bound entry, count.
    pub hits: u64,
    /// Packets that missed the table, count.
    pub misses: u64,
    /// Lazy-binding checks (MediaTek-style unbound-entry hits), count.
    pub bind_checks: u64,
    /// Packets punted from the NIC to the CPU, count.
    pub punts: u64,
}

/// Dropped packets.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drops {
    /// Dropped packets, total count.
    pub total: u64,
    /// Dropped packets by reason (e.g. `rx_ring_full`, `ruleset`, `line_rate`), counts.
    #[serde(default)]
    pub by_reason: BTreeMap<String, u64>,
}

/// Mean power over a run, watts.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Power {
    /// CPU power, watts.
    pub cpu: f64,
    /// NIC power, watts.
    pub nic: f64,
    /// CPU + NIC power, watts.
    pub total: f64,
}

/// Energy over a run.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Energy {
    /// Total energy, joules.
    pub total_j: f64,
    /// Energy per delivered packet, nanojoules.
    pub per_packet_nj: f64,
}

/// Savings of a run against its baseline (the `none` run). Positive means less used.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Savings {
    /// Mean CPU utilisation saved, fraction points (baseline − this).
    pub cpu_util: f64,
    /// CPU cycles saved, percent of the baseline's cycles.
    pub cpu_cycles_pct: f64,
    /// Power saved, watts.
    pub power_w: f64,
    /// Power saved, percent of the baseline's total power.
    pub power_pct: f64,
    /// Energy saved, joules.
    pub energy_j: f64,
    /// Energy per packet saved, percent of the baseline's.
    pub energy_per_packet_pct: f64,
}

/// Flow offload outcomes, aggregated: answers "is this flow offloaded, and if not, why?"
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flows {
    /// Flows seen (connections, both directions counted once), count.
    pub total: u64,
    /// Flows that reached the software flowtable (and stayed in software), count.
    pub offloaded_sw: u64,
    /// Flows bound in the hardware table at some point, count.
    pub offloaded_hw: u64,
    /// Flows never offloaded, by reason (e.g. `no_flow_add_rule`, `too_short`,
    /// `not_established`, `policy`, `unsupported_proto`), counts.
    #[serde(default)]
    pub not_offloaded: BTreeMap<String, u64>,
    /// Flows refused by the hardware and kept in software, by reason, counts.
    #[serde(default)]
    pub hw_refused: BTreeMap<String, u64>,
    /// Offloaded flows that fell back to the slow path, by cause (e.g. `tcp_fin`,
    /// `tcp_rst`, `timeout`, `route_change`), counts.
    #[serde(default)]
    pub fell_back: BTreeMap<String, u64>,
    /// Flowtable entries torn down, by cause, counts.
    #[serde(default)]
    pub teardown: BTreeMap<String, u64>,
    /// A few example flows with their outcome (largest first), for the "explain" table.
    #[serde(default)]
    pub examples: Vec<FlowExample>,
}

/// One flow and what happened to it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowExample {
    /// The flow, as text (e.g. `"tcp 192.168.1.10:51000 -> 93.184.216.34:443"`).
    pub flow: String,
    /// Packets, both directions, count.
    pub packets: u64,
    /// Wire bytes, both directions, count.
    pub bytes: u64,
    /// Final offload state: `slow`, `sw`, `hw`.
    pub outcome: String,
    /// Why (e.g. `bound`, `bucket_full`, `too_short`).
    pub reason: String,
}

/// SLO evaluation of a run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloResult {
    /// True when every check is met.
    pub met: bool,
    /// One entry per limit set in the SLO.
    pub checks: Vec<SloCheck>,
}

/// One SLO check.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloCheck {
    /// Metric checked (e.g. `latency_ns.p99`, `drop_rate`, `cpu.util_mean`).
    pub metric: String,
    /// Limit (upper bound), in `unit`.
    pub limit: f64,
    /// Measured value, in `unit`.
    pub actual: f64,
    /// Unit of `limit` and `actual` (`ns`, `fraction`, …).
    pub unit: String,
    /// True when `actual <= limit`.
    pub met: bool,
}

/// Per-interval time series. Every array has one entry per interval (all the same
/// length); interval `i` covers `[start_ns + i*interval_ns, start_ns + (i+1)*interval_ns)`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Series {
    /// Interval length, nanoseconds (0 when there is no series).
    pub interval_ns: u64,
    /// Start of the first interval, nanoseconds of simulated time.
    #[serde(default)]
    pub start_ns: u64,
    /// Offered load, packets per second.
    #[serde(default)]
    pub offered_pps: Vec<f64>,
    /// Offered load, bits per second.
    #[serde(default)]
    pub offered_bps: Vec<f64>,
    /// Delivered traffic, packets per second.
    #[serde(default)]
    pub delivered_pps: Vec<f64>,
    /// Delivered traffic, bits per second.
    #[serde(default)]
    pub delivered_bps: Vec<f64>,
    /// Mean CPU utilisation over all cores, fraction.
    #[serde(default)]
    pub cpu_util: Vec<f64>,
    /// Hardware table occupancy at the end of the interval, entries.
    #[serde(default)]
    pub hw_occupancy: Vec<u64>,
    /// Hardware insertions in the interval, count.
    #[serde(default)]
    pub hw_inserts: Vec<u64>,
    /// Hardware insertion refusals in the interval, count.
    #[serde(default)]
    pub hw_refusals: Vec<u64>,
    /// Packets on the slow path in the interval, count.
    #[serde(default)]
    pub slow: Vec<u64>,
    /// Packets on the software fast path in the interval, count.
    #[serde(default)]
    pub sw_fast: Vec<u64>,
    /// Packets on the hardware path in the interval, count.
    #[serde(default)]
    pub hw: Vec<u64>,
    /// Dropped packets in the interval, count.
    #[serde(default)]
    pub drops: Vec<u64>,
    /// 99th percentile latency of packets delivered in the interval, nanoseconds (0 when
    /// none).
    #[serde(default)]
    pub latency_p99_ns: Vec<u64>,
}

impl Series {
    /// Number of intervals (the length of the longest array).
    pub fn len(&self) -> usize {
        self.lengths()
            .into_iter()
            .map(|(_, n)| n)
            .max()
            .unwrap_or(0)
    }

    /// True when the series holds no interval.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every array's name and length.
    pub fn lengths(&self) -> [(&'static str, usize); 13] {
        [
            ("offered_pps", self.offered_pps.len()),
            ("offered_bps", self.offered_bps.len()),
            ("delivered_pps", self.delivered_pps.len()),
            ("delivered_bps", self.delivered_bps.len()),
            ("cpu_util", self.cpu_util.len()),
            ("hw_occupancy", self.hw_occupancy.len()),
            ("hw_inserts", self.hw_inserts.len()),
            ("hw_refusals", self.hw_refusals.len()),
            ("slow", self.slow.len()),
            ("sw_fast", self.sw_fast.len()),
            ("hw", self.hw.len()),
            ("drops", self.drops.len()),
            ("latency_p99_ns", self.latency_p99_ns.len()),
        ]
    }
}

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

// ---------------------------------------------------------------------------------------
// JSON in and out.

#[derive(Deserialize)]
struct SchemaProbe {
    schema: Option<serde_json::Value>,
}

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

    /// Check the invariants a renderer and a CI gate rely on: the schema string, unique
    /// run names, series arrays of equal length, a `sweep` section exactly for sweep
    /// reports and a `plan` section exactly for plan reports, sweep points in increasing
    /// index order below `total_points`, each naming existing runs.
    pub fn validate(&self) -> Result<(), ReportError> {
        let bad = |m: String| Err(ReportError::Invalid(m));
        if self.schema != SCHEMA {
            return Err(ReportError::Schema {
                found: Some(self.schema.clone()),
            });
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, r) in self.runs.iter().enumerate() {
            if r.name.is_empty() {
                return bad(format!("runs[{i}]: empty run name"));
            }
            if !names.insert(r.name.as_str()) {
                return bad(format!("runs[{i}]: duplicate run name {:?}", r.name));
            }
            let lens = r.series.lengths();
            let n = r.series.len();
            for (field, len) in lens {
                if len != n {
                    return bad(format!(
                        "runs[{i}] ({:?}): series.{field} has {len} entries, expected {n} \
                         (every series array must have one entry per interval)",
                        r.name
                    ));
                }
            }
            if n > 0 && r.series.interval_ns == 0 {
                return bad(format!("runs[{i}] ({:?}): series.interval_ns is 0", r.name));
            }
        }
        for (i, r) in self.runs.iter().enumerate() {
            if let Some(b) = &r.baseline
                && !names.contains(b.as_str())
            {
                return bad(format!(
                    "runs[{i}] ({:?}): baseline {b:?} is not a run of this report",
                    r.name
                ));
            }
        }
        match (self.kind, &self.sweep) {
            (ReportKind::Sweep, None) => return bad("sweep report without a sweep section".into()),
            (k, Some(_)) if k != ReportKind::Sweep => {
                return bad(format!("{} report with a sweep section", k.as_str()));
            }
            _ => {}
        }
        match (self.kind, &self.plan) {
            (ReportKind::Plan, None) => return bad("plan report without a plan section".into()),
            (k, Some(_)) if k != ReportKind::Plan => {
                return bad(format!("{} report with a plan section", k.as_str()));
            }
            _ => {}
        }
        if let Some(sw) = &self.sweep {
            if let Some(sh) = sw.shard
                && (sh.count == 0 || sh.index == 0 || sh.index > sh.count)
            {
                return bad(format!(
                    "sweep.shard {}/{} is not K/N with 1 <= K <= N",
                    sh.index, sh.count
                ));
            }
            let mut prev: Option<u64> = None;
            for (i, p) in sw.points.iter().enumerate() {
                if p.index >= sw.total_points {
                    return bad(format!(
                        "sweep.points[{i}]: index {} is not below total_points {}",
                        p.index, sw.total_points
                    ));
                }
                if prev.is_some_and(|q| p.index <= q) {
                    return bad(format!(
                        "sweep.points[{i}]: index {} not in increasing order",
                        p.index
                    ));
                }
                prev = Some(p.index);
                for r in &p.runs {
                    if !names.contains(r.as_str()) {
                        return bad(format!("sweep.points[{i}]: run {r:?} is not in runs"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Find a run by name.
    pub fn run(&self, name: &str) -> Option<&Run> {
        self.runs.iter().find(|r| r.name == name)
    }

    /// True when some float in the report is NaN or infinite.
    pub fn has_non_finite(&self) -> bool {
        let mut probe = self.clone();
        probe.sanitize() > 0
    }

    /// Replace every NaN by 0 and every ±infinity by ±`f64::MAX`, appending one warning per
    /// replaced value (naming its place, e.g. `runs[1].cpu.util_mean`). Returns how many
    /// values were replaced.
    pub fn sanitize(&mut self) -> usize {
        let mut path = String::new();
        let mut fixes = Vec::new();
        self.sanitize_into(&mut path, &mut fixes);
        let n = fixes.len();
        self.warnings.extend(fixes);
        n
    }
}

// ---------------------------------------------------------------------------------------
// Sanitising non-finite floats. Each struct lists all of its fields (destructuring without
// `..`), so adding a field without adding it here is a compile error.

trait Sanitize {
    fn sanitize_into(&mut self, path: &mut String, fixes: &mut Vec<String>);
}

impl Sanitize for f64 {
    fn sanitize_into(&mut self, path: &mut String, fixes: &mut Vec<String>) {
        if !self.is_finite() {
            let new = if self.is_nan() {
                0.0
            } else if *self > 0.0 {
                f64::MAX
            } else {
                f64::MIN
            };
            fixes.push(format!(
                "non-finite value {} at {path} replaced by {new}",
                *self
            ));
            *self = new;
        }
    }
}

macro_rules! no_floats {
    ($($t:ty),*) => {$(
        impl Sanitize for $t {
            fn sanitize_into(&mut self, _: &mut String, _: &mut Vec<String>) {}
        }
    )*};
}
no_floats!(u64, u32, bool, String, ReportKind);

impl<T: Sanitize> Sanitize for Vec<T> {
    fn sanitize_into(&mut self, path: &mut String, fixes: &mut Vec<String>) {
        for (i, v) in self.iter_mut().enumerate() {
            let len = path.len();
            let _ = write!(path, "[{i}]");
            v.sanitize_into(path, fixes);
            path.truncate(len);
        }
    }
}

impl<T: Sanitize> Sanitize for Option<T> {
    fn sanitize_into(&mut self, path: &mut String, fixes: &mut Vec<String>) {
        if let Some(v) = self {
            v.sanitize_into(path, fixes);
        }
    }
}

impl<T: Sanitize> Sanitize for BTreeMap<String, T> {
    fn sanitize_into(&mut self, path: &mut String, fixes: &mut Vec<String>) {
        for (k, v) in self.iter_mut() {
            let len = path.len();
            let _ = write!(path, "[{k:?}]");
            v.sanitize_into(path, fixes);
            path.truncate(len);
        }
    }
}

impl Sanitize for ParamValue {
    fn sanitize_into(&mut self, path: &mut String, fixes: &mut Vec<String>) {
        if let ParamValue::Num(x) = self {
            x.sanitize_into(path, fixes);
        }
    }
}

macro_rules! sanitize_fields {
    ($t:ident { $($f:ident),* $(,)? }) => {
        impl Sanitize for $t {
            fn sanitize_into(&mut self, path: &mut String, fixes: &mut Vec<String>) {
                let $t { $($f),* } = self;
                $(
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(stringify!($f));
                    $f.sanitize_into(path, fixes);
                    path.truncate(len);
                )*
            }
        }
    };
}

sanitize_fields!(Tool { name, version });
sanitize_fields!(HistogramBucket { le_ns, count });
sanitize_fields!(Paths { slow, sw_fast, hw });
sanitize_fields!(Shard { index, count });
sanitize_fields!(Report {
    schema,
    tool,
    kind,
    scenario,
    runs,
    sweep,
    plan,
    warnings
});
sanitize_fields!(Scenario {
    name,
    file,
    description,
    trace,
    ruleset,
    cpu,
    nic,
    kernel,
    replay,
    seed,
    slo,
    details
});
sanitize_fields!(TraceInfo {
    source,
    packets,
    bytes,
    duration_ns,
    flows,
    description
});
sanitize_fields!(RulesetInfo {
    file,
    tables,
    chains,
    rules,
    flowtables,
    description
});
sanitize_fields!(CpuInfo {
    preset,
    cores,
    freq_hz,
    description
});
sanitize_fields!(NicInfo {
    preset,
    table_capacity,
    line_rate_bps,
    description
});
sanitize_fields!(ReplayInfo {
    mode,
    speedup,
    target_pps,
    target_bps,
    loops,
    duration_ns,
    description
});
sanitize_fields!(SloSpec {
    p99_latency_ns,
    p999_latency_ns,
    max_drop_rate,
    max_cpu_util,
    description
});
sanitize_fields!(Run {
    name,
    policy,
    description,
    baseline,
    duration_ns,
    throughput,
    latency_ns,
    paths,
    cpu,
    nic,
    drops,
    power_w,
    energy,
    savings,
    flows,
    slo,
    series
});
sanitize_fields!(Throughput {
    offered_pps,
    offered_bps,
    delivered_pps,
    delivered_bps,
    offered_packets,
    delivered_packets,
    offered_bytes,
    delivered_bytes
});
sanitize_fields!(Latency {
    count,
    mean,
    min,
    p50,
    p90,
    p99,
    p999,
    max,
    histogram,
    by_path
});
sanitize_fields!(LatencyStats {
    count,
    mean,
    min,
    p50,
    p90,
    p99,
    p999,
    max,
    histogram
});
sanitize_fields!(PathLatency { slow, sw_fast, hw });
sanitize_fields!(PerPath { slow, sw_fast, hw });
sanitize_fields!(Cpu {
    util_per_core,
    util_mean,
    total_cycles,
    cycles_per_packet,
    cycles_per_packet_by_path,
    cycles_by_stage
});
sanitize_fields!(Nic {
    capacity,
    peak_occupancy,
    mean_occupancy,
    inserts,
    refusals,
    refusals_by_reason,
    evictions,
    deletes,
    hits,
    misses,
    bind_checks,
    punts
});
sanitize_fields!(Drops { total, by_reason });
sanitize_fields!(Power { cpu, nic, total });
sanitize_fields!(Energy {
    total_j,
    per_packet_nj
});
sanitize_fields!(Savings {
    cpu_util,
    cpu_cycles_pct,
    power_w,
    power_pct,
    energy_j,
    energy_per_packet_pct
});
sanitize_fields!(Flows {
    total,
    offloaded_sw,
    offloaded_hw,
    not_offloaded,
    hw_refused,
    fell_back,
    teardown,
    examples
});
sanitize_fields!(FlowExample {
    flow,
    packets,
    bytes,
    outcome,
    reason
});
sanitize_fields!(SloResult { met, checks });
sanitize_fields!(SloCheck {
    metric,
    limit,
    actual,
    unit,
    met
});
sanitize_fields!(Series {
    interval_ns,
    start_ns,
    offered_pps,
    offered_bps,
    delivered_pps,
    delivered_bps,
    cpu_util,
    hw_occupancy,
    hw_inserts,
    hw_refusals,
    slow,
    sw_fast,
    hw,
    drops,
    latency_p99_ns
});
sanitize_fields!(Sweep {
    parameters,
    total_points,
    shard,
    points
});
sanitize_fields!(SweepPoint {
    index,
    name,
    values,
    runs,
    warnings
});
sanitize_fields!(Plan { configs });
sanitize_fields!(PlanConfig {
    name,
    max_pps,
    max_bps,
    limited_by,
    points
});
sanitize_fields!(PlanPoint {
    offered_pps,
    offered_bps,
    delivered_pps,
    delivered_bps,
    p99_ns,
    drop_rate,
    cpu_util,
    met
});
