//! The scenario section: what was simulated (trace, ruleset, CPU, NIC, kernel, replay, seed,
//! SLO and any other settings), one key–value row each.

use std::fmt::Write as _;

use super::common::{h, kv};
use crate::fmt::{self, esc};
use crate::schema::{ReplayInfo, Report, RulesetInfo, SloSpec, TraceInfo};

/// `; description` (escaped), or nothing when the description is empty.
fn suffix(description: &str) -> String {
    if description.is_empty() {
        String::new()
    } else {
        format!("; {}", esc(description))
    }
}

/// Names joined by `, ` (escaped), or `none`.
fn names_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        esc(&names.join(", "))
    }
}

/// The scenario section: one key–value row per input.
pub(super) fn scenario_section(out: &mut String, r: &Report) {
    let s = &r.scenario;
    h(out, "<section id=\"scenario\">\n<h2>Scenario</h2>\n");
    if !s.description.is_empty() {
        let _ = writeln!(out, "<p>{}</p>", esc(&s.description));
    }
    h(out, "<table class=\"kv\">\n<tbody>\n");
    kv(
        out,
        "Scenario file",
        &format!("<code>{}</code>", esc(&s.file)),
    );
    kv(out, "Trace", &trace_text(&s.trace));
    kv(out, "Ruleset", &ruleset_text(&s.ruleset));
    kv(
        out,
        "CPU",
        &format!(
            "{}: {} core(s) at {} MHz{}",
            esc(&s.cpu.preset),
            s.cpu.cores,
            fmt::sig3(s.cpu.freq_hz / 1e6),
            suffix(&s.cpu.description)
        ),
    );
    kv(
        out,
        "NIC",
        &format!(
            "{}: {} hardware flow entries, line rate {}{}",
            esc(&s.nic.preset),
            fmt::count(s.nic.table_capacity),
            fmt::bps(s.nic.line_rate_bps),
            suffix(&s.nic.description)
        ),
    );
    kv(out, "Kernel", &esc(&s.kernel));
    kv(out, "Replay", &replay_text(&s.replay));
    kv(out, "Seed", &s.seed.to_string());
    if let Some(slo) = &s.slo {
        kv(out, "SLO", &slo_text(slo));
    }
    for (k, v) in &s.details {
        kv(out, k, &esc(v));
    }
    h(out, "</tbody>\n</table>\n</section>\n");
}

/// The trace row: source, packets, bytes, flows, duration.
fn trace_text(t: &TraceInfo) -> String {
    format!(
        "<code>{}</code>: {} packets, {} bytes{} over {}{}",
        esc(&t.source),
        fmt::count(t.packets),
        fmt::count(t.bytes),
        t.flows
            .map(|f| format!(", {} flows", fmt::count(f)))
            .unwrap_or_default(),
        fmt::ns(t.duration_ns as f64),
        suffix(&t.description)
    )
}

/// The ruleset row: file, tables, chains, rules, flowtables.
fn ruleset_text(rs: &RulesetInfo) -> String {
    format!(
        "<code>{}</code>: tables {}; {} chains, {} rules; flowtables {}{}",
        esc(&rs.file),
        names_or_none(&rs.tables),
        rs.chains,
        rs.rules,
        names_or_none(&rs.flowtables),
        suffix(&rs.description)
    )
}

/// The replay row: mode (with its factor or rate), passes, simulated time.
fn replay_text(rp: &ReplayInfo) -> String {
    let mut replay = esc(&rp.mode);
    match rp.mode.as_str() {
        "speedup" => {
            let _ = write!(replay, " ×{}", fmt::sig3(rp.speedup));
        }
        "rate-pps" => {
            let _ = write!(replay, " at {}", fmt::pps(rp.target_pps));
        }
        "rate-bps" => {
            let _ = write!(replay, " at {}", fmt::bps(rp.target_bps));
        }
        _ => {}
    }
    let _ = write!(
        replay,
        ", {} pass(es), {} simulated",
        rp.loops,
        fmt::ns(rp.duration_ns as f64)
    );
    replay.push_str(&suffix(&rp.description));
    replay
}

/// The SLO row: each limit that is set, then the description.
fn slo_text(slo: &SloSpec) -> String {
    let mut parts = Vec::new();
    if let Some(v) = slo.p99_latency_ns {
        parts.push(format!("p99 ≤ {}", fmt::ns(v as f64)));
    }
    if let Some(v) = slo.p999_latency_ns {
        parts.push(format!("p99.9 ≤ {}", fmt::ns(v as f64)));
    }
    if let Some(v) = slo.max_drop_rate {
        parts.push(format!("drops ≤ {}", fmt::pct(v)));
    }
    if let Some(v) = slo.max_cpu_util {
        parts.push(format!("CPU ≤ {}", fmt::pct(v)));
    }
    let mut text = parts.join(", ");
    if !slo.description.is_empty() {
        let _ = write!(text, " ({})", esc(&slo.description));
    }
    text
}
