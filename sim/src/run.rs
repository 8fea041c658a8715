//! `offsim run`: from a scenario to a report.
//!
//! For each configuration (offload policy) of the scenario, a fresh datapath (ruleset,
//! conntrack, flowtables), NIC and CPU are built and the trace is replayed through the
//! [`Engine`]; configurations run in parallel (rayon) and results are assembled in scenario
//! order, so the report does not depend on the thread count. Savings are computed against the
//! `none` run of the same invocation.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use offsim_nicmodel::Nic;
use offsim_nicmodel::config::NicConfig;
use offsim_reports::schema as rep;
use offsim_traces::r#gen::{GenConfig, GenError, Generator, Profile, Stop};
use offsim_traces::hash::FxHashSet;
use offsim_traces::parse::{LinkType, parse_frame};
use offsim_traces::pcap::TraceError;
use offsim_traces::stream::PacketStream;
use offsim_traces::time::{NS_PER_SEC, SimTime};
use rayon::prelude::*;

use crate::engine::{Arrival, Engine, EngineConfig, PATH_HW, PATH_SLOW, PATH_SW, Source};
use crate::metrics::Histogram;
use crate::replay::{Retimer, Timing, TraceTotals, fresh_tuples};
use crate::scenario::{Admission, CtFlavour, Policy, Scenario, ScenarioError};
use offsim_kernel::conntrack::{CtConfig, CtTimeouts};
use offsim_kernel::datapath::{Datapath, DpConfig, FlowtableMode, OffloadGate, load_options};
use offsim_kernel::flows::FlowBook;
use offsim_kernel::sides::{SideMode, SideSplitter};
use offsim_nft::{NftError, Ruleset};

/// Errors of a run. Display names the file and position where there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The scenario is invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The trace file cannot be read.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The generator spec is invalid.
    #[error("trace.generate: {0}")]
    Gen(#[from] GenError),
    /// The ruleset does not load.
    #[error("{0}")]
    Ruleset(#[from] NftError),
    /// The NIC preset or overrides are invalid.
    #[error("{file}: nic: {msg}")]
    Nic {
        /// Scenario file.
        file: String,
        /// Message.
        msg: String,
    },
    /// The replay settings do not fit the trace.
    #[error("{file}: replay: {msg}")]
    Replay {
        /// Scenario file.
        file: String,
        /// Message.
        msg: String,
    },
    /// The trace has no packets.
    #[error("{0}: the trace has no packets")]
    EmptyTrace(String),
    /// Writing the flow records failed.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// Where the packets come from.
#[derive(Clone, Debug)]
pub enum Input {
    /// A capture file.
    File(PathBuf),
    /// The generator.
    Gen(GenConfig),
}

impl Input {
    fn describe(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Gen(g) => {
                let stop = match g.stop {
                    Stop::Packets(n) => format!("packets={n}"),
                    Stop::Duration(d) => format!("duration={}s", d.as_secs_f64()),
                };
                format!("gen:{} seed={} {stop}", g.profile.name(), g.seed)
            }
        }
    }
}

/// A packet reader over a file or the generator.
enum Reader {
    File(Box<PacketStream<File>>),
    Gen(Box<Generator>),
}

impl Reader {
    fn open(input: &Input) -> Result<Reader, RunError> {
        Ok(match input {
            Input::File(p) => Reader::File(Box::new(PacketStream::open(p)?)),
            Input::Gen(g) => Reader::Gen(Box::new(Generator::new(g)?)),
        })
    }

    #[inline]
    fn next(&mut self) -> Result<Option<offsim_traces::PacketMeta>, RunError> {
        match self {
            Reader::File(s) => Ok(s.next_packet()?),
            Reader::Gen(g) => Ok(g
                .next_frame()
                .map(|(ts, f)| parse_frame(LinkType::Ethernet, f, f.len() as u32, ts, 0))),
        }
    }
}

/// The trace as a [`Source`]: retimed, looped with fresh tuples.
pub struct TraceSource {
    input: Input,
    reader: Reader,
    retimer: Retimer,
    loops: u32,
    k: u32,
    /// Packets delivered so far.
    pub packets: u64,
    progress: Option<(String, u64)>,
}

impl TraceSource {
    /// A source over `input`.
    pub fn new(input: Input, retimer: Retimer, loops: u32) -> Result<TraceSource, RunError> {
        Ok(TraceSource {
            reader: Reader::open(&input)?,
            input,
            retimer,
            loops: loops.max(1),
            k: 0,
            packets: 0,
            progress: None,
        })
    }

    /// Prints progress to stderr every `every` packets, prefixed with `label`.
    pub fn with_progress(mut self, label: String, every: u64) -> Self {
        self.progress = Some((label, every.max(1)));
        self
    }
}

impl Source for TraceSource {
    fn next_arrival(&mut self) -> Result<Option<Arrival>, RunError> {
        loop {
            if let Some(mut pkt) = self.reader.next()? {
                let at = self.retimer.arrival(pkt.ts, pkt.wire_len, self.k);
                fresh_tuples(&mut pkt, self.k);
                self.packets += 1;
                if let Some((label, every)) = &self.progress
                    && self.packets.is_multiple_of(*every)
                {
                    eprintln!("offsim: [{label}] {} packets", self.packets);
                }
                return Ok(Some(Arrival { at, pkt }));
            }
            if self.k + 1 >= self.loops {
                return Ok(None);
            }
            self.k += 1;
            self.reader = Reader::open(&self.input)?;
        }
    }
}

/// What a first pass over the trace learned.
#[derive(Clone, Debug, Default)]
pub struct TracePass {
    /// Totals for retiming.
    pub totals: TraceTotals,
    /// Unique bidirectional flows.
    pub flows: u64,
    /// Wire bytes.
    pub bytes: u64,
}

/// Reads the whole trace once.
pub fn first_pass(input: &Input) -> Result<TracePass, RunError> {
    let mut r = Reader::open(input)?;
    let mut p = TracePass::default();
    let mut flows: FxHashSet<offsim_traces::FlowKey> = FxHashSet::default();
    while let Some(m) = r.next()? {
        p.totals.add(&m);
        p.bytes += u64::from(m.wire_len);
        if let Some(k) = m.flow_key() {
            flows.insert(k.canonical());
        }
    }
    p.flows = flows.len() as u64;
    Ok(p)
}

/// Everything a run needs besides the policy.
#[derive(Clone)]
pub struct Prepared {
    /// The scenario.
    pub scenario: Scenario,
    /// The ruleset.
    pub ruleset: Ruleset,
    /// NIC configuration (preset + overrides).
    pub nic: NicConfig,
    /// Input.
    pub input: Input,
    /// First pass.
    pub pass: TracePass,
    /// Retimer.
    pub retimer: Retimer,
    /// Replay mode description.
    pub replay: rep::ReplayInfo,
    /// Write per-flow records here (JSON lines), one file per configuration.
    pub flows_dir: Option<PathBuf>,
    /// Print progress.
    pub progress: bool,
}

/// Loads everything a scenario refers to.
pub fn prepare(sc: Scenario) -> Result<Prepared, RunError> {
    let file = sc.file.path.display().to_string();
    let ruleset = Ruleset::load(
        &sc.ruleset_file,
        &load_options(&sc.spec.ruleset.iif, &sc.spec.ruleset.oif),
    )?;
    let mut nic_table = sc.nic_overrides.clone();
    nic_table.insert("preset".into(), toml::Value::String(sc.nic_preset.clone()));
    let nic = NicConfig::from_scenario_table(&nic_table).map_err(|e| RunError::Nic {
        file: file.clone(),
        msg: e.to_string(),
    })?;
    let input = match (&sc.trace_file, &sc.spec.trace.generate) {
        (Some(p), _) => Input::File(p.clone()),
        (None, Some(g)) => {
            let profile: Profile = g.profile.parse()?;
            let stop = Stop::from_args(g.packets, g.duration_s, profile)?;
            Input::Gen(GenConfig::new(
                profile,
                g.seed.unwrap_or(sc.spec.seed),
                stop,
            ))
        }
        (None, None) => unreachable!("validated by the scenario"),
    };
    let pass = first_pass(&input)?;
    if pass.totals.packets == 0 {
        return Err(RunError::EmptyTrace(input.describe()));
    }
    let (retimer, replay) = replay_of(&sc, &pass)?;
    Ok(Prepared {
        scenario: sc,
        ruleset,
        nic,
        input,
        pass,
        retimer,
        replay,
        flows_dir: None,
        progress: false,
    })
}

/// Retimer and report description for the scenario's replay settings.
fn replay_of(sc: &Scenario, pass: &TracePass) -> Result<(Retimer, rep::ReplayInfo), RunError> {
    let r = &sc.spec.replay;
    let (timing, mode) = if let Some(s) = r.speedup {
        (Timing::Speedup(s), "speedup")
    } else if let Some(p) = r.rate_pps {
        (Timing::RatePps(p), "rate-pps")
    } else if let Some(g) = r.rate_gbps {
        (Timing::RateBps(g * 1e9), "rate-bps")
    } else {
        (Timing::Recorded, "recorded")
    };
    let retimer = Retimer::new(timing, &pass.totals).map_err(|e| RunError::Replay {
        file: sc.file.path.display().to_string(),
        msg: e.to_string(),
    })?;
    let loops = r.loops.unwrap_or(1);
    let replay = rep::ReplayInfo {
        mode: mode.to_string(),
        speedup: r.speedup.unwrap_or(1.0),
        target_pps: r.rate_pps.unwrap_or(0.0),
        target_bps: r.rate_gbps.map(|g| g * 1e9).unwrap_or(0.0),
        loops,
        duration_ns: retimer.loop_period() * u64::from(loops),
        description: format!(
            "{mode}{}, {loops} loop(s), warm-up {:.3} s",
            match timing {
                Timing::Recorded => String::new(),
                Timing::Speedup(s) => format!(" x{s}"),
                Timing::RatePps(p) => format!(" {p} pps"),
                Timing::RateBps(b) => format!(" {:.3} Gbit/s", b / 1e9),
            },
            r.warmup_s.unwrap_or(0.0)
        ),
    };
    Ok((retimer, replay))
}

impl Prepared {
    /// The same scenario with the offered load paced at `gbps` Gbit/s (what `plan` probes).
    pub fn at_rate_gbps(&self, gbps: f64) -> Result<Prepared, RunError> {
        let mut p = self.clone();
        let r = &mut p.scenario.spec.replay;
        r.speedup = None;
        r.rate_pps = None;
        r.rate_gbps = Some(gbps);
        let (retimer, replay) = replay_of(&p.scenario, &p.pass)?;
        p.retimer = retimer;
        p.replay = replay;
        p.progress = false;
        Ok(p)
    }
}

/// The result of one configuration.
pub struct RunOutcome {
    /// The policy.
    pub policy: Policy,
    /// The engine after the run.
    pub engine: Engine,
}

fn ct_config(sc: &Scenario) -> CtConfig {
    CtConfig {
        tcp_loose: sc.spec.kernel.tcp_loose,
        tcp_be_liberal: sc.spec.kernel.tcp_be_liberal,
        timeouts: match sc.ct {
            CtFlavour::Kernel => CtTimeouts::kernel(),
            CtFlavour::Openwrt => CtTimeouts::openwrt(),
        },
        max_entries: sc.spec.kernel.conntrack_max,
        ..CtConfig::default()
    }
}

/// Runs one configuration.
pub fn run_policy(p: &Prepared, policy: &Policy) -> Result<RunOutcome, RunError> {
    let sc = &p.scenario;
    let mode = match (policy.flowtable, policy.hardware) {
        (false, _) => FlowtableMode::Disabled,
        (true, false) => FlowtableMode::Software,
        (true, true) => FlowtableMode::Hardware,
    };
    let dp_cfg = DpConfig {
        lan: sc.spec.ruleset.iif.clone(),
        wan: sc.spec.ruleset.oif.clone(),
        flavour: sc.flavour,
        ct: ct_config(sc),
        ft_timeout_s: sc.spec.kernel.flowtable_timeout_s,
        mtu: sc.spec.kernel.mtu,
        flowtables: mode,
        gate: OffloadGate {
            after_packets: policy.after_packets,
            after_bytes: policy.after_bytes,
            min_pps: policy.min_pps,
        },
        has_addresses: true,
        single_sided: sc.sides == SideMode::Single,
        seed: sc.spec.seed,
    };
    let jsonl: Option<Box<dyn std::io::Write + Send>> = match &p.flows_dir {
        Some(d) => {
            let path = d.join(format!("flows-{}.jsonl", sanitize(&policy.name)));
            let f = File::create(&path).map_err(|source| RunError::Io {
                path: path.display().to_string(),
                source,
            })?;
            Some(Box::new(std::io::BufWriter::new(f)))
        }
        None => None,
    };
    let book = FlowBook::new(policy.flowtable, policy.hardware, jsonl);
    let dp = Datapath::new(p.ruleset.clone(), dp_cfg, book);
    let mut nic_cfg = p.nic.clone();
    nic_cfg.table.eviction = match policy.admission {
        Admission::Refuse => nic_cfg.table.eviction,
        Admission::EvictLru => offsim_nicmodel::config::Eviction::Lru,
        Admission::EvictLeastActive => offsim_nicmodel::config::Eviction::LeastActive,
    };
    let nic = Nic::new(nic_cfg).map_err(|e| RunError::Nic {
        file: sc.file.path.display().to_string(),
        msg: e.to_string(),
    })?;
    let warmup = crate::replay::secs_to_ns(sc.spec.replay.warmup_s.unwrap_or(0.0));
    let ecfg = EngineConfig {
        interval_ns: sc.spec.report.interval_ms * 1_000_000,
        warmup_ns: warmup,
        hardware: policy.hardware,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(
        ecfg,
        sc.cpu.clone(),
        dp,
        nic,
        SideSplitter::new(sc.sides.clone()),
    );
    let mut src = TraceSource::new(
        p.input.clone(),
        p.retimer,
        sc.spec.replay.loops.unwrap_or(1),
    )?;
    if p.progress {
        let total = p.pass.totals.packets * u64::from(sc.spec.replay.loops.unwrap_or(1));
        src = src.with_progress(policy.name.clone(), (total / 10).max(1_000_000));
    }
    engine.run(&mut src)?;
    if let Some(e) = engine.dp.flows.write_error.take() {
        return Err(RunError::Io {
            path: "flows.jsonl".into(),
            source: e,
        });
    }
    Ok(RunOutcome {
        policy: policy.clone(),
        engine,
    })
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Runs every configuration of the scenario (in parallel) and builds the report.
pub fn run_scenario(p: &Prepared) -> Result<rep::Report, RunError> {
    let outs: Vec<Result<RunOutcome, RunError>> = p
        .scenario
        .policies
        .par_iter()
        .map(|pol| run_policy(p, pol))
        .collect();
    let mut done = Vec::with_capacity(outs.len());
    for o in outs {
        done.push(o?);
    }
    Ok(build_report(p, &mut done, rep::ReportKind::Run, ""))
}

fn latency_stats(h: &Histogram) -> rep::LatencyStats {
    rep::LatencyStats {
        count: h.count(),
        mean: h.mean(),
        min: h.min(),
        p50: h.quantile(0.50),
        p90: h.quantile(0.90),
        p99: h.quantile(0.99),
        p999: h.quantile(0.999),
        max: h.max(),
        histogram: h
            .buckets(200)
            .into_iter()
            .map(|(le_ns, count)| rep::HistogramBucket { le_ns, count })
            .collect(),
    }
}

/// Builds one report run from an engine's measurements. `prefix` names sweep points.
pub fn run_report(p: &Prepared, o: &mut RunOutcome, prefix: &str) -> rep::Run {
    let e = &mut o.engine;
    let span_ns = e.span_ns();
    let secs = span_ns as f64 / NS_PER_SEC as f64;
    let m = &e.m;
    let cpu = e.cpu().clone();
    let util: Vec<f64> = m
        .busy_ns
        .iter()
        .map(|b| (*b as f64 / span_ns as f64).min(1.0))
        .collect();
    let util_with_hk: Vec<f64> = util
        .iter()
        .map(|u| (u + cpu.housekeeping_util).min(1.0))
        .collect();
    let util_mean_hk = if util_with_hk.is_empty() {
        0.0
    } else {
        util_with_hk.iter().sum::<f64>() / util_with_hk.len() as f64
    };
    let total_cycles: f64 = m.busy_ns.iter().map(|b| *b as f64 * cpu.freq_ghz).sum();
    let mut latency = rep::Latency::default();
    latency.overall = latency_stats(&m.latency);
    latency.by_path = rep::PathLatency {
        slow: latency_stats(&m.latency_path[PATH_SLOW]),
        sw_fast: latency_stats(&m.latency_path[PATH_SW]),
        hw: latency_stats(&m.latency_path[PATH_HW]),
    };
    let per = |c: f64, n: u64| if n == 0 { 0.0 } else { c / n as f64 };
    let nic_stats = e.nic.stats(SimTime(m.end.0));
    let ts = &nic_stats.table;
    let usable = u64::from(e.nic.table().usable_capacity());
    let hw_refusals: u64 = e.hw_refusals.values().sum();
    let nic_power = e.nic.power(offsim_traces::SimDuration(span_ns));
    let cpu_power = cpu.power.platform_w
        + util_with_hk
            .iter()
            .map(|u| u * cpu.power.core_dynamic_w)
            .sum::<f64>();
    let total_w = cpu_power + nic_power.total_w;
    let energy = total_w * secs;
    let drops_total: u64 = m.drops.values().sum();
    let t = &e.dp.flows.totals;
    let flows = rep::Flows {
        total: t.total,
        offloaded_sw: t.offloaded_sw,
        offloaded_hw: t.offloaded_hw,
        not_offloaded: t.not_offloaded.clone(),
        hw_refused: t.hw_refused.clone(),
        fell_back: t.fell_back.clone(),
        teardown: t.teardown.clone(),
        examples: t
            .examples
            .iter()
            .map(|x| rep::FlowExample {
                flow: x.flow.clone(),
                packets: x.packets,
                bytes: x.bytes,
                outcome: x.outcome.clone(),
                reason: x.reason.clone(),
            })
            .collect(),
    };
    let int_s = p.scenario.spec.report.interval_ms as f64 / 1000.0;
    let mut series = rep::Series {
        interval_ns: p.scenario.spec.report.interval_ms * 1_000_000,
        start_ns: m.start.0,
        ..rep::Series::default()
    };
    let ncores = cpu.cores.max(1) as f64;
    let mut prev_ins = 0;
    let mut prev_ref = 0;
    for s in &e.m.series {
        series.offered_pps.push(s.offered as f64 / int_s);
        series
            .offered_bps
            .push(s.offered_bytes as f64 * 8.0 / int_s);
        series.delivered_pps.push(s.delivered as f64 / int_s);
        series
            .delivered_bps
            .push(s.delivered_bytes as f64 * 8.0 / int_s);
        series
            .cpu_util
            .push((s.busy_ns as f64 / (int_s * 1e9 * ncores)).min(1.0));
        series.hw_occupancy.push(s.hw_occupancy);
        series.hw_inserts.push(s.hw_inserts_total - prev_ins);
        series.hw_refusals.push(s.hw_refusals_total - prev_ref);
        prev_ins = s.hw_inserts_total;
        prev_ref = s.hw_refusals_total;
        series.slow.push(s.paths[PATH_SLOW]);
        series.sw_fast.push(s.paths[PATH_SW]);
        series.hw.push(s.paths[PATH_HW]);
        series.drops.push(s.drops);
        series.latency_p99_ns.push(s.p99_ns);
    }
    let slo = slo_result(p, &latency, drops_total, m.offered, util_mean_hk);
    let name = if prefix.is_empty() {
        o.policy.name.clone()
    } else {
        format!("{prefix}/{}", o.policy.name)
    };
    rep::Run {
        name,
        policy: o.policy.name.clone(),
        description: policy_description(&o.policy),
        baseline: None,
        duration_ns: span_ns,
        throughput: rep::Throughput {
            offered_pps: m.offered as f64 / secs,
            offered_bps: m.offered_bytes as f64 * 8.0 / secs,
            delivered_pps: m.delivered as f64 / secs,
            delivered_bps: m.delivered_bytes as f64 * 8.0 / secs,
            offered_packets: m.offered,
            delivered_packets: m.delivered,
            offered_bytes: m.offered_bytes,
            delivered_bytes: m.delivered_bytes,
        },
        latency_ns: latency,
        paths: rep::Paths {
            slow: m.paths[PATH_SLOW],
            sw_fast: m.paths[PATH_SW],
            hw: m.paths[PATH_HW],
        },
        cpu: rep::Cpu {
            util_per_core: util_with_hk.clone(),
            util_mean: util_mean_hk,
            total_cycles: total_cycles.round() as u64,
            cycles_per_packet: per(
                m.cycles_path[PATH_SLOW] + m.cycles_path[PATH_SW],
                m.cpu_packets,
            ),
            cycles_per_packet_by_path: rep::PerPath {
                slow: per(m.cycles_path[PATH_SLOW], m.paths[PATH_SLOW]),
                sw_fast: per(m.cycles_path[PATH_SW], m.paths[PATH_SW]),
                hw: 0.0,
            },
            cycles_by_stage: m
                .cycles_stage
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.round() as u64))
                .collect(),
        },
        nic: rep::Nic {
            capacity: if o.policy.hardware { usable } else { 0 },
            peak_occupancy: ts.peak_occupancy.max(m.hw_peak),
            mean_occupancy: ts.mean_occupancy(span_ns),
            inserts: e.hw_inserts,
            refusals: hw_refusals,
            refusals_by_reason: e
                .hw_refusals
                .iter()
                .map(|(k, v)| ((*k).to_string(), *v))
                .collect(),
            evictions: ts.evictions + ts.aged_bound,
            deletes: e.hw_deletes,
            hits: ts.hits,
            misses: ts.misses,
            bind_checks: ts.bind_checks,
            punts: nic_stats.datapath.punts.total(),
        },
        drops: rep::Drops {
            total: drops_total,
            by_reason: m.drops.clone(),
        },
        power_w: rep::Power {
            cpu: cpu_power,
            nic: nic_power.total_w,
            total: total_w,
        },
        energy: rep::Energy {
            total_j: energy,
            per_packet_nj: if m.delivered == 0 {
                0.0
            } else {
                energy / m.delivered as f64 * 1e9
            },
        },
        savings: None,
        flows,
        slo,
        series,
    }
}

fn policy_description(p: &Policy) -> String {
    let base = match (p.flowtable, p.hardware) {
        (false, _) => "no flow offload: every packet takes the classic path".to_string(),
        (true, false) => "software flowtable (flags offload ignored)".to_string(),
        (true, true) => "software flowtable with hardware offload to the NIC".to_string(),
    };
    let mut extra = Vec::new();
    if p.after_packets > 0 {
        extra.push(format!("offload after {} packets", p.after_packets));
    }
    if p.after_bytes > 0 {
        extra.push(format!("offload after {} bytes", p.after_bytes));
    }
    if p.min_pps > 0.0 {
        extra.push(format!("only flows above {} pkt/s", p.min_pps));
    }
    if p.admission != Admission::Refuse {
        extra.push(format!("table-full admission {:?}", p.admission));
    }
    if extra.is_empty() {
        base
    } else {
        format!("{base}; what-if: {}", extra.join(", "))
    }
}

fn slo_result(
    p: &Prepared,
    lat: &rep::Latency,
    drops: u64,
    offered: u64,
    cpu: f64,
) -> Option<rep::SloResult> {
    let s = &p.scenario.spec.slo;
    if s.p99_latency_us.is_none() && s.max_drop_rate.is_none() && s.max_cpu.is_none() {
        return None;
    }
    let mut checks = Vec::new();
    if let Some(l) = s.p99_latency_us {
        let limit = l * 1000.0;
        checks.push(rep::SloCheck {
            metric: "latency_ns.p99".into(),
            limit,
            actual: lat.overall.p99 as f64,
            unit: "ns".into(),
            met: lat.overall.p99 as f64 <= limit,
        });
    }
    if let Some(d) = s.max_drop_rate {
        let rate = if offered == 0 {
            0.0
        } else {
            drops as f64 / offered as f64
        };
        checks.push(rep::SloCheck {
            metric: "drop_rate".into(),
            limit: d,
            actual: rate,
            unit: "fraction".into(),
            met: rate <= d,
        });
    }
    if let Some(c) = s.max_cpu {
        checks.push(rep::SloCheck {
            metric: "cpu.util_mean".into(),
            limit: c,
            actual: cpu,
            unit: "fraction".into(),
            met: cpu <= c,
        });
    }
    Some(rep::SloResult {
        met: checks.iter().all(|c| c.met),
        checks,
    })
}

/// Savings of `r` against `base`.
pub fn savings(base: &rep::Run, r: &rep::Run) -> rep::Savings {
    let pct = |b: f64, x: f64| {
        if b.abs() < f64::EPSILON {
            0.0
        } else {
            (b - x) / b * 100.0
        }
    };
    rep::Savings {
        cpu_util: base.cpu.util_mean - r.cpu.util_mean,
        cpu_cycles_pct: pct(base.cpu.total_cycles as f64, r.cpu.total_cycles as f64),
        power_w: base.power_w.total - r.power_w.total,
        power_pct: pct(base.power_w.total, r.power_w.total),
        energy_j: base.energy.total_j - r.energy.total_j,
        energy_per_packet_pct: pct(base.energy.per_packet_nj, r.energy.per_packet_nj),
    }
}

/// The scenario section of a report.
pub fn scenario_info(p: &Prepared) -> rep::Scenario {
    let sc = &p.scenario;
    let rs = &p.ruleset;
    let sum = rs.summary();
    let mut details = BTreeMap::new();
    details.insert(
        "interfaces".to_string(),
        format!("LAN {} / WAN {}", sc.spec.ruleset.iif, sc.spec.ruleset.oif),
    );
    details.insert("sides".to_string(), sc.spec.ruleset.sides.clone());
    details.insert("conntrack".to_string(), sc.spec.kernel.conntrack.clone());
    details.insert(
        "flowtable_timeout_s".to_string(),
        sc.spec.kernel.flowtable_timeout_s.to_string(),
    );
    let slo = {
        let s = &sc.spec.slo;
        if s.p99_latency_us.is_none() && s.max_drop_rate.is_none() && s.max_cpu.is_none() {
            None
        } else {
            let mut d = Vec::new();
            if let Some(l) = s.p99_latency_us {
                d.push(format!("p99 <= {l} us"));
            }
            if let Some(x) = s.max_drop_rate {
                d.push(format!("drops <= {:.3} %", x * 100.0));
            }
            if let Some(c) = s.max_cpu {
                d.push(format!("CPU <= {:.0} %", c * 100.0));
            }
            Some(rep::SloSpec {
                p99_latency_ns: s.p99_latency_us.map(|l| (l * 1000.0).round() as u64),
                p999_latency_ns: None,
                max_drop_rate: s.max_drop_rate,
                max_cpu_util: s.max_cpu,
                description: d.join(", "),
            })
        }
    };
    rep::Scenario {
        name: sc.spec.name.clone(),
        file: sc.file.path.display().to_string(),
        description: sc.spec.description.clone(),
        trace: rep::TraceInfo {
            source: p.input.describe(),
            packets: p.pass.totals.packets,
            bytes: p.pass.bytes,
            duration_ns: p.pass.totals.span_ns(),
            flows: p.pass.flows,
            description: String::new(),
        },
        ruleset: rep::RulesetInfo {
            file: sc.ruleset_file.display().to_string(),
            tables: rs
                .tables()
                .iter()
                .map(|t| format!("{} {}", t.family, t.name))
                .collect(),
            chains: sum.chains as u64,
            rules: sum.rules as u64,
            flowtables: rs
                .flowtables()
                .iter()
                .map(|f| {
                    if f.offload {
                        format!("{} (offload)", f.name)
                    } else {
                        f.name.clone()
                    }
                })
                .collect(),
            description: String::new(),
        },
        cpu: rep::CpuInfo {
            preset: sc.cpu.name.clone(),
            cores: u32::from(sc.cpu.cores),
            freq_hz: sc.cpu.freq_ghz * 1e9,
            description: sc.cpu.description.clone(),
        },
        nic: rep::NicInfo {
            preset: p.nic.name.clone(),
            table_capacity: u64::from(p.nic.usable_capacity()),
            line_rate_bps: p.nic.datapath.line_rate_bps as f64,
            description: p.nic.description.clone(),
        },
        kernel: format!(
            "{} ({} conntrack timeouts)",
            sc.flavour.name(),
            sc.spec.kernel.conntrack
        ),
        replay: p.replay.clone(),
        seed: sc.spec.seed,
        slo,
        details,
    }
}

/// Assembles a report from finished configurations.
pub fn build_report(
    p: &Prepared,
    outs: &mut [RunOutcome],
    kind: rep::ReportKind,
    prefix: &str,
) -> rep::Report {
    let mut runs: Vec<rep::Run> = outs.iter_mut().map(|o| run_report(p, o, prefix)).collect();
    apply_savings(&mut runs);
    let mut warnings = ruleset_warnings(p);
    warnings.extend(overload_warnings(&runs));
    rep::Report {
        tool: tool(),
        kind,
        scenario: scenario_info(p),
        runs,
        warnings,
        ..rep::Report::default()
    }
}

/// The tool section of reports.
pub fn tool() -> rep::Tool {
    rep::Tool {
        name: "offsim".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// Warnings about the scenario itself (the same for every run).
pub fn ruleset_warnings(p: &Prepared) -> Vec<String> {
    let mut w = Vec::new();
    if !p
        .ruleset
        .rules()
        .iter()
        .any(|r| r.text.contains("flow add") || r.text.contains("flow offload"))
    {
        w.push("the ruleset has no `flow add` rule: software and hardware configurations cannot offload anything".to_string());
    }
    w
}

/// Warnings about runs whose CPU path was overloaded (open-loop replay artefacts).
pub fn overload_warnings(runs: &[rep::Run]) -> Vec<String> {
    let mut warnings = Vec::new();
    for r in runs {
        let ring = r.drops.by_reason.get("rx_ring_full").copied().unwrap_or(0);
        if ring > 0 {
            let ruleset: u64 = r
                .drops
                .by_reason
                .iter()
                .filter(|(k, _)| k.starts_with("ruleset_") || k.starts_with("ct_"))
                .map(|(_, v)| *v)
                .sum();
            warnings.push(format!(
                "{}: the CPU was overloaded ({ring} packets dropped at a full RX ring). The replay is open-loop: senders do not slow down, and a connection that lost a handshake packet stays unestablished, so conntrack marks its later packets invalid and the ruleset drops them ({ruleset} ruleset/conntrack drops in this run).",
                r.name
            ));
        }
    }
    warnings
}

/// Sets `baseline`/`savings` of every run against the `none` run with the same prefix.
pub fn apply_savings(runs: &mut [rep::Run]) {
    let bases: Vec<(String, rep::Run)> = runs
        .iter()
        .filter(|r| r.policy == "none")
        .map(|r| (r.name.trim_end_matches("none").to_string(), r.clone()))
        .collect();
    for r in runs.iter_mut() {
        if r.policy == "none" {
            continue;
        }
        let prefix = r.name.trim_end_matches(r.policy.as_str()).to_string();
        if let Some((_, b)) = bases.iter().find(|(p, _)| *p == prefix) {
            r.baseline = Some(b.name.clone());
            r.savings = Some(savings(b, r));
        }
    }
}

/// Where `offsim run` writes: `DIR/report.json`, then the page and charts.
pub fn write_report(
    report: &rep::Report,
    out: &Path,
) -> Result<Vec<PathBuf>, offsim_reports::ReportError> {
    std::fs::create_dir_all(out).map_err(|error| offsim_reports::ReportError::Io {
        path: out.to_path_buf(),
        error,
    })?;
    let json = out.join("report.json");
    std::fs::write(&json, report.to_json_string()).map_err(|error| {
        offsim_reports::ReportError::Io {
            path: json.clone(),
            error,
        }
    })?;
    let mut files = vec![json];
    files.extend(offsim_reports::render(report, out)?);
    Ok(files)
}

/// True when a configuration the SLO applies to (`slo.policies`, default all) missed it.
pub fn slo_missed(report: &rep::Report, sc: &Scenario) -> bool {
    report
        .runs
        .iter()
        .any(|r| slo_gated(sc, &r.policy) && r.slo.as_ref().is_some_and(|s| !s.met))
}

/// Whether the SLO of `policy` decides the exit code (`slo.policies`, default all).
pub fn slo_gated(sc: &Scenario, policy: &str) -> bool {
    match &sc.spec.slo.policies {
        Some(list) => list.iter().any(|p| p == policy),
        None => true,
    }
}

fn si(v: f64, unit: &str) -> String {
    let (d, p) = if v >= 1e9 {
        (1e9, "G")
    } else if v >= 1e6 {
        (1e6, "M")
    } else if v >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    format!("{:.2} {p}{unit}", v / d)
}

fn dur(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{:.1} us", ns as f64 / 1e3)
    } else {
        format!("{ns} ns")
    }
}

/// A plain-text summary of a report: one block per configuration.
pub fn summary_text(r: &rep::Report, gated: &dyn Fn(&str) -> bool) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let sc = &r.scenario;
    let _ = writeln!(s, "scenario  {} ({})", sc.name, sc.file);
    let _ = writeln!(
        s,
        "trace     {}: {} packets, {} flows, {:.3} s; replay {}",
        sc.trace.source,
        sc.trace.packets,
        sc.trace.flows,
        sc.trace.duration_ns as f64 / 1e9,
        sc.replay.description
    );
    let _ = writeln!(
        s,
        "cpu       {} ({} cores @ {:.2} GHz)",
        sc.cpu.preset,
        sc.cpu.cores,
        sc.cpu.freq_hz / 1e9
    );
    let _ = writeln!(
        s,
        "nic       {} ({} flow entries)",
        sc.nic.preset, sc.nic.table_capacity
    );
    let _ = writeln!(s, "kernel    {}", sc.kernel);
    let _ = writeln!(s);
    let w = r
        .runs
        .iter()
        .map(|x| x.name.len())
        .max()
        .unwrap_or(0)
        .max(13);
    let _ = writeln!(
        s,
        "{:<w$} {:>11} {:>11} {:>7} {:>10} {:>10} {:>6} {:>13} {:>8} {:>7}",
        "configuration",
        "offered",
        "delivered",
        "drops",
        "p50",
        "p99",
        "CPU",
        "slow/sw/hw %",
        "power",
        "saved"
    );
    for run in &r.runs {
        let t = &run.throughput;
        let drop_pct = if t.offered_packets == 0 {
            0.0
        } else {
            run.drops.total as f64 / t.offered_packets as f64 * 100.0
        };
        let all = (run.paths.slow + run.paths.sw_fast + run.paths.hw).max(1) as f64;
        let paths = format!(
            "{:.0}/{:.0}/{:.0}",
            run.paths.slow as f64 / all * 100.0,
            run.paths.sw_fast as f64 / all * 100.0,
            run.paths.hw as f64 / all * 100.0
        );
        let saved = run
            .savings
            .as_ref()
            .map(|x| format!("{:.1}%", x.power_pct))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "{:<w$} {:>11} {:>11} {:>6.2}% {:>10} {:>10} {:>5.1}% {:>13} {:>6.2} W {:>7}",
            run.name,
            si(t.offered_bps, "b/s"),
            si(t.delivered_bps, "b/s"),
            drop_pct,
            dur(run.latency_ns.overall.p50),
            dur(run.latency_ns.overall.p99),
            run.cpu.util_mean * 100.0,
            paths,
            run.power_w.total,
            saved
        );
    }
    let _ = writeln!(s);
    for run in &r.runs {
        let f = &run.flows;
        let mut line = format!(
            "{:<w$} flows {}: {} in the software flowtable, {} in hardware",
            run.name, f.total, f.offloaded_sw, f.offloaded_hw
        );
        if run.nic.capacity > 0 {
            let _ = write!(
                line,
                "; NIC table peak {}/{} ({} inserts, {} refused)",
                run.nic.peak_occupancy, run.nic.capacity, run.nic.inserts, run.nic.refusals
            );
        }
        let _ = writeln!(s, "{line}");
        let mut why: Vec<(&String, &u64)> =
            f.not_offloaded.iter().chain(f.hw_refused.iter()).collect();
        why.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        if !why.is_empty() && (run.policy != "none") {
            let top: Vec<String> = why
                .iter()
                .take(4)
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(
                s,
                "{:<w$}   not offloaded / refused: {}",
                "",
                top.join(", ")
            );
        }
        if let Some(slo) = &run.slo {
            let failed: Vec<String> = slo
                .checks
                .iter()
                .filter(|c| !c.met)
                .map(|c| match c.unit.as_str() {
                    "ns" => format!(
                        "{} {} > {}",
                        c.metric,
                        dur(c.actual as u64),
                        dur(c.limit as u64)
                    ),
                    _ => format!(
                        "{} {:.2}% > {:.2}%",
                        c.metric,
                        c.actual * 100.0,
                        c.limit * 100.0
                    ),
                })
                .collect();
            if failed.is_empty() {
                let _ = writeln!(s, "{:<w$}   SLO met", "");
            } else {
                let note = if gated(&run.policy) {
                    ""
                } else {
                    " (not gated)"
                };
                let _ = writeln!(s, "{:<w$}   SLO MISSED{note}: {}", "", failed.join("; "));
            }
        }
    }
    for w in &r.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}
