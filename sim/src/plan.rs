//! `offsim plan`: for each configuration, the highest offered rate that meets the SLO.
//!
//! The offered load is the scenario's trace paced at a rate (`replay.rate_gbps`, see
//! [`crate::replay`]); the search is a bisection on a logarithmic scale between
//! `plan.min_gbps` and `plan.max_gbps` (defaults: 1 % of the NIC's line rate, and the line
//! rate times the number of ports traffic arrives on), `plan.steps` probes deep (default 8,
//! which brackets the answer within (max/min)^(1/256), about 2 % for the defaults). A probe
//! meets the SLO when every check of `[slo]` holds. The search assumes that a configuration
//! that misses the SLO at some rate also misses it above; the probes are all in the report
//! (the knee chart), so a non-monotone case is visible.
//!
//! Configurations are searched in parallel; each search is sequential and deterministic.

use offsim_reports::schema as rep;
use rayon::prelude::*;

use crate::prepare::{Prepared, RunError};
use crate::report::{ruleset_warnings, run_report, scenario_info, tool};
use crate::run::run_policy;
use crate::scenario::Policy;
use offsim_kernel::sides::SideMode;

/// Default bisection depth.
pub const DEFAULT_STEPS: u32 = 8;

/// The search range and depth for a scenario.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Range {
    /// Lowest rate probed, Gbit/s.
    pub min_gbps: f64,
    /// Highest rate probed, Gbit/s.
    pub max_gbps: f64,
    /// Bisection steps.
    pub steps: u32,
}

/// The range from `[plan]` or the defaults.
pub(crate) fn range(p: &Prepared) -> Result<Range, RunError> {
    let sc = &p.scenario;
    let invalid = |key: &str, msg: String| RunError::Scenario(sc.file.invalid(key, msg));
    let s = &sc.spec.slo;
    if s.p99_latency_us.is_none() && s.max_drop_rate.is_none() && s.max_cpu.is_none() {
        return Err(invalid(
            "slo",
            "`offsim plan` needs an [slo] with p99_latency_us, max_drop_rate or max_cpu".into(),
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
    Ok(Range {
        min_gbps,
        max_gbps,
        steps,
    })
}

struct Probe {
    gbps: f64,
    run: rep::Run,
    met: bool,
}

fn probe(p: &Prepared, pol: &Policy, gbps: f64) -> Result<Probe, RunError> {
    let q = p.at_rate_gbps(gbps)?;
    let mut o = run_policy(&q, pol)?;
    // `p.progress` counts probes (`q`'s is hidden: no per-packet ticks within a probe).
    p.progress.inc(1);
    let run = run_report(&q, pol, &mut o.engine, "");
    let met = run.slo.as_ref().is_none_or(|s| s.met);
    Ok(Probe { gbps, run, met })
}

fn point(pr: &Probe) -> rep::PlanPoint {
    let r = &pr.run;
    let t = &r.throughput;
    rep::PlanPoint {
        offered_pps: t.offered_pps,
        offered_bps: t.offered_bps,
        delivered_pps: t.delivered_pps,
        delivered_bps: t.delivered_bps,
        p99_ns: r.latency_ns.overall.p99,
        drop_rate: if t.offered_packets == 0 {
            0.0
        } else {
            r.drops.total as f64 / t.offered_packets as f64
        },
        cpu_util: r.cpu.util_mean,
        met: pr.met,
    }
}

fn failed_checks(r: &rep::Run) -> String {
    r.slo
        .as_ref()
        .map(|s| {
            s.checks
                .iter()
                .filter(|c| !c.met)
                .map(|c| c.metric.clone())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Searches one configuration; returns its plan entry and the run at its operating point.
fn search(p: &Prepared, pol: &Policy, r: Range) -> Result<(rep::PlanConfig, rep::Run), RunError> {
    let mut probes: Vec<Probe> = Vec::new();
    let hi = probe(p, pol, r.max_gbps)?;
    let (best, limited_by) = if hi.met {
        let run = hi.run.clone();
        probes.push(hi);
        (
            Some(run),
            format!(
                "the SLO holds at the highest rate probed (plan.max_gbps = {})",
                r.max_gbps
            ),
        )
    } else {
        let lo = probe(p, pol, r.min_gbps)?;
        if !lo.met {
            let why = failed_checks(&lo.run);
            let run = lo.run.clone();
            probes.push(hi);
            probes.push(lo);
            probes.sort_by(|a, b| a.gbps.total_cmp(&b.gbps));
            let points = probes.iter().map(point).collect();
            return Ok((
                rep::PlanConfig {
                    name: pol.name.clone(),
                    max_pps: None,
                    max_bps: None,
                    limited_by: format!("{why} (missed even at plan.min_gbps = {})", r.min_gbps),
                    points,
                },
                run,
            ));
        }
        let (mut good, mut bad) = (r.min_gbps, r.max_gbps);
        let mut best = lo.run.clone();
        let mut why = failed_checks(&hi.run);
        probes.push(hi);
        probes.push(lo);
        for _ in 0..r.steps {
            let mid = (good * bad).sqrt();
            let pr = probe(p, pol, mid)?;
            if pr.met {
                good = mid;
                best = pr.run.clone();
            } else {
                bad = mid;
                why = failed_checks(&pr.run);
            }
            probes.push(pr);
        }
        (Some(best), why)
    };
    probes.sort_by(|a, b| a.gbps.total_cmp(&b.gbps));
    let best = best.expect("set on every path that reaches here");
    let cfg = rep::PlanConfig {
        name: pol.name.clone(),
        max_pps: Some(best.throughput.offered_pps),
        max_bps: Some(best.throughput.offered_bps),
        limited_by,
        points: probes.iter().map(point).collect(),
    };
    let mut run = best;
    run.description = format!(
        "{} — at {:.3} Gbit/s offered, the highest rate found within the SLO",
        run.description,
        run.throughput.offered_bps / 1e9
    );
    Ok((cfg, run))
}

/// Runs the capacity search for every configuration and builds the plan report: `runs`
/// holds each configuration at its highest rate within the SLO (or at the lowest rate
/// probed when it never met it).
pub fn run_plan(p: &Prepared) -> Result<rep::Report, RunError> {
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
    let warnings = ruleset_warnings(p);
    let notes = vec![format!(
        "capacity search: offered load paced between {} and {} Gbit/s, {} bisection steps on a log scale; runs show each configuration at its highest rate within the SLO, so their savings are not computed",
        r.min_gbps, r.max_gbps, r.steps
    )];
    Ok(rep::Report {
        tool: tool(),
        kind: rep::ReportKind::Plan,
        scenario: scenario_info(p),
        runs,
        warnings,
        notes,
        plan: Some(rep::Plan { configs }),
        ..rep::Report::default()
    })
}

/// A plain-text table of a plan report.
pub fn plan_text(r: &rep::Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let Some(plan) = &r.plan else {
        return s;
    };
    let _ = writeln!(s, "scenario  {} ({})", r.scenario.name, r.scenario.file);
    let _ = writeln!(
        s,
        "{:<22} {:>14} {:>12} {:>7}  limited by",
        "configuration", "max offered", "max pps", "probes"
    );
    for c in &plan.configs {
        let (bps, pps) = match (c.max_bps, c.max_pps) {
            (Some(b), Some(p)) => (format!("{:.3} Gbit/s", b / 1e9), format!("{p:.0}")),
            _ => ("none".to_string(), "-".to_string()),
        };
        let _ = writeln!(
            s,
            "{:<22} {:>14} {:>12} {:>7}  {}",
            c.name,
            bps,
            pps,
            c.points.len(),
            c.limited_by
        );
    }
    if let Some(sentence) = offsim_reports::html::plan_sentence(r) {
        let _ = writeln!(s, "\n{sentence}");
    }
    s
}
