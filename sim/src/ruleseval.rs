//! `offsim rules eval`: replay a trace through a ruleset as forwarded traffic and report the
//! per-rule counters the kernel would show.
//!
//! The router forwards between `--iif` (LAN) and `--oif` (WAN) and owns no addresses (so
//! `masquerade` drops, and only limited broadcast is delivered locally). Timestamps are used as
//! recorded. Flowtables work in software (`flags offload` is treated as software: there is no
//! NIC here), so offloaded packets skip the inet hooks. Counter semantics are those of
//! [`offsim_nft`]: bytes are L3 bytes; a rule without a counter counts as if one stood just
//! before its verdict; `counters` lists every counter statement (anonymous ones in order, then
//! named counters); policy counters count packets that fall off the end of a base chain.
//!
//! Each rule also gets its CPU cost on the chosen CPU preset (`--cpu`, default
//! `x86-server`): how often it was entered and the cycles of the kernel expressions it ran
//! ([`crate::cpu::CpuConfig::eval_cycles`]), and the summary gives the ruleset's cycles per
//! packet (hooks, chains and rules: the report's `rules` stage).

use std::collections::BTreeMap;
use std::io::Read;

use offsim_traces::meta::PacketMeta;
use offsim_traces::pcap::TraceError;
use offsim_traces::stream::PacketStream;
use serde::Serialize;

use offsim_kernel::Path;
use offsim_kernel::conntrack::CtConfig;
use offsim_kernel::datapath::{Datapath, DpConfig, Fate, FlowtableMode};
use offsim_kernel::flows::FlowBook;
use offsim_kernel::flowtable::KernelFlavour;
use offsim_kernel::sides::{SideMode, SideSplitter};
use offsim_nft::Ruleset;

use crate::cpu::{CpuConfig, EvalWork, Stage};

/// Options of `rules eval`.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// LAN interface name.
    pub iif: String,
    /// WAN interface name.
    pub oif: String,
    /// Side assignment.
    pub sides: SideMode,
    /// Kernel flavour (flowtable semantics).
    pub kernel: KernelFlavour,
    /// Conntrack sysctls.
    pub ct: CtConfig,
    /// CPU preset whose cycle costs price the rules.
    pub cpu: crate::cpu::CpuConfig,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            iif: "lan0".into(),
            oif: "wan0".into(),
            sides: SideMode::Single,
            kernel: KernelFlavour::New,
            ct: CtConfig::default(),
            cpu: crate::cpu::CpuConfig::preset("x86-server")
                .unwrap_or_else(|e| unreachable!("bundled preset: {e}")),
        }
    }
}

/// One counter value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CounterValue {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// One rule's counters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleRow {
    /// Family.
    pub family: String,
    /// Table.
    pub table: String,
    /// Chain.
    pub chain: String,
    /// 0-based position in the chain.
    pub index: usize,
    /// The rule's first counter (or the implicit one).
    pub packets: u64,
    /// Bytes of that counter.
    pub bytes: u64,
    /// Every counter statement of the rule.
    pub counters: Vec<CounterValue>,
    /// Packets that entered the rule (evaluated it, matching or not).
    pub evaluated: u64,
    /// Cycles its kernel expressions, set lookups and jumps cost over all those packets.
    pub cycles: f64,
    /// The rule as nft prints it.
    pub text: String,
}

/// One base chain's policy counter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainRow {
    /// Family.
    pub family: String,
    /// Table.
    pub table: String,
    /// Chain.
    pub chain: String,
    /// Packets that got the policy (fell off the end).
    pub policy_packets: u64,
    /// Their bytes.
    pub policy_bytes: u64,
}

/// Where packets went.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EvalSummary {
    /// Packets read.
    pub packets: u64,
    /// Forwarded by the slow path.
    pub forwarded_slow: u64,
    /// Forwarded by the software flowtable.
    pub forwarded_flowtable: u64,
    /// Delivered locally.
    pub local: u64,
    /// Fragments still held at the end.
    pub held: u64,
    /// Dropped, by cause.
    pub dropped: BTreeMap<String, u64>,
    /// Conntrack entries created and confirmed.
    pub conntrack_inserted: u64,
    /// Invalid packets (no conntrack entry).
    pub conntrack_invalid: u64,
    /// Flowtable entries created.
    pub flowtable_adds: u64,
    /// The CPU preset that priced the rules.
    pub cpu: String,
    /// Mean cycles per packet of the ruleset: hooks, base chains and rules (the report's
    /// `rules` stage).
    pub rule_cycles_per_packet: f64,
}

/// The result of `rules eval`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalResult {
    /// Every rule.
    pub rules: Vec<RuleRow>,
    /// Every base chain.
    pub chains: Vec<ChainRow>,
    /// Where packets went.
    pub summary: EvalSummary,
}

/// Replays `stream` through `rs` (loaded with [`offsim_kernel::datapath::load_options`] for the same
/// interface names).
pub fn eval_trace<R: Read>(
    rs: Ruleset,
    stream: &mut PacketStream<R>,
    o: &EvalOptions,
) -> Result<EvalResult, TraceError> {
    eval_trace_with_routes(rs, stream, o, &[])
}

/// Like [`eval_trace`], with host routes via the LAN interface for `lan_hosts` (version,
/// address) — see [`lan_only_addresses`].
pub fn eval_trace_with_routes<R: Read>(
    rs: Ruleset,
    stream: &mut PacketStream<R>,
    o: &EvalOptions,
    lan_hosts: &[(u8, u128)],
) -> Result<EvalResult, TraceError> {
    eval_with(rs, o, lan_hosts, &mut || stream.next_packet())
}

/// Like [`eval_trace`], on packets already in memory.
pub fn eval_packets(rs: Ruleset, packets: &[PacketMeta], o: &EvalOptions) -> EvalResult {
    let mut it = packets.iter();
    match eval_with(rs, o, &[], &mut || Ok(it.next().copied())) {
        Ok(r) => r,
        Err(e) => unreachable!("packets in memory cannot fail to read: {e}"),
    }
}

/// The replay: packets from `next` until it gives `None`.
fn eval_with(
    rs: Ruleset,
    o: &EvalOptions,
    lan_hosts: &[(u8, u128)],
    next: &mut dyn FnMut() -> Result<Option<PacketMeta>, TraceError>,
) -> Result<EvalResult, TraceError> {
    let single = o.sides == SideMode::Single;
    let cfg = DpConfig {
        lan: o.iif.clone(),
        wan: o.oif.clone(),
        flavour: o.kernel,
        ct: o.ct.clone(),
        flowtables: FlowtableMode::Software,
        has_addresses: false,
        single_sided: single,
        ..DpConfig::default()
    };
    let mut dp = Datapath::new(rs, cfg, FlowBook::new(true, false, None));
    dp.track_rule_costs();
    let mut rule_cycles = 0.0;
    for &(v, a) in lan_hosts {
        dp.add_lan_host(v, a);
    }
    let mut sides = SideSplitter::new(o.sides.clone()).remembering_all();
    let mut s = EvalSummary::default();
    let mut hw = Vec::new();
    let mut next_timer = offsim_traces::SimTime(0);
    while let Some(m) = next()? {
        s.packets += 1;
        let now = m.ts;
        if now >= next_timer {
            next_timer = dp.timers(now).1;
        }
        let side = sides.side(&m, now);
        let out = dp.process(now, &m, side);
        rule_cycles += o.cpu.packet_cycles(&out.drivers, 0.0).by_stage[Stage::Rules.index()];
        // No NIC: every hardware request is refused at once.
        hw.clear();
        dp.drain_hw_requests(&mut hw);
        for (ft, r) in hw.drain(..) {
            match r {
                offsim_kernel::flowtable::HwRequest::Add(id) => {
                    dp.hw_add_done(ft, id, false, Some("no_nic"))
                }
                offsim_kernel::flowtable::HwRequest::Del(id) => dp.hw_del_done(ft, id),
                offsim_kernel::flowtable::HwRequest::Stats(id) => {
                    dp.hw_stats_done(ft, id, None, [0, 0], [0, 0])
                }
            }
        }
        match out.fate {
            Fate::Forwarded(_) => {
                if out.path == Path::SwFast {
                    s.forwarded_flowtable += 1;
                } else {
                    s.forwarded_slow += 1;
                }
            }
            Fate::Local => s.local += 1,
            Fate::Held => {}
            Fate::Dropped(c) => *s.dropped.entry(c.name()).or_insert(0) += 1,
        }
    }
    s.held = s.packets
        - s.forwarded_slow
        - s.forwarded_flowtable
        - s.local
        - s.dropped.values().sum::<u64>();
    dp.finish();
    s.conntrack_inserted = dp.conntrack().stats.inserted;
    s.conntrack_invalid = dp.conntrack().stats.invalid;
    s.flowtable_adds = dp.stats().flowtable_adds;
    s.cpu = o.cpu.name.clone();
    s.rule_cycles_per_packet = if s.packets == 0 {
        0.0
    } else {
        rule_cycles / s.packets as f64
    };
    Ok(collect(&dp, s, &o.cpu))
}

fn collect(dp: &Datapath, summary: EvalSummary, cpu: &CpuConfig) -> EvalResult {
    let rs = dp.ruleset();
    let st = dp.rule_state();
    let mut rules = Vec::new();
    for r in rs.rules() {
        let c = &rs.chains()[r.chain as usize];
        let mut counters: Vec<CounterValue> = r
            .counter_slots
            .clone()
            .map(|i| CounterValue {
                packets: st.counters[i].packets,
                bytes: st.counters[i].bytes,
            })
            .collect();
        counters.extend(r.named_counters.iter().map(|&o| CounterValue {
            packets: st.named[o].packets,
            bytes: st.named[o].bytes,
        }));
        let first = if r.has_counter() {
            counters[0]
        } else if let Some(n) = counters.first() {
            *n
        } else {
            let v = rs.rule_counter(st, r.id);
            CounterValue {
                packets: v.packets,
                bytes: v.bytes,
            }
        };
        let cost = st.rule_cost(r.id).copied().unwrap_or_default();
        rules.push(RuleRow {
            family: c.family.to_string(),
            table: c.table_name.clone(),
            chain: c.name.clone(),
            index: r.index,
            packets: first.packets,
            bytes: first.bytes,
            counters,
            evaluated: cost.rules,
            cycles: cpu.eval_cycles(&EvalWork::from(&cost)),
            text: r.text.clone(),
        });
    }
    let chains = rs
        .chains()
        .iter()
        .filter(|c| c.is_base())
        .map(|c| ChainRow {
            family: c.family.to_string(),
            table: c.table_name.clone(),
            chain: c.name.clone(),
            policy_packets: st.policy[c.id as usize].fallthrough.packets,
            policy_bytes: st.policy[c.id as usize].fallthrough.bytes,
        })
        .collect();
    EvalResult {
        rules,
        chains,
        summary,
    }
}

/// Renders the counters as text: one block per chain.
pub fn render_text(r: &EvalResult) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let mut last = (String::new(), String::new(), String::new());
    for row in &r.rules {
        let key = (row.family.clone(), row.table.clone(), row.chain.clone());
        if key != last {
            let _ = writeln!(s, "{} {} {}:", row.family, row.table, row.chain);
            if let Some(c) = r
                .chains
                .iter()
                .find(|c| c.family == row.family && c.table == row.table && c.chain == row.chain)
            {
                let _ = writeln!(
                    s,
                    "  policy: {} packets, {} bytes",
                    c.policy_packets, c.policy_bytes
                );
            }
            last = key;
        }
        let per_pkt = if r.summary.packets == 0 {
            0.0
        } else {
            row.cycles / r.summary.packets as f64
        };
        let _ = writeln!(
            s,
            "  [{:>3}] {:>10} pkts {:>12} bytes {:>8.1} cyc/pkt  {}",
            row.index, row.packets, row.bytes, per_pkt, row.text
        );
    }
    let m = &r.summary;
    let _ = writeln!(
        s,
        "packets {}: forwarded {} (slow {}, flowtable {}), local {}, held {}, dropped {}",
        m.packets,
        m.forwarded_slow + m.forwarded_flowtable,
        m.forwarded_slow,
        m.forwarded_flowtable,
        m.local,
        m.held,
        m.dropped.values().sum::<u64>()
    );
    for (k, v) in &m.dropped {
        let _ = writeln!(s, "  dropped {k}: {v}");
    }
    let _ = writeln!(
        s,
        "ruleset: {:.1} cycles per packet on {} (hooks, chains, rules)",
        m.rule_cycles_per_packet, m.cpu
    );
    s
}

/// The addresses that only ever appear on the LAN side of a two-sided replay (sources of
/// LAN-side packets and destinations of WAN-side ones, minus any seen on the WAN side): the
/// router has host routes for them via the LAN interface, as the two-sided kernel oracle sets
/// up (split-dirs.py `--routes`).
pub fn lan_only_addresses<R: Read>(
    stream: &mut PacketStream<R>,
    sides: &SideMode,
) -> Result<Vec<(u8, u128)>, TraceError> {
    use offsim_kernel::sides::Side;
    use offsim_traces::hash::FxHashSet;
    let mut sp = SideSplitter::new(sides.clone()).remembering_all();
    let mut lan: FxHashSet<(u8, u128)> = FxHashSet::default();
    let mut wan: FxHashSet<(u8, u128)> = FxHashSet::default();
    while let Some(m) = stream.next_packet()? {
        if !m.is_ip() {
            continue;
        }
        let v = m.ip_version;
        match sp.side(&m, m.ts) {
            Side::Lan => {
                lan.insert((v, m.src));
                wan.insert((v, m.dst));
            }
            Side::Wan => {
                wan.insert((v, m.src));
                lan.insert((v, m.dst));
            }
        }
    }
    let mut v: Vec<(u8, u128)> = lan.difference(&wan).copied().collect();
    v.sort_unstable();
    Ok(v)
}
