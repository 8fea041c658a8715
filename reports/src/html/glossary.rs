//! What each reason code on the page means: drops, flows left on the slow path, flows kept
//! in software, hardware refusals and teardowns. The page lists the codes it shows, with
//! these sentences; [`describe`] is public so that the simulator's tests can check that
//! every code it emits has one.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::common::h;
use crate::fmt::esc;
use crate::schema::Report;

/// Codes that keep a flow in software by the NIC's binding policy (or while its insertion
/// is in flight): not refusals, so the page lists them apart.
pub const NOT_REFUSALS: [&str; 2] = ["below_bind_rate", "hw_pending"];

/// Exact codes and their meaning (kernel functions named where the code mirrors one).
const CODES: &[(&str, &str)] = &[
    // Drops.
    (
        "rx_ring_full",
        "dropped: the core's RX ring was full (the CPU could not keep up; the driver's ring overflow)",
    ),
    (
        "link_overrun",
        "dropped: more traffic than the link's line rate",
    ),
    (
        "nic_engine_queue",
        "dropped: the NIC's forwarding engine queue was full",
    ),
    (
        "egress_buffer",
        "dropped: the NIC egress port's buffer was full",
    ),
    (
        "defrag_timeout",
        "dropped: an IP fragment whose datagram never completed (ip_defrag timeout)",
    ),
    (
        "ttl_expired",
        "dropped: TTL or hop limit reached 0 on forwarding (ip_forward), as the trace carries it",
    ),
    (
        "martian",
        "dropped: a martian source or destination address (ip_route_input_slow)",
    ),
    ("multicast", "dropped: multicast is not forwarded"),
    (
        "link_local",
        "dropped: link-local addresses are not forwarded",
    ),
    ("not_ip", "dropped: not an IPv4 or IPv6 packet"),
    ("malformed", "dropped: a malformed header"),
    (
        "ruleset_queue",
        "dropped: a `queue` verdict with no user-space listener",
    ),
    (
        "conntrack_full",
        "dropped: the conntrack table was full (nf_conntrack_max)",
    ),
    (
        "link_down",
        "dropped: the port was down (a link-down event): nothing is received or sent on it",
    ),
    (
        "stale_port",
        "lost: a flowtable or hardware entry sent it to the bridge port its host had left (a host-move event; the entry keeps the port resolved when it was made)",
    ),
    (
        "conntrack_clash",
        "dropped: conntrack confirmation clashed with an existing entry (__nf_conntrack_confirm)",
    ),
    // Flows never offloaded.
    (
        "policy_none",
        "not offloaded: this configuration has no flowtable",
    ),
    (
        "no_flow_add_rule",
        "not offloaded: no `flow add` rule matched the flow",
    ),
    (
        "unsupported_proto",
        "not offloaded: the flowtable takes only TCP and UDP",
    ),
    (
        "not_offloaded",
        "not offloaded: a `flow add` rule matched but no entry was made",
    ),
    (
        "tcp_not_established",
        "not offloaded: the TCP connection never reached ESTABLISHED (nft_flow_offload_eval)",
    ),
    (
        "tcp_fin_rst",
        "a TCP FIN or RST: not offloaded when seen first, torn down when seen later (nft_flow_offload_eval, flow_offload_teardown)",
    ),
    (
        "unconfirmed",
        "not offloaded: the conntrack entry was not confirmed yet (nf_ct_is_confirmed)",
    ),
    ("ip_options", "not offloaded: IPv4 options"),
    ("no_conntrack", "not offloaded: no conntrack entry"),
    (
        "protocol",
        "not offloaded: a protocol the flowtable does not take",
    ),
    (
        "helper",
        "not offloaded: the connection has a conntrack helper (nft_flow_offload_eval)",
    ),
    (
        "already_offloaded",
        "already in the flowtable (IPS_OFFLOAD_BIT set)",
    ),
    // Kept in software.
    (
        "software_policy",
        "kept in software: this configuration offloads to the software flowtable only",
    ),
    (
        "below_bind_rate",
        "kept in software by the binding policy, not a refusal: the NIC listed the flow but binds an entry only after it sees enough packets per second (MediaTek PPE bind rate)",
    ),
    (
        "hw_pending",
        "kept in software: the hardware insertion was still in flight when the run ended",
    ),
    (
        "no_hw_offload",
        "kept in software: the NIC has no hardware flow table",
    ),
    // Hardware refusals.
    (
        "bucket_full",
        "refused by the hardware: every way of the flow's hash bucket was taken",
    ),
    ("table_full", "refused by the hardware: the table was full"),
    (
        "rate_limited",
        "refused by the hardware: above the NIC's insertion rate",
    ),
    (
        "queue_full",
        "refused by the hardware: the insertion queue was full",
    ),
    (
        "unsupported",
        "refused by the hardware: a match or action the NIC cannot offload",
    ),
    ("exists", "the hardware already had the entry"),
    ("not_found", "the hardware had no such entry to remove"),
    // Teardowns and outcomes.
    (
        "timeout",
        "torn down: idle past the flowtable timeout (nf_flow_offload_gc_step)",
    ),
    (
        "ct_dying",
        "torn down: the conntrack entry was dying (nf_flow_offload_gc_step)",
    ),
    (
        "flush",
        "torn down: the flowtable was flushed or re-created (a ruleset reload: nf_flow_table_free)",
    ),
    (
        "cleanup",
        "torn down: a device it uses went down (nf_flow_table_cleanup), or the bridge fdb moved its host",
    ),
    ("bound", "bound in the hardware table"),
];

/// Hooks of `ruleset_<hook>_<verdict>` codes.
const HOOKS: [&str; 6] = [
    "ingress",
    "prerouting",
    "input",
    "forward",
    "output",
    "postrouting",
];

/// The meaning of a reason code, or `None` for a code without a description.
pub fn describe(code: &str) -> Option<String> {
    if let Some((_, d)) = CODES.iter().find(|(c, _)| *c == code) {
        return Some((*d).to_string());
    }
    let rest = code.strip_prefix("ruleset_")?;
    let (hook, why) = rest.split_once('_')?;
    if !HOOKS.contains(&hook) {
        return None;
    }
    let what = match why {
        "drop" => "a `drop` rule",
        "reject" => "a `reject` rule",
        "policy" => "the chain's `policy drop`",
        "jump_stack" => "a jump stack overflow",
        "nat" => "a NAT that found no free tuple",
        _ => return None,
    };
    Some(format!(
        "dropped by the ruleset in the {hook} hook: {what} (nft_do_chain)"
    ))
}

/// Every reason code the page shows for `r`, sorted.
pub(crate) fn codes_shown(r: &Report) -> BTreeSet<&str> {
    let mut out = BTreeSet::new();
    for run in &r.runs {
        let f = &run.flows;
        for m in [
            &run.drops.by_reason,
            &f.not_offloaded,
            &f.hw_refused,
            &f.fell_back,
            &f.teardown,
            &run.nic.refusals_by_reason,
        ] {
            out.extend(m.iter().filter(|(_, c)| **c > 0).map(|(k, _)| k.as_str()));
        }
        if r.kind != crate::schema::ReportKind::Sweep {
            out.extend(f.examples.iter().map(|e| e.reason.as_str()));
        }
    }
    out
}

/// The glossary section: each code shown, with its meaning.
pub(super) fn glossary_section(out: &mut String, r: &Report) {
    let codes = codes_shown(r);
    if codes.is_empty() {
        return;
    }
    h(
        out,
        "<section id=\"glossary\">\n<h2>Reason codes</h2>\n<table class=\"kv\">\n<tbody>\n",
    );
    for c in codes {
        let d = describe(c).unwrap_or_else(|| "(no description)".to_string());
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td></tr>",
            esc(c),
            esc(&d)
        );
    }
    h(out, "</tbody>\n</table>\n</section>\n");
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::example;

    #[test]
    fn every_code_of_the_examples_is_described() {
        for r in [
            example::run_report(),
            example::sweep_report(),
            example::plan_report(),
        ] {
            for c in codes_shown(&r) {
                assert!(describe(c).is_some(), "{c}");
            }
        }
        assert!(
            describe("ruleset_forward_reject")
                .unwrap()
                .contains("forward hook")
        );
        assert!(describe("ruleset_nosuch_drop").is_none());
        assert!(
            describe("below_bind_rate")
                .unwrap()
                .contains("not a refusal")
        );
    }
}
