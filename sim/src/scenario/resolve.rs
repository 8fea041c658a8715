//! [`ScenarioFile::resolve`]: the written spec validated into a [`Scenario`], one step per
//! part (trace, CPU, kernel, FIB, policies), the first failing one reported.

use super::*;

fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

impl ScenarioFile {
    /// Validates into a [`Scenario`]. Checks run in a fixed order (trace, cpu, nic, kernel,
    /// ruleset sides, replay, report, slo, policies); the first failing one is reported.
    pub fn resolve(&self) -> Result<Scenario, ScenarioError> {
        let spec = self.spec()?;
        let invalid = |key: &str, msg: String| self.invalid(key, msg);
        let dir = self.dir();
        let trace_file = resolve_trace(&spec, &dir, &invalid)?;
        let cpu = resolve_cpu(&spec, &invalid)?;
        let nic_preset = spec
            .nic
            .get("preset")
            .and_then(toml::Value::as_str)
            .ok_or_else(|| invalid("nic.preset", "missing (a preset name is required)".into()))?
            .to_string();
        let mut nic_overrides = spec.nic.clone();
        nic_overrides.remove("preset");
        let (flavour, ct) = resolve_kernel(&spec, &invalid)?;
        let sides =
            SideMode::parse(&spec.ruleset.sides).map_err(|m| invalid("ruleset.sides", m))?;
        let utc_offset_s = match &spec.ruleset.utc_offset {
            Some(o) => {
                offsim_nft::parse_utc_offset(o).map_err(|m| invalid("ruleset.utc_offset", m))?
            }
            None => 0,
        };
        let fib = resolve_fib(&spec, &sides, &invalid)?;
        check_replay_report_slo(&spec, &invalid)?;
        let policies = resolve_policies(&spec, &invalid)?;
        let events = super::events::resolve_events(&spec, &dir, &invalid)?;
        let egress = super::egress::resolve_egress(&spec, &invalid)?;
        let closed_loop = resolve_mode(&spec, &invalid)?;
        Ok(Scenario {
            file: self.clone(),
            trace_file,
            ruleset_file: dir.join(&spec.ruleset.file),
            cpu,
            nic_preset,
            nic_overrides,
            flavour,
            ct,
            sides,
            utc_offset_s,
            fib,
            policies,
            events,
            egress,
            closed_loop,
            spec,
        })
    }
}

/// `ruleset.routes`, `ruleset.addresses` and `kernel.mtu`: the router's FIB, checked against
/// the devices `iif` and `oif`.
fn resolve_fib(
    spec: &ScenarioSpec,
    sides: &SideMode,
    invalid: Invalid,
) -> Result<FibSpec, ScenarioError> {
    let mut fib = FibSpec {
        mtu: spec.kernel.mtu,
        ..FibSpec::default()
    };
    for (i, r) in spec.ruleset.routes.iter().enumerate() {
        fib.routes.push(
            RouteSpec::parse(r)
                .map_err(|e| invalid(&format!("ruleset.routes[{i}]"), e.to_string()))?,
        );
    }
    for (i, a) in spec.ruleset.addresses.iter().enumerate() {
        fib.addrs.push(
            AddrSpec::parse(a)
                .map_err(|e| invalid(&format!("ruleset.addresses[{i}]"), e.to_string()))?,
        );
    }
    let r = &spec.ruleset;
    Fib::build(&fib, (&r.iif, LAN_IFINDEX), (&r.oif, WAN_IFINDEX), sides).map_err(|e| {
        let key = match e {
            FibError::Mtu(_) => "kernel.mtu",
            _ if !r.routes.is_empty() => "ruleset.routes",
            _ => "ruleset.addresses",
        };
        invalid(key, e.to_string())
    })?;
    Ok(fib)
}

/// `[trace]`: the capture file (relative to the scenario's directory), or `None` for a
/// valid `generate` spec.
fn resolve_trace(
    spec: &ScenarioSpec,
    dir: &Path,
    invalid: Invalid,
) -> Result<Option<PathBuf>, ScenarioError> {
    Ok(match (&spec.trace.file, &spec.trace.generate) {
        (Some(f), None) => Some(dir.join(f)),
        (None, Some(g)) => {
            if g.packets.is_some() == g.duration_s.is_some() {
                return Err(invalid(
                    "trace.generate",
                    "give exactly one of `packets` and `duration_s`".into(),
                ));
            }
            if let Some(p) = g.packets
                && (p == 0 || p > 1_000_000_000)
            {
                return Err(invalid(
                    "trace.generate.packets",
                    "must be between 1 and 1e9".into(),
                ));
            }
            if let Some(d) = g.duration_s
                && !(d > 0.0 && d <= 86_400.0)
            {
                return Err(invalid(
                    "trace.generate.duration_s",
                    "must be in (0, 86400]".into(),
                ));
            }
            None
        }
        _ => {
            return Err(invalid(
                "trace",
                "give exactly one of `file` and `generate`".into(),
            ));
        }
    })
}

/// `[cpu]`: the preset with the other keys as overrides (unknown keys rejected by the
/// preset's schema), validated.
fn resolve_cpu(spec: &ScenarioSpec, invalid: Invalid) -> Result<CpuConfig, ScenarioError> {
    let preset = spec
        .cpu
        .get("preset")
        .and_then(toml::Value::as_str)
        .ok_or_else(|| invalid("cpu.preset", "missing (a preset name is required)".into()))?;
    let mut cpu_tree: toml::Table = toml::from_str(
        CpuConfig::preset_toml(preset).map_err(|e| invalid("cpu.preset", e.to_string()))?,
    )
    .map_err(|e| invalid("cpu.preset", e.to_string()))?;
    let mut over = spec.cpu.clone();
    over.remove("preset");
    merge(&mut cpu_tree, &over);
    let cpu = CpuConfig::deserialize(toml::Value::Table(cpu_tree))
        .map_err(|e| invalid("cpu", e.to_string()))?;
    cpu.validate().map_err(|e| match e {
        CpuError::Invalid { field, msg } => invalid(&format!("cpu.{field}"), msg),
        other => invalid("cpu", other.to_string()),
    })?;
    Ok(cpu)
}

/// `[kernel]`: the flavour and conntrack timeouts, and the ranges of the other fields.
fn resolve_kernel(
    spec: &ScenarioSpec,
    invalid: Invalid,
) -> Result<(KernelFlavour, CtFlavour), ScenarioError> {
    let flavour = KernelFlavour::parse(&spec.kernel.flavour).ok_or_else(|| {
        invalid(
            "kernel.flavour",
            format!(
                "unknown kernel `{}` (use e.g. 5.15, 6.6, 6.14, mid, new)",
                spec.kernel.flavour
            ),
        )
    })?;
    let ct = match spec.kernel.conntrack.as_str() {
        "kernel" => CtFlavour::Kernel,
        "openwrt" => CtFlavour::Openwrt,
        other => {
            return Err(invalid(
                "kernel.conntrack",
                format!("`{other}`: expected `kernel` or `openwrt`"),
            ));
        }
    };
    if spec.kernel.flowtable_timeout_s == 0 || spec.kernel.flowtable_timeout_s > 86_400 {
        return Err(invalid(
            "kernel.flowtable_timeout_s",
            "must be between 1 and 86400".into(),
        ));
    }
    if !(576..=65_535).contains(&spec.kernel.mtu) {
        return Err(invalid(
            "kernel.mtu",
            "must be between 576 and 65535".into(),
        ));
    }
    Ok((flavour, ct))
}

/// A policy name: shown in the report, the summary and file names.
fn check_policy_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the policy name is empty".into());
    }
    if name.chars().count() > 64 {
        return Err("the policy name is longer than 64 characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("the policy name holds control characters".into());
    }
    Ok(())
}

/// `policies`, and the `slo.policies` that must name some of them.
fn resolve_policies(spec: &ScenarioSpec, invalid: Invalid) -> Result<Vec<Policy>, ScenarioError> {
    if spec.policies.is_empty() {
        return Err(invalid("policies", "at least one policy".into()));
    }
    let mut policies = Vec::new();
    for (i, p) in spec.policies.iter().enumerate() {
        let key = format!("policies[{i}]");
        let pol = match p {
            PolicySpec::Name(n) => match n.as_str() {
                "none" => Policy::named(n, false, false),
                "software" => Policy::named(n, true, false),
                "hardware" => Policy::named(n, true, true),
                other => {
                    return Err(invalid(
                        &key,
                        format!("unknown policy `{other}` (none, software, hardware, or a table)"),
                    ));
                }
            },
            PolicySpec::Table(t) => {
                let hardware = match t.base.as_str() {
                    "software" => false,
                    "hardware" => true,
                    other => {
                        return Err(invalid(
                            &format!("{key}.base"),
                            format!("`{other}`: expected software or hardware"),
                        ));
                    }
                };
                let admission = match t.admission.as_deref() {
                    None | Some("refuse") => Admission::Refuse,
                    Some("evict-lru") => Admission::EvictLru,
                    Some("evict-least-active") => Admission::EvictLeastActive,
                    Some(o) => {
                        return Err(invalid(
                            &format!("{key}.admission"),
                            format!("`{o}`: expected refuse, evict-lru or evict-least-active"),
                        ));
                    }
                };
                if let Some(m) = t.min_pps
                    && !(m.is_finite() && (0.0..=1e12).contains(&m))
                {
                    return Err(invalid(
                        &format!("{key}.min_pps"),
                        "must be in [0, 1e12]".into(),
                    ));
                }
                check_policy_name(&t.name).map_err(|m| invalid(&format!("{key}.name"), m))?;
                Policy {
                    name: t.name.clone(),
                    flowtable: true,
                    hardware,
                    after_packets: t.after_packets.unwrap_or(0),
                    after_bytes: t.after_bytes.unwrap_or(0),
                    min_pps: t.min_pps.unwrap_or(0.0),
                    admission,
                }
            }
        };
        if policies.iter().any(|q: &Policy| q.name == pol.name) {
            return Err(invalid(
                &key,
                format!("duplicate policy name `{}`", pol.name),
            ));
        }
        policies.push(pol);
    }
    for (i, name) in spec.slo.policies.iter().flatten().enumerate() {
        if !policies.iter().any(|q| q.name == *name) {
            return Err(invalid(
                &format!("slo.policies[{i}]"),
                format!("`{name}` is not one of the scenario's policies"),
            ));
        }
    }
    Ok(policies)
}

impl Policy {
    fn named(n: &str, flowtable: bool, hardware: bool) -> Policy {
        Policy {
            name: n.to_string(),
            flowtable,
            hardware,
            after_packets: 0,
            after_bytes: 0,
            min_pps: 0.0,
            admission: Admission::Refuse,
        }
    }
}

/// `replay.mode` and `replay.congestion`.
fn resolve_mode(
    spec: &ScenarioSpec,
    invalid: Invalid,
) -> Result<Option<crate::engine::ClosedLoopConfig>, ScenarioError> {
    use crate::engine::{ClosedLoopConfig, Congestion};
    let r = &spec.replay;
    let congestion = match r.congestion.as_deref() {
        None => Congestion::default(),
        Some(s) => Congestion::parse(s).ok_or_else(|| {
            invalid(
                "replay.congestion",
                format!("unknown congestion control `{s}`; one of: cubic, reno"),
            )
        })?,
    };
    match r.mode.as_deref() {
        None | Some("open-loop") => {
            if r.congestion.is_some() {
                return Err(invalid(
                    "replay.congestion",
                    "only closed-loop senders have congestion control: set replay.mode = \"closed-loop\"".into(),
                ));
            }
            Ok(None)
        }
        Some("closed-loop") => Ok(Some(ClosedLoopConfig { congestion })),
        Some(m) => Err(invalid(
            "replay.mode",
            format!("unknown replay mode `{m}`; one of: open-loop, closed-loop"),
        )),
    }
}
