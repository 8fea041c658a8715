//! Sanitising non-finite floats ([`Report::sanitize`]): JSON has no NaN or infinity, so each
//! is replaced by a finite value and named in a warning. Each struct lists all of its fields
//! (destructuring without `..`), so adding a field without adding it here is a compile
//! error.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::*;

impl Report {
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

impl Report {
    /// [`Report::sanitize`]'s fixes of the fields before `runs` (schema to scenario).
    pub(crate) fn sanitize_head(&mut self, fixes: &mut Vec<String>) {
        let mut path = String::new();
        field("schema", &mut self.schema, &mut path, fixes);
        field("tool", &mut self.tool, &mut path, fixes);
        field("kind", &mut self.kind, &mut path, fixes);
        field("scenario", &mut self.scenario, &mut path, fixes);
    }

    /// [`Report::sanitize`]'s fixes of the fields after `runs` (sweep, plan).
    pub(crate) fn sanitize_tail(&mut self, fixes: &mut Vec<String>) {
        let mut path = String::new();
        field("sweep", &mut self.sweep, &mut path, fixes);
        field("plan", &mut self.plan, &mut path, fixes);
    }
}

/// [`Report::sanitize`]'s fixes of run `i`, named `runs[i]...` as there.
pub(crate) fn sanitize_run(run: &mut Run, i: usize, fixes: &mut Vec<String>) {
    let mut path = format!("runs[{i}]");
    run.sanitize_into(&mut path, fixes);
}

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
no_floats!(u64, u32, u16, bool, String, ReportKind, Handshakes);

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

/// Sanitise the field `name` of a struct, as `path.name` while inside it.
fn field(name: &str, value: &mut impl Sanitize, path: &mut String, fixes: &mut Vec<String>) {
    let len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(name);
    value.sanitize_into(path, fixes);
    path.truncate(len);
}

macro_rules! sanitize_fields {
    ($t:ident { $($f:ident),* $(,)? }) => {
        impl Sanitize for $t {
            fn sanitize_into(&mut self, path: &mut String, fixes: &mut Vec<String>) {
                let $t { $($f),* } = self;
                $(field(stringify!($f), $f, path, fixes);)*
            }
        }
    };
}

sanitize_fields!(Tool {
    name,
    version,
    commit,
    date
});
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
    warnings,
    notes
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
    loop_mode,
    congestion,
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
    conntrack,
    handshakes,
    slo,
    series,
    rules,
    events,
    egress,
    closed_loop
});
sanitize_fields!(ClosedLoop {
    congestion,
    senders,
    aborted,
    retransmissions,
    fast_retransmits,
    rtos,
    ecn_reductions,
    goodput_up_bps,
    goodput_down_bps,
    router_delay_bulk_ns,
    router_delay_sparse_ns,
    top_senders
});
sanitize_fields!(SenderReport {
    flow,
    bytes,
    goodput_bps,
    retransmissions,
    rtos
});
sanitize_fields!(EgressReport {
    device,
    qdisc,
    shaper_bps,
    rate_bps,
    sent,
    queue_delay_ns,
    codel_drops,
    overlimit_drops,
    ecn_marks,
    peak_backlog,
    bypassed_hw
});
sanitize_fields!(DurationStats {
    count,
    mean,
    min,
    p50,
    p90,
    p99,
    max
});
sanitize_fields!(EventReport {
    at_s,
    kind,
    target,
    flows,
    hw_flows,
    conntrack_deleted,
    slow_path_packets,
    readded,
    hw_reinserted,
    last_readd_s,
    link_down_lost,
    misdirected,
    old_verdict_packets,
    old_verdict_bytes,
    old_verdict_until_s
});
sanitize_fields!(RuleCounter {
    family,
    table,
    chain,
    index,
    packets,
    bytes
});
sanitize_fields!(ConntrackTable {
    max,
    buckets,
    peak,
    early_drop,
    table_full
});
sanitize_fields!(Throughput {
    offered_pps,
    offered_bps,
    delivered_pps,
    delivered_bps,
    offered_wire_bps,
    delivered_wire_bps,
    offered_packets,
    delivered_packets,
    offered_bytes,
    delivered_bytes,
    connections,
    cps
});
// `overall` is flattened into `latency_ns` in JSON, so its fields are named without an
// `overall.` step (e.g. `runs[0].latency_ns.mean`).
impl Sanitize for Latency {
    fn sanitize_into(&mut self, path: &mut String, fixes: &mut Vec<String>) {
        let Latency { overall, by_path } = self;
        overall.sanitize_into(path, fixes);
        field("by_path", by_path, path, fixes);
    }
}
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
    util_busiest,
    busiest_core,
    workqueue_peak_backlog_ns,
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
sanitize_fields!(Drops {
    total,
    by_reason,
    capacity,
    rx_ring_full_by_core,
    by_port
});
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
    examples,
    time_to_flowtable_ns,
    time_to_hardware_ns
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
    index,
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
    latency_p99_ns,
    hw_backlog
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
sanitize_fields!(Plan { configs, pdr_loss });
sanitize_fields!(PlanConfig {
    name,
    max_pps,
    max_bps,
    limited_by,
    points,
    ndr,
    pdr,
    slo,
    window,
    design_drop_rate
});
sanitize_fields!(Rate {
    pps,
    bps,
    wire_bps,
    cps
});
sanitize_fields!(RateBound { lower, upper, loss });
sanitize_fields!(PlanPoint {
    offered_pps,
    offered_bps,
    delivered_pps,
    delivered_bps,
    p99_ns,
    drop_rate,
    loss_rate,
    offered_wire_bps,
    cpu_busiest,
    cpu_util,
    met
});
