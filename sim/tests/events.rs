//! Timeline events (`[[events]]`) through `offsim run`: what a reload, a link flap and a
//! roaming host do to each configuration, as the report shows it. The kernel's side of
//! each event is tested on the datapath (`kernel/tests/datapath.rs`, `events`).

use offsim_reports::schema as rep;

use crate::util::{offsim, repo, scratch};

/// A home router (fw4, MT7621) on 6 s of generated home traffic with the events `events`.
fn scenario(name: &str, events: &str) -> std::path::PathBuf {
    let dir = scratch("events", name);
    let fw4 = repo().join("scenarios/rulesets/home-fw4.nft");
    let text = format!(
        r#"name = "{name}"
policies = ["none", "software", "hardware"]
[trace.generate]
profile = "home-router"
duration_s = 6.0
[ruleset]
file = "{}"
iif = "lan0"
oif = "wan0"
sides = "flow"
[cpu]
preset = "mt7621"
[nic]
preset = "mt7621"
[kernel]
flavour = "6.6"
conntrack = "openwrt"
{events}"#,
        fw4.display()
    );
    let p = dir.join("s.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run(name: &str, events: &str) -> (rep::Report, String) {
    let sc = scenario(name, events);
    let out = sc.parent().unwrap().join("out");
    let o = offsim(&["run", sc.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.code == 0 || o.code == 1, "exit {}: {}", o.code, o.stderr);
    let r: rep::Report =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    (r, html)
}

fn by_name<'a>(r: &'a rep::Report, n: &str) -> &'a rep::Run {
    r.runs.iter().find(|x| x.name == n).unwrap()
}

const TIMELINE: &str = r#"
[[events]]
at_s = 1.0
kind = "ruleset-reload"
[[events]]
at_s = 2.0
kind = "link-down"
device = "wan0"
[[events]]
at_s = 2.5
kind = "link-up"
device = "wan"
[[events]]
at_s = 3.0
kind = "host-move"
host = "192.168.1.118"
"#;

/// What users ask (shared/reference/user-asks.md A1, A2): a reload sends every offloaded
/// flow back through the slow path once; a link flap loses what the port would carry and
/// tears its flows down; a roaming host loses the packets its stale entries send to the
/// old port with offload, and nothing without.
#[test]
fn each_event_costs_what_the_kernel_makes_it_cost_per_configuration() {
    let (r, html) = run("timeline", TIMELINE);
    let none = by_name(&r, "none");
    let sw = by_name(&r, "software");
    let hw = by_name(&r, "hardware");
    for run in [none, sw, hw] {
        assert_eq!(run.events.len(), 4, "{}", run.name);
        let kinds: Vec<&str> = run.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["ruleset-reload", "link-down", "link-up", "host-move"]
        );
        // the port was down for 0.5 s of traffic
        assert!(run.events[1].link_down_lost > 0, "{}", run.name);
        assert_eq!(
            run.drops.by_reason.get("link_down").copied(),
            Some(run.events[1].link_down_lost),
            "{}",
            run.name
        );
        // misdirected packets are the stale-port drops
        assert_eq!(
            run.drops.by_reason.get("stale_port").copied().unwrap_or(0),
            run.events[3].misdirected,
            "{}",
            run.name
        );
    }
    // without a flowtable the events touch no entry, and the bridge follows the host
    assert!(
        none.events
            .iter()
            .all(|e| e.flows == 0 && e.misdirected == 0)
    );
    for run in [sw, hw] {
        let reload = &run.events[0];
        assert!(
            reload.flows > 0 && reload.readded > 0,
            "{}: {reload:?}",
            run.name
        );
        assert!(reload.slow_path_packets >= reload.readded, "{reload:?}");
        assert!(run.events[1].flows > 0, "the WAN port's flows torn down");
        let mv = &run.events[3];
        assert!(mv.flows > 0 && mv.misdirected > 0, "{}: {mv:?}", run.name);
    }
    assert!(
        hw.events[0].hw_flows > 0,
        "the reload removed hardware entries"
    );
    assert_eq!(sw.events[0].hw_flows, 0);
    // the page: the events table, the nav link and a finding on the roaming host
    assert!(html.contains("<section id=\"events\">"));
    assert!(html.contains("href=\"#events\""));
    assert!(html.contains("host-move 192.168.1.118 at 3.0 s"));
    assert!(html.contains("stale_port"), "the reason code is explained");
}

/// With the fdb teardown (openwrt/openwrt#25174) the moved host's flows are torn down and
/// come back through the slow path: nothing is lost at the old port.
#[test]
fn with_the_fdb_teardown_a_roaming_host_loses_nothing() {
    let (r, _) = run(
        "fdb",
        "[[events]]\nat_s = 3.0\nkind = \"host-move\"\nhost = \"192.168.1.118\"\nfdb_teardown = true\n",
    );
    for n in ["software", "hardware"] {
        let e = &by_name(&r, n).events[0];
        assert!(
            e.flows > 0 && e.misdirected == 0 && e.readded > 0,
            "{n}: {e:?}"
        );
    }
}

/// An event after the replay's last packet is reported, with a warning that says so.
#[test]
fn an_event_after_the_last_packet_is_warned_about() {
    let (r, _) = run(
        "late",
        "[[events]]\nat_s = 60.0\nkind = \"conntrack-flush\"\n",
    );
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("conntrack-flush") && w.contains("after the last packet")),
        "{:?}",
        r.warnings
    );
}

/// A bad event is refused before anything runs, with its key and line.
#[test]
fn a_bad_event_is_refused_with_its_position() {
    let sc = scenario(
        "bad",
        "[[events]]\nat_s = 1.0\nkind = \"link-down\"\ndevice = \"eth7\"\n",
    );
    let o = offsim(&["run", sc.to_str().unwrap(), "--out", "/dev/null/x", "-q"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("events[0].device") && o.stderr.contains("s.toml:"),
        "{}",
        o.stderr
    );
}

/// Time to offload (issue 13): each flow's first packet to its first flowtable entry and
/// to a forwarding hardware entry, and the hardware insertion backlog per interval.
#[test]
fn time_to_offload_and_the_insertion_backlog_are_reported() {
    let (r, html) = run("offload-timing", "");
    let none = by_name(&r, "none");
    assert!(none.flows.time_to_flowtable_ns.is_none() && none.series.hw_backlog.is_empty());
    let sw = by_name(&r, "software");
    let tsw = sw.flows.time_to_flowtable_ns.unwrap();
    assert_eq!(tsw.count, sw.flows.offloaded_sw + sw.flows.offloaded_hw);
    assert!(tsw.min <= tsw.p50 && tsw.p50 <= tsw.p99 && tsw.p99 <= tsw.max);
    assert!(sw.flows.time_to_hardware_ns.is_none());
    let hw = by_name(&r, "hardware");
    let (tft, thw) = (
        hw.flows.time_to_flowtable_ns.unwrap(),
        hw.flows.time_to_hardware_ns.unwrap(),
    );
    // a flow reaches hardware only after its flowtable entry (the insertion is async)
    assert!(
        thw.min >= tft.min && thw.count <= tft.count,
        "{tft:?} {thw:?}"
    );
    assert_eq!(hw.series.hw_backlog.len(), hw.series.hw.len());
    assert!(hw.series.hw_backlog.iter().any(|&b| b > 0));
    assert!(html.contains("Time to offload"));
    // new connections per second beside packets per second: the offload configurations
    // set up every connection of the trace, so the same count
    assert!(sw.throughput.connections > 0);
    assert_eq!(sw.throughput.connections, hw.throughput.connections);
    let secs = sw.duration_ns as f64 / 1e9;
    assert!((sw.throughput.cps - sw.throughput.connections as f64 / secs).abs() < 1e-9);
}
