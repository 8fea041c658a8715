//! Host qdiscs on the ports' egress (`[egress.PORT]`) through `offsim run`: latency under
//! load with SQM, and traffic forwarded in hardware bypassing the qdisc and its shaper. The
//! qdiscs' own behaviour (fq_codel's flow isolation, CoDel's drop schedule, over-limit
//! drops) is tested in `sim/src/qdisc.rs`.

use crate::util::{by_name, run_home_router};

/// SQM on a home router (cake shaped below the offered rate on the LAN side, the download
/// direction): the software paths queue in cake and lose what it drops; with hardware
/// offload the packets leave through the NIC, past cake and its shaper
/// (shared/reference/user-asks.md: "does SQM still work with offload?").
#[test]
fn a_shaper_queues_the_software_paths_and_hardware_offload_bypasses_it() {
    let (r, html) = run_home_router(
        "sqm",
        "[replay]\nrate_gbps = 0.5\n[egress.lan]\nqdisc = \"cake\"\nshaper_mbit = 300.0\n",
    );
    for run in &r.runs {
        assert_eq!(run.egress.len(), 1, "{}", run.name);
        let e = &run.egress[0];
        assert_eq!((e.device.as_str(), e.qdisc.as_str()), ("lan", "cake"));
        assert_eq!(e.rate_bps, 300_000_000);
        // what the qdisc dropped is what the report counts under `qdisc`
        assert_eq!(
            run.drops.by_reason.get("qdisc").copied().unwrap_or(0),
            e.codel_drops + e.overlimit_drops,
            "{}",
            run.name
        );
    }
    let sw = &by_name(&r, "software").egress[0];
    let d = sw.queue_delay_ns.unwrap();
    assert!(d.p99 > 5_000_000, "the shaper builds a queue: {d:?}");
    assert!(sw.codel_drops > 0 && sw.bypassed_hw == 0, "{sw:?}");
    let hw = &by_name(&r, "hardware").egress[0];
    assert!(hw.bypassed_hw > 10 * hw.sent, "{hw:?}");
    let hw_run = by_name(&r, "hardware");
    assert!(
        hw_run.throughput.delivered_bps > 0.32e9,
        "not shaped: {}",
        hw_run.throughput.delivered_bps
    );
    assert!(html.contains("<section id=\"egress\">"));
    assert!(html.contains("SQM does not apply to hardware-offloaded flows"));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("open-loop") && w.contains("cake")),
        "{:?}",
        r.warnings
    );
}

/// A qdisc on a port that is never the bottleneck changes nothing: the same packets are
/// delivered as without it.
#[test]
fn an_idle_qdisc_changes_nothing() {
    let (plain, _) = run_home_router("plain", "");
    let (fq, _) = run_home_router("fq", "[egress.wan]\nqdisc = \"fq_codel\"\n");
    for (a, b) in plain.runs.iter().zip(&fq.runs) {
        assert_eq!(
            a.throughput.delivered_packets, b.throughput.delivered_packets,
            "{}",
            a.name
        );
        assert_eq!(b.egress[0].codel_drops + b.egress[0].overlimit_drops, 0);
    }
}
