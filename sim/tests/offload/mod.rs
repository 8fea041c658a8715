//! Flow offload through the whole pipeline (engine, datapath, flowtable, NIC model) on
//! hand-made and generated traces: the proofs of issue 4 that need more than one module.
//!
//! Kernel numbers are from `shared/reference/flow-offload-semantics.md` (cited by section).
//!
//! Here, hand-made packets through an engine packet by packet; in [`pipeline`], generated
//! traces through `offsim run`'s pipeline (binding, table occupancy, what-ifs, eviction).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use offsim::cpu::CpuConfig;
use offsim::engine::{Engine, EngineConfig};
use offsim::prepare::{Prepared, prepare};
use offsim::report::run_report;
use offsim::run::run_policy;
use offsim::scenario::ScenarioFile;
use offsim::source::{Source, SourceError};
use offsim_kernel::conntrack::tcp::TcpState;
use offsim_kernel::conntrack::{CtConfig, CtTimeouts, status};
use offsim_kernel::datapath::{Datapath, DpConfig, FlowtableMode, LAN_IFINDEX, load_options};
use offsim_kernel::flows::FlowBook;
use offsim_kernel::flowtable::{FtKey, HwState, KernelFlavour, fflags};
use offsim_kernel::sides::{SideMode, SideSplitter};
use offsim_nft::Ruleset;
use offsim_nicmodel::Nic;
use offsim_nicmodel::config::NicConfig;
use offsim_nicmodel::table::SlotState;
use offsim_reports::schema as rep;
use offsim_traces::r#gen::{GenConfig, Generator, Profile, Stop};
use offsim_traces::meta::PacketMeta;
use offsim_traces::meta::tcp_flags::{ACK, FIN, PSH, SYN};
use offsim_traces::parse::{LinkType, parse_frame};
use offsim_traces::testkit::Pkt;
use offsim_traces::time::SimTime;

use crate::util::repo;

mod pipeline;

const MS: u64 = 1_000_000;

/// Nanoseconds as seconds, rounded to the millisecond: event times carry the CPU's
/// processing delay (interrupt coalescing, ~20 us), which these assertions do not care about.
fn secs(ns: u64) -> f64 {
    (ns as f64 / 1e6).round() / 1e3
}

fn fw4() -> PathBuf {
    repo().join("scenarios/rulesets/home-fw4.nft")
}

// ---------------------------------------------------------------------------------------
// Packet by packet through the engine with a NIC
// ---------------------------------------------------------------------------------------

/// A shared buffer for the per-flow JSON lines.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Packets in arrival order (their `ts`).
struct Packets<I>(I);

impl<I: Iterator<Item = PacketMeta>> Source for Packets<I> {
    fn next_into(&mut self, pkt: &mut PacketMeta) -> Result<Option<SimTime>, SourceError> {
        Ok(self.0.next().map(|p| {
            *pkt = p;
            p.ts
        }))
    }
}

/// The pipeline `offsim run` builds for a hardware policy: fw4 ruleset (`flags offload`),
/// OpenWrt conntrack sysctls, two-sided replay, a NIC.
fn engine(flavour: KernelFlavour, nic: &NicConfig, sink: &Sink) -> Engine {
    let rs = Ruleset::load(fw4(), &load_options("lan0", "wan0")).unwrap();
    let dp = Datapath::new(
        rs,
        DpConfig {
            flavour,
            ct: CtConfig {
                timeouts: CtTimeouts::openwrt(),
                ..CtConfig::default()
            },
            flowtables: FlowtableMode::Hardware,
            // The router of a two-sided replay: replies routed back to the LAN host.
            fib: offsim_kernel::fib::Fib::build(
                &offsim_kernel::fib::FibSpec::default(),
                ("lan0", offsim_kernel::datapath::LAN_IFINDEX),
                ("wan0", offsim_kernel::datapath::WAN_IFINDEX),
                &SideMode::Flow,
            )
            .unwrap(),
            ..DpConfig::default()
        },
        FlowBook::new(true, true, Some(Box::new(sink.clone()))),
    );
    Engine::new(
        EngineConfig {
            hardware: true,
            ..EngineConfig::default()
        },
        CpuConfig::preset("mt7621").unwrap(),
        dp,
        Nic::new(nic.clone()).unwrap(),
        SideSplitter::new(SideMode::Flow),
    )
}

/// What one connection looks like after a prefix of the trace has been replayed.
#[derive(Clone, Debug, PartialEq)]
struct Snap {
    /// The connection's packets per path (slow, software fast path, hardware) so far.
    paths: [u64; 3],
    /// Its flowtable entry: flags, hardware state, timeout (s).
    entry: Option<(u16, HwState, f64)>,
    /// Flowtable entries created, torn down (timeout, TCP flags), freed; fast-path refreshes.
    added: u64,
    torn: [u64; 2],
    freed: u64,
    refreshes: u64,
    /// Hardware: rules inserted (one per direction), flows deleted, entries in the NIC.
    hw_inserts: u64,
    hw_deletes: u64,
    nic_entries: u64,
    /// Conntrack: state (TCP), status bits, expiry time (s).
    ct: Option<(Option<TcpState>, u32, f64)>,
}

/// Replays `pkts` (one connection plus clock packets of another host) and describes the
/// connection whose first packet (from the LAN side) is `first` at the end.
fn snap(flavour: KernelFlavour, nic: &NicConfig, pkts: &[PacketMeta], first: PacketMeta) -> Snap {
    let sink = Sink::default();
    let mut e = engine(flavour, nic, &sink);
    e.run(&mut Packets(pkts.iter().copied())).unwrap();
    let tuple = first.flow_key().unwrap();
    let name = tuple.to_string();
    let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    let paths = rows(&text)
        .into_iter()
        .find(|r| r.flow == name)
        .map(|r| r.packets)
        .unwrap_or_default();
    let ft = e.datapath().flowtable(0).unwrap();
    let entry = ft
        .flow_of_key(&FtKey::of_packet(&first, LAN_IFINDEX))
        .and_then(|id| ft.get(id))
        .map(|f| (f.flags, f.hw, secs(f.timeout.0)));
    let s = ft.stats;
    let last = pkts.last().unwrap().ts;
    let ct = e.datapath().conntrack().peek(last, &tuple).map(|(id, _)| {
        let c = e.datapath().conntrack().get(id);
        (c.tcp_state(), c.status, secs(c.expires().0))
    });
    Snap {
        paths,
        entry,
        added: s.added,
        torn: [s.teardown[0], s.teardown[1]],
        freed: s.freed,
        refreshes: s.refreshes,
        hw_inserts: e.hw_counters().inserts,
        hw_deletes: e.hw_counters().deletes,
        nic_entries: e.nic().table().occupancy(),
        ct,
    }
}

const C: &str = "192.168.1.10:40000";
const S: &str = "203.0.113.5:443";

/// A clock: ICMP echo requests from another LAN host every 250 ms from 0 to `until`, so the
/// engine's timers (flowtable GC every 1 s) keep running between the connection's packets.
fn clock(until_ms: u64) -> Vec<PacketMeta> {
    (0..=until_ms / 250)
        .map(|i| {
            Pkt::icmp("192.168.1.99", "198.51.100.7", 8, 0, 7)
                .at(i * 250 * MS + 125 * MS)
                .build()
        })
        .collect()
}

fn merged(mut a: Vec<PacketMeta>, b: Vec<PacketMeta>) -> Vec<PacketMeta> {
    a.extend(b);
    a.sort_by_key(|p| p.ts);
    a
}

/// The path a connection's packet took, from its per-path counts before and after it.
fn path_of(before: [u64; 3], after: [u64; 3]) -> &'static str {
    let d: Vec<u64> = (0..3).map(|i| after[i] - before[i]).collect();
    match d.as_slice() {
        [1, 0, 0] => "slow",
        [0, 1, 0] => "sw",
        [0, 0, 1] => "hw",
        [0, 0, 0] => "none",
        _ => "several",
    }
}

/// A connection replayed with the clock: the path of each of its packets, the snapshot after
/// each of them, and snapshots just after each checkpoint (the first clock packet at or after
/// it; the clock ticks at .125, .375, .625 and .875 s). Every snapshot is a fresh replay of
/// the trace up to that packet.
struct Timeline {
    paths: Vec<&'static str>,
    after: Vec<Snap>,
    at: Vec<Snap>,
}

fn timeline(
    flavour: KernelFlavour,
    nic: &NicConfig,
    conn: &[PacketMeta],
    until_ms: u64,
    checkpoints_ms: &[u64],
) -> Timeline {
    let all = merged(conn.to_vec(), clock(until_ms));
    let mut t = Timeline {
        paths: Vec::new(),
        after: Vec::new(),
        at: Vec::new(),
    };
    let mut prev = [0u64; 3];
    for (i, p) in all.iter().enumerate() {
        if p.l4proto == conn[0].l4proto {
            let s = snap(flavour, nic, &all[..=i], conn[0]);
            t.paths.push(path_of(prev, s.paths));
            prev = s.paths;
            t.after.push(s);
        }
    }
    for &c in checkpoints_ms {
        let i = all
            .iter()
            .position(|p| p.l4proto != conn[0].l4proto && p.ts.0 >= c * MS)
            .expect("checkpoint within the clock");
        t.at.push(snap(flavour, nic, &all[..=i], conn[0]));
    }
    t
}

fn has(entry: &Option<(u16, HwState, f64)>, f: u16) -> bool {
    entry.is_some_and(|e| e.0 & f == f)
}

/// One TCP connection, packet by packet, through a NIC with direct insertion (ConnectX-6 Dx
/// preset) in both kernel flavours: which path each packet takes, when the flowtable entry
/// and the hardware rules are created, refreshed, torn down and freed, and the conntrack
/// timeout afterwards (OpenWrt sysctls).
#[test]
fn tcp_connection_packet_by_packet_through_the_nic() {
    let nic = NicConfig::preset("connectx6dx").unwrap();
    let tcp = |from: &str, to: &str, fl: u8, ms: u64| Pkt::tcp4(from, to).flags(fl).at(ms * MS);
    // Handshake, data both ways every 500 ms for 6 s, FIN from the client at 6.1 s, the
    // server's FIN at 6.11 s, the last ACK at 6.12 s and a late ACK from the server at 7.5 s.
    let mut conn = vec![
        tcp(C, S, SYN, 0).seq(1000).build(),
        tcp(S, C, SYN | ACK, 10).seq(5000).ack(1001).build(),
        tcp(C, S, ACK, 20).seq(1001).ack(5001).build(),
    ];
    let (mut cs, mut sc) = (1001u32, 5001u32);
    for k in 0..12u64 {
        conn.push(
            tcp(C, S, ACK | PSH, 30 + k * 500)
                .seq(cs)
                .ack(sc)
                .payload(100)
                .build(),
        );
        cs += 100;
        conn.push(
            tcp(S, C, ACK | PSH, 40 + k * 500)
                .seq(sc)
                .ack(cs)
                .payload(1000)
                .build(),
        );
        sc += 1000;
    }
    conn.push(tcp(C, S, FIN | ACK, 6_100).seq(cs).ack(sc).build());
    conn.push(tcp(S, C, FIN | ACK, 6_110).seq(sc).ack(cs + 1).build());
    conn.push(tcp(C, S, ACK, 6_120).seq(cs + 1).ack(sc + 1).build());
    conn.push(tcp(S, C, ACK, 7_500).seq(sc + 1).ack(cs + 1).build());
    let ends = [
        (KernelFlavour::Mid, ["slow", "slow", "hw", "slow"]),
        (KernelFlavour::New, ["sw", "sw", "hw", "sw"]),
    ];
    for (flavour, end) in ends {
        let t = timeline(flavour, &nic, &conn, 40_000, &[8_125, 37_875, 38_125]);
        // Paths: the handshake on the slow path (the 3rd packet's `flow add` creates the
        // entry, §2.2), then hardware: the first data packet 10 ms later already hits the NIC
        // (workqueue 10 us + ConnectX queue 50 us + 2 x 12.5 us). FIN is punted by the NIC
        // (rules match FIN|RST = 0, §3.3); 5.15-6.13 tears the flow down on it and the slow
        // path carries the rest, >= 6.14 keeps it in software (CLOSING, §2.3 step 5). The
        // client's last ACK still hits the hardware rules either way: they outlive the
        // software decision until the next GC pass queues the delete (§3.6).
        let mut want = vec!["slow"; 3];
        want.extend(["hw"; 24]);
        want.extend(end);
        assert_eq!(t.paths, want, "{flavour:?}");
        let a = &t.after;
        // Packets 1-2: no entry; conntrack SYN_SENT (120 s), SYN_RECV (60 s).
        assert_eq!((a[0].entry, a[1].entry), (None, None));
        let (c0, c1) = (a[0].ct.unwrap(), a[1].ct.unwrap());
        assert_eq!((c0.0, c0.2), (Some(TcpState::SynSent), 120.0));
        assert_eq!((c1.0, c1.2), (Some(TcpState::SynRecv), 0.010 + 60.0));
        // Packet 3: entry created with a 30 s timeout, hardware add pending; conntrack
        // ESTABLISHED+ASSURED, OFFLOAD, its timeout parked one day out (§2.2).
        let e = a[2].entry.unwrap();
        assert_eq!(e.1, HwState::Pending, "{flavour:?}");
        assert!(has(&a[2].entry, fflags::HW | fflags::HW_PENDING));
        assert_eq!(e.2, 0.020 + 30.0);
        let ct = a[2].ct.unwrap();
        assert_eq!(ct.0, Some(TcpState::Established));
        assert!(ct.1 & (status::OFFLOAD | status::ASSURED) == status::OFFLOAD | status::ASSURED);
        assert_eq!(ct.2, 0.020 + 86_400.0);
        assert_eq!((a[2].added, a[2].hw_inserts), (1, 0));
        // Packet 4: both directions in hardware (two rules), conntrack [HW_OFFLOAD].
        assert_eq!(a[3].entry.unwrap().1, HwState::Offloaded);
        assert_eq!((a[3].hw_inserts, a[3].nic_entries), (2, 2));
        assert!(a[3].ct.unwrap().1 & status::HW_OFFLOAD != 0);
        // Hardware hits do not touch the software timeout; the stats poll does: the first
        // GC pass with < 90 % of the timeout left (4 s: 26.02 s left) reads the last use
        // from the NIC's 1 s counter cache (3.54 s) and moves the timeout to 33.54 s (§3.5).
        assert_eq!(a[18].entry.unwrap().2, 30.020, "before the 4 s poll");
        assert_eq!(a[26].entry.unwrap().2, 3.540 + 30.0, "after it");
        assert_eq!(a[26].refreshes, 0, "no software fast-path packet so far");
        let fin = &a[27];
        let late = &a[30];
        match flavour {
            KernelFlavour::Mid => {
                // FIN: teardown at once (cause: TCP flags); IPS_OFFLOAD cleared, the
                // hardware rules stay until the delete completes; conntrack then sees the FIN
                // itself: FIN_WAIT, 120 s.
                assert_eq!(fin.torn, [0, 1]);
                assert!(has(&fin.entry, fflags::TEARDOWN));
                let ct = fin.ct.unwrap();
                assert_eq!(ct.1 & status::OFFLOAD, 0);
                assert!(ct.1 & status::HW_OFFLOAD != 0);
                assert_eq!((ct.0, ct.2), (Some(TcpState::FinWait), 6.1 + 120.0));
                assert_eq!(fin.nic_entries, 2);
                // GC at 7 s queues the hardware delete; by 7.5 s it completed (HW_DEAD,
                // [HW_OFFLOAD] cleared) but the entry waits for the next pass to be freed.
                assert_eq!((late.hw_deletes, late.nic_entries, late.freed), (1, 0, 0));
                assert!(has(&late.entry, fflags::TEARDOWN | fflags::HW_DEAD));
                assert_eq!(late.ct.unwrap().1 & status::HW_OFFLOAD, 0);
                // The slow path saw FIN, FIN/ACK and the late ACK, but not the ACK the
                // hardware forwarded: LAST_ACK, then TIME_WAIT 120 s from the late ACK.
                assert_eq!(late.ct.unwrap().0, Some(TcpState::TimeWait));
                assert_eq!(late.ct.unwrap().2, 7.5 + 120.0);
                // Freed by the GC pass at 8 s.
                assert_eq!((t.at[0].entry, t.at[0].freed), (None, 1));
            }
            KernelFlavour::New => {
                // FIN: CLOSING, forwarded in software with a refresh (timeout 36.1 s);
                // conntrack untouched (still ESTABLISHED, parked, OFFLOAD).
                assert_eq!(fin.torn, [0, 0]);
                assert!(has(&fin.entry, fflags::CLOSING));
                assert!(!has(&fin.entry, fflags::TEARDOWN));
                assert_eq!((fin.refreshes, fin.entry.unwrap().2), (1, 6.1 + 30.0));
                assert_eq!(fin.ct.unwrap().0, Some(TcpState::Established));
                assert!(fin.ct.unwrap().1 & status::OFFLOAD != 0);
                // GC at 7 s deletes the hardware rules of the CLOSING flow; the software
                // entry stays and the late ACK refreshes it to 37.5 s.
                assert_eq!((late.hw_deletes, late.nic_entries), (1, 0));
                assert!(has(&late.entry, fflags::CLOSING | fflags::HW_DEAD));
                assert_eq!(late.entry.unwrap().2, 7.5 + 30.0);
                // Idle: still there at 37.875 s; the GC pass at 38 s tears it down (timeout)
                // and frees it at once (hardware already dead); conntrack is forced to
                // CLOSE with its 10 s timeout (§2.4, `flow_offload_fixup_ct`).
                assert!(t.at[1].entry.is_some());
                let gone = &t.at[2];
                assert_eq!((gone.entry, gone.torn, gone.freed), (None, [1, 0], 1));
                let ct = gone.ct.unwrap();
                assert_eq!((ct.0, ct.2), (Some(TcpState::Close), 38.0 + 10.0));
                assert_eq!(ct.1 & (status::OFFLOAD | status::HW_OFFLOAD), 0);
            }
        }
    }
}

/// One UDP conversation and one one-way UDP stream, packet by packet, through the same NIC:
/// offloaded on the 2nd packet, forwarded by the hardware, kept alive by the stats poll,
/// expired 30 s after the last hardware use, deleted from the NIC, freed, and conntrack's
/// timeout afterwards in both kernel flavours (§2.4: 180 − 30 = 150 s for a replied stream
/// on OpenWrt; ≥ 6.14 gives an unreplied one 60 − 30 = 30 s, 5.15–6.13 always uses the
/// replied timeout).
#[test]
fn udp_flows_packet_by_packet_through_the_nic() {
    let nic = NicConfig::preset("connectx6dx").unwrap();
    let udp = |from: &str, to: &str, ms: u64| Pkt::udp(from, to).payload(200).at(ms * MS).build();
    let mut conv = vec![udp(C, S, 0), udp(S, C, 10)];
    for k in 0..9u64 {
        conv.push(udp(C, S, 20 + k * 500));
        conv.push(udp(S, C, 30 + k * 500));
    }
    let oneway: Vec<PacketMeta> = (0..12u64).map(|k| udp(C, S, k * 500)).collect();
    for flavour in [KernelFlavour::Mid, KernelFlavour::New] {
        // Conversation: packets every 500 ms, the last at 4.03 s.
        let t = timeline(
            flavour,
            &nic,
            &conv,
            40_000,
            &[5_125, 34_875, 35_125, 36_125],
        );
        let mut want = vec!["slow"; 2];
        want.extend(["hw"; 18]);
        assert_eq!(t.paths, want, "{flavour:?}");
        // The reply (2nd packet) creates the entry: the first packet's conntrack entry was
        // not confirmed yet when it passed `flow add` (it got UNREPLIED, 60 s on OpenWrt).
        assert_eq!(t.after[0].entry, None);
        assert_eq!(t.after[0].ct.unwrap().2, 60.0);
        assert_eq!(t.after[1].added, 1);
        assert_eq!(t.after[1].entry.unwrap().2, 0.010 + 30.0);
        assert_eq!(t.after[1].ct.unwrap().2, 0.010 + 86_400.0);
        assert_eq!(t.after[2].nic_entries, 2);
        // Stats polls (§3.5): the GC pass at 4 s (26.01 s left < 27 s) reads the last use as
        // of the NIC's 1 s counter cache, 3.53 s; the next poll due (7 s, 26.53 s left) reads
        // the real last use, 4.03 s. The software timeout follows: 33.53 s, then 34.03 s.
        assert_eq!(t.at[0].entry.unwrap().2, 3.530 + 30.0, "{flavour:?}");
        let before = &t.at[1];
        assert_eq!(before.entry.unwrap().2, 4.030 + 30.0, "{flavour:?}");
        assert_eq!(before.torn, [0, 0]);
        // GC at 35 s: expired → teardown, hardware delete queued and done (HW_DEAD);
        // freed by the pass at 36 s; conntrack 180 − 30 = 150 s from the teardown.
        let torn = &t.at[2];
        assert_eq!((torn.torn, torn.freed, torn.hw_deletes), ([1, 0], 0, 1));
        assert!(has(&torn.entry, fflags::TEARDOWN | fflags::HW_DEAD));
        let ct = torn.ct.unwrap();
        assert_eq!(ct.1 & (status::OFFLOAD | status::HW_OFFLOAD), 0);
        assert_eq!(ct.2, 35.0 + 150.0, "{flavour:?}");
        assert_eq!((t.at[3].entry, t.at[3].freed), (None, 1));

        // One-way stream: offloaded by its own 2nd packet (no reply needed), expired 30 s
        // after its last packet (5.5 s); torn down at 36 s.
        let t = timeline(flavour, &nic, &oneway, 40_000, &[36_125]);
        let mut want = vec!["slow"; 2];
        want.extend(["hw"; 10]);
        assert_eq!(t.paths, want, "{flavour:?}");
        let ct = t.at[0].ct.unwrap();
        assert_eq!(ct.1 & status::SEEN_REPLY, 0);
        let after = match flavour {
            KernelFlavour::Mid => 150.0,
            KernelFlavour::New => 30.0,
        };
        assert_eq!(ct.2, 36.0 + after, "{flavour:?}");
    }
}

/// A per-flow record as `offsim run --flows` writes it.
#[derive(Clone, Debug)]
struct Row {
    flow: String,
    /// Packets: slow, software fast path, hardware.
    packets: [u64; 3],
    bytes: u64,
    outcome: String,
    reason: String,
    adds: u64,
}

impl Row {
    fn total(&self) -> u64 {
        self.packets.iter().sum()
    }
    fn offloadable(&self) -> bool {
        self.flow.starts_with("tcp ") || self.flow.starts_with("udp ")
    }
}

fn rows(text: &str) -> Vec<Row> {
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let p = &v["packets"];
            Row {
                flow: v["flow"].as_str().unwrap().to_string(),
                packets: [
                    p["slow"].as_u64().unwrap(),
                    p["sw_fast"].as_u64().unwrap(),
                    p["hw"].as_u64().unwrap(),
                ],
                bytes: v["bytes"].as_u64().unwrap(),
                outcome: v["outcome"].as_str().unwrap().to_string(),
                reason: v["reason"].as_str().unwrap().to_string(),
                adds: v["flowtable_adds"].as_u64().unwrap(),
            }
        })
        .collect()
}

/// The MediaTek PPE's lazy binding on hand-made one-way UDP flows (MT7621 preset: bind rate
/// 30 packets per 1 s window, §4.1): 29 packets/s never bind, 31 and 100 packets/s bind on
/// their 30th packet (the one punted with "rate reached" runs the CPU-side check), and from
/// the 31st packet on the PPE forwards them. The flow records say why the mouse stayed in
/// software.
#[test]
fn lazy_binding_needs_the_bind_rate() {
    let nic = NicConfig::preset("mt7621").unwrap();
    let stream = |src: &str, pps: u64, secs: u64| -> Vec<PacketMeta> {
        (0..pps * secs)
            .map(|i| {
                Pkt::udp(src, "203.0.113.9:5004")
                    .payload(1000)
                    .at(i * 1_000_000_000 / pps + 1)
                    .build()
            })
            .collect()
    };
    let mut pkts = stream("192.168.1.21:6000", 29, 10);
    pkts.extend(stream("192.168.1.22:6000", 31, 3));
    pkts.extend(stream("192.168.1.23:6000", 100, 3));
    pkts.sort_by_key(|p| p.ts);
    let sink = Sink::default();
    let mut e = engine(KernelFlavour::Mid, &nic, &sink);
    e.run(&mut Packets(pkts.into_iter())).unwrap();
    let rows = rows(&String::from_utf8(sink.0.lock().unwrap().clone()).unwrap());
    let get = |host: &str| {
        rows.iter()
            .find(|r| r.flow.contains(host))
            .unwrap_or_else(|| panic!("no record for {host}: {rows:?}"))
    };
    // The mouse: the first two packets slow (the 2nd one's `flow add` creates the entry),
    // every other one in the software flowtable: the NIC listed the rule but never bound it.
    let mouse = get("192.168.1.21:");
    assert_eq!(mouse.packets, [2, 288, 0], "{mouse:?}");
    assert_eq!(
        (mouse.outcome.as_str(), mouse.reason.as_str()),
        ("sw", "below_bind_rate")
    );
    for (host, total) in [("192.168.1.22:", 93), ("192.168.1.23:", 300)] {
        let r = get(host);
        assert_eq!(r.packets, [2, 28, total - 30], "{r:?}");
        assert_eq!((r.outcome.as_str(), r.reason.as_str()), ("hw", "bound"));
    }
    let s = e.nic_stats().table;
    assert_eq!((s.binds, s.refused_bucket_full), (2, 0));
    assert_eq!(
        e.datapath().flow_totals().hw_refused.get("below_bind_rate"),
        Some(&1)
    );
    // The kernel considers all three offloaded to hardware: the driver accepted the rules.
    assert_eq!(e.hw_counters().inserts, 6);
}
