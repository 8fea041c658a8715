//! The results of one simulated configuration: [`Run`] and its parts (throughput, latency,
//! paths, CPU, NIC, drops, power, savings, flows, SLO, time series).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    /// The conntrack table's limit and what it did, when the scenario sets
    /// `nf_conntrack_max` or `nf_conntrack_buckets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conntrack: Option<ConntrackTable>,
    /// Lost handshakes and their retries.
    #[serde(default)]
    pub handshakes: Handshakes,
    /// SLO evaluation (absent when the scenario has no SLO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloResult>,
    /// Per-interval time series.
    pub series: Series,
    /// Every rule's counter (as `nft list ruleset` would show it after the run) and every
    /// base chain's policy counter, in ruleset order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleCounter>,
    /// What each timeline event (`[[events]]`) did and cost, in time order; absent without
    /// events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventReport>,
    /// What each port's host qdisc (`[egress.PORT]`) did; absent without one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<EgressReport>,
    /// What the closed-loop TCP senders did (`replay.mode = "closed-loop"`); absent in an
    /// open-loop replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_loop: Option<ClosedLoop>,
}

/// What the closed-loop TCP senders did: each TCP connection of the trace sent its bytes
/// under congestion control, clocked by the ACKs the router forwarded.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosedLoop {
    /// Congestion control: `cubic` or `reno`.
    pub congestion: String,
    /// TCP connections that became senders, count.
    pub senders: u64,
    /// Connections given up (handshake or data retries exhausted), count.
    pub aborted: u64,
    /// Segments sent again (SYN and SYN-ACK retries included), count.
    pub retransmissions: u64,
    /// Fast retransmits (third duplicate ACK), count.
    pub fast_retransmits: u64,
    /// Retransmission timeouts, count.
    pub rtos: u64,
    /// Congestion windows reduced for an ECN echo, count.
    pub ecn_reductions: u64,
    /// Payload received in order from LAN senders (upload), bits per second over the
    /// measured span.
    pub goodput_up_bps: f64,
    /// Payload received in order from WAN senders (download), bits per second.
    pub goodput_down_bps: f64,
    /// Time through the router of the data segments of window-limited (bulk) senders,
    /// nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_delay_bulk_ns: Option<DurationStats>,
    /// Time through the router of the data segments of application-limited (sparse)
    /// senders, nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_delay_sparse_ns: Option<DurationStats>,
    /// The senders that sent the most, most first (at most 8).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_senders: Vec<SenderReport>,
}

/// One direction of a closed-loop connection.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderReport {
    /// The direction, as text (`"tcp 198.51.100.7:443 -> 192.168.1.10:40000"`).
    pub flow: String,
    /// Bytes acknowledged, count.
    pub bytes: u64,
    /// Bytes over the time from its first data segment to its last byte acknowledged,
    /// bits per second.
    pub goodput_bps: f64,
    /// Segments it sent again, count.
    pub retransmissions: u64,
    /// Its retransmission timeouts, count.
    pub rtos: u64,
}

/// A port's host qdisc: the queue delay it added, what it dropped, and the traffic that
/// bypassed it in hardware.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressReport {
    /// The device, as the scenario names it.
    pub device: String,
    /// `pfifo_fast`, `fq_codel` or `cake`.
    pub qdisc: String,
    /// The shaper's rate, bits per second (0: none, the port's line rate).
    pub shaper_bps: u64,
    /// The rate the qdisc drained at, bits per second.
    pub rate_bps: u64,
    /// Packets it sent, count.
    pub sent: u64,
    /// Time they spent in it, nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_delay_ns: Option<DurationStats>,
    /// Dropped by CoDel at dequeue, count.
    pub codel_drops: u64,
    /// Dropped over the limit (tail drop, or from the fattest flow), count.
    pub overlimit_drops: u64,
    /// ECN-marked instead of dropped, count.
    pub ecn_marks: u64,
    /// Most packets held at once, count.
    pub peak_backlog: u64,
    /// Packets forwarded in hardware out of this port, past the qdisc and its shaper, count.
    pub bypassed_hw: u64,
}

/// What one timeline event did to the router's state and what it cost the connections it
/// touched, until they were offloaded again.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventReport {
    /// When, seconds after the trace's first packet.
    pub at_s: f64,
    /// `ruleset-reload`, `flowtable-flush`, `conntrack-flush`, `link-down`, `link-up` or
    /// `host-move`.
    pub kind: String,
    /// The device or host it concerns, as the scenario names it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    /// Flowtable entries torn down (`host-move` without the fdb teardown: entries left
    /// sending to the port the host left), count.
    pub flows: u64,
    /// Of those, entries that were in hardware, count.
    pub hw_flows: u64,
    /// Conntrack entries deleted (`conntrack-flush`), count.
    pub conntrack_deleted: u64,
    /// Packets of those connections that took the slow path again, count.
    pub slow_path_packets: u64,
    /// Of those connections, re-added to the flowtable, count.
    pub readded: u64,
    /// Re-inserted in hardware, count.
    pub hw_reinserted: u64,
    /// From the event to the last re-add to the flowtable, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_readd_s: Option<f64>,
    /// Packets lost at a port the event took down, until it came back up, count.
    pub link_down_lost: u64,
    /// Packets sent to the port their host had left (lost there), count.
    pub misdirected: u64,
    /// `policy-change`: packets of flows offloaded before the change that the flowtable or
    /// the NIC forwarded after it, past the new rules (the old verdict), count.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub old_verdict_packets: u64,
    /// Their bytes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub old_verdict_bytes: u64,
    /// From the change to the last of them, seconds: how long the old verdict held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_verdict_until_s: Option<f64>,
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

/// One rule's counter, or (with `index` absent) a base chain's policy counter.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleCounter {
    /// Family (`inet`, `ip`, …).
    pub family: String,
    /// Table.
    pub table: String,
    /// Chain.
    pub chain: String,
    /// 0-based position of the rule in its chain; absent for the chain's policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Packets counted.
    pub packets: u64,
    /// Bytes counted (L3).
    pub bytes: u64,
}

/// The conntrack table: its limit, its buckets, and what the limit did.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConntrackTable {
    /// `nf_conntrack_max` (0: no limit).
    pub max: u64,
    /// `nf_conntrack_buckets`: hash buckets, the ones `early_drop` walks.
    pub buckets: u64,
    /// Most entries held at once (confirmed and unconfirmed).
    pub peak: u64,
    /// Entries evicted by `early_drop` for a new connection.
    pub early_drop: u64,
    /// New connections refused because the table was full and `early_drop` found nothing to
    /// evict ("nf_conntrack: table full, dropping packet").
    pub table_full: u64,
}

/// Offered and delivered throughput, mean over the run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throughput {
    /// Offered load, packets per second.
    pub offered_pps: f64,
    /// Offered load, frame bits per second (L2: Ethernet frames as captured, without the
    /// preamble, inter-frame gap and FCS).
    pub offered_bps: f64,
    /// Delivered (forwarded) traffic, packets per second.
    pub delivered_pps: f64,
    /// Delivered (forwarded) traffic, frame bits per second (L2).
    pub delivered_bps: f64,
    /// Offered load, wire bits per second (L1: each frame plus 24 bytes of preamble, SFD,
    /// inter-frame gap and FCS; what a line's rate counts, and what `replay.rate_gbps`
    /// sets).
    #[serde(default)]
    pub offered_wire_bps: f64,
    /// Delivered traffic, wire bits per second (L1).
    #[serde(default)]
    pub delivered_wire_bps: f64,
    /// Offered packets, count.
    pub offered_packets: u64,
    /// Delivered packets, count.
    pub delivered_packets: u64,
    /// Offered frame bytes (L2), count.
    pub offered_bytes: u64,
    /// Delivered frame bytes (L2), count.
    pub delivered_bytes: u64,
    /// New connections the router set up (conntrack entries confirmed), count.
    #[serde(default)]
    pub connections: u64,
    /// New connections per second (CSIT's CPS beside PPS).
    #[serde(default)]
    pub cps: f64,
}

/// Latency distribution of delivered packets (arrival at the NIC to departure), overall
/// and per path. All values in nanoseconds.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// Statistics of all packets. Flattened: in JSON its fields (`count`, `mean`, …,
    /// `histogram`) sit directly in `latency_ns`, before `by_path`.
    #[serde(flatten)]
    pub overall: LatencyStats,
    /// The same statistics per path.
    pub by_path: PathLatency,
}

/// Latency statistics of all packets or of one path. All values in nanoseconds.
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
    /// Utilisation of the busiest core, fraction (what saturates first: one RX ring's core
    /// can be full while the mean looks comfortable).
    #[serde(default)]
    pub util_busiest: f64,
    /// Index of the busiest core.
    #[serde(default)]
    pub busiest_core: u16,
    /// Most process-context work (flowtable GC, hardware offload work items) queued on one
    /// core at once, nanoseconds of execution.
    #[serde(default)]
    pub workqueue_peak_backlog_ns: u64,
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

impl Cpu {
    /// The busiest core and its utilisation (the first of equals; `None` without per-core
    /// figures). A saturated core hides in the mean: one RX ring's core at 100 % of two is
    /// a 50 % mean.
    pub fn busiest_core(&self) -> Option<(usize, f64)> {
        self.util_per_core
            .iter()
            .copied()
            .enumerate()
            .fold(None, |best, (i, u)| match best {
                Some((_, b)) if b >= u => best,
                _ => Some((i, u)),
            })
    }
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
    /// Packets the router failed to forward for lack of capacity: `link_overrun`,
    /// `rx_ring_full`, `nic_engine_queue`, `egress_buffer`, `conntrack_full` (RFC 2544 loss;
    /// the rest are drops the ruleset, routing or the trace decided), count.
    #[serde(default)]
    pub capacity: u64,
    /// Packets dropped at a full RX ring, per core (index = core number).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rx_ring_full_by_core: Vec<u64>,
    /// Port drops by port and reason (`<device>.link_overrun`, `<device>.egress_buffer`),
    /// counts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_port: BTreeMap<String, u64>,
}

/// What TCP senders did about handshakes the router lost for lack of capacity: they
/// retransmit the SYN (or SYN-ACK) after 1 s, doubling, and their connection starts that
/// much later.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handshakes {
    /// Connections that lost a handshake packet at least once, count.
    pub deferred: u64,
    /// SYN or SYN-ACK retransmissions offered, count.
    pub retransmissions: u64,
    /// Connections given up (retries exhausted), count.
    pub abandoned: u64,
    /// Packets of the trace never sent because their connection was given up or held past
    /// the end of the trace, count.
    pub unsent: u64,
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
    /// Time to offload: from a flow's first packet to its first flowtable entry,
    /// nanoseconds; absent when no flow got one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_flowtable_ns: Option<DurationStats>,
    /// From a flow's first packet to its first forwarding hardware entry, nanoseconds;
    /// absent when no flow reached hardware.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_hardware_ns: Option<DurationStats>,
}

/// A distribution of durations by its quantiles (upper bucket edges, as for latency),
/// nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DurationStats {
    /// Samples, count.
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
    /// Maximum, nanoseconds.
    pub max: u64,
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

/// Per-interval time series. Every array has one entry per interval kept (all the same
/// length); interval `i` covers `[start_ns + i*interval_ns, start_ns + (i+1)*interval_ns)`.
/// Intervals in which nothing happened during a long idle gap (a capture whose timestamps
/// jump ahead) are not kept: then `index` gives each entry's interval number, and every
/// skipped interval had no traffic, no drops and no CPU work.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Series {
    /// Interval length, nanoseconds (0 when there is no series).
    pub interval_ns: u64,
    /// Start of the first interval, nanoseconds of simulated time.
    #[serde(default)]
    pub start_ns: u64,
    /// The interval number of each entry, strictly increasing, when some intervals were
    /// skipped; absent when entry `i` is interval `i`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub index: Vec<u64>,
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
    /// The hardware insertion backlog: the most hardware adds waiting at once in the
    /// interval for an answer (in the offload workqueue or the NIC's insertion pipeline),
    /// count; absent without hardware offload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hw_backlog: Vec<u64>,
}

impl Series {
    /// The interval number of entry `i`.
    pub fn interval_of(&self, i: usize) -> u64 {
        self.index.get(i).copied().unwrap_or(i as u64)
    }

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
    pub(crate) fn lengths(&self) -> [(&'static str, usize); 13] {
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
