//! The page's sentences, in plain text (escape before use in HTML): the capacity sentence
//! of a plan report ([`plan_sentence`], also printed by `offsim plan`) and the findings
//! (one sentence per run, the SLO verdicts).

use std::fmt::Write as _;

use crate::fmt;
use crate::schema::{ParamValue, PlanConfig, Report, ReportKind, Run, Sweep};

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
/// forwards 2.35 Gbit/s within the SLO with hardware offload, 0.401 Gbit/s without
/// offload." `None` when the report has no plan or no configuration met the SLO.
pub fn plan_sentence(report: &Report) -> Option<String> {
    let plan = report.plan.as_ref()?;
    let best = plan
        .configs
        .iter()
        .filter(|c| c.max_bps.is_some())
        .max_by(|a, b| {
            a.max_bps
                .unwrap_or(0.0)
                .total_cmp(&b.max_bps.unwrap_or(0.0))
        })?;
    let best_bps = best.max_bps.unwrap_or(0.0);
    let mut s = format!(
        "This setup forwards {} ({}) within the SLO {}",
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
        let key = |c: &PlanConfig| c.max_bps.unwrap_or(-1.0);
        key(b).total_cmp(&key(a))
    });
    let others: Vec<String> = rest
        .into_iter()
        .map(|c| match c.max_bps {
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
    out.extend(slo_sentence(report));
    out
}

/// For each swept NIC key (`nic.…`) with numeric values and each policy checked against
/// an SLO: the smallest value at which the policy meets the SLO at every point with that
/// value (so over every value of the other parameters), and whether every larger value
/// meets it too. "What is the smallest table that meets the SLO?"
fn smallest_meeting_slo(report: &Report, sw: &Sweep) -> Vec<String> {
    let mut out = Vec::new();
    let mut policies: Vec<&str> = Vec::new();
    for r in report.runs.iter().filter(|r| r.slo.is_some()) {
        if !policies.contains(&r.policy.as_str()) {
            policies.push(&r.policy);
        }
    }
    for key in sw.parameters.iter().filter(|k| k.starts_with("nic.")) {
        let mut values: Vec<f64> = sw
            .points
            .iter()
            .filter_map(|p| match p.values.get(key) {
                Some(ParamValue::Num(x)) => Some(*x),
                _ => None,
            })
            .collect();
        values.sort_by(|a, b| a.total_cmp(b));
        values.dedup_by(|a, b| a.total_cmp(b).is_eq());
        if values.is_empty() {
            continue;
        }
        let others = sw.parameters.len() > 1;
        for pol in &policies {
            // Per value: does the policy meet the SLO at every point with it?
            let meets: Vec<bool> = values
                .iter()
                .map(|v| {
                    sw.points
                        .iter()
                        .filter(|p| matches!(p.values.get(key), Some(ParamValue::Num(x)) if x.total_cmp(v).is_eq()))
                        .flat_map(|p| p.runs.iter().filter_map(|n| report.run(n)))
                        .filter(|r| r.policy == *pol)
                        .all(|r| r.slo.as_ref().is_some_and(|s| s.met))
                })
                .collect();
            let scope = if others {
                " at every point with that value"
            } else {
                ""
            };
            let s = match meets.iter().position(|m| *m) {
                Some(i) => {
                    let monotone = meets[i..].iter().all(|m| *m);
                    format!(
                        "Smallest {key} that meets the SLO with {pol}: {}{scope}{}.",
                        fmt::num(values[i]),
                        if monotone {
                            String::new()
                        } else {
                            " (but some larger values miss it)".to_string()
                        }
                    )
                }
                None => format!(
                    "No swept {key} meets the SLO with {pol} (largest tried: {}).",
                    fmt::num(values[values.len() - 1])
                ),
            };
            out.push(s);
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
