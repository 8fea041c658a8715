//! The ranges of the scenario's own numeric keys (`[replay]`, `[report]`, `[slo]`,
//! `[kernel]`, `[plan]`); the CPU and NIC sections are checked by their owners.

use super::{Invalid, ScenarioError, ScenarioSpec};

/// The ranges of `[replay]`, `[report]` and `[slo]`.
pub(super) fn check_replay_report_slo(
    spec: &ScenarioSpec,
    invalid: Invalid,
) -> Result<(), ScenarioError> {
    let r = &spec.replay;
    let set = [
        r.speedup.is_some(),
        r.rate_pps.is_some(),
        r.rate_gbps.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if set > 1 {
        return Err(invalid(
            "replay",
            "give at most one of `speedup`, `rate_pps`, `rate_gbps`".into(),
        ));
    }
    for (k, v, min, max) in [
        ("replay.speedup", r.speedup, 1e-6, 1e9),
        ("replay.rate_pps", r.rate_pps, 1e-3, 1e10),
        ("replay.rate_gbps", r.rate_gbps, 1e-9, 1e4),
    ] {
        if let Some(x) = v
            && !(x.is_finite() && (min..=max).contains(&x))
        {
            return Err(invalid(
                k,
                format!("must be a number in [{min:e}, {max:e}], got {x}"),
            ));
        }
    }
    if let Some(l) = r.loops
        && !(1..=255).contains(&l)
    {
        return Err(invalid("replay.loops", "must be between 1 and 255".into()));
    }
    if let Some(w) = r.warmup_s
        && !(w.is_finite() && (0.0..=MAX_SECONDS).contains(&w))
    {
        return Err(invalid(
            "replay.warmup_s",
            format!("must be in [0, {MAX_SECONDS}] seconds, got {w}"),
        ));
    }
    check_generate(spec, invalid)?;
    check_kernel_plan(spec, invalid)?;
    if !(1..=60_000).contains(&spec.report.interval_ms) {
        return Err(invalid(
            "report.interval_ms",
            "must be between 1 and 60000".into(),
        ));
    }
    if let Some(d) = spec.slo.max_drop_rate
        && !(0.0..=1.0).contains(&d)
    {
        return Err(invalid("slo.max_drop_rate", "must be in [0, 1]".into()));
    }
    if let Some(c) = spec.slo.max_cpu
        && !(c > 0.0 && c <= 1.0)
    {
        return Err(invalid("slo.max_cpu", "must be in (0, 1]".into()));
    }
    if let Some(c) = spec.slo.max_cpu_mean
        && !(c > 0.0 && c <= 1.0)
    {
        return Err(invalid("slo.max_cpu_mean", "must be in (0, 1]".into()));
    }
    if let Some(p) = spec.slo.p99_latency_us
        && !(p.is_finite() && p > 0.0)
    {
        return Err(invalid("slo.p99_latency_us", "must be positive".into()));
    }
    Ok(())
}

/// Longest time a scenario key may give, s (30 days: the longest replay simulated).
const MAX_SECONDS: f64 = 30.0 * 86_400.0;

/// The ranges of `kernel.conntrack_max`, `kernel.conntrack_buckets` and `[plan]`.
fn check_kernel_plan(spec: &ScenarioSpec, invalid: Invalid) -> Result<(), ScenarioError> {
    if let Some(m) = spec.kernel.conntrack_max
        && !(1..=i32::MAX as u32).contains(&m)
    {
        return Err(invalid(
            "kernel.conntrack_max",
            "must be between 1 and 2147483647 (leave it out for no limit)".into(),
        ));
    }
    if let Some(b) = spec.kernel.conntrack_buckets
        && !(1..=offsim_kernel::conntrack::MAX_BUCKETS).contains(&b)
    {
        return Err(invalid(
            "kernel.conntrack_buckets",
            format!(
                "must be between 1 and {}",
                offsim_kernel::conntrack::MAX_BUCKETS
            ),
        ));
    }
    if let Some(p) = &spec.plan {
        for (k, v) in [("plan.min_gbps", p.min_gbps), ("plan.max_gbps", p.max_gbps)] {
            if let Some(x) = v
                && !(x.is_finite() && x > 0.0 && x <= 1e4)
            {
                return Err(invalid(k, format!("must be in (0, 10000], got {x}")));
            }
        }
        if let Some(s) = p.steps
            && !(1..=30).contains(&s)
        {
            return Err(invalid("plan.steps", "must be between 1 and 30".into()));
        }
        if let Some(l) = p.pdr_loss
            && !(l > 0.0 && l < 1.0)
        {
            return Err(invalid(
                "plan.pdr_loss",
                format!("must be in (0, 1), got {l}"),
            ));
        }
    }
    Ok(())
}

/// The `connections` profile's load keys: in range, and only for that profile.
fn check_generate(spec: &ScenarioSpec, invalid: Invalid) -> Result<(), ScenarioError> {
    use offsim_traces::r#gen::{MAX_CPS, MAX_HOLD_SECS};
    let Some(g) = &spec.trace.generate else {
        return Ok(());
    };
    for (k, v, ok) in [
        ("trace.generate.cps", g.cps, (f64::MIN_POSITIVE, MAX_CPS)),
        ("trace.generate.hold_s", g.hold_s, (0.0, MAX_HOLD_SECS)),
    ] {
        let Some(x) = v else { continue };
        if g.profile != "connections" {
            return Err(invalid(
                k,
                format!(
                    "sets the `connections` profile's load; profile `{}` has none",
                    g.profile
                ),
            ));
        }
        if !(x.is_finite() && (ok.0..=ok.1).contains(&x)) {
            let lo = if ok.0 > 0.0 {
                "more than 0"
            } else {
                "at least 0"
            };
            return Err(invalid(
                k,
                format!("must be {lo} and at most {}, got {x}", ok.1),
            ));
        }
    }
    Ok(())
}
