//! `offsim plan`: how much each configuration forwards, measured as the industry measures
//! it (RFC 2544 throughput; FD.io CSIT's MLRsearch): the non-drop rate (NDR, no loss), the
//! partial-drop rate (PDR, loss at most `plan.pdr_loss`, 0.5 % by default) and the highest
//! rate within the scenario's `[slo]`, each with the bracket the search is sure of.
//!
//! The offered load is the scenario's trace paced at a rate (`replay.rate_gbps`, wire bits;
//! see [`crate::replay`]). For each configuration:
//!
//! 1. **Reference.** The trace at the lowest rate (`plan.min_gbps`) gives the drops the
//!    ruleset, routing and the trace itself cause by design (a `drop` rule, TTL-expired
//!    packets): loss at a rate is what the router fails to forward for lack of capacity (RX
//!    rings, the NIC, its ports, the conntrack table) plus any drops beyond that design rate
//!    (a connection broken by a lost packet). It also gives the warm-up: the time until the
//!    share of packets on the fast paths (and, with hardware offload, in hardware) settles;
//!    each probe leaves out the same part of the trace (scaled to its rate), so a transient
//!    of flows not yet offloaded is not measured as capacity, however long the trace.
//! 2. **Search.** Bisection on a logarithmic scale between `plan.min_gbps` and
//!    `plan.max_gbps` (defaults: 1/200 of, and the NIC's line rate times the ports traffic
//!    arrives on), `plan.steps` probes per target, every probe shared between the targets.
//!    A target's answer is the highest probed rate that passed *with every probed rate
//!    below it passing too*, and its bracket's upper end the lowest probed rate that failed:
//!    monotone by construction, never a lucky pass above a failure. A bracket narrower than
//!    0.5 % (MLRsearch's goal width) is not split further. Then every rate of a fixed
//!    verification grid ([`GRID_RATES`] rates log-spaced over the range) below the answer is
//!    probed as well; a failure there lowers the answer and the search continues below it.
//!    Loss is not strictly monotone in the offered rate on real traffic (bursts line up
//!    differently at each rate), so the answer is only as sure as the rates probed: the grid
//!    makes "every rate below it passed" hold on a known set of rates.
//!
//! Configurations are searched in parallel; each search is sequential and deterministic.

use offsim_reports::schema as rep;
use rayon::prelude::*;

use crate::engine::IntervalStats;
use crate::prepare::{Prepared, RunError};
use crate::report::{ruleset_warnings, run_report, scenario_info, tool};
use crate::run::run_policy;
use crate::scenario::Policy;
use offsim_kernel::Path;
use offsim_kernel::sides::SideMode;

/// Default bisection depth per target.
pub const DEFAULT_STEPS: u32 = 8;
/// Default loss ratio of the PDR: 0.5 %, as FD.io CSIT reports it.
pub(crate) const DEFAULT_PDR_LOSS: f64 = 0.005;
/// The warm-up left out is at most this share of the trace.
const MAX_WARMUP_SHARE: f64 = 0.5;
/// A bracket narrower than this (relative) is precise enough: MLRsearch's default goal
/// width (FD.io CSIT, 0.5 %).
const GOAL_WIDTH: f64 = 0.005;
/// Rates of the verification grid: log-spaced over the plan's range, ends included.
pub const GRID_RATES: usize = 20;

/// At most how many probes (runs) the search of one configuration takes with `steps`
/// bisection steps per target: the reference run, each target's ends and steps (probes the
/// targets share are run once, so fewer in practice), and the verification grid. For the
/// progress bar.
pub fn max_probes(steps: u32) -> u64 {
    1 + 3 * (u64::from(steps) + 2) + GRID_RATES as u64
}

/// The search range and depth for a scenario.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// Lowest rate probed, Gbit/s.
    pub min_gbps: f64,
    /// Highest rate probed, Gbit/s.
    pub max_gbps: f64,
    /// Bisection steps per target.
    pub steps: u32,
    /// Loss ratio the PDR allows.
    pub pdr_loss: f64,
}

impl Range {
    /// The verification grid: [`GRID_RATES`] rates log-spaced from `min_gbps` to
    /// `max_gbps`. Every grid rate below an answer is probed, so every one of them passes.
    pub fn grid(&self) -> Vec<f64> {
        let n = GRID_RATES as f64 - 1.0;
        (0..GRID_RATES)
            .map(|k| self.min_gbps * (self.max_gbps / self.min_gbps).powf(k as f64 / n))
            .collect()
    }
}

/// The range from `[plan]` or the defaults.
pub fn range(p: &Prepared) -> Result<Range, RunError> {
    let sc = &p.scenario;
    let invalid = |key: &str, msg: String| RunError::Scenario(sc.file.invalid(key, msg));
    let s = &sc.spec.slo;
    if !s.any() {
        return Err(invalid(
            "slo",
            "`offsim plan` needs an [slo] with p99_latency_us, max_drop_rate, max_cpu or max_cpu_mean"
                .into(),
        ));
    }
    let line = p.nic.datapath.line_rate_bps as f64 / 1e9;
    let ports = if sc.sides == SideMode::Single {
        1.0
    } else {
        2.0
    };
    let spec = sc.spec.plan.clone().unwrap_or_default();
    let max_gbps = spec.max_gbps.unwrap_or(line * ports);
    let min_gbps = spec.min_gbps.unwrap_or(max_gbps / 200.0);
    let steps = spec.steps.unwrap_or(DEFAULT_STEPS);
    let pdr_loss = spec.pdr_loss.unwrap_or(DEFAULT_PDR_LOSS);
    if !(min_gbps.is_finite() && min_gbps > 0.0) {
        return Err(invalid("plan.min_gbps", "must be positive".into()));
    }
    if !(max_gbps.is_finite() && max_gbps > min_gbps && max_gbps <= 10_000.0) {
        return Err(invalid(
            "plan.max_gbps",
            format!("must be above plan.min_gbps ({min_gbps}) and at most 10000"),
        ));
    }
    if !(1..=30).contains(&steps) {
        return Err(invalid("plan.steps", "must be between 1 and 30".into()));
    }
    if !(pdr_loss.is_finite() && pdr_loss > 0.0 && pdr_loss < 1.0) {
        return Err(invalid("plan.pdr_loss", "must be in (0, 1)".into()));
    }
    Ok(Range {
        min_gbps,
        max_gbps,
        steps,
        pdr_loss,
    })
}

/// One probed rate.
struct Probe {
    gbps: f64,
    run: rep::Run,
    /// Loss ratio (capacity drops plus drops beyond the design rate).
    loss: f64,
    /// Every `[slo]` check held, the drop rate taken as this loss.
    slo_met: bool,
}

/// What the reference run tells the probes.
#[derive(Clone, Copy, Debug)]
struct Reference {
    gbps: f64,
    /// Mean frame bytes of the trace (L2), to state a wire rate in packets and frame bits.
    frame_bytes: f64,
    /// New connections per packet offered, to state a rate in connections per second.
    conns_per_packet: f64,
    /// Drops by design per offered packet.
    design_rate: f64,
    /// Warm-up at the reference rate, ns (scaled by `gbps / rate` at another rate).
    warmup_ns: u64,
    /// The trace's span at the reference rate, ns.
    span_ns: u64,
}

impl Reference {
    fn warmup_at(&self, gbps: f64) -> u64 {
        (self.warmup_ns as f64 * self.gbps / gbps).round() as u64
    }
}

/// The index of the first interval from which the share of packets on the fast paths (and
/// in hardware) stays within 5 % of its level over the second half of the run.
fn settled_interval(series: &[IntervalStats]) -> usize {
    let share = |s: &IntervalStats, hw_only: bool| {
        let all: u64 = s.paths.iter().sum();
        let fast = if hw_only {
            s.paths[Path::Hw.index()]
        } else {
            s.paths[Path::SwFast.index()] + s.paths[Path::Hw.index()]
        };
        (all > 0).then(|| fast as f64 / all as f64)
    };
    let settle = |hw_only: bool| {
        let half = &series[series.len() / 2..];
        let (sum, n) = half
            .iter()
            .filter_map(|s| share(s, hw_only))
            .fold((0.0, 0), |(a, n), x| (a + x, n + 1));
        if n == 0 {
            return 0;
        }
        let level = sum / f64::from(n);
        series
            .iter()
            .position(|s| share(s, hw_only).is_some_and(|x| x >= 0.95 * level))
            .unwrap_or(0)
    };
    settle(false).max(settle(true))
}

/// Searches one configuration.
struct Search<'a> {
    p: &'a Prepared,
    pol: &'a Policy,
    r: Range,
    reference: Reference,
    probes: Vec<Probe>,
}

impl<'a> Search<'a> {
    /// The reference run at the lowest rate: design drops and warm-up.
    fn new(p: &'a Prepared, pol: &'a Policy, r: Range) -> Result<Search<'a>, RunError> {
        let q = p.at_rate_gbps(r.min_gbps, 0)?;
        let o = run_policy(&q, pol)?;
        // `p.progress` counts probes (`q`'s is hidden: no per-packet ticks within a probe).
        p.progress.inc(1);
        let m = o.engine.measure();
        let design: u64 = m.drops.values().sum::<u64>() - m.capacity_drops;
        let design_rate = design as f64 / m.offered.max(1) as f64;
        let frame_bytes = m.offered_bytes as f64 / m.offered.max(1) as f64;
        // at the lowest rate the router sets up every connection the trace opens
        let conns_per_packet = m.connections as f64 / m.offered.max(1) as f64;
        let interval = q.series_interval_ns();
        let settled = settled_interval(&m.series) as u64 * interval;
        let span_ns = o.engine.span_ns();
        let warmup_ns = settled.min((span_ns as f64 * MAX_WARMUP_SHARE) as u64);
        Ok(Search {
            p,
            pol,
            r,
            reference: Reference {
                gbps: r.min_gbps,
                frame_bytes,
                conns_per_packet,
                design_rate,
                warmup_ns,
                span_ns,
            },
            probes: Vec::new(),
        })
    }

    /// The probe at `gbps` (run once, then remembered).
    fn probe(&mut self, gbps: f64) -> Result<&Probe, RunError> {
        if let Some(i) = self.probes.iter().position(|x| x.gbps == gbps) {
            return Ok(&self.probes[i]);
        }
        let q = self.p.at_rate_gbps(gbps, self.reference.warmup_at(gbps))?;
        let mut o = run_policy(&q, self.pol)?;
        self.p.progress.inc(1);
        let run = run_report(&q, self.pol, &mut o.engine, "");
        // The trial's packets: those offered in the window, and those of connections whose
        // lost handshake kept them from being sent within it (lost for lack of capacity too).
        let unsent = run.handshakes.unsent as f64;
        let offered = run.throughput.offered_packets as f64;
        let design = (run.drops.total - run.drops.capacity) as f64;
        let excess = (design - self.reference.design_rate * offered).max(0.0);
        let loss = (run.drops.capacity as f64 + excess + unsent) / (offered + unsent).max(1.0);
        let s = &self.p.scenario.spec.slo;
        let slo_met = run
            .slo
            .as_ref()
            .is_none_or(|x| x.checks.iter().all(|c| c.met || c.metric == "drop_rate"))
            && s.max_drop_rate.is_none_or(|d| loss <= d);
        self.probes.push(Probe {
            gbps,
            run,
            loss,
            slo_met,
        });
        Ok(self.probes.last().expect("just pushed"))
    }

    /// The bracket of a target over the probes so far: the highest rate with every probed
    /// rate up to it passing, and the lowest failing rate.
    fn bracket(&self, pass: &dyn Fn(&Probe) -> bool) -> (Option<usize>, Option<usize>) {
        let mut order: Vec<usize> = (0..self.probes.len()).collect();
        order.sort_by(|&a, &b| self.probes[a].gbps.total_cmp(&self.probes[b].gbps));
        let first_fail = order.iter().position(|&i| !pass(&self.probes[i]));
        let lower = first_fail
            .unwrap_or(order.len())
            .checked_sub(1)
            .map(|k| order[k]);
        (lower, first_fail.map(|k| order[k]))
    }

    /// Searches one target: bisection to `steps` probes past the shared ones, then every
    /// grid rate below the answer is probed too (a failure there lowers the answer, and the
    /// search goes on below it), so that the answer holds on the whole grid.
    fn target(&mut self, pass: &dyn Fn(&Probe) -> bool) -> Result<(), RunError> {
        self.probe(self.r.min_gbps)?;
        self.probe(self.r.max_gbps)?;
        let grid = self.r.grid();
        loop {
            for _ in 0..self.r.steps {
                let (Some(lo), Some(hi)) = self.bracket(pass) else {
                    break;
                };
                let (lo, hi) = (self.probes[lo].gbps, self.probes[hi].gbps);
                if hi / lo <= 1.0 + GOAL_WIDTH {
                    break;
                }
                self.probe((lo * hi).sqrt())?;
            }
            let Some(lo) = self.bracket(pass).0.map(|i| self.probes[i].gbps) else {
                return Ok(());
            };
            let unverified: Vec<f64> = grid
                .iter()
                .copied()
                .filter(|&g| g <= lo && !self.probes.iter().any(|x| x.gbps == g))
                .collect();
            if unverified.is_empty() {
                return Ok(());
            }
            for g in unverified {
                self.probe(g)?;
            }
        }
    }

    /// A trial's offered rate: the wire rate it was paced at, in packets and frame bits of
    /// the trace's mean frame.
    fn rate(&self, gbps: f64) -> rep::Rate {
        let wire_bps = gbps * 1e9;
        let frame = self.reference.frame_bytes;
        let pps = wire_bps / (8.0 * (frame + crate::replay::WIRE_OVERHEAD_BYTES as f64));
        rep::Rate {
            pps,
            bps: pps * frame * 8.0,
            wire_bps,
            cps: pps * self.reference.conns_per_packet,
        }
    }

    fn bound(&self, pass: &dyn Fn(&Probe) -> bool) -> Option<rep::RateBound> {
        let (lo, hi) = self.bracket(pass);
        let rate = |i: usize| self.rate(self.probes[i].gbps);
        let lo = lo?;
        Some(rep::RateBound {
            lower: rate(lo),
            upper: hi.map(rate),
            loss: self.probes[lo].loss,
        })
    }
}

/// One trial as the search judges it.
#[derive(Clone, Debug)]
pub struct Trial {
    /// The run's report.
    pub run: rep::Run,
    /// Loss ratio: capacity drops, drops beyond the design rate, and packets a lost
    /// handshake kept from being sent within the trace, over the trial's packets.
    pub loss: f64,
    /// Every `[slo]` check held (the drop rate taken as `loss`).
    pub slo_met: bool,
}

/// Probes a configuration at chosen rates the way `offsim plan` does (after the same
/// reference run: warm-up left out, loss counted beyond the design drops): for checking a
/// plan's answers on other rates.
pub struct Prober<'a>(Search<'a>);

impl<'a> Prober<'a> {
    /// Runs the reference for `policy`.
    pub fn new(p: &'a Prepared, policy: &'a Policy) -> Result<Prober<'a>, RunError> {
        Ok(Prober(Search::new(p, policy, range(p)?)?))
    }

    /// One trial at `gbps` (wire bits).
    pub fn trial(&mut self, gbps: f64) -> Result<Trial, RunError> {
        let pr = self.0.probe(gbps)?;
        Ok(Trial {
            run: pr.run.clone(),
            loss: pr.loss,
            slo_met: pr.slo_met,
        })
    }
}

fn point(pr: &Probe, offered: rep::Rate) -> rep::PlanPoint {
    let r = &pr.run;
    let t = &r.throughput;
    rep::PlanPoint {
        offered_pps: offered.pps,
        offered_bps: offered.bps,
        delivered_pps: t.delivered_pps,
        delivered_bps: t.delivered_bps,
        p99_ns: r.latency_ns.overall.p99,
        drop_rate: if t.offered_packets == 0 {
            0.0
        } else {
            r.drops.total as f64 / t.offered_packets as f64
        },
        loss_rate: pr.loss,
        offered_wire_bps: offered.wire_bps,
        cpu_busiest: r.cpu.util_busiest,
        cpu_util: r.cpu.util_mean,
        met: pr.slo_met,
    }
}

fn failed_checks(pr: &Probe, max_drop_rate: Option<f64>) -> String {
    let mut failed: Vec<String> = pr
        .run
        .slo
        .as_ref()
        .map(|s| {
            s.checks
                .iter()
                .filter(|c| !c.met && c.metric != "drop_rate")
                .map(|c| c.metric.clone())
                .collect()
        })
        .unwrap_or_default();
    if max_drop_rate.is_some_and(|d| pr.loss > d) {
        failed.push("loss".into());
    }
    failed.join(", ")
}

/// Searches one configuration; returns its plan entry and the run at its SLO rate.
fn search(p: &Prepared, pol: &Policy, r: Range) -> Result<(rep::PlanConfig, rep::Run), RunError> {
    let mut s = Search::new(p, pol, r)?;
    let pdr_loss = r.pdr_loss;
    let max_drop = p.scenario.spec.slo.max_drop_rate;
    let slo = |x: &Probe| x.slo_met;
    let pdr = move |x: &Probe| x.loss <= pdr_loss;
    let ndr = |x: &Probe| x.loss <= 0.0;
    s.target(&slo)?;
    s.target(&pdr)?;
    s.target(&ndr)?;
    let (lo, hi) = s.bracket(&slo);
    let limited_by = match (lo, hi) {
        (_, None) => format!(
            "the SLO holds at the highest rate probed (plan.max_gbps = {})",
            r.max_gbps
        ),
        (None, Some(h)) => format!(
            "{} (missed even at plan.min_gbps = {})",
            failed_checks(&s.probes[h], max_drop),
            r.min_gbps
        ),
        (Some(_), Some(h)) => failed_checks(&s.probes[h], max_drop),
    };
    let shown = lo.or(hi).expect("the range's ends were probed");
    let mut points: Vec<&Probe> = s.probes.iter().collect();
    points.sort_by(|a, b| a.gbps.total_cmp(&b.gbps));
    let w = s.reference.warmup_ns;
    let window = if w == 0 {
        format!(
            "whole trace: the fast-path share was steady from the first interval at the reference rate ({} Gbit/s)",
            r.min_gbps
        )
    } else {
        format!(
            "warm-up left out: the first {:.1} % of the trace (until the fast-path and hardware share settled at the reference rate, {} Gbit/s)",
            100.0 * w as f64 / s.reference.span_ns.max(1) as f64,
            r.min_gbps
        )
    };
    let slo_bound = s.bound(&slo);
    let cfg = rep::PlanConfig {
        name: pol.name.clone(),
        max_pps: slo_bound.map(|b| b.lower.pps),
        max_bps: slo_bound.map(|b| b.lower.bps),
        limited_by,
        points: points.iter().map(|x| point(x, s.rate(x.gbps))).collect(),
        ndr: s.bound(&ndr),
        pdr: s.bound(&pdr),
        slo: slo_bound,
        window,
        design_drop_rate: s.reference.design_rate,
    };
    let mut run = s.probes[shown].run.clone();
    let gbps = s.probes[shown].gbps;
    run.description = if lo.is_some() {
        format!(
            "{} — at {gbps:.3} Gbit/s offered, the highest rate found within the SLO",
            run.description
        )
    } else {
        format!(
            "{} — at {gbps:.3} Gbit/s offered, the lowest rate probed (the SLO was missed)",
            run.description
        )
    };
    Ok((cfg, run))
}

/// Runs the capacity search for every configuration and builds the plan report: `runs`
/// holds each configuration at its highest rate within the SLO (or at the lowest rate
/// probed when it never met it).
pub fn run_plan(p: &Prepared) -> Result<rep::Report, RunError> {
    if p.scenario.closed_loop.is_some() {
        // the search retimes the trace to each offered rate; closed-loop TCP senders set
        // their own rate, so the offered load would not be the one searched
        return Err(RunError::Scenario(p.scenario.file.invalid(
            "replay.mode",
            "`offsim plan` searches offered rates by retiming the trace: closed-loop senders set their own; use replay.mode = \"open-loop\" to plan",
        )));
    }
    let r = range(p)?;
    let res: Vec<Result<(rep::PlanConfig, rep::Run), RunError>> = p
        .scenario
        .policies
        .par_iter()
        .map(|pol| search(p, pol, r))
        .collect();
    let mut configs = Vec::new();
    let mut runs = Vec::new();
    for x in res {
        let (c, run) = x?;
        configs.push(c);
        runs.push(run);
    }
    let warnings = ruleset_warnings(p, p.findings()?);
    let notes = vec![format!(
        "capacity search: offered load paced between {} and {} Gbit/s (wire bits), {} bisection steps per target on a log scale; runs show each configuration at its highest rate within the SLO, so their savings are not computed",
        r.min_gbps, r.max_gbps, r.steps
    )];
    Ok(rep::Report {
        tool: tool(),
        kind: rep::ReportKind::Plan,
        scenario: scenario_info(p),
        runs,
        warnings,
        notes,
        plan: Some(rep::Plan {
            configs,
            pdr_loss: r.pdr_loss,
        }),
        ..rep::Report::default()
    })
}

/// A plain-text table of a plan report: NDR, PDR and the SLO rate per configuration, each
/// with its bracket, as FD.io CSIT prints them.
pub fn plan_text(r: &rep::Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let Some(plan) = &r.plan else {
        return s;
    };
    let _ = writeln!(s, "scenario  {} ({})", r.scenario.name, r.scenario.file);
    let _ = writeln!(
        s,
        "{:<16} {:>24} {:>24} {:>24}  limited by",
        "configuration",
        "NDR Mpps (Gbit/s)",
        format!("PDR {:.1}% Mpps (Gbit/s)", plan.pdr_loss * 100.0),
        "SLO Mpps (Gbit/s)"
    );
    let cell = |b: &Option<rep::RateBound>| match b {
        Some(b) => format!(
            "{:.3} ({:.3}){}",
            b.lower.pps / 1e6,
            b.lower.wire_bps / 1e9,
            if b.upper.is_none() { "+" } else { "" }
        ),
        None => "none".to_string(),
    };
    for c in &plan.configs {
        let _ = writeln!(
            s,
            "{:<16} {:>24} {:>24} {:>24}  {}",
            c.name,
            cell(&c.ndr),
            cell(&c.pdr),
            cell(&c.slo),
            c.limited_by
        );
    }
    let _ = writeln!(
        s,
        "rates are offered load, Gbit/s in wire bits (L1); '+' = the highest rate probed passed; brackets in report.json"
    );
    for c in &plan.configs {
        let _ = writeln!(s, "{}: {}", c.name, c.window);
    }
    if let Some(sentence) = offsim_reports::html::plan_sentence(r) {
        let _ = writeln!(s, "\n{sentence}");
    }
    s
}
