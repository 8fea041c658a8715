//! The page's sentences, in plain text (escape before use in HTML): the capacity sentence
//! of a plan report ([`plan_sentence`], also printed by `offsim plan`) and the findings
//! (one sentence per run, the SLO verdicts).

use std::fmt::Write as _;

use crate::fmt;
use crate::schema::{ParamValue, PlanConfig, Report, ReportKind, Run, Sweep, SweepPoint};

/// Human name of a configuration, for sentences: `none` → "without offload", …
fn config_phrase(name: &str) -> String {
    match name {
        "none" => "without offload".to_string(),
        "software" => "with software offload".to_string(),
        "hardware" => "with hardware offload".to_string(),
        other => format!("with {other}"),
    }
}

/// Bit rate `b` in the unit of the larger of `a` and `b`, so that the rates of one sentence
/// compare at a glance: `(2.35e9, 4.01e8)` gives `0.401 Gbit/s`.
fn bps_in_unit_of(a: f64, b: f64) -> String {
    let m = a.abs().max(b.abs());
    let (f, unit) = if m >= 1e9 {
        (1e9, "Gbit/s")
    } else if m >= 1e6 {
        (1e6, "Mbit/s")
    } else if m >= 1e3 {
        (1e3, "kbit/s")
    } else {
        (1.0, "bit/s")
    };
    format!("{} {unit}", fmt::sig3(b / f))
}

/// The capacity sentence of a plan report (plain text, not escaped), e.g. "This setup
/// forwards 2.35 Gbit/s (0.2 Mpps, 1.2k new connections/s) within the SLO with hardware
/// offload, 0.401 Gbit/s without offload." Rates are wire rates (L1), as the plan tables give them. `None` when the
/// report has no plan or no configuration met the SLO.
pub fn plan_sentence(report: &Report) -> Option<String> {
    let plan = report.plan.as_ref()?;
    // The wire rate (L1, what `replay.rate_gbps` sets and the plan tables show) where the
    // report has it; older reports only give the frame rate.
    let rate = |c: &PlanConfig| c.slo.as_ref().map(|b| b.lower.wire_bps).or(c.max_bps);
    let best = plan
        .configs
        .iter()
        .filter(|c| rate(c).is_some())
        .max_by(|a, b| rate(a).unwrap_or(0.0).total_cmp(&rate(b).unwrap_or(0.0)))?;
    let best_bps = rate(best).unwrap_or(0.0);
    // New connections per second at that rate (CSIT's CPS beside PPS), when the trace
    // opens any.
    let cps = best
        .slo
        .as_ref()
        .map(|b| b.lower.cps)
        .filter(|c| *c > 0.0)
        .map(|c| format!(", {} new connections/s", fmt::sig3(c)))
        .unwrap_or_default();
    let mut s = format!(
        "This setup forwards {} ({}{cps}) within the SLO {}",
        fmt::bps(best_bps),
        fmt::pps(best.max_pps.unwrap_or(0.0)),
        config_phrase(&best.name)
    );
    // The others from the highest capacity down; those that never met the SLO last.
    let mut rest: Vec<&PlanConfig> = plan
        .configs
        .iter()
        .filter(|c| c.name != best.name)
        .collect();
    rest.sort_by(|a, b| {
        let key = |c: &PlanConfig| rate(c).unwrap_or(-1.0);
        key(b).total_cmp(&key(a))
    });
    let others: Vec<String> = rest
        .into_iter()
        .map(|c| match rate(c) {
            Some(b) => format!("{} {}", bps_in_unit_of(best_bps, b), config_phrase(&c.name)),
            None => format!(
                "nothing {} (even the lowest probed rate missed the SLO)",
                config_phrase(&c.name)
            ),
        })
        .collect();
    if !others.is_empty() {
        s.push_str(", ");
        s.push_str(&others.join(", "));
    }
    s.push('.');
    Some(s)
}

/// Sentences summarising a report: throughput, CPU and latency of each configuration
/// against the baseline, SLO verdicts. Plain text (escape before use in HTML).
pub(super) fn findings(report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = plan_sentence(report) {
        out.push(s);
    }
    if let Some(plan) = &report.plan {
        // A plan's runs are its configurations at their own highest rates: the capacity
        // and what limits it are the findings, not sentences about those runs.
        for c in &plan.configs {
            if !c.limited_by.is_empty() {
                out.push(format!("{}: limited by {}.", c.name, c.limited_by));
            }
        }
        return out;
    }
    if report.kind == ReportKind::Sweep {
        if let Some(sw) = &report.sweep {
            out.push(format!(
                "{} sweep point(s) over {} ({} run(s)).",
                sw.points.len(),
                if sw.parameters.is_empty() {
                    "no parameter".to_string()
                } else {
                    sw.parameters.join(" × ")
                },
                report.runs.len()
            ));
            out.extend(smallest_meeting_slo(report, sw));
        }
        return out;
    }
    out.extend(report.runs.iter().map(run_sentence));
    out.extend(super::events::event_sentences(report));
    out.extend(super::events::egress_sentences(report));
    out.extend(slo_sentence(report));
    out
}

/// Most groups (combinations of the other parameters) named in one sentence.
const MAX_GROUPS: usize = 12;

/// For each swept NIC key (`nic.…`) with numeric values and each policy checked against
/// an SLO: the smallest value at which the policy meets the SLO, for each combination of
/// the other parameters (e.g. per offered rate), and whether every larger value meets it
/// too. "What is the smallest table that meets the SLO?"
fn smallest_meeting_slo(report: &Report, sw: &Sweep) -> Vec<String> {
    let mut out = Vec::new();
    // Policies with a hardware table: a NIC key does not change the others.
    let mut policies: Vec<&str> = Vec::new();
    for r in report
        .runs
        .iter()
        .filter(|r| r.slo.is_some() && r.nic.capacity > 0)
    {
        if !policies.contains(&r.policy.as_str()) {
            policies.push(&r.policy);
        }
    }
    let num = |p: &SweepPoint, k: &str| match p.values.get(k) {
        Some(ParamValue::Num(x)) => Some(*x),
        _ => None,
    };
    for key in sw.parameters.iter().filter(|k| k.starts_with("nic.")) {
        // Groups: the other parameters' values, in grid order.
        let others: Vec<&String> = sw.parameters.iter().filter(|p| *p != key).collect();
        let label = |p: &SweepPoint| {
            others
                .iter()
                .map(|o| {
                    let v = p.values.get(*o).map_or("-".to_string(), |v| v.to_string());
                    format!("{o}={v}")
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut groups: Vec<(String, Vec<&SweepPoint>)> = Vec::new();
        for p in sw.points.iter().filter(|p| num(p, key).is_some()) {
            let l = label(p);
            match groups.iter_mut().find(|(g, _)| *g == l) {
                Some((_, v)) => v.push(p),
                None => groups.push((l, vec![p])),
            }
        }
        for pol in &policies {
            let parts: Vec<String> = groups
                .iter()
                .map(|(g, pts)| {
                    // (value, met) by increasing value.
                    let mut vm: Vec<(f64, bool)> = pts
                        .iter()
                        .filter_map(|p| {
                            let met = p
                                .runs
                                .iter()
                                .filter_map(|n| report.run(n))
                                .find(|r| r.policy == *pol)?
                                .slo
                                .as_ref()
                                .is_some_and(|s| s.met);
                            Some((num(p, key)?, met))
                        })
                        .collect();
                    vm.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let at = if g.is_empty() {
                        String::new()
                    } else {
                        format!(" at {g}")
                    };
                    match vm.iter().position(|x| x.1) {
                        Some(i) if vm[i..].iter().all(|x| x.1) => {
                            format!("{}{at}", fmt::num(vm[i].0))
                        }
                        Some(i) => {
                            format!("{}{at} (but some larger values miss it)", fmt::num(vm[i].0))
                        }
                        None => format!(
                            "none up to {}{at}",
                            vm.last().map_or("-".into(), |x| fmt::num(x.0))
                        ),
                    }
                })
                .collect();
            if parts.is_empty() {
                continue;
            }
            let mut text = parts[..parts.len().min(MAX_GROUPS)].join("; ");
            if parts.len() > MAX_GROUPS {
                let _ = write!(text, "; … ({} more)", parts.len() - MAX_GROUPS);
            }
            out.push(format!(
                "Smallest {key} that meets the SLO with {pol}: {text}."
            ));
        }
    }
    out
}

/// One run's sentence: delivered against offered, drops, p99, CPU, and the savings against
/// its baseline.
fn run_sentence(r: &Run) -> String {
    let t = &r.throughput;
    let drop_rate = if t.offered_packets > 0 {
        r.drops.total as f64 / t.offered_packets as f64
    } else {
        0.0
    };
    let busiest = match r.cpu.busiest_core() {
        Some((i, u)) if r.cpu.util_per_core.len() > 1 => format!(" (core {i} {})", fmt::pct(u)),
        _ => String::new(),
    };
    let mut s = format!(
        "{}: delivers {} of {} offered{}, p99 latency {}, CPU {}{busiest}",
        r.name,
        fmt::bps(t.delivered_bps),
        fmt::bps(t.offered_bps),
        if r.drops.total > 0 {
            format!(" (drops {})", fmt::pct(drop_rate))
        } else {
            String::new()
        },
        fmt::ns(r.latency_ns.overall.p99 as f64),
        fmt::pct(r.cpu.util_mean),
    );
    if let (Some(sv), Some(b)) = (&r.savings, &r.baseline) {
        let _ = write!(
            s,
            "; against {b}: CPU {} points {}, power {} ({})",
            fmt::sig3((sv.cpu_util * 100.0).abs()),
            if sv.cpu_util >= 0.0 {
                "lower"
            } else {
                "higher"
            },
            if sv.power_w >= 0.0 {
                format!("−{}", fmt::watts(sv.power_w))
            } else {
                format!("+{}", fmt::watts(-sv.power_w))
            },
            fmt::signed_pct(-sv.power_pct),
        );
    }
    s.push('.');
    s
}

/// The SLO sentence: which runs met the SLO and which missed it on what. `None` when no run
/// was checked against an SLO.
fn slo_sentence(report: &Report) -> Option<String> {
    let with_slo: Vec<&Run> = report.runs.iter().filter(|r| r.slo.is_some()).collect();
    if with_slo.is_empty() {
        return None;
    }
    let met: Vec<&str> = with_slo
        .iter()
        .filter(|r| r.slo.as_ref().is_some_and(|s| s.met))
        .map(|r| r.name.as_str())
        .collect();
    let missed: Vec<String> = with_slo
        .iter()
        .filter(|r| r.slo.as_ref().is_some_and(|s| !s.met))
        .map(|r| {
            let failed: Vec<&str> = r
                .slo
                .as_ref()
                .map(|s| {
                    s.checks
                        .iter()
                        .filter(|c| !c.met)
                        .map(|c| c.metric.as_str())
                        .collect()
                })
                .unwrap_or_default();
            format!("{} ({})", r.name, failed.join(", "))
        })
        .collect();
    let desc = report
        .scenario
        .slo
        .as_ref()
        .map(|s| s.description.as_str())
        .filter(|d| !d.is_empty());
    let mut s = match desc {
        Some(d) => format!("SLO ({d}): "),
        None => "SLO: ".to_string(),
    };
    if !met.is_empty() {
        let _ = write!(s, "met by {}", met.join(", "));
    }
    if !missed.is_empty() {
        if !met.is_empty() {
            s.push_str("; ");
        }
        let _ = write!(s, "missed by {}", missed.join(", "));
    }
    s.push('.');
    Some(s)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::example;

    #[test]
    fn plan_sentence_names_both_modes() {
        let s = plan_sentence(&example::plan_report()).unwrap();
        assert!(s.starts_with("This setup forwards "), "{s}");
        assert!(s.contains("within the SLO with hardware offload"), "{s}");
        assert!(s.contains("without offload"), "{s}");
    }

    /// The smallest table per offered load: a miss at 1024 entries and speed-up 2 moves that
    /// group's answer to 4096; a miss at the largest value is flagged.
    #[test]
    fn smallest_table_per_group_of_the_other_parameters() {
        let mut r = example::sweep_report();
        let miss = |r: &mut Report, point: &str| {
            let run = r
                .runs
                .iter_mut()
                .find(|x| x.name == format!("{point}/hardware"))
                .unwrap();
            run.slo.as_mut().unwrap().met = false;
        };
        miss(&mut r, "nic.table_capacity=1024,replay.speedup=2");
        let sw = r.sweep.clone().unwrap();
        let f = smallest_meeting_slo(&r, &sw);
        assert_eq!(
            f,
            [
                "Smallest nic.table_capacity that meets the SLO with hardware: 1024 at replay.speedup=1; 4096 at replay.speedup=2."
            ]
        );
        miss(&mut r, "nic.table_capacity=8192,replay.speedup=1");
        let f = smallest_meeting_slo(&r, &sw);
        assert!(
            f[0].contains("1024 at replay.speedup=1 (but some larger values miss it)"),
            "{f:?}"
        );
        for p in ["1024", "4096", "8192"] {
            miss(&mut r, &format!("nic.table_capacity={p},replay.speedup=2"));
        }
        let f = smallest_meeting_slo(&r, &sw);
        assert!(
            f[0].ends_with("none up to 8192 at replay.speedup=2."),
            "{f:?}"
        );
    }

    #[test]
    fn findings_mention_every_run_and_the_slo() {
        let r = example::run_report();
        let f = findings(&r);
        for run in &r.runs {
            assert!(
                f.iter().any(|s| s.starts_with(&format!("{}:", run.name))),
                "{f:?}"
            );
        }
        assert!(f.iter().any(|s| s.starts_with("SLO")), "{f:?}");
    }
}
